//! Criterion benches of the CPU backend: matmul 256–2048 (W1), matmul 1024³ in f32, bf16
//! and f16 (the half GEMM's cost against f32's), element-wise exp and add on 1M elements
//! in each float dtype, the memory-bound W5 ops, and the tiny add of W0 (per-op overhead).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lamina_tensor::{DType, Tensor};

fn matmul(c: &mut Criterion) {
    let d = lamina_backend_cpu::device();
    let mut g = c.benchmark_group("matmul");
    g.sample_size(10);
    for n in [256usize, 512, 1024, 2048] {
        let a = Tensor::rand_uniform(1, -1.0, 1.0, [n, n], DType::F32, &d).expect("a");
        let b = Tensor::rand_uniform(2, -1.0, 1.0, [n, n], DType::F32, &d).expect("b");
        g.throughput(Throughput::Elements((2 * n * n * n) as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |bench, _| {
            bench.iter(|| black_box(a.matmul(&b).expect("matmul")))
        });
    }
    g.finish();
}

/// 1024³ in each float dtype: the half types widen blocks to f32 around the f32 GEMM.
fn matmul_dtypes(c: &mut Criterion) {
    let d = lamina_backend_cpu::device();
    let mut g = c.benchmark_group("matmul_dtype");
    g.sample_size(10);
    let n = 1024usize;
    g.throughput(Throughput::Elements((2 * n * n * n) as u64));
    for dt in [DType::F32, DType::BF16, DType::F16] {
        let a = Tensor::rand_uniform(1, -1.0, 1.0, [n, n], dt, &d).expect("a");
        let b = Tensor::rand_uniform(2, -1.0, 1.0, [n, n], dt, &d).expect("b");
        g.bench_with_input(BenchmarkId::from_parameter(dt), &dt, |bench, _| {
            bench.iter(|| black_box(a.matmul(&b).expect("matmul")))
        });
    }
    g.finish();
}

/// exp and add over 1M contiguous elements in each float dtype: the half types run the f32
/// kernels over widened blocks.
fn elementwise_dtypes(c: &mut Criterion) {
    let d = lamina_backend_cpu::device();
    let mut g = c.benchmark_group("elementwise_dtype");
    g.sample_size(20);
    let n = 1 << 20;
    g.throughput(Throughput::Elements(n as u64));
    for dt in [DType::F32, DType::BF16, DType::F16] {
        let a = Tensor::rand_uniform(3, -2.0, 2.0, [n], dt, &d).expect("a");
        let b = Tensor::rand_uniform(4, -2.0, 2.0, [n], dt, &d).expect("b");
        g.bench_with_input(BenchmarkId::new("exp", dt), &dt, |bench, _| {
            bench.iter(|| black_box(a.exp().expect("exp")))
        });
        g.bench_with_input(BenchmarkId::new("add", dt), &dt, |bench, _| {
            bench.iter(|| black_box(a.add(&b).expect("add")))
        });
    }
    g.finish();
}

fn memory_bound(c: &mut Criterion) {
    let d = lamina_backend_cpu::device();
    let mut g = c.benchmark_group("w5");
    g.sample_size(10);
    let n = 16 * 1024 * 1024;
    let x = Tensor::rand_uniform(7, -1.0, 1.0, [n], DType::F32, &d).expect("x");
    g.throughput(Throughput::Bytes(8 * n as u64));
    g.bench_function("relu(a*x+b) 16M", |b| {
        b.iter(|| black_box(x.affine(0.5, -0.25).and_then(|t| t.relu()).expect("relu")))
    });
    g.throughput(Throughput::Bytes(4 * n as u64));
    g.bench_function("sum 16M", |b| {
        b.iter(|| black_box(x.sum_all().expect("sum")))
    });
    let m = Tensor::rand_uniform(8, -4.0, 4.0, [4096, 1024], DType::F32, &d).expect("m");
    let dy = Tensor::rand_uniform(9, -1.0, 1.0, [4096, 1024], DType::F32, &d).expect("dy");
    let y = m.softmax(1).expect("softmax");
    g.throughput(Throughput::Bytes(8 * 4096 * 1024));
    g.bench_function("softmax 4096x1024", |b| {
        b.iter(|| black_box(m.softmax(1).expect("softmax")))
    });
    g.throughput(Throughput::Bytes(12 * 4096 * 1024));
    g.bench_function("softmax-bwd 4096x1024", |b| {
        b.iter(|| black_box(y.softmax_backward(&dy, 1, false).expect("softmax backward")))
    });
    g.finish();
}

fn tiny_add(c: &mut Criterion) {
    let d = lamina_backend_cpu::device();
    let a = Tensor::rand_uniform(12, -1.0, 1.0, [16], DType::F32, &d).expect("a");
    let b = Tensor::rand_uniform(13, -1.0, 1.0, [16], DType::F32, &d).expect("b");
    c.bench_function("add16", |bench| {
        bench.iter(|| black_box(a.add(&b).expect("add")))
    });
}

criterion_group!(
    benches,
    tiny_add,
    memory_bound,
    matmul,
    matmul_dtypes,
    elementwise_dtypes
);
criterion_main!(benches);

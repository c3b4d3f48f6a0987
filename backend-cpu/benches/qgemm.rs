//! Int8 GEMM (`qgemm`, weights packed once) against the backend's f32 GEMM (`gemm::sgemm`,
//! all pool threads, output preallocated) at m = n = k = 1024, in one run. Throughput is in
//! operations: `2·m·n·k` per product (a multiply and an add per term) for both.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use lamina_backend_cpu::{gemm, par, qgemm, simd};

fn products(c: &mut Criterion) {
    let (m, k, n) = (1024usize, 1024usize, 1024usize);
    let mut seed = 1u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 56) as u8
    };
    let a8: Vec<u8> = (0..m * k).map(|_| next()).collect();
    let b8: Vec<i8> = (0..k * n).map(|_| next() as i8).collect();
    let a32: Vec<f32> = a8.iter().map(|&x| x as f32 / 255.0).collect();
    let b32: Vec<f32> = b8.iter().map(|&x| x as f32 / 128.0).collect();
    let mut g = c.benchmark_group(format!("gemm 1024^3 ({})", simd::isa()));
    g.sample_size(20);
    g.throughput(Throughput::Elements((2 * m * n * k) as u64));
    let packed = qgemm::PackedI8::new(&b8, k, n);
    let mut c8 = vec![0i32; m * n];
    g.bench_function(format!("int8 u8 x i8 -> i32 ({})", packed.isa()), |bench| {
        bench.iter(|| packed.gemm(black_box(&a8), m, black_box(&mut c8)))
    });
    let mut c32 = vec![0f32; m * n];
    g.bench_function(format!("f32 sgemm ({})", gemm::gemm_impl()), |bench| {
        bench.iter(|| {
            // SAFETY: row-major m×k, k×n and m×n buffers of exactly those sizes, distinct.
            unsafe {
                gemm::sgemm(
                    m,
                    k,
                    n,
                    1.0,
                    black_box(a32.as_ptr()),
                    k as isize,
                    1,
                    b32.as_ptr(),
                    n as isize,
                    1,
                    0.0,
                    c32.as_mut_ptr(),
                    n as isize,
                    1,
                    par::num_threads(),
                )
            }
        })
    });
    g.finish();
}

criterion_group!(benches, products);
criterion_main!(benches);

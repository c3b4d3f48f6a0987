//! Cost of one optimizer step on a large parameter, composed of tensor ops (temporaries
//! included). The baseline a fused update kernel would have to beat to be worth adding.

use criterion::{criterion_group, criterion_main, Criterion};
use lamina_optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use lamina_tensor::{DType, Tensor};

fn bench(c: &mut Criterion) {
    let dev = lamina_backend_cpu::device();
    let n = 1 << 20;
    let grad = Tensor::rand(1, [n], DType::F32, &dev).unwrap();
    let mut group = c.benchmark_group("optimizer_step_1M_f32");
    group.sample_size(20);

    let mut p = Tensor::rand(2, [n], DType::F32, &dev).unwrap();
    let mut sgd = Sgd::new(SgdConfig {
        lr: 1e-3,
        momentum: 0.9,
        ..Default::default()
    })
    .unwrap();
    group.bench_function("sgd_momentum", |b| {
        b.iter(|| sgd.step_grads(&mut [&mut p], &[Some(&grad)]).unwrap())
    });

    let mut p = Tensor::rand(2, [n], DType::F32, &dev).unwrap();
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    group.bench_function("adam", |b| {
        b.iter(|| adam.step_grads(&mut [&mut p], &[Some(&grad)]).unwrap())
    });

    // The memory traffic floor: one fused pass reads p, g, m, v and writes p, m, v.
    let mut q = Tensor::rand(3, [n], DType::F32, &dev).unwrap();
    group.bench_function("one_add_assign_pass", |b| {
        b.iter(|| q.add_assign(&grad).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Overhead of the tape: recording plus backward for a chain of tiny ops, against the
//! same forward with no tape.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use lamina_autograd::Tape;
use lamina_tensor::{DType, Tensor};

fn chain(x: &Tensor, w: &Tensor) -> lamina_tensor::Result<Tensor> {
    let mut h = x.clone();
    for _ in 0..8 {
        h = (&h * w)?.tanh()?;
    }
    h.sum_all()
}

fn bench(c: &mut Criterion) {
    let d = lamina_backend_cpu::device();
    let x = Tensor::rand(1, [16], DType::F32, &d).expect("x");
    let w = Tensor::rand(2, [16], DType::F32, &d).expect("w");
    c.bench_function("chain16 forward (no tape)", |b| {
        b.iter(|| black_box(chain(&x, &w).expect("forward")))
    });
    c.bench_function("chain16 forward + backward (tape)", |b| {
        b.iter(|| {
            let tape = Tape::new();
            tape.watch(&w);
            let y = chain(&x, &w).expect("forward");
            black_box(tape.backward(&y).expect("backward"))
        })
    });
    c.bench_function("mul-sum-backward16", |b| {
        b.iter(|| {
            let tape = Tape::new();
            tape.watch(&x);
            let y = (&x * &w).and_then(|p| p.sum_all()).expect("forward");
            black_box(tape.backward(&y).expect("backward"))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

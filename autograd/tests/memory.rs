//! Memory is bounded: saved tensors are freed as the sweep passes them, and a forward
//! pass that is never differentiated leaves nothing behind. One test per binary, so no
//! other test allocates concurrently and the process-wide live-bytes counter is exact.

use lamina_autograd::Tape;
use lamina_backend_cpu::live_bytes;
use lamina_tensor::{DType, Result, Tensor};

#[test]
fn thousand_training_and_inference_steps_leave_live_bytes_flat() -> Result<()> {
    let d = lamina_backend_cpu::device();
    let x = Tensor::randn(1, [32, 16], DType::F32, &d)?;
    let mut w1 = Tensor::randn(2, [16, 32], DType::F32, &d)?.mul_scalar(0.1)?;
    let mut w2 = Tensor::randn(3, [32, 4], DType::F32, &d)?.mul_scalar(0.1)?;
    let step = |w1: &mut Tensor, w2: &mut Tensor, train: bool| -> Result<()> {
        let tape = Tape::new();
        if train {
            tape.watch(w1);
            tape.watch(w2);
        }
        let loss = x
            .matmul(w1)?
            .relu()?
            .matmul(w2)?
            .log_softmax(1)?
            .mean_all()?;
        if train {
            let g = tape.backward(&loss)?;
            let (g1, g2) = (g.get(w1).cloned().unwrap(), g.get(w2).cloned().unwrap());
            w1.binary_assign(&g1.mul_scalar(-0.01)?, lamina_tensor::BinaryOp::Add)?;
            w2.binary_assign(&g2.mul_scalar(-0.01)?, lamina_tensor::BinaryOp::Add)?;
        }
        Ok(())
    };
    // Warm up, then measure.
    for _ in 0..10 {
        step(&mut w1, &mut w2, true)?;
    }
    let before = live_bytes();
    for _ in 0..1000 {
        step(&mut w1, &mut w2, true)?;
    }
    let after_train = live_bytes();
    for _ in 0..1000 {
        step(&mut w1, &mut w2, false)?;
    }
    let after_infer = live_bytes();
    println!("live bytes: before {before}, after 1000 train steps {after_train}, after 1000 forward-only {after_infer}");
    assert_eq!(after_train, before, "training steps leaked");
    assert_eq!(after_infer, before, "forward-only steps leaked");
    Ok(())
}

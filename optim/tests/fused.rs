//! The backend's fused Adam kernel and the composite update give identical parameters:
//! a contiguous parameter takes the fused path, the same values stored transposed (a
//! non-contiguous view) take the composite one.

use lamina_optim::{Adam, AdamConfig, Optimizer};
use lamina_tensor::{DType, Result, Tensor};

#[test]
fn fused_and_composite_adam_agree_bit_for_bit() -> Result<()> {
    let d = lamina_backend_cpu::device();
    for dtype in [DType::F32, DType::F64] {
        let init = Tensor::randn(1, [3, 4], dtype, &d)?;
        let mut fused = init.copy()?;
        let mut composite = init.t()?.copy()?.t()?;
        assert!(fused.is_contiguous() && !composite.is_contiguous());
        let cfg = AdamConfig {
            lr: 0.05,
            eps: 1e-7,
            ..AdamConfig::default()
        };
        let (mut a, mut b) = (Adam::new(cfg.clone())?, Adam::new(cfg)?);
        for step in 0..15u64 {
            let g = Tensor::randn(100 + step, [3, 4], dtype, &d)?;
            a.step_grads(&mut [&mut fused], &[Some(&g)])?;
            b.step_grads(&mut [&mut composite], &[Some(&g)])?;
        }
        let (x, y) = (fused.to_f64_vec()?, composite.to_f64_vec()?);
        assert_eq!(x, y, "{dtype}");
        assert_ne!(x, init.to_f64_vec()?);
    }
    Ok(())
}

//! The backend's fused Adam and SGD kernels and the composite updates give identical parameters:
//! a contiguous parameter takes the fused path, the same values stored transposed (a
//! non-contiguous view) take the composite one.

use lamina_optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
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

#[test]
fn fused_and_composite_sgd_agree_bit_for_bit() -> Result<()> {
    let d = lamina_backend_cpu::device();
    let configs = [
        SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            ..SgdConfig::default()
        },
        SgdConfig {
            lr: 0.1,
            momentum: 0.8,
            dampening: 0.25,
            weight_decay: 0.01,
            ..SgdConfig::default()
        },
        SgdConfig {
            lr: 0.03,
            momentum: 0.7,
            weight_decay: 0.05,
            nesterov: true,
            ..SgdConfig::default()
        },
    ];
    for cfg in configs {
        for dtype in [DType::F32, DType::F64] {
            let init = Tensor::randn(2, [4, 5], dtype, &d)?;
            let mut fused = init.copy()?;
            let mut composite = init.t()?.copy()?.t()?;
            assert!(fused.is_contiguous() && !composite.is_contiguous());
            let (mut a, mut b) = (Sgd::new(cfg.clone())?, Sgd::new(cfg.clone())?);
            for step in 0..12u64 {
                let g = Tensor::randn(200 + step, [4, 5], dtype, &d)?;
                a.step_grads(&mut [&mut fused], &[Some(&g)])?;
                b.step_grads(&mut [&mut composite], &[Some(&g)])?;
            }
            let (x, y) = (fused.to_f64_vec()?, composite.to_f64_vec()?);
            assert_eq!(x, y, "{dtype} {cfg:?}");
            assert_ne!(x, init.to_f64_vec()?);
            // The momentum buffers agree too (the state a checkpoint saves).
            assert_eq!(
                serde_json::to_string(&a.state()?).unwrap(),
                serde_json::to_string(&b.state()?).unwrap()
            );
        }
    }
    Ok(())
}

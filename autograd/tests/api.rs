//! The tape's API: watched leaves, `no_grad`, `detach`, accumulation over several
//! backward calls, custom ops (and `gradcheck` catching a wrong one), and gradients of
//! gradients checked against finite differences.

mod common;

use std::rc::Rc;

use common::dev;
use lamina_autograd::{
    apply_custom, gradcheck, no_grad, value_and_grad, CustomOp, GradcheckConfig, Grads, Tape,
};
use lamina_tensor::{DType, Result, Tensor};

/// `x * scale` with a backward that is off by `factor` (1.0 = correct).
struct Scale {
    scale: f64,
    factor: f64,
}

impl CustomOp for Scale {
    fn name(&self) -> &str {
        "scale"
    }
    fn forward(&self, x: &[&Tensor]) -> Result<Tensor> {
        x[0].mul_scalar(self.scale)
    }
    fn backward(&self, _x: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.mul_scalar(self.scale * self.factor)?)])
    }
}

#[test]
fn gradcheck_catches_a_rule_off_by_two_and_names_input_and_element() -> Result<()> {
    let x = Tensor::randn(5, [2, 3], DType::F64, &dev())?;
    let y = Tensor::randn(6, [3], DType::F64, &dev())?;
    let good = Rc::new(Scale {
        scale: 3.0,
        factor: 1.0,
    });
    let bad = Rc::new(Scale {
        scale: 3.0,
        factor: 2.0,
    });
    let cfg = GradcheckConfig::default();
    let ok = gradcheck(
        |t| apply_custom(good.clone(), &[&t[0]])? * &t[1],
        &[x.clone(), y.clone()],
        &cfg,
    )?;
    assert!(ok.passed(), "{ok}");
    let report = gradcheck(
        |t| apply_custom(bad.clone(), &[&t[0]])? * &t[1],
        &[x, y],
        &cfg,
    )?;
    assert!(!report.passed());
    let text = report.to_string();
    assert!(
        !report.inputs[0].passed && report.inputs[1].passed,
        "{text}"
    );
    assert!(text.contains("input 0 [2, 3]: MISMATCH"), "{text}");
    assert!(text.contains("worst element ["), "{text}");
    // The reported worst element really is off by 2x.
    let r = &report.inputs[0];
    assert_eq!(r.worst_index.len(), 2);
    assert!((r.analytic / r.numeric - 2.0).abs() < 1e-6, "{text}");
    Ok(())
}

#[test]
fn no_grad_and_detach_record_nothing() -> Result<()> {
    let w = Tensor::randn(1, [3], DType::F64, &dev())?;
    let tape = Tape::new();
    tape.watch(&w);
    let a = no_grad(|| w.exp())?;
    assert!(!tape.is_tracked(&a));
    let b = w.detach().exp()?;
    assert!(!tape.is_tracked(&b));
    assert_eq!(tape.len(), 0);
    let c = (w.exp()? + &a)?.sum_all()?;
    assert_eq!(tape.len(), 4); // exp, add, sum (kept dims), reshape to rank 0
    let g = tape.backward(&c)?;
    let want = w.exp()?.to_vec::<f64>()?;
    assert_eq!(g.get(&w).unwrap().to_vec::<f64>()?, want);
    Ok(())
}

#[test]
fn gradients_accumulate_over_backward_calls() -> Result<()> {
    let w = Tensor::from_vec(vec![1.0f64, 2.0], [2], &dev())?;
    let mut total = Grads::new();
    for k in 1..=3 {
        let (_, g) = value_and_grad(&[&w], || w.mul_scalar(k as f64)?.sum_all())?;
        total.accumulate(g)?;
    }
    assert_eq!(total.get(&w).unwrap().to_vec::<f64>()?, vec![6.0, 6.0]);
    Ok(())
}

#[test]
fn second_derivative_of_cube() -> Result<()> {
    // d²/dx² x³ = 6x, by a tape around the inner tape's backward.
    let x = Tensor::from_vec(vec![-1.5f64, 0.5, 2.0], [3], &dev())?;
    let outer = Tape::new();
    outer.watch(&x);
    let inner = Tape::new();
    inner.watch(&x);
    let y = x.powf(3.0)?.sum_all()?;
    let g = inner.backward(&y)?.get(&x).cloned().unwrap();
    assert_eq!(g.to_vec::<f64>()?, vec![6.75, 0.75, 12.0]); // 3x²
    let gg = outer.backward(&g.sum_all()?)?;
    let h = gg.get(&x).unwrap().to_vec::<f64>()?;
    // Against finite differences of the first derivative 3x².
    for (i, xv) in [-1.5f64, 0.5, 2.0].iter().enumerate() {
        let e = 1e-5;
        let fd = (3.0 * (xv + e).powi(2) - 3.0 * (xv - e).powi(2)) / (2.0 * e);
        assert!((h[i] - fd).abs() < 1e-6, "{} vs {fd}", h[i]);
        assert!((h[i] - 6.0 * xv).abs() < 1e-12);
    }
    Ok(())
}

/// Loss of a small MLP with softmax cross-entropy, parameters as one flat vector.
fn mlp_loss(theta: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let w1 = theta.narrow(0, 0, 12)?.reshape([4, 3])?;
    let b1 = theta.narrow(0, 12, 3)?;
    let w2 = theta.narrow(0, 15, 6)?.reshape([3, 2])?;
    let h = (x.matmul(&w1)? + &b1)?.tanh()?;
    let logits = h.matmul(&w2)?;
    let logp = logits.log_softmax(1)?;
    (logp * y)?.sum_all()?.neg()?.mean_all()
}

#[test]
fn hessian_vector_product_of_an_mlp_matches_finite_differences() -> Result<()> {
    let d = dev();
    let x = Tensor::randn(11, [5, 4], DType::F64, &d)?;
    let y = Tensor::from_vec(
        vec![1.0f64, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0],
        [5, 2],
        &d,
    )?;
    let theta = Tensor::randn(12, [21], DType::F64, &d)?.mul_scalar(0.5)?;
    let v = Tensor::randn(13, [21], DType::F64, &d)?;
    let grad_at = |t: &Tensor| -> Result<Tensor> {
        let (_, g) = value_and_grad(&[t], || mlp_loss(t, &x, &y))?;
        Ok(g.get(t).cloned().unwrap())
    };
    // HVP by double backward: d/dθ (∇L(θ) · v).
    let outer = Tape::new();
    outer.watch(&theta);
    let g = grad_at(&theta)?;
    let gv = (&g * &v)?.sum_all()?;
    let hvp = outer
        .backward(&gv)?
        .get(&theta)
        .cloned()
        .unwrap()
        .to_vec::<f64>()?;
    // Finite differences of the gradient along v.
    let e = 1e-5;
    let gp = grad_at(&(&theta + &v.mul_scalar(e)?)?)?.to_vec::<f64>()?;
    let gm = grad_at(&(&theta - &v.mul_scalar(e)?)?)?.to_vec::<f64>()?;
    for i in 0..21 {
        let fd = (gp[i] - gm[i]) / (2.0 * e);
        assert!(
            (hvp[i] - fd).abs() < 1e-6 + 1e-4 * fd.abs(),
            "element {i}: {} vs {fd}",
            hvp[i]
        );
    }
    Ok(())
}

#[test]
fn custom_op_joins_the_tape_and_supports_double_backward() -> Result<()> {
    /// x ↦ x², backward 2x·g written with tensor ops.
    struct Sq;
    impl CustomOp for Sq {
        fn name(&self) -> &str {
            "sq"
        }
        fn forward(&self, x: &[&Tensor]) -> Result<Tensor> {
            x[0].square()
        }
        fn backward(&self, x: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
            Ok(vec![Some((g * x[0].mul_scalar(2.0)?)?)])
        }
    }
    let x = Tensor::from_vec(vec![3.0f64], [1], &dev())?;
    let op: Rc<dyn CustomOp> = Rc::new(Sq);
    let outer = Tape::new();
    outer.watch(&x);
    let (_, g) = value_and_grad(&[&x], || apply_custom(op.clone(), &[&x])?.sum_all())?;
    let g = g.get(&x).cloned().unwrap();
    assert_eq!(g.to_vec::<f64>()?, vec![6.0]);
    let h = outer.backward(&g.sum_all()?)?;
    assert_eq!(h.get(&x).unwrap().to_vec::<f64>()?, vec![2.0]);
    Ok(())
}

/// A gradient takes its input's float dtype, as PyTorch's engine casts it: a bf16 operand
/// of an f32 sum gets a bf16 gradient, rounded from the f32 one.
#[test]
fn gradients_take_their_inputs_dtype() -> Result<()> {
    let d = dev();
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3], &d)?.to_dtype(DType::BF16)?;
    let y = Tensor::from_vec(vec![0.5f32, 0.25, 0.125], [3], &d)?;
    let tape = Tape::new();
    tape.watch(&x);
    tape.watch(&y);
    let z = (&x + &y)?.mul_scalar(1.0 / 3.0)?.sum_all()?;
    assert_eq!(z.dtype(), DType::F32);
    let g = tape.backward(&z)?;
    let (gx, gy) = (g.get(&x).expect("x"), g.get(&y).expect("y"));
    assert_eq!((gx.dtype(), gy.dtype()), (DType::BF16, DType::F32));
    let third = lamina_tensor::bf16::from_f32(1.0f32 / 3.0);
    assert_eq!(gx.to_vec::<lamina_tensor::bf16>()?, vec![third; 3]);
    assert_eq!(gy.to_vec::<f32>()?, vec![1.0f32 / 3.0; 3]);
    Ok(())
}

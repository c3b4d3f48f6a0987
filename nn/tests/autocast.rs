//! Automatic mixed precision (`lamina_tensor::autocast`): which ops run in the half dtype
//! and which in f32, that the casts are on the tape (gradients reach f32 parameters as
//! f32, close to the f32 model's), that scopes nest and end (also on a panic), and that a
//! backward pass inside a scope is the same as outside.

use lamina_autograd::Tape;
use lamina_nn::{cross_entropy, BatchNorm2d, Conv2d, Linear, Module, Reduction};
use lamina_tensor::autocast::{self, autocast};
use lamina_tensor::{DType, Device, Result, Tensor};

fn dev() -> Device {
    lamina_backend_cpu::device()
}

#[test]
fn ops_run_in_their_autocast_dtype() -> Result<()> {
    let d = dev();
    let fc = Linear::builder(6, 4).seed(1).build(&d)?;
    let conv = Conv2d::builder(2, 3, 3).seed(2).build(&d)?;
    let bn = BatchNorm2d::new(3, &d)?;
    let x = Tensor::randn(3, [5, 6], DType::F32, &d)?;
    let img = Tensor::randn(4, [2, 2, 5, 5], DType::F32, &d)?;
    let labels = Tensor::from_vec(vec![0i64, 3, 1, 2, 0], [5], &d)?;
    for half in [DType::BF16, DType::F16] {
        autocast(half, || -> Result<()> {
            assert_eq!(autocast::dtype(), Some(half));
            let y = fc.forward(&x)?;
            assert_eq!(y.dtype(), half, "linear (bias joins the product's dtype)");
            assert_eq!(y.softmax(1)?.dtype(), DType::F32, "softmax");
            assert_eq!(y.log_softmax(1)?.dtype(), DType::F32, "log_softmax");
            assert_eq!(y.logsumexp(1, false)?.dtype(), DType::F32, "logsumexp");
            assert_eq!(y.sum_all()?.dtype(), DType::F32, "sum");
            assert_eq!(y.mean(0, false)?.dtype(), DType::F32, "mean");
            assert_eq!(y.cumsum(1)?.dtype(), DType::F32, "cumsum");
            assert_eq!(y.max_all()?.dtype(), half, "max keeps the dtype (exact)");
            assert_eq!(y.relu()?.dtype(), half, "element-wise ops keep the dtype");
            let loss = cross_entropy(&y, &labels, Reduction::Mean)?;
            assert_eq!(loss.dtype(), DType::F32, "cross_entropy");
            let c = conv.forward(&img)?;
            assert_eq!(c.dtype(), half, "conv");
            assert_eq!(bn.forward(&c)?.dtype(), DType::F32, "batch norm");
            let q = Tensor::randn(5, [2, 3, 4], DType::F32, &d)?;
            assert_eq!(
                q.attention(&q, &q, None, true, 0.5)?.dtype(),
                half,
                "attention"
            );
            // Integers are never cast; f64 operands are (PyTorch casts every float).
            let i = Tensor::from_vec(vec![1i64, 2, 3, 4], [2, 2], &d)?;
            assert_eq!(i.matmul(&i)?.dtype(), DType::I64);
            let w = Tensor::ones([2, 2], DType::F64, &d)?;
            assert_eq!(w.matmul(&w)?.dtype(), half);
            Ok(())
        })??;
    }
    assert_eq!(autocast::dtype(), None);
    assert_eq!(
        fc.forward(&x)?.dtype(),
        DType::F32,
        "outside a scope nothing changes"
    );
    assert!(autocast(DType::F32, || ()).is_err(), "only half dtypes");
    Ok(())
}

#[test]
fn scopes_nest_and_end_even_on_a_panic() {
    autocast(DType::BF16, || {
        autocast(DType::F16, || {
            assert_eq!(autocast::dtype(), Some(DType::F16))
        })
        .unwrap();
        assert_eq!(autocast::dtype(), Some(DType::BF16));
        autocast::disabled(|| assert_eq!(autocast::dtype(), None));
        assert_eq!(autocast::dtype(), Some(DType::BF16));
    })
    .unwrap();
    let r = std::panic::catch_unwind(|| {
        autocast(DType::BF16, || panic!("inside the scope")).unwrap();
    });
    assert!(r.is_err());
    assert_eq!(autocast::dtype(), None, "a panic ends the scope");
}

/// The gradient of an autocast forward pass reaches the f32 parameters in f32, through
/// the recorded casts, and matches the f32 model's gradient to bf16 precision; the same
/// backward inside the scope gives the same gradients.
#[test]
fn gradients_reach_f32_master_weights() -> Result<()> {
    let d = dev();
    let fc1 = Linear::builder(8, 16).seed(3).build(&d)?;
    let fc2 = Linear::builder(16, 4).seed(4).build(&d)?;
    let x = Tensor::randn(5, [32, 8], DType::F32, &d)?;
    let labels = Tensor::from_vec((0..32).map(|i| i % 4).collect::<Vec<i64>>(), [32], &d)?;
    let params = || [&fc1.weight, &fc2.weight, fc2.bias.as_ref().unwrap()];
    let run = |amp: Option<DType>, backward_inside: bool| -> Result<Vec<Tensor>> {
        let tape = Tape::new();
        for p in params() {
            tape.watch(p);
        }
        let forward = || {
            cross_entropy(
                &fc2.forward(&fc1.forward(&x)?.relu()?)?,
                &labels,
                Reduction::Mean,
            )
        };
        let grads = match amp {
            None => tape.backward(&forward()?)?,
            Some(dt) if backward_inside => autocast(dt, || tape.backward(&forward()?))??,
            Some(dt) => {
                let loss = autocast(dt, forward)??;
                tape.backward(&loss)?
            }
        };
        params()
            .iter()
            .map(|p| {
                grads.get(p).cloned().ok_or(lamina_tensor::Error::Invalid {
                    op: "test",
                    msg: "no gradient".into(),
                })
            })
            .collect()
    };
    let f32_grads = run(None, false)?;
    let amp_grads = run(Some(DType::BF16), false)?;
    for (g32, g16) in f32_grads.iter().zip(&amp_grads) {
        assert_eq!(
            g16.dtype(),
            DType::F32,
            "the gradient of an f32 parameter is f32"
        );
        let (a, b) = (g32.to_vec::<f32>()?, g16.to_vec::<f32>()?);
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = a
            .iter()
            .zip(&b)
            .fold(0f32, |m, (p, q)| m.max((p - q).abs()));
        // bf16 keeps 8 significant bits: a few of its ulps of the largest gradient.
        assert!(
            worst <= 0.05 * scale,
            "bf16 gradient off by {worst} (scale {scale})"
        );
        assert!(worst > 0.0, "the bf16 pass must differ from f32 somewhere");
    }
    let inside = run(Some(DType::BF16), true)?;
    for (a, b) in amp_grads.iter().zip(&inside) {
        assert_eq!(
            a.to_vec::<f32>()?,
            b.to_vec::<f32>()?,
            "backward inside the scope"
        );
    }
    Ok(())
}

/// Attention under autocast runs in bf16 inside (its saved log-sum-exp too, which its
/// backward reads with q), and the gradients of f32 q, k, v come back f32, close to f32's.
#[test]
fn attention_backward_under_autocast() -> Result<()> {
    let d = dev();
    let q = Tensor::randn(7, [2, 5, 8], DType::F32, &d)?;
    let k = Tensor::randn(8, [2, 6, 8], DType::F32, &d)?;
    let v = Tensor::randn(9, [2, 6, 4], DType::F32, &d)?;
    let w = Tensor::randn(10, [2, 5, 4], DType::F32, &d)?;
    let grads = |amp: bool| -> Result<Vec<Vec<f32>>> {
        let tape = Tape::new();
        for t in [&q, &k, &v] {
            tape.watch(t);
        }
        let f = || q.attention(&k, &v, None, true, 0.35)?.mul(&w)?.sum_all();
        let loss = if amp {
            autocast(DType::BF16, f)??
        } else {
            f()?
        };
        let g = tape.backward(&loss)?;
        [&q, &k, &v]
            .iter()
            .map(|t| {
                let gt = g.get(t).expect("a gradient");
                assert_eq!(gt.dtype(), DType::F32);
                gt.to_vec::<f32>()
            })
            .collect()
    };
    let (exact, amp) = (grads(false)?, grads(true)?);
    for (a, b) in exact.iter().zip(&amp) {
        let scale = a.iter().fold(0f32, |m, x| m.max(x.abs()));
        let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(
            worst <= 0.05 * scale && worst > 0.0,
            "off by {worst} (scale {scale})"
        );
    }
    Ok(())
}

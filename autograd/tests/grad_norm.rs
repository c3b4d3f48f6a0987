//! The normalisation primitive (`Tensor::normalize`) over random `[outer, groups, inner]`
//! views, centred and RMS: values and statistics against the definition summed by plain
//! loops, gradients (the CPU's fused backward) and gradients of gradients (the recorded
//! composite) against finite differences, on the CPU kernels and on the composite
//! defaults a backend without normalisation kernels gets.

mod common;

use common::{cases, check, composite_dev, dev, grads_of, tc};
use lamina_autograd::Tape;
use lamina_tensor::{DType, NormSpec, Result, Tensor};
use proptest::prelude::*;

fn spec() -> impl Strategy<Value = NormSpec> {
    (
        1..=3usize,
        1..=3usize,
        1..=5usize,
        any::<bool>(),
        0..=1usize,
    )
        .prop_filter_map(
            "statistics over at least two values",
            |(outer, groups, inner, center, e)| {
                (outer * inner >= 2).then_some(NormSpec {
                    outer,
                    groups,
                    inner,
                    eps: [1e-5, 0.5][e],
                    center,
                })
            },
        )
}

/// Output, means and variances by the definition.
fn naive(s: &NormSpec, x: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut y, mut means, mut vars) = (vec![0.0; x.len()], vec![], vec![]);
    let at = |p: usize, g: usize, i: usize| (p * s.groups + g) * s.inner + i;
    let n = s.count() as f64;
    for g in 0..s.groups {
        let mut vals = vec![];
        for p in 0..s.outer {
            for i in 0..s.inner {
                vals.push(x[at(p, g, i)]);
            }
        }
        let mean = if s.center {
            vals.iter().sum::<f64>() / n
        } else {
            0.0
        };
        let var = vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        for p in 0..s.outer {
            for i in 0..s.inner {
                y[at(p, g, i)] = (x[at(p, g, i)] - mean) / (var + s.eps).sqrt();
            }
        }
        means.push(mean);
        vars.push(var);
    }
    (y, means, vars)
}

/// The input in a shape that is not the view, and offset from zero so that centring
/// matters.
fn input(s: &NormSpec, dev: &lamina_tensor::Device) -> Result<Tensor> {
    Tensor::randn(5, [s.outer, s.groups * s.inner], DType::F64, dev)?.add_scalar(0.7)
}

/// `sum(w ⊙ y)` and `sum(w ⊙ y²)` for a fixed `w`: the first has zero gradient without the
/// weights (normalised values sum to a constant), the second passes through the rule twice.
fn weighted(y: &Tensor, power: i32) -> Result<Tensor> {
    let w = Tensor::rand_uniform(17, 0.5, 1.5, y.shape(), y.dtype(), y.device())?;
    let y = if power == 2 { y.square()? } else { y.clone() };
    (y * w)?.sum_all()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases() / 2))]

    #[test]
    fn values_and_statistics_match_the_definition(s in spec()) {
        for dev in [dev(), composite_dev()] {
            let x = tc(input(&s, &dev))?;
            let out = tc(x.normalize(&s))?;
            prop_assert_eq!(out.output.dims(), x.dims());
            let (y, mean, var) = naive(&s, &tc(x.to_vec2::<f64>())?.concat());
            let got = [out.output.flatten_all(), Ok(out.mean), Ok(out.var)];
            for (got, want) in got.into_iter().zip([y, mean, var]) {
                for (a, b) in tc(tc(got)?.to_vec::<f64>())?.iter().zip(&want) {
                    prop_assert!((a - b).abs() < 1e-12, "{} vs {} on {}", a, b, dev.name());
                }
            }
        }
    }

    #[test]
    fn gradients(s in spec()) {
        for dev in [dev(), composite_dev()] {
            let x = tc(input(&s, &dev))?;
            check(|t| weighted(&t[0].normalize(&s)?.output, 1), vec![x])?;
        }
    }

    #[test]
    fn gradients_of_gradients(s in spec()) {
        let x = tc(input(&s, &dev()))?;
        check(|t| grads_of(t, |v| weighted(&v[0].normalize(&s)?.output, 2)), vec![x])?;
    }
}

#[test]
fn kernel_and_composite_agree_in_f32_on_a_batch_norm_layout() {
    // LeNet-sized batch norm: [64, 6, 28, 28] viewed as outer 64, groups 6, inner 784.
    let s = NormSpec {
        outer: 64,
        groups: 6,
        inner: 784,
        eps: 1e-5,
        center: true,
    };
    let run = |dev: &lamina_tensor::Device| -> Result<(Vec<f32>, Vec<f32>)> {
        let x = Tensor::randn(3, [64, 6, 28, 28], DType::F32, dev)?.mul_scalar(3.0)?;
        let tape = Tape::new();
        tape.watch(&x);
        let y = x.normalize(&s)?.output;
        let loss = weighted(&y, 2)?;
        let g = tape.backward(&loss)?;
        Ok((
            y.flatten_all()?.to_vec::<f32>()?,
            g.get(&x)
                .expect("x is watched")
                .flatten_all()?
                .to_vec::<f32>()?,
        ))
    };
    let (k, c) = (run(&dev()).unwrap(), run(&composite_dev()).unwrap());
    let close = |a: &[f32], b: &[f32], tol: f32| {
        a.iter()
            .zip(b)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max)
            < tol
    };
    assert!(close(&k.0, &c.0, 1e-4), "outputs differ");
    assert!(close(&k.1, &c.1, 1e-5), "gradients differ");
}

#[test]
fn bad_views_and_eps_are_errors_naming_the_op() {
    let x = Tensor::zeros([2, 3], DType::F64, &dev()).unwrap();
    let s = NormSpec {
        outer: 1,
        groups: 4,
        inner: 2,
        eps: 1e-5,
        center: true,
    };
    let e = x.normalize(&s).unwrap_err().to_string();
    assert!(
        e.contains("normalize") && e.contains("[2, 3]") && e.contains("groups 4"),
        "{e}"
    );
    let s = NormSpec {
        eps: -1.0,
        groups: 3,
        ..s
    };
    let e = x.normalize(&s).unwrap_err().to_string();
    assert!(e.contains("eps -1"), "{e}");
    let i = Tensor::zeros([2, 3], DType::I64, &dev()).unwrap();
    assert!(i.normalize(&NormSpec { eps: 0.0, ..s }).is_err());
}

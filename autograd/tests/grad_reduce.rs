//! Gradient property tests of reductions (over random axis sets, keepdim or not),
//! softmax/log_softmax along any dim, and matmul in all its forms.

mod common;

use common::{cases, check, dev, tc};
use lamina_autograd::strategies::{shape, tensor, tensor_of, TensorSpec, View};
use lamina_tensor::Tensor;
use proptest::prelude::*;

/// A tensor and a random subset of its axes (possibly empty = all), plus keepdim.
fn with_axes(lo: f64, hi: f64) -> impl Strategy<Value = (TensorSpec, Vec<isize>, bool)> {
    tensor(lo, hi).prop_flat_map(|t| {
        let r = t.shape.len();
        (
            Just(t),
            proptest::sample::subsequence((0..r as isize).collect::<Vec<_>>(), 0..=r),
            any::<bool>(),
        )
    })
}

fn no_expand(t: &TensorSpec) -> bool {
    !matches!(t.view, View::Expanded { .. })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn sum((x, axes, keep) in with_axes(-3.0, 3.0)) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].sum(&axes, keep), vec![x])?;
    }

    #[test]
    fn mean((x, axes, keep) in with_axes(-3.0, 3.0)) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].mean(&axes, keep), vec![x])?;
    }

    #[test]
    fn max((x, axes, keep) in with_axes(-3.0, 3.0).prop_filter("ties", |(t, _, _)| no_expand(t))) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].amax(&axes, keep), vec![x])?;
    }

    #[test]
    fn min((x, axes, keep) in with_axes(-3.0, 3.0).prop_filter("ties", |(t, _, _)| no_expand(t))) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].amin(&axes, keep), vec![x])?;
    }

    #[test]
    fn prod((x, axes, keep) in with_axes(0.5, 1.5)) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].prod(&axes, keep), vec![x])?;
    }

    #[test]
    fn prod_with_zeros((x, axes, keep, zero_at) in with_axes(0.5, 1.5).prop_flat_map(|(t, a, k)| {
        let n = t.values.len();
        (Just(t), Just(a), Just(k), proptest::collection::vec(0..n.max(1), 0..3))
    })) {
        let mut x = x;
        x.view = View::Contiguous;
        for i in zero_at {
            if i < x.values.len() {
                x.values[i] = 0.0;
            }
        }
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].prod(&axes, keep), vec![x])?;
    }

    #[test]
    fn var_std((x, axes, keep, unbiased) in with_axes(-3.0, 3.0).prop_flat_map(|(t, a, k)| (Just(t), Just(a), Just(k), any::<bool>()))) {
        // Needs at least two elements per slice for the unbiased form.
        let count: usize = if axes.is_empty() { x.shape.iter().product() } else { axes.iter().map(|&a| x.shape[a as usize]).product() };
        prop_assume!(count >= 2);
        // std's gradient is singular on constant slices, which only expanded views have.
        let distinct = no_expand(&x);
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].var(&axes, unbiased, keep), vec![x.clone()])?;
        if distinct {
            check(|t| t[0].std(&axes, unbiased, keep), vec![x])?;
        }
    }

    #[test]
    fn logsumexp((x, axes, keep) in with_axes(-3.0, 3.0)) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].logsumexp(&axes, keep), vec![x])?;
    }

    #[test]
    fn softmax_and_log_softmax((x, dim) in tensor(-3.0, 3.0).prop_filter("rank >= 1", |t| !t.shape.is_empty())
        .prop_flat_map(|t| { let r = t.shape.len() as isize; (Just(t), -r..r) })) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].softmax(dim), vec![x.clone()])?;
        check(|t| t[0].log_softmax(dim), vec![x])?;
    }

    #[test]
    fn matmul((a, b) in matmul_pair()) {
        let (a, b) = (tc(a.build(&dev()))?, tc(b.build(&dev()))?);
        check(|t| t[0].matmul(&t[1]), vec![a, b])?;
    }
}

/// Operands for every matmul form: 1-D·1-D, 1-D·N-D, N-D·1-D, 2-D, batched with broadcast
/// batch dims.
fn matmul_pair() -> impl Strategy<Value = (TensorSpec, TensorSpec)> {
    (
        1usize..4,
        1usize..4,
        1usize..4,
        shape(0..=2, 3, 9),
        0u8..4,
        0u8..3,
    )
        .prop_flat_map(|(m, k, n, batch, form, bcast)| {
            let mut bl = batch.clone();
            let mut br = batch.clone();
            match bcast {
                1 if !bl.is_empty() => bl[0] = 1,
                2 => br.clear(),
                _ => {}
            }
            let (ls, rs): (Vec<usize>, Vec<usize>) = match form {
                0 => (vec![k], vec![k]),
                1 => (vec![k], [br.clone(), vec![k, n]].concat()),
                2 => ([bl.clone(), vec![m, k]].concat(), vec![k]),
                _ => (
                    [bl.clone(), vec![m, k]].concat(),
                    [br.clone(), vec![k, n]].concat(),
                ),
            };
            (tensor_of(ls, -2.0, 2.0), tensor_of(rs, -2.0, 2.0))
        })
}

#[test]
fn hand_derived_reductions() -> lamina_tensor::Result<()> {
    let d = dev();
    let x = Tensor::from_vec(vec![1.0f64, 3.0, 3.0, 2.0], [2, 2], &d)?;
    // max over everything with a tie: the gradient splits evenly.
    let (_, g) = lamina_autograd::value_and_grad(&[&x], || x.amax([0isize; 0], false))?;
    assert_eq!(
        g.get(&x).unwrap().to_vec::<f64>()?,
        vec![0.0, 0.5, 0.5, 0.0]
    );
    // d/dx mean = 1/n
    let (_, g) = lamina_autograd::value_and_grad(&[&x], || x.mean_all())?;
    assert_eq!(g.get(&x).unwrap().to_vec::<f64>()?, vec![0.25; 4]);
    // d/dx prod([1, 3, 3, 2]) = [18, 6, 6, 9]
    let (_, g) = lamina_autograd::value_and_grad(&[&x], || x.prod([0isize; 0], false))?;
    assert_eq!(
        g.get(&x).unwrap().to_vec::<f64>()?,
        vec![18.0, 6.0, 6.0, 9.0]
    );
    // softmax of equal logits: d/dx0 of softmax(x)[0] = p(1 - p) = 0.25 for two classes.
    let z = Tensor::zeros([2], lamina_tensor::DType::F64, &d)?;
    let (_, g) =
        lamina_autograd::value_and_grad(&[&z], || z.softmax(0)?.narrow(0, 0, 1)?.sum_all())?;
    assert_eq!(g.get(&z).unwrap().to_vec::<f64>()?, vec![0.25, -0.25]);
    // matmul: d/dA sum(A B) = 1 Bᵀ.
    let a = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [2, 2], &d)?;
    let b = Tensor::from_vec(vec![5.0f64, 6.0, 7.0, 8.0], [2, 2], &d)?;
    let (_, g) = lamina_autograd::value_and_grad(&[&a], || a.matmul(&b)?.sum_all())?;
    assert_eq!(
        g.get(&a).unwrap().to_vec::<f64>()?,
        vec![11.0, 15.0, 11.0, 15.0]
    );
    Ok(())
}

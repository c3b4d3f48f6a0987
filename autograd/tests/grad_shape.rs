//! Gradient property tests of the ops that move elements: views (reshape, permute,
//! transpose, squeeze, unsqueeze, expand, narrow, flatten, select), copies and casts, cat,
//! stack, split, chunk, and the index ops (index_select, gather, scatter_add).

mod common;

use common::{cases, check, dev, tc};
use lamina_autograd::strategies::{tensor, tensor_of, TensorSpec};
use lamina_tensor::{DType, Tensor};
use proptest::prelude::*;

/// A tensor of rank ≥ 1 and one of its dims.
fn with_dim() -> impl Strategy<Value = (TensorSpec, usize)> {
    tensor(-3.0, 3.0)
        .prop_filter("rank >= 1", |t| !t.shape.is_empty())
        .prop_flat_map(|t| {
            let r = t.shape.len();
            (Just(t), 0..r)
        })
}

/// Integer indices in `0..size`, `n` of them, as an I64 tensor of `shape`.
fn ids(values: &[usize], shape: Vec<usize>) -> lamina_tensor::Result<Tensor> {
    Tensor::from_vec(
        values.iter().map(|&v| v as i64).collect::<Vec<_>>(),
        shape,
        &dev(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn reshape_flatten_view(x in tensor(-3.0, 3.0)) {
        let x = tc(x.build(&dev()))?;
        let n = x.elem_count();
        check(|t| t[0].reshape([n]), vec![x.clone()])?;
        check(|t| t[0].reshape([-1isize, 1]), vec![x.clone()])?;
        check(|t| t[0].flatten_all()?.unsqueeze(0)?.squeeze(0), vec![x])?;
    }

    #[test]
    fn permute_transpose((x, perm) in tensor(-3.0, 3.0).prop_flat_map(|t| {
        let r = t.shape.len();
        (Just(t), Just((0..r).collect::<Vec<usize>>()).prop_shuffle())
    })) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].permute(perm.clone())?.exp(), vec![x.clone()])?;
        if x.rank() >= 2 {
            check(|t| t[0].transpose(0, -1)?.sin(), vec![x])?;
        }
    }

    #[test]
    fn squeeze_unsqueeze_select((x, d) in with_dim()) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].unsqueeze(d as isize)?.squeeze(d as isize)?.square(), vec![x.clone()])?;
        check(|t| t[0].select(d as isize, 0)?.exp(), vec![x])?;
    }

    #[test]
    fn expand_broadcast((x, lead) in tensor(-3.0, 3.0).prop_flat_map(|t| (Just(t), 1usize..3))) {
        let x = tc(x.build(&dev()))?;
        let mut target = vec![lead];
        target.extend(x.dims().iter().map(|&d| if d == 1 { 3 } else { d }));
        check(|t| t[0].expand(target.clone())?.square(), vec![x])?;
    }

    #[test]
    fn narrow((x, d, start, len) in with_dim().prop_flat_map(|(t, d)| {
        let n = t.shape[d];
        (Just(t), Just(d), 0..n).prop_flat_map(move |(t, d, s)| (Just(t), Just(d), Just(s), 0..=(n - s)))
    })) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].narrow(d as isize, start, len)?.exp(), vec![x])?;
    }

    #[test]
    fn copy_contiguous_cast(x in tensor(-3.0, 3.0)) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].contiguous()?.copy()?.square(), vec![x.clone()])?;
        check(|t| t[0].to_dtype(DType::F64)?.square(), vec![x])?;
    }

    #[test]
    fn cat_stack((a, b, d) in with_dim().prop_flat_map(|(t, d)| {
        let s = t.shape.clone();
        (Just(t), 1usize..3).prop_flat_map(move |(t, extra)| {
            let mut s = s.clone();
            s[d] = extra;
            (Just(t), tensor_of(s, -3.0, 3.0), Just(d))
        })
    })) {
        let (a, b) = (tc(a.build(&dev()))?, tc(b.build(&dev()))?);
        check(|t| Tensor::cat(&[&t[0], &t[1], &t[0]], d as isize)?.square(), vec![a.clone(), b])?;
        check(|t| Tensor::stack(&[&t[0], &t[0].exp()?], d as isize), vec![a])?;
    }

    #[test]
    fn split_chunk((x, d) in with_dim()) {
        let x = tc(x.build(&dev()))?;
        check(|t| {
            let parts = t[0].split(2, d as isize)?;
            let last = parts.last().cloned().ok_or_else(|| lamina_tensor::Error::Invalid { op: "test", msg: "no parts".into() })?;
            parts[0].exp()?.sum_all()? + last.square()?.sum_all()?
        }, vec![x.clone()])?;
        check(|t| t[0].chunk(2, d as isize)?[0].sin(), vec![x])?;
    }

    #[test]
    fn index_select((x, d, picks) in with_dim().prop_flat_map(|(t, d)| {
        let n = t.shape[d];
        (Just(t), Just(d), proptest::collection::vec(0..n, 0..5))
    })) {
        let x = tc(x.build(&dev()))?;
        let i = tc(ids(&picks, vec![picks.len()]))?;
        check(|t| t[0].index_select(d as isize, &i), vec![x])?;
    }

    #[test]
    fn gather_and_scatter_add((x, d, picks) in with_dim().prop_flat_map(|(t, d)| {
        let shape = t.shape.clone();
        let n: usize = shape.iter().product();
        (Just(t), Just(d), proptest::collection::vec(0..shape[d], n))
    })) {
        let shape = x.shape.clone();
        let x = tc(x.build(&dev()))?;
        let i = tc(ids(&picks, shape.clone()))?;
        check(|t| t[0].gather(d as isize, &i), vec![x.clone()])?;
        let src = tc(Tensor::rand(3, shape, DType::F64, &dev()))?;
        check(|t| t[0].scatter_add(d as isize, &i, &t[1]), vec![x, src])?;
    }
}

#[test]
fn hand_derived_shapes() -> lamina_tensor::Result<()> {
    let d = dev();
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3], &d)?;
    // narrow's gradient is zero outside the window
    let (_, g) = lamina_autograd::value_and_grad(&[&x], || x.narrow(1, 1, 2)?.sum_all())?;
    assert_eq!(
        g.get(&x).unwrap().to_vec::<f64>()?,
        vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    );
    // index_select with a repeated index accumulates
    let i = Tensor::from_vec(vec![0i64, 0, 2], [3], &d)?;
    let (_, g) = lamina_autograd::value_and_grad(&[&x], || x.index_select(1, &i)?.sum_all())?;
    assert_eq!(
        g.get(&x).unwrap().to_vec::<f64>()?,
        vec![2.0, 0.0, 1.0, 2.0, 0.0, 1.0]
    );
    // transpose then weight: d/dx sum(xᵀ * w) = wᵀ
    let w = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2], &d)?;
    let (_, g) = lamina_autograd::value_and_grad(&[&x], || (x.t()? * &w)?.sum_all())?;
    assert_eq!(
        g.get(&x).unwrap().to_vec::<f64>()?,
        vec![1.0, 3.0, 5.0, 2.0, 4.0, 6.0]
    );
    Ok(())
}

/// `to_device` is on the tape: the gradient of `sum((2 x)²)` computed on another device
/// comes back to `x`'s device as `8 x`. The other device is a second CPU backend instance
/// (a device of its own), so this runs without a GPU; with `LAMINA_TEST_DEVICE=cuda` the
/// input lives on the GPU and the gradient crosses back from the CPU copy.
#[test]
fn to_device_gradient_returns_to_the_input_device() -> lamina_tensor::Result<()> {
    let other = lamina_tensor::Device::leak(Box::new(lamina_backend_cpu::CpuBackend));
    assert!(other != dev());
    let x = Tensor::from_vec(vec![0.5f32, -1.25, 2.0, 3.0], [2, 2], &dev())?;
    let tape = lamina_autograd::Tape::new();
    tape.watch(&x);
    let y = x.to_device(&other)?;
    assert!(y.device() == &other);
    let loss = y.affine(2.0, 0.0)?.square()?.sum_all()?;
    let grads = tape.backward(&loss)?;
    let g = grads.get(&x).expect("x has a gradient");
    assert!(
        g.device() == x.device(),
        "gradient on {}",
        g.device().name()
    );
    assert_eq!(g.to_vec::<f32>()?, vec![4.0, -10.0, 16.0, 24.0]);
    Ok(())
}

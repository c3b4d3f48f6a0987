//! Gradient property tests of the ops outside the element-wise tables, whose gradients come
//! from the primitives they record (or the scan, slice and scatter rules): scans and order
//! statistics (`ops/scan.rs`), rearrangements (`ops/rearrange.rs`), `unfold`, basic indexing, the
//! index ops (`ops/index.rs`), norms and distances, `clamp_tensor`. Random shapes (rank
//! 0–4 where the op takes it), every layout the strategies make, f64, against finite
//! differences; `LAMINA_GRAD_CASES` cases per property (default 128). Order statistics,
//! `amax`/`amin` scatters, `clamp_tensor` and the `inf` norms draw values without ties
//! (their gradient picks one element); products are checked with zeros in the input,
//! where the gradient is still exact. Then exact values at a zero norm, and gradients of
//! gradients for a few of these ops.

mod common;
#[path = "grad_ops/strategies.rs"]
mod strategies;

use common::{cases, check, dev, grads_of, tc, weighted_square};
use lamina_autograd::strategies::{broadcast_pair, shape, tensor, tensor_of};
use lamina_tensor::{DType, Indexing, PadMode, Result, ScatterReduce, Tensor};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use strategies::{
    cdist_pair, clamp_apart, clamp_case, diffs_apart, distinct, distinct_abs, distinct_pair, i64s,
    index, index_items, no_expand, ranked, scatter_case, size, with_dim, with_zeros,
};

fn first(r: Result<(Tensor, Tensor)>) -> Result<Tensor> {
    Ok(r?.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    // ---- scans and order statistics ----

    #[test]
    fn cumsum((x, d) in with_dim(tensor(-3.0, 3.0))) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].cumsum(d), vec![x])?;
    }

    /// Exact with zeros: each output is multilinear in the inputs, so central differences
    /// are exact too.
    #[test]
    fn cumprod((x, d) in with_dim(with_zeros(tensor(-2.0, 2.0)))) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].cumprod(d), vec![x])?;
    }

    #[test]
    fn logcumsumexp((x, d) in with_dim(tensor(-10.0, 10.0))) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].logcumsumexp(d), vec![x])?;
    }

    #[test]
    fn sort((x, d, descending) in with_dim(distinct(-3.0, 3.0)).prop_flat_map(|(t, d)| (Just(t), Just(d), any::<bool>()))) {
        let x = tc(x.build(&dev()))?;
        check(|t| first(t[0].sort(d, descending)), vec![x])?;
    }

    #[test]
    fn topk((x, d, k, largest) in with_dim(distinct(-3.0, 3.0)).prop_flat_map(|(t, d)| {
        let n = size(&t.shape, d);
        (Just(t), Just(d), 0..=n, any::<bool>())
    })) {
        let x = tc(x.build(&dev()))?;
        check(|t| first(t[0].topk(k, d, largest)), vec![x])?;
    }

    #[test]
    fn kthvalue_median_mode((x, d, k, keep) in with_dim(distinct(-3.0, 3.0)).prop_flat_map(|(t, d)| {
        let n = size(&t.shape, d);
        (Just(t), Just(d), 1..=n, any::<bool>())
    })) {
        let x = tc(x.build(&dev()))?;
        check(|t| first(t[0].kthvalue(k, d, keep)), vec![x.clone()])?;
        check(|t| first(t[0].median(d, keep)), vec![x.clone()])?;
        check(|t| t[0].median_all(), vec![x.clone()])?;
        // Distinct values: every value is as frequent, and the mode is the smallest.
        check(|t| first(t[0].mode(d, keep)), vec![x])?;
    }

    #[test]
    fn max_min_dim((x, d, keep) in with_dim(distinct(-3.0, 3.0)).prop_flat_map(|(t, d)| (Just(t), Just(d), any::<bool>()))) {
        let x = tc(x.build(&dev()))?;
        check(|t| first(t[0].max_dim(d, keep)), vec![x.clone()])?;
        check(|t| first(t[0].min_dim(d, keep)), vec![x])?;
    }

    // ---- rearrangements ----

    #[test]
    fn flip((x, dims) in tensor(-3.0, 3.0).prop_flat_map(|t| {
        let r = t.shape.len() as isize;
        (Just(t), proptest::sample::subsequence((0..r.max(1)).collect::<Vec<_>>(), 0..=(r.max(1) as usize)))
    })) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].flip(dims.clone()), vec![x])?;
    }

    #[test]
    fn roll((x, dims, shifts) in tensor(-3.0, 3.0).prop_flat_map(|t| {
        let r = t.shape.len() as isize;
        (Just(t), proptest::sample::subsequence((0..r).collect::<Vec<_>>(), 0..=(r as usize)), proptest::collection::vec(-5isize..6, 4))
    })) {
        let x = tc(x.build(&dev()))?;
        if dims.is_empty() {
            check(|t| t[0].roll(&shifts[..1], &[]), vec![x])?;
        } else {
            check(|t| t[0].roll(&shifts[..dims.len()], &dims), vec![x])?;
        }
    }

    #[test]
    fn repeat_tile((x, sizes, reps) in tensor(-3.0, 3.0).prop_flat_map(|t| {
        let r = t.shape.len();
        (Just(t), proptest::collection::vec(0usize..3, r..=r + 2), proptest::collection::vec(1usize..3, 0..=r + 1))
    })) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].repeat(&sizes), vec![x.clone()])?;
        check(|t| t[0].tile(&reps), vec![x])?;
    }

    #[test]
    fn repeat_interleave((x, dim, repeats, counts) in with_dim(tensor(-3.0, 3.0)).prop_flat_map(|(t, d)| {
        (Just(t), prop_oneof![Just(None), Just(Some(d))], 0usize..4)
    }).prop_flat_map(|(t, dim, repeats)| {
        // One count per element along the dim (of the flattened tensor without one), or
        // one for all.
        let n = match dim {
            None => t.values.len(),
            Some(d) => size(&t.shape, d),
        };
        (Just(t), Just(dim), Just(repeats), prop_oneof![
            proptest::collection::vec(0i64..4, n),
            proptest::collection::vec(0i64..4, 1),
        ])
    })) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].repeat_interleave(repeats, dim), vec![x.clone()])?;
        let c = tc(i64s(&counts, vec![counts.len()]))?;
        check(|t| t[0].repeat_interleave_tensor(&c, dim), vec![x])?;
    }

    #[test]
    fn pad((x, pads, mode) in ranked(1, -3.0, 3.0).prop_flat_map(|t| {
        let r = t.shape.len();
        (Just(t), 1..=r.min(3), 0u8..4, -1.0..1.0f64)
    }).prop_flat_map(|(t, pairs, mode, value)| {
        let mode = match mode {
            0 => PadMode::Constant(value * 5.0),
            1 => PadMode::Reflect,
            2 => PadMode::Replicate,
            _ => PadMode::Circular,
        };
        // (before, after) for the last `pairs` dims, within what each mode allows.
        let sides: Vec<BoxedStrategy<isize>> = (0..2 * pairs).map(|k| {
            let n = t.shape[t.shape.len() - 1 - k / 2] as isize;
            match mode {
                PadMode::Constant(_) => (-(n / 2)..4).boxed(),
                PadMode::Reflect => (0..n).boxed(),
                PadMode::Replicate => (0isize..4).boxed(),
                PadMode::Circular => (0..=n).boxed(),
            }
        }).collect();
        (Just(t), sides, Just(mode))
    })) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].pad(&pads, mode), vec![x])?;
    }

    #[test]
    fn tril_triu((x, k) in ranked(2, -3.0, 3.0).prop_flat_map(|t| (Just(t), -4isize..5))) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].tril(k), vec![x.clone()])?;
        check(|t| t[0].triu(k), vec![x])?;
    }

    #[test]
    fn diag((x, k) in shape(1..=2, 4, 16).prop_flat_map(|s| (tensor_of(s, -3.0, 3.0), -4isize..5))) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].diag(k), vec![x])?;
    }

    #[test]
    fn diagonal((x, offset, d1, d2) in ranked(2, -3.0, 3.0).prop_flat_map(|t| {
        let r = t.shape.len() as isize;
        (Just(t), -4isize..5, -r..r, -r..r)
    }).prop_filter("distinct dims", |(t, _, a, b)| {
        let r = t.shape.len() as isize;
        a.rem_euclid(r) != b.rem_euclid(r)
    })) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].diagonal(offset, d1, d2), vec![x])?;
    }

    #[test]
    fn narrow_step((x, d, start, len, step) in with_dim(ranked(1, -3.0, 3.0)).prop_flat_map(|(t, d)| {
        let n = size(&t.shape, d);
        (Just(t), Just(d), 0..n, 1usize..4).prop_flat_map(move |(t, d, start, step)| {
            (Just(t), Just(d), Just(start), 0..=(n - 1 - start) / step + 1, Just(step))
        })
    })) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].narrow_step(d, start, len, step), vec![x])?;
    }

    /// Every window size (0 included) and step 1–4 over random shapes (0-d too) and
    /// layouts: overlapping (`step < size`), touching and gapped (`step > size`) windows.
    #[test]
    fn unfold((x, d, k, step) in with_dim(tensor(-3.0, 3.0)).prop_flat_map(|(t, d)| {
        let n = size(&t.shape, d);
        (Just(t), Just(d), 0..=n, 1usize..5)
    })) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].unfold(d, k, step), vec![x])?;
    }

    /// Two unfolds, as a 2-D convolution takes its patches: `[a, b] -> [a', b', kh, kw]`.
    #[test]
    fn unfold_twice((x, (kh, sh), (kw, sw)) in ranked(2, -3.0, 3.0).prop_flat_map(|t| {
        let (h, w) = (t.shape[t.shape.len() - 2], t.shape[t.shape.len() - 1]);
        (Just(t), (1..=h, 1usize..4), (1..=w, 1usize..4))
    })) {
        let x = tc(x.build(&dev()))?;
        check(|t| t[0].unfold(-2, kh, sh)?.unfold(-2, kw, sw), vec![x])?;
    }

    /// Both inputs: the base outside the slice, the source inside it.
    #[test]
    fn slice_scatter((base, src, d, start, step) in with_dim(ranked(1, -3.0, 3.0)).prop_flat_map(|(t, d)| {
        let n = size(&t.shape, d);
        (Just(t), Just(d), 0..n, 1usize..4).prop_flat_map(move |(t, d, start, step)| {
            (Just(t), Just(d), Just(start), 0..=(n - 1 - start) / step + 1, Just(step))
        }).prop_flat_map(|(t, d, start, len, step)| {
            let mut s = t.shape.clone();
            let r = s.len() as isize;
            s[d.rem_euclid(r) as usize] = len;
            (Just(t), tensor_of(s, -3.0, 3.0), Just(d), Just(start), Just(step))
        })
    })) {
        let (base, src) = (tc(base.build(&dev()))?, tc(src.build(&dev()))?);
        check(|t| t[0].slice_scatter(&t[1], d, start, step), vec![base, src])?;
    }

    #[test]
    fn basic_indexing((x, items) in tensor(-3.0, 3.0).prop_flat_map(|t| {
        let s = t.shape.clone();
        (Just(t), index_items(s))
    })) {
        let x = tc(x.build(&dev()))?;
        check(|t| index(&t[0], &items), vec![x])?;
    }

    #[test]
    fn meshgrid((xs, xy) in proptest::collection::vec(shape(0..=1, 4, 4).prop_flat_map(|s| tensor_of(s, -3.0, 3.0)), 1..4)
        .prop_flat_map(|v| (Just(v), any::<bool>()))) {
        let xs: Vec<Tensor> = tc(xs.iter().map(|x| x.build(&dev())).collect())?;
        let indexing = if xy { Indexing::Xy } else { Indexing::Ij };
        check(|t| {
            let refs: Vec<&Tensor> = t.iter().collect();
            let grids = Tensor::meshgrid(&refs, indexing)?;
            let weighted: Vec<Tensor> = grids.iter().enumerate().map(|(i, g)| g.mul_scalar(i as f64 + 1.0)).collect::<Result<_>>()?;
            let refs: Vec<&Tensor> = weighted.iter().collect();
            Tensor::stack(&refs, 0)
        }, xs)?;
    }

    // ---- index ops ----

    /// Overwriting scatters with repeated indices: the last write wins, and only it gets
    /// the gradient (and the base only where nothing was written).
    #[test]
    fn scatter_overwrite((c, base, src) in scatter_case().prop_flat_map(|c| {
        let (b, s) = (c.base.clone(), c.src.clone());
        (Just(c), tensor_of(b, -3.0, 3.0), tensor_of(s, -3.0, 3.0))
    })) {
        let (base, src, ids) = (tc(base.build(&dev()))?, tc(src.build(&dev()))?, tc(c.ids())?);
        check(|t| t[0].scatter(c.dim, &ids, &t[1]), vec![base.clone(), src.clone()])?;
        for include_self in [true, false] {
            check(|t| t[0].scatter_reduce(c.dim, &ids, &t[1], ScatterReduce::Replace, include_self), vec![base.clone(), src.clone()])?;
        }
        check(|t| t[0].scatter_value(c.dim, &ids, -1.5), vec![base])?;
    }

    #[test]
    fn scatter_reduce_sum_mean((c, base, src, include_self) in scatter_case().prop_flat_map(|c| {
        let (b, s) = (c.base.clone(), c.src.clone());
        (Just(c), tensor_of(b, -3.0, 3.0), tensor_of(s, -3.0, 3.0), any::<bool>())
    })) {
        let (base, src, ids) = (tc(base.build(&dev()))?, tc(src.build(&dev()))?, tc(c.ids())?);
        for reduce in [ScatterReduce::Sum, ScatterReduce::Mean] {
            check(|t| t[0].scatter_reduce(c.dim, &ids, &t[1], reduce, include_self), vec![base.clone(), src.clone()])?;
        }
        check(|t| t[0].scatter_add(c.dim, &ids, &t[1]), vec![base, src])?;
    }

    /// Products, with zeros in the base and the source (exact: multilinear).
    #[test]
    fn scatter_reduce_prod((c, base, src, include_self) in scatter_case().prop_flat_map(|c| {
        let (b, s) = (c.base.clone(), c.src.clone());
        (Just(c), with_zeros(tensor_of(b, -2.0, 2.0)), with_zeros(tensor_of(s, -2.0, 2.0)), any::<bool>())
    })) {
        let (base, src, ids) = (tc(base.build(&dev()))?, tc(src.build(&dev()))?, tc(c.ids())?);
        check(|t| t[0].scatter_reduce(c.dim, &ids, &t[1], ScatterReduce::Prod, include_self), vec![base, src])?;
    }

    /// Base and source values drawn without ties between them.
    #[test]
    fn scatter_reduce_amax_amin((c, (base, src), include_self) in scatter_case().prop_flat_map(|c| {
        let (b, s) = (c.base.clone(), c.src.clone());
        (Just(c), distinct_pair(b, s), any::<bool>())
    })) {
        let (base, src, ids) = (tc(base.build(&dev()))?, tc(src.build(&dev()))?, tc(c.ids())?);
        for reduce in [ScatterReduce::Amax, ScatterReduce::Amin] {
            check(|t| t[0].scatter_reduce(c.dim, &ids, &t[1], reduce, include_self), vec![base.clone(), src.clone()])?;
        }
    }

    #[test]
    fn index_add_copy_fill((x, src, d, picks, alpha) in with_dim(ranked(1, -3.0, 3.0)).prop_flat_map(|(t, d)| {
        let n = size(&t.shape, d);
        (Just(t), Just(d), proptest::collection::vec(0..n as i64, 0..5), -2.0..2.0f64)
    }).prop_flat_map(|(t, d, picks, alpha)| {
        // The source: the base's shape with `picks.len()` along the dim.
        let mut s = t.shape.clone();
        let r = s.len() as isize;
        s[d.rem_euclid(r) as usize] = picks.len();
        (Just(t), tensor_of(s, -3.0, 3.0), Just(d), Just(picks), Just(alpha))
    })) {
        let (x, src) = (tc(x.build(&dev()))?, tc(src.build(&dev()))?);
        let ids = tc(i64s(&picks, vec![picks.len()]))?;
        check(|t| t[0].index_add(d, &ids, &t[1], alpha), vec![x.clone(), src.clone()])?;
        // Repeated indices: the last copy wins.
        check(|t| t[0].index_copy(d, &ids, &t[1]), vec![x.clone(), src])?;
        check(|t| t[0].index_fill(d, &ids, 2.5), vec![x])?;
    }

    #[test]
    fn masked_select(((x, m), seed) in broadcast_pair(3, 3).prop_flat_map(|(a, b)| (tensor_of(a, -3.0, 3.0), Just(b))).prop_flat_map(|v| (Just(v), any::<u64>()))) {
        let x = tc(x.build(&dev()))?;
        let mask = tc(Tensor::rand(seed, m, DType::F64, &dev()).and_then(|r| r.gt_scalar(0.4)))?;
        check(|t| t[0].masked_select(&mask), vec![x])?;
    }

    // ---- norms and distances ----

    /// Every order, over random dims, away from zero elements (where `|x|^p` has no
    /// derivative for p ≤ 1).
    #[test]
    fn norm((x, dims, keep) in distinct_abs(0.2, 3.0).prop_flat_map(|t| {
        let r = t.shape.len() as isize;
        (Just(t), proptest::sample::subsequence((0..r).collect::<Vec<_>>(), 0..=(r as usize)), any::<bool>())
    })) {
        let x = tc(x.build(&dev()))?;
        for p in NORM_ORDERS {
            check(|t| t[0].norm(p, dims.clone(), keep), vec![x.clone()])?;
        }
    }

    #[test]
    fn dist(((a, b), p) in broadcast_pair(3, 3).prop_flat_map(|(a, b)| (no_expand(tensor_of(a, -3.0, 3.0)), no_expand(tensor_of(b, -3.0, 3.0)))).prop_flat_map(|v| (Just(v), proptest::sample::select(NORM_ORDERS.to_vec())))) {
        let (a, b) = (tc(a.build(&dev()))?, tc(b.build(&dev()))?);
        let n = tc(a.shape().broadcast(b.shape(), "test"))?.elem_count();
        if !tc(diffs_apart(&tc(&a - &b)?, p, n))? {
            return Err(TestCaseError::reject("a difference near 0 or a tie"));
        }
        check(|t| t[0].dist(&t[1], p), vec![a, b])?;
    }

    #[test]
    fn cdist(((a, b), p) in cdist_pair().prop_flat_map(|v| (Just(v), proptest::sample::select(NORM_ORDERS.to_vec())))) {
        let (a, b) = (tc(a.build(&dev()))?, tc(b.build(&dev()))?);
        let d = tc(a.unsqueeze(-2).and_then(|x| x.sub(&b.unsqueeze(-3)?)))?;
        if !tc(diffs_apart(&d, p, d.dims()[d.rank() - 1]))? {
            return Err(TestCaseError::reject("a difference near 0 or a tie"));
        }
        check(|t| t[0].cdist(&t[1], p), vec![a, b])?;
    }

    /// Tensor bounds (either optional), broadcasting, no ties between `x` and a bound.
    #[test]
    fn clamp_tensor(((x, lo, hi), which) in clamp_case().prop_flat_map(|v| (Just(v), 0u8..3))) {
        let (x, lo, hi) = (tc(x.build(&dev()))?, tc(lo.build(&dev()))?, tc(hi.build(&dev()))?);
        if !tc(clamp_apart(&x, &lo, &hi))? {
            return Err(TestCaseError::reject("x near a bound"));
        }
        match which {
            0 => check(|t| t[0].clamp_tensor(Some(&t[1]), Some(&t[2])), vec![x, lo, hi])?,
            1 => check(|t| t[0].clamp_tensor(Some(&t[1]), None), vec![x, lo])?,
            _ => check(|t| t[0].clamp_tensor(None, Some(&t[1])), vec![x, hi])?,
        }
    }
}

/// The orders every norm check runs.
const NORM_ORDERS: [f64; 8] = [
    1.0,
    2.0,
    3.0,
    1.5,
    0.5,
    f64::INFINITY,
    f64::NEG_INFINITY,
    0.0,
];

// ---- exact values ----

/// The gradient of `f(x)` (a scalar) at `x`.
fn grad(x: &Tensor, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Vec<f64>> {
    let (_, g) = lamina_autograd::value_and_grad(&[x], || f(x))?;
    match g.get(x) {
        Some(g) => g.to_vec::<f64>(),
        None => Ok(vec![0.0; x.elem_count()]),
    }
}

/// A zero norm passes gradient 0, not NaN, for every order; so do zero elements of a
/// non-zero vector, where `|x|^p` has no derivative (p ≤ 1). Values from PyTorch 2.15
/// (`torch.linalg.vector_norm(x, p).backward()`, f64).
#[test]
fn norm_at_zero_matches_pytorch() -> Result<()> {
    let d = dev();
    let zero = Tensor::zeros([3], DType::F64, &d)?;
    let x = Tensor::from_vec(vec![0.0f64, 1.0, -2.0], [3], &d)?;
    let cases: [(f64, [f64; 3]); 8] = [
        (0.5, [0.0, 2.414213562373095, -1.7071067811865472]),
        (1.0, [0.0, 1.0, -1.0]),
        (1.5, [0.0, 0.6392340078652324, -0.9040134034531213]),
        (2.0, [0.0, 0.4472135954999579, -0.8944271909999159]),
        (3.0, [0.0, 0.2311204247835449, -0.9244816991341795]),
        (f64::INFINITY, [0.0, 0.0, -1.0]),
        (f64::NEG_INFINITY, [0.0, 0.0, 0.0]),
        (-1.0, [0.0, 0.0, 0.0]),
    ];
    let mut wrong = Vec::new();
    for (p, want) in cases {
        let at_zero = grad(&zero, |t| t.norm(p, [0isize; 0], false))?;
        if at_zero != [0.0; 3] {
            wrong.push(format!("norm p={p} at 0: {at_zero:?}"));
        }
        let got = grad(&x, |t| t.norm(p, [0isize; 0], false))?;
        let close = got
            .iter()
            .zip(&want)
            .all(|(g, w)| (g - w).abs() <= 1e-14 * w.abs().max(1.0));
        if !close {
            wrong.push(format!(
                "norm p={p} at [0, 1, -2]: {got:?}, PyTorch {want:?}"
            ));
        }
    }
    // dist and cdist of equal points (a zero difference).
    let a = Tensor::from_vec(vec![1.0f64, 2.0], [1, 2], &d)?;
    for p in [1.0, 2.0, 3.0] {
        let g = grad(&a, |t| t.dist(&a.detach(), p))?;
        if g != [0.0, 0.0] {
            wrong.push(format!("dist p={p} of equal points: {g:?}"));
        }
        let g = grad(&a, |t| t.cdist(&a.detach(), p)?.sum_all())?;
        if g != [0.0, 0.0] {
            wrong.push(format!("cdist p={p} of equal points: {g:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}

/// cumprod with zeros: `d/dx_i prod_{k <= j} x_k` is the product of the others, also when
/// x_i is the zero; past a second zero, 0.
#[test]
fn cumprod_with_zeros_by_hand() -> Result<()> {
    let x = Tensor::from_vec(vec![2.0f64, 0.0, 3.0, 0.0, 5.0], [5], &dev())?;
    // y = [2, 0, 0, 0, 0]; d sum(y) / dx = [1, 2 + 2*3, 0, 0, 0]
    let g = grad(&x, |t| t.cumprod(0)?.sum_all())?;
    assert_eq!(g, vec![1.0, 8.0, 0.0, 0.0, 0.0]);
    Ok(())
}

/// Overwriting with a repeated index: the last write stays, and only it gets the
/// gradient; the base gets it only where nothing was written.
#[test]
fn scatter_repeated_index_by_hand() -> Result<()> {
    let d = dev();
    let base = Tensor::zeros([3], DType::F64, &d)?;
    let src = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], [3], &d)?;
    let ids = i64s(&[2, 0, 2], vec![3])?;
    let w = Tensor::from_vec(vec![10.0f64, 20.0, 30.0], [3], &d)?;
    assert_eq!(
        base.scatter(0, &ids, &src)?.to_vec::<f64>()?,
        vec![2.0, 0.0, 3.0]
    );
    let g = grad(&src, |s| (base.scatter(0, &ids, s)? * &w)?.sum_all())?;
    assert_eq!(g, vec![0.0, 10.0, 30.0]);
    let g = grad(&base, |b| (b.scatter(0, &ids, &src)? * &w)?.sum_all())?;
    assert_eq!(g, vec![0.0, 20.0, 0.0]);
    Ok(())
}

// ---- gradients of gradients ----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn double_backward_cumsum((x, d) in with_dim(tensor(-2.0, 2.0))) {
        let x = tc(x.build(&dev()))?;
        check(|t| grads_of(t, |v| weighted_square(&v[0].cumsum(d)?)), vec![x.clone()])?;
        check(|t| grads_of(t, |v| v[0].logcumsumexp(d)?.sin()?.sum_all()), vec![x])?;
    }

    #[test]
    fn double_backward_scatter((c, base, src) in scatter_case().prop_flat_map(|c| {
        let (b, s) = (c.base.clone(), c.src.clone());
        (Just(c), tensor_of(b, -2.0, 2.0), tensor_of(s, -2.0, 2.0))
    })) {
        let (base, src, ids) = (tc(base.build(&dev()))?, tc(src.build(&dev()))?, tc(c.ids())?);
        check(|t| grads_of(t, |v| weighted_square(&v[0].scatter_add(c.dim, &ids, &v[1])?)), vec![base.clone(), src.clone()])?;
        check(|t| grads_of(t, |v| weighted_square(&v[0].scatter_reduce(c.dim, &ids, &v[1], ScatterReduce::Prod, true)?)), vec![base, src])?;
    }

    #[test]
    fn double_backward_norm(x in distinct_abs(0.2, 3.0)) {
        let x = tc(x.build(&dev()))?;
        for p in [2.0, 3.0, 1.5] {
            check(|t| grads_of(t, |v| v[0].norm(p, [0isize; 0], false)), vec![x.clone()])?;
        }
    }

    #[test]
    fn double_backward_pad_reflect((x, pads) in ranked(1, -2.0, 2.0).prop_flat_map(|t| {
        let n = *t.shape.last().unwrap_or(&1) as isize;
        (Just(t), proptest::collection::vec(0..n, 2))
    })) {
        let x = tc(x.build(&dev()))?;
        check(|t| grads_of(t, |v| weighted_square(&v[0].pad(&pads, PadMode::Reflect)?)), vec![x])?;
    }
}

//! Strategies and input filters of the `grad_ops` gradient checks: values without ties
//! (order statistics, `amax`/`amin` scatters, `inf` norms), zeros for the products, scatter
//! and basic-index cases, and checks that keep inputs away from where a gradient jumps.

use lamina_autograd::strategies::{shape, tensor_of, view, TensorSpec, View};
use lamina_tensor::{IndexItem, IntoIndexItem, Result, Tensor};
use proptest::prelude::*;

use super::common::dev;

/// A tensor of `shape` whose values lie in `lo..hi` at least `(hi - lo) / 2n` apart (no
/// ties), in any layout but an expanded one (which repeats values).
pub fn distinct_of(shape: Vec<usize>, lo: f64, hi: f64) -> impl Strategy<Value = TensorSpec> {
    let n = shape.iter().product::<usize>();
    (
        Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
        proptest::collection::vec(0.0..0.5f64, n),
        view(shape.clone()),
    )
        .prop_map(move |(rank, jitter, view)| {
            let step = (hi - lo) / n.max(1) as f64;
            let values = rank
                .iter()
                .zip(&jitter)
                .map(|(&k, &j)| lo + (k as f64 + 0.25 + j) * step)
                .collect();
            let view = match view {
                View::Expanded { .. } => View::Contiguous,
                v => v,
            };
            TensorSpec {
                shape: shape.clone(),
                values,
                view,
            }
        })
}

/// [`distinct_of`] a random shape (rank 0–4).
pub fn distinct(lo: f64, hi: f64) -> impl Strategy<Value = TensorSpec> {
    shape(0..=4, 4, 64).prop_flat_map(move |s| distinct_of(s, lo, hi))
}

/// Distinct values with random signs: `|x|` has no ties either (the `inf` norms).
pub fn distinct_abs(lo: f64, hi: f64) -> impl Strategy<Value = TensorSpec> {
    distinct(lo, hi).prop_flat_map(|t| {
        let n = t.values.len();
        (Just(t), proptest::collection::vec(any::<bool>(), n)).prop_map(|(mut t, neg)| {
            for (v, n) in t.values.iter_mut().zip(neg) {
                if n {
                    *v = -*v;
                }
            }
            t
        })
    })
}

/// A tensor and one of its dims (`-r..r`; a scalar takes 0 and -1).
pub fn with_dim(
    s: impl Strategy<Value = TensorSpec>,
) -> impl Strategy<Value = (TensorSpec, isize)> {
    s.prop_flat_map(|t| {
        let r = t.shape.len().max(1) as isize;
        (Just(t), -r..r)
    })
}

/// A tensor of rank ≥ `min_rank` (dims ≤ 4).
pub fn ranked(min_rank: usize, lo: f64, hi: f64) -> impl Strategy<Value = TensorSpec> {
    shape(min_rank..=4, 4, 64).prop_flat_map(move |s| tensor_of(s, lo, hi))
}

/// The size of dim `d` (`-r..r`) of `shape`; 1 for a scalar.
pub fn size(shape: &[usize], d: isize) -> usize {
    if shape.is_empty() {
        1
    } else {
        shape[d.rem_euclid(shape.len() as isize) as usize]
    }
}

/// Up to 3 of the values set to exactly 0 (the expanded layout may repeat or drop them).
pub fn with_zeros(s: impl Strategy<Value = TensorSpec>) -> impl Strategy<Value = TensorSpec> {
    s.prop_flat_map(|t| {
        let n = t.values.len();
        (Just(t), proptest::collection::vec(0..n.max(1), 0..=3)).prop_map(|(mut t, at)| {
            for i in at {
                if i < t.values.len() {
                    t.values[i] = 0.0;
                }
            }
            t
        })
    })
}

pub fn i64s(values: &[i64], shape: Vec<usize>) -> Result<Tensor> {
    Tensor::from_vec(values.to_vec(), shape, &dev())
}

pub fn no_expand(s: impl Strategy<Value = TensorSpec>) -> impl Strategy<Value = TensorSpec> {
    s.prop_map(|mut t| {
        if matches!(t.view, View::Expanded { .. }) {
            t.view = View::Contiguous;
        }
        t
    })
}

/// Whether the norm of order `p` of each run of `len` values of the difference `d` is away
/// from where its gradient jumps: for `p <= 1` no element near 0 (the kink of `|x|`, the
/// pole of `|x|^p`); for `±inf` no near-tie for the largest (smallest) magnitude.
pub fn diffs_apart(d: &Tensor, p: f64, len: usize) -> Result<bool> {
    let m: Vec<f64> = d.abs()?.to_vec::<f64>()?;
    if p <= 1.0 && p != 0.0 && m.iter().any(|&v| v < 0.01) {
        return Ok(false);
    }
    if p.is_infinite() {
        return Ok(m.chunks(len.max(1)).all(|run| {
            let mut run = run.to_vec();
            run.sort_by(f64::total_cmp);
            if p < 0.0 {
                run.reverse();
            }
            run.len() < 2 || (run[run.len() - 1] - run[run.len() - 2]).abs() > 1e-3
        }));
    }
    Ok(true)
}

/// `[.., P, M]` and `[.., R, M]` with broadcast batch dims.
pub fn cdist_pair() -> impl Strategy<Value = (TensorSpec, TensorSpec)> {
    (
        1usize..4,
        1usize..4,
        1usize..4,
        shape(0..=1, 3, 3),
        any::<bool>(),
    )
        .prop_flat_map(|(p, r, m, batch, bcast)| {
            let bb = if bcast {
                vec![1; batch.len()]
            } else {
                batch.clone()
            };
            (
                no_expand(tensor_of([batch, vec![p, m]].concat(), -3.0, 3.0)),
                no_expand(tensor_of([bb, vec![r, m]].concat(), -3.0, 3.0)),
            )
        })
}

/// `x` and bounds of shapes that broadcast to x's (leading dims dropped, some dims 1).
pub fn clamp_case() -> impl Strategy<Value = (TensorSpec, TensorSpec, TensorSpec)> {
    shape(0..=3, 3, 27).prop_flat_map(|s| {
        let r = s.len();
        let bound = move |s: Vec<usize>| {
            (0..=r, proptest::collection::vec(any::<bool>(), r)).prop_map(move |(drop, ones)| {
                s.iter()
                    .zip(&ones)
                    .skip(drop)
                    .map(|(&d, &one)| if one { 1 } else { d })
                    .collect::<Vec<usize>>()
            })
        };
        (Just(s.clone()), bound(s.clone()), bound(s)).prop_flat_map(|(s, l, h)| {
            (
                tensor_of(s, -3.0, 3.0),
                tensor_of(l, -2.0, 1.0),
                tensor_of(h, -1.0, 2.0),
            )
        })
    })
}

/// Whether `x` is away from `lo` and `max(x, lo)` away from `hi` everywhere.
pub fn clamp_apart(x: &Tensor, lo: &Tensor, hi: &Tensor) -> Result<bool> {
    let gap = 1e-3;
    let apart = |a: &Tensor, b: &Tensor| -> Result<bool> {
        Ok((a - b)?.abs()?.to_vec::<f64>()?.iter().all(|&v| v > gap))
    };
    Ok(apart(x, lo)? && apart(x, hi)? && apart(&x.maximum(lo)?, hi)?)
}

/// Two tensors of the given shapes whose values, together, have no ties.
pub fn distinct_pair(
    a: Vec<usize>,
    b: Vec<usize>,
) -> impl Strategy<Value = (TensorSpec, TensorSpec)> {
    let na = a.iter().product::<usize>();
    let nb = b.iter().product::<usize>();
    (
        distinct_of(vec![na + nb], -3.0, 3.0),
        no_expand_view(a.clone()),
        no_expand_view(b.clone()),
    )
        .prop_map(move |(all, va, vb)| {
            let spec = |shape: &Vec<usize>, values: &[f64], view: View| TensorSpec {
                shape: shape.clone(),
                values: values.to_vec(),
                view,
            };
            (
                spec(&a, &all.values[..na], va),
                spec(&b, &all.values[na..], vb),
            )
        })
}

pub fn no_expand_view(shape: Vec<usize>) -> impl Strategy<Value = View> {
    view(shape).prop_map(|v| match v {
        View::Expanded { .. } => View::Contiguous,
        v => v,
    })
}

/// A scatter's shapes and indices: base `[..]` (rank 1–3), `dim`, an index no larger than
/// the base off `dim`, a source at least as large as the index; indices in range, with
/// repeats.
#[derive(Clone, Debug)]
pub struct ScatterCase {
    pub base: Vec<usize>,
    pub src: Vec<usize>,
    pub ids_shape: Vec<usize>,
    pub ids: Vec<i64>,
    pub dim: isize,
}

impl ScatterCase {
    pub fn ids(&self) -> Result<Tensor> {
        i64s(&self.ids, self.ids_shape.clone())
    }
}

pub fn scatter_case() -> impl Strategy<Value = ScatterCase> {
    shape(1..=3, 4, 64)
        .prop_flat_map(|base| {
            let r = base.len();
            (Just(base), 0..r)
        })
        .prop_flat_map(|(base, d)| {
            // Off `dim` the index fits the base; along it, any length.
            let dims: Vec<BoxedStrategy<usize>> = base
                .iter()
                .enumerate()
                .map(|(i, &b)| {
                    if i == d {
                        (1usize..5).boxed()
                    } else {
                        (1..=b).boxed()
                    }
                })
                .collect();
            let r = base.len();
            (
                Just(base),
                Just(d),
                dims,
                proptest::collection::vec(0usize..2, r),
            )
        })
        .prop_flat_map(|(base, d, ids_shape, extra)| {
            let count = ids_shape.iter().product::<usize>();
            let src: Vec<usize> = ids_shape.iter().zip(&extra).map(|(&i, &e)| i + e).collect();
            let ids = proptest::collection::vec(0..base[d] as i64, count);
            (Just(base), Just(d), Just(ids_shape), Just(src), ids)
        })
        .prop_map(|(base, d, ids_shape, src, ids)| ScatterCase {
            base,
            src,
            ids_shape,
            ids,
            dim: d as isize,
        })
}

/// One item of a basic index, as the strategy draws it.
#[derive(Clone, Debug)]
pub enum Item {
    Select(i64),
    Slice(Option<i64>, Option<i64>, usize),
    NewAxis,
    Ellipsis,
}

pub struct AsItem(pub IndexItem);

impl IntoIndexItem for AsItem {
    fn into_item(self) -> IndexItem {
        self.0
    }
}

/// Items for a tensor of `shape`: an integer, a (stepped, possibly out-of-range) slice or
/// `..` for some leading dims, or for trailing ones after an ellipsis; maybe a new axis.
pub fn index_items(shape: Vec<usize>) -> impl Strategy<Value = Vec<Item>> {
    let r = shape.len();
    (0..=r, any::<bool>(), proptest::option::of(0usize..6)).prop_flat_map(move |(k, ell, new)| {
        let dims: Vec<usize> = if ell {
            shape[r - k..].to_vec()
        } else {
            shape[..k].to_vec()
        };
        let items: Vec<BoxedStrategy<Item>> = dims
            .iter()
            .map(|&n| {
                let n = n as i64;
                prop_oneof![
                    (-n..n).prop_map(Item::Select),
                    (
                        proptest::option::of(-n - 2..n + 2),
                        proptest::option::of(-n - 2..n + 2),
                        1usize..4
                    )
                        .prop_map(|(s, e, st)| Item::Slice(s, e, st)),
                ]
                .boxed()
            })
            .collect();
        (items, Just(ell), Just(new)).prop_map(|(mut items, ell, new)| {
            if ell {
                items.insert(0, Item::Ellipsis);
            }
            if let Some(at) = new {
                items.insert(at.min(items.len()), Item::NewAxis);
            }
            if items.is_empty() {
                items.push(Item::Ellipsis);
            }
            items
        })
    })
}

/// `x.i((items..))`.
pub fn index(x: &Tensor, items: &[Item]) -> Result<Tensor> {
    let it = |k: usize| {
        AsItem(match items[k] {
            Item::Select(i) => IndexItem::Select(i),
            Item::Slice(start, end, step) => IndexItem::Slice { start, end, step },
            Item::NewAxis => IndexItem::NewAxis,
            Item::Ellipsis => IndexItem::Ellipsis,
        })
    };
    match items.len() {
        1 => x.i((it(0),)),
        2 => x.i((it(0), it(1))),
        3 => x.i((it(0), it(1), it(2))),
        4 => x.i((it(0), it(1), it(2), it(3))),
        5 => x.i((it(0), it(1), it(2), it(3), it(4))),
        6 => x.i((it(0), it(1), it(2), it(3), it(4), it(5))),
        n => panic!("{n} index items"),
    }
}

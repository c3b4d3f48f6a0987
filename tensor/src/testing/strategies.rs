//! proptest strategies for tensors, public so that users property-test their own ops
//! the same way: shapes of rank 0–4 (small dims, with size-0 and size-1 dims), sets of
//! broadcast-compatible shapes, values per dtype and domain, and `TensorSpec`, a tensor
//! description whose `build` gives a contiguous tensor or a strided view of the same
//! logical values (permuted, narrowed, selected from a wider tensor, expanded from size-1
//! dims, or two of these nested). A spec is plain data, so a failing case prints in full
//! and shrinks.

use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::{BoxedStrategy, Union};

use super::reference::{numel, RefTensor};
use super::reference_layout::inverse_perm;
use crate::{DType, Device, HostData, Result, Tensor};

/// Largest rank the strategies draw.
pub const MAX_RANK: usize = 4;
/// Largest extent of one dimension.
pub const MAX_DIM: usize = 5;

/// `weighted` (dtype, weight) pairs as a strategy.
fn dtypes(weighted: &[(DType, usize)]) -> BoxedStrategy<DType> {
    let pool: Vec<DType> = weighted
        .iter()
        .flat_map(|&(d, w)| std::iter::repeat_n(d, w))
        .collect();
    proptest::sample::select(pool).boxed()
}

/// Floating dtypes, F32 more often, the half types now and then.
pub fn float_dtype() -> BoxedStrategy<DType> {
    dtypes(&[
        (DType::F32, 6),
        (DType::F64, 4),
        (DType::F16, 1),
        (DType::BF16, 1),
    ])
}

/// Integer dtypes.
pub fn int_dtype() -> BoxedStrategy<DType> {
    prop_oneof![Just(DType::I64), Just(DType::U32)].boxed()
}

/// Every dtype.
pub fn any_dtype() -> BoxedStrategy<DType> {
    dtypes(&[
        (DType::F32, 6),
        (DType::F64, 4),
        (DType::I64, 2),
        (DType::U32, 2),
        (DType::F16, 1),
        (DType::BF16, 1),
    ])
}

/// One dimension: mostly 1–3, sometimes 0 or up to `MAX_DIM`.
pub fn dim() -> BoxedStrategy<usize> {
    prop_oneof![1 => Just(0usize), 6 => Just(1usize), 6 => Just(2usize), 6 => Just(3usize), 3 => Just(4usize), 2 => Just(MAX_DIM)]
        .boxed()
}

/// A dimension of at least 1.
pub fn nonzero_dim() -> BoxedStrategy<usize> {
    prop_oneof![3 => Just(1usize), 3 => Just(2usize), 3 => Just(3usize), 2 => Just(4usize), 1 => Just(MAX_DIM)]
        .boxed()
}

/// A shape of rank in `ranks`.
pub fn shape_in(ranks: std::ops::RangeInclusive<usize>) -> BoxedStrategy<Vec<usize>> {
    ranks
        .prop_flat_map(|r| proptest::collection::vec(dim(), r))
        .boxed()
}

/// A shape of rank 0–4, biased toward ranks 1–3.
pub fn shape() -> BoxedStrategy<Vec<usize>> {
    prop_oneof![1 => shape_in(0..=0), 3 => shape_in(1..=1), 4 => shape_in(2..=2), 3 => shape_in(3..=3), 2 => shape_in(4..=4)]
        .boxed()
}

/// `n` shapes that broadcast together: each is the common shape with some leading dims
/// dropped and some dims set to 1.
pub fn broadcast_shapes(n: usize) -> BoxedStrategy<Vec<Vec<usize>>> {
    shape()
        .prop_flat_map(move |full| {
            let r = full.len();
            let one = (
                prop_oneof![3 => Just(0usize), 1 => 0..=r],
                proptest::collection::vec(prop::bool::weighted(0.3), r),
            );
            proptest::collection::vec(one, n).prop_map(move |parts| {
                parts
                    .into_iter()
                    .map(|(drop, ones)| {
                        (drop.min(r)..r)
                            .map(|i| if ones[i] { 1 } else { full[i] })
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .boxed()
}

/// A shape that broadcasts to `target` (drops leading dims, sets some dims to 1).
pub fn broadcastable_to(target: Vec<usize>) -> BoxedStrategy<Vec<usize>> {
    let r = target.len();
    (
        prop_oneof![3 => Just(0usize), 1 => 0..=r],
        proptest::collection::vec(prop::bool::weighted(0.3), r),
    )
        .prop_map(move |(drop, ones)| {
            (drop..r)
                .map(|i| if ones[i] { 1 } else { target[i] })
                .collect()
        })
        .boxed()
}

/// Where values are drawn from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Domain {
    /// Floats in [-10, 10] with some 0, ±1, ±0.5; integers in [-50, 50] (U32: [0, 100]).
    Any,
    /// Floats in [0.01, 20]; integers in [1, 50].
    Positive,
    /// Floats with |x| in [0.25, 10]; integers without 0.
    NonZero,
    /// Floats in `[lo, hi)`.
    Range(f64, f64),
    /// Small integers in [-3, 3] (U32: [0, 6]) for any dtype: ties and exact sums.
    SmallInt,
    /// Integer indices in `0..n` (`n > 0`).
    Index(usize),
    /// Values that stress casts: NaN, ±inf, fractions, values past the integer ranges
    /// (floats); values past u32/i32 (I64, within ±2^53 so f64 holds them exactly).
    Extreme,
}

/// One value of `dtype` from `domain`, exactly representable in `dtype`.
pub fn value(dtype: DType, domain: Domain) -> BoxedStrategy<f64> {
    let round = move |x: f64| match dtype {
        DType::F32 => x as f32 as f64,
        DType::F16 => crate::f16::from_f64(x).to_f64(),
        DType::BF16 => crate::bf16::from_f64(x).to_f64(),
        DType::F64 | DType::I64 | DType::U32 | DType::Bool => x,
    };
    if !dtype.is_float() {
        let unsigned = dtype == DType::U32;
        return match domain {
            Domain::Index(n) => (0..n.max(1)).prop_map(|i| i as f64).boxed(),
            Domain::SmallInt if unsigned => (0i64..=6).prop_map(|i| i as f64).boxed(),
            Domain::SmallInt => (-3i64..=3).prop_map(|i| i as f64).boxed(),
            Domain::Positive => (1i64..=50).prop_map(|i| i as f64).boxed(),
            Domain::NonZero if unsigned => (1i64..=100).prop_map(|i| i as f64).boxed(),
            Domain::NonZero => prop_oneof![1i64..=50, -50i64..=-1]
                .prop_map(|i| i as f64)
                .boxed(),
            Domain::Range(lo, hi) => (lo.ceil() as i64..hi.ceil() as i64)
                .prop_map(|i| i as f64)
                .boxed(),
            Domain::Extreme if unsigned => prop_oneof![0u32..=10, any::<u32>()]
                .prop_map(|i| i as f64)
                .boxed(),
            Domain::Extreme => prop_oneof![-10i64..=10, -(1i64 << 53)..=(1i64 << 53)]
                .prop_map(|i| i as f64)
                .boxed(),
            Domain::Any if unsigned => (0i64..=100).prop_map(|i| i as f64).boxed(),
            Domain::Any => (-50i64..=50).prop_map(|i| i as f64).boxed(),
        };
    }
    let s: BoxedStrategy<f64> = match domain {
        Domain::Any => prop_oneof![
            8 => -10.0..10.0f64,
            1 => select(vec![0.0, 1.0, -1.0, 0.5, -0.5, 2.0]),
        ]
        .boxed(),
        Domain::Positive => {
            prop_oneof![8 => 0.01..20.0f64, 1 => select(vec![1.0, 0.5, 2.0])].boxed()
        }
        Domain::NonZero => prop_oneof![0.25..10.0f64, -10.0..-0.25f64].boxed(),
        Domain::Range(lo, hi) => (lo..hi).boxed(),
        Domain::SmallInt => (-3i64..=3).prop_map(|i| i as f64).boxed(),
        Domain::Index(n) => (0..n.max(1)).prop_map(|i| i as f64).boxed(),
        Domain::Extreme => prop_oneof![
            2 => -10.0..10.0f64,
            1 => -1e20..1e20f64,
            2 => select(vec![
                f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.5, -0.5, 2.7, -2.7, -1.0, 3e9, -3e9,
                4294967295.0, 4294967296.0, 1e19, -1e19, 1e-40, -0.0, 9.3e18,
            ]),
        ]
        .boxed(),
    };
    s.prop_map(round).boxed()
}

/// `n` values of `dtype` from `domain`.
pub fn values(dtype: DType, domain: Domain, n: usize) -> BoxedStrategy<Vec<f64>> {
    proptest::collection::vec(value(dtype, domain), n).boxed()
}

/// How a spec's tensor is laid out in memory; nested kinds describe the source tensor
/// the view is taken from.
#[derive(Clone, Debug, PartialEq)]
pub enum LayoutKind {
    /// A fresh row-major tensor.
    Contiguous,
    /// `source.permute(perm)`, the source holding the inverse-permuted values.
    Permuted {
        perm: Vec<usize>,
        inner: Box<LayoutKind>,
    },
    /// `source.narrow(dim, before, len)`, the source padded with a sentinel around it.
    Narrowed {
        dim: usize,
        before: usize,
        after: usize,
        inner: Box<LayoutKind>,
    },
    /// `source.select(-1, index)` of a source with an extra trailing dim of 2: every
    /// stride doubled, maybe an offset.
    Selected {
        index: usize,
        inner: Box<LayoutKind>,
    },
    /// `source.expand(shape)` of a source of shape `base` (size 1 or absent where the
    /// target is expanded): stride-0 dims.
    Expanded {
        base: Vec<usize>,
        inner: Box<LayoutKind>,
    },
}

impl LayoutKind {
    /// True for anything but a plain fresh tensor.
    pub fn is_view(&self) -> bool {
        !matches!(self, LayoutKind::Contiguous)
    }

    /// True when some level is `Expanded` (stride 0: elements alias each other).
    pub fn has_expand(&self) -> bool {
        match self {
            LayoutKind::Contiguous => false,
            LayoutKind::Expanded { .. } => true,
            LayoutKind::Permuted { inner, .. }
            | LayoutKind::Narrowed { inner, .. }
            | LayoutKind::Selected { inner, .. } => inner.has_expand(),
        }
    }
}

/// A layout kind for a tensor of `shape`, nesting at most `depth` views; `expand`
/// allows an `Expanded` at the top level (its values come from the smaller base).
pub fn layout_kind(shape: Vec<usize>, depth: u32, expand: bool) -> BoxedStrategy<LayoutKind> {
    if depth == 0 {
        return Just(LayoutKind::Contiguous).boxed();
    }
    let rank = shape.len();
    let mut options: Vec<(u32, BoxedStrategy<LayoutKind>)> =
        vec![(4, Just(LayoutKind::Contiguous).boxed())];
    if rank >= 2 {
        let s = shape.clone();
        options.push((
            3,
            Just((0..rank).collect::<Vec<usize>>())
                .prop_shuffle()
                .prop_flat_map(move |perm| {
                    let src: Vec<usize> = inverse_perm(&perm).iter().map(|&p| s[p]).collect();
                    layout_kind(src, depth - 1, false).prop_map(move |inner| LayoutKind::Permuted {
                        perm: perm.clone(),
                        inner: Box::new(inner),
                    })
                })
                .boxed(),
        ));
    }
    if rank >= 1 {
        let s = shape.clone();
        options.push((
            3,
            (0..rank, 0..=2usize, 0..=2usize)
                .prop_flat_map(move |(dim, before, after)| {
                    let mut src = s.clone();
                    src[dim] += before + after;
                    layout_kind(src, depth - 1, false).prop_map(move |inner| LayoutKind::Narrowed {
                        dim,
                        before,
                        after,
                        inner: Box::new(inner),
                    })
                })
                .boxed(),
        ));
    }
    {
        let s = shape.clone();
        options.push((
            2,
            (0..2usize)
                .prop_flat_map(move |index| {
                    let mut src = s.clone();
                    src.push(2);
                    layout_kind(src, depth - 1, false).prop_map(move |inner| LayoutKind::Selected {
                        index,
                        inner: Box::new(inner),
                    })
                })
                .boxed(),
        ));
    }
    if expand && rank >= 1 {
        let s = shape.clone();
        options.push((
            2,
            (
                prop_oneof![3 => Just(0usize), 1 => 0..=rank],
                proptest::collection::vec(prop::bool::weighted(0.5), rank),
            )
                .prop_flat_map(move |(lead, ones)| {
                    let base: Vec<usize> = (lead..rank)
                        .map(|i| if ones[i] { 1 } else { s[i] })
                        .collect();
                    layout_kind(base.clone(), depth - 1, false).prop_map(move |inner| {
                        LayoutKind::Expanded {
                            base: base.clone(),
                            inner: Box::new(inner),
                        }
                    })
                })
                .boxed(),
        ));
    }
    Union::new_weighted(options).boxed()
}

/// A tensor described as plain data: logical shape, dtype, layout and values.
#[derive(Clone, Debug)]
pub struct TensorSpec {
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub layout: LayoutKind,
    /// Row-major values of `shape`, or of the base shape when `layout` is `Expanded`.
    pub data: Vec<f64>,
}

/// The padding value of narrowed/selected sources: NaN for floats, a large number for
/// integers, so a kernel reading outside its view shows up in the result.
pub fn sentinel(dtype: DType) -> f64 {
    if dtype.is_float() {
        f64::NAN
    } else {
        999_999.0
    }
}

impl TensorSpec {
    /// A contiguous spec from values.
    pub fn contiguous(shape: Vec<usize>, dtype: DType, data: Vec<f64>) -> Self {
        TensorSpec {
            shape,
            dtype,
            layout: LayoutKind::Contiguous,
            data,
        }
    }

    /// The logical values as a reference tensor.
    pub fn reference(&self) -> RefTensor {
        match &self.layout {
            LayoutKind::Expanded { base, .. } => RefTensor::new(base.clone(), self.data.clone())
                .broadcast_to(&self.shape)
                .expect("an expanded spec's base broadcasts to its shape"),
            _ => RefTensor::new(self.shape.clone(), self.data.clone()),
        }
    }

    /// The tensor on `dev`, laid out as `layout` says.
    pub fn build(&self, dev: &Device) -> Result<Tensor> {
        match &self.layout {
            LayoutKind::Expanded { base, inner } => {
                let b = RefTensor::new(base.clone(), self.data.clone());
                build_kind(&b, self.dtype, inner, dev)?.expand(self.shape.clone())
            }
            kind => build_kind(&self.reference(), self.dtype, kind, dev),
        }
    }
}

/// Builds the logical values `r` with layout `kind`.
pub fn build_kind(r: &RefTensor, dtype: DType, kind: &LayoutKind, dev: &Device) -> Result<Tensor> {
    match kind {
        LayoutKind::Contiguous => {
            Tensor::from_host(HostData::from_f64_vec(&r.data, dtype), r.shape.clone(), dev)
        }
        LayoutKind::Permuted { perm, inner } => {
            let src = r.permute(&inverse_perm(perm));
            build_kind(&src, dtype, inner, dev)?.permute(perm.clone())
        }
        LayoutKind::Narrowed {
            dim,
            before,
            after,
            inner,
        } => {
            let src = r.pad(*dim, *before, *after, sentinel(dtype));
            build_kind(&src, dtype, inner, dev)?.narrow(*dim as isize, *before, r.shape[*dim])
        }
        LayoutKind::Selected { index, inner } => {
            let mut shape = r.shape.clone();
            shape.push(2);
            let src = RefTensor::from_fn(shape, |idx| {
                let (last, rest) = idx.split_last().expect("rank >= 1");
                if *last == *index {
                    r.at(rest)
                } else {
                    sentinel(dtype)
                }
            });
            build_kind(&src, dtype, inner, dev)?.select(-1, *index)
        }
        LayoutKind::Expanded { base, inner } => {
            // Nested expands are never drawn; support them for hand-written specs anyway by
            // taking the base values at index 0 of each expanded dim.
            let lead = r.rank() - base.len();
            let b = RefTensor::from_fn(base.clone(), |idx| {
                let mut src = vec![0; lead];
                src.extend(
                    idx.iter()
                        .zip(&r.shape[lead..])
                        .map(|(&i, &d)| if d == 1 { 0 } else { i }),
                );
                r.at(&src)
            });
            build_kind(&b, dtype, inner, dev)?.expand(r.shape.clone())
        }
    }
}

/// A spec of `shape` and `dtype` with values from `domain`, in any layout.
pub fn tensor(shape: Vec<usize>, dtype: DType, domain: Domain) -> BoxedStrategy<TensorSpec> {
    tensor_with(shape, dtype, domain, true)
}

/// Like `tensor`; `expand = false` never draws stride-0 (aliasing) layouts, for
/// in-place ops.
pub fn tensor_with(
    shape: Vec<usize>,
    dtype: DType,
    domain: Domain,
    expand: bool,
) -> BoxedStrategy<TensorSpec> {
    layout_kind(shape.clone(), 2, expand)
        .prop_flat_map(move |layout| {
            let n = match &layout {
                LayoutKind::Expanded { base, .. } => numel(base),
                _ => numel(&shape),
            };
            let shape = shape.clone();
            values(dtype, domain, n).prop_map(move |data| TensorSpec {
                shape: shape.clone(),
                dtype,
                layout: layout.clone(),
                data,
            })
        })
        .boxed()
}

/// A spec of a random shape with a dtype from `dtypes`.
pub fn any_tensor(dtypes: BoxedStrategy<DType>, domain: Domain) -> BoxedStrategy<TensorSpec> {
    (shape(), dtypes)
        .prop_flat_map(move |(s, d)| tensor(s, d, domain))
        .boxed()
}

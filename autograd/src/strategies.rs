//! proptest strategies for property-testing differentiable ops with [`gradcheck`]:
//! shapes of rank 0–4 with size-1 dims, broadcast-compatible shape pairs, values (kept
//! away from an op's kinks where it needs it) and tensors laid out contiguously or as
//! non-contiguous views (transposed, narrowed, permuted, expanded) of the same values.
//!
//! A strategy yields a [`TensorSpec`], a plain description that proptest can shrink and
//! print; [`TensorSpec::build`] makes the tensor on a device.
//!
//! [`gradcheck`]: crate::gradcheck

use proptest::prelude::*;

use lamina_tensor::{DType, Device, Result, Tensor};

/// How a tensor's logical elements are laid out in its storage.
#[derive(Clone, Debug, PartialEq)]
pub enum View {
    Contiguous,
    /// Stored with dims `a` and `b` swapped, viewed back through `transpose(a, b)`.
    Transposed(usize, usize),
    /// A `narrow` of a larger tensor: `before` and `after` extra elements along `dim`.
    Narrowed {
        dim: usize,
        before: usize,
        after: usize,
    },
    /// Stored permuted by `perm`, viewed back through the inverse permutation.
    Permuted(Vec<usize>),
    /// `expand` of a tensor whose dims in `from` are 1 (values repeat along them).
    Expanded {
        from: Vec<usize>,
    },
}

/// A tensor to build: logical shape, row-major values, layout.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
    pub view: View,
}

impl TensorSpec {
    /// The tensor (f64) with these values in this layout.
    pub fn build(&self, dev: &Device) -> Result<Tensor> {
        self.build_as(DType::F64, dev)
    }

    /// The tensor in `dtype`.
    pub fn build_as(&self, dtype: DType, dev: &Device) -> Result<Tensor> {
        let plain =
            Tensor::from_vec(self.values.clone(), self.shape.clone(), dev)?.to_dtype(dtype)?;
        match &self.view {
            View::Contiguous => Ok(plain),
            View::Transposed(a, b) => {
                let (a, b) = (*a as isize, *b as isize);
                plain.transpose(a, b)?.copy()?.transpose(a, b)
            }
            View::Permuted(perm) => {
                let mut inv = vec![0usize; perm.len()];
                for (i, &p) in perm.iter().enumerate() {
                    inv[p] = i;
                }
                plain.permute(perm.clone())?.copy()?.permute(inv)
            }
            View::Narrowed { dim, before, after } => {
                let pad = |n: usize| -> Result<Tensor> {
                    let mut d = self.shape.clone();
                    d[*dim] = n;
                    Tensor::full(7.5, d, dtype, dev)
                };
                let big = Tensor::cat(&[&pad(*before)?, &plain, &pad(*after)?], *dim as isize)?;
                big.narrow(*dim as isize, *before, self.shape[*dim])
            }
            View::Expanded { from } => {
                // Take the values at index 0 along the expanded dims, then expand back.
                let mut small = plain.clone();
                for &d in from {
                    small = small.narrow(d as isize, 0, 1)?;
                }
                small.copy()?.expand(self.shape.clone())
            }
        }
    }

    /// The values the built tensor actually holds (row-major; differs from `values` for
    /// `Expanded`, which repeats the first slice).
    pub fn logical_values(&self, dev: &Device) -> Result<Vec<f64>> {
        self.build(dev)?.to_vec::<f64>()
    }
}

/// Shapes of rank in `rank`, each dim in `1..=max_dim` (size-1 dims included), at most
/// `max_elems` elements.
pub fn shape(
    rank: std::ops::RangeInclusive<usize>,
    max_dim: usize,
    max_elems: usize,
) -> impl Strategy<Value = Vec<usize>> {
    rank.prop_flat_map(move |r| proptest::collection::vec(1..=max_dim, r))
        .prop_filter("too many elements", move |s| {
            s.iter().product::<usize>() <= max_elems
        })
}

/// Two shapes that broadcast together: the second drops some leading dims and either side
/// may have 1s where the other has the full extent.
pub fn broadcast_pair(
    max_rank: usize,
    max_dim: usize,
) -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    shape(0..=max_rank, max_dim, 64).prop_flat_map(|full| {
        let r = full.len();
        (
            Just(full),
            proptest::collection::vec(0u8..3, r),
            proptest::collection::vec(0u8..3, r),
            0..=r,
            any::<bool>(),
        )
            .prop_map(|(full, ma, mb, drop, swap)| {
                let a: Vec<usize> = full
                    .iter()
                    .zip(&ma)
                    .map(|(&d, &m)| if m == 0 { 1 } else { d })
                    .collect();
                let b: Vec<usize> = full
                    .iter()
                    .zip(&mb)
                    .skip(drop)
                    .map(|(&d, &m)| if m == 0 { 1 } else { d })
                    .collect();
                if swap {
                    (b, a)
                } else {
                    (a, b)
                }
            })
    })
}

/// A layout for a tensor of `shape`.
pub fn view(shape: Vec<usize>) -> impl Strategy<Value = View> {
    let r = shape.len();
    let mut options: Vec<BoxedStrategy<View>> = vec![Just(View::Contiguous).boxed()];
    if r >= 2 {
        options.push(
            (0..r, 0..r)
                .prop_filter("distinct", |(a, b)| a != b)
                .prop_map(|(a, b)| View::Transposed(a, b))
                .boxed(),
        );
        options.push(
            Just((0..r).collect::<Vec<usize>>())
                .prop_shuffle()
                .prop_map(View::Permuted)
                .boxed(),
        );
    }
    if r >= 1 {
        options.push(
            (0..r, 0usize..3, 0usize..3)
                .prop_map(|(dim, before, after)| View::Narrowed { dim, before, after })
                .boxed(),
        );
        let s = shape.clone();
        options.push(
            proptest::collection::vec(any::<bool>(), r)
                .prop_map(move |m| View::Expanded {
                    from: (0..s.len()).filter(|&d| m[d] && s[d] > 1).collect(),
                })
                .boxed(),
        );
    }
    proptest::strategy::Union::new(options)
}

/// A tensor of exactly `shape` with values in `lo..hi` and any layout.
pub fn tensor_of(shape: Vec<usize>, lo: f64, hi: f64) -> impl Strategy<Value = TensorSpec> {
    let n = shape.iter().product::<usize>();
    (proptest::collection::vec(lo..hi, n), view(shape.clone())).prop_map(move |(values, view)| {
        TensorSpec {
            shape: shape.clone(),
            values,
            view,
        }
    })
}

/// A tensor of random shape (rank 0–4, dims ≤ 4, ≤ 64 elements), values in `lo..hi`.
pub fn tensor(lo: f64, hi: f64) -> impl Strategy<Value = TensorSpec> {
    shape(0..=4, 4, 64).prop_flat_map(move |s| tensor_of(s, lo, hi))
}

/// Like [`tensor`], with every value at least `margin` away from each of `kinks` (for
/// ops whose derivative jumps there: relu at 0, clamp at its bounds).
pub fn tensor_away_from(
    lo: f64,
    hi: f64,
    kinks: Vec<f64>,
    margin: f64,
) -> impl Strategy<Value = TensorSpec> {
    tensor(lo, hi).prop_map(move |mut t| {
        for v in &mut t.values {
            for &k in &kinks {
                if (*v - k).abs() < margin {
                    *v = if *v >= k { k + margin } else { k - margin };
                }
            }
        }
        t
    })
}

/// Two tensors of broadcast-compatible shapes.
pub fn broadcast_tensors(lo: f64, hi: f64) -> impl Strategy<Value = (TensorSpec, TensorSpec)> {
    broadcast_pair(4, 3).prop_flat_map(move |(a, b)| (tensor_of(a, lo, hi), tensor_of(b, lo, hi)))
}

//! Basic indexing as in NumPy and PyTorch, `x.i((.., 2, 1..3))`: a tuple of items, each an
//! integer (selects and drops the dim; negative counts from the end), a range of any
//! integer type (`1..3`, `..-1`, `2..`, `..=4`, `..`; clamped to the dim like Python
//! slices), [`Step`] for strided ranges (`Step(0..10, 2)`), [`NewAxis`] (inserts a dim of
//! size 1) or [`Ellipsis`] (all remaining dims). The result is a view, and its gradient
//! flows back to the indexed elements.
//!
//! ```
//! # use lamina_tensor::{DType, Tensor, NewAxis, Step};
//! # fn demo(dev: &lamina_tensor::Device) -> lamina_tensor::Result<()> {
//! let x = Tensor::arange(0.0, 24.0, 1.0, DType::F32, dev)?.reshape([2, 3, 4])?;
//! assert_eq!(x.i((.., 2, 1..3))?.dims(), &[2, 2]);
//! assert_eq!(x.i((-1, NewAxis, Step(.., 2)))?.dims(), &[1, 2, 4]);
//! assert_eq!(x.i(0)?.i((.., -1))?.to_vec::<f32>()?, vec![3.0, 7.0, 11.0]);
//! # Ok(()) }
//! ```

use std::ops::{Range, RangeFrom, RangeFull, RangeInclusive, RangeTo, RangeToInclusive};

use crate::{Error, Result, Tensor};

/// Inserts a dim of size 1 (NumPy's `None` / `np.newaxis`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewAxis;

/// Stands for every dim not named by the other items (NumPy's `...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ellipsis;

/// A range taken every `step`-th element (`Step(1..7, 2)` is Python's `1:7:2`); the step
/// must be positive, as in PyTorch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step<R>(pub R, pub usize);

/// One resolved index item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexItem {
    Select(i64),
    Slice {
        start: Option<i64>,
        end: Option<i64>,
        step: usize,
    },
    NewAxis,
    Ellipsis,
}

/// What can stand in an index tuple.
pub trait IntoIndexItem {
    fn into_item(self) -> IndexItem;
}

/// What `Tensor::i` takes: one item or a tuple of items.
pub trait IndexArg {
    fn items(self) -> Vec<IndexItem>;
}

macro_rules! int_items {
    ($($t:ty),*) => {$(
        impl IntoIndexItem for $t {
            fn into_item(self) -> IndexItem {
                IndexItem::Select(self as i64)
            }
        }
        impl IntoIndexItem for Range<$t> {
            fn into_item(self) -> IndexItem {
                IndexItem::Slice { start: Some(self.start as i64), end: Some(self.end as i64), step: 1 }
            }
        }
        impl IntoIndexItem for RangeFrom<$t> {
            fn into_item(self) -> IndexItem {
                IndexItem::Slice { start: Some(self.start as i64), end: None, step: 1 }
            }
        }
        impl IntoIndexItem for RangeTo<$t> {
            fn into_item(self) -> IndexItem {
                IndexItem::Slice { start: None, end: Some(self.end as i64), step: 1 }
            }
        }
        impl IntoIndexItem for RangeInclusive<$t> {
            fn into_item(self) -> IndexItem {
                let end = *self.end() as i64;
                // `..=-1` runs to the end (Python has no inclusive form; this is its meaning).
                let end = if end == -1 { None } else { Some(end + 1) };
                IndexItem::Slice { start: Some(*self.start() as i64), end, step: 1 }
            }
        }
        impl IntoIndexItem for RangeToInclusive<$t> {
            fn into_item(self) -> IndexItem {
                let end = self.end as i64;
                let end = if end == -1 { None } else { Some(end + 1) };
                IndexItem::Slice { start: None, end, step: 1 }
            }
        }
        impl_index_arg!($t, Range<$t>, RangeFrom<$t>, RangeTo<$t>, RangeInclusive<$t>, RangeToInclusive<$t>);
    )*};
}

macro_rules! impl_index_arg {
    ($($t:ty),*) => {$(
        impl IndexArg for $t {
            fn items(self) -> Vec<IndexItem> {
                vec![self.into_item()]
            }
        }
    )*};
}

int_items!(usize, isize, i32, i64);

impl IntoIndexItem for RangeFull {
    fn into_item(self) -> IndexItem {
        IndexItem::Slice {
            start: None,
            end: None,
            step: 1,
        }
    }
}
impl IntoIndexItem for NewAxis {
    fn into_item(self) -> IndexItem {
        IndexItem::NewAxis
    }
}
impl IntoIndexItem for Ellipsis {
    fn into_item(self) -> IndexItem {
        IndexItem::Ellipsis
    }
}
impl<R: IntoIndexItem> IntoIndexItem for Step<R> {
    fn into_item(self) -> IndexItem {
        match self.0.into_item() {
            IndexItem::Slice { start, end, .. } => IndexItem::Slice {
                start,
                end,
                step: self.1,
            },
            // A step on a single index has no meaning; `i` reports the zero step if any.
            other => other,
        }
    }
}
impl_index_arg!(RangeFull, NewAxis, Ellipsis);
impl<R: IntoIndexItem> IndexArg for Step<R> {
    fn items(self) -> Vec<IndexItem> {
        vec![self.into_item()]
    }
}

macro_rules! tuple_index_arg {
    ($(($($T:ident),+)),*) => {$(
        impl<$($T: IntoIndexItem),+> IndexArg for ($($T,)+) {
            #[allow(non_snake_case)]
            fn items(self) -> Vec<IndexItem> {
                let ($($T,)+) = self;
                vec![$($T.into_item()),+]
            }
        }
    )*};
}
tuple_index_arg!(
    (A),
    (A, B),
    (A, B, C),
    (A, B, C, D),
    (A, B, C, D, E),
    (A, B, C, D, E, F)
);

impl Tensor {
    /// Basic indexing: `x.i((.., 2, 1..3))` (see the module docs). A view.
    pub fn i(&self, index: impl IndexArg) -> Result<Tensor> {
        const OP: &str = "index";
        let items = index.items();
        let ellipses = items.iter().filter(|&&i| i == IndexItem::Ellipsis).count();
        let consuming = items
            .iter()
            .filter(|i| matches!(i, IndexItem::Select(_) | IndexItem::Slice { .. }))
            .count();
        if ellipses > 1 || consuming > self.rank() {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "{} indices (with {ellipses} ellipses) for a tensor of shape {}",
                    consuming,
                    self.shape()
                ),
            });
        }
        let mut out = self.clone();
        // The dim of `out` the next item applies to.
        let mut d = 0usize;
        for item in items {
            match item {
                IndexItem::Ellipsis => d += self.rank() - consuming,
                IndexItem::NewAxis => {
                    out = out.unsqueeze(d as isize)?;
                    d += 1;
                }
                IndexItem::Select(i) => {
                    let n = out.dims()[d] as i64;
                    let at = if i < 0 { i + n } else { i };
                    if at < 0 || at >= n {
                        return Err(Error::IndexOutOfBounds {
                            op: OP,
                            index: i,
                            dim: d,
                            size: n as usize,
                        });
                    }
                    out = out.select(d as isize, at as usize)?;
                }
                IndexItem::Slice { start, end, step } => {
                    if step == 0 {
                        return Err(Error::Invalid {
                            op: OP,
                            msg: format!("slice step must be positive, got 0 at dim {d}"),
                        });
                    }
                    let n = out.dims()[d] as i64;
                    // Python's clamping: negative counts from the end, out of range clamps.
                    let clamp = |v: i64| (if v < 0 { v + n } else { v }).clamp(0, n);
                    let s = start.map_or(0, clamp);
                    let e = end.map_or(n, clamp);
                    let len = if e > s {
                        (e - s - 1) as usize / step + 1
                    } else {
                        0
                    };
                    let start = if len == 0 { 0 } else { s as usize };
                    out = out.narrow_step(d as isize, start, len, step)?;
                    d += 1;
                }
            }
        }
        Ok(out)
    }
}

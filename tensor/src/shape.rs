//! `Shape`: the extents of a tensor, with PyTorch's broadcasting rule and the argument
//! forms users write (`[2, 3]`, `&[2usize, 3]`, `[2, -1]` for reshape).

use std::fmt;

use smallvec::SmallVec;

use crate::{Error, Result};

/// Dims or strides, stored inline up to rank 4: creating a tensor's shape and layout
/// allocates nothing, which is most of the per-op overhead of a tiny op.
pub type DimVec = SmallVec<[usize; 4]>;

/// Collects with plain pushes: for the one to four dims of a shape, SmallVec's generic
/// `extend` (what `collect` uses) costs several times more, on every op.
pub(crate) fn push_all<A: smallvec::Array>(items: impl Iterator<Item = A::Item>) -> SmallVec<A> {
    let mut out = SmallVec::new();
    for x in items {
        out.push(x);
    }
    out
}

/// Signed dims as users write them (`-1` to infer, negative axes), inline up to rank 4.
pub type SignedDims = SmallVec<[isize; 4]>;

/// The extent of each dimension, outermost first. Rank 0 is a scalar.
#[derive(PartialEq, Eq, Hash, Default)]
pub struct Shape(DimVec);

// SmallVec's own `clone` goes through a generic `extend`; a slice copy is several times
// cheaper, and shapes are cloned on every op.
impl Clone for Shape {
    #[inline]
    fn clone(&self) -> Self {
        Shape(DimVec::from_slice(&self.0))
    }
}

impl Shape {
    pub fn new(dims: Vec<usize>) -> Self {
        Shape(DimVec::from_vec(dims))
    }

    /// A shape from a slice of extents.
    pub fn from_dims(dims: &[usize]) -> Self {
        Shape(DimVec::from_slice(dims))
    }

    pub fn scalar() -> Self {
        Shape(DimVec::new())
    }

    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of elements (1 for a scalar, 0 if any extent is 0).
    pub fn elem_count(&self) -> usize {
        self.0.iter().product()
    }

    /// The element count, `None` when it overflows (a dim of 0 makes it 0 whatever the
    /// others are).
    pub(crate) fn checked_elem_count(&self) -> Option<usize> {
        if self.0.contains(&0) {
            return Some(0);
        }
        self.0.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
    }

    /// The element count of a tensor of this shape with `bytes`-byte elements, or an
    /// error when the byte size overflows `isize` (PyTorch: "Storage size calculation
    /// overflowed"). `bytes = 1` checks the count alone, for a view.
    pub(crate) fn checked_size(&self, bytes: usize, op: &'static str) -> Result<usize> {
        self.checked_elem_count()
            .filter(|&n| {
                n.checked_mul(bytes)
                    .is_some_and(|b| b <= isize::MAX as usize)
            })
            .ok_or_else(|| Error::Invalid {
                op,
                msg: format!("a tensor of shape {self} is too large: its size overflows"),
            })
    }

    /// Row-major (C-order) strides in elements.
    pub fn contiguous_strides(&self) -> DimVec {
        let mut strides: DimVec = smallvec::smallvec![0; self.0.len()];
        let mut acc = 1;
        for (s, &d) in strides.iter_mut().zip(&self.0).rev() {
            *s = acc;
            acc *= d.max(1);
        }
        strides
    }

    /// Resolves a possibly negative dimension index (`-1` is the last) against this rank.
    pub fn dim(&self, d: isize, op: &'static str) -> Result<usize> {
        resolve_dim(d, self.rank(), op)
    }

    /// PyTorch/NumPy broadcasting: align trailing dimensions; each pair must be equal or
    /// one of them 1.
    pub fn broadcast(&self, other: &Shape, op: &'static str) -> Result<Shape> {
        if self == other {
            return Ok(self.clone());
        }
        let rank = self.rank().max(other.rank());
        let mut out: DimVec = smallvec::smallvec![0; rank];
        for (i, o) in out.iter_mut().enumerate() {
            let a = dim_from_right(&self.0, rank - 1 - i);
            let b = dim_from_right(&other.0, rank - 1 - i);
            *o = match (a, b) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => {
                    return Err(Error::Broadcast {
                        op,
                        lhs: self.clone(),
                        rhs: other.clone(),
                    })
                }
            };
        }
        Ok(Shape(out))
    }
}

fn dim_from_right(dims: &[usize], from_right: usize) -> usize {
    if from_right < dims.len() {
        dims[dims.len() - 1 - from_right]
    } else {
        1
    }
}

/// Resolves a possibly negative dimension index against `rank`.
pub fn resolve_dim(d: isize, rank: usize, op: &'static str) -> Result<usize> {
    let r = rank as isize;
    let idx = if d < 0 { d + r } else { d };
    if idx < 0 || idx >= r {
        return Err(Error::DimOutOfRange { op, dim: d, rank });
    }
    Ok(idx as usize)
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

impl From<Vec<usize>> for Shape {
    fn from(v: Vec<usize>) -> Self {
        Shape::new(v)
    }
}
impl From<&[usize]> for Shape {
    fn from(v: &[usize]) -> Self {
        Shape::from_dims(v)
    }
}
impl From<&Vec<usize>> for Shape {
    fn from(v: &Vec<usize>) -> Self {
        Shape::from_dims(v)
    }
}
impl<const N: usize> From<[usize; N]> for Shape {
    fn from(v: [usize; N]) -> Self {
        Shape::from_dims(&v)
    }
}
impl<const N: usize> From<&[usize; N]> for Shape {
    fn from(v: &[usize; N]) -> Self {
        Shape::from_dims(v)
    }
}
impl From<DimVec> for Shape {
    fn from(v: DimVec) -> Self {
        Shape(v)
    }
}
impl From<&Shape> for Shape {
    fn from(s: &Shape) -> Self {
        s.clone()
    }
}
impl From<()> for Shape {
    fn from(_: ()) -> Self {
        Shape::scalar()
    }
}
impl From<usize> for Shape {
    fn from(d: usize) -> Self {
        Shape::from_dims(&[d])
    }
}

/// A shape argument that may contain one `-1` to infer (`reshape`, `view`, `expand`).
pub trait ShapeArg {
    fn to_isize_dims(&self) -> SignedDims;
}

impl ShapeArg for Shape {
    fn to_isize_dims(&self) -> SignedDims {
        push_all(self.0.iter().map(|&d| d as isize))
    }
}
impl ShapeArg for &Shape {
    fn to_isize_dims(&self) -> SignedDims {
        push_all(self.0.iter().map(|&d| d as isize))
    }
}
impl ShapeArg for () {
    fn to_isize_dims(&self) -> SignedDims {
        SignedDims::new()
    }
}
macro_rules! shape_arg {
    ($($t:ty),*) => {$(
        impl<const N: usize> ShapeArg for [$t; N] {
            fn to_isize_dims(&self) -> SignedDims { push_all(self.iter().map(|&d| d as isize)) }
        }
        impl<const N: usize> ShapeArg for &[$t; N] {
            fn to_isize_dims(&self) -> SignedDims { push_all(self.iter().map(|&d| d as isize)) }
        }
        impl ShapeArg for &[$t] {
            fn to_isize_dims(&self) -> SignedDims { push_all(self.iter().map(|&d| d as isize)) }
        }
        impl ShapeArg for Vec<$t> {
            fn to_isize_dims(&self) -> SignedDims { push_all(self.iter().map(|&d| d as isize)) }
        }
        impl ShapeArg for &Vec<$t> {
            fn to_isize_dims(&self) -> SignedDims { push_all(self.iter().map(|&d| d as isize)) }
        }
    )*};
}
shape_arg!(usize, isize, i32, i64);

/// A set of dimensions for reductions and `permute`: one index or several, negative
/// indices counting from the end.
pub trait Dims {
    fn to_dims(&self) -> SignedDims;
}
macro_rules! dims_impl {
    ($($t:ty),*) => {$(
        impl Dims for $t {
            fn to_dims(&self) -> SignedDims { smallvec::smallvec![*self as isize] }
        }
        impl<const N: usize> Dims for [$t; N] {
            fn to_dims(&self) -> SignedDims { push_all(self.iter().map(|&d| d as isize)) }
        }
        impl<const N: usize> Dims for &[$t; N] {
            fn to_dims(&self) -> SignedDims { push_all(self.iter().map(|&d| d as isize)) }
        }
        impl Dims for &[$t] {
            fn to_dims(&self) -> SignedDims { push_all(self.iter().map(|&d| d as isize)) }
        }
        impl Dims for Vec<$t> {
            fn to_dims(&self) -> SignedDims { push_all(self.iter().map(|&d| d as isize)) }
        }
        impl Dims for &Vec<$t> {
            fn to_dims(&self) -> SignedDims { push_all(self.iter().map(|&d| d as isize)) }
        }
    )*};
}
dims_impl!(usize, isize, i32, i64);

/// Resolves and de-duplicates a dimension set; `op` names the caller in errors.
pub fn resolve_dims(dims: &[isize], rank: usize, op: &'static str) -> Result<DimVec> {
    let mut out = DimVec::with_capacity(dims.len());
    for &d in dims {
        let r = resolve_dim(d, rank, op)?;
        if out.contains(&r) {
            return Err(Error::Invalid {
                op,
                msg: format!("dimension {d} appears more than once"),
            });
        }
        out.push(r);
    }
    Ok(out)
}

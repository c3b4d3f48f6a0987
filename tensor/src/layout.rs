//! `Layout`: how a tensor's logical elements map into its storage (shape, strides,
//! offset). Every view op is arithmetic here, O(1) in the data; backends receive layouts
//! and never see the view that made them.

use crate::shape::{resolve_dim, DimVec};
use crate::{Error, Result, Shape};

/// Shape, strides (in elements, may be 0 for broadcast dims) and start offset.
#[derive(Debug, PartialEq, Eq)]
pub struct Layout {
    shape: Shape,
    strides: DimVec,
    offset: usize,
}

// A slice copy rather than SmallVec's generic `extend` (see `Shape`'s `Clone`).
impl Clone for Layout {
    #[inline]
    fn clone(&self) -> Self {
        Layout {
            shape: self.shape.clone(),
            strides: DimVec::from_slice(&self.strides),
            offset: self.offset,
        }
    }
}

impl Layout {
    /// A row-major layout starting at 0.
    pub fn contiguous(shape: impl Into<Shape>) -> Self {
        let shape = shape.into();
        let strides = shape.contiguous_strides();
        Layout {
            shape,
            strides,
            offset: 0,
        }
    }

    /// A layout from raw parts; the caller guarantees every index stays in its storage.
    pub fn new(shape: Shape, strides: Vec<usize>, offset: usize) -> Self {
        let strides = DimVec::from_vec(strides);
        debug_assert_eq!(shape.rank(), strides.len());
        Layout {
            shape,
            strides,
            offset,
        }
    }

    pub fn shape(&self) -> &Shape {
        &self.shape
    }
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }
    pub fn offset(&self) -> usize {
        self.offset
    }
    pub fn rank(&self) -> usize {
        self.shape.rank()
    }
    pub fn elem_count(&self) -> usize {
        self.shape.elem_count()
    }

    /// True when the elements are row-major and dense (size-1 dims may have any stride;
    /// an empty layout is contiguous).
    pub fn is_contiguous(&self) -> bool {
        self.dense_len().is_some()
    }

    /// The element count when the layout is contiguous (or empty), in one pass over the
    /// dims: the per-op fast paths ask this of every operand.
    #[inline]
    fn dense_len(&self) -> Option<usize> {
        let mut expected = 1;
        let mut dense = true;
        for (&d, &s) in self.shape.dims().iter().zip(&self.strides).rev() {
            dense &= d == 1 || s == expected;
            expected *= d;
        }
        // An empty layout is contiguous whatever its strides.
        (dense || expected == 0).then_some(expected)
    }

    /// `Some(start..end)` of storage when contiguous: the kernels' fast path.
    /// An empty layout gives `0..0`: its offset may point past the storage (a `select` of
    /// an empty tensor), and it reads nothing.
    pub fn contiguous_range(&self) -> Option<std::ops::Range<usize>> {
        match self.dense_len()? {
            0 => Some(0..0),
            n => Some(self.offset..self.offset + n),
        }
    }

    /// The largest storage index this layout touches, plus one (0 when empty).
    pub fn storage_extent(&self) -> usize {
        if self.elem_count() == 0 {
            return 0;
        }
        self.offset
            + self
                .shape
                .dims()
                .iter()
                .zip(&self.strides)
                .map(|(&d, &s)| (d - 1) * s)
                .sum::<usize>()
            + 1
    }

    /// Offsets of every logical element in row-major order.
    pub fn offsets(&self) -> StridedOffsets<'_> {
        StridedOffsets::new(self)
    }

    /// Calls `f(start, len, stride)` for each run of the innermost dimension: the shared
    /// strided fallback of every kernel. Dimensions that merge (dense in each other) are
    /// merged first, so a transposed matrix costs one call per column, not per element.
    pub fn for_each_run(&self, mut f: impl FnMut(usize, usize, usize)) {
        let n = self.elem_count();
        if n == 0 {
            return;
        }
        let (dims, strides) = self.merged();
        let rank = dims.len();
        if rank == 0 {
            f(self.offset, 1, 1);
            return;
        }
        let inner = dims[rank - 1];
        let inner_stride = strides[rank - 1];
        let outer = &dims[..rank - 1];
        let mut idx = vec![0usize; outer.len()];
        let mut off = self.offset;
        loop {
            f(off, inner, inner_stride);
            // Increment the outer multi-index like an odometer.
            let mut k = outer.len();
            loop {
                if k == 0 {
                    return;
                }
                k -= 1;
                idx[k] += 1;
                off += strides[k];
                if idx[k] < outer[k] {
                    break;
                }
                off -= strides[k] * outer[k];
                idx[k] = 0;
            }
        }
    }

    /// Dims and strides with size-1 dims dropped and mergeable neighbours fused.
    pub fn merged(&self) -> (Vec<usize>, Vec<usize>) {
        let mut dims: Vec<usize> = Vec::with_capacity(self.rank());
        let mut strides: Vec<usize> = Vec::with_capacity(self.rank());
        for (&d, &s) in self.shape.dims().iter().zip(&self.strides) {
            if d == 1 {
                continue;
            }
            if let (Some(ld), Some(ls)) = (dims.last_mut(), strides.last_mut()) {
                if *ls == s * d {
                    *ld *= d;
                    *ls = s;
                    continue;
                }
            }
            dims.push(d);
            strides.push(s);
        }
        (dims, strides)
    }

    // ---- views: layout arithmetic only ----

    /// Reorders dimensions; `perm` must be a permutation of `0..rank`.
    pub fn permute(&self, perm: &[usize]) -> Result<Layout> {
        let rank = self.rank();
        let mut seen = vec![false; rank];
        if perm.len() != rank
            || perm
                .iter()
                .any(|&p| p >= rank || std::mem::replace(&mut seen[p], true))
        {
            return Err(Error::Invalid {
                op: "permute",
                msg: format!(
                    "{perm:?} is not a permutation of the {rank} dims of {}",
                    self.shape
                ),
            });
        }
        Ok(Layout {
            shape: Shape::from(perm.iter().map(|&p| self.dims()[p]).collect::<DimVec>()),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            offset: self.offset,
        })
    }

    /// Broadcasts to `target` (stride 0 on expanded dims), PyTorch's `expand` rule.
    pub fn broadcast_to(&self, target: &Shape, op: &'static str) -> Result<Layout> {
        let (r, tr) = (self.rank(), target.rank());
        let err = || Error::Broadcast {
            op,
            lhs: self.shape.clone(),
            rhs: target.clone(),
        };
        if tr < r {
            return Err(err());
        }
        target.checked_size(1, op)?;
        let mut strides: DimVec = smallvec::smallvec![0; tr];
        for (i, stride) in strides.iter_mut().enumerate().skip(tr - r) {
            let t = target.dims()[i];
            let j = i - (tr - r);
            let d = self.dims()[j];
            if d == t {
                *stride = self.strides[j];
            } else if d != 1 {
                return Err(err());
            }
        }
        Ok(Layout {
            shape: target.clone(),
            strides,
            offset: self.offset,
        })
    }

    /// The sub-range `start..start+len` of dimension `dim`.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Layout> {
        let size = self.dims()[dim];
        if start.checked_add(len).is_none_or(|end| end > size) {
            return Err(Error::Invalid {
                op: "narrow",
                msg: format!(
                    "range {start}..{} is out of bounds for dimension {dim} of size {size} (shape {})",
                    start.saturating_add(len),
                    self.shape
                ),
            });
        }
        let mut dims = DimVec::from_slice(self.dims());
        dims[dim] = len;
        Ok(Layout {
            shape: Shape::from(dims),
            strides: DimVec::from_slice(&self.strides),
            offset: if len == 0 {
                self.offset
            } else {
                self.offset + start * self.strides[dim]
            },
        })
    }

    /// Windows of `size` elements along `dim`, one every `step` (PyTorch `unfold`): `dim`
    /// becomes the `(len - size) / step + 1` window starts, with stride `stride * step`,
    /// and a new last dim of length `size` walks each window with `dim`'s stride. Windows
    /// overlap when `step < size`. A 0-d layout is treated as one element along dim 0.
    pub fn unfold(&self, dim: usize, size: usize, step: usize) -> Result<Layout> {
        const OP: &str = "unfold";
        let (len, stride) = match self.rank() {
            0 => (1, 1),
            _ => (self.dims()[dim], self.strides[dim]),
        };
        if step == 0 || size > len {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "windows of size {size} in steps of {step} do not fit dimension {dim} of \
                     size {len} (shape {}): the step must be at least 1 and the size at most \
                     the dimension's length",
                    self.shape
                ),
            });
        }
        let mut dims = DimVec::from_slice(self.dims());
        let mut strides = DimVec::from_slice(&self.strides);
        if let (Some(d), Some(s)) = (dims.get_mut(dim), strides.get_mut(dim)) {
            *d = (len - size) / step + 1;
            *s = stride * step;
        }
        dims.push(size);
        strides.push(stride);
        Ok(Layout {
            shape: Shape::from(dims),
            strides,
            offset: self.offset,
        })
    }

    /// Removes a size-1 dimension.
    pub fn squeeze(&self, dim: usize) -> Layout {
        let mut dims = DimVec::from_slice(self.dims());
        let mut strides = DimVec::from_slice(&self.strides);
        if dims[dim] == 1 {
            dims.remove(dim);
            strides.remove(dim);
        }
        Layout {
            shape: Shape::from(dims),
            strides,
            offset: self.offset,
        }
    }

    /// Inserts a size-1 dimension at `dim` (`0..=rank`).
    pub fn unsqueeze(&self, dim: usize) -> Layout {
        let mut dims = DimVec::from_slice(self.dims());
        let mut strides = DimVec::from_slice(&self.strides);
        let stride = if dim < dims.len() {
            dims[dim] * strides[dim]
        } else {
            1
        };
        dims.insert(dim, 1);
        strides.insert(dim, stride);
        Layout {
            shape: Shape::from(dims),
            strides,
            offset: self.offset,
        }
    }

    /// A view with a new shape of the same element count, if the strides allow it without
    /// a copy (PyTorch's `view` rule: each group of merged dims must be dense). `None` when a
    /// copy is needed.
    pub fn reshape(&self, target: &Shape) -> Option<Layout> {
        debug_assert_eq!(target.elem_count(), self.elem_count());
        if self.is_contiguous() {
            return Some(Layout {
                shape: target.clone(),
                strides: target.contiguous_strides(),
                offset: self.offset,
            });
        }
        // Walk old and new dims together, splitting old dense chunks into new dims.
        let old_d = self.dims();
        let old_s = &self.strides;
        let new_d = target.dims();
        let mut new_s = vec![0usize; new_d.len()];
        let (mut oi, mut ni) = (0usize, 0usize);
        while oi < old_d.len() || ni < new_d.len() {
            // Skip size-1 dims on both sides (their strides are free).
            if ni < new_d.len() && new_d[ni] == 1 {
                new_s[ni] = 1;
                ni += 1;
                continue;
            }
            if oi < old_d.len() && old_d[oi] == 1 {
                oi += 1;
                continue;
            }
            if oi >= old_d.len() || ni >= new_d.len() {
                return None;
            }
            // Gather a chunk of old dims that are dense in each other with the same count as
            // a chunk of new dims.
            let mut old_count = old_d[oi];
            let mut new_count = new_d[ni];
            let (o0, n0) = (oi, ni);
            oi += 1;
            ni += 1;
            while old_count != new_count {
                if old_count < new_count {
                    while oi < old_d.len() && old_d[oi] == 1 {
                        oi += 1;
                    }
                    if oi >= old_d.len() {
                        return None;
                    }
                    old_count *= old_d[oi];
                    oi += 1;
                } else {
                    if ni >= new_d.len() {
                        return None;
                    }
                    new_count *= new_d[ni];
                    ni += 1;
                }
            }
            // The old chunk must be dense: stride[k] == stride[k+1] * dim[k+1] over non-1 dims.
            let chunk: Vec<usize> = (o0..oi).filter(|&k| old_d[k] != 1).collect();
            for w in chunk.windows(2) {
                if old_s[w[0]] != old_s[w[1]] * old_d[w[1]] {
                    return None;
                }
            }
            let mut stride = chunk.last().map(|&k| old_s[k]).unwrap_or(1);
            for k in (n0..ni).rev() {
                new_s[k] = stride;
                stride *= new_d[k];
            }
        }
        Some(Layout {
            shape: target.clone(),
            strides: DimVec::from_vec(new_s),
            offset: self.offset,
        })
    }

    /// True when two logical indices may share a storage element: a stride-0 dim of more
    /// than one element (from `expand`) or overlapping windows (from `unfold` with
    /// `step < size`). Such a tensor cannot be written in place. The test walks the dims by increasing stride and
    /// asks each stride to pass the farthest offset the smaller ones reach; every view of
    /// dense storage that shares no element passes it.
    pub fn is_self_overlapping(&self) -> bool {
        if self.elem_count() <= 1 {
            return false;
        }
        let mut by_stride: smallvec::SmallVec<[(usize, usize); 6]> = self
            .strides
            .iter()
            .zip(self.shape.dims())
            .filter(|&(_, &d)| d > 1)
            .map(|(&s, &d)| (s, d))
            .collect();
        by_stride.sort_unstable();
        let mut reach = 0;
        for (s, d) in by_stride {
            if s <= reach {
                return true;
            }
            reach += (d - 1) * s;
        }
        false
    }

    /// Swaps two dimensions.
    pub fn transpose(&self, d0: usize, d1: usize) -> Layout {
        let mut dims = DimVec::from_slice(self.dims());
        let mut strides = DimVec::from_slice(&self.strides);
        dims.swap(d0, d1);
        strides.swap(d0, d1);
        Layout {
            shape: Shape::from(dims),
            strides,
            offset: self.offset,
        }
    }

    /// The layout of element `idx` along `dim` with that dimension removed.
    pub fn select(&self, dim: usize, idx: usize) -> Layout {
        let mut dims = DimVec::from_slice(self.dims());
        let mut strides = DimVec::from_slice(&self.strides);
        let offset = self.offset + idx * strides[dim];
        dims.remove(dim);
        strides.remove(dim);
        Layout {
            shape: Shape::from(dims),
            strides,
            offset,
        }
    }

    /// Resolves a possibly negative dim for this layout.
    pub fn dim(&self, d: isize, op: &'static str) -> Result<usize> {
        resolve_dim(d, self.rank(), op)
    }
}

/// Iterator over the storage offsets of a layout in row-major logical order.
pub struct StridedOffsets<'a> {
    layout: &'a Layout,
    idx: Vec<usize>,
    next: Option<usize>,
}

impl<'a> StridedOffsets<'a> {
    fn new(layout: &'a Layout) -> Self {
        let next = if layout.elem_count() == 0 {
            None
        } else {
            Some(layout.offset)
        };
        StridedOffsets {
            layout,
            idx: vec![0; layout.rank()],
            next,
        }
    }
}

impl Iterator for StridedOffsets<'_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        let cur = self.next?;
        let dims = self.layout.dims();
        let strides = self.layout.strides();
        let mut off = cur;
        let mut k = dims.len();
        loop {
            if k == 0 {
                self.next = None;
                break;
            }
            k -= 1;
            self.idx[k] += 1;
            off += strides[k];
            if self.idx[k] < dims[k] {
                self.next = Some(off);
                break;
            }
            off -= strides[k] * dims[k];
            self.idx[k] = 0;
        }
        Some(cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offs(l: &Layout) -> Vec<usize> {
        l.offsets().collect()
    }

    fn runs(l: &Layout) -> Vec<usize> {
        let mut v = Vec::new();
        l.for_each_run(|s, n, st| v.extend((0..n).map(|i| s + i * st)));
        v
    }

    #[test]
    fn transpose_offsets_and_runs_agree() {
        let l = Layout::contiguous([2, 3]).transpose(0, 1);
        assert_eq!(offs(&l), vec![0, 3, 1, 4, 2, 5]);
        assert_eq!(runs(&l), offs(&l));
        assert!(!l.is_contiguous());
    }

    #[test]
    fn reshape_of_permuted_needs_copy_when_not_dense() {
        let l = Layout::contiguous([2, 3, 4]).permute(&[1, 0, 2]).unwrap();
        // [3, 2, 4] -> [3, 8] merges dims 1 and 2 (strides 12 and 1): not dense.
        assert!(l.reshape(&Shape::from([3, 8])).is_none());
        // [3, 2, 4] -> [3, 2, 2, 2] splits the dense last dim: fine.
        let r = l.reshape(&Shape::from([3, 2, 2, 2])).unwrap();
        assert_eq!(offs(&r), offs(&l));
    }

    #[test]
    fn reshape_with_unit_dims() {
        let l = Layout::contiguous([4, 1, 3]).narrow(0, 1, 2).unwrap();
        let r = l.reshape(&Shape::from([2, 3, 1])).unwrap();
        assert_eq!(offs(&r), offs(&l));
        let l2 = Layout::contiguous([4, 6]).narrow(1, 0, 3).unwrap();
        let r2 = l2.reshape(&Shape::from([4, 1, 3])).unwrap();
        assert_eq!(offs(&r2), offs(&l2));
        assert!(l2.reshape(&Shape::from([12])).is_none());
    }

    #[test]
    fn unfold_strides_offsets_and_overlap() {
        // [2, 7] (row stride 7), windows of 3 every 2 along dim 1: starts 0, 2, 4.
        let l = Layout::contiguous([2, 7]).unfold(1, 3, 2).unwrap();
        assert_eq!(l.dims(), &[2, 3, 3]);
        assert_eq!(l.strides(), &[7, 2, 1]);
        let want: Vec<usize> = (0..2)
            .flat_map(|r| (0..3).flat_map(move |w| (0..3).map(move |k| r * 7 + w * 2 + k)))
            .collect();
        assert_eq!(offs(&l), want);
        assert_eq!(runs(&l), want);
        assert!(l.is_self_overlapping());
        // Gapped (step > size) and touching (step == size) windows share nothing.
        let gapped = Layout::contiguous([7]).unfold(0, 2, 3).unwrap();
        assert_eq!(
            (gapped.dims(), gapped.strides()),
            (&[2, 2][..], &[3, 1][..])
        );
        assert!(!gapped.is_self_overlapping());
        let touching = Layout::contiguous([6]).unfold(0, 2, 2).unwrap();
        assert!(touching.is_contiguous() && !touching.is_self_overlapping());
        // Along a transposed dim the window walks the dim's own stride.
        let t = Layout::contiguous([3, 4])
            .transpose(0, 1)
            .unfold(1, 2, 1)
            .unwrap();
        assert_eq!((t.dims(), t.strides()), (&[4, 2, 2][..], &[1, 4, 4][..]));
        // 0-d: one element, windows of size <= 1.
        let s = Layout::contiguous([0usize; 0]).unfold(0, 1, 5).unwrap();
        assert_eq!((s.dims(), s.strides()), (&[1][..], &[1][..]));
        assert!(Layout::contiguous([0usize; 0]).unfold(0, 2, 1).is_err());
        assert!(Layout::contiguous([4]).unfold(0, 5, 1).is_err());
        assert!(Layout::contiguous([4]).unfold(0, 2, 0).is_err());
        // Size 0 (as PyTorch): len + 1 empty windows.
        assert_eq!(
            Layout::contiguous([4]).unfold(0, 0, 1).unwrap().dims(),
            &[5, 0]
        );
    }

    #[test]
    fn views_of_dense_storage_do_not_overlap() {
        let l = Layout::contiguous([3, 4, 5]);
        assert!(!l.is_self_overlapping());
        assert!(!l.permute(&[2, 0, 1]).unwrap().is_self_overlapping());
        assert!(!l.slice(2, 1, 2, 3, "t").unwrap().is_self_overlapping());
        assert!(l
            .broadcast_to(&Shape::from([2, 3, 4, 5]), "t")
            .unwrap()
            .is_self_overlapping());
    }

    #[test]
    fn broadcast_strides_are_zero() {
        let l = Layout::contiguous([3, 1]);
        let b = l.broadcast_to(&Shape::from([2, 3, 4]), "expand").unwrap();
        assert_eq!(b.strides(), &[0, 1, 0]);
        assert_eq!(offs(&b), runs(&b));
        assert!(l.broadcast_to(&Shape::from([2, 4]), "expand").is_err());
    }
}

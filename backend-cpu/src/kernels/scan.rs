//! Inclusive scans along one axis (`cumsum`, `cumprod`, `logcumsumexp`) and the stable
//! argsort. Both walk the lines along the axis: the axis is moved last in the layout, and
//! every other position starts one line.

use std::cmp::Ordering;

use lamina_tensor::{Layout, Real};

use super::num::Num;
use crate::alloc::PoolVec;
use crate::walk::Walk;

/// Calls `f(line_index, src_offset, stride, len)` for every line of `layout` along
/// `axis`, lines in row-major order of the other dims. An empty axis has no lines to run.
fn for_each_line(layout: &Layout, axis: usize, mut f: impl FnMut(usize, usize, usize, usize)) {
    let n = layout.dims()[axis];
    if n == 0 || layout.elem_count() == 0 {
        return;
    }
    let rank = layout.rank();
    let mut perm: Vec<usize> = (0..rank).filter(|&d| d != axis).collect();
    perm.push(axis);
    let Ok(moved) = layout.permute(&perm) else {
        return;
    };
    let Ok(starts) = moved.narrow(rank - 1, 0, 1) else {
        return;
    };
    let stride = layout.strides()[axis];
    let walk = Walk::new([&starts]);
    let mut line = 0;
    walk.runs(0, walk.len(), |_, [o], [s], count| {
        for i in 0..count {
            f(line, o + i * s, stride, n);
            line += 1;
        }
    });
}

/// The output offset of element `j` of line `line` when the axis is *not* last: lines are
/// numbered in row-major order of the other dims, so split the line number around the
/// axis.
struct OutIndex {
    /// Product of the dims after the axis.
    inner: usize,
    n: usize,
}

impl OutIndex {
    fn new(layout: &Layout, axis: usize) -> Self {
        OutIndex {
            inner: layout.dims()[axis + 1..].iter().product(),
            n: layout.dims()[axis],
        }
    }
    #[inline]
    fn at(&self, line: usize, j: usize) -> usize {
        let (outer, inner) = (line / self.inner.max(1), line % self.inner.max(1));
        (outer * self.n + j) * self.inner + inner
    }
}

/// Running `combine` of each line, written contiguously in the input's shape.
pub fn scan<T: Num>(
    x: &[T],
    layout: &Layout,
    axis: usize,
    combine: impl Fn(T, T) -> T,
) -> PoolVec<T> {
    let mut out = PoolVec::<T>::uninit_for_overwrite(layout.elem_count());
    let idx = OutIndex::new(layout, axis);
    for_each_line(layout, axis, |line, off, stride, n| {
        let mut acc = x[off];
        out[idx.at(line, 0)] = acc;
        for j in 1..n {
            acc = combine(acc, x[off + j * stride]);
            out[idx.at(line, j)] = acc;
        }
    });
    out
}

/// `log(e^a + e^b)` without overflow; `-inf` is its identity and NaN propagates.
#[inline]
pub fn log_add_exp<T: Real>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        return T::NAN;
    }
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if lo == T::of(f64::NEG_INFINITY) || hi == T::of(f64::INFINITY) {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// NaN is larger than every number (PyTorch's sort order); otherwise the usual order.
#[inline]
fn nan_last<T: Num>(a: T, b: T) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// The stable sorting permutation of each line along `axis` (indices into the line).
pub fn argsort<T: Num>(x: &[T], layout: &Layout, axis: usize, descending: bool) -> PoolVec<i64> {
    let mut out = PoolVec::<i64>::uninit_for_overwrite(layout.elem_count());
    let idx = OutIndex::new(layout, axis);
    let mut order: Vec<usize> = Vec::new();
    for_each_line(layout, axis, |line, off, stride, n| {
        order.clear();
        order.extend(0..n);
        let key = |j: usize| x[off + j * stride];
        if descending {
            order.sort_by(|&i, &j| nan_last(key(j), key(i)));
        } else {
            order.sort_by(|&i, &j| nan_last(key(i), key(j)));
        }
        for (j, &o) in order.iter().enumerate() {
            out[idx.at(line, j)] = o as i64;
        }
    });
    out
}

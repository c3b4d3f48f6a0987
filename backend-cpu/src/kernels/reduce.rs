//! Reductions over any axis set, and the fused softmax kernels.
//!
//! A reduction is a walk over (input, output broadcast back to the input's shape): the
//! output's strides are 0 on reduced axes. When the innermost run is reduced it folds
//! into one output element (SIMD `sum`/`max` for contiguous f32 rows); when it is kept,
//! it accumulates element-wise into an output row (the bias-gradient pattern, `sum` over
//! the batch axis, vectorises that way). Full reductions of large contiguous tensors and
//! row reductions are split across threads.

use lamina_tensor::{Layout, Shape};

use super::num::Num;
use crate::alloc::PoolVec;
use crate::walk::Walk;
use crate::{par, simd};

/// The folding reductions (`ReduceOp` without the arg-reductions, which have their own
/// kernel): the backend maps one to the other exhaustively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fold {
    Sum,
    Prod,
    Max,
    Min,
}

/// Fold of one run, with f32/f64 SIMD where it exists.
pub trait FoldRun: Num {
    /// `out[c] += row[c]` for each row of `xs` in turn.
    fn sum_rows(out: &mut [Self], xs: &[Self]) {
        accumulate_rows(out, xs, |a: Self, b| a.add(b))
    }
    fn fold_run(op: Fold, acc: Self, x: &[Self]) -> Self {
        match op {
            Fold::Sum => x.iter().fold(acc, |a, &v| a.add(v)),
            Fold::Prod => x.iter().fold(acc, |a, &v| a.mul(v)),
            Fold::Max => x.iter().fold(acc, |a, &v| Num::max(a, v)),
            Fold::Min => x.iter().fold(acc, |a, &v| Num::min(a, v)),
        }
    }
}
impl FoldRun for f32 {
    fn sum_rows(out: &mut [f32], xs: &[f32]) {
        simd::sum_rows(out, xs)
    }
    fn fold_run(op: Fold, acc: f32, x: &[f32]) -> f32 {
        match op {
            Fold::Sum => acc + simd::sum(x),
            Fold::Prod => x.iter().fold(acc, |a, &v| a.mul(v)),
            Fold::Max if x.is_empty() => acc,
            Fold::Max => Num::max(acc, simd::max(x)),
            Fold::Min if x.is_empty() => acc,
            Fold::Min => Num::min(acc, simd::min(x)),
        }
    }
}
impl FoldRun for f64 {
    fn fold_run(op: Fold, acc: f64, x: &[f64]) -> f64 {
        match op {
            Fold::Sum => acc + simd::sum_f64(x),
            Fold::Prod => x.iter().fold(acc, |a, &v| a.mul(v)),
            Fold::Max if x.is_empty() => acc,
            Fold::Max => Num::max(acc, simd::max_f64(x)),
            Fold::Min if x.is_empty() => acc,
            Fold::Min => Num::min(acc, simd::min_f64(x)),
        }
    }
}
impl FoldRun for i64 {}
impl FoldRun for u32 {}
impl FoldRun for bool {}
// Max and min only: the backend sums and multiplies half tensors in f32.
impl FoldRun for lamina_tensor::f16 {}
impl FoldRun for lamina_tensor::bf16 {}

fn identity<T: Num>(op: Fold) -> T {
    match op {
        Fold::Sum => T::ZERO,
        Fold::Prod => T::ONE,
        Fold::Max => T::MIN_VALUE,
        Fold::Min => T::MAX_VALUE,
    }
}

fn combine<T: Num>(op: Fold, a: T, b: T) -> T {
    match op {
        Fold::Sum => a.add(b),
        Fold::Prod => a.mul(b),
        Fold::Max => Num::max(a, b),
        Fold::Min => Num::min(a, b),
    }
}

/// Output shape with each reduced axis set to 1.
fn kept_shape(layout: &Layout, axes: &[usize]) -> Shape {
    Shape::new(
        layout
            .dims()
            .iter()
            .enumerate()
            .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
            .collect(),
    )
}

/// Number of outputs of a reduction of `layout` over `axes` (the kept dims' product).
pub fn reduced_len(layout: &Layout, axes: &[usize]) -> usize {
    layout
        .dims()
        .iter()
        .enumerate()
        .filter(|(i, _)| !axes.contains(i))
        .map(|(_, &d)| d)
        .product()
}

/// Sum/Prod/Max/Min over `axes` into `out`, contiguous in the kept shape and
/// [`reduced_len`] long.
pub fn reduce_into<T: FoldRun>(op: Fold, x: &[T], layout: &Layout, axes: &[usize], out: &mut [T]) {
    let out_len = out.len();
    debug_assert_eq!(out_len, reduced_len(layout, axes));
    out.fill(identity(op));
    // Full reduction of a contiguous tensor: chunked across threads.
    if out_len == 1 {
        if let Some(r) = layout.contiguous_range() {
            let xs = &x[r];
            out[0] = par::map_reduce(
                xs.len(),
                1 << 16,
                |range| T::fold_run(op, identity(op), &xs[range]),
                |a, b| combine(op, a, b),
            );
            return;
        }
    }
    // Row reduction over the contiguous innermost axes: one output per row, rows in
    // parallel.
    if let Some(r) = layout.contiguous_range() {
        let rank = layout.rank();
        let trailing = axes
            .iter()
            .rev()
            .enumerate()
            .all(|(i, &a)| a == rank - 1 - i);
        if trailing {
            let row: usize = axes.iter().map(|&a| layout.dims()[a]).product();
            let xs = &x[r];
            par::for_each_chunk_mut(out, (1 << 14) / row.max(1) + 1, |start, chunk| {
                for (i, y) in chunk.iter_mut().enumerate() {
                    let s = (start + i) * row;
                    *y = T::fold_run(op, identity(op), &xs[s..s + row]);
                }
            });
            return;
        }
    }
    // Reduction over the leading axes of a contiguous tensor (a bias gradient: [batch, n]
    // summed over the batch): accumulate whole rows into the output, in row order, so each
    // output sums its column in the same order as the general walk below.
    if let Some(r) = layout.contiguous_range() {
        let leading = axes.iter().enumerate().all(|(i, &a)| a == i);
        if leading && out_len > 1 {
            let xs = &x[r];
            match op {
                Fold::Sum => T::sum_rows(out, xs),
                Fold::Prod => accumulate_rows(out, xs, |a: T, b| a.mul(b)),
                Fold::Max => accumulate_rows(out, xs, |a: T, b| Num::max(a, b)),
                Fold::Min => accumulate_rows(out, xs, |a: T, b| Num::min(a, b)),
            }
            return;
        }
    }
    // General case: walk the input with the output broadcast over it.
    let out_layout = Layout::contiguous(kept_shape(layout, axes))
        .broadcast_to(layout.shape(), "reduce")
        .expect("kept shape broadcasts to the input shape");
    let walk = Walk::new([layout, &out_layout]);
    walk.runs(0, walk.len(), |_, [ox, oy], [sx, sy], n| {
        if sy == 0 {
            let acc = out[oy];
            out[oy] = if sx == 1 {
                T::fold_run(op, acc, &x[ox..ox + n])
            } else {
                (0..n).fold(acc, |a, i| combine(op, a, x[ox + i * sx]))
            };
        } else {
            for i in 0..n {
                let p = oy + i * sy;
                out[p] = combine(op, out[p], x[ox + i * sx]);
            }
        }
    });
}

/// `out[c] = f(out[c], row[c])` for each row of `xs` in turn (rows of `out.len()`); out of
/// line per op so the inner loop vectorises.
#[inline(never)]
fn accumulate_rows<T: Copy>(out: &mut [T], xs: &[T], f: impl Fn(T, T) -> T) {
    for row in xs.chunks_exact(out.len()) {
        for (y, &v) in out.iter_mut().zip(row) {
            *y = f(*y, v);
        }
    }
}

/// Index of the first maximum (`max = true`) or minimum along `axis`, as i64. NaN counts
/// as the extreme, as PyTorch.
pub fn arg_reduce<T: Num>(max: bool, x: &[T], layout: &Layout, axis: usize) -> PoolVec<i64> {
    let rank = layout.rank();
    // Move `axis` last: each output element then owns one strided run.
    let mut perm: Vec<usize> = (0..rank).filter(|&d| d != axis).collect();
    perm.push(axis);
    let moved = layout.permute(&perm).expect("valid permutation");
    let n = layout.dims()[axis];
    let stride = layout.strides()[axis];
    let outer_layout = moved
        .narrow(rank - 1, 0, 1)
        .expect("axis has at least one element");
    let outer = Walk::new([&outer_layout]);
    let mut out = PoolVec::<i64>::uninit_for_overwrite(outer.len());
    outer.fill(&mut out, |o, [off], [st]| {
        for (i, y) in o.iter_mut().enumerate() {
            let base = off + i * st;
            let mut best = x[base];
            let mut bi = 0usize;
            for j in 1..n {
                let v = x[base + j * stride];
                if best.is_nan() {
                    break;
                }
                let better = if max { v > best } else { v < best };
                if v.is_nan() || better {
                    best = v;
                    bi = j;
                }
            }
            *y = bi as i64;
        }
    });
    out
}

/// Calls `f(row_index, out_row)` for every row of `out`, rows in parallel. Chunks from
/// `par` may cut a row; such a row is computed whole into a scratch buffer and only the
/// chunk's part copied out.
fn for_each_row(out: &mut [f32], row: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if row == 0 {
        return;
    }
    par::for_each_chunk_mut(out, row.max(1 << 12), |start, chunk| {
        let end = start + chunk.len();
        let mut scratch = Vec::new();
        let mut pos = start;
        while pos < end {
            let r = pos / row;
            let (rs, re) = (r * row, ((r + 1) * row).min(end));
            if rs >= start && rs + row <= end {
                f(r, &mut chunk[rs - start..rs - start + row]);
            } else {
                scratch.resize(row, 0.0);
                f(r, &mut scratch);
                chunk[pos - start..re - start].copy_from_slice(&scratch[pos - rs..re - rs]);
            }
            pos = re;
        }
    });
}

/// Softmax (or log-softmax) of each row of a contiguous tensor.
pub fn softmax_rows_f32(x: &[f32], row: usize, log: bool) -> PoolVec<f32> {
    let mut out = PoolVec::<f32>::uninit_for_overwrite(x.len());
    for_each_row(&mut out, row, |r, dst| {
        let src = &x[r * row..(r + 1) * row];
        if log {
            simd::log_softmax(src, dst);
        } else {
            simd::softmax(src, dst);
        }
    });
    out
}

/// Softmax backward of each row: `y * (dy - <dy, y>)`, or for log-softmax
/// `dy - exp(y) * sum(dy)`.
pub fn softmax_backward_rows_f32(y: &[f32], dy: &[f32], row: usize, log: bool) -> PoolVec<f32> {
    let mut out = PoolVec::<f32>::uninit_for_overwrite(y.len());
    for_each_row(&mut out, row, |r, dst| {
        let (ys, gs) = (&y[r * row..(r + 1) * row], &dy[r * row..(r + 1) * row]);
        if log {
            simd::log_softmax_backward(ys, gs, dst);
        } else {
            simd::softmax_backward(ys, gs, dst);
        }
    });
    out
}

/// Generic softmax rows for f64 (plain loops; f64 is the gradient-check dtype).
pub fn softmax_rows_f64(x: &[f64], row: usize, log: bool) -> PoolVec<f64> {
    let mut out = PoolVec::<f64>::uninit_for_overwrite(x.len());
    if row == 0 {
        return out;
    }
    for (src, dst) in x.chunks(row).zip(out.chunks_mut(row)) {
        let m = src.iter().fold(f64::NEG_INFINITY, |a, &v| Num::max(a, v));
        // An all -inf row shifts by 0 (its NaN comes from 0 / 0 or -inf - -inf); a +inf or
        // NaN maximum stays, so the row is NaN throughout, as PyTorch's and the f32 path.
        let m = if m == f64::NEG_INFINITY { 0.0 } else { m };
        let s: f64 = src.iter().map(|&v| (v - m).exp()).sum();
        if log {
            let ls = s.ln();
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = v - m - ls;
            }
        } else {
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = (v - m).exp() / s;
            }
        }
    }
    out
}

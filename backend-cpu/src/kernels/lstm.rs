//! The LSTM cell update (`Tensor::lstm_cell`) forward and backward, fused: per row of the
//! batch the gate activations (the SIMD sigmoid and tanh for f32), the new states and, going
//! back, every gate's gradient, in one pass over the row. The backward recomputes the
//! activations from the saved pre-activation gates instead of saving them.

use lamina_tensor::{Real, UnaryOp};

use super::num::Num;
use crate::alloc::{PoolElem, PoolVec};
use crate::par;
use crate::simd::{self, CellBackward, CellForward, PackedB, Rows};
use rayon::prelude::*;

/// The float types with an LSTM cell kernel.
pub trait LstmElem: Num + Real + PoolElem + Sync {}
impl LstmElem for f32 {}
impl LstmElem for f64 {}

/// `dst = tanh(src)` (`tanh`) or `σ(src)`, by the explicit SIMD kernel where there is one,
/// else element by element.
fn map<T: LstmElem>(tanh: bool, src: &[T], dst: &mut [T]) {
    let op = if tanh {
        UnaryOp::Tanh
    } else {
        UnaryOp::Sigmoid
    };
    if let Some(f) = <T as Num>::simd_map(op) {
        return f(src, dst);
    }
    let one = <T as Real>::ONE;
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = if tanh {
            x.tanh()
        } else {
            one / (one + (-x).exp())
        };
    }
}

/// The activated gates `[i, f, g, o]` of one row of pre-activations `a` (`4h`) into `act`.
fn activate<T: LstmElem>(a: &[T], act: &mut [T], h: usize) {
    map(false, a, act);
    map(true, &a[2 * h..3 * h], &mut act[2 * h..3 * h]);
}

/// One row of the cell update: `hn` and `cn` (`h` each) from the activated gates `act`
/// (`4h`: `σ(i), σ(f), tanh(g), σ(o)`) and the previous cell state `cp` (`h`).
#[inline]
fn cell_row<T: LstmElem>(act: &[T], cp: &[T], hn: &mut [T], cn: &mut [T], h: usize) {
    // Every slice exactly `h` long, so the loops index without bounds checks.
    let (i, f, g, o) = (
        &act[..h],
        &act[h..2 * h],
        &act[2 * h..3 * h],
        &act[3 * h..4 * h],
    );
    let (cp, hn, cn) = (&cp[..h], &mut hn[..h], &mut cn[..h]);
    for j in 0..h {
        cn[j] = f[j] * cp[j] + i[j] * g[j];
    }
    map(true, cn, hn);
    for j in 0..h {
        hn[j] = o[j] * hn[j];
    }
}

/// Scratch rows for the cell's backward: the activated gates (`4h`), the cell state and
/// its tanh (`h` each).
struct BackScratch<T> {
    act: Vec<T>,
    c: Vec<T>,
    tc: Vec<T>,
}

impl<T: LstmElem> BackScratch<T> {
    fn new(h: usize) -> Self {
        let z = <T as Real>::ZERO;
        BackScratch {
            act: vec![z; 4 * h],
            c: vec![z; h],
            tc: vec![z; h],
        }
    }
}

/// One row of the cell's backward: the gates' gradient `da` (`4h`, pre-activation) and the
/// previous cell state's `dc` (`h`) from the gradients `gh`, `gc` of the new states, the
/// activated gates `act`, the previous cell state `cp` and the new one's tanh `tc`.
#[allow(clippy::too_many_arguments)]
#[inline]
fn cell_backward_row<T: LstmElem>(
    gh: &[T],
    gc: &[T],
    act: &[T],
    cp: &[T],
    tc: &[T],
    da: &mut [T],
    dc: &mut [T],
    h: usize,
) {
    let one = <T as Real>::ONE;
    let (i, f, g, o) = (
        &act[..h],
        &act[h..2 * h],
        &act[2 * h..3 * h],
        &act[3 * h..4 * h],
    );
    let (gh, gc, cp, tc, dc) = (&gh[..h], &gc[..h], &cp[..h], &tc[..h], &mut dc[..h]);
    let (di, rest) = da[..4 * h].split_at_mut(h);
    let (df, rest) = rest.split_at_mut(h);
    let (dg, d_o) = rest.split_at_mut(h);
    for j in 0..h {
        let total = gc[j] + gh[j] * o[j] * (one - tc[j] * tc[j]);
        di[j] = total * g[j] * i[j] * (one - i[j]);
        df[j] = total * cp[j] * f[j] * (one - f[j]);
        dg[j] = total * i[j] * (one - g[j] * g[j]);
        d_o[j] = gh[j] * tc[j] * o[j] * (one - o[j]);
        dc[j] = total * f[j];
    }
}

/// [`cell_backward_row`] from the pre-activations `a`, recomputing the activations and the
/// new cell state's tanh.
#[allow(clippy::too_many_arguments)]
#[inline]
fn cell_backward_row_recompute<T: LstmElem>(
    gh: &[T],
    gc: &[T],
    a: &[T],
    cp: &[T],
    da: &mut [T],
    dc: &mut [T],
    sc: &mut BackScratch<T>,
    h: usize,
) {
    let (act, c, tc) = (&mut sc.act, &mut sc.c, &mut sc.tc);
    activate(a, act, h);
    for j in 0..h {
        c[j] = act[h + j] * cp[j] + act[j] * act[2 * h + j];
    }
    map(true, c, tc);
    cell_backward_row(gh, gc, act, cp, tc, da, dc, h);
}

/// `[n, 2h]`: each row `h_new` then `c_new`, from contiguous `gates [n, 4h]` and
/// `c_prev [n, h]`.
pub fn forward<T: LstmElem>(gates: &[T], c_prev: &[T], n: usize, h: usize) -> PoolVec<T> {
    let mut out = PoolVec::<T>::uninit_for_overwrite(n * 2 * h);
    par::for_each_chunk_mut_weighted(&mut out, 2 * h, 16, |start, chunk| {
        let mut act = vec![<T as Real>::ZERO; 4 * h];
        for (k, row) in chunk.chunks_mut(2 * h).enumerate() {
            let r = start / (2 * h) + k;
            let (hn, cn) = row.split_at_mut(h);
            activate(&gates[r * 4 * h..(r + 1) * 4 * h], &mut act, h);
            cell_row(&act, &c_prev[r * h..(r + 1) * h], hn, cn, h);
        }
    });
    out
}

/// The gradients with respect to `gates` (`[n, 4h]`) and `c_prev` (`[n, h]`) from the
/// output gradient `grad [n, 2h]` (`h`'s then `c`'s), all contiguous.
pub fn backward<T: LstmElem>(
    grad: &[T],
    gates: &[T],
    c_prev: &[T],
    n: usize,
    h: usize,
) -> (PoolVec<T>, PoolVec<T>) {
    // Each row writes its 4h gate gradients then its h cell gradient; split afterwards.
    let mut both = PoolVec::<T>::uninit_for_overwrite(n * 5 * h);
    par::for_each_chunk_mut_weighted(&mut both, 5 * h, 16, |start, chunk| {
        let mut sc = BackScratch::new(h);
        for (k, row) in chunk.chunks_mut(5 * h).enumerate() {
            let r = start / (5 * h) + k;
            let (gh, gc) = grad[r * 2 * h..(r + 1) * 2 * h].split_at(h);
            let (da, dc) = row.split_at_mut(4 * h);
            let a = &gates[r * 4 * h..(r + 1) * 4 * h];
            let cp = &c_prev[r * h..(r + 1) * h];
            cell_backward_row_recompute(gh, gc, a, cp, da, dc, &mut sc, h);
        }
    });
    let mut dg = PoolVec::<T>::uninit_for_overwrite(n * 4 * h);
    let mut dc = PoolVec::<T>::uninit_for_overwrite(n * h);
    for (r, row) in both.chunks(5 * h).enumerate() {
        dg[r * 4 * h..(r + 1) * 4 * h].copy_from_slice(&row[..4 * h]);
        dc[r * h..(r + 1) * h].copy_from_slice(&row[4 * h..]);
    }
    (dg, dc)
}

/// Rows of the batch below which a thread of its own does not pay in the sequence kernels.
const MIN_ROWS_PER_THREAD: usize = 4;

/// Sequences (`len · n · 4h · h` multiply-adds of recurrent product) below this run on the
/// caller's thread: one rayon hand-off per sequence costs a few microseconds.
const PAR_MIN_MACS: usize = 1 << 20;

/// The batch rows `(start, len)` each thread takes in a sequence kernel: a row's recurrence
/// never reads another's, so the threads run whole sequences apart, with no
/// synchronisation per step.
fn row_chunks(n: usize, macs: usize) -> Vec<(usize, usize)> {
    let threads = if macs < PAR_MIN_MACS {
        1
    } else {
        par::num_threads()
    };
    let k = threads.min(n / MIN_ROWS_PER_THREAD).max(1);
    (0..k)
        .map(|i| (i * n / k, (i + 1) * n / k - i * n / k))
        .collect()
}

/// A `[len, n, width]` buffer as each row chunk's slices, one per step (`[rows, width]`
/// each), so every thread owns its rows of every step.
fn split_steps<'a>(
    buf: &'a mut [f32],
    n: usize,
    width: usize,
    chunks: &[(usize, usize)],
) -> Vec<Vec<&'a mut [f32]>> {
    let mut per: Vec<Vec<&'a mut [f32]>> = chunks.iter().map(|_| Vec::new()).collect();
    for step in buf.chunks_exact_mut(n * width) {
        let mut rest = step;
        for (part, &(_, rows)) in per.iter_mut().zip(chunks) {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(rows * width);
            part.push(head);
            rest = tail;
        }
    }
    per
}

/// `f` on each row chunk with its parts, in parallel when there are several.
fn over_chunks<P: Send>(
    chunks: &[(usize, usize)],
    parts: Vec<P>,
    f: impl Fn((usize, usize), P) + Sync + Send,
) {
    if chunks.len() == 1 {
        parts.into_iter().for_each(|p| f(chunks[0], p));
    } else {
        chunks.par_iter().zip(parts).for_each(|(&c, p)| f(c, p));
    }
}

/// The LSTM recurrence of a whole sequence, f32, all contiguous: from the input projections
/// `xp [len, n, 4h]`, the recurrent weight `w [4h, h]` and the initial states `h0`, `c0`
/// `[n, h]`, every step's states `[len, n, 2h]` (`h` then `c`) and activated gates
/// `[len, n, 4h]` (`σ(i), σ(f), tanh(g), σ(o)`). Per step and row chunk: the gates as
/// `xp_t + h_{t−1} wᵀ` by the panel product against `wᵀ` packed once, written in place,
/// then the cell update row by row.
pub fn sequence_forward(
    xp: &[f32],
    w: &[f32],
    h0: &[f32],
    c0: &[f32],
    [len, n, h]: [usize; 3],
) -> (PoolVec<f32>, PoolVec<f32>) {
    let (g4, s2) = (4 * h, 2 * h);
    // wᵀ (h × 4h): element (k, j) is w[j][k].
    let wt = PackedB::pack(simd::isa(), w, h, g4, 1, h);
    let mut states = PoolVec::<f32>::uninit_for_overwrite(len * n * s2);
    let mut gates = PoolVec::<f32>::uninit_for_overwrite(len * n * g4);
    let chunks = row_chunks(n, len * n * g4 * h);
    let parts: Vec<_> = split_steps(&mut states, n, s2, &chunks)
        .into_iter()
        .zip(split_steps(&mut gates, n, g4, &chunks))
        .collect();
    let isa = simd::isa();
    over_chunks(&chunks, parts, |(r0, m), (mut sp, mut gp)| {
        for t in 0..len {
            let (done, rest) = sp.split_at_mut(t);
            let (st, gt) = (&mut *rest[0], &mut *gp[t]);
            // The previous hidden and cell states: rows of h0/c0, or of the last step.
            let (hp, cp, rs) = match done.last() {
                None => (&h0[r0 * h..], &c0[r0 * h..], h),
                Some(prev) => (&prev[..], &prev[h..], s2),
            };
            let xpt = &xp[(t * n + r0) * g4..][..m * g4];
            wt.gemm(m, (hp, rs), Some((xpt, g4)), (&mut *gt, g4));
            // The gates keep their activations, so the backward evaluates no gate again.
            isa.lstm_cell_rows(CellForward {
                h,
                gates: gt,
                c_prev: Rows {
                    data: cp,
                    stride: rs,
                },
                out: st,
            });
        }
    });
    (states, gates)
}

/// The gradients of [`sequence_forward`] with respect to the input projections
/// (`[len, n, 4h]`, which is also the gates' gradient) and the initial states `h0`, `c0`
/// (`[n, h]`), from the states' gradient `grad [len, n, 2h]` and the forward's activated
/// gates `acts`, `states`, `w` and `c0`. Walks the steps backwards carrying the hidden and cell state
/// gradients; the carried hidden gradient is `grad_h,t−1 + da_t w` by the panel product
/// against `w` packed once.
pub fn sequence_backward(
    grad: &[f32],
    acts: &[f32],
    states: &[f32],
    w: &[f32],
    c0: &[f32],
    [len, n, h]: [usize; 3],
) -> (PoolVec<f32>, PoolVec<f32>, PoolVec<f32>) {
    let (g4, s2) = (4 * h, 2 * h);
    let wp = PackedB::pack(simd::isa(), w, g4, h, h, 1);
    let mut dgates = PoolVec::<f32>::uninit_for_overwrite(len * n * g4);
    let mut dh0 = PoolVec::<f32>::uninit_for_overwrite(n * h);
    let mut dc0 = PoolVec::<f32>::uninit_for_overwrite(n * h);
    let chunks = row_chunks(n, len * n * g4 * h);
    let isa = simd::isa();
    let mut parts = Vec::with_capacity(chunks.len());
    {
        let (mut dh_rest, mut dc_rest) = (&mut dh0[..], &mut dc0[..]);
        for (steps, &(_, m)) in split_steps(&mut dgates, n, g4, &chunks)
            .into_iter()
            .zip(&chunks)
        {
            let (dh, dh_tail) = std::mem::take(&mut dh_rest).split_at_mut(m * h);
            let (dc, dc_tail) = std::mem::take(&mut dc_rest).split_at_mut(m * h);
            (dh_rest, dc_rest) = (dh_tail, dc_tail);
            parts.push((steps, dh, dc));
        }
    }
    over_chunks(&chunks, parts, |(r0, m), (mut dg, dh_out, dc_out)| {
        // The carried gradients of this step's new states, h's and c's.
        let (mut gh, mut gc) = (vec![0.0; m * h], vec![0.0; m * h]);
        let mut dc = vec![0.0; m * h];
        // This chunk's rows of step `t` in a `[len, n, width]` buffer.
        let step_rows = |t: usize, width: usize| (t * n + r0) * width..(t * n + r0 + m) * width;
        for (r, g) in grad[step_rows(len - 1, s2)].chunks_exact(s2).enumerate() {
            gh[r * h..(r + 1) * h].copy_from_slice(&g[..h]);
            gc[r * h..(r + 1) * h].copy_from_slice(&g[h..]);
        }
        for t in (0..len).rev() {
            let dgt = &mut *dg[t];
            let (cp, rs) = if t == 0 {
                (&c0[r0 * h..], h)
            } else {
                (&states[step_rows(t - 1, s2)][h..], s2)
            };
            isa.lstm_cell_backward_rows(CellBackward {
                h,
                gh: &gh,
                gc: &gc,
                acts: &acts[step_rows(t, g4)],
                c_prev: Rows {
                    data: cp,
                    stride: rs,
                },
                c_new: Rows {
                    data: &states[step_rows(t, s2)][h..],
                    stride: s2,
                },
                da: dgt,
                dc: &mut dc,
            });
            std::mem::swap(&mut gc, &mut dc);
            if t == 0 {
                wp.gemm(m, (dgt, g4), None, (&mut gh, h));
            } else {
                let gp = &grad[step_rows(t - 1, s2)];
                wp.gemm(m, (dgt, g4), Some((gp, s2)), (&mut gh, h));
                for (c, g) in gc.chunks_exact_mut(h).zip(gp.chunks_exact(s2)) {
                    for (c, &g) in c.iter_mut().zip(&g[h..]) {
                        *c += g;
                    }
                }
            }
        }
        dh_out.copy_from_slice(&gh);
        dc_out.copy_from_slice(&gc);
    });
    (dgates, dh0, dc0)
}

//! Scaled dot-product attention (`Tensor::attention`) forward and backward, fused in the
//! manner of FlashAttention-2: queries and keys are cut into blocks of [`BQ`] and [`BK`]
//! rows, and a thread only ever holds one `BQ × BK` block of scores, so memory grows with
//! `L + S`, never with `L · S`.
//!
//! - Forward, one task per (batch, query block): for each key block, the scores
//!   `scale · Q Kᵀ + bias` (masked), then an online softmax (a running maximum `m` and
//!   sum `l` per row; the accumulated output is rescaled by `exp(m_old − m_new)` when
//!   the maximum grows) and `O += P V`. At the end `O /= l` and the row's log-sum-exp
//!   `m + ln l` is kept for the backward.
//! - Backward: `D = rowsum(dO ⊙ O)`; then one task per (batch, key block) recomputes
//!   `P = exp(S − lse)` for every query block and accumulates `dV += Pᵀ dO` and
//!   `dK += scale · dSᵀ Q` with `dS = P ⊙ (dO Vᵀ − D)`; and one task per (batch, query
//!   block) accumulates `dQ += scale · dS K`. Each task owns its rows of the output, so
//!   there are no races and no reductions, and the result does not depend on the thread
//!   count (recomputing `P` twice is the price, as in FlashAttention-2 on GPUs without
//!   atomics).
//!
//! Block products are `block::gemm` on strided views of the operands (a transposed view
//! is free), single-threaded inside the parallel loop. A query row whose keys are all
//! masked has `m = −inf`: its output is zeros and its log-sum-exp `−inf`, which the
//! backward reads as "no weights".

use lamina_tensor::{AttentionSpec, Layout, Real, UnaryOp};

use super::block::{gemm, MatRef};
use super::matmul::{batch_offsets, Gemm};
use super::num::Num;
use crate::alloc::{PoolElem, PoolVec};
use crate::par;

/// Query rows per block.
const BQ: usize = 64;
/// Key rows per block.
const BK: usize = 64;

/// The float types with an attention kernel.
pub trait AttnElem: Gemm + Real + PoolElem + Sync {}
impl AttnElem for f32 {}
impl AttnElem for f64 {}

fn zero<T: AttnElem>() -> T {
    <T as Real>::ZERO
}

fn neg_inf<T: AttnElem>() -> T {
    T::of(f64::NEG_INFINITY)
}

/// One operand read through its layout `[batch.., rows, cols]`: each batch matrix's
/// storage offset and the row and column strides.
struct Operand<'a, T> {
    data: &'a [T],
    offs: Vec<usize>,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, T: AttnElem> Operand<'a, T> {
    fn new((data, layout): (&'a [T], &Layout)) -> Self {
        let r = layout.rank();
        debug_assert!(r >= 2 && layout.storage_extent() <= data.len());
        Operand {
            data,
            offs: batch_offsets(layout, r - 2),
            rows: layout.dims()[r - 2],
            cols: layout.dims()[r - 1],
            rs: layout.strides()[r - 2],
            cs: layout.strides()[r - 1],
        }
    }

    /// Rows `r0..r0 + n` of batch `b`'s matrix.
    fn rows(&self, b: usize, r0: usize, n: usize) -> MatRef<'a, T> {
        debug_assert!(r0 + n <= self.rows);
        MatRef {
            data: self.data,
            off: self.offs[b] + r0 * self.rs,
            rows: n,
            cols: self.cols,
            rs: self.rs,
            cs: self.cs,
        }
    }
}

/// What both directions read: the operands, the sizes and the options.
struct Problem<'a, T> {
    q: Operand<'a, T>,
    k: Operand<'a, T>,
    v: Operand<'a, T>,
    bias: Option<Operand<'a, T>>,
    batch: usize,
    l: usize,
    s: usize,
    e: usize,
    ev: usize,
    scale: T,
    causal: bool,
}

/// An operand's elements (its whole storage) and its layout, as the backend hands them
/// over.
pub type Input<'a, T> = (&'a [T], &'a Layout);

impl<'a, T: AttnElem> Problem<'a, T> {
    fn new(
        q: Input<'a, T>,
        k: Input<'a, T>,
        v: Input<'a, T>,
        bias: Option<Input<'a, T>>,
        spec: &AttentionSpec,
    ) -> Self {
        let (q, k, v) = (Operand::new(q), Operand::new(k), Operand::new(v));
        let bias = bias.map(Operand::new);
        Problem {
            batch: q.offs.len(),
            l: q.rows,
            s: k.rows,
            e: q.cols,
            ev: v.cols,
            q,
            k,
            v,
            bias,
            scale: T::of(spec.scale),
            causal: spec.causal,
        }
    }

    /// Key rows a query block `i0..i0 + n` attends to: `0..kend`.
    fn key_end(&self, i0: usize, n: usize) -> usize {
        if self.causal {
            self.s.min(i0 + n)
        } else {
            self.s
        }
    }

    /// The first query row that sees any of the keys from `j0` on.
    fn query_start(&self, j0: usize) -> usize {
        if self.causal {
            j0.min(self.l)
        } else {
            0
        }
    }

    /// `sc = scale · Q Kᵀ + bias` for query rows `i0..i0 + n` and key rows
    /// `j0..j0 + m` of batch `b` (row-major `n × m`), `-inf` where causally masked.
    fn scores(&self, b: usize, i0: usize, n: usize, j0: usize, m: usize, sc: &mut [T]) {
        let q = self.q.rows(b, i0, n);
        let k = self.k.rows(b, j0, m);
        gemm(self.scale, q, k.t(), zero(), sc, m);
        if let Some(bias) = &self.bias {
            for (r, row) in sc.chunks_exact_mut(m).take(n).enumerate() {
                let at = bias.offs[b] + (i0 + r) * bias.rs + j0 * bias.cs;
                if bias.cs == 1 {
                    for (x, &y) in row.iter_mut().zip(&bias.data[at..at + m]) {
                        *x = *x + y;
                    }
                } else {
                    for (c, x) in row.iter_mut().enumerate() {
                        *x = *x + bias.data[at + c * bias.cs];
                    }
                }
            }
        }
        if self.causal && j0 + m > i0 + 1 {
            for (r, row) in sc.chunks_exact_mut(m).take(n).enumerate() {
                // Query `i0 + r` sees keys up to itself.
                let first = (i0 + r + 1).saturating_sub(j0).min(m);
                row[first..].fill(neg_inf());
            }
        }
    }

    /// The weights `P = exp(S − lse)` in place of the scores of query rows `i0..i0 + n`
    /// (row-major, `m` columns); zeros for a row with no key (`lse = −inf`).
    fn weights(&self, lse: &[T], n: usize, m: usize, sc: &mut [T], tmp: &mut [T]) {
        for (row, &lse) in sc.chunks_exact_mut(m).take(n).zip(lse) {
            if lse == neg_inf() {
                row.fill(zero());
            } else {
                exp_shifted(row, lse, tmp);
            }
        }
    }
}

/// `row = exp(row − shift)` (the explicit SIMD kernel for f32); `tmp` is scratch at least
/// as long as `row`.
fn exp_shifted<T: AttnElem>(row: &mut [T], shift: T, tmp: &mut [T]) {
    match <T as Num>::simd_map(UnaryOp::Exp) {
        Some(exp) => {
            let tmp = &mut tmp[..row.len()];
            for (t, &x) in tmp.iter_mut().zip(row.iter()) {
                *t = x - shift;
            }
            exp(tmp, row);
        }
        None => {
            for x in row.iter_mut() {
                *x = (*x - shift).exp();
            }
        }
    }
}

/// Scratch of one task: a block of scores, a block of `dP` and a row.
struct Scratch<T: AttnElem> {
    sc: PoolVec<T>,
    dp: PoolVec<T>,
    tmp: PoolVec<T>,
}

impl<T: AttnElem> Scratch<T> {
    fn new() -> Self {
        Scratch {
            sc: PoolVec::zeroed(BQ * BK),
            dp: PoolVec::zeroed(BQ * BK),
            tmp: PoolVec::zeroed(BK),
        }
    }
}

/// Approximate cost of one block task in cheap-map elements, for the parallel threshold.
fn task_weight(rows: usize, other: usize, width: usize) -> usize {
    rows.saturating_mul(other).saturating_mul(width + 16)
}

/// The output (`[batch, l, ev]`) and each query row's log-sum-exp (`[batch, l]`), both
/// contiguous. Every dim is non-empty.
pub fn forward<T: AttnElem>(
    q: Input<T>,
    k: Input<T>,
    v: Input<T>,
    bias: Option<Input<T>>,
    spec: &AttentionSpec,
) -> (PoolVec<T>, PoolVec<T>) {
    let p = Problem::new(q, k, v, bias, spec);
    let (l, ev) = (p.l, p.ev);
    // Every task writes all of its rows of both.
    let mut out = PoolVec::<T>::uninit_for_overwrite(p.batch * l * ev);
    let mut lse = PoolVec::<T>::uninit_for_overwrite(p.batch * l);
    // One task per (batch, query block), each holding its own rows of both outputs.
    let mut tasks: Vec<(usize, usize, &mut [T], &mut [T])> = Vec::new();
    for (b, (o, m)) in out.chunks_mut(l * ev).zip(lse.chunks_mut(l)).enumerate() {
        for (i, (o, m)) in o.chunks_mut(BQ * ev).zip(m.chunks_mut(BQ)).enumerate() {
            tasks.push((b, i * BQ, o, m));
        }
    }
    let weight = task_weight(BQ, p.s, p.e + p.ev);
    par::for_each_chunk_mut_weighted(&mut tasks, 1, weight, |_, chunk| {
        let mut scratch = Scratch::new();
        let mut run = vec![(neg_inf::<T>(), zero::<T>()); BQ];
        for (b, i0, o, m) in chunk.iter_mut() {
            forward_block(&p, *b, *i0, o, m, &mut run, &mut scratch);
        }
    });
    (out, lse)
}

/// Query rows `i0..i0 + lse.len()` of batch `b`: their output rows `out` and log-sum-exps
/// `lse`; `run` holds each row's running maximum and sum.
fn forward_block<T: AttnElem>(
    p: &Problem<T>,
    b: usize,
    i0: usize,
    out: &mut [T],
    lse: &mut [T],
    run: &mut [(T, T)],
    scratch: &mut Scratch<T>,
) {
    let (n, ev) = (lse.len(), p.ev);
    let run = &mut run[..n];
    run.fill((neg_inf(), zero()));
    out.fill(zero());
    let kend = p.key_end(i0, n);
    for j0 in (0..kend).step_by(BK) {
        let m = BK.min(kend - j0);
        let sc = &mut scratch.sc[..n * m];
        p.scores(b, i0, n, j0, m, sc);
        for ((row, (mx, sum)), o) in sc
            .chunks_exact_mut(m)
            .zip(run.iter_mut())
            .zip(out.chunks_exact_mut(ev))
        {
            let new_max = row.iter().fold(*mx, |a, &x| Real::max_nan(a, x));
            if new_max == neg_inf() {
                // No key so far: nothing to weigh (and `−inf − −inf` would be NaN).
                row.fill(zero());
                continue;
            }
            exp_shifted(row, new_max, &mut scratch.tmp);
            let corr = (*mx - new_max).exp();
            *sum = *sum * corr + row.iter().fold(zero(), |a, &x| a + x);
            if corr != <T as Real>::ONE {
                for y in o.iter_mut() {
                    *y = *y * corr;
                }
            }
            *mx = new_max;
        }
        let pv = MatRef::dense(&scratch.sc[..n * m], n, m);
        gemm(
            <T as Real>::ONE,
            pv,
            p.v.rows(b, j0, m),
            <T as Real>::ONE,
            out,
            ev,
        );
    }
    for ((o, &(mx, sum)), lse) in out.chunks_exact_mut(ev).zip(run.iter()).zip(lse) {
        if mx == neg_inf() {
            // Every key masked: zeros, as PyTorch's safe softmax.
            o.fill(zero());
            *lse = neg_inf();
        } else {
            let inv = <T as Real>::ONE / sum;
            for y in o.iter_mut() {
                *y = *y * inv;
            }
            *lse = mx + sum.ln();
        }
    }
}

/// The gradients with respect to `q`, `k` and `v` (contiguous `[batch, l, e]`,
/// `[batch, s, e]`, `[batch, s, ev]`) from the contiguous output gradient `grad` and
/// output `out` (`[batch, l, ev]`) and log-sum-exp `lse` (`[batch, l]`). Every dim is
/// non-empty.
#[allow(clippy::too_many_arguments)]
pub fn backward<T: AttnElem>(
    grad: &[T],
    q: Input<T>,
    k: Input<T>,
    v: Input<T>,
    out: &[T],
    lse: &[T],
    bias: Option<Input<T>>,
    spec: &AttentionSpec,
) -> (PoolVec<T>, PoolVec<T>, PoolVec<T>) {
    let p = Problem::new(q, k, v, bias, spec);
    let (batch, l, s, e, ev) = (p.batch, p.l, p.s, p.e, p.ev);
    debug_assert!(grad.len() == batch * l * ev && out.len() == grad.len());
    debug_assert!(lse.len() == batch * l);
    // D = rowsum(dO ⊙ O), one per query row.
    let mut d = PoolVec::<T>::uninit_for_overwrite(batch * l);
    par::for_each_chunk_mut_weighted(&mut d, 1, ev, |start, chunk| {
        for (i, x) in chunk.iter_mut().enumerate() {
            let at = (start + i) * ev;
            *x = grad[at..at + ev]
                .iter()
                .zip(&out[at..at + ev])
                .fold(zero(), |a, (&g, &o)| a + g * o);
        }
    });
    let dout = Operand {
        data: grad,
        offs: (0..batch).map(|b| b * l * ev).collect(),
        rows: l,
        cols: ev,
        rs: ev,
        cs: 1,
    };
    let ctx = Backward {
        p: &p,
        dout,
        lse,
        d: &d,
    };

    // dK and dV: one task per (batch, key block), each owning its rows of both.
    let mut dk = PoolVec::<T>::uninit_for_overwrite(batch * s * e);
    let mut dv = PoolVec::<T>::uninit_for_overwrite(batch * s * ev);
    let mut tasks: Vec<(usize, usize, &mut [T], &mut [T])> = Vec::new();
    for (b, (gk, gv)) in dk.chunks_mut(s * e).zip(dv.chunks_mut(s * ev)).enumerate() {
        for (j, (gk, gv)) in gk
            .chunks_mut(BK * e)
            .zip(gv.chunks_mut(BK * ev))
            .enumerate()
        {
            tasks.push((b, j * BK, gk, gv));
        }
    }
    let weight = task_weight(BK, l, 2 * (e + ev));
    par::for_each_chunk_mut_weighted(&mut tasks, 1, weight, |_, chunk| {
        let mut scratch = Scratch::new();
        for (b, j0, gk, gv) in chunk.iter_mut() {
            ctx.key_block(*b, *j0, gk, gv, &mut scratch);
        }
    });

    // dQ: one task per (batch, query block).
    let mut dq = PoolVec::<T>::uninit_for_overwrite(batch * l * e);
    let mut tasks: Vec<(usize, usize, &mut [T])> = Vec::new();
    for (b, gq) in dq.chunks_mut(l * e).enumerate() {
        for (i, gq) in gq.chunks_mut(BQ * e).enumerate() {
            tasks.push((b, i * BQ, gq));
        }
    }
    let weight = task_weight(BQ, s, 2 * e + ev);
    par::for_each_chunk_mut_weighted(&mut tasks, 1, weight, |_, chunk| {
        let mut scratch = Scratch::new();
        for (b, i0, gq) in chunk.iter_mut() {
            ctx.query_block(*b, *i0, gq, &mut scratch);
        }
    });
    (dq, dk, dv)
}

/// What the backward tasks share.
struct Backward<'a, T> {
    p: &'a Problem<'a, T>,
    dout: Operand<'a, T>,
    lse: &'a [T],
    d: &'a [T],
}

impl<T: AttnElem> Backward<'_, T> {
    /// `dS = P ⊙ (dO Vᵀ − D)` for query rows `i0..i0 + n` and key rows `j0..j0 + m` of
    /// batch `b`, into `scratch.dp`; `scratch.sc` holds `P`.
    fn block(&self, b: usize, i0: usize, n: usize, j0: usize, m: usize, scratch: &mut Scratch<T>) {
        let p = self.p;
        let rows = b * p.l + i0..b * p.l + i0 + n;
        let sc = &mut scratch.sc[..n * m];
        p.scores(b, i0, n, j0, m, sc);
        p.weights(&self.lse[rows.clone()], n, m, sc, &mut scratch.tmp);
        let dp = &mut scratch.dp[..n * m];
        let one = <T as Real>::ONE;
        gemm(
            one,
            self.dout.rows(b, i0, n),
            p.v.rows(b, j0, m).t(),
            zero(),
            dp,
            m,
        );
        for ((dp, pr), &d) in dp
            .chunks_exact_mut(m)
            .zip(sc.chunks_exact(m))
            .zip(&self.d[rows])
        {
            for (x, &w) in dp.iter_mut().zip(pr) {
                *x = w * (*x - d);
            }
        }
    }

    /// `dK` and `dV` rows of key rows `j0..j0 + gv.len() / ev` of batch `b`.
    fn key_block(&self, b: usize, j0: usize, gk: &mut [T], gv: &mut [T], scratch: &mut Scratch<T>) {
        let p = self.p;
        let m = gv.len() / p.ev;
        let one = <T as Real>::ONE;
        gk.fill(zero());
        gv.fill(zero());
        for i0 in (p.query_start(j0)..p.l).step_by(BQ) {
            let n = BQ.min(p.l - i0);
            self.block(b, i0, n, j0, m, scratch);
            let pm = MatRef::dense(&scratch.sc[..n * m], n, m);
            gemm(one, pm.t(), self.dout.rows(b, i0, n), one, gv, p.ev);
            let ds = MatRef::dense(&scratch.dp[..n * m], n, m);
            gemm(p.scale, ds.t(), p.q.rows(b, i0, n), one, gk, p.e);
        }
    }

    /// `dQ` rows of query rows `i0..i0 + gq.len() / e` of batch `b`.
    fn query_block(&self, b: usize, i0: usize, gq: &mut [T], scratch: &mut Scratch<T>) {
        let p = self.p;
        let n = gq.len() / p.e;
        gq.fill(zero());
        let kend = p.key_end(i0, n);
        for j0 in (0..kend).step_by(BK) {
            let m = BK.min(kend - j0);
            self.block(b, i0, n, j0, m, scratch);
            let ds = MatRef::dense(&scratch.dp[..n * m], n, m);
            gemm(p.scale, ds, p.k.rows(b, j0, m), <T as Real>::ONE, gq, p.e);
        }
    }
}

//! The whole recurrence of one LSTM layer and direction as one recorded op
//! ([`lstm_sequence`]), so a sequence of `L` steps costs one tape entry instead of half a
//! dozen per step, and the recurrent weight's gradient is one matmul over all steps instead
//! of `L` small ones. Forward and backward are written with tensor ops (the cell through
//! the fused [`Tensor::lstm_cell`]), so under a recording tape the backward records and
//! differentiates again.

use std::rc::Rc;

use lamina_autograd::{apply_custom, CustomOp};
use lamina_tensor::{Error, Result, Tensor};
use rayon::prelude::*;

/// The LSTM recurrence over a whole sequence: from the input projections `xp` `[L, N, 4H]`
/// (`x W_ihᵀ` plus both biases, gates in PyTorch's order i, f, g, o), the recurrent weight
/// `w_hh` `[4H, H]` and the initial states `h0`, `c0` `[N, H]`, every step's states as
/// `[L, N, 2H]`: `h_t` in the first `H` columns, `c_t` in the last `H`, where
/// `gates_t = xp_t + h_{t−1} w_hhᵀ` and `(h_t, c_t) = lstm_cell(gates_t, c_{t−1})`.
///
/// One recorded op whose backward recomputes all the gates with one matmul, runs the
/// cell's backward from the last step to the first (one `[N, 4H] × [4H, H]` matmul per
/// step for the carried hidden gradient), and forms `w_hh`'s gradient with one matmul
/// over all steps. Both directions split the batch rows over the threads (rayon's pool;
/// at least 8 rows each), each running whole sequences, since rows never meet; under a
/// recording tape (gradients of gradients) everything stays on the caller's thread. The value and every gradient equal those of the step-by-step
/// composite (`tests/lstm_sequence.rs`).
///
/// Errors: shapes that do not fit together, an empty sequence, mixed dtypes or devices.
pub fn lstm_sequence(xp: &Tensor, w_hh: &Tensor, h0: &Tensor, c0: &Tensor) -> Result<Tensor> {
    const OP: &str = "lstm_sequence";
    if !xp.dtype().is_float() {
        return Err(Error::UnsupportedDType {
            op: OP,
            dtype: xp.dtype(),
        });
    }
    for (what, t) in [("w_hh", w_hh), ("h0", h0), ("c0", c0)] {
        if t.dtype() != xp.dtype() || t.device() != xp.device() {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "{what} is {} on {:?}, xp {} on {:?}: one dtype and device expected",
                    t.dtype(),
                    t.device(),
                    xp.dtype(),
                    xp.device()
                ),
            });
        }
    }
    let (xd, wd, hd, cd) = (xp.dims(), w_hh.dims(), h0.dims(), c0.dims());
    let fits = xd.len() == 3
        && hd.len() == 2
        && hd == cd
        && wd == [4 * hd[1], hd[1]]
        && xd[1] == hd[0]
        && xd[2] == 4 * hd[1];
    if !fits || xd[0] == 0 {
        return Err(Error::Invalid {
            op: OP,
            msg: format!(
                "xp {}, w_hh {}, h0 {}, c0 {}: expected [L, N, 4H] with L > 0, [4H, H], \
                 [N, H] and [N, H]",
                xp.shape(),
                w_hh.shape(),
                h0.shape(),
                c0.shape()
            ),
        });
    }
    apply_custom(Rc::new(LstmSequence), &[xp, w_hh, h0, c0])
}

struct LstmSequence;

/// Rows of the batch below which a thread of its own does not pay.
const MIN_ROWS_PER_THREAD: usize = 8;

/// The batch rows `(start, len)` each thread takes: the recurrence of one row never reads
/// another's, so the threads run whole sequences apart, with no synchronisation per step
/// (the per-step matmuls are too small to split well). One chunk under a recording tape,
/// whose ops must all happen on its thread.
fn row_chunks(n: usize) -> Vec<(usize, usize)> {
    let threads = if lamina_tensor::hook::is_recording() {
        1
    } else {
        rayon::current_num_threads()
    };
    let k = threads.min(n / MIN_ROWS_PER_THREAD).max(1);
    (0..k)
        .map(|i| (i * n / k, (i + 1) * n / k - i * n / k))
        .collect()
}

/// `f` on each chunk of rows, in parallel when there are several; the results in order.
fn over_rows<R: Send>(n: usize, f: impl Fn(usize, usize) -> Result<R> + Sync) -> Result<Vec<R>> {
    let chunks = row_chunks(n);
    if chunks.len() == 1 {
        return Ok(vec![f(0, n)?]);
    }
    chunks.par_iter().map(|&(s, l)| f(s, l)).collect()
}

/// The recurrence over rows `xp [L, n, 4H]`, `h0`, `c0 [n, H]`: `[L, n, 2H]`.
fn forward_rows(xp: &Tensor, w: &Tensor, h0: &Tensor, c0: &Tensor) -> Result<Tensor> {
    let (len, hid) = (xp.dims()[0], h0.dims()[1]);
    let wt = w.t()?;
    let (mut h, mut c) = (h0.clone(), c0.clone());
    let mut states = Vec::with_capacity(len);
    for t in 0..len {
        let hc = (h.matmul(&wt)? + xp.select(0, t)?)?.lstm_cell(&c)?;
        h = hc.narrow(1, 0, hid)?;
        c = hc.narrow(1, hid, hid)?;
        states.push(hc);
    }
    let refs: Vec<&Tensor> = states.iter().collect();
    Tensor::stack(&refs, 0)
}

/// The gradients for rows of the batch: `(d xp [L, n, 4H], d w_hh [4H, H], d h0, d c0)`.
fn backward_rows(
    xp: &Tensor,
    w: &Tensor,
    h0: &Tensor,
    c0: &Tensor,
    out: &Tensor,
    g: &Tensor,
) -> Result<[Tensor; 4]> {
    let (len, n, hid) = (xp.dims()[0], xp.dims()[1], h0.dims()[1]);
    // The states each step started from: [h0 | c0], then steps 0 .. L-2.
    let first = Tensor::cat(&[h0, c0], 1)?.unsqueeze(0)?;
    let prev = if len > 1 {
        Tensor::cat(&[&first, &out.narrow(0, 0, len - 1)?], 0)?
    } else {
        first
    };
    let h_prev = prev.narrow(2, 0, hid)?;
    let c_prev = prev.narrow(2, hid, hid)?;
    // All steps' gates again, with one matmul.
    let gates = (h_prev.matmul(&w.t()?)? + xp)?;
    let mut carry: Option<Tensor> = None;
    let mut d0 = None;
    let mut dgates = vec![None; len];
    for t in (0..len).rev() {
        let gt = match &carry {
            Some(c) => (g.select(0, t)? + c)?,
            None => g.select(0, t)?,
        };
        let (da, dc) = gt.lstm_cell_backward(&gates.select(0, t)?, &c_prev.select(0, t)?)?;
        let dh = da.matmul(w)?;
        carry = Some(Tensor::cat(&[&dh, &dc], 1)?);
        d0 = Some((dh, dc));
        dgates[t] = Some(da);
    }
    let dgates: Vec<Tensor> = dgates.into_iter().map(|d| d.expect("every step")).collect();
    let refs: Vec<&Tensor> = dgates.iter().collect();
    let dxp = Tensor::stack(&refs, 0)?;
    let dw = dxp
        .reshape([len * n, 4 * hid])?
        .t()?
        .matmul(&h_prev.reshape([len * n, hid])?)?;
    let (dh0, dc0) = d0.expect("a non-empty sequence");
    Ok([dxp, dw, dh0, dc0])
}

impl CustomOp for LstmSequence {
    fn name(&self) -> &str {
        "lstm_sequence"
    }

    fn forward(&self, x: &[&Tensor]) -> Result<Tensor> {
        let (xp, w, h0, c0) = (x[0], x[1], x[2], x[3]);
        let parts = over_rows(h0.dims()[0], |s, l| {
            forward_rows(
                &xp.narrow(1, s, l)?,
                w,
                &h0.narrow(0, s, l)?,
                &c0.narrow(0, s, l)?,
            )
        })?;
        match parts.as_slice() {
            [one] => Ok(one.clone()),
            _ => Tensor::cat(&parts.iter().collect::<Vec<_>>(), 1),
        }
    }

    fn backward(&self, x: &[Tensor], out: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (xp, w, h0, c0) = (&x[0], &x[1], &x[2], &x[3]);
        let parts = over_rows(h0.dims()[0], |s, l| {
            backward_rows(
                &xp.narrow(1, s, l)?,
                w,
                &h0.narrow(0, s, l)?,
                &c0.narrow(0, s, l)?,
                &out.narrow(1, s, l)?,
                &g.narrow(1, s, l)?,
            )
        })?;
        if let [[dxp, dw, dh0, dc0]] = parts.as_slice() {
            return Ok(vec![
                Some(dxp.clone()),
                Some(dw.clone()),
                Some(dh0.clone()),
                Some(dc0.clone()),
            ]);
        }
        let cat = |i: usize, dim: isize| -> Result<Tensor> {
            Tensor::cat(&parts.iter().map(|p| &p[i]).collect::<Vec<_>>(), dim)
        };
        let mut dw = parts[0][1].clone();
        for p in &parts[1..] {
            dw = (dw + &p[1])?;
        }
        Ok(vec![
            Some(cat(0, 1)?),
            Some(dw),
            Some(cat(2, 0)?),
            Some(cat(3, 0)?),
        ])
    }
}

//! The whole recurrence of one recurrent layer and direction as one recorded op
//! ([`lstm_sequence`], [`gru_sequence`], [`rnn_sequence`]), so a sequence of `L` steps
//! costs one tape entry instead of several per step, and the recurrent weight's gradient is
//! one matmul over all steps instead of `L` small ones. Forward and backward are written
//! with tensor ops (the LSTM cell through the fused [`Tensor::lstm_cell`]), so under a
//! recording tape the backward records and differentiates again; the LSTM runs the
//! backend's whole-sequence kernel instead where there is one
//! ([`Tensor::lstm_sequence_kernel`]: the CPU's, f32) and no tape records. The GRU and RNN
//! backwards recompute what the steps computed (gates, activations) for all steps at once
//! from the saved states, then walk the steps backwards carrying only the hidden state's
//! gradient.

use std::cell::RefCell;
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
/// One recorded op. Where the backend has a whole-sequence kernel
/// ([`Tensor::lstm_sequence_kernel`]; the CPU's, for f32, multiplies by `w_hh` packed once
/// per sequence and updates the cell in the same pass) forward and backward run it, the
/// backward from the activations the forward kept. Otherwise the composite's backward
/// reuses the forward's pre-activation gates (under a recording tape it recomputes them all
/// with one matmul instead), runs the
/// cell's backward from the last step to the first (one `[N, 4H] × [4H, H]` matmul per
/// step for the carried hidden gradient), and forms `w_hh`'s gradient with one matmul
/// over all steps. Both directions split the batch rows over the threads (rayon's pool; at
/// least 8 rows each, and only while the per-step matmul is small), each running whole
/// sequences, since rows never meet; under a recording tape (gradients of gradients)
/// everything stays on the caller's thread. The value and every gradient equal those of
/// the step-by-step composite (`tests/recurrence.rs`).
///
/// Errors: shapes that do not fit together, an empty sequence, mixed dtypes or devices.
pub fn lstm_sequence(xp: &Tensor, w_hh: &Tensor, h0: &Tensor, c0: &Tensor) -> Result<Tensor> {
    let n = h0.dims().first().copied().unwrap_or(0);
    let h = h0.dims().get(1).copied().unwrap_or(0);
    check_recurrence("lstm_sequence", 4, xp, w_hh, h0, &[("c0", c0, vec![n, h])])?;
    let op = LstmSequence {
        saved: RefCell::new(None),
    };
    apply_custom(Rc::new(op), &[xp, w_hh, h0, c0])
}

/// The op of one [`lstm_sequence`] call, holding what the forward computed of the gates
/// for its backward (recomputing them costs a matmul as large as the forward's: a third
/// more GEMM work in `char_lstm`'s step).
struct LstmSequence {
    saved: RefCell<Option<Saved>>,
}

/// The gates an [`LstmSequence`] forward kept.
#[derive(Clone)]
enum Saved {
    /// The composite's pre-activation gates `[L, N, 4H]`.
    Gates(Tensor),
    /// The backend kernel's activated gates `[L, N, 4H]`, for its own backward.
    Acts(Tensor),
}

/// Rows of the batch below which a thread of its own does not pay.
const MIN_ROWS_PER_THREAD: usize = 8;

/// Per-step matmuls (multiply-adds over the whole batch) from this size up are split well
/// by the GEMM itself; the rows are then not split (two row chunks each running a
/// multi-threaded GEMM slowed `char_lstm`'s 64 x 512 x 2048 step down by a fifth).
const SPLIT_ROWS_BELOW_MACS: usize = 1 << 23;

/// The batch rows `(start, len)` each thread takes: the recurrence of one row never reads
/// another's, so the threads run whole sequences apart, with no synchronisation per step,
/// when the per-step matmul (`macs` multiply-adds) is too small to split well. One chunk
/// under a recording tape, whose ops must all happen on its thread.
fn row_chunks(n: usize, macs: usize) -> Vec<(usize, usize)> {
    let threads = if lamina_tensor::hook::is_recording() || macs >= SPLIT_ROWS_BELOW_MACS {
        1
    } else {
        rayon::current_num_threads()
    };
    let k = threads.min(n / MIN_ROWS_PER_THREAD).max(1);
    (0..k)
        .map(|i| (i * n / k, (i + 1) * n / k - i * n / k))
        .collect()
}

/// `f` on each chunk of the `n` rows of a recurrence with recurrent weight `w`, in parallel
/// when there are several; the results in order.
fn over_rows<R: Send>(
    n: usize,
    w: &Tensor,
    f: impl Fn(usize, usize) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let chunks = row_chunks(n, n * w.elem_count());
    if chunks.len() == 1 {
        return Ok(vec![f(0, n)?]);
    }
    chunks.par_iter().map(|&(s, l)| f(s, l)).collect()
}

/// The LSTM recurrence over rows `xp [L, n, 4H]`, `h0`, `c0 [n, H]`: the states
/// `[L, n, 2H]` and the pre-activation gates `[L, n, 4H]` (kept for the backward).
fn forward_rows(xp: &Tensor, w: &Tensor, h0: &Tensor, c0: &Tensor) -> Result<[Tensor; 2]> {
    let (len, hid) = (xp.dims()[0], h0.dims()[1]);
    // Contiguous once per sequence: the GEMM then reads it as it is instead of repacking a
    // transposed view every step (BENCHMARKS.md, W6).
    let wt = w.t()?.contiguous()?;
    let (mut h, mut c) = (h0.clone(), c0.clone());
    let mut states = Vec::with_capacity(len);
    let mut gates = Vec::with_capacity(len);
    for t in 0..len {
        let a = (h.matmul(&wt)? + xp.select(0, t)?)?;
        let hc = a.lstm_cell(&c)?;
        h = hc.narrow(1, 0, hid)?;
        c = hc.narrow(1, hid, hid)?;
        states.push(hc);
        gates.push(a);
    }
    let stack = |v: &[Tensor]| Tensor::stack(&v.iter().collect::<Vec<_>>(), 0);
    Ok([stack(&states)?, stack(&gates)?])
}

/// The LSTM gradients for rows of the batch: `(d xp [L, n, 4H], d w_hh [4H, H], d h0,
/// d c0)`.
fn backward_rows(
    xp: &Tensor,
    w: &Tensor,
    h0: &Tensor,
    c0: &Tensor,
    out: &Tensor,
    g: &Tensor,
    saved_gates: Option<Tensor>,
) -> Result<[Tensor; 4]> {
    let (len, n, hid) = (xp.dims()[0], xp.dims()[1], h0.dims()[1]);
    let prev = previous_states(&Tensor::cat(&[h0, c0], 1)?, out)?;
    let h_prev = prev.narrow(2, 0, hid)?;
    let c_prev = prev.narrow(2, hid, hid)?;
    let gates = match saved_gates {
        Some(a) => a,
        // All steps' gates again, with one matmul (recorded when a tape records).
        None => (h_prev.matmul(&w.t()?)? + xp)?,
    };
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
        if let Some((states, acts)) = Tensor::lstm_sequence_kernel(xp, w, h0, c0)? {
            *self.saved.borrow_mut() = Some(Saved::Acts(acts));
            return Ok(states);
        }
        let parts = over_rows(h0.dims()[0], w, |s, l| {
            forward_rows(
                &xp.narrow(1, s, l)?,
                w,
                &h0.narrow(0, s, l)?,
                &c0.narrow(0, s, l)?,
            )
        })?;
        let [states, gates] = join_rows(parts, [Join::Rows(1), Join::Rows(1)])?;
        *self.saved.borrow_mut() = Some(Saved::Gates(gates));
        Ok(states)
    }

    fn backward(&self, x: &[Tensor], out: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (xp, w, h0, c0) = (&x[0], &x[1], &x[2], &x[3]);
        // Under a recording tape the gates are recomputed from the inputs, so the
        // gradient's own graph reaches them; otherwise the forward's are reused.
        let saved = if lamina_tensor::hook::is_recording() {
            None
        } else {
            self.saved.borrow().clone()
        };
        let saved = match saved {
            Some(Saved::Acts(acts)) => {
                let kernel = g.lstm_sequence_backward_kernel(&acts, out, w, c0)?;
                if let Some((dxp, dh0, dc0)) = kernel {
                    let dw = weight_grad(&dxp, h0, out, h0.dims()[1])?;
                    return Ok(vec![Some(dxp), Some(dw), Some(dh0), Some(dc0)]);
                }
                // A backend with a forward kernel but no backward: recompute the gates.
                None
            }
            Some(Saved::Gates(gates)) => Some(gates),
            None => None,
        };
        let parts = over_rows(h0.dims()[0], w, |s, l| {
            backward_rows(
                &xp.narrow(1, s, l)?,
                w,
                &h0.narrow(0, s, l)?,
                &c0.narrow(0, s, l)?,
                &out.narrow(1, s, l)?,
                &g.narrow(1, s, l)?,
                saved.as_ref().map(|a| a.narrow(1, s, l)).transpose()?,
            )
        })?;
        let [dxp, dw, dh0, dc0] = join_rows(
            parts,
            [Join::Rows(1), Join::Sum, Join::Rows(0), Join::Rows(0)],
        )?;
        Ok(vec![Some(dxp), Some(dw), Some(dh0), Some(dc0)])
    }
}

/// How [`join_rows`] puts the chunks' results together.
#[derive(Clone, Copy)]
enum Join {
    /// Concatenated along this dim (a per-row result).
    Rows(isize),
    /// Added (a weight's gradient, summed over rows).
    Sum,
}

/// The chunks' tensors concatenated along `dim`.
fn cat_rows(mut parts: Vec<Tensor>, dim: isize) -> Result<Tensor> {
    if parts.len() == 1 {
        return Ok(parts.pop().expect("one part"));
    }
    Tensor::cat(&parts.iter().collect::<Vec<_>>(), dim)
}

/// The chunks' results put together entry by entry as `how` says.
fn join_rows<const K: usize>(parts: Vec<[Tensor; K]>, how: [Join; K]) -> Result<[Tensor; K]> {
    let mut out: Vec<Tensor> = Vec::with_capacity(K);
    for (i, h) in how.iter().enumerate() {
        let column: Vec<Tensor> = parts.iter().map(|p| p[i].clone()).collect();
        out.push(match *h {
            Join::Rows(dim) => cat_rows(column, dim)?,
            Join::Sum => {
                let mut it = column.into_iter();
                let first = it.next().expect("at least one chunk");
                it.try_fold(first, |acc, t| acc + &t)?
            }
        });
    }
    Ok(out
        .try_into()
        .unwrap_or_else(|_| unreachable!("K entries pushed")))
}

/// The recurrent weight's gradient `Σ_t dgates_tᵀ h_{t−1}` (`[G·H, H]`) from the gates'
/// gradients `dgates [L, n, G·H]`, the initial hidden state `h0 [n, H]` and the steps'
/// outputs `out [L, n, W]` (hidden state in the first `H` columns): two matmuls (the first
/// step's, and the others' over all their rows at once), without copying the states.
fn weight_grad(dgates: &Tensor, h0: &Tensor, out: &Tensor, hid: usize) -> Result<Tensor> {
    let (len, n, width) = (dgates.dims()[0], dgates.dims()[1], dgates.dims()[2]);
    let first = dgates.select(0, 0)?.t()?.matmul(h0)?;
    if len == 1 {
        return Ok(first);
    }
    let rows = (len - 1) * n;
    let d = dgates.narrow(0, 1, len - 1)?.reshape([rows, width])?;
    let h = out
        .narrow(0, 0, len - 1)?
        .narrow(2, 0, hid)?
        .reshape([rows, hid])?;
    d.t()?.matmul(&h)? + first
}

/// The states each step started from: `first` (`[n, W]`), then the outputs of steps
/// `0 .. L-2` (`out [L, n, W]`), as `[L, n, W]`.
fn previous_states(first: &Tensor, out: &Tensor) -> Result<Tensor> {
    let len = out.dims()[0];
    let first = first.unsqueeze(0)?;
    if len > 1 {
        Tensor::cat(&[&first, &out.narrow(0, 0, len - 1)?], 0)
    } else {
        Ok(first)
    }
}

/// Checks the shapes every recurrence shares: `xp [L, N, G·H]` with `L > 0`, `w_hh [G·H, H]`,
/// `h0 [N, H]`, the `extra` tensors' shapes, one float dtype and device; `(L, N, H)`.
fn check_recurrence(
    op: &'static str,
    gates: usize,
    xp: &Tensor,
    w_hh: &Tensor,
    h0: &Tensor,
    extra: &[(&str, &Tensor, Vec<usize>)],
) -> Result<(usize, usize, usize)> {
    if !xp.dtype().is_float() {
        return Err(Error::UnsupportedDType {
            op,
            dtype: xp.dtype(),
        });
    }
    let (xd, wd, hd) = (xp.dims(), w_hh.dims(), h0.dims());
    let fits = xd.len() == 3
        && hd.len() == 2
        && wd == [gates * hd[1], hd[1]]
        && xd[1] == hd[0]
        && xd[2] == gates * hd[1]
        && xd[0] > 0;
    if !fits {
        return Err(Error::Invalid {
            op,
            msg: format!(
                "xp {}, w_hh {}, h0 {}: expected [L, N, {gates}H] with L > 0, [{gates}H, H] and \
                 [N, H]",
                xp.shape(),
                w_hh.shape(),
                h0.shape()
            ),
        });
    }
    let mut others: Vec<(&str, &Tensor)> = vec![("w_hh", w_hh), ("h0", h0)];
    for (what, t, want) in extra {
        if t.dims() != want.as_slice() {
            return Err(Error::Invalid {
                op,
                msg: format!("{what} has shape {}, expected {want:?}", t.shape()),
            });
        }
        others.push((what, t));
    }
    for (what, t) in others {
        if t.dtype() != xp.dtype() || t.device() != xp.device() {
            return Err(Error::Invalid {
                op,
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
    Ok((xd[0], xd[1], hd[1]))
}

/// The GRU recurrence over a whole sequence (PyTorch's `nn.GRU` step, gates r, z, n):
/// from the input projections `xp` `[L, N, 3H]` (`x W_ihᵀ + b_ih`), the recurrent weight
/// `w_hh` `[3H, H]`, its bias `b_hh` `[3H]` (optional) and the initial state `h0` `[N, H]`,
/// every step's hidden state as `[L, N, H]`, where with `hp = h_{t−1} w_hhᵀ + b_hh`:
/// `r = σ(xp_r + hp_r)`, `z = σ(xp_z + hp_z)`, `n = tanh(xp_n + r ⊙ hp_n)`,
/// `h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}`.
///
/// One recorded op, parallel over batch rows like [`lstm_sequence`]; its backward
/// recomputes `hp` for all steps with one matmul and forms `w_hh`'s and `b_hh`'s gradients
/// with one matmul and one sum over all steps.
///
/// Errors: shapes that do not fit together, an empty sequence, mixed dtypes or devices.
pub fn gru_sequence(
    xp: &Tensor,
    w_hh: &Tensor,
    b_hh: Option<&Tensor>,
    h0: &Tensor,
) -> Result<Tensor> {
    const OP: &str = "gru_sequence";
    let h = h0.dims().get(1).copied().unwrap_or(0);
    let extra: Vec<(&str, &Tensor, Vec<usize>)> =
        b_hh.map(|b| ("b_hh", b, vec![3 * h])).into_iter().collect();
    check_recurrence(OP, 3, xp, w_hh, h0, &extra)?;
    match b_hh {
        Some(b) => apply_custom(Rc::new(GruSequence), &[xp, w_hh, h0, b]),
        None => apply_custom(Rc::new(GruSequence), &[xp, w_hh, h0]),
    }
}

struct GruSequence;

/// `r, z, n` and `hp_n` of every step from the projections and the previous states.
fn gru_gates(xp: &Tensor, hp: &Tensor, hid: usize) -> Result<(Tensor, Tensor, Tensor, Tensor)> {
    let r = (xp.narrow(-1, 0, hid)? + hp.narrow(-1, 0, hid)?)?.sigmoid()?;
    let z = (xp.narrow(-1, hid, hid)? + hp.narrow(-1, hid, hid)?)?.sigmoid()?;
    let hn = hp.narrow(-1, 2 * hid, hid)?;
    let n = (xp.narrow(-1, 2 * hid, hid)? + (&r * &hn)?)?.tanh()?;
    Ok((r, z, n, hn))
}

fn gru_hp(h: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let hp = h.matmul(&w.t()?)?;
    match b {
        Some(b) => hp + b,
        None => Ok(hp),
    }
}

fn gru_forward_rows(xp: &Tensor, w: &Tensor, b: Option<&Tensor>, h0: &Tensor) -> Result<Tensor> {
    let (len, hid) = (xp.dims()[0], h0.dims()[1]);
    let mut h = h0.clone();
    let mut states = Vec::with_capacity(len);
    for t in 0..len {
        let (_, z, n, _) = gru_gates(&xp.select(0, t)?, &gru_hp(&h, w, b)?, hid)?;
        // (1 − z) ⊙ n + z ⊙ h
        h = (&n + (&z * (&h - &n)?)?)?;
        states.push(h.clone());
    }
    Tensor::stack(&states.iter().collect::<Vec<_>>(), 0)
}

/// `(d xp, d w_hh, d h0, d b_hh)` for rows of the batch.
fn gru_backward_rows(
    xp: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    h0: &Tensor,
    out: &Tensor,
    g: &Tensor,
) -> Result<[Tensor; 4]> {
    let (len, n, hid) = (xp.dims()[0], xp.dims()[1], h0.dims()[1]);
    let h_prev = previous_states(h0, out)?;
    let (r, z, nn, hn) = gru_gates(xp, &gru_hp(&h_prev, w, b)?, hid)?;
    // Everything that does not depend on the carried gradient, for all steps at once.
    let one_minus_z = (1.0 - &z)?;
    let dn_pre = (&one_minus_z * (1.0 - &nn.square()?)?)?; // (1 − z)(1 − n²)
    let dz_pre = ((&h_prev - &nn)? * (&z * &one_minus_z)?)?; // (h − n) z (1 − z)
    let r_slope = (&r * (1.0 - &r)?)?; // r (1 − r)
    let mut carry: Option<Tensor> = None;
    let mut d_xp = vec![None; len];
    let mut d_hp = vec![None; len];
    for t in (0..len).rev() {
        let dh = match &carry {
            Some(c) => (g.select(0, t)? + c)?,
            None => g.select(0, t)?,
        };
        let da_n = (&dh * dn_pre.select(0, t)?)?;
        let da_z = (&dh * dz_pre.select(0, t)?)?;
        let da_r = ((&da_n * hn.select(0, t)?)? * r_slope.select(0, t)?)?;
        let dhp_n = (&da_n * r.select(0, t)?)?;
        let dhp = Tensor::cat(&[&da_r, &da_z, &dhp_n], 1)?;
        carry = Some(((&dh * z.select(0, t)?)? + dhp.matmul(w)?)?);
        d_xp[t] = Some(Tensor::cat(&[&da_r, &da_z, &da_n], 1)?);
        d_hp[t] = Some(dhp);
    }
    let stack = |v: Vec<Option<Tensor>>| -> Result<Tensor> {
        let v: Vec<Tensor> = v.into_iter().map(|d| d.expect("every step")).collect();
        Tensor::stack(&v.iter().collect::<Vec<_>>(), 0)
    };
    let (d_xp, d_hp) = (stack(d_xp)?, stack(d_hp)?);
    let flat = d_hp.reshape([len * n, 3 * hid])?;
    let dw = flat.t()?.matmul(&h_prev.reshape([len * n, hid])?)?;
    let db = flat.sum(0, false)?;
    Ok([d_xp, dw, carry.expect("a non-empty sequence"), db])
}

impl CustomOp for GruSequence {
    fn name(&self) -> &str {
        "gru_sequence"
    }

    fn forward(&self, x: &[&Tensor]) -> Result<Tensor> {
        let (xp, w, h0, b) = (x[0], x[1], x[2], x.get(3).copied());
        let parts = over_rows(h0.dims()[0], w, |s, l| {
            gru_forward_rows(&xp.narrow(1, s, l)?, w, b, &h0.narrow(0, s, l)?)
        })?;
        cat_rows(parts, 1)
    }

    fn backward(&self, x: &[Tensor], out: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (xp, w, h0, b) = (&x[0], &x[1], &x[2], x.get(3));
        let parts = over_rows(h0.dims()[0], w, |s, l| {
            gru_backward_rows(
                &xp.narrow(1, s, l)?,
                w,
                b,
                &h0.narrow(0, s, l)?,
                &out.narrow(1, s, l)?,
                &g.narrow(1, s, l)?,
            )
        })?;
        let [dxp, dw, dh0, db] =
            join_rows(parts, [Join::Rows(1), Join::Sum, Join::Rows(0), Join::Sum])?;
        let mut grads = vec![Some(dxp), Some(dw), Some(dh0)];
        if b.is_some() {
            grads.push(Some(db));
        }
        Ok(grads)
    }
}

/// The Elman recurrence over a whole sequence (PyTorch's `nn.RNN` step): from the input
/// projections `xp` `[L, N, H]` (`x W_ihᵀ` plus both biases), the recurrent weight `w_hh`
/// `[H, H]` and the initial state `h0` `[N, H]`, every step's hidden state
/// `h_t = act(xp_t + h_{t−1} w_hhᵀ)` as `[L, N, H]`, `act` tanh or ReLU (`relu`).
///
/// One recorded op, parallel over batch rows like [`lstm_sequence`].
///
/// Errors: shapes that do not fit together, an empty sequence, mixed dtypes or devices.
pub fn rnn_sequence(xp: &Tensor, w_hh: &Tensor, h0: &Tensor, relu: bool) -> Result<Tensor> {
    check_recurrence("rnn_sequence", 1, xp, w_hh, h0, &[])?;
    apply_custom(Rc::new(RnnSequence { relu }), &[xp, w_hh, h0])
}

struct RnnSequence {
    relu: bool,
}

impl RnnSequence {
    fn act(&self, s: &Tensor) -> Result<Tensor> {
        if self.relu {
            s.relu()
        } else {
            s.tanh()
        }
    }

    /// `act'` from the activation's output `h`: `1 − h²` (tanh) or `h > 0` (ReLU).
    fn slope(&self, h: &Tensor) -> Result<Tensor> {
        if self.relu {
            h.gt_scalar(0.0)?.to_dtype(h.dtype())
        } else {
            1.0 - &h.square()?
        }
    }

    fn forward_rows(&self, xp: &Tensor, w: &Tensor, h0: &Tensor) -> Result<Tensor> {
        let wt = w.t()?;
        let mut h = h0.clone();
        let mut states = Vec::with_capacity(xp.dims()[0]);
        for t in 0..xp.dims()[0] {
            h = self.act(&(h.matmul(&wt)? + xp.select(0, t)?)?)?;
            states.push(h.clone());
        }
        Tensor::stack(&states.iter().collect::<Vec<_>>(), 0)
    }

    fn backward_rows(
        &self,
        w: &Tensor,
        h0: &Tensor,
        out: &Tensor,
        g: &Tensor,
    ) -> Result<[Tensor; 3]> {
        let (len, n, hid) = (out.dims()[0], out.dims()[1], h0.dims()[1]);
        let h_prev = previous_states(h0, out)?;
        let slope = self.slope(out)?;
        let mut carry: Option<Tensor> = None;
        let mut da = vec![None; len];
        for t in (0..len).rev() {
            let dh = match &carry {
                Some(c) => (g.select(0, t)? + c)?,
                None => g.select(0, t)?,
            };
            let d = (&dh * slope.select(0, t)?)?;
            carry = Some(d.matmul(w)?);
            da[t] = Some(d);
        }
        let da: Vec<Tensor> = da.into_iter().map(|d| d.expect("every step")).collect();
        let da = Tensor::stack(&da.iter().collect::<Vec<_>>(), 0)?;
        let dw = da
            .reshape([len * n, hid])?
            .t()?
            .matmul(&h_prev.reshape([len * n, hid])?)?;
        Ok([da, dw, carry.expect("a non-empty sequence")])
    }
}

impl CustomOp for RnnSequence {
    fn name(&self) -> &str {
        "rnn_sequence"
    }

    fn forward(&self, x: &[&Tensor]) -> Result<Tensor> {
        let (xp, w, h0) = (x[0], x[1], x[2]);
        let parts = over_rows(h0.dims()[0], w, |s, l| {
            self.forward_rows(&xp.narrow(1, s, l)?, w, &h0.narrow(0, s, l)?)
        })?;
        cat_rows(parts, 1)
    }

    fn backward(&self, x: &[Tensor], out: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (w, h0) = (&x[1], &x[2]);
        let parts = over_rows(h0.dims()[0], w, |s, l| {
            self.backward_rows(
                w,
                &h0.narrow(0, s, l)?,
                &out.narrow(1, s, l)?,
                &g.narrow(1, s, l)?,
            )
        })?;
        let [dxp, dw, dh0] = join_rows(parts, [Join::Rows(1), Join::Sum, Join::Rows(0)])?;
        Ok(vec![Some(dxp), Some(dw), Some(dh0)])
    }
}

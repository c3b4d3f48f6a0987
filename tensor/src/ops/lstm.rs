//! The LSTM cell update as one recorded primitive, [`Tensor::lstm_cell`]: from the
//! pre-activation gates and the previous cell state to the new hidden and cell states, so a
//! recurrent step costs one tape entry (and one fused kernel each way) instead of a dozen
//! element-wise ops on strided gate slices. Without a backend kernel it runs as a composite
//! of tensor ops.

use crate::hook::{self, Op};
use crate::{Error, Layout, Result, Shape, Tensor};

impl Tensor {
    /// The LSTM cell update from pre-activation gates `self` (`[N, 4H]`, PyTorch's order
    /// i, f, g, o) and the previous cell state `c_prev` (`[N, H]`): `[N, 2H]`, the new
    /// hidden state `h = o ⊙ tanh(c)` in the first `H` columns and the new cell state
    /// `c = f ⊙ c_prev + i ⊙ g` in the last `H`, where `i, f, o = σ(·)` and `g = tanh(·)` of
    /// their gate columns. One recorded op.
    pub fn lstm_cell(&self, c_prev: &Tensor) -> Result<Tensor> {
        const OP: &str = "lstm_cell";
        let (n, h) = check(OP, self, c_prev)?;
        let out = hook::paused(|| -> Result<Tensor> {
            let (a, c) = (self.contiguous()?, c_prev.contiguous()?);
            let kernel = if n * h == 0 {
                None
            } else {
                self.device().backend().lstm_cell(
                    a.storage(),
                    a.layout(),
                    c.storage(),
                    c.layout(),
                    n,
                    h,
                )
            };
            match kernel {
                Some(s) => Ok(Tensor::from_storage(
                    s?,
                    Layout::contiguous(Shape::from([n, 2 * h])),
                    *self.device(),
                )),
                None => forward_composite(&a, &c, h),
            }
        })?;
        hook::record(|| Op::LstmCell, &[self, c_prev], &out);
        Ok(out)
    }

    /// The gradients of [`lstm_cell`](Tensor::lstm_cell) with respect to the gates and
    /// `c_prev`, from the output gradient `self` (`[N, 2H]`: `h`'s then `c`'s) and the
    /// op's inputs. While a tape records (gradients of gradients) it is computed with
    /// recorded ops, so it differentiates again; otherwise by the backend's kernel when it
    /// has one.
    pub fn lstm_cell_backward(&self, gates: &Tensor, c_prev: &Tensor) -> Result<(Tensor, Tensor)> {
        const OP: &str = "lstm_cell_backward";
        let (n, h) = check(OP, gates, c_prev)?;
        gates.check_same(self, OP)?;
        if self.dims() != [n, 2 * h] {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "output gradient {}, expected [{n}, {}]",
                    self.shape(),
                    2 * h
                ),
            });
        }
        if hook::is_recording() {
            return backward_composite(self, gates, c_prev, h);
        }
        hook::paused(|| {
            let (g, a, c) = (
                self.contiguous()?,
                gates.contiguous()?,
                c_prev.contiguous()?,
            );
            let kernel = if n * h == 0 {
                None
            } else {
                self.device().backend().lstm_cell_backward(
                    g.storage(),
                    g.layout(),
                    a.storage(),
                    a.layout(),
                    c.storage(),
                    c.layout(),
                    n,
                    h,
                )
            };
            match kernel {
                Some(r) => {
                    let (da, dc) = r?;
                    let dev = *self.device();
                    Ok((
                        Tensor::from_storage(da, Layout::contiguous(Shape::from([n, 4 * h])), dev),
                        Tensor::from_storage(dc, Layout::contiguous(Shape::from([n, h])), dev),
                    ))
                }
                None => backward_composite(&g, &a, &c, h),
            }
        })
    }
}

impl Tensor {
    /// The backend's fused kernel for the LSTM recurrence of a whole sequence, when it has
    /// one: from the input projections `xp` `[L, N, 4H]` (gates in the order i, f, g, o),
    /// the recurrent weight `w_hh` `[4H, H]` and the initial states `h0`, `c0` `[N, H]`,
    /// `(states [L, N, 2H], acts [L, N, 4H])` with `states_t = lstm_cell(a_t, c_{t−1})`
    /// (`h_t` then `c_t`) for the pre-activations `a_t = xp_t + h_{t−1} w_hhᵀ`, and their
    /// activations `acts_t = σ(i), σ(f), tanh(g), σ(o)` (kept for the backward); `Ok(None)`
    /// when the backend has no kernel for this dtype (the CPU's is f32) or a dim is empty.
    ///
    /// Not recorded on a tape: `nn`'s `lstm_sequence` op records the recurrence, takes its
    /// gradient from [`lstm_sequence_backward_kernel`](Tensor::lstm_sequence_backward_kernel)
    /// and otherwise runs the composite of `matmul` and [`lstm_cell`](Tensor::lstm_cell).
    ///
    /// Errors: shapes that do not fit together, mixed dtypes or devices, a non-float dtype.
    pub fn lstm_sequence_kernel(
        xp: &Tensor,
        w_hh: &Tensor,
        h0: &Tensor,
        c0: &Tensor,
    ) -> Result<Option<(Tensor, Tensor)>> {
        const OP: &str = "lstm_sequence_kernel";
        let [len, n, h] = sequence_dims(OP, xp, w_hh, &[("h0", h0), ("c0", c0)], 4)?;
        if len * n * h == 0 {
            return Ok(None);
        }
        hook::paused(|| {
            let [x, w, h0, c0] = [xp, w_hh, h0, c0].map(Tensor::contiguous);
            let (x, w, h0, c0) = (x?, w?, h0?, c0?);
            let kernel = xp.device().backend().lstm_sequence(
                (x.storage(), x.layout()),
                (w.storage(), w.layout()),
                (h0.storage(), h0.layout()),
                (c0.storage(), c0.layout()),
                [len, n, h],
            );
            let Some(r) = kernel else {
                return Ok(None);
            };
            let (states, gates) = r?;
            let dev = *xp.device();
            let t = |s, w: usize| {
                Tensor::from_storage(s, Layout::contiguous(Shape::from([len, n, w])), dev)
            };
            Ok(Some((t(states, 2 * h), t(gates, 4 * h))))
        })
    }

    /// The gradients of [`lstm_sequence_kernel`](Tensor::lstm_sequence_kernel) with
    /// respect to `xp`, `h0` and `c0`, from the states' gradient `self` (`[L, N, 2H]`) and
    /// the forward's activated gates `acts`, `states`, `w_hh` and `c0`:
    /// `(d xp [L, N, 4H], d h0, d c0)`.
    /// `w_hh`'s gradient is `d xpᵀ` times the previous hidden states, one matmul the
    /// caller forms. `Ok(None)` when the backend has no kernel. Not recorded.
    ///
    /// Errors: shapes that do not fit together, mixed dtypes or devices.
    pub fn lstm_sequence_backward_kernel(
        &self,
        acts: &Tensor,
        states: &Tensor,
        w_hh: &Tensor,
        c0: &Tensor,
    ) -> Result<Option<(Tensor, Tensor, Tensor)>> {
        const OP: &str = "lstm_sequence_backward_kernel";
        let [len, n, h] = sequence_dims(OP, acts, w_hh, &[("c0", c0)], 4)?;
        for (name, t) in [("grad", self), ("states", states)] {
            t.check_same(acts, OP)?;
            if t.dims() != [len, n, 2 * h] {
                return Err(Error::Invalid {
                    op: OP,
                    msg: format!("{name} {}, expected [{len}, {n}, {}]", t.shape(), 2 * h),
                });
            }
        }
        if len * n * h == 0 {
            return Ok(None);
        }
        hook::paused(|| {
            let [g, a, st, w, c0] = [self, acts, states, w_hh, c0].map(Tensor::contiguous);
            let (g, a, st, w, c0) = (g?, a?, st?, w?, c0?);
            let kernel = self.device().backend().lstm_sequence_backward(
                (g.storage(), g.layout()),
                (a.storage(), a.layout()),
                (st.storage(), st.layout()),
                (w.storage(), w.layout()),
                (c0.storage(), c0.layout()),
                [len, n, h],
            );
            let Some(r) = kernel else {
                return Ok(None);
            };
            let (dxp, dh0, dc0) = r?;
            let dev = *self.device();
            let t =
                |s, d: &[usize]| Tensor::from_storage(s, Layout::contiguous(Shape::from(d)), dev);
            Ok(Some((
                t(dxp, &[len, n, 4 * h]),
                t(dh0, &[n, h]),
                t(dc0, &[n, h]),
            )))
        })
    }
}

/// `[L, N, H]` after checking a float `seq` `[L, N, G·H]`, `w_hh` `[G·H, H]` and each
/// state `[N, H]`, all of one dtype and device.
fn sequence_dims(
    op: &'static str,
    seq: &Tensor,
    w_hh: &Tensor,
    states: &[(&str, &Tensor)],
    gates: usize,
) -> Result<[usize; 3]> {
    seq.check_float(op)?;
    let (sd, wd) = (seq.dims(), w_hh.dims());
    let fits = sd.len() == 3 && wd.len() == 2 && wd[0] == gates * wd[1] && sd[2] == wd[0];
    if !fits {
        return Err(Error::Invalid {
            op,
            msg: format!(
                "sequence {}, w_hh {}: expected [L, N, {gates}H] and [{gates}H, H]",
                seq.shape(),
                w_hh.shape()
            ),
        });
    }
    let [len, n, h] = [sd[0], sd[1], wd[1]];
    seq.check_same(w_hh, op)?;
    for &(name, t) in states {
        seq.check_same(t, op)?;
        if t.dims() != [n, h] {
            return Err(Error::Invalid {
                op,
                msg: format!("{name} {}, expected [{n}, {h}]", t.shape()),
            });
        }
    }
    Ok([len, n, h])
}

/// `(N, H)` after checking gates `[N, 4H]` and `c_prev` `[N, H]` of one float dtype and device.
fn check(op: &'static str, gates: &Tensor, c_prev: &Tensor) -> Result<(usize, usize)> {
    gates.check_same(c_prev, op)?;
    gates.check_float(op)?;
    let (gd, cd) = (gates.dims(), c_prev.dims());
    if gd.len() != 2 || cd.len() != 2 || gd[0] != cd[0] || gd[1] != 4 * cd[1] {
        return Err(Error::Invalid {
            op,
            msg: format!(
                "gates {}, c_prev {}: expected [N, 4H] and [N, H]",
                gates.shape(),
                c_prev.shape()
            ),
        });
    }
    Ok((cd[0], cd[1]))
}

/// The four activated gates `i, f, g, o`, each `[N, H]`.
fn activations(gates: &Tensor, h: usize) -> Result<[Tensor; 4]> {
    Ok([
        gates.narrow(1, 0, h)?.sigmoid()?,
        gates.narrow(1, h, h)?.sigmoid()?,
        gates.narrow(1, 2 * h, h)?.tanh()?,
        gates.narrow(1, 3 * h, h)?.sigmoid()?,
    ])
}

fn forward_composite(gates: &Tensor, c_prev: &Tensor, h: usize) -> Result<Tensor> {
    let [i, f, g, o] = activations(gates, h)?;
    let c = ((&f * c_prev)? + (&i * &g)?)?;
    let hn = (&o * c.tanh()?)?;
    Tensor::cat(&[&hn, &c], 1)
}

/// `c_total = g_c + g_h ⊙ o ⊙ (1 − tanh²c)`; then `d_i = c_total ⊙ g ⊙ i(1 − i)`,
/// `d_f = c_total ⊙ c_prev ⊙ f(1 − f)`, `d_g = c_total ⊙ i ⊙ (1 − g²)`,
/// `d_o = g_h ⊙ tanh c ⊙ o(1 − o)` and `d_c_prev = c_total ⊙ f`.
fn backward_composite(
    grad: &Tensor,
    gates: &Tensor,
    c_prev: &Tensor,
    h: usize,
) -> Result<(Tensor, Tensor)> {
    let [i, f, g, o] = activations(gates, h)?;
    let (gh, gc) = (grad.narrow(1, 0, h)?, grad.narrow(1, h, h)?);
    let tc = ((&f * c_prev)? + (&i * &g)?)?.tanh()?;
    let slope = |s: &Tensor| -> Result<Tensor> { s * &(1.0 - s)? };
    let total = (&gc + &(&(&gh * &o)? * &(1.0 - &tc.square()?)?)?)?;
    let di = (&(&total * &g)? * &slope(&i)?)?;
    let df = (&(&total * c_prev)? * &slope(&f)?)?;
    let dg = (&(&total * &i)? * &(1.0 - &g.square()?)?)?;
    let d_o = (&(&gh * &tc)? * &slope(&o)?)?;
    let dc = (&total * &f)?;
    Ok((Tensor::cat(&[&di, &df, &dg, &d_o], 1)?, dc))
}

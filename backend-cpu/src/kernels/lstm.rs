//! The LSTM cell update (`Tensor::lstm_cell`) forward and backward, fused: per row of the
//! batch the gate activations (the SIMD sigmoid and tanh for f32), the new states and, going
//! back, every gate's gradient, in one pass over the row. The backward recomputes the
//! activations from the saved pre-activation gates instead of saving them.

use lamina_tensor::{Real, UnaryOp};

use super::num::Num;
use crate::alloc::{PoolElem, PoolVec};
use crate::par;

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

/// `[n, 2h]`: each row `h_new` then `c_new`, from contiguous `gates [n, 4h]` and
/// `c_prev [n, h]`.
pub fn forward<T: LstmElem>(gates: &[T], c_prev: &[T], n: usize, h: usize) -> PoolVec<T> {
    let mut out = PoolVec::<T>::uninit_for_overwrite(n * 2 * h);
    par::for_each_chunk_mut_weighted(&mut out, 2 * h, 16, |start, chunk| {
        let mut act = vec![<T as Real>::ZERO; 4 * h];
        for (k, row) in chunk.chunks_mut(2 * h).enumerate() {
            let r = start / (2 * h) + k;
            activate(&gates[r * 4 * h..(r + 1) * 4 * h], &mut act, h);
            let (hn, cn) = row.split_at_mut(h);
            let cp = &c_prev[r * h..(r + 1) * h];
            let (i, rest) = act.split_at(h);
            let (f, rest) = rest.split_at(h);
            let (g, o) = rest.split_at(h);
            for j in 0..h {
                cn[j] = f[j] * cp[j] + i[j] * g[j];
            }
            map(true, cn, hn);
            for (hv, &ov) in hn.iter_mut().zip(o) {
                *hv = ov * *hv;
            }
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
    let one = <T as Real>::ONE;
    // Each row writes its 4h gate gradients then its h cell gradient; split afterwards.
    let mut both = PoolVec::<T>::uninit_for_overwrite(n * 5 * h);
    par::for_each_chunk_mut_weighted(&mut both, 5 * h, 16, |start, chunk| {
        let mut act = vec![<T as Real>::ZERO; 4 * h];
        let mut c = vec![<T as Real>::ZERO; h];
        let mut tc = vec![<T as Real>::ZERO; h];
        for (k, row) in chunk.chunks_mut(5 * h).enumerate() {
            let r = start / (5 * h) + k;
            activate(&gates[r * 4 * h..(r + 1) * 4 * h], &mut act, h);
            let cp = &c_prev[r * h..(r + 1) * h];
            let (gh, gc) = grad[r * 2 * h..(r + 1) * 2 * h].split_at(h);
            for j in 0..h {
                c[j] = act[h + j] * cp[j] + act[j] * act[2 * h + j];
            }
            map(true, &c, &mut tc);
            let (da, dc) = row.split_at_mut(4 * h);
            for j in 0..h {
                let (i, f, g, o) = (act[j], act[h + j], act[2 * h + j], act[3 * h + j]);
                let total = gc[j] + gh[j] * o * (one - tc[j] * tc[j]);
                da[j] = total * g * i * (one - i);
                da[h + j] = total * cp[j] * f * (one - f);
                da[2 * h + j] = total * i * (one - g * g);
                da[3 * h + j] = gh[j] * tc[j] * o * (one - o);
                dc[j] = total * f;
            }
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

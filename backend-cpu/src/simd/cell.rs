//! The LSTM cell update and its backward, fused per row: the gate functions, the new
//! states and, going back, every gate's gradient, with the gates held in registers between
//! them instead of passing over scratch rows once per function. For the whole-sequence
//! kernel (`kernels::lstm`), which calls them once per step on a block of rows.
//!
//! One generic body over the [`Simd`] vocabulary (AVX-512, AVX2, and the one-lane
//! instantiation as the scalar path), with the polynomial `σ` and `tanh` of `math.rs`.

use super::math::{sigmoid_v, tanh_v};
use super::vector::{Lane1, Simd};
use super::{dispatch, Isa, Kernel};

/// Rows of a matrix inside a slice: row `r` starts at `data[r · stride]`.
#[derive(Clone, Copy)]
pub struct Rows<'a> {
    pub data: &'a [f32],
    pub stride: usize,
}

impl Rows<'_> {
    fn row(&self, r: usize, h: usize) -> &[f32] {
        &self.data[r * self.stride..][..h]
    }
}

/// One step of the cell for `m` rows of hidden size `h`: `gates` (`[m, 4h]`) holds the
/// pre-activations on entry and their activations `σ(i), σ(f), tanh(g), σ(o)` on return;
/// `c_prev` the previous cell states; `out` (`[m, 2h]`) receives `h_new` then `c_new` per
/// row, where `c_new = σ(f) c_prev + σ(i) tanh(g)` and `h_new = σ(o) tanh(c_new)`.
pub struct CellForward<'a> {
    pub h: usize,
    pub gates: &'a mut [f32],
    pub c_prev: Rows<'a>,
    pub out: &'a mut [f32],
}

/// The backward of one step for `m` rows: from the gradients `gh`, `gc` (`[m, h]`) of the
/// new states, the activations `acts` (`[m, 4h]`), the previous cell states `c_prev` and
/// the new ones `c_new`: the pre-activation gradients `da` (`[m, 4h]`) and the previous
/// cell state's `dc` (`[m, h]`).
pub struct CellBackward<'a> {
    pub h: usize,
    pub gh: &'a [f32],
    pub gc: &'a [f32],
    pub acts: &'a [f32],
    pub c_prev: Rows<'a>,
    pub c_new: Rows<'a>,
    pub da: &'a mut [f32],
    pub dc: &'a mut [f32],
}

impl Isa {
    /// Runs [`CellForward`] on this path. Panics if a slice is too short for its rows.
    pub fn lstm_cell_rows(self, k: CellForward<'_>) {
        dispatch(self, k)
    }
    /// Runs [`CellBackward`] on this path. Panics if a slice is too short for its rows.
    pub fn lstm_cell_backward_rows(self, k: CellBackward<'_>) {
        dispatch(self, k)
    }
}

/// Loads lanes `j..j + n` of `v` (`n` at most a vector; zeros past it).
#[inline(always)]
fn ld<S: Simd>(s: S, v: &[f32], j: usize, n: usize) -> S::V {
    if n == S::LANES {
        s.load(&v[j..])
    } else {
        s.load_tail(&v[j..j + n], 0.0)
    }
}

/// Stores the first `n` lanes of `x` at `v[j..]`.
#[inline(always)]
fn st<S: Simd>(s: S, v: &mut [f32], j: usize, n: usize, x: S::V) {
    if n == S::LANES {
        s.store(&mut v[j..], x)
    } else {
        s.store_tail(&mut v[j..j + n], x)
    }
}

impl Kernel for CellForward<'_> {
    type Output = ();
    #[inline(always)]
    fn simd<S: Simd>(self, s: S) {
        forward(s, self)
    }
    fn scalar(self) {
        forward(Lane1, self)
    }
}

impl Kernel for CellBackward<'_> {
    type Output = ();
    #[inline(always)]
    fn simd<S: Simd>(self, s: S) {
        backward(s, self)
    }
    fn scalar(self) {
        backward(Lane1, self)
    }
}

#[inline(always)]
fn forward<S: Simd>(s: S, k: CellForward<'_>) {
    let h = k.h;
    if h == 0 {
        return;
    }
    for (r, (a, out)) in k
        .gates
        .chunks_exact_mut(4 * h)
        .zip(k.out.chunks_exact_mut(2 * h))
        .enumerate()
    {
        let cp = k.c_prev.row(r, h);
        let (ai, rest) = a.split_at_mut(h);
        let (af, rest) = rest.split_at_mut(h);
        let (ag, ao) = rest.split_at_mut(h);
        let (hn, cn) = out.split_at_mut(h);
        let mut j = 0;
        while j < h {
            let n = S::LANES.min(h - j);
            let i = sigmoid_v(s, ld(s, ai, j, n));
            let f = sigmoid_v(s, ld(s, af, j, n));
            let g = tanh_v(s, ld(s, ag, j, n));
            let o = sigmoid_v(s, ld(s, ao, j, n));
            let c = s.mul_add(f, ld(s, cp, j, n), s.mul(i, g));
            st(s, ai, j, n, i);
            st(s, af, j, n, f);
            st(s, ag, j, n, g);
            st(s, ao, j, n, o);
            st(s, cn, j, n, c);
            st(s, hn, j, n, s.mul(o, tanh_v(s, c)));
            j += n;
        }
    }
}

#[inline(always)]
fn backward<S: Simd>(s: S, k: CellBackward<'_>) {
    let h = k.h;
    if h == 0 {
        return;
    }
    let one = s.splat(1.0);
    for (r, ((da, dc), acts)) in
        k.da.chunks_exact_mut(4 * h)
            .zip(k.dc.chunks_exact_mut(h))
            .zip(k.acts.chunks_exact(4 * h))
            .enumerate()
    {
        let (gh, gc) = (&k.gh[r * h..][..h], &k.gc[r * h..][..h]);
        let (cp, cn) = (k.c_prev.row(r, h), k.c_new.row(r, h));
        let (ai, rest) = acts.split_at(h);
        let (af, rest) = rest.split_at(h);
        let (ag, ao) = rest.split_at(h);
        let (di, rest) = da.split_at_mut(h);
        let (df, rest) = rest.split_at_mut(h);
        let (dg, d_o) = rest.split_at_mut(h);
        let mut j = 0;
        while j < h {
            let n = S::LANES.min(h - j);
            let (i, f) = (ld(s, ai, j, n), ld(s, af, j, n));
            let (g, o) = (ld(s, ag, j, n), ld(s, ao, j, n));
            let tc = tanh_v(s, ld(s, cn, j, n));
            let gh = ld(s, gh, j, n);
            // total = gc + gh·o·(1 − tanh² c)
            let total = s.mul_add(s.mul(gh, o), s.sub(one, s.mul(tc, tc)), ld(s, gc, j, n));
            let slope = |x: S::V| s.mul(x, s.sub(one, x));
            st(s, di, j, n, s.mul(s.mul(total, g), slope(i)));
            st(s, df, j, n, s.mul(s.mul(total, ld(s, cp, j, n)), slope(f)));
            st(s, dg, j, n, s.mul(s.mul(total, i), s.sub(one, s.mul(g, g))));
            st(s, d_o, j, n, s.mul(s.mul(gh, tc), slope(o)));
            st(s, dc, j, n, s.mul(total, f));
            j += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    fn val(i: usize, scale: f32) -> f32 {
        ((i * 7919 % 2003) as f32 / 2003.0 * 2.0 - 1.0) * scale
    }

    #[test]
    fn rows_match_the_cell_in_f64_on_every_path() {
        // Hidden sizes below, at and past a vector; previous states with a row stride.
        for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
            for &h in &[1usize, 5, 8, 16, 23, 40] {
                let m = 3;
                let pre: Vec<f32> = (0..m * 4 * h).map(|i| val(i, 4.0)).collect();
                let cp_data: Vec<f32> = (0..m * (h + 2)).map(|i| val(i + 77, 2.0)).collect();
                let c_prev = Rows {
                    data: &cp_data,
                    stride: h + 2,
                };
                let mut acts = pre.clone();
                let mut out = vec![0.0; m * 2 * h];
                isa.lstm_cell_rows(CellForward {
                    h,
                    gates: &mut acts,
                    c_prev,
                    out: &mut out,
                });
                let gh: Vec<f32> = (0..m * h).map(|i| val(i + 5, 1.0)).collect();
                let gc: Vec<f32> = (0..m * h).map(|i| val(i + 9, 1.0)).collect();
                let c_new = Rows {
                    data: &out[h..],
                    stride: 2 * h,
                };
                let (mut da, mut dc) = (vec![0.0; m * 4 * h], vec![0.0; m * h]);
                isa.lstm_cell_backward_rows(CellBackward {
                    h,
                    gh: &gh,
                    gc: &gc,
                    acts: &acts,
                    c_prev,
                    c_new,
                    da: &mut da,
                    dc: &mut dc,
                });
                for r in 0..m {
                    for j in 0..h {
                        let a = |q: usize| pre[r * 4 * h + q * h + j] as f64;
                        let (i, f, g, o) = (sig(a(0)), sig(a(1)), a(2).tanh(), sig(a(3)));
                        let cp = cp_data[r * (h + 2) + j] as f64;
                        let c = f * cp + i * g;
                        let tc = c.tanh();
                        let near = |got: f32, want: f64, what: &str| {
                            assert!(
                                (got as f64 - want).abs() < 2e-6 * (1.0 + want.abs()),
                                "{isa:?} h{h} row {r} col {j} {what}: {got} vs {want}"
                            )
                        };
                        for (q, want) in [i, f, g, o].into_iter().enumerate() {
                            near(acts[r * 4 * h + q * h + j], want, "activation");
                        }
                        near(out[r * 2 * h + h + j], c, "c");
                        near(out[r * 2 * h + j], o * tc, "h");
                        let (ghv, gcv) = (gh[r * h + j] as f64, gc[r * h + j] as f64);
                        let total = gcv + ghv * o * (1.0 - tc * tc);
                        let want = [
                            total * g * i * (1.0 - i),
                            total * cp * f * (1.0 - f),
                            total * i * (1.0 - g * g),
                            ghv * tc * o * (1.0 - o),
                        ];
                        for (q, want) in want.into_iter().enumerate() {
                            near(da[r * 4 * h + q * h + j], want, "gate gradient");
                        }
                        near(dc[r * h + j], total * f, "dc");
                    }
                }
            }
        }
    }
}

//! Requantisation: the int8 GEMM's i32 accumulators back to real values (or to u8 with an
//! output scale and zero point), per-output-channel weight scales, optional bias and ReLU.

use crate::par;

/// How [`requantize`] maps accumulators back to real values: activations `x = s_a (q_a -
/// z_a)` (per tensor), weights `w(kk, j) = s_b[j] · B(kk, j)` (symmetric, per output
/// channel, as PyTorch's `per_channel_symmetric` qint8 weights).
#[derive(Clone, Copy, Debug)]
pub struct Requant<'a> {
    /// `s_a`, the activation scale.
    pub a_scale: f32,
    /// `z_a`, the activation zero point.
    pub a_zero: i32,
    /// `s_b[j]`, one weight scale per output column (length `n`).
    pub b_scales: &'a [f32],
    /// `Σ_kk B(kk, j)`, from [`PackedI8::col_sums`] (length `n`).
    pub col_sums: &'a [i32],
    /// An optional bias per output column (length `n`).
    pub bias: Option<&'a [f32]>,
    /// Whether to apply ReLU to the real output.
    pub relu: bool,
}

impl Requant<'_> {
    /// Panics unless every per-column slice has length `n` and `acc` is whole rows of `n`.
    fn check(&self, acc: usize, out: usize) -> usize {
        let n = self.b_scales.len();
        assert_eq!(self.col_sums.len(), n, "requantize: col_sums length");
        assert!(
            self.bias.is_none_or(|b| b.len() == n),
            "requantize: bias length"
        );
        assert!(
            acc == out && n > 0 && acc.is_multiple_of(n),
            "requantize: {acc} accumulators, {out} outputs, n = {n}"
        );
        n
    }

    /// Output element `j` of a row from its accumulator.
    #[inline(always)]
    fn real(&self, acc: i32, j: usize) -> f32 {
        let centred = acc.wrapping_sub(self.a_zero.wrapping_mul(self.col_sums[j]));
        let y =
            centred as f32 * (self.a_scale * self.b_scales[j]) + self.bias.map_or(0.0, |b| b[j]);
        if self.relu {
            y.max(0.0)
        } else {
            y
        }
    }
}

/// `y(i, j) = s_a s_b[j] (C(i, j) - z_a Σ_kk B(kk, j)) + bias[j]`, then `max(y, 0)` if
/// `q.relu`: the real product `x · w + bias` from [`PackedI8::gemm`]'s `C` (`m × n`
/// row-major, in f32). Panics on mismatched lengths.
///
/// ```
/// use lamina_backend_cpu::qgemm::{requantize, Requant};
/// let q = Requant { a_scale: 0.5, a_zero: 2, b_scales: &[0.25], col_sums: &[3], bias: Some(&[1.0]), relu: false };
/// let mut y = [0.0f32; 1];
/// requantize(&[10], &q, &mut y); // 0.5 · 0.25 · (10 - 2·3) + 1
/// assert_eq!(y, [1.5]);
/// ```
pub fn requantize(acc: &[i32], q: &Requant, out: &mut [f32]) {
    let n = q.check(acc.len(), out.len());
    // Per-column terms once, then whole rows, which the compiler vectorises: the same
    // operations in the same order as `Requant::real`.
    let zc: Vec<i32> = q
        .col_sums
        .iter()
        .map(|&c| q.a_zero.wrapping_mul(c))
        .collect();
    let sc: Vec<f32> = q.b_scales.iter().map(|&s| q.a_scale * s).collect();
    let zero = vec![0.0f32; if q.bias.is_some() { 0 } else { n }];
    let bias = q.bias.unwrap_or(&zero);
    par::for_each_chunk_mut_weighted(out, n, 2, |start, chunk| {
        for (orow, arow) in chunk.chunks_mut(n).zip(acc[start..].chunks(n)) {
            for ((((o, &x), &z), &s), &b) in orow.iter_mut().zip(arow).zip(&zc).zip(&sc).zip(bias) {
                let y = x.wrapping_sub(z) as f32 * s + b;
                *o = if q.relu { y.max(0.0) } else { y };
            }
        }
    });
}

/// [`requantize`]'s `y` quantised again to u8: `clamp(round_half_even(y / out_scale) +
/// out_zero, 0, 255)` (a fused ReLU lifts the lower bound to `out_zero`). Panics on
/// mismatched lengths.
///
/// ```
/// use lamina_backend_cpu::qgemm::{requantize_u8, Requant};
/// let q = Requant { a_scale: 1.0, a_zero: 0, b_scales: &[1.0], col_sums: &[0], bias: None, relu: true };
/// let mut y = [0u8; 3];
/// requantize_u8(&[-7, 5, 1000], &q, 0.5, 10, &mut y);
/// assert_eq!(y, [10, 20, 255]);
/// ```
pub fn requantize_u8(acc: &[i32], q: &Requant, out_scale: f32, out_zero: i32, out: &mut [u8]) {
    let n = q.check(acc.len(), out.len());
    par::for_each_chunk_mut_weighted(out, n, 4, |start, chunk| {
        for (o, (j, &x)) in chunk.iter_mut().zip(acc[start..].iter().enumerate()) {
            let v = (q.real(x, j % n) / out_scale).round_ties_even() + out_zero as f32;
            *o = v.clamp(0.0, 255.0) as u8;
        }
    });
}

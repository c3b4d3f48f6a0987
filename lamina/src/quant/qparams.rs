//! Quantisation parameters as PyTorch computes them, and the conversions between real
//! values and 8-bit integers: activations affine per tensor in `u8` (PyTorch's `quint8`,
//! `MinMaxObserver` + `quantize_per_tensor`), weights symmetric per output channel in `i8`
//! (`qint8`, `PerChannelMinMaxObserver` with `per_channel_symmetric` +
//! `quantize_per_channel`). All arithmetic is in f32, in PyTorch's order, so the integers
//! agree with PyTorch's (checked on committed fixtures).

/// PyTorch's observer `eps`: the smallest scale (`torch.finfo(torch.float32).eps`).
const EPS: f32 = f32::EPSILON;

/// An affine map between reals and `u8`: `x ≈ scale · (q − zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QParams {
    pub scale: f32,
    pub zero_point: i32,
}

impl QParams {
    /// The parameters that cover `[min, max]` widened to include 0 (so 0 is exact):
    /// `scale = (max⁺ − min⁻) / 255` (at least `eps`), `zero_point = −round(min⁻ / scale)`
    /// clamped to `0..=255`, rounding half to even (`MinMaxObserver`, `quint8`).
    ///
    /// ```
    /// use lamina::quant::QParams;
    /// let q = QParams::from_range(-1.0, 3.0);
    /// assert_eq!((q.scale, q.zero_point), (4.0 / 255.0, 64));
    /// ```
    pub fn from_range(min: f32, max: f32) -> QParams {
        let (lo, hi) = (min.min(0.0), max.max(0.0));
        let scale = ((hi - lo) / 255.0).max(EPS);
        let zero_point = (-(lo / scale).round_ties_even() as i32).clamp(0, 255);
        QParams { scale, zero_point }
    }

    /// `clamp(zero_point + round(x · (1 / scale)), 0, 255)`, half to even (ATen's
    /// `quantize_val`, which multiplies by the f32 inverse scale).
    #[inline]
    pub fn quantize(&self, x: f32) -> u8 {
        let inv = 1.0 / self.scale;
        // Values past ±512 clamp to 0 or 255 either way; below 2^22 in magnitude, adding
        // and removing 1.5·2^23 rounds half to even in the default rounding mode, as
        // `round_ties_even` does, without a libm call.
        const MAGIC: f32 = 12_582_912.0;
        let y = (x * inv).clamp(-512.0, 512.0);
        let r = if y.is_nan() { y } else { (y + MAGIC) - MAGIC };
        (self.zero_point as f32 + r).clamp(0.0, 255.0) as u8
    }

    /// `scale · (q − zero_point)`.
    pub fn dequantize(&self, q: u8) -> f32 {
        self.scale * (q as i32 - self.zero_point) as f32
    }
}

/// Symmetric per-row `i8` quantisation of a weight `[rows, cols]` (row-major; rows are
/// output channels): `scale[r] = max|w[r, ·]| / 127.5` (at least `eps`; PyTorch's
/// `(quant_max − quant_min) / 2` for `−128..=127`), `q = clamp(round(w · (1 / scale)),
/// −128, 127)`, zero points 0. Returns the integers and the scales.
///
/// ```
/// let (q, s) = lamina::quant::quantize_per_channel(&[0.5, -1.0, 0.25, 0.0], 2, 2);
/// assert_eq!(s, [1.0 / 127.5, 0.25 / 127.5]);
/// // −1.0 times the f32 inverse scale is −127.49999: −127, as in PyTorch.
/// assert_eq!(q, [64, -127, 127, 0]);
/// ```
pub fn quantize_per_channel(w: &[f32], rows: usize, cols: usize) -> (Vec<i8>, Vec<f32>) {
    debug_assert_eq!(w.len(), rows * cols);
    let scales = per_channel_scales(w, rows, cols);
    let q = w
        .chunks(cols.max(1))
        .zip(&scales)
        .flat_map(|(row, &scale)| {
            let inv = 1.0 / scale;
            row.iter()
                .map(move |&v| (v * inv).round_ties_even().clamp(-128.0, 127.0) as i8)
        })
        .collect();
    (q, scales)
}

/// The scales of [`quantize_per_channel`] alone: `max|w[r, ·]| / 127.5` per row (at least
/// `eps`). Quantisation-aware training fake-quantises weights with them, so its forward
/// and the converted `i8` weights agree integer for integer.
///
/// ```
/// let s = lamina::quant::per_channel_scales(&[0.5, -1.0, 0.25, 0.0], 2, 2);
/// assert_eq!(s, [1.0 / 127.5, 0.25 / 127.5]);
/// ```
pub fn per_channel_scales(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    debug_assert_eq!(w.len(), rows * cols);
    w.chunks(cols.max(1))
        .take(rows)
        .map(|row| {
            let (lo, hi) = row
                .iter()
                .fold((0.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            ((-lo).max(hi) / 127.5).max(EPS)
        })
        .collect()
}

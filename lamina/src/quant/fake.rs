//! Fake quantisation: a tensor rounded onto an integer grid and mapped straight back to
//! reals, as differentiable ops for quantisation-aware training (PyTorch's
//! `torch.fake_quantize_per_tensor_affine` and `torch.fake_quantize_per_channel_affine`).
//! The forward repeats ATen's CPU kernels' arithmetic (`fake_quantize_tensor_cachemask`,
//! `fake_quant_per_channel_cachemask`) so the values agree with PyTorch's bit for bit;
//! the backward is the straight-through estimator with PyTorch's mask. Scales and zero
//! points are constants here (no learned scales, as in LSQ).

use std::rc::Rc;

use lamina_autograd::{apply_custom, CustomOp};
use lamina_tensor::{DType, Error, Result, Tensor};

/// `x` fake-quantised with one scale and zero point:
/// `(clamp(zero_point + round(x · (1 / scale)), quant_min, quant_max) − zero_point) · scale`,
/// rounding half to even, `1 / scale` in f32 (ATen's `inv_scale`). The gradient is the
/// output gradient where `zero_point + round(x / scale)` lay inside `[quant_min,
/// quant_max]` before clamping and 0 elsewhere (the straight-through estimator with
/// PyTorch's mask); `scale` and `zero_point` get none.
///
/// f32 and f64 inputs, any shape, the result in the input's dtype and shape. NaN maps to
/// `quant_min` and ±∞ to the nearer bound, as in ATen's kernel. An error if `scale` is not
/// positive and finite, `quant_min > quant_max`, or `zero_point` lies outside them.
///
/// ```
/// use lamina::prelude::*;
/// use lamina::quant::fake_quantize_per_tensor;
/// let x = Tensor::from_vec(vec![-0.3f32, 0.124, 0.125, 0.375, 9.0], [5], &Device::cpu())?;
/// let y = fake_quantize_per_tensor(&x, 0.25, 0, 0, 15)?;
/// // 0.125 / 0.25 is a tie: to the even 0; 0.375 / 0.25 = 1.5 rounds to 2; 9.0 clamps.
/// assert_eq!(y.to_vec::<f32>()?, [0.0, 0.0, 0.0, 0.5, 3.75]);
/// # Ok::<(), lamina::Error>(())
/// ```
pub fn fake_quantize_per_tensor(
    x: &Tensor,
    scale: f32,
    zero_point: i32,
    quant_min: i32,
    quant_max: i32,
) -> Result<Tensor> {
    let op = FakeQuantize {
        name: "fake_quantize_per_tensor",
        scales: vec![scale],
        zero_points: vec![zero_point],
        axis: None,
        quant_min,
        quant_max,
    };
    op.check(x)?;
    apply_custom(Rc::new(op), &[x])
}

/// `x` fake-quantised per channel along `axis`: the elements with index `c` on `axis` use
/// `scales[c]` and `zero_points[c]`, with the formula, gradient and rounding of
/// [`fake_quantize_per_tensor`] (PyTorch's `torch.fake_quantize_per_channel_affine`, whose
/// CPU kernel computes the same integers). `scales` and `zero_points` have one entry per
/// index of `axis`.
///
/// ```
/// use lamina::prelude::*;
/// use lamina::quant::fake_quantize_per_channel;
/// // Rows are channels (axis 0), symmetric int8 as for weights.
/// let w = Tensor::from_vec(vec![0.5f32, -1.0, 0.02, 0.03], [2, 2], &Device::cpu())?;
/// let y = fake_quantize_per_channel(&w, &[0.25, 0.01], &[0, 0], 0, -128, 127)?;
/// assert_eq!(y.to_vec::<f32>()?, [0.5, -1.0, 0.02, 0.03]);
/// # Ok::<(), lamina::Error>(())
/// ```
pub fn fake_quantize_per_channel(
    x: &Tensor,
    scales: &[f32],
    zero_points: &[i32],
    axis: usize,
    quant_min: i32,
    quant_max: i32,
) -> Result<Tensor> {
    let op = FakeQuantize {
        name: "fake_quantize_per_channel",
        scales: scales.to_vec(),
        zero_points: zero_points.to_vec(),
        axis: Some(axis),
        quant_min,
        quant_max,
    };
    op.check(x)?;
    apply_custom(Rc::new(op), &[x])
}

/// One fake-quantisation: its parameters, per tensor (`axis` `None`, one scale) or per
/// channel.
#[derive(Clone, Debug)]
struct FakeQuantize {
    name: &'static str,
    scales: Vec<f32>,
    zero_points: Vec<i32>,
    axis: Option<usize>,
    quant_min: i32,
    quant_max: i32,
}

/// The fake-quantised values in the input's dtype.
enum Values {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl FakeQuantize {
    /// PyTorch's argument checks, plus a positive, finite scale (1 / scale must exist).
    fn check(&self, x: &Tensor) -> Result<()> {
        let bad = |msg: String| Err(Error::Invalid { op: self.name, msg });
        if self.quant_min > self.quant_max {
            return bad(format!(
                "quant_min {} is greater than quant_max {}",
                self.quant_min, self.quant_max
            ));
        }
        if let Some(axis) = self.axis {
            let Some(&n) = x.dims().get(axis) else {
                return bad(format!(
                    "axis {axis} is out of range for input {}",
                    x.shape()
                ));
            };
            if self.scales.len() != n || self.zero_points.len() != n {
                return bad(format!(
                    "{} scales and {} zero points for {n} channels on axis {axis} of input {}",
                    self.scales.len(),
                    self.zero_points.len(),
                    x.shape()
                ));
            }
        }
        if let Some(s) = self.scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return bad(format!("scale {s} is not positive and finite"));
        }
        let (lo, hi) = (self.quant_min, self.quant_max);
        if let Some(z) = self.zero_points.iter().find(|z| !(lo..=hi).contains(*z)) {
            return bad(format!("zero point {z} is outside [{lo}, {hi}]"));
        }
        Ok(())
    }

    /// The channel of each element of `x` (row-major), as `(channels, elements per index
    /// of the axis)`: element `i` is in channel `(i / inner) % channels`.
    fn channels(&self, x: &Tensor) -> (usize, usize) {
        match self.axis {
            Some(a) => (x.dims()[a], x.dims()[a + 1..].iter().product()),
            None => (1, 1),
        }
    }

    /// The values and the mask (inside the range before clamping) of every element.
    fn run(&self, x: &Tensor) -> Result<(Values, Vec<bool>)> {
        let (n, inner) = self.channels(x);
        let channel = |i: usize| (i / inner.max(1)) % n.max(1);
        let (qmin, qmax) = (self.quant_min, self.quant_max);
        let per_tensor = self.axis.is_none();
        match x.dtype() {
            DType::F32 => {
                let v = x.to_vec::<f32>()?;
                let (mut y, mut mask) = (Vec::with_capacity(v.len()), Vec::with_capacity(v.len()));
                for (i, &e) in v.iter().enumerate() {
                    let c = channel(i);
                    let (q, inside) = fq_f32(e, self.scales[c], self.zero_points[c], qmin, qmax);
                    y.push(q);
                    mask.push(inside);
                }
                Ok((Values::F32(y), mask))
            }
            DType::F64 => {
                let v = x.to_vec::<f64>()?;
                let (mut y, mut mask) = (Vec::with_capacity(v.len()), Vec::with_capacity(v.len()));
                for (i, &e) in v.iter().enumerate() {
                    let c = channel(i);
                    let (s, z) = (self.scales[c], self.zero_points[c]);
                    let (q, inside) = fq_f64(e, s, z, qmin, qmax, per_tensor);
                    y.push(q);
                    mask.push(inside);
                }
                Ok((Values::F64(y), mask))
            }
            // Fake quantisation simulates int8 on f32 (or f64) models only.
            DType::I64 | DType::U32 | DType::Bool | DType::F16 | DType::BF16 => {
                Err(Error::UnsupportedDType {
                    op: self.name,
                    dtype: x.dtype(),
                })
            }
        }
    }
}

/// One f32 element, in ATen's order: `q = zero_point + nearbyint(x · inv_scale)` in f32,
/// clamped in float (so NaN and ±∞ land on a bound), `(q − zero_point) · scale` in f32.
/// Returns the value and whether `q` was inside the range.
#[inline]
fn fq_f32(x: f32, scale: f32, zero_point: i32, qmin: i32, qmax: i32) -> (f32, bool) {
    let inv = 1.0 / scale;
    let q = zero_point as f32 + (x * inv).round_ties_even();
    let inside = qmin as f32 <= q && q <= qmax as f32;
    // `f32::max` ignores NaN, as C's `fmax` does: NaN becomes quant_min.
    let clamped = q.max(qmin as f32).min(qmax as f32) as i64;
    ((clamped - zero_point as i64) as f32 * scale, inside)
}

/// One f64 element: ATen multiplies by the f32 inverse scale in f64; its per-tensor kernel
/// rounds the result `(q − zero_point) · scale` to f32, its per-channel kernel keeps it in
/// f64.
#[inline]
fn fq_f64(
    x: f64,
    scale: f32,
    zero_point: i32,
    qmin: i32,
    qmax: i32,
    per_tensor: bool,
) -> (f64, bool) {
    let inv = 1.0f32 / scale;
    let q = zero_point as f64 + (x * inv as f64).round_ties_even();
    let inside = qmin as f64 <= q && q <= qmax as f64;
    let steps = q.max(qmin as f64).min(qmax as f64) as i64 - zero_point as i64;
    let y = if per_tensor {
        (steps as f32 * scale) as f64
    } else {
        steps as f64 * scale as f64
    };
    (y, inside)
}

impl CustomOp for FakeQuantize {
    fn name(&self) -> &str {
        self.name
    }

    fn forward(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        let x = inputs[0];
        let y = match self.run(x)?.0 {
            Values::F32(v) => Tensor::from_vec(v, x.dims(), x.device())?,
            Values::F64(v) => Tensor::from_vec(v, x.dims(), x.device())?,
        };
        Ok(y)
    }

    /// Straight-through: `dx = dy · [quant_min ≤ q ≤ quant_max]`. The mask is recomputed
    /// from the input, which keeps the op free of state between forward and backward.
    fn backward(
        &self,
        inputs: &[Tensor],
        _output: &Tensor,
        grad: &Tensor,
    ) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let (_, mask) = self.run(x)?;
        let mask: Vec<f32> = mask.into_iter().map(|m| f32::from(u8::from(m))).collect();
        let mask = Tensor::from_vec(mask, x.dims(), grad.device())?.to_dtype(grad.dtype())?;
        Ok(vec![Some((grad * &mask)?)])
    }
}

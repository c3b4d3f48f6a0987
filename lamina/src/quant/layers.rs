//! The int8 layers: `QLinear` and `QConv2d`, each an i8 weight (symmetric per output
//! channel) packed once for the CPU's int8 GEMM, an f32 bias and an optional fused ReLU.
//! A forward quantises its f32 input to `u8` (with the calibrated parameters: static
//! quantisation; or with the batch's own range: dynamic), multiplies in exact i32, and
//! requantises to f32: `y = s_a · s_w[j] · Σ (q_a − z_a) q_w + b[j]`. Convolution unfolds
//! the quantised input into patches (padding with the zero point, which is the real 0)
//! and runs the same GEMM.

use lamina_backend_cpu::qgemm::{requantize, PackedI8, Requant};
use lamina_backend_cpu::simd::isa;
use lamina_tensor::{Error, Result, Tensor};

use super::{quantize_per_channel, QParams};

/// The input's parameters: calibrated once, or from each batch's own range.
fn input_qparams(fixed: Option<QParams>, x: &[f32]) -> QParams {
    fixed.unwrap_or_else(|| {
        let (lo, hi) = x
            .iter()
            .fold((0.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        QParams::from_range(lo, hi)
    })
}

/// Errors on NaN or infinite input, which quantisation would silently clamp.
fn check_finite(op: &'static str, x: &[f32]) -> Result<()> {
    match x.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::Invalid {
            op,
            msg: format!("input element {i} is {} (not finite)", x[i]),
        }),
        None => Ok(()),
    }
}

/// The i8 weight of a layer, `[out, k]` row-major, its scales and its packed form.
#[derive(Clone, Debug)]
pub struct QWeight {
    /// `[out, k]`, row-major (a conv's `[out, c, kh, kw]` flattened).
    pub q: Vec<i8>,
    pub scales: Vec<f32>,
    pub out: usize,
    pub k: usize,
    packed: PackedI8,
}

impl QWeight {
    /// Quantises an f32 weight `[out, k]` symmetric per output channel.
    pub fn quantize(w: &[f32], out: usize, k: usize) -> QWeight {
        let (q, scales) = quantize_per_channel(w, out, k);
        QWeight::from_parts(q, scales, out, k)
    }

    /// A weight already in i8 (a loaded file), packed for this CPU.
    pub fn from_parts(q: Vec<i8>, scales: Vec<f32>, out: usize, k: usize) -> QWeight {
        // B(kk, j) = W[j, kk]: the GEMM's k × out right operand, read transposed.
        let packed = PackedI8::pack(isa(), &q, k, out, 1, k);
        QWeight {
            q,
            scales,
            out,
            k,
            packed,
        }
    }

    /// `rows × out` real outputs of the `rows × k` quantised input `a`.
    fn apply(
        &self,
        a: &[u8],
        rows: usize,
        qa: QParams,
        bias: Option<&[f32]>,
        relu: bool,
    ) -> Vec<f32> {
        let mut acc = vec![0i32; rows * self.out];
        self.packed.gemm(a, rows, &mut acc);
        let mut y = vec![0f32; rows * self.out];
        let rq = Requant {
            a_scale: qa.scale,
            a_zero: qa.zero_point,
            b_scales: &self.scales,
            col_sums: self.packed.col_sums(),
            bias,
            relu,
        };
        requantize(&acc, &rq, &mut y);
        y
    }
}

/// An int8 `Linear` (PyTorch's `torch.ao.nn.quantized.Linear`, or its dynamic
/// counterpart when `input` is `None`): `[.., in] → [.., out]`, f32 in and out.
#[derive(Clone, Debug)]
pub struct QLinear {
    pub weight: QWeight,
    pub bias: Option<Vec<f32>>,
    /// The calibrated input parameters; `None` quantises each batch by its own range.
    pub input: Option<QParams>,
    /// ReLU fused into the output.
    pub relu: bool,
}

impl QLinear {
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        const OP: &str = "QLinear";
        let k = self.weight.k;
        if x.dims().last() != Some(&k) {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("input {} does not end in {k} features", x.shape()),
            });
        }
        let xs = x.to_dtype(lamina_tensor::DType::F32)?.to_vec::<f32>()?;
        check_finite(OP, &xs)?;
        let qa = input_qparams(self.input, &xs);
        let a: Vec<u8> = xs.iter().map(|&v| qa.quantize(v)).collect();
        let rows = xs.len() / k.max(1);
        let y = self
            .weight
            .apply(&a, rows, qa, self.bias.as_deref(), self.relu);
        let mut dims = x.dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = self.weight.out;
        }
        Tensor::from_vec(y, dims, x.device())
    }
}

/// An int8 `Conv2d` (groups 1): `[N, C, H, W] → [N, OC, OH, OW]`, f32 in and out.
#[derive(Clone, Debug)]
pub struct QConv2d {
    /// `[OC, C·KH·KW]`.
    pub weight: QWeight,
    pub bias: Option<Vec<f32>>,
    pub in_channels: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub input: Option<QParams>,
    pub relu: bool,
}

impl QConv2d {
    /// The output's spatial size for an `h × w` input, or an error naming the sizes.
    fn output_size(&self, h: usize, w: usize) -> Result<[usize; 2]> {
        let mut out = [0; 2];
        for (d, size) in [h, w].into_iter().enumerate() {
            let span = self.dilation[d] * (self.kernel[d] - 1) + 1;
            let padded = size + 2 * self.padding[d];
            if padded < span {
                return Err(Error::Invalid {
                    op: "QConv2d",
                    msg: format!("input {h}x{w} is smaller than the kernel {:?}", self.kernel),
                });
            }
            out[d] = (padded - span) / self.stride[d] + 1;
        }
        Ok(out)
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        const OP: &str = "QConv2d";
        let &[n, c, h, w] = x.dims() else {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("input {} is not [N, C, H, W]", x.shape()),
            });
        };
        if c != self.in_channels {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "input {} has {c} channels, the layer {}",
                    x.shape(),
                    self.in_channels
                ),
            });
        }
        let [oh, ow] = self.output_size(h, w)?;
        let xs = x.to_dtype(lamina_tensor::DType::F32)?.to_vec::<f32>()?;
        check_finite(OP, &xs)?;
        let qa = input_qparams(self.input, &xs);
        let xq: Vec<u8> = xs.iter().map(|&v| qa.quantize(v)).collect();
        let [kh, kw] = self.kernel;
        let k = c * kh * kw;
        let rows = n * oh * ow;
        // Patches, one row per output position, columns in the weight's (c, ky, kx) order;
        // outside the input, the zero point (the real 0).
        let mut a = vec![qa.zero_point as u8; rows * k];
        for (r, patch) in a.chunks_mut(k).enumerate() {
            let (b, oy, ox) = (r / (oh * ow), (r / ow) % oh, r % ow);
            for ch in 0..c {
                let plane = &xq[(b * c + ch) * h * w..][..h * w];
                for ky in 0..kh {
                    let iy = (oy * self.stride[0] + ky * self.dilation[0]) as isize
                        - self.padding[0] as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    for kx in 0..kw {
                        let ix = (ox * self.stride[1] + kx * self.dilation[1]) as isize
                            - self.padding[1] as isize;
                        if ix >= 0 && ix < w as isize {
                            patch[(ch * kh + ky) * kw + kx] = plane[iy as usize * w + ix as usize];
                        }
                    }
                }
            }
        }
        let y = self
            .weight
            .apply(&a, rows, qa, self.bias.as_deref(), self.relu);
        // [N·OH·OW, OC] → [N, OC, OH, OW].
        let oc = self.weight.out;
        let mut out = vec![0f32; y.len()];
        for (r, row) in y.chunks(oc).enumerate() {
            let (b, pos) = (r / (oh * ow), r % (oh * ow));
            for (j, &v) in row.iter().enumerate() {
                out[(b * oc + j) * oh * ow + pos] = v;
            }
        }
        Tensor::from_vec(out, [n, oc, oh, ow], x.device())
    }
}

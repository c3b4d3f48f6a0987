//! The int8 layers: `QLinear` and `QConv2d`, each an i8 weight (symmetric per output
//! channel) packed once for the CPU's int8 GEMM, an f32 bias and an optional fused ReLU.
//! A forward quantises its f32 input to `u8` (with the calibrated parameters: static
//! quantisation; or with the batch's own range: dynamic), multiplies in exact i32, and
//! requantises to f32: `y = s_a · s_w[j] · Σ (q_a − z_a) q_w + b[j]`. Convolution unfolds
//! the quantised input into patches (padding with the zero point, which is the real 0)
//! and runs the same GEMM.

use std::cell::RefCell;

use lamina_backend_cpu::alloc::PoolVec;
use lamina_backend_cpu::par;
use lamina_backend_cpu::qgemm::{requantize, PackedI8, Requant};
use lamina_backend_cpu::simd::isa;
use lamina_backend_cpu::CpuStorage;
use lamina_tensor::{share_storage, Device, Error, Layout, Result, Tensor};

use super::{quantize_per_channel, QParams};

/// The input's parameters (calibrated once, or from the batch's own range), after one
/// parallel pass that also rejects NaN or infinite input, which quantisation would
/// silently clamp.
fn input_qparams(op: &'static str, fixed: Option<QParams>, x: &[f32]) -> Result<QParams> {
    let (lo, hi, bad) = par::map_reduce(
        x.len(),
        4096,
        |r| {
            let (mut lo, mut hi, mut bad) = (0.0f32, 0.0f32, None);
            for (i, &v) in x[r.clone()].iter().enumerate() {
                if !v.is_finite() && bad.is_none() {
                    bad = Some(r.start + i);
                }
                lo = lo.min(v);
                hi = hi.max(v);
            }
            (lo, hi, bad)
        },
        // Ranges arrive in order: the first bad index wins.
        |a, b| (a.0.min(b.0), a.1.max(b.1), a.2.or(b.2)),
    );
    if let Some(i) = bad {
        return Err(Error::Invalid {
            op,
            msg: format!("input element {i} is {} (not finite)", x[i]),
        });
    }
    Ok(fixed.unwrap_or_else(|| QParams::from_range(lo, hi)))
}

/// `x` quantised with `qa` into `out` (resized), in parallel.
fn quantize_into(x: &[f32], qa: QParams, out: &mut Vec<u8>) {
    out.resize(x.len(), 0);
    par::for_each_chunk_mut_weighted(out, 1, 2, |start, chunk| {
        for (q, &v) in chunk.iter_mut().zip(&x[start..]) {
            *q = qa.quantize(v);
        }
    });
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

    /// The `rows × out` real outputs of the `rows × k` quantised input `a`, written
    /// into `y` (`rows × out`), with `acc` a reused buffer for the i32 sums.
    #[allow(clippy::too_many_arguments)]
    fn apply_into(
        &self,
        a: &[u8],
        rows: usize,
        qa: QParams,
        bias: Option<&[f32]>,
        relu: bool,
        acc: &mut Vec<i32>,
        y: &mut [f32],
    ) {
        // Every element is written (the GEMM overwrites, requantisation maps).
        acc.resize(rows * self.out, 0);
        self.packed.gemm(a, rows, acc);
        let rq = Requant {
            a_scale: qa.scale,
            a_zero: qa.zero_point,
            b_scales: &self.scales,
            col_sums: self.packed.col_sums(),
            bias,
            relu,
        };
        requantize(acc, &rq, y);
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
        let qa = input_qparams(OP, self.input, &xs)?;
        let rows = xs.len() / k.max(1);
        let mut dims = x.dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = self.weight.out;
        }
        output(rows * self.weight.out, dims, x.device(), |y| {
            SCRATCH.with(|s| {
                let mut s = s.borrow_mut();
                let Scratch { xq, acc, .. } = &mut *s;
                quantize_into(&xs, qa, xq);
                self.weight
                    .apply_into(xq, rows, qa, self.bias.as_deref(), self.relu, acc, y)
            })
        })
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

/// `dims` of f32 written by `fill` (which must write every element), in a pooled CPU
/// buffer: a fresh `Vec` adopted by a tensor would be copied onto huge pages.
fn output(
    len: usize,
    dims: Vec<usize>,
    device: &Device,
    fill: impl FnOnce(&mut [f32]),
) -> Result<Tensor> {
    let mut v = PoolVec::<f32>::uninit_for_overwrite(len);
    fill(&mut v);
    let cpu = lamina_backend_cpu::device();
    if device.same(&cpu) {
        let storage = share_storage(CpuStorage::F32(v));
        Ok(Tensor::from_storage(storage, Layout::contiguous(dims), cpu))
    } else {
        Tensor::from_vec(v.into_vec(), dims, device)
    }
}

/// Buffers a thread's layers reuse from call to call: fresh tens of megabytes per
/// batch would cost a page fault per 4 KiB.
#[derive(Default)]
struct Scratch {
    xq: Vec<u8>,
    a: Vec<u8>,
    acc: Vec<i32>,
    y: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl QConv2d {
    /// Writes output position `r`'s patch of the quantised input `xq` (`[N, C, H, W]`)
    /// into `patch` (prefilled with the zero point), in the weight's `(c, ky, kx)` order.
    fn unfold(
        &self,
        xq: &[u8],
        r: usize,
        [c, h, w]: [usize; 3],
        [oh, ow]: [usize; 2],
        patch: &mut [u8],
    ) {
        let [kh, kw] = self.kernel;
        let (b, oy, ox) = (r / (oh * ow), (r / ow) % oh, r % ow);
        for ch in 0..c {
            let plane = &xq[(b * c + ch) * h * w..][..h * w];
            for ky in 0..kh {
                let iy = (oy * self.stride[0] + ky * self.dilation[0]) as isize
                    - self.padding[0] as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                let line = &plane[iy as usize * w..][..w];
                let dst = &mut patch[(ch * kh + ky) * kw..][..kw];
                let x0 = (ox * self.stride[1]) as isize - self.padding[1] as isize;
                if self.dilation[1] == 1 {
                    // The taps inside the row are one run: copy it.
                    let lo = (-x0).clamp(0, kw as isize) as usize;
                    let hi = (w as isize - x0).clamp(0, kw as isize) as usize;
                    if lo < hi {
                        // A few bytes: a loop, where `copy_from_slice` would call memmove.
                        let from = (x0 + lo as isize) as usize;
                        for (d, &v) in dst[lo..hi].iter_mut().zip(&line[from..]) {
                            *d = v;
                        }
                    }
                    continue;
                }
                for (kx, d) in dst.iter_mut().enumerate() {
                    let ix = x0 + (kx * self.dilation[1]) as isize;
                    if ix >= 0 && ix < w as isize {
                        *d = line[ix as usize];
                    }
                }
            }
        }
    }

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
        let qa = input_qparams(OP, self.input, &xs)?;

        let [kh, kw] = self.kernel;
        let k = c * kh * kw;
        let rows = n * oh * ow;
        let oc = self.weight.out;
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let Scratch { xq, a, acc, y } = &mut *s;
            quantize_into(&xs, qa, xq);
            let xq = &*xq;
            y.resize(rows * oc, 0.0);
            // Patches, one row per output position, columns in the weight's (c, ky, kx)
            // order; outside the input, the zero point (the real 0).
            a.clear();
            a.resize(rows * k, qa.zero_point as u8);
            par::for_each_chunk_mut_weighted(a, k, 2, |start, chunk| {
                for (j, patch) in chunk.chunks_mut(k).enumerate() {
                    let r = start / k + j;
                    self.unfold(xq, r, [c, h, w], [oh, ow], patch);
                }
            });
            self.weight
                .apply_into(a, rows, qa, self.bias.as_deref(), self.relu, acc, y);
            // [N·OH·OW, OC] → [N, OC, OH, OW], image by image: every element written.
            output(rows * oc, vec![n, oc, oh, ow], x.device(), |out| {
                par::for_each_chunk_mut_weighted(out, oc * oh * ow, 2, |start, chunk| {
                    for (j, img) in chunk.chunks_mut(oc * oh * ow).enumerate() {
                        let b = start / (oc * oh * ow) + j;
                        let src = &y[b * oh * ow * oc..][..oh * ow * oc];
                        for (pos, row) in src.chunks(oc).enumerate() {
                            for (ch, &v) in row.iter().enumerate() {
                                img[ch * oh * ow + pos] = v;
                            }
                        }
                    }
                });
            })
        })
    }
}

//! Sliding blocks as a public op, PyTorch's `F.unfold` (im2col) and `F.fold` (col2im,
//! its adjoint), with the layers [`Unfold`] and [`Fold`].
//!
//! Both are composites over one table of positions: for every kernel offset `(i, j)`
//! and block `(bh, bw)` (row-major), the flat position `(bh·s₀ + i·d₀)·W_p + bw·s₁ + j·d₁`
//! in the zero-padded `H_p × W_p` plane. `unfold` is an `index_select` of the padded
//! planes at those positions, `fold` an `index_add` into zero planes at the same
//! positions followed by cropping the padding, so overlapping blocks sum, each is the
//! other's gradient, and autograd needs no rule of its own for either.
//!
//! Layouts follow PyTorch: `unfold` takes `[N, C, H, W]` (or `[C, H, W]`) and gives
//! `[N, C·kH·kW, L]`, row `c·kH·kW + i·kW + j` holding kernel offset `(i, j)` of channel
//! `c`, column `l` the `l`-th block in row-major order; `fold` takes that back to
//! `[N, C, H, W]` for a given `output_size = [H, W]`. The number of blocks is
//! `L = L₀·L₁` with `L_k = ⌊(S_k + 2·padding_k − dilation_k·(kernel_k − 1) − 1) / stride_k⌋ + 1`.

use lamina_tensor::{Device, Error, PadMode, Result, Tensor};

use crate::module::Module;
use crate::Size;

/// Extracts sliding blocks (PyTorch `F.unfold`, im2col): every `kernel_size` window of the
/// zero-padded input, `stride` apart, its elements `dilation` apart, as a column. Input
/// `[N, C, H, W]` or `[C, H, W]`; output `[N, C·kH·kW, L]` (or `[C·kH·kW, L]`), see the
/// [module docs](self) for the order. A convolution is `weight.reshape([C_out, -1])`
/// times this.
///
/// ```
/// use lamina_nn::functional::unfold;
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::arange(0.0, 9.0, 1.0, DType::F32, &dev)?.reshape([1, 1, 3, 3])?;
/// let cols = unfold(&x, 2, 1, 0, 1)?; // four 2 x 2 blocks
/// assert_eq!(
///     cols.to_vec3::<f32>()?,
///     [[[0.0, 1.0, 3.0, 4.0], [1.0, 2.0, 4.0, 5.0], [3.0, 4.0, 6.0, 7.0], [4.0, 5.0, 7.0, 8.0]]]
/// );
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn unfold(
    input: &Tensor,
    kernel_size: impl Size<2>,
    dilation: impl Size<2>,
    padding: impl Size<2>,
    stride: impl Size<2>,
) -> Result<Tensor> {
    const OP: &str = "unfold";
    let r = input.rank();
    if r != 3 && r != 4 {
        return Err(Error::Invalid {
            op: OP,
            msg: format!(
                "input {}: expected rank 4 [N, C, H, W] or rank 3 (unbatched) [C, H, W]",
                input.shape()
            ),
        });
    }
    check_input(OP, input, r == 4)?;
    let x = if r == 3 {
        input.unsqueeze(0)?
    } else {
        input.clone()
    };
    let (n, c) = (x.dims()[0], x.dims()[1]);
    let blocks = Blocks::new(
        OP,
        input,
        [x.dims()[2], x.dims()[3]],
        kernel_size.size(),
        dilation.size(),
        padding.size(),
        stride.size(),
    )?;
    let [ph, pw] = blocks.padding;
    let x = if ph + pw > 0 {
        let (ph, pw) = (ph as isize, pw as isize);
        x.pad(&[pw, pw, ph, ph], PadMode::Constant(0.0))?
    } else {
        x
    };
    let [hp, wp] = blocks.padded();
    let kk = blocks.kernel[0] * blocks.kernel[1];
    let cols = x
        .reshape([n, c, hp * wp])?
        .index_select(2, &blocks.ids(x.device())?)?
        .reshape([n, c * kk, blocks.len()])?;
    if r == 3 {
        cols.squeeze(0)
    } else {
        Ok(cols)
    }
}

/// Sums sliding blocks back into planes (PyTorch `F.fold`, col2im), the adjoint of
/// [`unfold`]: column `l` of `input` is added into the `l`-th `kernel_size` window of a
/// zero-padded `output_size` plane, and the padding is cropped, so where blocks overlap
/// their values add up. Input `[N, C·kH·kW, L]` (or `[C·kH·kW, L]`), `L` the number of
/// blocks that `output_size` and the other hyper-parameters give; output
/// `[N, C, H, W]` (or `[C, H, W]`) with `[H, W] = output_size`.
///
/// ```
/// use lamina_nn::functional::{fold, unfold};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::ones([1, 1, 3, 3], DType::F32, &dev)?;
/// // fold(unfold(x)) counts how many blocks hold each element.
/// let back = fold(&unfold(&x, 2, 1, 0, 1)?, [3, 3], 2, 1, 0, 1)?;
/// assert_eq!(back.to_vec::<f32>()?, [1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn fold(
    input: &Tensor,
    output_size: impl Size<2>,
    kernel_size: impl Size<2>,
    dilation: impl Size<2>,
    padding: impl Size<2>,
    stride: impl Size<2>,
) -> Result<Tensor> {
    const OP: &str = "fold";
    let r = input.rank();
    if r != 2 && r != 3 {
        return Err(Error::Invalid {
            op: OP,
            msg: format!(
                "input {}: expected rank 3 [N, C·kH·kW, L] or rank 2 (unbatched) [C·kH·kW, L]",
                input.shape()
            ),
        });
    }
    check_input(OP, input, r == 3)?;
    let x = if r == 2 {
        input.unsqueeze(0)?
    } else {
        input.clone()
    };
    let output_size = output_size.size();
    let kernel = kernel_size.size();
    let blocks = Blocks::new(
        OP,
        input,
        output_size,
        kernel,
        dilation.size(),
        padding.size(),
        stride.size(),
    )?;
    let (n, rows, l) = (x.dims()[0], x.dims()[1], x.dims()[2]);
    let kk = kernel[0] * kernel[1];
    if rows % kk != 0 {
        return Err(Error::Invalid {
            op: OP,
            msg: format!(
                "input {}, kernel_size {kernel:?}: dim {} ({rows}) must be divisible by the kernel's {kk} elements",
                input.shape(),
                r - 2
            ),
        });
    }
    if l != blocks.len() {
        return Err(Error::Invalid {
            op: OP,
            msg: format!(
                "input {}, output_size {output_size:?}, kernel_size {kernel:?}, dilation {:?}, padding {:?}, stride {:?}: dim {} ({l}) must be the number of blocks, {} x {} = {}",
                input.shape(),
                blocks.dilation,
                blocks.padding,
                blocks.stride,
                r - 1,
                blocks.count[0],
                blocks.count[1],
                blocks.len()
            ),
        });
    }
    let c = rows / kk;
    let [hp, wp] = blocks.padded();
    let planes = Tensor::zeros([n, c, hp * wp], x.dtype(), x.device())?
        .index_add(
            2,
            &blocks.ids(x.device())?,
            &x.reshape([n, c, kk * l])?,
            1.0,
        )?
        .reshape([n, c, hp, wp])?;
    let [ph, pw] = blocks.padding;
    let [h, w] = output_size;
    let y = planes.narrow(2, ph, h)?.narrow(3, pw, w)?;
    if r == 2 {
        y.squeeze(0)
    } else {
        Ok(y)
    }
}

/// Float dtype, and no empty dim but the batch dim (when `batched`).
fn check_input(op: &'static str, input: &Tensor, batched: bool) -> Result<()> {
    if !input.dtype().is_float() {
        return Err(Error::UnsupportedDType {
            op,
            dtype: input.dtype(),
        });
    }
    if input.dims()[usize::from(batched)..].contains(&0) {
        return Err(Error::Invalid {
            op,
            msg: format!("input {}: only the batch dim may be empty", input.shape()),
        });
    }
    Ok(())
}

/// The blocks of one `unfold` or `fold`: the hyper-parameters, the (unpadded) plane and
/// how many blocks fit along each dim.
struct Blocks {
    kernel: [usize; 2],
    dilation: [usize; 2],
    padding: [usize; 2],
    stride: [usize; 2],
    size: [usize; 2],
    count: [usize; 2],
}

impl Blocks {
    fn new(
        op: &'static str,
        input: &Tensor,
        size: [usize; 2],
        kernel: [usize; 2],
        dilation: [usize; 2],
        padding: [usize; 2],
        stride: [usize; 2],
    ) -> Result<Blocks> {
        let desc = || {
            format!(
                "input {}, plane {size:?}, kernel_size {kernel:?}, dilation {dilation:?}, padding {padding:?}, stride {stride:?}",
                input.shape()
            )
        };
        let invalid = |msg: String| Error::Invalid { op, msg };
        for (what, v) in [
            ("kernel_size", kernel),
            ("dilation", dilation),
            ("stride", stride),
        ] {
            if v.contains(&0) {
                return Err(invalid(format!(
                    "{}: {what} must be at least 1 in every dim",
                    desc()
                )));
            }
        }
        if size.contains(&0) {
            return Err(invalid(format!("{}: the plane must not be empty", desc())));
        }
        let mut count = [0; 2];
        for d in 0..2 {
            let (Some(padded), Some(span)) = (
                padding[d]
                    .checked_mul(2)
                    .and_then(|p| p.checked_add(size[d])),
                dilation[d]
                    .checked_mul(kernel[d] - 1)
                    .map(|s| s.saturating_add(1)),
            ) else {
                return Err(invalid(format!(
                    "{}: the padded plane or the dilated kernel overflows along spatial dim {d}",
                    desc()
                )));
            };
            if span > padded {
                return Err(invalid(format!(
                    "{}: the kernel (spanning {span} with dilation) is larger than the padded plane ({padded}) along spatial dim {d}",
                    desc()
                )));
            }
            count[d] = (padded - span) / stride[d] + 1;
        }
        Ok(Blocks {
            kernel,
            dilation,
            padding,
            stride,
            size,
            count,
        })
    }

    fn padded(&self) -> [usize; 2] {
        [
            self.size[0] + 2 * self.padding[0],
            self.size[1] + 2 * self.padding[1],
        ]
    }

    /// The number of blocks, `L`.
    fn len(&self) -> usize {
        self.count[0] * self.count[1]
    }

    /// The flat position in the padded plane of every kernel offset `(i, j)` of every
    /// block `(bh, bw)`, in the order `i, j, bh, bw`: `[kH·kW·L]` as `I64`.
    fn ids(&self, dev: &Device) -> Result<Tensor> {
        let wp = self.padded()[1];
        let [kh, kw] = self.kernel;
        let [bh, bw] = self.count;
        let mut ids = Vec::with_capacity(kh * kw * bh * bw);
        for i in 0..kh {
            for j in 0..kw {
                for y in 0..bh {
                    let row = (y * self.stride[0] + i * self.dilation[0]) * wp;
                    for x in 0..bw {
                        ids.push((row + x * self.stride[1] + j * self.dilation[1]) as i64);
                    }
                }
            }
        }
        let n = ids.len();
        Tensor::from_vec(ids, [n], dev)
    }
}

/// PyTorch's `nn.Unfold`: [`unfold`] as a layer. `Unfold::new(kernel_size)` has dilation
/// 1, no padding and stride 1; the `with_*` setters change them.
///
/// ```
/// use lamina_nn::{Module, Unfold};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let layer = Unfold::new([2, 3]).with_stride(2);
/// assert_eq!(layer.name(), "Unfold(kernel_size [2, 3], stride [2, 2])");
/// let x = Tensor::zeros([4, 5, 6, 7], DType::F32, &dev)?;
/// assert_eq!(layer.forward(&x)?.dims(), &[4, 5 * 6, 3 * 3]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unfold {
    /// The block's size `[kH, kW]`.
    pub kernel_size: [usize; 2],
    /// The step between a block's elements, `[dH, dW]`.
    pub dilation: [usize; 2],
    /// Zeros added on both sides of each spatial dim, `[pH, pW]`.
    pub padding: [usize; 2],
    /// The step between blocks, `[sH, sW]`.
    pub stride: [usize; 2],
}

impl Unfold {
    /// Blocks of `kernel_size`, with dilation 1, no padding and stride 1.
    pub fn new(kernel_size: impl Size<2>) -> Self {
        Unfold {
            kernel_size: kernel_size.size(),
            dilation: [1, 1],
            padding: [0, 0],
            stride: [1, 1],
        }
    }
    /// Sets the step between a block's elements (one number or `[dH, dW]`).
    pub fn with_dilation(mut self, dilation: impl Size<2>) -> Self {
        self.dilation = dilation.size();
        self
    }
    /// Sets the zero padding on both sides (one number or `[pH, pW]`).
    pub fn with_padding(mut self, padding: impl Size<2>) -> Self {
        self.padding = padding.size();
        self
    }
    /// Sets the step between blocks (one number or `[sH, sW]`).
    pub fn with_stride(mut self, stride: impl Size<2>) -> Self {
        self.stride = stride.size();
        self
    }
}

/// PyTorch's `nn.Fold`: [`fold`] as a layer, to a fixed `output_size`. `Fold::new(
/// output_size, kernel_size)` has dilation 1, no padding and stride 1; the `with_*`
/// setters change them.
///
/// ```
/// use lamina_nn::{Fold, Module};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let layer = Fold::new([4, 5], 2).with_padding(1);
/// assert_eq!(layer.name(), "Fold(output_size [4, 5], kernel_size [2, 2], padding [1, 1])");
/// let cols = Tensor::zeros([2, 3 * 4, 5 * 6], DType::F32, &dev)?;
/// assert_eq!(layer.forward(&cols)?.dims(), &[2, 3, 4, 5]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fold {
    /// The output planes' size `[H, W]`.
    pub output_size: [usize; 2],
    /// The block's size `[kH, kW]`.
    pub kernel_size: [usize; 2],
    /// The step between a block's elements, `[dH, dW]`.
    pub dilation: [usize; 2],
    /// Zeros added on both sides of each spatial dim, `[pH, pW]`.
    pub padding: [usize; 2],
    /// The step between blocks, `[sH, sW]`.
    pub stride: [usize; 2],
}

impl Fold {
    /// Sums blocks of `kernel_size` into `output_size` planes, with dilation 1, no
    /// padding and stride 1.
    pub fn new(output_size: impl Size<2>, kernel_size: impl Size<2>) -> Self {
        Fold {
            output_size: output_size.size(),
            kernel_size: kernel_size.size(),
            dilation: [1, 1],
            padding: [0, 0],
            stride: [1, 1],
        }
    }
    /// Sets the step between a block's elements (one number or `[dH, dW]`).
    pub fn with_dilation(mut self, dilation: impl Size<2>) -> Self {
        self.dilation = dilation.size();
        self
    }
    /// Sets the zero padding on both sides (one number or `[pH, pW]`).
    pub fn with_padding(mut self, padding: impl Size<2>) -> Self {
        self.padding = padding.size();
        self
    }
    /// Sets the step between blocks (one number or `[sH, sW]`).
    pub fn with_stride(mut self, stride: impl Size<2>) -> Self {
        self.stride = stride.size();
        self
    }
}

/// The hyper-parameters that differ from the defaults (dilation 1, padding 0, stride 1).
fn settings(dilation: [usize; 2], padding: [usize; 2], stride: [usize; 2]) -> String {
    let mut s = String::new();
    for (what, v, default) in [
        ("dilation", dilation, [1, 1]),
        ("padding", padding, [0, 0]),
        ("stride", stride, [1, 1]),
    ] {
        if v != default {
            s += &format!(", {what} {v:?}");
        }
    }
    s
}

impl Module for Unfold {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        unfold(
            x,
            self.kernel_size,
            self.dilation,
            self.padding,
            self.stride,
        )
    }
    fn visit<'a>(&'a self, _: &str, _: &mut dyn FnMut(String, &'a Tensor)) {}
    fn visit_mut<'a>(&'a mut self, _: &str, _: &mut dyn FnMut(String, &'a mut Tensor)) {}
    fn set_training(&mut self, _: bool) {}
    fn name(&self) -> String {
        format!(
            "Unfold(kernel_size {:?}{})",
            self.kernel_size,
            settings(self.dilation, self.padding, self.stride)
        )
    }
}

impl Module for Fold {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        fold(
            x,
            self.output_size,
            self.kernel_size,
            self.dilation,
            self.padding,
            self.stride,
        )
    }
    fn visit<'a>(&'a self, _: &str, _: &mut dyn FnMut(String, &'a Tensor)) {}
    fn visit_mut<'a>(&'a mut self, _: &str, _: &mut dyn FnMut(String, &'a mut Tensor)) {}
    fn set_training(&mut self, _: bool) {}
    fn name(&self) -> String {
        format!(
            "Fold(output_size {:?}, kernel_size {:?}{})",
            self.output_size,
            self.kernel_size,
            settings(self.dilation, self.padding, self.stride)
        )
    }
}

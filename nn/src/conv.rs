//! Convolutions as PyTorch has them: the functions `conv1d`, `conv2d`,
//! `conv_transpose1d`, `conv_transpose2d` and the layers [`Conv1d`], [`Conv2d`],
//! [`ConvTranspose1d`], [`ConvTranspose2d`]. Layouts follow PyTorch: input
//! `[N, C_in, (H,) W]` (or unbatched `[C_in, (H,) W]`), weight
//! `[C_out, C_in / groups, (kH,) kW]` (transposed: `[C_in, C_out / groups, (kH,) kW]`),
//! bias `[C_out]`, so `state_dict` files interchange. The arithmetic is the tensor
//! primitive [`Tensor::conv`] and its adjoints, which the backend runs as kernels.

use lamina_tensor::random::next_seed;
use lamina_tensor::{ConvSpec, DType, Device, Error, PadMode, Result, Tensor};

use crate::init::{derive_seed, fans, Init};
use crate::module::prefixed;
use crate::Module;

/// One size per spatial dim, from a single number (the same along every dim) or an
/// array: `conv2d(.., 2, ..)` and `conv2d(.., [2, 2], ..)` mean the same, as in PyTorch.
pub trait Size<const D: usize> {
    fn size(self) -> [usize; D];
}

impl<const D: usize> Size<D> for usize {
    fn size(self) -> [usize; D] {
        [self; D]
    }
}

impl<const D: usize> Size<D> for [usize; D] {
    fn size(self) -> [usize; D] {
        self
    }
}

/// A convolution's zero padding: explicit sizes (from a number or an array, the same on
/// both sides of each dim), or PyTorch's `"same"` (output as large as the input; stride
/// 1 only; an odd total puts the extra zero at the end) and `"valid"` (none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding<const D: usize> {
    Explicit([usize; D]),
    Same,
    Valid,
}

impl<const D: usize> From<usize> for Padding<D> {
    fn from(p: usize) -> Self {
        Padding::Explicit([p; D])
    }
}

impl<const D: usize> From<[usize; D]> for Padding<D> {
    fn from(p: [usize; D]) -> Self {
        Padding::Explicit(p)
    }
}

impl<const D: usize> TryFrom<&str> for Padding<D> {
    type Error = Error;
    /// `"same"` or `"valid"`, as PyTorch's string arguments.
    fn try_from(s: &str) -> Result<Self> {
        match s {
            "same" => Ok(Padding::Same),
            "valid" => Ok(Padding::Valid),
            other => Err(Error::Invalid {
                op: "conv padding",
                msg: format!("padding {other:?}: expected \"same\", \"valid\" or sizes"),
            }),
        }
    }
}

/// A 1-D convolution (PyTorch `F.conv1d`, cross-correlation as in every framework):
/// `out[n, o, x] = bias[o] + Σ_{c, k} input[n, g·C_in/groups + c, x·stride + k·dilation −
/// padding] · weight[o, c, k]`, where `g` is the group of output channel `o` and the
/// input is zero outside its bounds. Input `[N, C_in, W]` (or `[C_in, W]`), weight
/// `[C_out, C_in / groups, kW]`, bias `[C_out]`; output `[N, C_out, W']` with
/// `W' = (W + 2·padding − dilation·(kW − 1) − 1) / stride + 1`.
///
/// ```
/// use lamina_nn::functional::conv1d;
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::new(&[[[1.0f32, 2.0, 3.0, 4.0]]], &dev)?; // [1, 1, 4]
/// let w = Tensor::new(&[[[1.0f32, -1.0]]], &dev)?; // [1, 1, 2]: x[i] - x[i + 1]
/// let y = conv1d(&x, &w, None, 1, 0, 1, 1)?;
/// assert_eq!(y.to_vec3::<f32>()?, [[[-1.0, -1.0, -1.0]]]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn conv1d(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: impl Size<1>,
    padding: impl Into<Padding<1>>,
    dilation: impl Size<1>,
    groups: usize,
) -> Result<Tensor> {
    conv::<1>(
        "conv1d",
        input,
        weight,
        bias,
        stride.size(),
        padding.into(),
        dilation.size(),
        groups,
    )
}

/// A 2-D convolution (PyTorch `F.conv2d`): as [`conv1d`] over two spatial dims, with
/// `stride`, `padding` and `dilation` given as `[along H, along W]` or one number for
/// both. Input `[N, C_in, H, W]` (or `[C_in, H, W]`), weight `[C_out, C_in / groups, kH,
/// kW]`, bias `[C_out]`; output `[N, C_out, H', W']` with `H' = (H + 2·padding[0] −
/// dilation[0]·(kH − 1) − 1) / stride[0] + 1` (W' alike).
///
/// ```
/// use lamina_nn::functional::conv2d;
/// use lamina_nn::Padding;
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::ones([1, 2, 4, 4], DType::F32, &dev)?;
/// let w = Tensor::ones([3, 2, 3, 3], DType::F32, &dev)?;
/// let y = conv2d(&x, &w, None, 1, Padding::Same, 1, 1)?;
/// assert_eq!(y.dims(), &[1, 3, 4, 4]);
/// // A corner sees 2 × 2 of the 3 × 3 window in each of the 2 channels.
/// assert_eq!(y.i((0, 0, 0, 0))?.to_scalar::<f32>()?, 8.0);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn conv2d(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: impl Size<2>,
    padding: impl Into<Padding<2>>,
    dilation: impl Size<2>,
    groups: usize,
) -> Result<Tensor> {
    conv::<2>(
        "conv2d",
        input,
        weight,
        bias,
        stride.size(),
        padding.into(),
        dilation.size(),
        groups,
    )
}

/// A 1-D transposed convolution (PyTorch `F.conv_transpose1d`, the gradient of
/// [`conv1d`] with respect to its input): input `[N, C_in, W]`, weight
/// `[C_in, C_out / groups, kW]`, bias `[C_out]`; output `[N, C_out, W']` with
/// `W' = (W − 1)·stride − 2·padding + dilation·(kW − 1) + output_padding + 1`.
/// `output_padding` (smaller than the stride or the dilation) picks among the sizes
/// that a strided convolution maps to the same output size.
///
/// ```
/// use lamina_nn::functional::conv_transpose1d;
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::new(&[[[1.0f32, 2.0]]], &dev)?;
/// let w = Tensor::new(&[[[1.0f32, 10.0, 100.0]]], &dev)?;
/// // Stride 2: each input spreads its kernel two steps after the previous one's.
/// let y = conv_transpose1d(&x, &w, None, 2, 0, 0, 1, 1)?;
/// assert_eq!(y.to_vec3::<f32>()?, [[[1.0, 10.0, 102.0, 20.0, 200.0]]]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose1d(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: impl Size<1>,
    padding: impl Size<1>,
    output_padding: impl Size<1>,
    groups: usize,
    dilation: impl Size<1>,
) -> Result<Tensor> {
    conv_transpose::<1>(
        "conv_transpose1d",
        input,
        weight,
        bias,
        stride.size(),
        padding.size(),
        output_padding.size(),
        groups,
        dilation.size(),
    )
}

/// A 2-D transposed convolution (PyTorch `F.conv_transpose2d`): as
/// [`conv_transpose1d`] over two spatial dims. Input `[N, C_in, H, W]`, weight
/// `[C_in, C_out / groups, kH, kW]`, bias `[C_out]`; output `[N, C_out, H', W']` with
/// `H' = (H − 1)·stride[0] − 2·padding[0] + dilation[0]·(kH − 1) + output_padding[0] + 1`.
///
/// ```
/// use lamina_nn::functional::conv_transpose2d;
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::ones([1, 4, 7, 7], DType::F32, &dev)?;
/// let w = Tensor::ones([4, 2, 3, 3], DType::F32, &dev)?;
/// // The usual 2× upsampling: stride 2, padding 1, output_padding 1.
/// let y = conv_transpose2d(&x, &w, None, 2, 1, 1, 1, 1)?;
/// assert_eq!(y.dims(), &[1, 2, 14, 14]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose2d(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: impl Size<2>,
    padding: impl Size<2>,
    output_padding: impl Size<2>,
    groups: usize,
    dilation: impl Size<2>,
) -> Result<Tensor> {
    conv_transpose::<2>(
        "conv_transpose2d",
        input,
        weight,
        bias,
        stride.size(),
        padding.size(),
        output_padding.size(),
        groups,
        dilation.size(),
    )
}

/// An unbatched input (`[C, S..]`, rank `D + 1`) as a batch of one, and whether it was.
fn batched<const D: usize>(op: &'static str, input: &Tensor) -> Result<(Tensor, bool)> {
    match input.rank() {
        r if r == D + 2 => Ok((input.clone(), false)),
        r if r == D + 1 => Ok((input.unsqueeze(0)?, true)),
        _ => Err(Error::Invalid {
            op,
            msg: format!(
                "input {}: expected rank {} ([N, C, {} spatial dims]) or {} (unbatched)",
                input.shape(),
                D + 2,
                D,
                D + 1
            ),
        }),
    }
}

/// `y + bias` with the bias along dim 1, and the batch dim dropped again for an
/// unbatched input.
fn finish<const D: usize>(
    op: &'static str,
    y: Tensor,
    bias: Option<&Tensor>,
    unbatched: bool,
) -> Result<Tensor> {
    let c_out = y.dims()[1];
    let y = match bias {
        Some(b) => {
            if b.dims() != [c_out] {
                return Err(Error::Invalid {
                    op,
                    msg: format!(
                        "bias {}: the bias must have shape [C_out] = [{c_out}]",
                        b.shape()
                    ),
                });
            }
            let mut shape = vec![c_out];
            shape.extend([1; D]);
            let b = lamina_tensor::autocast::bias_for(b, &y)?;
            (&y + &b.reshape(shape)?)?
        }
        None => y,
    };
    if unbatched {
        y.squeeze(0)
    } else {
        Ok(y)
    }
}

#[allow(clippy::too_many_arguments)]
fn conv<const D: usize>(
    op: &'static str,
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: [usize; D],
    padding: Padding<D>,
    dilation: [usize; D],
    groups: usize,
) -> Result<Tensor> {
    let (mut x, unbatched) = batched::<D>(op, input)?;
    let padding = match padding {
        Padding::Explicit(p) => p,
        Padding::Valid => [0; D],
        Padding::Same => {
            if stride.iter().any(|&s| s != 1) {
                return Err(Error::Invalid {
                    op,
                    msg: format!(
                        "padding \"same\" needs stride 1 (as PyTorch), got stride {stride:?}"
                    ),
                });
            }
            if weight.rank() != D + 2 {
                return Err(Error::Invalid {
                    op,
                    msg: format!("weight {}: expected rank {}", weight.shape(), D + 2),
                });
            }
            // PyTorch's rule: half the total on each side, an odd one out at the end.
            let mut p = [0; D];
            let mut extra: Vec<isize> = Vec::with_capacity(2 * D);
            for i in (0..D).rev() {
                let total = dilation[i] * weight.dims()[2 + i].saturating_sub(1);
                p[i] = total / 2;
                extra.extend([0, (total - 2 * p[i]) as isize]);
            }
            if extra.iter().any(|&e| e > 0) {
                x = x.pad(&extra, PadMode::Constant(0.0))?;
            }
            p
        }
    };
    let spec = ConvSpec::new(&stride, &padding, &dilation, groups);
    // Checked here so that a bad shape's message names this op.
    spec.geometry(op, x.shape(), weight.shape())?;
    if let Some(b) = bias {
        x.check_float_like(b, op)?;
    }
    finish::<D>(op, x.conv(weight, &spec)?, bias, unbatched)
}

#[allow(clippy::too_many_arguments)]
fn conv_transpose<const D: usize>(
    op: &'static str,
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: [usize; D],
    padding: [usize; D],
    output_padding: [usize; D],
    groups: usize,
    dilation: [usize; D],
) -> Result<Tensor> {
    let (mut x, unbatched) = batched::<D>(op, input)?;
    let invalid = |msg: String| Error::Invalid { op, msg };
    let (xd, wd) = (x.dims().to_vec(), weight.dims().to_vec());
    let shapes = format!("input {}, weight {}", x.shape(), weight.shape());
    if wd.len() != D + 2 {
        return Err(invalid(format!(
            "{shapes}: the weight must have rank {} ([C_in, C_out / groups, {D} kernel dims])",
            D + 2
        )));
    }
    if groups == 0 || wd[0] != xd[1] || xd[1] % groups != 0 {
        return Err(invalid(format!(
            "{shapes}, groups {groups}: weight dim 0 must be C_in ({}) and groups (at least 1) must divide it",
            xd[1]
        )));
    }
    if stride.contains(&0) || dilation.contains(&0) {
        return Err(invalid(format!(
            "{shapes}: stride {stride:?} and dilation {dilation:?} must be at least 1"
        )));
    }
    let mut out = [0; D];
    for i in 0..D {
        if output_padding[i] >= stride[i].max(dilation[i]) {
            return Err(invalid(format!(
                "output_padding {output_padding:?} must be smaller than the stride {stride:?} or the dilation {dilation:?} along each dim (as PyTorch)"
            )));
        }
        let k = wd[2 + i];
        let full = (xd[2 + i].max(1) - 1) * stride[i] + dilation[i] * k.saturating_sub(1) + 1;
        let size = (full + output_padding[i])
            .checked_sub(2 * padding[i])
            .filter(|&s| s > 0 && k > 0 && xd[2 + i] > 0);
        match size {
            Some(s) => out[i] = s,
            None => {
                return Err(invalid(format!(
                    "{shapes}, stride {stride:?}, padding {padding:?}, output_padding {output_padding:?}, dilation {dilation:?}: the output would be empty along spatial dim {i}"
                )))
            }
        }
    }
    let spec = ConvSpec::new(&stride, &padding, &dilation, groups);
    // The convolution whose input gradient this is: input [N, C_out, out..], weight as given.
    let mut conv_in = vec![xd[0], wd[1] * groups];
    conv_in.extend(out);
    let geo = spec.geometry(op, &lamina_tensor::Shape::new(conv_in), weight.shape())?;
    // With output_padding ≥ stride (allowed below the dilation) that convolution has
    // extra trailing outputs, which the input does not have: they are zero.
    let mut extra: Vec<isize> = Vec::with_capacity(2 * D);
    for i in (0..D).rev() {
        extra.extend([0, (geo.output[i] - xd[2 + i]) as isize]);
    }
    if extra.iter().any(|&e| e != 0) {
        x = x.pad(&extra, PadMode::Constant(0.0))?;
    }
    if let Some(b) = bias {
        x.check_float_like(b, op)?;
    }
    finish::<D>(op, x.conv_input_grad(weight, &spec, &out)?, bias, unbatched)
}

/// What a `Tensor` checks before a bias joins it.
trait CheckBias {
    fn check_float_like(&self, bias: &Tensor, op: &'static str) -> Result<()>;
}

impl CheckBias for Tensor {
    fn check_float_like(&self, bias: &Tensor, op: &'static str) -> Result<()> {
        if bias.dtype() != self.dtype() {
            return Err(Error::DTypeMismatch {
                op,
                lhs: self.dtype(),
                rhs: bias.dtype(),
            });
        }
        Ok(())
    }
}

/// A convolution layer over `D` spatial dims; use the aliases [`Conv1d`] and [`Conv2d`].
/// Parameters as PyTorch names them: `weight [C_out, C_in / groups, k..]`, `bias [C_out]`.
///
/// ```
/// use lamina_nn::{Conv2d, Module};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let conv = Conv2d::builder(1, 6, 5).padding(2).seed(0).build(&dev)?;
/// let y = conv.forward(&Tensor::zeros([8, 1, 28, 28], DType::F32, &dev)?)?;
/// assert_eq!(y.dims(), &[8, 6, 28, 28]);
/// assert_eq!(conv.name(), "Conv2d(in 1, out 6, kernel [5, 5], padding [2, 2])");
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Conv<const D: usize> {
    /// `[C_out, C_in / groups, k..]`.
    pub weight: Tensor,
    /// `[C_out]`.
    pub bias: Option<Tensor>,
    pub stride: [usize; D],
    pub padding: Padding<D>,
    pub dilation: [usize; D],
    pub groups: usize,
}

/// A 1-D convolution layer (PyTorch `nn.Conv1d`).
pub type Conv1d = Conv<1>;
/// A 2-D convolution layer (PyTorch `nn.Conv2d`).
pub type Conv2d = Conv<2>;

impl<const D: usize> Conv<D> {
    /// A layer with PyTorch's defaults (stride 1, no padding, bias, Kaiming-uniform
    /// weight), its seed from the global stream.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: impl Size<D>,
        device: &Device,
    ) -> Result<Self> {
        Self::builder(in_channels, out_channels, kernel).build(device)
    }

    /// The options of a layer, from PyTorch's defaults (see [`ConvBuilder`]).
    pub fn builder(
        in_channels: usize,
        out_channels: usize,
        kernel: impl Size<D>,
    ) -> ConvBuilder<D> {
        ConvBuilder::new(in_channels, out_channels, kernel.size(), false)
    }
}

impl<const D: usize> Module for Conv<D> {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let op = if D == 1 { "Conv1d" } else { "Conv2d" };
        conv::<D>(
            op,
            x,
            &self.weight,
            self.bias.as_ref(),
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )
        .map_err(|e| e.context(self.name()))
    }

    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        f(prefixed(prefix, "weight"), &self.weight);
        if let Some(b) = &self.bias {
            f(prefixed(prefix, "bias"), b);
        }
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        f(prefixed(prefix, "weight"), &mut self.weight);
        if let Some(b) = &mut self.bias {
            f(prefixed(prefix, "bias"), b);
        }
    }

    fn set_training(&mut self, _: bool) {}
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    /// `Conv2d(in 1, out 6, kernel [5, 5], padding [2, 2])`: the sizes, and the options
    /// that differ from PyTorch's defaults.
    fn name(&self) -> String {
        let w = self.weight.dims();
        let mut s = format!(
            "Conv{D}d(in {}, out {}, kernel {:?}",
            w[1] * self.groups,
            w[0],
            &w[2..]
        );
        describe(
            &mut s,
            self.stride,
            self.padding,
            None,
            self.dilation,
            self.groups,
            self.bias.is_some(),
        );
        s
    }
}

/// A transposed convolution layer over `D` spatial dims; use [`ConvTranspose1d`] and
/// [`ConvTranspose2d`]. Parameters as PyTorch: `weight [C_in, C_out / groups, k..]`,
/// `bias [C_out]`.
///
/// ```
/// use lamina_nn::{ConvTranspose2d, Module};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let up = ConvTranspose2d::builder(8, 4, 2).stride(2).seed(0).build(&dev)?;
/// let y = up.forward(&Tensor::zeros([1, 8, 7, 7], DType::F32, &dev)?)?;
/// assert_eq!(y.dims(), &[1, 4, 14, 14]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ConvTranspose<const D: usize> {
    /// `[C_in, C_out / groups, k..]`.
    pub weight: Tensor,
    /// `[C_out]`.
    pub bias: Option<Tensor>,
    pub stride: [usize; D],
    pub padding: [usize; D],
    pub output_padding: [usize; D],
    pub dilation: [usize; D],
    pub groups: usize,
}

/// A 1-D transposed convolution layer (PyTorch `nn.ConvTranspose1d`).
pub type ConvTranspose1d = ConvTranspose<1>;
/// A 2-D transposed convolution layer (PyTorch `nn.ConvTranspose2d`).
pub type ConvTranspose2d = ConvTranspose<2>;

impl<const D: usize> ConvTranspose<D> {
    /// A layer with PyTorch's defaults, its seed from the global stream.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: impl Size<D>,
        device: &Device,
    ) -> Result<Self> {
        Self::builder(in_channels, out_channels, kernel).build(device)
    }

    /// The options of a layer, from PyTorch's defaults (see [`ConvBuilder`]; finish
    /// with `build`).
    pub fn builder(
        in_channels: usize,
        out_channels: usize,
        kernel: impl Size<D>,
    ) -> ConvTransposeBuilder<D> {
        ConvTransposeBuilder(ConvBuilder::new(
            in_channels,
            out_channels,
            kernel.size(),
            true,
        ))
    }
}

impl<const D: usize> Module for ConvTranspose<D> {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let op = if D == 1 {
            "ConvTranspose1d"
        } else {
            "ConvTranspose2d"
        };
        conv_transpose::<D>(
            op,
            x,
            &self.weight,
            self.bias.as_ref(),
            self.stride,
            self.padding,
            self.output_padding,
            self.groups,
            self.dilation,
        )
        .map_err(|e| e.context(self.name()))
    }

    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        f(prefixed(prefix, "weight"), &self.weight);
        if let Some(b) = &self.bias {
            f(prefixed(prefix, "bias"), b);
        }
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        f(prefixed(prefix, "weight"), &mut self.weight);
        if let Some(b) = &mut self.bias {
            f(prefixed(prefix, "bias"), b);
        }
    }

    fn set_training(&mut self, _: bool) {}

    fn name(&self) -> String {
        let w = self.weight.dims();
        let mut s = format!(
            "ConvTranspose{D}d(in {}, out {}, kernel {:?}",
            w[0],
            w[1] * self.groups,
            &w[2..]
        );
        describe(
            &mut s,
            self.stride,
            Padding::Explicit(self.padding),
            Some(self.output_padding),
            self.dilation,
            self.groups,
            self.bias.is_some(),
        );
        s
    }
}

/// Appends the options that differ from the defaults and the closing parenthesis.
fn describe<const D: usize>(
    s: &mut String,
    stride: [usize; D],
    padding: Padding<D>,
    output_padding: Option<[usize; D]>,
    dilation: [usize; D],
    groups: usize,
    bias: bool,
) {
    use std::fmt::Write;
    if stride != [1; D] {
        let _ = write!(s, ", stride {stride:?}");
    }
    match padding {
        Padding::Explicit(p) if p == [0; D] => {}
        Padding::Explicit(p) => {
            let _ = write!(s, ", padding {p:?}");
        }
        Padding::Same => s.push_str(", padding same"),
        Padding::Valid => {}
    }
    if let Some(p) = output_padding.filter(|p| *p != [0; D]) {
        let _ = write!(s, ", output_padding {p:?}");
    }
    if dilation != [1; D] {
        let _ = write!(s, ", dilation {dilation:?}");
    }
    if groups != 1 {
        let _ = write!(s, ", groups {groups}");
    }
    if !bias {
        s.push_str(", no bias");
    }
    s.push(')');
}

/// Options of a [`Conv`] layer, from PyTorch's defaults: stride 1, padding 0, dilation
/// 1, one group, a bias, f32, weight `kaiming_uniform_(a = √5)` = `U(±1/√fan_in)` and
/// bias `U(±1/√fan_in)` (PyTorch's `reset_parameters`), a seed from the global stream.
#[derive(Clone, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build`"]
pub struct ConvBuilder<const D: usize> {
    in_channels: usize,
    out_channels: usize,
    kernel: [usize; D],
    stride: [usize; D],
    padding: Padding<D>,
    output_padding: [usize; D],
    dilation: [usize; D],
    groups: usize,
    bias: bool,
    dtype: DType,
    weight_init: Init,
    seed: Option<u64>,
    transposed: bool,
}

impl<const D: usize> ConvBuilder<D> {
    fn new(in_channels: usize, out_channels: usize, kernel: [usize; D], transposed: bool) -> Self {
        ConvBuilder {
            in_channels,
            out_channels,
            kernel,
            stride: [1; D],
            padding: Padding::Explicit([0; D]),
            output_padding: [0; D],
            dilation: [1; D],
            groups: 1,
            bias: true,
            dtype: DType::F32,
            weight_init: Init::torch_default(),
            seed: None,
            transposed,
        }
    }
    pub fn stride(mut self, stride: impl Size<D>) -> Self {
        self.stride = stride.size();
        self
    }
    /// Sizes, or [`Padding::Same`] / [`Padding::Valid`].
    pub fn padding(mut self, padding: impl Into<Padding<D>>) -> Self {
        self.padding = padding.into();
        self
    }
    pub fn dilation(mut self, dilation: impl Size<D>) -> Self {
        self.dilation = dilation.size();
        self
    }
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }
    pub fn weight_init(mut self, init: Init) -> Self {
        self.weight_init = init;
        self
    }
    /// Draws the weight from `seed` and the bias from a seed derived from it.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    fn params(&self, device: &Device) -> Result<(Tensor, Option<Tensor>)> {
        let op = if self.transposed {
            "ConvTranspose"
        } else {
            "Conv"
        };
        let (i, o, g) = (self.in_channels, self.out_channels, self.groups);
        if g == 0 || i % g != 0 || o % g != 0 || self.kernel.contains(&0) {
            return Err(Error::Invalid {
                op,
                msg: format!(
                    "in_channels {i}, out_channels {o}, groups {g}, kernel {:?}: groups must be at least 1 and divide both channel counts, and kernel sizes at least 1",
                    self.kernel
                ),
            });
        }
        let mut shape = if self.transposed {
            vec![i, o / g]
        } else {
            vec![o, i / g]
        };
        shape.extend(self.kernel);
        let seed = self.seed.unwrap_or_else(next_seed);
        let weight = self.weight_init.tensor(shape, seed, self.dtype, device)?;
        let bias = if self.bias {
            let (fan_in, _) = fans(weight.shape())?;
            let b = if fan_in > 0 {
                1.0 / (fan_in as f64).sqrt()
            } else {
                0.0
            };
            let init = Init::Uniform { lo: -b, hi: b };
            Some(init.tensor([o], derive_seed(seed, 1), self.dtype, device)?)
        } else {
            None
        };
        Ok((weight, bias))
    }

    /// Builds the layer on `device`.
    pub fn build(&self, device: &Device) -> Result<Conv<D>> {
        let (weight, bias) = self.params(device)?;
        Ok(Conv {
            weight,
            bias,
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
            groups: self.groups,
        })
    }

    fn build_transposed(&self, device: &Device) -> Result<ConvTranspose<D>> {
        let padding = match self.padding {
            Padding::Explicit(p) => p,
            Padding::Valid => [0; D],
            Padding::Same => {
                return Err(Error::Invalid {
                    op: "ConvTranspose",
                    msg: "padding \"same\" is for convolutions, not transposed ones (as PyTorch)"
                        .into(),
                })
            }
        };
        let (weight, bias) = self.params(device)?;
        Ok(ConvTranspose {
            weight,
            bias,
            stride: self.stride,
            padding,
            output_padding: self.output_padding,
            dilation: self.dilation,
            groups: self.groups,
        })
    }
}

/// Options of a [`ConvTranspose`] layer: those of [`ConvBuilder`] plus
/// `output_padding`.
#[derive(Clone, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build`"]
pub struct ConvTransposeBuilder<const D: usize>(ConvBuilder<D>);

impl<const D: usize> ConvTransposeBuilder<D> {
    pub fn stride(self, stride: impl Size<D>) -> Self {
        Self(self.0.stride(stride))
    }
    pub fn padding(self, padding: impl Size<D>) -> Self {
        Self(self.0.padding(Padding::Explicit(padding.size())))
    }
    pub fn output_padding(mut self, output_padding: impl Size<D>) -> Self {
        self.0.output_padding = output_padding.size();
        self
    }
    pub fn dilation(self, dilation: impl Size<D>) -> Self {
        Self(self.0.dilation(dilation))
    }
    pub fn groups(self, groups: usize) -> Self {
        Self(self.0.groups(groups))
    }
    pub fn bias(self, bias: bool) -> Self {
        Self(self.0.bias(bias))
    }
    pub fn dtype(self, dtype: DType) -> Self {
        Self(self.0.dtype(dtype))
    }
    pub fn weight_init(self, init: Init) -> Self {
        Self(self.0.weight_init(init))
    }
    pub fn seed(self, seed: u64) -> Self {
        Self(self.0.seed(seed))
    }
    /// Builds the layer on `device`.
    pub fn build(&self, device: &Device) -> Result<ConvTranspose<D>> {
        self.0.build_transposed(device)
    }
}

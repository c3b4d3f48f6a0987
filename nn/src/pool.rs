//! Pooling as composites, with PyTorch's semantics. Max pooling finds each window's
//! arg-max on the padded input's sliding windows (`pad` with −∞, `unfold`, `argmax`; the
//! first maximum in window order on ties, as PyTorch) and then reads the maxima from the
//! input with one `gather` at those positions, so autograd sends each output's gradient
//! to its arg-max exactly as PyTorch's backward does. Average pooling sums the
//! zero-padded windows (strided slices, one dim at a time) and divides by PyTorch's
//! divisors; adaptive pooling uses PyTorch's bins (`index_select` for the maximum, a
//! matmul with a 0/1 bin matrix for the mean); max unpooling is a `scatter`. Every step
//! is a recorded tensor op (or carries no gradient), so there is no pooling rule of its
//! own.
//!
//! Layouts follow PyTorch: input `[N, C, L]` (1-D) or `[N, C, H, W]` (2-D), or the same
//! without the batch dim (`[C, L]`, `[C, H, W]`), which gives an output without one. 2-D
//! hyper-parameters are `[along H, along W]`; `stride: None` means the kernel size.
//! Indices are `I64` positions in the input's (unpadded) spatial plane, `h·W + w` in 2-D,
//! as PyTorch's `return_indices=True` gives them and [`max_unpool2d`] takes them. A NaN
//! counts as a window's maximum (where a window holds several, Lamina reports the first,
//! PyTorch the last). A window wholly inside the padding, which takes a dilation, gives
//! −∞ with PyTorch's index for it and no gradient.
//!
//! The output size along a dim of size `L` is
//! `L' = ⌊(L + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1`, or with `ceil_mode`
//! the same rounded up, less one when the last window would start past the input and its
//! left padding (`(L' − 1)·stride ≥ L + padding`). Padding may be at most half the kernel
//! (`padding ≤ kernel / 2`), and the output must not be empty.

use lamina_tensor::{DType, Error, PadMode, PoolGeometry, Result, Tensor};

use crate::module::Module;
use crate::Size;

// ---------------------------------------------------------------------------------------
// Functions
// ---------------------------------------------------------------------------------------

/// 1-D max pooling (PyTorch `F.max_pool1d`): `out[n, c, x]` is the maximum of
/// `input[n, c, x·stride − padding + k·dilation]` over `k < kernel`, padding counting as
/// −∞. Input `[N, C, L]` or `[C, L]`; output `[N, C, L']` with
/// `L' = ⌊(L + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1` (rounded up with
/// `ceil_mode`, see the [module docs](self)). `stride: None` is `kernel`.
///
/// ```
/// use lamina_nn::functional::max_pool1d;
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::new(&[[[1.0f32, 5.0, 2.0, 4.0, 3.0]]], &dev)?; // [1, 1, 5]
/// let y = max_pool1d(&x, 2, None, 0, 1, false)?;
/// assert_eq!(y.to_vec3::<f32>()?, [[[5.0, 4.0]]]);
/// // ceil_mode keeps the last, partial window.
/// let y = max_pool1d(&x, 2, None, 0, 1, true)?;
/// assert_eq!(y.to_vec3::<f32>()?, [[[5.0, 4.0, 3.0]]]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn max_pool1d(
    input: &Tensor,
    kernel: usize,
    stride: Option<usize>,
    padding: usize,
    dilation: usize,
    ceil_mode: bool,
) -> Result<Tensor> {
    max_pool1d_impl(
        "max_pool1d",
        input,
        kernel,
        stride,
        padding,
        dilation,
        ceil_mode,
    )
    .map(|(values, _)| values)
}

/// [`max_pool1d`] with the position of each maximum (PyTorch `F.max_pool1d(...,
/// return_indices=True)`): `(values, indices)`, both `[N, C, L']`, the indices `I64`
/// positions along the unpadded input, the first maximum of each window on ties.
///
/// ```
/// use lamina_nn::functional::max_pool1d_with_indices;
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::new(&[[1.0f32, 5.0, 2.0, 4.0, 3.0]], &dev)?; // unbatched [C, L]
/// let (y, i) = max_pool1d_with_indices(&x, 3, Some(2), 1, 1, false)?;
/// assert_eq!(y.to_vec2::<f32>()?, [[5.0, 5.0, 4.0]]);
/// assert_eq!(i.to_vec2::<i64>()?, [[1, 1, 3]]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn max_pool1d_with_indices(
    input: &Tensor,
    kernel: usize,
    stride: Option<usize>,
    padding: usize,
    dilation: usize,
    ceil_mode: bool,
) -> Result<(Tensor, Tensor)> {
    max_pool1d_impl(
        "max_pool1d_with_indices",
        input,
        kernel,
        stride,
        padding,
        dilation,
        ceil_mode,
    )
}

fn max_pool1d_impl(
    op: &'static str,
    input: &Tensor,
    kernel: usize,
    stride: Option<usize>,
    padding: usize,
    dilation: usize,
    ceil_mode: bool,
) -> Result<(Tensor, Tensor)> {
    let win = Window {
        kernel: vec![kernel],
        stride: vec![stride.unwrap_or(kernel)],
        padding: vec![padding],
        dilation: vec![dilation],
        ceil_mode,
    };
    max_pool(op, input, &win)
}

/// 2-D max pooling (PyTorch `F.max_pool2d`): the maximum over each `kernel[0] ×
/// kernel[1]` window, windows `stride` apart, window elements `dilation` apart, the input
/// padded with −∞ by `padding` on each side. Input `[N, C, H, W]` or `[C, H, W]`; output
/// `[N, C, H', W']` with `H' = ⌊(H + 2·padding[0] − dilation[0]·(kernel[0] − 1) − 1) /
/// stride[0]⌋ + 1` (W' alike; rounded up with `ceil_mode`, see the
/// [module docs](self)). `stride: None` is `kernel`.
///
/// ```
/// use lamina_nn::functional::max_pool2d;
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::arange(0.0, 16.0, 1.0, lamina_tensor::DType::F32, &dev)?.reshape([1, 1, 4, 4])?;
/// let y = max_pool2d(&x, [2, 2], None, [0, 0], [1, 1], false)?;
/// assert_eq!(y.to_vec::<f32>()?, [5.0, 7.0, 13.0, 15.0]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn max_pool2d(
    input: &Tensor,
    kernel: [usize; 2],
    stride: Option<[usize; 2]>,
    padding: [usize; 2],
    dilation: [usize; 2],
    ceil_mode: bool,
) -> Result<Tensor> {
    let win = Window::new2(kernel, stride, padding, dilation, ceil_mode);
    max_pool("max_pool2d", input, &win).map(|(values, _)| values)
}

/// [`max_pool2d`] with the position of each maximum (PyTorch `F.max_pool2d(...,
/// return_indices=True)`): `(values, indices)`, both `[N, C, H', W']`, the indices `I64`
/// flat positions `h·W + w` in the unpadded input plane, the first maximum in row-major
/// window order on ties. [`max_unpool2d`] takes them back.
///
/// ```
/// use lamina_nn::functional::max_pool2d_with_indices;
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// // Unbatched [C, H, W].
/// let x = Tensor::new(&[[[1.0f32, 9.0, 2.0], [3.0, 4.0, 8.0], [7.0, 5.0, 6.0]]], &dev)?;
/// let (y, i) = max_pool2d_with_indices(&x, [2, 2], Some([1, 1]), [0, 0], [1, 1], false)?;
/// assert_eq!(y.to_vec3::<f32>()?, [[[9.0, 9.0], [7.0, 8.0]]]);
/// assert_eq!(i.to_vec3::<i64>()?, [[[1, 1], [6, 5]]]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn max_pool2d_with_indices(
    input: &Tensor,
    kernel: [usize; 2],
    stride: Option<[usize; 2]>,
    padding: [usize; 2],
    dilation: [usize; 2],
    ceil_mode: bool,
) -> Result<(Tensor, Tensor)> {
    let win = Window::new2(kernel, stride, padding, dilation, ceil_mode);
    max_pool("max_pool2d_with_indices", input, &win)
}

/// 1-D average pooling (PyTorch `F.avg_pool1d`): the mean of each window of `kernel`
/// elements, windows `stride` apart, the input zero-padded by `padding` on each side.
/// Input `[N, C, L]` or `[C, L]`; output `[N, C, L']` with
/// `L' = ⌊(L + 2·padding − kernel) / stride⌋ + 1` (rounded up with `ceil_mode`, see the
/// [module docs](self)). The divisor is the window's size, clipped to the padded input
/// (a `ceil_mode` window that runs past it counts only its part inside), or with
/// `count_include_pad = false` only the window's elements inside the unpadded input.
/// PyTorch's `avg_pool1d` has no `divisor_override`; [`avg_pool2d`] has.
///
/// ```
/// use lamina_nn::functional::avg_pool1d;
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::new(&[[[2.0f32, 4.0, 6.0, 8.0]]], &dev)?;
/// assert_eq!(avg_pool1d(&x, 2, None, 0, false, true)?.to_vec3::<f32>()?, [[[3.0, 7.0]]]);
/// // Padding 1: windows [0, 2], [4, 6], [8, 0]; the padding counts in the divisor ...
/// assert_eq!(avg_pool1d(&x, 2, None, 1, false, true)?.to_vec3::<f32>()?, [[[1.0, 5.0, 4.0]]]);
/// // ... unless count_include_pad is false.
/// assert_eq!(avg_pool1d(&x, 2, None, 1, false, false)?.to_vec3::<f32>()?, [[[2.0, 5.0, 8.0]]]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn avg_pool1d(
    input: &Tensor,
    kernel: usize,
    stride: Option<usize>,
    padding: usize,
    ceil_mode: bool,
    count_include_pad: bool,
) -> Result<Tensor> {
    let win = Window {
        kernel: vec![kernel],
        stride: vec![stride.unwrap_or(kernel)],
        padding: vec![padding],
        dilation: vec![1],
        ceil_mode,
    };
    avg_pool("avg_pool1d", input, &win, count_include_pad, None)
}

/// 2-D average pooling (PyTorch `F.avg_pool2d`): the mean of each `kernel[0] × kernel[1]`
/// window, windows `stride` apart, the input zero-padded by `padding`. Input
/// `[N, C, H, W]` or `[C, H, W]`; output `[N, C, H', W']` with
/// `H' = ⌊(H + 2·padding[0] − kernel[0]) / stride[0]⌋ + 1` (W' alike; rounded up with
/// `ceil_mode`, see the [module docs](self)). The divisor is `divisor_override` when
/// given, else the window's size clipped to the padded input (`count_include_pad`) or its
/// number of elements inside the unpadded input (`count_include_pad = false`).
///
/// ```
/// use lamina_nn::functional::avg_pool2d;
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::ones([1, 1, 2, 2], DType::F32, &dev)?;
/// let y = avg_pool2d(&x, [2, 2], Some([1, 1]), [1, 1], false, true, None)?;
/// // A corner window holds one input element and three padding zeros, the centre four.
/// assert_eq!(y.to_vec::<f32>()?, [0.25, 0.5, 0.25, 0.5, 1.0, 0.5, 0.25, 0.5, 0.25]);
/// let y = avg_pool2d(&x, [2, 2], Some([1, 1]), [1, 1], false, false, None)?;
/// assert_eq!(y.to_vec::<f32>()?, [1.0; 9]);
/// let y = avg_pool2d(&x, [2, 2], None, [0, 0], false, true, Some(2))?;
/// assert_eq!(y.to_vec::<f32>()?, [2.0]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn avg_pool2d(
    input: &Tensor,
    kernel: [usize; 2],
    stride: Option<[usize; 2]>,
    padding: [usize; 2],
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: Option<usize>,
) -> Result<Tensor> {
    let win = Window::new2(kernel, stride, padding, [1, 1], ceil_mode);
    avg_pool(
        "avg_pool2d",
        input,
        &win,
        count_include_pad,
        divisor_override,
    )
}

/// 1-D adaptive average pooling (PyTorch `F.adaptive_avg_pool1d`): `output_size` means
/// over PyTorch's bins, bin `i` covering `⌊i·L / L'⌋ .. ⌈(i + 1)·L / L'⌉` (bins may
/// differ in size by one and overlap when `L` is not a multiple of `L'`). Input
/// `[N, C, L]` or `[C, L]`; output `[N, C, L']` with `L' = output_size`.
///
/// ```
/// use lamina_nn::functional::adaptive_avg_pool1d;
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::new(&[[[1.0f32, 2.0, 3.0, 4.0, 5.0]]], &dev)?;
/// // Bins [0, 2), [1, 4), [3, 5).
/// assert_eq!(adaptive_avg_pool1d(&x, 3)?.to_vec3::<f32>()?, [[[1.5, 3.0, 4.5]]]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn adaptive_avg_pool1d(input: &Tensor, output_size: usize) -> Result<Tensor> {
    adaptive_avg_pool("adaptive_avg_pool1d", input, &[output_size])
}

/// 2-D adaptive average pooling (PyTorch `F.adaptive_avg_pool2d`): the mean over bin
/// `(i, j)`, rows `⌊i·H / H'⌋ .. ⌈(i + 1)·H / H'⌉` and columns alike. Input
/// `[N, C, H, W]` or `[C, H, W]`; output `[N, C, H', W']` with `[H', W'] = output_size`.
/// `[1, 1]` is global average pooling.
///
/// ```
/// use lamina_nn::functional::adaptive_avg_pool2d;
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::arange(0.0, 12.0, 1.0, DType::F32, &dev)?.reshape([1, 1, 3, 4])?;
/// assert_eq!(adaptive_avg_pool2d(&x, [1, 1])?.to_vec::<f32>()?, [5.5]);
/// assert_eq!(adaptive_avg_pool2d(&x, [1, 2])?.to_vec::<f32>()?, [4.5, 6.5]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn adaptive_avg_pool2d(input: &Tensor, output_size: [usize; 2]) -> Result<Tensor> {
    adaptive_avg_pool("adaptive_avg_pool2d", input, &output_size)
}

/// 2-D adaptive max pooling (PyTorch `F.adaptive_max_pool2d(..., return_indices=True)`):
/// `(values, indices)`, the maximum over each of [`adaptive_avg_pool2d`]'s bins and its
/// flat position `h·W + w` in the input plane (`I64`, the first maximum in row-major order
/// on ties). Input `[N, C, H, W]` or `[C, H, W]`; outputs `[N, C, H', W']` with
/// `[H', W'] = output_size`.
///
/// ```
/// use lamina_nn::functional::adaptive_max_pool2d;
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::new(&[[[1.0f32, 9.0, 2.0], [3.0, 4.0, 8.0]]], &dev)?; // [1, 2, 3]
/// // Column bins [0, 2) and [1, 3).
/// let (y, i) = adaptive_max_pool2d(&x, [1, 2])?;
/// assert_eq!(y.to_vec3::<f32>()?, [[[9.0, 9.0]]]);
/// assert_eq!(i.to_vec3::<i64>()?, [[[1, 1]]]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn adaptive_max_pool2d(input: &Tensor, output_size: [usize; 2]) -> Result<(Tensor, Tensor)> {
    const OP: &str = "adaptive_max_pool2d";
    let (x, unbatched) = batched(OP, input, 2)?;
    check_adaptive(OP, input, &output_size)?;
    let sizes = &x.dims()[2..];
    let tables: Vec<Vec<Vec<usize>>> = sizes
        .iter()
        .zip(&output_size)
        .map(|(&len, &out)| {
            let bins: Vec<(usize, usize)> = (0..out).map(|i| bin(i, len, out)).collect();
            let k = bins.iter().map(|(s, e)| e - s).max().unwrap_or(1);
            // Bins shorter than the longest repeat their last element, after the
            // originals, so the first maximum of each bin stays the one found.
            bins.iter()
                .map(|&(s, e)| (0..k).map(|j| (s + j).min(e - 1)).collect())
                .collect()
        })
        .collect();
    // Gather the windows along H, then along W: [N, C, H'·kH, W] ->
    // [N, C, H', kH, W'·kW] -> [N, C, H', W', kH·kW].
    let (n, c) = (x.dims()[0], x.dims()[1]);
    let (kh, kw) = (tables[0][0].len(), tables[1][0].len());
    let [oh, ow] = output_size;
    let rows = x
        .detach()
        .index_select(2, &flat_ids(&tables[0], x.device())?)?;
    let rows = rows.reshape([n, c, oh, kh, sizes[1]])?;
    let cells = rows.index_select(4, &flat_ids(&tables[1], x.device())?)?;
    let windows = cells
        .reshape([n, c, oh, kh, ow, kw])?
        .permute([0, 1, 2, 4, 3, 5])?
        .reshape([n, c, oh, ow, kh * kw])?;
    let arg = windows.argmax(-1, false)?;
    let indices = window_indices(&arg, sizes, &tables)?;
    let values = pick(&x, &indices)?;
    unbatch(values, indices, unbatched)
}

/// 2-D max unpooling (PyTorch `F.max_unpool2d`), the partial inverse of
/// [`max_pool2d_with_indices`]: a zero `[N, C, H_out, W_out]` tensor with each input
/// element written at its flat position `indices` (`h·W_out + w`). `indices` has the
/// input's shape and dtype `I64`. The output size is `output_size` when given (within
/// `stride` of the default, as PyTorch requires), else
/// `H_out = (H − 1)·stride[0] − 2·padding[0] + kernel[0]` (W_out alike). Where indices
/// repeat (overlapping pooling windows) the last write wins and gets the gradient, the
/// exact derivative; PyTorch's backward gives every repeated write the gradient.
///
/// ```
/// use lamina_nn::functional::{max_pool2d_with_indices, max_unpool2d};
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::new(&[[[[1.0f32, 2.0], [4.0, 3.0]]]], &dev)?; // [1, 1, 2, 2]
/// let (y, i) = max_pool2d_with_indices(&x, [2, 2], None, [0, 0], [1, 1], false)?;
/// let back = max_unpool2d(&y, &i, [2, 2], None, [0, 0], None)?;
/// assert_eq!(back.to_vec::<f32>()?, [0.0, 0.0, 4.0, 0.0]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn max_unpool2d(
    input: &Tensor,
    indices: &Tensor,
    kernel: [usize; 2],
    stride: Option<[usize; 2]>,
    padding: [usize; 2],
    output_size: Option<[usize; 2]>,
) -> Result<Tensor> {
    const OP: &str = "max_unpool2d";
    let invalid = |msg: String| Error::Invalid { op: OP, msg };
    let stride = stride.unwrap_or(kernel);
    let (x, unbatched) = batched(OP, input, 2)?;
    if indices.dims() != input.dims() {
        return Err(invalid(format!(
            "input {}, indices {}: the indices must have the input's shape",
            input.shape(),
            indices.shape()
        )));
    }
    if indices.dtype() != DType::I64 {
        return Err(invalid(format!(
            "indices must be I64 (as max_pool2d_with_indices returns them), got {}",
            indices.dtype()
        )));
    }
    if kernel.contains(&0) || stride.contains(&0) {
        return Err(invalid(format!(
            "kernel {kernel:?} and stride {stride:?} must be at least 1"
        )));
    }
    let sizes = [x.dims()[2], x.dims()[3]];
    let mut out = [0usize; 2];
    for d in 0..2 {
        let default =
            (sizes[d] as i64 - 1) * stride[d] as i64 - 2 * padding[d] as i64 + kernel[d] as i64;
        out[d] = match output_size {
            None if default >= 1 => default as usize,
            None => {
                return Err(invalid(format!(
                    "input {}, kernel {kernel:?}, stride {stride:?}, padding {padding:?}: the output size along spatial dim {d} would be {default}",
                    input.shape()
                )))
            }
            Some(o) => {
                let (lo, hi) = (default - stride[d] as i64, default + stride[d] as i64);
                let want = o[d] as i64;
                if o[d] == 0 || want <= lo || want >= hi {
                    return Err(invalid(format!(
                        "invalid output_size {o:?}: spatial dim {d} must be at least 1 and strictly between {lo} and {hi}"
                    )));
                }
                o[d]
            }
        };
    }
    let plane = out[0] * out[1];
    if indices.elem_count() > 0 {
        let lo = indices.min_all()?.to_scalar::<i64>()?;
        let hi = indices.max_all()?.to_scalar::<i64>()?;
        if lo < 0 || hi >= plane as i64 {
            let bad = if lo < 0 { lo } else { hi };
            return Err(invalid(format!(
                "found an invalid max index {bad}: the output plane is {} x {}",
                out[0], out[1]
            )));
        }
    }
    let (n, c) = (x.dims()[0], x.dims()[1]);
    let ids = indices.reshape([n, c, sizes[0] * sizes[1]])?;
    let src = x.reshape([n, c, sizes[0] * sizes[1]])?;
    let y = Tensor::zeros([n, c, plane], x.dtype(), x.device())?
        .scatter(2, &ids, &src)?
        .reshape([n, c, out[0], out[1]])?;
    if unbatched {
        y.squeeze(0)
    } else {
        Ok(y)
    }
}

// ---------------------------------------------------------------------------------------
// The shared bodies
// ---------------------------------------------------------------------------------------

/// The hyper-parameters of one pooling call, one entry per spatial dim.
struct Window {
    kernel: Vec<usize>,
    stride: Vec<usize>,
    padding: Vec<usize>,
    dilation: Vec<usize>,
    ceil_mode: bool,
}

impl Window {
    fn new2(
        kernel: [usize; 2],
        stride: Option<[usize; 2]>,
        padding: [usize; 2],
        dilation: [usize; 2],
        ceil_mode: bool,
    ) -> Window {
        Window {
            kernel: kernel.to_vec(),
            stride: stride.unwrap_or(kernel).to_vec(),
            padding: padding.to_vec(),
            dilation: dilation.to_vec(),
            ceil_mode,
        }
    }

    /// How many input positions a window spans along dim `i`.
    fn span(&self, i: usize) -> usize {
        (self.kernel[i] - 1) * self.dilation[i] + 1
    }

    /// The output sizes for spatial sizes `sizes` (PyTorch's `pooling_output_shape`),
    /// after checking the hyper-parameters.
    fn output_sizes(&self, op: &'static str, input: &Tensor) -> Result<Vec<usize>> {
        let invalid = |msg: String| Error::Invalid { op, msg };
        let desc = || {
            format!(
                "input {}, kernel {:?}, stride {:?}, padding {:?}, dilation {:?}",
                input.shape(),
                self.kernel,
                self.stride,
                self.padding,
                self.dilation
            )
        };
        if self.kernel.contains(&0) {
            return Err(invalid(format!(
                "{}: the kernel must be at least 1 in every dim",
                desc()
            )));
        }
        if self.stride.contains(&0) {
            return Err(invalid(format!(
                "{}: the stride must be at least 1 in every dim",
                desc()
            )));
        }
        if self.dilation.contains(&0) {
            return Err(invalid(format!(
                "{}: the dilation must be at least 1 in every dim",
                desc()
            )));
        }
        // PyTorch checks `padding <= kernel / 2` (and, weaker, half the dilated span).
        if (0..self.kernel.len()).any(|i| self.padding[i] > self.kernel[i] / 2) {
            return Err(invalid(format!(
                "{}: the padding must be at most half the kernel size",
                desc()
            )));
        }
        let sizes = &input.dims()[input.rank() - self.kernel.len()..];
        let mut out = Vec::with_capacity(sizes.len());
        for (i, &len) in sizes.iter().enumerate() {
            let (s, p) = (self.stride[i] as i64, self.padding[i] as i64);
            let room = len as i64 + 2 * p - self.span(i) as i64;
            let mut o = room.div_euclid(s) + 1;
            if self.ceil_mode {
                o = (room + s - 1).div_euclid(s) + 1;
                // The last window must start inside the input or its left padding.
                if (o - 1) * s >= len as i64 + p {
                    o -= 1;
                }
            }
            out.push(o);
        }
        if out.iter().any(|&o| o < 1) {
            return Err(invalid(format!(
                "{}{}: the output size would be {out:?}; the input is too small",
                desc(),
                if self.ceil_mode { ", ceil_mode" } else { "" }
            )));
        }
        Ok(out.into_iter().map(|o| o as usize).collect())
    }

    /// `pad`'s amounts for the windows: `padding` on both sides, and past the right end
    /// as far as the last `ceil_mode` window reaches.
    fn pads(&self, sizes: &[usize], out: &[usize]) -> Vec<isize> {
        (0..sizes.len())
            .rev()
            .flat_map(|i| {
                let padded = sizes[i] + 2 * self.padding[i];
                let reach = (out[i] - 1) * self.stride[i] + self.span(i);
                let p = self.padding[i] as isize;
                [p, p + reach.saturating_sub(padded) as isize]
            })
            .collect()
    }

    /// The padded input's windows: `[N, C, S..] -> [N, C, O.., k..]` (a view after the
    /// padding), every `dilation`-th element of each window's span.
    fn windows(&self, x: &Tensor, out: &[usize], fill: f64) -> Result<Tensor> {
        let pads = self.pads(&x.dims()[2..], out);
        let mut w = if pads.iter().any(|&p| p > 0) {
            x.pad(&pads, PadMode::Constant(fill))?
        } else {
            x.clone()
        };
        for (i, &o) in out.iter().enumerate() {
            let dim = 2 + i as isize;
            w = w
                .unfold(dim, self.span(i), self.stride[i])?
                .narrow(dim, 0, o)?;
            if self.dilation[i] > 1 {
                w = w.narrow_step(-1, 0, self.kernel[i], self.dilation[i])?;
            }
        }
        Ok(w)
    }

    /// For each output position `o` along dim `i`, the input position of each window
    /// element, and whether none of them is inside the input. A position in the padding
    /// is replaced by the window's first position `≥ 0`: the index PyTorch reports when
    /// nothing in the window beats −∞ (outside the input, ≥ `len`, only when the whole
    /// window lies in the padding, which takes a dilation).
    fn positions(&self, i: usize, len: usize, out: usize) -> (Vec<Vec<usize>>, Vec<bool>) {
        let (k, s, p, d) = (
            self.kernel[i] as i64,
            self.stride[i] as i64,
            self.padding[i] as i64,
            self.dilation[i] as i64,
        );
        let inside = |x: i64| (0..len as i64).contains(&x);
        (0..out as i64)
            .map(|o| {
                let at = |j: i64| o * s - p + j * d;
                // Padding is at most half the kernel, so some element is at 0 or later.
                let first = (0..k).map(at).find(|&x| x >= 0).unwrap_or(0);
                let row = (0..k)
                    .map(|j| if inside(at(j)) { at(j) } else { first } as usize)
                    .collect();
                (row, !inside(first))
            })
            .unzip()
    }
}

/// The input as `[N, C, S..]` and whether it came without the batch dim.
fn batched(op: &'static str, input: &Tensor, spatial: usize) -> Result<(Tensor, bool)> {
    let r = input.rank();
    if r != spatial + 1 && r != spatial + 2 {
        let (b, u) = if spatial == 1 {
            ("[N, C, L]", "[C, L]")
        } else {
            ("[N, C, H, W]", "[C, H, W]")
        };
        return Err(Error::Invalid {
            op,
            msg: format!(
                "input {}: expected rank {} {b} or rank {} (unbatched) {u}",
                input.shape(),
                spatial + 2,
                spatial + 1
            ),
        });
    }
    if !input.dtype().is_float() {
        return Err(Error::UnsupportedDType {
            op,
            dtype: input.dtype(),
        });
    }
    if input.dims()[r - spatial - 1..].contains(&0) {
        return Err(Error::Invalid {
            op,
            msg: format!(
                "input {}: the channel and spatial dims must not be empty",
                input.shape()
            ),
        });
    }
    if r == spatial + 1 {
        Ok((input.unsqueeze(0)?, true))
    } else {
        Ok((input.clone(), false))
    }
}

/// Drops the batch dim again from an unbatched input's results.
fn unbatch(values: Tensor, indices: Tensor, unbatched: bool) -> Result<(Tensor, Tensor)> {
    if unbatched {
        Ok((values.squeeze(0)?, indices.squeeze(0)?))
    } else {
        Ok((values, indices))
    }
}

fn max_pool(op: &'static str, input: &Tensor, win: &Window) -> Result<(Tensor, Tensor)> {
    let spatial = win.kernel.len();
    let (x, unbatched) = batched(op, input, spatial)?;
    let out = win.output_sizes(op, input)?;
    // The backend's one-pass arg-max where it has one (dilation 1: every window then holds
    // an input element); the values come from the input through `gather` either way.
    if win.dilation.iter().all(|&d| d == 1) {
        let geo = PoolGeometry {
            batch: x.dims()[0],
            channels: x.dims()[1],
            input: x.dims()[2..].into(),
            kernel: win.kernel.as_slice().into(),
            stride: win.stride.as_slice().into(),
            padding: win.padding.as_slice().into(),
            output: out.as_slice().into(),
        };
        if let Some(indices) = x.detach().max_pool_indices(&geo)? {
            let values = pick(&x, &indices)?;
            return unbatch(values, indices, unbatched);
        }
    }
    // [N, C, O.., k..] -> [N, C, O.., k1·k2], then the first maximum of each window.
    let mut dims = x.dims()[..2].to_vec();
    dims.extend(&out);
    dims.push(win.kernel.iter().product());
    let windows = win
        .windows(&x.detach(), &out, f64::NEG_INFINITY)?
        .reshape(dims)?;
    let arg = windows.argmax(-1, false)?;
    let sizes = &x.dims()[2..];
    let (tables, empty): (Vec<_>, Vec<_>) = (0..spatial)
        .map(|i| win.positions(i, sizes[i], out[i]))
        .unzip();
    let indices = window_indices(&arg, sizes, &tables)?;
    if !empty.iter().flatten().any(|&e| e) {
        let values = pick(&x, &indices)?;
        return unbatch(values, indices, unbatched);
    }
    // Windows wholly in the padding give −∞ (and no gradient), as in PyTorch, whose
    // index for them may lie outside the input: read the others only.
    let count: usize = out.iter().product();
    let mask: Vec<bool> = (0..count)
        .map(|flat| {
            let mut rest = flat;
            let mut any = false;
            for i in (0..spatial).rev() {
                any |= empty[i][rest % out[i]];
                rest /= out[i];
            }
            any
        })
        .collect();
    let mask = Tensor::from_vec(mask, out.clone(), x.device())?;
    let values =
        pick(&x, &indices.masked_fill(&mask, 0.0)?)?.masked_fill(&mask, f64::NEG_INFINITY)?;
    unbatch(values, indices, unbatched)
}

/// `x[n, c, indices[n, c, ..]]` over the flattened spatial plane: the values at the
/// arg-maxima, read from the input itself, so its gradient goes to exactly those
/// positions (a window's maximum from a −∞ input ties with −∞ padding, but its index
/// never points into the padding).
fn pick(x: &Tensor, indices: &Tensor) -> Result<Tensor> {
    x.flatten(2, -1)?
        .gather(2, &indices.flatten(2, -1)?)?
        .reshape(indices.shape())
}

fn avg_pool(
    op: &'static str,
    input: &Tensor,
    win: &Window,
    count_include_pad: bool,
    divisor_override: Option<usize>,
) -> Result<Tensor> {
    let spatial = win.kernel.len();
    let (x, unbatched) = batched(op, input, spatial)?;
    let out = win.output_sizes(op, input)?;
    if divisor_override == Some(0) {
        return Err(Error::Invalid {
            op,
            msg: "divisor_override must not be 0".into(),
        });
    }
    // The window sum is separable: along W, then along H, each the sum of `kernel`
    // strided slices of the zero-padded input (slice `j` holds every window's `j`-th
    // element), kH + kW additions per output rather than kH·kW, on plain strided views
    // (a reduction over `unfold`'s window dim is several times slower on the CPU).
    let pads = win.pads(&x.dims()[2..], &out);
    let mut sums = if pads.iter().any(|&p| p > 0) {
        x.pad(&pads, PadMode::Constant(0.0))?
    } else {
        x.clone()
    };
    for i in (0..spatial).rev() {
        let (dim, o, s) = (2 + i as isize, out[i], win.stride[i]);
        let mut acc = sums.narrow_step(dim, 0, o, s)?;
        for j in 1..win.kernel[i] {
            acc = (&acc + &sums.narrow_step(dim, j, o, s)?)?;
        }
        sums = acc;
    }
    // PyTorch's divisor, per dim (it is a product): the window clipped to the padded
    // input, or to the input without `count_include_pad`. A window with nothing inside
    // the input sums to 0 and is divided by 1 (PyTorch writes 0).
    let sizes = &x.dims()[2..];
    let per_dim: Vec<Vec<f64>> = (0..spatial)
        .map(|i| {
            let (len, k, s, p) = (
                sizes[i] as i64,
                win.kernel[i] as i64,
                win.stride[i] as i64,
                win.padding[i] as i64,
            );
            (0..out[i] as i64)
                .map(|o| {
                    let start = o * s - p;
                    let end = (start + k).min(len + p);
                    let inside = end.min(len) - start.max(0);
                    let n = if count_include_pad {
                        end - start
                    } else {
                        inside
                    };
                    if inside <= 0 {
                        1.0
                    } else {
                        n as f64
                    }
                })
                .collect()
        })
        .collect();
    let count: usize = out.iter().product();
    let divisor: Vec<f64> = (0..count)
        .map(|flat| match divisor_override {
            Some(d) => d as f64,
            None => {
                let mut rest = flat;
                let mut prod = 1.0;
                for i in (0..spatial).rev() {
                    prod *= per_dim[i][rest % out[i]];
                    rest /= out[i];
                }
                prod
            }
        })
        .collect();
    let divisor = Tensor::from_vec(divisor, out.clone(), x.device())?.to_dtype(x.dtype())?;
    let y = (&sums / &divisor)?;
    if unbatched {
        y.squeeze(0)
    } else {
        Ok(y)
    }
}

/// Bin `i` of `out` over `len` positions: `⌊i·len / out⌋ .. ⌈(i + 1)·len / out⌉`.
fn bin(i: usize, len: usize, out: usize) -> (usize, usize) {
    (i * len / out, ((i + 1) * len).div_ceil(out))
}

fn check_adaptive(op: &'static str, input: &Tensor, output_size: &[usize]) -> Result<()> {
    if output_size.contains(&0) {
        return Err(Error::Invalid {
            op,
            msg: format!(
                "input {}, output_size {output_size:?}: the output size must be at least 1 in every dim",
                input.shape()
            ),
        });
    }
    Ok(())
}

fn adaptive_avg_pool(op: &'static str, input: &Tensor, output_size: &[usize]) -> Result<Tensor> {
    let spatial = output_size.len();
    let (x, unbatched) = batched(op, input, spatial)?;
    check_adaptive(op, input, output_size)?;
    // Sums over each bin as matmuls with a 0/1 bin matrix per dim ([len, out], last dim
    // first, so W is summed by `x @ B_w` and H by `B_hᵀ @ ..`), then divided by the bin
    // sizes.
    let sizes = x.dims()[2..].to_vec();
    let bins = |d: usize| -> Result<(Tensor, Vec<f64>)> {
        let (len, out) = (sizes[d], output_size[d]);
        let mut m = vec![0.0; len * out];
        let mut widths = Vec::with_capacity(out);
        for o in 0..out {
            let (s, e) = bin(o, len, out);
            for row in m[s * out..e * out].chunks_mut(out) {
                row[o] = 1.0;
            }
            widths.push((e - s) as f64);
        }
        let m = Tensor::from_vec(m, [len, out], x.device())?.to_dtype(x.dtype())?;
        Ok((m, widths))
    };
    let (bw, ww) = bins(spatial - 1)?;
    let mut y = x.matmul(&bw)?;
    let mut counts = ww.clone();
    if spatial == 2 {
        let (bh, wh) = bins(0)?;
        y = bh.t()?.matmul(&y)?;
        counts = wh
            .iter()
            .flat_map(|h| ww.iter().map(move |w| h * w))
            .collect();
    }
    let counts = Tensor::from_vec(counts, output_size.to_vec(), x.device())?.to_dtype(x.dtype())?;
    let y = (&y / &counts)?;
    if unbatched {
        y.squeeze(0)
    } else {
        Ok(y)
    }
}

/// A per-dim table `[out][k]` of positions as one `I64` index list (row-major).
fn flat_ids(table: &[Vec<usize>], dev: &lamina_tensor::Device) -> Result<Tensor> {
    let ids: Vec<i64> = table.iter().flatten().map(|&p| p as i64).collect();
    let n = ids.len();
    Tensor::from_vec(ids, [n], dev)
}

/// The flat input positions (`Σ position_i · stride_i` over the spatial dims) of the
/// window elements `arg` picked (`[N, C, O..]`, an index into the row-major window
/// `k1·k2`), from each dim's table of positions `[O_i][k_i]`.
fn window_indices(arg: &Tensor, sizes: &[usize], tables: &[Vec<Vec<usize>>]) -> Result<Tensor> {
    let spatial = sizes.len();
    let out: Vec<usize> = tables.iter().map(Vec::len).collect();
    let ks: Vec<usize> = tables.iter().map(|t| t[0].len()).collect();
    // Row-major strides of the input plane.
    let mut plane_stride = vec![1usize; spatial];
    for i in (0..spatial - 1).rev() {
        plane_stride[i] = plane_stride[i + 1] * sizes[i + 1];
    }
    // [O.., K] with K = Π k_i, dims in the order O1..Od, k1..kd.
    let mut extent = out.clone();
    extent.extend(&ks);
    let total: usize = extent.iter().product();
    let mut flat = Vec::with_capacity(total);
    let mut at = vec![0usize; 2 * spatial];
    for idx in 0..total {
        let mut rest = idx;
        for d in (0..2 * spatial).rev() {
            at[d] = rest % extent[d];
            rest /= extent[d];
        }
        let pos: usize = (0..spatial)
            .map(|i| tables[i][at[i]][at[spatial + i]] * plane_stride[i])
            .sum();
        flat.push(pos as i64);
    }
    let k: usize = ks.iter().product();
    let mut table_dims = out.clone();
    table_dims.push(k);
    let table = Tensor::from_vec(flat, table_dims, arg.device())?;
    let mut full = arg.dims().to_vec();
    full.push(k);
    table
        .broadcast_to(full)?
        .gather(-1, &arg.unsqueeze(-1)?)?
        .squeeze(-1)
}

// ---------------------------------------------------------------------------------------
// Modules
// ---------------------------------------------------------------------------------------

/// `Module` for a parameterless pooling layer with a `name()` that says its sizes.
macro_rules! pool_module {
    ($ty:ty, |$s:ident, $x:ident| $body:expr, |$n:ident| $name:expr) => {
        impl Module for $ty {
            fn forward(&self, $x: &Tensor) -> Result<Tensor> {
                let $s = self;
                $body
            }
            fn visit<'a>(&'a self, _: &str, _: &mut dyn FnMut(String, &'a Tensor)) {}
            fn visit_mut<'a>(&'a mut self, _: &str, _: &mut dyn FnMut(String, &'a mut Tensor)) {}
            fn set_training(&mut self, _: bool) {}
            fn as_any(&self) -> Option<&dyn std::any::Any> {
                Some(self)
            }
            fn name(&self) -> String {
                let $n = self;
                $name
            }
        }
    };
}

/// `", what value"` when `value` is not the default.
fn unless_default<T: PartialEq + std::fmt::Debug>(what: &str, value: T, default: T) -> String {
    if value == default {
        String::new()
    } else {
        format!(", {what} {value:?}")
    }
}

fn flag(what: &str, on: bool) -> &str {
    if on {
        what
    } else {
        ""
    }
}

/// PyTorch's `nn.MaxPool1d`: [`max_pool1d`] as a layer. `MaxPool1d::new(kernel)` has
/// stride `kernel`, no padding, dilation 1 and floor rounding; the `with_*` setters change
/// them.
///
/// ```
/// use lamina_nn::{MaxPool1d, Module};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let pool = MaxPool1d::new(3).with_stride(2).with_padding(1);
/// assert_eq!(pool.name(), "MaxPool1d(kernel 3, stride 2, padding 1)");
/// let x = Tensor::zeros([4, 2, 9], DType::F32, &dev)?;
/// assert_eq!(pool.forward(&x)?.dims(), &[4, 2, 5]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool1d {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    pub ceil_mode: bool,
}

impl MaxPool1d {
    pub fn new(kernel: usize) -> Self {
        MaxPool1d {
            kernel,
            stride: kernel,
            padding: 0,
            dilation: 1,
            ceil_mode: false,
        }
    }
    pub fn with_stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }
    pub fn with_padding(mut self, padding: usize) -> Self {
        self.padding = padding;
        self
    }
    pub fn with_dilation(mut self, dilation: usize) -> Self {
        self.dilation = dilation;
        self
    }
    pub fn with_ceil_mode(mut self, ceil_mode: bool) -> Self {
        self.ceil_mode = ceil_mode;
        self
    }
}

pool_module!(
    MaxPool1d,
    |s, x| max_pool1d(
        x,
        s.kernel,
        Some(s.stride),
        s.padding,
        s.dilation,
        s.ceil_mode
    ),
    |s| format!(
        "MaxPool1d(kernel {}, stride {}{}{}{})",
        s.kernel,
        s.stride,
        unless_default("padding", s.padding, 0),
        unless_default("dilation", s.dilation, 1),
        flag(", ceil_mode", s.ceil_mode)
    )
);

/// PyTorch's `nn.MaxPool2d`: [`max_pool2d`] as a layer. `MaxPool2d::new(kernel)` has
/// stride `kernel`, no padding, dilation 1 and floor rounding; the `with_*` setters change
/// them.
///
/// ```
/// use lamina_nn::{MaxPool2d, Module};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let pool = MaxPool2d::new([2, 2]);
/// assert_eq!(pool.name(), "MaxPool2d(kernel [2, 2], stride [2, 2])");
/// let x = Tensor::zeros([8, 3, 28, 28], DType::F32, &dev)?;
/// assert_eq!(pool.forward(&x)?.dims(), &[8, 3, 14, 14]);
/// let pool = MaxPool2d::new([3, 3]).with_stride([2, 2]).with_padding([1, 1]).with_ceil_mode(true);
/// assert_eq!(pool.name(), "MaxPool2d(kernel [3, 3], stride [2, 2], padding [1, 1], ceil_mode)");
/// assert_eq!(pool.forward(&x)?.dims(), &[8, 3, 15, 15]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2d {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub ceil_mode: bool,
}

impl MaxPool2d {
    pub fn new(kernel: impl Size<2>) -> Self {
        let kernel = kernel.size();
        MaxPool2d {
            kernel,
            stride: kernel,
            padding: [0, 0],
            dilation: [1, 1],
            ceil_mode: false,
        }
    }
    pub fn with_stride(mut self, stride: impl Size<2>) -> Self {
        let stride = stride.size();
        self.stride = stride;
        self
    }
    pub fn with_padding(mut self, padding: impl Size<2>) -> Self {
        let padding = padding.size();
        self.padding = padding;
        self
    }
    pub fn with_dilation(mut self, dilation: impl Size<2>) -> Self {
        let dilation = dilation.size();
        self.dilation = dilation;
        self
    }
    pub fn with_ceil_mode(mut self, ceil_mode: bool) -> Self {
        self.ceil_mode = ceil_mode;
        self
    }
}

pool_module!(
    MaxPool2d,
    |s, x| max_pool2d(
        x,
        s.kernel,
        Some(s.stride),
        s.padding,
        s.dilation,
        s.ceil_mode
    ),
    |s| format!(
        "MaxPool2d(kernel {:?}, stride {:?}{}{}{})",
        s.kernel,
        s.stride,
        unless_default("padding", s.padding, [0, 0]),
        unless_default("dilation", s.dilation, [1, 1]),
        flag(", ceil_mode", s.ceil_mode)
    )
);

/// PyTorch's `nn.AvgPool1d`: [`avg_pool1d`] as a layer. `AvgPool1d::new(kernel)` has
/// stride `kernel`, no padding, floor rounding and `count_include_pad`; the `with_*`
/// setters change them.
///
/// ```
/// use lamina_nn::{AvgPool1d, Module};
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let pool = AvgPool1d::new(2).with_padding(1).with_count_include_pad(false);
/// assert_eq!(pool.name(), "AvgPool1d(kernel 2, stride 2, padding 1, count_include_pad false)");
/// let x = Tensor::new(&[[[2.0f32, 4.0, 6.0, 8.0]]], &dev)?;
/// assert_eq!(pool.forward(&x)?.to_vec3::<f32>()?, [[[2.0, 5.0, 8.0]]]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool1d {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub ceil_mode: bool,
    pub count_include_pad: bool,
}

impl AvgPool1d {
    pub fn new(kernel: usize) -> Self {
        AvgPool1d {
            kernel,
            stride: kernel,
            padding: 0,
            ceil_mode: false,
            count_include_pad: true,
        }
    }
    pub fn with_stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }
    pub fn with_padding(mut self, padding: usize) -> Self {
        self.padding = padding;
        self
    }
    pub fn with_ceil_mode(mut self, ceil_mode: bool) -> Self {
        self.ceil_mode = ceil_mode;
        self
    }
    pub fn with_count_include_pad(mut self, count_include_pad: bool) -> Self {
        self.count_include_pad = count_include_pad;
        self
    }
}

pool_module!(
    AvgPool1d,
    |s, x| avg_pool1d(
        x,
        s.kernel,
        Some(s.stride),
        s.padding,
        s.ceil_mode,
        s.count_include_pad
    ),
    |s| format!(
        "AvgPool1d(kernel {}, stride {}{}{}{})",
        s.kernel,
        s.stride,
        unless_default("padding", s.padding, 0),
        flag(", ceil_mode", s.ceil_mode),
        unless_default("count_include_pad", s.count_include_pad, true)
    )
);

/// PyTorch's `nn.AvgPool2d`: [`avg_pool2d`] as a layer. `AvgPool2d::new(kernel)` has
/// stride `kernel`, no padding, floor rounding, `count_include_pad` and no divisor
/// override; the `with_*` setters change them.
///
/// ```
/// use lamina_nn::{AvgPool2d, Module};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let pool = AvgPool2d::new([2, 2]).with_divisor_override(Some(1));
/// assert_eq!(pool.name(), "AvgPool2d(kernel [2, 2], stride [2, 2], divisor_override 1)");
/// let x = Tensor::ones([1, 1, 4, 4], DType::F32, &dev)?;
/// assert_eq!(pool.forward(&x)?.to_vec::<f32>()?, [4.0; 4]); // sum pooling
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2d {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub ceil_mode: bool,
    pub count_include_pad: bool,
    pub divisor_override: Option<usize>,
}

impl AvgPool2d {
    pub fn new(kernel: impl Size<2>) -> Self {
        let kernel = kernel.size();
        AvgPool2d {
            kernel,
            stride: kernel,
            padding: [0, 0],
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        }
    }
    pub fn with_stride(mut self, stride: impl Size<2>) -> Self {
        let stride = stride.size();
        self.stride = stride;
        self
    }
    pub fn with_padding(mut self, padding: impl Size<2>) -> Self {
        let padding = padding.size();
        self.padding = padding;
        self
    }
    pub fn with_ceil_mode(mut self, ceil_mode: bool) -> Self {
        self.ceil_mode = ceil_mode;
        self
    }
    pub fn with_count_include_pad(mut self, count_include_pad: bool) -> Self {
        self.count_include_pad = count_include_pad;
        self
    }
    pub fn with_divisor_override(mut self, divisor_override: Option<usize>) -> Self {
        self.divisor_override = divisor_override;
        self
    }
}

pool_module!(
    AvgPool2d,
    |s, x| avg_pool2d(
        x,
        s.kernel,
        Some(s.stride),
        s.padding,
        s.ceil_mode,
        s.count_include_pad,
        s.divisor_override
    ),
    |s| format!(
        "AvgPool2d(kernel {:?}, stride {:?}{}{}{}{})",
        s.kernel,
        s.stride,
        unless_default("padding", s.padding, [0, 0]),
        flag(", ceil_mode", s.ceil_mode),
        unless_default("count_include_pad", s.count_include_pad, true),
        s.divisor_override
            .map(|d| format!(", divisor_override {d}"))
            .unwrap_or_default()
    )
);

/// PyTorch's `nn.AdaptiveAvgPool2d`: [`adaptive_avg_pool2d`] to a fixed output size,
/// whatever the input's; `AdaptiveAvgPool2d::new([1, 1])` is global average pooling.
///
/// ```
/// use lamina_nn::{AdaptiveAvgPool2d, Module};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let pool = AdaptiveAvgPool2d::new([1, 1]);
/// assert_eq!(pool.name(), "AdaptiveAvgPool2d(output [1, 1])");
/// let x = Tensor::ones([8, 64, 7, 5], DType::F32, &dev)?;
/// assert_eq!(pool.forward(&x)?.dims(), &[8, 64, 1, 1]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptiveAvgPool2d {
    pub output_size: [usize; 2],
}

impl AdaptiveAvgPool2d {
    pub fn new(output_size: [usize; 2]) -> Self {
        AdaptiveAvgPool2d { output_size }
    }
}

pool_module!(
    AdaptiveAvgPool2d,
    |s, x| adaptive_avg_pool2d(x, s.output_size),
    |s| format!("AdaptiveAvgPool2d(output {:?})", s.output_size)
);

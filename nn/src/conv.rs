//! Convolution as a composite: zero padding (`pad`), sliding windows (`unfold`, with every
//! `dilation`-th element of a wider window), then one matmul batched over samples and
//! groups. Every step is made of recorded ops, so the gradients of the input, the weight
//! and the bias come from autograd with no convolution rule of its own. Layouts follow PyTorch:
//! input `[N, C_in, (H,) W]`, weight `[C_out, C_in / groups, (kH,) kW]`, bias `[C_out]`.

use lamina_tensor::{Error, PadMode, Result, Tensor};

/// A 1-D convolution (PyTorch `F.conv1d`, cross-correlation as in every framework):
/// `out[n, o, x] = bias[o] + Σ_{c, k} input[n, g·C_in/groups + c, x·stride + k·dilation −
/// padding] · weight[o, c, k]`, where `g` is the group of output channel `o` and the
/// input is zero outside its bounds. Input `[N, C_in, W]`, weight `[C_out, C_in / groups,
/// kW]`, bias `[C_out]`; output `[N, C_out, W']` with
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
    stride: usize,
    padding: usize,
    dilation: usize,
    groups: usize,
) -> Result<Tensor> {
    conv(
        "conv1d",
        input,
        weight,
        bias,
        &[stride],
        &[padding],
        &[dilation],
        groups,
    )
}

/// A 2-D convolution (PyTorch `F.conv2d`): as [`conv1d`] over two spatial dims, with
/// `stride`, `padding` and `dilation` given as `[along H, along W]`. Input
/// `[N, C_in, H, W]`, weight `[C_out, C_in / groups, kH, kW]`, bias `[C_out]`; output
/// `[N, C_out, H', W']` with `H' = (H + 2·padding[0] − dilation[0]·(kH − 1) − 1) /
/// stride[0] + 1` (W' alike).
///
/// ```
/// use lamina_nn::functional::conv2d;
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::ones([1, 2, 4, 4], DType::F32, &dev)?;
/// let w = Tensor::ones([3, 2, 3, 3], DType::F32, &dev)?;
/// let y = conv2d(&x, &w, None, [1, 1], [1, 1], [1, 1], 1)?;
/// assert_eq!(y.dims(), &[1, 3, 4, 4]);
/// // A corner sees 2 × 2 of the 3 × 3 window in each of the 2 channels.
/// assert_eq!(y.i((0, 0, 0, 0))?.to_scalar::<f32>()?, 8.0);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn conv2d(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
) -> Result<Tensor> {
    conv(
        "conv2d", input, weight, bias, &stride, &padding, &dilation, groups,
    )
}

/// The shared body: `stride`, `padding` and `dilation` hold one entry per spatial dim.
#[allow(clippy::too_many_arguments)]
fn conv(
    op: &'static str,
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: &[usize],
    padding: &[usize],
    dilation: &[usize],
    groups: usize,
) -> Result<Tensor> {
    let spatial = stride.len();
    let invalid = |msg: String| Error::Invalid { op, msg };
    let (x_dims, w_dims) = (input.dims(), weight.dims());
    let shapes = format!("input {}, weight {}", input.shape(), weight.shape());
    if x_dims.len() != spatial + 2 || w_dims.len() != spatial + 2 {
        return Err(invalid(format!(
            "{shapes}: input and weight must both have rank {} ([N, C, {}] and [C_out, C_in / groups, {}])",
            spatial + 2,
            if spatial == 1 { "W" } else { "H, W" },
            if spatial == 1 { "kW" } else { "kH, kW" },
        )));
    }
    let (n, c_in, c_out) = (x_dims[0], x_dims[1], w_dims[0]);
    if groups == 0 || c_in % groups != 0 || c_out % groups != 0 {
        return Err(invalid(format!(
            "{shapes}, groups {groups}: groups must be at least 1 and divide both C_in ({c_in}) and C_out ({c_out})"
        )));
    }
    if w_dims[1] != c_in / groups {
        return Err(invalid(format!(
            "{shapes}, groups {groups}: weight dim 1 must be C_in / groups = {}",
            c_in / groups
        )));
    }
    if stride.contains(&0) || dilation.contains(&0) {
        return Err(invalid(format!(
            "{shapes}: stride {stride:?} and dilation {dilation:?} must be at least 1"
        )));
    }
    if let Some(b) = bias {
        if b.dims() != [c_out] {
            return Err(invalid(format!(
                "{shapes}, bias {}: the bias must have shape [C_out] = [{c_out}]",
                b.shape()
            )));
        }
    }
    // Each window spans `(k - 1) * dilation + 1` padded input positions.
    let kernel = &w_dims[2..];
    let mut out_sizes = Vec::with_capacity(spatial);
    for i in 0..spatial {
        let padded = x_dims[2 + i] + 2 * padding[i];
        let span = (kernel[i].max(1) - 1) * dilation[i] + 1;
        if kernel[i] == 0 || span > padded {
            return Err(invalid(format!(
                "{shapes}, padding {padding:?}, dilation {dilation:?}: the kernel (spanning {span} with dilation) must fit the padded input ({padded}) along spatial dim {i}"
            )));
        }
        out_sizes.push((padded - span) / stride[i] + 1);
    }

    // Zero padding: `pad` takes (before, after) pairs from the last dim backwards.
    let mut x = input.clone();
    if padding.iter().any(|&p| p > 0) {
        let pads: Vec<isize> = padding
            .iter()
            .rev()
            .flat_map(|&p| [p as isize, p as isize])
            .collect();
        x = x.pad(&pads, PadMode::Constant(0.0))?;
    }
    // [N, C, S1, .., Sd] -> [N, C, O1, .., Od, k1, .., kd]: each unfold appends its window
    // dim; a dilated window is unfolded at its full span and then thinned.
    for i in 0..spatial {
        let span = (kernel[i] - 1) * dilation[i] + 1;
        x = x.unfold(2 + i as isize, span, stride[i])?;
        if dilation[i] > 1 {
            x = x.narrow_step(-1, 0, kernel[i], dilation[i])?;
        }
    }
    // Patches as rows: [N, G, C/G, O.., k..] -> [N, G, L, C/G * k..].
    let (cg, og) = (c_in / groups, c_out / groups);
    let l: usize = out_sizes.iter().product();
    let kk: usize = kernel.iter().product::<usize>() * cg;
    let mut split = vec![n, groups, cg];
    split.extend(x.dims()[2..].iter().copied());
    let x = x.reshape(split)?;
    // Move the channel-in-group dim next to the kernel dims.
    let mut perm: Vec<usize> = vec![0, 1];
    perm.extend(3..3 + spatial);
    perm.push(2);
    perm.extend(3 + spatial..3 + 2 * spatial);
    let patches = x.permute(perm)?.reshape([n, groups, l, kk])?;
    // Weight as [G, C/G * k.., C_out/G], then [N, G, L, C_out/G].
    let w = weight.reshape([groups, og, kk])?.transpose(-1, -2)?;
    let y = patches.matmul(&w)?;
    // [N, G, L, C_out/G] -> [N, G, C_out/G, L] -> [N, C_out, O..].
    let mut out_dims = vec![n, c_out];
    out_dims.extend(out_sizes.iter().copied());
    let y = y.transpose(-1, -2)?.reshape(out_dims)?;
    match bias {
        Some(b) => {
            let mut bshape = vec![c_out];
            bshape.extend(std::iter::repeat_n(1, spatial));
            &y + &b.reshape(bshape)?
        }
        None => Ok(y),
    }
}

//! Convolution as three recorded primitives, each the adjoint of the others, so every
//! gradient (of any order) is again one of them:
//!
//! - [`Tensor::conv`]: `y = conv(x, w)`, input `[N, C_in, S..]`, weight
//!   `[C_out, C_in / groups, k..]`, output `[N, C_out, O..]` (cross-correlation, as every
//!   framework);
//! - [`Tensor::conv_input_grad`]: `dx = conv_input_grad(dy, w)`, the input gradient of a
//!   convolution, which is also the transposed convolution;
//! - [`Tensor::conv_weight_grad`]: `dw = conv_weight_grad(x, dy)`, the weight gradient.
//!
//! Each asks the backend for a kernel ([`Backend::conv`](crate::backend::Backend::conv) and
//! siblings) and otherwise runs a composite of recorded-free tensor ops (zero padding,
//! `unfold`, batched matmul, strided adds), so a new backend works from its first day.

use crate::hook::{self, Op};
use crate::{DimVec, Error, Layout, PadMode, Result, Shape, StorageRef, Tensor};

/// The hyper-parameters of a convolution over `d` spatial dims (1, 2 or 3): one stride,
/// zero padding (the same on both sides) and dilation per spatial dim, and the number of
/// channel groups.
///
/// ```
/// use lamina_tensor::ConvSpec;
/// let spec = ConvSpec::new(&[2, 2], &[1, 1], &[1, 1], 1);
/// assert_eq!(spec.output_size(0, 28, 3), Some(14)); // (28 + 2 - 3) / 2 + 1
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConvSpec {
    pub stride: DimVec,
    pub padding: DimVec,
    pub dilation: DimVec,
    pub groups: usize,
}

impl ConvSpec {
    /// A spec from per-dim slices (all the same length: the number of spatial dims).
    pub fn new(stride: &[usize], padding: &[usize], dilation: &[usize], groups: usize) -> Self {
        ConvSpec {
            stride: stride.into(),
            padding: padding.into(),
            dilation: dilation.into(),
            groups,
        }
    }

    /// Number of spatial dims.
    pub fn spatial(&self) -> usize {
        self.stride.len()
    }

    /// The output length along spatial dim `i` for an input of `size` and a kernel of
    /// `kernel`: `(size + 2 padding - dilation (kernel - 1) - 1) / stride + 1`, or `None`
    /// when the dilated kernel does not fit the padded input.
    pub fn output_size(&self, i: usize, size: usize, kernel: usize) -> Option<usize> {
        let padded = size + 2 * self.padding[i];
        let span = (kernel.checked_sub(1)?) * self.dilation[i] + 1;
        (span <= padded).then(|| (padded - span) / self.stride[i] + 1)
    }

    /// Checks the spec against an input shape `[N, C_in, S..]` and a weight shape
    /// `[C_out, C_in / groups, k..]` and returns the whole geometry.
    pub fn geometry(
        &self,
        op: &'static str,
        input: &Shape,
        weight: &Shape,
    ) -> Result<ConvGeometry> {
        let d = self.spatial();
        let invalid = |msg: String| Error::Invalid { op, msg };
        let shapes = format!("input {input}, weight {weight}");
        if !(1..=3).contains(&d) || self.padding.len() != d || self.dilation.len() != d {
            return Err(invalid(format!(
                "stride {:?}, padding {:?} and dilation {:?} must each have one entry per spatial dim (1 to 3)",
                self.stride, self.padding, self.dilation
            )));
        }
        let (xd, wd) = (input.dims(), weight.dims());
        if xd.len() != d + 2 || wd.len() != d + 2 {
            return Err(invalid(format!(
                "{shapes}: input and weight must both have rank {} ([N, C_in, {d} spatial dims] and [C_out, C_in / groups, {d} kernel dims])",
                d + 2
            )));
        }
        let (n, c_in, c_out, g) = (xd[0], xd[1], wd[0], self.groups);
        if g == 0 || c_in % g != 0 || c_out % g != 0 {
            return Err(invalid(format!(
                "{shapes}, groups {g}: groups must be at least 1 and divide both C_in ({c_in}) and C_out ({c_out})"
            )));
        }
        if wd[1] != c_in / g {
            return Err(invalid(format!(
                "{shapes}, groups {g}: weight dim 1 must be C_in / groups = {}",
                c_in / g
            )));
        }
        if self.stride.contains(&0) || self.dilation.contains(&0) {
            return Err(invalid(format!(
                "{shapes}: stride {:?} and dilation {:?} must be at least 1",
                self.stride, self.dilation
            )));
        }
        let mut output = DimVec::new();
        for i in 0..d {
            match self.output_size(i, xd[2 + i], wd[2 + i]) {
                Some(o) => output.push(o),
                None => {
                    let span = wd[2 + i].max(1).saturating_sub(1) * self.dilation[i] + 1;
                    return Err(invalid(format!(
                        "{shapes}, padding {:?}, dilation {:?}: the kernel (size {}, spanning {span} with dilation) must fit the padded input ({}) along spatial dim {i}",
                        self.padding,
                        self.dilation,
                        wd[2 + i],
                        xd[2 + i] + 2 * self.padding[i]
                    )));
                }
            }
        }
        Ok(ConvGeometry {
            spec: self.clone(),
            batch: n,
            in_channels: c_in,
            out_channels: c_out,
            input: xd[2..].into(),
            kernel: wd[2..].into(),
            output,
        })
    }
}

/// A checked convolution: its spec and every size, as backends receive it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub spec: ConvSpec,
    pub batch: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    /// Input spatial sizes.
    pub input: DimVec,
    /// Kernel spatial sizes.
    pub kernel: DimVec,
    /// Output spatial sizes.
    pub output: DimVec,
}

impl ConvGeometry {
    /// `[N, C_in, S..]`.
    pub fn input_shape(&self) -> Shape {
        self.shape(self.batch, self.in_channels, &self.input)
    }
    /// `[C_out, C_in / groups, k..]`.
    pub fn weight_shape(&self) -> Shape {
        self.shape(
            self.out_channels,
            self.in_channels / self.spec.groups,
            &self.kernel,
        )
    }
    /// `[N, C_out, O..]`.
    pub fn output_shape(&self) -> Shape {
        self.shape(self.batch, self.out_channels, &self.output)
    }
    /// Output positions per sample and channel (`L`, the im2col column count).
    pub fn output_len(&self) -> usize {
        self.output.iter().product()
    }
    /// Kernel positions (`k1 · k2 ..`).
    pub fn kernel_len(&self) -> usize {
        self.kernel.iter().product()
    }
    /// Input positions per sample and channel.
    pub fn input_len(&self) -> usize {
        self.input.iter().product()
    }
    fn shape(&self, a: usize, b: usize, rest: &[usize]) -> Shape {
        let mut d = vec![a, b];
        d.extend_from_slice(rest);
        Shape::new(d)
    }
}

impl Tensor {
    /// The convolution `y[n, o, x..] = Σ_{c, k..} self[n, g C_in/G + c, x s + k d - p] ·
    /// weight[o, c, k..]` (zero outside the input; `g` the group of `o`), PyTorch's
    /// `F.conv1d/2d/3d` without the bias. Input `[N, C_in, S..]`, weight
    /// `[C_out, C_in / groups, k..]`, output `[N, C_out, O..]` with
    /// `O = (S + 2p - d (k - 1) - 1) / s + 1`.
    ///
    /// (Not compiled here: `lamina-tensor` has no backend to run it on; the backends'
    /// and autograd's tests check the same values.)
    ///
    /// ```ignore
    /// use lamina_tensor::{ConvSpec, Tensor};
    /// let dev = lamina_backend_cpu::device();
    /// let x = Tensor::new(&[[[1.0f32, 2.0, 3.0, 4.0]]], &dev)?;
    /// let w = Tensor::new(&[[[1.0f32, -1.0]]], &dev)?;
    /// let y = x.conv(&w, &ConvSpec::new(&[1], &[0], &[1], 1))?;
    /// assert_eq!(y.to_vec3::<f32>()?, [[[-1.0, -1.0, -1.0]]]);
    /// # Ok::<(), lamina_tensor::Error>(())
    /// ```
    pub fn conv(&self, weight: &Tensor, spec: &ConvSpec) -> Result<Tensor> {
        const OP: &str = "conv";
        if let Some(v) = crate::autocast::lowered(&[self, weight])? {
            return v[0].conv(&v[1], spec);
        }
        self.check_same(weight, OP)?;
        self.check_float(OP)?;
        let geo = spec.geometry(OP, self.shape(), weight.shape())?;
        let out = hook::paused(|| {
            let (x, w) = (self.contiguous()?, weight.contiguous()?);
            let kernel = self.device().backend().conv(
                x.storage(),
                x.layout(),
                w.storage(),
                w.layout(),
                &geo,
            );
            match kernel {
                Some(s) => Ok(self.conv_result(s?, geo.output_shape())),
                None => conv_composite(&x, &w, &geo),
            }
        })?;
        hook::record(|| Op::Conv(spec.clone()), &[self, weight], &out);
        Ok(out)
    }

    /// The input gradient of a convolution: given the output gradient `self`
    /// (`[N, C_out, O..]`) and the weight, `dx` of shape `[N, C_in, input..]`, where
    /// `input` are the input's spatial sizes (several sizes give the same output; the
    /// extra positions get zero). This is also the transposed convolution
    /// (`conv_transpose1d/2d`, whose weight `[C_in_T, C_out_T / groups, k..]` is this
    /// weight).
    pub fn conv_input_grad(
        &self,
        weight: &Tensor,
        spec: &ConvSpec,
        input: &[usize],
    ) -> Result<Tensor> {
        const OP: &str = "conv_input_grad";
        self.check_same(weight, OP)?;
        self.check_float(OP)?;
        let (dd, wd) = (self.dims(), weight.dims());
        if dd.len() != spec.spatial() + 2 || wd.len() < 2 || input.len() != spec.spatial() {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "output gradient {}, weight {}, input sizes {input:?}: expected [N, C_out, {} dims], [C_out, C_in / groups, ..] and {} input sizes",
                    self.shape(),
                    weight.shape(),
                    spec.spatial(),
                    spec.spatial()
                ),
            });
        }
        let mut xd = vec![dd[0], wd[1] * spec.groups];
        xd.extend_from_slice(input);
        let geo = spec.geometry(OP, &Shape::new(xd), weight.shape())?;
        self.check_output_shape(OP, &geo)?;
        let out = hook::paused(|| {
            let (dy, w) = (self.contiguous()?, weight.contiguous()?);
            let kernel = self.device().backend().conv_input_grad(
                dy.storage(),
                dy.layout(),
                w.storage(),
                w.layout(),
                &geo,
            );
            match kernel {
                Some(s) => Ok(self.conv_result(s?, geo.input_shape())),
                None => conv_input_grad_composite(&dy, &w, &geo),
            }
        })?;
        hook::record(|| Op::ConvInputGrad(spec.clone()), &[self, weight], &out);
        Ok(out)
    }

    /// The weight gradient of a convolution of `self` (the input, `[N, C_in, S..]`) whose
    /// output gradient is `dy` (`[N, C_out, O..]`): `dw` of shape
    /// `[C_out, C_in / groups, kernel..]`.
    pub fn conv_weight_grad(
        &self,
        dy: &Tensor,
        spec: &ConvSpec,
        kernel: &[usize],
    ) -> Result<Tensor> {
        const OP: &str = "conv_weight_grad";
        self.check_same(dy, OP)?;
        self.check_float(OP)?;
        let (xd, dd) = (self.dims(), dy.dims());
        if xd.len() != spec.spatial() + 2
            || dd.len() != spec.spatial() + 2
            || kernel.len() != spec.spatial()
            || spec.groups == 0
        {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "input {}, output gradient {}, kernel {kernel:?}, groups {}: expected [N, C_in, {d} dims], [N, C_out, {d} dims], {d} kernel sizes and groups ≥ 1",
                    self.shape(),
                    dy.shape(),
                    spec.groups,
                    d = spec.spatial()
                ),
            });
        }
        let mut wd = vec![dd[1], xd[1] / spec.groups];
        wd.extend_from_slice(kernel);
        let geo = spec.geometry(OP, self.shape(), &Shape::new(wd))?;
        dy.check_output_shape(OP, &geo)?;
        let out = hook::paused(|| {
            let (x, g) = (self.contiguous()?, dy.contiguous()?);
            let kernel = self.device().backend().conv_weight_grad(
                x.storage(),
                x.layout(),
                g.storage(),
                g.layout(),
                &geo,
            );
            match kernel {
                Some(s) => Ok(self.conv_result(s?, geo.weight_shape())),
                None => conv_weight_grad_composite(&x, &g, &geo),
            }
        })?;
        hook::record(|| Op::ConvWeightGrad(spec.clone()), &[self, dy], &out);
        Ok(out)
    }

    fn conv_result(&self, storage: StorageRef, shape: Shape) -> Tensor {
        Tensor::from_storage(storage, Layout::contiguous(shape), *self.device())
    }

    /// Errors unless `self` has the geometry's output shape.
    fn check_output_shape(&self, op: &'static str, geo: &ConvGeometry) -> Result<()> {
        let want = geo.output_shape();
        if self.shape() != &want {
            return Err(Error::Invalid {
                op,
                msg: format!(
                    "the output gradient has shape {} but a convolution of input {} with weight {} gives {want}",
                    self.shape(),
                    geo.input_shape(),
                    geo.weight_shape()
                ),
            });
        }
        Ok(())
    }
}

/// The input as patch rows: `[N, G, L, C_in/G · k..]` (im2col), each row the window one
/// output position reads.
fn patches(x: &Tensor, geo: &ConvGeometry) -> Result<Tensor> {
    let spec = &geo.spec;
    let d = spec.spatial();
    let mut x = x.clone();
    if spec.padding.iter().any(|&p| p > 0) {
        // `pad` takes (before, after) pairs from the last dim backwards.
        let pads: Vec<isize> = spec
            .padding
            .iter()
            .rev()
            .flat_map(|&p| [p as isize, p as isize])
            .collect();
        x = x.pad(&pads, PadMode::Constant(0.0))?;
    }
    // [N, C, P..] -> [N, C, O.., k..]: each unfold appends its window dim; a dilated window
    // is unfolded at its full span and then thinned.
    for i in 0..d {
        let span = (geo.kernel[i] - 1) * spec.dilation[i] + 1;
        x = x.unfold(2 + i as isize, span, spec.stride[i])?;
        if spec.dilation[i] > 1 {
            x = x.narrow_step(-1, 0, geo.kernel[i], spec.dilation[i])?;
        }
    }
    let g = spec.groups;
    let cg = geo.in_channels / g;
    let mut split = vec![geo.batch, g, cg];
    split.extend(x.dims()[2..].iter().copied());
    // [N, G, C/G, O.., k..] -> [N, G, O.., C/G, k..] -> [N, G, L, C/G · k..].
    let mut perm: Vec<usize> = vec![0, 1];
    perm.extend(3..3 + d);
    perm.push(2);
    perm.extend(3 + d..3 + 2 * d);
    x.reshape(split)?.permute(perm)?.reshape([
        geo.batch,
        g,
        geo.output_len(),
        cg * geo.kernel_len(),
    ])
}

/// The composite convolution: patches times the weight, one batched matmul.
fn conv_composite(x: &Tensor, w: &Tensor, geo: &ConvGeometry) -> Result<Tensor> {
    let g = geo.spec.groups;
    let (og, kk) = (geo.out_channels / g, geo.in_channels / g * geo.kernel_len());
    // [N, G, L, kk] · [G, kk, og] -> [N, G, L, og] -> [N, G, og, L] -> [N, C_out, O..].
    let w = w.reshape([g, og, kk])?.transpose(-1, -2)?;
    let y = patches(x, geo)?.matmul(&w)?;
    y.transpose(-1, -2)?.reshape(geo.output_shape())
}

/// The composite weight gradient: `dy` rows times the patches, summed over the batch.
fn conv_weight_grad_composite(x: &Tensor, dy: &Tensor, geo: &ConvGeometry) -> Result<Tensor> {
    let g = geo.spec.groups;
    let og = geo.out_channels / g;
    // [N, G, og, L] · [N, G, L, kk] -> [N, G, og, kk] -> sum over N.
    let dy = dy.reshape([geo.batch, g, og, geo.output_len()])?;
    let dw = dy.matmul(&patches(x, geo)?)?.sum(0, false)?;
    dw.reshape(geo.weight_shape())
}

/// The composite input gradient: patch gradients (`dy` rows times the weight) added back
/// into the padded input at the positions each patch read (col2im), then unpadded.
fn conv_input_grad_composite(dy: &Tensor, w: &Tensor, geo: &ConvGeometry) -> Result<Tensor> {
    let spec = &geo.spec;
    let (d, g) = (spec.spatial(), spec.groups);
    let (cg, og) = (geo.in_channels / g, geo.out_channels / g);
    let kk = cg * geo.kernel_len();
    // [N, G, L, og] · [G, og, kk] -> [N, G, L, kk].
    let dy = dy
        .reshape([geo.batch, g, og, geo.output_len()])?
        .transpose(-1, -2)?;
    let cols = dy.matmul(&w.reshape([g, og, kk])?)?;
    // -> [N, G, O.., C/G, k..] -> [N, G, C/G, O.., k..] -> [N, C_in, O.., k..].
    let mut split = vec![geo.batch, g];
    split.extend(geo.output.iter().copied());
    split.push(cg);
    split.extend(geo.kernel.iter().copied());
    let mut perm: Vec<usize> = vec![0, 1, 2 + d];
    perm.extend(2..2 + d);
    perm.extend(3 + d..3 + 2 * d);
    let mut merged = vec![geo.batch, geo.in_channels];
    merged.extend(geo.output.iter().copied());
    merged.extend(geo.kernel.iter().copied());
    let cols = cols.reshape(split)?.permute(perm)?.reshape(merged)?;
    let mut padded = vec![geo.batch, geo.in_channels];
    padded.extend((0..d).map(|i| geo.input[i] + 2 * spec.padding[i]));
    let mut acc = Tensor::zeros(padded, cols.dtype(), cols.device())?;
    // Kernel offset `k..` adds its slice `cols[.., k..]` at padded positions
    // `o s + k dilation` for every output position `o`.
    for flat in 0..geo.kernel_len() {
        let mut piece = cols.clone();
        let mut starts = Vec::with_capacity(d);
        let mut rest = flat;
        for i in (0..d).rev() {
            starts.push((rest % geo.kernel[i]) * spec.dilation[i]);
            rest /= geo.kernel[i];
        }
        starts.reverse();
        for (i, &s) in starts.iter().enumerate() {
            // The kernel dims sit after the d output dims; selecting shifts them down.
            piece = piece.select(2 + d as isize, s / spec.dilation[i])?;
        }
        acc = strided_add(&acc, &piece, 2, &starts, &geo.output, &spec.stride)?;
    }
    for i in 0..d {
        if spec.padding[i] > 0 {
            acc = acc.narrow(2 + i as isize, spec.padding[i], geo.input[i])?;
        }
    }
    acc.contiguous()
}

/// `acc` with `piece` added at `starts[i] + j steps[i]` (`j < counts[i]`) along dims
/// `dim, dim + 1, ..`.
fn strided_add(
    acc: &Tensor,
    piece: &Tensor,
    dim: usize,
    starts: &[usize],
    counts: &[usize],
    steps: &[usize],
) -> Result<Tensor> {
    let Some((&start, starts)) = starts.split_first() else {
        return acc + piece;
    };
    let d = dim as isize;
    let view = acc.narrow_step(d, start, counts[0], steps[0])?;
    let sum = strided_add(&view, piece, dim + 1, starts, &counts[1..], &steps[1..])?;
    acc.slice_scatter(&sum, d, start, steps[0])
}

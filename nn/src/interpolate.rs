//! Resizing by interpolation, PyTorch's `F.interpolate` and `nn.Upsample`, for 1-D
//! (`[N, C, L]`) and 2-D (`[N, C, H, W]`) inputs, as a composite: each spatial dim is
//! resized on its own (nearest and (bi)linear interpolation are separable), by
//! `index_select` with a table of source positions computed once per call and, for the
//! linear modes, a weighted sum of two such selections. Every step is a recorded tensor
//! op, so the gradient (the transposed interpolation) comes from autograd.
//!
//! The source positions follow PyTorch's CPU kernels exactly, including where they are
//! surprising:
//!
//! - The output size is `size`, or `⌊in · scale_factor⌋`; with a `scale_factor` the
//!   kernels use `1 / scale_factor` as the ratio of input to output (PyTorch's default,
//!   `recompute_scale_factor=None`), not `in / out`: 5 elements scaled by 1.5 give 7, read
//!   at `⌊o / 1.5⌋`, not `⌊o · 5 / 7⌋`.
//! - `Nearest` (PyTorch's legacy `'nearest'`) reads `min(⌊o · ratio⌋, in − 1)`, with the
//!   ratio and the product in `f32` as PyTorch computes them. On 2-D input an output as
//!   long as its input is a copy and one twice as long reads `⌊o / 2⌋`, whatever the
//!   factor (PyTorch's `nearest_idx`); on 1-D input those shortcuts are not taken, so 3
//!   elements scaled by 1.2 stay 3 but read `[0, 0, 1]` there and `[0, 1, 2]` on 2-D input.
//!   (PyTorch's 1-D backward does take them, so in those cases its gradient is not the
//!   transpose of its forward; Lamina's is.)
//! - `NearestExact` reads `min(⌊(o + ½) · ratio⌋, in − 1)`, with no shortcuts.
//! - `Linear`/`Bilinear` copy a dim whose output is as long as its input, whatever the
//!   factor. Otherwise they read at `x = o · (in − 1) / (out − 1)` with `align_corners`
//!   (0 when `out = 1`; the scale factor is then ignored), else at
//!   `x = max((o + ½) · ratio − ½, 0)`, and mix element `⌊x⌋` (floored in `f32`, as
//!   PyTorch's `floorf`) and the next one (the last element stands in for one past the
//!   end) with weights `1 − λ` and `λ = x − ⌊x⌋` clamped to `[0, 1]`, computed in `f64`
//!   (PyTorch uses `f32` for `f32` input, so `f32` results can differ in the last bits).

use lamina_tensor::{Error, Result, Tensor};

use crate::module::Module;

/// How [`interpolate`] computes an output element, PyTorch's `mode` strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterpolateMode {
    /// `'nearest'`: the element at `⌊o · in / out⌋` (PyTorch's legacy rule, with its
    /// shortcuts on 2-D input; see the [module docs](self)).
    Nearest,
    /// `'nearest-exact'`: the element whose centre is nearest, `⌊(o + ½) · in / out⌋`.
    NearestExact,
    /// `'linear'`: linear interpolation along L, for `[N, C, L]` inputs.
    Linear,
    /// `'bilinear'`: linear along H, then along W, for `[N, C, H, W]` inputs.
    Bilinear,
}

impl InterpolateMode {
    /// PyTorch's name for the mode (`"nearest-exact"`).
    pub fn as_str(self) -> &'static str {
        match self {
            InterpolateMode::Nearest => "nearest",
            InterpolateMode::NearestExact => "nearest-exact",
            InterpolateMode::Linear => "linear",
            InterpolateMode::Bilinear => "bilinear",
        }
    }

    /// The input rank the mode takes, or `None` for any of 3 and 4.
    fn rank(self) -> Option<usize> {
        match self {
            InterpolateMode::Nearest | InterpolateMode::NearestExact => None,
            InterpolateMode::Linear => Some(3),
            InterpolateMode::Bilinear => Some(4),
        }
    }

    fn is_linear(self) -> bool {
        match self {
            InterpolateMode::Nearest | InterpolateMode::NearestExact => false,
            InterpolateMode::Linear | InterpolateMode::Bilinear => true,
        }
    }
}

impl std::fmt::Display for InterpolateMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Resizes the spatial dims of `input` (PyTorch `F.interpolate`): `[N, C, L]` to
/// `[N, C, L']` or `[N, C, H, W]` to `[N, C, H', W']`. Give exactly one of `size` (the
/// output's spatial sizes) and `scale_factor` (`out = ⌊in · scale_factor⌋`), each with
/// one entry per spatial dim or one for all of them. `align_corners` is for the linear
/// modes only (`None` is `false`): `true` lines up the centres of the corner elements of
/// input and output, `false` their outer edges. See the [module docs](self) for where each
/// output element reads.
///
/// ```
/// use lamina_nn::functional::interpolate;
/// use lamina_nn::InterpolateMode;
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::new(&[[[1.0f32, 2.0, 4.0]]], &dev)?; // [1, 1, 3]
/// let y = interpolate(&x, None, Some(&[2.0]), InterpolateMode::Nearest, None)?;
/// assert_eq!(y.to_vec3::<f32>()?, [[[1.0, 1.0, 2.0, 2.0, 4.0, 4.0]]]);
/// let y = interpolate(&x, Some(&[5]), None, InterpolateMode::Linear, Some(true))?;
/// assert_eq!(y.to_vec3::<f32>()?, [[[1.0, 1.5, 2.0, 3.0, 4.0]]]);
/// let y = interpolate(&x, Some(&[6]), None, InterpolateMode::Linear, Some(false))?;
/// assert_eq!(y.to_vec3::<f32>()?, [[[1.0, 1.25, 1.75, 2.5, 3.5, 4.0]]]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn interpolate(
    input: &Tensor,
    size: Option<&[usize]>,
    scale_factor: Option<&[f64]>,
    mode: InterpolateMode,
    align_corners: Option<bool>,
) -> Result<Tensor> {
    const OP: &str = "interpolate";
    let invalid = |msg: String| Error::Invalid { op: OP, msg };
    let rank = input.rank();
    if rank != 3 && rank != 4 {
        return Err(invalid(format!(
            "input {}: expected rank 3 [N, C, L] or rank 4 [N, C, H, W]",
            input.shape()
        )));
    }
    if let Some(want) = mode.rank().filter(|&r| r != rank) {
        return Err(invalid(format!(
            "input {}: mode {mode} takes rank-{want} input",
            input.shape()
        )));
    }
    if !input.dtype().is_float() {
        return Err(Error::UnsupportedDType {
            op: OP,
            dtype: input.dtype(),
        });
    }
    if align_corners.is_some() && !mode.is_linear() {
        return Err(invalid(format!(
            "align_corners is for the linear modes, not mode {mode}"
        )));
    }
    let align_corners = align_corners.unwrap_or(false);
    let spatial = rank - 2;
    let sizes = &input.dims()[2..];
    if sizes.contains(&0) {
        return Err(invalid(format!(
            "input {}: the spatial dims must not be empty",
            input.shape()
        )));
    }
    // Per spatial dim: the output size and the scale factor the kernels see.
    let per_dim = |n: usize, what: &str| -> Result<()> {
        if n == 1 || n == spatial {
            Ok(())
        } else {
            Err(invalid(format!(
                "input {}: {what} needs 1 or {spatial} entries (one per spatial dim), got {n}",
                input.shape()
            )))
        }
    };
    let targets: Vec<(usize, Option<f64>)> = match (size, scale_factor) {
        (Some(_), Some(_)) => {
            return Err(invalid("give either size or scale_factor, not both".into()))
        }
        (None, None) => return Err(invalid("give size or scale_factor".into())),
        (Some(size), None) => {
            per_dim(size.len(), "size")?;
            (0..spatial)
                .map(|d| (size[d.min(size.len() - 1)], None))
                .collect()
        }
        (None, Some(scale)) => {
            per_dim(scale.len(), "scale_factor")?;
            if let Some(bad) = scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
                return Err(invalid(format!(
                    "scale_factor {scale:?}: every factor must be finite and positive, got {bad}"
                )));
            }
            (0..spatial)
                .map(|d| {
                    let s = scale[d.min(scale.len() - 1)];
                    ((sizes[d] as f64 * s).floor() as usize, Some(s))
                })
                .collect()
        }
    };
    if targets.iter().any(|&(out, _)| out == 0) {
        let out: Vec<usize> = targets.iter().map(|t| t.0).collect();
        return Err(invalid(format!(
            "input {}: the output size would be {out:?}; it must be at least 1 in every dim",
            input.shape()
        )));
    }
    let elements = targets
        .iter()
        .try_fold(input.dims()[..2].iter().product::<usize>(), |n, t| {
            n.checked_mul(t.0)
        });
    if elements.is_none() {
        let out: Vec<usize> = targets.iter().map(|t| t.0).collect();
        return Err(invalid(format!(
            "input {}: the output size {out:?} is too large to address",
            input.shape()
        )));
    }
    // Resize one dim at a time, the one that shrinks the intermediate most first.
    let mut order: Vec<usize> = (0..spatial).collect();
    order.sort_by_key(|&d| {
        let others: usize = sizes.iter().product::<usize>() / sizes[d];
        targets[d].0.saturating_mul(others)
    });
    let mut y = input.clone();
    for d in order {
        let (out, scale) = targets[d];
        y = resize_dim(&y, 2 + d, out, scale, mode, align_corners)?;
    }
    Ok(y)
}

/// `x` resized along `dim` to `out` elements.
fn resize_dim(
    x: &Tensor,
    dim: usize,
    out: usize,
    scale: Option<f64>,
    mode: InterpolateMode,
    align_corners: bool,
) -> Result<Tensor> {
    match mode {
        // PyTorch's 2-D kernels take `nearest_idx`'s shortcuts, its 1-D kernel not.
        InterpolateMode::Nearest if x.rank() == 4 => {
            select_nearest(x, dim, out, scale, Nearest::LegacyWithShortcuts)
        }
        InterpolateMode::Nearest => select_nearest(x, dim, out, scale, Nearest::Legacy),
        InterpolateMode::NearestExact => select_nearest(x, dim, out, scale, Nearest::Exact),
        InterpolateMode::Linear | InterpolateMode::Bilinear => {
            mix_linear(x, dim, out, scale, align_corners)
        }
    }
}

/// `x` resized along `dim` to `out` elements, each a weighted sum of two neighbours.
fn mix_linear(
    x: &Tensor,
    dim: usize,
    out: usize,
    scale: Option<f64>,
    align_corners: bool,
) -> Result<Tensor> {
    let len = x.dims()[dim];
    // PyTorch copies a dim that keeps its length, even with a factor other than 1.
    if out == len {
        return Ok(x.clone());
    }
    let taps: Vec<(usize, usize, f64)> = (0..out)
        .map(|o| linear_source(o, len, out, scale, align_corners))
        .collect();
    let ids = |pick: fn(&(usize, usize, f64)) -> usize| -> Result<Tensor> {
        let v: Vec<i64> = taps.iter().map(|t| pick(t) as i64).collect();
        Tensor::from_vec(v, [out], x.device())
    };
    // Weights shaped to broadcast along `dim`: [out, 1, ..].
    let mut wshape = vec![out];
    wshape.extend(std::iter::repeat_n(1, x.rank() - dim - 1));
    let weights = |w: Vec<f64>| -> Result<Tensor> {
        Tensor::from_vec(w, wshape.clone(), x.device())?.to_dtype(x.dtype())
    };
    let w0 = weights(taps.iter().map(|t| 1.0 - t.2).collect())?;
    let w1 = weights(taps.iter().map(|t| t.2).collect())?;
    let a = x.index_select(dim as isize, &ids(|t| t.0)?)?;
    let b = x.index_select(dim as isize, &ids(|t| t.1)?)?;
    (&a * &w0)? + (&b * &w1)
}

/// `x` resized along `dim` to `out` elements by copying the elements `rule` picks.
fn select_nearest(
    x: &Tensor,
    dim: usize,
    out: usize,
    scale: Option<f64>,
    rule: Nearest,
) -> Result<Tensor> {
    let len = x.dims()[dim];
    let src: Vec<i64> = (0..out)
        .map(|o| nearest_source(o, len, out, scale, rule) as i64)
        .collect();
    if out == len && src.iter().enumerate().all(|(o, &i)| o as i64 == i) {
        return Ok(x.clone());
    }
    x.index_select(dim as isize, &Tensor::from_vec(src, [out], x.device())?)
}

/// The input ratio `in / out` in `f32`, or `1 / scale_factor` (in `f64`, then rounded)
/// when one was given (PyTorch's `compute_scales_value<float>`).
fn ratio_f32(len: usize, out: usize, scale: Option<f64>) -> f32 {
    match scale {
        Some(s) => (1.0 / s) as f32,
        None => len as f32 / out as f32,
    }
}

/// The input ratio `in / out`, or `1 / scale_factor` when one was given (PyTorch's
/// `compute_scales_value<double>`).
fn ratio(len: usize, out: usize, scale: Option<f64>) -> f64 {
    match scale {
        Some(s) => 1.0 / s,
        None => len as f64 / out as f64,
    }
}

/// Which of PyTorch's nearest-neighbour index rules [`nearest_source`] follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Nearest {
    /// `'nearest'` as PyTorch's 1-D kernel: `⌊o · ratio⌋`.
    Legacy,
    /// `'nearest'` as PyTorch's 2-D kernels (`nearest_idx`): a copy when `out = in`,
    /// `⌊o / 2⌋` when `out = 2 · in`, else `⌊o · ratio⌋`.
    LegacyWithShortcuts,
    /// `'nearest-exact'`: `⌊(o + ½) · ratio⌋`.
    Exact,
}

/// The element output `o` copies (PyTorch's `nearest_neighbor_compute_source_index` and
/// its exact variant, whose ratio and products are `f32`).
fn nearest_source(o: usize, len: usize, out: usize, scale: Option<f64>, rule: Nearest) -> usize {
    let r = ratio_f32(len, out, scale);
    let at = match rule {
        Nearest::LegacyWithShortcuts if out == len => return o,
        Nearest::LegacyWithShortcuts if out == 2 * len => return o / 2,
        Nearest::Legacy | Nearest::LegacyWithShortcuts => o as f32 * r,
        // `(o + 0.5)` is a double in PyTorch, the product rounded to float for `floorf`.
        Nearest::Exact => ((o as f64 + 0.5) * r as f64) as f32,
    };
    (at.floor() as usize).min(len - 1)
}

/// The two elements output `o` mixes and the weight `λ` of the second (PyTorch's
/// `area_pixel_compute_source_index` and `guard_index_and_lambda`).
fn linear_source(
    o: usize,
    len: usize,
    out: usize,
    scale: Option<f64>,
    align_corners: bool,
) -> (usize, usize, f64) {
    let x = if align_corners {
        if out > 1 {
            o as f64 * ((len - 1) as f64 / (out - 1) as f64)
        } else {
            0.0
        }
    } else {
        (ratio(len, out, scale) * (o as f64 + 0.5) - 0.5).max(0.0)
    };
    // PyTorch floors with `floorf`, so in `f32`: 2.9999999999 reads element 3, λ = 0.
    let lo = ((x as f32).floor() as usize).min(len - 1);
    let lambda = (x - lo as f64).clamp(0.0, 1.0);
    (lo, (lo + 1).min(len - 1), lambda)
}

/// PyTorch's `nn.Upsample`: [`interpolate`] as a layer without parameters, to a fixed
/// `size` or by a fixed `scale_factor` (one entry per spatial dim, or one for all).
/// `Upsample::with_scale_factor(&[2.0])` doubles every spatial dim by nearest neighbour;
/// `with_mode` and `with_align_corners` change the interpolation.
///
/// ```
/// use lamina_nn::{InterpolateMode, Module, Upsample};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let up = Upsample::with_scale_factor(&[2.0]);
/// assert_eq!(up.name(), "Upsample(scale_factor 2, mode nearest)");
/// let x = Tensor::zeros([8, 3, 14, 14], DType::F32, &dev)?;
/// assert_eq!(up.forward(&x)?.dims(), &[8, 3, 28, 28]);
/// let up = Upsample::with_size(&[20, 30])
///     .with_mode(InterpolateMode::Bilinear)
///     .with_align_corners(true);
/// assert_eq!(up.name(), "Upsample(size [20, 30], mode bilinear, align_corners true)");
/// assert_eq!(up.forward(&x)?.dims(), &[8, 3, 20, 30]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Upsample {
    /// The output's spatial sizes (one entry per spatial dim, or one for all), or `None`
    /// with a `scale_factor`.
    pub size: Option<Vec<usize>>,
    /// The factor of every spatial dim (one entry per dim, or one for all), or `None`
    /// with a `size`.
    pub scale_factor: Option<Vec<f64>>,
    /// The interpolation, `Nearest` by default.
    pub mode: InterpolateMode,
    /// For the linear modes only; `None` is `false`.
    pub align_corners: Option<bool>,
}

impl Upsample {
    /// Resizes to `size` (one entry per spatial dim, or one for all), nearest neighbour.
    pub fn with_size(size: &[usize]) -> Self {
        Upsample {
            size: Some(size.to_vec()),
            scale_factor: None,
            mode: InterpolateMode::Nearest,
            align_corners: None,
        }
    }
    /// Scales by `scale_factor` (one entry per spatial dim, or one for all), nearest
    /// neighbour.
    pub fn with_scale_factor(scale_factor: &[f64]) -> Self {
        Upsample {
            size: None,
            scale_factor: Some(scale_factor.to_vec()),
            mode: InterpolateMode::Nearest,
            align_corners: None,
        }
    }
    /// Interpolates by `mode` instead of nearest neighbour.
    pub fn with_mode(mut self, mode: InterpolateMode) -> Self {
        self.mode = mode;
        self
    }
    /// For the linear modes only; [`interpolate`] rejects it with a nearest mode.
    pub fn with_align_corners(mut self, align_corners: bool) -> Self {
        self.align_corners = Some(align_corners);
        self
    }
}

impl Module for Upsample {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        interpolate(
            x,
            self.size.as_deref(),
            self.scale_factor.as_deref(),
            self.mode,
            self.align_corners,
        )
    }
    fn visit<'a>(&'a self, _: &str, _: &mut dyn FnMut(String, &'a Tensor)) {}
    fn visit_mut<'a>(&'a mut self, _: &str, _: &mut dyn FnMut(String, &'a mut Tensor)) {}
    fn set_training(&mut self, _: bool) {}
    fn name(&self) -> String {
        /// One entry as itself, several as a list.
        fn list<T: std::fmt::Display>(v: &[T]) -> String {
            match v {
                [one] => one.to_string(),
                many => {
                    let parts: Vec<String> = many.iter().map(T::to_string).collect();
                    format!("[{}]", parts.join(", "))
                }
            }
        }
        let mut s = String::from("Upsample(");
        if let Some(size) = &self.size {
            s += &format!("size {}, ", list(size));
        }
        if let Some(scale) = &self.scale_factor {
            s += &format!("scale_factor {}, ", list(scale));
        }
        s += &format!("mode {}", self.mode);
        if let Some(a) = self.align_corners {
            s += &format!(", align_corners {a}");
        }
        s + ")"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_sources_use_the_scale_factor() {
        let src = |len, out, scale, rule| -> Vec<usize> {
            (0..out)
                .map(|o| nearest_source(o, len, out, Some(scale), rule))
                .collect()
        };
        // An output as long as the input is not a copy when the factor is not 1, on 1-D
        // input; on 2-D input it is.
        assert_eq!(src(3, 3, 1.2, Nearest::Legacy), [0, 0, 1]);
        assert_eq!(src(3, 3, 1.2, Nearest::LegacyWithShortcuts), [0, 1, 2]);
        // Twice as long: ⌊o / 2.2⌋ on 1-D input, ⌊o / 2⌋ on 2-D input.
        assert_eq!(src(4, 8, 2.2, Nearest::Legacy), [0, 0, 0, 1, 1, 2, 2, 3]);
        assert_eq!(
            src(4, 8, 2.2, Nearest::LegacyWithShortcuts),
            [0, 0, 1, 1, 2, 2, 3, 3]
        );
        // 5 scaled by 1.5 reads at ⌊o / 1.5⌋, or ⌊(o + ½) / 1.5⌋ with the exact rule.
        assert_eq!(src(5, 7, 1.5, Nearest::Legacy), [0, 0, 1, 2, 2, 3, 4]);
        assert_eq!(src(5, 7, 1.5, Nearest::Exact), [0, 1, 1, 2, 3, 3, 4]);
        assert_eq!(src(4, 8, 2.2, Nearest::Exact), [0, 0, 1, 1, 2, 2, 2, 3]);
    }

    #[test]
    fn linear_sources_clamp_at_both_ends() {
        // align_corners = false: the first output reads left of element 0, clamped.
        assert_eq!(linear_source(0, 3, 6, None, false), (0, 1, 0.0));
        // The last output reads past the last element: its neighbour is itself.
        let (lo, hi, _) = linear_source(5, 3, 6, None, false);
        assert_eq!((lo, hi), (2, 2));
        assert_eq!(linear_source(0, 4, 1, None, true), (0, 1, 0.0));
    }
}

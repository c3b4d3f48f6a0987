//! Random image augmentation of `[N, C, H, W]` float batches, as in torchvision:
//! [`RandomCrop`] (with zero padding), [`RandomHorizontalFlip`], [`RandomShift`] (integer
//! translation with zero fill), [`GaussianNoise`], chained by [`Compose`].
//!
//! Each augmentation draws its parameters per sample from the [`Rng`] passed in, in sample
//! order, so the same seed gives the same batch. They work on a host copy in one pass per
//! batch (row slices copied whole, no allocation per pixel) and return a tensor on the
//! batch's device, in its dtype (`F32` or `F64`).

use lamina_tensor::{Element, HostData, Tensor};
use serde::{Deserialize, Serialize};

use crate::{Error, Result, Rng};

/// A random transform of a batch: the same `rng` state gives the same output.
pub trait Augment: Send + Sync {
    /// The augmented batch; `batch` is `[N, C, H, W]`, `F32` or `F64`.
    fn apply(&self, batch: &Tensor, rng: &mut Rng) -> Result<Tensor>;
}

/// `[N, C, H, W]` of a float batch, else an error for `op`.
fn batch_dims(batch: &Tensor, op: &'static str) -> Result<[usize; 4]> {
    if !batch.dtype().is_float() {
        return Err(Error::Transform {
            op,
            msg: format!("needs a float batch, got {}", batch.dtype()),
        });
    }
    match batch.dims() {
        &[n, c, h, w] => Ok([n, c, h, w]),
        _ => Err(Error::Transform {
            op,
            msg: format!("needs an [N, C, H, W] batch, got shape {}", batch.shape()),
        }),
    }
}

/// Runs a kernel generic over the element type on the batch's host data and uploads the
/// result with shape `out_dims`.
macro_rules! with_host {
    ($batch:expr, $out_dims:expr, $op:expr, |$v:ident| $body:expr) => {{
        let batch: &Tensor = $batch;
        match batch.to_host()? {
            HostData::F32($v) => Ok(Tensor::from_vec($body, $out_dims, batch.device())?),
            HostData::F64($v) => Ok(Tensor::from_vec($body, $out_dims, batch.device())?),
            HostData::F16($v) => Ok(Tensor::from_vec($body, $out_dims, batch.device())?),
            HostData::BF16($v) => Ok(Tensor::from_vec($body, $out_dims, batch.device())?),
            other @ (HostData::I64(_) | HostData::U32(_) | HostData::Bool(_)) => {
                Err(Error::Transform {
                    op: $op,
                    msg: format!("needs a float batch, got {}", other.dtype()),
                })
            }
        }
    }};
}

/// `out[n, c, i, j] = src[n, c, i + oy, j + ox]` for an `out_h × out_w` output, zero where
/// the source index falls outside `h × w`; `offsets[n] = (oy, ox)`.
fn translate<T: Element>(
    src: &[T],
    [n, c, h, w]: [usize; 4],
    (out_h, out_w): (usize, usize),
    offsets: &[(isize, isize)],
) -> Vec<T> {
    debug_assert_eq!(offsets.len(), n);
    let mut out = vec![T::default(); n * c * out_h * out_w];
    if out.is_empty() {
        return out;
    }
    let planes = src
        .chunks_exact(h * w)
        .zip(out.chunks_exact_mut(out_h * out_w));
    for (p, (src, dst)) in planes.enumerate() {
        let (oy, ox) = offsets[p / c];
        // Output columns j0..j1 read source columns j0 + ox..j1 + ox, all inside 0..w.
        let j0 = (-ox).clamp(0, out_w as isize) as usize;
        let j1 = (w as isize - ox).clamp(0, out_w as isize) as usize;
        if j0 >= j1 {
            continue;
        }
        let s0 = (j0 as isize + ox) as usize;
        for (i, dst_row) in dst.chunks_exact_mut(out_w).enumerate() {
            let r = i as isize + oy;
            if (0..h as isize).contains(&r) {
                let src_row = &src[r as usize * w..][..w];
                dst_row[j0..j1].copy_from_slice(&src_row[s0..s0 + (j1 - j0)]);
            }
        }
    }
    out
}

/// Zero-pads each image by `padding` on every side, then crops a `size` window at a
/// random offset (uniform per sample): torchvision's `RandomCrop(size, padding)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RandomCrop {
    /// Output `(height, width)`; `None` keeps the input size.
    pub size: Option<(usize, usize)>,
    /// Zero padding added on each side before cropping.
    pub padding: usize,
}

impl RandomCrop {
    /// Crops `(height, width)` out of the image padded by `padding`.
    pub fn new(size: (usize, usize), padding: usize) -> RandomCrop {
        RandomCrop {
            size: Some(size),
            padding,
        }
    }

    /// Pads by `padding` and crops back to the input size: a random shift by up to
    /// `padding` pixels each way (the usual CIFAR/MNIST augmentation).
    pub fn padded(padding: usize) -> RandomCrop {
        RandomCrop {
            size: None,
            padding,
        }
    }
}

impl Augment for RandomCrop {
    /// Per sample, draws the window's top `dy` then left `dx` in the padded image.
    fn apply(&self, batch: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        const OP: &str = "RandomCrop";
        let dims @ [n, c, h, w] = batch_dims(batch, OP)?;
        let (out_h, out_w) = self.size.unwrap_or((h, w));
        let p = self.padding;
        let (ph, pw) = (h + 2 * p, w + 2 * p);
        if out_h > ph || out_w > pw || out_h == 0 || out_w == 0 {
            return Err(Error::Transform {
                op: OP,
                msg: format!(
                    "cannot crop {out_h}x{out_w} out of {h}x{w} images padded by {p} \
                     ({ph}x{pw})"
                ),
            });
        }
        let offsets: Vec<(isize, isize)> = (0..n)
            .map(|_| {
                let dy = rng.below(ph - out_h + 1) as isize;
                let dx = rng.below(pw - out_w + 1) as isize;
                (dy - p as isize, dx - p as isize)
            })
            .collect();
        with_host!(batch, [n, c, out_h, out_w], OP, |v| translate(
            &v,
            dims,
            (out_h, out_w),
            &offsets
        ))
    }
}

/// Mirrors each image left–right with probability `p` (torchvision's
/// `RandomHorizontalFlip`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RandomHorizontalFlip {
    /// Probability of flipping a sample, in `[0, 1]`.
    pub p: f64,
}

impl RandomHorizontalFlip {
    /// Flips each sample with probability `p`.
    pub fn new(p: f64) -> RandomHorizontalFlip {
        RandomHorizontalFlip { p }
    }
}

impl Augment for RandomHorizontalFlip {
    /// Per sample, draws one uniform `u` and flips when `u < p`.
    fn apply(&self, batch: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        const OP: &str = "RandomHorizontalFlip";
        let [n, c, h, w] = batch_dims(batch, OP)?;
        if !(0.0..=1.0).contains(&self.p) {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("p must be in [0, 1], got {}", self.p),
            });
        }
        let flip: Vec<bool> = (0..n).map(|_| rng.uniform() < self.p).collect();
        let sample = c * h * w;
        with_host!(batch, [n, c, h, w], OP, |v| {
            let mut v = v;
            if w > 0 {
                for (s, img) in v.chunks_exact_mut(sample.max(1)).enumerate() {
                    if flip[s] {
                        img.chunks_exact_mut(w).for_each(<[_]>::reverse);
                    }
                }
            }
            v
        })
    }
}

/// Translates each image by a random whole number of pixels, `dx` in `-max_dx..=max_dx`
/// (positive moves content right) and `dy` in `-max_dy..=max_dy` (positive moves it
/// down), filling the uncovered border with zeros: a small affine shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RandomShift {
    /// Largest horizontal shift in pixels.
    pub max_dx: usize,
    /// Largest vertical shift in pixels.
    pub max_dy: usize,
}

impl RandomShift {
    /// Shifts by up to `max_dx` pixels horizontally and `max_dy` vertically.
    pub fn new(max_dx: usize, max_dy: usize) -> RandomShift {
        RandomShift { max_dx, max_dy }
    }
}

impl Augment for RandomShift {
    /// Per sample, draws `dy` then `dx`, each uniform over its range.
    fn apply(&self, batch: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        const OP: &str = "RandomShift";
        let dims @ [n, c, h, w] = batch_dims(batch, OP)?;
        let (my, mx) = (self.max_dy as isize, self.max_dx as isize);
        let offsets: Vec<(isize, isize)> = (0..n)
            .map(|_| {
                let dy = rng.below(self.max_dy * 2 + 1) as isize - my;
                let dx = rng.below(self.max_dx * 2 + 1) as isize - mx;
                (-dy, -dx)
            })
            .collect();
        with_host!(batch, [n, c, h, w], OP, |v| translate(
            &v,
            dims,
            (h, w),
            &offsets
        ))
    }
}

/// Adds independent normal noise of standard deviation `std` to every element.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GaussianNoise {
    /// Standard deviation of the noise, `>= 0`.
    pub std: f64,
}

impl GaussianNoise {
    /// Noise with standard deviation `std`.
    pub fn new(std: f64) -> GaussianNoise {
        GaussianNoise { std }
    }
}

impl Augment for GaussianNoise {
    /// Draws one normal per element, in row-major order.
    fn apply(&self, batch: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        const OP: &str = "GaussianNoise";
        let [n, c, h, w] = batch_dims(batch, OP)?;
        if !(self.std >= 0.0 && self.std.is_finite()) {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("std must be finite and >= 0, got {}", self.std),
            });
        }
        let std = self.std;
        with_host!(batch, [n, c, h, w], OP, |v| add_noise(v, std, rng))
    }
}

fn add_noise<T: Element>(mut v: Vec<T>, std: f64, rng: &mut Rng) -> Vec<T> {
    for x in &mut v {
        *x = T::from_f64(x.to_f64() + std * rng.normal());
    }
    v
}

/// Applies augmentations in order, all drawing from the same [`Rng`].
///
/// ```
/// use lamina_data::transform::{Augment, Compose, RandomCrop, RandomHorizontalFlip};
/// use lamina_data::Rng;
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let batch = Tensor::rand(0, [8, 1, 28, 28], DType::F32, &dev)?;
/// let aug = Compose::new(vec![
///     Box::new(RandomCrop::padded(2)),
///     Box::new(RandomHorizontalFlip::new(0.5)),
/// ]);
/// let a = aug.apply(&batch, &mut Rng::new(1))?;
/// let b = aug.apply(&batch, &mut Rng::new(1))?;
/// assert_eq!(a.to_vec::<f32>()?, b.to_vec::<f32>()?);
/// # Ok::<(), lamina_data::Error>(())
/// ```
pub struct Compose {
    /// The augmentations, first applied first.
    pub steps: Vec<Box<dyn Augment>>,
}

impl Compose {
    /// Chains `steps`.
    pub fn new(steps: Vec<Box<dyn Augment>>) -> Compose {
        Compose { steps }
    }
}

impl Augment for Compose {
    fn apply(&self, batch: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        let mut out = batch.clone();
        for step in &self.steps {
            out = step.apply(&out, rng)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translate_clips_at_every_edge() {
        // One 2x3 image: 1 2 3 / 4 5 6.
        let src = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let dims = [1, 1, 2, 3];
        let at = |off| translate(&src, dims, (2, 3), &[off]);
        assert_eq!(at((0, 0)), src);
        assert_eq!(at((0, 1)), [2.0, 3.0, 0.0, 5.0, 6.0, 0.0]);
        assert_eq!(at((0, -2)), [0.0, 0.0, 1.0, 0.0, 0.0, 4.0]);
        assert_eq!(at((1, 0)), [4.0, 5.0, 6.0, 0.0, 0.0, 0.0]);
        assert_eq!(at((-1, -1)), [0.0, 0.0, 0.0, 0.0, 1.0, 2.0]);
        assert_eq!(at((0, 3)), [0.0; 6]);
        assert_eq!(at((-2, 0)), [0.0; 6]);
    }
}

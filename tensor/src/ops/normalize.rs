//! Normalisation as one recorded primitive, [`Tensor::normalize`]: batch, layer, group,
//! instance and RMS normalisation are each this op on a view of their input, then an
//! affine map. The backend may fuse it ([`Backend::normalize`](crate::Backend::normalize)
//! and its backward); without a kernel it runs as a composite of tensor ops, so a new
//! backend works from its first day.

use crate::hook::{self, Op};
use crate::{Error, Layout, Result, Shape, Tensor};

/// How [`Tensor::normalize`] views its input: as `[outer, groups, inner]`, each group
/// normalised over its `outer · inner` values. Batch norm of `[N, C, *]` is
/// `outer = N, groups = C, inner = Π *`; layer norm over the last dims is `outer = 1`,
/// `groups` = the rows, `inner` = the row length; group norm of `[N, C, *]` with `G`
/// groups is `outer = 1, groups = N · G, inner = C / G · Π *`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NormSpec {
    pub outer: usize,
    pub groups: usize,
    pub inner: usize,
    /// Added to the variance (or mean square) under the square root.
    pub eps: f64,
    /// Subtract the mean (`(x − mean) / sqrt(var + eps)`); `false` is RMS normalisation,
    /// `x / sqrt(mean(x²) + eps)`.
    pub center: bool,
}

impl NormSpec {
    /// The number of values each group's statistics cover.
    pub fn count(&self) -> usize {
        self.outer * self.inner
    }

    fn check(&self, op: &'static str, shape: &Shape) -> Result<()> {
        let n = self
            .outer
            .checked_mul(self.groups)
            .and_then(|v| v.checked_mul(self.inner));
        if n != Some(shape.elem_count()) {
            return Err(Error::Invalid {
                op,
                msg: format!(
                    "input {shape} cannot be viewed as [outer {}, groups {}, inner {}]",
                    self.outer, self.groups, self.inner
                ),
            });
        }
        if !(self.eps >= 0.0 && self.eps.is_finite()) {
            return Err(Error::Invalid {
                op,
                msg: format!("eps {} must be finite and not negative", self.eps),
            });
        }
        Ok(())
    }

    /// The `[outer, groups, inner]` view and the `[1, groups, 1]` statistics shape.
    fn view(&self) -> [usize; 3] {
        [self.outer, self.groups, self.inner]
    }
}

/// What [`Tensor::normalize`] returns.
#[derive(Clone, Debug)]
pub struct Normalized {
    /// The normalised input, in the input's shape (recorded: gradients flow through it).
    pub output: Tensor,
    /// Each group's mean, `[groups]` (zero for RMS normalisation); not recorded.
    pub mean: Tensor,
    /// Each group's biased variance (RMS: mean square), `[groups]`; not recorded.
    pub var: Tensor,
}

impl Tensor {
    /// Normalises `self` viewed as `[outer, groups, inner]` (see [`NormSpec`]): each
    /// group's values become `(x − mean) / sqrt(var + eps)` with the biased variance (or
    /// `x / sqrt(mean(x²) + eps)` without centring). One recorded op whose gradient is
    /// `rstd · (g − mean(g) − y · mean(g · y))` per group (`rstd = 1 / sqrt(var + eps)`),
    /// fused by the backend when it has kernels.
    ///
    /// (Not compiled here: `lamina-tensor` has no backend to run it on; the backends'
    /// and autograd's tests check the same values.)
    ///
    /// ```ignore
    /// use lamina_tensor::{NormSpec, Tensor};
    /// let dev = lamina_backend_cpu::device();
    /// let x = Tensor::new(&[[1.0f64, 3.0], [-2.0, 6.0]], &dev)?;
    /// let spec = NormSpec { outer: 1, groups: 2, inner: 2, eps: 0.0, center: true };
    /// let n = x.normalize(&spec)?;
    /// assert_eq!(n.output.to_vec2::<f64>()?, [[-1.0, 1.0], [-1.0, 1.0]]);
    /// assert_eq!(n.mean.to_vec::<f64>()?, [2.0, 2.0]);
    /// assert_eq!(n.var.to_vec::<f64>()?, [1.0, 16.0]);
    /// # Ok::<(), lamina_tensor::Error>(())
    /// ```
    pub fn normalize(&self, spec: &NormSpec) -> Result<Normalized> {
        const OP: &str = "normalize";
        self.check_float(OP)?;
        if let Some(x) = crate::autocast::widened(self)? {
            return x.normalize(spec);
        }
        spec.check(OP, self.shape())?;
        let (output, mean, var) = hook::paused(|| -> Result<(Tensor, Tensor, Tensor)> {
            let x = self.contiguous()?;
            let kernel = if x.elem_count() == 0 {
                None
            } else {
                self.device()
                    .backend()
                    .normalize(x.storage(), x.layout(), spec)
            };
            match kernel {
                Some(r) => {
                    let (y, mean, var) = r?;
                    let dev = *self.device();
                    let stat = || Layout::contiguous(Shape::from([spec.groups]));
                    Ok((
                        Tensor::from_storage(y, Layout::contiguous(self.shape().clone()), dev),
                        Tensor::from_storage(mean, stat(), dev),
                        Tensor::from_storage(var, stat(), dev),
                    ))
                }
                None => normalize_composite(&x, spec),
            }
        })?;
        if hook::is_recording() {
            // The backward reads rstd; handing it over as an untracked input saves it with
            // the entry without a second output.
            let rstd = hook::paused(|| var.add_scalar(spec.eps)?.rsqrt())?;
            hook::record(|| Op::Normalize(*spec), &[self, &rstd], &output);
        }
        Ok(Normalized { output, mean, var })
    }

    /// The input gradient of [`normalize`](Tensor::normalize) from the output gradient
    /// `self`, the input `x`, the output `y` and `rstd = 1 / sqrt(var + eps)` (`[groups]`):
    /// `rstd · (g − mean(g) − y · mean(g · y))` per group (without centring, no
    /// `mean(g)` term). While a tape records (gradients of gradients) it is computed from
    /// `x` with recorded ops, so it differentiates again; otherwise by the backend's kernel
    /// when it has one.
    pub fn normalize_backward(
        &self,
        x: &Tensor,
        y: &Tensor,
        rstd: &Tensor,
        spec: &NormSpec,
    ) -> Result<Tensor> {
        const OP: &str = "normalize_backward";
        self.check_float(OP)?;
        for t in [x, y] {
            self.check_same(t, OP)?;
            if t.shape() != self.shape() {
                return Err(Error::ShapeMismatch {
                    op: OP,
                    lhs: self.shape().clone(),
                    rhs: t.shape().clone(),
                });
            }
        }
        self.check_same(rstd, OP)?;
        spec.check(OP, self.shape())?;
        if rstd.dims() != [spec.groups] {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("rstd {}, expected [{}]", rstd.shape(), spec.groups),
            });
        }
        if hook::is_recording() {
            let (y, _, var) = normalize_composite(x, spec)?;
            let rstd = var.add_scalar(spec.eps)?.rsqrt()?;
            return backward_composite(self, &y, &rstd, spec);
        }
        hook::paused(|| {
            let (g, y, r) = (self.contiguous()?, y.contiguous()?, rstd.contiguous()?);
            let kernel = if g.elem_count() == 0 {
                None
            } else {
                self.device().backend().normalize_backward(
                    g.storage(),
                    g.layout(),
                    y.storage(),
                    y.layout(),
                    r.storage(),
                    r.layout(),
                    spec,
                )
            };
            match kernel {
                Some(s) => Ok(Tensor::from_storage(
                    s?,
                    Layout::contiguous(self.shape().clone()),
                    *self.device(),
                )),
                None => backward_composite(&g, &y, &r, spec),
            }
        })
    }
}

/// The output, means and variances (`[groups]`) from tensor ops (recorded when a tape
/// listens).
fn normalize_composite(x: &Tensor, spec: &NormSpec) -> Result<(Tensor, Tensor, Tensor)> {
    let v = x.reshape(spec.view())?;
    let (y, mean, var) = if spec.center {
        let mean = v.mean([0isize, 2], true)?;
        let centered = (&v - &mean)?;
        let var = centered.square()?.mean([0isize, 2], true)?;
        let y = (&centered * var.add_scalar(spec.eps)?.rsqrt()?)?;
        (y, mean, var)
    } else {
        let var = v.square()?.mean([0isize, 2], true)?;
        let y = (&v * var.add_scalar(spec.eps)?.rsqrt()?)?;
        (y, var.zeros_like()?, var)
    };
    Ok((
        y.reshape(x.shape())?,
        mean.reshape([spec.groups])?,
        var.reshape([spec.groups])?,
    ))
}

/// `rstd · (g − mean(g) − y · mean(g · y))` per group from tensor ops.
fn backward_composite(g: &Tensor, y: &Tensor, rstd: &Tensor, spec: &NormSpec) -> Result<Tensor> {
    let (g3, y3) = (g.reshape(spec.view())?, y.reshape(spec.view())?);
    let gy = (&g3 * &y3)?.mean([0isize, 2], true)?;
    let mut t = (&g3 - &(&y3 * &gy)?)?;
    if spec.center {
        t = (&t - &g3.mean([0isize, 2], true)?)?;
    }
    (&t * &rstd.reshape([1, spec.groups, 1])?)?.reshape(g.shape())
}

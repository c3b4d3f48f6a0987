//! Reductions over any set of axes (`sum mean max min prod var std logsumexp argmax
//! argmin`) and the numerically stable `softmax`/`log_softmax`.

use crate::hook::{self, Op};
use crate::shape::{push_all, resolve_dim, resolve_dims};
use crate::{DimVec, Dims, Error, Layout, ReduceOp, Result, Shape, Tensor};

impl Tensor {
    /// Resolves `dims` for a reduction: empty means every axis.
    fn reduce_axes(&self, dims: &[isize], op: &'static str) -> Result<DimVec> {
        if self.rank() == 0 {
            // A scalar accepts dim 0 and -1, once (PyTorch); there is nothing to reduce.
            resolve_dims(dims, 1, op)?;
            return Ok(DimVec::new());
        }
        let mut axes = if dims.is_empty() {
            push_all(0..self.rank())
        } else {
            resolve_dims(dims, self.rank(), op)?
        };
        axes.sort_unstable();
        Ok(axes)
    }

    /// The shape after reducing `axes`, with or without the reduced size-1 dims.
    fn reduced_shape(&self, axes: &[usize], keepdim: bool) -> Shape {
        let dims: DimVec = push_all(self.dims().iter().enumerate().filter_map(|(i, &d)| {
            match (axes.contains(&i), keepdim) {
                (false, _) => Some(d),
                (true, true) => Some(1),
                (true, false) => None,
            }
        }));
        Shape::from_dims(&dims)
    }

    /// A primitive reduction over `axes` (sorted, unique, in range; exactly one for
    /// `ArgMax`/`ArgMin`; none only for a rank-0 tensor).
    pub fn reduce(&self, op: ReduceOp, axes: &[usize], keepdim: bool) -> Result<Tensor> {
        let name = op.name();
        if matches!(op, ReduceOp::Sum | ReduceOp::Prod) {
            if let Some(x) = crate::autocast::widened(self)? {
                return x.reduce(op, axes, keepdim);
            }
        }
        if self.dtype() == crate::DType::Bool && matches!(op, ReduceOp::Sum | ReduceOp::Prod) {
            // PyTorch counts: the sum of a mask is an I64.
            return self.to_dtype(crate::DType::I64)?.reduce(op, axes, keepdim);
        }
        let sorted_unique = axes.windows(2).all(|w| w[0] < w[1]);
        let in_range = axes.iter().all(|&a| a < self.rank());
        let arg = matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin);
        let count_ok = if self.rank() == 0 {
            axes.is_empty()
        } else if arg {
            axes.len() == 1
        } else {
            !axes.is_empty()
        };
        if !sorted_unique || !in_range || !count_ok {
            return Err(Error::Invalid {
                op: name,
                msg: format!(
                    "invalid axes {axes:?} for a tensor of shape {}",
                    self.shape()
                ),
            });
        }
        if axes.is_empty() {
            // Rank 0: nothing to reduce; arg-reductions of a scalar are index 0.
            return match op {
                ReduceOp::ArgMax | ReduceOp::ArgMin => {
                    Tensor::zeros((), crate::DType::I64, self.device())
                }
                ReduceOp::Sum | ReduceOp::Prod | ReduceOp::Max | ReduceOp::Min => Ok(self.clone()),
            };
        }
        if matches!(
            op,
            ReduceOp::Max | ReduceOp::Min | ReduceOp::ArgMax | ReduceOp::ArgMin
        ) && axes.iter().any(|&a| self.dims()[a] == 0)
        {
            return Err(Error::Invalid {
                op: name,
                msg: format!(
                    "cannot reduce over an empty dimension of shape {}",
                    self.shape()
                ),
            });
        }
        let storage = self
            .device()
            .backend()
            .reduce(op, self.storage(), self.layout(), axes)?;
        let kept = self.reduced_shape(axes, true);
        let out = Tensor::from_storage(storage, Layout::contiguous(kept), *self.device());
        if !matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin) {
            hook::record(
                || Op::Reduce {
                    op,
                    axes: DimVec::from_slice(axes),
                    keepdim: true,
                },
                &[self],
                &out,
            );
        }
        if keepdim {
            Ok(out)
        } else {
            out.reshape(self.reduced_shape(axes, false))
        }
    }

    /// Sum over `dims` (empty: all), PyTorch `sum(dim, keepdim)`.
    pub fn sum(&self, dims: impl Dims, keepdim: bool) -> Result<Tensor> {
        let axes = self.reduce_axes(&dims.to_dims(), "sum")?;
        self.reduce(ReduceOp::Sum, &axes, keepdim)
    }

    /// Sums over the dims that broadcasting added or stretched, back to `shape` (the
    /// adjoint of `broadcast_to`; gradient rules use it).
    pub fn sum_to_shape(&self, shape: &Shape) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let fits = shape.rank() <= self.rank()
            && shape
                .dims()
                .iter()
                .zip(&self.dims()[self.rank() - shape.rank()..])
                .all(|(&s, &d)| s == d || s == 1);
        if !fits {
            return Err(Error::Broadcast {
                op: "sum_to_shape",
                lhs: shape.clone(),
                rhs: self.shape().clone(),
            });
        }
        let lead = self.rank() - shape.rank();
        let mut axes: Vec<isize> = (0..lead as isize).collect();
        for (i, &d) in shape.dims().iter().enumerate() {
            if d == 1 && self.dims()[lead + i] != 1 {
                axes.push((lead + i) as isize);
            }
        }
        let s = if axes.is_empty() {
            self.clone()
        } else {
            self.sum(axes, true)?
        };
        s.reshape(shape)
    }

    /// True if any element is non-zero (false for an empty tensor).
    pub fn any(&self) -> Result<bool> {
        if self.elem_count() == 0 {
            return Ok(false);
        }
        let axes: DimVec = push_all(0..self.rank());
        self.to_bool()?
            .reduce(ReduceOp::Max, &axes, false)?
            .to_scalar::<bool>()
    }

    /// True if every element is non-zero (true for an empty tensor).
    pub fn all(&self) -> Result<bool> {
        if self.elem_count() == 0 {
            return Ok(true);
        }
        let axes: DimVec = push_all(0..self.rank());
        self.to_bool()?
            .reduce(ReduceOp::Min, &axes, false)?
            .to_scalar::<bool>()
    }

    /// Sum of every element, as a rank-0 tensor.
    pub fn sum_all(&self) -> Result<Tensor> {
        self.sum([0isize; 0], false)
    }

    /// Product over `dims` (empty: all).
    pub fn prod(&self, dims: impl Dims, keepdim: bool) -> Result<Tensor> {
        let axes = self.reduce_axes(&dims.to_dims(), "prod")?;
        self.reduce(ReduceOp::Prod, &axes, keepdim)
    }

    /// Maximum over `dims` (empty: all), PyTorch `amax`; NaN propagates, and ties share
    /// the gradient evenly. For the maximum along one dim with its index, see
    /// [`max_dim`](Tensor::max_dim).
    pub fn amax(&self, dims: impl Dims, keepdim: bool) -> Result<Tensor> {
        let axes = self.reduce_axes(&dims.to_dims(), "amax")?;
        self.reduce(ReduceOp::Max, &axes, keepdim)
    }

    /// Minimum over `dims` (empty: all), PyTorch `amin` (see [`amax`](Tensor::amax)).
    pub fn amin(&self, dims: impl Dims, keepdim: bool) -> Result<Tensor> {
        let axes = self.reduce_axes(&dims.to_dims(), "amin")?;
        self.reduce(ReduceOp::Min, &axes, keepdim)
    }

    /// Index (`I64`) of the maximum along `dim`; the first on ties, NaN counts as the
    /// maximum.
    pub fn argmax(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        if self.rank() == 0 {
            resolve_dim(dim, 1, "argmax")?;
            return self.reduce(ReduceOp::ArgMax, &[], keepdim);
        }
        let d = resolve_dim(dim, self.rank(), "argmax")?;
        self.reduce(ReduceOp::ArgMax, &[d], keepdim)
    }

    /// Index (`I64`) of the minimum along `dim`; the first on ties, NaN counts as the
    /// minimum.
    pub fn argmin(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        if self.rank() == 0 {
            resolve_dim(dim, 1, "argmin")?;
            return self.reduce(ReduceOp::ArgMin, &[], keepdim);
        }
        let d = resolve_dim(dim, self.rank(), "argmin")?;
        self.reduce(ReduceOp::ArgMin, &[d], keepdim)
    }

    /// Mean over `dims` (empty: all); float dtypes. The mean of nothing is NaN.
    pub fn mean(&self, dims: impl Dims, keepdim: bool) -> Result<Tensor> {
        self.check_float("mean")?;
        let axes = self.reduce_axes(&dims.to_dims(), "mean")?;
        let count: usize = axes.iter().map(|&a| self.dims()[a]).product();
        self.reduce(ReduceOp::Sum, &axes, keepdim)?
            .mul_scalar(1.0 / count as f64)
    }

    /// Mean of every element, as a rank-0 tensor.
    pub fn mean_all(&self) -> Result<Tensor> {
        self.mean([0isize; 0], false)
    }

    /// Variance over `dims` (empty: all), two-pass; `unbiased` divides by `n - 1`
    /// (Bessel), else by `n`.
    pub fn var(&self, dims: impl Dims, unbiased: bool, keepdim: bool) -> Result<Tensor> {
        self.check_float("var")?;
        let dims = dims.to_dims();
        let axes = self.reduce_axes(&dims, "var")?;
        let count: usize = axes.iter().map(|&a| self.dims()[a]).product();
        // With no degrees of freedom left the variance is NaN, as PyTorch (0 / 0).
        let denom = (count as f64 - if unbiased { 1.0 } else { 0.0 }).max(0.0);
        let mean = self.mean(&dims[..], true)?;
        let centered = self.sub(&mean)?;
        centered
            .square()?
            .reduce(ReduceOp::Sum, &axes, keepdim)?
            .mul_scalar(1.0 / denom)
    }

    /// Standard deviation: `sqrt(var)`.
    pub fn std(&self, dims: impl Dims, unbiased: bool, keepdim: bool) -> Result<Tensor> {
        self.var(dims, unbiased, keepdim)?.sqrt()
    }

    /// `log(sum(exp(x)))` over `dims`, stable: the maximum is subtracted first, and an
    /// all `-inf` slice gives `-inf`.
    pub fn logsumexp(&self, dims: impl Dims, keepdim: bool) -> Result<Tensor> {
        self.check_float("logsumexp")?;
        if let Some(x) = crate::autocast::widened(self)? {
            return x.logsumexp(dims, keepdim);
        }
        let dims = dims.to_dims();
        let axes = self.reduce_axes(&dims, "logsumexp")?;
        if axes.is_empty() {
            return Ok(self.clone());
        }
        if axes.iter().any(|&a| self.dims()[a] == 0) {
            // The log of an empty sum.
            let shape = self.reduced_shape(&axes, keepdim);
            return Tensor::full(f64::NEG_INFINITY, shape, self.dtype(), self.device());
        }
        let m = self.reduce(ReduceOp::Max, &axes, true)?;
        // An infinite max would give inf - inf = NaN below: shift by 0 there instead.
        let finite = m.abs()?.lt_scalar(f64::INFINITY)?;
        let shift = Tensor::where_(&finite, &m, &m.zeros_like()?)?;
        let s = self
            .sub(&shift)?
            .exp()?
            .reduce(ReduceOp::Sum, &axes, true)?
            .log()?;
        let out = s.add(&shift)?;
        if keepdim {
            Ok(out)
        } else {
            out.reshape(self.reduced_shape(&axes, false))
        }
    }

    /// Softmax along `dim`: `exp(x - max) / sum(exp(x - max))`, stable for inputs of
    /// any magnitude.
    pub fn softmax(&self, dim: isize) -> Result<Tensor> {
        self.softmax_impl(dim, false)
    }

    /// `log(softmax(x))` along `dim`, computed as `x - max - log(sum(exp(x - max)))`.
    pub fn log_softmax(&self, dim: isize) -> Result<Tensor> {
        self.softmax_impl(dim, true)
    }

    fn softmax_impl(&self, dim: isize, log: bool) -> Result<Tensor> {
        let op = if log { "log_softmax" } else { "softmax" };
        self.check_float(op)?;
        if let Some(x) = crate::autocast::widened(self)? {
            return x.softmax_impl(dim, log);
        }
        if self.rank() == 0 {
            resolve_dim(dim, 1, op)?;
            return if log {
                self.zeros_like()
            } else {
                self.ones_like()
            };
        }
        let d = resolve_dim(dim, self.rank(), op)?;
        if self.elem_count() == 0 {
            return self.zeros_like();
        }
        // One op on the tape (its rule is the fused one), whatever runs inside.
        let out = hook::paused(|| self.softmax_body(d, log))?;
        hook::record(|| Op::Softmax { dim: d, log }, &[self], &out);
        Ok(out)
    }

    fn softmax_body(&self, d: usize, log: bool) -> Result<Tensor> {
        if d == self.rank() - 1 && self.elem_count() > 0 {
            let x = self.contiguous()?;
            if let Some(storage) =
                self.device()
                    .backend()
                    .softmax_last_dim(x.storage(), x.layout(), log)
            {
                return Ok(Tensor::from_storage(
                    storage?,
                    Layout::contiguous(self.shape().clone()),
                    *self.device(),
                ));
            }
        }
        let m = self.reduce(ReduceOp::Max, &[d], true)?;
        let shifted = self.sub(&m)?;
        let e = shifted.exp()?;
        let s = e.reduce(ReduceOp::Sum, &[d], true)?;
        if log {
            shifted.sub(&s.log()?)
        } else {
            e.div(&s)
        }
    }

    /// The input gradient of `softmax` (`log = false`) or `log_softmax` (`log = true`)
    /// along `dim`, given its output `y = self` and the output gradient `dy`:
    /// softmax `y * (dy - sum(dy * y))`, log-softmax `dy - exp(y) * sum(dy)`.
    pub fn softmax_backward(&self, dy: &Tensor, dim: isize, log: bool) -> Result<Tensor> {
        let op = if log {
            "log_softmax_backward"
        } else {
            "softmax_backward"
        };
        self.check_same(dy, op)?;
        self.check_float(op)?;
        if self.shape() != dy.shape() {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.shape().clone(),
                rhs: dy.shape().clone(),
            });
        }
        let d = resolve_dim(dim, self.rank().max(1), op)?;
        if self.rank() == 0 {
            return dy.zeros_like();
        }
        // While a tape records (gradients of gradients), run the composite so each
        // primitive is recorded; otherwise the fused kernel.
        if d == self.rank() - 1 && self.elem_count() > 0 && !hook::is_recording() {
            let (y, g) = (self.contiguous()?, dy.contiguous()?);
            if let Some(storage) = self.device().backend().softmax_backward_last_dim(
                y.storage(),
                y.layout(),
                g.storage(),
                g.layout(),
                log,
            ) {
                return Ok(Tensor::from_storage(
                    storage?,
                    Layout::contiguous(self.shape().clone()),
                    *self.device(),
                ));
            }
        }
        if log {
            let s = dy.reduce(ReduceOp::Sum, &[d], true)?;
            dy.sub(&self.exp()?.mul(&s)?)
        } else {
            let s = dy.mul(self)?.reduce(ReduceOp::Sum, &[d], true)?;
            self.mul(&dy.sub(&s)?)
        }
    }
}

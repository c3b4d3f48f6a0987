//! Vector norms and distances (`norm`, `dist`, `cdist`), composed from reductions with
//! PyTorch's gradient at zero: a zero norm passes gradient 0, not NaN.

use crate::{Dims, Error, Result, Tensor};

impl Tensor {
    /// The `p`-norm over `dims` (empty: all), PyTorch `linalg.vector_norm`:
    /// `(sum |x|^p)^(1/p)`; `p = inf` is `max |x|`, `-inf` `min |x|`, `0` the count of
    /// non-zeros. The Frobenius norm of a matrix is `norm(2.0, [-2, -1], ..)`.
    pub fn norm(&self, p: f64, dims: impl Dims, keepdim: bool) -> Result<Tensor> {
        const OP: &str = "norm";
        self.check_float(OP)?;
        if p.is_nan() {
            return Err(Error::Invalid {
                op: OP,
                msg: "the order p must not be NaN".into(),
            });
        }
        let dims = dims.to_dims();
        let a = self.abs()?;
        if p == f64::INFINITY {
            return a.amax(&dims[..], keepdim);
        }
        if p == f64::NEG_INFINITY {
            return a.amin(&dims[..], keepdim);
        }
        if p == 0.0 {
            return a
                .ne_scalar(0.0)?
                .to_dtype(self.dtype())?
                .sum(&dims[..], keepdim);
        }
        if p == 1.0 {
            return a.sum(&dims[..], keepdim);
        }
        let s = if p == 2.0 {
            self.square()?.sum(&dims[..], keepdim)?
        } else if p < 1.0 {
            // |x|^p has no derivative at 0 for p < 1: zeros take their value (0, or inf for
            // p < 0) as a constant, so that their gradient is 0, as PyTorch's.
            let zero = a.eq_scalar(0.0)?;
            let safe = Tensor::where_(&zero, &a.ones_like()?, &a)?;
            let at_zero = a.full_like(if p > 0.0 { 0.0 } else { f64::INFINITY })?;
            Tensor::where_(&zero, &at_zero, &safe.powf(p)?)?.sum(&dims[..], keepdim)?
        } else {
            a.powf(p)?.sum(&dims[..], keepdim)?
        };
        // s^(1/p), with the root's infinite slope at s = 0 kept out of the gradient: the
        // zero branch is a constant, and the root only ever sees s > 0.
        let zero = s.eq_scalar(0.0)?;
        let safe = Tensor::where_(&zero, &s.ones_like()?, &s)?;
        let root = if p == 2.0 {
            safe.sqrt()?
        } else {
            safe.powf(1.0 / p)?
        };
        Tensor::where_(&zero, &s.zeros_like()?, &root)
    }

    /// The `p`-norm of `self - other` over all elements (PyTorch `dist`).
    pub fn dist(&self, other: &Tensor, p: f64) -> Result<Tensor> {
        self.sub(other)?.norm(p, [0isize; 0], false)
    }

    /// Pairwise `p`-distances between the rows of `self` `[.., P, M]` and `other`
    /// `[.., R, M]`: `[.., P, R]` (PyTorch `cdist`; batch dims broadcast).
    pub fn cdist(&self, other: &Tensor, p: f64) -> Result<Tensor> {
        const OP: &str = "cdist";
        if self.rank() < 2
            || other.rank() < 2
            || self.dims()[self.rank() - 1] != other.dims()[other.rank() - 1]
        {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: self.shape().clone(),
                rhs: other.shape().clone(),
            });
        }
        let diff = self.unsqueeze(-2)?.sub(&other.unsqueeze(-3)?)?;
        diff.norm(p, -1isize, false)
    }
}

//! Loss functions, with PyTorch's names, formulas and reductions. Each is a composite of
//! tensor ops, so autograd differentiates it with no rule of its own; each is written
//! in a form that stays finite for extreme inputs (logits of ±100, probabilities of
//! exactly 0 or 1).
//!
//! - `regression.rs`: [`mse_loss`], [`l1_loss`], [`huber_loss`], [`smooth_l1_loss`].
//! - `binary.rs`: [`binary_cross_entropy`] on probabilities,
//!   [`binary_cross_entropy_with_logits`].
//! - `class.rs`: [`cross_entropy`] / [`CrossEntropyLoss`] (label smoothing, class
//!   weights, soft targets) and [`nll_loss`] / [`NllLoss`].
//! - `kl.rs`: [`kl_div`].
//! - `distill.rs`: [`distillation_loss`] (Hinton et al.'s knowledge distillation).
//!
//! Unlike PyTorch, which broadcasts mismatched input and target shapes with a warning,
//! the element-wise losses require equal shapes: `[N, 1]` against `[N]` is the classic
//! silent bug.

mod binary;
mod class;
mod distill;
mod kl;
mod regression;

pub use binary::{binary_cross_entropy, binary_cross_entropy_with_logits};
pub use class::{cross_entropy, nll_loss, CrossEntropyLoss, NllLoss};
pub use distill::distillation_loss;
pub use kl::{kl_div, KlReduction};
pub use regression::{huber_loss, l1_loss, mse_loss, smooth_l1_loss};

use lamina_tensor::{Error, Result, Tensor};

/// How per-element losses become the result (PyTorch's `reduction`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// The per-element losses, input-shaped.
    None,
    /// Their mean (a rank-0 tensor); the default, as in PyTorch.
    #[default]
    Mean,
    /// Their sum (a rank-0 tensor).
    Sum,
}

impl Reduction {
    /// Applies the reduction to per-element losses.
    pub(crate) fn apply(self, loss: Tensor) -> Result<Tensor> {
        match self {
            Reduction::None => Ok(loss),
            Reduction::Mean => loss.mean_all(),
            Reduction::Sum => loss.sum_all(),
        }
    }
}

/// Errors unless `input` and `target` have the same shape and dtype and `input` is
/// float; the message names the loss and both operands: `mse_loss: input [4, 1] and
/// target [4] have different shapes ...`.
pub(crate) fn check_pair(op: &'static str, input: &Tensor, target: &Tensor) -> Result<()> {
    if input.shape() != target.shape() {
        return Err(Error::Invalid {
            op,
            msg: format!(
                "input {} and target {} have different shapes (a loss does not broadcast \
                 its target: reshape one to the other)",
                input.shape(),
                target.shape()
            ),
        });
    }
    if !input.dtype().is_float() {
        return Err(Error::Invalid {
            op,
            msg: format!(
                "input {} has dtype {}, a float dtype is needed",
                input.shape(),
                input.dtype()
            ),
        });
    }
    if input.dtype() != target.dtype() {
        return Err(Error::Invalid {
            op,
            msg: format!(
                "input {} has dtype {} and target {} has dtype {} (convert the target \
                 with .to_dtype(DType::{:?}))",
                input.shape(),
                input.dtype(),
                target.shape(),
                target.dtype(),
                input.dtype()
            ),
        });
    }
    Ok(())
}

/// `t * log(t)` with `0 log 0 = 0` (PyTorch `xlogy(t, t)`), finite gradient at 0.
pub(crate) fn xlogx(t: &Tensor) -> Result<Tensor> {
    // log of 1 where t = 0: the product is 0 there, and so is its gradient.
    let safe = Tensor::where_(&t.eq_scalar(0.0)?, &t.scalar_like(1.0)?, t)?;
    t * safe.log()?
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Helpers shared by the loss tests: tensors from slices and a tolerance check.
    use lamina_tensor::{Device, Tensor};

    pub fn dev() -> Device {
        lamina_backend_cpu::device()
    }

    pub fn t(v: &[f64], shape: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape.to_vec(), &dev()).unwrap()
    }

    pub fn labels(v: &[i64], shape: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape.to_vec(), &dev()).unwrap()
    }

    /// Asserts `got` (any shape) equals `want` element-wise within `1e-12` relative.
    pub fn close(got: &Tensor, want: &[f64]) {
        let g = got.to_f64_vec().unwrap();
        assert_eq!(g.len(), want.len(), "got {g:?}, want {want:?}");
        for (i, (a, b)) in g.iter().zip(want).enumerate() {
            assert!(a.is_finite(), "element {i} is {a}");
            assert!(
                (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                "element {i}: got {a}, want {b}"
            );
        }
    }

    /// The three reductions of per-element losses `per`, checked against `f`.
    pub fn check_reductions(
        f: impl Fn(super::Reduction) -> lamina_tensor::Result<Tensor>,
        per: &[f64],
    ) {
        use super::Reduction;
        close(&f(Reduction::None).unwrap(), per);
        let sum: f64 = per.iter().sum();
        let sum_t = f(Reduction::Sum).unwrap();
        assert_eq!(sum_t.rank(), 0);
        close(&sum_t, &[sum]);
        close(&f(Reduction::Mean).unwrap(), &[sum / per.len() as f64]);
    }
}

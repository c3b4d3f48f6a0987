//! The [`Optimizer`] trait every update rule implements, and the checks shared by all of
//! them (gradient against parameter, state against parameter), run before anything is
//! written so a failed step leaves every parameter and buffer as it was.

use lamina_autograd::Grads;
use lamina_tensor::{Error, Result, Tensor};

use crate::state::{OptimizerState, Slots};

/// An update rule with explicit per-parameter state.
///
/// Parameters are passed to every `step` as a slice; state is kept by *position* in it
/// (as PyTorch keys state by position in the parameter list), created lazily at a
/// parameter's first update. A parameter without a gradient is skipped and its state left
/// untouched (PyTorch skips `p.grad is None`).
///
/// The update runs in place on each parameter's storage (`Tensor::binary_assign`), so a
/// parameter keeps its id, which autograd keys gradients by; when another handle shares
/// the storage, the parameter is copied first and the other handle never sees the write.
///
/// There is no `zero_grad`: a [`Tape`](lamina_autograd::Tape)'s `backward` returns fresh
/// gradients each time. To accumulate over several backward passes (micro-batches), add
/// them with [`Grads::accumulate`] and step once.
pub trait Optimizer {
    /// The optimizer's name as PyTorch spells it (`"SGD"`, `"Adam"`, ...): also the tag of
    /// its [`OptimizerState`].
    fn name(&self) -> &'static str;

    /// One update of every parameter whose gradient `grads[i]` is present.
    /// `grads.len()` must equal `params.len()`; each gradient must have its parameter's
    /// shape and dtype.
    fn step_grads(&mut self, params: &mut [&mut Tensor], grads: &[Option<&Tensor>]) -> Result<()>;

    /// One update of every parameter that has a gradient in `grads` (looked up by the
    /// parameter's id).
    fn step(&mut self, params: &mut [&mut Tensor], grads: &Grads) -> Result<()> {
        let found: Vec<Option<&Tensor>> = params.iter().map(|p| grads.get(p)).collect();
        self.step_grads(params, &found)
    }

    /// The learning rate the next step uses.
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate (what a schedule drives).
    fn set_learning_rate(&mut self, lr: f64);

    /// A copy of the state: learning rate, and step count and buffers per parameter.
    fn state(&self) -> Result<OptimizerState>;

    /// Replaces the state with `state` (from [`state`](Self::state) of an optimizer of the
    /// same kind and config), learning rate included. Buffers are checked against their
    /// parameters at the next step: a mismatch is an error naming the parameter index and
    /// both shapes.
    fn load_state(&mut self, state: OptimizerState) -> Result<()>;
}

/// Errors unless `grad` can update `param`: float dtype, same shape, dtype and device.
pub(crate) fn check_grad(
    op: &'static str,
    index: usize,
    param: &Tensor,
    grad: &Tensor,
) -> Result<()> {
    if !param.dtype().is_float() {
        return Err(Error::Invalid {
            op,
            msg: format!("parameter {index} has dtype {}, not a float", param.dtype()),
        });
    }
    if grad.shape() != param.shape() || grad.dtype() != param.dtype() {
        return Err(Error::Invalid {
            op,
            msg: format!(
                "parameter {index}: gradient {} ({}) does not match parameter {} ({})",
                grad.shape(),
                grad.dtype(),
                param.shape(),
                param.dtype()
            ),
        });
    }
    if grad.device() != param.device() {
        return Err(Error::DeviceMismatch {
            op,
            lhs: param.device().name(),
            rhs: grad.device().name(),
        });
    }
    Ok(())
}

/// Checks every (parameter, gradient, state) triple before any update.
pub(crate) fn check_all(
    op: &'static str,
    params: &[&mut Tensor],
    grads: &[Option<&Tensor>],
    slots: &Slots,
    names: &[&'static str],
) -> Result<()> {
    if params.len() != grads.len() {
        return Err(Error::Invalid {
            op,
            msg: format!(
                "{} parameters but {} gradient entries",
                params.len(),
                grads.len()
            ),
        });
    }
    for (i, (p, g)) in params.iter().zip(grads).enumerate() {
        if let Some(g) = g {
            check_grad(op, i, p, g)?;
            slots.check(op, i, p, names)?;
        }
    }
    Ok(())
}

/// Errors unless `state` was written by optimizer `name`.
pub(crate) fn check_kind(op: &'static str, name: &str, state: &OptimizerState) -> Result<()> {
    if state.optimizer != name {
        return Err(Error::Invalid {
            op,
            msg: format!(
                "the state belongs to a `{}` optimizer, not `{name}`",
                state.optimizer
            ),
        });
    }
    Ok(())
}

/// Errors unless `value` is finite and at least 0 (learning rates, decays, eps).
pub(crate) fn check_non_negative(op: &'static str, what: &str, value: f64) -> Result<()> {
    if !(value >= 0.0 && value.is_finite()) {
        return Err(Error::Invalid {
            op,
            msg: format!("{what} must be finite and >= 0, got {value}"),
        });
    }
    Ok(())
}

/// Errors unless `0 <= value < 1` (betas, alpha).
pub(crate) fn check_unit(op: &'static str, what: &str, value: f64) -> Result<()> {
    if !(0.0..1.0).contains(&value) {
        return Err(Error::Invalid {
            op,
            msg: format!("{what} must be in [0, 1), got {value}"),
        });
    }
    Ok(())
}

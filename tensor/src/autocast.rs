//! Automatic mixed precision, as PyTorch's `torch.autocast(device_type, dtype)`: inside
//! [`autocast`], the ops that gain from reduced precision — `matmul` (so linear layers),
//! `conv` and `attention` — run in the scope's half dtype, and the precision-sensitive
//! ones — `softmax`, `log_softmax`, `logsumexp`, `normalize` (the norm layers), `sum` and
//! `prod` reductions (so `mean`, `var` and the losses' reductions) and the scans — take half
//! inputs in f32.
//!
//! The casts are ordinary `to_dtype` calls made before the op, so a recording tape records
//! them: gradients flow back through them and reach f32 parameters (the master weights) as
//! f32. Integer operands are never cast. The gradients themselves are computed outside the
//! scope (a tape's backward pass switches autocast off, as PyTorch advises), in the dtypes
//! the forward pass chose.
//!
//! ```
//! use lamina_tensor::{autocast, DType};
//! assert_eq!(autocast::dtype(), None);
//! let inside = autocast::autocast(DType::BF16, || autocast::dtype())?;
//! assert_eq!(inside, Some(DType::BF16));
//! assert!(autocast::autocast(DType::F64, || ()).is_err()); // half dtypes only
//! # Ok::<(), lamina_tensor::Error>(())
//! ```
//!
//! With a device (not compiled here: `lamina-tensor` has no backend; `nn/tests/autocast.rs`
//! checks the same):
//!
//! ```ignore
//! let (y, p) = autocast::autocast(DType::BF16, || -> Result<_> {
//!     let y = x.matmul(&w)?;          // bf16
//!     Ok((y.clone(), y.softmax(1)?))  // softmax in f32
//! })??;
//! assert_eq!((y.dtype(), p.dtype()), (DType::BF16, DType::F32));
//! ```

use std::cell::Cell;

use crate::{DType, Error, Result, Tensor};

thread_local! {
    /// The half dtype of the innermost active scope on this thread.
    static ACTIVE: Cell<Option<DType>> = const { Cell::new(None) };
}

/// Restores the previous state when a scope ends, also on a panic.
struct Restore(Option<DType>);

impl Drop for Restore {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(self.0));
    }
}

fn with_state<R>(state: Option<DType>, f: impl FnOnce() -> R) -> R {
    let _restore = Restore(ACTIVE.with(|a| a.replace(state)));
    f()
}

/// Runs `f` with autocast to `dtype` (`F16` or `BF16`; anything else is an error) on this
/// thread; scopes nest, the innermost wins.
pub fn autocast<R>(dtype: DType, f: impl FnOnce() -> R) -> Result<R> {
    match dtype {
        DType::F16 | DType::BF16 => Ok(with_state(Some(dtype), f)),
        DType::F32 | DType::F64 | DType::I64 | DType::U32 | DType::Bool => Err(Error::Invalid {
            op: "autocast",
            msg: format!("autocasts to f16 or bf16, not {dtype}"),
        }),
    }
}

/// Runs `f` with autocast off (inside a scope: an op that must keep its input dtypes).
pub fn disabled<R>(f: impl FnOnce() -> R) -> R {
    with_state(None, f)
}

/// The dtype of the active scope on this thread, if any.
pub fn dtype() -> Option<DType> {
    ACTIVE.with(|a| a.get())
}

/// A layer's bias for adding to the product `y`: inside a scope a float bias takes `y`'s
/// dtype (the layer's output stays in reduced precision, as PyTorch's autocast `linear`
/// and `conv` add the bias in their compute dtype); otherwise `bias` itself.
pub fn bias_for(bias: &Tensor, y: &Tensor) -> Result<Tensor> {
    if dtype().is_some()
        && bias.dtype().is_float()
        && y.dtype().is_float()
        && bias.dtype() != y.dtype()
    {
        bias.to_dtype(y.dtype())
    } else {
        Ok(bias.clone())
    }
}

/// For a reduced-precision op: the float operands cast to the scope's dtype, or `None`
/// when there is no scope or nothing to cast (so the caller runs as it was called).
pub(crate) fn lowered(operands: &[&Tensor]) -> Result<Option<Vec<Tensor>>> {
    let Some(target) = dtype() else {
        return Ok(None);
    };
    let casts = |t: &Tensor| t.dtype().is_float() && t.dtype() != target;
    if !operands.iter().any(|t| casts(t)) {
        return Ok(None);
    }
    operands
        .iter()
        .map(|t| {
            if casts(t) {
                t.to_dtype(target)
            } else {
                Ok((*t).clone())
            }
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// For a precision-sensitive op: a half input widened to f32 inside a scope, else `None`.
pub(crate) fn widened(x: &Tensor) -> Result<Option<Tensor>> {
    match (dtype(), x.dtype()) {
        (Some(_), DType::F16 | DType::BF16) => x.to_dtype(DType::F32).map(Some),
        _ => Ok(None),
    }
}

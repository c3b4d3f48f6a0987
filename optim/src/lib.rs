//! `lamina-optim`: optimizers, regularisation, gradient clipping and learning-rate
//! schedules for Lamina, each following PyTorch's update formulas and defaults.
//!
//! - Optimizers implement [`Optimizer`]: [`Sgd`] (momentum, dampening, Nesterov),
//!   [`Adam`], [`AdamW`] (both with AMSGrad), [`RMSprop`] (centered, momentum),
//!   [`Adagrad`]. Each has a `Config` with PyTorch's defaults (`Default`, serde).
//! - Regularisation: every config has PyTorch's `weight_decay` (L2 on the gradient,
//!   decoupled in AdamW) and an `l1` term `l1 sign(p)`; [`l1_penalty`] and [`l2_penalty`]
//!   are the loss-term forms.
//! - Clipping: [`clip_grad_norm`] (returns the total norm) and [`clip_grad_value`], on
//!   [`Grads`](lamina_autograd::Grads) or, with the `_tensors` forms, on a list of tensors.
//! - Schedules: [`StepLR`], [`MultiStepLR`], [`ExponentialLR`], [`CosineAnnealingLR`],
//!   [`LinearLR`] ([`LRScheduler`]) and [`ReduceLROnPlateau`].
//! - [`Masked`]: any optimizer, updating only the entries pruning masks keep (for
//!   fine-tuning a model pruned with `lamina_nn::prune`).
//! - Loss scaling: [`GradScaler`] (PyTorch's `torch.amp.GradScaler`: dynamic scale,
//!   skipped steps on inf/NaN gradients, unscale before clipping), around any optimizer.
//! - [`OptimizerState`] holds step counts and buffers as (shape, dtype, values): save it
//!   with the config and training resumes bit for bit.
//!
//! Updates run in place on the parameters' storage, so parameters keep the ids autograd
//! keys gradients by. There is no `zero_grad`: each `Tape::backward` returns fresh
//! gradients; to accumulate over micro-batches, add them with `Grads::accumulate` and step
//! once.
//!
//! A training step: record the loss on a tape, backward, step.
//!
//! ```
//! use lamina_autograd::Tape;
//! use lamina_optim::{Adam, AdamConfig, Optimizer};
//! use lamina_tensor::{DType, Tensor};
//!
//! let dev = lamina_backend_cpu::device();
//! let x = Tensor::from_vec(vec![1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0], [3, 2], &dev)?;
//! let y = Tensor::from_vec(vec![1.0f32, 0.0, -1.0], [3, 1], &dev)?;
//! let mut w = Tensor::zeros([2, 1], DType::F32, &dev)?;
//! let mut b = Tensor::zeros([1], DType::F32, &dev)?;
//! let mut opt = Adam::new(AdamConfig { lr: 0.1, eps: 1e-7, ..Default::default() })?;
//!
//! let mse = |w: &Tensor, b: &Tensor| (x.matmul(w) + b - &y)?.square()?.mean_all();
//! let before = mse(&w, &b)?.to_scalar::<f32>()?;
//! for _ in 0..100 {
//!     let tape = Tape::new();
//!     tape.watch(&w);
//!     tape.watch(&b);
//!     let loss = mse(&w, &b)?;
//!     let grads = tape.backward(&loss)?; // fresh gradients: no zero_grad
//!     let id = w.id();
//!     opt.step(&mut [&mut w, &mut b], &grads)?; // in place
//!     assert_eq!(w.id(), id);
//! }
//! assert!(mse(&w, &b)?.to_scalar::<f32>()? < 0.01 * before);
//!
//! // Gradient accumulation over two micro-batches, then one step.
//! let (_, mut grads) = lamina_autograd::value_and_grad(&[&w, &b], || mse(&w, &b))?;
//! let (_, more) = lamina_autograd::value_and_grad(&[&w, &b], || mse(&w, &b))?;
//! grads.accumulate(more)?;
//! opt.step(&mut [&mut w, &mut b], &grads)?;
//! # Ok::<(), lamina_tensor::Error>(())
//! ```

mod adagrad;
mod adam;
mod clip;
mod masked;
mod ops;
mod optimizer;
mod plateau;
mod regularization;
mod rmsprop;
mod scaler;
mod schedule;
mod sgd;
mod state;

pub use adagrad::{Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig, AdamW, AdamWConfig};
pub use clip::{
    clip_grad_norm, clip_grad_norm_tensors, clip_grad_value, clip_grad_value_tensors, total_norm,
};
pub use masked::Masked;
pub use optimizer::Optimizer;
pub use plateau::{PlateauMode, ReduceLROnPlateau, ReduceLROnPlateauConfig, ThresholdMode};
pub use regularization::{l1_penalty, l2_penalty};
pub use rmsprop::{RMSprop, RMSpropConfig};
pub use scaler::{GradScaler, GradScalerConfig};
pub use schedule::{CosineAnnealingLR, ExponentialLR, LRScheduler, LinearLR, MultiStepLR, StepLR};
pub use sgd::{Sgd, SgdConfig};
pub use state::{OptimizerState, ParamState, TensorData, SAFETENSORS_FORMAT};

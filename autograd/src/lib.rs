//! `lamina-autograd`: tape-based reverse-mode automatic differentiation for Lamina.
//!
//! A [`Tape`] installed on the current thread records every differentiable op that
//! touches a watched tensor (a Wengert list); [`Tape::backward`] runs one reverse sweep and
//! returns [`Grads`], looked up by parameter. `tensor` knows nothing of this crate: it
//! reports ops through its recording hook, so models are written against plain `Tensor`
//! and the same code serves training and inference. See `README.md` for why a scoped
//! recorder rather than a decorator backend.
//!
//! - [`no_grad`] runs code with recording off; `Tensor::detach` cuts a tensor loose.
//! - Tapes nest: a tape around another tape's `backward` records the gradient computation,
//!   which gives gradients of gradients (Hessian-vector products).
//! - [`apply_custom`] adds user ops with their own backward.
//! - [`gradcheck`] compares the tape with finite differences; with the `proptest` feature,
//!   [`strategies`] generates tensors for property tests of your own ops.

mod custom;
mod gradcheck;
mod grads;
mod rules;
#[cfg(feature = "proptest")]
pub mod strategies;
mod tape;

pub use custom::{apply_custom, CustomOp};
pub use gradcheck::{gradcheck, GradcheckConfig, GradcheckReport, InputReport};
pub use grads::Grads;
pub use tape::{no_grad, value_and_grad, Tape};

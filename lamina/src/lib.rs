//! `lamina`: the facade of the Lamina deep-learning framework. It re-exports the crates
//! (`tensor`, `autograd`, `nn`, `optim`, `data`, and the backends enabled by features) and
//! offers `Device::cpu()`, `Device::cuda(i)` and `Device::best()` through [`DeviceExt`].
//!
//! Errors: [`lamina::Error`](Error) covers every crate's error (`From` for each), so a
//! program returning [`lamina::Result`](Result) uses `?` on tensor ops, data loading, weight
//! files and the training loop alike.
//!
//! Features: `cpu` (default) builds the CPU backend; `cuda` the CUDA backend, which loads
//! the driver at run time (so it builds on machines without CUDA); `train` (default) the
//! training loop, `lamina::train`, whose progress bar and plots bring heavier
//! dependencies.
//!
//! ```
//! use lamina::prelude::*;
//! let dev = Device::cpu();
//! let x = Tensor::from_vec(vec![1.0f32, -2.0, 3.0], [3], &dev)?;
//! assert_eq!(x.relu()?.sum_all()?.to_scalar::<f32>()?, 4.0);
//! # Ok::<(), lamina::Error>(())
//! ```

pub use lamina_autograd as autograd;
pub use lamina_data as data;
pub use lamina_nn as nn;
pub use lamina_optim as optim;
pub use lamina_tensor as tensor;
/// The training loop (feature `train`, on by default): `Trainer`, early stopping,
/// checkpoints, history CSV and plot.
#[cfg(feature = "train")]
pub use lamina_train as train;

#[cfg(feature = "cpu")]
pub use lamina_backend_cpu as backend_cpu;
pub use lamina_backend_cuda as backend_cuda;

#[cfg(feature = "cpu")]
pub mod quant;

mod error;
pub use error::{Error, Result};
/// The global seed: what layer initialisers, dropout and data loaders draw from when no
/// explicit seed is given (`manual_seed(7)` makes a program's run repeatable under 7).
pub use lamina_tensor::random::{initial_seed, manual_seed};
pub use lamina_tensor::{DType, Device, Shape, Tensor};

/// Device constructors for the backends this build has.
pub trait DeviceExt: Sized {
    /// The CPU device (feature `cpu`).
    #[cfg(feature = "cpu")]
    fn cpu() -> Device;
    /// CUDA device `ordinal`; a clean error when there is no driver or GPU (feature `cuda`).
    #[cfg(feature = "cuda")]
    fn cuda(ordinal: usize) -> lamina_tensor::Result<Device>;
    /// The fastest device available: CUDA 0 when the build has the `cuda` feature and a
    /// GPU opens, else the CPU. (The CUDA backend is compile-checked on every CI run but has
    /// not yet run on a GPU: see `lamina_backend_cuda`.)
    fn best() -> lamina_tensor::Result<Device>;
}

impl DeviceExt for Device {
    #[cfg(feature = "cpu")]
    fn cpu() -> Device {
        lamina_backend_cpu::device()
    }

    #[cfg(feature = "cuda")]
    fn cuda(ordinal: usize) -> lamina_tensor::Result<Device> {
        lamina_backend_cuda::device(ordinal)
    }

    fn best() -> lamina_tensor::Result<Device> {
        #[cfg(feature = "cuda")]
        if let Ok(d) = lamina_backend_cuda::device(0) {
            return Ok(d);
        }
        #[cfg(feature = "cpu")]
        return Ok(lamina_backend_cpu::device());
        #[cfg(not(feature = "cpu"))]
        Err(lamina_tensor::Error::DeviceUnavailable(
            "no backend is available: enable the `cpu` feature, or `cuda` on a machine with a GPU"
                .into(),
        ))
    }
}

/// What most programs need: `use lamina::prelude::*;`. Its `Error` and `Result` are
/// [`lamina::Error`](Error) and [`lamina::Result`](Result), which every crate's error
/// converts into; a `Module` implementation returns `lamina::tensor::Result`.
pub mod prelude {
    pub use super::{DeviceExt, Error, Result};
    pub use lamina_nn::Losses;
    pub use lamina_tensor::{DType, Device, Shape, Tensor};
}

/// The README's Rust examples, compiled and run as doctests so they stay true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

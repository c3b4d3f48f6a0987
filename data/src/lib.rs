//! `lamina-data`: Lamina's data pipeline.
//!
//! - [`Dataset`] (len, get, get_batch), [`TensorDataset`] (in memory), map adapters;
//! - [`DataLoader`]: batches with a seeded shuffle, drop-last, samplers and worker threads
//!   that prefetch batches while the model trains (same order for any worker count);
//! - loaders: CSV ([`tabular`]), IDX/MNIST ([`idx`]), a text corpus to tokens ([`text`]);
//! - [`transform`]: standardise, min-max, one-hot, missing values, image augmentation;
//! - [`split`]: train/validation/test, k-fold, stratified k-fold;
//! - [`metrics`]: accuracy, precision/recall/F1, confusion matrix, ROC-AUC, mean ± std.
//!
//! Randomness comes from [`lamina_tensor::rng`] (counter-based SplitMix64): a seed and a
//! counter give the same draw on every machine, so shuffles and augmentations reproduce.

mod error;
mod rng;

// Core: datasets, loader, samplers, splits, metrics.
pub mod dataset;
pub mod loader;
pub mod metrics;
pub mod sampler;
pub mod split;

// Files and transforms.
pub mod idx;
pub mod tabular;
pub mod text;
pub mod transform;

pub use error::{Error, Result};
pub use rng::Rng;

//! `lamina-data`: Lamina's data pipeline.
//!
//! - [`Dataset`] (len, get, get_batch), [`TensorDataset`] (in memory), map adapters;
//! - [`DataLoader`]: batches with a seeded shuffle, drop-last, samplers and worker threads
//!   that prefetch batches while the model trains (same order for any worker count);
//! - loaders: CSV ([`tabular`]), IDX/MNIST ([`idx`]), a text corpus to tokens ([`text`]);
//! - [`transform`]: `StandardScaler`, `MinMaxScaler`, one-hot, missing values, image augmentation;
//! - [`split`]: train/validation/test, k-fold, stratified k-fold;
//! - [`metrics`]: accuracy, precision/recall/F1, confusion matrix, classification report,
//!   ROC-AUC, mean ± std.
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
pub use dataset::{Batch, Dataset, MapDataset, Sample, Subset, TensorDataset};
pub use loader::{DataLoader, Epoch, LoaderConfig};
pub use metrics::{
    accuracy, argmax_rows, classification_report, labels_of, roc_auc, ClassificationReport,
    ConfusionMatrix, MeanStd,
};
pub use sampler::Sampler;
pub use split::{train_test_split, train_val_test_split, Fold, KFold, Split, StratifiedKFold};

// Files and transforms.
pub mod idx;
pub mod tabular;
pub mod text;
pub mod transform;
pub use idx::{read_idx, read_idx_prefix, IdxArray, IdxData, Mnist, MnistSplit};
pub use tabular::{parse_csv, read_csv, CsvOptions, LabelColumn, Missing, Table};
pub use text::{read_text, CharVocab, NextTokenWindows};
pub use transform::{Augment, Imputer, MinMaxScaler, StandardScaler};
#[allow(deprecated)]
pub use transform::{MinMaxScale, Standardize};

pub use error::{Error, Result};
pub use rng::Rng;

/// The most classes a class-index label may name: labels must be below it. Per-class
/// tables ([`Table::class_counts`], [`ConfusionMatrix`], a model's output layer) are
/// sized by the largest label, so a stray value in a label column (a row ID, a price)
/// would otherwise ask for billions of counters. Class-index labels of a tabular data
/// set stay far below this; a label column that does not is almost certainly a mistake.
pub const MAX_CLASSES: usize = 1_000_000;

//! What the real-data examples share: where the bundled data sets live, the MLP they
//! train, and the few lines of flag parsing their binaries have in common (batched
//! prediction is `lamina::train::predict`). The MNIST run is in [`crate::mnist`], cross-validation on the
//! sklearn tables in [`crate::cv`]; the binaries (`mnist_mlp`, `digits_cv`,
//! `tabular_cv`) and `tests/realdata.rs` call the same code, so CI trains what users run.
//!
//! Errors are `lamina::Error`: every crate's error converts into it, so one `?` works for
//! every layer of a training program.

use std::path::PathBuf;
use std::str::FromStr;

use lamina::nn::{Activation, Mlp, Sequential};
use lamina::prelude::*;

/// `Result` with `lamina::Error`, which every crate's error converts into.
pub type Result<T> = lamina::Result<T>;

/// The repository's `datasets/` folder (MNIST, the sklearn CSVs), found from this crate's
/// manifest, so the examples run from any working directory of this checkout.
pub fn datasets_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets"))
}

/// A multi-layer perceptron `sizes[0] → sizes[1] → … → sizes[last]`: `Linear` layers with
/// PyTorch's default initialisation (each seeded from `seed`) and ReLU between them, none
/// after the last, which gives logits. `[30, 2]` is logistic regression. It is
/// `lamina::nn::Mlp::builder(sizes).seed(seed)`; fewer than two sizes or a zero size is
/// an error.
///
/// ```
/// use lamina::nn::Module;
/// use lamina::prelude::*;
/// let model = lamina_examples::realdata::mlp(&[784, 256, 128, 10], 0, &Device::cpu())?;
/// assert_eq!(model.num_parameters(), 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
/// # Ok::<(), lamina::Error>(())
/// ```
pub fn mlp(sizes: &[usize], seed: u64, dev: &Device) -> lamina::tensor::Result<Sequential> {
    // Layer i draws Seeds::new(seed)'s seed i, as this function always did, so the
    // README's figures stand.
    Mlp::builder(sizes)
        .activation(Activation::Relu)
        .seed(seed)
        .build(dev)
}

/// Parses a flag's value, or says which flag had a bad one.
pub fn parse_flag<T: FromStr>(flag: &str, value: Option<String>) -> std::result::Result<T, String>
where
    T::Err: std::fmt::Display,
{
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    value.parse().map_err(|e| format!("{flag} {value:?}: {e}"))
}

/// Layer widths from a flag's value: `128`, `64,32`, or `""` for none.
pub fn parse_widths(flag: &str, value: Option<String>) -> std::result::Result<Vec<usize>, String> {
    let value: String = parse_flag(flag, value)?;
    value
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse_flag(flag, Some(s.trim().to_string())))
        .collect()
}

/// Seconds per epoch over a run (validation included), from the history's wall times.
pub fn seconds_per_epoch(history: &lamina::train::History) -> f64 {
    let n = history.len().max(1) as f64;
    history.epochs.iter().map(|r| r.seconds).sum::<f64>() / n
}

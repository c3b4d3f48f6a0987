//! What the real-data examples share: where the bundled data sets live and the few lines
//! of flag parsing their binaries have in common (the MLP is `lamina::nn::Mlp`, batched
//! prediction `lamina::train::predict`). The MNIST run is in [`crate::mnist`], cross-validation on the
//! sklearn tables in [`crate::cv`]; the binaries (`mnist_mlp`, `digits_cv`,
//! `tabular_cv`) and `tests/realdata.rs` call the same code, so CI trains what users run.
//!
//! Errors are `lamina::Error`: every crate's error converts into it, so one `?` works for
//! every layer of a training program.

use std::path::PathBuf;
use std::str::FromStr;

/// `Result` with `lamina::Error`, which every crate's error converts into.
pub type Result<T> = lamina::Result<T>;

/// The repository's `datasets/` folder (MNIST, the sklearn CSVs), found from this crate's
/// manifest, so the examples run from any working directory of this checkout.
pub fn datasets_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets"))
}

/// An example's `main`: `parse` the command line (a usage or flag error exits with code 2),
/// then `run`, reporting an error under the program's `name` (exit code 1).
pub fn cli<C>(
    name: &str,
    parse: impl FnOnce() -> std::result::Result<C, String>,
    run: impl FnOnce(&C) -> Result<()>,
) -> std::process::ExitCode {
    let cfg = match parse() {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("{msg}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(&cfg) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
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

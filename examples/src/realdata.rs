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
/// manifest, so the examples run from any working directory of this checkout; the
/// environment variable `LAMINA_DATASETS` names another folder.
pub fn datasets_dir() -> PathBuf {
    match std::env::var_os("LAMINA_DATASETS") {
        // A program moved away from its checkout (a GPU machine without Rust) is pointed
        // at the data by the environment.
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets")),
    }
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

/// Where an example runs: the CPU, or CUDA device `i` (`--device cpu|cuda|cuda:N`, else
/// the environment variable `LAMINA_DEVICE`, else the CPU).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    #[default]
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        match s {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|i| i.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| format!("unknown device {s:?} (expected cpu, cuda or cuda:N)")),
        }
    }
}

impl DeviceChoice {
    /// `LAMINA_DEVICE` if set (an unknown value is an error naming it), else the CPU.
    pub fn from_env() -> std::result::Result<DeviceChoice, String> {
        match std::env::var("LAMINA_DEVICE") {
            Ok(v) if !v.trim().is_empty() => v.parse().map_err(|e| format!("LAMINA_DEVICE: {e}")),
            _ => Ok(DeviceChoice::Cpu),
        }
    }

    /// The device; CUDA in a build without the `cuda` feature, or without a GPU, is an
    /// error saying so.
    pub fn open(self) -> Result<lamina::Device> {
        use lamina::DeviceExt;
        match self {
            DeviceChoice::Cpu => Ok(lamina::Device::cpu()),
            #[cfg(feature = "cuda")]
            DeviceChoice::Cuda(i) => Ok(lamina::Device::cuda(i)?),
            #[cfg(not(feature = "cuda"))]
            DeviceChoice::Cuda(i) => Err(lamina::tensor::Error::DeviceUnavailable(format!(
                "cuda:{i}: this program was built without the `cuda` feature \
                 (cargo run --release --features cuda ...)"
            ))
            .into()),
        }
    }
}

/// CUDA device 0 for a test that needs a GPU, or `None` after printing
/// "skipped: no CUDA device" and why (built without the `cuda` feature, no driver, no GPU).
pub fn cuda_or_skip() -> Option<lamina::Device> {
    match DeviceChoice::Cuda(0).open() {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("skipped: no CUDA device ({e})");
            None
        }
    }
}

/// The device of a program whose only flag is `--device`: `--device cpu|cuda|cuda:N`
/// among `args`, else `LAMINA_DEVICE`, else the CPU; any other argument is an error
/// naming it and `usage`.
pub fn device_only_args(
    args: impl IntoIterator<Item = String>,
    usage: &str,
) -> std::result::Result<DeviceChoice, String> {
    let mut device = DeviceChoice::from_env()?;
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--device" => device = parse_flag("--device", it.next())?,
            "-h" | "--help" => return Err(usage.into()),
            other => return Err(format!("unknown argument {other}\n{usage}")),
        }
    }
    Ok(device)
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

#[cfg(test)]
mod tests {
    use super::DeviceChoice;

    #[test]
    fn device_flags_parse_and_bad_ones_are_named() {
        assert_eq!("cpu".parse::<DeviceChoice>(), Ok(DeviceChoice::Cpu));
        assert_eq!("cuda".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda(0)));
        assert_eq!(
            " cuda:3 ".parse::<DeviceChoice>(),
            Ok(DeviceChoice::Cuda(3))
        );
        for bad in ["gpu", "cuda:", "cuda:-1", "CUDA"] {
            let e = bad.parse::<DeviceChoice>().unwrap_err();
            assert!(
                e.contains("unknown device") && e.contains(bad.trim()),
                "{e}"
            );
        }
        // The CPU always opens; CUDA without a GPU (or the feature) is a clean error.
        assert!(DeviceChoice::Cpu.open().is_ok());
        match DeviceChoice::Cuda(0).open() {
            Ok(d) => eprintln!("a CUDA device is present: {}", d.name()),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains("device unavailable"), "{msg}");
                eprintln!("skipped: no CUDA device ({msg})");
            }
        }
    }
}

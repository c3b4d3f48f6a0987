//! CPU-vs-CUDA agreement of every example's first steps: each example's network, data and
//! optimizer run for a short while from the same seed on the CPU and on CUDA device 0, and
//! the losses must agree. The weights, shuffles and dropout masks come from the host's
//! seeded streams on both devices, so the two runs differ only by the rounding of the
//! kernels (cuBLAS sums in another order): a relative tolerance of 1e-3 on epoch-mean
//! losses after tens of steps. Where there is no GPU (no `cuda` feature, no driver, no
//! device) each test prints "skipped: no CUDA device" and passes.
//!
//! Run on a GPU machine with `cargo test --release -p lamina-examples --features cuda
//! --test device_agreement` (`backend-cuda/gpu-check.sh` does).

use lamina::prelude::*;
use lamina::train::{History, Metric};
use lamina_examples::charlm::{train_char_model, CharConfig};
use lamina_examples::cv::{holdout, CvConfig, Scaling};
use lamina_examples::mnist::{train_mnist, Architecture, MnistConfig};
use lamina_examples::realdata::{cuda_or_skip, datasets_dir, DeviceChoice, Result};
use lamina_examples::seed::{keras_adam, train, SeedTask};

/// `a` (CPU) and `b` (CUDA) agree to `rel` relative (finite both).
fn agree(what: &str, a: f64, b: f64, rel: f64) {
    assert!(a.is_finite() && b.is_finite(), "{what}: cpu {a}, cuda {b}");
    assert!(
        (a - b).abs() <= rel * a.abs().max(1e-6),
        "{what}: cpu {a}, cuda {b} (relative {:.2e} > {rel:e})",
        (a - b).abs() / a.abs().max(1e-6)
    );
}

/// Every epoch's training and validation loss of the two runs agree.
fn histories_agree(what: &str, a: &History, b: &History) {
    assert_eq!(a.epochs.len(), b.epochs.len(), "{what}: epochs");
    for (x, y) in a.epochs.iter().zip(&b.epochs) {
        agree(
            &format!("{what} epoch {} train loss", x.epoch),
            x.train_loss,
            y.train_loss,
            1e-3,
        );
        if let (Some(vx), Some(vy)) = (x.val_loss, y.val_loss) {
            agree(&format!("{what} epoch {} val loss", x.epoch), vx, vy, 1e-3);
        }
    }
}

fn mnist(architecture: Architecture, dev: &Device) -> Result<lamina_examples::mnist::MnistReport> {
    let cfg = MnistConfig {
        architecture,
        epochs: 1,
        batch_size: 64,
        limit: Some(1200),
        test_limit: Some(500),
        workers: 0,
        verbose: false,
        ..Default::default()
    };
    train_mnist(&cfg, dev)
}

#[test]
fn mnist_mlp_first_steps_agree() -> Result<()> {
    let Some(g) = cuda_or_skip() else {
        return Ok(());
    };
    let (a, b) = (
        mnist(Architecture::Mlp, &Device::cpu())?,
        mnist(Architecture::Mlp, &g)?,
    );
    histories_agree("mnist_mlp", &a.history, &b.history);
    agree(
        "mnist_mlp test accuracy",
        a.test_accuracy(),
        b.test_accuracy(),
        0.01,
    );
    Ok(())
}

#[test]
fn mnist_cnn_first_steps_agree() -> Result<()> {
    let Some(g) = cuda_or_skip() else {
        return Ok(());
    };
    let (a, b) = (
        mnist(Architecture::Cnn, &Device::cpu())?,
        mnist(Architecture::Cnn, &g)?,
    );
    histories_agree("mnist_cnn", &a.history, &b.history);
    agree(
        "mnist_cnn test accuracy",
        a.test_accuracy(),
        b.test_accuracy(),
        0.01,
    );
    Ok(())
}

fn char_runs(cfg: CharConfig, what: &str) -> Result<()> {
    let Some(g) = cuda_or_skip() else {
        return Ok(());
    };
    let a = train_char_model(&cfg, &Device::cpu())?;
    let b = train_char_model(&cfg, &g)?;
    histories_agree(what, &a.history, &b.history);
    Ok(())
}

#[test]
fn char_lstm_first_steps_agree() -> Result<()> {
    char_runs(
        CharConfig {
            width: 32,
            hidden: 128,
            seq_len: 64,
            batch_size: 32,
            windows_per_epoch: 32 * 20,
            epochs: 1,
            val_limit: Some(64),
            sample_len: 0,
            verbose: false,
            ..CharConfig::lstm()
        },
        "char_lstm",
    )
}

#[test]
fn char_gpt_first_steps_agree() -> Result<()> {
    char_runs(
        CharConfig {
            width: 64,
            heads: 2,
            layers: 2,
            seq_len: 64,
            batch_size: 16,
            windows_per_epoch: 16 * 20,
            epochs: 1,
            dropout: 0.1,
            val_limit: Some(32),
            sample_len: 0,
            verbose: false,
            ..CharConfig::gpt()
        },
        "char_gpt",
    )
}

/// digits_cv's and tabular_cv's network and optimizer on one stratified hold-out split.
fn tabular(file: &str, cfg: CvConfig) -> Result<()> {
    let Some(g) = cuda_or_skip() else {
        return Ok(());
    };
    let table = lamina::data::tabular::read_csv(
        datasets_dir().join(file),
        &lamina::data::tabular::CsvOptions::default(),
    )?;
    let a = holdout(&table, 0.2, &cfg, &Device::cpu())?;
    let b = holdout(&table, 0.2, &cfg, &g)?;
    if let (Some(x), Some(y)) = (&a.history, &b.history) {
        histories_agree(file, x, y);
    }
    let acc = |r: &lamina::train::FoldReport| r.get(Metric::Accuracy).unwrap_or(f64::NAN);
    agree(&format!("{file} accuracy"), acc(&a), acc(&b), 0.02);
    Ok(())
}

fn cv(hidden: Vec<usize>, lr: f64, weight_decay: f64, scaling: Scaling) -> CvConfig {
    CvConfig {
        folds: 5,
        seed: 0,
        hidden,
        epochs: 5,
        lr,
        batch_size: 32,
        weight_decay,
        scaling,
        plot: None,
        verbose: false,
        device: DeviceChoice::Cpu,
    }
}

#[test]
fn digits_cv_first_steps_agree() -> Result<()> {
    tabular(
        "sklearn/digits.csv",
        cv(vec![128], 3e-3, 0.0, Scaling::Divide(16.0)),
    )
}

#[test]
fn tabular_cv_first_steps_agree() -> Result<()> {
    tabular(
        "sklearn/breast_cancer.csv",
        cv(Vec::new(), 1e-2, 2e-2, Scaling::Standardize),
    )
}

#[test]
fn seed_classifier_first_steps_agree() -> Result<()> {
    let Some(g) = cuda_or_skip() else {
        return Ok(());
    };
    let run = |dev: &Device| -> Result<Vec<f32>> {
        let task = SeedTask::new(42, 20, dev)?;
        let mut model = task.model(dev)?;
        let mut opt = keras_adam(1e-3)?;
        Ok(train(&task, &mut model, &mut opt, 20)?)
    };
    let (a, b) = (run(&Device::cpu())?, run(&g)?);
    for (e, (x, y)) in a.iter().zip(&b).enumerate() {
        agree(&format!("seed epoch {e} loss"), *x as f64, *y as f64, 1e-4);
    }
    Ok(())
}

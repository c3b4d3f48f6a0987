//! Stratified k-fold cross-validation of an MLP (or, with no hidden layer, logistic
//! regression) on a numeric table: the `digits_cv` and `tabular_cv` examples and the
//! digits half of `tests/realdata.rs`.
//!
//! The folds run through `lamina::train::CrossValidation`: each is a fresh model trained
//! for a fixed number of epochs by `lamina::train::Trainer`. The held-out fold is passed as the validation loader only
//! so that the curves show it; nothing is chosen by it (no early stopping, no best-epoch
//! restore), so each fold's score is an honest estimate. Feature scaling that is fitted
//! (standardisation) is fitted on the training rows of each fold alone and then applied
//! to both parts: fitting it on all rows would leak the held-out fold's statistics into
//! training.

use std::path::PathBuf;

use lamina::data::split::{train_test_split, Fold, StratifiedKFold};
use lamina::data::{LoaderConfig, Table};
use lamina::nn::{cross_entropy, Mlp, Reduction, Sequential};
use lamina::optim::{Adam, AdamConfig, CosineAnnealingLR};
use lamina::prelude::*;
use lamina::train::{
    plot_history, CrossValidation, CvReport, FitConfig, FoldReport, FoldSetup, Metric, Preprocess,
    DEFAULT_PLOT_SIZE,
};

use crate::realdata::{parse_flag, parse_widths, DeviceChoice, Result};

/// How features are scaled before training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scaling {
    /// Divide by a constant known in advance (16 for the digits' 0..16 pixel counts):
    /// nothing is fitted, so nothing can leak.
    Divide(f64),
    /// `(x - mean) / std` per column, fitted on the training rows only.
    Standardize,
}

/// The settings of a cross-validation run.
#[derive(Clone, Debug)]
pub struct CvConfig {
    /// Number of folds.
    pub folds: usize,
    /// Seeds the fold assignment, the weights and the shuffles.
    pub seed: u64,
    /// Hidden layer widths; empty gives logistic regression.
    pub hidden: Vec<usize>,
    /// Epochs per fold (fixed: nothing is selected on the held-out rows).
    pub epochs: usize,
    /// Adam's initial learning rate, decayed along a cosine to 1 % of it.
    pub lr: f64,
    /// Training samples per step.
    pub batch_size: usize,
    /// Adam's L2 penalty `λ` (`g ← g + λ p`), 0 for none.
    pub weight_decay: f64,
    /// How the features are scaled.
    pub scaling: Scaling,
    /// Draw the first fold's curves here.
    pub plot: Option<PathBuf>,
    /// Print the Trainer's per-epoch lines (otherwise one line per fold).
    pub verbose: bool,
    /// Where to train (`--device`, else `LAMINA_DEVICE`, else the CPU).
    pub device: DeviceChoice,
}

/// The command line of a CV example: `defaults` and `data` (the CSV file) changed by the
/// flags `--folds --epochs --lr --batch-size --weight-decay --hidden --seed --plot --data
/// --verbose --device` (`LAMINA_DEVICE` when `--device` is absent); `usage` is the message
/// for `--help` and for an unknown flag.
pub fn parse_cv_args(
    mut cv: CvConfig,
    mut data: PathBuf,
    usage: &str,
    args: impl IntoIterator<Item = String>,
) -> std::result::Result<(CvConfig, PathBuf), String> {
    cv.device = DeviceChoice::from_env()?;
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let f = flag.as_str();
        match f {
            "--device" => cv.device = parse_flag(f, it.next())?,
            "--folds" => cv.folds = parse_flag(f, it.next())?,
            "--epochs" => cv.epochs = parse_flag(f, it.next())?,
            "--lr" => cv.lr = parse_flag(f, it.next())?,
            "--batch-size" => cv.batch_size = parse_flag(f, it.next())?,
            "--weight-decay" => cv.weight_decay = parse_flag(f, it.next())?,
            "--hidden" => cv.hidden = parse_widths(f, it.next())?,
            "--seed" => cv.seed = parse_flag(f, it.next())?,
            "--plot" => cv.plot = Some(parse_flag(f, it.next())?),
            "--data" => data = parse_flag(f, it.next())?,
            "--verbose" => cv.verbose = true,
            "-h" | "--help" => return Err(usage.into()),
            other => return Err(format!("unknown argument {other}\n{usage}")),
        }
    }
    if cv.epochs == 0 || cv.batch_size == 0 || !(cv.lr > 0.0 && cv.lr.is_finite()) {
        return Err("--epochs and --batch-size must be positive, --lr a positive number".into());
    }
    Ok((cv, data))
}

/// The metrics the CV examples report: accuracy and macro F1, and ROC-AUC for two
/// classes.
fn metrics(num_classes: usize) -> Vec<Metric> {
    let mut m = vec![Metric::Accuracy, Metric::F1Macro];
    if num_classes == 2 {
        m.push(Metric::RocAuc);
    }
    m
}

/// Stratified `cfg.folds`-fold cross-validation of `table` (features and class labels)
/// with `lamina::train::CrossValidation`. `on_fold(report)` is called after each fold,
/// for progress lines.
pub fn cross_validate(
    table: &Table,
    cfg: &CvConfig,
    dev: &Device,
    on_fold: impl FnMut(&FoldReport),
) -> Result<CvReport> {
    let labels = table.class_labels()?;
    let folds = StratifiedKFold::new(cfg.folds, true, cfg.seed).split(&labels)?;
    let report = run(table, folds, cfg, dev, on_fold)?;
    // One drawing at the end rather than one per epoch (`FitConfig::plot_png`).
    if let (Some(path), Some(h)) = (
        &cfg.plot,
        report.folds.first().and_then(|f| f.history.as_ref()),
    ) {
        plot_history(h, path, DEFAULT_PLOT_SIZE)?;
    }
    Ok(report)
}

/// One stratified train/test split (`test_fraction` of the rows held out), trained and
/// scored as a fold is.
pub fn holdout(
    table: &Table,
    test_fraction: f64,
    cfg: &CvConfig,
    dev: &Device,
) -> Result<FoldReport> {
    let labels = table.class_labels()?;
    let (train, val) = train_test_split(labels.len(), test_fraction, cfg.seed, Some(&labels))?;
    let mut report = run(table, vec![Fold { train, val }], cfg, dev, |_| {})?;
    if let (Some(path), Some(h)) = (&cfg.plot, report.folds[0].history.as_ref()) {
        plot_history(h, path, DEFAULT_PLOT_SIZE)?;
    }
    Ok(report.folds.swap_remove(0))
}

/// Trains a fresh model on each fold's training rows and scores it on its held-out rows.
fn run(
    table: &Table,
    folds: Vec<Fold>,
    cfg: &CvConfig,
    dev: &Device,
    on_fold: impl FnMut(&FoldReport),
) -> Result<CvReport> {
    // One count per class index up to the largest label (bounded by `MAX_CLASSES`).
    let num_classes = table.class_counts()?.len();
    // Features in f64, cast to f32 for training after any fitted scaling: the scaler's
    // statistics come from the file's values, not from their f32 roundings.
    let mut x = table.features_tensor(DType::F64, dev)?;
    let mut cv = CrossValidation::new(folds, &metrics(num_classes))
        .dtype(DType::F32)
        .verbose(cfg.verbose)
        .on_fold(on_fold);
    match cfg.scaling {
        // Nothing is fitted, so dividing every row first leaks nothing.
        Scaling::Divide(d) => x = x.div_scalar(d)?,
        // Fitted on each fold's training rows only: no held-out statistics leak in.
        Scaling::Standardize => cv = cv.preprocess(Preprocess::StandardScaler),
    }
    let y = table.class_labels_tensor(dev)?;
    let sizes: Vec<usize> = std::iter::once(table.cols)
        .chain(cfg.hidden.iter().copied())
        .chain(std::iter::once(num_classes))
        .collect();
    // Fixed epochs and no early stopping: the held-out rows are only measured.
    let config = FitConfig {
        epochs: cfg.epochs,
        progress: false,
        verbose: cfg.verbose,
        ..Default::default()
    };
    let build = |fold: usize| -> lamina::train::Result<FoldSetup<Sequential>> {
        let seed = cfg.seed.wrapping_add(1000 * (fold as u64 + 1));
        Ok(FoldSetup {
            model: Mlp::builder(&sizes).seed(seed).build(dev)?,
            optimizer: Box::new(Adam::new(AdamConfig {
                lr: cfg.lr,
                weight_decay: cfg.weight_decay,
                ..Default::default()
            })?),
            schedule: Some(CosineAnnealingLR::new(cfg.lr, cfg.epochs, cfg.lr / 100.0)?.into()),
            loader: LoaderConfig {
                batch_size: cfg.batch_size,
                shuffle: true,
                seed: Some(seed),
                ..Default::default()
            },
        })
    };
    Ok(cv.cross_validate(&x, &y, &config, build, |out, y| {
        cross_entropy(out, y, Reduction::Mean)
    })?)
}

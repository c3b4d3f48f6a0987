//! Stratified k-fold cross-validation of an MLP (or, with no hidden layer, logistic
//! regression) on a numeric table: the `digits_cv` and `tabular_cv` examples and the
//! digits half of `tests/realdata.rs`.
//!
//! Each fold is a fresh model trained for a fixed number of epochs through
//! `lamina::train::Trainer`. The held-out fold is passed as the validation loader only
//! so that the curves show it; nothing is chosen by it (no early stopping, no best-epoch
//! restore), so each fold's score is an honest estimate. Feature scaling that is fitted
//! (standardisation) is fitted on the training rows of each fold alone and then applied
//! to both parts: fitting it on all rows would leak the held-out fold's statistics into
//! training.

use std::path::PathBuf;
use std::sync::Arc;

use lamina::data::metrics::{argmax_rows, roc_auc, ConfusionMatrix, MeanStd};
use lamina::data::split::{train_test_split, StratifiedKFold};
use lamina::data::transform::StandardScaler;
use lamina::data::{DataLoader, LoaderConfig, Table, TensorDataset};
use lamina::nn::{cross_entropy, Reduction};
use lamina::optim::{Adam, AdamConfig, CosineAnnealingLR};
use lamina::prelude::*;
use lamina::train::{plot_history, FitConfig, History, Trainer, DEFAULT_PLOT_SIZE};

use crate::realdata::{mlp, parse_flag, parse_widths, predict, Result};

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
}

/// The command line of a CV example: `defaults` and `data` (the CSV file) changed by the
/// flags `--folds --epochs --lr --batch-size --weight-decay --hidden --seed --plot --data
/// --verbose`; `usage` is the message for `--help` and for an unknown flag.
pub fn parse_cv_args(
    mut cv: CvConfig,
    mut data: PathBuf,
    usage: &str,
    args: impl IntoIterator<Item = String>,
) -> std::result::Result<(CvConfig, PathBuf), String> {
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let f = flag.as_str();
        match f {
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

/// The score of one fold's model on its held-out rows.
pub struct FoldReport {
    /// Fraction of held-out rows classified correctly.
    pub accuracy: f64,
    /// F1 averaged over the classes.
    pub macro_f1: f64,
    /// ROC-AUC of the positive class's probability, for two classes.
    pub roc_auc: Option<f64>,
    /// The fold's per-epoch record (its held-out rows as "validation").
    pub history: History,
    /// Wall time of the fold's training.
    pub seconds: f64,
}

/// Every fold's report.
pub struct CvReport {
    pub folds: Vec<FoldReport>,
}

impl CvReport {
    /// Mean ± std of the fold accuracies.
    pub fn accuracy(&self) -> MeanStd {
        MeanStd::of(&self.folds.iter().map(|f| f.accuracy).collect::<Vec<_>>())
    }

    /// Mean ± std of the fold macro F1 scores.
    pub fn macro_f1(&self) -> MeanStd {
        MeanStd::of(&self.folds.iter().map(|f| f.macro_f1).collect::<Vec<_>>())
    }

    /// Mean ± std of the fold ROC-AUCs (binary tasks only).
    pub fn roc_auc(&self) -> Option<MeanStd> {
        let aucs: Option<Vec<f64>> = self.folds.iter().map(|f| f.roc_auc).collect();
        aucs.map(|a| MeanStd::of(&a))
    }
}

/// The classes of `table`'s labels: `(labels, number of classes)`. `class_labels` refuses
/// a label of `MAX_CLASSES` or more, so the model's output layer and the confusion matrix
/// sized from it stay bounded.
fn classes(table: &Table) -> Result<(Vec<usize>, usize)> {
    let labels = table.class_labels()?;
    let k = labels.iter().max().map_or(0, |&m| m + 1);
    Ok((labels, k))
}

/// Stratified `cfg.folds`-fold cross-validation of `table` (features and class labels).
/// `on_fold(i, report)` is called after each fold, for progress lines.
pub fn cross_validate(
    table: &Table,
    cfg: &CvConfig,
    dev: &Device,
    mut on_fold: impl FnMut(usize, &FoldReport),
) -> Result<CvReport> {
    let (labels, _) = classes(table)?;
    let folds = StratifiedKFold::new(cfg.folds, true, cfg.seed).split(&labels)?;
    let mut reports = Vec::with_capacity(folds.len());
    for (i, fold) in folds.iter().enumerate() {
        let plot = if i == 0 { cfg.plot.as_ref() } else { None };
        let report = train_and_score(table, &fold.train, &fold.val, cfg, i as u64, plot, dev)?;
        on_fold(i, &report);
        reports.push(report);
    }
    Ok(CvReport { folds: reports })
}

/// One stratified train/test split (`test_fraction` of the rows held out), trained and
/// scored as a fold is.
pub fn holdout(
    table: &Table,
    test_fraction: f64,
    cfg: &CvConfig,
    dev: &Device,
) -> Result<FoldReport> {
    let (labels, _) = classes(table)?;
    let (train, test) = train_test_split(labels.len(), test_fraction, cfg.seed, Some(&labels))?;
    train_and_score(table, &train, &test, cfg, 0, cfg.plot.as_ref(), dev)
}

/// Trains a fresh model on rows `train` and scores it on rows `test`.
fn train_and_score(
    table: &Table,
    train: &[usize],
    test: &[usize],
    cfg: &CvConfig,
    fold: u64,
    plot: Option<&PathBuf>,
    dev: &Device,
) -> Result<FoldReport> {
    let (_, num_classes) = classes(table)?;
    let (train_t, test_t) = (table.select_rows(train)?, table.select_rows(test)?);
    let (mut x_train, mut x_test) = (
        train_t.features_tensor(DType::F32, dev)?,
        test_t.features_tensor(DType::F32, dev)?,
    );
    match cfg.scaling {
        Scaling::Divide(d) => {
            x_train = x_train.div_scalar(d)?;
            x_test = x_test.div_scalar(d)?;
        }
        Scaling::Standardize => {
            // Fitted on this fold's training rows only: no held-out statistics leak in.
            let s = StandardScaler::fit_rows(&train_t.features, train_t.cols)?;
            x_train = s.transform(&x_train)?;
            x_test = s.transform(&x_test)?;
        }
    }
    let (y_train, y_test) = (
        train_t.class_labels_tensor(dev)?,
        test_t.class_labels_tensor(dev)?,
    );
    let seed = cfg.seed.wrapping_add(1000 * (fold + 1));
    let loader = |x: &Tensor, y: &Tensor, shuffle: bool| -> Result<DataLoader> {
        let data = Arc::new(TensorDataset::new(x.clone(), y.clone())?);
        Ok(DataLoader::new(
            data,
            LoaderConfig {
                batch_size: if shuffle { cfg.batch_size } else { 1024 },
                shuffle,
                seed,
                ..Default::default()
            },
        )?)
    };
    let train_loader = loader(&x_train, &y_train, true)?;
    let test_loader = loader(&x_test, &y_test, false)?;

    let sizes: Vec<usize> = std::iter::once(table.cols)
        .chain(cfg.hidden.iter().copied())
        .chain(std::iter::once(num_classes))
        .collect();
    let mut model = mlp(&sizes, seed, dev)?;
    let mut opt = Adam::new(AdamConfig {
        lr: cfg.lr,
        weight_decay: cfg.weight_decay,
        ..Default::default()
    })?;
    // Fixed epochs and no early stopping: the held-out rows are only measured.
    let config = FitConfig {
        epochs: cfg.epochs,
        progress: false,
        verbose: cfg.verbose,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let schedule = CosineAnnealingLR::new(cfg.lr, cfg.epochs, cfg.lr / 100.0)?;
    let history = Trainer::new(config).with_schedule(schedule).fit(
        &mut model,
        &mut opt,
        &train_loader,
        Some(&test_loader),
        |out, y| cross_entropy(out, y, Reduction::Mean),
    )?;
    let seconds = started.elapsed().as_secs_f64();
    // One drawing at the end rather than one per epoch (`FitConfig::plot_png`).
    if let Some(path) = plot {
        plot_history(&history, path, DEFAULT_PLOT_SIZE)?;
    }

    let logits = predict(&mut model, &x_test, 1024)?;
    let truth = test_t.class_labels()?;
    let cm = ConfusionMatrix::new(&argmax_rows(&logits)?, &truth, num_classes)?;
    let roc_auc = if num_classes == 2 {
        let p1 = logits.softmax(-1)?.narrow(1, 1, 1)?.to_f64_vec()?;
        let positive: Vec<bool> = truth.iter().map(|&c| c == 1).collect();
        Some(roc_auc(&p1, &positive)?)
    } else {
        None
    };
    Ok(FoldReport {
        accuracy: cm.accuracy(),
        macro_f1: cm.macro_f1(),
        roc_auc,
        history,
        seconds,
    })
}

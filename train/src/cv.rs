//! [`CrossValidation`]: k-fold scores of a model, per fold and as mean ± std, without
//! leakage (scikit-learn's `cross_validate` with a `Pipeline`).
//!
//! The folds are given (from `lamina_data::split::KFold` or `StratifiedKFold`), and for
//! each one:
//!
//! 1. the rows are split into the fold's training and held-out parts;
//! 2. each [`Preprocess`] step is fitted on the training rows only and applied to both
//!    parts, so no statistic of the held-out rows reaches training;
//! 3. a model is fitted and predicts the held-out rows — by the user's
//!    `fit_and_predict` closure ([`cross_validate_with`](CrossValidation::cross_validate_with),
//!    the generic core, which also serves closed-form models), or by [`Trainer`] with a
//!    model and optimizer the user's closure builds fresh for the fold
//!    ([`cross_validate`](CrossValidation::cross_validate));
//! 4. the held-out predictions are scored by every requested [`Metric`].

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use lamina_data::metrics::MeanStd;
use lamina_data::split::Fold;
use lamina_data::transform::{ImputeStrategy, Imputer, MinMaxScaler, StandardScaler};
use lamina_data::{DataLoader, LoaderConfig, TensorDataset};
use lamina_nn::Module;
use lamina_optim::Optimizer;
use lamina_tensor::{DType, Tensor};

use crate::error::{Error, Result};
use crate::fit::{FitConfig, Trainer};
use crate::history::History;
use crate::metric::{score, Metric};
use crate::predict::predict;
use crate::schedule::LrSchedule;

/// A preprocessing step fitted on each fold's training rows (a step of scikit-learn's
/// `Pipeline`). Steps run in order, each fitted on the output of the one before.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Preprocess {
    /// [`StandardScaler`]: zero mean, unit variance per column.
    StandardScaler,
    /// [`MinMaxScaler`] onto `[0, 1]`.
    MinMaxScaler,
    /// [`Imputer`]: NaN filled per column.
    Impute(ImputeStrategy),
}

/// A [`Preprocess`] step fitted on one fold's training rows.
enum Fitted {
    Standard(StandardScaler),
    MinMax(MinMaxScaler),
    Impute(Imputer),
}

impl Preprocess {
    /// Fits on `train` `[N, F]`, read in `f64` whatever its dtype.
    fn fit(self, train: &Tensor) -> Result<Fitted> {
        Ok(match self {
            Preprocess::StandardScaler => Fitted::Standard(StandardScaler::fit(train)?),
            Preprocess::MinMaxScaler => Fitted::MinMax(MinMaxScaler::fit(train)?),
            Preprocess::Impute(strategy) => Fitted::Impute(Imputer::fit(strategy, train)?),
        })
    }
}

impl Fitted {
    /// Applies the fitted step to `x`, in `x`'s dtype.
    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Fitted::Standard(s) => s.transform(x)?,
            Fitted::MinMax(s) => s.transform(x)?,
            Fitted::Impute(s) => s.transform(x)?,
        })
    }
}

/// One fold's data, preprocessed, as the `fit_and_predict` closure of
/// [`CrossValidation::cross_validate_with`] receives it.
#[derive(Clone, Debug)]
pub struct FoldData {
    /// The 0-based fold.
    pub fold: usize,
    /// The training rows' features.
    pub x_train: Tensor,
    /// The training rows' targets.
    pub y_train: Tensor,
    /// The held-out rows' features, preprocessed with what the training rows fitted.
    pub x_val: Tensor,
    /// The held-out rows' targets (what the predictions are scored against; given for
    /// monitoring, never to be trained on).
    pub y_val: Tensor,
}

/// What a fold scored.
#[derive(Clone, Debug, PartialEq)]
pub struct FoldReport {
    /// The 0-based fold.
    pub fold: usize,
    /// Training rows.
    pub train_size: usize,
    /// Held-out rows.
    pub val_size: usize,
    /// Every requested metric on the held-out rows, in the order asked.
    pub scores: Vec<(Metric, f64)>,
    /// The fold's per-epoch history, when it was trained by [`Trainer`] (its held-out
    /// rows as "validation" when [`CrossValidation::track_held_out`] is on).
    pub history: Option<History>,
    /// Wall-clock seconds of the fold's fit and prediction.
    pub seconds: f64,
}

impl FoldReport {
    /// The fold's value of `metric`, if it was requested.
    pub fn get(&self, metric: Metric) -> Option<f64> {
        self.scores
            .iter()
            .find(|(m, _)| *m == metric)
            .map(|&(_, v)| v)
    }
}

/// Every fold's scores.
#[derive(Clone, Debug, PartialEq)]
pub struct CvReport {
    /// The metrics, in the order asked.
    pub metrics: Vec<Metric>,
    /// One report per fold, in fold order.
    pub folds: Vec<FoldReport>,
}

impl CvReport {
    /// `metric`'s value in each fold (empty if it was not requested).
    pub fn scores(&self, metric: Metric) -> Vec<f64> {
        self.folds.iter().filter_map(|f| f.get(metric)).collect()
    }

    /// Mean ± population std (`np.std`, ddof 0) of `metric` over the folds; `None` if it
    /// was not requested.
    pub fn summary(&self, metric: Metric) -> Option<MeanStd> {
        self.metrics
            .contains(&metric)
            .then(|| MeanStd::of(&self.scores(metric)))
    }
}

impl fmt::Display for CvReport {
    /// One line per metric: `f1_macro: 0.9760 ± 0.0055 (0.9721, 0.9860, ...)`, 4 decimals
    /// unless the format asks for another precision.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = f.precision().unwrap_or(4);
        for (i, &m) in self.metrics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let folds: Vec<String> = self.scores(m).iter().map(|v| format!("{v:.p$}")).collect();
            let s = MeanStd::of(&self.scores(m));
            write!(f, "{m}: {s:.p$} ({})", folds.join(", "))?;
        }
        Ok(())
    }
}

/// What [`CrossValidation::cross_validate`]'s builder closure returns for a fold: a fresh
/// model and optimizer, an optional schedule, and the training loader's settings (batch
/// size, shuffle, seed).
pub struct FoldSetup<M> {
    /// The model, freshly initialised.
    pub model: M,
    /// Its optimizer, with fresh state.
    pub optimizer: Box<dyn Optimizer>,
    /// A learning-rate schedule, stepped per epoch.
    pub schedule: Option<LrSchedule>,
    /// The training loader's settings.
    pub loader: LoaderConfig,
}

type FoldCallback<'a> = Box<dyn FnMut(&FoldReport) + 'a>;

/// k-fold cross-validation: the folds, the metrics, the preprocessing, and how to report.
///
/// A closed-form model through the generic core — a nearest-centroid classifier on
/// standardised features, scored by accuracy over 2 stratified folds:
///
/// ```
/// use lamina_data::split::StratifiedKFold;
/// use lamina_tensor::Tensor;
/// use lamina_train::{CrossValidation, Metric, Preprocess};
///
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::from_vec(vec![0.0f64, 0.2, 0.1, 5.0, 5.2, 5.1, 0.3, 4.9], [8, 1], &dev)?;
/// let labels = [0, 0, 0, 1, 1, 1, 0, 1];
/// let y = Tensor::from_vec(labels.iter().map(|&c| c as i64).collect::<Vec<_>>(), [8], &dev)?;
/// let folds = StratifiedKFold::new(2, false, 0).split(&labels)?;
/// let report = CrossValidation::new(folds, &[Metric::Accuracy])
///     .preprocess(Preprocess::StandardScaler)
///     .cross_validate_with(&x, &y, |fold| {
///         // Class means of the training rows; predict the nearer one as [N, 2] scores.
///         let (xs, ys) = (fold.x_train.to_vec::<f64>()?, fold.y_train.to_vec::<i64>()?);
///         let mean = |c| {
///             let v: Vec<f64> = xs.iter().zip(&ys).filter(|(_, &y)| y == c).map(|(x, _)| *x).collect();
///             v.iter().sum::<f64>() / v.len() as f64
///         };
///         let (m0, m1) = (mean(0), mean(1));
///         let scores: Vec<f64> = fold.x_val.to_vec::<f64>()?.iter()
///             .flat_map(|v| [-(v - m0).abs(), -(v - m1).abs()]).collect();
///         Ok(Tensor::from_vec(scores, [fold.x_val.dims()[0], 2], fold.x_val.device())?)
///     })?;
/// assert_eq!(report.scores(Metric::Accuracy), [1.0, 1.0]);
/// assert_eq!(report.summary(Metric::Accuracy).map(|s| s.mean), Some(1.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CrossValidation<'a> {
    folds: Vec<Fold>,
    metrics: Vec<Metric>,
    preprocess: Vec<Preprocess>,
    dtype: Option<DType>,
    verbose: bool,
    track_held_out: bool,
    eval_batch_size: usize,
    on_fold: Option<FoldCallback<'a>>,
}

impl<'a> CrossValidation<'a> {
    /// Cross-validation over `folds` (each fold's `train` and `val` row indices, used in
    /// the order given), scoring `metrics` on each held-out part. No preprocessing, the
    /// data's own dtype, the Trainer's per-epoch lines off, the held-out rows tracked as
    /// validation, predictions 1024 rows at a time.
    pub fn new(folds: Vec<Fold>, metrics: &[Metric]) -> CrossValidation<'a> {
        CrossValidation {
            folds,
            metrics: metrics.to_vec(),
            preprocess: Vec::new(),
            dtype: None,
            verbose: false,
            track_held_out: true,
            eval_batch_size: 1024,
            on_fold: None,
        }
    }

    /// Adds a preprocessing step, fitted on each fold's training rows only.
    pub fn preprocess(mut self, step: Preprocess) -> CrossValidation<'a> {
        self.preprocess.push(step);
        self
    }

    /// Casts the features to `dtype` after fitting the preprocessing: give the features
    /// in `F64` and train in `F32`, and the statistics are fitted at full precision.
    pub fn dtype(mut self, dtype: DType) -> CrossValidation<'a> {
        self.dtype = Some(dtype);
        self
    }

    /// Lets the Trainer print its per-epoch lines and progress bars as `FitConfig` says
    /// (off by default, so that k folds of training do not flood the terminal).
    pub fn verbose(mut self, on: bool) -> CrossValidation<'a> {
        self.verbose = on;
        self
    }

    /// Whether [`cross_validate`](Self::cross_validate) passes the held-out rows to the
    /// Trainer as its validation loader, so each fold's history shows their loss and
    /// accuracy (on by default). Nothing may be selected on them: early stopping or a
    /// plateau schedule that watch a validation metric are then an error.
    pub fn track_held_out(mut self, on: bool) -> CrossValidation<'a> {
        self.track_held_out = on;
        self
    }

    /// Rows per batch when evaluating and predicting the held-out rows (default 1024).
    pub fn eval_batch_size(mut self, n: usize) -> CrossValidation<'a> {
        self.eval_batch_size = n;
        self
    }

    /// Calls `f` with each fold's report as soon as the fold is done (progress lines).
    pub fn on_fold(mut self, f: impl FnMut(&FoldReport) + 'a) -> CrossValidation<'a> {
        self.on_fold = Some(Box::new(f));
        self
    }

    /// The generic core: for each fold, `fit_and_predict` fits a model on the
    /// preprocessed training rows and returns its outputs for the held-out rows (class
    /// scores `[N, C]`, one logit per sample, or regression values), which are scored by
    /// every metric. `x` and `y` index samples along dim 0.
    pub fn cross_validate_with(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        mut fit_and_predict: impl FnMut(&FoldData) -> Result<Tensor>,
    ) -> Result<CvReport> {
        let n = match (x.dims().first(), y.dims().first()) {
            (Some(&a), Some(&b)) if a == b => a,
            _ => {
                return Err(Error::Config(format!(
                    "cross-validation: x {} and y {} need the same number of samples (dim 0)",
                    x.shape(),
                    y.shape()
                )))
            }
        };
        if self.folds.is_empty() {
            return Err(Error::Config("cross-validation: no folds".into()));
        }
        let mut folds = Vec::with_capacity(self.folds.len());
        for (i, fold) in self.folds.iter().enumerate() {
            let bad = fold.train.iter().chain(&fold.val).find(|&&r| r >= n);
            if let Some(r) = bad {
                return Err(Error::Config(format!(
                    "cross-validation: fold {i} names row {r}, but there are {n} rows"
                )));
            }
            if fold.train.is_empty() || fold.val.is_empty() {
                return Err(Error::Config(format!(
                    "cross-validation: fold {i} has an empty training or held-out part"
                )));
            }
            let started = Instant::now();
            let data = self.fold_data(i, fold, x, y)?;
            let outputs = fit_and_predict(&data)?;
            let scores = score(&self.metrics, &outputs, &data.y_val)?;
            let report = FoldReport {
                fold: i,
                train_size: fold.train.len(),
                val_size: fold.val.len(),
                scores,
                history: None,
                seconds: started.elapsed().as_secs_f64(),
            };
            if let Some(f) = &mut self.on_fold {
                f(&report);
            }
            folds.push(report);
        }
        Ok(CvReport {
            metrics: self.metrics.clone(),
            folds,
        })
    }

    /// Trains with [`Trainer`] on each fold: `build(fold)` makes a fresh model, optimizer
    /// and loader settings, `config` sets the epochs and the rest (its `metrics` are
    /// ignored: the folds are scored by this cross-validation's), and the model's
    /// outputs on the held-out rows are scored. Each fold's history is in its report.
    ///
    /// `config` may not write files (checkpoints, history, plot): every fold would
    /// overwrite them; draw a fold's [`History`] from the report instead.
    pub fn cross_validate<M: Module>(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        config: &FitConfig,
        mut build: impl FnMut(usize) -> Result<FoldSetup<M>>,
        loss: impl Fn(&Tensor, &Tensor) -> lamina_tensor::Result<Tensor>,
    ) -> Result<CvReport> {
        if config.checkpoint_dir.is_some()
            || config.history_csv.is_some()
            || config.plot_png.is_some()
        {
            return Err(Error::Config(
                "cross-validation: FitConfig may not name checkpoint_dir, history_csv or \
                 plot_png, which every fold would overwrite; each fold's history is in its \
                 FoldReport"
                    .into(),
            ));
        }
        let selects_on_val = config
            .early_stopping
            .as_ref()
            .map(|es| es.monitor)
            .into_iter()
            .chain(config.monitor.filter(|_| {
                config
                    .early_stopping
                    .as_ref()
                    .is_some_and(|es| es.restore_best_weights)
            }))
            .any(|m| m.needs_validation());
        if self.track_held_out && selects_on_val {
            return Err(Error::Config(
                "cross-validation: early stopping on a validation metric would select on the \
                 held-out rows; monitor a training metric, or hold out a validation split \
                 inside each fold"
                    .into(),
            ));
        }
        let mut fit = config.clone();
        fit.verbose &= self.verbose;
        fit.progress &= self.verbose;
        fit.metrics.clear();
        let (track, eval_batch) = (self.track_held_out, self.eval_batch_size.max(1));
        let mut histories = Vec::new();
        let mut report = self.cross_validate_with(x, y, |data| {
            let setup = build(data.fold)?;
            let FoldSetup {
                mut model,
                mut optimizer,
                schedule,
                loader,
            } = setup;
            if track
                && schedule
                    .as_ref()
                    .and_then(LrSchedule::monitor)
                    .is_some_and(|m| m.needs_validation())
            {
                return Err(Error::Config(
                    "cross-validation: a plateau schedule on a validation metric would select \
                     on the held-out rows"
                        .into(),
                ));
            }
            let seed = loader.seed;
            let train_set = Arc::new(TensorDataset::new(
                data.x_train.clone(),
                data.y_train.clone(),
            )?);
            let train = DataLoader::new(train_set, loader)?;
            let val = if track {
                let val_set = Arc::new(TensorDataset::new(data.x_val.clone(), data.y_val.clone())?);
                let config = LoaderConfig {
                    batch_size: eval_batch,
                    shuffle: false,
                    seed,
                    ..Default::default()
                };
                Some(DataLoader::new(val_set, config)?)
            } else {
                None
            };
            let mut trainer = Trainer::new(fit.clone());
            if let Some(s) = schedule {
                trainer = trainer.with_schedule(s);
            }
            let history = trainer.fit(&mut model, &mut *optimizer, &train, val.as_ref(), &loss)?;
            histories.push(history);
            predict(&mut model, &data.x_val, eval_batch)
        })?;
        for (fold, history) in report.folds.iter_mut().zip(histories) {
            fold.history = Some(history);
        }
        Ok(report)
    }

    /// Fold `i`'s rows, with the preprocessing fitted on its training rows.
    fn fold_data(&self, i: usize, fold: &Fold, x: &Tensor, y: &Tensor) -> Result<FoldData> {
        let rows = |idx: &[usize], t: &Tensor| -> Result<Tensor> {
            let ids: Vec<i64> = idx.iter().map(|&r| r as i64).collect();
            let ids = Tensor::from_vec(ids, [idx.len()], t.device())?;
            Ok(t.index_select(0, &ids)?)
        };
        let (mut fit_on, mut x_train, mut x_val) = (
            rows(&fold.train, x)?,
            rows(&fold.train, x)?,
            rows(&fold.val, x)?,
        );
        if let Some(d) = self.dtype {
            x_train = x_train.to_dtype(d)?;
            x_val = x_val.to_dtype(d)?;
        }
        // Each step is fitted on the training rows at the features' own precision (the
        // previous steps applied at that precision too), then applied to both parts in
        // the training dtype.
        for (k, step) in self.preprocess.iter().enumerate() {
            let fitted = step.fit(&fit_on)?;
            x_train = fitted.apply(&x_train)?;
            x_val = fitted.apply(&x_val)?;
            if k + 1 < self.preprocess.len() {
                fit_on = fitted.apply(&fit_on)?;
            }
        }
        Ok(FoldData {
            fold: i,
            x_train,
            y_train: rows(&fold.train, y)?,
            x_val,
            y_val: rows(&fold.val, y)?,
        })
    }
}

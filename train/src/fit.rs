//! [`Trainer`] and [`FitConfig`]: the training loop.
//!
//! One epoch: every batch of `train.epoch(e)` — forward on a fresh tape, the user's
//! loss, backward, optional gradient clipping, `optimizer.step` — then, with a
//! validation loader, one pass over it in evaluation mode with no tape. The epoch's
//! [`EpochRecord`] then drives, in order: the best-epoch bookkeeping, early stopping, the
//! learning-rate schedule, the checkpoints (`best`, then `last` as the final commit), the
//! history CSV and plot, and the summary line.
//!
//! Reproducibility: the loader's epoch `e` is a pure function of its seed and `e`; the
//! model (weights and random-stream positions, such as how many masks each `Dropout`
//! has drawn), optimizer, schedule and early-stopping state are all in the `last`
//! checkpoint; so [`Trainer::resume`] continues a run bit for bit as if it had never
//! stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lamina_autograd::{no_grad, Tape};
use lamina_data::DataLoader;
use lamina_nn::Module;
use lamina_optim::{clip_grad_norm, clip_grad_value, GradScaler, GradScalerConfig, Optimizer};
use lamina_tensor::{autocast, DType, Tensor};
use serde::{Deserialize, Serialize};

use crate::accuracy::Accuracy;
use crate::checkpoint::{BestState, Checkpoints, LoaderState, TrainState};
use crate::diagnose::non_finite;
use crate::early_stopping::{EarlyStopping, EarlyStoppingState, Monitor, Verdict};
use crate::error::{At, Context, Error, Phase, Result};
use crate::history::{EpochRecord, History};
use crate::metric::{score, Metric};
use crate::plot::{plot_history, DEFAULT_PLOT_SIZE};
use crate::predict::in_eval_mode;
use crate::progress::EpochBar;
use crate::schedule::LrSchedule;

/// The settings of a training run. Every field has a default (`FitConfig::default()`):
/// 10 epochs, accuracy on class scores, no further metrics, progress bar and summary
/// lines on, nothing written to disk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FitConfig {
    /// The total number of epochs (a resumed run counts the epochs already done).
    pub epochs: usize,
    /// Stop early when a metric stops improving (off by default).
    pub early_stopping: Option<EarlyStopping>,
    /// The metric that picks the best epoch (the `best` checkpoint, restored weights).
    /// `None`: the early-stopping monitor, else `val_loss` when there is a validation
    /// loader, else `train_loss`. Must agree with the early-stopping monitor if both
    /// are set.
    pub monitor: Option<Monitor>,
    /// Write the `last` checkpoint after every epoch and the `best` one on improvement
    /// into this directory (see [`Checkpoints`]).
    pub checkpoint_dir: Option<PathBuf>,
    /// Rewrite the history as CSV to this file after every epoch.
    pub history_csv: Option<PathBuf>,
    /// Redraw the loss/accuracy curves as a PNG to this file after every epoch.
    pub plot_png: Option<PathBuf>,
    /// The plot's size in pixels, width × height.
    pub plot_size: (u32, u32),
    /// Show a progress bar per epoch (only ever drawn when stderr is a terminal).
    pub progress: bool,
    /// Print a one-line summary of each epoch to stderr.
    pub verbose: bool,
    /// How to measure accuracy (default: argmax over `[N, C]` class scores).
    pub accuracy: Accuracy,
    /// Scale each step's gradients so their global 2-norm is at most this.
    pub clip_grad_norm: Option<f64>,
    /// Clamp each gradient element to `[-v, v]`.
    pub clip_grad_value: Option<f64>,
    /// The metrics [`Trainer::evaluate`] measures besides the loss and accuracy (and
    /// what [`CrossValidation`](crate::CrossValidation) scores each fold by). The
    /// per-epoch validation records keep to loss and accuracy.
    pub metrics: Vec<Metric>,
    /// Mixed precision: every forward pass and loss (training, validation, evaluation)
    /// under [`autocast`](lamina_tensor::autocast) to this dtype, parameters and
    /// optimizer state in f32. With [`Amp::F16`] the loss is also scaled dynamically
    /// ([`GradScaler`], PyTorch's defaults), gradients unscaled before clipping, and steps
    /// whose gradients hold an inf or NaN skipped. Off by default.
    pub amp: Option<Amp>,
}

/// The reduced-precision dtype of mixed-precision training ([`FitConfig::amp`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Amp {
    /// bfloat16: f32's range, so no loss scaling.
    Bf16,
    /// IEEE half: small gradients underflow without loss scaling, so it scales.
    F16,
}

impl Amp {
    /// The tensor dtype.
    pub fn dtype(self) -> DType {
        match self {
            Amp::Bf16 => DType::BF16,
            Amp::F16 => DType::F16,
        }
    }

    /// Parses `bf16` or `f16`, in any case (a command line's `--amp`).
    pub fn parse(s: &str) -> Option<Amp> {
        s.parse().ok()
    }
}

impl std::str::FromStr for Amp {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Amp, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bf16" => Ok(Amp::Bf16),
            "f16" => Ok(Amp::F16),
            other => Err(format!("mixed precision is bf16 or f16, not `{other}`")),
        }
    }
}

/// Runs `f` under autocast to `amp`'s dtype, or as it is.
fn amp_scope<R>(amp: Option<Amp>, f: impl FnOnce() -> R) -> R {
    match amp {
        Some(a) => autocast::autocast(a.dtype(), f).expect("Amp dtypes are half dtypes"),
        None => f(),
    }
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            epochs: 10,
            early_stopping: None,
            monitor: None,
            checkpoint_dir: None,
            history_csv: None,
            plot_png: None,
            plot_size: DEFAULT_PLOT_SIZE,
            progress: true,
            verbose: true,
            accuracy: Accuracy::Classes,
            clip_grad_norm: None,
            clip_grad_value: None,
            metrics: Vec::new(),
            amp: None,
        }
    }
}

/// The loop's view of a loss closure: the batch's inputs, the model's output and the
/// targets to a one-element loss. [`Trainer::fit`]'s closures ignore the inputs;
/// [`Trainer::fit_distill`]'s run the teacher on them.
type LossFn<'l> = dyn Fn(&Tensor, &Tensor, &Tensor) -> lamina_tensor::Result<Tensor> + 'l;

/// The per-epoch callback of [`Trainer::on_epoch`].
type EpochCallback<'a> = Box<dyn FnMut(&EpochRecord) + 'a>;

/// What one pass over a loader measured ([`Trainer::evaluate`], and each epoch's
/// validation).
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The loss averaged over samples (each batch's loss weighted by its size).
    pub loss: f64,
    /// The fraction of samples classified right, when accuracy is on and applies.
    pub accuracy: Option<f64>,
    /// Every metric of [`FitConfig::metrics`], in that order, over the whole pass.
    pub metrics: Vec<(Metric, f64)>,
}

impl Evaluation {
    /// The value of `metric`, if it was measured.
    pub fn get(&self, metric: Metric) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(m, _)| *m == metric)
            .map(|&(_, v)| v)
    }
}

/// Runs training: [`fit`](Trainer::fit) from scratch or [`resume`](Trainer::resume) from
/// a checkpoint, with the settings of a [`FitConfig`], an optional [`LrSchedule`] and an
/// optional per-epoch callback.
///
/// A logistic-regression classifier on a 4-sample data set:
///
/// ```
/// use std::sync::Arc;
/// use lamina_data::{DataLoader, LoaderConfig, TensorDataset};
/// use lamina_nn::{cross_entropy, Linear, Reduction};
/// use lamina_optim::{Sgd, SgdConfig, StepLR};
/// use lamina_tensor::Tensor;
/// use lamina_train::{FitConfig, Trainer};
///
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::from_vec(vec![0.0f32, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0], [4, 2], &dev)?;
/// let y = Tensor::from_vec(vec![0i64, 0, 1, 1], [4], &dev)?; // the class is x0
/// let data = Arc::new(TensorDataset::new(x, y)?);
/// let loader = DataLoader::new(data, LoaderConfig { batch_size: 2, shuffle: true, ..Default::default() })?;
///
/// let mut model = Linear::builder(2, 2).seed(0).build(&dev)?;
/// let mut opt = Sgd::new(SgdConfig { lr: 0.5, ..Default::default() })?;
/// let config = FitConfig { epochs: 60, verbose: false, ..Default::default() };
/// let history = Trainer::new(config)
///     .with_schedule(StepLR::new(0.5, 30, 0.5)?)
///     .fit(&mut model, &mut opt, &loader, None, |out, y| cross_entropy(out, y, Reduction::Mean))?;
///
/// assert_eq!(history.len(), 60);
/// let last = history.last().unwrap();
/// assert!(last.train_loss < history.epochs[0].train_loss);
/// assert_eq!(last.train_acc, Some(1.0));
/// assert_eq!(last.lr, 0.25); // halved after 30 epochs
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Trainer<'a> {
    config: FitConfig,
    schedule: Option<LrSchedule>,
    on_epoch: Option<EpochCallback<'a>>,
    history: History,
    best: Option<BestState>,
}

impl<'a> Trainer<'a> {
    /// A trainer with `config`, no schedule and no callback.
    pub fn new(config: FitConfig) -> Trainer<'a> {
        Trainer {
            config,
            schedule: None,
            on_epoch: None,
            history: History::new(),
            best: None,
        }
    }

    /// Steps `schedule` after every epoch and sets the optimizer's learning rate from it
    /// (also before the first epoch, so a warm-up's first rate applies).
    pub fn with_schedule(mut self, schedule: impl Into<LrSchedule>) -> Trainer<'a> {
        self.schedule = Some(schedule.into());
        self
    }

    /// Calls `f` with each epoch's record when the epoch is done (after checkpoints), to
    /// log it elsewhere or print it in another format.
    pub fn on_epoch(mut self, f: impl FnMut(&EpochRecord) + 'a) -> Trainer<'a> {
        self.on_epoch = Some(Box::new(f));
        self
    }

    /// The settings.
    pub fn config(&self) -> &FitConfig {
        &self.config
    }

    /// The best epoch of the last [`fit`](Self::fit) or [`resume`](Self::resume) so far: the
    /// monitored metric, its best value and the 0-based epoch that reached it (the epoch
    /// whose weights early stopping restores). `None` before a run starts.
    pub fn best(&self) -> Option<&BestState> {
        self.best.as_ref()
    }

    /// The loss, accuracy and every metric of [`FitConfig::metrics`] of `model` over
    /// `loader`, measured as each epoch's validation is (evaluation mode, nothing
    /// recorded, accuracy as configured; the model is back in its mode afterwards): to
    /// score a test set after training. The metrics see the whole pass's outputs at
    /// once (ROC-AUC is not a mean over batches). Errors name the batch and the phase
    /// `evaluation`.
    pub fn evaluate<M: Module + ?Sized>(
        &self,
        model: &mut M,
        loader: &DataLoader,
        loss: impl Fn(&Tensor, &Tensor) -> lamina_tensor::Result<Tensor>,
    ) -> Result<Evaluation> {
        let pass = Pass {
            phase: Phase::Evaluation,
            epoch: 0,
            accuracy: self.config.accuracy,
            metrics: &self.config.metrics,
            amp: self.config.amp,
        };
        evaluate(model, loader, &|_, out, y| loss(out, y), pass)
    }

    /// The history of the last [`fit`](Self::fit) or [`resume`](Self::resume), as far as
    /// it got (also after an error).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Trains `model` from its current weights for `config.epochs` epochs over `train`,
    /// with `optimizer` and `loss(output, targets)` (a one-element tensor, normally a
    /// batch mean), evaluating on `val` after each epoch if given. Returns the history.
    ///
    /// With a checkpoint directory, its `last` and `best` checkpoints are overwritten as
    /// the run goes. When training ends and early stopping says so, the best epoch's
    /// weights are put back into the model.
    pub fn fit<M: Module + ?Sized>(
        &mut self,
        model: &mut M,
        optimizer: &mut dyn Optimizer,
        train: &DataLoader,
        val: Option<&DataLoader>,
        loss: impl Fn(&Tensor, &Tensor) -> lamina_tensor::Result<Tensor>,
    ) -> Result<History> {
        self.start(model, optimizer, train, val, &|_, out, y| loss(out, y))
    }

    /// Knowledge distillation: trains `student` as [`fit`](Self::fit) does, with a loss
    /// that also sees a frozen `teacher`'s outputs for the same batch,
    /// `loss(student_output, teacher_output, targets)` (for instance
    /// `lamina_nn::distillation_loss`). The teacher runs in evaluation mode with nothing
    /// recorded, so it gets no gradient and its weights, buffers and dropout streams stay
    /// as they are; it is put back in its mode afterwards. Validation scores the student
    /// by the same loss. Checkpoints are the student's; there is no `resume` for a
    /// distillation run.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use lamina_data::{DataLoader, LoaderConfig, TensorDataset};
    /// use lamina_nn::{distillation_loss, Linear};
    /// use lamina_optim::{Sgd, SgdConfig};
    /// use lamina_tensor::Tensor;
    /// use lamina_train::{FitConfig, Trainer};
    ///
    /// let dev = lamina_backend_cpu::device();
    /// let x = Tensor::from_vec(vec![0.0f32, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0], [4, 2], &dev)?;
    /// let y = Tensor::from_vec(vec![0i64, 0, 1, 1], [4], &dev)?;
    /// let loader = DataLoader::new(Arc::new(TensorDataset::new(x, y)?), LoaderConfig::default())?;
    /// let w = Tensor::from_vec(vec![-4.0f32, 0.0, 4.0, 0.0], [2, 2], &dev)?;
    /// let mut teacher = Linear::from_weights(w, None)?;
    /// let mut student = Linear::builder(2, 2).seed(0).build(&dev)?;
    /// let mut opt = Sgd::new(SgdConfig { lr: 0.5, ..Default::default() })?;
    /// let config = FitConfig { epochs: 50, verbose: false, progress: false, ..Default::default() };
    /// let history = Trainer::new(config).fit_distill(
    ///     &mut student, &mut teacher, &mut opt, &loader, None,
    ///     |s, t, y| distillation_loss(s, t, y, 2.0, 0.5),
    /// )?;
    /// assert_eq!(history.last().unwrap().train_acc, Some(1.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fit_distill<M: Module + ?Sized, T: Module + ?Sized>(
        &mut self,
        student: &mut M,
        teacher: &mut T,
        optimizer: &mut dyn Optimizer,
        train: &DataLoader,
        val: Option<&DataLoader>,
        loss: impl Fn(&Tensor, &Tensor, &Tensor) -> lamina_tensor::Result<Tensor>,
    ) -> Result<History> {
        // Not `in_eval_mode`: that also pauses the tape, which the student needs.
        let was_training = teacher.training_mode().unwrap_or(true);
        teacher.eval();
        let frozen = &*teacher;
        let with_teacher = |x: &Tensor, out: &Tensor, y: &Tensor| {
            let t = no_grad(|| frozen.forward(x))?;
            loss(out, &t, y)
        };
        let result = self.start(student, optimizer, train, val, &with_teacher);
        teacher.set_training(was_training);
        result
    }

    /// A fresh run of [`fit`](Self::fit) or [`fit_distill`](Self::fit_distill).
    fn start<M: Module + ?Sized>(
        &mut self,
        model: &mut M,
        optimizer: &mut dyn Optimizer,
        train: &DataLoader,
        val: Option<&DataLoader>,
        loss: &LossFn<'_>,
    ) -> Result<History> {
        let monitor = self.validate(train, val)?;
        if let Some(s) = &self.schedule {
            s.apply(optimizer);
        }
        let state = TrainState {
            epochs_done: 0,
            history: History::new(),
            schedule: self.schedule.clone(),
            early_stopping: self
                .config
                .early_stopping
                .as_ref()
                .map(|_| EarlyStoppingState::default()),
            best: BestState {
                monitor,
                value: None,
                epoch: None,
            },
            loader: LoaderState::of(train),
        };
        let ckpt = self.config.checkpoint_dir.as_ref().map(Checkpoints::new);
        self.run(model, optimizer, train, val, loss, ckpt, state)
    }

    /// Continues the run checkpointed in `dir` up to `config.epochs` epochs in total:
    /// loads the `last` checkpoint's weights into `model` and state into `optimizer`,
    /// takes its schedule, early-stopping state, best epoch and history, and trains on,
    /// writing checkpoints to `config.checkpoint_dir` (or `dir` when that is `None`).
    /// The result is bit-identical to a run that never stopped.
    ///
    /// `model` and `optimizer` must be built as for the original run (same
    /// architecture, optimizer kind and config, and dropout seeds, which are not
    /// checked), and `train` must have the same seed, batch size and data; any
    /// other mismatch is an error naming the checkpoint file. The schedule stored in the
    /// checkpoint replaces any set with [`with_schedule`](Self::with_schedule).
    pub fn resume<M: Module + ?Sized>(
        &mut self,
        dir: impl AsRef<Path>,
        model: &mut M,
        optimizer: &mut dyn Optimizer,
        train: &DataLoader,
        val: Option<&DataLoader>,
        loss: impl Fn(&Tensor, &Tensor) -> lamina_tensor::Result<Tensor>,
    ) -> Result<History> {
        let source = Checkpoints::new(dir.as_ref());
        let monitor = self.validate(train, val)?;
        let resume = Context::new(Phase::Resume, None, None);
        // Read and check everything before touching the model.
        let stored = source.read_last().at(resume)?;
        let here = LoaderState::of(train);
        if stored.loader != here {
            return Err(Error::checkpoint(
                source.last_path(),
                format!(
                    "it was written with the training loader {:?}, and is resumed with {:?}",
                    stored.loader, here
                ),
            ));
        }
        if stored.best.monitor != monitor {
            return Err(Error::checkpoint(
                source.last_path(),
                format!(
                    "the run picked its best epoch by `{}`, this configuration by `{}`",
                    stored.best.monitor.name(),
                    monitor.name()
                ),
            ));
        }
        if stored.early_stopping.is_some() != self.config.early_stopping.is_some() {
            return Err(Error::checkpoint(
                source.last_path(),
                "the run and this configuration disagree on whether early stopping is on",
            ));
        }
        let state = source.load_last(model, optimizer).at(resume)?;
        self.schedule.clone_from(&state.schedule);
        let ckpt = match &self.config.checkpoint_dir {
            Some(d) if d.as_path() != dir.as_ref() => {
                // A fork of the run: it starts with the run's best checkpoint.
                let dest = Checkpoints::new(d);
                source.copy_best_to(&dest).at(resume)?;
                dest
            }
            _ => source,
        };
        let loss = |_: &Tensor, out: &Tensor, y: &Tensor| loss(out, y);
        self.run(model, optimizer, train, val, &loss, Some(ckpt), state)
    }

    /// Checks the configuration against the loaders; returns the monitor that picks the
    /// best epoch.
    fn validate(&self, train: &DataLoader, val: Option<&DataLoader>) -> Result<Monitor> {
        let c = &self.config;
        let bad = |msg: String| Err(Error::Config(msg));
        if train.num_batches() == 0 {
            return bad("the training loader yields no batches (empty data set?)".into());
        }
        if val.is_some_and(|v| v.num_batches() == 0) {
            return bad("the validation loader yields no batches (empty data set?)".into());
        }
        for (name, v) in [
            ("clip_grad_norm", c.clip_grad_norm),
            ("clip_grad_value", c.clip_grad_value),
        ] {
            if let Some(v) = v {
                if !(v > 0.0 && v.is_finite()) {
                    return bad(format!("{name} must be finite and > 0, got {v}"));
                }
            }
        }
        let es_monitor = c.early_stopping.as_ref().map(|es| es.monitor);
        if let Some(es) = &c.early_stopping {
            if !(es.min_delta >= 0.0 && es.min_delta.is_finite()) {
                return bad(format!(
                    "early_stopping.min_delta must be finite and >= 0, got {}",
                    es.min_delta
                ));
            }
        }
        let monitor = match (c.monitor, es_monitor) {
            (Some(m), Some(e)) if m != e => {
                return bad(format!(
                    "monitor is `{}` but early_stopping.monitor is `{}`; they pick the same best epoch, so they must agree",
                    m.name(),
                    e.name()
                ))
            }
            (Some(m), _) | (None, Some(m)) => m,
            (None, None) if val.is_some() => Monitor::ValLoss,
            (None, None) => Monitor::TrainLoss,
        };
        let plateau = self.schedule.as_ref().and_then(LrSchedule::monitor);
        for m in [Some(monitor), plateau].into_iter().flatten() {
            if m.needs_validation() && val.is_none() {
                return bad(format!(
                    "`{}` is monitored but no validation loader was given",
                    m.name()
                ));
            }
            if m.needs_accuracy() && c.accuracy == Accuracy::Off {
                return bad(format!("`{}` is monitored but accuracy is off", m.name()));
            }
        }
        Ok(monitor)
    }

    #[allow(clippy::too_many_arguments)]
    fn run<M: Module + ?Sized>(
        &mut self,
        model: &mut M,
        optimizer: &mut dyn Optimizer,
        train: &DataLoader,
        val: Option<&DataLoader>,
        loss: &LossFn<'_>,
        ckpt: Option<Checkpoints>,
        mut state: TrainState,
    ) -> Result<History> {
        self.history = state.history.clone();
        self.best = Some(state.best.clone());
        let restore = self
            .config
            .early_stopping
            .as_ref()
            .is_some_and(|es| es.restore_best_weights);
        let min_delta = self
            .config
            .early_stopping
            .as_ref()
            .map_or(0.0, |es| es.min_delta);
        // Without a checkpoint directory the best weights are kept in memory.
        let mut best_in_memory: Option<HashMap<String, Tensor>> = None;
        let already_stopped = state
            .early_stopping
            .as_ref()
            .is_some_and(|s| s.stopped_epoch.is_some());

        if !already_stopped {
            model.train();
            // A resumed run starts the loss scale afresh (PyTorch saves it in the
            // scaler's state dict; here it regrows within a few hundred steps).
            let mut scaler = match self.config.amp {
                Some(Amp::F16) => Some(
                    GradScaler::new(GradScalerConfig::default())
                        .map_err(|e| Error::Config(e.to_string()))?,
                ),
                Some(Amp::Bf16) | None => None,
            };
            for epoch in state.epochs_done..self.config.epochs {
                let record = self.epoch(model, optimizer, train, val, loss, epoch, &mut scaler)?;
                let monitor = state.best.monitor;
                let value = monitor.value(&record).ok_or_else(|| {
                    Error::Config(format!(
                        "`{}` is monitored but epoch {epoch} did not measure it (accuracy \
                         applies to [N, C] class scores, or set Accuracy::Binary)",
                        monitor.name()
                    ))
                })?;
                let improved = monitor.improves(value, state.best.value, min_delta);
                if improved {
                    state.best.value = Some(value);
                    state.best.epoch = Some(epoch);
                    self.best = Some(state.best.clone());
                }
                let mut stop = false;
                if let (Some(rule), Some(es)) =
                    (&self.config.early_stopping, &mut state.early_stopping)
                {
                    stop = es.update(rule, epoch, value) == Verdict::Stop;
                }
                if let Some(s) = &mut state.schedule {
                    s.step(&record)
                        .at(Context::new(Phase::Schedule, Some(epoch), None))?;
                    s.apply(optimizer);
                }
                state.epochs_done = epoch + 1;
                state.history.epochs.push(record.clone());
                self.history.epochs.push(record.clone());

                let at = |phase| Context::new(phase, Some(epoch), None);
                match &ckpt {
                    Some(ck) => {
                        if improved {
                            ck.save_best(model, epoch, monitor, value)
                                .at(at(Phase::Checkpoint))?;
                        }
                        ck.save_last(model, optimizer, &state)
                            .at(at(Phase::Checkpoint))?;
                    }
                    None if improved && restore => {
                        // Parameters and buffers (BatchNorm's running statistics).
                        best_in_memory = Some(
                            no_grad(|| {
                                model
                                    .state_dict()
                                    .into_iter()
                                    .map(|(n, p)| Ok((n, p.copy()?)))
                                    .collect::<lamina_tensor::Result<HashMap<_, _>>>()
                            })
                            .at(at(Phase::Checkpoint))?,
                        );
                    }
                    None => {}
                }
                if let Some(path) = &self.config.history_csv {
                    state.history.write_csv(path).at(at(Phase::History))?;
                }
                if let Some(path) = &self.config.plot_png {
                    plot_history(&state.history, path, self.config.plot_size)
                        .at(at(Phase::Plot))?;
                }
                if self.config.verbose {
                    eprintln!("{}", record.summary(self.config.epochs));
                }
                if let Some(f) = &mut self.on_epoch {
                    f(&record);
                }
                if stop {
                    break;
                }
            }
        }

        if restore {
            let at = Context::new(Phase::Checkpoint, None, None);
            match (&ckpt, best_in_memory) {
                (Some(ck), _) => {
                    if ck.read_best().at(at)?.is_some() {
                        ck.load_best(model).at(at)?;
                    }
                }
                (None, Some(best)) => {
                    let mut result = Ok(());
                    let mut put = |name: String, p: &mut Tensor| {
                        if let (Some(b), Ok(())) = (best.get(&name), &result) {
                            result = p.assign(b);
                        }
                    };
                    model.visit_mut("", &mut |n, p| put(n, p));
                    model.visit_buffers_mut("", &mut |n, p| put(n, p));
                    result.at(at)?;
                }
                (None, None) => {}
            }
        }
        Ok(state.history)
    }

    /// Trains one epoch, then validates; returns its record.
    #[allow(clippy::too_many_arguments)]
    fn epoch<M: Module + ?Sized>(
        &self,
        model: &mut M,
        optimizer: &mut dyn Optimizer,
        train: &DataLoader,
        val: Option<&DataLoader>,
        loss: &LossFn<'_>,
        epoch: usize,
        scaler: &mut Option<GradScaler>,
    ) -> Result<EpochRecord> {
        let started = Instant::now();
        let lr = optimizer.learning_rate();
        let bar = EpochBar::new(
            self.config.progress,
            epoch,
            self.config.epochs,
            train.num_batches(),
            self.history.last(),
        );
        let accuracy = self.config.accuracy;
        let mut sums = Sums::new();
        for (b, batch) in train.epoch(epoch as u64).enumerate() {
            let at = Context::new(Phase::Training, Some(epoch), Some(b));
            let batch = batch.at(at)?;
            let n = batch.len();
            let tape = Tape::new();
            for p in model.parameters() {
                tape.watch(p);
            }
            let (output, l) = amp_scope(self.config.amp, || -> lamina_tensor::Result<_> {
                let output = model.forward(&batch.inputs)?;
                let l = loss(&batch.inputs, &output, &batch.targets)?;
                Ok((output, l))
            })
            .at(at)?;
            let value = scalar(&l).at(at)?;
            if !value.is_finite() {
                let why = non_finite(Phase::Training, epoch, b, &batch, model, &output, value);
                return Err(why.at(at)?);
            }
            let mut grads = match scaler.as_mut() {
                Some(s) => {
                    let mut g = tape.backward(&s.scale_loss(&l).at(at)?).at(at)?;
                    // Unscaled before clipping, so the limits apply to the true gradients.
                    s.unscale(&model.parameters(), &mut g).at(at)?;
                    g
                }
                None => tape.backward(&l).at(at)?,
            };
            if let Some(max) = self.config.clip_grad_value {
                clip_grad_value(&model.parameters(), &mut grads, max).at(at)?;
            }
            if let Some(max) = self.config.clip_grad_norm {
                clip_grad_norm(&model.parameters(), &mut grads, max, 2.0).at(at)?;
            }
            match scaler.as_mut() {
                Some(s) => {
                    // Skips the step when the unscaled gradients overflowed.
                    s.step(optimizer, &mut model.parameters_mut(), &mut grads)
                        .at(at)?;
                    s.update();
                }
                None => optimizer.step(&mut model.parameters_mut(), &grads).at(at)?,
            }
            let correct = accuracy.correct(&output, &batch.targets).at(at)?;
            sums.add(n, value, correct);
            bar.batch_done(sums.mean_loss(), sums.accuracy());
        }
        let trained = sums.finish();
        let validated = match val {
            Some(v) => {
                let pass = Pass {
                    phase: Phase::Validation,
                    epoch,
                    accuracy,
                    metrics: &[],
                    amp: self.config.amp,
                };
                Some(evaluate(model, v, loss, pass)?)
            }
            None => None,
        };
        bar.finish();
        Ok(EpochRecord {
            epoch,
            train_loss: trained.loss,
            train_acc: trained.accuracy,
            val_loss: validated.as_ref().map(|p| p.loss),
            val_acc: validated.and_then(|p| p.accuracy),
            lr,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// What an [`evaluate`] pass is and measures.
struct Pass<'m> {
    phase: Phase,
    epoch: usize,
    accuracy: Accuracy,
    metrics: &'m [Metric],
    /// The forward passes and losses run under this autocast.
    amp: Option<Amp>,
}

/// One pass over `loader` (its epoch `pass.epoch`) in evaluation mode with nothing
/// recorded; the model goes back to its mode afterwards, also on error. Errors carry
/// the epoch (for validation), the batch and the phase.
fn evaluate<M: Module + ?Sized>(
    model: &mut M,
    loader: &DataLoader,
    loss: &LossFn<'_>,
    pass: Pass<'_>,
) -> Result<Evaluation> {
    let epoch = (pass.phase != Phase::Evaluation).then_some(pass.epoch);
    in_eval_mode(model, |model| {
        let mut sums = Sums::new();
        // The metrics need the whole pass; kept only when asked for.
        let (mut outputs, mut targets) = (Vec::new(), Vec::new());
        for (b, batch) in loader.epoch(pass.epoch as u64).enumerate() {
            let at = Context::new(pass.phase, epoch, Some(b));
            let batch = batch.at(at)?;
            let (output, l) = amp_scope(pass.amp, || -> lamina_tensor::Result<_> {
                let output = model.forward(&batch.inputs)?;
                let l = loss(&batch.inputs, &output, &batch.targets)?;
                Ok((output, l))
            })
            .at(at)?;
            let value = scalar(&l).at(at)?;
            if !value.is_finite() {
                let why = non_finite(pass.phase, pass.epoch, b, &batch, model, &output, value);
                return Err(why.at(at)?);
            }
            let correct = pass.accuracy.correct(&output, &batch.targets).at(at)?;
            sums.add(batch.len(), value, correct);
            if !pass.metrics.is_empty() {
                outputs.push(output);
                targets.push(batch.targets);
            }
        }
        let mut result = sums.finish();
        if !outputs.is_empty() {
            let at = Context::new(pass.phase, epoch, None);
            let cat = |parts: &[Tensor]| Tensor::cat(&parts.iter().collect::<Vec<_>>(), 0);
            let (o, t) = (cat(&outputs).at(at)?, cat(&targets).at(at)?);
            result.metrics = score(pass.metrics, &o, &t).at(at)?;
        }
        Ok(result)
    })
}

/// The value of a one-element loss tensor.
fn scalar(loss: &Tensor) -> Result<f64> {
    if loss.elem_count() != 1 {
        return Err(Error::Config(format!(
            "the loss closure must return one element (a mean or sum over the batch), got shape {}",
            loss.shape()
        )));
    }
    Ok(loss.to_f64_vec()?[0])
}

/// Running sums over an epoch's batches: the loss weighted by batch size, and the
/// correct predictions (`None` as soon as one batch could not be scored).
struct Sums {
    samples: usize,
    weighted_loss: f64,
    correct: Option<usize>,
}

impl Sums {
    fn new() -> Sums {
        Sums {
            samples: 0,
            weighted_loss: 0.0,
            correct: Some(0),
        }
    }

    fn add(&mut self, n: usize, loss: f64, correct: Option<usize>) {
        self.samples += n;
        self.weighted_loss += loss * n as f64;
        self.correct = self.correct.zip(correct).map(|(a, b)| a + b);
    }

    fn mean_loss(&self) -> f64 {
        self.weighted_loss / self.samples.max(1) as f64
    }

    fn accuracy(&self) -> Option<f64> {
        self.correct
            .filter(|_| self.samples > 0)
            .map(|c| c as f64 / self.samples as f64)
    }

    fn finish(&self) -> Evaluation {
        Evaluation {
            loss: self.mean_loss(),
            accuracy: self.accuracy(),
            metrics: Vec::new(),
        }
    }
}

//! [`ReduceLROnPlateau`]: cut the learning rate when a monitored metric stops improving,
//! with PyTorch's semantics (mode, relative/absolute threshold, patience, cooldown,
//! `min_lr`, `eps`).

use lamina_tensor::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::Optimizer;

/// Whether the metric should go down (a loss) or up (an accuracy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlateauMode {
    Min,
    Max,
}

/// How `threshold` defines a significant improvement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThresholdMode {
    /// Better than `best (1 − threshold)` (min) or `best (1 + threshold)` (max).
    Rel,
    /// Better than `best − threshold` (min) or `best + threshold` (max).
    Abs,
}

/// [`ReduceLROnPlateau`]'s settings; the defaults are PyTorch's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReduceLROnPlateauConfig {
    /// Whether lower (`min`) or higher (`max`) is better.
    pub mode: PlateauMode,
    /// Multiplier applied on a plateau, `< 1`.
    pub factor: f64,
    /// Epochs without improvement tolerated before cutting.
    pub patience: usize,
    /// The least improvement that counts, relative or absolute per `threshold_mode`.
    pub threshold: f64,
    pub threshold_mode: ThresholdMode,
    /// Epochs to wait after a cut before counting bad epochs again.
    pub cooldown: usize,
    /// The rate never goes below this.
    pub min_lr: f64,
    /// A cut smaller than this is skipped.
    pub eps: f64,
}

impl Default for ReduceLROnPlateauConfig {
    fn default() -> Self {
        ReduceLROnPlateauConfig {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
        }
    }
}

/// Multiplies the rate by `factor` once the metric has not improved for more than
/// `patience` epochs (PyTorch `ReduceLROnPlateau`): on a plateau,
/// `η ← max(η · factor, min_lr)`, skipped if that changes `η` by `eps` or less; then
/// `cooldown` epochs pass before bad epochs count again.
///
/// ```
/// use lamina_optim::{ReduceLROnPlateau, ReduceLROnPlateauConfig};
/// let config = ReduceLROnPlateauConfig { patience: 1, factor: 0.5, ..Default::default() };
/// let mut schedule = ReduceLROnPlateau::new(0.1, config)?;
/// for loss in [1.0, 0.9, 0.9, 0.9] {
///     schedule.step(loss);
/// }
/// assert_eq!(schedule.lr(), 0.05); // two epochs without improvement > patience 1
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReduceLROnPlateau {
    /// The settings; changing them between steps is allowed.
    pub config: ReduceLROnPlateauConfig,
    lr: f64,
    /// The best metric so far; `None` before the first step (PyTorch's `±inf`, which
    /// JSON cannot hold).
    best: Option<f64>,
    num_bad_epochs: usize,
    cooldown_counter: usize,
    epoch: usize,
}

impl ReduceLROnPlateau {
    /// Starts at `lr`; `factor` must be below 1, as PyTorch checks.
    pub fn new(lr: f64, config: ReduceLROnPlateauConfig) -> Result<ReduceLROnPlateau> {
        if config.factor.is_nan() || config.factor >= 1.0 {
            return Err(Error::Invalid {
                op: "ReduceLROnPlateau::new",
                msg: format!("factor must be < 1, got {}", config.factor),
            });
        }
        Ok(ReduceLROnPlateau {
            config,
            lr,
            best: None,
            num_bad_epochs: 0,
            cooldown_counter: 0,
            epoch: 0,
        })
    }

    fn is_better(&self, a: f64) -> bool {
        let c = &self.config;
        // Before the first step PyTorch's `best` is the worst value, `inf` / `-inf`.
        let best = self.best.unwrap_or(match c.mode {
            PlateauMode::Min => f64::INFINITY,
            PlateauMode::Max => f64::NEG_INFINITY,
        });
        match (c.mode, c.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < best * (1.0 - c.threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => a < best - c.threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => a > best * (c.threshold + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => a > best + c.threshold,
        }
    }

    /// Ends an epoch whose monitored value was `metric`.
    pub fn step(&mut self, metric: f64) {
        self.epoch += 1;
        if self.is_better(metric) {
            self.best = Some(metric);
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.config.patience {
            let new_lr = (self.lr * self.config.factor).max(self.config.min_lr);
            if self.lr - new_lr > self.config.eps {
                self.lr = new_lr;
            }
            self.cooldown_counter = self.config.cooldown;
            self.num_bad_epochs = 0;
        }
    }

    /// The learning rate for the next epoch.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// The best metric seen so far.
    pub fn best(&self) -> Option<f64> {
        self.best
    }

    /// Epochs stepped since construction.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Sets `optimizer`'s learning rate to [`lr`](Self::lr).
    pub fn apply(&self, optimizer: &mut dyn Optimizer) {
        optimizer.set_learning_rate(self.lr);
    }
}

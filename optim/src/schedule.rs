//! Epoch-driven learning-rate schedules with PyTorch's semantics: [`StepLR`],
//! [`MultiStepLR`], [`ExponentialLR`], [`CosineAnnealingLR`] and [`LinearLR`].
//! ([`ReduceLROnPlateau`](crate::ReduceLROnPlateau), driven by a metric, is in
//! `plateau.rs`.)
//!
//! A schedule owns its current learning rate. Construction counts as epoch 0 (PyTorch's
//! initial step); each [`step`](LRScheduler::step) advances one epoch. Each `step` uses
//! PyTorch's *recursive* form (`get_lr`, the new rate from the current one), so the
//! sequences agree with PyTorch to the last bit or two, not just in formula. A schedule is
//! plain data (serde), so it checkpoints with the optimizer.
//!
//! ```
//! use lamina_optim::{LRScheduler, Optimizer, Sgd, SgdConfig, StepLR};
//! let mut opt = Sgd::new(SgdConfig { lr: 0.1, ..Default::default() })?;
//! let mut schedule = StepLR::new(opt.learning_rate(), 2, 0.5)?;
//! for _epoch in 0..4 {
//!     // ... one epoch of optimizer steps at `opt.learning_rate()` ...
//!     schedule.step();
//!     schedule.apply(&mut opt);
//! }
//! assert_eq!(opt.learning_rate(), 0.025);
//! # Ok::<(), lamina_tensor::Error>(())
//! ```

use std::f64::consts::PI;

use lamina_tensor::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::Optimizer;

/// A learning-rate schedule stepped once per epoch.
pub trait LRScheduler {
    /// Advances one epoch and updates [`lr`](Self::lr).
    fn step(&mut self);

    /// The learning rate for the current epoch.
    fn lr(&self) -> f64;

    /// Epochs stepped since construction (0 right after it).
    fn epoch(&self) -> usize;

    /// Sets `optimizer`'s learning rate to [`lr`](Self::lr).
    fn apply(&self, optimizer: &mut dyn Optimizer) {
        optimizer.set_learning_rate(self.lr());
    }
}

fn invalid(op: &'static str, msg: String) -> Error {
    Error::Invalid { op, msg }
}

fn check_lr(op: &'static str, base_lr: f64) -> Result<()> {
    if !(base_lr >= 0.0 && base_lr.is_finite()) {
        return Err(invalid(
            op,
            format!("base_lr must be finite and >= 0, got {base_lr}"),
        ));
    }
    Ok(())
}

/// Multiplies the rate by `γ` every `step_size` epochs (PyTorch `StepLR`):
/// `η_e = η_0 γ^⌊e / step_size⌋`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepLR {
    step_size: usize,
    gamma: f64,
    lr: f64,
    epoch: usize,
}

impl StepLR {
    /// Starts at `base_lr`; `step_size` must be at least 1.
    pub fn new(base_lr: f64, step_size: usize, gamma: f64) -> Result<StepLR> {
        check_lr("StepLR::new", base_lr)?;
        if step_size == 0 {
            return Err(invalid(
                "StepLR::new",
                "step_size must be at least 1".into(),
            ));
        }
        Ok(StepLR {
            step_size,
            gamma,
            lr: base_lr,
            epoch: 0,
        })
    }
}

impl LRScheduler for StepLR {
    fn step(&mut self) {
        self.epoch += 1;
        if self.epoch.is_multiple_of(self.step_size) {
            self.lr *= self.gamma;
        }
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn epoch(&self) -> usize {
        self.epoch
    }
}

/// Multiplies the rate by `γ` at each milestone epoch (PyTorch `MultiStepLR`; a milestone
/// listed `k` times multiplies by `γ^k`): `η_e = η_0 γ^(number of milestones ≤ e)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiStepLR {
    /// Sorted, with repeats.
    milestones: Vec<usize>,
    gamma: f64,
    lr: f64,
    epoch: usize,
}

impl MultiStepLR {
    /// Starts at `base_lr`; milestones may come in any order.
    pub fn new(base_lr: f64, milestones: &[usize], gamma: f64) -> Result<MultiStepLR> {
        check_lr("MultiStepLR::new", base_lr)?;
        let mut milestones = milestones.to_vec();
        milestones.sort_unstable();
        Ok(MultiStepLR {
            milestones,
            gamma,
            lr: base_lr,
            epoch: 0,
        })
    }
}

impl LRScheduler for MultiStepLR {
    fn step(&mut self) {
        self.epoch += 1;
        let hits = self.milestones.iter().filter(|&&m| m == self.epoch).count();
        if hits > 0 {
            // Python's `gamma ** count` is libm `pow`.
            self.lr *= self.gamma.powf(hits as f64);
        }
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn epoch(&self) -> usize {
        self.epoch
    }
}

/// Multiplies the rate by `γ` every epoch (PyTorch `ExponentialLR`): `η_e = η_0 γ^e`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExponentialLR {
    gamma: f64,
    lr: f64,
    epoch: usize,
}

impl ExponentialLR {
    /// Starts at `base_lr`.
    pub fn new(base_lr: f64, gamma: f64) -> Result<ExponentialLR> {
        check_lr("ExponentialLR::new", base_lr)?;
        Ok(ExponentialLR {
            gamma,
            lr: base_lr,
            epoch: 0,
        })
    }
}

impl LRScheduler for ExponentialLR {
    fn step(&mut self) {
        self.epoch += 1;
        self.lr *= self.gamma;
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn epoch(&self) -> usize {
        self.epoch
    }
}

/// Cosine annealing from `η_0` down to `η_min` over `t_max` epochs, then back up, with
/// period `2 t_max` (PyTorch `CosineAnnealingLR`, no restarts):
/// `η_e = η_min + (η_0 − η_min)(1 + cos(π e / t_max)) / 2`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CosineAnnealingLR {
    t_max: usize,
    eta_min: f64,
    base_lr: f64,
    lr: f64,
    epoch: usize,
}

impl CosineAnnealingLR {
    /// Starts at `base_lr`; `t_max` must be at least 1.
    pub fn new(base_lr: f64, t_max: usize, eta_min: f64) -> Result<CosineAnnealingLR> {
        check_lr("CosineAnnealingLR::new", base_lr)?;
        if t_max == 0 {
            return Err(invalid(
                "CosineAnnealingLR::new",
                "t_max must be at least 1".into(),
            ));
        }
        Ok(CosineAnnealingLR {
            t_max,
            eta_min,
            base_lr,
            lr: base_lr,
            epoch: 0,
        })
    }
}

impl LRScheduler for CosineAnnealingLR {
    fn step(&mut self) {
        self.epoch += 1;
        let (e, t) = (self.epoch as f64, self.t_max as f64);
        if self.t_max == 0 {
            // Only a hand-edited checkpoint gets here (`new` refuses 0): hold the rate.
            return;
        }
        let at_trough =
            (self.epoch as i64 - 1 - self.t_max as i64).rem_euclid(2 * self.t_max as i64) == 0;
        self.lr = if at_trough {
            // Leaving the minimum, where the ratio below would divide by zero.
            self.lr + (self.base_lr - self.eta_min) * (1.0 - (PI / t).cos()) / 2.0
        } else {
            (1.0 + (PI * e / t).cos()) / (1.0 + (PI * (e - 1.0) / t).cos())
                * (self.lr - self.eta_min)
                + self.eta_min
        };
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn epoch(&self) -> usize {
        self.epoch
    }
}

/// Scales the rate linearly from `start_factor η_0` to `end_factor η_0` over
/// `total_iters` epochs, then holds it (PyTorch `LinearLR`, the usual warm-up):
/// `η_e = η_0 (s + (f − s) min(e, total_iters) / total_iters)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearLR {
    start_factor: f64,
    end_factor: f64,
    total_iters: usize,
    lr: f64,
    epoch: usize,
}

impl LinearLR {
    /// Starts at `start_factor · base_lr`; `start_factor` in (0, 1], `end_factor` in
    /// [0, 1], as PyTorch checks.
    pub fn new(
        base_lr: f64,
        start_factor: f64,
        end_factor: f64,
        total_iters: usize,
    ) -> Result<LinearLR> {
        const OP: &str = "LinearLR::new";
        check_lr(OP, base_lr)?;
        if !(start_factor > 0.0 && start_factor <= 1.0) {
            return Err(invalid(
                OP,
                format!("start_factor must be in (0, 1], got {start_factor}"),
            ));
        }
        if !(0.0..=1.0).contains(&end_factor) {
            return Err(invalid(
                OP,
                format!("end_factor must be in [0, 1], got {end_factor}"),
            ));
        }
        Ok(LinearLR {
            start_factor,
            end_factor,
            total_iters,
            lr: base_lr * start_factor,
            epoch: 0,
        })
    }
}

impl LRScheduler for LinearLR {
    fn step(&mut self) {
        self.epoch += 1;
        if self.epoch > self.total_iters {
            return;
        }
        let (s, f) = (self.start_factor, self.end_factor);
        self.lr *=
            1.0 + (f - s) / (self.total_iters as f64 * s + (self.epoch as f64 - 1.0) * (f - s));
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn epoch(&self) -> usize {
        self.epoch
    }
}

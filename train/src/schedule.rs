//! [`LrSchedule`]: the learning-rate schedules of `lamina-optim` in one serialisable
//! enum, stepped once per epoch by the training loop. A closed enum rather than a
//! `Box<dyn LRScheduler>` because the schedule's state goes into every checkpoint, and a
//! trait object cannot be deserialised; each variant wraps optim's own type, whose
//! fields are its state.

use lamina_optim::{
    CosineAnnealingLR, ExponentialLR, LRScheduler, LinearLR, MultiStepLR, Optimizer,
    ReduceLROnPlateau, StepLR,
};
use serde::{Deserialize, Serialize};

use crate::early_stopping::Monitor;
use crate::error::{Error, Result};
use crate::history::EpochRecord;

/// A learning-rate schedule, stepped after every epoch (after validation, so
/// [`Plateau`](LrSchedule::Plateau) can read the validation metrics).
///
/// Build one with `From` from any of optim's schedules, or with
/// [`plateau`](LrSchedule::plateau):
///
/// ```
/// use lamina_optim::StepLR;
/// use lamina_train::LrSchedule;
/// let schedule: LrSchedule = StepLR::new(0.1, 10, 0.5)?.into();
/// assert_eq!(schedule.lr(), 0.1);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// [`StepLR`]: `γ` every `step_size` epochs.
    Step(StepLR),
    /// [`MultiStepLR`]: `γ` at each milestone.
    MultiStep(MultiStepLR),
    /// [`ExponentialLR`]: `γ` every epoch.
    Exponential(ExponentialLR),
    /// [`CosineAnnealingLR`].
    Cosine(CosineAnnealingLR),
    /// [`LinearLR`] (warm-up).
    Linear(LinearLR),
    /// [`ReduceLROnPlateau`] fed with `monitor`'s value each epoch. Set the schedule's
    /// `mode` to match the monitor (`Max` for an accuracy); [`plateau`](Self::plateau)
    /// does.
    Plateau {
        /// The schedule and its state.
        schedule: ReduceLROnPlateau,
        /// The metric it watches.
        monitor: Monitor,
    },
}

impl LrSchedule {
    /// A [`ReduceLROnPlateau`] watching `monitor`, its `mode` set from the monitor
    /// (`Max` for accuracies, `Min` for losses).
    pub fn plateau(
        lr: f64,
        mut config: lamina_optim::ReduceLROnPlateauConfig,
        monitor: Monitor,
    ) -> Result<LrSchedule> {
        config.mode = if monitor.higher_is_better() {
            lamina_optim::PlateauMode::Max
        } else {
            lamina_optim::PlateauMode::Min
        };
        Ok(LrSchedule::Plateau {
            schedule: ReduceLROnPlateau::new(lr, config)?,
            monitor,
        })
    }

    /// The learning rate for the next epoch.
    pub fn lr(&self) -> f64 {
        match self {
            LrSchedule::Step(s) => s.lr(),
            LrSchedule::MultiStep(s) => s.lr(),
            LrSchedule::Exponential(s) => s.lr(),
            LrSchedule::Cosine(s) => s.lr(),
            LrSchedule::Linear(s) => s.lr(),
            LrSchedule::Plateau { schedule, .. } => schedule.lr(),
        }
    }

    /// The metric a plateau schedule watches (`None` for the epoch-driven ones).
    pub fn monitor(&self) -> Option<Monitor> {
        match self {
            LrSchedule::Plateau { monitor, .. } => Some(*monitor),
            _ => None,
        }
    }

    /// Advances one epoch; `record` is the epoch just finished (a plateau schedule reads
    /// its monitored metric, an error if the epoch did not measure it).
    pub fn step(&mut self, record: &EpochRecord) -> Result<()> {
        match self {
            LrSchedule::Step(s) => s.step(),
            LrSchedule::MultiStep(s) => s.step(),
            LrSchedule::Exponential(s) => s.step(),
            LrSchedule::Cosine(s) => s.step(),
            LrSchedule::Linear(s) => s.step(),
            LrSchedule::Plateau { schedule, monitor } => {
                let value = monitor.value(record).ok_or_else(|| {
                    Error::Config(format!(
                        "the ReduceLROnPlateau schedule watches `{}`, which epoch {} did not measure",
                        monitor.name(),
                        record.epoch
                    ))
                })?;
                schedule.step(value);
            }
        }
        Ok(())
    }

    /// Sets `optimizer`'s learning rate to [`lr`](Self::lr).
    pub fn apply(&self, optimizer: &mut dyn Optimizer) {
        optimizer.set_learning_rate(self.lr());
    }
}

macro_rules! from_schedule {
    ($($ty:ty => $variant:ident),*) => {$(
        impl From<$ty> for LrSchedule {
            fn from(s: $ty) -> LrSchedule {
                LrSchedule::$variant(s)
            }
        }
    )*};
}

from_schedule!(
    StepLR => Step,
    MultiStepLR => MultiStep,
    ExponentialLR => Exponential,
    CosineAnnealingLR => Cosine,
    LinearLR => Linear
);

#[cfg(test)]
mod tests {
    use super::*;
    use lamina_optim::ReduceLROnPlateauConfig;

    fn record(epoch: usize, val_acc: Option<f64>) -> EpochRecord {
        EpochRecord {
            epoch,
            train_loss: 1.0,
            train_acc: None,
            val_loss: None,
            val_acc,
            lr: 0.0,
            seconds: 0.0,
        }
    }

    #[test]
    fn epoch_schedules_step_and_round_trip() -> Result<()> {
        let mut s: LrSchedule = StepLR::new(0.1, 2, 0.5)?.into();
        for e in 0..4 {
            s.step(&record(e, None))?;
        }
        assert_eq!(s.lr(), 0.025);
        let json = serde_json::to_string(&s).unwrap_or_default();
        let back: LrSchedule =
            serde_json::from_str(&json).map_err(|e| Error::Config(e.to_string()))?;
        assert_eq!(back, s);
        Ok(())
    }

    #[test]
    fn plateau_on_accuracy_cuts_when_it_stalls() -> Result<()> {
        let config = ReduceLROnPlateauConfig {
            patience: 1,
            factor: 0.5,
            ..Default::default()
        };
        let mut s = LrSchedule::plateau(0.1, config, Monitor::ValAccuracy)?;
        for (e, acc) in [0.5, 0.6, 0.6, 0.6].into_iter().enumerate() {
            s.step(&record(e, Some(acc)))?;
        }
        assert_eq!(s.lr(), 0.05);
        let err = s.step(&record(4, None)).unwrap_err().to_string();
        assert!(
            err.contains("`val_acc`, which epoch 4 did not measure"),
            "{err}"
        );
        Ok(())
    }
}

//! Early stopping: [`Monitor`] names the metric that decides what "better" means,
//! [`EarlyStopping`] is the rule (Keras's `EarlyStopping`: stop once the metric has not
//! improved by more than `min_delta` for `patience` epochs in a row), and
//! [`EarlyStoppingState`] is the state machine it drives — plain data, so it goes into
//! the checkpoint and a resumed run stops at the same epoch an uninterrupted one would.

use serde::{Deserialize, Serialize};

use crate::history::EpochRecord;

/// A metric of an [`EpochRecord`] to watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// The mean training loss (lower is better).
    TrainLoss,
    /// The training accuracy (higher is better).
    TrainAccuracy,
    /// The validation loss (lower is better).
    ValLoss,
    /// The validation accuracy (higher is better).
    ValAccuracy,
}

impl Monitor {
    /// The metric's column name in `history.csv` (`"val_loss"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Monitor::TrainLoss => "train_loss",
            Monitor::TrainAccuracy => "train_acc",
            Monitor::ValLoss => "val_loss",
            Monitor::ValAccuracy => "val_acc",
        }
    }

    /// Whether a larger value is better (accuracies) or a smaller one (losses).
    pub fn higher_is_better(self) -> bool {
        matches!(self, Monitor::TrainAccuracy | Monitor::ValAccuracy)
    }

    /// Whether the metric needs a validation loader.
    pub fn needs_validation(self) -> bool {
        matches!(self, Monitor::ValLoss | Monitor::ValAccuracy)
    }

    /// Whether the metric needs accuracy to be computed.
    pub fn needs_accuracy(self) -> bool {
        matches!(self, Monitor::TrainAccuracy | Monitor::ValAccuracy)
    }

    /// The metric's value in `record`, if it was measured.
    pub fn value(self, record: &EpochRecord) -> Option<f64> {
        match self {
            Monitor::TrainLoss => Some(record.train_loss),
            Monitor::TrainAccuracy => record.train_acc,
            Monitor::ValLoss => record.val_loss,
            Monitor::ValAccuracy => record.val_acc,
        }
    }

    /// Whether `value` beats `best` by more than `min_delta` (any value beats `None`;
    /// NaN beats nothing): `value < best − min_delta` for a loss,
    /// `value > best + min_delta` for an accuracy.
    pub fn improves(self, value: f64, best: Option<f64>, min_delta: f64) -> bool {
        if value.is_nan() {
            return false;
        }
        match best {
            None => true,
            Some(best) if self.higher_is_better() => value > best + min_delta,
            Some(best) => value < best - min_delta,
        }
    }
}

/// Stop training once [`monitor`](Self::monitor) has failed to improve by more than
/// [`min_delta`](Self::min_delta) for [`patience`](Self::patience) epochs in a row.
///
/// With `patience = 2` and validation losses `1.0, 0.8, 0.85, 0.9`, epoch 1 is the best
/// and training stops after epoch 3, the second epoch in a row without improvement:
///
/// ```
/// use lamina_train::{EarlyStopping, EarlyStoppingState, Monitor, Verdict};
/// let rule = EarlyStopping { monitor: Monitor::ValLoss, patience: 2, ..Default::default() };
/// let mut state = EarlyStoppingState::default();
/// let verdicts: Vec<Verdict> = [1.0, 0.8, 0.85, 0.9]
///     .iter()
///     .enumerate()
///     .map(|(epoch, &loss)| state.update(&rule, epoch, loss))
///     .collect();
/// assert_eq!(verdicts, [Verdict::Improved, Verdict::Improved, Verdict::Wait, Verdict::Stop]);
/// assert_eq!(state.best_epoch, Some(1));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EarlyStopping {
    /// The metric to watch.
    pub monitor: Monitor,
    /// Epochs in a row without improvement tolerated; training stops at the
    /// `patience`-th (at the first when 0).
    pub patience: usize,
    /// The least change that counts as an improvement (finite, `>= 0`).
    pub min_delta: f64,
    /// Whether to put the best epoch's weights back into the model when training ends
    /// (stopped early or not).
    pub restore_best_weights: bool,
}

impl Default for EarlyStopping {
    /// `val_loss`, patience 5, `min_delta` 0, best weights restored.
    fn default() -> Self {
        EarlyStopping {
            monitor: Monitor::ValLoss,
            patience: 5,
            min_delta: 0.0,
            restore_best_weights: true,
        }
    }
}

/// What [`EarlyStoppingState::update`] decided about an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A new best: the epoch's weights are the ones to keep.
    Improved,
    /// No improvement, but patience is not exhausted: go on.
    Wait,
    /// Patience is exhausted: stop after this epoch.
    Stop,
}

/// The early-stopping state machine: the best value so far, the epoch it was seen and
/// the count of epochs since.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EarlyStoppingState {
    /// The best monitored value so far.
    pub best: Option<f64>,
    /// The 0-based epoch that reached [`best`](Self::best).
    pub best_epoch: Option<usize>,
    /// Epochs in a row without improvement.
    pub bad_epochs: usize,
    /// The epoch after which the rule stopped training, once it has.
    pub stopped_epoch: Option<usize>,
}

impl EarlyStoppingState {
    /// Feeds epoch `epoch`'s monitored `value` to the state machine under `rule`.
    pub fn update(&mut self, rule: &EarlyStopping, epoch: usize, value: f64) -> Verdict {
        if rule.monitor.improves(value, self.best, rule.min_delta) {
            self.best = Some(value);
            self.best_epoch = Some(epoch);
            self.bad_epochs = 0;
            return Verdict::Improved;
        }
        self.bad_epochs += 1;
        if self.bad_epochs >= rule.patience {
            self.stopped_epoch = Some(epoch);
            Verdict::Stop
        } else {
            Verdict::Wait
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rule: &EarlyStopping, values: &[f64]) -> (Option<usize>, EarlyStoppingState) {
        let mut state = EarlyStoppingState::default();
        for (epoch, &v) in values.iter().enumerate() {
            if state.update(rule, epoch, v) == Verdict::Stop {
                return (Some(epoch), state);
            }
        }
        (None, state)
    }

    #[test]
    fn stops_after_patience_epochs_without_improvement() {
        let rule = EarlyStopping {
            patience: 3,
            ..Default::default()
        };
        // Best at epoch 2; epochs 3, 4, 5 do not improve: stop after epoch 5.
        let losses = [1.0, 0.7, 0.5, 0.55, 0.5, 0.6, 0.1, 0.1];
        let (stop, state) = run(&rule, &losses);
        assert_eq!(stop, Some(5));
        assert_eq!(state.best, Some(0.5));
        assert_eq!(state.best_epoch, Some(2));
        assert_eq!(state.stopped_epoch, Some(5));
    }

    #[test]
    fn an_improvement_resets_the_count() {
        let rule = EarlyStopping {
            patience: 2,
            ..Default::default()
        };
        let (stop, state) = run(&rule, &[1.0, 1.1, 0.9, 1.0, 0.8, 0.85, 0.86]);
        assert_eq!(stop, Some(6));
        assert_eq!(state.best_epoch, Some(4));
    }

    #[test]
    fn min_delta_ignores_small_gains() {
        let rule = EarlyStopping {
            patience: 2,
            min_delta: 0.05,
            ..Default::default()
        };
        // 0.97 and 0.96 are within 0.05 of 1.0: not improvements.
        let (stop, state) = run(&rule, &[1.0, 0.97, 0.96, 0.5]);
        assert_eq!(stop, Some(2));
        assert_eq!(state.best, Some(1.0));
    }

    #[test]
    fn accuracy_goes_up_and_zero_patience_stops_at_once() {
        let rule = EarlyStopping {
            monitor: Monitor::ValAccuracy,
            patience: 0,
            ..Default::default()
        };
        let (stop, state) = run(&rule, &[0.5, 0.6, 0.7, 0.7, 0.9]);
        assert_eq!(stop, Some(3));
        assert_eq!(state.best, Some(0.7));
        assert_eq!(state.best_epoch, Some(2));
    }

    #[test]
    fn never_stops_while_improving_and_nan_is_no_improvement() {
        let rule = EarlyStopping {
            patience: 1,
            ..Default::default()
        };
        assert_eq!(run(&rule, &[5.0, 4.0, 3.0, 2.0, 1.0]).0, None);
        assert_eq!(run(&rule, &[5.0, f64::NAN]).0, Some(1));
    }

    #[test]
    fn state_round_trips_through_json() {
        let rule = EarlyStopping::default();
        let (_, state) = run(&rule, &[0.3, 0.1 + 0.2, 0.31]);
        let json = serde_json::to_string(&state).unwrap_or_default();
        let back: EarlyStoppingState = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, state);
    }
}

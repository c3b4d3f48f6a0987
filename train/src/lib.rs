//! `lamina-train`: the training loop for Lamina models — [`Trainer::fit`] runs epochs
//! over a `lamina_data::DataLoader` with any `nn::Module`, any `optim::Optimizer` and a
//! loss closure, and adds what a practitioner expects around it: validation each epoch
//! (loss and accuracy), learning-rate schedules, gradient clipping, early stopping with
//! best-weight restore, atomic checkpoints with an exact [`resume`](Trainer::resume), a
//! [`History`] written as `history.csv` and drawn as a PNG, and a progress bar.
//!
//! It is its own crate, outside the `lamina` facade's core set, because it pulls heavy
//! dependencies — `indicatif` for the progress bar, `plotters` (with an image encoder
//! and a bundled font) for the plot — that users of `tensor`, `nn`, `optim` and `data`
//! alone should not pay for in build time.
//!
//! - [`Trainer`], [`FitConfig`]: the loop and its settings; [`Trainer::evaluate`] scores a
//!   test set by every [`Metric`] asked for.
//! - [`predict`], [`predict_proba`], [`predict_classes`], [`predict_loader`]: inference,
//!   batched, in evaluation mode, with scikit-learn's `decision_function` / `predict_proba`
//!   / `predict` in mind.
//! - [`CrossValidation`]: k-fold scores per fold and as mean ± std, preprocessing fitted on
//!   each fold's training rows only, for a model trained by [`Trainer`] or any closure.
//! - [`Error`]: every error inside a run says its epoch, batch and [`Phase`]; a NaN loss
//!   is traced to where it first appeared ([`NonFiniteAt`]).
//! - [`EarlyStopping`], [`Monitor`]: when to stop, and what "better" means.
//! - [`LrSchedule`]: optim's schedules, stepped per epoch, saved in checkpoints.
//! - [`Checkpoints`]: the `last` and `best` checkpoints of a run directory.
//! - [`History`], [`plot_history`]: the per-epoch record, as CSV and PNG.
//!
//! L1/L2 regularisation is not repeated here: every optimizer config in `lamina-optim`
//! has `weight_decay` (L2) and `l1`, and `optim::l1_penalty`/`l2_penalty` give the
//! loss-term forms for a loss closure.

mod accuracy;
mod atomic;
mod checkpoint;
mod cv;
mod diagnose;
mod early_stopping;
mod error;
mod fit;
mod history;
mod metric;
mod plot;
mod predict;
mod progress;
mod schedule;

pub use accuracy::Accuracy;
pub use checkpoint::{BestState, Checkpoints, FileRef, LoaderState, TrainState};
pub use cv::{CrossValidation, CvReport, FoldData, FoldReport, FoldSetup, Preprocess};
pub use early_stopping::{EarlyStopping, EarlyStoppingState, Monitor, Verdict};
pub use error::{Context, Error, NonFiniteAt, Phase, Result};
pub use fit::{Amp, Evaluation, FitConfig, Trainer};
pub use history::{EpochRecord, History, CSV_HEADER};
pub use metric::{score, Metric};
pub use plot::{plot_history, DEFAULT_PLOT_SIZE};
pub use predict::{
    classes, predict, predict_classes, predict_loader, predict_proba, probabilities, Predictions,
};
pub use schedule::LrSchedule;

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers shared by the unit tests.

    use std::path::PathBuf;

    /// A fresh, empty directory for one test: `$TMPDIR/lamina-train-tests/<name>-<pid>`.
    pub fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir()
            .join("lamina-train-tests")
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cannot create a scratch directory");
        dir
    }
}

//! The per-epoch progress bar (indicatif): batches done, the running training loss and
//! accuracy, and the previous epoch's validation metrics. It draws only when progress
//! is on *and* stderr is a terminal, so logs, pipes and CI output stay clean; the
//! one-line epoch summary is printed separately (see `FitConfig::verbose`).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::history::EpochRecord;

/// One epoch's bar, or nothing when hidden.
pub(crate) struct EpochBar {
    bar: Option<ProgressBar>,
    /// `val_loss …, val_acc …` from the previous epoch, appended to the message.
    last_val: String,
}

impl EpochBar {
    /// A bar for 0-based epoch `epoch` of `epochs`, `batches` long; `previous` is the
    /// last finished epoch, whose validation metrics the bar shows.
    pub fn new(
        enabled: bool,
        epoch: usize,
        epochs: usize,
        batches: usize,
        previous: Option<&EpochRecord>,
    ) -> EpochBar {
        let mut last_val = String::new();
        if let Some(r) = previous {
            if let Some(l) = r.val_loss {
                last_val.push_str(&format!(" | last val_loss {l:.4}"));
            }
            if let Some(a) = r.val_acc {
                last_val.push_str(&format!(" val_acc {a:.4}"));
            }
        }
        if !enabled || !std::io::stderr().is_terminal() {
            return EpochBar {
                bar: None,
                last_val,
            };
        }
        let width = epochs.to_string().len();
        // The template is a constant; should it ever fail to parse, fall back to the
        // default style rather than fail the run.
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30.cyan/blue}] {pos}/{len} batches {elapsed_precise} {msg}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::new(batches as u64)
            .with_style(style)
            .with_prefix(format!("epoch {:>width$}/{epochs}", epoch + 1));
        bar.set_message(last_val.trim_start_matches(" | ").to_string());
        EpochBar {
            bar: Some(bar),
            last_val,
        }
    }

    /// Whether the bar draws.
    #[cfg(test)]
    pub fn is_visible(&self) -> bool {
        self.bar.is_some()
    }

    /// One more batch done; `loss` and `acc` are the running epoch means.
    pub fn batch_done(&self, loss: f64, acc: Option<f64>) {
        if let Some(bar) = &self.bar {
            let acc = acc.map(|a| format!(" acc {a:.4}")).unwrap_or_default();
            bar.set_message(format!("loss {loss:.4}{acc}{}", self.last_val));
            bar.inc(1);
        }
    }

    /// Removes the bar (the summary line takes its place).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for EpochBar {
    /// An epoch that failed part-way leaves its bar where it stopped instead of a
    /// half-drawn line.
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_bar_is_hidden_and_harmless() {
        let bar = EpochBar::new(false, 0, 3, 10, None);
        assert!(!bar.is_visible());
        bar.batch_done(0.5, Some(0.5));
        bar.finish();
    }
}

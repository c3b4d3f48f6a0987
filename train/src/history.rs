//! [`History`]: one [`EpochRecord`] per finished epoch (losses, accuracies, learning rate,
//! wall time), what [`fit`](crate::Trainer::fit) returns and what a checkpoint carries so
//! a resumed run continues the same history.
//!
//! It is written as `history.csv` — a header line, then one row per epoch, an empty cell
//! for a metric that was not computed — in the same columns as Keras's `CSVLogger`, so a
//! spreadsheet or `pandas.read_csv` reads it as it is. Numbers are printed in Rust's
//! shortest round-trip form, so [`History::read_csv`] gives back the same `f64`s.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic;
use crate::error::{Error, Result};

/// What one epoch measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The 0-based epoch (the number passed to `DataLoader::epoch`).
    pub epoch: usize,
    /// Mean training loss over the epoch's batches, each weighted by its number of
    /// samples (the exact epoch mean when the loss is a per-batch mean).
    pub train_loss: f64,
    /// Training accuracy over the epoch, measured on the batches as they were trained
    /// (`None` when accuracy is off or the outputs are not class scores).
    pub train_acc: Option<f64>,
    /// Mean validation loss, in evaluation mode after the epoch (`None` without a
    /// validation loader).
    pub val_loss: Option<f64>,
    /// Validation accuracy (`None` without a validation loader or with accuracy off).
    pub val_acc: Option<f64>,
    /// The learning rate the epoch trained with.
    pub lr: f64,
    /// Wall-clock seconds the epoch took, validation included.
    pub seconds: f64,
}

impl EpochRecord {
    /// The one-line summary printed after each epoch, counting epochs from 1 as a
    /// person does (the [`epoch`](Self::epoch) field counts from 0), out of `total`:
    /// `epoch 3/10: loss 0.4123, acc 0.8750, val_loss 0.4410, val_acc 0.8600, lr 1.000e-3, 0.21s`.
    pub fn summary(&self, total: usize) -> String {
        format!("epoch {}/{total}{}", self.epoch + 1, Metrics(self))
    }
}

impl fmt::Display for EpochRecord {
    /// [`summary`](EpochRecord::summary) without the total: `epoch 3: loss 0.4123, ...`
    /// (1-based).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "epoch {}{}", self.epoch + 1, Metrics(self))
    }
}

/// `: loss …, acc …, val_loss …, val_acc …, lr …, …s`, leaving out what was not measured.
struct Metrics<'a>(&'a EpochRecord);

impl fmt::Display for Metrics<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        write!(f, ": loss {:.4}", r.train_loss)?;
        if let Some(a) = r.train_acc {
            write!(f, ", acc {a:.4}")?;
        }
        if let Some(l) = r.val_loss {
            write!(f, ", val_loss {l:.4}")?;
        }
        if let Some(a) = r.val_acc {
            write!(f, ", val_acc {a:.4}")?;
        }
        write!(f, ", lr {:.3e}, {:.2}s", r.lr, r.seconds)
    }
}

/// The records of every epoch so far, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// One record per finished epoch.
    pub epochs: Vec<EpochRecord>,
}

/// The CSV header, Keras's `CSVLogger` column names plus `seconds`.
pub const CSV_HEADER: &str = "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds";

fn cell(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// The number of epochs recorded.
    pub fn len(&self) -> usize {
        self.epochs.len()
    }

    /// Whether no epoch has been recorded.
    pub fn is_empty(&self) -> bool {
        self.epochs.is_empty()
    }

    /// The last epoch's record.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.epochs.last()
    }

    /// The training losses, one per epoch.
    pub fn train_losses(&self) -> Vec<f64> {
        self.epochs.iter().map(|r| r.train_loss).collect()
    }

    /// The validation losses, one per epoch (`None` where there was none).
    pub fn val_losses(&self) -> Vec<Option<f64>> {
        self.epochs.iter().map(|r| r.val_loss).collect()
    }

    /// The history as CSV text: [`CSV_HEADER`], then one row per epoch.
    ///
    /// ```
    /// use lamina_train::{EpochRecord, History};
    /// let mut h = History::new();
    /// h.epochs.push(EpochRecord {
    ///     epoch: 0, train_loss: 0.5, train_acc: Some(0.75), val_loss: None, val_acc: None,
    ///     lr: 0.01, seconds: 1.5,
    /// });
    /// assert_eq!(h.to_csv(), "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n0,0.5,0.75,,,0.01,1.5\n");
    /// assert_eq!(History::from_csv(&h.to_csv(), "history.csv".as_ref())?, h);
    /// # Ok::<(), lamina_train::Error>(())
    /// ```
    pub fn to_csv(&self) -> String {
        let mut out = String::with_capacity(64 * (self.epochs.len() + 1));
        out.push_str(CSV_HEADER);
        out.push('\n');
        for r in &self.epochs {
            out.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                r.epoch,
                r.train_loss,
                cell(r.train_acc),
                cell(r.val_loss),
                cell(r.val_acc),
                r.lr,
                r.seconds
            ));
        }
        out
    }

    /// Parses [`to_csv`](Self::to_csv)'s output; `path` only names the source in errors.
    pub fn from_csv(text: &str, path: &Path) -> Result<History> {
        let err = |line: usize, msg: String| Error::History {
            path: path.to_owned(),
            line,
            msg,
        };
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, h)) if h.trim_end() == CSV_HEADER => {}
            Some((_, h)) => {
                return Err(err(
                    1,
                    format!("expected the header `{CSV_HEADER}`, found `{h}`"),
                ))
            }
            None => return Err(err(1, "the file is empty (no header line)".into())),
        }
        let mut epochs = Vec::new();
        for (i, line) in lines {
            let line_no = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let cells: Vec<&str> = line.trim_end().split(',').collect();
            if cells.len() != 7 {
                return Err(err(
                    line_no,
                    format!("expected 7 cells, found {}", cells.len()),
                ));
            }
            let num = |col: usize| -> Result<f64> {
                cells[col].parse::<f64>().map_err(|_| {
                    err(
                        line_no,
                        format!(
                            "column {} (`{}`): cannot parse `{}` as a number",
                            col + 1,
                            CSV_HEADER.split(',').nth(col).unwrap_or("?"),
                            cells[col]
                        ),
                    )
                })
            };
            let opt = |col: usize| -> Result<Option<f64>> {
                if cells[col].is_empty() {
                    Ok(None)
                } else {
                    num(col).map(Some)
                }
            };
            let epoch = cells[0].parse::<usize>().map_err(|_| {
                err(
                    line_no,
                    format!("column 1 (`epoch`): `{}` is not an epoch number", cells[0]),
                )
            })?;
            epochs.push(EpochRecord {
                epoch,
                train_loss: num(1)?,
                train_acc: opt(2)?,
                val_loss: opt(3)?,
                val_acc: opt(4)?,
                lr: num(5)?,
                seconds: num(6)?,
            });
        }
        Ok(History { epochs })
    }

    /// Writes [`to_csv`](Self::to_csv) to `path` atomically.
    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        atomic::write_atomic(path.as_ref(), self.to_csv().as_bytes())
    }

    /// Reads a file written by [`write_csv`](Self::write_csv).
    pub fn read_csv(path: impl AsRef<Path>) -> Result<History> {
        let path = path.as_ref();
        let bytes = atomic::read(path)?;
        let text = String::from_utf8(bytes).map_err(|e| Error::History {
            path: path.to_owned(),
            line: 1,
            msg: format!("not UTF-8 text: {e}"),
        })?;
        History::from_csv(&text, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> History {
        History {
            epochs: (0..5)
                .map(|e| EpochRecord {
                    epoch: e,
                    train_loss: 1.0 / (e as f64 + 3.0),
                    train_acc: (e % 2 == 0).then_some(0.1 * e as f64),
                    val_loss: Some(std::f64::consts::PI * e as f64),
                    val_acc: None,
                    lr: 1e-3 * 0.5f64.powi(e as i32),
                    seconds: 0.123_456_789,
                })
                .collect(),
        }
    }

    #[test]
    fn csv_round_trips_bit_for_bit() -> Result<()> {
        let dir = crate::testing::scratch_dir("history_csv");
        let path = dir.join("history.csv");
        let h = sample();
        h.write_csv(&path)?;
        let text = String::from_utf8(atomic::read(&path)?).unwrap_or_default();
        assert_eq!(text.lines().next(), Some(CSV_HEADER));
        assert_eq!(text.lines().count(), 6);
        let back = History::read_csv(&path)?;
        assert_eq!(back, h);
        for (a, b) in back.epochs.iter().zip(&h.epochs) {
            assert_eq!(a.train_loss.to_bits(), b.train_loss.to_bits());
            assert_eq!(a.lr.to_bits(), b.lr.to_bits());
        }
        Ok(())
    }

    #[test]
    fn malformed_csv_names_file_and_line() {
        let p = Path::new("h.csv");
        let e = History::from_csv("nope\n", p).unwrap_err().to_string();
        assert!(e.starts_with("h.csv: line 1: expected the header"), "{e}");
        let text = format!("{CSV_HEADER}\n0,0.5,,,,0.1,1\n1,abc,,,,0.1,1\n");
        let e = History::from_csv(&text, p).unwrap_err().to_string();
        assert_eq!(
            e,
            "h.csv: line 3: column 2 (`train_loss`): cannot parse `abc` as a number"
        );
        let e = History::from_csv(&format!("{CSV_HEADER}\n0,1\n"), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2: expected 7 cells, found 2"), "{e}");
    }

    #[test]
    fn summary_line_reads_well() {
        let r = &sample().epochs[2];
        assert_eq!(
            r.to_string(),
            "epoch 3: loss 0.2000, acc 0.2000, val_loss 6.2832, lr 2.500e-4, 0.12s"
        );
        assert!(r.summary(10).starts_with("epoch 3/10: loss 0.2000, acc"));
    }
}

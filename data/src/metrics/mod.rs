//! Scores for classifiers on plain slices of class indices (sklearn's `sklearn.metrics`):
//! [`accuracy`], [`ConfusionMatrix`] (precision, recall, F1; per class, macro and
//! weighted), [`classification_report`] (all of them as sklearn prints them, in
//! `report.rs`), [`roc_auc`] and [`MeanStd`] for cross-validation summaries, plus the
//! two bridges from tensors, [`argmax_rows`] and [`labels_of`].
//!
//! Metrics run on the host in f64: they see one number per sample, and exact counts are
//! worth more than a kernel launch here.

use std::collections::BTreeMap;
use std::fmt;

use lamina_tensor::{DType, Tensor};

use crate::{Error, Result, MAX_CLASSES};

mod report;
pub use report::{classification_report, Averages, ClassScores, ClassificationReport};

fn check_pair(op: &'static str, pred: &[usize], target: &[usize]) -> Result<()> {
    if pred.len() != target.len() {
        return Err(Error::Invalid {
            op,
            msg: format!(
                "pred has {} entries but target has {}",
                pred.len(),
                target.len()
            ),
        });
    }
    Ok(())
}

/// The fraction of positions where `pred[i] == target[i]` (sklearn `accuracy_score`).
/// Errors when the lengths differ or both are empty.
///
/// ```
/// # fn main() -> lamina_data::Result<()> {
/// assert_eq!(lamina_data::metrics::accuracy(&[0, 2, 1, 3], &[0, 1, 2, 3])?, 0.5);
/// # Ok(()) }
/// ```
pub fn accuracy(pred: &[usize], target: &[usize]) -> Result<f64> {
    check_pair("accuracy", pred, target)?;
    if pred.is_empty() {
        return Err(Error::Invalid {
            op: "accuracy",
            msg: "needs at least one prediction, got none".into(),
        });
    }
    let hits = pred.iter().zip(target).filter(|(p, t)| p == t).count();
    Ok(hits as f64 / pred.len() as f64)
}

/// The predicted class of each row of `logits` `[N, C]` (`logits.argmax(1)`; the first
/// maximum on ties).
pub fn argmax_rows(logits: &Tensor) -> Result<Vec<usize>> {
    if logits.rank() != 2 || logits.dims()[1] == 0 {
        return Err(Error::Invalid {
            op: "argmax_rows",
            msg: format!(
                "needs logits of shape [N, C] with C > 0, got {}",
                logits.shape()
            ),
        });
    }
    if logits.dims()[0] == 0 {
        return Ok(Vec::new());
    }
    let idx = logits.argmax(1, false)?.to_vec::<i64>()?;
    Ok(idx.into_iter().map(|i| i as usize).collect())
}

/// The class indices held in `t` (shape `[]`, `[N]` or `[N, 1]`; dtype `I64`, `U32` or a
/// float holding whole numbers). A negative, fractional or non-finite value is an error
/// naming its position; for `[N, C]` scores use [`argmax_rows`].
pub fn labels_of(t: &Tensor) -> Result<Vec<usize>> {
    const OP: &str = "labels_of";
    let dims = t.dims();
    if !(dims.len() <= 1 || (dims.len() == 2 && dims[1] == 1)) {
        return Err(Error::Invalid {
            op: OP,
            msg: format!(
                "needs class indices of shape [N] or [N, 1], got {} (use argmax_rows for scores)",
                t.shape()
            ),
        });
    }
    let bad = |i: usize, v: String| Error::Invalid {
        op: OP,
        msg: format!("element {i} is {v}, not a class index (a whole number >= 0)"),
    };
    match t.dtype() {
        DType::U32 => Ok(t.to_vec::<u32>()?.into_iter().map(|v| v as usize).collect()),
        DType::I64 => t
            .to_vec::<i64>()?
            .into_iter()
            .enumerate()
            .map(|(i, v)| usize::try_from(v).map_err(|_| bad(i, v.to_string())))
            .collect(),
        DType::F32 | DType::F64 | DType::F16 | DType::BF16 | DType::Bool => t
            .to_f64_vec()?
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                // 2^53: beyond it f64 no longer holds every integer.
                if v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_992.0 {
                    Ok(v as usize)
                } else {
                    Err(bad(i, v.to_string()))
                }
            })
            .collect(),
    }
}

/// Counts of (actual, predicted) class pairs (sklearn `confusion_matrix`: rows are the
/// actual class, columns the predicted one) and the scores derived from them.
///
/// Per-class scores follow sklearn's `zero_division=0`: a class never predicted has
/// precision 0, one never present has recall 0, and F1 is `2·tp / (2·tp + fp + fn)`, 0 when
/// that is `0/0`. Macro averages, like sklearn's default `labels=None`, average over the
/// classes that occur in the targets or the predictions, not over all `num_classes`.
///
/// Memory grows with `num_classes` (at most [`MAX_CLASSES`]) and with the distinct
/// (actual, predicted) pairs seen, never with `num_classes²`: a matrix over many classes
/// is mostly zeros, and it is often sized from the largest label.
///
/// ```
/// use lamina_data::metrics::ConfusionMatrix;
/// # fn main() -> lamina_data::Result<()> {
/// // sklearn's precision_recall_fscore_support example: cat = 0, dog = 1, pig = 2.
/// let cm = ConfusionMatrix::new(&[0, 2, 1, 0, 0, 1], &[0, 1, 2, 0, 1, 2], 3)?;
/// assert_eq!(cm.counts(1, 0), 1); // one dog predicted as a cat
/// assert!((cm.macro_precision() - 2.0 / 9.0).abs() < 1e-12);
/// assert!((cm.macro_f1() - 0.8 / 3.0).abs() < 1e-12);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    num_classes: usize,
    /// The nonzero counts by `(actual, predicted)`.
    pairs: BTreeMap<(usize, usize), usize>,
    /// Row sums: samples of each actual class.
    support: Vec<usize>,
    /// Column sums: samples predicted as each class.
    predicted: Vec<usize>,
}

impl ConfusionMatrix {
    /// A matrix of zeros over `num_classes` classes (`1..=`[`MAX_CLASSES`]), to fill batch
    /// by batch with [`ConfusionMatrix::update`].
    pub fn empty(num_classes: usize) -> Result<Self> {
        if num_classes == 0 || num_classes > MAX_CLASSES {
            return Err(Error::Invalid {
                op: "ConfusionMatrix",
                msg: format!(
                    "num_classes {num_classes} is out of range: it must be positive and at \
                     most {MAX_CLASSES} (MAX_CLASSES)"
                ),
            });
        }
        Ok(ConfusionMatrix {
            num_classes,
            pairs: BTreeMap::new(),
            support: vec![0; num_classes],
            predicted: vec![0; num_classes],
        })
    }

    /// The matrix of `pred` against `target`; every entry must be below `num_classes`.
    pub fn new(pred: &[usize], target: &[usize], num_classes: usize) -> Result<Self> {
        let mut cm = ConfusionMatrix::empty(num_classes)?;
        cm.update(pred, target)?;
        Ok(cm)
    }

    /// Adds the pairs of `pred` and `target`. Validates everything before counting, so
    /// on error the matrix is unchanged.
    pub fn update(&mut self, pred: &[usize], target: &[usize]) -> Result<()> {
        check_pair("ConfusionMatrix", pred, target)?;
        let k = self.num_classes;
        for (name, v) in [("pred", pred), ("target", target)] {
            if let Some((i, c)) = v.iter().enumerate().find(|(_, &c)| c >= k) {
                return Err(Error::Invalid {
                    op: "ConfusionMatrix",
                    msg: format!("{name}[{i}] = {c} is not below num_classes {k}"),
                });
            }
        }
        for (&p, &t) in pred.iter().zip(target) {
            *self.pairs.entry((t, p)).or_default() += 1;
            self.support[t] += 1;
            self.predicted[p] += 1;
        }
        Ok(())
    }

    /// The number of classes (rows and columns).
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// How many samples of class `actual` were predicted as `predicted`; 0 outside the
    /// matrix.
    pub fn counts(&self, actual: usize, predicted: usize) -> usize {
        self.pairs.get(&(actual, predicted)).copied().unwrap_or(0)
    }

    /// The number of samples counted.
    pub fn total(&self) -> usize {
        self.support.iter().sum()
    }

    /// Samples whose actual class is `class` (sklearn's `support`; a row sum); 0 outside
    /// the matrix.
    pub fn support(&self, class: usize) -> usize {
        self.support.get(class).copied().unwrap_or(0)
    }

    /// Samples predicted as `class` (a column sum); 0 outside the matrix.
    pub fn predicted(&self, class: usize) -> usize {
        self.predicted.get(class).copied().unwrap_or(0)
    }

    /// `tp / (tp + fp)` for `class`; 0 when it was never predicted.
    pub fn precision(&self, class: usize) -> f64 {
        ratio(self.counts(class, class), self.predicted(class))
    }

    /// `tp / (tp + fn)` for `class`; 0 when it never occurs.
    pub fn recall(&self, class: usize) -> f64 {
        ratio(self.counts(class, class), self.support(class))
    }

    /// `2·tp / (2·tp + fp + fn)` for `class` (the harmonic mean of precision and recall);
    /// 0 when the class neither occurs nor is predicted.
    pub fn f1(&self, class: usize) -> f64 {
        let tp = self.counts(class, class);
        ratio(2 * tp, self.predicted(class) + self.support(class))
    }

    /// The fraction on the diagonal; 0 for an empty matrix.
    pub fn accuracy(&self) -> f64 {
        let hits = self
            .pairs
            .iter()
            .filter(|((a, p), _)| a == p)
            .map(|(_, &n)| n)
            .sum();
        ratio(hits, self.total())
    }

    /// Classes that occur in the targets or the predictions.
    fn present(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.num_classes).filter(|&c| self.support(c) + self.predicted(c) > 0)
    }

    fn macro_avg(&self, score: impl Fn(usize) -> f64) -> f64 {
        let (sum, n) = self
            .present()
            .fold((0.0, 0usize), |(s, n), c| (s + score(c), n + 1));
        if n == 0 {
            0.0
        } else {
            sum / n as f64
        }
    }

    fn weighted_avg(&self, score: impl Fn(usize) -> f64) -> f64 {
        let total = self.total();
        if total == 0 {
            return 0.0;
        }
        let sum: f64 = (0..self.num_classes)
            .map(|c| self.support(c) as f64 * score(c))
            .sum();
        sum / total as f64
    }

    /// The unweighted mean of per-class precision (sklearn `average="macro"`).
    pub fn macro_precision(&self) -> f64 {
        self.macro_avg(|c| self.precision(c))
    }

    /// The unweighted mean of per-class recall (sklearn `average="macro"`).
    pub fn macro_recall(&self) -> f64 {
        self.macro_avg(|c| self.recall(c))
    }

    /// The unweighted mean of per-class F1 (sklearn `average="macro"`; not the F1 of the
    /// macro precision and recall).
    pub fn macro_f1(&self) -> f64 {
        self.macro_avg(|c| self.f1(c))
    }

    /// Per-class precision weighted by support (sklearn `average="weighted"`).
    pub fn weighted_precision(&self) -> f64 {
        self.weighted_avg(|c| self.precision(c))
    }

    /// Per-class recall weighted by support (sklearn `average="weighted"`).
    pub fn weighted_recall(&self) -> f64 {
        self.weighted_avg(|c| self.recall(c))
    }

    /// Per-class F1 weighted by support (sklearn `average="weighted"`).
    pub fn weighted_f1(&self) -> f64 {
        self.weighted_avg(|c| self.f1(c))
    }
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

impl fmt::Display for ConfusionMatrix {
    /// A table: one row per actual class, one column per predicted class (all
    /// `num_classes²` cells, so for matrices meant to be read).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const CORNER: &str = "actual \\ predicted";
        let k = self.num_classes;
        let widest = self.pairs.values().max().copied().unwrap_or(0).max(k);
        let w = widest.to_string().len() + 2;
        write!(f, "{CORNER}")?;
        for p in 0..k {
            write!(f, "{p:>w$}")?;
        }
        for a in 0..k {
            write!(f, "\n{a:>width$}", width = CORNER.len())?;
            for p in 0..k {
                write!(f, "{:>w$}", self.counts(a, p))?;
            }
        }
        Ok(())
    }
}

/// The area under the ROC curve of `scores` for binary `labels` (sklearn
/// `roc_auc_score`): the probability that a random positive scores above a random
/// negative, ties counting one half (the Mann–Whitney U statistic over `P·N`, computed from
/// average ranks in `O(n log n)`). Errors when the lengths differ, a score is NaN, or only
/// one class is present. Infinite scores are fine.
///
/// ```
/// # fn main() -> lamina_data::Result<()> {
/// // sklearn's docs example: 0.75.
/// let auc = lamina_data::metrics::roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true])?;
/// assert!((auc - 0.75).abs() < 1e-12);
/// # Ok(()) }
/// ```
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Result<f64> {
    const OP: &str = "roc_auc";
    if scores.len() != labels.len() {
        return Err(Error::Invalid {
            op: OP,
            msg: format!(
                "scores has {} entries but labels has {}",
                scores.len(),
                labels.len()
            ),
        });
    }
    if let Some(i) = scores.iter().position(|s| s.is_nan()) {
        return Err(Error::Invalid {
            op: OP,
            msg: format!("scores[{i}] is NaN"),
        });
    }
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return Err(Error::Invalid {
            op: OP,
            msg: format!(
                "needs both classes, got {pos} positive and {neg} negative labels; \
                 ROC AUC is undefined"
            ),
        });
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        let pos_in_run = order[i..j].iter().filter(|&&o| labels[o]).count();
        rank_sum += avg_rank * pos_in_run as f64;
        i = j;
    }
    let (p, n) = (pos as f64, neg as f64);
    Ok((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Mean and spread of repeated scores, e.g. k-fold accuracies. `std` is the population
/// standard deviation, `sqrt(Σ(x - mean)² / n)`, numpy's default `np.std` (`ddof=0`), not
/// pandas' sample one. No values give NaN for both, as numpy does.
///
/// ```
/// use lamina_data::metrics::MeanStd;
/// let s = MeanStd::of(&[0.97, 0.99]);
/// assert_eq!(s.to_string(), "0.9800 ± 0.0100");
/// assert_eq!(format!("{s:.2}"), "0.98 ± 0.01");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanStd {
    /// Arithmetic mean.
    pub mean: f64,
    /// Population standard deviation (`ddof = 0`).
    pub std: f64,
    /// Number of values.
    pub n: usize,
}

impl MeanStd {
    /// Mean and population std of `values` (two passes, for accuracy).
    pub fn of(values: &[f64]) -> MeanStd {
        let n = values.len();
        if n == 0 {
            return MeanStd {
                mean: f64::NAN,
                std: f64::NAN,
                n,
            };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        MeanStd {
            mean,
            std: var.sqrt(),
            n,
        }
    }
}

impl fmt::Display for MeanStd {
    /// `mean ± std`, 4 decimals unless the format asks for another precision.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = f.precision().unwrap_or(4);
        write!(f, "{:.p$} ± {:.p$}", self.mean, self.std)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_a_table() {
        let cm = ConfusionMatrix::new(&[0, 1, 1], &[0, 1, 0], 2).unwrap();
        let text = cm.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        // Row 0: one 0->0, one 0->1; row 1: one 1->1.
        assert!(lines[1].trim_start().starts_with('0'));
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["0", "1", "1"]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["1", "0", "1"]
        );
    }

    #[test]
    fn update_rejects_bad_input_without_counting() {
        let mut cm = ConfusionMatrix::empty(2).unwrap();
        let err = cm.update(&[0, 2], &[0, 1]).unwrap_err().to_string();
        assert!(err.contains("pred[1] = 2") && err.contains("2"), "{err}");
        assert_eq!(cm.total(), 0);
        assert!(cm.update(&[0], &[0, 1]).is_err());
        assert!(ConfusionMatrix::empty(0).is_err());
    }

    #[test]
    fn mean_std_matches_numpy() {
        // np.mean([1, 2, 3, 4]) = 2.5, np.std([1, 2, 3, 4]) = sqrt(1.25) = 1.118033988749895.
        let s = MeanStd::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s.mean, 2.5);
        assert!((s.std - 1.118_033_988_749_895).abs() < 1e-15);
        assert_eq!(s.n, 4);
        assert!(MeanStd::of(&[]).mean.is_nan());
    }
}

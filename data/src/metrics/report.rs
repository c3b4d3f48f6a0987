//! [`ClassificationReport`]: per-class precision, recall, F1 and support, the accuracy,
//! and the macro and weighted averages, built on [`ConfusionMatrix`] and printed in
//! scikit-learn's `classification_report` text layout, so the two can be read side by
//! side (and are compared character for character in `data/tests/sklearn_reference.rs`).

use std::fmt;

use super::ConfusionMatrix;
use crate::{Error, Result};

/// One class's row of a [`ClassificationReport`].
#[derive(Clone, Debug, PartialEq)]
pub struct ClassScores {
    /// The class index.
    pub class: usize,
    /// The row's heading: the class index as text, or the name given with
    /// [`ClassificationReport::with_names`].
    pub name: String,
    /// `tp / (tp + fp)`, 0 when the class is never predicted.
    pub precision: f64,
    /// `tp / (tp + fn)`, 0 when the class never occurs.
    pub recall: f64,
    /// The harmonic mean of precision and recall, 0 when both are 0.
    pub f1: f64,
    /// How many samples have this class as their target.
    pub support: usize,
}

/// Precision, recall and F1 averaged over the classes of a report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Averages {
    /// Averaged precision.
    pub precision: f64,
    /// Averaged recall.
    pub recall: f64,
    /// Averaged F1 (the average of per-class F1, not the F1 of the averages).
    pub f1: f64,
}

/// scikit-learn's `classification_report`: one row per class (the classes that occur in
/// the targets or the predictions, ascending, as sklearn's `unique_labels`), then the
/// accuracy, the macro average (unweighted over those classes) and the weighted average
/// (weighted by support). Scores follow sklearn's `zero_division=0` (see
/// [`ConfusionMatrix`]).
///
/// `Display` writes sklearn's text exactly, final newline included: 2 decimals by
/// default, as sklearn's `digits=2`; a precision in the format (`{:.4}`) or
/// [`with_digits`](Self::with_digits) asks for more.
///
/// ```
/// use lamina_data::metrics::classification_report;
/// # fn main() -> lamina_data::Result<()> {
/// // sklearn's docs example: y_true = [0, 1, 2, 2, 2], y_pred = [0, 0, 2, 2, 1].
/// let report = classification_report(&[0, 0, 2, 2, 1], &[0, 1, 2, 2, 2])?
///     .with_names(&["class 0", "class 1", "class 2"])?;
/// let expected = [
///     "              precision    recall  f1-score   support",
///     "",
///     "     class 0       0.50      1.00      0.67         1",
///     "     class 1       0.00      0.00      0.00         1",
///     "     class 2       1.00      0.67      0.80         3",
///     "",
///     "    accuracy                           0.60         5",
///     "   macro avg       0.50      0.56      0.49         5",
///     "weighted avg       0.70      0.60      0.61         5",
///     "",
/// ];
/// assert_eq!(report.to_string(), expected.join("\n"));
/// assert_eq!(report.classes[2].support, 3);
/// assert!((report.macro_avg.f1 - (2.0 / 3.0 + 0.8) / 3.0).abs() < 1e-12);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ClassificationReport {
    /// One row per class present in the targets or the predictions, ascending.
    pub classes: Vec<ClassScores>,
    /// The fraction of samples predicted right.
    pub accuracy: f64,
    /// The unweighted mean over `classes` (sklearn `average="macro"`).
    pub macro_avg: Averages,
    /// The support-weighted mean over `classes` (sklearn `average="weighted"`).
    pub weighted_avg: Averages,
    /// The number of samples.
    pub total: usize,
    /// Decimals printed by `Display` when the format gives no precision.
    pub digits: usize,
}

/// The [`ClassificationReport`] of `pred` against `target` (class indices; note the order,
/// as every function of [`metrics`](crate::metrics), where sklearn takes `y_true`
/// first). Errors when the lengths differ, both are empty, or a class is
/// [`MAX_CLASSES`](crate::MAX_CLASSES) or more.
pub fn classification_report(pred: &[usize], target: &[usize]) -> Result<ClassificationReport> {
    if pred.is_empty() && target.is_empty() {
        return Err(Error::Invalid {
            op: "classification_report",
            msg: "needs at least one prediction, got none".into(),
        });
    }
    let k = pred
        .iter()
        .chain(target)
        .max()
        .map_or(1, |&m| m.saturating_add(1));
    let cm = ConfusionMatrix::new(pred, target, k)?;
    Ok(ClassificationReport::from_confusion(&cm))
}

impl ClassificationReport {
    /// The report of a filled confusion matrix.
    pub fn from_confusion(cm: &ConfusionMatrix) -> ClassificationReport {
        let classes = (0..cm.num_classes())
            .filter(|&c| cm.support(c) + cm.predicted(c) > 0)
            .map(|c| ClassScores {
                class: c,
                name: c.to_string(),
                precision: cm.precision(c),
                recall: cm.recall(c),
                f1: cm.f1(c),
                support: cm.support(c),
            })
            .collect();
        ClassificationReport {
            classes,
            accuracy: cm.accuracy(),
            macro_avg: Averages {
                precision: cm.macro_precision(),
                recall: cm.macro_recall(),
                f1: cm.macro_f1(),
            },
            weighted_avg: Averages {
                precision: cm.weighted_precision(),
                recall: cm.weighted_recall(),
                f1: cm.weighted_f1(),
            },
            total: cm.total(),
            digits: 2,
        }
    }

    /// Names the rows: `names[c]` heads class `c`'s row (sklearn's `target_names`, here
    /// indexed by class, so it needs a name for every class up to the largest present).
    pub fn with_names<S: AsRef<str>>(mut self, names: &[S]) -> Result<ClassificationReport> {
        if let Some(row) = self.classes.iter().find(|r| r.class >= names.len()) {
            return Err(Error::Invalid {
                op: "ClassificationReport::with_names",
                msg: format!(
                    "class {} has no name: {} names were given, one per class 0..{} is needed",
                    row.class,
                    names.len(),
                    self.classes.last().map_or(0, |r| r.class + 1)
                ),
            });
        }
        for row in &mut self.classes {
            row.name = names[row.class].as_ref().to_string();
        }
        Ok(self)
    }

    /// Prints `digits` decimals (sklearn's `digits`; the default is 2).
    pub fn with_digits(mut self, digits: usize) -> ClassificationReport {
        self.digits = digits;
        self
    }
}

impl fmt::Display for ClassificationReport {
    /// sklearn's layout: the headings right-aligned in a column as wide as the longest
    /// of the row names, `weighted avg` and `digits`; each number in 9 characters after
    /// two spaces; blank lines after the header and after the class rows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = f.precision().unwrap_or(self.digits);
        const LAST: &str = "weighted avg";
        let w = self
            .classes
            .iter()
            .map(|r| r.name.chars().count())
            .chain([LAST.len(), d])
            .max()
            .unwrap_or(0);
        let heading = |f: &mut fmt::Formatter<'_>, name: &str| {
            let pad = w.saturating_sub(name.chars().count());
            write!(f, "{:pad$}{name} ", "")
        };
        heading(f, "")?;
        for h in ["precision", "recall", "f1-score", "support"] {
            write!(f, " {h:>9}")?;
        }
        f.write_str("\n\n")?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, p: f64, r: f64, f1: f64, n: usize| {
            heading(f, name)?;
            writeln!(f, " {p:>9.d$} {r:>9.d$} {f1:>9.d$} {n:>9}")
        };
        for c in &self.classes {
            row(f, &c.name, c.precision, c.recall, c.f1, c.support)?;
        }
        f.write_str("\n")?;
        heading(f, "accuracy")?;
        writeln!(
            f,
            " {:>9} {:>9} {:>9.d$} {:>9}",
            "", "", self.accuracy, self.total
        )?;
        let (m, wt) = (self.macro_avg, self.weighted_avg);
        row(f, "macro avg", m.precision, m.recall, m.f1, self.total)?;
        row(f, LAST, wt.precision, wt.recall, wt.f1, self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_cover_every_class_present() {
        let r = classification_report(&[0, 2], &[0, 1]).unwrap();
        let e = r.with_names(&["a", "b"]).unwrap_err().to_string();
        assert!(e.contains("class 2 has no name: 2 names were given"), "{e}");
        assert!(classification_report(&[], &[]).is_err());
        assert!(classification_report(&[0], &[0, 1]).is_err());
    }

    #[test]
    fn a_long_name_widens_the_heading_column_and_digits_follow_the_format() {
        // Hand-computed: class 0 precision 1/2, recall 1, F1 2/3; class 1 all 0.
        let r = classification_report(&[0, 0], &[0, 1])
            .unwrap()
            .with_names(&["a rather long class name", "b"])
            .unwrap();
        let text = format!("{r:.3}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[2],
            "a rather long class name      0.500     1.000     0.667         1"
        );
        assert_eq!(lines[3].len(), lines[2].len());
        assert!(lines[3].starts_with(&format!("{:>24} ", "b")), "{text}");
        assert_eq!(
            lines[5].trim_start(),
            format!("accuracy {:20}{:>10.3} {:>9}", "", 0.5, 2)
        );
    }
}

//! [`Metric`]: the scores a user asks [`Trainer::evaluate`](crate::Trainer::evaluate) and
//! [`CrossValidation`](crate::CrossValidation) for, computed from a whole pass's outputs
//! and targets with `lamina_data::metrics` (exact counts on the host, in `f64`).
//!
//! Names follow scikit-learn's scorer strings (`"accuracy"`, `"f1_macro"`, `"roc_auc"`),
//! except that the regression errors are reported as they are (`"mse"`, `"mae"`, lower is
//! better) rather than negated.

use lamina_data::metrics::{argmax_rows, labels_of, roc_auc, ConfusionMatrix};
use lamina_tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::predict::{classes, probabilities};

/// A score of a model's outputs against the targets.
///
/// Classification metrics read the outputs as [`classes`](crate::classes) does (`[N, C]`
/// scores by argmax; one logit per sample by its sign) and the targets as class indices
/// (`[N]`/`[N, 1]`, integer or whole-number floats) or one-hot rows (`[N, C]`). Precision,
/// recall and F1 follow scikit-learn's `zero_division=0`, and macro averages run over the
/// classes present in the targets or predictions, as scikit-learn's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// The fraction classified right (`accuracy`).
    Accuracy,
    /// Precision averaged over classes, unweighted (`precision_macro`).
    PrecisionMacro,
    /// Recall averaged over classes, unweighted (`recall_macro`).
    RecallMacro,
    /// F1 averaged over classes, unweighted (`f1_macro`).
    F1Macro,
    /// Precision averaged over classes, weighted by support (`precision_weighted`).
    PrecisionWeighted,
    /// Recall averaged over classes, weighted by support (`recall_weighted`).
    RecallWeighted,
    /// F1 averaged over classes, weighted by support (`f1_weighted`).
    F1Weighted,
    /// Area under the ROC curve of class 1's probability, for two classes (`roc_auc`):
    /// outputs `[N, 2]` (softmax) or one logit per sample (sigmoid).
    RocAuc,
    /// Mean squared error of the outputs against float targets of as many elements
    /// (`mse`).
    Mse,
    /// Mean absolute error (`mae`).
    Mae,
}

impl Metric {
    /// Every metric, in declaration order.
    pub const ALL: [Metric; 10] = [
        Metric::Accuracy,
        Metric::PrecisionMacro,
        Metric::RecallMacro,
        Metric::F1Macro,
        Metric::PrecisionWeighted,
        Metric::RecallWeighted,
        Metric::F1Weighted,
        Metric::RocAuc,
        Metric::Mse,
        Metric::Mae,
    ];

    /// The scikit-learn-style name: `accuracy`, `f1_macro`, `roc_auc`, `mse`, ...
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::PrecisionMacro => "precision_macro",
            Metric::RecallMacro => "recall_macro",
            Metric::F1Macro => "f1_macro",
            Metric::PrecisionWeighted => "precision_weighted",
            Metric::RecallWeighted => "recall_weighted",
            Metric::F1Weighted => "f1_weighted",
            Metric::RocAuc => "roc_auc",
            Metric::Mse => "mse",
            Metric::Mae => "mae",
        }
    }

    /// Whether a larger value is better (all but the regression errors).
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Metric::Mse | Metric::Mae)
    }

    /// This metric of `outputs` against `targets`.
    ///
    /// ```
    /// use lamina_tensor::Tensor;
    /// use lamina_train::Metric;
    /// let dev = lamina_backend_cpu::device();
    /// let logits = Tensor::from_vec(vec![2.0f32, 0.0, 0.0, 1.0, 3.0, 1.0], [3, 2], &dev)?;
    /// let y = Tensor::from_vec(vec![0i64, 1, 1], [3], &dev)?;
    /// assert_eq!(Metric::Accuracy.compute(&logits, &y)?, 2.0 / 3.0);
    /// // Class 1's probability: row 1 above the negative row 0, row 2 level with it.
    /// assert_eq!(Metric::RocAuc.compute(&logits, &y)?, 0.75);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compute(self, outputs: &Tensor, targets: &Tensor) -> Result<f64> {
        Ok(score(&[self], outputs, targets)?[0].1)
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every metric of `metrics` of `outputs` against `targets`, in that order (the confusion
/// matrix is counted once for all the classification metrics).
pub fn score(metrics: &[Metric], outputs: &Tensor, targets: &Tensor) -> Result<Vec<(Metric, f64)>> {
    let mut confusion: Option<ConfusionMatrix> = None;
    let mut out = Vec::with_capacity(metrics.len());
    for &m in metrics {
        let value = match m {
            Metric::RocAuc => auc(outputs, targets)?,
            Metric::Mse | Metric::Mae => regression(m, outputs, targets)?,
            _ => {
                if confusion.is_none() {
                    confusion = Some(confusion_of(outputs, targets)?);
                }
                let cm = confusion
                    .as_ref()
                    .ok_or_else(|| Error::Config("unreachable".into()))?;
                match m {
                    Metric::Accuracy => cm.accuracy(),
                    Metric::PrecisionMacro => cm.macro_precision(),
                    Metric::RecallMacro => cm.macro_recall(),
                    Metric::F1Macro => cm.macro_f1(),
                    Metric::PrecisionWeighted => cm.weighted_precision(),
                    Metric::RecallWeighted => cm.weighted_recall(),
                    _ => cm.weighted_f1(),
                }
            }
        };
        out.push((m, value));
    }
    Ok(out)
}

/// The class indices of `targets`: labels, or the argmax of one-hot rows shaped like the
/// outputs.
fn target_classes(outputs: &Tensor, targets: &Tensor) -> Result<Vec<usize>> {
    if targets.rank() == 2 && targets.dims()[1] >= 2 && targets.dims() == outputs.dims() {
        Ok(argmax_rows(targets)?)
    } else {
        Ok(labels_of(targets)?)
    }
}

fn confusion_of(outputs: &Tensor, targets: &Tensor) -> Result<ConfusionMatrix> {
    let pred = classes(outputs)?;
    let truth = target_classes(outputs, targets)?;
    let width = match outputs.dims() {
        [_, c] => *c,
        _ => 2,
    };
    let k = pred
        .iter()
        .chain(&truth)
        .map(|&c| c + 1)
        .max()
        .unwrap_or(1)
        .max(width);
    Ok(ConfusionMatrix::new(&pred, &truth, k)?)
}

fn auc(outputs: &Tensor, targets: &Tensor) -> Result<f64> {
    let p = probabilities(outputs)?;
    if p.dims()[1] != 2 {
        return Err(Error::Config(format!(
            "roc_auc is for two classes: the outputs have shape {} ({} classes)",
            outputs.shape(),
            p.dims()[1]
        )));
    }
    let p1 = p.narrow(1, 1, 1)?.to_f64_vec()?;
    let truth = target_classes(outputs, targets)?;
    if let Some(bad) = truth.iter().find(|&&c| c > 1) {
        return Err(Error::Config(format!(
            "roc_auc is for two classes: a target is class {bad}"
        )));
    }
    let positive: Vec<bool> = truth.iter().map(|&c| c == 1).collect();
    Ok(roc_auc(&p1, &positive)?)
}

fn regression(m: Metric, outputs: &Tensor, targets: &Tensor) -> Result<f64> {
    if outputs.elem_count() != targets.elem_count() || outputs.elem_count() == 0 {
        return Err(Error::Config(format!(
            "{m} needs outputs and targets of as many elements (and at least one), got {} and {}",
            outputs.shape(),
            targets.shape()
        )));
    }
    let (o, t) = (outputs.to_f64_vec()?, targets.to_f64_vec()?);
    let n = o.len() as f64;
    let sum: f64 = o
        .iter()
        .zip(&t)
        .map(|(a, b)| {
            if m == Metric::Mse {
                (a - b) * (a - b)
            } else {
                (a - b).abs()
            }
        })
        .sum();
    Ok(sum / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_scores_by_hand() -> Result<()> {
        let dev = lamina_backend_cpu::device();
        // Predictions 0, 1, 1, 2 against targets 0, 1, 2, 2.
        let logits = Tensor::from_vec(
            vec![
                5.0f64, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 5.0,
            ],
            [4, 3],
            &dev,
        )?;
        let y = Tensor::from_vec(vec![0i64, 1, 2, 2], [4], &dev)?;
        let all = score(&Metric::ALL[..7], &logits, &y)?;
        // Per class: precision 1, 1/2, 1; recall 1, 1, 1/2; F1 1, 2/3, 2/3.
        let want = [
            0.75,
            2.5 / 3.0,
            2.5 / 3.0,
            (1.0 + 4.0 / 3.0) / 3.0,
            (1.0 + 0.5 + 2.0) / 4.0,
            (1.0 + 1.0 + 1.0) / 4.0,
            (1.0 + 2.0 / 3.0 + 4.0 / 3.0) / 4.0,
        ];
        for ((m, v), w) in all.iter().zip(want) {
            assert!((v - w).abs() < 1e-12, "{m}: {v} vs {w}");
        }
        // One-hot targets give the same.
        let one_hot =
            lamina_data::transform::one_hot(&[0, 1, 2, 2], 3, lamina_tensor::DType::F32, &dev)?;
        assert_eq!(Metric::Accuracy.compute(&logits, &one_hot)?, 0.75);
        let e = Metric::RocAuc.compute(&logits, &y).unwrap_err().to_string();
        assert!(e.contains("two classes"), "{e}");
        Ok(())
    }

    #[test]
    fn single_logit_and_regression_by_hand() -> Result<()> {
        let dev = lamina_backend_cpu::device();
        let z = Tensor::from_vec(vec![-1.0f32, 0.5, 2.0, -0.1], [4, 1], &dev)?;
        let y = Tensor::from_vec(vec![0.0f32, 1.0, 0.0, 1.0], [4, 1], &dev)?;
        assert_eq!(Metric::Accuracy.compute(&z, &y)?, 0.5);
        // Positives score 0.5 and -0.1, negatives -1 and 2: 2 of 4 pairs ordered right.
        assert_eq!(Metric::RocAuc.compute(&z, &y)?, 0.5);
        // Errors 1, 0.5, 2, 1.1.
        assert!((Metric::Mae.compute(&z, &y)? - 4.6 / 4.0).abs() < 1e-6);
        assert!((Metric::Mse.compute(&z, &y)? - (1.0 + 0.25 + 4.0 + 1.21) / 4.0).abs() < 1e-6);
        let short = Tensor::from_vec(vec![1.0f32], [1], &dev)?;
        assert!(Metric::Mse.compute(&z, &short).is_err());
        assert_eq!(
            serde_json::to_string(&Metric::F1Macro).ok().as_deref(),
            Some("\"f1_macro\"")
        );
        Ok(())
    }
}

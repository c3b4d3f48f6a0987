//! [`Accuracy`]: whether and how the loop scores a batch's outputs against its targets.
//! Counts are exact (correct predictions over samples, summed over the epoch's batches),
//! computed on the host with `lamina_data::metrics`.

use lamina_data::metrics::{argmax_rows, labels_of};
use lamina_tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How the training loop measures accuracy.
///
/// - [`Classes`](Accuracy::Classes) (the default) scores outputs of shape `[N, C]`,
///   `C >= 2`, by their row-wise argmax against targets holding class indices (`[N]` or
///   `[N, 1]`, integer or whole-number floats) or one-hot/probability rows (`[N, C]`).
///   For any other output shape, or targets that are not class labels (a regression),
///   the epoch's accuracy is simply not recorded.
/// - [`Binary`](Accuracy::Binary) scores one output per sample (`[N]` or `[N, 1]`):
///   predicted class 1 when the output is above `threshold` (0 for logits, 0.5 for
///   probabilities), against targets that are 1 when `>= 0.5`.
/// - [`Off`](Accuracy::Off) records none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Accuracy {
    /// No accuracy.
    Off,
    /// Argmax over class scores `[N, C]`.
    #[default]
    Classes,
    /// One score per sample, thresholded.
    Binary {
        /// An output above this predicts class 1.
        threshold: f64,
    },
}

impl Accuracy {
    /// How many of the batch's `n` samples `outputs` predicts correctly, or `None` when
    /// accuracy is off or does not apply to these shapes (see the type's docs).
    pub fn correct(self, outputs: &Tensor, targets: &Tensor) -> Result<Option<usize>> {
        match self {
            Accuracy::Off => Ok(None),
            Accuracy::Classes => classes(outputs, targets),
            Accuracy::Binary { threshold } => binary(outputs, targets, threshold).map(Some),
        }
    }
}

fn classes(outputs: &Tensor, targets: &Tensor) -> Result<Option<usize>> {
    if outputs.rank() != 2 || outputs.dims()[1] < 2 {
        return Ok(None);
    }
    let pred = argmax_rows(outputs)?;
    let truth = if targets.dims() == outputs.dims() {
        argmax_rows(targets)?
    } else {
        match labels_of(targets) {
            Ok(labels) => labels,
            // Not class labels (regression targets): accuracy does not apply.
            Err(_) => return Ok(None),
        }
    };
    if truth.len() != pred.len() {
        return Ok(None);
    }
    Ok(Some(
        pred.iter().zip(&truth).filter(|(p, t)| p == t).count(),
    ))
}

fn binary(outputs: &Tensor, targets: &Tensor, threshold: f64) -> Result<usize> {
    let n = outputs.dims().first().copied().unwrap_or(1);
    let one_per_sample = |t: &Tensor| t.elem_count() == n && t.rank() <= 2;
    if !one_per_sample(outputs) || !one_per_sample(targets) || targets.elem_count() != n {
        return Err(Error::Config(format!(
            "binary accuracy needs one output and one target per sample ([N] or [N, 1]), \
             got outputs {} and targets {}",
            outputs.shape(),
            targets.shape()
        )));
    }
    let scores = outputs.to_f64_vec()?;
    let labels = targets.to_f64_vec()?;
    Ok(scores
        .iter()
        .zip(&labels)
        .filter(|(s, t)| (**s > threshold) == (**t >= 0.5))
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamina_tensor::Tensor;

    #[test]
    fn class_scores_against_labels_one_hot_and_regression() -> Result<()> {
        let dev = lamina_backend_cpu::device();
        let logits = Tensor::from_vec(vec![2.0f32, 1.0, 0.0, 3.0, 5.0, 1.0], [3, 2], &dev)?;
        let labels = Tensor::from_vec(vec![0i64, 1, 1], [3], &dev)?;
        assert_eq!(Accuracy::Classes.correct(&logits, &labels)?, Some(2));
        let one_hot = Tensor::from_vec(vec![1.0f32, 0.0, 0.0, 1.0, 1.0, 0.0], [3, 2], &dev)?;
        assert_eq!(Accuracy::Classes.correct(&logits, &one_hot)?, Some(3));
        let real = Tensor::from_vec(vec![0.5f32, 1.25, -3.0], [3], &dev)?;
        assert_eq!(Accuracy::Classes.correct(&logits, &real)?, None);
        let column = Tensor::from_vec(vec![0.5f32, 1.25, -3.0], [3, 1], &dev)?;
        assert_eq!(Accuracy::Classes.correct(&column, &real)?, None);
        assert_eq!(Accuracy::Off.correct(&logits, &labels)?, None);
        Ok(())
    }

    #[test]
    fn binary_thresholds_one_score_per_sample() -> Result<()> {
        let dev = lamina_backend_cpu::device();
        let logits = Tensor::from_vec(vec![-1.0f32, 0.5, 2.0, -0.1], [4, 1], &dev)?;
        let y = Tensor::from_vec(vec![0.0f32, 1.0, 0.0, 1.0], [4, 1], &dev)?;
        let acc = Accuracy::Binary { threshold: 0.0 };
        assert_eq!(acc.correct(&logits, &y)?, Some(2));
        let wide = Tensor::zeros([4, 2], lamina_tensor::DType::F32, &dev)?;
        let e = acc.correct(&wide, &y).unwrap_err().to_string();
        assert!(e.contains("one output and one target per sample"), "{e}");
        Ok(())
    }
}

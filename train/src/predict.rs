//! Inference: a trained model's outputs, probabilities and classes for new rows, batched,
//! in evaluation mode and with nothing recorded for autograd.
//!
//! How these map to scikit-learn's estimator methods:
//!
//! | scikit-learn                    | Lamina                                                  |
//! |---------------------------------|---------------------------------------------------------|
//! | `decision_function(X)` (scores) | [`predict`]: the model's raw outputs (logits)           |
//! | `predict(X)` of a regressor     | [`predict`]                                             |
//! | `predict_proba(X)`              | [`predict_proba`] ([`probabilities`] of outputs)        |
//! | `predict(X)` of a classifier    | [`predict_classes`] ([`classes`] of outputs)            |
//!
//! Every function puts the model in evaluation mode for the pass and back in the mode it
//! was in afterwards, also on error (see `Module::training_mode`; a model that does not
//! report its mode goes back to training mode, as `Trainer::fit` leaves it).

use lamina_autograd::no_grad;
use lamina_data::metrics::argmax_rows;
use lamina_data::DataLoader;
use lamina_nn::Module;
use lamina_tensor::Tensor;

use crate::error::{At, Context, Error, Phase, Result};

/// Runs `f` with `model` in evaluation mode and nothing recorded, then puts the mode back.
pub(crate) fn in_eval_mode<M: Module + ?Sized, T>(
    model: &mut M,
    f: impl FnOnce(&mut M) -> Result<T>,
) -> Result<T> {
    let was_training = model.training_mode().unwrap_or(true);
    model.eval();
    let result = no_grad(|| f(model));
    model.set_training(was_training);
    result
}

/// The model's outputs for every row of `x` (dim 0 indexes the samples), `batch_size`
/// rows at a time, concatenated along dim 0.
///
/// ```
/// use lamina_nn::{Linear, Module};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let mut model = Linear::builder(3, 2).seed(0).build(&dev)?;
/// let x = Tensor::rand(1, [10, 3], DType::F32, &dev)?;
/// let out = lamina_train::predict(&mut model, &x, 4)?;   // batches of 4, 4 and 2 rows
/// assert_eq!(out.dims(), [10, 2]);
/// assert_eq!(out.to_vec::<f32>()?, model.forward(&x)?.to_vec::<f32>()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn predict<M: Module + ?Sized>(model: &mut M, x: &Tensor, batch_size: usize) -> Result<Tensor> {
    if batch_size == 0 {
        return Err(Error::Config("predict: batch_size must be positive".into()));
    }
    if x.rank() == 0 {
        return Err(Error::Config(format!(
            "predict: the inputs need a sample dimension (dim 0), got shape {}",
            x.shape()
        )));
    }
    in_eval_mode(model, |model| {
        let n = x.dims()[0];
        let mut parts = Vec::with_capacity(n.div_ceil(batch_size));
        for (b, start) in (0..n).step_by(batch_size).enumerate() {
            let at = Context::new(Phase::Evaluation, None, Some(b));
            let rows = x.narrow(0, start, batch_size.min(n - start)).at(at)?;
            parts.push(model.forward(&rows).at(at)?);
        }
        if parts.is_empty() {
            // No rows: the output's shape after dim 0 is unknown without a forward.
            return Ok(model.forward(x)?);
        }
        Ok(Tensor::cat(&parts.iter().collect::<Vec<_>>(), 0)?)
    })
}

/// What [`predict_loader`] returns: the outputs, targets and data-set indices of every
/// batch of a loader's epoch 0, in the loader's order.
#[derive(Clone, Debug)]
pub struct Predictions {
    /// The model's outputs, rows in loader order.
    pub outputs: Tensor,
    /// The batches' targets, in the same order.
    pub targets: Tensor,
    /// Each row's index in the loader's data set (the identity for a loader without
    /// shuffle or sampler).
    pub indices: Vec<usize>,
}

/// [`predict`] over a [`DataLoader`]: every batch of its epoch 0 (so a shuffling loader
/// gives its rows in shuffled order; `indices` says which row is which).
pub fn predict_loader<M: Module + ?Sized>(
    model: &mut M,
    loader: &DataLoader,
) -> Result<Predictions> {
    in_eval_mode(model, |model| {
        let (mut outputs, mut targets, mut indices) = (Vec::new(), Vec::new(), Vec::new());
        for (b, batch) in loader.epoch(0).enumerate() {
            let at = Context::new(Phase::Evaluation, None, Some(b));
            let batch = batch.at(at)?;
            outputs.push(model.forward(&batch.inputs).at(at)?);
            targets.push(batch.targets);
            indices.extend(batch.indices);
        }
        if outputs.is_empty() {
            return Err(Error::Config(
                "predict_loader: the loader yields no batches (empty data set?)".into(),
            ));
        }
        Ok(Predictions {
            outputs: Tensor::cat(&outputs.iter().collect::<Vec<_>>(), 0)?,
            targets: Tensor::cat(&targets.iter().collect::<Vec<_>>(), 0)?,
            indices,
        })
    })
}

/// Class probabilities from a classifier's outputs (scikit-learn's `predict_proba`
/// layout, one column per class):
///
/// - `[N, C]` scores, `C >= 2`: `softmax` over the classes;
/// - one logit per sample, `[N, 1]` or `[N]` (a binary model trained with
///   `binary_cross_entropy_with_logits`): `[N, 2]` holding `[sigmoid(-z), sigmoid(z)]`,
///   the probabilities of class 0 and class 1, as scikit-learn's binary classifiers give.
///
/// ```
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let z = Tensor::from_vec(vec![0.0f64, 2.0], [2, 1], &dev)?;
/// let p = lamina_train::probabilities(&z)?.to_vec::<f64>()?;
/// let s = 1.0 / (1.0 + (-2.0f64).exp());
/// assert_eq!(p[..2], [0.5, 0.5]);
/// assert!((p[2] - (1.0 - s)).abs() < 1e-15 && (p[3] - s).abs() < 1e-15);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn probabilities(outputs: &Tensor) -> Result<Tensor> {
    match outputs.dims() {
        [_, c] if *c >= 2 => Ok(outputs.softmax(-1)?),
        [n, 1] | [n] => {
            let z = outputs.reshape([*n, 1])?;
            Ok(Tensor::cat(&[&z.neg()?.sigmoid()?, &z.sigmoid()?], 1)?)
        }
        _ => Err(Error::Config(format!(
            "probabilities: needs [N, C] class scores or one logit per sample ([N] or [N, 1]), \
             got shape {}",
            outputs.shape()
        ))),
    }
}

/// The predicted class of each row of a classifier's outputs (scikit-learn's `predict`
/// of a classifier): the argmax of `[N, C]` scores (the first on ties), or, for one logit
/// per sample (`[N]`, `[N, 1]`), class 1 when the logit is above 0 (probability above
/// one half).
pub fn classes(outputs: &Tensor) -> Result<Vec<usize>> {
    match outputs.dims() {
        [_, c] if *c >= 2 => Ok(argmax_rows(outputs)?),
        [_, 1] | [_] => Ok(outputs
            .to_f64_vec()?
            .into_iter()
            .map(|z| usize::from(z > 0.0))
            .collect()),
        _ => Err(Error::Config(format!(
            "classes: needs [N, C] class scores or one logit per sample ([N] or [N, 1]), \
             got shape {}",
            outputs.shape()
        ))),
    }
}

/// [`probabilities`] of [`predict`]'s outputs: scikit-learn's `predict_proba`.
pub fn predict_proba<M: Module + ?Sized>(
    model: &mut M,
    x: &Tensor,
    batch_size: usize,
) -> Result<Tensor> {
    probabilities(&predict(model, x, batch_size)?)
}

/// [`classes`] of [`predict`]'s outputs: scikit-learn's `predict` of a classifier.
pub fn predict_classes<M: Module + ?Sized>(
    model: &mut M,
    x: &Tensor,
    batch_size: usize,
) -> Result<Vec<usize>> {
    classes(&predict(model, x, batch_size)?)
}

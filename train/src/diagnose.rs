//! Where a NaN or infinite loss came from. Only run once a batch's loss is not finite, so
//! the normal path pays nothing: the input batch, the targets (when float), the
//! parameters the forward used, the model's output and finally the loss are searched in
//! that order, and the first non-finite value found is named in [`Error::NonFinite`].

use lamina_data::Batch;
use lamina_nn::Module;
use lamina_tensor::Tensor;

use crate::error::{Error, NonFiniteAt, Phase, Result};

/// The first non-finite element of a float tensor: `(flat position, value)`.
fn first_non_finite(t: &Tensor) -> Result<Option<(usize, f64)>> {
    if !t.dtype().is_float() {
        return Ok(None);
    }
    Ok(t.to_f64_vec()?
        .into_iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite()))
}

/// The first non-finite element of a batch-major tensor as `(sample, element, value)`.
fn first_in_rows(t: &Tensor) -> Result<Option<(usize, usize, f64)>> {
    let per_sample = match t.dims().first() {
        Some(&n) if n > 0 => t.elem_count() / n,
        _ => 1,
    }
    .max(1);
    Ok(first_non_finite(t)?.map(|(i, v)| (i / per_sample, i % per_sample, v)))
}

/// The error for batch `b` of `epoch` whose loss was `loss`, naming where the first
/// non-finite value appeared.
pub(crate) fn non_finite<M: Module + ?Sized>(
    phase: Phase,
    epoch: usize,
    b: usize,
    batch: &Batch,
    model: &M,
    output: &Tensor,
    loss: f64,
) -> Result<Error> {
    let index = |sample: usize| batch.indices.get(sample).copied();
    let at = if let Some((sample, element, value)) = first_in_rows(&batch.inputs)? {
        NonFiniteAt::Input {
            sample,
            index: index(sample),
            element,
            value,
        }
    } else if let Some((sample, element, value)) = first_in_rows(&batch.targets)? {
        NonFiniteAt::Target {
            sample,
            index: index(sample),
            element,
            value,
        }
    } else if let Some((name, element, value)) = first_in_parameters(model)? {
        NonFiniteAt::Parameter {
            name,
            element,
            value,
        }
    } else if let Some((sample, element, value)) = first_in_rows(output)? {
        NonFiniteAt::Output {
            sample,
            index: index(sample),
            element,
            value,
        }
    } else {
        NonFiniteAt::Loss { value: loss }
    };
    Ok(Error::NonFinite {
        epoch,
        batch: b,
        phase,
        at,
    })
}

fn first_in_parameters<M: Module + ?Sized>(model: &M) -> Result<Option<(String, usize, f64)>> {
    for (name, p) in model.named_parameters() {
        if let Some((element, value)) = first_non_finite(&p)? {
            return Ok(Some((name, element, value)));
        }
    }
    Ok(None)
}

//! Transforms: fitted column transforms for tabular `[N, F]` data, label encoding, missing
//! values, and random image augmentation for `[N, C, H, W]` batches.
//!
//! - [`scale`]: [`StandardScaler`] and [`MinMaxScaler`], fitted on the training split and
//!   applied to every split, with inverses; serde-serialisable (`to_json` / `from_json`).
//! - [`missing`]: [`Imputer`] (mean, median or a constant per column) and
//!   [`drop_rows_with_nan`].
//! - [`encode`]: [`one_hot`] for class labels.
//! - [`augment`]: the [`Augment`] trait and [`RandomCrop`], [`RandomHorizontalFlip`],
//!   [`RandomShift`], [`GaussianNoise`], [`Compose`]; randomness only from a
//!   [`crate::Rng`], so a seed reproduces a batch exactly.
//!
//! Fitting reads the data to the host in `f64` (statistics are exact enough there for
//! any dtype); applying a column transform is tensor arithmetic with broadcasting, so it
//! runs on the tensor's device and keeps its dtype.

pub mod augment;
pub mod encode;
pub mod missing;
pub mod scale;

pub use augment::{Augment, Compose, GaussianNoise, RandomCrop, RandomHorizontalFlip, RandomShift};
pub use encode::one_hot;
pub use missing::{drop_rows_with_nan, ImputeStrategy, Imputer};
#[allow(deprecated)]
pub use scale::{MinMaxScale, Standardize};
pub use scale::{MinMaxScaler, StandardScaler};

use lamina_tensor::{HostData, Tensor};

use crate::{Error, Result};

/// `(rows, cols)` of a float `[N, F]` matrix, else a [`Error::Transform`] for `op`.
pub(crate) fn matrix_dims(x: &Tensor, op: &'static str) -> Result<(usize, usize)> {
    if !x.dtype().is_float() {
        return Err(Error::Transform {
            op,
            msg: format!("needs a float tensor, got {}", x.dtype()),
        });
    }
    match x.dims() {
        &[rows, cols] => Ok((rows, cols)),
        _ => Err(Error::Transform {
            op,
            msg: format!("needs an [N, F] matrix, got shape {}", x.shape()),
        }),
    }
}

/// Checks that `x` is `[N, fitted]` and float.
pub(crate) fn check_cols(x: &Tensor, fitted: usize, op: &'static str) -> Result<()> {
    let (_, cols) = matrix_dims(x, op)?;
    if cols != fitted {
        return Err(Error::Transform {
            op,
            msg: format!(
                "fitted on {fitted} columns, got shape {} ({cols} columns)",
                x.shape()
            ),
        });
    }
    Ok(())
}

/// A per-column vector as a `[1, F]` tensor of `like`'s dtype and device, to broadcast.
pub(crate) fn row_tensor(values: &[f64], like: &Tensor) -> Result<Tensor> {
    let data = HostData::from_f64_vec(values, like.dtype());
    Ok(Tensor::from_host(data, [1, values.len()], like.device())?)
}

/// Fails on the first NaN or infinity, naming its column and row.
pub(crate) fn check_finite(data: &[f64], cols: usize, op: &'static str) -> Result<()> {
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(k) => Err(Error::Transform {
            op,
            msg: format!(
                "column {} holds {} at row {}; impute or drop missing values before fitting",
                k % cols,
                data[k],
                k / cols
            ),
        }),
    }
}

/// Checks a host matrix's length against `cols` and that it has at least one row.
pub(crate) fn check_rows(data: &[f64], cols: usize, op: &'static str) -> Result<usize> {
    if cols == 0 || !data.len().is_multiple_of(cols) {
        return Err(Error::Transform {
            op,
            msg: format!("{} values do not form rows of {cols} columns", data.len()),
        });
    }
    let rows = data.len() / cols;
    if rows == 0 {
        return Err(Error::Transform {
            op,
            msg: "cannot fit on zero rows".into(),
        });
    }
    Ok(rows)
}

/// `serde_json::to_string` with the error as [`Error::Serde`].
pub(crate) fn to_json<T: serde::Serialize>(value: &T, what: &'static str) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Serde {
        what,
        msg: e.to_string(),
    })
}

/// `serde_json::from_str` with the error as [`Error::Serde`].
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    json: &str,
    what: &'static str,
) -> Result<T> {
    serde_json::from_str(json).map_err(|e| Error::Serde {
        what,
        msg: e.to_string(),
    })
}

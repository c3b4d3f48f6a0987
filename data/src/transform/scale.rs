//! Column scaling fitted on training data: [`StandardScaler`] (zero mean, unit variance) and
//! [`MinMaxScaler`] (to a range), each with its inverse, matching scikit-learn's
//! `StandardScaler` and `MinMaxScalerr` (constant columns included).

use lamina_tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{check_cols, check_finite, check_rows, from_json, matrix_dims, row_tensor, to_json};
use crate::{Error, Result};

/// scikit-learn's test for a constant column (`_is_constant_feature`): the variance is
/// within the rounding error of computing it, `var <= n eps var + (n mean eps)^2`.
fn is_constant(var: f64, mean: f64, n: usize) -> bool {
    let n = n as f64;
    let eps = f64::EPSILON;
    var <= n * eps * var + (n * mean * eps).powi(2)
}

/// Per-column `mean` and `scale` of a row-major host matrix (`cols` columns): the
/// population standard deviation, two-pass for accuracy.
fn column_moments(data: &[f64], rows: usize, cols: usize) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0; cols];
    for row in data.chunks_exact(cols) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= rows as f64);
    let mut var = vec![0.0; cols];
    for row in data.chunks_exact(cols) {
        for ((s, &m), &v) in var.iter_mut().zip(&mean).zip(row) {
            *s += (v - m) * (v - m);
        }
    }
    var.iter_mut().for_each(|s| *s /= rows as f64);
    (mean, var)
}

/// `(x - mean) / scale` per column, with `scale` the population standard deviation
/// (scikit-learn's `StandardScaler`); a constant column gets `scale = 1`, so it maps to 0
/// rather than NaN.
///
/// ```
/// use lamina_data::transform::StandardScaler;
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::from_vec(vec![1.0f64, 5.0, 3.0, 5.0], [2, 2], &dev)?;
/// let s = StandardScaler::fit(&x)?;
/// assert_eq!((s.mean.clone(), s.scale.clone()), (vec![2.0, 5.0], vec![1.0, 1.0]));
/// assert_eq!(s.transform(&x)?.to_vec::<f64>()?, vec![-1.0, 0.0, 1.0, 0.0]);
/// # Ok::<(), lamina_data::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandardScaler {
    /// Per-column mean of the fitting data.
    pub mean: Vec<f64>,
    /// Per-column population standard deviation (1 for constant columns).
    pub scale: Vec<f64>,
}

impl StandardScaler {
    /// Fits on a float `[N, F]` tensor. NaN or infinity is an error naming the column.
    pub fn fit(x: &Tensor) -> Result<StandardScaler> {
        let (_, cols) = matrix_dims(x, "StandardScaler::fit")?;
        StandardScaler::fit_rows(&x.to_f64_vec()?, cols)
    }

    /// Fits on a row-major host matrix with `cols` columns (e.g. `Table::features`).
    pub fn fit_rows(data: &[f64], cols: usize) -> Result<StandardScaler> {
        const OP: &str = "StandardScaler::fit";
        let rows = check_rows(data, cols, OP)?;
        check_finite(data, cols, OP)?;
        let (mean, var) = column_moments(data, rows, cols);
        let scale = var
            .iter()
            .zip(&mean)
            .map(|(&v, &m)| {
                if is_constant(v, m, rows) {
                    1.0
                } else {
                    v.sqrt()
                }
            })
            .collect();
        Ok(StandardScaler { mean, scale })
    }

    /// Number of columns it was fitted on.
    pub fn cols(&self) -> usize {
        self.mean.len()
    }

    /// `(x - mean) / scale` on a float `[N, F]` tensor, on its device, in its dtype.
    pub fn transform(&self, x: &Tensor) -> Result<Tensor> {
        check_cols(x, self.cols(), "StandardScaler::transform")?;
        let mean = row_tensor(&self.mean, x)?;
        let scale = row_tensor(&self.scale, x)?;
        Ok(((x - &mean) / &scale)?)
    }

    /// `x * scale + mean`: undoes [`StandardScaler::transform`].
    pub fn inverse_transform(&self, x: &Tensor) -> Result<Tensor> {
        check_cols(x, self.cols(), "StandardScaler::inverse_transform")?;
        let mean = row_tensor(&self.mean, x)?;
        let scale = row_tensor(&self.scale, x)?;
        Ok((x * &scale + &mean)?)
    }

    /// Fits on `x` and returns the fitted transform with `x` transformed.
    pub fn fit_transform(x: &Tensor) -> Result<(StandardScaler, Tensor)> {
        let s = StandardScaler::fit(x)?;
        let y = s.transform(x)?;
        Ok((s, y))
    }

    /// The fitted parameters as JSON.
    pub fn to_json(&self) -> Result<String> {
        to_json(self, "StandardScaler")
    }

    /// Parses [`StandardScaler::to_json`]'s output, checking the two vectors agree and every
    /// scale is finite and non-zero.
    pub fn from_json(json: &str) -> Result<StandardScaler> {
        let s: StandardScaler = from_json(json, "StandardScaler")?;
        check_params("StandardScaler", &s.scale, &[&s.mean])?;
        Ok(s)
    }
}

/// The former name of [`StandardScaler`].
#[deprecated(note = "renamed StandardScaler, as in scikit-learn")]
pub type Standardize = StandardScaler;

/// The former name of [`MinMaxScaler`].
#[deprecated(note = "renamed MinMaxScaler, as in scikit-learn")]
pub type MinMaxScale = MinMaxScaler;

/// After deserialising: equal lengths, finite values, non-zero scales.
fn check_params(what: &'static str, scale: &[f64], others: &[&[f64]]) -> Result<()> {
    let bad = |msg: String| Err(Error::Serde { what, msg });
    if let Some(o) = others.iter().find(|o| o.len() != scale.len()) {
        return bad(format!(
            "parameter vectors differ in length ({} and {})",
            scale.len(),
            o.len()
        ));
    }
    if let Some(j) = scale.iter().position(|&s| s == 0.0 || !s.is_finite()) {
        return bad(format!("column {j} has scale {}", scale[j]));
    }
    if others.iter().any(|o| o.iter().any(|v| !v.is_finite())) {
        return bad("a parameter is not finite".into());
    }
    Ok(())
}

/// `x * scale + offset` per column, mapping each column's fitted `[min, max]` onto
/// `range` (scikit-learn's `MinMaxScalerr`); a constant column maps to `range.0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinMaxScaler {
    /// The target range `(lo, hi)`, `lo < hi`.
    pub range: (f64, f64),
    /// Per-column minimum of the fitting data.
    pub data_min: Vec<f64>,
    /// Per-column maximum of the fitting data.
    pub data_max: Vec<f64>,
    /// `(hi - lo) / (max - min)`, with `max - min` taken as 1 for a constant column.
    pub scale: Vec<f64>,
    /// `lo - min * scale`.
    pub offset: Vec<f64>,
}

impl MinMaxScaler {
    /// Fits to map every column onto `[0, 1]`.
    pub fn fit(x: &Tensor) -> Result<MinMaxScaler> {
        MinMaxScaler::fit_range(x, (0.0, 1.0))
    }

    /// Fits to map every column onto `[range.0, range.1]`.
    pub fn fit_range(x: &Tensor, range: (f64, f64)) -> Result<MinMaxScaler> {
        let (_, cols) = matrix_dims(x, "MinMaxScaler::fit")?;
        MinMaxScaler::fit_rows(&x.to_f64_vec()?, cols, range)
    }

    /// Fits on a row-major host matrix with `cols` columns.
    pub fn fit_rows(data: &[f64], cols: usize, range: (f64, f64)) -> Result<MinMaxScaler> {
        const OP: &str = "MinMaxScaler::fit";
        let (lo, hi) = range;
        let valid = lo.is_finite() && hi.is_finite() && lo < hi;
        if !valid {
            return Err(Error::Transform {
                op: OP,
                msg: format!("the range must be finite with lo < hi, got ({lo}, {hi})"),
            });
        }
        check_rows(data, cols, OP)?;
        check_finite(data, cols, OP)?;
        let mut data_min = vec![f64::INFINITY; cols];
        let mut data_max = vec![f64::NEG_INFINITY; cols];
        for row in data.chunks_exact(cols) {
            for ((mn, mx), &v) in data_min.iter_mut().zip(data_max.iter_mut()).zip(row) {
                *mn = mn.min(v);
                *mx = mx.max(v);
            }
        }
        // scikit-learn's `_handle_zeros_in_scale`: a range below 10 eps counts as 0 -> 1.
        let scale: Vec<f64> = data_min
            .iter()
            .zip(&data_max)
            .map(|(&mn, &mx)| {
                let span = mx - mn;
                (hi - lo)
                    / if span < 10.0 * f64::EPSILON {
                        1.0
                    } else {
                        span
                    }
            })
            .collect();
        let offset = data_min
            .iter()
            .zip(&scale)
            .map(|(&mn, &s)| lo - mn * s)
            .collect();
        Ok(MinMaxScaler {
            range,
            data_min,
            data_max,
            scale,
            offset,
        })
    }

    /// Number of columns it was fitted on.
    pub fn cols(&self) -> usize {
        self.scale.len()
    }

    /// `x * scale + offset` on a float `[N, F]` tensor. Values outside the fitted range
    /// land outside `range` (no clipping, as scikit-learn's default).
    pub fn transform(&self, x: &Tensor) -> Result<Tensor> {
        check_cols(x, self.cols(), "MinMaxScaler::transform")?;
        let scale = row_tensor(&self.scale, x)?;
        let offset = row_tensor(&self.offset, x)?;
        Ok((x * &scale + &offset)?)
    }

    /// `(x - offset) / scale`: undoes [`MinMaxScaler::transform`].
    pub fn inverse_transform(&self, x: &Tensor) -> Result<Tensor> {
        check_cols(x, self.cols(), "MinMaxScaler::inverse_transform")?;
        let scale = row_tensor(&self.scale, x)?;
        let offset = row_tensor(&self.offset, x)?;
        Ok(((x - &offset) / &scale)?)
    }

    /// The fitted parameters as JSON.
    pub fn to_json(&self) -> Result<String> {
        to_json(self, "MinMaxScaler")
    }

    /// Parses [`MinMaxScaler::to_json`]'s output, checking its consistency.
    pub fn from_json(json: &str) -> Result<MinMaxScaler> {
        let s: MinMaxScaler = from_json(json, "MinMaxScaler")?;
        check_params(
            "MinMaxScaler",
            &s.scale,
            &[&s.offset, &s.data_min, &s.data_max],
        )?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_test_matches_sklearn_rule() {
        assert!(is_constant(0.0, 5.0, 10));
        // Rounding-level variance of a large constant column counts as constant.
        assert!(is_constant(1e-20, 1e6, 100));
        assert!(!is_constant(1e-6, 1.0, 100));
    }
}

//! Missing values (NaN, as [`crate::tabular::Missing::Nan`] reads them): fill them per
//! column with an [`Imputer`] fitted on the training split, or drop the rows that have
//! any with [`drop_rows_with_nan`].

use lamina_tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{check_cols, check_rows, from_json, matrix_dims, row_tensor, to_json};
use crate::tabular::Table;
use crate::{Error, Result};

/// What an [`Imputer`] fills a column's missing values with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ImputeStrategy {
    /// The mean of the column's observed values.
    Mean,
    /// The median of the column's observed values (the mean of the two middle ones for
    /// an even count, as NumPy).
    Median,
    /// This value in every column.
    Constant(f64),
}

/// Replaces NaN in column `j` with `fill[j]`, learnt from the training data
/// (scikit-learn's `SimpleImputer`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Imputer {
    /// How `fill` was computed.
    pub strategy: ImputeStrategy,
    /// Per-column fill value.
    pub fill: Vec<f64>,
}

impl Imputer {
    /// Fits on a float `[N, F]` tensor. A column with no observed value is an error for
    /// `Mean` and `Median`.
    pub fn fit(strategy: ImputeStrategy, x: &Tensor) -> Result<Imputer> {
        let (_, cols) = matrix_dims(x, "Imputer::fit")?;
        Imputer::fit_rows(strategy, &x.to_f64_vec()?, cols)
    }

    /// Fits on a row-major host matrix with `cols` columns (e.g. `Table::features`).
    pub fn fit_rows(strategy: ImputeStrategy, data: &[f64], cols: usize) -> Result<Imputer> {
        const OP: &str = "Imputer::fit";
        check_rows(data, cols, OP)?;
        let fill = match strategy {
            ImputeStrategy::Constant(c) => vec![c; cols],
            ImputeStrategy::Mean | ImputeStrategy::Median => (0..cols)
                .map(|j| {
                    let mut seen: Vec<f64> = data
                        .iter()
                        .skip(j)
                        .step_by(cols)
                        .copied()
                        .filter(|v| !v.is_nan())
                        .collect();
                    if seen.is_empty() {
                        return Err(Error::Transform {
                            op: OP,
                            msg: format!(
                                "column {j} has no observed value to take the {strategy:?} of"
                            ),
                        });
                    }
                    Ok(match strategy {
                        ImputeStrategy::Mean => seen.iter().sum::<f64>() / seen.len() as f64,
                        _ => median(&mut seen),
                    })
                })
                .collect::<Result<Vec<f64>>>()?,
        };
        Ok(Imputer { strategy, fill })
    }

    /// Number of columns it was fitted on.
    pub fn cols(&self) -> usize {
        self.fill.len()
    }

    /// `x` with every NaN in column `j` replaced by `fill[j]`, on its device, in its dtype.
    pub fn transform(&self, x: &Tensor) -> Result<Tensor> {
        check_cols(x, self.cols(), "Imputer::transform")?;
        let fill = row_tensor(&self.fill, x)?;
        Ok(Tensor::where_(&x.isnan()?, &fill, x)?)
    }

    /// A copy of `table` with its features' NaNs filled (labels are left as they are).
    pub fn transform_table(&self, table: &Table) -> Result<Table> {
        if table.cols != self.cols() {
            return Err(Error::Transform {
                op: "Imputer::transform_table",
                msg: format!(
                    "fitted on {} columns, the table has {}",
                    self.cols(),
                    table.cols
                ),
            });
        }
        let mut out = table.clone();
        for row in out.features.chunks_exact_mut(out.cols.max(1)) {
            for (v, &f) in row.iter_mut().zip(&self.fill) {
                if v.is_nan() {
                    *v = f;
                }
            }
        }
        Ok(out)
    }

    /// The fitted values as JSON.
    pub fn to_json(&self) -> Result<String> {
        to_json(self, "Imputer")
    }

    /// Parses [`Imputer::to_json`]'s output.
    pub fn from_json(json: &str) -> Result<Imputer> {
        from_json(json, "Imputer")
    }
}

/// The median of non-empty, NaN-free `values` (reorders them).
fn median(values: &mut [f64]) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The rows of `table` with no NaN in their features or label, and how many were dropped.
/// A table whose fields disagree (fewer than `rows * cols` features or `rows` labels,
/// which only a hand-edited table can have) is an error.
pub fn drop_rows_with_nan(table: &Table) -> Result<(Table, usize)> {
    table.check_fields("drop_rows_with_nan")?;
    let keep: Vec<usize> = (0..table.rows)
        .filter(|&i| {
            let label_ok = table.labels.as_ref().is_none_or(|l| !l[i].is_nan());
            let row = &table.features[i * table.cols..(i + 1) * table.cols];
            label_ok && !row.iter().any(|v| v.is_nan())
        })
        .collect();
    Ok((table.take_rows(&keep), table.rows - keep.len()))
}

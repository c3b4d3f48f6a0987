//! CSV files to a numeric [`Table`]: feature columns as row-major `f64`, an optional label
//! column, and the names from the header.
//!
//! Parsing goes through the `csv` crate (quoting, delimiters); this file decides what a
//! cell means. Every cell must be a finite number. Empty cells and the usual spellings of
//! a missing value (`NA`, `N/A`, `nan`, `null`, `none`, `?`, any case) are an error by
//! default, or `f64::NAN` with [`Missing::Nan`], for [`crate::transform::Imputer`] or
//! [`crate::transform::drop_rows_with_nan`] to deal with. Errors name the file, the 1-based
//! line (the header is line 1), the 1-based column and the column's name:
//!
//! ```text
//! iris.csv: line 7, column 3 (`petal_length_cm`): cannot parse "abc" as a number
//! ```
//!
//! Column 0 in a [`Error::Csv`] means the error concerns no single cell (an empty file, a
//! label column that does not exist).
//!
//! A [`Table`] keeps its [`Source`] (the file and each row's line), so that what can only
//! be judged later is reported the same way at its line and column: a label read as a
//! class index that is not one, or a value that a tensor's dtype cannot hold (`1e39` is
//! a finite `f64` but would become `inf` in an `F32` tensor):
//!
//! ```text
//! big.csv: line 3, column 2 (`y`): Table::features_tensor: data row 1: 1e39 overflows f32 (it would become inf)
//! ```

use std::path::{Path, PathBuf};

use lamina_tensor::{DType, Device, HostData, Tensor};

use crate::{Error, Result, MAX_CLASSES};

/// Which column holds the label (target) of each row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LabelColumn {
    /// No label column: every column is a feature.
    None,
    /// The last column (scikit-learn's exported CSVs, most UCI files).
    #[default]
    Last,
    /// The column at this 0-based field index.
    Index(usize),
    /// The column with this header name (needs a header).
    Name(String),
}

/// What a missing cell (empty, `NA`, `nan`, ...) becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Missing {
    /// A missing cell is an error naming its line and column.
    #[default]
    Error,
    /// A missing cell reads as `f64::NAN`, to be imputed or dropped later.
    Nan,
}

/// How to read a CSV file. The default is a header row, `,`, the label in the last
/// column, and missing values as errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// The first row holds column names. Without one, columns are named `column_1`, ...
    pub has_header: bool,
    /// The field delimiter byte (`b','`, `b';'`, `b'\t'`).
    pub delimiter: u8,
    /// Which column is the label.
    pub label: LabelColumn,
    /// What a missing cell becomes.
    pub missing: Missing,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            has_header: true,
            delimiter: b',',
            label: LabelColumn::Last,
            missing: Missing::Error,
        }
    }
}

/// A numeric table: `rows × cols` features (row-major) and optionally one label per row.
///
/// The label column is read one of two ways, and the method names say which:
///
/// | the labels are          | as a `Vec`                                  | as a tensor                                                   |
/// |-------------------------|---------------------------------------------|---------------------------------------------------------------|
/// | class indices (`0, 1, 2, …`) | [`class_labels`](Self::class_labels) `Vec<usize>` | [`class_labels_tensor`](Self::class_labels_tensor) `I64 [rows]` |
/// | regression targets (any number) | [`targets`](Self::targets) `&[f64]` | [`targets_tensor`](Self::targets_tensor) float `[rows]`         |
///
/// `class_*` checks that every label is a class index and says which row is not;
/// `targets*` takes the values as they are. ([`class_counts`](Self::class_counts) counts
/// the class indices.)
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The feature column names, in order (`cols` of them).
    pub columns: Vec<String>,
    /// The label column's name, when there is a label column.
    pub label_name: Option<String>,
    /// Row-major features: row `i`, column `j` is `features[i * cols + j]`.
    pub features: Vec<f64>,
    /// One label per row, when there is a label column.
    pub labels: Option<Vec<f64>>,
    /// Number of data rows.
    pub rows: usize,
    /// Number of feature columns.
    pub cols: usize,
    /// Where the rows were read from, so that later errors name the line and column;
    /// `None` for a table built in memory.
    pub source: Option<Source>,
}

/// Where a [`Table`]'s rows were read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file, or the name given to [`parse_csv`].
    pub path: PathBuf,
    /// The 1-based line of each row, in row order.
    pub lines: Vec<u64>,
    /// The 0-based field index of the label column in the file, when there is one.
    pub label_field: Option<usize>,
}

/// Reads a CSV file into a [`Table`].
///
/// A missing or unreadable file is [`Error::Io`]; a malformed one is [`Error::Csv`] with
/// the line, column and column name.
///
/// ```
/// use lamina_data::tabular::{read_csv, CsvOptions};
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/sklearn/iris.csv");
/// let iris = read_csv(path, &CsvOptions::default())?;
/// assert_eq!((iris.rows, iris.cols), (150, 4));
/// assert_eq!(iris.label_name.as_deref(), Some("label"));
/// # Ok::<(), lamina_data::Error>(())
/// ```
pub fn read_csv(path: impl AsRef<Path>, options: &CsvOptions) -> Result<Table> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    parse_bytes(&bytes, path, options)
}

/// Parses CSV text already in memory; `source_name` stands for the file name in errors.
pub fn parse_csv(text: &str, source_name: &str, options: &CsvOptions) -> Result<Table> {
    parse_bytes(text.as_bytes(), Path::new(source_name), options)
}

/// The spellings of a missing value (compared ignoring ASCII case, after trimming).
const MISSING: [&str; 7] = ["", "na", "n/a", "nan", "null", "none", "?"];

fn is_missing(text: &str) -> bool {
    MISSING.iter().any(|m| text.eq_ignore_ascii_case(m))
}

/// One cell to a number, or the message saying why not.
fn parse_cell(field: &[u8], missing: Missing) -> std::result::Result<f64, String> {
    let text = std::str::from_utf8(field).map_err(|_| {
        format!(
            "cell {:?} is not valid UTF-8",
            String::from_utf8_lossy(field)
        )
    })?;
    if is_missing(text) {
        return match missing {
            Missing::Nan => Ok(f64::NAN),
            Missing::Error => Err(format!(
                "missing value {text:?} (read with `missing: Missing::Nan` to impute or drop it)"
            )),
        };
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("{text:?} is not a finite number")),
        Err(_) => Err(format!("cannot parse {text:?} as a number")),
    }
}

fn parse_bytes(bytes: &[u8], path: &Path, options: &CsvOptions) -> Result<Table> {
    let err = |line: u64, column: usize, column_name: Option<&str>, msg: String| Error::Csv {
        path: path.to_path_buf(),
        line,
        column,
        column_name: column_name.map(str::to_owned),
        msg,
    };
    let csv_err = |e: ::csv::Error| {
        let line = e.position().map_or(0, |p| p.line());
        err(line, 0, None, e.to_string())
    };
    // The csv crate's own line count skips blank lines; count newlines instead.
    let mut lines = LineCounter::default();
    let mut line_of = |record: &::csv::ByteRecord| {
        let offset = record.position().map_or(0, |p| p.byte()) as usize;
        lines.line_at(bytes, offset)
    };
    // Ragged rows are reported by us (with both counts), so the reader is flexible.
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(options.delimiter)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(bytes);
    let mut records = reader.byte_records();
    let first = match records.next() {
        Some(r) => r.map_err(csv_err)?,
        None => {
            return Err(err(
                1,
                0,
                None,
                "the file is empty (no header, no rows)".into(),
            ))
        }
    };
    let width = first.len();
    let first_line = line_of(&first);
    let (names, first_row) = if options.has_header {
        let names: Vec<String> = first
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        (names, None)
    } else {
        let names = (1..=width).map(|j| format!("column_{j}")).collect();
        (names, Some(first))
    };
    let label = resolve_label(&options.label, &names, options.has_header)
        .map_err(|(column, name, msg)| err(first_line, column, name.as_deref(), msg))?;

    let cols = width - usize::from(label.is_some());
    let mut features = Vec::with_capacity(bytes.len() / 4);
    let mut labels = label.map(|_| Vec::new());
    let mut row_lines = Vec::new();
    let mut rows = 0usize;
    let what = if options.has_header {
        "the header"
    } else {
        "the first row"
    };
    for record in first_row.into_iter().map(Ok).chain(records) {
        let record = record.map_err(csv_err)?;
        let line = line_of(&record);
        if record.len() != width {
            // Point at the first missing field or the first extra one.
            let column = record.len().min(width) + 1;
            let name = names.get(column - 1).map(String::as_str);
            return Err(err(
                line,
                column,
                name,
                format!(
                    "ragged row: expected {width} fields (as in {what}), found {}",
                    record.len()
                ),
            ));
        }
        for (j, field) in record.iter().enumerate() {
            let v = parse_cell(field, options.missing)
                .map_err(|msg| err(line, j + 1, Some(&names[j]), msg))?;
            match (&mut labels, label) {
                (Some(l), Some(lj)) if lj == j => l.push(v),
                _ => features.push(v),
            }
        }
        row_lines.push(line);
        rows += 1;
    }
    if rows == 0 {
        return Err(err(
            first_line,
            0,
            None,
            "the file has a header but no data rows".into(),
        ));
    }
    let (columns, label_name) = match label {
        Some(lj) => {
            let mut columns = names;
            let name = columns.remove(lj);
            (columns, Some(name))
        }
        None => (names, None),
    };
    Ok(Table {
        columns,
        label_name,
        features,
        labels,
        rows,
        cols,
        source: Some(Source {
            path: path.to_path_buf(),
            lines: row_lines,
            label_field: label,
        }),
    })
}

/// 1-based line numbers of increasing byte offsets, counting `\n` as it goes.
#[derive(Default)]
struct LineCounter {
    offset: usize,
    newlines: u64,
}

impl LineCounter {
    /// The line of the record whose reported start is `offset`; the csv crate reports
    /// a record after blank lines as starting at the first blank line, so skip those.
    fn line_at(&mut self, bytes: &[u8], offset: usize) -> u64 {
        let offset = offset.clamp(self.offset, bytes.len());
        let blank = bytes[offset..]
            .iter()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .count();
        let offset = offset + blank;
        let seen = &bytes[self.offset..offset];
        self.newlines += seen.iter().filter(|&&b| b == b'\n').count() as u64;
        self.offset = offset;
        self.newlines + 1
    }
}

/// Whether `dtype` holds `v` as `as` converts it: a finite value must stay finite in a
/// float dtype (NaN, a missing value, stays NaN), and an integer dtype must hold its
/// integer part (`as` truncates; NaN has no integer value). `Err` says why not.
fn fits(v: f64, dtype: DType) -> std::result::Result<(), String> {
    let back = match dtype {
        DType::F64 => v,
        DType::F32 => f64::from(v as f32),
        DType::I64 => v as i64 as f64,
        DType::U32 => f64::from(v as u32),
        // A dtype added later: judge by the tensor crate's own conversion.
        other => HostData::from_f64_vec(&[v], other)
            .to_f64_vec()
            .first()
            .copied()
            .unwrap_or(f64::NAN),
    };
    if dtype.is_float() {
        if v.is_finite() && !back.is_finite() {
            return Err(format!("{v:?} overflows {dtype} (it would become {back})"));
        }
    } else if v.is_nan() {
        return Err(format!("NaN (a missing value) has no {dtype} value"));
    } else if back != v.trunc() {
        return Err(format!("{v:?} is outside the range of {dtype}"));
    }
    Ok(())
}

/// The index of the first value `dtype` cannot hold, and why.
fn first_misfit(values: &[f64], dtype: DType) -> Option<(usize, String)> {
    if dtype == DType::F64 {
        return None;
    }
    values
        .iter()
        .enumerate()
        .find_map(|(i, &v)| fits(v, dtype).err().map(|msg| (i, msg)))
}

/// The 0-based index of the label column, or `(column, name, message)` for the error.
fn resolve_label(
    label: &LabelColumn,
    names: &[String],
    has_header: bool,
) -> std::result::Result<Option<usize>, (usize, Option<String>, String)> {
    let width = names.len();
    match label {
        LabelColumn::None => Ok(None),
        LabelColumn::Last => Ok(Some(width - 1)),
        LabelColumn::Index(i) if *i < width => Ok(Some(*i)),
        LabelColumn::Index(i) => Err((
            0,
            None,
            format!("label column index {i} is out of range: the rows have {width} fields"),
        )),
        LabelColumn::Name(name) if !has_header => Err((
            0,
            Some(name.clone()),
            "a label column chosen by name needs a header row (has_header is false)".into(),
        )),
        LabelColumn::Name(name) => match names.iter().position(|n| n == name) {
            Some(j) => Ok(Some(j)),
            None => Err((
                0,
                Some(name.clone()),
                format!(
                    "no label column named `{name}`; the columns are: {}",
                    names.join(", ")
                ),
            )),
        },
    }
}

impl Table {
    /// Row `i`'s features (`cols` values). `i >= rows` is [`Error::Invalid`] naming the
    /// row and the row count (as is a table whose `features` holds fewer than
    /// `rows * cols` values, which only a hand-edited table can).
    ///
    /// ```
    /// use lamina_data::tabular::{parse_csv, CsvOptions};
    /// let t = parse_csv("a,b,label\n1,2,0\n3,4,1\n", "t.csv", &CsvOptions::default())?;
    /// assert_eq!(t.row(1)?, [3.0, 4.0]);
    /// let e = t.row(500).unwrap_err().to_string();
    /// assert_eq!(e, "Table::row: row 500 is out of range for a table of 2 rows");
    /// # Ok::<(), lamina_data::Error>(())
    /// ```
    pub fn row(&self, i: usize) -> Result<&[f64]> {
        let start = i.checked_mul(self.cols);
        let slice = (i < self.rows)
            .then_some(start)
            .flatten()
            .and_then(|s| self.features.get(s..s.checked_add(self.cols)?));
        slice.ok_or_else(|| Error::Invalid {
            op: "Table::row",
            msg: format!("row {i} is out of range for a table of {} rows", self.rows),
        })
    }

    /// The features as a `[rows, cols]` tensor of `dtype` (`as` conversion). A value the
    /// dtype cannot hold is an error naming its row, line and column: a finite value that
    /// would overflow a float dtype, or one outside an integer dtype's range (NaN, a
    /// missing value, stays NaN in a float dtype and has no integer value).
    pub fn features_tensor(&self, dtype: DType, device: &Device) -> Result<Tensor> {
        const OP: &str = "Table::features_tensor";
        let cols = self.cols.max(1);
        if let Some((i, msg)) = first_misfit(&self.features, dtype) {
            return Err(self.value_error(OP, i / cols, Some(i % cols), msg));
        }
        let data = HostData::from_f64_vec(&self.features, dtype);
        Ok(Tensor::from_host(data, [self.rows, self.cols], device)?)
    }

    /// The labels as class indices in an `I64` tensor of shape `[rows]` (what
    /// `cross_entropy` takes): [`class_labels`](Self::class_labels) as a tensor. Every
    /// label must be an integer in `0..MAX_CLASSES`; the error names the first row that
    /// is not.
    pub fn class_labels_tensor(&self, device: &Device) -> Result<Tensor> {
        self.class_tensor("Table::class_labels_tensor", device)
    }

    /// The former name of [`class_labels_tensor`](Self::class_labels_tensor).
    #[deprecated(
        note = "renamed class_labels_tensor: class_* for class indices, targets* for regression values"
    )]
    pub fn labels_tensor(&self, device: &Device) -> Result<Tensor> {
        self.class_tensor("Table::labels_tensor", device)
    }

    fn class_tensor(&self, op: &'static str, device: &Device) -> Result<Tensor> {
        let labels: Vec<i64> = self
            .class_labels_for(op)?
            .into_iter()
            .map(|c| c as i64)
            .collect();
        Ok(Tensor::from_vec(labels, [self.rows], device)?)
    }

    /// The labels as regression targets, as read (`f64`, one per row): the `labels`
    /// column, or an error when the table has none.
    pub fn targets(&self) -> Result<&[f64]> {
        self.labels_or_err("Table::targets")
    }

    /// The labels as a float tensor of shape `[rows]` (regression targets). A value the
    /// dtype cannot hold is an error naming its row, line and column.
    pub fn targets_tensor(&self, dtype: DType, device: &Device) -> Result<Tensor> {
        const OP: &str = "Table::targets_tensor";
        let labels = self.labels_or_err(OP)?;
        if let Some((row, msg)) = first_misfit(labels, dtype) {
            return Err(self.value_error(OP, row, None, msg));
        }
        Ok(Tensor::from_host(
            HostData::from_f64_vec(labels, dtype),
            [self.rows],
            device,
        )?)
    }

    /// The labels as class indices. Every label must be an integer in
    /// `0..`[`MAX_CLASSES`]; the error names the first 0-based data row that is not, and
    /// its line and column when the table was read from a file:
    ///
    /// ```text
    /// ids.csv: line 3, column 2 (`label`): Table::class_labels: data row 1: label 5000000000 is not a class index: class indices must be below 1000000 (MAX_CLASSES)
    /// ```
    pub fn class_labels(&self) -> Result<Vec<usize>> {
        self.class_labels_for("Table::class_labels")
    }

    /// How many rows have each class `0..=max label` (at most [`MAX_CLASSES`] counts).
    pub fn class_counts(&self) -> Result<Vec<usize>> {
        let labels = self.class_labels_for("Table::class_counts")?;
        let classes = labels.iter().max().map_or(0, |&m| m + 1);
        let mut counts = vec![0; classes];
        for l in labels {
            counts[l] += 1;
        }
        Ok(counts)
    }

    /// A new table holding the given rows, in the given order (repeats allowed). A row
    /// `>= rows` is an error naming it and the row count.
    pub fn select_rows(&self, rows: &[usize]) -> Result<Table> {
        self.check_fields("Table::select_rows")?;
        if let Some(&bad) = rows.iter().find(|&&r| r >= self.rows) {
            return Err(Error::Invalid {
                op: "Table::select_rows",
                msg: format!(
                    "row {bad} is out of range for a table of {} rows",
                    self.rows
                ),
            });
        }
        Ok(self.take_rows(rows))
    }

    /// Checks that the public fields agree (`features` holds `rows * cols` values, `labels`
    /// `rows`), as every table read from a file does; a hand-edited one may not.
    pub(crate) fn check_fields(&self, op: &'static str) -> Result<()> {
        let want = self.rows.checked_mul(self.cols);
        let labels = self.labels.as_ref().map_or(self.rows, Vec::len);
        if want != Some(self.features.len()) || labels != self.rows {
            return Err(Error::Invalid {
                op,
                msg: format!(
                    "the table's fields disagree: {} rows × {} cols, but {} feature values and {labels} labels",
                    self.rows,
                    self.cols,
                    self.features.len()
                ),
            });
        }
        Ok(())
    }

    /// [`select_rows`](Self::select_rows) for rows known to be in range of a table whose
    /// fields agree ([`check_fields`](Self::check_fields)); each row keeps
    /// its line in the source.
    pub(crate) fn take_rows(&self, rows: &[usize]) -> Table {
        let mut features = Vec::with_capacity(rows.len() * self.cols);
        for &r in rows {
            features.extend_from_slice(&self.features[r * self.cols..(r + 1) * self.cols]);
        }
        Table {
            columns: self.columns.clone(),
            label_name: self.label_name.clone(),
            features,
            labels: self
                .labels
                .as_ref()
                .map(|l| rows.iter().map(|&r| l[r]).collect()),
            rows: rows.len(),
            cols: self.cols,
            // A source with a line missing (fields edited by hand) is dropped, not shifted.
            source: self.source.as_ref().and_then(|s| {
                Some(Source {
                    path: s.path.clone(),
                    lines: rows
                        .iter()
                        .map(|&r| s.lines.get(r).copied())
                        .collect::<Option<_>>()?,
                    label_field: s.label_field,
                })
            }),
        }
    }

    /// The error for data row `row`'s value in feature column `col`, or its label when
    /// `col` is `None`: at its file, line and column when the table knows them.
    fn value_error(&self, op: &'static str, row: usize, col: Option<usize>, what: String) -> Error {
        let located = self.source.as_ref().and_then(|s| {
            let line = *s.lines.get(row)?;
            let (field, name) = match col {
                // Feature `j` sits one field further right when the label precedes it.
                Some(j) => (
                    j + usize::from(s.label_field.is_some_and(|l| l <= j)),
                    self.columns.get(j)?.clone(),
                ),
                None => (s.label_field?, self.label_name.clone()?),
            };
            Some(Error::Csv {
                path: s.path.clone(),
                line,
                column: field + 1,
                column_name: Some(name),
                msg: format!("{op}: data row {row}: {what}"),
            })
        });
        located.unwrap_or_else(|| Error::Invalid {
            op,
            msg: format!("data row {row}: {what}"),
        })
    }

    fn labels_or_err(&self, op: &'static str) -> Result<&[f64]> {
        self.labels.as_deref().ok_or_else(|| Error::Invalid {
            op,
            msg: "the table has no label column".into(),
        })
    }

    fn class_labels_for(&self, op: &'static str) -> Result<Vec<usize>> {
        self.labels_or_err(op)?
            .iter()
            .enumerate()
            .map(|(row, &v)| {
                // `fract` is NaN for infinities, so only whole numbers pass.
                if !(v >= 0.0 && v.fract() == 0.0) {
                    Err(self.value_error(
                        op,
                        row,
                        None,
                        format!("label {v} is not a class index (a non-negative integer)"),
                    ))
                } else if v >= MAX_CLASSES as f64 {
                    Err(self.value_error(
                        op,
                        row,
                        None,
                        format!(
                            "label {v} is not a class index: class indices must be below \
                             {MAX_CLASSES} (MAX_CLASSES)"
                        ),
                    ))
                } else {
                    Ok(v as usize)
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_spellings() {
        for m in ["", "NA", "n/a", "NaN", "NULL", "None", "?"] {
            assert!(is_missing(m), "{m}");
            assert!(parse_cell(m.as_bytes(), Missing::Nan).unwrap().is_nan());
            assert!(parse_cell(m.as_bytes(), Missing::Error).is_err());
        }
        assert_eq!(parse_cell(b"-1.5e2", Missing::Error), Ok(-150.0));
        assert!(parse_cell(b"inf", Missing::Nan).is_err());
    }
}

//! The one error type of `lamina-data`. Every variant says *where* (file, line, column,
//! sample index, worker) and *what*, so a bad input reads like
//!
//! ```text
//! datasets/sklearn/iris.csv: line 7, column 3 (`petal_length_cm`): cannot parse "abc" as a number
//! ```

use std::path::PathBuf;

/// What can go wrong loading, transforming, batching or scoring data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor op failed (building a batch, applying a transform).
    #[error(transparent)]
    Tensor(#[from] lamina_tensor::Error),
    /// A file could not be opened or read.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A CSV file is malformed: a ragged row, a cell that is not a number, a NaN where
    /// none is allowed, a missing label column. `line` and `column` are 1-based.
    #[error("{}: line {line}, column {column}{}: {msg}", path.display(), column_name.as_deref().map(|n| format!(" (`{n}`)")).unwrap_or_default())]
    Csv {
        path: PathBuf,
        line: u64,
        column: usize,
        column_name: Option<String>,
        msg: String,
    },
    /// An IDX (MNIST) file is malformed: wrong magic, unsupported type, dims that do not
    /// match the length, a truncated body, a corrupt gzip stream.
    #[error("{}: not a valid IDX file: {msg}", path.display())]
    Idx { path: PathBuf, msg: String },
    /// An argument is out of range or inconsistent (batch size 0, k-fold with k > n,
    /// fractions that do not sum to 1, an index past the end of a data set, ...).
    #[error("{op}: {msg}")]
    Invalid { op: &'static str, msg: String },
    /// A transform met data it cannot handle (NaN in a standardiser's input, a column
    /// count other than the one it was fitted on, ...).
    #[error("{op}: {msg}")]
    Transform { op: &'static str, msg: String },
    /// A `DataLoader` worker thread failed or panicked while building a batch.
    #[error("data loader worker {worker}, batch {batch}: {source}")]
    Worker {
        worker: usize,
        batch: usize,
        source: Box<Error>,
    },
    /// Serialising or deserialising a fitted transform or a state failed.
    #[error("{what}: {msg}")]
    Serde { what: &'static str, msg: String },
    /// Code run by a `DataLoader` (a data set, a batch transform) panicked; `msg` is the
    /// panic message. Arrives wrapped in [`Error::Worker`].
    #[error("panicked: {msg}")]
    Panic { msg: String },
    /// The operating system refused to start a `DataLoader` worker thread.
    #[error("cannot start data loader worker {worker}: {source}")]
    Spawn {
        worker: usize,
        source: std::io::Error,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The error of `nn`'s file operations. Layers and losses return `lamina_tensor`'s
//! error (they are tensor ops); reading and writing weight files can also fail on the
//! file itself, and those errors name the file, the tensor and both shapes or dtypes, so
//! that the message says what to fix:
//!
//! ```text
//! model.safetensors: tensor `0.weight` has shape [3, 4] in the file but [3, 2] in the model
//! ```

use std::fmt;
use std::path::PathBuf;

use lamina_tensor::{DType, Shape};

/// What can go wrong saving or loading weights.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor op failed (building or reading a tensor).
    #[error(transparent)]
    Tensor(#[from] lamina_tensor::Error),
    /// The file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The bytes are not a valid safetensors file (truncated, bad header, bad offsets).
    #[error("{}: not a valid safetensors file: {msg}", path.display())]
    Format { path: PathBuf, msg: String },
    /// A tensor has another shape in the file than in the model.
    #[error("{}: tensor `{name}` has shape {file} in the file but {model} in the model", path.display())]
    ShapeMismatch {
        path: PathBuf,
        name: String,
        /// Boxed to keep `Error` small (clippy's `result_large_err`).
        file: Box<Shape>,
        model: Box<Shape>,
    },
    /// A tensor has another dtype in the file than in the model (or one Lamina lacks).
    #[error("{}: tensor `{name}` (shape {shape}) has dtype {file} in the file but {model} in the model", path.display())]
    DTypeMismatch {
        path: PathBuf,
        name: String,
        shape: Box<Shape>,
        file: String,
        model: String,
    },
    /// A model parameter has no tensor in the file.
    #[error("{}: tensor `{name}` (shape {model}) is missing from the file{}", path.display(), Unmatched(unmatched))]
    MissingTensor {
        path: PathBuf,
        name: String,
        model: Shape,
        /// Tensors in the file that match no parameter (a likely rename).
        unmatched: Vec<String>,
    },
    /// The file holds a tensor the model has no parameter for.
    #[error("{}: tensor `{name}` (shape {file}) in the file matches no parameter of the model", path.display())]
    UnexpectedTensor {
        path: PathBuf,
        name: String,
        file: Shape,
    },
    /// Two parameters share a name (a composite module forgot a prefix).
    #[error("{}: parameter name `{name}` occurs twice in the model", path.display())]
    DuplicateName { path: PathBuf, name: String },
}

/// `Result` with `nn`'s `Error`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Lets `?` carry a weight-file error into code that returns `lamina_tensor::Result`:
/// tensor errors pass through, I/O errors stay I/O errors (with the path in the
/// message), the rest become `Invalid` with the full message.
impl From<Error> for lamina_tensor::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Tensor(e) => e,
            Error::Io { ref source, .. } => {
                lamina_tensor::Error::Io(std::io::Error::new(source.kind(), e.to_string()))
            }
            e => lamina_tensor::Error::Invalid {
                op: "weights",
                msg: e.to_string(),
            },
        }
    }
}

/// Formats the file's unmatched tensor names as a hint, or nothing.
struct Unmatched<'a>(&'a [String]);

impl fmt::Display for Unmatched<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        write!(f, "; the file's unmatched tensors are ")?;
        for (i, n) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "`{n}`")?;
        }
        Ok(())
    }
}

/// `DType` as a string for [`Error::DTypeMismatch`] (the file may hold types Lamina lacks).
pub(crate) fn dtype_name(d: DType) -> String {
    d.as_str().to_string()
}

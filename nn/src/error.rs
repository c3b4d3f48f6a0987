//! The error of `nn`'s file and state operations. Layers and losses return
//! `lamina_tensor`'s error (they are tensor ops); reading and writing weight files can
//! also fail on the file itself, and restoring random-stream state on a name that does
//! not match. Those errors name the file, the tensor or stream, and both shapes or
//! dtypes, so that the message says what to fix:
//!
//! ```text
//! model.safetensors: tensor `0.weight` has shape [3, 4] in the file but [3, 2] in the model
//! ```

use std::fmt;
use std::path::PathBuf;

use lamina_tensor::{DType, Shape};

/// What can go wrong saving or loading weights or random-stream state.
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
    #[error("{}: tensor `{name}` (shape {model}) is missing from the file{}", path.display(), Unmatched("file's", "tensors", unmatched))]
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
    /// A random stream of the model has no position in the state being loaded (see
    /// [`Module::set_rng_state`](crate::Module::set_rng_state)).
    #[error(
        "random-stream state: the model's stream `{name}` has no position in the state{}",
        Unmatched("state's", "names", unmatched)
    )]
    MissingRngState {
        name: String,
        /// Names in the state that match no stream of the model (a likely rename).
        unmatched: Vec<String>,
    },
    /// The state being loaded has a position the model has no random stream for.
    #[error("random-stream state: the state's position `{name}` matches no stream of the model")]
    UnexpectedRngState { name: String },
    /// Two random streams share a name (a composite module forgot a prefix).
    #[error("random-stream state: the name `{name}` occurs twice in the model")]
    DuplicateRngState { name: String },
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

/// Formats the unmatched names (tensors in a file, or positions in a state) as a hint,
/// or nothing: `Unmatched("file's", "tensors", names)` reads "; the file's unmatched
/// tensors are `a`, `b`".
struct Unmatched<'a>(&'static str, &'static str, &'a [String]);

impl fmt::Display for Unmatched<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.2.is_empty() {
            return Ok(());
        }
        write!(f, "; the {} unmatched {} are ", self.0, self.1)?;
        for (i, n) in self.2.iter().enumerate() {
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

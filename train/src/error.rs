//! The one error type of `lamina-train`. Errors from the crates below come in unchanged
//! (`#[from]`); the training loop's own errors say which file, which epoch or which
//! setting is wrong:
//!
//! ```text
//! runs/mlp/last.json: not a valid checkpoint: expected value at line 1 column 1
//! epoch 3, batch 7: the training loss is NaN (the run diverged; lower the learning rate?)
//! ```

use std::path::PathBuf;

/// What can go wrong training, checkpointing, or writing the history and its plot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor op failed (the model, the loss, an optimizer step, a metric).
    #[error(transparent)]
    Tensor(#[from] lamina_tensor::Error),
    /// Saving or loading a weight file failed (the message names the file and tensor).
    #[error(transparent)]
    Nn(#[from] lamina_nn::Error),
    /// The data loader failed to build a batch.
    #[error(transparent)]
    Data(#[from] lamina_data::Error),
    /// A file or directory could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done: `"read"`, `"write"`, `"create directory"`, ...
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A checkpoint is missing, corrupt, or belongs to another model, optimizer or data
    /// loader than the one it is loaded into.
    #[error("{}: not a valid checkpoint: {msg}", path.display())]
    Checkpoint {
        /// The checkpoint file at fault.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// A history CSV file is malformed (`line` is 1-based).
    #[error("{}: line {line}: {msg}", path.display())]
    History {
        /// The CSV file.
        path: PathBuf,
        /// The 1-based line at fault.
        line: usize,
        /// What is wrong with it.
        msg: String,
    },
    /// Drawing or encoding the history plot failed.
    #[error("{}: cannot draw the plot: {msg}", path.display())]
    Plot {
        /// The PNG file being written.
        path: PathBuf,
        /// The drawing library's message.
        msg: String,
    },
    /// The training configuration is inconsistent (a monitor that needs a validation
    /// loader when none is given, zero patience with a negative delta, ...).
    #[error("training configuration: {0}")]
    Config(String),
    /// A loss or metric became NaN or infinite: the run diverged.
    #[error("epoch {epoch}, batch {batch}: the {what} is {value} (the run diverged; lower the learning rate?)")]
    NonFinite {
        /// The 0-based epoch.
        epoch: usize,
        /// The 0-based batch within the epoch.
        batch: usize,
        /// `"training loss"` or `"validation loss"`.
        what: &'static str,
        /// The offending value.
        value: f64,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Checkpoint`] for `path`.
    pub(crate) fn checkpoint(path: impl Into<PathBuf>, msg: impl Into<String>) -> Error {
        Error::Checkpoint {
            path: path.into(),
            msg: msg.into(),
        }
    }
}

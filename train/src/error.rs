//! The one error type of `lamina-train`. Errors from the crates below come in unchanged
//! (`#[from]`); the training loop's own errors say which file, which epoch or which
//! setting is wrong, and every error raised inside [`Trainer::fit`](crate::Trainer::fit),
//! [`resume`](crate::Trainer::resume) and [`evaluate`](crate::Trainer::evaluate) says where
//! in the run it happened (the 0-based epoch and batch and the [`Phase`]), wrapped in
//! [`Error::Context`]; [`Error::inner`] peels that off:
//!
//! ```text
//! epoch 2 (checkpoint): runs/mlp/last.json: cannot write ...: No space left on device
//! epoch 3, batch 17 (training): the input batch holds NaN (sample 5 of the batch, data set index 1234, element 2): clean the data ...
//! ```
//!
//! A NaN or infinite loss is traced back to where the non-finite value first appeared —
//! the input batch, the targets, a parameter, the model's output, or the loss itself — see
//! [`NonFiniteAt`].

use std::fmt;
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
    /// A loss became NaN or infinite; `at` says where the non-finite value first
    /// appeared in that batch.
    #[error("epoch {epoch}, batch {batch} ({phase}): {at}")]
    NonFinite {
        /// The 0-based epoch (0 in [`Trainer::evaluate`](crate::Trainer::evaluate)).
        epoch: usize,
        /// The 0-based batch within the epoch.
        batch: usize,
        /// Training, validation or evaluation.
        phase: Phase,
        /// The first non-finite value found, checking in order the input batch, the
        /// targets, the parameters, the model's output and the loss.
        at: NonFiniteAt,
    },
    /// An error inside a run, with where it happened: `epoch 3, batch 17 (training): ...`.
    /// `source()` is the error itself; [`Error::inner`] reaches it through any number
    /// of contexts.
    #[error("{context}: {source}")]
    Context {
        /// The epoch, batch and phase.
        context: Context,
        /// What went wrong.
        source: Box<Error>,
    },
}

/// The part of a training run an error happened in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// A training step: loading the batch, forward, loss, backward, clipping, the
    /// optimizer step.
    Training,
    /// The validation pass after an epoch.
    Validation,
    /// [`Trainer::evaluate`](crate::Trainer::evaluate).
    Evaluation,
    /// Stepping the learning-rate schedule after an epoch.
    Schedule,
    /// Writing a checkpoint, or restoring the best weights at the end.
    Checkpoint,
    /// Writing the history CSV.
    History,
    /// Drawing the history plot.
    Plot,
    /// Reading and loading the checkpoint a run resumes from.
    Resume,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Training => "training",
            Phase::Validation => "validation",
            Phase::Evaluation => "evaluation",
            Phase::Schedule => "schedule",
            Phase::Checkpoint => "checkpoint",
            Phase::History => "history",
            Phase::Plot => "plot",
            Phase::Resume => "resume",
        })
    }
}

/// Where in a run an error happened (see [`Error::Context`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    /// The 0-based epoch, when the error belongs to one.
    pub epoch: Option<usize>,
    /// The 0-based batch within the epoch (or the evaluation), when it belongs to one.
    pub batch: Option<usize>,
    /// What the loop was doing.
    pub phase: Phase,
}

impl Context {
    /// Context for `phase` in epoch `epoch`, batch `batch`.
    pub fn new(phase: Phase, epoch: Option<usize>, batch: Option<usize>) -> Context {
        Context {
            epoch,
            batch,
            phase,
        }
    }
}

impl fmt::Display for Context {
    /// `epoch 3, batch 17 (training)`, `epoch 3 (checkpoint)`, `batch 2 (evaluation)` or
    /// `resume`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.epoch, self.batch) {
            (Some(e), Some(b)) => write!(f, "epoch {e}, batch {b} ({})", self.phase),
            (Some(e), None) => write!(f, "epoch {e} ({})", self.phase),
            (None, Some(b)) => write!(f, "batch {b} ({})", self.phase),
            (None, None) => write!(f, "{}", self.phase),
        }
    }
}

/// Where a non-finite value first appeared in a batch whose loss was NaN or infinite.
/// `sample` is the row within the batch, `index` that row's index in the data set, and
/// `element` the flat position within the sample (or the parameter).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum NonFiniteAt {
    /// The input batch holds it: the data needs cleaning.
    Input {
        /// The row within the batch.
        sample: usize,
        /// The row's index in the data set.
        index: Option<usize>,
        /// The flat position within the sample.
        element: usize,
        /// The value (NaN or ±inf).
        value: f64,
    },
    /// The (float) targets hold it: the data needs cleaning.
    Target {
        /// The row within the batch.
        sample: usize,
        /// The row's index in the data set.
        index: Option<usize>,
        /// The flat position within the sample's target.
        element: usize,
        /// The value (NaN or ±inf).
        value: f64,
    },
    /// A parameter held it before this batch: an earlier update diverged.
    Parameter {
        /// The parameter's name in the state dict (`0.weight`).
        name: String,
        /// The flat position within the parameter.
        element: usize,
        /// The value (NaN or ±inf).
        value: f64,
    },
    /// The model's output holds it while its inputs and parameters are finite.
    Output {
        /// The row within the batch.
        sample: usize,
        /// The row's index in the data set.
        index: Option<usize>,
        /// The flat position within the sample's output.
        element: usize,
        /// The value (NaN or ±inf).
        value: f64,
    },
    /// Only the loss is non-finite: the loss closure made it.
    Loss {
        /// The loss (NaN or ±inf).
        value: f64,
    },
}

/// `sample 5 of the batch, data set index 1234, element 2`.
fn position(sample: usize, index: Option<usize>, element: usize) -> String {
    match index {
        Some(i) => format!("sample {sample} of the batch, data set index {i}, element {element}"),
        None => format!("sample {sample} of the batch, element {element}"),
    }
}

impl fmt::Display for NonFiniteAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const CLEAN: &str = "clean the data (lamina_data::transform::Imputer, or \
                             drop_rows_with_nan for a table) before training";
        const DIVERGED: &str = "the run diverged (lower the learning rate, clip gradients)";
        match self {
            NonFiniteAt::Input {
                sample,
                index,
                element,
                value,
            } => write!(
                f,
                "the input batch holds {value} ({}): {CLEAN}",
                position(*sample, *index, *element)
            ),
            NonFiniteAt::Target {
                sample,
                index,
                element,
                value,
            } => write!(
                f,
                "the targets hold {value} ({}): {CLEAN}",
                position(*sample, *index, *element)
            ),
            NonFiniteAt::Parameter {
                name,
                element,
                value,
            } => write!(
                f,
                "parameter `{name}` holds {value} (element {element}) before this batch: an \
                 earlier optimizer step made it so; {DIVERGED}, or look for a NaN gradient"
            ),
            NonFiniteAt::Output {
                sample,
                index,
                element,
                value,
            } => write!(
                f,
                "the model's output holds {value} ({}) while its inputs and parameters are \
                 finite: {DIVERGED}",
                position(*sample, *index, *element)
            ),
            NonFiniteAt::Loss { value } => write!(
                f,
                "the loss is {value} while the model's outputs and the targets are finite: \
                 the loss closure made it (a log of 0, or targets outside the loss's domain?)"
            ),
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The error without its [`Context`]s: what went wrong, wherever it happened.
    pub fn inner(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.inner(),
            other => other,
        }
    }

    /// Where in a run the error happened, when it carries a [`Context`].
    pub fn context(&self) -> Option<&Context> {
        match self {
            Error::Context { context, .. } => Some(context),
            _ => None,
        }
    }

    /// The error with `context` around it; an error that already says where it happened
    /// (a context, or a non-finite value) stays as it is.
    pub(crate) fn at(self, context: Context) -> Error {
        match self {
            Error::Context { .. } | Error::NonFinite { .. } => self,
            other => Error::Context {
                context,
                source: Box::new(other),
            },
        }
    }

    /// An [`Error::Checkpoint`] for `path`.
    pub(crate) fn checkpoint(path: impl Into<PathBuf>, msg: impl Into<String>) -> Error {
        Error::Checkpoint {
            path: path.into(),
            msg: msg.into(),
        }
    }
}

/// `.at(context)` on any result whose error becomes an [`Error`].
pub(crate) trait At<T> {
    /// The result with `context` added to its error.
    fn at(self, context: Context) -> Result<T>;
}

impl<T, E: Into<Error>> At<T> for std::result::Result<T, E> {
    fn at(self, context: Context) -> Result<T> {
        self.map_err(|e| e.into().at(context))
    }
}

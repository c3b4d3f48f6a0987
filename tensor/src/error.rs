//! The one error type of `tensor` and every backend. Each variant names the op and the
//! operands, so `matmul: shape mismatch, lhs [2, 3], rhs [4, 5]` says what went wrong;
//! [`Error::Context`] adds where, in the user's terms, without hiding the kind.

use crate::{DType, Shape};

/// Everything that can go wrong in a tensor op.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two shapes that must agree do not (matmul inner dims, cat, where, ...).
    #[error("{op}: shape mismatch, lhs {lhs}, rhs {rhs}")]
    ShapeMismatch {
        op: &'static str,
        lhs: Shape,
        rhs: Shape,
    },
    /// Shapes that cannot be broadcast together under PyTorch's rule.
    #[error("{op}: shapes {lhs} and {rhs} cannot be broadcast together")]
    Broadcast {
        op: &'static str,
        lhs: Shape,
        rhs: Shape,
    },
    /// A dimension index outside `-rank..rank`.
    #[error("{op}: dimension {dim} is out of range for a tensor of rank {rank}")]
    DimOutOfRange {
        op: &'static str,
        dim: isize,
        rank: usize,
    },
    /// A reshape/view whose element counts or strides do not allow it.
    #[error("{op}: cannot reshape {src} ({src_count} elements) into {dst}")]
    Reshape {
        op: &'static str,
        src: Shape,
        src_count: usize,
        dst: String,
    },
    /// The two operands have different dtypes (Lamina never promotes silently).
    #[error("{op}: dtype mismatch, lhs {lhs}, rhs {rhs}")]
    DTypeMismatch {
        op: &'static str,
        lhs: DType,
        rhs: DType,
    },
    /// The op is not defined for this dtype (e.g. `exp` on `i64`).
    #[error("{op}: unsupported dtype {dtype}")]
    UnsupportedDType { op: &'static str, dtype: DType },
    /// The operands live on different devices.
    #[error("{op}: operands are on different devices, {lhs} and {rhs}")]
    DeviceMismatch {
        op: &'static str,
        lhs: String,
        rhs: String,
    },
    /// An index value outside its dimension (gather, index_select, one_hot, ...).
    #[error("{op}: index {index} is out of bounds for dimension {dim} with size {size}")]
    IndexOutOfBounds {
        op: &'static str,
        index: i64,
        dim: usize,
        size: usize,
    },
    /// The element count of the data does not match the shape.
    #[error("{op}: {len} elements cannot fill shape {shape} ({expected} elements)")]
    ElementCount {
        op: &'static str,
        len: usize,
        shape: Shape,
        expected: usize,
    },
    /// Any other invalid argument, described in words.
    #[error("{op}: {msg}")]
    Invalid { op: &'static str, msg: String },
    /// An input a layer cannot take, named as the layer's `Module::name` (in
    /// `lamina-nn`) names it: `Linear(in 64, out 3): input has 32 features (shape
    /// [8, 32]), expected 64`.
    #[error("{module}: {msg}")]
    Module { module: String, msg: String },
    /// A device that cannot be used: no CUDA driver, no GPU, out of memory.
    #[error("device unavailable: {0}")]
    DeviceUnavailable(String),
    /// A failure inside a backend (driver error, kernel compile error).
    #[error("backend {backend}: {msg}")]
    Backend { backend: String, msg: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Another error, with where it happened in the user's terms (which layer of a
    /// model, say): `Sequential layer 2 (Linear(in 64, out 3)): ...`. Match on
    /// [`Error::innermost`] to tell the kinds apart.
    #[error("{context}: {source}")]
    Context {
        context: String,
        /// The error being explained, as [`std::error::Error::source`] returns it.
        source: Box<Error>,
    },
}

impl Error {
    /// This error wrapped in [`Error::Context`]: `context` comes first in the message.
    ///
    /// ```
    /// use lamina_tensor::Error;
    /// let e = Error::Invalid { op: "relu", msg: "bad".into() }.context("layer 1");
    /// assert_eq!(e.to_string(), "layer 1: relu: bad");
    /// assert!(matches!(e.innermost(), Error::Invalid { op: "relu", .. }));
    /// ```
    pub fn context(self, context: impl Into<String>) -> Error {
        Error::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// The error under every [`Error::Context`] layer (the error itself if it has none):
    /// the one to match on.
    pub fn innermost(&self) -> &Error {
        let mut e = self;
        while let Error::Context { source, .. } = e {
            e = source;
        }
        e
    }
}

/// `Result` with Lamina's `Error`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_prefixes_the_message_and_keeps_the_kind() {
        let inner = Error::IndexOutOfBounds {
            op: "gather",
            index: 3,
            dim: 1,
            size: 3,
        };
        let e = inner
            .context("Linear(in 4, out 3)")
            .context("Sequential layer 2");
        assert_eq!(
            e.to_string(),
            "Sequential layer 2: Linear(in 4, out 3): \
             gather: index 3 is out of bounds for dimension 1 with size 3"
        );
        let src = std::error::Error::source(&e).expect("a source");
        assert_eq!(
            src.to_string(),
            "Linear(in 4, out 3): gather: index 3 is out of bounds for dimension 1 with size 3"
        );
        assert!(matches!(
            e.innermost(),
            Error::IndexOutOfBounds { index: 3, .. }
        ));
        let plain = Error::DeviceUnavailable("no GPU".into());
        assert!(std::error::Error::source(&plain).is_none());
        assert!(matches!(plain.innermost(), Error::DeviceUnavailable(_)));
    }
}

//! [`Error`]: one error type for a whole Lamina program.
//!
//! Each crate keeps its own error for users who take it alone (`lamina_tensor::Error` for
//! tensor ops, `lamina_nn::Error` for weight files, `lamina_data::Error` for loading and
//! transforming data, `lamina_train::Error` for the training loop); this one has a `From`
//! for each, so `?` works on all of them in a function returning [`Result`]. A crate's
//! error that only wraps a tensor error (say `lamina_data::Error::Tensor`) arrives as
//! [`Error::Tensor`], so one `match` arm catches a shape mismatch wherever it came from.
//!
//! ```
//! use lamina::prelude::*;
//! use lamina::data::{parse_csv, CsvOptions};
//!
//! fn first_column_mean(csv: &str) -> lamina::Result<f64> {
//!     let table = parse_csv(csv, "inline.csv", &CsvOptions::default())?; // lamina_data::Error
//!     let x = table.features_tensor(DType::F64, &Device::cpu())?;       // lamina_data::Error
//!     Ok(x.i((.., 0))?.mean_all()?.to_scalar::<f64>()?)                 // lamina_tensor::Error
//! }
//! assert_eq!(first_column_mean("a,b\n1,2\n3,4\n")?, 2.0);
//! let err = first_column_mean("a,b\n1,2\n3\n").unwrap_err();
//! assert!(matches!(err, lamina::Error::Data(_)));
//! assert!(err.to_string().starts_with("inline.csv: line 3"), "{err}");
//! # Ok::<(), lamina::Error>(())
//! ```

/// Any error of Lamina's crates. The message is the wrapped error's, unchanged.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor op failed: shapes, dtypes, devices, an index out of range, a bad argument.
    #[error(transparent)]
    Tensor(#[from] lamina_tensor::Error),
    /// Saving or loading weights or random-stream state failed (`lamina::nn`).
    #[error(transparent)]
    Nn(lamina_nn::Error),
    /// Loading, splitting, transforming or scoring data failed (`lamina::data`).
    #[error(transparent)]
    Data(lamina_data::Error),
    /// The training loop failed (`lamina::train`: configuration, checkpoints, history,
    /// plots, a diverged run).
    #[cfg(feature = "train")]
    #[error(transparent)]
    Train(lamina_train::Error),
    /// A file or stream of the program's own could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// `Result` with [`Error`]: what `main` and the functions of a Lamina program return.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The tensor error inside, if this is one (also when it came through another crate).
    pub fn as_tensor(&self) -> Option<&lamina_tensor::Error> {
        match self {
            Error::Tensor(e) => Some(e),
            Error::Nn(_) | Error::Data(_) | Error::Io(_) => None,
            #[cfg(feature = "train")]
            Error::Train(_) => None,
        }
    }
}

impl From<lamina_nn::Error> for Error {
    fn from(e: lamina_nn::Error) -> Error {
        match e {
            lamina_nn::Error::Tensor(t) => Error::Tensor(t),
            other => Error::Nn(other),
        }
    }
}

impl From<lamina_data::Error> for Error {
    fn from(e: lamina_data::Error) -> Error {
        match e {
            lamina_data::Error::Tensor(t) => Error::Tensor(t),
            other => Error::Data(other),
        }
    }
}

#[cfg(feature = "train")]
impl From<lamina_train::Error> for Error {
    fn from(e: lamina_train::Error) -> Error {
        match e {
            lamina_train::Error::Tensor(t) => Error::Tensor(t),
            lamina_train::Error::Nn(n) => n.into(),
            lamina_train::Error::Data(d) => d.into(),
            other => Error::Train(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamina_tensor::Shape;

    fn shape_error() -> lamina_tensor::Error {
        lamina_tensor::Error::ShapeMismatch {
            op: "matmul",
            lhs: Shape::from([2, 3]),
            rhs: Shape::from([2, 3]),
        }
    }

    #[test]
    fn every_crate_error_converts_and_keeps_its_message() {
        let want = shape_error().to_string();
        let cases: Vec<Error> = vec![
            shape_error().into(),
            lamina_nn::Error::Tensor(shape_error()).into(),
            lamina_data::Error::Tensor(shape_error()).into(),
            #[cfg(feature = "train")]
            lamina_train::Error::Tensor(shape_error()).into(),
            #[cfg(feature = "train")]
            lamina_train::Error::Data(lamina_data::Error::Tensor(shape_error())).into(),
        ];
        for e in cases {
            assert!(matches!(e, Error::Tensor(_)), "{e:?}");
            assert_eq!(e.to_string(), want);
            assert!(e.as_tensor().is_some());
        }
        let d: Error = lamina_data::Error::Invalid {
            op: "k_fold",
            msg: "k = 7 exceeds 5 samples".into(),
        }
        .into();
        assert!(matches!(d, Error::Data(_)));
        assert_eq!(d.to_string(), "k_fold: k = 7 exceeds 5 samples");
        assert!(d.as_tensor().is_none());
        let io: Error = std::io::Error::new(std::io::ErrorKind::NotFound, "gone").into();
        assert_eq!(io.to_string(), "gone");
    }

    #[cfg(feature = "train")]
    #[test]
    fn train_errors_of_their_own_stay_train_errors() {
        let e: Error = lamina_train::Error::Config("patience must be > 0".into()).into();
        assert!(matches!(e, Error::Train(_)));
        assert_eq!(
            e.to_string(),
            "training configuration: patience must be > 0"
        );
    }
}

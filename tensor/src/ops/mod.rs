//! Tensor ops, one file per family. Every op validates shapes, dtypes and devices here,
//! once, before dispatching to the backend; kernels trust what they receive.

pub(crate) mod arith;
mod attention;
mod conv;
mod elementwise;
mod index;
mod indexing;
mod join;
mod lstm;
mod matmul;
mod norm;
mod normalize;
mod pool;
mod rearrange;
mod reduce;
pub(crate) mod scan;
mod view;

use crate::{Error, Result, Tensor};

impl Tensor {
    /// Errors unless both tensors live on the same device.
    pub(crate) fn check_device(&self, other: &Tensor, op: &'static str) -> Result<()> {
        if self.device() != other.device() {
            return Err(Error::DeviceMismatch {
                op,
                lhs: self.device().name(),
                rhs: other.device().name(),
            });
        }
        Ok(())
    }

    /// Errors unless both tensors share device and dtype.
    pub(crate) fn check_same(&self, other: &Tensor, op: &'static str) -> Result<()> {
        self.check_device(other, op)?;
        if self.dtype() != other.dtype() {
            return Err(Error::DTypeMismatch {
                op,
                lhs: self.dtype(),
                rhs: other.dtype(),
            });
        }
        Ok(())
    }

    pub(crate) fn check_float(&self, op: &'static str) -> Result<()> {
        if !self.dtype().is_float() {
            return Err(Error::UnsupportedDType {
                op,
                dtype: self.dtype(),
            });
        }
        Ok(())
    }
}
pub use arith::Operand;
pub use attention::{AttentionGrads, AttentionSpec};
pub use conv::{ConvGeometry, ConvSpec};
pub use elementwise::RoundingMode;
pub use indexing::{Ellipsis, IndexArg, IndexItem, IntoIndexItem, NewAxis, Step};
pub use normalize::{NormSpec, Normalized};
pub use pool::PoolGeometry;
pub use rearrange::{Indexing, PadMode};

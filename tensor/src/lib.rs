//! `lamina-tensor`: the tensor type of Lamina and the object-safe `Backend` trait that
//! every device implements.
//!
//! User-facing types carry no generics: [`Tensor`], [`Device`], [`DType`], [`Shape`].
//! Views (reshape, permute, narrow, expand, ...) are [`Layout`] arithmetic, O(1), shared
//! storage. Every op validates its operands once, here, and returns [`Result`]; the error
//! names the op and the operands (`matmul: shape mismatch, lhs [2, 3], rhs [4, 5]`).
//!
//! [`random`] holds the global seed ([`manual_seed`], [`next_seed`]) that layers, dropout
//! and data loaders draw from when they are given no seed of their own.
//!
//! This crate knows no backend: take one from a backend crate
//! (`lamina_backend_cpu::device()`) or the `lamina` facade (`Device::cpu()`).

pub mod autocast;
pub mod backend;
mod create;
mod device;
mod display;
mod dtype;
mod error;
pub mod hook;
mod layout;
mod op;
mod ops;
pub mod random;
pub mod rng;
mod shape;
mod tensor;

#[cfg(feature = "testing")]
pub mod testing;

pub use backend::{
    share_arc, share_storage, AdamStep, Backend, MatmulSpec, SgdStep, Storage, StorageRef,
};
pub use create::{NestedData, RangeElem};
pub use device::Device;
pub use dtype::{DType, DTypeKind, Element, HostData};
pub use error::{Error, Result};
pub use half::{bf16, f16};
pub use layout::{Layout, StridedOffsets};
pub use op::{
    erf_f64, sigmoid_f64, BinaryKernel, BinaryOp, CmpOp, Distribution, ElemOps, Half, Int, IntRhs,
    Real, ReduceOp, Saved, Saves, ScanOp, ScatterReduce, TestDomain, Tol, UnaryKernel, UnaryOp,
};
pub use ops::{
    AttentionGrads, AttentionSpec, ConvGeometry, ConvSpec, Ellipsis, IndexArg, IndexItem, Indexing,
    IntoIndexItem, NewAxis, NormSpec, Normalized, Operand, PadMode, PoolGeometry, RoundingMode,
    Step,
};
pub use random::{initial_seed, manual_seed, next_seed};
pub use shape::{resolve_dim, resolve_dims, DimVec, Dims, Shape, ShapeArg, SignedDims};
pub use tensor::{Tensor, TensorId};

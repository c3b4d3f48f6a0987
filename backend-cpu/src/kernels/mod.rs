//! The CPU kernels, one file per op family; `backend.rs` dispatches dtypes into them.

pub mod attention;
mod block;
pub mod conv;
pub mod elementwise;
mod half_gemm;
pub mod index;
pub mod lstm;
pub mod matmul;
pub mod norm;
pub mod num;
pub mod optim;
pub mod pool;
pub mod reduce;
pub mod scan;

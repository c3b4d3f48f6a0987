//! `lamina-backend-cpu`: Lamina's CPU backend.
//!
//! - GEMM behind one interface (`gemm`): the `gemm` crate's AVX-512 kernels where the CPU
//!   has them, matrixmultiply as the portable path; strides go straight in, so
//!   transposed operands are never copied.
//! - Element-wise maths with a contiguous fast path the compiler vectorises, explicit SIMD
//!   kernels (`simd`: AVX2 / AVX-512 chosen at run time, portable fallback) for exp, log,
//!   tanh, sigmoid, GELU, softmax and the reductions.
//! - One rayon helper (`par`) with a size threshold: tiny tensors run inline.
//! - A caching allocator for large buffers (`alloc`), with a live-bytes counter.
//!
//! ```
//! use lamina_tensor::{DType, Tensor};
//! let dev = lamina_backend_cpu::device();
//! let a = Tensor::arange(0.0, 6.0, 1.0, DType::F32, &dev)?.reshape([2, 3])?;
//! let b = a.matmul(&a.t()?)?;
//! assert_eq!(b.to_vec::<f32>()?, vec![5.0, 14.0, 14.0, 50.0]);
//! # Ok::<(), lamina_tensor::Error>(())
//! ```

pub mod alloc;
mod backend;
pub mod gemm;
mod kernels;
pub mod par;
pub mod qgemm;
pub mod simd;
mod storage;
mod walk;

use std::sync::Once;

pub use backend::CpuBackend;
pub use storage::CpuStorage;

use lamina_tensor::Device;

/// The process-wide CPU device.
pub fn device() -> Device {
    static BACKEND: CpuBackend = CpuBackend;
    static SLOT: &dyn lamina_tensor::Backend = &BACKEND;
    static ADOPT: Once = Once::new();
    ADOPT.call_once(par::adopt_main_thread);
    Device::new(&SLOT)
}

/// Bytes of CPU tensor storage alive right now (all threads).
pub fn live_bytes() -> usize {
    alloc::live_bytes()
}

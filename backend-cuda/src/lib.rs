//! `lamina-backend-cuda` holds Lamina's CUDA backend: CUDA C kernels compiled with
//! NVRTC at first use, cuBLAS for GEMM, a caching allocator and one stream per device,
//! all through cudarc with the driver loaded at run time.
//!
//! What exists today, none of it needing a GPU:
//! - the probe: [`device_count`] and [`device`] find out, without panicking, whether a CUDA
//!   driver and GPU are present;
//! - `backend` (feature `cuda`): `CudaBackend`, the `Backend` on a device: every
//!   element-wise op, comparisons, `where`, casts, copies, fills, transfers, reductions
//!   and softmax launch the kernels below, as do `index_select`, `gather`, scatter (every
//!   reduction), scans and argsort; matmul goes through cuBLAS (integer matmul through a
//!   kernel of its own); normalisation, max pooling and the optimizer updates have fused
//!   kernels, and convolution and attention run their composites. It has never run: no
//!   GPU was available;
//! - [`gemm`]: how a row-major batched matmul maps onto cuBLAS's column-major call
//!   without copying transposed views;
//! - [`source`]: the CUDA C++ of the element-wise kernels (every unary and binary op,
//!   generated from the op tables' CUDA expressions; comparisons, `where`, casts, fills and
//!   strided copies over every dtype) and of the reductions (warp-shuffle block
//!   reductions, the arg-reductions' first-index ties), row-wise softmax and its
//!   backward, the indexing kernels, the scans and argsort, and the fused kernels, which
//!   `kernel-check.sh` compiles with NVRTC and assembles with ptxas for sm_80 and sm_90
//!   on every CI run (the `cuda-kernel-sources` binary writes them out);
//! - [`launch`]: the host side of a launch, the layout argument the kernels read operands
//!   through and the grid of a one-thread-per-element launch;
//! - [`alloc`]: the caching allocator (size classes, per-stream reuse, byte counts,
//!   emptying and retrying when the driver is out of memory), over any raw allocator:
//!   `CudaBackend` takes every tensor's memory from it (`live_bytes`, `peak_bytes`,
//!   `cached_bytes`, `empty_cache`);
//! - [`cache`]: the compiled kernels' cache keys and the atomic disk cache, which the
//!   backend uses when `LAMINA_KERNEL_CACHE` names a directory.

pub mod alloc;
#[cfg(feature = "cuda")]
pub mod backend;
pub mod cache;
pub mod gemm;
pub mod launch;
pub mod source;

use lamina_tensor::{Device, Error, Result};

/// Whether the CUDA backend is complete and verified: until its conformance suite has
/// passed on a GPU, `Device::best()` keeps choosing the CPU, and only an explicit
/// [`device`] gives the CUDA backend.
pub const IS_COMPLETE: bool = false;

/// Number of CUDA devices, or a clean error naming why there are none (no `cuda`
/// feature, no driver library, no GPU).
pub fn device_count() -> Result<usize> {
    #[cfg(feature = "cuda")]
    {
        // SAFETY: `is_culib_present` only tries to dlopen the driver library and reports
        // whether it could; it calls no CUDA function.
        let present = unsafe { cudarc::driver::sys::is_culib_present() };
        if !present {
            return Err(Error::DeviceUnavailable(
                "no CUDA driver: libcuda could not be loaded".into(),
            ));
        }
        let n = cudarc::driver::CudaContext::device_count()
            .map_err(|e| Error::DeviceUnavailable(format!("CUDA driver error: {e:?}")))?;
        if n <= 0 {
            return Err(Error::DeviceUnavailable("no CUDA device".into()));
        }
        Ok(n as usize)
    }
    #[cfg(not(feature = "cuda"))]
    Err(Error::DeviceUnavailable(
        "lamina was built without the `cuda` feature".into(),
    ))
}

/// CUDA device `ordinal`, opened once per process (later calls give the same device).
/// Errors (never panics) without the `cuda` feature, a driver, NVRTC, or that device.
///
/// The backend has not run on a GPU yet (no machine it was written on had one).
pub fn device(ordinal: usize) -> Result<Device> {
    let n = device_count()?;
    if ordinal >= n {
        return Err(Error::DeviceUnavailable(format!(
            "CUDA device {ordinal} requested, {n} present"
        )));
    }
    open(ordinal)
}

#[cfg(feature = "cuda")]
fn open(ordinal: usize) -> Result<Device> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static OPEN: OnceLock<Mutex<HashMap<usize, Device>>> = OnceLock::new();
    let mut open = OPEN
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(d) = open.get(&ordinal) {
        return Ok(*d);
    }
    let d = Device::leak(Box::new(backend::CudaBackend::new(ordinal)?));
    open.insert(ordinal, d);
    Ok(d)
}

#[cfg(not(feature = "cuda"))]
fn open(_ordinal: usize) -> Result<Device> {
    unreachable!("device_count fails without the `cuda` feature")
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_device_is_a_clean_error_not_a_panic() {
        match super::device(0) {
            Ok(d) => eprintln!("a CUDA device is present: {}", d.name()),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains("device unavailable"), "{msg}");
                eprintln!("skipped: no CUDA device ({msg})");
            }
        }
        // An ordinal past the devices present is always an error.
        let e = super::device(usize::MAX).unwrap_err().to_string();
        assert!(e.contains("device unavailable"), "{e}");
    }
}

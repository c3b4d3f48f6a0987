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
//!   kernel of its own); normalisation, max pooling, attention (f32 and f64: cuBLAS
//!   products around row kernels), the LSTM cell and the optimizer updates have fused
//!   kernels, and convolution runs as `im2col` patches and cuBLAS. It has never run: no
//!   GPU was available;
//! - [`attention`]: the sizes of an attention call checked from its layouts and the
//!   cuBLAS products of both directions, transposed operands as views (host logic, tested
//!   against attention and its gradients written out, without a GPU);
//! - [`conv`]: how a convolution and its two gradients map onto `im2col`, `col2im` and
//!   three cuBLAS products that read their operands in place;
//! - [`gemm`]: how a row-major batched matmul maps onto cuBLAS's column-major call
//!   without copying transposed views;
//! - [`source`]: the CUDA C++ of the element-wise kernels (every unary and binary op,
//!   generated from the op tables' CUDA expressions; comparisons, `where`, casts, fills and
//!   strided copies over every dtype) and of the reductions (warp-shuffle block
//!   reductions, the arg-reductions' first-index ties), row-wise softmax and its
//!   backward, the indexing kernels, the scans and argsort, the fused kernels, the
//!   attention row kernels, the convolution's patches and the LSTM cell, which
//!   `kernel-check.sh` compiles with NVRTC and assembles with ptxas for sm_80 and sm_90
//!   on every CI run (the `cuda-kernel-sources` binary writes them out), and which the
//!   `tests/*_host.rs` tests compile with the system's C++ compiler and run on the host,
//!   launch by launch, against the CPU backend;
//! - [`launch`]: the host side of a launch, the layout argument the kernels read operands
//!   through and the grid of a one-thread-per-element launch;
//! - [`alloc`]: the caching allocator (size classes, per-stream reuse, byte counts,
//!   emptying and retrying when the driver is out of memory), over any raw allocator:
//!   `CudaBackend` takes every tensor's memory from it (`live_bytes`, `peak_bytes`,
//!   `cached_bytes`, `empty_cache`);
//! - [`cache`]: the compiled kernels' cache keys and the atomic disk cache, which the
//!   backend uses when `LAMINA_KERNEL_CACHE` names a directory.

pub mod alloc;
pub mod attention;
#[cfg(feature = "cuda")]
pub mod backend;
pub mod cache;
pub mod conv;
pub mod gemm;
pub mod launch;
pub mod source;

use lamina_tensor::{Device, Error, Result};

/// A shared library the CUDA backend loads at run time (cudarc's dynamic loading: a
/// missing one would panic inside cudarc, so each is probed first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Library {
    /// `libcuda`, the driver.
    Driver,
    /// `libnvrtc`, which compiles the kernels at run time.
    Nvrtc,
    /// `libcublas`, the matmul.
    Cublas,
}

impl Library {
    /// Every library, in the order they are probed.
    pub const ALL: [Library; 3] = [Library::Driver, Library::Nvrtc, Library::Cublas];

    /// The clean error for this library missing.
    pub fn missing(self) -> Error {
        Error::DeviceUnavailable(
            match self {
                Library::Driver => "no CUDA driver: libcuda could not be loaded",
                Library::Nvrtc => {
                    "no NVRTC: libnvrtc could not be loaded (the CUDA backend compiles its \
                     kernels at run time; put the toolkit's lib64 on LD_LIBRARY_PATH)"
                }
                Library::Cublas => {
                    "no cuBLAS: libcublas could not be loaded (the CUDA backend's matmul)"
                }
            }
            .into(),
        )
    }

    /// Whether the library loads here (`false` without the `cuda` feature).
    pub fn present(self) -> bool {
        #[cfg(feature = "cuda")]
        // SAFETY: each `is_culib_present` only tries to dlopen its library and reports
        // whether it could; it calls no CUDA function.
        unsafe {
            match self {
                Library::Driver => cudarc::driver::sys::is_culib_present(),
                Library::Nvrtc => cudarc::nvrtc::sys::is_culib_present(),
                Library::Cublas => cudarc::cublas::sys::is_culib_present(),
            }
        }
        #[cfg(not(feature = "cuda"))]
        false
    }
}

/// `Ok` when `present` says each of `libs` loads, else the first missing one's error:
/// the loader path, with the probe a parameter so tests can simulate a missing library.
pub fn check_libraries(libs: &[Library], present: impl Fn(Library) -> bool) -> Result<()> {
    match libs.iter().find(|&&l| !present(l)) {
        Some(l) => Err(l.missing()),
        None => Ok(()),
    }
}

/// Number of CUDA devices, or a clean error naming why there are none (no `cuda`
/// feature, no driver library, no GPU).
pub fn device_count() -> Result<usize> {
    #[cfg(feature = "cuda")]
    {
        check_libraries(&[Library::Driver], Library::present)?;
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

/// A CUDA device's memory as its caching allocator counts it, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryStats {
    /// Held by live tensors now (by size class).
    pub live: usize,
    /// The most held at once since the device was opened.
    pub peak: usize,
    /// Kept by the cache for reuse (PyTorch's reserved minus allocated).
    pub cached: usize,
}

/// The memory counts of CUDA device `ordinal` (opened by [`device`] if it was not).
pub fn memory_stats(ordinal: usize) -> Result<MemoryStats> {
    device(ordinal)?;
    #[cfg(feature = "cuda")]
    {
        let b = opened(ordinal)?.1;
        Ok(MemoryStats {
            live: b.live_bytes(),
            peak: b.peak_bytes(),
            cached: b.cached_bytes(),
        })
    }
    #[cfg(not(feature = "cuda"))]
    unreachable!("device fails without the `cuda` feature")
}

/// Returns CUDA device `ordinal`'s cached blocks to the driver (PyTorch's
/// `torch.cuda.empty_cache`).
pub fn empty_cache(ordinal: usize) -> Result<()> {
    device(ordinal)?;
    #[cfg(feature = "cuda")]
    opened(ordinal)?.1.empty_cache();
    Ok(())
}

#[cfg(feature = "cuda")]
fn open(ordinal: usize) -> Result<Device> {
    opened(ordinal).map(|(d, _)| d)
}

/// Device `ordinal` and its backend, opened once per process.
#[cfg(feature = "cuda")]
fn opened(ordinal: usize) -> Result<(Device, &'static backend::CudaBackend)> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Open = HashMap<usize, (Device, &'static backend::CudaBackend)>;
    static OPEN: OnceLock<Mutex<Open>> = OnceLock::new();
    let mut open = OPEN
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(d) = open.get(&ordinal) {
        return Ok(*d);
    }
    // Leaked for the process, as `Device::leak` would; kept typed for the memory counts.
    let b: &'static backend::CudaBackend = Box::leak(Box::new(backend::CudaBackend::new(ordinal)?));
    let slot: &'static &'static dyn lamina_tensor::Backend = Box::leak(Box::new(b as _));
    let d = (Device::new(slot), b);
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

    #[test]
    fn each_missing_library_is_a_clean_error_naming_it() {
        use super::{check_libraries, Library};
        assert!(check_libraries(&Library::ALL, |_| true).is_ok());
        for (lib, name) in [
            (Library::Driver, "libcuda"),
            (Library::Nvrtc, "libnvrtc"),
            (Library::Cublas, "libcublas"),
        ] {
            let e = check_libraries(&Library::ALL, |l| l != lib)
                .unwrap_err()
                .to_string();
            assert!(e.contains("device unavailable") && e.contains(name), "{e}");
        }
        // The driver is probed first: with everything missing, it is the one named.
        let e = check_libraries(&Library::ALL, |_| false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("libcuda"), "{e}");
        // Without the `cuda` feature nothing loads; with it, what this machine has.
        if cfg!(not(feature = "cuda")) {
            assert!(Library::ALL.iter().all(|l| !l.present()));
        }
    }
}

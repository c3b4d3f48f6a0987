//! The CUDA backend (feature `cuda`): storage in device memory (`CudaStorage`: a block from
//! the device's caching allocator, [`crate::alloc`], returned to it on drop), one stream
//! per device, the generated kernels ([`crate::source`]) compiled by NVRTC for the device's
//! own architecture on first use (and cached on disk under `LAMINA_KERNEL_CACHE` when set), and the `Backend` primitives launched on them: creation,
//! transfers, strided copies, casts, every element-wise unary and binary op, comparisons,
//! `where`, reductions and the row-wise softmax; matmul through cuBLAS's strided-batched
//! GEMM (f32, f64, and f16/bf16 with f32 accumulation; TF32 off unless
//! [`set_allow_tf32`]); `index_select`, `gather` and
//! `scatter` (an out-of-range index is an error, read back after the
//! kernel, and a scatter checks every id before it writes); scatter's reductions (sum,
//! product, max, min by atomics and compare-and-swap, the mean by counting);
//! scans and the stable argsort, one thread per line. Seeded random fills are the
//! trait's default: the host's counter-based stream, copied to the device, so the values
//! equal the CPU backend's (a device generator is still to come). Fused kernels
//! (`fused`): the Adam and SGD updates in place, normalisation and its backward, max
//! pooling's arg-max, and integer matmul (wrapping, one thread per output). Convolution
//! (`conv`, f32/f64, ungrouped): `im2col` patches and one cuBLAS product per direction,
//! the input gradient gathered back by `col2im` (planned in [`crate::conv`]; the kernels
//! also run on the host in the `conv_host` test). The LSTM cell and its backward (`lstm`,
//! f32/f64): one thread per unit (run on the host in `lstm_host`); the whole-sequence
//! primitives run the composite over it (a cuBLAS product per step). Attention and its
//! backward (`attention`, f32 and f64): cuBLAS products around one row kernel each way
//! (weights and log-sum-exp; weights and the scores' gradient); half attention runs the
//! composite, as on the CPU. F16 and BF16 storages hold 2-byte elements; their
//! kernels compute in f32 and round once, as the CPU's (softmax, normalisation and max
//! pooling's arg-max included; the fused Adam and SGD kernels are f32/f64 only: half
//! parameters run the composites, as on the CPU). Nothing here has run on a GPU yet:
//! the machines this was written on have none, so it is compile-checked only.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, CudaView, CudaViewMut, DevicePtr,
    DevicePtrMut, DeviceRepr, LaunchConfig, PushKernelArg, SyncOnDrop,
};
use lamina_tensor::{
    bf16, f16, share_storage, AdamStep, BinaryOp, CmpOp, ConvGeometry, DType, Error, HostData,
    Layout, MatmulSpec, NormSpec, PoolGeometry, ReduceOp, Result, ScanOp, ScatterReduce, SgdStep,
    Storage, StorageRef, UnaryOp,
};

use crate::alloc::{Allocation, CachingAllocator, RawAlloc};
use crate::cache::{DiskCache, KernelKey};
use crate::gemm::{plan, Operand};
use crate::launch::{grid_for, StridedArg};
use crate::source;

mod attention;
mod conv;
mod fused;
mod lstm;

// SAFETY: `StridedArg` is `#[repr(C)]` of plain integers (no padding, no pointers), laid
// out as the prelude's `Strided` (size and alignment pinned by a test in `launch`), so its
// bytes are a valid kernel argument of that type.
unsafe impl DeviceRepr for StridedArg {}

// SAFETY: `ConvDims` is `#[repr(C)]` of twenty `i64`s (no padding, no pointers), laid out
// as `conv.cuh`'s struct field for field (its size is pinned by a test in `conv` and by a
// static_assert in the host test that runs the kernels), so its bytes are a valid kernel
// argument of that type.
unsafe impl DeviceRepr for crate::conv::ConvDims {}

/// The driver under the caching allocator: blocks of bytes on the device's stream
/// (cudarc frees them stream-ordered when dropped).
struct Driver {
    stream: Arc<CudaStream>,
}

impl RawAlloc for Driver {
    type Block = CudaSlice<u8>;
    fn alloc(&mut self, bytes: usize) -> Result<CudaSlice<u8>> {
        self.stream
            .alloc_zeros::<u8>(bytes)
            .map_err(|e| driver(&format!("allocating {bytes} bytes of device memory"), e))
    }
    fn free(&mut self, block: CudaSlice<u8>) {
        drop(block);
    }
}

/// The device's memory cache, shared by the backend and every storage it made.
type Cache = Arc<Mutex<CachingAllocator<Driver>>>;

fn lock(cache: &Cache) -> std::sync::MutexGuard<'_, CachingAllocator<Driver>> {
    cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A tensor's elements in device memory: a block from the device's cache, viewed as
/// `len` elements of `dtype` (bools one byte each, 0 or 1), handed back to the cache on
/// drop.
pub struct CudaStorage {
    dtype: DType,
    len: usize,
    block: Option<Allocation<CudaSlice<u8>>>,
    cache: Cache,
}

impl std::fmt::Debug for CudaStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaStorage({:?} x {})", self.dtype, self.len)
    }
}

impl Drop for CudaStorage {
    fn drop(&mut self) {
        if let Some(a) = self.block.take() {
            lock(&self.cache).free(a);
        }
    }
}

impl CudaStorage {
    fn bytes(&self) -> &CudaSlice<u8> {
        &self
            .block
            .as_ref()
            .expect("a live storage holds its block")
            .block
    }

    fn bytes_mut(&mut self) -> &mut CudaSlice<u8> {
        &mut self
            .block
            .as_mut()
            .expect("a live storage holds its block")
            .block
    }

    /// The device address, for a kernel that reads it (the guard orders the stream).
    fn ptr<'a>(&'a self, stream: &'a CudaStream) -> (u64, SyncOnDrop<'a>) {
        self.bytes().device_ptr(stream)
    }

    /// The device address, for a kernel that writes it.
    fn ptr_mut<'a>(&'a mut self, stream: &'a CudaStream) -> (u64, SyncOnDrop<'a>) {
        self.bytes_mut().device_ptr_mut(stream)
    }

    /// The elements as `T` (a plain number type of the storage's dtype).
    fn view<T: Plain>(&self) -> Result<CudaView<'_, T>> {
        self.check_type::<T>()?;
        // SAFETY: `T` is the storage's element type (checked above) and a plain number
        // type, for which every bit pattern is a value; the block holds at least
        // `len · size_of::<T>()` bytes (allocated so), which `transmute` checks again.
        unsafe { self.bytes().transmute::<T>(self.len) }
            .ok_or_else(|| driver("view", "block too small"))
    }

    /// The elements as `T`, for writing.
    fn view_mut<T: Plain>(&mut self) -> Result<CudaViewMut<'_, T>> {
        self.check_type::<T>()?;
        let len = self.len;
        // SAFETY: as in `view`.
        unsafe { self.bytes_mut().transmute_mut::<T>(len) }
            .ok_or_else(|| driver("view", "block too small"))
    }

    fn check_type<T: Plain>(&self) -> Result<()> {
        if T::DTYPE != self.dtype {
            return Err(Error::DTypeMismatch {
                op: "cuda view",
                lhs: self.dtype,
                rhs: T::DTYPE,
            });
        }
        Ok(())
    }
}

/// The element types stored as themselves (bools travel as bytes): any bit pattern is a
/// value of each.
trait Plain: DeviceRepr + Copy + Default + 'static {
    const DTYPE: DType;
}
impl Plain for f32 {
    const DTYPE: DType = DType::F32;
}
impl Plain for f64 {
    const DTYPE: DType = DType::F64;
}
impl Plain for i64 {
    const DTYPE: DType = DType::I64;
}
impl Plain for u32 {
    const DTYPE: DType = DType::U32;
}
// cudarc's `f16` feature makes the half crate's types `DeviceRepr`; the kernels see the
// same 16 bits as the prelude's `lamina_f16` / `lamina_bf16`.
impl Plain for f16 {
    const DTYPE: DType = DType::F16;
}
impl Plain for bf16 {
    const DTYPE: DType = DType::BF16;
}

impl Storage for CudaStorage {
    fn dtype(&self) -> DType {
        self.dtype
    }
    fn len(&self) -> usize {
        self.len
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Whether f32 matmuls may use TF32 tensor cores (PyTorch's
/// `torch.backends.cuda.matmul.allow_tf32`): off by default, so f32 products keep f32
/// precision and agree with the CPU backend.
static ALLOW_TF32: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Lets f32 matmuls on CUDA use TF32 (10-bit mantissa products, f32 accumulation): faster
/// on Ampere and later, less precise. Applies to every CUDA device from the next matmul.
pub fn set_allow_tf32(allow: bool) {
    ALLOW_TF32.store(allow, std::sync::atomic::Ordering::Relaxed);
}

/// One CUDA device: its context, its stream and its compiled kernels.
pub struct CudaBackend {
    ordinal: usize,
    stream: Arc<CudaStream>,
    /// cuBLAS on the device's stream, and the TF32 setting it was last given.
    blas: Mutex<(cudarc::cublas::CudaBlas, Option<bool>)>,
    /// The device memory cache every storage of this device comes from.
    cache: Cache,
    /// `sm_XY` of the device, for NVRTC.
    arch: &'static str,
    /// NVRTC's version, part of a compiled kernel's cache key.
    nvrtc: (i32, i32),
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    functions: Mutex<HashMap<String, CudaFunction>>,
}

impl std::fmt::Debug for CudaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaBackend(cuda:{}, {})", self.ordinal, self.arch)
    }
}

fn driver(what: &str, e: impl std::fmt::Debug) -> Error {
    Error::Backend {
        backend: "cuda".into(),
        msg: format!("{what}: {e:?}"),
    }
}

/// The CUDA storage behind a tensor, or an error naming the other device.
fn cuda(s: &dyn Storage) -> Result<&CudaStorage> {
    s.as_any()
        .downcast_ref::<CudaStorage>()
        .ok_or_else(|| Error::Backend {
            backend: "cuda".into(),
            msg: format!("storage of another device ({s:?}) passed to the CUDA backend"),
        })
}

fn cuda_mut(s: &mut dyn Storage) -> Result<&mut CudaStorage> {
    s.as_any_mut()
        .downcast_mut::<CudaStorage>()
        .ok_or_else(|| Error::Backend {
            backend: "cuda".into(),
            msg: "storage of another device passed to the CUDA backend".into(),
        })
}

/// Checks that every element `layout` addresses lies inside `len` elements: what makes
/// a kernel's reads through it stay in bounds.
fn check_bounds(op: &'static str, layout: &Layout, len: usize) -> Result<()> {
    if layout.dims().contains(&0) {
        return Ok(());
    }
    let last = layout.offset()
        + layout
            .dims()
            .iter()
            .zip(layout.strides())
            .map(|(&d, &s)| (d - 1) * s)
            .sum::<usize>();
    if last >= len {
        return Err(Error::Invalid {
            op,
            msg: format!("layout reaches element {last} of a storage of {len}"),
        });
    }
    Ok(())
}

/// Element count of a layout's shape.
fn count(layout: &Layout) -> usize {
    layout.dims().iter().product()
}

/// `name` has no CUDA kernel yet: the error every unported primitive returns.
/// The device address of element `start` of a `dtype` buffer at `addr`.
fn at(addr: u64, start: usize, dtype: DType) -> u64 {
    addr + (start * dtype.size_in_bytes()) as u64
}

fn unported(name: &str) -> Error {
    Error::Backend {
        backend: "cuda".into(),
        msg: format!("`{name}` has no CUDA kernel yet"),
    }
}

impl CudaBackend {
    /// Opens device `ordinal`: a context, its default stream, its architecture. Errors
    /// (never panics) when the driver library, NVRTC or the device is missing.
    pub fn new(ordinal: usize) -> Result<CudaBackend> {
        use crate::{check_libraries, Library};
        check_libraries(&Library::ALL, Library::present)?;
        let ctx = CudaContext::new(ordinal).map_err(|e| driver("opening the device", e))?;
        let (major, minor) = ctx
            .compute_capability()
            .map_err(|e| driver("querying the compute capability", e))?;
        let arch: &'static str = Box::leak(format!("sm_{major}{minor}").into_boxed_str());
        let (mut major, mut minor) = (0, 0);
        // SAFETY: NVRTC is loaded (checked above); the call writes two ints through the
        // pointers, which point at live locals.
        let status = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
        if status != cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS {
            return Err(driver("querying NVRTC's version", status));
        }
        let stream = ctx.default_stream();
        let blas = cudarc::cublas::CudaBlas::new(stream.clone())
            .map_err(|e| driver("creating the cuBLAS handle", e))?;
        let cache = Arc::new(Mutex::new(CachingAllocator::new(Driver {
            stream: stream.clone(),
        })));
        Ok(CudaBackend {
            ordinal,
            blas: Mutex::new((blas, None)),
            cache,
            stream,
            arch,
            nvrtc: (major, minor),
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
        })
    }

    /// Kernel `name` of source `file`, compiling the source on first use.
    /// The PTX of source `file` for this device: from the disk cache named by
    /// `LAMINA_KERNEL_CACHE` when it holds this source, architecture, options and NVRTC
    /// version, else compiled by NVRTC (and stored there when the variable is set).
    fn compile(&self, file: &'static str, text: &str) -> Result<cudarc::nvrtc::Ptx> {
        let disk = std::env::var_os("LAMINA_KERNEL_CACHE").map(DiskCache::new);
        let key = KernelKey::new(file, text, self.arch, source::NVRTC_OPTIONS, self.nvrtc);
        if let Some(ptx) = disk.as_ref().and_then(|d| d.get(&key)) {
            return Ok(cudarc::nvrtc::Ptx::from_src(ptx));
        }
        let opts = cudarc::nvrtc::CompileOptions {
            arch: Some(self.arch),
            options: source::NVRTC_OPTIONS
                .iter()
                .map(|o| o.to_string())
                .collect(),
            ..Default::default()
        };
        let ptx = cudarc::nvrtc::compile_ptx_with_opts(text, opts)
            .map_err(|e| driver(&format!("compiling {file} for {}", self.arch), e))?;
        if let Some(d) = &disk {
            d.put(&key, &ptx.to_src())?;
        }
        Ok(ptx)
    }

    fn function(&self, file: &'static str, name: &str) -> Result<CudaFunction> {
        let key = format!("{file}:{name}");
        if let Some(f) = self.functions.lock().expect("kernel table").get(&key) {
            return Ok(f.clone());
        }
        let module = {
            let mut modules = self.modules.lock().expect("module table");
            match modules.get(file) {
                Some(m) => m.clone(),
                None => {
                    let text = source::source_for(file).ok_or_else(|| unported(file))?;
                    let ptx = self.compile(file, &text)?;
                    let m = self
                        .stream
                        .context()
                        .load_module(ptx)
                        .map_err(|e| driver(&format!("loading {file}"), e))?;
                    modules.insert(file, m.clone());
                    m
                }
            }
        };
        let f = module.load_function(name).map_err(|_| Error::Backend {
            backend: "cuda".into(),
            msg: format!("no kernel `{name}` in {file} (an op or dtype without a CUDA kernel)"),
        })?;
        self.functions
            .lock()
            .expect("kernel table")
            .insert(key, f.clone());
        Ok(f)
    }

    /// `n` elements of `dtype` from the cache, contents unspecified (every kernel that
    /// takes one writes all of it; `zeros` clears it).
    fn alloc(&self, dtype: DType, n: usize) -> Result<CudaStorage> {
        let bytes = n * dtype.size_in_bytes();
        let block = lock(&self.cache).alloc(0, bytes)?;
        Ok(CudaStorage {
            dtype,
            len: n,
            block: Some(block),
            cache: self.cache.clone(),
        })
    }

    /// `n` zeros of `dtype`.
    fn zeroed(&self, dtype: DType, n: usize) -> Result<CudaStorage> {
        let mut out = self.alloc(dtype, n)?;
        let bytes = n * dtype.size_in_bytes();
        let s = self.stream.clone();
        s.memset_zeros(&mut out.bytes_mut().slice_mut(..bytes))
            .map_err(|e| driver("clearing device memory", e))?;
        Ok(out)
    }

    /// Bytes of device memory held by tensors of this device now (by size class).
    pub fn live_bytes(&self) -> usize {
        lock(&self.cache).live_bytes()
    }

    /// The most bytes held by tensors at once since the start or the last reset.
    pub fn peak_bytes(&self) -> usize {
        lock(&self.cache).peak_bytes()
    }

    /// Starts the peak over from what is live now.
    pub fn reset_peak_bytes(&self) {
        lock(&self.cache).reset_peak()
    }

    /// Bytes the cache holds for reuse.
    pub fn cached_bytes(&self) -> usize {
        lock(&self.cache).cached_bytes()
    }

    /// Returns every cached block to the driver (PyTorch's `torch.cuda.empty_cache`).
    pub fn empty_cache(&self) {
        lock(&self.cache).empty_cache()
    }

    /// Launches `f` over `n` elements with `args` (device addresses and by-value
    /// arguments, in the kernel's parameter order).
    ///
    /// # Safety
    /// `args` must match the kernel's parameters in number, order and types, and every
    /// address it reads or writes through them must lie inside its allocation.
    unsafe fn launch(&self, f: &CudaFunction, cfg: LaunchConfig, args: &[&dyn Arg]) -> Result<()> {
        let mut b = self.stream.launch_builder(f);
        for a in args {
            a.push(&mut b);
        }
        // SAFETY: the caller's contract.
        unsafe { b.launch(cfg) }
            .map(|_| ())
            .map_err(|e| driver("launching a kernel", e))
    }

    /// [`launch`](Self::launch) with one more argument, a device flag for the first index
    /// out of `0..size` the kernel met; reads it back (a host synchronisation) and turns
    /// it into an error naming `op`, the index, `dim` and `size`.
    ///
    /// # Safety
    /// As [`launch`](Self::launch), for `args` followed by a `long long*`.
    unsafe fn checked_launch(
        &self,
        op: &'static str,
        dim: usize,
        size: usize,
        f: &CudaFunction,
        cfg: LaunchConfig,
        args: &[&dyn Arg],
    ) -> Result<()> {
        let s = &self.stream;
        let mut bad = s
            .clone_htod(&[i64::MIN])
            .map_err(|e| driver("allocating the index flag", e))?;
        {
            let (pb, _g) = bad.device_ptr_mut(s);
            let mut all: Vec<&dyn Arg> = args.to_vec();
            all.push(&pb);
            // SAFETY: the caller's contract, plus `bad`: one i64 on the device.
            unsafe { self.launch(f, cfg, &all)? };
        }
        let flag = s
            .clone_dtoh(&bad)
            .map_err(|e| driver("reading the index flag", e))?;
        match flag.first() {
            Some(&v) if v != i64::MIN => Err(Error::IndexOutOfBounds {
                op,
                index: v,
                dim,
                size,
            }),
            _ => Ok(()),
        }
    }

    /// `kernel(const T* a, const T* b, Out* y, Strided la, Strided lb)` over the
    /// broadcast shape of two operands (a binary op or a comparison), into a new
    /// contiguous `out_dtype` storage.
    fn two_operands(
        &self,
        op: &'static str,
        kernel: &str,
        (a, la): (&CudaStorage, &Layout),
        (b, lb): (&CudaStorage, &Layout),
        out_dtype: DType,
    ) -> Result<StorageRef> {
        check_bounds(op, la, a.len())?;
        check_bounds(op, lb, b.len())?;
        let n = count(la);
        let mut out = self.alloc(out_dtype, n)?;
        if let Some(cfg) = Self::elementwise_cfg(n) {
            let f = self.function("elementwise.cu", kernel)?;
            let (sa, sb) = (StridedArg::new(op, la)?, StridedArg::new(op, lb)?);
            let s = &self.stream;
            let (pa, _ga) = a.ptr(s);
            let (pb, _gb) = b.ptr(s);
            let (y, _gy) = out.ptr_mut(s);
            // SAFETY: the kernel's parameters are `(const T* a, const T* b, Out* y, Strided
            // la, Strided lb)` (`binary_*` and `cmp_*` in `source`), both layouts broadcast to
            // the output's shape and checked in bounds, `y` of `n` elements of `out_dtype`.
            unsafe { self.launch(&f, cfg, &[&pa, &pb, &y, &sa, &sb])? };
        }
        Ok(share_storage(out))
    }

    /// The one-thread-per-element configuration for `n` elements.
    fn elementwise_cfg(n: usize) -> Option<LaunchConfig> {
        grid_for(n as u64).map(|(blocks, threads)| LaunchConfig {
            grid_dim: (blocks, 1, 1),
            block_dim: (threads, 1, 1),
            shared_mem_bytes: 0,
        })
    }

    /// One block per row, for the reductions and softmax.
    fn rows_cfg(rows: usize) -> LaunchConfig {
        LaunchConfig {
            grid_dim: (rows.clamp(1, 1 << 16) as u32, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    /// A contiguous copy of `layout` of `src` (for transfers to the host).
    fn contiguous(&self, src: &CudaStorage, layout: &Layout) -> Result<CudaStorage> {
        let n = count(layout);
        let mut out = self.alloc(src.dtype(), n)?;
        let dst_layout = Layout::contiguous(layout.shape().clone());
        self.copy_into(src, layout, &mut out, &dst_layout)?;
        Ok(out)
    }

    fn copy_into(
        &self,
        src: &CudaStorage,
        src_layout: &Layout,
        dst: &mut CudaStorage,
        dst_layout: &Layout,
    ) -> Result<()> {
        const OP: &str = "copy_strided";
        check_bounds(OP, src_layout, src.len())?;
        check_bounds(OP, dst_layout, dst.len())?;
        let Some(cfg) = Self::elementwise_cfg(count(src_layout)) else {
            return Ok(());
        };
        let f = self.function(
            "elementwise.cu",
            &format!("copy_{}", source::suffix(src.dtype())),
        )?;
        let (lx, ly) = (
            StridedArg::new(OP, src_layout)?,
            StridedArg::new(OP, dst_layout)?,
        );
        let s = &self.stream;
        let (x, _gx) = src.ptr(s);
        let (y, _gy) = dst.ptr_mut(s);
        // SAFETY: `copy_<d>(const T* x, T* y, Strided lx, Strided ly)`, both of `src`'s
        // dtype (the tensor layer copies between equal dtypes); both layouts checked in
        // bounds above.
        unsafe { self.launch(&f, cfg, &[&x, &y, &lx, &ly]) }
    }
}

impl CudaBackend {
    /// Row-major batched `lhs · rhs` through cuBLAS's strided-batched GEMM (see
    /// [`crate::gemm`]); operands cuBLAS cannot read in place are made contiguous first.
    fn matmul_impl(
        &self,
        a: &CudaStorage,
        la: &Layout,
        b: &CudaStorage,
        lb: &Layout,
        spec: &MatmulSpec,
    ) -> Result<StorageRef> {
        match a.dtype() {
            DType::F32 | DType::F64 | DType::F16 | DType::BF16 => {}
            DType::I64 | DType::U32 => return self.matmul_int((a, la), (b, lb), spec),
            d @ DType::Bool => {
                return Err(Error::UnsupportedDType {
                    op: "matmul",
                    dtype: d,
                })
            }
        }
        let batch: usize = spec.batch.dims().iter().product();
        let (m, k, n) = (spec.m, spec.k, spec.n);
        if batch * m * n == 0 || k == 0 {
            // An empty sum: zeros (a cached block's contents are unspecified).
            return Ok(share_storage(self.zeroed(a.dtype(), batch * m * n)?));
        }
        let mut out = self.alloc(a.dtype(), batch * m * n)?;
        let p = plan(la, lb, spec);
        let (a_own, la_own);
        let (a, la) = match p.second {
            Some(_) => (a, la),
            None => {
                a_own = self.contiguous(a, la)?;
                la_own = Layout::contiguous(la.shape().clone());
                (&a_own, &la_own)
            }
        };
        let (b_own, lb_own);
        let (b, lb) = match p.first {
            Some(_) => (b, lb),
            None => {
                b_own = self.contiguous(b, lb)?;
                lb_own = Layout::contiguous(lb.shape().clone());
                (&b_own, &lb_own)
            }
        };
        let p = plan(la, lb, spec);
        let (Some(first), Some(second)) = (p.first, p.second) else {
            return Err(driver(
                "matmul",
                "contiguous operands must have a cuBLAS plan",
            ));
        };
        let op = |o: &Operand| {
            if o.transpose {
                cudarc::cublas::sys::cublasOperation_t::CUBLAS_OP_T
            } else {
                cudarc::cublas::sys::cublasOperation_t::CUBLAS_OP_N
            }
        };
        let int = |v: i64| {
            i32::try_from(v).map_err(|_| Error::Invalid {
                op: "matmul",
                msg: format!("a dimension or stride of {v} exceeds cuBLAS's 32-bit range"),
            })
        };
        let (mm, nn, kk) = p.mnk;
        let mut guard = self
            .blas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tf32 = ALLOW_TF32.load(std::sync::atomic::Ordering::Relaxed);
        if guard.1 != Some(tf32) {
            use cudarc::cublas::sys::cublasMath_t;
            let mode = if tf32 {
                cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH
            } else {
                cublasMath_t::CUBLAS_DEFAULT_MATH
            };
            // SAFETY: the handle is live (owned by `guard.0`) and the mode a valid enum.
            let status = unsafe { cudarc::cublas::sys::cublasSetMathMode(*guard.0.handle(), mode) };
            if status != cudarc::cublas::sys::cublasStatus_t::CUBLAS_STATUS_SUCCESS {
                return Err(driver("setting cuBLAS's math mode", status));
            }
            guard.1 = Some(tf32);
        }
        let blas = &guard.0;
        macro_rules! gemm {
            ($x:ident, $y:ident, $c:ident, $one:expr, $zero:expr) => {{
                use cudarc::cublas::{Gemm, GemmConfig, StridedBatchedConfig};
                let cfg = StridedBatchedConfig {
                    gemm: GemmConfig {
                        transa: op(&first),
                        transb: op(&second),
                        m: int(mm)?,
                        n: int(nn)?,
                        k: int(kk)?,
                        alpha: $one,
                        lda: int(first.ld)?,
                        ldb: int(second.ld)?,
                        beta: $zero,
                        ldc: int(mm)?,
                    },
                    batch_size: int(p.batch)?,
                    stride_a: first.batch_stride,
                    stride_b: second.batch_stride,
                    stride_c: mm * nn,
                };
                let (xa, xb) = ($x.slice(first.offset..), $y.slice(second.offset..));
                // SAFETY: the plan reads `rhs` and `lhs` only where their layouts (checked
                // in bounds by the caller or made contiguous here) address elements, and
                // writes `batch · m · n` elements of the output, which has that many.
                unsafe { blas.gemm_strided_batched(cfg, &xa, &xb, &mut $c) }
                    .map_err(|e| driver("cuBLAS gemm", e))?;
            }};
        }
        match a.dtype() {
            DType::F32 => {
                let (x, y, mut c) = (b.view::<f32>()?, a.view::<f32>()?, out.view_mut::<f32>()?);
                gemm!(x, y, c, 1.0f32, 0.0f32)
            }
            DType::F64 => {
                let (x, y, mut c) = (b.view::<f64>()?, a.view::<f64>()?, out.view_mut::<f64>()?);
                gemm!(x, y, c, 1.0f64, 0.0f64)
            }
            // cudarc's half `Gemm` impls call cublasGemm(StridedBatched)Ex with
            // CUBLAS_COMPUTE_32F: products accumulate in f32 and each output rounds once,
            // as the CPU's half GEMM (no widened copies of the operands needed).
            DType::F16 => {
                let (x, y, mut c) = (b.view::<f16>()?, a.view::<f16>()?, out.view_mut::<f16>()?);
                gemm!(x, y, c, f16::ONE, f16::ZERO)
            }
            DType::BF16 => {
                let (x, y, mut c) = (
                    b.view::<bf16>()?,
                    a.view::<bf16>()?,
                    out.view_mut::<bf16>()?,
                );
                gemm!(x, y, c, bf16::ONE, bf16::ZERO)
            }
            d @ (DType::I64 | DType::U32 | DType::Bool) => {
                return Err(driver("matmul", format!("{d:?} reached cuBLAS")))
            }
        }
        drop(guard);
        Ok(share_storage(out))
    }
}

/// A kernel argument, pushed by reference (cudarc keeps the address until launch).
trait Arg {
    fn push<'a>(&'a self, b: &mut cudarc::driver::LaunchArgs<'a>);
}

impl<T: DeviceRepr> Arg for T {
    fn push<'a>(&'a self, b: &mut cudarc::driver::LaunchArgs<'a>) {
        b.arg(self);
    }
}

impl lamina_tensor::Backend for CudaBackend {
    fn name(&self) -> String {
        format!("cuda:{}", self.ordinal)
    }

    fn zeros(&self, len: usize, dtype: DType) -> Result<StorageRef> {
        // A cached block holds old values: `zeroed` clears it on the stream.
        Ok(share_storage(self.zeroed(dtype, len)?))
    }

    fn empty(&self, len: usize, dtype: DType) -> Result<StorageRef> {
        Ok(share_storage(self.alloc(dtype, len)?))
    }

    fn full(&self, len: usize, value: f64, dtype: DType) -> Result<StorageRef> {
        let mut out = self.alloc(dtype, len)?;
        if let Some(cfg) = Self::elementwise_cfg(len) {
            let f = self.function("elementwise.cu", &format!("fill_{}", source::suffix(dtype)))?;
            let n = len as u64;
            let (y, _g) = out.ptr_mut(&self.stream);
            // SAFETY: `fill_<d>(T* y, unsigned long long n, double v)` on `len` elements.
            unsafe { self.launch(&f, cfg, &[&y, &n, &value])? };
        }
        Ok(share_storage(out))
    }

    fn from_host(&self, data: HostData) -> Result<StorageRef> {
        fn put<T: Plain>(b: &CudaBackend, v: &[T]) -> Result<CudaStorage> {
            let mut out = b.alloc(T::DTYPE, v.len())?;
            b.stream
                .memcpy_htod(v, &mut out.view_mut::<T>()?)
                .map_err(|e| driver("copying to the device", e))?;
            Ok(out)
        }
        Ok(share_storage(match data {
            HostData::F32(v) => put(self, &v)?,
            HostData::F64(v) => put(self, &v)?,
            HostData::I64(v) => put(self, &v)?,
            HostData::U32(v) => put(self, &v)?,
            HostData::Bool(v) => {
                // Bools travel as bytes, 0 or 1.
                let bytes: Vec<u8> = v.iter().map(|&b| u8::from(b)).collect();
                let mut out = self.alloc(DType::Bool, v.len())?;
                self.stream
                    .memcpy_htod(&bytes, &mut out.bytes_mut().slice_mut(..v.len()))
                    .map_err(|e| driver("copying to the device", e))?;
                out
            }
            HostData::F16(v) => put(self, &v)?,
            HostData::BF16(v) => put(self, &v)?,
        }))
    }

    fn to_host(&self, src: &dyn Storage, layout: &Layout) -> Result<HostData> {
        let src = cuda(src)?;
        let dense = self.contiguous(src, layout)?;
        let s = &self.stream;
        let e = |e| driver("copying to the host", e);
        Ok(match dense.dtype() {
            DType::F32 => HostData::F32(s.clone_dtoh(&dense.view::<f32>()?).map_err(e)?),
            DType::F64 => HostData::F64(s.clone_dtoh(&dense.view::<f64>()?).map_err(e)?),
            DType::I64 => HostData::I64(s.clone_dtoh(&dense.view::<i64>()?).map_err(e)?),
            DType::U32 => HostData::U32(s.clone_dtoh(&dense.view::<u32>()?).map_err(e)?),
            DType::Bool => {
                let bytes = s
                    .clone_dtoh(&dense.bytes().slice(..dense.len()))
                    .map_err(e)?;
                HostData::Bool(bytes.into_iter().map(|b| b != 0).collect())
            }
            DType::F16 => HostData::F16(s.clone_dtoh(&dense.view::<f16>()?).map_err(e)?),
            DType::BF16 => HostData::BF16(s.clone_dtoh(&dense.view::<bf16>()?).map_err(e)?),
        })
    }

    fn copy_strided(
        &self,
        src: &dyn Storage,
        src_layout: &Layout,
        dst: &mut dyn Storage,
        dst_layout: &Layout,
    ) -> Result<()> {
        let src = cuda(src)?;
        let dst = cuda_mut(dst)?;
        if src.dtype() != dst.dtype() {
            return Err(Error::DTypeMismatch {
                op: "copy_strided",
                lhs: src.dtype(),
                rhs: dst.dtype(),
            });
        }
        self.copy_into(src, src_layout, dst, dst_layout)
    }

    fn cast(&self, src: &dyn Storage, layout: &Layout, dtype: DType) -> Result<StorageRef> {
        const OP: &str = "cast";
        let src = cuda(src)?;
        check_bounds(OP, layout, src.len())?;
        let n = count(layout);
        let mut out = self.alloc(dtype, n)?;
        if let Some(cfg) = Self::elementwise_cfg(n) {
            let name = format!(
                "cast_{}_{}",
                source::suffix(src.dtype()),
                source::suffix(dtype)
            );
            let f = self.function("elementwise.cu", &name)?;
            let lx = StridedArg::new(OP, layout)?;
            let s = &self.stream;
            let (x, _gx) = src.ptr(s);
            let (y, _gy) = out.ptr_mut(s);
            // SAFETY: `cast_<from>_<to>(const F* x, T* y, Strided lx)`, `x` checked in
            // bounds, `y` of `n` elements.
            unsafe { self.launch(&f, cfg, &[&x, &y, &lx])? };
        }
        Ok(share_storage(out))
    }

    fn unary(&self, op: UnaryOp, src: &dyn Storage, layout: &Layout) -> Result<StorageRef> {
        let src = cuda(src)?;
        check_bounds(op.name(), layout, src.len())?;
        let n = count(layout);
        let mut out = self.alloc(src.dtype(), n)?;
        if let Some(cfg) = Self::elementwise_cfg(n) {
            let f = self.function(
                "elementwise.cu",
                &source::unary_kernel_name(&op, src.dtype()),
            )?;
            let lx = StridedArg::new(op.name(), layout)?;
            let p = op.params();
            let (p0, p1) = (
                p.first().copied().unwrap_or(0.0),
                p.get(1).copied().unwrap_or(0.0),
            );
            let s = &self.stream;
            let (x, _gx) = src.ptr(s);
            let (y, _gy) = out.ptr_mut(s);
            // SAFETY: `unary_<op>_<d>(const T* x, T* y, Strided lx, double p0, double p1)`
            // (a missing dtype variant fails in `function`), `x` checked in bounds, `y` of
            // `n` elements.
            unsafe { self.launch(&f, cfg, &[&x, &y, &lx, &p0, &p1])? };
        }
        Ok(share_storage(out))
    }

    fn binary(
        &self,
        op: BinaryOp,
        lhs: &dyn Storage,
        lhs_layout: &Layout,
        rhs: &dyn Storage,
        rhs_layout: &Layout,
    ) -> Result<StorageRef> {
        let (a, b) = (cuda(lhs)?, cuda(rhs)?);
        let kernel = source::binary_kernel_name(&op, a.dtype());
        self.two_operands(
            op.name(),
            &kernel,
            (a, lhs_layout),
            (b, rhs_layout),
            a.dtype(),
        )
    }

    fn binary_assign(
        &self,
        op: BinaryOp,
        dst: &mut dyn Storage,
        dst_layout: &Layout,
        rhs: &dyn Storage,
        rhs_layout: &Layout,
    ) -> Result<()> {
        // Out of place, then copied back through `dst`'s layout.
        let result = self.binary(op, &*dst, dst_layout, rhs, rhs_layout)?;
        let dense = Layout::contiguous(dst_layout.shape().clone());
        self.copy_strided(&*result, &dense, dst, dst_layout)
    }

    fn unary_assign(&self, op: UnaryOp, dst: &mut dyn Storage, dst_layout: &Layout) -> Result<()> {
        let result = self.unary(op, &*dst, dst_layout)?;
        let dense = Layout::contiguous(dst_layout.shape().clone());
        self.copy_strided(&*result, &dense, dst, dst_layout)
    }

    fn cmp(
        &self,
        op: CmpOp,
        lhs: &dyn Storage,
        lhs_layout: &Layout,
        rhs: &dyn Storage,
        rhs_layout: &Layout,
    ) -> Result<StorageRef> {
        let (a, b) = (cuda(lhs)?, cuda(rhs)?);
        let kernel = format!("cmp_{}_{}", op.name(), source::suffix(a.dtype()));
        self.two_operands(
            op.name(),
            &kernel,
            (a, lhs_layout),
            (b, rhs_layout),
            DType::Bool,
        )
    }

    fn where_cond(
        &self,
        cond: &dyn Storage,
        cond_layout: &Layout,
        on_true: &dyn Storage,
        true_layout: &Layout,
        on_false: &dyn Storage,
        false_layout: &Layout,
    ) -> Result<StorageRef> {
        const OP: &str = "where";
        let (c, t, f) = (cuda(cond)?, cuda(on_true)?, cuda(on_false)?);
        check_bounds(OP, cond_layout, c.len())?;
        check_bounds(OP, true_layout, t.len())?;
        check_bounds(OP, false_layout, f.len())?;
        let n = count(cond_layout);
        let mut out = self.alloc(t.dtype(), n)?;
        if let Some(cfg) = Self::elementwise_cfg(n) {
            let name = format!(
                "where_{}_{}",
                source::suffix(c.dtype()),
                source::suffix(t.dtype())
            );
            let k = self.function("elementwise.cu", &name)?;
            let ls = [
                StridedArg::new(OP, cond_layout)?,
                StridedArg::new(OP, true_layout)?,
                StridedArg::new(OP, false_layout)?,
            ];
            let s = &self.stream;
            let (pc, _gc) = c.ptr(s);
            let (pt, _gt) = t.ptr(s);
            let (pf, _gf) = f.ptr(s);
            let (y, _gy) = out.ptr_mut(s);
            // SAFETY: `where_<c>_<d>(const C* c, const T* t, const T* f, T* y, Strided lc,
            // Strided lt, Strided lf)`, layouts checked in bounds, `y` of `n` elements.
            unsafe { self.launch(&k, cfg, &[&pc, &pt, &pf, &y, &ls[0], &ls[1], &ls[2]])? };
        }
        Ok(share_storage(out))
    }

    fn reduce(
        &self,
        op: ReduceOp,
        src: &dyn Storage,
        layout: &Layout,
        axes: &[usize],
    ) -> Result<StorageRef> {
        let src = cuda(src)?;
        check_bounds(op.name(), layout, src.len())?;
        let (moved, outer, inner) = crate::launch::reduce_plan(layout, axes)?;
        let out_dtype = match op {
            ReduceOp::ArgMax | ReduceOp::ArgMin => DType::I64,
            ReduceOp::Sum | ReduceOp::Prod | ReduceOp::Max | ReduceOp::Min => src.dtype(),
        };
        let mut out = self.alloc(out_dtype, outer)?;
        if outer > 0 {
            let f = self.function("reduce.cu", &source::reduce_kernel_name(op, src.dtype()))?;
            let lx = StridedArg::new(op.name(), &moved)?;
            let (o, i) = (outer as u64, inner as u64);
            let s = &self.stream;
            let (x, _gx) = src.ptr(s);
            let (y, _gy) = out.ptr_mut(s);
            // SAFETY: `reduce_<op>_<d>(const T* x, Out* y, Strided lx, outer, inner)` with
            // 256-thread blocks (its launch bounds); `x` checked in bounds (a permutation
            // addresses the same elements), `y` of `outer` elements of the output dtype.
            unsafe { self.launch(&f, Self::rows_cfg(outer), &[&x, &y, &lx, &o, &i])? };
        }
        Ok(share_storage(out))
    }

    fn matmul(
        &self,
        lhs: &dyn Storage,
        lhs_layout: &Layout,
        rhs: &dyn Storage,
        rhs_layout: &Layout,
        spec: &MatmulSpec,
    ) -> Result<StorageRef> {
        let (a, b) = (cuda(lhs)?, cuda(rhs)?);
        check_bounds("matmul", lhs_layout, a.len())?;
        check_bounds("matmul", rhs_layout, b.len())?;
        self.matmul_impl(a, lhs_layout, b, rhs_layout, spec)
    }

    fn index_select(
        &self,
        src: &dyn Storage,
        layout: &Layout,
        dim: usize,
        ids: &dyn Storage,
        ids_layout: &Layout,
    ) -> Result<StorageRef> {
        const OP: &str = "index_select";
        let (x, i) = (cuda(src)?, cuda(ids)?);
        check_bounds(OP, layout, x.len())?;
        check_bounds(OP, ids_layout, i.len())?;
        let dims = layout.dims();
        let size = dims[dim];
        let inner: usize = dims[dim + 1..].iter().product();
        let outer: usize = dims[..dim].iter().product();
        let n = outer * count(ids_layout) * inner;
        let mut out = self.alloc(x.dtype(), n)?;
        if let Some(cfg) = Self::elementwise_cfg(n) {
            let name = format!(
                "index_select_{}_{}",
                source::suffix(x.dtype()),
                source::suffix(i.dtype())
            );
            let f = self.function("index.cu", &name)?;
            let (lx, li) = (
                StridedArg::new(OP, layout)?,
                StridedArg::new(OP, ids_layout)?,
            );
            let (outer64, sz, inn) = (outer as u64, size as u64, inner as u64);
            let s = &self.stream;
            let (px, _g1) = x.ptr(s);
            let (pi, _g2) = i.ptr(s);
            let (y, _g3) = out.ptr_mut(s);
            // SAFETY: `index_select_<d>_<i>(x, ids, y, lx, lids, outer, size, inner, bad)`; both
            // layouts checked in bounds, ids checked against `size` in the kernel, `y` of
            // `outer · len(ids) · inner` elements.
            unsafe {
                self.checked_launch(
                    OP,
                    dim,
                    size,
                    &f,
                    cfg,
                    &[&px, &pi, &y, &lx, &li, &outer64, &sz, &inn],
                )?
            };
        }
        Ok(share_storage(out))
    }

    fn gather(
        &self,
        src: &dyn Storage,
        layout: &Layout,
        dim: usize,
        ids: &dyn Storage,
        ids_layout: &Layout,
    ) -> Result<StorageRef> {
        const OP: &str = "gather";
        let (x, i) = (cuda(src)?, cuda(ids)?);
        check_bounds(OP, layout, x.len())?;
        check_bounds(OP, ids_layout, i.len())?;
        let n = count(ids_layout);
        let mut out = self.alloc(x.dtype(), n)?;
        if let Some(cfg) = Self::elementwise_cfg(n) {
            let name = format!(
                "gather_{}_{}",
                source::suffix(x.dtype()),
                source::suffix(i.dtype())
            );
            let f = self.function("index.cu", &name)?;
            let (lx, li) = (
                StridedArg::new(OP, layout)?,
                StridedArg::new(OP, ids_layout)?,
            );
            let d = dim as i32;
            let s = &self.stream;
            let (px, _g1) = x.ptr(s);
            let (pi, _g2) = i.ptr(s);
            let (y, _g3) = out.ptr_mut(s);
            // SAFETY: `gather_<d>_<i>(x, ids, y, lx, lids, dim, bad)`; the tensor layer
            // checks ids' dims against src's (at most src's outside `dim`), so with the ids
            // checked against `dims[dim]` in the kernel every read is inside `x`'s layout.
            unsafe {
                self.checked_launch(
                    OP,
                    dim,
                    layout.dims()[dim],
                    &f,
                    cfg,
                    &[&px, &pi, &y, &lx, &li, &d],
                )?
            };
        }
        Ok(share_storage(out))
    }

    fn scatter(
        &self,
        reduce: ScatterReduce,
        include_self: bool,
        dst: &mut dyn Storage,
        dst_layout: &Layout,
        dim: usize,
        ids: &dyn Storage,
        ids_layout: &Layout,
        src: &dyn Storage,
        src_layout: &Layout,
    ) -> Result<()> {
        let op = reduce.name();
        let (i, x) = (cuda(ids)?, cuda(src)?);
        let d = cuda_mut(dst)?;
        check_bounds(op, dst_layout, d.len())?;
        check_bounds(op, ids_layout, i.len())?;
        check_bounds(op, src_layout, x.len())?;
        let Some(cfg) = Self::elementwise_cfg(count(ids_layout)) else {
            return Ok(());
        };
        let (ld, li, ls) = (
            StridedArg::new(op, dst_layout)?,
            StridedArg::new(op, ids_layout)?,
            StridedArg::new(op, src_layout)?,
        );
        let size = dst_layout.dims()[dim];
        // Every id checked before anything is written, so an error leaves dst untouched
        // (as on the CPU).
        {
            let f = self.function(
                "index.cu",
                &format!("index_check_{}", source::suffix(i.dtype())),
            )?;
            let sz = size as i64;
            let (pi, _g) = i.ptr(&self.stream);
            // SAFETY: `index_check_<i>(ids, lids, size, bad)`, ids' layout checked in bounds.
            unsafe { self.checked_launch(op, dim, size, &f, cfg, &[&pi, &li, &sz])? };
        }
        // The passes: the targets' start value when the originals are excluded, then the
        // combining pass; the mean also counts and divides.
        let (passes, mean) = source::scatter_passes(reduce, include_self);
        let mut counts = if mean {
            Some(self.zeroed(DType::U32, d.len())?)
        } else {
            None
        };
        // The kernels still check their ids (all valid now); their flag is not read.
        let mut unused = self.alloc(DType::I64, 1)?;
        for (pass, init) in passes {
            let name = format!(
                "{pass}_{}_{}",
                source::suffix(x.dtype()),
                source::suffix(i.dtype())
            );
            let f = self.function("index.cu", &name)?;
            let dm = dim as i32;
            let s = &self.stream;
            let (pi, _g1) = i.ptr(s);
            let (px, _g2) = x.ptr(s);
            let (pd, _g3) = d.ptr_mut(s);
            let (pb, _g4) = unused.ptr_mut(s);
            let (pc, _g5) = match counts.as_mut() {
                Some(c) => c.ptr_mut(s),
                None => (0, SyncOnDrop::Sync(None)),
            };
            // SAFETY: `<pass>_<d>_<i>(dst, ids, src, ld, lids, ls, dim, init, counts,
            // bad)`; the three layouts checked in bounds, every id checked above, src read
            // at ids' own coordinates (the tensor layer checks ids fit in src), `counts`
            // (only the count pass touches it) one u32 per dst element, `bad` one i64.
            unsafe {
                self.launch(
                    &f,
                    cfg,
                    &[&pd, &pi, &px, &ld, &li, &ls, &dm, &init, &pc, &pb],
                )?
            };
        }
        if let Some(c) = counts {
            let f = self.function(
                "index.cu",
                &format!("scatter_mean_div_{}", source::suffix(x.dtype())),
            )?;
            let (len, incl) = (d.len() as u64, i32::from(include_self));
            let cfg = Self::elementwise_cfg(d.len()).expect("a written dst is not empty");
            let s = &self.stream;
            let (pd, _g1) = d.ptr_mut(s);
            let (pc, _g2) = c.ptr(s);
            // SAFETY: `scatter_mean_div_<d>(dst, counts, len, include_self)` over dst's
            // `len` elements and as many counts.
            unsafe { self.launch(&f, cfg, &[&pd, &pc, &len, &incl])? };
        }
        Ok(())
    }

    fn scan(
        &self,
        op: ScanOp,
        src: &dyn Storage,
        layout: &Layout,
        axis: usize,
    ) -> Result<StorageRef> {
        let x = cuda(src)?;
        check_bounds(op.name(), layout, x.len())?;
        let (moved, lines, n, inner) = crate::launch::lines_along(layout, axis)?;
        let mut out = self.alloc(x.dtype(), count(layout))?;
        if lines * n > 0 {
            let f = self.function("scan.cu", &source::scan_kernel_name(op, x.dtype()))?;
            let lx = StridedArg::new(op.name(), &moved)?;
            let cfg = Self::elementwise_cfg(lines).expect("lines > 0");
            let (l, nn, inn) = (lines as u64, n as u64, inner as u64);
            let s = &self.stream;
            let (px, _g1) = x.ptr(s);
            let (y, _g2) = out.ptr_mut(s);
            // SAFETY: `scan_<op>_<d>(x, y, lx, lines, n, inner)`; the permuted layout
            // addresses the same in-bounds elements, `y` holds `lines · n`.
            unsafe { self.launch(&f, cfg, &[&px, &y, &lx, &l, &nn, &inn])? };
        }
        Ok(share_storage(out))
    }

    fn argsort(
        &self,
        src: &dyn Storage,
        layout: &Layout,
        axis: usize,
        descending: bool,
    ) -> Result<StorageRef> {
        const OP: &str = "argsort";
        let x = cuda(src)?;
        check_bounds(OP, layout, x.len())?;
        let (moved, lines, n, inner) = crate::launch::lines_along(layout, axis)?;
        let mut out = self.alloc(DType::I64, count(layout))?;
        if lines * n > 0 {
            let f = self.function("scan.cu", &format!("argsort_{}", source::suffix(x.dtype())))?;
            let mut scratch = self.alloc(DType::I64, 2 * lines * n)?;
            let lx = StridedArg::new(OP, &moved)?;
            let cfg = Self::elementwise_cfg(lines).expect("lines > 0");
            let (l, nn, inn, desc) = (lines as u64, n as u64, inner as u64, i32::from(descending));
            let s = &self.stream;
            let (px, _g1) = x.ptr(s);
            let (y, _g2) = out.ptr_mut(s);
            let (sc, _g3) = scratch.ptr_mut(s);
            // SAFETY: `argsort_<d>(x, y, scratch, lx, lines, n, inner, descending)`; the
            // permuted layout addresses the same in-bounds elements, `y` holds `lines · n`
            // indices and `scratch` twice that.
            unsafe { self.launch(&f, cfg, &[&px, &y, &sc, &lx, &l, &nn, &inn, &desc])? };
        }
        Ok(share_storage(out))
    }

    fn softmax_last_dim(
        &self,
        src: &dyn Storage,
        layout: &Layout,
        log: bool,
    ) -> Option<Result<StorageRef>> {
        let range = layout.contiguous_range()?;
        let src = cuda(src).ok()?;
        let dtype = src.dtype();
        // Half rows compute in f32 on the device and round once (the CPU's through f32).
        if !matches!(dtype, DType::F32 | DType::F64 | DType::F16 | DType::BF16) {
            return None;
        }
        Some((|| {
            let cols = *layout.dims().last().unwrap_or(&1);
            let n = count(layout);
            let rows = n / cols.max(1);
            let mut out = self.alloc(dtype, n)?;
            if n > 0 {
                let kind = if log { "log_softmax" } else { "softmax" };
                let f = self.function("reduce.cu", &format!("{kind}_{}", source::suffix(dtype)))?;
                let (r, c) = (rows as u64, cols as u64);
                let s = &self.stream;
                let (x, _gx) = src.ptr(s);
                let x = at(x, range.start, dtype);
                let (y, _gy) = out.ptr_mut(s);
                // SAFETY: `<kind>_<d>(const T* x, T* y, rows, cols)` over `n` contiguous
                // elements from the layout's offset (its contiguous range lies in storage).
                unsafe { self.launch(&f, Self::rows_cfg(rows), &[&x, &y, &r, &c])? };
            }
            Ok(share_storage(out))
        })())
    }

    fn softmax_backward_last_dim(
        &self,
        y: &dyn Storage,
        y_layout: &Layout,
        dy: &dyn Storage,
        dy_layout: &Layout,
        log: bool,
    ) -> Option<Result<StorageRef>> {
        let (ry, rg) = (y_layout.contiguous_range()?, dy_layout.contiguous_range()?);
        let (ys, gs) = (cuda(y).ok()?, cuda(dy).ok()?);
        let dtype = ys.dtype();
        if !matches!(dtype, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
            || gs.dtype() != dtype
        {
            return None;
        }
        Some((|| {
            let cols = *y_layout.dims().last().unwrap_or(&1);
            let n = count(y_layout);
            let rows = n / cols.max(1);
            let mut out = self.alloc(dtype, n)?;
            if n > 0 {
                let kind = if log {
                    "log_softmax_backward"
                } else {
                    "softmax_backward"
                };
                let f = self.function("reduce.cu", &format!("{kind}_{}", source::suffix(dtype)))?;
                let (r, c) = (rows as u64, cols as u64);
                let s = &self.stream;
                let (py, _g1) = ys.ptr(s);
                let (pg, _g2) = gs.ptr(s);
                let (py, pg) = (at(py, ry.start, dtype), at(pg, rg.start, dtype));
                let (dx, _g3) = out.ptr_mut(s);
                // SAFETY: `<kind>_<d>(const T* y, const T* dy, T* dx, rows, cols)` over `n`
                // contiguous elements of each from their layouts' offsets.
                unsafe { self.launch(&f, Self::rows_cfg(rows), &[&py, &pg, &dx, &r, &c])? };
            }
            Ok(share_storage(out))
        })())
    }

    fn conv(
        &self,
        x: &dyn Storage,
        x_layout: &Layout,
        w: &dyn Storage,
        w_layout: &Layout,
        geo: &ConvGeometry,
    ) -> Option<Result<StorageRef>> {
        self.fused_conv(x, x_layout, w, w_layout, geo)
    }

    fn conv_input_grad(
        &self,
        dy: &dyn Storage,
        dy_layout: &Layout,
        w: &dyn Storage,
        w_layout: &Layout,
        geo: &ConvGeometry,
    ) -> Option<Result<StorageRef>> {
        self.fused_conv_input_grad(dy, dy_layout, w, w_layout, geo)
    }

    fn conv_weight_grad(
        &self,
        x: &dyn Storage,
        x_layout: &Layout,
        dy: &dyn Storage,
        dy_layout: &Layout,
        geo: &ConvGeometry,
    ) -> Option<Result<StorageRef>> {
        self.fused_conv_weight_grad(x, x_layout, dy, dy_layout, geo)
    }

    fn lstm_cell(
        &self,
        gates: &dyn Storage,
        gates_layout: &Layout,
        c_prev: &dyn Storage,
        c_prev_layout: &Layout,
        n: usize,
        h: usize,
    ) -> Option<Result<StorageRef>> {
        self.fused_lstm_cell(gates, gates_layout, c_prev, c_prev_layout, n, h)
    }

    fn lstm_cell_backward(
        &self,
        grad: &dyn Storage,
        grad_layout: &Layout,
        gates: &dyn Storage,
        gates_layout: &Layout,
        c_prev: &dyn Storage,
        c_prev_layout: &Layout,
        n: usize,
        h: usize,
    ) -> Option<Result<(StorageRef, StorageRef)>> {
        self.fused_lstm_cell_backward(
            grad,
            grad_layout,
            gates,
            gates_layout,
            c_prev,
            c_prev_layout,
            n,
            h,
        )
    }

    fn normalize(
        &self,
        x: &dyn Storage,
        x_layout: &Layout,
        spec: &NormSpec,
    ) -> Option<Result<(StorageRef, StorageRef, StorageRef)>> {
        self.fused_normalize(x, x_layout, spec)
    }

    fn normalize_backward(
        &self,
        g: &dyn Storage,
        g_layout: &Layout,
        y: &dyn Storage,
        y_layout: &Layout,
        rstd: &dyn Storage,
        rstd_layout: &Layout,
        spec: &NormSpec,
    ) -> Option<Result<StorageRef>> {
        self.fused_normalize_backward(g, g_layout, y, y_layout, rstd, rstd_layout, spec)
    }

    fn attention(
        &self,
        q: (&dyn Storage, &Layout),
        k: (&dyn Storage, &Layout),
        v: (&dyn Storage, &Layout),
        bias: Option<(&dyn Storage, &Layout)>,
        spec: &lamina_tensor::AttentionSpec,
    ) -> Option<Result<(StorageRef, StorageRef)>> {
        self.fused_attention(q, k, v, bias, spec)
    }

    fn attention_backward(
        &self,
        grad: (&dyn Storage, &Layout),
        q: (&dyn Storage, &Layout),
        k: (&dyn Storage, &Layout),
        v: (&dyn Storage, &Layout),
        out: (&dyn Storage, &Layout),
        lse: (&dyn Storage, &Layout),
        bias: Option<(&dyn Storage, &Layout)>,
        spec: &lamina_tensor::AttentionSpec,
    ) -> Option<Result<(StorageRef, StorageRef, StorageRef)>> {
        self.fused_attention_backward(grad, q, k, v, out, lse, bias, spec)
    }

    fn max_pool_indices(
        &self,
        x: &dyn Storage,
        x_layout: &Layout,
        geo: &PoolGeometry,
    ) -> Option<Result<StorageRef>> {
        self.fused_max_pool_indices(x, x_layout, geo)
    }

    fn adam_update(
        &self,
        param: &mut dyn Storage,
        param_layout: &Layout,
        grad: &dyn Storage,
        grad_layout: &Layout,
        m: &mut dyn Storage,
        v: &mut dyn Storage,
        step: &AdamStep,
    ) -> Option<Result<()>> {
        self.fused_adam(param, param_layout, grad, grad_layout, m, v, step)
    }

    fn sgd_update(
        &self,
        param: &mut dyn Storage,
        param_layout: &Layout,
        grad: &dyn Storage,
        grad_layout: &Layout,
        buf: &mut dyn Storage,
        step: &SgdStep,
    ) -> Option<Result<()>> {
        self.fused_sgd(param, param_layout, grad, grad_layout, buf, step)
    }

    fn live_bytes(&self) -> Option<usize> {
        Some(CudaBackend::live_bytes(self))
    }

    fn synchronize(&self) -> Result<()> {
        self.stream
            .synchronize()
            .map_err(|e| driver("synchronising the stream", e))
    }
}

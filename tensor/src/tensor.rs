//! `Tensor`: shared storage + layout + device, cheap to clone, immutable from outside.
//! This file holds the type, its accessors, creation and conversion; the ops live in
//! `ops/`, one file per family.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::StorageRef;
use crate::{
    DType, Device, Distribution, Element, Error, HostData, Layout, Result, Shape, Storage,
};

/// Ids a thread reserves at a time (see [`TensorId::fresh`]).
const ID_BLOCK: u64 = 1024;

/// A process-unique tensor id: autograd keys gradients by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(u64);

impl TensorId {
    /// A new id. Each thread takes a block of [`ID_BLOCK`] ids from the shared counter and
    /// hands them out one by one, so an op result costs no atomic read-modify-write (a
    /// noticeable share of a tiny op). Ids stay unique across threads; they are not ordered by
    /// creation across threads.
    fn fresh() -> Self {
        static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);
        thread_local! {
            // (next id, end of this thread's block)
            static BLOCK: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
        }
        let take_block = || {
            let start = NEXT_BLOCK.fetch_add(ID_BLOCK, Ordering::Relaxed);
            (start, start + ID_BLOCK)
        };
        // `try_with`: a tensor made while this thread's locals are torn down takes one id
        // straight from the shared counter (a block of one).
        let id = BLOCK.try_with(|b| {
            let (mut next, mut end) = b.get();
            if next == end {
                (next, end) = take_block();
            }
            b.set((next + 1, end));
            next
        });
        TensorId(id.unwrap_or_else(|_| NEXT_BLOCK.fetch_add(1, Ordering::Relaxed)))
    }
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

pub(crate) struct Inner {
    id: TensorId,
    pub(crate) storage: StorageRef,
    pub(crate) layout: Layout,
    device: Device,
}

/// An n-dimensional array on a device. Cloning shares the storage; views (reshape,
/// permute, narrow, expand, ...) share it too and only change the layout.
///
/// ```
/// # use lamina_tensor::{Tensor, DType};
/// # fn demo(dev: &lamina_tensor::Device) -> lamina_tensor::Result<()> {
/// let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2], dev)?;
/// let b = ((&a * 2.0) + &a)?;             // one `?` per expression
/// assert_eq!(b.to_vec::<f32>()?, vec![3.0, 6.0, 9.0, 12.0]);
/// # Ok(()) }
/// ```
///
/// The handle is a `triomphe::Arc`: tensors never hand out weak references, and without a
/// weak count dropping the last handle is one atomic operation instead of two.
#[derive(Clone)]
pub struct Tensor(pub(crate) triomphe::Arc<Inner>);

impl Tensor {
    // ---- construction from parts ----

    /// Wraps a storage with a layout. Backends and autograd use this; the caller
    /// guarantees the layout stays inside the storage.
    pub fn from_storage(storage: StorageRef, layout: Layout, device: Device) -> Tensor {
        debug_assert!(layout.storage_extent() <= storage.len());
        // The block is allocated first and the 128-byte `Inner` written straight into it:
        // `Arc::new` built it on the stack and copied it with a `memcpy` call, on every op.
        let mut slot = triomphe::UniqueArc::<Inner>::new_uninit();
        slot.write(Inner {
            id: TensorId::fresh(),
            storage,
            layout,
            device,
        });
        // SAFETY: `write` has just initialised the value, which is all `assume_init` requires.
        Tensor(unsafe { triomphe::UniqueArc::assume_init(slot) }.shareable())
    }

    /// A new tensor viewing the same storage through another layout.
    pub(crate) fn view_with(&self, layout: Layout) -> Tensor {
        Tensor::from_storage(self.0.storage.clone(), layout, self.0.device)
    }

    // ---- accessors ----

    pub fn id(&self) -> TensorId {
        self.0.id
    }
    pub fn dtype(&self) -> DType {
        self.0.storage.dtype()
    }
    pub fn device(&self) -> &Device {
        &self.0.device
    }
    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }
    pub fn shape(&self) -> &Shape {
        self.0.layout.shape()
    }
    pub fn dims(&self) -> &[usize] {
        self.0.layout.dims()
    }
    pub fn rank(&self) -> usize {
        self.0.layout.rank()
    }
    pub fn elem_count(&self) -> usize {
        self.0.layout.elem_count()
    }
    /// The size of dimension `d` (negative counts from the end).
    pub fn dim(&self, d: isize) -> Result<usize> {
        Ok(self.dims()[self.layout().dim(d, "dim")?])
    }
    pub fn storage(&self) -> &dyn Storage {
        &*self.0.storage
    }
    pub fn storage_ref(&self) -> &StorageRef {
        &self.0.storage
    }
    pub fn is_contiguous(&self) -> bool {
        self.0.layout.is_contiguous()
    }
    /// True when both tensors view the same storage.
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        triomphe::Arc::ptr_eq(&self.0.storage, &other.0.storage)
    }

    // ---- creation ----

    /// A tensor owning `data`, row-major, of `shape`.
    pub fn from_vec<T: Element>(
        data: Vec<T>,
        shape: impl Into<Shape>,
        device: &Device,
    ) -> Result<Tensor> {
        let shape = shape.into();
        let expected = shape.checked_size(T::DTYPE.size_in_bytes(), "from_vec")?;
        if data.len() != expected {
            return Err(Error::ElementCount {
                op: "from_vec",
                len: data.len(),
                expected,
                shape,
            });
        }
        let storage = device.backend().from_host(T::into_host(data))?;
        Ok(Tensor::from_storage(
            storage,
            Layout::contiguous(shape),
            *device,
        ))
    }

    /// Like `from_vec`, copying from a slice.
    pub fn from_slice<T: Element>(
        data: &[T],
        shape: impl Into<Shape>,
        device: &Device,
    ) -> Result<Tensor> {
        Tensor::from_vec(data.to_vec(), shape, device)
    }

    /// A tensor from a dtype-tagged host buffer.
    pub fn from_host(data: HostData, shape: impl Into<Shape>, device: &Device) -> Result<Tensor> {
        let shape = shape.into();
        let expected = shape.checked_size(data.dtype().size_in_bytes(), "from_host")?;
        if data.len() != expected {
            return Err(Error::ElementCount {
                op: "from_host",
                len: data.len(),
                expected,
                shape,
            });
        }
        let storage = device.backend().from_host(data)?;
        Ok(Tensor::from_storage(
            storage,
            Layout::contiguous(shape),
            *device,
        ))
    }

    /// A rank-0 tensor holding `value`.
    pub fn scalar(value: f64, dtype: DType, device: &Device) -> Result<Tensor> {
        Tensor::full(value, (), dtype, device)
    }

    pub fn zeros(shape: impl Into<Shape>, dtype: DType, device: &Device) -> Result<Tensor> {
        let shape = shape.into();
        let len = shape.checked_size(dtype.size_in_bytes(), "zeros")?;
        let storage = device.backend().zeros(len, dtype)?;
        Ok(Tensor::from_storage(
            storage,
            Layout::contiguous(shape),
            *device,
        ))
    }

    pub fn ones(shape: impl Into<Shape>, dtype: DType, device: &Device) -> Result<Tensor> {
        Tensor::full(1.0, shape, dtype, device)
    }

    /// Every element `value` (converted to `dtype` with `as` semantics).
    pub fn full(
        value: f64,
        shape: impl Into<Shape>,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let shape = shape.into();
        let len = shape.checked_size(dtype.size_in_bytes(), "full")?;
        let storage = device.backend().full(len, value, dtype)?;
        Ok(Tensor::from_storage(
            storage,
            Layout::contiguous(shape),
            *device,
        ))
    }

    /// `start, start + step, ...` up to but excluding `end` (PyTorch `arange`).
    pub fn arange(
        start: f64,
        end: f64,
        step: f64,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(Error::Invalid {
                op: "arange",
                msg: format!(
                    "need finite start, end and a non-zero step, got {start}, {end}, {step}"
                ),
            });
        }
        if (end - start) * step < 0.0 {
            return Err(Error::Invalid {
                op: "arange",
                msg: format!("step {step} moves away from end {end} starting at {start}"),
            });
        }
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        Shape::from(n).checked_size(8, "arange")?;
        let v: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
        Tensor::from_host(HostData::from_f64_vec(&v, dtype), [n], device)
    }

    /// `steps` evenly spaced values from `start` to `end` inclusive (PyTorch `linspace`).
    pub fn linspace(
        start: f64,
        end: f64,
        steps: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        Shape::from(steps).checked_size(8, "linspace")?;
        let v: Vec<f64> = match steps {
            0 => Vec::new(),
            1 => vec![start],
            _ => {
                let step = (end - start) / (steps - 1) as f64;
                // Fill from both ends so the last value is exactly `end`, as PyTorch.
                (0..steps)
                    .map(|i| {
                        if i < steps / 2 {
                            start + step * i as f64
                        } else {
                            end - step * (steps - 1 - i) as f64
                        }
                    })
                    .collect()
            }
        };
        Tensor::from_host(HostData::from_f64_vec(&v, dtype), [steps], device)
    }

    /// The `n × n` identity.
    pub fn eye(n: usize, dtype: DType, device: &Device) -> Result<Tensor> {
        let mut v = vec![0.0; Shape::from_dims(&[n, n]).checked_size(8, "eye")?];
        for i in 0..n {
            v[i * n + i] = 1.0;
        }
        Tensor::from_host(HostData::from_f64_vec(&v, dtype), [n, n], device)
    }

    /// Uniform in `[0, 1)`, reproducible for `seed` on every backend.
    pub fn rand(
        seed: u64,
        shape: impl Into<Shape>,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        Tensor::rand_uniform(seed, 0.0, 1.0, shape, dtype, device)
    }

    /// Uniform in `[lo, hi)`, reproducible for `seed` on every backend.
    pub fn rand_uniform(
        seed: u64,
        lo: f64,
        hi: f64,
        shape: impl Into<Shape>,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        Tensor::random(
            Distribution::Uniform { lo, hi },
            seed,
            shape.into(),
            dtype,
            device,
        )
    }

    /// Standard normal, reproducible for `seed` on every backend.
    pub fn randn(
        seed: u64,
        shape: impl Into<Shape>,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        Tensor::random(
            Distribution::Normal {
                mean: 0.0,
                std: 1.0,
            },
            seed,
            shape.into(),
            dtype,
            device,
        )
    }

    fn random(
        dist: Distribution,
        seed: u64,
        shape: Shape,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        if !dtype.is_float() {
            return Err(Error::UnsupportedDType { op: "rand", dtype });
        }
        let storage = device.backend().random(
            dist,
            seed,
            shape.checked_size(dtype.size_in_bytes(), "rand")?,
            dtype,
        )?;
        Ok(Tensor::from_storage(
            storage,
            Layout::contiguous(shape),
            *device,
        ))
    }

    pub fn zeros_like(&self) -> Result<Tensor> {
        Tensor::zeros(self.shape(), self.dtype(), self.device())
    }
    pub fn ones_like(&self) -> Result<Tensor> {
        Tensor::ones(self.shape(), self.dtype(), self.device())
    }
    pub fn full_like(&self, value: f64) -> Result<Tensor> {
        Tensor::full(value, self.shape(), self.dtype(), self.device())
    }
    pub fn rand_like(&self, seed: u64) -> Result<Tensor> {
        Tensor::rand(seed, self.shape(), self.dtype(), self.device())
    }
    pub fn randn_like(&self, seed: u64) -> Result<Tensor> {
        Tensor::randn(seed, self.shape(), self.dtype(), self.device())
    }

    // ---- conversion ----

    /// The elements in row-major logical order; `T` must match the dtype.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        self.read_vec("to_vec")
    }

    /// [`to_vec`](Tensor::to_vec) on behalf of the reading method `op`, whose name the
    /// error carries: `to_scalar: the tensor holds f32, asked for f64 (convert with
    /// .to_dtype(DType::F64) or read as f32)`.
    pub(crate) fn read_vec<T: Element>(&self, op: &'static str) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype() {
            return Err(Error::Invalid {
                op,
                msg: format!(
                    "the tensor holds {held}, asked for {asked} (convert with \
                     .to_dtype(DType::{asked:?}) or read as {held})",
                    held = self.dtype(),
                    asked = T::DTYPE,
                ),
            });
        }
        let host = self.to_host()?;
        T::from_host(host).ok_or(Error::UnsupportedDType {
            op,
            dtype: self.dtype(),
        })
    }

    /// The elements as a dtype-tagged host buffer.
    pub fn to_host(&self) -> Result<HostData> {
        self.device()
            .backend()
            .to_host(self.storage(), self.layout())
    }

    /// The elements converted to f64, whatever the dtype.
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        Ok(self.to_host()?.to_f64_vec())
    }

    /// The value of a one-element tensor (any rank).
    pub fn to_scalar<T: Element>(&self) -> Result<T> {
        if self.elem_count() != 1 {
            return Err(Error::Invalid {
                op: "to_scalar",
                msg: format!(
                    "needs exactly one element, the tensor has shape {}",
                    self.shape()
                ),
            });
        }
        Ok(self.read_vec::<T>("to_scalar")?[0])
    }

    /// A copy converted to `dtype` (`as` semantics); the same tensor if already `dtype`.
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        let storage = self
            .device()
            .backend()
            .cast(self.storage(), self.layout(), dtype)?;
        let out = Tensor::from_storage(
            storage,
            Layout::contiguous(self.shape().clone()),
            *self.device(),
        );
        crate::hook::record(|| crate::hook::Op::Cast(dtype), &[self], &out);
        Ok(out)
    }

    /// A copy on another device (goes through the host), recorded on the tape: the
    /// gradient flows back to `self`'s device.
    pub fn to_device(&self, device: &Device) -> Result<Tensor> {
        if device == self.device() {
            return Ok(self.clone());
        }
        let out = Tensor::from_host(self.to_host()?, self.shape().clone(), device)?;
        let from = *self.device();
        crate::hook::record(|| crate::hook::Op::ToDevice { from }, &[self], &out);
        Ok(out)
    }

    /// A new handle on the same storage and layout with a fresh id: autodiff tapes see it
    /// as a constant (PyTorch `detach`). No copy.
    pub fn detach(&self) -> Tensor {
        self.view_with(self.layout().clone())
    }

    /// A contiguous tensor with the same values: `self` when already contiguous, else a
    /// copy.
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        self.copy()
    }

    /// Always a fresh contiguous copy.
    pub fn copy(&self) -> Result<Tensor> {
        let backend = self.device().backend();
        let layout = Layout::contiguous(self.shape().clone());
        let len = self
            .shape()
            .checked_size(self.dtype().size_in_bytes(), "copy")?;
        // `copy_strided` writes every element of the contiguous destination.
        let mut storage = backend.empty(len, self.dtype())?;
        let dst = triomphe::Arc::get_mut(&mut storage).ok_or_else(|| Error::Backend {
            backend: backend.name(),
            msg: "empty returned a shared storage".into(),
        })?;
        backend.copy_strided(self.storage(), self.layout(), dst, &layout)?;
        let out = Tensor::from_storage(storage, layout, *self.device());
        crate::hook::record(|| crate::hook::Op::Copy, &[self], &out);
        Ok(out)
    }

    // ---- in place (optimizers) ----

    /// Mutable access to this tensor's storage, copying it first unless this handle is
    /// its only owner (so no other tensor ever sees the write).
    pub(crate) fn storage_mut(&mut self) -> Result<(&mut dyn Storage, &Layout)> {
        let unique = triomphe::Arc::get_mut(&mut self.0)
            .is_some_and(|inner| triomphe::Arc::get_mut(&mut inner.storage).is_some());
        if !unique {
            let copy = self.copy()?;
            let id = self.id();
            *self = copy;
            // Keep the id: the tensor is the same parameter, only its storage moved.
            if let Some(inner) = triomphe::Arc::get_mut(&mut self.0) {
                inner.id = id;
            }
        }
        let inner = triomphe::Arc::get_mut(&mut self.0).ok_or_else(|| Error::Invalid {
            op: "in-place update",
            msg: "tensor handle is shared".into(),
        })?;
        let storage = triomphe::Arc::get_mut(&mut inner.storage).ok_or_else(|| Error::Invalid {
            op: "in-place update",
            msg: "storage is shared".into(),
        })?;
        Ok((storage, &inner.layout))
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor[{}, {}, {}, id {}]",
            self.shape(),
            self.dtype(),
            self.device(),
            self.id().0
        )
    }
}

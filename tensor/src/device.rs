//! `Device`: a cheap handle to a backend trait object. Backend crates hand devices out
//! (`lamina_backend_cpu::device()`); the facade offers `Device::cpu()` / `Device::best()`.

use std::fmt;

use crate::Backend;

/// A handle to one backend instance; copies share it. Two devices are equal when they are
/// the same backend instance.
///
/// Backends live for the whole process (as PyTorch's devices do), so the handle is a plain
/// `'static` reference: every tensor carries its device, and a reference-counted handle would
/// cost two atomic read-modify-writes per op result (clone and drop).
///
/// It points at a *slot* holding the backend reference rather than at the backend: a
/// backend may be zero-sized (the CPU backend is), and distinct zero-sized values can share
/// an address, while each slot is a 16-byte object of its own, so two devices are the same
/// exactly when their slots are. It also keeps the handle one word wide.
#[derive(Clone, Copy)]
pub struct Device(&'static &'static dyn Backend);

impl Device {
    /// Wraps the slot of a backend that lives as long as the process: typically two
    /// statics, `static CPU: CpuBackend = CpuBackend; static SLOT: &dyn Backend = &CPU;`
    /// and `Device::new(&SLOT)`. Backend crates call this once and hand out copies; a
    /// backend made at run time goes through [`Device::leak`].
    pub fn new(slot: &'static &'static dyn Backend) -> Self {
        Device(slot)
    }

    /// Moves a backend made at run time (a CUDA context, a test double) and a slot for it to
    /// the heap for the rest of the process, and wraps them. Call it once per backend
    /// instance, not per use: each call is a new device.
    pub fn leak(backend: Box<dyn Backend>) -> Self {
        let backend: &'static dyn Backend = Box::leak(backend);
        Device(Box::leak(Box::new(backend)))
    }

    pub fn backend(&self) -> &'static dyn Backend {
        *self.0
    }

    /// `cpu`, `cuda:0`, ...
    pub fn name(&self) -> String {
        self.0.name()
    }

    /// Bytes of tensor storage currently allocated, if the backend counts them.
    pub fn live_bytes(&self) -> Option<usize> {
        self.0.live_bytes()
    }

    /// Waits for queued work on the device.
    pub fn synchronize(&self) -> crate::Result<()> {
        self.0.synchronize()
    }

    pub fn same(&self, other: &Device) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl PartialEq for Device {
    fn eq(&self, other: &Self) -> bool {
        self.same(other)
    }
}
impl Eq for Device {}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Device({})", self.0.name())
    }
}
impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.name())
    }
}

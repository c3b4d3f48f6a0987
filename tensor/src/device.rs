//! `Device`: a cheap handle to a backend trait object. Backend crates hand devices out
//! (`lamina_backend_cpu::device()`); the facade offers `Device::cpu()` / `Device::best()`.

use std::fmt;
use std::sync::Arc;

use crate::Backend;

/// A handle to one backend instance; clones share it. Two devices are equal when they are
/// the same backend instance.
#[derive(Clone)]
pub struct Device(Arc<dyn Backend>);

impl Device {
    /// Wraps a backend. Backend crates call this once and hand out clones.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Device(backend)
    }

    pub fn backend(&self) -> &dyn Backend {
        &*self.0
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
        std::ptr::addr_eq(Arc::as_ptr(&self.0), Arc::as_ptr(&other.0))
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

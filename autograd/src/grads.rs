//! `Grads`: the gradients a backward sweep produced, looked up by the tensor (parameter)
//! they belong to.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use lamina_tensor::{Result, Tensor, TensorId};

/// Tensor ids are sequential integers: hashing them is a multiply.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type IdMap<V> = HashMap<TensorId, V, BuildHasherDefault<IdHasher>>;

/// Gradients by tensor. `get(&w)` is `d loss / d w`, with `w`'s shape.
#[derive(Default, Clone)]
pub struct Grads {
    map: IdMap<Tensor>,
}

impl Grads {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn from_map(map: IdMap<Tensor>) -> Self {
        Grads { map }
    }

    /// The gradient of `t`, if the loss depends on it.
    pub fn get(&self, t: &Tensor) -> Option<&Tensor> {
        self.map.get(&t.id())
    }

    /// The gradient by id.
    pub fn get_id(&self, id: TensorId) -> Option<&Tensor> {
        self.map.get(&id)
    }

    /// Removes and returns the gradient of `t`.
    pub fn remove(&mut self, t: &Tensor) -> Option<Tensor> {
        self.map.remove(&t.id())
    }

    /// Sets the gradient of `t` (custom optimizers, clipping).
    pub fn insert(&mut self, t: &Tensor, g: Tensor) {
        self.map.insert(t.id(), g);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every (id, gradient) pair.
    pub fn iter(&self) -> impl Iterator<Item = (TensorId, &Tensor)> {
        self.map.iter().map(|(k, v)| (*k, v))
    }

    /// Adds `other` into `self` (gradient accumulation over several backward calls).
    pub fn accumulate(&mut self, other: Grads) -> Result<()> {
        for (id, g) in other.map {
            match self.map.remove(&id) {
                Some(prev) => {
                    self.map.insert(id, prev.add(&g)?);
                }
                None => {
                    self.map.insert(id, g);
                }
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for Grads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.map.iter().map(|(k, v)| (k.as_u64(), v.shape())))
            .finish()
    }
}

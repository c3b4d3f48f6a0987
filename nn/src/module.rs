//! The [`Module`] trait: a layer is a plain struct of tensors with a `forward`, and names
//! its parameters by visiting them. Everything else — the state dict, the optimizer's
//! view, the parameter count, weight files — is derived from that one visitor, so a
//! user's composite module implements four short methods and gets the rest.
//!
//! Names follow PyTorch's `state_dict`: a child's parameters are prefixed with the
//! child's field name and a dot (`fc1.weight`), `Sequential` children are numbered
//! (`0.weight`, `2.bias`).
//!
//! Random-stream positions (how many masks a `Dropout` has drawn) are named the same
//! way (`2.step`) through a second, smaller visitor pair: they are not tensors and not
//! trained, but a checkpoint needs them for a resumed run to draw the same randomness.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use lamina_tensor::{Result, Tensor};

/// `prefix.name`, or `name` when the prefix is empty: how a module names a child or a
/// parameter (`prefixed("fc1", "weight") == "fc1.weight"`).
pub fn prefixed(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// A layer or a model: a function of one tensor with named parameters and a train/eval
/// mode.
///
/// Parameters are plain [`Tensor`]s owned by the module. Autograd keys gradients by
/// [`TensorId`](lamina_tensor::TensorId), so a parameter is never replaced: optimizers and
/// [`load_safetensors`](Module::load_safetensors) write into it with `Tensor::assign`, which
/// keeps its id.
///
/// A composite module forwards `visit`, `visit_mut` and `set_training` to its children
/// under their field names (and, if a child draws random numbers as it runs, such as
/// [`Dropout`](crate::Dropout), also `visit_rng_state` and `visit_rng_state_mut`, which
/// otherwise visit nothing):
///
/// ```
/// use lamina_nn::{prefixed, Linear, Module};
/// use lamina_tensor::{Result, Tensor};
///
/// struct Mlp { fc1: Linear, fc2: Linear }
///
/// impl Module for Mlp {
///     fn forward(&self, x: &Tensor) -> Result<Tensor> {
///         self.fc2.forward(&self.fc1.forward(x)?.relu()?)
///     }
///     fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
///         self.fc1.visit(&prefixed(prefix, "fc1"), f);
///         self.fc2.visit(&prefixed(prefix, "fc2"), f);
///     }
///     fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
///         self.fc1.visit_mut(&prefixed(prefix, "fc1"), f);
///         self.fc2.visit_mut(&prefixed(prefix, "fc2"), f);
///     }
///     fn set_training(&mut self, on: bool) {
///         self.fc1.set_training(on);
///         self.fc2.set_training(on);
///     }
/// }
///
/// let dev = lamina_backend_cpu::device();
/// let mlp = Mlp { fc1: Linear::builder(4, 8).seed(1).build(&dev)?, fc2: Linear::builder(8, 2).seed(2).build(&dev)? };
/// let names: Vec<String> = mlp.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
/// assert_eq!(mlp.num_parameters(), 4 * 8 + 8 + 8 * 2 + 2);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub trait Module {
    /// The layer's function of its input.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// Calls `f(name, parameter)` for every parameter, names prefixed by `prefix` (use
    /// [`prefixed`]). The order is the declaration order and must match `visit_mut`.
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor));

    /// Like [`visit`](Module::visit), with mutable access (for optimizers and loading).
    /// Update parameters in place; never replace them.
    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor));

    /// Switches training mode (dropout active) on or off, for this module and its children.
    fn set_training(&mut self, on: bool);

    /// The module as `Any`, for code that converts known layer types (the quantiser
    /// reads a `Sequential`'s `Linear`, `Conv2d`, `BatchNorm2d`, ... this way); `None`
    /// (the default) for a module that does not offer it.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }

    /// What error messages call this module: by default the type's name without its
    /// path (`Relu`, `Sequential`); layers with sizes say them, as `Linear(in 64, out
    /// 3)` does.
    ///
    /// ```
    /// use lamina_nn::{Linear, Module, Relu};
    /// let dev = lamina_backend_cpu::device();
    /// assert_eq!(Relu.name(), "Relu");
    /// assert_eq!(Linear::new(64, 3, &dev)?.name(), "Linear(in 64, out 3)");
    /// # Ok::<(), lamina_tensor::Error>(())
    /// ```
    fn name(&self) -> String {
        short_type_name(std::any::type_name::<Self>())
    }

    /// Whether the module is in training mode, for code that switches to evaluation and
    /// back (`lamina_train::predict`): `Some(on)` from a layer whose forward depends on the
    /// mode ([`Dropout`](crate::Dropout)) or a composite that has one, `None` when nothing
    /// in it depends on the mode, or a composite does not forward the question (the
    /// default). Composites answer with their first child that knows.
    fn training_mode(&self) -> Option<bool> {
        None
    }

    /// Calls `f(name, buffer)` for every buffer, names prefixed by `prefix`: state that is
    /// saved and loaded with the parameters but not trained, such as
    /// [`BatchNorm2d`](crate::BatchNorm2d)'s running statistics (PyTorch's
    /// `register_buffer`). The tensors are handles sharing the buffers' storage. The
    /// default visits nothing; composites forward it to their children like `visit`.
    fn visit_buffers(&self, _prefix: &str, _f: &mut dyn FnMut(String, Tensor)) {}

    /// Like [`visit_buffers`](Module::visit_buffers), each buffer mutable (for loading).
    /// Must visit the same names in the same order.
    fn visit_buffers_mut(&mut self, _prefix: &str, _f: &mut dyn FnMut(String, &mut Tensor)) {}

    /// `(name, buffer)` pairs in visiting order (see
    /// [`visit_buffers`](Module::visit_buffers)); empty for most layers.
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        self.visit_buffers("", &mut |name, t| out.push((name, t)));
        out
    }

    /// The parameters, then the buffers, by name: what a weight file holds (PyTorch's
    /// `state_dict`, whose entries are keyed by name as here).
    fn state_dict(&self) -> Vec<(String, Tensor)> {
        let mut out = self.named_parameters();
        out.extend(self.named_buffers());
        out
    }

    /// Calls `f(name, position)` for every random stream the module draws from as it
    /// runs, names prefixed by `prefix` (use [`prefixed`]): how far each stream has
    /// advanced, such as [`Dropout`](crate::Dropout)'s mask counter `step`. With the
    /// parameters, this is what a checkpoint must save for a resumed run to draw the
    /// same randomness as one that never stopped. The default visits nothing (a layer
    /// without randomness); composites forward it to their children like `visit`.
    fn visit_rng_state(&self, _prefix: &str, _f: &mut dyn FnMut(String, u64)) {}

    /// Like [`visit_rng_state`](Module::visit_rng_state), with each position mutable
    /// (for loading). Must visit the same names in the same order.
    fn visit_rng_state_mut(&mut self, _prefix: &str, _f: &mut dyn FnMut(String, &mut u64)) {}

    /// The random-stream positions by name (see
    /// [`visit_rng_state`](Module::visit_rng_state)); empty for a model without
    /// randomness. Restore them with [`set_rng_state`](Module::set_rng_state).
    ///
    /// ```
    /// use lamina_nn::{Dropout, Linear, Module, Sequential};
    /// use lamina_tensor::{DType, Tensor};
    /// let dev = lamina_backend_cpu::device();
    /// let model = || -> lamina_tensor::Result<Sequential> {
    ///     Ok(Sequential::new().add(Linear::builder(4, 4).seed(0).build(&dev)?).add(Dropout::builder(0.5).seed(7).build()?))
    /// };
    /// let (a, mut b) = (model()?, model()?);
    /// let x = Tensor::ones([2, 4], DType::F32, &dev)?;
    /// a.forward(&x)?;
    /// assert_eq!(a.rng_state().into_iter().collect::<Vec<_>>(), [("1.step".to_string(), 1)]);
    ///
    /// b.set_rng_state(&a.rng_state())?;   // b now draws a's next mask
    /// assert_eq!(a.forward(&x)?.to_vec::<f32>()?, b.forward(&x)?.to_vec::<f32>()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn rng_state(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        self.visit_rng_state("", &mut |name, pos| {
            out.insert(name, pos);
        });
        out
    }

    /// Sets the random-stream positions from `state`, as
    /// [`rng_state`](Module::rng_state) returned it. `state` must name exactly the
    /// module's streams: a missing or an extra name is an error naming it, and nothing
    /// is written unless all names match.
    fn set_rng_state(&mut self, state: &BTreeMap<String, u64>) -> crate::Result<()> {
        let mut names = Vec::new();
        self.visit_rng_state("", &mut |name, _| names.push(name));
        let mut ours = HashSet::new();
        for name in &names {
            if !ours.insert(name.as_str()) {
                return Err(crate::Error::DuplicateRngState { name: name.clone() });
            }
        }
        let extra = || state.keys().filter(|k| !ours.contains(k.as_str()));
        if let Some(name) = names.iter().find(|n| !state.contains_key(*n)) {
            return Err(crate::Error::MissingRngState {
                name: name.clone(),
                unmatched: extra().cloned().collect(),
            });
        }
        if let Some(name) = extra().next() {
            return Err(crate::Error::UnexpectedRngState { name: name.clone() });
        }
        self.visit_rng_state_mut("", &mut |name, pos| {
            if let Some(&v) = state.get(&name) {
                *pos = v;
            }
        });
        Ok(())
    }

    /// Training mode: PyTorch `model.train()`.
    fn train(&mut self) {
        self.set_training(true);
    }

    /// Evaluation mode: PyTorch `model.eval()`.
    fn eval(&mut self) {
        self.set_training(false);
    }

    /// `(name, parameter)` pairs in visiting order: the state dict. The tensors are cheap
    /// handles sharing the parameters' storage and ids.
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        self.visit("", &mut |name, t| out.push((name, t.clone())));
        out
    }

    /// The parameters, borrowed: pass them to `lamina_autograd::value_and_grad`.
    fn parameters(&self) -> Vec<&Tensor> {
        let mut out = Vec::new();
        self.visit("", &mut |_, t| out.push(t));
        out
    }

    /// The parameters, mutably borrowed: what an optimizer's `step` updates in place.
    fn parameters_mut(&mut self) -> Vec<&mut Tensor> {
        let mut out = Vec::new();
        self.visit_mut("", &mut |_, t| out.push(t));
        out
    }

    /// Total number of parameter elements.
    fn num_parameters(&self) -> usize {
        let mut n = 0;
        self.visit("", &mut |_, t| n += t.elem_count());
        n
    }

    /// Writes the parameters and buffers to a safetensors file (see [`crate::weights`]).
    fn save_safetensors(&self, path: impl AsRef<Path>) -> crate::Result<()>
    where
        Self: Sized,
    {
        crate::weights::save_safetensors(self, path)
    }

    /// Loads the parameters and buffers from a safetensors file in place (see
    /// [`crate::weights`]).
    fn load_safetensors(&mut self, path: impl AsRef<Path>) -> crate::Result<()>
    where
        Self: Sized,
    {
        crate::weights::load_safetensors(self, path)
    }
}

impl<M: Module + ?Sized> Module for Box<M> {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        (**self).forward(x)
    }
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        (**self).visit(prefix, f)
    }
    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        (**self).visit_mut(prefix, f)
    }
    fn set_training(&mut self, on: bool) {
        (**self).set_training(on)
    }
    fn name(&self) -> String {
        (**self).name()
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        (**self).as_any()
    }

    fn training_mode(&self) -> Option<bool> {
        (**self).training_mode()
    }

    fn visit_rng_state(&self, prefix: &str, f: &mut dyn FnMut(String, u64)) {
        (**self).visit_rng_state(prefix, f)
    }
    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(String, Tensor)) {
        (**self).visit_buffers(prefix, f)
    }
    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Tensor)) {
        (**self).visit_buffers_mut(prefix, f)
    }
    fn visit_rng_state_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut u64)) {
        (**self).visit_rng_state_mut(prefix, f)
    }
}

/// `std::any::type_name` without module paths: `a::b::Wrap<c::Linear>` is
/// `Wrap<Linear>`.
fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    // Where the path segment being read starts in `out`; a `::` drops it.
    let mut segment = 0;
    let mut chars = full.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            out.truncate(segment);
            continue;
        }
        out.push(c);
        if !(c.is_alphanumeric() || c == '_') {
            segment = out.len();
        }
    }
    out
}

/// Implements the parameter-less, mode-less part of `Module` for a stateless layer.
macro_rules! stateless_module {
    ($ty:ty, |$s:ident, $x:ident| $body:expr) => {
        impl $crate::Module for $ty {
            fn forward(
                &self,
                $x: &lamina_tensor::Tensor,
            ) -> lamina_tensor::Result<lamina_tensor::Tensor> {
                let $s = self;
                $body
            }
            fn visit<'a>(&'a self, _: &str, _: &mut dyn FnMut(String, &'a lamina_tensor::Tensor)) {}
            fn visit_mut<'a>(
                &'a mut self,
                _: &str,
                _: &mut dyn FnMut(String, &'a mut lamina_tensor::Tensor),
            ) {
            }
            fn set_training(&mut self, _: bool) {}
            fn as_any(&self) -> Option<&dyn std::any::Any> {
                Some(self)
            }
        }
    };
}
pub(crate) use stateless_module;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_type_names_drop_every_path() {
        assert_eq!(short_type_name("lamina_nn::activation::Relu"), "Relu");
        assert_eq!(
            short_type_name("my::Wrap<lamina_nn::linear::Linear, alloc::vec::Vec<u8>>"),
            "Wrap<Linear, Vec<u8>>"
        );
        assert_eq!(short_type_name("Plain"), "Plain");
    }

    #[test]
    fn prefixed_joins_with_a_dot() {
        assert_eq!(prefixed("", "weight"), "weight");
        assert_eq!(prefixed("0", "weight"), "0.weight");
        assert_eq!(prefixed("enc.1", "bias"), "enc.1.bias");
    }
}

//! The [`Module`] trait: a layer is a plain struct of tensors with a `forward`, and names
//! its parameters by visiting them. Everything else — the state dict, the optimizer's
//! view, the parameter count, weight files — is derived from that one visitor, so a
//! user's composite module implements four short methods and gets the rest.
//!
//! Names follow PyTorch's `state_dict`: a child's parameters are prefixed with the
//! child's field name and a dot (`fc1.weight`), `Sequential` children are numbered
//! (`0.weight`, `2.bias`).

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
/// under their field names:
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
/// let mlp = Mlp { fc1: Linear::new(4, 8, 1, &dev)?, fc2: Linear::new(8, 2, 2, &dev)? };
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

    /// Writes the parameters to a safetensors file (see [`crate::weights`]).
    fn save_safetensors(&self, path: impl AsRef<Path>) -> crate::Result<()>
    where
        Self: Sized,
    {
        crate::weights::save_safetensors(self, path)
    }

    /// Loads the parameters from a safetensors file in place (see [`crate::weights`]).
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
        }
    };
}
pub(crate) use stateless_module;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_joins_with_a_dot() {
        assert_eq!(prefixed("", "weight"), "weight");
        assert_eq!(prefixed("0", "weight"), "0.weight");
        assert_eq!(prefixed("enc.1", "bias"), "enc.1.bias");
    }
}

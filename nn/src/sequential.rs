//! `Sequential`: modules applied one after another. Children are named by position, as
//! in PyTorch's `nn.Sequential`, so `Sequential[Linear, Relu, Linear]` has parameters
//! `0.weight, 0.bias, 2.weight, 2.bias` and loads PyTorch's state dict unchanged.

use std::fmt;

use lamina_tensor::{Error, Result, Tensor};

use crate::module::prefixed;
use crate::Module;

/// A boxed module that can move between threads (Lamina's tensors are `Send + Sync`).
pub type BoxedModule = Box<dyn Module + Send + Sync>;

/// `layers[n-1](... layers[1](layers[0](x)))`.
///
/// ```
/// use lamina_nn::{Linear, Module, Relu, Sequential};
/// let dev = lamina_backend_cpu::device();
/// let mlp = Sequential::new()
///     .add(Linear::builder(2, 3).seed(1).build(&dev)?)
///     .add(Relu)
///     .add(Linear::builder(3, 1).seed(2).build(&dev)?);
/// let names: Vec<String> = mlp.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Default)]
pub struct Sequential {
    layers: Vec<BoxedModule>,
}

impl Sequential {
    /// An empty sequence (its forward is the identity).
    pub fn new() -> Sequential {
        Sequential { layers: Vec::new() }
    }

    /// Appends a layer (builder style).
    // candle's name for it; a `Sequential` is not a number, so `std::ops::Add` would mislead.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: impl Module + Send + Sync + 'static) -> Self {
        self.push(layer);
        self
    }

    /// Appends a layer.
    pub fn push(&mut self, layer: impl Module + Send + Sync + 'static) {
        self.layers.push(Box::new(layer));
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[BoxedModule] {
        &self.layers
    }

    /// The layers, mutably (to reinitialise one, say).
    pub fn layers_mut(&mut self) -> &mut [BoxedModule] {
        &mut self.layers
    }
}

impl From<Vec<BoxedModule>> for Sequential {
    fn from(layers: Vec<BoxedModule>) -> Self {
        Sequential { layers }
    }
}

impl fmt::Debug for Sequential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sequential({} layers)", self.layers.len())
    }
}

impl Module for Sequential {
    /// Runs the layers in order; an error says which layer failed: `Sequential layer 2
    /// (Linear(in 64, out 3)): ...`, or `Sequential layer 2: ...` when the layer's own
    /// error already names it (`Error::Module`). The layer's error stays the
    /// [`source`](std::error::Error::source) (see `lamina_tensor::Error::innermost`).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h).map_err(|e| {
                let name = layer.name();
                match &e {
                    Error::Module { module, .. } if *module == name => {
                        e.context(format!("Sequential layer {i}"))
                    }
                    _ => e.context(format!("Sequential layer {i} ({name})")),
                }
            })?;
        }
        Ok(h)
    }

    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        for (i, layer) in self.layers.iter().enumerate() {
            layer.visit(&prefixed(prefix, &i.to_string()), f);
        }
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.visit_mut(&prefixed(prefix, &i.to_string()), f);
        }
    }

    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(String, Tensor)) {
        for (i, layer) in self.layers.iter().enumerate() {
            layer.visit_buffers(&prefixed(prefix, &i.to_string()), f);
        }
    }

    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Tensor)) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.visit_buffers_mut(&prefixed(prefix, &i.to_string()), f);
        }
    }

    fn set_training(&mut self, on: bool) {
        for layer in &mut self.layers {
            layer.set_training(on);
        }
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn training_mode(&self) -> Option<bool> {
        self.layers.iter().find_map(|l| l.training_mode())
    }

    fn visit_rng_state(&self, prefix: &str, f: &mut dyn FnMut(String, u64)) {
        for (i, layer) in self.layers.iter().enumerate() {
            layer.visit_rng_state(&prefixed(prefix, &i.to_string()), f);
        }
    }

    fn visit_rng_state_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut u64)) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.visit_rng_state_mut(&prefixed(prefix, &i.to_string()), f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dropout, Linear, Relu};
    use lamina_tensor::{DType, Device};
    use std::collections::BTreeMap;

    fn dev() -> Device {
        lamina_backend_cpu::device()
    }

    #[test]
    fn training_mode_is_reported_by_the_layers_that_have_one() {
        let mut plain = Sequential::new()
            .add(Linear::builder(2, 2).seed(0).build(&dev()).unwrap())
            .add(Relu);
        assert_eq!(plain.training_mode(), None);
        plain.eval();
        assert_eq!(plain.training_mode(), None);
        let mut m = plain.add(Dropout::builder(0.5).seed(1).build().unwrap());
        assert_eq!(m.training_mode(), Some(true));
        m.eval();
        assert_eq!(m.training_mode(), Some(false));
        let boxed: Box<dyn Module> = Box::new(m);
        assert_eq!(boxed.training_mode(), Some(false));
    }

    fn t(v: &[f64], shape: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape.to_vec(), &dev()).unwrap()
    }

    /// Linear(2,2) -> ReLU -> Linear(2,1) with explicit weights.
    fn mlp() -> Sequential {
        let l1 = Linear::from_weights(
            t(&[1.0, -1.0, 0.5, 2.0], &[2, 2]),
            Some(t(&[0.0, -1.0], &[2])),
        )
        .unwrap();
        let l2 = Linear::from_weights(t(&[3.0, -2.0], &[1, 2]), Some(t(&[0.25], &[1]))).unwrap();
        Sequential::new().add(l1).add(Relu).add(l2)
    }

    #[test]
    fn forward_matches_hand_computation() {
        // x = [2, 1]: h = [2-1+0, 1+2-1] = [1, 2]; relu = [1, 2]; y = 3 - 4 + 0.25 = -0.75
        // x = [-1, 1]: h = [-2, -0.5+2-1] = [-2, 0.5]; relu = [0, 0.5]; y = -1 + 0.25 = -0.75
        // x = [0, 3]: h = [-3, 6-1] = [-3, 5]; relu = [0, 5]; y = -10 + 0.25 = -9.75
        let x = t(&[2.0, 1.0, -1.0, 1.0, 0.0, 3.0], &[3, 2]);
        let y = mlp().forward(&x).unwrap();
        assert_eq!(y.dims(), &[3, 1]);
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![-0.75, -0.75, -9.75]);
    }

    #[test]
    fn names_count_and_mutable_access() {
        let mut m = mlp();
        assert_eq!(m.len(), 3);
        let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
        assert_eq!(m.num_parameters(), 4 + 2 + 2 + 1);
        let ids: Vec<_> = m.parameters().iter().map(|p| p.id()).collect();
        // In-place updates through parameters_mut keep ids and change forward.
        for p in m.parameters_mut() {
            let z = p.zeros_like().unwrap();
            p.assign(&z).unwrap();
        }
        let after: Vec<_> = m.parameters().iter().map(|p| p.id()).collect();
        assert_eq!(ids, after);
        let y = m.forward(&t(&[2.0, 1.0], &[1, 2])).unwrap();
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![0.0]);
    }

    #[test]
    fn errors_name_the_layer() {
        // Linear(in 2, out 2) fed 3 features: the layer's own message names it.
        let e = mlp().forward(&t(&[1.0, 2.0, 3.0], &[1, 3])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Sequential layer 0: Linear(in 2, out 2): input has 3 features (shape [1, 3]), \
             expected 2"
        );
        assert!(matches!(e.innermost(), lamina_tensor::Error::Module { .. }));
        // A tensor op's error gets the layer's index and name in front.
        let m = Sequential::new()
            .add(Relu)
            .add(crate::Softmax { dim: 4 })
            .add(Relu);
        let e = m.forward(&t(&[1.0, 2.0], &[2])).unwrap_err();
        let inner = e.innermost().to_string();
        assert!(
            matches!(
                e.innermost(),
                lamina_tensor::Error::DimOutOfRange { dim: 4, .. }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!("Sequential layer 1 (Softmax): {inner}")
        );
        let source = std::error::Error::source(&e).expect("the layer's error");
        assert_eq!(source.to_string(), inner);
        // Nested: each level adds its index.
        let outer = Sequential::new().add(Relu).add(m);
        let e = outer.forward(&t(&[1.0, 2.0], &[2])).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("Sequential layer 1 (Sequential): Sequential layer 1 (Softmax): {inner}")
        );
    }

    #[test]
    fn nested_prefixes() {
        let inner = Sequential::new().add(Linear::builder(2, 2).seed(0).build(&dev()).unwrap());
        let outer = Sequential::new().add(Relu).add(inner);
        let names: Vec<String> = outer
            .named_parameters()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["1.0.weight", "1.0.bias"]);
    }

    #[test]
    fn rng_state_reaches_nested_children() {
        let inner = Sequential::new()
            .add(Dropout::builder(0.5).seed(1).build().unwrap())
            .add(Linear::builder(2, 2).seed(0).build(&dev()).unwrap())
            .add(Dropout::builder(0.5).seed(2).build().unwrap());
        let outer = Sequential::new()
            .add(Dropout::builder(0.5).seed(3).build().unwrap())
            .add(inner);
        let x = Tensor::ones([1, 2], DType::F32, &dev()).unwrap();
        outer.forward(&x).unwrap();
        outer.forward(&x).unwrap();
        let state = outer.rng_state();
        let names: Vec<&str> = state.keys().map(String::as_str).collect();
        assert_eq!(names, ["0.step", "1.0.step", "1.2.step"]);
        assert!(state.values().all(|&s| s == 2));

        // The duplicate check: a composite that forgot to prefix its children.
        struct Unprefixed(Dropout, Dropout);
        impl Module for Unprefixed {
            fn forward(&self, x: &Tensor) -> Result<Tensor> {
                self.1.forward(&self.0.forward(x)?)
            }
            fn visit<'a>(&'a self, _: &str, _: &mut dyn FnMut(String, &'a Tensor)) {}
            fn visit_mut<'a>(&'a mut self, _: &str, _: &mut dyn FnMut(String, &'a mut Tensor)) {}
            fn set_training(&mut self, _: bool) {}
            fn visit_rng_state(&self, prefix: &str, f: &mut dyn FnMut(String, u64)) {
                self.0.visit_rng_state(prefix, f);
                self.1.visit_rng_state(prefix, f);
            }
        }
        let mut bad = Unprefixed(
            Dropout::builder(0.5).seed(1).build().unwrap(),
            Dropout::builder(0.5).seed(2).build().unwrap(),
        );
        let msg = bad
            .set_rng_state(&BTreeMap::from([("step".to_string(), 1)]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "random-stream state: the name `step` occurs twice in the model"
        );
    }

    #[test]
    fn empty_is_identity_and_mode_reaches_children() {
        let x = t(&[1.0, 2.0], &[2]);
        let e = Sequential::new();
        assert_eq!(
            e.forward(&x).unwrap().to_vec::<f64>().unwrap(),
            vec![1.0, 2.0]
        );
        let mut m = Sequential::new().add(Dropout::builder(0.5).seed(1).build().unwrap());
        let ones = Tensor::ones([1000], DType::F64, &dev()).unwrap();
        assert_ne!(
            m.forward(&ones).unwrap().to_vec::<f64>().unwrap(),
            vec![1.0; 1000]
        );
        m.eval();
        assert_eq!(
            m.forward(&ones).unwrap().to_vec::<f64>().unwrap(),
            vec![1.0; 1000]
        );
    }
}

//! [`mlp`] and [`Mlp::builder`]: a multi-layer perceptron in one line, as a plain
//! [`Sequential`] of [`Linear`] layers with an [`Activation`] (and optionally
//! [`Dropout`]) between them, so it prints, trains, saves and loads like any model
//! built by hand: `mlp(&[13, 64, 3], ..)` has PyTorch's parameter names `0.weight`,
//! `0.bias`, `2.weight`, `2.bias`.
//!
//! Seeds: the layers take theirs, in order, from one stream: the global one
//! ([`lamina_tensor::random`]) or, with [`MlpBuilder::seed`], `Seeds::new(seed)`. The
//! linear layers draw first (layer `i` gets draw `i`), then the dropout layers, so an
//! explicit seed `s` builds the same model as `manual_seed(s)` followed by the global
//! form, and adding dropout leaves the weights as they were.

use lamina_tensor::random::next_seed;
use lamina_tensor::{DType, Device, Error, Result};

use crate::{Activation, Dropout, Linear, Seeds, Sequential};

/// A multi-layer perceptron for `sizes = [input, hidden..., output]`: `Linear` layers
/// with PyTorch's default initialisation, `activation` after each but the last (which
/// gives logits), seeds from the global stream. `[30, 2]` is logistic regression
/// (one `Linear`, no activation). Fewer than two sizes or a zero size is an error.
/// [`Mlp::builder`] adds dropout, an explicit seed and the dtype.
///
/// ```
/// use lamina_nn::{mlp, Activation, Module};
/// let dev = lamina_backend_cpu::device();
/// let model = mlp(&[13, 64, 3], Activation::Relu, &dev)?;
/// let names: Vec<String> = model.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
/// assert_eq!(model.num_parameters(), 13 * 64 + 64 + 64 * 3 + 3);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn mlp(sizes: &[usize], activation: Activation, device: &Device) -> Result<Sequential> {
    Mlp::builder(sizes).activation(activation).build(device)
}

/// The namespace of [`Mlp::builder`]; the model itself is a [`Sequential`].
#[derive(Debug)]
pub enum Mlp {}

impl Mlp {
    /// Options of an MLP over `sizes = [input, hidden..., output]`: ReLU, no dropout,
    /// f32, seeds from the global stream until [`MlpBuilder::seed`] says otherwise.
    ///
    /// ```
    /// use lamina_nn::{Activation, Mlp, Module};
    /// let dev = lamina_backend_cpu::device();
    /// let model = Mlp::builder(&[13, 64, 3])
    ///     .activation(Activation::Tanh)
    ///     .dropout(0.1)
    ///     .seed(7)
    ///     .build(&dev)?;
    /// // Linear, Tanh, Dropout, Linear
    /// assert_eq!(model.len(), 4);
    /// assert_eq!(model.layers()[2].name(), "Dropout(p 0.1)");
    /// # Ok::<(), lamina_tensor::Error>(())
    /// ```
    pub fn builder(sizes: &[usize]) -> MlpBuilder {
        MlpBuilder {
            sizes: sizes.to_vec(),
            activation: Activation::Relu,
            dropout: None,
            dtype: DType::F32,
            seed: None,
        }
    }
}

/// Options of an MLP; see [`Mlp::builder`].
#[derive(Clone, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build`"]
pub struct MlpBuilder {
    sizes: Vec<usize>,
    activation: Activation,
    dropout: Option<f64>,
    dtype: DType,
    seed: Option<u64>,
}

impl MlpBuilder {
    /// The activation between layers (default ReLU).
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// A [`Dropout`] of probability `p` after each hidden layer's activation (default
    /// none).
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout = Some(p);
        self
    }

    /// The parameters' dtype (default f32).
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// Draws the layers' seeds from `Seeds::new(seed)` instead of the global stream.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The model. Checks every option before drawing any seed, so a rejected one leaves
    /// the global stream where it was.
    pub fn build(&self, device: &Device) -> Result<Sequential> {
        const OP: &str = "mlp";
        let sizes = &self.sizes;
        if sizes.len() < 2 {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("needs at least an input and an output size, got {sizes:?}"),
            });
        }
        if let Some(i) = sizes.iter().position(|&w| w == 0) {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("sizes must be positive, got {sizes:?} (0 at position {i})"),
            });
        }
        if let Some(p) = self.dropout {
            // The same check `Dropout` makes, before any seed is drawn.
            Dropout::builder(p).seed(0).build()?;
        }
        let mut seeds = self.seed.map(Seeds::new);
        let mut next = || match &mut seeds {
            Some(s) => s.next_seed(),
            None => next_seed(),
        };
        let layers = sizes.len() - 1;
        let linear_seeds: Vec<u64> = (0..layers).map(|_| next()).collect();
        let dropout_seeds: Vec<u64> = match self.dropout {
            Some(_) => (1..layers).map(|_| next()).collect(),
            None => Vec::new(),
        };
        let mut model = Sequential::new();
        for (i, (w, &seed)) in sizes.windows(2).zip(&linear_seeds).enumerate() {
            if i > 0 {
                model.push(self.activation);
                if let Some(p) = self.dropout {
                    model.push(Dropout::builder(p).seed(dropout_seeds[i - 1]).build()?);
                }
            }
            model.push(
                Linear::builder(w[0], w[1])
                    .dtype(self.dtype)
                    .seed(seed)
                    .build(device)?,
            );
        }
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Module;

    fn dev() -> Device {
        lamina_backend_cpu::device()
    }

    fn names(m: &Sequential) -> Vec<String> {
        m.layers().iter().map(|l| l.name()).collect()
    }

    #[test]
    fn layers_in_order_with_no_activation_after_the_last() {
        let m = Mlp::builder(&[13, 64, 32, 3])
            .activation(Activation::LeakyRelu(0.1))
            .seed(1)
            .build(&dev())
            .unwrap();
        assert_eq!(
            names(&m),
            [
                "Linear(in 13, out 64)",
                "LeakyRelu(0.1)",
                "Linear(in 64, out 32)",
                "LeakyRelu(0.1)",
                "Linear(in 32, out 3)"
            ]
        );
        let lr = Mlp::builder(&[30, 2]).seed(1).build(&dev()).unwrap();
        assert_eq!(names(&lr), ["Linear(in 30, out 2)"]);
        let d = Mlp::builder(&[4, 8, 8, 2])
            .dropout(0.25)
            .dtype(DType::F64)
            .seed(1)
            .build(&dev())
            .unwrap();
        assert_eq!(
            names(&d),
            [
                "Linear(in 4, out 8)",
                "Relu",
                "Dropout(p 0.25)",
                "Linear(in 8, out 8)",
                "Relu",
                "Dropout(p 0.25)",
                "Linear(in 8, out 2)"
            ]
        );
        assert!(d.parameters().iter().all(|p| p.dtype() == DType::F64));
    }

    #[test]
    fn explicit_seed_is_seeds_new_per_layer() {
        // The rule `examples/src/realdata.rs` relied on: layer i is
        // Linear::builder(..).seed(Seeds::new(seed)'s draw i).
        let m = Mlp::builder(&[5, 7, 3]).seed(42).build(&dev()).unwrap();
        let mut seeds = Seeds::new(42);
        let want = [
            Linear::builder(5, 7)
                .seed(seeds.next_seed())
                .build(&dev())
                .unwrap(),
            Linear::builder(7, 3)
                .seed(seeds.next_seed())
                .build(&dev())
                .unwrap(),
        ];
        let got = m.named_parameters();
        let want: Vec<Vec<f32>> = want
            .iter()
            .flat_map(|l| {
                l.parameters()
                    .into_iter()
                    .map(|p| p.to_vec::<f32>().unwrap())
            })
            .collect();
        let got: Vec<Vec<f32>> = got
            .iter()
            .map(|(_, p)| p.to_vec::<f32>().unwrap())
            .collect();
        assert_eq!(got, want);
        // Dropout takes later seeds: the weights do not move.
        let d = Mlp::builder(&[5, 7, 3])
            .dropout(0.5)
            .seed(42)
            .build(&dev())
            .unwrap();
        let dw: Vec<Vec<f32>> = d
            .parameters()
            .iter()
            .map(|p| p.to_vec::<f32>().unwrap())
            .collect();
        assert_eq!(dw, got);
    }

    #[test]
    fn explicit_seed_gives_the_old_example_mlps_weights_bit_for_bit() {
        // Printed by the examples' former hand-built MLP for sizes [4, 2, 3] and seed 3
        // (Seeds::new(3), one seeded Linear per layer), which this builder replaced.
        let m = Mlp::builder(&[4, 2, 3]).seed(3).build(&dev()).unwrap();
        let bits: Vec<Vec<u32>> = m
            .parameters()
            .iter()
            .map(|p| {
                p.to_vec::<f32>()
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect()
            })
            .collect();
        assert_eq!(
            bits,
            [
                vec![
                    0x3e7337f4, 0x3dbf2510, 0x3e087118, 0x3e966af2, 0x3e97dd16, 0x3deeefa8,
                    0x3ef23306, 0x3ebdbeb4
                ],
                vec![0x3e9f4f80, 0xbc9a6dc0],
                vec![0xbe42ca30, 0xbdae9a88, 0xbf22916c, 0xbf0c8192, 0x3ea729ea, 0x3d106690],
                vec![0x3f30d7c5, 0x3e28dc20, 0x3f28d125],
            ]
        );
    }

    #[test]
    fn bad_sizes_are_errors_not_panics() {
        let msg = |sizes: &[usize]| {
            mlp(sizes, Activation::Relu, &dev())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            msg(&[13]),
            "mlp: needs at least an input and an output size, got [13]"
        );
        assert_eq!(
            msg(&[]),
            "mlp: needs at least an input and an output size, got []"
        );
        assert_eq!(
            msg(&[13, 0, 3]),
            "mlp: sizes must be positive, got [13, 0, 3] (0 at position 1)"
        );
        let e = Mlp::builder(&[2, 2])
            .dropout(1.5)
            .build(&dev())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "dropout: probability must be in [0, 1], got 1.5"
        );
    }
}

//! `Linear`: the fully connected layer `y = x Wᵀ + b`, stored as PyTorch stores it
//! (`weight [out, in]`, `bias [out]`), so weight files and hand-ported code agree.
//! [`Linear::new`] gives PyTorch's defaults with a seed from the global stream;
//! [`Linear::builder`] picks the seed, dtype, bias and initialisers.

use lamina_tensor::random::next_seed;
use lamina_tensor::{DType, Device, Error, Result, Tensor};

use crate::init::{derive_seed, fans, Init};
use crate::module::prefixed;
use crate::Module;

/// `y = x Wᵀ + b` over the last dimension: input `[*, in]`, output `[*, out]`.
///
/// ```
/// use lamina_nn::{Linear, Module};
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let w = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2], &dev)?;
/// let b = Tensor::from_vec(vec![0.5f32, 0.0, -1.0], [3], &dev)?;
/// let fc = Linear::from_weights(w, Some(b))?;
/// let x = Tensor::from_vec(vec![1.0f32, -1.0], [1, 2], &dev)?;
/// assert_eq!(fc.forward(&x)?.to_vec::<f32>()?, vec![-0.5, -1.0, -2.0]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Linear {
    /// `[out_features, in_features]`.
    pub weight: Tensor,
    /// `[out_features]`.
    pub bias: Option<Tensor>,
}

impl Linear {
    /// A layer with bias, in f32, initialised as PyTorch's `nn.Linear`, its seed drawn
    /// from the global stream ([`lamina_tensor::random`]). For an explicit seed or other
    /// options, use [`Linear::builder`].
    ///
    /// ```
    /// use lamina_nn::Linear;
    /// let dev = lamina_backend_cpu::device();
    /// let fc = Linear::new(13, 64, &dev)?;
    /// assert_eq!(fc.weight.dims(), &[64, 13]);
    /// # Ok::<(), lamina_tensor::Error>(())
    /// ```
    pub fn new(in_features: usize, out_features: usize, device: &Device) -> Result<Linear> {
        Linear::builder(in_features, out_features).build(device)
    }

    /// Options of a layer, starting from PyTorch's defaults (see [`LinearBuilder`]).
    pub fn builder(in_features: usize, out_features: usize) -> LinearBuilder {
        LinearBuilder {
            in_features,
            out_features,
            bias: true,
            dtype: DType::F32,
            weight_init: Init::torch_default(),
            bias_init: None,
            seed: None,
        }
    }

    /// A layer from existing tensors: `weight [out, in]`, `bias [out]`, same dtype and
    /// device.
    pub fn from_weights(weight: Tensor, bias: Option<Tensor>) -> Result<Linear> {
        const OP: &str = "linear";
        if weight.rank() != 2 {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("weight must be [out, in], got shape {}", weight.shape()),
            });
        }
        if let Some(b) = &bias {
            if b.dims() != [weight.dims()[0]] {
                return Err(Error::ShapeMismatch {
                    op: OP,
                    lhs: weight.shape().clone(),
                    rhs: b.shape().clone(),
                });
            }
            if b.dtype() != weight.dtype() {
                return Err(Error::DTypeMismatch {
                    op: OP,
                    lhs: weight.dtype(),
                    rhs: b.dtype(),
                });
            }
        }
        Ok(Linear { weight, bias })
    }

    pub fn in_features(&self) -> usize {
        self.weight.dims()[1]
    }

    pub fn out_features(&self) -> usize {
        self.weight.dims()[0]
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let features = x.dims().last().copied();
        if features != Some(self.in_features()) {
            let has = match features {
                Some(n) => format!("input has {n} features"),
                None => "input is a scalar".to_string(),
            };
            return Err(Error::Module {
                module: self.name(),
                msg: format!(
                    "{has} (shape {}), expected {}",
                    x.shape(),
                    self.in_features()
                ),
            });
        }
        let y = x.matmul(&self.weight.t()?)?;
        match &self.bias {
            Some(b) => {
                let b = lamina_tensor::autocast::bias_for(b, &y)?;
                y + b
            }
            None => Ok(y),
        }
    }

    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        f(prefixed(prefix, "weight"), &self.weight);
        if let Some(b) = &self.bias {
            f(prefixed(prefix, "bias"), b);
        }
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        f(prefixed(prefix, "weight"), &mut self.weight);
        if let Some(b) = &mut self.bias {
            f(prefixed(prefix, "bias"), b);
        }
    }

    fn set_training(&mut self, _: bool) {}
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    /// `Linear(in 64, out 3)`, or `Linear(in 64, out 3, no bias)`.
    fn name(&self) -> String {
        let bias = if self.bias.is_some() { "" } else { ", no bias" };
        format!(
            "Linear(in {}, out {}{bias})",
            self.in_features(),
            self.out_features()
        )
    }
}

/// Options of a [`Linear`] layer; [`Linear::builder`] starts from PyTorch's defaults
/// (bias, f32, `U(±1/√in)` for weight and bias, a seed from the global stream).
///
/// ```
/// use lamina_nn::{Init, Linear, Nonlinearity};
/// use lamina_tensor::DType;
/// let dev = lamina_backend_cpu::device();
/// let fc = Linear::builder(16, 4)
///     .bias(false)
///     .dtype(DType::F64)
///     .weight_init(Init::kaiming_normal(Nonlinearity::Relu))
///     .seed(3)
///     .build(&dev)?;
/// assert!(fc.bias.is_none() && fc.weight.dtype() == DType::F64);
/// // The same seed gives the same weights.
/// let again = Linear::builder(16, 4)
///     .bias(false)
///     .dtype(DType::F64)
///     .weight_init(Init::kaiming_normal(Nonlinearity::Relu))
///     .seed(3)
///     .build(&dev)?;
/// assert_eq!(fc.weight.to_vec::<f64>()?, again.weight.to_vec::<f64>()?);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build`"]
pub struct LinearBuilder {
    in_features: usize,
    out_features: usize,
    bias: bool,
    dtype: DType,
    weight_init: Init,
    bias_init: Option<Init>,
    seed: Option<u64>,
}

impl LinearBuilder {
    /// Whether the layer has a bias (default true).
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Parameter dtype (default f32).
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// The weight's initialiser (default [`Init::torch_default`]: `U(±1/√in)`).
    pub fn weight_init(mut self, init: Init) -> Self {
        self.weight_init = init;
        self
    }

    /// The bias's initialiser (default PyTorch's `U(±1/√in)`).
    pub fn bias_init(mut self, init: Init) -> Self {
        self.bias_init = Some(init);
        self
    }

    /// Draws the weight from `seed` and the bias from a seed derived from it, instead
    /// of taking a seed from the global stream. `Linear::builder(i, o).seed(s)` gives
    /// the same layer on every run, whatever else the program has built.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Builds the layer on `device`; without [`seed`](LinearBuilder::seed), takes one
    /// seed from [`lamina_tensor::random::next_seed`].
    pub fn build(&self, device: &Device) -> Result<Linear> {
        let seed = self.seed.unwrap_or_else(next_seed);
        let wshape = [self.out_features, self.in_features];
        let weight = self.weight_init.tensor(wshape, seed, self.dtype, device)?;
        let bias = if self.bias {
            let init = match self.bias_init {
                Some(init) => init,
                None => {
                    let (fan_in, _) = fans(weight.shape())?;
                    let b = if fan_in > 0 {
                        1.0 / (fan_in as f64).sqrt()
                    } else {
                        0.0
                    };
                    Init::Uniform { lo: -b, hi: b }
                }
            };
            let bseed = derive_seed(seed, 1);
            Some(init.tensor([self.out_features], bseed, self.dtype, device)?)
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Device {
        lamina_backend_cpu::device()
    }

    #[test]
    fn forward_matches_hand_computation() {
        // W = [[1, 2], [3, 4], [5, 6]], b = [0.5, 0, -1]
        // x0 = [1, -1]:  [1-2+0.5, 3-4, 5-6-1] = [-0.5, -1, -2]
        // x1 = [2, 0.5]: [2+1+0.5, 6+2, 10+3-1] = [3.5, 8, 12]
        let w = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2], &dev()).unwrap();
        let b = Tensor::from_vec(vec![0.5f64, 0.0, -1.0], [3], &dev()).unwrap();
        let fc = Linear::from_weights(w, Some(b)).unwrap();
        let x = Tensor::from_vec(vec![1.0f64, -1.0, 2.0, 0.5], [2, 2], &dev()).unwrap();
        let y = fc.forward(&x).unwrap();
        assert_eq!(y.dims(), &[2, 3]);
        assert_eq!(
            y.to_vec::<f64>().unwrap(),
            vec![-0.5, -1.0, -2.0, 3.5, 8.0, 12.0]
        );
        // Leading batch dims and a 1-D input work too.
        let y3 = fc.forward(&x.reshape([2, 1, 2]).unwrap()).unwrap();
        assert_eq!(y3.dims(), &[2, 1, 3]);
        let y1 = fc
            .forward(&x.narrow(0, 0, 1).unwrap().reshape([2]).unwrap())
            .unwrap();
        assert_eq!(y1.to_vec::<f64>().unwrap(), vec![-0.5, -1.0, -2.0]);
    }

    #[test]
    fn no_bias() {
        let w = Tensor::from_vec(vec![2.0f32, -1.0], [1, 2], &dev()).unwrap();
        let fc = Linear::from_weights(w, None).unwrap();
        let x = Tensor::from_vec(vec![3.0f32, 4.0], [1, 2], &dev()).unwrap();
        assert_eq!(fc.forward(&x).unwrap().to_vec::<f32>().unwrap(), vec![2.0]);
        assert_eq!(fc.num_parameters(), 2);
        assert_eq!(fc.named_parameters().len(), 1);
    }

    #[test]
    fn wrong_input_width_names_the_layer_and_the_features() {
        let fc = Linear::builder(64, 3).seed(0).build(&dev()).unwrap();
        let x = Tensor::zeros([8, 32], DType::F32, &dev()).unwrap();
        let e = fc.forward(&x).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Linear(in 64, out 3): input has 32 features (shape [8, 32]), expected 64"
        );
        assert!(matches!(e, Error::Module { .. }));
        let scalar = Tensor::zeros([], DType::F32, &dev()).unwrap();
        let fc = Linear::builder(2, 5)
            .bias(false)
            .seed(0)
            .build(&dev())
            .unwrap();
        assert_eq!(
            fc.forward(&scalar).unwrap_err().to_string(),
            "Linear(in 2, out 5, no bias): input is a scalar (shape []), expected 2"
        );
    }

    #[test]
    fn from_weights_validates() {
        let w = Tensor::zeros([3, 2], DType::F32, &dev()).unwrap();
        let bad_b = Tensor::zeros([2], DType::F32, &dev()).unwrap();
        assert!(Linear::from_weights(w.clone(), Some(bad_b)).is_err());
        assert!(Linear::from_weights(w.reshape([6]).unwrap(), None).is_err());
    }

    #[test]
    fn default_init_is_pytorchs_and_reproducible() {
        let fc = Linear::builder(50, 40).seed(5).build(&dev()).unwrap();
        assert_eq!(fc.weight.dims(), &[40, 50]);
        assert_eq!(fc.weight.dtype(), DType::F32);
        let bound = 1.0 / 50f64.sqrt();
        for p in [&fc.weight, fc.bias.as_ref().unwrap()] {
            let v = p.to_f64_vec().unwrap();
            assert!(v.iter().all(|x| x.abs() <= bound + 1e-7));
            assert!(v.iter().any(|x| x.abs() > 0.8 * bound));
        }
        let again = Linear::builder(50, 40).seed(5).build(&dev()).unwrap();
        assert_eq!(
            fc.weight.to_vec::<f32>().unwrap(),
            again.weight.to_vec::<f32>().unwrap()
        );
        // The bias does not repeat the weight's stream.
        let w0: Vec<f32> = fc.weight.to_vec::<f32>().unwrap()[..40].to_vec();
        assert_ne!(w0, fc.bias.as_ref().unwrap().to_vec::<f32>().unwrap());
        let other = Linear::builder(50, 40).seed(6).build(&dev()).unwrap();
        assert_ne!(
            fc.weight.to_vec::<f32>().unwrap(),
            other.weight.to_vec::<f32>().unwrap()
        );
    }

    fn bits(t: &Tensor) -> Vec<u32> {
        t.to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    }

    #[test]
    fn builder_seed_gives_the_old_positional_seeds_weights_bit_for_bit() {
        // Printed by `Linear::new(5, 3, 7, &dev)` before the seed left `new`'s arguments,
        // so every recorded figure built with a seed still holds.
        let fc = Linear::builder(5, 3).seed(7).build(&dev()).unwrap();
        assert_eq!(
            bits(&fc.weight),
            [
                0xbdc9cefc, 0xbedd4905, 0x3eb786ec, 0x3d97e918, 0xbd2e3b90, 0xbe657e7a, 0xbcead030,
                0xbe1d76a2, 0xbea77d7f, 0xbd9f1b44, 0xbeb58c66, 0x3ed2990a, 0x3ebf6e40, 0x3eaa0cd8,
                0x3ea6b234
            ]
        );
        assert_eq!(
            bits(fc.bias.as_ref().unwrap()),
            [0xbb87a700, 0x3e41c168, 0x3c410420]
        );
    }

    #[test]
    fn parameters_are_named_like_pytorch() {
        let fc = Linear::builder(2, 3).seed(0).build(&dev()).unwrap();
        let names: Vec<String> = fc.named_parameters().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["weight", "bias"]);
        let mut inner = Vec::new();
        fc.visit("fc1", &mut |n, _| inner.push(n));
        assert_eq!(inner, ["fc1.weight", "fc1.bias"]);
        assert_eq!(fc.num_parameters(), 9);
    }
}

//! `Linear`: the fully connected layer `y = x Wᵀ + b`, stored as PyTorch stores it
//! (`weight [out, in]`, `bias [out]`), so weight files and hand-ported code agree.
//! [`Linear::new`] gives PyTorch's defaults; [`LinearConfig`] picks dtype, bias and
//! initialisers.

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
    /// A layer with bias, in f32, initialised as PyTorch's `nn.Linear` from `seed`.
    pub fn new(
        in_features: usize,
        out_features: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Linear> {
        LinearConfig::new(in_features, out_features).init(seed, device)
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
        if x.rank() == 0 || x.dims()[x.rank() - 1] != self.in_features() {
            return Err(Error::ShapeMismatch {
                op: "linear",
                lhs: x.shape().clone(),
                rhs: self.weight.shape().clone(),
            });
        }
        let y = x.matmul(&self.weight.t()?)?;
        match &self.bias {
            Some(b) => y + b,
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
}

/// Options of a [`Linear`] layer; [`LinearConfig::new`] starts from PyTorch's defaults.
///
/// ```
/// use lamina_nn::{Init, LinearConfig, Nonlinearity};
/// use lamina_tensor::DType;
/// let dev = lamina_backend_cpu::device();
/// let fc = LinearConfig::new(16, 4)
///     .with_bias(false)
///     .with_dtype(DType::F64)
///     .with_weight_init(Init::kaiming_normal(Nonlinearity::Relu))
///     .init(3, &dev)?;
/// assert!(fc.bias.is_none() && fc.weight.dtype() == DType::F64);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LinearConfig {
    pub in_features: usize,
    pub out_features: usize,
    /// Whether the layer has a bias (default true).
    pub bias: bool,
    /// Parameter dtype (default f32).
    pub dtype: DType,
    /// Default [`Init::torch_default`]: `U(±1/√in)`.
    pub weight_init: Init,
    /// `None` (the default) is PyTorch's `U(±1/√in)`.
    pub bias_init: Option<Init>,
}

impl LinearConfig {
    pub fn new(in_features: usize, out_features: usize) -> LinearConfig {
        LinearConfig {
            in_features,
            out_features,
            bias: true,
            dtype: DType::F32,
            weight_init: Init::torch_default(),
            bias_init: None,
        }
    }

    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    pub fn with_weight_init(mut self, init: Init) -> Self {
        self.weight_init = init;
        self
    }

    pub fn with_bias_init(mut self, init: Init) -> Self {
        self.bias_init = Some(init);
        self
    }

    /// Builds the layer; the weight draws from `seed`, the bias from a seed derived
    /// from it.
    pub fn init(&self, seed: u64, device: &Device) -> Result<Linear> {
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
    fn wrong_input_width_names_both_shapes() {
        let fc = Linear::new(3, 2, 0, &dev()).unwrap();
        let x = Tensor::zeros([4, 5], DType::F32, &dev()).unwrap();
        let msg = fc.forward(&x).unwrap_err().to_string();
        assert!(msg.contains("[4, 5]") && msg.contains("[2, 3]"), "{msg}");
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
        let fc = Linear::new(50, 40, 5, &dev()).unwrap();
        assert_eq!(fc.weight.dims(), &[40, 50]);
        assert_eq!(fc.weight.dtype(), DType::F32);
        let bound = 1.0 / 50f64.sqrt();
        for p in [&fc.weight, fc.bias.as_ref().unwrap()] {
            let v = p.to_f64_vec().unwrap();
            assert!(v.iter().all(|x| x.abs() <= bound + 1e-7));
            assert!(v.iter().any(|x| x.abs() > 0.8 * bound));
        }
        let again = Linear::new(50, 40, 5, &dev()).unwrap();
        assert_eq!(
            fc.weight.to_vec::<f32>().unwrap(),
            again.weight.to_vec::<f32>().unwrap()
        );
        // The bias does not repeat the weight's stream.
        let w0: Vec<f32> = fc.weight.to_vec::<f32>().unwrap()[..40].to_vec();
        assert_ne!(w0, fc.bias.as_ref().unwrap().to_vec::<f32>().unwrap());
        let other = Linear::new(50, 40, 6, &dev()).unwrap();
        assert_ne!(
            fc.weight.to_vec::<f32>().unwrap(),
            other.weight.to_vec::<f32>().unwrap()
        );
    }

    #[test]
    fn parameters_are_named_like_pytorch() {
        let fc = Linear::new(2, 3, 0, &dev()).unwrap();
        let names: Vec<String> = fc.named_parameters().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["weight", "bias"]);
        let mut inner = Vec::new();
        fc.visit("fc1", &mut |n, _| inner.push(n));
        assert_eq!(inner, ["fc1.weight", "fc1.bias"]);
        assert_eq!(fc.num_parameters(), 9);
    }
}

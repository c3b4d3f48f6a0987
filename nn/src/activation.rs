//! Activations, as functions (`relu(&x)`) and as parameter-free modules (`Relu`) for
//! [`Sequential`](crate::Sequential). Each is one tensor op with its own backward rule
//! in `autograd`, so the functions here only name them the way `torch.nn` does.
//!
//! Type names use Rust's casing of PyTorch's (`Relu` for `ReLU`, `Gelu` for `GELU`), as
//! `UnaryOp` does.

use lamina_tensor::{Result, Tensor};

use crate::module::stateless_module;

/// `max(x, 0)`.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    x.relu()
}

/// `x` for `x > 0`, else `slope · x`.
pub fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    x.leaky_relu(slope)
}

/// `1 / (1 + e^-x)`.
pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    x.sigmoid()
}

/// `tanh(x)`.
pub fn tanh(x: &Tensor) -> Result<Tensor> {
    x.tanh()
}

/// Exact GELU `x Φ(x) = 0.5 x (1 + erf(x / √2))`; with `approximate`, PyTorch's tanh form
/// `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
pub fn gelu(x: &Tensor, approximate: bool) -> Result<Tensor> {
    if approximate {
        x.gelu_tanh()
    } else {
        x.gelu()
    }
}

/// SiLU / swish: `x · sigmoid(x)`.
pub fn silu(x: &Tensor) -> Result<Tensor> {
    x.silu()
}

/// `exp(x_i) / Σ_j exp(x_j)` along `dim`, stable for any magnitude.
pub fn softmax(x: &Tensor, dim: isize) -> Result<Tensor> {
    x.softmax(dim)
}

/// `x_i - log Σ_j exp(x_j)` along `dim`, stable for any magnitude.
pub fn log_softmax(x: &Tensor, dim: isize) -> Result<Tensor> {
    x.log_softmax(dim)
}

/// `x > 0 ? x : alpha (e^x - 1)` (PyTorch `F.elu`).
pub fn elu(x: &Tensor, alpha: f64) -> Result<Tensor> {
    x.elu(alpha)
}

/// SELU: `scale · elu(x, alpha)` with PyTorch's fixed constants.
pub fn selu(x: &Tensor) -> Result<Tensor> {
    x.selu()
}

/// `max(0, x) + min(0, alpha (e^(x/alpha) - 1))` (PyTorch `F.celu`).
pub fn celu(x: &Tensor, alpha: f64) -> Result<Tensor> {
    x.celu(alpha)
}

/// `ln(1 + e^(beta x)) / beta`, linear where `beta x > threshold` (PyTorch `F.softplus`,
/// defaults `beta = 1`, `threshold = 20`).
pub fn softplus(x: &Tensor, beta: f64, threshold: f64) -> Result<Tensor> {
    x.softplus(beta, threshold)
}

/// `x / (1 + |x|)`.
pub fn softsign(x: &Tensor) -> Result<Tensor> {
    x.softsign()
}

/// `x · tanh(softplus(x))`.
pub fn mish(x: &Tensor) -> Result<Tensor> {
    x.mish()
}

/// `clamp(x, min, max)`, with the gradient strictly inside (PyTorch `F.hardtanh`,
/// defaults -1 and 1).
pub fn hardtanh(x: &Tensor, min: f64, max: f64) -> Result<Tensor> {
    x.hardtanh(min, max)
}

/// `min(max(x, 0), 6)`.
pub fn relu6(x: &Tensor) -> Result<Tensor> {
    x.relu6()
}

/// `relu6(x + 3) / 6`.
pub fn hardsigmoid(x: &Tensor) -> Result<Tensor> {
    x.hardsigmoid()
}

/// `x · relu6(x + 3) / 6`.
pub fn hardswish(x: &Tensor) -> Result<Tensor> {
    x.hardswish()
}

/// `ln(sigmoid(x))`, stable for large |x|.
pub fn logsigmoid(x: &Tensor) -> Result<Tensor> {
    x.logsigmoid()
}

/// [`relu`] as a module (PyTorch `nn.ReLU`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Relu;
stateless_module!(Relu, |_s, x| relu(x));

/// [`leaky_relu`] as a module (PyTorch `nn.LeakyReLU`, default slope 0.01).
#[derive(Clone, Copy, Debug)]
pub struct LeakyRelu {
    pub negative_slope: f64,
}
impl Default for LeakyRelu {
    fn default() -> Self {
        LeakyRelu {
            negative_slope: 0.01,
        }
    }
}
stateless_module!(LeakyRelu, |s, x| leaky_relu(x, s.negative_slope));

/// [`sigmoid`] as a module.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sigmoid;
stateless_module!(Sigmoid, |_s, x| sigmoid(x));

/// [`tanh`] as a module.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tanh;
stateless_module!(Tanh, |_s, x| tanh(x));

/// [`gelu`] as a module (PyTorch `nn.GELU`; `approximate: true` is `approximate='tanh'`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Gelu {
    pub approximate: bool,
}
stateless_module!(Gelu, |s, x| gelu(x, s.approximate));

/// [`silu`] as a module.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silu;
stateless_module!(Silu, |_s, x| silu(x));

/// [`softmax`] along `dim` as a module.
#[derive(Clone, Copy, Debug)]
pub struct Softmax {
    pub dim: isize,
}
stateless_module!(Softmax, |s, x| softmax(x, s.dim));

/// [`log_softmax`] along `dim` as a module.
#[derive(Clone, Copy, Debug)]
pub struct LogSoftmax {
    pub dim: isize,
}
stateless_module!(LogSoftmax, |s, x| log_softmax(x, s.dim));

/// [`elu`] as a module (PyTorch `nn.ELU`, default `alpha = 1`).
#[derive(Clone, Copy, Debug)]
pub struct Elu {
    pub alpha: f64,
}
impl Default for Elu {
    fn default() -> Self {
        Elu { alpha: 1.0 }
    }
}
stateless_module!(Elu, |s, x| elu(x, s.alpha));

/// [`selu`] as a module.
#[derive(Clone, Copy, Debug, Default)]
pub struct Selu;
stateless_module!(Selu, |_s, x| selu(x));

/// [`celu`] as a module (PyTorch `nn.CELU`, default `alpha = 1`).
#[derive(Clone, Copy, Debug)]
pub struct Celu {
    pub alpha: f64,
}
impl Default for Celu {
    fn default() -> Self {
        Celu { alpha: 1.0 }
    }
}
stateless_module!(Celu, |s, x| celu(x, s.alpha));

/// [`softplus`] as a module (PyTorch `nn.Softplus`, defaults `beta = 1`,
/// `threshold = 20`).
#[derive(Clone, Copy, Debug)]
pub struct Softplus {
    pub beta: f64,
    pub threshold: f64,
}
impl Default for Softplus {
    fn default() -> Self {
        Softplus {
            beta: 1.0,
            threshold: 20.0,
        }
    }
}
stateless_module!(Softplus, |s, x| softplus(x, s.beta, s.threshold));

/// [`softsign`] as a module.
#[derive(Clone, Copy, Debug, Default)]
pub struct Softsign;
stateless_module!(Softsign, |_s, x| softsign(x));

/// [`mish`] as a module.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mish;
stateless_module!(Mish, |_s, x| mish(x));

/// [`hardtanh`] as a module (PyTorch `nn.Hardtanh`, default bounds -1 and 1).
#[derive(Clone, Copy, Debug)]
pub struct Hardtanh {
    pub min: f64,
    pub max: f64,
}
impl Default for Hardtanh {
    fn default() -> Self {
        Hardtanh {
            min: -1.0,
            max: 1.0,
        }
    }
}
stateless_module!(Hardtanh, |s, x| hardtanh(x, s.min, s.max));

/// [`relu6`] as a module.
#[derive(Clone, Copy, Debug, Default)]
pub struct Relu6;
stateless_module!(Relu6, |_s, x| relu6(x));

/// [`hardsigmoid`] as a module.
#[derive(Clone, Copy, Debug, Default)]
pub struct Hardsigmoid;
stateless_module!(Hardsigmoid, |_s, x| hardsigmoid(x));

/// [`hardswish`] as a module.
#[derive(Clone, Copy, Debug, Default)]
pub struct Hardswish;
stateless_module!(Hardswish, |_s, x| hardswish(x));

/// [`logsigmoid`] as a module.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogSigmoid;
stateless_module!(LogSigmoid, |_s, x| logsigmoid(x));

/// Every element-wise activation by name, with PyTorch's defaults, for code that picks
/// one at run time ([`mlp`](crate::mlp)). It is itself a module, so it can stand in a
/// [`Sequential`](crate::Sequential); its [`name`](crate::Module::name) is its `Debug`
/// form (`Relu`, `LeakyRelu(0.01)`).
///
/// ```
/// use lamina_nn::{Activation, Module};
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::from_vec(vec![-2.0f32, 3.0], [2], &dev)?;
/// assert_eq!(Activation::Relu.forward(&x)?.to_vec::<f32>()?, vec![0.0, 3.0]);
/// assert_eq!(Activation::LeakyRelu(0.5).forward(&x)?.to_vec::<f32>()?, vec![-1.0, 3.0]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// [`relu`].
    Relu,
    /// [`leaky_relu`] with this negative slope (PyTorch's default is 0.01).
    LeakyRelu(f64),
    /// [`sigmoid`].
    Sigmoid,
    /// [`tanh`].
    Tanh,
    /// Exact [`gelu`] (erf form).
    Gelu,
    /// [`gelu`] with the tanh approximation.
    GeluTanh,
    /// [`silu`] (swish).
    Silu,
    /// [`elu`] with this `alpha` (PyTorch's default is 1).
    Elu(f64),
    /// [`selu`].
    Selu,
    /// [`celu`] with this `alpha` (PyTorch's default is 1).
    Celu(f64),
    /// [`softplus`] with `beta` and `threshold` (PyTorch's defaults are 1 and 20).
    Softplus { beta: f64, threshold: f64 },
    /// [`softsign`].
    Softsign,
    /// [`mish`].
    Mish,
    /// [`hardtanh`] clamping to `[min, max]` (PyTorch's default is `[-1, 1]`).
    Hardtanh { min: f64, max: f64 },
    /// [`relu6`].
    Relu6,
    /// [`hardsigmoid`].
    Hardsigmoid,
    /// [`hardswish`].
    Hardswish,
    /// [`logsigmoid`].
    LogSigmoid,
}

impl Activation {
    /// The activation of `x`.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        match *self {
            Activation::Relu => relu(x),
            Activation::LeakyRelu(slope) => leaky_relu(x, slope),
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => tanh(x),
            Activation::Gelu => gelu(x, false),
            Activation::GeluTanh => gelu(x, true),
            Activation::Silu => silu(x),
            Activation::Elu(alpha) => elu(x, alpha),
            Activation::Selu => selu(x),
            Activation::Celu(alpha) => celu(x, alpha),
            Activation::Softplus { beta, threshold } => softplus(x, beta, threshold),
            Activation::Softsign => softsign(x),
            Activation::Mish => mish(x),
            Activation::Hardtanh { min, max } => hardtanh(x, min, max),
            Activation::Relu6 => relu6(x),
            Activation::Hardsigmoid => hardsigmoid(x),
            Activation::Hardswish => hardswish(x),
            Activation::LogSigmoid => logsigmoid(x),
        }
    }
}

impl crate::Module for Activation {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.apply(x)
    }

    fn visit<'a>(&'a self, _: &str, _: &mut dyn FnMut(String, &'a Tensor)) {}

    fn visit_mut<'a>(&'a mut self, _: &str, _: &mut dyn FnMut(String, &'a mut Tensor)) {}

    fn set_training(&mut self, _: bool) {}

    fn name(&self) -> String {
        format!("{self:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Module;
    use lamina_tensor::Device;

    fn dev() -> Device {
        lamina_backend_cpu::device()
    }

    const XS: [f64; 5] = [-2.0, -0.5, 0.0, 0.5, 3.0];

    fn check(m: &dyn Module, want: impl Fn(f64) -> f64) {
        let x = Tensor::from_vec(XS.to_vec(), [5], &dev()).unwrap();
        let got = m.forward(&x).unwrap().to_vec::<f64>().unwrap();
        for (i, (&g, &x)) in got.iter().zip(&XS).enumerate() {
            let w = want(x);
            assert!(
                (g - w).abs() < 1e-12,
                "element {i}: x {x}, got {g}, want {w}"
            );
        }
        assert_eq!(m.num_parameters(), 0);
    }

    /// erf by its Maclaurin series (|x| < 3 here), independent of the kernels.
    fn erf(x: f64) -> f64 {
        let mut sum = 0.0;
        let mut term = x;
        for n in 0..200 {
            sum += term / (2 * n + 1) as f64;
            term *= -x * x / (n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn elementwise_activations_match_closed_forms() {
        check(&Relu, |x| x.max(0.0));
        check(
            &LeakyRelu::default(),
            |x| if x > 0.0 { x } else { 0.01 * x },
        );
        check(
            &LeakyRelu {
                negative_slope: 0.2,
            },
            |x| {
                if x > 0.0 {
                    x
                } else {
                    0.2 * x
                }
            },
        );
        check(&Sigmoid, |x| 1.0 / (1.0 + (-x).exp()));
        check(&Tanh, |x| {
            let (a, b) = (x.exp(), (-x).exp());
            (a - b) / (a + b)
        });
        check(&Gelu::default(), |x| 0.5 * x * (1.0 + erf(x / 2f64.sqrt())));
        check(&Gelu { approximate: true }, |x| {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
        });
        check(&Silu, |x| x / (1.0 + (-x).exp()));
        // The newer activations, each against its closed form.
        let softplus = |x: f64| (1.0 + x.exp()).ln();
        check(&Elu::default(), |x| if x > 0.0 { x } else { x.exp() - 1.0 });
        check(&Selu, |x| {
            let (alpha, scale) = (1.6732632423543772, 1.0507009873554805);
            scale * if x > 0.0 { x } else { alpha * (x.exp() - 1.0) }
        });
        check(&Celu { alpha: 2.0 }, |x| {
            x.max(0.0) + (2.0 * ((x / 2.0).exp() - 1.0)).min(0.0)
        });
        check(&Softplus::default(), softplus);
        check(&Softsign, |x| x / (1.0 + x.abs()));
        check(&Mish, |x| x * softplus(x).tanh());
        check(&Hardtanh::default(), |x| x.clamp(-1.0, 1.0));
        check(&Relu6, |x| x.clamp(0.0, 6.0));
        check(&Hardsigmoid, |x| (x / 6.0 + 0.5).clamp(0.0, 1.0));
        check(&Hardswish, |x| x * (x + 3.0).clamp(0.0, 6.0) / 6.0);
        check(&LogSigmoid, |x| -softplus(-x));
    }

    #[test]
    fn softmax_and_log_softmax_by_hand() {
        // Rows [1, 2, 3] and [0, 0, ln 2]: softmax of the second is [1/4, 1/4, 1/2].
        let v = vec![1.0, 2.0, 3.0, 0.0, 0.0, 2f64.ln()];
        let x = Tensor::from_vec(v, [2, 3], &dev()).unwrap();
        let s = Softmax { dim: -1 }
            .forward(&x)
            .unwrap()
            .to_vec::<f64>()
            .unwrap();
        let z = 1f64.exp() + 2f64.exp() + 3f64.exp();
        let want = [
            1f64.exp() / z,
            2f64.exp() / z,
            3f64.exp() / z,
            0.25,
            0.25,
            0.5,
        ];
        for (g, w) in s.iter().zip(want) {
            assert!((g - w).abs() < 1e-12);
        }
        let ls = LogSoftmax { dim: 1 }
            .forward(&x)
            .unwrap()
            .to_vec::<f64>()
            .unwrap();
        for (g, w) in ls.iter().zip(want) {
            assert!((g - w.ln()).abs() < 1e-12);
        }
        // Along dim 0: each column [a, b] -> [e^a, e^b] / (e^a + e^b).
        let s0 = softmax(&x, 0).unwrap().to_vec::<f64>().unwrap();
        let want0 = 1.0 / (1.0 + (-1f64).exp());
        assert!((s0[0] - want0).abs() < 1e-12);
    }

    #[test]
    fn functions_agree_with_modules() {
        let x = Tensor::from_vec(XS.to_vec(), [5], &dev()).unwrap();
        let a = relu(&x).unwrap().to_vec::<f64>().unwrap();
        assert_eq!(a, Relu.forward(&x).unwrap().to_vec::<f64>().unwrap());
        let a = gelu(&x, true).unwrap().to_vec::<f64>().unwrap();
        let b = Gelu { approximate: true }
            .forward(&x)
            .unwrap()
            .to_vec::<f64>()
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn activation_enum_matches_the_modules() {
        // Each module is checked against its closed form above.
        let pairs: Vec<(Activation, Box<dyn Module>)> = vec![
            (Activation::Relu, Box::new(Relu)),
            (
                Activation::LeakyRelu(0.2),
                Box::new(LeakyRelu {
                    negative_slope: 0.2,
                }),
            ),
            (Activation::Sigmoid, Box::new(Sigmoid)),
            (Activation::Tanh, Box::new(Tanh)),
            (Activation::Gelu, Box::new(Gelu { approximate: false })),
            (Activation::GeluTanh, Box::new(Gelu { approximate: true })),
            (Activation::Silu, Box::new(Silu)),
            (Activation::Elu(0.5), Box::new(Elu { alpha: 0.5 })),
            (Activation::Selu, Box::new(Selu)),
            (Activation::Celu(2.0), Box::new(Celu { alpha: 2.0 })),
            (
                Activation::Softplus {
                    beta: 2.0,
                    threshold: 1.0,
                },
                Box::new(Softplus {
                    beta: 2.0,
                    threshold: 1.0,
                }),
            ),
            (Activation::Softsign, Box::new(Softsign)),
            (Activation::Mish, Box::new(Mish)),
            (
                Activation::Hardtanh {
                    min: -0.5,
                    max: 2.0,
                },
                Box::new(Hardtanh {
                    min: -0.5,
                    max: 2.0,
                }),
            ),
            (Activation::Relu6, Box::new(Relu6)),
            (Activation::Hardsigmoid, Box::new(Hardsigmoid)),
            (Activation::Hardswish, Box::new(Hardswish)),
            (Activation::LogSigmoid, Box::new(LogSigmoid)),
        ];
        let x = Tensor::from_vec(XS.to_vec(), [5], &dev()).unwrap();
        for (a, m) in &pairs {
            assert_eq!(
                a.forward(&x).unwrap().to_vec::<f64>().unwrap(),
                m.forward(&x).unwrap().to_vec::<f64>().unwrap(),
                "{a:?}"
            );
        }
        assert_eq!(Activation::LeakyRelu(0.01).name(), "LeakyRelu(0.01)");
        assert_eq!(Activation::Relu.name(), "Relu");
    }
}

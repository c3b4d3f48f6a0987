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
}

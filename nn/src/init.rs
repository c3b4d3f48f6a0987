//! Parameter initialisers: constants, uniform and normal, Xavier/Glorot and Kaiming/He,
//! with PyTorch's fan and gain conventions (`torch.nn.init`). Every initialiser takes a
//! seed and uses Lamina's counter-based generator, so the same seed gives the same
//! tensor on every run and every backend.
//!
//! Fans follow PyTorch's `_calculate_fan_in_and_fan_out`: for a weight of shape
//! `[out, in, k...]`, `fan_in = in * prod(k)` and `fan_out = out * prod(k)`.

use lamina_tensor::{rng, DType, Device, Error, Result, Shape, Tensor};

/// Which fan Kaiming initialisation preserves the variance of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FanMode {
    /// Forward pass (PyTorch's default).
    #[default]
    FanIn,
    /// Backward pass.
    FanOut,
}

/// The non-linearity after a layer, which sets the recommended gain
/// (PyTorch `calculate_gain`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Nonlinearity {
    /// Identity, convolutions and sigmoid: gain 1.
    Linear,
    Sigmoid,
    /// Gain 5/3.
    Tanh,
    /// Gain √2.
    Relu,
    /// Gain √(2 / (1 + slope²)).
    LeakyRelu(f64),
    /// Gain 3/4.
    Selu,
}

impl Nonlinearity {
    /// The recommended gain (PyTorch `torch.nn.init.calculate_gain`).
    pub fn gain(self) -> f64 {
        match self {
            Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
            Nonlinearity::Tanh => 5.0 / 3.0,
            Nonlinearity::Relu => 2f64.sqrt(),
            Nonlinearity::LeakyRelu(a) => (2.0 / (1.0 + a * a)).sqrt(),
            Nonlinearity::Selu => 0.75,
        }
    }
}

/// `(fan_in, fan_out)` of a weight shape `[out, in, k...]`; needs rank ≥ 2.
pub fn fans(shape: &Shape) -> Result<(usize, usize)> {
    let d = shape.dims();
    if d.len() < 2 {
        return Err(Error::Invalid {
            op: "init",
            msg: format!("fan in and fan out need a tensor of rank >= 2, got shape {shape}"),
        });
    }
    let receptive: usize = d[2..].iter().product();
    Ok((d[1] * receptive, d[0] * receptive))
}

/// How to fill a parameter. [`Init::tensor`] makes a new tensor, [`Init::apply`] refills
/// an existing parameter in place.
///
/// ```
/// use lamina_nn::{Init, Nonlinearity};
/// use lamina_tensor::DType;
/// let dev = lamina_backend_cpu::device();
/// // He initialisation for a ReLU layer with 64 inputs: N(0, 2 / 64).
/// let w = Init::kaiming_normal(Nonlinearity::Relu).tensor([128, 64], 7, DType::F32, &dev)?;
/// assert_eq!(w.dims(), &[128, 64]);
/// // Same seed, same tensor.
/// let again = Init::kaiming_normal(Nonlinearity::Relu).tensor([128, 64], 7, DType::F32, &dev)?;
/// assert_eq!(w.to_vec::<f32>()?, again.to_vec::<f32>()?);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// Every element `c`.
    Constant(f64),
    /// `U(lo, hi)`.
    Uniform { lo: f64, hi: f64 },
    /// `N(mean, std²)`.
    Normal { mean: f64, std: f64 },
    /// Glorot: `U(-a, a)`, `a = gain · √(6 / (fan_in + fan_out))`.
    XavierUniform { gain: f64 },
    /// Glorot: `N(0, std²)`, `std = gain · √(2 / (fan_in + fan_out))`.
    XavierNormal { gain: f64 },
    /// He: `U(-b, b)`, `b = √3 · gain / √fan` (fan by `mode`, gain by `nonlinearity`).
    KaimingUniform {
        mode: FanMode,
        nonlinearity: Nonlinearity,
    },
    /// He: `N(0, std²)`, `std = gain / √fan`.
    KaimingNormal {
        mode: FanMode,
        nonlinearity: Nonlinearity,
    },
}

impl Init {
    /// Xavier uniform with gain 1 (PyTorch `xavier_uniform_` default).
    pub fn xavier_uniform() -> Init {
        Init::XavierUniform { gain: 1.0 }
    }

    /// Xavier normal with gain 1.
    pub fn xavier_normal() -> Init {
        Init::XavierNormal { gain: 1.0 }
    }

    /// Kaiming uniform over fan-in for `nonlinearity`.
    pub fn kaiming_uniform(nonlinearity: Nonlinearity) -> Init {
        Init::KaimingUniform {
            mode: FanMode::FanIn,
            nonlinearity,
        }
    }

    /// Kaiming normal over fan-in for `nonlinearity`.
    pub fn kaiming_normal(nonlinearity: Nonlinearity) -> Init {
        Init::KaimingNormal {
            mode: FanMode::FanIn,
            nonlinearity,
        }
    }

    /// PyTorch's default weight init of `Linear` and `Conv*`: `kaiming_uniform_(a = √5)`,
    /// which is `U(-1/√fan_in, 1/√fan_in)`.
    pub fn torch_default() -> Init {
        Init::kaiming_uniform(Nonlinearity::LeakyRelu(5f64.sqrt()))
    }

    /// A new tensor of `shape` filled by this rule from `seed`.
    pub fn tensor(
        &self,
        shape: impl Into<Shape>,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let shape = shape.into();
        if !dtype.is_float() {
            return Err(Error::UnsupportedDType { op: "init", dtype });
        }
        let uniform = |b: f64| Tensor::rand_uniform(seed, -b, b, &shape, dtype, device);
        let normal =
            |mean: f64, std: f64| Tensor::randn(seed, &shape, dtype, device)?.affine(std, mean);
        let fan = |mode: FanMode| -> Result<f64> {
            let (fan_in, fan_out) = fans(&shape)?;
            Ok(match mode {
                FanMode::FanIn => fan_in,
                FanMode::FanOut => fan_out,
            } as f64)
        };
        match *self {
            Init::Zeros => Tensor::zeros(&shape, dtype, device),
            Init::Ones => Tensor::ones(&shape, dtype, device),
            Init::Constant(c) => Tensor::full(c, &shape, dtype, device),
            Init::Uniform { lo, hi } => Tensor::rand_uniform(seed, lo, hi, &shape, dtype, device),
            Init::Normal { mean, std } => normal(mean, std),
            Init::XavierUniform { gain } => {
                let (fi, fo) = fans(&shape)?;
                uniform(gain * (6.0 / (fi + fo) as f64).sqrt())
            }
            Init::XavierNormal { gain } => {
                let (fi, fo) = fans(&shape)?;
                normal(0.0, gain * (2.0 / (fi + fo) as f64).sqrt())
            }
            Init::KaimingUniform { mode, nonlinearity } => {
                uniform(3f64.sqrt() * nonlinearity.gain() / fan(mode)?.sqrt())
            }
            Init::KaimingNormal { mode, nonlinearity } => {
                normal(0.0, nonlinearity.gain() / fan(mode)?.sqrt())
            }
        }
    }

    /// Refills `param` in place (its id, and so its gradients' key, stays).
    pub fn apply(&self, param: &mut Tensor, seed: u64) -> Result<()> {
        let value = self.tensor(param.shape(), seed, param.dtype(), param.device())?;
        param.assign(&value)
    }
}

/// A reproducible stream of seeds, one per layer, from one model seed. The global stream
/// that seedless constructors draw from (`lamina_tensor::random`) is this stream of the
/// global seed: `manual_seed(s)` then `next_seed()` gives `Seeds::new(s).next_seed()`.
///
/// ```
/// use lamina_nn::{Linear, Seeds};
/// let dev = lamina_backend_cpu::device();
/// let mut seeds = Seeds::new(42);
/// let fc1 = Linear::builder(4, 8).seed(seeds.next_seed()).build(&dev)?;
/// let fc2 = Linear::builder(8, 2).seed(seeds.next_seed()).build(&dev)?;
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Seeds {
    base: u64,
    next: u64,
}

impl Seeds {
    pub fn new(seed: u64) -> Seeds {
        Seeds {
            base: seed,
            next: 0,
        }
    }

    /// The next seed of the stream (SplitMix64 draws of the base seed).
    pub fn next_seed(&mut self) -> u64 {
        let s = rng::draw(self.base, self.next);
        self.next += 1;
        s
    }
}

/// A second, independent seed derived from `seed` (e.g. a layer's bias next to its
/// weight).
pub(crate) fn derive_seed(seed: u64, stream: u64) -> u64 {
    rng::mix64(seed ^ rng::mix64(stream.wrapping_add(0xB1A5)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(v: &[f64]) -> (f64, f64, f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        (mean, var, lo, hi)
    }

    fn sample(init: Init, shape: &[usize], seed: u64) -> Vec<f64> {
        let dev = lamina_backend_cpu::device();
        init.tensor(shape.to_vec(), seed, DType::F64, &dev)
            .unwrap()
            .to_vec::<f64>()
            .unwrap()
    }

    #[test]
    fn fans_follow_pytorch() {
        assert_eq!(fans(&Shape::from([3, 5])).unwrap(), (5, 3));
        // Conv weight [out 8, in 4, 3, 3]: receptive field 9.
        assert_eq!(fans(&Shape::from([8, 4, 3, 3])).unwrap(), (36, 72));
        assert!(fans(&Shape::from([5])).is_err());
    }

    #[test]
    fn gains_follow_pytorch() {
        assert_eq!(Nonlinearity::Linear.gain(), 1.0);
        assert_eq!(Nonlinearity::Tanh.gain(), 5.0 / 3.0);
        assert_eq!(Nonlinearity::Relu.gain(), 2f64.sqrt());
        // leaky_relu with a = sqrt(5): sqrt(2 / 6)
        let g = Nonlinearity::LeakyRelu(5f64.sqrt()).gain();
        assert!((g - (1.0f64 / 3.0).sqrt()).abs() < 1e-15);
    }

    /// Uniform U(-b, b): every value inside, variance b²/3.
    fn check_uniform(v: &[f64], b: f64) {
        let (mean, var, lo, hi) = stats(v);
        assert!(lo >= -b && hi < b, "range [{lo}, {hi}] outside ±{b}");
        // The extremes come close to the bounds.
        assert!(lo < -0.99 * b && hi > 0.99 * b);
        let want = b * b / 3.0;
        // Standard error of the variance of n uniforms: b²·sqrt(4/45/n) ≈ 0.3% here.
        assert!((var - want).abs() < 0.03 * want, "var {var}, want {want}");
        assert!(mean.abs() < 0.02 * b, "mean {mean}");
    }

    fn check_normal(v: &[f64], std: f64) {
        let (mean, var, _, _) = stats(v);
        assert!(mean.abs() < 0.02 * std, "mean {mean}");
        assert!(
            (var.sqrt() - std).abs() < 0.02 * std,
            "std {}, want {std}",
            var.sqrt()
        );
    }

    #[test]
    fn xavier_bounds_and_variance() {
        let (fi, fo) = (300, 200);
        let v = sample(Init::xavier_uniform(), &[fo, fi], 1);
        check_uniform(&v, (6.0 / (fi + fo) as f64).sqrt());
        let v = sample(Init::XavierNormal { gain: 2.0 }, &[fo, fi], 2);
        check_normal(&v, 2.0 * (2.0 / (fi + fo) as f64).sqrt());
    }

    #[test]
    fn kaiming_bounds_and_variance() {
        let (fi, fo) = (250, 160);
        let v = sample(Init::kaiming_uniform(Nonlinearity::Relu), &[fo, fi], 3);
        check_uniform(&v, (6.0 / fi as f64).sqrt());
        let v = sample(Init::kaiming_normal(Nonlinearity::Relu), &[fo, fi], 4);
        check_normal(&v, (2.0 / fi as f64).sqrt());
        let v = sample(
            Init::KaimingNormal {
                mode: FanMode::FanOut,
                nonlinearity: Nonlinearity::Tanh,
            },
            &[fo, fi],
            5,
        );
        check_normal(&v, 5.0 / 3.0 / (fo as f64).sqrt());
        // PyTorch's Linear default is U(±1/sqrt(fan_in)).
        let v = sample(Init::torch_default(), &[fo, fi], 6);
        check_uniform(&v, 1.0 / (fi as f64).sqrt());
    }

    #[test]
    fn constants_and_plain_distributions() {
        assert_eq!(sample(Init::Zeros, &[2, 2], 0), vec![0.0; 4]);
        assert_eq!(sample(Init::Ones, &[3], 0), vec![1.0; 3]);
        assert_eq!(sample(Init::Constant(0.25), &[2], 0), vec![0.25; 2]);
        let v = sample(Init::Uniform { lo: 2.0, hi: 4.0 }, &[20_000], 7);
        let (mean, _, lo, hi) = stats(&v);
        assert!(lo >= 2.0 && hi < 4.0 && (mean - 3.0).abs() < 0.02);
        let v = sample(
            Init::Normal {
                mean: 1.0,
                std: 0.5,
            },
            &[20_000],
            8,
        );
        let (mean, var, _, _) = stats(&v);
        assert!((mean - 1.0).abs() < 0.01 && (var.sqrt() - 0.5).abs() < 0.01);
    }

    #[test]
    fn reproducible_by_seed() {
        for init in [
            Init::xavier_uniform(),
            Init::xavier_normal(),
            Init::kaiming_uniform(Nonlinearity::Relu),
            Init::kaiming_normal(Nonlinearity::Relu),
            Init::Normal {
                mean: 0.0,
                std: 1.0,
            },
        ] {
            let a = sample(init, &[4, 5], 11);
            assert_eq!(a, sample(init, &[4, 5], 11), "{init:?}");
            assert_ne!(a, sample(init, &[4, 5], 12), "{init:?}");
        }
    }

    #[test]
    fn apply_keeps_the_id() {
        let dev = lamina_backend_cpu::device();
        let mut w = Tensor::zeros([3, 4], DType::F32, &dev).unwrap();
        let id = w.id();
        Init::xavier_uniform().apply(&mut w, 9).unwrap();
        assert_eq!(w.id(), id);
        let want = Init::xavier_uniform()
            .tensor([3, 4], 9, DType::F32, &dev)
            .unwrap();
        assert_eq!(w.to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
    }

    #[test]
    fn rejects_integer_dtypes_and_vectors_for_fan_based_rules() {
        let dev = lamina_backend_cpu::device();
        assert!(Init::Zeros.tensor([2], 0, DType::I64, &dev).is_err());
        assert!(Init::xavier_uniform()
            .tensor([5], 0, DType::F32, &dev)
            .is_err());
    }

    #[test]
    fn seeds_are_distinct_and_reproducible() {
        let mut a = Seeds::new(1);
        let mut b = Seeds::new(1);
        let xs: Vec<u64> = (0..4).map(|_| a.next_seed()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.next_seed()).collect();
        assert_eq!(xs, ys);
        assert!(xs.windows(2).all(|w| w[0] != w[1]));
    }
}

//! Normalisation, as PyTorch has it: the functions `batch_norm`, `layer_norm`,
//! `group_norm`, `instance_norm`, `rms_norm` and the layers [`BatchNorm1d`],
//! [`BatchNorm2d`], [`LayerNorm`], [`GroupNorm`], [`RmsNorm`], with PyTorch's parameter
//! and buffer names (`weight`, `bias`, `running_mean`, `running_var`,
//! `num_batches_tracked`), so `state_dict` files interchange. Each is one
//! [`Tensor::normalize`] on a view of the input (the backend's fused kernel: statistics,
//! output and gradient each in a pass or two) followed by the affine map.

use std::sync::Mutex;

use lamina_tensor::{DType, Device, Error, NormSpec, Result, Tensor};

use crate::module::prefixed;
use crate::Module;

/// The product of `dims`.
fn product(dims: &[usize]) -> usize {
    dims.iter().product()
}

/// `y · weight + bias` with both along dim 1 (channels), either optional.
fn affine_channels(y: Tensor, weight: Option<&Tensor>, bias: Option<&Tensor>) -> Result<Tensor> {
    let mut shape = vec![1isize; y.rank()];
    if y.rank() > 1 {
        shape[1] = -1;
    }
    let y = match weight {
        Some(w) => (&y * &w.reshape(shape.clone())?)?,
        None => y,
    };
    match bias {
        Some(b) => &y + &b.reshape(shape)?,
        None => Ok(y),
    }
}

/// Errors unless `t` (if given) has shape `[len]`.
fn check_vector(op: &'static str, what: &str, t: Option<&Tensor>, len: usize) -> Result<()> {
    match t {
        Some(t) if t.dims() != [len] => Err(Error::Invalid {
            op,
            msg: format!("{what} has shape {}, expected [{len}]", t.shape()),
        }),
        _ => Ok(()),
    }
}

/// Batch normalisation (PyTorch `F.batch_norm`) of `[N, C, *]` over every dim but the
/// channels. Training mode normalises with the batch's mean and biased variance and,
/// when running statistics are given, updates them in place:
/// `running = (1 − momentum) running + momentum · batch`, the variance unbiased
/// (`n / (n − 1)`) as PyTorch keeps it. Evaluation mode normalises with the running
/// statistics. `weight` and `bias` (`[C]`) apply per channel.
///
/// ```
/// use lamina_nn::functional::batch_norm;
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::new(&[[1.0f64], [3.0]], &dev)?; // [N 2, C 1]
/// let (mut mean, mut var) = (Tensor::zeros([1], DType::F64, &dev)?, Tensor::ones([1], DType::F64, &dev)?);
/// let y = batch_norm(&x, Some((&mut mean, &mut var)), None, None, true, 0.1, 0.0)?;
/// assert_eq!(y.to_vec2::<f64>()?, [[-1.0], [1.0]]);
/// assert_eq!(mean.to_vec::<f64>()?, [0.2]); // 0.9 · 0 + 0.1 · 2
/// assert_eq!(var.to_vec::<f64>()?, [1.1]); // 0.9 · 1 + 0.1 · 2 (unbiased: 2 / 1)
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn batch_norm(
    input: &Tensor,
    running: Option<(&mut Tensor, &mut Tensor)>,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> Result<Tensor> {
    const OP: &str = "batch_norm";
    if input.rank() < 2 {
        return Err(Error::Invalid {
            op: OP,
            msg: format!("input {}: expected [N, C, *]", input.shape()),
        });
    }
    let c = input.dims()[1];
    check_vector(OP, "weight", weight, c)?;
    check_vector(OP, "bias", bias, c)?;
    let (batch, inner) = (input.dims()[0], product(&input.dims()[2..]));
    let n = batch * inner;
    let stat_shape = {
        let mut s = vec![1usize; input.rank()];
        s[1] = c;
        s
    };
    let y = if training {
        if n <= 1 {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "input {}: training needs more than one value per channel",
                    input.shape()
                ),
            });
        }
        let spec = NormSpec {
            outer: batch,
            groups: c,
            inner,
            eps,
            center: true,
        };
        let out = input.normalize(&spec)?;
        if let Some((rm, rv)) = running {
            check_vector(OP, "running_mean", Some(rm), c)?;
            check_vector(OP, "running_var", Some(rv), c)?;
            let (mean, var) = (out.mean, out.var);
            let unbiased = var.mul_scalar(n as f64 / (n - 1) as f64)?;
            let new_mean = (rm.mul_scalar(1.0 - momentum)? + mean.mul_scalar(momentum)?)?;
            let new_var = (rv.mul_scalar(1.0 - momentum)? + unbiased.mul_scalar(momentum)?)?;
            rm.assign(&new_mean)?;
            rv.assign(&new_var)?;
        }
        out.output
    } else {
        let Some((rm, rv)) = running else {
            return Err(Error::Invalid {
                op: OP,
                msg: "evaluation mode needs the running mean and variance".into(),
            });
        };
        check_vector(OP, "running_mean", Some(rm), c)?;
        check_vector(OP, "running_var", Some(rv), c)?;
        // `(x − mean) · (rstd · weight) + bias`: the weight folded into the per-channel
        // scale, two passes over the input instead of four.
        let mean = rm.reshape(stat_shape.clone())?;
        let mut scale = rv.add_scalar(eps)?.rsqrt()?;
        if let Some(w) = weight {
            scale = (&scale * w)?;
        }
        let y = ((input - &mean)? * scale.reshape(stat_shape)?)?;
        return affine_channels(y, None, bias);
    };
    affine_channels(y, weight, bias)
}

/// Layer normalisation (PyTorch `F.layer_norm`) over the last
/// `normalized_shape.len()` dims, which must equal `normalized_shape`; `weight` and
/// `bias` have that shape.
///
/// ```
/// use lamina_nn::functional::layer_norm;
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::new(&[[1.0f64, 3.0], [-2.0, 6.0]], &dev)?;
/// let y = layer_norm(&x, &[2], None, None, 0.0)?;
/// assert_eq!(y.to_vec2::<f64>()?, [[-1.0, 1.0], [-1.0, 1.0]]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn layer_norm(
    input: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    const OP: &str = "layer_norm";
    let k = normalized_shape.len();
    let r = input.rank();
    if k == 0 || k > r || input.dims()[r - k..] != *normalized_shape {
        return Err(Error::Invalid {
            op: OP,
            msg: format!(
                "input {}: its last dims must be normalized_shape {normalized_shape:?}",
                input.shape()
            ),
        });
    }
    for (what, t) in [("weight", weight), ("bias", bias)] {
        if let Some(t) = t {
            if t.dims() != normalized_shape {
                return Err(Error::Invalid {
                    op: OP,
                    msg: format!(
                        "{what} has shape {}, expected {normalized_shape:?}",
                        t.shape()
                    ),
                });
            }
        }
    }
    let spec = NormSpec {
        outer: 1,
        groups: product(&input.dims()[..r - k]),
        inner: product(normalized_shape),
        eps,
        center: true,
    };
    let y = input.normalize(&spec)?.output;
    let y = match weight {
        Some(w) => (&y * w)?,
        None => y,
    };
    match bias {
        Some(b) => &y + b,
        None => Ok(y),
    }
}

/// Group normalisation (PyTorch `F.group_norm`): the `C` channels of `[N, C, *]` split
/// into `num_groups` groups, each normalised over its channels and positions per
/// sample; `weight` and `bias` (`[C]`) apply per channel.
pub fn group_norm(
    input: &Tensor,
    num_groups: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    const OP: &str = "group_norm";
    if input.rank() < 2 || num_groups == 0 || !input.dims()[1].is_multiple_of(num_groups) {
        return Err(Error::Invalid {
            op: OP,
            msg: format!(
                "input {}, {num_groups} groups: expected [N, C, *] with C divisible by the groups (at least 1)",
                input.shape()
            ),
        });
    }
    let (n, c) = (input.dims()[0], input.dims()[1]);
    check_vector(OP, "weight", weight, c)?;
    check_vector(OP, "bias", bias, c)?;
    let spec = NormSpec {
        outer: 1,
        groups: n * num_groups,
        inner: c / num_groups * product(&input.dims()[2..]),
        eps,
        center: true,
    };
    affine_channels(input.normalize(&spec)?.output, weight, bias)
}

/// Instance normalisation (PyTorch `F.instance_norm` with the input's statistics): each
/// channel of each sample of `[N, C, *]` normalised over its positions; `weight` and
/// `bias` (`[C]`) apply per channel.
pub fn instance_norm(
    input: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    if input.rank() < 3 {
        return Err(Error::Invalid {
            op: "instance_norm",
            msg: format!("input {}: expected [N, C, *spatial]", input.shape()),
        });
    }
    group_norm(input, input.dims()[1], weight, bias, eps)
}

/// Root-mean-square normalisation (PyTorch `F.rms_norm`):
/// `x / sqrt(mean(x²) + eps) · weight` over the last `normalized_shape.len()` dims;
/// `eps` `None` is the dtype's machine epsilon, as PyTorch.
pub fn rms_norm(
    input: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    eps: Option<f64>,
) -> Result<Tensor> {
    const OP: &str = "rms_norm";
    let k = normalized_shape.len();
    let r = input.rank();
    if k == 0 || k > r || input.dims()[r - k..] != *normalized_shape {
        return Err(Error::Invalid {
            op: OP,
            msg: format!(
                "input {}: its last dims must be normalized_shape {normalized_shape:?}",
                input.shape()
            ),
        });
    }
    if let Some(w) = weight {
        if w.dims() != normalized_shape {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "weight has shape {}, expected {normalized_shape:?}",
                    w.shape()
                ),
            });
        }
    }
    let eps = eps.unwrap_or(match input.dtype() {
        DType::F64 => f64::EPSILON,
        _ => f32::EPSILON as f64,
    });
    let spec = NormSpec {
        outer: 1,
        groups: product(&input.dims()[..r - k]),
        inner: product(normalized_shape),
        eps,
        center: false,
    };
    let y = input.normalize(&spec)?.output;
    match weight {
        Some(w) => &y * w,
        None => Ok(y),
    }
}

/// Batch normalisation over `D` feature layouts; use [`BatchNorm1d`] (`[N, C]` or
/// `[N, C, L]`) and [`BatchNorm2d`] (`[N, C, H, W]`). Parameters `weight` (ones) and
/// `bias` (zeros), buffers `running_mean` (zeros), `running_var` (ones) and
/// `num_batches_tracked` (`I64`), as PyTorch's `reset_parameters`. Training mode uses and
/// updates the batch statistics, evaluation mode uses the running ones (`train()` /
/// `eval()`).
///
/// ```
/// use lamina_nn::{BatchNorm2d, Module};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let mut bn = BatchNorm2d::new(3, &dev)?;
/// let names: Vec<String> = bn.state_dict().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]);
/// let x = Tensor::randn(0, [4, 3, 5, 5], DType::F32, &dev)?;
/// bn.forward(&x)?; // training: batch statistics, running ones updated
/// assert_eq!(bn.num_batches_tracked(), 1);
/// bn.eval();
/// assert_eq!(bn.forward(&x)?.dims(), &[4, 3, 5, 5]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Debug)]
pub struct BatchNorm<const D: usize> {
    /// `[C]`, or `None` without `affine`.
    pub weight: Option<Tensor>,
    pub bias: Option<Tensor>,
    /// `running_mean`, `running_var`, `num_batches_tracked`; `None` without
    /// `track_running_stats` (then evaluation also uses the batch statistics).
    running: Option<Mutex<[Tensor; 3]>>,
    pub eps: f64,
    pub momentum: f64,
    training: bool,
}

/// PyTorch's `nn.BatchNorm1d`: `[N, C]` or `[N, C, L]` inputs.
pub type BatchNorm1d = BatchNorm<1>;
/// PyTorch's `nn.BatchNorm2d`: `[N, C, H, W]` inputs.
pub type BatchNorm2d = BatchNorm<2>;

impl<const D: usize> BatchNorm<D> {
    /// `num_features` channels with PyTorch's defaults (eps 1e-5, momentum 0.1, affine,
    /// running statistics), f32.
    pub fn new(num_features: usize, device: &Device) -> Result<Self> {
        Self::with_options(num_features, 1e-5, 0.1, true, true, DType::F32, device)
    }

    /// Every option of PyTorch's constructor.
    pub fn with_options(
        num_features: usize,
        eps: f64,
        momentum: f64,
        affine: bool,
        track_running_stats: bool,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let c = [num_features];
        let (weight, bias) = if affine {
            (
                Some(Tensor::ones(c, dtype, device)?),
                Some(Tensor::zeros(c, dtype, device)?),
            )
        } else {
            (None, None)
        };
        let running = if track_running_stats {
            Some(Mutex::new([
                Tensor::zeros(c, dtype, device)?,
                Tensor::ones(c, dtype, device)?,
                Tensor::zeros([], DType::I64, device)?,
            ]))
        } else {
            None
        };
        Ok(BatchNorm {
            weight,
            bias,
            running,
            eps,
            momentum,
            training: true,
        })
    }

    fn num_features(&self) -> usize {
        match (&self.weight, &self.running) {
            (Some(w), _) => w.dims()[0],
            (None, Some(r)) => lock(r)[0].dims()[0],
            (None, None) => 0,
        }
    }

    /// Training-mode forwards that updated the running statistics.
    pub fn num_batches_tracked(&self) -> i64 {
        self.running
            .as_ref()
            .map_or(0, |r| lock(r)[2].to_scalar::<i64>().unwrap_or_default())
    }

    /// The running mean and variance (handles sharing their storage).
    pub fn running_stats(&self) -> Option<(Tensor, Tensor)> {
        self.running.as_ref().map(|r| {
            let r = lock(r);
            (r[0].clone(), r[1].clone())
        })
    }
}

/// The buffers, also after a panic elsewhere poisoned the lock (they hold plain values).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<const D: usize> Module for BatchNorm<D> {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let ranks: &[usize] = if D == 1 { &[2, 3] } else { &[4] };
        let c = self.num_features();
        if !ranks.contains(&x.rank()) || x.dims()[1] != c {
            return Err(Error::Module {
                module: self.name(),
                msg: format!(
                    "input {}: expected {} with C = {c}",
                    x.shape(),
                    if D == 1 {
                        "[N, C] or [N, C, L]"
                    } else {
                        "[N, C, H, W]"
                    }
                ),
            });
        }
        let (w, b) = (self.weight.as_ref(), self.bias.as_ref());
        let result = match &self.running {
            Some(r) => {
                let mut r = lock(r);
                let [mean, var, count] = &mut *r;
                let y = batch_norm(
                    x,
                    Some((mean, var)),
                    w,
                    b,
                    self.training,
                    self.momentum,
                    self.eps,
                );
                if self.training && y.is_ok() {
                    *count = count.add_scalar(1.0)?;
                }
                y
            }
            None => batch_norm(x, None, w, b, true, self.momentum, self.eps),
        };
        result.map_err(|e| e.context(self.name()))
    }

    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            f(prefixed(prefix, "weight"), w);
            f(prefixed(prefix, "bias"), b);
        }
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        if let (Some(w), Some(b)) = (&mut self.weight, &mut self.bias) {
            f(prefixed(prefix, "weight"), w);
            f(prefixed(prefix, "bias"), b);
        }
    }

    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(String, Tensor)) {
        if let Some(r) = &self.running {
            let r = lock(r).clone();
            for (name, t) in BUFFERS.iter().zip(r) {
                f(prefixed(prefix, name), t);
            }
        }
    }

    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Tensor)) {
        if let Some(r) = &mut self.running {
            let r = r.get_mut().unwrap_or_else(|e| e.into_inner());
            for (name, t) in BUFFERS.iter().zip(r.iter_mut()) {
                f(prefixed(prefix, name), t);
            }
        }
    }

    fn set_training(&mut self, on: bool) {
        self.training = on;
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn training_mode(&self) -> Option<bool> {
        Some(self.training)
    }

    /// `BatchNorm2d(16)`, with the options that differ from PyTorch's defaults.
    fn name(&self) -> String {
        let mut s = format!("BatchNorm{D}d({}", self.num_features());
        if self.eps != 1e-5 {
            s += &format!(", eps {}", self.eps);
        }
        if self.momentum != 0.1 {
            s += &format!(", momentum {}", self.momentum);
        }
        if self.weight.is_none() {
            s += ", affine false";
        }
        if self.running.is_none() {
            s += ", track_running_stats false";
        }
        s + ")"
    }
}

const BUFFERS: [&str; 3] = ["running_mean", "running_var", "num_batches_tracked"];

/// Layer normalisation over the last dims (PyTorch `nn.LayerNorm`): parameters `weight`
/// (ones) and `bias` (zeros) of `normalized_shape`.
///
/// ```
/// use lamina_nn::{LayerNorm, Module};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let ln = LayerNorm::new(&[8], &dev)?;
/// let y = ln.forward(&Tensor::randn(0, [2, 5, 8], DType::F32, &dev)?)?;
/// assert!(y.mean(-1, false)?.abs()?.max_all()?.to_scalar::<f32>()? < 1e-5);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LayerNorm {
    pub normalized_shape: Vec<usize>,
    pub weight: Option<Tensor>,
    pub bias: Option<Tensor>,
    pub eps: f64,
}

impl LayerNorm {
    /// PyTorch's defaults: eps 1e-5, elementwise affine with bias, f32.
    pub fn new(normalized_shape: &[usize], device: &Device) -> Result<LayerNorm> {
        LayerNorm::with_options(normalized_shape, 1e-5, true, true, DType::F32, device)
    }

    pub fn with_options(
        normalized_shape: &[usize],
        eps: f64,
        elementwise_affine: bool,
        bias: bool,
        dtype: DType,
        device: &Device,
    ) -> Result<LayerNorm> {
        let shape = normalized_shape.to_vec();
        Ok(LayerNorm {
            weight: elementwise_affine
                .then(|| Tensor::ones(shape.clone(), dtype, device))
                .transpose()?,
            bias: (elementwise_affine && bias)
                .then(|| Tensor::zeros(shape.clone(), dtype, device))
                .transpose()?,
            normalized_shape: shape,
            eps,
        })
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        layer_norm(
            x,
            &self.normalized_shape,
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.eps,
        )
        .map_err(|e| e.context(self.name()))
    }
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        visit_affine(prefix, self.weight.as_ref(), self.bias.as_ref(), f);
    }
    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        if let Some(w) = &mut self.weight {
            f(prefixed(prefix, "weight"), w);
        }
        if let Some(b) = &mut self.bias {
            f(prefixed(prefix, "bias"), b);
        }
    }
    fn set_training(&mut self, _: bool) {}
    fn name(&self) -> String {
        format!("LayerNorm({:?})", self.normalized_shape)
    }
}

fn visit_affine<'a>(
    prefix: &str,
    weight: Option<&'a Tensor>,
    bias: Option<&'a Tensor>,
    f: &mut dyn FnMut(String, &'a Tensor),
) {
    if let Some(w) = weight {
        f(prefixed(prefix, "weight"), w);
    }
    if let Some(b) = bias {
        f(prefixed(prefix, "bias"), b);
    }
}

/// Group normalisation (PyTorch `nn.GroupNorm`): parameters `weight` (ones) and `bias`
/// (zeros) of `[num_channels]`.
#[derive(Clone, Debug)]
pub struct GroupNorm {
    pub num_groups: usize,
    pub weight: Option<Tensor>,
    pub bias: Option<Tensor>,
    pub eps: f64,
}

impl GroupNorm {
    /// PyTorch's defaults: eps 1e-5, affine, f32.
    pub fn new(num_groups: usize, num_channels: usize, device: &Device) -> Result<GroupNorm> {
        if num_groups == 0 || !num_channels.is_multiple_of(num_groups) {
            return Err(Error::Invalid {
                op: "GroupNorm",
                msg: format!("{num_channels} channels do not split into {num_groups} groups"),
            });
        }
        Ok(GroupNorm {
            num_groups,
            weight: Some(Tensor::ones([num_channels], DType::F32, device)?),
            bias: Some(Tensor::zeros([num_channels], DType::F32, device)?),
            eps: 1e-5,
        })
    }
}

impl Module for GroupNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        group_norm(
            x,
            self.num_groups,
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.eps,
        )
        .map_err(|e| e.context(self.name()))
    }
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        visit_affine(prefix, self.weight.as_ref(), self.bias.as_ref(), f);
    }
    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        if let Some(w) = &mut self.weight {
            f(prefixed(prefix, "weight"), w);
        }
        if let Some(b) = &mut self.bias {
            f(prefixed(prefix, "bias"), b);
        }
    }
    fn set_training(&mut self, _: bool) {}
    fn name(&self) -> String {
        let c = self.weight.as_ref().map_or(0, |w| w.dims()[0]);
        format!("GroupNorm({}, {c})", self.num_groups)
    }
}

/// RMS normalisation (PyTorch `nn.RMSNorm`): parameter `weight` (ones) of
/// `normalized_shape`; `eps` `None` is the dtype's machine epsilon.
#[derive(Clone, Debug)]
pub struct RmsNorm {
    pub normalized_shape: Vec<usize>,
    pub weight: Option<Tensor>,
    pub eps: Option<f64>,
}

impl RmsNorm {
    pub fn new(normalized_shape: &[usize], device: &Device) -> Result<RmsNorm> {
        Ok(RmsNorm {
            normalized_shape: normalized_shape.to_vec(),
            weight: Some(Tensor::ones(normalized_shape.to_vec(), DType::F32, device)?),
            eps: None,
        })
    }
}

impl Module for RmsNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        rms_norm(x, &self.normalized_shape, self.weight.as_ref(), self.eps)
            .map_err(|e| e.context(self.name()))
    }
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        visit_affine(prefix, self.weight.as_ref(), None, f);
    }
    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        if let Some(w) = &mut self.weight {
            f(prefixed(prefix, "weight"), w);
        }
    }
    fn set_training(&mut self, _: bool) {}
    fn name(&self) -> String {
        format!("RMSNorm({:?})", self.normalized_shape)
    }
}

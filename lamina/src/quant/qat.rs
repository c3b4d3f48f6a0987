//! Quantisation-aware training (PyTorch's `prepare_qat` + training + `convert`): a
//! [`QatModel`] runs the user's f32 `Sequential` with the rounding of the int8 model it
//! will become, so training learns weights that survive quantisation. It owns the model
//! and trains its very parameters; the quantisation points are exactly those of static
//! quantisation ([`Calibrator`](super::Calibrator)), so [`QatModel::convert`] gives the
//! same kind of [`QuantizedModel`], with the ranges observed during training.
//!
//! - Each `Linear` and `Conv2d` weight is fake-quantised symmetric per output channel to
//!   `−128..=127` with `max|w| / 127.5` scales from the current weights
//!   ([`per_channel_scales`], the rule `convert` quantises with).
//! - Each `Linear` and `Conv2d` input is fake-quantised affine per tensor to `0..=255`,
//!   its range from a [`MovingAverageMinMax`] observer updated by training-mode forwards.
//! - A `Conv2d` directly followed by `BatchNorm2d` runs as PyTorch's `ConvBn2d`
//!   (`_forward_approximate`): the weight scaled by `γ / sqrt(running_var + eps)` is
//!   fake-quantised, the convolution's output is divided by that factor again, the bias
//!   added, and the batch norm applied as it is (batch statistics while training, running
//!   ones in evaluation, where this equals the folded convolution that `convert` builds).
//!
//! Differences from PyTorch's default QAT `qconfig` (fbgemm): activations use the full
//! `0..=255` (PyTorch's default reduces to `0..=127`) and weight scales come from the
//! current weights (PyTorch averages them over batches too), both to match Lamina's static
//! int8 model integer for integer; the observers update only in training mode (PyTorch's
//! whenever enabled, also in `eval()` unless `disable_observer` is applied); the network's
//! output stays f32 (Lamina's int8 layers requantise to f32; PyTorch quantises each
//! layer's output); ReLU is not fused into the fake-quantised layer (it follows as a layer,
//! which is the same function); and there is no `freeze_bn_stats`.

use std::sync::{Mutex, MutexGuard};

use lamina_nn::{prefixed, BatchNorm2d, Conv2d, Linear, Module, Sequential};
use lamina_tensor::{DType, Device, Error, Result, Tensor};

use super::fake::{fake_quantize_per_channel, fake_quantize_per_tensor};
use super::model::{convert_plan, host, plan, unsupported};
use super::{per_channel_scales, MovingAverageMinMax, QParams, QuantizedModel};

/// What the QAT forward does at one layer of the wrapped `Sequential`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    /// A `Linear`: input observer `observer`, weight fake-quantised per channel.
    Linear { observer: usize },
    /// A `Conv2d`, with the `BatchNorm2d` that directly follows it, if any.
    Conv { observer: usize, bn: Option<usize> },
    /// A `BatchNorm2d` the convolution before it applies.
    Folded,
    /// `ReLU`, `MaxPool2d`, `Flatten`, `Dropout`: the layer's own forward.
    Plain,
}

/// A `Sequential` prepared for quantisation-aware training (PyTorch's `prepare_qat`): its
/// forward fake-quantises each `Linear` and `Conv2d` weight (`i8`, symmetric per output
/// channel) and input (`u8`, affine per tensor, range from a moving average of the
/// training batches'), with straight-through gradients into the model's own parameters.
/// Train it like any [`Module`] (with `Trainer` or a loop), then
/// [`convert`](QatModel::convert) it to int8.
///
/// Layers: what [`Calibrator`](super::Calibrator) accepts (`Linear`, `Conv2d` with groups 1,
/// `BatchNorm2d` directly after a `Conv2d`, `ReLU`, `MaxPool2d`, `Flatten`, `Dropout`);
/// any other is an error naming it. Parameters keep the wrapped model's names (`0.weight`);
/// the observers' ranges are buffers `{i}.input_observer.min_val` / `max_val` for the
/// layer at position `i`, so checkpoints resume them.
///
/// ```
/// use lamina::autograd::value_and_grad;
/// use lamina::nn::{cross_entropy, Linear, Module, Reduction, Relu, Sequential};
/// use lamina::optim::{Optimizer, Sgd, SgdConfig};
/// use lamina::prelude::*;
/// use lamina::quant::QatModel;
/// let dev = Device::cpu();
/// let model = Sequential::new()
///     .add(Linear::builder(4, 8).seed(1).build(&dev)?)
///     .add(Relu)
///     .add(Linear::builder(8, 3).seed(2).build(&dev)?);
/// let mut qat = QatModel::prepare(model)?; // PyTorch's `prepare_qat`
/// let x = Tensor::randn(0, [16, 4], DType::F32, &dev)?;
/// let y = Tensor::from_vec((0..16).map(|i| i % 3).collect::<Vec<i64>>(), [16], &dev)?;
/// let mut opt = Sgd::new(SgdConfig { lr: 0.1, ..Default::default() })?;
/// for _ in 0..3 {
///     let loss = || cross_entropy(&qat.forward(&x)?, &y, Reduction::Mean);
///     let (_, grads) = value_and_grad(&qat.parameters(), loss)?;
///     opt.step(&mut qat.parameters_mut(), &grads)?;
/// }
/// qat.eval();
/// let int8 = qat.convert()?; // PyTorch's `convert`
/// assert_eq!(int8.describe(), ["QLinear+ReLU", "QLinear"]);
/// assert_eq!(int8.input_qparams(), qat.input_qparams());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct QatModel {
    model: Sequential,
    steps: Vec<Step>,
    /// One per `Linear` / `Conv2d`, in order; locked because `forward` takes `&self`.
    observers: Vec<Mutex<MovingAverageMinMax>>,
    /// The position of each observer's layer in the `Sequential` (its buffer names).
    observed_at: Vec<usize>,
    training: bool,
    frozen: bool,
}

/// The observer, also after a panic elsewhere poisoned the lock (it holds plain values).
fn lock(m: &Mutex<MovingAverageMinMax>) -> MutexGuard<'_, MovingAverageMinMax> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl QatModel {
    /// Wraps `model` for quantisation-aware training and puts it in training mode (PyTorch
    /// requires that of `prepare_qat`). An error names the first layer that cannot be
    /// quantised, or a `BatchNorm2d` that does not directly follow a `Conv2d`.
    pub fn prepare(mut model: Sequential) -> Result<QatModel> {
        // The static path's checks first: the same layers, the same errors.
        plan(&model)?;
        let mut steps: Vec<Step> = Vec::with_capacity(model.len());
        let mut observed_at = Vec::new();
        for (i, layer) in model.layers().iter().enumerate() {
            let any = layer.as_any().ok_or_else(|| unsupported(&layer.name()))?;
            let step = if any.is::<Linear>() {
                observed_at.push(i);
                Step::Linear {
                    observer: observed_at.len() - 1,
                }
            } else if any.is::<Conv2d>() {
                observed_at.push(i);
                let next = model.layers().get(i + 1).and_then(|l| l.as_any());
                Step::Conv {
                    observer: observed_at.len() - 1,
                    bn: next.is_some_and(|n| n.is::<BatchNorm2d>()).then_some(i + 1),
                }
            } else if any.is::<BatchNorm2d>() {
                match steps.last() {
                    Some(Step::Conv { bn: Some(at), .. }) if *at == i => Step::Folded,
                    _ => {
                        return Err(unsupported(&format!(
                            "{} (quantisation-aware training needs it directly after a Conv2d)",
                            layer.name()
                        )))
                    }
                }
            } else {
                Step::Plain
            };
            steps.push(step);
        }
        model.set_training(true);
        Ok(QatModel {
            model,
            steps,
            observers: observed_at
                .iter()
                .map(|_| Mutex::new(MovingAverageMinMax::new()))
                .collect(),
            observed_at,
            training: true,
            frozen: false,
        })
    }

    /// The wrapped f32 model (its parameters are the ones training updates).
    pub fn model(&self) -> &Sequential {
        &self.model
    }

    /// The wrapped f32 model, trained, without the quantisation.
    pub fn into_inner(self) -> Sequential {
        self.model
    }

    /// Stops the observers: later forwards keep the input ranges as they are (PyTorch's
    /// `disable_observer`, often applied for the last epochs).
    pub fn freeze_observers(&mut self) {
        self.frozen = true;
    }

    /// Lets training-mode forwards update the input ranges again (`enable_observer`).
    pub fn unfreeze_observers(&mut self) {
        self.frozen = false;
    }

    /// Whether the observers are frozen.
    pub fn observers_frozen(&self) -> bool {
        self.frozen
    }

    /// The averaged input range of each quantised layer, in order (`None`: not observed
    /// yet).
    pub fn input_ranges(&self) -> Vec<Option<(f32, f32)>> {
        self.observers.iter().map(|o| lock(o).range()).collect()
    }

    /// The input parameters each quantised layer's fake quantisation uses now, in order:
    /// what [`convert`](QatModel::convert) gives the int8 layers.
    pub fn input_qparams(&self) -> Vec<Option<QParams>> {
        self.observers.iter().map(|o| lock(o).qparams()).collect()
    }

    /// The int8 model (PyTorch's `convert`): the trained weights quantised per channel
    /// (batch norms folded with their running statistics), each layer's input with the
    /// range its observer averaged during training. The same conversion as
    /// [`Calibrator::convert`](super::Calibrator::convert). An error before any
    /// training-mode forward.
    pub fn convert(&self) -> Result<QuantizedModel> {
        let layers = plan(&self.model)?;
        let inputs = self
            .observers
            .iter()
            .map(|o| lock(o).qparams().ok_or_else(unobserved))
            .collect::<Result<Vec<_>>>()?;
        convert_plan(&layers, &inputs)
    }

    /// Observer `k` takes in `x` (training mode, not frozen), then `x` is fake-quantised
    /// with its parameters: PyTorch's `FakeQuantize` order, so the first batch already
    /// runs quantised with its own range.
    fn quantize_input(&self, k: usize, x: &Tensor) -> Result<Tensor> {
        let q = {
            let mut obs = lock(&self.observers[k]);
            if self.training && !self.frozen {
                obs.observe(&host(x)?);
            }
            obs.qparams().ok_or_else(unobserved)?
        };
        fake_quantize_per_tensor(x, q.scale, q.zero_point, 0, 255)
    }

    /// One layer's QAT forward.
    fn step(&self, step: Step, layer: &dyn Module, x: &Tensor) -> Result<Tensor> {
        let any = layer.as_any();
        match step {
            Step::Plain => layer.forward(x),
            Step::Folded => Ok(x.clone()),
            Step::Linear { observer } => {
                let l = any
                    .and_then(|a| a.downcast_ref::<Linear>())
                    .ok_or_else(|| changed(layer))?;
                let x = self.quantize_input(observer, x)?;
                let y = x.matmul(&fake_quantize_weight(&l.weight)?.t()?)?;
                match &l.bias {
                    Some(b) => y + b,
                    None => Ok(y),
                }
            }
            Step::Conv { observer, bn } => {
                let c = any
                    .and_then(|a| a.downcast_ref::<Conv2d>())
                    .ok_or_else(|| changed(layer))?;
                let x = self.quantize_input(observer, x)?;
                let conv = |w: &Tensor, b: Option<&Tensor>| {
                    lamina_nn::functional::conv2d(&x, w, b, c.stride, c.padding, c.dilation, 1)
                };
                let Some(at) = bn else {
                    return conv(&fake_quantize_weight(&c.weight)?, c.bias.as_ref());
                };
                let layer = &self.model.layers()[at];
                let bn = layer
                    .as_any()
                    .and_then(|a| a.downcast_ref::<BatchNorm2d>())
                    .ok_or_else(|| changed(&**layer))?;
                let (folded, factor) = fold(c, bn)?;
                let oc = factor.dims()[0];
                let y = conv(&fake_quantize_weight(&folded)?, None)?;
                // Undo the factor: the batch norm then sees the unfolded convolution's output.
                let undo = factor.to_dtype(y.dtype())?.reshape([1, oc, 1, 1])?;
                let mut y = (y / undo)?;
                if let Some(b) = &c.bias {
                    y = (y + b.reshape([1, oc, 1, 1])?)?;
                }
                bn.forward(&y)
            }
        }
    }
}

/// The convolution's weight with the batch norm folded in, `w · γ / sqrt(running_var +
/// eps)` per output channel (γ = 1 without affine), and that factor `[C]` in f64. Computed
/// as the static path folds (`fold_batch_norm`: the factor and the product in f64, rounded
/// once), so the fake-quantised weights are the very ones `convert` quantises; the weight
/// and γ get gradients through it, as in PyTorch (whose factor is f32).
fn fold(c: &Conv2d, bn: &BatchNorm2d) -> Result<(Tensor, Tensor)> {
    let (_, var) = bn.running_stats().ok_or_else(|| Error::Invalid {
        op: "quantize",
        msg: format!("{} tracks no running statistics to fold", bn.name()),
    })?;
    let std = var.to_dtype(DType::F64)?.add_scalar(bn.eps)?.sqrt()?;
    let factor = match &bn.weight {
        Some(g) => (g.to_dtype(DType::F64)? / &std)?,
        None => (std.ones_like()? / &std)?,
    };
    let oc = c.weight.dims()[0];
    let folded = (c.weight.to_dtype(DType::F64)? * factor.reshape([oc, 1, 1, 1])?)?
        .to_dtype(c.weight.dtype())?;
    Ok((folded, factor))
}

/// A weight `[out, ..]` fake-quantised symmetric per output channel to `−128..=127`, with
/// the scales `convert` quantises it with (PyTorch's `per_channel_symmetric` `qint8`).
fn fake_quantize_weight(w: &Tensor) -> Result<Tensor> {
    let out = w.dims().first().copied().unwrap_or(1);
    let k = w.elem_count() / out.max(1);
    let scales = per_channel_scales(&host(w)?, out, k);
    fake_quantize_per_channel(w, &scales, &vec![0; out], 0, -128, 127)
}

fn unobserved() -> Error {
    Error::Invalid {
        op: "QatModel",
        msg: "no input range observed yet: run a training-mode forward (observers not \
              frozen) first"
            .into(),
    }
}

/// A layer no longer of the type `prepare` saw (only reachable through a bug).
fn changed(layer: &dyn Module) -> Error {
    Error::Invalid {
        op: "QatModel",
        msg: format!("layer {} changed type after prepare", layer.name()),
    }
}

impl Module for QatModel {
    /// The QAT forward, layer by layer; an error names the layer as `Sequential`'s does.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, (layer, &step)) in self.model.layers().iter().zip(&self.steps).enumerate() {
            h = self
                .step(step, &**layer, &h)
                .map_err(|e| e.context(format!("QatModel layer {i} ({})", layer.name())))?;
        }
        Ok(h)
    }

    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        self.model.visit(prefix, f)
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        self.model.visit_mut(prefix, f)
    }

    fn set_training(&mut self, on: bool) {
        self.training = on;
        self.model.set_training(on);
    }

    fn training_mode(&self) -> Option<bool> {
        Some(self.training)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn name(&self) -> String {
        format!("QatModel({} layers)", self.model.len())
    }

    /// The model's buffers, then each observer's `min_val` and `max_val` (f32 scalars,
    /// `+∞` and `−∞` before the first batch, as PyTorch's).
    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(String, Tensor)) {
        self.model.visit_buffers(prefix, f);
        let dev = self.device();
        for (obs, &at) in self.observers.iter().zip(&self.observed_at) {
            let (lo, hi) = lock(obs)
                .range()
                .unwrap_or((f32::INFINITY, f32::NEG_INFINITY));
            for (name, v) in [("min_val", lo), ("max_val", hi)] {
                if let Ok(t) = Tensor::from_vec(vec![v], (), &dev) {
                    f(observer_name(prefix, at, name), t);
                }
            }
        }
    }

    /// As `visit_buffers`; what a loader writes into the range tensors goes back into the
    /// observers.
    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut Tensor)) {
        self.model.visit_buffers_mut(prefix, f);
        let dev = self.device();
        for (obs, &at) in self.observers.iter_mut().zip(&self.observed_at) {
            let obs = obs.get_mut().unwrap_or_else(|e| e.into_inner());
            let (lo, hi) = obs.range().unwrap_or((f32::INFINITY, f32::NEG_INFINITY));
            let mut read = |name: &str, v: f32| -> f32 {
                let Ok(mut t) = Tensor::from_vec(vec![v], (), &dev) else {
                    return v;
                };
                f(observer_name(prefix, at, name), &mut t);
                t.to_dtype(DType::F32)
                    .and_then(|t| t.to_scalar::<f32>())
                    .unwrap_or(v)
            };
            let (lo, hi) = (read("min_val", lo), read("max_val", hi));
            obs.set_range(lo, hi);
        }
    }

    fn visit_rng_state(&self, prefix: &str, f: &mut dyn FnMut(String, u64)) {
        self.model.visit_rng_state(prefix, f)
    }

    fn visit_rng_state_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut u64)) {
        self.model.visit_rng_state_mut(prefix, f)
    }
}

impl QatModel {
    /// Where the observers' buffers live: the parameters' device (the CPU for a model
    /// without any).
    fn device(&self) -> Device {
        let mut dev = None;
        self.model.visit("", &mut |_, t| {
            dev.get_or_insert(*t.device());
        });
        dev.unwrap_or_else(lamina_backend_cpu::device)
    }
}

/// `{prefix.}{i}.input_observer.{name}`.
fn observer_name(prefix: &str, at: usize, name: &str) -> String {
    prefixed(prefix, &format!("{at}.input_observer.{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::model::Float;

    #[test]
    fn folded_weights_are_the_static_paths_bit_for_bit() -> Result<()> {
        let dev = lamina_backend_cpu::device();
        let conv = Conv2d::builder(3, 5, 3).seed(4).build(&dev)?;
        let mut bn = BatchNorm2d::new(5, &dev)?;
        bn.weight = Some(Tensor::randn(5, [5], DType::F32, &dev)?);
        let model = Sequential::new().add(conv).add(bn);
        // Training-mode batches give the running statistics values far from 0 and 1.
        for s in 0..3 {
            model.forward(
                &Tensor::randn(10 + s, [4, 3, 6, 6], DType::F32, &dev)?.affine(3.0, 1.0)?,
            )?;
        }
        let layers = model.layers();
        let c = layers[0]
            .as_any()
            .and_then(|a| a.downcast_ref::<Conv2d>())
            .unwrap();
        let bn = layers[1]
            .as_any()
            .and_then(|a| a.downcast_ref::<BatchNorm2d>())
            .unwrap();
        let (folded, _) = fold(c, bn)?;
        let Float::Conv { w, .. } = &plan(&model)?[0] else {
            panic!("the plan starts with the convolution");
        };
        assert_eq!(&folded.to_vec::<f32>()?, w);
        Ok(())
    }
}

//! Whole models: a trained `Sequential` read layer by layer into a plan (each
//! `BatchNorm2d` folded into the convolution before it, each `ReLU` after a convolution or
//! linear layer fused into it, dropout dropped: inference), calibrated on sample batches
//! (static quantisation) or not (dynamic), and converted into a [`QuantizedModel`] of int8
//! layers that saves to and loads from safetensors (i8 weights, f32 scales and biases,
//! the input parameters, and the layer list in the file's metadata). Quantisation-aware
//! training (`qat.rs`) converts through the same plan and `convert_plan`, with the
//! ranges it observed while training.

use lamina_nn::{
    BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, Module, Padding, Relu, Sequential,
};
use lamina_tensor::{Error, Result, Tensor};
use serde::{Deserialize, Serialize};

use super::layers::{QConv2d, QLinear, QWeight};
use super::{Observed, Observer, QParams};

/// A layer of the float plan (f32, batch norms folded, ReLUs fused).
#[derive(Clone, Debug)]
pub(super) enum Float {
    Linear {
        w: Vec<f32>,
        b: Option<Vec<f32>>,
        out: usize,
        k: usize,
        relu: bool,
    },
    Conv {
        w: Vec<f32>,
        b: Option<Vec<f32>>,
        geo: ConvGeo,
    },
    MaxPool(PoolGeo),
    Flatten {
        start: isize,
        end: isize,
    },
    Relu,
}

/// A convolution's shape and options (groups 1).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub(super) struct ConvGeo {
    pub(super) out: usize,
    pub(super) in_channels: usize,
    pub(super) kernel: [usize; 2],
    pub(super) stride: [usize; 2],
    pub(super) padding: [usize; 2],
    pub(super) dilation: [usize; 2],
    pub(super) relu: bool,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub(super) struct PoolGeo {
    pub(super) kernel: [usize; 2],
    pub(super) stride: [usize; 2],
    pub(super) padding: [usize; 2],
    pub(super) dilation: [usize; 2],
    pub(super) ceil_mode: bool,
}

impl PoolGeo {
    fn layer(&self) -> MaxPool2d {
        MaxPool2d::new(self.kernel)
            .with_stride(self.stride)
            .with_padding(self.padding)
            .with_dilation(self.dilation)
            .with_ceil_mode(self.ceil_mode)
    }
}

pub(super) fn unsupported(what: &str) -> Error {
    Error::Invalid {
        op: "quantize",
        msg: format!(
            "layer {what} cannot be quantised (supported: Linear, Conv2d with groups 1, \
             BatchNorm2d after a Conv2d, ReLU, MaxPool2d, Flatten, Dropout)"
        ),
    }
}

pub(super) fn host(t: &Tensor) -> Result<Vec<f32>> {
    t.to_dtype(lamina_tensor::DType::F32)?.to_vec::<f32>()
}

/// Reads `model`'s layers into the float plan.
pub(super) fn plan(model: &Sequential) -> Result<Vec<Float>> {
    let mut out: Vec<Float> = Vec::new();
    for layer in model.layers() {
        let any = layer.as_any().ok_or_else(|| unsupported(&layer.name()))?;
        if let Some(l) = any.downcast_ref::<Linear>() {
            let (o, k) = (l.weight.dims()[0], l.weight.dims()[1]);
            let b = l.bias.as_ref().map(host).transpose()?;
            out.push(Float::Linear {
                w: host(&l.weight)?,
                b,
                out: o,
                k,
                relu: false,
            });
        } else if let Some(c) = any.downcast_ref::<Conv2d>() {
            let d = c.weight.dims();
            if c.groups != 1 {
                return Err(unsupported(&c.name()));
            }
            let padding = match c.padding {
                Padding::Explicit(p) => p,
                Padding::Valid => [0, 0],
                Padding::Same if c.stride == [1, 1] && d[2] % 2 == 1 && d[3] % 2 == 1 => [
                    c.dilation[0] * (d[2] - 1) / 2,
                    c.dilation[1] * (d[3] - 1) / 2,
                ],
                Padding::Same => return Err(unsupported(&c.name())),
            };
            let geo = ConvGeo {
                out: d[0],
                in_channels: d[1],
                kernel: [d[2], d[3]],
                stride: c.stride,
                padding,
                dilation: c.dilation,
                relu: false,
            };
            let b = c.bias.as_ref().map(host).transpose()?;
            out.push(Float::Conv {
                w: host(&c.weight)?,
                b,
                geo,
            });
        } else if let Some(bn) = any.downcast_ref::<BatchNorm2d>() {
            match out.last_mut() {
                // A ReLU between them would not commute with the batch norm's affine map.
                Some(Float::Conv { w, b, geo }) if !geo.relu => fold_batch_norm(bn, w, b, geo.out)?,
                _ => {
                    return Err(unsupported(&format!(
                        "{} (not directly after a Conv2d)",
                        bn.name()
                    )))
                }
            }
        } else if any.is::<Relu>() {
            match out.last_mut() {
                Some(Float::Linear { relu, .. })
                | Some(Float::Conv {
                    geo: ConvGeo { relu, .. },
                    ..
                }) if !*relu => *relu = true,
                _ => out.push(Float::Relu),
            }
        } else if let Some(p) = any.downcast_ref::<MaxPool2d>() {
            out.push(Float::MaxPool(PoolGeo {
                kernel: p.kernel,
                stride: p.stride,
                padding: p.padding,
                dilation: p.dilation,
                ceil_mode: p.ceil_mode,
            }));
        } else if let Some(f) = any.downcast_ref::<Flatten>() {
            out.push(Float::Flatten {
                start: f.start_dim,
                end: f.end_dim,
            });
        } else if any.is::<Dropout>() {
            // The identity at inference.
        } else {
            return Err(unsupported(&layer.name()));
        }
    }
    Ok(out)
}

/// Folds an evaluation-mode batch norm into the convolution before it:
/// `w' = w · γ / sqrt(var + eps)` per output channel, `b' = (b − mean) · γ / sqrt(var + eps) + β`.
fn fold_batch_norm(
    bn: &BatchNorm2d,
    w: &mut [f32],
    b: &mut Option<Vec<f32>>,
    oc: usize,
) -> Result<()> {
    let (mean, var) = bn.running_stats().ok_or_else(|| Error::Invalid {
        op: "quantize",
        msg: format!("{} tracks no running statistics to fold", bn.name()),
    })?;
    let (mean, var) = (host(&mean)?, host(&var)?);
    let gamma = bn
        .weight
        .as_ref()
        .map(host)
        .transpose()?
        .unwrap_or(vec![1.0; oc]);
    let beta = bn
        .bias
        .as_ref()
        .map(host)
        .transpose()?
        .unwrap_or(vec![0.0; oc]);
    if mean.len() != oc {
        return Err(Error::Invalid {
            op: "quantize",
            msg: format!(
                "{} has {} channels, the convolution before it {oc}",
                bn.name(),
                mean.len()
            ),
        });
    }
    let per = w.len() / oc;
    let bias = b.get_or_insert_with(|| vec![0.0; oc]);
    for j in 0..oc {
        let f = gamma[j] as f64 / (var[j] as f64 + bn.eps).sqrt();
        for v in &mut w[j * per..(j + 1) * per] {
            *v = (*v as f64 * f) as f32;
        }
        bias[j] = ((bias[j] as f64 - mean[j] as f64) * f + beta[j] as f64) as f32;
    }
    Ok(())
}

/// The f32 forward of one plan layer on `x`.
fn float_forward(layer: &Float, x: &Tensor) -> Result<Tensor> {
    let dev = x.device();
    match layer {
        Float::Linear { w, b, out, k, relu } => {
            let wt = Tensor::from_vec(w.clone(), [*out, *k], dev)?;
            let mut y = x.matmul(&wt.t()?)?;
            if let Some(b) = b {
                y = (&y + &Tensor::from_vec(b.clone(), [*out], dev)?)?;
            }
            if *relu {
                y.relu()
            } else {
                Ok(y)
            }
        }
        Float::Conv { w, b, geo } => {
            let k = [geo.out, geo.in_channels, geo.kernel[0], geo.kernel[1]];
            let w = Tensor::from_vec(w.clone(), k, dev)?;
            let b = b
                .as_ref()
                .map(|b| Tensor::from_vec(b.clone(), [geo.out], dev))
                .transpose()?;
            let y = lamina_nn::functional::conv2d(
                x,
                &w,
                b.as_ref(),
                geo.stride,
                geo.padding,
                geo.dilation,
                1,
            )?;
            if geo.relu {
                y.relu()
            } else {
                Ok(y)
            }
        }
        Float::MaxPool(p) => p.layer().forward(x),
        Float::Flatten { start, end } => x.flatten(*start, *end),
        Float::Relu => x.relu(),
    }
}

/// Static quantisation's calibration: the float plan of a model and an observer at the
/// input of each linear and convolution layer (PyTorch's `prepare`).
///
/// ```
/// use lamina::nn::{Linear, Relu, Sequential};
/// use lamina::prelude::*;
/// use lamina::quant::{Calibrator, Observer};
/// let dev = Device::cpu();
/// let model = Sequential::new()
///     .add(Linear::builder(4, 3).seed(1).build(&dev)?)
///     .add(Relu);
/// let batches = [Tensor::from_vec((0..8).map(|i| i as f32 / 4.0 - 1.0).collect::<Vec<_>>(), [2, 4], &dev)?];
/// let mut cal = Calibrator::new(&model, Observer::MinMax)?;
/// for x in &batches {
///     cal.observe(x)?;
/// }
/// let int8 = cal.convert()?; // PyTorch's `convert`
/// assert_eq!(int8.describe(), ["QLinear+ReLU"]);
/// assert_eq!(int8.forward(&batches[0])?.dims(), &[2, 3]);
/// # Ok::<(), lamina::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Calibrator {
    layers: Vec<Float>,
    observed: Vec<Option<Observed>>,
}

impl Calibrator {
    /// The plan of `model` (an error names the first layer it cannot quantise).
    pub fn new(model: &Sequential, observer: Observer) -> Result<Calibrator> {
        let layers = plan(model)?;
        let observed = layers
            .iter()
            .map(|l| match l {
                Float::Linear { .. } | Float::Conv { .. } => Some(Observed::new(observer)),
                Float::MaxPool(_) | Float::Flatten { .. } | Float::Relu => None,
            })
            .collect();
        Ok(Calibrator { layers, observed })
    }

    /// Runs the float plan on a batch, recording each quantised layer's input; returns
    /// the plan's output (the folded float model's, for comparison).
    pub fn observe(&mut self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for (layer, obs) in self.layers.iter().zip(&mut self.observed) {
            if let Some(o) = obs {
                o.observe(&host(&x)?);
            }
            x = float_forward(layer, &x)?;
        }
        Ok(x)
    }

    /// The int8 model: weights quantised per channel, each layer's input with the
    /// parameters its observer chose. Errors if nothing was observed.
    pub fn convert(&self) -> Result<QuantizedModel> {
        let inputs = self
            .observed
            .iter()
            .flatten()
            .map(|o| {
                o.qparams().ok_or_else(|| Error::Invalid {
                    op: "quantize",
                    msg: "convert before any calibration batch was observed".into(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        convert_plan(&self.layers, &inputs)
    }
}

/// Static quantisation's last step (PyTorch's `convert`): the int8 model of a float plan,
/// each linear or convolution layer's input quantised with `inputs[i]`, `i` counting
/// those layers in order. Calibration and quantisation-aware training both end here.
pub(super) fn convert_plan(layers: &[Float], inputs: &[QParams]) -> Result<QuantizedModel> {
    let quantised = |l: &&Float| match l {
        Float::Linear { .. } | Float::Conv { .. } => true,
        Float::MaxPool(_) | Float::Flatten { .. } | Float::Relu => false,
    };
    let want = layers.iter().filter(quantised).count();
    if inputs.len() != want {
        return Err(Error::Invalid {
            op: "quantize",
            msg: format!("{} input ranges for {want} quantised layers", inputs.len()),
        });
    }
    let mut next = inputs.iter().copied();
    let stages = layers
        .iter()
        .map(|l| quantized(l, if quantised(&l) { next.next() } else { None }))
        .collect();
    Ok(QuantizedModel { stages })
}

/// The int8 form of a plan layer (`input` `None`: dynamic).
fn quantized(layer: &Float, input: Option<QParams>) -> Stage {
    match layer {
        Float::Linear { w, b, out, k, relu } => Stage::Linear(QLinear {
            weight: QWeight::quantize(w, *out, *k),
            bias: b.clone(),
            input,
            relu: *relu,
        }),
        Float::Conv { w, b, geo } => Stage::Conv(qconv(
            geo,
            QWeight::quantize(w, geo.out, w.len() / geo.out),
            b.clone(),
            input,
        )),
        Float::MaxPool(_) | Float::Flatten { .. } | Float::Relu => Stage::Float(layer.clone()),
    }
}

pub(super) fn qconv(
    geo: &ConvGeo,
    weight: QWeight,
    bias: Option<Vec<f32>>,
    input: Option<QParams>,
) -> QConv2d {
    QConv2d {
        weight,
        bias,
        in_channels: geo.in_channels,
        kernel: geo.kernel,
        stride: geo.stride,
        padding: geo.padding,
        dilation: geo.dilation,
        input,
        relu: geo.relu,
    }
}

/// Dynamic quantisation (PyTorch's `quantize_dynamic`): the linear layers' weights in
/// int8, each batch's activations quantised by their own range on the fly; convolutions
/// stay f32 (with their batch norms folded), as PyTorch's default leaves them.
pub fn quantize_dynamic(model: &Sequential) -> Result<QuantizedModel> {
    let stages = plan(model)?
        .iter()
        .map(|l| match l {
            Float::Linear { .. } => quantized(l, None),
            Float::Conv { .. } | Float::MaxPool(_) | Float::Flatten { .. } | Float::Relu => {
                Stage::Float(l.clone())
            }
        })
        .collect();
    Ok(QuantizedModel { stages })
}

/// One layer of a quantised model.
#[derive(Clone, Debug)]
pub(super) enum Stage {
    Linear(QLinear),
    Conv(QConv2d),
    Float(Float),
}

/// An int8 model for CPU inference: f32 in, f32 out.
#[derive(Clone, Debug)]
pub struct QuantizedModel {
    pub(super) stages: Vec<Stage>,
}

/// An inference-only module (nothing to train), so `predict` and other code over `Module`
/// run int8 models too.
impl Module for QuantizedModel {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        QuantizedModel::forward(self, x)
    }
    fn visit<'a>(&'a self, _: &str, _: &mut dyn FnMut(String, &'a Tensor)) {}
    fn visit_mut<'a>(&'a mut self, _: &str, _: &mut dyn FnMut(String, &'a mut Tensor)) {}
    fn set_training(&mut self, _: bool) {}
}

impl QuantizedModel {
    /// The model's output for `x` (on the CPU; the result on `x`'s device).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for s in &self.stages {
            x = match s {
                Stage::Linear(l) => l.forward(&x)?,
                Stage::Conv(c) => c.forward(&x)?,
                Stage::Float(f) => float_forward(f, &x)?,
            };
        }
        Ok(x)
    }

    /// The input parameters of the int8 layers (`QLinear`, `QConv2d`) in order: those
    /// calibration or quantisation-aware training chose, `None` for a dynamic layer.
    pub fn input_qparams(&self) -> Vec<Option<QParams>> {
        self.stages
            .iter()
            .filter_map(|s| match s {
                Stage::Linear(l) => Some(l.input),
                Stage::Conv(c) => Some(c.input),
                Stage::Float(_) => None,
            })
            .collect()
    }

    /// The layers, as names (`QConv2d+ReLU`, `MaxPool2d`, ...), for reports.
    pub fn describe(&self) -> Vec<String> {
        self.stages
            .iter()
            .map(|s| {
                let r = |on: bool| if on { "+ReLU" } else { "" };
                match s {
                    Stage::Linear(l) => format!(
                        "QLinear{}{}",
                        r(l.relu),
                        if l.input.is_none() { " (dynamic)" } else { "" }
                    ),
                    Stage::Conv(c) => format!("QConv2d{}", r(c.relu)),
                    Stage::Float(Float::Linear { relu, .. }) => format!("Linear{}", r(*relu)),
                    Stage::Float(Float::Conv { geo, .. }) => format!("Conv2d{}", r(geo.relu)),
                    Stage::Float(Float::MaxPool(_)) => "MaxPool2d".into(),
                    Stage::Float(Float::Flatten { .. }) => "Flatten".into(),
                    Stage::Float(Float::Relu) => "ReLU".into(),
                }
            })
            .collect()
    }
}

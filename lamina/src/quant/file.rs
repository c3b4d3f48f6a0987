//! Int8 models in safetensors files: `{i}.weight` (I8 for the int8 layers, F32 for the
//! float ones), `{i}.weight_scale`, `{i}.bias`, `{i}.input_scale` and
//! `{i}.input_zero_point` for layer `i`, and the layer list (kinds and geometry) as JSON in
//! the file's metadata. Written atomically; read with every tensor's dtype and size
//! checked, so a foreign or corrupt file is an error naming it.

use std::collections::HashMap;
use std::path::Path;

use lamina_tensor::{Error, Result};
use serde::{Deserialize, Serialize};

use super::layers::{QLinear, QWeight};
use super::model::{qconv, ConvGeo, Float, PoolGeo, QuantizedModel, Stage};
use super::QParams;

/// The layer list in a file's metadata.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Desc {
    QLinear {
        out: usize,
        k: usize,
        relu: bool,
        dynamic: bool,
        bias: bool,
    },
    QConv {
        geo: ConvGeo,
        dynamic: bool,
        bias: bool,
    },
    Linear {
        out: usize,
        k: usize,
        relu: bool,
        bias: bool,
    },
    Conv {
        geo: ConvGeo,
        bias: bool,
    },
    MaxPool {
        geo: PoolGeo,
    },
    Flatten {
        start: isize,
        end: isize,
    },
    Relu,
}

/// An I/O error naming the file.
fn file_error(path: &Path, e: std::io::Error) -> Error {
    Error::Context {
        context: path.display().to_string(),
        source: Box::new(Error::Io(e)),
    }
}

/// The metadata key holding the layer list.
const LAYERS_KEY: &str = "lamina.quantized.layers";

impl QuantizedModel {
    /// Saves the model as safetensors, atomically (a temporary file renamed over
    /// `path`): `{i}.weight` (I8 for int8 layers), `{i}.weight_scale`, `{i}.bias`,
    /// `{i}.input_scale` and `{i}.input_zero_point`, the layer list in the metadata.
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<()> {
        use safetensors::tensor::{Dtype, TensorView};
        let path = path.as_ref();
        let mut descs = Vec::new();
        let mut blobs: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let put_input = |i: usize, q: Option<QParams>, blobs: &mut Vec<_>| {
            if let Some(q) = q {
                blobs.push((
                    format!("{i}.input_scale"),
                    Dtype::F32,
                    vec![1],
                    q.scale.to_le_bytes().to_vec(),
                ));
                blobs.push((
                    format!("{i}.input_zero_point"),
                    Dtype::I32,
                    vec![1],
                    q.zero_point.to_le_bytes().to_vec(),
                ));
            }
        };
        // An int8 layer's tensors: the weight in `shape`, its per-channel scales, the bias
        // and the input's parameters.
        let put_layer = |i: usize,
                         w: &QWeight,
                         shape: Vec<usize>,
                         bias: Option<&[f32]>,
                         input: Option<QParams>,
                         blobs: &mut Vec<_>| {
            blobs.push((
                format!("{i}.weight"),
                Dtype::I8,
                shape,
                w.q.iter().map(|&v| v as u8).collect(),
            ));
            blobs.push((
                format!("{i}.weight_scale"),
                Dtype::F32,
                vec![w.out],
                f32s(&w.scales),
            ));
            if let Some(b) = bias {
                blobs.push((format!("{i}.bias"), Dtype::F32, vec![w.out], f32s(b)));
            }
            put_input(i, input, blobs);
        };
        for (i, s) in self.stages.iter().enumerate() {
            match s {
                Stage::Linear(l) => {
                    let w = &l.weight;
                    descs.push(Desc::QLinear {
                        out: w.out,
                        k: w.k,
                        relu: l.relu,
                        dynamic: l.input.is_none(),
                        bias: l.bias.is_some(),
                    });
                    let shape = vec![w.out, w.k];
                    put_layer(i, w, shape, l.bias.as_deref(), l.input, &mut blobs);
                }
                Stage::Conv(c) => {
                    let w = &c.weight;
                    let geo = ConvGeo {
                        out: w.out,
                        in_channels: c.in_channels,
                        kernel: c.kernel,
                        stride: c.stride,
                        padding: c.padding,
                        dilation: c.dilation,
                        relu: c.relu,
                    };
                    descs.push(Desc::QConv {
                        geo,
                        dynamic: c.input.is_none(),
                        bias: c.bias.is_some(),
                    });
                    let shape = vec![w.out, c.in_channels, c.kernel[0], c.kernel[1]];
                    put_layer(i, w, shape, c.bias.as_deref(), c.input, &mut blobs);
                }
                Stage::Float(Float::Linear { w, b, out, k, relu }) => {
                    descs.push(Desc::Linear {
                        out: *out,
                        k: *k,
                        relu: *relu,
                        bias: b.is_some(),
                    });
                    blobs.push((format!("{i}.weight"), Dtype::F32, vec![*out, *k], f32s(w)));
                    if let Some(b) = b {
                        blobs.push((format!("{i}.bias"), Dtype::F32, vec![*out], f32s(b)));
                    }
                }
                Stage::Float(Float::Conv { w, b, geo }) => {
                    descs.push(Desc::Conv {
                        geo: *geo,
                        bias: b.is_some(),
                    });
                    blobs.push((
                        format!("{i}.weight"),
                        Dtype::F32,
                        vec![geo.out, geo.in_channels, geo.kernel[0], geo.kernel[1]],
                        f32s(w),
                    ));
                    if let Some(b) = b {
                        blobs.push((format!("{i}.bias"), Dtype::F32, vec![geo.out], f32s(b)));
                    }
                }
                Stage::Float(Float::MaxPool(p)) => descs.push(Desc::MaxPool { geo: *p }),
                Stage::Float(Float::Flatten { start, end }) => descs.push(Desc::Flatten {
                    start: *start,
                    end: *end,
                }),
                Stage::Float(Float::Relu) => descs.push(Desc::Relu),
            }
        }
        let io = |e: std::io::Error| file_error(path, e);
        let bad = |e: safetensors::SafeTensorError| Error::Invalid {
            op: "save_safetensors",
            msg: e.to_string(),
        };
        let views = blobs
            .iter()
            .map(|(n, d, s, b)| Ok((n.clone(), TensorView::new(*d, s.clone(), b).map_err(bad)?)))
            .collect::<Result<Vec<_>>>()?;
        let json = serde_json::to_string(&descs).map_err(|e| Error::Invalid {
            op: "save_safetensors",
            msg: e.to_string(),
        })?;
        let meta: HashMap<String, String> = [(LAYERS_KEY.to_string(), json)].into();
        let bytes = safetensors::serialize(views, Some(meta)).map_err(bad)?;
        let tmp = path.with_extension("safetensors.tmp");
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Loads a model saved by [`save_safetensors`](Self::save_safetensors); a missing or
    /// corrupt file, or one that is not a Lamina int8 model, is an error naming it.
    pub fn load_safetensors(path: impl AsRef<Path>) -> Result<QuantizedModel> {
        use safetensors::tensor::Dtype;
        let path = path.as_ref();
        let name = path.display().to_string();
        let bad = |msg: String| Error::Invalid {
            op: "load_safetensors",
            msg: format!("{name}: {msg}"),
        };
        let bytes = std::fs::read(path).map_err(|e| file_error(path, e))?;
        let (_, meta) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let json = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get(LAYERS_KEY))
            .ok_or_else(|| {
                bad(format!(
                    "no `{LAYERS_KEY}` metadata: not a Lamina int8 model"
                ))
            })?;
        let descs: Vec<Desc> = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        let get = |key: String, dtype: Dtype, len: usize| -> Result<Vec<u8>> {
            let t = st
                .tensor(&key)
                .map_err(|_| bad(format!("missing tensor `{key}`")))?;
            let size = match dtype {
                Dtype::I8 => 1,
                _ => 4,
            };
            if t.dtype() != dtype || t.data().len() != len * size {
                return Err(bad(format!(
                    "`{key}` is {:?} {:?}, expected {dtype:?} of {len} elements",
                    t.dtype(),
                    t.shape()
                )));
            }
            Ok(t.data().to_vec())
        };
        let f32v = |b: Vec<u8>| {
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect::<Vec<f32>>()
        };
        let bias = |i: usize, has: bool, out: usize| -> Result<Option<Vec<f32>>> {
            if has {
                Ok(Some(f32v(get(format!("{i}.bias"), Dtype::F32, out)?)))
            } else {
                Ok(None)
            }
        };
        let input = |i: usize, dynamic: bool| -> Result<Option<QParams>> {
            if dynamic {
                return Ok(None);
            }
            let s = f32v(get(format!("{i}.input_scale"), Dtype::F32, 1)?)[0];
            let z = get(format!("{i}.input_zero_point"), Dtype::I32, 1)?;
            let z = i32::from_le_bytes([z[0], z[1], z[2], z[3]]);
            if !(s > 0.0 && s.is_finite() && (0..=255).contains(&z)) {
                return Err(bad(format!(
                    "layer {i}: input scale {s}, zero point {z} out of range"
                )));
            }
            Ok(Some(QParams {
                scale: s,
                zero_point: z,
            }))
        };
        let mut stages = Vec::with_capacity(descs.len());
        for (i, d) in descs.into_iter().enumerate() {
            stages.push(match d {
                Desc::QLinear {
                    out,
                    k,
                    relu,
                    dynamic,
                    bias: has,
                } => {
                    let q = get(format!("{i}.weight"), Dtype::I8, out * k)?
                        .into_iter()
                        .map(|v| v as i8)
                        .collect();
                    let scales = f32v(get(format!("{i}.weight_scale"), Dtype::F32, out)?);
                    Stage::Linear(QLinear {
                        weight: QWeight::from_parts(q, scales, out, k),
                        bias: bias(i, has, out)?,
                        input: input(i, dynamic)?,
                        relu,
                    })
                }
                Desc::QConv {
                    geo,
                    dynamic,
                    bias: has,
                } => {
                    let k = geo.in_channels * geo.kernel[0] * geo.kernel[1];
                    let q = get(format!("{i}.weight"), Dtype::I8, geo.out * k)?
                        .into_iter()
                        .map(|v| v as i8)
                        .collect();
                    let scales = f32v(get(format!("{i}.weight_scale"), Dtype::F32, geo.out)?);
                    Stage::Conv(qconv(
                        &geo,
                        QWeight::from_parts(q, scales, geo.out, k),
                        bias(i, has, geo.out)?,
                        input(i, dynamic)?,
                    ))
                }
                Desc::Linear {
                    out,
                    k,
                    relu,
                    bias: has,
                } => Stage::Float(Float::Linear {
                    w: f32v(get(format!("{i}.weight"), Dtype::F32, out * k)?),
                    b: bias(i, has, out)?,
                    out,
                    k,
                    relu,
                }),
                Desc::Conv { geo, bias: has } => {
                    let k = geo.in_channels * geo.kernel[0] * geo.kernel[1];
                    Stage::Float(Float::Conv {
                        w: f32v(get(format!("{i}.weight"), Dtype::F32, geo.out * k)?),
                        b: bias(i, has, geo.out)?,
                        geo,
                    })
                }
                Desc::MaxPool { geo } => Stage::Float(Float::MaxPool(geo)),
                Desc::Flatten { start, end } => Stage::Float(Float::Flatten { start, end }),
                Desc::Relu => Stage::Float(Float::Relu),
            });
        }
        Ok(QuantizedModel { stages })
    }
}

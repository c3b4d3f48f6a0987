//! Optimizer state: the serialisable [`OptimizerState`] (per-parameter step counts and
//! buffers as shape, dtype and values) and the crate-internal [`Slots`] that hold the live
//! buffers as tensors, created lazily at a parameter's first step.
//!
//! State is keyed by a parameter's *position* in the slice passed to `step`, as PyTorch's
//! `state_dict` keys it by position in the parameter list. A loaded state stays on the host
//! until the next step, where it is checked against the parameter it belongs to (shape and
//! dtype) and moved to that parameter's device: `load_state` needs no parameters.

use std::collections::BTreeMap;

use lamina_tensor::{DType, Device, Error, HostData, Result, Shape, Tensor};
use serde::{Deserialize, Serialize};

/// A tensor's values on the host, as `(shape, dtype, values)`: what a buffer serialises to.
///
/// `values` are row-major and held as `f64`, which represents every `f32` and `f64`
/// exactly, so a round trip reproduces the buffer bit for bit. `dtype` is `"f32"` or
/// `"f64"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorData {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// `"f32"` or `"f64"`.
    pub dtype: String,
    /// The elements in row-major order.
    pub values: Vec<f64>,
}

impl TensorData {
    /// Copies a float tensor's values to the host.
    pub fn from_tensor(t: &Tensor) -> Result<TensorData> {
        if !t.dtype().is_float() {
            return Err(Error::UnsupportedDType {
                op: "TensorData::from_tensor",
                dtype: t.dtype(),
            });
        }
        Ok(TensorData {
            shape: t.dims().to_vec(),
            dtype: t.dtype().as_str().to_string(),
            values: t.to_f64_vec()?,
        })
    }

    /// The dtype named by `dtype` (`"f32"` or `"f64"`).
    pub fn parsed_dtype(&self) -> Result<DType> {
        match self.dtype.as_str() {
            "f32" => Ok(DType::F32),
            "f64" => Ok(DType::F64),
            other => Err(Error::Invalid {
                op: "TensorData",
                msg: format!("unknown dtype `{other}`, expected `f32` or `f64`"),
            }),
        }
    }

    /// Checks that the dtype parses and `values` fills `shape`.
    pub fn validate(&self) -> Result<()> {
        self.parsed_dtype()?;
        let expected: usize = self.shape.iter().product();
        if self.values.len() != expected {
            return Err(Error::ElementCount {
                op: "TensorData",
                len: self.values.len(),
                shape: Shape::from(self.shape.clone()),
                expected,
            });
        }
        Ok(())
    }

    /// A tensor with these values on `device`.
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        self.validate()?;
        let data = HostData::from_f64_vec(&self.values, self.parsed_dtype()?);
        Tensor::from_host(data, self.shape.clone(), device)
    }
}

/// The state of one parameter: how many updates it has had and its named buffers
/// (`"exp_avg"`, `"momentum_buffer"`, ... — PyTorch's names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamState {
    /// Updates applied to this parameter so far.
    pub step: u64,
    /// The optimizer's buffers by name.
    pub buffers: BTreeMap<String, TensorData>,
}

/// Everything an optimizer needs to resume exactly: its kind, current learning rate, and
/// per-parameter state by position (`None` for a parameter that has had no update yet).
///
/// Save it together with the optimizer's config (and the schedule, if any); loading it into
/// a fresh optimizer built from the same config continues the trajectory bit for bit.
///
/// ```
/// # use lamina_optim::OptimizerState;
/// let s = OptimizerState { optimizer: "Adam".into(), learning_rate: 1e-3, params: vec![] };
/// assert_eq!(OptimizerState::from_json(&s.to_json()?)?, s);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerState {
    /// The optimizer this state belongs to (`"SGD"`, `"Adam"`, `"AdamW"`, `"RMSprop"`,
    /// `"Adagrad"`).
    pub optimizer: String,
    /// The learning rate the next step uses (a schedule may have changed it).
    pub learning_rate: f64,
    /// State by the parameter's position in the slice passed to `step`.
    pub params: Vec<Option<ParamState>>,
}

impl OptimizerState {
    /// The state as JSON. Values are printed in shortest round-trip form, so
    /// [`from_json`](Self::from_json) restores them exactly. Non-finite values (a diverged
    /// run) cannot be written as JSON and give an error.
    pub fn to_json(&self) -> Result<String> {
        let finite = self.learning_rate.is_finite()
            && self.params.iter().flatten().all(|p| {
                p.buffers
                    .values()
                    .all(|b| b.values.iter().all(|v| v.is_finite()))
            });
        if !finite {
            return Err(Error::Invalid {
                op: "OptimizerState::to_json",
                msg: "the state holds a non-finite value, which JSON cannot represent".into(),
            });
        }
        serde_json::to_string(self).map_err(|e| Error::Invalid {
            op: "OptimizerState::to_json",
            msg: e.to_string(),
        })
    }

    /// Parses [`to_json`](Self::to_json)'s output (exactly: this crate enables
    /// `serde_json`'s `float_roundtrip`).
    pub fn from_json(json: &str) -> Result<OptimizerState> {
        serde_json::from_str(json).map_err(|e| Error::Invalid {
            op: "OptimizerState::from_json",
            msg: e.to_string(),
        })
    }
}

/// The `format` metadata value of [`OptimizerState::to_safetensors`] files.
pub const SAFETENSORS_FORMAT: &str = "lamina-optimizer-state/1";

/// The metadata key of the buffers' checksum: CRC-32 (IEEE) of every tensor's data bytes,
/// tensors in name order, as 8 hex digits; the same scheme as `lamina-nn`'s weight files.
const CHECKSUM_KEY: &str = "lamina.crc32";

/// CRC-32 of `parts`, one after the other.
fn crc32<'a>(parts: impl Iterator<Item = &'a [u8]>) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

impl OptimizerState {
    /// The state as a safetensors file: each buffer a tensor named `"{index}.{buffer}"` in
    /// its own dtype (f32 buffers take 4 bytes an element, not JSON's ~20), and in the
    /// string metadata the optimizer's name, the learning rate, the parameter count and
    /// each stateful parameter's step count (`"step.{index}"`), and a checksum of the
    /// buffers (`"lamina.crc32"`). Bit exact, non-finite values included (a diverged run
    /// can still be checkpointed and inspected).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        use safetensors::tensor::TensorView;
        use safetensors::Dtype;
        let bad = |msg: String| Error::Invalid {
            op: "OptimizerState::to_safetensors",
            msg,
        };
        let mut meta = std::collections::HashMap::from([
            ("format".to_string(), SAFETENSORS_FORMAT.to_string()),
            ("optimizer".to_string(), self.optimizer.clone()),
            // `{:?}` prints the shortest form that parses back to the same f64.
            (
                "learning_rate".to_string(),
                format!("{:?}", self.learning_rate),
            ),
            ("params".to_string(), self.params.len().to_string()),
        ]);
        let mut raw = Vec::new();
        for (i, p) in self.params.iter().enumerate() {
            let Some(p) = p else { continue };
            meta.insert(format!("step.{i}"), p.step.to_string());
            for (name, b) in &p.buffers {
                b.validate()?;
                let (dtype, bytes) = match b.parsed_dtype()? {
                    DType::F32 => (
                        Dtype::F32,
                        b.values
                            .iter()
                            .flat_map(|&v| (v as f32).to_le_bytes())
                            .collect::<Vec<u8>>(),
                    ),
                    _ => (
                        Dtype::F64,
                        b.values.iter().flat_map(|&v| v.to_le_bytes()).collect(),
                    ),
                };
                raw.push((format!("{i}.{name}"), dtype, b.shape.clone(), bytes));
            }
        }
        let mut by_name: Vec<&(String, Dtype, Vec<usize>, Vec<u8>)> = raw.iter().collect();
        by_name.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let checksum = crc32(by_name.iter().map(|r| r.3.as_slice()));
        meta.insert(CHECKSUM_KEY.to_string(), format!("{checksum:08x}"));
        let views = raw
            .iter()
            .map(|(name, dtype, shape, bytes)| {
                TensorView::new(*dtype, shape.clone(), bytes).map(|v| (name.as_str(), v))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        safetensors::serialize(views, Some(meta)).map_err(|e| bad(e.to_string()))
    }

    /// Parses [`to_safetensors`](Self::to_safetensors)'s output; a file that is not one
    /// (bad header, missing or malformed metadata, a tensor name that is not
    /// `"{index}.{buffer}"` with an index below the parameter count, another dtype, buffers
    /// that do not match the checksum) is an error naming what is wrong. States written
    /// before the checksum (no `"lamina.crc32"` key) load unchecked.
    pub fn from_safetensors(bytes: &[u8]) -> Result<OptimizerState> {
        use safetensors::{Dtype, SafeTensors};
        let bad = |msg: String| Error::Invalid {
            op: "OptimizerState::from_safetensors",
            msg,
        };
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let file = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let meta = header
            .metadata()
            .as_ref()
            .ok_or_else(|| bad("no metadata".into()))?;
        let get = |key: &str| {
            meta.get(key)
                .ok_or_else(|| bad(format!("metadata has no `{key}`")))
        };
        if get("format")? != SAFETENSORS_FORMAT {
            return Err(bad(format!(
                "format `{}`, expected `{SAFETENSORS_FORMAT}`",
                get("format")?
            )));
        }
        if let Some(recorded) = meta.get(CHECKSUM_KEY) {
            let mut names = file.names();
            names.sort_unstable();
            let data = names
                .iter()
                .map(|name| file.tensor(name).map(|v| v.data()))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| bad(e.to_string()))?;
            let actual = format!("{:08x}", crc32(data.into_iter()));
            if !actual.eq_ignore_ascii_case(recorded) {
                return Err(bad(format!(
                    "the buffers do not match their checksum (CRC-32 {actual}, the metadata \
                     records {recorded:?}): the state is damaged"
                )));
            }
        }
        let number = |key: &str| -> Result<u64> {
            get(key)?
                .parse()
                .map_err(|_| bad(format!("metadata `{key}` is not a whole number")))
        };
        let learning_rate: f64 = get("learning_rate")?
            .parse()
            .map_err(|_| bad("metadata `learning_rate` is not a number".into()))?;
        let count = usize::try_from(number("params")?)
            .map_err(|_| bad("metadata `params` is too large".into()))?;
        let mut params: Vec<Option<ParamState>> = Vec::new();
        params.resize_with(count, || None);
        for key in meta.keys() {
            if let Some(i) = key.strip_prefix("step.") {
                let i: usize = i
                    .parse()
                    .ok()
                    .filter(|&i| i < count)
                    .ok_or_else(|| bad(format!("metadata key `{key}` names no parameter")))?;
                params[i] = Some(ParamState {
                    step: number(key)?,
                    buffers: BTreeMap::new(),
                });
            }
        }
        for (name, view) in file.tensors() {
            let (i, buffer) = name
                .split_once('.')
                .and_then(|(i, b)| Some((i.parse::<usize>().ok()?, b)))
                .ok_or_else(|| bad(format!("tensor `{name}` is not named `index.buffer`")))?;
            let p = params
                .get_mut(i)
                .and_then(Option::as_mut)
                .ok_or_else(|| bad(format!("tensor `{name}` belongs to no stateful parameter")))?;
            let data = view.data();
            let (dtype, values) = match view.dtype() {
                Dtype::F32 => (
                    "f32",
                    data.chunks_exact(4)
                        .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                        .collect::<Vec<f64>>(),
                ),
                Dtype::F64 => (
                    "f64",
                    data.chunks_exact(8)
                        .map(|c| {
                            f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
                        })
                        .collect(),
                ),
                other => return Err(bad(format!("tensor `{name}` has dtype {other:?}"))),
            };
            p.buffers.insert(
                buffer.to_string(),
                TensorData {
                    shape: view.shape().to_vec(),
                    dtype: dtype.to_string(),
                    values,
                },
            );
        }
        Ok(OptimizerState {
            optimizer: get("optimizer")?.clone(),
            learning_rate,
            params,
        })
    }
}

/// The live state of one parameter. `buffers` follow the order of the optimizer's buffer
/// names.
pub(crate) struct Slot {
    /// Updates applied so far.
    pub step: u64,
    /// One tensor per buffer name, in the optimizer's order.
    pub buffers: Vec<Tensor>,
}

/// The error for a slot whose buffers do not match the optimizer's names (a bug: `Slots`
/// builds every live slot from those names).
pub(crate) fn layout_error(op: &'static str, index: usize) -> Error {
    Error::Invalid {
        op,
        msg: format!("parameter {index}: internal error, unexpected optimizer state layout"),
    }
}

enum Entry {
    Empty,
    Loaded(ParamState),
    Live(Slot),
}

/// Per-parameter state by position, created lazily.
#[derive(Default)]
pub(crate) struct Slots {
    entries: Vec<Entry>,
}

fn mismatch(
    op: &'static str,
    index: usize,
    param: &Tensor,
    name: &str,
    shape: &Shape,
    dtype: DType,
) -> Error {
    Error::Invalid {
        op,
        msg: format!(
            "parameter {index} has shape {} ({}) but its state `{name}` has shape {shape} ({dtype})",
            param.shape(),
            param.dtype(),
        ),
    }
}

impl Slots {
    /// Errors unless the state held for parameter `index` (if any) fits `param`: same
    /// shape and dtype for every buffer. Run for every parameter before any is updated, so
    /// a bad call changes nothing.
    pub fn check(
        &self,
        op: &'static str,
        index: usize,
        param: &Tensor,
        names: &[&'static str],
    ) -> Result<()> {
        match self.entries.get(index) {
            None | Some(Entry::Empty) => Ok(()),
            Some(Entry::Live(slot)) => {
                for (buf, name) in slot.buffers.iter().zip(names) {
                    if buf.shape() != param.shape() || buf.dtype() != param.dtype() {
                        return Err(mismatch(op, index, param, name, buf.shape(), buf.dtype()));
                    }
                }
                Ok(())
            }
            Some(Entry::Loaded(state)) => {
                for (name, data) in &state.buffers {
                    let dtype = data.parsed_dtype()?;
                    if data.shape != param.dims() || dtype != param.dtype() {
                        let shape = Shape::from(data.shape.clone());
                        return Err(mismatch(op, index, param, name, &shape, dtype));
                    }
                }
                Ok(())
            }
        }
    }

    /// The live state of parameter `index`: built by `init` at its first step, or moved to
    /// `param`'s device from loaded state. `names` are the buffers the optimizer keeps.
    pub fn get(
        &mut self,
        op: &'static str,
        index: usize,
        param: &Tensor,
        names: &[&'static str],
        init: impl FnOnce() -> Result<Vec<Tensor>>,
    ) -> Result<&mut Slot> {
        self.check(op, index, param, names)?;
        if self.entries.len() <= index {
            self.entries.resize_with(index + 1, || Entry::Empty);
        }
        let entry = &mut self.entries[index];
        match entry {
            Entry::Live(_) => {}
            Entry::Empty => {
                let buffers = init()?;
                if buffers.len() != names.len() {
                    return Err(layout_error(op, index));
                }
                *entry = Entry::Live(Slot { step: 0, buffers });
            }
            Entry::Loaded(state) => {
                let buffers = names
                    .iter()
                    .map(|n| match state.buffers.get(*n) {
                        Some(data) => data.to_tensor(param.device()),
                        None => Err(layout_error(op, index)),
                    })
                    .collect::<Result<Vec<_>>>()?;
                *entry = Entry::Live(Slot {
                    step: state.step,
                    buffers,
                });
            }
        }
        match entry {
            Entry::Live(slot) => Ok(slot),
            _ => Err(layout_error(op, index)),
        }
    }

    /// The live state of parameter `index`, if it has been built already (not loaded state
    /// still waiting for its first step).
    pub fn existing_mut(&mut self, index: usize) -> Option<&mut Slot> {
        match self.entries.get_mut(index) {
            Some(Entry::Live(slot)) => Some(slot),
            _ => None,
        }
    }

    /// The state in its serialisable form; `names` label the live buffers.
    pub fn export(&self, names: &[&'static str]) -> Result<Vec<Option<ParamState>>> {
        self.entries
            .iter()
            .map(|e| match e {
                Entry::Empty => Ok(None),
                Entry::Loaded(state) => Ok(Some(state.clone())),
                Entry::Live(slot) => {
                    let buffers = names
                        .iter()
                        .zip(&slot.buffers)
                        .map(|(n, t)| Ok((n.to_string(), TensorData::from_tensor(t)?)))
                        .collect::<Result<BTreeMap<_, _>>>()?;
                    Ok(Some(ParamState {
                        step: slot.step,
                        buffers,
                    }))
                }
            })
            .collect()
    }

    /// Replaces the state with `params` after checking each parameter's entry holds exactly
    /// the buffers `names`, each well formed. On error nothing changes.
    pub fn load(
        &mut self,
        op: &'static str,
        params: Vec<Option<ParamState>>,
        names: &[&'static str],
    ) -> Result<()> {
        for (index, state) in params.iter().enumerate() {
            let Some(state) = state else { continue };
            let have: Vec<&str> = state.buffers.keys().map(String::as_str).collect();
            let mut want: Vec<&str> = names.to_vec();
            want.sort_unstable();
            if have != want {
                return Err(Error::Invalid {
                    op,
                    msg: format!(
                        "parameter {index}: the state holds buffers {have:?}, this optimizer's \
                         config needs {want:?}"
                    ),
                });
            }
            for (name, data) in &state.buffers {
                data.validate().map_err(|e| Error::Invalid {
                    op,
                    msg: format!("parameter {index}: buffer `{name}`: {e}"),
                })?;
            }
        }
        self.entries = params
            .into_iter()
            .map(|s| s.map_or(Entry::Empty, Entry::Loaded))
            .collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_data_round_trips_f32_and_f64_exactly() -> Result<()> {
        let dev = lamina_backend_cpu::device();
        let f32s = Tensor::from_vec(vec![0.1f32, -3.3e-8, 7.0, f32::MIN_POSITIVE], [2, 2], &dev)?;
        let f64s = Tensor::from_vec(vec![0.1f64, -3.3e-300, 1.0 / 3.0], [3], &dev)?;
        for t in [f32s, f64s] {
            let data = TensorData::from_tensor(&t)?;
            let json = serde_json::to_string(&data).unwrap();
            let back: TensorData = serde_json::from_str(&json).unwrap();
            let u = back.to_tensor(&dev)?;
            assert_eq!(u.dtype(), t.dtype());
            assert_eq!(u.dims(), t.dims());
            assert_eq!(u.to_host()?, t.to_host()?);
        }
        Ok(())
    }

    #[test]
    fn malformed_tensor_data_is_an_error() {
        let dev = lamina_backend_cpu::device();
        let short = TensorData {
            shape: vec![2, 2],
            dtype: "f64".into(),
            values: vec![1.0; 3],
        };
        assert!(short.to_tensor(&dev).is_err());
        let int = TensorData {
            shape: vec![1],
            dtype: "i64".into(),
            values: vec![1.0],
        };
        assert!(int.validate().is_err());
    }
}

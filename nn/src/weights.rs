//! Weight files in the safetensors format, with PyTorch's parameter names, so a state
//! dict saved by `safetensors.torch.save_file(model.state_dict(), path)` loads into the
//! equivalent Lamina model and a Lamina file loads back into PyTorch.
//!
//! - Saving is atomic: the bytes go to a temporary file in the same directory, which is
//!   flushed to disk (`fsync`) and then renamed over the target, so a crash leaves the
//!   old file or the new one, never half of one.
//! - Loading is strict and all-or-nothing: every parameter must be in the file with the
//!   same shape and dtype, and the file must hold nothing else; everything is checked
//!   before the first parameter is written, so a failed load leaves the model as it was.
//!   Values are written in place (`Tensor::assign`): parameters keep their ids, and an
//!   optimizer holding them keeps working.
//! - Every error names the file, the tensor and both shapes or dtypes; a truncated file
//!   names the first tensor whose bytes are cut off.
//! - Files Lamina writes carry a checksum of their tensor data in the header's metadata
//!   ([`CHECKSUM_KEY`]), and loading checks it, so a damaged data section (a flipped
//!   bit still parses, as other values) is an error naming the file. Files without the
//!   key, such as PyTorch's, load as before; other readers ignore it.
//!
//! Dtypes: `F32`, `F64`, `I64`, `U32`, `Bool`, `F16` and `BF16` map to safetensors' `F32`,
//! `F64`, `I64`, `U32`, `BOOL`, `F16` and `BF16` (little-endian, as the format requires), so
//! PyTorch's half-precision checkpoints load bit for bit into a model built in that dtype
//! (`Linear::builder(..).dtype(DType::BF16)`); for an f32 model, read them with
//! [`load_tensors`] and cast with `to_dtype`, since loading never converts silently.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use lamina_tensor::{DType, Device, HostData, Shape, Tensor};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensorError, SafeTensors};

use crate::error::{dtype_name, Error, Result};
use crate::Module;

/// Writes `model`'s parameters to `path` under their PyTorch names.
///
/// ```
/// use lamina_nn::{weights, Linear, Module, Relu, Sequential};
/// let dev = lamina_backend_cpu::device();
/// let make = |seed| -> lamina_tensor::Result<Sequential> {
///     Ok(Sequential::new().add(Linear::builder(2, 3).seed(seed).build(&dev)?).add(Relu))
/// };
/// let path = std::env::temp_dir().join("lamina_doc_weights.safetensors");
/// let a = make(1)?;
/// weights::save_safetensors(&a, &path)?;
/// let mut b = make(2)?;                       // different init
/// b.load_safetensors(&path)?;                 // now equal to `a`
/// assert_eq!(a.parameters()[0].to_vec::<f32>()?, b.parameters()[0].to_vec::<f32>()?);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn save_safetensors<M: Module + ?Sized>(model: &M, path: impl AsRef<Path>) -> Result<()> {
    save_tensors(&model.state_dict(), path)
}

/// Loads `path` into `model`'s parameters in place (see the module docs for the rules).
pub fn load_safetensors<M: Module + ?Sized>(model: &mut M, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes = read(path)?;
    let file = parse(path, &bytes)?;
    // Parameters then buffers, by name, shape and dtype: everything is checked before
    // anything is written.
    let state = model.state_dict();

    let mut model_names = HashSet::new();
    for (name, _) in &state {
        if !model_names.insert(name.as_str()) {
            return Err(Error::DuplicateName {
                path: path.to_owned(),
                name: name.clone(),
            });
        }
    }
    let mut unmatched: Vec<&str> = file
        .names()
        .into_iter()
        .filter(|n| !model_names.contains(n))
        .collect();
    unmatched.sort_unstable();

    let mut values = HashMap::with_capacity(state.len());
    for (name, p) in &state {
        let Ok(view) = file.tensor(name) else {
            return Err(Error::MissingTensor {
                path: path.to_owned(),
                name: name.clone(),
                model: p.shape().clone(),
                unmatched: unmatched.iter().map(|s| s.to_string()).collect(),
            });
        };
        if view.shape() != p.dims() {
            return Err(Error::ShapeMismatch {
                path: path.to_owned(),
                name: name.clone(),
                file: Box::new(Shape::from(view.shape())),
                model: Box::new(p.shape().clone()),
            });
        }
        if from_st(view.dtype()) != Some(p.dtype()) {
            return Err(dtype_mismatch(path, name, &view, Some(p.dtype())));
        }
        let host = host_from_le(p.dtype(), view.data()).ok_or_else(|| Error::Format {
            path: path.to_owned(),
            msg: "tensor data does not fill its shape".into(),
        })?;
        values.insert(
            name.clone(),
            Tensor::from_host(host, p.shape().clone(), p.device())?,
        );
    }
    if let Some(name) = unmatched.first() {
        let shape = file
            .tensor(name)
            .map(|v| Shape::from(v.shape()))
            .unwrap_or_default();
        return Err(Error::UnexpectedTensor {
            path: path.to_owned(),
            name: name.to_string(),
            file: shape,
        });
    }
    drop(state);
    let mut result = Ok(());
    let mut write = |name: String, p: &mut Tensor| {
        if let (Some(src), Ok(())) = (values.get(&name), &result) {
            result = p.assign(src);
        }
    };
    model.visit_mut("", &mut |name, p| write(name, p));
    model.visit_buffers_mut("", &mut |name, p| write(name, p));
    Ok(result?)
}

/// The metadata key of the checksum in weight files Lamina writes: the CRC-32 (IEEE, as
/// zlib's `crc32`) of every tensor's data bytes, tensors in name order, as 8 lower-case
/// hex digits: Python's `zlib.crc32` over the tensors' data slices joined in sorted-name
/// order gives the same value.
pub const CHECKSUM_KEY: &str = "lamina.crc32";

/// Writes named tensors (any supported dtype) to `path`, atomically. Names must be
/// unique. The header carries `{"format": "pt"}`, as PyTorch's `save_file` writes it, and
/// the data's checksum under [`CHECKSUM_KEY`].
pub fn save_tensors(tensors: &[(String, Tensor)], path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let mut seen = HashSet::new();
    let mut raw = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        if !seen.insert(name.as_str()) {
            return Err(Error::DuplicateName {
                path: path.to_owned(),
                name: name.clone(),
            });
        }
        let dtype = to_st(t.dtype()).ok_or(lamina_tensor::Error::UnsupportedDType {
            op: "save_safetensors",
            dtype: t.dtype(),
        })?;
        raw.push((
            name.as_str(),
            dtype,
            t.dims().to_vec(),
            le_bytes(&t.to_host()?),
        ));
    }
    let format = |e: SafeTensorError| Error::Format {
        path: path.to_owned(),
        msg: e.to_string(),
    };
    let views = raw
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            Ok((*name, TensorView::new(*dtype, shape.clone(), bytes)?))
        })
        .collect::<std::result::Result<Vec<_>, SafeTensorError>>()
        .map_err(format)?;
    let mut by_name: Vec<&(&str, Dtype, Vec<usize>, Vec<u8>)> = raw.iter().collect();
    by_name.sort_unstable_by_key(|r| r.0);
    let checksum = crc32(by_name.iter().map(|r| r.3.as_slice()));
    let metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (CHECKSUM_KEY.to_string(), format!("{checksum:08x}")),
    ]);
    let bytes = safetensors::serialize(views, Some(metadata)).map_err(format)?;
    write_atomic(path, &bytes)
}

/// Every tensor in `path`, sorted by name, on `device`.
pub fn load_tensors(path: impl AsRef<Path>, device: &Device) -> Result<Vec<(String, Tensor)>> {
    let path = path.as_ref();
    let bytes = read(path)?;
    let file = parse(path, &bytes)?;
    let mut names = file.names();
    names.sort_unstable();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let view = file.tensor(name).map_err(|e| Error::Format {
            path: path.to_owned(),
            msg: e.to_string(),
        })?;
        let Some(dtype) = from_st(view.dtype()) else {
            return Err(dtype_mismatch(path, name, &view, None));
        };
        let host = host_from_le(dtype, view.data()).ok_or_else(|| Error::Format {
            path: path.to_owned(),
            msg: format!("tensor `{name}`: data does not fill its shape"),
        })?;
        out.push((
            name.to_string(),
            Tensor::from_host(host, view.shape().to_vec(), device)?,
        ));
    }
    Ok(out)
}

fn dtype_mismatch(path: &Path, name: &str, view: &TensorView, model: Option<DType>) -> Error {
    Error::DTypeMismatch {
        path: path.to_owned(),
        name: name.to_string(),
        shape: Box::new(Shape::from(view.shape())),
        file: format!("{:?}", view.dtype()).to_lowercase(),
        model: model.map_or_else(|| "any Lamina dtype".to_string(), dtype_name),
    }
}

fn to_st(d: DType) -> Option<Dtype> {
    match d {
        DType::F32 => Some(Dtype::F32),
        DType::F64 => Some(Dtype::F64),
        DType::I64 => Some(Dtype::I64),
        DType::U32 => Some(Dtype::U32),
        DType::Bool => Some(Dtype::BOOL),
        DType::F16 => Some(Dtype::F16),
        DType::BF16 => Some(Dtype::BF16),
    }
}

fn from_st(d: Dtype) -> Option<DType> {
    match d {
        Dtype::F32 => Some(DType::F32),
        Dtype::F64 => Some(DType::F64),
        Dtype::I64 => Some(DType::I64),
        Dtype::U32 => Some(DType::U32),
        Dtype::BOOL => Some(DType::Bool),
        Dtype::F16 => Some(DType::F16),
        Dtype::BF16 => Some(DType::BF16),
        // The file format's other dtypes (i8, f8, ...) have no Lamina dtype yet.
        _ => None,
    }
}

fn le_bytes(h: &HostData) -> Vec<u8> {
    match h {
        HostData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostData::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostData::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostData::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostData::Bool(v) => v.iter().map(|&x| x as u8).collect(),
        HostData::F16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostData::BF16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

/// Decodes little-endian bytes; `None` if they are not a whole number of elements.
fn host_from_le(dtype: DType, b: &[u8]) -> Option<HostData> {
    fn decode<const N: usize, T>(b: &[u8], f: fn([u8; N]) -> T) -> Option<Vec<T>> {
        if !b.len().is_multiple_of(N) {
            return None;
        }
        Some(
            b.chunks_exact(N)
                .map(|c| {
                    let mut a = [0u8; N];
                    a.copy_from_slice(c);
                    f(a)
                })
                .collect(),
        )
    }
    Some(match dtype {
        DType::F32 => HostData::F32(decode(b, f32::from_le_bytes)?),
        DType::F64 => HostData::F64(decode(b, f64::from_le_bytes)?),
        DType::I64 => HostData::I64(decode(b, i64::from_le_bytes)?),
        DType::U32 => HostData::U32(decode(b, u32::from_le_bytes)?),
        DType::F16 => HostData::F16(decode(b, lamina_tensor::f16::from_le_bytes)?),
        DType::BF16 => HostData::BF16(decode(b, lamina_tensor::bf16::from_le_bytes)?),
        // safetensors stores a bool as one byte, 0 or 1.
        DType::Bool => HostData::Bool(
            b.iter()
                .map(|&x| match x {
                    0 => Some(false),
                    1 => Some(true),
                    _ => None,
                })
                .collect::<Option<Vec<bool>>>()?,
        ),
    })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|source| Error::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })
}

/// Parses the header, turning the format's terse errors into ones that say what is
/// wrong with this file, and checks the data against the checksum when the file has one.
fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
    let format = |msg: String| Error::Format {
        path: path.to_owned(),
        msg,
    };
    let file = SafeTensors::deserialize(bytes).map_err(|e| format(describe(&e, bytes)))?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| format(e.to_string()))?;
    let Some(recorded) = header.metadata().as_ref().and_then(|m| m.get(CHECKSUM_KEY)) else {
        return Ok(file);
    };
    let is_hex = recorded.len() == 8 && recorded.bytes().all(|b| b.is_ascii_hexdigit());
    let Some(expected) = is_hex
        .then(|| u32::from_str_radix(recorded, 16).ok())
        .flatten()
    else {
        return Err(format(format!(
            "metadata `{CHECKSUM_KEY}` is {recorded:?}, not a checksum (8 hex digits)"
        )));
    };
    let mut names = file.names();
    names.sort_unstable();
    let data = names
        .iter()
        .map(|name| file.tensor(name).map(|v| v.data()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| format(e.to_string()))?;
    let actual = crc32(data.into_iter());
    if actual != expected {
        return Err(format(format!(
            "the tensor data does not match its checksum (CRC-32 {actual:08x}, the header \
             records {recorded}): the file is damaged"
        )));
    }
    Ok(file)
}

/// CRC-32 of `parts`, one after the other.
fn crc32<'a>(parts: impl Iterator<Item = &'a [u8]>) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

fn describe(e: &SafeTensorError, bytes: &[u8]) -> String {
    let len = bytes.len();
    let header_len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]));
    match (e, header_len) {
        (SafeTensorError::HeaderTooSmall, _) => {
            format!("the file has {len} bytes, fewer than the 8-byte header length (truncated?)")
        }
        (SafeTensorError::InvalidHeaderLength, Some(n)) if n > (len as u64).saturating_sub(8) => {
            format!(
                "the header claims {n} bytes but only {} follow (truncated?)",
                len.saturating_sub(8)
            )
        }
        (SafeTensorError::MetadataIncompleteBuffer, Some(n)) => {
            truncation(bytes, n as usize).unwrap_or_else(|| e.to_string())
        }
        _ => e.to_string(),
    }
}

/// Names the first tensor whose bytes lie past the end of the file.
fn truncation(bytes: &[u8], n: usize) -> Option<String> {
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(bytes.get(8..8 + n)?).ok()?;
    let available = bytes.len() - 8 - n;
    let mut cut: Vec<(u64, u64, &str)> = Vec::new();
    let mut covered = 0u64;
    for (name, info) in &header {
        let Some(offsets) = info.get("data_offsets").and_then(|o| o.as_array()) else {
            continue;
        };
        let (Some(start), Some(end)) = (
            offsets.first().and_then(|v| v.as_u64()),
            offsets.get(1).and_then(|v| v.as_u64()),
        ) else {
            continue;
        };
        covered = covered.max(end);
        if end > available as u64 {
            cut.push((start, end, name));
        }
    }
    cut.sort_unstable();
    match cut.first() {
        Some((start, end, name)) => Some(format!(
            "truncated: tensor `{name}` needs bytes {start}..{end} of the data section, which has only {available}"
        )),
        None => Some(format!(
            "the data section has {available} bytes but its tensors cover {covered}"
        )),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory: write,
/// `fsync`, rename (atomic on POSIX and on Windows' `MoveFileEx`), then `fsync` the
/// directory so the rename itself is durable.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let io = |source| Error::Io {
        action: "write",
        path: path.to_owned(),
        source,
    };
    let file_name = path.file_name().ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path names no file",
        ))
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io(e));
    }
    // Best effort: some file systems refuse to fsync a directory; the file itself is
    // complete either way.
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn little_endian_round_trip() {
        let h = HostData::F32(vec![1.5, -2.0, f32::MIN_POSITIVE]);
        assert_eq!(&le_bytes(&h)[..4], &1.5f32.to_le_bytes());
        assert_eq!(host_from_le(DType::F32, &le_bytes(&h)), Some(h));
        let h = HostData::I64(vec![-1, i64::MAX]);
        assert_eq!(host_from_le(DType::I64, &le_bytes(&h)), Some(h));
        assert_eq!(host_from_le(DType::F64, &[0u8; 7]), None);
    }

    #[test]
    fn dtype_maps_both_ways() {
        for d in DType::ALL {
            assert_eq!(to_st(d).and_then(from_st), Some(d));
        }
        assert_eq!(from_st(Dtype::I8), None);
    }
}

//! Saving and loading weights as safetensors: round trips, in-place loading, atomic
//! writes, and the errors for missing, truncated and mismatched files, each of which
//! must name the file, the tensor and both shapes or dtypes.

use std::path::{Path, PathBuf};

use lamina_nn::{prefixed, weights, Error, Linear, Module, Relu, Sequential};
use lamina_tensor::{DType, Device, Result, Tensor};

fn dev() -> Device {
    lamina_backend_cpu::device()
}

/// A fresh, empty directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("lamina-nn-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn join(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mlp(seed: u64, hidden: usize, dtype: DType) -> Sequential {
    let cfg = |i, o| Linear::builder(i, o).dtype(dtype);
    Sequential::new()
        .add(cfg(2, hidden).seed(seed).build(&dev()).unwrap())
        .add(Relu)
        .add(cfg(hidden, 1).seed(seed + 1).build(&dev()).unwrap())
}

fn input() -> Tensor {
    Tensor::from_vec(vec![1.0f32, 2.0, -1.0, 0.5, 0.3, -0.7], [3, 2], &dev()).unwrap()
}

fn values(m: &dyn Module) -> Vec<Vec<f64>> {
    m.parameters()
        .iter()
        .map(|p| p.to_f64_vec().unwrap())
        .collect()
}

fn saved(dir: &TempDir) -> PathBuf {
    let path = dir.join("mlp.safetensors");
    mlp(1, 3, DType::F32).save_safetensors(&path).unwrap();
    path
}

/// The error's message, checked to mention every fragment.
fn message_has(err: Error, fragments: &[&str]) -> String {
    let msg = err.to_string();
    for f in fragments {
        assert!(msg.contains(f), "`{msg}` does not mention `{f}`");
    }
    msg
}

#[test]
fn round_trip_gives_identical_outputs_and_keeps_ids() {
    let dir = TempDir::new("round-trip");
    let path = dir.join("model.safetensors");
    let a = mlp(1, 3, DType::F32);
    a.save_safetensors(&path).unwrap();

    let mut b = mlp(7, 3, DType::F32);
    let x = input();
    let ya = a.forward(&x).unwrap().to_vec::<f32>().unwrap();
    assert_ne!(ya, b.forward(&x).unwrap().to_vec::<f32>().unwrap());
    let ids: Vec<_> = b.parameters().iter().map(|p| p.id()).collect();
    b.load_safetensors(&path).unwrap();
    assert_eq!(ya, b.forward(&x).unwrap().to_vec::<f32>().unwrap());
    assert_eq!(values(&a), values(&b));
    let after: Vec<_> = b.parameters().iter().map(|p| p.id()).collect();
    assert_eq!(ids, after, "loading must write in place");
}

#[test]
fn plain_tensor_files_round_trip_every_dtype() -> Result<()> {
    let dir = TempDir::new("tensors");
    let path = dir.join("t.safetensors");
    let tensors = vec![
        (
            "a.f32".to_string(),
            Tensor::from_vec(vec![1.5f32, -2.0], [2], &dev())?,
        ),
        (
            "b.f64".to_string(),
            Tensor::from_vec(vec![0.1f64; 6], [2, 3], &dev())?,
        ),
        (
            "c.i64".to_string(),
            Tensor::from_vec(vec![-7i64, 1 << 40], [2, 1], &dev())?,
        ),
        (
            "d.u32".to_string(),
            Tensor::from_vec(vec![3u32], [], &dev())?,
        ),
        // A non-contiguous view is written in logical order.
        (
            "e.t".to_string(),
            Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3], &dev())?.t()?,
        ),
    ];
    weights::save_tensors(&tensors, &path).unwrap();
    let back = weights::load_tensors(&path, &dev()).unwrap();
    assert_eq!(back.len(), tensors.len());
    for ((n0, t0), (n1, t1)) in tensors.iter().zip(&back) {
        assert_eq!(n0, n1);
        assert_eq!(t0.dims(), t1.dims());
        assert_eq!(t0.dtype(), t1.dtype());
        assert_eq!(t0.to_host()?, t1.to_host()?);
    }
    Ok(())
}

#[test]
fn writes_are_atomic_and_overwrite() {
    let dir = TempDir::new("atomic");
    let path = dir.join("m.safetensors");
    mlp(1, 3, DType::F32).save_safetensors(&path).unwrap();
    let first = std::fs::read(&path).unwrap();
    mlp(2, 3, DType::F32).save_safetensors(&path).unwrap();
    assert_ne!(first, std::fs::read(&path).unwrap());
    // Only the target is left: the temporary file was renamed over it.
    let names: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["m.safetensors"]);
    // A directory that does not exist: an I/O error naming the path, nothing written.
    let bad = dir.join("no/such/dir/m.safetensors");
    let err = mlp(1, 3, DType::F32).save_safetensors(&bad).unwrap_err();
    message_has(err, &["cannot write", "no/such/dir/m.safetensors"]);
}

#[test]
fn missing_file_names_the_file() {
    let dir = TempDir::new("missing-file");
    let path = dir.join("nope.safetensors");
    let err = mlp(1, 3, DType::F32).load_safetensors(&path).unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    message_has(err, &["cannot read", "nope.safetensors"]);
}

#[test]
fn truncated_files_name_the_file_and_the_cut_tensor() {
    let dir = TempDir::new("truncated");
    let path = saved(&dir);
    let bytes = std::fs::read(&path).unwrap();
    let mut m = mlp(2, 3, DType::F32);
    let before = values(&m);

    // Cut inside the data: the last tensor in the data section is incomplete.
    let cut = dir.join("cut-data.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() - 5]).unwrap();
    let err = m.load_safetensors(&cut).unwrap_err();
    assert!(matches!(err, Error::Format { .. }));
    let msg = message_has(err, &["cut-data.safetensors", "truncated", "tensor `"]);
    assert!(msg.contains("0.weight") || msg.contains(".bias") || msg.contains("2.weight"));

    // Cut inside the header.
    let cut = dir.join("cut-header.safetensors");
    std::fs::write(&cut, &bytes[..20]).unwrap();
    let err = m.load_safetensors(&cut).unwrap_err();
    message_has(err, &["cut-header.safetensors", "truncated"]);

    // Fewer bytes than the header length itself; and an empty file.
    for (name, len) in [("cut-len.safetensors", 5), ("empty.safetensors", 0)] {
        let cut = dir.join(name);
        std::fs::write(&cut, &bytes[..len]).unwrap();
        let err = m.load_safetensors(&cut).unwrap_err();
        message_has(err, &[name, "truncated"]);
    }
    assert_eq!(
        before,
        values(&m),
        "a failed load must leave the model as it was"
    );
}

#[test]
fn wrong_shape_names_tensor_and_both_shapes() {
    let dir = TempDir::new("shape");
    let path = saved(&dir);
    let mut wide = mlp(2, 4, DType::F32);
    let before = values(&wide);
    let err = wide.load_safetensors(&path).unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }));
    message_has(err, &["mlp.safetensors", "`0.weight`", "[3, 2]", "[4, 2]"]);
    assert_eq!(before, values(&wide));
}

#[test]
fn wrong_dtype_names_tensor_and_both_dtypes() {
    let dir = TempDir::new("dtype");
    let path = saved(&dir);
    let mut m64 = mlp(2, 3, DType::F64);
    let err = m64.load_safetensors(&path).unwrap_err();
    assert!(matches!(err, Error::DTypeMismatch { .. }));
    message_has(
        err,
        &["mlp.safetensors", "`0.weight`", "f32", "f64", "[3, 2]"],
    );
}

/// The same MLP with PyTorch-style field names (`fc1`, `fc2`) instead of positions.
struct Named {
    fc1: Linear,
    fc2: Linear,
}

impl Module for Named {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.fc2.forward(&self.fc1.forward(x)?.relu()?)
    }
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        self.fc1.visit(&prefixed(prefix, "fc1"), f);
        self.fc2.visit(&prefixed(prefix, "fc2"), f);
    }
    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        self.fc1.visit_mut(&prefixed(prefix, "fc1"), f);
        self.fc2.visit_mut(&prefixed(prefix, "fc2"), f);
    }
    fn set_training(&mut self, _: bool) {}
}

#[test]
fn missing_and_unexpected_tensors_are_named() {
    let dir = TempDir::new("names");
    let path = saved(&dir);

    // Renamed parameters: the first missing one, with the file's unmatched names as a hint.
    let mut named = Named {
        fc1: Linear::builder(2, 3).seed(0).build(&dev()).unwrap(),
        fc2: Linear::builder(3, 1).seed(1).build(&dev()).unwrap(),
    };
    let err = named.load_safetensors(&path).unwrap_err();
    assert!(matches!(err, Error::MissingTensor { .. }));
    message_has(
        err,
        &[
            "mlp.safetensors",
            "`fc1.weight`",
            "[3, 2]",
            "missing",
            "`0.weight`",
        ],
    );

    // A model with a parameter the file lacks (a bias-free layer saved, biased loaded).
    let no_bias = Sequential::new().add(
        Linear::builder(2, 3)
            .bias(false)
            .seed(0)
            .build(&dev())
            .unwrap(),
    );
    let p2 = dir.join("no-bias.safetensors");
    no_bias.save_safetensors(&p2).unwrap();
    let mut biased = Sequential::new().add(Linear::builder(2, 3).seed(0).build(&dev()).unwrap());
    let err = biased.load_safetensors(&p2).unwrap_err();
    message_has(err, &["no-bias.safetensors", "`0.bias`", "[3]", "missing"]);

    // The file holds a tensor the model lacks.
    let mut bias_free = Sequential::new().add(
        Linear::builder(2, 3)
            .bias(false)
            .seed(0)
            .build(&dev())
            .unwrap(),
    );
    let p3 = dir.join("biased.safetensors");
    biased.save_safetensors(&p3).unwrap();
    let err = bias_free.load_safetensors(&p3).unwrap_err();
    assert!(matches!(err, Error::UnexpectedTensor { .. }));
    message_has(err, &["biased.safetensors", "`0.bias`", "[3]"]);
}

/// Two children under one name: saving refuses rather than writing an ambiguous file.
struct Clash(Linear, Linear);

impl Module for Clash {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.1.forward(&self.0.forward(x)?)
    }
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        self.0.visit(prefix, f);
        self.1.visit(prefix, f);
    }
    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        self.0.visit_mut(prefix, f);
        self.1.visit_mut(prefix, f);
    }
    fn set_training(&mut self, _: bool) {}
}

#[test]
fn duplicate_names_are_refused() {
    let dir = TempDir::new("dup");
    let path = dir.join("dup.safetensors");
    let m = Clash(
        Linear::builder(2, 2).seed(0).build(&dev()).unwrap(),
        Linear::builder(2, 2).seed(1).build(&dev()).unwrap(),
    );
    let err = weights::save_safetensors(&m, &path).unwrap_err();
    message_has(err, &["`weight`", "twice"]);
    assert!(!Path::new(&path).exists());
}

#[test]
fn loads_through_a_trait_object() {
    let dir = TempDir::new("dyn");
    let path = saved(&dir);
    let mut boxed: Box<dyn Module> = Box::new(mlp(5, 3, DType::F32));
    weights::load_safetensors(boxed.as_mut(), &path).unwrap();
    assert_eq!(values(boxed.as_ref()), values(&mlp(1, 3, DType::F32)));
}

#[test]
fn converts_into_the_tensor_error_keeping_the_message() {
    fn load(path: &Path) -> Result<()> {
        mlp(1, 4, DType::F32).load_safetensors(path)?; // nn::Error -> lamina_tensor::Error
        Ok(())
    }
    let dir = TempDir::new("convert");
    let msg = load(&saved(&dir)).unwrap_err().to_string();
    assert!(
        msg.contains("`0.weight`") && msg.contains("[3, 2]") && msg.contains("[4, 2]"),
        "{msg}"
    );
    let err = load(&dir.join("absent.safetensors")).unwrap_err();
    assert!(matches!(err, lamina_tensor::Error::Io(_)));
    assert!(err.to_string().contains("absent.safetensors"));
}

/// The byte offset of the data section: after the 8-byte header length and the header.
fn data_start(bytes: &[u8]) -> usize {
    let mut n = [0u8; 8];
    n.copy_from_slice(&bytes[..8]);
    8 + u64::from_le_bytes(n) as usize
}

#[test]
fn a_damaged_data_section_fails_the_checksum() {
    let dir = TempDir::new("checksum");
    let path = saved(&dir);
    let mut bytes = std::fs::read(&path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let sum = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("lamina.crc32").cloned())
        .expect("Lamina writes a checksum");
    assert_eq!(sum.len(), 8, "{sum}");

    // One flipped byte in the middle of the data: still a well-formed file, other values.
    let start = data_start(&bytes);
    let mid = start + (bytes.len() - start) / 2;
    bytes[mid] ^= 0x01;
    let damaged = dir.join("damaged.safetensors");
    std::fs::write(&damaged, &bytes).unwrap();
    let mut m = mlp(2, 3, DType::F32);
    let before = values(&m);
    let err = m.load_safetensors(&damaged).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err:?}");
    message_has(
        err,
        &["damaged.safetensors", "checksum", "does not match", &sum],
    );
    assert_eq!(
        before,
        values(&m),
        "a failed load must leave the model as it was"
    );
    let err = weights::load_tensors(&damaged, &dev()).unwrap_err();
    message_has(err, &["damaged.safetensors", "checksum"]);
}

#[test]
fn files_without_a_checksum_still_load() {
    // What PyTorch's `save_file` writes: `{"format": "pt"}` and no checksum.
    let dir = TempDir::new("no-checksum");
    let a = mlp(1, 3, DType::F32);
    let raw: Vec<(String, Vec<usize>, Vec<u8>)> = a
        .named_parameters()
        .iter()
        .map(|(name, t)| {
            let le = t
                .to_vec::<f32>()
                .unwrap()
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            (name.clone(), t.dims().to_vec(), le)
        })
        .collect();
    let views = raw.iter().map(|(name, shape, le)| {
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), le)
            .unwrap();
        (name.as_str(), view)
    });
    let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes = safetensors::serialize(views, Some(meta)).unwrap();
    let path = dir.join("plain.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let mut b = mlp(2, 3, DType::F32);
    b.load_safetensors(&path).unwrap();
    assert_eq!(values(&a), values(&b));
    assert_eq!(weights::load_tensors(&path, &dev()).unwrap().len(), 4);

    // A checksum that is not one is a clear error, not a silent pass.
    let views = raw.iter().map(|(name, shape, le)| {
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), le)
            .unwrap();
        (name.as_str(), view)
    });
    let meta = std::collections::HashMap::from([("lamina.crc32".to_string(), "xyz".to_string())]);
    let bytes = safetensors::serialize(views, Some(meta)).unwrap();
    let path = dir.join("odd.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let err = b.load_safetensors(&path).unwrap_err();
    message_has(err, &["odd.safetensors", "lamina.crc32", "\"xyz\""]);
}

/// `fixtures/make_half_fixtures.py`: F16 and BF16 tensors written by PyTorch's
/// `safetensors.torch.save_file` read back bit for bit (ties, subnormals, ±inf, NaN, -0),
/// a bfloat16 `nn.Linear(4, 3)` state dict loads into a bf16 Lamina `Linear`, and Lamina's
/// own half files round-trip.
#[test]
fn loads_half_checkpoints_saved_by_pytorch() -> Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("half.json")).unwrap()).unwrap();
    let expected = |name: &str| -> (Vec<usize>, Vec<u16>) {
        let t = &json[name];
        let shape = t["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize);
        let bits = t["bits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u16);
        (shape.collect(), bits.collect())
    };
    let bits_of = |t: &Tensor| -> Result<Vec<u16>> {
        Ok(match t.dtype() {
            DType::F16 => t
                .to_vec::<lamina_tensor::f16>()?
                .iter()
                .map(|x| x.to_bits())
                .collect(),
            DType::BF16 => t
                .to_vec::<lamina_tensor::bf16>()?
                .iter()
                .map(|x| x.to_bits())
                .collect(),
            other => panic!("a half tensor, not {other}"),
        })
    };
    let loaded = weights::load_tensors(dir.join("half.safetensors"), &dev()).unwrap();
    assert_eq!(loaded.len(), 4);
    for (name, t) in &loaded {
        let (shape, bits) = expected(name);
        let want_dtype = if name == "values_f16" {
            DType::F16
        } else {
            DType::BF16
        };
        assert_eq!(t.dtype(), want_dtype, "{name}");
        assert_eq!(t.dims(), shape.as_slice(), "{name}");
        assert_eq!(bits_of(t)?, bits, "{name}: bits");
    }
    // PyTorch rounded the f64 source values as Lamina's casts do (NaN's payload aside).
    let sources: Vec<f64> = json["source_values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_f64()
                .unwrap_or_else(|| v.as_str().unwrap().parse().unwrap())
        })
        .collect();
    let src = Tensor::from_vec(sources, [16], &dev())?;
    for (name, dt) in [("values_f16", DType::F16), ("values_bf16", DType::BF16)] {
        let (_, want) = expected(name);
        let got = bits_of(&src.to_dtype(dt)?)?;
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            let nan = |b: u16| match dt {
                DType::F16 => lamina_tensor::f16::from_bits(b).is_nan(),
                _ => lamina_tensor::bf16::from_bits(b).is_nan(),
            };
            assert!(
                g == w || (nan(g) && nan(w)),
                "{name}[{i}]: {g:#06x} vs PyTorch {w:#06x}"
            );
        }
    }

    // The bf16 state dict into a bf16 Linear, bit for bit.
    let mut linear = Linear::builder(4, 3)
        .dtype(DType::BF16)
        .seed(5)
        .build(&dev())?;
    linear
        .load_safetensors(dir.join("half.safetensors"))
        .unwrap_err(); // extra tensors
    let sub = TempDir::new("half");
    let only_linear: Vec<(String, Tensor)> = loaded
        .iter()
        .filter(|(n, _)| n == "weight" || n == "bias")
        .cloned()
        .collect();
    weights::save_tensors(&only_linear, sub.join("linear.safetensors")).unwrap();
    linear
        .load_safetensors(sub.join("linear.safetensors"))
        .unwrap();
    for (name, p) in linear.state_dict() {
        assert_eq!(p.dtype(), DType::BF16);
        assert_eq!(bits_of(&p)?, expected(&name).1, "{name}");
    }
    // Into an f32 model the dtypes must match: an error naming both, no silent cast.
    let mut f32_linear = Linear::builder(4, 3).seed(5).build(&dev())?;
    let err = f32_linear
        .load_safetensors(sub.join("linear.safetensors"))
        .unwrap_err();
    message_has(err, &["linear.safetensors", "bf16", "f32"]);

    // Lamina's own half files round-trip, bits and dtypes.
    weights::save_tensors(&loaded, sub.join("again.safetensors")).unwrap();
    let again = weights::load_tensors(sub.join("again.safetensors"), &dev()).unwrap();
    for ((n0, t0), (n1, t1)) in loaded.iter().zip(&again) {
        assert_eq!((n0, t0.dtype()), (n1, t1.dtype()));
        assert_eq!(bits_of(t0)?, bits_of(t1)?, "{n0}");
    }
    Ok(())
}

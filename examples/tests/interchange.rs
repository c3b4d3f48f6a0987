//! Interchange with PyTorch for the `mnist_cnn` network: a state dict trained in PyTorch
//! (`tests/fixtures/make_cnn_interchange.py` writes it, with PyTorch's logits on the
//! first 16 MNIST test images) loads into `lamina_examples::mnist::cnn` through the
//! loader users call, `Module::load_safetensors`, and in evaluation mode gives PyTorch's
//! logits to 1e-5 (absolute, f32), BatchNorm running statistics and all.

use std::path::PathBuf;

use lamina::data::{Mnist, MnistSplit};
use lamina::nn::{weights, Error as NnError, Module, Sequential};
use lamina::prelude::*;
use lamina_examples::mnist::cnn;
use lamina_examples::realdata::datasets_dir;
use serde_json::Value;

/// The tolerance on a logit, absolute. The logits reach about 10 in magnitude, and the two
/// frameworks sum in different orders (im2col + GEMM here, PyTorch's own kernels there), so
/// f32 rounding alone leaves differences of a few 1e-6.
const TOL: f32 = 1e-5;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

fn weights_file() -> PathBuf {
    fixture("mnist_cnn_torch.safetensors")
}

/// What the script recorded: `mnist_cnn_torch_logits.json`.
fn reference() -> Value {
    let text = std::fs::read_to_string(fixture("mnist_cnn_torch_logits.json"))
        .expect("tests/fixtures/mnist_cnn_torch_logits.json is committed");
    serde_json::from_str(&text).expect("the reference logits are JSON")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("an array of numbers")
        .iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("an array of integers")
        .iter()
        .map(|x| x.as_i64().expect("an integer"))
        .collect()
}

/// The reference's test images as `[N, 1, 28, 28]`, through the MNIST loader (pixel /
/// 255) and the reshape the `mnist_cnn` example uses. The script takes the first N test images; the
/// recorded indices say so.
fn test_images(reference: &Value, dev: &Device) -> lamina::Result<Tensor> {
    let indices = ints(&reference["indices"]);
    let n = indices.len();
    assert_eq!(indices, (0..n as i64).collect::<Vec<_>>());
    let (images, labels) =
        Mnist::load_split(datasets_dir().join("mnist"), MnistSplit::Test, Some(n), dev)?;
    assert_eq!(labels.to_vec::<i64>()?, ints(&reference["labels"]));
    Ok(images.reshape([n, 1, 28, 28])?)
}

/// `cnn()` with PyTorch's weights, in evaluation mode.
fn torch_trained(dev: &Device) -> lamina::Result<Sequential> {
    let mut model = cnn(0, dev)?;
    model.load_safetensors(weights_file())?;
    model.eval();
    Ok(model)
}

fn argmax(row: &[f32]) -> usize {
    (0..row.len())
        .max_by(|&a, &b| row[a].total_cmp(&row[b]))
        .expect("a non-empty row")
}

/// The largest |a - b| over two logit tables of the same shape.
fn max_abs_diff(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len());
    ours.iter()
        .zip(theirs)
        .fold(0f32, |max, (&a, &b)| max.max((a - b).abs()))
}

#[test]
fn pytorch_trained_cnn_gives_pytorch_logits() -> lamina::Result<()> {
    let dev = Device::cpu();
    let reference = reference();
    let model = torch_trained(&dev)?;
    let x = test_images(&reference, &dev)?;
    let logits = model.forward(&x)?;
    assert_eq!(logits.dims(), &[x.dims()[0], 10]);
    let ours = logits.to_vec::<f32>()?;
    let rows: Vec<Vec<f32>> = reference["logits"]
        .as_array()
        .expect("logits: an array of rows")
        .iter()
        .map(floats)
        .collect();
    let theirs: Vec<f32> = rows.concat();
    let max_diff = max_abs_diff(&ours, &theirs);
    eprintln!(
        "mnist_cnn vs PyTorch {}: max |logit difference| {max_diff:.3e} over {} logits \
         (largest |logit| {:.2})",
        reference["torch_version"],
        theirs.len(),
        theirs.iter().fold(0f32, |m, v| m.max(v.abs()))
    );
    assert!(
        max_diff <= TOL,
        "logits differ from PyTorch's by up to {max_diff:e}, past {TOL:e}"
    );
    let ours_pred: Vec<i64> = ours.chunks(10).map(|r| argmax(r) as i64).collect();
    let theirs_pred: Vec<i64> = rows.iter().map(|r| argmax(r) as i64).collect();
    assert_eq!(ours_pred, theirs_pred);
    assert_eq!(ours_pred, ints(&reference["predicted"]));
    Ok(())
}

/// Everything loaded equals the file bit for bit, buffers included, and the buffers equal
/// what PyTorch recorded beside them (a check independent of Lamina's reader).
#[test]
fn loaded_state_is_the_files() -> lamina::Result<()> {
    let dev = Device::cpu();
    let reference = reference();
    let model = torch_trained(&dev)?;
    let file = weights::load_tensors(weights_file(), &dev)?;
    let state = model.state_dict();
    assert_eq!(state.len(), file.len(), "one model tensor per file tensor");
    for (name, t) in &state {
        let (_, f) = file
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("`{name}` is not in the file"));
        assert_eq!(t.dims(), f.dims(), "{name}");
        assert_eq!(t.dtype(), f.dtype(), "{name}");
        assert_eq!(t.to_f64_vec()?, f.to_f64_vec()?, "{name}");
    }

    let buffers = model.named_buffers();
    let names: Vec<&str> = buffers.iter().map(|(n, _)| n.as_str()).collect();
    let expected = reference["buffers"]
        .as_object()
        .expect("buffers: an object");
    let mut recorded: Vec<&str> = expected.keys().map(String::as_str).collect();
    let mut sorted = names.clone();
    recorded.sort_unstable();
    sorted.sort_unstable();
    assert_eq!(sorted, recorded);
    for (name, t) in &buffers {
        if name.ends_with("num_batches_tracked") {
            assert_eq!(t.dtype(), DType::I64, "{name}");
            let n = t.to_scalar::<i64>()?;
            assert_eq!(Some(n), expected[name].as_i64(), "{name}");
            assert!(n > 1, "{name} = {n}: the script trained for an epoch");
        } else {
            let values = t.to_vec::<f32>()?;
            assert_eq!(values, floats(&expected[name]), "{name}");
            let initial = if name.ends_with("running_var") {
                1.0
            } else {
                0.0
            };
            assert!(
                values.iter().all(|&v| v != initial),
                "{name} still holds its initial values"
            );
        }
    }
    Ok(())
}

/// Evaluation mode really reads the running statistics: with only the two BatchNorm
/// layers (1 and 5) in training mode, so dropout stays off, the batch's own statistics
/// give other logits.
#[test]
fn evaluation_mode_uses_the_running_statistics() -> lamina::Result<()> {
    let dev = Device::cpu();
    let reference = reference();
    let mut model = torch_trained(&dev)?;
    let x = test_images(&reference, &dev)?;
    let eval = model.forward(&x)?.to_vec::<f32>()?;
    for i in [1, 5] {
        let layer = &mut model.layers_mut()[i];
        assert!(layer.name().starts_with("BatchNorm2d"), "{}", layer.name());
        layer.set_training(true);
    }
    let train = model.forward(&x)?.to_vec::<f32>()?;
    let max_diff = max_abs_diff(&train, &eval);
    assert!(
        max_diff > 0.1,
        "batch statistics moved the logits by only {max_diff}"
    );

    // The whole model in training mode (dropout too) differs as well.
    let mut model = torch_trained(&dev)?;
    model.train();
    let max_diff = max_abs_diff(&model.forward(&x)?.to_vec::<f32>()?, &eval);
    assert!(
        max_diff > 0.1,
        "training mode moved the logits by only {max_diff}"
    );
    Ok(())
}

/// The same file without `1.running_var` is refused, naming the missing buffer, and the
/// model is left as it was.
#[test]
fn a_file_without_a_running_var_is_refused() -> lamina::Result<()> {
    let dev = Device::cpu();
    let mut tensors = weights::load_tensors(weights_file(), &dev)?;
    let before = tensors.len();
    tensors.retain(|(name, _)| name != "1.running_var");
    assert_eq!(tensors.len(), before - 1);
    let path = std::env::temp_dir().join(format!(
        "lamina-interchange-{}-no-running-var.safetensors",
        std::process::id()
    ));
    weights::save_tensors(&tensors, &path)?;

    let mut model = cnn(0, &dev)?;
    let fresh: Vec<Vec<f64>> = model
        .state_dict()
        .iter()
        .map(|(_, t)| t.to_f64_vec())
        .collect::<lamina::tensor::Result<_>>()?;
    let result = model.load_safetensors(&path);
    let _ = std::fs::remove_file(&path);
    let err = result.expect_err("a file without `1.running_var` must not load");
    let msg = err.to_string();
    assert!(
        matches!(&err, NnError::MissingTensor { name, .. } if name == "1.running_var"),
        "{msg}"
    );
    assert!(msg.contains("`1.running_var`"), "{msg}");
    assert!(msg.contains("no-running-var.safetensors"), "{msg}");
    let after: Vec<Vec<f64>> = model
        .state_dict()
        .iter()
        .map(|(_, t)| t.to_f64_vec())
        .collect::<lamina::tensor::Result<_>>()?;
    assert_eq!(after, fresh, "a refused file changed the model");
    Ok(())
}

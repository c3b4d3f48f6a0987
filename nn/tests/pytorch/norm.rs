//! The normalisation layers and `embedding` against PyTorch
//! (`fixtures/make_norm_fixtures.py`, its output committed next to it): outputs and the
//! gradients of `sum(out * w)` with respect to the input, weight and bias in f64;
//! BatchNorm's running statistics after each of three training steps, and its eval-mode
//! output from them; a saved and reloaded BatchNorm keeps its buffers.

use lamina_autograd::value_and_grad;
use lamina_nn::functional::{
    batch_norm, embedding, group_norm, instance_norm, layer_norm, rms_norm,
};
use lamina_nn::{BatchNorm1d, BatchNorm2d, Module};
use lamina_tensor::{DType, Result, Tensor};
use serde_json::Value;

use super::{assert_f64 as assert_close, dev, json, tensor};

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

fn run(case: &Value, x: &Tensor, w: Option<&Tensor>, b: Option<&Tensor>) -> Result<Tensor> {
    let a = &case["args"];
    let eps = || a["eps"].as_f64().unwrap();
    match case["op"].as_str().unwrap() {
        "layer_norm" => layer_norm(x, &usizes(&a["normalized_shape"]), w, b, eps()),
        "group_norm" => group_norm(x, a["num_groups"].as_u64().unwrap() as usize, w, b, eps()),
        "instance_norm" => instance_norm(x, w, b, eps()),
        "rms_norm" => rms_norm(x, &usizes(&a["normalized_shape"]), w, Some(eps())),
        "batch_norm" => batch_norm(x, None, w, b, true, 0.1, eps()),
        "embedding" => embedding(
            x,
            w.unwrap(),
            Some(a["padding_idx"].as_u64().unwrap() as usize),
        ),
        other => panic!("unknown op {other}"),
    }
}

#[test]
fn matches_pytorch_outputs_and_gradients() {
    let fx = json("norm.json");
    let cases = fx["cases"].as_array().unwrap();
    assert!(cases.len() >= 9);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let x = tensor(&case["input"]);
        let w = (!case["weight"].is_null()).then(|| tensor(&case["weight"]));
        let b = (!case["bias"].is_null()).then(|| tensor(&case["bias"]));
        let lw = tensor(&case["w"]);
        let mut params: Vec<&Tensor> = Vec::new();
        if x.dtype().is_float() {
            params.push(&x);
        }
        params.extend(w.as_ref());
        params.extend(b.as_ref());
        let mut out = None;
        let (_, grads) = value_and_grad(&params, || {
            let y = run(case, &x, w.as_ref(), b.as_ref())?;
            out = Some(y.clone());
            (&y * &lw)?.sum_all()
        })
        .unwrap();
        assert_close(&format!("{name}: output"), &out.unwrap(), &case["output"]);
        for (key, t) in [
            ("grad_input", Some(&x)),
            ("grad_weight", w.as_ref()),
            ("grad_bias", b.as_ref()),
        ] {
            if !case[key].is_null() {
                let t = t.unwrap();
                let g = grads.get(t).cloned().unwrap_or(t.zeros_like().unwrap());
                assert_close(&format!("{name}: {key}"), &g, &case[key]);
            }
        }
    }
}

/// A module's running statistics after each training step, then its eval output.
fn check_running(what: &str, module: &mut dyn Module, fx: &Value) {
    for (i, step) in fx["steps"].as_array().unwrap().iter().enumerate() {
        module.forward(&tensor(&step["input"])).unwrap();
        let buffers = module.named_buffers();
        let get = |n: &str| buffers.iter().find(|(k, _)| k == n).unwrap().1.clone();
        assert_close(
            &format!("{what} step {i}: running_mean"),
            &get("running_mean"),
            &step["running_mean"],
        );
        assert_close(
            &format!("{what} step {i}: running_var"),
            &get("running_var"),
            &step["running_var"],
        );
        assert_eq!(
            get("num_batches_tracked").to_scalar::<i64>().unwrap(),
            step["num_batches_tracked"].as_i64().unwrap()
        );
    }
    module.eval();
    let y = module.forward(&tensor(&fx["eval_input"])).unwrap();
    assert_close(&format!("{what}: eval output"), &y, &fx["eval_output"]);
}

#[test]
fn batchnorm_running_statistics_and_eval_match_pytorch() {
    let fx = json("norm.json");
    let f2 = &fx["batchnorm"]["2d"];
    let mut bn2 = BatchNorm2d::with_options(
        3,
        1e-5,
        f2["momentum"].as_f64().unwrap(),
        true,
        true,
        DType::F64,
        &dev(),
    )
    .unwrap();
    bn2.weight
        .as_mut()
        .unwrap()
        .assign(&tensor(&f2["weight"]))
        .unwrap();
    bn2.bias
        .as_mut()
        .unwrap()
        .assign(&tensor(&f2["bias"]))
        .unwrap();
    check_running("BatchNorm2d", &mut bn2, f2);

    let f1 = &fx["batchnorm"]["1d"];
    let mut bn1 = BatchNorm1d::with_options(4, 1e-5, 0.1, true, true, DType::F64, &dev()).unwrap();
    bn1.weight
        .as_mut()
        .unwrap()
        .assign(&tensor(&f1["weight"]))
        .unwrap();
    bn1.bias
        .as_mut()
        .unwrap()
        .assign(&tensor(&f1["bias"]))
        .unwrap();
    check_running("BatchNorm1d", &mut bn1, f1);

    // Saved and loaded with its buffers; a file without `running_var` is refused by name.
    let path = std::env::temp_dir().join(format!("lamina_bn_{}.safetensors", std::process::id()));
    bn2.save_safetensors(&path).unwrap();
    let mut fresh =
        BatchNorm2d::with_options(3, 1e-5, 0.2, true, true, DType::F64, &dev()).unwrap();
    fresh.load_safetensors(&path).unwrap();
    fresh.eval();
    let y = fresh.forward(&tensor(&f2["eval_input"])).unwrap();
    assert_close("reloaded BatchNorm2d: eval output", &y, &f2["eval_output"]);
    let partial: Vec<(String, Tensor)> = bn2
        .state_dict()
        .into_iter()
        .filter(|(n, _)| n != "running_var")
        .collect();
    lamina_nn::weights::save_tensors(&partial, &path).unwrap();
    let e = fresh.load_safetensors(&path).unwrap_err().to_string();
    assert!(e.contains("running_var") && e.contains("[3]"), "{e}");
    std::fs::remove_file(&path).ok();
}

#[test]
fn bad_input_names_the_layer_and_the_shapes() {
    let bn = BatchNorm2d::new(3, &dev()).unwrap();
    let e = bn
        .forward(&Tensor::zeros([2, 4, 5, 5], DType::F32, &dev()).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("BatchNorm2d(3)") && e.contains("[2, 4, 5, 5]"),
        "{e}"
    );
    let e = bn
        .forward(&Tensor::zeros([2, 3, 5], DType::F32, &dev()).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("[N, C, H, W]"), "{e}");
    let e = bn
        .forward(&Tensor::zeros([1, 3, 1, 1], DType::F32, &dev()).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("more than one value per channel"), "{e}");
    let x = Tensor::zeros([2, 6, 4], DType::F32, &dev()).unwrap();
    let e = group_norm(&x, 4, None, None, 1e-5).unwrap_err().to_string();
    assert!(e.contains("group_norm") && e.contains("divisible"), "{e}");
    let e = layer_norm(&x, &[5], None, None, 1e-5)
        .unwrap_err()
        .to_string();
    assert!(e.contains("layer_norm") && e.contains("[5]"), "{e}");
    let w = Tensor::zeros([4, 3], DType::F32, &dev()).unwrap();
    let ids = Tensor::new([0i64, 4], &dev()).unwrap();
    let e = embedding(&ids, &w, None).unwrap_err().to_string();
    assert!(e.contains("embedding") && e.contains('4'), "{e}");
}

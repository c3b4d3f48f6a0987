//! Lamina against numbers produced by PyTorch (`fixtures/make_fixtures.py`, its output
//! committed next to it so CI needs no Python): every loss's three reductions,
//! cross-entropy's gradient, PyTorch-written safetensors files loaded into the equivalent
//! models (an MLP as a `Sequential`, a 2-layer bidirectional `Lstm`, a
//! `TransformerEncoderLayer`); convolution, pooling,
//! normalisation, interpolation, the recurrent layers, attention and the Transformer layers
//! in the modules `conv`, `pool`, `norm`, `interp`, `rnn`, `attn` and `transformer`.

use std::path::PathBuf;

use lamina_autograd::value_and_grad;
use lamina_nn::{
    binary_cross_entropy, binary_cross_entropy_with_logits, huber_loss, kl_div, l1_loss, mse_loss,
    smooth_l1_loss, CrossEntropyLoss, KlReduction, Linear, Module, NllLoss, Reduction, Relu,
    Sequential,
};
use lamina_tensor::{Device, Tensor};
use serde_json::Value;

// conv1d / conv2d against their own fixture file, reading it with this file's helpers.
#[path = "pytorch/conv.rs"]
mod conv;

// The pooling ops against their own fixture file, likewise.
#[path = "pytorch/pool.rs"]
mod pool;

// The normalisation layers and embedding, likewise.
#[path = "pytorch/norm.rs"]
mod norm;

// interpolate, unfold and fold, likewise.
#[path = "pytorch/interp.rs"]
mod interp;

// The recurrent layers and cells, likewise.
#[path = "pytorch/rnn.rs"]
mod rnn;

// scaled_dot_product_attention and MultiheadAttention, likewise.
#[path = "pytorch/attn.rs"]
mod attn;

// The Transformer encoder and decoder layers and stacks, likewise.
#[path = "pytorch/transformer.rs"]
mod transformer;

fn dev() -> Device {
    lamina_backend_cpu::device()
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn json(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(name)).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// `{"shape": [...], "data": [...]}` as a tensor: `I64` when every value is an integer
/// literal, else `F64`.
fn tensor(v: &Value) -> Tensor {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data = v["data"].as_array().unwrap();
    if !data.is_empty() && data.iter().all(Value::is_i64) {
        let ints: Vec<i64> = data.iter().map(|x| x.as_i64().unwrap()).collect();
        Tensor::from_vec(ints, shape, &dev()).unwrap()
    } else {
        let floats: Vec<f64> = data.iter().map(|x| x.as_f64().unwrap()).collect();
        Tensor::from_vec(floats, shape, &dev()).unwrap()
    }
}

fn opt_tensor(v: &Value) -> Option<Tensor> {
    (!v.is_null()).then(|| tensor(v))
}

/// [`assert_close`] at the f64 fixtures' tolerance, 1e-9 (the submodules' comparison).
fn assert_f64(what: &str, got: &Tensor, want: &Value) {
    assert_close(what, got, want, 1e-9);
}

/// The case's `"input"`, as a non-contiguous view where its `"layout"` names one
/// (`"transposed"`, `"channels_last"`), with the same values.
fn fixture_input(case: &Value) -> Tensor {
    let x = tensor(&case["input"]);
    let view = || -> lamina_tensor::Result<Tensor> {
        match case.get("layout").and_then(Value::as_str) {
            None => Ok(x.clone()),
            Some("transposed") => x.transpose(-1, -2)?.contiguous()?.transpose(-1, -2),
            Some("channels_last") => x.permute([0, 2, 3, 1])?.contiguous()?.permute([0, 3, 1, 2]),
            Some(other) => panic!("unknown layout {other}"),
        }
    };
    let v = view().unwrap();
    if case.get("layout").is_some() {
        assert!(!v.is_contiguous());
    }
    v
}

/// Same shape and values within `tol` (absolute plus relative).
fn assert_close(what: &str, got: &Tensor, want: &Value, tol: f64) {
    let want_t = tensor(want);
    assert_eq!(got.dims(), want_t.dims(), "{what}: shape");
    let g = got.to_f64_vec().unwrap();
    let w = want_t.to_f64_vec().unwrap();
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{what}: element {i}: lamina {a}, pytorch {b}"
        );
    }
}

const REDUCTIONS: [(&str, Reduction); 3] = [
    ("none", Reduction::None),
    ("sum", Reduction::Sum),
    ("mean", Reduction::Mean),
];

#[test]
fn cross_entropy_matches_pytorch() {
    let all = json("losses.json");
    let cases = all["cross_entropy"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let input = tensor(&case["input"]);
        let target = tensor(&case["target"]);
        let loss = CrossEntropyLoss {
            weight: opt_tensor(&case["weight"]),
            ignore_index: case["ignore_index"].as_i64().unwrap(),
            label_smoothing: case["label_smoothing"].as_f64().unwrap(),
            reduction: Reduction::Mean,
        };
        for (key, red) in REDUCTIONS {
            let l = CrossEntropyLoss {
                reduction: red,
                ..loss.clone()
            };
            let got = l.forward(&input, &target).unwrap();
            assert_close(&format!("{name} {key}"), &got, &case[key], 1e-12);
        }
        let (_, grads) = value_and_grad(&[&input], || loss.forward(&input, &target)).unwrap();
        assert_close(
            &format!("{name} gradient"),
            grads.get(&input).unwrap(),
            &case["grad_mean"],
            1e-12,
        );
    }
}

#[test]
fn other_losses_match_pytorch() {
    let all = json("losses.json");
    let mut seen = Vec::new();
    for case in all["other"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        seen.push(name.to_string());
        let x = tensor(&case["input"]);
        let y = tensor(&case["target"]);
        let w = opt_tensor(&case["weight"]);
        let f = |red: Reduction| -> Tensor {
            match name {
                "mse" => mse_loss(&x, &y, red),
                "l1" => l1_loss(&x, &y, red),
                "huber" => huber_loss(&x, &y, case["delta"].as_f64().unwrap(), red),
                "smooth_l1" => smooth_l1_loss(&x, &y, case["beta"].as_f64().unwrap(), red),
                "bce" => binary_cross_entropy(&x, &y, w.as_ref(), red),
                "bce_with_logits" => {
                    let pw = tensor(&case["pos_weight"]);
                    binary_cross_entropy_with_logits(&x, &y, w.as_ref(), Some(&pw), red)
                }
                "nll_weight" => NllLoss {
                    weight: w.clone(),
                    reduction: red,
                    ..NllLoss::default()
                }
                .forward(&x, &y),
                "kl_div" => kl_div(&x, &y, red, false),
                "kl_div_log_target" => kl_div(&x, &y, red, true),
                other => panic!("unknown fixture case {other}"),
            }
            .unwrap()
        };
        for (key, red) in REDUCTIONS {
            assert_close(&format!("{name} {key}"), &f(red), &case[key], 1e-12);
        }
        if let Some(bm) = case.get("batchmean") {
            let got = kl_div(&x, &y, KlReduction::BatchMean, name.ends_with("log_target")).unwrap();
            assert_close(&format!("{name} batchmean"), &got, bm, 1e-12);
        }
    }
    for want in [
        "mse",
        "l1",
        "huber",
        "smooth_l1",
        "bce",
        "bce_with_logits",
        "nll_weight",
        "kl_div",
    ] {
        assert!(seen.iter().any(|s| s == want), "fixture lacks {want}");
    }
}

/// `Sequential(Linear(2, 3), ReLU(), Linear(3, 1))` as Lamina builds it.
fn lamina_mlp(seed: u64) -> Sequential {
    Sequential::new()
        .add(Linear::builder(2, 3).seed(seed).build(&dev()).unwrap())
        .add(Relu)
        .add(Linear::builder(3, 1).seed(seed + 1).build(&dev()).unwrap())
}

#[test]
fn loads_a_model_saved_by_pytorch() {
    let meta = json("mlp.json");
    let mut model = lamina_mlp(10);
    let ids: Vec<_> = model.parameters().iter().map(|p| p.id()).collect();
    model.load_safetensors(fixture("mlp.safetensors")).unwrap();
    // Every parameter holds PyTorch's values, bit for bit, and kept its id.
    for (name, p) in model.named_parameters() {
        let want = &meta["state_dict"][&name];
        assert!(!want.is_null(), "PyTorch's state dict lacks {name}");
        let want: Vec<f32> = tensor(want)
            .to_f64_vec()
            .unwrap()
            .iter()
            .map(|&v| v as f32)
            .collect();
        assert_eq!(p.to_vec::<f32>().unwrap(), want, "{name}");
    }
    let after: Vec<_> = model.parameters().iter().map(|p| p.id()).collect();
    assert_eq!(ids, after);
    // The output agrees with PyTorch's on the same input.
    let x = tensor(&meta["input"])
        .to_dtype(lamina_tensor::DType::F32)
        .unwrap();
    let y = model.forward(&x).unwrap();
    assert_close("mlp output", &y, &meta["output"], 1e-6);
}

#[test]
fn loads_an_lstm_saved_by_pytorch() {
    // `fixtures/make_lstm_interchange.py`: a 2-layer bidirectional batch-first nn.LSTM's
    // state dict as PyTorch writes it, and its float32 outputs.
    use lamina_nn::Lstm;
    let meta = json("lstm.json");
    let mut lstm = Lstm::builder(8, 16)
        .num_layers(2)
        .bidirectional(true)
        .batch_first(true)
        .build(&dev())
        .unwrap();
    lstm.load_safetensors(fixture("lstm.safetensors")).unwrap();
    let x = tensor(&meta["input"])
        .to_dtype(lamina_tensor::DType::F32)
        .unwrap();
    let (out, (h, c)) = lstm.forward_with(&x, None).unwrap();
    assert_close("lstm output", &out, &meta["output"], 1e-5);
    assert_close("lstm h_n", &h, &meta["h_n"], 1e-5);
    assert_close("lstm c_n", &c, &meta["c_n"], 1e-5);
}

#[test]
fn loads_a_transformer_layer_saved_by_pytorch() {
    // `fixtures/make_lstm_interchange.py`: a pre-norm, GELU, batch-first
    // nn.TransformerEncoderLayer's state dict and its float32 output under a causal mask.
    use lamina_nn::attention::square_subsequent_mask;
    use lamina_nn::{Activation, Module, TransformerEncoderLayer};
    let meta = json("encoder_layer.json");
    let mut layer = TransformerEncoderLayer::builder(16, 4)
        .dim_feedforward(32)
        .activation(Activation::Gelu)
        .batch_first(true)
        .norm_first(true)
        .build(&dev())
        .unwrap();
    layer
        .load_safetensors(fixture("encoder_layer.safetensors"))
        .unwrap();
    layer.eval();
    let x = tensor(&meta["input"])
        .to_dtype(lamina_tensor::DType::F32)
        .unwrap();
    let mask = square_subsequent_mask(6, lamina_tensor::DType::F32, &dev()).unwrap();
    let y = layer.forward_masked(&x, Some(&mask), None, true).unwrap();
    assert_close("encoder layer output", &y, &meta["output"], 1e-5);
}

#[test]
fn writes_what_pytorch_writes() {
    // Load PyTorch's file and save it again: the same names, dtypes, shapes and bytes,
    // so `safetensors.torch.load_file` reads it back; the header adds
    // `{"format": "pt"}` as Hugging Face's `save_pretrained` does. Set
    // `LAMINA_NN_EXPORT=path` to keep the file for `make_fixtures.py --check path`.
    let mut model = lamina_mlp(3);
    model.load_safetensors(fixture("mlp.safetensors")).unwrap();
    let export = std::env::var_os("LAMINA_NN_EXPORT").map(PathBuf::from);
    let path = export.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "lamina-nn-{}-export.safetensors",
            std::process::id()
        ))
    });
    model.save_safetensors(&path).unwrap();
    let ours_bytes = std::fs::read(&path).unwrap();
    if export.is_none() {
        std::fs::remove_file(&path).unwrap();
    }
    let theirs_bytes = std::fs::read(fixture("mlp.safetensors")).unwrap();
    let ours = safetensors::SafeTensors::deserialize(&ours_bytes).unwrap();
    let theirs = safetensors::SafeTensors::deserialize(&theirs_bytes).unwrap();
    let mut names = ours.names();
    names.sort_unstable();
    let mut want = theirs.names();
    want.sort_unstable();
    assert_eq!(names, want);
    for name in names {
        let (a, b) = (ours.tensor(name).unwrap(), theirs.tensor(name).unwrap());
        assert_eq!(a.dtype(), b.dtype(), "{name}");
        assert_eq!(a.shape(), b.shape(), "{name}");
        assert_eq!(a.data(), b.data(), "{name}");
    }
    let (_, meta) = safetensors::SafeTensors::read_metadata(&ours_bytes).unwrap();
    let format = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("format").cloned());
    assert_eq!(format.as_deref(), Some("pt"));
}

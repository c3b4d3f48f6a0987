//! The Transformer layers against PyTorch (`fixtures/make_transformer_fixtures.py`, its
//! output committed next to it): `TransformerEncoderLayer`, `TransformerEncoder`,
//! `TransformerDecoderLayer`, `TransformerDecoder` and `Transformer` outputs and the gradients of
//! `sum(out * w)` with respect to the inputs and every parameter (by PyTorch's name), in
//! f64 to 1e-9 relative; and the errors of bad inputs.

use lamina_autograd::value_and_grad;
use lamina_nn::{
    Activation, LayerNorm, Module, Transformer, TransformerDecoder, TransformerDecoderLayer,
    TransformerEncoder, TransformerEncoderLayer, TransformerLayerBuilder,
};
use lamina_tensor::{DType, Tensor};
use serde_json::Value;

use super::{assert_f64 as assert_close, dev, json, tensor};

/// A fixture mask: bool masks are stored as 0/1.
fn mask(case: &Value, key: &str) -> Option<Tensor> {
    let v = &case[key];
    if v.is_null() {
        return None;
    }
    let t = tensor(v);
    Some(if case[format!("{key}_dtype")].as_str() == Some("bool") {
        t.to_dtype(DType::Bool).unwrap()
    } else {
        t.to_dtype(DType::F64).unwrap()
    })
}

fn configure<L>(c: &Value, b: TransformerLayerBuilder<L>) -> TransformerLayerBuilder<L> {
    let activation = match c["activation"].as_str().unwrap() {
        "relu" => Activation::Relu,
        "gelu" => Activation::Gelu,
        a => panic!("unknown activation {a}"),
    };
    b.dim_feedforward(c["dim_feedforward"].as_u64().unwrap() as usize)
        .dropout(0.0)
        .activation(activation)
        .layer_norm_eps(c["layer_norm_eps"].as_f64().unwrap())
        .batch_first(c["batch_first"].as_bool().unwrap())
        .norm_first(c["norm_first"].as_bool().unwrap())
        .bias(c["bias"].as_bool().unwrap())
        .dtype(DType::F64)
        .seed(0)
}

fn sizes(c: &Value) -> (usize, usize) {
    (
        c["d_model"].as_u64().unwrap() as usize,
        c["nhead"].as_u64().unwrap() as usize,
    )
}

fn final_norm(c: &Value) -> Option<LayerNorm> {
    c["final_norm"].as_bool().unwrap().then(|| {
        LayerNorm::with_options(
            &[sizes(c).0],
            c["layer_norm_eps"].as_f64().unwrap(),
            true,
            c["bias"].as_bool().unwrap(),
            DType::F64,
            &dev(),
        )
        .unwrap()
    })
}

/// Checks the names against PyTorch's, loads PyTorch's values, runs `f` under autograd
/// with respect to `inputs` and every parameter, and compares the output and gradients.
fn check_case<M: Module>(
    case: &Value,
    m: &mut M,
    inputs: &[(&str, &Tensor)],
    f: impl Fn(&M) -> lamina_tensor::Result<Tensor>,
) {
    let name = case["name"].as_str().unwrap();
    m.eval();
    let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    let want: Vec<String> = case["param_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, want, "{name}: parameter names");
    m.visit_mut("", &mut |n, p| {
        p.assign(&tensor(&case["params"][&n])).unwrap();
    });
    let m = &*m;
    let lw = tensor(&case["w"]);
    let params = m.named_parameters();
    let mut wrt: Vec<&Tensor> = inputs.iter().map(|(_, t)| *t).collect();
    wrt.extend(params.iter().map(|(_, p)| p));
    let mut got = None;
    let (_, grads) = value_and_grad(&wrt, || {
        let y = f(m)?;
        let loss = (&y * &lw)?.sum_all();
        got = Some(y);
        loss
    })
    .unwrap();
    assert_close(&format!("{name}: output"), &got.unwrap(), &case["output"]);
    for (key, t) in inputs {
        assert_close(
            &format!("{name}: grad {key}"),
            grads.get(t).unwrap(),
            &case["grads"][*key],
        );
    }
    for (n, p) in &params {
        assert_close(
            &format!("{name}: grad {n}"),
            grads.get(p).unwrap(),
            &case["grads"][n.as_str()],
        );
    }
}

#[test]
fn encoder_layers_match_pytorch() {
    let fx = json("transformer.json");
    let cases = fx["encoder_layer"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for case in cases {
        let c = &case["config"];
        let (e, h) = sizes(c);
        let mut m = configure(c, TransformerEncoderLayer::builder(e, h))
            .build(&dev())
            .unwrap();
        let (sm, kpm) = (mask(case, "src_mask"), mask(case, "src_key_padding_mask"));
        let causal = case["is_causal"].as_bool().unwrap();
        let src = tensor(&case["src"]);
        check_case(case, &mut m, &[("src", &src)], |m| {
            m.forward_masked(&src, sm.as_ref(), kpm.as_ref(), causal)
        });
    }
}

#[test]
fn encoders_match_pytorch() {
    let fx = json("transformer.json");
    let cases = fx["encoder"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for case in cases {
        let c = &case["config"];
        let (e, h) = sizes(c);
        let layer = configure(c, TransformerEncoderLayer::builder(e, h))
            .build(&dev())
            .unwrap();
        let n = c["num_layers"].as_u64().unwrap() as usize;
        let mut m = TransformerEncoder::new(&layer, n, final_norm(c)).unwrap();
        let (sm, kpm) = (mask(case, "src_mask"), mask(case, "src_key_padding_mask"));
        let causal = case["is_causal"].as_bool().unwrap();
        let src = tensor(&case["src"]);
        check_case(case, &mut m, &[("src", &src)], |m| {
            m.forward_masked(&src, sm.as_ref(), kpm.as_ref(), causal)
        });
    }
}

fn decoder_masks(case: &Value) -> [Option<Tensor>; 4] {
    [
        "tgt_mask",
        "memory_mask",
        "tgt_key_padding_mask",
        "memory_key_padding_mask",
    ]
    .map(|k| mask(case, k))
}

#[test]
fn decoder_layers_match_pytorch() {
    let fx = json("transformer.json");
    let cases = fx["decoder_layer"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for case in cases {
        let c = &case["config"];
        let (e, h) = sizes(c);
        let mut m = configure(c, TransformerDecoderLayer::builder(e, h))
            .build(&dev())
            .unwrap();
        let [tm, mm, tk, mk] = decoder_masks(case);
        let (tc, mc) = (
            case["tgt_is_causal"].as_bool().unwrap(),
            case["memory_is_causal"].as_bool().unwrap(),
        );
        let (tgt, memory) = (tensor(&case["tgt"]), tensor(&case["memory"]));
        check_case(case, &mut m, &[("tgt", &tgt), ("memory", &memory)], |m| {
            m.forward_memory(
                &tgt,
                &memory,
                tm.as_ref(),
                mm.as_ref(),
                tk.as_ref(),
                mk.as_ref(),
                tc,
                mc,
            )
        });
    }
}

#[test]
fn decoders_match_pytorch() {
    let fx = json("transformer.json");
    let cases = fx["decoder"].as_array().unwrap();
    assert!(cases.len() >= 2);
    for case in cases {
        let c = &case["config"];
        let (e, h) = sizes(c);
        let layer = configure(c, TransformerDecoderLayer::builder(e, h))
            .build(&dev())
            .unwrap();
        let n = c["num_layers"].as_u64().unwrap() as usize;
        let mut m = TransformerDecoder::new(&layer, n, final_norm(c)).unwrap();
        let [tm, mm, tk, mk] = decoder_masks(case);
        let (tc, mc) = (
            case["tgt_is_causal"].as_bool().unwrap(),
            case["memory_is_causal"].as_bool().unwrap(),
        );
        let (tgt, memory) = (tensor(&case["tgt"]), tensor(&case["memory"]));
        check_case(case, &mut m, &[("tgt", &tgt), ("memory", &memory)], |m| {
            m.forward_memory(
                &tgt,
                &memory,
                tm.as_ref(),
                mm.as_ref(),
                tk.as_ref(),
                mk.as_ref(),
                tc,
                mc,
            )
        });
    }
}

#[test]
fn transformers_match_pytorch() {
    let fx = json("transformer.json");
    let cases = fx["transformer"].as_array().unwrap();
    assert!(cases.len() >= 2);
    for case in cases {
        let c = &case["config"];
        let (e, h) = sizes(c);
        let activation = match c["activation"].as_str().unwrap() {
            "relu" => Activation::Relu,
            _ => Activation::Gelu,
        };
        let layers = |k: &str| c[k].as_u64().unwrap() as usize;
        let mut m = Transformer::builder(e, h)
            .num_encoder_layers(layers("num_encoder_layers"))
            .num_decoder_layers(layers("num_decoder_layers"))
            .dim_feedforward(layers("dim_feedforward"))
            .dropout(0.0)
            .activation(activation)
            .layer_norm_eps(c["layer_norm_eps"].as_f64().unwrap())
            .batch_first(c["batch_first"].as_bool().unwrap())
            .norm_first(c["norm_first"].as_bool().unwrap())
            .bias(c["bias"].as_bool().unwrap())
            .dtype(DType::F64)
            .seed(0)
            .build(&dev())
            .unwrap();
        let [sm, sk] = ["src_mask", "src_key_padding_mask"].map(|k| mask(case, k));
        let [tm, mm, tk, mk] = decoder_masks(case);
        let tc = case["tgt_is_causal"].as_bool().unwrap();
        let (src, tgt) = (tensor(&case["src"]), tensor(&case["tgt"]));
        check_case(case, &mut m, &[("src", &src), ("tgt", &tgt)], |m| {
            m.forward_full(
                &src,
                &tgt,
                sm.as_ref(),
                tm.as_ref(),
                mm.as_ref(),
                sk.as_ref(),
                tk.as_ref(),
                mk.as_ref(),
                false,
                tc,
                false,
            )
        });
    }
}

#[test]
fn transformer_weights_start_xavier_uniform_and_inputs_are_checked() {
    // PyTorch's _reset_parameters: every parameter of two or more dims ~ U(±√(6 / (fan_in
    // + fan_out))); biases and norms keep their layers' initial values.
    let t = Transformer::builder(16, 4)
        .num_encoder_layers(2)
        .num_decoder_layers(2)
        .dim_feedforward(64)
        .seed(4)
        .build(&dev())
        .unwrap();
    let mut matrices = 0;
    for (name, p) in t.named_parameters() {
        let v = p.to_f64_vec().unwrap();
        if p.rank() > 1 {
            let (fan_out, fan_in) = (p.dims()[0] as f64, p.dims()[1] as f64);
            let bound = (6.0 / (fan_in + fan_out)).sqrt();
            assert!(v.iter().all(|x| x.abs() <= bound), "{name}");
            // Uniform on ±bound: variance bound² / 3, within 25 % over >= 256 draws.
            let var = v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64;
            let want = bound * bound / 3.0;
            assert!(
                (var / want - 1.0).abs() < 0.25,
                "{name}: variance {var} vs {want}"
            );
            matrices += 1;
        } else if name.contains("norm") && name.ends_with("weight") {
            assert!(v.iter().all(|&x| x == 1.0), "{name}");
        } else if name.ends_with("in_proj_bias") || name.contains("norm") {
            assert!(v.iter().all(|&x| x == 0.0), "{name}");
        }
    }
    // Per encoder layer 4 matrices (in_proj, out_proj, linear1, linear2), per decoder
    // layer 6 (and the cross-attention's two).
    assert_eq!(matrices, 2 * 4 + 2 * 6);
    // The copies of one layer are drawn apart.
    let a = t.encoder.layers[0].linear1.weight.to_f64_vec().unwrap();
    let b = t.encoder.layers[1].linear1.weight.to_f64_vec().unwrap();
    assert_ne!(a, b);

    let src = Tensor::randn(1, [5, 3, 16], DType::F32, &dev()).unwrap();
    let tgt = Tensor::randn(2, [4, 2, 16], DType::F32, &dev()).unwrap();
    let e = t
        .forward_full(
            &src, &tgt, None, None, None, None, None, None, false, false, false,
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Transformer(d_model 16")
            && e.contains("[5, 3, 16]")
            && e.contains("[4, 2, 16]"),
        "{e}"
    );
    let narrow = Tensor::randn(2, [4, 3, 8], DType::F32, &dev()).unwrap();
    let e = t
        .forward_full(
            &src, &narrow, None, None, None, None, None, None, false, false, false,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("tgt has shape [4, 3, 8]"), "{e}");
    assert!(t
        .forward(&src)
        .unwrap_err()
        .to_string()
        .contains("forward_full"));
}

#[test]
fn stacked_layers_are_independent_copies() {
    let layer = TransformerEncoderLayer::builder(8, 2)
        .dim_feedforward(16)
        .seed(3)
        .build(&dev())
        .unwrap();
    let mut enc = TransformerEncoder::new(&layer, 2, None).unwrap();
    let first = &mut enc.layers[0].linear1.weight;
    assert_eq!(
        first.to_f64_vec().unwrap(),
        layer.linear1.weight.to_f64_vec().unwrap()
    );
    let doubled = (&*first * 2.0).unwrap();
    first.assign(&doubled).unwrap();
    assert_ne!(
        first.to_f64_vec().unwrap(),
        layer.linear1.weight.to_f64_vec().unwrap()
    );
    assert_eq!(
        enc.layers[1].linear1.weight.to_f64_vec().unwrap(),
        layer.linear1.weight.to_f64_vec().unwrap(),
        "changing one copy changed another"
    );
}

#[test]
fn bad_inputs_say_what_is_wrong() {
    let e = TransformerEncoderLayer::builder(10, 3)
        .build(&dev())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("TransformerEncoderLayer")
            && e.contains("d_model (10)")
            && e.contains("nhead (3)"),
        "{e}"
    );
    let e = TransformerDecoderLayer::builder(10, 4)
        .build(&dev())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("TransformerDecoderLayer") && e.contains("(10)"),
        "{e}"
    );
    let layer = TransformerEncoderLayer::builder(8, 2)
        .dim_feedforward(16)
        .dtype(DType::F64)
        .seed(1)
        .build(&dev())
        .unwrap();
    let x = Tensor::randn(2, [5, 3, 6], DType::F64, &dev()).unwrap();
    let e = layer.forward(&x).unwrap_err().to_string();
    assert!(
        e.contains("TransformerEncoderLayer(d_model 8, nhead 2, dim_feedforward 16)")
            && e.contains("[5, 3, 6]")
            && e.contains("d_model 8"),
        "{e}"
    );
    let enc = TransformerEncoder::new(&layer, 2, None).unwrap();
    let e = enc.forward(&x).unwrap_err().to_string();
    assert!(e.contains("layer 0") && e.contains("[5, 3, 6]"), "{e}");
    // A mask of the wrong shape: named by the layer and the attention.
    let x = Tensor::randn(2, [5, 3, 8], DType::F64, &dev()).unwrap();
    let bad = Tensor::ones([4, 4], DType::Bool, &dev()).unwrap();
    let e = layer
        .forward_masked(&x, Some(&bad), None, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("TransformerEncoderLayer") && e.contains("attn_mask") && e.contains("[4, 4]"),
        "{e}"
    );
    let dec = TransformerDecoderLayer::builder(8, 2)
        .dim_feedforward(16)
        .dtype(DType::F64)
        .seed(1)
        .build(&dev())
        .unwrap();
    let mem = Tensor::randn(2, [4, 3, 7], DType::F64, &dev()).unwrap();
    let e = dec
        .forward_memory(&x, &mem, None, None, None, None, false, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("memory has shape [4, 3, 7]"), "{e}");
    let e = dec.forward(&x).unwrap_err().to_string();
    assert!(e.contains("forward_memory"), "{e}");
}

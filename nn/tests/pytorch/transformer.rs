//! The Transformer layers against PyTorch (`fixtures/make_transformer_fixtures.py`, its
//! output committed next to it): `TransformerEncoderLayer`, `TransformerEncoder`,
//! `TransformerDecoderLayer` and `TransformerDecoder` outputs and the gradients of
//! `sum(out * w)` with respect to the inputs and every parameter (by PyTorch's name), in
//! f64 to 1e-9 relative; and the errors of bad inputs.

use lamina_autograd::value_and_grad;
use lamina_nn::{
    Activation, LayerNorm, Module, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
    TransformerEncoderLayer, TransformerLayerBuilder,
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

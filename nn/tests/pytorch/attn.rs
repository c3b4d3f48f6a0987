//! Attention against PyTorch (`fixtures/make_attn_fixtures.py`, its output committed next
//! to it): `scaled_dot_product_attention` and `MultiheadAttention` outputs, weights and
//! the gradients of `sum(out * w)` with respect to the inputs and every parameter (by
//! PyTorch's name), in f64 to 1e-9 relative; and the errors of bad inputs.

use lamina_autograd::value_and_grad;
use lamina_nn::attention::{causal_mask, square_subsequent_mask};
use lamina_nn::functional::scaled_dot_product_attention;
use lamina_nn::{Module, MultiheadAttention};
use lamina_tensor::{DType, Tensor};
use serde_json::Value;

use super::{assert_f64 as assert_close, dev, json, tensor};

/// A fixture mask: bool masks are stored as 0/1.
fn mask(v: &Value, dtype: &Value) -> Option<Tensor> {
    if v.is_null() {
        return None;
    }
    let t = tensor(v);
    Some(if dtype.as_str() == Some("bool") {
        t.to_dtype(DType::Bool).unwrap()
    } else {
        t.to_dtype(DType::F64).unwrap()
    })
}

#[test]
fn sdpa_matches_pytorch() {
    let fx = json("attn.json");
    let cases = fx["sdpa"].as_array().unwrap();
    assert!(cases.len() >= 9);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (q, k, v) = (
            tensor(&case["query"]),
            tensor(&case["key"]),
            tensor(&case["value"]),
        );
        let m = mask(&case["attn_mask"], &case["mask_dtype"]);
        let lw = tensor(&case["w"]);
        let mut out = None;
        let (_, grads) = value_and_grad(&[&q, &k, &v], || {
            let y = scaled_dot_product_attention(
                &q,
                &k,
                &v,
                m.as_ref(),
                0.0,
                case["is_causal"].as_bool().unwrap(),
                case["scale"].as_f64(),
                0,
                true,
            )?;
            out = Some(y.clone());
            (&y * &lw)?.sum_all()
        })
        .unwrap();
        assert_close(&format!("{name}: output"), &out.unwrap(), &case["output"]);
        for (key, t) in [("grad_query", &q), ("grad_key", &k), ("grad_value", &v)] {
            assert_close(&format!("{name}: {key}"), grads.get(t).unwrap(), &case[key]);
        }
    }
}

fn opt_usize(v: &Value) -> Option<usize> {
    v.as_u64().map(|x| x as usize)
}

#[test]
fn multihead_attention_matches_pytorch() {
    let fx = json("attn.json");
    let cases = fx["mha"].as_array().unwrap();
    assert!(cases.len() >= 11);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let c = &case["config"];
        let mut b = MultiheadAttention::builder(
            c["embed_dim"].as_u64().unwrap() as usize,
            c["num_heads"].as_u64().unwrap() as usize,
        )
        .bias(c["bias"].as_bool().unwrap())
        .add_bias_kv(c["add_bias_kv"].as_bool().unwrap())
        .batch_first(c["batch_first"].as_bool().unwrap())
        .dtype(DType::F64)
        .seed(0);
        if let Some(k) = opt_usize(&c["kdim"]) {
            b = b.kdim(k);
        }
        if let Some(v) = opt_usize(&c["vdim"]) {
            b = b.vdim(v);
        }
        let mut m = b.build(&dev()).unwrap();
        // Same names, in PyTorch's order; load PyTorch's values.
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
        let (q, k, v) = (
            tensor(&case["query"]),
            tensor(&case["key"]),
            tensor(&case["value"]),
        );
        let kpm = mask(&case["key_padding_mask"], &case["kpm_dtype"]);
        let am = mask(&case["attn_mask"], &case["mask_dtype"]);
        let lw = tensor(&case["w"]);
        let mut wrt: Vec<&Tensor> = vec![&q, &k, &v];
        let params = m.named_parameters();
        wrt.extend(params.iter().map(|(_, p)| p));
        let mut got = None;
        let (_, grads) = value_and_grad(&wrt, || {
            let (y, w) = m.forward_qkv(
                &q,
                &k,
                &v,
                kpm.as_ref(),
                case["need_weights"].as_bool().unwrap(),
                am.as_ref(),
                case["average_attn_weights"].as_bool().unwrap(),
                case["is_causal"].as_bool().unwrap(),
            )?;
            let loss = (&y * &lw)?.sum_all();
            got = Some((y, w));
            loss
        })
        .unwrap();
        let (y, w) = got.unwrap();
        assert_close(&format!("{name}: output"), &y, &case["output"]);
        match w {
            Some(w) => assert_close(&format!("{name}: weights"), &w, &case["weights"]),
            None => assert!(case["weights"].is_null(), "{name}: weights missing"),
        }
        for (key, t) in [("query", &q), ("key", &k), ("value", &v)] {
            assert_close(
                &format!("{name}: grad {key}"),
                grads.get(t).unwrap(),
                &case["grads"][key],
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
}

fn f64s(shape: &[usize]) -> Tensor {
    Tensor::randn(3, shape, DType::F64, &dev()).unwrap()
}

#[test]
fn sdpa_bad_inputs_say_what_is_wrong() {
    let (q, k, v) = (f64s(&[2, 4, 5]), f64s(&[2, 6, 5]), f64s(&[2, 6, 3]));
    let sdpa = |q: &Tensor, k: &Tensor, v: &Tensor, m: Option<&Tensor>, causal: bool| {
        scaled_dot_product_attention(q, k, v, m, 0.0, causal, None, 0, false)
            .unwrap_err()
            .to_string()
    };
    let e = sdpa(&q, &f64s(&[2, 6, 4]), &v, None, false);
    assert!(e.starts_with("scaled_dot_product_attention:"), "{e}");
    assert!(e.contains("[2, 4, 5]") && e.contains("[2, 6, 4]"), "{e}");
    let e = sdpa(&q, &k, &f64s(&[2, 5, 3]), None, false);
    assert!(e.contains("differ in S"), "{e}");
    let bad = Tensor::ones([4, 5], DType::Bool, &dev()).unwrap();
    let e = sdpa(&q, &k, &v, Some(&bad), false);
    assert!(
        e.contains("attn_mask of shape [4, 5]") && e.contains("[2, 4, 6]"),
        "{e}"
    );
    let ints = Tensor::ones([4, 6], DType::I64, &dev()).unwrap();
    let e = sdpa(&q, &k, &v, Some(&ints), false);
    assert!(e.contains("must be bool") && e.contains("i64"), "{e}");
    let ok = causal_mask(4, 6, &dev()).unwrap();
    let e = sdpa(&q, &k, &v, Some(&ok), true);
    assert!(e.contains("is_causal"), "{e}");
}

#[test]
fn causal_helpers_agree_with_is_causal() {
    let (q, k, v) = (f64s(&[3, 4, 5]), f64s(&[3, 6, 5]), f64s(&[3, 6, 2]));
    let a = scaled_dot_product_attention(&q, &k, &v, None, 0.0, true, None, 0, false).unwrap();
    let m = causal_mask(4, 6, &dev()).unwrap();
    let b = scaled_dot_product_attention(&q, &k, &v, Some(&m), 0.0, false, None, 0, false).unwrap();
    assert_eq!(a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
    let (q, k) = (f64s(&[3, 4, 5]), f64s(&[3, 4, 5]));
    let v = f64s(&[3, 4, 2]);
    let fm = square_subsequent_mask(4, DType::F64, &dev()).unwrap();
    let c =
        scaled_dot_product_attention(&q, &k, &v, Some(&fm), 0.0, false, None, 0, false).unwrap();
    let d = scaled_dot_product_attention(&q, &k, &v, None, 0.0, true, None, 0, false).unwrap();
    assert_eq!(c.to_f64_vec().unwrap(), d.to_f64_vec().unwrap());
}

#[test]
fn mha_bad_inputs_say_what_is_wrong() {
    let e = MultiheadAttention::builder(10, 3)
        .build(&dev())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "MultiheadAttention: embed_dim (10) must be a positive multiple of num_heads (3)"
    );
    let m = MultiheadAttention::builder(8, 2)
        .dtype(DType::F64)
        .seed(1)
        .build(&dev())
        .unwrap();
    let x = f64s(&[4, 3, 8]);
    let call = |q: &Tensor, kpm: Option<&Tensor>, am: Option<&Tensor>| {
        m.forward_qkv(q, &x, &x, kpm, true, am, true, false)
            .unwrap_err()
            .to_string()
    };
    let e = call(&f64s(&[4, 3, 6]), None, None);
    assert_eq!(
        e,
        "MultiheadAttention(embed_dim 8, num_heads 2): query has 6 features (shape [4, 3, 6]), expected 8"
    );
    let e = call(&f64s(&[2, 4, 3, 8]), None, None);
    assert!(e.contains("[2, 4, 3, 8]"), "{e}");
    let bad = Tensor::ones([4, 5], DType::Bool, &dev()).unwrap();
    let e = call(&x, None, Some(&bad));
    assert_eq!(
        e,
        "MultiheadAttention(embed_dim 8, num_heads 2): attn_mask has shape [4, 5], expected [L 4, S 4] or [N·H 6, L 4, S 4]"
    );
    let ints = Tensor::ones([4, 4], DType::I64, &dev()).unwrap();
    let e = call(&x, None, Some(&ints));
    assert!(
        e.contains("attn_mask must be bool or float, got i64"),
        "{e}"
    );
    let kpm = Tensor::ones([4, 3], DType::Bool, &dev()).unwrap();
    let e = call(&x, Some(&kpm), None);
    assert!(
        e.contains("key_padding_mask has shape [4, 3], expected [N 3, S 4]"),
        "{e}"
    );
    let e = m
        .forward_qkv(&x, &x, &x, None, true, None, true, true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs attn_mask"), "{e}");
}

#[test]
fn mha_init_and_modes_are_pytorchs() {
    let mut m = MultiheadAttention::builder(16, 4)
        .dropout(0.5)
        .add_bias_kv(true)
        .seed(9)
        .build(&dev())
        .unwrap();
    let p: std::collections::BTreeMap<_, _> = m.named_parameters().into_iter().collect();
    assert_eq!(p["in_proj_weight"].dims(), &[48, 16]);
    let bound = (6.0f64 / (48.0 + 16.0)).sqrt();
    let w = p["in_proj_weight"].to_f64_vec().unwrap();
    assert!(w.iter().all(|x| x.abs() <= bound + 1e-6));
    assert!(w.iter().any(|x| x.abs() > 0.8 * bound));
    for n in ["in_proj_bias", "out_proj.bias"] {
        assert!(p[n].to_f64_vec().unwrap().iter().all(|&x| x == 0.0), "{n}");
    }
    assert_eq!(p["bias_k"].dims(), &[1, 1, 16]);
    assert_eq!(m.num_parameters(), 48 * 16 + 48 + 16 + 16 + 16 * 16 + 16);
    // Dropout in training, none in evaluation; the stream position is saved.
    let x = f64s(&[5, 2, 16]).to_dtype(DType::F32).unwrap();
    assert_eq!(m.training_mode(), Some(true));
    let a = m.forward(&x).unwrap();
    assert_eq!(m.rng_state().get("dropout.step"), Some(&1));
    m.eval();
    let b = m.forward(&x).unwrap();
    let c = m.forward(&x).unwrap();
    assert_ne!(a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    assert_eq!(b.to_vec::<f32>().unwrap(), c.to_vec::<f32>().unwrap());
}

#[test]
fn all_masked_queries_behave_as_in_pytorch() {
    // SDPA: zeros for a float mask of -inf as for a bool mask (fixture: bool_mask_dead_row).
    let (q, k, v) = (f64s(&[2, 3, 4]), f64s(&[2, 5, 4]), f64s(&[2, 5, 2]));
    let mut fm = vec![0.0f64; 15];
    fm[5..10].fill(f64::NEG_INFINITY);
    let fm = Tensor::from_vec(fm, [3, 5], &dev()).unwrap();
    let out =
        scaled_dot_product_attention(&q, &k, &v, Some(&fm), 0.0, false, None, 0, false).unwrap();
    let row = out.narrow(1, 1, 1).unwrap().to_f64_vec().unwrap();
    assert!(row.iter().all(|&x| x == 0.0), "{row:?}");
    assert!(out.all_finite().unwrap());
    // MultiheadAttention: NaN with need_weights, the output bias without (checked
    // against PyTorch 2.15).
    let mut m = MultiheadAttention::builder(4, 2)
        .dtype(DType::F64)
        .seed(2)
        .build(&dev())
        .unwrap();
    m.out_proj
        .bias
        .as_mut()
        .unwrap()
        .assign(&Tensor::full(0.5, [4], DType::F64, &dev()).unwrap())
        .unwrap();
    let x = f64s(&[3, 2, 4]);
    let kpm = Tensor::from_vec(vec![true, true, true, false, false, true], [2, 3], &dev()).unwrap();
    let (y, _) = m
        .forward_qkv(&x, &x, &x, Some(&kpm), false, None, true, false)
        .unwrap();
    let b0 = y.narrow(1, 0, 1).unwrap().to_f64_vec().unwrap();
    assert!(b0.iter().all(|&x| x == 0.5), "{b0:?}");
    let (y, w) = m
        .forward_qkv(&x, &x, &x, Some(&kpm), true, None, true, false)
        .unwrap();
    assert!(y.narrow(1, 0, 1).unwrap().to_f64_vec().unwrap()[0].is_nan());
    assert!(w.unwrap().narrow(0, 0, 1).unwrap().to_f64_vec().unwrap()[0].is_nan());
    assert!(y.narrow(1, 1, 1).unwrap().all_finite().unwrap());
}

#[test]
fn sdpa_dropout_is_seeded_and_only_in_training() {
    let (q, k, v) = (f64s(&[2, 4, 3]), f64s(&[2, 6, 3]), f64s(&[2, 6, 5]));
    let run = |p: f64, seed: u64, training: bool| {
        scaled_dot_product_attention(&q, &k, &v, None, p, false, None, seed, training)
            .unwrap()
            .to_f64_vec()
            .unwrap()
    };
    let plain = run(0.0, 0, true);
    assert_eq!(run(0.5, 7, false), plain);
    assert_eq!(run(0.5, 7, true), run(0.5, 7, true));
    assert_ne!(run(0.5, 7, true), plain);
    assert_ne!(run(0.5, 7, true), run(0.5, 8, true));
    assert!(scaled_dot_product_attention(&q, &k, &v, None, 1.5, false, None, 0, true).is_err());
}

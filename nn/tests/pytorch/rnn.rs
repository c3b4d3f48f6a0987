//! The recurrent layers and cells against PyTorch (`fixtures/make_rnn_fixtures.py`, its
//! output committed next to it): each case's parameters loaded by their PyTorch names,
//! then the output, the final states and the gradients of
//! `sum(out * w) + sum(h_n * w_h) + sum(c_n * w_c)` with respect to the input, the
//! initial states and every parameter, in f64 to 1e-9; with per-sequence lengths as
//! PyTorch's packed sequences. Then the errors on bad inputs, which name the layer and
//! the shapes.

use std::collections::BTreeSet;

use lamina_autograd::value_and_grad;
use lamina_nn::{Gru, GruCell, Lstm, LstmCell, Module, Rnn, RnnCell, RnnNonlinearity};
use lamina_tensor::{DType, Result, Tensor};
use serde_json::Value;

use super::{assert_f64 as assert_close, dev, json, tensor};

fn opt(v: &Value) -> Option<Tensor> {
    (!v.is_null()).then(|| tensor(v))
}

fn nonlinearity(kind: &str) -> RnnNonlinearity {
    if kind == "rnn_relu" {
        RnnNonlinearity::Relu
    } else {
        RnnNonlinearity::Tanh
    }
}

enum Layer {
    Rnn(Rnn),
    Lstm(Lstm),
    Gru(Gru),
}

impl Layer {
    fn from_case(case: &Value) -> Layer {
        let kind = case["kind"].as_str().unwrap();
        let size = |k: &str| case[k].as_u64().unwrap() as usize;
        let flag = |k: &str| case[k].as_bool().unwrap();
        let (hin, h) = (size("input_size"), size("hidden_size"));
        macro_rules! opts {
            ($b:expr) => {
                $b.num_layers(size("num_layers"))
                    .bias(flag("bias"))
                    .batch_first(flag("batch_first"))
                    .bidirectional(flag("bidirectional"))
                    .dtype(DType::F64)
                    .seed(0)
            };
        }
        let d = dev();
        match kind {
            "lstm" => Layer::Lstm(
                opts!(Lstm::builder(hin, h))
                    .proj_size(size("proj_size"))
                    .build(&d)
                    .unwrap(),
            ),
            "gru" => Layer::Gru(opts!(Gru::builder(hin, h)).build(&d).unwrap()),
            _ => Layer::Rnn(
                opts!(Rnn::builder(hin, h))
                    .nonlinearity(nonlinearity(kind))
                    .build(&d)
                    .unwrap(),
            ),
        }
    }

    fn module(&mut self) -> &mut dyn Module {
        match self {
            Layer::Rnn(m) => m,
            Layer::Lstm(m) => m,
            Layer::Gru(m) => m,
        }
    }

    fn run(
        &self,
        x: &Tensor,
        h0: Option<&Tensor>,
        c0: Option<&Tensor>,
        lengths: Option<&[usize]>,
    ) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let state = h0.zip(c0);
        Ok(match (self, lengths) {
            (Layer::Rnn(m), None) => {
                let (o, h) = m.forward_with(x, h0)?;
                (o, h, None)
            }
            (Layer::Rnn(m), Some(l)) => {
                let (o, h) = m.forward_lengths(x, l, h0)?;
                (o, h, None)
            }
            (Layer::Gru(m), None) => {
                let (o, h) = m.forward_with(x, h0)?;
                (o, h, None)
            }
            (Layer::Gru(m), Some(l)) => {
                let (o, h) = m.forward_lengths(x, l, h0)?;
                (o, h, None)
            }
            (Layer::Lstm(m), None) => {
                let (o, (h, c)) = m.forward_with(x, state)?;
                (o, h, Some(c))
            }
            (Layer::Lstm(m), Some(l)) => {
                let (o, (h, c)) = m.forward_lengths(x, l, state)?;
                (o, h, Some(c))
            }
        })
    }
}

/// Writes the case's parameters into `module` by name; the names must be PyTorch's.
fn load(what: &str, module: &mut dyn Module, params: &Value) {
    let theirs: BTreeSet<String> = params.as_object().unwrap().keys().cloned().collect();
    let ours: BTreeSet<String> = module
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(ours, theirs, "{what}: parameter names");
    module.visit_mut("", &mut |name, p| {
        let v = tensor(&params[&name]);
        assert_eq!(p.dims(), v.dims(), "{what}: {name} shape");
        p.assign(&v).unwrap();
    });
}

/// Compares the gradients of the case's leaves (`input`, `h0`, `c0`, parameters).
fn check_grads(
    what: &str,
    case: &Value,
    leaves: &[(String, Tensor)],
    grads: &lamina_autograd::Grads,
) {
    let want = case["grads"].as_object().unwrap();
    assert_eq!(want.len(), leaves.len(), "{what}: number of gradients");
    for (name, t) in leaves {
        let g = grads
            .get(t)
            .cloned()
            .unwrap_or_else(|| t.zeros_like().unwrap());
        assert_close(&format!("{what}: grad {name}"), &g, &want[name]);
    }
}

#[test]
fn layers_match_pytorch_outputs_states_and_gradients() {
    let fx = json("rnn.json");
    let cases = fx["layers"].as_array().unwrap();
    assert!(cases.len() >= 34);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let mut layer = Layer::from_case(case);
        load(name, layer.module(), &case["params"]);
        let x = tensor(&case["input"]);
        let (h0, c0) = (opt(&case["h0"]), opt(&case["c0"]));
        let lengths: Option<Vec<usize>> = case["lengths"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_u64().unwrap() as usize).collect());
        let (w, w_h, w_c) = (tensor(&case["w"]), tensor(&case["w_h"]), opt(&case["w_c"]));
        let mut leaves = vec![("input".to_string(), x.clone())];
        leaves.extend(h0.iter().map(|t| ("h0".to_string(), t.clone())));
        leaves.extend(c0.iter().map(|t| ("c0".to_string(), t.clone())));
        leaves.extend(layer.module().named_parameters());
        let watched: Vec<&Tensor> = leaves.iter().map(|(_, t)| t).collect();
        let mut got = None;
        let (_, grads) = value_and_grad(&watched, || {
            let (out, h, c) = layer.run(&x, h0.as_ref(), c0.as_ref(), lengths.as_deref())?;
            let mut loss = ((&out * &w)?.sum_all()? + (&h * &w_h)?.sum_all()?)?;
            if let (Some(c), Some(w_c)) = (&c, &w_c) {
                loss = (loss + (c * w_c)?.sum_all()?)?;
            }
            got = Some((out, h, c));
            Ok(loss)
        })
        .unwrap();
        let (out, h, c) = got.unwrap();
        assert_close(&format!("{name}: output"), &out, &case["output"]);
        assert_close(&format!("{name}: h_n"), &h, &case["h_n"]);
        assert_eq!(c.is_some(), !case["c_n"].is_null(), "{name}: c_n");
        if let Some(c) = &c {
            assert_close(&format!("{name}: c_n"), c, &case["c_n"]);
        }
        check_grads(name, case, &leaves, &grads);
    }
}

enum Cell {
    Rnn(RnnCell),
    Lstm(LstmCell),
    Gru(GruCell),
}

#[test]
fn cells_match_pytorch_outputs_and_gradients() {
    let fx = json("rnn.json");
    let cases = fx["cells"].as_array().unwrap();
    assert!(cases.len() >= 16);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let kind = case["kind"].as_str().unwrap();
        let size = |k: &str| case[k].as_u64().unwrap() as usize;
        let (hin, hid, bias) = (
            size("input_size"),
            size("hidden_size"),
            case["bias"].as_bool().unwrap(),
        );
        let d = dev();
        let mut cell = match kind {
            "lstm" => Cell::Lstm(
                LstmCell::builder(hin, hid)
                    .bias(bias)
                    .dtype(DType::F64)
                    .build(&d)
                    .unwrap(),
            ),
            "gru" => Cell::Gru(
                GruCell::builder(hin, hid)
                    .bias(bias)
                    .dtype(DType::F64)
                    .build(&d)
                    .unwrap(),
            ),
            _ => Cell::Rnn(
                RnnCell::builder(hin, hid)
                    .bias(bias)
                    .nonlinearity(nonlinearity(kind))
                    .dtype(DType::F64)
                    .build(&d)
                    .unwrap(),
            ),
        };
        let module: &mut dyn Module = match &mut cell {
            Cell::Rnn(m) => m,
            Cell::Lstm(m) => m,
            Cell::Gru(m) => m,
        };
        load(name, module, &case["params"]);
        let x = tensor(&case["input"]);
        let (h0, c0) = (opt(&case["h0"]), opt(&case["c0"]));
        let (w, w_c) = (tensor(&case["w"]), opt(&case["w_c"]));
        let mut leaves = vec![("input".to_string(), x.clone())];
        leaves.extend(h0.iter().map(|t| ("h0".to_string(), t.clone())));
        leaves.extend(c0.iter().map(|t| ("c0".to_string(), t.clone())));
        leaves.extend(module.named_parameters());
        let watched: Vec<&Tensor> = leaves.iter().map(|(_, t)| t).collect();
        let mut got = None;
        let (_, grads) = value_and_grad(&watched, || {
            let (h, c) = match &cell {
                Cell::Rnn(m) => (m.forward_with(&x, h0.as_ref())?, None),
                Cell::Gru(m) => (m.forward_with(&x, h0.as_ref())?, None),
                Cell::Lstm(m) => {
                    let (h, c) = m.forward_with(&x, h0.as_ref().zip(c0.as_ref()))?;
                    (h, Some(c))
                }
            };
            let mut loss = (&h * &w)?.sum_all()?;
            if let (Some(c), Some(w_c)) = (&c, &w_c) {
                loss = (loss + (c * w_c)?.sum_all()?)?;
            }
            got = Some((h, c));
            Ok(loss)
        })
        .unwrap();
        let (h, c) = got.unwrap();
        assert_close(&format!("{name}: h"), &h, &case["output"]);
        if let Some(c) = &c {
            assert_close(&format!("{name}: c"), c, &case["c_n"]);
        }
        check_grads(name, case, &leaves, &grads);
    }
}

fn zeros(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape, DType::F32, &dev()).unwrap()
}

#[test]
fn bad_inputs_are_errors_naming_the_layer_and_the_shapes() {
    let d = dev();
    let lstm = Lstm::builder(3, 4)
        .num_layers(2)
        .bidirectional(true)
        .seed(0)
        .build(&d)
        .unwrap();
    let err = |r: Result<(Tensor, (Tensor, Tensor))>| r.unwrap_err().to_string();
    assert_eq!(
        err(lstm.forward_with(&zeros(&[5, 2, 7]), None)),
        "Lstm(input 3, hidden 4, layers 2, bidirectional): input has 7 features (shape [5, 2, 7]), expected 3"
    );
    assert_eq!(
        err(lstm.forward_with(&zeros(&[3]), None)),
        "Lstm(input 3, hidden 4, layers 2, bidirectional): input must be [L, N, H_in] or unbatched [L, H_in] with H_in = 3, got shape [3]"
    );
    let (h0, c0) = (zeros(&[2, 2, 4]), zeros(&[4, 2, 4]));
    assert_eq!(
        err(lstm.forward_with(&zeros(&[5, 2, 3]), Some((&h0, &c0)))),
        "Lstm(input 3, hidden 4, layers 2, bidirectional): h0 has shape [2, 2, 4], expected [4, 2, 4] for input of shape [5, 2, 3]"
    );
    assert_eq!(
        err(lstm.forward_with(&zeros(&[5, 2, 3]), Some((&c0, &h0)))),
        "Lstm(input 3, hidden 4, layers 2, bidirectional): c0 has shape [2, 2, 4], expected [4, 2, 4] for input of shape [5, 2, 3]"
    );
    assert_eq!(
        err(lstm.forward_lengths(&zeros(&[5, 2, 3]), &[5, 6], None)),
        "Lstm(input 3, hidden 4, layers 2, bidirectional): sequence 1 has length 6, longer than the input's 5 steps (input shape [5, 2, 3])"
    );
    assert_eq!(
        err(lstm.forward_lengths(&zeros(&[5, 2, 3]), &[5, 2, 1], None)),
        "Lstm(input 3, hidden 4, layers 2, bidirectional): 3 lengths for a batch of 2 sequences (input shape [5, 2, 3])"
    );

    let gru = Gru::builder(3, 4)
        .batch_first(true)
        .seed(0)
        .build(&d)
        .unwrap();
    let h0 = zeros(&[1, 5, 4]);
    // batch_first: the batch is dim 0 of the input, the states stay [layers·D, N, H].
    assert_eq!(
        gru.forward_with(&zeros(&[2, 5, 3]), Some(&h0))
            .unwrap_err()
            .to_string(),
        "Gru(input 3, hidden 4, batch_first): h0 has shape [1, 5, 4], expected [1, 2, 4] for input of shape [2, 5, 3]"
    );
    // Unsorted lengths are fine.
    let (out, h) = gru
        .forward_lengths(&zeros(&[3, 5, 3]), &[2, 5, 1], None)
        .unwrap();
    assert_eq!((out.dims(), h.dims()), (&[3, 5, 4][..], &[1, 3, 4][..]));

    let rnn = Rnn::builder(3, 4)
        .nonlinearity(RnnNonlinearity::Relu)
        .seed(0)
        .build(&d)
        .unwrap();
    assert_eq!(
        rnn.forward_with(&zeros(&[5, 3]), Some(&zeros(&[1, 2, 4])))
            .unwrap_err()
            .to_string(),
        "Rnn(input 3, hidden 4, relu): h0 has shape [1, 2, 4], expected [1, 4] for input of shape [5, 3]"
    );

    let cell = LstmCell::builder(3, 4).seed(0).build(&d).unwrap();
    let (h, c) = (zeros(&[2, 4]), zeros(&[2, 3]));
    assert_eq!(
        cell.forward_with(&zeros(&[2, 3]), Some((&h, &c)))
            .unwrap_err()
            .to_string(),
        "LstmCell(input 3, hidden 4): c has shape [2, 3], expected [2, 4] for input of shape [2, 3]"
    );
    let cell = GruCell::builder(3, 4)
        .bias(false)
        .seed(0)
        .build(&d)
        .unwrap();
    assert_eq!(
        cell.forward_with(&zeros(&[2, 5]), None)
            .unwrap_err()
            .to_string(),
        "GruCell(input 3, hidden 4, no bias): input has 5 features (shape [2, 5]), expected 3"
    );
}

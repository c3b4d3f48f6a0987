//! Every op against PyTorch. `fixtures/ops.json` holds PyTorch's outputs and input
//! gradients (of `sum(out * w)` for a fixed random `w`) for every sample of the unary and
//! binary op tables and for hand-written cases of the other ops; it is written by
//! `fixtures/make_op_fixtures.py`. Each case runs here on the CPU device in f64 (the
//! gradients through the tape), and each table case again in f32 against the same f64
//! reference with an f32 tolerance.
//!
//! A table sample without a fixture fails `every_table_sample_has_a_pytorch_fixture`, so
//! no element-wise op exists without a PyTorch test: rerun the script after adding one.
//!
//! Where PyTorch leaves the choice of an index among ties or NaNs to the implementation
//! (`kthvalue`, `median`, `mode` and `topk` on CPU), the case is marked `loose` and the
//! test checks that the index points at an element equal to the value, not that it equals
//! PyTorch's. Deliberate differences from PyTorch are documented on the op (Lamina's sort
//! is always stable, so the fixture asks PyTorch for `stable=True`).

#[path = "pytorch_ops/calls.rs"]
mod calls;
#[path = "pytorch_ops/fixture.rs"]
mod fixture;

use lamina_autograd::Tape;
use lamina_tensor::{BinaryOp, DType, Device, Result, Tensor, UnaryOp};
use serde_json::Value;

use fixture::{compare, num, How};

fn dev() -> Device {
    lamina_backend_cpu::device()
}

fn same_params(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

fn params_of(case: &Value) -> Option<Vec<f64>> {
    case.get("params")
        .and_then(Value::as_array)
        .map(|p| p.iter().map(num).collect())
}

fn label(case: &Value) -> String {
    format!(
        "{} [{}]{}",
        case["op"].as_str().unwrap_or("?"),
        case["case"].as_str().unwrap_or("?"),
        params_of(case)
            .filter(|p| !p.is_empty())
            .map(|p| format!(" params {p:?}"))
            .unwrap_or_default()
    )
}

/// The table op of a table case (`None` when the table has no such sample).
enum TableOp {
    Unary(UnaryOp),
    Binary(BinaryOp),
}

fn table_op(name: &str, params: &[f64]) -> Option<TableOp> {
    if let Some(op) = UnaryOp::samples()
        .into_iter()
        .find(|o| o.name() == name && same_params(&o.params(), params))
    {
        return Some(TableOp::Unary(op));
    }
    BinaryOp::samples()
        .into_iter()
        .find(|o| o.name() == name && params.is_empty())
        .map(TableOp::Binary)
}

/// Runs the case's op on `x`.
fn run(case: &Value, x: &[Tensor], dev: &Device) -> std::result::Result<Vec<Tensor>, String> {
    let name = case["op"].as_str().unwrap_or("");
    let r: Result<Vec<Tensor>> = match params_of(case) {
        Some(params) => match table_op(name, &params) {
            Some(TableOp::Unary(op)) => x[0].unary(op).map(|y| vec![y]),
            Some(TableOp::Binary(op)) => x[0].binary(&x[1], op).map(|y| vec![y]),
            None => return Err("no such sample in the op tables; rerun the script".into()),
        },
        None => match calls::run(name, &case["args"], x, dev) {
            Some(r) => r,
            None => return Err("no Lamina call for this op in pytorch_ops/calls.rs".into()),
        },
    };
    r.map_err(|e| format!("Lamina fails: {e}"))
}

/// `sum_i sum(out_i * w_i)` over the outputs with a weight.
fn loss(outs: &[Tensor], ws: &[Value], dtype: Option<DType>, dev: &Device) -> Result<Tensor> {
    let mut total: Option<Tensor> = None;
    for (o, w) in outs.iter().zip(ws) {
        if w.is_null() {
            continue;
        }
        let mut w = fixture::tensor(w, dev);
        if let Some(dt) = dtype {
            w = w.to_dtype(dt)?;
        }
        let term = (o * &w)?.sum_all()?;
        total = Some(match total {
            Some(t) => (t + term)?,
            None => term,
        });
    }
    match total {
        Some(t) => Ok(t),
        None => Tensor::scalar(0.0, DType::F64, dev),
    }
}

/// The index output of a `loose` case points, along `dim`, at elements equal to the value
/// output (PyTorch's own choice among ties and NaNs is implementation-defined).
fn check_loose(
    loose: &Value,
    x: &Tensor,
    outs: &[Tensor],
    want: &[Value],
    as_dtype: Option<DType>,
) -> std::result::Result<(), String> {
    let (vi, ii) = (
        loose["values"].as_u64().unwrap_or(0) as usize,
        loose["indices"].as_u64().unwrap_or(1) as usize,
    );
    let dim = loose["dim"].as_i64().unwrap_or(0) as isize;
    let keepdim = loose["keepdim"].as_bool().unwrap_or(true);
    // -0 and 0 tie: their order is PyTorch's choice too.
    let how = How {
        signed_zeros: false,
        ..How::values(as_dtype)
    };
    compare(&outs[vi], &want[vi], how).map_err(|e| format!("values: {e}"))?;
    let idx = &outs[ii];
    if idx.dtype() != DType::I64 || idx.dims() != outs[vi].dims() {
        return Err(format!(
            "indices: {} {:?} for values of shape {:?}",
            idx.dtype(),
            idx.dims(),
            outs[vi].dims()
        ));
    }
    let picked = (|| {
        let full = if keepdim {
            idx.clone()
        } else {
            idx.unsqueeze(dim)?
        };
        let p = x.gather(dim, &full)?;
        if keepdim {
            Ok(p)
        } else {
            p.squeeze(dim)
        }
    })()
    .map_err(|e: lamina_tensor::Error| format!("indices: {e}"))?;
    compare(&picked, &want[vi], how).map_err(|e| format!("indices do not point at the values: {e}"))
}

/// Gradients where PyTorch rounds more than Lamina, with the relative tolerance they need.
const WIDER_GRADS: &[(&str, f64, &str)] = &[(
    "hardsigmoid",
    1e-7,
    "PyTorch's f64 backward multiplies by 1/6 rounded to f32",
)];

fn grad_rel(op: &str) -> f64 {
    WIDER_GRADS
        .iter()
        .find(|(name, _, _)| *name == op)
        .map_or(0.0, |&(_, rel, _)| rel)
}

/// Runs one case and compares outputs and gradients; `f32` runs f64 inputs as f32.
fn check(case: &Value, f32: bool, dev: &Device) -> std::result::Result<(), String> {
    let empty = Vec::new();
    let inputs = case["inputs"].as_array().unwrap_or(&empty);
    let as_dtype = f32.then_some(DType::F32);
    let mut x = Vec::with_capacity(inputs.len());
    for t in inputs {
        let v = fixture::tensor(t, dev);
        x.push(if f32 && v.dtype() == DType::F64 {
            v.to_dtype(DType::F32).map_err(|e| e.to_string())?
        } else {
            v
        });
    }
    let grads = case.get("grads").and_then(Value::as_array);
    let tape = grads.map(|g| {
        let tape = Tape::new();
        for (t, want) in x.iter().zip(g) {
            if !want.is_null() {
                tape.watch(t);
            }
        }
        tape
    });
    let outs = run(case, &x, dev)?;
    let want = case["outputs"].as_array().unwrap_or(&empty);
    if outs.len() != want.len() {
        return Err(format!("{} outputs instead of {}", outs.len(), want.len()));
    }
    match case.get("loose") {
        Some(loose) => check_loose(loose, &x[0], &outs, want, as_dtype)?,
        None => {
            for (i, (o, w)) in outs.iter().zip(want).enumerate() {
                compare(o, w, How::values(as_dtype)).map_err(|e| format!("output {i}: {e}"))?;
            }
        }
    }
    let (Some(tape), Some(grads)) = (tape, grads) else {
        return Ok(());
    };
    let ws = case["w"].as_array().unwrap_or(&empty);
    let got = loss(&outs, ws, as_dtype, dev)
        .and_then(|l| tape.backward(&l))
        .map_err(|e| format!("Lamina's backward fails: {e}"))?;
    for (i, (t, want)) in x.iter().zip(grads).enumerate() {
        if want.is_null() {
            continue;
        }
        let g = match got.get(t) {
            Some(g) => g.clone(),
            None => t.zeros_like().map_err(|e| e.to_string())?,
        };
        let how = How::grads(as_dtype, grad_rel(case["op"].as_str().unwrap_or("")));
        compare(&g, want, how).map_err(|e| format!("gradient of input {i}: {e}"))?;
    }
    Ok(())
}

/// Runs every selected case and fails with the list of those that disagree.
fn check_all(select: impl Fn(&Value) -> bool, f32: bool) {
    let dev = dev();
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in fixture::load().iter().filter(|c| select(c)) {
        ran += 1;
        if let Err(e) = check(case, f32, &dev) {
            failures.push(format!("{}: {e}", label(case)));
        }
    }
    assert!(ran > 0, "no fixture cases selected");
    assert!(
        failures.is_empty(),
        "{} of {ran} cases disagree with PyTorch{}:\n{}",
        failures.len(),
        if f32 { " (run in f32)" } else { "" },
        failures.join("\n")
    );
}

fn is_table(case: &Value) -> bool {
    case.get("params").is_some()
}

/// An f32 run needs f64 inputs to round (integer and bool cases are covered in f64).
fn has_f64_input(case: &Value) -> bool {
    case["inputs"]
        .as_array()
        .is_some_and(|ins| ins.iter().any(|t| t["dtype"] == "f64"))
}

#[test]
fn every_table_sample_has_a_pytorch_fixture() {
    let cases = fixture::load();
    let covered = |name: &str, params: &[f64]| {
        cases.iter().any(|c| {
            c["op"] == name
                && c["case"] == "random"
                && params_of(c).is_some_and(|p| same_params(&p, params))
        })
    };
    let mut missing: Vec<String> = UnaryOp::samples()
        .iter()
        .filter(|op| !covered(op.name(), &op.params()))
        .map(|op| format!("{} {:?}", op.name(), op.params()))
        .collect();
    missing.extend(
        BinaryOp::samples()
            .iter()
            .filter(|op| !covered(op.name(), &[]))
            .map(|op| op.name().to_string()),
    );
    assert!(
        missing.is_empty(),
        "op table samples without a PyTorch fixture: {}; rerun \
         autograd/tests/fixtures/make_op_fixtures.py and commit ops.json",
        missing.join(", ")
    );
}

#[test]
fn table_ops_match_pytorch_in_f64() {
    check_all(is_table, false);
}

#[test]
fn table_ops_match_pytorch_in_f32() {
    check_all(|c| is_table(c) && has_f64_input(c), true);
}

#[test]
fn other_ops_match_pytorch() {
    check_all(|c| !is_table(c), false);
}

//! Prints every sample of the unary and binary op tables as JSON: name, params, PyTorch
//! expression, test domain, kinks and the integer/bool kernels. The fixture generator
//! `autograd/tests/fixtures/make_op_fixtures.py` reads this, so each table row gets its
//! PyTorch reference without the script keeping a list of its own.
//!
//! ```text
//! cargo run -q -p lamina-tensor --example op_table > op_table.json
//! ```
//!
//! JSON has no NaN or infinities: such numbers are written as the strings `"nan"`,
//! `"inf"` and `"-inf"`.

use lamina_tensor::{BinaryOp, IntRhs, TestDomain, Tol, UnaryOp};
use serde_json::{json, Value};

/// A number, or its name where JSON has none.
fn num(v: f64) -> Value {
    if v.is_nan() {
        json!("nan")
    } else if v.is_infinite() {
        json!(if v > 0.0 { "inf" } else { "-inf" })
    } else {
        json!(v)
    }
}

fn nums(vs: &[f64]) -> Value {
    Value::Array(vs.iter().map(|&v| num(v)).collect())
}

fn domain(d: TestDomain) -> Value {
    match d {
        TestDomain::Any => json!({ "kind": "any" }),
        TestDomain::Positive => json!({ "kind": "positive" }),
        TestDomain::NonZero => json!({ "kind": "nonzero" }),
        TestDomain::Range(lo, hi) => json!({ "kind": "range", "lo": num(lo), "hi": num(hi) }),
    }
}

fn tolerance(t: Tol) -> &'static str {
    match t {
        Tol::Exact => "exact",
        Tol::Arith => "arith",
        Tol::Transcendental => "transcendental",
    }
}

fn int_rhs(r: IntRhs) -> &'static str {
    match r {
        IntRhs::Any => "any",
        IntRhs::NonZero => "nonzero",
        IntRhs::NonNegative => "nonnegative",
    }
}

fn main() {
    let unary: Vec<Value> = UnaryOp::samples()
        .iter()
        .map(|op| {
            json!({
                "name": op.name(),
                "params": nums(&op.params()),
                "torch": op.torch_expr(),
                "domain": domain(op.test_domain()),
                "kinks": nums(&op.kinks()),
                "tolerance": tolerance(op.tolerance()),
                "int_kernel": op.has_int_kernel(),
            })
        })
        .collect();
    let binary: Vec<Value> = BinaryOp::samples()
        .iter()
        .map(|op| {
            let (a, b) = op.test_domain();
            json!({
                "name": op.name(),
                "params": [],
                "torch": op.torch_expr(),
                "domain": [domain(a), domain(b)],
                "kinks": [],
                "tolerance": tolerance(op.tolerance()),
                "int_kernel": op.has_int_kernel(),
                "bool_kernel": op.has_bool_kernel(),
                "int_rhs": int_rhs(op.int_rhs()),
            })
        })
        .collect();
    let table = json!({ "unary": unary, "binary": binary });
    match serde_json::to_string_pretty(&table) {
        Ok(s) => println!("{s}"),
        Err(e) => {
            eprintln!("op_table: {e}");
            std::process::exit(1);
        }
    }
}

//! Reading `fixtures/ops.json` (written by `fixtures/make_op_fixtures.py`) and comparing
//! Lamina's tensors with PyTorch's: values within a tolerance chosen by the expected
//! dtype, integers and bools exactly, NaN only against NaN.

use lamina_tensor::{DType, Device, Tensor};
use serde_json::Value;

/// The fixture file, parsed.
pub fn load() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ops.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("{path}: {e}; run autograd/tests/fixtures/make_op_fixtures.py to write it")
    });
    let doc: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON: {e}"));
    match doc.get("cases") {
        Some(Value::Array(cases)) => cases.clone(),
        _ => panic!("{path}: no \"cases\" list"),
    }
}

/// A number as the fixture writes it (`"nan"`, `"inf"`, `"-inf"` for what JSON lacks).
pub fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => match s.as_str() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            other => panic!("not a number: {other:?}"),
        },
        Value::Bool(b) => f64::from(u8::from(*b)),
        other => panic!("not a number: {other}"),
    }
}

pub fn dtype_of(name: &str) -> DType {
    match name {
        "f64" => DType::F64,
        "f32" => DType::F32,
        "i64" => DType::I64,
        "bool" => DType::Bool,
        other => panic!("unknown dtype {other:?}"),
    }
}

fn shape_of(t: &Value) -> Vec<usize> {
    t["shape"]
        .as_array()
        .map(|s| s.iter().map(|d| d.as_u64().unwrap_or(0) as usize).collect())
        .unwrap_or_default()
}

fn data_of(t: &Value) -> &[Value] {
    t["data"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// A fixture tensor on `dev`, in its own dtype.
pub fn tensor(t: &Value, dev: &Device) -> Tensor {
    let shape = shape_of(t);
    let data = data_of(t);
    let r = match dtype_of(t["dtype"].as_str().unwrap_or("")) {
        DType::F64 => Tensor::from_vec(data.iter().map(num).collect::<Vec<f64>>(), shape, dev),
        DType::F32 => Tensor::from_vec(
            data.iter().map(|v| num(v) as f32).collect::<Vec<f32>>(),
            shape,
            dev,
        ),
        DType::I64 => Tensor::from_vec(
            data.iter()
                .map(|v| v.as_i64().expect("an i64 element"))
                .collect::<Vec<i64>>(),
            shape,
            dev,
        ),
        DType::Bool => Tensor::from_vec(
            data.iter()
                .map(|v| v.as_bool().expect("a bool element"))
                .collect::<Vec<bool>>(),
            shape,
            dev,
        ),
        DType::U32 | DType::F16 | DType::BF16 => {
            unreachable!("the fixture holds no u32 or half tensors")
        }
    };
    r.unwrap_or_else(|e| panic!("fixture tensor {t}: {e}"))
}

/// How close a float result must come (`|got - want| <= rel |want| + abs`).
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    pub rel: f64,
    pub abs: f64,
}

/// f64 against PyTorch's f64: the same maths, a few roundings apart.
pub const F64: Tol = Tol {
    rel: 1e-10,
    abs: 1e-12,
};

/// f32 results against f64 references (or PyTorch's own f32 results): the input's
/// rounding to f32, amplified by the op's condition number, plus the kernel's own error.
pub const F32: Tol = Tol {
    rel: 1e-4,
    abs: 1e-5,
};

/// What a comparison demands beyond the dtype's tolerance.
#[derive(Clone, Copy, Debug)]
pub struct How {
    /// The dtype the result must have instead of the fixture's (the f32 runs of f64
    /// fixtures); the tolerance follows it.
    pub as_dtype: Option<DType>,
    /// A zero must have PyTorch's sign (values; a gradient's zero may be `-0` from
    /// `g * 0`).
    pub signed_zeros: bool,
    /// A wider relative tolerance (where PyTorch itself rounds more).
    pub rel: f64,
}

impl How {
    pub fn values(as_dtype: Option<DType>) -> How {
        How {
            as_dtype,
            signed_zeros: true,
            rel: 0.0,
        }
    }

    pub fn grads(as_dtype: Option<DType>, rel: f64) -> How {
        How {
            as_dtype,
            signed_zeros: false,
            rel,
        }
    }
}

/// Compares `got` with the fixture tensor `want`.
pub fn compare(got: &Tensor, want: &Value, how: How) -> Result<(), String> {
    let want_dtype = match (how.as_dtype, dtype_of(want["dtype"].as_str().unwrap_or(""))) {
        (Some(dt), DType::F64) => dt,
        (_, dt) => dt,
    };
    if got.dtype() != want_dtype {
        return Err(format!("dtype {} instead of {}", got.dtype(), want_dtype));
    }
    let shape = shape_of(want);
    if got.dims() != shape.as_slice() {
        return Err(format!("shape {:?} instead of {:?}", got.dims(), shape));
    }
    let got_v = got
        .to_f64_vec()
        .map_err(|e| format!("reading the result: {e}"))?;
    let data = data_of(want);
    if want_dtype == DType::I64 {
        let got_i = got.to_vec::<i64>().map_err(|e| e.to_string())?;
        for (k, (g, w)) in got_i.iter().zip(data).enumerate() {
            let w = w.as_i64().expect("an i64 element");
            if *g != w {
                return Err(format!("element {k}: {g} instead of {w}"));
            }
        }
        return Ok(());
    }
    let tol = match want_dtype {
        DType::F64 => Some(F64),
        DType::F32 => Some(F32),
        _ => None,
    };
    for (k, (&g, w)) in got_v.iter().zip(data).enumerate() {
        let w = num(w);
        let ok = match tol {
            None => g == w,
            Some(_) if w.is_nan() || g.is_nan() => w.is_nan() && g.is_nan(),
            Some(_) if w.is_infinite() || g.is_infinite() => g == w,
            Some(t) => (g - w).abs() <= t.rel.max(how.rel) * w.abs() + t.abs,
        };
        let zero_sign = how.signed_zeros
            && g == 0.0
            && w == 0.0
            && g.is_sign_negative() != w.is_sign_negative();
        let ok = ok && !zero_sign;
        if !ok {
            return Err(format!(
                "element {k}: {g:e} instead of {w:e} (got {}, want {})",
                brief(&got_v),
                brief(&data.iter().map(num).collect::<Vec<_>>())
            ));
        }
    }
    Ok(())
}

/// The first few values of a tensor, for failure messages.
fn brief(v: &[f64]) -> String {
    let head: Vec<String> = v.iter().take(12).map(|x| format!("{x}")).collect();
    if v.len() > 12 {
        format!("[{}, ...]", head.join(", "))
    } else {
        format!("[{}]", head.join(", "))
    }
}

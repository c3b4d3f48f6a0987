//! A PyTorch-like `Display`: nested brackets, a common float format, and the dtype when
//! it is not the default. Large tensors are summarised with `...` as PyTorch does.

use std::fmt;

use crate::{DType, Tensor};

const EDGE: usize = 3;
const SUMMARISE_ABOVE: usize = 1000;

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = match self.to_f64_vec() {
            Ok(v) => v,
            Err(e) => return write!(f, "tensor(<unreadable: {e}>)"),
        };
        let float = self.dtype().is_float();
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let max_abs = finite.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let sci = float && (max_abs >= 1e8 || (max_abs > 0.0 && max_abs < 1e-4));
        let all_int = finite.iter().all(|v| v.fract() == 0.0);
        let fmt_one = |v: f64| -> String {
            if !float {
                format!("{v}")
            } else if v.is_nan() {
                "nan".into()
            } else if v.is_infinite() {
                if v > 0.0 {
                    "inf".into()
                } else {
                    "-inf".into()
                }
            } else if sci {
                format!("{v:.4e}")
            } else if all_int {
                format!("{v:.0}.")
            } else {
                format!("{v:.4}")
            }
        };
        let width = values.iter().map(|&v| fmt_one(v).len()).max().unwrap_or(0);
        let summarise = values.len() > SUMMARISE_ABOVE;
        let dims = self.dims().to_vec();
        let mut out = String::from("tensor(");
        write_nested(
            &mut out, &values, &dims, 0, 0, width, summarise, &fmt_one, 7,
        );
        if self.dtype() != DType::F32 {
            out.push_str(&format!(", dtype={}", self.dtype()));
        }
        out.push(')');
        f.write_str(&out)
    }
}

#[allow(clippy::too_many_arguments)]
fn write_nested(
    out: &mut String,
    values: &[f64],
    dims: &[usize],
    depth: usize,
    start: usize,
    width: usize,
    summarise: bool,
    fmt_one: &dyn Fn(f64) -> String,
    indent: usize,
) {
    if dims.is_empty() {
        out.push_str(&fmt_one(values[start]));
        return;
    }
    let n = dims[0];
    let inner: usize = dims[1..].iter().product();
    out.push('[');
    let mut i = 0;
    while i < n {
        if summarise && n > 2 * EDGE && i == EDGE {
            out.push_str("...");
            i = n - EDGE;
            sep(out, dims.len(), depth, indent);
            continue;
        }
        if dims.len() == 1 {
            out.push_str(&format!("{:>width$}", fmt_one(values[start + i])));
        } else {
            write_nested(
                out,
                values,
                &dims[1..],
                depth + 1,
                start + i * inner,
                width,
                summarise,
                fmt_one,
                indent,
            );
        }
        if i + 1 < n {
            out.push(',');
            sep(out, dims.len(), depth, indent);
        }
        i += 1;
    }
    out.push(']');
}

fn sep(out: &mut String, rank_left: usize, depth: usize, indent: usize) {
    if rank_left == 1 {
        out.push(' ');
    } else {
        for _ in 1..rank_left {
            out.push('\n');
        }
        out.pop();
        out.push('\n');
        out.push_str(&" ".repeat(indent + depth + 1));
    }
}

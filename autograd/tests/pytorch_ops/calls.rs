//! The Lamina call of each op outside the element-wise tables, by the name and arguments
//! the fixture script records (its `args`); the inputs are the fixture's, in order.

use lamina_tensor::{
    BinaryOp, CmpOp, DType, Device, IndexArg, IndexItem, Indexing, PadMode, Result, RoundingMode,
    ScatterReduce, Tensor, UnaryOp,
};
use serde_json::Value;

use crate::fixture::{dtype_of, num};

fn int(args: &Value, key: &str) -> i64 {
    args[key]
        .as_i64()
        .unwrap_or_else(|| panic!("argument {key:?} missing in {args}"))
}

fn isz(args: &Value, key: &str) -> isize {
    int(args, key) as isize
}

fn usz(args: &Value, key: &str) -> usize {
    int(args, key) as usize
}

fn flag(args: &Value, key: &str) -> bool {
    args[key]
        .as_bool()
        .unwrap_or_else(|| panic!("argument {key:?} missing in {args}"))
}

fn float(args: &Value, key: &str) -> f64 {
    num(&args[key])
}

fn ints(args: &Value, key: &str) -> Vec<isize> {
    args[key]
        .as_array()
        .unwrap_or_else(|| panic!("argument {key:?} missing in {args}"))
        .iter()
        .map(|v| v.as_i64().expect("an integer") as isize)
        .collect()
}

fn sizes(args: &Value, key: &str) -> Vec<usize> {
    ints(args, key).into_iter().map(|v| v as usize).collect()
}

/// An optional dim (`null`: flatten first).
fn opt_dim(args: &Value) -> Option<isize> {
    args["dim"].as_i64().map(|d| d as isize)
}

fn pair(r: Result<(Tensor, Tensor)>) -> Result<Vec<Tensor>> {
    let (a, b) = r?;
    Ok(vec![a, b])
}

fn one(r: Result<Tensor>) -> Result<Vec<Tensor>> {
    Ok(vec![r?])
}

/// `x.i(...)` items as the fixture writes them.
struct Items(Vec<IndexItem>);

impl IndexArg for Items {
    fn items(self) -> Vec<IndexItem> {
        self.0
    }
}

fn index_items(args: &Value) -> Items {
    let item = |v: &Value| match v {
        Value::String(s) if s == "newaxis" => IndexItem::NewAxis,
        Value::String(s) if s == "ellipsis" => IndexItem::Ellipsis,
        Value::Number(n) => IndexItem::Select(n.as_i64().expect("an integer index")),
        Value::Object(o) => {
            let s = o["slice"].as_array().expect("a slice");
            IndexItem::Slice {
                start: s[0].as_i64(),
                end: s[1].as_i64(),
                step: s[2].as_u64().unwrap_or(1) as usize,
            }
        }
        other => panic!("unknown index item {other}"),
    };
    Items(
        args["items"]
            .as_array()
            .expect("index items")
            .iter()
            .map(item)
            .collect(),
    )
}

fn scatter_reduce(name: &str) -> ScatterReduce {
    match name {
        "sum" => ScatterReduce::Sum,
        "prod" => ScatterReduce::Prod,
        "mean" => ScatterReduce::Mean,
        "amax" => ScatterReduce::Amax,
        "amin" => ScatterReduce::Amin,
        other => panic!("unknown scatter reduction {other:?}"),
    }
}

fn cmp_op(name: &str) -> Option<CmpOp> {
    Some(match name {
        "eq" => CmpOp::Eq,
        "ne" => CmpOp::Ne,
        "lt" => CmpOp::Lt,
        "le" => CmpOp::Le,
        "gt" => CmpOp::Gt,
        "ge" => CmpOp::Ge,
        _ => return None,
    })
}

/// Runs op `name` on `x` (the fixture's inputs) with `args`; `None` for an unknown name.
pub fn run(name: &str, args: &Value, x: &[Tensor], dev: &Device) -> Option<Result<Vec<Tensor>>> {
    let d = || isz(args, "dim");
    let keep = || flag(args, "keepdim");
    Some(match name {
        "cumsum" => one(x[0].cumsum(d())),
        "cumprod" => one(x[0].cumprod(d())),
        "logcumsumexp" => one(x[0].logcumsumexp(d())),
        "sort" => pair(x[0].sort(d(), flag(args, "descending"))),
        "argsort" => one(x[0].argsort(d(), flag(args, "descending"))),
        "topk" => pair(x[0].topk(usz(args, "k"), d(), flag(args, "largest"))),
        "kthvalue" => pair(x[0].kthvalue(usz(args, "k"), d(), keep())),
        "median" => pair(x[0].median(d(), keep())),
        "mode" => pair(x[0].mode(d(), keep())),
        "max_dim" => pair(x[0].max_dim(d(), keep())),
        "min_dim" => pair(x[0].min_dim(d(), keep())),
        "median_all" => one(x[0].median_all()),
        "max_all" => one(x[0].max_all()),
        "min_all" => one(x[0].min_all()),
        "flip" => one(x[0].flip(ints(args, "dims"))),
        "roll" => one(x[0].roll(&ints(args, "shifts"), &ints(args, "dims"))),
        "repeat" => one(x[0].repeat(&sizes(args, "sizes"))),
        "tile" => one(x[0].tile(&sizes(args, "reps"))),
        "repeat_interleave" => one(x[0].repeat_interleave(usz(args, "repeats"), opt_dim(args))),
        "repeat_interleave_tensor" => one(x[0].repeat_interleave_tensor(&x[1], opt_dim(args))),
        "pad" => {
            let mode = match args["mode"].as_str() {
                Some("constant") => PadMode::Constant(float(args, "value")),
                Some("reflect") => PadMode::Reflect,
                Some("replicate") => PadMode::Replicate,
                Some("circular") => PadMode::Circular,
                other => panic!("unknown pad mode {other:?}"),
            };
            one(x[0].pad(&ints(args, "pads"), mode))
        }
        "tril" => one(x[0].tril(isz(args, "k"))),
        "triu" => one(x[0].triu(isz(args, "k"))),
        "diag" => one(x[0].diag(isz(args, "k"))),
        "diagonal" => one(x[0].diagonal(isz(args, "offset"), isz(args, "dim1"), isz(args, "dim2"))),
        "meshgrid" => {
            let indexing = match args["indexing"].as_str() {
                Some("ij") => Indexing::Ij,
                Some("xy") => Indexing::Xy,
                other => panic!("unknown indexing {other:?}"),
            };
            Tensor::meshgrid(&x.iter().collect::<Vec<_>>(), indexing)
        }
        "narrow_step" => {
            one(x[0].narrow_step(d(), usz(args, "start"), usz(args, "len"), usz(args, "step")))
        }
        "unfold" => {
            let x = if flag(args, "transposed") {
                x[0].transpose(0, -1)
            } else {
                Ok(x[0].clone())
            };
            one(x.and_then(|x| x.unfold(d(), usz(args, "size"), usz(args, "step"))))
        }
        "slice_scatter" => {
            one(x[0].slice_scatter(&x[1], d(), usz(args, "start"), usz(args, "step")))
        }
        "scatter" => one(x[0].scatter(d(), &x[1], &x[2])),
        "scatter_value" => one(x[0].scatter_value(d(), &x[1], float(args, "value"))),
        "scatter_add" => one(x[0].scatter_add(d(), &x[1], &x[2])),
        "scatter_reduce" => one(x[0].scatter_reduce(
            d(),
            &x[1],
            &x[2],
            scatter_reduce(args["reduce"].as_str().unwrap_or("")),
            flag(args, "include_self"),
        )),
        "index_add" => one(x[0].index_add(d(), &x[1], &x[2], float(args, "alpha"))),
        "index_copy" => one(x[0].index_copy(d(), &x[1], &x[2])),
        "index_fill" => one(x[0].index_fill(d(), &x[1], float(args, "value"))),
        "masked_select" => one(x[0].masked_select(&x[1])),
        "nonzero" => one(x[0].nonzero()),
        "gather" => one(x[0].gather(d(), &x[1])),
        "index_select" => one(x[0].index_select(d(), &x[1])),
        "norm" => one(x[0].norm(float(args, "p"), ints(args, "dims"), keep())),
        "dist" => one(x[0].dist(&x[1], float(args, "p"))),
        "cdist" => one(x[0].cdist(&x[1], float(args, "p"))),
        "clamp_tensor" => one(match args["which"].as_str() {
            Some("min") => x[0].clamp_tensor(Some(&x[1]), None),
            Some("max") => x[0].clamp_tensor(None, Some(&x[1])),
            _ => x[0].clamp_tensor(Some(&x[1]), Some(&x[2])),
        }),
        "div_mode" => {
            let mode = match args["mode"].as_str() {
                None => None,
                Some("floor") => Some(RoundingMode::Floor),
                Some("trunc") => Some(RoundingMode::Trunc),
                other => panic!("unknown rounding mode {other:?}"),
            };
            one(x[0].div_mode(&x[1], mode))
        }
        "logical_and" => one(x[0].logical_and(&x[1])),
        "logical_or" => one(x[0].logical_or(&x[1])),
        "logical_xor" => one(x[0].logical_xor(&x[1])),
        "logical_not" => one(x[0].logical_not()),
        "isnan" => one(x[0].isnan()),
        "isinf" => one(x[0].isinf()),
        "isfinite" => one(x[0].isfinite()),
        "where" => one(Tensor::where_(&x[0], &x[1], &x[2])),
        "masked_fill" => one(x[0].masked_fill(&x[1], float(args, "value"))),
        "arange" => one(match dtype_of(args["dtype"].as_str().unwrap_or("")) {
            DType::I64 => {
                Tensor::arange_of(int(args, "start"), int(args, "end"), int(args, "step"), dev)
            }
            _ => Tensor::arange_of(
                float(args, "start"),
                float(args, "end"),
                float(args, "step"),
                dev,
            ),
        }),
        "logspace" => one(Tensor::logspace(
            float(args, "start"),
            float(args, "end"),
            usz(args, "steps"),
            float(args, "base"),
            DType::F64,
            dev,
        )),
        "eye" => one(Tensor::eye_nm(
            usz(args, "n"),
            usz(args, "m"),
            dtype_of(args["dtype"].as_str().unwrap_or("")),
            dev,
        )),
        "index" => one(x[0].i(index_items(args))),
        other => {
            if let Some(op) = cmp_op(other) {
                return Some(one(x[0].cmp(&x[1], op)));
            }
            // A table op run on hand-written operands (integer wrapping, signs).
            if let Some(&op) = BinaryOp::samples().iter().find(|o| o.name() == other) {
                return Some(one(x[0].binary(&x[1], op)));
            }
            let unary = UnaryOp::samples();
            let op = unary
                .iter()
                .find(|o| o.name() == other && o.params().is_empty())?;
            one(x[0].unary(*op))
        }
    })
}

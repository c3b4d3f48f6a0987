//! Errors, not panics (shapes, dims, dtypes): every shape, dim and dtype error of the
//! public ops returns `Err` whose message names the op and the operands (`matmul: shape
//! mismatch, lhs [2, 3], rhs [4, 5]`). Index and argument errors, the raw-axes `reduce`
//! and the no-panic fuzz property are in `errors_args.rs`.

use super::check::err_problem;
use super::Report;
use crate::{BinaryOp, DType, Device, Result, Tensor};

/// `arange(0, n).reshape(shape)` of `dtype`.
pub(super) fn t(shape: &[usize], dtype: DType, dev: &Device) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::arange(0.0, n as f64, 1.0, dtype, dev)
        .and_then(|x| x.reshape(shape.to_vec()))
        .expect("building a test tensor")
}

/// Records a problem unless `f` errs with a message containing every needle.
pub(super) fn expect(
    rep: &mut Report,
    ctx: &str,
    f: impl FnOnce() -> Result<Tensor>,
    needles: &[&str],
) {
    rep.problem(err_problem(ctx, f, needles));
}

/// Shape errors name the op and both shapes.
pub fn error_shapes(dev: &Device) {
    let mut rep = Report::new("error_shapes");
    let f = DType::F32;
    let (a23, a45, a4) = (t(&[2, 3], f, dev), t(&[4, 5], f, dev), t(&[4], f, dev));
    expect(
        &mut rep,
        "matmul [2, 3]·[4, 5]",
        || a23.matmul(&a45),
        &["matmul", "[2, 3]", "[4, 5]"],
    );
    let (b1, b2) = (t(&[2, 2, 3], f, dev), t(&[3, 3, 4], f, dev));
    expect(
        &mut rep,
        "matmul batch [2, 2, 3]·[3, 3, 4]",
        || b1.matmul(&b2),
        &["matmul", "[2, 2, 3]", "[3, 3, 4]"],
    );
    expect(
        &mut rep,
        "matmul [4]·[2, 3]",
        || a4.matmul(&a23),
        &["matmul", "[4]", "[2, 3]"],
    );
    let s = Tensor::scalar(1.0, f, dev).expect("scalar");
    expect(
        &mut rep,
        "matmul of a scalar",
        || s.matmul(&a23),
        &["matmul"],
    );
    for op in [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Pow,
        BinaryOp::Maximum,
        BinaryOp::Minimum,
    ] {
        expect(
            &mut rep,
            &format!("{} [2, 3] [4]", op.name()),
            || a23.binary(&a4, op),
            &[op.name(), "[2, 3]", "[4]"],
        );
    }
    expect(
        &mut rep,
        "&a + &b broadcast",
        || &a23 + &a4,
        &["add", "[2, 3]", "[4]"],
    );
    expect(
        &mut rep,
        "(&a * &a) + &b broadcast",
        || &a23 * &a23 + &a4,
        &["add", "[2, 3]", "[4]"],
    );
    expect(
        &mut rep,
        "eq [2, 3] [4]",
        || a23.eq(&a4),
        &["eq", "[2, 3]", "[4]"],
    );
    expect(
        &mut rep,
        "lt [2, 3] [4]",
        || a23.lt(&a4),
        &["lt", "[2, 3]", "[4]"],
    );
    let m = t(&[2, 3], DType::U32, dev);
    expect(
        &mut rep,
        "where cond [2, 3] branch [4]",
        || Tensor::where_(&m, &a4, &a23),
        &["where", "[4]"],
    );
    let m423 = t(&[4, 2, 3], DType::U32, dev);
    expect(
        &mut rep,
        "masked_fill mask larger than self",
        || a23.masked_fill(&m423, 0.0),
        &["masked_fill", "[2, 3]", "[4, 2, 3]"],
    );
    expect(
        &mut rep,
        "reshape [2, 3] -> [4]",
        || a23.reshape([4usize]),
        &["reshape", "[2, 3]", "4"],
    );
    expect(
        &mut rep,
        "view [2, 3] -> [5]",
        || a23.view([5usize]),
        &["view", "[2, 3]", "5"],
    );
    expect(
        &mut rep,
        "reshape [2, 3] -> [-1, 4]",
        || a23.reshape([-1isize, 4]),
        &["reshape", "[2, 3]"],
    );
    let a24 = t(&[2, 4], f, dev);
    expect(
        &mut rep,
        "cat [2, 3] ++ [2, 4] along 0",
        || Tensor::cat(&[&a23, &a24], 0),
        &["cat", "[2, 3]", "[2, 4]"],
    );
    expect(
        &mut rep,
        "cat [2, 3] ++ [4] along 0",
        || Tensor::cat(&[&a23, &a4], 0),
        &["cat", "[2, 3]", "[4]"],
    );
    expect(
        &mut rep,
        "stack [2, 3] and [2, 4]",
        || Tensor::stack(&[&a23, &a24], 0),
        &["stack", "[2, 3]", "[2, 4]"],
    );
    expect(
        &mut rep,
        "expand [2, 3] -> [4, 3]",
        || a23.expand([4usize, 3]),
        &["expand", "[2, 3]", "[4, 3]"],
    );
    expect(
        &mut rep,
        "expand [2, 3] -> [3]",
        || a23.expand([3usize]),
        &["expand"],
    );
    expect(
        &mut rep,
        "broadcast_to [2, 3] -> [2, 4]",
        || a23.broadcast_to([2usize, 4]),
        &["[2, 3]", "[2, 4]"],
    );
    expect(
        &mut rep,
        "softmax_backward [2, 3] vs [2, 4]",
        || a23.softmax_backward(&a24, -1, false),
        &["softmax_backward", "[2, 3]", "[2, 4]"],
    );
    let i33 = t(&[3, 3], DType::I64, dev).mul_scalar(0.0).expect("zeros");
    expect(
        &mut rep,
        "gather [2, 3] by a [3, 3] index",
        || a23.gather(1, &i33),
        &["gather", "[2, 3]", "[3, 3]"],
    );
    let i23 = t(&[2, 3], DType::I64, dev).mul_scalar(0.0).expect("zeros");
    expect(
        &mut rep,
        "scatter_add src smaller than index",
        || a23.scatter_add(1, &i23, &t(&[2, 2], f, dev)),
        &["scatter_add", "[2, 3]", "[2, 2]"],
    );
    expect(
        &mut rep,
        "from_vec 5 values into [2, 3]",
        || Tensor::from_vec(vec![0.0f32; 5], [2, 3], dev),
        &["from_vec", "5", "[2, 3]", "6"],
    );
    expect(
        &mut rep,
        "from_slice 7 values into [2, 3]",
        || Tensor::from_slice(&[0i64; 7], [2, 3], dev),
        &["7", "[2, 3]"],
    );
    expect(
        &mut rep,
        "binary_assign [3] += [2, 3]",
        || {
            let mut x = t(&[3], f, dev);
            x.binary_assign(&a23, BinaryOp::Add).map(|_| x)
        },
        &["add", "[3]", "[2, 3]"],
    );
    rep.problem(err_problem(
        "to_scalar of [2, 3]",
        || a23.to_scalar::<f32>(),
        &["to_scalar", "[2, 3]"],
    ));
    rep.problem(err_problem(
        "split_sizes [1, 1] of dim 1 of [2, 3]",
        || a23.split_sizes(&[1, 1], 1),
        &["split", "[2, 3]"],
    ));
    rep.finish();
}

/// Dims out of range name the op, the dim and the rank.
pub fn error_dims(dev: &Device) {
    let mut rep = Report::new("error_dims");
    let x = t(&[2, 3], DType::F32, dev);
    let ids = t(&[2], DType::I64, dev).mul_scalar(0.0).expect("zeros");
    let ids2 = t(&[2, 3], DType::I64, dev).mul_scalar(0.0).expect("zeros");
    type Case<'a> = (&'a str, Box<dyn FnOnce() -> Result<Tensor> + 'a>, isize);
    let cases: Vec<Case> = vec![
        ("sum", Box::new(|| x.sum(2, false)), 2),
        ("sum", Box::new(|| x.sum(-3, true)), -3),
        ("prod", Box::new(|| x.prod(5, false)), 5),
        ("amax", Box::new(|| x.amax(2, false)), 2),
        ("amin", Box::new(|| x.amin(-3, false)), -3),
        ("mean", Box::new(|| x.mean(2, false)), 2),
        ("var", Box::new(|| x.var(2, true, false)), 2),
        ("logsumexp", Box::new(|| x.logsumexp(2, false)), 2),
        ("argmax", Box::new(|| x.argmax(2, false)), 2),
        ("argmin", Box::new(|| x.argmin(-3, false)), -3),
        ("softmax", Box::new(|| x.softmax(2)), 2),
        ("log_softmax", Box::new(|| x.log_softmax(-3)), -3),
        (
            "softmax_backward",
            Box::new(|| x.softmax_backward(&x, 2, false)),
            2,
        ),
        ("transpose", Box::new(|| x.transpose(0, 2)), 2),
        ("narrow", Box::new(|| x.narrow(2, 0, 1)), 2),
        ("unfold", Box::new(|| x.unfold(2, 1, 1)), 2),
        ("unfold", Box::new(|| x.unfold(-3, 1, 1)), -3),
        ("select", Box::new(|| x.select(-3, 0)), -3),
        ("squeeze", Box::new(|| x.squeeze(2)), 2),
        ("unsqueeze", Box::new(|| x.unsqueeze(3)), 3),
        ("unsqueeze", Box::new(|| x.unsqueeze(-4)), -4),
        ("flatten", Box::new(|| x.flatten(0, 2)), 2),
        ("permute", Box::new(|| x.permute([0, 2])), 2),
        ("index_select", Box::new(|| x.index_select(2, &ids)), 2),
        ("gather", Box::new(|| x.gather(2, &ids2)), 2),
        ("scatter_add", Box::new(|| x.scatter_add(2, &ids2, &x)), 2),
        ("cat", Box::new(|| Tensor::cat(&[&x, &x], 2)), 2),
        ("stack", Box::new(|| Tensor::stack(&[&x, &x], 3)), 3),
        ("split", Box::new(|| x.split(1, 2).map(|v| v[0].clone())), 2),
        (
            "chunk",
            Box::new(|| x.chunk(2, -3).map(|v| v[0].clone())),
            -3,
        ),
    ];
    for (op, f, d) in cases {
        let ds = d.to_string();
        expect(&mut rep, &format!("{op}({d}) of [2, 3]"), f, &[op, &ds]);
    }
    rep.problem(err_problem("dim(5) of [2, 3]", || x.dim(5), &["5", "2"]));
    expect(
        &mut rep,
        "sum(2) names the rank",
        || x.sum(2, false),
        &["rank 2"],
    );
    expect(
        &mut rep,
        "permute [0, 0]",
        || x.permute([0, 0]),
        &["permute"],
    );
    expect(
        &mut rep,
        "permute [0] of rank 2",
        || x.permute([0]),
        &["permute"],
    );
    expect(
        &mut rep,
        "permute [0, 1, 2] of rank 2",
        || x.permute([0, 1, 2]),
        &["permute"],
    );
    expect(
        &mut rep,
        "sum over [0, 0]",
        || x.sum([0, 0], false),
        &["sum"],
    );
    expect(&mut rep, "flatten(1, 0)", || x.flatten(1, 0), &["flatten"]);
    // Found by the fuzz test: these took any dim, or a dim twice.
    let s = t(&[], DType::F32, dev);
    expect(
        &mut rep,
        "flip([0, -2])",
        || x.flip([0, -2]),
        &["flip", "more than once"],
    );
    expect(
        &mut rep,
        "flatten(1, 1) of 0-d",
        || s.flatten(1, 1),
        &["flatten", "1"],
    );
    expect(
        &mut rep,
        "softmax_backward(-2) of 0-d",
        || s.softmax_backward(&s, -2, false),
        &["softmax_backward", "-2"],
    );
    expect(
        &mut rep,
        "roll along 0 of 0-d",
        || s.roll(&[1], &[0]),
        &["roll", "0"],
    );
    expect(
        &mut rep,
        "t() of rank 3",
        || t(&[2, 2, 2], DType::F32, dev).t(),
        &["t", "[2, 2, 2]"],
    );
    rep.finish();
}

/// dtype errors: mismatched operands, float-only ops on integers, wrong `to_vec` type.
pub fn error_dtypes(dev: &Device) {
    let mut rep = Report::new("error_dtypes");
    let (a, b) = (t(&[2, 3], DType::F32, dev), t(&[2, 3], DType::F64, dev));
    let i = t(&[2, 3], DType::I64, dev);
    let u = t(&[2, 3], DType::U32, dev);
    expect(
        &mut rep,
        "matmul f32 · f64",
        || a.matmul(&b.t().expect("t")),
        &["matmul", "f32", "f64"],
    );
    expect(
        &mut rep,
        "cat f32 ++ f64",
        || Tensor::cat(&[&a, &b], 0),
        &["cat", "f32", "f64"],
    );
    expect(
        &mut rep,
        "neg of bool",
        || u.ne_scalar(0.0).and_then(|m| m.neg()),
        &["neg", "bool"],
    );
    expect(
        &mut rep,
        "mean of i64",
        || i.mean(0, false),
        &["mean", "i64"],
    );
    expect(
        &mut rep,
        "var of u32",
        || u.var(0, true, false),
        &["var", "u32"],
    );
    expect(
        &mut rep,
        "softmax of i64",
        || i.softmax(-1),
        &["softmax", "i64"],
    );
    expect(
        &mut rep,
        "logsumexp of i64",
        || i.logsumexp(0, false),
        &["logsumexp", "i64"],
    );
    expect(
        &mut rep,
        "softmax_backward f32/f64",
        || a.softmax_backward(&b, -1, false),
        &["softmax_backward", "f32", "f64"],
    );
    expect(
        &mut rep,
        "index_select by f32 ids",
        || a.index_select(0, &t(&[2], DType::F32, dev)),
        &["index_select", "f32"],
    );
    expect(
        &mut rep,
        "gather by f32 ids",
        || a.gather(0, &a),
        &["gather", "f32"],
    );
    expect(
        &mut rep,
        "scatter_add f32 src into f64",
        || b.scatter_add(0, &i.mul_scalar(0.0).expect("z"), &a),
        &["scatter_add", "f64", "f32"],
    );
    expect(
        &mut rep,
        "one_hot of f32",
        || a.one_hot(3),
        &["one_hot", "f32"],
    );
    expect(
        &mut rep,
        "rand of i64",
        || Tensor::rand(0, [3], DType::I64, dev),
        &["rand", "i64"],
    );
    expect(
        &mut rep,
        "randn of u32",
        || Tensor::randn(0, [3], DType::U32, dev),
        &["u32"],
    );
    rep.problem(err_problem(
        "to_vec::<f64> of f32",
        || a.to_vec::<f64>(),
        &["to_vec: the tensor holds f32, asked for f64 \
             (convert with .to_dtype(DType::F64) or read as f32)"],
    ));
    rep.problem(err_problem(
        "to_vec::<u32> of i64",
        || i.to_vec::<u32>(),
        &["to_vec", "i64", "u32"],
    ));
    rep.problem(err_problem(
        "to_vec3::<i64> of an empty f32 (found by the fuzz test)",
        || t(&[0, 0, 3], DType::F32, dev).to_vec3::<i64>(),
        &[
            "to_vec3: the tensor holds f32, asked for i64",
            "read as f32",
        ],
    ));
    rep.problem(err_problem(
        "to_scalar::<i64> of f32",
        || {
            a.narrow(0, 0, 1)
                .and_then(|x| x.narrow(1, 0, 1))?
                .to_scalar::<i64>()
        },
        &[
            "to_scalar: the tensor holds f32, asked for i64",
            "DType::I64",
        ],
    ));
    for (op, name) in [(BinaryOp::Add, "add"), (BinaryOp::Div, "div")] {
        // In place, the result must keep self's kind: i64 += f32 and i64 /= i64 (a true
        // division) cannot be written into an i64 tensor.
        let (mut x, rhs) = if op == BinaryOp::Add {
            (i.copy().expect("copy"), a.clone())
        } else {
            (i.copy().expect("copy"), i.clone())
        };
        let needles: &[&str] = &[name, "i64", "in place"];
        rep.problem(err_problem(
            &format!("binary_assign {name} ({})", x.dtype()),
            || x.binary_assign(&rhs, op),
            needles,
        ));
    }
    rep.finish();
}

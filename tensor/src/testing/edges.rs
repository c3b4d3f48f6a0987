//! Edge cases of dims, 0-d and empty tensors, as fixed cases with PyTorch's answers: a
//! 0-d tensor takes dim 0 and -1 wherever PyTorch lets a scalar stand for a one-element
//! line (every reduction, scan and sort, softmax, transpose, squeeze, flip, flatten,
//! gather, scatter, index_select, ...) and refuses 1 and -2; every op that takes a dim
//! refuses one out of range with the same `DimOutOfRange` error; gather and scatter on
//! 0-d tensors; and the empty-dim cases the fuzz test (`fuzz.rs`) once found wrong.

use super::check::{fail, no_panic, OrFail};
use super::errors::t;
use super::Report;
use crate::{DType, Device, Error, Result, ScatterReduce, Tensor};

type DimCall = Box<dyn Fn(&Tensor, isize) -> Result<Vec<Tensor>>>;

fn one(r: Result<Tensor>) -> Result<Vec<Tensor>> {
    r.map(|t| vec![t])
}

fn two(r: Result<(Tensor, Tensor)>) -> Result<Vec<Tensor>> {
    r.map(|(a, b)| vec![a, b])
}

/// Zeros of `x`'s shape as `I64` indices.
fn zero_ids(x: &Tensor) -> Result<Tensor> {
    Tensor::zeros(x.shape(), DType::I64, x.device())
}

fn ids(values: &[i64], shape: &[usize], dev: &Device) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape.to_vec(), dev).expect("index tensor")
}

/// An op taking one dim: its name, how many dims past the rank it may address (1 for
/// `unsqueeze` and `stack`), whether a 0-d tensor takes 0 and -1, and the output shapes
/// for a 0-d input.
struct DimOp {
    name: &'static str,
    extra: usize,
    scalar: Option<Vec<Vec<usize>>>,
    call: DimCall,
}

fn dim_op(
    name: &'static str,
    extra: usize,
    scalar: Option<Vec<Vec<usize>>>,
    call: impl Fn(&Tensor, isize) -> Result<Vec<Tensor>> + 'static,
) -> DimOp {
    DimOp {
        name,
        extra,
        scalar,
        call: Box::new(call),
    }
}

/// Every op that takes a dim.
fn dim_ops() -> Vec<DimOp> {
    let s = || Some(vec![vec![]]);
    let s2 = || Some(vec![vec![], vec![]]);
    vec![
        dim_op("sum", 0, s(), |x, d| one(x.sum(d, false))),
        dim_op("sum keepdim", 0, s(), |x, d| one(x.sum(d, true))),
        dim_op("prod", 0, s(), |x, d| one(x.prod(d, false))),
        dim_op("amax", 0, s(), |x, d| one(x.amax(d, true))),
        dim_op("amin", 0, s(), |x, d| one(x.amin(d, false))),
        dim_op("mean", 0, s(), |x, d| one(x.mean(d, false))),
        dim_op("var", 0, s(), |x, d| one(x.var(d, true, false))),
        dim_op("std", 0, s(), |x, d| one(x.std(d, false, true))),
        dim_op("logsumexp", 0, s(), |x, d| one(x.logsumexp(d, false))),
        dim_op("norm", 0, s(), |x, d| one(x.norm(2.0, d, false))),
        dim_op("argmax", 0, s(), |x, d| one(x.argmax(d, true))),
        dim_op("argmin", 0, s(), |x, d| one(x.argmin(d, false))),
        dim_op("softmax", 0, s(), |x, d| one(x.softmax(d))),
        dim_op("log_softmax", 0, s(), |x, d| one(x.log_softmax(d))),
        dim_op("softmax_backward", 0, s(), |x, d| {
            one(x.softmax_backward(x, d, false))
        }),
        dim_op("cumsum", 0, s(), |x, d| one(x.cumsum(d))),
        dim_op("cumprod", 0, s(), |x, d| one(x.cumprod(d))),
        dim_op("logcumsumexp", 0, s(), |x, d| one(x.logcumsumexp(d))),
        dim_op("argsort", 0, s(), |x, d| one(x.argsort(d, false))),
        dim_op("sort", 0, s2(), |x, d| two(x.sort(d, true))),
        dim_op("topk", 0, s2(), |x, d| two(x.topk(1, d, true))),
        dim_op("kthvalue", 0, s2(), |x, d| two(x.kthvalue(1, d, false))),
        dim_op("median", 0, s2(), |x, d| two(x.median(d, true))),
        dim_op("mode", 0, s2(), |x, d| two(x.mode(d, false))),
        dim_op("max_dim", 0, s2(), |x, d| two(x.max_dim(d, true))),
        dim_op("min_dim", 0, s2(), |x, d| two(x.min_dim(d, false))),
        dim_op("transpose(d, 0)", 0, s(), |x, d| one(x.transpose(d, 0))),
        dim_op("transpose(0, d)", 0, s(), |x, d| one(x.transpose(0, d))),
        dim_op("squeeze", 0, s(), |x, d| one(x.squeeze(d))),
        dim_op("flip", 0, s(), |x, d| one(x.flip([d]))),
        dim_op("flatten(d, -1)", 0, Some(vec![vec![1]]), |x, d| {
            one(x.flatten(d, -1))
        }),
        dim_op("flatten(0, d)", 0, Some(vec![vec![1]]), |x, d| {
            one(x.flatten(0, d))
        }),
        dim_op("unsqueeze", 1, Some(vec![vec![1]]), |x, d| {
            one(x.unsqueeze(d))
        }),
        dim_op("stack", 1, Some(vec![vec![2]]), |x, d| {
            one(Tensor::stack(&[x, x], d))
        }),
        dim_op("gather", 0, s(), |x, d| one(x.gather(d, &zero_ids(x)?))),
        dim_op("scatter", 0, s(), |x, d| {
            one(x.scatter(d, &zero_ids(x)?, x))
        }),
        dim_op("scatter_add", 0, s(), |x, d| {
            one(x.scatter_add(d, &zero_ids(x)?, x))
        }),
        dim_op("scatter_reduce", 0, s(), |x, d| {
            one(x.scatter_reduce(d, &zero_ids(x)?, x, ScatterReduce::Amax, true))
        }),
        dim_op("index_select", 0, s(), |x, d| {
            one(x.index_select(d, &ids(&[0], &[1], x.device())))
        }),
        dim_op("index_fill", 0, s(), |x, d| {
            one(x.index_fill(d, &ids(&[0], &[1], x.device()), 1.0))
        }),
        // Ops that need the dim to exist: a 0-d tensor has none.
        dim_op("narrow", 0, None, |x, d| one(x.narrow(d, 0, 0))),
        dim_op(
            "narrow_step",
            0,
            None,
            |x, d| one(x.narrow_step(d, 0, 0, 1)),
        ),
        dim_op("select", 0, None, |x, d| one(x.select(d, 0))),
        dim_op("split", 0, None, |x, d| x.split(1, d)),
        dim_op("split_sizes", 0, None, |x, d| x.split_sizes(&[1], d)),
        dim_op("chunk", 0, None, |x, d| x.chunk(1, d)),
        dim_op("cat", 0, None, |x, d| one(Tensor::cat(&[x, x], d))),
        dim_op("roll", 0, None, |x, d| one(x.roll(&[1], &[d]))),
        dim_op("slice_scatter", 0, None, |x, d| {
            one(x.slice_scatter(x, d, 0, 1))
        }),
        dim_op(
            "diagonal(0, d, 0)",
            0,
            None,
            |x, d| one(x.diagonal(0, d, 0)),
        ),
        dim_op(
            "diagonal(0, 0, d)",
            0,
            None,
            |x, d| one(x.diagonal(0, 0, d)),
        ),
        dim_op("index_add", 0, None, |x, d| {
            one(x.index_add(d, &ids(&[0], &[1], x.device()), x, 1.0))
        }),
        dim_op("index_copy", 0, None, |x, d| {
            one(x.index_copy(d, &ids(&[0], &[1], x.device()), x))
        }),
        dim_op("repeat_interleave", 0, None, |x, d| {
            one(x.repeat_interleave(2, Some(d)))
        }),
        dim_op("repeat_interleave_tensor", 0, None, |x, d| {
            one(x.repeat_interleave_tensor(&ids(&[2], &[1], x.device()), Some(d)))
        }),
        dim_op("dim", 0, None, |x, d| x.dim(d).map(|_| Vec::new())),
    ]
}

/// A problem unless `r` is `DimOutOfRange` naming `dim` (any dim for `None`).
fn dim_error(
    ctx: &str,
    r: std::result::Result<Result<Vec<Tensor>>, String>,
    dim: Option<isize>,
) -> Option<String> {
    match r {
        Err(p) => Some(format!("{ctx}: panicked: {p}")),
        Ok(Ok(ts)) => Some(format!(
            "{ctx}: returned Ok (shapes {:?}), expected DimOutOfRange",
            ts.iter().map(|t| t.dims().to_vec()).collect::<Vec<_>>()
        )),
        Ok(Err(Error::DimOutOfRange { dim: got, .. })) if dim.is_none_or(|d| d == got) => None,
        Ok(Err(e)) => Some(format!(
            "{ctx}: expected DimOutOfRange for dim {dim:?}, got: {e}"
        )),
    }
}

/// (a) A 0-d tensor takes dim 0 and -1 in every op where PyTorch lets a scalar stand for
/// a one-element line, giving PyTorch's shapes, and refuses 1 and -2 with
/// `DimOutOfRange`; a reduction over `[0, -1]` names the one dim twice and fails.
pub fn scalar_dims(dev: &Device) {
    let mut rep = Report::new("scalar_dims");
    let x = Tensor::scalar(1.5, DType::F32, dev).expect("scalar");
    for op in dim_ops() {
        let Some(want) = &op.scalar else { continue };
        for d in [0isize, -1] {
            rep.case(&format!("{}({d}) of a 0-d tensor", op.name), || {
                let ts = (op.call)(&x, d).or_fail(op.name)?;
                let got: Vec<Vec<usize>> = ts.iter().map(|t| t.dims().to_vec()).collect();
                if &got != want {
                    return Err(fail(format!("shapes {got:?}, PyTorch gives {want:?}")));
                }
                for t in &ts {
                    t.to_f64_vec().or_fail("reading back")?;
                }
                Ok(())
            });
        }
        for d in [1isize, -2] {
            let ctx = format!("{}({d}) of a 0-d tensor", op.name);
            rep.problem(dim_error(&ctx, no_panic(|| (op.call)(&x, d)), Some(d)));
        }
    }
    type Dup = fn(&Tensor) -> Result<Tensor>;
    let dups: [(&str, Dup); 5] = [
        ("sum", |x| x.sum([0, -1], false)),
        ("amax", |x| x.amax([-1, 0], true)),
        ("mean", |x| x.mean([0, 0], false)),
        ("var", |x| x.var([0, -1], true, false)),
        ("flip", |x| x.flip([0, -1])),
    ];
    for (name, f) in dups {
        rep.problem(super::check::err_problem(
            &format!("{name}([0, -1]) of a 0-d tensor (one dim twice)"),
            || f(&x),
            &[name, "more than once"],
        ));
    }
    rep.finish();
}

/// (b) Every op that takes a dim refuses one out of range, at ranks 0 to 3, with
/// `DimOutOfRange` naming that dim (softmax and squeeze once took anything).
pub fn dims_out_of_range(dev: &Device) {
    let mut rep = Report::new("dims_out_of_range");
    for rank in 0..=3usize {
        let x = t(&[2, 3, 4][..rank], DType::F32, dev);
        for op in dim_ops() {
            // PyTorch's repeat_interleave of a 0-d tensor along a dim fails inside (it
            // unsqueezes the dim after); Lamina takes dim 0 and -1 there.
            if rank == 0 && op.name.starts_with("repeat_interleave") {
                continue;
            }
            let r = if op.scalar.is_some() || rank > 0 {
                (rank + op.extra).max(1) as isize
            } else {
                // A 0-d tensor has no dim for these: even 0 and -1 are out of range (and
                // an op's other dim argument may be the one reported).
                0
            };
            for d in [r, -r - 1, r + 5, -r - 6, isize::MAX, isize::MIN] {
                let ctx = format!("{}({d}) of rank {rank}", op.name);
                let want = (r > 0).then_some(d);
                rep.problem(dim_error(&ctx, no_panic(|| (op.call)(&x, d)), want));
            }
        }
    }
    rep.finish();
}

/// Checks shape and values of `r` against PyTorch's.
fn expect_values(
    rep: &mut Report,
    ctx: &str,
    r: impl FnOnce() -> Result<Tensor>,
    shape: &[usize],
    values: &[f64],
) {
    rep.case(ctx, || {
        let y = r().or_fail(ctx)?;
        let v = y.to_f64_vec().or_fail(ctx)?;
        if y.dims() != shape || v != values {
            return Err(fail(format!(
                "got {v:?} of shape {:?}, PyTorch gives {values:?} of shape {shape:?}",
                y.dims()
            )));
        }
        Ok(())
    });
}

/// (c) `gather`, `scatter*` and `index_select` on 0-d tensors as PyTorch: a 0-d self,
/// index or source counts as a one-element line.
pub fn scalar_gather_scatter(dev: &Device) {
    let mut rep = Report::new("scalar_gather_scatter");
    let s = Tensor::scalar(1.0, DType::F32, dev).expect("scalar");
    let f = |v: &[f32], shape: &[usize]| {
        Tensor::from_vec(v.to_vec(), shape.to_vec(), dev).expect("tensor")
    };
    let i0 = ids(&[0], &[], dev);
    let v4 = f(&[5.0, 6.0, 7.0, 8.0], &[4]);
    expect_values(&mut rep, "0-d gather 0-d", || s.gather(0, &i0), &[], &[1.0]);
    expect_values(
        &mut rep,
        "0-d gather [0, 0]",
        || s.gather(-1, &ids(&[0, 0], &[2], dev)),
        &[2],
        &[1.0, 1.0],
    );
    expect_values(
        &mut rep,
        "[4] gather 0-d index 3",
        || v4.gather(-1, &ids(&[3], &[], dev)),
        &[],
        &[8.0],
    );
    expect_values(
        &mut rep,
        "0-d scatter_add 0-d",
        || s.scatter_add(0, &i0, &Tensor::scalar(2.0, DType::F32, dev)?),
        &[],
        &[3.0],
    );
    expect_values(
        &mut rep,
        "0-d scatter_add [0] [2]",
        || s.scatter_add(0, &ids(&[0], &[1], dev), &f(&[2.0], &[1])),
        &[],
        &[3.0],
    );
    expect_values(
        &mut rep,
        "0-d scatter_add 0-d index, source [2, 3]",
        || s.scatter_add(0, &i0, &f(&[2.0, 3.0], &[2])),
        &[],
        &[3.0],
    );
    expect_values(
        &mut rep,
        "0-d scatter_add [0, 0] [2, 3]",
        || s.scatter_add(-1, &ids(&[0, 0], &[2], dev), &f(&[2.0, 3.0], &[2])),
        &[],
        &[6.0],
    );
    expect_values(
        &mut rep,
        "[3] scatter_add 0-d index 1, 0-d source",
        || {
            Tensor::zeros([3], DType::F32, dev)?.scatter_add(
                0,
                &ids(&[1], &[], dev),
                &Tensor::scalar(2.0, DType::F32, dev)?,
            )
        },
        &[3],
        &[0.0, 2.0, 0.0],
    );
    expect_values(
        &mut rep,
        "0-d scatter 0-d",
        || s.scatter(0, &i0, &Tensor::scalar(9.0, DType::F32, dev)?),
        &[],
        &[9.0],
    );
    expect_values(
        &mut rep,
        "0-d index_select 0-d",
        || s.index_select(0, &i0),
        &[],
        &[1.0],
    );
    expect_values(
        &mut rep,
        "0-d index_select [0]",
        || s.index_select(-1, &ids(&[0], &[1], dev)),
        &[],
        &[1.0],
    );
    expect_values(
        &mut rep,
        "[2, 3] index_select 0-d index",
        || t(&[2, 3], DType::F32, dev).index_select(1, &ids(&[2], &[], dev)),
        &[2, 1],
        &[2.0, 5.0],
    );
    expect_values(
        &mut rep,
        "0-d index_fill [-1]",
        || s.index_fill(0, &ids(&[-1], &[1], dev), 4.0),
        &[],
        &[4.0],
    );
    type Refused = Box<dyn Fn() -> Result<Tensor>>;
    let (s2, v42) = (s.clone(), v4.clone());
    let refused: Vec<(&str, Refused)> = vec![
        ("0-d gather [[0]]", {
            let s = s2.clone();
            let i = ids(&[0], &[1, 1], dev);
            Box::new(move || s.gather(0, &i))
        }),
        ("0-d gather index 1", {
            let s = s2.clone();
            let i = ids(&[1], &[], dev);
            Box::new(move || s.gather(0, &i))
        }),
        ("[2, 3] gather 0-d index", {
            let x = t(&[2, 3], DType::F32, dev);
            let i = i0.clone();
            Box::new(move || x.gather(0, &i))
        }),
        ("[2, 3] scatter_add 0-d index, 0-d source", {
            let x = t(&[2, 3], DType::F32, dev);
            let (i, src) = (i0.clone(), s2.clone());
            Box::new(move || x.scatter_add(0, &i, &src))
        }),
        ("0-d scatter_add index 1", {
            let s = s2.clone();
            let i = ids(&[1], &[], dev);
            Box::new(move || s.scatter_add(0, &i, &s))
        }),
        ("0-d index_select [0, 0]", {
            let s = s2.clone();
            let i = ids(&[0, 0], &[2], dev);
            Box::new(move || s.index_select(0, &i))
        }),
        ("[4] gather 0-d index 4", {
            let x = v42.clone();
            let i = ids(&[4], &[], dev);
            Box::new(move || x.gather(0, &i))
        }),
    ];
    for (ctx, f) in refused {
        rep.case(ctx, || match no_panic(&f) {
            Err(p) => Err(fail(format!("panicked: {p}"))),
            Ok(Ok(y)) => Err(fail(format!(
                "returned Ok (shape {:?}); PyTorch raises",
                y.dims()
            ))),
            Ok(Err(_)) => Ok(()),
        });
    }
    rep.finish();
}

/// Empty dims and the other cases the fuzz test found wrong, with PyTorch's results:
/// `split` and `chunk` of an empty dim, the median of nothing, `index_fill` with negative
/// indices, `index_add` of integers with a fractional `alpha`, in-place writes into an
/// expanded empty tensor.
pub fn empty_edges(dev: &Device) {
    let mut rep = Report::new("empty_edges");
    let e = Tensor::zeros([0, 3], DType::F32, dev).expect("empty");
    rep.case("split(0) of an empty dim: one empty piece", || {
        let parts = e.split(0, 0).or_fail("split")?;
        match parts.as_slice() {
            [p] if p.dims() == [0, 3] => Ok(()),
            _ => Err(fail(format!(
                "{} pieces, PyTorch gives one [0, 3]",
                parts.len()
            ))),
        }
    });
    rep.case("chunk(3) of an empty dim: three empty pieces", || {
        let parts = e.chunk(3, 0).or_fail("chunk")?;
        let shapes: Vec<&[usize]> = parts.iter().map(|p| p.dims()).collect();
        if shapes != [[0, 3]; 3] {
            return Err(fail(format!(
                "pieces {shapes:?}, PyTorch gives three [0, 3]"
            )));
        }
        Ok(())
    });
    rep.case("median_all of nothing is NaN", || {
        let m = e.median_all().or_fail("median_all")?;
        let v = m.to_f64_vec().or_fail("read")?;
        if m.rank() != 0 || !v[0].is_nan() {
            return Err(fail(format!("got {v:?} of shape {:?}", m.dims())));
        }
        Ok(())
    });
    let x = t(&[2, 3], DType::F32, dev);
    expect_values(
        &mut rep,
        "index_fill with index -1 fills the last row",
        || x.index_fill(0, &ids(&[-1], &[1], dev), 9.0),
        &[2, 3],
        &[0.0, 1.0, 2.0, 9.0, 9.0, 9.0],
    );
    expect_values(
        &mut rep,
        "index_add of i64 with alpha 2.7 (truncated to 2)",
        || {
            let z = Tensor::zeros([1, 3], DType::I64, dev)?;
            z.index_add(
                0,
                &ids(&[0], &[1], dev),
                &ids(&[1, 3, -3], &[1, 3], dev),
                2.7,
            )
        },
        &[1, 3],
        &[2.0, 6.0, -6.0],
    );
    rep.case("add_assign into an expanded empty tensor", || {
        let mut y = Tensor::zeros([0, 1], DType::F32, dev)
            .and_then(|z| z.expand([0usize, 3]))
            .or_fail("expand")?;
        let one = Tensor::scalar(1.0, DType::F32, dev).or_fail("scalar")?;
        y.add_assign(&one).or_fail("add_assign")?;
        if y.dims() != [0, 3] {
            return Err(fail(format!("shape {:?}", y.dims())));
        }
        Ok(())
    });
    rep.finish();
}

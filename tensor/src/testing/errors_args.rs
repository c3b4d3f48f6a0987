//! Errors, not panics (indices, arguments): out-of-range index values, invalid ranges,
//! counts, window sizes and bounds, and `Tensor::reduce` with raw axes. The fuzz test of every op is
//! `fuzz.rs`.

use super::check::{err_problem, fail, no_panic};
use super::errors::{expect, t};
use super::Report;
use crate::{DType, Device, ReduceOp, Result, Tensor};

/// Index values out of range (too large, negative) are errors naming the op and the
/// index, for contiguous and strided index tensors.
pub fn error_indices(dev: &Device) {
    let mut rep = Report::new("error_indices");
    let x = t(&[2, 3], DType::F32, dev);
    for it in [DType::I64, DType::U32] {
        let bad = Tensor::from_host(crate::HostData::from_f64_vec(&[0.0, 3.0], it), [2], dev)
            .expect("ids");
        expect(
            &mut rep,
            &format!("index_select(1, [0, 3] {it})"),
            || x.index_select(1, &bad),
            &["index_select", "3"],
        );
        let wide = Tensor::from_host(crate::HostData::from_f64_vec(&[9.0, 0.0], it), [1, 2], dev)
            .expect("ids");
        let strided = wide.t().expect("t").select(1, 0).expect("select");
        expect(
            &mut rep,
            &format!("index_select(0, strided [9, 0] {it})"),
            || x.index_select(0, &strided),
            &["index_select", "9"],
        );
        let g = Tensor::from_host(
            crate::HostData::from_f64_vec(&[0.0, 1.0, 5.0, 0.0], it),
            [2, 2],
            dev,
        )
        .expect("ids");
        expect(
            &mut rep,
            &format!("gather(1) index 5 {it}"),
            || x.gather(1, &g),
            &["gather", "5"],
        );
        expect(
            &mut rep,
            &format!("scatter_add(1) index 5 {it}"),
            || x.scatter_add(1, &g, &x),
            &["scatter_add", "5"],
        );
        let c = Tensor::from_host(crate::HostData::from_f64_vec(&[0.0, 3.0], it), [2], dev)
            .expect("ids");
        expect(
            &mut rep,
            &format!("one_hot(3) of [0, 3] {it}"),
            || c.one_hot(3),
            &["one_hot", "3"],
        );
    }
    let neg = Tensor::from_vec(vec![0i64, -1], [2], dev).expect("ids");
    expect(
        &mut rep,
        "index_select(1, [0, -1])",
        || x.index_select(1, &neg),
        &["index_select", "-1"],
    );
    expect(
        &mut rep,
        "one_hot of [0, -1]",
        || neg.one_hot(3),
        &["one_hot", "-1"],
    );
    let gneg = Tensor::from_vec(vec![0i64, -1, 0, 0], [2, 2], dev).expect("ids");
    expect(
        &mut rep,
        "gather(1) index -1",
        || x.gather(1, &gneg),
        &["gather", "-1"],
    );
    expect(
        &mut rep,
        "scatter_add(1) index -1",
        || x.scatter_add(1, &gneg, &x),
        &["scatter_add", "-1"],
    );
    expect(
        &mut rep,
        "select(1, 3) of [2, 3]",
        || x.select(1, 3),
        &["select", "3"],
    );
    let empty = t(&[0, 3], DType::F32, dev);
    let zero = Tensor::from_vec(vec![0i64], [1], dev).expect("ids");
    expect(
        &mut rep,
        "index_select(0, [0]) of [0, 3]",
        || empty.index_select(0, &zero),
        &["index_select", "0"],
    );
    // Found by the fuzz test: with an empty output no kernel reads the index.
    let ids = Tensor::from_vec(vec![0i64, 1, 4], [3], dev).expect("ids");
    expect(
        &mut rep,
        "index_select(0, [0, 1, 4]) of [3, 0, 4]",
        || t(&[3, 0, 4], DType::F32, dev).index_select(0, &ids),
        &["index_select", "4"],
    );
    rep.finish();
}

/// Invalid arguments other than shapes: ranges, counts, clamp bounds, arange steps,
/// `view` of incompatible strides, empty lists, and an `Err` used as an operand.
pub fn error_args(dev: &Device) {
    let mut rep = Report::new("error_args");
    let x = t(&[2, 3], DType::F32, dev);
    expect(
        &mut rep,
        "narrow(1, 2, 3) of [2, 3]",
        || x.narrow(1, 2, 3),
        &["narrow", "[2, 3]"],
    );
    expect(
        &mut rep,
        "narrow(0, 3, 0) of [2, 3]",
        || x.narrow(0, 3, 0),
        &["narrow"],
    );
    expect(
        &mut rep,
        "narrow(0, usize::MAX, 2)",
        || x.narrow(0, usize::MAX, 2),
        &["narrow"],
    );
    expect(
        &mut rep,
        "unfold(1, 4, 1) of [2, 3]",
        || x.unfold(1, 4, 1),
        &["unfold", "size 4", "size 3", "[2, 3]"],
    );
    expect(
        &mut rep,
        "unfold(0, 1, 0) of [2, 3]",
        || x.unfold(0, 1, 0),
        &["unfold", "steps of 0", "[2, 3]"],
    );
    expect(
        &mut rep,
        "unfold(0, 2, 1) of a 0-d tensor",
        || t(&[], DType::F32, dev).unfold(0, 2, 1),
        &["unfold", "size 2"],
    );
    expect(
        &mut rep,
        "unfold(1, 1, 1) of a 0-d tensor",
        || t(&[], DType::F32, dev).unfold(1, 1, 1),
        &["unfold", "1"],
    );
    expect(
        &mut rep,
        "clamp(2, 1)",
        || x.clamp(2.0, 1.0),
        &["clamp", "2", "1"],
    );
    expect(
        &mut rep,
        "clamp(NaN, 1)",
        || x.clamp(f64::NAN, 1.0),
        &["clamp"],
    );
    expect(
        &mut rep,
        "arange step 0",
        || Tensor::arange(0.0, 1.0, 0.0, DType::F32, dev),
        &["arange"],
    );
    expect(
        &mut rep,
        "arange wrong direction",
        || Tensor::arange(0.0, 5.0, -1.0, DType::F32, dev),
        &["arange"],
    );
    expect(
        &mut rep,
        "arange to inf",
        || Tensor::arange(0.0, f64::INFINITY, 1.0, DType::F32, dev),
        &["arange"],
    );
    rep.problem(err_problem("split(0)", || x.split(0, 0), &["split"]));
    rep.problem(err_problem(
        "meshgrid of nothing (found by the fuzz test)",
        || Tensor::meshgrid(&[], crate::Indexing::Ij),
        &["meshgrid"],
    ));
    rep.problem(err_problem("chunk(0)", || x.chunk(0, 0), &["chunk"]));
    expect(&mut rep, "cat of nothing", || Tensor::cat(&[], 0), &["cat"]);
    expect(
        &mut rep,
        "stack of nothing",
        || Tensor::stack(&[], 0),
        &["stack"],
    );
    let ids = t(&[1, 2], DType::I64, dev);
    expect(
        &mut rep,
        "index_select by 2-D ids",
        || x.index_select(0, &ids),
        &["index_select", "[1, 2]"],
    );
    let tt = x.t().expect("t");
    expect(
        &mut rep,
        "view of a transposed [3, 2] as [6]",
        || tt.view([6usize]),
        &["view"],
    );
    expect(
        &mut rep,
        "expand with -1 on a new dim",
        || x.expand([-1isize, 2, 3]),
        &["expand"],
    );
    expect(
        &mut rep,
        "expand with -2",
        || x.expand([2isize, -2]),
        &["expand"],
    );
    expect(
        &mut rep,
        "reshape with -2",
        || x.reshape([-2isize, 3]),
        &["reshape"],
    );
    expect(
        &mut rep,
        "reshape with two -1",
        || x.reshape([-1isize, -1]),
        &["reshape"],
    );
    let e = t(&[0, 3], DType::F32, dev);
    expect(
        &mut rep,
        "reshape [0, 3] to [-1, 0]",
        || e.reshape([-1isize, 0]),
        &["reshape"],
    );
    let bad: Result<Tensor> = x.matmul(&x);
    expect(&mut rep, "&x + &Err", || &x + &bad, &["matmul"]);
    expect(&mut rep, "Err * &x", || x.matmul(&x) * &x, &["matmul"]);
    expect(
        &mut rep,
        "linspace then bad reshape",
        || Tensor::linspace(0.0, 1.0, 5, DType::F64, dev)?.reshape([2usize, 2]),
        &["reshape"],
    );
    rep.finish();
}

/// `Tensor::reduce` is public and takes raw axes: out-of-range, repeated, unsorted axes
/// and two axes for an arg-reduction must give an error or a correct result, never a
/// panic or an out-of-bounds read.
pub fn reduce_raw_axes(dev: &Device) {
    let mut rep = Report::new("reduce_raw_axes");
    let x = t(&[2, 3], DType::F32, dev);
    for (op, axes) in [
        (ReduceOp::Sum, vec![2usize]),
        (ReduceOp::Max, vec![5]),
        (ReduceOp::Sum, vec![0, 0]),
        (ReduceOp::ArgMax, vec![0, 1]),
        (ReduceOp::ArgMin, vec![7]),
    ] {
        expect(
            &mut rep,
            &format!("reduce({op:?}, {axes:?}) of [2, 3]"),
            || x.reduce(op, &axes, false),
            &[op.name()],
        );
    }
    rep.case("reduce(Sum, [1, 0]) (unsorted)", || {
        match no_panic(|| x.reduce(ReduceOp::Sum, &[1, 0], false)) {
            Err(p) => Err(fail(format!("panicked: {p}"))),
            Ok(Err(_)) => Ok(()),
            Ok(Ok(s)) => match s.to_f64_vec() {
                Ok(v) if v == [15.0] && s.rank() == 0 => Ok(()),
                other => Err(fail(format!(
                    "reduce(Sum, [1, 0]) gave {other:?} with shape {:?}, expected 15 (rank 0)",
                    s.dims()
                ))),
            },
        }
    });
    rep.finish();
}

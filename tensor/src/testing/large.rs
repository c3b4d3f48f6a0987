//! Sizes the small-shape properties never reach: rows of 1–70 elements (every SIMD lane
//! count and tail length of 4-, 8- and 16-lane kernels, for the fused row kernels of
//! softmax and the last-dim reductions) and one tensor of over a million elements (past
//! the CPU backend's 512K-element rayon threshold and any GPU launch-size edge), each
//! against the naive reference.

use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;

use super::check::{check_close, check_exact, check_sum_like, check_with, eps, OrFail, Tol};
use super::reference::RefTensor;
use super::strategies::{float_dtype, tensor, Domain, TensorSpec};
use super::Report;
use crate::{BinaryOp, DType, Device, HostData, Tensor, UnaryOp};

/// A `[rows, n]` spec with `n` in 1..=70, any layout.
fn long_rows() -> BoxedStrategy<TensorSpec> {
    (1usize..=3, 1usize..=70, float_dtype())
        .prop_flat_map(|(r, n, dt)| tensor(vec![r, n], dt, Domain::Any))
        .boxed()
}

fn check_rows(dev: &Device, spec: &TensorSpec) -> TestCaseResult {
    let x = spec.build(dev).or_fail("build")?;
    let r = spec.reference();
    let dt = spec.dtype;
    let n = spec.shape[1];
    let e = eps(dt);
    let ctx = |op: &str| format!("{op} of {:?} {dt} ({:?})", spec.shape, spec.layout);
    let big = r.data.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let tol = Tol::transcendental(dt);
    check_with(
        &ctx("softmax(-1)"),
        &x.softmax(-1).or_fail("softmax")?,
        &r.softmax(1),
        dt,
        |_, w| tol.bound(w) + 4.0 * e * w.abs() * (big + 1.0),
    )?;
    let lse_bound = |_: usize, w: f64| tol.bound(w) + 8.0 * e * (big + (n as f64).ln() + 1.0);
    let got = x.log_softmax(-1).or_fail("log_softmax")?;
    check_with(
        &ctx("log_softmax(-1)"),
        &got,
        &r.log_softmax(1),
        dt,
        lse_bound,
    )?;
    let got = x.logsumexp(-1, false).or_fail("logsumexp")?;
    check_with(
        &ctx("logsumexp(-1)"),
        &got,
        &r.logsumexp(&[1], false),
        dt,
        lse_bound,
    )?;
    let scale = r.map(f64::abs).sum(&[1], true);
    let got = x.sum(-1, true).or_fail("sum")?;
    check_sum_like(
        &ctx("sum(-1)"),
        &got,
        &r.sum(&[1], true),
        dt,
        &scale,
        n,
        Tol::EXACT,
    )?;
    check_exact(
        &ctx("max(-1)"),
        &x.amax(-1, false).or_fail("max")?,
        &r.max(&[1], false),
        dt,
    )?;
    check_exact(
        &ctx("min(-1)"),
        &x.amin(-1, false).or_fail("min")?,
        &r.min(&[1], false),
        dt,
    )?;
    let got = x.argmax(-1, false).or_fail("argmax")?;
    check_exact(&ctx("argmax(-1)"), &got, &r.argmax(1, false), DType::I64)?;
    for op in [
        UnaryOp::Exp,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Silu,
        UnaryOp::GeluTanh,
    ] {
        let got = x.unary(op).or_fail(op.name())?;
        check_close(&ctx(op.name()), &got, &r.unary(op), dt, tol)?;
    }
    Ok(())
}

/// Rows of every length from 1 to 70 through the fused and SIMD row kernels.
pub fn long_rows_ops(dev: &Device) {
    let mut rep = Report::new("long_rows_ops");
    let d = *dev;
    rep.prop("long_rows", long_rows(), move |spec| check_rows(&d, &spec));
    rep.finish();
}

/// Over a million elements: unary, broadcast binary, strided copy, row and full sums,
/// softmax — the paths that split work across threads or launches.
pub fn large_tensors(dev: &Device) {
    let mut rep = Report::new("large_tensors");
    for dt in [DType::F32, DType::F64] {
        rep.case(&format!("{dt} [1100, 1001]"), || {
            let (rows, cols) = (1100, 1001);
            let v: Vec<f64> = (0..(rows * cols) as u64)
                .map(|i| crate::rng::unit_f64(9, i) * 8.0 - 4.0)
                .collect();
            let r = RefTensor::new(vec![rows, cols], v.clone()).cast(DType::F64, dt);
            let x = Tensor::from_host(HostData::from_f64_vec(&v, dt), [rows, cols], dev)
                .or_fail("x")?;
            let tol = Tol::transcendental(dt);
            check_close(
                "exp",
                &x.exp().or_fail("exp")?,
                &r.unary(UnaryOp::Exp),
                dt,
                tol,
            )?;
            check_close(
                "tanh",
                &x.tanh().or_fail("tanh")?,
                &r.unary(UnaryOp::Tanh),
                dt,
                tol,
            )?;
            let row: Vec<f64> = (0..cols).map(|j| j as f64 / 7.0).collect();
            let rr = RefTensor::new(vec![cols], row.clone()).cast(DType::F64, dt);
            let row_t =
                Tensor::from_host(HostData::from_f64_vec(&row, dt), [cols], dev).or_fail("row")?;
            let want = r.binary(&rr, BinaryOp::Mul).expect("broadcast");
            check_close(
                "x * row",
                &x.mul(&row_t).or_fail("mul")?,
                &want,
                dt,
                Tol::arith(dt),
            )?;
            let xt = x.t().or_fail("t")?;
            check_exact(
                "contiguous(xᵀ)",
                &xt.contiguous().or_fail("contiguous")?,
                &r.transpose(0, 1),
                dt,
            )?;
            let scale = r.map(f64::abs).sum(&[1], false);
            check_sum_like(
                "sum(1)",
                &x.sum(1, false).or_fail("sum")?,
                &r.sum(&[1], false),
                dt,
                &scale,
                cols,
                Tol::EXACT,
            )?;
            let scale = r.map(f64::abs).sum(&[0], false);
            let got = xt.sum(1, false).or_fail("sum")?;
            check_sum_like(
                "sum(1) of xᵀ",
                &got,
                &r.sum(&[0], false),
                dt,
                &scale,
                rows,
                Tol::EXACT,
            )?;
            let all = [0, 1];
            let scale = r.map(f64::abs).sum(&all, false);
            let got = x.sum_all().or_fail("sum_all")?;
            check_sum_like(
                "sum_all",
                &got,
                &r.sum(&all, false),
                dt,
                &scale,
                rows * cols,
                Tol::EXACT,
            )?;
            check_exact(
                "max_all",
                &x.amax([0, 1], false).or_fail("max")?,
                &r.max(&all, false),
                dt,
            )?;
            let e = eps(dt);
            check_with(
                "softmax(1)",
                &x.softmax(1).or_fail("softmax")?,
                &r.softmax(1),
                dt,
                |_, w| tol.bound(w) + 20.0 * e * w.abs(),
            )
        });
    }
    rep.finish();
}

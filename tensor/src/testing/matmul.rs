//! `matmul` with PyTorch's rules in every form — 1-D·1-D, 1-D·2-D, 2-D·1-D, 2-D·2-D,
//! batched with broadcast batch dims and with a 1-D operand — on strided operands
//! (transposed, narrowed, expanded batch), including zero-sized m, k and n; and fixed
//! larger products that reach the blocked GEMM paths.

use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;

use super::check::{check_exact, check_sum_like, OrFail, Tol};
use super::reference::RefTensor;
use super::strategies::{broadcastable_to, dim, float_dtype, shape_in, tensor, Domain, TensorSpec};
use super::Report;
use crate::{DType, Device, HostData, Tensor};

/// Shapes of a valid matmul: `(lhs, rhs)` in one of the PyTorch forms.
pub fn matmul_shapes() -> BoxedStrategy<(Vec<usize>, Vec<usize>)> {
    let batch =
        shape_in(0..=2).prop_flat_map(|b| (broadcastable_to(b.clone()), broadcastable_to(b)));
    (0..6u8, dim(), dim(), dim(), batch)
        .prop_map(|(form, m, k, n, (ba, bb))| {
            let with = |mut b: Vec<usize>, x: usize, y: usize| {
                b.extend([x, y]);
                b
            };
            match form {
                0 => (vec![k], vec![k]),
                1 => (vec![k], vec![k, n]),
                2 => (vec![m, k], vec![k]),
                3 => (vec![m, k], vec![k, n]),
                4 => (with(ba, m, k), with(bb, k, n)),
                _ => {
                    // A 1-D operand against a batched one, on either side.
                    if m % 2 == 0 {
                        (vec![k], with(bb, k, n))
                    } else {
                        (with(ba, m, k), vec![k])
                    }
                }
            }
        })
        .boxed()
}

fn check_matmul(dev: &Device, sa: &TensorSpec, sb: &TensorSpec) -> TestCaseResult {
    let (a, b) = (sa.build(dev).or_fail("lhs")?, sb.build(dev).or_fail("rhs")?);
    let (ra, rb) = (sa.reference(), sb.reference());
    let got = a.matmul(&b).or_fail("matmul")?;
    let want = ra.matmul(&rb).expect("valid shapes by construction");
    let scale = ra.matmul_abs(&rb).expect("valid shapes");
    let k = *sa.shape.last().expect("rank >= 1");
    let ctx = format!("matmul {:?} · {:?} ({})", sa.shape, sb.shape, sa.dtype);
    check_sum_like(&ctx, &got, &want, sa.dtype, &scale, k, Tol::EXACT)
}

/// Every matmul form on strided F32/F64 operands.
pub fn matmul_forms(dev: &Device) {
    let mut rep = Report::new("matmul_forms");
    let d = *dev;
    let s = (matmul_shapes(), float_dtype())
        .prop_flat_map(|((l, r), dt)| (tensor(l, dt, Domain::Any), tensor(r, dt, Domain::Any)));
    rep.prop("matmul/forms", s, move |(sa, sb)| {
        check_matmul(&d, &sa, &sb)
    });
    rep.finish();
}

/// Deterministic values in [-1, 1) for the fixed cases.
fn values(n: usize, seed: u64) -> Vec<f64> {
    (0..n as u64)
        .map(|i| crate::rng::unit_f64(seed, i) * 2.0 - 1.0)
        .collect()
}

/// The doc example, larger products (odd sizes that cross GEMM blocking and rayon
/// thresholds) with plain, transposed and broadcast operands, and empty k.
pub fn matmul_fixed(dev: &Device) {
    let mut rep = Report::new("matmul_fixed");
    rep.case("arange [2, 3] · its transpose", || {
        let a = Tensor::arange(0.0, 6.0, 1.0, DType::F32, dev)
            .and_then(|t| t.reshape([2, 3]))
            .or_fail("a")?;
        let got = a.matmul(&a.t().or_fail("t")?).or_fail("matmul")?;
        check_exact(
            "a·aᵀ",
            &got,
            &RefTensor::new(vec![2, 2], vec![5.0, 14.0, 14.0, 50.0]),
            DType::F32,
        )
    });
    for dt in [DType::F32, DType::F64, DType::F16, DType::BF16] {
        for &(m, k, n, ta, tb) in &[
            // Past the half GEMM's blocks (256 rows and columns, depth 512).
            (300, 600, 270, false, true),
            (67, 33, 45, false, false),
            (67, 33, 45, true, false),
            (67, 33, 45, false, true),
            (67, 33, 45, true, true),
            (1, 129, 1, false, false),
            (130, 1, 70, true, true),
            (4, 0, 3, false, false),
        ] {
            rep.case(
                &format!("{dt} [{m}, {k}] · [{k}, {n}] transposed {ta}/{tb}"),
                || {
                    // A transposed operand is built as the transpose of a contiguous [k, m].
                    let build = |rows: usize,
                                 cols: usize,
                                 trans: bool,
                                 seed: u64|
                     -> crate::Result<(Tensor, RefTensor)> {
                        let v = values(rows * cols, seed);
                        if trans {
                            let src = RefTensor::new(vec![cols, rows], v.clone());
                            let t = Tensor::from_host(
                                HostData::from_f64_vec(&v, dt),
                                [cols, rows],
                                dev,
                            )?
                            .t()?;
                            Ok((t, src.transpose(0, 1)))
                        } else {
                            Ok((
                                Tensor::from_host(
                                    HostData::from_f64_vec(&v, dt),
                                    [rows, cols],
                                    dev,
                                )?,
                                RefTensor::new(vec![rows, cols], v),
                            ))
                        }
                    };
                    let (a, ra) = build(m, k, ta, 1).or_fail("lhs")?;
                    let (b, rb) = build(k, n, tb, 2).or_fail("rhs")?;
                    let (ra, rb) = (ra.cast(DType::F64, dt), rb.cast(DType::F64, dt));
                    let got = a.matmul(&b).or_fail("matmul")?;
                    let scale = ra.matmul_abs(&rb).expect("valid");
                    check_sum_like(
                        "matmul",
                        &got,
                        &ra.matmul(&rb).expect("valid"),
                        dt,
                        &scale,
                        k,
                        Tol::EXACT,
                    )
                },
            );
        }
        rep.case(
            &format!("{dt} batched [3, 17, 9] · broadcast [9, 13] and [2, 1, 5, 7] · [3, 7, 4]"),
            || {
                for (ls, rs) in [
                    (vec![3, 17, 9], vec![9, 13]),
                    (vec![2, 1, 5, 7], vec![3, 7, 4]),
                    (vec![1, 6, 8], vec![4, 8, 2]),
                ] {
                    let (la, lb) = (
                        values(ls.iter().product(), 3),
                        values(rs.iter().product(), 4),
                    );
                    let ra = RefTensor::new(ls.clone(), la.clone()).cast(DType::F64, dt);
                    let rb = RefTensor::new(rs.clone(), lb.clone()).cast(DType::F64, dt);
                    let a = Tensor::from_host(HostData::from_f64_vec(&la, dt), ls.clone(), dev)
                        .or_fail("lhs")?;
                    let b = Tensor::from_host(HostData::from_f64_vec(&lb, dt), rs.clone(), dev)
                        .or_fail("rhs")?;
                    let got = a.matmul(&b).or_fail("matmul")?;
                    let k = *ls.last().expect("rank");
                    let scale = ra.matmul_abs(&rb).expect("valid");
                    check_sum_like(
                        &format!("{ls:?}·{rs:?}"),
                        &got,
                        &ra.matmul(&rb).expect("valid"),
                        dt,
                        &scale,
                        k,
                        Tol::EXACT,
                    )?;
                }
                Ok(())
            },
        );
    }
    rep.finish();
}

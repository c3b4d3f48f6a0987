//! `softmax` and `log_softmax` along any dim (negative too, fused last-dim kernels and
//! the composite both reached), their stability on values of ±1e4 (no inf/NaN, the right
//! answer), and `softmax_backward` against its closed form.

use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;

use super::check::{check_close, check_with, eps, fail, tiny, OrFail, Tol};
use super::reference::RefTensor;
use super::strategies::{float_dtype, shape, tensor, tensor_with, Domain, TensorSpec};
use super::Report;
use crate::{DType, Device, HostData, Tensor};

/// A spec and a dim for it (`-rank..rank`; 0 for a scalar).
fn with_dim(domain: Domain) -> BoxedStrategy<(TensorSpec, isize)> {
    (shape(), float_dtype())
        .prop_flat_map(move |(s, dt)| {
            let r = s.len() as isize;
            (
                tensor(s, dt, domain),
                if r == 0 {
                    (0isize..1).boxed()
                } else {
                    (-r..r).boxed()
                },
            )
        })
        .boxed()
}

fn resolve(dim: isize, rank: usize) -> usize {
    if dim < 0 {
        (dim + rank as isize) as usize
    } else {
        dim as usize
    }
}

/// The reference (log-)softmax; a scalar gives 1 (0 for log).
fn reference(r: &RefTensor, dim: isize, log: bool) -> RefTensor {
    if r.rank() == 0 {
        return RefTensor::scalar(if log { 0.0 } else { 1.0 });
    }
    let axis = resolve(dim, r.rank());
    if log {
        r.log_softmax(axis)
    } else {
        r.softmax(axis)
    }
}

/// Checks one (log-)softmax; the error bound grows with the largest `|x|` of the tensor.
fn check_softmax(dev: &Device, spec: &TensorSpec, dim: isize, log: bool) -> TestCaseResult {
    if spec.shape.get(resolve(dim, spec.shape.len())) == Some(&0) {
        return Ok(()); // softmax over an empty dim: see `reduce_empty`
    }
    let x = spec.build(dev).or_fail("build")?;
    let r = spec.reference();
    let name = if log { "log_softmax" } else { "softmax" };
    let got = if log {
        x.log_softmax(dim)
    } else {
        x.softmax(dim)
    }
    .or_fail(name)?;
    let want = reference(&r, dim, log);
    let big = r.data.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let n = if r.rank() == 0 {
        1
    } else {
        r.shape[resolve(dim, r.rank())]
    };
    let tol = Tol::transcendental(spec.dtype);
    let e = eps(spec.dtype);
    let ctx = format!("{name}({dim}) of {:?} {}", spec.shape, spec.dtype);
    check_with(&ctx, &got, &want, spec.dtype, |_, w| {
        if log {
            tol.bound(w) + 8.0 * e * (big + (n as f64).ln() + 1.0)
        } else {
            tol.bound(w) + 4.0 * e * w.abs() * (big + 1.0)
        }
    })?;
    if r.numel() > 0 && !got.all_finite().or_fail("all_finite")? {
        return Err(fail(format!("{ctx}: result has inf/NaN")));
    }
    Ok(())
}

/// Softmax and log-softmax along every dim of random strided tensors.
pub fn softmax_ops(dev: &Device) {
    let mut rep = Report::new("softmax_ops");
    for log in [false, true] {
        let d = *dev;
        let name = if log { "log_softmax" } else { "softmax" };
        rep.prop(
            &format!("softmax/{name}"),
            with_dim(Domain::Any),
            move |(spec, dim)| check_softmax(&d, &spec, dim, log),
        );
    }
    rep.finish();
}

/// Values of magnitude up to 1e4 (where a naive `exp` overflows): finite, correct
/// results; and fixed rows with huge gaps and ties, and `logsumexp` of ±1e4 and of an
/// all `-inf` row.
pub fn softmax_stability(dev: &Device) {
    let mut rep = Report::new("softmax_stability");
    for log in [false, true] {
        let d = *dev;
        let name = if log { "log_softmax" } else { "softmax" };
        rep.prop(
            &format!("stability/{name}"),
            with_dim(Domain::Range(-1e4, 1e4)),
            move |(spec, dim)| check_softmax(&d, &spec, dim, log),
        );
    }
    for dt in [DType::F32, DType::F64] {
        rep.case(&format!("{dt} fixed rows"), || {
            let rows: [[f64; 4]; 3] = [
                [1e4, 1e4 - 1.0, -1e4, 0.0],
                [-1e4, -1e4, -1e4, -1e4],
                [1e4, 1e4, -1e4, -1e4],
            ];
            let vals: Vec<f64> = rows.iter().flatten().copied().collect();
            let x =
                Tensor::from_host(HostData::from_f64_vec(&vals, dt), [3, 4], dev).or_fail("x")?;
            let r = RefTensor::new(vec![3, 4], vals);
            let tol = Tol::composite(dt);
            check_close(
                "softmax(-1) of ±1e4 rows",
                &x.softmax(-1).or_fail("softmax")?,
                &r.softmax(1),
                dt,
                tol,
            )?;
            let want = r.log_softmax(1);
            check_close(
                "log_softmax(-1) of ±1e4 rows",
                &x.log_softmax(-1).or_fail("log_softmax")?,
                &want,
                dt,
                tol,
            )?;
            let xt = x.t().or_fail("t")?;
            check_close(
                "softmax(0) of transposed ±1e4",
                &xt.softmax(0).or_fail("softmax")?,
                &r.transpose(0, 1).softmax(0),
                dt,
                tol,
            )?;
            let want = r.logsumexp(&[1], false);
            check_close(
                "logsumexp(1) of ±1e4 rows",
                &x.logsumexp(1, false).or_fail("logsumexp")?,
                &want,
                dt,
                tol,
            )
        });
        rep.case(&format!("{dt} rows holding +inf or NaN"), || {
            // PyTorch's rule: x - max is NaN at the +inf (inf - inf) and the NaN spreads
            // through the row's sum, so every element of such a row is NaN.
            let vals = vec![0.0, f64::INFINITY, 1.0, f64::NAN, 0.0, -1.0];
            let x =
                Tensor::from_host(HostData::from_f64_vec(&vals, dt), [2, 3], dev).or_fail("x")?;
            for (name, y) in [
                ("softmax", x.softmax(-1)),
                ("log_softmax", x.log_softmax(-1)),
            ] {
                let y = y.or_fail(name)?.to_f64_vec().or_fail("to_f64_vec")?;
                if !y.iter().all(|v| v.is_nan()) {
                    return Err(fail(format!(
                        "{name}(-1) of [[0, inf, 1], [nan, 0, -1]] gave {y:?}, want all NaN"
                    )));
                }
            }
            Ok(())
        });
        rep.case(&format!("{dt} logsumexp of -inf rows"), || {
            let vals = vec![f64::NEG_INFINITY, f64::NEG_INFINITY, 0.0, f64::NEG_INFINITY];
            let x =
                Tensor::from_host(HostData::from_f64_vec(&vals, dt), [2, 2], dev).or_fail("x")?;
            let want = RefTensor::new(vec![2], vec![f64::NEG_INFINITY, 0.0]);
            check_close(
                "logsumexp(1) of [[-inf, -inf], [0, -inf]]",
                &x.logsumexp(1, false).or_fail("lse")?,
                &want,
                dt,
                Tol::composite(dt),
            )
        });
    }
    rep.finish();
}

/// `softmax_backward` (and the log-softmax form) against `y * (dy - sum(dy * y))` and
/// `dy - exp(y) * sum(dy)`, with `y` a real (log-)softmax output and `dy` random.
pub fn softmax_backward_op(dev: &Device) {
    let mut rep = Report::new("softmax_backward_op");
    for log in [false, true] {
        let d = *dev;
        let name = if log {
            "log_softmax_backward"
        } else {
            "softmax_backward"
        };
        let s = (shape(), float_dtype()).prop_flat_map(|(s, dt)| {
            let r = s.len() as isize;
            (
                tensor_with(s.clone(), dt, Domain::Any, false),
                tensor(s, dt, Domain::Any),
                if r == 0 {
                    (0isize..1).boxed()
                } else {
                    (-r..r).boxed()
                },
            )
        });
        rep.prop(
            &format!("softmax_backward/{name}"),
            s,
            move |(sx, sdy, dim)| {
                // y: the reference (log-)softmax of x, laid out like x.
                let y_ref = reference(&sx.reference(), dim, log);
                let y_spec = TensorSpec {
                    data: y_ref.data.clone(),
                    ..sx.clone()
                };
                let y = y_spec.build(&d).or_fail("y")?;
                let dy = sdy.build(&d).or_fail("dy")?;
                let g = sdy.reference();
                let got = y.softmax_backward(&dy, dim, log).or_fail(name)?;
                let ctx = format!("{name}({dim}) of {:?} {}", sx.shape, sx.dtype);
                if y_ref.rank() == 0 {
                    let zero = RefTensor::scalar(0.0);
                    return check_close(&ctx, &got, &zero, sx.dtype, Tol::transcendental(sx.dtype));
                }
                let axis = resolve(dim, y_ref.rank());
                let n = y_ref.shape[axis];
                let prod = y_ref.binary(&g, crate::BinaryOp::Mul).expect("same shape");
                let (want, scale) = if log {
                    let s = g.sum(&[axis], true);
                    let sa = g.map(f64::abs).sum(&[axis], true);
                    let e = y_ref.map(f64::exp);
                    let want = g
                        .zip(&e.zip(&s, |a, b| a * b).expect("bcast"), |a, b| a - b)
                        .expect("bcast");
                    let scale = g
                        .map(f64::abs)
                        .zip(&e.zip(&sa, |a, b| a * b).expect("bcast"), |a, b| a + b)
                        .expect("bcast");
                    (want, scale)
                } else {
                    let s = prod.sum(&[axis], true);
                    let sa = prod.map(f64::abs).sum(&[axis], true);
                    let want = y_ref
                        .zip(&g.zip(&s, |a, b| a - b).expect("bcast"), |a, b| a * b)
                        .expect("bcast");
                    let scale = y_ref
                        .zip(
                            &g.map(f64::abs).zip(&sa, |a, b| a + b).expect("bcast"),
                            |a, b| a.abs() * b,
                        )
                        .expect("bcast");
                    (want, scale)
                };
                let k = 4.0 * (n as f64 + 2.0) * eps(sx.dtype) + Tol::transcendental(sx.dtype).rel;
                // Tiny y and results round to subnormals: f16's are 2^-24 apart.
                let gmax = g.data.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                let floor = 4.0 * tiny(sx.dtype) * gmax;
                check_with(&ctx, &got, &want, sx.dtype, |i, _| {
                    k * scale.data[i] + floor + 1e-300
                })
            },
        );
    }
    rep.finish();
}

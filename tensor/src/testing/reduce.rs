//! Reductions over random axis sets (negative indices, any order, empty = all) with
//! `keepdim` true and false: `sum prod max min argmax argmin mean var std logsumexp`,
//! against the naive group-by reference. Sums are checked with the `n * eps * sum|x|`
//! bound; integer sums and products exactly (products wrap). Reductions over empty
//! dimensions have their own fixed cases (`reduce_empty`), so that PyTorch's conventions
//! there (0, 1, NaN, -inf, error) are reported separately from the main paths.

use proptest::prelude::*;

use super::check::{
    check_close, check_exact, check_sum_like, check_with, eps, expect_err, fail, OrFail, Tol,
};
use super::reference::RefTensor;
use super::strategies::{any_dtype, float_dtype, int_dtype, shape, tensor, Domain, TensorSpec};
use super::Report;
use crate::{DType, Device, Tensor};

/// A set of axes for `rank`, as a caller writes it (any order, maybe negative) and
/// resolved (sorted, every axis when empty).
pub fn axes(rank: usize) -> BoxedStrategy<(Vec<isize>, Vec<usize>)> {
    (
        proptest::collection::vec(any::<bool>(), rank),
        proptest::collection::vec(any::<bool>(), rank),
    )
        .prop_flat_map(move |(pick, neg)| {
            let chosen: Vec<isize> = (0..rank)
                .filter(|&i| pick[i])
                .map(|i| {
                    if neg[i] {
                        i as isize - rank as isize
                    } else {
                        i as isize
                    }
                })
                .collect();
            Just(chosen).prop_shuffle()
        })
        .prop_map(move |passed| {
            let mut resolved: Vec<usize> = if passed.is_empty() {
                (0..rank).collect()
            } else {
                passed
                    .iter()
                    .map(|&d| {
                        if d < 0 {
                            (d + rank as isize) as usize
                        } else {
                            d as usize
                        }
                    })
                    .collect()
            };
            resolved.sort_unstable();
            (passed, resolved)
        })
        .boxed()
}

type AxesCase = (TensorSpec, (Vec<isize>, Vec<usize>), bool);

/// A spec with an axis set and a `keepdim` flag.
fn reduce_case(dtypes: BoxedStrategy<DType>, domain: Domain) -> BoxedStrategy<AxesCase> {
    (shape(), dtypes)
        .prop_flat_map(move |(s, dt)| {
            let r = s.len();
            (tensor(s, dt, domain), axes(r), any::<bool>())
        })
        .boxed()
}

/// Number of elements reduced into each output element.
fn count(shape: &[usize], axes: &[usize]) -> usize {
    axes.iter().map(|&a| shape[a]).product()
}

/// `sum` (and `sum_all`) on every dtype, `prod` on every dtype (integers wrap).
pub fn reduce_sum_prod(dev: &Device) {
    let mut rep = Report::new("reduce_sum_prod");
    let d = *dev;
    rep.prop(
        "reduce/sum",
        reduce_case(any_dtype(), Domain::Any),
        move |(spec, (passed, axes), keep)| {
            let x = spec.build(&d).or_fail("build")?;
            let r = spec.reference();
            let got = x.sum(passed.clone(), keep).or_fail("sum")?;
            let ctx = format!("sum({passed:?}, keepdim={keep}) of {:?}", spec.shape);
            let n = count(&spec.shape, &axes);
            let scale = r.map(f64::abs).sum(&axes, keep);
            check_sum_like(
                &ctx,
                &got,
                &r.sum(&axes, keep),
                spec.dtype,
                &scale,
                n,
                Tol::EXACT,
            )?;
            let all: Vec<usize> = (0..r.rank()).collect();
            let got = x.sum_all().or_fail("sum_all")?;
            let scale = r.map(f64::abs).sum(&all, false);
            check_sum_like(
                "sum_all",
                &got,
                &r.sum(&all, false),
                spec.dtype,
                &scale,
                r.numel(),
                Tol::EXACT,
            )
        },
    );
    let d = *dev;
    rep.prop(
        "reduce/prod",
        reduce_case(float_dtype(), Domain::Range(0.5, 1.5)),
        move |(spec, (passed, axes), keep)| {
            let x = spec.build(&d).or_fail("build")?;
            let r = spec.reference();
            let got = x.prod(passed.clone(), keep).or_fail("prod")?;
            let want = r.prod(&axes, keep);
            let n = count(&spec.shape, &axes);
            let ctx = format!("prod({passed:?}, keepdim={keep}) of {:?}", spec.shape);
            check_sum_like(
                &ctx,
                &got,
                &want,
                spec.dtype,
                &want.map(f64::abs),
                n,
                Tol {
                    rel: 0.0,
                    abs: 1e-30,
                },
            )
        },
    );
    let d = *dev;
    rep.prop(
        "reduce/prod_int",
        reduce_case(int_dtype(), Domain::SmallInt),
        move |(spec, (passed, axes), keep)| {
            let x = spec.build(&d).or_fail("build")?;
            let r = spec.reference();
            let got = x.prod(passed.clone(), keep).or_fail("prod")?;
            let dt = spec.dtype;
            let want = r.reduce_with(&axes, keep, |g| match dt {
                DType::U32 => g.iter().fold(1u32, |acc, &v| acc.wrapping_mul(v as u32)) as f64,
                _ => g.iter().fold(1i64, |acc, &v| acc.wrapping_mul(v as i64)) as f64,
            });
            check_exact(
                &format!("prod({passed:?}, keepdim={keep}) of {:?}", spec.shape),
                &got,
                &want,
                dt,
            )
        },
    );
    rep.finish();
}

/// `max` and `min` on every dtype, exact; an empty reduced dimension is an error.
pub fn reduce_max_min(dev: &Device) {
    let mut rep = Report::new("reduce_max_min");
    for is_max in [true, false] {
        let d = *dev;
        let name = if is_max { "max" } else { "min" };
        rep.prop(
            &format!("reduce/{name}"),
            reduce_case(any_dtype(), Domain::Any),
            move |(spec, (passed, axes), keep)| {
                let x = spec.build(&d).or_fail("build")?;
                let r = spec.reference();
                let got = if is_max {
                    x.amax(passed.clone(), keep)
                } else {
                    x.amin(passed.clone(), keep)
                };
                let ctx = format!("{name}({passed:?}, keepdim={keep}) of {:?}", spec.shape);
                if count(&spec.shape, &axes) == 0 {
                    return match got {
                        Err(_) => Ok(()),
                        Ok(_) => Err(fail(format!(
                            "{ctx}: reducing an empty dimension must be an error"
                        ))),
                    };
                }
                let want = if is_max {
                    r.max(&axes, keep)
                } else {
                    r.min(&axes, keep)
                };
                check_exact(&ctx, &got.or_fail(&ctx)?, &want, spec.dtype)
            },
        );
    }
    rep.finish();
}

/// `argmax`/`argmin` along one dim (negative too) on every dtype, with many ties: the
/// first occurrence wins, the result is I64.
pub fn reduce_arg(dev: &Device) {
    let mut rep = Report::new("reduce_arg");
    for is_max in [true, false] {
        let d = *dev;
        let name = if is_max { "argmax" } else { "argmin" };
        let s = (shape(), any_dtype()).prop_flat_map(|(s, dt)| {
            let r = s.len() as isize;
            (
                tensor(s, dt, Domain::SmallInt),
                if r == 0 {
                    (0isize..1).boxed()
                } else {
                    (-r..r).boxed()
                },
                any::<bool>(),
            )
        });
        rep.prop(&format!("reduce/{name}"), s, move |(spec, dim, keep)| {
            let x = spec.build(&d).or_fail("build")?;
            let got = if is_max {
                x.argmax(dim, keep)
            } else {
                x.argmin(dim, keep)
            };
            let ctx = format!("{name}({dim}, keepdim={keep}) of {:?}", spec.shape);
            if spec.shape.is_empty() {
                return check_exact(
                    &ctx,
                    &got.or_fail(&ctx)?,
                    &RefTensor::scalar(0.0),
                    DType::I64,
                );
            }
            let axis = if dim < 0 {
                (dim + spec.shape.len() as isize) as usize
            } else {
                dim as usize
            };
            if spec.shape[axis] == 0 {
                return match got {
                    Err(_) => Ok(()),
                    Ok(_) => Err(fail(format!("{ctx}: an empty dimension must be an error"))),
                };
            }
            let r = spec.reference();
            let want = if is_max {
                r.argmax(axis, keep)
            } else {
                r.argmin(axis, keep)
            };
            check_exact(&ctx, &got.or_fail(&ctx)?, &want, DType::I64)
        });
    }
    rep.finish();
}

/// `mean`, `mean_all`, `var` and `std` (biased and unbiased) over random axes; empty
/// reductions are left to `reduce_empty`.
pub fn reduce_mean_var_std(dev: &Device) {
    let mut rep = Report::new("reduce_mean_var_std");
    let d = *dev;
    rep.prop(
        "reduce/mean",
        reduce_case(float_dtype(), Domain::Any),
        move |(spec, (passed, axes), keep)| {
            let n = count(&spec.shape, &axes);
            if n == 0 {
                return Ok(());
            }
            let x = spec.build(&d).or_fail("build")?;
            let r = spec.reference();
            let got = x.mean(passed.clone(), keep).or_fail("mean")?;
            let scale = r.map(f64::abs).mean(&axes, keep);
            let ctx = format!("mean({passed:?}, keepdim={keep}) of {:?}", spec.shape);
            check_sum_like(
                &ctx,
                &got,
                &r.mean(&axes, keep),
                spec.dtype,
                &scale,
                n + 1,
                Tol::EXACT,
            )?;
            if r.numel() > 0 {
                let all: Vec<usize> = (0..r.rank()).collect();
                let scale = r.map(f64::abs).mean(&all, false);
                let got = x.mean_all().or_fail("mean_all")?;
                check_sum_like(
                    "mean_all",
                    &got,
                    &r.mean(&all, false),
                    spec.dtype,
                    &scale,
                    r.numel() + 1,
                    Tol::EXACT,
                )?;
            }
            Ok(())
        },
    );
    for is_std in [false, true] {
        let d = *dev;
        let name = if is_std { "std" } else { "var" };
        let s = (reduce_case(float_dtype(), Domain::Any), any::<bool>());
        rep.prop(
            &format!("reduce/{name}"),
            s,
            move |((spec, (passed, axes), keep), unbiased)| {
                let n = count(&spec.shape, &axes);
                if n == 0 {
                    return Ok(());
                }
                let x = spec.build(&d).or_fail("build")?;
                let r = spec.reference();
                let got = if is_std {
                    x.std(passed.clone(), unbiased, keep)
                } else {
                    x.var(passed.clone(), unbiased, keep)
                }
                .or_fail(name)?;
                let var = r.var(&axes, unbiased, keep);
                let denom = (n as f64 - if unbiased { 1.0 } else { 0.0 }).max(1.0);
                let sq = r.map(|v| v * v).sum(&axes, keep);
                let e = eps(spec.dtype);
                let var_bound = |i: usize| 4.0 * (n as f64 + 2.0) * e * sq.data[i] / denom + 1e-300;
                let ctx = format!(
                    "{name}({passed:?}, unbiased={unbiased}, keepdim={keep}) of {:?}",
                    spec.shape
                );
                if is_std {
                    check_with(&ctx, &got, &var.map(f64::sqrt), spec.dtype, |i, w| {
                        var_bound(i).sqrt() + 4.0 * e * w.abs()
                    })
                } else {
                    check_with(&ctx, &got, &var, spec.dtype, |i, _| var_bound(i))
                }
            },
        );
    }
    rep.finish();
}

/// `logsumexp` over random axes; the error bound scales with the largest `|x|`.
pub fn reduce_logsumexp(dev: &Device) {
    let mut rep = Report::new("reduce_logsumexp");
    let d = *dev;
    rep.prop(
        "reduce/logsumexp",
        reduce_case(float_dtype(), Domain::Any),
        move |(spec, (passed, axes), keep)| {
            let n = count(&spec.shape, &axes);
            if n == 0 {
                return Ok(());
            }
            let x = spec.build(&d).or_fail("build")?;
            let r = spec.reference();
            let got = x.logsumexp(passed.clone(), keep).or_fail("logsumexp")?;
            let scale = r.map(f64::abs).max(&axes, keep);
            let tol = Tol::composite(spec.dtype);
            let e = eps(spec.dtype);
            let ctx = format!("logsumexp({passed:?}, keepdim={keep}) of {:?}", spec.shape);
            check_with(&ctx, &got, &r.logsumexp(&axes, keep), spec.dtype, |i, w| {
                tol.bound(w) + 8.0 * e * (scale.data[i] + (n as f64).ln() + 1.0)
            })
        },
    );
    rep.finish();
}

/// PyTorch's conventions for reductions over nothing: sum 0, prod 1, mean/var/std NaN,
/// logsumexp -inf, max/min/argmax errors; softmax of an empty slice is an empty tensor;
/// and reductions whose output is empty.
pub fn reduce_empty(dev: &Device) {
    let mut rep = Report::new("reduce_empty");
    for dt in [DType::F32, DType::F64] {
        let t = |shape: [usize; 2]| Tensor::zeros(shape, dt, dev);
        let full = |shape: Vec<usize>, v: f64| RefTensor::full(shape, v);
        type Op = fn(&Tensor) -> crate::Result<Tensor>;
        let cases: [(&str, Op, f64); 7] = [
            ("sum", |x| x.sum(0, false), 0.0),
            ("prod", |x| x.prod(0, false), 1.0),
            ("mean", |x| x.mean(0, false), f64::NAN),
            ("var unbiased", |x| x.var(0, true, false), f64::NAN),
            ("var biased", |x| x.var(0, false, false), f64::NAN),
            ("std", |x| x.std(0, true, false), f64::NAN),
            ("logsumexp", |x| x.logsumexp(0, false), f64::NEG_INFINITY),
        ];
        for (name, op, v) in cases {
            rep.case(&format!("{dt} {name} over a size-0 dim"), || {
                let x = t([0, 3]).or_fail("zeros")?;
                check_close(
                    &format!("{name}(0) of [0, 3]"),
                    &op(&x).or_fail(name)?,
                    &full(vec![3], v),
                    dt,
                    Tol::EXACT,
                )
            });
        }
        rep.case(&format!("{dt} sum_all/mean_all of [0]"), || {
            let x = Tensor::zeros([0], dt, dev).or_fail("zeros")?;
            check_exact(
                "sum_all of [0]",
                &x.sum_all().or_fail("sum_all")?,
                &RefTensor::scalar(0.0),
                dt,
            )?;
            check_exact(
                "mean_all of [0]",
                &x.mean_all().or_fail("mean_all")?,
                &RefTensor::scalar(f64::NAN),
                dt,
            )
        });
        rep.case(
            &format!("{dt} max/min/argmax over a size-0 dim are errors"),
            || {
                let x = t([0, 3]).or_fail("zeros")?;
                expect_err("max(0) of [0, 3]", || x.amax(0, false), &["max", "[0, 3]"]);
                expect_err("min(0) of [0, 3]", || x.amin(0, false), &["min"]);
                expect_err("argmax(0) of [0, 3]", || x.argmax(0, false), &["argmax"]);
                expect_err("argmin(0) of [0, 3]", || x.argmin(0, false), &["argmin"]);
                Ok(())
            },
        );
        rep.case(&format!("{dt} reductions with an empty output"), || {
            let x = t([0, 3]).or_fail("zeros")?;
            check_exact(
                "max(1) of [0, 3]",
                &x.amax(1, false).or_fail("max")?,
                &full(vec![0], 0.0),
                dt,
            )?;
            check_exact(
                "argmax(1) of [0, 3]",
                &x.argmax(1, true).or_fail("argmax")?,
                &full(vec![0, 1], 0.0),
                DType::I64,
            )?;
            check_exact(
                "sum(1) of [0, 3]",
                &x.sum(1, false).or_fail("sum")?,
                &full(vec![0], 0.0),
                dt,
            )?;
            let y = t([2, 0]).or_fail("zeros")?;
            check_exact(
                "sum(0) of [2, 0]",
                &y.sum(0, true).or_fail("sum")?,
                &full(vec![1, 0], 0.0),
                dt,
            )
        });
        for log in [false, true] {
            let name = if log { "log_softmax" } else { "softmax" };
            rep.case(&format!("{dt} {name} of empty tensors"), || {
                for (shape, dim) in [([0, 3], 0isize), ([0, 3], 1), ([2, 0], -1), ([2, 0], 0)] {
                    let x = t(shape).or_fail("zeros")?;
                    let got = if log {
                        x.log_softmax(dim)
                    } else {
                        x.softmax(dim)
                    };
                    check_exact(
                        &format!("{name}({dim}) of {shape:?}"),
                        &got.or_fail(name)?,
                        &full(shape.to_vec(), 0.0),
                        dt,
                    )?;
                }
                Ok(())
            });
        }
    }
    rep.case("integer sum of nothing", || {
        let x = Tensor::zeros([0, 2], DType::I64, dev).or_fail("zeros")?;
        check_exact(
            "sum(0) of i64 [0, 2]",
            &x.sum(0, false).or_fail("sum")?,
            &RefTensor::full(vec![2], 0.0),
            DType::I64,
        )
    });
    rep.finish();
}

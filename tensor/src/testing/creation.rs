//! Creation: `zeros ones full scalar` and the `*_like` forms, `arange linspace eye`,
//! `from_vec from_slice from_host`, and the seeded random fills — `rand`/`rand_uniform`
//! (range, reproducibility, the check values of the workloads' generator, `bench/README.md`) and `randn`
//! (moments of 10k samples within statistical bounds).

use proptest::prelude::*;
use proptest::sample::select;

use super::check::{check_exact, fail, OrFail};
use super::reference::RefTensor;
use super::reference_layout::cast_value;
use super::strategies::{any_dtype, any_tensor, float_dtype, shape, values, Domain};
use super::Report;
use crate::{DType, Device, HostData, Tensor};

/// `zeros ones full scalar` and `zeros_like ones_like full_like` (of strided tensors),
/// every dtype; `full` converts its value with `as`.
pub fn creation_fill(dev: &Device) {
    let mut rep = Report::new("creation_fill");
    let d = *dev;
    rep.prop(
        "creation/fill",
        (shape(), any_dtype(), -5.0..5.0f64),
        move |(s, dt, v)| {
            let want = |x: f64| RefTensor::full(s.clone(), cast_value(x, DType::F64, dt));
            check_exact(
                "zeros",
                &Tensor::zeros(s.clone(), dt, &d).or_fail("zeros")?,
                &want(0.0),
                dt,
            )?;
            check_exact(
                "ones",
                &Tensor::ones(s.clone(), dt, &d).or_fail("ones")?,
                &want(1.0),
                dt,
            )?;
            check_exact(
                &format!("full({v})"),
                &Tensor::full(v, s.clone(), dt, &d).or_fail("full")?,
                &want(v),
                dt,
            )?;
            let sc = Tensor::scalar(v, dt, &d).or_fail("scalar")?;
            check_exact(
                &format!("scalar({v})"),
                &sc,
                &RefTensor::scalar(cast_value(v, DType::F64, dt)),
                dt,
            )
        },
    );
    let d = *dev;
    rep.prop(
        "creation/like",
        (any_tensor(any_dtype(), Domain::Any), -5.0..5.0f64),
        move |(spec, v)| {
            let x = spec.build(&d).or_fail("build")?;
            let (s, dt) = (spec.shape.clone(), spec.dtype);
            let want = |x: f64| RefTensor::full(s.clone(), cast_value(x, DType::F64, dt));
            check_exact(
                "zeros_like",
                &x.zeros_like().or_fail("zeros_like")?,
                &want(0.0),
                dt,
            )?;
            check_exact(
                "ones_like",
                &x.ones_like().or_fail("ones_like")?,
                &want(1.0),
                dt,
            )?;
            check_exact(
                "full_like",
                &x.full_like(v).or_fail("full_like")?,
                &want(v),
                dt,
            )
        },
    );
    rep.finish();
}

/// `arange` on exactly representable (dyadic) arguments in both directions, `linspace`
/// (exact ends), `eye`.
pub fn creation_ranges(dev: &Device) {
    let mut rep = Report::new("creation_ranges");
    let d = *dev;
    let steps = select(vec![0.25, 0.5, 1.0, 2.0, 3.0, -0.5, -1.0, -2.0]);
    let s = (-40i32..40, steps, 0usize..12, any::<bool>(), any_dtype());
    rep.prop("creation/arange", s, move |(a, step, n, half, dt)| {
        let start = a as f64 / 4.0;
        // Half a step short of an empty range is a range in the wrong direction (an error).
        let half = half && n > 0;
        // `end` is exactly n steps away, or half a step short: n values either way.
        let end = start + step * (n as f64 - if half { 0.5 } else { 0.0 });
        let got = Tensor::arange(start, end, step, dt, &d).or_fail("arange")?;
        let want = RefTensor::from_fn(vec![n], |i| {
            cast_value(start + i[0] as f64 * step, DType::F64, dt)
        });
        check_exact(&format!("arange({start}, {end}, {step})"), &got, &want, dt)
    });
    let d = *dev;
    let s = (-10.0..10.0f64, -10.0..10.0f64, 0usize..12, float_dtype());
    rep.prop("creation/linspace", s, move |(start, end, steps, dt)| {
        let got = Tensor::linspace(start, end, steps, dt, &d).or_fail("linspace")?;
        let ctx = format!("linspace({start}, {end}, {steps})");
        let round = |x: f64| cast_value(x, DType::F64, dt);
        let want = RefTensor::from_fn(vec![steps], |i| {
            if steps == 1 {
                start
            } else {
                start + (end - start) * i[0] as f64 / (steps - 1) as f64
            }
        });
        let e = super::check::eps(dt);
        super::check::check_with(&ctx, &got, &want, dt, |_, _| {
            4.0 * e * (start.abs() + end.abs()) + 4.0 * f64::EPSILON * 20.0
        })?;
        let v = got.to_f64_vec().or_fail(&ctx)?;
        if steps >= 1 && v[0] != round(start) {
            return Err(fail(format!("{ctx}: first value {} is not start", v[0])));
        }
        if steps >= 2 && v[steps - 1] != round(end) {
            return Err(fail(format!(
                "{ctx}: last value {} is not end",
                v[steps - 1]
            )));
        }
        Ok(())
    });
    let d = *dev;
    rep.prop("creation/eye", (0usize..=6, any_dtype()), move |(n, dt)| {
        let want = RefTensor::from_fn(vec![n, n], |i| if i[0] == i[1] { 1.0 } else { 0.0 });
        check_exact(
            &format!("eye({n})"),
            &Tensor::eye(n, dt, &d).or_fail("eye")?,
            &want,
            dt,
        )
    });
    rep.finish();
}

/// `from_vec`, `from_slice`, `from_host` of every dtype read back exactly.
pub fn creation_from_data(dev: &Device) {
    let mut rep = Report::new("creation_from_data");
    let d = *dev;
    let s = (shape(), any_dtype()).prop_flat_map(|(s, dt)| {
        let n = s.iter().product();
        (Just(s), Just(dt), values(dt, Domain::Extreme, n))
    });
    rep.prop("creation/from_data", s, move |(s, dt, v)| {
        let want = RefTensor::new(s.clone(), v.clone());
        let host = HostData::from_f64_vec(&v, dt);
        check_exact(
            "from_host",
            &Tensor::from_host(host.clone(), s.clone(), &d).or_fail("from_host")?,
            &want,
            dt,
        )?;
        let (a, b) = match host {
            HostData::F32(h) => (
                Tensor::from_vec(h.clone(), s.clone(), &d),
                Tensor::from_slice(&h, s.clone(), &d),
            ),
            HostData::F64(h) => (
                Tensor::from_vec(h.clone(), s.clone(), &d),
                Tensor::from_slice(&h, s.clone(), &d),
            ),
            HostData::I64(h) => (
                Tensor::from_vec(h.clone(), s.clone(), &d),
                Tensor::from_slice(&h, s.clone(), &d),
            ),
            HostData::U32(h) => (
                Tensor::from_vec(h.clone(), s.clone(), &d),
                Tensor::from_slice(&h, s.clone(), &d),
            ),
            HostData::Bool(h) => (
                Tensor::from_vec(h.clone(), s.clone(), &d),
                Tensor::from_slice(&h, s.clone(), &d),
            ),
            HostData::F16(h) => (
                Tensor::from_vec(h.clone(), s.clone(), &d),
                Tensor::from_slice(&h, s.clone(), &d),
            ),
            HostData::BF16(h) => (
                Tensor::from_vec(h.clone(), s.clone(), &d),
                Tensor::from_slice(&h, s.clone(), &d),
            ),
        };
        check_exact("from_vec", &a.or_fail("from_vec")?, &want, dt)?;
        check_exact("from_slice", &b.or_fail("from_slice")?, &want, dt)
    });
    rep.finish();
}

/// Uniform fills: the generator's check values (`bench/README.md`), `[lo, hi)` ranges, same seed same values
/// (also through `rand_like`), another seed other values.
pub fn rand_uniform(dev: &Device) {
    let mut rep = Report::new("rand_uniform");
    rep.case("generator check values", || {
        let t = Tensor::rand_uniform(42, 0.0, 1.0, [4], DType::F32, dev).or_fail("rand_uniform")?;
        let want = RefTensor::new(
            vec![4],
            vec![
                0.741_564_87f32 as f64,
                0.159_910_38f32 as f64,
                0.278_601_1f32 as f64,
                0.344_190_66f32 as f64,
            ],
        );
        check_exact("rand_uniform(42, 0, 1, [4], F32)", &t, &want, DType::F32)?;
        let t = Tensor::rand_uniform(1, -1.0, 1.0, [3], DType::F32, dev).or_fail("rand_uniform")?;
        let want = RefTensor::new(
            vec![3],
            vec![
                0.133_123_04f32 as f64,
                0.491_563_44f32 as f64,
                0.942_005_4f32 as f64,
            ],
        );
        check_exact("rand_uniform(1, -1, 1, [3], F32)", &t, &want, DType::F32)
    });
    let d = *dev;
    let s = (
        any::<u64>(),
        -5.0..5.0f64,
        0.01..10.0f64,
        shape(),
        float_dtype(),
    );
    rep.prop("rand/range_and_seed", s, move |(seed, lo, span, s, dt)| {
        let hi = lo + span;
        let a = Tensor::rand_uniform(seed, lo, hi, s.clone(), dt, &d).or_fail("rand_uniform")?;
        if a.dims() != s.as_slice() || a.dtype() != dt {
            return Err(fail(format!(
                "rand_uniform: shape {:?} {}, expected {s:?} {dt}",
                a.dims(),
                a.dtype()
            )));
        }
        let v = a.to_f64_vec().or_fail("to_f64_vec")?;
        // Rounding lo + span * u to f32 or a half type may land on the rounded ends
        // themselves; never beyond.
        let rounded = |x: f64| super::reference_layout::cast_value(x, DType::F64, dt);
        let top_ok = |x: f64| {
            if dt == DType::F64 {
                x < hi
            } else {
                x <= rounded(hi)
            }
        };
        if let Some(x) = v
            .iter()
            .find(|&&x| !(x >= rounded(lo) || x >= lo) || !top_ok(x))
        {
            return Err(fail(format!(
                "rand_uniform({lo}, {hi}): value {x} out of range"
            )));
        }
        let b = Tensor::rand_uniform(seed, lo, hi, s.clone(), dt, &d).or_fail("rand_uniform")?;
        check_exact("same seed", &b, &RefTensor::new(s.clone(), v.clone()), dt)?;
        let unit = Tensor::rand(seed, s.clone(), dt, &d).or_fail("rand")?;
        let like = a.rand_like(seed).or_fail("rand_like")?;
        check_exact(
            "rand_like",
            &like,
            &RefTensor::new(s.clone(), unit.to_f64_vec().or_fail("rand")?),
            dt,
        )?;
        if v.len() >= 8 {
            let other = Tensor::rand_uniform(seed.wrapping_add(1), lo, hi, s.clone(), dt, &d)
                .or_fail("rand")?;
            if other.to_f64_vec().or_fail("rand")? == v {
                return Err(fail("seeds s and s + 1 gave identical tensors"));
            }
        }
        Ok(())
    });
    rep.case("rand moments", || {
        let n = 10_000;
        for dt in [DType::F32, DType::F64] {
            let v = Tensor::rand(7, [n], dt, dev)
                .and_then(|t| t.to_f64_vec())
                .or_fail("rand")?;
            let mean = v.iter().sum::<f64>() / n as f64;
            // Uniform [0, 1): mean 1/2 with standard error 0.29 / sqrt(n) = 0.003.
            if (mean - 0.5).abs() > 0.015 || v.iter().any(|&x| !(0.0..1.0).contains(&x)) {
                return Err(fail(format!("rand {dt}: mean {mean} or range is off")));
            }
        }
        Ok(())
    });
    rep.finish();
}

/// `randn`: 10k samples have mean 0 and variance 1 within 5 standard errors, every seed
/// tried; reproducible; `randn_like` matches `randn`.
pub fn randn_moments(dev: &Device) {
    let mut rep = Report::new("randn_moments");
    for dt in [DType::F32, DType::F64] {
        for seed in [0u64, 1, 42, 12345, u64::MAX] {
            rep.case(&format!("randn {dt} seed {seed}"), || {
                let n = 10_000;
                let t = Tensor::randn(seed, [100, 100], dt, dev).or_fail("randn")?;
                let v = t.to_f64_vec().or_fail("randn")?;
                let mean = v.iter().sum::<f64>() / n as f64;
                let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
                // Standard errors: mean 1/sqrt(n) = 0.01, variance sqrt(2/n) = 0.014.
                if mean.abs() > 0.05 || (var - 1.0).abs() > 0.07 || !v.iter().all(|x| x.is_finite())
                {
                    return Err(fail(format!(
                        "randn {dt} seed {seed}: mean {mean}, var {var}"
                    )));
                }
                let again = Tensor::randn(seed, [100, 100], dt, dev).or_fail("randn")?;
                check_exact(
                    "randn again",
                    &again,
                    &RefTensor::new(vec![100, 100], v.clone()),
                    dt,
                )?;
                let like = t.randn_like(seed).or_fail("randn_like")?;
                check_exact("randn_like", &like, &RefTensor::new(vec![100, 100], v), dt)
            });
        }
    }
    rep.finish();
}

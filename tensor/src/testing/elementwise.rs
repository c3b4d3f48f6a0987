//! Unary element-wise ops against `UnaryOp::eval_f64`: every float variant through its
//! public method (with the parametrised `powf`, `clamp`, `affine`, `leaky_relu`), the
//! integer subset on I64/U32, the tensor–scalar forms (`add_scalar`, `&t * 2.0`, ...),
//! and `strided_inputs`, which checks that every layout the strategies build reads back
//! as its logical values (the ground the other tests stand on).

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseResult;

use super::check::{check_close, check_exact, check_with, eps, fail, guarded, OrFail, Tol};
use super::strategies::{
    any_dtype, any_tensor, float_dtype, int_dtype, Domain, LayoutKind, TensorSpec,
};
use super::Report;
use crate::{DType, Device, Result, Tensor, UnaryOp};

/// Every layout kind reads back as its logical values, through `to_f64_vec`, `to_vec`,
/// `copy` and `contiguous`; a fresh tensor is contiguous, a copy always is.
pub fn strided_inputs(dev: &Device) {
    let mut rep = Report::new("strided_inputs");
    let d = *dev;
    rep.prop(
        "strided_inputs/read_back",
        any_tensor(any_dtype(), Domain::Any),
        move |spec: TensorSpec| {
            let t = spec.build(&d).or_fail("build")?;
            let want = spec.reference();
            check_exact("to_f64_vec", &t, &want, spec.dtype)?;
            if spec.layout == LayoutKind::Contiguous && !t.is_contiguous() {
                return Err(fail("a fresh tensor is not contiguous"));
            }
            let typed: Vec<f64> = match spec.dtype {
                DType::F32 => t
                    .to_vec::<f32>()
                    .or_fail("to_vec")?
                    .into_iter()
                    .map(|x| x as f64)
                    .collect(),
                DType::F64 => t.to_vec::<f64>().or_fail("to_vec")?,
                DType::I64 => t
                    .to_vec::<i64>()
                    .or_fail("to_vec")?
                    .into_iter()
                    .map(|x| x as f64)
                    .collect(),
                _ => t
                    .to_vec::<u32>()
                    .or_fail("to_vec")?
                    .into_iter()
                    .map(|x| x as f64)
                    .collect(),
            };
            check_exact(
                "to_vec",
                &Tensor::from_vec(typed, t.dims(), &d).or_fail("from_vec")?,
                &want,
                DType::F64,
            )?;
            let c = t.copy().or_fail("copy")?;
            if !c.is_contiguous() || c.shares_storage(&t) {
                return Err(fail("copy() must be a fresh contiguous tensor"));
            }
            check_exact("copy", &c, &want, spec.dtype)?;
            let c = t.contiguous().or_fail("contiguous")?;
            if !c.is_contiguous() {
                return Err(fail("contiguous() is not contiguous"));
            }
            check_exact("contiguous", &c, &want, spec.dtype)
        },
    );
    rep.finish();
}

/// Calls the public method named after `op` (not `unary`), so every wrapper is covered.
fn call(x: &Tensor, op: UnaryOp) -> Result<Tensor> {
    match op {
        UnaryOp::Neg => x.neg(),
        UnaryOp::Abs => x.abs(),
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.log(),
        UnaryOp::Log1p => x.log1p(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Rsqrt => x.rsqrt(),
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sigmoid => x.sigmoid(),
        UnaryOp::Relu => x.relu(),
        UnaryOp::Gelu => x.gelu(),
        UnaryOp::GeluTanh => x.gelu_tanh(),
        UnaryOp::Silu => x.silu(),
        UnaryOp::Erf => x.erf(),
        UnaryOp::Square => x.square(),
        UnaryOp::Recip => x.recip(),
        UnaryOp::Sign => x.sign(),
        UnaryOp::Powf(p) => x.powf(p),
        UnaryOp::Clamp(lo, hi) => x.clamp(lo, hi),
        UnaryOp::Affine(m, a) => x.affine(m, a),
        UnaryOp::LeakyRelu(s) => x.leaky_relu(s),
    }
}

/// The float unary ops without parameters, with the domain each is tested on.
pub const FLOAT_UNARY: &[(UnaryOp, Domain)] = &[
    (UnaryOp::Neg, Domain::Any),
    (UnaryOp::Abs, Domain::Any),
    (UnaryOp::Exp, Domain::Any),
    (UnaryOp::Log, Domain::Positive),
    (UnaryOp::Log1p, Domain::Range(-0.9, 10.0)),
    (UnaryOp::Sqrt, Domain::Positive),
    (UnaryOp::Rsqrt, Domain::Positive),
    (UnaryOp::Sin, Domain::Any),
    (UnaryOp::Cos, Domain::Any),
    (UnaryOp::Tanh, Domain::Any),
    (UnaryOp::Sigmoid, Domain::Any),
    (UnaryOp::Relu, Domain::Any),
    (UnaryOp::Gelu, Domain::Any),
    (UnaryOp::GeluTanh, Domain::Any),
    (UnaryOp::Silu, Domain::Any),
    (UnaryOp::Erf, Domain::Any),
    (UnaryOp::Square, Domain::Any),
    (UnaryOp::Recip, Domain::NonZero),
    (UnaryOp::Sign, Domain::Any),
];

fn unary_tol(op: UnaryOp, dtype: DType) -> Tol {
    match op {
        UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Relu | UnaryOp::Sign => Tol::EXACT,
        UnaryOp::Square | UnaryOp::Recip | UnaryOp::Clamp(..) => Tol::arith(dtype),
        UnaryOp::LeakyRelu(_) => Tol {
            rel: 4.0 * eps(dtype),
            abs: 0.0,
        },
        _ => Tol::transcendental(dtype),
    }
}

/// Checks `op` on one spec against the f64 definition. `Affine` gets a bound that allows
/// for the scalars being rounded to the dtype and an unfused multiply-add.
fn check_unary(dev: &Device, spec: &TensorSpec, op: UnaryOp) -> TestCaseResult {
    let x = spec.build(dev).or_fail("build")?;
    // Guarded: an op that never returns (erf at 0 once did) fails instead of hanging.
    let got = match guarded(op.name(), move || call(&x, op)) {
        Ok(Some(got)) => got.or_fail(op.name())?,
        Ok(None) => return Ok(()),
        Err(e) => return Err(fail(format!("{e} on {spec:?}"))),
    };
    let r = spec.reference();
    let want = r.unary(op);
    let ctx = format!("{op:?} on {}", spec.dtype);
    if let UnaryOp::Affine(m, a) = op {
        let e = eps(spec.dtype);
        return check_with(&ctx, &got, &want, spec.dtype, |i, w| {
            2.0 * e * (w.abs() + (m * r.data[i]).abs() + a.abs())
        });
    }
    if spec.dtype.is_float() {
        check_close(&ctx, &got, &want, spec.dtype, unary_tol(op, spec.dtype))
    } else {
        check_exact(
            &ctx,
            &got,
            &want.map(|v| wrap_int(v, spec.dtype)),
            spec.dtype,
        )
    }
}

/// An exact integer result wrapped into the dtype's range (integers wrap, as Rust's
/// `wrapping_*`).
pub fn wrap_int(v: f64, dtype: DType) -> f64 {
    match dtype {
        DType::U32 => (v as i128).rem_euclid(1i128 << 32) as f64,
        DType::I64 => v as i128 as i64 as f64,
        _ => v,
    }
}

/// Every float unary op, F32 and F64, on strided inputs, against its f64 definition.
pub fn unary_ops(dev: &Device) {
    let mut rep = Report::new("unary_ops");
    for &(op, domain) in FLOAT_UNARY {
        let d = *dev;
        rep.prop(
            &format!("unary/{}", op.name()),
            any_tensor(float_dtype(), domain),
            move |spec| check_unary(&d, &spec, op),
        );
    }
    let d = *dev;
    let powf = select(vec![2.0, 3.0, 1.0, 0.0, -1.0, 0.5, 1.5, -2.5]).prop_flat_map(|p: f64| {
        let domain = if p.fract() == 0.0 {
            Domain::Any
        } else {
            Domain::Positive
        };
        (Just(p), any_tensor(float_dtype(), domain))
    });
    rep.prop("unary/powf", powf, move |(p, spec)| {
        check_unary(&d, &spec, UnaryOp::Powf(p))
    });
    let d = *dev;
    let bounds = (
        prop_oneof![4 => -5.0..5.0f64, 1 => Just(f64::NEG_INFINITY)],
        prop_oneof![4 => 0.0..10.0f64, 1 => Just(f64::INFINITY)],
    );
    rep.prop(
        "unary/clamp",
        (bounds, any_tensor(float_dtype(), Domain::Any)),
        move |((lo, span), spec)| {
            let hi = if lo.is_finite() { lo + span } else { span };
            check_unary(&d, &spec, UnaryOp::Clamp(lo, hi))
        },
    );
    let d = *dev;
    let affine = (
        -5.0..5.0f64,
        -5.0..5.0f64,
        any_tensor(float_dtype(), Domain::Any),
    );
    rep.prop("unary/affine", affine, move |(m, a, spec)| {
        check_unary(&d, &spec, UnaryOp::Affine(m, a))
    });
    let d = *dev;
    let leaky = (0.0..1.0f64, any_tensor(float_dtype(), Domain::Any));
    rep.prop("unary/leaky_relu", leaky, move |(s, spec)| {
        check_unary(&d, &spec, UnaryOp::LeakyRelu(s))
    });
    for (name, op) in [("erf", UnaryOp::Erf), ("gelu", UnaryOp::Gelu)] {
        rep.case(&format!("{name} of 0 and a subnormal returns"), || {
            let x = Tensor::from_vec(vec![0.0f64, 1e-310, -0.0], [3], dev).or_fail("x")?;
            let got = match guarded(name, move || call(&x, op)) {
                Ok(Some(got)) => got.or_fail(name)?,
                Ok(None) => return Err(fail(format!("{name} hung on another input before"))),
                Err(e) => return Err(fail(format!("{e} on [0.0, 1e-310, -0.0] (f64)"))),
            };
            let r = super::reference::RefTensor::new(vec![3], vec![0.0, 1e-310, -0.0]);
            check_close(
                name,
                &got,
                &r.unary(op),
                DType::F64,
                Tol::transcendental(DType::F64),
            )
        });
    }
    rep.finish();
}

/// The integer unary subset (neg, abs, relu, square, sign, clamp, affine) on I64 and U32,
/// exact (U32 negation wraps).
pub fn unary_int_ops(dev: &Device) {
    let mut rep = Report::new("unary_int_ops");
    for op in [
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Relu,
        UnaryOp::Square,
        UnaryOp::Sign,
    ] {
        let d = *dev;
        rep.prop(
            &format!("unary_int/{}", op.name()),
            any_tensor(int_dtype(), Domain::Any),
            move |spec| check_unary(&d, &spec, op),
        );
    }
    let d = *dev;
    let clamp = (-20i64..20, 0i64..20, any_tensor(int_dtype(), Domain::Any));
    rep.prop("unary_int/clamp", clamp, move |(lo, span, spec)| {
        // U32 bounds stay non-negative: a bound the dtype cannot hold has no agreed meaning.
        let lo = if spec.dtype == DType::U32 {
            lo.abs()
        } else {
            lo
        };
        check_unary(&d, &spec, UnaryOp::Clamp(lo as f64, (lo + span) as f64))
    });
    let d = *dev;
    let affine = (0i64..5, 0i64..20, any_tensor(int_dtype(), Domain::Any));
    rep.prop("unary_int/affine", affine, move |(m, a, spec)| {
        // Non-negative integer scalars keep U32 results in range.
        check_unary(&d, &spec, UnaryOp::Affine(m as f64, a as f64))
    });
    rep.finish();
}

/// The scalar forms: `add_scalar sub_scalar mul_scalar div_scalar` and `t + s`, `&t - s`,
/// `t * s`, `&t / s` with an f64 on the right; integer dtypes with integer scalars.
pub fn scalar_ops(dev: &Device) {
    let mut rep = Report::new("scalar_ops");
    type ScalarFn = fn(&Tensor, f64) -> Result<Tensor>;
    type Case = (&'static str, ScalarFn, ScalarFn, fn(f64, f64) -> f64);
    let ops: [Case; 4] = [
        ("add", |t, s| t.add_scalar(s), |t, s| t + s, |x, s| x + s),
        (
            "sub",
            |t, s| t.sub_scalar(s),
            |t, s| t.clone() - s,
            |x, s| x - s,
        ),
        ("mul", |t, s| t.mul_scalar(s), |t, s| t * s, |x, s| x * s),
        (
            "div",
            |t, s| t.div_scalar(s),
            |t, s| t.clone() / s,
            |x, s| x / s,
        ),
    ];
    for (name, method, operator, f) in ops {
        let d = *dev;
        let scalar = prop_oneof![0.25..5.0f64, -5.0..-0.25f64];
        rep.prop(
            &format!("scalar/{name}"),
            (scalar, any_tensor(float_dtype(), Domain::Any)),
            move |(s, spec)| {
                let x = spec.build(&d).or_fail("build")?;
                let r = spec.reference();
                let want = r.map(|v| f(v, s));
                let e = eps(spec.dtype);
                let bound = |i: usize, w: f64| {
                    4.0 * e * (w.abs() + (r.data[i] * s).abs() + s.abs() + r.data[i].abs())
                };
                check_with(
                    &format!("{name}_scalar({s})"),
                    &method(&x, s).or_fail(name)?,
                    &want,
                    spec.dtype,
                    bound,
                )?;
                check_with(
                    &format!("tensor {name} {s}"),
                    &operator(&x, s).or_fail(name)?,
                    &want,
                    spec.dtype,
                    bound,
                )
            },
        );
        if name == "div" {
            continue;
        }
        let d = *dev;
        rep.prop(
            &format!("scalar_int/{name}"),
            (0i64..10, any_tensor(int_dtype(), Domain::Any)),
            move |(s, spec)| {
                if spec.dtype == DType::U32 && name == "sub" {
                    return Ok(()); // would go negative: saturation vs wrapping is not specified
                }
                let x = spec.build(&d).or_fail("build")?;
                let want = spec.reference().map(|v| f(v, s as f64));
                check_exact(
                    &format!("{name}_scalar({s})"),
                    &method(&x, s as f64).or_fail(name)?,
                    &want,
                    spec.dtype,
                )?;
                check_exact(
                    &format!("tensor {name} {s}"),
                    &operator(&x, s as f64).or_fail(name)?,
                    &want,
                    spec.dtype,
                )
            },
        );
    }
    rep.finish();
}

//! Unary element-wise ops against `UnaryOp::eval_f64`: every float variant through its
//! public method (with the parametrised `powf`, `clamp`, `affine`, `leaky_relu`), the
//! integer subset on I64/U32, the tensor–scalar forms (`add_scalar`, `&t * 2.0`, ...),
//! and `strided_inputs`, which checks that every layout the strategies build reads back
//! as its logical values (the ground the other tests stand on).

use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;

use super::check::{check_close, check_exact, check_with, eps, fail, guarded, OrFail, Tol};
use super::reference::RefTensor;
use super::strategies::{
    any_dtype, any_tensor, float_dtype, int_dtype, Domain, LayoutKind, TensorSpec,
};
use super::Report;
use crate::{DType, Device, Result, Tensor, TestDomain, Tol as OpTol, UnaryOp};

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
                DType::Bool => t
                    .to_vec::<bool>()
                    .or_fail("to_vec")?
                    .into_iter()
                    .map(|x| x as u8 as f64)
                    .collect(),
                DType::U32 => t
                    .to_vec::<u32>()
                    .or_fail("to_vec")?
                    .into_iter()
                    .map(|x| x as f64)
                    .collect(),
                DType::F16 => t
                    .to_vec::<crate::f16>()
                    .or_fail("to_vec")?
                    .into_iter()
                    .map(|x| x.to_f64())
                    .collect(),
                DType::BF16 => t
                    .to_vec::<crate::bf16>()
                    .or_fail("to_vec")?
                    .into_iter()
                    .map(|x| x.to_f64())
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

/// The strategy domain of a table op's test domain.
pub fn domain_of(d: TestDomain) -> Domain {
    match d {
        TestDomain::Any => Domain::Any,
        TestDomain::Positive => Domain::Positive,
        TestDomain::NonZero => Domain::NonZero,
        TestDomain::Range(lo, hi) => Domain::Range(lo, hi),
    }
}

/// The tolerance of a table op's tolerance class in `dtype`.
pub fn tol_of(t: OpTol, dtype: DType) -> Tol {
    match t {
        OpTol::Exact => Tol::EXACT,
        OpTol::Arith => Tol::arith(dtype),
        OpTol::Transcendental => Tol::transcendental(dtype),
    }
}

/// Whether integer tensors compute `op` in their own dtype (an integer kernel and
/// scalars it takes, [`UnaryOp::int_params`]); otherwise they are promoted to F32.
pub fn int_native(op: UnaryOp) -> bool {
    op.has_int_kernel() && op.int_params()
}

/// Checks `op` on one spec against the f64 definition: float dtypes within the op's
/// tolerance; integer dtypes exactly in their own dtype, or, for ops they compute in F32,
/// as F32. `Affine` gets a bound that allows for the scalars being rounded to the dtype
/// and an unfused multiply-add.
fn check_unary(dev: &Device, spec: &TensorSpec, op: UnaryOp) -> TestCaseResult {
    let x = spec.build(dev).or_fail("build")?;
    // Guarded: an op that never returns (erf at 0 once did) fails instead of hanging.
    let got = match guarded(op.name(), move || x.unary(op)) {
        Ok(Some(got)) => got.or_fail(op.name())?,
        Ok(None) => return Ok(()),
        Err(e) => return Err(fail(format!("{e} on {spec:?}"))),
    };
    let r = spec.reference();
    let want = r.unary(op);
    let ctx = format!("{op:?} on {}", spec.dtype);
    let out_dtype = if spec.dtype.is_float() || int_native(op) {
        spec.dtype
    } else {
        DType::F32
    };
    if got.dtype() != out_dtype {
        return Err(fail(format!(
            "{ctx}: result is {}, expected {out_dtype}",
            got.dtype()
        )));
    }
    if let UnaryOp::Affine(m, a) = op {
        if out_dtype.is_float() {
            let e = eps(out_dtype);
            return check_with(&ctx, &got, &want, out_dtype, |i, w| {
                2.0 * e * (w.abs() + (m * r.data[i]).abs() + a.abs())
            });
        }
    }
    if out_dtype.is_float() {
        check_close(
            &ctx,
            &got,
            &want,
            out_dtype,
            tol_of(op.tolerance(), out_dtype),
        )
    } else {
        check_exact(&ctx, &got, &want.map(|v| wrap_int(v, out_dtype)), out_dtype)
    }
}

/// An exact integer result wrapped into the dtype's range (integers wrap, as Rust's
/// `wrapping_*`).
pub fn wrap_int(v: f64, dtype: DType) -> f64 {
    match dtype {
        DType::U32 => (v as i128).rem_euclid(1i128 << 32) as f64,
        DType::I64 => v as i128 as i64 as f64,
        DType::F32 | DType::F64 | DType::Bool | DType::F16 | DType::BF16 => v,
    }
}

/// Every unary op of the table (`UnaryOp::samples`: each op, each tested parameter set),
/// F32 and F64 on strided inputs from the op's domain, against its f64 definition; plus
/// `Tensor::unary` and the generated method agreeing, and erf/gelu at 0 and a subnormal.
pub fn unary_ops(dev: &Device) {
    let mut rep = Report::new("unary_ops");
    for op in UnaryOp::samples() {
        let d = *dev;
        rep.prop(
            &format!("unary/{}{:?}", op.name(), op.params()),
            any_tensor(float_dtype(), domain_of(op.test_domain())),
            move |spec| check_unary(&d, &spec, op),
        );
    }
    for (name, op) in [("erf", UnaryOp::Erf), ("gelu", UnaryOp::Gelu)] {
        rep.case(&format!("{name} of 0 and a subnormal returns"), || {
            let x = Tensor::from_vec(vec![0.0f64, 1e-310, -0.0], [3], dev).or_fail("x")?;
            let got = match guarded(name, move || x.unary(op)) {
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
    rep.case("generated methods call their op", || {
        let x = Tensor::from_vec(vec![-1.5f64, 0.25, 2.0], [3], dev).or_fail("x")?;
        let pairs: Vec<(UnaryOp, Result<Tensor>)> = vec![
            (UnaryOp::Exp, x.exp()),
            (UnaryOp::Floor, x.floor()),
            (UnaryOp::Clamp(-1.0, 1.0), x.clamp(-1.0, 1.0)),
            (UnaryOp::Softplus(2.0, 1.0), x.softplus(2.0, 1.0)),
            (UnaryOp::Hardswish, x.hardswish()),
        ];
        for (op, got) in pairs {
            let want = x.unary(op).or_fail("unary")?.to_f64_vec().or_fail("read")?;
            if got.or_fail(op.name())?.to_f64_vec().or_fail("read")? != want {
                return Err(fail(format!("the method of {op:?} disagrees with unary")));
            }
        }
        Ok(())
    });
    rep.finish();
}

/// Every table op on I64 and U32: exact in the integer dtype where the op has an
/// integer kernel (U32 negation wraps), F32 otherwise (`exp` of an integer tensor, clamp
/// with fractional bounds), as PyTorch promotes. Bool tensors: ops without an integer
/// kernel give F32, `neg` is an error.
pub fn unary_int_ops(dev: &Device) {
    let mut rep = Report::new("unary_int_ops");
    for op in UnaryOp::samples() {
        let d = *dev;
        let domain = match op.test_domain() {
            // Integers inside a fractional range, or none at all: small positive values.
            TestDomain::Range(lo, hi) if lo.ceil() >= hi => continue,
            TestDomain::Range(lo, _) if lo >= 0.0 => Domain::Positive,
            TestDomain::Range(..) => Domain::SmallInt,
            // Computed in F32: keep the values where f32 holds the results (e^50 does not).
            TestDomain::Any if !int_native(op) => Domain::SmallInt,
            TestDomain::Positive if !int_native(op) => Domain::Index(6),
            other => domain_of(other),
        };
        rep.prop(
            &format!("unary_int/{}{:?}", op.name(), op.params()),
            any_tensor(int_dtype(), domain),
            move |spec| check_unary(&d, &spec, op),
        );
    }
    rep.case("bool tensors", || {
        let b = Tensor::from_vec(vec![true, false, true], [3], dev).or_fail("b")?;
        expect_err_contains(b.neg(), &["neg", "bool", "logical_not"])?;
        let e = b.exp().or_fail("exp")?;
        if e.dtype() != DType::F32 {
            return Err(fail(format!("exp of bool gave {}", e.dtype())));
        }
        check_close(
            "exp(bool)",
            &e,
            &RefTensor::new(vec![3], vec![1f64.exp(), 1.0, 1f64.exp()]),
            DType::F32,
            Tol::transcendental(DType::F32),
        )?;
        let a = b.abs().or_fail("abs")?;
        if a.dtype() != DType::I64 || a.to_vec::<i64>().or_fail("read")? != vec![1, 0, 1] {
            return Err(fail(format!("abs of bool gave {a:?}")));
        }
        Ok(())
    });
    rep.finish();
}

/// `Err` containing every fragment, or a failure.
fn expect_err_contains(r: Result<Tensor>, fragments: &[&str]) -> TestCaseResult {
    match r {
        Ok(t) => Err(fail(format!("expected an error, got {t:?}"))),
        Err(e) => {
            let msg = e.to_string();
            match fragments.iter().find(|f| !msg.contains(*f)) {
                Some(f) => Err(fail(format!("error `{msg}` does not mention `{f}`"))),
                None => Ok(()),
            }
        }
    }
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

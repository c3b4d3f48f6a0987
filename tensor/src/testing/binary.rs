//! Broadcasting binary ops (`add sub mul div pow maximum minimum`), the `std::ops`
//! operators on `&Tensor`, `Tensor` and `Result<Tensor>`, comparisons to a `U32` mask
//! (`eq ne lt le gt ge` and their `_scalar` forms), `where_`, `masked_fill`, and NaN/inf
//! behaviour at every SIMD lane position.

use proptest::prelude::*;

use super::check::{check_close, check_exact, check_with, eps, fail, OrFail, Tol};
use super::elementwise::{domain_of, tol_of, wrap_int};
use super::reference::RefTensor;
use super::reference_layout::cast_value;
use super::strategies::{
    any_dtype, broadcast_shapes, broadcastable_to, float_dtype, int_dtype, shape, tensor, Domain,
    TensorSpec,
};
use super::Report;
use crate::{BinaryOp, CmpOp, DType, Device, IntRhs, Result, Tensor};

/// Two specs of broadcast-compatible shapes and one dtype drawn from `dtypes`.
pub fn broadcast_pair(
    dtypes: BoxedStrategy<DType>,
    da: Domain,
    db: Domain,
) -> BoxedStrategy<(TensorSpec, TensorSpec)> {
    (broadcast_shapes(2), dtypes)
        .prop_flat_map(move |(s, dt)| (tensor(s[0].clone(), dt, da), tensor(s[1].clone(), dt, db)))
        .boxed()
}

/// Every binary op of the table (`BinaryOp::samples`), F32 and F64, with broadcasting on
/// strided inputs from the op's domains, against its f64 definition; mixed dtypes
/// promote (`f32 op f64` is f64).
pub fn binary_broadcast(dev: &Device) {
    let mut rep = Report::new("binary_broadcast");
    for op in BinaryOp::samples() {
        let (da, db) = op.test_domain();
        let d = *dev;
        rep.prop(
            &format!("binary/{}", op.name()),
            broadcast_pair(float_dtype(), domain_of(da), domain_of(db)),
            move |(sa, sb)| {
                let (a, b) = (
                    sa.build(&d).or_fail("build a")?,
                    sb.build(&d).or_fail("build b")?,
                );
                let got = a.binary(&b, op).or_fail(op.name())?;
                let want = sa
                    .reference()
                    .binary(&sb.reference(), op)
                    .expect("broadcastable by construction");
                check_close(
                    &format!("{} {:?} {:?}", op.name(), sa.shape, sb.shape),
                    &got,
                    &want,
                    sa.dtype,
                    tol_of(op.tolerance(), sa.dtype),
                )
            },
        );
    }
    let d = *dev;
    rep.prop(
        "binary/promotion f32 op f64",
        broadcast_pair(Just(DType::F32).boxed(), Domain::Any, Domain::NonZero),
        move |(sa, sb)| {
            let a = sa.build(&d).or_fail("a")?;
            let b = sb
                .build(&d)
                .or_fail("b")?
                .to_dtype(DType::F64)
                .or_fail("b64")?;
            let got = (&a / &b).or_fail("div")?;
            if got.dtype() != DType::F64 {
                return Err(fail(format!("f32 / f64 gave {}", got.dtype())));
            }
            let want = sa
                .reference()
                .binary(&sb.reference(), BinaryOp::Div)
                .expect("broadcastable");
            check_close("f32 / f64", &got, &want, DType::F64, Tol::arith(DType::F64))
        },
    );
    rep.finish();
}

/// Every binary op on I64 and U32 with broadcasting: exact in the integer dtype (wrapping;
/// floor and trunc division, remainder, fmod, non-negative powers) where the op has an
/// integer kernel, F32 where it has none (true division, as PyTorch); integer division
/// by zero and negative integer powers are errors.
pub fn binary_int_ops(dev: &Device) {
    let mut rep = Report::new("binary_int_ops");
    for op in BinaryOp::samples() {
        let d = *dev;
        let (da, db) = match op.int_rhs() {
            IntRhs::Any => (Domain::Any, Domain::Any),
            IntRhs::NonZero => (Domain::Any, Domain::NonZero),
            IntRhs::NonNegative => (Domain::SmallInt, Domain::Index(4)),
        };
        rep.prop(
            &format!("binary_int/{}", op.name()),
            broadcast_pair(int_dtype(), da, db),
            move |(sa, sb)| {
                let (a, b) = (
                    sa.build(&d).or_fail("build a")?,
                    sb.build(&d).or_fail("build b")?,
                );
                let got = a.binary(&b, op).or_fail(op.name())?;
                let want = sa
                    .reference()
                    .binary(&sb.reference(), op)
                    .expect("broadcastable");
                if op.has_int_kernel() {
                    check_exact(
                        op.name(),
                        &got,
                        &want.map(|v| wrap_int(v, sa.dtype)),
                        sa.dtype,
                    )
                } else {
                    check_close(
                        op.name(),
                        &got,
                        &want,
                        DType::F32,
                        tol_of(op.tolerance(), DType::F32),
                    )
                }
            },
        );
    }
    rep.case(
        "integer division by zero and negative powers are errors",
        || {
            let a = Tensor::from_vec(vec![5i64, -7, 9], [3], dev).or_fail("a")?;
            let z = Tensor::from_vec(vec![1i64, 0, 2], [3], dev).or_fail("z")?;
            for op in [
                BinaryOp::DivFloor,
                BinaryOp::DivTrunc,
                BinaryOp::Remainder,
                BinaryOp::Fmod,
            ] {
                match a.binary(&z, op) {
                    Ok(t) => return Err(fail(format!("{op:?} by zero gave {t:?}"))),
                    Err(e) if e.to_string().contains("division by zero") => {}
                    Err(e) => return Err(fail(format!("{op:?} by zero: {e}"))),
                }
            }
            let neg = Tensor::from_vec(vec![1i64, -1, 2], [3], dev).or_fail("neg")?;
            match a.pow(&neg) {
                Ok(t) => Err(fail(format!("a negative integer power gave {t:?}"))),
                Err(e) if e.to_string().contains("negative powers") => Ok(()),
                Err(e) => Err(fail(format!("negative power: {e}"))),
            }
        },
    );
    rep.case(
        "int / int is a true division in F32, div_floor keeps I64",
        || {
            let a = Tensor::from_vec(vec![7i64, -7], [2], dev).or_fail("a")?;
            let b = Tensor::from_vec(vec![2i64, 2], [2], dev).or_fail("b")?;
            let q = (&a / &b).or_fail("div")?;
            if q.dtype() != DType::F32 || q.to_vec::<f32>().or_fail("q")? != vec![3.5, -3.5] {
                return Err(fail(format!("7 / 2, -7 / 2 gave {q}")));
            }
            let f = a.div_floor(&b).or_fail("div_floor")?;
            let t = a.div_trunc(&b).or_fail("div_trunc")?;
            if f.to_vec::<i64>().or_fail("f")? != vec![3, -4]
                || t.to_vec::<i64>().or_fail("t")? != vec![3, -3]
            {
                return Err(fail(format!("floor {f}, trunc {t}")));
            }
            Ok(())
        },
    );
    rep.finish();
}

/// `std::ops` on every operand form: `&a + &b`, owned `a - b`, `Result op &Tensor` chains,
/// `&Tensor op Result`, `&Result` operands, unary `-`, and scalars on the right.
pub fn operator_overloads(dev: &Device) {
    let mut rep = Report::new("operator_overloads");
    let d = *dev;
    let triple = (broadcast_shapes(3), float_dtype()).prop_flat_map(|(s, dt)| {
        (
            tensor(s[0].clone(), dt, Domain::Any),
            tensor(s[1].clone(), dt, Domain::NonZero),
            tensor(s[2].clone(), dt, Domain::NonZero),
        )
    });
    rep.prop("operators/forms", triple, move |(sa, sb, sc)| {
        let (a, b, c) = (
            sa.build(&d).or_fail("a")?,
            sb.build(&d).or_fail("b")?,
            sc.build(&d).or_fail("c")?,
        );
        let (ra, rb, rc) = (sa.reference(), sb.reference(), sc.reference());
        let dt = sa.dtype;
        let e = eps(dt);
        let bin = |x: &RefTensor, y: &RefTensor, op| x.binary(y, op).expect("broadcastable");
        let abs = |x: &RefTensor| x.map(f64::abs);
        // (expression, value, magnitude of its terms for the rounding bound)
        let cases: Vec<(&str, Result<Tensor>, RefTensor, RefTensor)> = vec![
            (
                "&a + &b",
                &a + &b,
                bin(&ra, &rb, BinaryOp::Add),
                bin(&abs(&ra), &abs(&rb), BinaryOp::Add),
            ),
            (
                "a - b (owned)",
                a.clone() - b.clone(),
                bin(&ra, &rb, BinaryOp::Sub),
                bin(&abs(&ra), &abs(&rb), BinaryOp::Add),
            ),
            (
                "&a * &b + &c",
                &a * &b + &c,
                bin(&bin(&ra, &rb, BinaryOp::Mul), &rc, BinaryOp::Add),
                bin(
                    &bin(&abs(&ra), &abs(&rb), BinaryOp::Mul),
                    &abs(&rc),
                    BinaryOp::Add,
                ),
            ),
            (
                "(&a - &b) * &c",
                (&a - &b) * &c,
                bin(&bin(&ra, &rb, BinaryOp::Sub), &rc, BinaryOp::Mul),
                bin(
                    &bin(&abs(&ra), &abs(&rb), BinaryOp::Add),
                    &abs(&rc),
                    BinaryOp::Mul,
                ),
            ),
            (
                "&a + (&b / &c)",
                &a + (&b / &c),
                bin(&ra, &bin(&rb, &rc, BinaryOp::Div), BinaryOp::Add),
                bin(
                    &abs(&ra),
                    &bin(&abs(&rb), &abs(&rc), BinaryOp::Div),
                    BinaryOp::Add,
                ),
            ),
            (
                "a / &(&b * &c)",
                a.clone() / &(&b * &c),
                bin(&ra, &bin(&rb, &rc, BinaryOp::Mul), BinaryOp::Div),
                bin(
                    &abs(&ra),
                    &bin(&abs(&rb), &abs(&rc), BinaryOp::Mul),
                    BinaryOp::Div,
                ),
            ),
            ("-&a", -&a, ra.map(|x| -x), abs(&ra)),
            ("-a (owned)", -a.clone(), ra.map(|x| -x), abs(&ra)),
            (
                "&a * 2.0 + &a",
                &a * 2.0 + &a,
                ra.map(|x| 3.0 * x),
                ra.map(|x| 3.0 * x.abs()),
            ),
        ];
        for (expr, got, want, mag) in cases {
            let got = got.or_fail(expr)?;
            check_with(expr, &got, &want, dt, |i, w| {
                6.0 * e * (mag.data[i] + w.abs())
            })?;
        }
        Ok(())
    });
    rep.finish();
}

fn cmp_call(a: &Tensor, b: &Tensor, op: CmpOp) -> Result<Tensor> {
    match op {
        CmpOp::Eq => a.eq(b),
        CmpOp::Ne => a.ne(b),
        CmpOp::Lt => a.lt(b),
        CmpOp::Le => a.le(b),
        CmpOp::Gt => a.gt(b),
        CmpOp::Ge => a.ge(b),
    }
}

fn cmp_scalar(a: &Tensor, s: f64, op: CmpOp) -> Result<Tensor> {
    match op {
        CmpOp::Eq => a.eq_scalar(s),
        CmpOp::Ne => a.ne_scalar(s),
        CmpOp::Lt => a.lt_scalar(s),
        CmpOp::Le => a.le_scalar(s),
        CmpOp::Gt => a.gt_scalar(s),
        CmpOp::Ge => a.ge_scalar(s),
    }
}

const CMP_OPS: [CmpOp; 6] = [
    CmpOp::Eq,
    CmpOp::Ne,
    CmpOp::Lt,
    CmpOp::Le,
    CmpOp::Gt,
    CmpOp::Ge,
];

/// Comparisons on every dtype with broadcasting (small integer values, so ties are
/// common), and against scalars of the tensor's dtype; the result is an exact U32 mask.
pub fn compare_ops(dev: &Device) {
    let mut rep = Report::new("compare_ops");
    for op in CMP_OPS {
        let d = *dev;
        let pair = broadcast_pair(any_dtype(), Domain::SmallInt, Domain::SmallInt);
        rep.prop(&format!("compare/{}", op.name()), pair, move |(sa, sb)| {
            let (a, b) = (sa.build(&d).or_fail("a")?, sb.build(&d).or_fail("b")?);
            let got = cmp_call(&a, &b, op).or_fail(op.name())?;
            let want = sa
                .reference()
                .compare(&sb.reference(), op)
                .expect("broadcastable");
            check_exact(op.name(), &got, &want, DType::Bool)
        });
        let d = *dev;
        let scalar = (any_dtype(), shape(), 0i64..=6).prop_flat_map(|(dt, s, v)| {
            (
                tensor(s, dt, Domain::SmallInt),
                Just(if dt == DType::U32 { v } else { v - 3 }),
            )
        });
        rep.prop(
            &format!("compare/{}_scalar", op.name()),
            scalar,
            move |(sa, v)| {
                let a = sa.build(&d).or_fail("a")?;
                let got = cmp_scalar(&a, v as f64, op).or_fail(op.name())?;
                let want = sa
                    .reference()
                    .compare(&RefTensor::scalar(v as f64), op)
                    .expect("scalar");
                check_exact(
                    &format!("{}_scalar({v})", op.name()),
                    &got,
                    &want,
                    DType::Bool,
                )
            },
        );
    }
    rep.finish();
}

/// Integer tensors compared with scalars that the dtype cannot hold (fractional, or
/// negative for U32): PyTorch compares mathematically (`int_tensor < 0.5`), it does not
/// truncate the scalar first.
pub fn compare_scalar_int_edge(dev: &Device) {
    let mut rep = Report::new("compare_scalar_int_edge");
    for dt in [DType::I64, DType::U32] {
        for (s, op) in [
            (0.5, CmpOp::Lt),
            (-0.5, CmpOp::Gt),
            (1.5, CmpOp::Eq),
            (-1.0, CmpOp::Ge),
            (2.5, CmpOp::Le),
        ] {
            rep.case(&format!("{dt} {}_scalar({s})", op.name()), || {
                let vals = vec![0.0, 1.0, 2.0, 3.0];
                let a = Tensor::from_host(crate::HostData::from_f64_vec(&vals, dt), [4], dev)
                    .or_fail("a")?;
                let got = cmp_scalar(&a, s, op).or_fail("cmp")?;
                let want = RefTensor::new(vec![4], vals)
                    .compare(&RefTensor::scalar(s), op)
                    .expect("scalar");
                check_exact(
                    &format!("{dt} [0, 1, 2, 3] {} {s}", op.name()),
                    &got,
                    &want,
                    DType::Bool,
                )
            });
        }
    }
    rep.finish();
}

/// `Tensor::where_` with three-way broadcasting; the condition may have any dtype.
pub fn where_op(dev: &Device) {
    let mut rep = Report::new("where_op");
    let d = *dev;
    let s = (broadcast_shapes(3), any_dtype(), any_dtype()).prop_flat_map(|(s, cd, vd)| {
        (
            tensor(s[0].clone(), cd, Domain::Index(2)),
            tensor(s[1].clone(), vd, Domain::Any),
            tensor(s[2].clone(), vd, Domain::Any),
        )
    });
    rep.prop("where", s, move |(sc, st, sf)| {
        let (c, t, f) = (
            sc.build(&d).or_fail("c")?,
            st.build(&d).or_fail("t")?,
            sf.build(&d).or_fail("f")?,
        );
        let got = Tensor::where_(&c, &t, &f).or_fail("where_")?;
        let want = RefTensor::where_(&sc.reference(), &st.reference(), &sf.reference())
            .expect("broadcastable");
        check_exact("where_", &got, &want, st.dtype)
    });
    rep.finish();
}

/// `masked_fill`: the mask broadcasts to self's shape; the value is converted to self's
/// dtype. Also `mask_as`.
pub fn masked_fill_op(dev: &Device) {
    let mut rep = Report::new("masked_fill_op");
    let d = *dev;
    let s = (shape(), any_dtype(), any_dtype(), -5i64..5, -5.0..5.0f64).prop_flat_map(
        |(s, dt, md, iv, fv)| {
            let v = if dt.is_float() {
                fv
            } else if dt == DType::U32 {
                iv.abs() as f64
            } else {
                iv as f64
            };
            (
                tensor(s.clone(), dt, Domain::Any),
                broadcastable_to(s).prop_flat_map(move |ms| tensor(ms, md, Domain::Index(2))),
                Just(v),
            )
        },
    );
    rep.prop("masked_fill", s, move |(sx, sm, v)| {
        let (x, m) = (sx.build(&d).or_fail("x")?, sm.build(&d).or_fail("mask")?);
        let got = x.masked_fill(&m, v).or_fail("masked_fill")?;
        let fill = RefTensor::scalar(cast_value(v, DType::F64, sx.dtype));
        let want =
            RefTensor::where_(&sm.reference(), &fill, &sx.reference()).expect("broadcastable");
        check_exact("masked_fill", &got, &want, sx.dtype)?;
        // `mask_as`: the mask as 1.0 / 0.0 in self's float dtype (F32 for integer self).
        let fdt = if sx.dtype.is_float() {
            sx.dtype
        } else {
            DType::F32
        };
        let want = sm.reference().map(|c| if c != 0.0 { 1.0 } else { 0.0 });
        check_exact("mask_as", &x.mask_as(&m).or_fail("mask_as")?, &want, fdt)
    });
    rep.finish();
}

/// NaN and infinities through unary, binary, compare and reduce kernels, with the special
/// value at every position of a 37-element tensor (so every SIMD lane and the scalar tail
/// see it).
pub fn nan_propagation(dev: &Device) {
    let mut rep = Report::new("nan_propagation");
    for dt in [DType::F32, DType::F64] {
        for special in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            for pos in 0..37 {
                let ctx = format!("{dt} {special} at {pos}");
                rep.case(&ctx.clone(), || {
                    let vals: Vec<f64> = (0..37)
                        .map(|i| {
                            if i == pos {
                                special
                            } else {
                                (i as f64 - 18.0) / 4.0
                            }
                        })
                        .collect();
                    let r = RefTensor::new(vec![37], vals.clone());
                    let x = Tensor::from_host(crate::HostData::from_f64_vec(&vals, dt), [37], dev)
                        .or_fail("x")?;
                    let one = Tensor::ones([37], dt, dev).or_fail("ones")?;
                    let tol = Tol::transcendental(dt);
                    for op in [
                        crate::UnaryOp::Relu,
                        crate::UnaryOp::Exp,
                        crate::UnaryOp::Tanh,
                        crate::UnaryOp::Sigmoid,
                        crate::UnaryOp::Abs,
                        crate::UnaryOp::Sign,
                        crate::UnaryOp::Clamp(-1.0, 1.0),
                    ] {
                        check_close(
                            &format!("{ctx}: {op:?}"),
                            &x.unary(op).or_fail("unary")?,
                            &r.unary(op),
                            dt,
                            tol,
                        )?;
                    }
                    let ro = RefTensor::full(vec![37], 1.0);
                    for op in [
                        BinaryOp::Maximum,
                        BinaryOp::Minimum,
                        BinaryOp::Add,
                        BinaryOp::Mul,
                    ] {
                        let want = r.binary(&ro, op).expect("same shape");
                        check_close(
                            &format!("{ctx}: {op:?}"),
                            &x.binary(&one, op).or_fail("binary")?,
                            &want,
                            dt,
                            tol,
                        )?;
                        let want = ro.binary(&r, op).expect("same shape");
                        check_close(
                            &format!("{ctx}: 1 {op:?} x"),
                            &one.binary(&x, op).or_fail("binary")?,
                            &want,
                            dt,
                            tol,
                        )?;
                    }
                    for op in CMP_OPS {
                        let want = r.compare(&r, op).expect("same shape");
                        check_exact(
                            &format!("{ctx}: x {} x", op.name()),
                            &cmp_call(&x, &x, op).or_fail("cmp")?,
                            &want,
                            DType::Bool,
                        )?;
                    }
                    check_exact(
                        &format!("{ctx}: isnan"),
                        &x.isnan().or_fail("isnan")?,
                        &r.map(|v| if v.is_nan() { 1.0 } else { 0.0 }),
                        DType::Bool,
                    )?;
                    if x.all_finite().or_fail("all_finite")? {
                        return Err(fail(format!("{ctx}: all_finite() is true")));
                    }
                    check_close(
                        &format!("{ctx}: max"),
                        &x.amax(0, false).or_fail("max")?,
                        &r.max(&[0], false),
                        dt,
                        Tol::EXACT,
                    )?;
                    check_close(
                        &format!("{ctx}: min"),
                        &x.amin(0, false).or_fail("min")?,
                        &r.min(&[0], false),
                        dt,
                        Tol::EXACT,
                    )?;
                    let sum = r.sum(&[0], false);
                    check_close(
                        &format!("{ctx}: sum"),
                        &x.sum(0, false).or_fail("sum")?,
                        &sum,
                        dt,
                        Tol {
                            rel: 1e-5,
                            abs: 1e-5,
                        },
                    )
                });
            }
        }
    }
    rep.finish();
}

/// PyTorch's type promotion, in the one place it happens (`DType::promote`): mixed
/// operands compute in the higher kind and the wider type, a Rust scalar keeps the
/// tensor's dtype unless it is fractional on an integer tensor, ops without an integer
/// kernel compute integers in F32, and comparisons give `Bool`.
pub fn type_promotion(dev: &Device) {
    let mut rep = Report::new("type_promotion");
    let t = |v: Vec<f64>, dt: DType| {
        Tensor::from_host(crate::HostData::from_f64_vec(&v, dt), [v.len()], dev)
    };
    rep.case("dtype of every mix", || {
        let f32_ = t(vec![1.5, -2.0], DType::F32).or_fail("f32")?;
        let f64_ = t(vec![0.25, 4.0], DType::F64).or_fail("f64")?;
        let i64_ = t(vec![3.0, -5.0], DType::I64).or_fail("i64")?;
        let u32_ = t(vec![3.0, 5.0], DType::U32).or_fail("u32")?;
        let b = t(vec![1.0, 0.0], DType::Bool).or_fail("bool")?;
        let cases: Vec<(&str, Result<Tensor>, DType, Vec<f64>)> = vec![
            ("f32 + f64", &f32_ + &f64_, DType::F64, vec![1.75, 2.0]),
            ("i64 * f32", &i64_ * &f32_, DType::F32, vec![4.5, 10.0]),
            ("u32 + i64", &u32_ + &i64_, DType::I64, vec![6.0, 0.0]),
            ("bool + i64", &b + &i64_, DType::I64, vec![4.0, -5.0]),
            ("bool + bool (or)", &b + &b, DType::Bool, vec![1.0, 0.0]),
            ("bool * bool (and)", &b * &b, DType::Bool, vec![1.0, 0.0]),
            (
                "i64 / i64 (true division)",
                &i64_ / &u32_,
                DType::F32,
                vec![1.0, -1.0],
            ),
            (
                "exp(i64)",
                i64_.exp(),
                DType::F32,
                vec![3f32.exp() as f64, (-5f32).exp() as f64],
            ),
            ("i64 * 2.0", &i64_ * 2.0, DType::I64, vec![6.0, -10.0]),
            ("i64 * 2.5", &i64_ * 2.5, DType::F32, vec![7.5, -12.5]),
            (
                "f32 * 2.0 (f64 scalar)",
                &f32_ * 2.0,
                DType::F32,
                vec![3.0, -4.0],
            ),
            ("i64 / 2.0", &i64_ / 2.0, DType::F32, vec![1.5, -2.5]),
            ("1.0 - i64", 1.0 - &i64_, DType::I64, vec![-2.0, 6.0]),
            (
                "2.0 / f32",
                2.0 / &f32_,
                DType::F32,
                vec![2.0 / 1.5f32 as f64, -1.0],
            ),
            (
                "where(bool, f32, f64)",
                Tensor::where_(&b, &f32_, &f64_),
                DType::F64,
                vec![1.5, 4.0],
            ),
            ("f32 < i64", f32_.lt(&i64_), DType::Bool, vec![1.0, 0.0]),
            (
                "i64 == 3.5",
                i64_.eq_scalar(3.5),
                DType::Bool,
                vec![0.0, 0.0],
            ),
            (
                "i64.clamp(-1.5, 2.5)",
                i64_.clamp(-1.5, 2.5),
                DType::F32,
                vec![2.5, -1.5],
            ),
            (
                "i64.clamp(-1, 2)",
                i64_.clamp(-1.0, 2.0),
                DType::I64,
                vec![2.0, -1.0],
            ),
            ("sum(bool)", b.sum_all(), DType::I64, vec![1.0]),
            ("cumsum(u32)", u32_.cumsum(0), DType::I64, vec![3.0, 8.0]),
        ];
        for (what, got, dtype, want) in cases {
            let got = got.or_fail(what)?;
            if got.dtype() != dtype {
                return Err(fail(format!("{what}: {} instead of {dtype}", got.dtype())));
            }
            let vals = got.to_f64_vec().or_fail("read")?;
            let close = vals.len() == want.len()
                && vals
                    .iter()
                    .zip(&want)
                    .all(|(g, w)| (g - w).abs() <= 1e-6 * w.abs().max(1.0));
            if !close {
                return Err(fail(format!("{what}: {vals:?} instead of {want:?}")));
            }
        }
        Ok(())
    });
    rep.case("in place keeps self's dtype, within a kind", || {
        let mut x = t(vec![1.0, 2.0], DType::F32).or_fail("x")?;
        x.add_assign(&t(vec![0.5, 0.25], DType::F64).or_fail("y")?)
            .or_fail("f32 += f64")?;
        if x.dtype() != DType::F32 || x.to_vec::<f32>().or_fail("x")? != vec![1.5, 2.25] {
            return Err(fail(format!("f32 += f64 gave {x}")));
        }
        Ok(())
    });
    rep.finish();
}

//! Broadcasting binary ops (`add sub mul div pow maximum minimum`), the `std::ops`
//! operators on `&Tensor`, `Tensor` and `Result<Tensor>`, comparisons to a `U32` mask
//! (`eq ne lt le gt ge` and their `_scalar` forms), `where_`, `masked_fill`, and NaN/inf
//! behaviour at every SIMD lane position.

use proptest::prelude::*;

use super::check::{check_close, check_exact, check_with, eps, fail, OrFail, Tol};
use super::elementwise::wrap_int;
use super::reference::RefTensor;
use super::reference_layout::cast_value;
use super::strategies::{
    any_dtype, broadcast_shapes, broadcastable_to, float_dtype, int_dtype, shape, tensor, Domain,
    TensorSpec,
};
use super::Report;
use crate::{BinaryOp, CmpOp, DType, Device, Result, Tensor};

fn call(a: &Tensor, b: &Tensor, op: BinaryOp) -> Result<Tensor> {
    match op {
        BinaryOp::Add => a.add(b),
        BinaryOp::Sub => a.sub(b),
        BinaryOp::Mul => a.mul(b),
        BinaryOp::Div => a.div(b),
        BinaryOp::Pow => a.pow(b),
        BinaryOp::Maximum => a.maximum(b),
        BinaryOp::Minimum => a.minimum(b),
    }
}

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

/// Every float binary op with broadcasting on strided inputs.
pub fn binary_broadcast(dev: &Device) {
    let mut rep = Report::new("binary_broadcast");
    let ops = [
        (BinaryOp::Add, Domain::Any, Domain::Any),
        (BinaryOp::Sub, Domain::Any, Domain::Any),
        (BinaryOp::Mul, Domain::Any, Domain::Any),
        (BinaryOp::Div, Domain::Any, Domain::NonZero),
        (BinaryOp::Pow, Domain::Positive, Domain::Range(-3.0, 3.0)),
        (BinaryOp::Maximum, Domain::Any, Domain::Any),
        (BinaryOp::Minimum, Domain::Any, Domain::Any),
    ];
    for (op, da, db) in ops {
        let d = *dev;
        rep.prop(
            &format!("binary/{}", op.name()),
            broadcast_pair(float_dtype(), da, db),
            move |(sa, sb)| {
                let (a, b) = (
                    sa.build(&d).or_fail("build a")?,
                    sb.build(&d).or_fail("build b")?,
                );
                let got = call(&a, &b, op).or_fail(op.name())?;
                let want = sa
                    .reference()
                    .binary(&sb.reference(), op)
                    .expect("broadcastable by construction");
                let tol = if op == BinaryOp::Pow {
                    Tol::transcendental(sa.dtype)
                } else {
                    Tol::arith(sa.dtype)
                };
                check_close(
                    &format!("{} {:?} {:?}", op.name(), sa.shape, sb.shape),
                    &got,
                    &want,
                    sa.dtype,
                    tol,
                )
            },
        );
    }
    rep.finish();
}

/// Integer add/sub/mul/maximum/minimum with broadcasting, exact (wrapping on U32).
pub fn binary_int_ops(dev: &Device) {
    let mut rep = Report::new("binary_int_ops");
    for op in [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Maximum,
        BinaryOp::Minimum,
    ] {
        let d = *dev;
        rep.prop(
            &format!("binary_int/{}", op.name()),
            broadcast_pair(int_dtype(), Domain::Any, Domain::Any),
            move |(sa, sb)| {
                let (a, b) = (
                    sa.build(&d).or_fail("build a")?,
                    sb.build(&d).or_fail("build b")?,
                );
                let got = call(&a, &b, op).or_fail(op.name())?;
                let want = sa
                    .reference()
                    .binary(&sb.reference(), op)
                    .expect("broadcastable");
                check_exact(
                    op.name(),
                    &got,
                    &want.map(|v| wrap_int(v, sa.dtype)),
                    sa.dtype,
                )
            },
        );
    }
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
            check_exact(op.name(), &got, &want, DType::U32)
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
                    DType::U32,
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
                    DType::U32,
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
                            &call(&x, &one, op).or_fail("binary")?,
                            &want,
                            dt,
                            tol,
                        )?;
                        let want = ro.binary(&r, op).expect("same shape");
                        check_close(
                            &format!("{ctx}: 1 {op:?} x"),
                            &call(&one, &x, op).or_fail("binary")?,
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
                            DType::U32,
                        )?;
                    }
                    check_exact(
                        &format!("{ctx}: isnan"),
                        &x.isnan().or_fail("isnan")?,
                        &r.map(|v| if v.is_nan() { 1.0 } else { 0.0 }),
                        DType::U32,
                    )?;
                    if x.all_finite().or_fail("all_finite")? {
                        return Err(fail(format!("{ctx}: all_finite() is true")));
                    }
                    check_close(
                        &format!("{ctx}: max"),
                        &x.max(0, false).or_fail("max")?,
                        &r.max(&[0], false),
                        dt,
                        Tol::EXACT,
                    )?;
                    check_close(
                        &format!("{ctx}: min"),
                        &x.min(0, false).or_fail("min")?,
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

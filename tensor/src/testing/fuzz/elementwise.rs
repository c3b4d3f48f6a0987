//! Fuzzed element-wise ops: every row of the unary and binary tables, the operators,
//! comparisons, logical ops, `where_`, `masked_fill`, `clamp_tensor` and the scalar forms.

use super::draw::Draw;
use super::oracle::{broadcast, Rule};
use super::{op, Call, Expect, FuzzOp};
use crate::{BinaryOp, CmpOp, DType, RoundingMode, Tensor, UnaryOp};

/// A table op's name with its parameters: `clamp(-1, 0.5)`.
pub(super) fn unary_name(u: &UnaryOp) -> String {
    let p = u.params();
    if p.is_empty() {
        u.name().to_string()
    } else {
        let p: Vec<String> = p.iter().map(|v| v.to_string()).collect();
        format!("{}({})", u.name(), p.join(", "))
    }
}

/// Two operands: `a` of any shape and dtype, `b` of a shape that mostly broadcasts with
/// it and mostly the same dtype.
pub(super) fn operands(g: &mut Draw) -> (Tensor, Tensor) {
    let a = g.any("a");
    let shape = g.partner_shape(a.dims());
    let dtype = if g.chance(60) { a.dtype() } else { g.dtype() };
    let b = g.tensor("b", shape, dtype);
    (a, b)
}

/// A scalar argument: small, zero, fractional, huge or not a number.
pub(super) fn scalar(g: &mut Draw) -> f64 {
    g.pick(&[
        0.0,
        1.0,
        -1.0,
        2.0,
        0.5,
        -2.5,
        3.0,
        1e10,
        f64::NAN,
        f64::INFINITY,
    ])
}

fn same(x: &Tensor) -> Rule {
    Ok(x.dims().to_vec())
}

pub(super) fn ops(v: &mut Vec<FuzzOp>) {
    for u in UnaryOp::samples() {
        v.push(op("unary", unary_name(&u), move |g| {
            let x = g.any("x");
            let strict = x.dtype().is_float();
            Call::one(String::new(), Expect::of(same(&x), strict), || x.unary(u))
        }));
    }
    for b in BinaryOp::samples() {
        v.push(op("binary", b.name(), move |g| {
            let (x, y) = operands(g);
            // Integer operands may fail on their values (a zero divisor, a negative
            // power) or, for bool, on the op (PyTorch has no bool `sub`).
            let strict = DType::promote(x.dtype(), y.dtype()).is_float();
            let rule = broadcast(x.dims(), y.dims());
            Call::one(String::new(), Expect::of(rule, strict), || x.binary(&y, b))
        }));
    }
    v.push(op("binary", "a - b (operator)", |g| {
        let (x, y) = operands(g);
        let strict = DType::promote(x.dtype(), y.dtype()).is_float();
        let rule = broadcast(x.dims(), y.dims());
        Call::one(String::new(), Expect::of(rule, strict), || &x - &y)
    }));
    v.push(op("binary", "s / a (operator)", |g| {
        let x = g.any("a");
        let s = scalar(g);
        let strict = x.dtype() != DType::Bool;
        Call::one(format!("s={s}"), Expect::of(same(&x), strict), || s / &x)
    }));
    for mode in [None, Some(RoundingMode::Floor), Some(RoundingMode::Trunc)] {
        v.push(op("binary", format!("div_mode({mode:?})"), move |g| {
            let (x, y) = operands(g);
            let strict = DType::promote(x.dtype(), y.dtype()).is_float();
            let rule = broadcast(x.dims(), y.dims());
            Call::one(String::new(), Expect::of(rule, strict), || {
                x.div_mode(&y, mode)
            })
        }));
    }
    v.push(op("binary", "floor_divide", |g| {
        let (x, y) = operands(g);
        let strict = DType::promote(x.dtype(), y.dtype()).is_float();
        let rule = broadcast(x.dims(), y.dims());
        Call::one(String::new(), Expect::of(rule, strict), || {
            x.floor_divide(&y)
        })
    }));
    compare_ops(v);
    scalar_ops(v);
}

fn compare_ops(v: &mut Vec<FuzzOp>) {
    for c in [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ] {
        v.push(op("compare", c.name(), move |g| {
            let (x, y) = operands(g);
            let rule = broadcast(x.dims(), y.dims());
            Call::one(String::new(), Expect::of(rule, true), || x.cmp(&y, c))
        }));
        v.push(op("compare", format!("{}_scalar", c.name()), move |g| {
            let x = g.any("x");
            let s = scalar(g);
            let f = match c {
                CmpOp::Eq => Tensor::eq_scalar,
                CmpOp::Ne => Tensor::ne_scalar,
                CmpOp::Lt => Tensor::lt_scalar,
                CmpOp::Le => Tensor::le_scalar,
                CmpOp::Gt => Tensor::gt_scalar,
                CmpOp::Ge => Tensor::ge_scalar,
            };
            Call::one(format!("s={s}"), Expect::of(same(&x), true), || f(&x, s))
        }));
    }
    type Logical = fn(&Tensor, &Tensor) -> crate::Result<Tensor>;
    let logical: [(&str, Logical); 3] = [
        ("logical_and", Tensor::logical_and),
        ("logical_or", Tensor::logical_or),
        ("logical_xor", Tensor::logical_xor),
    ];
    for (name, f) in logical {
        v.push(op("compare", name, move |g| {
            let (x, y) = operands(g);
            let rule = broadcast(x.dims(), y.dims());
            Call::one(String::new(), Expect::of(rule, true), || f(&x, &y))
        }));
    }
    type Map = fn(&Tensor) -> crate::Result<Tensor>;
    let maps: [(&str, Map); 5] = [
        ("logical_not", Tensor::logical_not),
        ("to_bool", Tensor::to_bool),
        ("isnan", Tensor::isnan),
        ("isinf", Tensor::isinf),
        ("isfinite", Tensor::isfinite),
    ];
    for (name, f) in maps {
        v.push(op("compare", name, move |g| {
            let x = g.any("x");
            Call::one(String::new(), Expect::of(same(&x), true), || f(&x))
        }));
    }
    v.push(op("compare", "all_finite", |g| {
        let x = g.any("x");
        Call::value(String::new(), Expect::Ok(Vec::new()), || x.all_finite())
    }));
    v.push(op("compare", "where_", |g| {
        let (x, y) = operands(g);
        let cshape = g.partner_shape(x.dims());
        let cdtype = if g.chance(70) { DType::Bool } else { g.dtype() };
        let c = g.tensor("cond", cshape, cdtype);
        let rule = broadcast(c.dims(), x.dims()).and_then(|s| broadcast(&s, y.dims()));
        // PyTorch wants a bool condition; Lamina takes any dtype.
        let strict = c.dtype() == DType::Bool;
        Call::one(String::new(), Expect::of(rule, strict).loose(), || {
            Tensor::where_(&c, &x, &y)
        })
    }));
    v.push(op("compare", "masked_fill", |g| {
        let x = g.any("x");
        let mshape = g.partner_shape(x.dims());
        let mdtype = if g.chance(70) { DType::Bool } else { g.dtype() };
        let m = g.tensor("mask", mshape, mdtype);
        let s = scalar(g);
        let rule = broadcast(x.dims(), m.dims());
        // PyTorch broadcasts self to a larger mask; Lamina keeps self's shape (the
        // in-place rule) and may refuse, so only the shape of an `Ok` is checked there.
        let strict = m.dtype() == DType::Bool && rule.as_ref().is_ok_and(|s| s == x.dims());
        Call::one(format!("value={s}"), Expect::of(rule, strict), || {
            x.masked_fill(&m, s)
        })
    }));
    v.push(op("compare", "clamp_tensor", |g| {
        let x = g.any("x");
        let bound = |g: &mut Draw, name: &'static str| {
            g.chance(70).then(|| {
                let s = g.partner_shape(x.dims());
                let d = if g.chance(70) { x.dtype() } else { g.dtype() };
                g.tensor(name, s, d)
            })
        };
        let (lo, hi) = (bound(g, "min"), bound(g, "max"));
        let mut rule = Ok(x.dims().to_vec());
        let mut strict = x.dtype().is_float();
        for b in lo.iter().chain(&hi) {
            rule = rule.and_then(|s| broadcast(&s, b.dims()));
            strict &= b.dtype().is_float();
        }
        // PyTorch raises with neither bound; Lamina returns the input.
        let expect = if lo.is_none() && hi.is_none() {
            Expect::Any
        } else {
            Expect::of(rule, strict).loose()
        };
        Call::one(String::new(), expect, || {
            x.clamp_tensor(lo.as_ref(), hi.as_ref())
        })
    }));
    v.push(op("compare", "mask_as", |g| {
        let x = g.any("x");
        let m = g.any("mask");
        Call::one(String::new(), Expect::of(same(&m), true), || x.mask_as(&m))
    }));
}

fn scalar_ops(v: &mut Vec<FuzzOp>) {
    type WithScalar = fn(&Tensor, f64) -> crate::Result<Tensor>;
    let ops: [(&str, WithScalar); 5] = [
        ("add_scalar", Tensor::add_scalar),
        ("sub_scalar", Tensor::sub_scalar),
        ("mul_scalar", Tensor::mul_scalar),
        ("div_scalar", Tensor::div_scalar),
        ("full_like", Tensor::full_like),
    ];
    for (name, f) in ops {
        v.push(op("scalar", name, move |g| {
            let x = g.any("x");
            let s = scalar(g);
            Call::one(format!("s={s}"), Expect::of(same(&x), true), || f(&x, s))
        }));
    }
    v.push(op("scalar", "relu6", |g| {
        let x = g.any("x");
        let strict = x.dtype().is_float();
        Call::one(String::new(), Expect::of(same(&x), strict), || x.relu6())
    }));
    v.push(op("scalar", "scalar_like", |g| {
        let x = g.any("x");
        let s = scalar(g);
        Call::one(format!("s={s}"), Expect::Ok(vec![vec![]]), || {
            x.scalar_like(s)
        })
    }));
}

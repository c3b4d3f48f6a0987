//! Rules of the element-wise ops: unary maps, broadcasting binary ops and `where`.

use std::f64::consts::{FRAC_2_SQRT_PI, PI, SQRT_2};

use lamina_tensor::{BinaryOp, Result, Tensor, UnaryOp};
use smallvec::smallvec;

use super::{sum_to, Ctx, InputGrads};

/// A 0/1 float mask of `x` with `x`'s dtype.
fn mask(m: Tensor, like: &Tensor) -> Result<Tensor> {
    m.to_dtype(like.dtype())
}

pub(super) fn unary(ctx: &Ctx, op: UnaryOp, g: &Tensor) -> Result<Tensor> {
    let x = || ctx.input(0);
    let y = || ctx.output();
    match op {
        // d(-x) = -1
        UnaryOp::Neg => g.neg(),
        // d|x| = sign(x) (0 at 0, as PyTorch)
        UnaryOp::Abs => g * x().sign()?,
        // d e^x = e^x = y
        UnaryOp::Exp => g * y(),
        // d ln x = 1 / x
        UnaryOp::Log => g / x(),
        // d ln(1 + x) = 1 / (1 + x)
        UnaryOp::Log1p => g / x().add_scalar(1.0)?,
        // d sqrt(x) = 1 / (2 sqrt(x)) = 0.5 / y
        UnaryOp::Sqrt => (g / y())?.mul_scalar(0.5),
        // d x^-1/2 = -1/2 x^-3/2 = -0.5 y / x
        UnaryOp::Rsqrt => ((g * y())? / x())?.mul_scalar(-0.5),
        // d sin = cos, d cos = -sin
        UnaryOp::Sin => g * x().cos()?,
        UnaryOp::Cos => (g * x().sin()?)?.neg(),
        // d tanh = 1 - y^2
        UnaryOp::Tanh => g * y().square()?.affine(-1.0, 1.0)?,
        // d sigmoid = y (1 - y)
        UnaryOp::Sigmoid => g * (y() * y().affine(-1.0, 1.0)?)?,
        // d relu = [x > 0] (0 at the kink, as PyTorch)
        UnaryOp::Relu => g * mask(x().gt_scalar(0.0)?, g)?,
        // d [x Φ(x)] = Φ(x) + x φ(x)
        UnaryOp::Gelu => {
            let x = x();
            let cdf = x.mul_scalar(1.0 / SQRT_2)?.erf()?.affine(0.5, 0.5)?;
            let pdf = x
                .square()?
                .mul_scalar(-0.5)?
                .exp()?
                .mul_scalar(1.0 / (2.0 * PI).sqrt())?;
            g * (cdf + (x * pdf)?)?
        }
        // u = c (x + a x^3), t = tanh(u): d = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 a x^2)
        UnaryOp::GeluTanh => {
            let (c, a) = ((2.0 / PI).sqrt(), 0.044715);
            let x = x();
            let x2 = x.square()?;
            let t = (x * x2.affine(a, 1.0)?)?.mul_scalar(c)?.tanh()?;
            let left = t.affine(0.5, 0.5)?;
            let right = ((x * t.square()?.affine(-1.0, 1.0)?)? * x2.affine(3.0 * a * c, c)?)?
                .mul_scalar(0.5)?;
            g * (left + right)?
        }
        // d [x s(x)] = s (1 + x (1 - s))
        UnaryOp::Silu => {
            let x = x();
            let s = x.sigmoid()?;
            g * (&s * (x * s.affine(-1.0, 1.0)?)?.add_scalar(1.0)?)?
        }
        // d erf = 2/sqrt(pi) e^(-x^2)
        UnaryOp::Erf => g * x().square()?.neg()?.exp()?.mul_scalar(FRAC_2_SQRT_PI)?,
        // d x^2 = 2x
        UnaryOp::Square => g * x().mul_scalar(2.0)?,
        // d 1/x = -1/x^2
        UnaryOp::Recip => (g * y().square()?)?.neg(),
        UnaryOp::Sign => g.zeros_like(),
        // d x^p = p x^(p-1)
        UnaryOp::Powf(p) => g * x().powf(p - 1.0)?.mul_scalar(p)?,
        // d clamp = [lo <= x <= hi] (PyTorch passes the gradient at the bounds)
        UnaryOp::Clamp(lo, hi) => {
            let x = x();
            let inside = (mask(x.ge_scalar(lo)?, g)? * mask(x.le_scalar(hi)?, g)?)?;
            g * inside
        }
        // d (m x + a) = m
        UnaryOp::Affine(m, _) => g.mul_scalar(m),
        // d leaky_relu = 1 if x > 0 else slope
        UnaryOp::LeakyRelu(s) => {
            let pos = mask(x().gt_scalar(0.0)?, g)?;
            g * pos.affine(1.0 - s, s)?
        }
    }
}

pub(super) fn binary(ctx: &Ctx, op: BinaryOp, g: &Tensor) -> Result<InputGrads> {
    let (sa, sb) = (ctx.shape(0), ctx.shape(1));
    let (wa, wb) = (ctx.wants(0), ctx.wants(1));
    let both = |ga: Option<Tensor>, gb: Option<Tensor>| -> Result<InputGrads> {
        Ok(smallvec![
            ga.map(|t| sum_to(&t, sa)).transpose()?,
            gb.map(|t| sum_to(&t, sb)).transpose()?,
        ])
    };
    match op {
        BinaryOp::Add => both(wa.then(|| g.clone()), wb.then(|| g.clone())),
        BinaryOp::Sub => both(wa.then(|| g.clone()), wb.then(|| g.neg()).transpose()?),
        // d(ab) = b da + a db
        BinaryOp::Mul => {
            let (a, b) = (ctx.input(0), ctx.input(1));
            both(
                wa.then(|| g * b).transpose()?,
                wb.then(|| g * a).transpose()?,
            )
        }
        // d(a/b) = da / b - a db / b^2
        BinaryOp::Div => {
            let (a, b) = (ctx.input(0), ctx.input(1));
            let ga = wa.then(|| g / b).transpose()?;
            let gb = wb.then(|| ((g * a)? / b.square()?)?.neg()).transpose()?;
            both(ga, gb)
        }
        // d a^b = b a^(b-1) da + a^b ln(a) db (0 where a = 0 and b >= 0, as PyTorch)
        BinaryOp::Pow => {
            let (a, b, z) = (ctx.input(0), ctx.input(1), ctx.output());
            let ga = wa
                .then(|| g * (b * a.pow(&b.add_scalar(-1.0)?)?)?)
                .transpose()?;
            let gb = if wb {
                let zero_base = (mask(a.eq_scalar(0.0)?, a)? * mask(b.ge_scalar(0.0)?, b)?)?;
                let ln = Tensor::where_(&zero_base, &a.zeros_like()?, &a.log()?)?;
                Some((g * (z * ln)?)?)
            } else {
                None
            };
            both(ga, gb)
        }
        // Ties split the gradient evenly, as PyTorch.
        BinaryOp::Maximum | BinaryOp::Minimum => {
            let (a, b) = (ctx.input(0), ctx.input(1));
            let wins = if op == BinaryOp::Maximum {
                a.gt(b)?
            } else {
                a.lt(b)?
            };
            let wa_m = mask(wins, g)?.add(&mask(a.eq(b)?, g)?.mul_scalar(0.5)?)?;
            let ga = wa.then(|| g * &wa_m).transpose()?;
            let gb = wb.then(|| g * wa_m.affine(-1.0, 1.0)?).transpose()?;
            both(ga, gb)
        }
    }
}

pub(super) fn where_(ctx: &Ctx, g: &Tensor) -> Result<InputGrads> {
    let cond = ctx.input(0);
    let zero = g.zeros_like()?;
    let gt = if ctx.wants(1) {
        Some(sum_to(&Tensor::where_(cond, g, &zero)?, ctx.shape(1))?)
    } else {
        None
    };
    let gf = if ctx.wants(2) {
        Some(sum_to(&Tensor::where_(cond, &zero, g)?, ctx.shape(2))?)
    } else {
        None
    };
    Ok(smallvec![None, gt, gf])
}

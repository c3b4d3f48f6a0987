//! In-place update primitives named after the PyTorch tensor methods the reference
//! optimizers use (`lerp_`, `addcmul_`, `addcdiv_`, `add_(.., alpha)`), evaluating in the
//! same order as PyTorch's CPU kernels so trajectories agree to rounding. Each writes into
//! the target's own storage through `binary_assign`; the right-hand side is a temporary.
//!
//! Scalar multiplies and adds go through `UnaryOp::Affine`, which rounds the scalar to the
//! operand's dtype first (`x * (s as f32) + 0`), exactly as PyTorch's `mul_(s)`/`add_(s)`;
//! the in-place ones run in place with no temporary. Division keeps a true division by a
//! rank-0 tensor (multiplying by `1 / c` can round differently).

use lamina_tensor::{BinaryOp, Result, Tensor, UnaryOp};

/// `x s`, with `s` in `x`'s dtype.
pub(crate) fn mul_s(x: &Tensor, s: f64) -> Result<Tensor> {
    x.affine(s, 0.0)
}

/// `t = t + s`
pub(crate) fn add_s_(t: &mut Tensor, s: f64) -> Result<()> {
    t.unary_assign(UnaryOp::Affine(1.0, s))
}

/// `t = t / c`, a true division (`div_scalar` multiplies by `1 / c`, which can round
/// differently).
pub(crate) fn div_s_(t: &mut Tensor, c: f64) -> Result<()> {
    let c = t.scalar_like(c)?;
    t.binary_assign(&c, BinaryOp::Div)
}

/// `t = s t`
pub(crate) fn scale_(t: &mut Tensor, s: f64) -> Result<()> {
    t.unary_assign(UnaryOp::Affine(s, 0.0))
}

/// `t = t + alpha a`
pub(crate) fn add_(t: &mut Tensor, a: &Tensor, alpha: f64) -> Result<()> {
    if alpha == 1.0 {
        t.add_assign(a)
    } else {
        t.add_assign(&mul_s(a, alpha)?)
    }
}

/// `t = t + (value a) b`
pub(crate) fn addcmul_(t: &mut Tensor, a: &Tensor, b: &Tensor, value: f64) -> Result<()> {
    t.add_assign(&addcmul_term(a, b, value)?)
}

/// `(value a) b`, the term `addcmul` adds. Temporaries are updated in place: on the CPU
/// a fresh buffer costs more than a pass over a reused one.
pub(crate) fn addcmul_term(a: &Tensor, b: &Tensor, value: f64) -> Result<Tensor> {
    if value == 1.0 {
        return a.mul(b);
    }
    let mut term = mul_s(a, value)?;
    term.binary_assign(b, BinaryOp::Mul)?;
    Ok(term)
}

/// `t = t + (value a) / b`
pub(crate) fn addcdiv_(t: &mut Tensor, a: &Tensor, b: &Tensor, value: f64) -> Result<()> {
    let term = if value == 1.0 {
        a.div(b)?
    } else {
        let mut term = mul_s(a, value)?;
        term.binary_assign(b, BinaryOp::Div)?;
        term
    };
    t.add_assign(&term)
}

/// `t = lerp(t, end, w)` with torch's two branches: `t + w (end - t)` for `|w| < 0.5`,
/// else `end - (end - t)(1 - w)` (exact at both ends).
pub(crate) fn lerp_(t: &mut Tensor, end: &Tensor, w: f64) -> Result<()> {
    let mut diff = end.sub(t)?;
    if w.abs() < 0.5 {
        scale_(&mut diff, w)?;
        t.add_assign(&diff)
    } else {
        scale_(&mut diff, 1.0 - w)?;
        t.assign(&end.sub(&diff)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f64]) -> Tensor {
        Tensor::from_slice(v, [v.len()], &lamina_backend_cpu::device()).unwrap()
    }

    const A: [f64; 4] = [0.5, -1.25, 3.0, 1e-3];
    const B: [f64; 4] = [2.0, 0.75, -0.5, 7.0];

    /// Each helper against its scalar definition, written out in torch's evaluation order.
    #[test]
    fn helpers_match_their_scalar_formulas() -> Result<()> {
        let check = |got: Tensor, want: &dyn Fn(f64, f64) -> f64| {
            let got = got.to_vec::<f64>().unwrap();
            for i in 0..4 {
                assert_eq!(got[i].to_bits(), want(A[i], B[i]).to_bits(), "element {i}");
            }
        };
        for w in [0.1, 0.5, 0.9] {
            let mut x = t(&A);
            lerp_(&mut x, &t(&B), w)?;
            check(x, &|a, b| {
                if w < 0.5 {
                    a + w * (b - a)
                } else {
                    b - (b - a) * (1.0 - w)
                }
            });
        }
        let mut x = t(&A);
        addcmul_(&mut x, &t(&B), &t(&A), 0.3)?;
        check(x, &|a, b| a + 0.3 * b * a);
        let mut x = t(&A);
        addcdiv_(&mut x, &t(&A), &t(&B), -0.7)?;
        check(x, &|a, b| a + -0.7 * a / b);
        let mut x = t(&A);
        add_(&mut x, &t(&B), -0.01)?;
        check(x, &|a, b| a + -0.01 * b);
        let mut x = t(&A);
        scale_(&mut x, 0.9)?;
        check(x, &|a, _| 0.9 * a);
        let mut x = t(&A);
        div_s_(&mut x, 3.0)?;
        check(x, &|a, _| a / 3.0);
        let mut x = t(&A);
        add_s_(&mut x, 0.1)?;
        check(x, &|a, _| a + 0.1);
        check(mul_s(&t(&A), 0.1)?, &|a, _| a * 0.1);
        Ok(())
    }
}

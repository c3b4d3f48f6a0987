//! The unary element-wise ops, one row each. A row is the whole definition of its op:
//!
//! ```text
//! /// doc of the variant and of the `Tensor` method
//! Variant method(params) {
//!     float: |x| kernel on a `Real` (`T`; params are f64, `T::of(p)` converts);
//!     int: |x| kernel on an `Int` (optional: integer tensors are then computed in F32);
//!     reference: |x| f64 definition (optional: defaults to the float kernel at f64);
//!     check: expression validating the params (optional);
//!     int_when: whether integer tensors keep their dtype for these params (optional:
//!               defaults to integral params; otherwise they are computed in F32);
//!     grad(saves): |s, g| input gradient, written with tensor ops;
//!     test: domain, tolerance[, kinks: points the gradient check keeps away from];
//!     samples: [(params), ...];        // parametrised ops: the values tests run
//!     torch: "the PyTorch expression, x and {0}, {1} for the params";
//!     cuda: "the float kernel in CUDA C++: x of type T, the params by name as doubles";
//!     cuda_int: "the integer kernel in CUDA C++" (optional: defaults to `cuda`);
//! }
//! ```
//!
//! From the rows the macro (`unary_macro.rs`) generates the `UnaryOp` enum, its name, the kernels a backend
//! receives ([`UnaryKernel`]), the f64 reference, the gradient rule and what it saves, the
//! test metadata the conformance suite and the gradient checks iterate over
//! ([`UnaryOp::samples`]), the CUDA expressions the CUDA backend compiles
//! ([`UnaryOp::cuda_expr`]; its prelude defines the helpers they call: `sigmoid_`,
//! `softplus_`, `max_nan`, `min_nan`, the wrapping integer ops `wneg`, `wadd`, `wmul`,
//! `wpow`, and the conversions `sat<T>` and `of_i64<T>` that mirror Rust's `as`), and the
//! `Tensor` method. `saves` is `x` (the input), `y` (the
//! output), `xy` or `none`; the rule reads them as `s.x()?` and `s.y()?`.

use std::f64::consts::{FRAC_2_SQRT_PI, LN_10, LN_2, PI, SQRT_2};

use super::math::{erf_f64, sigmoid_f64};
use super::scalar::{Int, Real, UnaryKernel};
use super::{Saved, Saves, TestDomain, Tol};
use crate::{Result, Tensor};

/// `x > 0 ? a : b` for a float mask of `x` in `g`'s dtype (the gradients' branches).
fn mask(m: Result<Tensor>, like: &Tensor) -> Result<Tensor> {
    m?.to_dtype(like.dtype())
}

/// `1 / (1 + e^-x)`, stable on both sides.
#[inline(always)]
fn sigmoid<T: Real>(x: T) -> T {
    if x >= T::ZERO {
        T::ONE / (T::ONE + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::ONE + e)
    }
}

/// `ln(1 + e^x)` without overflow.
#[inline(always)]
fn softplus<T: Real>(x: T) -> T {
    if x > T::ZERO {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

unary_ops! {
    /// `-x`
    Neg neg {
        float: |x| -x;
        int: |x| x.wrapping_neg();
        grad(none): |_s, g| g.neg();
        test: Any, Exact;
        torch: "torch.neg(x)";
        cuda: "-x";
        cuda_int: "wneg(x)";
    }
    /// `|x|`
    Abs abs {
        float: |x| x.abs();
        int: |x| if x.is_negative() { x.wrapping_neg() } else { x };
        // d|x| = sign(x), 0 at 0 (PyTorch)
        grad(x): |s, g| g * s.x()?.sign()?;
        test: Any, Exact, kinks: vec![0.0];
        torch: "torch.abs(x)";
        cuda: "fabs(x)";
        cuda_int: "(x < T(0) ? wneg(x) : x)";
    }
    /// `e^x`
    Exp exp {
        float: |x| x.exp();
        // d e^x = e^x = y
        grad(y): |s, g| g * s.y()?;
        test: Any, Transcendental;
        torch: "torch.exp(x)";
        cuda: "exp(x)";
    }
    /// `e^x - 1`, accurate near 0.
    Expm1 expm1 {
        float: |x| x.exp_m1();
        // d (e^x - 1) = y + 1
        grad(y): |s, g| g * s.y()?.add_scalar(1.0)?;
        test: Any, Transcendental;
        torch: "torch.expm1(x)";
        cuda: "expm1(x)";
    }
    /// `2^x`
    Exp2 exp2 {
        float: |x| x.exp2();
        // d 2^x = ln 2 · y
        grad(y): |s, g| g * s.y()?.mul_scalar(LN_2)?;
        test: Any, Transcendental;
        torch: "torch.exp2(x)";
        cuda: "exp2(x)";
    }
    /// Natural logarithm.
    Log log {
        float: |x| x.ln();
        // d ln x = 1 / x
        grad(x): |s, g| g / s.x()?;
        test: Positive, Transcendental;
        torch: "torch.log(x)";
        cuda: "log(x)";
    }
    /// `ln(1 + x)`, accurate near 0.
    Log1p log1p {
        float: |x| x.ln_1p();
        // d ln(1 + x) = 1 / (1 + x)
        grad(x): |s, g| g / s.x()?.add_scalar(1.0)?;
        test: Range(-0.9, 10.0), Transcendental;
        torch: "torch.log1p(x)";
        cuda: "log1p(x)";
    }
    /// Base-2 logarithm.
    Log2 log2 {
        float: |x| x.log2();
        // d log2 x = 1 / (x ln 2)
        grad(x): |s, g| g / s.x()?.mul_scalar(LN_2)?;
        test: Positive, Transcendental;
        torch: "torch.log2(x)";
        cuda: "log2(x)";
    }
    /// Base-10 logarithm.
    Log10 log10 {
        float: |x| x.log10();
        // d log10 x = 1 / (x ln 10)
        grad(x): |s, g| g / s.x()?.mul_scalar(LN_10)?;
        test: Positive, Transcendental;
        torch: "torch.log10(x)";
        cuda: "log10(x)";
    }
    /// Square root.
    Sqrt sqrt {
        float: |x| x.sqrt();
        // d sqrt(x) = 1 / (2 sqrt(x)) = 0.5 / y
        grad(y): |s, g| (g / s.y()?)?.mul_scalar(0.5);
        test: Positive, Transcendental;
        torch: "torch.sqrt(x)";
        cuda: "sqrt(x)";
    }
    /// `1 / sqrt(x)`
    Rsqrt rsqrt {
        float: |x| T::ONE / x.sqrt();
        // d x^-1/2 = -1/2 x^-3/2 = -0.5 y / x
        grad(xy): |s, g| ((g * s.y()?)? / s.x()?)?.mul_scalar(-0.5);
        test: Positive, Transcendental;
        torch: "torch.rsqrt(x)";
        cuda: "T(1) / sqrt(x)";
    }
    /// Sine.
    Sin sin {
        float: |x| x.sin();
        // d sin = cos
        grad(x): |s, g| g * s.x()?.cos()?;
        test: Any, Transcendental;
        torch: "torch.sin(x)";
        cuda: "sin(x)";
    }
    /// Cosine.
    Cos cos {
        float: |x| x.cos();
        // d cos = -sin
        grad(x): |s, g| (g * s.x()?.sin()?)?.neg();
        test: Any, Transcendental;
        torch: "torch.cos(x)";
        cuda: "cos(x)";
    }
    /// Tangent.
    Tan tan {
        float: |x| x.tan();
        // d tan = 1 + tan^2 = 1 + y^2
        grad(y): |s, g| g * s.y()?.square()?.add_scalar(1.0)?;
        test: Range(-1.4, 1.4), Transcendental;
        torch: "torch.tan(x)";
        cuda: "tan(x)";
    }
    /// Inverse sine.
    Asin asin {
        float: |x| x.asin();
        // d asin = 1 / sqrt(1 - x^2)
        grad(x): |s, g| g * s.x()?.square()?.affine(-1.0, 1.0)?.rsqrt()?;
        test: Range(-0.95, 0.95), Transcendental;
        torch: "torch.asin(x)";
        cuda: "asin(x)";
    }
    /// Inverse cosine.
    Acos acos {
        float: |x| x.acos();
        // d acos = -1 / sqrt(1 - x^2)
        grad(x): |s, g| (g * s.x()?.square()?.affine(-1.0, 1.0)?.rsqrt()?)?.neg();
        test: Range(-0.95, 0.95), Transcendental;
        torch: "torch.acos(x)";
        cuda: "acos(x)";
    }
    /// Inverse tangent.
    Atan atan {
        float: |x| x.atan();
        // d atan = 1 / (1 + x^2)
        grad(x): |s, g| g / s.x()?.square()?.add_scalar(1.0)?;
        test: Any, Transcendental;
        torch: "torch.atan(x)";
        cuda: "atan(x)";
    }
    /// Hyperbolic sine.
    Sinh sinh {
        float: |x| x.sinh();
        // d sinh = cosh
        grad(x): |s, g| g * s.x()?.cosh()?;
        test: Range(-5.0, 5.0), Transcendental;
        torch: "torch.sinh(x)";
        cuda: "sinh(x)";
    }
    /// Hyperbolic cosine.
    Cosh cosh {
        float: |x| x.cosh();
        // d cosh = sinh
        grad(x): |s, g| g * s.x()?.sinh()?;
        test: Range(-5.0, 5.0), Transcendental;
        torch: "torch.cosh(x)";
        cuda: "cosh(x)";
    }
    /// Hyperbolic tangent.
    Tanh tanh {
        float: |x| x.tanh();
        // d tanh = 1 - y^2
        grad(y): |s, g| g * s.y()?.square()?.affine(-1.0, 1.0)?;
        test: Any, Transcendental;
        torch: "torch.tanh(x)";
        cuda: "tanh(x)";
    }
    /// Inverse hyperbolic sine.
    Asinh asinh {
        float: |x| x.asinh();
        // d asinh = 1 / sqrt(x^2 + 1)
        grad(x): |s, g| g * s.x()?.square()?.add_scalar(1.0)?.rsqrt()?;
        test: Any, Transcendental;
        torch: "torch.asinh(x)";
        cuda: "asinh(x)";
    }
    /// Inverse hyperbolic cosine (`x >= 1`).
    Acosh acosh {
        float: |x| x.acosh();
        // d acosh = 1 / sqrt(x^2 - 1)
        grad(x): |s, g| g * s.x()?.square()?.add_scalar(-1.0)?.rsqrt()?;
        test: Range(1.05, 10.0), Transcendental;
        torch: "torch.acosh(x)";
        cuda: "acosh(x)";
    }
    /// Inverse hyperbolic tangent (`|x| < 1`).
    Atanh atanh {
        float: |x| x.atanh();
        // d atanh = 1 / (1 - x^2)
        grad(x): |s, g| g / s.x()?.square()?.affine(-1.0, 1.0)?;
        test: Range(-0.95, 0.95), Transcendental;
        torch: "torch.atanh(x)";
        cuda: "atanh(x)";
    }
    /// `1 / (1 + e^-x)`, stable for large |x|.
    Sigmoid sigmoid {
        float: |x| sigmoid(x);
        reference: |x| sigmoid_f64(x);
        // d sigmoid = y (1 - y)
        grad(y): |s, g| g * (s.y()? * s.y()?.affine(-1.0, 1.0)?)?;
        test: Any, Transcendental;
        torch: "torch.sigmoid(x)";
        cuda: "sigmoid_(x)";
    }
    /// `ln(sigmoid(x)) = -softplus(-x)`, stable for large |x|.
    LogSigmoid logsigmoid {
        // `0 - s`, not `-s`: +0 at +inf, as PyTorch.
        float: |x| T::ZERO - softplus(-x);
        reference: |x| 0.0 - softplus(-x);
        // d ln sigmoid(x) = 1 - sigmoid(x) = sigmoid(-x)
        grad(x): |s, g| g * s.x()?.neg()?.sigmoid()?;
        test: Any, Transcendental;
        torch: "torch.nn.functional.logsigmoid(x)";
        cuda: "T(0) - softplus_(-x)";
    }
    /// `max(x, 0)`
    Relu relu {
        // `x < 0 ? 0 : x` keeps NaN (NaN > 0 is false, so test the other way).
        float: |x| if x < T::ZERO { T::ZERO } else { x };
        int: |x| if x.is_negative() { T::ZERO } else { x };
        // d relu = [x > 0] (0 at the kink, as PyTorch)
        grad(x): |s, g| g * mask(s.x()?.gt_scalar(0.0), g)?;
        test: Any, Exact, kinks: vec![0.0];
        torch: "torch.relu(x)";
        cuda: "(x < T(0) ? T(0) : x)";
    }
    /// Exact GELU, `0.5 x (1 + erf(x / sqrt 2))` (PyTorch's default).
    Gelu gelu {
        float: |x| T::of(0.5) * x * (T::ONE + (x * T::of(1.0 / SQRT_2)).erf());
        reference: |x| 0.5 * x * (1.0 + erf_f64(x / SQRT_2));
        // d [x Φ(x)] = Φ(x) + x φ(x), one fused op
        grad(x): |s, g| g * s.x()?.gelu_derivative()?;
        test: Any, Transcendental;
        torch: "torch.nn.functional.gelu(x)";
        cuda: "T(0.5) * x * (T(1) + erf(x * T(0.70710678118654752)))";
    }
    /// The derivative of exact GELU, `Φ(x) + x φ(x)` with `Φ` and `φ` the standard normal
    /// distribution and density: what PyTorch's `gelu_backward` multiplies the output
    /// gradient by, as one op (GELU's gradient).
    GeluDerivative gelu_derivative {
        float: |x| {
            let cdf = T::of(0.5) * (T::ONE + (x * T::of(1.0 / SQRT_2)).erf());
            cdf + x * (T::of(-0.5) * x * x).exp() * T::of(1.0 / (2.0 * PI).sqrt())
        };
        reference: |x| 0.5 * (1.0 + erf_f64(x / SQRT_2)) + x * (-0.5 * x * x).exp() / (2.0 * PI).sqrt();
        // d [Φ + x φ] = 2 φ + x φ' = φ (2 − x²)
        grad(x): |s, g| {
            let x = s.x()?;
            let x2 = x.square()?;
            let pdf = x2.mul_scalar(-0.5)?.exp()?.mul_scalar(1.0 / (2.0 * PI).sqrt())?;
            g * (pdf * x2.affine(-1.0, 2.0)?)?
        };
        test: Any, Transcendental;
        torch: "torch.ops.aten.gelu_backward(torch.ones_like(x), x)";
        cuda: "T(0.5) * (T(1) + erf(x * T(0.70710678118654752))) + x * exp(T(-0.5) * x * x) * T(0.39894228040143268)";
    }
    /// GELU, tanh approximation (PyTorch `approximate='tanh'`):
    /// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
    GeluTanh gelu_tanh {
        float: |x| {
            let c = T::of((2.0 / PI).sqrt());
            T::of(0.5) * x * (T::ONE + (c * (x + T::of(0.044715) * x * x * x)).tanh())
        };
        // u = c (x + a x^3), t = tanh(u): d = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 a x^2)
        grad(x): |s, g| {
            let (c, a) = ((2.0 / PI).sqrt(), 0.044715);
            let x = s.x()?;
            let x2 = x.square()?;
            let t = (x * x2.affine(a, 1.0)?)?.mul_scalar(c)?.tanh()?;
            let left = t.affine(0.5, 0.5)?;
            let right = ((x * t.square()?.affine(-1.0, 1.0)?)? * x2.affine(3.0 * a * c, c)?)?
                .mul_scalar(0.5)?;
            g * (left + right)?
        };
        test: Any, Transcendental;
        torch: "torch.nn.functional.gelu(x, approximate='tanh')";
        cuda: "T(0.5) * x * (T(1) + tanh(T(0.79788456080286536) * (x + T(0.044715) * x * x * x)))";
    }
    /// `x * sigmoid(x)` (SiLU, swish).
    Silu silu {
        float: |x| x * sigmoid(x);
        // d [x s(x)] = s (1 + x (1 - s))
        grad(x): |s, g| {
            let x = s.x()?;
            let sg = x.sigmoid()?;
            g * (&sg * (x * sg.affine(-1.0, 1.0)?)?.add_scalar(1.0)?)?
        };
        test: Any, Transcendental;
        torch: "torch.nn.functional.silu(x)";
        cuda: "x * sigmoid_(x)";
    }
    /// `x * tanh(softplus(x))`
    Mish mish {
        float: |x| x * softplus(x).tanh();
        // d = tanh(sp) + x sigmoid(x) (1 - tanh(sp)^2), sp = softplus(x)
        grad(x): |s, g| {
            let x = s.x()?;
            let t = x.softplus(1.0, 20.0)?.tanh()?;
            let right = ((x * x.sigmoid()?)? * t.square()?.affine(-1.0, 1.0)?)?;
            g * (t + right)?
        };
        test: Any, Transcendental;
        torch: "torch.nn.functional.mish(x)";
        cuda: "x * tanh(softplus_(x))";
    }
    /// `x / (1 + |x|)`
    Softsign softsign {
        float: |x| x / (T::ONE + x.abs());
        // d = 1 / (1 + |x|)^2
        grad(x): |s, g| g / s.x()?.abs()?.add_scalar(1.0)?.square()?;
        test: Any, Arith;
        torch: "torch.nn.functional.softsign(x)";
        cuda: "x / (T(1) + fabs(x))";
    }
    /// The error function.
    Erf erf {
        float: |x| x.erf();
        reference: |x| erf_f64(x);
        // d erf = 2/sqrt(pi) e^(-x^2)
        grad(x): |s, g| g * s.x()?.square()?.neg()?.exp()?.mul_scalar(FRAC_2_SQRT_PI)?;
        test: Any, Transcendental;
        torch: "torch.erf(x)";
        cuda: "erf(x)";
    }
    /// `sin(πx) / (πx)`, 1 at 0 (the normalised sinc, PyTorch `sinc`).
    Sinc sinc {
        float: |x| if x == T::ZERO { T::ONE } else { (x * T::of(PI)).sin() / (x * T::of(PI)) };
        // d sinc = (πx cos(πx) - sin(πx)) / (π x^2), 0 at 0
        grad(x): |s, g| {
            let x = s.x()?;
            let at_zero = x.eq_scalar(0.0)?;
            let safe = Tensor::where_(&at_zero, &x.ones_like()?, x)?;
            let px = safe.mul_scalar(PI)?;
            let d = (((&px * px.cos()?)? - px.sin()?)? / safe.square()?.mul_scalar(PI)?)?;
            g * Tensor::where_(&at_zero, &d.zeros_like()?, &d)?
        };
        test: Any, Transcendental;
        torch: "torch.sinc(x)";
        cuda: "(x == T(0) ? T(1) : sin(x * T(3.14159265358979324)) / (x * T(3.14159265358979324)))";
    }
    /// `x * x`
    Square square {
        float: |x| x * x;
        int: |x| x.wrapping_mul(x);
        // d x^2 = 2x
        grad(x): |s, g| g * s.x()?.mul_scalar(2.0)?;
        test: Any, Arith;
        torch: "torch.square(x)";
        cuda: "x * x";
        cuda_int: "wmul(x, x)";
    }
    /// `1 / x`
    Recip recip {
        float: |x| T::ONE / x;
        // d 1/x = -1/x^2 = -y^2
        grad(y): |s, g| (g * s.y()?.square()?)?.neg();
        test: NonZero, Arith;
        torch: "torch.reciprocal(x)";
        cuda: "T(1) / x";
    }
    /// `-1`, `0` or `1` (NaN stays NaN, `-0` stays `-0`, as NumPy's; PyTorch gives 0 for
    /// both).
    Sign sign {
        float: |x| if x > T::ZERO { T::ONE } else if x < T::ZERO { -T::ONE } else { x * T::ZERO };
        int: |x| if x > T::ZERO { T::ONE } else if x.is_negative() { T::ONE.wrapping_neg() } else { T::ZERO };
        grad(none): |_s, g| g.zeros_like();
        test: Any, Exact, kinks: vec![0.0];
        torch: "torch.sign(x)";
        cuda: "(x > T(0) ? T(1) : x < T(0) ? T(-1) : x * T(0))";
        cuda_int: "(x > T(0) ? T(1) : x < T(0) ? wneg(T(1)) : T(0))";
    }
    /// Rounds down.
    Floor floor {
        float: |x| x.floor();
        int: |x| x;
        grad(none): |_s, g| g.zeros_like();
        test: Any, Exact, kinks: (-10..=10).map(f64::from).collect();
        torch: "torch.floor(x)";
        cuda: "floor(x)";
        cuda_int: "x";
    }
    /// Rounds up.
    Ceil ceil {
        float: |x| x.ceil();
        int: |x| x;
        grad(none): |_s, g| g.zeros_like();
        test: Any, Exact, kinks: (-10..=10).map(f64::from).collect();
        torch: "torch.ceil(x)";
        cuda: "ceil(x)";
        cuda_int: "x";
    }
    /// Rounds to the nearest integer, half to even (PyTorch `round`).
    Round round {
        float: |x| x.round_even();
        int: |x| x;
        grad(none): |_s, g| g.zeros_like();
        test: Any, Exact, kinks: (-21..=21).map(|k| f64::from(k) * 0.5).collect();
        torch: "torch.round(x)";
        cuda: "rint(x)";
        cuda_int: "x";
    }
    /// Rounds toward zero.
    Trunc trunc {
        float: |x| x.trunc();
        int: |x| x;
        grad(none): |_s, g| g.zeros_like();
        test: Any, Exact, kinks: (-10..=10).map(f64::from).collect();
        torch: "torch.trunc(x)";
        cuda: "trunc(x)";
        cuda_int: "x";
    }
    /// `x - trunc(x)`: the fractional part, with the sign of `x`.
    Frac frac {
        float: |x| x - x.trunc();
        grad(none): |_s, g| Ok(g.clone());
        test: Any, Arith, kinks: (-10..=10).map(f64::from).collect();
        torch: "torch.frac(x)";
        cuda: "x - trunc(x)";
    }
    /// `x^p` for a scalar exponent.
    Powf powf(p) {
        // Exponents ±1/2 are sqrt and 1/sqrt, as PyTorch (NaN at -inf, -0 kept, where
        // C's pow gives +inf and +0).
        float: |x| if p == 0.5 { x.sqrt() } else if p == -0.5 { T::ONE / x.sqrt() } else { x.powf(T::of(p)) };
        // Integer tensors keep their dtype for integral exponents >= 0 (PyTorch refuses
        // negative ones; here they compute in F32).
        int: |x| x.wrapping_pow(T::of_i64(p as i64));
        reference: |x| if p == 0.5 { x.sqrt() } else if p == -0.5 { 1.0 / x.sqrt() } else { x.powf(p) };
        int_when: p >= 0.0 && p.is_finite();
        // d x^p = p x^(p-1); 0 for p = 0 (PyTorch)
        grad(x): |s, g| {
            if p == 0.0 {
                g.zeros_like()
            } else {
                g * s.x()?.powf(p - 1.0)?.mul_scalar(p)?
            }
        };
        test: if p.fract() != 0.0 { Positive } else if p < 0.0 { NonZero } else { Any }, Transcendental;
        samples: [(2.0), (3.0), (1.0), (0.0), (-1.0), (0.5), (1.5), (-2.5)];
        torch: "torch.pow(x, {0})";
        cuda: "(p == 0.5 ? sqrt(x) : p == -0.5 ? T(1) / sqrt(x) : pow(x, T(p)))";
        cuda_int: "wpow(x, of_i64<T>(sat<long long>(p)))";
    }
    /// `min(max(x, min), max)`; either bound may be infinite (a one-sided clamp). The
    /// gradient passes strictly inside the bounds, as PyTorch.
    Clamp clamp(min, max) {
        float: |x| if x.is_nan() { x } else if x < T::of(min) { T::of(min) } else if x > T::of(max) { T::of(max) } else { x };
        int: |x| {
            let v = x.to_f64();
            if v < min { T::saturate(min.ceil()) } else if v > max { T::saturate(max.floor()) } else { x }
        };
        reference: |x| if x.is_nan() { x } else { x.max(min).min(max) };
        check: bounds("clamp", min, max);
        // d clamp = [min < x < max] (0 at the bounds, as PyTorch 2.15)
        grad(x): |s, g| {
            let x = s.x()?;
            g * (mask(x.gt_scalar(min), g)? * mask(x.lt_scalar(max), g)?)?
        };
        test: Any, Arith, kinks: vec![min, max];
        samples: [(-1.0, 0.5), (-0.5, 0.5), (0.0, f64::INFINITY), (f64::NEG_INFINITY, 2.0), (1.0, 1.0)];
        torch: "torch.clamp(x, {0}, {1})";
        cuda: "(x != x ? x : x < T(min) ? T(min) : x > T(max) ? T(max) : x)";
        cuda_int: "((double)x < min ? sat<T>(ceil(min)) : (double)x > max ? sat<T>(floor(max)) : x)";
    }
    /// `clamp(x, min, max)` under its activation name (`nn.Hardtanh`), gradient strictly
    /// inside the bounds.
    Hardtanh hardtanh(min, max) {
        float: |x| if x.is_nan() { x } else if x < T::of(min) { T::of(min) } else if x > T::of(max) { T::of(max) } else { x };
        int: |x| {
            let v = x.to_f64();
            if v < min { T::saturate(min.ceil()) } else if v > max { T::saturate(max.floor()) } else { x }
        };
        reference: |x| if x.is_nan() { x } else { x.max(min).min(max) };
        check: bounds("hardtanh", min, max);
        // d hardtanh = [min < x < max]
        grad(x): |s, g| {
            let x = s.x()?;
            g * (mask(x.gt_scalar(min), g)? * mask(x.lt_scalar(max), g)?)?
        };
        test: Any, Arith, kinks: vec![min, max];
        samples: [(-1.0, 1.0), (0.0, 6.0)];
        torch: "torch.nn.functional.hardtanh(x, {0}, {1})";
        cuda: "(x != x ? x : x < T(min) ? T(min) : x > T(max) ? T(max) : x)";
        cuda_int: "((double)x < min ? sat<T>(ceil(min)) : (double)x > max ? sat<T>(floor(max)) : x)";
    }
    /// `mul * x + add` in one pass: the tensor–scalar forms of add/sub/mul/div.
    Affine affine(mul, add) {
        // Not `mul_add`: without an FMA target feature it is a slow libm call.
        float: |x| x * T::of(mul) + T::of(add);
        // Integer tensors reach this only with integral scalars (see `Tensor::unary`).
        int: |x| x.wrapping_mul(T::of_i64(mul as i64)).wrapping_add(T::of_i64(add as i64));
        reference: |x| mul * x + add;
        // d (m x + a) = m
        grad(none): |_s, g| g.mul_scalar(mul);
        test: Any, Arith;
        samples: [(2.0, 1.0), (-1.5, 0.25), (0.5, -3.0), (1.0, 0.0)];
        torch: "x * {0} + {1}";
        cuda: "x * T(mul) + T(add)";
        cuda_int: "wadd(wmul(x, of_i64<T>(sat<long long>(mul))), of_i64<T>(sat<long long>(add)))";
    }
    /// `x > 0 ? x : slope * x`
    LeakyRelu leaky_relu(slope) {
        float: |x| if x > T::ZERO { x } else { x * T::of(slope) };
        reference: |x| if x > 0.0 { x } else { slope * x };
        // d = 1 where x > 0, else slope
        grad(x): |s, g| g * mask(s.x()?.gt_scalar(0.0), g)?.affine(1.0 - slope, slope)?;
        test: Any, Arith, kinks: vec![0.0];
        samples: [(0.01), (0.2)];
        torch: "torch.nn.functional.leaky_relu(x, {0})";
        cuda: "(x > T(0) ? x : x * T(slope))";
    }
    /// `x > 0 ? x : alpha (e^x - 1)`
    Elu elu(alpha) {
        float: |x| if x > T::ZERO { x } else { T::of(alpha) * x.exp_m1() };
        reference: |x| if x > 0.0 { x } else { alpha * x.exp_m1() };
        // d = 1 where x > 0, else alpha e^x
        grad(x): |s, g| {
            let x = s.x()?;
            let neg = x.exp()?.mul_scalar(alpha)?;
            g * Tensor::where_(&x.gt_scalar(0.0)?, &neg.ones_like()?, &neg)?
        };
        test: Any, Transcendental, kinks: vec![0.0];
        samples: [(1.0), (0.5)];
        torch: "torch.nn.functional.elu(x, {0})";
        cuda: "(x > T(0) ? x : T(alpha) * expm1(x))";
    }
    /// `scale (x > 0 ? x : alpha (e^x - 1))` with PyTorch's fixed `alpha` and `scale`.
    Selu selu {
        float: |x| T::of(SELU_SCALE) * if x > T::ZERO { x } else { T::of(SELU_ALPHA) * x.exp_m1() };
        reference: |x| SELU_SCALE * if x > 0.0 { x } else { SELU_ALPHA * x.exp_m1() };
        // d = scale where x > 0, else scale alpha e^x
        grad(x): |s, g| {
            let x = s.x()?;
            let neg = x.exp()?.mul_scalar(SELU_SCALE * SELU_ALPHA)?;
            g * Tensor::where_(&x.gt_scalar(0.0)?, &neg.full_like(SELU_SCALE)?, &neg)?
        };
        test: Any, Transcendental, kinks: vec![0.0];
        torch: "torch.nn.functional.selu(x)";
        cuda: "T(1.0507009873554805) * (x > T(0) ? x : T(1.6732632423543772) * expm1(x))";
    }
    /// `max(0, x) + min(0, alpha (e^(x/alpha) - 1))`
    Celu celu(alpha) {
        float: |x| if x > T::ZERO { x } else { T::of(alpha) * (x / T::of(alpha)).exp_m1() };
        reference: |x| if x > 0.0 { x } else { alpha * (x / alpha).exp_m1() };
        check: if alpha == 0.0 { Err(crate::Error::Invalid { op: "celu", msg: "alpha must not be 0".into() }) } else { Ok(()) };
        // d = 1 where x > 0, else e^(x/alpha)
        grad(x): |s, g| {
            let x = s.x()?;
            let neg = x.mul_scalar(1.0 / alpha)?.exp()?;
            g * Tensor::where_(&x.gt_scalar(0.0)?, &neg.ones_like()?, &neg)?
        };
        test: Any, Transcendental, kinks: vec![0.0];
        samples: [(1.0), (2.0)];
        torch: "torch.nn.functional.celu(x, {0})";
        cuda: "(x > T(0) ? x : T(alpha) * expm1(x / T(alpha)))";
    }
    /// `ln(1 + e^(beta x)) / beta`, linear where `beta x > threshold` (PyTorch).
    Softplus softplus(beta, threshold) {
        float: |x| if x * T::of(beta) > T::of(threshold) { x } else { softplus(x * T::of(beta)) / T::of(beta) };
        reference: |x| if x * beta > threshold { x } else { softplus(x * beta) / beta };
        check: if beta == 0.0 { Err(crate::Error::Invalid { op: "softplus", msg: "beta must not be 0".into() }) } else { Ok(()) };
        // d = sigmoid(beta x), 1 past the threshold
        grad(x): |s, g| {
            let x = s.x()?;
            let sg = x.mul_scalar(beta)?.sigmoid()?;
            g * Tensor::where_(&x.mul_scalar(beta)?.gt_scalar(threshold)?, &sg.ones_like()?, &sg)?
        };
        test: Any, Transcendental, kinks: vec![threshold / beta];
        samples: [(1.0, 20.0), (2.0, 1.0)];
        torch: "torch.nn.functional.softplus(x, {0}, {1})";
        cuda: "(x * T(beta) > T(threshold) ? x : softplus_(x * T(beta)) / T(beta))";
    }
    /// `relu6(x + 3) / 6`
    Hardsigmoid hardsigmoid {
        float: |x| (x + T::of(3.0)).max_nan(T::ZERO).min_nan(T::of(6.0)) / T::of(6.0);
        // d = 1/6 where -3 < x < 3
        grad(x): |s, g| {
            let x = s.x()?;
            (g * (mask(x.gt_scalar(-3.0), g)? * mask(x.lt_scalar(3.0), g)?)?)?.mul_scalar(1.0 / 6.0)
        };
        test: Any, Arith, kinks: vec![-3.0, 3.0];
        torch: "torch.nn.functional.hardsigmoid(x)";
        cuda: "min_nan(max_nan(x + T(3), T(0)), T(6)) / T(6)";
    }
    /// `x relu6(x + 3) / 6`
    Hardswish hardswish {
        float: |x| x * (x + T::of(3.0)).max_nan(T::ZERO).min_nan(T::of(6.0)) / T::of(6.0);
        // d = 0 up to -3, x/3 + 1/2 strictly between, 1 from 3 on (PyTorch 2.15: 0 at -3,
        // 1 at 3, the limits from outside)
        grad(x): |s, g| {
            let x = s.x()?;
            let mid = x.affine(1.0 / 3.0, 0.5)?;
            let upper = Tensor::where_(&x.lt_scalar(3.0)?, &mid, &mid.ones_like()?)?;
            g * Tensor::where_(&x.le_scalar(-3.0)?, &mid.zeros_like()?, &upper)?
        };
        test: Any, Arith, kinks: vec![-3.0, 3.0];
        torch: "torch.nn.functional.hardswish(x)";
        cuda: "x * min_nan(max_nan(x + T(3), T(0)), T(6)) / T(6)";
    }
}

/// `min <= max`, neither NaN.
fn bounds(op: &'static str, min: f64, max: f64) -> Result<()> {
    if min > max || min.is_nan() || max.is_nan() {
        return Err(crate::Error::Invalid {
            op,
            msg: format!("min {min} must not exceed max {max}"),
        });
    }
    Ok(())
}

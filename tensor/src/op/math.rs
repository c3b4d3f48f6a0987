//! Scalar maths the op tables use that `std` lacks: the error function, a stable logistic
//! function, and PyTorch's floor division and remainder for floats.

use super::scalar::Real;

/// Numerically stable logistic function.
pub fn sigmoid_f64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The error function to ~1e-15 (W. J. Cody's rational approximations as in many libms,
/// here via the complementary series; std has no `erf`).
pub fn erf_f64(x: f64) -> f64 {
    // erf via erfc for |x| >= 0.5, Taylor series below (converges fast there).
    if x.is_nan() || x == 0.0 {
        // NaN stays NaN; erf(±0) = ±0.
        return x;
    }
    let ax = x.abs();
    if ax < 0.5 {
        // Maclaurin series: erf(x) = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
        let mut sum = 0.0;
        let mut term = x;
        let x2 = x * x;
        // |x| < 0.5: the terms shrink by at least 4x each, 30 are far more than enough.
        for n in 0..30 {
            let t = term / (2 * n + 1) as f64;
            sum += t;
            if t.abs() <= 1e-17 * sum.abs() {
                break;
            }
            term *= -x2 / (n + 1) as f64;
        }
        return sum * std::f64::consts::FRAC_2_SQRT_PI;
    }
    let r = erfc_pos(ax);
    if x > 0.0 {
        1.0 - r
    } else {
        r - 1.0
    }
}

/// erfc(x) for x >= 0.5 by a continued fraction (Lentz), accurate to ~1e-15.
fn erfc_pos(x: f64) -> f64 {
    if x > 27.0 {
        return 0.0;
    }
    // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + 2/(x + ...)))))
    let tiny = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for k in 1..500 {
        let a = k as f64 * 0.5;
        d = x + a * d;
        if d.abs() < tiny {
            d = tiny;
        }
        c = x + a / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x * x).exp() / (f * std::f64::consts::PI.sqrt())
}

/// `a / b` rounded toward negative infinity, computed as PyTorch does for floats (from
/// `fmod`, so that the quotient is exact where `floor(a / b)` would round first).
#[inline(always)]
pub fn div_floor_real<T: Real>(a: T, b: T) -> T {
    if b == T::ZERO {
        return a / b;
    }
    let m = a % b;
    let mut div = (a - m) / b;
    if m != T::ZERO && ((b < T::ZERO) != (m < T::ZERO)) {
        div = div - T::ONE;
    }
    if div != T::ZERO {
        let mut f = div.floor();
        if div - f > T::of(0.5) {
            f = f + T::ONE;
        }
        f
    } else {
        T::ZERO.copysign(a / b)
    }
}

/// The remainder with the divisor's sign (PyTorch `remainder`, Python's `%`).
#[inline(always)]
pub fn rem_floor_real<T: Real>(a: T, b: T) -> T {
    let m = a % b;
    if m != T::ZERO && ((b < T::ZERO) != (m < T::ZERO)) {
        m + b
    } else {
        m
    }
}

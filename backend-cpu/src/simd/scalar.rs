//! The scalar path: plain loops over `std`'s libm functions.
//!
//! It is both the portable fallback (no AVX2, or `LAMINA_SIMD=scalar`) and the reference the
//! vector paths are tested against, so it is written for clarity, not speed. The one exception
//! is erf, which `std` lacks: GELU uses the polynomial kernel instantiated on [`Lane1`].
//! Reductions use 8 independent accumulators, which both lets the compiler vectorise the loop
//! and bounds the rounding error better than one running sum.

use super::math;
use super::vector::Lane1;

pub(crate) fn sigmoid(x: f32) -> f32 {
    // Same split as the vector kernel: exp(-|x|) never overflows.
    let e = (-x.abs()).exp();
    let num = if x < 0.0 { e } else { 1.0 };
    num / (1.0 + e)
}

pub(crate) fn silu(x: f32) -> f32 {
    let e = (-x.abs()).exp();
    let num = if x < 0.0 { e } else { 1.0 };
    x * num / (1.0 + e)
}

pub(crate) fn erf(x: f32) -> f32 {
    math::erf_v(Lane1, x)
}

pub(crate) fn gelu(x: f32) -> f32 {
    math::gelu_v(Lane1, x)
}

pub(crate) fn gelu_derivative(x: f32) -> f32 {
    math::gelu_derivative_v(Lane1, x)
}

pub(crate) fn gelu_tanh(x: f32) -> f32 {
    x * sigmoid(x * (math::GELU_K0 + math::GELU_K1 * x * x))
}

pub(crate) fn map(x: &[f32], y: &mut [f32], f: impl Fn(f32) -> f32) {
    assert_eq!(x.len(), y.len(), "simd: input and output lengths differ");
    for (o, &i) in y.iter_mut().zip(x) {
        *o = f(i);
    }
}

/// `out[c] += row[c]` for each row of `xs`, in row order.
pub(crate) fn sum_rows(out: &mut [f32], xs: &[f32]) {
    for row in xs.chunks_exact(out.len().max(1)) {
        for (y, &v) in out.iter_mut().zip(row) {
            *y += v;
        }
    }
}

pub(crate) fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    for (a, &v) in acc.iter_mut().zip(chunks.remainder()) {
        *a += v;
    }
    acc.iter().sum()
}

pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "simd::dot: lengths differ");
    let mut acc = [0.0f32; 8];
    let mut ac = a.chunks_exact(8);
    let mut bc = b.chunks_exact(8);
    for (x, y) in (&mut ac).zip(&mut bc) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    for (i, (&x, &y)) in ac.remainder().iter().zip(bc.remainder()).enumerate() {
        acc[i] += x * y;
    }
    acc.iter().sum()
}

/// NaN-propagating max (`want_max`) or min; identity (-inf/+inf) for empty input.
pub(crate) fn extremum(x: &[f32], want_max: bool) -> f32 {
    let mut m = if want_max {
        f32::NEG_INFINITY
    } else {
        f32::INFINITY
    };
    for &v in x {
        let better = if want_max { v > m } else { v < m };
        if better || v.is_nan() {
            m = v;
        }
        if m.is_nan() {
            break;
        }
    }
    m
}

pub(crate) fn softmax(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "simd::softmax: lengths differ");
    if x.is_empty() {
        return;
    }
    let m = extremum(x, true);
    map(x, y, |v| (v - m).exp());
    let inv = 1.0 / sum(y);
    for v in y.iter_mut() {
        *v *= inv;
    }
}

pub(crate) fn log_softmax(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "simd::log_softmax: lengths differ");
    if x.is_empty() {
        return;
    }
    let m = extremum(x, true);
    map(x, y, |v| (v - m).exp());
    let lse = sum(y).ln();
    map(x, y, |v| (v - m) - lse);
}

pub(crate) fn softmax_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert!(
        y.len() == dy.len() && y.len() == dx.len(),
        "simd::softmax_backward: lengths differ"
    );
    let d = dot(dy, y);
    for ((o, &yv), &g) in dx.iter_mut().zip(y).zip(dy) {
        *o = yv * (g - d);
    }
}

pub(crate) fn log_softmax_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert!(
        y.len() == dy.len() && y.len() == dx.len(),
        "simd::log_softmax_backward: lengths differ"
    );
    let t = sum(dy);
    for ((o, &yv), &g) in dx.iter_mut().zip(y).zip(dy) {
        *o = g - yv.exp() * t;
    }
}

pub(crate) fn sum_f64(x: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    for (a, &v) in acc.iter_mut().zip(chunks.remainder()) {
        *a += v;
    }
    acc.iter().sum()
}

/// NaN-propagating max/min over f64 with 4 independent running values, so the compare chain
/// is not one long dependency.
pub(crate) fn extremum_f64(x: &[f64], want_max: bool) -> f64 {
    let ident = if want_max {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    };
    let step = |m: f64, v: f64| {
        let better = if want_max { v > m } else { v < m };
        if m.is_nan() || !(better || v.is_nan()) {
            m
        } else {
            v
        }
    };
    let mut acc = [ident; 4];
    let mut chunks = x.chunks_exact(4);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = step(*a, v);
        }
    }
    let tail = chunks.remainder().iter().fold(ident, |m, &v| step(m, v));
    acc.iter().fold(tail, |m, &v| step(m, v))
}

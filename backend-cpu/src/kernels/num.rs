//! Per-dtype scalar arithmetic for the kernels: floats follow IEEE (NaN propagates
//! through max/min as PyTorch), integers wrap. The `UnaryOp` table for floats lives here.

use lamina_tensor::UnaryOp;

use crate::simd;
use crate::storage::CpuElem;

/// Arithmetic every dtype supports.
pub trait Num: CpuElem + Copy + Send + Sync {
    const ZERO: Self;
    const ONE: Self;
    const MIN_VALUE: Self;
    const MAX_VALUE: Self;
    fn add(self, b: Self) -> Self;
    fn sub(self, b: Self) -> Self;
    fn mul(self, b: Self) -> Self;
    /// Div and pow: integer dtypes are rejected in `tensor` before dispatch.
    fn div(self, b: Self) -> Self;
    fn pow(self, b: Self) -> Self;
    fn max(self, b: Self) -> Self;
    fn min(self, b: Self) -> Self;
    fn is_nan(self) -> bool;
    /// Unary maps (float dtypes: all; integers: the `supports_int` subset).
    fn unary(op: UnaryOp, x: Self) -> Self;

    /// `y[i] = op(x[i])` over contiguous slices; f32 overrides it with SIMD kernels.
    fn map_slice(op: UnaryOp, x: &[Self], y: &mut [Self]) {
        map_slice_generic(op, x, y)
    }
}

/// Binds `$f` to a monomorphic closure for each unary op and evaluates `$body` with it,
/// so each op gets its own vectorisable loop instead of a `match` per element.
macro_rules! dispatch_unary {
    ($T:ty, $op:expr, $f:ident => $body:expr; $($v:ident),*; $($p:ident($($a:ident),*)),*) => {
        match $op {
            $(UnaryOp::$v => {
                let $f = |x: $T| <$T>::unary(UnaryOp::$v, x);
                $body
            })*
            $(UnaryOp::$p($($a),*) => {
                let $f = move |x: $T| <$T>::unary(UnaryOp::$p($($a),*), x);
                $body
            })*
        }
    };
}

/// One loop per op: kept out of line so that LLVM cannot fold the per-op loops of the
/// `dispatch_unary!` arms back into one loop with a `match` per element (it did, and the
/// affine map ran at 1.8 ns per element instead of vector speed).
#[inline(never)]
fn map_loop<T: Copy, F: Fn(T) -> T>(x: &[T], y: &mut [T], f: F) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = f(v);
    }
}

/// In-place twin of [`map_loop`].
#[inline(never)]
fn map_inplace_loop<T: Copy, F: Fn(T) -> T>(x: &mut [T], f: F) {
    for v in x.iter_mut() {
        *v = f(*v);
    }
}

/// The portable slice map.
pub fn map_slice_generic<T: Num>(op: UnaryOp, x: &[T], y: &mut [T]) {
    dispatch_unary!(T, op, f => map_loop(x, y, f);
    Neg, Abs, Exp, Log, Log1p, Sqrt, Rsqrt, Sin, Cos, Tanh, Sigmoid, Relu, Gelu, GeluTanh, Silu, Erf,
    Square, Recip, Sign;
    Powf(p), Clamp(a, b), Affine(m, c), LeakyRelu(s))
}

/// `x[i] = op(x[i])` in place (the SIMD kernels need distinct input and output, so this
/// is the portable loop, monomorphised per op like `map_slice_generic`).
pub fn map_inplace_generic<T: Num>(op: UnaryOp, x: &mut [T]) {
    dispatch_unary!(T, op, f => map_inplace_loop(x, f);
    Neg, Abs, Exp, Log, Log1p, Sqrt, Rsqrt, Sin, Cos, Tanh, Sigmoid, Relu, Gelu, GeluTanh, Silu, Erf,
    Square, Recip, Sign;
    Powf(p), Clamp(a, b), Affine(m, c), LeakyRelu(s))
}

macro_rules! float_num {
    ($t:ident, $map:expr) => {
        impl Num for $t {
            #[inline]
            fn map_slice(op: UnaryOp, x: &[Self], y: &mut [Self]) {
                $map(op, x, y)
            }
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const MIN_VALUE: Self = $t::NEG_INFINITY;
            const MAX_VALUE: Self = $t::INFINITY;
            #[inline(always)]
            fn add(self, b: Self) -> Self {
                self + b
            }
            #[inline(always)]
            fn sub(self, b: Self) -> Self {
                self - b
            }
            #[inline(always)]
            fn mul(self, b: Self) -> Self {
                self * b
            }
            #[inline(always)]
            fn div(self, b: Self) -> Self {
                self / b
            }
            #[inline(always)]
            fn pow(self, b: Self) -> Self {
                self.powf(b)
            }
            #[inline(always)]
            fn max(self, b: Self) -> Self {
                if self.is_nan() || b.is_nan() {
                    $t::NAN
                } else if self >= b {
                    self
                } else {
                    b
                }
            }
            #[inline(always)]
            fn min(self, b: Self) -> Self {
                if self.is_nan() || b.is_nan() {
                    $t::NAN
                } else if self <= b {
                    self
                } else {
                    b
                }
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                self.is_nan()
            }
            #[inline(always)]
            fn unary(op: UnaryOp, x: Self) -> Self {
                match op {
                    UnaryOp::Neg => -x,
                    UnaryOp::Abs => x.abs(),
                    UnaryOp::Exp => x.exp(),
                    UnaryOp::Log => x.ln(),
                    UnaryOp::Log1p => x.ln_1p(),
                    UnaryOp::Sqrt => x.sqrt(),
                    UnaryOp::Rsqrt => 1.0 / x.sqrt(),
                    UnaryOp::Sin => x.sin(),
                    UnaryOp::Cos => x.cos(),
                    UnaryOp::Tanh => x.tanh(),
                    UnaryOp::Sigmoid => {
                        if x >= 0.0 {
                            1.0 / (1.0 + (-x).exp())
                        } else {
                            let e = x.exp();
                            e / (1.0 + e)
                        }
                    }
                    // `x > 0 ? x : 0` keeps NaN (NaN > 0 is false, so test the other way).
                    UnaryOp::Relu => {
                        if x < 0.0 {
                            0.0
                        } else {
                            x
                        }
                    }
                    UnaryOp::Gelu | UnaryOp::GeluTanh | UnaryOp::Erf => op.eval_f64(x as f64) as $t,
                    UnaryOp::Silu => {
                        let s = if x >= 0.0 {
                            1.0 / (1.0 + (-x).exp())
                        } else {
                            let e = x.exp();
                            e / (1.0 + e)
                        };
                        x * s
                    }
                    UnaryOp::Square => x * x,
                    UnaryOp::Recip => 1.0 / x,
                    UnaryOp::Sign => {
                        if x > 0.0 {
                            1.0
                        } else if x < 0.0 {
                            -1.0
                        } else {
                            x * 0.0
                        }
                    }
                    UnaryOp::Powf(p) => x.powf(p as $t),
                    UnaryOp::Clamp(lo, hi) => {
                        if x.is_nan() {
                            x
                        } else {
                            x.max(lo as $t).min(hi as $t)
                        }
                    }
                    // Not `mul_add`: without an FMA target feature it is a slow libm call.
                    UnaryOp::Affine(m, a) => x * m as $t + a as $t,
                    UnaryOp::LeakyRelu(s) => {
                        if x > 0.0 {
                            x
                        } else {
                            x * s as $t
                        }
                    }
                }
            }
        }
    };
}
float_num!(
    f32,
    |op, x: &[f32], y: &mut [f32]| match simd_kernel_f32(op) {
        Some(kernel) => kernel(x, y),
        None => map_slice_generic(op, x, y),
    }
);
float_num!(f64, map_slice_generic);

/// A contiguous f32 map `y[i] = f(x[i])`.
type SliceMapF32 = fn(&[f32], &mut [f32]);

/// The explicit SIMD kernel for `op`, where `simd` has one.
fn simd_kernel_f32(op: UnaryOp) -> Option<SliceMapF32> {
    Some(match op {
        UnaryOp::Exp => simd::exp,
        UnaryOp::Log => simd::log,
        UnaryOp::Tanh => simd::tanh,
        UnaryOp::Sigmoid => simd::sigmoid,
        UnaryOp::Gelu => simd::gelu,
        UnaryOp::GeluTanh => simd::gelu_tanh,
        UnaryOp::Silu => simd::silu,
        _ => return None,
    })
}

macro_rules! int_num {
    ($t:ident) => {
        impl Num for $t {
            const ZERO: Self = 0;
            const ONE: Self = 1;
            const MIN_VALUE: Self = $t::MIN;
            const MAX_VALUE: Self = $t::MAX;
            #[inline(always)]
            fn add(self, b: Self) -> Self {
                self.wrapping_add(b)
            }
            #[inline(always)]
            fn sub(self, b: Self) -> Self {
                self.wrapping_sub(b)
            }
            #[inline(always)]
            fn mul(self, b: Self) -> Self {
                self.wrapping_mul(b)
            }
            #[inline(always)]
            fn div(self, b: Self) -> Self {
                // Rejected before dispatch; still never panic on a zero divisor.
                self.checked_div(b).unwrap_or(0)
            }
            #[inline(always)]
            fn pow(self, b: Self) -> Self {
                self.wrapping_pow(b as u32)
            }
            #[inline(always)]
            fn max(self, b: Self) -> Self {
                Ord::max(self, b)
            }
            #[inline(always)]
            fn min(self, b: Self) -> Self {
                Ord::min(self, b)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                false
            }
            #[inline(always)]
            #[allow(unused_comparisons)]
            fn unary(op: UnaryOp, x: Self) -> Self {
                match op {
                    UnaryOp::Neg => (0 as $t).wrapping_sub(x),
                    UnaryOp::Abs => {
                        if x < 0 {
                            (0 as $t).wrapping_sub(x)
                        } else {
                            x
                        }
                    }
                    UnaryOp::Relu => {
                        if x < 0 {
                            0
                        } else {
                            x
                        }
                    }
                    UnaryOp::Square => x.wrapping_mul(x),
                    UnaryOp::Sign => {
                        if x > 0 {
                            1
                        } else if x < 0 {
                            (0 as $t).wrapping_sub(1)
                        } else {
                            0
                        }
                    }
                    UnaryOp::Clamp(lo, hi) => {
                        let v = x as f64;
                        if v < lo {
                            lo.ceil() as $t
                        } else if v > hi {
                            hi.floor() as $t
                        } else {
                            x
                        }
                    }
                    UnaryOp::Affine(m, a) => (m * x as f64 + a) as $t,
                    // Float-only ops are rejected before dispatch.
                    _ => x,
                }
            }
        }
    };
}
int_num!(i64);
int_num!(u32);

/// `as` conversions between the dtypes (integers wrap or truncate exactly as Rust's `as`,
/// floats saturate into integers, NaN becomes 0), used by `to_dtype`.
pub trait AsPrim: Copy {
    fn as_f32(self) -> f32;
    fn as_f64(self) -> f64;
    fn as_i64(self) -> i64;
    fn as_u32(self) -> u32;
}

macro_rules! as_prim {
    ($($t:ty),*) => {$(
        impl AsPrim for $t {
            #[inline(always)]
            fn as_f32(self) -> f32 {
                self as f32
            }
            #[inline(always)]
            fn as_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn as_i64(self) -> i64 {
                self as i64
            }
            #[inline(always)]
            fn as_u32(self) -> u32 {
                self as u32
            }
        }
    )*};
}
as_prim!(f32, f64, i64, u32);

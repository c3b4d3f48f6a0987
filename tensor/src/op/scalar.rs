//! The scalar vocabulary the op tables' kernels are written in: [`Real`] for the float
//! dtypes, [`Int`] for the integer ones, and the two kernel visitors a backend implements
//! to receive an op's monomorphic scalar function ([`UnaryKernel`], [`BinaryKernel`]).
//! [`ElemOps`] picks, per element type, the kernel family a table row provides (float, int
//! or bool) and turns a missing one into an error naming the op and dtype.

use std::ops::{Add, Div, Mul, Neg, Rem, Sub};

use crate::{BinaryOp, DType, Element, Error, Result, UnaryOp};

/// Float element types (`f32`, `f64`): what a table row's `float:` kernel may call.
pub trait Real:
    Element
    + Neg<Output = Self>
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Rem<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    const NAN: Self;
    /// `f64` scalar to this type (`as`: rounds to nearest).
    fn of(v: f64) -> Self;
    fn exp(self) -> Self;
    fn exp_m1(self) -> Self;
    fn exp2(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn log2(self) -> Self;
    fn log10(self) -> Self;
    fn sqrt(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tan(self) -> Self;
    fn asin(self) -> Self;
    fn acos(self) -> Self;
    fn atan(self) -> Self;
    fn atan2(self, x: Self) -> Self;
    fn sinh(self) -> Self;
    fn cosh(self) -> Self;
    fn tanh(self) -> Self;
    fn asinh(self) -> Self;
    fn acosh(self) -> Self;
    fn atanh(self) -> Self;
    fn powf(self, p: Self) -> Self;
    fn abs(self) -> Self;
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    /// Rounds half to even, as PyTorch's `round`.
    fn round_even(self) -> Self;
    fn trunc(self) -> Self;
    fn copysign(self, sign: Self) -> Self;
    fn is_nan(self) -> bool;
    /// The error function: `libm`'s `erf`/`erff` (within an ulp; the f64 series in
    /// `erf_f64` is the tests' independent reference).
    fn erf(self) -> Self;
    /// `max` that propagates NaN from either side (PyTorch `maximum`).
    #[inline(always)]
    fn max_nan(self, b: Self) -> Self {
        if self.is_nan() || b.is_nan() {
            Self::NAN
        } else if self >= b {
            self
        } else {
            b
        }
    }
    /// `min` that propagates NaN from either side (PyTorch `minimum`).
    #[inline(always)]
    fn min_nan(self, b: Self) -> Self {
        if self.is_nan() || b.is_nan() {
            Self::NAN
        } else if self <= b {
            self
        } else {
            b
        }
    }
}

macro_rules! real {
    ($t:ident, $erf:ident) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NAN: Self = $t::NAN;
            #[inline(always)]
            fn of(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn erf(self) -> Self {
                libm::$erf(self)
            }
            #[inline(always)]
            fn round_even(self) -> Self {
                self.round_ties_even()
            }
            #[inline(always)]
            fn atan2(self, x: Self) -> Self {
                $t::atan2(self, x)
            }
            #[inline(always)]
            fn powf(self, p: Self) -> Self {
                $t::powf(self, p)
            }
            #[inline(always)]
            fn copysign(self, sign: Self) -> Self {
                $t::copysign(self, sign)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
            real!(@delegate $t: exp exp_m1 exp2 ln ln_1p log2 log10 sqrt sin cos tan asin acos atan
                sinh cosh tanh asinh acosh atanh abs floor ceil trunc);
        }
    };
    (@delegate $t:ident: $($f:ident)*) => {$(
        #[inline(always)]
        fn $f(self) -> Self {
            $t::$f(self)
        }
    )*};
}
real!(f32, erff);
real!(f64, erf);

/// The half-precision element types (`f16`, `bf16`): stored in 16 bits, computed in f32.
/// Every element-wise kernel of a half tensor is the op's f32 kernel between a widening
/// and one rounding (what PyTorch's CPU kernels do), so each result is the f32 result
/// rounded to nearest even.
pub trait Half: Element {
    fn to_f32(self) -> f32;
    /// Rounds to nearest even (overflow to ±inf, NaN stays NaN).
    fn from_f32(v: f32) -> Self;
    /// `dst[i] = src[i]` widened (vectorised: F16C for f16 where the CPU has it).
    fn widen_slice(src: &[Self], dst: &mut [f32]);
    /// `dst[i] = src[i]` rounded to nearest even.
    fn round_slice(src: &[f32], dst: &mut [Self]);
}

macro_rules! half_real {
    ($t:ident) => {
        impl Half for half::$t {
            #[inline(always)]
            fn to_f32(self) -> f32 {
                half::$t::to_f32(self)
            }
            #[inline(always)]
            fn from_f32(v: f32) -> Self {
                half::$t::from_f32(v)
            }
            fn widen_slice(src: &[Self], dst: &mut [f32]) {
                half::slice::HalfFloatSliceExt::convert_to_f32_slice(src, dst)
            }
            fn round_slice(src: &[f32], dst: &mut [Self]) {
                half::slice::HalfFloatSliceExt::convert_from_f32_slice(dst, src)
            }
        }
        impl Real for half::$t {
            const ZERO: Self = half::$t::ZERO;
            const ONE: Self = half::$t::ONE;
            const NAN: Self = half::$t::NAN;
            #[inline(always)]
            fn of(v: f64) -> Self {
                half::$t::from_f64(v)
            }
            #[inline(always)]
            fn atan2(self, x: Self) -> Self {
                Self::from_f32(Real::atan2(self.to_f32(), x.to_f32()))
            }
            #[inline(always)]
            fn powf(self, p: Self) -> Self {
                Self::from_f32(Real::powf(self.to_f32(), p.to_f32()))
            }
            #[inline(always)]
            fn copysign(self, sign: Self) -> Self {
                Self::from_f32(Real::copysign(self.to_f32(), sign.to_f32()))
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                half::$t::is_nan(self)
            }
            half_real!(@widen: exp exp_m1 exp2 ln ln_1p log2 log10 sqrt sin cos tan asin acos atan
                sinh cosh tanh asinh acosh atanh abs floor ceil round_even trunc erf);
        }
    };
    (@widen: $($f:ident)*) => {$(
        #[inline(always)]
        fn $f(self) -> Self {
            Self::from_f32(Real::$f(self.to_f32()))
        }
    )*};
}
half_real!(f16);
half_real!(bf16);

/// A half type's kernel receiver seen as an f32 one: the f32 kernel it is handed runs
/// between a widening and one rounding.
struct Widened<K, H>(K, std::marker::PhantomData<H>);

impl<H: Half, K: UnaryKernel<H>> UnaryKernel<f32> for Widened<K, H> {
    type Out = K::Out;
    #[inline(always)]
    fn run<F: Fn(f32) -> f32 + Copy + Send + Sync>(self, f: F) -> K::Out {
        self.0.run(move |x: H| H::from_f32(f(x.to_f32())))
    }
}

impl<H: Half, K: BinaryKernel<H>> BinaryKernel<f32> for Widened<K, H> {
    type Out = K::Out;
    #[inline(always)]
    fn run<F: Fn(f32, f32) -> f32 + Copy + Send + Sync>(self, f: F) -> K::Out {
        self.0
            .run(move |a: H, b: H| H::from_f32(f(a.to_f32(), b.to_f32())))
    }
}

/// Integer element types (`i64`, `u32`): what a table row's `int:` kernel may call.
/// Arithmetic wraps, as PyTorch's; division by zero is rejected before any kernel runs,
/// and the kernels still return 0 rather than panic if one slips through.
pub trait Int: Element + Ord {
    const ZERO: Self;
    const ONE: Self;
    /// `v` converted with wrapping (`-1` becomes `u32::MAX`): scalars reach integer kernels
    /// only when they are integral.
    fn of_i64(v: i64) -> Self;
    /// `v` clamped to this type's range (for bounds given as f64).
    fn saturate(v: f64) -> Self;
    fn wrapping_add(self, b: Self) -> Self;
    fn wrapping_sub(self, b: Self) -> Self;
    fn wrapping_mul(self, b: Self) -> Self;
    fn wrapping_neg(self) -> Self;
    /// `self^e` for `e >= 0` (negative exponents are rejected before dispatch; give 0).
    fn wrapping_pow(self, e: Self) -> Self;
    /// Quotient rounded toward zero (0 for a zero divisor).
    fn div_trunc(self, b: Self) -> Self;
    /// Quotient rounded toward negative infinity (0 for a zero divisor).
    fn div_floor(self, b: Self) -> Self;
    /// Remainder with the dividend's sign, C's `%` (0 for a zero divisor).
    fn rem_trunc(self, b: Self) -> Self;
    /// Remainder with the divisor's sign, Python's `%` (0 for a zero divisor).
    fn rem_floor(self, b: Self) -> Self;
    fn is_negative(self) -> bool;
}

macro_rules! int {
    ($t:ident, signed: $signed:expr) => {
        impl Int for $t {
            const ZERO: Self = 0;
            const ONE: Self = 1;
            #[inline(always)]
            fn of_i64(v: i64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn saturate(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn wrapping_add(self, b: Self) -> Self {
                $t::wrapping_add(self, b)
            }
            #[inline(always)]
            fn wrapping_sub(self, b: Self) -> Self {
                $t::wrapping_sub(self, b)
            }
            #[inline(always)]
            fn wrapping_mul(self, b: Self) -> Self {
                $t::wrapping_mul(self, b)
            }
            #[inline(always)]
            fn wrapping_neg(self) -> Self {
                $t::wrapping_neg(self)
            }
            #[inline(always)]
            #[allow(unused_comparisons)]
            fn wrapping_pow(self, e: Self) -> Self {
                if e < 0 {
                    0
                } else if e <= u32::MAX as $t {
                    $t::wrapping_pow(self, e as u32)
                } else {
                    // Past u32's range (std's exponent type): the wrapped power by squaring
                    // over the whole exponent, as PyTorch's and the CUDA kernels'.
                    let (mut r, mut b, mut k) = (1 as $t, self, e as u64);
                    while k > 0 {
                        if k & 1 == 1 {
                            r = r.wrapping_mul(b);
                        }
                        b = b.wrapping_mul(b);
                        k >>= 1;
                    }
                    r
                }
            }
            #[inline(always)]
            fn div_trunc(self, b: Self) -> Self {
                if b == 0 {
                    0
                } else {
                    $t::wrapping_div(self, b)
                }
            }
            #[inline(always)]
            fn div_floor(self, b: Self) -> Self {
                if b == 0 {
                    return 0;
                }
                let q = $t::wrapping_div(self, b);
                let r = $t::wrapping_rem(self, b);
                if r != 0 && (Int::is_negative(r) != Int::is_negative(b)) {
                    q.wrapping_sub(1)
                } else {
                    q
                }
            }
            #[inline(always)]
            fn rem_trunc(self, b: Self) -> Self {
                if b == 0 {
                    0
                } else {
                    $t::wrapping_rem(self, b)
                }
            }
            #[inline(always)]
            fn rem_floor(self, b: Self) -> Self {
                if b == 0 {
                    return 0;
                }
                let r = $t::wrapping_rem(self, b);
                if r != 0 && (Int::is_negative(r) != Int::is_negative(b)) {
                    r.wrapping_add(b)
                } else {
                    r
                }
            }
            #[inline(always)]
            #[allow(unused_comparisons)]
            fn is_negative(self) -> bool {
                $signed && self < 0
            }
        }
    };
}
int!(i64, signed: true);
int!(u32, signed: false);

/// A backend's receiver for a unary op's scalar function: `run` is called once per op
/// call with the op's own closure, so the backend's loops are compiled per op (one
/// vectorisable loop each, no `match` per element).
pub trait UnaryKernel<T> {
    type Out;
    fn run<F: Fn(T) -> T + Copy + Send + Sync>(self, f: F) -> Self::Out;
}

/// A backend's receiver for a binary op's scalar function (see [`UnaryKernel`]).
pub trait BinaryKernel<T> {
    type Out;
    fn run<F: Fn(T, T) -> T + Copy + Send + Sync>(self, f: F) -> Self::Out;
}

/// Per element type, the kernel family of the op tables: floats take a row's `float:`
/// kernel, integers its `int:` kernel, bools its `bool:` kernel. A row without one is an
/// error naming the op and the dtype (never an identity map or a silent cast).
pub trait ElemOps: Element {
    fn unary_kernel<K: UnaryKernel<Self>>(op: UnaryOp, k: K) -> Result<K::Out>;
    fn binary_kernel<K: BinaryKernel<Self>>(op: BinaryOp, k: K) -> Result<K::Out>;
}

macro_rules! elem_ops {
    ($t:ty, $unary:ident, $binary:ident) => {
        impl ElemOps for $t {
            #[inline(always)]
            fn unary_kernel<K: UnaryKernel<Self>>(op: UnaryOp, k: K) -> Result<K::Out> {
                op.$unary(k)
                    .ok_or_else(|| unsupported(op.name(), <$t>::DTYPE))
            }
            #[inline(always)]
            fn binary_kernel<K: BinaryKernel<Self>>(op: BinaryOp, k: K) -> Result<K::Out> {
                op.$binary(k)
                    .ok_or_else(|| unsupported(op.name(), <$t>::DTYPE))
            }
        }
    };
}
elem_ops!(f32, float_kernel, float_kernel);
elem_ops!(f64, float_kernel, float_kernel);
elem_ops!(i64, int_kernel, int_kernel);
elem_ops!(u32, int_kernel, int_kernel);
elem_ops!(bool, bool_kernel, bool_kernel);

macro_rules! half_elem_ops {
    ($t:ty) => {
        impl ElemOps for $t {
            #[inline(always)]
            fn unary_kernel<K: UnaryKernel<Self>>(op: UnaryOp, k: K) -> Result<K::Out> {
                op.float_kernel::<f32, _>(Widened(k, std::marker::PhantomData))
                    .ok_or_else(|| unsupported(op.name(), <$t>::DTYPE))
            }
            #[inline(always)]
            fn binary_kernel<K: BinaryKernel<Self>>(op: BinaryOp, k: K) -> Result<K::Out> {
                op.float_kernel::<f32, _>(Widened(k, std::marker::PhantomData))
                    .ok_or_else(|| unsupported(op.name(), <$t>::DTYPE))
            }
        }
    };
}
half_elem_ops!(half::f16);
half_elem_ops!(half::bf16);

#[cold]
fn unsupported(op: &'static str, dtype: DType) -> Error {
    Error::UnsupportedDType { op, dtype }
}

#[cfg(test)]
mod tests {
    use super::Int;

    /// Exponents past u32's range wrap as the true power does: 2^e is 0 from e = 64, (-1)^e
    /// follows the parity, and 3^(2^32) is 3 squared 32 times.
    #[test]
    fn wrapping_pow_past_u32_is_the_wrapped_power() {
        let big = 1i64 << 32;
        assert_eq!(Int::wrapping_pow(2i64, i64::MAX), 0);
        assert_eq!(Int::wrapping_pow(2i64, big), 0);
        assert_eq!(Int::wrapping_pow(-1i64, big + 1), -1);
        assert_eq!(Int::wrapping_pow(-1i64, big), 1);
        assert_eq!(Int::wrapping_pow(0i64, big + 7), 0);
        let mut sq = 3i64;
        for _ in 0..32 {
            sq = sq.wrapping_mul(sq);
        }
        assert_eq!(Int::wrapping_pow(3i64, big), sq);
        assert_eq!(Int::wrapping_pow(3i64, big + 1), sq.wrapping_mul(3));
        assert_eq!(Int::wrapping_pow(5i64, -1), 0);
        assert_eq!(
            Int::wrapping_pow(7u32, u32::MAX),
            7u32.wrapping_pow(u32::MAX)
        );
    }
}

//! Per-dtype scalar arithmetic the reductions, scans, matmul and index kernels need (the
//! element-wise maps come from the op tables in `lamina-tensor`): floats follow IEEE with
//! NaN propagating through max/min as PyTorch, integers wrap, bools are logical (`add` is
//! or, `mul` is and). Also the `as` conversions between dtypes and the f32 SIMD kernels
//! by op.

use lamina_tensor::{Half, UnaryOp};

use crate::simd;
use crate::storage::CpuElem;

/// A contiguous map `y[i] = f(x[i])` with an explicit SIMD kernel.
pub type SliceMap<T> = fn(&[T], &mut [T]);

/// A half type's widening of a slice to f32 and rounding of one back.
pub type HalfSlices<T> = (fn(&[T], &mut [f32]), fn(&[f32], &mut [T]));

/// Arithmetic every dtype supports.
pub trait Num: CpuElem + Copy + Send + Sync {
    const ZERO: Self;
    const ONE: Self;
    /// The identity of `max` (`-inf` for floats).
    const MIN_VALUE: Self;
    /// The identity of `min` (`+inf` for floats).
    const MAX_VALUE: Self;
    fn add(self, b: Self) -> Self;
    fn mul(self, b: Self) -> Self;
    fn max(self, b: Self) -> Self;
    fn min(self, b: Self) -> Self;
    fn is_nan(self) -> bool;
    /// `self / n` for a count: true division for floats, floor division for integers
    /// (PyTorch's `scatter_reduce(mean)`); bools never reach it.
    fn div_count(self, n: usize) -> Self;
    /// `s` itself when `Self` is `i64` (index tensors read without a conversion).
    #[inline(always)]
    fn as_i64_slice(_s: &[Self]) -> Option<&[i64]> {
        None
    }
    /// The explicit SIMD kernel of `op` for this type, if `simd` has one.
    #[inline(always)]
    fn simd_map(_op: UnaryOp) -> Option<SliceMap<Self>> {
        None
    }
    /// The half types' slice conversions to and from f32, so contiguous element-wise ops
    /// can run the f32 kernels over widened blocks, and whether every op gains from that
    /// (`false`: only ops with an explicit f32 SIMD kernel); `None` for the other types.
    /// f16 always gains: its per-element conversions (F16C one value at a time) are the
    /// cost. bf16 converts by a shift and one rounding, which the per-element loop
    /// vectorises, so it gains only where the f32 SIMD kernel replaces a scalar
    /// transcendental (figures in BENCHMARKS.md, session 12).
    #[inline(always)]
    fn half_slices() -> Option<(HalfSlices<Self>, bool)> {
        None
    }
}

/// The f32 maps `simd` vectorises by hand; every other op runs its table kernel through
/// the compiler's auto-vectorisation. A data table, so a missing entry is only slower.
const SIMD_F32: [(UnaryOp, SliceMap<f32>); 9] = [
    (UnaryOp::Exp, simd::exp),
    (UnaryOp::Log, simd::log),
    (UnaryOp::Tanh, simd::tanh),
    (UnaryOp::Sigmoid, simd::sigmoid),
    (UnaryOp::Erf, simd::erf),
    (UnaryOp::Gelu, simd::gelu),
    (UnaryOp::GeluDerivative, simd::gelu_derivative),
    (UnaryOp::GeluTanh, simd::gelu_tanh),
    (UnaryOp::Silu, simd::silu),
];

macro_rules! float_num {
    ($t:ty, div: |$x:ident, $n:ident| $div:expr $(, simd: $simd:expr)? $(, half: $half:expr, always: $always:expr)?) => {
        impl Num for $t {
            const ZERO: Self = <$t as lamina_tensor::Real>::ZERO;
            const ONE: Self = <$t as lamina_tensor::Real>::ONE;
            const MIN_VALUE: Self = <$t>::NEG_INFINITY;
            const MAX_VALUE: Self = <$t>::INFINITY;
            #[inline(always)]
            fn add(self, b: Self) -> Self {
                self + b
            }
            #[inline(always)]
            fn mul(self, b: Self) -> Self {
                self * b
            }
            #[inline(always)]
            fn max(self, b: Self) -> Self {
                lamina_tensor::Real::max_nan(self, b)
            }
            #[inline(always)]
            fn min(self, b: Self) -> Self {
                lamina_tensor::Real::min_nan(self, b)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                lamina_tensor::Real::is_nan(self)
            }
            #[inline(always)]
            fn div_count(self, n: usize) -> Self {
                let ($x, $n) = (self, n);
                $div
            }
            $(
                #[inline(always)]
                fn simd_map(op: UnaryOp) -> Option<SliceMap<Self>> {
                    $simd(op)
                }
            )?
            $(
                #[inline(always)]
                fn half_slices() -> Option<(HalfSlices<Self>, bool)> {
                    Some(($half, $always))
                }
            )?
        }
    };
}
float_num!(f32, div: |x, n| x / n as f32, simd: |op: UnaryOp| SIMD_F32
    .iter()
    .find(|(o, _)| *o == op)
    .map(|&(_, k)| k));
float_num!(f64, div: |x, n| x / n as f64);
// Half types: each operation in f32, rounded once (sums of many terms do not come here:
// the backend reduces half tensors in f32).
float_num!(lamina_tensor::f16, div: |x, n| lamina_tensor::f16::from_f64(x.to_f64() / n as f64),
    half: (<lamina_tensor::f16 as Half>::widen_slice, <lamina_tensor::f16 as Half>::round_slice),
    always: true);
float_num!(lamina_tensor::bf16, div: |x, n| lamina_tensor::bf16::from_f64(x.to_f64() / n as f64),
    half: (<lamina_tensor::bf16 as Half>::widen_slice, <lamina_tensor::bf16 as Half>::round_slice),
    always: false);

macro_rules! int_num {
    ($t:ident $(, $as_i64:expr)?) => {
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
            fn mul(self, b: Self) -> Self {
                self.wrapping_mul(b)
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
            fn div_count(self, n: usize) -> Self {
                lamina_tensor::Int::div_floor(self, n as $t)
            }
            $(
                #[inline(always)]
                fn as_i64_slice(s: &[Self]) -> Option<&[i64]> {
                    $as_i64(s)
                }
            )?
        }
    };
}
int_num!(i64, Some);
int_num!(u32);

impl Num for bool {
    const ZERO: Self = false;
    const ONE: Self = true;
    const MIN_VALUE: Self = false;
    const MAX_VALUE: Self = true;
    #[inline(always)]
    fn add(self, b: Self) -> Self {
        self | b
    }
    #[inline(always)]
    fn mul(self, b: Self) -> Self {
        self & b
    }
    #[inline(always)]
    fn max(self, b: Self) -> Self {
        self | b
    }
    #[inline(always)]
    fn min(self, b: Self) -> Self {
        self & b
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        false
    }
    #[inline(always)]
    fn div_count(self, _n: usize) -> Self {
        self
    }
}

/// `as` conversions into one dtype (integers wrap or truncate exactly as Rust's `as`,
/// floats saturate into integers, NaN becomes 0; to bool: non-zero is true, NaN too, as
/// PyTorch), used by `to_dtype`.
pub trait FromPrim<S> {
    fn from_prim(x: S) -> Self;
}

macro_rules! from_prim {
    ($($t:ty),*) => {$(
        impl FromPrim<f32> for $t {
            #[inline(always)]
            fn from_prim(x: f32) -> Self { x as $t }
        }
        impl FromPrim<f64> for $t {
            #[inline(always)]
            fn from_prim(x: f64) -> Self { x as $t }
        }
        impl FromPrim<i64> for $t {
            #[inline(always)]
            fn from_prim(x: i64) -> Self { x as $t }
        }
        impl FromPrim<u32> for $t {
            #[inline(always)]
            fn from_prim(x: u32) -> Self { x as $t }
        }
        impl FromPrim<bool> for $t {
            #[inline(always)]
            fn from_prim(x: bool) -> Self { x as u8 as $t }
        }
        impl FromPrim<$t> for bool {
            #[inline(always)]
            #[allow(clippy::float_cmp)]
            fn from_prim(x: $t) -> Self { x != (0 as $t) }
        }
    )*};
}
from_prim!(f32, f64, i64, u32);

impl FromPrim<bool> for bool {
    #[inline(always)]
    fn from_prim(x: bool) -> Self {
        x
    }
}

// Half conversions: widening is exact; narrowing rounds once from f32 and goes through the
// half crate's `from_f64` from the 64-bit types (see `Element` for f16's f32 step); to
// integers they saturate as f32 `as`.
macro_rules! from_prim_half {
    ($h:ty) => {
        impl FromPrim<f32> for $h {
            #[inline(always)]
            fn from_prim(x: f32) -> Self {
                <$h>::from_f32(x)
            }
        }
        impl FromPrim<f64> for $h {
            #[inline(always)]
            fn from_prim(x: f64) -> Self {
                <$h>::from_f64(x)
            }
        }
        impl FromPrim<i64> for $h {
            #[inline(always)]
            fn from_prim(x: i64) -> Self {
                <$h>::from_f64(x as f64)
            }
        }
        impl FromPrim<u32> for $h {
            #[inline(always)]
            fn from_prim(x: u32) -> Self {
                <$h>::from_f64(x as f64)
            }
        }
        impl FromPrim<bool> for $h {
            #[inline(always)]
            fn from_prim(x: bool) -> Self {
                <$h>::from_f32(x as u8 as f32)
            }
        }
        impl FromPrim<$h> for f32 {
            #[inline(always)]
            fn from_prim(x: $h) -> Self {
                x.to_f32()
            }
        }
        impl FromPrim<$h> for f64 {
            #[inline(always)]
            fn from_prim(x: $h) -> Self {
                x.to_f64()
            }
        }
        impl FromPrim<$h> for i64 {
            #[inline(always)]
            fn from_prim(x: $h) -> Self {
                x.to_f32() as i64
            }
        }
        impl FromPrim<$h> for u32 {
            #[inline(always)]
            fn from_prim(x: $h) -> Self {
                x.to_f32() as u32
            }
        }
        impl FromPrim<$h> for bool {
            #[inline(always)]
            fn from_prim(x: $h) -> Self {
                x.to_f32() != 0.0
            }
        }
        impl FromPrim<$h> for $h {
            #[inline(always)]
            fn from_prim(x: $h) -> Self {
                x
            }
        }
    };
}
from_prim_half!(lamina_tensor::f16);
from_prim_half!(lamina_tensor::bf16);

impl FromPrim<lamina_tensor::f16> for lamina_tensor::bf16 {
    #[inline(always)]
    fn from_prim(x: lamina_tensor::f16) -> Self {
        lamina_tensor::bf16::from_f32(x.to_f32())
    }
}

impl FromPrim<lamina_tensor::bf16> for lamina_tensor::f16 {
    #[inline(always)]
    fn from_prim(x: lamina_tensor::bf16) -> Self {
        lamina_tensor::f16::from_f32(x.to_f32())
    }
}

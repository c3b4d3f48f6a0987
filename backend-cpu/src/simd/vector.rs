//! The lane-generic vector vocabulary every SIMD kernel is written in.
//!
//! Kernels (`math.rs`) are written once against the [`Simd`] trait and instantiated per
//! instruction set: `x86.rs` implements it for AVX2 (`__m256`) and AVX-512 (`__m512`), and
//! [`Lane1`] here implements it for a single `f32`. Keeping one kernel body means the AVX-512
//! instantiation runs exactly the algorithm the AVX2 and `Lane1` tests exercise, and only the
//! one-line primitive wrappers differ between instruction sets.

/// Widest vector any implementation uses, in `f32` lanes; sizes the on-stack tail buffers.
pub(crate) const MAX_LANES: usize = 16;

/// A vector instruction set, as a zero-sized token.
///
/// Holding a value of an implementing type is the proof that the CPU supports the instruction
/// set (tokens are only constructed after run-time detection), which is what lets the
/// primitives be safe functions.
pub(crate) trait Simd: Copy {
    /// Number of `f32` lanes in [`Simd::V`].
    const LANES: usize;
    /// A vector of `LANES` floats.
    type V: Copy;
    /// A per-lane boolean mask, as produced by the comparisons.
    type M: Copy;

    fn splat(self, x: f32) -> Self::V;
    /// Loads the first `LANES` elements; panics if `s` is shorter.
    fn load(self, s: &[f32]) -> Self::V;
    /// Stores into the first `LANES` elements; panics if `s` is shorter.
    fn store(self, s: &mut [f32], v: Self::V);

    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b + c`, fused where the hardware has FMA.
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// Lane-wise minimum; which operand wins when one is NaN is unspecified.
    fn min(self, a: Self::V, b: Self::V) -> Self::V;
    /// Lane-wise maximum; which operand wins when one is NaN is unspecified.
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    fn abs(self, a: Self::V) -> Self::V;
    /// Magnitude of `mag` with the sign bit of `sign`.
    fn copysign(self, mag: Self::V, sign: Self::V) -> Self::V;
    /// Round to nearest, ties to even.
    fn round(self, a: Self::V) -> Self::V;
    /// `2^n` for lanes holding an integral `n` in `[-126, 127]`; other lanes get an
    /// unspecified value (callers overwrite them with a select).
    fn pow2i(self, n: Self::V) -> Self::V;
    /// For positive normal `x`: `(e, m)` with `x = m * 2^e`, `m` in `[1, 2)`, `e` integral.
    /// Other lanes get unspecified values.
    fn exponent_mantissa(self, x: Self::V) -> (Self::V, Self::V);

    /// Ordered comparisons: false when either lane is NaN.
    fn lt(self, a: Self::V, b: Self::V) -> Self::M;
    fn gt(self, a: Self::V, b: Self::V) -> Self::M;
    fn eq(self, a: Self::V, b: Self::V) -> Self::M;
    fn is_nan(self, a: Self::V) -> Self::M;
    fn mask_or(self, a: Self::M, b: Self::M) -> Self::M;
    fn mask_any(self, m: Self::M) -> bool;
    /// `t` where `m` is set, `f` elsewhere.
    fn select(self, m: Self::M, t: Self::V, f: Self::V) -> Self::V;

    /// Loads `s` (shorter than `LANES`) into the low lanes and `fill` into the rest.
    ///
    /// Tails go through a stack buffer rather than masked loads so that every instruction set
    /// shares this code (and its tests); it runs once per call, so its cost is irrelevant.
    #[inline(always)]
    fn load_tail(self, s: &[f32], fill: f32) -> Self::V {
        let mut buf = [fill; MAX_LANES];
        buf[..s.len()].copy_from_slice(s);
        self.load(&buf[..Self::LANES])
    }

    /// Stores the low `s.len()` lanes of `v` into `s` (shorter than `LANES`).
    #[inline(always)]
    fn store_tail(self, s: &mut [f32], v: Self::V) {
        let mut buf = [0.0; MAX_LANES];
        self.store(&mut buf[..Self::LANES], v);
        s.copy_from_slice(&buf[..s.len()]);
    }

    /// The lanes of `v`, in the first `LANES` entries.
    #[inline(always)]
    fn to_array(self, v: Self::V) -> [f32; MAX_LANES] {
        let mut buf = [0.0; MAX_LANES];
        self.store(&mut buf[..Self::LANES], v);
        buf
    }
}

/// One `f32` lane: the portable instantiation of the polynomial kernels.
///
/// The scalar path uses it where `std` has no equivalent (erf); the tests use it to check the
/// polynomial algorithms independently of any vector instruction set. `mul_add` is deliberately
/// unfused: `f32::mul_add` is a libm call on x86-64 without FMA, and the kernels are written
/// (exact range-reduction constants) to be accurate either way.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Lane1;

impl Simd for Lane1 {
    const LANES: usize = 1;
    type V = f32;
    type M = bool;

    #[inline(always)]
    fn splat(self, x: f32) -> f32 {
        x
    }
    #[inline(always)]
    fn load(self, s: &[f32]) -> f32 {
        s[0]
    }
    #[inline(always)]
    fn store(self, s: &mut [f32], v: f32) {
        s[0] = v;
    }
    #[inline(always)]
    fn add(self, a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    fn sub(self, a: f32, b: f32) -> f32 {
        a - b
    }
    #[inline(always)]
    fn mul(self, a: f32, b: f32) -> f32 {
        a * b
    }
    #[inline(always)]
    fn div(self, a: f32, b: f32) -> f32 {
        a / b
    }
    #[inline(always)]
    fn mul_add(self, a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
    #[inline(always)]
    fn min(self, a: f32, b: f32) -> f32 {
        a.min(b)
    }
    #[inline(always)]
    fn max(self, a: f32, b: f32) -> f32 {
        a.max(b)
    }
    #[inline(always)]
    fn abs(self, a: f32) -> f32 {
        a.abs()
    }
    #[inline(always)]
    fn copysign(self, mag: f32, sign: f32) -> f32 {
        mag.copysign(sign)
    }
    #[inline(always)]
    fn round(self, a: f32) -> f32 {
        a.round_ties_even()
    }
    #[inline(always)]
    fn pow2i(self, n: f32) -> f32 {
        // Wrapping arithmetic: out-of-range lanes must give garbage, not an overflow panic.
        f32::from_bits(((n as i32).wrapping_add(127) as u32) << 23)
    }
    #[inline(always)]
    fn exponent_mantissa(self, x: f32) -> (f32, f32) {
        let bits = x.to_bits();
        let e = ((bits >> 23) & 0xff) as i32 - 127;
        let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
        (e as f32, m)
    }
    #[inline(always)]
    fn lt(self, a: f32, b: f32) -> bool {
        a < b
    }
    #[inline(always)]
    fn gt(self, a: f32, b: f32) -> bool {
        a > b
    }
    #[inline(always)]
    fn eq(self, a: f32, b: f32) -> bool {
        a == b
    }
    #[inline(always)]
    fn is_nan(self, a: f32) -> bool {
        a.is_nan()
    }
    #[inline(always)]
    fn mask_or(self, a: bool, b: bool) -> bool {
        a | b
    }
    #[inline(always)]
    fn mask_any(self, m: bool) -> bool {
        m
    }
    #[inline(always)]
    fn select(self, m: bool, t: f32, f: f32) -> f32 {
        if m {
            t
        } else {
            f
        }
    }
}

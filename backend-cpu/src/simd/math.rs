//! The vectorised kernels, written once over the [`Simd`] vocabulary.
//!
//! Element functions (`*_v`) are polynomial/rational approximations (Cephes for exp, log and
//! tanh; our own fits for GELU's erf/erfc) with explicit selects for the edge cases, so that every
//! instruction set produces the same special values (inf, 0, NaN) without branches. Slice
//! kernels (`map`, reductions, softmax rows) handle the ragged tail through the padded-buffer
//! helpers on [`Simd`], so tails get the same accuracy as the body.
//!
//! Everything here is `#[inline(always)]` on purpose: it must be inlined into the
//! `#[target_feature]` trampolines in `x86.rs` to be compiled for AVX2/AVX-512 at all.

use super::vector::Simd;

const LOG2E: f32 = core::f32::consts::LOG2_E;
// ln 2 split so that `n * LN2_HI` is exact for |n| < 2^15 even without FMA (Cephes).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Above this exp overflows (ln f32::MAX = 88.7228); the exact boundary is left to the
/// arithmetic, which overflows correctly for n = 128. This bound only keeps n small enough for
/// the two-step scaling.
const EXP_OVERFLOW: f32 = 88.75;
/// Below this exp rounds to zero (ln 2^-150 = -103.972); between here and the arithmetic's own
/// underflow the scaling yields correctly rounded subnormals.
const EXP_UNDERFLOW: f32 = -104.0;

/// `e^x`. Max error about 1 ulp; overflow to +inf, underflow to (subnormal then) 0, NaN kept.
#[inline(always)]
pub(crate) fn exp_v<S: Simd>(s: S, x: S::V) -> S::V {
    let n = s.round(s.mul(x, s.splat(LOG2E)));
    let r = s.mul_add(n, s.splat(-LN2_HI), x);
    let r = s.mul_add(n, s.splat(-LN2_LO), r);
    let mut p = s.splat(1.987_569_2e-4);
    p = s.mul_add(p, r, s.splat(1.398_199_9e-3));
    p = s.mul_add(p, r, s.splat(8.333_452e-3));
    p = s.mul_add(p, r, s.splat(4.166_579_6e-2));
    p = s.mul_add(p, r, s.splat(1.666_666_5e-1));
    p = s.mul_add(p, r, s.splat(5e-1));
    let r2 = s.mul(r, r);
    let y = s.add(s.mul_add(p, r2, r), s.splat(1.0));
    // 2^n in two factors: a single exponent field cannot hold n = 128 (results just below
    // f32::MAX) nor n < -126 (subnormal results); two factors cover [-252, 254].
    let n1 = s.round(s.mul(n, s.splat(0.5)));
    let n2 = s.sub(n, n1);
    let y = s.mul(s.mul(y, s.pow2i(n1)), s.pow2i(n2));
    let y = s.select(s.gt(x, s.splat(EXP_OVERFLOW)), s.splat(f32::INFINITY), y);
    s.select(s.lt(x, s.splat(EXP_UNDERFLOW)), s.splat(0.0), y)
}

/// Natural log. Max error about 1 ulp; log(0) = -inf, log(<0) = NaN, log(inf) = inf,
/// subnormal inputs handled.
#[inline(always)]
pub(crate) fn log_v<S: Simd>(s: S, x: S::V) -> S::V {
    // Subnormals have no implicit bit; scale them into the normal range first.
    let tiny = s.lt(x, s.splat(f32::MIN_POSITIVE));
    let xs = s.select(tiny, s.mul(x, s.splat(8_388_608.0)), x);
    let (e, m) = s.exponent_mantissa(xs);
    let e = s.select(tiny, s.sub(e, s.splat(23.0)), e);
    // Centre the mantissa on 1 ([sqrt(1/2), sqrt(2))) so the polynomial argument is small;
    // halving and `m - 1` are both exact.
    let big = s.gt(m, s.splat(core::f32::consts::SQRT_2));
    let m = s.select(big, s.mul(m, s.splat(0.5)), m);
    let e = s.select(big, s.add(e, s.splat(1.0)), e);
    let f = s.sub(m, s.splat(1.0));
    let z = s.mul(f, f);
    let mut p = s.splat(7.037_683_6e-2);
    p = s.mul_add(p, f, s.splat(-1.151_461e-1));
    p = s.mul_add(p, f, s.splat(1.167_699_9e-1));
    p = s.mul_add(p, f, s.splat(-1.242_014_1e-1));
    p = s.mul_add(p, f, s.splat(1.424_932_3e-1));
    p = s.mul_add(p, f, s.splat(-1.666_805_8e-1));
    p = s.mul_add(p, f, s.splat(2.000_071_4e-1));
    p = s.mul_add(p, f, s.splat(-2.499_999_4e-1));
    p = s.mul_add(p, f, s.splat(3.333_333e-1));
    let y = s.mul(s.mul(p, f), z);
    let y = s.mul_add(e, s.splat(LN2_LO), y);
    let y = s.mul_add(z, s.splat(-0.5), y);
    let y = s.add(f, y);
    let y = s.mul_add(e, s.splat(LN2_HI), y);
    let y = s.select(s.eq(x, s.splat(f32::INFINITY)), x, y);
    let y = s.select(s.eq(x, s.splat(0.0)), s.splat(f32::NEG_INFINITY), y);
    let invalid = s.mask_or(s.lt(x, s.splat(0.0)), s.is_nan(x));
    s.select(invalid, s.splat(f32::NAN), y)
}

/// `tanh`. Odd polynomial below |x| = 0.625 (keeps relative accuracy near 0), `1 - 2/(e^2|x|+1)`
/// above, which saturates to ±1 without NaN because exp overflows to +inf.
#[inline(always)]
pub(crate) fn tanh_v<S: Simd>(s: S, x: S::V) -> S::V {
    let ax = s.abs(x);
    let z = s.mul(x, x);
    let mut p = s.splat(-5.704_988_7e-3);
    p = s.mul_add(p, z, s.splat(2.063_909e-2));
    p = s.mul_add(p, z, s.splat(-5.373_971_6e-2));
    p = s.mul_add(p, z, s.splat(1.333_144_2e-1));
    p = s.mul_add(p, z, s.splat(-3.333_328e-1));
    // Both branches on |x| and the sign applied last, so tanh(-0) = -0.
    let small = s.mul_add(s.mul(p, z), ax, ax);
    let e = exp_v(s, s.add(ax, ax));
    let large = s.sub(s.splat(1.0), s.div(s.splat(2.0), s.add(e, s.splat(1.0))));
    s.copysign(s.select(s.lt(ax, s.splat(0.625)), small, large), x)
}

/// `(numerator, denominator)` of the logistic function: `1/(1+e)` for x >= 0 and `e/(1+e)`
/// below, with `e = exp(-|x|)` in (0, 1] so it never overflows and the negative side keeps full
/// relative accuracy (down to subnormal results).
#[inline(always)]
fn sigmoid_parts<S: Simd>(s: S, x: S::V) -> (S::V, S::V) {
    let e = exp_v(s, s.sub(s.splat(0.0), s.abs(x)));
    let num = s.select(s.lt(x, s.splat(0.0)), e, s.splat(1.0));
    (num, s.add(s.splat(1.0), e))
}

#[inline(always)]
pub(crate) fn sigmoid_v<S: Simd>(s: S, x: S::V) -> S::V {
    let (num, den) = sigmoid_parts(s, x);
    s.div(num, den)
}

/// `x * sigmoid(x)`, with one rounding fewer than multiplying by a computed sigmoid.
#[inline(always)]
pub(crate) fn silu_v<S: Simd>(s: S, x: S::V) -> S::V {
    let (num, den) = sigmoid_parts(s, x);
    s.div(s.mul(x, num), den)
}

/// Below this `t = |x|/sqrt 2` GELU uses the erf polynomial, above it the erfc exponential.
const GELU_T0: f32 = 0.9;
/// Above this erfc(t) < 1.6e-8, so Phi(-|x|) is taken as 0 (gelu(x) = x or -0).
const GELU_T1: f32 = 4.0;

/// `erf(t)` for `0 <= t < GELU_T0`: `t (1 + P(t^2))`, P a Chebyshev interpolant of
/// `erf(t)/t - 1` in `t^2` on [0, 0.81], fitted for this file.
#[inline(always)]
fn erf_small<S: Simd>(s: S, t: S::V) -> S::V {
    let u = s.mul(t, t);
    let mut p = s.splat(-6.102_687e-4);
    p = s.mul_add(p, u, s.splat(5.014_484_3e-3));
    p = s.mul_add(p, u, s.splat(-2.678_071_9e-2));
    p = s.mul_add(p, u, s.splat(1.128_219_4e-1));
    p = s.mul_add(p, u, s.splat(-3.761_252_8e-1));
    p = s.mul_add(p, u, s.splat(1.283_791_5e-1));
    s.mul_add(t, p, t)
}

/// `erfc(t)` for `t >= GELU_T0`: `exp(G(t))`, G a Chebyshev interpolant of `ln erfc(t)` on
/// [0.9, 4], fitted for this file; 0 above `GELU_T1`.
#[inline(always)]
fn erfc_large<S: Simd>(s: S, t: S::V) -> S::V {
    let mut g = s.splat(-4.453_897_5e-8);
    g = s.mul_add(g, t, s.splat(2.594_339_5e-6));
    g = s.mul_add(g, t, s.splat(-5.493_617_2e-5));
    g = s.mul_add(g, t, s.splat(6.433_165e-4));
    g = s.mul_add(g, t, s.splat(-4.910_78e-3));
    g = s.mul_add(g, t, s.splat(2.673_623_3e-2));
    g = s.mul_add(g, t, s.splat(-1.104_995_7e-1));
    g = s.mul_add(g, t, s.splat(-6.314_835e-1));
    g = s.mul_add(g, t, s.splat(-1.130_388_4));
    g = s.mul_add(g, t, s.splat(3.495_821_1e-4));
    // Past T1 the polynomial is meaningless (it may even be NaN for huge t): force erfc = 0.
    s.select(s.gt(t, s.splat(GELU_T1)), s.splat(0.0), exp_v(s, g))
}

/// `erf(x)`: [`erf_small`] below `|x| = 0.9`, `1 - erfc` above, with `x`'s sign. Relative
/// error about 1e-7 (one or two ulps); NaN stays NaN (it fails `t < T0` and takes the
/// large branch, where exp(NaN) keeps it).
#[inline(always)]
pub(crate) fn erf_v<S: Simd>(s: S, x: S::V) -> S::V {
    let t = s.abs(x);
    let large = s.sub(s.splat(1.0), erfc_large(s, t));
    let e = s.select(s.lt(t, s.splat(GELU_T0)), erf_small(s, t), large);
    s.copysign(e, x)
}

/// Exact GELU, `x * Phi(x)` with `Phi(x) = 0.5 (1 + erf(x / sqrt 2))`.
///
/// Two branches on `t = |x| / sqrt 2`, both evaluated and selected:
/// - `t < 0.9`: `erf(t)` by [`erf_small`], `Phi = 0.5 +/- 0.5 erf`.
/// - `t >= 0.9`: `erfc(t)` by [`erfc_large`], `Phi(-|x|) = 0.5 erfc`, `Phi(|x|) = 1 - 0.5 erfc`.
///
/// Using erfc for the negative side (rather than PyTorch's `1 + erf`, which cancels) keeps the
/// result relatively accurate (a few 1e-6, bounded by the f32 rounding of `t` itself) down to
/// x = -5.66; erf's absolute error is under 1e-7 everywhere.
#[inline(always)]
pub(crate) fn gelu_v<S: Simd>(s: S, x: S::V) -> S::V {
    let t = s.mul(s.abs(x), s.splat(core::f32::consts::FRAC_1_SQRT_2));
    s.mul(x, normal_cdf(s, x, t))
}

/// `Phi(x)` from `x` and `t = |x| / sqrt 2` by the two branches [`gelu_v`] describes.
#[inline(always)]
fn normal_cdf<S: Simd>(s: S, x: S::V, t: S::V) -> S::V {
    let neg = s.lt(x, s.splat(0.0));
    let half = s.splat(0.5);
    let half_erf = s.mul(half, erf_small(s, t));
    let phi_small = s.select(neg, s.sub(half, half_erf), s.add(half, half_erf));
    let half_erfc = s.mul(half, erfc_large(s, t));
    let phi_large = s.select(neg, half_erfc, s.sub(s.splat(1.0), half_erfc));
    // NaN fails `t < T0` and so takes the large branch, where exp(NaN) keeps it NaN.
    s.select(s.lt(t, s.splat(GELU_T0)), phi_small, phi_large)
}

/// The derivative of exact GELU, `Phi(x) + x phi(x)`: `Phi` by the same two branches as
/// [`gelu_v`], `phi(x) = exp(-x^2 / 2) / sqrt(2 pi)`.
#[inline(always)]
pub(crate) fn gelu_derivative_v<S: Simd>(s: S, x: S::V) -> S::V {
    let t = s.mul(s.abs(x), s.splat(core::f32::consts::FRAC_1_SQRT_2));
    let cdf = normal_cdf(s, x, t);
    // exp(-t^2) = exp(-x^2 / 2); 1 / sqrt(2 pi)
    let pdf = s.mul(
        exp_v(s, s.sub(s.splat(0.0), s.mul(t, t))),
        s.splat(0.398_942_3),
    );
    s.mul_add(x, pdf, cdf)
}

/// 2 sqrt(2/pi) and 2 sqrt(2/pi) * 0.044715, the tanh-GELU constants doubled for the sigmoid
/// form below.
pub(crate) const GELU_K0: f32 = 1.595_769_2;
pub(crate) const GELU_K1: f32 = (1.595_769_121_605_730_8_f64 * 0.044_715) as f32;

/// PyTorch's `gelu(approximate='tanh')`, `0.5 x (1 + tanh(u))`, computed as the identical
/// `x * sigmoid(2u)`: no cancellation for negative x and no tanh of a huge argument.
#[inline(always)]
pub(crate) fn gelu_tanh_v<S: Simd>(s: S, x: S::V) -> S::V {
    let x2 = s.mul(x, x);
    let inner = s.mul(x, s.mul_add(x2, s.splat(GELU_K1), s.splat(GELU_K0)));
    let (num, den) = sigmoid_parts(s, inner);
    s.div(s.mul(x, num), den)
}

/// A lane-wise function of one vector.
///
/// Kernels take these as types rather than closures: a closure body is its own function
/// without the target features, and LLVM then fails to inline the intrinsics into it, which
/// runs slower than scalar code.
pub(crate) trait Lanewise {
    fn apply<S: Simd>(&self, s: S, v: S::V) -> S::V;
}

/// A lane-wise function of two vectors; see [`Lanewise`].
pub(crate) trait Lanewise2 {
    fn apply<S: Simd>(&self, s: S, a: S::V, b: S::V) -> S::V;
}

macro_rules! lanewise_fn {
    ($($name:ident => $f:ident),* $(,)?) => {$(
        pub(crate) struct $name;
        impl Lanewise for $name {
            #[inline(always)]
            fn apply<S: Simd>(&self, s: S, v: S::V) -> S::V {
                $f(s, v)
            }
        }
    )*};
}

lanewise_fn! {
    Exp => exp_v,
    Log => log_v,
    Tanh => tanh_v,
    Sigmoid => sigmoid_v,
    Silu => silu_v,
    Erf => erf_v,
    Gelu => gelu_v,
    GeluDerivative => gelu_derivative_v,
    GeluTanh => gelu_tanh_v,
}

/// `y[i] = f(x[i])`.
#[inline(always)]
pub(crate) fn map<S: Simd, F: Lanewise>(s: S, x: &[f32], y: &mut [f32], f: &F) {
    assert_eq!(x.len(), y.len(), "simd: input and output lengths differ");
    let body = x.len() / S::LANES * S::LANES;
    let (xb, xt) = x.split_at(body);
    let (yb, yt) = y.split_at_mut(body);
    for (xc, yc) in xb.chunks_exact(S::LANES).zip(yb.chunks_exact_mut(S::LANES)) {
        s.store(yc, f.apply(s, s.load(xc)));
    }
    if !xt.is_empty() {
        s.store_tail(yt, f.apply(s, s.load_tail(xt, 0.0)));
    }
}

/// Horizontal sum of one vector, lanes in order.
#[inline(always)]
fn hsum<S: Simd>(s: S, v: S::V) -> f32 {
    s.to_array(v)[..S::LANES].iter().sum()
}

/// `out[c] += row[c]` for each row of `xs` (rows of `out.len()`), each column summed in row
/// order, as the plain loop does: blocks of columns accumulate in registers over a tile
/// of rows instead of storing and reloading `out` for every row.
#[inline(always)]
pub(crate) fn sum_rows<S: Simd>(s: S, out: &mut [f32], xs: &[f32]) {
    // Vectors per column block, and rows per tile (a tile of a few hundred KiB stays in
    // L2 while the column blocks pass over it).
    const BLOCK: usize = 8;
    const TILE_ROWS: usize = 128;
    let (w, l) = (out.len(), S::LANES);
    if w == 0 {
        return;
    }
    for tile in xs.chunks(w * TILE_ROWS) {
        let mut j = 0;
        while j + BLOCK * l <= w {
            let mut acc: [S::V; BLOCK] = std::array::from_fn(|b| s.load(&out[j + b * l..]));
            for row in tile.chunks_exact(w) {
                let r = &row[j..j + BLOCK * l];
                for (b, a) in acc.iter_mut().enumerate() {
                    *a = s.add(*a, s.load(&r[b * l..]));
                }
            }
            for (b, a) in acc.iter().enumerate() {
                s.store(&mut out[j + b * l..], *a);
            }
            j += BLOCK * l;
        }
        while j < w {
            let n = l.min(w - j);
            let load = |v: &[f32]| {
                if n == l {
                    s.load(v)
                } else {
                    s.load_tail(&v[..n], 0.0)
                }
            };
            let mut acc = load(&out[j..]);
            for row in tile.chunks_exact(w) {
                acc = s.add(acc, load(&row[j..]));
            }
            if n == l {
                s.store(&mut out[j..], acc);
            } else {
                s.store_tail(&mut out[j..j + n], acc);
            }
            j += n;
        }
    }
}

/// Sum with 4 vector accumulators (4 x LANES independent partial sums): breaks the add
/// latency chain and, as a side effect, has a smaller error bound than sequential summation.
#[inline(always)]
pub(crate) fn sum<S: Simd>(s: S, x: &[f32]) -> f32 {
    let w = 4 * S::LANES;
    let zero = s.splat(0.0);
    let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
    let mut blocks = x.chunks_exact(w);
    for c in &mut blocks {
        a0 = s.add(a0, s.load(c));
        a1 = s.add(a1, s.load(&c[S::LANES..]));
        a2 = s.add(a2, s.load(&c[2 * S::LANES..]));
        a3 = s.add(a3, s.load(&c[3 * S::LANES..]));
    }
    let rest = blocks.remainder();
    let mut vecs = rest.chunks_exact(S::LANES);
    for c in &mut vecs {
        a0 = s.add(a0, s.load(c));
    }
    let tail = vecs.remainder();
    if !tail.is_empty() {
        a1 = s.add(a1, s.load_tail(tail, 0.0));
    }
    hsum(s, s.add(s.add(a0, a1), s.add(a2, a3)))
}

/// Dot product with 4 FMA accumulators.
#[inline(always)]
pub(crate) fn dot<S: Simd>(s: S, a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "simd::dot: lengths differ");
    let w = 4 * S::LANES;
    let zero = s.splat(0.0);
    let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
    let mut ab = a.chunks_exact(w);
    let mut bb = b.chunks_exact(w);
    for (x, y) in (&mut ab).zip(&mut bb) {
        a0 = s.mul_add(s.load(x), s.load(y), a0);
        a1 = s.mul_add(s.load(&x[S::LANES..]), s.load(&y[S::LANES..]), a1);
        a2 = s.mul_add(s.load(&x[2 * S::LANES..]), s.load(&y[2 * S::LANES..]), a2);
        a3 = s.mul_add(s.load(&x[3 * S::LANES..]), s.load(&y[3 * S::LANES..]), a3);
    }
    let mut av = ab.remainder().chunks_exact(S::LANES);
    let mut bv = bb.remainder().chunks_exact(S::LANES);
    for (x, y) in (&mut av).zip(&mut bv) {
        a0 = s.mul_add(s.load(x), s.load(y), a0);
    }
    let (at, bt) = (av.remainder(), bv.remainder());
    if !at.is_empty() {
        a1 = s.mul_add(s.load_tail(at, 0.0), s.load_tail(bt, 0.0), a1);
    }
    hsum(s, s.add(s.add(a0, a1), s.add(a2, a3)))
}

#[inline(always)]
fn pick<S: Simd>(s: S, want_max: bool, a: S::V, b: S::V) -> S::V {
    if want_max {
        s.max(a, b)
    } else {
        s.min(a, b)
    }
}

/// Max (`want_max`) or min of `x`, NaN-propagating like PyTorch; -inf/+inf for empty input.
///
/// Hardware min/max drop NaN depending on operand order, so NaN is tracked in a separate mask
/// rather than relied upon.
#[inline(always)]
pub(crate) fn extremum<S: Simd>(s: S, x: &[f32], want_max: bool) -> f32 {
    let ident = if want_max {
        f32::NEG_INFINITY
    } else {
        f32::INFINITY
    };
    let (mut a0, mut a1) = (s.splat(ident), s.splat(ident));
    let no_nan = s.is_nan(a0);
    let (mut n0, mut n1) = (no_nan, no_nan);
    let mut blocks = x.chunks_exact(2 * S::LANES);
    for c in &mut blocks {
        let (v0, v1) = (s.load(c), s.load(&c[S::LANES..]));
        a0 = pick(s, want_max, a0, v0);
        a1 = pick(s, want_max, a1, v1);
        n0 = s.mask_or(n0, s.is_nan(v0));
        n1 = s.mask_or(n1, s.is_nan(v1));
    }
    let mut vecs = blocks.remainder().chunks_exact(S::LANES);
    for c in &mut vecs {
        let v = s.load(c);
        a0 = pick(s, want_max, a0, v);
        n0 = s.mask_or(n0, s.is_nan(v));
    }
    let tail = vecs.remainder();
    if !tail.is_empty() {
        let v = s.load_tail(tail, ident);
        a1 = pick(s, want_max, a1, v);
        n1 = s.mask_or(n1, s.is_nan(v));
    }
    if s.mask_any(s.mask_or(n0, n1)) {
        return f32::NAN;
    }
    let lanes = s.to_array(pick(s, want_max, a0, a1));
    let lanes = &lanes[..S::LANES];
    if want_max {
        lanes.iter().fold(ident, |m, &v| m.max(v))
    } else {
        lanes.iter().fold(ident, |m, &v| m.min(v))
    }
}

/// `y[i] = x[i] * k`, used to normalise softmax rows.
#[inline(always)]
fn scale<S: Simd>(s: S, y: &mut [f32], k: f32) {
    let kv = s.splat(k);
    let body = y.len() / S::LANES * S::LANES;
    let (yb, yt) = y.split_at_mut(body);
    for c in yb.chunks_exact_mut(S::LANES) {
        let v = s.mul(s.load(c), kv);
        s.store(c, v);
    }
    if !yt.is_empty() {
        let v = s.mul(s.load_tail(yt, 0.0), kv);
        s.store_tail(yt, v);
    }
}

/// Sum of `exp(x - m)`, storing the terms into `y` when given. Tail lanes are padded with
/// -inf so they contribute exp(-inf) = 0.
#[inline(always)]
fn exp_shifted_sum<S: Simd>(s: S, x: &[f32], y: Option<&mut [f32]>, m: f32) -> f32 {
    let mv = s.splat(m);
    let body = x.len() / S::LANES * S::LANES;
    let (xb, xt) = x.split_at(body);
    let (mut acc0, mut acc1) = (s.splat(0.0), s.splat(0.0));
    match y {
        Some(y) => {
            let (yb, yt) = y.split_at_mut(body);
            for (xc, yc) in xb.chunks_exact(S::LANES).zip(yb.chunks_exact_mut(S::LANES)) {
                let e = exp_v(s, s.sub(s.load(xc), mv));
                s.store(yc, e);
                acc0 = s.add(acc0, e);
            }
            if !xt.is_empty() {
                let e = exp_v(s, s.sub(s.load_tail(xt, f32::NEG_INFINITY), mv));
                s.store_tail(yt, e);
                acc1 = s.add(acc1, e);
            }
        }
        None => {
            for xc in xb.chunks_exact(S::LANES) {
                acc0 = s.add(acc0, exp_v(s, s.sub(s.load(xc), mv)));
            }
            if !xt.is_empty() {
                let v = s.load_tail(xt, f32::NEG_INFINITY);
                acc1 = s.add(acc1, exp_v(s, s.sub(v, mv)));
            }
        }
    }
    hsum(s, s.add(acc0, acc1))
}

/// One softmax row: max, `exp(x - max)` with its sum in the same pass, then scale by 1/sum.
#[inline(always)]
pub(crate) fn softmax<S: Simd>(s: S, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "simd::softmax: lengths differ");
    if x.is_empty() {
        return;
    }
    let m = extremum(s, x, true);
    let total = exp_shifted_sum(s, x, Some(&mut *y), m);
    scale(s, y, 1.0 / total);
}

/// One log-softmax row: `(x - max) - ln(sum(exp(x - max)))`.
#[inline(always)]
pub(crate) fn log_softmax<S: Simd>(s: S, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "simd::log_softmax: lengths differ");
    if x.is_empty() {
        return;
    }
    let m = extremum(s, x, true);
    let lse = exp_shifted_sum(s, x, None, m).ln();
    map(s, x, y, &ShiftBy { m, lse });
}

struct ShiftBy {
    m: f32,
    lse: f32,
}

impl Lanewise for ShiftBy {
    #[inline(always)]
    fn apply<S: Simd>(&self, s: S, v: S::V) -> S::V {
        s.sub(s.sub(v, s.splat(self.m)), s.splat(self.lse))
    }
}

/// `dx = y * (dy - dot(dy, y))`.
#[inline(always)]
pub(crate) fn softmax_backward<S: Simd>(s: S, y: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert!(
        y.len() == dy.len() && y.len() == dx.len(),
        "simd::softmax_backward: lengths differ"
    );
    let d = dot(s, dy, y);
    zip_map(s, y, dy, dx, &SoftmaxGrad { d });
}

struct SoftmaxGrad {
    d: f32,
}

impl Lanewise2 for SoftmaxGrad {
    #[inline(always)]
    fn apply<S: Simd>(&self, s: S, y: S::V, dy: S::V) -> S::V {
        s.mul(y, s.sub(dy, s.splat(self.d)))
    }
}

/// `dx = dy - exp(y) * sum(dy)`, with `y` the log-softmax output.
#[inline(always)]
pub(crate) fn log_softmax_backward<S: Simd>(s: S, y: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert!(
        y.len() == dy.len() && y.len() == dx.len(),
        "simd::log_softmax_backward: lengths differ"
    );
    let t = sum(s, dy);
    zip_map(s, y, dy, dx, &LogSoftmaxGrad { t });
}

struct LogSoftmaxGrad {
    t: f32,
}

impl Lanewise2 for LogSoftmaxGrad {
    #[inline(always)]
    fn apply<S: Simd>(&self, s: S, y: S::V, dy: S::V) -> S::V {
        s.sub(dy, s.mul(exp_v(s, y), s.splat(self.t)))
    }
}

/// `out[i] = f(a[i], b[i])`; lengths already checked by the callers.
#[inline(always)]
fn zip_map<S: Simd, F: Lanewise2>(s: S, a: &[f32], b: &[f32], out: &mut [f32], f: &F) {
    let body = a.len() / S::LANES * S::LANES;
    let (ab, at) = a.split_at(body);
    let (bb, bt) = b.split_at(body);
    let (ob, ot) = out.split_at_mut(body);
    let chunks = ab
        .chunks_exact(S::LANES)
        .zip(bb.chunks_exact(S::LANES))
        .zip(ob.chunks_exact_mut(S::LANES));
    for ((ac, bc), oc) in chunks {
        s.store(oc, f.apply(s, s.load(ac), s.load(bc)));
    }
    if !at.is_empty() {
        s.store_tail(ot, f.apply(s, s.load_tail(at, 0.0), s.load_tail(bt, 0.0)));
    }
}

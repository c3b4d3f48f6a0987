//! Max pooling's arg-max in one pass over each window, planes in parallel. 1-D pooling
//! runs as 2-D of height 1.

use lamina_tensor::PoolGeometry;

use super::num::Num;
use crate::alloc::PoolVec;
use crate::par;

/// The flat plane index of each window's maximum (PyTorch's CPU rule: strictly greater
/// replaces, a NaN always replaces; the start is the window's first position inside the
/// input).
pub fn max_pool_indices<T: Num + Select>(geo: &PoolGeometry, x: &[T]) -> PoolVec<i64> {
    let two = |v: &[usize], one: usize| {
        if v.len() == 2 {
            [v[0], v[1]]
        } else {
            [one, v[0]]
        }
    };
    let [h, w] = two(&geo.input, 1);
    let [kh, kw] = two(&geo.kernel, 1);
    let [sh, sw] = two(&geo.stride, 1);
    let [ph, pw] = two(&geo.padding, 0);
    let [oh, ow] = two(&geo.output, 1);
    let (plane, out_plane) = (h * w, oh * ow);
    let mut out = PoolVec::<i64>::uninit_for_overwrite(geo.batch * geo.channels * out_plane);
    if out_plane == 0 {
        return out;
    }
    // Window start and end (exclusive), clipped to the input, along one dim.
    let span = |o: usize, s: usize, p: usize, k: usize, len: usize| {
        let start = (o * s) as isize - p as isize;
        (
            start.max(0) as usize,
            ((start + k as isize) as usize).min(len),
        )
    };
    par::for_each_chunk_mut_weighted(&mut out, out_plane, kh * kw, |start, chunk| {
        for (j, o) in chunk.chunks_mut(out_plane).enumerate() {
            let xp = &x[(start / out_plane + j) * plane..][..plane];
            for (y, orow) in o.chunks_mut(ow).enumerate() {
                let (y0, y1) = span(y, sh, ph, kh, h);
                // 2×2 windows at stride 2 without padding (most CNNs' pool): whole rows
                // of windows at once, on float compares the compiler vectorises.
                let fast = if (kh, kw, sh, sw, ph, pw) == (2, 2, 2, 2, 0, 0) && y1 - y0 == 2 {
                    let n = ow.min(w / 2);
                    let (r0, r1) = (&xp[y0 * w..][..2 * n], &xp[(y0 + 1) * w..][..2 * n]);
                    rows_2x2(r0, r1, y0 * w, w, &mut orow[..n]);
                    n
                } else {
                    0
                };
                for (xo, best) in orow.iter_mut().enumerate().skip(fast) {
                    let (x0, x1) = span(xo, sw, pw, kw, w);
                    let window = |iy: usize, ix: usize| xp[iy * w + ix];
                    // Whole 2×2 and 3×3 windows (the common pools) with fixed trip counts,
                    // which the compiler unrolls; clipped or other windows by loops.
                    let at = match (y1 - y0, x1 - x0) {
                        (2, 2) if kh == 2 && kw == 2 => argmax::<T, 2, 2>(window, y0, x0, w),
                        (3, 3) if kh == 3 && kw == 3 => argmax::<T, 3, 3>(window, y0, x0, w),
                        _ => {
                            let mut m = T::KEY_MIN;
                            let mut at = y0 * w + x0;
                            for iy in y0..y1 {
                                for ix in x0..x1 {
                                    (m, at) = step(window(iy, ix), iy * w + ix, m, at);
                                }
                            }
                            at
                        }
                    };
                    *best = at as i64;
                }
            }
        }
    });
    out
}

/// The arg-maxima of the 2×2 windows over the row pair `r0`, `r1` (plane index of `r0[0]`:
/// `base`, row length `w`), one per two columns, by [`step`]'s rule on floats: a float
/// compare that LLVM turns into vector masks here, where a select over one window would
/// become a branch.
fn rows_2x2<T: Select>(r0: &[T], r1: &[T], base: usize, w: usize, out: &mut [i64]) {
    #[inline(always)]
    fn take<T: Select>(v: T, m: T) -> bool {
        (v > m) | v.is_nan_value()
    }
    let pairs = r0.chunks_exact(2).zip(r1.chunks_exact(2));
    for (xo, (o, (p0, p1))) in out.iter_mut().zip(pairs).enumerate() {
        let (mut m, mut at) = (p0[0], 0);
        let t = take(p0[1], m);
        (m, at) = (if t { p0[1] } else { m }, if t { 1 } else { at });
        let t = take(p1[0], m);
        (m, at) = (if t { p1[0] } else { m }, if t { w } else { at });
        at = if take(p1[1], m) { w + 1 } else { at };
        *o = (base + 2 * xo + at) as i64;
    }
}

/// One element of a window: `v` at plane index `ix` replaces the running maximum (whose
/// order key is `m`, at `at`) if greater or NaN; once a NaN has been taken only another
/// NaN replaces it (its key is the largest). Integer keys and masks instead of float
/// compares and selects: on real data the outcome is a coin toss, and LLVM compiles a
/// float select into a branch, whose mispredictions cost far more than the compares.
#[inline(always)]
fn step<T: Select>(v: T, ix: usize, m: T::Key, at: usize) -> (T::Key, usize) {
    let nan = v.is_nan_value();
    let take = (v.key() > m) | nan;
    let key = if nan { T::KEY_MAX } else { v.key() };
    let mask = 0usize.wrapping_sub(usize::from(take));
    (if take { key } else { m }, (ix & mask) | (at & !mask))
}

/// The arg-max of a whole `KH × KW` window at row `y0`, column `x0`.
#[inline(always)]
fn argmax<T: Select, const KH: usize, const KW: usize>(
    window: impl Fn(usize, usize) -> T,
    y0: usize,
    x0: usize,
    w: usize,
) -> usize {
    let (mut m, mut at) = (T::KEY_MIN, y0 * w + x0);
    for a in 0..KH {
        for b in 0..KW {
            (m, at) = step(window(y0 + a, x0 + b), (y0 + a) * w + x0 + b, m, at);
        }
    }
    at
}

/// Floats as integers with the same order (`-0.0` as `+0.0`, so that equal values tie as
/// PyTorch's float compare has them), for branch-free arg-max.
pub trait Select: Copy + PartialOrd {
    type Key: Copy + Ord;
    /// The key of −∞ (where every window starts).
    const KEY_MIN: Self::Key;
    /// Above every number's key: a NaN's, once taken.
    const KEY_MAX: Self::Key;
    fn key(self) -> Self::Key;
    fn is_nan_value(self) -> bool;
}

macro_rules! ordered_key {
    ($t:ty, $u:ty) => {
        impl Select for $t {
            type Key = $u;
            const KEY_MIN: $u = !<$t>::NEG_INFINITY.to_bits();
            const KEY_MAX: $u = <$u>::MAX;
            #[inline(always)]
            fn key(self) -> $u {
                // Adding +0.0 turns -0.0 into +0.0. Negative numbers flip all bits (larger
                // magnitude, smaller key), positive ones set the sign bit (above them all).
                let b = (self + 0.0).to_bits();
                let sign = b >> (<$u>::BITS - 1);
                b ^ (sign.wrapping_neg() | (1 << (<$u>::BITS - 1)))
            }
            #[inline(always)]
            fn is_nan_value(self) -> bool {
                self.is_nan()
            }
        }
    };
}

ordered_key!(f32, u32);
ordered_key!(f64, u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_like_the_floats() {
        let v = [
            f32::NEG_INFINITY,
            -3.5,
            -1e-30,
            -0.0,
            0.0,
            1e-30,
            2.0,
            f32::INFINITY,
        ];
        for (i, a) in v.iter().enumerate() {
            for b in &v[i..] {
                assert_eq!(a.key().cmp(&b.key()), a.partial_cmp(b).unwrap(), "{a} {b}");
            }
        }
        assert_eq!(f32::NEG_INFINITY.key(), f32::KEY_MIN);
        assert_eq!(f64::NEG_INFINITY.key(), f64::KEY_MIN);
    }

    #[test]
    fn first_maximum_wins_and_nan_beats_everything() {
        // One plane 2 × 4, windows 2 × 2 stride 2.
        let geo = PoolGeometry {
            batch: 1,
            channels: 1,
            input: [2, 4][..].into(),
            kernel: [2, 2][..].into(),
            stride: [2, 2][..].into(),
            padding: [0, 0][..].into(),
            output: [1, 2][..].into(),
        };
        let x = [1.0f64, 3.0, f64::NAN, 0.0, 3.0, -0.0, 5.0, f64::NAN];
        // Ties: the first 3.0; -0.0 vs 0.0 would tie too. NaN: the last NaN.
        assert_eq!(&max_pool_indices(&geo, &x)[..], &[1, 7]);
        let x = [-0.0f32, 0.0, 0.0, -0.0, -1.0, -1.0, -1.0, -1.0];
        assert_eq!(&max_pool_indices(&geo, &x)[..], &[0, 2]);
        // Clipped windows (padding 1, kernel 3) take the loop path.
        let geo = PoolGeometry {
            kernel: [3, 3][..].into(),
            padding: [1, 1][..].into(),
            output: [1, 2][..].into(),
            ..geo
        };
        let x = [0.5f32, 9.0, 2.0, 7.0, 1.0, 1.0, 8.0, 8.0];
        assert_eq!(&max_pool_indices(&geo, &x)[..], &[1, 1]);
        let x = [0.5f32, 1.0, 2.0, 7.0, 1.0, 1.0, 8.0, 8.0];
        assert_eq!(&max_pool_indices(&geo, &x)[..], &[1, 6]);
    }
}

//! Normalisation (`Tensor::normalize`) forward and backward, fused: the input viewed as
//! `[outer, groups, inner]`; statistics per group in f64 (two passes: the mean, then the
//! squared deviations from it), groups in parallel; then one pass writing the output,
//! rows of `inner` in parallel.

use lamina_tensor::{NormSpec, Real};

use crate::alloc::{PoolElem, PoolVec};
use crate::par;

/// The float types with a normalisation kernel.
pub trait NormElem: Real + Into<f64> + PoolElem + Sync {}
impl NormElem for f32 {}
impl NormElem for f64 {}

/// Lanes of independent f64 accumulators: the compiler vectorises them, where one running
/// sum is a chain of dependent adds.
const LANES: usize = 8;

/// `Σ f(a[k], b[k])` in f64 over equal-length slices.
#[inline]
fn sum2<T: NormElem>(a: &[T], b: &[T], f: impl Fn(f64, f64) -> f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (xa, xb) in ca.zip(cb) {
        for k in 0..LANES {
            acc[k] += f(xa[k].into(), xb[k].into());
        }
    }
    let tail: f64 = ra
        .iter()
        .zip(rb)
        .map(|(&x, &y)| f(x.into(), y.into()))
        .sum();
    acc.iter().sum::<f64>() + tail
}

/// The `[inner]` rows of group `g`, one per `outer` index.
fn rows<'a, T>(v: &'a [T], spec: &NormSpec, g: usize) -> impl Iterator<Item = &'a [T]> {
    let (c, i) = (spec.groups, spec.inner);
    (0..spec.outer).map(move |p| &v[(p * c + g) * i..][..i])
}

/// `f(group)` for every group, in parallel over groups.
fn per_group(spec: &NormSpec, f: impl Fn(usize) -> (f64, f64) + Sync + Send) -> Vec<(f64, f64)> {
    let mut out = vec![(0.0, 0.0); spec.groups];
    par::for_each_chunk_mut_weighted(&mut out, 1, spec.count(), |start, chunk| {
        for (k, o) in chunk.iter_mut().enumerate() {
            *o = f(start + k);
        }
    });
    out
}

/// Writes `out[row] = f(group, row of a, row of b)` for every `[inner]` row, rows in
/// parallel.
fn write_rows<T: NormElem>(
    spec: &NormSpec,
    a: &[T],
    b: &[T],
    f: impl Fn(usize, &[T], &[T], &mut [T]) + Sync + Send,
) -> PoolVec<T> {
    let (c, i) = (spec.groups, spec.inner);
    let mut out = PoolVec::<T>::uninit_for_overwrite(a.len());
    par::for_each_chunk_mut_weighted(&mut out, i, 2, |start, chunk| {
        for (j, o) in chunk.chunks_mut(i).enumerate() {
            let at = start + j * i;
            f((at / i) % c, &a[at..][..i], &b[at..][..i], o);
        }
    });
    out
}

/// The output, each group's mean (0 without centring) and biased variance (mean square
/// without centring). `x` is contiguous and not empty.
pub fn forward<T: NormElem>(spec: &NormSpec, x: &[T]) -> (PoolVec<T>, PoolVec<T>, PoolVec<T>) {
    let n = spec.count() as f64;
    let stats = per_group(spec, |k| {
        let mean = if spec.center {
            rows(x, spec, k).map(|r| sum2(r, r, |v, _| v)).sum::<f64>() / n
        } else {
            0.0
        };
        let sq = |v: f64, _| (v - mean) * (v - mean);
        let var = rows(x, spec, k).map(|r| sum2(r, r, sq)).sum::<f64>() / n;
        (mean, var)
    });
    let coef: Vec<(T, T)> = stats
        .iter()
        .map(|&(m, v)| (T::of(m), T::of(1.0 / (v + spec.eps).sqrt())))
        .collect();
    let y = write_rows(spec, x, x, |g, xr, _, yr| {
        let (m, r) = coef[g];
        for (y, &x) in yr.iter_mut().zip(xr) {
            *y = (x - m) * r;
        }
    });
    let mean = PoolVec::from_vec(stats.iter().map(|&(m, _)| T::of(m)).collect());
    let var = PoolVec::from_vec(stats.iter().map(|&(_, v)| T::of(v)).collect());
    (y, mean, var)
}

/// `dx = rstd · (g − mean(g) − y · mean(g · y))` per group (no `mean(g)` without
/// centring); `g` and `y` contiguous, not empty, `rstd` `[groups]`.
pub fn backward<T: NormElem>(spec: &NormSpec, g: &[T], y: &[T], rstd: &[T]) -> PoolVec<T> {
    let n = spec.count() as f64;
    let sums = per_group(spec, |k| {
        rows(g, spec, k)
            .zip(rows(y, spec, k))
            .fold((0.0, 0.0), |(s, sy), (gr, yr)| {
                let s = if spec.center {
                    s + sum2(gr, gr, |v, _| v)
                } else {
                    s
                };
                (s, sy + sum2(gr, yr, |a, b| a * b))
            })
    });
    let coef: Vec<(T, T, T)> = sums
        .iter()
        .zip(rstd)
        .map(|(&(s, sy), &r)| (T::of(s / n), T::of(sy / n), r))
        .collect();
    write_rows(spec, g, y, |k, gr, yr, dx| {
        let (mg, mgy, r) = coef[k];
        for ((d, &g), &y) in dx.iter_mut().zip(gr).zip(yr) {
            *d = (g - mg - y * mgy) * r;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(outer: usize, groups: usize, inner: usize, center: bool) -> NormSpec {
        NormSpec {
            outer,
            groups,
            inner,
            eps: 1e-5,
            center,
        }
    }

    /// Group `g`'s values of `v` by the definition of the view.
    fn group(v: &[f64], s: &NormSpec, g: usize) -> Vec<f64> {
        let mut out = vec![];
        for p in 0..s.outer {
            for i in 0..s.inner {
                out.push(v[(p * s.groups + g) * s.inner + i]);
            }
        }
        out
    }

    fn vals(len: usize, seed: u64) -> Vec<f64> {
        (0..len as u64)
            .map(|i| ((i * 2654435761 + seed * 97) % 1000) as f64 / 100.0 - 4.0)
            .collect()
    }

    #[test]
    fn forward_and_backward_match_the_definition() {
        for (o, c, i, center) in [
            (3, 4, 5, true),
            (1, 6, 17, true),
            (5, 3, 1, false),
            (2, 1, 40, false),
        ] {
            let s = spec(o, c, i, center);
            let (x, g) = (vals(o * c * i, 1), vals(o * c * i, 2));
            let (y, mean, var) = forward(&s, &x);
            let rstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + s.eps).sqrt()).collect();
            let dx = backward(&s, &g, &y, &rstd);
            let n = (o * i) as f64;
            for k in 0..c {
                let xs = group(&x, &s, k);
                let m = if center {
                    xs.iter().sum::<f64>() / n
                } else {
                    0.0
                };
                let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
                assert!((mean[k] - m).abs() < 1e-12 && (var[k] - v).abs() < 1e-12);
                let r = 1.0 / (v + s.eps).sqrt();
                let (ys, gs, dxs) = (group(&y, &s, k), group(&g, &s, k), group(&dx, &s, k));
                let mg = if center {
                    gs.iter().sum::<f64>() / n
                } else {
                    0.0
                };
                let mgy = gs.iter().zip(&ys).map(|(a, b)| a * b).sum::<f64>() / n;
                for j in 0..xs.len() {
                    assert!((ys[j] - (xs[j] - m) * r).abs() < 1e-12, "y {o} {c} {i}");
                    let want = r * (gs[j] - mg - ys[j] * mgy);
                    assert!((dxs[j] - want).abs() < 1e-12, "dx {o} {c} {i}");
                }
            }
        }
    }
}

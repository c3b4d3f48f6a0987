//! Convolution kernels: im2col + GEMM (col2im for the input gradient), one sample at a
//! time so the patch buffer stays one sample's size, samples in parallel with
//! single-threaded GEMMs (one sample: a threaded GEMM). A 1×1 convolution with stride 1
//! and no padding reads the input as its own patch matrix (no copy). 1-D convolutions
//! run as 2-D ones of height 1; 3-D ones take the composite.
//!
//! Layouts (all contiguous): input `[N, C_in, H, W]`, weight `[C_out, C_in/G, kH, kW]`,
//! output `[N, C_out, OH, OW]`. For sample `n` and group `g` the patch matrix is
//! `col [C_in/G · kH · kW, OH · OW]` (row `(c, a, b)`, column `(y, x)`), so that
//! `y[n, g] = W_g · col`, `col_grad = W_gᵀ · dy[n, g]` and `dW_g += dy[n, g] · colᵀ`.

use lamina_tensor::ConvGeometry;
use rayon::prelude::*;

use super::num::Num;
use crate::alloc::{PoolElem, PoolVec};
use crate::{gemm, par};

/// The sizes of a 1-D or 2-D convolution, as 2-D.
#[derive(Clone, Copy, Debug)]
pub struct Geo {
    n: usize,
    c_in: usize,
    c_out: usize,
    groups: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    sh: usize,
    sw: usize,
    ph: usize,
    pw: usize,
    dh: usize,
    dw: usize,
}

impl Geo {
    /// `None` for 3-D convolutions (no kernel here).
    pub fn new(g: &ConvGeometry) -> Option<Geo> {
        let s = &g.spec;
        let (n, c_in, c_out, groups) = (g.batch, g.in_channels, g.out_channels, s.groups);
        match g.input.len() {
            1 => Some(Geo {
                n,
                c_in,
                c_out,
                groups,
                h: 1,
                w: g.input[0],
                kh: 1,
                kw: g.kernel[0],
                oh: 1,
                ow: g.output[0],
                sh: 1,
                sw: s.stride[0],
                ph: 0,
                pw: s.padding[0],
                dh: 1,
                dw: s.dilation[0],
            }),
            2 => Some(Geo {
                n,
                c_in,
                c_out,
                groups,
                h: g.input[0],
                w: g.input[1],
                kh: g.kernel[0],
                kw: g.kernel[1],
                oh: g.output[0],
                ow: g.output[1],
                sh: s.stride[0],
                sw: s.stride[1],
                ph: s.padding[0],
                pw: s.padding[1],
                dh: s.dilation[0],
                dw: s.dilation[1],
            }),
            _ => None,
        }
    }
    fn cg(&self) -> usize {
        self.c_in / self.groups
    }
    fn og(&self) -> usize {
        self.c_out / self.groups
    }
    /// Output positions per channel.
    fn l(&self) -> usize {
        self.oh * self.ow
    }
    /// Input positions per channel.
    fn hw(&self) -> usize {
        self.h * self.w
    }
    /// Rows of a group's patch matrix.
    fn kk(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    /// The input is its own patch matrix: 1×1 kernel, stride 1, no padding.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.ph == 0 && self.pw == 0
    }
    /// Multiply-adds of the whole convolution (for the parallelism decision).
    fn macs(&self) -> usize {
        self.n * self.c_out * self.l() * self.kk()
    }
    /// For kernel column `b`: the output columns `lo..hi` whose input column
    /// `x · sw + b · dw − pw` lies inside the row, and that column's offset for `x = 0`.
    fn columns(&self, b: usize) -> (usize, usize, isize) {
        let x0 = (b * self.dw) as isize - self.pw as isize;
        let (s, w, ow) = (self.sw as isize, self.w as isize, self.ow as isize);
        // x · s + x0 >= 0  and  x · s + x0 < w.
        let lo = if x0 >= 0 { 0 } else { (-x0 + s - 1) / s }.min(ow);
        let hi = if w - x0 <= 0 { 0 } else { (w - x0 + s - 1) / s }.clamp(lo, ow);
        (lo as usize, hi as usize, x0)
    }
    /// The input row read by output row `y` at kernel row `a`, if inside.
    fn row(&self, y: usize, a: usize) -> Option<usize> {
        let iy = (y * self.sh + a * self.dh) as isize - self.ph as isize;
        (iy >= 0 && (iy as usize) < self.h).then_some(iy as usize)
    }
}

/// The element types with a convolution kernel.
pub trait ConvElem: Num + PoolElem {
    /// `C = A B + beta C` through the GEMM interface.
    ///
    /// # Safety
    /// As [`gemm::sgemm`]: the pointers and strides describe valid matrices, C does not
    /// alias A or B, nothing else touches C.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        sa: (isize, isize),
        b: *const Self,
        sb: (isize, isize),
        beta: Self,
        c: *mut Self,
        rsc: isize,
        threads: usize,
    );
}

impl ConvElem for f32 {
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: *const f32,
        (rsa, csa): (isize, isize),
        b: *const f32,
        (rsb, csb): (isize, isize),
        beta: f32,
        c: *mut f32,
        rsc: isize,
        threads: usize,
    ) {
        // SAFETY: forwarded contract.
        unsafe {
            gemm::sgemm(
                m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, c, rsc, 1, threads,
            )
        }
    }
}

impl ConvElem for f64 {
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: *const f64,
        (rsa, csa): (isize, isize),
        b: *const f64,
        (rsb, csb): (isize, isize),
        beta: f64,
        c: *mut f64,
        rsc: isize,
        threads: usize,
    ) {
        // SAFETY: forwarded contract.
        unsafe {
            gemm::dgemm(
                m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, c, rsc, 1, threads,
            )
        }
    }
}

/// Safe wrapper: `c [m, n] = a [m, k] · b [k, n] + beta c`, each given as a slice with
/// its strides; the extents are checked here, once per call.
#[allow(clippy::too_many_arguments)]
fn gemm<T: ConvElem>(
    (m, k, n): (usize, usize, usize),
    a: &[T],
    sa: (usize, usize),
    b: &[T],
    sb: (usize, usize),
    beta: T,
    c: &mut [T],
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |(rs, cs): (usize, usize), r: usize, q: usize| (r - 1) * rs + (q - 1) * cs;
    assert!(k == 0 || (last(sa, m, k) < a.len() && last(sb, k, n) < b.len()));
    assert!(c.len() >= m * n);
    // SAFETY: the asserts above keep every read inside `a` and `b` and every write inside
    // `c` (row-major m×n); `c` is a `&mut` borrow, so it aliases neither input.
    unsafe {
        T::gemm(
            m,
            k,
            n,
            a.as_ptr(),
            (sa.0 as isize, sa.1 as isize),
            b.as_ptr(),
            (sb.0 as isize, sb.1 as isize),
            beta,
            c.as_mut_ptr(),
            n as isize,
            threads,
        )
    }
}

/// One group of one sample as its patch matrix `col [kk, L]`.
fn im2col<T: Num>(geo: &Geo, x: &[T], col: &mut [T]) {
    let (l, hw, ow) = (geo.l(), geo.hw(), geo.ow);
    // The columns each kernel column reads depend on it alone.
    let columns: smallvec::SmallVec<[(usize, usize, isize); 16]> =
        (0..geo.kw).map(|b| geo.columns(b)).collect();
    for c in 0..geo.cg() {
        let xc = &x[c * hw..(c + 1) * hw];
        for a in 0..geo.kh {
            for (b, &(lo, hi, x0)) in columns.iter().enumerate() {
                let r = (c * geo.kh + a) * geo.kw + b;
                let row = &mut col[r * l..(r + 1) * l];
                for y in 0..geo.oh {
                    let dst = &mut row[y * ow..(y + 1) * ow];
                    let Some(iy) = geo.row(y, a) else {
                        dst.fill(T::ZERO);
                        continue;
                    };
                    let src = &xc[iy * geo.w..(iy + 1) * geo.w];
                    dst[..lo].fill(T::ZERO);
                    dst[hi..].fill(T::ZERO);
                    if lo == hi {
                        // This kernel column reads only padding (it lies wholly before or
                        // after the input, which a padding of more than the input allows),
                        // where `start` would be outside `src`.
                        continue;
                    }
                    let start = (lo as isize * geo.sw as isize + x0) as usize;
                    if geo.sw == 1 {
                        dst[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
                    } else {
                        for (j, d) in dst[lo..hi].iter_mut().enumerate() {
                            *d = src[start + j * geo.sw];
                        }
                    }
                }
            }
        }
    }
}

/// Adds a group's patch gradient `col [kk, L]` back into its input gradient `dx`.
fn col2im<T: Num>(geo: &Geo, col: &[T], dx: &mut [T]) {
    let (l, hw, ow) = (geo.l(), geo.hw(), geo.ow);
    for c in 0..geo.cg() {
        let xc = &mut dx[c * hw..(c + 1) * hw];
        for a in 0..geo.kh {
            for b in 0..geo.kw {
                let r = (c * geo.kh + a) * geo.kw + b;
                let row = &col[r * l..(r + 1) * l];
                let (lo, hi, x0) = geo.columns(b);
                if lo == hi {
                    // The kernel column reads only padding: nothing flows back.
                    continue;
                }
                for y in 0..geo.oh {
                    let Some(iy) = geo.row(y, a) else { continue };
                    let src = &row[y * ow + lo..y * ow + hi];
                    let start = (lo as isize * geo.sw as isize + x0) as usize;
                    let dst = &mut xc[iy * geo.w..(iy + 1) * geo.w];
                    if geo.sw == 1 {
                        // Contiguous: a zip the compiler vectorises.
                        for (d, &v) in dst[start..start + src.len()].iter_mut().zip(src) {
                            *d = d.add(v);
                        }
                    } else {
                        for (j, &v) in src.iter().enumerate() {
                            let d = &mut dst[start + j * geo.sw];
                            *d = d.add(v);
                        }
                    }
                }
            }
        }
    }
}

/// GEMM threads for work over `samples` samples: inside a parallel loop over samples
/// each GEMM is single-threaded; a lone sample may use the pool.
fn gemm_threads(samples: usize, macs: usize) -> usize {
    if samples == 1 && par::should_parallelize(macs) {
        par::num_threads()
    } else {
        1
    }
}

/// `y = conv(x, w)`.
pub fn forward<T: ConvElem>(geo: &Geo, x: &[T], w: &[T]) -> PoolVec<T> {
    let (l, kk, og, cg, hw) = (geo.l(), geo.kk(), geo.og(), geo.cg(), geo.hw());
    let per_out = geo.c_out * l;
    let per_in = geo.c_in * hw;
    let mut out = PoolVec::<T>::uninit_for_overwrite(geo.n * per_out);
    if per_out == 0 {
        return out;
    }
    let threads = gemm_threads(geo.n, geo.macs());
    par::for_each_chunk_mut_weighted(&mut out, per_out, kk.max(1), |start, chunk| {
        let mut col = PoolVec::<T>::uninit_for_overwrite(if geo.pointwise() { 0 } else { kk * l });
        for (j, y) in chunk.chunks_mut(per_out).enumerate() {
            let s = start / per_out + j;
            let xs = &x[s * per_in..(s + 1) * per_in];
            for g in 0..geo.groups {
                let xg = &xs[g * cg * hw..(g + 1) * cg * hw];
                let b: &[T] = if geo.pointwise() {
                    xg
                } else {
                    im2col(geo, xg, &mut col);
                    &col
                };
                let wg = &w[g * og * kk..(g + 1) * og * kk];
                let yg = &mut y[g * og * l..(g + 1) * og * l];
                gemm((og, kk, l), wg, (kk, 1), b, (l, 1), T::ZERO, yg, threads);
            }
        }
    });
    out
}

/// `dx = conv_input_grad(dy, w)`.
pub fn input_grad<T: ConvElem>(geo: &Geo, dy: &[T], w: &[T]) -> PoolVec<T> {
    let (l, kk, og, cg, hw) = (geo.l(), geo.kk(), geo.og(), geo.cg(), geo.hw());
    let per_out = geo.c_out * l;
    let per_in = geo.c_in * hw;
    // col2im adds, so the gradient starts at zero.
    let mut dx = PoolVec::<T>::zeroed(geo.n * per_in);
    if per_in == 0 {
        return dx;
    }
    let threads = gemm_threads(geo.n, geo.macs());
    let weight = (geo.macs() / (geo.n * per_in)).max(1);
    par::for_each_chunk_mut_weighted(&mut dx, per_in, weight, |start, chunk| {
        let mut col = PoolVec::<T>::uninit_for_overwrite(if geo.pointwise() { 0 } else { kk * l });
        for (j, dxs) in chunk.chunks_mut(per_in).enumerate() {
            let s = start / per_in + j;
            let dys = &dy[s * per_out..(s + 1) * per_out];
            for g in 0..geo.groups {
                let dyg = &dys[g * og * l..(g + 1) * og * l];
                // W_gᵀ: [kk, og] read from the row-major [og, kk] block.
                let wg = &w[g * og * kk..(g + 1) * og * kk];
                let dxg = &mut dxs[g * cg * hw..(g + 1) * cg * hw];
                if geo.pointwise() {
                    gemm((kk, og, l), wg, (1, kk), dyg, (l, 1), T::ZERO, dxg, threads);
                } else {
                    gemm(
                        (kk, og, l),
                        wg,
                        (1, kk),
                        dyg,
                        (l, 1),
                        T::ZERO,
                        &mut col,
                        threads,
                    );
                    col2im(geo, &col, dxg);
                }
            }
        }
    });
    dx
}

/// Samples per partial weight gradient: fixed by the batch size alone, so the sum's
/// rounding does not depend on the thread count.
const WEIGHT_GRAD_PIECES: usize = 8;

/// `dw = conv_weight_grad(x, dy)`: partial sums over fixed runs of samples, added in
/// order.
pub fn weight_grad<T: ConvElem>(geo: &Geo, x: &[T], dy: &[T]) -> PoolVec<T> {
    let (l, kk, og, cg, hw) = (geo.l(), geo.kk(), geo.og(), geo.cg(), geo.hw());
    let per_out = geo.c_out * l;
    let per_in = geo.c_in * hw;
    let len = geo.c_out * kk;
    let pieces = geo.n.clamp(1, WEIGHT_GRAD_PIECES);
    let run = geo.n.div_ceil(pieces).max(1);
    let threads = gemm_threads(run, geo.macs());
    let partial = |p: usize| -> PoolVec<T> {
        let mut dw = PoolVec::<T>::zeroed(len);
        let mut col = PoolVec::<T>::uninit_for_overwrite(if geo.pointwise() { 0 } else { kk * l });
        for s in p * run..((p + 1) * run).min(geo.n) {
            let xs = &x[s * per_in..(s + 1) * per_in];
            let dys = &dy[s * per_out..(s + 1) * per_out];
            for g in 0..geo.groups {
                let xg = &xs[g * cg * hw..(g + 1) * cg * hw];
                let b: &[T] = if geo.pointwise() {
                    xg
                } else {
                    im2col(geo, xg, &mut col);
                    &col
                };
                let dyg = &dys[g * og * l..(g + 1) * og * l];
                let dwg = &mut dw[g * og * kk..(g + 1) * og * kk];
                // dW_g [og, kk] += dy_g [og, L] · colᵀ [L, kk].
                gemm((og, l, kk), dyg, (l, 1), b, (1, l), T::ONE, dwg, threads);
            }
        }
        dw
    };
    let used = geo.n.div_ceil(run).max(1);
    let partials: Vec<PoolVec<T>> = if used > 1 && par::should_parallelize(geo.macs()) {
        (0..used).into_par_iter().map(partial).collect()
    } else {
        (0..used).map(partial).collect()
    };
    let mut it = partials.into_iter();
    let mut dw = it.next().unwrap_or_else(|| PoolVec::zeroed(len));
    for p in it {
        for (a, &b) in dw.iter_mut().zip(p.iter()) {
            *a = a.add(b);
        }
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamina_tensor::{ConvSpec, Shape};

    /// The convolution by its definition, in f64.
    fn naive(geo: &Geo, x: &[f64], w: &[f64]) -> Vec<f64> {
        let mut y = vec![0.0; geo.n * geo.c_out * geo.l()];
        for n in 0..geo.n {
            for o in 0..geo.c_out {
                let g = o / geo.og();
                for oy in 0..geo.oh {
                    for ox in 0..geo.ow {
                        let mut acc = 0.0;
                        for c in 0..geo.cg() {
                            for a in 0..geo.kh {
                                for b in 0..geo.kw {
                                    let iy = (oy * geo.sh + a * geo.dh) as isize - geo.ph as isize;
                                    let ix = (ox * geo.sw + b * geo.dw) as isize - geo.pw as isize;
                                    if iy < 0
                                        || ix < 0
                                        || iy >= geo.h as isize
                                        || ix >= geo.w as isize
                                    {
                                        continue;
                                    }
                                    let xi = ((n * geo.c_in + g * geo.cg() + c) * geo.h
                                        + iy as usize)
                                        * geo.w
                                        + ix as usize;
                                    let wi = ((o * geo.cg() + c) * geo.kh + a) * geo.kw + b;
                                    acc += x[xi] * w[wi];
                                }
                            }
                        }
                        y[((n * geo.c_out + o) * geo.oh + oy) * geo.ow + ox] = acc;
                    }
                }
            }
        }
        y
    }

    fn vals(len: usize, seed: u64) -> Vec<f64> {
        (0..len)
            .map(|i| (((i as u64 * 2654435761 + seed * 97) % 1000) as f64) / 250.0 - 2.0)
            .collect()
    }

    fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// Forward against the definition; the two gradients against it through the adjoint
    /// identities `<conv(x, w), g> = <x, input_grad(g, w)> = <w, weight_grad(x, g)>`.
    #[test]
    fn kernels_match_the_definition() {
        type Case<'a> = (
            &'a [usize],
            &'a [usize],
            &'a [usize],
            &'a [usize],
            &'a [usize],
            usize,
        );
        let cases: &[Case] = &[
            // input, weight, stride, padding, dilation, groups
            (&[2, 3, 7, 6], &[4, 3, 3, 3], &[1, 1], &[1, 1], &[1, 1], 1),
            (&[3, 4, 9, 8], &[6, 2, 3, 2], &[2, 1], &[1, 2], &[2, 3], 2),
            (&[2, 4, 5, 5], &[4, 1, 3, 3], &[2, 2], &[1, 1], &[1, 1], 4),
            (&[2, 6, 4, 5], &[3, 6, 1, 1], &[1, 1], &[0, 0], &[1, 1], 1),
            (&[1, 2, 6, 6], &[2, 2, 1, 1], &[2, 2], &[1, 0], &[1, 1], 1),
            (&[2, 3, 11], &[5, 3, 4], &[3], &[2], &[2], 1),
            (&[9, 2, 5, 4], &[3, 2, 2, 2], &[1, 1], &[0, 0], &[1, 1], 1),
            // Padding past the input: kernel columns wholly before or after it.
            (&[1, 1, 1], &[1, 1, 3], &[1], &[2], &[2], 1),
            (&[1, 2, 2, 1], &[2, 2, 2, 3], &[1, 1], &[1, 2], &[1, 2], 1),
        ];
        for &(xs, ws, s, p, d, g) in cases {
            let spec = ConvSpec::new(s, p, d, g);
            let cg = spec
                .geometry("test", &Shape::from(xs.to_vec()), &Shape::from(ws.to_vec()))
                .unwrap();
            let geo = Geo::new(&cg).unwrap();
            let x = vals(cg.input_shape().elem_count(), 1);
            let w = vals(cg.weight_shape().elem_count(), 2);
            let gy = vals(cg.output_shape().elem_count(), 3);
            let want = naive(&geo, &x, &w);
            let y = forward(&geo, &x, &w);
            for (a, b) in y.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "{xs:?} {ws:?}: {a} vs {b}");
            }
            let lhs = dot(&want, &gy);
            let dx = input_grad(&geo, &gy, &w);
            let dw = weight_grad(&geo, &x, &gy);
            assert!(
                (dot(&x, &dx) - lhs).abs() < 1e-9 * lhs.abs().max(1.0),
                "{xs:?}"
            );
            assert!(
                (dot(&w, &dw) - lhs).abs() < 1e-9 * lhs.abs().max(1.0),
                "{xs:?}"
            );
            // And element by element: dx is the column sums of the definition's Jacobian.
            let e = |i: usize, len: usize| {
                let mut v = vec![0.0; len];
                v[i] = 1.0;
                v
            };
            for i in (0..x.len()).step_by(7) {
                let want = dot(&naive(&geo, &e(i, x.len()), &w), &gy);
                assert!((dx[i] - want).abs() < 1e-9, "{xs:?} dx[{i}]");
            }
            for i in (0..w.len()).step_by(5) {
                let want = dot(&naive(&geo, &x, &e(i, w.len())), &gy);
                assert!((dw[i] - want).abs() < 1e-9, "{xs:?} dw[{i}]");
            }
        }
    }
}

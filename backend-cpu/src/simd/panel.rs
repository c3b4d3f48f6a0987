//! A small-`m` matrix product against a right operand packed once: `C = C_in + A · B`,
//! for the recurrences, whose every step multiplies a few rows of state by the same
//! recurrent weight. A general GEMM repacks that weight on every call; here it is packed
//! once per sequence ([`PackedB`]) into column panels two vectors wide, each stored row
//! after row so that the micro-kernel reads it front to back, and the product accumulates
//! onto `C_in` (the step's input projection, or the next step's incoming gradient) in the
//! registers, so there is no separate add.
//!
//! One generic body over the [`Simd`] vocabulary: AVX-512 and AVX2 instantiations, and the
//! one-lane instantiation as the scalar path (its panels are two columns wide).

use super::vector::Simd;
use super::{dispatch, Isa, Kernel};

/// A `k × n` matrix packed for [`PackedB::gemm`] on one instruction-set path: column panels
/// of `2 · lanes` columns, panel `p` holding `B(kk, p·w + j)` at `p·k·w + kk·w + j`; the
/// last panel is zero-padded.
#[derive(Clone, Debug)]
pub struct PackedB {
    isa: Isa,
    data: Vec<f32>,
    k: usize,
    n: usize,
}

/// The panel width (`2 · lanes`) of a path.
fn width(isa: Isa) -> usize {
    match isa {
        Isa::Scalar => 2,
        Isa::Avx2 => 16,
        Isa::Avx512 => 32,
    }
}

impl PackedB {
    /// Packs the `k × n` matrix `B(kk, j) = src[kk·rs + j·cs]` for `isa` (capped at what
    /// the CPU supports). Panics if an element lies outside `src`.
    pub fn pack(isa: Isa, src: &[f32], k: usize, n: usize, rs: usize, cs: usize) -> PackedB {
        let isa = isa.capped();
        let w = width(isa);
        let panels = n.div_ceil(w);
        let mut data = vec![0.0; panels * k * w];
        for (p, panel) in data
            .chunks_exact_mut((k * w).max(1))
            .enumerate()
            .take(panels)
        {
            let cols = w.min(n - p * w);
            for (kk, row) in panel.chunks_exact_mut(w).enumerate() {
                for (j, d) in row[..cols].iter_mut().enumerate() {
                    *d = src[kk * rs + (p * w + j) * cs];
                }
            }
        }
        PackedB { isa, data, k, n }
    }

    /// Rows of the packed matrix (`k`).
    pub fn rows(&self) -> usize {
        self.k
    }

    /// Columns of the packed matrix (`n`).
    pub fn cols(&self) -> usize {
        self.n
    }

    /// `C = C_in + A · B` for `m` rows, on the path the matrix was packed for: `A(i, kk)` at
    /// `a.0[i·a.1 + kk]`, `C(i, j)` at `c.0[i·c.1 + j]`, `C_in` likewise (zeros when `None`);
    /// `C` and `C_in` may not overlap (they are different slices). Panics if an element lies
    /// outside its slice.
    pub fn gemm(
        &self,
        m: usize,
        a: (&[f32], usize),
        c_in: Option<(&[f32], usize)>,
        c: (&mut [f32], usize),
    ) {
        if m == 0 || self.n == 0 {
            return;
        }
        let last = |rs: usize, cols: usize| (m - 1) * rs + cols;
        assert!(a.0.len() >= last(a.1, self.k), "A out of bounds");
        assert!(c.0.len() >= last(c.1, self.n), "C out of bounds");
        if let Some((ci, rs)) = c_in {
            assert!(ci.len() >= last(rs, self.n), "C_in out of bounds");
        }
        if self.k == 0 {
            // No panels hold anything: the product is zero.
            for i in 0..m {
                let row = &mut c.0[i * c.1..][..self.n];
                match c_in {
                    Some((ci, rs)) => row.copy_from_slice(&ci[i * rs..][..self.n]),
                    None => row.fill(0.0),
                }
            }
            return;
        }
        let k = PanelK {
            b: self,
            m,
            a,
            c_in,
            c,
        };
        dispatch(self.isa, k)
    }
}

struct PanelK<'a> {
    b: &'a PackedB,
    m: usize,
    a: (&'a [f32], usize),
    c_in: Option<(&'a [f32], usize)>,
    c: (&'a mut [f32], usize),
}

impl Kernel for PanelK<'_> {
    type Output = ();
    #[inline(always)]
    fn simd<S: Simd>(self, s: S) {
        // Rows per block: 2·R accumulators plus two panel vectors and a broadcast fit the
        // 32 AVX-512 registers with R = 8 and the 16 AVX2 ones with R = 6.
        if S::LANES >= 16 {
            run::<S, 8>(s, self)
        } else {
            run::<S, 6>(s, self)
        }
    }
    fn scalar(self) {
        run::<super::vector::Lane1, 6>(super::vector::Lane1, self)
    }
}

#[inline(always)]
fn run<S: Simd, const R: usize>(s: S, k: PanelK<'_>) {
    let w = 2 * S::LANES;
    let (kd, n) = (k.b.k, k.b.n);
    let (a, a_rs) = k.a;
    let (c, c_rs) = k.c;
    for (p, panel) in k.b.data.chunks_exact((kd * w).max(1)).enumerate() {
        let j0 = p * w;
        let cols = w.min(n - j0);
        let mut i = 0;
        while i + R <= k.m {
            block::<S, R>(
                s,
                panel,
                kd,
                (a, a_rs, i),
                k.c_in,
                (&mut *c, c_rs),
                j0,
                cols,
            );
            i += R;
        }
        // The last rows, fewer than R: one block of exactly that many.
        let rest = k.m - i;
        macro_rules! tail {
            ($($r:literal)*) => {
                match rest {
                    0 => {}
                    $($r => block::<S, $r>(s, panel, kd, (a, a_rs, i), k.c_in, (&mut *c, c_rs), j0, cols),)*
                    _ => unreachable!("fewer than R <= 8 rows remain"),
                }
            };
        }
        tail!(1 2 3 4 5 6 7);
    }
}

/// Rows `i..i + R` of one panel (columns `j0..j0 + cols`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn block<S: Simd, const R: usize>(
    s: S,
    panel: &[f32],
    kd: usize,
    (a, a_rs, i): (&[f32], usize, usize),
    c_in: Option<(&[f32], usize)>,
    (c, c_rs): (&mut [f32], usize),
    j0: usize,
    cols: usize,
) {
    let l = S::LANES;
    let full = cols == 2 * l;
    let zero = s.splat(0.0);
    let mut acc = [[zero; 2]; R];
    if let Some((ci, rs)) = c_in {
        for (r, acc) in acc.iter_mut().enumerate() {
            let row = &ci[(i + r) * rs + j0..][..cols];
            *acc = if full {
                [s.load(row), s.load(&row[l..])]
            } else {
                let (lo, hi) = row.split_at(cols.min(l));
                let v0 = if lo.len() == l {
                    s.load(lo)
                } else {
                    s.load_tail(lo, 0.0)
                };
                [v0, s.load_tail(hi, 0.0)]
            };
        }
    }
    let rows: [&[f32]; R] = std::array::from_fn(|r| &a[(i + r) * a_rs..][..kd]);
    for (kk, bk) in panel.chunks_exact(2 * l).enumerate().take(kd) {
        let b0 = s.load(bk);
        let b1 = s.load(&bk[l..]);
        for r in 0..R {
            let av = s.splat(rows[r][kk]);
            acc[r][0] = s.mul_add(av, b0, acc[r][0]);
            acc[r][1] = s.mul_add(av, b1, acc[r][1]);
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        let row = &mut c[(i + r) * c_rs + j0..][..cols];
        if full {
            let (lo, hi) = row.split_at_mut(l);
            s.store(lo, acc[0]);
            s.store(hi, acc[1]);
        } else {
            let (lo, hi) = row.split_at_mut(cols.min(l));
            if lo.len() == l {
                s.store(lo, acc[0]);
            } else {
                s.store_tail(lo, acc[0]);
            }
            if !hi.is_empty() {
                s.store_tail(hi, acc[1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic value in [-1, 1) per index.
    fn val(seed: u64, i: usize) -> f32 {
        let z = (seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .wrapping_mul(0xBF58_476D_1CE4_E5B9);
        ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// `C_in + A B` in f64, naively, for rows of stride `c_rs`.
    #[allow(clippy::too_many_arguments)]
    fn naive(
        m: usize,
        k: usize,
        n: usize,
        a: &[f32],
        a_rs: usize,
        b: &[f32],
        (rs, cs): (usize, usize),
        c_in: Option<(&[f32], usize)>,
    ) -> Vec<f64> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut acc = c_in.map_or(0.0, |(ci, s)| ci[i * s + j] as f64);
                for kk in 0..k {
                    acc += a[i * a_rs + kk] as f64 * b[kk * rs + j * cs] as f64;
                }
                out[i * n + j] = acc;
            }
        }
        out
    }

    #[test]
    fn matches_a_naive_product_on_every_path_and_edge() {
        // Rows below, at and past the row block, columns inside one panel, exactly one or
        // two, and ragged; B plain and transposed; C_in present or not; strided rows.
        for isa in Isa::ALL {
            for &(m, k, n) in &[
                (1, 1, 1),
                (3, 5, 7),
                (6, 4, 16),
                (8, 16, 32),
                (9, 33, 40),
                (16, 128, 512),
                (17, 7, 65),
                (13, 0, 9),
            ] {
                for transposed in [false, true] {
                    for with_in in [false, true] {
                        let (a_rs, c_rs) = (k + 3, n + 5);
                        let a: Vec<f32> = (0..m * a_rs).map(|i| val(1, i)).collect();
                        let b: Vec<f32> = (0..k * n).map(|i| val(2, i)).collect();
                        let ci: Vec<f32> = (0..m * (n + 2)).map(|i| val(3, i)).collect();
                        let (rs, cs) = if transposed { (1, k) } else { (n, 1) };
                        let packed = PackedB::pack(isa, &b, k, n, rs, cs);
                        assert_eq!((packed.rows(), packed.cols()), (k, n));
                        let c_in = with_in.then_some((&ci[..], n + 2));
                        let mut c = vec![f32::NAN; m * c_rs];
                        packed.gemm(m, (&a, a_rs), c_in, (&mut c, c_rs));
                        let want = naive(m, k, n, &a, a_rs, &b, (rs, cs), c_in);
                        for i in 0..m {
                            for j in 0..n {
                                let (got, w) = (c[i * c_rs + j] as f64, want[i * n + j]);
                                assert!(
                                    (got - w).abs() <= 1e-5 * (1.0 + k as f64),
                                    "{isa:?} m{m} k{k} n{n} t{transposed} in{with_in} \
                                     ({i},{j}): {got} vs {w}"
                                );
                            }
                            // The padding between rows of C is never written.
                            assert!(c[i * c_rs + n..(i + 1) * c_rs].iter().all(|v| v.is_nan()));
                        }
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "C out of bounds")]
    fn a_short_output_is_refused_before_any_write() {
        let packed = PackedB::pack(Isa::Scalar, &[1.0; 6], 2, 3, 3, 1);
        let mut c = vec![0.0; 5];
        packed.gemm(2, (&[1.0; 4], 2), None, (&mut c, 3));
    }
}

//! Int8 GEMM for quantised inference: `C = A · B` with u8 activations `A`, i8 weights `B`
//! packed once ([`PackedI8`]), exact i32 accumulators `C`, and [`requantize`] /
//! [`requantize_u8`] to turn those into real (or re-quantised) outputs, as in PyTorch's
//! fbgemm-backed quantised `Linear`.
//!
//! Three paths, chosen like the [`crate::simd`] ones ([`isa()`], `LAMINA_SIMD`), all bit-exact
//! with plain i32 arithmetic for every u8 × i8 input (sums wrap modulo 2^32 on every path
//! alike, which cannot happen below k = 65,793):
//! - scalar: plain loops over the row-major weight, the reference and portable fallback;
//! - AVX2 (`Isa::Avx2`, and `Isa::Avx512` on CPUs without VNNI): `vpmaddubsw` is *not* used,
//!   since it saturates when two u8 × i8 products pass 32,767 (255 · 127 · 2 does) and the
//!   usual fix, 7-bit activations (fbgemm's `reduce_range`), changes the model's numerics.
//!   The weights are sign-extended to i16 pairs instead and multiplied by u8 pairs
//!   zero-extended to i16 with `vpmaddwd`, whose pair sums (at most 65,280) fit in i32;
//! - AVX-512 VNNI (`Isa::Avx512` when the CPU has AVX512-VNNI and AVX512-BW):
//!   `vpdpbusd`, four u8 × i8 products summed straight into each i32 lane, no saturation.
//!
//! The SIMD paths share one blocked driver: `B` is stored in column panels of `NR` columns,
//! each a run of k-groups (`G` consecutive k of one column side by side, the width of one
//! i32 lane's products); rows of `A` are packed per `MC × KC` block into the same groups, one
//! 32-bit word per row and group, so the micro-kernel broadcasts a word and multiplies it
//! against `NR / lanes` vector loads, holding an `MR × NR` tile of `C` in registers.

use std::ops::Range;

use crate::par;
use crate::simd::{isa, Isa};

/// The `k` extent of one packed block of `A` (a multiple of every path's group): one `B`
/// panel's block (`KC × NR` bytes) then stays in L1 while the row tiles pass over it.
const KC: usize = 512;
/// Rows of `A` packed at once: `MC × KC` bytes of packed `A` stay in L2.
const MC: usize = 128;

/// The kernel a packed matrix was laid out for. Only [`Path::for_isa`] makes one, and only
/// after detecting the instructions it needs: that is what the `// SAFETY:` comments on the
/// SIMD calls rely on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    Scalar,
    Avx2,
    Vnni,
}

impl Path {
    /// The best path `isa` allows on this CPU.
    fn for_isa(isa: Isa) -> Path {
        match Ord::min(isa, Isa::best_supported()) {
            Isa::Scalar => Path::Scalar,
            Isa::Avx512 if vnni_detected() => Path::Vnni,
            // `Isa::Avx2` and `Isa::Avx512` are only reported after AVX2 was detected.
            Isa::Avx2 | Isa::Avx512 => Path::Avx2,
        }
    }

    /// `(NR, G)`: panel width and k-group; the scalar path keeps the row-major matrix, one
    /// panel `n` wide.
    fn panel(self, n: usize) -> (usize, usize) {
        match self {
            Path::Scalar => (n.max(1), 1),
            Path::Avx2 => (AVX2_NR, 2),
            Path::Vnni => (VNNI_NR, 4),
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn vnni_detected() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vnni")
}

#[cfg(not(target_arch = "x86_64"))]
fn vnni_detected() -> bool {
    false
}

/// `B(kk, j)` (`k × n`, i8) packed once for [`PackedI8::gemm`] on one path, with its column
/// sums `Σ_kk B(kk, j)` for the zero-point correction.
///
/// ```
/// use lamina_backend_cpu::qgemm::PackedI8;
/// // PyTorch's Linear weight is [out, in] = [n, k]: B = W^T, so rs = 1, cs = k.
/// let w: [i8; 6] = [1, -2, 3, 4, 5, -6]; // n = 2, k = 3
/// let b = PackedI8::pack(lamina_backend_cpu::simd::isa(), &w, 3, 2, 1, 3);
/// let mut c = [0i32; 2];
/// b.gemm(&[10, 20, 30], 1, &mut c);
/// assert_eq!(c, [10 - 40 + 90, 40 + 100 - 180]);
/// assert_eq!(b.col_sums(), &[2, 3]);
/// ```
#[derive(Clone, Debug)]
pub struct PackedI8 {
    path: Path,
    k: usize,
    n: usize,
    /// Panel `p`, group `g`, panel column `jj`, member `t` at `((p·⌈k/G⌉ + g)·NR + jj)·G + t`,
    /// holding `B(g·G + t, p·NR + jj)`, zero past `k` and `n`.
    data: Vec<i8>,
    col_sums: Vec<i32>,
}

impl PackedI8 {
    /// Packs the row-major `k × n` matrix `b` for [`isa()`]. Panics if `b.len() != k · n`.
    pub fn new(b: &[i8], k: usize, n: usize) -> PackedI8 {
        assert_eq!(
            b.len(),
            k * n,
            "PackedI8::new: b has {} elements, not {k} x {n}",
            b.len()
        );
        PackedI8::pack(isa(), b, k, n, n, 1)
    }

    /// Packs `B(kk, j) = src[kk·rs + j·cs]` (`k × n`) for `isa`, capped at what the CPU
    /// supports. Panics if an element lies outside `src`.
    pub fn pack(isa: Isa, src: &[i8], k: usize, n: usize, rs: usize, cs: usize) -> PackedI8 {
        let path = Path::for_isa(isa);
        let (nr, g) = path.panel(n);
        let kg = k.div_ceil(g);
        let mut data = vec![0i8; n.div_ceil(nr) * kg * nr * g];
        let mut col_sums = vec![0i32; n];
        for kk in 0..k {
            for (j, sum) in col_sums.iter_mut().enumerate() {
                let v = src[kk * rs + j * cs];
                *sum = sum.wrapping_add(v as i32);
                data[(((j / nr) * kg + kk / g) * nr + j % nr) * g + kk % g] = v;
            }
        }
        PackedI8 {
            path,
            k,
            n,
            data,
            col_sums,
        }
    }

    /// Rows of `B` (`k`).
    pub fn rows(&self) -> usize {
        self.k
    }

    /// Columns of `B` (`n`).
    pub fn cols(&self) -> usize {
        self.n
    }

    /// `Σ_kk B(kk, j)` for each column `j` (wrapping).
    pub fn col_sums(&self) -> &[i32] {
        &self.col_sums
    }

    /// The path the matrix was packed for: `Avx512` only where the CPU has VNNI.
    pub fn isa(&self) -> Isa {
        match self.path {
            Path::Scalar => Isa::Scalar,
            Path::Avx2 => Isa::Avx2,
            Path::Vnni => Isa::Avx512,
        }
    }

    /// `C = A · B`: `A` row-major `m × k` (u8), `C` row-major `m × n` (i32, overwritten),
    /// `C(i, j) = Σ_kk A(i, kk) · B(kk, j)` exactly (wrapping modulo 2^32 past k = 65,793).
    /// Parallel over row blocks, or over column panels when `m` is small, once the product
    /// is large. Panics unless `a.len() == m · k` and `c.len() == m · n`.
    pub fn gemm(&self, a: &[u8], m: usize, c: &mut [i32]) {
        let (k, n) = (self.k, self.n);
        assert_eq!(
            a.len(),
            m * k,
            "qgemm: a has {} elements, not {m} x {k}",
            a.len()
        );
        assert_eq!(
            c.len(),
            m * n,
            "qgemm: c has {} elements, not {m} x {n}",
            c.len()
        );
        if m == 0 || n == 0 {
            return;
        }
        if k == 0 {
            c.fill(0);
            return;
        }
        match self.path {
            Path::Scalar => scalar_gemm(self, a, c),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Path::Avx2` exists only where AVX2 was detected (`Path::for_isa`).
            Path::Avx2 => blocked(unsafe { x86::Avx2::new_unchecked() }, self, a, m, c),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Path::Vnni` exists only where AVX-512F, BW and VNNI were detected.
            Path::Vnni => blocked(unsafe { x86::Vnni::new_unchecked() }, self, a, m, c),
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("SIMD paths are only chosen on x86-64"),
        }
    }
}

/// `C = A · B` with `B` row-major `k × n` (i8), packed on [`isa()`] for this one call.
/// Prefer [`PackedI8`] when `B` is reused (weights are).
///
/// ```
/// let mut c = [0i32; 1];
/// lamina_backend_cpu::qgemm::gemm_u8i8(1, 2, 1, &[255, 255], &[-128, -128], &mut c);
/// assert_eq!(c, [-65280]);
/// ```
pub fn gemm_u8i8(m: usize, k: usize, n: usize, a: &[u8], b: &[i8], c: &mut [i32]) {
    PackedI8::new(b, k, n).gemm(a, m, c)
}

/// Cost of one output element of a `k`-long int8 dot product in [`par`]'s units (a cheap f32
/// map element): a vector instruction does 16 to 64 of these multiply-adds.
fn weight(k: usize) -> usize {
    (k / 16).max(1)
}

/// The scalar path: `C` row by row, each row a sum of scaled rows of `B`, which the compiler
/// vectorises; parallel over rows.
fn scalar_gemm(p: &PackedI8, a: &[u8], c: &mut [i32]) {
    let (k, n) = (p.k, p.n);
    par::for_each_chunk_mut_weighted(c, n, weight(k), |start, chunk| {
        let a = &a[start / n * k..];
        for (arow, crow) in a.chunks_exact(k).zip(chunk.chunks_exact_mut(n)) {
            crow.fill(0);
            for (&x, brow) in arow.iter().zip(p.data.chunks_exact(n)) {
                let x = x as i32;
                for (cj, &bj) in crow.iter_mut().zip(brow) {
                    *cj = cj.wrapping_add(x * bj as i32);
                }
            }
        }
    });
}

/// A SIMD micro-kernel; a value is proof that the CPU can run it.
trait Micro: Copy + Send + Sync {
    /// Rows of the register tile.
    const MR: usize;
    /// Columns of the register tile (the panel width).
    const NR: usize;
    /// Consecutive k per 32-bit word of packed `A`.
    const G: usize;
    /// The packed word for `A(i, g·G .. g·G + G)` (the unused bytes of `a` are zero).
    fn word(a: [u8; 4]) -> u32;
    /// `C(r, j) (+)= Σ_{g < groups} Σ_t A(r, g·G + t) · B(g·G + t, j)` for `r < rows`,
    /// `j < NR`: `a` holds word `(g, r)` at `g·MR + r`, `b` one panel's groups, `C(r, j)` is
    /// `c[r·ldc + j]`, added to when `accumulate`, else overwritten. Panics if a slice is
    /// short or `rows` is not in `1..=MR`.
    #[allow(clippy::too_many_arguments)]
    fn tile(
        self,
        rows: usize,
        groups: usize,
        a: &[u32],
        b: &[i8],
        c: &mut [i32],
        ldc: usize,
        accumulate: bool,
    );
}

/// The SIMD paths' driver: row blocks of `C` in parallel when `m` is large enough to share,
/// otherwise column panels, each task writing its own buffer.
fn blocked<M: Micro>(micro: M, p: &PackedI8, a: &[u8], m: usize, c: &mut [i32]) {
    let (k, n) = (p.k, p.n);
    let panels = n.div_ceil(M::NR);
    let threads = par::num_threads();
    if m >= 2 * M::MR * threads || panels < 2 || !par::should_parallelize(m * n * weight(k)) {
        par::for_each_chunk_mut_weighted(c, M::MR * n, weight(k), |start, chunk| {
            let i0 = start / n;
            let rows = chunk.len() / n;
            block(micro, p, &a[i0 * k..(i0 + rows) * k], 0..panels, chunk, n);
        });
        return;
    }
    let per = panels.div_ceil(4 * threads);
    let mut tasks: Vec<(Range<usize>, Vec<i32>)> = (0..panels)
        .step_by(per)
        .map(|p0| {
            let ps = p0..panels.min(p0 + per);
            let width = (ps.end * M::NR).min(n) - p0 * M::NR;
            (ps, vec![0; m * width])
        })
        .collect();
    let task_weight = m * per * M::NR * weight(k);
    par::for_each_chunk_mut_weighted(&mut tasks, 1, task_weight, |_, chunk| {
        for (ps, out) in chunk {
            let width = out.len() / m;
            block(micro, p, a, ps.clone(), out, width);
        }
    });
    for (ps, out) in &tasks {
        let (j0, width) = (ps.start * M::NR, out.len() / m);
        for (crow, orow) in c.chunks_exact_mut(n).zip(out.chunks_exact(width)) {
            crow[j0..j0 + width].copy_from_slice(orow);
        }
    }
}

/// `C = A · B` restricted to column panels `panels`: `a` is `rows × k` row-major, `C(i, j)`
/// (for `j` from the first panel's first column) at `c[i·ldc + j]`.
fn block<M: Micro>(
    micro: M,
    p: &PackedI8,
    a: &[u8],
    panels: Range<usize>,
    c: &mut [i32],
    ldc: usize,
) {
    let (k, n) = (p.k, p.n);
    let (mr, nr, g) = (M::MR, M::NR, M::G);
    let m = a.len() / k;
    let kg = k.div_ceil(g);
    let kcg = (KC / g).min(kg);
    let j0 = panels.start * nr;
    let mut apack = vec![0u32; MC.min(m).div_ceil(mr) * mr * kcg];
    // Partial panels go through this buffer: the kernel always writes `NR` columns.
    let mut edge = vec![0i32; mr * nr];
    for i0 in (0..m).step_by(MC) {
        let rows = MC.min(m - i0);
        for g0 in (0..kg).step_by(kcg) {
            let gs = kcg.min(kg - g0);
            pack_a::<M>(&a[i0 * k..(i0 + rows) * k], k, g0, gs, &mut apack);
            let accumulate = g0 > 0;
            for pnl in panels.clone() {
                let cols = nr.min(n - pnl * nr);
                let b = &p.data[(pnl * kg + g0) * nr * g..][..gs * nr * g];
                for (t, at) in apack
                    .chunks_exact(gs * mr)
                    .take(rows.div_ceil(mr))
                    .enumerate()
                {
                    let r = mr.min(rows - t * mr);
                    let off = (i0 + t * mr) * ldc + pnl * nr - j0;
                    if cols == nr {
                        micro.tile(r, gs, at, b, &mut c[off..], ldc, accumulate);
                        continue;
                    }
                    for i in (0..r).filter(|_| accumulate) {
                        edge[i * nr..][..cols].copy_from_slice(&c[off + i * ldc..][..cols]);
                    }
                    micro.tile(r, gs, at, b, &mut edge, nr, accumulate);
                    for i in 0..r {
                        c[off + i * ldc..][..cols].copy_from_slice(&edge[i * nr..][..cols]);
                    }
                }
            }
        }
    }
}

/// Packs groups `g0 .. g0 + gs` of the row-major `rows × k` matrix `a` into `MR`-row tiles,
/// word `(g, r)` of tile `t` at `(t·gs + g)·MR + r`; bytes past `k` are zero.
fn pack_a<M: Micro>(a: &[u8], k: usize, g0: usize, gs: usize, out: &mut [u32]) {
    let (mr, g) = (M::MR, M::G);
    for (t, rows) in a.chunks(mr * k).enumerate() {
        let tile = &mut out[t * gs * mr..][..gs * mr];
        for (r, row) in rows.chunks_exact(k).enumerate() {
            for (gi, word) in tile.iter_mut().skip(r).step_by(mr).enumerate() {
                let kk = (g0 + gi) * g;
                let mut bytes = [0u8; 4];
                let take = g.min(k - kk);
                bytes[..take].copy_from_slice(&row[kk..kk + take]);
                *word = M::word(bytes);
            }
        }
    }
}

/// Register tile and panel sizes of the SIMD paths (x86-64 only, but named everywhere so
/// [`Path::panel`] reads the same on every target).
const AVX2_MR: usize = 4;
const AVX2_NV: usize = 2;
const AVX2_NR: usize = 8 * AVX2_NV;
const VNNI_MR: usize = 8;
const VNNI_NV: usize = 3;
const VNNI_NR: usize = 16 * VNNI_NV;

// The AVX-512 intrinsics are stable from Rust 1.89, this crate's minimum (see `simd`).
#[cfg(target_arch = "x86_64")]
#[clippy::msrv = "1.89"]
mod x86;

mod requant;
pub use requant::{requantize, requantize_u8, Requant};

#[cfg(test)]
mod tests;

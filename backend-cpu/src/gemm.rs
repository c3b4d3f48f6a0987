//! The backend's single GEMM entry point, `C = alpha A B + beta C` over arbitrary strides.
//!
//! Two implementations sit behind [`sgemm`]/[`dgemm`], both taking strides directly so that
//! transposed or otherwise strided operands are never copied:
//! - `matrixmultiply`: portable, always available; its threading is process-global
//!   (`MATMUL_NUM_THREADS`, default: physical cores), so the `threads` argument does not apply.
//! - the `gemm` crate's real kernels, `gemm-f32` and `gemm-f64` (x86-64 only, built with their
//!   AVX-512 `x86-v4` kernels, dispatching at run time): parallelised on rayon with the
//!   caller's thread count.
//!
//! The default is chosen per CPU from measurements (see [`GemmImpl::default_for_cpu`]); the
//! environment variable `LAMINA_GEMM=matrixmultiply|gemm` forces one. The BLAS edge cases are
//! handled here, identically for both: nothing is read from A or B when `k == 0` or
//! `alpha == 0`, and with `beta == 0` C is overwritten without being read, so NaN or garbage
//! in C never leaks into the result.

use std::sync::OnceLock;

/// Below this many multiply-adds (`m * n * k`) the `gemm` crate runs single-threaded: the
/// thread hand-off costs more than the split saves on smaller products (`BENCHMARKS.md`).
pub const GEMM_PAR_MIN_WORK: usize = 128 * 128 * 128;

/// A GEMM implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GemmImpl {
    /// The `matrixmultiply` crate.
    MatrixMultiply,
    /// The `gemm` crate (x86-64 builds only).
    Gemm,
}

impl GemmImpl {
    /// Lower-case name, as accepted by `LAMINA_GEMM`.
    pub fn name(self) -> &'static str {
        match self {
            GemmImpl::MatrixMultiply => "matrixmultiply",
            GemmImpl::Gemm => "gemm",
        }
    }

    /// Parses a `LAMINA_GEMM` value (case-insensitive).
    pub fn from_name(name: &str) -> Option<GemmImpl> {
        [GemmImpl::MatrixMultiply, GemmImpl::Gemm]
            .into_iter()
            .find(|g| g.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Whether this build contains the implementation.
    pub fn is_available(self) -> bool {
        match self {
            GemmImpl::MatrixMultiply => true,
            GemmImpl::Gemm => cfg!(target_arch = "x86_64"),
        }
    }

    /// The faster implementation on this CPU, by measurement (`BENCHMARKS.md`): the `gemm`
    /// crate on x86-64 with AVX-512F, matrixmultiply elsewhere (on AVX2-only CPUs it was level
    /// or ahead).
    pub fn default_for_cpu() -> GemmImpl {
        if GemmImpl::Gemm.is_available() && has_fast_gemm_kernels() {
            GemmImpl::Gemm
        } else {
            GemmImpl::MatrixMultiply
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn has_fast_gemm_kernels() -> bool {
    is_x86_feature_detected!("avx512f")
}

#[cfg(not(target_arch = "x86_64"))]
fn has_fast_gemm_kernels() -> bool {
    false
}

/// The implementation [`sgemm`] and [`dgemm`] use: `LAMINA_GEMM` if set to an available one,
/// else [`GemmImpl::default_for_cpu`]. Decided on first use.
pub fn selected() -> GemmImpl {
    static CHOICE: OnceLock<GemmImpl> = OnceLock::new();
    *CHOICE.get_or_init(|| {
        let default = GemmImpl::default_for_cpu();
        match std::env::var("LAMINA_GEMM") {
            Ok(v) if !v.trim().is_empty() => match GemmImpl::from_name(&v) {
                Some(g) if g.is_available() => g,
                _ => {
                    eprintln!(
                        "lamina: ignoring LAMINA_GEMM={v:?} (expected matrixmultiply or gemm, \
                         available in this build); using {}",
                        default.name()
                    );
                    default
                }
            },
            _ => default,
        }
    })
}

/// Name of the implementation in use, for benchmark reports.
pub fn gemm_impl() -> &'static str {
    selected().name()
}

/// Element types with a GEMM.
trait Elem: Copy + PartialEq + 'static {
    const ZERO: Self;
    const ONE: Self;
    fn mul(self, other: Self) -> Self;
    /// `matrixmultiply`'s routine for this type.
    ///
    /// # Safety
    /// As [`sgemm`], with `m, k, n > 0`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn matrixmultiply(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
    /// The `gemm-f32`/`gemm-f64` kernel for this type (chosen for the CPU at first use).
    #[cfg(target_arch = "x86_64")]
    fn gemm_crate_fn() -> GemmCrateFn<Self>;
}

/// The `gemm` family's kernel signature: `m, n, k, dst, dst_cs, dst_rs, read_dst, lhs,
/// lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs, alpha, beta, conj_dst, conj_lhs, conj_rhs,
/// parallelism`, computing `dst = alpha * dst + beta * lhs * rhs`.
#[cfg(target_arch = "x86_64")]
type GemmCrateFn<T> = unsafe fn(
    usize,
    usize,
    usize,
    *mut T,
    isize,
    isize,
    bool,
    *const T,
    isize,
    isize,
    *const T,
    isize,
    isize,
    T,
    T,
    bool,
    bool,
    bool,
    gemm_common::Parallelism,
);

impl Elem for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    fn mul(self, other: f32) -> f32 {
        self * other
    }
    unsafe fn matrixmultiply(
        m: usize,
        k: usize,
        n: usize,
        alpha: f32,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        csb: isize,
        beta: f32,
        c: *mut f32,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded contract (see `sgemm`): A, B, C valid at every strided position,
        // C positions distinct and disjoint from A and B — exactly what matrixmultiply needs.
        unsafe {
            matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
        }
    }
    #[cfg(target_arch = "x86_64")]
    fn gemm_crate_fn() -> GemmCrateFn<f32> {
        gemm_f32::gemm::f32::get_gemm_fn()
    }
}

impl Elem for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    fn mul(self, other: f64) -> f64 {
        self * other
    }
    unsafe fn matrixmultiply(
        m: usize,
        k: usize,
        n: usize,
        alpha: f64,
        a: *const f64,
        rsa: isize,
        csa: isize,
        b: *const f64,
        rsb: isize,
        csb: isize,
        beta: f64,
        c: *mut f64,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded contract (see `dgemm`), which is what matrixmultiply requires.
        unsafe {
            matrixmultiply::dgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
        }
    }
    #[cfg(target_arch = "x86_64")]
    fn gemm_crate_fn() -> GemmCrateFn<f64> {
        gemm_f64::gemm::f64::get_gemm_fn()
    }
}

/// `C = alpha * A * B + beta * C` in f32, on [`selected()`].
///
/// `A` is `m x k` with element `(i, p)` at `a + i*rsa + p*csa`, `B` is `k x n` (`b + p*rsb +
/// j*csb`), `C` is `m x n` (`c + i*rsc + j*csc`); strides are in elements and may be negative
/// (A and B may also use zero strides to broadcast). Any of `m`, `k`, `n` may be 0: with
/// `m == 0 || n == 0` nothing happens; with `k == 0` or `alpha == 0`, `C = beta * C` and A, B
/// are not read; with `beta == 0`, C is written without being read. `threads` caps the `gemm`
/// crate's rayon parallelism (0 or 1: single-threaded); matrixmultiply ignores it.
///
/// # Safety
/// - `a` (resp. `b`) must be valid for reads at every position above when `m, k > 0` (resp.
///   `k, n > 0`) and `alpha != 0`.
/// - `c` must be valid for writes (and reads, when `beta != 0`) at every position above, those
///   positions must be distinct (no zero or overlapping strides) and must not overlap A or B.
/// - Nothing else may access C during the call.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    beta: f32,
    c: *mut f32,
    rsc: isize,
    csc: isize,
    threads: usize,
) {
    // SAFETY: the caller upholds `sgemm_with`'s contract, which is this function's.
    unsafe {
        sgemm_with(
            selected(),
            m,
            k,
            n,
            alpha,
            a,
            rsa,
            csa,
            b,
            rsb,
            csb,
            beta,
            c,
            rsc,
            csc,
            threads,
        )
    }
}

/// [`sgemm`] on a given implementation (falls back to matrixmultiply if `imp` is not in this
/// build). For tests and benchmarks.
///
/// # Safety
/// As [`sgemm`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm_with(
    imp: GemmImpl,
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    beta: f32,
    c: *mut f32,
    rsc: isize,
    csc: isize,
    threads: usize,
) {
    // SAFETY: the caller upholds the contract documented on `sgemm`, which `gemm_any` shares.
    unsafe {
        gemm_any(
            imp, m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc, threads,
        )
    }
}

/// `C = alpha * A * B + beta * C` in f64, on [`selected()`]. Same conventions as [`sgemm`].
///
/// # Safety
/// As [`sgemm`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn dgemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f64,
    a: *const f64,
    rsa: isize,
    csa: isize,
    b: *const f64,
    rsb: isize,
    csb: isize,
    beta: f64,
    c: *mut f64,
    rsc: isize,
    csc: isize,
    threads: usize,
) {
    // SAFETY: the caller upholds `dgemm_with`'s contract, which is this function's.
    unsafe {
        dgemm_with(
            selected(),
            m,
            k,
            n,
            alpha,
            a,
            rsa,
            csa,
            b,
            rsb,
            csb,
            beta,
            c,
            rsc,
            csc,
            threads,
        )
    }
}

/// [`dgemm`] on a given implementation. For tests and benchmarks.
///
/// # Safety
/// As [`sgemm`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn dgemm_with(
    imp: GemmImpl,
    m: usize,
    k: usize,
    n: usize,
    alpha: f64,
    a: *const f64,
    rsa: isize,
    csa: isize,
    b: *const f64,
    rsb: isize,
    csb: isize,
    beta: f64,
    c: *mut f64,
    rsc: isize,
    csc: isize,
    threads: usize,
) {
    // SAFETY: the caller upholds the contract documented on `sgemm`, which `gemm_any` shares.
    unsafe {
        gemm_any(
            imp, m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc, threads,
        )
    }
}

/// # Safety
/// As [`sgemm`].
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_any<T: Elem>(
    imp: GemmImpl,
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    a: *const T,
    rsa: isize,
    csa: isize,
    b: *const T,
    rsb: isize,
    csb: isize,
    beta: T,
    c: *mut T,
    rsc: isize,
    csc: isize,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 || alpha == T::ZERO {
        // SAFETY: C's positions are valid per the caller's contract.
        unsafe { scale(m, n, beta, c, rsc, csc) };
        return;
    }
    match imp {
        #[cfg(target_arch = "x86_64")]
        GemmImpl::Gemm => {
            let par = if threads > 1 && m.saturating_mul(n).saturating_mul(k) >= GEMM_PAR_MIN_WORK {
                gemm_common::Parallelism::Rayon(threads)
            } else {
                gemm_common::Parallelism::None
            };
            // The gemm kernels compute dst = alpha * dst + beta * lhs * rhs: BLAS's alpha and
            // beta swap places, and strides come column-stride first. They want a
            // column-major-ish destination and positive strides: a row-major C is computed
            // as C^T = B^T A^T, and negative strides are flipped (what the `gemm` crate's
            // front end does; we call `gemm-f32`/`gemm-f64` directly to leave its
            // complex-number kernels out of the build).
            let (m, n, mut a, mut rsa, mut csa, mut b, mut rsb, mut csb, mut rsc, mut csc) =
                if csc.abs() < rsc.abs() {
                    (n, m, b, csb, rsb, a, csa, rsa, csc, rsc)
                } else {
                    (m, n, a, rsa, csa, b, rsb, csb, rsc, csc)
                };
            let mut c = c;
            // Each flip re-bases a pointer at the far end of its (valid) range, so the
            // same elements are addressed in reverse order.
            if rsc < 0 {
                c = c.wrapping_offset((m - 1) as isize * rsc);
                rsc = -rsc;
                a = a.wrapping_offset((m - 1) as isize * rsa);
                rsa = -rsa;
            }
            if csc < 0 {
                c = c.wrapping_offset((n - 1) as isize * csc);
                csc = -csc;
                b = b.wrapping_offset((n - 1) as isize * csb);
                csb = -csb;
            }
            if csa < 0 {
                a = a.wrapping_offset((k - 1) as isize * csa);
                csa = -csa;
                b = b.wrapping_offset((k - 1) as isize * rsb);
                rsb = -rsb;
            }
            // SAFETY: m, n, k > 0 and the caller guarantees A, B, C valid at every strided
            // position, C positions distinct and disjoint from A and B (the transposed view
            // addresses the same elements); with `read_dst == false` the kernel never reads
            // C, matching the `beta == 0` promise.
            unsafe {
                T::gemm_crate_fn()(
                    m,
                    n,
                    k,
                    c,
                    csc,
                    rsc,
                    beta != T::ZERO,
                    a,
                    csa,
                    rsa,
                    b,
                    csb,
                    rsb,
                    beta,
                    alpha,
                    false,
                    false,
                    false,
                    par,
                )
            }
        }
        _ => {
            // SAFETY: m, k, n > 0 and the caller's contract is matrixmultiply's.
            unsafe {
                T::matrixmultiply(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
            }
        }
    }
}

/// `C = beta * C`, writing zeros without reading when `beta == 0`.
///
/// # Safety
/// `c` valid for reads and writes at `c + i*rsc + j*csc` for `i < m`, `j < n`.
unsafe fn scale<T: Elem>(m: usize, n: usize, beta: T, c: *mut T, rsc: isize, csc: isize) {
    if beta == T::ONE {
        return;
    }
    for i in 0..m {
        for j in 0..n {
            let at = c.wrapping_offset(i as isize * rsc + j as isize * csc);
            // SAFETY: `at` is one of C's positions, valid per this function's contract.
            unsafe {
                *at = if beta == T::ZERO {
                    T::ZERO
                } else {
                    (*at).mul(beta)
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A strided matrix in its own buffer.
    struct Mat<T> {
        data: Vec<T>,
        offset: usize,
        rs: isize,
        cs: isize,
    }

    #[derive(Clone, Copy, Debug)]
    enum Layout {
        RowMajor,
        ColMajor,
        /// Row-major with padding between rows and a negative column stride.
        Odd,
    }

    fn mat(
        rows: usize,
        cols: usize,
        layout: Layout,
        fill: impl Fn(usize, usize) -> f64,
    ) -> Mat<f64> {
        let (rs, cs, offset, size) = match layout {
            Layout::RowMajor => (cols as isize, 1, 0, rows * cols),
            Layout::ColMajor => (1, rows as isize, 0, rows * cols),
            Layout::Odd => {
                let ld = cols + 3;
                (ld as isize, -1, cols.saturating_sub(1), rows * ld + 1)
            }
        };
        let mut data = vec![f64::NAN; size.max(1)];
        for i in 0..rows {
            for j in 0..cols {
                data[idx(offset, rs, cs, i, j)] = fill(i, j);
            }
        }
        Mat {
            data,
            offset,
            rs,
            cs,
        }
    }

    fn idx(offset: usize, rs: isize, cs: isize, i: usize, j: usize) -> usize {
        (offset as isize + i as isize * rs + j as isize * cs) as usize
    }

    fn get(m: &Mat<f64>, i: usize, j: usize) -> f64 {
        m.data[idx(m.offset, m.rs, m.cs, i, j)]
    }

    fn val(seed: usize, i: usize, j: usize) -> f64 {
        (((i * 31 + j * 17 + seed * 7) % 23) as f64 - 11.0) / 8.0
    }

    fn impls() -> Vec<GemmImpl> {
        [GemmImpl::MatrixMultiply, GemmImpl::Gemm]
            .into_iter()
            .filter(|g| {
                if !g.is_available() {
                    eprintln!("note: skipping {}: not in this build", g.name());
                }
                g.is_available()
            })
            .collect()
    }

    /// Runs one case on both precisions and every implementation, against an f64 triple loop.
    #[allow(clippy::too_many_arguments)]
    fn check(
        m: usize,
        k: usize,
        n: usize,
        la: Layout,
        lb: Layout,
        lc: Layout,
        alpha: f64,
        beta: f64,
    ) {
        let a = mat(m, k, la, |i, j| val(1, i, j));
        let b = mat(k, n, lb, |i, j| val(2, i, j));
        // beta == 0 must ignore C entirely, NaN included.
        let c0 = mat(
            m,
            n,
            lc,
            |i, j| if beta == 0.0 { f64::NAN } else { val(3, i, j) },
        );
        for imp in impls() {
            for threads in [1, 2] {
                let mut c = Mat {
                    data: c0.data.clone(),
                    ..c0
                };
                let ap = a.data.as_ptr().wrapping_add(a.offset);
                let bp = b.data.as_ptr().wrapping_add(b.offset);
                let cp = c.data.as_mut_ptr().wrapping_add(c.offset);
                // SAFETY: `mat` built each buffer to hold every strided position of its matrix
                // (offset makes the negative strides land inside), and C is its own buffer.
                unsafe {
                    dgemm_with(
                        imp, m, k, n, alpha, ap, a.rs, a.cs, bp, b.rs, b.cs, beta, cp, c.rs, c.cs,
                        threads,
                    )
                };
                let af: Vec<f32> = a.data.iter().map(|&x| x as f32).collect();
                let bf: Vec<f32> = b.data.iter().map(|&x| x as f32).collect();
                let mut cf: Vec<f32> = c0.data.iter().map(|&x| x as f32).collect();
                // SAFETY: same buffers and strides as above, converted to f32.
                unsafe {
                    sgemm_with(
                        imp,
                        m,
                        k,
                        n,
                        alpha as f32,
                        af.as_ptr().wrapping_add(a.offset),
                        a.rs,
                        a.cs,
                        bf.as_ptr().wrapping_add(b.offset),
                        b.rs,
                        b.cs,
                        beta as f32,
                        cf.as_mut_ptr().wrapping_add(c.offset),
                        c.rs,
                        c.cs,
                        threads,
                    )
                };
                for i in 0..m {
                    for j in 0..n {
                        let mut acc = 0.0;
                        let mut mag = 0.0;
                        for p in 0..k {
                            acc += get(&a, i, p) * get(&b, p, j);
                            mag += (get(&a, i, p) * get(&b, p, j)).abs();
                        }
                        let old = if beta == 0.0 { 0.0 } else { get(&c0, i, j) };
                        let want = alpha * acc + beta * old;
                        let scale = alpha.abs() * mag + beta.abs() * old.abs() + 1.0;
                        let what = format!(
                            "{} {m}x{k}x{n} {la:?}/{lb:?}/{lc:?} a={alpha} b={beta} t={threads} ({i},{j})",
                            imp.name()
                        );
                        let got = get(&c, i, j);
                        assert!(
                            (got - want).abs() <= 1e-12 * scale,
                            "f64 {what}: {got} vs {want}"
                        );
                        let gotf = cf[idx(c.offset, c.rs, c.cs, i, j)] as f64;
                        assert!(
                            (gotf - want).abs() <= 1e-5 * scale,
                            "f32 {what}: {gotf} vs {want}"
                        );
                    }
                }
            }
        }
    }

    const SIZES: [(usize, usize, usize); 7] = [
        (1, 1, 1),
        (0, 5, 3),
        (4, 0, 3),
        (3, 5, 0),
        (7, 13, 5),
        (65, 33, 17),
        (130, 70, 129),
    ];

    #[test]
    fn all_layouts_against_naive() {
        use Layout::*;
        for (m, k, n) in SIZES {
            for (la, lb) in [
                (RowMajor, RowMajor),
                (ColMajor, RowMajor),
                (RowMajor, ColMajor),
                (ColMajor, ColMajor),
                (Odd, Odd),
            ] {
                check(m, k, n, la, lb, RowMajor, 1.0, 0.0);
            }
            check(m, k, n, RowMajor, RowMajor, ColMajor, 1.0, 0.0);
            check(m, k, n, ColMajor, Odd, Odd, 1.0, 0.0);
        }
    }

    #[test]
    fn alpha_beta_cases() {
        use Layout::*;
        for (m, k, n) in SIZES {
            for (alpha, beta) in [
                (2.5, 0.0),
                (1.0, 1.0),
                (-0.5, 2.0),
                (0.0, 0.5),
                (0.0, 0.0),
                (1.0, -1.0),
            ] {
                check(m, k, n, RowMajor, ColMajor, RowMajor, alpha, beta);
            }
        }
    }

    #[test]
    fn large_enough_to_thread() {
        // Above GEMM_PAR_MIN_WORK, so the gemm crate takes its rayon path.
        check(
            150,
            130,
            140,
            Layout::RowMajor,
            Layout::RowMajor,
            Layout::RowMajor,
            1.0,
            0.0,
        );
        check(
            150,
            130,
            140,
            Layout::ColMajor,
            Layout::RowMajor,
            Layout::RowMajor,
            0.5,
            1.5,
        );
    }

    #[test]
    fn k_zero_overwrites_nan_when_beta_is_zero() {
        for imp in impls() {
            let mut c = [f32::NAN; 6];
            let a = [1.0f32; 1];
            // SAFETY: k == 0 so A and B are not read; C is 2x3 row-major in a 6-element array.
            unsafe {
                sgemm_with(
                    imp,
                    2,
                    0,
                    3,
                    1.0,
                    a.as_ptr(),
                    0,
                    1,
                    a.as_ptr(),
                    3,
                    1,
                    0.0,
                    c.as_mut_ptr(),
                    3,
                    1,
                    1,
                )
            };
            assert_eq!(c, [0.0; 6], "{}", imp.name());
            let mut c = [2.0f64; 6];
            let a = [1.0f64; 1];
            // SAFETY: as above, f64.
            unsafe {
                dgemm_with(
                    imp,
                    2,
                    0,
                    3,
                    1.0,
                    a.as_ptr(),
                    0,
                    1,
                    a.as_ptr(),
                    3,
                    1,
                    3.0,
                    c.as_mut_ptr(),
                    3,
                    1,
                    1,
                )
            };
            assert_eq!(c, [6.0; 6], "{}", imp.name());
        }
    }

    #[test]
    fn alpha_zero_does_not_read_a_or_b() {
        for imp in impls() {
            let a = [f32::NAN; 4];
            let mut c = [1.0f32; 4];
            // SAFETY: 2x2x2 over 4-element arrays; alpha == 0 means A and B are not read anyway.
            unsafe {
                sgemm_with(
                    imp,
                    2,
                    2,
                    2,
                    0.0,
                    a.as_ptr(),
                    2,
                    1,
                    a.as_ptr(),
                    2,
                    1,
                    2.0,
                    c.as_mut_ptr(),
                    2,
                    1,
                    2,
                )
            };
            assert_eq!(c, [2.0; 4], "{}", imp.name());
        }
    }

    #[test]
    fn selection_and_names() {
        assert!(selected().is_available());
        assert_eq!(gemm_impl(), selected().name());
        for g in [GemmImpl::MatrixMultiply, GemmImpl::Gemm] {
            assert_eq!(GemmImpl::from_name(g.name()), Some(g));
        }
        assert_eq!(GemmImpl::from_name("blas"), None);
        assert!(GemmImpl::default_for_cpu().is_available());
    }

    #[test]
    fn selected_entry_points_work() {
        let a = [1.0f32, 2.0, 3.0, 4.0];
        let b = [5.0f32, 6.0, 7.0, 8.0];
        let mut c = [0.0f32; 4];
        // SAFETY: 2x2 row-major matrices in 4-element arrays.
        unsafe {
            sgemm(
                2,
                2,
                2,
                1.0,
                a.as_ptr(),
                2,
                1,
                b.as_ptr(),
                2,
                1,
                0.0,
                c.as_mut_ptr(),
                2,
                1,
                2,
            )
        };
        assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
        let a = [1.0f64, 2.0, 3.0, 4.0];
        let mut c = [1.0f64; 4];
        // SAFETY: as above; B is A read column-major (its transpose).
        unsafe {
            dgemm(
                2,
                2,
                2,
                1.0,
                a.as_ptr(),
                2,
                1,
                a.as_ptr(),
                1,
                2,
                1.0,
                c.as_mut_ptr(),
                2,
                1,
                2,
            )
        };
        assert_eq!(c, [6.0, 12.0, 12.0, 26.0]);
    }
}

//! The x86-64 micro-kernels of the int8 GEMM: AVX2 (`vpmaddwd` on i16 pairs) and AVX-512
//! VNNI (`vpdpbusd`), each behind a proof token that the CPU has the instructions.

use core::arch::x86_64::*;

use super::{Micro, AVX2_MR, AVX2_NR, AVX2_NV, VNNI_MR, VNNI_NR, VNNI_NV};

/// Proof that the CPU supports AVX2.
#[derive(Clone, Copy, Debug)]
pub(super) struct Avx2(());

/// Proof that the CPU supports AVX-512F, AVX-512BW and AVX-512 VNNI.
#[derive(Clone, Copy, Debug)]
pub(super) struct Vnni(());

impl Avx2 {
    /// # Safety
    /// The CPU must support AVX2.
    pub(super) unsafe fn new_unchecked() -> Avx2 {
        Avx2(())
    }
}

impl Vnni {
    /// # Safety
    /// The CPU must support AVX-512F, AVX-512BW and AVX-512 VNNI.
    pub(super) unsafe fn new_unchecked() -> Vnni {
        Vnni(())
    }
}

/// Checks [`Micro::tile`]'s slice contract, which makes the kernels' raw reads and
/// writes in bounds.
fn check<M: Micro>(rows: usize, groups: usize, a: &[u32], b: &[i8], c: &[i32], ldc: usize) {
    assert!((1..=M::MR).contains(&rows), "qgemm tile: {rows} rows");
    assert!(a.len() >= groups * M::MR && b.len() >= groups * M::NR * M::G);
    assert!(ldc >= M::NR && c.len() >= (rows - 1) * ldc + M::NR);
}

/// Calls `$f::<R>` for the run-time row count, so every tile height has registers of
/// its own.
macro_rules! by_rows {
    ($f:ident, $rows:expr, ($($arg:expr),*)) => {
        match $rows {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            6 => $f::<6>($($arg),*),
            7 => $f::<7>($($arg),*),
            _ => $f::<8>($($arg),*),
        }
    };
}

impl Micro for Avx2 {
    const MR: usize = AVX2_MR;
    const NR: usize = AVX2_NR;
    const G: usize = 2;
    fn word(a: [u8; 4]) -> u32 {
        a[0] as u32 | (a[1] as u32) << 16
    }
    fn tile(
        self,
        rows: usize,
        groups: usize,
        a: &[u32],
        b: &[i8],
        c: &mut [i32],
        ldc: usize,
        acc: bool,
    ) {
        check::<Self>(rows, groups, a, b, c, ldc);
        let (a, b, c) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
        // SAFETY: the token proves AVX2; `check` bounds every read and write the kernel
        // makes (rows ≤ MR, `groups` words of MR and panel groups, `rows` rows of `NR`).
        unsafe { by_rows!(avx2_tile, rows, (groups, a, b, c, ldc, acc)) }
    }
}

impl Micro for Vnni {
    const MR: usize = VNNI_MR;
    const NR: usize = VNNI_NR;
    const G: usize = 4;
    fn word(a: [u8; 4]) -> u32 {
        u32::from_le_bytes(a)
    }
    fn tile(
        self,
        rows: usize,
        groups: usize,
        a: &[u32],
        b: &[i8],
        c: &mut [i32],
        ldc: usize,
        acc: bool,
    ) {
        check::<Self>(rows, groups, a, b, c, ldc);
        let (a, b, c) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
        // SAFETY: the token proves AVX-512F/BW/VNNI; `check` bounds every access.
        unsafe { by_rows!(vnni_tile, rows, (groups, a, b, c, ldc, acc)) }
    }
}

/// The AVX2 tile, `R × 16`: per k-pair, 8 columns' i8 pairs sign-extended to i16 pairs,
/// times the row's u8 pair zero-extended to i16 pairs, pair-summed by `vpmaddwd`: exact,
/// as `|a0·b0 + a1·b1| ≤ 65,280`.
///
/// # Safety
/// AVX2; `a`, `b`, `c` valid for [`Micro::tile`]'s reads and writes with `rows = R`.
#[target_feature(enable = "avx2")]
unsafe fn avx2_tile<const R: usize>(
    groups: usize,
    a: *const u32,
    b: *const i8,
    c: *mut i32,
    ldc: usize,
    accumulate: bool,
) {
    let mut acc = [[_mm256_setzero_si256(); AVX2_NV]; R];
    for g in 0..groups {
        // SAFETY: group `g < groups` of the panel: `AVX2_NR · 2` bytes from `g·NR·2`.
        let bv: [__m256i; AVX2_NV] = core::array::from_fn(|v| unsafe {
            let p = b.add((g * AVX2_NR + 8 * v) * 2) as *const __m128i;
            _mm256_cvtepi8_epi16(_mm_loadu_si128(p))
        });
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: word `(g, r)` with `r < R ≤ MR` lies in `a`.
            let w = unsafe { *a.add(g * AVX2_MR + r) };
            let av = _mm256_set1_epi32(w as i32);
            for (acc, &bv) in acc.iter_mut().zip(&bv) {
                *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(av, bv));
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (v, &x) in acc.iter().enumerate() {
            // SAFETY: row `r < R`, columns `8v .. 8v + 8 ≤ NR` of `c` (contract).
            unsafe {
                let p = c.add(r * ldc + 8 * v) as *mut __m256i;
                let x = if accumulate {
                    _mm256_add_epi32(x, _mm256_loadu_si256(p))
                } else {
                    x
                };
                _mm256_storeu_si256(p, x)
            }
        }
    }
}

/// The VNNI tile, `R × 48`: per k-quad, `vpdpbusd` adds the four u8 × i8 products of the
/// row's broadcast quad and each column's quad into the column's i32 lane.
///
/// # Safety
/// AVX-512F/BW/VNNI; `a`, `b`, `c` valid for [`Micro::tile`]'s accesses with `rows = R`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn vnni_tile<const R: usize>(
    groups: usize,
    a: *const u32,
    b: *const i8,
    c: *mut i32,
    ldc: usize,
    accumulate: bool,
) {
    let mut acc = [[_mm512_setzero_si512(); VNNI_NV]; R];
    for g in 0..groups {
        // SAFETY: group `g < groups` of the panel: `VNNI_NR · 4` bytes from `g·NR·4`.
        let bv: [__m512i; VNNI_NV] = core::array::from_fn(|v| unsafe {
            _mm512_loadu_si512(b.add((g * VNNI_NR + 16 * v) * 4) as *const __m512i)
        });
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: word `(g, r)` with `r < R ≤ MR` lies in `a`.
            let w = unsafe { *a.add(g * VNNI_MR + r) };
            let av = _mm512_set1_epi32(w as i32);
            for (acc, &bv) in acc.iter_mut().zip(&bv) {
                *acc = _mm512_dpbusd_epi32(*acc, av, bv);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (v, &x) in acc.iter().enumerate() {
            // SAFETY: row `r < R`, columns `16v .. 16v + 16 ≤ NR` of `c` (contract).
            unsafe {
                let p = c.add(r * ldc + 16 * v) as *mut __m512i;
                let x = if accumulate {
                    _mm512_add_epi32(x, _mm512_loadu_si512(p))
                } else {
                    x
                };
                _mm512_storeu_si512(p, x)
            }
        }
    }
}

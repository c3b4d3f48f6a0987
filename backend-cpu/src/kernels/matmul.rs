//! Batched matmul: each batch hands its operands' strides straight to the GEMM behind
//! `gemm` (so transposed views never copy). Small matrices in a large batch run in
//! parallel across the batch with single-threaded GEMMs; large ones use a threaded GEMM.

use lamina_tensor::{Layout, MatmulSpec};

use super::num::Num;
use crate::alloc::PoolVec;
use crate::walk::Walk;
use crate::{gemm, par};

/// Storage offsets of each batch's `[m, k]` (or `[k, n]`) matrix.
pub(super) fn batch_offsets(layout: &Layout, batch_rank: usize) -> Vec<usize> {
    if batch_rank == 0 {
        return vec![layout.offset()];
    }
    let batch = layout
        .narrow(batch_rank, 0, 1)
        .and_then(|l| l.narrow(batch_rank + 1, 0, 1))
        .expect("matrices are non-empty here");
    let mut v = Vec::new();
    let walk = Walk::new([&batch]);
    walk.runs(0, walk.len(), |_, [o], [s], n| {
        v.extend((0..n).map(|i| o + i * s))
    });
    v
}

/// Float matmul through the GEMM interface.
pub trait Gemm: Num {
    /// Whether [`small_gemm`]'s loops, which accumulate in `Self`, may stand in for the GEMM
    /// on tiny problems (not for the half types, whose sums must run in f32).
    const SMALL_LOOPS: bool = true;
    /// `c = a b` for a fresh row-major `m×n` output `c`.
    ///
    /// # Safety
    /// The pointers and strides must describe valid `m×k`, `k×n` and `m×n` matrices, the
    /// output not aliasing the inputs.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        c: *mut Self,
        threads: usize,
    ) {
        // SAFETY: forwarded contract; with beta = 0 the output is written, never read.
        unsafe {
            Self::gemm_scaled(
                m,
                k,
                n,
                Self::ONE,
                a,
                rsa,
                csa,
                b,
                rsb,
                csb,
                Self::ZERO,
                c,
                n as isize,
                threads,
            )
        }
    }

    /// `c = alpha a b + beta c` for a row-major `m×n` output `c` with row stride `rsc`
    /// (BLAS semantics: with `beta = 0`, `c` is written without being read).
    ///
    /// # Safety
    /// As [`gemm`](Gemm::gemm), with `c` valid for reads and writes at row stride `rsc`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_scaled(
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
        threads: usize,
    );
}

macro_rules! gemm_impl {
    ($t:ty, $f:path $(, small_loops: $small:expr)?) => {
        impl Gemm for $t {
            $(const SMALL_LOOPS: bool = $small;)?
            unsafe fn gemm_scaled(
                m: usize,
                k: usize,
                n: usize,
                alpha: $t,
                a: *const $t,
                rsa: isize,
                csa: isize,
                b: *const $t,
                rsb: isize,
                csb: isize,
                beta: $t,
                c: *mut $t,
                rsc: isize,
                threads: usize,
            ) {
                // SAFETY: forwarded contract, which is the GEMM entry point's.
                unsafe {
                    $f(
                        m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, 1, threads,
                    )
                }
            }
        }
    };
}
gemm_impl!(f32, gemm::sgemm);
gemm_impl!(f64, gemm::dgemm);
gemm_impl!(lamina_tensor::f16, super::half_gemm::half_gemm, small_loops: false);
gemm_impl!(lamina_tensor::bf16, super::half_gemm::half_gemm, small_loops: false);

/// Problems with at most this many multiply-adds per matrix take [`small_gemm`]: a call into
/// a GEMM library has a fixed dispatch and buffer set-up cost that dwarfs the arithmetic of
/// a small product (`BENCHMARKS.md`).
const SMALL_MACS: usize = 4096;

/// `c = a b` for one small matrix, by plain loops over strided operands (strides are
/// `(row, column)` in elements; `c` is row-major `m×n`). With contiguous rows of `b` the
/// inner loop runs along them (i-k-j order) and vectorises; sums run over `k` in order.
#[allow(clippy::too_many_arguments)]
fn small_gemm<T: Num>(
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    (rsa, csa): (usize, usize),
    b: &[T],
    (rsb, csb): (usize, usize),
    c: &mut [T],
) {
    if csb == 1 {
        for (i, crow) in c.chunks_exact_mut(n).enumerate().take(m) {
            crow.fill(T::ZERO);
            for p in 0..k {
                let x = a[i * rsa + p * csa];
                let brow = &b[p * rsb..p * rsb + n];
                for (y, &v) in crow.iter_mut().zip(brow) {
                    *y = y.add(x.mul(v));
                }
            }
        }
    } else {
        for i in 0..m {
            for j in 0..n {
                let mut acc = T::ZERO;
                for p in 0..k {
                    acc = acc.add(a[i * rsa + p * csa].mul(b[p * rsb + j * csb]));
                }
                c[i * n + j] = acc;
            }
        }
    }
}

/// Problems with fewer multiply-adds than this run single-threaded: splitting a recurrent
/// layer's per-step matmul (`[32, 128] × [128, 512]`, 2 M) cost more in thread hand-offs
/// than the second core gave back (BENCHMARKS.md, W6).
const PARALLEL_FLOPS: usize = 1 << 22;

pub fn matmul_float<T: Gemm>(
    a: &[T],
    al: &Layout,
    b: &[T],
    bl: &Layout,
    spec: &MatmulSpec,
) -> PoolVec<T> {
    let (m, k, n) = (spec.m, spec.k, spec.n);
    let batch = spec.batch.elem_count();
    if m == 0 || n == 0 || batch == 0 || k == 0 {
        return PoolVec::<T>::zeroed(batch * m * n);
    }
    // Every path below writes every element (the GEMM with beta = 0 never reads C).
    let mut out = PoolVec::<T>::uninit_for_overwrite(batch * m * n);
    let br = spec.batch.rank();
    let (aoffs, boffs) = (batch_offsets(al, br), batch_offsets(bl, br));
    let (sa, sb) = (
        (al.strides()[br], al.strides()[br + 1]),
        (bl.strides()[br], bl.strides()[br + 1]),
    );
    // The GEMM reads through raw pointers: check the extents it will touch once here.
    assert!(al.storage_extent() <= a.len() && bl.storage_extent() <= b.len());
    let flops = m * n * k;
    if flops <= SMALL_MACS && T::SMALL_LOOPS {
        // Tiny matrices (a seed-sized MLP): the GEMM crate's set-up (dispatch, packing
        // buffers) costs thousands of instructions, far more than the arithmetic.
        for (i, c) in out.chunks_mut(m * n).enumerate() {
            small_gemm(m, k, n, &a[aoffs[i]..], sa, &b[boffs[i]..], sb, c);
        }
        return out;
    }
    let run = |i: usize, c: &mut [T], threads: usize| {
        // SAFETY: `aoffs[i]`/`boffs[i]` start matrices inside `a`/`b` whose rows and
        // columns stay within the layouts' extents (checked above); `c` is this batch's
        // own m×n slice of the fresh output.
        unsafe {
            T::gemm(
                m,
                k,
                n,
                a.as_ptr().add(aoffs[i]),
                sa.0 as isize,
                sa.1 as isize,
                b.as_ptr().add(boffs[i]),
                sb.0 as isize,
                sb.1 as isize,
                c.as_mut_ptr(),
                threads,
            )
        }
    };
    if batch > 1 && flops < PARALLEL_FLOPS * 4 {
        // Many small matrices: parallel over the batch, one thread per GEMM.
        par::for_each_chunk_mut(
            &mut out,
            m * n * (PARALLEL_FLOPS / flops).max(1),
            |start, chunk| {
                for (j, c) in chunk.chunks_mut(m * n).enumerate() {
                    run(start / (m * n) + j, c, 1);
                }
            },
        );
    } else {
        let threads = if flops < PARALLEL_FLOPS {
            1
        } else {
            par::num_threads()
        };
        for (i, c) in out.chunks_mut(m * n).enumerate() {
            run(i, c, threads);
        }
    }
    out
}

/// Integer matmul (wrapping): [`small_gemm`]'s plain loops at every size, for completeness.
pub fn matmul_int<T: Num>(
    a: &[T],
    al: &Layout,
    b: &[T],
    bl: &Layout,
    spec: &MatmulSpec,
) -> PoolVec<T> {
    let (m, k, n) = (spec.m, spec.k, spec.n);
    let batch = spec.batch.elem_count();
    if m == 0 || n == 0 || batch == 0 || k == 0 {
        return PoolVec::<T>::zeroed(batch * m * n);
    }
    // `small_gemm` writes every element.
    let mut out = PoolVec::<T>::uninit_for_overwrite(batch * m * n);
    let br = spec.batch.rank();
    let (aoffs, boffs) = (batch_offsets(al, br), batch_offsets(bl, br));
    let (sa, sb) = (
        (al.strides()[br], al.strides()[br + 1]),
        (bl.strides()[br], bl.strides()[br + 1]),
    );
    for (i, c) in out.chunks_mut(m * n).enumerate() {
        small_gemm(m, k, n, &a[aoffs[i]..], sa, &b[boffs[i]..], sb, c);
    }
    out
}

//! GEMM for the half types (`f16`, `bf16`): blocks of A and B are widened to f32 in small
//! buffers, the f32 GEMM accumulates each output block over all of `k` in f32, and the
//! block is rounded once into C. No operand is ever widened whole: the buffers hold one
//! block of each, so a half matmul needs a few hundred KB beyond its output.

use lamina_tensor::Half;

use crate::gemm;

/// Rows of A (and C) per block.
const MB: usize = 256;
/// Columns of B (and C) per block.
const NB: usize = 256;
/// Depth of the A and B blocks.
const KB: usize = 512;

/// `C = alpha A B + beta C` for half matrices, accumulated in f32 (BLAS edge cases as
/// [`gemm::sgemm`]: A and B are not read when `k == 0` or `alpha == 0`, C is not read when
/// `beta == 0`). `threads` goes to the f32 GEMM of each block.
///
/// # Safety
/// As [`gemm::sgemm`], with unit column stride for C (`csc == 1`, checked): the pointers
/// and strides describe valid `m×k`, `k×n` and `m×n` matrices, C does not alias A or B,
/// nothing else touches C.
#[allow(clippy::too_many_arguments)]
pub unsafe fn half_gemm<H: Half>(
    m: usize,
    k: usize,
    n: usize,
    alpha: H,
    a: *const H,
    rsa: isize,
    csa: isize,
    b: *const H,
    rsb: isize,
    csb: isize,
    beta: H,
    c: *mut H,
    rsc: isize,
    csc: isize,
    threads: usize,
) {
    assert_eq!(csc, 1, "half_gemm writes C by contiguous rows");
    let (alpha, beta) = (alpha.to_f32(), beta.to_f32());
    let read = alpha != 0.0 && k > 0;
    let (mb_max, nb_max, kb_max) = (MB.min(m), NB.min(n), KB.min(k));
    let mut ab = vec![0f32; if read { mb_max * kb_max } else { 0 }];
    let mut bb = vec![0f32; if read { kb_max * nb_max } else { 0 }];
    let mut acc = vec![0f32; mb_max * nb_max];
    let mut row = vec![0f32; nb_max];
    for i0 in (0..m).step_by(MB) {
        let mb = MB.min(m - i0);
        for j0 in (0..n).step_by(NB) {
            let nb = NB.min(n - j0);
            let acc = &mut acc[..mb * nb];
            acc.fill(0.0);
            for p0 in (0..k).step_by(KB).take_while(|_| read) {
                let kb = KB.min(k - p0);
                // SAFETY: every (row, column) read lies in the m×k A and k×n B the caller
                // vouches for (i0 + i < m, p0 + p < k, j0 + j < n).
                unsafe {
                    widen_block(&mut ab[..mb * kb], a, (i0, p0), (mb, kb), (rsa, csa));
                    widen_block(&mut bb[..kb * nb], b, (p0, j0), (kb, nb), (rsb, csb));
                }
                // SAFETY: three distinct, live, row-major f32 buffers of the sizes given.
                unsafe {
                    gemm::sgemm(
                        mb,
                        kb,
                        nb,
                        1.0,
                        ab.as_ptr(),
                        kb as isize,
                        1,
                        bb.as_ptr(),
                        nb as isize,
                        1,
                        1.0,
                        acc.as_mut_ptr(),
                        nb as isize,
                        1,
                        threads,
                    )
                }
            }
            for (i, arow) in acc.chunks_exact(nb).enumerate() {
                // SAFETY: row i0 + i < m of C, columns j0..j0 + nb < n, unit column stride;
                // no other reference to C exists during the call.
                let crow = unsafe {
                    std::slice::from_raw_parts_mut(
                        c.offset((i0 + i) as isize * rsc + j0 as isize),
                        nb,
                    )
                };
                let row = &mut row[..nb];
                for ((r, &x), &old) in row.iter_mut().zip(arow).zip(crow.iter()) {
                    *r = if beta == 0.0 {
                        alpha * x
                    } else {
                        alpha * x + beta * old.to_f32()
                    };
                }
                H::round_slice(row, crow);
            }
        }
    }
}

/// Widens the `rows×cols` block at `(r0, c0)` of a strided half matrix into `dst`,
/// row-major.
///
/// # Safety
/// Every element of the block must be readable through `src` and the strides.
unsafe fn widen_block<H: Half>(
    dst: &mut [f32],
    src: *const H,
    (r0, c0): (usize, usize),
    (rows, cols): (usize, usize),
    (rs, cs): (isize, isize),
) {
    for (r, out) in dst.chunks_exact_mut(cols).enumerate().take(rows) {
        let start = (r0 + r) as isize * rs + c0 as isize * cs;
        if cs == 1 {
            // SAFETY: the caller vouches for the block's elements; with unit column stride
            // this row's are `cols` consecutive values.
            let run = unsafe { std::slice::from_raw_parts(src.offset(start), cols) };
            H::widen_slice(run, out);
        } else {
            for (j, o) in out.iter_mut().enumerate() {
                // SAFETY: as above, element (r0 + r, c0 + j).
                *o = unsafe { *src.offset(start + j as isize * cs) }.to_f32();
            }
        }
    }
}

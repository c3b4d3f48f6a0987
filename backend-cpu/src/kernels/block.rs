//! Strided matrix views inside storage slices ([`MatRef`]) and the block product the fused
//! kernels accumulate with ([`gemm`]): `c = alpha · a b + beta · c`, bounds-checked once per
//! call, then plain loops for tiny products and the GEMM behind `gemm` (with the views'
//! strides, so a transposed operand is never copied) for the rest.

use lamina_tensor::Real;

use super::matmul::Gemm;

/// Products with at most this many multiply-adds run as plain loops: the GEMM library's
/// set-up costs more than their arithmetic (as in `matmul`).
const SMALL_MACS: usize = 4096;

/// A matrix inside a storage slice: element `(i, j)` at `off + i·rs + j·cs`.
#[derive(Clone, Copy)]
pub(super) struct MatRef<'a, T> {
    pub data: &'a [T],
    pub off: usize,
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T: Copy> MatRef<'a, T> {
    /// A row-major `rows × cols` matrix at the start of `data`.
    pub fn dense(data: &'a [T], rows: usize, cols: usize) -> Self {
        MatRef {
            data,
            off: 0,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose (a view: strides swapped).
    pub fn t(self) -> Self {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> T {
        self.data[self.off + i * self.rs + j * self.cs]
    }

    /// Every element lies inside `data` (vacuous when empty).
    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || self.off + (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `c = alpha · a b + beta · c` for the row-major `c` (`a.rows × b.cols`, row stride
/// `ldc`); with `beta = 0`, `c` is not read (NaN left in a scratch buffer never leaks).
pub(super) fn gemm<T: Gemm + Real>(
    alpha: T,
    a: MatRef<T>,
    b: MatRef<T>,
    beta: T,
    c: &mut [T],
    ldc: usize,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "block product: inner dims differ");
    if m == 0 || n == 0 {
        return;
    }
    // The bounds the GEMM reads and writes through raw pointers, checked on every call
    // (a few comparisons per block product).
    assert!(ldc >= n && c.len() >= (m - 1) * ldc + n && a.in_bounds() && b.in_bounds());
    if m * n * k <= SMALL_MACS || k == 0 {
        for i in 0..m {
            let row = &mut c[i * ldc..i * ldc + n];
            for (j, y) in row.iter_mut().enumerate() {
                let mut acc = <T as Real>::ZERO;
                for p in 0..k {
                    acc = acc + a.at(i, p) * b.at(p, j);
                }
                *y = if beta == <T as Real>::ZERO {
                    alpha * acc
                } else {
                    alpha * acc + beta * *y
                };
            }
        }
        return;
    }
    // SAFETY: `a` and `b` describe `m×k` and `k×n` matrices whose every element lies in
    // their slices (`in_bounds`, asserted above), and `c` covers the `m×n` output at row
    // stride `ldc` (asserted above); `c` is a `&mut` borrow, so it aliases neither input.
    // One thread: the caller is already one task of a parallel loop.
    unsafe {
        T::gemm_scaled(
            m,
            k,
            n,
            alpha,
            a.data.as_ptr().add(a.off),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr().add(b.off),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.as_mut_ptr(),
            ldc as isize,
            1,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both paths of `gemm` (plain loops below `SMALL_MACS`, the GEMM library above) on a
    /// transposed operand at an offset and an output with padded rows, against the
    /// definition: `c = alpha a b + beta c`, the padding untouched, and with `beta = 0`
    /// nothing read from `c` (NaN there does not leak).
    #[test]
    fn block_products_match_the_definition() {
        for (m, k, n) in [(3, 4, 5), (64, 32, 64), (17, 70, 9), (5, 0, 3), (0, 4, 2)] {
            let a: Vec<f64> = (0..m * k + 3)
                .map(|i| ((i * 7) % 11) as f64 - 5.0)
                .collect();
            let b: Vec<f64> = (0..k * n + 2)
                .map(|i| ((i * 5) % 13) as f64 - 6.0)
                .collect();
            // `a` is the transpose of a row-major k×m matrix stored from offset 3.
            let av = MatRef {
                data: &a,
                off: 3,
                rows: k,
                cols: m,
                rs: m,
                cs: 1,
            }
            .t();
            let bv = MatRef {
                data: &b,
                off: 2,
                rows: k,
                cols: n,
                rs: n,
                cs: 1,
            };
            let ldc = n + 2;
            let len = if m == 0 { 0 } else { (m - 1) * ldc + n };
            let want = |i: usize, j: usize| -> f64 {
                (0..k)
                    .map(|p| a[3 + p * m + i] * b[2 + p * n + j])
                    .sum::<f64>()
            };
            let mut c = vec![1.5; len];
            gemm(2.0, av, bv, 0.5, &mut c, ldc);
            let mut fresh = vec![f64::NAN; len];
            gemm(2.0, av, bv, 0.0, &mut fresh, ldc);
            for i in 0..m {
                for j in 0..ldc {
                    let at = i * ldc + j;
                    if at >= len {
                        break;
                    }
                    if j < n {
                        assert_eq!(c[at], 2.0 * want(i, j) + 0.75, "({m}, {k}, {n}) [{i}, {j}]");
                        assert_eq!(fresh[at], 2.0 * want(i, j), "({m}, {k}, {n}) [{i}, {j}]");
                    } else {
                        assert_eq!(c[at], 1.5, "padding");
                        assert!(fresh[at].is_nan(), "padding");
                    }
                }
            }
        }
    }
}

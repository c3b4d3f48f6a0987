//! How a row-major batched matmul maps onto cuBLAS's column-major strided-batched GEMM,
//! host logic only (tested without a GPU): row-major `C = A B` is column-major
//! `Cᵀ = Bᵀ Aᵀ`, so cuBLAS gets `B` as its first operand and `A` as its second, each
//! transposed or not by which of its strides is 1 — a transposed view costs no copy. An
//! operand whose matrix strides fit neither form, or whose batch dims do not collapse to
//! one stride, is copied to contiguous first ([`Plan`] says which).

use lamina_tensor::{Layout, MatmulSpec};

/// One operand as cuBLAS reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operand {
    /// Whether cuBLAS transposes it (`CUBLAS_OP_T`).
    pub transpose: bool,
    /// Its leading dimension.
    pub ld: i64,
    /// Elements between consecutive batch entries (0 when broadcast).
    pub batch_stride: i64,
    /// Its first element in storage.
    pub offset: usize,
}

/// The cuBLAS call for `lhs [..batch, m, k] · rhs [..batch, k, n]` into contiguous
/// `[..batch, m, n]`: `first` is cuBLAS's `A` (from `rhs`), `second` its `B` (from
/// `lhs`); `None` for an operand that must be made contiguous first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub first: Option<Operand>,
    pub second: Option<Operand>,
    /// cuBLAS's `m, n, k` (the row-major `n, m, k`).
    pub mnk: (i64, i64, i64),
    pub batch: i64,
}

/// The stride of a layout's batch dims (all but the last two) collapsed to one, if they
/// collapse: each non-unit dim's stride is the next non-unit dim's stride times its size,
/// or all are broadcast (stride 0). A single entry has stride 0.
fn batch_stride(layout: &Layout) -> Option<i64> {
    let r = layout.rank();
    let dims: Vec<(usize, usize)> = layout.dims()[..r - 2]
        .iter()
        .zip(&layout.strides()[..r - 2])
        .filter(|(&d, _)| d != 1)
        .map(|(&d, &s)| (d, s))
        .collect();
    let Some(&(_, last)) = dims.last() else {
        return Some(0);
    };
    for w in dims.windows(2) {
        let ((_, s0), (d1, s1)) = (w[0], w[1]);
        if s0 != s1 * d1 {
            return None;
        }
    }
    Some(last as i64)
}

/// The operand of a row-major `rows × cols` matrix layout as cuBLAS's column-major view of
/// its transpose: rows contiguous (column stride 1) read untransposed with `ld` = the row
/// stride; columns contiguous (row stride 1) read transposed with `ld` = the column
/// stride. `ld` must cover the other extent (cuBLAS requires `ld ≥ max(1, extent)`).
fn operand(layout: &Layout, rows: usize, cols: usize) -> Option<Operand> {
    let r = layout.rank();
    let (rs, cs) = (layout.strides()[r - 2], layout.strides()[r - 1]);
    let batch_stride = batch_stride(layout)?;
    let offset = layout.offset();
    if cs == 1 || cols == 1 {
        let ld = if rows == 1 { cols.max(1) } else { rs };
        if ld >= cols.max(1) {
            return Some(Operand {
                transpose: false,
                ld: ld as i64,
                batch_stride,
                offset,
            });
        }
    }
    if rs == 1 || rows == 1 {
        let ld = if cols == 1 { rows.max(1) } else { cs };
        if ld >= rows.max(1) {
            return Some(Operand {
                transpose: true,
                ld: ld as i64,
                batch_stride,
                offset,
            });
        }
    }
    None
}

/// The plan for `spec` over the two layouts (each `[..batch, rows, cols]`, batch dims
/// already broadcast to `spec.batch`).
pub fn plan(lhs: &Layout, rhs: &Layout, spec: &MatmulSpec) -> Plan {
    let batch: usize = spec.batch.dims().iter().product();
    Plan {
        first: operand(rhs, spec.k, spec.n),
        second: operand(lhs, spec.m, spec.k),
        mnk: (spec.n as i64, spec.m as i64, spec.k as i64),
        batch: batch as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamina_tensor::Shape;

    /// Column-major GEMM as cuBLAS defines it, on host memory: `C = op(A) op(B)` for
    /// `m × n` C with leading dimension `m`, batched by the operands' batch strides.
    fn cublas_reference(p: &Plan, a: &[f64], b: &[f64]) -> Vec<f64> {
        let (m, n, k) = (p.mnk.0 as usize, p.mnk.1 as usize, p.mnk.2 as usize);
        let (fa, fb) = (p.first.unwrap(), p.second.unwrap());
        let at = |o: &Operand, data: &[f64], batch: usize, i: usize, j: usize| {
            // op(X)(i, j): X(i, j) = x[i + j·ld], or its transpose X(j, i).
            let base = o.offset + batch * o.batch_stride as usize;
            if o.transpose {
                data[base + j + i * o.ld as usize]
            } else {
                data[base + i + j * o.ld as usize]
            }
        };
        let mut c = vec![0.0; p.batch as usize * m * n];
        for bt in 0..p.batch as usize {
            for i in 0..m {
                for j in 0..n {
                    let s: f64 = (0..k)
                        .map(|l| at(&fa, b, bt, i, l) * at(&fb, a, bt, l, j))
                        .sum();
                    c[bt * m * n + i + j * m] = s;
                }
            }
        }
        c
    }

    /// Row-major `lhs · rhs` by the layouts' own offsets.
    fn naive(l: &Layout, r: &Layout, a: &[f64], b: &[f64], spec: &MatmulSpec) -> Vec<f64> {
        let (lo, ro): (Vec<usize>, Vec<usize>) = (l.offsets().collect(), r.offsets().collect());
        let (m, k, n) = (spec.m, spec.k, spec.n);
        let batch: usize = spec.batch.dims().iter().product();
        let mut c = vec![0.0; batch * m * n];
        for bt in 0..batch {
            for i in 0..m {
                for j in 0..n {
                    c[bt * m * n + i * n + j] = (0..k)
                        .map(|l| a[lo[bt * m * k + i * k + l]] * b[ro[bt * k * n + l * n + j]])
                        .sum();
                }
            }
        }
        c
    }

    #[test]
    fn plans_compute_the_row_major_product_for_every_operand_form() {
        let (m, k, n) = (3usize, 4usize, 5usize);
        let a: Vec<f64> = (0..200).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..200).map(|i| (i as f64 * 0.11).cos()).collect();
        let spec = MatmulSpec {
            batch: Shape::from([2]),
            m,
            k,
            n,
        };
        let lhs_forms = [
            ("contiguous", Layout::contiguous(Shape::from([2, m, k]))),
            (
                "transposed",
                Layout::contiguous(Shape::from([2, k, m]))
                    .permute(&[0, 2, 1])
                    .unwrap(),
            ),
            (
                "broadcast batch",
                Layout::contiguous(Shape::from([1, m, k]))
                    .broadcast_to(&Shape::from([2, m, k]), "t")
                    .unwrap(),
            ),
            (
                "offset rows",
                Layout::contiguous(Shape::from([2, m + 2, k]))
                    .narrow(1, 1, m)
                    .unwrap(),
            ),
        ];
        let rhs_forms = [
            ("contiguous", Layout::contiguous(Shape::from([2, k, n]))),
            (
                "transposed",
                Layout::contiguous(Shape::from([2, n, k]))
                    .permute(&[0, 2, 1])
                    .unwrap(),
            ),
        ];
        for (ln, l) in &lhs_forms {
            for (rn, r) in &rhs_forms {
                let p = plan(l, r, &spec);
                assert!(
                    p.first.is_some() && p.second.is_some(),
                    "{ln} x {rn}: {p:?}"
                );
                let col = cublas_reference(&p, &a, &b);
                let want = naive(l, r, &a, &b, &spec);
                // Column-major n × m per batch is row-major m × n: the same buffer.
                for (x, y) in col.iter().zip(&want) {
                    assert!((x - y).abs() < 1e-12, "{ln} x {rn}: {x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn operands_cublas_cannot_read_are_copied_first() {
        // Rows 8 apart, columns contiguous: read in place with ld 8.
        let wide = Layout::contiguous(Shape::from([3, 8]))
            .narrow(1, 0, 4)
            .unwrap();
        // Both strides above 1 (every other element): neither form fits.
        let every_other = Layout::contiguous(Shape::from([3, 4, 2]))
            .narrow(2, 0, 1)
            .unwrap()
            .reshape(&Shape::from([3, 4]))
            .unwrap();
        assert_eq!(every_other.strides(), [8, 2]);
        let spec = MatmulSpec {
            batch: Shape::from(Vec::<usize>::new()),
            m: 3,
            k: 4,
            n: 2,
        };
        let rhs = Layout::contiguous(Shape::from([4, 2]));
        let p = plan(&wide, &rhs, &spec).second.unwrap();
        assert_eq!((p.transpose, p.ld), (false, 8));
        assert_eq!(plan(&every_other, &rhs, &spec).second, None);
        // Batch dims that do not collapse to one stride.
        let b = Layout::contiguous(Shape::from([2, 3, 4, 5]))
            .permute(&[1, 0, 2, 3])
            .unwrap();
        let spec = MatmulSpec {
            batch: Shape::from([3, 2]),
            m: 4,
            k: 5,
            n: 2,
        };
        assert_eq!(
            plan(&b, &Layout::contiguous(Shape::from([3, 2, 5, 2])), &spec).second,
            None
        );
    }
}

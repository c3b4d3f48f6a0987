//! The host side of the CUDA backend's attention, testable without a GPU: the sizes of a
//! call checked from its layouts ([`Dims`]) and the batched products each direction hands
//! to cuBLAS ([`forward_plan`], [`backward_plan`]), every transposed operand a view of its
//! layout (no copy), every product's batch the call's broadcast batch.
//!
//! Forward: `S = q kᵀ`; the row kernel turns `S` into the weights `P` in place and writes
//! each row's log-sum-exp; `out = P v`. Backward: `S = q kᵀ` and `dP = g vᵀ`; the row
//! kernel turns them into `P` and `dS · scale` in place; `dv = Pᵀ g`, `dq = dS k`,
//! `dk = dSᵀ q`. The `[B.., L, S]` scores are materialised (one buffer forward, two
//! backward), as in the composite; the CPU's blocked kernel does not.

use lamina_tensor::{Error, Layout, MatmulSpec, Result, Shape};

/// The sizes of one attention call: `q [batch.., l, e]`, `k [batch.., s, e]`,
/// `v [batch.., s, ev]`, `bias [batch.., l, s]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dims {
    pub batch: Shape,
    pub l: usize,
    pub s: usize,
    pub e: usize,
    pub ev: usize,
}

impl Dims {
    /// The sizes from the layouts the tensor layer hands over (batch dims already
    /// broadcast, so equal in all); an error naming `op` and the shapes when they do not
    /// fit together (the tensor layer checked them; this keeps every launch's extents
    /// derived from checked sizes).
    pub fn new(
        op: &'static str,
        q: &Layout,
        k: &Layout,
        v: &Layout,
        bias: Option<&Layout>,
    ) -> Result<Dims> {
        let invalid = || Error::Invalid {
            op,
            msg: format!(
                "q {}, k {}, v {}{}: expected q [B.., L, E], k [B.., S, E], v [B.., S, Ev] \
                 and bias [B.., L, S] with one batch",
                q.shape(),
                k.shape(),
                v.shape(),
                bias.map_or(String::new(), |b| format!(", bias {}", b.shape()))
            ),
        };
        let r = q.rank();
        if r < 2 || k.rank() != r || v.rank() != r {
            return Err(invalid());
        }
        let (qd, kd, vd) = (q.dims(), k.dims(), v.dims());
        let batch = &qd[..r - 2];
        if &kd[..r - 2] != batch || &vd[..r - 2] != batch {
            return Err(invalid());
        }
        let dims = Dims {
            batch: Shape::from_dims(batch),
            l: qd[r - 2],
            e: qd[r - 1],
            s: kd[r - 2],
            ev: vd[r - 1],
        };
        if kd[r - 1] != dims.e || vd[r - 2] != dims.s {
            return Err(invalid());
        }
        if let Some(b) = bias {
            if b.shape() != &dims.shape(&[dims.l, dims.s]) {
                return Err(invalid());
            }
        }
        Ok(dims)
    }

    /// `batch` followed by `tail`.
    pub fn shape(&self, tail: &[usize]) -> Shape {
        let mut dims = self.batch.dims().to_vec();
        dims.extend_from_slice(tail);
        Shape::new(dims)
    }

    /// Query rows over the whole batch (`batch · l`): the row kernels' `rows`.
    pub fn rows(&self) -> usize {
        self.batch.elem_count() * self.l
    }

    /// An error naming `op` unless `layout` has the shape `[batch.., tail..]`.
    pub fn expect(
        &self,
        op: &'static str,
        what: &str,
        layout: &Layout,
        tail: &[usize],
    ) -> Result<()> {
        let want = self.shape(tail);
        if layout.shape() != &want {
            return Err(Error::Invalid {
                op,
                msg: format!("{what} {}, expected {want}", layout.shape()),
            });
        }
        Ok(())
    }
}

/// One batched product `lhs · rhs` for cuBLAS (`CudaBackend::matmul_impl`): the layouts
/// `[batch.., m, k]` and `[batch.., k, n]`, the result contiguous `[batch.., m, n]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    pub lhs: Layout,
    pub rhs: Layout,
    pub spec: MatmulSpec,
}

impl Product {
    fn new(dims: &Dims, lhs: Layout, rhs: Layout, (m, k, n): (usize, usize, usize)) -> Product {
        Product {
            lhs,
            rhs,
            spec: MatmulSpec {
                batch: dims.batch.clone(),
                m,
                k,
                n,
            },
        }
    }
}

/// `layout` with its last two dims swapped: the transposed matrices, as a view.
pub fn transposed(layout: &Layout) -> Layout {
    let r = layout.rank();
    layout.transpose(r - 2, r - 1)
}

/// The forward's products: `scores = q · kᵀ` (`[.., l, s]`), then `out = P · v`
/// (`[.., l, ev]`) with `P` the contiguous weights the row kernel leaves in the scores'
/// buffer.
#[derive(Clone, Debug)]
pub struct ForwardPlan {
    pub scores: Product,
    pub out: Product,
}

/// The forward plan over `q`, `k`, `v`'s layouts (whose sizes `dims` holds).
pub fn forward_plan(dims: &Dims, q: &Layout, k: &Layout, v: &Layout) -> ForwardPlan {
    let (l, s, e, ev) = (dims.l, dims.s, dims.e, dims.ev);
    let p = Layout::contiguous(dims.shape(&[l, s]));
    ForwardPlan {
        scores: Product::new(dims, q.clone(), transposed(k), (l, e, s)),
        out: Product::new(dims, p, v.clone(), (l, s, ev)),
    }
}

/// The backward's products: `scores = q · kᵀ` and `dp = g · vᵀ` (both `[.., l, s]`,
/// which the row kernel turns into `P` and `dS · scale` in place), then `dv = Pᵀ · g`
/// (`[.., s, ev]`), `dq = dS · k` (`[.., l, e]`) and `dk = dSᵀ · q` (`[.., s, e]`).
#[derive(Clone, Debug)]
pub struct BackwardPlan {
    pub scores: Product,
    pub dp: Product,
    pub dv: Product,
    pub dq: Product,
    pub dk: Product,
}

/// The backward plan over `q`, `k`, `v` and the output gradient `g`'s layouts.
pub fn backward_plan(dims: &Dims, q: &Layout, k: &Layout, v: &Layout, g: &Layout) -> BackwardPlan {
    let (l, s, e, ev) = (dims.l, dims.s, dims.e, dims.ev);
    // P and dS: contiguous [.., l, s], each the result of a product above.
    let p = Layout::contiguous(dims.shape(&[l, s]));
    BackwardPlan {
        scores: Product::new(dims, q.clone(), transposed(k), (l, e, s)),
        dp: Product::new(dims, g.clone(), transposed(v), (l, ev, s)),
        dv: Product::new(dims, transposed(&p), g.clone(), (s, l, ev)),
        dq: Product::new(dims, p.clone(), k.clone(), (l, s, e)),
        dk: Product::new(dims, transposed(&p), q.clone(), (s, l, e)),
    }
}

/// The row kernels' size arguments (`rows`, `l`, `s`, `ev`) as the kernels take them
/// (`unsigned long long`), or an error naming `op` for a size that does not convert.
pub fn row_args(op: &'static str, dims: &Dims) -> Result<[u64; 4]> {
    let rows = dims
        .batch
        .elem_count()
        .checked_mul(dims.l)
        .ok_or_else(|| Error::Invalid {
            op,
            msg: format!("{} · {} query rows overflow", dims.batch, dims.l),
        })?;
    let cvt = |x: usize| {
        u64::try_from(x).map_err(|_| Error::Invalid {
            op,
            msg: format!("size {x} exceeds the kernels' 64-bit range"),
        })
    };
    Ok([cvt(rows)?, cvt(dims.l)?, cvt(dims.s)?, cvt(dims.ev)?])
}

#[cfg(test)]
mod tests {
    //! The plans run on the host: every product naive through its layouts' offsets, the
    //! row kernels mirrored line by line in f64, against attention and its gradients
    //! written out from the definition on dense arrays.

    use super::*;
    use crate::gemm::plan;

    /// Deterministic values in `[-2, 2)` (splitmix64).
    fn values(seed: u64, n: usize) -> Vec<f64> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        (0..n)
            .map(|_| {
                x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = x;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                (z >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0
            })
            .collect()
    }

    fn cat(a: &[usize], b: &[usize]) -> Vec<usize> {
        [a, b].concat()
    }

    /// A storage and a layout into it (of `dims`), broadcast to `[batch.., tail..]`.
    struct Operand {
        data: Vec<f64>,
        layout: Layout,
    }

    impl Operand {
        /// `dims` filled from `seed`; `transposed`: stored as the transpose of its last two
        /// dims (strided rows); `offset`: that many leading storage elements unused.
        fn new(dims: &[usize], seed: u64, transposed: bool, offset: usize) -> Operand {
            let n: usize = dims.iter().product();
            let mut data = vec![f64::NAN; offset];
            data.extend(values(seed, n));
            let r = dims.len();
            let layout = if transposed {
                let mut stored = dims.to_vec();
                stored.swap(r - 2, r - 1);
                let l = Layout::contiguous(Shape::new(stored));
                let l = Layout::new(l.shape().clone(), l.strides().to_vec(), offset);
                l.transpose(r - 2, r - 1)
            } else {
                let l = Layout::contiguous(Shape::from_dims(dims));
                Layout::new(l.shape().clone(), l.strides().to_vec(), offset)
            };
            Operand { data, layout }
        }

        fn broadcast(&self, to: &Shape) -> Operand {
            Operand {
                data: self.data.clone(),
                layout: self.layout.broadcast_to(to, "test").unwrap(),
            }
        }

        /// The logical elements, row-major.
        fn dense(&self) -> Vec<f64> {
            self.layout.offsets().map(|o| self.data[o]).collect()
        }
    }

    /// `p.lhs · p.rhs` through the layouts' own offsets, contiguous `[batch.., m, n]`.
    fn run(p: &Product, a: &[f64], b: &[f64]) -> Vec<f64> {
        let MatmulSpec { m, k, n, .. } = p.spec;
        let batch = p.spec.batch.elem_count();
        assert_eq!(
            p.lhs.shape(),
            &Shape::new(cat(p.spec.batch.dims(), &[m, k]))
        );
        assert_eq!(
            p.rhs.shape(),
            &Shape::new(cat(p.spec.batch.dims(), &[k, n]))
        );
        let (lo, ro): (Vec<usize>, Vec<usize>) =
            (p.lhs.offsets().collect(), p.rhs.offsets().collect());
        let mut c = vec![0.0; batch * m * n];
        for bt in 0..batch {
            for i in 0..m {
                for j in 0..n {
                    c[(bt * m + i) * n + j] = (0..k)
                        .map(|x| a[lo[(bt * m + i) * k + x]] * b[ro[(bt * k + x) * n + j]])
                        .sum();
                }
            }
        }
        c
    }

    /// The bias element of row `r`, key `j` as the kernels address it: the row's start
    /// (`elem_offset(lb, r · s)`) plus `j` times the last dim's stride.
    fn bias_at(b: &Operand, r: usize, j: usize, s: usize) -> f64 {
        let arg = crate::launch::StridedArg::new("test", &b.layout).unwrap();
        let rank = arg.rank as usize;
        let at = arg.elem_offset((r * s) as u64) + j as i64 * arg.strides[rank - 1];
        b.data[at as usize]
    }

    /// `attention_weights_rows`, in f64 on the host, in place on `p`; the log-sum-exps.
    fn weights_rows(
        p: &mut [f64],
        bias: Option<&Operand>,
        d: &Dims,
        scale: f64,
        causal: bool,
    ) -> Vec<f64> {
        let (l, s) = (d.l, d.s);
        let mut lse = vec![0.0; d.rows()];
        for r in 0..d.rows() {
            let end = if causal { (r % l + 1).min(s) } else { s };
            let x =
                |row: &[f64], j: usize| row[j] * scale + bias.map_or(0.0, |b| bias_at(b, r, j, s));
            let row = &mut p[r * s..(r + 1) * s];
            let m = (0..end)
                .map(|j| x(row, j))
                .fold(f64::NEG_INFINITY, f64::max);
            if m == f64::NEG_INFINITY {
                row.fill(0.0);
                lse[r] = f64::NEG_INFINITY;
                continue;
            }
            let sum: f64 = (0..end).map(|j| (x(row, j) - m).exp()).sum();
            for j in 0..s {
                row[j] = if j < end {
                    (x(row, j) - m).exp() / sum
                } else {
                    0.0
                };
            }
            lse[r] = m + sum.ln();
        }
        lse
    }

    /// `attention_grad_rows`, in f64 on the host, in place on `p` and `ds`.
    #[allow(clippy::too_many_arguments)]
    fn grad_rows(
        p: &mut [f64],
        ds: &mut [f64],
        g: &[f64],
        o: &[f64],
        lse: &[f64],
        bias: Option<&Operand>,
        d: &Dims,
        scale: f64,
        causal: bool,
    ) {
        let (l, s, ev) = (d.l, d.s, d.ev);
        for r in 0..d.rows() {
            let dd: f64 = (0..ev).map(|c| g[r * ev + c] * o[r * ev + c]).sum();
            let m = lse[r];
            let end = if m == f64::NEG_INFINITY {
                0
            } else if causal {
                (r % l + 1).min(s)
            } else {
                s
            };
            for j in 0..s {
                let (mut pj, mut dj) = (0.0, 0.0);
                if j < end {
                    let x = p[r * s + j] * scale + bias.map_or(0.0, |b| bias_at(b, r, j, s));
                    pj = (x - m).exp();
                    dj = (pj * (ds[r * s + j] - dd)) * scale;
                }
                p[r * s + j] = pj;
                ds[r * s + j] = dj;
            }
        }
    }

    /// Attention and its gradients from the definition on dense `[batch, ..]` arrays:
    /// `(out, lse, dq, dk, dv)`.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        d: &Dims,
        q: &[f64],
        k: &[f64],
        v: &[f64],
        bias: Option<&[f64]>,
        g: &[f64],
        scale: f64,
        causal: bool,
    ) -> [Vec<f64>; 5] {
        let (l, s, e, ev) = (d.l, d.s, d.e, d.ev);
        let nb = d.batch.elem_count();
        let mut out = vec![0.0; nb * l * ev];
        let mut lse = vec![f64::NEG_INFINITY; nb * l];
        let (mut dq, mut dk, mut dv) = (
            vec![0.0; nb * l * e],
            vec![0.0; nb * s * e],
            vec![0.0; nb * s * ev],
        );
        for b in 0..nb {
            for i in 0..l {
                let sc: Vec<f64> = (0..s)
                    .map(|j| {
                        if causal && j > i {
                            return f64::NEG_INFINITY;
                        }
                        let dot: f64 = (0..e)
                            .map(|x| q[(b * l + i) * e + x] * k[(b * s + j) * e + x])
                            .sum();
                        dot * scale + bias.map_or(0.0, |m| m[(b * l + i) * s + j])
                    })
                    .collect();
                let m = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                if m == f64::NEG_INFINITY {
                    continue;
                }
                let z: f64 = sc.iter().map(|x| (x - m).exp()).sum();
                lse[b * l + i] = m + z.ln();
                let p: Vec<f64> = sc.iter().map(|x| (x - m).exp() / z).collect();
                let gi = &g[(b * l + i) * ev..(b * l + i + 1) * ev];
                // dP_j = g · v_j; dS_j = P_j (dP_j - Σ_j' P_j' dP_j').
                let dp: Vec<f64> = (0..s)
                    .map(|j| (0..ev).map(|x| gi[x] * v[(b * s + j) * ev + x]).sum())
                    .collect();
                let pdp: f64 = p.iter().zip(&dp).map(|(a, b)| a * b).sum();
                for j in 0..s {
                    let dsj = p[j] * (dp[j] - pdp);
                    for x in 0..ev {
                        out[(b * l + i) * ev + x] += p[j] * v[(b * s + j) * ev + x];
                        dv[(b * s + j) * ev + x] += p[j] * gi[x];
                    }
                    for x in 0..e {
                        dq[(b * l + i) * e + x] += scale * dsj * k[(b * s + j) * e + x];
                        dk[(b * s + j) * e + x] += scale * dsj * q[(b * l + i) * e + x];
                    }
                }
            }
        }
        [out, lse, dq, dk, dv]
    }

    fn close(what: &str, got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
            let ok = a == b || (a - b).abs() <= 1e-12 * (1.0 + b.abs());
            assert!(ok, "{what}: element {i}: {a} vs {b}");
        }
    }

    /// The batch dims of q, k, v (broadcasting together) and of the bias.
    const BATCHES: [[&[usize]; 4]; 5] = [
        [&[], &[], &[], &[]],
        [&[2], &[2], &[2], &[1]],
        [&[2, 3], &[2, 1], &[1, 3], &[2, 3]],
        [&[3], &[1], &[3], &[]],
        [&[1, 2], &[2], &[2, 2], &[2, 1]],
    ];

    #[test]
    fn the_plans_compute_attention_and_its_gradients() {
        let mut seed = 1u64;
        let mut cases = 0;
        for (bi, [bq, bk, bv, bb]) in BATCHES.iter().enumerate() {
            for &(l, s, e, ev) in &[
                (1, 1, 1, 1),
                (3, 5, 2, 4),
                (6, 4, 3, 1),
                (5, 5, 1, 3),
                (7, 9, 4, 2),
            ] {
                for causal in [false, true] {
                    // 0 none; 1 [l, s]; 2 batch dims of its own; 3 [1, s] key mask; 4 [l, 1].
                    for bias_kind in 0..5 {
                        seed += 7;
                        let strided = seed.is_multiple_of(3);
                        let scale = [0.5, 1.0, -0.7, 0.0][(seed % 4) as usize];
                        let full = Shape::from_dims(bq)
                            .broadcast(&Shape::from_dims(bk), "t")
                            .and_then(|x| x.broadcast(&Shape::from_dims(bv), "t"))
                            .unwrap();
                        let fb = full.dims();
                        let q = Operand::new(&cat(bq, &[l, e]), seed, strided, 1)
                            .broadcast(&Shape::new(cat(fb, &[l, e])));
                        let k = Operand::new(&cat(bk, &[s, e]), seed + 1, false, 0)
                            .broadcast(&Shape::new(cat(fb, &[s, e])));
                        let v = Operand::new(&cat(bv, &[s, ev]), seed + 2, strided, 2)
                            .broadcast(&Shape::new(cat(fb, &[s, ev])));
                        let bias_dims = match bias_kind {
                            0 => None,
                            1 => Some(vec![l, s]),
                            2 => Some(cat(bb, &[l, s])),
                            3 => Some(vec![1, s]),
                            _ => Some(vec![l, 1]),
                        };
                        let bias = bias_dims.map(|dims| {
                            let mut b = Operand::new(&dims, seed + 3, bias_kind == 2 && strided, 0);
                            // Masked entries, and a whole row masked where the bias has rows.
                            let n = b.data.len();
                            for (x, m) in b.data.iter_mut().zip(values(seed + 4, n)) {
                                if m < -1.0 {
                                    *x = f64::NEG_INFINITY;
                                }
                            }
                            if bias_kind == 4 {
                                b.data[0] = f64::NEG_INFINITY;
                            }
                            b.broadcast(&Shape::new(cat(fb, &[l, s])))
                        });
                        let d = Dims::new(
                            "test",
                            &q.layout,
                            &k.layout,
                            &v.layout,
                            bias.as_ref().map(|b| &b.layout),
                        )
                        .unwrap();
                        assert_eq!((d.batch.dims(), d.l, d.s, d.e, d.ev), (fb, l, s, e, ev));
                        let g = Operand::new(&cat(fb, &[l, ev]), seed + 5, false, 3);
                        let want = reference(
                            &d,
                            &q.dense(),
                            &k.dense(),
                            &v.dense(),
                            bias.as_ref().map(|b| b.dense()).as_deref(),
                            &g.dense(),
                            scale,
                            causal,
                        );
                        let what = format!(
                            "batch {bi}, {l} {s} {e} {ev}, causal {causal}, bias {bias_kind}"
                        );

                        let f = forward_plan(&d, &q.layout, &k.layout, &v.layout);
                        let mut p = run(&f.scores, &q.data, &k.data);
                        let lse = weights_rows(&mut p, bias.as_ref(), &d, scale, causal);
                        let out = run(&f.out, &p, &v.data);
                        close(&format!("{what}: out"), &out, &want[0]);
                        close(&format!("{what}: lse"), &lse, &want[1]);

                        let bp = backward_plan(&d, &q.layout, &k.layout, &v.layout, &g.layout);
                        let mut p = run(&bp.scores, &q.data, &k.data);
                        let mut ds = run(&bp.dp, &g.data, &v.data);
                        grad_rows(
                            &mut p,
                            &mut ds,
                            &g.dense(),
                            &out,
                            &lse,
                            bias.as_ref(),
                            &d,
                            scale,
                            causal,
                        );
                        let dv = run(&bp.dv, &p, &g.data);
                        let dq = run(&bp.dq, &ds, &k.data);
                        let dk = run(&bp.dk, &ds, &q.data);
                        close(&format!("{what}: dq"), &dq, &want[2]);
                        close(&format!("{what}: dk"), &dk, &want[3]);
                        close(&format!("{what}: dv"), &dv, &want[4]);
                        cases += 1;
                    }
                }
            }
        }
        assert_eq!(cases, 5 * 5 * 2 * 5);
    }

    #[test]
    fn dense_operands_reach_cublas_without_copies() {
        // q, k, v contiguous with a full batch: every product of both plans reads its
        // operands in place (the transposed ones as cuBLAS transposes).
        let (b, l, s, e, ev) = (3, 5, 7, 4, 2);
        let c = |dims: &[usize]| Layout::contiguous(Shape::from_dims(dims));
        let (q, k, v, g) = (c(&[b, l, e]), c(&[b, s, e]), c(&[b, s, ev]), c(&[b, l, ev]));
        let d = Dims::new("test", &q, &k, &v, None).unwrap();
        let f = forward_plan(&d, &q, &k, &v);
        let bp = backward_plan(&d, &q, &k, &v, &g);
        for (name, p) in [
            ("scores", &f.scores),
            ("out", &f.out),
            ("dp", &bp.dp),
            ("dv", &bp.dv),
            ("dq", &bp.dq),
            ("dk", &bp.dk),
        ] {
            let cu = plan(&p.lhs, &p.rhs, &p.spec);
            assert!(cu.first.is_some() && cu.second.is_some(), "{name}: {cu:?}");
        }
        assert_eq!(row_args("test", &d).unwrap(), [15, 5, 7, 2]);
    }

    #[test]
    fn layouts_that_do_not_fit_are_errors_naming_the_op() {
        let c = |dims: &[usize]| Layout::contiguous(Shape::from_dims(dims));
        let (q, k, v) = (c(&[2, 3, 4]), c(&[2, 5, 4]), c(&[2, 5, 6]));
        assert!(Dims::new("attention", &q, &k, &v, Some(&c(&[2, 3, 5]))).is_ok());
        let bad = [
            (c(&[3, 4]), k.clone(), v.clone(), None),
            (q.clone(), c(&[2, 5, 3]), v.clone(), None),
            (q.clone(), k.clone(), c(&[2, 4, 6]), None),
            (q.clone(), c(&[1, 5, 4]), v.clone(), None),
            (c(&[4]), c(&[4]), c(&[4]), None),
            (q.clone(), k.clone(), v.clone(), Some(c(&[3, 5]))),
            (q.clone(), k.clone(), v.clone(), Some(c(&[2, 3, 4]))),
        ];
        for (q, k, v, b) in bad {
            let e = Dims::new("attention", &q, &k, &v, b.as_ref())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("attention") && e.contains(&q.shape().to_string()),
                "{e}"
            );
        }
        let d = Dims::new("attention", &q, &k, &v, None).unwrap();
        assert!(d
            .expect("attention_backward", "output", &c(&[2, 3, 6]), &[3, 6])
            .is_ok());
        let e = d
            .expect("attention_backward", "log-sum-exp", &c(&[2, 4]), &[3])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("attention_backward") && e.contains("log-sum-exp [2, 4]"),
            "{e}"
        );
    }
}

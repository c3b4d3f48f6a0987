//! The fused primitives' launches (the kernels in `kernels/fused.cuh`): Adam and SGD
//! updates in place, normalisation and its backward (statistics by one block per group,
//! then one thread per element), max pooling's arg-max, and integer matmul. Each returns
//! `None` where the CPU backend's would (non-float or mixed dtypes, non-contiguous
//! operands), so the tensor layer runs the composite there.

use lamina_tensor::{
    share_storage, AdamStep, Backend, DType, Layout, MatmulSpec, NormSpec, PoolGeometry, Result,
    SgdStep, Shape, Storage, StorageRef,
};

use super::{at, count, cuda, cuda_mut, CudaBackend, CudaStorage};
use crate::launch::StridedArg;
use crate::source;

/// A float dtype shared by every operand, or `None` (the composite then runs; so for the
/// half types, whose optimizer steps have no kernel here, as on the CPU).
fn float_dtype(operands: &[&dyn Storage]) -> Option<DType> {
    let d = operands.first()?.dtype();
    let same = operands.iter().all(|s| s.dtype() == d);
    (same && matches!(d, DType::F32 | DType::F64)).then_some(d)
}

/// The shared dtype of a normalisation's operands (half included) and the dtype of its
/// statistics on the device: the operands' own, f32 for the half types (the CPU computes
/// half norms in f32 and rounds only the results).
fn norm_dtypes(operands: &[&dyn Storage]) -> Option<(DType, DType)> {
    let d = operands.first()?.dtype();
    if !operands.iter().all(|s| s.dtype() == d) {
        return None;
    }
    match d {
        DType::F32 | DType::F64 => Some((d, d)),
        DType::F16 | DType::BF16 => Some((d, DType::F32)),
        DType::I64 | DType::U32 | DType::Bool => None,
    }
}

impl CudaBackend {
    /// Adam in place on contiguous `param`, `grad` and the moments (offset 0, at least
    /// the parameter's length), as `AdamStep` documents.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fused_adam(
        &self,
        param: &mut dyn Storage,
        pl: &Layout,
        grad: &dyn Storage,
        gl: &Layout,
        m: &mut dyn Storage,
        v: &mut dyn Storage,
        step: &AdamStep,
    ) -> Option<Result<()>> {
        let (pr, gr) = (pl.contiguous_range()?, gl.contiguous_range()?);
        let dtype = float_dtype(&[&*param, grad, &*m, &*v])?;
        let n = pr.len();
        if gr.len() != n || m.len() < n || v.len() < n {
            return None;
        }
        let (p, g) = (cuda_mut(param).ok()?, cuda(grad).ok()?);
        let (m, v) = (cuda_mut(m).ok()?, cuda_mut(v).ok()?);
        let cfg = Self::elementwise_cfg(n)?;
        Some((|| {
            let f = self.function("fused.cu", &format!("adam_{}", source::suffix(dtype)))?;
            let s = &self.stream;
            let (pp, _g1) = p.ptr_mut(s);
            let (pg, _g2) = g.ptr(s);
            let (pm, _g3) = m.ptr_mut(s);
            let (pv, _g4) = v.ptr_mut(s);
            let (pp, pg) = (at(pp, pr.start, dtype), at(pg, gr.start, dtype));
            let nn = n as u64;
            let (b1, b2, eps, ss, bc2) = (
                step.beta1,
                step.beta2,
                step.eps,
                step.step_size,
                step.bc2_sqrt,
            );
            // SAFETY: `adam_<d>(T* p, const T* g, T* m, T* v, n, beta1, beta2, eps,
            // step_size, bc2_sqrt)`; `p` and `g` address `n` elements of their contiguous
            // ranges, `m` and `v` at least `n` from offset 0, all of `dtype`.
            unsafe {
                self.launch(
                    &f,
                    cfg,
                    &[&pp, &pg, &pm, &pv, &nn, &b1, &b2, &eps, &ss, &bc2],
                )
            }
        })())
    }

    /// SGD with momentum in place on contiguous `param`, `grad` and `buf` (offset 0, at
    /// least the parameter's length), as `SgdStep` documents.
    pub(super) fn fused_sgd(
        &self,
        param: &mut dyn Storage,
        pl: &Layout,
        grad: &dyn Storage,
        gl: &Layout,
        buf: &mut dyn Storage,
        step: &SgdStep,
    ) -> Option<Result<()>> {
        let (pr, gr) = (pl.contiguous_range()?, gl.contiguous_range()?);
        let dtype = float_dtype(&[&*param, grad, &*buf])?;
        let n = pr.len();
        if gr.len() != n || buf.len() < n {
            return None;
        }
        let (p, g, b) = (cuda_mut(param).ok()?, cuda(grad).ok()?, cuda_mut(buf).ok()?);
        let cfg = Self::elementwise_cfg(n)?;
        Some((|| {
            let f = self.function("fused.cu", &format!("sgd_{}", source::suffix(dtype)))?;
            let s = &self.stream;
            let (pp, _g1) = p.ptr_mut(s);
            let (pg, _g2) = g.ptr(s);
            let (pb, _g3) = b.ptr_mut(s);
            let (pp, pg) = (at(pp, pr.start, dtype), at(pg, gr.start, dtype));
            let nn = n as u64;
            let (lr, mu, damp, wd) = (step.lr, step.momentum, step.dampening, step.weight_decay);
            let nesterov = i32::from(step.nesterov);
            // SAFETY: `sgd_<d>(T* p, const T* g, T* buf, n, lr, momentum, dampening,
            // weight_decay, int nesterov)`; `p` and `g` address `n` elements of their
            // contiguous ranges, `buf` at least `n` from offset 0, all of `dtype`.
            unsafe {
                self.launch(
                    &f,
                    cfg,
                    &[&pp, &pg, &pb, &nn, &lr, &mu, &damp, &wd, &nesterov],
                )
            }
        })())
    }

    /// Normalisation of a contiguous float `x` (half included, computed in f32): the
    /// output, each group's mean and variance (see `Backend::normalize`).
    pub(super) fn fused_normalize(
        &self,
        x: &dyn Storage,
        xl: &Layout,
        spec: &NormSpec,
    ) -> Option<Result<(StorageRef, StorageRef, StorageRef)>> {
        let range = xl.contiguous_range()?;
        let (dtype, stat) = norm_dtypes(&[x])?;
        let x = cuda(x).ok()?;
        Some((|| {
            let n = range.len();
            let groups = spec.groups;
            let mut y = self.alloc(dtype, n)?;
            let mut mean = self.alloc(stat, groups)?;
            let mut var = self.alloc(stat, groups)?;
            let mut rstd = self.alloc(stat, groups)?;
            let d = source::suffix(dtype);
            let (stats, apply) = (
                self.function("fused.cu", &format!("norm_stats_{d}"))?,
                self.function("fused.cu", &format!("norm_apply_{d}"))?,
            );
            let (outer, g, inner) = (spec.outer as u64, groups as u64, spec.inner as u64);
            let (eps, center, nn) = (spec.eps, i32::from(spec.center), n as u64);
            let s = &self.stream;
            let (px, _g0) = x.ptr(s);
            let px = at(px, range.start, dtype);
            {
                let (pm, _g1) = mean.ptr_mut(s);
                let (pv, _g2) = var.ptr_mut(s);
                let (pr, _g3) = rstd.ptr_mut(s);
                // SAFETY: `norm_stats_<d>(const T* x, S* mean, S* var, S* rstd, outer,
                // groups, inner, eps, int center)` reads `outer · groups · inner = n`
                // elements of `x`'s contiguous range and writes `groups` of each output,
                // allocated above in `S` (`stat`).
                unsafe {
                    self.launch(
                        &stats,
                        Self::rows_cfg(groups),
                        &[&px, &pm, &pv, &pr, &outer, &g, &inner, &eps, &center],
                    )?
                };
            }
            if let Some(cfg) = Self::elementwise_cfg(n) {
                let (py, _g1) = y.ptr_mut(s);
                let (pm, _g2) = mean.ptr(s);
                let (pr, _g3) = rstd.ptr(s);
                // SAFETY: `norm_apply_<d>(const T* x, T* y, const S* mean, const S* rstd, n,
                // groups, inner)`: `n` elements of `x` and `y`, group ids below `groups`.
                unsafe { self.launch(&apply, cfg, &[&px, &py, &pm, &pr, &nn, &g, &inner])? };
            }
            if stat == dtype {
                return Ok((share_storage(y), share_storage(mean), share_storage(var)));
            }
            // Half statistics: rounded once from f32, as the CPU's.
            let l = Layout::contiguous(Shape::from(groups));
            Ok((
                share_storage(y),
                Backend::cast(self, &mean, &l, dtype)?,
                Backend::cast(self, &var, &l, dtype)?,
            ))
        })())
    }

    /// The input gradient of normalisation (see `Backend::normalize_backward`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fused_normalize_backward(
        &self,
        g: &dyn Storage,
        gl: &Layout,
        y: &dyn Storage,
        yl: &Layout,
        rstd: &dyn Storage,
        rl: &Layout,
        spec: &NormSpec,
    ) -> Option<Result<StorageRef>> {
        let (gr, yr, rr) = (
            gl.contiguous_range()?,
            yl.contiguous_range()?,
            rl.contiguous_range()?,
        );
        let (dtype, stat) = norm_dtypes(&[g, y, rstd])?;
        let (g, y, rstd) = (cuda(g).ok()?, cuda(y).ok()?, cuda(rstd).ok()?);
        Some((|| {
            let n = gr.len();
            let groups = spec.groups;
            let mut dx = self.alloc(dtype, n)?;
            let mut coef = self.alloc(stat, 2 * groups)?;
            let d = source::suffix(dtype);
            let (sums, apply) = (
                self.function("fused.cu", &format!("norm_backward_sums_{d}"))?,
                self.function("fused.cu", &format!("norm_backward_apply_{d}"))?,
            );
            let (outer, gg, inner) = (spec.outer as u64, groups as u64, spec.inner as u64);
            let (center, nn) = (i32::from(spec.center), n as u64);
            let s = &self.stream;
            let (pg, _g0) = g.ptr(s);
            let (py, _g1) = y.ptr(s);
            let (pr, _g2) = rstd.ptr(s);
            let (pg, py, pr) = (
                at(pg, gr.start, dtype),
                at(py, yr.start, dtype),
                at(pr, rr.start, dtype),
            );
            {
                let (pc, _g3) = coef.ptr_mut(s);
                // SAFETY: `norm_backward_sums_<d>(const T* g, const T* y, S* coef, outer,
                // groups, inner, int center)` reads `n` elements of `g` and `y` and writes
                // `2 · groups` of `coef` (allocated in `S`, `stat`).
                unsafe {
                    self.launch(
                        &sums,
                        Self::rows_cfg(groups),
                        &[&pg, &py, &pc, &outer, &gg, &inner, &center],
                    )?
                };
            }
            if let Some(cfg) = Self::elementwise_cfg(n) {
                let (pc, _g3) = coef.ptr(s);
                let (pd, _g4) = dx.ptr_mut(s);
                // SAFETY: `norm_backward_apply_<d>(const T* g, const T* y, const S* coef,
                // const T* rstd, T* dx, n, groups, inner)`: `n` elements of `g`, `y`, `dx`;
                // `rstd` has `groups` (the tensor layer checks its shape).
                unsafe { self.launch(&apply, cfg, &[&pg, &py, &pc, &pr, &pd, &nn, &gg, &inner])? };
            }
            Ok(share_storage(dx))
        })())
    }

    /// The arg-max of each max-pooling window of a contiguous float `x` (half included).
    pub(super) fn fused_max_pool_indices(
        &self,
        x: &dyn Storage,
        xl: &Layout,
        geo: &PoolGeometry,
    ) -> Option<Result<StorageRef>> {
        let range = xl.contiguous_range()?;
        // Half inputs too: the kernel compares widened values, exact as the CPU's.
        let dtype = match x.dtype() {
            d @ (DType::F32 | DType::F64 | DType::F16 | DType::BF16) => d,
            DType::I64 | DType::U32 | DType::Bool => return None,
        };
        let x = cuda(x).ok()?;
        let (planes, [h, w, kh, kw, sh, sw, ph, pw, oh, ow]) = crate::launch::pool_plan(geo);
        Some((|| {
            let n = planes as usize * (oh * ow) as usize;
            let mut out = self.alloc(DType::I64, n)?;
            if let Some(cfg) = Self::elementwise_cfg(n) {
                let f = self.function(
                    "fused.cu",
                    &format!("max_pool_indices_{}", source::suffix(dtype)),
                )?;
                let s = &self.stream;
                let (px, _g0) = x.ptr(s);
                let px = at(px, range.start, dtype);
                let (py, _g1) = out.ptr_mut(s);
                // SAFETY: `max_pool_indices_<d>(const T* x, long long* y, planes, h, w, kh,
                // kw, sh, sw, ph, pw, oh, ow)`: the tensor layer checked the geometry against
                // `x`'s shape (every window inside the `h × w` plane), `y` holds
                // `planes · oh · ow` indices.
                unsafe {
                    self.launch(
                        &f,
                        cfg,
                        &[
                            &px, &py, &planes, &h, &w, &kh, &kw, &sh, &sw, &ph, &pw, &oh, &ow,
                        ],
                    )?
                };
            }
            Ok(share_storage(out))
        })())
    }

    /// Integer matmul (wrapping), one thread per output element, the operands read through
    /// their layouts (checked in bounds by the caller).
    pub(super) fn matmul_int(
        &self,
        (a, la): (&CudaStorage, &Layout),
        (b, lb): (&CudaStorage, &Layout),
        spec: &MatmulSpec,
    ) -> Result<StorageRef> {
        let batch = spec.batch.elem_count();
        let (m, k, n) = (spec.m, spec.k, spec.n);
        let total = batch * m * n;
        let dtype = a.dtype();
        let mut out = self.alloc(dtype, total)?;
        if let Some(cfg) = Self::elementwise_cfg(total) {
            let f = self.function("fused.cu", &format!("matmul_int_{}", source::suffix(dtype)))?;
            let (sa, sb) = (
                StridedArg::new("matmul", la)?,
                StridedArg::new("matmul", lb)?,
            );
            let (bb, mm, kk, nn) = (batch as u64, m as u64, k as u64, n as u64);
            let s = &self.stream;
            let (pa, _g0) = a.ptr(s);
            let (pb, _g1) = b.ptr(s);
            let (py, _g2) = out.ptr_mut(s);
            // SAFETY: `matmul_int_<d>(const T* a, const T* b, T* y, Strided la, Strided lb,
            // batch, m, k, n)`: `la` is `[batch.., m, k]` and `lb` `[batch.., k, n]`, both in
            // bounds, `y` holds `batch · m · n` elements; both operands of `dtype`.
            unsafe { self.launch(&f, cfg, &[&pa, &pb, &py, &sa, &sb, &bb, &mm, &kk, &nn])? };
        }
        debug_assert_eq!(count(la), batch * m * k);
        Ok(share_storage(out))
    }
}

//! Scaled dot-product attention and its backward on the device (`Backend::attention`,
//! `Backend::attention_backward`), f32 and f64: the batched products through cuBLAS
//! (`matmul_impl`, planned in [`crate::attention`], transposed operands as views), the
//! softmax and the scores' gradient by the row kernels of `kernels/attention.cuh`. The
//! half types return `None` and run the composite, as on the CPU (half matmuls, the softmax
//! in f32). Compile-checked (Rust, NVRTC, ptxas) and tested on the host only: these have
//! not run on a GPU.
//!
//! Unlike the CPU's blocked kernel this materialises the `[B.., L, S]` scores, one buffer
//! forward (the weights, in place) and two backward (the weights and `dS`, in place), as
//! the composite does; the tape still saves only the log-sum-exps.

use std::ops::Range;

use cudarc::driver::SyncOnDrop;
use lamina_tensor::{
    share_storage, AttentionSpec, DType, Error, Layout, Result, Shape, Storage, StorageRef,
};

use super::{at, check_bounds, cuda, cuda_mut, CudaBackend, CudaStorage};
use crate::attention::{backward_plan, forward_plan, row_args, Dims, Product};
use crate::launch::StridedArg;
use crate::source;

/// The dtype every operand shares when it is f32 or f64; `None` otherwise (the half
/// types run the composite, as on the CPU; the tensor layer has rejected the rest).
fn attention_dtype(operands: &[&dyn Storage]) -> Option<DType> {
    let d = operands.first()?.dtype();
    let same = operands.iter().all(|s| s.dtype() == d);
    (same && matches!(d, DType::F32 | DType::F64)).then_some(d)
}

/// An operand on this device: its storage and its layout.
type Input<'a> = (&'a CudaStorage, &'a Layout);

/// A contiguous operand: its storage, its layout and the storage range it covers.
type Dense<'a> = (&'a CudaStorage, &'a Layout, Range<usize>);

/// The storage a product just returned, for writing in place: it is the only reference.
fn unique(s: &mut StorageRef) -> Result<&mut CudaStorage> {
    let s = StorageRef::get_mut(s).ok_or_else(|| Error::Backend {
        backend: "cuda".into(),
        msg: "attention: a fresh product's storage is shared".into(),
    })?;
    cuda_mut(s)
}

/// An error unless the product's result holds `n` elements (what the row kernels'
/// launches rely on; `matmul_impl` returns `batch · m · n`).
fn expect_len(s: &CudaStorage, n: usize, what: &str) -> Result<()> {
    if s.len() != n {
        return Err(Error::Backend {
            backend: "cuda".into(),
            msg: format!("attention: {what} holds {} elements, expected {n}", s.len()),
        });
    }
    Ok(())
}

/// The bias's kernel arguments: its layout and whether there is one. Without a bias the
/// kernels never read the layout (a dummy rank-2 one) or the pointer (0).
fn bias_arg(op: &'static str, bias: Option<Input>, d: &Dims) -> Result<(StridedArg, i32)> {
    match bias {
        Some((_, l)) => Ok((StridedArg::new(op, l)?, 1)),
        None => Ok((
            StridedArg::new(op, &Layout::contiguous(Shape::from([d.l, d.s])))?,
            0,
        )),
    }
}

/// A contiguous operand of this device, or `None`.
fn dense<'a>((s, l): (&'a dyn Storage, &'a Layout)) -> Option<Dense<'a>> {
    Some((cuda(s).ok()?, l, l.contiguous_range()?))
}

impl CudaBackend {
    /// `lhs · rhs` of a planned product, both operands of this device.
    fn product(&self, p: &Product, lhs: &CudaStorage, rhs: &CudaStorage) -> Result<StorageRef> {
        self.matmul_impl(lhs, &p.lhs, rhs, &p.rhs, &p.spec)
    }

    /// The forward (see `Backend::attention`); `None` for non-f32/f64 operands or
    /// storages of another device.
    pub(super) fn fused_attention(
        &self,
        q: (&dyn Storage, &Layout),
        k: (&dyn Storage, &Layout),
        v: (&dyn Storage, &Layout),
        bias: Option<(&dyn Storage, &Layout)>,
        spec: &AttentionSpec,
    ) -> Option<Result<(StorageRef, StorageRef)>> {
        let mut all = vec![q.0, k.0, v.0];
        all.extend(bias.map(|b| b.0));
        let dtype = attention_dtype(&all)?;
        let (qs, ks, vs) = (cuda(q.0).ok()?, cuda(k.0).ok()?, cuda(v.0).ok()?);
        let bias = match bias {
            Some((b, l)) => Some((cuda(b).ok()?, l)),
            None => None,
        };
        Some(self.attention_forward(dtype, (qs, q.1), (ks, k.1), (vs, v.1), bias, spec))
    }

    fn attention_forward(
        &self,
        dtype: DType,
        q: Input,
        k: Input,
        v: Input,
        bias: Option<Input>,
        spec: &AttentionSpec,
    ) -> Result<(StorageRef, StorageRef)> {
        const OP: &str = "attention";
        let d = Dims::new(OP, q.1, k.1, v.1, bias.map(|b| b.1))?;
        for (s, l) in [q, k, v].into_iter().chain(bias) {
            check_bounds(OP, l, s.len())?;
        }
        let plan = forward_plan(&d, q.1, k.1, v.1);
        let [rows, l, s, _] = row_args(OP, &d)?;
        let mut scores = self.product(&plan.scores, q.0, k.0)?;
        let mut lse = self.alloc(dtype, d.rows())?;
        if d.rows() > 0 {
            let p = unique(&mut scores)?;
            expect_len(p, d.rows() * d.s, "the scores")?;
            let f = self.function(
                "attention.cu",
                &format!("attention_weights_{}", source::suffix(dtype)),
            )?;
            let (lb, has_bias) = bias_arg(OP, bias, &d)?;
            let (scale, causal) = (spec.scale, i32::from(spec.causal));
            let st = &self.stream;
            let (pb, _gb) = match bias {
                Some((b, _)) => b.ptr(st),
                None => (0, SyncOnDrop::Sync(None)),
            };
            let (pp, _gp) = p.ptr_mut(st);
            let (pl, _gl) = lse.ptr_mut(st);
            // SAFETY: `attention_weights_<d>(T* p, T* lse, const T* bias, Strided lb,
            // int has_bias, rows, l, s, double scale, int causal)` with 256-thread blocks
            // (its launch bounds), every pointer to `dtype` elements: `p` the scores,
            // `rows · s` elements (checked above), `lse` `rows`; the bias, when present,
            // read at `lb`'s offsets of the elements (r, j) of its `[batch.., l, s]` shape
            // (checked by `Dims::new`) with `r < rows = batch · l` and `j < s`, which
            // `check_bounds` put inside its storage; without one, `bias` is 0 and
            // `has_bias` 0, and the kernel reads neither it nor `lb`.
            unsafe {
                self.launch(
                    &f,
                    Self::rows_cfg(d.rows()),
                    &[
                        &pp, &pl, &pb, &lb, &has_bias, &rows, &l, &s, &scale, &causal,
                    ],
                )?
            };
        }
        // P · v: the weights as the contiguous `[batch.., l, s]` the plan names.
        let out = self.product(&plan.out, cuda(&*scores)?, v.0)?;
        Ok((out, share_storage(lse)))
    }

    /// The backward (see `Backend::attention_backward`); `None` for non-f32/f64 operands,
    /// storages of another device, or an output gradient, output or log-sum-exp that is
    /// not contiguous (the trait hands them over contiguous).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fused_attention_backward(
        &self,
        grad: (&dyn Storage, &Layout),
        q: (&dyn Storage, &Layout),
        k: (&dyn Storage, &Layout),
        v: (&dyn Storage, &Layout),
        out: (&dyn Storage, &Layout),
        lse: (&dyn Storage, &Layout),
        bias: Option<(&dyn Storage, &Layout)>,
        spec: &AttentionSpec,
    ) -> Option<Result<(StorageRef, StorageRef, StorageRef)>> {
        let mut all = vec![grad.0, q.0, k.0, v.0, out.0, lse.0];
        all.extend(bias.map(|b| b.0));
        let dtype = attention_dtype(&all)?;
        let (g, o, m) = (dense(grad)?, dense(out)?, dense(lse)?);
        let (qs, ks, vs) = (cuda(q.0).ok()?, cuda(k.0).ok()?, cuda(v.0).ok()?);
        let bias = match bias {
            Some((b, l)) => Some((cuda(b).ok()?, l)),
            None => None,
        };
        Some(self.attention_backward_impl(
            dtype,
            (g, o, m),
            (qs, q.1),
            (ks, k.1),
            (vs, v.1),
            bias,
            spec,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn attention_backward_impl(
        &self,
        dtype: DType,
        (g, o, m): (Dense, Dense, Dense),
        q: Input,
        k: Input,
        v: Input,
        bias: Option<Input>,
        spec: &AttentionSpec,
    ) -> Result<(StorageRef, StorageRef, StorageRef)> {
        const OP: &str = "attention_backward";
        let d = Dims::new(OP, q.1, k.1, v.1, bias.map(|b| b.1))?;
        d.expect(OP, "output gradient", g.1, &[d.l, d.ev])?;
        d.expect(OP, "output", o.1, &[d.l, d.ev])?;
        d.expect(OP, "log-sum-exp", m.1, &[d.l])?;
        for (s, l) in [q, k, v, (g.0, g.1), (o.0, o.1), (m.0, m.1)]
            .into_iter()
            .chain(bias)
        {
            check_bounds(OP, l, s.len())?;
        }
        let plan = backward_plan(&d, q.1, k.1, v.1, g.1);
        let [rows, l, s, ev] = row_args(OP, &d)?;
        let mut p = self.product(&plan.scores, q.0, k.0)?;
        let mut ds = self.product(&plan.dp, g.0, v.0)?;
        if d.rows() > 0 {
            let (pp_s, ds_s) = (unique(&mut p)?, unique(&mut ds)?);
            expect_len(pp_s, d.rows() * d.s, "the scores")?;
            expect_len(ds_s, d.rows() * d.s, "g · vᵀ")?;
            let f = self.function(
                "attention.cu",
                &format!("attention_grad_{}", source::suffix(dtype)),
            )?;
            let (lb, has_bias) = bias_arg(OP, bias, &d)?;
            let (scale, causal) = (spec.scale, i32::from(spec.causal));
            let st = &self.stream;
            let (pb, _gb) = match bias {
                Some((b, _)) => b.ptr(st),
                None => (0, SyncOnDrop::Sync(None)),
            };
            let (pg, _gg) = g.0.ptr(st);
            let (po, _go) = o.0.ptr(st);
            let (pm, _gm) = m.0.ptr(st);
            let (pg, po, pm) = (
                at(pg, g.2.start, dtype),
                at(po, o.2.start, dtype),
                at(pm, m.2.start, dtype),
            );
            let (pp, _gp) = pp_s.ptr_mut(st);
            let (pd, _gd) = ds_s.ptr_mut(st);
            // SAFETY: `attention_grad_<d>(T* p, T* ds, const T* g, const T* o,
            // const T* lse, const T* bias, Strided lb, int has_bias, rows, l, s, ev,
            // double scale, int causal)` with 256-thread blocks (its launch bounds), every
            // pointer to `dtype` elements: `p` and `ds` two distinct fresh products of
            // `rows · s` elements (checked above); `g` and `o` the starts of contiguous
            // ranges of `rows · ev` elements and `lse` of `rows` (their shapes checked
            // against `d` above, their ranges inside their storages by `check_bounds`);
            // the bias as in the forward: read at `lb`'s offsets of elements (r, j),
            // r < rows, j < s, of its checked `[batch.., l, s]` shape, in bounds, or not at
            // all when `has_bias` is 0 (then `bias` is 0).
            unsafe {
                self.launch(
                    &f,
                    Self::rows_cfg(d.rows()),
                    &[
                        &pp, &pd, &pg, &po, &pm, &pb, &lb, &has_bias, &rows, &l, &s, &ev, &scale,
                        &causal,
                    ],
                )?
            };
        }
        // The weights now in `p`, `dS · scale` in `ds`, both contiguous `[batch.., l, s]`.
        let dv = self.product(&plan.dv, cuda(&*p)?, g.0)?;
        drop(p);
        let dq = self.product(&plan.dq, cuda(&*ds)?, k.0)?;
        let dk = self.product(&plan.dk, cuda(&*ds)?, q.0)?;
        Ok((dq, dk, dv))
    }
}

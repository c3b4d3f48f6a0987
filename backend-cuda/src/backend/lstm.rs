//! The LSTM cell on the device (`kernels/lstm.cuh`): forward and backward, one thread per
//! (row, unit), f32 and f64 on contiguous operands; anything else returns `None` and the
//! tensor layer runs the composite (the half types too, as on the CPU). The whole-sequence
//! primitives keep their composite here: a per-step cuBLAS product and this cell.

use lamina_tensor::{share_storage, DType, Layout, Result, Storage, StorageRef};

use super::{at, cuda, CudaBackend, CudaStorage};
use crate::source;

/// A contiguous operand: its storage, first element and length.
type Dense<'a> = (&'a CudaStorage, usize, usize);

/// Each operand's storage and contiguous range if all are of one f32/f64 dtype and have
/// the expected lengths, with that dtype.
fn dense<'a, const K: usize>(
    ops: [(&'a dyn Storage, &Layout, usize); K],
) -> Option<([Dense<'a>; K], DType)> {
    let d = ops[0].0.dtype();
    if !matches!(d, DType::F32 | DType::F64) {
        return None;
    }
    let mut out = Vec::with_capacity(K);
    for (s, l, len) in ops {
        let r = l.contiguous_range()?;
        let c = cuda(s).ok()?;
        if s.dtype() != d || r.len() != len || r.end > c.len() {
            return None;
        }
        out.push((c, r.start, len));
    }
    Some((out.try_into().ok()?, d))
}

impl CudaBackend {
    /// `[n, 2h]` (`h` then `c` per row) from `gates [n, 4h]` and `c_prev [n, h]`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fused_lstm_cell(
        &self,
        gates: &dyn Storage,
        gl: &Layout,
        c_prev: &dyn Storage,
        cl: &Layout,
        n: usize,
        h: usize,
    ) -> Option<Result<StorageRef>> {
        let ([(a, ao, _), (c, co, _)], dtype) =
            dense([(gates, gl, n * 4 * h), (c_prev, cl, n * h)])?;
        let cfg = Self::elementwise_cfg(n * h)?;
        Some((|| {
            let f = self.function("lstm.cu", &format!("lstm_cell_{}", source::suffix(dtype)))?;
            let mut out = self.alloc(dtype, n * 2 * h)?;
            {
                let s = &self.stream;
                let (pa, _g1) = a.ptr(s);
                let (pc, _g2) = c.ptr(s);
                let (po, _g3) = out.ptr_mut(s);
                let (pa, pc) = (at(pa, ao, dtype), at(pc, co, dtype));
                let (nn, hh) = (n as i64, h as i64);
                // SAFETY: `lstm_cell_<d>(const T* gates, const T* c_prev, T* out, n, h)`
                // reads `4nh` and `nh` elements from the operands' checked contiguous
                // ranges and writes `2nh`, the length of `out`, all of `dtype`.
                unsafe { self.launch(&f, cfg, &[&pa, &pc, &po, &nn, &hh])? };
            }
            Ok(share_storage(out))
        })())
    }

    /// The gradients of the gates (`[n, 4h]`) and of `c_prev` (`[n, h]`) from the output
    /// gradient `[n, 2h]`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fused_lstm_cell_backward(
        &self,
        grad: &dyn Storage,
        grl: &Layout,
        gates: &dyn Storage,
        gl: &Layout,
        c_prev: &dyn Storage,
        cl: &Layout,
        n: usize,
        h: usize,
    ) -> Option<Result<(StorageRef, StorageRef)>> {
        let ([(g, go, _), (a, ao, _), (c, co, _)], dtype) = dense([
            (grad, grl, n * 2 * h),
            (gates, gl, n * 4 * h),
            (c_prev, cl, n * h),
        ])?;
        let cfg = Self::elementwise_cfg(n * h)?;
        Some((|| {
            let name = format!("lstm_cell_backward_{}", source::suffix(dtype));
            let f = self.function("lstm.cu", &name)?;
            let mut da = self.alloc(dtype, n * 4 * h)?;
            let mut dc = self.alloc(dtype, n * h)?;
            {
                let s = &self.stream;
                let (pg, _g1) = g.ptr(s);
                let (pa, _g2) = a.ptr(s);
                let (pc, _g3) = c.ptr(s);
                let (pda, _g4) = da.ptr_mut(s);
                let (pdc, _g5) = dc.ptr_mut(s);
                let (pg, pa, pc) = (at(pg, go, dtype), at(pa, ao, dtype), at(pc, co, dtype));
                let (nn, hh) = (n as i64, h as i64);
                // SAFETY: `lstm_cell_backward_<d>(const T* grad, const T* gates, const T*
                // c_prev, T* dgates, T* dc_prev, n, h)` reads `2nh`, `4nh` and `nh`
                // elements from the checked contiguous ranges and writes `4nh` and `nh`,
                // the lengths of `da` and `dc`, all of `dtype`.
                unsafe { self.launch(&f, cfg, &[&pg, &pa, &pc, &pda, &pdc, &nn, &hh])? };
            }
            Ok((share_storage(da), share_storage(dc)))
        })())
    }
}

//! Convolution on the device: `im2col` (kernels/conv.cuh) and cuBLAS, as
//! [`crate::conv`] plans it. f32 and f64, ungrouped, contiguous operands; anything else
//! returns `None` and the tensor layer runs the composite (the half types too, as their
//! sums would round twice here where the CPU rounds once).

use lamina_tensor::{
    share_storage, ConvGeometry, DType, Layout, Result, Shape, Storage, StorageRef,
};

use super::{cuda, CudaBackend, CudaStorage};
use crate::conv::{Cols, ConvDims, ConvPlan};
use crate::source;

/// The shared f32/f64 dtype of two operands, their contiguous ranges' offsets and the
/// kernels' geometry, or `None` (the composite runs): each operand must be contiguous
/// with exactly its geometry shape's element count inside its storage.
fn operands<'a>(
    (a, al, a_shape): (&'a dyn Storage, &Layout, Shape),
    (b, bl, b_shape): (&'a dyn Storage, &Layout, Shape),
    geo: &ConvGeometry,
) -> Option<(
    &'a CudaStorage,
    usize,
    &'a CudaStorage,
    usize,
    DType,
    ConvDims,
)> {
    let dims = ConvDims::new(geo)?;
    let (ar, br) = (al.contiguous_range()?, bl.contiguous_range()?);
    let d = a.dtype();
    if d != b.dtype() || !matches!(d, DType::F32 | DType::F64) {
        return None;
    }
    let (a, b) = (cuda(a).ok()?, cuda(b).ok()?);
    // The kernels and products read exactly the geometry's elements from each start.
    let fits = |r: &std::ops::Range<usize>, shape: &Shape, len: usize| {
        r.len() == shape.elem_count() && r.end <= len
    };
    if !fits(&ar, &a_shape, a.len()) || !fits(&br, &b_shape, b.len()) {
        return None;
    }
    Some((a, ar.start, b, br.start, d, dims))
}

impl CudaBackend {
    /// `im2col` of the contiguous input `x` (from `offset`) into a new patch matrix.
    fn im2col(
        &self,
        x: &CudaStorage,
        offset: usize,
        dims: &ConvDims,
        plan: &ConvPlan,
        cols: Cols,
    ) -> Result<CudaStorage> {
        let dtype = x.dtype();
        let mut out = self.alloc(dtype, plan.cols_len())?;
        let Some(cfg) = Self::elementwise_cfg(plan.cols_len()) else {
            return Ok(out);
        };
        let f = self.function("conv.cu", &format!("im2col_{}", source::suffix(dtype)))?;
        let (sn, sck) = plan.cols_strides(cols);
        let s = &self.stream;
        let (px, _g1) = x.ptr(s);
        let px = super::at(px, offset, dtype);
        {
            let (py, _g2) = out.ptr_mut(s);
            // SAFETY: `im2col_<d>(const T* x, T* cols, ConvDims g, long long sn, long long sck)`
            // reads `N · C_in · in..` elements of `x` from `offset` (the caller checked that
            // contiguous range in bounds) at indices inside the input only, and writes
            // `n · sn + r · sck + p < N · CK · P` for either arrangement, the length of `out`.
            unsafe { self.launch(&f, cfg, &[&px, &py, dims, &sn, &sck])? };
        }
        Ok(out)
    }

    /// The convolution `w · im2col(x)` (see `Backend::conv`).
    pub(super) fn fused_conv(
        &self,
        x: &dyn Storage,
        xl: &Layout,
        w: &dyn Storage,
        wl: &Layout,
        geo: &ConvGeometry,
    ) -> Option<Result<StorageRef>> {
        let (x, xo, w, wo, _, dims) =
            operands((x, xl, geo.input_shape()), (w, wl, geo.weight_shape()), geo)?;
        let plan = ConvPlan::new(geo);
        Some((|| {
            let cols = self.im2col(x, xo, &dims, &plan, Cols::BySample)?;
            let (lw, lc, spec) = plan.forward(wo);
            self.matmul_impl(w, &lw, &cols, &lc, &spec)
        })())
    }

    /// The input gradient `col2im(wᵀ · dy)` (see `Backend::conv_input_grad`).
    pub(super) fn fused_conv_input_grad(
        &self,
        dy: &dyn Storage,
        dyl: &Layout,
        w: &dyn Storage,
        wl: &Layout,
        geo: &ConvGeometry,
    ) -> Option<Result<StorageRef>> {
        let (dy, dyo, w, wo, dtype, dims) = operands(
            (dy, dyl, geo.output_shape()),
            (w, wl, geo.weight_shape()),
            geo,
        )?;
        let plan = ConvPlan::new(geo);
        Some((|| {
            let (lwt, ldy, spec) = plan.input_grad(wo, dyo);
            let dcols = self.matmul_impl(w, &lwt, dy, &ldy, &spec)?;
            let dcols = cuda(&*dcols)?;
            let n = plan.n * geo.in_channels * plan.input_len;
            let mut dx = self.alloc(dtype, n)?;
            if let Some(cfg) = Self::elementwise_cfg(n) {
                let f = self.function("conv.cu", &format!("col2im_{}", source::suffix(dtype)))?;
                let (sn, sck) = plan.cols_strides(Cols::BySample);
                let s = &self.stream;
                let (pc, _g1) = dcols.ptr(s);
                let (px, _g2) = dx.ptr_mut(s);
                // SAFETY: `col2im_<d>(const T* cols, T* dx, ConvDims g, long long sn, long
                // long sck)` reads `dcols`, the contiguous `[N, CK, P]` product just made
                // (`n · sn + r · sck + p` stays below its length), and writes
                // `N · C_in · in..` elements, the length of `dx`, all of `dtype`.
                unsafe { self.launch(&f, cfg, &[&pc, &px, &dims, &sn, &sck])? };
            }
            Ok(share_storage(dx))
        })())
    }

    /// The weight gradient `dy' · colsᵀ` over the whole batch at once (see
    /// `Backend::conv_weight_grad`).
    pub(super) fn fused_conv_weight_grad(
        &self,
        x: &dyn Storage,
        xl: &Layout,
        dy: &dyn Storage,
        dyl: &Layout,
        geo: &ConvGeometry,
    ) -> Option<Result<StorageRef>> {
        let (x, xo, dy, dyo, _, dims) = operands(
            (x, xl, geo.input_shape()),
            (dy, dyl, geo.output_shape()),
            geo,
        )?;
        let plan = ConvPlan::new(geo);
        Some((|| {
            let cols = self.im2col(x, xo, &dims, &plan, Cols::ByRow)?;
            let by_channel = self.contiguous(dy, &plan.dy_by_channel(dyo))?;
            let (ld, lct, spec) = plan.weight_grad();
            self.matmul_impl(&by_channel, &ld, &cols, &lct, &spec)
        })())
    }
}

//! Rules of the index ops: `index_select`, `gather` and every `scatter` (overwrite, add,
//! mean, amax/amin, prod). Index inputs get no gradient.

use lamina_tensor::{DType, Result, ScatterReduce, Shape, Tensor};
use smallvec::smallvec;

use super::{Ctx, InputGrads};

/// d/dx of x[ids] along dim: g scatter-added back at ids.
pub(super) fn index_select(ctx: &Ctx, dim: usize, g: &Tensor) -> Result<InputGrads> {
    let ids = ctx.input(1);
    let mut shape = vec![1usize; g.rank()];
    shape[dim] = ids.elem_count();
    let ids_full = ids.reshape(shape)?.broadcast_to(g.shape())?;
    let zeros = Tensor::zeros(ctx.shape(0), g.dtype(), g.device())?;
    Ok(smallvec![
        Some(zeros.scatter_add(dim as isize, &ids_full, g)?),
        None
    ])
}

/// The adjoint of `gather`: g scatter-added back where it was read.
pub(super) fn gather(ctx: &Ctx, dim: usize, g: &Tensor) -> Result<InputGrads> {
    let zeros = Tensor::zeros(ctx.shape(0), g.dtype(), g.device())?;
    Ok(smallvec![
        Some(zeros.scatter_add(dim as isize, ctx.input(1), g)?),
        None
    ])
}

/// Every `scatter`: see [`scatter_grads`].
pub(super) fn scatter(
    ctx: &Ctx,
    dim: usize,
    reduce: ScatterReduce,
    include_self: bool,
    g: &Tensor,
) -> Result<InputGrads> {
    let (gb, gs) = scatter_grads(ctx, dim as isize, reduce, include_self, g)?;
    Ok(smallvec![gb, None, gs])
}

/// `t` (of the index shape) zero-padded up to `shape` (the source may be larger than the
/// index: only its leading block was read).
fn pad_to(t: Tensor, shape: &Shape) -> Result<Tensor> {
    let mut t = t;
    for d in 0..t.rank() {
        let (have, want) = (t.dims()[d], shape.dims()[d]);
        if have < want {
            let mut rest = t.dims().to_vec();
            rest[d] = want - have;
            let zeros = Tensor::zeros(rest, t.dtype(), t.device())?;
            t = Tensor::cat(&[&t, &zeros], d as isize)?;
        }
    }
    Ok(t)
}

/// The gradients of a scatter's base and source.
fn scatter_grads(
    ctx: &Ctx,
    dim: isize,
    reduce: ScatterReduce,
    include_self: bool,
    g: &Tensor,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let (base, ids, src, out) = (ctx.input(0), ctx.input(1), ctx.input(2), ctx.output());
    // The part of the source that was read (ids' shape).
    let src_used = lead_block(src, ids.shape())?;
    let ones = src_used.ones_like()?;
    // Positions written at least once.
    let written = base
        .zeros_like()?
        .scatter_add(dim, ids, &ones)?
        .gt_scalar(0.0)?;
    let zero = g.zeros_like()?;
    let g_unwritten = Tensor::where_(&written, &zero, g)?;
    let (gb, gs) = match reduce {
        // base: untouched positions only; src: what landed and stayed, the last write to
        // each position (PyTorch gives every write the gradient, which is right only for
        // distinct indices).
        ScatterReduce::Replace => (
            g_unwritten,
            (g.gather(dim, ids)? * last_writes(base, dim, ids, g.dtype())?)?,
        ),
        ScatterReduce::Sum => {
            let gb = if include_self { g.clone() } else { g_unwritten };
            (gb, g.gather(dim, ids)?)
        }
        // Each combined value gets g / count.
        ScatterReduce::Mean => {
            let init = if include_self {
                base.ones_like()?
            } else {
                base.zeros_like()?
            };
            let count = init.scatter_add(dim, ids, &ones)?;
            let count = Tensor::where_(&count.eq_scalar(0.0)?, &count.ones_like()?, &count)?;
            let share = (g / &count)?;
            let gb = if include_self {
                share.clone()
            } else {
                Tensor::where_(&written, &zero, g)?
            };
            (gb, share.gather(dim, ids)?)
        }
        // The gradient is shared evenly by every contributor equal to the result. Without
        // include_self the base is no contributor (PyTorch still counts a base equal to
        // the result there, and gives the sources less than the whole gradient).
        ScatterReduce::Amax | ScatterReduce::Amin => {
            let base_hits = if include_self {
                base.eq(out)?.to_dtype(g.dtype())?
            } else {
                Tensor::where_(&written, &zero, &base.eq(out)?.to_dtype(g.dtype())?)?
            };
            let src_hits = src_used.eq(&out.gather(dim, ids)?)?.to_dtype(g.dtype())?;
            let count = base_hits.scatter_add(dim, ids, &src_hits)?;
            let count = Tensor::where_(&count.eq_scalar(0.0)?, &count.ones_like()?, &count)?;
            let share = (g / &count)?;
            (
                (&share * &base_hits)?,
                (share.gather(dim, ids)? * &src_hits)?,
            )
        }
        // d/dv of a product = the product of the other contributors: out / v where v is
        // not zero; for a zero, the product of the others if it is the only zero, else 0.
        ScatterReduce::Prod => {
            let src_zero = src_used.eq_scalar(0.0)?;
            let base_zero = base.eq_scalar(0.0)?;
            let zero_init = if include_self {
                base_zero.to_dtype(g.dtype())?
            } else {
                base.zeros_like()?
            };
            let zeros = zero_init.scatter_add(dim, ids, &src_zero.to_dtype(g.dtype())?)?;
            let src_nz = Tensor::where_(&src_zero, &ones, &src_used)?;
            let base_nz = if include_self {
                Tensor::where_(&base_zero, &base.ones_like()?, base)?
            } else {
                base.ones_like()?
            };
            let prod_nz = base_nz.scatter_reduce(dim, ids, &src_nz, ScatterReduce::Prod, true)?;
            let one_zero = zeros.eq_scalar(1.0)?;
            let at_zero = (g * Tensor::where_(&one_zero, &prod_nz, &prod_nz.zeros_like()?)?)?;
            let g_out = (g * out)?;
            let gs_nz = (g_out.gather(dim, ids)? / &src_nz)?;
            let gs = Tensor::where_(&src_zero, &at_zero.gather(dim, ids)?, &gs_nz)?;
            let gb = if include_self {
                let gb_nz = (&g_out / &base_nz)?;
                let gb = Tensor::where_(&base_zero, &at_zero, &gb_nz)?;
                Tensor::where_(&written, &gb, g)?
            } else {
                g_unwritten
            };
            (gb, gs)
        }
    };
    let gb = ctx.wants(0).then_some(gb);
    let gs = if ctx.wants(2) {
        Some(pad_to(gs, ctx.shape(2))?)
    } else {
        None
    };
    Ok((gb, gs))
}

/// 1 where element `i` of `ids` is the last write to its position, else 0 (in `dtype`):
/// the kernels write in `ids`' row-major order, so the last write is the one with the
/// largest row-major number among those naming the position.
fn last_writes(base: &Tensor, dim: isize, ids: &Tensor, dtype: DType) -> Result<Tensor> {
    let n = ids.elem_count() as f64;
    let order = Tensor::arange(0.0, n, 1.0, DType::I64, ids.device())?.reshape(ids.shape())?;
    let last = Tensor::full(-1.0, base.shape(), DType::I64, base.device())?.scatter_reduce(
        dim,
        ids,
        &order,
        ScatterReduce::Amax,
        false,
    )?;
    order.eq(&last.gather(dim, ids)?)?.to_dtype(dtype)
}

/// The leading block of `t` with `shape`'s extents (a view).
fn lead_block(t: &Tensor, shape: &Shape) -> Result<Tensor> {
    let mut out = t.clone();
    for (d, &n) in shape.dims().iter().enumerate() {
        if out.dims()[d] != n {
            out = out.narrow(d as isize, 0, n)?;
        }
    }
    Ok(out)
}

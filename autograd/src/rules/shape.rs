//! Rules of matmul and of the ops that move elements without arithmetic: views, copies,
//! casts, slices, `cat`. (The index ops are in `index.rs`.)

use lamina_tensor::{Result, Tensor};
use smallvec::smallvec;

use super::{sum_to, Ctx, InputGrads};

/// Matmul with PyTorch's 1-D promotion: `ga = g · bᵀ`, `gb = aᵀ · g`, summed back over
/// broadcast batch dims.
pub(super) fn matmul(ctx: &Ctx, g: &Tensor) -> Result<InputGrads> {
    let (a, b) = (ctx.input(0), ctx.input(1));
    let a2 = if a.rank() == 1 {
        a.unsqueeze(0)?
    } else {
        a.clone()
    };
    let b2 = if b.rank() == 1 {
        b.unsqueeze(-1)?
    } else {
        b.clone()
    };
    // The gradient in the promoted output shape [batch.., m, n].
    let mut gd = g.dims().to_vec();
    if a.rank() == 1 {
        gd.insert(gd.len() - if b.rank() == 1 { 0 } else { 1 }, 1);
    }
    if b.rank() == 1 {
        gd.push(1);
    }
    let g2 = g.reshape(gd)?;
    let ga = if ctx.wants(0) {
        let full = if is_column_major(&a2) && b2.rank() == 2 && g2.rank() == 2 {
            b2.matmul(&g2.t()?)?.t()?
        } else {
            g2.matmul(&b2.transpose(-1, -2)?)?
        };
        Some(sum_to(&full, a2.shape())?.reshape(a.shape())?)
    } else {
        None
    };
    let gb = if ctx.wants(1) {
        // A column-major operand (a transposed parameter: `Linear` multiplies by `W^T`)
        // gets its gradient column-major too, as `(g^T a)^T`: the same numbers, and the
        // transpose rule then hands the parameter a contiguous gradient instead of a
        // strided view that every optimizer pass would have to walk.
        let full = if is_column_major(&b2) && a2.rank() == 2 && g2.rank() == 2 {
            g2.t()?.matmul(&a2)?.t()?
        } else {
            a2.transpose(-1, -2)?.matmul(&g2)?
        };
        Some(sum_to(&full, b2.shape())?.reshape(b.shape())?)
    } else {
        None
    };
    Ok(smallvec![ga, gb])
}

/// A rank-2 tensor stored column by column (a transposed contiguous matrix) that is not
/// also row-major: read off the strides, without building the transposed view.
fn is_column_major(t: &Tensor) -> bool {
    let l = t.layout();
    match (l.dims(), l.strides()) {
        ([rows, cols], [rs, cs]) => *rows > 1 && *cols > 1 && *rs == 1 && cs == rows,
        _ => false,
    }
}

/// Reshape, view, squeeze, unsqueeze, flatten: g in the input's shape.
pub(super) fn reshape(ctx: &Ctx, g: &Tensor) -> Result<InputGrads> {
    Ok(smallvec![Some(g.reshape(ctx.shape(0))?)])
}

/// The inverse permutation.
pub(super) fn permute(perm: &[usize], g: &Tensor) -> Result<InputGrads> {
    let mut inv = vec![0usize; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    Ok(smallvec![Some(g.permute(inv)?)])
}

/// Expand: summed back over the broadcast dims.
pub(super) fn broadcast(ctx: &Ctx, g: &Tensor) -> Result<InputGrads> {
    Ok(smallvec![Some(sum_to(g, ctx.shape(0))?)])
}

/// The adjoint of a slice: g written over the same slice of zeros.
pub(super) fn slice(
    ctx: &Ctx,
    dim: usize,
    start: usize,
    step: usize,
    g: &Tensor,
) -> Result<InputGrads> {
    let zeros = Tensor::zeros(ctx.shape(0), g.dtype(), g.device())?;
    Ok(smallvec![Some(zeros.slice_scatter(
        g,
        dim as isize,
        start,
        step
    )?)])
}

/// base: g with the overwritten slice zeroed; src: that slice of g.
pub(super) fn slice_scatter(
    ctx: &Ctx,
    dim: usize,
    start: usize,
    step: usize,
    g: &Tensor,
) -> Result<InputGrads> {
    let len = ctx.shape(1).dims()[dim];
    let gb = if ctx.wants(0) {
        let zeros = Tensor::zeros(ctx.shape(1), g.dtype(), g.device())?;
        Some(g.slice_scatter(&zeros, dim as isize, start, step)?)
    } else {
        None
    };
    let gs = if ctx.wants(1) {
        Some(g.narrow_step(dim as isize, start, len, step)?)
    } else {
        None
    };
    Ok(smallvec![gb, gs])
}

/// The adjoint of `unfold`: position `k` of window `i` is input element `i * step + k`
/// along `dim`, so for each `k` the slice `g[.., k]` is added to the input positions
/// `k, k + step, ...` (overlapping windows add up). A 0-d input is the one element every
/// window position read: the sum of g.
pub(super) fn unfold(
    ctx: &Ctx,
    dim: usize,
    size: usize,
    step: usize,
    g: &Tensor,
) -> Result<InputGrads> {
    let shape = ctx.shape(0);
    if shape.rank() == 0 {
        return Ok(smallvec![Some(g.sum_all()?)]);
    }
    let windows = g.dims()[dim];
    let last = g.rank() as isize - 1;
    let d = dim as isize;
    let mut acc = Tensor::zeros(shape, g.dtype(), g.device())?;
    for k in 0..size {
        let sum = (&acc.narrow_step(d, k, windows, step)? + &g.select(last, k)?)?;
        acc = acc.slice_scatter(&sum, d, k, step)?;
    }
    Ok(smallvec![Some(acc)])
}

/// A cast: g back in the input's dtype.
pub(super) fn cast(ctx: &Ctx, g: &Tensor) -> Result<InputGrads> {
    Ok(smallvec![Some(g.to_dtype(ctx.entry.in_dtypes[0])?)])
}

/// Each piece gets its slice of g.
pub(super) fn cat(ctx: &Ctx, dim: usize, g: &Tensor) -> Result<InputGrads> {
    let mut start = 0;
    let mut out = InputGrads::new();
    for (i, s) in ctx.entry.in_shapes.iter().enumerate() {
        let len = s.dims()[dim];
        out.push(if ctx.wants(i) {
            Some(g.narrow(dim as isize, start, len)?)
        } else {
            None
        });
        start += len;
    }
    Ok(out)
}

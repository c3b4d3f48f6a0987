//! Rules of the reductions. The recorded output keeps the reduced axes (size 1), so the
//! gradient broadcasts straight back to the input's shape.

use lamina_tensor::{ReduceOp, Result, Tensor};

use super::Ctx;

pub(super) fn reduce(ctx: &Ctx, op: ReduceOp, axes: &[usize], g: &Tensor) -> Result<Tensor> {
    let shape = ctx.shape(0);
    match op {
        // d sum = 1 everywhere
        ReduceOp::Sum => g.broadcast_to(shape),
        // d prod_j x_j / d x_i = prod_{j != i} x_j, exact with zeros: one zero in a slice
        // gets the product of the others, every other element 0; two or more zeros give 0.
        ReduceOp::Prod => {
            let (x, y) = (ctx.input(0), ctx.output());
            let is_zero = x.eq_scalar(0.0)?;
            let zf = is_zero.to_dtype(x.dtype())?;
            let zeros_in_slice = zf.sum(axes, true)?;
            let others = Tensor::where_(&is_zero, &x.ones_like()?, x)?.prod(axes, true)?;
            let no_zero = (y / x)?;
            let at_zero = Tensor::where_(
                &zeros_in_slice.eq_scalar(1.0)?,
                &others,
                &others.zeros_like()?,
            )?;
            let at_nonzero = Tensor::where_(
                &zeros_in_slice.eq_scalar(0.0)?,
                &no_zero,
                &no_zero.zeros_like()?,
            )?;
            let local = Tensor::where_(&is_zero, &at_zero.broadcast_to(shape)?, &at_nonzero)?;
            g * local
        }
        // Max/min: the gradient goes to the extreme elements, split evenly among ties (as
        // PyTorch's amax/amin and full max()).
        _ => {
            let (x, y) = (ctx.input(0), ctx.output());
            let hit = x.eq(y)?.to_dtype(x.dtype())?;
            let count = hit.sum(axes, true)?;
            (g / count)? * hit
        }
    }
}

//! Rules of the reductions and scans. The recorded output of a reduction keeps the
//! reduced axes (size 1), so the gradient broadcasts straight back to the input's shape.

use lamina_tensor::{DType, ReduceOp, Result, ScanOp, Tensor};

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
        // PyTorch's amax/amin and full max()). Arg-reductions are not differentiable and
        // never recorded; should one be, it gets the same treatment.
        ReduceOp::Max | ReduceOp::Min | ReduceOp::ArgMax | ReduceOp::ArgMin => {
            let (x, y) = (ctx.input(0), ctx.output());
            let hit = x.eq(y)?.to_dtype(x.dtype())?;
            let count = hit.sum(axes, true)?;
            (g / count)? * hit
        }
    }
}

/// `sum_{j >= i} t_j` along `dim`: the adjoint of `cumsum`.
fn rev_cumsum(t: &Tensor, dim: isize) -> Result<Tensor> {
    t.flip(dim)?.cumsum(dim)?.flip(dim)
}

pub(super) fn scan(ctx: &Ctx, op: ScanOp, dim: usize, g: &Tensor) -> Result<Tensor> {
    let d = dim as isize;
    let (x, y) = (ctx.input(0), ctx.output());
    match op {
        // d y_j / d x_i = [i <= j]
        ScanOp::Sum => rev_cumsum(g, d),
        // d y_j / d x_i = prod_{k <= j, k != i} x_k for j >= i. Before the first zero of a
        // line that is y_j / x_i; at the first zero, the cumulative product with that zero
        // replaced by 1; after it, 0 (another factor is the zero).
        ScanOp::Prod => {
            let is_zero = x.eq_scalar(0.0)?;
            let safe_x = Tensor::where_(&is_zero, &x.ones_like()?, x)?;
            let plain = (rev_cumsum(&(g * y)?, d)? / &safe_x)?;
            if !is_zero.any()? {
                return Ok(plain);
            }
            let zeros_so_far = is_zero.to_dtype(DType::I64)?.cumsum(d)?;
            let first_zero = is_zero.logical_and(&zeros_so_far.eq_scalar(1.0)?)?;
            // Products with the first zero taken out (a later zero still zeroes them).
            let y_skip = Tensor::where_(&first_zero, &x.ones_like()?, x)?.cumprod(d)?;
            let at_first = rev_cumsum(&(g * y_skip)?, d)?;
            let before = zeros_so_far.eq_scalar(0.0)?;
            let rest = Tensor::where_(&first_zero, &at_first, &at_first.zeros_like()?)?;
            Tensor::where_(&before, &plain, &rest)
        }
        // d y_j / d x_i = e^(x_i - y_j) for j >= i. The sum over j runs in log space on
        // the positive and negative parts of g separately, so nothing overflows. Where a
        // part is 0 its log is the dtype's lowest value rather than -inf (as PyTorch), and
        // the log only ever sees |g| > 0: the rule's own gradient (double backward) then
        // has no -inf - -inf or 0 * inf in it.
        ScanOp::LogSumExp => {
            let lowest = if g.dtype() == DType::F32 {
                f64::from(f32::MIN)
            } else {
                f64::MIN
            };
            let (lowest, ones) = (g.full_like(lowest)?, g.ones_like()?);
            let part = |mask: Tensor| -> Result<Tensor> {
                let log_g = Tensor::where_(&mask, &g.abs()?, &ones)?.log()?;
                let w = (Tensor::where_(&mask, &log_g, &lowest)? - y)?;
                let r = w.flip(d)?.logcumsumexp(d)?.flip(d)?;
                (r + x)?.exp()
            };
            part(g.gt_scalar(0.0)?)? - part(g.lt_scalar(0.0)?)?
        }
    }
}

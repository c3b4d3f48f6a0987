//! The rule of `where`: the gradient goes to the branch each element came from. (The
//! unary and binary maps carry their rules in their op-table rows, `lamina-tensor`'s
//! `op/unary.rs` and `op/binary.rs`.)

use lamina_tensor::{Result, Tensor};
use smallvec::smallvec;

use super::{sum_to, Ctx, InputGrads};

pub(super) fn where_(ctx: &Ctx, g: &Tensor) -> Result<InputGrads> {
    let cond = ctx.input(0);
    let zero = g.zeros_like()?;
    let gt = if ctx.wants(1) {
        Some(sum_to(&Tensor::where_(cond, g, &zero)?, ctx.shape(1))?)
    } else {
        None
    };
    let gf = if ctx.wants(2) {
        Some(sum_to(&Tensor::where_(cond, &zero, g)?, ctx.shape(2))?)
    } else {
        None
    };
    Ok(smallvec![None, gt, gf])
}

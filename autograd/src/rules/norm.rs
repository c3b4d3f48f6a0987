//! Normalisation (`Tensor::normalize`): for `y = (x − mean) · rstd` per group,
//! `dx = rstd · (g − mean(g) − y · mean(g · y))`, fused by the backend where it can and
//! recomputed from `x` with recorded ops under a tape (gradients of gradients). `rstd`, the
//! entry's second input, is a saved statistic and gets no gradient.

use lamina_tensor::{NormSpec, Result, Tensor};

use super::{Ctx, InputGrads};

pub(super) fn normalize(ctx: &Ctx, spec: &NormSpec, g: &Tensor) -> Result<InputGrads> {
    let dx = if ctx.wants(0) {
        let (x, rstd) = (ctx.input(0), ctx.input(1));
        Some(g.normalize_backward(x, ctx.output(), rstd, spec)?)
    } else {
        None
    };
    Ok(smallvec::smallvec![dx, None])
}

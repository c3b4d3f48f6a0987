//! Scaled dot-product attention (`Tensor::attention`): with `P` the weights,
//! `dv = Pᵀ g`, `dS = P ⊙ (g vᵀ − rowsum(g ⊙ out))`, `dq = dS k · scale`,
//! `dk = dSᵀ q · scale`, `dbias = dS` summed to the bias's shape. They come from
//! `Tensor::attention_backward`: the backend's fused kernel where it has one (recomputing
//! `P` block by block from the saved log-sum-exp), the recorded composite under a tape
//! (gradients of gradients). The log-sum-exp, the entry's fourth input, gets no gradient.

use lamina_tensor::{AttentionSpec, Result, Tensor};

use super::{Ctx, InputGrads};

pub(super) fn attention(ctx: &Ctx, spec: &AttentionSpec, g: &Tensor) -> Result<InputGrads> {
    let bias = (ctx.entry.in_shapes.len() > 4).then(|| ctx.input(4));
    let bias_grad = bias.is_some() && ctx.wants(4);
    let (q, k, v, lse) = (ctx.input(0), ctx.input(1), ctx.input(2), ctx.input(3));
    let d = g.attention_backward(q, k, v, ctx.output(), lse, bias, bias_grad, spec)?;
    let mut grads = smallvec::smallvec![Some(d.q), Some(d.k), Some(d.v), None];
    if bias.is_some() {
        grads.push(d.bias);
    }
    Ok(grads)
}

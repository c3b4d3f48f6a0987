//! The three convolution primitives are each other's adjoints, so every gradient is again
//! one of them (and gradients of gradients follow): for `y = conv(x, w)`,
//! `dx = conv_input_grad(g, w)` and `dw = conv_weight_grad(x, g)`; for
//! `dx = conv_input_grad(dy, w)`, `d(dy) = conv(g, w)` and `dw = conv_weight_grad(g, dy)`;
//! for `dw = conv_weight_grad(x, dy)`, `d(x) = conv_input_grad(dy, g)` and
//! `d(dy) = conv(x, g)`.

use lamina_tensor::{ConvSpec, Result, Tensor};

use super::{Ctx, InputGrads};

/// The spatial sizes of input `i` (its dims after the first two).
fn spatial(ctx: &Ctx, i: usize) -> Vec<usize> {
    ctx.shape(i).dims()[2..].to_vec()
}

pub(super) fn conv(ctx: &Ctx, spec: &ConvSpec, g: &Tensor) -> Result<InputGrads> {
    let (x, w) = (ctx.input(0), ctx.input(1));
    let dx = if ctx.wants(0) {
        Some(g.conv_input_grad(w, spec, &spatial(ctx, 0))?)
    } else {
        None
    };
    let dw = if ctx.wants(1) {
        Some(x.conv_weight_grad(g, spec, &spatial(ctx, 1))?)
    } else {
        None
    };
    Ok(smallvec::smallvec![dx, dw])
}

pub(super) fn conv_input_grad(ctx: &Ctx, spec: &ConvSpec, g: &Tensor) -> Result<InputGrads> {
    let (dy, w) = (ctx.input(0), ctx.input(1));
    let ddy = if ctx.wants(0) {
        Some(g.conv(w, spec)?)
    } else {
        None
    };
    let dw = if ctx.wants(1) {
        Some(g.conv_weight_grad(dy, spec, &spatial(ctx, 1))?)
    } else {
        None
    };
    Ok(smallvec::smallvec![ddy, dw])
}

pub(super) fn conv_weight_grad(ctx: &Ctx, spec: &ConvSpec, g: &Tensor) -> Result<InputGrads> {
    let (x, dy) = (ctx.input(0), ctx.input(1));
    let dx = if ctx.wants(0) {
        Some(dy.conv_input_grad(g, spec, &spatial(ctx, 0))?)
    } else {
        None
    };
    let ddy = if ctx.wants(1) {
        Some(x.conv(g, spec)?)
    } else {
        None
    };
    Ok(smallvec::smallvec![dx, ddy])
}

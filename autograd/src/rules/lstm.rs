//! The LSTM cell update (`Tensor::lstm_cell`): the gradients with respect to the gates and
//! the previous cell state come from `Tensor::lstm_cell_backward`, a fused kernel where the
//! backend has one and the recorded composite under a tape (gradients of gradients).

use lamina_tensor::{Result, Tensor};

use super::{Ctx, InputGrads};

pub(super) fn lstm_cell(ctx: &Ctx, g: &Tensor) -> Result<InputGrads> {
    let (gates, c_prev) = (ctx.input(0), ctx.input(1));
    let (dg, dc) = g.lstm_cell_backward(gates, c_prev)?;
    Ok(smallvec::smallvec![Some(dg), Some(dc)])
}

//! Backward rules, one file per op family. A rule is a small pure function from what its
//! entry saved and the output gradient to the input gradients, written with tensor ops (so
//! a tape around the sweep records it: double backward). Rules never accumulate; the sweep
//! does. Each rule sits next to its `gradcheck` property test (`tests/`).

mod elementwise;
mod reduce;
mod shape;

use lamina_tensor::hook::Op;
use lamina_tensor::{Result, Shape, Tensor};
use smallvec::smallvec;

use crate::tape::{Entry, EntryOp};

/// Which values a rule reads: (the inputs, the output). Everything else it needs is in
/// the entry's shapes and dtypes.
pub(crate) fn saves(op: &Op) -> (bool, bool) {
    use lamina_tensor::{BinaryOp as B, ReduceOp as R, UnaryOp as U};
    match op {
        Op::Unary(u) => match u {
            U::Neg | U::Affine(..) | U::Sign => (false, false),
            U::Exp | U::Sqrt | U::Tanh | U::Sigmoid | U::Recip => (false, true),
            U::Rsqrt => (true, true),
            _ => (true, false),
        },
        Op::Binary(B::Add | B::Sub) => (false, false),
        Op::Binary(B::Pow) => (true, true),
        Op::Binary(_) => (true, false),
        Op::Where => (true, false),
        Op::Reduce { op: R::Sum, .. } => (false, false),
        Op::Reduce { .. } => (true, true),
        Op::Matmul => (true, false),
        Op::Softmax { .. } => (false, true),
        Op::IndexSelect { .. } | Op::Gather { .. } | Op::ScatterAdd { .. } => (true, false),
        _ => (false, false),
    }
}

/// Context handed to rules.
pub(crate) struct Ctx<'a> {
    pub entry: &'a Entry,
}

impl Ctx<'_> {
    pub fn input(&self, i: usize) -> &Tensor {
        &self.entry.saved_inputs[i]
    }
    pub fn output(&self) -> &Tensor {
        self.entry
            .saved_output
            .as_ref()
            .expect("rules::saves asks for the output of every rule that reads it")
    }
    pub fn shape(&self, i: usize) -> &Shape {
        &self.entry.in_shapes[i]
    }
    /// Whether input `i` needs a gradient.
    pub fn wants(&self, i: usize) -> bool {
        self.entry.inputs[i].is_some()
    }
}

/// Input gradients of one entry (`None` where the input is not tracked).
/// The gradients for an entry's inputs (`None` where none flows), inline for up to three
/// inputs: a backward step allocates no list.
pub(crate) type InputGrads = smallvec::SmallVec<[Option<Tensor>; 3]>;

pub(crate) fn backward(entry: &Entry, g: &Tensor) -> Result<InputGrads> {
    let ctx = Ctx { entry };
    let grads = match &entry.op {
        EntryOp::Custom(op) => {
            let inputs: Vec<Tensor> = entry.saved_inputs.to_vec();
            let out = ctx.output().clone();
            let gs = op.backward(&inputs, &out, g)?;
            InputGrads::from_vec(crate::custom::check_grads(op.name(), &entry.in_shapes, gs)?)
        }
        EntryOp::Builtin(op) => match op {
            Op::Unary(u) => smallvec![Some(elementwise::unary(&ctx, *u, g)?)],
            Op::Binary(b) => elementwise::binary(&ctx, *b, g)?,
            Op::Where => elementwise::where_(&ctx, g)?,
            Op::Reduce { op, axes, .. } => smallvec![Some(reduce::reduce(&ctx, *op, axes, g)?)],
            Op::Softmax { dim, log } => smallvec![Some(ctx.output().softmax_backward(
                g,
                *dim as isize,
                *log,
            )?)],
            Op::Matmul => shape::matmul(&ctx, g)?,
            _ => shape::view_like(&ctx, op, g)?,
        },
    };
    // Only tracked inputs get a gradient.
    let mut grads = grads;
    for (i, gi) in grads.iter_mut().enumerate() {
        if !ctx.wants(i) {
            *gi = None;
        }
    }
    Ok(grads)
}

/// Sums `g` over the dims that broadcasting added or stretched, back to `shape`.
pub(crate) fn sum_to(g: &Tensor, shape: &Shape) -> Result<Tensor> {
    if g.shape() == shape {
        return Ok(g.clone());
    }
    let lead = g.rank() - shape.rank();
    let mut axes: Vec<isize> = (0..lead as isize).collect();
    for (i, &d) in shape.dims().iter().enumerate() {
        if d == 1 && g.dims()[lead + i] != 1 {
            axes.push((lead + i) as isize);
        }
    }
    let s = if axes.is_empty() {
        g.clone()
    } else {
        g.sum(axes, true)?
    };
    s.reshape(shape)
}

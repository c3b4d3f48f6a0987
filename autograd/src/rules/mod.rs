//! Backward rules, one file per op family. A rule is a small pure function from what its
//! entry saved and the output gradient to the input gradients, written with tensor ops (so
//! a tape around the sweep records it: double backward). Rules never accumulate; the sweep
//! does. Each rule sits next to its `gradcheck` property test (`tests/`).

mod attention;
mod conv;
mod elementwise;
mod index;
mod lstm;
mod norm;
mod reduce;
mod shape;

use lamina_tensor::hook::Op;
use lamina_tensor::{Result, Saved, Shape, Tensor};
use smallvec::{smallvec, SmallVec};

use crate::tape::{Entry, EntryOp};

/// Which values a rule reads: (the inputs, the output). Everything else it needs is in
/// the entry's shapes and dtypes. Exhaustive: a new `Op` without a rule does not compile.
pub(crate) fn saves(op: &Op) -> (bool, bool) {
    use lamina_tensor::ReduceOp as R;
    match op {
        Op::Unary(u) => {
            let s = u.saves();
            (s.input, s.output)
        }
        Op::Binary(b) => {
            let s = b.saves();
            (s.input, s.output)
        }
        Op::Where => (true, false),
        Op::Reduce { op: R::Sum, .. } => (false, false),
        Op::Reduce {
            op: R::Prod | R::Max | R::Min | R::ArgMax | R::ArgMin,
            ..
        } => (true, true),
        Op::Matmul => (true, false),
        Op::Softmax { .. } => (false, true),
        Op::IndexSelect { .. } | Op::Gather { .. } | Op::Scatter { .. } => (true, true),
        Op::Scan { .. } => (true, true),
        Op::Normalize(_) => (true, true),
        Op::LstmCell => (true, false),
        Op::Attention(_) => (true, true),
        Op::Conv(_) | Op::ConvInputGrad(_) | Op::ConvWeightGrad(_) => (true, false),
        Op::SliceScatter { .. } => (false, false),
        Op::Reshape
        | Op::Permute(_)
        | Op::Broadcast
        | Op::Slice { .. }
        | Op::Unfold { .. }
        | Op::Copy
        | Op::Cast(_)
        | Op::ToDevice { .. }
        | Op::Cat { .. } => (false, false),
    }
}

/// Context handed to rules.
pub(crate) struct Ctx<'a> {
    pub entry: &'a Entry,
    /// Which inputs want a gradient (tracked by the tape).
    pub wants: SmallVec<[bool; 3]>,
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
    /// What a table op's rule reads (see `lamina_tensor::Saved`).
    pub fn saved(&self, op: &'static str) -> Saved<'_> {
        Saved {
            op,
            inputs: &self.entry.saved_inputs,
            output: self.entry.saved_output.as_ref(),
            shapes: &self.entry.in_shapes,
            wants: &self.wants,
        }
    }
}

/// Input gradients of one entry (`None` where the input is not tracked).
/// The gradients for an entry's inputs (`None` where none flows), inline for up to three
/// inputs: a backward step allocates no list.
pub(crate) type InputGrads = smallvec::SmallVec<[Option<Tensor>; 3]>;

pub(crate) fn backward(entry: &Entry, g: &Tensor) -> Result<InputGrads> {
    // Plain pushes: SmallVec's generic `collect` costs several times more, every step.
    let mut wants = SmallVec::new();
    for i in &entry.inputs {
        wants.push(i.is_some());
    }
    let ctx = Ctx { entry, wants };
    let grads = match &entry.op {
        EntryOp::Custom(op) => {
            let inputs: Vec<Tensor> = entry.saved_inputs.to_vec();
            let out = ctx.output().clone();
            let gs = op.backward(&inputs, &out, g)?;
            InputGrads::from_vec(crate::custom::check_grads(op.name(), &entry.in_shapes, gs)?)
        }
        EntryOp::Builtin(op) => match op {
            Op::Unary(u) => smallvec![Some(u.backward(&ctx.saved(u.name()), g)?)],
            Op::Binary(b) => {
                let [ga, gb] = b.backward(&ctx.saved(b.name()), g)?;
                smallvec![ga, gb]
            }
            Op::Where => elementwise::where_(&ctx, g)?,
            Op::Reduce { op, axes, .. } => smallvec![Some(reduce::reduce(&ctx, *op, axes, g)?)],
            Op::Softmax { dim, log } => smallvec![Some(ctx.output().softmax_backward(
                g,
                *dim as isize,
                *log,
            )?)],
            Op::Matmul => shape::matmul(&ctx, g)?,
            Op::Conv(spec) => conv::conv(&ctx, spec, g)?,
            Op::ConvInputGrad(spec) => conv::conv_input_grad(&ctx, spec, g)?,
            Op::ConvWeightGrad(spec) => conv::conv_weight_grad(&ctx, spec, g)?,
            Op::Scan { op, dim } => smallvec![Some(reduce::scan(&ctx, *op, *dim, g)?)],
            Op::Normalize(spec) => norm::normalize(&ctx, spec, g)?,
            Op::LstmCell => lstm::lstm_cell(&ctx, g)?,
            Op::Attention(spec) => attention::attention(&ctx, spec, g)?,
            Op::Reshape => shape::reshape(&ctx, g)?,
            Op::Permute(perm) => shape::permute(perm, g)?,
            Op::Broadcast => shape::broadcast(&ctx, g)?,
            Op::Slice { dim, start, step } => shape::slice(&ctx, *dim, *start, *step, g)?,
            Op::SliceScatter { dim, start, step } => {
                shape::slice_scatter(&ctx, *dim, *start, *step, g)?
            }
            Op::Unfold { dim, size, step } => shape::unfold(&ctx, *dim, *size, *step, g)?,
            Op::Copy => smallvec![Some(g.clone())],
            Op::Cast(_) => shape::cast(&ctx, g)?,
            Op::ToDevice { from } => smallvec![Some(g.to_device(from)?)],
            Op::Cat { dim } => shape::cat(&ctx, *dim, g)?,
            Op::IndexSelect { dim } => index::index_select(&ctx, *dim, g)?,
            Op::Gather { dim } => index::gather(&ctx, *dim, g)?,
            Op::Scatter {
                dim,
                reduce,
                include_self,
            } => index::scatter(&ctx, *dim, *reduce, *include_self, g)?,
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
    g.sum_to_shape(shape)
}

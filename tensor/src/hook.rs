//! The recording hook: how `tensor` tells an autodiff tape what it computed without
//! depending on it. A tape (in `lamina-autograd`) pushes a [`Recorder`] for the current
//! thread; every differentiable op then reports its [`Op`], inputs and output. With no
//! recorder installed the cost is one thread-local read per op.
//!
//! Recorders form a stack, so tapes nest (a tape recording the backward sweep of another
//! gives gradients of gradients). [`paused`] runs a closure with recording switched off,
//! which composites use to record themselves as one op (softmax) and autograd uses for
//! `no_grad`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::{
    AttentionSpec, BinaryOp, ConvSpec, DType, DimVec, NormSpec, ReduceOp, ScanOp, ScatterReduce,
    Tensor, UnaryOp,
};

/// A differentiable primitive as recorded: enough to write its backward rule. Autograd
/// matches it exhaustively, so a new variant without a rule does not compile.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Unary(UnaryOp),
    /// Inputs are the operands before broadcasting.
    Binary(BinaryOp),
    /// Inputs: condition, on_true, on_false (before broadcasting).
    Where,
    /// `axes` sorted; the output keeps them iff `keepdim`.
    Reduce {
        op: ReduceOp,
        axes: DimVec,
        keepdim: bool,
    },
    /// Inputs: lhs, rhs, with PyTorch's matmul promotion of 1-D operands.
    Matmul,
    /// Softmax or log-softmax along `dim`.
    Softmax {
        dim: usize,
        log: bool,
    },
    /// Any view or copy with the same elements in a new shape (reshape, view, squeeze,
    /// unsqueeze, flatten).
    Reshape,
    Permute(Vec<usize>),
    /// Expand / broadcast_to from the input's shape.
    Broadcast,
    /// Every `step`-th element from `start` along `dim` (`narrow` is step 1).
    Slice {
        dim: usize,
        start: usize,
        step: usize,
    },
    /// Windows of `size` every `step` along `dim` as a new last dim (`unfold`); `dim` is 0
    /// for a 0-d input.
    Unfold {
        dim: usize,
        size: usize,
        step: usize,
    },
    /// Inputs: base, source; the source written over `Slice { dim, start, step }` of a
    /// copy of the base.
    SliceScatter {
        dim: usize,
        start: usize,
        step: usize,
    },
    /// A contiguous copy.
    Copy,
    Cast(DType),
    /// A copy onto another device; `from` is the input's.
    ToDevice {
        from: crate::Device,
    },
    /// Inputs: every piece, in order.
    Cat {
        dim: usize,
    },
    /// Inputs: source, indices.
    IndexSelect {
        dim: usize,
    },
    /// Inputs: source, indices.
    Gather {
        dim: usize,
    },
    /// Inputs: base, indices, source (`scatter`, `scatter_add`, `scatter_reduce`).
    Scatter {
        dim: usize,
        reduce: ScatterReduce,
        include_self: bool,
    },
    /// Inputs: input, weight (`Tensor::conv`).
    Conv(ConvSpec),
    /// Inputs: output gradient, weight (`Tensor::conv_input_grad`, the transposed
    /// convolution).
    ConvInputGrad(ConvSpec),
    /// Inputs: input, output gradient (`Tensor::conv_weight_grad`).
    ConvWeightGrad(ConvSpec),
    /// Inputs: input, `rstd` (`[groups]`, untracked; saved for the rule)
    /// (`Tensor::normalize`).
    Normalize(NormSpec),
    /// Inputs: gates `[N, 4H]`, previous cell state `[N, H]` (`Tensor::lstm_cell`).
    LstmCell,
    /// Inputs: q, k, v, each query row's log-sum-exp of the scores (untracked; saved for
    /// the rule), then the bias when there is one (`Tensor::attention`).
    Attention(AttentionSpec),
    /// An inclusive scan along `dim`.
    Scan {
        op: ScanOp,
        dim: usize,
    },
}

/// What a tape implements to hear about ops on its thread.
pub trait Recorder {
    fn record(&self, op: &Op, inputs: &[&Tensor], output: &Tensor);
}

thread_local! {
    static STACK: RefCell<Vec<Rc<dyn Recorder>>> = const { RefCell::new(Vec::new()) };
    /// Recorders installed minus nothing while paused: 0 means "skip everything".
    static ACTIVE: Cell<usize> = const { Cell::new(0) };
    static PAUSED: Cell<usize> = const { Cell::new(0) };
}

/// Installs `r` on top of this thread's recorder stack.
pub fn push_recorder(r: Rc<dyn Recorder>) {
    STACK.with(|s| s.borrow_mut().push(r));
    ACTIVE.with(|a| a.set(a.get() + 1));
}

/// Removes `r` from this thread's stack (wherever it is); true if it was there.
pub fn remove_recorder(r: &Rc<dyn Recorder>) -> bool {
    let removed = STACK.with(|s| {
        let mut s = s.borrow_mut();
        match s.iter().rposition(|x| Rc::ptr_eq(x, r)) {
            Some(i) => {
                s.remove(i);
                true
            }
            None => false,
        }
    });
    if removed {
        ACTIVE.with(|a| a.set(a.get() - 1));
    }
    removed
}

/// True when an op on this thread would be reported to some recorder.
#[inline]
pub fn is_recording() -> bool {
    ACTIVE.with(|a| a.get()) > 0 && PAUSED.with(|p| p.get()) == 0
}

/// Runs `f` with recording switched off on this thread (nests).
pub fn paused<R>(f: impl FnOnce() -> R) -> R {
    struct Resume;
    impl Drop for Resume {
        fn drop(&mut self) {
            PAUSED.with(|p| p.set(p.get() - 1));
        }
    }
    PAUSED.with(|p| p.set(p.get() + 1));
    let _resume = Resume;
    f()
}

/// Reports an op to every installed recorder; `op` is built only when someone listens.
#[inline]
pub(crate) fn record(op: impl FnOnce() -> Op, inputs: &[&Tensor], output: &Tensor) {
    if !is_recording() {
        return;
    }
    record_slow(op(), inputs, output);
}

#[inline(never)]
fn record_slow(op: Op, inputs: &[&Tensor], output: &Tensor) {
    // Recorders may run tensor ops; those see `paused` and never touch the stack, so the
    // shared borrow is not contended.
    paused(|| {
        STACK.with(|s| {
            for r in s.borrow().iter() {
                r.record(&op, inputs, output);
            }
        })
    });
}

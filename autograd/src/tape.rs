//! The tape: an append-only list of the differentiable ops run on this thread while it is
//! installed (a Wengert list), and the one reverse sweep that turns it into gradients.
//!
//! `tensor` reports every op through its recording hook; the tape keeps an entry only when
//! some input is *tracked* (a watched leaf or the output of a kept entry), so inference
//! work under a tape costs a lookup per input and leaves nothing behind. Each entry holds
//! just what its rule needs (see `rules::saves`) and is dropped as the sweep passes it.

use std::cell::RefCell;
use std::rc::Rc;

use lamina_tensor::hook::{self, Op, Recorder};
use lamina_tensor::{DType, Error, Result, Shape, Tensor, TensorId};
use smallvec::SmallVec;

use crate::custom::CustomOp;
use crate::grads::{Grads, IdMap};
use crate::rules;

/// What an entry differentiates.
pub(crate) enum EntryOp {
    Builtin(Op),
    Custom(Rc<dyn CustomOp>),
}

/// One recorded op.
pub(crate) struct Entry {
    pub op: EntryOp,
    /// Input ids; `None` for inputs this tape does not track (no gradient flows there).
    /// Inline for up to three inputs: recording an op allocates nothing for them.
    pub inputs: SmallVec<[Option<TensorId>; 3]>,
    pub in_shapes: SmallVec<[Shape; 3]>,
    pub in_dtypes: SmallVec<[DType; 3]>,
    /// Saved input tensors (all of them for rules that read values, else empty).
    pub saved_inputs: SmallVec<[Tensor; 3]>,
    /// The saved output, for rules that read it.
    pub saved_output: Option<Tensor>,
    pub output: TensorId,
}

#[derive(Default)]
pub(crate) struct TapeState {
    pub entries: Vec<Entry>,
    /// Tracked ids: watched leaves and outputs of kept entries.
    pub tracked: IdMap<()>,
    /// Watched leaves (their gradients are returned).
    pub leaves: IdMap<()>,
}

pub(crate) struct TapeInner {
    pub state: RefCell<TapeState>,
}

thread_local! {
    /// Tapes installed on this thread (custom ops record on them directly).
    static ACTIVE: RefCell<Vec<Rc<TapeInner>>> = const { RefCell::new(Vec::new()) };
    /// The emptied lists of the last finished tape on this thread, reused by the next one: a
    /// training loop makes a tape per step, and each step's tape otherwise regrows its entry
    /// list and id maps from nothing (allocations and rehashes every step).
    static SPARE: RefCell<Option<TapeState>> = const { RefCell::new(None) };
}

impl TapeState {
    /// Empty lists, with the capacity a previous tape on this thread left behind.
    fn fresh() -> TapeState {
        SPARE
            .try_with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.take()))
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Empties the lists and keeps them for the next tape on this thread (unless they grew
    /// past [`SPARE_MAX_ENTRIES`], which would pin a big model's tape-sized lists forever).
    fn recycle(mut self) {
        if self.entries.capacity() > SPARE_MAX_ENTRIES {
            return;
        }
        self.entries.clear();
        self.tracked.clear();
        self.leaves.clear();
        let _ = SPARE.try_with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                *s = Some(self);
            }
        });
    }
}

/// Largest entry list a finished tape hands on to the next (see [`TapeState::recycle`]).
const SPARE_MAX_ENTRIES: usize = 4096;

fn is_float(d: DType) -> bool {
    d.is_float()
}

impl TapeInner {
    /// Appends an entry if any input is tracked; returns whether it did. The op is built
    /// only then (most ops under a tape in inference code are not tracked).
    pub(crate) fn push(
        &self,
        op: impl FnOnce() -> EntryOp,
        inputs: &[&Tensor],
        output: &Tensor,
    ) -> bool {
        let mut st = self.state.borrow_mut();
        if !is_float(output.dtype()) {
            return false;
        }
        // Plain pushes, not `collect`: SmallVec's generic `extend` costs several times more,
        // and it ran four times per recorded op.
        let mut ids: SmallVec<[Option<TensorId>; 3]> = SmallVec::new();
        for t in inputs {
            ids.push(st.tracked.contains_key(&t.id()).then(|| t.id()));
        }
        if ids.iter().all(Option::is_none) {
            return false;
        }
        let op = op();
        let (save_in, save_out) = match &op {
            EntryOp::Builtin(op) => rules::saves(op),
            EntryOp::Custom(_) => (true, true),
        };
        st.tracked.insert(output.id(), ());
        let mut in_shapes = SmallVec::new();
        let mut in_dtypes = SmallVec::new();
        let mut saved_inputs = SmallVec::new();
        for &t in inputs {
            in_shapes.push(t.shape().clone());
            in_dtypes.push(t.dtype());
            if save_in {
                saved_inputs.push(t.clone());
            }
        }
        st.entries.push(Entry {
            inputs: ids,
            in_shapes,
            in_dtypes,
            saved_inputs,
            saved_output: save_out.then(|| output.clone()),
            output: output.id(),
            op,
        });
        true
    }
}

impl Recorder for TapeInner {
    fn record(&self, op: &Op, inputs: &[&Tensor], output: &Tensor) {
        self.push(|| EntryOp::Builtin(op.clone()), inputs, output);
    }
}

/// Records the differentiable ops run on this thread until `backward` (or drop).
///
/// ```
/// use lamina_autograd::Tape;
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let w = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], [3], &dev)?;
/// let tape = Tape::new();
/// tape.watch(&w);
/// let loss = w.square()?.sum_all()?;          // sum(w^2)
/// let grads = tape.backward(&loss)?;
/// assert_eq!(grads.get(&w).unwrap().to_vec::<f64>()?, vec![2.0, 4.0, 6.0]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub struct Tape {
    inner: Rc<TapeInner>,
    recorder: Rc<dyn Recorder>,
    installed: bool,
}

impl Default for Tape {
    fn default() -> Self {
        Self::new()
    }
}

impl Tape {
    /// Starts recording on this thread. Tapes nest: ops record on every installed tape
    /// that tracks one of their inputs, so a tape around another's `backward` records the
    /// gradient computation itself (gradients of gradients).
    pub fn new() -> Tape {
        let inner = Rc::new(TapeInner {
            state: RefCell::new(TapeState::fresh()),
        });
        let recorder: Rc<dyn Recorder> = inner.clone();
        hook::push_recorder(recorder.clone());
        ACTIVE.with(|a| a.borrow_mut().push(inner.clone()));
        Tape {
            inner,
            recorder,
            installed: true,
        }
    }

    /// Marks `t` as a leaf whose gradient `backward` returns (PyTorch
    /// `requires_grad_()`). Watch before using it.
    pub fn watch(&self, t: &Tensor) {
        let mut st = self.inner.state.borrow_mut();
        st.tracked.insert(t.id(), ());
        st.leaves.insert(t.id(), ());
    }

    /// Number of recorded entries (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.inner.state.borrow().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if `t` is a watched leaf or was computed from one on this tape.
    pub fn is_tracked(&self, t: &Tensor) -> bool {
        self.inner.state.borrow().tracked.contains_key(&t.id())
    }

    fn uninstall(&mut self) {
        if self.installed {
            hook::remove_recorder(&self.recorder);
            ACTIVE.with(|a| {
                let mut a = a.borrow_mut();
                if let Some(i) = a.iter().rposition(|x| Rc::ptr_eq(x, &self.inner)) {
                    a.remove(i);
                }
            });
            self.installed = false;
        }
    }

    /// Gradients of the scalar `loss` with respect to every watched leaf it depends on.
    pub fn backward(self, loss: &Tensor) -> Result<Grads> {
        if loss.elem_count() != 1 {
            return Err(Error::Invalid {
                op: "backward",
                msg: format!(
                    "needs a one-element loss, got shape {}; use backward_with to pass its gradient",
                    loss.shape()
                ),
            });
        }
        let seed = loss.ones_like()?;
        self.backward_with(loss, seed)
    }

    /// Gradients given the output gradient `grad` (same shape as `output`).
    pub fn backward_with(mut self, output: &Tensor, grad: Tensor) -> Result<Grads> {
        self.uninstall();
        if grad.shape() != output.shape() {
            return Err(Error::ShapeMismatch {
                op: "backward",
                lhs: output.shape().clone(),
                rhs: grad.shape().clone(),
            });
        }
        let state = std::mem::take(&mut *self.inner.state.borrow_mut());
        // Gradients run in the dtypes the forward pass chose, never re-cast by a scope.
        lamina_tensor::autocast::disabled(|| sweep(state, output, grad))
    }
}

impl Drop for Tape {
    fn drop(&mut self) {
        self.uninstall();
        // Dropped without a backward pass: its entries (and saved tensors) go now. After
        // `backward` the state is already taken (empty, nothing to hand on).
        if let Ok(mut st) = self.inner.state.try_borrow_mut() {
            if st.entries.capacity() > 0 {
                std::mem::take(&mut *st).recycle();
            }
        }
    }
}

/// The reverse sweep: walks the entries newest first, and frees each entry's saved tensors
/// as soon as its rule has run.
fn sweep(state: TapeState, output: &Tensor, seed: Tensor) -> Result<Grads> {
    let mut state = state;
    let mut grads: IdMap<Tensor> =
        IdMap::with_capacity_and_hasher(state.entries.len() + 1, Default::default());
    grads.insert(output.id(), seed);
    let result = sweep_entries(&mut state, grads);
    state.recycle();
    result
}

fn sweep_entries(state: &mut TapeState, mut grads: IdMap<Tensor>) -> Result<Grads> {
    use std::collections::hash_map::Entry as Slot;
    // Newest first, by reference: an entry is a few hundred bytes, and popping would move
    // each one out. What an entry saved is freed as soon as the sweep has passed it.
    let recording = lamina_tensor::hook::is_recording();
    for entry in state.entries.iter_mut().rev() {
        // A slice's gradient goes straight into its input's accumulated gradient, in
        // place: the rule's zero tensor of the input's full size, once per slice, made the
        // backward of L time-step slices of one tensor cost L full tensors. Not under an
        // outer tape, which must record the rule.
        if let (EntryOp::Builtin(Op::Slice { dim, start, step }), Some(id), false) =
            (&entry.op, entry.inputs[0], recording)
        {
            if grads.contains_key(&id) {
                if let Some(g) = grads.remove(&entry.output) {
                    if let Some(acc) = grads.get_mut(&id) {
                        // A broadcast gradient (a sum's) shares memory between elements.
                        if acc.layout().is_self_overlapping() {
                            *acc = acc.contiguous()?;
                        }
                        acc.slice_add_assign(&g, *dim, *start, *step)?;
                    }
                    entry.saved_inputs.clear();
                    entry.saved_output = None;
                    continue;
                }
            }
        }
        let input_grads = match grads.remove(&entry.output) {
            Some(g) => Some(rules::backward(entry, &g)?),
            None => None,
        };
        entry.saved_inputs.clear();
        entry.saved_output = None;
        let Some(input_grads) = input_grads else {
            continue;
        };
        for (id, gi) in entry.inputs.iter().zip(input_grads) {
            let (Some(id), Some(gi)) = (id, gi) else {
                continue;
            };
            match grads.entry(*id) {
                Slot::Occupied(mut prev) => {
                    let sum = prev.get().add(&gi)?;
                    *prev.get_mut() = sum;
                }
                Slot::Vacant(slot) => {
                    slot.insert(gi);
                }
            }
        }
    }
    grads.retain(|id, _| state.leaves.contains_key(id));
    Ok(Grads::from_map(grads))
}

/// Records a custom op on every installed tape that tracks one of its inputs.
pub(crate) fn record_custom(op: Rc<dyn CustomOp>, inputs: &[&Tensor], output: &Tensor) {
    let tapes: Vec<Rc<TapeInner>> = ACTIVE.with(|a| a.borrow().clone());
    for t in tapes {
        t.push(|| EntryOp::Custom(op.clone()), inputs, output);
    }
}

/// Runs `f` with recording off: nothing it computes gets a gradient (PyTorch
/// `torch.no_grad()`), and it costs nothing extra.
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    hook::paused(f)
}

/// Value and gradients in one call: runs `f` under a fresh tape watching `params`.
///
/// ```
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::from_vec(vec![3.0f64], [1], &dev)?;
/// let (y, g) = lamina_autograd::value_and_grad(&[&x], || x.powf(3.0)?.sum_all())?;
/// assert_eq!(y.to_scalar::<f64>()?, 27.0);
/// assert_eq!(g.get(&x).unwrap().to_vec::<f64>()?, vec![27.0]); // 3 x^2
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn value_and_grad(
    params: &[&Tensor],
    f: impl FnOnce() -> Result<Tensor>,
) -> Result<(Tensor, Grads)> {
    let tape = Tape::new();
    for p in params {
        tape.watch(p);
    }
    let y = f()?;
    let g = tape.backward(&y)?;
    Ok((y, g))
}

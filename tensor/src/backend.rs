//! The object-safe `Backend` trait: the small set of primitive kernels every device
//! implements, and `Storage`, the device memory a tensor points into.
//!
//! Kernels receive storages with their `Layout`s, already validated by `tensor` (shapes,
//! dtypes, devices); they trust their inputs apart from data-dependent checks (index
//! values), which they report as errors, never panics. Fused hot-path kernels are
//! optional: they return `None` when a backend has no fused version, and `tensor` then
//! runs the composite.

use std::any::Any;
use std::fmt;

use crate::{
    AttentionSpec, BinaryOp, CmpOp, ConvGeometry, DType, Distribution, HostData, Layout, NormSpec,
    PoolGeometry, ReduceOp, Result, ScanOp, ScatterReduce, Shape, UnaryOp,
};

/// Device memory holding the elements of one or more tensors.
pub trait Storage: Any + Send + Sync + fmt::Debug {
    fn dtype(&self) -> DType;
    /// Number of elements.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// Shared, immutable-from-outside storage.
///
/// A `triomphe::Arc`: storages are never weakly referenced, so dropping the last reference
/// is one atomic operation instead of `std::sync::Arc`'s two, and checking for a sole owner
/// (`get_mut`, used by in-place ops) is a load instead of a compare-and-swap. Backends make
/// one with [`share_storage`].
pub type StorageRef = triomphe::Arc<dyn Storage>;

/// Shares a backend's storage object as a [`StorageRef`].
pub fn share_storage<S: Storage>(storage: S) -> StorageRef {
    share_arc(triomphe::Arc::new(storage))
}

/// Shares a storage that already sits in a `triomphe::Arc` (a backend may allocate its
/// output there first, as a `UniqueArc`, fill it, and share it without moving the storage
/// object).
pub fn share_arc<S: Storage>(storage: triomphe::Arc<S>) -> StorageRef {
    use unsize::CoerceUnsize;
    // `Coercion!` builds the unsizing function `*const S -> *const dyn Storage` (an `unsafe`
    // constructor in the `unsize` crate, sound because the function is a plain pointer cast
    // that keeps the address); triomphe implements the coercion for its `Arc`.
    storage.unsize(unsize::Coercion!(to dyn Storage))
}

/// What a batched matmul multiplies: `lhs [..batch, m, k] · rhs [..batch, k, n]`, the batch
/// dims already broadcast to `batch` in both layouts (stride 0 where broadcast).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatmulSpec {
    pub batch: Shape,
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

/// One Adam step's scalars, for the fused update (`Backend::adam_update`).
///
/// Per element, in the tensors' dtype and in exactly the order of PyTorch's single-tensor
/// Adam (so the fused and composite paths agree bit for bit): `d = g - m`;
/// `m = m + w d` if `w = 1 - β1 < 0.5`, else `g - (1 - w) d`; `v = β2 v + ((1 - β2) g) g`;
/// `denom = sqrt(v) / bc2_sqrt + eps`; `p = p + (-step_size m) / denom`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// `lr / (1 - β1^t)`.
    pub step_size: f64,
    /// `sqrt(1 - β2^t)`.
    pub bc2_sqrt: f64,
}

/// One SGD-with-momentum step's scalars, for the fused update (`Backend::sgd_update`).
///
/// Per element, in the tensors' dtype and in exactly the order of the composite update
/// (PyTorch's single-tensor SGD), so both paths agree bit for bit:
/// `d = g + (wd p + 0)` if `weight_decay != 0`;
/// `buf = (μ buf + 0) + d` if `dampening == 0`, else `(μ buf + 0) + ((1 - τ) d + 0)`;
/// `u = d + (μ buf + 0)` (Nesterov) or `u = buf`; `p = p + (-lr u + 0)`.
/// (The `+ 0` terms are the composite's scalar maps `x s + 0`, which turn -0 into +0.)
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdStep {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
}

/// The primitive kernels of one device.
///
/// Outputs are fresh contiguous storages unless the method writes into `dst`.
pub trait Backend: Send + Sync + fmt::Debug + 'static {
    /// A short name for messages: `cpu`, `cuda:0`.
    fn name(&self) -> String;

    /// A storage of `len` zeros.
    fn zeros(&self, len: usize, dtype: DType) -> Result<StorageRef>;

    /// A storage of `len` elements that the caller overwrites entirely before anything
    /// reads it (a copy's destination). The default is [`zeros`](Backend::zeros); a device
    /// backend skips the clearing pass (device memory is not Rust memory, so its unwritten
    /// contents are merely unspecified).
    fn empty(&self, len: usize, dtype: DType) -> Result<StorageRef> {
        self.zeros(len, dtype)
    }

    /// `len` elements all equal to `value` converted to `dtype` (`as` semantics). The
    /// default goes through the host; backends fill in place.
    fn full(&self, len: usize, value: f64, dtype: DType) -> Result<StorageRef> {
        self.from_host(HostData::from_f64_vec(&vec![value; len], dtype))
    }
    /// Takes ownership of host data (the CPU backend adopts the vector without a copy).
    #[allow(clippy::wrong_self_convention)]
    fn from_host(&self, data: HostData) -> Result<StorageRef>;
    /// The elements of `layout` in row-major logical order.
    fn to_host(&self, src: &dyn Storage, layout: &Layout) -> Result<HostData>;

    /// Copies `src` (through its layout) into `dst` at `dst_layout`; shapes are equal.
    fn copy_strided(
        &self,
        src: &dyn Storage,
        src_layout: &Layout,
        dst: &mut dyn Storage,
        dst_layout: &Layout,
    ) -> Result<()>;
    /// A contiguous copy of `layout`, converted to `dtype`.
    fn cast(&self, src: &dyn Storage, layout: &Layout, dtype: DType) -> Result<StorageRef>;

    fn unary(&self, op: UnaryOp, src: &dyn Storage, layout: &Layout) -> Result<StorageRef>;
    /// `lhs op rhs`; both layouts already broadcast to the output shape.
    fn binary(
        &self,
        op: BinaryOp,
        lhs: &dyn Storage,
        lhs_layout: &Layout,
        rhs: &dyn Storage,
        rhs_layout: &Layout,
    ) -> Result<StorageRef>;
    /// `dst op= rhs` in place (optimizer updates); `rhs` broadcast to `dst_layout`'s shape.
    fn binary_assign(
        &self,
        op: BinaryOp,
        dst: &mut dyn Storage,
        dst_layout: &Layout,
        rhs: &dyn Storage,
        rhs_layout: &Layout,
    ) -> Result<()>;
    /// `dst = op(dst)` in place (optimizer updates).
    fn unary_assign(&self, op: UnaryOp, dst: &mut dyn Storage, dst_layout: &Layout) -> Result<()>;
    /// A `Bool` mask: true where `lhs op rhs`.
    fn cmp(
        &self,
        op: CmpOp,
        lhs: &dyn Storage,
        lhs_layout: &Layout,
        rhs: &dyn Storage,
        rhs_layout: &Layout,
    ) -> Result<StorageRef>;
    /// `cond != 0 ? on_true : on_false`, all three layouts broadcast to one shape.
    fn where_cond(
        &self,
        cond: &dyn Storage,
        cond_layout: &Layout,
        on_true: &dyn Storage,
        true_layout: &Layout,
        on_false: &dyn Storage,
        false_layout: &Layout,
    ) -> Result<StorageRef>;
    /// Reduces `axes` (sorted, unique, at least one) keeping them as size 1: the output is
    /// contiguous with the input's shape where each reduced axis is 1. ArgMax/ArgMin get
    /// exactly one axis and give `I64`.
    fn reduce(
        &self,
        op: ReduceOp,
        src: &dyn Storage,
        layout: &Layout,
        axes: &[usize],
    ) -> Result<StorageRef>;
    /// Batched matmul; the output is contiguous `[..batch, m, n]`.
    fn matmul(
        &self,
        lhs: &dyn Storage,
        lhs_layout: &Layout,
        rhs: &dyn Storage,
        rhs_layout: &Layout,
        spec: &MatmulSpec,
    ) -> Result<StorageRef>;
    /// Rows of `src` along `dim` picked by the 1-D `I64`/`U32` `ids`; output contiguous with
    /// `dims[dim] = ids.len()`.
    fn index_select(
        &self,
        src: &dyn Storage,
        layout: &Layout,
        dim: usize,
        ids: &dyn Storage,
        ids_layout: &Layout,
    ) -> Result<StorageRef>;
    /// `out[i][j][k] = src[i][ids[i][j][k]][k]` for `dim = 1` (PyTorch `gather`); the output
    /// has `ids`' shape.
    fn gather(
        &self,
        src: &dyn Storage,
        layout: &Layout,
        dim: usize,
        ids: &dyn Storage,
        ids_layout: &Layout,
    ) -> Result<StorageRef>;
    /// Writes `src` into `dst` at the positions `ids` names along `dim`, combining as
    /// `reduce` says: for `dim = 1`, `dst[i][ids[i][j][k]][k] (op)= src[i][j][k]`, in place
    /// on contiguous `dst`. Without `include_self` a position that is written starts from
    /// the first written value (PyTorch `scatter_reduce(include_self=False)`); `Mean`
    /// divides by the number of values combined. `Replace` keeps the last write.
    #[allow(clippy::too_many_arguments)]
    fn scatter(
        &self,
        reduce: ScatterReduce,
        include_self: bool,
        dst: &mut dyn Storage,
        dst_layout: &Layout,
        dim: usize,
        ids: &dyn Storage,
        ids_layout: &Layout,
        src: &dyn Storage,
        src_layout: &Layout,
    ) -> Result<()>;

    /// The inclusive scan `op` along `axis`; the output is contiguous with the input's
    /// shape.
    fn scan(
        &self,
        op: ScanOp,
        src: &dyn Storage,
        layout: &Layout,
        axis: usize,
    ) -> Result<StorageRef>;

    /// The `I64` permutation that sorts each line along `axis` (stable: equal elements
    /// keep their order; NaN sorts as larger than every number, as PyTorch), ascending or
    /// descending; contiguous with the input's shape.
    fn argsort(
        &self,
        src: &dyn Storage,
        layout: &Layout,
        axis: usize,
        descending: bool,
    ) -> Result<StorageRef>;

    /// Seeded random fill; element `i` depends only on `(seed, i)` (see `rng`), so every
    /// backend reproduces the same values.
    fn random(
        &self,
        dist: Distribution,
        seed: u64,
        len: usize,
        dtype: DType,
    ) -> Result<StorageRef> {
        self.from_host(crate::rng::fill(dist, seed, len, dtype))
    }

    // ---- fused kernels: `None` means "use the composite" ----

    /// Softmax (or log-softmax) over the last dim of a contiguous layout.
    fn softmax_last_dim(
        &self,
        _src: &dyn Storage,
        _layout: &Layout,
        _log: bool,
    ) -> Option<Result<StorageRef>> {
        None
    }
    /// The input gradient of softmax (or log-softmax) over the last dim, from its output
    /// `y` and the output gradient `dy` (both contiguous layouts of the same shape).
    fn softmax_backward_last_dim(
        &self,
        _y: &dyn Storage,
        _y_layout: &Layout,
        _dy: &dyn Storage,
        _dy_layout: &Layout,
        _log: bool,
    ) -> Option<Result<StorageRef>> {
        None
    }

    /// The convolution `y = conv(x, w)` (see `Tensor::conv`) of contiguous `x`
    /// (`geo.input_shape()`) and `w` (`geo.weight_shape()`), as a contiguous
    /// `geo.output_shape()`; `None` runs the composite (patches and a batched matmul).
    fn conv(
        &self,
        _x: &dyn Storage,
        _x_layout: &Layout,
        _w: &dyn Storage,
        _w_layout: &Layout,
        _geo: &ConvGeometry,
    ) -> Option<Result<StorageRef>> {
        None
    }
    /// The input gradient of [`conv`](Backend::conv) (also the transposed convolution):
    /// contiguous `dy` (`geo.output_shape()`) and `w` to a contiguous
    /// `geo.input_shape()`; `None` runs the composite.
    fn conv_input_grad(
        &self,
        _dy: &dyn Storage,
        _dy_layout: &Layout,
        _w: &dyn Storage,
        _w_layout: &Layout,
        _geo: &ConvGeometry,
    ) -> Option<Result<StorageRef>> {
        None
    }
    /// The weight gradient of [`conv`](Backend::conv): contiguous `x`
    /// (`geo.input_shape()`) and `dy` (`geo.output_shape()`) to a contiguous
    /// `geo.weight_shape()`; `None` runs the composite.
    fn conv_weight_grad(
        &self,
        _x: &dyn Storage,
        _x_layout: &Layout,
        _dy: &dyn Storage,
        _dy_layout: &Layout,
        _geo: &ConvGeometry,
    ) -> Option<Result<StorageRef>> {
        None
    }

    /// Normalisation of a contiguous float `x` viewed as `[spec.outer, spec.groups,
    /// spec.inner]` (see `Tensor::normalize`): the output (contiguous, `x`'s shape) and
    /// each group's mean and biased variance (RMS: mean square), contiguous `[groups]`;
    /// `None` runs the composite. Never called on an empty `x`.
    fn normalize(
        &self,
        _x: &dyn Storage,
        _x_layout: &Layout,
        _spec: &NormSpec,
    ) -> Option<Result<(StorageRef, StorageRef, StorageRef)>> {
        None
    }
    /// The input gradient of [`normalize`](Backend::normalize) from contiguous `g` and `y`
    /// (the output; both `x`'s shape) and `rstd = 1 / sqrt(var + eps)` (`[groups]`):
    /// `rstd · (g − mean(g) − y · mean(g · y))` per group (no `mean(g)` without
    /// centring), contiguous; `None` runs the composite.
    #[allow(clippy::too_many_arguments)]
    fn normalize_backward(
        &self,
        _g: &dyn Storage,
        _g_layout: &Layout,
        _y: &dyn Storage,
        _y_layout: &Layout,
        _rstd: &dyn Storage,
        _rstd_layout: &Layout,
        _spec: &NormSpec,
    ) -> Option<Result<StorageRef>> {
        None
    }

    /// The LSTM cell update (see `Tensor::lstm_cell`) from contiguous gates `[n, 4h]`
    /// and previous cell state `[n, h]` of one float dtype: `[n, 2h]`, `h` then `c`;
    /// `None` runs the composite. Never called with `n · h == 0`.
    fn lstm_cell(
        &self,
        _gates: &dyn Storage,
        _gates_layout: &Layout,
        _c_prev: &dyn Storage,
        _c_prev_layout: &Layout,
        _n: usize,
        _h: usize,
    ) -> Option<Result<StorageRef>> {
        None
    }
    /// The gradients of [`lstm_cell`](Backend::lstm_cell) with respect to the gates
    /// (`[n, 4h]`) and the previous cell state (`[n, h]`) from the contiguous output
    /// gradient (`[n, 2h]`) and the op's inputs; `None` runs the composite.
    #[allow(clippy::too_many_arguments)]
    fn lstm_cell_backward(
        &self,
        _grad: &dyn Storage,
        _grad_layout: &Layout,
        _gates: &dyn Storage,
        _gates_layout: &Layout,
        _c_prev: &dyn Storage,
        _c_prev_layout: &Layout,
        _n: usize,
        _h: usize,
    ) -> Option<Result<(StorageRef, StorageRef)>> {
        None
    }

    /// The LSTM recurrence of a whole sequence (see `Tensor::lstm_sequence_kernel`) from
    /// contiguous input projections `xp [len, n, 4h]`, recurrent weight `w_hh [4h, h]` and
    /// initial states `h0`, `c0 [n, h]` of one float dtype (`dims` = `[len, n, h]`): every
    /// step's states `[len, n, 2h]` (`h` then `c`) and activated gates `[len, n, 4h]`
    /// (`σ(i), σ(f), tanh(g), σ(o)`), contiguous; `None` when the backend has no kernel for
    /// them. Never called with an empty dim.
    fn lstm_sequence(
        &self,
        _xp: (&dyn Storage, &Layout),
        _w_hh: (&dyn Storage, &Layout),
        _h0: (&dyn Storage, &Layout),
        _c0: (&dyn Storage, &Layout),
        _dims: [usize; 3],
    ) -> Option<Result<(StorageRef, StorageRef)>> {
        None
    }
    /// The gradients of [`lstm_sequence`](Backend::lstm_sequence) with respect to `xp`
    /// (`[len, n, 4h]`), `h0` and `c0` (`[n, h]`), contiguous, from the contiguous
    /// gradient of the states `grad [len, n, 2h]` and the forward's activated gates,
    /// states, `w_hh` and `c0`; `None` when the backend has no kernel for them.
    fn lstm_sequence_backward(
        &self,
        _grad: (&dyn Storage, &Layout),
        _acts: (&dyn Storage, &Layout),
        _states: (&dyn Storage, &Layout),
        _w_hh: (&dyn Storage, &Layout),
        _c0: (&dyn Storage, &Layout),
        _dims: [usize; 3],
    ) -> Option<Result<(StorageRef, StorageRef, StorageRef)>> {
        None
    }

    /// Scaled dot-product attention (see `Tensor::attention`) of one float dtype:
    /// `q [batch.., l, e]`, `k [batch.., s, e]`, `v [batch.., s, ev]` and the optional
    /// additive `bias [batch.., l, s]`, each layout with the same batch dims (stride 0
    /// where broadcast, any strides elsewhere). Returns the output, contiguous
    /// `[batch.., l, ev]`, and each query row's log-sum-exp of its scaled, biased and
    /// masked scores, contiguous `[batch.., l]` (`-inf` for a row whose keys are all
    /// masked; that row's output is zeros); `None` runs the composite. Never called with
    /// an empty dim.
    fn attention(
        &self,
        _q: (&dyn Storage, &Layout),
        _k: (&dyn Storage, &Layout),
        _v: (&dyn Storage, &Layout),
        _bias: Option<(&dyn Storage, &Layout)>,
        _spec: &AttentionSpec,
    ) -> Option<Result<(StorageRef, StorageRef)>> {
        None
    }
    /// The gradients of [`attention`](Backend::attention) with respect to `q`, `k` and `v`
    /// (contiguous, in the batch-broadcast shapes `[batch.., l, e]`, `[batch.., s, e]`,
    /// `[batch.., s, ev]`) from the output gradient `grad` and the output `out`
    /// (`[batch.., l, ev]`), the log-sum-exp `lse` (`[batch.., l]`; these three
    /// contiguous) and the op's inputs as the forward had them; `None` runs the composite.
    #[allow(clippy::too_many_arguments)]
    fn attention_backward(
        &self,
        _grad: (&dyn Storage, &Layout),
        _q: (&dyn Storage, &Layout),
        _k: (&dyn Storage, &Layout),
        _v: (&dyn Storage, &Layout),
        _out: (&dyn Storage, &Layout),
        _lse: (&dyn Storage, &Layout),
        _bias: Option<(&dyn Storage, &Layout)>,
        _spec: &AttentionSpec,
    ) -> Option<Result<(StorageRef, StorageRef, StorageRef)>> {
        None
    }

    /// The arg-max of each max-pooling window of a contiguous float `x`
    /// (`[N, C, geo.input..]`): `I64` flat plane indices `[N, C, geo.output..]`, as
    /// `Tensor::max_pool_indices` documents; `None` when the backend has no kernel.
    fn max_pool_indices(
        &self,
        _x: &dyn Storage,
        _x_layout: &Layout,
        _geo: &PoolGeometry,
    ) -> Option<Result<StorageRef>> {
        None
    }

    /// A fused Adam step on contiguous same-shape `param`, `grad`, `m`, `v` (see
    /// [`AdamStep`]); `None` when the backend has no fused kernel (the optimizer then runs
    /// the composite).
    #[allow(clippy::too_many_arguments)]
    fn adam_update(
        &self,
        _param: &mut dyn Storage,
        _param_layout: &Layout,
        _grad: &dyn Storage,
        _grad_layout: &Layout,
        _m: &mut dyn Storage,
        _v: &mut dyn Storage,
        _step: &AdamStep,
    ) -> Option<Result<()>> {
        None
    }

    /// A fused SGD-with-momentum step on contiguous same-shape `param`, `grad` and momentum
    /// buffer `buf` (see [`SgdStep`]); `None` when the backend has no fused kernel.
    fn sgd_update(
        &self,
        _param: &mut dyn Storage,
        _param_layout: &Layout,
        _grad: &dyn Storage,
        _grad_layout: &Layout,
        _buf: &mut dyn Storage,
        _step: &SgdStep,
    ) -> Option<Result<()>> {
        None
    }

    /// Bytes of tensor storage currently allocated on this device, if the backend counts.
    fn live_bytes(&self) -> Option<usize> {
        None
    }
    /// Waits for queued work (a no-op on the CPU).
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
}

//! Scaled dot-product attention as one recorded primitive, [`Tensor::attention`]:
//! `softmax(q kᵀ · scale + bias) v` with a causal option, so a head's attention costs one
//! tape entry and, where the backend fuses it, never materialises the `[L, S]` weights: the
//! entry saves each query row's log-sum-exp instead, and the backward recomputes the
//! weights block by block from it (FlashAttention-2). Without a backend kernel it runs as
//! a composite of tensor ops (scores, mask, safe softmax, product), which is also what a
//! tape records for gradients of gradients.

use crate::hook::{self, Op};
use crate::{DType, Error, Layout, Result, Shape, Tensor};

/// The non-tensor arguments of [`Tensor::attention`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionSpec {
    /// Key `s` is masked for query `l` when `s > l` (top-left aligned, PyTorch's
    /// `is_causal`).
    pub causal: bool,
    /// Multiplies `q · k` before the bias is added (PyTorch's default is `1/√E`).
    pub scale: f64,
}

/// The gradients of [`Tensor::attention`], each in its input's shape.
#[derive(Clone, Debug)]
pub struct AttentionGrads {
    pub q: Tensor,
    pub k: Tensor,
    pub v: Tensor,
    /// Only when asked for (a bias is usually a constant mask).
    pub bias: Option<Tensor>,
}

/// The checked sizes of one attention call; every batch dim already broadcast.
struct Sizes {
    batch: Shape,
    l: usize,
    s: usize,
    e: usize,
    ev: usize,
}

impl Sizes {
    /// `batch` followed by `tail`.
    fn shape(&self, tail: &[usize]) -> Shape {
        let mut dims = self.batch.dims().to_vec();
        dims.extend_from_slice(tail);
        Shape::new(dims)
    }

    /// Nothing to compute: no output element, or no key to attend to (the output is
    /// zeros then, and so is every gradient).
    fn trivial(&self) -> bool {
        self.batch.elem_count() * self.l * self.ev == 0 || self.s == 0
    }
}

impl Tensor {
    /// Scaled dot-product attention of the queries `self` (`[B.., L, E]`) over keys `k`
    /// (`[B.., S, E]`) and values `v` (`[B.., S, Ev]`):
    /// `softmax(q kᵀ · scale + bias) v`, `[B.., L, Ev]`. The batch dims broadcast
    /// (PyTorch's rule).
    ///
    /// - `bias`: added to the scaled scores, of the queries' dtype and broadcastable to
    ///   `[B.., L, S]` (a `[L, S]` mask, a `[B, 1, 1, S]` padding mask, ...); `-inf`
    ///   masks a key.
    /// - `causal`: key `s` is masked for query `l` when `s > l`, aligned at the top left
    ///   as PyTorch's `is_causal`.
    ///
    /// A query whose keys are all masked (or with `S = 0`) gives zeros, and zero
    /// gradients, as PyTorch's `scaled_dot_product_attention` (its "safe" softmax).
    ///
    /// One recorded op. Its backward needs the output and each query row's log-sum-exp of
    /// the scores (saved with the entry), not the `[L, S]` weights; the CPU backend fuses
    /// both directions into blocked kernels with an online softmax that never hold more
    /// than a block of scores per thread, so memory grows with `L + S`, not `L · S`.
    ///
    /// (Not compiled here: `lamina-tensor` has no backend to run it on; the autograd
    /// tests check the same values.)
    ///
    /// ```ignore
    /// use lamina_tensor::Tensor;
    /// let dev = lamina_backend_cpu::device();
    /// let q = Tensor::new(&[[1.0f64, 0.0], [0.0, 1.0]], &dev)?; // L 2, E 2
    /// let k = Tensor::new(&[[1.0f64, 0.0], [0.0, 1.0]], &dev)?; // S 2
    /// let v = Tensor::new(&[[1.0f64], [3.0]], &dev)?;           // Ev 1
    /// // Scale 0: uniform weights, except that the first query sees only the first key.
    /// let out = q.attention(&k, &v, None, true, 0.0)?;
    /// assert_eq!(out.to_vec2::<f64>()?, [[1.0], [2.0]]);
    /// # Ok::<(), lamina_tensor::Error>(())
    /// ```
    pub fn attention(
        &self,
        k: &Tensor,
        v: &Tensor,
        bias: Option<&Tensor>,
        causal: bool,
        scale: f64,
    ) -> Result<Tensor> {
        const OP: &str = "attention";
        let mut operands = vec![self, k, v];
        operands.extend(bias);
        if let Some(t) = crate::autocast::lowered(&operands)? {
            return t[0].attention(&t[1], &t[2], t.get(3), causal, scale);
        }
        let spec = AttentionSpec { causal, scale };
        let sz = check(OP, self, k, v, bias)?;
        let recording = hook::is_recording();
        // The operands are in one dtype now: the composite's softmax and log-sum-exp
        // stay in it (the saved log-sum-exp must match q for the backward).
        let (out, lse) = crate::autocast::disabled(|| {
            hook::paused(|| forward(self, k, v, bias, &spec, &sz, recording))
        })?;
        // `forward` returns the log-sum-exp whenever it is asked for it.
        if let Some(lse) = lse.filter(|_| recording) {
            // The rule reads the log-sum-exp: handing it over as an untracked input saves
            // it with the entry without a second output.
            let mut inputs = vec![self, k, v, &lse];
            inputs.extend(bias);
            hook::record(|| Op::Attention(spec), &inputs, &out);
        }
        Ok(out)
    }

    /// The gradients of [`attention`](Tensor::attention) from the output gradient `self`
    /// (`[B.., L, Ev]`), the op's inputs, its output `out` and each query row's log-sum-exp
    /// of the scores `lse` (`[B.., L]`, `-inf` for a row with no key; what the tape saved):
    /// with `P` the weights, `dv = Pᵀ g`, `dS = P ⊙ (g vᵀ − rowsum(g ⊙ out))`,
    /// `dq = dS k · scale`, `dk = dSᵀ q · scale` and, when `bias_grad`, `dbias = dS`
    /// summed to the bias's shape.
    ///
    /// While a tape records (gradients of gradients) it is computed from the inputs with
    /// recorded ops, so it differentiates again; otherwise by the backend's kernel when it
    /// has one (the bias gradient, which needs the whole `dS`, always by tensor ops).
    #[allow(clippy::too_many_arguments)]
    pub fn attention_backward(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        out: &Tensor,
        lse: &Tensor,
        bias: Option<&Tensor>,
        bias_grad: bool,
        spec: &AttentionSpec,
    ) -> Result<AttentionGrads> {
        const OP: &str = "attention_backward";
        let sz = check(OP, q, k, v, bias)?;
        let want = [
            (self, "output gradient", sz.shape(&[sz.l, sz.ev])),
            (out, "output", sz.shape(&[sz.l, sz.ev])),
            (lse, "log-sum-exp", sz.shape(&[sz.l])),
        ];
        for (t, what, shape) in want {
            q.check_same(t, OP)?;
            if t.shape() != &shape {
                return Err(Error::Invalid {
                    op: OP,
                    msg: format!("{what} {}, expected {shape}", t.shape()),
                });
            }
        }
        let bias_grad = bias_grad && bias.is_some();
        if hook::is_recording() {
            return backward_composite(self, q, k, v, bias, spec, bias_grad);
        }
        hook::paused(|| {
            if sz.trivial() {
                return Ok(AttentionGrads {
                    q: q.zeros_like()?,
                    k: k.zeros_like()?,
                    v: v.zeros_like()?,
                    bias: match bias {
                        Some(b) if bias_grad => Some(b.zeros_like()?),
                        _ => None,
                    },
                });
            }
            let kernel = if sz.e == 0 {
                None
            } else {
                let (g, o, m) = (self.contiguous()?, out.contiguous()?, lse.contiguous()?);
                let ls = Layouts::new(OP, q, k, v, bias, &sz)?;
                self.device().backend().attention_backward(
                    (g.storage(), g.layout()),
                    (q.storage(), &ls.q),
                    (k.storage(), &ls.k),
                    (v.storage(), &ls.v),
                    (o.storage(), o.layout()),
                    (m.storage(), m.layout()),
                    bias.zip(ls.bias.as_ref()).map(|(b, l)| (b.storage(), l)),
                    spec,
                )
            };
            match kernel {
                Some(r) => {
                    let (dq, dk, dv) = r?;
                    let dev = *self.device();
                    let full = |s, tail: &[usize]| {
                        Tensor::from_storage(s, Layout::contiguous(sz.shape(tail)), dev)
                    };
                    // The bias's gradient is the whole `dS`, which the kernel never
                    // holds: tensor ops (a bias is rarely trained).
                    let bias_g = if bias_grad {
                        let (_, ds) = weights_and_ds(self, q, k, v, bias, spec)?;
                        bias_grad_of(&ds, bias, true)?
                    } else {
                        None
                    };
                    Ok(AttentionGrads {
                        q: full(dq, &[sz.l, sz.e]).sum_to_shape(q.shape())?,
                        k: full(dk, &[sz.s, sz.e]).sum_to_shape(k.shape())?,
                        v: full(dv, &[sz.s, sz.ev]).sum_to_shape(v.shape())?,
                        bias: bias_g,
                    })
                }
                None => backward_composite(self, q, k, v, bias, spec, bias_grad),
            }
        })
    }
}

/// The sizes after checking `q [B.., L, E]`, `k [B.., S, E]`, `v [B.., S, Ev]` and `bias`
/// (broadcastable to `[B.., L, S]`): one float dtype, one device, batch dims that
/// broadcast.
fn check(
    op: &'static str,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: Option<&Tensor>,
) -> Result<Sizes> {
    q.check_float(op)?;
    for t in [k, v].into_iter().chain(bias) {
        q.check_same(t, op)?;
    }
    let all = || format!("q {}, k {}, v {}", q.shape(), k.shape(), v.shape());
    let invalid = |msg: String| Error::Invalid { op, msg };
    if q.rank() < 2 || k.rank() < 2 || v.rank() < 2 {
        return Err(invalid(format!(
            "{}: expected q [.., L, E], k [.., S, E] and v [.., S, Ev]",
            all()
        )));
    }
    let last2 = |t: &Tensor| (t.dims()[t.rank() - 2], t.dims()[t.rank() - 1]);
    let ((l, e), (s, ek), (sv, ev)) = (last2(q), last2(k), last2(v));
    if ek != e {
        return Err(invalid(format!("{}: q and k differ in E", all())));
    }
    if sv != s {
        return Err(invalid(format!("{}: k and v differ in S", all())));
    }
    let batch_of = |t: &Tensor| Shape::from_dims(&t.dims()[..t.rank() - 2]);
    let batch = batch_of(q)
        .broadcast(&batch_of(k), op)
        .and_then(|b| b.broadcast(&batch_of(v), op))
        .map_err(|_| invalid(format!("{}: batch dims do not broadcast", all())))?;
    let sz = Sizes { batch, l, s, e, ev };
    if let Some(b) = bias {
        let scores = sz.shape(&[l, s]);
        let fits = b.rank() <= scores.rank()
            && b.dims()
                .iter()
                .rev()
                .zip(scores.dims().iter().rev())
                .all(|(&d, &t)| d == t || d == 1);
        if !fits {
            return Err(invalid(format!(
                "bias {} does not broadcast to the scores' shape {scores} ({})",
                b.shape(),
                all()
            )));
        }
    }
    Ok(sz)
}

/// The layouts of `q`, `k`, `v` and `bias` broadcast to the full batch (the bias to
/// `[B.., L, S]`): stride 0 where broadcast, nothing copied.
struct Layouts {
    q: Layout,
    k: Layout,
    v: Layout,
    bias: Option<Layout>,
}

impl Layouts {
    fn new(
        op: &'static str,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        bias: Option<&Tensor>,
        sz: &Sizes,
    ) -> Result<Layouts> {
        let to = |t: &Tensor, tail: &[usize]| t.layout().broadcast_to(&sz.shape(tail), op);
        Ok(Layouts {
            q: to(q, &[sz.l, sz.e])?,
            k: to(k, &[sz.s, sz.e])?,
            v: to(v, &[sz.s, sz.ev])?,
            bias: bias.map(|b| to(b, &[sz.l, sz.s])).transpose()?,
        })
    }
}

/// The output and, when the kernel made it or `want_lse`, each row's log-sum-exp.
fn forward(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: Option<&Tensor>,
    spec: &AttentionSpec,
    sz: &Sizes,
    want_lse: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let (dev, dtype) = (*q.device(), q.dtype());
    if sz.trivial() {
        let out = Tensor::zeros(sz.shape(&[sz.l, sz.ev]), dtype, &dev)?;
        let lse = Tensor::full(f64::NEG_INFINITY, sz.shape(&[sz.l]), dtype, &dev)?;
        return Ok((out, Some(lse)));
    }
    if sz.e > 0 {
        let ls = Layouts::new("attention", q, k, v, bias, sz)?;
        let kernel = dev.backend().attention(
            (q.storage(), &ls.q),
            (k.storage(), &ls.k),
            (v.storage(), &ls.v),
            bias.zip(ls.bias.as_ref()).map(|(b, l)| (b.storage(), l)),
            spec,
        );
        if let Some(r) = kernel {
            let (out, lse) = r?;
            return Ok((
                Tensor::from_storage(out, Layout::contiguous(sz.shape(&[sz.l, sz.ev])), dev),
                Some(Tensor::from_storage(
                    lse,
                    Layout::contiguous(sz.shape(&[sz.l])),
                    dev,
                )),
            ));
        }
    }
    let s = scores(q, k, bias, spec)?;
    let out = safe_softmax(&s)?.matmul(v)?;
    let lse = if want_lse {
        Some(
            s.logsumexp(-1isize, false)?
                .broadcast_to(sz.shape(&[sz.l]))?,
        )
    } else {
        None
    };
    Ok((out, lse))
}

/// `q kᵀ · scale + bias`, `-inf` above the diagonal when causal (tensor ops, recorded when
/// a tape listens).
fn scores(q: &Tensor, k: &Tensor, bias: Option<&Tensor>, spec: &AttentionSpec) -> Result<Tensor> {
    let mut s = q.matmul(&k.transpose(-2, -1)?)?.mul_scalar(spec.scale)?;
    if let Some(b) = bias {
        s = (&s + b)?;
    }
    if spec.causal {
        let (l, n) = (s.dims()[s.rank() - 2], s.dims()[s.rank() - 1]);
        let rows = Tensor::arange(0.0, l as f64, 1.0, DType::I64, s.device())?.reshape([l, 1])?;
        let cols = Tensor::arange(0.0, n as f64, 1.0, DType::I64, s.device())?.reshape([1, n])?;
        s = s.masked_fill(&cols.gt(&rows)?, f64::NEG_INFINITY)?;
    }
    Ok(s)
}

/// Softmax over the last dim, with zeros (and zero gradients) for a row that is all
/// `-inf`: the row is replaced by zeros before the softmax, so no NaN reaches a gradient,
/// and its weights by zeros after (PyTorch's `_safe_softmax`).
fn safe_softmax(s: &Tensor) -> Result<Tensor> {
    let dead = s
        .detach()
        .amax(-1isize, true)?
        .eq_scalar(f64::NEG_INFINITY)?;
    if !dead.any()? {
        return s.softmax(-1);
    }
    let zero = s.scalar_like(0.0)?;
    let p = Tensor::where_(&dead, &zero, s)?.softmax(-1)?;
    Tensor::where_(&dead, &zero, &p)
}

/// The weights `P` recomputed from the inputs and
/// `dS = P ⊙ (g vᵀ − rowsum(P ⊙ g vᵀ))` (that row sum is `rowsum(g ⊙ out)`), from tensor
/// ops; `dS` is also the bias's gradient before it is summed to the bias's shape.
fn weights_and_ds(
    g: &Tensor,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: Option<&Tensor>,
    spec: &AttentionSpec,
) -> Result<(Tensor, Tensor)> {
    let p = safe_softmax(&scores(q, k, bias, spec)?)?;
    let dp = g.matmul(&v.transpose(-2, -1)?)?;
    let ds = (&p * (&dp - (&dp * &p)?.sum(-1isize, true)?)?)?;
    Ok((p, ds))
}

/// The bias's gradient, `dS` summed to its shape, when asked for.
fn bias_grad_of(ds: &Tensor, bias: Option<&Tensor>, want: bool) -> Result<Option<Tensor>> {
    match bias {
        Some(b) if want => Ok(Some(ds.sum_to_shape(b.shape())?)),
        _ => Ok(None),
    }
}

/// The gradients from tensor ops: `dv = Pᵀ g`, `dq = dS k · scale`, `dk = dSᵀ q · scale`,
/// `dbias = dS` (see [`weights_and_ds`]), each summed back to its input's shape.
fn backward_composite(
    g: &Tensor,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: Option<&Tensor>,
    spec: &AttentionSpec,
    bias_grad: bool,
) -> Result<AttentionGrads> {
    let (p, ds) = weights_and_ds(g, q, k, v, bias, spec)?;
    Ok(AttentionGrads {
        q: ds
            .matmul(k)?
            .mul_scalar(spec.scale)?
            .sum_to_shape(q.shape())?,
        k: ds
            .transpose(-2, -1)?
            .matmul(q)?
            .mul_scalar(spec.scale)?
            .sum_to_shape(k.shape())?,
        v: p.transpose(-2, -1)?.matmul(g)?.sum_to_shape(v.shape())?,
        bias: bias_grad_of(&ds, bias, bias_grad)?,
    })
}

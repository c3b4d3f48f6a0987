//! Attention, as PyTorch has it: the function [`scaled_dot_product_attention`]
//! (`F.scaled_dot_product_attention`), the mask helpers [`causal_mask`] and
//! [`square_subsequent_mask`], and the layer [`MultiheadAttention`] with PyTorch's
//! parameter names (`in_proj_weight`, `in_proj_bias`, `q_proj_weight`, `k_proj_weight`,
//! `v_proj_weight`, `bias_k`, `bias_v`, `out_proj.weight`, `out_proj.bias`), so
//! `state_dict` files interchange. Without dropout on the weights (and, for the layer,
//! without returning them) the attention itself is the fused primitive
//! [`Tensor::attention`], which never materialises the `[L, S]` weights on the CPU;
//! otherwise it is a composite of tensor ops (matmul, softmax, where, dropout).

use lamina_tensor::random::next_seed;
use lamina_tensor::{DType, Device, Error, Result, Shape, Tensor};

use crate::dropout::dropout;
use crate::init::{derive_seed, Init};
use crate::module::prefixed;
use crate::{Dropout, Linear, Module};

const SDPA: &str = "scaled_dot_product_attention";

/// `[l, s]` `Bool` mask, true on and below the diagonal (`col <= row`): the causal mask
/// of `is_causal`, aligned at the top left as PyTorch aligns it (`torch.ones(l, s,
/// dtype=bool).tril()`). True means "takes part", as `scaled_dot_product_attention`'s
/// bool masks.
///
/// ```
/// use lamina_nn::attention::causal_mask;
/// let dev = lamina_backend_cpu::device();
/// let m = causal_mask(2, 3, &dev)?;
/// assert_eq!(m.to_dtype(lamina_tensor::DType::I64)?.to_vec2::<i64>()?, [[1, 0, 0], [1, 1, 0]]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn causal_mask(l: usize, s: usize, device: &Device) -> Result<Tensor> {
    let rows = Tensor::arange(0.0, l as f64, 1.0, DType::I64, device)?.reshape([l, 1])?;
    let cols = Tensor::arange(0.0, s as f64, 1.0, DType::I64, device)?.reshape([1, s])?;
    cols.le(&rows)
}

/// `[size, size]` float mask with `-inf` above the diagonal and `0` elsewhere: PyTorch's
/// `nn.Transformer.generate_square_subsequent_mask`, an additive causal `attn_mask`.
pub fn square_subsequent_mask(size: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let keep = causal_mask(size, size, device)?;
    let zeros = Tensor::zeros([size, size], dtype, device)?;
    zeros.masked_fill(&keep.logical_not()?, f64::NEG_INFINITY)
}

/// The attention weights `softmax(q kᵀ · scale + bias)` over the last dim, where `bias`
/// is `-inf` where `keep` is false and `add` is added. A row whose every score is
/// `-inf` gives zeros when `safe` (PyTorch's `_safe_softmax`, used by
/// `scaled_dot_product_attention`), NaN otherwise (plain softmax).
fn attention_weights(
    q: &Tensor,
    k: &Tensor,
    scale: f64,
    keep: Option<&Tensor>,
    add: Option<&Tensor>,
    safe: bool,
) -> Result<Tensor> {
    let mut scores = q.matmul(&k.transpose(-2, -1)?)?.mul_scalar(scale)?;
    if let Some(keep) = keep {
        let ninf = scores.scalar_like(f64::NEG_INFINITY)?;
        scores = Tensor::where_(keep, &scores, &ninf)?;
    }
    if let Some(add) = add {
        scores = (&scores + add)?;
    }
    if !safe || (keep.is_none() && add.is_none()) {
        return scores.softmax(-1);
    }
    // Rows with no key left: softmax over zeros (finite, so no NaN reaches the
    // gradients), then zeroed.
    let dead = scores
        .detach()
        .amax(-1isize, true)?
        .eq_scalar(f64::NEG_INFINITY)?;
    if !dead.any()? {
        return scores.softmax(-1);
    }
    let zero = scores.scalar_like(0.0)?;
    let p = Tensor::where_(&dead, &zero, &scores)?.softmax(-1)?;
    Tensor::where_(&dead, &zero, &p)
}

/// Errors unless `mask` broadcasts to `target` (the attention weights' shape).
fn check_mask_shape(op: &'static str, what: &str, mask: &Tensor, target: &Shape) -> Result<()> {
    let ok = mask.rank() <= target.rank()
        && mask
            .dims()
            .iter()
            .rev()
            .zip(target.dims().iter().rev())
            .all(|(&m, &t)| m == t || m == 1);
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid {
            op,
            msg: format!(
                "{what} of shape {} does not broadcast to the attention weights' shape {target}",
                mask.shape()
            ),
        })
    }
}

/// Scaled dot-product attention, PyTorch's `F.scaled_dot_product_attention`:
/// `softmax(q kᵀ · scale + bias) v` with `q [.., L, E]`, `k [.., S, E]`, `v [.., S, Ev]`
/// (batch dims broadcast), giving `[.., L, Ev]`.
///
/// - `attn_mask`, broadcastable to `[.., L, S]`: `Bool` (true = the key takes part,
///   false = `-inf`), or of the query's float dtype (added to the scores).
/// - `is_causal`: the mask [`causal_mask`]`(L, S)` (top-left aligned); an error together
///   with `attn_mask`, as in PyTorch.
/// - `scale`: default `1/√E`.
/// - `dropout_p`: dropout on the weights, drawn from `seed`, when `training` (as
///   [`dropout`](crate::dropout)).
///
/// A query whose keys are all masked gives zeros (and zero gradients), as PyTorch does.
///
/// Without dropout (`training` false or `dropout_p` 0) this is one fused op,
/// [`Tensor::attention`] (a bool mask turned into an additive one, `is_causal` its
/// `causal`): blocked and with an online softmax on the CPU, so memory grows with
/// `L + S` rather than `L · S`, and its backward recomputes the weights from each
/// query's saved log-sum-exp. With dropout the weights are materialised.
///
/// ```
/// use lamina_nn::functional::scaled_dot_product_attention;
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let q = Tensor::new(&[[1.0f64, 0.0]], &dev)?;             // L 1, E 2
/// let k = Tensor::new(&[[1.0f64, 0.0], [0.0, 1.0]], &dev)?; // S 2
/// let v = Tensor::new(&[[1.0f64], [3.0]], &dev)?;
/// // Weights ∝ exp(1/√2), exp(0) with the default scale; scale 0 averages.
/// let out = scaled_dot_product_attention(&q, &k, &v, None, 0.0, false, Some(0.0), 0, false)?;
/// assert_eq!(out.to_vec2::<f64>()?, [[2.0]]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn scaled_dot_product_attention(
    query: &Tensor,
    key: &Tensor,
    value: &Tensor,
    attn_mask: Option<&Tensor>,
    dropout_p: f64,
    is_causal: bool,
    scale: Option<f64>,
    seed: u64,
    training: bool,
) -> Result<Tensor> {
    let invalid = |msg: String| Error::Invalid { op: SDPA, msg };
    for (what, t) in [("query", query), ("key", key), ("value", value)] {
        if t.rank() < 2 {
            return Err(invalid(format!(
                "{what} needs at least 2 dims [.., seq, features], got shape {}",
                t.shape()
            )));
        }
        if !t.dtype().is_float() {
            return Err(Error::UnsupportedDType {
                op: SDPA,
                dtype: t.dtype(),
            });
        }
    }
    let (qd, kd, vd) = (query.dims(), key.dims(), value.dims());
    let e = qd[qd.len() - 1];
    if kd[kd.len() - 1] != e {
        return Err(invalid(format!(
            "query [.., L, E] and key [.., S, E] differ in E: query {}, key {}",
            query.shape(),
            key.shape()
        )));
    }
    if kd[kd.len() - 2] != vd[vd.len() - 2] {
        return Err(invalid(format!(
            "key [.., S, E] and value [.., S, Ev] differ in S: key {}, value {}",
            key.shape(),
            value.shape()
        )));
    }
    let (l, s) = (qd[qd.len() - 2], kd[kd.len() - 2]);
    let batch = Shape::new(qd[..qd.len() - 2].to_vec())
        .broadcast(&Shape::new(kd[..kd.len() - 2].to_vec()), SDPA)?
        .broadcast(&Shape::new(vd[..vd.len() - 2].to_vec()), SDPA)?;
    let mut wdims = batch.dims().to_vec();
    wdims.extend([l, s]);
    let wshape = Shape::new(wdims);
    let scale = scale.unwrap_or(1.0 / (e as f64).sqrt());
    let (keep, add) = match (attn_mask, is_causal) {
        (Some(_), true) => {
            return Err(invalid(
                "an explicit attn_mask cannot be set with is_causal = true".into(),
            ))
        }
        (None, _) => (None, None),
        (Some(m), false) => {
            check_mask_shape(SDPA, "attn_mask", m, &wshape)?;
            if m.dtype() == DType::Bool {
                (Some(m), None)
            } else if m.dtype() == query.dtype() {
                (None, Some(m))
            } else {
                return Err(invalid(format!(
                    "attn_mask must be bool or the query's dtype {}, got {} (shape {})",
                    query.dtype(),
                    m.dtype(),
                    m.shape()
                )));
            }
        }
    };
    if !(training && dropout_p > 0.0) {
        // The fused primitive: a bool mask becomes an additive one, `is_causal` its option.
        let bias = match keep {
            Some(m) => Some(
                Tensor::zeros(m.shape(), query.dtype(), m.device())?
                    .masked_fill(&m.logical_not()?, f64::NEG_INFINITY)?,
            ),
            None => add.cloned(),
        };
        return query.attention(key, value, bias.as_ref(), is_causal, scale);
    }
    // Dropout on the weights needs them whole: the composite.
    let causal = if is_causal {
        Some(causal_mask(l, s, query.device())?)
    } else {
        None
    };
    let keep = keep.or(causal.as_ref());
    let w = attention_weights(query, key, scale, keep, add, true)?;
    dropout(&w, dropout_p, seed, true)?.matmul(value)
}

/// Multi-head attention, PyTorch's `nn.MultiheadAttention`: `out_proj(concat_h
/// softmax(q_h k_hᵀ / √d) v_h)`, with `q, k, v` the input projections of query, key and
/// value, split into `num_heads` heads of `d = embed_dim / num_heads` features.
///
/// Parameters by PyTorch's names: `in_proj_weight [3E, E]` when key and value have
/// `embed_dim` features, else `q_proj_weight [E, E]`, `k_proj_weight [E, kdim]`,
/// `v_proj_weight [E, vdim]`; `in_proj_bias [3E]` (with `bias`); `bias_k`, `bias_v`
/// `[1, 1, E]` (with `add_bias_kv`); `out_proj.weight [E, E]`, `out_proj.bias [E]`.
/// Inputs are `[L, N, E]` (`[N, L, E]` with `batch_first`) or unbatched `[L, E]`.
///
/// [`Module::forward`] is self-attention without weights; [`forward_qkv`] takes
/// PyTorch's whole argument list and returns the weights too.
///
/// [`forward_qkv`]: MultiheadAttention::forward_qkv
///
/// ```
/// use lamina_nn::{Module, MultiheadAttention};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let mha = MultiheadAttention::builder(8, 2).batch_first(true).seed(0).build(&dev)?;
/// let x = Tensor::randn(1, [3, 5, 8], DType::F32, &dev)?; // N 3, L 5, E 8
/// let (out, w) = mha.forward_qkv(&x, &x, &x, None, true, None, true, false)?;
/// assert_eq!(out.dims(), &[3, 5, 8]);
/// assert_eq!(w.unwrap().dims(), &[3, 5, 5]); // averaged over the heads
/// assert_eq!(mha.forward(&x)?.dims(), &[3, 5, 8]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct MultiheadAttention {
    /// `[3E, E]`: the query, key and value projections stacked; `None` when `kdim` or
    /// `vdim` differs from `embed_dim`.
    pub in_proj_weight: Option<Tensor>,
    /// `[E, E]`, only when `kdim` or `vdim` differs from `embed_dim`.
    pub q_proj_weight: Option<Tensor>,
    /// `[E, kdim]`, likewise.
    pub k_proj_weight: Option<Tensor>,
    /// `[E, vdim]`, likewise.
    pub v_proj_weight: Option<Tensor>,
    /// `[3E]`.
    pub in_proj_bias: Option<Tensor>,
    /// `[1, 1, E]`: a key appended to every sequence (`add_bias_kv`).
    pub bias_k: Option<Tensor>,
    /// `[1, 1, E]`: its value.
    pub bias_v: Option<Tensor>,
    /// The output projection, `E → E`.
    pub out_proj: Linear,
    num_heads: usize,
    kdim: usize,
    vdim: usize,
    batch_first: bool,
    dropout: Dropout,
}

impl MultiheadAttention {
    /// A layer with PyTorch's defaults (bias, no `bias_kv`, `kdim = vdim = embed_dim`,
    /// sequence first, no dropout), in f32, its seed from the global stream.
    pub fn new(embed_dim: usize, num_heads: usize, device: &Device) -> Result<Self> {
        MultiheadAttention::builder(embed_dim, num_heads).build(device)
    }

    /// Options of a layer, starting from PyTorch's defaults (see [`MhaBuilder`]).
    pub fn builder(embed_dim: usize, num_heads: usize) -> MhaBuilder {
        MhaBuilder {
            embed_dim,
            num_heads,
            dropout: 0.0,
            bias: true,
            add_bias_kv: false,
            kdim: None,
            vdim: None,
            batch_first: false,
            dtype: DType::F32,
            seed: None,
        }
    }

    pub fn embed_dim(&self) -> usize {
        self.out_proj.out_features()
    }

    pub fn num_heads(&self) -> usize {
        self.num_heads
    }

    pub fn head_dim(&self) -> usize {
        self.embed_dim() / self.num_heads
    }

    pub fn kdim(&self) -> usize {
        self.kdim
    }

    pub fn vdim(&self) -> usize {
        self.vdim
    }

    pub fn batch_first(&self) -> bool {
        self.batch_first
    }

    /// The dropout probability on the attention weights.
    pub fn dropout_p(&self) -> f64 {
        self.dropout.p()
    }

    /// A copy with its own parameter storage and its dropout masks drawn from `seed`
    /// (what `copy.deepcopy` gives PyTorch's stacks, with independent masks).
    pub(crate) fn deep_copy(&self, seed: u64) -> Result<MultiheadAttention> {
        let mut m = self.clone();
        crate::transformer::copy_parameters(&mut m)?;
        let mut dropout = Dropout::builder(self.dropout.p()).seed(seed).build()?;
        dropout.set_training(self.dropout.is_training());
        m.dropout = dropout;
        Ok(m)
    }

    fn err(&self, msg: String) -> Error {
        Error::Module {
            module: self.name(),
            msg,
        }
    }

    /// The weight and bias of projection `i` (0 query, 1 key, 2 value).
    fn proj(&self, i: usize) -> Result<(Tensor, Option<Tensor>)> {
        let e = self.embed_dim();
        let w = match &self.in_proj_weight {
            Some(w) => w.narrow(0, i * e, e)?,
            None => [
                &self.q_proj_weight,
                &self.k_proj_weight,
                &self.v_proj_weight,
            ][i]
                .clone()
                .expect("separate projection weights"),
        };
        let b = match &self.in_proj_bias {
            Some(b) => Some(b.narrow(0, i * e, e)?),
            None => None,
        };
        Ok((w, b))
    }

    /// A mask as an additive float mask of `dtype`: `Bool` true becomes `-inf` (PyTorch's
    /// `_canonical_mask`: true = not allowed), a float mask stays.
    fn canonical(&self, what: &str, m: &Tensor, dtype: DType) -> Result<Tensor> {
        match m.dtype() {
            DType::Bool => {
                Tensor::zeros(m.shape(), dtype, m.device())?.masked_fill(m, f64::NEG_INFINITY)
            }
            d if d.is_float() => m.to_dtype(dtype),
            d => Err(self.err(format!(
                "{what} must be bool or float, got {d} (shape {})",
                m.shape()
            ))),
        }
    }

    /// PyTorch's `forward(query, key, value, key_padding_mask, need_weights, attn_mask,
    /// average_attn_weights, is_causal)`: the output, `[L, N, E]` (`[N, L, E]` with
    /// `batch_first`, `[L, E]` unbatched), and with `need_weights` the attention weights
    /// `[N, L, S]` averaged over the heads (`average_attn_weights`) or `[N, H, L, S]`
    /// (without `N` unbatched).
    ///
    /// - `key_padding_mask [N, S]` (`[S]` unbatched): `Bool` true = the key is ignored,
    ///   or float, added.
    /// - `attn_mask [L, S]` or `[N·H, L, S]` (`[H, L, S]` unbatched): `Bool` true = not
    ///   allowed, or float, added. Note that true means the opposite of
    ///   [`scaled_dot_product_attention`]'s bool mask, as in PyTorch.
    /// - `is_causal`: a hint that `attn_mask` is the causal mask, which it must then be
    ///   given (as PyTorch requires); the mask is applied as given.
    ///
    /// A query whose keys are all masked gets NaN weights and output with
    /// `need_weights`, and zero attention (the output bias) without, as in PyTorch.
    ///
    /// Without `need_weights` and without active dropout the heads' attention is the
    /// fused [`Tensor::attention`] (the weights are never materialised on the CPU).
    #[allow(clippy::too_many_arguments)]
    pub fn forward_qkv(
        &self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        key_padding_mask: Option<&Tensor>,
        need_weights: bool,
        attn_mask: Option<&Tensor>,
        average_attn_weights: bool,
        is_causal: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let (e, h) = (self.embed_dim(), self.num_heads);
        let d = e / h;
        let batched = match query.rank() {
            3 => true,
            2 => false,
            _ => {
                return Err(self.err(format!(
                    "query must be [L, N, E], [N, L, E] (batch_first) or unbatched [L, E], got shape {}",
                    query.shape()
                )))
            }
        };
        for (what, t) in [("key", key), ("value", value)] {
            if t.rank() != query.rank() {
                return Err(self.err(format!(
                    "query has shape {} but {what} has shape {}: both batched or both unbatched",
                    query.shape(),
                    t.shape()
                )));
            }
        }
        for (what, t, want) in [
            ("query", query, e),
            ("key", key, self.kdim),
            ("value", value, self.vdim),
        ] {
            let has = t.dims()[t.rank() - 1];
            if has != want {
                return Err(self.err(format!(
                    "{what} has {has} features (shape {}), expected {want}",
                    t.shape()
                )));
            }
        }
        // To [N, seq, features].
        let to_nlf = |t: &Tensor| -> Result<Tensor> {
            if !batched {
                t.unsqueeze(0)
            } else if self.batch_first {
                Ok(t.clone())
            } else {
                t.transpose(0, 1)
            }
        };
        let (q_in, k_in, v_in) = (to_nlf(query)?, to_nlf(key)?, to_nlf(value)?);
        let (n, l, s) = (q_in.dims()[0], q_in.dims()[1], k_in.dims()[1]);
        if k_in.dims()[..2] != v_in.dims()[..2] || k_in.dims()[0] != n {
            return Err(self.err(format!(
                "query, key and value disagree on the batch or key and value on the sequence: query {}, key {}, value {}",
                query.shape(),
                key.shape(),
                value.shape()
            )));
        }
        let dtype = q_in.dtype();
        // The masks, checked against PyTorch's shapes and made additive.
        if is_causal && attn_mask.is_none() {
            return Err(self.err(
                "is_causal is a hint that attn_mask is causal: it needs attn_mask (see square_subsequent_mask)".into(),
            ));
        }
        let mut mask = None; // [1 or N, 1 or H, L, S]
        if let Some(m) = attn_mask {
            let ok2 = m.dims() == [l, s];
            let nh = if batched { n * h } else { h };
            let ok3 = m.dims() == [nh, l, s];
            if !(ok2 || ok3) {
                let want3 = if batched {
                    format!("[N·H {nh}, L {l}, S {s}]")
                } else {
                    format!("[H {nh}, L {l}, S {s}]")
                };
                return Err(self.err(format!(
                    "attn_mask has shape {}, expected [L {l}, S {s}] or {want3}",
                    m.shape()
                )));
            }
            let m = self.canonical("attn_mask", m, dtype)?;
            mask = Some(if ok2 {
                m.reshape([1, 1, l, s])?
            } else {
                m.reshape([n, h, l, s])?
            });
        }
        if let Some(kpm) = key_padding_mask {
            let want: Vec<usize> = if batched { vec![n, s] } else { vec![s] };
            if kpm.dims() != want.as_slice() {
                return Err(self.err(format!(
                    "key_padding_mask has shape {}, expected {}",
                    kpm.shape(),
                    if batched {
                        format!("[N {n}, S {s}]")
                    } else {
                        format!("[S {s}]")
                    }
                )));
            }
            let kpm = self
                .canonical("key_padding_mask", kpm, dtype)?
                .reshape([n, 1, 1, s])?;
            mask = Some(match mask {
                Some(m) => (&m + &kpm)?,
                None => kpm,
            });
        }
        // Projections.
        let project = |x: &Tensor, i: usize| -> Result<Tensor> {
            let (w, b) = self.proj(i)?;
            let y = x.matmul(&w.t()?)?;
            match b {
                Some(b) => &y + &b,
                None => Ok(y),
            }
        };
        let q = project(&q_in, 0)?;
        let mut k = project(&k_in, 1)?;
        let mut v = project(&v_in, 2)?;
        let mut s = s;
        if let (Some(bk), Some(bv)) = (&self.bias_k, &self.bias_v) {
            k = Tensor::cat(&[&k, &bk.broadcast_to([n, 1, e])?], 1)?;
            v = Tensor::cat(&[&v, &bv.broadcast_to([n, 1, e])?], 1)?;
            s += 1;
            if let Some(m) = mask {
                let dims = m.dims().to_vec();
                let pad = Tensor::zeros([dims[0], dims[1], dims[2], 1], dtype, m.device())?;
                mask = Some(Tensor::cat(&[&m, &pad], 3)?);
            }
        }
        // Heads: [N, H, seq, d].
        let heads = |t: &Tensor, len: usize| t.reshape([n, len, h, d])?.transpose(1, 2);
        let (q, k, v) = (heads(&q, l)?, heads(&k, s)?, heads(&v, s)?);
        let scale = 1.0 / (d as f64).sqrt();
        let dropout_on = self.dropout.is_training() && self.dropout.p() > 0.0;
        let (att, w) = if need_weights || dropout_on {
            let w = attention_weights(&q, &k, scale, None, mask.as_ref(), !need_weights)?;
            let w = self.dropout.forward(&w)?;
            (w.matmul(&v)?, Some(w))
        } else {
            // No weights to return and none to drop: the fused primitive.
            (q.attention(&k, &v, mask.as_ref(), false, scale)?, None)
        };
        let out = att.transpose(1, 2)?.reshape([n, l, e])?;
        let out = self.out_proj.forward(&out)?;
        let out = if !batched {
            out.squeeze(0)?
        } else if self.batch_first {
            out
        } else {
            out.transpose(0, 1)?
        };
        let weights = if let Some(w) = w.filter(|_| need_weights) {
            let w = if average_attn_weights {
                w.mean(1isize, false)?
            } else {
                w
            };
            Some(if batched { w } else { w.squeeze(0)? })
        } else {
            None
        };
        Ok((out, weights))
    }
}

impl Module for MultiheadAttention {
    /// Self-attention without masks or weights: `forward_qkv(x, x, x, ..)`'s output.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_qkv(x, x, x, None, false, None, true, false)?.0)
    }

    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        for (name, t) in [
            ("in_proj_weight", &self.in_proj_weight),
            ("q_proj_weight", &self.q_proj_weight),
            ("k_proj_weight", &self.k_proj_weight),
            ("v_proj_weight", &self.v_proj_weight),
            ("in_proj_bias", &self.in_proj_bias),
            ("bias_k", &self.bias_k),
            ("bias_v", &self.bias_v),
        ] {
            if let Some(t) = t {
                f(prefixed(prefix, name), t);
            }
        }
        self.out_proj.visit(&prefixed(prefix, "out_proj"), f);
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        for (name, t) in [
            ("in_proj_weight", &mut self.in_proj_weight),
            ("q_proj_weight", &mut self.q_proj_weight),
            ("k_proj_weight", &mut self.k_proj_weight),
            ("v_proj_weight", &mut self.v_proj_weight),
            ("in_proj_bias", &mut self.in_proj_bias),
            ("bias_k", &mut self.bias_k),
            ("bias_v", &mut self.bias_v),
        ] {
            if let Some(t) = t {
                f(prefixed(prefix, name), t);
            }
        }
        self.out_proj.visit_mut(&prefixed(prefix, "out_proj"), f);
    }

    fn set_training(&mut self, on: bool) {
        self.dropout.set_training(on);
    }

    fn training_mode(&self) -> Option<bool> {
        Some(self.dropout.is_training())
    }

    fn visit_rng_state(&self, prefix: &str, f: &mut dyn FnMut(String, u64)) {
        self.dropout
            .visit_rng_state(&prefixed(prefix, "dropout"), f);
    }

    fn visit_rng_state_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut u64)) {
        self.dropout
            .visit_rng_state_mut(&prefixed(prefix, "dropout"), f);
    }

    /// `MultiheadAttention(embed_dim 8, num_heads 2)`, with `kdim`/`vdim` when they
    /// differ.
    fn name(&self) -> String {
        let e = self.embed_dim();
        let mut s = format!(
            "MultiheadAttention(embed_dim {e}, num_heads {}",
            self.num_heads
        );
        if self.kdim != e || self.vdim != e {
            s += &format!(", kdim {}, vdim {}", self.kdim, self.vdim);
        }
        s + ")"
    }
}

/// Options of a [`MultiheadAttention`]; [`MultiheadAttention::builder`] starts from
/// PyTorch's defaults (`dropout 0`, `bias`, no `add_bias_kv`, `kdim = vdim =
/// embed_dim`, sequence first, f32, a seed from the global stream). Initialisation is
/// PyTorch's `_reset_parameters`: Xavier-uniform input projections, zero biases,
/// Xavier-normal `bias_k`/`bias_v`, and `out_proj` a [`Linear`]'s default weight.
///
/// ```
/// use lamina_nn::{Module, MultiheadAttention};
/// let dev = lamina_backend_cpu::device();
/// let mha = MultiheadAttention::builder(8, 2).kdim(3).vdim(5).seed(1).build(&dev)?;
/// let names: Vec<String> = mha.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias",
///                    "out_proj.weight", "out_proj.bias"]);
/// assert!(MultiheadAttention::builder(10, 3).build(&dev).is_err()); // 10 % 3 != 0
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build`"]
pub struct MhaBuilder {
    embed_dim: usize,
    num_heads: usize,
    dropout: f64,
    bias: bool,
    add_bias_kv: bool,
    kdim: Option<usize>,
    vdim: Option<usize>,
    batch_first: bool,
    dtype: DType,
    seed: Option<u64>,
}

impl MhaBuilder {
    /// Dropout probability on the attention weights in training (default 0).
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }

    /// Whether the projections have biases (default true).
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Appends a learned key and value (`bias_k`, `bias_v`) to every sequence (default
    /// false).
    pub fn add_bias_kv(mut self, on: bool) -> Self {
        self.add_bias_kv = on;
        self
    }

    /// Features of the key (default `embed_dim`).
    pub fn kdim(mut self, kdim: usize) -> Self {
        self.kdim = Some(kdim);
        self
    }

    /// Features of the value (default `embed_dim`).
    pub fn vdim(mut self, vdim: usize) -> Self {
        self.vdim = Some(vdim);
        self
    }

    /// Inputs and outputs `[N, L, E]` instead of `[L, N, E]` (default false).
    pub fn batch_first(mut self, on: bool) -> Self {
        self.batch_first = on;
        self
    }

    /// Parameter dtype (default f32).
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// Draws every parameter and the dropout masks from seeds derived from `seed`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The layer; an error naming the sizes when `embed_dim` is not a positive
    /// multiple of `num_heads`, or the dropout probability is not in `[0, 1]`.
    pub fn build(&self, device: &Device) -> Result<MultiheadAttention> {
        let (e, h) = (self.embed_dim, self.num_heads);
        if h == 0 || e == 0 || e % h != 0 {
            return Err(Error::Invalid {
                op: "MultiheadAttention",
                msg: format!("embed_dim ({e}) must be a positive multiple of num_heads ({h})"),
            });
        }
        let seed = self.seed.unwrap_or_else(next_seed);
        let dropout = Dropout::builder(self.dropout)
            .seed(derive_seed(seed, 6))
            .build()?;
        let (kdim, vdim) = (self.kdim.unwrap_or(e), self.vdim.unwrap_or(e));
        let dt = self.dtype;
        let xavier = Init::xavier_uniform();
        let (mut in_proj_weight, mut q_proj_weight, mut k_proj_weight, mut v_proj_weight) =
            (None, None, None, None);
        if kdim == e && vdim == e {
            in_proj_weight = Some(xavier.tensor([3 * e, e], seed, dt, device)?);
        } else {
            q_proj_weight = Some(xavier.tensor([e, e], seed, dt, device)?);
            k_proj_weight = Some(xavier.tensor([e, kdim], derive_seed(seed, 1), dt, device)?);
            v_proj_weight = Some(xavier.tensor([e, vdim], derive_seed(seed, 2), dt, device)?);
        }
        let in_proj_bias = if self.bias {
            Some(Tensor::zeros([3 * e], dt, device)?)
        } else {
            None
        };
        let (bias_k, bias_v) = if self.add_bias_kv {
            let xn = Init::xavier_normal();
            (
                Some(xn.tensor([1, 1, e], derive_seed(seed, 4), dt, device)?),
                Some(xn.tensor([1, 1, e], derive_seed(seed, 5), dt, device)?),
            )
        } else {
            (None, None)
        };
        let out_proj = Linear::builder(e, e)
            .bias(self.bias)
            .bias_init(Init::Zeros)
            .dtype(dt)
            .seed(derive_seed(seed, 3))
            .build(device)?;
        Ok(MultiheadAttention {
            in_proj_weight,
            q_proj_weight,
            k_proj_weight,
            v_proj_weight,
            in_proj_bias,
            bias_k,
            bias_v,
            out_proj,
            num_heads: h,
            kdim,
            vdim,
            batch_first: self.batch_first,
            dropout,
        })
    }
}

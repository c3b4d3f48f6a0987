//! Transformer layers as PyTorch has them: [`TransformerEncoderLayer`],
//! [`TransformerEncoder`], [`TransformerDecoderLayer`], [`TransformerDecoder`] and the
//! whole encoder-decoder [`Transformer`], with
//! PyTorch's parameter names (`self_attn.in_proj_weight`, `linear1.weight`,
//! `norm1.bias`, `layers.0.…`, `norm.weight`), its post-norm (default) and pre-norm
//! (`norm_first`) orders, masks and `batch_first`. Built on [`MultiheadAttention`],
//! [`Linear`], [`LayerNorm`] and [`Dropout`], so autograd differentiates them with no
//! rule of their own.

use std::marker::PhantomData;

use lamina_tensor::random::next_seed;
use lamina_tensor::{DType, Device, Error, Result, Tensor};

use crate::init::{derive_seed, Init};
use crate::module::prefixed;
use crate::{Activation, Dropout, LayerNorm, Linear, Module, MultiheadAttention};

/// Replaces every parameter of a freshly cloned module by a copy with its own storage
/// (a clone shares storage with its original).
pub(crate) fn copy_parameters(m: &mut dyn Module) -> Result<()> {
    let mut err = None;
    m.visit_mut("", &mut |_, p| match p.copy() {
        Ok(c) => *p = c,
        Err(e) => err = Some(e),
    });
    err.map_or(Ok(()), Err)
}

fn copy_norm(n: &LayerNorm) -> Result<LayerNorm> {
    let mut n = n.clone();
    copy_parameters(&mut n)?;
    Ok(n)
}

fn copy_linear(l: &Linear) -> Result<Linear> {
    let mut l = l.clone();
    copy_parameters(&mut l)?;
    Ok(l)
}

fn reseeded(d: &Dropout, seed: u64) -> Result<Dropout> {
    let mut out = Dropout::builder(d.p()).seed(seed).build()?;
    out.set_training(d.is_training());
    Ok(out)
}

/// Options of a [`TransformerEncoderLayer`] or [`TransformerDecoderLayer`], starting from
/// PyTorch's defaults: `dim_feedforward 2048`, `dropout 0.1`, ReLU, `layer_norm_eps
/// 1e-5`, sequence first, post-norm, with biases, f32, a seed from the global stream.
/// `activation` takes any [`Activation`]; PyTorch's `"relu"` and `"gelu"` are
/// [`Activation::Relu`] and [`Activation::Gelu`] (exact, erf form).
#[derive(Clone, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build`"]
pub struct TransformerLayerBuilder<L> {
    d_model: usize,
    nhead: usize,
    dim_feedforward: usize,
    dropout: f64,
    activation: Activation,
    layer_norm_eps: f64,
    batch_first: bool,
    norm_first: bool,
    bias: bool,
    dtype: DType,
    seed: Option<u64>,
    layer: PhantomData<fn() -> L>,
}

impl<L> TransformerLayerBuilder<L> {
    fn new(d_model: usize, nhead: usize) -> Self {
        TransformerLayerBuilder {
            d_model,
            nhead,
            dim_feedforward: 2048,
            dropout: 0.1,
            activation: Activation::Relu,
            layer_norm_eps: 1e-5,
            batch_first: false,
            norm_first: false,
            bias: true,
            dtype: DType::F32,
            seed: None,
            layer: PhantomData,
        }
    }

    /// Width of the feed-forward block (default 2048).
    pub fn dim_feedforward(mut self, n: usize) -> Self {
        self.dim_feedforward = n;
        self
    }

    /// Dropout probability in training, for the attention weights and after each block
    /// (default 0.1).
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }

    /// The feed-forward block's activation (default ReLU).
    pub fn activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }

    /// The layer norms' epsilon (default 1e-5).
    pub fn layer_norm_eps(mut self, eps: f64) -> Self {
        self.layer_norm_eps = eps;
        self
    }

    /// Inputs and outputs `[N, L, E]` instead of `[L, N, E]` (default false).
    pub fn batch_first(mut self, on: bool) -> Self {
        self.batch_first = on;
        self
    }

    /// Layer norm before each block (pre-norm) instead of after the residual sum
    /// (default false).
    pub fn norm_first(mut self, on: bool) -> Self {
        self.norm_first = on;
        self
    }

    /// Whether the linear layers, attention projections and layer norms have biases
    /// (default true).
    pub fn bias(mut self, on: bool) -> Self {
        self.bias = on;
        self
    }

    /// Parameter dtype (default f32).
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// Draws every parameter and dropout mask from seeds derived from `seed`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    fn check(&self, op: &'static str) -> Result<()> {
        let (e, h) = (self.d_model, self.nhead);
        if h == 0 || e == 0 || e % h != 0 {
            return Err(Error::Invalid {
                op,
                msg: format!("d_model ({e}) must be a positive multiple of nhead ({h})"),
            });
        }
        if self.dim_feedforward == 0 {
            return Err(Error::Invalid {
                op,
                msg: "dim_feedforward must be positive".into(),
            });
        }
        Ok(())
    }

    fn attn(&self, seed: u64, device: &Device) -> Result<MultiheadAttention> {
        MultiheadAttention::builder(self.d_model, self.nhead)
            .dropout(self.dropout)
            .bias(self.bias)
            .batch_first(self.batch_first)
            .dtype(self.dtype)
            .seed(seed)
            .build(device)
    }

    fn linear(&self, i: usize, o: usize, seed: u64, device: &Device) -> Result<Linear> {
        Linear::builder(i, o)
            .bias(self.bias)
            .dtype(self.dtype)
            .seed(seed)
            .build(device)
    }

    fn norm(&self, device: &Device) -> Result<LayerNorm> {
        LayerNorm::with_options(
            &[self.d_model],
            self.layer_norm_eps,
            true,
            self.bias,
            self.dtype,
            device,
        )
    }

    fn drop(&self, seed: u64) -> Result<Dropout> {
        Dropout::builder(self.dropout).seed(seed).build()
    }
}

/// Checks that `x` is `[L, N, E]`/`[N, L, E]` or unbatched `[L, E]` with `E = d_model`.
fn check_input(module: &dyn Module, what: &str, x: &Tensor, d_model: usize) -> Result<()> {
    let r = x.rank();
    if !(r == 2 || r == 3) || x.dims()[r - 1] != d_model {
        return Err(Error::Module {
            module: module.name(),
            msg: format!(
                "{what} has shape {}, expected [L, N, d_model {d_model}], [N, L, d_model {d_model}] (batch_first) or unbatched [L, d_model {d_model}]",
                x.shape()
            ),
        });
    }
    Ok(())
}

/// The feed-forward block `linear2(dropout(activation(linear1(x))))`.
fn feed_forward(
    linear1: &Linear,
    activation: &Activation,
    dropout: &Dropout,
    linear2: &Linear,
    x: &Tensor,
) -> Result<Tensor> {
    let h = activation.apply(&linear1.forward(x)?)?;
    linear2.forward(&dropout.forward(&h)?)
}

/// Self-attention then a feed-forward block, each with a residual connection and a
/// layer norm (PyTorch `nn.TransformerEncoderLayer`). Post-norm (default):
/// `x = norm1(x + sa(x)); x = norm2(x + ff(x))`; pre-norm (`norm_first`):
/// `x = x + sa(norm1(x)); x = x + ff(norm2(x))`.
///
/// ```
/// use lamina_nn::{Module, TransformerEncoderLayer};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let layer = TransformerEncoderLayer::builder(8, 2).dim_feedforward(16).batch_first(true).seed(0).build(&dev)?;
/// let names: Vec<String> = layer.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names[..4], ["self_attn.in_proj_weight", "self_attn.in_proj_bias",
///                         "self_attn.out_proj.weight", "self_attn.out_proj.bias"]);
/// let x = Tensor::randn(1, [3, 5, 8], DType::F32, &dev)?; // N 3, L 5, E 8
/// assert_eq!(layer.forward(&x)?.dims(), &[3, 5, 8]);
/// assert!(TransformerEncoderLayer::builder(10, 3).build(&dev).is_err()); // 10 % 3 != 0
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct TransformerEncoderLayer {
    pub self_attn: MultiheadAttention,
    pub linear1: Linear,
    pub linear2: Linear,
    pub norm1: LayerNorm,
    pub norm2: LayerNorm,
    dropout: Dropout,
    dropout1: Dropout,
    dropout2: Dropout,
    activation: Activation,
    norm_first: bool,
    seed: u64,
}

impl TransformerEncoderLayer {
    /// Options of a layer, starting from PyTorch's defaults (see
    /// [`TransformerLayerBuilder`]).
    pub fn builder(d_model: usize, nhead: usize) -> TransformerLayerBuilder<Self> {
        TransformerLayerBuilder::new(d_model, nhead)
    }

    pub fn d_model(&self) -> usize {
        self.self_attn.embed_dim()
    }

    pub fn nhead(&self) -> usize {
        self.self_attn.num_heads()
    }

    pub fn norm_first(&self) -> bool {
        self.norm_first
    }

    pub fn batch_first(&self) -> bool {
        self.self_attn.batch_first()
    }

    /// PyTorch's `forward(src, src_mask, src_key_padding_mask, is_causal)`: `src_mask`
    /// `[L, L]` or `[N·H, L, L]` (bool true = not allowed, or float, added),
    /// `src_key_padding_mask` `[N, L]` (bool true = ignored, or float), `is_causal` a
    /// hint that `src_mask` is the causal mask (which must then be given).
    pub fn forward_masked(
        &self,
        src: &Tensor,
        src_mask: Option<&Tensor>,
        src_key_padding_mask: Option<&Tensor>,
        is_causal: bool,
    ) -> Result<Tensor> {
        check_input(self, "src", src, self.d_model())?;
        let sa = |x: &Tensor| -> Result<Tensor> {
            let (y, _) = self.self_attn.forward_qkv(
                x,
                x,
                x,
                src_key_padding_mask,
                false,
                src_mask,
                true,
                is_causal,
            )?;
            self.dropout1.forward(&y)
        };
        let ff = |x: &Tensor| -> Result<Tensor> {
            let y = feed_forward(
                &self.linear1,
                &self.activation,
                &self.dropout,
                &self.linear2,
                x,
            )?;
            self.dropout2.forward(&y)
        };
        let run = || -> Result<Tensor> {
            if self.norm_first {
                let x = (src + &sa(&self.norm1.forward(src)?)?)?;
                &x + &ff(&self.norm2.forward(&x)?)?
            } else {
                let x = self.norm1.forward(&(src + &sa(src)?)?)?;
                self.norm2.forward(&(&x + &ff(&x)?)?)
            }
        };
        run().map_err(|e| e.context(self.name()))
    }

    /// A copy with its own parameter storage and dropout masks drawn from `seed`.
    fn deep_copy(&self, seed: u64) -> Result<Self> {
        Ok(TransformerEncoderLayer {
            self_attn: self.self_attn.deep_copy(derive_seed(seed, 0))?,
            linear1: copy_linear(&self.linear1)?,
            linear2: copy_linear(&self.linear2)?,
            norm1: copy_norm(&self.norm1)?,
            norm2: copy_norm(&self.norm2)?,
            dropout: reseeded(&self.dropout, derive_seed(seed, 3))?,
            dropout1: reseeded(&self.dropout1, derive_seed(seed, 4))?,
            dropout2: reseeded(&self.dropout2, derive_seed(seed, 5))?,
            activation: self.activation,
            norm_first: self.norm_first,
            seed,
        })
    }
}

impl TransformerLayerBuilder<TransformerEncoderLayer> {
    /// The layer; an error naming the sizes when `d_model` is not a positive multiple of
    /// `nhead`, or the dropout probability is not in `[0, 1]`.
    pub fn build(&self, device: &Device) -> Result<TransformerEncoderLayer> {
        self.check("TransformerEncoderLayer")?;
        let seed = self.seed.unwrap_or_else(next_seed);
        let (e, f) = (self.d_model, self.dim_feedforward);
        Ok(TransformerEncoderLayer {
            self_attn: self.attn(derive_seed(seed, 0), device)?,
            linear1: self.linear(e, f, derive_seed(seed, 1), device)?,
            linear2: self.linear(f, e, derive_seed(seed, 2), device)?,
            norm1: self.norm(device)?,
            norm2: self.norm(device)?,
            dropout: self.drop(derive_seed(seed, 3))?,
            dropout1: self.drop(derive_seed(seed, 4))?,
            dropout2: self.drop(derive_seed(seed, 5))?,
            activation: self.activation,
            norm_first: self.norm_first,
            seed,
        })
    }
}

impl Module for TransformerEncoderLayer {
    /// `forward_masked(x, None, None, false)`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_masked(x, None, None, false)
    }

    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        self.self_attn.visit(&prefixed(prefix, "self_attn"), f);
        self.linear1.visit(&prefixed(prefix, "linear1"), f);
        self.linear2.visit(&prefixed(prefix, "linear2"), f);
        self.norm1.visit(&prefixed(prefix, "norm1"), f);
        self.norm2.visit(&prefixed(prefix, "norm2"), f);
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        self.self_attn.visit_mut(&prefixed(prefix, "self_attn"), f);
        self.linear1.visit_mut(&prefixed(prefix, "linear1"), f);
        self.linear2.visit_mut(&prefixed(prefix, "linear2"), f);
        self.norm1.visit_mut(&prefixed(prefix, "norm1"), f);
        self.norm2.visit_mut(&prefixed(prefix, "norm2"), f);
    }

    fn set_training(&mut self, on: bool) {
        self.self_attn.set_training(on);
        self.dropout.set_training(on);
        self.dropout1.set_training(on);
        self.dropout2.set_training(on);
    }

    fn training_mode(&self) -> Option<bool> {
        Some(self.dropout.is_training())
    }

    fn visit_rng_state(&self, prefix: &str, f: &mut dyn FnMut(String, u64)) {
        self.self_attn
            .visit_rng_state(&prefixed(prefix, "self_attn"), f);
        self.dropout
            .visit_rng_state(&prefixed(prefix, "dropout"), f);
        self.dropout1
            .visit_rng_state(&prefixed(prefix, "dropout1"), f);
        self.dropout2
            .visit_rng_state(&prefixed(prefix, "dropout2"), f);
    }

    fn visit_rng_state_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut u64)) {
        self.self_attn
            .visit_rng_state_mut(&prefixed(prefix, "self_attn"), f);
        self.dropout
            .visit_rng_state_mut(&prefixed(prefix, "dropout"), f);
        self.dropout1
            .visit_rng_state_mut(&prefixed(prefix, "dropout1"), f);
        self.dropout2
            .visit_rng_state_mut(&prefixed(prefix, "dropout2"), f);
    }

    /// `TransformerEncoderLayer(d_model 8, nhead 2, dim_feedforward 16)`.
    fn name(&self) -> String {
        format!(
            "TransformerEncoderLayer(d_model {}, nhead {}, dim_feedforward {})",
            self.d_model(),
            self.nhead(),
            self.linear1.out_features()
        )
    }
}

/// A stack of `num_layers` copies of an encoder layer and an optional final layer norm
/// (PyTorch `nn.TransformerEncoder`): parameters `layers.{i}.…` and `norm.…`. The
/// copies start with the layer's parameter values (as `copy.deepcopy` gives PyTorch)
/// and draw their own dropout masks.
///
/// ```
/// use lamina_nn::{LayerNorm, Module, TransformerEncoder, TransformerEncoderLayer};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let layer = TransformerEncoderLayer::builder(8, 2).dim_feedforward(16).seed(0).build(&dev)?;
/// let enc = TransformerEncoder::new(&layer, 2, Some(LayerNorm::new(&[8], &dev)?))?;
/// let names: Vec<String> = enc.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names[0], "layers.0.self_attn.in_proj_weight");
/// assert_eq!(names[names.len() - 1], "norm.bias");
/// let x = Tensor::randn(1, [5, 3, 8], DType::F32, &dev)?; // L 5, N 3, E 8
/// assert_eq!(enc.forward(&x)?.dims(), &[5, 3, 8]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct TransformerEncoder {
    pub layers: Vec<TransformerEncoderLayer>,
    pub norm: Option<LayerNorm>,
}

impl TransformerEncoder {
    /// `num_layers` copies of `layer`, then `norm` if given.
    pub fn new(
        layer: &TransformerEncoderLayer,
        num_layers: usize,
        norm: Option<LayerNorm>,
    ) -> Result<Self> {
        let layers = (0..num_layers)
            .map(|i| layer.deep_copy(derive_seed(layer.seed, 100 + i as u64)))
            .collect::<Result<_>>()?;
        Ok(TransformerEncoder { layers, norm })
    }

    /// PyTorch's `forward(src, mask, src_key_padding_mask, is_causal)`: every layer's
    /// [`forward_masked`](TransformerEncoderLayer::forward_masked) with the same masks,
    /// then the final norm.
    pub fn forward_masked(
        &self,
        src: &Tensor,
        mask: Option<&Tensor>,
        src_key_padding_mask: Option<&Tensor>,
        is_causal: bool,
    ) -> Result<Tensor> {
        let mut x = src.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer
                .forward_masked(&x, mask, src_key_padding_mask, is_causal)
                .map_err(|e| e.context(format!("TransformerEncoder layer {i}")))?;
        }
        match &self.norm {
            Some(n) => n.forward(&x),
            None => Ok(x),
        }
    }
}

/// The [`Module`] methods [`TransformerEncoder`] and [`TransformerDecoder`] share: the
/// layers named `layers.{i}.…`, then the final `norm`; the mode is the layers'.
macro_rules! stack_visits {
    () => {
        fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
            let layers = prefixed(prefix, "layers");
            for (i, l) in self.layers.iter().enumerate() {
                l.visit(&prefixed(&layers, &i.to_string()), f);
            }
            if let Some(n) = &self.norm {
                n.visit(&prefixed(prefix, "norm"), f);
            }
        }

        fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
            let layers = prefixed(prefix, "layers");
            for (i, l) in self.layers.iter_mut().enumerate() {
                l.visit_mut(&prefixed(&layers, &i.to_string()), f);
            }
            if let Some(n) = &mut self.norm {
                n.visit_mut(&prefixed(prefix, "norm"), f);
            }
        }

        fn set_training(&mut self, on: bool) {
            for l in &mut self.layers {
                l.set_training(on);
            }
        }

        fn training_mode(&self) -> Option<bool> {
            self.layers.first().and_then(Module::training_mode)
        }

        fn visit_rng_state(&self, prefix: &str, f: &mut dyn FnMut(String, u64)) {
            let layers = prefixed(prefix, "layers");
            for (i, l) in self.layers.iter().enumerate() {
                l.visit_rng_state(&prefixed(&layers, &i.to_string()), f);
            }
        }

        fn visit_rng_state_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut u64)) {
            let layers = prefixed(prefix, "layers");
            for (i, l) in self.layers.iter_mut().enumerate() {
                l.visit_rng_state_mut(&prefixed(&layers, &i.to_string()), f);
            }
        }
    };
}

impl Module for TransformerEncoder {
    /// `forward_masked(x, None, None, false)`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_masked(x, None, None, false)
    }

    stack_visits!();

    /// `TransformerEncoder(num_layers 2)`.
    fn name(&self) -> String {
        format!("TransformerEncoder(num_layers {})", self.layers.len())
    }
}

/// Self-attention, attention over an encoder's output (`memory`) and a feed-forward
/// block, each with a residual connection and a layer norm (PyTorch
/// `nn.TransformerDecoderLayer`), post-norm by default or pre-norm (`norm_first`).
/// Its input is two tensors, so [`Module::forward`] is an error: call
/// [`forward_memory`](TransformerDecoderLayer::forward_memory).
///
/// ```
/// use lamina_nn::{Module, TransformerDecoderLayer};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let layer = TransformerDecoderLayer::builder(8, 2).dim_feedforward(16).seed(0).build(&dev)?;
/// let names: Vec<String> = layer.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names[4], "multihead_attn.in_proj_weight");
/// assert_eq!(names[names.len() - 1], "norm3.bias");
/// let tgt = Tensor::randn(1, [5, 3, 8], DType::F32, &dev)?; // T 5, N 3, E 8
/// let memory = Tensor::randn(2, [4, 3, 8], DType::F32, &dev)?; // S 4
/// let y = layer.forward_memory(&tgt, &memory, None, None, None, None, false, false)?;
/// assert_eq!(y.dims(), &[5, 3, 8]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct TransformerDecoderLayer {
    pub self_attn: MultiheadAttention,
    pub multihead_attn: MultiheadAttention,
    pub linear1: Linear,
    pub linear2: Linear,
    pub norm1: LayerNorm,
    pub norm2: LayerNorm,
    pub norm3: LayerNorm,
    dropout: Dropout,
    dropout1: Dropout,
    dropout2: Dropout,
    dropout3: Dropout,
    activation: Activation,
    norm_first: bool,
    seed: u64,
}

impl TransformerDecoderLayer {
    /// Options of a layer, starting from PyTorch's defaults (see
    /// [`TransformerLayerBuilder`]).
    pub fn builder(d_model: usize, nhead: usize) -> TransformerLayerBuilder<Self> {
        TransformerLayerBuilder::new(d_model, nhead)
    }

    pub fn d_model(&self) -> usize {
        self.self_attn.embed_dim()
    }

    pub fn nhead(&self) -> usize {
        self.self_attn.num_heads()
    }

    pub fn norm_first(&self) -> bool {
        self.norm_first
    }

    pub fn batch_first(&self) -> bool {
        self.self_attn.batch_first()
    }

    /// PyTorch's `forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
    /// memory_key_padding_mask, tgt_is_causal, memory_is_causal)`: `tgt_mask` `[T, T]`
    /// and `memory_mask` `[T, S]` (or per head, `[N·H, ..]`; bool true = not allowed, or
    /// float, added), the key padding masks `[N, T]` and `[N, S]`, and the causal hints,
    /// each needing its mask.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_memory(
        &self,
        tgt: &Tensor,
        memory: &Tensor,
        tgt_mask: Option<&Tensor>,
        memory_mask: Option<&Tensor>,
        tgt_key_padding_mask: Option<&Tensor>,
        memory_key_padding_mask: Option<&Tensor>,
        tgt_is_causal: bool,
        memory_is_causal: bool,
    ) -> Result<Tensor> {
        check_input(self, "tgt", tgt, self.d_model())?;
        check_input(self, "memory", memory, self.d_model())?;
        let sa = |x: &Tensor| -> Result<Tensor> {
            let (y, _) = self.self_attn.forward_qkv(
                x,
                x,
                x,
                tgt_key_padding_mask,
                false,
                tgt_mask,
                true,
                tgt_is_causal,
            )?;
            self.dropout1.forward(&y)
        };
        let mha = |x: &Tensor| -> Result<Tensor> {
            let (y, _) = self.multihead_attn.forward_qkv(
                x,
                memory,
                memory,
                memory_key_padding_mask,
                false,
                memory_mask,
                true,
                memory_is_causal,
            )?;
            self.dropout2.forward(&y)
        };
        let ff = |x: &Tensor| -> Result<Tensor> {
            let y = feed_forward(
                &self.linear1,
                &self.activation,
                &self.dropout,
                &self.linear2,
                x,
            )?;
            self.dropout3.forward(&y)
        };
        let run = || -> Result<Tensor> {
            if self.norm_first {
                let x = (tgt + &sa(&self.norm1.forward(tgt)?)?)?;
                let x = (&x + &mha(&self.norm2.forward(&x)?)?)?;
                &x + &ff(&self.norm3.forward(&x)?)?
            } else {
                let x = self.norm1.forward(&(tgt + &sa(tgt)?)?)?;
                let x = self.norm2.forward(&(&x + &mha(&x)?)?)?;
                self.norm3.forward(&(&x + &ff(&x)?)?)
            }
        };
        run().map_err(|e| e.context(self.name()))
    }

    /// A copy with its own parameter storage and dropout masks drawn from `seed`.
    fn deep_copy(&self, seed: u64) -> Result<Self> {
        Ok(TransformerDecoderLayer {
            self_attn: self.self_attn.deep_copy(derive_seed(seed, 0))?,
            multihead_attn: self.multihead_attn.deep_copy(derive_seed(seed, 7))?,
            linear1: copy_linear(&self.linear1)?,
            linear2: copy_linear(&self.linear2)?,
            norm1: copy_norm(&self.norm1)?,
            norm2: copy_norm(&self.norm2)?,
            norm3: copy_norm(&self.norm3)?,
            dropout: reseeded(&self.dropout, derive_seed(seed, 3))?,
            dropout1: reseeded(&self.dropout1, derive_seed(seed, 4))?,
            dropout2: reseeded(&self.dropout2, derive_seed(seed, 5))?,
            dropout3: reseeded(&self.dropout3, derive_seed(seed, 6))?,
            activation: self.activation,
            norm_first: self.norm_first,
            seed,
        })
    }
}

impl TransformerLayerBuilder<TransformerDecoderLayer> {
    /// The layer; an error naming the sizes when `d_model` is not a positive multiple of
    /// `nhead`, or the dropout probability is not in `[0, 1]`.
    pub fn build(&self, device: &Device) -> Result<TransformerDecoderLayer> {
        self.check("TransformerDecoderLayer")?;
        let seed = self.seed.unwrap_or_else(next_seed);
        let (e, f) = (self.d_model, self.dim_feedforward);
        Ok(TransformerDecoderLayer {
            self_attn: self.attn(derive_seed(seed, 0), device)?,
            multihead_attn: self.attn(derive_seed(seed, 7), device)?,
            linear1: self.linear(e, f, derive_seed(seed, 1), device)?,
            linear2: self.linear(f, e, derive_seed(seed, 2), device)?,
            norm1: self.norm(device)?,
            norm2: self.norm(device)?,
            norm3: self.norm(device)?,
            dropout: self.drop(derive_seed(seed, 3))?,
            dropout1: self.drop(derive_seed(seed, 4))?,
            dropout2: self.drop(derive_seed(seed, 5))?,
            dropout3: self.drop(derive_seed(seed, 6))?,
            activation: self.activation,
            norm_first: self.norm_first,
            seed,
        })
    }
}

fn needs_memory(m: &dyn Module) -> Error {
    Error::Module {
        module: m.name(),
        msg: "a decoder needs the encoder's output: call forward_memory(tgt, memory, ..)".into(),
    }
}

impl Module for TransformerDecoderLayer {
    /// An error: a decoder layer needs `memory` (see
    /// [`forward_memory`](TransformerDecoderLayer::forward_memory)).
    fn forward(&self, _x: &Tensor) -> Result<Tensor> {
        Err(needs_memory(self))
    }

    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        self.self_attn.visit(&prefixed(prefix, "self_attn"), f);
        self.multihead_attn
            .visit(&prefixed(prefix, "multihead_attn"), f);
        self.linear1.visit(&prefixed(prefix, "linear1"), f);
        self.linear2.visit(&prefixed(prefix, "linear2"), f);
        self.norm1.visit(&prefixed(prefix, "norm1"), f);
        self.norm2.visit(&prefixed(prefix, "norm2"), f);
        self.norm3.visit(&prefixed(prefix, "norm3"), f);
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        self.self_attn.visit_mut(&prefixed(prefix, "self_attn"), f);
        self.multihead_attn
            .visit_mut(&prefixed(prefix, "multihead_attn"), f);
        self.linear1.visit_mut(&prefixed(prefix, "linear1"), f);
        self.linear2.visit_mut(&prefixed(prefix, "linear2"), f);
        self.norm1.visit_mut(&prefixed(prefix, "norm1"), f);
        self.norm2.visit_mut(&prefixed(prefix, "norm2"), f);
        self.norm3.visit_mut(&prefixed(prefix, "norm3"), f);
    }

    fn set_training(&mut self, on: bool) {
        self.self_attn.set_training(on);
        self.multihead_attn.set_training(on);
        for d in [
            &mut self.dropout,
            &mut self.dropout1,
            &mut self.dropout2,
            &mut self.dropout3,
        ] {
            d.set_training(on);
        }
    }

    fn training_mode(&self) -> Option<bool> {
        Some(self.dropout.is_training())
    }

    fn visit_rng_state(&self, prefix: &str, f: &mut dyn FnMut(String, u64)) {
        self.self_attn
            .visit_rng_state(&prefixed(prefix, "self_attn"), f);
        self.multihead_attn
            .visit_rng_state(&prefixed(prefix, "multihead_attn"), f);
        for (name, d) in [
            ("dropout", &self.dropout),
            ("dropout1", &self.dropout1),
            ("dropout2", &self.dropout2),
            ("dropout3", &self.dropout3),
        ] {
            d.visit_rng_state(&prefixed(prefix, name), f);
        }
    }

    fn visit_rng_state_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut u64)) {
        self.self_attn
            .visit_rng_state_mut(&prefixed(prefix, "self_attn"), f);
        self.multihead_attn
            .visit_rng_state_mut(&prefixed(prefix, "multihead_attn"), f);
        for (name, d) in [
            ("dropout", &mut self.dropout),
            ("dropout1", &mut self.dropout1),
            ("dropout2", &mut self.dropout2),
            ("dropout3", &mut self.dropout3),
        ] {
            d.visit_rng_state_mut(&prefixed(prefix, name), f);
        }
    }

    /// `TransformerDecoderLayer(d_model 8, nhead 2, dim_feedforward 16)`.
    fn name(&self) -> String {
        format!(
            "TransformerDecoderLayer(d_model {}, nhead {}, dim_feedforward {})",
            self.d_model(),
            self.nhead(),
            self.linear1.out_features()
        )
    }
}

/// A stack of `num_layers` copies of a decoder layer and an optional final layer norm
/// (PyTorch `nn.TransformerDecoder`): parameters `layers.{i}.…` and `norm.…`; the
/// copies start with the layer's values and draw their own dropout masks. Call
/// [`forward_memory`](TransformerDecoder::forward_memory); [`Module::forward`] is an
/// error.
#[derive(Clone, Debug)]
pub struct TransformerDecoder {
    pub layers: Vec<TransformerDecoderLayer>,
    pub norm: Option<LayerNorm>,
}

impl TransformerDecoder {
    /// `num_layers` copies of `layer`, then `norm` if given.
    pub fn new(
        layer: &TransformerDecoderLayer,
        num_layers: usize,
        norm: Option<LayerNorm>,
    ) -> Result<Self> {
        let layers = (0..num_layers)
            .map(|i| layer.deep_copy(derive_seed(layer.seed, 100 + i as u64)))
            .collect::<Result<_>>()?;
        Ok(TransformerDecoder { layers, norm })
    }

    /// PyTorch's `forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
    /// memory_key_padding_mask, tgt_is_causal, memory_is_causal)`: every layer with the
    /// same memory and masks, then the final norm.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_memory(
        &self,
        tgt: &Tensor,
        memory: &Tensor,
        tgt_mask: Option<&Tensor>,
        memory_mask: Option<&Tensor>,
        tgt_key_padding_mask: Option<&Tensor>,
        memory_key_padding_mask: Option<&Tensor>,
        tgt_is_causal: bool,
        memory_is_causal: bool,
    ) -> Result<Tensor> {
        let mut x = tgt.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer
                .forward_memory(
                    &x,
                    memory,
                    tgt_mask,
                    memory_mask,
                    tgt_key_padding_mask,
                    memory_key_padding_mask,
                    tgt_is_causal,
                    memory_is_causal,
                )
                .map_err(|e| e.context(format!("TransformerDecoder layer {i}")))?;
        }
        match &self.norm {
            Some(n) => n.forward(&x),
            None => Ok(x),
        }
    }
}

impl Module for TransformerDecoder {
    /// An error: a decoder needs `memory` (see
    /// [`forward_memory`](TransformerDecoder::forward_memory)).
    fn forward(&self, _x: &Tensor) -> Result<Tensor> {
        Err(needs_memory(self))
    }

    stack_visits!();

    /// `TransformerDecoder(num_layers 2)`.
    fn name(&self) -> String {
        format!("TransformerDecoder(num_layers {})", self.layers.len())
    }
}

/// The whole encoder-decoder Transformer (PyTorch `nn.Transformer`): a
/// [`TransformerEncoder`] of `num_encoder_layers` layers and a [`TransformerDecoder`] of
/// `num_decoder_layers`, each ending in a layer norm, parameters `encoder.…` and
/// `decoder.…`, every parameter of two or more dims drawn Xavier-uniform (PyTorch's
/// `_reset_parameters`). Its input is two tensors, so [`Module::forward`] is an error:
/// call [`forward_full`](Transformer::forward_full).
///
/// ```
/// use lamina_nn::{Module, Transformer};
/// use lamina_nn::attention::square_subsequent_mask;
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let t = Transformer::builder(8, 2)
///     .num_encoder_layers(2)
///     .num_decoder_layers(1)
///     .dim_feedforward(16)
///     .batch_first(true)
///     .seed(0)
///     .build(&dev)?;
/// let names: Vec<String> = t.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names[0], "encoder.layers.0.self_attn.in_proj_weight");
/// assert_eq!(names[names.len() - 1], "decoder.norm.bias");
/// let src = Tensor::randn(1, [3, 6, 8], DType::F32, &dev)?; // N 3, S 6, E 8
/// let tgt = Tensor::randn(2, [3, 4, 8], DType::F32, &dev)?; // N 3, T 4
/// let mask = square_subsequent_mask(4, DType::F32, &dev)?;
/// let y = t.forward_full(&src, &tgt, None, Some(&mask), None, None, None, None, false, true, false)?;
/// assert_eq!(y.dims(), &[3, 4, 8]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Transformer {
    pub encoder: TransformerEncoder,
    pub decoder: TransformerDecoder,
    d_model: usize,
    batch_first: bool,
}

/// Options of a [`Transformer`]: PyTorch's defaults (6 encoder and 6 decoder layers, and
/// the layer defaults of [`TransformerLayerBuilder`]).
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build`"]
pub struct TransformerBuilder {
    layer: TransformerLayerBuilder<TransformerEncoderLayer>,
    num_encoder_layers: usize,
    num_decoder_layers: usize,
}

impl Transformer {
    /// Options of a Transformer of width `d_model` with `nhead` attention heads.
    pub fn builder(d_model: usize, nhead: usize) -> TransformerBuilder {
        TransformerBuilder {
            layer: TransformerLayerBuilder::new(d_model, nhead),
            num_encoder_layers: 6,
            num_decoder_layers: 6,
        }
    }

    /// PyTorch's `forward(src, tgt, src_mask, tgt_mask, memory_mask,
    /// src_key_padding_mask, tgt_key_padding_mask, memory_key_padding_mask,
    /// src_is_causal, tgt_is_causal, memory_is_causal)`: the encoder over `src` (with the
    /// `src_*` masks), then the decoder over `tgt` attending to the encoder's output. `src`
    /// `[S, N, E]` and `tgt` `[T, N, E]` (`[N, S, E]`, `[N, T, E]` with `batch_first`, or
    /// both unbatched); an error names the shapes when the batch sizes differ or a feature
    /// size is not `d_model`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_full(
        &self,
        src: &Tensor,
        tgt: &Tensor,
        src_mask: Option<&Tensor>,
        tgt_mask: Option<&Tensor>,
        memory_mask: Option<&Tensor>,
        src_key_padding_mask: Option<&Tensor>,
        tgt_key_padding_mask: Option<&Tensor>,
        memory_key_padding_mask: Option<&Tensor>,
        src_is_causal: bool,
        tgt_is_causal: bool,
        memory_is_causal: bool,
    ) -> Result<Tensor> {
        check_input(self, "src", src, self.d_model)?;
        check_input(self, "tgt", tgt, self.d_model)?;
        let batch = |t: &Tensor| match (t.rank(), self.batch_first) {
            (3, true) => Some(t.dims()[0]),
            (3, false) => Some(t.dims()[1]),
            _ => None,
        };
        if src.rank() != tgt.rank() || batch(src) != batch(tgt) {
            return Err(Error::Module {
                module: self.name(),
                msg: format!(
                    "src {} and tgt {} must both be batched with the same batch size, or both \
                     unbatched",
                    src.shape(),
                    tgt.shape()
                ),
            });
        }
        let memory = self
            .encoder
            .forward_masked(src, src_mask, src_key_padding_mask, src_is_causal)
            .map_err(|e| e.context("Transformer encoder"))?;
        self.decoder
            .forward_memory(
                tgt,
                &memory,
                tgt_mask,
                memory_mask,
                tgt_key_padding_mask,
                memory_key_padding_mask,
                tgt_is_causal,
                memory_is_causal,
            )
            .map_err(|e| e.context("Transformer decoder"))
    }
}

impl TransformerBuilder {
    /// Encoder layers (default 6).
    pub fn num_encoder_layers(mut self, n: usize) -> Self {
        self.num_encoder_layers = n;
        self
    }

    /// Decoder layers (default 6).
    pub fn num_decoder_layers(mut self, n: usize) -> Self {
        self.num_decoder_layers = n;
        self
    }

    /// Width of every feed-forward block (default 2048).
    pub fn dim_feedforward(mut self, n: usize) -> Self {
        self.layer = self.layer.dim_feedforward(n);
        self
    }

    /// Dropout probability of every layer (default 0.1).
    pub fn dropout(mut self, p: f64) -> Self {
        self.layer = self.layer.dropout(p);
        self
    }

    /// The feed-forward activation (default ReLU).
    pub fn activation(mut self, a: Activation) -> Self {
        self.layer = self.layer.activation(a);
        self
    }

    /// Every layer norm's epsilon (default 1e-5).
    pub fn layer_norm_eps(mut self, eps: f64) -> Self {
        self.layer = self.layer.layer_norm_eps(eps);
        self
    }

    /// Inputs and outputs `[N, L, E]` instead of `[L, N, E]` (default false).
    pub fn batch_first(mut self, on: bool) -> Self {
        self.layer = self.layer.batch_first(on);
        self
    }

    /// Pre-norm layers (default false: post-norm).
    pub fn norm_first(mut self, on: bool) -> Self {
        self.layer = self.layer.norm_first(on);
        self
    }

    /// Biases in the linear layers and layer norms (default true).
    pub fn bias(mut self, on: bool) -> Self {
        self.layer = self.layer.bias(on);
        self
    }

    /// Parameter dtype (default f32).
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.layer = self.layer.dtype(dtype);
        self
    }

    /// Seeds the Xavier draws and the dropout streams (default: the global stream).
    pub fn seed(mut self, seed: u64) -> Self {
        self.layer = self.layer.seed(seed);
        self
    }

    /// The model; the errors of [`TransformerLayerBuilder`]'s `build` (named
    /// `Transformer`).
    pub fn build(&self, device: &Device) -> Result<Transformer> {
        let l = &self.layer;
        l.check("Transformer")?;
        let seed = l.seed.unwrap_or_else(next_seed);
        let enc_layer = l.clone().seed(derive_seed(seed, 0)).build(device)?;
        let dec_layer = TransformerLayerBuilder::<TransformerDecoderLayer> {
            layer: PhantomData,
            seed: Some(derive_seed(seed, 1)),
            ..l.retarget()
        }
        .build(device)?;
        let mut t = Transformer {
            encoder: TransformerEncoder::new(
                &enc_layer,
                self.num_encoder_layers,
                Some(l.norm(device)?),
            )?,
            decoder: TransformerDecoder::new(
                &dec_layer,
                self.num_decoder_layers,
                Some(l.norm(device)?),
            )?,
            d_model: l.d_model,
            batch_first: l.batch_first,
        };
        let mut result = Ok(());
        let mut k = 0;
        t.visit_mut("", &mut |_, p| {
            if p.rank() > 1 && result.is_ok() {
                result = Init::xavier_uniform().apply(p, derive_seed(seed, 10 + k));
                k += 1;
            }
        });
        result.map(|()| t)
    }
}

impl<L> TransformerLayerBuilder<L> {
    /// The same options for another kind of layer.
    fn retarget<M>(&self) -> TransformerLayerBuilder<M> {
        TransformerLayerBuilder {
            d_model: self.d_model,
            nhead: self.nhead,
            dim_feedforward: self.dim_feedforward,
            dropout: self.dropout,
            activation: self.activation,
            layer_norm_eps: self.layer_norm_eps,
            batch_first: self.batch_first,
            norm_first: self.norm_first,
            bias: self.bias,
            dtype: self.dtype,
            seed: self.seed,
            layer: PhantomData,
        }
    }
}

impl Module for Transformer {
    /// An error: a Transformer needs `src` and `tgt` (see
    /// [`forward_full`](Transformer::forward_full)).
    fn forward(&self, _x: &Tensor) -> Result<Tensor> {
        Err(Error::Module {
            module: self.name(),
            msg: "a Transformer needs src and tgt: call forward_full(src, tgt, ..)".into(),
        })
    }

    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        self.encoder.visit(&prefixed(prefix, "encoder"), f);
        self.decoder.visit(&prefixed(prefix, "decoder"), f);
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        self.encoder.visit_mut(&prefixed(prefix, "encoder"), f);
        self.decoder.visit_mut(&prefixed(prefix, "decoder"), f);
    }

    fn set_training(&mut self, on: bool) {
        self.encoder.set_training(on);
        self.decoder.set_training(on);
    }

    fn training_mode(&self) -> Option<bool> {
        self.encoder
            .training_mode()
            .or_else(|| self.decoder.training_mode())
    }

    fn visit_rng_state(&self, prefix: &str, f: &mut dyn FnMut(String, u64)) {
        self.encoder
            .visit_rng_state(&prefixed(prefix, "encoder"), f);
        self.decoder
            .visit_rng_state(&prefixed(prefix, "decoder"), f);
    }

    fn visit_rng_state_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut u64)) {
        self.encoder
            .visit_rng_state_mut(&prefixed(prefix, "encoder"), f);
        self.decoder
            .visit_rng_state_mut(&prefixed(prefix, "decoder"), f);
    }

    /// `Transformer(d_model 8, encoder layers 2, decoder layers 1)`.
    fn name(&self) -> String {
        format!(
            "Transformer(d_model {}, encoder layers {}, decoder layers {})",
            self.d_model,
            self.encoder.layers.len(),
            self.decoder.layers.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_follows_the_mode_and_each_copy_draws_its_own_masks() {
        let dev = lamina_backend_cpu::device();
        let layer = TransformerEncoderLayer::builder(8, 2)
            .dim_feedforward(16)
            .dropout(0.5)
            .dtype(DType::F64)
            .seed(5)
            .build(&dev)
            .unwrap();
        let mut enc = TransformerEncoder::new(&layer, 2, None).unwrap();
        let state = enc.rng_state();
        for name in [
            "layers.0.self_attn.dropout.step",
            "layers.0.dropout.step",
            "layers.1.dropout2.step",
        ] {
            assert!(state.contains_key(name), "{name} missing from {state:?}");
        }
        assert_eq!(enc.training_mode(), Some(true));
        let x = Tensor::randn(1, [5, 3, 8], DType::F64, &dev).unwrap();
        let a = enc.forward(&x).unwrap().to_f64_vec().unwrap();
        let b = enc.forward(&x).unwrap().to_f64_vec().unwrap();
        assert_ne!(a, b, "training forwards draw new masks");
        // The two copies draw different masks from the same position.
        let h = Tensor::ones([64], DType::F64, &dev).unwrap();
        let (m0, m1) = (
            enc.layers[0]
                .dropout
                .forward(&h)
                .unwrap()
                .to_f64_vec()
                .unwrap(),
            enc.layers[1]
                .dropout
                .forward(&h)
                .unwrap()
                .to_f64_vec()
                .unwrap(),
        );
        assert_ne!(m0, m1);
        enc.eval();
        assert_eq!(enc.training_mode(), Some(false));
        let a = enc.forward(&x).unwrap().to_f64_vec().unwrap();
        let b = enc.forward(&x).unwrap().to_f64_vec().unwrap();
        assert_eq!(a, b);

        let mut dec = TransformerDecoderLayer::builder(8, 2)
            .dim_feedforward(16)
            .seed(5)
            .build(&dev)
            .unwrap();
        dec.eval();
        assert_eq!(dec.training_mode(), Some(false));
        assert!(dec.rng_state().contains_key("multihead_attn.dropout.step"));
    }
}

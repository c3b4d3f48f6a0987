//! `lamina-nn`: Lamina's layers, activations, losses, initialisers and weight files.
//!
//! A layer is a plain struct of [`Tensor`](lamina_tensor::Tensor)s implementing [`Module`] (`forward`, named
//! parameters, train/eval mode); nothing here knows about autodiff. Modules are written
//! against plain tensors, so the same model serves inference (no tape: no cost) and
//! training (run the forward under `lamina_autograd::value_and_grad`, which watches the
//! parameters by id). Losses are composites of tensor ops, so they need no backward
//! rules of their own.
//!
//! - [`module`]: the [`Module`] trait; parameter names follow PyTorch's `state_dict`.
//! - Layers: [`Linear`], [`Sequential`], [`Dropout`], [`Flatten`], and the activations
//!   in [`activation`] (functions, modules, and the [`Activation`] enum).
//! - [`mlp`] / [`Mlp::builder`]: a multi-layer perceptron as a [`Sequential`] in one line.
//! - [`functional`]: every activation and loss as a function named like its `Tensor`
//!   method (`F::relu(&x)` / `x.relu()`; losses as methods through [`Losses`]).
//! - [`attention`]: `scaled_dot_product_attention` (PyTorch's masks, causal flag and
//!   scale), the causal-mask helpers and [`MultiheadAttention`] with PyTorch's parameter
//!   names.
//! - [`conv`]: [`Conv1d`], [`Conv2d`], [`ConvTranspose1d`], [`ConvTranspose2d`] and their
//!   functions (stride, padding sizes or `"same"`/`"valid"`, dilation, groups), on the
//!   tensor primitive `Tensor::conv`, whose kernels the backend supplies.
//! - [`pool`]: max, average and adaptive pooling and max unpooling (PyTorch's sizes,
//!   divisors and indices) as composites, with the layers [`MaxPool1d`], [`MaxPool2d`],
//!   [`AvgPool1d`], [`AvgPool2d`] and [`AdaptiveAvgPool2d`].
//! - [`interpolate`]: resizing by nearest or (bi)linear interpolation with PyTorch's
//!   source positions (`F.interpolate`), and the layer [`Upsample`].
//! - [`fold`]: sliding blocks as a public op, `unfold` (im2col) and its adjoint `fold`
//!   (col2im), with the layers [`Unfold`] and [`Fold`].
//! - [`norm`]: [`BatchNorm1d`], [`BatchNorm2d`] (running statistics as buffers),
//!   [`LayerNorm`], [`GroupNorm`], [`RmsNorm`] and their functions, with instance norm;
//!   [`Embedding`] and [`Dropout2d`].
//! - [`positional`]: [`sinusoidal_encoding`] and [`SinusoidalPositionalEncoding`],
//!   [`LearnedPositionalEmbedding`], rotary embeddings ([`apply_rotary`]).
//! - [`rnn`]: the recurrent layers [`Rnn`], [`Lstm`], [`Gru`] (stacked, bidirectional,
//!   per-sequence lengths) and cells [`RnnCell`], [`LstmCell`], [`GruCell`], with
//!   PyTorch's parameter names and gate order; [`lstm_sequence`], [`gru_sequence`] and
//!   [`rnn_sequence`], a layer's whole recurrence as one recorded op.
//! - [`transformer`]: [`TransformerEncoderLayer`], [`TransformerEncoder`],
//!   [`TransformerDecoderLayer`], [`TransformerDecoder`] and [`Transformer`] with
//!   PyTorch's parameter names, post- and pre-norm, masks and `batch_first`.
//! - [`generate`](mod@generate): next-token [`Sampling`] (greedy, temperature, top-k, top-p),
//!   seeded [`sample_next`] and autoregressive [`generate`](fn@generate) for any model.
//! - [`prune`]: magnitude pruning as `torch.nn.utils.prune` (unstructured per parameter
//!   or global, structured by L1/L2 channel norms, iterative), its masks through
//!   training, a sparsity report, and [`prune::shrink_mlp`] for a genuinely smaller MLP.
//! - [`summary`]: each layer's output shape and parameter count, as Keras' `summary()`.
//! - [`init`]: Xavier/Kaiming/uniform/normal/constant initialisers, seeded.
//! - [`loss`]: MSE, L1, Huber, SmoothL1, BCE, BCE-with-logits, cross-entropy, NLL, KL, distillation.
//! - [`weights`]: safetensors files that PyTorch reads and writes.
//!
//! Every random choice (initialisation, dropout masks) uses Lamina's counter-based
//! generator from a seed: an explicit one (`Linear::builder(4, 16).seed(7)`,
//! `Dropout::builder(0.5).seed(7)`, `Mlp::builder(..).seed(7)`), or else the next seed
//! of the global stream (`lamina_tensor::manual_seed`), which starts from a fixed
//! default, so the same program gives the same model on every run.
//!
//! A two-layer MLP, its loss and its gradients:
//!
//! ```
//! use lamina_autograd::value_and_grad;
//! use lamina_nn::{cross_entropy, Linear, Module, Reduction, Relu, Sequential};
//! use lamina_tensor::Tensor;
//!
//! let dev = lamina_backend_cpu::device();
//! let model = Sequential::new()
//!     .add(Linear::new(4, 16, &dev)?)
//!     .add(Relu)
//!     .add(Linear::new(16, 3, &dev)?);   // or lamina_nn::mlp(&[4, 16, 3], Activation::Relu, &dev)?
//!
//! let x = Tensor::randn(1, [8, 4], lamina_tensor::DType::F32, &dev)?;   // batch of 8
//! let y = Tensor::from_vec(vec![0i64, 1, 2, 0, 1, 2, 0, 1], [8], &dev)?; // class labels
//!
//! let params = model.parameters();
//! let (loss, grads) =
//!     value_and_grad(&params, || cross_entropy(&model.forward(&x)?, &y, Reduction::Mean))?;
//! assert!(loss.to_scalar::<f32>()? > 0.0);
//! for (name, p) in model.named_parameters() {
//!     assert_eq!(grads.get(&p).unwrap().shape(), p.shape(), "{name}");
//! }
//! # Ok::<(), lamina_tensor::Error>(())
//! ```

pub mod activation;
pub mod attention;
pub mod conv;
mod dropout;
mod embedding;
mod error;
mod flatten;
pub mod fold;
pub mod functional;
pub mod generate;
pub mod init;
pub mod interpolate;
mod linear;
pub mod loss;
mod mlp;
pub mod module;
pub mod norm;
pub mod pool;
pub mod positional;
pub mod prune;
mod recurrence;
pub mod rnn;
mod sequential;
mod summary;
pub mod transformer;
pub mod weights;

pub use activation::{
    celu, elu, gelu, hardsigmoid, hardswish, hardtanh, leaky_relu, log_softmax, logsigmoid, mish,
    relu, relu6, selu, sigmoid, silu, softmax, softplus, softsign, tanh, Activation, Celu, Elu,
    Gelu, Hardsigmoid, Hardswish, Hardtanh, LeakyRelu, LogSigmoid, LogSoftmax, Mish, Relu, Relu6,
    Selu, Sigmoid, Silu, Softmax, Softplus, Softsign, Tanh,
};
pub use attention::{MhaBuilder, MultiheadAttention};
pub use conv::{
    Conv, Conv1d, Conv2d, ConvBuilder, ConvTranspose, ConvTranspose1d, ConvTranspose2d,
    ConvTransposeBuilder, Padding, Size,
};
pub use dropout::{dropout, dropout2d, Dropout, Dropout2d, DropoutBuilder};
pub use embedding::{embedding, Embedding, EmbeddingBuilder};
pub use error::{Error, Result};
pub use flatten::Flatten;
pub use fold::{Fold, Unfold};
pub use functional::Losses;
pub use generate::{generate, sample_next, Sampling};
pub use init::{FanMode, Init, Nonlinearity, Seeds};
pub use interpolate::{InterpolateMode, Upsample};
pub use linear::{Linear, LinearBuilder};
pub use loss::{
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, distillation_loss,
    huber_loss, kl_div, l1_loss, mse_loss, nll_loss, smooth_l1_loss, CrossEntropyLoss, KlReduction,
    NllLoss, Reduction,
};
pub use mlp::{mlp, Mlp, MlpBuilder};
pub use module::{prefixed, Module};
pub use norm::{BatchNorm, BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm, RmsNorm};
pub use pool::{AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d};
pub use positional::{
    apply_rotary, sinusoidal_encoding, LearnedPositionalEmbedding, SinusoidalPositionalEncoding,
};
pub use recurrence::{gru_sequence, lstm_sequence, rnn_sequence};
pub use rnn::{
    CellBuilder, Gru, GruCell, LayerBuilder, Lstm, LstmCell, Rnn, RnnCell, RnnNonlinearity,
};
pub use sequential::{BoxedModule, Sequential};
pub use summary::{summary, Summary, SummaryRow};
pub use transformer::{
    Transformer, TransformerBuilder, TransformerDecoder, TransformerDecoderLayer,
    TransformerEncoder, TransformerEncoderLayer, TransformerLayerBuilder,
};

//! int8 quantisation for CPU inference, as PyTorch users know it from
//! `torch.ao.quantization`: post-training **static** quantisation of a trained
//! `Sequential` ([`Calibrator`]: `prepare` + calibration on sample batches + `convert`),
//! **dynamic** quantisation of its linear layers ([`quantize_dynamic`]) and of an LSTM
//! ([`QLstm`]), the parameter
//! rules of PyTorch's observers ([`QParams`], [`quantize_per_channel`], [`Observer`]), and
//! int8 models saved to and loaded from safetensors ([`QuantizedModel`]), and
//! **quantisation-aware training** ([`QatModel`]: `prepare_qat`, training through fake
//! quantisation with straight-through gradients, `convert` to the same int8 model), with
//! its differentiable ops ([`fake_quantize_per_tensor`], [`fake_quantize_per_channel`])
//! and moving-average observer ([`MovingAverageMinMax`]).
//!
//! Weights are `i8`, symmetric per output channel; activations `u8`, affine per tensor.
//! The products run on the CPU backend's int8 GEMM (`lamina_backend_cpu::qgemm`: AVX-512
//! VNNI, AVX2, scalar; exact i32 sums) and are requantised to f32 between layers, with
//! batch norms folded into the convolutions before them and ReLUs fused into the layers
//! before them. CPU only, like PyTorch's fbgemm backend; the facade hosts it because it
//! names that backend's kernel.

mod fake;
mod file;
mod layers;
mod lstm;
mod model;
mod observer;
mod qat;
mod qparams;

pub use fake::{fake_quantize_per_channel, fake_quantize_per_tensor};
pub use layers::{QConv2d, QLinear, QWeight};
pub use lstm::QLstm;
pub use model::{quantize_dynamic, Calibrator, QuantizedModel};
pub use observer::{MovingAverageMinMax, Observed, Observer};
pub use qat::QatModel;
pub use qparams::{per_channel_scales, quantize_per_channel, QParams};

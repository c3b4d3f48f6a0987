//! The functional forms, as `torch.nn.functional`: `scaled_dot_product_attention`, the
//! convolutions, the pooling ops
//! (`max_pool2d`, `avg_pool2d`, `adaptive_avg_pool2d`, ...), `interpolate`, the sliding
//! blocks `unfold` and `fold`, and every activation and loss
//! as a free function of tensors, under the same name as its `Tensor` method (`relu(&x)`
//! and `x.relu()`; `cross_entropy(&logits, &y, ..)` and `logits.cross_entropy(&y, ..)`
//! through [`Losses`]), so code ports from either PyTorch style.
//!
//! ```
//! use lamina_nn::functional as F;
//! use lamina_nn::{Losses, Reduction};
//! use lamina_tensor::Tensor;
//! let dev = lamina_backend_cpu::device();
//! let logits = Tensor::new(&[[2.0f32, 0.5, -1.0], [0.1, 0.2, 3.0]], &dev)?;
//! let y = Tensor::new(&[0i64, 2], &dev)?;
//! let a = F::cross_entropy(&logits, &y, Reduction::Mean)?;
//! let b = logits.cross_entropy(&y, Reduction::Mean)?;
//! assert_eq!(a.to_scalar::<f32>()?, b.to_scalar::<f32>()?);
//! assert_eq!(F::relu(&logits)?.to_vec2::<f32>()?, logits.relu()?.to_vec2::<f32>()?);
//! # Ok::<(), lamina_tensor::Error>(())
//! ```

pub use crate::activation::{
    celu, elu, gelu, hardsigmoid, hardswish, hardtanh, leaky_relu, log_softmax, logsigmoid, mish,
    relu, relu6, selu, sigmoid, silu, softmax, softplus, softsign, tanh,
};
pub use crate::attention::scaled_dot_product_attention;
pub use crate::conv::{conv1d, conv2d, conv_transpose1d, conv_transpose2d};
pub use crate::dropout::{dropout, dropout2d};
pub use crate::embedding::embedding;
pub use crate::fold::{fold, unfold};
pub use crate::interpolate::interpolate;
pub use crate::loss::{
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, huber_loss, kl_div,
    l1_loss, mse_loss, nll_loss, smooth_l1_loss,
};
pub use crate::norm::{batch_norm, group_norm, instance_norm, layer_norm, rms_norm};
pub use crate::pool::{
    adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool1d, avg_pool2d,
    max_pool1d, max_pool1d_with_indices, max_pool2d, max_pool2d_with_indices, max_unpool2d,
};

use lamina_tensor::{Result, Tensor};

use crate::loss::{KlReduction, Reduction};

/// The losses as `Tensor` methods, under their functional names (`input.mse_loss(&target,
/// Reduction::Mean)`); each calls the function of the same name. In the `lamina` prelude.
pub trait Losses {
    fn mse_loss(&self, target: &Tensor, reduction: Reduction) -> Result<Tensor>;
    fn l1_loss(&self, target: &Tensor, reduction: Reduction) -> Result<Tensor>;
    fn huber_loss(&self, target: &Tensor, delta: f64, reduction: Reduction) -> Result<Tensor>;
    fn smooth_l1_loss(&self, target: &Tensor, beta: f64, reduction: Reduction) -> Result<Tensor>;
    fn binary_cross_entropy(
        &self,
        target: &Tensor,
        weight: Option<&Tensor>,
        reduction: Reduction,
    ) -> Result<Tensor>;
    fn binary_cross_entropy_with_logits(
        &self,
        target: &Tensor,
        weight: Option<&Tensor>,
        pos_weight: Option<&Tensor>,
        reduction: Reduction,
    ) -> Result<Tensor>;
    fn cross_entropy(&self, target: &Tensor, reduction: Reduction) -> Result<Tensor>;
    fn nll_loss(&self, target: &Tensor, reduction: Reduction) -> Result<Tensor>;
    fn kl_div(
        &self,
        target: &Tensor,
        reduction: impl Into<KlReduction>,
        log_target: bool,
    ) -> Result<Tensor>;
}

impl Losses for Tensor {
    fn mse_loss(&self, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
        mse_loss(self, target, reduction)
    }
    fn l1_loss(&self, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
        l1_loss(self, target, reduction)
    }
    fn huber_loss(&self, target: &Tensor, delta: f64, reduction: Reduction) -> Result<Tensor> {
        huber_loss(self, target, delta, reduction)
    }
    fn smooth_l1_loss(&self, target: &Tensor, beta: f64, reduction: Reduction) -> Result<Tensor> {
        smooth_l1_loss(self, target, beta, reduction)
    }
    fn binary_cross_entropy(
        &self,
        target: &Tensor,
        weight: Option<&Tensor>,
        reduction: Reduction,
    ) -> Result<Tensor> {
        binary_cross_entropy(self, target, weight, reduction)
    }
    fn binary_cross_entropy_with_logits(
        &self,
        target: &Tensor,
        weight: Option<&Tensor>,
        pos_weight: Option<&Tensor>,
        reduction: Reduction,
    ) -> Result<Tensor> {
        binary_cross_entropy_with_logits(self, target, weight, pos_weight, reduction)
    }
    fn cross_entropy(&self, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
        cross_entropy(self, target, reduction)
    }
    fn nll_loss(&self, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
        nll_loss(self, target, reduction)
    }
    fn kl_div(
        &self,
        target: &Tensor,
        reduction: impl Into<KlReduction>,
        log_target: bool,
    ) -> Result<Tensor> {
        kl_div(self, target, reduction, log_target)
    }
}

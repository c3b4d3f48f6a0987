//! RMSprop with the centered and momentum variants: PyTorch's `torch.optim.RMSprop`,
//! formula for formula.

use lamina_autograd::no_grad;
use lamina_tensor::{Result, Tensor};
use serde::{Deserialize, Serialize};

use crate::ops::{add_, add_s_, addcdiv_, addcmul_, addcmul_term, lerp_, scale_};
use crate::optimizer::{check_all, check_kind, check_non_negative, Optimizer};
use crate::regularization::penalised_grad;
use crate::state::{OptimizerState, Slots};

/// RMSprop's hyper-parameters; the defaults are PyTorch's (`lr = 1e-2`, `alpha = 0.99`,
/// `eps = 1e-8`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RMSpropConfig {
    /// Learning rate `η`.
    pub lr: f64,
    /// Smoothing constant `α` of the squared-gradient average.
    pub alpha: f64,
    /// `ε`, added to the root of the average.
    pub eps: f64,
    /// L2 penalty `λ` added to the gradient: `g ← g + λ p`.
    pub weight_decay: f64,
    /// Momentum factor `μ` (0 disables the buffer).
    pub momentum: f64,
    /// Normalise by the estimated variance `v − ḡ²` instead of `v`.
    pub centered: bool,
    /// L1 penalty added to the gradient: `g ← g + l1 sign(p)` (not in PyTorch).
    pub l1: f64,
}

impl Default for RMSpropConfig {
    fn default() -> Self {
        RMSpropConfig {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            l1: 0.0,
        }
    }
}

/// RMSprop (PyTorch `RMSprop`). Per step, with `g` the regularised gradient
/// (`g + l1 sign(p) + λ p`):
///
/// ```text
/// v = α v + (1 − α) g²
/// ḡ = α ḡ + (1 − α) g;   d = sqrt(v − ḡ²) + ε      (centered)
///                        d = sqrt(v) + ε           (otherwise)
/// b = μ b + g / d;       p = p − η b               (momentum > 0)
///                        p = p − η g / d           (otherwise)
/// ```
///
/// State per parameter: `square_avg` (v), `momentum_buffer` (b, when `momentum > 0`),
/// `grad_avg` (ḡ, when centered).
pub struct RMSprop {
    config: RMSpropConfig,
    slots: Slots,
}

const NAME: &str = "RMSprop";

impl RMSprop {
    /// Checks the config as PyTorch does.
    pub fn new(config: RMSpropConfig) -> Result<RMSprop> {
        const OP: &str = "RMSprop::new";
        check_non_negative(OP, "lr", config.lr)?;
        check_non_negative(OP, "eps", config.eps)?;
        check_non_negative(OP, "alpha", config.alpha)?;
        check_non_negative(OP, "momentum", config.momentum)?;
        check_non_negative(OP, "weight_decay", config.weight_decay)?;
        check_non_negative(OP, "l1", config.l1)?;
        Ok(RMSprop {
            config,
            slots: Slots::default(),
        })
    }

    /// The hyper-parameters, with the current learning rate.
    pub fn config(&self) -> &RMSpropConfig {
        &self.config
    }

    /// Buffer names, in slot order.
    fn names(&self) -> &'static [&'static str] {
        match (self.config.momentum > 0.0, self.config.centered) {
            (false, false) => &["square_avg"],
            (true, false) => &["square_avg", "momentum_buffer"],
            (false, true) => &["square_avg", "grad_avg"],
            (true, true) => &["square_avg", "momentum_buffer", "grad_avg"],
        }
    }
}

impl Optimizer for RMSprop {
    fn name(&self) -> &'static str {
        NAME
    }

    fn step_grads(&mut self, params: &mut [&mut Tensor], grads: &[Option<&Tensor>]) -> Result<()> {
        no_grad(|| {
            const OP: &str = "RMSprop::step";
            let names = self.names();
            check_all(OP, params, grads, &self.slots, names)?;
            let c = &self.config;
            for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
                let Some(g) = g else { continue };
                let p: &mut Tensor = p;
                let g = penalised_grad(p, g, c.l1, c.weight_decay)?;
                let slot = self.slots.get(OP, i, p, names, || {
                    names.iter().map(|_| p.zeros_like()).collect()
                })?;
                slot.step += 1;
                let momentum = c.momentum > 0.0;
                let (square_avg, momentum_buffer, grad_avg) = match slot.buffers.as_mut_slice() {
                    [v] => (v, None, None),
                    [v, b] if momentum => (v, Some(b), None),
                    [v, a] => (v, None, Some(a)),
                    [v, b, a] => (v, Some(b), Some(a)),
                    _ => return Err(crate::state::layout_error(OP, i)),
                };
                // v = α v + (1 − α) g²
                scale_(square_avg, c.alpha)?;
                addcmul_(square_avg, &g, &g, 1.0 - c.alpha)?;
                let mut avg = if let Some(grad_avg) = grad_avg {
                    // ḡ = α ḡ + (1 − α) g
                    lerp_(grad_avg, &g, 1.0 - c.alpha)?;
                    square_avg
                        .add(&addcmul_term(grad_avg, grad_avg, -1.0)?)?
                        .sqrt()?
                } else {
                    square_avg.sqrt()?
                };
                add_s_(&mut avg, c.eps)?;
                match momentum_buffer {
                    Some(buf) => {
                        // b = μ b + g / d
                        scale_(buf, c.momentum)?;
                        addcdiv_(buf, &g, &avg, 1.0)?;
                        // p = p − η b
                        add_(p, buf, -c.lr)?;
                    }
                    // p = p − η g / d
                    None => addcdiv_(p, &g, &avg, -c.lr)?,
                }
            }
            Ok(())
        })
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    fn state(&self) -> Result<OptimizerState> {
        Ok(OptimizerState {
            optimizer: NAME.into(),
            learning_rate: self.config.lr,
            params: self.slots.export(self.names())?,
        })
    }

    fn load_state(&mut self, state: OptimizerState) -> Result<()> {
        const OP: &str = "RMSprop::load_state";
        check_kind(OP, NAME, &state)?;
        self.slots.load(OP, state.params, self.names())?;
        self.config.lr = state.learning_rate;
        Ok(())
    }
}

//! Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight
//! decay: PyTorch's `torch.optim.SGD`, formula for formula.

use lamina_autograd::no_grad;
use lamina_tensor::{Error, Result, SgdStep, Tensor};
use serde::{Deserialize, Serialize};

use crate::ops::{add_, mul_s, scale_};
use crate::optimizer::{check_all, check_kind, check_non_negative, Optimizer};
use crate::regularization::penalised_grad;
use crate::state::{OptimizerState, Slots};

/// SGD's hyper-parameters; the defaults are PyTorch's (`lr = 1e-3`, everything else 0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SgdConfig {
    /// Learning rate `η`.
    pub lr: f64,
    /// Momentum factor `μ` (0 disables the momentum buffer).
    pub momentum: f64,
    /// Dampening `τ` of the gradient added to the buffer.
    pub dampening: f64,
    /// L2 penalty `λ` added to the gradient: `g ← g + λ p`.
    pub weight_decay: f64,
    /// Nesterov momentum (needs `momentum > 0` and `dampening = 0`).
    pub nesterov: bool,
    /// L1 penalty added to the gradient: `g ← g + l1 sign(p)` (not in PyTorch).
    pub l1: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            l1: 0.0,
        }
    }
}

/// Stochastic gradient descent (PyTorch `SGD`). Per step, with `g` the regularised
/// gradient (`g + l1 sign(p) + λ p`):
///
/// ```text
/// b = g                          at the first step, else  b = μ b + (1 − τ) g
/// g = g + μ b  (Nesterov)        or  g = b   (momentum ≠ 0)
/// p = p − η g
/// ```
///
/// State per parameter: `momentum_buffer` (only when `momentum ≠ 0`).
pub struct Sgd {
    config: SgdConfig,
    slots: Slots,
}

const NAME: &str = "SGD";
const MOMENTUM: &[&str] = &["momentum_buffer"];

impl Sgd {
    /// Checks the config as PyTorch does.
    pub fn new(config: SgdConfig) -> Result<Sgd> {
        const OP: &str = "SGD::new";
        check_non_negative(OP, "lr", config.lr)?;
        check_non_negative(OP, "momentum", config.momentum)?;
        check_non_negative(OP, "weight_decay", config.weight_decay)?;
        check_non_negative(OP, "l1", config.l1)?;
        if !config.dampening.is_finite() {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("dampening must be finite, got {}", config.dampening),
            });
        }
        if config.nesterov && (config.momentum <= 0.0 || config.dampening != 0.0) {
            return Err(Error::Invalid {
                op: OP,
                msg: "Nesterov momentum requires a momentum and zero dampening".into(),
            });
        }
        Ok(Sgd {
            config,
            slots: Slots::default(),
        })
    }

    /// The hyper-parameters, with the current learning rate.
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }

    fn names(&self) -> &'static [&'static str] {
        if self.config.momentum != 0.0 {
            MOMENTUM
        } else {
            &[]
        }
    }
}

impl Optimizer for Sgd {
    fn name(&self) -> &'static str {
        NAME
    }

    fn step_grads(&mut self, params: &mut [&mut Tensor], grads: &[Option<&Tensor>]) -> Result<()> {
        no_grad(|| {
            const OP: &str = "SGD::step";
            let names = self.names();
            check_all(OP, params, grads, &self.slots, names)?;
            let c = &self.config;
            for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
                let Some(g) = g else { continue };
                // Fused path: one pass over parameter, gradient and buffer once the buffer
                // exists (the first step initialises it from the gradient, below).
                if c.momentum != 0.0 && c.l1 == 0.0 {
                    if let Some(slot) = self.slots.existing_mut(i) {
                        if let [buf] = slot.buffers.as_mut_slice() {
                            let fused = SgdStep {
                                lr: c.lr,
                                momentum: c.momentum,
                                dampening: c.dampening,
                                weight_decay: c.weight_decay,
                                nesterov: c.nesterov,
                            };
                            if p.sgd_update_(g, buf, &fused)? {
                                slot.step += 1;
                                continue;
                            }
                        }
                    }
                }
                let mut g = penalised_grad(p, g, c.l1, c.weight_decay)?;
                // The buffer starts as a copy of the first gradient (PyTorch's
                // `torch.clone(grad)`), hence the init from `g`.
                let mut created = false;
                let slot = self.slots.get(OP, i, p, names, || {
                    created = true;
                    Ok(if names.is_empty() {
                        vec![]
                    } else {
                        vec![g.copy()?]
                    })
                })?;
                slot.step += 1;
                if let [buf] = slot.buffers.as_mut_slice() {
                    if !created {
                        scale_(buf, c.momentum)?;
                        add_(buf, &g, 1.0 - c.dampening)?;
                    }
                    g = if c.nesterov {
                        g.add(&mul_s(buf, c.momentum)?)?
                    } else {
                        buf.clone()
                    };
                }
                add_(p, &g, -c.lr)?;
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
        const OP: &str = "SGD::load_state";
        check_kind(OP, NAME, &state)?;
        self.slots.load(OP, state.params, self.names())?;
        self.config.lr = state.learning_rate;
        Ok(())
    }
}

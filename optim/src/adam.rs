//! Adam and AdamW (decoupled weight decay), with the AMSGrad variant: PyTorch's
//! `torch.optim.Adam` / `AdamW`, formula for formula. Both share one update; they differ
//! in what `weight_decay` does and in its default.

use lamina_autograd::no_grad;
use lamina_tensor::{AdamStep, BinaryOp, Result, Tensor};
use serde::{Deserialize, Serialize};

use crate::ops::{add_s_, addcdiv_, addcmul_, div_s_, lerp_, scale_};
use crate::optimizer::{check_all, check_kind, check_non_negative, check_unit, Optimizer};
use crate::regularization::penalised_grad;
use crate::state::{OptimizerState, Slots};

/// Adam's hyper-parameters; the defaults are PyTorch's (`lr = 1e-3`,
/// `betas = (0.9, 0.999)`, `eps = 1e-8`). Keras's default `eps = 1e-7` is just a field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamConfig {
    /// Learning rate `η`.
    pub lr: f64,
    /// Decay rates `(β1, β2)` of the first and second moment estimates.
    pub betas: (f64, f64),
    /// `ε`, added to `sqrt(v̂)` (after the square root, as PyTorch).
    pub eps: f64,
    /// L2 penalty `λ` added to the gradient: `g ← g + λ p`.
    pub weight_decay: f64,
    /// Use the running maximum of `v` (AMSGrad).
    pub amsgrad: bool,
    /// L1 penalty added to the gradient: `g ← g + l1 sign(p)` (not in PyTorch).
    pub l1: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            l1: 0.0,
        }
    }
}

/// AdamW's hyper-parameters: Adam's, with decoupled weight decay defaulting to `1e-2`
/// (PyTorch's default).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamWConfig {
    /// Learning rate `η`.
    pub lr: f64,
    /// Decay rates `(β1, β2)` of the first and second moment estimates.
    pub betas: (f64, f64),
    /// `ε`, added to `sqrt(v̂)`.
    pub eps: f64,
    /// Decoupled weight decay `λ`: `p ← p (1 − η λ)` before the Adam update.
    pub weight_decay: f64,
    /// Use the running maximum of `v` (AMSGrad).
    pub amsgrad: bool,
    /// L1 penalty added to the gradient: `g ← g + l1 sign(p)` (not in PyTorch).
    pub l1: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 1e-2,
            amsgrad: false,
            l1: 0.0,
        }
    }
}

const PLAIN: &[&str] = &["exp_avg", "exp_avg_sq"];
const AMSGRAD: &[&str] = &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

/// The update both optimizers run.
struct Rule {
    name: &'static str,
    step_op: &'static str,
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    decoupled: bool,
    amsgrad: bool,
    l1: f64,
}

impl Rule {
    fn names(&self) -> &'static [&'static str] {
        if self.amsgrad {
            AMSGRAD
        } else {
            PLAIN
        }
    }

    fn check(&self, op: &'static str) -> Result<()> {
        check_non_negative(op, "lr", self.lr)?;
        check_non_negative(op, "eps", self.eps)?;
        check_unit(op, "betas.0", self.betas.0)?;
        check_unit(op, "betas.1", self.betas.1)?;
        check_non_negative(op, "weight_decay", self.weight_decay)?;
        check_non_negative(op, "l1", self.l1)
    }

    fn step(
        &self,
        slots: &mut Slots,
        params: &mut [&mut Tensor],
        grads: &[Option<&Tensor>],
    ) -> Result<()> {
        let op = self.step_op;
        let names = self.names();
        check_all(op, params, grads, slots, names)?;
        let (b1, b2) = self.betas;
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let Some(g) = g else { continue };
            let p: &mut Tensor = p;
            // L1 and coupled weight decay act on the gradient; decoupled decay (AdamW)
            // shrinks the parameter before the update.
            let coupled = if self.decoupled {
                0.0
            } else {
                self.weight_decay
            };
            let g = penalised_grad(p, g, self.l1, coupled)?;
            let slot = slots.get(op, i, p, names, || {
                names.iter().map(|_| p.zeros_like()).collect()
            })?;
            if self.decoupled && self.weight_decay != 0.0 {
                // p = p (1 − η λ)
                scale_(p, 1.0 - self.lr * self.weight_decay)?;
            }
            slot.step += 1;
            let [m, v, rest @ ..] = slot.buffers.as_mut_slice() else {
                return Err(crate::state::layout_error(op, i));
            };
            if rest.is_empty() {
                // The backend's fused kernel, when it has one: the same arithmetic in one
                // pass (bit-identical to the composite below).
                let t = slot.step as f64;
                let fused = AdamStep {
                    beta1: b1,
                    beta2: b2,
                    eps: self.eps,
                    step_size: self.lr / (1.0 - b1.powf(t)),
                    bc2_sqrt: (1.0 - b2.powf(t)).powf(0.5),
                };
                if p.adam_update_(&g, m, v, &fused)? {
                    continue;
                }
            }
            // m = β1 m + (1 − β1) g
            lerp_(m, &g, 1.0 - b1)?;
            // v = β2 v + (1 − β2) g²
            scale_(v, b2)?;
            addcmul_(v, &g, &g, 1.0 - b2)?;
            // Python's `beta ** step` and `bc2 ** 0.5` are libm `pow`: so is `powf`.
            let t = slot.step as f64;
            let bias_correction1 = 1.0 - b1.powf(t);
            let bias_correction2 = 1.0 - b2.powf(t);
            let step_size = self.lr / bias_correction1;
            let bias_correction2_sqrt = bias_correction2.powf(0.5);
            let v_used = match rest {
                [v_max] => {
                    // v_max = max(v_max, v)
                    v_max.binary_assign(v, BinaryOp::Maximum)?;
                    &*v_max
                }
                _ => &*v,
            };
            // denom = sqrt(v) / sqrt(1 − β2^t) + ε;   p = p − η / (1 − β1^t) · m / denom
            let mut denom = v_used.sqrt()?;
            div_s_(&mut denom, bias_correction2_sqrt)?;
            add_s_(&mut denom, self.eps)?;
            addcdiv_(p, m, &denom, -step_size)?;
        }
        Ok(())
    }

    fn state(&self, slots: &Slots) -> Result<OptimizerState> {
        Ok(OptimizerState {
            optimizer: self.name.into(),
            learning_rate: self.lr,
            params: slots.export(self.names())?,
        })
    }

    fn load(&self, op: &'static str, slots: &mut Slots, state: OptimizerState) -> Result<f64> {
        check_kind(op, self.name, &state)?;
        slots.load(op, state.params, self.names())?;
        Ok(state.learning_rate)
    }
}

/// Adam (PyTorch `Adam`). Per step `t`, with `g` the regularised gradient
/// (`g + l1 sign(p) + λ p`):
///
/// ```text
/// m = β1 m + (1 − β1) g
/// v = β2 v + (1 − β2) g²                (AMSGrad: v_max = max(v_max, v), used below)
/// p = p − η / (1 − β1^t) · m / (sqrt(v) / sqrt(1 − β2^t) + ε)
/// ```
///
/// State per parameter: `exp_avg` (m), `exp_avg_sq` (v), and `max_exp_avg_sq` with AMSGrad.
pub struct Adam {
    config: AdamConfig,
    slots: Slots,
}

impl Adam {
    /// Checks the config as PyTorch does.
    pub fn new(config: AdamConfig) -> Result<Adam> {
        let adam = Adam {
            config,
            slots: Slots::default(),
        };
        adam.rule().check("Adam::new")?;
        Ok(adam)
    }

    /// The hyper-parameters, with the current learning rate.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    fn rule(&self) -> Rule {
        let c = &self.config;
        Rule {
            name: "Adam",
            step_op: "Adam::step",
            lr: c.lr,
            betas: c.betas,
            eps: c.eps,
            weight_decay: c.weight_decay,
            decoupled: false,
            amsgrad: c.amsgrad,
            l1: c.l1,
        }
    }
}

/// The `Optimizer` impl shared by `Adam` and `AdamW`: both are a `rule()` over `slots`
/// with their config's learning rate.
macro_rules! adam_optimizer {
    ($ty:ident, $name:literal) => {
        impl Optimizer for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn step_grads(
                &mut self,
                params: &mut [&mut Tensor],
                grads: &[Option<&Tensor>],
            ) -> Result<()> {
                no_grad(|| self.rule().step(&mut self.slots, params, grads))
            }

            fn learning_rate(&self) -> f64 {
                self.config.lr
            }

            fn set_learning_rate(&mut self, lr: f64) {
                self.config.lr = lr;
            }

            fn state(&self) -> Result<OptimizerState> {
                self.rule().state(&self.slots)
            }

            fn load_state(&mut self, state: OptimizerState) -> Result<()> {
                self.config.lr =
                    self.rule()
                        .load(concat!($name, "::load_state"), &mut self.slots, state)?;
                Ok(())
            }
        }
    };
}

adam_optimizer!(Adam, "Adam");

/// AdamW (PyTorch `AdamW`): Adam with decoupled weight decay. Per step `t`, with `g` the
/// gradient (`g + l1 sign(p)` when L1 is on):
///
/// ```text
/// p = p (1 − η λ)
/// m = β1 m + (1 − β1) g
/// v = β2 v + (1 − β2) g²                (AMSGrad: v_max = max(v_max, v), used below)
/// p = p − η / (1 − β1^t) · m / (sqrt(v) / sqrt(1 − β2^t) + ε)
/// ```
///
/// State per parameter: as [`Adam`].
pub struct AdamW {
    config: AdamWConfig,
    slots: Slots,
}

impl AdamW {
    /// Checks the config as PyTorch does.
    pub fn new(config: AdamWConfig) -> Result<AdamW> {
        let adamw = AdamW {
            config,
            slots: Slots::default(),
        };
        adamw.rule().check("AdamW::new")?;
        Ok(adamw)
    }

    /// The hyper-parameters, with the current learning rate.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }

    fn rule(&self) -> Rule {
        let c = &self.config;
        Rule {
            name: "AdamW",
            step_op: "AdamW::step",
            lr: c.lr,
            betas: c.betas,
            eps: c.eps,
            weight_decay: c.weight_decay,
            decoupled: true,
            amsgrad: c.amsgrad,
            l1: c.l1,
        }
    }
}

adam_optimizer!(AdamW, "AdamW");

//! Adagrad with learning-rate decay and an initial accumulator value: PyTorch's
//! `torch.optim.Adagrad`, formula for formula.

use lamina_autograd::no_grad;
use lamina_tensor::{Result, Tensor};
use serde::{Deserialize, Serialize};

use crate::ops::{add_s_, addcdiv_, addcmul_};
use crate::optimizer::{check_all, check_kind, check_non_negative, Optimizer};
use crate::regularization::penalised_grad;
use crate::state::{OptimizerState, Slots};

/// Adagrad's hyper-parameters; the defaults are PyTorch's (`lr = 1e-2`, `eps = 1e-10`,
/// the rest 0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdagradConfig {
    /// Learning rate `η`.
    pub lr: f64,
    /// Learning-rate decay `d`: step `t` uses `η / (1 + (t − 1) d)`.
    pub lr_decay: f64,
    /// L2 penalty `λ` added to the gradient: `g ← g + λ p`.
    pub weight_decay: f64,
    /// Starting value of the squared-gradient sum.
    pub initial_accumulator_value: f64,
    /// `ε`, added to the root of the sum.
    pub eps: f64,
    /// L1 penalty added to the gradient: `g ← g + l1 sign(p)` (not in PyTorch).
    pub l1: f64,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            l1: 0.0,
        }
    }
}

/// Adagrad (PyTorch `Adagrad`). Per step `t`, with `g` the regularised gradient
/// (`g + l1 sign(p) + λ p`):
///
/// ```text
/// s = s + g²                           (s starts at initial_accumulator_value)
/// p = p − η / (1 + (t − 1) d) · g / (sqrt(s) + ε)
/// ```
///
/// State per parameter: `sum` (s).
pub struct Adagrad {
    config: AdagradConfig,
    slots: Slots,
}

const NAME: &str = "Adagrad";
const NAMES: &[&str] = &["sum"];

impl Adagrad {
    /// Checks the config as PyTorch does.
    pub fn new(config: AdagradConfig) -> Result<Adagrad> {
        const OP: &str = "Adagrad::new";
        check_non_negative(OP, "lr", config.lr)?;
        check_non_negative(OP, "lr_decay", config.lr_decay)?;
        check_non_negative(OP, "weight_decay", config.weight_decay)?;
        check_non_negative(
            OP,
            "initial_accumulator_value",
            config.initial_accumulator_value,
        )?;
        check_non_negative(OP, "eps", config.eps)?;
        check_non_negative(OP, "l1", config.l1)?;
        Ok(Adagrad {
            config,
            slots: Slots::default(),
        })
    }

    /// The hyper-parameters, with the current learning rate.
    pub fn config(&self) -> &AdagradConfig {
        &self.config
    }
}

impl Optimizer for Adagrad {
    fn name(&self) -> &'static str {
        NAME
    }

    fn step_grads(&mut self, params: &mut [&mut Tensor], grads: &[Option<&Tensor>]) -> Result<()> {
        no_grad(|| {
            const OP: &str = "Adagrad::step";
            check_all(OP, params, grads, &self.slots, NAMES)?;
            let c = &self.config;
            for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
                let Some(g) = g else { continue };
                let p: &mut Tensor = p;
                let g = penalised_grad(p, g, c.l1, c.weight_decay)?;
                let slot = self.slots.get(OP, i, p, NAMES, || {
                    Ok(vec![p.full_like(c.initial_accumulator_value)?])
                })?;
                slot.step += 1;
                let clr = c.lr / (1.0 + (slot.step as f64 - 1.0) * c.lr_decay);
                let sum = &mut slot.buffers[0];
                // s = s + g²
                addcmul_(sum, &g, &g, 1.0)?;
                let mut std = sum.sqrt()?;
                add_s_(&mut std, c.eps)?;
                // p = p − clr g / (sqrt(s) + ε)
                addcdiv_(p, &g, &std, -clr)?;
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
            params: self.slots.export(NAMES)?,
        })
    }

    fn load_state(&mut self, state: OptimizerState) -> Result<()> {
        const OP: &str = "Adagrad::load_state";
        check_kind(OP, NAME, &state)?;
        self.slots.load(OP, state.params, NAMES)?;
        self.config.lr = state.learning_rate;
        Ok(())
    }
}

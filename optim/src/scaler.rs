//! Dynamic loss scaling (PyTorch's `torch.amp.GradScaler`): the loss is multiplied by a
//! large scale before backward so that small gradients survive reduced-precision
//! arithmetic; the gradients are unscaled before the step (and before clipping); a step
//! whose gradients hold an inf or NaN is skipped and the scale backs off, and after
//! `growth_interval` clean steps in a row it grows. The scale is kept in f32 and updated
//! exactly as PyTorch's `_amp_update_scale_` does, so the trajectory over any sequence of
//! finite and non-finite steps is PyTorch's (checked on a committed fixture).

use lamina_autograd::Grads;
use lamina_tensor::{BinaryOp, Error, Result, Tensor};
use serde::{Deserialize, Serialize};

use crate::Optimizer;

/// [`GradScaler`]'s settings, with PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GradScalerConfig {
    /// The first scale (PyTorch: 2^16).
    pub init_scale: f64,
    /// The scale is multiplied by this after `growth_interval` clean steps (2).
    pub growth_factor: f64,
    /// ... and by this after a step with non-finite gradients (0.5).
    pub backoff_factor: f64,
    /// Clean steps in a row before the scale grows (2000).
    pub growth_interval: u64,
}

impl Default for GradScalerConfig {
    fn default() -> Self {
        GradScalerConfig {
            init_scale: 65536.0,
            growth_factor: 2.0,
            backoff_factor: 0.5,
            growth_interval: 2000,
        }
    }
}

/// Dynamic loss scaling around any optimizer.
///
/// ```
/// use lamina_autograd::Tape;
/// use lamina_optim::{GradScaler, GradScalerConfig, Optimizer, Sgd, SgdConfig};
/// use lamina_tensor::Tensor;
///
/// let dev = lamina_backend_cpu::device();
/// let mut w = Tensor::from_vec(vec![1.0f32, -2.0], [2], &dev)?;
/// let mut opt = Sgd::new(SgdConfig { lr: 0.1, ..Default::default() })?;
/// let mut scaler = GradScaler::new(GradScalerConfig::default())?;
/// let tape = Tape::new();
/// tape.watch(&w);
/// let loss = w.square()?.sum_all()?;
/// let mut grads = tape.backward(&scaler.scale_loss(&loss)?)?; // gradients × 65536
/// let stepped = scaler.step(&mut opt, &mut [&mut w], &mut grads)?; // unscaled, then SGD
/// scaler.update();
/// assert!(stepped);
/// assert_eq!(w.to_vec::<f32>()?, [0.8, -1.6]); // w - 0.1 · 2w
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct GradScaler {
    cfg: GradScalerConfig,
    /// f32, as PyTorch's scale tensor.
    scale: f32,
    growth_tracker: u64,
    /// This step's verdict once the gradients were unscaled: `Some(found_inf)`.
    unscaled: Option<bool>,
}

impl GradScaler {
    /// Errors unless `init_scale > 0`, `growth_factor > 1`, `0 < backoff_factor < 1` and
    /// `growth_interval > 0` (all finite), as PyTorch asserts.
    pub fn new(cfg: GradScalerConfig) -> Result<GradScaler> {
        let ok = cfg.init_scale > 0.0
            && cfg.init_scale.is_finite()
            && cfg.growth_factor > 1.0
            && cfg.growth_factor.is_finite()
            && cfg.backoff_factor > 0.0
            && cfg.backoff_factor < 1.0
            && cfg.growth_interval > 0;
        if !ok {
            return Err(Error::Invalid {
                op: "GradScaler",
                msg: format!(
                    "needs init_scale > 0, growth_factor > 1, 0 < backoff_factor < 1 and \
                     growth_interval > 0; got {cfg:?}"
                ),
            });
        }
        Ok(GradScaler {
            cfg,
            scale: cfg.init_scale as f32,
            growth_tracker: 0,
            unscaled: None,
        })
    }

    /// The current scale.
    pub fn scale(&self) -> f64 {
        self.scale as f64
    }

    /// Clean steps since the scale last changed (PyTorch's growth tracker).
    pub fn growth_tracker(&self) -> u64 {
        self.growth_tracker
    }

    /// `loss · scale`: backward this instead of the loss.
    pub fn scale_loss(&self, loss: &Tensor) -> Result<Tensor> {
        loss.binary(&loss.scalar_like(self.scale as f64)?, BinaryOp::Mul)
    }

    /// Divides the gradients of `params` in `grads` by the scale (multiplying by the f32
    /// reciprocal, as PyTorch) and returns whether any of them holds an inf or NaN. Call
    /// it before clipping; [`step`](Self::step) calls it if you did not. A second call in
    /// the same step is an error (the gradients would be divided twice).
    pub fn unscale(&mut self, params: &[&Tensor], grads: &mut Grads) -> Result<bool> {
        if self.unscaled.is_some() {
            return Err(Error::Invalid {
                op: "GradScaler::unscale",
                msg: "already called since the last update()".into(),
            });
        }
        let inv = (1.0 / self.scale as f64) as f32 as f64;
        let mut found_inf = false;
        for p in params {
            let Some(g) = grads.remove(p) else { continue };
            let g = g.binary(&g.scalar_like(inv)?, BinaryOp::Mul)?;
            // An inf or NaN anywhere makes the largest magnitude non-finite.
            let worst = g.abs()?.max_all()?.to_dtype(lamina_tensor::DType::F64)?;
            found_inf |= !worst.to_scalar::<f64>()?.is_finite();
            grads.insert(p, g);
        }
        self.unscaled = Some(found_inf);
        Ok(found_inf)
    }

    /// Unscales the gradients (unless [`unscale`](Self::unscale) did already) and steps
    /// `opt` unless they hold an inf or NaN; returns whether it stepped. Call
    /// [`update`](Self::update) after it.
    pub fn step(
        &mut self,
        opt: &mut dyn Optimizer,
        params: &mut [&mut Tensor],
        grads: &mut Grads,
    ) -> Result<bool> {
        let found_inf = match self.unscaled {
            Some(f) => f,
            None => {
                let view: Vec<&Tensor> = params.iter().map(|p| &**p).collect();
                self.unscale(&view, grads)?
            }
        };
        if found_inf {
            return Ok(false);
        }
        opt.step(params, grads)?;
        Ok(true)
    }

    /// Ends the step: after non-finite gradients the scale is multiplied by
    /// `backoff_factor` and the count of clean steps restarts; otherwise the count grows,
    /// and on reaching `growth_interval` the scale is multiplied by `growth_factor` (kept
    /// only if finite in f32) and the count restarts. A step that was never unscaled
    /// counts as clean (PyTorch's update requires an unscale; here it is not an error).
    pub fn update(&mut self) {
        let found_inf = self.unscaled.take().unwrap_or(false);
        if found_inf {
            self.scale *= self.cfg.backoff_factor as f32;
            self.growth_tracker = 0;
            return;
        }
        let successful = self.growth_tracker + 1;
        if successful == self.cfg.growth_interval {
            let grown = self.scale * self.cfg.growth_factor as f32;
            if grown.is_finite() {
                self.scale = grown;
            }
            self.growth_tracker = 0;
        } else {
            self.growth_tracker = successful;
        }
    }
}

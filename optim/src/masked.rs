//! [`Masked`]: an optimizer wrapper that keeps pruned weights at zero. It is how a model
//! pruned by `lamina_nn::prune::Pruner` trains on (fine-tuning) through any loop that
//! takes a `&mut dyn Optimizer`, `lamina_train::Trainer` included, without the loop
//! knowing about pruning.

use std::collections::HashMap;

use lamina_autograd::no_grad;
use lamina_tensor::{Result, Tensor, TensorId};

use crate::state::OptimizerState;
use crate::Optimizer;

/// Wraps an optimizer so that each step updates only the entries a mask keeps: for a
/// parameter `p` with mask `m` (keyed by `p`'s id, of `p`'s shape and dtype, 0 or 1),
///
/// ```text
/// g ← m ⊙ g;   inner.step(p, g);   p ← m ⊙ p
/// ```
///
/// Masking the gradient gives the kept entries PyTorch's `weight_orig` gradient and
/// keeps new momentum or Adam moments from building up at pruned entries; masking the
/// weight after the step cancels what state from before the pruning would still move.
/// Parameters without a mask step as the inner optimizer steps them. The state,
/// learning rate and name are the inner optimizer's, so checkpoints and schedules see
/// no difference.
///
/// ```
/// use lamina_autograd::value_and_grad;
/// use lamina_optim::{Masked, Optimizer, Sgd, SgdConfig};
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let mut w = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3], &dev)?;
/// let mask = Tensor::from_vec(vec![1.0f32, 0.0, 1.0], [3], &dev)?;
/// w.assign(&(&w * &mask)?)?;
/// let mut sgd = Sgd::new(SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() })?;
/// let mut opt = Masked::new(&mut sgd, [(w.id(), mask)]);
/// for _ in 0..3 {
///     let (_, g) = value_and_grad(&[&w], || w.square()?.sum_all())?;
///     opt.step(&mut [&mut w], &g)?;
/// }
/// assert_eq!(w.to_vec::<f32>()?[1], 0.0);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub struct Masked<'o> {
    inner: &'o mut dyn Optimizer,
    masks: HashMap<TensorId, Tensor>,
}

impl<'o> Masked<'o> {
    /// `inner` with the masks `(parameter id, mask)`.
    pub fn new(
        inner: &'o mut dyn Optimizer,
        masks: impl IntoIterator<Item = (TensorId, Tensor)>,
    ) -> Masked<'o> {
        Masked {
            inner,
            masks: masks.into_iter().collect(),
        }
    }
}

impl Optimizer for Masked<'_> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn step_grads(&mut self, params: &mut [&mut Tensor], grads: &[Option<&Tensor>]) -> Result<()> {
        let masked: Vec<Option<Tensor>> = no_grad(|| {
            params
                .iter()
                .zip(grads)
                .map(|(p, g)| match (self.masks.get(&p.id()), g) {
                    (Some(m), Some(g)) => (*g * m).map(Some),
                    _ => Ok(None),
                })
                .collect::<Result<_>>()
        })?;
        let found: Vec<Option<&Tensor>> = masked
            .iter()
            .zip(grads)
            .map(|(m, g)| m.as_ref().or(*g))
            .collect();
        self.inner.step_grads(params, &found)?;
        no_grad(|| {
            for p in params.iter_mut() {
                if let Some(m) = self.masks.get(&p.id()) {
                    let kept = (&**p * m)?;
                    p.assign(&kept)?;
                }
            }
            Ok(())
        })
    }

    fn learning_rate(&self) -> f64 {
        self.inner.learning_rate()
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.inner.set_learning_rate(lr)
    }

    fn state(&self) -> Result<OptimizerState> {
        self.inner.state()
    }

    fn load_state(&mut self, state: OptimizerState) -> Result<()> {
        self.inner.load_state(state)
    }
}

//! Magnitude pruning, as PyTorch's `torch.nn.utils.prune`: unstructured (single entries,
//! per parameter or globally over several) and structured (whole output channels or
//! neurons), with masks that keep the pruned weights at zero through training, iterative
//! pruning that combines masks as PyTorch's `PruningContainer` does, `remove`, and a
//! sparsity report. [`shrink_mlp`] turns structured-pruned `Linear` layers into a
//! genuinely smaller model.
//!
//! # How the masks relate to PyTorch's reparametrisation
//!
//! PyTorch replaces a pruned `weight` by a parameter `weight_orig` and a buffer
//! `weight_mask`, and a forward pre-hook recomputes `weight = weight_orig * weight_mask`
//! before every forward. The optimizer trains `weight_orig`, whose gradient is
//! `mask * dL/dweight`; entries outside the mask keep their old values in `weight_orig` but
//! never reach the forward.
//!
//! Lamina has no forward hooks, and a parameter is never replaced (autograd keys gradients
//! by its id), so a [`Pruner`] keeps the masks beside the model, keyed by parameter name,
//! and keeps the invariant `weight == weight * mask` instead:
//!
//! 1. at prune time it multiplies the weight by its mask in place;
//! 2. before the optimizer step the gradient is multiplied by the mask
//!    ([`Pruner::mask_grads`], or `lamina_optim::Masked`, which does it inside `step`), so
//!    the unpruned entries see exactly PyTorch's `weight_orig` gradient and no new momentum
//!    or Adam moment accumulates at a pruned entry;
//! 3. after the step the mask is applied again ([`Pruner::apply`], or `Masked`), which
//!    cancels what older optimizer state (momentum or Adam moments from before the pruning)
//!    would still move.
//!
//! The unpruned entries therefore follow PyTorch's trajectory step for step; the pruned
//! ones read 0 where PyTorch's `weight_orig` keeps stale values that no forward sees. The
//! state dict holds `weight` (with its zeros), not `weight_orig`/`weight_mask`: the file
//! is what PyTorch writes after `prune.remove`. [`Pruner::remove`] drops a mask (the zeros
//! stay: PyTorch's `remove` bakes `weight_orig * weight_mask` into `weight`).
//!
//! # Ranking and ties
//!
//! The number pruned is PyTorch's: a count as given, or `round(amount * n)` with Python's
//! rounding (half to even) for a fraction, where `n` counts the entries (or channels)
//! still unpruned. The entries are ranked by `|w|` (channels by their L1 or L2 norm), the
//! smallest pruned first; among equal magnitudes the lower flat index (for
//! [`Pruner::global_unstructured`]: the earlier parameter in the list, then the lower
//! index) is pruned first. PyTorch's `topk` leaves the order of ties unspecified.

mod shrink;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use lamina_autograd::{no_grad, Grads};
use lamina_tensor::{DType, Error, Result, Tensor, TensorId};

use crate::Module;

pub use shrink::shrink_mlp;

/// How much to prune: a fraction of the still-unpruned entries (or channels), rounded as
/// Python rounds (`round(amount * n)`, half to even), or a count of them. PyTorch passes
/// a `float` or an `int`; `0.3.into()` and `12usize.into()` say the same here.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Amount {
    /// In `[0, 1]`.
    Fraction(f64),
    /// At most the number of still-unpruned entries.
    Count(usize),
}

impl From<f64> for Amount {
    fn from(f: f64) -> Amount {
        Amount::Fraction(f)
    }
}

impl From<usize> for Amount {
    fn from(n: usize) -> Amount {
        Amount::Count(n)
    }
}

impl Amount {
    /// How many of `n` candidates to prune; errors name `op` when the amount is out of
    /// range.
    ///
    /// ```
    /// use lamina_nn::prune::Amount;
    /// assert_eq!(Amount::Fraction(0.5).of(5, "demo")?, 2); // round(2.5) = 2, half to even
    /// assert_eq!(Amount::Fraction(0.7).of(5, "demo")?, 4); // round(3.5) = 4
    /// assert_eq!(Amount::Count(3).of(5, "demo")?, 3);
    /// # Ok::<(), lamina_tensor::Error>(())
    /// ```
    pub fn of(self, n: usize, op: &'static str) -> Result<usize> {
        match self {
            Amount::Fraction(f) if (0.0..=1.0).contains(&f) => {
                Ok((f * n as f64).round_ties_even() as usize)
            }
            Amount::Fraction(f) => Err(Error::Invalid {
                op,
                msg: format!("amount {f} is not a fraction in [0, 1]"),
            }),
            Amount::Count(k) if k <= n => Ok(k),
            Amount::Count(k) => Err(Error::Invalid {
                op,
                msg: format!("amount {k} is more than the {n} unpruned entries"),
            }),
        }
    }
}

/// The norm that ranks channels in [`Pruner::ln_structured`] (PyTorch's `n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    /// `sum |w|` over the channel.
    L1,
    /// `sqrt(sum w^2)` over the channel.
    L2,
}

/// Pruning masks keyed by parameter name, and the operations that make and keep them.
///
/// A mask has its parameter's shape and dtype and holds 1 (kept) or 0 (pruned). Every
/// pruning call multiplies the parameter by its (new) mask; during training, mask the
/// gradients before each optimizer step and re-apply the masks after it (see the module
/// documentation), or wrap the optimizer in `lamina_optim::Masked` with
/// [`masks_by_id`](Pruner::masks_by_id), which does both inside `step`.
///
/// ```
/// use lamina_nn::{prune::{sparsity, Pruner}, Linear, Module};
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let w = Tensor::from_vec(vec![0.1f32, -0.5, 0.2, 0.9, -0.05, 0.3], [2, 3], &dev)?;
/// let mut fc = Linear::from_weights(w, None)?;
/// let mut pruner = Pruner::new();
/// pruner.l1_unstructured(&mut fc, "weight", 0.5)?; // round(0.5 * 6) = 3 smallest |w|
/// assert_eq!(fc.weight.to_vec::<f32>()?, [0.0, -0.5, 0.0, 0.9, 0.0, 0.3]);
/// // Again: half of the 3 still unpruned, round(1.5) = 2.
/// pruner.l1_unstructured(&mut fc, "weight", 0.5)?;
/// assert_eq!(fc.weight.to_vec::<f32>()?, [0.0, 0.0, 0.0, 0.9, 0.0, 0.0]);
/// assert_eq!(sparsity(&fc, &[])?.fraction(), 5.0 / 6.0);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Pruner {
    masks: BTreeMap<String, Tensor>,
}

/// A parameter's values and its current mask, read to the host for ranking.
struct Entry {
    name: String,
    dims: Vec<usize>,
    values: Vec<f64>,
    mask: Vec<f64>,
}

impl Pruner {
    /// No masks.
    pub fn new() -> Pruner {
        Pruner::default()
    }

    /// PyTorch `prune.l1_unstructured(module, name, amount)`: zeroes the `amount`
    /// still-unpruned entries of parameter `name` with the smallest `|w|`.
    pub fn l1_unstructured<M: Module + ?Sized>(
        &mut self,
        model: &mut M,
        name: &str,
        amount: impl Into<Amount>,
    ) -> Result<()> {
        self.global_unstructured(model, &[name], amount)
    }

    /// PyTorch `prune.global_unstructured(params, L1Unstructured, amount)`: ranks the
    /// still-unpruned entries of all the named parameters together by `|w|` and zeroes the
    /// `amount` smallest, so layers lose different fractions.
    pub fn global_unstructured<M: Module + ?Sized>(
        &mut self,
        model: &mut M,
        names: &[&str],
        amount: impl Into<Amount>,
    ) -> Result<()> {
        const OP: &str = "global_unstructured";
        let mut entries = self.read(model, names, OP)?;
        // (|w|, parameter, flat index) of every entry still unpruned.
        let mut alive: Vec<(f64, usize, usize)> = Vec::new();
        for (pi, e) in entries.iter().enumerate() {
            for (i, (&v, &m)) in e.values.iter().zip(&e.mask).enumerate() {
                if m != 0.0 {
                    alive.push(((v * m).abs(), pi, i));
                }
            }
        }
        let k = amount.into().of(alive.len(), OP)?;
        alive.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        for &(_, pi, i) in &alive[..k] {
            entries[pi].mask[i] = 0.0;
        }
        self.store(model, entries)
    }

    /// PyTorch `prune.ln_structured(module, name, amount, n, dim=0)`: zeroes whole
    /// output channels (rows of a `Linear` weight `[out, in]`, output channels of a
    /// `Conv2d` weight `[out, in/groups, kh, kw]`): the `amount` still-unpruned channels
    /// with the smallest `norm`. A channel counts as unpruned while any of its entries
    /// is; the other entries' masks are kept.
    pub fn ln_structured<M: Module + ?Sized>(
        &mut self,
        model: &mut M,
        name: &str,
        amount: impl Into<Amount>,
        norm: Norm,
    ) -> Result<()> {
        const OP: &str = "ln_structured";
        let mut entries = self.read(model, &[name], OP)?;
        let e = &mut entries[0];
        let rows = match e.dims.first() {
            Some(&r) if r > 0 => r,
            _ => {
                return Err(Error::Invalid {
                    op: OP,
                    msg: format!(
                        "parameter `{}` of shape {:?} has no output channels to prune",
                        e.name, e.dims
                    ),
                })
            }
        };
        let per_row = e.values.len() / rows;
        let mut alive: Vec<(f64, usize)> = Vec::new();
        for r in 0..rows {
            let span = r * per_row..(r + 1) * per_row;
            if e.mask[span.clone()].iter().all(|&m| m == 0.0) {
                continue;
            }
            let masked = e.values[span.clone()]
                .iter()
                .zip(&e.mask[span])
                .map(|(v, m)| v * m);
            let n = match norm {
                Norm::L1 => masked.map(f64::abs).sum(),
                Norm::L2 => masked.map(|v| v * v).sum::<f64>().sqrt(),
            };
            alive.push((n, r));
        }
        let k = amount.into().of(alive.len(), OP)?;
        alive.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for &(_, r) in &alive[..k] {
            e.mask[r * per_row..(r + 1) * per_row].fill(0.0);
        }
        self.store(model, entries)
    }

    /// Multiplies every pruned parameter by its mask in place: after an optimizer step,
    /// this puts the pruned entries back to zero.
    pub fn apply<M: Module + ?Sized>(&self, model: &mut M) -> Result<()> {
        let mut result = Ok(());
        no_grad(|| {
            model.visit_mut("", &mut |name, p| {
                if let (Some(m), Ok(())) = (self.masks.get(&name), &result) {
                    result = (&*p * m).and_then(|masked| p.assign(&masked));
                }
            })
        });
        result
    }

    /// Multiplies each pruned parameter's gradient in `grads` by its mask: the gradient
    /// PyTorch gives `weight_orig`. Call between `backward` and the optimizer step.
    pub fn mask_grads<M: Module + ?Sized>(&self, model: &M, grads: &mut Grads) -> Result<()> {
        for (name, p) in model.named_parameters() {
            if let (Some(m), Some(g)) = (self.masks.get(&name), grads.get(&p)) {
                let masked = no_grad(|| g * m)?;
                grads.insert(&p, masked);
            }
        }
        Ok(())
    }

    /// The masks keyed by their parameters' ids, for `lamina_optim::Masked` (ids are
    /// stable: parameters are updated in place, never replaced). Errors if a mask's
    /// parameter is no longer in `model`.
    pub fn masks_by_id<M: Module + ?Sized>(&self, model: &M) -> Result<Vec<(TensorId, Tensor)>> {
        let params: BTreeMap<String, Tensor> = model.named_parameters().into_iter().collect();
        self.masks
            .iter()
            .map(|(name, m)| match params.get(name) {
                Some(p) => Ok((p.id(), m.clone())),
                None => Err(missing("masks_by_id", name, &params)),
            })
            .collect()
    }

    /// The mask of parameter `name`, if it is pruned.
    pub fn mask(&self, name: &str) -> Option<&Tensor> {
        self.masks.get(name)
    }

    /// The names of the pruned parameters, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.masks.keys().map(String::as_str)
    }

    /// PyTorch `prune.remove(module, name)`: applies the mask of parameter `name` one last
    /// time and drops it, so the zeros stay but training may move them again. Errors if
    /// `name` is not pruned.
    pub fn remove<M: Module + ?Sized>(&mut self, model: &mut M, name: &str) -> Result<()> {
        let Some(mask) = self.masks.remove(name) else {
            return Err(Error::Invalid {
                op: "remove",
                msg: format!("parameter `{name}` has no pruning mask"),
            });
        };
        let single = Pruner {
            masks: BTreeMap::from([(name.to_string(), mask)]),
        };
        single.apply(model)
    }

    /// [`remove`](Pruner::remove) for every pruned parameter.
    pub fn remove_all<M: Module + ?Sized>(&mut self, model: &mut M) -> Result<()> {
        self.apply(model)?;
        self.masks.clear();
        Ok(())
    }

    /// The named float parameters with their current masks (all ones for a parameter not
    /// pruned yet), read to the host.
    fn read<M: Module + ?Sized>(
        &self,
        model: &M,
        names: &[&str],
        op: &'static str,
    ) -> Result<Vec<Entry>> {
        let params: BTreeMap<String, Tensor> = model.named_parameters().into_iter().collect();
        let mut out = Vec::with_capacity(names.len());
        for (i, &name) in names.iter().enumerate() {
            if names[..i].contains(&name) {
                return Err(Error::Invalid {
                    op,
                    msg: format!("parameter `{name}` is named twice"),
                });
            }
            let p = params.get(name).ok_or_else(|| missing(op, name, &params))?;
            if !p.dtype().is_float() {
                return Err(Error::UnsupportedDType {
                    op,
                    dtype: p.dtype(),
                });
            }
            let mask = match self.masks.get(name) {
                Some(m) => m.to_f64_vec()?,
                None => vec![1.0; p.elem_count()],
            };
            out.push(Entry {
                name: name.to_string(),
                dims: p.dims().to_vec(),
                values: p.to_f64_vec()?,
                mask,
            });
        }
        Ok(out)
    }

    /// Makes tensors of the entries' masks, stores them and applies them.
    fn store<M: Module + ?Sized>(&mut self, model: &mut M, entries: Vec<Entry>) -> Result<()> {
        let params: BTreeMap<String, Tensor> = model.named_parameters().into_iter().collect();
        let mut made = Pruner::new();
        for e in entries {
            let p = params
                .get(&e.name)
                .ok_or_else(|| missing("prune", &e.name, &params))?;
            let mask = Tensor::from_vec(e.mask, e.dims, p.device())?.to_dtype(p.dtype())?;
            made.masks.insert(e.name, mask);
        }
        made.apply(model)?;
        self.masks.append(&mut made.masks);
        Ok(())
    }
}

/// The error for a parameter name the model does not have.
fn missing(op: &'static str, name: &str, params: &BTreeMap<String, Tensor>) -> Error {
    let known: Vec<&str> = params.keys().map(String::as_str).collect();
    Error::Invalid {
        op,
        msg: format!("the model has no parameter `{name}` (it has {known:?})"),
    }
}

/// The zeros of one parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSparsity {
    pub name: String,
    /// Entries equal to 0.
    pub zeros: usize,
    /// All entries.
    pub total: usize,
}

impl ParamSparsity {
    /// `zeros / total` (0 for an empty parameter).
    pub fn fraction(&self) -> f64 {
        self.zeros as f64 / self.total.max(1) as f64
    }
}

/// A sparsity report: zeros per parameter and over all of them.
#[derive(Clone, Debug, PartialEq)]
pub struct Sparsity {
    pub params: Vec<ParamSparsity>,
}

impl Sparsity {
    /// Zeros over all the reported parameters.
    pub fn zeros(&self) -> usize {
        self.params.iter().map(|p| p.zeros).sum()
    }

    /// Entries of all the reported parameters.
    pub fn total(&self) -> usize {
        self.params.iter().map(|p| p.total).sum()
    }

    /// Global sparsity: `zeros() / total()`.
    pub fn fraction(&self) -> f64 {
        self.zeros() as f64 / self.total().max(1) as f64
    }
}

/// The zeros of the named parameters of `model` (all of them when `names` is empty), in
/// the order given (the model's order for all).
///
/// ```
/// use lamina_nn::{prune::sparsity, Linear};
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let w = Tensor::from_vec(vec![0.0f32, 1.0, 0.0, 2.0], [2, 2], &dev)?;
/// let b = Tensor::from_vec(vec![0.0f32, 3.0], [2], &dev)?;
/// let s = sparsity(&Linear::from_weights(w, Some(b))?, &[])?;
/// assert_eq!((s.params[0].zeros, s.params[1].zeros, s.zeros(), s.total()), (2, 1, 3, 6));
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn sparsity<M: Module + ?Sized>(model: &M, names: &[&str]) -> Result<Sparsity> {
    let params = model.named_parameters();
    let chosen: Vec<(String, Tensor)> = if names.is_empty() {
        params
    } else {
        let by_name: BTreeMap<String, Tensor> = params.into_iter().collect();
        names
            .iter()
            .map(|&n| match by_name.get(n) {
                Some(p) => Ok((n.to_string(), p.clone())),
                None => Err(missing("sparsity", n, &by_name)),
            })
            .collect::<Result<_>>()?
    };
    let params = chosen
        .into_iter()
        .map(|(name, p)| {
            let zeros = p.eq_scalar(0.0)?.to_dtype(DType::F64)?.sum_all()?;
            Ok(ParamSparsity {
                name,
                zeros: zeros.to_scalar::<f64>()? as usize,
                total: p.elem_count(),
            })
        })
        .collect::<Result<_>>()?;
    Ok(Sparsity { params })
}

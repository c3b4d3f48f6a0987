//! Gradient clipping by global norm and by value, as PyTorch's `clip_grad_norm_` and
//! `clip_grad_value_`: on the gradients of some parameters in [`Grads`], or on a list of
//! gradient tensors in place. Nothing here is recorded on a tape.

use lamina_autograd::{no_grad, Grads};
use lamina_tensor::{BinaryOp, Error, Result, Tensor};

/// Errors unless `norm_type` is a usable `p` (finite and > 0, or `+inf`).
fn check_norm_type(op: &'static str, norm_type: f64) -> Result<()> {
    if norm_type.is_nan() || norm_type <= 0.0 {
        return Err(Error::Invalid {
            op,
            msg: format!("norm_type must be > 0 or infinity, got {norm_type}"),
        });
    }
    Ok(())
}

/// Moves the gradients of `params` out of `grads` (so the in-place clipping owns the
/// storage it writes), with the parameters they belong to.
fn take<'a>(params: &[&'a Tensor], grads: &mut Grads) -> (Vec<&'a Tensor>, Vec<Tensor>) {
    params
        .iter()
        .filter_map(|p| grads.remove(p).map(|g| (*p, g)))
        .unzip()
}

fn put_back(params: &[&Tensor], list: Vec<Tensor>, grads: &mut Grads) {
    for (p, g) in params.iter().zip(list) {
        grads.insert(p, g);
    }
}

/// `‖g‖_p` of one tensor: `(Σ |g|^p)^(1/p)`, `max |g|` for `p = ∞`.
fn tensor_norm(g: &Tensor, p: f64) -> Result<f64> {
    if g.elem_count() == 0 {
        return Ok(0.0);
    }
    let n = if p == f64::INFINITY {
        g.abs()?.amax([0isize; 0], false)?
    } else if p == 2.0 {
        g.square()?.sum_all()?.sqrt()?
    } else if p == 1.0 {
        g.abs()?.sum_all()?
    } else {
        g.abs()?.powf(p)?.sum_all()?.powf(1.0 / p)?
    };
    Ok(n.to_f64_vec()?[0])
}

/// The `p`-norm of all gradients together, as if concatenated into one vector
/// (PyTorch `get_total_norm`): `‖(‖g_1‖_p, …, ‖g_n‖_p)‖_p`. 0 for an empty list.
pub fn total_norm(grads: &[&Tensor], norm_type: f64) -> Result<f64> {
    check_norm_type("total_norm", norm_type)?;
    let norms = no_grad(|| {
        grads
            .iter()
            .map(|g| tensor_norm(g, norm_type))
            .collect::<Result<Vec<f64>>>()
    })?;
    Ok(if norm_type == f64::INFINITY {
        norms
            .iter()
            .fold(0.0, |a: f64, &b| if b.is_nan() { b } else { a.max(b) })
    } else if norm_type == 2.0 {
        norms.iter().map(|n| n * n).sum::<f64>().sqrt()
    } else if norm_type == 1.0 {
        norms.iter().sum()
    } else {
        norms
            .iter()
            .map(|n| n.powf(norm_type))
            .sum::<f64>()
            .powf(1.0 / norm_type)
    })
}

/// The factor PyTorch scales every gradient by: `min(max_norm / (total + 1e-6), 1)`.
fn clip_coef(max_norm: f64, total: f64) -> f64 {
    let coef = max_norm / (total + 1e-6);
    // torch.clamp(max=1.0) propagates NaN.
    if coef.is_nan() {
        coef
    } else {
        coef.min(1.0)
    }
}

/// Scales the gradients in place so their total `norm_type`-norm is at most `max_norm`;
/// returns the total norm before clipping (PyTorch `clip_grad_norm_`):
/// `g ← g · min(max_norm / (‖g‖ + 1e-6), 1)`. Each tensor keeps its id.
///
/// ```
/// # use lamina_tensor::Tensor;
/// # let dev = lamina_backend_cpu::device();
/// let mut grads = vec![Tensor::from_vec(vec![3.0f64, 4.0], [2], &dev)?];
/// let norm = lamina_optim::clip_grad_norm_tensors(&mut grads, 1.0, 2.0)?;
/// assert_eq!(norm, 5.0);
/// let g = grads[0].to_vec::<f64>()?;
/// assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn clip_grad_norm_tensors(grads: &mut [Tensor], max_norm: f64, norm_type: f64) -> Result<f64> {
    let total = total_norm(&grads.iter().collect::<Vec<_>>(), norm_type)?;
    let coef = clip_coef(max_norm, total);
    // Multiplying by exactly 1 changes nothing: skip the pass.
    if coef != 1.0 {
        no_grad(|| {
            grads
                .iter_mut()
                .try_for_each(|g| g.binary_assign(&g.scalar_like(coef)?, BinaryOp::Mul))
        })?;
    }
    Ok(total)
}

/// [`clip_grad_norm_tensors`] on the gradients of `params` held in `grads` (parameters
/// without a gradient are left out, as PyTorch leaves out `p.grad is None`); returns the
/// total norm before clipping.
pub fn clip_grad_norm(
    params: &[&Tensor],
    grads: &mut Grads,
    max_norm: f64,
    norm_type: f64,
) -> Result<f64> {
    let (found, mut list) = take(params, grads);
    let result = clip_grad_norm_tensors(&mut list, max_norm, norm_type);
    put_back(&found, list, grads);
    result
}

/// Clamps every gradient element to `[-clip_value, clip_value]` in place (PyTorch
/// `clip_grad_value_`): `g ← min(max(g, −c), c)`.
pub fn clip_grad_value_tensors(grads: &mut [Tensor], clip_value: f64) -> Result<()> {
    if clip_value.is_nan() || clip_value < 0.0 {
        return Err(Error::Invalid {
            op: "clip_grad_value",
            msg: format!("clip_value must be >= 0, got {clip_value}"),
        });
    }
    // Two in-place passes against rank-0 bounds: on the CPU backend `UnaryOp::Clamp`
    // allocates, which was much slower. NaN stays NaN either way, as in PyTorch.
    no_grad(|| {
        grads.iter_mut().try_for_each(|g| {
            let (lo, hi) = (g.scalar_like(-clip_value)?, g.scalar_like(clip_value)?);
            g.binary_assign(&lo, BinaryOp::Maximum)?;
            g.binary_assign(&hi, BinaryOp::Minimum)
        })
    })
}

/// [`clip_grad_value_tensors`] on the gradients of `params` held in `grads`.
pub fn clip_grad_value(params: &[&Tensor], grads: &mut Grads, clip_value: f64) -> Result<()> {
    let (found, mut list) = take(params, grads);
    let result = clip_grad_value_tensors(&mut list, clip_value);
    put_back(&found, list, grads);
    result
}

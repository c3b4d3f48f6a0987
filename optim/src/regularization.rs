//! L1 and L2 regularisation. Inside an optimizer both act on the gradient before the
//! update: `g ← g + l1 sign(p) + weight_decay p` (the L2 term is PyTorch's `weight_decay`;
//! AdamW decouples it instead). [`l1_penalty`] and [`l2_penalty`] are the same penalties as
//! loss terms, for models that prefer to put them in the loss.

use lamina_tensor::{Error, Result, Tensor};

use crate::ops::{mul_s, scale_};

/// The regularised gradient `(g + l1 sign(p)) + l2 p`; `g` itself when both are 0.
/// L1 comes first, as if it were part of the loss's gradient, then PyTorch's weight decay.
pub(crate) fn penalised_grad(param: &Tensor, grad: &Tensor, l1: f64, l2: f64) -> Result<Tensor> {
    // Each term is a fresh temporary that takes the running sum in place (`a + b` and
    // `b + a` round alike), saving an allocation per term.
    let mut g = grad.clone();
    if l1 != 0.0 {
        let mut term = param.sign()?;
        scale_(&mut term, l1)?;
        term.add_assign(&g)?;
        g = term;
    }
    if l2 != 0.0 {
        let mut term = mul_s(param, l2)?;
        term.add_assign(&g)?;
        g = term;
    }
    Ok(g)
}

fn sum_over(
    op: &'static str,
    params: &[&Tensor],
    f: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let mut total: Option<Tensor> = None;
    for p in params {
        let term = f(p)?.sum_all()?;
        total = Some(match total {
            None => term,
            Some(t) => t.add(&term)?,
        });
    }
    total.ok_or_else(|| Error::Invalid {
        op,
        msg: "needs at least one parameter".into(),
    })
}

/// `λ Σ |p|` over every element of every parameter, a rank-0 tensor to add to the loss.
/// Its gradient is `λ sign(p)` (0 at 0), what an optimizer's `l1 = λ` adds.
///
/// ```
/// # use lamina_tensor::Tensor;
/// # let dev = lamina_backend_cpu::device();
/// let w = Tensor::from_vec(vec![1.0f64, -2.0], [2], &dev)?;
/// assert_eq!(lamina_optim::l1_penalty(&[&w], 0.5)?.to_scalar::<f64>()?, 1.5);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn l1_penalty(params: &[&Tensor], lambda: f64) -> Result<Tensor> {
    sum_over("l1_penalty", params, |p| p.abs())?.mul_scalar(lambda)
}

/// `(λ / 2) Σ p²`, a rank-0 tensor to add to the loss. Its gradient is `λ p`, what an
/// optimizer's `weight_decay = λ` adds.
///
/// ```
/// # use lamina_tensor::Tensor;
/// # let dev = lamina_backend_cpu::device();
/// let w = Tensor::from_vec(vec![1.0f64, -2.0], [2], &dev)?;
/// assert_eq!(lamina_optim::l2_penalty(&[&w], 0.5)?.to_scalar::<f64>()?, 1.25);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn l2_penalty(params: &[&Tensor], lambda: f64) -> Result<Tensor> {
    sum_over("l2_penalty", params, |p| p.square())?.mul_scalar(0.5 * lambda)
}

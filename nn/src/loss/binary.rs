//! Binary cross-entropy, on probabilities and on logits. The logit form is the one to
//! train with: it never takes the log of a rounded probability, so it stays exact for
//! logits of any size.

use std::rc::Rc;

use lamina_autograd::{apply_custom, CustomOp};
use lamina_tensor::{Error, Result, Tensor};

use super::{check_pair, Reduction};

/// `((1 - y) z, softplus(-z))`, the two parts of the logit loss, stable for any `z`.
fn logit_parts(z: &Tensor, y: &Tensor) -> Result<(Tensor, Tensor)> {
    let neg_z = z.neg()?;
    // `maximum` splits the gradient at a tie, so at z = 0 the kinks of max(-z, 0) and
    // log1p(exp(-|z|)) add up to softplus's true slope, 1/2 (a `relu` would give 0).
    let softplus_neg = (neg_z.maximum(&z.scalar_like(0.0)?)? + z.abs()?.neg()?.exp()?.log1p()?)?;
    let linear = (y.affine(-1.0, 1.0)? * z)?;
    Ok((linear, softplus_neg))
}

/// The unweighted element-wise logit loss `l = (1 - y) z + softplus(-z)` as one autograd
/// op: `dl/dz = sigmoid(z) - y`, `dl/dy = -z`. Its backward is made of tensor ops, so
/// higher-order gradients still work.
struct LogitLossTerm;

impl CustomOp for LogitLossTerm {
    fn name(&self) -> &str {
        "binary_cross_entropy_with_logits"
    }

    fn forward(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        let (linear, softplus_neg) = logit_parts(inputs[0], inputs[1])?;
        linear + softplus_neg
    }

    fn backward(
        &self,
        inputs: &[Tensor],
        _output: &Tensor,
        grad: &Tensor,
    ) -> Result<Vec<Option<Tensor>>> {
        let (z, y) = (&inputs[0], &inputs[1]);
        let dz = (z.sigmoid()?.sub(y)? * grad)?;
        let dy = (z.neg()? * grad)?;
        Ok(vec![Some(dz), Some(dy)])
    }
}

/// Errors unless `w` broadcasts to `input`'s shape without enlarging it.
fn check_weight(op: &'static str, input: &Tensor, w: &Tensor) -> Result<()> {
    let s = input.shape().broadcast(w.shape(), op)?;
    if &s != input.shape() {
        return Err(Error::Broadcast {
            op,
            lhs: input.shape().clone(),
            rhs: w.shape().clone(),
        });
    }
    Ok(())
}

/// `log(p)` clamped below at -100, as PyTorch: `p = 0` gives -100, not `-inf`, and no
/// NaN reaches the gradient (the log is taken of 1 there, and `where` routes nothing
/// back to it).
fn clamped_log(p: &Tensor) -> Result<Tensor> {
    let pos = p.gt_scalar(0.0)?;
    let safe = Tensor::where_(&pos, p, &p.scalar_like(1.0)?)?;
    let log = safe.log()?.clamp(-100.0, f64::INFINITY)?;
    Tensor::where_(&pos, &log, &p.scalar_like(-100.0)?)
}

/// Binary cross-entropy on probabilities `p ∈ [0, 1]` and targets `y ∈ [0, 1]`:
/// `-w (y log p + (1 - y) log(1 - p))`, each log clamped at -100 (PyTorch
/// `binary_cross_entropy`), so `p = 0` or `1` gives at most 100 per element, never inf.
/// `weight` broadcasts to the input's shape.
pub fn binary_cross_entropy(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    const OP: &str = "binary_cross_entropy";
    check_pair(OP, input, target)?;
    let log_p = clamped_log(input)?;
    let log_q = clamped_log(&input.affine(-1.0, 1.0)?)?;
    // y log p + (1 - y) log q = y (log p - log q) + log q
    let mut loss = ((target * (&log_p - &log_q)?)? + &log_q)?.neg()?;
    if let Some(w) = weight {
        check_weight(OP, input, w)?;
        loss = (loss * w)?;
    }
    reduction.apply(loss)
}

/// Binary cross-entropy on logits `z` (PyTorch `binary_cross_entropy_with_logits`):
/// `w [(1 - y) z + l · softplus(-z)]` with `l = 1 + (pos_weight - 1) y`, where
/// `softplus(-z) = max(-z, 0) + log1p(exp(-|z|))` never overflows. Without `pos_weight`
/// this is `max(z, 0) - z y + log1p(exp(-|z|))`. `pos_weight` (typically `[classes]`)
/// and `weight` broadcast to the input's shape.
///
/// ```
/// use lamina_nn::{binary_cross_entropy_with_logits as bce_logits, Reduction};
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let z = Tensor::from_vec(vec![100.0f32, -100.0], [2], &dev)?;
/// let y = Tensor::from_vec(vec![1.0f32, 1.0], [2], &dev)?;
/// let l = bce_logits(&z, &y, None, None, Reduction::None)?.to_vec::<f32>()?;
/// assert!(l[0] < 1e-40 && l[1] == 100.0);           // e^-100 and 100: finite at both ends
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn binary_cross_entropy_with_logits(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    pos_weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    const OP: &str = "binary_cross_entropy_with_logits";
    check_pair(OP, input, target)?;
    let mut loss = match pos_weight {
        // The common case is one recorded op with the closed-form gradient: the composite
        // forward and backward were a large share of a tiny model's step.
        None => apply_custom(Rc::new(LogitLossTerm), &[input, target])?,
        Some(pw) => {
            let (linear, softplus_neg) = logit_parts(input, target)?;
            check_weight(OP, input, pw)?;
            let l = (target * pw.sub_scalar(1.0)?)?.add_scalar(1.0)?;
            (linear + (l * softplus_neg)?)?
        }
    };
    if let Some(w) = weight {
        check_weight(OP, input, w)?;
        loss = (loss * w)?;
    }
    reduction.apply(loss)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{check_reductions, close, t};
    use super::*;

    fn bce_ref(p: f64, y: f64) -> f64 {
        let lp = p.ln().max(-100.0);
        let lq = (1.0 - p).ln().max(-100.0);
        -(y * lp + (1.0 - y) * lq)
    }

    /// The logit loss straight from its definition, via the probability form in f64
    /// (accurate for the moderate logits used with it).
    fn bce_logits_ref(z: f64, y: f64, pw: f64) -> f64 {
        let s = 1.0 / (1.0 + (-z).exp());
        -(pw * y * s.ln() + (1.0 - y) * (1.0 - s).ln())
    }

    #[test]
    fn bce_closed_form() {
        let p = [0.1, 0.5, 0.9, 0.25, 0.7, 0.01];
        let y = [0.0, 1.0, 1.0, 0.5, 0.0, 1.0];
        let want: Vec<f64> = p.iter().zip(y).map(|(&p, y)| bce_ref(p, y)).collect();
        let (pt, yt) = (t(&p, &[2, 3]), t(&y, &[2, 3]));
        check_reductions(|r| binary_cross_entropy(&pt, &yt, None, r), &want);
        // Per-column weights broadcast.
        let w = t(&[1.0, 2.0, 0.5], &[3]);
        let ww: Vec<f64> = want
            .iter()
            .enumerate()
            .map(|(i, l)| l * [1.0, 2.0, 0.5][i % 3])
            .collect();
        check_reductions(|r| binary_cross_entropy(&pt, &yt, Some(&w), r), &ww);
    }

    #[test]
    fn bce_at_zero_and_one_is_clamped_not_infinite() {
        let p = t(&[0.0, 0.0, 1.0, 1.0], &[4]);
        let y = t(&[0.0, 1.0, 0.0, 1.0], &[4]);
        let l = binary_cross_entropy(&p, &y, None, Reduction::None).unwrap();
        close(&l, &[0.0, 100.0, 100.0, 0.0]);
        // Gradients stay finite there too.
        let (_, g) = lamina_autograd::value_and_grad(&[&p], || {
            binary_cross_entropy(&p, &y, None, Reduction::Sum)
        })
        .unwrap();
        assert!(g.get(&p).unwrap().all_finite().unwrap());
    }

    #[test]
    fn bce_with_logits_closed_form() {
        let z = [-3.0, -0.5, 0.0, 0.5, 2.0, 4.0];
        let y = [0.0, 1.0, 1.0, 0.0, 0.3, 1.0];
        let (zt, yt) = (t(&z, &[2, 3]), t(&y, &[2, 3]));
        let want: Vec<f64> = z
            .iter()
            .zip(y)
            .map(|(&z, y)| bce_logits_ref(z, y, 1.0))
            .collect();
        check_reductions(
            |r| binary_cross_entropy_with_logits(&zt, &yt, None, None, r),
            &want,
        );
        // pos_weight per column [3]: weights the positive term only.
        let pw = [2.0, 0.5, 1.0];
        let pwt = t(&pw, &[3]);
        let want: Vec<f64> = z
            .iter()
            .zip(y)
            .enumerate()
            .map(|(i, (&z, y))| bce_logits_ref(z, y, pw[i % 3]))
            .collect();
        check_reductions(
            |r| binary_cross_entropy_with_logits(&zt, &yt, None, Some(&pwt), r),
            &want,
        );
        // weight scales the whole element.
        let w = t(&[2.0, 2.0, 2.0, 1.0, 1.0, 1.0], &[2, 3]);
        let want2: Vec<f64> = want
            .iter()
            .enumerate()
            .map(|(i, l)| if i < 3 { 2.0 * l } else { *l })
            .collect();
        check_reductions(
            |r| binary_cross_entropy_with_logits(&zt, &yt, Some(&w), Some(&pwt), r),
            &want2,
        );
    }

    #[test]
    fn bce_with_logits_extreme_logits() {
        // z = ±100: softplus(-100) = e^-100 (≈ 3.7e-44), softplus(100) = 100 + e^-100.
        let z = t(&[100.0, 100.0, -100.0, -100.0], &[4]);
        let y = t(&[1.0, 0.0, 1.0, 0.0], &[4]);
        let tiny = (-100f64).exp();
        let l = binary_cross_entropy_with_logits(&z, &y, None, None, Reduction::None).unwrap();
        close(&l, &[tiny, 100.0 + tiny, 100.0 + tiny, tiny]);
        let (_, g) = lamina_autograd::value_and_grad(&[&z], || {
            binary_cross_entropy_with_logits(&z, &y, None, None, Reduction::Sum)
        })
        .unwrap();
        // d/dz = sigmoid(z) - y.
        close(
            g.get(&z).unwrap(),
            &[
                -tiny / (1.0 + tiny),
                1.0 / (1.0 + tiny),
                tiny / (1.0 + tiny) - 1.0,
                tiny / (1.0 + tiny),
            ],
        );
    }

    #[test]
    fn bce_with_logits_gradient_at_zero_is_sigmoid_minus_target() {
        let z = t(&[0.0, 0.0], &[2]);
        let y = t(&[1.0, 0.0], &[2]);
        let (_, g) = lamina_autograd::value_and_grad(&[&z], || {
            binary_cross_entropy_with_logits(&z, &y, None, None, Reduction::Sum)
        })
        .unwrap();
        close(g.get(&z).unwrap(), &[-0.5, 0.5]);
    }

    #[test]
    fn weight_must_not_enlarge_the_input() {
        let p = t(&[0.5, 0.5], &[2]);
        let w = t(&[1.0, 1.0, 1.0, 1.0], &[2, 2]);
        assert!(binary_cross_entropy(&p, &p, Some(&w), Reduction::Mean).is_err());
    }

    #[test]
    fn mismatched_targets_name_the_loss_and_both_shapes() {
        let z = t(&[0.5, -0.5], &[2, 1]);
        let y = t(&[1.0, 0.0], &[2]);
        let msg = binary_cross_entropy_with_logits(&z, &y, None, None, Reduction::Mean)
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "binary_cross_entropy_with_logits: input [2, 1] and target [2] have different \
             shapes (a loss does not broadcast its target: reshape one to the other)"
        );
        let msg = binary_cross_entropy(&y, &z, None, Reduction::Mean)
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("binary_cross_entropy: input [2] and target [2, 1]"),
            "{msg}"
        );
    }
}

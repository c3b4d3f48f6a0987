//! Regression losses on the difference `d = input - target`: squared (MSE), absolute
//! (L1), and the two quadratic-then-linear blends, Huber (`delta`) and SmoothL1
//! (`beta`), which PyTorch keeps as separate functions (`smooth_l1 = huber / beta`).

use lamina_tensor::{Error, Result, Tensor};

use super::{check_pair, Reduction};

/// Mean squared error: `(input - target)²`, reduced. Input and target share a shape.
///
/// ```
/// use lamina_nn::{mse_loss, Reduction};
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::from_vec(vec![1.0f32, 2.0], [2], &dev)?;
/// let y = Tensor::from_vec(vec![0.0f32, 4.0], [2], &dev)?;
/// assert_eq!(mse_loss(&x, &y, Reduction::Mean)?.to_scalar::<f32>()?, 2.5);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    check_pair("mse_loss", input, target)?;
    reduction.apply((input - target)?.square()?)
}

/// Mean absolute error: `|input - target|`, reduced.
pub fn l1_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    check_pair("l1_loss", input, target)?;
    reduction.apply((input - target)?.abs()?)
}

/// Huber loss with threshold `delta > 0`: `0.5 d²` where `|d| < delta`, else
/// `delta (|d| - 0.5 delta)` (PyTorch `huber_loss`).
pub fn huber_loss(
    input: &Tensor,
    target: &Tensor,
    delta: f64,
    reduction: Reduction,
) -> Result<Tensor> {
    const OP: &str = "huber_loss";
    check_pair(OP, input, target)?;
    if delta.is_nan() || delta <= 0.0 {
        return Err(Error::Invalid {
            op: OP,
            msg: format!("delta must be positive, got {delta}"),
        });
    }
    reduction.apply(quadratic_then_linear(
        &(input - target)?,
        delta,
        0.5,
        delta,
    )?)
}

/// Smooth L1 loss with threshold `beta >= 0`: `0.5 d² / beta` where `|d| < beta`, else
/// `|d| - 0.5 beta`; `beta = 0` is the L1 loss (PyTorch `smooth_l1_loss`).
pub fn smooth_l1_loss(
    input: &Tensor,
    target: &Tensor,
    beta: f64,
    reduction: Reduction,
) -> Result<Tensor> {
    const OP: &str = "smooth_l1_loss";
    check_pair(OP, input, target)?;
    if beta.is_nan() || beta < 0.0 {
        return Err(Error::Invalid {
            op: OP,
            msg: format!("beta must be non-negative, got {beta}"),
        });
    }
    if beta == 0.0 {
        return reduction.apply((input - target)?.abs()?);
    }
    reduction.apply(quadratic_then_linear(
        &(input - target)?,
        beta,
        0.5 / beta,
        1.0,
    )?)
}

/// `q d²` where `|d| < at`, else `slope (|d| - 0.5 at)`: both branches meet with equal
/// value and slope at `|d| = at` when `q = slope / (2 at)`.
fn quadratic_then_linear(d: &Tensor, at: f64, q: f64, slope: f64) -> Result<Tensor> {
    let a = d.abs()?;
    let inner = d.square()?.mul_scalar(q)?;
    let outer = a.affine(slope, -0.5 * at * slope)?;
    Tensor::where_(&a.lt_scalar(at)?, &inner, &outer)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{check_reductions, close, t};
    use super::*;

    const X: [f64; 6] = [0.5, -1.0, 3.0, 0.0, 2.5, -4.0];
    const Y: [f64; 6] = [0.0, 1.0, 0.2, 0.0, 2.0, 1.0];

    fn per(f: impl Fn(f64) -> f64) -> Vec<f64> {
        X.iter().zip(Y).map(|(x, y)| f(x - y)).collect()
    }

    #[test]
    fn mse_and_l1_closed_form() {
        let (x, y) = (t(&X, &[2, 3]), t(&Y, &[2, 3]));
        check_reductions(|r| mse_loss(&x, &y, r), &per(|d| d * d));
        check_reductions(|r| l1_loss(&x, &y, r), &per(f64::abs));
        assert_eq!(mse_loss(&x, &y, Reduction::None).unwrap().dims(), &[2, 3]);
    }

    #[test]
    fn huber_closed_form() {
        let (x, y) = (t(&X, &[6]), t(&Y, &[6]));
        for delta in [0.5, 1.0, 2.0] {
            let want = per(|d| {
                if d.abs() < delta {
                    0.5 * d * d
                } else {
                    delta * (d.abs() - 0.5 * delta)
                }
            });
            check_reductions(|r| huber_loss(&x, &y, delta, r), &want);
        }
        assert!(huber_loss(&x, &y, 0.0, Reduction::Mean).is_err());
    }

    #[test]
    fn smooth_l1_closed_form() {
        let (x, y) = (t(&X, &[6]), t(&Y, &[6]));
        for beta in [0.5, 1.0, 3.0] {
            let want = per(|d| {
                if d.abs() < beta {
                    0.5 * d * d / beta
                } else {
                    d.abs() - 0.5 * beta
                }
            });
            check_reductions(|r| smooth_l1_loss(&x, &y, beta, r), &want);
        }
        // beta = 0 is L1.
        check_reductions(|r| smooth_l1_loss(&x, &y, 0.0, r), &per(f64::abs));
        assert!(smooth_l1_loss(&x, &y, -1.0, Reduction::Mean).is_err());
    }

    #[test]
    fn extreme_values_stay_finite() {
        let x = t(&[1e150, -1e150], &[2]);
        let y = t(&[-1e150, 1e150], &[2]);
        close(&l1_loss(&x, &y, Reduction::Sum).unwrap(), &[4e150]);
        close(
            &huber_loss(&x, &y, 1.0, Reduction::None).unwrap(),
            &[2e150 - 0.5; 2],
        );
    }

    #[test]
    fn mismatched_operands_name_the_loss_and_both() {
        // [N, 1] against [N]: the classic silent broadcast, refused with both shapes.
        let x = t(&[1.0, 2.0], &[2, 1]);
        let y = t(&[1.0, 2.0], &[2]);
        let msg = mse_loss(&x, &y, Reduction::Mean).unwrap_err().to_string();
        assert_eq!(
            msg,
            "mse_loss: input [2, 1] and target [2] have different shapes (a loss does not \
             broadcast its target: reshape one to the other)"
        );
        let msg = l1_loss(&y, &x, Reduction::Mean).unwrap_err().to_string();
        assert!(
            msg.starts_with("l1_loss: input [2] and target [2, 1] have different shapes"),
            "{msg}"
        );
        let y32 = y.to_dtype(lamina_tensor::DType::F32).unwrap();
        let msg = huber_loss(&x.reshape([2]).unwrap(), &y32, 1.0, Reduction::Mean)
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "huber_loss: input [2] has dtype f64 and target [2] has dtype f32 (convert the \
             target with .to_dtype(DType::F64))"
        );
        let i = y.to_dtype(lamina_tensor::DType::I64).unwrap();
        let msg = mse_loss(&i, &i, Reduction::Mean).unwrap_err().to_string();
        assert_eq!(
            msg,
            "mse_loss: input [2] has dtype i64, a float dtype is needed"
        );
    }
}

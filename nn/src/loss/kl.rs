//! Kullback–Leibler divergence with PyTorch's argument convention: the *input* is
//! log-probabilities, the target probabilities (or log-probabilities with
//! `log_target`), and `batchmean` is the reduction that matches the mathematical
//! definition per example.

use lamina_tensor::{Result, Tensor};

use super::{check_pair, xlogx, Reduction};

/// `kl_div`'s reductions: PyTorch's three plus `BatchMean`, the sum divided by the batch
/// size `input.dims()[0]` — the true KL divergence per example, which `Mean` (dividing
/// by every element) is not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KlReduction {
    None,
    #[default]
    Mean,
    Sum,
    BatchMean,
}

impl From<Reduction> for KlReduction {
    fn from(r: Reduction) -> Self {
        match r {
            Reduction::None => KlReduction::None,
            Reduction::Mean => KlReduction::Mean,
            Reduction::Sum => KlReduction::Sum,
        }
    }
}

/// PyTorch `kl_div(input, target, reduction, log_target)`: pointwise
/// `t (log t - input)` with `0 log 0 = 0`, or with `log_target`
/// `exp(target) (target - input)`, where `input = log q` and `t = p`, so the sum is
/// `KL(p ‖ q)`. Input and target share a shape.
///
/// ```
/// use lamina_nn::{kl_div, KlReduction};
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// // KL([1/2, 1/2] ‖ [1/4, 3/4]) = 1/2 ln 2 + 1/2 ln(2/3)
/// let log_q = Tensor::from_vec(vec![0.25f64.ln(), 0.75f64.ln()], [1, 2], &dev)?;
/// let p = Tensor::from_vec(vec![0.5f64, 0.5], [1, 2], &dev)?;
/// let kl = kl_div(&log_q, &p, KlReduction::BatchMean, false)?.to_scalar::<f64>()?;
/// assert!((kl - 0.5 * (2f64.ln() + (2.0f64 / 3.0).ln())).abs() < 1e-15);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn kl_div(
    input: &Tensor,
    target: &Tensor,
    reduction: impl Into<KlReduction>,
    log_target: bool,
) -> Result<Tensor> {
    check_pair("kl_div", input, target)?;
    let pointwise = if log_target {
        (target.exp()? * (target - input)?)?
    } else {
        (xlogx(target)? - (target * input)?)?
    };
    match reduction.into() {
        KlReduction::None => Ok(pointwise),
        KlReduction::Sum => pointwise.sum_all(),
        KlReduction::Mean => pointwise.mean_all(),
        KlReduction::BatchMean => {
            let n = if input.rank() == 0 {
                1
            } else {
                input.dims()[0]
            };
            pointwise.sum_all()?.mul_scalar(1.0 / n as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{check_reductions, close, t};
    use super::*;

    const P: [f64; 6] = [0.2, 0.3, 0.5, 0.0, 1.0, 0.0];
    const Q: [f64; 6] = [0.1, 0.6, 0.3, 0.25, 0.5, 0.25];

    fn per() -> Vec<f64> {
        P.iter()
            .zip(Q)
            .map(|(&p, q)| if p == 0.0 { 0.0 } else { p * (p.ln() - q.ln()) })
            .collect()
    }

    #[test]
    fn closed_form_all_reductions() {
        let log_q: Vec<f64> = Q.iter().map(|q| q.ln()).collect();
        let (x, p) = (t(&log_q, &[2, 3]), t(&P, &[2, 3]));
        let want = per();
        check_reductions(|r| kl_div(&x, &p, r, false), &want);
        let total: f64 = want.iter().sum();
        close(
            &kl_div(&x, &p, KlReduction::BatchMean, false).unwrap(),
            &[total / 2.0],
        );
        // Log targets, on the first row (no zero probabilities to take the log of).
        let lp: Vec<f64> = P[..3].iter().map(|p| p.ln()).collect();
        let l = kl_div(
            &t(&log_q[..3], &[1, 3]),
            &t(&lp, &[1, 3]),
            Reduction::None,
            true,
        )
        .unwrap();
        close(&l, &want[..3]);
    }

    #[test]
    fn zero_target_probability_gives_zero_not_nan() {
        let x = t(&[-100.0, 0.0], &[2]);
        let p = t(&[0.0, 1.0], &[2]);
        let l = kl_div(&x, &p, Reduction::None, false).unwrap();
        close(&l, &[0.0, 0.0]);
        let (_, g) =
            lamina_autograd::value_and_grad(&[&x, &p], || kl_div(&x, &p, KlReduction::Sum, false))
                .unwrap();
        assert!(g.get(&p).unwrap().all_finite().unwrap());
        // d/dinput = -target
        close(g.get(&x).unwrap(), &[0.0, -1.0]);
    }
}

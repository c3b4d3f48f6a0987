//! Knowledge distillation (Hinton, Vinyals and Dean, 2015): a student learns from a
//! teacher's temperature-softened class probabilities and from the labels, as the
//! PyTorch recipe writes it with `kl_div` and `cross_entropy`.

use lamina_tensor::{Error, Result, Tensor};

use super::{cross_entropy, kl_div, KlReduction, Reduction};

/// The distillation loss of student logits `s` and teacher logits `t` (both `[N, C]`)
/// with class labels `y` (`[N]`, `I64` or `U32`), temperature `T > 0` and weight
/// `alpha` in `[0, 1]`:
///
/// ```text
/// loss = alpha * T^2 * KL(softmax(t / T) ‖ softmax(s / T))  +  (1 - alpha) * CE(s, y)
/// ```
///
/// where the KL term is PyTorch's `kl_div(log_softmax(s / T), softmax(t / T),
/// reduction='batchmean')` (the sum over classes, averaged over the batch) and `CE` is
/// `cross_entropy(s, y)` averaged over the batch. `T^2` keeps the soft term's gradient,
/// `alpha * T * (softmax(s/T) - softmax(t/T)) / N`, on the scale of the hard one's as `T`
/// grows. The teacher's logits are detached: no gradient reaches the teacher.
///
/// ```
/// use lamina_nn::distillation_loss;
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let s = Tensor::from_vec(vec![1.0f64, 0.0], [1, 2], &dev)?;
/// let y = Tensor::from_vec(vec![0i64], [1], &dev)?;
/// // A teacher that agrees with the student: only the hard term is left.
/// let loss = distillation_loss(&s, &s, &y, 4.0, 0.7)?.to_scalar::<f64>()?;
/// let ce = (1.0f64.exp() + 1.0).ln() - 1.0;
/// assert!((loss - 0.3 * ce).abs() < 1e-12);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn distillation_loss(
    student: &Tensor,
    teacher: &Tensor,
    labels: &Tensor,
    temperature: f64,
    alpha: f64,
) -> Result<Tensor> {
    const OP: &str = "distillation_loss";
    if !(temperature > 0.0 && temperature.is_finite()) {
        return Err(Error::Invalid {
            op: OP,
            msg: format!("temperature must be finite and > 0, got {temperature}"),
        });
    }
    if !(0.0..=1.0).contains(&alpha) {
        return Err(Error::Invalid {
            op: OP,
            msg: format!("alpha must be in [0, 1], got {alpha}"),
        });
    }
    if student.rank() != 2 || student.shape() != teacher.shape() {
        return Err(Error::Invalid {
            op: OP,
            msg: format!(
                "student {} and teacher {} logits must both be [N, C]",
                student.shape(),
                teacher.shape()
            ),
        });
    }
    let inv_t = 1.0 / temperature;
    let log_p_student = student.mul_scalar(inv_t)?.log_softmax(1)?;
    let p_teacher = teacher.detach().mul_scalar(inv_t)?.softmax(1)?;
    let soft = kl_div(&log_p_student, &p_teacher, KlReduction::BatchMean, false)?;
    let hard = cross_entropy(student, labels, Reduction::Mean)?;
    soft.mul_scalar(alpha * temperature * temperature)? + hard.mul_scalar(1.0 - alpha)?
}

#[cfg(test)]
mod tests {
    use lamina_autograd::{gradcheck, value_and_grad, GradcheckConfig};

    use super::super::test_util::{labels, t};
    use super::*;

    const S: [f64; 12] = [
        0.3, -1.2, 2.0, 0.5, 1.1, 0.0, -0.7, 3.2, -2.5, 0.4, 0.9, -0.1,
    ];
    const TEACH: [f64; 12] = [
        1.5, -0.2, 0.8, 0.0, -1.0, 2.2, 0.3, 4.0, 0.1, 0.1, -3.0, 1.7,
    ];
    const Y: [i64; 3] = [2, 3, 0];

    fn softmax_row(row: &[f64], temp: f64) -> Vec<f64> {
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = row.iter().map(|v| ((v - m) / temp).exp()).collect();
        let z: f64 = e.iter().sum();
        e.iter().map(|v| v / z).collect()
    }

    /// The loss in closed form, in f64, row by row.
    fn closed_form(temp: f64, alpha: f64) -> f64 {
        let (mut kl, mut ce) = (0.0, 0.0);
        for r in 0..3 {
            let (s, tc) = (&S[r * 4..r * 4 + 4], &TEACH[r * 4..r * 4 + 4]);
            let (q, p) = (softmax_row(s, temp), softmax_row(tc, temp));
            kl += p.iter().zip(&q).map(|(p, q)| p * (p / q).ln()).sum::<f64>();
            ce -= softmax_row(s, 1.0)[Y[r] as usize].ln();
        }
        alpha * temp * temp * kl / 3.0 + (1.0 - alpha) * ce / 3.0
    }

    #[test]
    fn matches_the_closed_form() {
        let (s, te, y) = (t(&S, &[3, 4]), t(&TEACH, &[3, 4]), labels(&Y, &[3]));
        for (temp, alpha) in [(1.0, 0.5), (4.0, 0.9), (2.5, 0.0), (0.5, 1.0)] {
            let got = distillation_loss(&s, &te, &y, temp, alpha)
                .unwrap()
                .to_scalar::<f64>()
                .unwrap();
            let want = closed_form(temp, alpha);
            assert!(
                (got - want).abs() <= 1e-12 * (1.0 + want.abs()),
                "T {temp} alpha {alpha}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn gradient_matches_finite_differences_and_skips_the_teacher() {
        let (te, y) = (t(&TEACH, &[3, 4]), labels(&Y, &[3]));
        for (temp, alpha) in [(1.0, 0.5), (4.0, 0.9), (3.0, 1.0)] {
            let f = |xs: &[Tensor]| distillation_loss(&xs[0], &te, &y, temp, alpha);
            let report = gradcheck(f, &[t(&S, &[3, 4])], &GradcheckConfig::default()).unwrap();
            assert!(report.passed(), "T {temp} alpha {alpha}: {report}");
        }
        let (s, te) = (t(&S, &[3, 4]), t(&TEACH, &[3, 4]));
        let (_, g) =
            value_and_grad(&[&s, &te], || distillation_loss(&s, &te, &y, 4.0, 0.9)).unwrap();
        assert!(g.get(&s).is_some());
        let teacher_grad = g.get(&te).map(|g| g.to_f64_vec().unwrap());
        assert!(
            teacher_grad
                .as_ref()
                .is_none_or(|g| g.iter().all(|&v| v == 0.0)),
            "{teacher_grad:?}"
        );
    }

    #[test]
    fn bad_arguments_name_the_loss() {
        let (s, y) = (t(&S, &[3, 4]), labels(&Y, &[3]));
        for (temp, alpha) in [(0.0, 0.5), (f64::NAN, 0.5), (1.0, 1.5)] {
            let e = distillation_loss(&s, &s, &y, temp, alpha).unwrap_err();
            assert!(e.to_string().contains("distillation_loss"), "{e}");
        }
        let e = distillation_loss(&s, &t(&S[..8], &[2, 4]), &y, 1.0, 0.5).unwrap_err();
        assert!(e.to_string().contains("[2, 4]"), "{e}");
    }
}

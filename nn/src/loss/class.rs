//! Multi-class losses: negative log-likelihood on log-probabilities, and cross-entropy
//! on logits (`log_softmax` + NLL) with label smoothing, class weights, an ignored
//! target value and probability ("soft") targets, all with PyTorch's exact semantics —
//! in particular its weighted mean, which divides by the summed weights of the targets,
//! not by the number of them.
//!
//! Shapes, as PyTorch: input `[N, C]` or `[N, C, d1, ...]` (classes on dim 1) or an
//! unbatched `[C]`; class-index targets `[N]` / `[N, d1, ...]` / `[]` of dtype `I64`
//! (`U32` is accepted too); probability targets have the input's shape.

use lamina_tensor::{DType, Error, Result, Tensor};

use super::Reduction;

/// PyTorch's default `ignore_index`.
const IGNORE_INDEX: i64 = -100;

/// The class dimension: 0 for an unbatched `[C]` input, else 1.
fn class_dim(op: &'static str, input: &Tensor) -> Result<usize> {
    if !input.dtype().is_float() {
        return Err(Error::UnsupportedDType {
            op,
            dtype: input.dtype(),
        });
    }
    match input.rank() {
        0 => Err(Error::Invalid {
            op,
            msg: "input needs a class dimension, got a scalar".into(),
        }),
        1 => Ok(0),
        _ => Ok(1),
    }
}

/// The class-index target as `I64`, checked against the input's shape minus `cd` and
/// against the class count: every value is in `0..C` or is `ignore_index`.
fn index_target(
    op: &'static str,
    input: &Tensor,
    target: &Tensor,
    cd: usize,
    ignore_index: i64,
) -> Result<Tensor> {
    let target = match target.dtype() {
        DType::I64 => target.clone(),
        DType::U32 => target.to_dtype(DType::I64)?,
        DType::F32 | DType::F64 | DType::F16 | DType::BF16 | DType::Bool => {
            let soft = if op == "cross_entropy" {
                format!(
                    "; class probabilities (a float target) must have the input's shape {}",
                    input.shape()
                )
            } else {
                String::new()
            };
            return Err(Error::Invalid {
                op,
                msg: format!(
                    "target has dtype {} (shape {}), but class indices must be i64 or u32 \
                     (convert with .to_dtype(DType::I64)){soft}",
                    target.dtype(),
                    target.shape()
                ),
            });
        }
    };
    let mut want = input.dims().to_vec();
    let classes = want.remove(cd);
    if target.dims() != want.as_slice() {
        return Err(Error::Invalid {
            op,
            msg: format!(
                "input {} and target {}: class indices must have shape {} \
                 (the input's shape without its class dimension {cd})",
                input.shape(),
                target.shape(),
                lamina_tensor::Shape::from_dims(&want)
            ),
        });
    }
    check_class_range(op, &target, classes, ignore_index)?;
    Ok(target)
}

/// Errors unless every value of the `I64` target is a class index in `0..classes` or
/// `ignore_index`, naming the first that is not and where it is. The usual case costs one
/// min and one max over the targets; only a failing (or ignore-holding) target is looked
/// at further.
fn check_class_range(
    op: &'static str,
    target: &Tensor,
    classes: usize,
    ignore_index: i64,
) -> Result<()> {
    if target.elem_count() == 0 {
        return Ok(());
    }
    let c = classes as i64;
    let in_range = |t: &Tensor| -> Result<bool> {
        let lo = t.min_all()?.to_scalar::<i64>()?;
        let hi = t.max_all()?.to_scalar::<i64>()?;
        Ok(lo >= 0 && hi < c)
    };
    if in_range(target)? {
        return Ok(());
    }
    // Ignored positions read as class 0, which is valid whenever there is a class.
    let ignored = target.eq_scalar(ignore_index as f64)?;
    let masked = Tensor::where_(&ignored, &target.scalar_like(0.0)?, target)?;
    if c > 0 && in_range(&masked)? {
        return Ok(());
    }
    let values = target.to_vec::<i64>()?;
    let Some(flat) = values
        .iter()
        .position(|&y| y != ignore_index && !(0..c).contains(&y))
    else {
        return Ok(());
    };
    let at = match target.rank() {
        0 => String::new(),
        1 => format!(" at position {flat}"),
        _ => {
            let mut index = vec![0; target.rank()];
            let mut rest = flat;
            for (i, &d) in target.dims().iter().enumerate().rev() {
                index[i] = rest % d;
                rest /= d;
            }
            format!(" at position {index:?}")
        }
    };
    let range = if classes == 0 {
        "none".to_string()
    } else {
        format!("0..={}", classes - 1)
    };
    let ignore = if values[flat] < 0 {
        format!(" nor the ignore_index {ignore_index}")
    } else {
        String::new()
    };
    Err(Error::Invalid {
        op,
        msg: format!(
            "target {}{at} is not a class index for {classes} classes ({range}){ignore}",
            values[flat]
        ),
    })
}

/// The class weight viewed to broadcast along `cd` of `input` (`[1, C, 1, ...]`).
fn class_weight(op: &'static str, input: &Tensor, cd: usize, w: &Tensor) -> Result<Tensor> {
    let c = input.dims()[cd];
    if w.dims() != [c] {
        return Err(Error::Invalid {
            op,
            msg: format!(
                "class weight must have shape [{c}] for input {}, got {}",
                input.shape(),
                w.shape()
            ),
        });
    }
    if w.dtype() != input.dtype() {
        return Err(Error::DTypeMismatch {
            op,
            lhs: input.dtype(),
            rhs: w.dtype(),
        });
    }
    let mut dims = vec![1usize; input.rank()];
    dims[cd] = c;
    w.reshape(dims)
}

/// `-w[y] logp[y]` per target element, the per-element weights `w[y]` (0 where
/// ignored) and the ignore mask.
struct Picked {
    loss: Tensor,
    weight: Tensor,
    ignored: Tensor,
}

fn pick(
    logp: &Tensor,
    target: &Tensor,
    cd: usize,
    weight: Option<&Tensor>,
    ignore_index: i64,
) -> Result<Picked> {
    let ignored = target.eq_scalar(ignore_index as f64)?;
    // Ignored positions read class 0 (any valid index) and are masked below.
    let safe = Tensor::where_(&ignored, &target.scalar_like(0.0)?, target)?;
    let picked = logp
        .gather(cd as isize, &safe.unsqueeze(cd as isize)?)?
        .squeeze(cd as isize)?;
    let keep = logp.mask_as(&ignored)?.affine(-1.0, 1.0)?;
    let w = match weight {
        Some(w) => {
            let per = w
                .index_select(0, &safe.flatten_all()?)?
                .reshape(target.shape())?;
            (per * &keep)?
        }
        None => keep,
    };
    // `where`, not a product with the mask: an ignored row's log-probability may be -inf.
    let zero = logp.scalar_like(0.0)?;
    let loss = Tensor::where_(&ignored, &zero, &(&picked * &w)?.neg()?)?;
    Ok(Picked {
        loss,
        weight: w,
        ignored,
    })
}

/// PyTorch's reduction of weighted per-element losses: the mean divides by the summed
/// weights of the (non-ignored) targets.
fn weighted_reduce(loss: Tensor, weight: &Tensor, reduction: Reduction) -> Result<Tensor> {
    match reduction {
        Reduction::None => Ok(loss),
        Reduction::Sum => loss.sum_all(),
        Reduction::Mean => loss.sum_all()? / weight.sum_all()?,
    }
}

/// Negative log-likelihood on log-probabilities (PyTorch `nn.NLLLoss`):
/// `l_n = -w[y_n] · input[n, y_n]`, 0 where `y_n == ignore_index`; the mean is
/// `Σ l_n / Σ w[y_n]` over the non-ignored targets.
#[derive(Clone, Debug)]
pub struct NllLoss {
    /// Per-class weight `[C]` (default none: all 1).
    pub weight: Option<Tensor>,
    /// Targets with this value contribute nothing (default -100, as PyTorch).
    pub ignore_index: i64,
    pub reduction: Reduction,
}

impl Default for NllLoss {
    fn default() -> Self {
        NllLoss {
            weight: None,
            ignore_index: IGNORE_INDEX,
            reduction: Reduction::Mean,
        }
    }
}

impl NllLoss {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_weight(mut self, weight: Tensor) -> Self {
        self.weight = Some(weight);
        self
    }

    pub fn with_ignore_index(mut self, ignore_index: i64) -> Self {
        self.ignore_index = ignore_index;
        self
    }

    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// The loss of log-probabilities `input` (`[N, C, ...]` or `[C]`) against class
    /// indices `target` (`[N, ...]` or `[]`).
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        const OP: &str = "nll_loss";
        let cd = class_dim(OP, input)?;
        let target = index_target(OP, input, target, cd, self.ignore_index)?;
        let w = match &self.weight {
            Some(w) => {
                class_weight(OP, input, cd, w)?;
                Some(w)
            }
            None => None,
        };
        let p = pick(input, &target, cd, w, self.ignore_index)?;
        weighted_reduce(p.loss, &p.weight, self.reduction)
    }
}

/// [`NllLoss`] with no class weights and PyTorch's `ignore_index` of -100.
pub fn nll_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    NllLoss::new()
        .with_reduction(reduction)
        .forward(input, target)
}

/// Cross-entropy on logits (PyTorch `nn.CrossEntropyLoss`), with `logp =
/// log_softmax(input)` along the class dimension and `ε = label_smoothing`:
///
/// - class-index targets: `(1 - ε) · NLL(logp, y) + (ε / C) · S`, where
///   `S_n = -Σ_c w_c logp[n, c]` (0 for ignored targets) is reduced like the NLL term
///   (its mean also divides by `Σ w[y_n]`);
/// - probability targets (the input's shape): `l_n = -Σ_c w_c t[n, c] logp[n, c]` with
///   `t = (1 - ε) target + ε / C`; the mean divides by the number of rows `N · d1 ⋯`.
///
/// ```
/// use lamina_nn::{CrossEntropyLoss, Reduction};
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let logits = Tensor::from_vec(vec![2.0f32, 0.0, 0.0, 0.0, 0.0, 2.0], [2, 3], &dev)?;
/// let y = Tensor::from_vec(vec![0i64, 2], [2], &dev)?;
/// let loss = CrossEntropyLoss::new().with_label_smoothing(0.1).forward(&logits, &y)?;
/// assert_eq!(loss.dims(), &[] as &[usize]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct CrossEntropyLoss {
    /// Per-class weight `[C]` (default none: all 1).
    pub weight: Option<Tensor>,
    /// Class-index targets with this value contribute nothing (default -100).
    pub ignore_index: i64,
    /// `ε ∈ [0, 1]`: the target mixes `1 - ε` of the label with `ε` spread uniformly.
    pub label_smoothing: f64,
    pub reduction: Reduction,
}

impl Default for CrossEntropyLoss {
    fn default() -> Self {
        CrossEntropyLoss {
            weight: None,
            ignore_index: IGNORE_INDEX,
            label_smoothing: 0.0,
            reduction: Reduction::Mean,
        }
    }
}

impl CrossEntropyLoss {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_weight(mut self, weight: Tensor) -> Self {
        self.weight = Some(weight);
        self
    }

    pub fn with_ignore_index(mut self, ignore_index: i64) -> Self {
        self.ignore_index = ignore_index;
        self
    }

    pub fn with_label_smoothing(mut self, label_smoothing: f64) -> Self {
        self.label_smoothing = label_smoothing;
        self
    }

    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// The loss of logits `input` (`[N, C, ...]` or `[C]`) against class indices
    /// (`[N, ...]` or `[]`, integer) or class probabilities (input-shaped, float).
    pub fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        const OP: &str = "cross_entropy";
        let eps = self.label_smoothing;
        if !(0.0..=1.0).contains(&eps) {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("label_smoothing must be in [0, 1], got {eps}"),
            });
        }
        let cd = class_dim(OP, input)?;
        let c = input.dims()[cd] as f64;
        let wb = match &self.weight {
            Some(w) => Some(class_weight(OP, input, cd, w)?),
            None => None,
        };
        if target.dtype().is_float() && target.shape() == input.shape() {
            let logp = input.log_softmax(cd as isize)?;
            return self.soft(input, &logp, target, cd, wb.as_ref());
        }
        let target = index_target(OP, input, target, cd, self.ignore_index)?;
        let logp = input.log_softmax(cd as isize)?;
        let p = pick(&logp, &target, cd, self.weight.as_ref(), self.ignore_index)?;
        let nll = weighted_reduce(p.loss, &p.weight, self.reduction)?;
        if eps == 0.0 {
            return Ok(nll);
        }
        let weighted = match &wb {
            Some(wb) => (&logp * wb)?,
            None => logp.clone(),
        };
        let smooth = weighted.sum(cd as isize, false)?.neg()?;
        let smooth = Tensor::where_(&p.ignored, &smooth.scalar_like(0.0)?, &smooth)?;
        let smooth = weighted_reduce(smooth, &p.weight, self.reduction)?;
        nll.mul_scalar(1.0 - eps)? + smooth.mul_scalar(eps / c)?
    }

    /// Probability targets: `-Σ_c w_c t_c logp_c` per row.
    fn soft(
        &self,
        input: &Tensor,
        logp: &Tensor,
        target: &Tensor,
        cd: usize,
        wb: Option<&Tensor>,
    ) -> Result<Tensor> {
        super::check_pair("cross_entropy", input, target)?;
        let c = input.dims()[cd] as f64;
        let eps = self.label_smoothing;
        let t = if eps > 0.0 {
            target.affine(1.0 - eps, eps / c)?
        } else {
            target.clone()
        };
        let mut prod = (logp * &t)?;
        if let Some(wb) = wb {
            prod = (prod * wb)?;
        }
        let per = prod.sum(cd as isize, false)?.neg()?;
        match self.reduction {
            Reduction::None => Ok(per),
            Reduction::Sum => per.sum_all(),
            Reduction::Mean => per.sum_all()?.mul_scalar(c / input.elem_count() as f64),
        }
    }
}

/// [`CrossEntropyLoss`] with no class weights, no label smoothing and PyTorch's
/// `ignore_index` of -100.
///
/// ```
/// use lamina_nn::{cross_entropy, Reduction};
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// // Two equal logits: the loss is ln 2 whatever the label.
/// let logits = Tensor::from_vec(vec![0.0f64, 0.0], [1, 2], &dev)?;
/// let y = Tensor::from_vec(vec![1i64], [1], &dev)?;
/// let l = cross_entropy(&logits, &y, Reduction::Mean)?.to_scalar::<f64>()?;
/// assert!((l - 2f64.ln()).abs() < 1e-15);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn cross_entropy(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    CrossEntropyLoss::new()
        .with_reduction(reduction)
        .forward(input, target)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{check_reductions, close, labels, t};
    use super::*;

    /// log_softmax of each row, in plain f64.
    fn log_softmax_rows(x: &[f64], c: usize) -> Vec<f64> {
        x.chunks(c)
            .flat_map(|row| {
                let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                row.iter().map(move |v| v - lse).collect::<Vec<_>>()
            })
            .collect()
    }

    const X: [f64; 12] = [
        1.0, 2.0, 0.5, -1.0, //
        0.0, 0.0, 3.0, 1.0, //
        -2.0, 4.0, 1.0, 0.5,
    ];
    const Y: [i64; 3] = [1, 2, 0];

    #[test]
    fn cross_entropy_closed_form() {
        let lp = log_softmax_rows(&X, 4);
        let per: Vec<f64> = Y
            .iter()
            .enumerate()
            .map(|(n, &y)| -lp[n * 4 + y as usize])
            .collect();
        let (x, y) = (t(&X, &[3, 4]), labels(&Y, &[3]));
        check_reductions(|r| cross_entropy(&x, &y, r), &per);
        // NLL on the log-probabilities agrees.
        let logp = t(&lp, &[3, 4]);
        check_reductions(|r| nll_loss(&logp, &y, r), &per);
    }

    #[test]
    fn weighted_mean_divides_by_summed_target_weights() {
        let w = [0.5, 2.0, 1.0, 3.0];
        let lp = log_softmax_rows(&X, 4);
        let per: Vec<f64> = Y
            .iter()
            .enumerate()
            .map(|(n, &y)| -w[y as usize] * lp[n * 4 + y as usize])
            .collect();
        let denom: f64 = Y.iter().map(|&y| w[y as usize]).sum();
        let (x, y) = (t(&X, &[3, 4]), labels(&Y, &[3]));
        let ce = |r| {
            CrossEntropyLoss::new()
                .with_weight(t(&w, &[4]))
                .with_reduction(r)
                .forward(&x, &y)
        };
        close(&ce(Reduction::None).unwrap(), &per);
        close(&ce(Reduction::Sum).unwrap(), &[per.iter().sum()]);
        close(
            &ce(Reduction::Mean).unwrap(),
            &[per.iter().sum::<f64>() / denom],
        );
    }

    #[test]
    fn label_smoothing_with_weights_and_ignored_targets() {
        // Rows 0 and 2 count; row 1 is ignored (target -100).
        let w = [0.5, 2.0, 1.0, 3.0];
        let eps = 0.2;
        let ys = [1i64, -100, 0];
        let lp = log_softmax_rows(&X, 4);
        let rows = [0usize, 2];
        let nll: Vec<f64> = rows
            .iter()
            .map(|&n| -w[ys[n] as usize] * lp[n * 4 + ys[n] as usize])
            .collect();
        let smooth: Vec<f64> = rows
            .iter()
            .map(|&n| -(0..4).map(|c| w[c] * lp[n * 4 + c]).sum::<f64>())
            .collect();
        let wsum: f64 = rows.iter().map(|&n| w[ys[n] as usize]).sum();
        let mix = |a: f64, b: f64| (1.0 - eps) * a + eps / 4.0 * b;
        let (x, y) = (t(&X, &[3, 4]), labels(&ys, &[3]));
        let ce = |r| {
            CrossEntropyLoss::new()
                .with_weight(t(&w, &[4]))
                .with_label_smoothing(eps)
                .with_reduction(r)
                .forward(&x, &y)
        };
        close(
            &ce(Reduction::None).unwrap(),
            &[mix(nll[0], smooth[0]), 0.0, mix(nll[1], smooth[1])],
        );
        let (sn, ss): (f64, f64) = (nll.iter().sum(), smooth.iter().sum());
        close(&ce(Reduction::Sum).unwrap(), &[mix(sn, ss)]);
        close(&ce(Reduction::Mean).unwrap(), &[mix(sn / wsum, ss / wsum)]);
    }

    #[test]
    fn probability_targets() {
        let probs = [
            0.1, 0.6, 0.2, 0.1, //
            0.0, 0.0, 1.0, 0.0, //
            0.25, 0.25, 0.25, 0.25,
        ];
        let lp = log_softmax_rows(&X, 4);
        let eps = 0.1;
        let per: Vec<f64> = (0..3)
            .map(|n| {
                -(0..4)
                    .map(|c| (probs[n * 4 + c] * (1.0 - eps) + eps / 4.0) * lp[n * 4 + c])
                    .sum::<f64>()
            })
            .collect();
        let (x, p) = (t(&X, &[3, 4]), t(&probs, &[3, 4]));
        check_reductions(
            |r| {
                CrossEntropyLoss::new()
                    .with_label_smoothing(eps)
                    .with_reduction(r)
                    .forward(&x, &p)
            },
            &per,
        );
    }

    #[test]
    fn spatial_and_unbatched_inputs() {
        // [N=1, C=2, L=3]: class dim 1; each position l is its own example.
        let x = t(&[1.0, 0.0, -1.0, 0.0, 2.0, 1.0], &[1, 2, 3]);
        let y = labels(&[0, 1, 1], &[1, 3]);
        let want: Vec<f64> = [(1.0, 0.0, 0usize), (0.0, 2.0, 1), (-1.0, 1.0, 1)]
            .iter()
            .map(|&(a, b, k)| {
                let lse = (f64::exp(a) + f64::exp(b)).ln();
                lse - [a, b][k]
            })
            .collect();
        close(&cross_entropy(&x, &y, Reduction::None).unwrap(), &want);
        // Unbatched [C] with a scalar target.
        let x1 = t(&[1.0, 2.0, 3.0], &[3]);
        let y1 = labels(&[2], &[]);
        let l = cross_entropy(&x1, &y1, Reduction::Mean).unwrap();
        let lse = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
        close(&l, &[lse - 3.0]);
    }

    #[test]
    fn extreme_logits_stay_finite() {
        let x = t(&[100.0, -100.0, 0.0, -100.0, 100.0, 100.0], &[2, 3]);
        let y = labels(&[1, 0], &[2]);
        // Row 0: lse = 100 + log(1 + e^-100 + e^-200) ≈ 100; loss = lse + 100 = 200.
        // Row 1: lse = 100 + ln 2 + log1p(e^-200 / 2); loss = lse + 100.
        let l = cross_entropy(&x, &y, Reduction::None).unwrap();
        close(&l, &[200.0, 200.0 + 2f64.ln()]);
        let ls = CrossEntropyLoss::new()
            .with_label_smoothing(0.3)
            .forward(&x, &y)
            .unwrap();
        assert!(ls.all_finite().unwrap());
    }

    fn err(r: Result<Tensor>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn bad_targets_are_errors() {
        let x = t(&X, &[3, 4]);
        assert_eq!(
            err(cross_entropy(&x, &labels(&[0, 1], &[2]), Reduction::Mean)),
            "cross_entropy: input [3, 4] and target [2]: class indices must have shape [3] \
             (the input's shape without its class dimension 1)"
        );
        assert_eq!(
            err(cross_entropy(
                &x,
                &labels(&[0, 1, 4], &[3]),
                Reduction::Mean
            )),
            "cross_entropy: target 4 at position 2 is not a class index for 4 classes (0..=3)"
        );
        assert_eq!(
            err(nll_loss(&x, &labels(&[0, -1, 2], &[3]), Reduction::Mean)),
            "nll_loss: target -1 at position 1 is not a class index for 4 classes (0..=3) \
             nor the ignore_index -100"
        );
        let bad_w = CrossEntropyLoss::new().with_weight(t(&[1.0, 1.0], &[2]));
        assert_eq!(
            err(bad_w.forward(&x, &labels(&Y, &[3]))),
            "cross_entropy: class weight must have shape [4] for input [3, 4], got [2]"
        );
        let bad_eps = CrossEntropyLoss::new().with_label_smoothing(1.5);
        assert_eq!(
            err(bad_eps.forward(&x, &labels(&Y, &[3]))),
            "cross_entropy: label_smoothing must be in [0, 1], got 1.5"
        );
    }

    #[test]
    fn out_of_range_label_names_the_loss_value_position_and_class_count() {
        // The newcomer's case: labels 1..=3 for 3 classes.
        let x = t(&[0.0; 6], &[2, 3]);
        let y = labels(&[1, 3], &[2]);
        assert_eq!(
            err(cross_entropy(&x, &y, Reduction::Mean)),
            "cross_entropy: target 3 at position 1 is not a class index for 3 classes (0..=2)"
        );
        assert_eq!(
            err(nll_loss(&x, &y, Reduction::Sum)),
            "nll_loss: target 3 at position 1 is not a class index for 3 classes (0..=2)"
        );
        // u32 labels are checked the same way.
        let y32 = Tensor::from_vec(vec![0u32, 5], [2], &super::super::test_util::dev()).unwrap();
        assert_eq!(
            err(cross_entropy(&x, &y32, Reduction::Mean)),
            "cross_entropy: target 5 at position 1 is not a class index for 3 classes (0..=2)"
        );
        // Targets of rank > 1 give the index; an unbatched scalar target has no position.
        let xs = t(&[0.0; 6], &[1, 2, 3]);
        assert_eq!(
            err(cross_entropy(
                &xs,
                &labels(&[0, 2, 1], &[1, 3]),
                Reduction::Mean
            )),
            "cross_entropy: target 2 at position [0, 1] is not a class index for 2 classes (0..=1)"
        );
        assert_eq!(
            err(cross_entropy(
                &t(&[0.0; 3], &[3]),
                &labels(&[3], &[]),
                Reduction::Mean
            )),
            "cross_entropy: target 3 is not a class index for 3 classes (0..=2)"
        );
    }

    #[test]
    fn ignore_index_is_exempt_from_the_range_check() {
        let x = t(&X, &[3, 4]);
        // The default -100 and a custom in-range-looking value.
        assert!(cross_entropy(&x, &labels(&[1, -100, 0], &[3]), Reduction::Mean).is_ok());
        let ce = CrossEntropyLoss::new().with_ignore_index(9);
        let l = ce.forward(&x, &labels(&[9, 2, 9], &[3])).unwrap();
        let lp = log_softmax_rows(&X, 4);
        close(&l, &[-lp[4 + 2]]);
        // An ignored target does not hide a bad one after it.
        assert_eq!(
            err(ce.forward(&x, &labels(&[9, 2, 4], &[3]))),
            "cross_entropy: target 4 at position 2 is not a class index for 4 classes (0..=3)"
        );
        assert_eq!(
            err(nll_loss(&x, &labels(&[-100, -7, 0], &[3]), Reduction::Mean)),
            "nll_loss: target -7 at position 1 is not a class index for 4 classes (0..=3) \
             nor the ignore_index -100"
        );
    }

    #[test]
    fn float_labels_say_what_is_expected() {
        let x = t(&[0.0; 6], &[2, 3]);
        let y = Tensor::from_vec(vec![0.0f32, 2.0], [2], &super::super::test_util::dev()).unwrap();
        assert_eq!(
            err(cross_entropy(&x, &y, Reduction::Mean)),
            "cross_entropy: target has dtype f32 (shape [2]), but class indices must be i64 \
             or u32 (convert with .to_dtype(DType::I64)); class probabilities (a float \
             target) must have the input's shape [2, 3]"
        );
        assert_eq!(
            err(nll_loss(&x, &y, Reduction::Mean)),
            "nll_loss: target has dtype f32 (shape [2]), but class indices must be i64 or \
             u32 (convert with .to_dtype(DType::I64))"
        );
        // A float target of the input's shape is read as class probabilities.
        let p = t(&[0.5, 0.5, 0.0, 0.0, 0.0, 1.0], &[2, 3]);
        close(
            &cross_entropy(&x, &p, Reduction::Sum).unwrap(),
            &[2.0 * 3f64.ln()],
        );
    }

    #[test]
    fn u32_targets_are_accepted() {
        let x = t(&X, &[3, 4]);
        let y64 = labels(&Y, &[3]);
        let y32 = Tensor::from_vec(vec![1u32, 2, 0], [3], &super::super::test_util::dev()).unwrap();
        let a = cross_entropy(&x, &y64, Reduction::Sum)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        let b = cross_entropy(&x, &y32, Reduction::Sum)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert_eq!(a, b);
    }
}

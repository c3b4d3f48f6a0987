//! Custom ops: a user supplies forward and backward, and the op joins the tape like a
//! built-in. The forward runs with recording paused (its internals are not taped); the
//! backward is called with the inputs, the output and the output gradient, and may use
//! any tensor ops (which a surrounding tape records, so custom ops support double
//! backward when their backward is written with differentiable ops).

use std::rc::Rc;

use lamina_tensor::{hook, Error, Result, Shape, Tensor};

/// A user-defined differentiable op.
pub trait CustomOp {
    /// Name used in error messages and gradcheck reports.
    fn name(&self) -> &str;
    /// The value, from the inputs.
    fn forward(&self, inputs: &[&Tensor]) -> Result<Tensor>;
    /// One gradient per input (`None` for inputs without one, e.g. indices), each with its
    /// input's shape, given the output gradient `grad`.
    fn backward(
        &self,
        inputs: &[Tensor],
        output: &Tensor,
        grad: &Tensor,
    ) -> Result<Vec<Option<Tensor>>>;
}

/// Runs a custom op and records it on every tape that tracks one of its inputs.
///
/// ```
/// use std::rc::Rc;
/// use lamina_autograd::{apply_custom, gradcheck, CustomOp, GradcheckConfig};
/// use lamina_tensor::{DType, Result, Tensor};
///
/// /// softplus(x) = ln(1 + e^x), with its derivative sigmoid(x).
/// struct Softplus;
/// impl CustomOp for Softplus {
///     fn name(&self) -> &str { "softplus" }
///     fn forward(&self, x: &[&Tensor]) -> Result<Tensor> {
///         // max(x, 0) + ln(1 + e^-|x|): stable for large |x|.
///         x[0].relu()? + x[0].abs()?.neg()?.exp()?.log1p()?
///     }
///     fn backward(&self, x: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
///         Ok(vec![Some((g * x[0].sigmoid()?)?)])
///     }
/// }
///
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::randn(1, [3, 4], DType::F64, &dev)?;
/// let op = Rc::new(Softplus);
/// let report = gradcheck(|t| apply_custom(op.clone(), &[&t[0]]), &[x], &GradcheckConfig::default())?;
/// assert!(report.passed(), "{report}");
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn apply_custom(op: Rc<dyn CustomOp>, inputs: &[&Tensor]) -> Result<Tensor> {
    let out = hook::paused(|| op.forward(inputs))?;
    crate::tape::record_custom(op, inputs, &out);
    Ok(out)
}

/// Checks a custom backward's result: one entry per input, each of its input's shape.
pub(crate) fn check_grads(
    name: &str,
    shapes: &[Shape],
    grads: Vec<Option<Tensor>>,
) -> Result<Vec<Option<Tensor>>> {
    if grads.len() != shapes.len() {
        return Err(Error::Invalid {
            op: "custom backward",
            msg: format!(
                "{name}: returned {} gradients for {} inputs",
                grads.len(),
                shapes.len()
            ),
        });
    }
    for (i, (g, s)) in grads.iter().zip(shapes).enumerate() {
        if let Some(g) = g {
            if g.shape() != s {
                return Err(Error::Invalid {
                    op: "custom backward",
                    msg: format!(
                        "{name}: gradient {i} has shape {}, its input has {s}",
                        g.shape()
                    ),
                });
            }
        }
    }
    Ok(grads)
}

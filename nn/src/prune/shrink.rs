//! [`shrink_mlp`]: from an MLP whose hidden neurons were pruned structurally (zero rows
//! of a `Linear` weight) to a smaller MLP that computes the same function, so the
//! pruning saves memory and time rather than multiplying by zeros.

use lamina_autograd::no_grad;
use lamina_tensor::{DType, Error, Result, Tensor};

use crate::{Activation, Linear, Module, Sequential};

/// The MLP `linear[0] → activation → linear[1] → ... → linear[k]` read from `model`'s
/// parameters `{prefix}.weight` (`[out, in]`) and `{prefix}.bias` (optional) for each
/// prefix in `linears`, with every hidden neuron whose weight row is all zero removed.
///
/// A removed neuron `j` of layer `i` no longer depends on the input: it outputs the
/// constant `c_j = activation(b_j)` (`activation(0)` without a bias; PyTorch's
/// `ln_structured` prunes the weight rows, not the bias). So its row of `W_i` and `b_i`
/// and its column of `W_{i+1}` are dropped, and `W_{i+1}[:, j] * c_j` is folded into
/// `b_{i+1}`. The result is exact for any element-wise activation; layers between the
/// `Linear`s other than `activation` (dropout in evaluation mode is the identity) are
/// not reproduced, so it is an inference model. The output layer keeps all its rows.
///
/// ```
/// use lamina_nn::{prune::{shrink_mlp, Norm, Pruner}, Activation, Mlp, Module};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let mut mlp = Mlp::builder(&[4, 8, 3]).seed(0).build(&dev)?;
/// Pruner::new().ln_structured(&mut mlp, "0.weight", 0.5, Norm::L2)?;
/// let small = shrink_mlp(&mlp, &["0", "2"], Activation::Relu)?;
/// assert_eq!(small.num_parameters(), (4 * 4 + 4) + (4 * 3 + 3));
/// let x = Tensor::randn(1, [5, 4], DType::F32, &dev)?;
/// let diff = (mlp.forward(&x)? - small.forward(&x)?)?.abs()?.max_all()?;
/// assert!(diff.to_scalar::<f32>()? < 1e-5);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn shrink_mlp<M: Module + ?Sized>(
    model: &M,
    linears: &[&str],
    activation: Activation,
) -> Result<Sequential> {
    const OP: &str = "shrink_mlp";
    let params = model.named_parameters();
    let find = |name: String| params.iter().find(|(n, _)| *n == name).map(|(_, t)| t);
    let mut layers: Vec<(Tensor, Option<Tensor>)> = Vec::with_capacity(linears.len());
    for prefix in linears {
        let w = find(format!("{prefix}.weight")).ok_or_else(|| Error::Invalid {
            op: OP,
            msg: format!("the model has no parameter `{prefix}.weight`"),
        })?;
        if w.rank() != 2 {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("`{prefix}.weight` has shape {}, not [out, in]", w.shape()),
            });
        }
        if let Some((pw, _)) = layers.last() {
            if pw.dims()[0] != w.dims()[1] {
                return Err(Error::Invalid {
                    op: OP,
                    msg: format!(
                        "`{prefix}.weight` {} does not take the previous layer's {} outputs",
                        w.shape(),
                        pw.dims()[0]
                    ),
                });
            }
        }
        layers.push((
            w.detach(),
            find(format!("{prefix}.bias")).map(Tensor::detach),
        ));
    }
    no_grad(|| {
        for i in 0..layers.len().saturating_sub(1) {
            let (w, b) = &layers[i];
            let nonzero = w.ne_scalar(0.0)?.to_dtype(DType::F64)?.sum(1, false)?;
            let (mut keep, mut drop) = (Vec::new(), Vec::new());
            for (j, n) in nonzero.to_f64_vec()?.into_iter().enumerate() {
                if n > 0.0 {
                    keep.push(j as i64);
                } else {
                    drop.push(j as i64);
                }
            }
            if drop.is_empty() {
                continue;
            }
            let dev = *w.device();
            let keep = Tensor::from_vec(keep.clone(), [keep.len()], &dev)?;
            let drop = Tensor::from_vec(drop.clone(), [drop.len()], &dev)?;
            // The dropped neurons' constant outputs, folded into the next bias.
            let constants = match b {
                Some(b) => activation.apply(&b.index_select(0, &drop)?)?,
                None => activation.apply(&Tensor::zeros([drop.elem_count()], w.dtype(), &dev)?)?,
            };
            let new_w = w.index_select(0, &keep)?;
            let new_b = b.as_ref().map(|b| b.index_select(0, &keep)).transpose()?;
            let (nw, nb) = &layers[i + 1];
            let folded = nw
                .index_select(1, &drop)?
                .matmul(&constants.unsqueeze(1)?)?
                .squeeze(1)?;
            let next_b = match nb {
                Some(nb) => (nb + &folded)?,
                None => folded,
            };
            let next_w = nw.index_select(1, &keep)?;
            layers[i] = (new_w, new_b);
            layers[i + 1] = (next_w, Some(next_b));
        }
        let last = layers.len().saturating_sub(1);
        let mut out = Sequential::new();
        for (i, (w, b)) in layers.into_iter().enumerate() {
            out.push(Linear::from_weights(
                w.copy()?,
                b.map(|b| b.copy()).transpose()?,
            )?);
            if i < last {
                out.push(activation);
            }
        }
        Ok(out)
    })
}

//! [`summary`]: a [`Sequential`] model's layers with their output shapes and parameter
//! counts, and the totals, as Keras' `model.summary()` and torchinfo print them.

use std::fmt;

use lamina_autograd::no_grad;
use lamina_tensor::{DType, Device, Result, Shape, Tensor};

use crate::{Module, Sequential};

/// One layer of a [`Summary`].
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow {
    /// The layer's [`Module::name`].
    pub layer: String,
    /// Its output shape for the summary's input.
    pub output: Shape,
    /// Its parameter elements.
    pub params: usize,
}

/// What [`summary`] measured; `Display` prints the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub input: Shape,
    pub rows: Vec<SummaryRow>,
    /// Parameter elements of the whole model (all trainable).
    pub params: usize,
    /// Buffer elements (running statistics), saved but not trained.
    pub buffers: usize,
}

/// Runs `model` on zeros of `input_shape` (f32, on `device`) layer by layer, in
/// evaluation mode and without recording, and reports each layer's output shape and
/// parameter count. The model is switched back to the mode it was in (it takes `&mut`
/// for that switch: in training mode a `BatchNorm` would update its statistics).
///
/// ```
/// use lamina_nn::{summary, Conv2d, Flatten, Linear, MaxPool2d, Relu, Sequential};
/// let dev = lamina_backend_cpu::device();
/// let mut model = Sequential::new()
///     .add(Conv2d::builder(1, 6, 5).padding(2).build(&dev)?)
///     .add(Relu)
///     .add(MaxPool2d::new(2))
///     .add(Flatten::default())
///     .add(Linear::new(6 * 14 * 14, 10, &dev)?);
/// let s = summary(&mut model, &[1, 1, 28, 28], &dev)?;
/// assert_eq!(s.rows[2].output.dims(), &[1, 6, 14, 14]);
/// assert_eq!(s.params, 6 * 25 + 6 + 1176 * 10 + 10);
/// println!("{s}");
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn summary(model: &mut Sequential, input_shape: &[usize], device: &Device) -> Result<Summary> {
    let was_training = model.training_mode();
    model.eval();
    let rows = no_grad(|| -> Result<Vec<SummaryRow>> {
        let mut x = Tensor::zeros(input_shape.to_vec(), DType::F32, device)?;
        let mut rows = Vec::with_capacity(model.len());
        for (i, layer) in model.layers().iter().enumerate() {
            x = layer
                .forward(&x)
                .map_err(|e| e.context(format!("summary: layer {i} ({})", layer.name())))?;
            rows.push(SummaryRow {
                layer: layer.name(),
                output: x.shape().clone(),
                params: layer.num_parameters(),
            });
        }
        Ok(rows)
    });
    if was_training != Some(false) {
        model.train();
    }
    let rows = rows?;
    let buffers = model
        .named_buffers()
        .iter()
        .map(|(_, t)| t.elem_count())
        .sum();
    Ok(Summary {
        input: Shape::from(input_shape.to_vec()),
        params: model.num_parameters(),
        rows,
        buffers,
    })
}

/// `1234567` as `1,234,567`.
fn grouped(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let index_w = self.rows.len().saturating_sub(1).to_string().len().max(2);
        // Two spaces after the index, two before the next column.
        let layer_w = self
            .rows
            .iter()
            .map(|r| index_w + 2 + r.layer.chars().count() + 2)
            .chain([20])
            .max()
            .unwrap_or(20);
        let shape_w = self
            .rows
            .iter()
            .map(|r| r.output.to_string().len() + 2)
            .chain([self.input.to_string().len() + 2, 14])
            .max()
            .unwrap_or(14);
        let line = "-".repeat(layer_w + shape_w + 14);
        writeln!(
            f,
            "{:<layer_w$}{:<shape_w$}{:>14}",
            "Layer", "Output shape", "Params"
        )?;
        writeln!(f, "{}", "=".repeat(layer_w + shape_w + 14))?;
        writeln!(
            f,
            "{:<layer_w$}{:<shape_w$}{:>14}",
            "Input",
            self.input.to_string(),
            ""
        )?;
        for (i, r) in self.rows.iter().enumerate() {
            let name = format!("{i:>index_w$}  {}", r.layer);
            writeln!(
                f,
                "{name:<layer_w$}{:<shape_w$}{:>14}",
                r.output.to_string(),
                grouped(r.params)
            )?;
        }
        writeln!(f, "{line}")?;
        writeln!(f, "Total params: {}", grouped(self.params))?;
        writeln!(f, "Trainable params: {}", grouped(self.params))?;
        write!(f, "Buffers (not trained): {}", grouped(self.buffers))
    }
}

//! Label encoding: class indices to one-hot rows.

use lamina_tensor::{DType, Device, HostData, Tensor};

use crate::{Error, Result};

/// One-hot rows for class indices: `[labels.len(), classes]` of `dtype`, row `i` all zero
/// but a 1 at column `labels[i]`. A label `>= classes` is an error naming its index. (For
/// labels already in an integer tensor, `Tensor::one_hot` does the same on the device.)
///
/// ```
/// use lamina_data::transform::one_hot;
/// use lamina_tensor::DType;
/// let dev = lamina_backend_cpu::device();
/// let y = one_hot(&[2, 0], 3, DType::F32, &dev)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
/// # Ok::<(), lamina_data::Error>(())
/// ```
pub fn one_hot(labels: &[usize], classes: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| l >= classes) {
        return Err(Error::Invalid {
            op: "one_hot",
            msg: format!("label {l} at index {i} is not below classes = {classes}"),
        });
    }
    let mut values = vec![0.0; labels.len() * classes];
    for (row, &l) in values.chunks_exact_mut(classes.max(1)).zip(labels) {
        row[l] = 1.0;
    }
    let data = HostData::from_f64_vec(&values, dtype);
    Ok(Tensor::from_host(data, [labels.len(), classes], device)?)
}

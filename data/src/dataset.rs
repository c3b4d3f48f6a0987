//! The [`Dataset`] trait and the adapters every pipeline is built from: [`TensorDataset`]
//! (samples already in memory as two tensors), [`Subset`] (a view through a list of indices,
//! what splits and k-fold hand out) and [`MapDataset`] (a per-sample function).
//!
//! A data set answers `len`, `get(i)` and `get_batch(indices)`. The loader only ever calls
//! `get_batch`, so a data set whose samples live in one big tensor overrides it with a
//! single gather per tensor instead of `batch_size` small copies and a stack; that is what
//! keeps a 60,000 × 784 MNIST epoch cheap.

use std::sync::Arc;

use lamina_tensor::{Device, Tensor};

use crate::{Error, Result};

/// One example: an input and its target (a label, a regression value, a token shifted by
/// one, ...). Both are tensors without the batch dimension.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The model's input, e.g. `[784]` for a flattened MNIST digit.
    pub input: Tensor,
    /// What the model should predict for it, e.g. a rank-0 `I64` class label.
    pub target: Tensor,
}

impl Sample {
    /// A sample from its two parts.
    pub fn new(input: Tensor, target: Tensor) -> Self {
        Sample { input, target }
    }
}

/// Several samples stacked along a new leading dimension: `inputs` is `[B, ...input]`,
/// `targets` is `[B, ...target]`, and `indices[i]` is the data-set index of row `i`.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Inputs stacked along dim 0.
    pub inputs: Tensor,
    /// Targets stacked along dim 0.
    pub targets: Tensor,
    /// The data-set index of each row, in row order.
    pub indices: Vec<usize>,
}

impl Batch {
    /// The number of samples in the batch.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True for a batch of no samples.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The same batch with both tensors on `device` (no copy when already there).
    pub fn to_device(&self, device: &Device) -> Result<Batch> {
        Ok(Batch {
            inputs: self.inputs.to_device(device)?,
            targets: self.targets.to_device(device)?,
            indices: self.indices.clone(),
        })
    }
}

/// A source of samples addressed by index, `0..len()` (PyTorch's map-style
/// `torch.utils.data.Dataset`).
///
/// `get_batch` has a default body (get each sample, then [`Tensor::stack`] inputs and
/// targets); override it when one gather over a big tensor can do better, as
/// [`TensorDataset`] does. Implementations are `Send + Sync` because loader workers share
/// them across threads.
///
/// ```
/// use std::sync::Arc;
/// use lamina_data::{Dataset, TensorDataset};
/// use lamina_tensor::Tensor;
/// # fn main() -> lamina_data::Result<()> {
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::from_vec((0..6).map(|v| v as f32).collect(), [3, 2], &dev)?;
/// let y = Tensor::from_vec(vec![0i64, 1, 0], [3], &dev)?;
/// let data: Arc<dyn Dataset> = Arc::new(TensorDataset::new(x, y)?);
/// let batch = data.get_batch(&[2, 0])?;
/// assert_eq!(batch.inputs.to_vec::<f32>()?, vec![4.0, 5.0, 0.0, 1.0]);
/// assert_eq!(batch.targets.to_vec::<i64>()?, vec![0, 0]);
/// assert!(data.get(3).is_err()); // past the end: an error, not a panic
/// # Ok(()) }
/// ```
pub trait Dataset: Send + Sync {
    /// The number of samples.
    fn len(&self) -> usize;

    /// True when there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sample `index`; `index >= len()` is [`Error::Invalid`] naming the index and the
    /// length.
    fn get(&self, index: usize) -> Result<Sample>;

    /// The samples at `indices`, in that order, stacked along dim 0. An empty `indices`
    /// or an index past the end is [`Error::Invalid`].
    fn get_batch(&self, indices: &[usize]) -> Result<Batch> {
        stack_samples(self, indices)
    }
}

/// `Ok` when `index < len`, else the [`Error::Invalid`] every data set returns for an
/// index past its end (`op` names the caller, e.g. `"TensorDataset::get"`).
pub fn check_index(op: &'static str, index: usize, len: usize) -> Result<()> {
    if index < len {
        Ok(())
    } else {
        Err(Error::Invalid {
            op,
            msg: format!("index {index} is out of range for a data set of {len} samples"),
        })
    }
}

/// The default `get_batch`: `get` each index, then stack inputs and targets along dim 0.
/// Public so that an implementation overriding `get_batch` for some cases can fall back
/// to it.
pub fn stack_samples<D: Dataset + ?Sized>(dataset: &D, indices: &[usize]) -> Result<Batch> {
    if indices.is_empty() {
        return Err(Error::Invalid {
            op: "Dataset::get_batch",
            msg: "a batch needs at least one index".into(),
        });
    }
    let samples = indices
        .iter()
        .map(|&i| dataset.get(i))
        .collect::<Result<Vec<_>>>()?;
    let inputs: Vec<&Tensor> = samples.iter().map(|s| &s.input).collect();
    let targets: Vec<&Tensor> = samples.iter().map(|s| &s.target).collect();
    Ok(Batch {
        inputs: Tensor::stack(&inputs, 0)?,
        targets: Tensor::stack(&targets, 0)?,
        indices: indices.to_vec(),
    })
}

impl<D: Dataset + ?Sized> Dataset for Arc<D> {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get(&self, index: usize) -> Result<Sample> {
        (**self).get(index)
    }
    fn get_batch(&self, indices: &[usize]) -> Result<Batch> {
        (**self).get_batch(indices)
    }
}

impl<D: Dataset + ?Sized> Dataset for Box<D> {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get(&self, index: usize) -> Result<Sample> {
        (**self).get(index)
    }
    fn get_batch(&self, indices: &[usize]) -> Result<Batch> {
        (**self).get_batch(indices)
    }
}

impl<D: Dataset + ?Sized> Dataset for &D {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get(&self, index: usize) -> Result<Sample> {
        (**self).get(index)
    }
    fn get_batch(&self, indices: &[usize]) -> Result<Batch> {
        (**self).get_batch(indices)
    }
}

/// Samples held in two tensors whose dim 0 indexes the samples (PyTorch's
/// `TensorDataset(inputs, targets)`): sample `i` is `(inputs[i], targets[i])`.
///
/// `get` returns views (no copy); `get_batch` is one `index_select` per tensor.
#[derive(Clone, Debug)]
pub struct TensorDataset {
    inputs: Tensor,
    targets: Tensor,
}

impl TensorDataset {
    /// Wraps `inputs` `[N, ...]` and `targets` `[N, ...]` (e.g. `[N]` class labels). Both
    /// need rank ≥ 1, the same `N` and the same device.
    pub fn new(inputs: Tensor, targets: Tensor) -> Result<Self> {
        const OP: &str = "TensorDataset::new";
        if inputs.rank() == 0 || targets.rank() == 0 {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "inputs and targets need a sample dimension, got shapes {} and {}",
                    inputs.shape(),
                    targets.shape()
                ),
            });
        }
        if inputs.dims()[0] != targets.dims()[0] {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "inputs {} and targets {} disagree on the number of samples (dim 0)",
                    inputs.shape(),
                    targets.shape()
                ),
            });
        }
        if inputs.device() != targets.device() {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "inputs are on {} but targets are on {}",
                    inputs.device(),
                    targets.device()
                ),
            });
        }
        Ok(TensorDataset { inputs, targets })
    }

    /// All inputs, `[N, ...]`.
    pub fn inputs(&self) -> &Tensor {
        &self.inputs
    }

    /// All targets, `[N, ...]`.
    pub fn targets(&self) -> &Tensor {
        &self.targets
    }
}

impl Dataset for TensorDataset {
    fn len(&self) -> usize {
        self.inputs.dims()[0]
    }

    fn get(&self, index: usize) -> Result<Sample> {
        check_index("TensorDataset::get", index, self.len())?;
        Ok(Sample {
            input: self.inputs.select(0, index)?,
            target: self.targets.select(0, index)?,
        })
    }

    fn get_batch(&self, indices: &[usize]) -> Result<Batch> {
        const OP: &str = "TensorDataset::get_batch";
        if indices.is_empty() {
            return Err(Error::Invalid {
                op: OP,
                msg: "a batch needs at least one index".into(),
            });
        }
        let len = self.len();
        let mut ids = Vec::with_capacity(indices.len());
        for &i in indices {
            check_index(OP, i, len)?;
            ids.push(i as i64);
        }
        let ids = Tensor::from_vec(ids, [indices.len()], self.inputs.device())?;
        Ok(Batch {
            inputs: self.inputs.index_select(0, &ids)?,
            targets: self.targets.index_select(0, &ids)?,
            indices: indices.to_vec(),
        })
    }
}

/// The samples of `dataset` at `indices`, renumbered `0..indices.len()` (PyTorch's
/// `torch.utils.data.Subset`). Splits and k-fold folds become data sets this way.
///
/// A batch's `indices` are positions in the subset, not in the parent.
#[derive(Clone)]
pub struct Subset {
    dataset: Arc<dyn Dataset>,
    indices: Vec<usize>,
}

impl Subset {
    /// The view of `dataset` through `indices`; every index must be below
    /// `dataset.len()` (repeats are allowed).
    pub fn new(dataset: Arc<dyn Dataset>, indices: Vec<usize>) -> Result<Self> {
        let len = dataset.len();
        if let Some((pos, &bad)) = indices.iter().enumerate().find(|(_, &i)| i >= len) {
            return Err(Error::Invalid {
                op: "Subset::new",
                msg: format!(
                    "indices[{pos}] = {bad} is out of range for a data set of {len} samples"
                ),
            });
        }
        Ok(Subset { dataset, indices })
    }

    /// The parent indices, in subset order.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The parent data set.
    pub fn dataset(&self) -> &Arc<dyn Dataset> {
        &self.dataset
    }
}

impl std::fmt::Debug for Subset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Subset({} of {} samples)",
            self.indices.len(),
            self.dataset.len()
        )
    }
}

impl Dataset for Subset {
    fn len(&self) -> usize {
        self.indices.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        check_index("Subset::get", index, self.len())?;
        self.dataset.get(self.indices[index])
    }

    fn get_batch(&self, indices: &[usize]) -> Result<Batch> {
        let len = self.len();
        let mut parent = Vec::with_capacity(indices.len());
        for &i in indices {
            check_index("Subset::get_batch", i, len)?;
            parent.push(self.indices[i]);
        }
        let mut batch = self.dataset.get_batch(&parent)?;
        batch.indices = indices.to_vec();
        Ok(batch)
    }
}

type SampleFn = dyn Fn(Sample) -> Result<Sample> + Send + Sync;

/// `dataset` with `f` applied to every sample as it is read (PyTorch's `transform=`
/// argument; `map` in `tf.data`). Batches are built sample by sample, then stacked.
///
/// ```
/// use lamina_data::{Dataset, MapDataset, Sample, TensorDataset};
/// use lamina_tensor::Tensor;
/// # fn main() -> lamina_data::Result<()> {
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3, 1], &dev)?;
/// let y = Tensor::from_vec(vec![0i64, 1, 2], [3], &dev)?;
/// let doubled = MapDataset::new(TensorDataset::new(x, y)?, |s: Sample| {
///     Ok(Sample::new(s.input.mul_scalar(2.0)?, s.target))
/// });
/// assert_eq!(doubled.get_batch(&[2, 1])?.inputs.to_vec::<f32>()?, vec![6.0, 4.0]);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MapDataset {
    dataset: Arc<dyn Dataset>,
    f: Arc<SampleFn>,
}

impl MapDataset {
    /// `dataset` (any [`Dataset`], including an `Arc<dyn Dataset>`) seen through `f`.
    pub fn new<D: Dataset + 'static>(
        dataset: D,
        f: impl Fn(Sample) -> Result<Sample> + Send + Sync + 'static,
    ) -> Self {
        MapDataset {
            dataset: Arc::new(dataset),
            f: Arc::new(f),
        }
    }
}

impl std::fmt::Debug for MapDataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MapDataset({} samples)", self.dataset.len())
    }
}

impl Dataset for MapDataset {
    fn len(&self) -> usize {
        self.dataset.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        (self.f)(self.dataset.get(index)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Device {
        lamina_backend_cpu::device()
    }

    fn small() -> TensorDataset {
        let x = Tensor::from_vec((0..12).map(|v| v as f32).collect(), [4, 3], &dev()).unwrap();
        let y = Tensor::from_vec(vec![10i64, 11, 12, 13], [4], &dev()).unwrap();
        TensorDataset::new(x, y).unwrap()
    }

    #[test]
    fn get_returns_row_and_label() {
        let d = small();
        let s = d.get(2).unwrap();
        assert_eq!(s.input.to_vec::<f32>().unwrap(), vec![6.0, 7.0, 8.0]);
        assert_eq!(s.target.to_vec::<i64>().unwrap(), vec![12]);
    }

    #[test]
    fn out_of_range_names_index_and_len() {
        let msg = small().get(4).unwrap_err().to_string();
        assert!(
            msg.contains("index 4") && msg.contains("4 samples"),
            "{msg}"
        );
        let msg = small().get_batch(&[0, 9]).unwrap_err().to_string();
        assert!(msg.contains("index 9"), "{msg}");
    }

    #[test]
    fn mismatched_sample_counts_name_both_shapes() {
        let x = Tensor::zeros([5, 2], lamina_tensor::DType::F32, &dev()).unwrap();
        let y = Tensor::zeros([4], lamina_tensor::DType::I64, &dev()).unwrap();
        let msg = TensorDataset::new(x, y).unwrap_err().to_string();
        assert!(msg.contains("[5, 2]") && msg.contains("[4]"), "{msg}");
    }

    #[test]
    fn default_get_batch_matches_fast_path() {
        // `stack_samples` is the generic path; TensorDataset overrides it with
        // index_select. Both must give the same rows.
        let d = small();
        let idx = [3, 1, 1, 0];
        let fast = d.get_batch(&idx).unwrap();
        let slow = stack_samples(&d, &idx).unwrap();
        assert_eq!(fast.inputs.dims(), slow.inputs.dims());
        assert_eq!(
            fast.inputs.to_vec::<f32>().unwrap(),
            slow.inputs.to_vec::<f32>().unwrap()
        );
        assert_eq!(
            fast.targets.to_vec::<i64>().unwrap(),
            slow.targets.to_vec::<i64>().unwrap()
        );
        assert!(stack_samples(&d, &[]).is_err());
    }

    #[test]
    fn subset_maps_indices_and_validates() {
        let parent: Arc<dyn Dataset> = Arc::new(small());
        assert!(Subset::new(parent.clone(), vec![0, 4]).is_err());
        let sub = Subset::new(parent, vec![3, 0]).unwrap();
        assert_eq!(sub.len(), 2);
        let b = sub.get_batch(&[1, 0]).unwrap();
        assert_eq!(b.targets.to_vec::<i64>().unwrap(), vec![10, 13]);
        assert_eq!(b.indices, vec![1, 0]);
        assert!(sub.get(2).is_err());
    }

    #[test]
    fn map_dataset_applies_per_sample() {
        let m = MapDataset::new(small(), |s: Sample| {
            Ok(Sample::new(s.input.add_scalar(100.0)?, s.target))
        });
        let b = m.get_batch(&[1]).unwrap();
        assert_eq!(b.inputs.to_vec::<f32>().unwrap(), vec![103.0, 104.0, 105.0]);
    }
}

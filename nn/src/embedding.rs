//! `Embedding`: a lookup table of vectors, PyTorch's `nn.Embedding` (`weight
//! [num_embeddings, embedding_dim]`, initialised `N(0, 1)`, the `padding_idx` row zero and
//! without gradient).

use lamina_tensor::random::next_seed;
use lamina_tensor::{DType, Device, Error, Result, Tensor};

use crate::module::prefixed;
use crate::Module;

/// Rows of `weight` picked by the integer `ids` (any shape): the output has shape
/// `ids.shape + [embedding_dim]` (PyTorch `F.embedding`). The row `padding_idx`, if
/// given, gets no gradient.
///
/// ```
/// use lamina_nn::functional::embedding;
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let w = Tensor::new(&[[0.0f32, 0.0], [1.0, 2.0], [3.0, 4.0]], &dev)?;
/// let ids = Tensor::new(&[[2i64, 1], [0, 2]], &dev)?;
/// let e = embedding(&ids, &w, Some(0))?;
/// assert_eq!(e.to_vec3::<f32>()?, [[[3.0, 4.0], [1.0, 2.0]], [[0.0, 0.0], [3.0, 4.0]]]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
pub fn embedding(ids: &Tensor, weight: &Tensor, padding_idx: Option<usize>) -> Result<Tensor> {
    const OP: &str = "embedding";
    if weight.rank() != 2 {
        return Err(Error::Invalid {
            op: OP,
            msg: format!("weight {}: expected [num_embeddings, dim]", weight.shape()),
        });
    }
    let (rows, dim) = (weight.dims()[0], weight.dims()[1]);
    if !matches!(ids.dtype(), DType::I64 | DType::U32) {
        return Err(Error::UnsupportedDType {
            op: OP,
            dtype: ids.dtype(),
        });
    }
    if let Some(p) = padding_idx.filter(|&p| p >= rows) {
        return Err(Error::Invalid {
            op: OP,
            msg: format!("padding_idx {p} is not a row of the {rows}-row weight"),
        });
    }
    // Values of every row, but the padding row's from a detached copy: no gradient.
    let table = match padding_idx {
        Some(p) => {
            let keep = Tensor::arange_of(0i64, rows as i64, 1, weight.device())?
                .ne_scalar(p as f64)?
                .reshape([rows, 1])?;
            Tensor::where_(&keep, weight, &weight.detach())?
        }
        None => weight.clone(),
    };
    let mut shape = ids.dims().to_vec();
    shape.push(dim);
    table
        .index_select(0, &ids.flatten_all()?)
        .map_err(|e| e.context(format!("embedding of a {rows}-row table")))?
        .reshape(shape)
}

/// PyTorch's `nn.Embedding`.
///
/// ```
/// use lamina_nn::{Embedding, Module};
/// use lamina_tensor::Tensor;
/// let dev = lamina_backend_cpu::device();
/// let emb = Embedding::builder(100, 16).padding_idx(0).seed(1).build(&dev)?;
/// let ids = Tensor::new(&[[5i64, 0, 7]], &dev)?;
/// assert_eq!(emb.forward(&ids)?.dims(), &[1, 3, 16]);
/// assert_eq!(emb.weight.i(0)?.abs()?.sum_all()?.to_scalar::<f32>()?, 0.0);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Embedding {
    /// `[num_embeddings, embedding_dim]`.
    pub weight: Tensor,
    pub padding_idx: Option<usize>,
}

impl Embedding {
    /// PyTorch's defaults (`N(0, 1)`, f32), its seed from the global stream.
    pub fn new(num_embeddings: usize, embedding_dim: usize, device: &Device) -> Result<Embedding> {
        Embedding::builder(num_embeddings, embedding_dim).build(device)
    }

    pub fn builder(num_embeddings: usize, embedding_dim: usize) -> EmbeddingBuilder {
        EmbeddingBuilder {
            num_embeddings,
            embedding_dim,
            padding_idx: None,
            seed: None,
            dtype: DType::F32,
        }
    }
}

/// Options of an [`Embedding`].
#[derive(Clone, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build`"]
pub struct EmbeddingBuilder {
    num_embeddings: usize,
    embedding_dim: usize,
    padding_idx: Option<usize>,
    seed: Option<u64>,
    dtype: DType,
}

impl EmbeddingBuilder {
    /// The row that stays zero and gets no gradient.
    pub fn padding_idx(mut self, idx: usize) -> Self {
        self.padding_idx = Some(idx);
        self
    }
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }
    pub fn build(&self, device: &Device) -> Result<Embedding> {
        let seed = self.seed.unwrap_or_else(next_seed);
        let shape = [self.num_embeddings, self.embedding_dim];
        let mut weight = Tensor::randn(seed, shape, self.dtype, device)?;
        if let Some(p) = self.padding_idx {
            if p >= self.num_embeddings {
                return Err(Error::Invalid {
                    op: "Embedding",
                    msg: format!(
                        "padding_idx {p} is not below num_embeddings {}",
                        self.num_embeddings
                    ),
                });
            }
            let keep = Tensor::arange_of(0i64, self.num_embeddings as i64, 1, device)?
                .ne_scalar(p as f64)?
                .reshape([self.num_embeddings, 1])?;
            weight = Tensor::where_(&keep, &weight, &weight.zeros_like()?)?;
        }
        Ok(Embedding {
            weight,
            padding_idx: self.padding_idx,
        })
    }
}

impl Module for Embedding {
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        embedding(ids, &self.weight, self.padding_idx).map_err(|e| e.context(self.name()))
    }
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        f(prefixed(prefix, "weight"), &self.weight);
    }
    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        f(prefixed(prefix, "weight"), &mut self.weight);
    }
    fn set_training(&mut self, _: bool) {}
    fn name(&self) -> String {
        let d = self.weight.dims();
        format!("Embedding({}, {})", d[0], d[1])
    }
}

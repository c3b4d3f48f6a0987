//! Joining and splitting: `cat`, `stack` (copies), `split`, `chunk` (views).

use crate::hook::{self, Op};
use crate::shape::resolve_dim;
use crate::{Error, Layout, Result, Shape, Tensor};

impl Tensor {
    /// Concatenates along `dim`; all other dims, dtypes and devices must agree.
    pub fn cat(tensors: &[&Tensor], dim: isize) -> Result<Tensor> {
        const OP: &str = "cat";
        let first = *tensors.first().ok_or_else(|| Error::Invalid {
            op: OP,
            msg: "needs at least one tensor".into(),
        })?;
        let rank = first.rank();
        let d = resolve_dim(dim, rank, OP)?;
        let mut total = 0;
        for t in tensors {
            first.check_same(t, OP)?;
            let same_rest = t.rank() == rank
                && t.dims()
                    .iter()
                    .zip(first.dims())
                    .enumerate()
                    .all(|(i, (a, b))| i == d || a == b);
            if !same_rest {
                return Err(Error::ShapeMismatch {
                    op: OP,
                    lhs: first.shape().clone(),
                    rhs: t.shape().clone(),
                });
            }
            total += t.dims()[d];
        }
        let mut dims = first.dims().to_vec();
        dims[d] = total;
        let shape = Shape::new(dims);
        let backend = first.device().backend();
        let out_layout = Layout::contiguous(shape.clone());
        // The parts cover the output: every element is written.
        let mut storage = backend.empty(shape.elem_count(), first.dtype())?;
        let dst = triomphe::Arc::get_mut(&mut storage).ok_or_else(|| Error::Backend {
            backend: backend.name(),
            msg: "empty returned a shared storage".into(),
        })?;
        let mut start = 0;
        for t in tensors {
            let len = t.dims()[d];
            if len > 0 {
                let part = out_layout.narrow(d, start, len)?;
                backend.copy_strided(t.storage(), t.layout(), dst, &part)?;
            }
            start += len;
        }
        let out = Tensor::from_storage(storage, out_layout, *first.device());
        hook::record(|| Op::Cat { dim: d }, tensors, &out);
        Ok(out)
    }

    /// Stacks equal-shaped tensors along a new dimension `dim`.
    pub fn stack(tensors: &[&Tensor], dim: isize) -> Result<Tensor> {
        const OP: &str = "stack";
        let first = *tensors.first().ok_or_else(|| Error::Invalid {
            op: OP,
            msg: "needs at least one tensor".into(),
        })?;
        let d = resolve_dim(dim, first.rank() + 1, OP)? as isize;
        let mut parts = Vec::with_capacity(tensors.len());
        for t in tensors {
            if t.shape() != first.shape() {
                return Err(Error::ShapeMismatch {
                    op: OP,
                    lhs: first.shape().clone(),
                    rhs: t.shape().clone(),
                });
            }
            parts.push(t.unsqueeze(d)?);
        }
        let refs: Vec<&Tensor> = parts.iter().collect();
        Tensor::cat(&refs, d)
    }

    /// Views of `size` elements along `dim` (the last may be shorter); an empty dim gives
    /// one empty view, whatever the size (PyTorch).
    pub fn split(&self, size: usize, dim: isize) -> Result<Vec<Tensor>> {
        let d = resolve_dim(dim, self.rank(), "split")?;
        let n = self.dims()[d];
        if size == 0 && n > 0 {
            return Err(Error::Invalid {
                op: "split",
                msg: format!("split size must be positive for dimension {d} of size {n}"),
            });
        }
        let mut out = Vec::with_capacity(n.div_ceil(size.max(1)));
        let mut start = 0;
        while start < n {
            let len = size.min(n - start);
            out.push(self.narrow(d as isize, start, len)?);
            start += len;
        }
        if n == 0 {
            out.push(self.clone());
        }
        Ok(out)
    }

    /// Views of explicit sizes along `dim`; the sizes must add up to the dim.
    pub fn split_sizes(&self, sizes: &[usize], dim: isize) -> Result<Vec<Tensor>> {
        let d = resolve_dim(dim, self.rank(), "split")?;
        let n = self.dims()[d];
        if sizes.iter().sum::<usize>() != n {
            return Err(Error::Invalid {
                op: "split",
                msg: format!(
                    "sizes {sizes:?} do not add up to dimension {d} of {}",
                    self.shape()
                ),
            });
        }
        let mut start = 0;
        let mut out = Vec::with_capacity(sizes.len());
        for &len in sizes {
            out.push(self.narrow(d as isize, start, len)?);
            start += len;
        }
        Ok(out)
    }

    /// `chunks` views along `dim`, each `ceil(n / chunks)` long (PyTorch `chunk`: there
    /// may be fewer than `chunks`; an empty dim gives `chunks` empty views).
    pub fn chunk(&self, chunks: usize, dim: isize) -> Result<Vec<Tensor>> {
        if chunks == 0 {
            return Err(Error::Invalid {
                op: "chunk",
                msg: "number of chunks must be positive".into(),
            });
        }
        let d = resolve_dim(dim, self.rank(), "chunk")?;
        let n = self.dims()[d];
        if n == 0 {
            return (0..chunks).map(|_| self.narrow(d as isize, 0, 0)).collect();
        }
        self.split(n.div_ceil(chunks), d as isize)
    }
}

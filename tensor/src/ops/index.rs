//! Indexing by tensors: `index_select`, `gather`, `scatter_add`, `one_hot`.

use crate::hook::{self, Op};
use crate::shape::resolve_dim;
use crate::{DType, Error, Layout, Result, Tensor};

fn check_index_dtype(ids: &Tensor, op: &'static str) -> Result<()> {
    match ids.dtype() {
        DType::I64 | DType::U32 => Ok(()),
        dtype => Err(Error::UnsupportedDType { op, dtype }),
    }
}

impl Tensor {
    /// Slices of `self` along `dim` picked by the 1-D integer tensor `ids` (PyTorch
    /// `index_select`); an out-of-range index is an error.
    pub fn index_select(&self, dim: isize, ids: &Tensor) -> Result<Tensor> {
        const OP: &str = "index_select";
        self.check_device(ids, OP)?;
        check_index_dtype(ids, OP)?;
        if ids.rank() != 1 {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("indices must be 1-D, got shape {}", ids.shape()),
            });
        }
        let d = resolve_dim(dim, self.rank(), OP)?;
        let mut dims = self.dims().to_vec();
        dims[d] = ids.elem_count();
        let storage = self.device().backend().index_select(
            self.storage(),
            self.layout(),
            d,
            ids.storage(),
            ids.layout(),
        )?;
        let out = Tensor::from_storage(storage, Layout::contiguous(dims), *self.device());
        hook::record(|| Op::IndexSelect { dim: d }, &[self, ids], &out);
        Ok(out)
    }

    /// `out[..][i][..] = self[..][ids[..][i][..]][..]` along `dim` (PyTorch `gather`):
    /// `ids` has self's rank and is no larger in any other dim; the output has its shape.
    pub fn gather(&self, dim: isize, ids: &Tensor) -> Result<Tensor> {
        const OP: &str = "gather";
        self.check_device(ids, OP)?;
        check_index_dtype(ids, OP)?;
        let d = resolve_dim(dim, self.rank().max(1), OP)?;
        let fits = ids.rank() == self.rank()
            && ids
                .dims()
                .iter()
                .zip(self.dims())
                .enumerate()
                .all(|(i, (a, b))| i == d || a <= b);
        if !fits {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: self.shape().clone(),
                rhs: ids.shape().clone(),
            });
        }
        let storage = self.device().backend().gather(
            self.storage(),
            self.layout(),
            d,
            ids.storage(),
            ids.layout(),
        )?;
        let out = Tensor::from_storage(
            storage,
            Layout::contiguous(ids.shape().clone()),
            *self.device(),
        );
        hook::record(|| Op::Gather { dim: d }, &[self, ids], &out);
        Ok(out)
    }

    /// A copy of `self` with `src` added at the positions `ids` names along `dim`
    /// (PyTorch `scatter_add`): `out[..][ids[..][i][..]][..] += src[..][i][..]`.
    pub fn scatter_add(&self, dim: isize, ids: &Tensor, src: &Tensor) -> Result<Tensor> {
        const OP: &str = "scatter_add";
        self.check_same(src, OP)?;
        self.check_device(ids, OP)?;
        check_index_dtype(ids, OP)?;
        let d = resolve_dim(dim, self.rank().max(1), OP)?;
        let fits = ids.rank() == self.rank()
            && src.rank() == self.rank()
            && ids.dims().iter().zip(src.dims()).all(|(a, b)| a <= b)
            && ids
                .dims()
                .iter()
                .zip(self.dims())
                .enumerate()
                .all(|(i, (a, b))| i == d || a <= b);
        if !fits {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: ids.shape().clone(),
                rhs: src.shape().clone(),
            });
        }
        // The copy is an implementation detail: recorded as one ScatterAdd below.
        let mut out = hook::paused(|| self.copy())?;
        let backend = self.device().backend();
        let inner = triomphe::Arc::get_mut(&mut out.0).ok_or_else(|| Error::Invalid {
            op: OP,
            msg: "fresh copy is shared".into(),
        })?;
        let dst = triomphe::Arc::get_mut(&mut inner.storage).ok_or_else(|| Error::Invalid {
            op: OP,
            msg: "fresh copy is shared".into(),
        })?;
        // `src` may be larger than `ids`: only its leading block of ids' shape is used.
        let src_layout = if src.shape() == ids.shape() {
            src.layout().clone()
        } else {
            let mut l = src.layout().clone();
            for (i, &n) in ids.dims().iter().enumerate() {
                l = l.narrow(i, 0, n)?;
            }
            l
        };
        backend.scatter_add(
            dst,
            &inner.layout,
            d,
            ids.storage(),
            ids.layout(),
            src.storage(),
            &src_layout,
        )?;
        hook::record(|| Op::ScatterAdd { dim: d }, &[self, ids, src], &out);
        Ok(out)
    }

    /// One-hot encoding of an integer tensor: shape `[..., classes]`, dtype `I64`. Every
    /// value must be in `0..classes`.
    pub fn one_hot(&self, classes: usize) -> Result<Tensor> {
        const OP: &str = "one_hot";
        check_index_dtype(self, OP)?;
        let values = self.to_f64_vec()?;
        if let Some(&bad) = values.iter().find(|&&v| v < 0.0 || v >= classes as f64) {
            return Err(Error::IndexOutOfBounds {
                op: OP,
                index: bad as i64,
                dim: self.rank(),
                size: classes,
            });
        }
        let classes_t = Tensor::arange(0.0, classes as f64, 1.0, self.dtype(), self.device())?;
        self.unsqueeze(-1)?.eq(&classes_t)?.to_dtype(DType::I64)
    }
}

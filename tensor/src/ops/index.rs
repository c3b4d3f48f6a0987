//! Indexing by tensors: `index_select`, `gather`, `scatter` (overwrite, add, reduce),
//! `one_hot`.

use crate::hook::{self, Op};
use crate::shape::resolve_dim;
use crate::{DType, Error, Layout, Result, ScatterReduce, Tensor};

fn check_index_dtype(ids: &Tensor, op: &'static str) -> Result<()> {
    match ids.dtype() {
        DType::I64 | DType::U32 => Ok(()),
        dtype => Err(Error::UnsupportedDType { op, dtype }),
    }
}

/// `t` as a one-element line when it is 0-d (how PyTorch's gather and scatter see a
/// scalar), else `t`.
fn as_line(t: &Tensor) -> Result<Tensor> {
    if t.rank() == 0 {
        t.reshape([1usize])
    } else {
        Ok(t.clone())
    }
}

impl Tensor {
    /// Slices of `self` along `dim` picked by the 1-D (or 0-d: one slice) integer tensor
    /// `ids` (PyTorch `index_select`); an out-of-range index is an error. A 0-d `self`
    /// takes one index, 0, and stays 0-d.
    pub fn index_select(&self, dim: isize, ids: &Tensor) -> Result<Tensor> {
        const OP: &str = "index_select";
        self.check_device(ids, OP)?;
        check_index_dtype(ids, OP)?;
        if ids.rank() > 1 {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("indices must be 0-D or 1-D, got shape {}", ids.shape()),
            });
        }
        if self.rank() == 0 {
            resolve_dim(dim, 1, OP)?;
            if ids.elem_count() != 1 {
                return Err(Error::Invalid {
                    op: OP,
                    msg: format!(
                        "a 0-d tensor takes exactly one index, got {}",
                        ids.elem_count()
                    ),
                });
            }
            return as_line(self)?.index_select(0, &as_line(ids)?)?.reshape(());
        }
        if ids.rank() == 0 {
            return self.index_select(dim, &as_line(ids)?);
        }
        let d = resolve_dim(dim, self.rank(), OP)?;
        let mut dims = self.dims().to_vec();
        dims[d] = ids.elem_count();
        if dims.contains(&0) && ids.elem_count() > 0 {
            // The kernel reads no index for an empty output: check them here.
            let size = self.dims()[d];
            if let Some(&bad) = ids
                .to_f64_vec()?
                .iter()
                .find(|&&v| v < 0.0 || v >= size as f64)
            {
                return Err(Error::IndexOutOfBounds {
                    op: OP,
                    index: bad as i64,
                    dim: d,
                    size,
                });
            }
        }
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
    /// As in PyTorch, a 0-d `self` or `ids` counts as a one-element line.
    pub fn gather(&self, dim: isize, ids: &Tensor) -> Result<Tensor> {
        const OP: &str = "gather";
        self.check_device(ids, OP)?;
        check_index_dtype(ids, OP)?;
        if self.rank() == 0 || ids.rank() == 0 {
            resolve_dim(dim, self.rank().max(1), OP)?;
            let (x, i) = (as_line(self)?, as_line(ids)?);
            if x.rank() != 1 || i.rank() != 1 {
                return Err(Error::ShapeMismatch {
                    op: OP,
                    lhs: self.shape().clone(),
                    rhs: ids.shape().clone(),
                });
            }
            return x.gather(0, &i)?.reshape(ids.shape());
        }
        let d = resolve_dim(dim, self.rank(), OP)?;
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
        self.scatter_impl(dim, ids, src, ScatterReduce::Sum, true)
    }

    /// A copy of `self` with `src` written at the positions `ids` names along `dim`
    /// (PyTorch `scatter`): `out[..][ids[..][i][..]][..] = src[..][i][..]`. Where indices
    /// repeat, the last write wins (PyTorch leaves that order unspecified).
    pub fn scatter(&self, dim: isize, ids: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.scatter_impl(dim, ids, src, ScatterReduce::Replace, true)
    }

    /// `scatter` of one value at every position `ids` names (PyTorch `scatter(dim,
    /// index, value)`).
    pub fn scatter_value(&self, dim: isize, ids: &Tensor, value: f64) -> Result<Tensor> {
        let src = Tensor::full(value, ids.shape(), self.dtype(), self.device())?;
        self.scatter(dim, ids, &src)
    }

    /// A copy of `self` with `src` combined into the positions `ids` names along `dim`
    /// (PyTorch `scatter_reduce`): `reduce` is sum, prod, mean, amax or amin; without
    /// `include_self` the original values at written positions do not take part.
    pub fn scatter_reduce(
        &self,
        dim: isize,
        ids: &Tensor,
        src: &Tensor,
        reduce: ScatterReduce,
        include_self: bool,
    ) -> Result<Tensor> {
        self.scatter_impl(dim, ids, src, reduce, include_self)
    }

    fn scatter_impl(
        &self,
        dim: isize,
        ids: &Tensor,
        src: &Tensor,
        reduce: ScatterReduce,
        include_self: bool,
    ) -> Result<Tensor> {
        let op = reduce.name();
        // Same dtype, as PyTorch's scatter requires (no silent cast of the source).
        self.check_same(src, op)?;
        self.check_device(ids, op)?;
        check_index_dtype(ids, op)?;
        if self.rank() == 0 || ids.rank() == 0 || src.rank() == 0 {
            // As in PyTorch, a 0-d tensor counts as a one-element line: scatter as rank 1
            // and give the result self's shape again.
            resolve_dim(dim, self.rank().max(1), op)?;
            let (x, i, s) = (as_line(self)?, as_line(ids)?, as_line(src)?);
            if x.rank() != 1 || i.rank() != 1 || s.rank() != 1 {
                return Err(Error::ShapeMismatch {
                    op,
                    lhs: ids.shape().clone(),
                    rhs: src.shape().clone(),
                });
            }
            return x
                .scatter_impl(0, &i, &s, reduce, include_self)?
                .reshape(self.shape());
        }
        let d = resolve_dim(dim, self.rank(), op)?;
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
                op,
                lhs: ids.shape().clone(),
                rhs: src.shape().clone(),
            });
        }
        // The copy is an implementation detail: recorded as one Scatter below.
        let mut out = hook::paused(|| self.copy())?;
        let backend = self.device().backend();
        let inner = triomphe::Arc::get_mut(&mut out.0).ok_or_else(|| Error::Invalid {
            op,
            msg: "fresh copy is shared".into(),
        })?;
        let dst = triomphe::Arc::get_mut(&mut inner.storage).ok_or_else(|| Error::Invalid {
            op,
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
        backend.scatter(
            reduce,
            include_self,
            dst,
            &inner.layout,
            d,
            ids.storage(),
            ids.layout(),
            src.storage(),
            &src_layout,
        )?;
        hook::record(
            || Op::Scatter {
                dim: d,
                reduce,
                include_self,
            },
            &[self, ids, src],
            &out,
        );
        Ok(out)
    }

    /// The 1-D index `ids` laid along `dim` and expanded to `shape` (the index of the
    /// `index_*` ops as a `scatter` index).
    fn index_along(
        &self,
        dim: usize,
        ids: &Tensor,
        shape: &[usize],
        op: &'static str,
    ) -> Result<Tensor> {
        check_index_dtype(ids, op)?;
        if ids.rank() > 1 {
            return Err(Error::Invalid {
                op,
                msg: format!("indices must be 1-D, got shape {}", ids.shape()),
            });
        }
        let mut view = vec![1usize; shape.len()];
        view[dim] = ids.elem_count();
        ids.reshape(view)?.broadcast_to(shape.to_vec())
    }

    /// `self` with `alpha * source` added at the slices `ids` names along `dim` (PyTorch
    /// `index_add`): `source` has self's shape with `dim` of `ids`' length. For integer
    /// and bool tensors `alpha` is truncated to an integer, as PyTorch does.
    pub fn index_add(
        &self,
        dim: isize,
        ids: &Tensor,
        source: &Tensor,
        alpha: f64,
    ) -> Result<Tensor> {
        const OP: &str = "index_add";
        let (d, src) = self.index_source(dim, ids, source, OP)?;
        let src = if alpha == 1.0 {
            src
        } else if self.dtype().is_float() {
            src.mul_scalar(alpha)?
        } else {
            src.mul_scalar(alpha.trunc())?.to_dtype(self.dtype())?
        };
        let full = self.index_along(d, ids, src.dims(), OP)?;
        self.scatter_add(d as isize, &full, &src)
    }

    /// `self` with the slices `ids` names along `dim` replaced by `source`'s (PyTorch
    /// `index_copy`; with repeated indices the last copy wins).
    pub fn index_copy(&self, dim: isize, ids: &Tensor, source: &Tensor) -> Result<Tensor> {
        const OP: &str = "index_copy";
        let (d, src) = self.index_source(dim, ids, source, OP)?;
        let full = self.index_along(d, ids, src.dims(), OP)?;
        self.scatter(d as isize, &full, &src)
    }

    /// `self` with the slices `ids` names along `dim` set to `value` (PyTorch
    /// `index_fill`; a negative index counts from the end).
    pub fn index_fill(&self, dim: isize, ids: &Tensor, value: f64) -> Result<Tensor> {
        const OP: &str = "index_fill";
        if self.rank() == 0 {
            resolve_dim(dim, 1, OP)?;
            return as_line(self)?.index_fill(0, ids, value)?.reshape(());
        }
        let d = resolve_dim(dim, self.rank(), OP)?;
        check_index_dtype(ids, OP)?;
        let negative = ids.lt_scalar(0.0)?;
        let ids = if ids.dtype() == DType::I64 && negative.any()? {
            &Tensor::where_(&negative, &ids.add_scalar(self.dims()[d] as f64)?, ids)?
        } else {
            ids
        };
        let mut shape = self.dims().to_vec();
        shape[d] = ids.elem_count();
        let full = self.index_along(d, ids, &shape, OP)?;
        self.scatter_value(d as isize, &full, value)
    }

    fn index_source(
        &self,
        dim: isize,
        ids: &Tensor,
        source: &Tensor,
        op: &'static str,
    ) -> Result<(usize, Tensor)> {
        let d = resolve_dim(dim, self.rank(), op)?;
        let mut want = self.dims().to_vec();
        want[d] = ids.elem_count();
        if source.dims() != want.as_slice() {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.shape().clone(),
                rhs: source.shape().clone(),
            });
        }
        self.check_same(source, op)?;
        Ok((d, source.clone()))
    }

    /// The elements where `mask` (broadcast with self) is non-zero, as a 1-D tensor in
    /// row-major order (PyTorch `masked_select`).
    pub fn masked_select(&self, mask: &Tensor) -> Result<Tensor> {
        const OP: &str = "masked_select";
        self.check_device(mask, OP)?;
        let shape = self.shape().broadcast(mask.shape(), OP)?;
        let x = self.broadcast_to(&shape)?.flatten_all()?;
        let m = mask.broadcast_to(&shape)?.flatten_all()?;
        let ids = m.nonzero()?.flatten_all()?;
        x.index_select(0, &ids)
    }

    /// The multi-indices of the non-zero elements, `[count, rank]` `I64`, in row-major
    /// order (PyTorch `nonzero`). The count depends on the data, so this reads it.
    pub fn nonzero(&self) -> Result<Tensor> {
        let values = self.to_bool()?.to_host()?;
        let crate::HostData::Bool(values) = values else {
            return Err(Error::Invalid {
                op: "nonzero",
                msg: "a bool tensor read back as another dtype".into(),
            });
        };
        let dims = self.dims();
        let mut out = Vec::new();
        let mut count = 0;
        for (flat, &v) in values.iter().enumerate() {
            if v {
                count += 1;
                let mut rest = flat;
                let start = out.len();
                out.resize(start + dims.len(), 0i64);
                for (k, &n) in dims.iter().enumerate().rev() {
                    out[start + k] = (rest % n) as i64;
                    rest /= n;
                }
            }
        }
        Tensor::from_vec(out, [count, dims.len()], self.device())
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

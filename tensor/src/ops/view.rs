//! View ops: layout arithmetic only, O(1), sharing the storage. `reshape` copies only
//! when the strides make a view impossible; `view` refuses instead.

use crate::hook::{self, Op};
use crate::shape::{push_all, resolve_dim, resolve_dims};
use crate::{DimVec, Dims, Error, Result, Shape, ShapeArg, Tensor};

impl Tensor {
    /// A view through `layout`, recorded as `op`.
    fn view_op(&self, layout: crate::Layout, op: impl FnOnce() -> Op) -> Tensor {
        let out = self.view_with(layout);
        hook::record(op, &[self], &out);
        out
    }

    /// Resolves a target shape with at most one `-1` against this tensor's element count.
    fn infer_shape(&self, spec: &[isize], op: &'static str) -> Result<Shape> {
        let count = self.elem_count();
        let err = || Error::Reshape {
            op,
            src: self.shape().clone(),
            src_count: count,
            dst: format!("{spec:?}"),
        };
        let mut infer = None;
        let mut known = 1usize;
        for (i, &d) in spec.iter().enumerate() {
            match d {
                -1 if infer.is_none() => infer = Some(i),
                d if d < 0 => return Err(err()),
                d => known = known.checked_mul(d as usize).ok_or_else(err)?,
            }
        }
        let mut dims: DimVec = push_all(spec.iter().map(|&d| d.max(0) as usize));
        if let Some(i) = infer {
            if known == 0 || !count.is_multiple_of(known) {
                return Err(err());
            }
            dims[i] = count / known;
        } else if known != count {
            return Err(err());
        }
        Ok(Shape::from_dims(&dims))
    }

    /// The same elements in a new shape (one dim may be `-1`). A view when the strides
    /// allow it, else a contiguous copy (PyTorch `reshape`).
    pub fn reshape(&self, shape: impl ShapeArg) -> Result<Tensor> {
        let shape = self.infer_shape(&shape.to_isize_dims(), "reshape")?;
        if &shape == self.shape() {
            return Ok(self.clone());
        }
        match self.layout().reshape(&shape) {
            Some(layout) => Ok(self.view_op(layout, || Op::Reshape)),
            None => {
                let c = self.copy()?;
                let layout = c.layout().reshape(&shape).ok_or_else(|| Error::Invalid {
                    op: "reshape",
                    msg: "contiguous copy could not be reshaped".into(),
                })?;
                Ok(c.view_op(layout, || Op::Reshape))
            }
        }
    }

    /// Like `reshape`, but never copies: errors when the strides do not allow a view.
    pub fn view(&self, shape: impl ShapeArg) -> Result<Tensor> {
        let shape = self.infer_shape(&shape.to_isize_dims(), "view")?;
        match self.layout().reshape(&shape) {
            Some(layout) => Ok(self.view_op(layout, || Op::Reshape)),
            None => Err(Error::Invalid {
                op: "view",
                msg: format!(
                    "shape {shape} is not compatible with the strides {:?} of {}; use reshape (which copies)",
                    self.layout().strides(),
                    self.shape()
                ),
            }),
        }
    }

    /// Reorders the dimensions.
    pub fn permute(&self, dims: impl Dims) -> Result<Tensor> {
        let perm = resolve_dims(&dims.to_dims(), self.rank(), "permute")?;
        let layout = self.layout().permute(&perm)?;
        Ok(self.view_op(layout, || Op::Permute(perm.to_vec())))
    }

    /// Swaps two dimensions.
    pub fn transpose(&self, d0: isize, d1: isize) -> Result<Tensor> {
        if self.rank() == 0 {
            // A scalar accepts dims 0 and -1 (PyTorch).
            resolve_dim(d0, 1, "transpose")?;
            resolve_dim(d1, 1, "transpose")?;
            return Ok(self.clone());
        }
        let a = resolve_dim(d0, self.rank(), "transpose")?;
        let b = resolve_dim(d1, self.rank(), "transpose")?;
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        Ok(self.view_op(self.layout().transpose(a, b), || Op::Permute(perm)))
    }

    /// Transpose of a tensor of rank ≤ 2 (PyTorch `t`).
    pub fn t(&self) -> Result<Tensor> {
        match self.rank() {
            0 | 1 => Ok(self.clone()),
            2 => self.transpose(0, 1),
            r => Err(Error::Invalid {
                op: "t",
                msg: format!(
                    "expects a tensor of rank <= 2, got rank {r} ({})",
                    self.shape()
                ),
            }),
        }
    }

    /// Removes dimension `dim` if it has size 1 (no-op otherwise, as PyTorch).
    pub fn squeeze(&self, dim: isize) -> Result<Tensor> {
        if self.rank() == 0 {
            resolve_dim(dim, 1, "squeeze")?;
            return Ok(self.clone());
        }
        let d = resolve_dim(dim, self.rank(), "squeeze")?;
        Ok(self.view_op(self.layout().squeeze(d), || Op::Reshape))
    }

    /// Removes every size-1 dimension.
    pub fn squeeze_all(&self) -> Result<Tensor> {
        let mut layout = self.layout().clone();
        for d in (0..self.rank()).rev() {
            layout = layout.squeeze(d);
        }
        Ok(self.view_op(layout, || Op::Reshape))
    }

    /// Inserts a size-1 dimension at `dim` (`-rank-1..=rank`).
    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        let d = resolve_dim(dim, self.rank() + 1, "unsqueeze")?;
        Ok(self.view_op(self.layout().unsqueeze(d), || Op::Reshape))
    }

    /// Broadcasts to a larger shape without copying (`-1` keeps a dimension), PyTorch
    /// `expand`.
    pub fn expand(&self, shape: impl ShapeArg) -> Result<Tensor> {
        let spec = shape.to_isize_dims();
        let rank = self.rank();
        if spec.len() < rank {
            return Err(Error::Invalid {
                op: "expand",
                msg: format!("target {spec:?} has fewer dims than {}", self.shape()),
            });
        }
        let lead = spec.len() - rank;
        let mut dims = Vec::with_capacity(spec.len());
        for (i, &d) in spec.iter().enumerate() {
            dims.push(match d {
                -1 if i >= lead => self.dims()[i - lead],
                d if d >= 0 => d as usize,
                _ => {
                    return Err(Error::Invalid {
                        op: "expand",
                        msg: format!("invalid size {d} at dim {i} of {spec:?}"),
                    })
                }
            });
        }
        self.broadcast_to(Shape::new(dims))
    }

    /// Broadcasts to `shape` without copying.
    pub fn broadcast_to(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        if &shape == self.shape() {
            return Ok(self.clone());
        }
        let layout = self.layout().broadcast_to(&shape, "expand")?;
        Ok(self.view_op(layout, || Op::Broadcast))
    }

    /// Elements `start..start + len` of dimension `dim`, as a view.
    pub fn narrow(&self, dim: isize, start: usize, len: usize) -> Result<Tensor> {
        let d = resolve_dim(dim, self.rank(), "narrow")?;
        let layout = self.layout().narrow(d, start, len)?;
        Ok(self.view_op(layout, || Op::Slice {
            dim: d,
            start,
            step: 1,
        }))
    }

    /// Sliding windows along `dim` (PyTorch `Tensor.unfold`, a view): `dim` becomes the
    /// `(len - size) / step + 1` window starts and a new last dimension of length `size`
    /// holds each window, so `out[.., i, .., k] = self[.., i * step + k, ..]`. Windows
    /// overlap when `step < size` (the view then cannot be written in place) and skip
    /// elements when `step > size`. A 0-d tensor takes dim 0 or -1 and `size <= 1`, giving
    /// shape `[size]`. Errors when `step` is 0, `size` exceeds the dimension or `dim` is out
    /// of range.
    ///
    /// ```
    /// # use lamina_tensor::{DType, Tensor};
    /// # fn demo(dev: &lamina_tensor::Device) -> lamina_tensor::Result<()> {
    /// let x = Tensor::arange(0.0, 5.0, 1.0, DType::F32, dev)?;
    /// let w = x.unfold(0, 3, 1)?;
    /// assert_eq!(w.dims(), &[3, 3]);
    /// assert_eq!(w.to_vec2::<f32>()?, [[0., 1., 2.], [1., 2., 3.], [2., 3., 4.]]);
    /// assert_eq!(x.unfold(0, 2, 2)?.to_vec2::<f32>()?, [[0., 1.], [2., 3.]]);
    /// # Ok(()) }
    /// ```
    pub fn unfold(&self, dim: isize, size: usize, step: usize) -> Result<Tensor> {
        // A scalar accepts dims 0 and -1 (PyTorch) and unfolds as one element.
        let d = resolve_dim(dim, self.rank().max(1), "unfold")?;
        let layout = self.layout().unfold(d, size, step)?;
        Ok(self.view_op(layout, || Op::Unfold { dim: d, size, step }))
    }

    /// Index `idx` of dimension `dim`, with that dimension removed (a view).
    pub fn select(&self, dim: isize, idx: usize) -> Result<Tensor> {
        let d = resolve_dim(dim, self.rank(), "select")?;
        if idx >= self.dims()[d] {
            return Err(Error::IndexOutOfBounds {
                op: "select",
                index: idx as i64,
                dim: d,
                size: self.dims()[d],
            });
        }
        self.narrow(d as isize, idx, 1)?.squeeze(d as isize)
    }

    /// Merges dims `start..=end` into one (a view when possible).
    pub fn flatten(&self, start: isize, end: isize) -> Result<Tensor> {
        if self.rank() == 0 {
            // A scalar accepts dims 0 and -1 (PyTorch).
            resolve_dim(start, 1, "flatten")?;
            resolve_dim(end, 1, "flatten")?;
            return self.reshape([1usize]);
        }
        let s = resolve_dim(start, self.rank(), "flatten")?;
        let e = resolve_dim(end, self.rank(), "flatten")?;
        if s > e {
            return Err(Error::Invalid {
                op: "flatten",
                msg: format!("start dim {start} comes after end dim {end}"),
            });
        }
        let dims = self.dims();
        let mut out: Vec<usize> = dims[..s].to_vec();
        out.push(dims[s..=e].iter().product());
        out.extend_from_slice(&dims[e + 1..]);
        self.reshape(out)
    }

    /// All dims merged into one.
    pub fn flatten_all(&self) -> Result<Tensor> {
        self.flatten(0, -1)
    }
}

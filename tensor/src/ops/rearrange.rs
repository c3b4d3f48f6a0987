//! Ops that rearrange or repeat elements, written as views, `index_select`, `cat` and
//! `where` (so each gets its gradient from those): `narrow_step`, `slice_scatter`, `flip`,
//! `roll`, `repeat`, `tile`, `repeat_interleave`, `pad`, `tril`, `triu`, `diag`,
//! `diagonal`, `meshgrid`.

use crate::hook::{self, Op};
use crate::ops::scan::resolve_dim_or_scalar;
use crate::shape::{resolve_dim, resolve_dims};
use crate::{DType, Error, Layout, Result, Shape, Tensor};

/// How `pad` fills the new border.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PadMode {
    /// A constant value (PyTorch `mode='constant'`).
    Constant(f64),
    /// Mirror without repeating the edge: `[2, 1 | 0 1 2 3 | 2 1]`.
    Reflect,
    /// Repeat the edge value: `[0, 0 | 0 1 2 3 | 3 3]`.
    Replicate,
    /// Wrap around: `[2, 3 | 0 1 2 3 | 0 1]`.
    Circular,
}

/// How `meshgrid` orders its outputs' dims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indexing {
    /// Matrix indexing: output dim `i` runs along input `i`.
    Ij,
    /// Cartesian indexing: the first two output dims are swapped.
    Xy,
}

fn index_tensor(ids: Vec<i64>, t: &Tensor) -> Result<Tensor> {
    let n = ids.len();
    Tensor::from_vec(ids, [n], t.device())
}

impl Tensor {
    /// `len` elements of `dim` starting at `start`, every `step`-th (a view; `narrow` is
    /// step 1).
    pub fn narrow_step(&self, dim: isize, start: usize, len: usize, step: usize) -> Result<Tensor> {
        const OP: &str = "narrow_step";
        let d = resolve_dim(dim, self.rank(), OP)?;
        let layout = self.layout().slice(d, start, len, step, OP)?;
        let out = self.view_with(layout);
        hook::record(
            || Op::Slice {
                dim: d,
                start,
                step,
            },
            &[self],
            &out,
        );
        Ok(out)
    }

    /// A copy of `self` with `src` written over the slice `start, start + step, ...` of
    /// `dim` (PyTorch `slice_scatter`, the functional form of `x[.., a:b:s] = src`): `src`
    /// has the slice's shape, and as many elements along `dim` as it covers.
    pub fn slice_scatter(
        &self,
        src: &Tensor,
        dim: isize,
        start: usize,
        step: usize,
    ) -> Result<Tensor> {
        const OP: &str = "slice_scatter";
        self.check_device(src, OP)?;
        let d = resolve_dim(dim, self.rank(), OP)?;
        let src = &src.to_dtype(self.dtype())?;
        let len = if src.rank() == self.rank() {
            src.dims()[d]
        } else {
            0
        };
        let mut want = self.dims().to_vec();
        want[d] = len;
        if src.dims() != want.as_slice() {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: self.shape().clone(),
                rhs: src.shape().clone(),
            });
        }
        let mut out = hook::paused(|| self.copy())?;
        let backend = self.device().backend();
        let inner = triomphe::Arc::get_mut(&mut out.0).ok_or_else(|| Error::Invalid {
            op: OP,
            msg: "fresh copy is shared".into(),
        })?;
        let part = inner.layout.slice(d, start, len, step, OP)?;
        let dst = triomphe::Arc::get_mut(&mut inner.storage).ok_or_else(|| Error::Invalid {
            op: OP,
            msg: "fresh copy is shared".into(),
        })?;
        if len > 0 {
            backend.copy_strided(src.storage(), src.layout(), dst, &part)?;
        }
        hook::record(
            || Op::SliceScatter {
                dim: d,
                start,
                step,
            },
            &[self, src],
            &out,
        );
        Ok(out)
    }

    /// Reverses the order of elements along each of `dims` (PyTorch `flip`; a copy). A
    /// dim may be named once; a 0-d tensor takes 0 and -1.
    pub fn flip(&self, dims: impl crate::Dims) -> Result<Tensor> {
        let dims = resolve_dims(&dims.to_dims(), self.rank().max(1), "flip")?;
        if self.rank() == 0 {
            return Ok(self.clone());
        }
        let mut out = self.clone();
        for d in dims {
            let n = self.dims()[d] as i64;
            let ids = index_tensor((0..n).rev().collect(), self)?;
            out = out.index_select(d as isize, &ids)?;
        }
        Ok(out)
    }

    /// Rotates elements along `dims` by `shifts` (PyTorch `roll`): element `i` moves to
    /// `(i + shift) mod n`. With no dims the tensor is rolled as if flattened; a 0-d
    /// tensor has no dim to roll along.
    pub fn roll(&self, shifts: &[isize], dims: &[isize]) -> Result<Tensor> {
        const OP: &str = "roll";
        if dims.is_empty() {
            if shifts.len() != 1 {
                return Err(Error::Invalid {
                    op: OP,
                    msg: format!("without dims, one shift is needed, got {shifts:?}"),
                });
            }
            return self
                .flatten_all()?
                .roll(shifts, &[0])?
                .reshape(self.shape());
        }
        if shifts.len() != dims.len() {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("{} shifts for {} dims", shifts.len(), dims.len()),
            });
        }
        let mut out = self.clone();
        for (&shift, &dim) in shifts.iter().zip(dims) {
            let d = resolve_dim(dim, self.rank(), OP)?;
            let n = self.dims()[d];
            if n == 0 {
                continue;
            }
            let s = shift.rem_euclid(n as isize) as usize;
            if s == 0 {
                continue;
            }
            let di = d as isize;
            out = Tensor::cat(
                &[&out.narrow(di, n - s, s)?, &out.narrow(di, 0, n - s)?],
                di,
            )?;
        }
        Ok(out)
    }

    /// Repeats the whole tensor `sizes[i]` times along dim `i` (PyTorch `repeat`; `sizes`
    /// may be longer than the rank, adding leading dims).
    pub fn repeat(&self, sizes: &[usize]) -> Result<Tensor> {
        const OP: &str = "repeat";
        if sizes.len() < self.rank() {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "needs at least as many repeats as dims, got {sizes:?} for shape {}",
                    self.shape()
                ),
            });
        }
        let lead = sizes.len() - self.rank();
        let mut dims = vec![1usize; lead];
        dims.extend_from_slice(self.dims());
        // [d0, d1, ..] -> [1, d0, 1, d1, ..] -> [r0, d0, r1, d1, ..] -> [r0 d0, r1 d1, ..]
        let mut split = Vec::with_capacity(2 * dims.len());
        let mut expanded = Vec::with_capacity(2 * dims.len());
        for (&r, &d) in sizes.iter().zip(&dims) {
            split.extend([1, d]);
            expanded.extend([r, d]);
        }
        let out: Vec<usize> = sizes
            .iter()
            .zip(&dims)
            .map(|(&r, &d)| r.checked_mul(d))
            .collect::<Option<_>>()
            .ok_or_else(|| Error::Invalid {
                op: OP,
                msg: format!("repeating {} by {sizes:?} overflows", self.shape()),
            })?;
        self.reshape(split)?.broadcast_to(expanded)?.reshape(out)
    }

    /// `repeat` with missing leading repeats taken as 1 (PyTorch `tile`).
    pub fn tile(&self, reps: &[usize]) -> Result<Tensor> {
        let mut sizes = vec![1usize; self.rank().saturating_sub(reps.len())];
        sizes.extend_from_slice(reps);
        self.repeat(&sizes)
    }

    /// Repeats each element `repeats` times along `dim` (PyTorch `repeat_interleave`;
    /// `None` flattens first).
    pub fn repeat_interleave(&self, repeats: usize, dim: Option<isize>) -> Result<Tensor> {
        let x = match dim {
            None => self.flatten_all()?,
            Some(_) => self.clone(),
        };
        let dim = dim.unwrap_or(0);
        let d = resolve_dim_or_scalar(dim, x.rank(), "repeat_interleave")?;
        if x.rank() == 0 {
            return x.reshape([1usize])?.repeat_interleave(repeats, Some(0));
        }
        let mut expanded = x.dims().to_vec();
        expanded.insert(d + 1, repeats);
        let mut out = x.dims().to_vec();
        out[d] = out[d].checked_mul(repeats).ok_or_else(|| Error::Invalid {
            op: "repeat_interleave",
            msg: format!(
                "{repeats} repeats of dimension {d} of {} overflow",
                x.shape()
            ),
        })?;
        x.unsqueeze(d as isize + 1)?
            .broadcast_to(expanded)?
            .reshape(out)
    }

    /// Repeats element `i` along `dim` `repeats[i]` times (PyTorch `repeat_interleave` with
    /// a tensor of counts: 1-D integers, one per element of `dim`).
    pub fn repeat_interleave_tensor(&self, repeats: &Tensor, dim: Option<isize>) -> Result<Tensor> {
        const OP: &str = "repeat_interleave";
        let x = match dim {
            None => self.flatten_all()?,
            Some(_) => self.clone(),
        };
        let d = resolve_dim_or_scalar(dim.unwrap_or(0), x.rank(), OP)?;
        let x = if x.rank() == 0 {
            x.reshape([1usize])?
        } else {
            x
        };
        let n = x.dims()[d];
        if repeats.dtype().is_float() || repeats.rank() > 1 {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "repeats must be a 1-D integer tensor, got {} of shape {}",
                    repeats.dtype(),
                    repeats.shape()
                ),
            });
        }
        let counts = repeats.to_f64_vec()?;
        let counts = match counts.len() {
            1 => vec![counts[0]; n],
            c if c == n => counts,
            c => {
                return Err(Error::Invalid {
                    op: OP,
                    msg: format!("{c} repeats for dimension {d} of size {n}"),
                })
            }
        };
        let mut ids = Vec::new();
        for (i, &c) in counts.iter().enumerate() {
            if c < 0.0 {
                return Err(Error::Invalid {
                    op: OP,
                    msg: format!("repeats must not be negative, got {c} at {i}"),
                });
            }
            ids.extend(std::iter::repeat_n(i as i64, c as usize));
        }
        x.index_select(d as isize, &index_tensor(ids, &x)?)
    }

    /// Pads the last dims (PyTorch `F.pad`): `pads` holds `(before, after)` pairs starting
    /// from the last dim. Negative amounts crop (constant mode). Reflect needs pads
    /// smaller than the dim, circular at most the dim.
    pub fn pad(&self, pads: &[isize], mode: PadMode) -> Result<Tensor> {
        const OP: &str = "pad";
        if !pads.len().is_multiple_of(2) || pads.len() / 2 > self.rank() {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "pads must be (before, after) pairs for at most {} dims, got {pads:?}",
                    self.rank()
                ),
            });
        }
        let mut out = self.clone();
        for (k, pair) in pads.chunks(2).enumerate() {
            let d = self.rank() - 1 - k;
            let (before, after) = (pair[0], pair[1]);
            out = match mode {
                PadMode::Constant(v) => pad_constant(&out, d, before, after, v)?,
                PadMode::Reflect | PadMode::Replicate | PadMode::Circular => {
                    pad_index(&out, d, before, after, mode)?
                }
            };
        }
        Ok(out)
    }

    /// The lower triangle of the last two dims: elements with `col - row <= k` kept, the
    /// rest zero (PyTorch `tril`).
    pub fn tril(&self, k: isize) -> Result<Tensor> {
        self.triangle(k, true)
    }

    /// The upper triangle of the last two dims: elements with `col - row >= k` kept
    /// (PyTorch `triu`).
    pub fn triu(&self, k: isize) -> Result<Tensor> {
        self.triangle(k, false)
    }

    fn triangle(&self, k: isize, lower: bool) -> Result<Tensor> {
        let op = if lower { "tril" } else { "triu" };
        if self.rank() < 2 {
            return Err(Error::Invalid {
                op,
                msg: format!("needs at least 2 dims, got shape {}", self.shape()),
            });
        }
        let (n, m) = (self.dims()[self.rank() - 2], self.dims()[self.rank() - 1]);
        let rows =
            Tensor::arange(0.0, n as f64, 1.0, DType::I64, self.device())?.reshape([n, 1])?;
        let cols =
            Tensor::arange(0.0, m as f64, 1.0, DType::I64, self.device())?.reshape([1, m])?;
        let diff = (&cols - &rows)?;
        let keep = if lower {
            diff.le_scalar(k as f64)?
        } else {
            diff.ge_scalar(k as f64)?
        };
        Tensor::where_(&keep, self, &self.scalar_like(0.0)?)
    }

    /// A 1-D tensor placed on diagonal `k` of a square matrix, or the `k`-th diagonal of
    /// a 2-D tensor (PyTorch `diag`).
    pub fn diag(&self, k: isize) -> Result<Tensor> {
        match self.rank() {
            1 => {
                let n = self.dims()[0];
                let size = n.saturating_add(k.unsigned_abs());
                let count = Shape::from_dims(&[size, size]).checked_size(1, "diag")?;
                let (r0, c0) = if k >= 0 {
                    (0, k as usize)
                } else {
                    ((-k) as usize, 0)
                };
                let ids: Vec<i64> = (0..n).map(|j| ((r0 + j) * size + c0 + j) as i64).collect();
                let flat = Tensor::zeros([count], self.dtype(), self.device())?;
                flat.scatter(0, &index_tensor(ids, self)?, self)?
                    .reshape([size, size])
            }
            2 => self.diagonal(k, 0, 1),
            r => Err(Error::Invalid {
                op: "diag",
                msg: format!(
                    "expects a 1-D or 2-D tensor, got rank {r} ({})",
                    self.shape()
                ),
            }),
        }
    }

    /// The diagonal at `offset` of the matrices in dims `dim1`, `dim2`, as a new last dim
    /// (PyTorch `diagonal`; a copy here, a view there).
    pub fn diagonal(&self, offset: isize, dim1: isize, dim2: isize) -> Result<Tensor> {
        const OP: &str = "diagonal";
        let a = resolve_dim(dim1, self.rank(), OP)?;
        let b = resolve_dim(dim2, self.rank(), OP)?;
        if a == b {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("dim1 and dim2 are the same dim {a}"),
            });
        }
        let (n, m) = (self.dims()[a], self.dims()[b]);
        let (r0, c0) = if offset >= 0 {
            (0, offset as usize)
        } else {
            ((-offset) as usize, 0)
        };
        let len = n.saturating_sub(r0).min(m.saturating_sub(c0));
        let mut perm: Vec<usize> = (0..self.rank()).filter(|&d| d != a && d != b).collect();
        perm.extend([a, b]);
        let moved = self.permute(perm)?;
        let flat = moved.flatten(-2, -1)?;
        let ids: Vec<i64> = (0..len).map(|j| ((r0 + j) * m + c0 + j) as i64).collect();
        flat.index_select(-1, &index_tensor(ids, self)?)
    }

    /// Coordinate grids from 1-D tensors (PyTorch `meshgrid`): output `i` holds input `i`
    /// expanded over the others' lengths (expanded views, no copy).
    pub fn meshgrid(tensors: &[&Tensor], indexing: Indexing) -> Result<Vec<Tensor>> {
        const OP: &str = "meshgrid";
        if tensors.is_empty() {
            return Err(Error::Invalid {
                op: OP,
                msg: "needs at least one tensor".into(),
            });
        }
        let mut lens = Vec::with_capacity(tensors.len());
        for t in tensors {
            if t.rank() > 1 {
                return Err(Error::Invalid {
                    op: OP,
                    msg: format!("expects 0-D or 1-D tensors, got shape {}", t.shape()),
                });
            }
            lens.push(t.elem_count());
        }
        let swap = indexing == Indexing::Xy && tensors.len() >= 2;
        let mut shape = lens.clone();
        if swap {
            shape.swap(0, 1);
        }
        let shape = Shape::new(shape);
        tensors
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let pos = match (swap, i) {
                    (true, 0) => 1,
                    (true, 1) => 0,
                    _ => i,
                };
                let mut view = vec![1usize; lens.len()];
                view[pos] = lens[i];
                t.reshape(view)?.broadcast_to(&shape)
            })
            .collect()
    }
}

fn pad_constant(x: &Tensor, d: usize, before: isize, after: isize, value: f64) -> Result<Tensor> {
    let n = x.dims()[d] as isize;
    let di = d as isize;
    // Negative amounts crop first.
    let (cut_lo, cut_hi) = (
        before.saturating_neg().max(0),
        after.saturating_neg().max(0),
    );
    if cut_lo.saturating_add(cut_hi) > n {
        return Err(Error::Invalid {
            op: "pad",
            msg: format!("cropping {cut_lo} + {cut_hi} from dimension {d} of size {n}"),
        });
    }
    let core = x.narrow(di, cut_lo as usize, (n - cut_lo - cut_hi) as usize)?;
    let block = |len: isize| -> Result<Tensor> {
        let mut dims = x.dims().to_vec();
        dims[d] = len as usize;
        Tensor::full(value, dims, x.dtype(), x.device())
    };
    let mut parts = Vec::with_capacity(3);
    if before > 0 {
        parts.push(block(before)?);
    }
    parts.push(core);
    if after > 0 {
        parts.push(block(after)?);
    }
    let refs: Vec<&Tensor> = parts.iter().collect();
    Tensor::cat(&refs, di)
}

fn pad_index(x: &Tensor, d: usize, before: isize, after: isize, mode: PadMode) -> Result<Tensor> {
    let n = x.dims()[d] as i64;
    let (lo, hi) = (before as i64, after as i64);
    let limit_ok = match mode {
        PadMode::Reflect => lo < n && hi < n,
        PadMode::Replicate => n > 0,
        PadMode::Circular => lo <= n && hi <= n,
        PadMode::Constant(_) => true,
    };
    // The padded length, which must make a tensor that can exist.
    let len = n.checked_add(lo).and_then(|l| l.checked_add(hi));
    let fits = len.is_some_and(|l| {
        let mut dims = x.dims().to_vec();
        dims[d] = l.max(0) as usize;
        Shape::new(dims).checked_size(8, "pad").is_ok()
    });
    if lo < 0 || hi < 0 || !limit_ok || !fits || (n == 0 && lo + hi > 0) {
        return Err(Error::Invalid {
            op: "pad",
            msg: format!(
                "{mode:?} padding ({before}, {after}) does not fit dimension {d} of size {n}"
            ),
        });
    }
    let ids: Vec<i64> = (-lo..n + hi)
        .map(|i| match mode {
            PadMode::Reflect => {
                if i < 0 {
                    -i
                } else if i >= n {
                    2 * (n - 1) - i
                } else {
                    i
                }
            }
            PadMode::Replicate => i.clamp(0, n - 1),
            PadMode::Circular | PadMode::Constant(_) => i.rem_euclid(n.max(1)),
        })
        .collect();
    x.index_select(d as isize, &index_tensor(ids, x)?)
}

impl Layout {
    /// `len` elements of `dim` from `start`, every `step`-th (`step >= 1`).
    pub fn slice(
        &self,
        dim: usize,
        start: usize,
        len: usize,
        step: usize,
        op: &'static str,
    ) -> Result<Layout> {
        let size = self.dims()[dim];
        let last = if len == 0 {
            Some(start)
        } else {
            (len - 1)
                .checked_mul(step)
                .and_then(|o| o.checked_add(start))
        };
        let fits = step >= 1 && last.is_some_and(|l| if len == 0 { l <= size } else { l < size });
        if !fits {
            return Err(Error::Invalid {
                op,
                msg: format!(
                    "{len} elements from {start} in steps of {step} do not fit dimension {dim} of size {size} (shape {})",
                    self.shape()
                ),
            });
        }
        let narrowed = self.narrow(
            dim,
            if len == 0 { 0 } else { start },
            if len == 0 { 0 } else { 1 },
        )?;
        let mut dims = self.dims().to_vec();
        dims[dim] = len;
        let mut strides = self.strides().to_vec();
        strides[dim] *= step;
        Ok(Layout::new(Shape::new(dims), strides, narrowed.offset()))
    }
}

//! Naive references for the ops that move elements rather than compute them: views
//! (permute, narrow, unfold, reshape, squeeze, unsqueeze, select), joins (cat, stack, split) and
//! tensor indexing (index_select, gather, scatter_add, one_hot), plus dtype casts with
//! Rust `as` semantics. Each is written from its definition on multi-indices, never from
//! strides, so it checks `Layout` arithmetic instead of repeating it.

use super::reference::{numel, RefTensor};
use crate::DType;

/// The inverse of a permutation.
pub fn inverse_perm(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    inv
}

impl RefTensor {
    /// `out[i_0, ..] = self[j]` with `j[perm[k]] = i_k` (PyTorch `permute`).
    pub fn permute(&self, perm: &[usize]) -> Self {
        let shape: Vec<usize> = perm.iter().map(|&p| self.shape[p]).collect();
        RefTensor::from_fn(shape, |idx| {
            let mut src = vec![0; idx.len()];
            for (k, &p) in perm.iter().enumerate() {
                src[p] = idx[k];
            }
            self.at(&src)
        })
    }

    pub fn transpose(&self, d0: usize, d1: usize) -> Self {
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(d0, d1);
        self.permute(&perm)
    }

    /// Elements `start..start + len` of `dim`.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Self {
        let mut shape = self.shape.clone();
        shape[dim] = len;
        RefTensor::from_fn(shape, |idx| {
            let mut src = idx.to_vec();
            src[dim] += start;
            self.at(&src)
        })
    }

    /// Windows of `size` every `step` along `dim` as a new last dim (PyTorch `unfold`):
    /// `out[.., i, .., k] = self[.., i * step + k, ..]`; a 0-d tensor gives `size` copies.
    pub fn unfold(&self, dim: usize, size: usize, step: usize) -> Self {
        if self.rank() == 0 {
            return RefTensor::from_fn(vec![size], |_| self.at(&[]));
        }
        let mut shape = self.shape.clone();
        shape[dim] = (shape[dim] - size) / step + 1;
        shape.push(size);
        RefTensor::from_fn(shape, |idx| {
            let (k, outer) = idx.split_last().expect("an unfolded tensor has rank >= 1");
            let mut src = outer.to_vec();
            src[dim] = src[dim] * step + k;
            self.at(&src)
        })
    }

    /// `before` and `after` extra entries of `fill` around `dim`.
    pub fn pad(&self, dim: usize, before: usize, after: usize, fill: f64) -> Self {
        let mut shape = self.shape.clone();
        shape[dim] += before + after;
        RefTensor::from_fn(shape, |idx| {
            let i = idx[dim];
            if i < before || i >= before + self.shape[dim] {
                fill
            } else {
                let mut src = idx.to_vec();
                src[dim] -= before;
                self.at(&src)
            }
        })
    }

    /// Same data, new shape of the same element count (row-major order is the contract).
    pub fn reshape(&self, shape: &[usize]) -> Self {
        RefTensor::new(shape.to_vec(), self.data.clone())
    }

    /// Removes `dim` when it has size 1 (a no-op otherwise, as PyTorch).
    pub fn squeeze(&self, dim: usize) -> Self {
        let mut shape = self.shape.clone();
        if shape[dim] == 1 {
            shape.remove(dim);
        }
        self.reshape(&shape)
    }

    pub fn unsqueeze(&self, dim: usize) -> Self {
        let mut shape = self.shape.clone();
        shape.insert(dim, 1);
        self.reshape(&shape)
    }

    /// Index `i` of `dim`, that dim removed.
    pub fn select(&self, dim: usize, i: usize) -> Self {
        let mut shape = self.shape.clone();
        shape.remove(dim);
        RefTensor::from_fn(shape, |idx| {
            let mut src = idx.to_vec();
            src.insert(dim, i);
            self.at(&src)
        })
    }

    /// Concatenation along `dim`; every other dim must agree (the caller checks).
    pub fn cat(parts: &[RefTensor], dim: usize) -> Self {
        let mut shape = parts[0].shape.clone();
        shape[dim] = parts.iter().map(|p| p.shape[dim]).sum();
        RefTensor::from_fn(shape, |idx| {
            let mut i = idx[dim];
            for p in parts {
                if i < p.shape[dim] {
                    let mut src = idx.to_vec();
                    src[dim] = i;
                    return p.at(&src);
                }
                i -= p.shape[dim];
            }
            unreachable!("index past the concatenated dimension")
        })
    }

    /// Stacking along a new `dim`.
    pub fn stack(parts: &[RefTensor], dim: usize) -> Self {
        let un: Vec<RefTensor> = parts.iter().map(|p| p.unsqueeze(dim)).collect();
        RefTensor::cat(&un, dim)
    }

    /// Pieces of the given lengths along `dim`.
    pub fn split_sizes(&self, sizes: &[usize], dim: usize) -> Vec<Self> {
        let mut start = 0;
        sizes
            .iter()
            .map(|&len| {
                let p = self.narrow(dim, start, len);
                start += len;
                p
            })
            .collect()
    }

    /// Pieces of `size` along `dim`, the last possibly shorter; a size-0 dim gives one
    /// empty piece (PyTorch).
    pub fn split(&self, size: usize, dim: usize) -> Vec<Self> {
        let n = self.shape[dim];
        if n == 0 {
            return vec![self.clone()];
        }
        let sizes: Vec<usize> = (0..n).step_by(size).map(|s| size.min(n - s)).collect();
        self.split_sizes(&sizes, dim)
    }

    /// `out[.., i, ..] = self[.., ids[i], ..]` along `dim`.
    pub fn index_select(&self, dim: usize, ids: &[usize]) -> Self {
        let mut shape = self.shape.clone();
        shape[dim] = ids.len();
        RefTensor::from_fn(shape, |idx| {
            let mut src = idx.to_vec();
            src[dim] = ids[idx[dim]];
            self.at(&src)
        })
    }

    /// PyTorch `gather`: `out[idx] = self[idx with idx[dim] = ids[idx]]`; `ids` values are
    /// valid indices.
    pub fn gather(&self, dim: usize, ids: &RefTensor) -> Self {
        RefTensor::from_fn(ids.shape.clone(), |idx| {
            let mut src = idx.to_vec();
            src[dim] = ids.at(idx) as usize;
            self.at(&src)
        })
    }

    /// PyTorch `scatter_add`: a copy of `self` with `src[idx]` added at `idx` with
    /// `idx[dim] = ids[idx]`, for every `idx` of `ids`' shape.
    pub fn scatter_add(&self, dim: usize, ids: &RefTensor, src: &RefTensor) -> Self {
        self.scatter_sum(dim, ids, src, true)
    }

    /// PyTorch `scatter_reduce(.., "sum", include_self)`: `scatter_add` onto zeros at the
    /// targeted positions when `include_self` is false.
    pub fn scatter_sum(
        &self,
        dim: usize,
        ids: &RefTensor,
        src: &RefTensor,
        include_self: bool,
    ) -> Self {
        let mut out = self.clone();
        if !include_self {
            for flat in 0..ids.numel() {
                let mut dst = super::reference::unravel(flat, &ids.shape);
                dst[dim] = ids.data[flat] as usize;
                let pos = super::reference::ravel(&dst, &out.shape);
                out.data[pos] = 0.0;
            }
        }
        for flat in 0..ids.numel() {
            let idx = super::reference::unravel(flat, &ids.shape);
            let mut dst = idx.clone();
            dst[dim] = ids.data[flat] as usize;
            let pos = super::reference::ravel(&dst, &out.shape);
            out.data[pos] += src.at(&idx);
        }
        out
    }

    /// One-hot encoding of integer class values: shape `[.., classes]`.
    pub fn one_hot(&self, classes: usize) -> Self {
        let mut shape = self.shape.clone();
        shape.push(classes);
        RefTensor::from_fn(shape, |idx| {
            let (last, rest) = idx.split_last().expect("rank >= 1");
            if self.at(rest) as usize == *last {
                1.0
            } else {
                0.0
            }
        })
    }

    /// Every element converted from `from` to `to` with Rust `as` semantics, through the
    /// source's own Rust type (the f64 values are exact for every source element).
    pub fn cast(&self, from: DType, to: DType) -> Self {
        self.map(|x| cast_value(x, from, to))
    }
}

/// One element `x` (of dtype `from`) converted to `to` with Rust `as` semantics.
pub fn cast_value(x: f64, from: DType, to: DType) -> f64 {
    macro_rules! to {
        ($v:expr) => {
            match to {
                DType::F32 => $v as f32 as f64,
                DType::F64 => $v as f64,
                DType::I64 => $v as i64 as f64,
                DType::U32 => $v as u32 as f64,
                DType::Bool => (($v as f64) != 0.0) as u8 as f64,
                DType::F16 => crate::f16::from_f64($v as f64).to_f64(),
                DType::BF16 => crate::bf16::from_f64($v as f64).to_f64(),
            }
        };
    }
    match from {
        DType::F32 => to!(x as f32),
        DType::F64 => to!(x),
        DType::I64 => to!(x as i64),
        DType::U32 => to!(x as u32),
        DType::Bool => to!((x != 0.0) as u8),
        // Half values are exact in f32, and half-to-integer casts go through it.
        DType::F16 | DType::BF16 => to!(x as f32),
    }
}

/// Shape of `shape` with the dims `start..=end` merged (PyTorch `flatten`).
pub fn flatten_shape(shape: &[usize], start: usize, end: usize) -> Vec<usize> {
    let mut out = shape[..start].to_vec();
    out.push(numel(&shape[start..=end]));
    out.extend_from_slice(&shape[end + 1..]);
    out
}

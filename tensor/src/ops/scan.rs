//! Scans and order statistics along one dim: `cumsum`, `cumprod`, `logcumsumexp`, `sort`,
//! `argsort`, `topk`, `kthvalue`, `median`, `mode`, and `max`/`min` with indices. The
//! values of the order statistics are a `gather` of the input at the returned indices, so
//! their gradient goes to exactly those elements (as PyTorch's).

use crate::hook::{self, Op};
use crate::shape::resolve_dim;
use crate::{DType, Error, Layout, Result, ScanOp, Tensor};

/// A dim of a tensor that may be 0-d: a scalar accepts `0` and `-1` (as PyTorch).
pub(crate) fn resolve_dim_or_scalar(dim: isize, rank: usize, op: &'static str) -> Result<usize> {
    resolve_dim(dim, rank.max(1), op)
}

impl Tensor {
    fn scan(&self, op: ScanOp, dim: isize) -> Result<Tensor> {
        if let Some(x) = crate::autocast::widened(self)? {
            return x.scan(op, dim);
        }
        let name = op.name();
        let d = resolve_dim_or_scalar(dim, self.rank(), name)?;
        // PyTorch accumulates integers in i64; logcumsumexp needs floats.
        let compute = match (op, self.dtype()) {
            (ScanOp::LogSumExp, dt) if !dt.is_float() => DType::F32,
            (ScanOp::Sum | ScanOp::Prod, DType::U32 | DType::Bool) => DType::I64,
            (_, dt) => dt,
        };
        if compute != self.dtype() {
            return self.to_dtype(compute)?.scan(op, dim);
        }
        if self.rank() == 0 {
            return Ok(self.clone());
        }
        let storage = self
            .device()
            .backend()
            .scan(op, self.storage(), self.layout(), d)?;
        let out = Tensor::from_storage(
            storage,
            Layout::contiguous(self.shape().clone()),
            *self.device(),
        );
        hook::record(|| Op::Scan { op, dim: d }, &[self], &out);
        Ok(out)
    }

    /// Running sum along `dim` (PyTorch `cumsum`; integer and bool tensors give I64).
    pub fn cumsum(&self, dim: isize) -> Result<Tensor> {
        self.scan(ScanOp::Sum, dim)
    }

    /// Running product along `dim` (PyTorch `cumprod`; integer and bool tensors give I64).
    /// The gradient is exact with zeros in the input.
    pub fn cumprod(&self, dim: isize) -> Result<Tensor> {
        self.scan(ScanOp::Prod, dim)
    }

    /// `log(cumsum(exp(x)))` along `dim`, accumulated stably (no overflow for large
    /// inputs, `-inf` where every term so far is `-inf`).
    pub fn logcumsumexp(&self, dim: isize) -> Result<Tensor> {
        self.scan(ScanOp::LogSumExp, dim)
    }

    /// The indices (`I64`) that sort each line along `dim`; stable (equal elements keep
    /// their order), NaN after every number (first when descending), as PyTorch's
    /// `argsort(stable=True)`.
    pub fn argsort(&self, dim: isize, descending: bool) -> Result<Tensor> {
        const OP: &str = "argsort";
        let d = resolve_dim_or_scalar(dim, self.rank(), OP)?;
        if self.rank() == 0 {
            return Tensor::zeros((), DType::I64, self.device());
        }
        let storage =
            self.device()
                .backend()
                .argsort(self.storage(), self.layout(), d, descending)?;
        Ok(Tensor::from_storage(
            storage,
            Layout::contiguous(self.shape().clone()),
            *self.device(),
        ))
    }

    /// Sorted values and their indices along `dim` (PyTorch `sort(stable=True)`); the
    /// gradient of the values flows back to the elements they came from.
    pub fn sort(&self, dim: isize, descending: bool) -> Result<(Tensor, Tensor)> {
        let idx = self.argsort(dim, descending)?;
        if self.rank() == 0 {
            return Ok((self.clone(), idx));
        }
        Ok((self.gather(dim, &idx)?, idx))
    }

    /// The `k` largest (`largest`) or smallest elements along `dim`, sorted, with their
    /// indices (PyTorch `topk`; equal values come in index order).
    pub fn topk(&self, k: usize, dim: isize, largest: bool) -> Result<(Tensor, Tensor)> {
        const OP: &str = "topk";
        let d = resolve_dim_or_scalar(dim, self.rank(), OP)?;
        let n = if self.rank() == 0 { 1 } else { self.dims()[d] };
        if k > n {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "k = {k} is larger than dimension {d} of size {n} (shape {})",
                    self.shape()
                ),
            });
        }
        if self.rank() == 0 {
            return self.sort(dim, largest);
        }
        let idx = self.argsort(dim, largest)?.narrow(d as isize, 0, k)?;
        Ok((self.gather(dim, &idx)?, idx))
    }

    /// The `k`-th smallest element along `dim` (1-based) and its index (PyTorch
    /// `kthvalue`).
    pub fn kthvalue(&self, k: usize, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        const OP: &str = "kthvalue";
        let d = resolve_dim_or_scalar(dim, self.rank(), OP)?;
        let n = if self.rank() == 0 { 1 } else { self.dims()[d] };
        if k == 0 || k > n {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "k = {k} is not in 1..={n} for dimension {d} (shape {})",
                    self.shape()
                ),
            });
        }
        if self.rank() == 0 {
            return Ok((self.clone(), Tensor::zeros((), DType::I64, self.device())?));
        }
        let idx = self.argsort(dim, false)?.narrow(d as isize, k - 1, 1)?;
        self.pick(d, idx, keepdim)
    }

    /// The median along `dim` and its index: the lower of the two middle values for an
    /// even count; NaN (and the first NaN's index) when the line holds one, as PyTorch.
    pub fn median(&self, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        let Some(d) = self.statistic_dim(dim, "median")? else {
            return Ok((self.clone(), Tensor::zeros((), DType::I64, self.device())?));
        };
        let n = self.dims()[d];
        let order = self.argsort(dim, false)?;
        // NaN sorts last: with `nans` of them the first is at `n - nans`.
        let nans = self.isnan()?.to_dtype(DType::I64)?.sum(d as isize, true)?;
        let middle = nans.full_like(((n - 1) / 2) as f64)?;
        let first_nan = nans.affine(-1.0, n as f64)?;
        let at = Tensor::where_(&nans.gt_scalar(0.0)?, &first_nan, &middle)?;
        let idx = order.gather(d as isize, &at)?;
        self.pick(d, idx, keepdim)
    }

    /// The median of every element, as a rank-0 tensor. Its gradient is shared evenly by
    /// the elements equal to it, as PyTorch's `median()` (`median` along a dim picks one).
    pub fn median_all(&self) -> Result<Tensor> {
        if self.elem_count() == 0 && self.dtype().is_float() {
            // The median of nothing is NaN (PyTorch).
            return Tensor::full(f64::NAN, (), self.dtype(), self.device());
        }
        let flat = self.flatten_all()?;
        let m = hook::paused(|| flat.median(0, false))?.0;
        if !self.dtype().is_float() {
            return Ok(m);
        }
        // The largest of the elements equal to the median is the median, and `amax`
        // splits its gradient between ties; NaN (the median of a line holding one) keeps
        // the NaNs.
        let ties = if m.isnan()?.any()? {
            flat.isnan()?
        } else {
            flat.eq(&m)?
        };
        Tensor::where_(&ties, &flat, &flat.scalar_like(f64::NEG_INFINITY)?)?.amax(0, false)
    }

    /// The most frequent value along `dim` and the index of its last occurrence (PyTorch
    /// `mode`: among equally frequent values, the smallest).
    pub fn mode(&self, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        let Some(d) = self.statistic_dim(dim, "mode")? else {
            return Ok((self.clone(), Tensor::zeros((), DType::I64, self.device())?));
        };
        let n = self.dims()[d];
        let di = d as isize;
        let (sorted, order) = hook::paused(|| self.sort(dim, false))?;
        // Runs of equal values in each sorted line: a run starts where the value changes.
        let changes = sorted
            .narrow(di, 1, n - 1)?
            .ne(&sorted.narrow(di, 0, n - 1)?)?
            .to_dtype(DType::I64)?;
        let mut first = self.dims().to_vec();
        first[d] = 1;
        let starts = Tensor::cat(
            &[&Tensor::ones(first, DType::I64, self.device())?, &changes],
            di,
        )?;
        let run = starts.cumsum(di)?.sub_scalar(1.0)?;
        let lengths = run.zeros_like()?.scatter_add(di, &run, &run.ones_like()?)?;
        let len_at = lengths.gather(di, &run)?;
        // The first position of a longest run is the smallest most frequent value; its
        // last element (stable sort: the largest index) is the last occurrence.
        let start = len_at.argmax(di, true)?;
        let last = (&start + &len_at.gather(di, &start)?.sub_scalar(1.0)?)?;
        let idx = order.gather(di, &last)?;
        self.pick(d, idx, keepdim)
    }

    /// Maximum along `dim` with the index of its first occurrence (PyTorch
    /// `max(dim, keepdim)`): the gradient goes to that index only. NaN counts as the
    /// maximum. For the maximum over several dims, or with ties sharing the gradient, use
    /// [`amax`](Tensor::amax).
    pub fn max_dim(&self, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        let d = resolve_dim_or_scalar(dim, self.rank(), "max")?;
        let idx = self.argmax(dim, true)?;
        self.pick(d, idx, keepdim)
    }

    /// Minimum along `dim` with the index of its first occurrence (PyTorch
    /// `min(dim, keepdim)`; see [`max_dim`](Tensor::max_dim)).
    pub fn min_dim(&self, dim: isize, keepdim: bool) -> Result<(Tensor, Tensor)> {
        let d = resolve_dim_or_scalar(dim, self.rank(), "min")?;
        let idx = self.argmin(dim, true)?;
        self.pick(d, idx, keepdim)
    }

    /// The dim a statistic of each line (`median`, `mode`) runs along: `None` for a 0-d
    /// tensor (its own statistic, at index 0), an error for an empty dim.
    fn statistic_dim(&self, dim: isize, op: &'static str) -> Result<Option<usize>> {
        let d = resolve_dim_or_scalar(dim, self.rank(), op)?;
        if self.rank() == 0 {
            return Ok(None);
        }
        if self.dims()[d] == 0 {
            return Err(Error::Invalid {
                op,
                msg: format!(
                    "cannot take the {op} of an empty dimension (shape {})",
                    self.shape()
                ),
            });
        }
        Ok(Some(d))
    }

    /// The values at `idx` (one per line, dim `d` of size 1) and `idx`, with `d` kept or
    /// dropped.
    fn pick(&self, d: usize, idx: Tensor, keepdim: bool) -> Result<(Tensor, Tensor)> {
        if self.rank() == 0 {
            return Ok((self.clone(), idx.reshape(())?));
        }
        let values = self.gather(d as isize, &idx)?;
        if keepdim {
            Ok((values, idx))
        } else {
            Ok((values.squeeze(d as isize)?, idx.squeeze(d as isize)?))
        }
    }

    /// Maximum of every element, as a rank-0 tensor (ties share the gradient).
    pub fn max_all(&self) -> Result<Tensor> {
        self.amax([0isize; 0], false)
    }

    /// Minimum of every element, as a rank-0 tensor (ties share the gradient).
    pub fn min_all(&self) -> Result<Tensor> {
        self.amin([0isize; 0], false)
    }
}

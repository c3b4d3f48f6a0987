//! Naive f64 references for the conformance suite: `RefTensor`, a row-major array of f64
//! with its shape, and plain loop implementations of broadcasting, the element-wise ops,
//! reductions, softmax and matmul. They share nothing with `Layout` or any backend on
//! purpose: only the scalar maths (`UnaryOp::eval_f64`, `BinaryOp::eval_f64`) is reused,
//! so a bug in the shape or stride logic of `tensor` cannot hide in its own reference.
//! Views, joins and index ops are in `reference_layout.rs`.

use crate::{BinaryOp, CmpOp, UnaryOp};

/// A dense row-major array of f64: what every op result is compared against.
#[derive(Clone, Debug, PartialEq)]
pub struct RefTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// Number of elements of `shape` (1 for a scalar).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// The multi-index of flat position `flat` in a row-major array of `shape`.
pub fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for k in (0..shape.len()).rev() {
        idx[k] = flat % shape[k];
        flat /= shape[k];
    }
    idx
}

/// The flat row-major position of `idx` in `shape`.
pub fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i)
}

/// PyTorch's broadcast of two shapes, or `None` when they are incompatible.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for (i, o) in out.iter_mut().enumerate() {
        // Position `i` counted from the left of the output; pad both shapes with leading 1s.
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        *o = if da == db {
            da
        } else if da == 1 {
            db
        } else if db == 1 {
            da
        } else {
            return None;
        };
    }
    Some(out)
}

/// A NaN-propagating maximum (PyTorch's `max`).
fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a >= b {
        a
    } else {
        b
    }
}

fn nan_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a <= b {
        a
    } else {
        b
    }
}

impl RefTensor {
    pub fn new(shape: Vec<usize>, data: Vec<f64>) -> Self {
        assert_eq!(
            numel(&shape),
            data.len(),
            "RefTensor::new: data length does not match shape"
        );
        RefTensor { shape, data }
    }

    pub fn scalar(v: f64) -> Self {
        RefTensor::new(Vec::new(), vec![v])
    }

    pub fn full(shape: Vec<usize>, v: f64) -> Self {
        let n = numel(&shape);
        RefTensor::new(shape, vec![v; n])
    }

    /// Builds every element from its multi-index.
    pub fn from_fn(shape: Vec<usize>, mut f: impl FnMut(&[usize]) -> f64) -> Self {
        let data = (0..numel(&shape)).map(|i| f(&unravel(i, &shape))).collect();
        RefTensor { shape, data }
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The element at a multi-index.
    pub fn at(&self, idx: &[usize]) -> f64 {
        self.data[ravel(idx, &self.shape)]
    }

    pub fn map(&self, f: impl Fn(f64) -> f64) -> Self {
        RefTensor::new(
            self.shape.clone(),
            self.data.iter().map(|&x| f(x)).collect(),
        )
    }

    /// A unary op through its f64 definition. Erf and GELU at |x| < 1e-300 (0 and
    /// subnormals) use their first-order Taylor term instead: `erf_f64`'s series once
    /// looped forever there (its stopping test was `0 < 0`), and a reference that hangs
    /// cannot report anything; the ops themselves run under a watchdog.
    pub fn unary(&self, op: UnaryOp) -> Self {
        self.map(|x| {
            if x.abs() < 1e-300 && op == UnaryOp::Erf {
                x * std::f64::consts::FRAC_2_SQRT_PI
            } else if x.abs() < 1e-300 && op == UnaryOp::Gelu {
                0.5 * x
            } else {
                op.eval_f64(x)
            }
        })
    }

    /// Broadcasts to `shape` (PyTorch `expand`), or `None` if impossible.
    pub fn broadcast_to(&self, shape: &[usize]) -> Option<Self> {
        let lead = shape.len().checked_sub(self.rank())?;
        for (i, &d) in self.shape.iter().enumerate() {
            if d != 1 && d != shape[lead + i] {
                return None;
            }
        }
        Some(RefTensor::from_fn(shape.to_vec(), |idx| {
            let src: Vec<usize> = self
                .shape
                .iter()
                .enumerate()
                .map(|(i, &d)| if d == 1 { 0 } else { idx[lead + i] })
                .collect();
            self.at(&src)
        }))
    }

    /// `f(a, b)` element-wise with broadcasting, or `None` if the shapes do not broadcast.
    pub fn zip(&self, other: &RefTensor, f: impl Fn(f64, f64) -> f64) -> Option<Self> {
        let shape = broadcast_shape(&self.shape, &other.shape)?;
        let a = self.broadcast_to(&shape)?;
        let b = other.broadcast_to(&shape)?;
        Some(RefTensor::new(
            shape,
            a.data.iter().zip(&b.data).map(|(&x, &y)| f(x, y)).collect(),
        ))
    }

    /// A binary op through its f64 definition, with broadcasting.
    pub fn binary(&self, other: &RefTensor, op: BinaryOp) -> Option<Self> {
        self.zip(other, |a, b| op.eval_f64(a, b))
    }

    /// A comparison giving 1.0 / 0.0, with broadcasting.
    pub fn compare(&self, other: &RefTensor, op: CmpOp) -> Option<Self> {
        self.zip(other, |a, b| {
            let r = match op {
                CmpOp::Eq => a == b,
                CmpOp::Ne => a != b,
                CmpOp::Lt => a < b,
                CmpOp::Le => a <= b,
                CmpOp::Gt => a > b,
                CmpOp::Ge => a >= b,
            };
            if r {
                1.0
            } else {
                0.0
            }
        })
    }

    /// `cond != 0 ? t : f`, all three broadcast together.
    pub fn where_(cond: &RefTensor, t: &RefTensor, f: &RefTensor) -> Option<Self> {
        let shape = broadcast_shape(&broadcast_shape(&cond.shape, &t.shape)?, &f.shape)?;
        let (c, t, f) = (
            cond.broadcast_to(&shape)?,
            t.broadcast_to(&shape)?,
            f.broadcast_to(&shape)?,
        );
        let data = (0..c.numel())
            .map(|i| {
                if c.data[i] != 0.0 {
                    t.data[i]
                } else {
                    f.data[i]
                }
            })
            .collect();
        Some(RefTensor::new(shape, data))
    }

    // ---- reductions ----

    /// Groups the elements by their position with `axes` zeroed, in row-major order inside
    /// each group, and reduces each group with `f`. `axes` must be valid and unique.
    pub fn reduce_with(&self, axes: &[usize], keepdim: bool, f: impl Fn(&[f64]) -> f64) -> Self {
        let kept: Vec<usize> = self
            .shape
            .iter()
            .enumerate()
            .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
            .collect();
        let mut groups: Vec<Vec<f64>> = vec![Vec::new(); numel(&kept)];
        for (flat, &x) in self.data.iter().enumerate() {
            let mut idx = unravel(flat, &self.shape);
            for &a in axes {
                idx[a] = 0;
            }
            groups[ravel(&idx, &kept)].push(x);
        }
        let data = groups.iter().map(|g| f(g)).collect();
        let shape = if keepdim {
            kept
        } else {
            self.shape
                .iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, &d)| d)
                .collect()
        };
        RefTensor::new(shape, data)
    }

    pub fn sum(&self, axes: &[usize], keepdim: bool) -> Self {
        self.reduce_with(axes, keepdim, |g| g.iter().sum())
    }

    pub fn prod(&self, axes: &[usize], keepdim: bool) -> Self {
        self.reduce_with(axes, keepdim, |g| g.iter().product())
    }

    /// Max (NaN propagates); an empty group gives NaN (Lamina reports an error there).
    pub fn max(&self, axes: &[usize], keepdim: bool) -> Self {
        self.reduce_with(axes, keepdim, |g| {
            g.iter().copied().reduce(nan_max).unwrap_or(f64::NAN)
        })
    }

    pub fn min(&self, axes: &[usize], keepdim: bool) -> Self {
        self.reduce_with(axes, keepdim, |g| {
            g.iter().copied().reduce(nan_min).unwrap_or(f64::NAN)
        })
    }

    /// Mean; the mean of nothing is NaN.
    pub fn mean(&self, axes: &[usize], keepdim: bool) -> Self {
        self.reduce_with(axes, keepdim, |g| g.iter().sum::<f64>() / g.len() as f64)
    }

    /// Variance, two-pass; NaN when `n - ddof <= 0` (PyTorch).
    pub fn var(&self, axes: &[usize], unbiased: bool, keepdim: bool) -> Self {
        self.reduce_with(axes, keepdim, |g| {
            let n = g.len() as f64;
            let denom = n - if unbiased { 1.0 } else { 0.0 };
            if g.is_empty() || denom <= 0.0 {
                return f64::NAN;
            }
            let m = g.iter().sum::<f64>() / n;
            g.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / denom
        })
    }

    /// `log(sum(exp(x)))`, stable; an empty or all `-inf` group gives `-inf`.
    pub fn logsumexp(&self, axes: &[usize], keepdim: bool) -> Self {
        self.reduce_with(axes, keepdim, |g| {
            let m = g.iter().copied().fold(f64::NEG_INFINITY, nan_max);
            if m.is_nan() || m.is_infinite() {
                return m;
            }
            m + g.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
        })
    }

    /// Index of the first maximum along `axis` (ignoring nothing: values are never NaN here).
    pub fn argmax(&self, axis: usize, keepdim: bool) -> Self {
        self.reduce_with(&[axis], keepdim, |g| {
            let mut best = 0;
            for (i, &x) in g.iter().enumerate() {
                if x > g[best] {
                    best = i;
                }
            }
            best as f64
        })
    }

    pub fn argmin(&self, axis: usize, keepdim: bool) -> Self {
        self.reduce_with(&[axis], keepdim, |g| {
            let mut best = 0;
            for (i, &x) in g.iter().enumerate() {
                if x < g[best] {
                    best = i;
                }
            }
            best as f64
        })
    }

    /// Applies `f` to every 1-D slice along `axis`, writing the slice it returns.
    pub fn along(&self, axis: usize, f: impl Fn(&[f64]) -> Vec<f64>) -> Self {
        let mut out = self.clone();
        let n = self.shape[axis];
        let mut outer = self.shape.clone();
        outer[axis] = 1;
        for o in 0..numel(&outer) {
            let mut idx = unravel(o, &outer);
            let slice: Vec<f64> = (0..n)
                .map(|i| {
                    idx[axis] = i;
                    self.at(&idx)
                })
                .collect();
            for (i, v) in f(&slice).into_iter().enumerate() {
                idx[axis] = i;
                out.data[ravel(&idx, &self.shape)] = v;
            }
        }
        out
    }

    /// Softmax along `axis`: `exp(x - max) / sum(exp(x - max))`.
    pub fn softmax(&self, axis: usize) -> Self {
        self.along(axis, |s| {
            let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
            let total: f64 = e.iter().sum();
            e.iter().map(|v| v / total).collect()
        })
    }

    /// `x - max - log(sum(exp(x - max)))` along `axis`.
    pub fn log_softmax(&self, axis: usize) -> Self {
        self.along(axis, |s| {
            let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = s.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
            s.iter().map(|x| x - m - lse).collect()
        })
    }

    // ---- matmul ----

    /// PyTorch `matmul`: 1-D·1-D is a dot product, a 1-D operand is promoted to a matrix
    /// and its dim removed afterwards, batch dims broadcast. `None` on a shape error.
    pub fn matmul(&self, rhs: &RefTensor) -> Option<Self> {
        if self.rank() == 0 || rhs.rank() == 0 {
            return None;
        }
        let mut a_shape = self.shape.clone();
        if self.rank() == 1 {
            a_shape.insert(0, 1);
        }
        let mut b_shape = rhs.shape.clone();
        if rhs.rank() == 1 {
            b_shape.push(1);
        }
        let (ar, br) = (a_shape.len(), b_shape.len());
        let (m, k) = (a_shape[ar - 2], a_shape[ar - 1]);
        let (k2, n) = (b_shape[br - 2], b_shape[br - 1]);
        if k != k2 {
            return None;
        }
        let batch = broadcast_shape(&a_shape[..ar - 2], &b_shape[..br - 2])?;
        let a = RefTensor::new(a_shape.clone(), self.data.clone());
        let b = RefTensor::new(b_shape.clone(), rhs.data.clone());
        let mut full = batch.clone();
        full.extend([m, n]);
        let out = RefTensor::from_fn(full, |idx| {
            let nb = batch.len();
            let (i, j) = (idx[nb], idx[nb + 1]);
            // Map the output batch index onto each operand's (possibly shorter, size-1) batch.
            let pick = |shape: &[usize], row: usize, col: usize| -> Vec<usize> {
                let r = shape.len() - 2;
                let mut v: Vec<usize> = (0..r)
                    .map(|q| if shape[q] == 1 { 0 } else { idx[nb - r + q] })
                    .collect();
                v.extend([row, col]);
                v
            };
            (0..k)
                .map(|p| a.at(&pick(&a_shape, i, p)) * b.at(&pick(&b_shape, p, j)))
                .sum()
        });
        let mut shape = batch;
        if self.rank() > 1 {
            shape.push(m);
        }
        if rhs.rank() > 1 {
            shape.push(n);
        }
        Some(RefTensor::new(shape, out.data))
    }

    /// `sum_k |a_ik| |b_kj|`: the scale of the rounding error of each matmul output.
    pub fn matmul_abs(&self, rhs: &RefTensor) -> Option<Self> {
        self.map(f64::abs).matmul(&rhs.map(f64::abs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_and_matmul_basics() {
        assert_eq!(broadcast_shape(&[2, 1, 3], &[4, 1]), Some(vec![2, 4, 3]));
        assert_eq!(broadcast_shape(&[2, 3], &[4]), None);
        let a = RefTensor::new(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]);
        let b = RefTensor::new(vec![2], vec![1.0, 1.0]);
        assert_eq!(
            a.matmul(&b).unwrap(),
            RefTensor::new(vec![2], vec![3.0, 7.0])
        );
        assert_eq!(
            b.matmul(&a).unwrap(),
            RefTensor::new(vec![2], vec![4.0, 6.0])
        );
        assert_eq!(b.matmul(&b).unwrap(), RefTensor::scalar(2.0));
        let s = a.sum(&[1], false);
        assert_eq!(s, RefTensor::new(vec![2], vec![3.0, 7.0]));
        assert_eq!(
            a.argmax(0, true),
            RefTensor::new(vec![1, 2], vec![1.0, 1.0])
        );
    }
}

//! `matmul` with PyTorch's rules: 1-D·1-D (dot), 1-D·2-D, 2-D·1-D, 2-D·2-D and batched with
//! broadcast batch dims. Strides go straight to the backend's GEMM: transposes never copy.

use crate::backend::MatmulSpec;
use crate::hook::{self, Op};
use crate::{Error, Layout, Result, Shape, Tensor};

impl Tensor {
    /// Matrix product, PyTorch `matmul` semantics.
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        if let Some(v) = crate::autocast::lowered(&[self, rhs])? {
            return v[0].matmul(&v[1]);
        }
        // The 1-D promotions inside are details: one Matmul on the tape.
        let out = hook::paused(|| self.matmul_impl(rhs))?;
        hook::record(|| Op::Matmul, &[self, rhs], &out);
        Ok(out)
    }

    fn matmul_impl(&self, rhs: &Tensor) -> Result<Tensor> {
        const OP: &str = "matmul";
        self.check_same(rhs, OP)?;
        let mismatch = || Error::ShapeMismatch {
            op: OP,
            lhs: self.shape().clone(),
            rhs: rhs.shape().clone(),
        };
        if self.rank() == 0 || rhs.rank() == 0 {
            return Err(Error::Invalid {
                op: OP,
                msg: format!(
                    "both operands need at least 1 dim, got lhs {}, rhs {}",
                    self.shape(),
                    rhs.shape()
                ),
            });
        }
        // Promote 1-D operands to matrices and remember which dims to drop afterwards.
        let lhs = if self.rank() == 1 {
            self.unsqueeze(0)?
        } else {
            self.clone()
        };
        let r = if rhs.rank() == 1 {
            rhs.unsqueeze(-1)?
        } else {
            rhs.clone()
        };
        let (lr, rr) = (lhs.rank(), r.rank());
        let (m, k) = (lhs.dims()[lr - 2], lhs.dims()[lr - 1]);
        let (k2, n) = (r.dims()[rr - 2], r.dims()[rr - 1]);
        if k != k2 {
            return Err(mismatch());
        }
        let lb = Shape::new(lhs.dims()[..lr - 2].to_vec());
        let rb = Shape::new(r.dims()[..rr - 2].to_vec());
        let batch = lb.broadcast(&rb, OP).map_err(|_| mismatch())?;
        let with = |b: &Shape, x: usize, y: usize| {
            let mut d = b.dims().to_vec();
            d.extend([x, y]);
            Shape::new(d)
        };
        let ll = lhs.layout().broadcast_to(&with(&batch, m, k), OP)?;
        let rl = r.layout().broadcast_to(&with(&batch, k, n), OP)?;
        let spec = MatmulSpec {
            batch: batch.clone(),
            m,
            k,
            n,
        };
        let storage =
            self.device()
                .backend()
                .matmul(lhs.storage(), &ll, r.storage(), &rl, &spec)?;
        let mut out_dims = batch.dims().to_vec();
        if self.rank() > 1 {
            out_dims.push(m);
        }
        if rhs.rank() > 1 {
            out_dims.push(n);
        }
        Ok(Tensor::from_storage(
            storage,
            Layout::contiguous(out_dims),
            *self.device(),
        ))
    }
}

//! The one pooling primitive a backend may supply: the arg-max of each max-pooling
//! window. Values and gradients then come from `gather` (recorded, so autograd sends the
//! gradient to exactly those positions); `nn`'s pooling runs its composite where a backend
//! has no kernel.

use crate::{DimVec, Error, Layout, Result, Shape, Tensor};

/// A max-pooling window over 1 or 2 spatial dims of an `[N, C, S..]` input, with the
/// output sizes already worked out (ceil mode is in them); dilation 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    pub batch: usize,
    pub channels: usize,
    /// Input spatial sizes.
    pub input: DimVec,
    pub kernel: DimVec,
    pub stride: DimVec,
    pub padding: DimVec,
    /// Output spatial sizes.
    pub output: DimVec,
}

impl PoolGeometry {
    /// `[N, C, O..]`.
    pub fn output_shape(&self) -> Shape {
        let mut d = vec![self.batch, self.channels];
        d.extend_from_slice(&self.output);
        Shape::new(d)
    }

    /// Errors unless every window holds at least one input element and the sizes agree.
    fn check(&self, op: &'static str, input: &Shape) -> Result<()> {
        let d = self.kernel.len();
        let mut want = vec![self.batch, self.channels];
        want.extend_from_slice(&self.input);
        let dims_ok = (1..=2).contains(&d)
            && [&self.input, &self.stride, &self.padding, &self.output]
                .iter()
                .all(|v| v.len() == d);
        let fits = dims_ok
            && (0..d).all(|i| {
                let (k, s, p) = (self.kernel[i], self.stride[i], self.padding[i]);
                // The last window starts inside the input or its left padding and
                // reaches past the padding into the input.
                k > 0
                    && s > 0
                    && self.output[i] > 0
                    && p < k
                    && (self.output[i] - 1) * s < self.input[i] + p
            });
        if input.dims() != want || !fits {
            return Err(Error::Invalid {
                op,
                msg: format!("input {input} does not match the pooling geometry {self:?}"),
            });
        }
        Ok(())
    }
}

impl Tensor {
    /// For each max-pooling window of `self` (`[N, C, S..]`, float), the position of its
    /// maximum as a flat index into the input's spatial plane (`h · W + w`), `I64`
    /// `[N, C, O..]`: PyTorch's `return_indices`. The first maximum in window order wins;
    /// a NaN counts as the maximum (the last NaN wins), as in PyTorch's CPU kernel.
    /// `Ok(None)` when the backend has no kernel (`nn` then runs its composite).
    pub fn max_pool_indices(&self, geo: &PoolGeometry) -> Result<Option<Tensor>> {
        const OP: &str = "max_pool_indices";
        self.check_float(OP)?;
        geo.check(OP, self.shape())?;
        let x = self.contiguous()?;
        Ok(
            match self
                .device()
                .backend()
                .max_pool_indices(x.storage(), x.layout(), geo)
            {
                Some(s) => Some(Tensor::from_storage(
                    s?,
                    Layout::contiguous(geo.output_shape()),
                    *self.device(),
                )),
                None => None,
            },
        )
    }
}

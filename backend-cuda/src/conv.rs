//! How the CUDA backend runs a convolution, host logic only (tested without a GPU): the
//! patch matrix of `kernels/conv.cuh`'s `im2col` times the weights through cuBLAS, as
//! three products whose operands cuBLAS reads in place (a transposed operand is a view).
//! With `CK = C_in · k..` rows of patches per sample and `P = O..` output positions:
//! - forward: `y [N, C_out, P] = w [C_out, CK] · cols [N, CK, P]` (`w` broadcast over `N`);
//! - input gradient: `dcols [N, CK, P] = wᵀ · dy [N, C_out, P]`, then `col2im`;
//! - weight gradient: `dw [C_out, CK] = dy' [C_out, N·P] · colsᵀ` with `cols [CK, N·P]`
//!   (one product over the whole batch; `dy'` is `dy` with `N` and `C_out` swapped, copied).
//!
//! Grouped convolutions (`groups > 1`) are not planned here: the composite runs them.

use lamina_tensor::{ConvGeometry, Layout, MatmulSpec, Shape};

/// The geometry as `conv.cuh`'s `ConvDims`, field for field: always three spatial dims, a
/// 1-D or 2-D convolution's padded in front with size-1 dims (stride 1, padding 0,
/// dilation 1), which leaves every index unchanged.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvDims {
    pub batch: i64,
    pub channels: i64,
    pub input: [i64; 3],
    pub kernel: [i64; 3],
    pub output: [i64; 3],
    pub stride: [i64; 3],
    pub padding: [i64; 3],
    pub dilation: [i64; 3],
}

impl ConvDims {
    /// The kernels' geometry of `geo`, or `None` for a grouped convolution or more than
    /// three spatial dims (which `ConvSpec::geometry` rejects already).
    pub fn new(geo: &ConvGeometry) -> Option<ConvDims> {
        let d = geo.input.len();
        if geo.spec.groups != 1 || d > 3 {
            return None;
        }
        let pad = |v: &[usize], fill: i64| {
            let mut a = [fill; 3];
            for (slot, &x) in a[3 - d..].iter_mut().zip(v) {
                *slot = x as i64;
            }
            a
        };
        Some(ConvDims {
            batch: geo.batch as i64,
            channels: geo.in_channels as i64,
            input: pad(&geo.input, 1),
            kernel: pad(&geo.kernel, 1),
            output: pad(&geo.output, 1),
            stride: pad(&geo.spec.stride, 1),
            padding: pad(&geo.spec.padding, 0),
            dilation: pad(&geo.spec.dilation, 1),
        })
    }
}

/// Where `im2col` puts patch row `r` (`c · K + kk`) of sample `n`: at `n · sn + r · sck`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cols {
    /// `[N, CK, P]`: each sample's patch matrix (forward and input gradient).
    BySample,
    /// `[CK, N·P]`: one matrix over the whole batch (weight gradient).
    ByRow,
}

/// A convolution's sizes as the products see them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvPlan {
    pub n: usize,
    pub c_out: usize,
    /// Rows of the patch matrix: `C_in · k..`.
    pub ck: usize,
    /// Output positions per sample.
    pub p: usize,
    /// Input positions per sample and channel.
    pub input_len: usize,
}

impl ConvPlan {
    pub fn new(geo: &ConvGeometry) -> ConvPlan {
        ConvPlan {
            n: geo.batch,
            c_out: geo.out_channels,
            ck: geo.in_channels * geo.kernel_len(),
            p: geo.output_len(),
            input_len: geo.input_len(),
        }
    }

    /// Elements of the patch matrix (either arrangement).
    pub fn cols_len(&self) -> usize {
        self.n * self.ck * self.p
    }

    /// `im2col`'s `(sn, sck)` for an arrangement.
    pub fn cols_strides(&self, cols: Cols) -> (i64, i64) {
        match cols {
            Cols::BySample => ((self.ck * self.p) as i64, self.p as i64),
            Cols::ByRow => (self.p as i64, (self.n * self.p) as i64),
        }
    }

    /// The forward product: `w` (contiguous from `w_offset`, broadcast over the batch) and
    /// the `BySample` patches, as `(lhs, rhs, spec)`.
    pub fn forward(&self, w_offset: usize) -> (Layout, Layout, MatmulSpec) {
        let w = Layout::new(
            Shape::from(vec![self.n, self.c_out, self.ck]),
            vec![0, self.ck, 1],
            w_offset,
        );
        let cols = Layout::contiguous(vec![self.n, self.ck, self.p]);
        let spec = self.spec(vec![self.n], self.c_out, self.ck, self.p);
        (w, cols, spec)
    }

    /// The input gradient's product: `wᵀ` (a transposed view of `w`, broadcast over the
    /// batch) and `dy` (contiguous from `dy_offset`), to `BySample` patch gradients.
    pub fn input_grad(&self, w_offset: usize, dy_offset: usize) -> (Layout, Layout, MatmulSpec) {
        let wt = Layout::new(
            Shape::from(vec![self.n, self.ck, self.c_out]),
            vec![0, 1, self.ck],
            w_offset,
        );
        let dy = Layout::new(
            Shape::from(vec![self.n, self.c_out, self.p]),
            vec![self.c_out * self.p, self.p, 1],
            dy_offset,
        );
        let spec = self.spec(vec![self.n], self.ck, self.c_out, self.p);
        (wt, dy, spec)
    }

    /// `dy` (contiguous from `dy_offset`) viewed as `[C_out, N, P]`: copied contiguous, it
    /// is the weight gradient's left operand `[C_out, N·P]`.
    pub fn dy_by_channel(&self, dy_offset: usize) -> Layout {
        Layout::new(
            Shape::from(vec![self.c_out, self.n, self.p]),
            vec![self.p, self.c_out * self.p, 1],
            dy_offset,
        )
    }

    /// The weight gradient's product: `dy'` (`[C_out, N·P]`, contiguous) and the `ByRow`
    /// patches transposed (a view), to `dw [C_out, CK]`.
    pub fn weight_grad(&self) -> (Layout, Layout, MatmulSpec) {
        let np = self.n * self.p;
        let dy = Layout::contiguous(vec![self.c_out, np]);
        let cols_t = Layout::new(Shape::from(vec![np, self.ck]), vec![1, np], 0);
        let spec = self.spec(vec![], self.c_out, np, self.ck);
        (dy, cols_t, spec)
    }

    fn spec(&self, batch: Vec<usize>, m: usize, k: usize, n: usize) -> MatmulSpec {
        MatmulSpec {
            batch: Shape::from(batch),
            m,
            k,
            n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::plan;
    use lamina_tensor::ConvSpec;

    fn geometry(input: &[usize], weight: &[usize], spec: ConvSpec) -> ConvGeometry {
        spec.geometry("conv", &Shape::from(input), &Shape::from(weight))
            .unwrap()
    }

    /// Every product of every planned convolution reads its operands in place: no copy
    /// before cuBLAS (the plan's operands are all `Some`), and the shapes chain.
    #[test]
    fn products_need_no_copies() {
        let cases = [
            (
                vec![2, 3, 9],
                vec![4, 3, 2],
                ConvSpec::new(&[2], &[1], &[2], 1),
            ),
            (
                vec![1, 1, 5, 6],
                vec![1, 1, 3, 3],
                ConvSpec::new(&[1, 1], &[0, 0], &[1, 1], 1),
            ),
            (
                vec![3, 2, 7, 5],
                vec![5, 2, 3, 2],
                ConvSpec::new(&[2, 1], &[1, 2], &[1, 2], 1),
            ),
            (
                vec![2, 2, 4, 3, 3],
                vec![3, 2, 2, 2, 1],
                ConvSpec::new(&[1, 2, 1], &[0, 1, 0], &[1, 1, 2], 1),
            ),
        ];
        for (x, w, spec) in cases {
            let geo = geometry(&x, &w, spec);
            let p = ConvPlan::new(&geo);
            for (a, b, spec) in [p.forward(3), p.input_grad(5, 7), p.weight_grad()] {
                let pl = plan(&a, &b, &spec);
                assert!(pl.first.is_some() && pl.second.is_some(), "{geo:?}: {pl:?}");
                assert_eq!(a.dims()[a.rank() - 2..], [spec.m, spec.k]);
                assert_eq!(b.dims()[b.rank() - 2..], [spec.k, spec.n]);
            }
            let (_, _, f) = p.forward(0);
            assert_eq!(
                f.batch.elem_count() * f.m * f.n,
                geo.output_shape().elem_count()
            );
            let (_, _, wg) = p.weight_grad();
            assert_eq!(wg.m * wg.n, geo.weight_shape().elem_count());
            assert_eq!(
                p.dy_by_channel(0).elem_count(),
                geo.output_shape().elem_count()
            );
        }
    }

    #[test]
    fn dims_pad_in_front_and_refuse_groups() {
        let geo = geometry(&[2, 3, 9], &[4, 3, 2], ConvSpec::new(&[2], &[1], &[3], 1));
        let d = ConvDims::new(&geo).unwrap();
        assert_eq!(d.input, [1, 1, 9]);
        assert_eq!(d.kernel, [1, 1, 2]);
        assert_eq!(d.output, [1, 1, geo.output[0] as i64]);
        assert_eq!(
            (d.stride, d.padding, d.dilation),
            ([1, 1, 2], [0, 0, 1], [1, 1, 3])
        );
        let grouped = geometry(&[1, 4, 5], &[2, 2, 3], ConvSpec::new(&[1], &[0], &[1], 2));
        assert_eq!(ConvDims::new(&grouped), None);
        // `conv.cuh`'s struct: 2 + 6 · 3 eight-byte fields, no padding.
        assert_eq!(std::mem::size_of::<ConvDims>(), 20 * 8);
    }
}

//! `Flatten`: merges a range of dimensions into one, PyTorch's `nn.Flatten` (by default
//! everything but the batch dimension), typically between convolutions and `Linear`.

use crate::module::stateless_module;

/// Merges dims `start_dim..=end_dim` into one: `[N, C, H, W] -> [N, C·H·W]` with the
/// defaults `start_dim = 1`, `end_dim = -1`. A view when the layout allows it.
///
/// ```
/// use lamina_nn::{Flatten, Module};
/// use lamina_tensor::{DType, Tensor};
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::zeros([8, 3, 4, 4], DType::F32, &dev)?;
/// assert_eq!(Flatten::default().forward(&x)?.dims(), &[8, 48]);
/// # Ok::<(), lamina_tensor::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Flatten {
    pub start_dim: isize,
    pub end_dim: isize,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten {
            start_dim: 1,
            end_dim: -1,
        }
    }
}

stateless_module!(Flatten, |s, x| x.flatten(s.start_dim, s.end_dim));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Module;
    use lamina_tensor::Tensor;

    #[test]
    fn flattens_keeping_row_major_order() {
        let dev = lamina_backend_cpu::device();
        let v: Vec<f64> = (0..24).map(f64::from).collect();
        let x = Tensor::from_vec(v.clone(), [2, 3, 4], &dev).unwrap();
        let y = Flatten::default().forward(&x).unwrap();
        assert_eq!(y.dims(), &[2, 12]);
        assert_eq!(y.to_vec::<f64>().unwrap(), v);
        let y = Flatten {
            start_dim: 0,
            end_dim: 1,
        }
        .forward(&x)
        .unwrap();
        assert_eq!(y.dims(), &[6, 4]);
        // A transposed input is flattened in its logical order.
        let xt = x.transpose(1, 2).unwrap();
        let y = Flatten::default()
            .forward(&xt)
            .unwrap()
            .to_vec::<f64>()
            .unwrap();
        assert_eq!(&y[..4], &[0.0, 4.0, 8.0, 1.0]);
        assert!(Flatten {
            start_dim: 2,
            end_dim: 1
        }
        .forward(&x)
        .is_err());
    }
}

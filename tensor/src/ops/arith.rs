//! `std::ops` on `&Tensor`, `Tensor` and `Result<Tensor>`, so an expression needs one `?`.
//! The impls call the inherent methods by path (`Tensor::add(&self, ..)`): on a by-value
//! `Tensor`, `self.add(..)` would resolve to the trait method itself and recurse.
//! Example:
//! `(&a * &b + &c)?`. Scalars (`f64`) on the right of a tensor use the fused `affine` map.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::{Result, Tensor};

/// Anything that can stand as a tensor operand: a tensor, a reference, or a result.
pub trait Operand {
    fn operand(self) -> Result<Tensor>;
}
impl Operand for Tensor {
    fn operand(self) -> Result<Tensor> {
        Ok(self)
    }
}
impl Operand for &Tensor {
    fn operand(self) -> Result<Tensor> {
        Ok(self.clone())
    }
}
impl Operand for Result<Tensor> {
    fn operand(self) -> Result<Tensor> {
        self
    }
}
impl Operand for &Result<Tensor> {
    fn operand(self) -> Result<Tensor> {
        match self {
            Ok(t) => Ok(t.clone()),
            Err(e) => Err(crate::Error::Invalid {
                op: "operand",
                msg: e.to_string(),
            }),
        }
    }
}

macro_rules! bin_ops {
    ($($trait:ident, $method:ident, $tensor_fn:ident, $scalar_fn:ident;)*) => {$(
        impl<R: Operand> $trait<R> for Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: R) -> Result<Tensor> {
                Tensor::$tensor_fn(&self, &rhs.operand()?)
            }
        }
        impl<R: Operand> $trait<R> for &Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: R) -> Result<Tensor> {
                Tensor::$tensor_fn(self, &rhs.operand()?)
            }
        }
        // The orphan rule allows `Result<Tensor> op Tensor` and `op &Tensor`, not
        // `Result op Result` or `Result op f64`: chains start from a tensor.
        impl $trait<Tensor> for Result<Tensor> {
            type Output = Result<Tensor>;
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                Tensor::$tensor_fn(&self?, &rhs)
            }
        }
        impl $trait<&Tensor> for Result<Tensor> {
            type Output = Result<Tensor>;
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::$tensor_fn(&self?, rhs)
            }
        }
        impl $trait<f64> for Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: f64) -> Result<Tensor> {
                Tensor::$scalar_fn(&self, rhs)
            }
        }
        impl $trait<f64> for &Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: f64) -> Result<Tensor> {
                Tensor::$scalar_fn(self, rhs)
            }
        }
    )*};
}

bin_ops! {
    Add, add, add, add_scalar;
    Sub, sub, sub, sub_scalar;
    Mul, mul, mul, mul_scalar;
    Div, div, div, div_scalar;
}

impl Neg for &Tensor {
    type Output = Result<Tensor>;
    fn neg(self) -> Result<Tensor> {
        Tensor::neg(self)
    }
}
impl Neg for Tensor {
    type Output = Result<Tensor>;
    fn neg(self) -> Result<Tensor> {
        Tensor::neg(&self)
    }
}

//! `std::ops` on `&Tensor`, `Tensor` and `Result<Tensor>`, so an expression needs one `?`.
//! The impls call the inherent methods by path (`Tensor::add(&self, ..)`): on a by-value
//! `Tensor`, `self.add(..)` would resolve to the trait method itself and recurse.
//! Example:
//! `(&a * &b + &c)?`. Scalars (`f64`) on either side of a tensor use the fused `affine` map
//! (`1.0 - &x`, `&x * 2.0`).

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

/// `scalar op tensor`: `1.0 - &x`, `2.0 * &x`, `1.0 / &x` (PyTorch's reflected
/// operators; `s / x` is `reciprocal(x) * s`, as `torch.Tensor.__rtruediv__`).
macro_rules! scalar_left {
    ($($trait:ident, $method:ident, |$s:ident, $t:ident| $body:expr;)*) => {$(
        impl $trait<&Tensor> for f64 {
            type Output = Result<Tensor>;
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                let ($s, $t) = (self, rhs);
                $body
            }
        }
        impl $trait<Tensor> for f64 {
            type Output = Result<Tensor>;
            fn $method(self, rhs: Tensor) -> Result<Tensor> {
                let ($s, $t) = (self, &rhs);
                $body
            }
        }
    )*};
}

scalar_left! {
    Add, add, |s, t| t.add_scalar(s);
    Sub, sub, |s, t| t.affine(-1.0, s);
    Mul, mul, |s, t| t.mul_scalar(s);
    Div, div, |s, t| t.recip()?.mul_scalar(s);
}

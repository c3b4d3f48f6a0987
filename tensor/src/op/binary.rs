//! The binary element-wise ops (with broadcasting), one row each, as `unary.rs` does for
//! unary maps:
//!
//! ```text
//! /// doc of the variant and of the `Tensor` method
//! Variant method {
//!     float: |a, b| kernel on a `Real` `T`;
//!     int: |a, b| kernel on an `Int` (optional: integer and bool operands are computed
//!                 in F32 without one, as PyTorch's true division);
//!     bool: |a, b| kernel on bools (optional);
//!     int_rhs: NonZero | NonNegative;   // optional: integer right operands checked first
//!     grad(saves): |s, g| da: gradient of a, db: gradient of b;
//!     test: (domain of a, domain of b), tolerance;
//!     torch: "the PyTorch expression of a and b";
//!     cuda: "the float kernel in CUDA C++ of a and b (type T)";
//!     cuda_int: "the integer kernel" (optional: defaults to `cuda`);
//!     cuda_bool: "the bool kernel" (optional: defaults to `cuda`);
//! }
//! ```
//!
//! `saves` is `none`, `inputs` or `all` (inputs and output); a rule reads `s.a()?`,
//! `s.b()?` and `s.y()?`. The gradients are in the broadcast output's shape: the generated
//! `backward` sums them back to each operand's shape, and computes only the ones wanted.

use super::math::{div_floor_real, rem_floor_real};
use super::scalar::{BinaryKernel, Int, Real};
use super::{Saved, Saves, TestDomain, Tol};
use crate::{Result, Tensor};

/// What an integer right operand must satisfy before an integer kernel runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntRhs {
    Any,
    /// No zero (integer division and remainder).
    NonZero,
    /// No negative value (integer powers).
    NonNegative,
}

macro_rules! bsaves_of {
    (none) => {
        Saves {
            input: false,
            output: false,
        }
    };
    (inputs) => {
        Saves {
            input: true,
            output: false,
        }
    };
    (all) => {
        Saves {
            input: true,
            output: true,
        }
    };
}

macro_rules! binary_ops {
    ($(
        $(#[$doc:meta])*
        $Var:ident $method:ident {
            float: |$fa:ident, $fb:ident| $fbody:expr;
            $(int: |$ia:ident, $ib:ident| $ibody:expr;)?
            $(bool: |$ba:ident, $bb:ident| $bbody:expr;)?
            $(int_rhs: $int_rhs:ident;)?
            grad($saves:ident): |$gs:ident, $gg:ident| da: $da:expr, db: $db:expr;
            test: ($doma:expr, $domb:expr), $tol:expr;
            torch: $torch:literal;
            cuda: $cuda:literal;
            $(cuda_int: $cuda_int:literal;)?
            $(cuda_bool: $cuda_bool:literal;)?
        }
    )*) => {
        /// Element-wise binary ops with broadcasting. Each variant is one row of the table
        /// in `op/binary.rs`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum BinaryOp {
            $( $(#[$doc])* $Var, )*
        }

        impl BinaryOp {
            /// The op's name: kernel name, error-message name, `Tensor` method name.
            pub fn name(&self) -> &'static str {
                match self {
                    $( BinaryOp::$Var => stringify!($method), )*
                }
            }

            /// The PyTorch expression of the op (`a`, `b` its operands).
            pub fn torch_expr(&self) -> &'static str {
                match self {
                    $( BinaryOp::$Var => $torch, )*
                }
            }

            /// The op's float kernel as a CUDA C++ expression of `a` and `b` (of the element
            /// type `T`), with the helpers of the CUDA backend's prelude.
            pub fn cuda_expr(&self) -> &'static str {
                match self {
                    $( BinaryOp::$Var => $cuda, )*
                }
            }

            /// The op's integer kernel as a CUDA expression (the row's `cuda_int`, else its
            /// `cuda`); `None` when the op has no integer kernel.
            pub fn cuda_int_expr(&self) -> Option<&'static str> {
                if !self.has_int_kernel() {
                    return None;
                }
                Some(match self {
                    $( BinaryOp::$Var => binary_ops!(@cuda_or $cuda $(, $cuda_int)?), )*
                })
            }

            /// The op's bool kernel as a CUDA expression of `bool` operands; `None` when
            /// the op has no bool kernel.
            pub fn cuda_bool_expr(&self) -> Option<&'static str> {
                if !self.has_bool_kernel() {
                    return None;
                }
                Some(match self {
                    $( BinaryOp::$Var => binary_ops!(@cuda_or $cuda $(, $cuda_bool)?), )*
                })
            }

            /// Whether the op has an integer kernel (otherwise integer and bool operands
            /// are computed in F32).
            pub fn has_int_kernel(&self) -> bool {
                match self {
                    $( BinaryOp::$Var => binary_ops!(@has $(|$ia, $ib| $ibody)?), )*
                }
            }

            /// Whether the op has a bool kernel (otherwise bool operands are computed in
            /// the dtype the op needs: I64 with an integer kernel, else F32).
            pub fn has_bool_kernel(&self) -> bool {
                match self {
                    $( BinaryOp::$Var => binary_ops!(@has $(|$ba, $bb| $bbody)?), )*
                }
            }

            /// What an integer right operand must satisfy.
            pub fn int_rhs(&self) -> IntRhs {
                match self {
                    $( BinaryOp::$Var => binary_ops!(@rhs $($int_rhs)?), )*
                }
            }

            /// Hands the op's float kernel to `k`.
            #[inline(always)]
            pub fn float_kernel<T: Real, K: BinaryKernel<T>>(self, k: K) -> Option<K::Out> {
                Some(match self {
                    $( BinaryOp::$Var => k.run(|$fa: T, $fb: T| -> T { $fbody }), )*
                })
            }

            /// Hands the op's integer kernel to `k`; `None` when it has none.
            #[inline(always)]
            pub fn int_kernel<T: Int, K: BinaryKernel<T>>(self, k: K) -> Option<K::Out> {
                match self {
                    $( BinaryOp::$Var => binary_ops!(@kernel k, T $(, |$ia, $ib| $ibody)?), )*
                }
            }

            /// Hands the op's bool kernel to `k`; `None` when it has none.
            #[inline(always)]
            pub fn bool_kernel<K: BinaryKernel<bool>>(self, k: K) -> Option<K::Out> {
                match self {
                    $( BinaryOp::$Var => binary_ops!(@kernel k, bool $(, |$ba, $bb| $bbody)?), )*
                }
            }

            /// The float kernel on one pair.
            #[inline(always)]
            pub fn eval<T: Real>(self, a: T, b: T) -> T {
                match self {
                    $( BinaryOp::$Var => { let ($fa, $fb) = (a, b); $fbody } )*
                }
            }

            /// The f64 definition: the reference the kernels are tested against.
            pub fn eval_f64(&self, a: f64, b: f64) -> f64 {
                self.eval::<f64>(a, b)
            }

            /// What the gradient rule reads.
            pub fn saves(&self) -> Saves {
                match self {
                    $( BinaryOp::$Var => bsaves_of!($saves), )*
                }
            }

            /// The operands' gradients given the output gradient `g` (in the broadcast
            /// shape), each summed back to its operand's shape; `None` where not wanted.
            pub fn backward(&self, s: &Saved, g: &Tensor) -> Result<[Option<Tensor>; 2]> {
                let (da, db): (Option<Result<Tensor>>, Option<Result<Tensor>>) = match self {
                    $( BinaryOp::$Var => {
                        let ($gs, $gg) = (s, g);
                        ($gs.wants(0).then(|| $da), $gs.wants(1).then(|| $db))
                    } )*
                };
                Ok([
                    da.map(|t| t?.sum_to_shape(s.shape(0)?)).transpose()?,
                    db.map(|t| t?.sum_to_shape(s.shape(1)?)).transpose()?,
                ])
            }

            /// Where the tests draw each operand from.
            pub fn test_domain(&self) -> (TestDomain, TestDomain) {
                #[allow(unused_imports)]
                use TestDomain::*;
                match self {
                    $( BinaryOp::$Var => ($doma, $domb), )*
                }
            }

            /// The tolerance class of the kernels against the f64 reference.
            pub fn tolerance(&self) -> Tol {
                #[allow(unused_imports)]
                use Tol::*;
                match self {
                    $( BinaryOp::$Var => $tol, )*
                }
            }

            /// Every op: what the conformance suite, the gradient checks and the PyTorch
            /// fixtures iterate over.
            pub fn samples() -> Vec<BinaryOp> {
                vec![$(BinaryOp::$Var),*]
            }
        }

        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $method(&self, rhs: &Tensor) -> Result<Tensor> {
                    self.binary(rhs, BinaryOp::$Var)
                }
            )*
        }
    };
    (@cuda_or $cuda:literal) => { $cuda };
    (@cuda_or $cuda:literal, $other:literal) => { $other };
    (@has) => { false };
    (@has |$a:ident, $b:ident| $body:expr) => { true };
    (@rhs) => { IntRhs::Any };
    (@rhs $r:ident) => { IntRhs::$r };
    (@kernel $k:ident, $T:ty) => { None };
    (@kernel $k:ident, $T:ty, |$a:ident, $b:ident| $body:expr) => {
        Some($k.run(|$a: $T, $b: $T| -> $T { $body }))
    };
}

binary_ops! {
    /// `self + rhs`, broadcasting (bool: logical or).
    Add add {
        float: |a, b| a + b;
        int: |a, b| a.wrapping_add(b);
        bool: |a, b| a | b;
        grad(none): |s, g| da: Ok(g.clone()), db: Ok(g.clone());
        test: (Any, Any), Arith;
        torch: "torch.add(a, b)";
        cuda: "a + b";
        cuda_int: "wadd(a, b)";
        cuda_bool: "a | b";
    }
    /// `self - rhs`, broadcasting.
    Sub sub {
        float: |a, b| a - b;
        int: |a, b| a.wrapping_sub(b);
        grad(none): |s, g| da: Ok(g.clone()), db: g.neg();
        test: (Any, Any), Arith;
        torch: "torch.sub(a, b)";
        cuda: "a - b";
        cuda_int: "wsub(a, b)";
    }
    /// `self * rhs`, broadcasting (bool: logical and).
    Mul mul {
        float: |a, b| a * b;
        int: |a, b| a.wrapping_mul(b);
        bool: |a, b| a & b;
        // d(ab) = b da + a db
        grad(inputs): |s, g| da: g * s.b()?, db: g * s.a()?;
        test: (Any, Any), Arith;
        torch: "torch.mul(a, b)";
        cuda: "a * b";
        cuda_int: "wmul(a, b)";
        cuda_bool: "a & b";
    }
    /// `self / rhs`, broadcasting: true division (integer operands give F32, as PyTorch;
    /// `div_floor`/`div_trunc` keep integers).
    Div div {
        float: |a, b| a / b;
        // d(a/b) = da / b - a db / b^2
        grad(inputs): |s, g| da: g / s.b()?, db: ((g * s.a()?)? / s.b()?.square()?)?.neg();
        test: (Any, NonZero), Arith;
        torch: "torch.div(a, b)";
        cuda: "a / b";
    }
    /// `self / rhs` rounded toward negative infinity (PyTorch `div(rounding_mode='floor')`,
    /// `floor_divide`). Integer division by zero is an error. Gradient zero.
    DivFloor div_floor {
        float: |a, b| div_floor_real(a, b);
        int: |a, b| a.div_floor(b);
        int_rhs: NonZero;
        grad(none): |s, g| da: g.zeros_like(), db: g.zeros_like();
        test: (Any, NonZero), Exact;
        torch: "torch.div(a, b, rounding_mode='floor')";
        cuda: "div_floor_real(a, b)";
        cuda_int: "div_floor_int(a, b)";
    }
    /// `self / rhs` rounded toward zero (PyTorch `div(rounding_mode='trunc')`). Integer
    /// division by zero is an error. Gradient zero.
    DivTrunc div_trunc {
        float: |a, b| (a / b).trunc();
        int: |a, b| a.div_trunc(b);
        int_rhs: NonZero;
        grad(none): |s, g| da: g.zeros_like(), db: g.zeros_like();
        test: (Any, NonZero), Exact;
        torch: "torch.div(a, b, rounding_mode='trunc')";
        cuda: "trunc(a / b)";
        cuda_int: "div_trunc_int(a, b)";
    }
    /// The remainder with the sign of `rhs` (PyTorch `remainder`, Python's `%`).
    Remainder remainder {
        float: |a, b| rem_floor_real(a, b);
        int: |a, b| a.rem_floor(b);
        int_rhs: NonZero;
        // d/da = 1, d/db = -floor(a / b)
        grad(inputs): |s, g| da: Ok(g.clone()), db: (g * s.a()?.div_floor(s.b()?)?)?.neg();
        test: (Any, NonZero), Arith;
        torch: "torch.remainder(a, b)";
        cuda: "rem_floor_real(a, b)";
        cuda_int: "rem_floor_int(a, b)";
    }
    /// The remainder with the sign of `self` (PyTorch `fmod`, C's `fmod`).
    Fmod fmod {
        float: |a, b| a % b;
        int: |a, b| a.rem_trunc(b);
        int_rhs: NonZero;
        // d/da = 1, d/db = -trunc(a / b)
        grad(inputs): |s, g| da: Ok(g.clone()), db: (g * s.a()?.div_trunc(s.b()?)?)?.neg();
        test: (Any, NonZero), Arith;
        torch: "torch.fmod(a, b)";
        cuda: "fmod(a, b)";
        cuda_int: "rem_trunc_int(a, b)";
    }
    /// `self ^ rhs`, broadcasting. Integer powers need non-negative exponents.
    Pow pow {
        float: |a, b| a.powf(b);
        int: |a, b| a.wrapping_pow(b);
        int_rhs: NonNegative;
        // d a^b = b a^(b-1) da + a^b ln(a) db; as PyTorch, da is 0 where b = 0 (not
        // 0 * 0^-1 = NaN at a = 0) and db is 0 where a = 0 and b >= 0
        grad(all): |s, g|
            da: {
                let (a, b) = (s.a()?, s.b()?);
                let d = (b * a.pow(&b.add_scalar(-1.0)?)?)?;
                g * Tensor::where_(&b.eq_scalar(0.0)?, &d.zeros_like()?, &d)?
            },
            db: {
                let (a, b) = (s.a()?, s.b()?);
                let zero_base = a.eq_scalar(0.0)?.logical_and(&b.ge_scalar(0.0)?)?;
                let ln = Tensor::where_(&zero_base, &a.zeros_like()?, &a.log()?)?;
                g * (s.y()? * ln)?
            };
        test: (Range(0.5, 3.0), Range(-2.0, 2.0)), Transcendental;
        torch: "torch.pow(a, b)";
        cuda: "pow(a, b)";
        cuda_int: "wpow(a, b)";
    }
    /// `atan(self / rhs)` with the quadrant of `(rhs, self)`.
    Atan2 atan2 {
        float: |a, b| a.atan2(b);
        // d/da = b / (a^2 + b^2), d/db = -a / (a^2 + b^2)
        grad(inputs): |s, g|
            da: g * (s.b()? / (s.a()?.square()? + s.b()?.square()?)?)?,
            db: (g * (s.a()? / (s.a()?.square()? + s.b()?.square()?)?)?)?.neg();
        test: (Any, NonZero), Transcendental;
        torch: "torch.atan2(a, b)";
        cuda: "atan2(a, b)";
    }
    /// Element-wise maximum (NaN propagates; bool: logical or). Ties split the gradient
    /// evenly, as PyTorch.
    Maximum maximum {
        float: |a, b| a.max_nan(b);
        int: |a, b| Ord::max(a, b);
        bool: |a, b| a | b;
        grad(inputs): |s, g| da: tie_split(s, g, true, 0), db: tie_split(s, g, true, 1);
        test: (Any, Any), Exact;
        torch: "torch.maximum(a, b)";
        cuda: "max_nan(a, b)";
        cuda_int: "(a > b ? a : b)";
        cuda_bool: "a | b";
    }
    /// Element-wise minimum (NaN propagates; bool: logical and). Ties split the gradient
    /// evenly, as PyTorch.
    Minimum minimum {
        float: |a, b| a.min_nan(b);
        int: |a, b| Ord::min(a, b);
        bool: |a, b| a & b;
        grad(inputs): |s, g| da: tie_split(s, g, false, 0), db: tie_split(s, g, false, 1);
        test: (Any, Any), Exact;
        torch: "torch.minimum(a, b)";
        cuda: "min_nan(a, b)";
        cuda_int: "(a < b ? a : b)";
        cuda_bool: "a & b";
    }
}

/// The share of `g` that operand `which` of `maximum` (`max`) or `minimum` gets: all of it
/// where it wins, half on a tie.
fn tie_split(s: &Saved, g: &Tensor, max: bool, which: usize) -> Result<Tensor> {
    let (a, b) = (s.a()?, s.b()?);
    let (mine, other) = if which == 0 { (a, b) } else { (b, a) };
    let wins = if max {
        mine.gt(other)?
    } else {
        mine.lt(other)?
    };
    let share = wins
        .to_dtype(g.dtype())?
        .add(&mine.eq(other)?.to_dtype(g.dtype())?.mul_scalar(0.5)?)?;
    g * share
}

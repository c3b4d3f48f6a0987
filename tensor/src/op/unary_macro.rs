//! The macro behind the unary op table (`unary.rs`): from the rows it generates the
//! `UnaryOp` enum and everything the rows define (see `unary.rs` for the row syntax).
//! Names in the generated code resolve where the table is written, so `unary.rs` imports
//! what the expansion uses.

/// `f64` for each listed param (a type in the enum's variant list).
macro_rules! f64_of {
    ($p:ident) => {
        f64
    };
}

/// Saves as written in a row.
macro_rules! saves_of {
    (none) => {
        Saves {
            input: false,
            output: false,
        }
    };
    (x) => {
        Saves {
            input: true,
            output: false,
        }
    };
    (y) => {
        Saves {
            input: false,
            output: true,
        }
    };
    (xy) => {
        Saves {
            input: true,
            output: true,
        }
    };
}

macro_rules! unary_ops {
    ($(
        $(#[$doc:meta])*
        $Var:ident $method:ident $(($($p:ident),*))? {
            float: |$fx:ident| $fbody:expr;
            $(int: |$ix:ident| $ibody:expr;)?
            $(reference: |$rx:ident| $rbody:expr;)?
            $(check: $check:expr;)?
            $(int_when: $int_when:expr;)?
            grad($saves:ident): |$gs:ident, $gg:ident| $gbody:expr;
            test: $dom:expr, $tol:expr $(, kinks: $kinks:expr)?;
            $(samples: [$(($($sv:expr),*)),* $(,)?];)?
            torch: $torch:literal;
            cuda: $cuda:literal;
            $(cuda_int: $cuda_int:literal;)?
        }
    )*) => {
        /// Element-wise unary maps. Parametrised variants carry their scalars as f64. Each
        /// variant is one row of the table in `op/unary.rs`.
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub enum UnaryOp {
            $( $(#[$doc])* $Var $(($(f64_of!($p)),*))?, )*
        }

        impl UnaryOp {
            /// The op's name: kernel name, error-message name, `Tensor` method name.
            pub fn name(&self) -> &'static str {
                match self {
                    $( UnaryOp::$Var $(($($p),*))? => { $($(let _ = $p;)*)? stringify!($method) } )*
                }
            }

            /// The op's scalars, in order (empty for ops without any).
            pub fn params(&self) -> Vec<f64> {
                match *self {
                    $( UnaryOp::$Var $(($($p),*))? => vec![$($($p),*)?], )*
                }
            }

            /// The PyTorch expression of the op (`x` the input, `{0}`, `{1}` its params),
            /// for the script that generates the PyTorch fixtures.
            pub fn torch_expr(&self) -> &'static str {
                match self {
                    $( UnaryOp::$Var $(($($p),*))? => { $($(let _ = $p;)*)? $torch } )*
                }
            }

            /// The op's float kernel as a CUDA C++ expression of `x` (of the element type
            /// `T`) and the row's params (`double`s, by their names in the row), with the
            /// helpers of the CUDA backend's prelude: what that backend compiles for f32
            /// and f64.
            pub fn cuda_expr(&self) -> &'static str {
                match self {
                    $( UnaryOp::$Var $(($($p),*))? => { $($(let _ = $p;)*)? $cuda } )*
                }
            }

            /// The op's integer kernel as a CUDA expression (the row's `cuda_int`, else its
            /// `cuda`); `None` when the op has no integer kernel.
            pub fn cuda_int_expr(&self) -> Option<&'static str> {
                if !self.has_int_kernel() {
                    return None;
                }
                match self {
                    $( UnaryOp::$Var $(($($p),*))? => {
                        $($(let _ = $p;)*)?
                        Some(unary_ops!(@cuda_int $cuda $(, $cuda_int)?))
                    } )*
                }
            }

            /// The names of the op's params, in order (as the CUDA expressions use them).
            pub fn param_names(&self) -> &'static [&'static str] {
                match self {
                    $( UnaryOp::$Var $(($($p),*))? => {
                        $($(let _ = $p;)*)?
                        &[$($(stringify!($p)),*)?]
                    } )*
                }
            }

            /// Errors when the op's scalars are out of their domain (`clamp` with
            /// `min > max`, ...).
            pub fn validate(&self) -> Result<()> {
                match *self {
                    $( UnaryOp::$Var $(($($p),*))? => {
                        $($(let _ = $p;)*)?
                        $( let r: Result<()> = $check; r?; )?
                        Ok(())
                    } )*
                }
            }

            /// Whether the op has an integer kernel (otherwise integer and bool tensors
            /// are computed in F32, as PyTorch promotes `exp` of an int tensor).
            pub fn has_int_kernel(&self) -> bool {
                match self {
                    $( UnaryOp::$Var $(($($p),*))? => {
                        $($(let _ = $p;)*)?
                        unary_ops!(@has $(|$ix| $ibody)?)
                    } )*
                }
            }

            /// Whether an integer tensor takes the integer kernel with these params: they
            /// are integral (or infinite: a one-sided clamp), and the row's `int_when`
            /// holds (`powf` keeps integers for exponents `>= 0` only, as PyTorch).
            pub fn int_params(&self) -> bool {
                let integral = self.params().iter().all(|p| p.fract() == 0.0 || p.is_infinite());
                integral && match *self {
                    $( UnaryOp::$Var $(($($p),*))? => {
                        $($(let _ = $p;)*)?
                        unary_ops!(@when $($int_when)?)
                    } )*
                }
            }

            /// Hands the op's float kernel to `k`.
            #[inline(always)]
            pub fn float_kernel<T: Real, K: UnaryKernel<T>>(self, k: K) -> Option<K::Out> {
                Some(match self {
                    $( UnaryOp::$Var $(($($p),*))? => k.run(move |$fx: T| -> T { $fbody }), )*
                })
            }

            /// Hands the op's integer kernel to `k`; `None` when it has none.
            #[inline(always)]
            pub fn int_kernel<T: Int, K: UnaryKernel<T>>(self, k: K) -> Option<K::Out> {
                match self {
                    $( UnaryOp::$Var $(($($p),*))? => {
                        $($(let _ = $p;)*)?
                        unary_ops!(@int k, T $(, |$ix| $ibody)?)
                    } )*
                }
            }

            /// Unary maps have no bool kernel: bool tensors are computed in F32 or rejected.
            #[inline(always)]
            pub fn bool_kernel<K: UnaryKernel<bool>>(self, _k: K) -> Option<K::Out> {
                None
            }

            /// The float kernel on one value.
            #[inline(always)]
            pub fn eval<T: Real>(self, x: T) -> T {
                match self {
                    $( UnaryOp::$Var $(($($p),*))? => { let $fx = x; $fbody } )*
                }
            }

            /// The f64 definition: the reference every kernel is tested against.
            pub fn eval_f64(&self, x: f64) -> f64 {
                match *self {
                    $( UnaryOp::$Var $(($($p),*))? => {
                        $($(let _ = $p;)*)?
                        unary_ops!(@ref self, x $(, |$rx| $rbody)?)
                    } )*
                }
            }

            /// What the gradient rule reads.
            pub fn saves(&self) -> Saves {
                match self {
                    $( UnaryOp::$Var $(($($p),*))? => { $($(let _ = $p;)*)? saves_of!($saves) } )*
                }
            }

            /// The input gradient given the output gradient `g`, written with tensor ops
            /// (so a tape recording it gives gradients of gradients).
            pub fn backward(&self, s: &Saved, g: &Tensor) -> Result<Tensor> {
                match *self {
                    $( UnaryOp::$Var $(($($p),*))? => {
                        $($(let _ = $p;)*)?
                        let ($gs, $gg) = (s, g);
                        $gbody
                    } )*
                }
            }

            /// Where the tests draw inputs from.
            pub fn test_domain(&self) -> TestDomain {
                #[allow(unused_imports)]
                use TestDomain::*;
                match *self {
                    $( UnaryOp::$Var $(($($p),*))? => { $($(let _ = $p;)*)? $dom } )*
                }
            }

            /// The tolerance class of the kernels against the f64 reference.
            pub fn tolerance(&self) -> Tol {
                #[allow(unused_imports)]
                use Tol::*;
                match *self {
                    $( UnaryOp::$Var $(($($p),*))? => { $($(let _ = $p;)*)? $tol } )*
                }
            }

            /// Points where the gradient jumps: the gradient checks keep away from them.
            pub fn kinks(&self) -> Vec<f64> {
                match *self {
                    $( UnaryOp::$Var $(($($p),*))? => {
                        $($(let _ = $p;)*)?
                        unary_ops!(@kinks $($kinks)?)
                    } )*
                }
            }

            /// Every op, with the parameter values the tests use: the conformance suite,
            /// the gradient checks and the PyTorch fixtures iterate over this list, so an
            /// op cannot exist without being tested.
            #[allow(clippy::vec_init_then_push)]
            pub fn samples() -> Vec<UnaryOp> {
                let mut v = Vec::new();
                $( unary_ops!(@samples v, $Var $(($($p),*))? $(, [$(($($sv),*)),*])?); )*
                v
            }
        }

        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $method(&self $($(, $p: f64)*)?) -> Result<Tensor> {
                    self.unary(UnaryOp::$Var $(($($p),*))?)
                }
            )*
        }
    };
    (@cuda_int $cuda:literal) => { $cuda };
    (@cuda_int $cuda:literal, $cuda_int:literal) => { $cuda_int };
    (@when) => { true };
    (@when $when:expr) => { $when };
    (@kinks) => { Vec::new() };
    (@kinks $kinks:expr) => { $kinks };
    (@has) => { false };
    (@has |$ix:ident| $ibody:expr) => { true };
    (@int $k:ident, $T:ident) => { None };
    (@int $k:ident, $T:ident, |$ix:ident| $ibody:expr) => {
        Some($k.run(move |$ix: $T| -> $T { $ibody }))
    };
    (@ref $op:ident, $x:ident) => { $op.eval::<f64>($x) };
    (@ref $op:ident, $x:ident, |$rx:ident| $rbody:expr) => {{ let $rx = $x; $rbody }};
    (@samples $v:ident, $Var:ident) => { $v.push(UnaryOp::$Var) };
    (@samples $v:ident, $Var:ident ($($p:ident),*), [$(($($sv:expr),*)),*]) => {
        $( $v.push(UnaryOp::$Var($($sv),*)); )*
    };
}

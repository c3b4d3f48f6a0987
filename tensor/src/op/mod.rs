//! The primitive ops, as enum values passed to a backend. The element-wise ops are tables
//! (`unary.rs`, `binary.rs`): one row per op generates its enum variant, name, kernels,
//! f64 reference, gradient rule, test metadata and `Tensor` method, so an op cannot be
//! half-defined. The small fixed families (comparisons, reductions, scans, random fills)
//! are plain enums below. A variant's name is its kernel name and the `op` in errors.

mod binary;
pub(crate) mod math;
pub(crate) mod scalar;
// The table macro first: `macro_rules!` are visible only below their module.
#[macro_use]
mod unary_macro;
mod unary;

pub use binary::{BinaryOp, IntRhs};
pub use math::{erf_f64, sigmoid_f64};
pub use scalar::{BinaryKernel, ElemOps, Half, Int, Real, UnaryKernel};
pub use unary::UnaryOp;

use crate::{Error, Result, Shape, Tensor};

/// Which values an op's gradient rule reads, so a tape saves only those.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Saves {
    /// The inputs.
    pub input: bool,
    /// The output.
    pub output: bool,
}

/// What a gradient rule reads: the saved inputs and output, the inputs' shapes and which
/// inputs want a gradient. Reading a value the op's [`Saves`] did not ask for is an error
/// (a table row that forgot it), found by the gradient checks of every op.
pub struct Saved<'a> {
    pub op: &'static str,
    pub inputs: &'a [Tensor],
    pub output: Option<&'a Tensor>,
    pub shapes: &'a [Shape],
    pub wants: &'a [bool],
}

impl<'a> Saved<'a> {
    fn missing(&self, what: &str) -> Error {
        Error::Invalid {
            op: "backward",
            msg: format!(
                "the rule of {} reads its {what}, which it does not save",
                self.op
            ),
        }
    }
    fn input(&self, i: usize) -> Result<&'a Tensor> {
        self.inputs.get(i).ok_or_else(|| self.missing("input"))
    }
    /// The input of a unary op.
    pub fn x(&self) -> Result<&'a Tensor> {
        self.input(0)
    }
    /// The left operand of a binary op.
    pub fn a(&self) -> Result<&'a Tensor> {
        self.input(0)
    }
    /// The right operand of a binary op.
    pub fn b(&self) -> Result<&'a Tensor> {
        self.input(1)
    }
    /// The output.
    pub fn y(&self) -> Result<&'a Tensor> {
        self.output.ok_or_else(|| self.missing("output"))
    }
    /// The shape of input `i`.
    pub fn shape(&self, i: usize) -> Result<&'a Shape> {
        self.shapes
            .get(i)
            .ok_or_else(|| self.missing("input shape"))
    }
    /// Whether input `i` needs a gradient.
    pub fn wants(&self, i: usize) -> bool {
        self.wants.get(i).copied().unwrap_or(false)
    }
}

/// Where a test draws an op's inputs from (the conformance suite maps it to values per
/// dtype; the gradient checks to a smaller float range).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TestDomain {
    /// Any value, [-10, 10] for floats.
    Any,
    /// Positive values.
    Positive,
    /// Values away from zero.
    NonZero,
    /// Floats in `[lo, hi)`.
    Range(f64, f64),
}

/// How close a kernel must come to the f64 reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tol {
    /// Bit for bit (sign, abs, rounding, max, ...).
    Exact,
    /// A few ulps: one rounding per arithmetic step.
    Arith,
    /// Library-function accuracy (exp, log, tanh, erf, ...).
    Transcendental,
}

/// Comparisons; the result is a `Bool` mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn name(&self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
        }
    }

    /// The comparison as a CUDA C++ expression of `a` and `b` (what the CUDA backend
    /// compiles).
    pub fn cuda_expr(&self) -> &'static str {
        match self {
            CmpOp::Eq => "a == b",
            CmpOp::Ne => "a != b",
            CmpOp::Lt => "a < b",
            CmpOp::Le => "a <= b",
            CmpOp::Gt => "a > b",
            CmpOp::Ge => "a >= b",
        }
    }

    /// Every comparison.
    pub const ALL: [CmpOp; 6] = [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ];

    pub fn eval<T: PartialOrd>(&self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

/// Reductions over a set of axes. `ArgMax`/`ArgMin` reduce one axis and give `I64`
/// indices (the first occurrence on ties, as PyTorch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Prod,
    Max,
    Min,
    ArgMax,
    ArgMin,
}

impl ReduceOp {
    pub fn name(&self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Prod => "prod",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
            ReduceOp::ArgMax => "argmax",
            ReduceOp::ArgMin => "argmin",
        }
    }

    /// Every reduction.
    pub const ALL: [ReduceOp; 6] = [
        ReduceOp::Sum,
        ReduceOp::Prod,
        ReduceOp::Max,
        ReduceOp::Min,
        ReduceOp::ArgMax,
        ReduceOp::ArgMin,
    ];

    /// The CUDA C++ name of the reduction's combining functor in the CUDA backend's
    /// reduction source (`SumOp`, ...: identity and combine of two partial results; the
    /// arg-reductions combine `(value, index)` pairs, NaN and then the first index winning).
    pub fn cuda_functor(&self) -> &'static str {
        match self {
            ReduceOp::Sum => "SumOp",
            ReduceOp::Prod => "ProdOp",
            ReduceOp::Max => "MaxOp",
            ReduceOp::Min => "MinOp",
            ReduceOp::ArgMax => "ArgMaxOp",
            ReduceOp::ArgMin => "ArgMinOp",
        }
    }
}

/// Distributions for seeded random fills.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Uniform in `[lo, hi)`.
    Uniform { lo: f64, hi: f64 },
    /// Normal with the given mean and standard deviation.
    Normal { mean: f64, std: f64 },
}

/// Inclusive scans along one axis (`cumsum`, `cumprod`, `logcumsumexp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScanOp {
    Sum,
    Prod,
    /// `log(sum(exp(x)))` of each prefix, accumulated stably.
    LogSumExp,
}

impl ScanOp {
    pub fn name(&self) -> &'static str {
        match self {
            ScanOp::Sum => "cumsum",
            ScanOp::Prod => "cumprod",
            ScanOp::LogSumExp => "logcumsumexp",
        }
    }
}

/// How `scatter` combines the values written to one position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScatterReduce {
    /// Overwrite (the last write wins when indices repeat).
    Replace,
    Sum,
    Prod,
    /// The mean of the written values and, unless excluded, the original one.
    Mean,
    Amax,
    Amin,
}

impl ScatterReduce {
    pub fn name(&self) -> &'static str {
        match self {
            ScatterReduce::Replace => "scatter",
            ScatterReduce::Sum => "scatter_add",
            ScatterReduce::Prod => "scatter_reduce(prod)",
            ScatterReduce::Mean => "scatter_reduce(mean)",
            ScatterReduce::Amax => "scatter_reduce(amax)",
            ScatterReduce::Amin => "scatter_reduce(amin)",
        }
    }
}

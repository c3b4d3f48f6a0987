//! Element types. `DType` is the run-time tag every tensor carries; `Element` ties a Rust
//! scalar type to its tag so that `from_vec`/`to_vec` stay generic while `Tensor` does not.
//!
//! The dtype list is written once, in [`with_dtype!`](crate::with_dtype): every `match`
//! over dtypes elsewhere goes through it (or is exhaustive without a catch-all), so a new
//! dtype is a compile error wherever it is not handled yet. Type promotion, the one rule
//! for mixing dtypes, is [`DType::promote`].

use std::fmt;

/// The element type of a tensor.
///
/// `F32` is the default for models, `F64` for gradient checks, `I64`/`U32` for indices and
/// labels, `Bool` for masks (comparisons return it), `F16`/`BF16` for reduced-precision
/// storage and mixed-precision compute (IEEE binary16 and bfloat16, as `half::f16` and
/// `half::bf16`; their arithmetic runs in f32 and rounds once, reductions accumulate in f32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F32,
    F64,
    I64,
    U32,
    Bool,
    F16,
    BF16,
}

/// Runs `$body` with the type alias `$T` bound to the Rust element type of the
/// [`DType`] `$dtype`: the one place that maps tags to types.
///
/// ```
/// use lamina_tensor::{with_dtype, DType};
/// let bytes = with_dtype!(DType::I64, T => std::mem::size_of::<T>());
/// assert_eq!(bytes, 8);
/// ```
#[macro_export]
macro_rules! with_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::DType::U32 => {
                type $T = u32;
                $body
            }
            $crate::DType::Bool => {
                type $T = bool;
                $body
            }
            $crate::DType::F16 => {
                type $T = $crate::f16;
                $body
            }
            $crate::DType::BF16 => {
                type $T = $crate::bf16;
                $body
            }
        }
    };
}

/// The kind of a dtype, in PyTorch's promotion order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DTypeKind {
    Bool,
    Int,
    Float,
}

impl DType {
    /// Every dtype, in declaration order.
    pub const ALL: [DType; 7] = [
        DType::F32,
        DType::F64,
        DType::I64,
        DType::U32,
        DType::Bool,
        DType::F16,
        DType::BF16,
    ];

    /// Size of one element in bytes.
    pub fn size_in_bytes(self) -> usize {
        with_dtype!(self, T => std::mem::size_of::<T>())
    }

    /// Bool, integer or floating point.
    pub fn kind(self) -> DTypeKind {
        match self {
            DType::F32 | DType::F64 | DType::F16 | DType::BF16 => DTypeKind::Float,
            DType::I64 | DType::U32 => DTypeKind::Int,
            DType::Bool => DTypeKind::Bool,
        }
    }

    /// Floating-point types support the transcendental ops and gradients.
    pub fn is_float(self) -> bool {
        self.kind() == DTypeKind::Float
    }

    /// `I64` and `U32`.
    pub fn is_int(self) -> bool {
        self.kind() == DTypeKind::Int
    }

    /// Short name (`f32`, `i64`, `bool`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I64 => "i64",
            DType::U32 => "u32",
            DType::Bool => "bool",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
        }
    }

    /// The dtype two tensor operands are computed in, PyTorch's rule (the only place
    /// Lamina mixes dtypes; see `docs/DESIGN.md`, "Type promotion"):
    ///
    /// - the higher kind wins: bool < integer < float (`i64 + f32 -> f32`);
    /// - within a kind the wider type wins (`f32 + f64 -> f64`, `u32 + i64 -> i64`,
    ///   `bf16 + f32 -> f32`), and the two half types meet in `F32` (`f16 + bf16 -> f32`:
    ///   neither holds the other's values).
    ///
    /// A Rust scalar operand (`&x * 2.0`) does not take part: the tensor keeps its dtype,
    /// except that an integer or bool tensor with a non-integral scalar computes in `F32`
    /// (as `torch.tensor([1, 2]) * 2.5`), and a bool tensor with an integral one in `I64`.
    ///
    /// ```
    /// use lamina_tensor::DType;
    /// assert_eq!(DType::promote(DType::F32, DType::F64), DType::F64);
    /// assert_eq!(DType::promote(DType::I64, DType::F32), DType::F32);
    /// assert_eq!(DType::promote(DType::Bool, DType::U32), DType::U32);
    /// assert_eq!(DType::promote(DType::F16, DType::BF16), DType::F32);
    /// ```
    pub fn promote(a: DType, b: DType) -> DType {
        if a == b {
            return a;
        }
        match a.kind().cmp(&b.kind()) {
            std::cmp::Ordering::Greater => a,
            std::cmp::Ordering::Less => b,
            // Same kind, different types: the wider one (F64 over F32, I64 over U32).
            std::cmp::Ordering::Equal => {
                if a.size_in_bytes() == b.size_in_bytes() && a.is_float() {
                    DType::F32
                } else if a.size_in_bytes() >= b.size_in_bytes() {
                    a
                } else {
                    b
                }
            }
        }
    }

    /// The dtype a tensor of this dtype computes in with the Rust scalar `s` (see
    /// [`DType::promote`]).
    pub fn with_scalar(self, s: f64) -> DType {
        match self.kind() {
            DTypeKind::Float => self,
            _ if s.fract() != 0.0 || !s.is_finite() => DType::F32,
            DTypeKind::Int => self,
            DTypeKind::Bool => DType::I64,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Rust scalar type that can live in a tensor.
pub trait Element: Copy + Send + Sync + PartialOrd + fmt::Debug + Default + 'static {
    /// The tag of this type.
    const DTYPE: DType;
    /// Converts to f64 (exact for every value of f32, u32, bool; rounds large i64).
    fn to_f64(self) -> f64;
    /// Converts from f64 with `as` semantics (saturating for integers, NaN -> 0; bool:
    /// non-zero is true).
    fn from_f64(v: f64) -> Self;
    /// Wraps an owned vector into the dtype-tagged host buffer.
    fn into_host(v: Vec<Self>) -> HostData;
    /// Borrows the vector out of a host buffer of this type.
    fn from_host(h: HostData) -> Option<Vec<Self>>;
}

macro_rules! element {
    ($t:ty, $variant:ident, |$x:ident| $to:expr, |$v:ident| $from:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                let $x = self;
                $to
            }
            #[inline(always)]
            fn from_f64($v: f64) -> Self {
                $from
            }
            fn into_host(v: Vec<Self>) -> HostData {
                HostData::$variant(v)
            }
            fn from_host(h: HostData) -> Option<Vec<Self>> {
                if let HostData::$variant(v) = h {
                    Some(v)
                } else {
                    None
                }
            }
        }
    };
}
element!(f32, F32, |x| x as f64, |v| v as f32);
element!(f64, F64, |x| x, |v| v);
element!(i64, I64, |x| x as f64, |v| v as i64);
element!(u32, U32, |x| x as f64, |v| v as u32);
element!(bool, Bool, |x| x as u8 as f64, |v| v != 0.0);
// From f64 by the half crate: to nearest even (overflow to ±inf, NaN kept); for f16 through
// f32 on CPUs with F16C (as PyTorch's `c10::Half(float(x))`), so an f64 within f32's
// rounding of a tie can round twice. From f32 values it rounds once.
element!(half::f16, F16, |x| x.to_f64(), |v| half::f16::from_f64(v));
element!(half::bf16, BF16, |x| x.to_f64(), |v| half::bf16::from_f64(
    v
));

/// Tensor data on the host, tagged by dtype: what backends upload from and download to.
#[derive(Clone, Debug, PartialEq)]
pub enum HostData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    U32(Vec<u32>),
    Bool(Vec<bool>),
    F16(Vec<half::f16>),
    BF16(Vec<half::bf16>),
}

/// Runs `$body` with `$v` bound to the vector inside a `HostData`, whatever its dtype.
macro_rules! with_host {
    ($h:expr, $v:ident => $body:expr) => {
        match $h {
            HostData::F32($v) => $body,
            HostData::F64($v) => $body,
            HostData::I64($v) => $body,
            HostData::U32($v) => $body,
            HostData::Bool($v) => $body,
            HostData::F16($v) => $body,
            HostData::BF16($v) => $body,
        }
    };
}

impl HostData {
    pub fn dtype(&self) -> DType {
        match self {
            HostData::F32(_) => DType::F32,
            HostData::F64(_) => DType::F64,
            HostData::I64(_) => DType::I64,
            HostData::U32(_) => DType::U32,
            HostData::Bool(_) => DType::Bool,
            HostData::F16(_) => DType::F16,
            HostData::BF16(_) => DType::BF16,
        }
    }

    pub fn len(&self) -> usize {
        with_host!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every element converted to f64 (used by `Display` and the conformance suite).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        with_host!(self, v => v.iter().map(|&x| x.to_f64()).collect())
    }

    /// Builds a buffer of `dtype` from f64 values (`as` conversion; bool: non-zero).
    pub fn from_f64_vec(values: &[f64], dtype: DType) -> HostData {
        with_dtype!(dtype, T => T::into_host(values.iter().map(|&x| T::from_f64(x)).collect()))
    }
}

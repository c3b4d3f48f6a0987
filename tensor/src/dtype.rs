//! Element types. `DType` is the run-time tag every tensor carries; `Element` ties a Rust
//! scalar type to its tag so that `from_vec`/`to_vec` stay generic while `Tensor` does not.

use std::fmt;

/// The element type of a tensor.
///
/// `F32` is the default for models, `F64` for gradient checks, `I64`/`U32` for indices,
/// labels and masks. Half types (`F16`/`BF16`) arrive with mixed precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DType {
    F32,
    F64,
    I64,
    U32,
}

impl DType {
    /// Size of one element in bytes.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 | DType::U32 => 4,
            DType::F64 | DType::I64 => 8,
        }
    }

    /// Floating-point types support the transcendental ops and gradients.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// Lower-case name as PyTorch spells it (`float32`, `int64`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I64 => "i64",
            DType::U32 => "u32",
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
    /// Converts to f64 (exact for every value of f32, u32; rounds large i64).
    fn to_f64(self) -> f64;
    /// Converts from f64 with `as` semantics (saturating for integers, NaN -> 0).
    fn from_f64(v: f64) -> Self;
    /// Wraps an owned vector into the dtype-tagged host buffer.
    fn into_host(v: Vec<Self>) -> HostData;
    /// Borrows the vector out of a host buffer of this type.
    fn from_host(h: HostData) -> Option<Vec<Self>>;
}

macro_rules! element {
    ($t:ty, $variant:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn into_host(v: Vec<Self>) -> HostData {
                HostData::$variant(v)
            }
            fn from_host(h: HostData) -> Option<Vec<Self>> {
                match h {
                    HostData::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}
element!(f32, F32);
element!(f64, F64);
element!(i64, I64);
element!(u32, U32);

/// Tensor data on the host, tagged by dtype: what backends upload from and download to.
#[derive(Clone, Debug, PartialEq)]
pub enum HostData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    U32(Vec<u32>),
}

impl HostData {
    pub fn dtype(&self) -> DType {
        match self {
            HostData::F32(_) => DType::F32,
            HostData::F64(_) => DType::F64,
            HostData::I64(_) => DType::I64,
            HostData::U32(_) => DType::U32,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            HostData::F32(v) => v.len(),
            HostData::F64(v) => v.len(),
            HostData::I64(v) => v.len(),
            HostData::U32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every element converted to f64 (used by `Display` and the conformance suite).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            HostData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            HostData::F64(v) => v.clone(),
            HostData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            HostData::U32(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }

    /// Builds a buffer of `dtype` from f64 values (`as` conversion).
    pub fn from_f64_vec(values: &[f64], dtype: DType) -> HostData {
        match dtype {
            DType::F32 => HostData::F32(values.iter().map(|&x| x as f32).collect()),
            DType::F64 => HostData::F64(values.to_vec()),
            DType::I64 => HostData::I64(values.iter().map(|&x| x as i64).collect()),
            DType::U32 => HostData::U32(values.iter().map(|&x| x as u32).collect()),
        }
    }
}

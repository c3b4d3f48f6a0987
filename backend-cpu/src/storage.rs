//! `CpuStorage`: a dtype-tagged buffer from the caching allocator, and the one macro
//! that dispatches over dtypes (written once here, never per op).

use std::any::Any;

use lamina_tensor::{with_dtype, DType, HostData, Storage};

use crate::alloc::PoolVec;

/// The elements of CPU tensors, one variant per dtype.
#[derive(Debug)]
pub enum CpuStorage {
    F32(PoolVec<f32>),
    F64(PoolVec<f64>),
    I64(PoolVec<i64>),
    U32(PoolVec<u32>),
    Bool(PoolVec<bool>),
    F16(PoolVec<lamina_tensor::f16>),
    BF16(PoolVec<lamina_tensor::bf16>),
}

/// Runs `$body` with `$v` bound to the typed buffer of `$s`, for every dtype.
macro_rules! with_storage {
    ($s:expr, $v:ident => $body:expr) => {
        match $s {
            $crate::storage::CpuStorage::F32($v) => $body,
            $crate::storage::CpuStorage::F64($v) => $body,
            $crate::storage::CpuStorage::I64($v) => $body,
            $crate::storage::CpuStorage::U32($v) => $body,
            $crate::storage::CpuStorage::Bool($v) => $body,
            $crate::storage::CpuStorage::F16($v) => $body,
            $crate::storage::CpuStorage::BF16($v) => $body,
        }
    };
}
pub(crate) use with_storage;

impl CpuStorage {
    pub fn zeros(len: usize, dtype: DType) -> CpuStorage {
        with_dtype!(dtype, T => T::wrap(PoolVec::zeroed(len)))
    }

    pub fn from_host(data: HostData) -> CpuStorage {
        match data {
            HostData::F32(v) => CpuStorage::F32(PoolVec::from_vec(v)),
            HostData::F64(v) => CpuStorage::F64(PoolVec::from_vec(v)),
            HostData::I64(v) => CpuStorage::I64(PoolVec::from_vec(v)),
            HostData::U32(v) => CpuStorage::U32(PoolVec::from_vec(v)),
            HostData::Bool(v) => CpuStorage::Bool(PoolVec::from_vec(v)),
            HostData::F16(v) => CpuStorage::F16(PoolVec::from_vec(v)),
            HostData::BF16(v) => CpuStorage::BF16(PoolVec::from_vec(v)),
        }
    }

    /// The elements of `layout` in logical order, as host data.
    pub fn to_host(&self, layout: &lamina_tensor::Layout) -> HostData {
        with_storage!(self, v => lamina_tensor::Element::into_host(
            crate::kernels::elementwise::gather_map(v, layout, |x| x).into_vec()
        ))
    }
}

/// Typed access to a `CpuStorage` variant.
pub trait CpuElem: lamina_tensor::ElemOps {
    fn slice(s: &CpuStorage) -> Option<&[Self]>;
    fn slice_mut(s: &mut CpuStorage) -> Option<&mut [Self]>;
    fn wrap(v: PoolVec<Self>) -> CpuStorage;
}

macro_rules! cpu_elem {
    ($t:ty, $variant:ident) => {
        impl CpuElem for $t {
            fn slice(s: &CpuStorage) -> Option<&[Self]> {
                if let CpuStorage::$variant(v) = s {
                    Some(v)
                } else {
                    None
                }
            }
            fn slice_mut(s: &mut CpuStorage) -> Option<&mut [Self]> {
                if let CpuStorage::$variant(v) = s {
                    Some(v)
                } else {
                    None
                }
            }
            fn wrap(v: PoolVec<Self>) -> CpuStorage {
                CpuStorage::$variant(v)
            }
        }
    };
}
cpu_elem!(f32, F32);
cpu_elem!(f64, F64);
cpu_elem!(i64, I64);
cpu_elem!(u32, U32);
cpu_elem!(bool, Bool);
cpu_elem!(lamina_tensor::f16, F16);
cpu_elem!(lamina_tensor::bf16, BF16);

impl Storage for CpuStorage {
    fn dtype(&self) -> DType {
        match self {
            CpuStorage::F32(_) => DType::F32,
            CpuStorage::F64(_) => DType::F64,
            CpuStorage::I64(_) => DType::I64,
            CpuStorage::U32(_) => DType::U32,
            CpuStorage::Bool(_) => DType::Bool,
            CpuStorage::F16(_) => DType::F16,
            CpuStorage::BF16(_) => DType::BF16,
        }
    }
    fn len(&self) -> usize {
        with_storage!(self, v => v.len())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

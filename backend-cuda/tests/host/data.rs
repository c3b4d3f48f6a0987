//! Typed buffers for the host-run kernel tests: dtype sizes, little-endian bytes of host
//! data, elements read back, and agreement within a dtype's tolerance.

use lamina_backend_cuda::launch::StridedArg;
use lamina_tensor::{bf16, f16, DType, HostData, Layout};

pub fn size_of(d: DType) -> usize {
    match d {
        DType::F64 | DType::I64 => 8,
        DType::F32 | DType::U32 => 4,
        DType::F16 | DType::BF16 => 2,
        DType::Bool => 1,
    }
}

pub fn bytes(h: &HostData) -> Vec<u8> {
    match h {
        HostData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostData::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostData::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostData::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostData::Bool(v) => v.iter().map(|&x| u8::from(x)).collect(),
        HostData::F16(v) => v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect(),
        HostData::BF16(v) => v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect(),
    }
}

/// Element `i` of little-endian `b` of dtype `d`, as f64 (exact for every dtype but the
/// 64-bit integers beyond 2^53, which are compared as integers separately).
pub fn element(b: &[u8], d: DType, i: usize) -> (f64, i128) {
    let s = size_of(d);
    let c = &b[i * s..(i + 1) * s];
    match d {
        DType::F64 => (f64::from_le_bytes(c.try_into().unwrap()), 0),
        DType::F32 => (f64::from(f32::from_le_bytes(c.try_into().unwrap())), 0),
        DType::F16 => (
            f16::from_bits(u16::from_le_bytes(c.try_into().unwrap())).to_f64(),
            0,
        ),
        DType::BF16 => (
            bf16::from_bits(u16::from_le_bytes(c.try_into().unwrap())).to_f64(),
            0,
        ),
        DType::I64 => (0.0, i128::from(i64::from_le_bytes(c.try_into().unwrap()))),
        DType::U32 => (0.0, i128::from(u32::from_le_bytes(c.try_into().unwrap()))),
        DType::Bool => (0.0, i128::from(c[0])),
    }
}

/// The tolerance of a float result, relative to `max(|want|, floor)`: a few ulps of the
/// dtype (the host's libm and the CPU backend's kernels are different implementations of
/// each function), more for f32, where formulas like gelu_tanh's `1 + tanh(z)` cancel and
/// magnify tanh's last bit (the CPU's SIMD f32 kernels keep tails that the formula rounds
/// to 0: -4e-18 against 0 at gelu_tanh(-7.5), hence the floor).
pub fn tolerance(d: DType) -> (f64, f64) {
    match d {
        DType::F64 => (1e-13, 1e-300),
        DType::F32 => (1e-5, 1e-6),
        DType::F16 => (2e-3, 1e-4),
        DType::BF16 => (1e-2, 1e-4),
        DType::I64 | DType::U32 | DType::Bool => (0.0, 0.0),
    }
}

/// Whether `got` agrees with `want` at element `i`, or why not.
pub fn agree(got: &[u8], want: &[u8], d: DType, i: usize) -> Result<(), String> {
    agree_at_scale(got, want, d, i, 0.0)
}

/// [`agree`] with the float tolerance relative to at least `scale` (a row's largest
/// magnitude, for results that cancel: a sum of products near 0).
pub fn agree_at_scale(
    got: &[u8],
    want: &[u8],
    d: DType,
    i: usize,
    scale: f64,
) -> Result<(), String> {
    let ((g, gi), (w, wi)) = (element(got, d, i), element(want, d, i));
    let (rel, floor) = tolerance(d);
    if rel == 0.0 {
        return if gi == wi {
            Ok(())
        } else {
            Err(format!("{gi} vs {wi}"))
        };
    }
    let same = (g.is_nan() && w.is_nan())
        || g == w
        || (g.is_finite() && w.is_finite() && (g - w).abs() <= rel * w.abs().max(floor).max(scale));
    if same {
        Ok(())
    } else {
        Err(format!("{g:e} vs {w:e}"))
    }
}

/// A layout's `Strided` argument as the kernels read it (`launch::StridedArg`'s bytes).
pub fn strided(layout: &Layout) -> Vec<u8> {
    let a = StridedArg::new("test", layout).unwrap();
    let mut b = Vec::with_capacity(152);
    b.extend(a.n.to_le_bytes());
    b.extend(a.offset.to_le_bytes());
    b.extend(a.rank.to_le_bytes());
    b.extend(a.contiguous.to_le_bytes());
    for x in a.dims.iter().chain(&a.strides) {
        b.extend(x.to_le_bytes());
    }
    b
}

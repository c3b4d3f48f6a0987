//! Typed buffers for the host-run kernel tests: dtype sizes, little-endian bytes of host
//! data, elements read back, and agreement within a dtype's tolerance.

use lamina_backend_cpu::CpuBackend;
use lamina_backend_cuda::launch::StridedArg;
use lamina_tensor::{bf16, f16, Backend, DType, HostData, Layout, Shape, StorageRef};

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

/// `n` values of `d` from a pattern of f64s (integers truncate it; u32 takes its
/// magnitude; bool is `> 0`).
pub fn data(d: DType, n: usize, pattern: impl Fn(usize) -> f64) -> HostData {
    let v = (0..n).map(pattern);
    match d {
        DType::F64 => HostData::F64(v.collect()),
        DType::F32 => HostData::F32(v.map(|x| x as f32).collect()),
        DType::F16 => HostData::F16(v.map(f16::from_f64).collect()),
        DType::BF16 => HostData::BF16(v.map(bf16::from_f64).collect()),
        DType::I64 => HostData::I64(v.map(|x| x as i64).collect()),
        DType::U32 => HostData::U32(v.map(|x| x.abs() as u32).collect()),
        DType::Bool => HostData::Bool(v.map(|x| x > 0.0).collect()),
    }
}

/// The first of `n` elements (dtype `d`) where `got` and `want` disagree, pushed onto
/// `failures` under `what`.
pub fn compare(
    got: &[u8],
    want: &[u8],
    d: DType,
    n: usize,
    what: &str,
    failures: &mut Vec<String>,
) {
    compare_at_scale(got, want, d, n, 0.0, what, failures);
}

/// [`compare`] relative to the largest finite wanted magnitude: for results that cancel
/// (a sum of products near 0).
pub fn compare_scaled(
    got: &[u8],
    want: &[u8],
    d: DType,
    n: usize,
    what: &str,
    failures: &mut Vec<String>,
) {
    let scale = (0..n)
        .map(|i| element(want, d, i).0.abs())
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    compare_at_scale(got, want, d, n, scale, what, failures);
}

fn compare_at_scale(
    got: &[u8],
    want: &[u8],
    d: DType,
    n: usize,
    scale: f64,
    what: &str,
    failures: &mut Vec<String>,
) {
    for i in 0..n {
        if let Err(why) = agree_at_scale(got, want, d, i, scale) {
            failures.push(format!("{what} [{i}]: {why}"));
            return;
        }
    }
}

/// The first `n` elements of a CPU storage as bytes (a reference result).
pub fn cpu_bytes(s: &StorageRef, n: usize) -> Vec<u8> {
    let l = Layout::contiguous(Shape::from(vec![n]));
    bytes(&CpuBackend.to_host(&**s, &l).unwrap())
}

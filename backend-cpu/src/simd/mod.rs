//! Vectorised f32 kernels on contiguous slices, with run-time instruction-set dispatch.
//!
//! Three paths compute every function: a scalar reference over `std`'s libm (`scalar.rs`, also
//! the portable fallback), and AVX2+FMA and AVX-512F paths on x86-64 that share one generic
//! kernel body (`math.rs` over the `vector.rs` vocabulary, instantiated in `x86.rs`). The path
//! is chosen once per process from CPU detection, optionally lowered by the environment
//! variable `LAMINA_SIMD=scalar|avx2|avx512` (a path the CPU lacks falls back to the best one
//! below it), and reported by [`isa()`] so benchmarks can say what ran.
//!
//! Each free function runs on [`isa()`]; the same function as a method of [`Isa`] runs on that
//! path explicitly (still capped at what the CPU supports), which is how tests compare paths
//! without touching the process-wide environment. Only contiguous slices are handled here:
//! strided views are the caller's job to copy first.
//!
//! The f64 reductions are plain loops with several accumulators, which the compiler vectorises
//! well enough; f64 is not on the hot path of training.

mod cell;
mod math;
mod panel;
mod scalar;
#[cfg(test)]
mod tests;
mod vector;
// The AVX-512 intrinsics are stable from Rust 1.89, which is therefore this crate's real
// minimum (the `gemm` crate's `x86-v4` kernels need it too); the workspace's `rust-version`
// should say so, and this tells clippy the same where it matters.
#[cfg(target_arch = "x86_64")]
#[clippy::msrv = "1.89"]
mod x86;

use std::sync::OnceLock;

pub use cell::{CellBackward, CellForward, Rows};
pub use panel::PackedB;
use vector::Simd;

/// An instruction-set path, ordered from least to most capable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Plain Rust over `std`'s libm; available everywhere.
    Scalar,
    /// x86-64 AVX2 + FMA, 8 lanes.
    Avx2,
    /// x86-64 AVX-512F, 16 lanes.
    Avx512,
}

impl Isa {
    /// All paths, least capable first.
    pub const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

    /// Lower-case name, as accepted by `LAMINA_SIMD`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Parses a `LAMINA_SIMD` value (case-insensitive).
    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL
            .into_iter()
            .find(|isa| isa.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Whether this CPU can run the path.
    pub fn is_supported(self) -> bool {
        self <= Isa::best_supported()
    }

    /// The most capable path this CPU supports (detected once).
    pub fn best_supported() -> Isa {
        static BEST: OnceLock<Isa> = OnceLock::new();
        *BEST.get_or_init(detect)
    }

    /// `self`, or the best supported path below it when the CPU lacks it.
    fn capped(self) -> Isa {
        Ord::min(self, Isa::best_supported())
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Isa {
    if x86::Avx512::detected() {
        Isa::Avx512
    } else if x86::Avx2::detected() {
        Isa::Avx2
    } else {
        Isa::Scalar
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Isa {
    Isa::Scalar
}

/// The path the free functions of this module use: the best the CPU supports, lowered by
/// `LAMINA_SIMD` if set. Decided on first use and fixed for the life of the process.
pub fn isa() -> Isa {
    static ACTIVE: OnceLock<Isa> = OnceLock::new();
    *ACTIVE.get_or_init(|| {
        let best = Isa::best_supported();
        match std::env::var("LAMINA_SIMD") {
            Ok(v) if !v.trim().is_empty() => match Isa::from_name(&v) {
                Some(forced) => Ord::min(forced, best),
                None => {
                    // Once per process; a typo should not silently benchmark the wrong path.
                    eprintln!(
                        "lamina: ignoring LAMINA_SIMD={v:?} (expected scalar, avx2 or avx512); \
                         using {}",
                        best.name()
                    );
                    best
                }
            },
            _ => best,
        }
    })
}

/// A computation that can run on any path: `simd` is instantiated per vector instruction set
/// inside a `#[target_feature]` trampoline, `scalar` is the reference path.
pub(crate) trait Kernel {
    type Output;
    fn simd<S: Simd>(self, s: S) -> Self::Output;
    fn scalar(self) -> Self::Output;
}

/// Runs `k` on `isa`, capped at what the CPU supports.
fn dispatch<K: Kernel>(isa: Isa, k: K) -> K::Output {
    match isa.capped() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `capped` never returns a path above `best_supported`, which only reports
        // AVX-512 after `is_x86_feature_detected!` confirmed AVX-512F, AVX2 and FMA.
        Isa::Avx512 => unsafe { x86::run_avx512(k) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, AVX2 is only reported after detecting AVX2 and FMA.
        Isa::Avx2 => unsafe { x86::run_avx2(k) },
        _ => k.scalar(),
    }
}

#[derive(Clone, Copy, Debug)]
enum Unary {
    Exp,
    Log,
    Tanh,
    Sigmoid,
    Silu,
    Erf,
    Gelu,
    GeluDerivative,
    GeluTanh,
}

struct UnaryK<'a> {
    op: Unary,
    x: &'a [f32],
    y: &'a mut [f32],
}

impl Kernel for UnaryK<'_> {
    type Output = ();
    #[inline(always)]
    fn simd<S: Simd>(self, s: S) {
        let (x, y) = (self.x, self.y);
        match self.op {
            Unary::Exp => math::map(s, x, y, &math::Exp),
            Unary::Log => math::map(s, x, y, &math::Log),
            Unary::Tanh => math::map(s, x, y, &math::Tanh),
            Unary::Sigmoid => math::map(s, x, y, &math::Sigmoid),
            Unary::Silu => math::map(s, x, y, &math::Silu),
            Unary::Erf => math::map(s, x, y, &math::Erf),
            Unary::Gelu => math::map(s, x, y, &math::Gelu),
            Unary::GeluDerivative => math::map(s, x, y, &math::GeluDerivative),
            Unary::GeluTanh => math::map(s, x, y, &math::GeluTanh),
        }
    }
    fn scalar(self) {
        let (x, y) = (self.x, self.y);
        match self.op {
            Unary::Exp => scalar::map(x, y, f32::exp),
            Unary::Log => scalar::map(x, y, f32::ln),
            Unary::Tanh => scalar::map(x, y, f32::tanh),
            Unary::Sigmoid => scalar::map(x, y, scalar::sigmoid),
            Unary::Silu => scalar::map(x, y, scalar::silu),
            Unary::Erf => scalar::map(x, y, scalar::erf),
            Unary::Gelu => scalar::map(x, y, scalar::gelu),
            Unary::GeluDerivative => scalar::map(x, y, scalar::gelu_derivative),
            Unary::GeluTanh => scalar::map(x, y, scalar::gelu_tanh),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Reduce {
    Sum,
    Max,
    Min,
}

struct ReduceK<'a> {
    op: Reduce,
    x: &'a [f32],
}

impl Kernel for ReduceK<'_> {
    type Output = f32;
    #[inline(always)]
    fn simd<S: Simd>(self, s: S) -> f32 {
        match self.op {
            Reduce::Sum => math::sum(s, self.x),
            Reduce::Max => math::extremum(s, self.x, true),
            Reduce::Min => math::extremum(s, self.x, false),
        }
    }
    fn scalar(self) -> f32 {
        match self.op {
            Reduce::Sum => scalar::sum(self.x),
            Reduce::Max => scalar::extremum(self.x, true),
            Reduce::Min => scalar::extremum(self.x, false),
        }
    }
}

struct SumRowsK<'a> {
    out: &'a mut [f32],
    xs: &'a [f32],
}

impl Kernel for SumRowsK<'_> {
    type Output = ();
    #[inline(always)]
    fn simd<S: Simd>(self, s: S) {
        math::sum_rows(s, self.out, self.xs)
    }
    fn scalar(self) {
        scalar::sum_rows(self.out, self.xs)
    }
}

struct DotK<'a> {
    a: &'a [f32],
    b: &'a [f32],
}

impl Kernel for DotK<'_> {
    type Output = f32;
    #[inline(always)]
    fn simd<S: Simd>(self, s: S) -> f32 {
        math::dot(s, self.a, self.b)
    }
    fn scalar(self) -> f32 {
        scalar::dot(self.a, self.b)
    }
}

#[derive(Clone, Copy, Debug)]
enum Row {
    Softmax,
    LogSoftmax,
}

struct RowK<'a> {
    op: Row,
    x: &'a [f32],
    y: &'a mut [f32],
}

impl Kernel for RowK<'_> {
    type Output = ();
    #[inline(always)]
    fn simd<S: Simd>(self, s: S) {
        match self.op {
            Row::Softmax => math::softmax(s, self.x, self.y),
            Row::LogSoftmax => math::log_softmax(s, self.x, self.y),
        }
    }
    fn scalar(self) {
        match self.op {
            Row::Softmax => scalar::softmax(self.x, self.y),
            Row::LogSoftmax => scalar::log_softmax(self.x, self.y),
        }
    }
}

struct RowBackK<'a> {
    log: bool,
    y: &'a [f32],
    dy: &'a [f32],
    dx: &'a mut [f32],
}

impl Kernel for RowBackK<'_> {
    type Output = ();
    #[inline(always)]
    fn simd<S: Simd>(self, s: S) {
        if self.log {
            math::log_softmax_backward(s, self.y, self.dy, self.dx)
        } else {
            math::softmax_backward(s, self.y, self.dy, self.dx)
        }
    }
    fn scalar(self) {
        if self.log {
            scalar::log_softmax_backward(self.y, self.dy, self.dx)
        } else {
            scalar::softmax_backward(self.y, self.dy, self.dx)
        }
    }
}

/// Per-path entry points. Each runs on `self` capped at what the CPU supports; the free
/// functions of the same name run on [`isa()`]. All panic if slice lengths differ.
impl Isa {
    /// `y = e^x`; overflows to +inf above ~88.72, underflows to 0 below ~-103.97.
    pub fn exp(self, x: &[f32], y: &mut [f32]) {
        dispatch(
            self,
            UnaryK {
                op: Unary::Exp,
                x,
                y,
            },
        )
    }
    /// `y = ln x`; ln 0 = -inf, ln(negative) = NaN.
    pub fn log(self, x: &[f32], y: &mut [f32]) {
        dispatch(
            self,
            UnaryK {
                op: Unary::Log,
                x,
                y,
            },
        )
    }
    /// `y = tanh x`.
    pub fn tanh(self, x: &[f32], y: &mut [f32]) {
        dispatch(
            self,
            UnaryK {
                op: Unary::Tanh,
                x,
                y,
            },
        )
    }
    /// `y = 1 / (1 + e^-x)`.
    pub fn sigmoid(self, x: &[f32], y: &mut [f32]) {
        dispatch(
            self,
            UnaryK {
                op: Unary::Sigmoid,
                x,
                y,
            },
        )
    }
    /// `y = x * sigmoid(x)`.
    pub fn silu(self, x: &[f32], y: &mut [f32]) {
        dispatch(
            self,
            UnaryK {
                op: Unary::Silu,
                x,
                y,
            },
        )
    }
    /// `y = erf(x)`.
    pub fn erf(self, x: &[f32], y: &mut [f32]) {
        let op = Unary::Erf;
        dispatch(self, UnaryK { op, x, y })
    }
    /// `y = 0.5 x (1 + erf(x / sqrt 2))` (exact GELU).
    pub fn gelu(self, x: &[f32], y: &mut [f32]) {
        dispatch(
            self,
            UnaryK {
                op: Unary::Gelu,
                x,
                y,
            },
        )
    }
    /// `y = Phi(x) + x phi(x)`, exact GELU's derivative.
    pub fn gelu_derivative(self, x: &[f32], y: &mut [f32]) {
        let op = Unary::GeluDerivative;
        dispatch(self, UnaryK { op, x, y })
    }
    /// PyTorch's `gelu(approximate='tanh')`.
    pub fn gelu_tanh(self, x: &[f32], y: &mut [f32]) {
        let op = Unary::GeluTanh;
        dispatch(self, UnaryK { op, x, y })
    }
    /// Sum (0 for empty input).
    pub fn sum(self, x: &[f32]) -> f32 {
        dispatch(self, ReduceK { op: Reduce::Sum, x })
    }
    /// Maximum, NaN if any element is NaN, -inf for empty input.
    pub fn max(self, x: &[f32]) -> f32 {
        dispatch(self, ReduceK { op: Reduce::Max, x })
    }
    /// Minimum, NaN if any element is NaN, +inf for empty input.
    pub fn min(self, x: &[f32]) -> f32 {
        dispatch(self, ReduceK { op: Reduce::Min, x })
    }
    /// `out[c] += row[c]` for every row of `xs` (rows of `out.len()`; a partial last row
    /// is ignored), each column summed in row order: the same values on every path.
    pub fn sum_rows(self, out: &mut [f32], xs: &[f32]) {
        dispatch(self, SumRowsK { out, xs })
    }
    /// Dot product.
    pub fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        dispatch(self, DotK { a, b })
    }
    /// One softmax row.
    pub fn softmax(self, x: &[f32], y: &mut [f32]) {
        dispatch(
            self,
            RowK {
                op: Row::Softmax,
                x,
                y,
            },
        )
    }
    /// One log-softmax row.
    pub fn log_softmax(self, x: &[f32], y: &mut [f32]) {
        let op = Row::LogSoftmax;
        dispatch(self, RowK { op, x, y })
    }
    /// Softmax backward for one row: `dx = y * (dy - dot(dy, y))`, `y` the softmax output.
    pub fn softmax_backward(self, y: &[f32], dy: &[f32], dx: &mut [f32]) {
        dispatch(
            self,
            RowBackK {
                log: false,
                y,
                dy,
                dx,
            },
        )
    }
    /// Log-softmax backward for one row: `dx = dy - exp(y) * sum(dy)`, `y` the log-softmax
    /// output.
    pub fn log_softmax_backward(self, y: &[f32], dy: &[f32], dx: &mut [f32]) {
        dispatch(
            self,
            RowBackK {
                log: true,
                y,
                dy,
                dx,
            },
        )
    }
}

/// `y = e^x` on [`isa()`]. See [`Isa::exp`].
pub fn exp(x: &[f32], y: &mut [f32]) {
    isa().exp(x, y)
}
/// `y = ln x` on [`isa()`]. See [`Isa::log`].
pub fn log(x: &[f32], y: &mut [f32]) {
    isa().log(x, y)
}
/// `y = tanh x` on [`isa()`].
pub fn tanh(x: &[f32], y: &mut [f32]) {
    isa().tanh(x, y)
}
/// `y = sigmoid(x)` on [`isa()`].
pub fn sigmoid(x: &[f32], y: &mut [f32]) {
    isa().sigmoid(x, y)
}
/// `y = x * sigmoid(x)` on [`isa()`].
pub fn silu(x: &[f32], y: &mut [f32]) {
    isa().silu(x, y)
}
/// `erf` on [`isa()`].
pub fn erf(x: &[f32], y: &mut [f32]) {
    isa().erf(x, y)
}
/// Exact (erf) GELU on [`isa()`].
pub fn gelu(x: &[f32], y: &mut [f32]) {
    isa().gelu(x, y)
}
/// Exact GELU's derivative on [`isa()`].
pub fn gelu_derivative(x: &[f32], y: &mut [f32]) {
    isa().gelu_derivative(x, y)
}
/// Tanh-approximated GELU on [`isa()`].
pub fn gelu_tanh(x: &[f32], y: &mut [f32]) {
    isa().gelu_tanh(x, y)
}
/// Sum on [`isa()`].
pub fn sum(x: &[f32]) -> f32 {
    isa().sum(x)
}
/// NaN-propagating maximum on [`isa()`]; -inf for empty input.
pub fn max(x: &[f32]) -> f32 {
    isa().max(x)
}
/// NaN-propagating minimum on [`isa()`]; +inf for empty input.
pub fn min(x: &[f32]) -> f32 {
    isa().min(x)
}
/// Dot product on [`isa()`].
/// Rows of `xs` added into `out` on [`isa()`]. See [`Isa::sum_rows`].
pub fn sum_rows(out: &mut [f32], xs: &[f32]) {
    isa().sum_rows(out, xs)
}
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    isa().dot(a, b)
}
/// One softmax row on [`isa()`].
pub fn softmax(x: &[f32], y: &mut [f32]) {
    isa().softmax(x, y)
}
/// One log-softmax row on [`isa()`].
pub fn log_softmax(x: &[f32], y: &mut [f32]) {
    isa().log_softmax(x, y)
}
/// Softmax backward for one row on [`isa()`].
pub fn softmax_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    isa().softmax_backward(y, dy, dx)
}
/// Log-softmax backward for one row on [`isa()`].
pub fn log_softmax_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    isa().log_softmax_backward(y, dy, dx)
}

/// f64 sum with 8 accumulators (0 for empty input).
pub fn sum_f64(x: &[f64]) -> f64 {
    scalar::sum_f64(x)
}
/// NaN-propagating f64 maximum; -inf for empty input.
pub fn max_f64(x: &[f64]) -> f64 {
    scalar::extremum_f64(x, true)
}
/// NaN-propagating f64 minimum; +inf for empty input.
pub fn min_f64(x: &[f64]) -> f64 {
    scalar::extremum_f64(x, false)
}

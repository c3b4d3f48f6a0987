//! Comparing a Lamina result with its reference: exact shapes and dtypes, values within
//! a tolerance that fits the dtype and the op (correctly rounded arithmetic, a few ulp for
//! transcendental SIMD kernels, error bounds scaled by `sum |x| * n * eps` for sums), and
//! helpers that turn an unexpected `Err` or a panic into a readable test failure.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::Duration;

use proptest::test_runner::{TestCaseError, TestCaseResult};

use super::reference::RefTensor;
use crate::{DType, Result, Tensor};

/// A failed test case with a message.
pub fn fail(msg: impl Into<String>) -> TestCaseError {
    TestCaseError::fail(msg.into())
}

/// Turns an op's unexpected `Err` into a test failure naming the call.
pub trait OrFail<T> {
    fn or_fail(self, ctx: &str) -> std::result::Result<T, TestCaseError>;
}

impl<T> OrFail<T> for Result<T> {
    fn or_fail(self, ctx: &str) -> std::result::Result<T, TestCaseError> {
        self.map_err(|e| fail(format!("{ctx}: unexpected error: {e}")))
    }
}

/// Machine epsilon of a float dtype (0 for integers: they must match exactly).
pub fn eps(dtype: DType) -> f64 {
    match dtype {
        DType::F32 => f32::EPSILON as f64,
        DType::F64 => f64::EPSILON,
        DType::F16 => crate::f16::EPSILON.to_f64(),
        DType::BF16 => crate::bf16::EPSILON.to_f64(),
        DType::I64 | DType::U32 | DType::Bool => 0.0,
    }
}

/// The spacing of a float dtype's subnormals (its smallest positive value): the absolute
/// error of rounding a tiny result, large for f16 (2^-24); 0 for integers.
pub fn tiny(dtype: DType) -> f64 {
    match dtype {
        DType::F32 => f32::from_bits(1) as f64,
        DType::F64 => f64::from_bits(1),
        DType::F16 => crate::f16::from_bits(1).to_f64(),
        DType::BF16 => crate::bf16::from_bits(1).to_f64(),
        DType::I64 | DType::U32 | DType::Bool => 0.0,
    }
}

/// `|got - want| <= abs + rel * |want|`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tol {
    pub rel: f64,
    pub abs: f64,
}

impl Tol {
    /// Bit-exact (NaN matches NaN, -0 matches 0).
    pub const EXACT: Tol = Tol { rel: 0.0, abs: 0.0 };

    /// One correctly rounded operation (add, mul, div, ...), with a little slack.
    pub fn arith(dtype: DType) -> Tol {
        Tol {
            rel: 2.0 * eps(dtype),
            abs: 0.0,
        }
    }

    /// Transcendental functions: SIMD kernels are allowed a few ulp (and a small absolute
    /// error where the result crosses 0, as sin or log near 1 do).
    pub fn transcendental(dtype: DType) -> Tol {
        match dtype {
            DType::F32 => Tol {
                rel: 1e-5,
                abs: 1e-6,
            },
            DType::F64 => Tol {
                rel: 1e-12,
                abs: 1e-13,
            },
            // The f32 kernel rounded once: half an ulp of the half type plus f32's error.
            DType::F16 | DType::BF16 => Tol {
                rel: eps(dtype),
                abs: eps(dtype) * 1e-3,
            },
            DType::I64 | DType::U32 | DType::Bool => Tol::EXACT,
        }
    }

    /// A loose tolerance for composites of several ops (softmax, logsumexp, var).
    pub fn composite(dtype: DType) -> Tol {
        match dtype {
            DType::F32 => Tol {
                rel: 2e-5,
                abs: 2e-6,
            },
            DType::F64 => Tol {
                rel: 1e-11,
                abs: 1e-12,
            },
            // Composites of half ops round at every op (a few ulp of the half type).
            DType::F16 | DType::BF16 => Tol {
                rel: 4.0 * eps(dtype),
                abs: 4.0 * eps(dtype) * 1e-2,
            },
            DType::I64 | DType::U32 | DType::Bool => Tol::EXACT,
        }
    }

    pub fn bound(&self, want: f64) -> f64 {
        self.abs + self.rel * want.abs()
    }
}

/// True when `got` is within `bound` of `want`; NaN matches only NaN, infinities only
/// themselves.
pub fn close(got: f64, want: f64, bound: f64) -> bool {
    if want.is_nan() {
        got.is_nan()
    } else if want.is_infinite() || bound == 0.0 {
        got == want
    } else {
        (got - want).abs() <= bound
    }
}

/// Checks shape, dtype and every value of `got` against `want`, element `i` within
/// `bound(i, want_i)`.
pub fn check_with(
    ctx: &str,
    got: &Tensor,
    want: &RefTensor,
    dtype: DType,
    bound: impl Fn(usize, f64) -> f64,
) -> TestCaseResult {
    if got.dims() != want.shape.as_slice() {
        return Err(fail(format!(
            "{ctx}: shape {:?}, expected {:?}",
            got.dims(),
            want.shape
        )));
    }
    if got.dtype() != dtype {
        return Err(fail(format!(
            "{ctx}: dtype {}, expected {dtype}",
            got.dtype()
        )));
    }
    let values = got.to_f64_vec().or_fail(ctx)?;
    if values.len() != want.data.len() {
        return Err(fail(format!(
            "{ctx}: {} values for shape {:?}",
            values.len(),
            want.shape
        )));
    }
    for (i, (&g, &w)) in values.iter().zip(&want.data).enumerate() {
        let b = bound(i, w);
        if !close(g, w, b) {
            return Err(fail(format!(
                "{ctx}: element {i} (index {:?} of {:?}) is {g:e}, expected {w:e} (|diff| {:e} > {b:e})\n  got:      {values:?}\n  expected: {:?}",
                super::reference::unravel(i, &want.shape),
                want.shape,
                (g - w).abs(),
                want.data,
            )));
        }
    }
    Ok(())
}

/// Checks against `want` with a relative + absolute tolerance.
pub fn check_close(
    ctx: &str,
    got: &Tensor,
    want: &RefTensor,
    dtype: DType,
    tol: Tol,
) -> TestCaseResult {
    check_with(ctx, got, want, dtype, |_, w| tol.bound(w))
}

/// Checks that `got` equals `want` exactly.
pub fn check_exact(ctx: &str, got: &Tensor, want: &RefTensor, dtype: DType) -> TestCaseResult {
    check_with(ctx, got, want, dtype, |_, _| 0.0)
}

/// Checks a sum-like result: element `i` within `k * n_i * eps * scale_i` (+ `tol`),
/// where `scale` is the reference of the same reduction over `|x|` and `n` the number of
/// terms: the classic bound on the rounding error of a sum in any order.
pub fn check_sum_like(
    ctx: &str,
    got: &Tensor,
    want: &RefTensor,
    dtype: DType,
    scale: &RefTensor,
    terms: usize,
    tol: Tol,
) -> TestCaseResult {
    // Half sums accumulate in f32 and round at the end: a few roundings of the result
    // plus f32's error over the terms (half accumulation would exceed this bound).
    let (e_out, e_acc) = match dtype {
        DType::F16 | DType::BF16 => (2.0 * eps(dtype), eps(DType::F32)),
        DType::F32 | DType::F64 | DType::I64 | DType::U32 | DType::Bool => (0.0, eps(dtype)),
    };
    check_with(ctx, got, want, dtype, |i, w| {
        tol.bound(w)
            + e_out * w.abs()
            + 2.0 * (terms as f64 + 1.0) * e_acc * scale.data[i]
            + 2.0 * tiny(dtype)
    })
}

/// Runs `f`, turning a panic into `Err(message)`.
pub fn no_panic<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "<non-string panic>".into())
    })
}

/// Asserts that `f` returns an error (not a panic, not `Ok`) whose message contains every
/// one of `needles`. Panics with a description otherwise (for the fixed-case tests).
pub fn expect_err<T>(ctx: &str, f: impl FnOnce() -> Result<T>, needles: &[&str]) {
    match no_panic(f) {
        Err(p) => panic!("{ctx}: panicked instead of returning an error: {p}"),
        Ok(Ok(_)) => panic!("{ctx}: returned Ok, expected an error mentioning {needles:?}"),
        Ok(Err(e)) => {
            let msg = e.to_string();
            for n in needles {
                assert!(
                    msg.contains(n),
                    "{ctx}: error message {msg:?} does not mention {n:?}"
                );
            }
        }
    }
}

/// Like `expect_err` but collects the problem instead of panicking, so one test can report
/// every bad case at once.
pub fn err_problem<T>(
    ctx: &str,
    f: impl FnOnce() -> Result<T>,
    needles: &[&str],
) -> Option<String> {
    match no_panic(f) {
        Err(p) => Some(format!(
            "{ctx}: panicked instead of returning an error: {p}"
        )),
        Ok(Ok(_)) => Some(format!(
            "{ctx}: returned Ok, expected an error mentioning {needles:?}"
        )),
        Ok(Err(e)) => {
            let msg = e.to_string();
            let missing: Vec<&&str> = needles.iter().filter(|n| !msg.contains(**n)).collect();
            if missing.is_empty() {
                None
            } else {
                Some(format!(
                    "{ctx}: error message {msg:?} does not mention {missing:?}"
                ))
            }
        }
    }
}

/// Names of ops that once failed to return within the watchdog's limit.
static HUNG: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// How long a guarded op may run: tiny tensors take microseconds, so this only trips on
/// an op that never returns.
pub const WATCHDOG_SECS: u64 = 5;

/// Runs `f` on a helper thread and waits at most `WATCHDOG_SECS`: an op that loops
/// forever becomes a test failure instead of a hung test binary (the stuck thread is
/// leaked until the process exits). Once `name` has hung, later calls skip it and give
/// `Ok(None)`, so shrinking stops at the first hanging input and no more threads leak.
/// A panic inside `f` is returned as `Err` too.
pub fn guarded<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::result::Result<Option<T>, String> {
    if HUNG
        .lock()
        .map(|h| h.iter().any(|n| n == name))
        .unwrap_or(false)
    {
        return Ok(None);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(Duration::from_secs(WATCHDOG_SECS)) {
        Ok(Ok(v)) => Ok(Some(v)),
        Ok(Err(p)) => Err(format!(
            "{name} panicked: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
        Err(_) => {
            if let Ok(mut h) = HUNG.lock() {
                h.push(name.to_string());
            }
            Err(format!(
                "{name} did not return within {WATCHDOG_SECS} s (an infinite loop?)"
            ))
        }
    }
}

//! Shared helpers of the gradient property tests.
#![allow(dead_code)]

use lamina_autograd::{gradcheck, GradcheckConfig};
use lamina_tensor::{Device, Result, Tensor};
use proptest::test_runner::TestCaseError;

pub fn dev() -> Device {
    lamina_backend_cpu::device()
}

/// Cases per property: 128 (the floor) unless `LAMINA_GRAD_CASES` says otherwise.
pub fn cases() -> u32 {
    std::env::var("LAMINA_GRAD_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128)
}

/// Fails the case with the report when `gradcheck` finds a mismatch.
pub fn check(
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
    inputs: Vec<Tensor>,
) -> Result<(), TestCaseError> {
    let report = gradcheck(f, &inputs, &GradcheckConfig::default())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    if !report.passed() {
        return Err(TestCaseError::fail(format!("gradcheck failed:\n{report}")));
    }
    Ok(())
}

pub fn tc<T>(r: Result<T>) -> Result<T, TestCaseError> {
    r.map_err(|e| TestCaseError::fail(e.to_string()))
}

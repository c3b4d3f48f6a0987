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

/// Runs `test` as one proptest per op (each with `cases` cases and its own strategy), then
/// fails once, listing every op that failed with its minimal input: a broken op does not
/// hide the ones after it. For tests that iterate over an op table, so that a new row is
/// checked without a new test. `source` is the calling file (`file!()`), where proptest
/// keeps the seeds of past failures.
pub fn for_each_op<O, S>(
    source: &'static str,
    ops: &[O],
    cases: u32,
    strategy: impl Fn(&O) -> S,
    test: impl Fn(&O, S::Value) -> Result<(), TestCaseError>,
) where
    O: std::fmt::Debug,
    S: proptest::strategy::Strategy,
{
    use proptest::test_runner::{Config, TestRunner};
    let mut failures = Vec::new();
    for op in ops {
        let config = Config {
            cases,
            source_file: Some(source),
            ..Config::default()
        };
        let mut runner = TestRunner::new(config);
        if let Err(e) = runner.run(&strategy(op), |v| test(op, v)) {
            failures.push(format!("{op:?}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} ops failed:\n\n{}",
        failures.len(),
        ops.len(),
        failures.join("\n\n")
    );
}

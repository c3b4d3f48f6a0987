//! The backend conformance suite (feature `testing`): test functions generic over the
//! device, each checking an op family against a naive f64 reference with proptest over
//! shapes (rank 0–4, size-0 and size-1 dims), strided inputs (permuted, narrowed,
//! selected, expanded), broadcasting, dtypes and values, plus fixed cases for errors and
//! formatting. A backend crate runs the whole suite with one line:
//!
//! ```text
//! lamina_tensor::conformance_tests!(Some(lamina_backend_cpu::device()), "skipped: no device");
//! ```
//!
//! Each property runs `LAMINA_PROPTEST_CASES` cases (default 256) per op from a fixed
//! seed (`LAMINA_PROPTEST_SEED` to vary it), so CI is reproducible. A suite function runs
//! every op of its family even after a failure and then panics with all of them.
//!
//! Layout: `reference*.rs` (naive f64 implementations), `strategies.rs` (public proptest
//! strategies), `check.rs` (tolerances, comparisons), then one file per op family, and
//! `fuzz.rs`, which calls every public op with random valid and invalid arguments.

use std::fmt::Debug;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseResult, TestRng, TestRunner};

pub mod check;
pub mod reference;
pub mod reference_layout;
pub mod strategies;

mod binary;
mod convert;
mod creation;
mod edges;
mod elementwise;
mod errors;
mod errors_args;
mod fuzz;
mod half;
mod index;
mod inplace;
mod join;
mod large;
mod matmul;
mod reduce;
mod softmax;
mod views;

pub use binary::{
    binary_broadcast, binary_int_ops, compare_ops, compare_scalar_int_edge, masked_fill_op,
    nan_propagation, operator_overloads, type_promotion, where_op,
};
pub use convert::{cast_ops, display_format, to_vec_scalar};
pub use creation::{
    creation_fill, creation_from_data, creation_ranges, rand_uniform, randn_moments,
};
pub use edges::{dims_out_of_range, empty_edges, scalar_dims, scalar_gather_scatter};
pub use elementwise::{scalar_ops, strided_inputs, unary_int_ops, unary_ops};
pub use errors::{error_dims, error_dtypes, error_shapes};
pub use errors_args::{error_args, error_indices, reduce_raw_axes};
pub use fuzz::api_fuzz;
pub use half::half_precision;
pub use index::{gather_op, index_select_op, one_hot_op, scatter_add_op};
pub use inplace::{inplace_assign, inplace_expanded, inplace_shared};
pub use join::{cat_op, split_chunk_ops, stack_op};
pub use large::{large_tensors, long_rows_ops};
pub use matmul::{matmul_fixed, matmul_forms};
pub use reduce::{
    reduce_arg, reduce_empty, reduce_logsumexp, reduce_max_min, reduce_mean_var_std,
    reduce_sum_prod,
};
pub use softmax::{softmax_backward_op, softmax_ops, softmax_stability};
pub use views::{contiguous_rules, reshape_view_rules, view_ops};

/// Cases per property: `LAMINA_PROPTEST_CASES`, default 256.
pub fn cases() -> u32 {
    std::env::var("LAMINA_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// A deterministic runner for the property `name`: the seed mixes `LAMINA_PROPTEST_SEED`
/// (default fixed) with the name, so each property draws its own stream.
pub fn runner(name: &str) -> TestRunner {
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 512,
        ..Config::default()
    };
    let base: u64 = std::env::var("LAMINA_PROPTEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x1a31_a5ee_d000_0001);
    // FNV-1a over the name, then spread over the 32 seed bytes.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ base;
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    let mut seed = [0u8; 32];
    for (i, chunk) in seed.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&crate::rng::mix64(h.wrapping_add(i as u64)).to_le_bytes());
    }
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed))
}

/// Collects the failures of one suite function, so every op of a family is tried before
/// the test fails.
pub struct Report {
    suite: &'static str,
    failures: Vec<String>,
}

impl Report {
    pub fn new(suite: &'static str) -> Self {
        Report {
            suite,
            failures: Vec::new(),
        }
    }

    /// Runs a property (shrinking on failure) and records a failure.
    pub fn prop<S>(&mut self, name: &str, strategy: S, test: impl Fn(S::Value) -> TestCaseResult)
    where
        S: Strategy,
        S::Value: Debug,
    {
        let mut r = runner(name);
        if let Err(e) = r.run(&strategy, test) {
            self.failures.push(format!("[{name}] {e}"));
        }
    }

    /// Runs a fixed-case check; a panic inside counts as a failure.
    pub fn case(&mut self, name: &str, f: impl FnOnce() -> TestCaseResult) {
        match check::no_panic(f) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.failures.push(format!("[{name}] {e}")),
            Err(p) => self.failures.push(format!("[{name}] panicked: {p}")),
        }
    }

    /// Records a problem found by hand (`None` is fine).
    pub fn problem(&mut self, p: Option<String>) {
        if let Some(p) = p {
            self.failures.push(p);
        }
    }

    /// Panics with every recorded failure.
    pub fn finish(self) {
        if !self.failures.is_empty() {
            panic!(
                "{}: {} failure(s)\n\n{}",
                self.suite,
                self.failures.len(),
                self.failures.join("\n\n")
            );
        }
    }
}

/// Expands to one `#[test]` per suite function, run on the device that `$device` (an
/// `Option<Device>`) gives; `None` prints `$skip` and passes.
///
/// ```text
/// lamina_tensor::conformance_tests!(Some(lamina_backend_cpu::device()), "skipped: no device");
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($device:expr, $skip:expr $(,)?) => {
        $crate::__conformance_tests!($device, $skip;
            strided_inputs, unary_ops, unary_int_ops, scalar_ops,
            binary_broadcast, binary_int_ops, operator_overloads, type_promotion, compare_ops,
            compare_scalar_int_edge, where_op, masked_fill_op, nan_propagation,
            reduce_sum_prod, reduce_max_min, reduce_arg, reduce_mean_var_std,
            reduce_logsumexp, reduce_empty,
            softmax_ops, softmax_stability, softmax_backward_op,
            matmul_forms, matmul_fixed, long_rows_ops, large_tensors,
            view_ops, reshape_view_rules, contiguous_rules,
            cat_op, stack_op, split_chunk_ops,
            index_select_op, gather_op, scatter_add_op, one_hot_op,
            creation_fill, creation_ranges, creation_from_data, rand_uniform, randn_moments,
            cast_ops, to_vec_scalar, display_format,
            inplace_assign, inplace_shared, inplace_expanded,
            error_shapes, error_dims, error_dtypes, error_indices, error_args,
            reduce_raw_axes, scalar_dims, dims_out_of_range, scalar_gather_scatter, empty_edges,
            api_fuzz, half_precision,
        );
    };
}

/// The body of `conformance_tests!`: one `#[test]` per listed suite function.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($device:expr, $skip:expr; $($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let device: ::std::option::Option<$crate::Device> = $device;
            match device {
                ::std::option::Option::Some(dev) => $crate::testing::$name(&dev),
                ::std::option::Option::None => ::std::println!("{}", $skip),
            }
        }
    )*};
}

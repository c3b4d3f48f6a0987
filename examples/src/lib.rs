//! Shared helpers of Lamina's example programs and of the benchmark harness.

pub mod bench;
pub mod charlm;
pub mod compress;
pub mod cv;
pub mod mnist;
pub mod quantize;
pub mod realdata;
pub mod seed;

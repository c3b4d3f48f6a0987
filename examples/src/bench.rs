//! The benchmark harness's machinery, exactly as `bench/README.md` defines it: the
//! SplitMix64 data generator, the measurement policy (warm-up, calls per sample chosen from
//! one timed call, median/min/max over samples) and the JSON lines that
//! `bench/torch_workloads.py` prints too, so `bench/compare.py` can put Lamina and PyTorch
//! side by side.

use std::sync::OnceLock;
use std::time::Instant;

use lamina::tensor::rng;
use lamina::Device;

/// The device whose queued work a measurement waits for before reading the clock (set
/// once by the harness; the CPU's `synchronize` is a no-op).
static MEASURED: OnceLock<Device> = OnceLock::new();

/// Makes [`measure`] wait for `dev`'s queued work before every clock reading, so an
/// asynchronous device (CUDA) is timed for its work, not for its launches.
pub fn measure_on(dev: Device) {
    let _ = MEASURED.set(dev);
}

/// Waits for the measured device; a failure there ends the harness (every later number
/// would be meaningless).
fn sync() {
    if let Some(d) = MEASURED.get() {
        if let Err(e) = d.synchronize() {
            eprintln!("bench: synchronising {}: {e}", d.name());
            std::process::exit(1);
        }
    }
}

/// `uniform(s, n, lo, hi)`: `lo + (hi - lo) * f`, `f = (u(s, i) >> 40) * 2^-24`, in f32.
pub fn uniform(seed: u64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n as u64)
        .map(|i| lo + (hi - lo) * rng::unit_f32(seed, i))
        .collect()
}

/// `labels(s, n, k)`: `u(s, i) mod k`.
pub fn labels(seed: u64, n: usize, k: u64) -> Vec<i64> {
    (0..n as u64)
        .map(|i| (rng::draw(seed, i) % k) as i64)
        .collect()
}

/// W3's network and training step, which the harness times and the CUDA allocator test
/// repeats: `784 → 256 → ReLU → 128 → ReLU → 10` (layers seeded 1, 2, 3), SGD lr 0.01
/// momentum 0.9, cross-entropy on one fixed batch of `bs` (`uniform(3, ..)`,
/// `labels(4, ..)`).
pub struct W3 {
    pub model: lamina::nn::Sequential,
    pub opt: lamina::optim::Sgd,
    pub x: lamina::Tensor,
    pub y: lamina::Tensor,
}

impl W3 {
    pub fn new(bs: usize, dev: &lamina::Device) -> lamina::tensor::Result<W3> {
        use lamina::nn::{Linear, Relu, Sequential};
        use lamina::optim::{Sgd, SgdConfig};
        use lamina::Tensor;
        Ok(W3 {
            model: Sequential::new()
                .add(Linear::builder(784, 256).seed(1).build(dev)?)
                .add(Relu)
                .add(Linear::builder(256, 128).seed(2).build(dev)?)
                .add(Relu)
                .add(Linear::builder(128, 10).seed(3).build(dev)?),
            opt: Sgd::new(SgdConfig {
                lr: 0.01,
                momentum: 0.9,
                ..SgdConfig::default()
            })?,
            x: Tensor::from_vec(uniform(3, bs * 784, 0.0, 1.0), [bs, 784], dev)?,
            y: Tensor::from_vec(labels(4, bs, 10), [bs], dev)?,
        })
    }

    /// One step: fresh gradients, forward, loss, backward, update; the loss read back.
    pub fn step(&mut self) -> lamina::tensor::Result<f32> {
        use lamina::autograd::Tape;
        use lamina::nn::{cross_entropy, Module, Reduction};
        use lamina::optim::Optimizer;
        let tape = Tape::new();
        for p in self.model.parameters() {
            tape.watch(p);
        }
        let loss = cross_entropy(&self.model.forward(&self.x)?, &self.y, Reduction::Mean)?;
        let grads = tape.backward(&loss)?;
        self.opt.step(&mut self.model.parameters_mut(), &grads)?;
        loss.to_scalar::<f32>()
    }
}

/// Measurement policy of one workload.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub warmup: usize,
    pub samples: usize,
    pub min_sample_s: f64,
}

impl Policy {
    /// `--quick`: a smoke test, not a measurement (as `bench/torch_workloads.py --quick`).
    pub fn quick(self, quick: bool) -> Policy {
        if quick {
            Policy {
                warmup: 1,
                samples: 3,
                min_sample_s: self.min_sample_s / 5.0,
            }
        } else {
            self
        }
    }
}

/// Seconds per call of each sample, and the calls per sample.
pub fn measure(policy: Policy, mut f: impl FnMut()) -> (Vec<f64>, usize) {
    for _ in 0..policy.warmup {
        f();
    }
    sync();
    let t0 = Instant::now();
    f();
    sync();
    let one = t0.elapsed().as_secs_f64().max(1e-9);
    let inner = ((policy.min_sample_s / one).ceil() as usize).max(1);
    let mut out = Vec::with_capacity(policy.samples);
    for _ in 0..policy.samples {
        let t0 = Instant::now();
        for _ in 0..inner {
            f();
        }
        sync();
        out.push(t0.elapsed().as_secs_f64() / inner as f64);
    }
    (out, inner)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

/// The build description printed in every record: version, device, GEMM and SIMD paths.
pub fn build() -> String {
    let device = MEASURED.get().map_or("cpu".to_string(), |d| d.name());
    format!(
        "lamina {} (device: {device}, gemm: {}, simd: {}, threads: {})",
        env!("CARGO_PKG_VERSION"),
        lamina::backend_cpu::gemm::gemm_impl(),
        lamina::backend_cpu::simd::isa().name(),
        lamina::backend_cpu::par::num_threads()
    )
}

/// Prints one record (same fields as `bench/torch_workloads.py`).
pub fn emit(
    workload: &str,
    case: &str,
    metric: &str,
    values: &[f64],
    inner: usize,
    extra: &[(&str, serde_json::Value)],
) {
    let mut rec = serde_json::json!({
        "peer": "lamina",
        "build": build(),
        "workload": workload,
        "case": case,
        "metric": metric,
        "median": median(values),
        "min": values.iter().copied().fold(f64::INFINITY, f64::min),
        "max": values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        "samples": values.len(),
        "inner": inner,
    });
    if let Some(map) = rec.as_object_mut() {
        for (k, v) in extra {
            map.insert((*k).to_string(), v.clone());
        }
    }
    // A closed pipe (`bench W0 | head -1`) ends the output quietly instead of panicking.
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{rec}");
}

/// A rate metric (`work / seconds`): GFLOP/s, GB/s, steps/s.
pub fn rate(workload: &str, case: &str, metric: &str, secs: &[f64], inner: usize, work: f64) {
    let v: Vec<f64> = secs.iter().map(|s| work / s).collect();
    emit(workload, case, metric, &v, inner, &[]);
}

/// A time metric scaled from seconds (1e6 for µs).
pub fn per_time(workload: &str, case: &str, metric: &str, secs: &[f64], inner: usize, scale: f64) {
    let v: Vec<f64> = secs.iter().map(|s| s * scale).collect();
    emit(workload, case, metric, &v, inner, &[]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_check_values() {
        assert_eq!(
            uniform(42, 4, 0.0, 1.0),
            vec![0.741_564_87, 0.159_910_38, 0.278_601_1, 0.344_190_66]
        );
        assert_eq!(
            uniform(1, 3, -1.0, 1.0),
            vec![0.133_123_04, 0.491_563_44, 0.942_005_4]
        );
        assert_eq!(labels(4, 8, 10), vec![8, 4, 7, 2, 1, 5, 4, 6]);
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}

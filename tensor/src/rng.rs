//! Counter-based random numbers: element `i` of a fill with seed `s` depends only on
//! `(s, i)`, so every backend (and every thread) reproduces the same tensor. The stream is
//! SplitMix64, the generator of the benchmark workloads (`bench/README.md`).

use crate::{DType, Distribution, HostData};

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finaliser.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Draw `i` (0-based) of stream `seed`: `mix64(seed + (i + 1) * GOLDEN)`.
#[inline]
pub fn draw(seed: u64, i: u64) -> u64 {
    mix64(seed.wrapping_add(i.wrapping_add(1).wrapping_mul(GOLDEN)))
}

/// A uniform in `[0, 1)` with 24 random bits (exact in f32).
#[inline]
pub fn unit_f32(seed: u64, i: u64) -> f32 {
    (draw(seed, i) >> 40) as f32 * (1.0 / 16_777_216.0)
}

/// A uniform in `[0, 1)` with 53 random bits.
#[inline]
pub fn unit_f64(seed: u64, i: u64) -> f64 {
    (draw(seed, i) >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// A standard normal by Box–Muller on draws `2i` and `2i + 1` of the stream.
#[inline]
pub fn normal(seed: u64, i: u64) -> f64 {
    // 1 - u keeps the log argument in (0, 1].
    let u1 = 1.0 - unit_f64(seed, 2 * i);
    let u2 = unit_f64(seed, 2 * i + 1);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Host buffer of `len` draws from `dist` converted to `dtype`.
///
/// F32 uniforms follow the workloads' generator (`bench/README.md`) exactly:
/// `lo + (hi - lo) * f` computed in f32.
pub fn fill(dist: Distribution, seed: u64, len: usize, dtype: DType) -> HostData {
    match (dist, dtype) {
        (Distribution::Uniform { lo, hi }, DType::F32) => {
            let (lo, span) = (lo as f32, (hi - lo) as f32);
            HostData::F32(
                (0..len as u64)
                    .map(|i| lo + span * unit_f32(seed, i))
                    .collect(),
            )
        }
        (Distribution::Uniform { lo, hi }, _) => {
            let v: Vec<f64> = (0..len as u64)
                .map(|i| lo + (hi - lo) * unit_f64(seed, i))
                .collect();
            HostData::from_f64_vec(&v, dtype)
        }
        (Distribution::Normal { mean, std }, _) => {
            let v: Vec<f64> = (0..len as u64)
                .map(|i| mean + std * normal(seed, i))
                .collect();
            HostData::from_f64_vec(&v, dtype)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values_from_workloads_md() {
        assert_eq!(draw(0, 0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(draw(0, 1), 0x6E78_9E6A_A1B9_65F4);
        let HostData::F32(u) = fill(
            Distribution::Uniform { lo: 0.0, hi: 1.0 },
            42,
            4,
            DType::F32,
        ) else {
            panic!("dtype")
        };
        assert_eq!(
            u,
            vec![0.741_564_87, 0.159_910_38, 0.278_601_1, 0.344_190_66]
        );
        let HostData::F32(u) = fill(
            Distribution::Uniform { lo: -1.0, hi: 1.0 },
            1,
            3,
            DType::F32,
        ) else {
            panic!("dtype")
        };
        assert_eq!(u, vec![0.133_123_04, 0.491_563_44, 0.942_005_4]);
        let labels: Vec<u64> = (0..8).map(|i| draw(4, i) % 10).collect();
        assert_eq!(labels, vec![8, 4, 7, 2, 1, 5, 4, 6]);
    }

    #[test]
    fn normal_moments() {
        let n = 20_000;
        let v: Vec<f64> = (0..n).map(|i| normal(7, i)).collect();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        // Standard errors: mean 1/sqrt(n) = 0.007, variance sqrt(2/n) = 0.01.
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
    }
}

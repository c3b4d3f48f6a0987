//! A small seeded generator for shuffles, samplers and augmentations.
//!
//! It is a position in a counter-based SplitMix64 stream ([`lamina_tensor::rng`]): the whole
//! state is two `u64`s, so it serialises into a checkpoint, and a stream derived with
//! [`Rng::derive`] from `(seed, epoch, batch)` is the same whichever thread draws it. That is
//! what makes a `DataLoader`'s batches identical with 0 or N workers.

use lamina_tensor::rng::{draw, mix64, normal, unit_f64};
use serde::{Deserialize, Serialize};

/// A seeded random stream: `seed` names the stream, `counter` is the next draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rng {
    pub seed: u64,
    pub counter: u64,
}

impl Rng {
    /// The stream named `seed`, at its start.
    pub fn new(seed: u64) -> Self {
        Rng { seed, counter: 0 }
    }

    /// An independent stream for a sub-task, e.g. `Rng::derive(seed, &[epoch, batch])`.
    pub fn derive(seed: u64, path: &[u64]) -> Self {
        let seed = path.iter().fold(mix64(seed), |s, &p| {
            mix64(s ^ mix64(p.wrapping_add(0x5851_F42D)))
        });
        Rng::new(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let v = draw(self.seed, self.counter);
        self.counter += 1;
        v
    }

    /// A uniform in `[0, 1)` (53 bits).
    pub fn uniform(&mut self) -> f64 {
        let v = unit_f64(self.seed, self.counter);
        self.counter += 1;
        v
    }

    /// A standard normal (consumes two draws).
    pub fn normal(&mut self) -> f64 {
        // `normal(s, i)` reads draws 2i and 2i+1; keep the counter even-aligned.
        let i = self.counter.div_ceil(2);
        self.counter = 2 * i + 2;
        normal(self.seed, i)
    }

    /// A uniform integer in `0..n` (`n > 0`), by Lemire's multiply-shift (bias < 2^-64·n).
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Fisher–Yates shuffle in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_permutation_and_reproduces() {
        let mut a: Vec<usize> = (0..100).collect();
        let mut b = a.clone();
        Rng::new(7).shuffle(&mut a);
        Rng::new(7).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn below_is_roughly_uniform() {
        let mut rng = Rng::new(3);
        let mut counts = [0usize; 5];
        for _ in 0..50_000 {
            counts[rng.below(5)] += 1;
        }
        // Each bin expects 10,000; 5 sigma is about 450.
        for c in counts {
            assert!((c as i64 - 10_000).abs() < 450, "{counts:?}");
        }
    }

    #[test]
    fn derived_streams_differ() {
        let a = Rng::derive(1, &[0, 0]).next_u64();
        let b = Rng::derive(1, &[0, 1]).next_u64();
        let c = Rng::derive(1, &[1, 0]).next_u64();
        assert!(a != b && b != c && a != c);
    }
}

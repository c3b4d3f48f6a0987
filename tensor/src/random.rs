//! The global seed: one process-wide stream of seeds for everything random that was not
//! given a seed of its own.
//!
//! Layer initialisers (`lamina_nn::Linear::new`, `lamina_nn::mlp`), dropout
//! (`lamina_nn::Dropout::new`) and data loaders (a `lamina_data::LoaderConfig` whose
//! `seed` is `None`) each take one seed from [`next_seed`] when they are built. The stream
//! starts from [`DEFAULT_SEED`] unless [`manual_seed`] sets another, so a program is
//! reproducible by default: run it twice, get the same model. Explicit seeds stay
//! available everywhere (`Linear::builder(..).seed(7)`, `LoaderConfig { seed: Some(7),
//! .. }`), and an object built with one does not touch this stream.
//!
//! Draw `k` of the stream of seed `s` is `rng::draw(s, k)`, SplitMix64's `k`-th output
//! ([`crate::rng`]), so `manual_seed(s)` followed by `n` calls of `next_seed` gives the
//! same seeds as `lamina_nn::Seeds::new(s)`. The state is a seed and a counter behind a
//! mutex: any thread may draw, and each draw is a different seed. Which thread gets
//! which seed is up to the scheduler, so build models on one thread when the result
//! must be reproducible.
//!
//! ```
//! use lamina_tensor::random::{initial_seed, manual_seed, next_seed};
//! manual_seed(42);
//! let (a, b) = (next_seed(), next_seed());
//! assert_ne!(a, b);
//! manual_seed(42); // restarts the stream
//! assert_eq!((next_seed(), next_seed()), (a, b));
//! assert_eq!(initial_seed(), 42);
//! ```

use std::sync::{Mutex, MutexGuard};

use crate::rng;

/// The global seed of a program that never calls [`manual_seed`].
pub const DEFAULT_SEED: u64 = 0;

/// The global seed and how many seeds have been drawn from it.
struct Stream {
    seed: u64,
    drawn: u64,
}

static STREAM: Mutex<Stream> = Mutex::new(Stream {
    seed: DEFAULT_SEED,
    drawn: 0,
});

/// The stream, even if a thread panicked while holding it (its two integers are always
/// consistent: every update is a single assignment).
fn stream() -> MutexGuard<'static, Stream> {
    STREAM
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sets the global seed to `seed` and restarts its stream (PyTorch `torch.manual_seed`):
/// the next [`next_seed`] returns the stream's first seed.
pub fn manual_seed(seed: u64) {
    let mut s = stream();
    s.seed = seed;
    s.drawn = 0;
}

/// The global seed: the last one given to [`manual_seed`], or [`DEFAULT_SEED`]
/// (PyTorch `torch.initial_seed`).
pub fn initial_seed() -> u64 {
    stream().seed
}

/// The next seed of the global stream: `rng::draw(initial_seed(), k)` for the `k`-th
/// call since the stream (re)started. Each call returns a new, well-mixed seed.
pub fn next_seed() -> u64 {
    let mut s = stream();
    let seed = rng::draw(s.seed, s.drawn);
    s.drawn += 1;
    seed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The only unit test of this crate that touches the global stream, so no other
    /// test thread can draw from it between the calls below.
    #[test]
    fn stream_restarts_and_depends_on_the_seed() {
        manual_seed(5);
        assert_eq!(initial_seed(), 5);
        let a: Vec<u64> = (0..4).map(|_| next_seed()).collect();
        // The documented formula, against the generator's own reference values.
        assert_eq!(a, (0..4).map(|k| rng::draw(5, k)).collect::<Vec<_>>());
        assert!(a.windows(2).all(|w| w[0] != w[1]), "{a:?}");
        manual_seed(5);
        let again: Vec<u64> = (0..4).map(|_| next_seed()).collect();
        assert_eq!(a, again);
        manual_seed(6);
        assert_eq!(initial_seed(), 6);
        let b: Vec<u64> = (0..4).map(|_| next_seed()).collect();
        assert!(a.iter().all(|x| !b.contains(x)), "{a:?} vs {b:?}");
        manual_seed(DEFAULT_SEED);
        assert_eq!(next_seed(), 0xE220_A839_7B1D_CDAF, "draw(0, 0) of rng.rs");
        // Threads each get distinct seeds, none lost or repeated.
        manual_seed(9);
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..50).map(|_| next_seed()).collect::<Vec<_>>()))
            .collect();
        let mut all: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect();
        all.sort_unstable();
        let mut want: Vec<u64> = (0..200).map(|k| rng::draw(9, k)).collect();
        want.sort_unstable();
        assert_eq!(all, want);
    }
}

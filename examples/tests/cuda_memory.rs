//! The CUDA caching allocator keeps a training loop's memory bounded: 1,000 steps of the
//! W3 MLP (784-256-128-10, batch 128, SGD with momentum) on CUDA device 0, where every
//! step allocates and frees the same tensors, must hold exactly the same live bytes
//! between steps from the warm-up on, never raise the peak past the warm-up's, and never
//! grow what the cache reserves; `empty_cache` then gives every cached byte back. Prints
//! "skipped: no CUDA device" without a GPU.
//!
//! On a GPU machine: `cargo test --release -p lamina-examples --features cuda --test
//! cuda_memory` (`backend-cuda/gpu-check.sh` runs it).

use lamina::backend_cuda::{empty_cache, memory_stats, MemoryStats};
use lamina_examples::bench::W3;
use lamina_examples::realdata::{cuda_or_skip, Result};

#[test]
fn memory_is_bounded_over_1000_training_steps() -> Result<()> {
    let Some(dev) = cuda_or_skip() else {
        return Ok(());
    };
    let mut w3 = W3::new(128, &dev)?;
    let mut step = || w3.step();
    let first = step()?;
    let mut warm: Option<MemoryStats> = None;
    let mut last = first;
    for s in 1..1000 {
        last = step()?;
        let now = memory_stats(0)?;
        match warm {
            // The momentum buffers exist from step 1; step 10 has seen every size.
            None if s == 10 => warm = Some(now),
            None => {}
            Some(w) => {
                assert_eq!(now.live, w.live, "step {s}: live bytes between steps");
                assert!(
                    now.peak <= w.peak,
                    "step {s}: peak {} > {}",
                    now.peak,
                    w.peak
                );
                assert!(
                    now.live + now.cached <= w.live + w.cached,
                    "step {s}: reserved {} > {}",
                    now.live + now.cached,
                    w.live + w.cached
                );
            }
        }
    }
    assert!(last < first, "the loss fell: {first} -> {last}");
    let before = memory_stats(0)?;
    empty_cache(0)?;
    let after = memory_stats(0)?;
    assert_eq!(after.cached, 0, "empty_cache left {} cached", after.cached);
    assert_eq!(after.live, before.live, "empty_cache freed live tensors");
    Ok(())
}

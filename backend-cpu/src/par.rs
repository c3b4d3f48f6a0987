//! The one place the CPU backend hands work to rayon.
//!
//! Every parallel loop goes through these helpers so that the policy lives in one spot:
//! below [`par_threshold()`] units of work everything runs inline on the calling thread (a rayon
//! hand-off costs microseconds, more than a small element-wise op), above it the work is split
//! into a few chunks per thread. Reductions split at boundaries that depend only on the input
//! length and combine partial results left to right on the calling thread, so their result does
//! not depend on the thread count or on scheduling.

use std::ops::Range;
use std::sync::OnceLock;

use rayon::prelude::*;

/// Units of work (elements of a simple f32 map) below which splitting across threads does not
/// pay; [`par_threshold`] reads the value in force.
///
/// On a 2-vCPU VM a rayon hand-off costs more than a cheap map of hundreds of thousands of
/// elements, and the two vCPUs give little more than one core, so the value sits where a
/// cheap map and `simd::exp` broke even there (the measurement is in `BENCHMARKS.md`). On
/// machines with real cores the crossover is far lower; set `LAMINA_PAR_THRESHOLD` there.
pub const PAR_THRESHOLD: usize = 512 * 1024;

/// The threshold in force: `LAMINA_PAR_THRESHOLD` (a number of elements) if set and valid,
/// else [`PAR_THRESHOLD`]. Read once per process.
pub fn par_threshold() -> usize {
    static VALUE: OnceLock<usize> = OnceLock::new();
    *VALUE.get_or_init(|| {
        std::env::var("LAMINA_PAR_THRESHOLD")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(PAR_THRESHOLD)
    })
}

/// Target number of chunks per pool thread when splitting, for load balance.
const CHUNKS_PER_THREAD: usize = 4;

/// Chunk length for reductions once above the threshold: fixed (not per thread count) so that
/// a reduction's rounding is identical whatever the pool size.
const REDUCE_CHUNK: usize = 16 * 1024;

/// Makes the program's main thread one of rayon's global-pool threads, when the CPU device is
/// first created on the main thread and nothing has configured the global pool yet.
///
/// Without it the caller of every parallel op is an outsider to the pool: it queues the job,
/// wakes the workers, sleeps on a futex until they finish and is woken again, and the pool's
/// threads (one per CPU) compete with it for the cores while they spin down. As a pool thread
/// the caller runs one half of each split itself and only the other half is handed over (it
/// raised the W3 MLP step rate in paired runs; `BENCHMARKS.md`).
///
/// Only the main thread qualifies: it lives as long as the process, so the pool never keeps
/// a slot for a thread that has exited. `LAMINA_MAIN_IN_POOL=0` turns this off; a program that
/// configures rayon's global pool itself before creating the device keeps its own pool.
pub fn adopt_main_thread() {
    if std::env::var("LAMINA_MAIN_IN_POOL").is_ok_and(|v| v.trim() == "0") {
        return;
    }
    if std::thread::current().name() != Some("main") {
        return;
    }
    // Fails harmlessly when the global pool exists already (built by rayon on first use or by
    // the program): then that pool stays as it is.
    let _ = rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global();
}

/// Whether the calling thread is one of the current rayon pool's threads.
pub fn in_pool() -> bool {
    rayon::current_thread_index().is_some()
}

/// Threads in rayon's current pool (the global pool unless called inside `ThreadPool::install`).
pub fn num_threads() -> usize {
    rayon::current_num_threads()
}

/// Whether `work` units (≈ elements of a cheap map) are worth splitting across threads.
pub fn should_parallelize(work: usize) -> bool {
    work >= par_threshold() && num_threads() > 1
}

/// Runs `f(start, chunk)` over consecutive chunks of `out` covering it exactly, where `start`
/// is the chunk's offset in `out` (to index matching inputs).
///
/// Parallel when `out.len() >= par_threshold()` and the pool has more than one thread, otherwise
/// one inline call `f(0, out)`. Every chunk except possibly the last is a multiple of
/// `min_chunk` long (treat it as the granule: pass a row length to keep rows whole); a
/// `min_chunk` of 0 is taken as 1.
pub fn for_each_chunk_mut<T, F>(out: &mut [T], min_chunk: usize, f: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync + Send,
{
    for_each_chunk_mut_weighted(out, min_chunk, 1, f)
}

/// [`for_each_chunk_mut`] for work that costs about `weight` cheap-map elements per output
/// element (e.g. a row length when each output reduces a row, or ~10 for transcendental
/// functions): parallel once `out.len() * weight >= par_threshold()`.
pub fn for_each_chunk_mut_weighted<T, F>(out: &mut [T], min_chunk: usize, weight: usize, f: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync + Send,
{
    let len = out.len();
    let granule = min_chunk.max(1);
    // Cheapest test first: a tiny op never asks rayon for its pool size.
    if len <= granule || !should_parallelize(len.saturating_mul(weight.max(1))) {
        f(0, out);
        return;
    }
    let chunk = chunk_len(len, granule, num_threads() * CHUNKS_PER_THREAD);
    out.par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(i, c)| f(i * chunk, c));
}

/// `len` split into about `pieces` chunks, each a multiple of `granule` (at least one).
fn chunk_len(len: usize, granule: usize, pieces: usize) -> usize {
    let per = len.div_ceil(pieces.max(1));
    per.div_ceil(granule).max(1) * granule
}

/// Reduces `map` over consecutive sub-ranges of `0..len` with `reduce`.
///
/// Below [`par_threshold()`] (or on a 1-thread pool) this is exactly `map(0..len)`. Above it,
/// `0..len` is cut into ranges whose boundaries depend only on `len` and `min_chunk` (each at
/// least `min_chunk` long and a multiple of it, except the last), the ranges are mapped in
/// parallel, and the partial results are combined left to right on the calling thread, so the
/// same input gives bit-identical results on any number of threads. `len == 0` yields
/// `map(0..0)`.
pub fn map_reduce<R, M, C>(len: usize, min_chunk: usize, map: M, reduce: C) -> R
where
    R: Send,
    M: Fn(Range<usize>) -> R + Sync + Send,
    C: Fn(R, R) -> R,
{
    let granule = min_chunk.max(1);
    if len < par_threshold() || len <= granule {
        return map(0..len);
    }
    let chunk = REDUCE_CHUNK.div_ceil(granule) * granule;
    let pieces = len.div_ceil(chunk);
    let partials: Vec<R> = if num_threads() > 1 {
        (0..pieces)
            .into_par_iter()
            .map(|i| map(i * chunk..((i + 1) * chunk).min(len)))
            .collect()
    } else {
        (0..pieces)
            .map(|i| map(i * chunk..((i + 1) * chunk).min(len)))
            .collect()
    };
    let mut it = partials.into_iter();
    // `pieces >= 1` because `len > granule >= 1`, so there is a first partial; the fallback
    // only keeps this free of a panic path.
    match it.next() {
        Some(first) => it.fold(first, reduce),
        None => map(0..len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn small_work_runs_inline_in_one_call() {
        let mut v = vec![0u32; par_threshold().saturating_sub(1)];
        let calls = AtomicUsize::new(0);
        let caller = std::thread::current().id();
        for_each_chunk_mut(&mut v, 8, |start, c| {
            assert_eq!(start, 0);
            assert_eq!(std::thread::current().id(), caller);
            calls.fetch_add(1, Ordering::Relaxed);
            c.fill(1);
        });
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert!(v.iter().all(|&x| x == 1));
    }

    #[test]
    fn chunks_cover_exactly_and_respect_the_granule() {
        for len in [
            0,
            1,
            100,
            par_threshold(),
            par_threshold() + 7,
            5 * par_threshold() + 3,
        ] {
            for min_chunk in [0, 1, 7, 1000] {
                let mut v = vec![0usize; len];
                let granule = min_chunk.max(1);
                let calls = AtomicUsize::new(0);
                for_each_chunk_mut(&mut v, min_chunk, |start, c| {
                    calls.fetch_add(1, Ordering::Relaxed);
                    for (i, x) in c.iter_mut().enumerate() {
                        *x += start + i + 1;
                    }
                    assert!(start % granule == 0, "start {start} granule {granule}");
                });
                for (i, &x) in v.iter().enumerate() {
                    assert_eq!(x, i + 1, "len {len} min_chunk {min_chunk}");
                }
                if len >= par_threshold() && num_threads() > 1 && len > granule {
                    assert!(calls.load(Ordering::Relaxed) >= 2);
                }
            }
        }
    }

    #[test]
    fn weight_lowers_the_threshold() {
        let mut v = vec![0u8; 64];
        let calls = AtomicUsize::new(0);
        for_each_chunk_mut_weighted(&mut v, 1, par_threshold(), |_, c| {
            calls.fetch_add(1, Ordering::Relaxed);
            c.fill(3);
        });
        assert!(v.iter().all(|&x| x == 3));
        if num_threads() > 1 {
            assert!(calls.load(Ordering::Relaxed) > 1);
        }
    }

    #[test]
    fn map_reduce_matches_sequential_and_is_deterministic() {
        let n = 3 * par_threshold() + 1;
        let data: Vec<f32> = (0..n as u64)
            .map(|i| ((i * 7919) % 1000) as f32 * 1e-3)
            .collect();
        let run = || {
            map_reduce(
                data.len(),
                64,
                |r| data[r].iter().sum::<f32>(),
                |a, b| a + b,
            )
        };
        let first = run();
        let exact: f64 = data.iter().map(|&x| x as f64).sum();
        assert!((first as f64 - exact).abs() < 1e-3 * exact);
        // The same value on a 1-thread pool: chunking does not depend on the thread count.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
        if let Ok(pool) = pool {
            assert_eq!(pool.install(run).to_bits(), first.to_bits());
        }
        for _ in 0..5 {
            assert_eq!(run().to_bits(), first.to_bits());
        }
    }

    #[test]
    fn map_reduce_ranges_partition_the_input() {
        for len in [
            0,
            5,
            par_threshold().saturating_sub(1),
            par_threshold(),
            3 * par_threshold() + 11,
        ] {
            let ranges = map_reduce(
                len,
                100,
                |r| vec![r],
                |mut a, b| {
                    a.extend(b);
                    a
                },
            );
            let mut next = 0;
            for r in &ranges {
                assert_eq!(r.start, next);
                assert!(r.start % 100 == 0);
                next = r.end;
            }
            assert_eq!(next, len);
        }
    }

    #[test]
    fn num_threads_is_positive() {
        assert!(num_threads() >= 1);
    }
}

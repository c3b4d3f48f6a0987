//! The device memory cache, as PyTorch's CUDA caching allocator: freed blocks are not
//! returned to the driver but kept per stream and size class and handed out again, so a
//! training step that allocates the same shapes every iteration stops calling the driver
//! (whose allocation and free synchronise the device) after its first step. Host logic
//! only, generic over the raw allocator ([`RawAlloc`]: the driver's `cuMemAlloc` /
//! `cuMemFree` in the backend, a counting fake in the tests).
//!
//! Size classes: requests round up to 512 bytes up to 1 MiB (small tensors, many shapes)
//! and to 2 MiB above (large tensors), so the last, short batch of an epoch still finds the
//! full batches' blocks. A block is reused only on the stream it was freed on: work queued
//! on that stream may still read it, and the stream's order makes reuse safe. When the
//! driver refuses an allocation the cache is emptied and the allocation tried once more;
//! if that fails too, the error names the request and what is live and cached.

use std::collections::HashMap;

use lamina_tensor::{Error, Result};

/// Requests up to this many bytes round up to [`SMALL_ROUND`], larger ones to
/// [`LARGE_ROUND`].
pub const SMALL_MAX: usize = 1 << 20;
/// The rounding of small requests (512 B).
pub const SMALL_ROUND: usize = 512;
/// The rounding of large requests (2 MiB).
pub const LARGE_ROUND: usize = 2 << 20;

/// The bytes a request of `bytes` takes (its size class); at least [`SMALL_ROUND`].
pub fn size_class(bytes: usize) -> usize {
    let round = if bytes <= SMALL_MAX {
        SMALL_ROUND
    } else {
        LARGE_ROUND
    };
    bytes.max(1).div_ceil(round) * round
}

/// A stream's identity (the backend's stream handle as a number).
pub type StreamId = u64;

/// Allocates and frees device memory: the driver, or a fake in tests.
pub trait RawAlloc {
    /// A block of device memory.
    type Block;
    /// `bytes` of device memory, or an error (out of memory) without a panic.
    fn alloc(&mut self, bytes: usize) -> Result<Self::Block>;
    /// Returns a block to the driver.
    fn free(&mut self, block: Self::Block);
}

/// A block handed out by the cache: its memory, size class and stream.
#[derive(Debug)]
pub struct Allocation<B> {
    pub block: B,
    pub bytes: usize,
    pub stream: StreamId,
}

/// The cache over a raw allocator, with exact byte counts: `live` (handed out), `cached`
/// (held for reuse), and the peak of `live`.
pub struct CachingAllocator<A: RawAlloc> {
    raw: A,
    free: HashMap<(StreamId, usize), Vec<A::Block>>,
    live: usize,
    cached: usize,
    peak: usize,
}

impl<A: RawAlloc> CachingAllocator<A> {
    pub fn new(raw: A) -> Self {
        CachingAllocator {
            raw,
            free: HashMap::new(),
            live: 0,
            cached: 0,
            peak: 0,
        }
    }

    /// A block of at least `bytes` for `stream`: a cached one of its class on that stream,
    /// else a new one (after emptying the cache and retrying once if the driver refuses).
    pub fn alloc(&mut self, stream: StreamId, bytes: usize) -> Result<Allocation<A::Block>> {
        let class = size_class(bytes);
        let cached = self.free.get_mut(&(stream, class)).and_then(Vec::pop);
        let block = match cached {
            Some(b) => {
                self.cached -= class;
                b
            }
            None => match self.raw.alloc(class) {
                Ok(b) => b,
                Err(first) => {
                    let held = self.cached;
                    self.empty_cache();
                    self.raw.alloc(class).map_err(|_| {
                        Error::DeviceUnavailable(format!(
                            "CUDA out of memory: {bytes} bytes requested ({class} with \
                             rounding), {} live, {held} cached and released before \
                             retrying ({first})",
                            self.live
                        ))
                    })?
                }
            },
        };
        self.live += class;
        self.peak = self.peak.max(self.live);
        Ok(Allocation {
            block,
            bytes: class,
            stream,
        })
    }

    /// Takes a block back into the cache of its stream and class.
    pub fn free(&mut self, a: Allocation<A::Block>) {
        self.live -= a.bytes;
        self.cached += a.bytes;
        self.free
            .entry((a.stream, a.bytes))
            .or_default()
            .push(a.block);
    }

    /// Returns every cached block to the driver.
    pub fn empty_cache(&mut self) {
        for (_, blocks) in self.free.drain() {
            for b in blocks {
                self.raw.free(b);
            }
        }
        self.cached = 0;
    }

    /// Bytes handed out and not yet freed (by size class).
    pub fn live_bytes(&self) -> usize {
        self.live
    }

    /// Bytes held for reuse.
    pub fn cached_bytes(&self) -> usize {
        self.cached
    }

    /// The most bytes live at once since the start or [`reset_peak`](Self::reset_peak).
    pub fn peak_bytes(&self) -> usize {
        self.peak
    }

    /// Starts the peak over from what is live now.
    pub fn reset_peak(&mut self) {
        self.peak = self.live;
    }

    /// The raw allocator (for the tests' counters).
    pub fn raw(&self) -> &A {
        &self.raw
    }
}

impl<A: RawAlloc> Drop for CachingAllocator<A> {
    fn drop(&mut self) {
        self.empty_cache();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks are numbers; counts calls; refuses past `capacity` bytes in use.
    struct Fake {
        next: u64,
        in_use: usize,
        capacity: usize,
        allocs: usize,
        frees: usize,
        sizes: HashMap<u64, usize>,
    }

    impl Fake {
        fn new(capacity: usize) -> Self {
            Fake {
                next: 0,
                in_use: 0,
                capacity,
                allocs: 0,
                frees: 0,
                sizes: HashMap::new(),
            }
        }
    }

    impl RawAlloc for Fake {
        type Block = u64;
        fn alloc(&mut self, bytes: usize) -> Result<u64> {
            if self.in_use + bytes > self.capacity {
                return Err(Error::DeviceUnavailable("fake: out of memory".into()));
            }
            self.allocs += 1;
            self.in_use += bytes;
            self.next += 1;
            self.sizes.insert(self.next, bytes);
            Ok(self.next)
        }
        fn free(&mut self, b: u64) {
            self.frees += 1;
            self.in_use -= self.sizes.remove(&b).expect("freed twice");
        }
    }

    #[test]
    fn size_classes_round_small_and_large_requests() {
        assert_eq!(size_class(0), 512);
        assert_eq!(size_class(1), 512);
        assert_eq!(size_class(512), 512);
        assert_eq!(size_class(513), 1024);
        assert_eq!(size_class(1 << 20), 1 << 20);
        assert_eq!(size_class((1 << 20) + 1), 2 << 20);
        assert_eq!(size_class(5 << 20), 6 << 20);
    }

    #[test]
    fn freed_blocks_are_reused_per_stream_and_class_with_exact_counts() {
        let mut c = CachingAllocator::new(Fake::new(1 << 30));
        let a = c.alloc(1, 1000).unwrap();
        assert_eq!((a.bytes, c.live_bytes(), c.cached_bytes()), (1024, 1024, 0));
        let id = a.block;
        c.free(a);
        assert_eq!((c.live_bytes(), c.cached_bytes()), (0, 1024));
        // Same stream and class (1000 and 700 both round to 1024): the same block.
        let b = c.alloc(1, 700).unwrap();
        assert_eq!((b.block, c.raw().allocs), (id, 1));
        // Another stream never gets it.
        c.free(b);
        let other = c.alloc(2, 1000).unwrap();
        assert_ne!(other.block, id);
        assert_eq!(c.raw().allocs, 2);
        assert_eq!(
            (c.live_bytes(), c.cached_bytes(), c.peak_bytes()),
            (1024, 1024, 1024)
        );
        c.free(other);
        c.empty_cache();
        assert_eq!((c.cached_bytes(), c.raw().frees, c.raw().in_use), (0, 2, 0));
    }

    #[test]
    fn a_thousand_training_steps_stop_allocating_after_the_first() {
        // Each step: activations of a few shapes, freed at the end of the step; the last
        // step of each epoch smaller (a short batch), within the same classes.
        let mut c = CachingAllocator::new(Fake::new(1 << 30));
        let mut after_first = 0;
        for step in 0..1000 {
            let scale = if step % 100 == 99 { 3 } else { 4 };
            let sizes = [scale * 100_000, scale * 700_000, scale * 3_000, 64];
            let blocks: Vec<_> = sizes.iter().map(|&s| c.alloc(7, s).unwrap()).collect();
            for b in blocks {
                c.free(b);
            }
            if step == 0 {
                after_first = c.raw().allocs;
            }
        }
        // The short step needs its own small classes once; nothing else is new.
        assert!(
            c.raw().allocs <= after_first + 4,
            "{} raw allocations",
            c.raw().allocs
        );
        assert_eq!(c.live_bytes(), 0);
        assert!(c.cached_bytes() <= 2 * (4 * 700_000 + 4 * 100_000 + (2 << 20) * 2));
    }

    #[test]
    fn out_of_memory_empties_the_cache_retries_then_names_the_request() {
        let mut c = CachingAllocator::new(Fake::new(4 << 20));
        let a = c.alloc(1, 3 << 20).unwrap(); // 4 MiB class: the whole device
        c.free(a);
        // A different class: the cached 4 MiB block must go back before this fits.
        let b = c.alloc(1, 1 << 20).unwrap();
        assert_eq!((c.cached_bytes(), c.raw().frees), (0, 1));
        let e = c.alloc(1, 8 << 20).unwrap_err().to_string();
        assert!(
            e.contains("out of memory") && e.contains("8388608 bytes requested"),
            "{e}"
        );
        assert!(e.contains("1048576 live"), "{e}");
        c.free(b);
    }
}

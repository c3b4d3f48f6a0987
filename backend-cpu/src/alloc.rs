//! Tensor storage buffers: a caching allocator for large buffers plus exact live-byte counters.
//!
//! An eager framework allocates a fresh output for every op. Large fresh allocations come from
//! `mmap`, and the first touch of each page faults, so writing into fresh memory is several
//! times slower than into memory already touched (figures in `BENCHMARKS.md`). So buffers of at least
//! [`POOL_MIN_BYTES`] are not returned to the system on drop but kept in a process-wide pool
//! and handed out again for the next request of the same element type and size class. Small
//! buffers (below [`POOL_MIN_BYTES`]) are recycled too, through a per-thread cache without
//! locks: a tiny model's training step makes hundreds of them, and `malloc`/`calloc`/`free`
//! dominated its instruction count. Small buffers have
//! power-of-two capacities so that a handful of classes serve every shape; each class keeps at
//! most [`SMALL_PER_CLASS`] buffers and a thread at most [`SMALL_CACHE_BYTES`].
//!
//! Size classes: a request of `n` elements is rounded up to the next multiple of
//! `2^(floor(log2 n) - 3)` (eight classes per power of two, at most 12.5% slack), so shapes that
//! vary a little (the last, short batch) still hit the pool. A cached buffer is filed under the
//! largest class its capacity covers, so adopted `Vec`s of any capacity can be reused.
//!
//! The pool holds at most [`cache_limit()`] bytes (default [`DEFAULT_CACHE_LIMIT`], 1 GiB);
//! caching past it evicts the least recently cached buffers first. [`empty_cache`] frees all.
//!
//! Counters count the capacity actually held, in bytes, exactly (the peak is sampled, see
//! [`peak_live_bytes`]):
//! [`live_bytes`] over all live [`PoolVec`]s, [`cached_bytes`] for the pool, and
//! [`thread_live_bytes`], the bytes allocated minus freed *by the calling thread*, which lets
//! tests check deltas while other tests run in parallel threads.
//!
//! Soundness: no uninitialised memory is ever exposed. "For overwrite" buffers are either fresh
//! zeroed memory (cheap: `calloc`/untouched zero pages) or a reused buffer holding old, fully
//! initialised values; they are unspecified, never uninitialised. The one `unsafe` block
//! (`madvise`, asking for huge pages) changes how pages are backed, never their contents; its
//! `SAFETY` comment says why that is sound.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Buffers whose capacity is at least this many bytes are pooled on drop (64 KiB).
pub const POOL_MIN_BYTES: usize = 64 << 10;

/// Most free small buffers kept per thread, element type and capacity class.
pub const SMALL_PER_CLASS: usize = 32;

/// Most bytes of free small buffers kept per thread.
pub const SMALL_CACHE_BYTES: usize = 4 << 20;

/// Buffers of at least this many bytes ask the kernel for transparent huge pages (Linux).
pub const HUGE_PAGE_MIN_BYTES: usize = 4 << 20;

/// Default bound on the bytes the pool keeps cached (1 GiB).
pub const DEFAULT_CACHE_LIMIT: usize = 1 << 30;

/// Element types a [`PoolVec`] can hold: any `Copy + Default` type (f32, f64, i64, u32, ...).
///
/// Implemented for every such type, so code generic over the tensor element trait can use
/// `PoolVec<T>` directly. Sound for all of them because the pool is keyed by `TypeId`: a reused
/// buffer only ever holds values that were written as the same `T`.
pub trait PoolElem: Copy + Default + Send + 'static {}

impl<T: Copy + Default + Send + 'static> PoolElem for T {}

/// Net bytes counted by threads that have exited (and by buffers made or dropped during a
/// thread's teardown); each live thread keeps its own count in [`THREADS`].
static RETIRED: AtomicIsize = AtomicIsize::new(0);
/// The byte counts of the live threads that have touched a buffer.
static THREADS: Mutex<Vec<Arc<AtomicIsize>>> = Mutex::new(Vec::new());
static PEAK: AtomicUsize = AtomicUsize::new(0);
static CACHED: AtomicUsize = AtomicUsize::new(0);
static CACHE_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_CACHE_LIMIT);
static POOL: Mutex<Pool> = Mutex::new(Pool::new());

thread_local! {
    static THREAD_LIVE: ThreadCount = ThreadCount::new();
    static SMALL: RefCell<SmallCache> = const { RefCell::new(SmallCache { lists: Vec::new(), bytes: 0 }) };
}

/// This thread's free small buffers: one [`SmallLists`] per element type.
struct SmallCache {
    lists: Vec<(TypeId, Box<dyn Any>)>,
    bytes: usize,
}

/// Free buffers of one element type, by capacity class (`2^class` elements).
struct SmallLists<T> {
    by_class: Vec<Vec<Vec<T>>>,
}

/// Runs `f` on this thread's small lists for `T` and the cache's byte count; `None` during
/// thread teardown (the cache is gone) or re-entrantly.
fn with_small<T: PoolElem, R>(f: impl FnOnce(&mut SmallLists<T>, &mut usize) -> R) -> Option<R> {
    SMALL
        .try_with(|cell| {
            let mut cache = cell.try_borrow_mut().ok()?;
            let cache = &mut *cache;
            let id = TypeId::of::<T>();
            let idx = match cache.lists.iter().position(|(t, _)| *t == id) {
                Some(i) => i,
                None => {
                    let lists = SmallLists::<T> {
                        by_class: Vec::new(),
                    };
                    cache.lists.push((id, Box::new(lists)));
                    cache.lists.len() - 1
                }
            };
            let lists = cache.lists[idx].1.downcast_mut::<SmallLists<T>>()?;
            Some(f(lists, &mut cache.bytes))
        })
        .ok()
        .flatten()
}

/// Capacity class of a small request: `len` rounded up to a power of two.
fn small_class(len: usize) -> (usize, usize) {
    let cap = len.next_power_of_two();
    (cap.trailing_zeros() as usize, cap)
}

/// Bytes held by all live [`PoolVec`]s (not counting cached free buffers).
pub fn live_bytes() -> usize {
    let threads = lock_threads();
    let total = threads
        .iter()
        .fold(RETIRED.load(Ordering::Relaxed), |acc, c| {
            acc.wrapping_add(c.load(Ordering::Relaxed))
        });
    total.max(0) as usize
}

/// Highest [`live_bytes`] seen since the start or the last [`reset_peak_live_bytes`].
///
/// Sampled, not exact: the peak is taken whenever a pooled (large) buffer is allocated and
/// when it is read, so a high-water mark made only of small buffers between two samples can
/// go unseen. Small buffers are counted per thread without shared atomics (see
/// [`ThreadCount`]), which a global maximum on every allocation would undo.
pub fn peak_live_bytes() -> usize {
    let live = live_bytes();
    PEAK.fetch_max(live, Ordering::Relaxed).max(live)
}

/// Restarts [`peak_live_bytes`] from the current live bytes.
pub fn reset_peak_live_bytes() {
    PEAK.store(live_bytes(), Ordering::Relaxed);
}

/// Bytes allocated minus bytes freed by [`PoolVec`]s on the calling thread. A buffer created on
/// one thread and dropped on another counts +bytes on the first and -bytes on the second, so
/// this can be negative; it is exact for work confined to one thread, which is what tests need.
pub fn thread_live_bytes() -> isize {
    THREAD_LIVE.try_with(ThreadCount::get).unwrap_or(0)
}

/// One thread's net allocated bytes. Only the owning thread writes it (a plain load and store,
/// no locked read-modify-write: a tiny op allocates and frees a buffer, and the shared
/// counters cost three locked operations per buffer, one of them a compare-and-swap loop for
/// the peak); [`live_bytes`] reads every thread's count. On thread exit the count moves to
/// [`RETIRED`].
struct ThreadCount(Arc<AtomicIsize>);

impl ThreadCount {
    fn new() -> Self {
        let count = Arc::new(AtomicIsize::new(0));
        lock_threads().push(Arc::clone(&count));
        ThreadCount(count)
    }

    fn get(&self) -> isize {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, delta: isize) {
        self.0
            .store(self.get().wrapping_add(delta), Ordering::Relaxed);
    }
}

impl Drop for ThreadCount {
    fn drop(&mut self) {
        // Both under the lock, so `live_bytes` counts this thread's bytes exactly once.
        let mut threads = lock_threads();
        threads.retain(|c| !Arc::ptr_eq(c, &self.0));
        RETIRED.fetch_add(self.get(), Ordering::Relaxed);
    }
}

fn lock_threads() -> MutexGuard<'static, Vec<Arc<AtomicIsize>>> {
    // A list of counters: a panic elsewhere cannot leave it half-updated.
    THREADS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Bytes held by the pool's free buffers.
pub fn cached_bytes() -> usize {
    CACHED.load(Ordering::Relaxed)
}

/// Frees every cached buffer (the shared pool's, and the calling thread's small ones).
pub fn empty_cache() {
    let small = SMALL
        .try_with(|cell| {
            cell.try_borrow_mut().ok().map(|mut c| {
                c.bytes = 0;
                std::mem::take(&mut c.lists)
            })
        })
        .ok()
        .flatten();
    drop(small);
    let freed = {
        let mut pool = lock_pool();
        let all = std::mem::take(&mut pool.entries);
        pool.bytes = 0;
        CACHED.store(0, Ordering::Relaxed);
        all
    };
    // Released outside the lock: unmapping large buffers takes a while.
    drop(freed);
}

/// The pool's bound in bytes.
pub fn cache_limit() -> usize {
    CACHE_LIMIT.load(Ordering::Relaxed)
}

/// Sets the pool's bound (0 disables caching) and evicts down to it.
pub fn set_cache_limit(bytes: usize) {
    CACHE_LIMIT.store(bytes, Ordering::Relaxed);
    let evicted = {
        let mut pool = lock_pool();
        let evicted = pool.evict_to(bytes);
        CACHED.store(pool.bytes, Ordering::Relaxed);
        evicted
    };
    drop(evicted);
}

fn lock_pool() -> MutexGuard<'static, Pool> {
    // The pool is consistent between statements (no update can panic halfway), so a panic on
    // another thread while holding the lock leaves nothing to repair.
    POOL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn count_alloc(bytes: usize) {
    count(bytes as isize);
    if bytes >= POOL_MIN_BYTES {
        PEAK.fetch_max(live_bytes(), Ordering::Relaxed);
    }
}

fn count_free(bytes: usize) {
    count((bytes as isize).wrapping_neg());
}

fn count(delta: isize) {
    // `try_with` fails for a buffer made or dropped during thread teardown, after the
    // thread-local is gone; the retired count records it instead.
    if THREAD_LIVE.try_with(|c| c.add(delta)).is_err() {
        RETIRED.fetch_add(delta, Ordering::Relaxed);
    }
}

/// Asks Linux to back the 2 MiB-aligned part of a large buffer with transparent huge pages
/// (`MADV_HUGEPAGE`) and, with `collapse`, to move pages already written onto huge pages now
/// (`MADV_COLLAPSE`, Linux 6.1+, glibc targets). With the kernel's usual `madvise` THP mode,
/// buffers otherwise sit on 4 KiB pages and a pass over 64 MiB misses the TLB on every page;
/// NumPy advises huge pages for large arrays the same way, which is where PyTorch's
/// `from_numpy` tensors in the benchmarks get theirs. A hint only: failures (an old kernel,
/// THP off) are ignored, and `LAMINA_HUGE_PAGES=0` turns it off.
fn advise_huge_pages<T>(buf: &[T], collapse: bool) {
    let bytes = std::mem::size_of_val(buf);
    if bytes < HUGE_PAGE_MIN_BYTES || !huge_pages_enabled() {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = buf.as_ptr() as usize;
        let (begin, end) = (start.next_multiple_of(HUGE), (start + bytes) / HUGE * HUGE);
        if end <= begin {
            return;
        }
        let (addr, len) = (begin as *mut libc::c_void, end - begin);
        // SAFETY: `[begin, end)` is `buf`'s own memory rounded inward to 2 MiB boundaries,
        // so it is mapped and owned by this allocation for the duration of the calls.
        // MADV_HUGEPAGE and MADV_COLLAPSE change only how the kernel backs those pages, never
        // their contents (a collapse copies the data into the huge page), so no Rust value
        // observes a change; errors are returned as -1 and ignored.
        unsafe {
            libc::madvise(addr, len, libc::MADV_HUGEPAGE);
            #[cfg(target_env = "gnu")]
            if collapse {
                libc::madvise(addr, len, libc::MADV_COLLAPSE);
            }
        }
    }
    let _ = collapse;
}

/// Whether [`advise_huge_pages`] runs: unless `LAMINA_HUGE_PAGES=0`. Read once.
fn huge_pages_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("LAMINA_HUGE_PAGES").map_or(true, |v| v.trim() != "0"))
}

/// Smallest size class holding `n` elements.
fn class_ceil(n: usize) -> usize {
    match class_step(n) {
        Some(step) => n.div_ceil(step) * step,
        None => n,
    }
}

/// Largest size class not above `n` elements.
fn class_floor(n: usize) -> usize {
    match class_step(n) {
        Some(step) => n / step * step,
        None => n,
    }
}

/// Eight classes per power of two: step `2^(floor(log2 n) - 3)`; exact below 16 elements.
fn class_step(n: usize) -> Option<usize> {
    let log2 = n.checked_ilog2()?;
    (log2 >= 4).then(|| 1usize << (log2 - 3))
}

fn bytes_of<T>(elems: usize) -> usize {
    elems.saturating_mul(std::mem::size_of::<T>())
}

struct Entry {
    type_id: TypeId,
    class: usize,
    bytes: usize,
    buf: Box<dyn Any + Send>,
}

/// Free buffers, oldest first. Linear scans are fine: at most limit / 1 MiB entries, and each
/// hit saves far more than a scan costs.
struct Pool {
    entries: VecDeque<Entry>,
    bytes: usize,
}

impl Pool {
    const fn new() -> Self {
        Pool {
            entries: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Most recently cached buffer of type `T` and size class `class`.
    fn take<T: PoolElem>(&mut self, class: usize) -> Option<Vec<T>> {
        let id = TypeId::of::<T>();
        let idx = self
            .entries
            .iter()
            .rposition(|e| e.type_id == id && e.class == class)?;
        let entry = self.entries.remove(idx)?;
        self.bytes -= entry.bytes;
        // The TypeId matched, so this cannot fail; if it somehow did, the buffer is just freed.
        entry.buf.downcast::<Vec<T>>().ok().map(|b| *b)
    }

    /// Caches `buf` within `limit`, returning what must be freed (evictions, or `buf` itself if
    /// it alone exceeds the limit) so the caller can free it after releasing the lock.
    fn put<T: PoolElem>(&mut self, buf: Vec<T>, limit: usize) -> Vec<Entry> {
        let bytes = bytes_of::<T>(buf.capacity());
        let entry = Entry {
            type_id: TypeId::of::<T>(),
            class: class_floor(buf.capacity()),
            bytes,
            buf: Box::new(buf),
        };
        if bytes > limit {
            return vec![entry];
        }
        let evicted = self.evict_to(limit - bytes);
        self.bytes += bytes;
        self.entries.push_back(entry);
        evicted
    }

    /// Drops the oldest entries until at most `target` bytes remain; returns them.
    fn evict_to(&mut self, target: usize) -> Vec<Entry> {
        let mut evicted = Vec::new();
        while self.bytes > target {
            match self.entries.pop_front() {
                Some(e) => {
                    self.bytes -= e.bytes;
                    evicted.push(e);
                }
                None => break,
            }
        }
        evicted
    }
}

/// Buffers of at most this many elements live inside the [`PoolVec`] itself: a scalar loss,
/// a bias of a tiny layer, the 16-element add of the overhead benchmark. They need no buffer,
/// no cache look-up and no counting (the small-buffer cache's take and return were a seventh
/// of the time of a 16-element add under perf).
pub const INLINE_LEN: usize = 16;

/// An owned, counted buffer of `len` elements; large ones are recycled through the pool,
/// small ones through a per-thread cache, and up to [`INLINE_LEN`] are stored inline.
///
/// Dereferences to `[T]`. The backing `Vec` may be longer than `len` (a size-class buffer);
/// the extra elements are never visible. Inline elements count 0 bytes in [`live_bytes`]:
/// they live in the storage object, not in a buffer of their own.
pub struct PoolVec<T: PoolElem> {
    /// The elements when `buf` has no capacity (inline), unused otherwise.
    inline: [T; INLINE_LEN],
    buf: Vec<T>,
    len: usize,
}

impl<T: PoolElem> PoolVec<T> {
    /// `len` (at most [`INLINE_LEN`]) elements stored inline, all `T::default()`.
    #[inline]
    fn inline(len: usize) -> Self {
        debug_assert!(len <= INLINE_LEN);
        PoolVec {
            inline: [T::default(); INLINE_LEN],
            buf: Vec::new(),
            len,
        }
    }

    fn is_inline(&self) -> bool {
        self.buf.capacity() == 0
    }

    /// `len` zeros (`T::default()`).
    pub fn zeroed(len: usize) -> Self {
        if len <= INLINE_LEN {
            return Self::inline(len);
        }
        let mut a = Self::acquire(len);
        if a.reused {
            a.vec[..len].fill(T::default());
        }
        a.finish(len)
    }

    /// `len` elements with unspecified (but initialised) contents, for a caller that overwrites
    /// every element: a reused buffer keeps its old values, a fresh one is zeroed by the OS.
    #[inline]
    pub fn uninit_for_overwrite(len: usize) -> Self {
        if len <= INLINE_LEN {
            return Self::inline(len);
        }
        Self::acquire(len).finish(len)
    }

    /// `len` copies of `value`.
    pub fn filled(len: usize, value: T) -> Self {
        let mut v = Self::uninit_for_overwrite(len);
        v.fill(value);
        v
    }

    /// A counted copy of `src`.
    pub fn from_slice(src: &[T]) -> Self {
        let mut v = Self::uninit_for_overwrite(src.len());
        v.copy_from_slice(src);
        v
    }

    /// Adopts `v` (counting its capacity) without copying.
    pub fn from_vec(v: Vec<T>) -> Self {
        count_alloc(bytes_of::<T>(v.capacity()));
        // An adopted buffer was written already, on small pages: collapse it now.
        advise_huge_pages(&v, true);
        let len = v.len();
        // (A `Vec` without capacity makes an empty inline buffer: `is_inline` reads the
        // capacity.)
        PoolVec {
            inline: [T::default(); INLINE_LEN],
            buf: v,
            len,
        }
    }

    /// The contents as a plain `Vec` (uncounted from then on; it will not return to the pool).
    pub fn into_vec(mut self) -> Vec<T> {
        if self.is_inline() {
            return self.inline[..self.len].to_vec();
        }
        let mut v = std::mem::take(&mut self.buf);
        count_free(bytes_of::<T>(v.capacity()));
        v.truncate(self.len);
        self.len = 0;
        v
    }

    /// Bytes this buffer counts in [`live_bytes`] (its capacity, which for pooled sizes is the
    /// size class, at least `len * size_of::<T>()`).
    pub fn capacity_bytes(&self) -> usize {
        bytes_of::<T>(self.buf.capacity())
    }

    fn acquire(len: usize) -> Acquired<T> {
        let wanted = bytes_of::<T>(len);
        if wanted < POOL_MIN_BYTES {
            if len == 0 {
                return Acquired {
                    vec: Vec::new(),
                    reused: false,
                };
            }
            let (class, cap) = small_class(len);
            let hit = with_small::<T, _>(|lists, bytes| {
                let v = lists.by_class.get_mut(class)?.pop()?;
                *bytes -= bytes_of::<T>(v.capacity());
                Some(v)
            })
            .flatten();
            return match hit {
                Some(vec) => Acquired { vec, reused: true },
                None => Acquired {
                    vec: vec![T::default(); cap],
                    reused: false,
                },
            };
        }
        let class = class_ceil(len);
        let cached = {
            let mut pool = lock_pool();
            let hit = pool.take::<T>(class);
            CACHED.store(pool.bytes, Ordering::Relaxed);
            hit
        };
        match cached {
            Some(mut vec) => {
                // Adopted vectors may be shorter than their capacity; pool-made ones never are.
                if vec.len() < len {
                    vec.resize(len, T::default());
                }
                Acquired { vec, reused: true }
            }
            // A whole class, zeroed: untouched pages of it cost nothing until written, and
            // are backed by huge pages when they are.
            None => {
                let vec = vec![T::default(); class];
                advise_huge_pages(&vec, false);
                Acquired { vec, reused: false }
            }
        }
    }
}

struct Acquired<T> {
    vec: Vec<T>,
    reused: bool,
}

impl<T: PoolElem> Acquired<T> {
    fn finish(self, len: usize) -> PoolVec<T> {
        count_alloc(bytes_of::<T>(self.vec.capacity()));
        PoolVec {
            inline: [T::default(); INLINE_LEN],
            buf: self.vec,
            len,
        }
    }
}

impl<T: PoolElem> Drop for PoolVec<T> {
    fn drop(&mut self) {
        if self.is_inline() {
            return;
        }
        let buf = std::mem::take(&mut self.buf);
        let bytes = bytes_of::<T>(buf.capacity());
        count_free(bytes);
        if bytes < POOL_MIN_BYTES {
            let cap = buf.capacity();
            if cap.is_power_of_two() {
                let mut buf = buf;
                // Cached buffers are full length, so any request of their class fits.
                buf.resize(cap, T::default());
                // Whatever the cache declines (full class, full cache, thread teardown)
                // comes back and is freed.
                let _ = with_small::<T, _>(move |lists, total| {
                    let class = cap.trailing_zeros() as usize;
                    if lists.by_class.len() <= class {
                        lists.by_class.resize_with(class + 1, Vec::new);
                    }
                    let list = &mut lists.by_class[class];
                    if list.len() < SMALL_PER_CLASS && *total + bytes <= SMALL_CACHE_BYTES {
                        *total += bytes;
                        list.push(buf);
                        None
                    } else {
                        Some(buf)
                    }
                });
            }
            return;
        }
        let freed = {
            let mut pool = lock_pool();
            let freed = pool.put(buf, cache_limit());
            CACHED.store(pool.bytes, Ordering::Relaxed);
            freed
        };
        drop(freed);
    }
}

impl<T: PoolElem> Deref for PoolVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        if self.is_inline() {
            &self.inline[..self.len]
        } else {
            &self.buf[..self.len]
        }
    }
}

impl<T: PoolElem> DerefMut for PoolVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        if self.is_inline() {
            &mut self.inline[..self.len]
        } else {
            &mut self.buf[..self.len]
        }
    }
}

impl<T: PoolElem> Clone for PoolVec<T> {
    fn clone(&self) -> Self {
        Self::from_slice(self)
    }
}

impl<T: PoolElem> Default for PoolVec<T> {
    fn default() -> Self {
        Self::from_vec(Vec::new())
    }
}

impl<T: PoolElem + fmt::Debug> fmt::Debug for PoolVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Elements of `T` making a buffer of `mib` MiB plus an odd amount, so each test owns its
    /// own size class and parallel tests do not take each other's cached buffers.
    fn large_len<T>(mib: usize, salt: usize) -> usize {
        (mib << 20) / std::mem::size_of::<T>() + 4099 * salt
    }

    #[test]
    fn size_classes() {
        assert_eq!(class_ceil(0), 0);
        assert_eq!(class_ceil(15), 15);
        assert_eq!(class_ceil(16), 16);
        assert_eq!(class_ceil(17), 18);
        assert_eq!(class_ceil(1000), 1024);
        assert_eq!(class_ceil(1 << 20), 1 << 20);
        assert_eq!(class_ceil((1 << 20) + 1), (1 << 20) + (1 << 17));
        for n in (1..200_000).step_by(997) {
            let c = class_ceil(n);
            assert!(c >= n && (c - n) * 8 <= n, "{n} -> {c}");
            assert_eq!(class_floor(c), c);
            assert!(class_floor(n) <= n && class_ceil(class_floor(n)) == class_floor(n));
        }
    }

    #[test]
    fn huge_page_hints_keep_contents() {
        // 6 MiB + a bit: at least one whole 2 MiB-aligned stretch gets the hints (adoption
        // collapses written pages; a fresh pooled buffer is advised before its first write).
        let n = (6 << 20) / 4 + 12_345;
        let v: Vec<u32> = (0..n as u32)
            .map(|i| i.wrapping_mul(2_654_435_761))
            .collect();
        let adopted = PoolVec::from_vec(v);
        assert!(adopted
            .iter()
            .enumerate()
            .all(|(i, &x)| x == (i as u32).wrapping_mul(2_654_435_761)));
        let mut fresh = PoolVec::<u32>::zeroed(n + 3);
        assert!(fresh.iter().all(|&x| x == 0));
        fresh
            .iter_mut()
            .enumerate()
            .for_each(|(i, x)| *x = i as u32);
        assert!(fresh.iter().enumerate().all(|(i, &x)| x == i as u32));
        // Directly, on an unaligned sub-slice too.
        advise_huge_pages(&adopted[7..], true);
        assert_eq!(adopted[n - 1], ((n - 1) as u32).wrapping_mul(2_654_435_761));
    }

    #[test]
    fn small_buffers_count_their_power_of_two_capacity() {
        let before = thread_live_bytes();
        let a = PoolVec::<f32>::zeroed(1000);
        // 1000 elements take the 1024-element class.
        assert_eq!(thread_live_bytes() - before, 4096);
        assert_eq!(a.len(), 1000);
        assert!(a.iter().all(|&x| x == 0.0));
        let b = PoolVec::<u8>::filled(20, 7);
        assert_eq!(&b[..], &[7; 20]);
        // 20 elements take the 32-element class.
        assert_eq!(thread_live_bytes() - before, 4128);
        drop(a);
        drop(b);
        assert_eq!(thread_live_bytes(), before);
    }

    #[test]
    fn tiny_buffers_are_inline_and_uncounted() {
        let before = thread_live_bytes();
        let mut a = PoolVec::<f32>::zeroed(INLINE_LEN);
        assert!(a.is_inline() && a.iter().all(|&x| x == 0.0));
        a.iter_mut().enumerate().for_each(|(i, x)| *x = i as f32);
        let b = PoolVec::<i64>::filled(3, -4);
        let c = a.clone();
        assert_eq!(thread_live_bytes(), before);
        assert_eq!(&b[..], &[-4, -4, -4]);
        assert_eq!(c.len(), INLINE_LEN);
        assert_eq!(c[INLINE_LEN - 1], (INLINE_LEN - 1) as f32);
        assert_eq!(b.clone().into_vec(), vec![-4, -4, -4]);
        assert!(PoolVec::<f32>::uninit_for_overwrite(0).is_empty());
        // One past the inline length takes a buffer.
        let d = PoolVec::<f32>::zeroed(INLINE_LEN + 1);
        assert!(!d.is_inline());
        assert_eq!(thread_live_bytes() - before, 128);
        drop((a, b, c, d));
        assert_eq!(thread_live_bytes(), before);
    }

    #[test]
    fn small_buffers_are_reused_on_the_same_thread_and_zeroed_when_asked() {
        // An odd element type keeps this test's buffers apart from other tests'.
        #[derive(Clone, Copy, Default, PartialEq, Debug)]
        struct Odd(u16);
        let mut a = PoolVec::<Odd>::uninit_for_overwrite(20);
        a.fill(Odd(9));
        let ptr = a.as_ptr();
        drop(a);
        // Same class (32 elements): the same buffer comes back, old values and all ...
        let b = PoolVec::<Odd>::uninit_for_overwrite(17);
        assert_eq!(b.as_ptr(), ptr);
        assert_eq!(b.len(), 17);
        drop(b);
        // ... but `zeroed` clears it.
        let c = PoolVec::<Odd>::zeroed(32);
        assert_eq!(c.as_ptr(), ptr);
        assert!(c.iter().all(|&x| x == Odd(0)));
        // Another thread has its own cache.
        let other = std::thread::spawn(|| PoolVec::<Odd>::zeroed(32).as_ptr() as usize)
            .join()
            .unwrap();
        assert_ne!(other, ptr as usize);
        drop(c);
        // A class keeps at most SMALL_PER_CLASS free buffers.
        let many: Vec<_> = (0..SMALL_PER_CLASS + 5)
            .map(|_| PoolVec::<Odd>::zeroed(64))
            .collect();
        drop(many);
        let kept = with_small::<Odd, _>(|lists, _| lists.by_class[6].len()).unwrap();
        assert_eq!(kept, SMALL_PER_CLASS);
        empty_cache();
        let kept = with_small::<Odd, _>(|lists, _| lists.by_class.len()).unwrap();
        assert_eq!(kept, 0);
    }

    #[test]
    fn large_buffer_is_reused_and_counters_follow() {
        let len = large_len::<f32>(2, 1);
        let before = thread_live_bytes();
        let mut a = PoolVec::<f32>::zeroed(len);
        let held = a.capacity_bytes();
        assert!(held >= len * 4 && held <= len * 4 + len / 2);
        assert_eq!(thread_live_bytes() - before, held as isize);
        a[len - 1] = 5.0;
        let ptr = a.as_ptr();
        drop(a);
        assert_eq!(thread_live_bytes(), before);

        // Same size class: the same memory comes back, old contents visible to "overwrite"
        // users but not to `zeroed` ones.
        let b = PoolVec::<f32>::uninit_for_overwrite(len);
        assert_eq!(b.as_ptr(), ptr);
        assert_eq!(b[len - 1], 5.0);
        assert_eq!(thread_live_bytes() - before, held as isize);
        drop(b);
        let c = PoolVec::<f32>::zeroed(len - 10);
        assert_eq!(c.as_ptr(), ptr);
        assert_eq!(c.len(), len - 10);
        assert!(c.iter().all(|&x| x == 0.0));
        drop(c);
        assert_eq!(thread_live_bytes(), before);
    }

    #[test]
    fn types_do_not_share_buffers() {
        let len_u32 = large_len::<u32>(1, 3);
        let a = PoolVec::<u32>::filled(len_u32, 9);
        let ptr = a.as_ptr() as usize;
        drop(a);
        // Same byte size, other type: must not get the u32 buffer.
        let b = PoolVec::<f32>::zeroed(len_u32);
        assert_ne!(b.as_ptr() as usize, ptr);
        assert!(b.iter().all(|&x| x == 0.0));
        drop(b);
        let c = PoolVec::<u32>::uninit_for_overwrite(len_u32);
        assert_eq!(c.as_ptr() as usize, ptr);
    }

    #[test]
    fn from_vec_and_into_vec_count_capacity() {
        let before = thread_live_bytes();
        let mut v = Vec::<i64>::with_capacity(100);
        v.extend(0..10);
        let p = PoolVec::from_vec(v);
        assert_eq!(p.len(), 10);
        assert_eq!(thread_live_bytes() - before, 800);
        let back = p.into_vec();
        assert_eq!(back, (0..10).collect::<Vec<i64>>());
        assert_eq!(thread_live_bytes(), before);

        // An adopted large vector is pooled under the class its capacity covers and can serve
        // a request of that class even though it was shorter.
        let len = large_len::<u16>(1, 5);
        let mut big = Vec::<u16>::with_capacity(len);
        big.extend((0..len / 2).map(|i| i as u16));
        let ptr = big.as_ptr();
        drop(PoolVec::from_vec(big));
        let again = PoolVec::<u16>::zeroed(class_floor(len));
        assert_eq!(again.as_ptr(), ptr);
        assert!(again.iter().all(|&x| x == 0));
        drop(again);
        assert_eq!(thread_live_bytes(), before);
    }

    #[test]
    fn clone_and_views_do_not_leak_counts() {
        let before = thread_live_bytes();
        let values: Vec<f64> = (1..=17).map(f64::from).collect();
        let a = PoolVec::<f64>::from_slice(&values);
        let view: &[f64] = &a[15..];
        assert_eq!(view, &[16.0, 17.0]);
        // Seventeen elements take the 32-element class.
        assert_eq!(thread_live_bytes() - before, 256);
        let b = a.clone();
        assert_eq!(thread_live_bytes() - before, 512);
        assert_eq!(&b[..], &values[..]);
        drop((a, b));
        assert_eq!(thread_live_bytes(), before);
        let e = PoolVec::<u8>::default();
        assert!(e.is_empty());
        assert_eq!(thread_live_bytes(), before);
    }

    #[test]
    fn buffers_dropped_on_another_thread() {
        let before = thread_live_bytes();
        let v = PoolVec::<i32>::zeroed(256);
        assert_eq!(thread_live_bytes() - before, 1024);
        let other = std::thread::spawn(move || {
            let b = thread_live_bytes();
            drop(v);
            thread_live_bytes() - b
        })
        .join();
        assert_eq!(other.ok(), Some(-1024));
        assert_eq!(thread_live_bytes() - before, 1024);
    }

    #[test]
    fn pool_bound_evicts_oldest_first() {
        // A local pool, so the global one (and tests using it) are untouched.
        let mut pool = Pool::new();
        let mib = 1 << 20;
        let make = |n: usize| vec![0u8; n * mib];
        assert!(pool.put(make(1), 3 * mib).is_empty());
        assert!(pool.put(make(2), 3 * mib).is_empty());
        assert_eq!(pool.bytes, 3 * mib);
        // 2 MiB more under a 3 MiB bound: the oldest (1 MiB) and then the 2 MiB go.
        let evicted = pool.put(make(2), 3 * mib);
        assert_eq!(evicted.len(), 2);
        assert_eq!(pool.bytes, 2 * mib);
        // Larger than the bound on its own: refused, handed back for freeing.
        let refused = pool.put(make(4), 3 * mib);
        assert_eq!(refused.len(), 1);
        assert_eq!(pool.bytes, 2 * mib);
        assert!(pool.take::<u8>(2 * mib).is_some());
        assert!(pool.take::<u8>(2 * mib).is_none());
        assert_eq!(pool.bytes, 0);
        assert!(pool.evict_to(0).is_empty());
    }

    #[test]
    fn global_counters_are_consistent() {
        let len = large_len::<f64>(1, 7);
        let v = PoolVec::<f64>::zeroed(len);
        assert!(live_bytes() >= v.capacity_bytes());
        assert!(peak_live_bytes() >= v.capacity_bytes());
        drop(v);
        assert!(cached_bytes() <= cache_limit());
        assert!(cache_limit() > 0);
    }
}

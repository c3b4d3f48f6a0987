//! [`DataLoader`]: batches of a [`Dataset`] in a seeded order, built inline or ahead of time
//! on worker threads (PyTorch's `torch.utils.data.DataLoader`).
//!
//! One epoch is a pure function of `(dataset, config, sampler, epoch)`: the sampler gives
//! the order from `Rng::derive(seed, &[epoch])`, batch `k` covers positions
//! `k·B..(k+1)·B` of that order, and a batch transform draws from
//! `Rng::derive(seed, &[epoch, k])`. Nothing depends on which thread builds a batch, so
//! 0, 1 or 8 workers give the same sequence of batches.
//!
//! Workers: worker `w` of `N` builds batches `w, w + N, w + 2N, ...` (PyTorch's
//! round-robin) and sends each down its own bounded channel of `prefetch` slots. The
//! iterator reads batch `k` from worker `k mod N`'s channel, so batches come out in order
//! with no reordering buffer, and no worker runs more than `prefetch + 1` batches ahead.
//! Errors and panics (caught with `catch_unwind`) travel down the same channel as
//! [`Error::Worker`] and end the epoch. Dropping an [`Epoch`] raises a stop flag, drops the
//! receivers (which unblocks any worker waiting to send) and joins every thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::dataset::{Batch, Dataset};
use crate::sampler::Sampler;
use crate::{Error, Result, Rng};
use lamina_tensor::random::next_seed;

/// How a [`DataLoader`] batches, orders and prefetches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoaderConfig {
    /// Samples per batch (> 0).
    pub batch_size: usize,
    /// Visit the samples in a fresh random order each epoch ([`Sampler::Random`]) rather
    /// than in index order; a sampler set with [`DataLoader::with_sampler`] overrides it.
    pub shuffle: bool,
    /// Drop the last batch when it would be smaller than `batch_size`.
    pub drop_last: bool,
    /// Seeds the sampler and the batch transform. `None` (the default) takes the next
    /// seed of the global stream ([`lamina_tensor::random::next_seed`]) when the loader
    /// is built, so a program that never names a seed still gets the same batches on
    /// every run; [`DataLoader::seed`] tells which seed that was.
    pub seed: Option<u64>,
    /// Threads building batches ahead of the consumer; 0 builds them inline in `next()`.
    pub workers: usize,
    /// Finished batches each worker may hold before it waits for the consumer (PyTorch's
    /// `prefetch_factor`); 0 makes each hand-off a rendezvous.
    pub prefetch: usize,
}

impl Default for LoaderConfig {
    /// Batch size 32, no shuffle, keep the last batch, a seed from the global stream, no
    /// workers, prefetch 2.
    fn default() -> Self {
        LoaderConfig {
            batch_size: 32,
            shuffle: false,
            drop_last: false,
            seed: None,
            workers: 0,
            prefetch: 2,
        }
    }
}

type BatchFn = dyn Fn(Batch, &mut Rng) -> Result<Batch> + Send + Sync;

/// Batches of a data set, one [`Epoch`] iterator at a time.
///
/// ```
/// use std::sync::Arc;
/// use lamina_data::{DataLoader, LoaderConfig, TensorDataset};
/// use lamina_tensor::Tensor;
/// # fn main() -> lamina_data::Result<()> {
/// let dev = lamina_backend_cpu::device();
/// let x = Tensor::from_vec((0..10).map(|v| v as f32).collect(), [10, 1], &dev)?;
/// let y = Tensor::from_vec((0..10i64).collect(), [10], &dev)?;
/// let config = LoaderConfig {
///     batch_size: 4,
///     shuffle: true,
///     seed: Some(7), // or None: the next seed of lamina_tensor::random's global stream
///     workers: 2,
///     ..Default::default()
/// };
/// let loader = DataLoader::new(Arc::new(TensorDataset::new(x, y)?), config)?;
/// assert_eq!(loader.num_batches(), 3); // 4 + 4 + 2
/// assert_eq!(loader.seed(), 7);
/// let mut seen = Vec::new();
/// for batch in loader.epoch(0) {
///     seen.extend(batch?.indices);
/// }
/// seen.sort();
/// assert_eq!(seen, (0..10).collect::<Vec<_>>());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DataLoader {
    dataset: Arc<dyn Dataset>,
    /// As given, except that `seed` is always `Some`: the resolved seed.
    config: LoaderConfig,
    seed: u64,
    sampler: Sampler,
    transform: Option<Arc<BatchFn>>,
}

impl DataLoader {
    /// A loader over `dataset`; a zero `batch_size` is [`Error::Invalid`]. A config
    /// without a seed takes one from [`lamina_tensor::random::next_seed`] here (and only
    /// once the config is known to be valid).
    pub fn new(dataset: Arc<dyn Dataset>, mut config: LoaderConfig) -> Result<DataLoader> {
        if config.batch_size == 0 {
            return Err(Error::Invalid {
                op: "DataLoader::new",
                msg: "batch_size must be positive, got 0".into(),
            });
        }
        let seed = *config.seed.get_or_insert_with(next_seed);
        let sampler = if config.shuffle {
            Sampler::Random
        } else {
            Sampler::Sequential
        };
        Ok(DataLoader {
            dataset,
            config,
            seed,
            sampler,
            transform: None,
        })
    }

    /// Orders each epoch with `sampler` instead of the one `shuffle` picks (PyTorch's
    /// `sampler=`). A sampler that does not fit the data set (weights of another length)
    /// makes each epoch yield that error once.
    pub fn with_sampler(mut self, sampler: Sampler) -> DataLoader {
        self.sampler = sampler;
        self
    }

    /// Applies `f` to every batch after it is built, on the thread that built it (e.g.
    /// augmentation). `f` gets `Rng::derive(seed, &[epoch, batch_index])`, so its draws do
    /// not depend on the worker count. Replaces any earlier transform.
    pub fn with_batch_transform(
        mut self,
        f: impl Fn(Batch, &mut Rng) -> Result<Batch> + Send + Sync + 'static,
    ) -> DataLoader {
        self.transform = Some(Arc::new(f));
        self
    }

    /// Batches per epoch: `ceil(n / batch_size)`, or `floor` with `drop_last`, where `n`
    /// is the number of indices the sampler yields.
    pub fn num_batches(&self) -> usize {
        let n = self.sampler.num_samples(self.dataset.len());
        let b = self.config.batch_size;
        if self.config.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// The number of samples in the data set.
    pub fn dataset_len(&self) -> usize {
        self.dataset.len()
    }

    /// The configuration this loader was built with, its seed resolved (always
    /// `Some`): a clone of it builds a loader with the same batches.
    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// The seed of the sampler and the batch transform: the config's, or the one drawn
    /// from the global stream when the config had none. A checkpoint records this one.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The sampler that orders each epoch.
    pub fn sampler(&self) -> &Sampler {
        &self.sampler
    }

    /// The data set.
    pub fn dataset(&self) -> &Arc<dyn Dataset> {
        &self.dataset
    }

    /// The batches of epoch `epoch`, in order. With `workers > 0` the threads start here
    /// and begin building batches at once.
    pub fn epoch(&self, epoch: u64) -> Epoch {
        let len = self.dataset.len();
        let indices = match self.sampler.indices(len, self.seed, epoch) {
            Ok(v) => v,
            Err(e) => {
                return Epoch {
                    state: State::Failed(e),
                    next: 0,
                    num_batches: 0,
                }
            }
        };
        let b = self.config.batch_size;
        let num_batches = if self.config.drop_last {
            indices.len() / b
        } else {
            indices.len().div_ceil(b)
        };
        let job = Arc::new(Job {
            dataset: self.dataset.clone(),
            indices,
            batch_size: b,
            transform: self.transform.clone(),
            seed: self.seed,
            epoch,
        });
        let workers = self.config.workers.min(num_batches);
        let state = if num_batches == 0 {
            State::Done
        } else if workers == 0 {
            State::Inline(job)
        } else {
            match Pool::start(job, workers, num_batches, self.config.prefetch) {
                Ok(pool) => State::Workers(pool),
                Err(e) => State::Failed(e),
            }
        };
        Epoch {
            state,
            next: 0,
            num_batches,
        }
    }
}

impl std::fmt::Debug for DataLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataLoader")
            .field("dataset_len", &self.dataset.len())
            .field("config", &self.config)
            .field("sampler", &self.sampler)
            .field("batch_transform", &self.transform.is_some())
            .finish()
    }
}

/// Everything needed to build any batch of one epoch; shared by the workers.
struct Job {
    dataset: Arc<dyn Dataset>,
    indices: Vec<usize>,
    batch_size: usize,
    transform: Option<Arc<BatchFn>>,
    seed: u64,
    epoch: u64,
}

impl Job {
    /// Batch `k`, with any error or panic wrapped as `Error::Worker { worker, batch: k }`.
    fn build(&self, k: usize, worker: usize) -> Result<Batch> {
        let run = || -> Result<Batch> {
            let start = k * self.batch_size;
            let end = (start + self.batch_size).min(self.indices.len());
            let batch = self.dataset.get_batch(&self.indices[start..end])?;
            match &self.transform {
                Some(f) => f(batch, &mut Rng::derive(self.seed, &[self.epoch, k as u64])),
                None => Ok(batch),
            }
        };
        let result = catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|payload| {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string panic payload".into());
            Err(Error::Panic { msg })
        });
        result.map_err(|e| Error::Worker {
            worker,
            batch: k,
            source: Box::new(e),
        })
    }
}

/// Worker threads of one epoch, each with its own bounded channel.
struct Pool {
    receivers: Vec<Receiver<Result<Batch>>>,
    handles: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Pool {
    fn start(job: Arc<Job>, workers: usize, num_batches: usize, prefetch: usize) -> Result<Pool> {
        let mut pool = Pool {
            receivers: Vec::with_capacity(workers),
            handles: Vec::with_capacity(workers),
            stop: Arc::new(AtomicBool::new(false)),
        };
        for w in 0..workers {
            let (tx, rx) = sync_channel(prefetch);
            let (job, stop) = (job.clone(), pool.stop.clone());
            let handle = std::thread::Builder::new()
                .name(format!("lamina-data-{w}"))
                .spawn(move || {
                    for k in (w..num_batches).step_by(workers) {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let result = job.build(k, w);
                        let failed = result.is_err();
                        // A send error means the epoch was dropped: stop quietly.
                        if tx.send(result).is_err() || failed {
                            break;
                        }
                    }
                })
                // On failure `pool` drops here, which stops and joins the started workers.
                .map_err(|source| Error::Spawn { worker: w, source })?;
            pool.receivers.push(rx);
            pool.handles.push(handle);
        }
        Ok(pool)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receivers wakes any worker blocked in `send`.
        self.receivers.clear();
        for h in self.handles.drain(..) {
            // Workers catch panics from user code, so a join error cannot carry one.
            let _ = h.join();
        }
    }
}

enum State {
    /// Build each batch in `next()`.
    Inline(Arc<Job>),
    /// Receive each batch from the worker that built it.
    Workers(Pool),
    /// Yield this error once, then end.
    Failed(Error),
    Done,
}

/// The batches of one epoch, in order: an `Iterator<Item = Result<Batch>>`. After an error
/// the iterator ends. Dropping it early stops and joins its worker threads.
pub struct Epoch {
    state: State,
    next: usize,
    num_batches: usize,
}

impl Epoch {
    /// The number of batches this epoch yields if nothing fails.
    pub fn num_batches(&self) -> usize {
        self.num_batches
    }
}

impl Iterator for Epoch {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        let k = self.next;
        let result = match &mut self.state {
            State::Done => return None,
            State::Failed(_) => match std::mem::replace(&mut self.state, State::Done) {
                State::Failed(e) => return Some(Err(e)),
                _ => return None,
            },
            State::Inline(job) => job.build(k, 0),
            State::Workers(pool) => {
                let w = k % pool.receivers.len();
                pool.receivers[w].recv().unwrap_or_else(|_| {
                    // Only reachable if a worker died without sending, which
                    // catch_unwind rules out; still an error, never a hang.
                    Err(Error::Worker {
                        worker: w,
                        batch: k,
                        source: Box::new(Error::Panic {
                            msg: "worker exited without sending its batch".into(),
                        }),
                    })
                })
            }
        };
        self.next += 1;
        if result.is_err() || self.next >= self.num_batches {
            // Drops (stops and joins) the pool, if any.
            self.state = State::Done;
        }
        Some(result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.state {
            State::Done => (0, Some(0)),
            State::Failed(_) => (1, Some(1)),
            _ => (0, Some(self.num_batches - self.next)),
        }
    }
}

impl std::iter::FusedIterator for Epoch {}

impl std::fmt::Debug for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Epoch(batch {} of {})", self.next, self.num_batches)
    }
}

//! Behaviour of the data sets, samplers and `DataLoader`: coverage per epoch, the same
//! batches for any worker count, errors and panics that surface instead of hanging, and
//! early drops that join their threads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lamina_data::{
    Batch, DataLoader, Dataset, Error, LoaderConfig, Rng, Sample, Sampler, Subset, TensorDataset,
};
use lamina_tensor::{DType, Device, Tensor};

fn dev() -> Device {
    lamina_backend_cpu::device()
}

/// `n` samples whose input is `[i, i + 0.5]` and target `i`, so a batch's rows can be
/// checked against its `indices`.
fn numbered(n: usize) -> TensorDataset {
    let x: Vec<f32> = (0..n).flat_map(|i| [i as f32, i as f32 + 0.5]).collect();
    let y: Vec<i64> = (0..n as i64).collect();
    TensorDataset::new(
        Tensor::from_vec(x, [n, 2], &dev()).unwrap(),
        Tensor::from_vec(y, [n], &dev()).unwrap(),
    )
    .unwrap()
}

fn config(
    batch_size: usize,
    shuffle: bool,
    drop_last: bool,
    seed: u64,
    workers: usize,
) -> LoaderConfig {
    LoaderConfig {
        batch_size,
        shuffle,
        drop_last,
        seed: Some(seed),
        workers,
        prefetch: 2,
    }
}

fn collect(loader: &DataLoader, epoch: u64) -> Vec<Batch> {
    loader.epoch(epoch).map(|b| b.unwrap()).collect()
}

fn batch_indices(loader: &DataLoader, epoch: u64) -> Vec<Vec<usize>> {
    collect(loader, epoch)
        .into_iter()
        .map(|b| b.indices)
        .collect()
}

#[test]
fn default_config_is_documented_one() {
    let c = LoaderConfig::default();
    assert_eq!(
        (
            c.batch_size,
            c.shuffle,
            c.drop_last,
            c.seed,
            c.workers,
            c.prefetch
        ),
        (32, false, false, None, 0, 2)
    );
    let err = DataLoader::new(Arc::new(numbered(3)), config(0, false, false, 0, 0)).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
}

#[test]
fn every_sample_once_per_epoch_with_ragged_last_batch() {
    for workers in [0, 2] {
        let loader =
            DataLoader::new(Arc::new(numbered(23)), config(5, true, false, 3, workers)).unwrap();
        assert_eq!(loader.num_batches(), 5);
        assert_eq!(loader.dataset_len(), 23);
        for epoch in 0..3 {
            let batches = collect(&loader, epoch);
            let sizes: Vec<usize> = batches.iter().map(Batch::len).collect();
            assert_eq!(sizes, vec![5, 5, 5, 5, 3]);
            let mut seen: Vec<usize> = Vec::new();
            for b in &batches {
                // Rows hold what their indices promise.
                let want: Vec<f32> = b
                    .indices
                    .iter()
                    .flat_map(|&i| [i as f32, i as f32 + 0.5])
                    .collect();
                assert_eq!(b.inputs.to_vec::<f32>().unwrap(), want);
                assert_eq!(b.inputs.dims(), &[b.len(), 2]);
                let t: Vec<usize> = b
                    .targets
                    .to_vec::<i64>()
                    .unwrap()
                    .iter()
                    .map(|&v| v as usize)
                    .collect();
                assert_eq!(t, b.indices);
                seen.extend(&b.indices);
            }
            seen.sort();
            assert_eq!(
                seen,
                (0..23).collect::<Vec<_>>(),
                "workers {workers} epoch {epoch}"
            );
        }
    }
}

#[test]
fn drop_last_drops_only_the_ragged_batch() {
    let loader = DataLoader::new(Arc::new(numbered(23)), config(5, true, true, 3, 2)).unwrap();
    assert_eq!(loader.num_batches(), 4);
    let batches = batch_indices(&loader, 0);
    assert_eq!(batches.len(), 4);
    assert!(batches.iter().all(|b| b.len() == 5));
    let mut seen: Vec<usize> = batches.concat();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 20, "no sample repeated");
    // Fewer samples than one batch: nothing at all.
    let tiny = DataLoader::new(Arc::new(numbered(3)), config(5, false, true, 0, 2)).unwrap();
    assert_eq!(tiny.num_batches(), 0);
    assert_eq!(tiny.epoch(0).count(), 0);
}

#[test]
fn unshuffled_order_is_sequential() {
    let loader = DataLoader::new(Arc::new(numbered(7)), config(3, false, false, 9, 0)).unwrap();
    assert_eq!(
        batch_indices(&loader, 0),
        vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]
    );
}

#[test]
fn same_batches_for_any_worker_count() {
    let data: Arc<dyn Dataset> = Arc::new(numbered(101));
    let order = |seed, workers, epoch| {
        let loader = DataLoader::new(data.clone(), config(8, true, false, seed, workers)).unwrap();
        batch_indices(&loader, epoch)
    };
    let reference = order(5, 0, 1);
    assert_eq!(reference.len(), 13);
    assert_eq!(order(5, 1, 1), reference);
    assert_eq!(order(5, 3, 1), reference);
    assert_eq!(order(5, 40, 1), reference, "more workers than batches");
    assert_ne!(order(6, 3, 1), reference, "another seed");
    assert_ne!(order(5, 3, 2), reference, "another epoch");
    // The order is Sampler::Random's permutation for (seed, epoch), cut into batches.
    let perm = Sampler::Random.indices(101, 5, 1).unwrap();
    assert_eq!(reference.concat(), perm);
}

#[test]
fn batch_transform_is_identical_across_worker_counts() {
    // Adds one draw of Rng::derive(seed, [epoch, batch]) to every input, and flips the
    // sign of the targets with another; both must follow the documented stream.
    let run = |workers| {
        let loader = DataLoader::new(Arc::new(numbered(30)), config(4, true, false, 11, workers))
            .unwrap()
            .with_batch_transform(|b: Batch, rng: &mut Rng| {
                let shift = rng.uniform();
                let sign = if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
                Ok(Batch {
                    inputs: b.inputs.add_scalar(shift)?,
                    targets: b.targets.to_dtype(DType::F64)?.mul_scalar(sign)?,
                    indices: b.indices,
                })
            });
        collect(&loader, 2)
    };
    let reference = run(0);
    for (k, b) in reference.iter().enumerate() {
        let mut rng = Rng::derive(11, &[2, k as u64]);
        let (shift, sign) = (rng.uniform(), if rng.uniform() < 0.5 { -1.0 } else { 1.0 });
        let want: Vec<f32> = b
            .indices
            .iter()
            .flat_map(|&i| [(i as f32 + shift as f32), (i as f32 + 0.5 + shift as f32)])
            .collect();
        assert_eq!(b.inputs.to_vec::<f32>().unwrap(), want, "batch {k}");
        let t: Vec<f64> = b.indices.iter().map(|&i| sign * i as f64).collect();
        assert_eq!(b.targets.to_vec::<f64>().unwrap(), t);
    }
    for workers in [1, 3] {
        let other = run(workers);
        assert_eq!(other.len(), reference.len());
        for (a, b) in reference.iter().zip(&other) {
            assert_eq!(a.indices, b.indices);
            assert_eq!(
                a.inputs.to_vec::<f32>().unwrap(),
                b.inputs.to_vec::<f32>().unwrap()
            );
            assert_eq!(
                a.targets.to_vec::<f64>().unwrap(),
                b.targets.to_vec::<f64>().unwrap()
            );
        }
    }
}

/// A data set that fails (error or panic) at one index and counts its `get` calls.
struct Faulty {
    inner: TensorDataset,
    bad: usize,
    panic: bool,
    calls: AtomicUsize,
    delay: Duration,
}

impl Faulty {
    fn new(n: usize, bad: usize, panic: bool) -> Self {
        Faulty {
            inner: numbered(n),
            bad,
            panic,
            calls: AtomicUsize::new(0),
            delay: Duration::ZERO,
        }
    }
}

impl Dataset for Faulty {
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn get(&self, index: usize) -> lamina_data::Result<Sample> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        if index == self.bad {
            if self.panic {
                panic!("boom at {index}");
            }
            return Err(Error::Invalid {
                op: "Faulty::get",
                msg: format!("bad sample {index}"),
            });
        }
        self.inner.get(index)
    }
}

fn expect_worker_error(panic: bool, workers: usize) {
    let start = Instant::now();
    // Index 13 sits in batch 3 of an unshuffled epoch with batch size 4.
    let loader = DataLoader::new(
        Arc::new(Faulty::new(40, 13, panic)),
        config(4, false, false, 0, workers),
    )
    .unwrap();
    let mut epoch = loader.epoch(0);
    for k in 0..3 {
        let b = epoch
            .next()
            .unwrap()
            .unwrap_or_else(|e| panic!("batch {k}: {e}"));
        assert_eq!(b.indices, (4 * k..4 * k + 4).collect::<Vec<_>>());
    }
    let err = epoch.next().unwrap().unwrap_err();
    match &err {
        Error::Worker {
            worker,
            batch,
            source,
        } => {
            assert_eq!(*batch, 3);
            assert_eq!(*worker, if workers == 0 { 0 } else { 3 % workers });
            if panic {
                assert!(
                    matches!(&**source, Error::Panic { msg } if msg.contains("boom at 13")),
                    "{err}"
                );
            } else {
                assert!(err.to_string().contains("bad sample 13"), "{err}");
            }
        }
        other => panic!("expected Error::Worker, got {other}"),
    }
    assert!(epoch.next().is_none(), "the epoch ends after an error");
    assert!(epoch.next().is_none());
    drop(epoch);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn failing_get_surfaces_as_worker_error_inline() {
    expect_worker_error(false, 0);
}

#[test]
fn failing_get_surfaces_as_worker_error_with_workers() {
    expect_worker_error(false, 2);
}

#[test]
fn panicking_get_surfaces_as_worker_error_inline() {
    expect_worker_error(true, 0);
}

#[test]
fn panicking_get_surfaces_as_worker_error_with_workers() {
    expect_worker_error(true, 2);
}

#[test]
fn panicking_batch_transform_is_an_error() {
    let loader = DataLoader::new(Arc::new(numbered(10)), config(5, false, false, 0, 2))
        .unwrap()
        .with_batch_transform(|b: Batch, _: &mut Rng| {
            if b.indices[0] == 5 {
                panic!("transform broke");
            }
            Ok(b)
        });
    let results: Vec<_> = loader.epoch(0).collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    assert!(results[1]
        .as_ref()
        .unwrap_err()
        .to_string()
        .contains("transform broke"));
}

#[test]
fn dropping_an_epoch_early_stops_and_joins_workers() {
    let mut faulty = Faulty::new(4000, usize::MAX, false);
    faulty.delay = Duration::from_micros(200);
    let data = Arc::new(faulty);
    let as_dyn: Arc<dyn Dataset> = data.clone();
    let loader = DataLoader::new(as_dyn, config(2, true, false, 0, 3)).unwrap();
    let baseline = Arc::strong_count(&data);
    let start = Instant::now();
    {
        let mut epoch = loader.epoch(0);
        assert!(
            Arc::strong_count(&data) > baseline,
            "workers hold the data set"
        );
        for _ in 0..3 {
            epoch.next().unwrap().unwrap();
        }
        // Let the workers fill their channels and block in `send`.
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = start.elapsed();
    // Every worker thread has ended: none still holds the data set, and no more reads.
    assert_eq!(Arc::strong_count(&data), baseline);
    let calls = data.calls.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(data.calls.load(Ordering::SeqCst), calls);
    // 3 batches consumed, at most (prefetch + 1) per worker built ahead, 2 gets each.
    assert!(
        calls <= 2 * (3 + 3 * 3),
        "{calls} gets: workers ran ahead unbounded"
    );
    assert!(elapsed < Duration::from_secs(2), "drop took {elapsed:?}");
}

#[test]
fn sampler_errors_surface_once_from_the_epoch() {
    let loader = DataLoader::new(Arc::new(numbered(5)), config(2, false, false, 0, 2))
        .unwrap()
        .with_sampler(Sampler::Weighted {
            weights: vec![1.0; 4],
            num_samples: 3,
            replacement: true,
        });
    let mut epoch = loader.epoch(0);
    let err = epoch.next().unwrap().unwrap_err().to_string();
    assert!(
        err.contains("4 entries") && err.contains("5 samples"),
        "{err}"
    );
    assert!(epoch.next().is_none());
}

#[test]
fn tensor_dataset_get_batch_matches_manual_slicing() {
    let (n, c, h) = (50, 3, 4);
    let x = Tensor::randn(1, [n, c, h], DType::F32, &dev()).unwrap();
    let y = Tensor::rand(2, [n, 2], DType::F64, &dev()).unwrap();
    let data = TensorDataset::new(x.clone(), y.clone()).unwrap();
    let xs = x.to_vec::<f32>().unwrap();
    let ys = y.to_vec::<f64>().unwrap();
    let idx = [49, 0, 7, 7, 23];
    let b = data.get_batch(&idx).unwrap();
    assert_eq!(b.inputs.dims(), &[5, c, h]);
    assert_eq!(b.targets.dims(), &[5, 2]);
    let row = c * h;
    let want_x: Vec<f32> = idx
        .iter()
        .flat_map(|&i| xs[i * row..(i + 1) * row].to_vec())
        .collect();
    let want_y: Vec<f64> = idx
        .iter()
        .flat_map(|&i| ys[i * 2..i * 2 + 2].to_vec())
        .collect();
    assert_eq!(b.inputs.to_vec::<f32>().unwrap(), want_x);
    assert_eq!(b.targets.to_vec::<f64>().unwrap(), want_y);
    assert_eq!(b.indices, idx);
    assert_eq!(data.inputs().dims(), &[n, c, h]);
    assert_eq!(data.targets().dims(), &[n, 2]);
}

#[test]
fn loader_over_a_subset_reports_subset_positions() {
    let parent: Arc<dyn Dataset> = Arc::new(numbered(10));
    let sub = Subset::new(parent, vec![9, 4, 2]).unwrap();
    let loader = DataLoader::new(Arc::new(sub), config(2, false, false, 0, 0)).unwrap();
    let batches = collect(&loader, 0);
    assert_eq!(batches[0].indices, vec![0, 1]);
    assert_eq!(batches[0].targets.to_vec::<i64>().unwrap(), vec![9, 4]);
    assert_eq!(batches[1].targets.to_vec::<i64>().unwrap(), vec![2]);
}

#[test]
fn weighted_sampler_with_replacement_follows_the_weights() {
    let weights = vec![1.0, 2.0, 0.0, 3.0, 4.0];
    let s = Sampler::Weighted {
        weights: weights.clone(),
        num_samples: 100_000,
        replacement: true,
    };
    let draws = s.indices(5, 7, 0).unwrap();
    assert_eq!(draws.len(), 100_000);
    let mut counts = [0usize; 5];
    for &i in &draws {
        counts[i] += 1;
    }
    assert_eq!(counts[2], 0, "zero weight is never drawn");
    for (i, &w) in weights.iter().enumerate() {
        let p = w / 10.0;
        // 5 binomial standard deviations of the frequency (at most 0.0078).
        let tol = 5.0 * (p * (1.0 - p) / 100_000.0).sqrt() + 1e-12;
        let f = counts[i] as f64 / 100_000.0;
        assert!((f - p).abs() <= tol, "index {i}: {f} vs {p}");
    }
    // A loader with this sampler yields num_samples indices.
    let loader = DataLoader::new(Arc::new(numbered(5)), config(64, false, false, 0, 0))
        .unwrap()
        .with_sampler(Sampler::Weighted {
            weights,
            num_samples: 100,
            replacement: true,
        });
    assert_eq!(loader.num_batches(), 2);
    assert_eq!(batch_indices(&loader, 0).concat().len(), 100);
}

#[test]
fn weighted_sampler_without_replacement() {
    let weights = vec![1.0, 0.0, 2.0, 7.0];
    let s = |num_samples| Sampler::Weighted {
        weights: weights.clone(),
        num_samples,
        replacement: false,
    };
    assert!(s(4).indices(4, 0, 0).is_err(), "only 3 positive weights");
    // The first draw is proportional to the weights: P = 0.1, 0.2, 0.7.
    let trials = 20_000;
    let mut first = HashMap::new();
    for epoch in 0..trials {
        let v = s(3).indices(4, 1, epoch).unwrap();
        let mut sorted = v.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 2, 3], "each positive index exactly once");
        *first.entry(v[0]).or_insert(0usize) += 1;
    }
    for (i, p) in [(0, 0.1), (2, 0.2), (3, 0.7)] {
        let f = first[&i] as f64 / trials as f64;
        let tol = 5.0 * (p * (1.0f64 - p) / trials as f64).sqrt();
        assert!((f - p).abs() <= tol, "index {i}: {f} vs {p}");
    }
    // Second draw given the first was 3: proportional to the rest, 1 : 2.
    let (mut two, mut total) = (0, 0);
    for epoch in 0..trials {
        let v = s(2).indices(4, 2, epoch).unwrap();
        if v[0] == 3 {
            total += 1;
            two += usize::from(v[1] == 2);
        }
    }
    let f = two as f64 / total as f64;
    let tol = 5.0 * (2.0f64 / 9.0 / total as f64).sqrt();
    assert!((f - 2.0 / 3.0).abs() <= tol, "{f}");
}

#[test]
fn weighted_sampler_rejects_bad_weights() {
    let bad = |weights: Vec<f64>, num_samples| {
        Sampler::Weighted {
            weights,
            num_samples,
            replacement: true,
        }
        .indices(2, 0, 0)
        .unwrap_err()
        .to_string()
    };
    assert!(bad(vec![1.0, -1.0], 3).contains("weights[1] = -1"));
    assert!(bad(vec![1.0, f64::NAN], 3).contains("weights[1]"));
    assert!(bad(vec![0.0, 0.0], 3).contains("sum"));
    assert!(bad(vec![1.0, 1.0], 0).contains("num_samples"));
}

#[test]
fn random_sampler_is_a_fresh_permutation_each_epoch() {
    let a = Sampler::Random.indices(50, 3, 0).unwrap();
    let b = Sampler::Random.indices(50, 3, 1).unwrap();
    assert_ne!(a, b);
    assert_eq!(a, Sampler::Random.indices(50, 3, 0).unwrap());
    for v in [a, b] {
        let mut s = v;
        s.sort();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
    }
    assert!(Sampler::Random.indices(0, 3, 0).unwrap().is_empty());
}

#[test]
fn stratified_sampler_keeps_class_proportions_in_every_batch() {
    // 60 / 30 / 10 of 100: every batch of 10 holds exactly 6 / 3 / 1.
    let labels: Vec<usize> = (0..100)
        .map(|i| {
            if i < 60 {
                0
            } else if i < 90 {
                1
            } else {
                2
            }
        })
        .collect();
    let s = Sampler::Stratified {
        labels: labels.clone(),
    };
    let order = s.indices(100, 4, 0).unwrap();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    for batch in order.chunks(10) {
        let mut c = [0; 3];
        for &i in batch {
            c[labels[i]] += 1;
        }
        assert_eq!(c, [6, 3, 1]);
    }
    assert_ne!(
        order,
        s.indices(100, 4, 1).unwrap(),
        "reshuffled each epoch"
    );

    // Uneven sizes (13 / 7 / 3 / 1, labels scattered): every prefix holds floor or ceil
    // of its share, so every batch of 5 is within 2 of 5 * n_c / n.
    let mut rng = Rng::new(9);
    let mut labels: Vec<usize> = [13, 7, 3, 1]
        .iter()
        .enumerate()
        .flat_map(|(c, &n)| std::iter::repeat_n(c * 10, n))
        .collect();
    rng.shuffle(&mut labels);
    let n = labels.len();
    let share = |c: usize| labels.iter().filter(|&&l| l == c).count() as f64 / n as f64;
    let order = Sampler::Stratified {
        labels: labels.clone(),
    }
    .indices(n, 1, 0)
    .unwrap();
    let mut counts: HashMap<usize, usize> = HashMap::new();
    for (m, &i) in order.iter().enumerate() {
        *counts.entry(labels[i]).or_default() += 1;
        for c in [0, 10, 20, 30] {
            let have = counts.get(&c).copied().unwrap_or(0) as f64;
            assert!(
                (have - (m + 1) as f64 * share(c)).abs() < 1.0,
                "prefix {m}, class {c}"
            );
        }
    }
    for batch in order.chunks(5) {
        for c in [0, 10, 20, 30] {
            let have = batch.iter().filter(|&&i| labels[i] == c).count() as f64;
            assert!((have - batch.len() as f64 * share(c)).abs() < 2.0);
        }
    }
    assert!(Sampler::Stratified { labels: vec![0, 1] }
        .indices(3, 0, 0)
        .is_err());
}

//! The training loop end to end on small synthetic problems: it learns, it stops early
//! and restores the best weights, it resumes bit for bit, its checkpoints survive stale
//! and damaged files, and its history CSV and plot come out as promised.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lamina_data::{DataLoader, LoaderConfig, Rng, TensorDataset};
use lamina_nn::{cross_entropy, Dropout, Linear, Module, Reduction, Relu, Sequential};
use lamina_optim::{Adam, AdamConfig, Optimizer, StepLR};
use lamina_tensor::{Device, Tensor};
use lamina_train::{
    Amp, Checkpoints, EarlyStopping, EpochRecord, Error, FitConfig, History, Monitor, Trainer,
    CSV_HEADER,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn dev() -> Device {
    lamina_backend_cpu::device()
}

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("lamina-train-it")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// `n` points in three Gaussian blobs (σ = 0.6) centred at (0, 0), (3, 0) and (0, 3):
/// inputs `[n, 2]`, class labels `[n]` (I64). Labels cycle 0, 1, 2.
fn blobs(n: usize, seed: u64) -> (Tensor, Tensor) {
    let centres = [(0.0, 0.0), (3.0, 0.0), (0.0, 3.0)];
    let mut rng = Rng::new(seed);
    let mut xs = Vec::with_capacity(2 * n);
    let mut ys = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % 3;
        xs.push((centres[c].0 + 0.6 * rng.normal()) as f32);
        xs.push((centres[c].1 + 0.6 * rng.normal()) as f32);
        ys.push(c as i64);
    }
    let dev = dev();
    (
        Tensor::from_vec(xs, [n, 2], &dev).expect("inputs"),
        Tensor::from_vec(ys, [n], &dev).expect("labels"),
    )
}

fn loader(x: Tensor, y: Tensor, batch_size: usize, shuffle: bool) -> DataLoader {
    let data = Arc::new(TensorDataset::new(x, y).expect("dataset"));
    let config = LoaderConfig {
        batch_size,
        shuffle,
        seed: Some(11),
        ..Default::default()
    };
    DataLoader::new(data, config).expect("loader")
}

fn mlp(seed: u64) -> Sequential {
    let dev = dev();
    Sequential::new()
        .add(Linear::builder(2, 16).seed(seed).build(&dev).expect("fc1"))
        .add(Relu)
        .add(
            Linear::builder(16, 3)
                .seed(seed + 1)
                .build(&dev)
                .expect("fc2"),
        )
}

/// `mlp` with dropout after the hidden layer; the dropout seed is fixed, as it is part of
/// the architecture a resume rebuilds.
fn dropout_mlp(seed: u64) -> Sequential {
    let dev = dev();
    Sequential::new()
        .add(Linear::builder(2, 16).seed(seed).build(&dev).expect("fc1"))
        .add(Relu)
        .add(Dropout::builder(0.3).seed(1234).build().expect("dropout"))
        .add(
            Linear::builder(16, 3)
                .seed(seed + 1)
                .build(&dev)
                .expect("fc2"),
        )
}

fn adam(lr: f64) -> Adam {
    Adam::new(AdamConfig {
        lr,
        ..Default::default()
    })
    .expect("adam")
}

fn ce(out: &Tensor, y: &Tensor) -> lamina_tensor::Result<Tensor> {
    cross_entropy(out, y, Reduction::Mean)
}

fn quiet(epochs: usize) -> FitConfig {
    FitConfig {
        epochs,
        verbose: false,
        progress: false,
        ..Default::default()
    }
}

/// Every parameter's bits, in visiting order.
fn bits(model: &impl Module) -> Vec<Vec<u32>> {
    model
        .parameters()
        .iter()
        .map(|p| {
            p.to_vec::<f32>()
                .expect("f32 parameter")
                .iter()
                .map(|v| v.to_bits())
                .collect()
        })
        .collect()
}

/// The history without wall times, which differ from run to run.
fn timeless(h: &History) -> Vec<EpochRecord> {
    h.epochs
        .iter()
        .map(|r| EpochRecord {
            seconds: 0.0,
            ..r.clone()
        })
        .collect()
}

#[test]
fn an_mlp_learns_separable_blobs() -> TestResult {
    let (x, y) = blobs(150, 1);
    let (vx, vy) = blobs(60, 2);
    let train = loader(x, y, 16, true);
    let val = loader(vx, vy, 32, false);
    let mut model = mlp(3);
    let mut opt = adam(0.05);
    let mut lines = Vec::new();
    let history = Trainer::new(quiet(20))
        .on_epoch(|r| lines.push(r.to_string()))
        .fit(&mut model, &mut opt, &train, Some(&val), ce)?;
    assert_eq!(history.len(), 20);
    assert_eq!(lines.len(), 20);
    assert!(lines[0].starts_with("epoch 1: loss "), "{}", lines[0]);
    let last = history.last().ok_or("no epochs")?;
    assert!(
        last.val_acc >= Some(0.95),
        "validation accuracy {:?} below 0.95",
        last.val_acc
    );
    assert!(last.train_acc >= Some(0.95), "{:?}", last.train_acc);
    assert!(last.train_loss < 0.25 * history.epochs[0].train_loss);
    assert!(last.val_loss < Some(0.3), "{:?}", last.val_loss);
    Ok(())
}

/// Mixed precision: bf16 autocast, and f16 autocast with dynamic loss scaling, train the
/// blobs MLP as f32 does (the parameters stay f32). Without unscaling, f16's steps would be
/// 65536 times too large; without skipping overflowed steps, the weights would turn NaN.
#[test]
fn amp_trains_as_f32_does() -> TestResult {
    let (x, y) = blobs(150, 1);
    let (vx, vy) = blobs(60, 2);
    let (train, val) = (loader(x, y, 16, true), loader(vx, vy, 32, false));
    let run = |amp: Option<Amp>| -> std::result::Result<(History, Sequential), Box<dyn std::error::Error>> {
        let mut model = mlp(3);
        let mut opt = adam(0.05);
        let config = FitConfig { amp, ..quiet(20) };
        let h = Trainer::new(config).fit(&mut model, &mut opt, &train, Some(&val), ce)?;
        Ok((h, model))
    };
    let (f32_run, _) = run(None)?;
    let f32_last = f32_run.last().ok_or("no epochs")?.clone();
    for amp in [Amp::Bf16, Amp::F16] {
        let (h, model) = run(Some(amp))?;
        let last = h.last().ok_or("no epochs")?;
        assert!(
            last.val_acc >= Some(0.95),
            "{amp:?}: validation accuracy {:?}",
            last.val_acc
        );
        assert!(
            last.train_loss < 0.25 * h.epochs[0].train_loss,
            "{amp:?}: {:?}",
            h.epochs
        );
        assert!(
            (last.train_loss - f32_last.train_loss).abs() < 0.1,
            "{amp:?}: final loss {} vs f32 {}",
            last.train_loss,
            f32_last.train_loss
        );
        assert_ne!(
            last.train_loss, f32_last.train_loss,
            "{amp:?} must not be f32 in disguise"
        );
        for p in model.parameters() {
            assert_eq!(
                p.dtype(),
                lamina_tensor::DType::F32,
                "master weights stay f32"
            );
        }
    }
    assert_eq!(Amp::parse("BF16"), Some(Amp::Bf16));
    assert_eq!(Amp::parse("f16"), Some(Amp::F16));
    assert_eq!(Amp::parse("fp8"), None);
    Ok(())
}

/// Trains with everything that carries state: Adam, a step schedule, early stopping
/// (patient enough not to stop) and a validation loader.
fn stateful_config(epochs: usize, dir: &Path) -> FitConfig {
    FitConfig {
        checkpoint_dir: Some(dir.to_owned()),
        early_stopping: Some(EarlyStopping {
            monitor: Monitor::ValLoss,
            patience: 10,
            min_delta: 0.0,
            restore_best_weights: false,
        }),
        ..quiet(epochs)
    }
}

#[test]
fn resume_is_bit_identical_to_an_uninterrupted_run() -> TestResult {
    let (x, y) = blobs(90, 5);
    let (vx, vy) = blobs(30, 6);
    let train = loader(x, y, 8, true);
    let val = loader(vx, vy, 16, false);
    let schedule = || StepLR::new(0.02, 1, 0.7);

    let straight_dir = scratch("straight");
    let mut a = mlp(7);
    let mut opt_a = adam(0.02);
    let straight = Trainer::new(stateful_config(4, &straight_dir))
        .with_schedule(schedule()?)
        .fit(&mut a, &mut opt_a, &train, Some(&val), ce)?;

    let split_dir = scratch("split");
    let mut b = mlp(7);
    let mut opt_b = adam(0.02);
    let first = Trainer::new(stateful_config(2, &split_dir))
        .with_schedule(schedule()?)
        .fit(&mut b, &mut opt_b, &train, Some(&val), ce)?;
    assert_eq!(first.len(), 2);

    // A new process: fresh model (other init) and optimizer, no schedule given.
    let mut c = mlp(99);
    let mut opt_c = adam(0.5);
    let resumed = Trainer::new(stateful_config(4, &split_dir)).resume(
        &split_dir,
        &mut c,
        &mut opt_c,
        &train,
        Some(&val),
        ce,
    )?;

    assert_eq!(bits(&c), bits(&a), "weights differ after resume");
    assert_eq!(timeless(&resumed), timeless(&straight));
    for (r, s) in resumed.epochs.iter().zip(&straight.epochs) {
        assert_eq!(r.train_loss.to_bits(), s.train_loss.to_bits());
        assert_eq!(r.val_loss.map(f64::to_bits), s.val_loss.map(f64::to_bits));
    }
    assert_eq!(opt_c.learning_rate(), opt_a.learning_rate());
    assert_eq!(
        Checkpoints::new(&split_dir).read_last()?,
        Checkpoints::new(&straight_dir)
            .read_last()?
            .clone_with_seconds(&resumed)
    );
    Ok(())
}

#[test]
fn resume_with_dropout_is_bit_identical() -> TestResult {
    // Dropout draws mask k from its k-th stream position: a resume that forgot the
    // position would replay masks 0, 1, ... and diverge from the straight run.
    let (x, y) = blobs(90, 12);
    let (vx, vy) = blobs(30, 13);
    let train = loader(x, y, 8, true);
    let val = loader(vx, vy, 16, false);

    let straight_dir = scratch("dropout_straight");
    let mut a = dropout_mlp(7);
    let mut opt_a = adam(0.02);
    let straight = Trainer::new(stateful_config(4, &straight_dir)).fit(
        &mut a,
        &mut opt_a,
        &train,
        Some(&val),
        ce,
    )?;

    let split_dir = scratch("dropout_split");
    let mut b = dropout_mlp(7);
    Trainer::new(stateful_config(2, &split_dir)).fit(
        &mut b,
        &mut adam(0.02),
        &train,
        Some(&val),
        ce,
    )?;
    let last = std::fs::read_to_string(split_dir.join("last.json"))?;
    assert!(last.contains("\"2.step\": 24"), "{last}"); // 2 epochs of 12 batches

    let mut c = dropout_mlp(99);
    let resumed = Trainer::new(stateful_config(4, &split_dir)).resume(
        &split_dir,
        &mut c,
        &mut adam(0.5),
        &train,
        Some(&val),
        ce,
    )?;

    assert_eq!(bits(&c), bits(&a), "weights differ after resume");
    assert_eq!(timeless(&resumed), timeless(&straight));
    for (r, s) in resumed.epochs.iter().zip(&straight.epochs) {
        assert_eq!(r.train_loss.to_bits(), s.train_loss.to_bits());
        assert_eq!(r.val_loss.map(f64::to_bits), s.val_loss.map(f64::to_bits));
    }
    assert_eq!(c.rng_state(), a.rng_state());
    assert_eq!(a.rng_state().get("2.step"), Some(&48));
    Ok(())
}

#[test]
fn resume_checks_the_random_streams_and_reads_older_checkpoints() -> TestResult {
    let (x, y) = blobs(30, 8);
    let train = loader(x, y, 10, true);
    let dir = scratch("rng_names");
    let config = FitConfig {
        checkpoint_dir: Some(dir.clone()),
        ..quiet(1)
    };
    Trainer::new(config.clone()).fit(&mut dropout_mlp(1), &mut adam(0.01), &train, None, ce)?;

    // A model without that dropout layer: the error names the file and the stream.
    let msg = Trainer::new(FitConfig {
        epochs: 2,
        ..config.clone()
    })
    .resume(&dir, &mut mlp(1), &mut adam(0.01), &train, None, ce)
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("last.json: not a valid checkpoint")
            && msg.contains("`2.step` matches no stream of the model"),
        "{msg}"
    );

    // A checkpoint written before stream positions were recorded still resumes (with
    // the model's own positions, as it did then).
    let path = dir.join("last.json");
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    json.as_object_mut()
        .ok_or("last.json is not an object")?
        .remove("rng_state")
        .ok_or("last.json has no rng_state")?;
    std::fs::write(&path, serde_json::to_string(&json)?)?;
    let mut model = dropout_mlp(1);
    let history = Trainer::new(FitConfig {
        epochs: 2,
        ..config
    })
    .resume(&dir, &mut model, &mut adam(0.01), &train, None, ce)?;
    assert_eq!(history.len(), 2);
    assert_eq!(model.rng_state().get("2.step"), Some(&3)); // only epoch 2's batches
    Ok(())
}

/// FNV-1a, 64-bit, as `last.json` records its parts.
fn fnv1a64(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[test]
fn checkpoints_store_optimizer_state_in_binary_and_read_the_older_json() -> TestResult {
    let (x, y) = blobs(30, 9);
    let train = loader(x, y, 10, true);
    let (bin_dir, json_dir) = (scratch("optim_bin"), scratch("optim_json"));
    let config = |dir: &Path, epochs| FitConfig {
        checkpoint_dir: Some(dir.to_path_buf()),
        ..quiet(epochs)
    };
    for dir in [&bin_dir, &json_dir] {
        Trainer::new(config(dir, 2)).fit(&mut mlp(1), &mut adam(0.01), &train, None, ce)?;
    }
    // The state is the safetensors file; rewrite one copy as an older version wrote it:
    // the state as JSON, named by last.json with its size and hash.
    let part = json_dir.join("last-e00002.optim.safetensors");
    let state = lamina_optim::OptimizerState::from_safetensors(&std::fs::read(&part)?)?;
    let json = state.to_json()?;
    assert!(
        std::fs::metadata(&part)?.len() * 2 < json.len() as u64,
        "binary is smaller"
    );
    std::fs::remove_file(&part)?;
    std::fs::write(json_dir.join("last-e00002.optim.json"), &json)?;
    let last = json_dir.join("last.json");
    let mut commit: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&last)?)?;
    commit["optimizer"] = serde_json::json!({
        "file": "last-e00002.optim.json",
        "bytes": json.len(),
        "fnv1a64": fnv1a64(json.as_bytes()),
    });
    std::fs::write(&last, serde_json::to_string(&commit)?)?;

    // Both resume to the same third epoch, bit for bit.
    let (mut a, mut b) = (mlp(5), mlp(6));
    let ha = Trainer::new(config(&bin_dir, 3)).resume(
        &bin_dir,
        &mut a,
        &mut adam(0.01),
        &train,
        None,
        ce,
    )?;
    let hb = Trainer::new(config(&json_dir, 3)).resume(
        &json_dir,
        &mut b,
        &mut adam(0.01),
        &train,
        None,
        ce,
    )?;
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(timeless(&ha), timeless(&hb));
    // The resumed run wrote its new state in binary again.
    assert!(json_dir.join("last-e00003.optim.safetensors").is_file());
    Ok(())
}

/// `TrainState` comparison helper: the straight run's state with the resumed run's wall
/// times, since those are the only fields allowed to differ.
trait WithSeconds {
    fn clone_with_seconds(&self, h: &History) -> Self;
}

impl WithSeconds for lamina_train::TrainState {
    fn clone_with_seconds(&self, h: &History) -> Self {
        let mut s = self.clone();
        for (r, o) in s.history.epochs.iter_mut().zip(&h.epochs) {
            r.seconds = o.seconds;
        }
        s
    }
}

#[test]
fn stale_and_damaged_checkpoint_files() -> TestResult {
    let (x, y) = blobs(30, 8);
    let train = loader(x, y, 10, true);
    let dir = scratch("stale");
    let config = FitConfig {
        checkpoint_dir: Some(dir.clone()),
        ..quiet(2)
    };
    let mut model = mlp(1);
    let mut opt = adam(0.01);
    Trainer::new(config.clone()).fit(&mut model, &mut opt, &train, None, ce)?;

    // The parts agree, and only the named parts are left.
    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    assert_eq!(
        names,
        [
            "best-e00001.safetensors",
            "best.json",
            "last-e00002.optim.safetensors",
            "last-e00002.safetensors",
            "last.json"
        ]
    );
    let ck = Checkpoints::new(&dir);
    assert_eq!(ck.read_last()?.epochs_done, 2);
    assert_eq!(ck.read_best()?.map(|b| b.0), Some(1));

    // A crash mid-write leaves temporaries and an uncommitted next-epoch part: neither
    // changes what resume reads.
    std::fs::write(dir.join(".last.json.tmp-4242-0.json"), b"{ half a file")?;
    std::fs::write(dir.join("last-e00003.safetensors"), b"garbage")?;
    let mut again = mlp(2);
    let mut opt2 = adam(0.01);
    let history = Trainer::new(FitConfig {
        epochs: 3,
        ..config.clone()
    })
    .resume(&dir, &mut again, &mut opt2, &train, None, ce)?;
    assert_eq!(history.len(), 3);
    assert_eq!(ck.read_last()?.epochs_done, 3);

    // A damaged part: the error names the part and says what is wrong.
    let part = dir.join("last-e00003.safetensors");
    let mut bytes = std::fs::read(&part)?;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&part, &bytes)?;
    let err = Trainer::new(config.clone())
        .resume(&dir, &mut mlp(2), &mut adam(0.01), &train, None, ce)
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err.inner(), Error::Checkpoint { .. }), "{msg}");
    assert!(msg.starts_with("resume: "), "{msg}");
    assert!(msg.contains("last-e00003.safetensors"), "{msg}");
    assert!(msg.contains("replaced or damaged"), "{msg}");

    // A corrupt or missing commit point.
    std::fs::write(dir.join("last.json"), b"not json")?;
    let msg = Trainer::new(config.clone())
        .resume(&dir, &mut mlp(2), &mut adam(0.01), &train, None, ce)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("last.json: not a valid checkpoint"), "{msg}");
    let empty = scratch("no_checkpoint");
    let msg = Trainer::new(config)
        .resume(&empty, &mut mlp(2), &mut adam(0.01), &train, None, ce)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("last.json") && msg.contains("does not exist"),
        "{msg}"
    );
    Ok(())
}

#[test]
fn resume_refuses_another_loader_or_optimizer() -> TestResult {
    let (x, y) = blobs(30, 8);
    let train = loader(x.clone(), y.clone(), 10, true);
    let dir = scratch("mismatch");
    let config = FitConfig {
        checkpoint_dir: Some(dir.clone()),
        ..quiet(1)
    };
    Trainer::new(config.clone()).fit(&mut mlp(1), &mut adam(0.01), &train, None, ce)?;
    let other = loader(x, y, 5, true);
    let msg = Trainer::new(config.clone())
        .resume(&dir, &mut mlp(1), &mut adam(0.01), &other, None, ce)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("last.json") && msg.contains("training loader"),
        "{msg}"
    );
    let mut sgd = lamina_optim::Sgd::new(Default::default())?;
    let msg = Trainer::new(config)
        .resume(&dir, &mut mlp(1), &mut sgd, &train, None, ce)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("written by a `Adam` optimizer"), "{msg}");
    Ok(())
}

#[test]
fn early_stopping_stops_and_restores_the_best_weights() -> TestResult {
    // Validation labels are the training labels shifted by one class, so the better the
    // model fits the training set, the worse its validation loss: the best epoch is the
    // first, and patience 2 stops after epoch 2.
    let (x, y) = blobs(60, 3);
    let shifted: Vec<i64> = y.to_vec::<i64>()?.iter().map(|c| (c + 1) % 3).collect();
    let vy = Tensor::from_vec(shifted, [60], &dev())?;
    let train = loader(x.clone(), y, 10, true);
    let val = loader(x, vy, 30, false);
    let config = FitConfig {
        early_stopping: Some(EarlyStopping {
            monitor: Monitor::ValLoss,
            patience: 2,
            min_delta: 0.0,
            restore_best_weights: true,
        }),
        ..quiet(50)
    };
    let mut model = mlp(4);
    let mut trainer = Trainer::new(config);
    assert!(trainer.best().is_none());
    let history = trainer.fit(&mut model, &mut adam(0.05), &train, Some(&val), ce)?;
    let losses: Vec<f64> = history.val_losses().into_iter().flatten().collect();
    let best = (0..losses.len())
        .min_by(|&a, &b| losses[a].total_cmp(&losses[b]))
        .ok_or("no epochs")?;
    assert_eq!(history.len(), best + 3, "val losses {losses:?}");
    let reported = trainer.best().ok_or("no best epoch")?;
    assert_eq!(reported.monitor, Monitor::ValLoss);
    assert_eq!(reported.epoch, Some(best));
    assert_eq!(
        reported.value.map(f64::to_bits),
        Some(losses[best].to_bits())
    );
    // The model now holds the best epoch's weights: its validation loss is that epoch's.
    model.eval();
    let again = lamina_autograd::no_grad(|| -> lamina_tensor::Result<f64> {
        let mut total = 0.0;
        for batch in val.epoch(0) {
            let batch = batch.map_err(|e| lamina_tensor::Error::Invalid {
                op: "test",
                msg: e.to_string(),
            })?;
            total += ce(&model.forward(&batch.inputs)?, &batch.targets)?.to_f64_vec()?[0]
                * batch.len() as f64;
        }
        Ok(total / 60.0)
    })?;
    assert_eq!(again.to_bits(), losses[best].to_bits());
    // `Trainer::evaluate` measures it the same way.
    let eval = trainer.evaluate(&mut model, &val, ce)?;
    assert_eq!(eval.loss.to_bits(), losses[best].to_bits());
    assert_eq!(eval.accuracy, history.epochs[best].val_acc);
    Ok(())
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some((be(&bytes[16..20]), be(&bytes[20..24])))
}

#[test]
fn history_csv_and_plot_are_written_each_epoch() -> TestResult {
    let (x, y) = blobs(60, 9);
    let (vx, vy) = blobs(30, 10);
    let train = loader(x, y, 16, true);
    let val = loader(vx, vy, 30, false);
    let dir = scratch("outputs");
    let config = FitConfig {
        history_csv: Some(dir.join("history.csv")),
        plot_png: Some(dir.join("history.png")),
        plot_size: (900, 360),
        ..quiet(6)
    };
    let history = Trainer::new(config).fit(&mut mlp(5), &mut adam(0.05), &train, Some(&val), ce)?;

    let text = std::fs::read_to_string(dir.join("history.csv"))?;
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(CSV_HEADER));
    assert_eq!(lines.count(), 6);
    assert_eq!(History::read_csv(dir.join("history.csv"))?, history);
    let row: Vec<&str> = text.lines().nth(1).ok_or("no row")?.split(',').collect();
    assert_eq!(row[0], "0");
    assert_eq!(row[1].parse::<f64>()?, history.epochs[0].train_loss);

    let png = std::fs::read(dir.join("history.png"))?;
    assert_eq!(png_size(&png), Some((900, 360)));
    Ok(())
}

#[test]
fn bad_configurations_are_clear_errors() {
    let (x, y) = blobs(12, 1);
    let train = loader(x, y, 4, false);
    let fit = |config: FitConfig| {
        Trainer::new(config)
            .fit(&mut mlp(1), &mut adam(0.01), &train, None, ce)
            .unwrap_err()
            .to_string()
    };
    let msg = fit(FitConfig {
        early_stopping: Some(EarlyStopping::default()),
        ..quiet(2)
    });
    assert_eq!(
        msg,
        "training configuration: `val_loss` is monitored but no validation loader was given"
    );
    let msg = fit(FitConfig {
        clip_grad_norm: Some(-1.0),
        ..quiet(2)
    });
    assert!(
        msg.contains("clip_grad_norm must be finite and > 0"),
        "{msg}"
    );
    let msg = Trainer::new(quiet(1))
        .fit(&mut mlp(1), &mut adam(0.01), &train, None, |out, _| {
            out.sum([1isize], false)
        })
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("the loss closure must return one element"),
        "{msg}"
    );
}

#[test]
fn a_diverging_run_is_reported_with_its_epoch_and_batch() {
    let (x, y) = blobs(12, 1);
    let train = loader(x, y, 4, false);
    let mut trainer = Trainer::new(quiet(3));
    let err = trainer
        .fit(&mut mlp(1), &mut adam(0.01), &train, None, |out, y| {
            ce(out, y)?.mul_scalar(f64::NAN)
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NonFinite {
                epoch: 0,
                batch: 0,
                phase: lamina_train::Phase::Training,
                at: lamina_train::NonFiniteAt::Loss { .. },
            }
        ),
        "{err}"
    );
    assert!(trainer.history().is_empty());
}

#[test]
fn gradient_clipping_keeps_steps_small() -> TestResult {
    // With the gradient norm clipped to 1e-6 and plain SGD at lr 1, one epoch of 3
    // steps moves the weights by at most 3e-6 in norm.
    let (x, y) = blobs(12, 1);
    let train = loader(x, y, 4, false);
    let mut model = mlp(2);
    let before: Vec<f32> = model
        .parameters()
        .iter()
        .flat_map(|p| p.to_vec::<f32>().unwrap_or_default())
        .collect();
    let mut sgd = lamina_optim::Sgd::new(lamina_optim::SgdConfig {
        lr: 1.0,
        ..Default::default()
    })?;
    let config = FitConfig {
        clip_grad_norm: Some(1e-6),
        ..quiet(1)
    };
    Trainer::new(config).fit(&mut model, &mut sgd, &train, None, ce)?;
    let after: Vec<f32> = model
        .parameters()
        .iter()
        .flat_map(|p| p.to_vec::<f32>().unwrap_or_default())
        .collect();
    let moved: f64 = before
        .iter()
        .zip(&after)
        .map(|(a, b)| f64::from(a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!(moved > 0.0 && moved <= 3.1e-6, "moved {moved}");
    Ok(())
}

#[test]
fn resume_refuses_a_last_json_whose_epochs_disagree_with_its_history() -> TestResult {
    let (x, y) = blobs(30, 8);
    let train = loader(x, y, 10, true);
    let dir = scratch("epochs_done");
    let config = FitConfig {
        checkpoint_dir: Some(dir.clone()),
        ..quiet(2)
    };
    Trainer::new(config.clone()).fit(&mut mlp(1), &mut adam(0.01), &train, None, ce)?;
    let path = dir.join("last.json");
    let good = std::fs::read_to_string(&path)?;
    for epochs_done in [5u64, 1] {
        let mut last: serde_json::Value = serde_json::from_str(&good)?;
        last["state"]["epochs_done"] = epochs_done.into();
        std::fs::write(&path, serde_json::to_string_pretty(&last)?)?;
        let err = Trainer::new(FitConfig {
            epochs: 6,
            ..config.clone()
        })
        .resume(&dir, &mut mlp(2), &mut adam(0.01), &train, None, ce)
        .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err.inner(), Error::Checkpoint { .. }), "{msg}");
        assert!(msg.starts_with("resume: "), "{msg}");
        assert!(
            msg.contains(&path.display().to_string())
                && msg.contains(&format!("epochs_done is {epochs_done}"))
                && msg.contains("history has 2 epochs"),
            "{msg}"
        );
        let msg = Checkpoints::new(&dir).read_last().unwrap_err().to_string();
        assert!(msg.contains("epochs_done"), "{msg}");
    }
    // A history whose records are out of order is refused the same way.
    let mut last: serde_json::Value = serde_json::from_str(&good)?;
    last["state"]["history"]["epochs"][1]["epoch"] = 7.into();
    std::fs::write(&path, serde_json::to_string_pretty(&last)?)?;
    let msg = Checkpoints::new(&dir).read_last().unwrap_err().to_string();
    assert!(
        msg.contains("last.json") && msg.contains("record 1 is for epoch 7"),
        "{msg}"
    );
    Ok(())
}

/// The PID of a process that has exited (a child, spawned and waited for).
#[cfg(unix)]
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .arg("--list")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn a child");
    let pid = child.id();
    child.wait().expect("wait for the child");
    pid
}

#[cfg(unix)]
#[test]
fn a_new_run_removes_temporaries_of_dead_writers_only() -> TestResult {
    let (x, y) = blobs(30, 8);
    let train = loader(x, y, 10, true);
    let dir = scratch("stale_temps");
    let (dead, me) = (dead_pid(), std::process::id());
    // What a crashed writer leaves: checkpoint JSON (the extension kept) and a weight
    // file (nn's writer adds none); then a live writer's file and files that only look
    // like temporaries.
    let stale = [
        format!(".last.json.tmp-{dead}-0.json"),
        format!(".last-e00001.safetensors.tmp-{dead}-3"),
    ];
    let kept = [
        format!(".history.csv.tmp-{me}-9.csv"),
        ".notes.tmp-abc-1".to_string(),
        format!(".tmp-{dead}-1"),
        "notes.txt".to_string(),
    ];
    for name in stale.iter().chain(&kept) {
        std::fs::write(dir.join(name), b"left behind")?;
    }
    let config = FitConfig {
        checkpoint_dir: Some(dir.clone()),
        ..quiet(1)
    };
    Trainer::new(config).fit(&mut mlp(1), &mut adam(0.01), &train, None, ce)?;
    for name in &stale {
        assert!(!dir.join(name).exists(), "{name} was left behind");
    }
    for name in &kept {
        assert!(dir.join(name).exists(), "{name} was removed");
    }
    Ok(())
}

//! Model compression on MNIST, the `mnist_compress` example and its CI test: the
//! `mnist_cnn` network as a dense teacher, pruned by global magnitude to 50, 80 and 90 %
//! sparsity with fine-tuning between the steps (`lamina::nn::prune` and
//! `lamina::optim::Masked`), and distilled into a small MLP student
//! (`Trainer::fit_distill` with `distillation_loss`) against the same student trained
//! alone, per seed. Every model is scored on the test set for accuracy, the size of its
//! safetensors file and inference throughput.
//!
//! Pruned models are saved twice: dense (the zeros stored as f32) and in a sparse form
//! (each pruned weight as its nonzero values, f32, and their flat indices, u32, plus its
//! shape; [`densify`] reads it back). A structured-pruned copy of the first distilled
//! student is shrunk to a genuinely smaller MLP ([`lamina::nn::prune::shrink_mlp`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use lamina::data::metrics::{argmax_rows, labels_of};
use lamina::data::{DataLoader, LoaderConfig, Mnist, TensorDataset};
use lamina::nn::prune::{shrink_mlp, sparsity, Amount, Norm, Pruner};
use lamina::nn::weights::{load_tensors, save_tensors};
use lamina::nn::{cross_entropy, distillation_loss, Activation, Flatten, Linear, Module};
use lamina::nn::{Reduction, Relu, Sequential};
use lamina::optim::{Adam, AdamConfig, CosineAnnealingLR, Masked, Optimizer};
use lamina::prelude::*;
use lamina::quant::{Calibrator, Observer, QuantizedModel};
use lamina::train::{predict, FitConfig, Trainer};

use crate::mnist::cnn;
use crate::realdata::Result;

/// The weights the CNN's global pruning ranks together: both convolutions and both
/// linear layers (biases and BatchNorm are left dense, as usual).
pub const PRUNED: [&str; 4] = ["0.weight", "4.weight", "10.weight", "13.weight"];

/// The settings of a compression run; [`Default`] is the example's.
#[derive(Clone, Debug)]
pub struct CompressConfig {
    /// The folder holding the four MNIST IDX files.
    pub data_dir: PathBuf,
    /// Train on the first `limit` training images only.
    pub limit: Option<usize>,
    /// Test on the first `test_limit` test images only.
    pub test_limit: Option<usize>,
    /// Epochs of the dense teacher (ignored with `teacher_weights`).
    pub teacher_epochs: usize,
    /// Load the teacher from this safetensors file instead of training it.
    pub teacher_weights: Option<PathBuf>,
    /// The sparsity steps, each a fraction of the pruned weights, increasing.
    pub sparsities: Vec<f64>,
    /// Fine-tuning epochs after each pruning step.
    pub finetune_epochs: usize,
    /// Adam's learning rate while fine-tuning.
    pub finetune_lr: f64,
    /// The student's hidden width (`784-hidden-10`).
    pub student_hidden: usize,
    /// Epochs of every student, distilled or alone.
    pub student_epochs: usize,
    /// The student seeds.
    pub seeds: Vec<u64>,
    /// Distillation temperature `T` and weight `alpha` of the soft term.
    pub temperature: f64,
    pub alpha: f64,
    /// Samples per training step.
    pub batch_size: usize,
    /// Weight files go here.
    pub out_dir: PathBuf,
    /// Throughput is the fastest of at least three passes over the test set and this
    /// many seconds of them.
    pub timing_seconds: f64,
    /// Print a line per epoch.
    pub verbose: bool,
}

impl Default for CompressConfig {
    fn default() -> Self {
        CompressConfig {
            data_dir: crate::realdata::datasets_dir().join("mnist"),
            limit: None,
            test_limit: None,
            teacher_epochs: 3,
            teacher_weights: None,
            sparsities: vec![0.5, 0.8, 0.9],
            finetune_epochs: 2,
            finetune_lr: 2e-4,
            student_hidden: 64,
            student_epochs: 5,
            seeds: vec![0, 1, 2],
            temperature: 4.0,
            alpha: 0.9,
            batch_size: 64,
            out_dir: PathBuf::from("target/mnist_compress"),
            timing_seconds: 1.0,
            verbose: true,
        }
    }
}

/// One row of the table.
#[derive(Clone, Debug)]
pub struct Row {
    pub model: String,
    /// Parameters (nonzero ones for pruned models).
    pub params: usize,
    /// The dense safetensors file, bytes.
    pub dense_bytes: u64,
    /// The sparse, shrunk or int8 form's file, when the model has one.
    pub compact_bytes: Option<u64>,
    pub accuracy: f64,
    /// Test images per second at batch 256.
    pub images_per_s: f64,
}

/// What a run measured: the table, and the student accuracies per seed.
#[derive(Clone, Debug)]
pub struct CompressReport {
    pub rows: Vec<Row>,
    /// The dense teacher's test accuracy.
    pub dense_accuracy: f64,
    /// `(sparsity, accuracy)` after each pruning step's fine-tuning.
    pub pruned: Vec<(f64, f64)>,
    /// `(seed, alone, distilled)` test accuracies of the students.
    pub students: Vec<(u64, f64, f64)>,
}

/// The student `flatten → linear(784, hidden) → ReLU → linear(hidden, 10)`, seeded.
pub fn student(hidden: usize, seed: u64, dev: &Device) -> Result<Sequential> {
    Ok(Sequential::new()
        .add(Flatten::default())
        .add(
            Linear::builder(Mnist::PIXELS, hidden)
                .seed(seed)
                .build(dev)?,
        )
        .add(Relu)
        .add(
            Linear::builder(hidden, Mnist::CLASSES)
                .seed(seed.wrapping_add(1000))
                .build(dev)?,
        ))
}

/// Runs the whole comparison.
pub fn run_compress(cfg: &CompressConfig, dev: &Device) -> Result<CompressReport> {
    std::fs::create_dir_all(&cfg.out_dir)?;
    let mnist = match (cfg.limit, cfg.test_limit) {
        (None, None) => Mnist::load(&cfg.data_dir, dev)?,
        (a, b) => Mnist::load_limit(
            &cfg.data_dir,
            a.unwrap_or(usize::MAX),
            b.unwrap_or(usize::MAX),
            dev,
        )?,
    };
    let images = |t: &Tensor| t.reshape([t.dims()[0], 1, 28, 28]);
    let train = DataLoader::new(
        Arc::new(TensorDataset::new(
            images(&mnist.train_images)?,
            mnist.train_labels.clone(),
        )?),
        LoaderConfig {
            batch_size: cfg.batch_size,
            shuffle: true,
            seed: Some(0),
            ..Default::default()
        },
    )?;
    let test_x = images(&mnist.test_images)?;
    let truth = labels_of(&mnist.test_labels)?;
    let score = |m: &mut dyn Module| -> Result<(f64, f64)> {
        measure(m, &test_x, &truth, cfg.timing_seconds)
    };
    let fit_config = |epochs| FitConfig {
        epochs,
        verbose: cfg.verbose,
        progress: false,
        ..Default::default()
    };
    let ce = |out: &Tensor, y: &Tensor| cross_entropy(out, y, Reduction::Mean);
    let mut rows = Vec::new();

    // (a) The dense teacher.
    let mut teacher = cnn(0, dev)?;
    match &cfg.teacher_weights {
        Some(path) => teacher.load_safetensors(path)?,
        None => {
            let mut opt = Adam::new(AdamConfig::default())?;
            Trainer::new(fit_config(cfg.teacher_epochs))
                .with_schedule(CosineAnnealingLR::new(1e-3, cfg.teacher_epochs, 1e-5)?)
                .fit(&mut teacher, &mut opt, &train, None, ce)?;
        }
    }
    let dense_path = cfg.out_dir.join("cnn_dense.safetensors");
    teacher.save_safetensors(&dense_path)?;
    let (dense_accuracy, speed) = score(&mut teacher)?;
    rows.push(Row {
        model: "CNN (dense teacher)".into(),
        params: teacher.num_parameters(),
        dense_bytes: file_size(&dense_path)?,
        compact_bytes: None,
        accuracy: dense_accuracy,
        images_per_s: speed,
    });

    // (b) Iterative global magnitude pruning with fine-tuning.
    let mut pruned = cnn(0, dev)?;
    pruned.load_safetensors(&dense_path)?;
    let mut pruner = Pruner::new();
    let total = sparsity(&pruned, &PRUNED)?.total();
    let mut steps = Vec::new();
    for &target in &cfg.sparsities {
        let already = sparsity(&pruned, &PRUNED)?.zeros();
        let want = (target * total as f64).round() as usize;
        pruner.global_unstructured(
            &mut pruned,
            &PRUNED,
            Amount::Count(want.saturating_sub(already)),
        )?;
        let (before, _) = score(&mut pruned)?;
        let mut adam = Adam::new(AdamConfig {
            lr: cfg.finetune_lr,
            ..Default::default()
        })?;
        let mut opt = Masked::new(&mut adam, pruner.masks_by_id(&pruned)?);
        Trainer::new(fit_config(cfg.finetune_epochs)).fit(
            &mut pruned,
            &mut opt as &mut dyn Optimizer,
            &train,
            None,
            ce,
        )?;
        let s = sparsity(&pruned, &PRUNED)?;
        let (accuracy, speed) = score(&mut pruned)?;
        if cfg.verbose {
            eprintln!(
                "pruned to {:.1} % of the conv and linear weights: test accuracy {:.4} before \
                 fine-tuning, {accuracy:.4} after",
                100.0 * s.fraction(),
                before
            );
        }
        let pct = (100.0 * target).round();
        let dense = cfg.out_dir.join(format!("cnn_pruned{pct}.safetensors"));
        let sparse = cfg
            .out_dir
            .join(format!("cnn_pruned{pct}_sparse.safetensors"));
        pruned.save_safetensors(&dense)?;
        save_sparse(&pruned, &PRUNED, &sparse)?;
        rows.push(Row {
            model: format!("CNN pruned {pct} % (global, fine-tuned)"),
            params: pruned.num_parameters() - s.zeros(),
            dense_bytes: file_size(&dense)?,
            compact_bytes: Some(file_size(&sparse)?),
            accuracy,
            images_per_s: speed,
        });
        steps.push((s.fraction(), accuracy));
    }

    // (c) Students: alone and distilled, per seed.
    let mut students = Vec::new();
    let mut first_distilled = None;
    for &seed in &cfg.seeds {
        let name = format!("MLP 784-{}-10", cfg.student_hidden);
        let adam = || {
            Adam::new(AdamConfig {
                lr: 1e-3,
                ..Default::default()
            })
        };
        let mut alone = student(cfg.student_hidden, seed, dev)?;
        Trainer::new(fit_config(cfg.student_epochs)).fit(
            &mut alone,
            &mut adam()?,
            &train,
            None,
            ce,
        )?;
        let mut taught = student(cfg.student_hidden, seed, dev)?;
        let (t, a) = (cfg.temperature, cfg.alpha);
        Trainer::new(fit_config(cfg.student_epochs)).fit_distill(
            &mut taught,
            &mut teacher,
            &mut adam()?,
            &train,
            None,
            |s, te, y| distillation_loss(s, te, y, t, a),
        )?;
        let mut accs = [0.0; 2];
        for (i, (label, m)) in [("alone", &mut alone), ("distilled", &mut taught)]
            .into_iter()
            .enumerate()
        {
            let path = cfg
                .out_dir
                .join(format!("student_{label}_seed{seed}.safetensors"));
            m.save_safetensors(&path)?;
            let (accuracy, speed) = score(m)?;
            accs[i] = accuracy;
            rows.push(Row {
                model: format!("{name} {label}, seed {seed}"),
                params: m.num_parameters(),
                dense_bytes: file_size(&path)?,
                compact_bytes: None,
                accuracy,
                images_per_s: speed,
            });
        }
        students.push((seed, accs[0], accs[1]));
        if first_distilled.is_none() {
            first_distilled = Some((seed, taught));
        }
    }

    // A distilled student with half its hidden neurons pruned by L2 norm, fine-tuned,
    // then shrunk to a smaller MLP that computes the same function.
    if let Some((seed, mut m)) = first_distilled {
        let mut pruner = Pruner::new();
        pruner.ln_structured(&mut m, "1.weight", 0.5, Norm::L2)?;
        let mut adam = Adam::new(AdamConfig {
            lr: cfg.finetune_lr,
            ..Default::default()
        })?;
        let mut opt = Masked::new(&mut adam, pruner.masks_by_id(&m)?);
        let (t, a) = (cfg.temperature, cfg.alpha);
        Trainer::new(fit_config(cfg.finetune_epochs)).fit_distill(
            &mut m,
            &mut teacher,
            &mut opt as &mut dyn Optimizer,
            &train,
            None,
            |s, te, y| distillation_loss(s, te, y, t, a),
        )?;
        let mut small = Sequential::new().add(Flatten::default()).add(shrink_mlp(
            &m,
            &["1", "3"],
            Activation::Relu,
        )?);
        let dense = cfg.out_dir.join("student_pruned_dense.safetensors");
        let shrunk = cfg.out_dir.join("student_shrunk.safetensors");
        m.save_safetensors(&dense)?;
        small.save_safetensors(&shrunk)?;
        let hidden = small.named_parameters()[0].1.dims()[0];
        let (accuracy, speed) = score(&mut small)?;
        rows.push(Row {
            model: format!(
                "MLP distilled, seed {seed}, 50 % neurons pruned -> 784-{hidden}-10 shrunk"
            ),
            params: small.num_parameters(),
            dense_bytes: file_size(&dense)?,
            compact_bytes: Some(file_size(&shrunk)?),
            accuracy,
            images_per_s: speed,
        });
    }

    // (d) int8: the dense teacher and the most pruned CNN, quantised statically (min-max
    // observers, calibrated on the first training images), scored as read back from file.
    let n_cal = mnist.train_images.dims()[0].min(2000);
    let calibration = images(&mnist.train_images.narrow(0, 0, n_cal)?)?;
    let pct = cfg.sparsities.last().map_or(0.0, |s| (100.0 * s).round());
    for (name, file, model) in [
        (
            "CNN int8 (static, min-max)".to_string(),
            "cnn_int8.safetensors",
            &teacher,
        ),
        (
            format!("CNN pruned {pct} % int8"),
            "cnn_pruned_int8.safetensors",
            &pruned,
        ),
    ] {
        let mut cal = Calibrator::new(model, Observer::MinMax)?;
        for start in (0..n_cal).step_by(500) {
            cal.observe(&calibration.narrow(0, start, 500.min(n_cal - start))?)?;
        }
        let path = cfg.out_dir.join(file);
        cal.convert()?.save_safetensors(&path)?;
        let mut q = QuantizedModel::load_safetensors(&path)?;
        let (accuracy, speed) = score(&mut q)?;
        rows.push(Row {
            model: name,
            params: nonzero(model)?,
            dense_bytes: rows[0].dense_bytes,
            compact_bytes: Some(file_size(&path)?),
            accuracy,
            images_per_s: speed,
        });
    }

    Ok(CompressReport {
        rows,
        dense_accuracy,
        pruned: steps,
        students,
    })
}

/// Test accuracy and inference throughput (images/s) of `model` on `x` at batch 256:
/// the fastest of at least three passes and `min_seconds`, so the first pass's allocations
/// and page faults, and other work on a shared machine, count as little as they can.
fn measure(
    model: &mut dyn Module,
    x: &Tensor,
    truth: &[usize],
    min_seconds: f64,
) -> Result<(f64, f64)> {
    let n = x.dims()[0];
    let started = Instant::now();
    let mut logits = predict(model, x, 256)?;
    let mut seconds = started.elapsed().as_secs_f64();
    let mut passes = 1;
    while passes < 3 || started.elapsed().as_secs_f64() < min_seconds {
        let pass = Instant::now();
        logits = predict(model, x, 256)?;
        seconds = seconds.min(pass.elapsed().as_secs_f64());
        passes += 1;
    }
    let predicted = argmax_rows(&logits)?;
    let correct = predicted.iter().zip(truth).filter(|(p, t)| p == t).count();
    Ok((correct as f64 / n as f64, n as f64 / seconds))
}

/// The parameters' nonzero entries.
fn nonzero(model: &Sequential) -> Result<usize> {
    let mut n = 0;
    for (_, t) in model.named_parameters() {
        n += t.to_f64_vec()?.iter().filter(|v| **v != 0.0).count();
    }
    Ok(n)
}

fn file_size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)?.len())
}

/// Saves `model`'s state dict with each of `names` in sparse form: `{name}.values`
/// (its nonzero entries), `{name}.indices` (their flat indices, u32) and
/// `{name}.shape` (u32); everything else dense.
pub fn save_sparse<M: Module + ?Sized>(model: &M, names: &[&str], path: &Path) -> Result<()> {
    let dev = Device::cpu();
    let mut out = Vec::new();
    for (name, t) in model.state_dict() {
        if !names.contains(&name.as_str()) {
            out.push((name, t));
            continue;
        }
        let v = t.to_vec::<f32>()?;
        let idx: Vec<u32> = (0..v.len() as u32)
            .filter(|&i| v[i as usize] != 0.0)
            .collect();
        let values: Vec<f32> = idx.iter().map(|&i| v[i as usize]).collect();
        let shape: Vec<u32> = t.dims().iter().map(|&d| d as u32).collect();
        let (k, r) = (idx.len(), shape.len());
        out.push((
            format!("{name}.values"),
            Tensor::from_vec(values, [k], &dev)?,
        ));
        out.push((format!("{name}.indices"), Tensor::from_vec(idx, [k], &dev)?));
        out.push((format!("{name}.shape"), Tensor::from_vec(shape, [r], &dev)?));
    }
    save_tensors(&out, path)?;
    Ok(())
}

/// Reads a file written by [`save_sparse`] back into dense `(name, tensor)` pairs.
pub fn densify(path: &Path, dev: &Device) -> Result<Vec<(String, Tensor)>> {
    let tensors = load_tensors(path, dev)?;
    let get = |n: &str| tensors.iter().find(|(m, _)| m == n).map(|(_, t)| t);
    let mut out = Vec::new();
    for (name, t) in &tensors {
        if let Some(base) = name.strip_suffix(".values") {
            let missing = |part: &str| {
                lamina::Error::from(lamina::tensor::Error::Invalid {
                    op: "densify",
                    msg: format!("{}: `{base}` has no `{part}`", path.display()),
                })
            };
            let idx = get(&format!("{base}.indices"))
                .ok_or_else(|| missing("indices"))?
                .to_vec::<u32>()?;
            let shape: Vec<usize> = get(&format!("{base}.shape"))
                .ok_or_else(|| missing("shape"))?
                .to_vec::<u32>()?
                .into_iter()
                .map(|d| d as usize)
                .collect();
            let mut dense = vec![0f32; shape.iter().product()];
            for (i, v) in idx.into_iter().zip(t.to_vec::<f32>()?) {
                dense[i as usize] = v;
            }
            out.push((base.to_string(), Tensor::from_vec(dense, shape, dev)?));
        } else if !name.ends_with(".indices") && !name.ends_with(".shape") {
            out.push((name.clone(), t.clone()));
        }
    }
    Ok(out)
}

/// The table, one line per row.
pub fn table(rows: &[Row]) -> String {
    let mb = |b: u64| format!("{:.3} MB", b as f64 / 1e6);
    let mut s = format!(
        "{:<62} {:>9} {:>11} {:>22} {:>9} {:>9}\n",
        "model", "params", "file f32", "sparse/shrunk/int8 file", "test acc", "images/s"
    );
    for r in rows {
        s += &format!(
            "{:<62} {:>9} {:>11} {:>22} {:>8.2}% {:>9.0}\n",
            r.model,
            r.params,
            mb(r.dense_bytes),
            r.compact_bytes.map_or("dense only".into(), mb),
            100.0 * r.accuracy,
            r.images_per_s
        );
    }
    s
}

//! MNIST, end to end: a 784-256-128-10 MLP with ReLU learns the 60,000 training digits
//! and is scored on the 10,000 test digits.
//!
//! 5,000 training images (stratified, seeded) are held out for validation; the rest are
//! shuffled into batches of 64 by a `DataLoader` whose worker threads prepare batches
//! while the model trains. `Trainer` runs Adam with a cosine learning-rate decay, stops
//! when the validation accuracy has not improved for 5 epochs, and puts the best epoch's
//! weights back. Every epoch writes checkpoints (`last`, `best`), `history.csv` and the
//! loss/accuracy curves into the checkpoint directory; `--resume` (with the same flags)
//! continues an interrupted run from there, bit for bit. At the end the best weights are scored on the test set: accuracy,
//! per-class precision/recall/F1 and the confusion matrix.
//!
//! `cargo run --release -p lamina-examples --bin mnist_mlp -- [--epochs 20] [--lr 0.001]
//! [--batch-size 64] [--seed 0] [--workers 1] [--limit N] [--test-limit N]
//! [--patience 5] [--checkpoint-dir target/mnist_mlp] [--plot PATH] [--resume]
//! [--data DIR] [--quiet]`

use std::path::PathBuf;
use std::process::ExitCode;

use lamina::prelude::*;
use lamina::train::Checkpoints;
use lamina_examples::mnist::{train_mnist, MnistConfig, LAYERS};
use lamina_examples::realdata::{parse_flag, Result};

const USAGE: &str = "usage: mnist_mlp [--epochs N] [--lr X] [--batch-size N] [--seed S] \
[--workers N] [--limit N] [--test-limit N] [--patience N] [--checkpoint-dir DIR] \
[--plot PATH] [--resume] [--data DIR] [--quiet]";

fn parse() -> std::result::Result<MnistConfig, String> {
    let mut c = MnistConfig::default();
    let mut dir = PathBuf::from("target/mnist_mlp");
    let mut plot = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let f = flag.as_str();
        match f {
            "--epochs" => c.epochs = parse_flag(f, it.next())?,
            "--lr" => c.lr = parse_flag(f, it.next())?,
            "--batch-size" => c.batch_size = parse_flag(f, it.next())?,
            "--seed" => c.seed = parse_flag(f, it.next())?,
            "--workers" => c.workers = parse_flag(f, it.next())?,
            "--limit" => c.limit = Some(parse_flag(f, it.next())?),
            "--test-limit" => c.test_limit = Some(parse_flag(f, it.next())?),
            "--patience" => c.patience = parse_flag(f, it.next())?,
            "--checkpoint-dir" => dir = parse_flag(f, it.next())?,
            "--plot" => plot = Some(parse_flag::<PathBuf>(f, it.next())?),
            "--data" => c.data_dir = parse_flag(f, it.next())?,
            "--resume" => c.resume = true,
            "--quiet" => c.verbose = false,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if c.epochs == 0 || c.batch_size == 0 || !(c.lr > 0.0 && c.lr.is_finite()) {
        return Err("--epochs and --batch-size must be positive, --lr a positive number".into());
    }
    c.plot = Some(plot.unwrap_or_else(|| dir.join("mnist_mlp_curves.png")));
    c.checkpoint_dir = Some(dir);
    Ok(c)
}

fn run(cfg: &MnistConfig) -> Result<()> {
    let dev = Device::cpu();
    let dir = cfg.checkpoint_dir.as_deref().unwrap_or(".".as_ref());
    println!(
        "MNIST MLP {}, Adam lr {} (cosine decay), batch {}, up to {} epochs, seed {}",
        LAYERS.map(|n| n.to_string()).join("-"),
        cfg.lr,
        cfg.batch_size,
        cfg.epochs,
        cfg.seed
    );
    if cfg.resume && Checkpoints::new(dir).has_last() {
        println!("Resuming the run checkpointed in {}", dir.display());
    }
    let r = train_mnist(cfg, &dev)?;
    let epochs = r.history.len();
    let best = &r.history.epochs[r.best_epoch];
    println!(
        "Data: {} train, {} validation, {} test images; best epoch {} (val_acc {:.4})",
        r.train,
        r.val,
        r.test,
        r.best_epoch + 1,
        best.val_acc.unwrap_or(f64::NAN)
    );
    println!("\nTest set, per class:\nclass  precision  recall      f1  support");
    let cm = &r.confusion;
    for c in 0..cm.num_classes() {
        println!(
            "{c:>5}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}",
            cm.precision(c),
            cm.recall(c),
            cm.f1(c),
            cm.support(c)
        );
    }
    println!("macro F1 {:.4}\n\nConfusion matrix:\n{cm}\n", cm.macro_f1());
    println!(
        "Checkpoints and history.csv in {}; curves in {}",
        dir.display(),
        cfg.plot.as_deref().unwrap_or(dir).display()
    );
    let correct = (0..cm.num_classes())
        .map(|c| cm.counts(c, c))
        .sum::<usize>();
    println!(
        "Test accuracy: {:.2}% ({correct}/{}) after {epochs} epochs, {:.1} s/epoch",
        100.0 * r.test_accuracy(),
        cm.total(),
        r.seconds_per_epoch()
    );
    Ok(())
}

fn main() -> ExitCode {
    let cfg = match parse() {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match run(&cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mnist_mlp: {e}");
            ExitCode::FAILURE
        }
    }
}

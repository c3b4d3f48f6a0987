//! The seed workflow, end to end: the classic first Keras program in Lamina.
//!
//! 100 samples of 2 features uniform in [0, 1), label 1 if x0 + x1 >= 0.5; Dense(2→3,
//! ReLU) → Dense(3→1, sigmoid); Adam with Keras's defaults; binary cross-entropy; batches
//! of 10, shuffled each epoch. Then it evaluates on 100 fresh samples, prints the
//! prediction for [0.1, 0.9], saves the weights (safetensors), reloads them into a fresh
//! model and shows the same prediction.
//!
//! `cargo run --release -p lamina-examples --bin seed_classifier -- [--epochs 10] [--lr 0.001]
//! [--seed 42] [--weights PATH] [--device cpu|cuda|cuda:N]`

use std::process::ExitCode;

use lamina::nn::Module;
use lamina::prelude::*;
use lamina_examples::realdata::DeviceChoice;
use lamina_examples::seed::{accuracy, keras_adam, points, predict, train, SeedTask};

struct Args {
    epochs: usize,
    lr: f64,
    seed: u64,
    weights: std::path::PathBuf,
    device: DeviceChoice,
}

fn parse() -> std::result::Result<Args, String> {
    let mut a = Args {
        epochs: 10,
        lr: 1e-3,
        seed: 42,
        weights: std::env::temp_dir().join("lamina_seed_classifier.safetensors"),
        device: DeviceChoice::from_env()?,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--epochs" => a.epochs = value()?.parse().map_err(|e| format!("--epochs: {e}"))?,
            "--lr" => a.lr = value()?.parse().map_err(|e| format!("--lr: {e}"))?,
            "--seed" => a.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--weights" => a.weights = value()?.into(),
            "--device" => a.device = value()?.parse()?,
            "-h" | "--help" => {
                return Err(
                    "usage: seed_classifier [--epochs N] [--lr X] [--seed S] [--weights PATH] \
                     [--device cpu|cuda[:N]]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    if a.epochs == 0 || !(a.lr > 0.0 && a.lr.is_finite()) {
        return Err("--epochs must be positive and --lr a positive number".into());
    }
    Ok(a)
}

fn run(args: &Args) -> Result<()> {
    let dev = args.device.open()?;
    let task = SeedTask::new(args.seed, args.epochs, &dev)?;
    let mut model = task.model(&dev)?;
    let mut opt = keras_adam(args.lr)?;
    let losses = train(&task, &mut model, &mut opt, args.epochs)?;
    let every = (args.epochs / 10).max(1);
    for (e, l) in losses.iter().enumerate() {
        if (e + 1) % every == 0 || e == 0 {
            println!("Epoch {}/{} - loss: {l:.4}", e + 1, args.epochs);
        }
    }
    println!("Train accuracy: {:.4}", accuracy(&model, &task.x, &task.y)?);
    // 100 fresh points from a stream the training data never used.
    let (xt, yt) = points(args.seed + 1000, 100, &dev)?;
    println!("Test accuracy: {:.4}", accuracy(&model, &xt, &yt)?);
    let query = Tensor::from_vec(vec![0.1f32, 0.9], [1, 2], &dev)?;
    let p = predict(&model, &query)?.to_scalar::<f32>()?;
    println!("Prediction: {p:.4}");

    model.save_safetensors(&args.weights)?;
    // A fresh model with other initial weights, then the saved ones loaded into it.
    let mut fresh = SeedTask::new(args.seed + 7, 1, &dev)?.model(&dev)?;
    fresh.load_safetensors(&args.weights)?;
    let q = predict(&fresh, &query)?.to_scalar::<f32>()?;
    println!(
        "Saved to {} and reloaded: prediction {q:.4} ({})",
        args.weights.display(),
        if q == p { "identical" } else { "DIFFERENT" }
    );
    if q != p {
        return Err(lamina::tensor::Error::Invalid {
            op: "seed_classifier",
            msg: format!("reloaded model predicts {q}, trained model {p}"),
        }
        .into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seed_classifier: {e}");
            ExitCode::FAILURE
        }
    }
}

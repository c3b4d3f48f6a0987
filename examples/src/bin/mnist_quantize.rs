//! Post-training int8 quantisation of the trained `mnist_cnn` network, as PyTorch's
//! `torch.ao.quantization` does it: the best weights of an `mnist_cnn` run (its checkpoint
//! directory; trained there first, with `mnist_cnn`'s defaults, when it holds none),
//! batch norms folded into the convolutions and ReLUs fused, calibrated on training
//! images, converted to int8 (static, min-max and percentile observers; dynamic), saved
//! and reloaded as safetensors, and scored on the 10,000 test images. Prints one table:
//! model, file size, test accuracy, inference images/s, each against f32.
//!
//! `cargo run --release -p lamina-examples --bin mnist_quantize -- [--from target/mnist_cnn]
//! [--calibration 2000] [--test-limit N] [--out target/mnist_quantize]`

use std::path::PathBuf;
use std::process::ExitCode;

use lamina::prelude::*;
use lamina::train::Checkpoints;
use lamina_examples::mnist::{cnn, train_mnist, Architecture, MnistConfig};
use lamina_examples::quantize::{int8_rows, table};
use lamina_examples::realdata::{cli, datasets_dir, parse_flag, Result};

const USAGE: &str =
    "usage: mnist_quantize [--from DIR] [--calibration N] [--test-limit N] [--out DIR]";

struct Args {
    from: PathBuf,
    calibration: usize,
    test_limit: Option<usize>,
    out: PathBuf,
}

fn parse() -> std::result::Result<Args, String> {
    let mut a = Args {
        from: "target/mnist_cnn".into(),
        calibration: 2000,
        test_limit: None,
        out: "target/mnist_quantize".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let f = flag.as_str();
        match f {
            "--from" => a.from = parse_flag(f, it.next())?,
            "--calibration" => a.calibration = parse_flag(f, it.next())?,
            "--test-limit" => a.test_limit = Some(parse_flag(f, it.next())?),
            "--out" => a.out = parse_flag(f, it.next())?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if a.calibration == 0 {
        return Err("--calibration must be positive".into());
    }
    Ok(a)
}

fn run(a: &Args) -> Result<()> {
    let dev = Device::cpu();
    let ckpt = Checkpoints::new(&a.from);
    if ckpt.read_best()?.is_none() {
        println!(
            "no mnist_cnn weights in {}: training them (mnist_cnn's defaults)",
            a.from.display()
        );
        let cfg = MnistConfig {
            architecture: Architecture::Cnn,
            max_shift: 2,
            epochs: 15,
            checkpoint_dir: Some(a.from.clone()),
            verbose: false,
            ..MnistConfig::default()
        };
        let r = train_mnist(&cfg, &dev)?;
        println!("trained: test accuracy {:.2}%", 100.0 * r.test_accuracy());
    }
    let mut model = cnn(0, &dev)?;
    let epoch = ckpt.load_best(&mut model)?;
    let mnist = lamina::data::Mnist::load_limit(
        datasets_dir().join("mnist"),
        a.calibration,
        a.test_limit.unwrap_or(usize::MAX),
        &dev,
    )?;
    let images = |t: &Tensor| t.reshape([t.dims()[0], 1, 28, 28]);
    let (test, calib) = (images(&mnist.test_images)?, images(&mnist.train_images)?);
    let labels = mnist.test_labels.to_vec::<i64>()?;
    println!(
        "mnist_cnn weights of epoch {} from {}; calibration on {} training images, {} test images",
        epoch + 1,
        a.from.display(),
        calib.dims()[0],
        labels.len()
    );
    let rows = int8_rows(&mut model, &calib, &test, &labels, &a.out)?;
    print!("{}", table(&rows));
    println!("files in {}", a.out.display());
    Ok(())
}

fn main() -> ExitCode {
    cli("mnist_quantize", parse, run)
}

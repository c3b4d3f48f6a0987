//! Compressing the MNIST CNN: prune it by global magnitude to 50, 80 and 90 % sparsity
//! with fine-tuning between the steps, and distil it into a 784-64-10 MLP compared with
//! the same MLP trained alone, for seeds 0, 1 and 2. Prints one table: each model's
//! weight-file size (dense f32, and the sparse or shrunk form where there is one), test
//! accuracy and inference throughput on the test set at batch 256 (see
//! `lamina_examples::compress`).
//!
//! `cargo run --release -p lamina-examples --bin mnist_compress -- [--teacher-epochs 3]
//! [--teacher PATH.safetensors] [--finetune-epochs 2] [--student-epochs 5]
//! [--student-hidden 64] [--temperature 4] [--alpha 0.9] [--limit N] [--test-limit N]
//! [--quick] [--out DIR] [--data DIR] [--quiet] [--device cpu|cuda[:N]]`
//!
//! `--quick` is a small run for a smoke test: 3,000 training and 1,000 test images, one
//! epoch everywhere, throughput from three passes however short.

use std::process::ExitCode;

use lamina_examples::compress::{run_compress, table, CompressConfig};
use lamina_examples::realdata::{cli, parse_flag, DeviceChoice, Result};

const USAGE: &str = "usage: mnist_compress [--teacher-epochs N] [--teacher PATH] \
[--finetune-epochs N] [--student-epochs N] [--student-hidden N] [--temperature T] [--alpha A] \
[--limit N] [--test-limit N] [--quick] [--out DIR] [--data DIR] [--quiet] [--device cpu|cuda[:N]]";

fn parse() -> std::result::Result<(CompressConfig, DeviceChoice), String> {
    let mut c = CompressConfig::default();
    let mut device = DeviceChoice::from_env()?;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let f = flag.as_str();
        match f {
            "--teacher-epochs" => c.teacher_epochs = parse_flag(f, it.next())?,
            "--teacher" => c.teacher_weights = Some(parse_flag(f, it.next())?),
            "--finetune-epochs" => c.finetune_epochs = parse_flag(f, it.next())?,
            "--student-epochs" => c.student_epochs = parse_flag(f, it.next())?,
            "--student-hidden" => c.student_hidden = parse_flag(f, it.next())?,
            "--temperature" => c.temperature = parse_flag(f, it.next())?,
            "--alpha" => c.alpha = parse_flag(f, it.next())?,
            "--limit" => c.limit = Some(parse_flag(f, it.next())?),
            "--test-limit" => c.test_limit = Some(parse_flag(f, it.next())?),
            "--quick" => {
                c.limit = Some(3000);
                c.test_limit = Some(1000);
                c.teacher_epochs = 1;
                c.finetune_epochs = 1;
                c.student_epochs = 1;
                c.timing_seconds = 0.0;
            }
            "--out" => c.out_dir = parse_flag(f, it.next())?,
            "--data" => c.data_dir = parse_flag(f, it.next())?,
            "--quiet" => c.verbose = false,
            "--device" => device = parse_flag(f, it.next())?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if c.teacher_epochs == 0 || c.student_epochs == 0 || c.student_hidden == 0 {
        return Err(
            "--teacher-epochs, --student-epochs and --student-hidden must be positive".into(),
        );
    }
    Ok((c, device))
}

fn run((cfg, device): &(CompressConfig, DeviceChoice)) -> Result<()> {
    let dev = device.open()?;
    let started = std::time::Instant::now();
    let r = run_compress(cfg, &dev)?;
    println!("\n{}", table(&r.rows));
    let change = 100.0 * (r.pruned.last().map_or(0.0, |p| p.1) - r.dense_accuracy);
    println!(
        "Pruning: the sparsest model scores {change:+.2} points against the dense one (goal: \
         no more than 0.5 below)."
    );
    for (seed, alone, taught) in &r.students {
        println!(
            "Seed {seed}: student alone {:.2} %, distilled {:.2} % ({:+.2} points)",
            100.0 * alone,
            100.0 * taught,
            100.0 * (taught - alone)
        );
    }
    println!(
        "Weights in {}; total {:.0} s",
        cfg.out_dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> ExitCode {
    cli("mnist_compress", parse, run)
}

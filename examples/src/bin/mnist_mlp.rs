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
//! [--patience 5] [--shift 0] [--checkpoint-dir target/mnist_mlp] [--plot PATH] [--resume]
//! [--data DIR] [--quiet]`

use std::process::ExitCode;

use lamina_examples::mnist::{cli_main, MnistConfig};

fn main() -> ExitCode {
    cli_main("mnist_mlp", MnistConfig::default())
}

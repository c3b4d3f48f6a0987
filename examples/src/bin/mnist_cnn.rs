//! MNIST with a small CNN: two convolution blocks (3×3 convolution, BatchNorm, ReLU, 2×2
//! max-pool) and a dropout-regularised dense head (see `lamina_examples::mnist::cnn`),
//! trained on the 60,000 training digits with random shifts of up to 2 pixels and scored
//! on the 10,000 test digits.
//!
//! The protocol is `mnist_mlp`'s: 5,000 training images (stratified, seeded) held out
//! for validation, `Trainer` with Adam and a cosine learning-rate decay, early stopping on
//! the validation accuracy (patience 5) with the best epoch's weights restored,
//! checkpoints, `history.csv` and curves in the checkpoint directory, `--resume`. It
//! prints the model summary first and the test report last.
//!
//! `cargo run --release -p lamina-examples --bin mnist_cnn -- [--epochs 15] [--lr 0.001]
//! [--batch-size 64] [--seed 0] [--workers 1] [--limit N] [--test-limit N]
//! [--patience 5] [--shift 2] [--checkpoint-dir target/mnist_cnn] [--plot PATH] [--resume]
//! [--data DIR] [--quiet] [--device cpu|cuda[:N]] [--amp bf16|f16]`

use std::process::ExitCode;

use lamina_examples::mnist::{cli_main, Architecture, MnistConfig};

fn main() -> ExitCode {
    cli_main(
        "mnist_cnn",
        MnistConfig {
            architecture: Architecture::Cnn,
            max_shift: 2,
            epochs: 15,
            ..MnistConfig::default()
        },
    )
}

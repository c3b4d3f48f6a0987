//! A character-level LSTM language model on the bundled Shakespeare corpus (37 plays,
//! 4.85 MB): embedding, LSTM, linear read-out (see `lamina_examples::charlm`), trained on
//! the first 90 % of the bytes and scored on the last 10 % in nats per character against
//! the 5-gram's 1.640. Prints the validation loss per epoch, writes checkpoints,
//! `history.csv` and curves to the checkpoint directory (`--resume` continues a run), and
//! ends with a 300-character sample from the best weights. `--stop-after N` ends a run
//! after N epochs (the learning rate still planned over `--epochs`) for a later `--resume`.
//!
//! `cargo run --release -p lamina-examples --bin char_lstm -- [--epochs N] [--stop-after N]
//! [--windows-per-epoch N] [--seq-len N] [--batch-size N] [--lr X] [--weight-decay X]
//! [--clip X] [--width N] [--hidden N] [--layers N] [--dropout P] [--seed S] [--val-limit N]
//! [--checkpoint-dir target/char_lstm] [--plot PATH] [--resume] [--sample-len N]
//! [--temperature T] [--data FILE] [--quiet]`

use std::process::ExitCode;

use lamina_examples::charlm::{cli_main, CharConfig};

fn main() -> ExitCode {
    cli_main("char_lstm", CharConfig::lstm())
}

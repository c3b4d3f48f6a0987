//! A small decoder-only Transformer (GPT-style: token and learned position embeddings,
//! pre-LN blocks with causal self-attention and a GELU feed-forward, final LayerNorm) as
//! a character-level language model on the bundled Shakespeare corpus (see
//! `lamina_examples::charlm`): trained on the first 90 % of the bytes, scored on the last
//! 10 % in nats per character against the 5-gram's 1.640. Prints the validation loss per
//! epoch, writes checkpoints, `history.csv` and curves (`--resume` continues a run), and
//! ends with a 300-character sample from the best weights. `--stop-after N` ends a run
//! after N epochs (the learning rate still planned over `--epochs`) for a later `--resume`.
//!
//! `cargo run --release -p lamina-examples --bin char_gpt -- [--epochs N] [--stop-after N]
//! [--windows-per-epoch N] [--seq-len N] [--batch-size N] [--lr X] [--weight-decay X]
//! [--clip X] [--width N] [--layers N] [--heads N] [--dropout P] [--seed S] [--val-limit N]
//! [--checkpoint-dir target/char_gpt] [--plot PATH] [--resume] [--sample-len N]
//! [--temperature T] [--data FILE] [--quiet]`

use std::process::ExitCode;

use lamina_examples::charlm::{cli_main, CharConfig};

fn main() -> ExitCode {
    cli_main("char_gpt", CharConfig::gpt())
}

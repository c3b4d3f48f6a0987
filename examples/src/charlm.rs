//! Character-level language models on the bundled Shakespeare corpus: the `char_lstm` and
//! `char_gpt` examples and the language-model half of `tests/realdata.rs`.
//!
//! The protocol is the data set's (datasets/README.md): the vocabulary of the whole file
//! (83 symbols), the first 90 % of its bytes for training and the last 10 % for
//! validation, scored in nats per character against the 5-gram's 1.640. One epoch is
//! `windows_per_epoch` windows of `seq_len + 1` characters drawn uniformly, with
//! replacement, from every start position of the training part (a seeded, resumable
//! stream), trained through `lamina::train::Trainer` with AdamW, a cosine learning-rate
//! decay, gradient clipping, checkpoints, `history.csv` and curves. Validation scores the
//! next-character prediction at every position of the non-overlapping `seq_len` windows
//! of the validation part (its last `485,038 mod seq_len` characters fall outside
//! them), each window read from its start with no earlier context. The best epoch's weights
//! are kept and write a 300-character sample at the end.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use lamina::data::text::{read_text, CharVocab, NextTokenWindows};
use lamina::data::{DataLoader, LoaderConfig, Sampler};
use lamina::nn::attention::square_subsequent_mask;
use lamina::nn::{
    cross_entropy, generate, prefixed, Activation, Embedding, LayerNorm,
    LearnedPositionalEmbedding, Linear, Lstm, Module, Reduction, Sampling, Seeds,
    TransformerEncoderLayer,
};
use lamina::optim::{AdamW, AdamWConfig, CosineAnnealingLR};
use lamina::prelude::*;
use lamina::train::{
    Accuracy, Amp, Checkpoints, EarlyStopping, FitConfig, History, Monitor, Trainer,
};

use crate::realdata::{cli, parse_flag, Result};

/// Which network a run trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CharModel {
    /// [`CharLstm`]: embedding, stacked LSTM, linear read-out.
    Lstm,
    /// [`CharGpt`]: a decoder-only Transformer (causal attention, pre-LN, GELU).
    Gpt,
}

/// An LSTM language model: `Embedding(vocab, embed) → Lstm(embed, hidden, layers,
/// batch-first, dropout between layers) → Linear(hidden, vocab)`, mapping token ids
/// `[N, L]` to logits `[N·L, vocab]`.
pub struct CharLstm {
    pub embed: Embedding,
    pub lstm: Lstm,
    pub head: Linear,
}

impl CharLstm {
    /// Weights drawn from `seed`.
    pub fn new(
        vocab: usize,
        embed: usize,
        hidden: usize,
        layers: usize,
        dropout: f64,
        seed: u64,
        dev: &Device,
    ) -> Result<CharLstm> {
        let mut s = Seeds::new(seed);
        Ok(CharLstm {
            embed: Embedding::builder(vocab, embed)
                .seed(s.next_seed())
                .build(dev)?,
            lstm: Lstm::builder(embed, hidden)
                .num_layers(layers)
                .batch_first(true)
                .dropout(dropout)
                .seed(s.next_seed())
                .build(dev)?,
            head: Linear::builder(hidden, vocab)
                .seed(s.next_seed())
                .build(dev)?,
        })
    }
}

impl Module for CharLstm {
    fn forward(&self, ids: &Tensor) -> lamina::tensor::Result<Tensor> {
        let h = self.lstm.forward(&self.embed.forward(ids)?)?;
        let (n, l, width) = (h.dims()[0], h.dims()[1], h.dims()[2]);
        self.head.forward(&h.reshape([n * l, width])?)
    }
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        self.embed.visit(&prefixed(prefix, "embed"), f);
        self.lstm.visit(&prefixed(prefix, "lstm"), f);
        self.head.visit(&prefixed(prefix, "head"), f);
    }
    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        self.embed.visit_mut(&prefixed(prefix, "embed"), f);
        self.lstm.visit_mut(&prefixed(prefix, "lstm"), f);
        self.head.visit_mut(&prefixed(prefix, "head"), f);
    }
    fn set_training(&mut self, on: bool) {
        self.lstm.set_training(on);
    }
    fn training_mode(&self) -> Option<bool> {
        self.lstm.training_mode()
    }
    fn visit_rng_state(&self, prefix: &str, f: &mut dyn FnMut(String, u64)) {
        self.lstm.visit_rng_state(&prefixed(prefix, "lstm"), f);
    }
    fn visit_rng_state_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut u64)) {
        self.lstm.visit_rng_state_mut(&prefixed(prefix, "lstm"), f);
    }
}

/// A decoder-only Transformer (GPT-style): token embedding plus learned position
/// embedding, `layers` pre-LN blocks (`TransformerEncoderLayer` with `norm_first`, GELU,
/// `4 · d_model` feed-forward, batch-first) under the causal mask, a final LayerNorm and
/// a linear read-out; token ids `[N, L]` (`L <= block`) to logits `[N·L, vocab]`.
pub struct CharGpt {
    pub tok: Embedding,
    pub pos: LearnedPositionalEmbedding,
    pub blocks: Vec<TransformerEncoderLayer>,
    pub ln_f: LayerNorm,
    pub head: Linear,
}

impl CharGpt {
    /// Weights drawn from `seed`. The embeddings start from N(0, 0.02²), GPT-2's choice
    /// (nn.Embedding's N(0, 1) would swamp the residual stream of a model this narrow).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        vocab: usize,
        d_model: usize,
        heads: usize,
        layers: usize,
        block: usize,
        dropout: f64,
        seed: u64,
        dev: &Device,
    ) -> Result<CharGpt> {
        let mut s = Seeds::new(seed);
        let mut tok = Embedding::builder(vocab, d_model)
            .seed(s.next_seed())
            .build(dev)?;
        let mut pos = LearnedPositionalEmbedding::new(block, d_model, s.next_seed(), dev)?;
        tok.weight = (&tok.weight * 0.02)?;
        pos.weight = (&pos.weight * 0.02)?;
        let blocks = (0..layers)
            .map(|_| {
                TransformerEncoderLayer::builder(d_model, heads)
                    .dim_feedforward(4 * d_model)
                    .dropout(dropout)
                    .activation(Activation::Gelu)
                    .norm_first(true)
                    .batch_first(true)
                    .seed(s.next_seed())
                    .build(dev)
            })
            .collect::<lamina::tensor::Result<Vec<_>>>()?;
        Ok(CharGpt {
            tok,
            pos,
            blocks,
            ln_f: LayerNorm::new(&[d_model], dev)?,
            head: Linear::builder(d_model, vocab)
                .seed(s.next_seed())
                .build(dev)?,
        })
    }

    /// The longest input the position embedding covers.
    pub fn block_size(&self) -> usize {
        self.pos.weight.dims()[0]
    }
}

impl Module for CharGpt {
    fn forward(&self, ids: &Tensor) -> lamina::tensor::Result<Tensor> {
        let (n, l) = (ids.dims()[0], ids.dims()[1]);
        let mut x = self.pos.forward(&self.tok.forward(ids)?)?;
        let mask = square_subsequent_mask(l, x.dtype(), x.device())?;
        for b in &self.blocks {
            x = b.forward_masked(&x, Some(&mask), None, true)?;
        }
        let x = self.ln_f.forward(&x)?;
        let d = x.dims()[2];
        self.head.forward(&x.reshape([n * l, d])?)
    }
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        self.tok.visit(&prefixed(prefix, "tok"), f);
        self.pos.visit(&prefixed(prefix, "pos"), f);
        for (i, b) in self.blocks.iter().enumerate() {
            b.visit(&prefixed(prefix, &format!("blocks.{i}")), f);
        }
        self.ln_f.visit(&prefixed(prefix, "ln_f"), f);
        self.head.visit(&prefixed(prefix, "head"), f);
    }
    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        self.tok.visit_mut(&prefixed(prefix, "tok"), f);
        self.pos.visit_mut(&prefixed(prefix, "pos"), f);
        for (i, b) in self.blocks.iter_mut().enumerate() {
            b.visit_mut(&prefixed(prefix, &format!("blocks.{i}")), f);
        }
        self.ln_f.visit_mut(&prefixed(prefix, "ln_f"), f);
        self.head.visit_mut(&prefixed(prefix, "head"), f);
    }
    fn set_training(&mut self, on: bool) {
        for b in &mut self.blocks {
            b.set_training(on);
        }
    }
    fn training_mode(&self) -> Option<bool> {
        self.blocks.iter().find_map(|b| b.training_mode())
    }
    fn visit_rng_state(&self, prefix: &str, f: &mut dyn FnMut(String, u64)) {
        for (i, b) in self.blocks.iter().enumerate() {
            b.visit_rng_state(&prefixed(prefix, &format!("blocks.{i}")), f);
        }
    }
    fn visit_rng_state_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut u64)) {
        for (i, b) in self.blocks.iter_mut().enumerate() {
            b.visit_rng_state_mut(&prefixed(prefix, &format!("blocks.{i}")), f);
        }
    }
}

/// The settings of a run; [`CharConfig::lstm`] and [`CharConfig::gpt`] are the examples'
/// defaults.
#[derive(Clone, Debug)]
pub struct CharConfig {
    pub model: CharModel,
    /// The corpus (plain or gzip text).
    pub data: PathBuf,
    /// Characters per training window (and the GPT's block size).
    pub seq_len: usize,
    /// Windows per step.
    pub batch_size: usize,
    /// Windows drawn per epoch.
    pub windows_per_epoch: usize,
    pub epochs: usize,
    /// End the run after this many epochs, checkpointed for `resume`, with the learning
    /// rate still planned over `epochs` (a long run split into sittings); `None`: run all.
    pub stop_after: Option<usize>,
    /// AdamW's initial learning rate, decayed along a cosine to 5 % of it.
    pub lr: f64,
    /// AdamW's decoupled weight decay, on every parameter.
    pub weight_decay: f64,
    /// Gradients are scaled so their global 2-norm is at most this.
    pub clip: f64,
    /// LSTM: embedding width; GPT: `d_model`.
    pub width: usize,
    /// LSTM: hidden size (unused by the GPT).
    pub hidden: usize,
    pub layers: usize,
    /// GPT attention heads.
    pub heads: usize,
    pub dropout: f64,
    pub seed: u64,
    /// Score only the first `val_limit` validation windows (tests); `None`: all.
    pub val_limit: Option<usize>,
    /// Checkpoints, `history.csv` and the curves go here; `None` writes nothing.
    pub checkpoint_dir: Option<PathBuf>,
    pub plot: Option<PathBuf>,
    pub resume: bool,
    /// Characters sampled from the best weights at the end.
    pub sample_len: usize,
    pub temperature: f64,
    pub verbose: bool,
    /// Where to train (`--device`, else `LAMINA_DEVICE`, else the CPU).
    pub device: crate::realdata::DeviceChoice,
    /// Mixed precision (`--amp bf16|f16`): training and validation under autocast, the
    /// weights in f32.
    pub amp: Option<Amp>,
}

impl CharConfig {
    /// `char_lstm`'s defaults.
    pub fn lstm() -> CharConfig {
        CharConfig {
            model: CharModel::Lstm,
            data: crate::realdata::datasets_dir().join("shakespeare/shakespeare_plays.txt.gz"),
            seq_len: 100,
            batch_size: 64,
            windows_per_epoch: 64 * 300,
            epochs: 14,
            stop_after: None,
            lr: 2e-3,
            weight_decay: 0.0,
            clip: 1.0,
            width: 64,
            hidden: 512,
            layers: 1,
            heads: 0,
            dropout: 0.0,
            seed: 0,
            val_limit: None,
            checkpoint_dir: None,
            plot: None,
            resume: false,
            sample_len: 300,
            temperature: 0.8,
            verbose: true,
            device: crate::realdata::DeviceChoice::Cpu,
            amp: None,
        }
    }

    /// `char_gpt`'s defaults.
    pub fn gpt() -> CharConfig {
        CharConfig {
            model: CharModel::Gpt,
            seq_len: 128,
            batch_size: 32,
            windows_per_epoch: 32 * 450,
            lr: 1e-3,
            weight_decay: 0.0,
            width: 128,
            hidden: 0,
            layers: 4,
            heads: 4,
            ..CharConfig::lstm()
        }
    }

    fn describe(&self, params: usize) -> String {
        let net = match self.model {
            CharModel::Lstm => format!(
                "LSTM: embedding {}, {} layer(s) of {} hidden",
                self.width, self.layers, self.hidden
            ),
            CharModel::Gpt => format!(
                "GPT: d_model {}, {} heads, {} pre-LN blocks, block size {}",
                self.width, self.heads, self.layers, self.seq_len
            ),
        };
        format!(
            "{net}; {params} parameters; windows of {} chars, batch {}, {} windows per epoch, \
             {} epochs, AdamW lr {} (cosine), weight decay {}, clip {}, dropout {}, seed {}",
            self.seq_len,
            self.batch_size,
            self.windows_per_epoch,
            self.epochs,
            self.lr,
            self.weight_decay,
            self.clip,
            self.dropout,
            self.seed
        )
    }
}

/// Either model behind one `Module`.
pub enum CharNet {
    Lstm(CharLstm),
    Gpt(CharGpt),
}

impl CharNet {
    /// The model `cfg` describes, for a vocabulary of `vocab` symbols.
    pub fn new(cfg: &CharConfig, vocab: usize, dev: &Device) -> Result<CharNet> {
        Ok(match cfg.model {
            CharModel::Lstm => CharNet::Lstm(CharLstm::new(
                vocab,
                cfg.width,
                cfg.hidden,
                cfg.layers,
                cfg.dropout,
                cfg.seed,
                dev,
            )?),
            CharModel::Gpt => CharNet::Gpt(CharGpt::new(
                vocab,
                cfg.width,
                cfg.heads,
                cfg.layers,
                cfg.seq_len,
                cfg.dropout,
                cfg.seed,
                dev,
            )?),
        })
    }

    fn inner(&self) -> &dyn Module {
        match self {
            CharNet::Lstm(m) => m,
            CharNet::Gpt(m) => m,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn Module {
        match self {
            CharNet::Lstm(m) => m,
            CharNet::Gpt(m) => m,
        }
    }

    /// The number of trained scalars.
    pub fn num_parameters(&self) -> usize {
        let mut n = 0;
        self.visit("", &mut |_, t| n += t.elem_count());
        n
    }
}

impl Module for CharNet {
    fn forward(&self, ids: &Tensor) -> lamina::tensor::Result<Tensor> {
        self.inner().forward(ids)
    }
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(String, &'a Tensor)) {
        match self {
            CharNet::Lstm(m) => m.visit(prefix, f),
            CharNet::Gpt(m) => m.visit(prefix, f),
        }
    }
    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(String, &'a mut Tensor)) {
        match self {
            CharNet::Lstm(m) => m.visit_mut(prefix, f),
            CharNet::Gpt(m) => m.visit_mut(prefix, f),
        }
    }
    fn set_training(&mut self, on: bool) {
        self.inner_mut().set_training(on)
    }
    fn training_mode(&self) -> Option<bool> {
        self.inner().training_mode()
    }
    fn visit_rng_state(&self, prefix: &str, f: &mut dyn FnMut(String, u64)) {
        self.inner().visit_rng_state(prefix, f)
    }
    fn visit_rng_state_mut(&mut self, prefix: &str, f: &mut dyn FnMut(String, &mut u64)) {
        self.inner_mut().visit_rng_state_mut(prefix, f)
    }
}

/// What a run measured.
pub struct CharReport {
    pub vocab: CharVocab,
    pub params: usize,
    /// Characters in the training and validation parts.
    pub train_chars: usize,
    pub val_chars: usize,
    pub history: History,
    /// The epoch (0-based) of the best validation loss, whose weights `model` holds.
    pub best_epoch: usize,
    pub resumed: bool,
    /// Wall time of the whole run (loading, training, validation), seconds.
    pub seconds: f64,
    pub model: CharNet,
}

impl CharReport {
    /// The best validation loss, nats per character.
    pub fn best_val_loss(&self) -> f64 {
        self.history.epochs[self.best_epoch]
            .val_loss
            .unwrap_or(f64::NAN)
    }
}

/// Loads the corpus, splits it, trains `cfg`'s model with the validation loss picking the
/// best epoch, and returns the best weights with the history.
pub fn train_char_model(cfg: &CharConfig, dev: &Device) -> Result<CharReport> {
    let start = Instant::now();
    let text = read_text(&cfg.data)?;
    // The split is by bytes; the corpus is ASCII, so bytes are characters (checked, as a
    // multi-byte character would shift it).
    if !text.is_ascii() {
        return Err(lamina::Error::from(lamina::data::Error::Invalid {
            op: "train_char_model",
            msg: format!(
                "{} is not ASCII: the 90/10 split is by bytes",
                cfg.data.display()
            ),
        }));
    }
    let vocab = CharVocab::from_text(&text);
    let ids = vocab.encode(&text)?;
    let cut = ids.len() * 9 / 10;
    let (train_ids, val_ids) = (ids[..cut].to_vec(), ids[cut..].to_vec());
    let (train_chars, val_chars) = (train_ids.len(), val_ids.len());

    let windows = NextTokenWindows::new(train_ids, cfg.seq_len, 1, dev)?;
    let starts = lamina::data::Dataset::len(&windows);
    let train = DataLoader::new(
        Arc::new(windows),
        LoaderConfig {
            batch_size: cfg.batch_size,
            seed: Some(cfg.seed),
            ..Default::default()
        },
    )?
    .with_sampler(Sampler::Weighted {
        weights: vec![1.0; starts],
        num_samples: cfg.windows_per_epoch,
        replacement: true,
    });
    let val_windows = NextTokenWindows::new(val_ids, cfg.seq_len, cfg.seq_len, dev)?;
    let val_set: Arc<dyn lamina::data::Dataset> = match cfg.val_limit {
        Some(k) => Arc::new(lamina::data::Subset::new(
            Arc::new(val_windows),
            (0..k).collect(),
        )?),
        None => Arc::new(val_windows),
    };
    let val = DataLoader::new(
        val_set,
        LoaderConfig {
            batch_size: 64,
            ..Default::default()
        },
    )?;

    let mut model = CharNet::new(cfg, vocab.len(), dev)?;
    let params = model.num_parameters();
    if cfg.verbose {
        println!("{}", cfg.describe(params));
    }
    let mut opt = AdamW::new(AdamWConfig {
        lr: cfg.lr,
        weight_decay: cfg.weight_decay,
        ..Default::default()
    })?;
    let config = FitConfig {
        epochs: cfg.stop_after.map_or(cfg.epochs, |s| s.min(cfg.epochs)),
        early_stopping: Some(EarlyStopping {
            monitor: Monitor::ValLoss,
            patience: cfg.epochs,
            min_delta: 0.0,
            restore_best_weights: true,
        }),
        accuracy: Accuracy::Off,
        clip_grad_norm: Some(cfg.clip),
        history_csv: cfg.checkpoint_dir.as_ref().map(|d| d.join("history.csv")),
        checkpoint_dir: cfg.checkpoint_dir.clone(),
        plot_png: cfg.plot.clone(),
        progress: cfg.verbose,
        verbose: cfg.verbose,
        amp: cfg.amp,
        ..Default::default()
    };
    let schedule = CosineAnnealingLR::new(cfg.lr, cfg.epochs, cfg.lr / 20.0)?;
    let mut trainer = Trainer::new(config).with_schedule(schedule);
    // Logits [N·L, vocab] against the targets [N, L] read row by row.
    let loss = |out: &Tensor, y: &Tensor| {
        cross_entropy(out, &y.reshape([y.elem_count()])?, Reduction::Mean)
    };
    let resume_from = cfg
        .checkpoint_dir
        .as_ref()
        .filter(|d| cfg.resume && Checkpoints::new(d.as_path()).has_last());
    let history = match resume_from {
        Some(dir) => trainer.resume(dir, &mut model, &mut opt, &train, Some(&val), loss)?,
        None => trainer.fit(&mut model, &mut opt, &train, Some(&val), loss)?,
    };
    let best_epoch = trainer.best().and_then(|b| b.epoch).unwrap_or(0);
    Ok(CharReport {
        vocab,
        params,
        train_chars,
        val_chars,
        history,
        best_epoch,
        resumed: resume_from.is_some(),
        seconds: start.elapsed().as_secs_f64(),
        model,
    })
}

/// `len` characters continuing `prompt`, drawn from the model at `temperature` (seeded),
/// each from the logits of the last `context` characters.
pub fn sample_text(
    model: &mut CharNet,
    vocab: &CharVocab,
    prompt: &str,
    len: usize,
    context: usize,
    temperature: f64,
    seed: u64,
) -> Result<String> {
    model.set_training(false);
    let prompt = vocab.encode(prompt)?;
    let dev = *model.inner().parameters()[0].device();
    let sampling = Sampling::Random {
        temperature,
        top_k: None,
        top_p: None,
    };
    let new = lamina::autograd::no_grad(|| {
        generate(&prompt, len, &sampling, seed, |ids| {
            let ctx = &ids[ids.len().saturating_sub(context)..];
            let x = Tensor::from_vec(
                ctx.iter().map(|&i| i as i64).collect::<Vec<_>>(),
                [1, ctx.len()],
                &dev,
            )?;
            model.forward(&x)
        })
    })?;
    Ok(vocab.decode(&new)?)
}

// ---- the command line both examples share ----

fn usage(name: &str) -> String {
    format!(
        "usage: {name} [--epochs N] [--stop-after N] [--windows-per-epoch N] [--seq-len N] [--batch-size N] \
[--lr X] [--weight-decay X] [--clip X] [--width N] [--hidden N] [--layers N] [--heads N] \
[--dropout P] [--seed S] [--val-limit N] [--checkpoint-dir DIR] [--plot PATH] [--resume] \
[--sample-len N] [--temperature T] [--data FILE] [--quiet] [--device cpu|cuda[:N]] [--amp bf16|f16]"
    )
}

/// The `name` example's `main`: parses the flags over `defaults`, trains, prints the
/// validation figures and a sample; checkpoints go to `target/{name}` unless
/// `--checkpoint-dir` says otherwise.
pub fn cli_main(name: &str, defaults: CharConfig) -> ExitCode {
    cli(name, || parse(name, defaults), |cfg| run(name, cfg))
}

fn parse(name: &str, defaults: CharConfig) -> std::result::Result<CharConfig, String> {
    let usage = usage(name);
    let mut c = defaults;
    c.device = crate::realdata::DeviceChoice::from_env()?;
    let mut dir = PathBuf::from(format!("target/{name}"));
    let mut plot = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let f = flag.as_str();
        match f {
            "--epochs" => c.epochs = parse_flag(f, it.next())?,
            "--stop-after" => c.stop_after = Some(parse_flag(f, it.next())?),
            "--windows-per-epoch" => c.windows_per_epoch = parse_flag(f, it.next())?,
            "--seq-len" => c.seq_len = parse_flag(f, it.next())?,
            "--batch-size" => c.batch_size = parse_flag(f, it.next())?,
            "--lr" => c.lr = parse_flag(f, it.next())?,
            "--weight-decay" => c.weight_decay = parse_flag(f, it.next())?,
            "--clip" => c.clip = parse_flag(f, it.next())?,
            "--width" => c.width = parse_flag(f, it.next())?,
            "--hidden" => c.hidden = parse_flag(f, it.next())?,
            "--layers" => c.layers = parse_flag(f, it.next())?,
            "--heads" => c.heads = parse_flag(f, it.next())?,
            "--dropout" => c.dropout = parse_flag(f, it.next())?,
            "--seed" => c.seed = parse_flag(f, it.next())?,
            "--val-limit" => c.val_limit = Some(parse_flag(f, it.next())?),
            "--checkpoint-dir" => dir = parse_flag(f, it.next())?,
            "--plot" => plot = Some(parse_flag::<PathBuf>(f, it.next())?),
            "--resume" => c.resume = true,
            "--sample-len" => c.sample_len = parse_flag(f, it.next())?,
            "--temperature" => c.temperature = parse_flag(f, it.next())?,
            "--data" => c.data = parse_flag(f, it.next())?,
            "--quiet" => c.verbose = false,
            "--device" => c.device = parse_flag(f, it.next())?,
            "--amp" => c.amp = Some(parse_flag(f, it.next())?),
            "-h" | "--help" => return Err(usage),
            other => return Err(format!("unknown argument {other}\n{usage}")),
        }
    }
    if c.epochs == 0 || c.batch_size == 0 || c.seq_len == 0 || c.windows_per_epoch == 0 {
        return Err(
            "--epochs, --batch-size, --seq-len and --windows-per-epoch must be positive".into(),
        );
    }
    let positive = |x: f64| x > 0.0 && x.is_finite();
    if !positive(c.lr) || !positive(c.clip) {
        return Err("--lr and --clip must be positive numbers".into());
    }
    c.plot = Some(plot.unwrap_or_else(|| dir.join(format!("{name}_curves.png"))));
    c.checkpoint_dir = Some(dir);
    Ok(c)
}

fn run(name: &str, cfg: &CharConfig) -> Result<()> {
    let dev = cfg.device.open()?;
    let dir = cfg.checkpoint_dir.as_deref().unwrap_or(".".as_ref());
    println!("{name} on {}", cfg.data.display());
    if cfg.resume && Checkpoints::new(dir).has_last() {
        println!("Resuming the run checkpointed in {}", dir.display());
    }
    let mut r = train_char_model(cfg, &dev)?;
    println!(
        "Data: {} training, {} validation characters, vocabulary {}",
        r.train_chars,
        r.val_chars,
        r.vocab.len()
    );
    println!("\nepoch  train nats/char  val nats/char  seconds");
    for (i, e) in r.history.epochs.iter().enumerate() {
        println!(
            "{:>5}  {:>15.4}  {:>13.4}  {:>7.1}",
            i + 1,
            e.train_loss,
            e.val_loss.unwrap_or(f64::NAN),
            e.seconds
        );
    }
    let best = r.best_val_loss();
    println!(
        "\nBest validation loss {best:.4} nats/char ({:.4} bits/char) at epoch {}; the 5-gram \
         reference is 1.640. {} parameters, {:.0} s in all ({:.1} min).",
        best / std::f64::consts::LN_2,
        r.best_epoch + 1,
        r.params,
        r.seconds,
        r.seconds / 60.0
    );
    println!(
        "Checkpoints and history.csv in {}; curves in {}",
        dir.display(),
        cfg.plot.as_deref().unwrap_or(dir).display()
    );
    let prompt = "KING.\n";
    let text = sample_text(
        &mut r.model,
        &r.vocab,
        prompt,
        cfg.sample_len,
        cfg.seq_len,
        cfg.temperature,
        cfg.seed,
    )?;
    println!(
        "\nA sample of {} characters at temperature {} (best weights, seed {}):\n\n{prompt}{text}",
        cfg.sample_len, cfg.temperature, cfg.seed
    );
    Ok(())
}

//! Checkpoints: a directory holding the `last` state of a run (written after every
//! epoch, what [`resume`](crate::Trainer::resume) continues from) and the `best` model
//! so far.
//!
//! ```text
//! run/last.json                   the commit point: epoch, history, schedule, early
//!                                 stopping, loader, the model's random-stream
//!                                 positions; names the two files below
//! run/last-e00004.safetensors     model weights after 4 epochs (nn's safetensors)
//! run/last-e00004.optim.safetensors  optimizer state (optim's OptimizerState, its
//!                                 safetensors form; checkpoints of earlier versions hold
//!                                 `.optim.json` and still load)
//! run/best.json                   epoch, monitored metric and value; names the file below
//! run/best-e00003.safetensors     the best epoch's weights
//! ```
//!
//! Every file is written atomically (temporary name in the same directory, `fsync`,
//! rename), the weight and optimizer files first under epoch-stamped names, then the
//! JSON that names them. The JSON is the commit point: until its rename lands, the
//! previous JSON still names the previous files, which are deleted only afterwards. So a
//! crash at any moment leaves a checkpoint whose parts agree. The JSON also records each
//! part's size and FNV-1a hash, so a part replaced or damaged behind its back is a clear
//! error rather than a silently different run.
//!
//! The model's random-stream positions ([`Module::rng_state`]: how many masks each
//! `Dropout` has drawn) are small, so they live in `last.json` itself. `best` does not
//! record them: nothing trains on from `best` (a resume continues from `last`), and
//! restoring the best weights at the end of a run leaves the streams where training
//! left them, the same with or without a checkpoint directory.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use lamina_data::DataLoader;
use lamina_nn::{weights, Module};
use lamina_optim::{Optimizer, OptimizerState};
use lamina_tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::atomic;
use crate::early_stopping::{EarlyStoppingState, Monitor};
use crate::error::{Error, Result};
use crate::history::History;
use crate::schedule::LrSchedule;

/// The checkpoint format this crate writes and reads.
const FORMAT: u32 = 1;

/// A file a checkpoint's JSON names, with its size and hash so a mismatch is caught.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// The file's name inside the checkpoint directory.
    pub file: String,
    /// Its length in bytes.
    pub bytes: u64,
    /// FNV-1a (64-bit) of its contents, as 16 hex digits.
    pub fnv1a64: String,
}

impl FileRef {
    fn of(file: String, contents: &[u8]) -> FileRef {
        FileRef {
            file,
            bytes: contents.len() as u64,
            fnv1a64: fnv1a64(contents),
        }
    }
}

/// FNV-1a, 64-bit, as 16 hex digits: a cheap fingerprint (not a cryptographic hash) that
/// catches a checkpoint part swapped for another or damaged.
fn fnv1a64(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The training data loader a run used. A `DataLoader` keeps no state between epochs:
/// epoch `e`'s order and augmentation draw from `Rng::derive(seed, &[e, ...])`, so the
/// seed and the next epoch number (`TrainState::epochs_done`) are its whole RNG state.
/// A resume checks that it is given a loader with the same settings and data size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoaderState {
    /// The loader's seed (shuffle, sampler and batch transforms), as resolved
    /// ([`DataLoader::seed`]): the one drawn from the global stream if the config gave
    /// none.
    pub seed: u64,
    /// Samples per batch.
    pub batch_size: usize,
    /// Whether each epoch is shuffled.
    pub shuffle: bool,
    /// Whether a short last batch is dropped.
    pub drop_last: bool,
    /// Samples in the data set.
    pub dataset_len: usize,
    /// Batches per epoch.
    pub num_batches: usize,
}

impl LoaderState {
    /// The settings of `loader`.
    pub fn of(loader: &DataLoader) -> LoaderState {
        let c = loader.config();
        LoaderState {
            seed: loader.seed(),
            batch_size: c.batch_size,
            shuffle: c.shuffle,
            drop_last: c.drop_last,
            dataset_len: loader.dataset_len(),
            num_batches: loader.num_batches(),
        }
    }
}

/// The best epoch so far by a monitored metric: what `best.json` records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestState {
    /// The metric that defines "best".
    pub monitor: Monitor,
    /// Its best value so far.
    pub value: Option<f64>,
    /// The 0-based epoch that reached it.
    pub epoch: Option<usize>,
}

/// Everything about a run except the weights and optimizer buffers: what `last.json`
/// carries and a resume restores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Epochs finished; the next epoch to run has this 0-based number.
    pub epochs_done: usize,
    /// The history of the finished epochs: `epochs_done` records, epoch `i` at index `i`
    /// (a checkpoint where they disagree is refused on reading).
    pub history: History,
    /// The learning-rate schedule and its state, if any.
    pub schedule: Option<LrSchedule>,
    /// The early-stopping state machine, if early stopping is on.
    pub early_stopping: Option<EarlyStoppingState>,
    /// The best epoch so far.
    pub best: BestState,
    /// The training data loader's settings.
    pub loader: LoaderState,
}

/// `last.json`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LastFile {
    format: u32,
    weights: FileRef,
    optimizer: FileRef,
    /// The optimizer's name (`"Adam"`, ...), checked before its state is loaded.
    optimizer_name: String,
    state: TrainState,
    /// The model's random-stream positions. `None` only in checkpoints written before
    /// they were recorded: those restore none, so a model with dropout resumes with
    /// other masks than the original run would have drawn.
    #[serde(default)]
    rng_state: Option<BTreeMap<String, u64>>,
}

/// `best.json`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BestFile {
    format: u32,
    epoch: usize,
    monitor: Monitor,
    value: f64,
    weights: FileRef,
}

/// A checkpoint directory (see the module docs for its layout).
///
/// ```
/// use lamina_nn::{Linear, Module};
/// use lamina_optim::{Optimizer, Sgd, SgdConfig};
/// use lamina_train::{BestState, Checkpoints, EpochRecord, History, LoaderState, Monitor, TrainState};
///
/// let dev = lamina_backend_cpu::device();
/// let model = Linear::builder(3, 2).seed(0).build(&dev)?;
/// let opt = Sgd::new(SgdConfig { lr: 0.1, ..Default::default() })?;
/// let mut history = History::new(); // one record per epoch done
/// history.epochs.push(EpochRecord {
///     epoch: 0, train_loss: 0.7, train_acc: None, val_loss: None, val_acc: None, lr: 0.1, seconds: 0.1,
/// });
/// let state = TrainState {
///     epochs_done: 1,
///     history,
///     schedule: None,
///     early_stopping: None,
///     best: BestState { monitor: Monitor::TrainLoss, value: None, epoch: None },
///     loader: LoaderState {
///         seed: 0, batch_size: 4, shuffle: true, drop_last: false, dataset_len: 8, num_batches: 2,
///     },
/// };
/// let dir = std::env::temp_dir().join("lamina_doc_checkpoints");
/// let ckpt = Checkpoints::new(&dir);
/// ckpt.save_last(&model, &opt, &state)?;
///
/// let mut fresh = Linear::builder(3, 2).seed(1).build(&dev)?;     // other weights
/// let mut opt2 = Sgd::new(SgdConfig { lr: 0.5, ..Default::default() })?;
/// assert_eq!(ckpt.load_last(&mut fresh, &mut opt2)?, state);
/// assert_eq!(fresh.weight.to_vec::<f32>()?, model.weight.to_vec::<f32>()?);
/// assert_eq!(opt2.learning_rate(), 0.1);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    /// The checkpoint directory `dir` (created at the first save).
    pub fn new(dir: impl Into<PathBuf>) -> Checkpoints {
        Checkpoints { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The commit point of the `last` checkpoint, `dir/last.json`.
    pub fn last_path(&self) -> PathBuf {
        self.dir.join("last.json")
    }

    /// The commit point of the `best` checkpoint, `dir/best.json`.
    pub fn best_path(&self) -> PathBuf {
        self.dir.join("best.json")
    }

    /// Whether a `last` checkpoint exists (not whether it is valid).
    pub fn has_last(&self) -> bool {
        self.last_path().is_file()
    }

    /// Writes `model`'s weights and random-stream positions, `optimizer`'s state and
    /// `state` as the `last` checkpoint, then deletes the files of the previous one.
    pub fn save_last<M: Module + ?Sized>(
        &self,
        model: &M,
        optimizer: &dyn Optimizer,
        state: &TrainState,
    ) -> Result<()> {
        atomic::create_dir(&self.dir)?;
        let stem = format!("last-e{:05}", state.epochs_done);
        let weights = self.save_weights(model, &format!("{stem}.safetensors"))?;
        // Binary: the JSON form took ~20 bytes per buffer element (9.5 MB of Adam state for
        // a 235k-parameter MLP, against 1.9 MB) and could not hold a non-finite value.
        let optim_name = format!("{stem}.optim.safetensors");
        let optim_bytes = optimizer.state()?.to_safetensors()?;
        atomic::write_atomic(&self.dir.join(&optim_name), &optim_bytes)?;
        let last = LastFile {
            format: FORMAT,
            weights,
            optimizer: FileRef::of(optim_name, &optim_bytes),
            optimizer_name: optimizer.name().to_string(),
            state: state.clone(),
            rng_state: Some(model.rng_state()),
        };
        self.commit(&self.last_path(), &last)?;
        self.prune();
        Ok(())
    }

    /// Writes `model`'s weights as the `best` checkpoint: epoch `epoch`, where `monitor`
    /// reached `value`.
    pub fn save_best<M: Module + ?Sized>(
        &self,
        model: &M,
        epoch: usize,
        monitor: Monitor,
        value: f64,
    ) -> Result<()> {
        atomic::create_dir(&self.dir)?;
        let weights = self.save_weights(model, &format!("best-e{epoch:05}.safetensors"))?;
        let best = BestFile {
            format: FORMAT,
            epoch,
            monitor,
            value,
            weights,
        };
        self.commit(&self.best_path(), &best)?;
        self.prune();
        Ok(())
    }

    /// Reads the `last` checkpoint's state without loading anything (to inspect a run).
    /// A state whose `epochs_done` disagrees with its history is an error.
    pub fn read_last(&self) -> Result<TrainState> {
        Ok(self.read_last_file()?.state)
    }

    /// `last.json`, checked to agree with itself: one history record per epoch done, in
    /// order. A resume continues from `epochs_done` and appends to the history, so a
    /// disagreement would silently skip or repeat epochs.
    fn read_last_file(&self) -> Result<LastFile> {
        let path = self.last_path();
        let last: LastFile = self.read_json(&path)?;
        let (done, history) = (last.state.epochs_done, &last.state.history);
        if done != history.len() {
            return Err(Error::checkpoint(
                &path,
                format!(
                    "epochs_done is {done} but its history has {} epochs",
                    history.len()
                ),
            ));
        }
        if let Some((i, r)) = history
            .epochs
            .iter()
            .enumerate()
            .find(|(i, r)| r.epoch != *i)
        {
            return Err(Error::checkpoint(
                &path,
                format!("history record {i} is for epoch {}, not epoch {i}", r.epoch),
            ));
        }
        Ok(last)
    }

    /// Loads the `last` checkpoint: the weights into `model` (in place, so parameter ids
    /// and an optimizer holding them stay valid) and its random-stream positions, the
    /// optimizer state into `optimizer`; returns the rest. Every part is checked against
    /// `last.json` first; the stream names must match the model's exactly.
    pub fn load_last<M: Module + ?Sized>(
        &self,
        model: &mut M,
        optimizer: &mut dyn Optimizer,
    ) -> Result<TrainState> {
        let last_path = self.last_path();
        let last = self.read_last_file()?;
        if last.optimizer_name != optimizer.name() {
            return Err(Error::checkpoint(
                &last_path,
                format!(
                    "it was written by a `{}` optimizer, and is being loaded into `{}`",
                    last.optimizer_name,
                    optimizer.name()
                ),
            ));
        }
        let weights_path = self.verified(&last_path, &last.weights)?.0;
        let (optim_path, optim_bytes) = self.verified(&last_path, &last.optimizer)?;
        let optim_state = if last.optimizer.file.ends_with(".json") {
            // Written before the state went binary.
            std::str::from_utf8(&optim_bytes)
                .map_err(|e| e.to_string())
                .and_then(|s| OptimizerState::from_json(s).map_err(|e| e.to_string()))
        } else {
            OptimizerState::from_safetensors(&optim_bytes).map_err(|e| e.to_string())
        }
        .map_err(|msg| Error::checkpoint(&optim_path, msg))?;
        // First, as it checks every name before writing: a mismatch leaves the model as
        // it was.
        if let Some(rng) = &last.rng_state {
            model
                .set_rng_state(rng)
                .map_err(|e| Error::checkpoint(&last_path, e.to_string()))?;
        }
        weights::load_safetensors(model, &weights_path)?;
        optimizer
            .load_state(optim_state)
            .map_err(|e| Error::checkpoint(&optim_path, e.to_string()))?;
        Ok(last.state)
    }

    /// The `best` checkpoint's epoch, monitor and value, if one was written.
    pub fn read_best(&self) -> Result<Option<(usize, Monitor, f64)>> {
        if !self.best_path().exists() {
            return Ok(None);
        }
        let best: BestFile = self.read_json(&self.best_path())?;
        Ok(Some((best.epoch, best.monitor, best.value)))
    }

    /// Loads the `best` checkpoint's weights into `model` in place; returns its epoch.
    pub fn load_best<M: Module + ?Sized>(&self, model: &mut M) -> Result<usize> {
        let best: BestFile = self.read_json(&self.best_path())?;
        let path = self.verified(&self.best_path(), &best.weights)?.0;
        weights::load_safetensors(model, &path)?;
        Ok(best.epoch)
    }

    /// The `best` checkpoint's tensors by parameter name, on `device`.
    pub fn best_tensors(&self, device: &Device) -> Result<Vec<(String, Tensor)>> {
        let best: BestFile = self.read_json(&self.best_path())?;
        let path = self.verified(&self.best_path(), &best.weights)?.0;
        Ok(weights::load_tensors(&path, device)?)
    }

    /// Copies the `best` checkpoint, if there is one, into `other` (its part first, then
    /// `best.json`, each atomically).
    pub fn copy_best_to(&self, other: &Checkpoints) -> Result<()> {
        if !self.best_path().exists() {
            return Ok(());
        }
        let best: BestFile = self.read_json(&self.best_path())?;
        let bytes = self.verified(&self.best_path(), &best.weights)?.1;
        atomic::create_dir(&other.dir)?;
        atomic::write_atomic(&other.dir.join(&best.weights.file), &bytes)?;
        other.commit(&other.best_path(), &best)?;
        other.prune();
        Ok(())
    }

    fn save_weights<M: Module + ?Sized>(&self, model: &M, name: &str) -> Result<FileRef> {
        let path = self.dir.join(name);
        weights::save_safetensors(model, &path)?;
        // Hash what is on disk, the bytes a later load will read.
        Ok(FileRef::of(name.to_string(), &atomic::read(&path)?))
    }

    fn commit<T: Serialize>(&self, path: &Path, value: &T) -> Result<()> {
        let json = serde_json::to_string_pretty(value)
            .map_err(|e| Error::checkpoint(path, format!("cannot serialise: {e}")))?;
        atomic::write_atomic(path, json.as_bytes())
    }

    fn read_json<T: serde::de::DeserializeOwned + HasFormat>(&self, path: &Path) -> Result<T> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::checkpoint(
                    path,
                    "the file does not exist (no checkpoint was written to this directory?)",
                ))
            }
            Err(source) => {
                return Err(Error::Io {
                    action: "read",
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let value: T =
            serde_json::from_slice(&bytes).map_err(|e| Error::checkpoint(path, e.to_string()))?;
        if value.format() != FORMAT {
            return Err(Error::checkpoint(
                path,
                format!(
                    "format version {} (this build reads version {FORMAT})",
                    value.format()
                ),
            ));
        }
        Ok(value)
    }

    /// Reads the part `r` names and checks its size and hash; returns its path and bytes.
    fn verified(&self, named_by: &Path, r: &FileRef) -> Result<(PathBuf, Vec<u8>)> {
        let simple = Path::new(&r.file)
            .file_name()
            .is_some_and(|n| n == r.file.as_str());
        if !simple {
            return Err(Error::checkpoint(
                named_by,
                format!(
                    "names the part `{}`, which is not a plain file name",
                    r.file
                ),
            ));
        }
        let path = self.dir.join(&r.file);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                return Err(Error::checkpoint(
                    &path,
                    format!(
                        "cannot read this part, named by {}: {e}",
                        named_by.display()
                    ),
                ))
            }
        };
        if bytes.len() as u64 != r.bytes || fnv1a64(&bytes) != r.fnv1a64 {
            return Err(Error::checkpoint(
                &path,
                format!(
                    "the file ({} bytes, hash {}) is not the one {} names ({} bytes, hash {}): \
                     it was replaced or damaged",
                    bytes.len(),
                    fnv1a64(&bytes),
                    named_by.display(),
                    r.bytes,
                    r.fnv1a64
                ),
            ));
        }
        Ok((path, bytes))
    }

    /// Deletes checkpoint parts that neither JSON names any more. Best effort: if either
    /// JSON cannot be read, nothing is deleted.
    fn prune(&self) {
        let mut keep = Vec::new();
        for path in [self.last_path(), self.best_path()] {
            let Ok(bytes) = fs::read(&path) else {
                if path.exists() {
                    return;
                }
                continue;
            };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                return;
            };
            for part in ["weights", "optimizer"] {
                if let Some(f) = v
                    .get(part)
                    .and_then(|p| p.get("file"))
                    .and_then(|f| f.as_str())
                {
                    keep.push(f.to_string());
                }
            }
        }
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = (name.starts_with("last-e") || name.starts_with("best-e"))
                && (name.ends_with(".safetensors") || name.ends_with(".optim.json"));
            if ours && !keep.contains(&name) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// The `format` field both JSON files carry.
trait HasFormat {
    fn format(&self) -> u32;
}

impl HasFormat for LastFile {
    fn format(&self) -> u32 {
        self.format
    }
}

impl HasFormat for BestFile {
    fn format(&self) -> u32 {
        self.format
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), "cbf29ce484222325");
        assert_eq!(fnv1a64(b"a"), "af63dc4c8601ec8c");
        assert_eq!(fnv1a64(b"foobar"), "85944171f73967e8");
    }
}

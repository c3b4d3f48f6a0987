//! A text corpus to tokens for language models: a character vocabulary ([`CharVocab`]),
//! byte-level tokens ([`encode_bytes`]), and the `(input, target)` windows of next-token
//! prediction ([`next_token_pairs`]), or the same windows as a [`Dataset`] that a
//! `DataLoader` batches and shuffles ([`NextTokenWindows`]).
//!
//! Tokens are `u32` ids on the host; the tensors handed to a model are `I64`, the dtype
//! `Embedding` and cross-entropy take. A target window is its input window shifted by one
//! token, so a window starting at `s` needs tokens `s ..= s + seq_len`.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use lamina_tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::dataset::{check_index, Batch, Dataset, Sample};
use crate::{Error, Result};

/// Reads a UTF-8 text file, plain or gzip-compressed (recognised by the gzip magic bytes,
/// whatever the name). A missing file, a corrupt gzip stream or invalid UTF-8 is
/// [`Error::Io`] naming the file (and, for bad UTF-8, the byte offset in the text).
pub fn read_text(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    let io_err = |source| Error::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = std::fs::read(path).map_err(io_err)?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = Vec::with_capacity(bytes.len() * 3);
        flate2::read::MultiGzDecoder::new(bytes.as_slice())
            .read_to_end(&mut text)
            .map_err(io_err)?;
        bytes = text;
    }
    String::from_utf8(bytes).map_err(|e| {
        io_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to()),
        ))
    })
}

/// A character vocabulary: the distinct characters of a text, sorted, with token id =
/// position. Serialises as the list of characters.
///
/// ```
/// use lamina_data::text::CharVocab;
/// let vocab = CharVocab::from_text("hello");
/// assert_eq!(vocab.chars(), &['e', 'h', 'l', 'o']);
/// assert_eq!(vocab.encode("hole")?, vec![1, 3, 2, 0]);
/// assert_eq!(vocab.decode(&[1, 0, 2, 2, 3])?, "hello");
/// assert!(vocab.encode("help").is_err()); // 'p' is not in the vocabulary
/// # Ok::<(), lamina_data::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<char>", into = "Vec<char>")]
pub struct CharVocab {
    /// Sorted and distinct: the invariant `id` relies on.
    chars: Vec<char>,
}

impl From<Vec<char>> for CharVocab {
    fn from(chars: Vec<char>) -> Self {
        CharVocab::from_chars(chars)
    }
}

impl From<CharVocab> for Vec<char> {
    fn from(vocab: CharVocab) -> Self {
        vocab.chars
    }
}

impl CharVocab {
    /// The distinct characters of `text`, sorted by code point.
    pub fn from_text(text: &str) -> CharVocab {
        CharVocab::from_chars(text.chars())
    }

    /// A vocabulary of the given characters (sorted, duplicates removed).
    pub fn from_chars(chars: impl IntoIterator<Item = char>) -> CharVocab {
        let mut chars: Vec<char> = chars.into_iter().collect();
        chars.sort_unstable();
        chars.dedup();
        CharVocab { chars }
    }

    /// Number of characters (token ids are `0..len`).
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// True for the vocabulary of an empty text.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters, in token id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The token id of `c`, if it is in the vocabulary.
    pub fn id(&self, c: char) -> Option<u32> {
        self.chars.binary_search(&c).ok().map(|i| i as u32)
    }

    /// Token ids of `text`; a character outside the vocabulary is an error naming it and
    /// its byte offset.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        text.char_indices()
            .map(|(at, c)| {
                self.id(c).ok_or_else(|| Error::Invalid {
                    op: "CharVocab::encode",
                    msg: format!(
                        "character {c:?} (U+{:04X}) at byte {at} is not in the vocabulary \
                         of {} characters",
                        c as u32,
                        self.len()
                    ),
                })
            })
            .collect()
    }

    /// The text of token ids; an id `>= len` is an error naming its position.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        ids.iter()
            .enumerate()
            .map(|(i, &id)| {
                self.chars
                    .get(id as usize)
                    .copied()
                    .ok_or_else(|| Error::Invalid {
                        op: "CharVocab::decode",
                        msg: format!(
                            "token {id} at position {i} is out of range for a vocabulary \
                             of {} characters",
                            self.len()
                        ),
                    })
            })
            .collect()
    }
}

/// Byte-level tokens: each UTF-8 byte of `text` as an id in `0..256`.
pub fn encode_bytes(text: &str) -> Vec<u32> {
    text.bytes().map(u32::from).collect()
}

/// The text of byte-level tokens. An id `>= 256` is an error; byte sequences that are not
/// valid UTF-8 (a model's sample may cut a character) decode to U+FFFD.
pub fn decode_bytes(ids: &[u32]) -> Result<String> {
    let bytes = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            u8::try_from(id).map_err(|_| Error::Invalid {
                op: "decode_bytes",
                msg: format!("token {id} at position {i} is not a byte (0..256)"),
            })
        })
        .collect::<Result<Vec<u8>>>()?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Start positions of the next-token windows over `n_tokens` tokens: `0, stride,
/// 2 * stride, ...` while `start + seq_len + 1 <= n_tokens` (the target window reaches
/// one token further than the input). `stride = seq_len` gives non-overlapping inputs.
pub fn windows(n_tokens: usize, seq_len: usize, stride: usize) -> Result<Vec<usize>> {
    if seq_len == 0 || stride == 0 {
        return Err(Error::Invalid {
            op: "windows",
            msg: format!("seq_len and stride must be positive, got {seq_len} and {stride}"),
        });
    }
    let last = match n_tokens.checked_sub(seq_len + 1) {
        Some(last) => last,
        None => return Ok(Vec::new()),
    };
    Ok((0..=last).step_by(stride).collect())
}

/// `(inputs, targets)`, both `I64 [starts.len(), seq_len]`: row `k` of `inputs` is
/// `tokens[s .. s + seq_len]` and of `targets` `tokens[s + 1 ..= s + seq_len]` for
/// `s = starts[k]`. For random batches, draw `starts` from `0..=tokens.len() - seq_len - 1`.
pub fn next_token_batch(
    tokens: &[u32],
    starts: &[usize],
    seq_len: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    if let Some((k, &s)) = starts.iter().enumerate().find(|(_, &s)| {
        s.checked_add(seq_len + 1)
            .is_none_or(|end| end > tokens.len())
    }) {
        return Err(Error::Invalid {
            op: "next_token_batch",
            msg: format!(
                "window {k} starts at {s}: it needs tokens {s}..={}, the corpus has {}",
                s.saturating_add(seq_len),
                tokens.len()
            ),
        });
    }
    let mut inputs = Vec::with_capacity(starts.len() * seq_len);
    let mut targets = Vec::with_capacity(starts.len() * seq_len);
    for &s in starts {
        inputs.extend(tokens[s..s + seq_len].iter().map(|&t| t as i64));
        targets.extend(tokens[s + 1..s + seq_len + 1].iter().map(|&t| t as i64));
    }
    let shape = [starts.len(), seq_len];
    Ok((
        Tensor::from_vec(inputs, shape, device)?,
        Tensor::from_vec(targets, shape, device)?,
    ))
}

/// Every window of [`windows`] as `(inputs, targets)`, both `I64 [n, seq_len]`. A corpus
/// too short for one window is an error.
pub fn next_token_pairs(
    tokens: &[u32],
    seq_len: usize,
    stride: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let starts = windows(tokens.len(), seq_len, stride)?;
    if starts.is_empty() {
        return Err(Error::Invalid {
            op: "next_token_pairs",
            msg: format!(
                "{} tokens are too few for one window of seq_len {seq_len} plus its target",
                tokens.len()
            ),
        });
    }
    next_token_batch(tokens, &starts, seq_len, device)
}

/// The next-token windows of a token sequence as a [`Dataset`]: sample `k` is the window
/// starting at `k · stride` ([`windows`]), input `tokens[s .. s + seq_len]` and target
/// `tokens[s + 1 ..= s + seq_len]`, both `I64 [seq_len]`; a batch is `I64 [B, seq_len]`
/// for both.
///
/// The tokens are shared (`Arc<[u32]>`), not copied into one tensor per window: windows
/// that overlap (`stride < seq_len`) cost nothing extra, and a batch is built with one
/// copy of its rows ([`next_token_batch`]).
///
/// ```
/// use std::sync::Arc;
/// use lamina_data::text::NextTokenWindows;
/// use lamina_data::{DataLoader, Dataset, LoaderConfig};
/// # fn main() -> lamina_data::Result<()> {
/// let dev = lamina_backend_cpu::device();
/// let tokens: Vec<u32> = (0..10).collect();
/// let data = NextTokenWindows::new(tokens, 4, 2, &dev)?; // starts 0, 2, 4
/// assert_eq!(data.len(), 3);
/// let s = data.get(1)?;
/// assert_eq!(s.input.to_vec::<i64>()?, vec![2, 3, 4, 5]);
/// assert_eq!(s.target.to_vec::<i64>()?, vec![3, 4, 5, 6]);
/// let config = LoaderConfig { batch_size: 2, shuffle: true, seed: Some(0), ..Default::default() };
/// let loader = DataLoader::new(Arc::new(data), config)?;
/// let batch = loader.epoch(0).next().unwrap()?;
/// assert_eq!(batch.inputs.dims(), &[2, 4]);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct NextTokenWindows {
    tokens: Arc<[u32]>,
    seq_len: usize,
    stride: usize,
    len: usize,
    device: Device,
}

impl NextTokenWindows {
    /// The windows of `seq_len` tokens (plus the target's one more) every `stride` tokens
    /// of `tokens` (a `Vec<u32>` or an `Arc<[u32]>` to share), built on `device`. A zero
    /// `seq_len` or `stride`, or a corpus too short for one window (fewer than
    /// `seq_len + 1` tokens), is [`Error::Invalid`].
    pub fn new(
        tokens: impl Into<Arc<[u32]>>,
        seq_len: usize,
        stride: usize,
        device: &Device,
    ) -> Result<Self> {
        const OP: &str = "NextTokenWindows::new";
        let tokens = tokens.into();
        if seq_len == 0 || stride == 0 {
            return Err(Error::Invalid {
                op: OP,
                msg: format!("seq_len and stride must be positive, got {seq_len} and {stride}"),
            });
        }
        let len = match seq_len
            .checked_add(1)
            .and_then(|need| tokens.len().checked_sub(need))
        {
            Some(last) => last / stride + 1,
            None => {
                return Err(Error::Invalid {
                    op: OP,
                    msg: format!(
                        "{} tokens are too few for one window of seq_len {seq_len} plus its \
                         target ({} tokens)",
                        tokens.len(),
                        seq_len.saturating_add(1)
                    ),
                })
            }
        };
        Ok(NextTokenWindows {
            tokens,
            seq_len,
            stride,
            len,
            device: *device,
        })
    }

    /// The whole token sequence (shared).
    pub fn tokens(&self) -> &Arc<[u32]> {
        &self.tokens
    }

    /// Tokens per input (and per target) window.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// Tokens between the starts of consecutive windows.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Where window `index` starts in [`tokens`](NextTokenWindows::tokens), if it exists.
    pub fn start(&self, index: usize) -> Option<usize> {
        (index < self.len).then(|| index * self.stride)
    }
}

impl std::fmt::Debug for NextTokenWindows {
    /// The sizes, not the (possibly millions of) tokens.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NextTokenWindows({} windows of seq_len {}, stride {}, over {} tokens on {})",
            self.len,
            self.seq_len,
            self.stride,
            self.tokens.len(),
            self.device
        )
    }
}

impl Dataset for NextTokenWindows {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, index: usize) -> Result<Sample> {
        check_index("NextTokenWindows::get", index, self.len)?;
        let s = index * self.stride;
        let row = |from: usize| -> Result<Tensor> {
            let v = self.tokens[from..from + self.seq_len]
                .iter()
                .map(|&t| i64::from(t))
                .collect();
            Ok(Tensor::from_vec(v, [self.seq_len], &self.device)?)
        };
        Ok(Sample::new(row(s)?, row(s + 1)?))
    }

    fn get_batch(&self, indices: &[usize]) -> Result<Batch> {
        const OP: &str = "NextTokenWindows::get_batch";
        if indices.is_empty() {
            return Err(Error::Invalid {
                op: OP,
                msg: "a batch needs at least one index".into(),
            });
        }
        let mut starts = Vec::with_capacity(indices.len());
        for &i in indices {
            check_index(OP, i, self.len)?;
            starts.push(i * self.stride);
        }
        let (inputs, targets) =
            next_token_batch(&self.tokens, &starts, self.seq_len, &self.device)?;
        Ok(Batch {
            inputs,
            targets,
            indices: indices.to_vec(),
        })
    }
}

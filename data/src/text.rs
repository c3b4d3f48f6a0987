//! A text corpus to tokens for language models: a character vocabulary ([`CharVocab`]),
//! byte-level tokens ([`encode_bytes`]), and the `(input, target)` windows of next-token
//! prediction ([`next_token_pairs`]).
//!
//! Tokens are `u32` ids on the host; the tensors handed to a model are `I64`, the dtype
//! `Embedding` and cross-entropy take. A target window is its input window shifted by one
//! token, so a window starting at `s` needs tokens `s ..= s + seq_len`.

use std::path::Path;

use lamina_tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Reads a UTF-8 text file. A missing file or invalid UTF-8 is [`Error::Io`] naming the
/// file (and, for bad UTF-8, the byte offset).
pub fn read_text(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| Error::Io {
        action: "read",
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to()),
        ),
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

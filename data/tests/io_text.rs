//! Text corpora to tokens: the bundled Shakespeare excerpt, vocabularies, byte tokens and
//! next-token windows checked by hand.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use lamina_data::text::{
    decode_bytes, encode_bytes, next_token_batch, next_token_pairs, read_text, windows, CharVocab,
    NextTokenWindows,
};
use lamina_data::{DataLoader, Dataset, Error, LoaderConfig};

mod common;
use common::temp_dir;

fn excerpt() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/shakespeare/excerpt.txt")
}

#[test]
fn shakespeare_excerpt_round_trips() {
    let text = read_text(excerpt()).unwrap();
    assert_eq!(text.len(), 20_000);
    assert!(text.starts_with("ALL'S WELL THAT ENDS WELL\n\nby William Shakespeare\n"));
    let vocab = CharVocab::from_text(&text);
    // 64 distinct characters, counted with Python's set().
    assert_eq!(vocab.len(), 64);
    assert_eq!(vocab.chars()[..5], ['\n', ' ', '!', '&', '\'']);
    assert!(vocab.chars().windows(2).all(|w| w[0] < w[1]));
    let ids = vocab.encode(&text).unwrap();
    assert_eq!(ids.len(), 20_000);
    assert!(ids.iter().all(|&i| (i as usize) < vocab.len()));
    // '\n' is id 0 and occurs 686 times; 'e' occurs 1681 times (Python str.count).
    assert_eq!(ids.iter().filter(|&&i| i == 0).count(), 686);
    let e = vocab.id('e').unwrap();
    assert_eq!(ids.iter().filter(|&&i| i == e).count(), 1681);
    assert_eq!(vocab.decode(&ids).unwrap(), text);
}

#[test]
fn vocab_by_hand_and_its_errors() {
    let vocab = CharVocab::from_text("banana bread");
    assert_eq!(vocab.chars(), [' ', 'a', 'b', 'd', 'e', 'n', 'r']);
    assert_eq!(vocab.encode("bad bean").unwrap(), [2, 1, 3, 0, 2, 4, 1, 5]);
    let err = vocab.encode("bandé x").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Invalid { .. }));
    assert!(
        msg.contains("'é'") && msg.contains("U+00E9") && msg.contains("at byte 4"),
        "{msg}"
    );
    let msg = vocab.decode(&[1, 7]).unwrap_err().to_string();
    assert!(msg.contains("token 7 at position 1"), "{msg}");
    assert!(CharVocab::from_text("").is_empty());

    let json = serde_json::to_string(&vocab).unwrap();
    assert_eq!(json, r#"[" ","a","b","d","e","n","r"]"#);
    // Deserialising restores the sorted, distinct invariant.
    let back: CharVocab = serde_json::from_str(r#"["r","a","a"," "]"#).unwrap();
    assert_eq!(back.chars(), [' ', 'a', 'r']);
    assert_eq!(serde_json::from_str::<CharVocab>(&json).unwrap(), vocab);
}

#[test]
fn byte_tokens() {
    let ids = encode_bytes("aé");
    assert_eq!(ids, [0x61, 0xC3, 0xA9]);
    assert_eq!(decode_bytes(&ids).unwrap(), "aé");
    // A cut character decodes to the replacement character rather than failing.
    assert_eq!(decode_bytes(&ids[..2]).unwrap(), "a\u{FFFD}");
    assert!(decode_bytes(&[65, 256])
        .unwrap_err()
        .to_string()
        .contains("token 256 at position 1"));
}

#[test]
fn window_starts() {
    assert_eq!(windows(10, 3, 2).unwrap(), [0, 2, 4, 6]);
    assert_eq!(windows(10, 3, 3).unwrap(), [0, 3, 6]);
    assert_eq!(windows(4, 3, 1).unwrap(), [0]);
    assert!(windows(3, 3, 1).unwrap().is_empty());
    assert!(windows(0, 3, 1).unwrap().is_empty());
    assert!(windows(10, 0, 1).is_err());
    assert!(windows(10, 3, 0).is_err());
}

#[test]
fn next_token_pairs_by_hand() {
    let dev = lamina_backend_cpu::device();
    let tokens: Vec<u32> = (10..18).collect(); // 10 11 ... 17
    let (x, y) = next_token_pairs(&tokens, 3, 2, &dev).unwrap();
    assert_eq!(x.dims(), [3, 3]);
    assert_eq!(
        x.to_vec::<i64>().unwrap(),
        [10, 11, 12, 12, 13, 14, 14, 15, 16]
    );
    assert_eq!(
        y.to_vec::<i64>().unwrap(),
        [11, 12, 13, 13, 14, 15, 15, 16, 17]
    );
    let msg = next_token_pairs(&tokens[..3], 3, 1, &dev)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("3 tokens are too few"), "{msg}");

    let (x, y) = next_token_batch(&tokens, &[3, 0], 2, &dev).unwrap();
    assert_eq!(x.to_vec::<i64>().unwrap(), [13, 14, 10, 11]);
    assert_eq!(y.to_vec::<i64>().unwrap(), [14, 15, 11, 12]);
    let msg = next_token_batch(&tokens, &[0, 6], 2, &dev)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("window 1 starts at 6"), "{msg}");
    assert!(next_token_batch(&tokens, &[usize::MAX], 2, &dev).is_err());
}

#[test]
fn read_text_errors_name_the_file() {
    let dir = temp_dir("read");
    let err = read_text(dir.join("absent.txt")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }) && err.to_string().contains("absent.txt"));
    let path = dir.join("latin1.txt");
    std::fs::write(&path, b"abc\xe9def").unwrap();
    let msg = read_text(&path).unwrap_err().to_string();
    assert!(
        msg.contains("latin1.txt") && msg.contains("invalid UTF-8 at byte 3"),
        "{msg}"
    );
}

#[test]
fn the_full_corpus_reads_through_gzip_and_matches_its_index() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/shakespeare");
    let text = read_text(dir.join("shakespeare_plays.txt.gz")).unwrap();
    // Sizes and symbol count from the data set's documentation (Python len() and set()).
    assert_eq!(text.len(), 4_850_380);
    assert!(text.is_ascii());
    assert_eq!(CharVocab::from_text(&text).len(), 83);
    // The excerpt is the corpus's first 20,000 bytes.
    assert_eq!(&text[..20_000], read_text(excerpt()).unwrap());
    // plays.tsv: id, title, byte_offset, byte_length; the ranges tile the text with one
    // separator byte between plays, and each opens with its title line and the author.
    let index = read_text(dir.join("plays.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = index
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 37);
    let mut next = 0;
    for row in &rows {
        let (offset, len): (usize, usize) = (row[2].parse().unwrap(), row[3].parse().unwrap());
        assert_eq!(offset, next, "{row:?}");
        let lines: Vec<&str> = text[offset..offset + len].lines().take(3).collect();
        assert_eq!(lines[2], "by William Shakespeare", "{row:?}");
        next = offset + len + 1;
    }
    assert_eq!(next, text.len() + 1);
}

#[test]
fn a_truncated_gzip_file_is_an_error_naming_it() {
    let dir = temp_dir("gz");
    let gz = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../datasets/shakespeare/shakespeare_plays.txt.gz"),
    )
    .unwrap();
    let path = dir.join("cut.txt.gz");
    std::fs::write(&path, &gz[..gz.len() / 2]).unwrap();
    let err = read_text(&path).unwrap_err();
    assert!(
        matches!(err, Error::Io { .. }) && err.to_string().contains("cut.txt.gz"),
        "{err}"
    );
}

/// A token sequence that is not its own index (so a slice off by one shows).
fn corpus(n: usize) -> Vec<u32> {
    (0..n as u32).map(|i| (i * 7 + 3) % 31).collect()
}

#[test]
fn next_token_windows_items_are_the_slices() {
    let dev = lamina_backend_cpu::device();
    let tokens = corpus(23);
    for (seq_len, stride) in [(4, 4), (4, 1), (5, 3), (22, 1), (1, 7)] {
        let data = NextTokenWindows::new(tokens.clone(), seq_len, stride, &dev).unwrap();
        // Windows by hand: starts 0, stride, ... while start + seq_len + 1 <= 23.
        let starts: Vec<usize> = (0..23)
            .step_by(stride)
            .filter(|s| s + seq_len < 23)
            .collect();
        assert_eq!(
            data.len(),
            starts.len(),
            "seq_len {seq_len} stride {stride}"
        );
        assert_eq!(starts, windows(23, seq_len, stride).unwrap());
        for (k, &s) in starts.iter().enumerate() {
            assert_eq!(data.start(k), Some(s));
            let item = data.get(k).unwrap();
            assert_eq!(item.input.dtype(), lamina_tensor::DType::I64);
            assert_eq!(item.input.dims(), &[seq_len]);
            let want: Vec<i64> = tokens[s..s + seq_len].iter().map(|&t| t as i64).collect();
            let next: Vec<i64> = tokens[s + 1..s + seq_len + 1]
                .iter()
                .map(|&t| t as i64)
                .collect();
            assert_eq!(item.input.to_vec::<i64>().unwrap(), want);
            assert_eq!(item.target.to_vec::<i64>().unwrap(), next);
        }
        assert_eq!(data.start(starts.len()), None);
        let m = data.get(starts.len()).unwrap_err().to_string();
        assert!(m.contains(&format!("index {}", starts.len())), "{m}");
    }
}

#[test]
fn next_token_windows_share_tokens_and_batch_like_next_token_batch() {
    let dev = lamina_backend_cpu::device();
    let tokens: Arc<[u32]> = corpus(40).into();
    let data = NextTokenWindows::new(tokens.clone(), 6, 2, &dev).unwrap();
    assert!(Arc::ptr_eq(data.tokens(), &tokens));
    let idx = [3, 0, 7, 3];
    let b = data.get_batch(&idx).unwrap();
    assert_eq!(b.indices, idx);
    let starts: Vec<usize> = idx.iter().map(|i| i * 2).collect();
    let (x, y) = next_token_batch(&tokens, &starts, 6, &dev).unwrap();
    assert_eq!(
        b.inputs.to_vec2::<i64>().unwrap(),
        x.to_vec2::<i64>().unwrap()
    );
    assert_eq!(
        b.targets.to_vec2::<i64>().unwrap(),
        y.to_vec2::<i64>().unwrap()
    );
    // The generic stack of `get`s agrees with the one-copy batch.
    let slow = lamina_data::dataset::stack_samples(&data, &idx).unwrap();
    assert_eq!(
        slow.inputs.to_vec2::<i64>().unwrap(),
        x.to_vec2::<i64>().unwrap()
    );
    assert!(data.get_batch(&[]).is_err());
    assert!(data.get_batch(&[0, data.len()]).is_err());
}

#[test]
fn next_token_windows_through_a_shuffling_loader() {
    let dev = lamina_backend_cpu::device();
    let tokens = corpus(50);
    let data = Arc::new(NextTokenWindows::new(tokens.clone(), 8, 3, &dev).unwrap());
    let n = data.len(); // starts 0, 3, ..., 39 (39 + 9 <= 50): 14 windows
    assert_eq!(n, 14);
    let config = LoaderConfig {
        batch_size: 4,
        shuffle: true,
        seed: Some(3),
        ..Default::default()
    };
    let loader = DataLoader::new(data.clone(), config).unwrap();
    let mut seen = Vec::new();
    for batch in loader.epoch(0) {
        let batch = batch.unwrap();
        let rows = batch.len();
        for t in [&batch.inputs, &batch.targets] {
            assert_eq!(t.dtype(), lamina_tensor::DType::I64);
            assert_eq!(t.dims(), &[rows, 8]);
        }
        let xs = batch.inputs.to_vec2::<i64>().unwrap();
        let ys = batch.targets.to_vec2::<i64>().unwrap();
        for (r, &k) in batch.indices.iter().enumerate() {
            let s = 3 * k;
            let want: Vec<i64> = tokens[s..s + 8].iter().map(|&t| t as i64).collect();
            assert_eq!(xs[r], want);
            assert_eq!(ys[r][..7], want[1..]);
            assert_eq!(ys[r][7], tokens[s + 8] as i64);
        }
        seen.extend(batch.indices);
    }
    assert_ne!(seen, (0..n).collect::<Vec<_>>(), "shuffled");
    seen.sort();
    assert_eq!(seen, (0..n).collect::<Vec<_>>());
}

#[test]
fn next_token_windows_errors() {
    let dev = lamina_backend_cpu::device();
    for (seq_len, stride) in [(0, 1), (3, 0)] {
        let m = NextTokenWindows::new(corpus(10), seq_len, stride, &dev)
            .unwrap_err()
            .to_string();
        assert!(m.contains("must be positive"), "{m}");
    }
    // 10 tokens fit seq_len 9 (one window) but not seq_len 10.
    assert_eq!(
        NextTokenWindows::new(corpus(10), 9, 5, &dev).unwrap().len(),
        1
    );
    let m = NextTokenWindows::new(corpus(10), 10, 1, &dev)
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("10 tokens are too few") && m.contains("seq_len 10"),
        "{m}"
    );
    assert!(NextTokenWindows::new(Vec::new(), 1, 1, &dev).is_err());
    assert!(NextTokenWindows::new(corpus(3), usize::MAX, 1, &dev).is_err());
}

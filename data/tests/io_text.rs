//! Text corpora to tokens: the bundled Shakespeare excerpt, vocabularies, byte tokens and
//! next-token windows checked by hand.

use std::path::{Path, PathBuf};

use lamina_data::text::{
    decode_bytes, encode_bytes, next_token_batch, next_token_pairs, read_text, windows, CharVocab,
};
use lamina_data::Error;

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

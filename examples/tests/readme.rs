//! The README stays true: the "Your own data" program is
//! `examples/src/bin/own_data.rs` character for character, and running that binary prints
//! the output the README shows (the same lines; every number within 0.01, as another CPU's
//! SIMD path may round a last digit differently); the model summary under "Two commands"
//! is what `mnist_cnn` prints.

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The fenced block of kind `fence` (e.g. "```rust") that follows `heading` in the README.
fn block_after(readme: &str, heading: &str, fence: &str) -> String {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README.md has no heading {heading:?}"));
    let rest = &readme[start..];
    let open = rest
        .find(&format!("{fence}\n"))
        .unwrap_or_else(|| panic!("no {fence} block after {heading:?}"));
    let body = &rest[open + fence.len() + 1..];
    let close = body.find("\n```").expect("an unclosed block");
    body[..close + 1].to_string()
}

/// The text with every number replaced by `#`, and the numbers.
fn split_numbers(text: &str) -> (String, Vec<f64>) {
    let mut skeleton = String::new();
    let mut numbers = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_ascii_digit() {
            let mut end = i + 1;
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_digit() || d == '.' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            numbers.push(
                text[i..end]
                    .trim_end_matches('.')
                    .parse()
                    .expect("a number"),
            );
            skeleton.push('#');
        } else {
            skeleton.push(c);
        }
    }
    (skeleton, numbers)
}

#[test]
fn the_readme_shows_the_own_data_program_and_its_output() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let source =
        std::fs::read_to_string(repo().join("examples/src/bin/own_data.rs")).expect("own_data.rs");
    let shown = block_after(&readme, "## Your own data", "```rust,no_run");
    assert_eq!(
        shown, source,
        "README's \"Your own data\" program differs from examples/src/bin/own_data.rs"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_own_data"))
        .current_dir(repo())
        .output()
        .expect("run own_data");
    assert!(
        out.status.success(),
        "own_data failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).expect("UTF-8 output");
    let expected = block_after(&readme, "## Your own data", "```text");
    let (want_text, want) = split_numbers(&expected);
    let (got_text, got) = split_numbers(&printed);
    assert_eq!(
        got_text, want_text,
        "own_data printed other lines than the README shows:\n{printed}"
    );
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g - w).abs() <= 0.01,
            "own_data printed {g} where the README shows {w}:\n{printed}"
        );
    }
}

#[test]
fn numbers_are_split_from_text() {
    let (t, n) = split_numbers("accuracy: 0.9737 ± 0.0136 (569 rows).");
    assert_eq!(t, "accuracy: # ± # (# rows).");
    assert_eq!(n, [0.9737, 0.0136, 569.0]);
}

#[test]
fn the_readme_shows_the_cnn_summary_mnist_cnn_prints() {
    use lamina::nn::summary;
    use lamina::prelude::*;
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let shown = block_after(&readme, "## Two commands", "```text");
    let dev = Device::cpu();
    let mut model = lamina_examples::mnist::cnn(0, &dev).expect("the CNN builds");
    let printed = summary(&mut model, &[1, 1, 28, 28], &dev)
        .expect("summary")
        .to_string();
    // The README's copy drops trailing spaces.
    let trimmed: Vec<&str> = printed.lines().map(str::trim_end).collect();
    let shown: Vec<&str> = shown.lines().collect();
    assert_eq!(
        shown, trimmed,
        "README's summary differs from what mnist_cnn prints"
    );
}

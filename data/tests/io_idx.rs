//! IDX and MNIST: the bundled MNIST files against numbers computed independently (Python's
//! gzip module) and the documented label histograms, and broken IDX files made in a temp
//! dir, each with its own error.

use std::io::Write;
use std::path::{Path, PathBuf};

use lamina_data::idx::{read_idx, read_idx_prefix, IdxData, Mnist, MnistSplit};
use lamina_data::Error;
use lamina_tensor::DType;

mod common;
use common::temp_dir;

fn mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/mnist")
}

/// An IDX file's bytes: magic `00 00 type rank`, big-endian dims, then `body`.
fn idx_bytes(type_code: u8, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, type_code, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The message of an `Error::Idx`, failing on any other result.
fn idx_msg(result: lamina_data::Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(e @ Error::Idx { .. }) => e.to_string(),
        other => panic!("expected Error::Idx, got {other:?}"),
    }
}

fn histogram(labels: &[i64]) -> Vec<usize> {
    let mut h = vec![0; 10];
    for &l in labels {
        h[l as usize] += 1;
    }
    h
}

const TEST_HISTOGRAM: [usize; 10] = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];

#[test]
fn t10k_files_match_reference() {
    let labels = read_idx(mnist_dir().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    assert_eq!(labels.dims, [10000]);
    let IdxData::U8(labels) = labels.data else {
        panic!("labels are u8")
    };
    assert_eq!(labels[0], 7);
    let labels: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    assert_eq!(histogram(&labels), TEST_HISTOGRAM);

    let images = read_idx(mnist_dir().join("t10k-images-idx3-ubyte.gz")).unwrap();
    assert_eq!(images.dims, [10000, 28, 28]);
    let IdxData::U8(pixels) = images.data else {
        panic!("images are u8")
    };
    assert_eq!(pixels.len(), 7_840_000);
    // Reference values from Python's gzip module on the same file.
    let sum = |p: &[u8]| p.iter().map(|&b| b as u64).sum::<u64>();
    assert_eq!(sum(&pixels), 264_923_200);
    assert_eq!(sum(&pixels[..784]), 18_454);
    assert_eq!(pixels[..784].iter().filter(|&&b| b != 0).count(), 116);
    assert_eq!(pixels[14 * 28 + 16..14 * 28 + 20], [59, 249, 254, 62]);
}

#[test]
fn mnist_test_split_as_tensors() {
    let dev = lamina_backend_cpu::device();
    let (x, y) = Mnist::load_split(mnist_dir(), MnistSplit::Test, None, &dev).unwrap();
    assert_eq!((x.dtype(), x.dims()), (DType::F32, &[10000, 784][..]));
    assert_eq!((y.dtype(), y.dims()), (DType::I64, &[10000][..]));
    assert_eq!(histogram(&y.to_vec::<i64>().unwrap()), TEST_HISTOGRAM);
    let x = x.to_vec::<f32>().unwrap();
    assert!(x.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert_eq!(x.iter().cloned().fold(0.0, f32::max), 1.0);
    // Pixel 14*28+17 of image 0 is 249 in the file.
    assert_eq!(x[14 * 28 + 17], 249.0 / 255.0);
    let total: f64 = x.iter().map(|&v| v as f64).sum();
    assert!((total - 264_923_200.0 / 255.0).abs() < 1.0, "{total}");
}

#[test]
fn mnist_load_limit_reads_a_prefix() {
    let dev = lamina_backend_cpu::device();
    let m = Mnist::load_limit(mnist_dir(), 12, 3, &dev).unwrap();
    assert_eq!(m.train_images.dims(), [12, 784]);
    assert_eq!(m.test_images.dims(), [3, 784]);
    assert_eq!(
        m.train_labels.to_vec::<i64>().unwrap(),
        [5, 0, 4, 1, 9, 2, 1, 3, 1, 4, 3, 5]
    );
    assert_eq!(m.test_labels.to_vec::<i64>().unwrap()[0], 7);
    let first: f64 = m.train_images.to_vec::<f32>().unwrap()[..784]
        .iter()
        .map(|&v| v as f64 * 255.0)
        .sum();
    assert!((first - 27_525.0).abs() < 1e-2, "{first}");

    let prefix = read_idx_prefix(mnist_dir().join("t10k-labels-idx1-ubyte.gz"), 5).unwrap();
    assert_eq!(prefix.dims, [5]);
    assert_eq!(prefix.data, IdxData::U8(vec![7, 2, 1, 0, 4]));
    // Asking for more than there is gives all of it.
    let all = read_idx_prefix(mnist_dir().join("t10k-labels-idx1-ubyte.gz"), 1 << 40).unwrap();
    assert_eq!(all.dims, [10000]);
}

#[test]
fn plain_and_gzip_files_read_the_same() {
    let dir = temp_dir("plain");
    let raw = idx_bytes(0x08, &[2, 3], &[1, 2, 3, 4, 5, 6]);
    let a = read_idx(write(&dir, "a.idx", &raw)).unwrap();
    let b = read_idx(write(&dir, "b.idx.gz", &gzip(&raw))).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.dims, [2, 3]);
    assert_eq!(a.data, IdxData::U8(vec![1, 2, 3, 4, 5, 6]));
    let dev = lamina_backend_cpu::device();
    let t = a.to_tensor(DType::F64, &dev).unwrap();
    assert_eq!(t.dims(), [2, 3]);
    assert_eq!(t.to_vec::<f64>().unwrap(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn big_endian_element_types() {
    let dir = temp_dir("types");
    let read = |code: u8, dims: &[u32], body: &[u8]| {
        read_idx(write(&dir, "t.idx", &idx_bytes(code, dims, body)))
            .unwrap()
            .data
    };
    assert_eq!(
        read(0x09, &[3], &[0xff, 0x80, 0x7f]),
        IdxData::I8(vec![-1, -128, 127])
    );
    assert_eq!(
        read(0x0B, &[2], &[0xff, 0xfe, 0x01, 0x2c]),
        IdxData::I16(vec![-2, 300])
    );
    assert_eq!(
        read(0x0C, &[1, 2], &[0x00, 0x01, 0x00, 0x00, 0x80, 0, 0, 0]),
        IdxData::I32(vec![65536, i32::MIN])
    );
    // 1.5 = 0x3FC00000, -0.25 = 0xBE800000 in IEEE 754 single precision.
    assert_eq!(
        read(0x0D, &[2], &[0x3f, 0xc0, 0, 0, 0xbe, 0x80, 0, 0]),
        IdxData::F32(vec![1.5, -0.25])
    );
    // 2.0 = 0x4000000000000000.
    assert_eq!(
        read(0x0E, &[1, 1, 1, 1], &[0x40, 0, 0, 0, 0, 0, 0, 0]),
        IdxData::F64(vec![2.0])
    );
    assert_eq!(
        read(0x0E, &[1, 1, 1, 1], &[0x40, 0, 0, 0, 0, 0, 0, 0]).len(),
        1
    );
}

#[test]
fn truncated_body() {
    let dir = temp_dir("truncated");
    let path = write(&dir, "short.idx", &idx_bytes(0x08, &[10], &[1; 7]));
    let msg = idx_msg(read_idx(&path));
    assert!(
        msg.contains("short.idx") && msg.contains("truncated"),
        "{msg}"
    );
    assert!(
        msg.contains("need 10 data bytes") && msg.contains("found 7"),
        "{msg}"
    );
    // The same file gzipped says the same, counted after decompression.
    let path = write(
        &dir,
        "short.idx.gz",
        &gzip(&idx_bytes(0x0C, &[2, 2], &[0; 9])),
    );
    let msg = idx_msg(read_idx(&path));
    assert!(
        msg.contains("need 16 data bytes") && msg.contains("found 9"),
        "{msg}"
    );
    // A header cut short.
    let path = write(&dir, "header.idx", &[0, 0, 8, 3, 0, 0, 0, 1]);
    let msg = idx_msg(read_idx(&path));
    assert!(
        msg.contains("16-byte header") && msg.contains("found 8"),
        "{msg}"
    );
    let msg = idx_msg(read_idx(write(&dir, "tiny.idx", &[0, 0])));
    assert!(msg.contains("2 bytes"), "{msg}");
}

#[test]
fn wrong_magic_type_and_rank() {
    let dir = temp_dir("magic");
    let msg = idx_msg(read_idx(write(&dir, "m.idx", &[1, 0, 8, 1, 0, 0, 0, 0])));
    assert!(
        msg.contains("two zero bytes") && msg.contains("01 00"),
        "{msg}"
    );
    let msg = idx_msg(read_idx(write(&dir, "t.idx", &idx_bytes(0x0A, &[1], &[0]))));
    assert!(msg.contains("unknown element type code 0x0a"), "{msg}");
    let msg = idx_msg(read_idx(write(&dir, "r0.idx", &[0, 0, 8, 0])));
    assert!(msg.contains("rank 0"), "{msg}");
    let msg = idx_msg(read_idx(write(
        &dir,
        "r5.idx",
        &idx_bytes(8, &[1; 5], &[0]),
    )));
    assert!(msg.contains("rank 5"), "{msg}");
    // A text file is not an IDX file.
    let msg = idx_msg(read_idx(write(&dir, "x.csv", b"a,b\n1,2\n")));
    assert!(msg.contains("two zero bytes"), "{msg}");
}

#[test]
fn trailing_bytes() {
    let dir = temp_dir("trailing");
    let path = write(&dir, "long.idx", &idx_bytes(0x08, &[2, 5], &[3; 12]));
    let msg = idx_msg(read_idx(&path));
    assert!(msg.contains("trailing"), "{msg}");
    assert!(
        msg.contains("need 10 data bytes") && msg.contains("found 12 (2 too many)"),
        "{msg}"
    );
    // The prefix reader stops before them.
    assert_eq!(
        read_idx_prefix(&path, 1).unwrap().data,
        IdxData::U8(vec![3; 5])
    );
}

#[test]
fn corrupt_gzip() {
    let dir = temp_dir("gzip");
    let raw = idx_bytes(
        0x08,
        &[64, 64],
        &(0..4096).map(|i| (i * 7 % 251) as u8).collect::<Vec<_>>(),
    );
    let good = gzip(&raw);
    // Flipped bytes in the deflate body: a bad block or a CRC mismatch, never garbage data.
    let mut flipped = good.clone();
    for b in &mut flipped[20..40] {
        *b ^= 0x5a;
    }
    let msg = idx_msg(read_idx(write(&dir, "flipped.gz", &flipped)));
    assert!(
        msg.contains("flipped.gz") && msg.contains("corrupt gzip"),
        "{msg}"
    );
    // A stream cut in half.
    let msg = idx_msg(read_idx(write(&dir, "cut.gz", &good[..good.len() / 2])));
    assert!(msg.contains("corrupt gzip"), "{msg}");
    // Only the gzip magic.
    let msg = idx_msg(read_idx(write(&dir, "magic.gz", &[0x1f, 0x8b])));
    assert!(msg.contains("corrupt gzip"), "{msg}");
}

#[test]
fn absurd_dims_fail_without_allocating() {
    let dir = temp_dir("dims");
    let path = write(&dir, "overflow.idx", &idx_bytes(0x0E, &[u32::MAX; 4], &[]));
    let msg = idx_msg(read_idx(&path));
    assert!(msg.contains("overflow"), "{msg}");
    // 4e9 x 4e9 bytes fits in a u64 but not in memory: a truncation error, found 3.
    let path = write(
        &dir,
        "huge.idx",
        &idx_bytes(0x08, &[4_000_000_000, 4_000_000_000], &[1, 2, 3]),
    );
    let msg = idx_msg(read_idx(&path));
    assert!(
        msg.contains("need 16000000000000000000 data bytes") && msg.contains("found 3"),
        "{msg}"
    );
}

#[test]
fn missing_files_and_bad_mnist_folders() {
    let dev = lamina_backend_cpu::device();
    let dir = temp_dir("mnist");
    let err = read_idx(dir.join("nope.idx")).unwrap_err();
    assert!(
        matches!(err, Error::Io { .. }) && err.to_string().contains("nope.idx"),
        "{err}"
    );

    let err = Mnist::load_split(&*dir, MnistSplit::Test, None, &dev).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(
        msg.contains("t10k-images-idx3-ubyte.gz") && msg.contains("t10k-images-idx3-ubyte is"),
        "{msg}"
    );

    // Plain (not gzipped) files are found too; counts must agree.
    let image = vec![0u8; 2 * 784];
    write(
        &dir,
        "t10k-images-idx3-ubyte",
        &idx_bytes(8, &[2, 28, 28], &image),
    );
    write(
        &dir,
        "t10k-labels-idx1-ubyte",
        &idx_bytes(8, &[3], &[1, 2, 3]),
    );
    let msg = Mnist::load_split(&*dir, MnistSplit::Test, None, &dev)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("2 images") && msg.contains("3 labels"),
        "{msg}"
    );

    write(
        &dir,
        "t10k-labels-idx1-ubyte",
        &idx_bytes(8, &[2], &[1, 10]),
    );
    let msg = idx_msg(Mnist::load_split(&*dir, MnistSplit::Test, None, &dev));
    assert!(msg.contains("label 10 at index 1"), "{msg}");

    write(&dir, "t10k-labels-idx1-ubyte", &idx_bytes(8, &[2], &[1, 9]));
    let (x, y) = Mnist::load_split(&*dir, MnistSplit::Test, None, &dev).unwrap();
    assert_eq!(
        (x.dims(), y.to_vec::<i64>().unwrap()),
        (&[2, 784][..], vec![1, 9])
    );

    write(
        &dir,
        "t10k-images-idx3-ubyte",
        &idx_bytes(8, &[2, 27, 29], &image[..2 * 27 * 29]),
    );
    let msg = idx_msg(Mnist::load_split(&*dir, MnistSplit::Test, None, &dev));
    assert!(
        msg.contains("u8 [N, 28, 28]") && msg.contains("[2, 27, 29]"),
        "{msg}"
    );
}

#[test]
fn full_mnist_load() {
    let dev = lamina_backend_cpu::device();
    let m = Mnist::load(mnist_dir(), &dev).unwrap();
    assert_eq!(m.train_images.dims(), [60000, 784]);
    assert_eq!(m.test_images.dims(), [10000, 784]);
    assert_eq!(
        histogram(&m.train_labels.to_vec::<i64>().unwrap()),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        histogram(&m.test_labels.to_vec::<i64>().unwrap()),
        TEST_HISTOGRAM
    );
    // Sum of all training pixels, from Python's gzip module: 1,567,298,545.
    let sum: f64 = m
        .train_images
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|&v| (v * 255.0).round() as f64)
        .sum();
    assert_eq!(sum, 1_567_298_545.0);
}

//! IDX files (the MNIST format) and the MNIST data set.
//!
//! An IDX file is a 4-byte magic (two zero bytes, an element type code, the rank), one
//! big-endian `u32` per dimension, then the elements in row-major order, big-endian. Files
//! may be gzip-compressed; gzip is recognised by its magic `1f 8b`, not by the file name.
//!
//! The reader streams: it reads the header, checks the element count against the body it
//! finds, and never allocates from the header's claims alone, so a corrupt header with
//! absurd dimensions is an error, not an out-of-memory abort. A truncated body, trailing
//! bytes and a corrupt gzip stream are each an [`Error::Idx`] naming the file.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use lamina_tensor::{DType, Device, HostData, Tensor};

use crate::{Error, Result};

/// The elements of an IDX file, by their stored type.
#[derive(Debug, Clone, PartialEq)]
pub enum IdxData {
    /// Type code `0x08`.
    U8(Vec<u8>),
    /// Type code `0x09`.
    I8(Vec<i8>),
    /// Type code `0x0B`.
    I16(Vec<i16>),
    /// Type code `0x0C`.
    I32(Vec<i32>),
    /// Type code `0x0D`.
    F32(Vec<f32>),
    /// Type code `0x0E`.
    F64(Vec<f64>),
}

impl IdxData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            IdxData::U8(v) => v.len(),
            IdxData::I8(v) => v.len(),
            IdxData::I16(v) => v.len(),
            IdxData::I32(v) => v.len(),
            IdxData::F32(v) => v.len(),
            IdxData::F64(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stored type's name: `u8`, `i8`, `i16`, `i32`, `f32` or `f64`.
    pub fn type_name(&self) -> &'static str {
        match self {
            IdxData::U8(_) => "u8",
            IdxData::I8(_) => "i8",
            IdxData::I16(_) => "i16",
            IdxData::I32(_) => "i32",
            IdxData::F32(_) => "f32",
            IdxData::F64(_) => "f64",
        }
    }

    /// Every element converted to `f64` (exact for all six types).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            IdxData::U8(v) => v.iter().map(|&x| x as f64).collect(),
            IdxData::I8(v) => v.iter().map(|&x| x as f64).collect(),
            IdxData::I16(v) => v.iter().map(|&x| x as f64).collect(),
            IdxData::I32(v) => v.iter().map(|&x| x as f64).collect(),
            IdxData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            IdxData::F64(v) => v.clone(),
        }
    }
}

/// An n-dimensional array read from an IDX file.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// The dimensions, outermost first (`[10000, 28, 28]` for MNIST test images).
    pub dims: Vec<usize>,
    /// The elements, row-major.
    pub data: IdxData,
}

impl IdxArray {
    /// The array as a tensor of shape `dims` and type `dtype` (`as` conversion).
    pub fn to_tensor(&self, dtype: DType, device: &Device) -> Result<Tensor> {
        let data = HostData::from_f64_vec(&self.data.to_f64_vec(), dtype);
        Ok(Tensor::from_host(data, self.dims.clone(), device)?)
    }
}

/// The element types of the IDX format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ElemType {
    U8,
    I8,
    I16,
    I32,
    F32,
    F64,
}

impl ElemType {
    fn from_code(code: u8) -> Option<ElemType> {
        Some(match code {
            0x08 => ElemType::U8,
            0x09 => ElemType::I8,
            0x0B => ElemType::I16,
            0x0C => ElemType::I32,
            0x0D => ElemType::F32,
            0x0E => ElemType::F64,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            ElemType::U8 | ElemType::I8 => 1,
            ElemType::I16 => 2,
            ElemType::I32 | ElemType::F32 => 4,
            ElemType::F64 => 8,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ElemType::U8 => "u8",
            ElemType::I8 => "i8",
            ElemType::I16 => "i16",
            ElemType::I32 => "i32",
            ElemType::F32 => "f32",
            ElemType::F64 => "f64",
        }
    }

    /// Big-endian bytes to elements.
    fn decode(self, bytes: Vec<u8>) -> IdxData {
        fn be<const N: usize, T>(bytes: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
            bytes
                .chunks_exact(N)
                .map(|c| {
                    let mut a = [0u8; N];
                    a.copy_from_slice(c);
                    f(a)
                })
                .collect()
        }
        match self {
            ElemType::U8 => IdxData::U8(bytes),
            ElemType::I8 => IdxData::I8(bytes.into_iter().map(|b| b as i8).collect()),
            ElemType::I16 => IdxData::I16(be(&bytes, i16::from_be_bytes)),
            ElemType::I32 => IdxData::I32(be(&bytes, i32::from_be_bytes)),
            ElemType::F32 => IdxData::F32(be(&bytes, f32::from_be_bytes)),
            ElemType::F64 => IdxData::F64(be(&bytes, f64::from_be_bytes)),
        }
    }
}

/// Reads a whole IDX file, gzip-compressed or not.
///
/// Errors: [`Error::Io`] when the file cannot be opened; [`Error::Idx`] for a bad magic, an
/// unknown type code, a rank outside `1..=4`, dimensions whose byte count overflows, a
/// body shorter or longer than the dimensions say, or a corrupt gzip stream.
///
/// ```
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/mnist/t10k-labels-idx1-ubyte.gz");
/// let labels = lamina_data::idx::read_idx(path)?;
/// assert_eq!(labels.dims, vec![10000]);
/// assert!(matches!(&labels.data, lamina_data::idx::IdxData::U8(v) if v[0] == 7));
/// # Ok::<(), lamina_data::Error>(())
/// ```
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    read(path.as_ref(), None)
}

/// Reads the first `max_items` entries along the first dimension (all of them if the
/// file has fewer). Only that prefix is decompressed and read, so it is quick; the rest
/// of the file, and the gzip checksum at its end, are not checked.
pub fn read_idx_prefix(path: impl AsRef<Path>, max_items: usize) -> Result<IdxArray> {
    read(path.as_ref(), Some(max_items))
}

/// An open IDX file: the (maybe decompressing) reader and how to report its errors.
struct Source<'a> {
    path: &'a Path,
    gzip: bool,
    reader: Box<dyn Read + 'a>,
}

impl Source<'_> {
    fn idx_err(&self, msg: String) -> Error {
        Error::Idx {
            path: self.path.to_path_buf(),
            msg,
        }
    }

    /// A read failure: inside a gzip stream it means corrupt data, otherwise I/O.
    fn read_err(&self, source: io::Error) -> Error {
        if self.gzip {
            self.idx_err(format!("corrupt gzip stream: {source}"))
        } else {
            Error::Io {
                action: "read",
                path: self.path.to_path_buf(),
                source,
            }
        }
    }

    /// Fills `buf` as far as the stream allows; returns how many bytes were read.
    fn read_full(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.reader.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_err(e)),
            }
        }
        Ok(got)
    }
}

fn open(path: &Path) -> Result<Source<'_>> {
    let io_err = |source| Error::Io {
        action: "open",
        path: path.to_path_buf(),
        source,
    };
    let mut file = BufReader::with_capacity(1 << 16, File::open(path).map_err(io_err)?);
    let gzip = file.fill_buf().map_err(io_err)?.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gzip {
        Box::new(MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Source { path, gzip, reader })
}

fn read(path: &Path, max_items: Option<usize>) -> Result<IdxArray> {
    let mut src = open(path)?;
    let what = if src.gzip { " (after gunzip)" } else { "" };

    let mut magic = [0u8; 4];
    let got = src.read_full(&mut magic)?;
    if got < 4 {
        return Err(src.idx_err(format!("{got} bytes{what}, too short for the 4-byte magic")));
    }
    if magic[0] != 0 || magic[1] != 0 {
        return Err(src.idx_err(format!(
            "the magic must start with two zero bytes, found {:02x} {:02x}",
            magic[0], magic[1]
        )));
    }
    let ty = ElemType::from_code(magic[2]).ok_or_else(|| {
        src.idx_err(format!(
            "unknown element type code 0x{:02x} (known: 0x08 u8, 0x09 i8, 0x0B i16, \
             0x0C i32, 0x0D f32, 0x0E f64)",
            magic[2]
        ))
    })?;
    let rank = magic[3] as usize;
    if !(1..=4).contains(&rank) {
        return Err(src.idx_err(format!("rank {rank} is outside 1..=4")));
    }
    let header_len = 4 + 4 * rank;
    let mut raw_dims = [0u8; 16];
    let got = src.read_full(&mut raw_dims[..4 * rank])?;
    if got < 4 * rank {
        return Err(src.idx_err(format!(
            "truncated header: rank {rank} needs a {header_len}-byte header, found {} bytes{what}",
            4 + got
        )));
    }
    let mut dims: Vec<usize> = raw_dims[..4 * rank]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let item_bytes = dims[1..]
        .iter()
        .try_fold(ty.size(), |acc, &d| acc.checked_mul(d));
    let body_bytes = item_bytes.and_then(|b| b.checked_mul(dims[0]));
    let (Some(item_bytes), Some(body_bytes)) = (item_bytes, body_bytes) else {
        return Err(src.idx_err(format!(
            "dims {dims:?} of {} overflow: their byte count does not fit in usize",
            ty.name()
        )));
    };

    let items = max_items.map_or(dims[0], |m| m.min(dims[0]));
    let need = items * item_bytes;
    // Grow with the data actually read, so a lying header cannot make us allocate.
    let mut body = Vec::with_capacity(need.min(1 << 26));
    let read = (&mut src.reader).take(need as u64).read_to_end(&mut body);
    read.map_err(|e| src.read_err(e))?;
    if body.len() < need {
        let part = if need < body_bytes {
            format!(" (for the first {items} items)")
        } else {
            String::new()
        };
        return Err(src.idx_err(format!(
            "truncated: dims {dims:?} of {} need {need} data bytes{part} after the \
             {header_len}-byte header ({} in all), found {}{what}",
            ty.name(),
            header_len + need,
            body.len(),
        )));
    }
    if max_items.is_none() {
        let trailing = io::copy(&mut src.reader, &mut io::sink()).map_err(|e| src.read_err(e))?;
        if trailing > 0 {
            return Err(src.idx_err(format!(
                "trailing bytes: dims {dims:?} of {} need {body_bytes} data bytes after the \
                 {header_len}-byte header ({} in all), found {} ({trailing} too many){what}",
                ty.name(),
                header_len + body_bytes,
                body_bytes as u64 + trailing,
            )));
        }
    }
    dims[0] = items;
    Ok(IdxArray {
        dims,
        data: ty.decode(body),
    })
}

/// Which half of MNIST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MnistSplit {
    /// The 60,000 training images (`train-*`).
    Train,
    /// The 10,000 test images (`t10k-*`).
    Test,
}

impl MnistSplit {
    fn stems(self) -> (&'static str, &'static str) {
        match self {
            MnistSplit::Train => ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
            MnistSplit::Test => ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        }
    }
}

/// MNIST: images as `F32 [N, 784]` scaled to `[0, 1]` (pixel / 255), labels as `I64 [N]`
/// in `0..10`. Reshape images to `[N, 1, 28, 28]` for a convolutional net.
///
/// ```
/// use lamina_data::idx::Mnist;
/// let dev = lamina_backend_cpu::device();
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/mnist");
/// let mnist = Mnist::load_limit(dir, 100, 10, &dev)?;
/// assert_eq!(mnist.train_images.dims(), &[100, 784]);
/// assert_eq!(mnist.test_labels.to_vec::<i64>()?[0], 7);
/// # Ok::<(), lamina_data::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Mnist {
    /// `F32 [60000, 784]`, values in `[0, 1]`.
    pub train_images: Tensor,
    /// `I64 [60000]`, values in `0..10`.
    pub train_labels: Tensor,
    /// `F32 [10000, 784]`, values in `[0, 1]`.
    pub test_images: Tensor,
    /// `I64 [10000]`, values in `0..10`.
    pub test_labels: Tensor,
}

impl Mnist {
    /// Image side length in pixels.
    pub const SIDE: usize = 28;
    /// Pixels per image.
    pub const PIXELS: usize = 28 * 28;
    /// Number of classes.
    pub const CLASSES: usize = 10;

    /// Loads all four files from `dir`, each as `NAME.gz` or plain `NAME` (the standard
    /// names, e.g. `train-images-idx3-ubyte.gz`). The two training files are read on a
    /// second thread while the test files are read on this one.
    pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<Mnist> {
        Mnist::load_inner(dir.as_ref(), None, None, device)
    }

    /// Like [`Mnist::load`] but reads only the first `n_train` training and `n_test` test
    /// images (fewer if the files hold fewer): quick, for tests and smoke runs.
    pub fn load_limit(
        dir: impl AsRef<Path>,
        n_train: usize,
        n_test: usize,
        device: &Device,
    ) -> Result<Mnist> {
        Mnist::load_inner(dir.as_ref(), Some(n_train), Some(n_test), device)
    }

    /// One split as `(images F32 [N, 784], labels I64 [N])`, optionally only its first
    /// `limit` images.
    pub fn load_split(
        dir: impl AsRef<Path>,
        split: MnistSplit,
        limit: Option<usize>,
        device: &Device,
    ) -> Result<(Tensor, Tensor)> {
        let (pixels, labels) = read_split(dir.as_ref(), split, limit)?;
        to_tensors(pixels, labels, device)
    }

    fn load_inner(
        dir: &Path,
        n_train: Option<usize>,
        n_test: Option<usize>,
        device: &Device,
    ) -> Result<Mnist> {
        let (train, test) = std::thread::scope(|s| {
            let train = s.spawn(|| read_split(dir, MnistSplit::Train, n_train));
            let test = read_split(dir, MnistSplit::Test, n_test);
            let train = train.join().unwrap_or_else(|_| {
                Err(Error::Invalid {
                    op: "Mnist::load",
                    msg: "the thread reading the training files panicked".into(),
                })
            });
            (train, test)
        });
        let (pixels, labels) = train?;
        let (train_images, train_labels) = to_tensors(pixels, labels, device)?;
        let (pixels, labels) = test?;
        let (test_images, test_labels) = to_tensors(pixels, labels, device)?;
        Ok(Mnist {
            train_images,
            train_labels,
            test_images,
            test_labels,
        })
    }
}

/// `dir/STEM.gz` if it exists, else `dir/STEM`, else an `Io` error naming both.
fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    let gz = dir.join(format!("{stem}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    let plain = dir.join(stem);
    if plain.is_file() {
        return Ok(plain);
    }
    Err(Error::Io {
        action: "open",
        path: gz,
        source: io::Error::new(
            io::ErrorKind::NotFound,
            format!("neither {stem}.gz nor {stem} is in {}", dir.display()),
        ),
    })
}

/// Reads and checks one split's images (`u8 [N, 28, 28]`) and labels (`u8 [N]`, `< 10`).
fn read_split(dir: &Path, split: MnistSplit, limit: Option<usize>) -> Result<(Vec<u8>, Vec<u8>)> {
    let (image_stem, label_stem) = split.stems();
    let image_path = find(dir, image_stem)?;
    let label_path = find(dir, label_stem)?;
    let read = |p: &Path| match limit {
        Some(n) => read_idx_prefix(p, n),
        None => read_idx(p),
    };
    let bad = |path: &Path, msg: String| Error::Idx {
        path: path.to_path_buf(),
        msg,
    };
    let images = read(&image_path)?;
    let pixels = match images.data {
        IdxData::U8(v) if images.dims.len() == 3 && images.dims[1..] == [28, 28] => v,
        data => {
            return Err(bad(
                &image_path,
                format!(
                    "MNIST images must be u8 [N, 28, 28], found {} {:?}",
                    data.type_name(),
                    images.dims
                ),
            ))
        }
    };
    let labels = read(&label_path)?;
    let labels = match labels.data {
        IdxData::U8(v) if labels.dims.len() == 1 => v,
        data => {
            return Err(bad(
                &label_path,
                format!(
                    "MNIST labels must be u8 [N], found {} {:?}",
                    data.type_name(),
                    labels.dims
                ),
            ))
        }
    };
    if labels.len() != images.dims[0] {
        return Err(Error::Invalid {
            op: "Mnist::load",
            msg: format!(
                "{} holds {} images but {} holds {} labels",
                image_path.display(),
                images.dims[0],
                label_path.display(),
                labels.len()
            ),
        });
    }
    if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| l >= 10) {
        return Err(bad(
            &label_path,
            format!("label {l} at index {i} is not a digit 0..=9"),
        ));
    }
    Ok((pixels, labels))
}

fn to_tensors(pixels: Vec<u8>, labels: Vec<u8>, device: &Device) -> Result<(Tensor, Tensor)> {
    let n = labels.len();
    let images: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    let labels: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    Ok((
        Tensor::from_vec(images, [n, Mnist::PIXELS], device)?,
        Tensor::from_vec(labels, [n], device)?,
    ))
}

//! Compiled kernels, cached: NVRTC compiles a source once per process for the device's
//! architecture, and optionally once per machine, on disk under a key made of everything
//! that decides the PTX (the source text, the architecture, the options and the NVRTC
//! version). Host logic only: the keys, the file names and the atomic writes; the backend
//! holds the loaded modules.

use std::io::Write;
use std::path::{Path, PathBuf};

use lamina_tensor::{Error, Result};

/// 64-bit FNV-1a: a hash that is the same in every process and build (std's `Hash` is
/// not), so a disk cache written by one run is found by the next.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// What decides a compiled kernel module.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KernelKey {
    /// The source's name (`elementwise.cu`), for file names and messages.
    pub name: String,
    /// FNV-1a of the source text.
    pub source_hash: u64,
    /// `sm_90`, ...
    pub arch: String,
    /// FNV-1a of the options, one per line, and the NVRTC version.
    pub options_hash: u64,
}

impl KernelKey {
    pub fn new(name: &str, source: &str, arch: &str, options: &[&str], nvrtc: (i32, i32)) -> Self {
        let opts = format!("{}\nnvrtc {}.{}", options.join("\n"), nvrtc.0, nvrtc.1);
        KernelKey {
            name: name.to_owned(),
            source_hash: fnv1a64(source.as_bytes()),
            arch: arch.to_owned(),
            options_hash: fnv1a64(opts.as_bytes()),
        }
    }

    /// The PTX's file name in a disk cache: `elementwise-sm_90-<source>-<options>.ptx`.
    pub fn file_name(&self) -> String {
        let stem = self.name.trim_end_matches(".cu");
        format!(
            "{stem}-{}-{:016x}-{:016x}.ptx",
            self.arch, self.source_hash, self.options_hash
        )
    }
}

/// A directory of compiled PTX, keyed by [`KernelKey`].
pub struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DiskCache { dir: dir.into() }
    }

    /// The cached PTX of `key`, if a previous run wrote it (a missing or unreadable file is
    /// a miss: the kernel is compiled again).
    pub fn get(&self, key: &KernelKey) -> Option<String> {
        std::fs::read_to_string(self.dir.join(key.file_name())).ok()
    }

    /// Stores `ptx` under `key`, atomically: written to a temporary file in the same
    /// directory and renamed, so a reader never sees half a file.
    pub fn put(&self, key: &KernelKey, ptx: &str) -> Result<()> {
        let io = |what: &str, path: &Path, e: std::io::Error| Error::Backend {
            backend: "cuda".into(),
            msg: format!("kernel cache: {what} {}: {e}", path.display()),
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| io("cannot create", &self.dir, e))?;
        let path = self.dir.join(key.file_name());
        let tmp = self
            .dir
            .join(format!(".{}.{}.tmp", key.file_name(), std::process::id()));
        let mut f = std::fs::File::create(&tmp).map_err(|e| io("cannot create", &tmp, e))?;
        f.write_all(ptx.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| io("cannot write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io("cannot rename into", &path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_its_published_values() {
        // The FNV test vectors: the empty string and "a".
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn every_input_of_a_key_changes_it() {
        let base = KernelKey::new("elementwise.cu", "src", "sm_90", &["--std=c++17"], (13, 0));
        let variants = [
            KernelKey::new("elementwise.cu", "src2", "sm_90", &["--std=c++17"], (13, 0)),
            KernelKey::new("elementwise.cu", "src", "sm_80", &["--std=c++17"], (13, 0)),
            KernelKey::new("elementwise.cu", "src", "sm_90", &["--std=c++14"], (13, 0)),
            KernelKey::new("elementwise.cu", "src", "sm_90", &["--std=c++17"], (13, 1)),
        ];
        for v in &variants {
            assert_ne!(v, &base);
            assert_ne!(v.file_name(), base.file_name());
        }
        assert_eq!(
            base,
            KernelKey::new("elementwise.cu", "src", "sm_90", &["--std=c++17"], (13, 0))
        );
        assert!(base.file_name().starts_with("elementwise-sm_90-"));
    }

    #[test]
    fn the_disk_cache_round_trips_and_misses_cleanly() {
        let dir = std::env::temp_dir().join(format!("lamina-kcache-{}", std::process::id()));
        let cache = DiskCache::new(&dir);
        let key = KernelKey::new("k.cu", "text", "sm_90", &[], (13, 0));
        assert_eq!(cache.get(&key), None);
        cache.put(&key, ".version 9.0\n").unwrap();
        assert_eq!(cache.get(&key).as_deref(), Some(".version 9.0\n"));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Atomic file writes: everything this crate writes (checkpoint parts, `history.csv`, the
//! plot) goes to a temporary file in the target's directory, is flushed to disk and is
//! then renamed over the target, so a reader — or a resume after a crash — sees the old
//! file or the new one, never half of one.
//!
//! Temporary names start with a dot and contain `.tmp-`, so they never match a name the
//! checkpoint reader looks for; a crash can leave one behind, and it is harmless.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn io_error(action: &'static str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// A fresh temporary path next to `path`, keeping its extension (an encoder may choose
/// its format by it): `dir/.name.tmp-<pid>-<n>.ext`.
fn temp_path(path: &Path) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        io_error(
            "write",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file"),
        )
    })?;
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    Ok(parent_dir(path).join(format!(
        ".{}.tmp-{}-{}{ext}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )))
}

/// Renames the finished temporary file over `path` after syncing it, then syncs the
/// directory so the rename itself is durable. Removes the temporary file on failure.
fn commit(tmp: &Path, path: &Path) -> Result<()> {
    let result = fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .and_then(|()| fs::rename(tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(tmp);
        return Err(io_error("write", path, e));
    }
    // Best effort: some file systems refuse to fsync a directory; the file itself is
    // complete either way.
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(parent_dir(path)) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically (temporary file, `fsync`, rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path)?;
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_error("write", path, e));
    }
    commit(&tmp, path)
}

/// Lets `write` produce the file at a temporary path, then renames it over `path`. For
/// writers that insist on opening the file themselves (the PNG encoder).
pub(crate) fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let tmp = temp_path(path)?;
    if let Err(e) = write(&tmp) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    commit(&tmp, path)
}

/// Reads `path` whole, the error naming it.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| io_error("read", path, e))
}

/// Creates `dir` and its parents.
pub(crate) fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| io_error("create directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_the_file_and_leave_no_temporaries() -> Result<()> {
        let dir = crate::testing::scratch_dir("atomic");
        let path = dir.join("a.txt");
        write_atomic(&path, b"one")?;
        write_atomic(&path, b"two")?;
        assert_eq!(read(&path)?, b"two");
        let names: Vec<_> = fs::read_dir(&dir)
            .map_err(|e| io_error("read", &dir, e))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["a.txt"]);
        Ok(())
    }

    #[test]
    fn a_failed_writer_leaves_the_old_file() -> Result<()> {
        let dir = crate::testing::scratch_dir("atomic_fail");
        let path = dir.join("b.png");
        write_atomic(&path, b"old")?;
        let err = write_atomic_with(&path, |tmp| {
            assert!(tmp.to_string_lossy().ends_with(".png"));
            fs::write(tmp, b"half").map_err(|e| io_error("write", tmp, e))?;
            Err(Error::Config("boom".into()))
        });
        assert!(err.is_err());
        assert_eq!(read(&path)?, b"old");
        assert_eq!(fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0), 1);
        Ok(())
    }
}

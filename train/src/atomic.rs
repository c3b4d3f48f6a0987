//! Atomic file writes: everything this crate writes (checkpoint parts, `history.csv`, the
//! plot) goes to a temporary file in the target's directory, is flushed to disk and is
//! then renamed over the target, so a reader — or a resume after a crash — sees the old
//! file or the new one, never half of one.
//!
//! Temporary names are `.NAME.tmp-PID-N` (plus NAME's extension, which an encoder may
//! choose its format by), so they never match a name the checkpoint reader looks for. A
//! crash leaves its temporary behind; the first time a later process writes into that
//! directory, it removes the temporaries whose writer (the PID in the name) is no longer
//! running. A live writer's file, this process's included, is never touched. Weight
//! files from `lamina-nn`'s writer follow the same pattern and are swept with the rest.
//! A PID only names a process on this machine, so one directory must not be written by
//! runs on several machines at once (which would also mix their checkpoints).

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

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
/// its format by it): `dir/.name.tmp-<pid>-<n>.ext`. Sweeps the directory first if this
/// process has not written there yet.
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
    sweep_once(&parent_dir(path));
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

/// Creates `dir` and its parents, then sweeps it if this process has not written there
/// yet (so a checkpoint directory is swept before its first part is written).
pub(crate) fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| io_error("create directory", dir, e))?;
    sweep_once(dir);
    Ok(())
}

/// Removes stale temporaries from `dir` the first time this process writes there.
fn sweep_once(dir: &Path) {
    static SWEPT: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
    let first = SWEPT
        .lock()
        .map(|mut swept| swept.insert(dir.to_path_buf()))
        .unwrap_or(false);
    if first {
        remove_stale_temps(dir);
    }
}

/// Removes the temporaries in `dir` whose writer is no longer running. Best effort: a
/// file that cannot be removed stays, and nothing else is touched.
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_writer) else {
            continue;
        };
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && pid != me && !process_alive(pid) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The writer's PID if `name` is a temporary as [`temp_path`] (or `lamina-nn`'s weight
/// writer) makes them: `.NAME.tmp-PID-N`, or `.NAME.tmp-PID-N.EXT` with EXT NAME's own
/// extension. `None` for every other name.
fn temp_writer(name: &str) -> Option<u32> {
    let (target, tail) = name.strip_prefix('.')?.rsplit_once(".tmp-")?;
    let (pid, tail) = tail.split_once('-')?;
    let counter = match tail.split_once('.') {
        Some((counter, ext)) => {
            let own = Path::new(target).extension()?;
            (own == ext).then_some(counter)?
        }
        None => tail,
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if target.is_empty() || !digits(pid) || !digits(counter) {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` is running on this machine. When that cannot be told, the
/// answer is yes, so that no live writer's file is ever removed.
#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    // 0 and negative values name process groups, not one process.
    let Some(pid) = libc::pid_t::try_from(pid).ok().filter(|&p| p > 0) else {
        return true;
    };
    // SAFETY: `kill` with signal 0 sends no signal; it only reports whether `pid` exists
    // (and may be signalled). It reads and writes no memory of ours.
    let status = unsafe { libc::kill(pid, 0) };
    status == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    true
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
    fn temporary_names_are_told_from_other_files() -> Result<()> {
        assert_eq!(temp_writer(".a.txt.tmp-12-3.txt"), Some(12));
        assert_eq!(temp_writer(".last-e00001.safetensors.tmp-7-0"), Some(7));
        assert_eq!(temp_writer(".notes.tmp-40-2"), Some(40));
        for other in [
            "a.txt",
            ".a.txt",
            ".tmp-12-3",
            ".a.txt.tmp-x-3.txt",
            ".a.txt.tmp-12-.txt",
            ".a.txt.tmp-12-3.png",
            ".a.txt.tmp-12",
            "a.txt.tmp-12-3.txt",
        ] {
            assert_eq!(temp_writer(other), None, "{other}");
        }
        // What `temp_path` makes is recognised as this process's.
        let dir = crate::testing::scratch_dir("atomic_names");
        for target in ["plot.png", "last.json", "notes"] {
            let tmp = temp_path(&dir.join(target))?;
            let name = tmp.file_name().and_then(|n| n.to_str()).unwrap_or("");
            assert_eq!(temp_writer(name), Some(std::process::id()), "{name}");
        }
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_process_is_alive_until_it_has_exited() {
        assert!(process_alive(std::process::id()));
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .arg("--list")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(
            process_alive(pid),
            "not yet waited for: a zombie still exists"
        );
        child.wait().unwrap();
        assert!(!process_alive(pid));
        // Not a single process: kept, whatever it is.
        assert!(process_alive(0));
        assert!(process_alive(u32::MAX));
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

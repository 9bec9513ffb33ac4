//! Atomic replacement: every output file of a run appears under its final name only once it
//! is complete and durable (temp file, fsync, rename). Whole folders are built aside and
//! moved into place by [`super::folder`]. Hand-written: the guarantees below are the point,
//! and they are a few system calls.
//!
//! Invariants:
//! - The content is written to a fresh temp file in the *same directory* as the final
//!   path (so the rename cannot cross file systems), named
//!   `.<final name>.<pid>.<counter>.tmp`; the counter is process-wide, so concurrent
//!   writers in one process never share a temp file, and `create_new` refuses to reuse
//!   a leftover one.
//! - The temp file is `sync_all`ed before the rename and the directory is fsynced after
//!   it (Unix), so after a crash the final name holds either the old content or the
//!   complete new content, never a partial file.
//! - On any error the temp file is removed and the returned error names the final path;
//!   an existing file under the final name is left untouched.

use anyhow::{anyhow, Context, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn temp_path(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{} has no file name", path.display()))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp_name = format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        n
    );
    Ok(parent_dir(path).join(tmp_name))
}

/// The PID in a temp file name [`temp_path`] made (`.FILE.PID.N.tmp`), so leftovers of
/// dead processes can be found (`super::folder`).
pub(crate) fn temp_file_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let mut parts = rest.rsplitn(3, '.');
    let n = parts.next()?;
    let pid = parts.next()?;
    let file = parts.next()?;
    if file.is_empty() || n.parse::<u64>().is_err() {
        return None;
    }
    pid.parse().ok()
}

/// Fsyncs a directory so that a rename inside it is durable. Unix only; file systems
/// that do not support fsync on directories (EINVAL) are tolerated.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let d = File::open(dir)?;
        match d.sync_all() {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Writes `path` atomically: `write` fills a temp file in the same directory, which is
/// then synced and renamed over `path`, and the directory is synced. On any error (of
/// `write` or of the file system) the temp file is removed and the error names `path`.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut File) -> Result<()>) -> Result<()> {
    let result = (|| -> Result<()> {
        let tmp = temp_path(path)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("cannot create temp file {}", tmp.display()))?;
        let staged = (|| -> Result<()> {
            write(&mut file)?;
            file.flush()?;
            file.sync_all().context("fsync failed")?;
            drop(file);
            fs::rename(&tmp, path)
                .with_context(|| format!("cannot rename {} into place", tmp.display()))?;
            Ok(())
        })();
        if let Err(e) = staged {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        sync_dir(&parent_dir(path))
            .with_context(|| format!("cannot fsync directory {}", parent_dir(path).display()))?;
        Ok(())
    })();
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// [`write_atomic`] of a byte buffer.
pub fn write_atomic_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |f| {
        f.write_all(bytes)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp_files(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn replaces_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomic_bytes(&p, b"one").unwrap();
        write_atomic_bytes(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(tmp_files(dir.path()).is_empty());
    }

    #[test]
    fn failure_keeps_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomic_bytes(&p, b"old").unwrap();
        let err = write_atomic(&p, |f| {
            f.write_all(b"partial")?;
            anyhow::bail!("boom")
        })
        .unwrap_err();
        assert!(err.to_string().contains(&p.display().to_string()));
        assert!(format!("{err:#}").contains("boom"));
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert!(tmp_files(dir.path()).is_empty());
    }

    #[test]
    fn temp_file_names() {
        assert_eq!(temp_file_pid(".summary.parquet.123.4.tmp"), Some(123));
        assert_eq!(temp_file_pid(".report.html.9.0.tmp"), Some(9));
        assert_eq!(temp_file_pid("summary.parquet.123.4.tmp"), None);
        assert_eq!(temp_file_pid(".x.tmp-123"), None);
        assert_eq!(temp_file_pid(".a.b.tmp"), None);
    }

    #[test]
    fn temp_name_shape() {
        let t = temp_path(Path::new("x/summary.parquet")).unwrap();
        let name = t.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".summary.parquet."));
        assert!(name.contains(&std::process::id().to_string()));
        assert!(name.ends_with(".tmp"));
        assert_eq!(temp_file_pid(&name), Some(std::process::id()));
        assert_eq!(t.parent().unwrap(), Path::new("x"));
    }
}

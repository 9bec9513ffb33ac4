//! Atomic replacement: every output file of a run appears under its final name only once it
//! is complete and durable (temp file, fsync, rename), and a folder built aside can replace
//! another in one rename ([`swap_dir_in`], the nightly run's folder). Hand-written: the
//! guarantees below are the point, and they are a few system calls.
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
fn parent_dir(path: &Path) -> PathBuf {
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

/// Fsyncs a directory so that a rename inside it is durable. Unix only; file systems
/// that do not support fsync on directories (EINVAL) are tolerated.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
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

/// The temp sibling a folder is built in before [`swap_dir_in`]: `PARENT/.NAME.tmp-PID`.
pub fn temp_sibling(dest: &Path) -> PathBuf {
    sibling(dest, "tmp")
}

/// `PARENT/.NAME.KIND-PID`.
fn sibling(dest: &Path, kind: &str) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent_dir(dest).join(format!(".{name}.{kind}-{}", std::process::id()))
}

/// Removes leftovers of crashed builds of `dest` (`.NAME.tmp-PID` and `.NAME.old-PID`
/// siblings whose process is gone; Linux only, elsewhere they are left alone).
pub fn remove_stale_siblings(dest: &Path) {
    let Some(name) = dest.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let Ok(entries) = fs::read_dir(parent_dir(dest)) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let entry = e.file_name().to_string_lossy().into_owned();
        let pid = [".tmp-", ".old-"].iter().find_map(|tag| {
            entry
                .strip_prefix(&format!(".{name}{tag}"))
                .and_then(|p| p.parse::<u32>().ok())
        });
        let Some(pid) = pid else { continue };
        let alive = if pid == std::process::id() {
            false
        } else if cfg!(target_os = "linux") {
            Path::new(&format!("/proc/{pid}")).exists()
        } else {
            true
        };
        if !alive {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Moves the finished folder `tmp` to `dest`: an existing `dest` is renamed aside, the new
/// one renamed in, the old one deleted. `dest` never holds a partial folder; if the second
/// rename fails, the old folder is put back.
pub fn swap_dir_in(tmp: &Path, dest: &Path) -> Result<()> {
    let parent = parent_dir(dest);
    let _ = sync_dir(tmp);
    if dest.exists() {
        let aside = sibling(dest, "old");
        if aside.exists() {
            fs::remove_dir_all(&aside)
                .with_context(|| format!("cannot remove {}", aside.display()))?;
        }
        fs::rename(dest, &aside).with_context(|| {
            format!(
                "cannot move the previous {} aside to {}",
                dest.display(),
                aside.display()
            )
        })?;
        if let Err(e) = fs::rename(tmp, dest) {
            let _ = fs::rename(&aside, dest);
            return Err(e)
                .with_context(|| format!("cannot rename {} to {}", tmp.display(), dest.display()));
        }
        let _ = sync_dir(&parent);
        fs::remove_dir_all(&aside)
            .with_context(|| format!("cannot remove the replaced folder {}", aside.display()))?;
    } else {
        fs::rename(tmp, dest)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), dest.display()))?;
        let _ = sync_dir(&parent);
    }
    Ok(())
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
    fn temp_name_shape() {
        let t = temp_path(Path::new("x/summary.parquet")).unwrap();
        let name = t.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".summary.parquet."));
        assert!(name.contains(&std::process::id().to_string()));
        assert!(name.ends_with(".tmp"));
        assert_eq!(t.parent().unwrap(), Path::new("x"));
    }
}

//! Opening and creating what an untrusted file names: the rows a `partial.json` or a
//! checkpoint's `state.json` lists, the state itself, and the checkpoint folder of a run.
//!
//! - A listed name must be a plain file name inside its folder ([`check_file_name`]): no
//!   separator, no `..`, not absolute, so a partial file cannot make `merge` read (or a
//!   checkpoint make a run delete) anything outside its folder.
//! - Only regular files are opened ([`open_regular`]), without following a symbolic link
//!   (`O_NOFOLLOW`) and without blocking on a FIFO (`O_NONBLOCK`; the type is checked on the
//!   open descriptor, so nothing can be swapped in between); the size is checked against a
//!   cap before anything is read, and [`read_capped`] never reads past it, so a file that
//!   grows or a device that never ends cannot exhaust memory or hang the reader.
//! - Folders a run owns are created and removed without following a symbolic link
//!   ([`ensure_dir`], [`remove_dir`]): a `.checkpoint` that is a link is refused, never
//!   written through or emptied.
//!
//! Hand-written on `std` (plus two `libc` open flags) rather than a capability crate such
//! as `cap-std`: the checks needed are these few, on paths the callers already build, and a
//! capability-handle API would have to be threaded through every writer of a run.

use anyhow::{bail, Context, Result};
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::Path;

/// Why `name` is not a plain file name (`None`: it is one).
pub fn check_file_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name == "." || name == ".." {
        Some("it names a folder, not a file")
    } else if name.starts_with('/') || name.starts_with('\\') || name.contains(':') {
        Some("it is an absolute path; only a file name inside the same folder is allowed")
    } else if name.contains('/') || name.contains('\\') {
        Some("it contains a path separator; only a file name inside the same folder is allowed")
    } else if name.contains('\0') || name.chars().any(char::is_control) {
        Some("it contains control characters")
    } else {
        None
    }
}

/// What a non-regular file is, for messages.
fn kind_of(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_symlink() {
        "a symbolic link (not followed)"
    } else if t.is_dir() {
        "a folder"
    } else {
        "not a plain file"
    }
}

/// Opens `path` for reading if it is a regular file (not a symbolic link, FIFO, device or
/// folder) of at most `max_bytes`; returns it and its size. The error says what it is.
pub fn open_regular(path: &Path, max_bytes: u64) -> Result<(File, u64)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO does not wait for a writer (it has no effect on reads
        // of a regular file, the only kind kept).
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(not(unix))]
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        bail!("it is a symbolic link (not followed); not a regular file");
    }
    let file = match options.open(path) {
        Ok(f) => f,
        Err(e) => {
            // O_NOFOLLOW on a link fails (ELOOP): say what it is.
            if let Ok(m) = std::fs::symlink_metadata(path) {
                if !m.is_file() {
                    bail!("it is {}, not a regular file", kind_of(&m));
                }
            }
            return Err(e).context("cannot open it");
        }
    };
    let meta = file.metadata().context("cannot read its size")?;
    if !meta.is_file() {
        bail!("it is {}, not a regular file", kind_of(&meta));
    }
    let len = meta.len();
    if len > max_bytes {
        bail!("it has {len} bytes, more than the {max_bytes} allowed for it");
    }
    Ok((file, len))
}

/// Reads a regular file of at most `max_bytes` ([`open_regular`]), never past the cap.
pub fn read_capped(path: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    let (file, len) = open_regular(path, max_bytes)?;
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .context("cannot read it")?;
    if bytes.len() as u64 > max_bytes {
        bail!("it grew past the {max_bytes} bytes allowed for it while it was read");
    }
    Ok(bytes)
}

/// Refuses `path` if it exists and is not a folder (a symbolic link to one included).
pub fn check_dir(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(m) => bail!(
            "{} is {}, not a folder: it is not used; remove it",
            path.display(),
            kind_of(&m)
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot inspect {}", path.display())),
    }
}

/// Creates the folder `path` (its parents as needed), refusing it if it exists as
/// anything but a folder: a symbolic link is never followed.
pub fn ensure_dir(path: &Path) -> Result<()> {
    check_dir(path)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create folder {}", parent.display()))?;
    }
    match std::fs::create_dir(path) {
        Ok(()) => Ok(()),
        // Made in between, or already there: it must be a folder, not a link.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => check_dir(path),
        Err(e) => Err(e).with_context(|| format!("cannot create folder {}", path.display())),
    }
}

/// Removes the folder `path` and what it holds, following no symbolic link (a link inside
/// is removed, not its target; `path` itself a link is refused). Missing: nothing to do.
pub fn remove_dir(path: &Path) -> Result<()> {
    check_dir(path)?;
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_only() {
        assert_eq!(check_file_name("paths.parquet"), None);
        assert_eq!(check_file_name("block-000000001024.parquet"), None);
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/dev/zero",
            "\\\\host\\x",
            "C:x",
            "a\\b",
            "x\0y",
            "x\ny",
        ] {
            assert!(check_file_name(bad).is_some(), "{bad:?} accepted");
        }
    }

    #[cfg(unix)]
    #[test]
    fn only_regular_files_are_opened() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("f");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read_capped(&f, 5).unwrap(), b"12345");
        let e = read_capped(&f, 4).unwrap_err().to_string();
        assert!(e.contains("5 bytes, more than the 4"), "{e}");
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        let e = open_regular(&link, 10).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        let e = open_regular(Path::new("/dev/null"), 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("character device"), "{e}");
        let e = open_regular(tmp.path(), 10).unwrap_err().to_string();
        assert!(e.contains("a folder"), "{e}");
        // A folder link is refused, and neither written through nor emptied.
        let target = tmp.path().join("target");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), b"x").unwrap();
        let dlink = tmp.path().join("dlink");
        std::os::unix::fs::symlink(&target, &dlink).unwrap();
        assert!(ensure_dir(&dlink).is_err());
        assert!(remove_dir(&dlink).is_err());
        assert!(target.join("keep").exists());
        let made = tmp.path().join("a/b");
        ensure_dir(&made).unwrap();
        ensure_dir(&made).unwrap();
        remove_dir(&made).unwrap();
        assert!(!made.exists());
    }
}

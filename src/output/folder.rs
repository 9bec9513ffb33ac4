//! A run folder as one atomic unit (ARCHITECTURE.md "Output contract"): every command that
//! writes a folder builds it in a temp sibling `PARENT/.NAME.tmp-PID` and moves it into place
//! at the end ([`Staged`]), under an advisory lock on the target ([`Lock`]), so that a kill,
//! a full disk or a second writer leaves the previous complete folder or the new complete
//! folder, never a mix; and [`check_run_folder`] lets a reader refuse a folder whose files
//! disagree.
//!
//! Moving a build into place replaces the whole folder: the work in progress inside the old
//! one that belongs to no single run (a `.checkpoint/` of a resumable run, the
//! `shard-I-of-N/` folders a merged run is written beside) is moved into the build first,
//! then the old folder is renamed aside, the new one renamed in, the old one removed. A
//! crash at any step leaves a complete folder under the target or aside of it, and the next
//! writer of the target finishes the job ([`Staged::begin`] puts back what is aside).
//!
//! The lock is `flock` on `PARENT/.NAME.lock` (std's `File::try_lock`), taken before any
//! work and held until the folder is in place; the file holds the holder's PID for the
//! message a second writer gets, and is removed on release (a writer that locked a file
//! since unlinked retries on the new one, so removing it is safe). `--wait` (see
//! [`set_wait`]) waits for the holder instead of failing. Leftovers of dead processes (temp
//! folders, `.FILE.PID.N.tmp` files) are removed when the next writer of the target starts.
//!
//! Hand-written: the guarantees are the point, and they are a few system calls.

use super::atomic::{parent_dir, sync_dir, temp_file_pid};
use super::manifest::{sha256_hex, Manifest};
use super::{GOVERNANCE_FILE, MANIFEST_FILE, PATHS_FILE, SUMMARY_FILE, TIMESERIES_FILE};
use anyhow::{anyhow, bail, Context, Result};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

static WAIT: AtomicBool = AtomicBool::new(false);

/// Whether a writer that finds its target locked waits for the holder (`--wait`) rather
/// than failing at once. A process-wide policy, like a thread count: set once by the CLI.
pub fn set_wait(wait: bool) {
    WAIT.store(wait, Ordering::Relaxed);
}

fn name_of(dest: &Path) -> Result<String> {
    dest.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| anyhow!("{} has no folder name", dest.display()))
}

/// `PARENT/.NAME.KIND-PID`.
fn sibling(dest: &Path, kind: &str, pid: u32) -> Result<PathBuf> {
    Ok(parent_dir(dest).join(format!(".{}.{kind}-{pid}", name_of(dest)?)))
}

/// The lock file of a target: `PARENT/.NAME.lock`.
pub fn lock_path(dest: &Path) -> Result<PathBuf> {
    Ok(parent_dir(dest).join(format!(".{}.lock", name_of(dest)?)))
}

/// Whether process `pid` is alive (Linux: `/proc/PID`; elsewhere assumed alive, so nothing
/// of another process is removed).
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// An advisory lock on a target folder, held until dropped.
pub struct Lock {
    path: PathBuf,
    _file: File,
}

impl Lock {
    /// Locks `dest` (which need not exist; its parent must). Fails at once, naming the
    /// holder's PID, when another process holds it, unless [`set_wait`] asked to wait.
    pub fn acquire(dest: &Path) -> Result<Lock> {
        // `.` or `run/..` name no folder: lock the folder they resolve to.
        let resolved;
        let dest = if dest.file_name().is_none() {
            resolved = dest
                .canonicalize()
                .with_context(|| format!("cannot resolve {}", dest.display()))?;
            resolved.as_path()
        } else {
            dest
        };
        let path = lock_path(dest)?;
        loop {
            if fs::symlink_metadata(&path).is_ok_and(|m| !m.is_file()) {
                bail!(
                    "{} is not a regular file (it is the lock file of {}); remove it",
                    path.display(),
                    dest.display()
                );
            }
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .with_context(|| format!("cannot create the lock file {}", path.display()))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) if WAIT.load(Ordering::Relaxed) => file
                    .lock()
                    .with_context(|| format!("cannot lock {}", path.display()))?,
                Err(TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let _ = (&file).take(64).read_to_string(&mut text);
                    let holder = match text.trim().parse::<u32>() {
                        Ok(pid) => format!("PID {pid}"),
                        Err(_) => "PID unknown".to_string(),
                    };
                    bail!(
                        "{} is being written by another tokenrisk process ({holder}, lock file \
                         {}); wait for it to finish, or pass --wait to wait for it",
                        dest.display(),
                        path.display()
                    );
                }
                Err(TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("cannot lock {}", path.display()))
                }
            }
            // The holder we waited for may have removed the file: lock the one in place.
            if !same_file(&file, &path) {
                continue;
            }
            file.set_len(0)?;
            file.rewind()?;
            writeln!(file, "{}", std::process::id())?;
            return Ok(Lock { path, _file: file });
        }
    }
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.is_file()
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still held; the file handle (and the lock) goes after.
        let _ = fs::remove_file(&self.path);
    }
}

/// A folder being built aside: write into [`Staged::dir`], then [`Staged::commit`]. Dropped
/// without a commit (an error, a cancellation), the build is removed and the target is as
/// it was.
pub struct Staged {
    dest: PathBuf,
    tmp: PathBuf,
    done: bool,
    _lock: Lock,
}

impl Staged {
    /// Locks `dest`, removes leftovers of dead writers, and creates the empty build folder;
    /// fails here (before any work) when the target is locked or cannot be written.
    pub fn begin(dest: &Path) -> Result<Staged> {
        Self::start(dest).with_context(|| format!("cannot write {}", dest.display()))
    }

    fn start(dest: &Path) -> Result<Staged> {
        let parent = parent_dir(dest);
        fs::create_dir_all(&parent)
            .with_context(|| format!("cannot create output directory {}", parent.display()))?;
        if fs::symlink_metadata(dest).is_ok_and(|m| !m.is_dir()) {
            bail!(
                "{} exists and is not a folder; refusing to replace it",
                dest.display()
            );
        }
        let lock = Lock::acquire(dest)?;
        recover(dest)?;
        let tmp = sibling(dest, "tmp", std::process::id())?;
        if fs::symlink_metadata(&tmp).is_ok() {
            fs::remove_dir_all(&tmp).with_context(|| format!("cannot remove {}", tmp.display()))?;
        }
        fs::create_dir(&tmp)
            .with_context(|| format!("cannot write in output directory {}", parent.display()))?;
        Ok(Staged {
            dest: dest.to_path_buf(),
            tmp,
            done: false,
            _lock: lock,
        })
    }

    /// The folder to build in.
    pub fn dir(&self) -> &Path {
        &self.tmp
    }

    /// Where the build goes.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Moves the build into place; returns the target.
    pub fn commit(mut self) -> Result<PathBuf> {
        let _ = sync_dir(&self.tmp);
        replace(&self.tmp, &self.dest)?;
        self.done = true;
        Ok(self.dest.clone())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

/// `PARENT/.NAME.KIND-PID` siblings of `dest`, with their PID.
fn siblings(dest: &Path, kind: &str) -> Vec<(PathBuf, u32)> {
    let (Ok(name), Ok(entries)) = (name_of(dest), fs::read_dir(parent_dir(dest))) else {
        return Vec::new();
    };
    let prefix = format!(".{name}.{kind}-");
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let pid = n.strip_prefix(&prefix)?.parse::<u32>().ok()?;
            Some((e.path(), pid))
        })
        .collect()
}

/// With the lock held: puts back a folder a crashed replace left aside (`dest` missing), and
/// removes temp folders and temp files of dead writers of `dest`.
fn recover(dest: &Path) -> Result<()> {
    for (aside, pid) in siblings(dest, "old") {
        if alive(pid) && pid != std::process::id() {
            continue;
        }
        if fs::symlink_metadata(dest).is_err() {
            fs::rename(&aside, dest).with_context(|| {
                format!(
                    "cannot restore {} (left aside by an interrupted run) to {}",
                    aside.display(),
                    dest.display()
                )
            })?;
        } else {
            fs::remove_dir_all(&aside)
                .with_context(|| format!("cannot remove {}", aside.display()))?;
        }
    }
    for (tmp, pid) in siblings(dest, "tmp") {
        if !alive(pid) || pid == std::process::id() {
            if fs::symlink_metadata(dest).is_ok() {
                move_kept(&tmp, dest)?;
            }
            fs::remove_dir_all(&tmp).with_context(|| format!("cannot remove {}", tmp.display()))?;
        }
    }
    remove_stale_temp_files(dest);
    remove_stale_temp_files(&parent_dir(dest));
    Ok(())
}

/// Removes `.FILE.PID.N.tmp` files (atomic writes, [`super::atomic`]) of dead processes
/// directly in `dir`.
pub fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let n = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = temp_file_pid(&n) else {
            continue;
        };
        if !alive(pid) && e.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// The folder of a resumable run's checkpoint inside its run (or shard) folder.
pub const CHECKPOINT_DIR: &str = ".checkpoint";

/// `shard-I-of-N` as (I, N).
pub fn shard_dir_name(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix("shard-")?;
    let (i, n) = rest.split_once("-of-")?;
    Some((i.parse().ok()?, n.parse().ok()?))
}

/// Whether an entry of a run folder is work of its own that replacing the folder keeps.
fn kept(name: &str) -> bool {
    name == CHECKPOINT_DIR || shard_dir_name(name).is_some()
}

/// Moves the [`kept`] folders of `from` into `to` (where `to` has none of that name).
fn move_kept(from: &Path, to: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(from) else {
        return Ok(());
    };
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name();
        if !kept(&name.to_string_lossy()) || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let target = to.join(&name);
        if fs::symlink_metadata(&target).is_ok() {
            continue;
        }
        fs::rename(e.path(), &target).with_context(|| {
            format!(
                "cannot move {} into {}",
                e.path().display(),
                target.display()
            )
        })?;
    }
    Ok(())
}

/// Moves the build `tmp` into place as `dest` (module notes).
fn replace(tmp: &Path, dest: &Path) -> Result<()> {
    let parent = parent_dir(dest);
    if fs::symlink_metadata(dest).is_ok() {
        move_kept(dest, tmp)?;
        let aside = sibling(dest, "old", std::process::id())?;
        if fs::symlink_metadata(&aside).is_ok() {
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

/// Largest `manifest.json` read (a run's manifest is a few hundred bytes).
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// Reads `dir/manifest.json` (a regular file of at most [`MAX_MANIFEST_BYTES`]).
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    let read = || -> Result<Manifest> {
        let meta = fs::symlink_metadata(&path)?;
        if !meta.is_file() {
            bail!("not a regular file");
        }
        let mut text = String::new();
        File::open(&path)?
            .take(MAX_MANIFEST_BYTES + 1)
            .read_to_string(&mut text)?;
        if text.len() as u64 > MAX_MANIFEST_BYTES {
            bail!("larger than {MAX_MANIFEST_BYTES} bytes");
        }
        Ok(serde_json::from_str(&text)?)
    };
    read().with_context(|| format!("cannot read {}", path.display()))
}

/// Refuses a run folder whose files do not all belong to one complete run: a run file
/// without `manifest.json` (an interrupted write), a run file missing or not listed
/// (`governance.parquet` too, where the manifest lists it or it is present), or a
/// Parquet file whose metadata names another scenario, scenario text, seed, path count or
/// engine than the manifest (two CPU runs that agree on all of these wrote the same rows;
/// two GPU runs may differ by device, which only the manifest names). Names each file and field that disagrees. A table without tokenrisk metadata
/// (rewritten by another tool) is not checked.
pub fn check_run_folder(dir: &Path) -> Result<()> {
    let run_files = [SUMMARY_FILE, TIMESERIES_FILE, PATHS_FILE];
    if fs::symlink_metadata(dir.join(MANIFEST_FILE)).is_err() {
        let present: Vec<&str> = run_files
            .iter()
            .copied()
            .filter(|f| dir.join(f).exists())
            .collect();
        bail!(
            "{}: incomplete run folder: {} but no {MANIFEST_FILE} (written last by every run; \
             a run was interrupted while writing here, or the folder was not written by \
             tokenrisk); rerun the command that wrote it",
            dir.display(),
            if present.is_empty() {
                "no run files".to_string()
            } else {
                present.join(", ")
            }
        );
    }
    let m = read_manifest(dir)?;
    let p = &m.provenance;
    let mut problems = Vec::new();
    // `governance.parquet` belongs to a run whose scenario has governance entries: checked
    // like the others where the manifest lists it or it is there.
    let mut run_files = run_files.to_vec();
    if m.files.iter().any(|e| e.name == GOVERNANCE_FILE)
        || fs::symlink_metadata(dir.join(GOVERNANCE_FILE)).is_ok()
    {
        run_files.push(GOVERNANCE_FILE);
    }
    for f in run_files {
        let path = dir.join(f);
        if fs::symlink_metadata(&path).is_err() {
            problems.push(format!("{} is missing", path.display()));
            continue;
        }
        if !m.files.iter().any(|e| e.name == f) {
            problems.push(format!("{MANIFEST_FILE} does not list {f}"));
        }
        let kv = match super::read_parquet_metadata(&path) {
            Ok(kv) => kv,
            Err(e) => {
                problems.push(format!("{e:#}"));
                continue;
            }
        };
        // A table rewritten by another tool (pyarrow drops the key-value metadata) cannot
        // say which run it is from; the report says its metadata is missing.
        if !kv.keys().any(|k| k.starts_with("tokenrisk.")) {
            continue;
        }
        let get = |k: &str| kv.get(k).map(String::as_str).unwrap_or("(none)");
        let sha = kv.get("tokenrisk.scenario_toml").map(sha256_hex);
        let checks = [
            (
                "scenario",
                get("tokenrisk.scenario").to_string(),
                p.scenario.clone(),
            ),
            (
                "seed",
                get("tokenrisk.seed").to_string(),
                p.seed.to_string(),
            ),
            (
                "paths",
                get("tokenrisk.paths").to_string(),
                p.paths.to_string(),
            ),
            (
                "scenario SHA-256",
                sha.unwrap_or_else(|| "(none)".into()),
                p.scenario_sha256.clone(),
            ),
            (
                "engine",
                get("tokenrisk.engine").to_string(),
                m.backend.clone(),
            ),
        ];
        for (field, got, want) in checks {
            if got != want {
                problems.push(format!(
                    "{f} says {field} {got} but {MANIFEST_FILE} says {field} {want}"
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "{}: the files do not belong to one run ({}); rerun the command that wrote it",
            dir.display(),
            problems.join("; ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_dir_names() {
        assert_eq!(shard_dir_name("shard-3-of-8"), Some((3, 8)));
        assert_eq!(shard_dir_name("shard-x-of-8"), None);
        assert_eq!(shard_dir_name("point-0001"), None);
    }

    #[test]
    fn replace_commits_whole_and_drop_leaves_old() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("run");
        let s = Staged::begin(&dest).unwrap();
        fs::write(s.dir().join("a"), "1").unwrap();
        s.commit().unwrap();
        assert_eq!(fs::read_to_string(dest.join("a")).unwrap(), "1");
        // A build dropped without commit changes nothing and leaves nothing.
        let s = Staged::begin(&dest).unwrap();
        fs::write(s.dir().join("a"), "2").unwrap();
        fs::write(s.dir().join("b"), "2").unwrap();
        drop(s);
        assert_eq!(fs::read_to_string(dest.join("a")).unwrap(), "1");
        let names: Vec<_> = fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["run".to_string()]);
    }

    #[test]
    fn second_writer_is_refused_with_the_holders_pid() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("run");
        let held = Staged::begin(&dest).unwrap();
        // flock locks belong to the open file, so a second open in this process conflicts.
        let e = Staged::begin(&dest).err().expect("refused");
        let msg = format!("{e:#}");
        assert!(
            msg.contains(&format!("PID {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("--wait"), "{msg}");
        held.commit().unwrap();
        assert!(!lock_path(&dest).unwrap().exists());
        Staged::begin(&dest).unwrap().commit().unwrap();
    }

    #[test]
    fn recovers_a_folder_left_aside_and_removes_dead_temps() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("run");
        // A replace killed between its renames: the old folder aside, the new build beside.
        // PID 0 is never a user process, so both read as leftovers of a dead one.
        let aside = root.path().join(".run.old-0");
        fs::create_dir(&aside).unwrap();
        fs::write(aside.join("a"), "old").unwrap();
        fs::create_dir(root.path().join(".run.tmp-0")).unwrap();
        let s = Staged::begin(&dest).unwrap();
        assert_eq!(fs::read_to_string(dest.join("a")).unwrap(), "old");
        assert!(!aside.exists());
        assert!(!root.path().join(".run.tmp-0").exists());
        fs::write(dest.join(".summary.parquet.0.3.tmp"), "x").unwrap();
        drop(s);
        Staged::begin(&dest).unwrap();
        assert!(!dest.join(".summary.parquet.0.3.tmp").exists());
    }

    #[test]
    fn replace_keeps_checkpoint_and_shards_even_across_a_crash() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("run");
        fs::create_dir_all(dest.join("shard-0-of-2")).unwrap();
        fs::create_dir_all(dest.join(CHECKPOINT_DIR)).unwrap();
        fs::create_dir_all(dest.join("point-0003")).unwrap();
        let s = Staged::begin(&dest).unwrap();
        fs::write(s.dir().join(MANIFEST_FILE), "new").unwrap();
        s.commit().unwrap();
        assert!(dest.join("shard-0-of-2").is_dir());
        assert!(dest.join(CHECKPOINT_DIR).is_dir());
        assert!(
            !dest.join("point-0003").exists(),
            "a stale point is not kept"
        );
        // Killed after moving the kept folders into its build: the next writer moves them
        // back before removing the dead build.
        let dead = root.path().join(".run.tmp-0");
        fs::create_dir(&dead).unwrap();
        fs::rename(dest.join("shard-0-of-2"), dead.join("shard-0-of-2")).unwrap();
        drop(Staged::begin(&dest).unwrap());
        assert!(dest.join("shard-0-of-2").is_dir());
        assert!(!dead.exists());
    }
}

//! Checks made before a run starts, so that a run that cannot finish fails in seconds, not
//! after hours: will it fit in memory ([`check_memory`], with what would fit and how to split
//! it). Whether its output folder can be written is checked by starting it
//! (`output::folder::Staged::begin`).
//!
//! Here rather than in `scale`: every single run makes these checks, and the messages point
//! to `--shard` when a run is too big for one machine.

use crate::measure::MetricAcc;
use crate::model::{PathRecord, N_METRICS};
use crate::output::parquet as pq;
use crate::scenario::Scenario;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Bytes a report-day histogram typically holds. Measured on `bittensor_halving` (four years,
/// weekly rows): a 1,024-path chunk accumulator takes about 14 MB, i.e. 5.5 KB per
/// histogram (a few hundred 8-byte buckets per sign, allocated with slack); maximum RSS was
/// 311 MB for 20,000 paths and 1.0 GB for 200,000, which this estimate brackets (0.35 and
/// 1.1 GB).
const HIST_BYTES: u64 = 6 * 1024;
/// The summary's sorted copies of per-path columns (`measure::summary`): three f64 at a time.
const SUMMARY_SORT_BYTES_PER_PATH: u64 = 3 * 8;
/// Bytes per path of the Parquet writer's buffered row group (21 columns, before
/// compression), up to one row group.
const WRITER_BYTES_PER_ROW: u64 = 176;

/// What a run of some size needs in memory, by the estimate of [`estimate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryEstimate {
    /// Bytes per path (its record, kept until the outputs are written).
    pub per_path: u64,
    /// Bytes that do not grow with the paths (accumulators, writer buffers).
    pub fixed: u64,
    pub total: u64,
}

/// The memory a run of `paths` paths of `s` needs: the per-path records (`paths x
/// size_of::<PathRecord>()`) and the summary's sorted copies of them (at most three f64
/// columns at a time, `measure::summary`), the run's accumulator and the CPU engine's chunk
/// accumulators in flight (report rows x metrics x a typical histogram), and the Parquet
/// writer's row-group buffer.
pub fn estimate(s: &Scenario, paths: u64) -> MemoryEstimate {
    let rows = crate::model::Params::compile(s).report_days().len() as u64;
    let metric = std::mem::size_of::<MetricAcc>() as u64 + HIST_BYTES;
    let acc = (rows * N_METRICS as u64 + 10) * metric;
    let per_path = std::mem::size_of::<PathRecord>() as u64 + SUMMARY_SORT_BYTES_PER_PATH;
    let chunk = crate::engine::cpu::CHUNK_PATHS;
    let in_flight = crate::engine::cpu::chunks_in_flight().min(paths.div_ceil(chunk))
        * (acc + chunk * per_path);
    let writer = paths.min(pq::ROW_GROUP_ROWS as u64) * WRITER_BYTES_PER_ROW;
    let fixed = acc + in_flight + writer;
    MemoryEstimate {
        per_path,
        fixed,
        total: paths.saturating_mul(per_path).saturating_add(fixed),
    }
}

/// Memory available to this process: the smallest of `MemAvailable` (`/proc/meminfo`), the
/// address-space limit (`RLIMIT_AS`, `ulimit -v`) less the address space in use, and the
/// memory limit less usage of the process's own cgroup and each cgroup above it (v2
/// `memory.max`, v1 `memory.limit_in_bytes`), with where it came from. `None` where none
/// can be read (not Linux).
pub fn available_memory() -> Option<(u64, String)> {
    let mut best: Option<(u64, String)> = None;
    let mut offer = |bytes: u64, what: String| {
        if best.as_ref().is_none_or(|(b, _)| bytes < *b) {
            best = Some((bytes, what));
        }
    };
    let read = |p: &str| std::fs::read_to_string(p).ok();
    if let Some(kb) = read("/proc/meminfo").and_then(|t| proc_kb(&t, "MemAvailable:")) {
        offer(kb * 1024, "MemAvailable in /proc/meminfo".into());
    }
    if let Some(limit) = read("/proc/self/limits").and_then(|t| address_space_limit(&t)) {
        let used = read("/proc/self/status")
            .and_then(|t| proc_kb(&t, "VmSize:"))
            .unwrap_or(0)
            * 1024;
        offer(
            limit.saturating_sub(used),
            format!(
                "the address-space limit (RLIMIT_AS, ulimit -v) of {}, {} of it in use",
                gib(limit),
                gib(used)
            ),
        );
    }
    let read_num =
        |p: &Path| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    let own = read("/proc/self/cgroup").unwrap_or_default();
    for (limit_file, usage_file, dir) in cgroup_dirs(&own) {
        if let Some(l) = read_num(&dir.join(limit_file)) {
            // v1 reports "no limit" as a huge number (v2 as "max", which does not parse).
            if l < (1u64 << 60) {
                let used = read_num(&dir.join(usage_file)).unwrap_or(0);
                offer(
                    l.saturating_sub(used),
                    format!(
                        "the cgroup memory limit {} ({})",
                        gib(l),
                        dir.join(limit_file).display()
                    ),
                );
            }
        }
    }
    best
}

/// A `NAME: N kB` line of `/proc/meminfo` or `/proc/self/status`, in kB.
fn proc_kb(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// The soft `Max address space` of `/proc/self/limits`, in bytes (`None`: unlimited).
fn address_space_limit(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    line["Max address space".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The memory-controller folders that limit this process, with their (limit, usage) file
/// names: for each cgroup of `/proc/self/cgroup` (v2 `0::/PATH`, v1 `N:...memory...:/PATH`),
/// its folder and every folder above it up to the mount point.
fn cgroup_dirs(own: &str) -> Vec<(&'static str, &'static str, PathBuf)> {
    let mut out = Vec::new();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (root, limit, usage) = if id == "0" && ctrls.is_empty() {
            ("/sys/fs/cgroup", "memory.max", "memory.current")
        } else if ctrls.split(',').any(|c| c == "memory") {
            (
                "/sys/fs/cgroup/memory",
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
            )
        } else {
            continue;
        };
        let mut dir = PathBuf::from(root).join(path.trim_start_matches('/'));
        loop {
            out.push((limit, usage, dir.clone()));
            if dir == Path::new(root) || !dir.pop() {
                break;
            }
        }
    }
    if out.is_empty() {
        out.push((
            "memory.max",
            "memory.current",
            PathBuf::from("/sys/fs/cgroup"),
        ));
        out.push((
            "memory.limit_in_bytes",
            "memory.usage_in_bytes",
            PathBuf::from("/sys/fs/cgroup/memory"),
        ));
    }
    out
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Refuses, before simulating, a run of `paths` paths of `s` that cannot fit in memory, with
/// a message saying what would fit. `TOKENRISK_MEMORY_CHECK=off` skips the check.
pub fn check_memory(s: &Scenario, paths: u64, what: &str) -> Result<()> {
    if std::env::var("TOKENRISK_MEMORY_CHECK").is_ok_and(|v| v == "off" || v == "0") {
        return Ok(());
    }
    let Some((avail, source)) = available_memory() else {
        return Ok(());
    };
    check_memory_with(s, paths, what, avail, &source)
}

/// [`check_memory`] against a given amount of available memory.
pub fn check_memory_with(
    s: &Scenario,
    paths: u64,
    what: &str,
    avail: u64,
    source: &str,
) -> Result<()> {
    let est = estimate(s, paths);
    if est.total <= avail {
        return Ok(());
    }
    if est.fixed >= avail {
        let rows = crate::model::Params::compile(s).report_days().len();
        bail!(
            "{}: {what} would need about {} in memory for its accumulators alone ({rows} report \
             rows of every metric's histogram, whatever the path count), but only {} is \
             available ({source}); fewer paths or shards do not help: report fewer rows \
             (a larger scenario.report_every, now {}, or a shorter scenario.horizon_days), or \
             run on a machine with more memory. TOKENRISK_MEMORY_CHECK=off skips this check",
            s.scenario.name,
            gib(est.total),
            gib(avail),
            s.scenario.report_every,
        );
    }
    let fit = avail.saturating_sub(est.fixed) / est.per_path.max(1);
    let shards = paths.div_ceil(fit.max(1));
    bail!(
        "{}: {what} of {paths} paths would need about {} in memory ({} B per path for the \
         per-path records, plus {} for accumulators and buffers), but only {} is available \
         ({source}); at most about {fit} paths fit: use --paths {fit} or fewer, or split the \
         run with --shard I/N over at least {shards} shards on separate machines and \
         `tokenrisk merge` them (the merge holds every path too: merge on a larger machine). \
         TOKENRISK_MEMORY_CHECK=off skips this check",
        s.scenario.name,
        gib(est.total),
        est.per_path,
        gib(est.fixed),
        gib(avail),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_address_space_limit_and_own_cgroups() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max address space         2147483648           unlimited            bytes     \n";
        assert_eq!(address_space_limit(limits), Some(2147483648));
        let unlimited =
            "Max address space         unlimited            unlimited            bytes\n";
        assert_eq!(address_space_limit(unlimited), None);
        let v2 = cgroup_dirs("0::/user.slice/job.scope\n");
        let dirs: Vec<_> = v2.iter().map(|(l, _, d)| d.join(l)).collect();
        assert_eq!(
            dirs,
            [
                "/sys/fs/cgroup/user.slice/job.scope/memory.max",
                "/sys/fs/cgroup/user.slice/memory.max",
                "/sys/fs/cgroup/memory.max",
            ]
            .map(PathBuf::from)
        );
        let v1 = cgroup_dirs("4:cpu,cpuacct:/a\n7:memory:/docker/abc\n");
        assert_eq!(v1[0].2, PathBuf::from("/sys/fs/cgroup/memory/docker/abc"));
        assert_eq!(v1[0].0, "memory.limit_in_bytes");
        assert_eq!(v1.len(), 3);
    }

    #[test]
    fn memory_refusal_says_what_fits() {
        let s = crate::scenario::parse(
            crate::scenario::PRESETS[0].toml,
            crate::scenario::PRESETS[0].file,
        )
        .unwrap();
        let e = check_memory_with(&s, 4_000_000_000, "the run", 8 << 30, "test")
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most about"), "{e}");
        assert!(e.contains("--shard I/N"), "{e}");
        assert!(check_memory_with(&s, 1000, "the run", 8 << 30, "test").is_ok());
    }
}

//! Checks made before a run starts, so that a run that cannot finish fails in seconds, not
//! after hours: will it fit in memory ([`check_memory`], with what would fit and how to split
//! it), and can its output folder be written ([`check_writable`]).
//!
//! Here rather than in `scale`: every single run makes these checks, and the messages point
//! to `--shard` when a run is too big for one machine.

use crate::measure::MetricAcc;
use crate::model::{PathRecord, N_METRICS};
use crate::output::parquet as pq;
use crate::scenario::Scenario;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::Path;

/// Bytes a report-day histogram typically holds. Measured on `bittensor_halving` (four years,
/// weekly rows): a 1,024-path chunk accumulator takes about 14 MB, i.e. 5.5 KB per
/// histogram (a few hundred 8-byte buckets per sign, allocated with slack); maximum RSS was
/// 311 MB for 20,000 paths and 1.0 GB for 200,000, which this estimate brackets (0.35 and
/// 1.1 GB).
const HIST_BYTES: u64 = 6 * 1024;
/// Bytes per path of the Parquet writer's buffered row group (19 columns, before
/// compression), up to one row group.
const WRITER_BYTES_PER_ROW: u64 = 160;

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
/// size_of::<PathRecord>()`), the run's accumulator and the CPU engine's chunk
/// accumulators in flight (report rows x metrics x a typical histogram), and the Parquet
/// writer's row-group buffer.
pub fn estimate(s: &Scenario, paths: u64) -> MemoryEstimate {
    let rows = crate::model::Params::compile(s).report_days().len() as u64;
    let metric = std::mem::size_of::<MetricAcc>() as u64 + HIST_BYTES;
    let acc = (rows * N_METRICS as u64 + 10) * metric;
    let per_path = std::mem::size_of::<PathRecord>() as u64;
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

/// Memory available to this process: the smallest of `MemAvailable` (`/proc/meminfo`) and
/// the cgroup limit less usage (v2 `memory.max`, v1 `memory.limit_in_bytes`), with where it
/// came from. `None` where none can be read (not Linux).
pub fn available_memory() -> Option<(u64, String)> {
    let mut best: Option<(u64, String)> = None;
    let mut offer = |bytes: u64, what: String| {
        if best.as_ref().is_none_or(|(b, _)| bytes < *b) {
            best = Some((bytes, what));
        }
    };
    if let Ok(info) = std::fs::read_to_string("/proc/meminfo") {
        if let Some(kb) = info
            .lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
        {
            offer(kb * 1024, "MemAvailable in /proc/meminfo".into());
        }
    }
    let read_num =
        |p: &str| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    for (limit, usage) in [
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ] {
        if let Some(l) = read_num(limit) {
            // v1 reports "no limit" as a huge number.
            if l < (1u64 << 60) {
                let used = read_num(usage).unwrap_or(0);
                offer(
                    l.saturating_sub(used),
                    format!("the cgroup memory limit ({limit})"),
                );
            }
        }
    }
    best
}

/// Checks, before any work, that the output folder `dir` can be created and written in (a
/// probe file is created and removed), so a bad `--out` fails before a long simulation.
pub fn check_writable(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))?;
    let probe = dir.join(format!(".tokenrisk-write-probe.{}.tmp", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|mut f| f.write_all(b"probe"))
        .with_context(|| format!("cannot write in output directory {}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
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

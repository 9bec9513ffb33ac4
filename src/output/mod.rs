//! Output files of a run (ARCHITECTURE.md "Output contract"): `DIR/<scenario.name>/` with
//! `summary.parquet`, `timeseries.parquet`, `paths.parquet` and `manifest.json`, and
//! `governance.parquet` where the scenario has `[[governance]]` entries.
//!
//! Invariants:
//! - Every file appears atomically ([`atomic::write_atomic`]): a crash never leaves a
//!   half-written file under a final name.
//! - `manifest.json` is written last, so its presence means the Parquet files it lists are
//!   complete and belong to this run.
//! - Every Parquet file carries the run's key-value metadata (`tokenrisk.version`,
//!   `tokenrisk.model_version`, `tokenrisk.scenario`, `tokenrisk.scenario_toml`,
//!   `tokenrisk.seed`, `tokenrisk.engine`, `tokenrisk.paths`; the device name is the
//!   manifest's alone, so the tables do not depend on the machine).
//! - Column names are a public contract (see [`parquet`]'s `*_CONTRACT_COLUMNS`).

pub mod atomic;
pub mod backtest;
pub mod calibration;
pub mod clock;
pub mod comparison;
pub mod folder;
pub mod manifest;
pub mod parquet;
pub mod partial;
pub mod review;
pub mod untrusted;

pub use atomic::{write_atomic, write_atomic_bytes};
pub use manifest::{FileEntry, Manifest, Provenance, Timings};

use crate::measure::summary::{report_quantiles, Summary};
use crate::measure::Accumulator;
use crate::model::PathRecord;
use crate::scenario::Scenario;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Version of the model (MODEL.md) written into every file's metadata and the manifest.
pub const MODEL_VERSION: &str = "1";

pub const SUMMARY_FILE: &str = "summary.parquet";
pub const TIMESERIES_FILE: &str = "timeseries.parquet";
pub const PATHS_FILE: &str = "paths.parquet";
pub const MANIFEST_FILE: &str = "manifest.json";
/// Per (governance change, report day) the share of paths with it in force: only in the
/// folders of scenarios with `[[governance]]` entries.
pub const GOVERNANCE_FILE: &str = "governance.parquet";
/// The table of paired differences `tokenrisk compare` writes beside its design folders.
pub const COMPARISON_FILE: &str = "comparison.parquet";
/// The HTML report `tokenrisk report` writes into a run folder.
pub const REPORT_FILE: &str = "report.html";

/// What a run was and how it ran, beyond the accumulated results.
pub struct RunInfo<'a> {
    pub scenario: &'a Scenario,
    pub seed: u64,
    /// Engine name: "cpu" or "gpu" (the `backend` column).
    pub engine: &'a str,
    /// Device / adapter name.
    pub device: &'a str,
    pub simulate_seconds: f64,
    pub started_at: SystemTime,
}

/// The run directory and the Parquet files written into it: (name, rows, bytes), in the
/// order written. `manifest.json` is written too but not listed (it has no rows).
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub dir: PathBuf,
    pub files: Vec<(String, u64, u64)>,
}

/// Writes one Parquet file atomically via `write` (which returns the row count) and
/// returns (name, rows, bytes).
fn write_file(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut std::fs::File) -> Result<u64>,
) -> Result<(String, u64, u64)> {
    let path = dir.join(name);
    let mut rows = 0;
    write_atomic(&path, |f| {
        rows = write(f)?;
        Ok(())
    })?;
    let bytes = std::fs::metadata(&path)
        .with_context(|| format!("cannot stat {}", path.display()))?
        .len();
    Ok((name.to_string(), rows, bytes))
}

/// Writes a run's output as the folder `out_root/<scenario name>/`, built aside and moved
/// into place whole ([`folder::Staged`], replacing an earlier run there): the three Parquet
/// files (and `governance.parquet` with governance entries), then `manifest.json`. `summary` must come from
/// `Summary::of(acc, records, info.scenario)`, and `records` are the per-path records
/// in path order.
pub fn write_run(
    out_root: &Path,
    info: &RunInfo,
    acc: &Accumulator,
    summary: &Summary,
    records: &[PathRecord],
) -> Result<Written> {
    let dest = out_root.join(&info.scenario.scenario.name);
    let staged = folder::Staged::begin(&dest)?;
    let mut written = write_run_in(staged.dir(), info, acc, summary, records)?;
    written.dir = staged.commit()?;
    Ok(written)
}

/// The files of [`write_run`] written into `dir` itself, each atomically, the manifest last
/// (into a folder being built by [`folder::Staged`], or a sweep's
/// `DIR/<name>/point-0000/`, which keeps the point's scenario name).
pub fn write_run_in(
    dir: &Path,
    info: &RunInfo,
    acc: &Accumulator,
    summary: &Summary,
    records: &[PathRecord],
) -> Result<Written> {
    let write_start = Instant::now();
    let sc = info.scenario;
    let name = sc.scenario.name.as_str();
    let dir = dir.to_path_buf();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))?;

    let meta = parquet::run_metadata(info, acc.paths);
    let props = || parquet::writer_properties(meta.clone());
    let qs = report_quantiles(&sc.risk);
    let mut files = Vec::with_capacity(3);

    let summary_batch = parquet::summary_batch(info, summary)?;
    files.push(write_file(&dir, SUMMARY_FILE, |f| {
        parquet::write_parquet(f, summary_batch.schema(), props(), [Ok(summary_batch)])
    })?);

    let ts_batch = parquet::timeseries_batch(name, acc, &qs)?;
    files.push(write_file(&dir, TIMESERIES_FILE, |f| {
        parquet::write_parquet(f, Arc::clone(&ts_batch.schema()), props(), [Ok(ts_batch)])
    })?);

    files.push(write_file(&dir, PATHS_FILE, |f| {
        parquet::write_paths(f, props(), sc, records)
    })?);

    if let Some(batch) = parquet::governance_batch(sc, acc)? {
        files.push(write_file(&dir, GOVERNANCE_FILE, |f| {
            parquet::write_parquet(f, batch.schema(), props(), [Ok(batch)])
        })?);
    }

    let write_s = write_start.elapsed().as_secs_f64();
    let wall = SystemTime::now()
        .duration_since(info.started_at)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let manifest = Manifest {
        provenance: manifest::Provenance::new(sc, info.seed, acc.paths),
        backend: info.engine.to_string(),
        device: info.device.to_string(),
        started_at: clock::rfc3339_utc(info.started_at),
        timings: Timings {
            simulate_s: info.simulate_seconds,
            write_s,
            total_s: wall.max(info.simulate_seconds + write_s),
            path_steps_per_s: manifest::path_steps_per_s(
                acc.paths,
                sc.steps(),
                info.simulate_seconds,
            ),
        },
        files: files
            .iter()
            .map(|(name, rows, bytes)| FileEntry {
                name: name.clone(),
                rows: *rows,
                bytes: *bytes,
            })
            .collect(),
    };
    write_atomic_bytes(&dir.join(MANIFEST_FILE), manifest.to_json()?.as_bytes())?;
    Ok(Written { dir, files })
}

/// The key-value metadata of a Parquet file (keys without a value map to "").
pub fn read_parquet_metadata(path: &Path) -> Result<HashMap<String, String>> {
    use ::parquet::file::reader::{FileReader, SerializedFileReader};
    let read = || -> Result<HashMap<String, String>> {
        let file = std::fs::File::open(path)?;
        let reader = SerializedFileReader::new(file)?;
        let kv = reader.metadata().file_metadata().key_value_metadata();
        Ok(kv
            .into_iter()
            .flatten()
            .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
            .collect())
    };
    read().with_context(|| format!("cannot read Parquet metadata of {}", path.display()))
}

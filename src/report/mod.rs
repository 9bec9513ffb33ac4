//! Human-readable HTML reports of finished runs (`tokenrisk report DIR`).
//!
//! A report is one self-contained `report.html` (inline CSS and SVG, no script, no
//! network) written next to the run's tables. It is built only from the files of the run
//! folder, read back with arrow's Parquet reader, so it works on any finished run, on any
//! machine, long after the run.
//!
//! Layout: [`data`] reads the folder, [`format`](mod@format) formats every number and escapes every
//! text, [`svg`] holds the drawing primitives, [`charts`] the chart kinds, [`page`] assembles
//! the HTML.
//!
//! Invariants:
//! - `report.html` appears atomically (temp file, fsync, rename), like every output.
//! - A missing or unreadable required file (`summary.parquet`, `timeseries.parquet`,
//!   `paths.parquet`, `manifest.json`) is an error naming the file, and so is a folder whose
//!   files belong to different runs (`output::folder::check_run_folder`); an optional table
//!   that cannot be read is shown as a warning in the page.
//! - The same files give the same bytes: the page holds no timestamp of its own.

pub mod charts;
pub mod compare_data;
pub mod data;
pub mod format;
pub mod page;
pub mod svg;
pub mod sweep_pairs;

use crate::output::atomic::write_atomic_bytes;
use crate::output::folder::{check_run_folder, Lock};
use crate::output::{MANIFEST_FILE, PATHS_FILE, SUMMARY_FILE, TIMESERIES_FILE};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// The report's file name inside a run folder.
pub use crate::output::REPORT_FILE;

/// Whether `dir` is a run folder (holds any of a run's files: `summary.parquet`,
/// `timeseries.parquet`, `paths.parquet`, `manifest.json`).
pub fn is_run_dir(dir: &Path) -> bool {
    [SUMMARY_FILE, TIMESERIES_FILE, PATHS_FILE, MANIFEST_FILE]
        .iter()
        .any(|f| dir.join(f).is_file())
}

/// The report of the run in `run_dir`, as HTML; refused when the folder's files do not
/// all belong to one complete run (`output::folder::check_run_folder`).
pub fn render_report(run_dir: &Path) -> Result<String> {
    check_run_folder(run_dir)?;
    let run = data::load_run(run_dir, page::MAX_TABLE_ROWS)?;
    Ok(page::run_page(&run))
}

/// Writes `run_dir/report.html` for the run in `run_dir`; returns its path.
pub fn write_report(run_dir: &Path) -> Result<PathBuf> {
    write_report_to(run_dir, &run_dir.join(REPORT_FILE))
}

/// Writes the report of the run in `run_dir` to `out`; returns `out`. Holds the run
/// folder's lock while it reads and writes, so a run replacing the folder meanwhile cannot
/// pair its files with a report of the old ones.
pub fn write_report_to(run_dir: &Path, out: &Path) -> Result<PathBuf> {
    let _lock = Lock::acquire(run_dir)?;
    let html = render_report(run_dir)
        .with_context(|| format!("cannot report on {}", run_dir.display()))?;
    write_atomic_bytes(out, html.as_bytes())?;
    Ok(out.to_path_buf())
}

/// Whether `dir` holds Parquet tables of its own (and is not a run folder).
fn has_tables(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.filter_map(|e| e.ok()).any(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.ends_with(".parquet") && !n.starts_with('.')
        })
    })
}

/// The folders directly inside `dir` worth a report: run folders, and folders holding
/// other tables (e.g. `tornado.parquet` of `tokenrisk sensitivity`), sorted by name.
pub fn run_dirs_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir() && (is_run_dir(p) || has_tables(p)))
        .collect();
    v.sort();
    Ok(v)
}

fn dir_name(dir: &Path) -> String {
    dir.canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string())
}

/// Writes the page of a folder that is not a run folder: a table of the runs inside it
/// (linking their reports) and its own tables; returns its path.
fn write_index(dir: &Path, runs: &[PathBuf]) -> Result<PathBuf> {
    let own = data::read_extras(dir, &[], page::MAX_TABLE_ROWS)?;
    let index: Vec<_> = runs
        .iter()
        .map(|run| {
            let name = run
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned());
            let summary = data::read_table(&run.join(data::SUMMARY), Some(1)).ok();
            (name.clone(), format!("{name}/{REPORT_FILE}"), summary)
        })
        .collect();
    // A sweep's points share their paths: each is compared with the first, path by path.
    let pairs = if own.iter().any(|e| e.name == "sweep.parquet") {
        sweep_pairs::against_first(runs)?
    } else {
        Vec::new()
    };
    let html = page::index_page(&dir_name(dir), &index, &own, &pairs);
    let out = dir.join(REPORT_FILE);
    write_atomic_bytes(&out, html.as_bytes())?;
    Ok(out)
}

/// Refuses a folder whose `comparison.parquet` does not describe the design folders beside
/// it: each design it names (`tokenrisk.scenario_toml.<name>`) must be a run folder whose
/// manifest has that scenario text, and the comparison's seed and path count. (Each design
/// folder is moved into place whole, then the table; a crash in between, or a later run of
/// one design alone, would otherwise pair a comparison with runs it was not made from.)
fn check_comparison(dir: &Path, runs: &[PathBuf]) -> Result<()> {
    let table = dir.join(crate::output::COMPARISON_FILE);
    if !table.is_file() {
        return Ok(());
    }
    let kv = crate::output::read_parquet_metadata(&table)?;
    let manifests: Vec<_> = runs
        .iter()
        .filter_map(|r| crate::output::folder::read_manifest(r).ok())
        .collect();
    let mut problems = Vec::new();
    for (key, toml) in &kv {
        let Some(name) = key.strip_prefix("tokenrisk.scenario_toml.") else {
            continue;
        };
        let Some(m) = manifests.iter().find(|m| m.provenance.scenario == name) else {
            problems.push(format!("design {name} has no run folder here"));
            continue;
        };
        let p = &m.provenance;
        if p.scenario_sha256 != crate::output::manifest::sha256_hex(toml) {
            problems.push(format!(
                "design {name}: its folder holds a run of another scenario text"
            ));
        }
        for (field, want, got) in [
            ("seed", kv.get("tokenrisk.seed"), p.seed.to_string()),
            ("paths", kv.get("tokenrisk.paths"), p.paths.to_string()),
        ] {
            if want.is_some_and(|w| *w != got) {
                problems.push(format!(
                    "design {name}: its folder says {field} {got}, the comparison {}",
                    want.map_or("", String::as_str)
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "{}: comparison.parquet was not made from the design folders beside it ({}); \
             rerun the comparison",
            dir.display(),
            problems.join("; ")
        );
    }
    Ok(())
}

/// Reports a run folder, or every report-worthy folder inside a parent folder (run
/// folders get a run report, folders of other tables a page of those tables), plus, when
/// the parent holds Parquet tables of its own (such as `comparison.parquet`) or two run
/// folders or more (an `--out` root), a page there with the runs' headline figures side by
/// side, linking their reports. Returns the pages written. Folders that fail do not stop the others;
/// their errors are returned together at the end.
pub fn write_reports(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        bail!("{}: no such folder", dir.display());
    }
    if is_run_dir(dir) {
        return Ok(vec![write_report(dir)?]);
    }
    if page::backtest::is_backtest_dir(dir) {
        return Ok(vec![page::backtest::write_backtest_page(dir)?]);
    }
    // A folder of `tokenrisk calibrate` gets its diagnostics page.
    if page::calibration::is_calibration_dir(dir) {
        return Ok(vec![page::calibration::write_page(dir)?]);
    }
    let children = run_dirs_in(dir)?;
    let own = has_tables(dir);
    if children.is_empty() && !own {
        bail!(
            "{}: no summary.parquet here and no run folder below it (expected a folder \
             written by `tokenrisk run`, or a folder of them)",
            dir.display()
        );
    }
    let mut written = Vec::new();
    let mut errors = Vec::new();
    for child in &children {
        let done = if is_run_dir(child) {
            write_report(child)
        } else if page::backtest::is_backtest_dir(child) {
            page::backtest::write_backtest_page(child)
        } else if page::calibration::is_calibration_dir(child) {
            page::calibration::write_page(child)
        } else {
            write_index(child, &[]).with_context(|| format!("cannot report on {}", child.display()))
        };
        match done {
            Ok(p) => written.push(p),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    let runs: Vec<PathBuf> = children.into_iter().filter(|c| is_run_dir(c)).collect();
    // An `--out` root of several runs gets an index comparing them, as a folder of tables does.
    if own || runs.len() >= 2 {
        match check_comparison(dir, &runs) {
            // A folder of `tokenrisk compare` gets the design-comparison page.
            Ok(()) if compare_data::is_comparison_dir(dir) => {
                written.push(page::compare::write_comparison_page(dir)?)
            }
            Ok(()) => written.push(write_index(dir, &runs)?),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if !errors.is_empty() {
        bail!(
            "{} of {} folders could not be reported:\n  {}",
            errors.len(),
            errors.len() + written.len(),
            errors.join("\n  ")
        );
    }
    Ok(written)
}

//! `tokenrisk merge`: shards of one run ([`crate::scale::shard`]) put back together into exactly the
//! outputs a single run writes.
//!
//! Invariants:
//! - Nothing is merged silently: every part must read cleanly (a truncated or damaged
//!   `partial.json` or `paths.parquet` is an error naming the file), all parts must belong
//!   to one run (same format, tokenrisk and model version, scenario SHA-256, seed, paths, shard
//!   count and report days; a difference names the field, both values and both folders), and
//!   the shard indices must be exactly `0..N`: a missing shard is named (with the folder it
//!   should be in, and any incomplete shard folder found), and so is a shard given twice
//!   (the same folder twice, or two folders holding the same index).
//! - Nothing read is trusted (`output::partial`, `output::untrusted`): listed files are
//!   plain names inside the shard folder, opened only if regular files (no link followed,
//!   no FIFO waited on), size-capped and hashed; each rows file's Parquet metadata must
//!   agree with its header, and each shard's accumulator with its rows
//!   (`partial::check_rows`), so an edited seed or a re-hashed accumulator is refused.
//! - Accumulators are merged in shard order and path rows concatenated in path order, so the
//!   result does not depend on the order the parts are given. Counts, histograms (hence every
//!   quantile, VaR and CVaR), spiral flags and per-path rows are identical to the unsharded
//!   run; means and standard errors agree up to summation order (the unsharded run folds its
//!   1,024-path chunks one after another, the merge folds each shard's fold), about 1e-15
//!   relative, tested within 1e-12.
//! - Parts run on different engines (CPU f64 and GPU f32) are refused unless asked for.

use super::split::ShardSpec;
use crate::engine::EngineOutput;
use crate::measure::Accumulator;
use crate::model::PathRecord;
use crate::output::folder::Staged;
use crate::output::partial::{self, Header, PARTIAL_FILE};
use crate::output::Written;
use crate::scenario::Scenario;
use crate::workflows::preflight;
use crate::workflows::single::RunResult;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// One shard folder found among the parts.
#[derive(Debug, Clone)]
pub struct Found {
    pub dir: PathBuf,
    /// `false`: the folder is named like a shard but has no `partial.json` (it did not finish).
    pub complete: bool,
}

/// Whether `dir` holds a `partial.json` (of any file type: one that is not a regular file
/// is found here and refused when read).
fn has_partial(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join(PARTIAL_FILE)).is_ok()
}

/// The subfolders of `dir`, sorted; symbolic links are not followed, and hidden ones (a
/// shard still being built, `.shard-I-of-N.tmp-PID`, a `.checkpoint`) are not shards.
fn subfolders(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    v.sort();
    Ok(v)
}

/// A shard folder: it holds `partial.json`, or is named `shard-I-of-N` (an unfinished one).
fn shard_folder(dir: &Path) -> Option<Found> {
    let complete = has_partial(dir);
    let named = dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(crate::output::folder::shard_dir_name)
        .is_some();
    (complete || named).then(|| Found {
        dir: dir.to_path_buf(),
        complete,
    })
}

/// The shard folders among `parts`: each part is a shard folder (it holds `partial.json`),
/// or a folder with shard folders (holding `partial.json` or named `shard-I-of-N`) one or
/// two levels below it: `OUT/<name>/` and `OUT/` both work (symbolic links below a part are
/// not followed). A shard folder found twice (given twice, or given and found below another
/// part) is refused: the README promises a doubled shard is never merged silently.
pub fn discover(parts: &[PathBuf]) -> Result<Vec<Found>> {
    let mut found: Vec<(Found, &PathBuf)> = Vec::new();
    for part in parts {
        if std::fs::symlink_metadata(part).is_err() {
            bail!("{}: no such file or folder", part.display());
        }
        let part_dir = if part.file_name().is_some_and(|n| n == PARTIAL_FILE) && !part.is_dir() {
            part.parent().unwrap_or(Path::new(".")).to_path_buf()
        } else {
            part.clone()
        };
        if has_partial(&part_dir) {
            found.push((
                Found {
                    dir: part_dir,
                    complete: true,
                },
                part,
            ));
            continue;
        }
        if !part_dir.is_dir() {
            bail!(
                "{}: not a shard folder (no {PARTIAL_FILE}) nor a folder of them",
                part.display()
            );
        }
        let mut below = Vec::new();
        for sub in subfolders(&part_dir)? {
            match shard_folder(&sub) {
                Some(f) => below.push(f),
                None => below.extend(subfolders(&sub)?.iter().filter_map(|d| shard_folder(d))),
            }
        }
        if below.is_empty() {
            bail!(
                "{}: no {PARTIAL_FILE} here and no shard folder (shard-I-of-N) one or two \
                 levels below it",
                part.display()
            );
        }
        found.extend(below.into_iter().map(|f| (f, part)));
    }
    // The same folder twice, however it was reached.
    let key = |d: &Path| d.canonicalize().unwrap_or_else(|_| d.to_path_buf());
    for (i, (a, from_a)) in found.iter().enumerate() {
        if let Some((_, from_b)) = found[i + 1..]
            .iter()
            .find(|(b, _)| key(&b.dir) == key(&a.dir))
        {
            let how = if from_a == from_b {
                format!("as {}", from_a.display())
            } else {
                format!("as {} and as {}", from_a.display(), from_b.display())
            };
            bail!(
                "shard folder {} is given twice ({how}); give each shard once",
                a.dir.display()
            );
        }
    }
    Ok(found.into_iter().map(|(f, _)| f).collect())
}

/// A shard read and checked.
pub struct Part {
    pub dir: PathBuf,
    /// Its header (the accumulator is read again, one part at a time, by [`merge`], so a
    /// merge of many shards holds one shard accumulator at a time).
    pub header: Header,
}

/// The parts, checked to form one complete run, in shard order.
pub struct Checked {
    pub parts: Vec<Part>,
    pub scenario: Scenario,
}

fn dir_list(found: &[&Found]) -> Vec<String> {
    found.iter().map(|f| f.dir.display().to_string()).collect()
}

fn list(ids: &[u64]) -> String {
    match ids {
        [] => String::new(),
        [one] => one.to_string(),
        _ => {
            let head: Vec<String> = ids[..ids.len() - 1].iter().map(u64::to_string).collect();
            format!("{} and {}", head.join(", "), ids[ids.len() - 1])
        }
    }
}

/// Every reason a verified partial header ([`partial::parse_header`]) is not a finished
/// shard of its run, each naming its field: the kind, the shard index and count against the
/// run's paths, and the range against the split's ([`ShardSpec::range`]).
pub fn shard_problems(h: &Header) -> Vec<String> {
    let mut p = Vec::new();
    if h.kind != "shard" {
        p.push(format!(
            "header.kind is {:?}, not \"shard\": not a finished shard",
            h.kind
        ));
    }
    let spec = ShardSpec {
        index: h.shard,
        count: h.shards,
    };
    match spec.check(h.provenance.paths) {
        Err(e) => p.push(format!("header.shard, header.shards: {e}")),
        Ok(()) => {
            let r = spec.range(h.provenance.paths);
            if h.path_start != r.start || h.path_count != r.count || h.completed != r.count {
                p.push(format!(
                    "header.path_start, path_count, completed: shard {} of {} holds paths \
                     {}..{} ({} completed) but the split gives {}..{}",
                    h.shard,
                    h.shards,
                    h.path_start,
                    h.path_start.saturating_add(h.path_count),
                    h.completed,
                    r.start,
                    r.start + r.count
                ));
            }
        }
    }
    p
}

/// Reads every found shard and checks that together they are one whole run (module notes).
pub fn check(found: &[Found], allow_mixed_engines: bool) -> Result<Checked> {
    // Read the complete ones ([`discover`] refused any folder found twice).
    let mut parts: Vec<Part> = Vec::new();
    let mut incomplete: Vec<&Found> = Vec::new();
    for f in found {
        if !f.complete {
            incomplete.push(f);
            continue;
        }
        let file = f.dir.join(PARTIAL_FILE);
        let header = partial::read_header(&file)?;
        let problems = shard_problems(&header);
        if !problems.is_empty() {
            bail!(
                "cannot use partial result {}: {}",
                file.display(),
                problems.join("; ")
            );
        }
        parts.push(Part {
            dir: f.dir.clone(),
            header,
        });
    }
    if parts.is_empty() {
        let names = dir_list(&incomplete);
        bail!(
            "no finished shard to merge (incomplete, without {PARTIAL_FILE}: {})",
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        );
    }
    // All belong to one run: compare with the first.
    let first = &parts[0];
    for p in &parts[1..] {
        let diffs = first.header.identity_differences(&p.header);
        if !diffs.is_empty() {
            let what: Vec<String> = diffs
                .iter()
                .map(|(f, a, b)| format!("{f} {a} vs {b}"))
                .collect();
            bail!(
                "shards do not belong to the same run: {} (in {}) vs {} (in {}): {}; merge only \
                 the shards of one run (same scenario, --seed, --paths and shard count)",
                first.header.provenance.scenario,
                first.dir.display(),
                p.header.provenance.scenario,
                p.dir.display(),
                what.join(", ")
            );
        }
        if !allow_mixed_engines && p.header.engine != first.header.engine {
            bail!(
                "shards ran on different engines: {} (in {}) and {} (in {}); the CPU engine (f64) \
                 and the GPU engine (f32) agree only within tolerances, so the merged result would \
                 be neither: rerun the odd shards on the same engine, or pass \
                 --allow-mixed-engines",
                first.header.engine,
                first.dir.display(),
                p.header.engine,
                p.dir.display()
            );
        }
    }
    let n = first.header.shards;
    // Duplicates and missing shards.
    let mut by_index: BTreeMap<u64, &Part> = BTreeMap::new();
    for p in &parts {
        let i = p.header.shard;
        if let Some(other) = by_index.insert(i, p) {
            bail!(
                "shard {i} of {n} appears twice: {} and {}; keep one of them",
                other.dir.display(),
                p.dir.display()
            );
        }
    }
    let missing: Vec<u64> = (0..n).filter(|i| !by_index.contains_key(i)).collect();
    if !missing.is_empty() {
        let folders: Vec<String> = missing
            .iter()
            .map(|&i| ShardSpec { index: i, count: n }.dir_name())
            .collect();
        let mut msg = format!(
            "cannot merge {}: missing shard{} {} of {n} (expected folder{} {}); {} of {n} shards found",
            first.header.provenance.scenario,
            if missing.len() == 1 { "" } else { "s" },
            list(&missing),
            if missing.len() == 1 { "" } else { "s" },
            folders.join(", "),
            by_index.len()
        );
        if !incomplete.is_empty() {
            let names = dir_list(&incomplete);
            msg.push_str(&format!(
                "; incomplete shard folder{} without {PARTIAL_FILE} (still running, or killed: rerun): {}",
                if names.len() == 1 { "" } else { "s" },
                names.join(", ")
            ));
        }
        bail!(msg);
    }
    let first_full = partial::read_partial(&first.dir.join(PARTIAL_FILE))?;
    let scenario = partial::partial_scenario(&first_full, &first.dir.join(PARTIAL_FILE))?;
    if crate::output::manifest::sha256_hex(&scenario.source_toml)
        != first.header.provenance.scenario_sha256
    {
        bail!(
            "the scenario text of {} does not match its hash",
            first.dir.display()
        );
    }
    parts.sort_by_key(|p| p.header.shard);
    Ok(Checked { parts, scenario })
}

/// Merges checked parts: the accumulators in shard order and the path rows in path order,
/// as one engine output (`simulate_time` is the sum of the shards' simulation times).
pub fn merge(checked: &Checked) -> Result<EngineOutput> {
    let first = &checked.parts[0].header;
    let mut acc = Accumulator::new(first.report_days.clone());
    let mut records: Vec<PathRecord> = Vec::with_capacity(first.provenance.paths as usize);
    let mut simulate = 0.0;
    let mut devices: Vec<String> = Vec::new();
    let mut engines: Vec<String> = Vec::new();
    for part in &checked.parts {
        let h = &part.header;
        let file = part.dir.join(PARTIAL_FILE);
        let partial = partial::read_partial(&file)?;
        if &partial.header != h {
            bail!("{} changed while it was being merged", file.display());
        }
        let from = records.len();
        for k in 0..h.paths_files.len() {
            records.extend(partial::read_paths_file(&file, h, k)?);
        }
        partial::check_rows(&file, &partial.acc, &records[from..])?;
        acc.merge(&partial.acc);
        drop(partial);
        simulate += h.simulate_seconds;
        if !devices.contains(&h.device) {
            devices.push(h.device.clone());
        }
        if !engines.contains(&h.engine) {
            engines.push(h.engine.clone());
        }
    }
    if records.len() as u64 != first.provenance.paths || acc.paths != first.provenance.paths {
        bail!(
            "merged {} path rows and {} accumulated paths, expected {}",
            records.len(),
            acc.paths,
            first.provenance.paths
        );
    }
    let engine: &'static str = match engines.as_slice() {
        [e] if e == "cpu" => "cpu",
        [e] if e == "gpu" => "gpu",
        [_] => "other",
        _ => "mixed",
    };
    Ok(EngineOutput {
        acc,
        records,
        engine,
        device: devices.join("; "),
        simulate_time: Duration::from_secs_f64(simulate.max(0.0)),
        phases: Vec::new(),
    })
}

/// Discovers, checks (memory included) and merges the shards among `parts`, in memory;
/// returns the scenario, the merged output, the number of shards and the wall time. With
/// `out_root`, also locks and starts the folder `out_root/<name>/` before reading any rows
/// (returned, to write the merged run into).
pub fn merge_parts(
    parts: &[PathBuf],
    allow_mixed_engines: bool,
    out_root: Option<&Path>,
) -> Result<(Scenario, EngineOutput, usize, Duration, Option<Staged>)> {
    let t0 = Instant::now();
    let found = discover(parts)?;
    let checked = check(&found, allow_mixed_engines)?;
    let s = &checked.scenario;
    preflight::check_memory(s, s.scenario.paths, "merging")?;
    let staged = out_root
        .map(|root| Staged::begin(&root.join(&s.scenario.name)))
        .transpose()?;
    let out = merge(&checked)?;
    Ok((
        checked.scenario,
        out,
        checked.parts.len(),
        t0.elapsed(),
        staged,
    ))
}

/// A merged run, written.
pub struct Merged {
    pub result: RunResult,
    pub written: Written,
    /// Shards merged.
    pub shards: usize,
    /// Wall time of discovering, checking, reading and merging (writing excluded).
    pub merge_time: Duration,
}

/// [`merge_parts`], then the merged run written to `out_root/<name>/` exactly as a single
/// run writes it (the shard folders in it are kept).
pub fn merge_to(parts: &[PathBuf], allow_mixed_engines: bool, out_root: &Path) -> Result<Merged> {
    let started_at = SystemTime::now();
    let (scenario, output, shards, merge_time, staged) =
        merge_parts(parts, allow_mixed_engines, Some(out_root))?;
    let result = RunResult::new(scenario, output, started_at);
    let written = result.write_staged(staged.expect("staged with an out_root"))?;
    Ok(Merged {
        result,
        written,
        shards,
        merge_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(list(&[1]), "1");
        assert_eq!(list(&[1, 3, 5]), "1, 3 and 5");
    }
}

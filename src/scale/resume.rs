//! Resumable runs: `tokenrisk run S.toml --resume` or `--checkpoint-every K` checkpoints a
//! run (or a shard) block by block, and a rerun with the same arguments continues where the
//! last one stopped.
//!
//! # Layout (`OUT/<name>/.checkpoint/`, or `OUT/<name>/shard-I-of-N/.checkpoint/`)
//!
//! - `block-<first path id, 12 digits>.parquet`: the per-path rows of one block of K paths
//!   (`paths.parquet` contract), written atomically.
//! - `state.json`: a partial file ([`crate::scale::shard`], `kind = "checkpoint"`, the same header as
//!   a shard) holding the accumulator of *every* path done so far, `completed`, and the list
//!   of block files with their SHA-256. Rewritten atomically after each block's rows are in
//!   place, so it never lists a block that is not complete.
//!
//! # Same result as an uninterrupted run
//!
//! The state holds the running accumulator (the in-order fold over 1,024-path engine chunks),
//! not one accumulator per block. Blocks are whole chunks (K is rounded up to a multiple of
//! 1,024) counted from the range's first path, and each block is simulated chunk by chunk,
//! every chunk merged into the running accumulator in path order: exactly the fold the CPU
//! engine does inside one run. The accumulator is stored bit for bit, so on the CPU engine a
//! run killed any number of times and resumed writes the same tables (every count, histogram,
//! mean and per-path row) as one uninterrupted run; only the timings differ (the summary's
//! `simulate_seconds` is the sum over the attempts). On a GPU engine blocks are merged in
//! path order too: counts and histograms exact, means to rounding. K does not need to be the
//! same across attempts.
//!
//! # Stale checkpoints
//!
//! A checkpoint is used only if it was written for the same run: format, tokenrisk and model
//! version, scenario SHA-256 (the text, overlays included), seed, paths, shard (I, N, range),
//! report days and engine. Otherwise the run stops with a message naming every difference
//! and the folder to delete; it never starts over silently (the folder may hold hours of work)
//! and never mixes two runs. A damaged state or block file is an error naming the file.
//! Leftover temp files and blocks the state does not list (a kill between a block and its
//! state) are removed on resume. The checkpoint folder is removed once the outputs are written.

use crate::engine::cpu::{self, CHUNK_PATHS};
use crate::engine::{self, gpu, Backend, EngineOutput, PathRange, Progress};
use crate::measure::Accumulator;
use crate::model::{Params, PathRecord};
use crate::output::partial::{self, Header};
use crate::output::RunInfo;
use crate::scale::shard::ShardSpec;
use crate::scenario::Scenario;
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// The checkpoint folder's name inside a run (or shard) folder.
pub const CHECKPOINT_DIR: &str = ".checkpoint";
/// The checkpoint's state file.
pub const STATE_FILE: &str = "state.json";
/// Blocks per run when `--resume` is given without `--checkpoint-every`.
pub const DEFAULT_BLOCKS: u64 = 20;

/// The block size: `requested` (or `count / DEFAULT_BLOCKS`) rounded up to whole 1,024-path
/// chunks, at least one chunk.
pub fn block_paths(requested: Option<u64>, count: u64) -> u64 {
    let k = requested.unwrap_or(count / DEFAULT_BLOCKS).max(1);
    k.div_ceil(CHUNK_PATHS).saturating_mul(CHUNK_PATHS)
}

/// What a checkpointed run did.
pub struct Resumed {
    pub output: EngineOutput,
    /// Paths loaded from an earlier attempt's checkpoint (0: started afresh).
    pub resumed_paths: u64,
    /// Blocks this attempt simulated and checkpointed.
    pub blocks_written: usize,
}

/// The engine `backend` resolves to, deciding between the exact chunk fold (CPU) and
/// block-sized GPU runs.
fn engine_of(backend: Backend) -> Result<&'static str> {
    Ok(match backend {
        Backend::Cpu => "cpu",
        Backend::Auto => match gpu::context(gpu::Selection::Auto)? {
            Some(_) => "gpu",
            None => "cpu",
        },
        Backend::Gpu => {
            gpu::context(gpu::Selection::Any)?;
            "gpu"
        }
    })
}

/// Simulates paths `start..end` chunk by chunk on the CPU, each chunk merged into `acc` in
/// path order (the CPU engine's own fold); returns the records.
fn cpu_block(
    params: &Params,
    seed: u64,
    start: u64,
    end: u64,
    acc: &mut Accumulator,
) -> Vec<PathRecord> {
    let batch = (4 * rayon::current_num_threads() as u64).max(8);
    let mut records = Vec::with_capacity((end - start) as usize);
    let mut s = start;
    while s < end {
        let batch_end = s.saturating_add(batch * CHUNK_PATHS).min(end);
        let starts: Vec<u64> = (s..batch_end).step_by(CHUNK_PATHS as usize).collect();
        let parts: Vec<EngineOutput> = starts
            .into_par_iter()
            .map(|c| {
                let count = CHUNK_PATHS.min(end - c);
                cpu::run(params, seed, PathRange { start: c, count }, &|_, _| {})
            })
            .collect();
        for p in parts {
            acc.merge(&p.acc);
            records.extend(p.records);
        }
        s = batch_end;
    }
    records
}

fn block_name(first_path: u64) -> String {
    format!("block-{first_path:012}.parquet")
}

/// Runs `range` of `s` (shard `spec` of the run) with checkpoints of `block` paths in `dir`,
/// resuming from a checkpoint there if one exists for the same run (module notes).
#[allow(clippy::too_many_arguments)]
pub fn run(
    s: &Scenario,
    params: &Params,
    backend: Backend,
    spec: ShardSpec,
    range: PathRange,
    dir: &Path,
    block: u64,
    progress: Progress,
) -> Result<Resumed> {
    let engine = engine_of(backend)?;
    let device = if engine == "cpu" {
        cpu::cpu_model()
    } else {
        String::new()
    };
    let report_days = params.report_days();
    let mut header = Header::new(
        "checkpoint",
        s,
        (spec.index, spec.count),
        range,
        report_days.clone(),
        engine,
        &device,
    );
    let state_path = dir.join(STATE_FILE);
    let mut acc = Accumulator::new(report_days);
    let mut records: Vec<PathRecord> = Vec::with_capacity(range.count as usize);
    let mut sim_before = 0.0;
    let mut resumed_paths = 0;
    if state_path.exists() {
        let old = partial::read_partial(&state_path).with_context(|| {
            format!(
                "the checkpoint in {} cannot be used; delete that folder to start over",
                dir.display()
            )
        })?;
        let h = &old.header;
        let mut diffs = header.identity_differences(h);
        for (name, a, b) in [
            ("kind", header.kind.clone(), h.kind.clone()),
            ("shard", header.shard.to_string(), h.shard.to_string()),
            (
                "path range",
                format!("{}+{}", header.path_start, header.path_count),
                format!("{}+{}", h.path_start, h.path_count),
            ),
            ("engine", header.engine.clone(), h.engine.clone()),
        ] {
            if a != b {
                diffs.push((name, a, b));
            }
        }
        if !diffs.is_empty() {
            let what: Vec<String> = diffs
                .iter()
                .map(|(f, now, then)| format!("{f} {then} there, {now} now"))
                .collect();
            bail!(
                "{} holds a checkpoint of a different run ({}); it is not used and not deleted: \
                 rerun with the arguments it was made with to finish that run, or delete the \
                 folder (rm -r {}) to start over",
                dir.display(),
                what.join(", "),
                dir.display()
            );
        }
        if h.completed % CHUNK_PATHS != 0 && h.completed != h.path_count {
            bail!(
                "{}: {} paths completed is not a whole number of 1,024-path chunks; delete {} to start over",
                state_path.display(),
                h.completed,
                dir.display()
            );
        }
        let mut next = range.start;
        for f in &h.paths_files {
            if f.path_start != next {
                bail!(
                    "{}: block {} starts at path {}, expected {next}; delete {} to start over",
                    state_path.display(),
                    f.name,
                    f.path_start,
                    dir.display()
                );
            }
            records.extend(partial::read_paths_file(dir, f).with_context(|| {
                format!(
                    "the checkpoint in {} cannot be used; delete that folder to start over",
                    dir.display()
                )
            })?);
            next += f.path_count;
        }
        resumed_paths = h.completed;
        sim_before = h.simulate_seconds;
        header.paths_files = h.paths_files.clone();
        header.completed = h.completed;
        acc = old.acc;
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create checkpoint folder {}", dir.display()))?;
    remove_strays(dir, &header)?;

    let t0 = Instant::now();
    let mut device = device;
    let mut blocks_written = 0;
    progress(header.completed, range.count);
    while header.completed < range.count {
        let from = range.start + header.completed;
        let to = range.start + (header.completed + block).min(range.count);
        let recs = if engine == "cpu" {
            cpu_block(params, s.scenario.seed, from, to, &mut acc)
        } else {
            let out = engine::run(
                backend,
                params,
                s.scenario.seed,
                PathRange {
                    start: from,
                    count: to - from,
                },
                &|_, _| {},
            )?;
            device = out.device.clone();
            acc.merge(&out.acc);
            out.records
        };
        header.device = device.clone();
        header.simulate_seconds = sim_before + t0.elapsed().as_secs_f64();
        let info = RunInfo {
            scenario: s,
            seed: s.scenario.seed,
            engine,
            device: &device,
            simulate_seconds: header.simulate_seconds,
            started_at: SystemTime::now(),
        };
        let entry = partial::write_paths_file(dir, &block_name(from), &info, &header, &recs)?;
        records.extend(recs);
        header.paths_files.push(entry);
        header.completed = to - range.start;
        header.created_at = crate::output::manifest::rfc3339_utc(SystemTime::now());
        partial::write_partial(&state_path, &header, &s.source_toml, &acc)?;
        blocks_written += 1;
        progress(header.completed, range.count);
    }
    if device.is_empty() {
        device = header.device.clone();
    }
    Ok(Resumed {
        output: EngineOutput {
            acc,
            records,
            engine,
            device,
            simulate_time: Duration::from_secs_f64(sim_before + t0.elapsed().as_secs_f64()),
        },
        resumed_paths,
        blocks_written,
    })
}

/// Removes temp files and block files the state does not list (left by a kill).
fn remove_strays(dir: &Path, header: &Header) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let stray_tmp = name.starts_with('.') && name.ends_with(".tmp");
        let stray_block = name.starts_with("block-")
            && name.ends_with(".parquet")
            && !header.paths_files.iter().any(|f| f.name == name);
        if stray_tmp || stray_block {
            let p = e.path();
            std::fs::remove_file(&p)
                .with_context(|| format!("cannot remove stray checkpoint file {}", p.display()))?;
        }
    }
    Ok(())
}

/// Removes the checkpoint folder once the run's outputs are written.
pub fn finish(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| {
            format!(
                "the outputs are written, but the checkpoint {} could not be removed",
                dir.display()
            )
        }),
    }
}

/// The checkpoint folder of a run or shard folder.
pub fn checkpoint_dir(run_dir: &Path) -> PathBuf {
    run_dir.join(CHECKPOINT_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_whole_chunks() {
        assert_eq!(block_paths(Some(1), 10_000), 1024);
        assert_eq!(block_paths(Some(1025), 10_000), 2048);
        assert_eq!(block_paths(None, 100_000), 5120);
        assert_eq!(block_paths(None, 10), 1024);
    }
}

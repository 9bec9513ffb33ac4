//! Resumable runs: `tokenrisk run S.toml --resume` or `--checkpoint-every K` checkpoints a
//! run (or a shard) block by block, and a rerun with the same arguments continues where the
//! last one stopped.
//!
//! # Layout (`OUT/<name>/.checkpoint/`, or `OUT/<name>/shard-I-of-N/.checkpoint/`)
//!
//! - `block-<first path id, 12 digits>.parquet`: the per-path rows of one block of K paths
//!   (`paths.parquet` contract), written atomically.
//! - `state.json`: a partial file ([`crate::output::partial`], `kind = "checkpoint"`, the
//!   same header as a shard) holding the accumulator of *every* path done so far, `completed`, and the list
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
//!
//! # Nothing trusted
//!
//! The state and its blocks get the checks a merge makes of a shard (`output::partial`:
//! plain names, regular files only, sizes, hashes, the blocks' Parquet metadata against the
//! state, the accumulator against the rows) plus [`state_problems`]; a tampered file is
//! refused naming the file and field, never resumed from. A `.checkpoint` that is not a
//! plain folder (a symbolic link) is refused before anything is read, removed or written
//! through it, and the folder is created and removed without following links.

use super::split::ShardSpec;
use crate::engine::cpu::CHUNK_PATHS;
use crate::engine::{self, Control, EngineOutput, PathRange};
use crate::model::Params;
use crate::output::folder::Staged;
use crate::output::partial::{self, Header};
use crate::output::Written;
use crate::output::{untrusted, RunInfo};
use crate::workflows::preflight;
use crate::workflows::single::{RunPlan, RunResult};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// The checkpoint folder's name inside a run (or shard) folder.
pub const CHECKPOINT_DIR: &str = crate::output::folder::CHECKPOINT_DIR;
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

/// `--resume` / `--checkpoint-every K`: checkpoint every `every` paths (default: a
/// [`DEFAULT_BLOCKS`]th of the run), rounded up to whole chunks ([`block_paths`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoints {
    pub every: Option<u64>,
}

/// What a checkpointed run did.
pub struct Resumed {
    pub output: EngineOutput,
    pub report: CheckpointReport,
}

/// How a checkpointed run went, for the person who ran it.
#[derive(Debug, Clone)]
pub struct CheckpointReport {
    /// The checkpoint folder.
    pub dir: PathBuf,
    /// Paths of the run (or shard).
    pub count: u64,
    /// Paths per block.
    pub block: u64,
    /// Paths loaded from an earlier attempt's checkpoint (0: started afresh).
    pub resumed_paths: u64,
    /// Blocks this attempt simulated and checkpointed.
    pub blocks_written: usize,
    /// Seconds earlier attempts spent simulating (0 when started afresh); the output's
    /// `simulate_time` is the total over all attempts.
    pub earlier_simulate_s: f64,
}

impl CheckpointReport {
    /// " this attempt" when earlier attempts did part of the run (a time measured by this
    /// process covers this attempt only), else "".
    pub fn attempt(&self) -> &'static str {
        if self.resumed_paths > 0 {
            " this attempt"
        } else {
            ""
        }
    }

    /// "simulated in T s" of a checkpointed run whose simulation took `total_s` over all
    /// attempts: this attempt's time, and the total when earlier attempts did part of it.
    pub fn simulated(&self, total_s: f64) -> String {
        if self.resumed_paths > 0 {
            format!(
                "simulated in {:.2} s this attempt ({:.2} s over all attempts)",
                (total_s - self.earlier_simulate_s).max(0.0),
                total_s
            )
        } else {
            format!("simulated in {total_s:.2} s")
        }
    }
}

impl CheckpointReport {
    /// `resumed from checkpoint DIR: 4096 of 10000 paths were done, ...` or
    /// `checkpointed every 1024 paths (10 blocks); checkpoint removed`.
    pub fn describe(&self) -> String {
        let blocks = |n: usize| format!("{n} block{}", if n == 1 { "" } else { "s" });
        if self.resumed_paths > 0 {
            format!(
                "resumed from checkpoint {}: {} of {} paths were done, simulated the other {} in {} of {}",
                self.dir.display(),
                self.resumed_paths,
                self.count,
                self.count - self.resumed_paths,
                blocks(self.blocks_written),
                self.block
            )
        } else {
            format!(
                "checkpointed every {} paths ({}); checkpoint removed",
                self.block,
                blocks(self.blocks_written)
            )
        }
    }
}

/// A whole run (not a shard) with checkpoints in `out_root/<name>/.checkpoint/`, resumed
/// from an earlier attempt's checkpoint when there is one; writes the run's outputs and then
/// removes the checkpoint.
pub fn run_to(
    plan: &RunPlan,
    out_root: &Path,
    checkpoints: Checkpoints,
    ctl: &Control,
) -> Result<(RunResult, Written, CheckpointReport)> {
    let paths = plan.paths();
    let run_dir = out_root.join(plan.name());
    preflight::check_memory(&plan.scenario, paths, "the run")?;
    // Locked for the whole run: the checkpoint in the folder is this process's alone.
    let staged = Staged::begin(&run_dir)?;
    let started_at = SystemTime::now();
    let ck = checkpoint_dir(&run_dir);
    let block = block_paths(checkpoints.every, paths);
    let range = PathRange {
        start: 0,
        count: paths,
    };
    let r = run(
        plan,
        ShardSpec { index: 0, count: 1 },
        range,
        &ck,
        block,
        ctl,
    )
    .with_context(|| format!("simulating {}", plan.name()))?;
    let result = RunResult::new(plan.scenario.clone(), r.output, started_at);
    let written = result.write_staged(staged)?;
    finish(&ck)?;
    Ok((result, written, r.report))
}

fn block_name(first_path: u64) -> String {
    format!("block-{first_path:012}.parquet")
}

/// Runs `range` of the plan's scenario (shard `spec` of the run) with checkpoints of `block`
/// paths in `dir`, resuming from a checkpoint there if one exists for the same run (module
/// notes).
pub fn run(
    plan: &RunPlan,
    spec: ShardSpec,
    range: PathRange,
    dir: &Path,
    block: u64,
    ctl: &Control,
) -> Result<Resumed> {
    let s = &plan.scenario;
    let params = Params::compile(s);
    let (engine, device) = engine::resolve(plan.backend)?;
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
    let mut out = EngineOutput::empty(&params, engine, device);
    engine::reserve_records(&mut out.records, range.count)?;
    let mut sim_before = 0.0;
    let mut resumed_paths = 0;
    // A .checkpoint that is a symbolic link (or a file) is refused before anything is read,
    // removed or written through it.
    untrusted::check_dir(dir).context(
        "the checkpoint folder must be a plain folder inside the run's folder; nothing was \
         read or written through it",
    )?;
    // Any kind of file named state.json is read (and refused unless a regular file).
    if std::fs::symlink_metadata(&state_path).is_ok() {
        let unusable = || {
            format!(
                "the checkpoint in {} cannot be used; delete that folder to start over",
                dir.display()
            )
        };
        let old = partial::read_partial(&state_path).with_context(unusable)?;
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
        let problems = state_problems(h);
        if !problems.is_empty() {
            bail!(
                "cannot use checkpoint state {}: {}; delete {} to start over",
                state_path.display(),
                problems.join("; "),
                dir.display()
            );
        }
        for k in 0..h.paths_files.len() {
            out.records
                .extend(partial::read_paths_file(&state_path, h, k).with_context(unusable)?);
        }
        partial::check_rows(&state_path, &old.acc, &out.records).with_context(unusable)?;
        resumed_paths = h.completed;
        sim_before = h.simulate_seconds;
        header.paths_files = h.paths_files.clone();
        header.completed = h.completed;
        out.acc = old.acc;
    }
    untrusted::ensure_dir(dir)
        .with_context(|| format!("cannot create checkpoint folder {}", dir.display()))?;
    remove_strays(dir, &header)?;

    let t0 = Instant::now();
    let mut blocks_written = 0;
    let stop_after = test_stop_after();
    ctl.report(header.completed, range.count);
    while header.completed < range.count {
        let from = range.start + header.completed;
        let to = range.start + (header.completed + block).min(range.count);
        let before = out.records.len();
        let block_range = PathRange {
            start: from,
            count: to - from,
        };
        engine::extend(
            &mut out,
            plan.backend,
            &params,
            s.scenario.seed,
            block_range,
            &Control {
                progress: None,
                cancel: ctl.cancel,
                warn: ctl.warn,
            },
        )
        .with_context(|| {
            format!(
                "checkpoint at {} of {} paths kept in {} (rerun with --resume to continue from it)",
                header.completed,
                range.count,
                dir.display()
            )
        })?;
        header.device = out.device.clone();
        header.simulate_seconds = sim_before + t0.elapsed().as_secs_f64();
        let info = RunInfo {
            scenario: s,
            seed: s.scenario.seed,
            engine,
            device: &out.device,
            simulate_seconds: header.simulate_seconds,
            started_at: SystemTime::now(),
        };
        let entry = partial::write_paths_file(
            dir,
            &block_name(from),
            &info,
            &header,
            &out.records[before..],
        )?;
        header.paths_files.push(entry);
        header.completed = to - range.start;
        header.created_at = crate::output::clock::rfc3339_utc(SystemTime::now());
        partial::write_partial(&state_path, &header, &s.source_toml, &out.acc)?;
        blocks_written += 1;
        ctl.report(header.completed, range.count);
        if stop_after.is_some_and(|n| blocks_written >= n) {
            // Test hook: wait here, with the checkpoint complete, until killed.
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
    out.simulate_time = Duration::from_secs_f64(sim_before + t0.elapsed().as_secs_f64());
    Ok(Resumed {
        output: out,
        report: CheckpointReport {
            dir: dir.to_path_buf(),
            count: range.count,
            block,
            resumed_paths,
            blocks_written,
            earlier_simulate_s: sim_before,
        },
    })
}

/// Every problem of a checkpoint state's header beyond those of any partial file
/// ([`partial::header_problems`], checked on reading), each naming its field: `completed`
/// must be whole 1,024-path chunks (or the whole range), and each listed block must be named
/// for its first path (`block-<id>.parquet`), as this module writes them.
pub fn state_problems(h: &Header) -> Vec<String> {
    let mut p = Vec::new();
    if h.kind != "checkpoint" {
        p.push(format!("header.kind {:?} is not \"checkpoint\"", h.kind));
    }
    if !h.completed.is_multiple_of(CHUNK_PATHS) && h.completed != h.path_count {
        p.push(format!(
            "header.completed {} is not a whole number of 1,024-path chunks",
            h.completed
        ));
    }
    for (k, f) in h.paths_files.iter().enumerate() {
        let want = block_name(f.path_start);
        if f.name != want {
            p.push(format!(
                "header.paths_files[{k}].name {:?} is not the block name {want:?}",
                f.name
            ));
        }
    }
    p
}

/// `TOKENRISK_TEST_STOP_AFTER_BLOCKS=N`, a test hook (`tests/resume.rs`): after checkpointing
/// N blocks of this attempt, the run waits, doing nothing, until it is killed, so a test
/// kills it at a known point instead of racing it. Never set it otherwise: the run would
/// never finish.
fn test_stop_after() -> Option<usize> {
    std::env::var("TOKENRISK_TEST_STOP_AFTER_BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
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

/// Removes the checkpoint folder once the run's outputs are written, following no
/// symbolic link ([`untrusted::remove_dir`]).
pub fn finish(dir: &Path) -> Result<()> {
    untrusted::remove_dir(dir).with_context(|| {
        format!(
            "the outputs are written, but the checkpoint {} could not be removed",
            dir.display()
        )
    })
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

//! Shards: one run cut into N shards of contiguous path ids that run anywhere (other
//! processes, machines, scheduler tasks) and are merged afterwards ([`super::merge`]). A
//! finished shard is its path rows and a partial file (`output::partial`).
//!
//! # Where the shard index comes from ([`resolve`])
//!
//! - `--shard I/N`: explicit; the environment is ignored (`--shards M` must then equal N).
//! - `--shard auto`, or `--shards N` without `--shard`: the index from the scheduler's
//!   environment: `SLURM_ARRAY_TASK_ID` (a Slurm job array, `--array=0-(N-1)`), else
//!   `JOB_COMPLETION_INDEX` (a Kubernetes Indexed Job). N is `--shards N`, else (Slurm
//!   only) `SLURM_ARRAY_TASK_COUNT`; when both are given they must agree. A Slurm array must
//!   start at 0 with step 1 (`SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_STEP` are checked when
//!   set).
//! - Neither flag: not sharded, whatever the environment says (a plain `run` inside an array
//!   job that runs one scenario per task must not silently shrink to a share of its paths).
//!

use super::resume::{self, CheckpointReport, Checkpoints};
pub use super::split::{parse_spec, shard_range, ShardSpec, MAX_SHARDS};
use crate::engine::{self, Control, EngineOutput, PathRange};
use crate::model::Params;
use crate::output::folder::Staged;
use crate::output::partial::{write_partial, write_paths_file, Header, PARTIAL_FILE};
use crate::output::{self, RunInfo};
use crate::scenario::Scenario;
use crate::workflows::preflight;
use crate::workflows::single::RunPlan;
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
/// Resolves the shard of this process from `--shard`, `--shards` and the environment (`env`
/// reads a variable; see the module notes for the precedence). Returns the shard and a phrase
/// saying where it came from, or `None` for an unsharded run.
pub fn resolve(
    shard: Option<&str>,
    shards: Option<u64>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(ShardSpec, String)>> {
    if let Some(n) = shards {
        if n == 0 || n > MAX_SHARDS {
            bail!("--shards {n} is out of range; allowed: 1 to {MAX_SHARDS}");
        }
    }
    match shard.map(str::trim) {
        None if shards.is_none() => Ok(None),
        Some(text) if text != "auto" => {
            let spec = parse_spec(text)?;
            if let Some(n) = shards {
                if n != spec.count {
                    bail!("--shard {text} and --shards {n} disagree on the shard count");
                }
            }
            Ok(Some((spec, format!("--shard {text}"))))
        }
        _ => from_env(shards, env).map(Some),
    }
}

fn env_u64(env: &dyn Fn(&str) -> Option<String>, var: &str) -> Result<Option<u64>> {
    match env(var) {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            anyhow!("{var}={v:?} is not a whole number (the shard index comes from it)")
        }),
    }
}

fn from_env(
    shards: Option<u64>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(ShardSpec, String)> {
    let flag = match shards {
        Some(n) => format!("--shards {n}"),
        None => "--shard auto".to_string(),
    };
    if let Some(index) = env_u64(env, "SLURM_ARRAY_TASK_ID")? {
        for (var, want) in [("SLURM_ARRAY_TASK_MIN", 0), ("SLURM_ARRAY_TASK_STEP", 1)] {
            if let Some(v) = env_u64(env, var)? {
                if v != want {
                    bail!(
                        "{flag}: {var}={v}, but a sharded run needs a Slurm array 0..N-1 with step 1 \
                         (#SBATCH --array=0-<N-1>)"
                    );
                }
            }
        }
        let task_count = env_u64(env, "SLURM_ARRAY_TASK_COUNT")?;
        let count = match (shards, task_count) {
            (Some(n), Some(c)) if n != c => bail!(
                "--shards {n} disagrees with SLURM_ARRAY_TASK_COUNT={c} (the job array has {c} tasks)"
            ),
            (Some(n), _) => n,
            (None, Some(c)) => c,
            (None, None) => bail!(
                "--shard auto: SLURM_ARRAY_TASK_ID={index} is set but the shard count is not: \
                 give --shards N (SLURM_ARRAY_TASK_COUNT is unset)"
            ),
        };
        let spec = ShardSpec { index, count };
        if index >= count {
            bail!(
                "SLURM_ARRAY_TASK_ID={index} is out of range for {count} shards; allowed: 0 to {} \
                 (#SBATCH --array=0-{})",
                count - 1,
                count - 1
            );
        }
        return Ok((
            spec,
            format!("SLURM_ARRAY_TASK_ID={index} of {count}, {flag}"),
        ));
    }
    if let Some(index) = env_u64(env, "JOB_COMPLETION_INDEX")? {
        let Some(count) = shards else {
            bail!(
                "--shard auto: JOB_COMPLETION_INDEX={index} is set (Kubernetes Indexed Job) but the \
                 shard count is not: give --shards N (the Job's completions)"
            );
        };
        if index >= count {
            bail!(
                "JOB_COMPLETION_INDEX={index} is out of range for --shards {count}; allowed: 0 to {} \
                 (set the Job's completions to {count})",
                count - 1
            );
        }
        return Ok((
            ShardSpec { index, count },
            format!("JOB_COMPLETION_INDEX={index} of {count}, {flag}"),
        ));
    }
    bail!(
        "{flag} needs the shard index from the scheduler, but neither SLURM_ARRAY_TASK_ID \
         (Slurm job array) nor JOB_COMPLETION_INDEX (Kubernetes Indexed Job) is set; give it \
         explicitly with --shard I/N"
    )
}

/// A finished shard.
pub struct ShardRun {
    /// `OUT/<name>/shard-I-of-N/`.
    pub dir: PathBuf,
    pub spec: ShardSpec,
    pub range: PathRange,
    pub output: EngineOutput,
    /// What checkpointing did, when the shard was checkpointed.
    pub checkpoints: Option<CheckpointReport>,
}

/// Simulates shard `spec` of the plan into `out_root/<name>/shard-I-of-N/` (its path rows,
/// then its partial file), checkpointed and resumable when `checkpoints` is given. `file`
/// names the scenario and `from` where the shard came from, for messages.
pub fn run(
    plan: &RunPlan,
    file: &str,
    spec: ShardSpec,
    from: &str,
    out_root: &Path,
    checkpoints: Option<Checkpoints>,
    ctl: &Control,
) -> Result<ShardRun> {
    let s = &plan.scenario;
    let name = plan.name();
    spec.check(plan.paths())
        .with_context(|| format!("{file}: shard from {from}"))?;
    let range = spec.range(plan.paths());
    let what = format!("shard {} of {}", spec.index, spec.count);
    preflight::check_memory(s, range.count, &what)?;
    let dir = out_root.join(name).join(spec.dir_name());
    // Locked for the whole run (the checkpoint in the folder is this process's alone), and
    // built aside: the shard folder appears whole.
    let staged = Staged::begin(&dir)?;
    let simulating = || format!("simulating {name}, {what}");
    let (output, report) = match checkpoints {
        Some(c) => {
            let ck = resume::checkpoint_dir(&dir);
            let block = resume::block_paths(c.every, range.count);
            let r = resume::run(plan, spec, range, &ck, block, ctl).with_context(simulating)?;
            (r.output, Some(r.report))
        }
        None => {
            let params = Params::compile(s);
            let out = engine::run(plan.backend, &params, plan.seed(), range, ctl)
                .with_context(simulating)?;
            (out, None)
        }
    };
    write_shard(staged.dir(), s, spec, range, &output)
        .with_context(|| format!("writing {what} of {name}"))?;
    staged.commit()?;
    if let Some(r) = &report {
        resume::finish(&r.dir)?;
    }
    Ok(ShardRun {
        dir,
        spec,
        range,
        output,
        checkpoints: report,
    })
}

/// Writes a finished shard into `dir` (`OUT/<name>/shard-I-of-N/`): `paths.parquet`, then
/// `partial.json` (both atomically; an older `partial.json` is removed first, so a crash
/// in between never pairs an old partial with new rows).
pub fn write_shard(
    dir: &Path,
    s: &Scenario,
    spec: ShardSpec,
    range: PathRange,
    out: &EngineOutput,
) -> Result<PathBuf> {
    // Not through a symbolic link: a shard folder is the run's own.
    output::untrusted::ensure_dir(dir)
        .with_context(|| format!("cannot create shard folder {}", dir.display()))?;
    let partial_path = dir.join(PARTIAL_FILE);
    match std::fs::remove_file(&partial_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("cannot replace {}", partial_path.display()))
        }
    }
    let mut header = Header::new(
        "shard",
        s,
        (spec.index, spec.count),
        range,
        out.acc.report_days.clone(),
        out.engine,
        &out.device,
    );
    header.completed = out.acc.paths;
    header.simulate_seconds = out.simulate_time.as_secs_f64();
    let info = RunInfo {
        scenario: s,
        seed: s.scenario.seed,
        engine: out.engine,
        device: &out.device,
        simulate_seconds: header.simulate_seconds,
        started_at: SystemTime::now(),
    };
    let entry = write_paths_file(dir, output::PATHS_FILE, &info, &header, &out.records)?;
    header.paths_files = vec![entry];
    write_partial(&partial_path, &header, &s.source_toml, &out.acc)?;
    Ok(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn resolution_precedence() {
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "5"),
            ("JOB_COMPLETION_INDEX", "1"),
        ];
        let env = env_of(&slurm);
        // No flag: environment ignored.
        assert!(resolve(None, None, &env).unwrap().is_none());
        // Explicit wins.
        let (s, _) = resolve(Some("1/2"), None, &env).unwrap().unwrap();
        assert_eq!(s, ShardSpec { index: 1, count: 2 });
        assert!(resolve(Some("1/2"), Some(3), &env).is_err());
        // auto: Slurm first, count from the array.
        let (s, from) = resolve(Some("auto"), None, &env).unwrap().unwrap();
        assert_eq!(s, ShardSpec { index: 3, count: 5 });
        assert!(from.contains("SLURM_ARRAY_TASK_ID=3"));
        assert!(resolve(None, Some(4), &env).is_err(), "count mismatch");
        // Kubernetes needs --shards.
        let k8s = [("JOB_COMPLETION_INDEX", "2")];
        let env = env_of(&k8s);
        assert!(resolve(Some("auto"), None, &env).is_err());
        let (s, _) = resolve(None, Some(3), &env).unwrap().unwrap();
        assert_eq!(s, ShardSpec { index: 2, count: 3 });
        assert!(resolve(None, Some(2), &env).is_err(), "index out of range");
        // Nothing set.
        let env = env_of(&[]);
        let e = resolve(None, Some(2), &env).unwrap_err().to_string();
        assert!(e.contains("SLURM_ARRAY_TASK_ID") && e.contains("JOB_COMPLETION_INDEX"));
        // 1-based Slurm arrays are refused.
        let one_based = [
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        assert!(resolve(Some("auto"), None, &env_of(&one_based)).is_err());
        let junk = [("JOB_COMPLETION_INDEX", "x")];
        assert!(resolve(None, Some(2), &env_of(&junk)).is_err());
    }
}

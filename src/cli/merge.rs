//! `tokenrisk merge PARTS... --out DIR` (see [`crate::merge`]), and the scale-out forms of
//! `tokenrisk run`: `--shard I/N` / `--shards N` / `--shard auto` (see [`crate::scale::shard`]) and
//! `--resume` / `--checkpoint-every K` (see [`crate::scale::resume`]).

use super::{run::print_summary, write_outputs, RunArgs};
use crate::engine::{self, EngineOutput};
use crate::model::Params;
use crate::scale::resume;
use crate::scale::shard;
use crate::scenario::Scenario;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Shard folders (`shard-I-of-N`, each holding `partial.json`), or folders containing
    /// them (e.g. OUT/<name>/).
    #[arg(required = true)]
    parts: Vec<PathBuf>,
    /// Output root; the merged run is written to OUT/<scenario.name>/, as `tokenrisk run`
    /// writes it.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Merge shards that ran on different engines (CPU and GPU); refused by default.
    #[arg(long)]
    allow_mixed_engines: bool,
}

pub fn cmd_merge(args: MergeArgs) -> Result<i32> {
    let t0 = Instant::now();
    let started_at = SystemTime::now();
    let (s, output, n, merge_time) =
        crate::scale::merge::merge_parts(&args.parts, args.allow_mixed_engines, Some(&args.out))?;
    let done = write_outputs(&s, output, &args.out, started_at)?;
    let total = t0.elapsed().as_secs_f64();
    // "with outputs": the shards' simulation plus this merge.
    let sim = done.output.simulate_time.as_secs_f64();
    print_summary(&s, &done.output, &done.summary, sim + total);
    println!(
        "  merged {n} shard{} ({} paths) in {:.2} s ({:.2} s reading and merging, {:.2} s writing)",
        if n == 1 { "" } else { "s" },
        done.summary.paths,
        total,
        merge_time.as_secs_f64(),
        total - merge_time.as_secs_f64()
    );
    println!("  wrote {}", done.written.dir.display());
    Ok(0)
}

fn progress_of(bar: &Option<indicatif::ProgressBar>) -> impl Fn(u64, u64) + Sync + '_ {
    move |done, total| {
        if let Some(b) = bar {
            b.set_length(total);
            b.set_position(done);
        }
    }
}

/// `run` with a shard or checkpoint flag: simulates, writes and prints, and returns `true`;
/// `false` when none of those flags (nor a scheduler shard) applies.
pub fn run_scaled(arg: &str, s: &Scenario, args: &RunArgs, t0: Instant) -> Result<bool> {
    let env = |k: &str| std::env::var(k).ok();
    let sharded = shard::resolve(args.shard.as_deref(), args.shards, &env)?;
    let checkpointing = args.resume || args.checkpoint_every.is_some();
    if sharded.is_none() && !checkpointing {
        return Ok(false);
    }
    let what = if sharded.is_some() {
        "--shard/--shards"
    } else {
        "--resume/--checkpoint-every"
    };
    if s.sweep.is_some() {
        bail!("{arg}: {what} does not combine with a [sweep]; run the sweep's points as separate scenarios");
    }
    if args.target_se.is_some() {
        bail!("{arg}: {what} does not combine with --target-se (its path count is not known in advance)");
    }
    if args.checkpoint_every == Some(0) {
        bail!("--checkpoint-every 0 is out of range; allowed: 1 or more paths (rounded up to whole 1,024-path chunks)");
    }
    let name = &s.scenario.name;
    let paths = s.scenario.paths;
    let params = Params::compile(s);
    let bar = super::progress_bar(!args.quiet, name);
    let progress = progress_of(&bar);
    let run_dir = args.out.join(name);

    let Some((spec, from)) = sharded else {
        // A whole run with checkpoints.
        crate::workflows::preflight::check_memory(s, paths, "the run")?;
        crate::workflows::preflight::check_writable(&run_dir)?;
        let started_at = SystemTime::now();
        let ck = resume::checkpoint_dir(&run_dir);
        let block = resume::block_paths(args.checkpoint_every, paths);
        let r = resume::run(
            s,
            &params,
            args.sim.backend,
            shard::ShardSpec { index: 0, count: 1 },
            engine::PathRange {
                start: 0,
                count: paths,
            },
            &ck,
            block,
            &progress,
        )
        .with_context(|| format!("simulating {name}"))?;
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        let note = resumed_note(&r, paths, block, &ck);
        let done = write_outputs(s, r.output, &args.out, started_at)?;
        resume::finish(&ck)?;
        print_summary(s, &done.output, &done.summary, t0.elapsed().as_secs_f64());
        println!("  {note}");
        println!("  wrote {}", done.written.dir.display());
        return Ok(true);
    };

    // One shard.
    spec.check(paths)
        .with_context(|| format!("{arg}: shard from {from}"))?;
    let range = spec.range(paths);
    crate::workflows::preflight::check_memory(
        s,
        range.count,
        &format!("shard {} of {}", spec.index, spec.count),
    )?;
    let dir = run_dir.join(spec.dir_name());
    crate::workflows::preflight::check_writable(&dir)?;
    let mut note = String::new();
    let output: EngineOutput = if checkpointing {
        let ck = resume::checkpoint_dir(&dir);
        let block = resume::block_paths(args.checkpoint_every, range.count);
        let r = resume::run(
            s,
            &params,
            args.sim.backend,
            spec,
            range,
            &ck,
            block,
            &progress,
        )
        .with_context(|| format!("simulating {name}, shard {} of {}", spec.index, spec.count))?;
        note = resumed_note(&r, range.count, block, &ck);
        r.output
    } else {
        engine::run(args.sim.backend, &params, s.scenario.seed, range, &progress)
            .with_context(|| format!("simulating {name}, shard {} of {}", spec.index, spec.count))?
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    shard::write_shard(&dir, s, spec, range, &output)
        .with_context(|| format!("writing shard {} of {} of {name}", spec.index, spec.count))?;
    if checkpointing {
        resume::finish(&resume::checkpoint_dir(&dir))?;
    }
    let sim = output.simulate_time.as_secs_f64();
    println!(
        "{name}: shard {} of {} ({from}): paths {}..{} ({} of {paths}) on {} [{}]: simulated in {:.2} s ({:.3e} path-steps/s), {:.2} s with outputs",
        spec.index,
        spec.count,
        range.start,
        range.start + range.count,
        range.count,
        output.engine,
        output.device,
        sim,
        range.count as f64 * s.steps() as f64 / sim.max(1e-9),
        t0.elapsed().as_secs_f64()
    );
    if !note.is_empty() {
        println!("  {note}");
    }
    println!("  wrote {}", dir.display());
    println!(
        "  when all {} shards are done: tokenrisk merge {} --out {}",
        spec.count,
        run_dir.display(),
        args.out.display()
    );
    Ok(true)
}

fn resumed_note(r: &resume::Resumed, count: u64, block: u64, ck: &std::path::Path) -> String {
    if r.resumed_paths > 0 {
        format!(
            "resumed from checkpoint {}: {} of {count} paths were done, simulated the other {} in {} block{} of {block}",
            ck.display(),
            r.resumed_paths,
            count - r.resumed_paths,
            r.blocks_written,
            if r.blocks_written == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "checkpointed every {block} paths ({} block{}); checkpoint removed",
            r.blocks_written,
            if r.blocks_written == 1 { "" } else { "s" }
        )
    }
}

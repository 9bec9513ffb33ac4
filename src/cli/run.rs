//! `tokenrisk run`: each scenario as a single run, a sweep (a `[sweep]` table), a run to a
//! target standard error (`--target-se`), a shard (`--shard`, `--shards`) or a checkpointed
//! run (`--resume`, `--checkpoint-every`); the flags are checked together here, the work is
//! the library's.

use super::{print, progress::with_bar, RunArgs};
use crate::scale::resume::{self, Checkpoints};
use crate::scale::shard;
use crate::workflows::convergence::{self, Target};
use crate::workflows::inputs::{self, Writes};
use crate::workflows::single::{self, RunPlan, MAX_PATHS};
use crate::workflows::sweep::{self, point_dir_name};
use anyhow::{bail, Result};
use std::time::Instant;

pub fn cmd_run(args: RunArgs) -> Result<i32> {
    let overrides = args.sim.overrides();
    let show = !args.quiet;
    // Every file checked (sweeps expanded, names and folders compared) before anything runs.
    let writes = Writes {
        root: Some(args.out.clone()),
        ..Writes::default()
    };
    let checked = inputs::check_all(&args.scenarios, &overrides, &writes)?;
    for c in &checked {
        check_flags(&c.arg, c.sweep.is_some(), &args)?;
    }
    for c in checked {
        let t0 = Instant::now();
        let arg = &c.arg;
        let plan = RunPlan {
            scenario: c.scenario,
            backend: args.sim.backend,
        };
        let name = plan.name().to_string();
        if scaled(arg, &plan, &args, t0)? {
            continue;
        }
        if let Some((axes, points)) = c.sweep {
            let base = &plan.scenario;
            let keys: Vec<String> = axes
                .iter()
                .map(|a| format!("{} x{}", a.key, a.values.len()))
                .collect();
            println!(
                "{name}: sweep of {} points ({}) x {} paths x {} days, seed {} for every point (common random numbers)",
                points.len(),
                keys.join(", "),
                base.scenario.paths,
                base.scenario.horizon_days,
                base.scenario.seed
            );
            let w = with_bar(show, &name, |ctl, bar| {
                sweep::run_to(
                    base,
                    &axes,
                    &points,
                    plan.backend,
                    &args.out,
                    ctl,
                    &mut |p, r| {
                        bar.print(|| print::sweep_point(&point_dir_name(p.index), &p.describe(), r))
                    },
                )
            })?;
            println!(
                "  wrote {} ({} rows) and {} point folders in {}",
                w.table.display(),
                points.len(),
                w.points.len(),
                w.dir.display()
            );
            continue;
        }
        if let Some(se) = args.target_se {
            let max_paths = args
                .max_paths
                .unwrap_or(plan.paths().saturating_mul(10).min(MAX_PATHS));
            let target = Target { se, max_paths };
            let conv = with_bar(show, &name, |ctl, _| convergence::run(&plan, target, ctl))?;
            let written = conv.result.write(&args.out)?;
            print::summary(&conv.result, t0.elapsed().as_secs_f64());
            println!("  convergence: {}", conv.describe());
            println!("  wrote {}", written.dir.display());
            continue;
        }
        let (result, written) =
            with_bar(show, &name, |ctl, _| single::run_to(&plan, &args.out, ctl))?;
        print::summary(&result, t0.elapsed().as_secs_f64());
        println!("  wrote {}", written.dir.display());
    }
    Ok(0)
}

/// The flags that do not combine with each other or with a `[sweep]`, refused before
/// anything runs.
fn check_flags(arg: &str, has_sweep: bool, args: &RunArgs) -> Result<()> {
    let env = |k: &str| std::env::var(k).ok();
    let sharded = shard::resolve(args.shard.as_deref(), args.shards, &env)?.is_some();
    let scaled = if sharded {
        Some("--shard/--shards")
    } else if args.resume || args.checkpoint_every.is_some() {
        Some("--resume/--checkpoint-every")
    } else {
        None
    };
    if let Some(what) = scaled {
        if has_sweep {
            bail!("{arg}: {what} does not combine with a [sweep]; run the sweep's points as separate scenarios");
        }
        if args.target_se.is_some() {
            bail!("{arg}: {what} does not combine with --target-se (its path count is not known in advance)");
        }
        if args.checkpoint_every == Some(0) {
            bail!("--checkpoint-every 0 is out of range; allowed: 1 or more paths (rounded up to whole 1,024-path chunks)");
        }
    }
    if has_sweep && args.target_se.is_some() {
        bail!(
            "{arg}: --target-se does not combine with a [sweep] (every point runs the same paths)"
        );
    }
    Ok(())
}

/// `run` with a shard or checkpoint flag: runs, writes and prints, and returns `true`;
/// `false` when none of those flags applies.
fn scaled(arg: &str, plan: &RunPlan, args: &RunArgs, t0: Instant) -> Result<bool> {
    let env = |k: &str| std::env::var(k).ok();
    let sharded = shard::resolve(args.shard.as_deref(), args.shards, &env)?;
    let checkpoints = (args.resume || args.checkpoint_every.is_some()).then_some(Checkpoints {
        every: args.checkpoint_every,
    });
    if sharded.is_none() && checkpoints.is_none() {
        return Ok(false);
    }
    let name = plan.name().to_string();
    let show = !args.quiet;
    let Some((spec, from)) = sharded else {
        let checkpoints = checkpoints.expect("checkpointing when not sharded");
        let (result, written, report) = with_bar(show, &name, |ctl, _| {
            resume::run_to(plan, &args.out, checkpoints, ctl)
        })?;
        print::summary_resumed(&result, &report, t0.elapsed().as_secs_f64());
        println!("  {}", report.describe());
        println!("  wrote {}", written.dir.display());
        return Ok(true);
    };
    let done = with_bar(show, &name, |ctl, _| {
        shard::run(plan, arg, spec, &from, &args.out, checkpoints, ctl)
    })?;
    let (r, out) = (done.range, &done.output);
    let sim = out.simulate_time.as_secs_f64();
    let (simulated, this) = match &done.checkpoints {
        Some(ck) => (ck.simulated(sim), ck.attempt()),
        None => (format!("simulated in {sim:.2} s"), ""),
    };
    println!(
        "{name}: shard {} of {} ({from}): paths {}..{} ({} of {}) on {} [{}]: {simulated} ({:.3e} path-steps/s), {:.2} s with outputs{this}",
        spec.index,
        spec.count,
        r.start,
        r.start + r.count,
        r.count,
        plan.paths(),
        out.engine,
        out.device,
        r.count as f64 * plan.scenario.steps() as f64 / sim.max(1e-9),
        t0.elapsed().as_secs_f64()
    );
    if let Some(report) = &done.checkpoints {
        println!("  {}", report.describe());
    }
    println!("  wrote {}", done.dir.display());
    println!(
        "  when all {} shards are done: tokenrisk merge {} --out {}",
        spec.count,
        args.out.join(&name).display(),
        args.out.display()
    );
    Ok(true)
}

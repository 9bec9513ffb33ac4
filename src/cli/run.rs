//! `tokenrisk run`: simulate scenarios, write their tables, print a human summary.

use super::{apply_overrides, load_scenario, simulate_and_write, RunArgs};
use crate::engine::EngineOutput;
use crate::measure::summary::Summary;
use crate::model::Params;
use crate::report::svg::{fmt_fraction_fine, fmt_pct_fine};
use crate::scenario::Scenario;
use crate::workflows::convergence::{self, Target};
use anyhow::{Context, Result};
use std::time::{Instant, SystemTime};

pub fn cmd_run(args: RunArgs) -> Result<i32> {
    for arg in &args.scenarios {
        let mut s = load_scenario(arg)?;
        apply_overrides(&mut s, &args.sim)?;
        let t0 = Instant::now();
        if super::merge::run_scaled(arg, &s, &args, t0)? {
            continue;
        }
        if s.sweep.is_some() {
            if args.target_se.is_some() {
                anyhow::bail!("{arg}: --target-se does not combine with a [sweep] (every point runs the same paths)");
            }
            let (backend, progress) = (args.sim.backend, !args.quiet);
            crate::workflows::sweep::run_cli(arg, &s, &args.out, &mut |p| {
                super::simulate(p, backend, progress)
            })?;
            continue;
        }
        if let Some(se) = args.target_se {
            let target = Target {
                se,
                max_paths: args
                    .max_paths
                    .unwrap_or(s.scenario.paths.saturating_mul(10).min(4_000_000_000)),
            };
            let started_at = SystemTime::now();
            let conv = run_converging(&s, &args, target)?;
            let line = conv.describe();
            let done = super::write_outputs(&s, conv.output, &args.out, started_at)?;
            print_summary(&s, &done.output, &done.summary, t0.elapsed().as_secs_f64());
            println!("  convergence: {line}");
            println!("  wrote {}", done.written.dir.display());
            continue;
        }
        let done = simulate_and_write(&s, args.sim.backend, &args.out, !args.quiet)?;
        print_summary(&s, &done.output, &done.summary, t0.elapsed().as_secs_f64());
        println!("  wrote {}", done.written.dir.display());
    }
    Ok(0)
}

/// `--target-se`: rounds of paths until the standard error of P(spiral) is below the target.
fn run_converging(s: &Scenario, args: &RunArgs, target: Target) -> Result<convergence::Converged> {
    target.check()?;
    crate::workflows::preflight::check_memory(s, target.max_paths, "--max-paths")?;
    let params = Params::compile(s);
    let bar = super::progress_bar(!args.quiet, &s.scenario.name);
    let progress = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let conv = convergence::run_to_target(
        args.sim.backend,
        &params,
        s.scenario.seed,
        s.scenario.paths,
        target,
        &progress,
    )
    .with_context(|| format!("simulating {}", s.scenario.name))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(conv)
}

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

pub fn print_summary(s: &Scenario, out: &EngineOutput, sum: &Summary, total_s: f64) {
    let steps = s.steps() as f64;
    let sim_s = out.simulate_time.as_secs_f64();
    let threads = if out.engine == "cpu" {
        format!(", {} threads", rayon::current_num_threads())
    } else {
        String::new()
    };
    println!(
        "{}: {} paths x {} days on {} [{}{threads}]: simulated in {:.2} s ({:.3e} path-steps/s), {:.2} s with outputs",
        s.scenario.name,
        sum.paths,
        s.scenario.horizon_days,
        out.engine,
        out.device,
        sim_s,
        sum.paths as f64 * steps / sim_s,
        total_s
    );
    println!(
        "  P(spiral by day {})       {}  (95% CI {} to {}, SE {})",
        s.scenario.horizon_days,
        pct(sum.p_spiral),
        pct(sum.p_spiral_lo),
        pct(sum.p_spiral_hi),
        pct(sum.p_spiral_se)
    );
    if sum.p_spiral > 0.0 {
        println!(
            "  time to spiral             median day {:.0} (p05 {:.0}, p95 {:.0})",
            sum.spiral_day.q(0.5),
            sum.spiral_day.q(0.05),
            sum.spiral_day.q(0.95)
        );
    }
    for t in &sum.tail {
        println!(
            "  VaR/CVaR {:>4} log-return  {:.3} / {:.3}  (price down {} / {});  max drawdown {} / {}",
            format!("{:.0}%", t.level * 100.0),
            t.var_return,
            t.cvar_return,
            fmt_pct_fine(1.0 - (-t.var_return).exp()),
            fmt_pct_fine(1.0 - (-t.cvar_return).exp()),
            fmt_fraction_fine(t.var_drawdown),
            fmt_fraction_fine(t.cvar_drawdown)
        );
    }
    println!(
        "  emissions-to-revenue       median {:.3} (p95 {:.3}), P(ratio > 1) {}",
        sum.er_ratio.q(0.5),
        sum.er_ratio.q(0.95),
        pct(sum.p_er_above_1)
    );
    println!(
        "  final price                median {:.4} USD (mean {:.4} +- {:.4})",
        sum.final_price.q(0.5),
        sum.final_price.mean,
        sum.final_price.se
    );
    if sum.nonfinite_paths > 0 {
        let pp = &out.acc.per_path;
        let which: Vec<String> = [
            ("log_return", &pp.log_return),
            ("max_drawdown", &pp.max_drawdown),
            ("final_price", &pp.final_price),
            ("final_circulating", &pp.final_circulating),
            ("er_ratio", &pp.er_ratio),
            ("minted", &pp.minted),
            ("burned", &pp.burned),
        ]
        .iter()
        .filter(|(_, m)| m.moments.nonfinite > 0)
        .map(|(name, m)| format!("{name} {}", m.moments.nonfinite))
        .collect();
        println!(
            "  WARNING: {} paths produced non-finite values ({}); those values are counted \
             (nonfinite_paths, the timeseries' nonfinite column) and left out of every mean, \
             quantile and histogram",
            sum.nonfinite_paths,
            which.join(", ")
        );
    }
}

//! `tokenrisk run`: simulate scenarios, write their tables, print a human summary.

use super::{apply_overrides, load_scenario, simulate_and_write, RunArgs};
use crate::engine::EngineOutput;
use crate::scenario::Scenario;
use crate::summary::Summary;
use anyhow::Result;
use std::time::Instant;

pub fn cmd_run(args: RunArgs) -> Result<i32> {
    for arg in &args.scenarios {
        let mut s = load_scenario(arg)?;
        apply_overrides(&mut s, &args.sim)?;
        let t0 = Instant::now();
        let done = simulate_and_write(&s, args.sim.backend, &args.out, !args.quiet)?;
        print_summary(&s, &done.output, &done.summary, t0.elapsed().as_secs_f64());
        println!("  wrote {}", done.written.dir.display());
    }
    Ok(0)
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
            "  VaR/CVaR {:>4} log-return  {:.3} / {:.3}  (price down {} / {});  max drawdown {:.3} / {:.3}",
            format!("{:.0}%", t.level * 100.0),
            t.var_return,
            t.cvar_return,
            pct(1.0 - (-t.var_return).exp()),
            pct(1.0 - (-t.cvar_return).exp()),
            t.var_drawdown,
            t.cvar_drawdown
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
        println!(
            "  WARNING: {} paths produced non-finite values and were excluded from histograms",
            sum.nonfinite_paths
        );
    }
}

//! `tokenrisk sensitivity S.toml`: one-at-a-time perturbation of every numeric parameter
//! (rules in `workflows::sensitivity`), each variant run with the base seed and path ids
//! (common random numbers); writes `OUT/<name>/tornado.parquet` and prints the top rows.

use super::{progress::with_bar, SimArgs};
use crate::report::format::fmt_trimmed;
use crate::workflows::inputs::{self, Writes};
use crate::workflows::sensitivity::{self as sens, SensitivityPlan};
use crate::workflows::single::Overrides;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// Help text after the options: the path default and the perturbation rules.
pub const AFTER_HELP: &str = "\
Paths: min(scenario.paths, 20000) unless --paths is given (a tornado needs 2 runs per \
parameter plus the base; common random numbers keep small effects visible at modest counts).

Perturbations: magnitudes, rates, per-step probabilities and signed parameters are \
multiplied by 1 -/+ --relative (zero values are skipped); fractions in [0, 1], spiral \
thresholds, correlations and emission split shares move by -/+ --absolute, clamped to their \
range (the other split shares rescale to keep the sum 1); integers (persist_days, shock days) \
move by the relative step, rounded, at least 1. Parameters the scenario's kinds make inert \
and variants that fail validation are skipped and listed. [scenario], [risk] and [alerts] \
are not perturbed.";

#[derive(Args, Debug)]
pub struct SensitivityArgs {
    /// Scenario file or preset name.
    scenario: String,
    /// Output root; the tornado table goes to OUT/<scenario.name>/tornado.parquet.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Relative step for magnitudes, rates and integers (value times 1 - X and 1 + X).
    #[arg(long, default_value_t = sens::DEFAULT_RELATIVE, value_name = "X")]
    relative: f64,
    /// Absolute step for fractions, split shares, spiral thresholds and correlations.
    #[arg(long, default_value_t = sens::DEFAULT_ABSOLUTE, value_name = "X")]
    absolute: f64,
    /// Rows of the ranking to print.
    #[arg(long, default_value_t = 10)]
    top: usize,
    #[command(flatten)]
    sim: SimArgs,
    /// No progress bar and no line per parameter.
    #[arg(long, short)]
    quiet: bool,
}

pub fn cmd_sensitivity(args: SensitivityArgs) -> Result<i32> {
    sens::check_steps(args.relative, args.absolute)?;
    // The file checked as `validate` checks it (the plan lays the overrides over it).
    let checked = inputs::check_all(
        std::slice::from_ref(&args.scenario),
        &Overrides::default(),
        &Writes::default(),
    )?;
    let s = checked
        .into_iter()
        .next()
        .expect("one scenario checked")
        .scenario;
    let plan = SensitivityPlan::new(
        &args.scenario,
        s,
        &args.sim.overrides(),
        args.sim.backend,
        args.relative,
        args.absolute,
    )?;
    let base = &plan.base.scenario;
    println!(
        "{}: sensitivity of {} parameters, {} runs of {} paths x {} days (seed {}, common random numbers; relative step {}, absolute step {})",
        base.scenario.name,
        plan.perturbations.len(),
        plan.runs(),
        base.scenario.paths,
        base.scenario.horizon_days,
        base.scenario.seed,
        args.relative,
        args.absolute
    );
    let n = plan.perturbations.len();
    let tornado = with_bar(!args.quiet, &base.scenario.name, |ctl, bar| {
        sens::run(&plan, ctl, &mut |i, e| {
            if !args.quiet {
                bar.print(|| {
                    println!(
                        "  [{}/{n}] {:<36} {} / {}: P(spiral) {:.2}% / {:.2}%, CVaR95 {:.3} / {:.3}",
                        i + 1,
                        e.parameter,
                        e.low_value,
                        e.high_value,
                        100.0 * e.p_spiral_low,
                        100.0 * e.p_spiral_high,
                        e.cvar95_low,
                        e.cvar95_high
                    )
                });
            }
        })
    })?;
    let file = tornado.write(&args.out)?;
    let skips = &tornado.skips;
    if !skips.is_empty() {
        println!("  skipped ({}):", skips.len());
        for k in skips {
            println!("    {}: {}", k.parameter, k.reason);
        }
    }
    println!(
        "  base: P(spiral) {:.2}%, CVaR95 log-return {:.3}",
        100.0 * tornado.base.p_spiral,
        tornado.base.cvar95
    );
    println!(
        "  {:>4}  {:<36} {:>12} {:>12} {:>16} {:>10} {:>5}",
        "rank", "parameter", "low", "high", "dP(spiral) (SE)", "dCVaR95", "rankC"
    );
    for e in tornado.effects.iter().take(args.top) {
        println!(
            "  {:>4}  {:<36} {:>12} {:>12} {:>16} {:>10.3} {:>5}",
            e.rank,
            e.parameter,
            fmt_trimmed(e.low_value, 6),
            fmt_trimmed(e.high_value, 6),
            format!(
                "{:+.2} ({:.2}) pp",
                100.0 * e.effect_p_spiral,
                100.0 * e.effect_p_spiral_se
            ),
            e.effect_cvar95,
            e.rank_cvar95
        );
    }
    println!("  wrote {}", file.display());
    Ok(0)
}

//! `tokenrisk sensitivity S.toml`: one-at-a-time perturbation of every numeric parameter
//! (rules in `workflows::sensitivity`), each variant run with the base seed and path ids
//! (common random numbers); writes `OUT/<name>/tornado.parquet` and prints the top rows.

use super::{progress::with_bar, SimArgs};
use crate::report::format::{fmt_pp, fmt_value, noise_note};
use crate::stats::Z95;
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
                        fmt_value(e.low_value),
                        fmt_value(e.high_value),
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
    print!("{}", effects_table(&tornado.effects, args.top));
    println!("  wrote {}", file.display());
    Ok(0)
}

/// The ranking as printed: per parameter its low and high values (shortest round-trip
/// digits), the effect on P(spiral) with its paired 95% interval (+-1.96 SE) and a note
/// where it is within 1.96 SE of zero, the effect on the CVaR and its rank.
pub fn effects_table(effects: &[sens::Effect], top: usize) -> String {
    use std::fmt::Write;
    let mut s = format!(
        "  {:>4}  {:<36} {:>12} {:>12} {:>34} {:<12} {:>26} {:>5}\n",
        "rank", "parameter", "low", "high", "dP(spiral) (95% CI)", "", "dCVaR95 (95% CI)", "rankC"
    );
    for e in effects.iter().take(top) {
        let (d, se) = (e.effect_p_spiral, e.effect_p_spiral_se);
        let _ = writeln!(
            s,
            "  {:>4}  {:<36} {:>12} {:>12} {:>34} {:<12} {:>26} {:>5}",
            e.rank,
            e.parameter,
            fmt_value(e.low_value),
            fmt_value(e.high_value),
            format!(
                "{} ({} to {})",
                fmt_pp(d),
                fmt_pp(d - Z95 * se),
                fmt_pp(d + Z95 * se)
            ),
            noise_note(d, se).unwrap_or(""),
            // 3 decimals, without the sign of a value that rounds to zero (`-0.000`).
            {
                let c = |x: f64| format!("{x:.3}").replace("-0.000", "0.000");
                let (v, se) = (e.effect_cvar95, e.effect_cvar95_se);
                format!("{} ({} to {})", c(v), c(v - Z95 * se), c(v + Z95 * se))
            },
            e.rank_cvar95
        );
    }
    if effects
        .iter()
        .take(top)
        .any(|e| noise_note(e.effect_p_spiral, e.effect_p_spiral_se).is_some())
    {
        s.push_str(
            "  within noise: |dP(spiral)| < 1.96 paired SE (its interval holds 0), not told apart from 0 at this path count\n",
        );
    }
    s.trim_end_matches(' ').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effect(name: &str, low: f64, high: f64, d: f64, se: f64) -> sens::Effect {
        sens::Effect {
            parameter: name.into(),
            rule: "absolute",
            base_value: 0.9,
            low_value: low,
            high_value: high,
            p_spiral_low: 0.1,
            p_spiral_high: 0.1 + d,
            p_spiral_base: 0.1,
            effect_p_spiral: d,
            effect_p_spiral_se: se,
            cvar95_low: 1.0,
            cvar95_high: 1.0,
            cvar95_base: 1.0,
            effect_cvar95: 0.0,
            effect_cvar95_se: 0.0,
            rank: 1,
            rank_cvar95: 1,
        }
    }

    #[test]
    fn the_printed_table_has_clean_values_intervals_and_noise_marks() {
        let t = effects_table(
            &[
                effect("token.staked_fraction", 0.85, 0.95, 0.05, 0.01),
                effect("compute.capacity", 27e6, 33e6, 0.004, 0.003),
            ],
            10,
        );
        assert!(
            !t.contains("0.8500000000000001") && !t.contains("000004"),
            "{t}"
        );
        assert!(t.contains(" 0.85 ") && t.contains("33,000,000"), "{t}");
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[1].contains("+5.00 pp (+3.04 pp to +6.96 pp)"), "{t}");
        assert!(!lines[1].contains("within noise"), "{t}");
        assert!(lines[2].contains("within noise"), "{t}");
        assert!(lines[3].contains("< 1.96 paired SE"), "{t}");
    }
}

//! `tokenrisk sensitivity S.toml`: one-at-a-time perturbation of every numeric parameter
//! (rules in [`crate::sensitivity`]), each variant run with the base seed and path ids
//! (common random numbers); writes `OUT/<name>/tornado.parquet` and prints the top rows.

use super::{apply_overrides, load_scenario, simulate, SimArgs};
use crate::measure::summary::Summary;
use crate::output::{self, parquet as pq, RunInfo};
use crate::scenario::Scenario;
use crate::workflows::sensitivity::{self as sens, Effect, Outcome};
use anyhow::{bail, Context, Result};
use clap::Args;
use parquet::file::metadata::KeyValue;
use std::path::PathBuf;
use std::time::SystemTime;

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

fn outcome(s: &Scenario, out: &crate::engine::EngineOutput) -> Outcome {
    let summary = Summary::from_acc(&out.acc, &s.risk);
    Outcome {
        p_spiral: summary.p_spiral,
        cvar95: summary
            .tail_at(0.95)
            .map(|t| t.cvar_return)
            .unwrap_or(f64::NAN),
        spiral: out.records.iter().map(|r| r.spiral).collect(),
    }
}

pub fn cmd_sensitivity(args: SensitivityArgs) -> Result<i32> {
    if !(args.relative > 0.0 && args.relative < 1.0) {
        bail!(
            "--relative {} is out of range; allowed: strictly between 0 and 1",
            args.relative
        );
    }
    if !(args.absolute > 0.0 && args.absolute <= 0.5) {
        bail!(
            "--absolute {} is out of range; allowed: greater than 0, at most 0.5",
            args.absolute
        );
    }
    let mut s = load_scenario(&args.scenario)?;
    if s.sweep.is_some() {
        bail!(
            "{}: has a [sweep] table; sensitivity perturbs one scenario (remove the [sweep])",
            args.scenario
        );
    }
    apply_overrides(&mut s, &args.sim)?;
    if args.sim.paths.is_none() {
        s.scenario.paths = s.scenario.paths.min(sens::DEFAULT_MAX_PATHS);
    }
    let (plans, skips) = sens::plan(&s, args.relative, args.absolute)
        .with_context(|| format!("planning the sensitivity of {}", args.scenario))?;
    let runs = 1 + plans
        .iter()
        .map(|p| p.low.is_some() as usize + p.high.is_some() as usize)
        .sum::<usize>();
    println!(
        "{}: sensitivity of {} parameters, {runs} runs of {} paths x {} days (seed {}, common random numbers; relative step {}, absolute step {})",
        s.scenario.name,
        plans.len(),
        s.scenario.paths,
        s.scenario.horizon_days,
        s.scenario.seed,
        args.relative,
        args.absolute
    );

    let started_at = SystemTime::now();
    let progress = !args.quiet;
    let base_out = simulate(&s, args.sim.backend, progress)?;
    let base = outcome(&s, &base_out);
    let mut simulate_seconds = base_out.simulate_time.as_secs_f64();
    let (engine, device) = (base_out.engine, base_out.device.clone());
    drop(base_out);
    let mut effects: Vec<Effect> = Vec::with_capacity(plans.len());
    for (i, p) in plans.iter().enumerate() {
        let mut run_side = |v: &Option<Scenario>| -> Result<Option<Outcome>> {
            let Some(v) = v else { return Ok(None) };
            let out = simulate(v, args.sim.backend, progress)
                .with_context(|| format!("sensitivity variant of {}", p.parameter))?;
            simulate_seconds += out.simulate_time.as_secs_f64();
            Ok(Some(outcome(v, &out)))
        };
        let low = run_side(&p.low)?;
        let high = run_side(&p.high)?;
        let e = sens::effect(p, &base, low.as_ref(), high.as_ref());
        if !args.quiet {
            println!(
                "  [{}/{}] {:<36} {} / {}: P(spiral) {:.2}% / {:.2}%, CVaR95 {:.3} / {:.3}",
                i + 1,
                plans.len(),
                e.parameter,
                e.low_value,
                e.high_value,
                100.0 * e.p_spiral_low,
                100.0 * e.p_spiral_high,
                e.cvar95_low,
                e.cvar95_high
            );
        }
        effects.push(e);
    }
    sens::rank(&mut effects);

    let dir = args.out.join(&s.scenario.name);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))?;
    let info = RunInfo {
        scenario: &s,
        seed: s.scenario.seed,
        engine,
        device: &device,
        simulate_seconds,
        started_at,
    };
    let mut meta = pq::run_metadata(&info, s.scenario.paths);
    let kv = |k: &str, v: String| KeyValue::new(k.to_string(), v);
    meta.push(kv(
        "tokenrisk.sensitivity_relative",
        args.relative.to_string(),
    ));
    meta.push(kv(
        "tokenrisk.sensitivity_absolute",
        args.absolute.to_string(),
    ));
    meta.push(kv(
        "tokenrisk.sensitivity_skipped",
        skips
            .iter()
            .map(|k| format!("{}: {}", k.parameter, k.reason))
            .collect::<Vec<_>>()
            .join("\n"),
    ));
    let batch = sens::tornado_batch(&effects)?;
    let file = dir.join(sens::TORNADO_FILE);
    output::write_atomic(&file, |f| {
        pq::write_parquet(f, batch.schema(), pq::writer_properties(meta), [Ok(batch)])?;
        Ok(())
    })?;

    if !skips.is_empty() {
        println!("  skipped ({}):", skips.len());
        for k in &skips {
            println!("    {}: {}", k.parameter, k.reason);
        }
    }
    println!(
        "  base: P(spiral) {:.2}%, CVaR95 log-return {:.3}",
        100.0 * base.p_spiral,
        base.cvar95
    );
    println!(
        "  {:>4}  {:<36} {:>12} {:>12} {:>16} {:>10} {:>5}",
        "rank", "parameter", "low", "high", "dP(spiral) (SE)", "dCVaR95", "rankC"
    );
    for e in effects.iter().take(args.top) {
        println!(
            "  {:>4}  {:<36} {:>12} {:>12} {:>16} {:>10.3} {:>5}",
            e.rank,
            e.parameter,
            format!("{:.6}", e.low_value)
                .trim_end_matches('0')
                .trim_end_matches('.'),
            format!("{:.6}", e.high_value)
                .trim_end_matches('0')
                .trim_end_matches('.'),
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

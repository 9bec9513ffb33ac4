//! `tokenrisk compare A.toml B.toml [C.toml ...]`: runs every design with one seed and the
//! same path ids (common random numbers), writes each design's normal outputs to
//! `OUT/<scenario.name>/` and the paired comparison of every pair to
//! `OUT/comparison.parquet` (statistics in [`crate::compare`]), and prints a table.

use super::{apply_overrides, load_scenario, run::print_summary, simulate_and_write, SimArgs};
use crate::output::{self, parquet as pq};
use crate::workflows::compare::{self, DesignPaths, PairComparison, METRICS};
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// Name of the comparison table in the output root.
pub const COMPARISON_FILE: &str = "comparison.parquet";

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Designs to compare (two or more scenario files or preset names). They must share
    /// horizon_days, step_days and paths; all run with the first design's seed (or --seed).
    #[arg(required = true, num_args = 2.., value_name = "SCENARIO")]
    designs: Vec<String>,
    /// Output root: each design writes OUT/<scenario.name>/, the comparison
    /// OUT/comparison.parquet.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    #[command(flatten)]
    sim: SimArgs,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub fn cmd_compare(args: CompareArgs) -> Result<i32> {
    let mut designs = Vec::with_capacity(args.designs.len());
    for arg in &args.designs {
        let mut s = load_scenario(arg)?;
        apply_overrides(&mut s, &args.sim)?;
        designs.push((arg.as_str(), s));
    }
    // One seed for all (common random numbers): --seed, else the first design's.
    let seed = designs[0].1.scenario.seed;
    for (arg, s) in &mut designs {
        if s.scenario.seed != seed {
            println!(
                "note: {arg} sets seed {}; every design runs with seed {seed} (common random numbers)",
                s.scenario.seed
            );
            s.scenario.seed = seed;
        }
    }
    let refs: Vec<(&str, &crate::scenario::Scenario)> =
        designs.iter().map(|(a, s)| (*a, s)).collect();
    compare::check_comparable(&refs)?;

    let mut paths = Vec::with_capacity(designs.len());
    let mut engines = Vec::with_capacity(designs.len());
    for (_, s) in &designs {
        let t0 = Instant::now();
        let done = simulate_and_write(s, args.sim.backend, &args.out, !args.quiet)?;
        print_summary(s, &done.output, &done.summary, t0.elapsed().as_secs_f64());
        println!("  wrote {}", done.written.dir.display());
        paths.push(DesignPaths::from_records(
            &s.scenario.name,
            &done.output.records,
        ));
        engines.push((done.output.engine, done.output.device.clone()));
    }

    let rows = compare::compare_all(&paths)?;
    let batch = compare::comparison_batch(&rows)?;
    let runs: Vec<_> = designs
        .iter()
        .zip(&engines)
        .map(|((_, s), (e, d))| (s, *e, d.as_str()))
        .collect();
    let meta = compare::comparison_metadata(&runs, seed, designs[0].1.scenario.paths);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create output directory {}", args.out.display()))?;
    let file = args.out.join(COMPARISON_FILE);
    output::write_atomic(&file, |f| {
        pq::write_parquet(f, batch.schema(), pq::writer_properties(meta), [Ok(batch)])?;
        Ok(())
    })?;
    for row in &rows {
        print_comparison(row, seed);
    }
    println!("  wrote {}", file.display());
    Ok(0)
}

fn pp(x: f64) -> String {
    format!("{:+.2} pp", 100.0 * x)
}

fn num(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        format!("{x}")
    } else if x.abs() >= 1e5 || x.abs() < 1e-3 {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

fn print_comparison(r: &PairComparison, seed: u64) {
    let s = &r.spiral;
    println!(
        "{} vs {} ({} paths, seed {seed}, common random numbers; differences are {} minus {}):",
        r.design_a, r.design_b, r.paths, r.design_a, r.design_b
    );
    println!(
        "  P(spiral)              {:.2}% vs {:.2}%: difference {} (95% CI {} to {})",
        100.0 * s.p_a,
        100.0 * s.p_b,
        pp(s.diff),
        pp(s.lo),
        pp(s.hi)
    );
    println!(
        "  its standard error     paired {:.3} pp, independent runs {:.3} pp: variance reduction {:.2}x",
        100.0 * s.se_paired,
        100.0 * s.se_independent,
        s.variance_reduction
    );
    let p = if s.mcnemar_p_value > 0.0 {
        format!("{:.3e}", s.mcnemar_p_value)
    } else {
        "< 1e-300".to_string()
    };
    println!(
        "  discordant paths       spiraled in {} only: {}, in {} only: {} (McNemar exact p {})",
        r.design_a,
        s.discordant_ab,
        r.design_b,
        s.discordant_ba,
        if p.starts_with('<') {
            p
        } else {
            format!("= {p}")
        }
    );
    println!(
        "  {:<22} {:>24} {:>12} {:>12} {:>12}",
        "", "mean diff (paired SE)", "median diff", "p05 diff", "p95 diff"
    );
    for ((_, label), m) in METRICS.iter().zip(&r.metrics) {
        println!(
            "  {:<22} {:>24} {:>12} {:>12} {:>12}",
            label,
            format!("{} ({})", num(m.diff_mean), num(m.diff_se)),
            num(m.diff_p50),
            num(m.diff_p05),
            num(m.diff_p95)
        );
    }
    if r.nonfinite_pairs > 0 {
        println!(
            "  WARNING: {} path pairs had non-finite values and were left out of the metrics",
            r.nonfinite_pairs
        );
    }
}

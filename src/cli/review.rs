//! `tokenrisk review SCENARIO`: the design review (`workflows::review`) run, printed as a
//! checklist and written with the run as `OUT/<name>/review.parquet`.

use super::{print, progress::with_bar, SimArgs};
use crate::measure::review::{Check, Status};
use crate::workflows::inputs::{self, Writes};
use crate::workflows::review;
use crate::workflows::single::RunPlan;
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct ReviewArgs {
    /// Scenario file, or the name of a bundled preset.
    pub scenario: String,
    /// Output root; writes OUT/<scenario.name>/ (the run's tables and review.parquet).
    #[arg(long, default_value = "out")]
    out: PathBuf,
    #[command(flatten)]
    sim: SimArgs,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

/// One checklist line's figure: the value with its interval where it is an estimate.
pub fn figure_text(c: &Check) -> String {
    if c.figure.is_nan() {
        return String::new();
    }
    if c.check == "insider_cliff" {
        return format!("{} days", c.figure);
    }
    let f = |x: f64| format!("{:.2}%", 100.0 * x);
    let mut s = f(c.figure);
    if c.se == 0.0 && c.lo == c.hi {
        s.push_str(" (the same on every path)");
    } else if !c.lo.is_nan() {
        s.push_str(&format!(
            " (95% CI {} to {}, SE {})",
            f(c.lo),
            f(c.hi),
            f(c.se)
        ));
    }
    s
}

pub fn cmd_review(args: ReviewArgs) -> Result<i32> {
    let overrides = args.sim.overrides();
    let writes = Writes {
        root: Some(args.out.clone()),
        ..Writes::default()
    };
    let checked = inputs::check_all(std::slice::from_ref(&args.scenario), &overrides, &writes)?;
    let c = checked.into_iter().next().expect("one input, one result");
    if c.sweep.is_some() {
        bail!(
            "{}: review takes one design; this file has a [sweep] (review each point's scenario instead)",
            c.arg
        );
    }
    let t0 = Instant::now();
    let plan = RunPlan {
        scenario: c.scenario,
        backend: args.sim.backend,
    };
    let name = plan.name().to_string();
    let (result, written) = with_bar(!args.quiet, &name, |ctl, _| {
        review::run_to(&plan, &args.out, ctl)
    })?;
    print::summary(&result.run, t0.elapsed().as_secs_f64());
    println!("  design review (thresholds from [review], defaults the article's red flags):");
    let width = result
        .checks
        .iter()
        .map(|c| c.check.len())
        .max()
        .unwrap_or(0);
    for c in &result.checks {
        let mark = match c.status {
            Status::RedFlag => "RED FLAG",
            Status::Ok => "ok",
            Status::NotApplicable => "n/a",
            Status::NotComputed => "not computed",
        };
        println!("  {:<8}  {:<width$}  {}", mark, c.check, c.explanation);
        let fig = figure_text(c);
        if !fig.is_empty() {
            println!("  {:<8}  {:<width$}  figure {fig}", "", "");
        }
    }
    let flags = result
        .checks
        .iter()
        .filter(|c| c.status == Status::RedFlag)
        .count();
    println!("  {flags} red flag(s) of {} checks", result.checks.len());
    println!("  wrote {}", written.dir.display());
    Ok(0)
}

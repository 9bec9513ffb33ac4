//! `tokenrisk compare A.toml B.toml [C.toml ...]`: every design run with one seed and the
//! same path ids (common random numbers) into `OUT/<scenario.name>/`, and the paired
//! comparison of every pair into `OUT/comparison.parquet` (see `workflows::compare`).
//! `tokenrisk compare A.toml --governance NAME` compares A with its own counterfactual
//! designs for one governance change (`workflows::counterfactual`).

use super::{print, progress::with_bar, SimArgs};
use crate::workflows::compare::{self, ComparePlan};
use crate::workflows::counterfactual;
use crate::workflows::inputs::{self, Writes};
use crate::workflows::single::RunPlan;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Designs to compare (two or more scenario files or preset names; one with
    /// --governance). They must share horizon_days, step_days and paths; all run with the
    /// first design's seed (or --seed).
    #[arg(required = true, num_args = 1.., value_name = "SCENARIO")]
    designs: Vec<String>,
    /// Compare one scenario with its own governance change NAME removed ("never") and, for
    /// an uncertain change, with probability 1 ("always"): what the change is worth, paired.
    #[arg(long, value_name = "NAME")]
    governance: Option<String>,
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
    let overrides = args.sim.overrides();
    // Every design checked, with the names the comparison writes, before anything runs.
    let writes = Writes {
        root: Some(args.out.clone()),
        own_files: &[compare::COMPARISON_FILE],
    };
    // A wrong count of designs is a usage error (exit 2), as clap reports the others.
    let usage = |msg: String| -> ! {
        clap::Error::raw(
            clap::error::ErrorKind::WrongNumberOfValues,
            format!("{msg}\n"),
        )
        .exit()
    };
    match (&args.governance, args.designs.len()) {
        (Some(_), 1) | (None, 2..) => {}
        (Some(_), n) => usage(format!(
            "--governance compares one scenario with its own counterfactuals; give one scenario, not {n}"
        )),
        (None, _) => usage("compare needs at least two designs (or one with --governance NAME)".into()),
    }
    let checked = inputs::check_all(&args.designs, &overrides, &writes)?;
    let scenarios: Vec<(String, crate::scenario::Scenario)> = match &args.governance {
        Some(change) => counterfactual::designs(&checked[0].scenario, change)?
            .into_iter()
            .map(|(label, s)| (format!("{} ({label})", checked[0].arg), s))
            .collect(),
        None => checked.into_iter().map(|c| (c.arg, c.scenario)).collect(),
    };
    let designs = scenarios
        .into_iter()
        .map(|(arg, scenario)| {
            let plan = RunPlan {
                scenario,
                backend: args.sim.backend,
            };
            (arg, plan)
        })
        .collect();
    let plan = ComparePlan::new(designs)?;
    plan.check()?;
    for note in &plan.notes {
        println!("note: {note}");
    }
    let mut t0 = Instant::now();
    let (comparison, file) = with_bar(!args.quiet, "compare", |ctl, bar| {
        compare::run_to(&plan, &args.out, ctl, &mut |result, written| {
            bar.print(|| {
                print::summary(result, t0.elapsed().as_secs_f64());
                println!("  wrote {}", written.dir.display());
            });
            t0 = Instant::now();
        })
    })?;
    for row in &comparison.rows {
        print::comparison(row, comparison.seed);
    }
    println!("  wrote {}", file.display());
    Ok(0)
}

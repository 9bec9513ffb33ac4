//! `tokenrisk review`: the design review of a scenario (`measure::review`), from a run of it
//! and a 365-day prefix run with the same seed and path ids. The prefix gives each path's
//! first-year minting exactly: every path's first 365 days are the same draws in both runs
//! (common random numbers), so the front-loading figure needs no histogram.
//!
//! The run folder gets the run's usual tables plus `review.parquet`, all built in one staged
//! folder and moved into place whole (`output::folder`).

use super::single::{RunPlan, RunResult};
use crate::engine::{self, Control, PathRange};
use crate::measure::review::{self, Check, SimFigures};
use crate::model::{Params, METRICS};
use crate::output::folder::Staged;
use crate::output::{review as out, Written};
use crate::scenario::Scenario;
use anyhow::{Context, Result};
use std::path::Path;

/// A finished review: the run and its checks.
pub struct ReviewResult {
    pub run: RunResult,
    pub checks: Vec<Check>,
}

/// Days of the prefix run: the first year, in whole steps.
pub fn first_year_days(s: &Scenario) -> u32 {
    let step = s.scenario.step_days.max(1);
    (365 / step) * step
}

/// The simulated figures of a finished run (and, when given, each path's first-year minting).
pub fn sim_figures(run: &RunResult, first_year_minted: Option<&[f64]>) -> SimFigures {
    let recs = &run.output.records;
    let er0 = run.summary.initial.er_ratio;
    let acc = &run.output.acc;
    let er = METRICS.iter().position(|m| *m == "er_ratio");
    let last = acc.report_days.len().checked_sub(1);
    let median_trend = match (er, last) {
        (Some(m), Some(l)) => acc
            .metric(0, m)
            .quantile(0.5)
            .zip(acc.metric(l, m).quantile(0.5)),
        _ => None,
    };
    let total: Vec<f64> = recs.iter().map(|r| r.minted).collect();
    SimFigures {
        paths: recs.len() as u64,
        widened: Some(recs.iter().filter(|r| r.er_ratio > er0).count() as u64),
        median_trend,
        broke_even: Some(acc.broke_even),
        first_year_share: first_year_minted.map(|f| review::first_year_share(f, &total)),
    }
}

/// Runs the plan and its prefix and applies the checks.
pub fn run(plan: &RunPlan, ctl: &Control) -> Result<ReviewResult> {
    let run = super::single::run(plan, ctl)?;
    finish(plan, run, ctl)
}

fn finish(plan: &RunPlan, run: RunResult, ctl: &Control) -> Result<ReviewResult> {
    let s = &plan.scenario;
    let first = if s.scenario.horizon_days > 365 {
        let mut p = s.clone();
        p.scenario.horizon_days = first_year_days(s);
        p.scenario.report_every = p.scenario.report_every.min(p.scenario.horizon_days);
        let range = PathRange {
            start: 0,
            count: s.scenario.paths,
        };
        let out = engine::run(
            plan.backend,
            &Params::compile(&p),
            s.scenario.seed,
            range,
            ctl,
        )
        .with_context(|| format!("simulating the first year of {}", s.scenario.name))?;
        Some(out.records.iter().map(|r| r.minted).collect::<Vec<f64>>())
    } else {
        None
    };
    let checks = review::review(&run.scenario, &sim_figures(&run, first.as_deref()));
    Ok(ReviewResult { run, checks })
}

/// Runs and writes `out_root/<name>/` (the run's tables and `review.parquet`) whole.
pub fn run_to(plan: &RunPlan, out_root: &Path, ctl: &Control) -> Result<(ReviewResult, Written)> {
    let staged = Staged::begin(&out_root.join(plan.name()))?;
    let run = super::single::run(plan, ctl)?;
    let result = finish(plan, run, ctl)?;
    let mut written = result.run.write_in(staged.dir())?;
    out::write_review(
        staged.dir(),
        &result.run.info(),
        result.run.scenario.scenario.paths,
        &result.checks,
    )?;
    written.dir = staged.commit()?;
    Ok((result, written))
}

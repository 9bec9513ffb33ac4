//! One scenario, run: the settings laid over it ([`Overrides`]), the validated plan
//! ([`RunPlan`], made once, as ripgrep turns raw flags into one checked plan), the run
//! ([`run`]) and its result in memory ([`RunResult`]: engine output, summary, and the three
//! tables as Arrow record batches). Writing to a folder is a separate step
//! ([`RunResult::write`]); [`run_to`] does both for callers that want files. Every other
//! workflow is made of these.

use super::preflight;
use crate::engine::{self, Backend, Control, EngineOutput, PathRange};
use crate::measure::summary::report_quantiles;
use crate::measure::Summary;
use crate::model::Params;
use crate::output::folder::Staged;
use crate::output::{self, parquet as pq, RunInfo, Written};
use crate::scenario::overlay::{self, ShockOverlay, StressOverlay};
use crate::scenario::Scenario;
use anyhow::{bail, Context, Result};
use arrow::array::RecordBatch;
use std::path::Path;
use std::time::SystemTime;

pub use crate::scenario::limits::MAX_PATHS;

/// What a caller changes about a scenario without editing its file: the path count, the
/// seed, and shocks laid over it (`--shock`, `--stress`).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub paths: Option<u64>,
    pub seed: Option<u64>,
    /// `--horizon DAYS`: `scenario.horizon_days` set in the scenario's text (and
    /// `report_every` lowered to it where it was longer), so the text as run says it.
    pub horizon_days: Option<u32>,
    pub shocks: Vec<ShockOverlay>,
    pub stresses: Vec<StressOverlay>,
}

impl Overrides {
    /// Lays the overrides over `s`: the horizon set in its text (parsed and validated
    /// again), paths and seed replaced, overlays appended to its shocks and recorded in its
    /// text, the result validated again. On an error `s` is unchanged.
    pub fn apply(&self, s: &mut Scenario) -> Result<()> {
        let mut out = s.clone();
        if let Some(days) = self.horizon_days {
            out = with_horizon(&out, days)?;
        }
        if let Some(p) = self.paths {
            if p == 0 || p > MAX_PATHS {
                bail!("--paths {p} is out of range; allowed: 1 to {MAX_PATHS}");
            }
            out.scenario.paths = p;
        }
        if let Some(seed) = self.seed {
            out.scenario.seed = seed;
        }
        overlay::apply_overlays(&mut out, &self.shocks, &self.stresses)?;
        *s = out;
        Ok(())
    }
}

/// `s` with `scenario.horizon_days = days` written into its text and parsed again (so every
/// check of the horizon, its steps, shocks and vesting runs on the result).
fn with_horizon(s: &Scenario, days: u32) -> Result<Scenario> {
    let set = |text: &str, key: &str| {
        crate::scenario::keys::set_in_toml(text, key, &days.to_string())
            .map_err(|e| anyhow::anyhow!("--horizon {days}: cannot set {key}: {e}"))
    };
    let mut text = set(&s.source_toml, "scenario.horizon_days")?;
    if s.scenario.report_every > days {
        text = set(&text, "scenario.report_every")?;
    }
    crate::scenario::parse(&text, &format!("{} with --horizon {days}", s.scenario.name))
        .map_err(|e| anyhow::anyhow!("--horizon {days}: {e}"))
}

/// A scenario ready to run: overrides applied and validated, and the engine to run it on.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub scenario: Scenario,
    pub backend: Backend,
}

impl RunPlan {
    pub fn new(mut scenario: Scenario, overrides: &Overrides, backend: Backend) -> Result<RunPlan> {
        overrides.apply(&mut scenario)?;
        Ok(RunPlan { scenario, backend })
    }

    pub fn name(&self) -> &str {
        &self.scenario.scenario.name
    }

    pub fn paths(&self) -> u64 {
        self.scenario.scenario.paths
    }

    pub fn seed(&self) -> u64 {
        self.scenario.scenario.seed
    }
}

/// A finished run, in memory.
pub struct RunResult {
    /// The scenario as run (overrides applied).
    pub scenario: Scenario,
    pub output: EngineOutput,
    pub summary: Summary,
    pub started_at: SystemTime,
}

impl RunResult {
    /// Summarises an engine output of `scenario`.
    pub fn new(scenario: Scenario, output: EngineOutput, started_at: SystemTime) -> RunResult {
        let summary = Summary::of(&output.acc, &output.records, &scenario);
        RunResult {
            scenario,
            output,
            summary,
            started_at,
        }
    }

    /// How the run ran (for the tables' metadata and the manifest).
    pub fn info(&self) -> RunInfo<'_> {
        RunInfo {
            scenario: &self.scenario,
            seed: self.scenario.scenario.seed,
            engine: self.output.engine,
            device: &self.output.device,
            simulate_seconds: self.output.simulate_time.as_secs_f64(),
            started_at: self.started_at,
        }
    }

    /// `summary.parquet`'s one row.
    pub fn summary_batch(&self) -> Result<RecordBatch> {
        pq::summary_batch(&self.info(), &self.summary)
    }

    /// `timeseries.parquet`'s rows.
    pub fn timeseries_batch(&self) -> Result<RecordBatch> {
        let qs = report_quantiles(&self.scenario.risk);
        pq::timeseries_batch(&self.scenario.scenario.name, &self.output.acc, &qs)
    }

    /// `paths.parquet`'s rows, in batches of at most [`pq::ROWS_PER_BATCH`].
    pub fn paths_batches(&self) -> impl Iterator<Item = Result<RecordBatch>> + '_ {
        let schema = pq::paths_schema_for(&self.scenario);
        let name = self.scenario.scenario.name.as_str();
        self.output
            .records
            .chunks(pq::ROWS_PER_BATCH)
            .map(move |chunk| pq::paths_batch(&schema, name, chunk))
    }

    /// Writes the run's tables and manifest as the folder `out_root/<scenario.name>/`,
    /// built aside and moved into place whole (`output::folder`).
    pub fn write(&self, out_root: &Path) -> Result<Written> {
        let dest = out_root.join(&self.scenario.scenario.name);
        self.write_staged(Staged::begin(&dest)?)
    }

    /// Writes the run into the folder `staged` builds and moves it into place.
    pub fn write_staged(&self, staged: Staged) -> Result<Written> {
        let mut written = self.write_in(staged.dir())?;
        written.dir = staged.commit()?;
        Ok(written)
    }

    /// Writes the run's tables and manifest into `dir` itself (a sweep point's folder).
    pub fn write_in(&self, dir: &Path) -> Result<Written> {
        output::write_run_in(
            dir,
            &self.info(),
            &self.output.acc,
            &self.summary,
            &self.output.records,
        )
        .with_context(|| format!("writing outputs of {}", self.scenario.scenario.name))
    }
}

/// Simulates the plan (refused up front when it cannot fit in memory).
pub fn run(plan: &RunPlan, ctl: &Control) -> Result<RunResult> {
    preflight::check_memory(&plan.scenario, plan.paths(), "the run")?;
    simulate(plan, ctl)
}

/// The simulation of [`run`], its checks made.
fn simulate(plan: &RunPlan, ctl: &Control) -> Result<RunResult> {
    let s = &plan.scenario;
    let started_at = SystemTime::now();
    let range = PathRange {
        start: 0,
        count: s.scenario.paths,
    };
    let output = engine::run(
        plan.backend,
        &Params::compile(s),
        s.scenario.seed,
        range,
        ctl,
    )
    .with_context(|| format!("simulating {}", s.scenario.name))?;
    Ok(RunResult::new(s.clone(), output, started_at))
}

/// Simulates the plan and writes it as the folder `out_root/<name>/`, locking and starting
/// that folder first (so a bad or busy folder fails before a long run, not after it).
pub fn run_to(plan: &RunPlan, out_root: &Path, ctl: &Control) -> Result<(RunResult, Written)> {
    preflight::check_memory(&plan.scenario, plan.paths(), "the run")?;
    let staged = Staged::begin(&out_root.join(plan.name()))?;
    let result = simulate(plan, ctl)?;
    let written = result.write_staged(staged)?;
    Ok((result, written))
}

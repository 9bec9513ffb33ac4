//! One-at-a-time sensitivity analysis (`tokenrisk sensitivity`): every numeric parameter of
//! a scenario moved down and up ([`perturb`]), each variant run with the base seed and path
//! ids (common random numbers, so a small effect is not buried in Monte Carlo noise), and
//! the effects on P(spiral) and on the 95% CVaR ranked into a tornado ([`tornado`]).

pub mod perturb;
pub mod tornado;

pub use perturb::{Perturbation, Rule, Skip};
pub use tornado::{effect, rank, tornado_batch, Effect, Outcome, TORNADO_COLUMNS};

use super::single::{self, Overrides, RunPlan, RunResult};
use crate::engine::{Backend, Control};
use crate::output::folder::Lock;
use crate::output::{parquet as pq, RunInfo};
use crate::scenario::Scenario;
use anyhow::{bail, Context, Result};
use parquet::file::metadata::KeyValue;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub const DEFAULT_RELATIVE: f64 = 0.10;
pub const DEFAULT_ABSOLUTE: f64 = 0.05;
/// Default path count: min(scenario.paths, this), unless the paths are overridden.
pub const DEFAULT_MAX_PATHS: u64 = 20_000;
pub const TORNADO_FILE: &str = "tornado.parquet";

/// Checks the perturbation steps (`--relative`, `--absolute`) before anything else is read.
pub fn check_steps(relative: f64, absolute: f64) -> Result<()> {
    if !(relative > 0.0 && relative < 1.0) {
        bail!("--relative {relative} is out of range; allowed: strictly between 0 and 1");
    }
    if !(absolute > 0.0 && absolute <= 0.5) {
        bail!("--absolute {absolute} is out of range; allowed: greater than 0, at most 0.5");
    }
    Ok(())
}

/// A sensitivity analysis ready to run: the base plan and every perturbation.
pub struct SensitivityPlan {
    pub base: RunPlan,
    pub relative: f64,
    pub absolute: f64,
    pub perturbations: Vec<Perturbation>,
    pub skips: Vec<Skip>,
}

impl SensitivityPlan {
    /// Plans the analysis of `scenario` (`file` names it in messages): steps checked, the
    /// overrides applied (paths default to min(scenario.paths, [`DEFAULT_MAX_PATHS`])), and
    /// every variant built and validated. Nothing is simulated.
    pub fn new(
        file: &str,
        mut scenario: Scenario,
        overrides: &Overrides,
        backend: Backend,
        relative: f64,
        absolute: f64,
    ) -> Result<SensitivityPlan> {
        check_steps(relative, absolute)?;
        if scenario.sweep.is_some() {
            bail!(
                "{file}: has a [sweep] table; sensitivity perturbs one scenario (remove the [sweep])"
            );
        }
        overrides.apply(&mut scenario)?;
        if overrides.paths.is_none() {
            scenario.scenario.paths = scenario.scenario.paths.min(DEFAULT_MAX_PATHS);
        }
        let (perturbations, skips) = perturb::plan(&scenario, relative, absolute)
            .with_context(|| format!("planning the sensitivity of {file}"))?;
        Ok(SensitivityPlan {
            base: RunPlan { scenario, backend },
            relative,
            absolute,
            perturbations,
            skips,
        })
    }

    /// Runs to do: the base and each variant side that exists.
    pub fn runs(&self) -> usize {
        let sides = |p: &Perturbation| p.low.is_some() as usize + p.high.is_some() as usize;
        1 + self.perturbations.iter().map(sides).sum::<usize>()
    }
}

/// A finished analysis, in memory.
pub struct Tornado {
    pub base: Outcome,
    /// Ranked by |effect on P(spiral)| ([`rank`]).
    pub effects: Vec<Effect>,
    pub skips: Vec<Skip>,
    /// The base scenario as run.
    pub scenario: Scenario,
    pub relative: f64,
    pub absolute: f64,
    pub engine: &'static str,
    pub device: String,
    /// Simulation time of every run together.
    pub simulate_seconds: f64,
    pub started_at: SystemTime,
}

impl Tornado {
    /// `tornado.parquet`'s rows, in rank order.
    pub fn batch(&self) -> Result<arrow::array::RecordBatch> {
        tornado_batch(&self.effects)
    }

    /// The run metadata of the base scenario plus the steps and the skipped parameters.
    pub fn metadata(&self) -> Vec<KeyValue> {
        let info = RunInfo {
            scenario: &self.scenario,
            seed: self.scenario.scenario.seed,
            engine: self.engine,
            device: &self.device,
            simulate_seconds: self.simulate_seconds,
            started_at: self.started_at,
        };
        let mut meta = pq::run_metadata(&info, self.scenario.scenario.paths);
        let kv = |k: &str, v: String| KeyValue::new(k.to_string(), v);
        meta.push(kv(
            "tokenrisk.sensitivity_relative",
            self.relative.to_string(),
        ));
        meta.push(kv(
            "tokenrisk.sensitivity_absolute",
            self.absolute.to_string(),
        ));
        let skipped: Vec<String> = self
            .skips
            .iter()
            .map(|k| format!("{}: {}", k.parameter, k.reason))
            .collect();
        meta.push(kv("tokenrisk.sensitivity_skipped", skipped.join("\n")));
        meta
    }

    /// Writes `out_root/<name>/tornado.parquet` atomically, under the folder's lock (the
    /// folder may hold a run of the same scenario, which the table joins as an extra);
    /// returns its path.
    pub fn write(&self, out_root: &Path) -> Result<PathBuf> {
        let dir = out_root.join(&self.scenario.scenario.name);
        std::fs::create_dir_all(out_root)
            .with_context(|| format!("cannot create output directory {}", out_root.display()))?;
        let _lock = Lock::acquire(&dir)?;
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create output directory {}", dir.display()))?;
        let file = dir.join(TORNADO_FILE);
        pq::write_table(&file, &self.batch()?, self.metadata())?;
        Ok(file)
    }
}

fn outcome(r: &RunResult) -> Outcome {
    Outcome {
        p_spiral: r.summary.p_spiral,
        cvar95: r
            .summary
            .tail_at(0.95)
            .map_or(f64::NAN, |t| t.cvar_return.value),
        spiral: r.output.records.iter().map(|r| r.spiral).collect(),
        cvar95_influence: {
            let returns: Vec<f64> = r.output.records.iter().map(|r| r.log_return).collect();
            // The loss is minus the log-return: its influence is minus the return's.
            crate::stats::exact::lower_tail_influence(&returns, 0.95)
                .into_iter()
                .map(|x| -x)
                .collect()
        },
    }
}

/// Runs the base and every variant (common random numbers) and ranks the effects;
/// `on_effect` sees each parameter's effect (its 0-based index in the plan) as it is done.
pub fn run(
    plan: &SensitivityPlan,
    ctl: &Control,
    on_effect: &mut dyn FnMut(usize, &Effect),
) -> Result<Tornado> {
    run_with_base(plan, ctl, on_effect, &mut drop)
}

/// [`run`], handing the base scenario's finished run to `on_base` before the variants run
/// (the Python package keeps it as `Tornado.base`; [`run`] drops it there, so only one run's
/// paths are held at a time either way).
pub fn run_with_base(
    plan: &SensitivityPlan,
    ctl: &Control,
    on_effect: &mut dyn FnMut(usize, &Effect),
    on_base: &mut dyn FnMut(RunResult),
) -> Result<Tornado> {
    let started_at = SystemTime::now();
    let backend = plan.base.backend;
    let base_run = single::run(&plan.base, ctl)?;
    let base = outcome(&base_run);
    let mut simulate_seconds = base_run.output.simulate_time.as_secs_f64();
    let (engine, device) = (base_run.output.engine, base_run.output.device.clone());
    on_base(base_run);
    let mut effects: Vec<Effect> = Vec::with_capacity(plan.perturbations.len());
    for (i, p) in plan.perturbations.iter().enumerate() {
        let mut run_side = |v: &Option<Scenario>| -> Result<Option<Outcome>> {
            let Some(v) = v else { return Ok(None) };
            let variant = RunPlan {
                scenario: v.clone(),
                backend,
            };
            let r = single::run(&variant, ctl)
                .with_context(|| format!("sensitivity variant of {}", p.parameter))?;
            simulate_seconds += r.output.simulate_time.as_secs_f64();
            Ok(Some(outcome(&r)))
        };
        let low = run_side(&p.low)?;
        let high = run_side(&p.high)?;
        let e = effect(p, &base, low.as_ref(), high.as_ref());
        on_effect(i, &e);
        effects.push(e);
    }
    rank(&mut effects);
    Ok(Tornado {
        base,
        effects,
        skips: plan.skips.clone(),
        scenario: plan.base.scenario.clone(),
        relative: plan.relative,
        absolute: plan.absolute,
        engine,
        device,
        simulate_seconds,
        started_at,
    })
}

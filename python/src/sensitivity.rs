//! `tokenrisk.sensitivity`: the CLI's `tokenrisk sensitivity`, in memory. The arguments are
//! the CLI's (`--paths`, `--seed`, `--relative`, `--absolute`, `--backend`, `--horizon`, and
//! `--shock` / `--stress` overlays), planned by the same `SensitivityPlan::new` (paths default
//! to min(scenario.paths, 20,000)) and run by `workflows::sensitivity::run_with_base`, so
//! `tornado.parquet`'s rows are the CLI's bit for bit. The base run is kept (as `NativeRun`,
//! `Tornado.base`); the variants' runs are not (2 per parameter: their effects are the table).
//!
//! `keys` narrows the analysis to some parameters: the plan's other perturbations are dropped
//! before anything runs, and the kept ones are ranked among themselves (each row's figures
//! are the full analysis' row for that parameter, only `rank` / `rank_cvar95` differ).

use crate::errors::{engine_error, guard, panic_error, value_error};
use crate::run::{backend_arg, overrides, simulate, PyRun};
use crate::scenario::{scenario_error, PyScenario};
use crate::table::ArrowTable;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use tokenrisk::report::format::noise_note;
use tokenrisk::workflows::sensitivity::{self as sens, SensitivityPlan, Tornado};
use tokenrisk::workflows::single::RunResult;

#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (scenario, paths=None, seed=None, relative=sens::DEFAULT_RELATIVE, absolute=sens::DEFAULT_ABSOLUTE, keys=None, backend="auto", horizon=None, shocks=None, stress=None, progress=None))]
pub fn sensitivity(
    py: Python<'_>,
    scenario: &PyScenario,
    paths: Option<Bound<'_, PyAny>>,
    seed: Option<Bound<'_, PyAny>>,
    relative: f64,
    absolute: f64,
    keys: Option<Vec<String>>,
    backend: &str,
    horizon: Option<Bound<'_, PyAny>>,
    shocks: Option<Bound<'_, PyAny>>,
    stress: Option<Bound<'_, PyAny>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<PyTornado> {
    let plan = guard("checking the sensitivity's arguments", || {
        // The CLI's step checks, with the argument names of this function.
        if !(relative > 0.0 && relative < 1.0) {
            return Err(value_error(format!(
                "relative={relative} is out of range; allowed: strictly between 0 and 1"
            )));
        }
        if !(absolute > 0.0 && absolute <= 0.5) {
            return Err(value_error(format!(
                "absolute={absolute} is out of range; allowed: greater than 0, at most 0.5"
            )));
        }
        let backend = backend_arg(backend)?;
        let o = overrides(paths, seed, horizon, shocks, stress)?;
        let sc = scenario.parsed(py)?;
        let source = sc.source_toml.clone();
        let mut plan = SensitivityPlan::new(&scenario.file, sc, &o, backend, relative, absolute)
            .map_err(
                |e| match e.downcast_ref::<tokenrisk::scenario::ScenarioError>() {
                    Some(se) => scenario_error(py, se, Some(&source)),
                    None => value_error(format!("{e:#}")),
                },
            )?;
        if let Some(keys) = keys {
            narrow(&mut plan, &keys)?;
        }
        Ok(plan)
    })?;
    let name = plan.base.name().to_string();
    // Steps: the base, then each parameter (its low and high runs).
    let units = 1 + plan.perturbations.len() as u64;
    let (tornado, base) = simulate(py, &name, plan.base.paths(), units, progress, |ctl, fin| {
        let mut base: Option<RunResult> = None;
        let t = sens::run_with_base(
            &plan,
            ctl,
            &mut |_, _| {
                fin.fetch_add(1, Ordering::Relaxed);
            },
            &mut |r| {
                base = Some(r);
                fin.fetch_add(1, Ordering::Relaxed);
            },
        )?;
        Ok((t, base.expect("the base runs before the variants")))
    })?;
    Ok(PyTornado {
        tornado,
        base: Py::new(py, PyRun::new(base, scenario.file.clone()))?,
    })
}

/// Keeps the perturbations (and skips) of `keys` only; a key the plan has neither as a
/// perturbation nor as a skip is a `ValueError` listing the ones it has.
fn narrow(plan: &mut SensitivityPlan, keys: &[String]) -> PyResult<()> {
    if keys.is_empty() {
        return Err(value_error(
            "keys: an empty list; allowed: None (every parameter) or dotted keys such as [\"market.volatility\"]",
        ));
    }
    for k in keys {
        let known = plan.perturbations.iter().any(|p| &p.parameter == k)
            || plan.skips.iter().any(|s| &s.parameter == k);
        if !known {
            let allowed: Vec<&str> = plan
                .perturbations
                .iter()
                .map(|p| p.parameter.as_str())
                .collect();
            return Err(value_error(format!(
                "keys: {k:?} is not a parameter this scenario's sensitivity perturbs; allowed: {}",
                allowed.join(", ")
            )));
        }
    }
    plan.perturbations.retain(|p| keys.contains(&p.parameter));
    plan.skips.retain(|s| keys.contains(&s.parameter));
    Ok(())
}

/// A finished sensitivity analysis in memory (`Tornado` in Python wraps it).
#[pyclass(frozen, module = "tokenrisk", name = "NativeTornado")]
pub struct PyTornado {
    tornado: Tornado,
    base: Py<PyRun>,
}

#[pymethods]
impl PyTornado {
    fn table(&self) -> PyResult<ArrowTable> {
        guard("building the tornado table", || {
            let b = self.tornado.batch().map_err(engine_error)?;
            Ok(ArrowTable::new(b.schema(), vec![b]))
        })
    }

    fn base(&self, py: Python<'_>) -> Py<PyRun> {
        self.base.clone_ref(py)
    }

    /// The rows in rank order as dicts (`tornado.parquet`'s columns) plus `noise`: the CLI's
    /// note on the P(spiral) effect ("within noise" where |effect| < 1.96 paired SE, "no
    /// effect" where both are 0, else None).
    fn rows<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.tornado
            .effects
            .iter()
            .map(|e| {
                let d = PyDict::new(py);
                d.set_item("parameter", &e.parameter)?;
                d.set_item("rule", e.rule)?;
                d.set_item("base_value", e.base_value)?;
                d.set_item("low_value", e.low_value)?;
                d.set_item("high_value", e.high_value)?;
                d.set_item("p_spiral_low", e.p_spiral_low)?;
                d.set_item("p_spiral_high", e.p_spiral_high)?;
                d.set_item("p_spiral_base", e.p_spiral_base)?;
                d.set_item("effect_p_spiral", e.effect_p_spiral)?;
                d.set_item("effect_p_spiral_se", e.effect_p_spiral_se)?;
                d.set_item("cvar95_low", e.cvar95_low)?;
                d.set_item("cvar95_high", e.cvar95_high)?;
                d.set_item("cvar95_base", e.cvar95_base)?;
                d.set_item("effect_cvar95", e.effect_cvar95)?;
                d.set_item("effect_cvar95_se", e.effect_cvar95_se)?;
                d.set_item("rank", e.rank)?;
                d.set_item("rank_cvar95", e.rank_cvar95)?;
                d.set_item("noise", noise_note(e.effect_p_spiral, e.effect_p_spiral_se))?;
                Ok(d)
            })
            .collect()
    }

    /// The parameters left out, as (parameter, reason).
    fn skips(&self) -> Vec<(String, String)> {
        self.tornado
            .skips
            .iter()
            .map(|s| (s.parameter.clone(), s.reason.clone()))
            .collect()
    }

    #[getter]
    fn name(&self) -> String {
        self.tornado.scenario.scenario.name.clone()
    }
    #[getter]
    fn relative(&self) -> f64 {
        self.tornado.relative
    }
    #[getter]
    fn absolute(&self) -> f64 {
        self.tornado.absolute
    }
    #[getter]
    fn n_paths(&self) -> u64 {
        self.tornado.scenario.scenario.paths
    }
    #[getter]
    fn seed(&self) -> u64 {
        self.tornado.scenario.scenario.seed
    }
    #[getter]
    fn base_p_spiral(&self) -> f64 {
        self.tornado.base.p_spiral
    }
    #[getter]
    fn base_cvar95(&self) -> f64 {
        self.tornado.base.cvar95
    }
    #[getter]
    fn simulate_seconds(&self) -> f64 {
        self.tornado.simulate_seconds
    }

    /// Writes `out_root/<name>/tornado.parquet` as the CLI does (atomically, under the
    /// folder's lock); returns its path.
    fn write(&self, py: Python<'_>, out_root: PathBuf) -> PyResult<PathBuf> {
        py.allow_threads(|| catch_unwind(AssertUnwindSafe(|| self.tornado.write(&out_root))))
            .map_err(|p| panic_error("writing the tornado", p))?
            .map_err(engine_error)
    }
}

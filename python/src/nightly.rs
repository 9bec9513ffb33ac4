//! `tokenrisk.nightly`: the CLI's `tokenrisk nightly SCENARIO_DIR --out REPORTS [--date D]`,
//! planned by the same `NightPlan::new` and run by the same `workflows::nightly::run`, which
//! writes the night's folder as it goes (staged, swapped into place whole at the end): the
//! night's folder is its product, so this, unlike `tokenrisk.run`, writes. What the night
//! found is kept in memory ([`PyNightly`]): each scenario's headline, checks, failure and
//! notes, and `alerts.json`'s object. (The Python side turns a list of `Scenario`s into a
//! scenario folder first.)

use crate::errors::{guard, value_error};
use crate::run::{backend_arg, overrides, simulate};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use tokenrisk::workflows::nightly::{
    self as wnightly, AlertCheck, NightPlan, NightRun, ScenarioResult,
};

#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (scenario_dir, out, date=None, paths=None, seed=None, backend="auto", horizon=None, shocks=None, stress=None, progress=None))]
pub fn nightly(
    py: Python<'_>,
    scenario_dir: PathBuf,
    out: PathBuf,
    date: Option<String>,
    paths: Option<Bound<'_, PyAny>>,
    seed: Option<Bound<'_, PyAny>>,
    backend: &str,
    horizon: Option<Bound<'_, PyAny>>,
    shocks: Option<Bound<'_, PyAny>>,
    stress: Option<Bound<'_, PyAny>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<PyNightly> {
    let plan = guard("checking the night's arguments", || {
        let backend = backend_arg(backend)?;
        let o = overrides(paths, seed, horizon, shocks, stress)?;
        // The CLI's messages name its flag (`--date "x" is not a date`); here the argument.
        NightPlan::new(&scenario_dir, date.as_deref(), o, backend)
            .map_err(|e| value_error(format!("{e:#}").replacen("--date ", "date=", 1)))
    })?;
    let units = plan.files.len() as u64;
    let night = simulate(py, "nightly", 0, units, progress, |ctl, fin| {
        wnightly::run(&plan, &out, ctl, &mut |_| {
            fin.fetch_add(1, Ordering::Relaxed);
        })
    })?;
    Ok(PyNightly { night })
}

/// A finished night (`Nightly` in Python wraps it).
#[pyclass(frozen, module = "tokenrisk", name = "NativeNightly")]
pub struct PyNightly {
    night: NightRun,
}

fn check<'py>(py: Python<'py>, c: &AlertCheck) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("alert", c.alert)?;
    d.set_item("metric", c.metric)?;
    d.set_item("value", c.value)?;
    d.set_item("threshold", c.threshold)?;
    d.set_item("breached", c.breached)?;
    d.set_item("ci95_lo", c.ci.map(|x| x.0))?;
    d.set_item("ci95_hi", c.ci.map(|x| x.1))?;
    d.set_item("clear_breach", c.clear_breach())?;
    d.set_item("message", c.describe())?;
    Ok(d)
}

fn result<'py>(py: Python<'py>, dir: &Path, r: &ScenarioResult) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("file", &r.file)?;
    d.set_item("scenario", &r.name)?;
    d.set_item("description", &r.description)?;
    d.set_item(
        "status",
        if r.failed() {
            "failed"
        } else if r.alerted() {
            "alert"
        } else {
            "ok"
        },
    )?;
    let headline = match &r.headline {
        Some(h) => {
            let hd = PyDict::new(py);
            hd.set_item("paths", h.paths)?;
            hd.set_item("p_spiral", h.p_spiral)?;
            hd.set_item("p_spiral_se", h.p_spiral_se)?;
            hd.set_item("p_spiral_lo", h.p_spiral_lo)?;
            hd.set_item("p_spiral_hi", h.p_spiral_hi)?;
            hd.set_item("var95_return", h.var95_return)?;
            hd.set_item("cvar95_return", h.cvar95_return)?;
            hd.set_item("er_ratio_p50", h.er_ratio_p50)?;
            hd.set_item("final_price_p50", h.final_price_p50)?;
            Some(hd)
        }
        None => None,
    };
    d.set_item("headline", headline)?;
    let checks = r
        .checks
        .iter()
        .map(|c| check(py, c))
        .collect::<PyResult<Vec<_>>>()?;
    d.set_item("checks", checks)?;
    d.set_item("error", &r.error)?;
    d.set_item("notes", &r.notes)?;
    d.set_item("report", r.report.as_ref().map(|p| dir.join(p)))?;
    d.set_item(
        "folder",
        r.name.as_ref().filter(|_| !r.failed()).map(|n| dir.join(n)),
    )?;
    let comparison = match &r.comparison {
        Some(c) => {
            let cd = PyDict::new(py);
            cd.set_item("comparable", c.comparable())?;
            cd.set_item("settings_changed", &c.changes)?;
            cd.set_item("previous_settings_unknown", &c.unknown)?;
            cd.set_item("scenario_text_changed", c.text_changed)?;
            cd.set_item("diff", c.diff.as_ref().map(|p| dir.join(p)))?;
            Some(cd)
        }
        None => None,
    };
    d.set_item("comparison", comparison)?;
    Ok(d)
}

#[pymethods]
impl PyNightly {
    #[getter]
    fn dir(&self) -> PathBuf {
        self.night.dir.clone()
    }
    #[getter]
    fn date(&self) -> String {
        self.night.night.date.clone()
    }
    /// The CLI's exit code: 0 clear, 3 alerts, 4 failures.
    #[getter]
    fn code(&self) -> i32 {
        self.night.code
    }
    #[getter]
    fn status(&self) -> &'static str {
        wnightly::status_word(self.night.code)
    }
    #[getter]
    fn previous_date(&self) -> Option<String> {
        self.night.night.previous.as_ref().map(|p| p.date.clone())
    }
    /// Each scenario file's result, in file-name order.
    fn results<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.night
            .night
            .results
            .iter()
            .map(|r| result(py, &self.night.dir, r))
            .collect()
    }
    /// `alerts.json`'s object as JSON text.
    fn alerts_json(&self) -> String {
        wnightly::alerts_json(&self.night.night).to_string()
    }
}

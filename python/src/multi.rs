//! `tokenrisk.compare` and `tokenrisk.sweep`: the CLI's `tokenrisk compare` and the sweep of
//! `tokenrisk run` (a `[sweep]` table), in memory. The arguments become the CLI's overrides
//! ([`crate::run::overrides`]), the designs or points are planned by the same library
//! functions (`workflows::compare::ComparePlan`, `workflows::sweep::expand`) and simulated by
//! `workflows::compare::run` / `workflows::sweep::run`, so every number is the CLI's. Each
//! design's or point's run is kept (as `NativeRun`) beside the table.
//!
//! Writing is a separate step, as for a run: [`PyComparison::write`] writes each design's
//! folder and `comparison.parquet` (all folders staged under their locks first, moved into
//! place together, as the CLI's compare), [`PySweep::write`] the sweep's folder, as the CLI does.

use crate::convert;
use crate::errors::{engine_error, guard, panic_error, value_error};
use crate::run::{apply, backend_arg, overrides, simulate, PyRun};
use crate::scenario::{scenario_error, PyScenario};
use crate::table::ArrowTable;
use anyhow::Context;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use tokenrisk::output::folder::{Lock, Staged};
use tokenrisk::workflows::compare::{self as wcompare, ComparePlan, Comparison, COMPARISON_FILE};
use tokenrisk::workflows::single::{RunPlan, RunResult};
use tokenrisk::workflows::sweep::{self as wsweep, point_dir_name, SweepResult};

/// `f` (a write) with the GIL released and a panic turned into a `RuntimeError`.
fn writing<T: Send>(
    py: Python<'_>,
    what: &str,
    f: impl FnOnce() -> anyhow::Result<T> + Send,
) -> PyResult<T> {
    py.allow_threads(|| catch_unwind(AssertUnwindSafe(f)))
        .map_err(|p| panic_error(what, p))?
        .map_err(engine_error)
}

#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (designs, paths=None, seed=None, backend="auto", horizon=None, progress=None))]
pub fn compare(
    py: Python<'_>,
    designs: Vec<PyScenario>,
    paths: Option<Bound<'_, PyAny>>,
    seed: Option<Bound<'_, PyAny>>,
    backend: &str,
    horizon: Option<Bound<'_, PyAny>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<PyComparison> {
    let plan = guard("checking the comparison's arguments", || {
        if designs.len() < 2 {
            return Err(value_error(format!(
                "compare needs at least two designs; got {}",
                designs.len()
            )));
        }
        let backend = backend_arg(backend)?;
        let o = overrides(paths, seed, horizon, None, None)?;
        let mut planned = Vec::with_capacity(designs.len());
        for d in &designs {
            let mut sc = d.parsed(py)?;
            apply(py, &o, &mut sc)?;
            if sc.scenario.name == COMPARISON_FILE {
                return Err(value_error(format!(
                    "{}: scenario.name {:?} is the name of the file the comparison writes; allowed: any other name",
                    d.file, sc.scenario.name
                )));
            }
            planned.push((
                d.file.clone(),
                RunPlan {
                    scenario: sc,
                    backend,
                },
            ));
        }
        let plan = ComparePlan::new(planned).map_err(|e| value_error(format!("{e:#}")))?;
        plan.check().map_err(|e| value_error(format!("{e:#}")))?;
        Ok(plan)
    })?;
    for note in &plan.notes {
        if progress.is_some() {
            let _ = py
                .import("sys")
                .and_then(|s| s.getattr("stderr"))
                .and_then(|e| e.call_method1("write", (format!("note: {note}\n"),)));
        }
    }
    let paths = plan.designs[0].1.paths();
    let units = plan.designs.len() as u64;
    let (comparison, results) = simulate(py, "compare", paths, units, progress, |ctl, fin| {
        let mut results: Vec<RunResult> = Vec::new();
        let c = wcompare::run(&plan, ctl, &mut |r| {
            results.push(r);
            fin.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })?;
        Ok((c, results))
    })?;
    let runs = results
        .into_iter()
        .zip(&designs)
        .map(|(r, d)| Py::new(py, PyRun::new(r, d.file.clone())))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyComparison { comparison, runs })
}

/// A finished comparison in memory (`Comparison` in Python wraps it).
#[pyclass(frozen, module = "tokenrisk", name = "NativeComparison")]
pub struct PyComparison {
    comparison: Comparison,
    runs: Vec<Py<PyRun>>,
}

#[pymethods]
impl PyComparison {
    fn table(&self) -> PyResult<ArrowTable> {
        guard("building the comparison table", || {
            let b = self.comparison.batch().map_err(engine_error)?;
            Ok(ArrowTable::new(b.schema(), vec![b]))
        })
    }

    fn runs(&self, py: Python<'_>) -> Vec<Py<PyRun>> {
        self.runs.iter().map(|r| r.clone_ref(py)).collect()
    }

    #[getter]
    fn seed(&self) -> u64 {
        self.comparison.seed
    }

    #[getter]
    fn n_paths(&self) -> u64 {
        self.comparison.paths
    }

    /// Writes `out_root/<name>/` of every design and then `out_root/comparison.parquet`, as
    /// `workflows::compare::run_to` (the CLI's compare) does: every design's folder locked
    /// and started in name order (so two writers sharing designs cannot deadlock), the
    /// table locked, each design built aside, and all moved into place together only when
    /// every one is built; a failure (a design's folder locked by another process, a full
    /// disk) leaves every earlier folder as it was. Returns the table's path.
    fn write(&self, py: Python<'_>, out_root: PathBuf) -> PyResult<PathBuf> {
        let results: Vec<&RunResult> = self.runs.iter().map(|r| r.get().result()).collect();
        writing(py, "writing the comparison", || {
            std::fs::create_dir_all(&out_root).with_context(|| {
                format!("cannot create output directory {}", out_root.display())
            })?;
            let name = |i: usize| results[i].scenario.scenario.name.as_str();
            let mut order: Vec<usize> = (0..results.len()).collect();
            order.sort_by(|&a, &b| name(a).cmp(name(b)));
            let mut staged: Vec<Option<Staged>> = (0..results.len()).map(|_| None).collect();
            for i in order {
                staged[i] = Some(Staged::begin(&out_root.join(name(i)))?);
            }
            let table_lock = Lock::acquire(&out_root.join(COMPARISON_FILE))?;
            for (r, s) in results.iter().zip(&staged) {
                r.write_in(s.as_ref().expect("one staged folder per design").dir())?;
            }
            for s in staged.into_iter().flatten() {
                s.commit()?;
            }
            let file = self.comparison.write(&out_root)?;
            drop(table_lock);
            Ok(file)
        })
    }
}

/// `grid` (dotted key -> list of values) as the text of a `[sweep]` table, keys in the
/// dict's order (the sweep's axis order, the first varying slowest).
fn sweep_text(grid: &Bound<'_, PyDict>) -> PyResult<String> {
    if grid.is_empty() {
        return Err(value_error(
            "grid: an empty dict; allowed: {\"dotted.key\": [value, ...], ...}",
        ));
    }
    let mut text = String::from("\n[sweep]\n");
    for (k, v) in grid.iter() {
        let k: String = k.extract().map_err(|_| {
            value_error(format!(
                "grid: key {k} is not a string; allowed: dotted scenario keys such as \"market.volatility\""
            ))
        })?;
        let values = convert::to_toml(&format!("sweep.{k}"), &v)?;
        let key = tokenrisk::scenario::keys::format_value(&toml::Value::String(k));
        text.push_str(&format!(
            "{key} = {}\n",
            tokenrisk::scenario::keys::format_value(&values)
        ));
    }
    Ok(text)
}

#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (scenario, grid=None, paths=None, seed=None, backend="auto", horizon=None, progress=None))]
pub fn sweep(
    py: Python<'_>,
    scenario: &PyScenario,
    grid: Option<Bound<'_, PyDict>>,
    paths: Option<Bound<'_, PyAny>>,
    seed: Option<Bound<'_, PyAny>>,
    backend: &str,
    horizon: Option<Bound<'_, PyAny>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<PySweep> {
    let (base, axes, points, backend) = guard("checking the sweep's arguments", || {
        let backend = backend_arg(backend)?;
        let o = overrides(paths, seed, horizon, None, None)?;
        let with_grid = match &grid {
            Some(g) => {
                let own = scenario.parsed(py)?;
                if own.sweep.is_some() {
                    return Err(value_error(format!(
                        "{}: has a [sweep] table and a grid was given; allowed: one of them (grid=None runs the scenario's own [sweep])",
                        scenario.file
                    )));
                }
                PyScenario {
                    text: format!("{}{}", scenario.text, sweep_text(g)?),
                    file: scenario.file.clone(),
                }
            }
            None => scenario.clone(),
        };
        let mut base = with_grid.parsed(py)?;
        if base.sweep.is_none() {
            return Err(value_error(format!(
                "{}: has no [sweep] table and no grid was given; allowed: a grid such as {{\"market.volatility\": [0.6, 0.9, 1.2]}}",
                scenario.file
            )));
        }
        apply(py, &o, &mut base)?;
        let (axes, points) = wsweep::expand(&base, &scenario.file)
            .map_err(|e| scenario_error(py, &e, Some(&base.source_toml)))?;
        Ok((base, axes, points, backend))
    })?;
    let name = base.scenario.name.clone();
    let units = points.len() as u64;
    let (result, results) = simulate(
        py,
        &name,
        base.scenario.paths,
        units,
        progress,
        |ctl, fin| {
            let mut results: Vec<RunResult> = Vec::new();
            let r = wsweep::run(&base, &axes, &points, backend, ctl, &mut |_, r| {
                results.push(r);
                fin.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })?;
            Ok((r, results))
        },
    )?;
    let runs = results
        .into_iter()
        .map(|r| Py::new(py, PyRun::new(r, scenario.file.clone())))
        .collect::<PyResult<Vec<_>>>()?;
    let values = points.iter().map(|p| p.describe()).collect();
    Ok(PySweep {
        name,
        result,
        runs,
        values,
    })
}

/// A finished sweep in memory (`Sweep` in Python wraps it).
#[pyclass(frozen, module = "tokenrisk", name = "NativeSweep")]
pub struct PySweep {
    name: String,
    result: SweepResult,
    runs: Vec<Py<PyRun>>,
    /// Each point's swept values, `key = value, ...`.
    values: Vec<String>,
}

#[pymethods]
impl PySweep {
    fn table(&self) -> ArrowTable {
        let b = self.result.table.clone();
        ArrowTable::new(b.schema(), vec![b])
    }

    fn runs(&self, py: Python<'_>) -> Vec<Py<PyRun>> {
        self.runs.iter().map(|r| r.clone_ref(py)).collect()
    }

    fn point_values(&self) -> Vec<String> {
        self.values.clone()
    }

    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Writes `out_root/<name>/` as `tokenrisk run` writes a sweep: `point-NNNN/` per point
    /// and `sweep.parquet`, built aside and moved into place whole; returns the folder.
    fn write(&self, py: Python<'_>, out_root: PathBuf) -> PyResult<PathBuf> {
        let results: Vec<&RunResult> = self.runs.iter().map(|r| r.get().result()).collect();
        writing(py, "writing the sweep", || {
            let staged = Staged::begin(&out_root.join(&self.name))?;
            for (i, r) in results.iter().enumerate() {
                r.write_in(&staged.dir().join(point_dir_name(i)))?;
            }
            self.result.write(staged.dir())?;
            staged.commit()
        })
    }
}

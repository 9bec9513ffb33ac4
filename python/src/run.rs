//! `tokenrisk.run`: the CLI's `tokenrisk run` of one scenario, in memory. The arguments are
//! checked and laid over the scenario as `workflows::single::Overrides` (as the CLI's flags
//! are), the plan simulated by `workflows::single::run` (the same function, so the numbers
//! are bit-identical to the CLI's), and the result kept as [`PyRun`].
//!
//! While it simulates, the GIL is released and the simulation runs on a worker thread; the
//! calling thread wakes every 50 ms to take the GIL briefly, run Python's signal handlers
//! (`py.check_signals()`: Ctrl-C) and hand the paths done to the progress callback. A pending `KeyboardInterrupt`
//! sets the engine's cancel flag (`engine::Control::cancel`), the engine stops before its
//! next chunk of paths, and the interrupt is raised; nothing was written (a run writes only
//! in [`PyRun::write`], whose folder appears whole or not at all, `output::folder`).

use crate::convert;
use crate::errors::{engine_error, guard, panic_error, value_error};
use crate::scenario::{scenario_error, PyScenario};
use crate::table::ArrowTable;
use arrow::array::RecordBatch;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokenrisk::engine::{Backend, Control};
use tokenrisk::output::parquet as pq;
use tokenrisk::scenario::{overlay, Scenario};
use tokenrisk::workflows::single::{self, Overrides, RunPlan, RunResult, MAX_PATHS};

/// An integer argument in `lo..=hi`, or a `ValueError` naming it, its value and the range.
fn int_arg(name: &str, v: &Bound<'_, PyAny>, lo: u64, hi: u64) -> PyResult<u64> {
    let bad = || {
        value_error(format!(
            "{name}={} is out of range; allowed: an integer from {lo} to {hi}",
            v.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    };
    if v.is_instance_of::<pyo3::types::PyBool>() || !v.is_instance_of::<pyo3::types::PyInt>() {
        return Err(bad());
    }
    match v.extract::<u64>() {
        Ok(x) if (lo..=hi).contains(&x) => Ok(x),
        _ => Err(bad()),
    }
}

/// A string or a sequence of strings, as a list.
fn strings(name: &str, v: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(s) = v.downcast::<PyString>() {
        return Ok(vec![s.to_string()]);
    }
    let bad = || {
        value_error(format!(
            "{name}: allowed: a string or a sequence of strings"
        ))
    };
    v.try_iter()
        .map_err(|_| bad())?
        .map(|x| x.and_then(|x| x.extract::<String>()).map_err(|_| bad()))
        .collect()
}

pub fn backend_arg(b: &str) -> PyResult<Backend> {
    Ok(match b {
        "auto" => Backend::Auto,
        "cpu" => Backend::Cpu,
        "gpu" => Backend::Gpu,
        other => {
            return Err(value_error(format!(
                "backend={other:?} is not allowed; allowed: \"auto\", \"cpu\", \"gpu\""
            )))
        }
    })
}

#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (scenario, paths=None, seed=None, backend="auto", horizon=None, shocks=None, stress=None, progress=None))]
pub fn run(
    py: Python<'_>,
    scenario: &PyScenario,
    paths: Option<Bound<'_, PyAny>>,
    seed: Option<Bound<'_, PyAny>>,
    backend: &str,
    horizon: Option<Bound<'_, PyAny>>,
    shocks: Option<Bound<'_, PyAny>>,
    stress: Option<Bound<'_, PyAny>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<PyRun> {
    let plan = guard("checking the run's arguments", || {
        let backend = backend_arg(backend)?;
        let o = overrides(paths, seed, horizon, shocks, stress)?;
        let mut sc = scenario.parsed(py)?;
        if sc.sweep.is_some() {
            return Err(value_error(format!(
                "{}: has a [sweep]; tokenrisk.run runs one scenario (remove [sweep], or run it with tokenrisk.sweep)",
                scenario.file
            )));
        }
        apply(py, &o, &mut sc)?;
        Ok(RunPlan {
            scenario: sc,
            backend,
        })
    })?;
    let result = simulate(py, plan.name(), plan.paths(), 1, progress, |ctl, _| {
        single::run(&plan, ctl)
    })?;
    Ok(PyRun::new(result, scenario.file.clone()))
}

/// The CLI's `--paths`, `--seed`, `--horizon`, `--shock` and `--stress`, checked, as
/// `Overrides`.
pub fn overrides(
    paths: Option<Bound<'_, PyAny>>,
    seed: Option<Bound<'_, PyAny>>,
    horizon: Option<Bound<'_, PyAny>>,
    shocks: Option<Bound<'_, PyAny>>,
    stress: Option<Bound<'_, PyAny>>,
) -> PyResult<Overrides> {
    let max_days = tokenrisk::scenario::limits::MAX_HORIZON_DAYS as u64;
    let mut o = Overrides {
        paths: paths
            .map(|p| int_arg("paths", &p, 1, MAX_PATHS))
            .transpose()?,
        seed: seed.map(|s| int_arg("seed", &s, 0, u64::MAX)).transpose()?,
        horizon_days: horizon
            .map(|h| int_arg("horizon", &h, 1, max_days).map(|d| d as u32))
            .transpose()?,
        ..Overrides::default()
    };
    for s in shocks
        .map(|s| strings("shocks", &s))
        .transpose()?
        .unwrap_or_default()
    {
        o.shocks
            .push(overlay::parse_shock(&s).map_err(|e| value_error(format!("shock {s:?}: {e}")))?);
    }
    for s in stress
        .map(|s| strings("stress", &s))
        .transpose()?
        .unwrap_or_default()
    {
        o.stresses.push(
            overlay::parse_stress(&s).map_err(|e| value_error(format!("stress {s:?}: {e}")))?,
        );
    }
    Ok(o)
}

/// `o` laid over `sc`, as the CLI lays its flags over a file.
pub fn apply(py: Python<'_>, o: &Overrides, sc: &mut Scenario) -> PyResult<()> {
    o.apply(sc).map_err(
        |e| match e.downcast_ref::<tokenrisk::scenario::ScenarioError>() {
            Some(se) => scenario_error(py, se, Some(&sc.source_toml)),
            None => value_error(format!("{e:#}")),
        },
    )
}

/// Runs `work` (one run, a comparison's designs, a sweep's points: each reports its paths
/// through the `Control`) on a worker thread with the GIL released, polling for signals
/// (see the module notes). `name` names the work in a panic's message. The work is `units`
/// steps (a comparison's designs, a sweep's points, a sensitivity's parameters plus its
/// base, a night's scenario files; 1 for a run) and counts each finished one on the counter
/// it is given. `progress`, when given, is called as `progress(done, total, finished, units)`
/// (the current run's paths, the steps finished) whenever they moved (at most every 100 ms,
/// and once more at the end): the Python side draws it (a tqdm bar or a plain line,
/// `tokenrisk._progress`).
pub fn simulate<T: Send>(
    py: Python<'_>,
    name: &str,
    paths: u64,
    units: u64,
    progress: Option<Py<PyAny>>,
    work: impl FnOnce(&Control, &AtomicU64) -> anyhow::Result<T> + Send,
) -> PyResult<T> {
    let finished = AtomicU64::new(0);
    let cancel = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let total = AtomicU64::new(paths);
    let report = |d: u64, t: u64| {
        done.store(d, Ordering::Relaxed);
        total.store(t, Ordering::Relaxed);
    };
    // Warnings (`backend="auto"` running the CPU engine after a GPU failed) are raised as
    // Python `RuntimeWarning`s when the work returns.
    let warnings = std::sync::Mutex::new(Vec::<String>::new());
    let warn = |m: &str| {
        warnings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(m.to_string())
    };
    let ctl = Control {
        progress: Some(&report),
        cancel: Some(&cancel),
        warn: Some(&warn),
    };
    let (outcome, interrupted) = py.allow_threads(|| {
        std::thread::scope(|s| {
            let worker = s.spawn(|| catch_unwind(AssertUnwindSafe(|| work(&ctl, &finished))));
            let mut interrupted: Option<PyErr> = None;
            let mut drawn = Instant::now();
            let mut last = (u64::MAX, u64::MAX, u64::MAX, u64::MAX);
            while !worker.is_finished() {
                std::thread::sleep(Duration::from_millis(50));
                Python::with_gil(|py| {
                    if interrupted.is_none() {
                        if let Err(e) = py.check_signals() {
                            cancel.store(true, Ordering::Relaxed);
                            interrupted = Some(e);
                        }
                    }
                    let now = (
                        done.load(Ordering::Relaxed),
                        total.load(Ordering::Relaxed),
                        finished.load(Ordering::Relaxed).min(units),
                        units,
                    );
                    if let Some(p) = &progress {
                        if interrupted.is_none()
                            && now != last
                            && drawn.elapsed() >= Duration::from_millis(100)
                        {
                            if let Err(e) = p.call1(py, now) {
                                // A failing progress callback (or Ctrl-C inside it) stops the run.
                                cancel.store(true, Ordering::Relaxed);
                                interrupted = Some(e);
                            }
                            (drawn, last) = (Instant::now(), now);
                        }
                    }
                });
            }
            let outcome = worker.join().unwrap_or_else(Err);
            (outcome, interrupted)
        })
    });
    if let Some(e) = interrupted {
        return Err(e);
    }
    for m in warnings.into_inner().unwrap_or_else(|p| p.into_inner()) {
        let category = py.get_type::<pyo3::exceptions::PyRuntimeWarning>();
        let text = std::ffi::CString::new(m.replace('\0', " ")).expect("no NUL left");
        PyErr::warn(py, &category, &text, 1)?;
    }
    let result = match outcome {
        Ok(r) => r.map_err(engine_error)?,
        Err(payload) => return Err(panic_error(&format!("simulating {name}"), payload)),
    };
    if let Some(p) = &progress {
        let t = total.load(Ordering::Relaxed);
        p.call1(py, (t, t, units, units))?;
    }
    Ok(result)
}

/// A finished run in memory (`Run` in Python wraps it).
#[pyclass(frozen, module = "tokenrisk", name = "NativeRun")]
pub struct PyRun {
    result: RunResult,
    file: String,
    /// `paths.parquet`'s batches, built on first use.
    paths: OnceLock<Vec<RecordBatch>>,
}

impl PyRun {
    pub fn new(result: RunResult, file: String) -> PyRun {
        PyRun {
            result,
            file,
            paths: OnceLock::new(),
        }
    }

    pub fn result(&self) -> &RunResult {
        &self.result
    }
}

#[pymethods]
impl PyRun {
    /// `summary.parquet`'s row as a dict.
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guard("building the summary", || {
            let b = self.result.summary_batch().map_err(engine_error)?;
            convert::first_row(py, &b)
        })
    }

    fn summary_table(&self) -> PyResult<ArrowTable> {
        guard("building the summary table", || {
            let b = self.result.summary_batch().map_err(engine_error)?;
            Ok(ArrowTable::new(b.schema(), vec![b]))
        })
    }

    fn timeseries_table(&self) -> PyResult<ArrowTable> {
        guard("building the timeseries table", || {
            let b = self.result.timeseries_batch().map_err(engine_error)?;
            Ok(ArrowTable::new(b.schema(), vec![b]))
        })
    }

    fn paths_table(&self, py: Python<'_>) -> PyResult<ArrowTable> {
        guard("building the paths table", || {
            if self.paths.get().is_none() {
                let built = py
                    .allow_threads(|| {
                        catch_unwind(AssertUnwindSafe(|| {
                            self.result
                                .paths_batches()
                                .collect::<anyhow::Result<Vec<_>>>()
                        }))
                    })
                    .map_err(|p| panic_error("building the paths table", p))?
                    .map_err(engine_error)?;
                let _ = self.paths.set(built);
            }
            let batches = self.paths.get().expect("set above").clone();
            Ok(ArrowTable::new(
                pq::paths_schema_for(&self.result.scenario),
                batches,
            ))
        })
    }

    /// Writes the CLI's folder `out_root/<scenario.name>/`; returns its path.
    fn write(&self, py: Python<'_>, out_root: PathBuf) -> PyResult<PathBuf> {
        let what = format!("writing {}", self.result.scenario.scenario.name);
        py.allow_threads(|| catch_unwind(AssertUnwindSafe(|| self.result.write(&out_root))))
            .map_err(|p| panic_error(&what, p))?
            .map(|w| w.dir)
            .map_err(engine_error)
    }

    /// The scenario as run (overrides applied), as a `Scenario`.
    fn scenario(&self) -> PyScenario {
        PyScenario {
            text: self.result.scenario.source_toml.clone(),
            file: self.file.clone(),
        }
    }

    #[getter]
    fn name(&self) -> String {
        self.result.scenario.scenario.name.clone()
    }
    #[getter]
    fn engine(&self) -> &'static str {
        self.result.output.engine
    }
    #[getter]
    fn device(&self) -> String {
        self.result.output.device.clone()
    }
    #[getter]
    fn simulate_seconds(&self) -> f64 {
        self.result.output.simulate_time.as_secs_f64()
    }
    #[getter]
    fn n_paths(&self) -> u64 {
        self.result.scenario.scenario.paths
    }
    #[getter]
    fn seed(&self) -> u64 {
        self.result.scenario.scenario.seed
    }
}

/// The CLI's report of the run folder `run_dir`, as HTML.
#[pyfunction]
pub fn render_report(py: Python<'_>, run_dir: PathBuf) -> PyResult<String> {
    py.allow_threads(|| {
        catch_unwind(AssertUnwindSafe(|| {
            tokenrisk::report::render_report(&run_dir)
        }))
    })
    .map_err(|p| panic_error("rendering the report", p))?
    .map_err(engine_error)
}

//! `tokenrisk._native`: the Python front end of the `tokenrisk` crate, a thin layer as the CLI
//! is (one engine, two front ends). Scenarios ([`scenario`]), runs with the GIL released and
//! Ctrl-C honoured ([`run`]), comparisons and sweeps ([`multi`]), sensitivity tornados ([`sensitivity`]), nights ([`nightly`]), the price fan chart of a run's notebook display ([`chart`]), Arrow tables handed to Python without copying ([`table`]), and
//! the mapping of errors and panics to Python exceptions ([`errors`]). The public API, its
//! docstrings and notebook presentation live in `tokenrisk/__init__.py`.

mod chart;
mod convert;
mod errors;
mod multi;
mod nightly;
mod run;
mod scenario;
mod sensitivity;
mod table;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ScenarioError", py.get_type::<errors::ScenarioError>())?;
    m.add_class::<scenario::Problem>()?;
    m.add_class::<scenario::PyScenario>()?;
    m.add_class::<run::PyRun>()?;
    m.add_class::<table::ArrowTable>()?;
    m.add_class::<multi::PyComparison>()?;
    m.add_class::<multi::PySweep>()?;
    m.add_function(wrap_pyfunction!(multi::compare, m)?)?;
    m.add_function(wrap_pyfunction!(multi::sweep, m)?)?;
    m.add_class::<sensitivity::PyTornado>()?;
    m.add_function(wrap_pyfunction!(sensitivity::sensitivity, m)?)?;
    m.add_class::<nightly::PyNightly>()?;
    m.add_function(wrap_pyfunction!(nightly::nightly, m)?)?;
    m.add_function(wrap_pyfunction!(chart::price_fan_svg, m)?)?;
    m.add("CHART_CSS", chart::chart_css())?;
    m.add_function(wrap_pyfunction!(run::run, m)?)?;
    m.add_function(wrap_pyfunction!(run::render_report, m)?)?;
    m.add_function(wrap_pyfunction!(scenario::presets, m)?)?;
    m.add_function(wrap_pyfunction!(errors::_panic_for_test, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MAX_PATHS", tokenrisk::workflows::single::MAX_PATHS)?;
    Ok(())
}

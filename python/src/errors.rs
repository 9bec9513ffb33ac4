//! Errors across the boundary: scenario problems become `tokenrisk.ScenarioError` (a
//! `ValueError` carrying `.problems`), bad arguments `ValueError`, a cancelled run
//! `KeyboardInterrupt`, anything else from the engine `RuntimeError` with its whole context
//! chain; and a panic never unwinds into Python: [`guard`] catches it and raises a
//! `RuntimeError` saying what was being done.

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

pyo3::create_exception!(
    tokenrisk,
    ScenarioError,
    PyValueError,
    "A scenario with problems; `.problems` lists each (file, line, key, value, allowed, message)."
);

/// `f`, with a panic turned into a `RuntimeError` naming `what` was being done.
pub fn guard<T>(what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(panic_error(what, payload)),
    }
}

/// The exception for a caught panic's payload.
pub fn panic_error(what: &str, payload: Box<dyn std::any::Any + Send>) -> PyErr {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    PyRuntimeError::new_err(format!(
        "internal error in tokenrisk while {what}: {msg} (a bug: please report it with the scenario and arguments)"
    ))
}

/// An engine or output error: a cancelled run as `KeyboardInterrupt`, the rest as
/// `RuntimeError` with every context.
pub fn engine_error(e: anyhow::Error) -> PyErr {
    if e.chain()
        .any(|c| c.downcast_ref::<tokenrisk::engine::Cancelled>().is_some())
    {
        return PyKeyboardInterrupt::new_err("the run was cancelled");
    }
    PyRuntimeError::new_err(format!("{e:#}"))
}

pub fn value_error(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

/// Raises a panic inside [`guard`], so the tests can see it arrive as an exception.
#[pyfunction]
pub fn _panic_for_test() -> PyResult<()> {
    guard("testing the panic guard", || {
        panic!("deliberate test panic")
    })
}

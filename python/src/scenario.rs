//! `tokenrisk.Scenario`: a scenario's TOML text and the name of where it came from. Building
//! or editing one never validates it (an analyst may set several keys that only make sense
//! together); [`PyScenario::validate`] lists its problems and a run refuses it with
//! `ScenarioError`. Edits go through the crate's `keys::set_in_toml`, so the text keeps its
//! comments and layout and the dotted keys are those the validation messages spell.

use crate::convert;
use crate::errors::{guard, value_error, ScenarioError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::PathBuf;
use tokenrisk::scenario::{self, keys, library};

/// One problem of a scenario file, as Python sees it.
#[pyclass(frozen, get_all, module = "tokenrisk", name = "Problem")]
#[derive(Clone, Debug)]
pub struct Problem {
    /// The file (or preset, or `<string>`) the scenario came from.
    pub file: String,
    /// 1-based line, where it could be located.
    pub line: Option<usize>,
    /// Dotted key, e.g. `market.volatility`, `vesting[1].cliff_days`, `(file)`.
    pub key: String,
    /// The offending value as written in TOML, where there is one.
    pub value: Option<String>,
    /// What is allowed, where the message says.
    pub allowed: Option<String>,
    /// The whole message.
    pub message: String,
}

#[pymethods]
impl Problem {
    fn __repr__(&self) -> String {
        format!(
            "Problem(file={:?}, line={}, key={:?}, value={}, allowed={}, message={:?})",
            self.file,
            self.line.map_or("None".into(), |l| l.to_string()),
            self.key,
            self.value
                .as_ref()
                .map_or("None".into(), |v| format!("{v:?}")),
            self.allowed
                .as_ref()
                .map_or("None".into(), |v| format!("{v:?}")),
            self.message
        )
    }

    fn __str__(&self) -> String {
        match self.line {
            Some(l) => format!("{}:{l}: {}: {}", self.file, self.key, self.message),
            None => format!("{}: {}: {}", self.file, self.key, self.message),
        }
    }
}

/// The problems of `e`, their values read from `text` where the key is in it.
pub fn problems_of(e: &scenario::ScenarioError, text: Option<&str>) -> Vec<Problem> {
    let table: Option<toml::Table> = text.and_then(|t| toml::from_str(t).ok());
    e.problems
        .iter()
        .map(|p| {
            let in_file = table
                .as_ref()
                .and_then(|t| keys::get_key(t, &p.field))
                .map(keys::format_value);
            Problem {
                file: e.file.clone(),
                line: p.line,
                key: p.field.clone(),
                value: in_file.or_else(|| value_in_message(&p.message)),
                allowed: p
                    .message
                    .split_once("allowed: ")
                    .map(|(_, a)| a.trim().to_string()),
                message: p.message.clone(),
            }
        })
        .collect()
}

/// `X` of a message starting "value X is ..." / "value X with ...".
fn value_in_message(m: &str) -> Option<String> {
    let rest = m.strip_prefix("value ")?;
    let end = [" is ", " with ", " makes ", ";"]
        .iter()
        .filter_map(|s| rest.find(s))
        .min()?;
    Some(rest[..end].to_string())
}

/// `tokenrisk.ScenarioError` for `e`, with `.problems` set.
pub fn scenario_error(py: Python<'_>, e: &scenario::ScenarioError, text: Option<&str>) -> PyErr {
    let err = ScenarioError::new_err(e.to_string());
    let problems = problems_of(e, text);
    match PyList::new(py, problems).and_then(|l| err.value(py).setattr("problems", l)) {
        Ok(()) => err,
        Err(set) => set,
    }
}

/// A single problem of `file` at `key` as a `ScenarioError`.
fn one_problem(py: Python<'_>, file: &str, key: &str, message: String) -> PyErr {
    let e = scenario::ScenarioError {
        file: file.to_string(),
        problems: vec![scenario::Problem {
            field: key.into(),
            message,
            line: None,
        }],
    };
    scenario_error(py, &e, None)
}

#[pyclass(frozen, module = "tokenrisk", name = "Scenario")]
#[derive(Clone, Debug)]
pub struct PyScenario {
    pub text: String,
    pub file: String,
}

impl PyScenario {
    /// The scenario parsed and validated, as the CLI reads it.
    pub fn parsed(&self, py: Python<'_>) -> PyResult<scenario::Scenario> {
        scenario::parse(&self.text, &self.file)
            .map_err(|e| scenario_error(py, &e, Some(&self.text)))
    }

    fn edited(&self, key: &str, value: &Bound<'_, PyAny>) -> PyResult<PyScenario> {
        let v = convert::to_toml(key, value)?;
        let text = keys::set_in_toml(&self.text, key, &keys::format_value(&v))
            .map_err(|e| value_error(format!("cannot set {key}: {e}")))?;
        Ok(PyScenario {
            text,
            file: self.file.clone(),
        })
    }
}

#[pymethods]
impl PyScenario {
    /// A bundled preset by name (`tokenrisk presets` lists them).
    #[staticmethod]
    fn preset(name: &str) -> PyResult<PyScenario> {
        guard("loading a preset", || match scenario::preset(name) {
            Some(p) => Ok(PyScenario {
                text: p.toml.to_string(),
                file: format!("preset {}", p.file),
            }),
            None => Err(value_error(format!(
                "no bundled preset {name:?}; allowed: {}",
                library::names(scenario::PRESETS)
            ))),
        })
    }

    /// A scenario file, read as the CLI reads it (a regular UTF-8 file of at most 1 MiB).
    #[staticmethod]
    fn from_file(py: Python<'_>, path: PathBuf) -> PyResult<PyScenario> {
        guard("reading a scenario file", || {
            let file = path.display().to_string();
            match scenario::read_text(&path) {
                Ok(text) => Ok(PyScenario { text, file }),
                Err(message) => Err(one_problem(py, &file, "(file)", message)),
            }
        })
    }

    #[staticmethod]
    #[pyo3(signature = (text, name = "<string>"))]
    fn from_toml(text: String, name: &str) -> PyScenario {
        PyScenario {
            text,
            file: name.to_string(),
        }
    }

    #[staticmethod]
    #[pyo3(signature = (d, name = "<dict>"))]
    fn from_dict(d: &Bound<'_, PyDict>, name: &str) -> PyResult<PyScenario> {
        guard("converting a dict to a scenario", || {
            let table = convert::dict_to_table("", d)?;
            let text = keys::to_toml(&table).map_err(value_error)?;
            Ok(PyScenario {
                text,
                file: name.to_string(),
            })
        })
    }

    /// A new scenario with each dotted key set (`with_(**{"market.volatility": 1.1})`).
    #[pyo3(signature = (**changes))]
    fn with_(&self, changes: Option<&Bound<'_, PyDict>>) -> PyResult<PyScenario> {
        guard("editing a scenario", || {
            let mut s = self.clone();
            if let Some(changes) = changes {
                for (k, v) in changes.iter() {
                    let k: String = k.extract()?;
                    s = s.edited(&k, &v)?;
                }
            }
            Ok(s)
        })
    }

    /// A new scenario with dotted `key` set to `value`.
    fn set(&self, key: &str, value: &Bound<'_, PyAny>) -> PyResult<PyScenario> {
        guard("editing a scenario", || self.edited(key, value))
    }

    fn to_toml(&self) -> String {
        self.text.clone()
    }

    /// Every problem of the scenario (empty when a run would accept it).
    fn validate(&self) -> PyResult<Vec<Problem>> {
        guard("validating a scenario", || {
            Ok(match scenario::parse(&self.text, &self.file) {
                Ok(_) => Vec::new(),
                Err(e) => problems_of(&e, Some(&self.text)),
            })
        })
    }

    /// `scenario.name` (raises `ScenarioError` when the scenario does not validate).
    #[getter]
    fn name(&self, py: Python<'_>) -> PyResult<String> {
        guard("reading a scenario", || Ok(self.parsed(py)?.scenario.name))
    }

    #[getter]
    fn file(&self) -> String {
        self.file.clone()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .extract::<PyScenario>()
            .map(|o| o.text == self.text)
            .unwrap_or(false)
    }

    fn __repr__(&self) -> String {
        let name = scenario::parse(&self.text, &self.file)
            .map(|s| s.scenario.name)
            .unwrap_or_else(|e| format!("<{} problems>", e.problems.len()));
        format!("Scenario({name:?}, from {:?})", self.file)
    }
}

/// The bundled presets' names.
#[pyfunction]
pub fn presets() -> Vec<&'static str> {
    scenario::PRESETS.iter().map(|p| p.stem()).collect()
}

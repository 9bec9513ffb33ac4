//! Scenario files: the typed form of the format in `docs/SCENARIO.md` (a public contract: key
//! names never change), parsing with unknown-key rejection, and validation with messages that
//! name the file, the field path, the value and what is allowed. The lowest domain layer:
//! it knows nothing of the model or the engines.
//!
//! Invariant: a `Scenario` that came out of [`load`], [`parse`] or [`resolve`] has passed
//! [`validate`](fn@validate), so the model can compile it to flat parameters without further checks.
//!
//! Also here, because they edit or name scenarios: the embedded presets and stress shapes
//! ([`library`]), the command-line shock overlays ([`overlay`]), dotted keys ([`keys`]) and
//! the format's limits ([`limits`]).

pub mod keys;
pub mod library;
pub mod limits;
pub mod overlay;
mod spans;
mod types;
pub mod validate;

pub use library::{preset, Embedded, PRESETS, STRESS_SHAPES};
pub use spans::{key_line, locate_line};
pub use types::*;
pub use validate::validate;

use std::path::Path;

/// One problem found in a scenario file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Dotted field path, e.g. `market.volatility` or `vesting[1].cliff_days`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
    /// 1-based line in the file, where it could be located.
    pub line: Option<usize>,
}

/// Every problem of one scenario file.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", render_problems(.file, .problems))]
pub struct ScenarioError {
    pub file: String,
    pub problems: Vec<Problem>,
}

fn render_problems(file: &str, problems: &[Problem]) -> String {
    let mut out = format!(
        "{file}: {} problem{}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        match p.line {
            Some(line) => out.push_str(&format!("\n  {file}:{line}: {}: {}", p.field, p.message)),
            None => out.push_str(&format!("\n  {file}: {}: {}", p.field, p.message)),
        }
    }
    out
}

/// A scenario named on a command line: a file path, or the name of a bundled preset.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "{arg}: no such file, and no bundled preset of that name (presets: {})",
        library::names(PRESETS)
    )]
    NotFound { arg: String },
    #[error(transparent)]
    Invalid(#[from] ScenarioError),
}

/// Loads `arg` as a scenario file when such a file exists, else as a bundled preset name.
pub fn resolve(arg: &str) -> Result<Scenario, LoadError> {
    let path = Path::new(arg);
    if path.exists() {
        return Ok(load(path)?);
    }
    match preset(arg) {
        Some(p) => Ok(parse(p.toml, &format!("preset {}", p.file))?),
        None => Err(LoadError::NotFound {
            arg: arg.to_string(),
        }),
    }
}

/// Reads, parses and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: file.clone(),
        problems: vec![Problem {
            field: "(file)".into(),
            message: format!("cannot read: {e}"),
            line: None,
        }],
    })?;
    parse(&text, &file)
}

/// Parses and validates scenario TOML; `file` names the source in messages.
pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    // Deserializing straight from the text keeps spans, so type errors and unknown keys
    // come with their line.
    let scenario: Scenario = toml::from_str(text).map_err(|e| toml_error(text, file, &e))?;
    checked(scenario, text, file)
}

/// Deserializes and validates an already parsed TOML table (sweeps override keys on the
/// table first, then come through here). `text` is used only to locate lines.
pub fn from_table(table: toml::Table, text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    let scenario: Scenario = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| toml_error(text, file, &e))?;
    checked(scenario, text, file)
}

fn checked(mut scenario: Scenario, text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    scenario.source_toml = text.to_string();
    let problems = validate(&scenario);
    if problems.is_empty() {
        Ok(scenario)
    } else {
        Err(ScenarioError {
            file: file.to_string(),
            problems: problems
                .into_iter()
                .map(|(field, message)| Problem {
                    line: locate_line(text, &field),
                    field,
                    message,
                })
                .collect(),
        })
    }
}

fn toml_error(text: &str, file: &str, e: &toml::de::Error) -> ScenarioError {
    // toml's message already names the key ("unknown field `foo`, expected one of ...").
    let message = e.message().trim().to_string();
    let unknown = spans::unknown_field_name(&message);
    let (field, line) = match (e.span(), unknown) {
        (Some(span), Some(name)) => (name, Some(spans::line_of(text, span.start))),
        (Some(span), None) => (
            spans::field_at(text, span.start)
                .or_else(|| spans::field_on_line(text, span.start))
                .unwrap_or_else(|| "(syntax)".into()),
            Some(spans::line_of(text, span.start)),
        ),
        // Without spans (a table built in memory), find the unknown key by name.
        (None, Some(name)) => {
            let line = spans::line_of_key(text, &name);
            (name, line)
        }
        (None, None) => ("(syntax)".into(), None),
    };
    ScenarioError {
        file: file.to_string(),
        problems: vec![Problem {
            field,
            message,
            line,
        }],
    }
}

/// The tests' base scenario (`tests/data/base_scenario.toml`, the template the integration
/// tests share), with dotted keys set and `tables` appended.
#[cfg(test)]
pub(crate) fn test_text(sets: &[(&str, &str)], tables: &str) -> String {
    let base = include_str!("../../tests/data/base_scenario.toml").to_string();
    let text = sets.iter().fold(base, |t, (k, v)| {
        keys::set_in_toml(&t, k, v).unwrap_or_else(|e| panic!("test scenario: {k}: {e}"))
    });
    format!("{text}\n{tables}")
}

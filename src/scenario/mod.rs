//! Scenario files: the typed form of `shared/design/SCENARIO.md` (a public contract: key names
//! never change), parsing with unknown-key rejection, and validation with messages that name
//! the file, the field path, the value and what is allowed.
//!
//! Invariant: a `Scenario` that came out of [`load`] or [`parse`] has passed [`validate`], so
//! the model can compile it to flat parameters without further checks.

mod types;
pub mod validate;

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
    let field = unknown_field_name(&message).unwrap_or_else(|| "(syntax)".into());
    let line = e
        .span()
        .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1)
        .or_else(|| {
            // Without spans (a table built in memory), find the unknown key by name.
            text.lines()
                .position(|l| {
                    l.trim_start().starts_with(&format!("{field} "))
                        || l.trim_start().starts_with(&format!("{field}="))
                })
                .map(|n| n + 1)
        });
    let field = match (field.as_str(), line) {
        ("(syntax)", Some(n)) => field_at_line(text, n).unwrap_or(field),
        _ => field,
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

/// Dotted path of the `key = value` on 1-based line `n`: the key, under the table header
/// above it (e.g. `scenario.horizon_days`).
fn field_at_line(text: &str, n: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let (key, _) = lines.get(n.checked_sub(1)?)?.split_once('=')?;
    let key = key.trim();
    let header = lines[..n - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(|c| c == '[' || c == ']')
                .to_string()
        });
    Some(match header {
        Some(h) if !h.is_empty() => format!("{h}.{key}"),
        _ => key.to_string(),
    })
}

fn unknown_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// Best-effort line of a dotted field path (`market.jumps.rate`, `vesting[1].amount`):
/// finds the table header, then the key inside it. Only used to help the reader.
pub fn locate_line(text: &str, field: &str) -> Option<usize> {
    let parts: Vec<&str> = field.split('.').collect();
    let (table_parts, key) = parts.split_at(parts.len().saturating_sub(1));
    let key = key.first()?;
    let key = key.split('[').next()?;
    // Table name and array index, e.g. "vesting[1]" -> ("vesting", Some(1)).
    let mut header = String::new();
    let mut index: Option<usize> = None;
    for p in table_parts {
        let (name, idx) = match p.split_once('[') {
            Some((n, i)) => (n, i.trim_end_matches(']').parse().ok()),
            None => (*p, None),
        };
        if !header.is_empty() {
            header.push('.');
        }
        header.push_str(name);
        index = idx.or(index);
    }
    let mut in_table = header.is_empty();
    let mut seen = 0usize;
    let mut inline_parent: Option<usize> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            let name = line.trim_matches(|c| c == '[' || c == ']').trim();
            let name = name
                .split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_end_matches(']');
            in_table = if name == header {
                let hit = index.is_none_or(|i| i == seen);
                if line.starts_with("[[") {
                    seen += 1;
                }
                hit
            } else {
                false
            };
            // An inline table `jumps = { ... }` lives under its parent table.
            if !in_table && !header.is_empty() {
                if let Some((parent, child)) = header.rsplit_once('.') {
                    if name == parent {
                        inline_parent = Some(n);
                        let _ = child;
                    } else {
                        inline_parent = None;
                    }
                }
            }
            continue;
        }
        let lhs = line.split('=').next().unwrap_or("").trim();
        if in_table && lhs == key {
            return Some(n + 1);
        }
        if inline_parent.is_some() {
            if let Some((_, child)) = header.rsplit_once('.') {
                if lhs == child && line.contains(key) {
                    return Some(n + 1);
                }
            }
        }
    }
    None
}

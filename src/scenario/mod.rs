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

pub mod governance;
pub mod keys;
pub mod library;
pub mod limits;
pub mod overlay;
pub mod reference;
pub mod schema;
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

/// Reads, parses and validates a scenario file (see [`read_text`] for what is refused before
/// parsing).
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = read_text(path).map_err(|message| ScenarioError {
        file: file.clone(),
        problems: vec![Problem {
            field: "(file)".into(),
            message,
            line: None,
        }],
    })?;
    parse(&text, &file)
}

/// Reads a scenario or stress shape file as untrusted input: only a regular file (a
/// directory, device, FIFO or socket is refused before it is opened, so `/dev/zero` or a pipe
/// is never read), at most [`limits::MAX_FILE_BYTES`] (checked on the file's size and again
/// while reading, for a file that grows), and UTF-8 text. The error is the message alone.
pub fn read_text(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let max = limits::MAX_FILE_BYTES;
    let not_regular = |meta: &std::fs::Metadata| {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a device, FIFO or socket)"
        };
        format!("is {what}; allowed: a regular scenario file")
    };
    let too_big = |size: String| {
        format!("is {size} bytes; allowed: at most {max} bytes (1 MiB); a scenario is a few kilobytes of keys")
    };
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    if meta.len() > max {
        return Err(too_big(meta.len().to_string()));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        // A file swapped for a FIFO after the check above must not block the open.
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options
        .open(path)
        .map_err(|e| format!("cannot read: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > max {
        return Err(too_big(format!("more than {max}")));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "is not UTF-8 text (invalid byte at offset {}); allowed: a TOML text file",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Parses and validates scenario TOML; `file` names the source in messages. Every problem is
/// reported at once: each unknown key, missing key and wrong type ([`schema::check`]), then,
/// once the file reads, every range and consistency problem ([`validate`](fn@validate)).
pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    // Parsing the text keeps spans, so a syntax error comes with its line.
    let table: toml::Table = toml::from_str(text).map_err(|e| toml_error(text, file, &e))?;
    from_table(table, text, file)
}

/// Checks and validates an already parsed TOML table (sweeps override keys on the table
/// first, then come through here). `text` is used only to locate lines.
pub fn from_table(table: toml::Table, text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    let (issues, readable) = schema::check(&table);
    let mut problems: Vec<(String, String)> =
        issues.into_iter().map(|i| (i.field, i.message)).collect();
    if let Some(table) = readable {
        match toml::Value::Table(table).try_into::<Scenario>() {
            Ok(mut scenario) => {
                scenario.source_toml = text.to_string();
                problems.extend(validate(&scenario));
                if problems.is_empty() {
                    return Ok(scenario);
                }
            }
            // What the walk cannot see (an untagged choice such as `sell_fraction`).
            Err(e) => {
                let e = toml_error(text, file, &e);
                problems.extend(e.problems.into_iter().map(|p| (p.field, p.message)));
            }
        }
    }
    let located = spans::Located::new(text);
    Err(ScenarioError {
        file: file.to_string(),
        problems: problems
            .into_iter()
            .map(|(field, message)| Problem {
                line: located.line(&field).or_else(|| {
                    // A missing key: the line of the table it is missing from.
                    field
                        .rsplit_once('.')
                        .and_then(|(parent, _)| located.line(parent))
                }),
                field,
                message,
            })
            .collect(),
    })
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

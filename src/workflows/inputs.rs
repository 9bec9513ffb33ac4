//! The checks a command makes on all its scenario files before it simulates or writes
//! anything, and that `tokenrisk validate` makes too, so that `validate` says ok exactly when
//! a run would start: each file read and validated (every problem at once), the command-line
//! overrides laid over it, its `[sweep]` expanded and every point checked; then the checks
//! across files: two files with one `scenario.name` (the second would replace the first's
//! folder), a name the command itself writes (`comparison.parquet`, `index.html`), and an
//! output folder that is, or holds, one of the files read.
//!
//! Problems are reported as problems of the file they concern ([`ScenarioError`]), each
//! naming the field, the value and what is allowed, so that one list shows everything.

use super::single::Overrides;
use super::sweep::{self, Axis, Point};
use crate::scenario::{self, LoadError, Problem, Scenario, ScenarioError};
use std::path::{Path, PathBuf};

/// What a command writes, for the checks of names and folders.
#[derive(Debug, Clone, Default)]
pub struct Writes {
    /// The output root (`--out`) whose `ROOT/<scenario.name>/` folders a run replaces;
    /// `None`: no such folder is written.
    pub root: Option<PathBuf>,
    /// Names of the files the command writes in the root besides the scenarios' folders: no
    /// scenario may be named so.
    pub own_files: &'static [&'static str],
}

/// One scenario argument, checked: its scenario (overrides applied) and, when it has a
/// `[sweep]`, the expanded grid.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The argument as given (a file or a preset name).
    pub arg: String,
    pub scenario: Scenario,
    pub sweep: Option<(Vec<Axis>, Vec<Point>)>,
}

/// Every problem of the files of one command.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct InputErrors(pub Vec<ScenarioError>);

/// Checks every argument (see the module notes); one result per argument, in order.
pub fn check_each(
    args: &[String],
    overrides: &Overrides,
    writes: &Writes,
) -> Vec<Result<Checked, ScenarioError>> {
    let mut results: Vec<Result<Checked, ScenarioError>> =
        args.iter().map(|arg| check_one(arg, overrides)).collect();
    // Across files: only the files that read have a name.
    let names: Vec<(usize, String)> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            r.as_ref()
                .ok()
                .map(|c| (i, c.scenario.scenario.name.clone()))
        })
        .collect();
    let lines: Vec<Option<usize>> = results
        .iter()
        .map(|r| {
            r.as_ref()
                .ok()
                .and_then(|c| scenario::locate_line(&c.scenario.source_toml, "scenario.name"))
        })
        .collect();
    let mut extra: Vec<(usize, String)> = Vec::new();
    for (i, name) in &names {
        let others: Vec<&str> = names
            .iter()
            .filter(|(j, n)| j != i && n == name)
            .map(|(j, _)| args[*j].as_str())
            .collect();
        if !others.is_empty() {
            extra.push((
                *i,
                format!(
                    "{} and {} share scenario.name {name:?}; each scenario writes to a folder of its name, so one would replace the other; allowed: a name no other file of this command uses",
                    args[*i],
                    others.join(", ")
                ),
            ));
        }
        if writes.own_files.contains(&name.as_str()) {
            extra.push((
                *i,
                format!(
                    "value {name:?} is the name of a file this command writes next to the scenario folders; allowed: any other name (not {})",
                    writes.own_files.join(", ")
                ),
            ));
        }
        if let Some(root) = &writes.root {
            let replaced = root.join(name);
            for (j, arg) in args.iter().enumerate() {
                if inside(Path::new(arg), &replaced) {
                    extra.push((
                        *i,
                        format!(
                            "value {name:?} makes the output folder {} {}, which would be replaced by the outputs; allowed: an --out outside the scenario files' folders, or another name",
                            replaced.display(),
                            if j == *i {
                                "hold this file".to_string()
                            } else {
                                format!("hold the scenario file {arg}")
                            }
                        ),
                    ));
                }
            }
        }
    }
    for (i, message) in extra {
        let problem = Problem {
            field: "scenario.name".into(),
            line: lines[i],
            message,
        };
        let r = &mut results[i];
        match r {
            Ok(_) => {
                *r = Err(ScenarioError {
                    file: args[i].clone(),
                    problems: vec![problem],
                })
            }
            Err(e) => e.problems.push(problem),
        }
    }
    results
}

/// [`check_each`], failing with every problem of every file when any file has one.
pub fn check_all(
    args: &[String],
    overrides: &Overrides,
    writes: &Writes,
) -> Result<Vec<Checked>, InputErrors> {
    let (ok, bad): (Vec<_>, Vec<_>) = check_each(args, overrides, writes)
        .into_iter()
        .partition(|r| r.is_ok());
    if bad.is_empty() {
        Ok(ok.into_iter().filter_map(Result::ok).collect())
    } else {
        Err(InputErrors(
            bad.into_iter().filter_map(Result::err).collect(),
        ))
    }
}

fn check_one(arg: &str, overrides: &Overrides) -> Result<Checked, ScenarioError> {
    let one = |field: &str, message: String| ScenarioError {
        file: arg.to_string(),
        problems: vec![Problem {
            field: field.into(),
            message,
            line: None,
        }],
    };
    let mut s = match scenario::resolve(arg) {
        Ok(s) => s,
        Err(LoadError::Invalid(e)) => return Err(e),
        Err(e @ LoadError::NotFound { .. }) => {
            let message = e.to_string();
            let message = message
                .strip_prefix(&format!("{arg}: "))
                .unwrap_or(&message);
            return Err(one("(file)", message.to_string()));
        }
    };
    overrides
        .apply(&mut s)
        .map_err(|e| one("(command line)", format!("{e:#}")))?;
    let sweep = match s.sweep {
        Some(_) => Some(sweep::expand(&s, arg)?),
        None => None,
    };
    Ok(Checked {
        arg: arg.to_string(),
        scenario: s,
        sweep,
    })
}

/// Whether `file` is `folder` or lies inside it, comparing absolute paths with every link
/// resolved (a folder that does not exist yet holds nothing).
pub fn inside(file: &Path, folder: &Path) -> bool {
    let (Ok(file), Some(folder)) = (file.canonicalize(), resolved(folder)) else {
        return false;
    };
    file.starts_with(folder)
}

/// `path` with links resolved as far as it exists, the rest appended.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Some(p);
    }
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some(resolved(&parent)?.join(name))
}

//! Stress tests: deterministic shocks laid over a scenario from the command line.
//!
//! Two overlays, accepted by every simulating command (`SimArgs`):
//! - `--shock KEY=FRACTION[,KEY=FRACTION...]@DAY` (keys `price`, `demand`, `gpu_cost`,
//!   `capacity`; `P *= 1 + FRACTION` as for a `[[shock]]` table), parsed by [`parse_shock`];
//! - `--stress NAME@DAY`: a named shape from the bundled library `data/stress/*.toml`
//!   ([`STRESS_SHAPES`], embedded in the binary) or a shape file, its shocks placed at `DAY` plus each
//!   shock's `offset_days` ([`parse_stress`]).
//!
//! Invariants:
//! - Overlays are appended to the scenario's own `[[shock]]`s (never replace them), then the
//!   whole scenario is validated again (at most `MAX_SHOCKS` in all, days inside the horizon,
//!   fractions in range); every error names the flag value and what is allowed.
//! - An overlay is exactly the same as writing the `[[shock]]` table into the file: the model
//!   sees the same `Shock` values, so the records are identical.
//! - The overlays are recorded in the run's outputs: `Scenario::source_toml` (the scenario TOML
//!   carried into Parquet metadata and hashed into the manifest) gets the overlay `[[shock]]`
//!   tables appended after a comment naming the flags, and that text is checked to parse back
//!   into the very scenario that runs. Without overlays the text is left byte for byte as read.

use super::library::{self, Embedded, STRESS_SHAPES};
use super::limits::MAX_SHOCKS;
use super::{ShapeShock, Shock, SHOCK_KEYS};
use crate::scenario::{self, Scenario};
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::Path;

const SHOCK_SYNTAX: &str = "expected KEY=FRACTION[,KEY=FRACTION...]@DAY with KEY one of price, demand, gpu_cost, capacity \
     and FRACTION the change as a fraction (e.g. price=-0.5@180, or price=-0.5,demand=-0.3@120)";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShapeFile {
    stress: ShapeMeta,
    #[serde(default)]
    shock: Vec<ShapeShock>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShapeMeta {
    #[serde(default)]
    description: String,
    #[serde(default)]
    episode: String,
}

/// A parsed stress shape.
#[derive(Debug, Clone, PartialEq)]
pub struct StressShape {
    pub name: String,
    pub description: String,
    /// The historical episode it imitates.
    pub episode: String,
    /// Shocks in the order of the file.
    pub shocks: Vec<ShapeShock>,
}

impl StressShape {
    /// Parses a shape file's text; `source` names it in messages.
    pub fn parse(name: &str, text: &str, source: &str) -> Result<StressShape> {
        let f: ShapeFile = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("{source}: {}", e.message().trim()))?;
        if f.shock.is_empty() {
            bail!("{source}: has no [[shock]] tables; a stress shape needs at least one");
        }
        if f.shock.len() > MAX_SHOCKS {
            bail!(
                "{source}: has {} shocks; allowed: at most {MAX_SHOCKS}",
                f.shock.len()
            );
        }
        for (i, sh) in f.shock.iter().enumerate() {
            for (key, v) in sh.changes() {
                if let Err(why) = check_fraction(key, v) {
                    bail!("{source}: shock[{i}].{why}");
                }
            }
        }
        Ok(StressShape {
            name: name.to_string(),
            description: f.stress.description,
            episode: f.stress.episode,
            shocks: f.shock,
        })
    }

    /// Days from the first to the last shock.
    pub fn span_days(&self) -> u32 {
        self.shocks.iter().map(|s| s.offset_days).max().unwrap_or(0)
    }
}

/// The shape of a bundled library entry.
pub fn library_shape(p: &Embedded) -> Result<StressShape> {
    StressShape::parse(p.stem(), p.toml, &format!("stress library {}", p.file))
}

fn check_fraction(key: &str, v: f64) -> std::result::Result<(), String> {
    if v > -1.0 && v <= 100.0 {
        Ok(())
    } else {
        Err(format!(
            "{key} = {v} is out of range; allowed: greater than -1 (a total loss), at most 100 \
             (a fraction: -0.5 is a 50% fall, 0.8 an 80% rise)"
        ))
    }
}

/// A parsed `--shock` value: the flag text as given and the shock it adds.
#[derive(Debug, Clone)]
pub struct ShockOverlay {
    pub text: String,
    pub shock: Shock,
}

/// A parsed `--stress` value: the flag text, the shape and the day it starts.
#[derive(Debug, Clone)]
pub struct StressOverlay {
    pub text: String,
    pub start_day: u32,
    pub shape: StressShape,
}

/// Parses `KEY=FRACTION[,KEY=FRACTION...]@DAY`. The error says what is wrong and what is
/// allowed (clap prefixes it with the flag and its value).
pub fn parse_shock(text: &str) -> std::result::Result<ShockOverlay, String> {
    let t = text.trim();
    let Some((changes, day)) = t.rsplit_once('@') else {
        return Err(format!(
            "missing `@DAY` (the day of the shock); {SHOCK_SYNTAX}"
        ));
    };
    let day: u32 = day.trim().parse().map_err(|_| {
        format!(
            "day `{}` is not a whole number of days from 0; {SHOCK_SYNTAX}",
            day.trim()
        )
    })?;
    let mut shock = Shock {
        day,
        ..Shock::default()
    };
    let mut seen: Vec<&str> = Vec::new();
    if changes.trim().is_empty() {
        return Err(format!("no KEY=FRACTION before `@`; {SHOCK_SYNTAX}"));
    }
    for item in changes.split(',') {
        let item = item.trim();
        let Some((key, value)) = item.split_once('=') else {
            return Err(format!("`{item}` is not KEY=FRACTION; {SHOCK_SYNTAX}"));
        };
        let key = key.trim();
        let Some(&key) = SHOCK_KEYS.iter().find(|k| **k == key) else {
            return Err(format!(
                "unknown key `{key}`; allowed: price, demand, gpu_cost, capacity"
            ));
        };
        if seen.contains(&key) {
            return Err(format!("key `{key}` is given twice"));
        }
        seen.push(key);
        let v: f64 = value.trim().parse().map_err(|_| {
            format!(
                "`{}` is not a number; FRACTION is the change as a fraction, e.g. -0.5 for a 50% fall",
                value.trim()
            )
        })?;
        check_fraction(key, v)?;
        shock.set(key, v);
    }
    Ok(ShockOverlay {
        text: t.to_string(),
        shock,
    })
}

/// Parses `NAME@DAY`: NAME a library shape (`tokenrisk stress list`) or a shape file.
pub fn parse_stress(text: &str) -> std::result::Result<StressOverlay, String> {
    let t = text.trim();
    let names = || library::names(STRESS_SHAPES);
    let Some((name, day)) = t.rsplit_once('@') else {
        return Err(format!(
            "missing `@DAY` (the day the stress starts); expected NAME@DAY, e.g. crash@180, with NAME one of {} or a stress file",
            names()
        ));
    };
    let start_day: u32 = day.trim().parse().map_err(|_| {
        format!(
            "day `{}` is not a whole number of days from 0; expected NAME@DAY, e.g. crash@180",
            day.trim()
        )
    })?;
    let name = name.trim();
    let shape = if let Some(p) = library::find(STRESS_SHAPES, name) {
        library_shape(p).map_err(|e| format!("{e:#}"))?
    } else if Path::new(name).is_file() {
        let body = super::read_text(Path::new(name)).map_err(|e| format!("{name}: {e}"))?;
        let stem = Path::new(name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.to_string());
        StressShape::parse(&stem, &body, name).map_err(|e| format!("{e:#}"))?
    } else {
        return Err(format!(
            "no stress shape `{name}`; allowed: {} (see `tokenrisk stress list`) or a stress file",
            names()
        ));
    };
    Ok(StressOverlay {
        text: t.to_string(),
        start_day,
        shape,
    })
}

fn shock_table(sh: &Shock) -> String {
    let mut out = format!("[[shock]]\nday = {}\n", sh.day);
    for (key, v) in sh.changes() {
        if v != 0.0 {
            // `{:?}` of an f64 round-trips exactly and is a valid TOML float.
            let _ = writeln!(out, "{key} = {v:?}");
        }
    }
    out
}

/// Appends the overlays to `s` (after its own shocks: `--stress` shapes, then `--shock`s, in
/// the order given), validates the result and records the overlays in `s.source_toml`. Does
/// nothing when both lists are empty; on an error `s` is left unchanged.
pub fn apply_overlays(
    s: &mut Scenario,
    shocks: &[ShockOverlay],
    stresses: &[StressOverlay],
) -> Result<()> {
    if shocks.is_empty() && stresses.is_empty() {
        return Ok(());
    }
    let horizon = s.scenario.horizon_days;
    let last = horizon.saturating_sub(1);
    let mut added: Vec<(String, Shock)> = Vec::new();
    for st in stresses {
        for sh in &st.shape.shocks {
            let day = st.start_day as u64 + sh.offset_days as u64;
            if day > last as u64 {
                bail!(
                    "--stress {}: its shock at offset {} days falls on day {day}, beyond the horizon of {} ({horizon} days); \
                     allowed start days: 0 to {}",
                    st.text,
                    sh.offset_days,
                    s.scenario.name,
                    last.saturating_sub(st.shape.span_days())
                );
            }
            added.push((
                format!("--stress {} (offset {} days)", st.text, sh.offset_days),
                sh.on_day(day as u32),
            ));
        }
    }
    for o in shocks {
        if o.shock.day > last {
            bail!(
                "--shock {}: day {} is beyond the horizon of {} ({horizon} days); allowed: 0 to {last}",
                o.text,
                o.shock.day,
                s.scenario.name
            );
        }
        added.push((format!("--shock {}", o.text), o.shock.clone()));
    }
    let total = s.shock.len() + added.len();
    if total > MAX_SHOCKS {
        bail!(
            "--shock/--stress: {}: {} shock(s) in the scenario plus {} from the overlays = {total}; allowed: at most {MAX_SHOCKS} in all",
            s.scenario.name,
            s.shock.len(),
            added.len()
        );
    }

    let mut text = s.source_toml.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(
        "\n# ---- stress overlays added on the command line by tokenrisk (the scenario above is unchanged) ----\n",
    );
    for (label, sh) in &added {
        let _ = writeln!(text, "# {label}");
        text.push_str(&shock_table(sh));
    }
    let mut shocked = s.clone();
    shocked.shock.extend(added.into_iter().map(|(_, sh)| sh));
    let problems = scenario::validate(&shocked);
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        bail!(
            "{} with the --shock/--stress overlays is not valid: {}",
            s.scenario.name,
            list.join("; ")
        );
    }
    // The recorded text must describe exactly what runs.
    let reparsed = scenario::parse(&text, "(scenario with overlays)").with_context(|| {
        format!(
            "cannot record the overlays in the scenario text of {}: write its shocks as [[shock]] tables",
            s.scenario.name
        )
    })?;
    if reparsed.shock.len() != shocked.shock.len() {
        bail!(
            "cannot record the overlays in the scenario text of {}: write its shocks as [[shock]] tables",
            s.scenario.name
        );
    }
    shocked.source_toml = text;
    *s = shocked;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_parses_and_fits() {
        for p in STRESS_SHAPES {
            let shape = library_shape(p).unwrap();
            assert!(!shape.description.is_empty(), "{}", p.file);
            assert!(!shape.episode.is_empty(), "{}", p.file);
            assert!(shape.shocks.len() < MAX_SHOCKS, "{}", p.file);
            assert!(p.toml.contains("assumption"), "{}", p.file);
        }
        for name in ["crash", "cost_spike", "demand_collapse"] {
            assert!(library::find(STRESS_SHAPES, name).is_some(), "{name}");
        }
    }

    #[test]
    fn shock_table_round_trips() {
        let o = parse_shock("price=-0.8,gpu_cost=1e-5@3").unwrap();
        let t = shock_table(&o.shock);
        assert_eq!(t, "[[shock]]\nday = 3\nprice = -0.8\ngpu_cost = 1e-5\n");
    }
}

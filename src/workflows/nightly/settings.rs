//! How each scenario of a night was run, recorded in the night's `night.json` so the next
//! night can tell a change of settings from a change of risk.
//!
//! Why a file of its own rather than the run folder's `manifest.json`: the manifest has the
//! seed, the path count, the engine and the SHA-256 of the text *as run* (overlays and
//! `--horizon` written in), but not the backend asked for, the overlays as given, the
//! horizon, nor the scenario file's own text, which the next night needs to say *what* in the
//! file changed. Keeping them here leaves the manifest format (a contract for tools) alone.
//!
//! What counts as a change ([`setting_changes`]): seed, paths, horizon, the engine that ran,
//! the `--shock` / `--stress` overlays and the model version. Each makes the night's figures
//! a different experiment, so their deltas are not a change in risk. The backend asked for
//! is recorded but not compared (`auto` and `cpu` that both ran on the CPU engine give the
//! same numbers). The scenario file's text is compared separately
//! ([`RowComparison::text_changed`]): an edited file is how new inputs reach a nightly.
//!
//! The previous night's `night.json` is untrusted: read capped and without following links
//! (`output::untrusted`), and anything malformed, of another format, or missing makes the
//! previous settings *unknown* (the page says so and colours nothing), never an error.

use super::Headline;
use crate::output::untrusted::read_capped;
use crate::report::format::fmt_count;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The night's settings record, beside `index.html`.
pub const NIGHT_FILE: &str = "night.json";
/// The `format` field of [`NightRecord`]; a record of another format is not read.
pub const RECORD_FORMAT: &str = "tokenrisk-nightly-settings/1";
/// A record larger than this is not read (it holds a few numbers and the scenario texts).
const MAX_RECORD_BYTES: u64 = 64 << 20;

/// One scenario's settings on one night.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// The scenario file's name within the scenario folder.
    pub file: String,
    pub seed: u64,
    pub paths: u64,
    pub horizon_days: u32,
    /// `--backend` as given: `auto`, `cpu` or `gpu`.
    pub backend_requested: String,
    /// The engine that ran: `cpu` or `gpu`.
    pub engine: String,
    /// `--shock` values, as given, in order.
    pub shocks: Vec<String>,
    /// `--stress` values, as given, in order.
    pub stresses: Vec<String>,
    /// SHA-256 of the scenario text as run (`output::manifest::sha256_hex`; the manifest's
    /// `scenario_sha256`).
    pub scenario_sha256: String,
    /// SHA-256 of the scenario file's text as read, before any override.
    pub file_sha256: String,
    /// The scenario file's text as read (for the next night's diff).
    pub file_text: String,
    pub model_version: String,
    pub tokenrisk_version: String,
}

/// `night.json`: the settings of every scenario of the night that ran, by scenario name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NightRecord {
    pub format: String,
    pub date: String,
    pub scenarios: BTreeMap<String, RunSettings>,
}

impl NightRecord {
    pub fn new(date: &str) -> NightRecord {
        NightRecord {
            format: RECORD_FORMAT.to_string(),
            date: date.to_string(),
            scenarios: BTreeMap::new(),
        }
    }
}

/// The record of the night folder `dir`, or why it cannot be used.
pub fn read_record(dir: &Path) -> Result<NightRecord, String> {
    let path = dir.join(NIGHT_FILE);
    if std::fs::symlink_metadata(&path).is_err() {
        return Err(format!("it has no {NIGHT_FILE}"));
    }
    let bytes = read_capped(&path, MAX_RECORD_BYTES).map_err(|e| format!("{e:#}"))?;
    let rec: NightRecord = serde_json::from_slice(&bytes)
        .map_err(|e| format!("its {NIGHT_FILE} is not a settings record: {e}"))?;
    if rec.format != RECORD_FORMAT {
        return Err(format!(
            "its {NIGHT_FILE} has format {:?}, not {RECORD_FORMAT:?}",
            rec.format
        ));
    }
    Ok(rec)
}

/// Each setting that differs, as `seed 42 -> 7`, in a fixed order.
pub fn setting_changes(before: &RunSettings, now: &RunSettings) -> Vec<String> {
    let mut out = Vec::new();
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(" ")
        }
    };
    if before.seed != now.seed {
        out.push(format!("seed {} -> {}", before.seed, now.seed));
    }
    if before.stresses != now.stresses {
        out.push(format!(
            "stress {} -> {}",
            list(&before.stresses),
            list(&now.stresses)
        ));
    }
    if before.shocks != now.shocks {
        out.push(format!(
            "shock {} -> {}",
            list(&before.shocks),
            list(&now.shocks)
        ));
    }
    if before.paths != now.paths {
        out.push(format!(
            "paths {} -> {}",
            fmt_count(before.paths),
            fmt_count(now.paths)
        ));
    }
    if before.horizon_days != now.horizon_days {
        out.push(format!(
            "horizon {} -> {} days",
            before.horizon_days, now.horizon_days
        ));
    }
    if before.engine != now.engine {
        out.push(format!("engine {} -> {}", before.engine, now.engine));
    }
    if before.model_version != now.model_version {
        out.push(format!(
            "model version {} -> {}",
            before.model_version, now.model_version
        ));
    }
    out
}

/// How one row of tonight compares with the previous night.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowComparison {
    /// The previous night's settings cannot be read (why), though it has figures for the row.
    pub unknown: Option<String>,
    /// Settings that differ ([`setting_changes`]).
    pub changes: Vec<String>,
    /// The scenario file's text differs from the previous night's.
    pub text_changed: bool,
    /// Link to the diff of the two texts, relative to the night folder, when one was written.
    pub diff: Option<String>,
}

impl RowComparison {
    /// Whether the deltas measure a change in risk (same settings, known), so may be
    /// coloured riskier / safer.
    pub fn comparable(&self) -> bool {
        self.unknown.is_none() && self.changes.is_empty()
    }
}

/// The previous night as the page compares with it: its date, its figures and its settings
/// (or why they are unknown).
#[derive(Debug, Clone)]
pub struct Previous {
    pub date: String,
    pub headlines: BTreeMap<String, Headline>,
    pub settings: Result<NightRecord, String>,
}

/// The comparison of tonight's `now` settings of scenario `name` with `previous`. `None`
/// when there is nothing to compare with (no previous night, or no figures of `name` in it).
pub fn compare(
    previous: Option<&Previous>,
    name: &str,
    now: &RunSettings,
) -> Option<RowComparison> {
    let p = previous?;
    p.headlines.get(name)?;
    let before = match &p.settings {
        Err(why) => {
            return Some(RowComparison {
                unknown: Some(why.clone()),
                ..RowComparison::default()
            })
        }
        Ok(rec) => match rec.scenarios.get(name) {
            Some(b) => b,
            None => {
                return Some(RowComparison {
                    unknown: Some(format!("its {NIGHT_FILE} has no entry for {name:?}")),
                    ..RowComparison::default()
                })
            }
        },
    };
    Some(RowComparison {
        unknown: None,
        changes: setting_changes(before, now),
        text_changed: before.file_sha256 != now.file_sha256,
        diff: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RunSettings {
        RunSettings {
            file: "a.toml".into(),
            seed: 42,
            paths: 100_000,
            horizon_days: 365,
            backend_requested: "auto".into(),
            engine: "cpu".into(),
            shocks: vec![],
            stresses: vec![],
            scenario_sha256: "x".into(),
            file_sha256: "y".into(),
            file_text: "t".into(),
            model_version: "1".into(),
            tokenrisk_version: "0.1.0".into(),
        }
    }

    #[test]
    fn changes_are_named_in_order() {
        let a = settings();
        let mut b = settings();
        assert!(setting_changes(&a, &b).is_empty());
        b.seed = 7;
        b.stresses = vec!["crash@100".into()];
        b.paths = 20_000;
        b.backend_requested = "cpu".into();
        assert_eq!(
            setting_changes(&a, &b),
            [
                "seed 42 -> 7",
                "stress none -> crash@100",
                "paths 100,000 -> 20,000"
            ]
        );
    }

    #[test]
    fn malformed_records_are_unknown() {
        let d = tempfile::tempdir().unwrap();
        assert!(read_record(d.path()).unwrap_err().contains("no night.json"));
        std::fs::write(d.path().join(NIGHT_FILE), "{ not json").unwrap();
        assert!(read_record(d.path()).is_err());
        std::fs::write(
            d.path().join(NIGHT_FILE),
            r#"{"format":"other","date":"x","scenarios":{}}"#,
        )
        .unwrap();
        assert!(read_record(d.path()).unwrap_err().contains("format"));
        let mut rec = NightRecord::new("2026-01-01");
        rec.scenarios.insert("a".into(), settings());
        std::fs::write(
            d.path().join(NIGHT_FILE),
            serde_json::to_string(&rec).unwrap(),
        )
        .unwrap();
        assert_eq!(read_record(d.path()).unwrap(), rec);
    }
}

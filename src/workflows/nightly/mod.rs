//! The nightly run: every `*.toml` of a folder (sorted by file name) run into a dated folder
//! `REPORTS/DATE/<scenario>/` with its report page, each scenario's `[alerts]` checked
//! ([`alerts`]), the night compared with the previous one, and the night's `index.html`
//! ([`page`]) and `alerts.json` written. A scenario that fails (unreadable, invalid,
//! simulation or write error) is recorded and the others still run.
//!
//! Each night also records how every scenario ran (`night.json`, [`settings`]): the next
//! night compares its settings with these, so a row run with another seed, path count,
//! horizon, engine or overlay is marked and its deltas are not read as a change in risk, and
//! a scenario whose file was edited links a diff of the two texts ([`diff`]) written as
//! `DATE/<scenario>/scenario.diff`.
//!
//! The night is built in a temp sibling `.DATE.tmp-PID` and swapped into place at the end
//! (`output::folder::Staged`), replacing an earlier run of the same date, so the final
//! name only ever holds a complete night.
//!
//! Exit codes ([`exit_code`]): 0 all clear, [`EXIT_ALERTS`] (3) one or more alerts breached,
//! [`EXIT_FAILED`] (4) one or more scenarios failed; failures win over alerts.

pub mod alerts;
pub mod diff;
pub mod page;
pub mod settings;

pub use alerts::{evaluate, AlertCheck, Headline};
pub use settings::{Previous, RowComparison, RunSettings, NIGHT_FILE};

use super::inputs::{self, Checked, Writes};
use super::single::{self, Overrides, RunPlan};
use crate::engine::{Backend, Cancelled, Control};
use crate::output::atomic::write_atomic_bytes;
use crate::output::clock::{is_date, parse_date, rfc3339_utc, today_utc};
use crate::output::folder::Staged;
use crate::output::manifest::sha256_hex;
use crate::output::MODEL_VERSION;
use crate::report::data::read_table;
use crate::scenario::ScenarioError;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Exit code when one or more alerts were breached (and nothing failed).
pub const EXIT_ALERTS: i32 = 3;
/// Exit code when one or more scenarios failed (wins over alerts).
pub const EXIT_FAILED: i32 = 4;

pub const INDEX_FILE: &str = "index.html";
pub const ALERTS_FILE: &str = "alerts.json";
/// The diff of a scenario's file text against the previous night's, in its folder.
pub const DIFF_FILE: &str = "scenario.diff";

/// The newest dated folder of `reports` strictly before `date` (temp and hidden folders are
/// ignored): (its date, its path).
pub fn previous_night(reports: &Path, date: &str) -> Option<(String, PathBuf)> {
    let entries = std::fs::read_dir(reports).ok()?;
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (is_date(&name) && name.as_str() < date).then(|| (name, e.path()))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
}

/// Headlines of a night's folder, by scenario folder name (folders without a readable
/// `summary.parquet` are skipped).
pub fn read_night(dir: &Path) -> BTreeMap<String, Headline> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let summary = e.path().join(crate::output::SUMMARY_FILE);
        if summary.is_file() {
            if let Ok(h) = read_headline(&summary) {
                out.insert(e.file_name().to_string_lossy().into_owned(), h);
            }
        }
    }
    out
}

/// What happened to one scenario file tonight.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    /// The scenario file's name within the scenario folder.
    pub file: String,
    /// `scenario.name` (the output folder), when the file could be read.
    pub name: Option<String>,
    pub description: String,
    /// Headline figures; `None` when the scenario failed.
    pub headline: Option<Headline>,
    pub checks: Vec<AlertCheck>,
    /// Error chain of a failure.
    pub error: Option<String>,
    /// Link to the scenario's report page, relative to the night folder, when one was written.
    pub report: Option<String>,
    /// Notes shown under the scenario's name (e.g. a sweep table that was not expanded).
    pub notes: Vec<String>,
    /// How it ran tonight (recorded in `night.json`); `None` when it failed.
    pub settings: Option<RunSettings>,
    /// How its settings compare with the previous night's; `None` when there is nothing to
    /// compare with (no previous night or no figures of it there).
    pub comparison: Option<RowComparison>,
}

impl ScenarioResult {
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }
    pub fn alerted(&self) -> bool {
        !self.failed() && self.checks.iter().any(|c| c.breached)
    }
}

/// A whole night, as shown on its page and in `alerts.json`.
#[derive(Debug, Clone)]
pub struct Night {
    pub date: String,
    /// The previous night: its date, headlines and settings by scenario name.
    pub previous: Option<Previous>,
    pub results: Vec<ScenarioResult>,
    /// One line on how the night ran (overrides, engine), shown on the page.
    pub settings: String,
    /// When the night was generated (RFC 3339 UTC).
    pub generated_at: String,
}

/// 0 all clear, 3 alerts, 4 failures (failures win).
pub fn exit_code(results: &[ScenarioResult]) -> i32 {
    if results.iter().any(|r| r.failed()) {
        EXIT_FAILED
    } else if results.iter().any(|r| r.alerted()) {
        EXIT_ALERTS
    } else {
        0
    }
}

pub fn status_word(code: i32) -> &'static str {
    match code {
        0 => "clear",
        EXIT_ALERTS => "alerts",
        _ => "failures",
    }
}

/// `alerts.json`: status, exit code, every breach, every failure and every check.
pub fn alerts_json(night: &Night) -> serde_json::Value {
    let code = exit_code(&night.results);
    let check_json = |r: &ScenarioResult, c: &AlertCheck| {
        json!({
            "scenario": r.name,
            "file": r.file,
            "alert": c.alert,
            "metric": c.metric,
            "value": c.value,
            "threshold": c.threshold,
            "breached": c.breached,
            "ci95_lo": c.ci.map(|x| x.0),
            "ci95_hi": c.ci.map(|x| x.1),
            "clear_breach": c.clear_breach(),
            "message": c.describe(),
        })
    };
    let alerts: Vec<_> = night
        .results
        .iter()
        .flat_map(|r| {
            r.checks
                .iter()
                .filter(|c| c.breached)
                .map(move |c| check_json(r, c))
        })
        .collect();
    let checks: Vec<_> = night
        .results
        .iter()
        .flat_map(|r| r.checks.iter().map(move |c| check_json(r, c)))
        .collect();
    let failures: Vec<_> = night
        .results
        .iter()
        .filter(|r| r.failed())
        .map(|r| json!({ "file": r.file, "scenario": r.name, "error": r.error }))
        .collect();
    let comparisons: Vec<_> = night
        .results
        .iter()
        .filter_map(|r| r.comparison.as_ref().map(|c| (r, c)))
        .map(|(r, c)| {
            json!({
                "scenario": r.name,
                "file": r.file,
                "comparable": c.comparable(),
                "settings_changed": c.changes,
                "previous_settings_unknown": c.unknown,
                "scenario_text_changed": c.text_changed,
                "diff": c.diff,
            })
        })
        .collect();
    json!({
        "date": night.date,
        "previous_night": night.previous.as_ref().map(|p| p.date.clone()),
        "previous_settings_unknown": night.previous.as_ref().and_then(|p| p.settings.as_ref().err()),
        "status": status_word(code),
        "exit_code": code,
        "scenarios": night.results.len(),
        "scenarios_with_alerts": night.results.iter().filter(|r| r.alerted()).count(),
        "scenarios_failed": night.results.iter().filter(|r| r.failed()).count(),
        "alerts": alerts,
        "failures": failures,
        "checks": checks,
        "comparisons": comparisons,
        "generated_at": night.generated_at,
        "settings": night.settings,
    })
}

/// Reads the headline figures of a `summary.parquet` (nulls and missing columns become NaN).
pub fn read_headline(path: &Path) -> Result<Headline> {
    let t = read_table(path, Some(1))?;
    if t.rows == 0 {
        bail!("{}: no rows", path.display());
    }
    let f = |name: &str| t.f64_at(name, 0).unwrap_or(f64::NAN);
    Ok(Headline {
        paths: t.f64_at("paths", 0).map_or(0, |p| p as u64),
        p_spiral: f("p_spiral"),
        p_spiral_se: f("p_spiral_se"),
        p_spiral_lo: f("p_spiral_lo"),
        p_spiral_hi: f("p_spiral_hi"),
        var95_return: f("var95_return"),
        cvar95_return: f("cvar95_return"),
        er_ratio_p50: f("er_ratio_p50"),
        final_price_p50: f("final_price_p50"),
    })
}

/// Scenario names that would collide with the night's own files.
const RESERVED: [&str; 3] = [INDEX_FILE, ALERTS_FILE, NIGHT_FILE];

/// A night ready to run.
pub struct NightPlan {
    pub date: String,
    pub scenario_dir: PathBuf,
    /// The `*.toml` files of the folder, sorted by name.
    pub files: Vec<PathBuf>,
    pub overrides: Overrides,
    pub backend: Backend,
}

impl NightPlan {
    /// Plans the night of `date` (`YYYY-MM-DD`; default: today in UTC) over the scenario files
    /// of `scenario_dir`.
    pub fn new(
        scenario_dir: &Path,
        date: Option<&str>,
        overrides: Overrides,
        backend: Backend,
    ) -> Result<NightPlan> {
        let date = match date {
            Some(d) => parse_date(d)?,
            None => today_utc(),
        };
        Ok(NightPlan {
            date,
            scenario_dir: scenario_dir.to_path_buf(),
            files: scenario_files(scenario_dir)?,
            overrides,
            backend,
        })
    }

    /// One line on how the night runs, shown on its page: `Settings: backend cpu, --paths 1000.`
    pub fn settings(&self) -> String {
        let mut parts = vec![format!("backend {:?}", self.backend).to_lowercase()];
        let o = &self.overrides;
        if let Some(p) = o.paths {
            parts.push(format!("--paths {p}"));
        }
        if let Some(s) = o.seed {
            parts.push(format!("--seed {s}"));
        }
        if let Some(d) = o.horizon_days {
            parts.push(format!("--horizon {d}"));
        }
        for x in &o.shocks {
            parts.push(format!("--shock {}", x.text));
        }
        for x in &o.stresses {
            parts.push(format!("--stress {}", x.text));
        }
        format!("Settings: {}.", parts.join(", "))
    }
}

fn scenario_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the scenario folder {}", dir.display()))?;
    let mut files = Vec::new();
    for e in entries {
        let e = e.with_context(|| format!("cannot read the scenario folder {}", dir.display()))?;
        let path = e.path();
        let is_toml = path.extension().is_some_and(|x| x == "toml");
        let hidden = e.file_name().to_string_lossy().starts_with('.');
        if is_toml && !hidden && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        bail!("{}: no *.toml scenario files", dir.display());
    }
    Ok(files)
}

/// A finished night: what it found and where it is.
pub struct NightRun {
    pub night: Night,
    /// [`exit_code`] of the night.
    pub code: i32,
    /// `REPORTS/DATE`.
    pub dir: PathBuf,
}

/// Runs the night into `reports/DATE/` (see the module notes) and returns what it found; the
/// night's folder is its product, so this writes as it goes (into a temp folder swapped in
/// at the end). `on_result` sees each scenario's result as soon as it is done. A cancelled
/// night (`Control::cancel`) fails with `Cancelled` and leaves any earlier night of the date
/// in place.
pub fn run(
    plan: &NightPlan,
    reports: &Path,
    ctl: &Control,
    on_result: &mut dyn FnMut(&ScenarioResult),
) -> Result<NightRun> {
    let date = &plan.date;
    // The night replaces REPORTS/DATE/ whole: a scenario folder inside it would be lost.
    if inputs::inside(&plan.scenario_dir, &reports.join(date)) {
        bail!(
            "the scenario folder {} lies inside the night's folder {}, which the night replaces; allowed: a --out outside the scenario folder",
            plan.scenario_dir.display(),
            reports.join(date).display()
        );
    }
    std::fs::create_dir_all(reports)
        .with_context(|| format!("cannot create the reports folder {}", reports.display()))?;
    let dest = reports.join(date);
    let staged = Staged::begin(&dest)?;
    let tmp = staged.dir().to_path_buf();
    let previous = previous_night(reports, date).map(|(date, dir)| Previous {
        date,
        headlines: read_night(&dir),
        settings: settings::read_record(&dir),
    });
    // Every file checked before anything runs, with the names the night writes: a file that
    // fails (two files with one name both do) is a failure of the night.
    let args: Vec<String> = plan.files.iter().map(|p| p.display().to_string()).collect();
    let writes = Writes {
        own_files: &RESERVED,
        ..Writes::default()
    };
    let checked = inputs::check_each(&args, &plan.overrides, &writes);
    let mut record = settings::NightRecord::new(date);
    let built = (|| -> Result<(Night, i32)> {
        let mut results = Vec::with_capacity(plan.files.len());
        for (path, checked) in plan.files.iter().zip(checked) {
            let mut r = ScenarioResult {
                file: path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                name: None,
                description: String::new(),
                headline: None,
                checks: Vec::new(),
                error: None,
                report: None,
                notes: Vec::new(),
                settings: None,
                comparison: None,
            };
            if let Err(e) = run_one(path, checked, plan, &tmp, ctl, &mut r) {
                // A cancelled night is not a night of failed scenarios: stop, write nothing.
                if e.chain().any(|c| c.is::<Cancelled>()) {
                    return Err(e);
                }
                r.error = Some(format!("{e:#}"));
                r.headline = None;
                r.checks.clear();
                r.settings = None;
            }
            if let (Some(name), Some(now)) = (r.name.clone(), &r.settings) {
                r.comparison = settings::compare(previous.as_ref(), &name, now);
                if let Err(e) = write_diff(previous.as_ref(), &tmp, &name, &mut r) {
                    r.notes.push(format!(
                        "the diff of its scenario text was not written: {e:#}"
                    ));
                }
            }
            if let (Some(name), Some(s)) = (&r.name, &r.settings) {
                record.scenarios.insert(name.clone(), s.clone());
            }
            on_result(&r);
            results.push(r);
        }
        let night = Night {
            date: date.clone(),
            previous: previous.clone(),
            results,
            settings: plan.settings(),
            generated_at: rfc3339_utc(SystemTime::now()),
        };
        let code = exit_code(&night.results);
        write_atomic_bytes(&tmp.join(INDEX_FILE), page::render_index(&night).as_bytes())?;
        let mut json = serde_json::to_string_pretty(&alerts_json(&night))?;
        json.push('\n');
        write_atomic_bytes(&tmp.join(ALERTS_FILE), json.as_bytes())?;
        let mut json = serde_json::to_string_pretty(&record)?;
        json.push('\n');
        write_atomic_bytes(&tmp.join(NIGHT_FILE), json.as_bytes())?;
        Ok((night, code))
    })();
    let (night, code) = built.with_context(|| format!("nightly {date}"))?;
    staged.commit()?;
    Ok(NightRun {
        night,
        code,
        dir: dest,
    })
}

/// Writes `night_dir/<name>/scenario.diff` when the row's file text changed since the
/// previous night and links it from `r.comparison`.
fn write_diff(
    previous: Option<&Previous>,
    night_dir: &Path,
    name: &str,
    r: &mut ScenarioResult,
) -> Result<()> {
    let (Some(c), Some(now)) = (r.comparison.as_mut(), r.settings.as_ref()) else {
        return Ok(());
    };
    let before = previous
        .and_then(|p| p.settings.as_ref().ok())
        .and_then(|rec| rec.scenarios.get(name));
    let Some(before) = before.filter(|_| c.text_changed) else {
        return Ok(());
    };
    let prev_date = previous.map(|p| p.date.as_str()).unwrap_or("previous");
    let mut text = diff::unified(
        &before.file_text,
        &now.file_text,
        &format!("{prev_date}/{}", before.file),
        &format!("tonight/{}", now.file),
    );
    if text.is_empty() {
        // Same lines, other bytes (line endings, a final newline).
        text = format!(
            "The texts differ only in line endings or whitespace at line ends (SHA-256 {} -> {}).\n",
            before.file_sha256, now.file_sha256
        );
    }
    write_atomic_bytes(&night_dir.join(name).join(DIFF_FILE), text.as_bytes())?;
    c.diff = Some(format!("{name}/{DIFF_FILE}"));
    Ok(())
}

/// Runs one checked scenario file into `night_dir`; fills `r` as far as it gets.
fn run_one(
    file: &Path,
    checked: Result<Checked, ScenarioError>,
    plan: &NightPlan,
    night_dir: &Path,
    ctl: &Control,
    r: &mut ScenarioResult,
) -> Result<()> {
    let c = checked?;
    // The file's own text, before any override, for the next night's "text changed" and diff.
    let file_text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read {} again", file.display()))?;
    let s = c.scenario;
    r.name = Some(s.scenario.name.clone());
    r.description = s.scenario.description.clone();
    let name = s.scenario.name.clone();
    if c.sweep.is_some() {
        r.notes.push(
            "its [sweep] table is not expanded by nightly yet: the base scenario was run"
                .to_string(),
        );
    }
    let run_plan = RunPlan {
        scenario: s,
        backend: plan.backend,
    };
    let (result, written) = single::run_to(&run_plan, night_dir, ctl)?;
    let headline = Headline::from_summary(&result.summary);
    r.checks = evaluate(result.scenario.alerts.as_ref(), &headline);
    r.headline = Some(headline);
    let sc = &result.scenario.scenario;
    r.settings = Some(RunSettings {
        file: r.file.clone(),
        seed: sc.seed,
        paths: sc.paths,
        horizon_days: sc.horizon_days,
        backend_requested: format!("{:?}", plan.backend).to_lowercase(),
        engine: result.output.engine.to_string(),
        shocks: plan
            .overrides
            .shocks
            .iter()
            .map(|x| x.text.clone())
            .collect(),
        stresses: plan
            .overrides
            .stresses
            .iter()
            .map(|x| x.text.clone())
            .collect(),
        scenario_sha256: sha256_hex(&result.scenario.source_toml),
        file_sha256: sha256_hex(&file_text),
        file_text,
        model_version: MODEL_VERSION.to_string(),
        tokenrisk_version: env!("CARGO_PKG_VERSION").to_string(),
    });
    // A failure here fails the scenario: its folder would be incomplete.
    let page = crate::report::write_report(&written.dir)
        .with_context(|| format!("writing the report page of {name}"))?;
    let rel = page
        .strip_prefix(night_dir)
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_else(|_| format!("{name}/report.html"));
    r.report = Some(rel);
    Ok(())
}

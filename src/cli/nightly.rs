//! `tokenrisk nightly SCENARIO_DIR --out REPORTS_DIR [--date YYYY-MM-DD]`: runs every
//! `*.toml` of a folder (sorted by file name) into `REPORTS_DIR/DATE/<scenario>/`, checks each
//! scenario's `[alerts]`, and writes the night's `index.html` and `alerts.json`
//! (see [`crate::nightly`] for the figures, the page and the folder swap).
//!
//! A scenario that fails (unreadable, invalid, simulation or write error) is reported and the
//! others still run. The night is built in `REPORTS_DIR/.DATE.tmp-PID` and renamed into place
//! at the end, replacing an earlier run of the same date.

use super::{apply_overrides, simulate_and_write, SimArgs};
use crate::output::{manifest::rfc3339_utc, write_atomic_bytes};
use crate::scenario;
use crate::workflows::nightly::{self, AlertCheck, Headline, Night, ScenarioResult};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  all clear: every scenario ran and no [alerts] threshold was breached
  3  one or more alerts breached (P(spiral) above max_spiral_probability, or the median final
     emissions-to-revenue ratio above max_emissions_to_revenue)
  4  one or more scenarios failed (they are reported; the other scenarios still run);
     failures win over alerts
  1  the night could not be run at all (e.g. SCENARIO_DIR unreadable); 2 usage error

Writes REPORTS_DIR/DATE/<scenario.name>/ (the run's tables, manifest and report.html),
DATE/index.html (headline risks, changes since the previous night, alerts) and DATE/alerts.json.
Re-running a date replaces that night's folder atomically.";

#[derive(Args, Debug)]
pub struct NightlyArgs {
    /// Folder of scenario files; every `*.toml` in it is run, in file-name order.
    scenario_dir: PathBuf,
    /// Reports root; the night is written to REPORTS_DIR/DATE/.
    #[arg(long, value_name = "REPORTS_DIR")]
    out: PathBuf,
    /// The night's date, YYYY-MM-DD (default: today's UTC date).
    #[arg(long)]
    date: Option<String>,
    #[command(flatten)]
    sim: SimArgs,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

/// Writes `run_dir/report.html` (the scenario's own report page, `crate::report`) and
/// returns its path. A failure here fails the scenario (its outputs would be incomplete).
fn write_scenario_report(run_dir: &Path) -> Result<Option<PathBuf>> {
    crate::report::write_report(run_dir).map(Some)
}

/// Scenario names that would collide with the night's own files.
const RESERVED: [&str; 2] = [nightly::INDEX_FILE, nightly::ALERTS_FILE];

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

fn settings_line(args: &NightlyArgs) -> String {
    let mut parts = vec![format!("backend {:?}", args.sim.backend).to_lowercase()];
    if let Some(p) = args.sim.paths {
        parts.push(format!("--paths {p}"));
    }
    if let Some(s) = args.sim.seed {
        parts.push(format!("--seed {s}"));
    }
    for o in &args.sim.shock {
        parts.push(format!("--shock {}", o.text));
    }
    for o in &args.sim.stress {
        parts.push(format!("--stress {}", o.text));
    }
    format!("Settings: {}.", parts.join(", "))
}

/// Runs one scenario file into `night_dir`; fills `r` as far as it gets.
fn run_one(
    path: &Path,
    args: &NightlyArgs,
    night_dir: &Path,
    seen: &mut Vec<(String, String)>,
    r: &mut ScenarioResult,
) -> Result<()> {
    let mut s = scenario::load(path)?;
    r.name = Some(s.scenario.name.clone());
    r.description = s.scenario.description.clone();
    let name = s.scenario.name.clone();
    if RESERVED.contains(&name.as_str()) {
        bail!("scenario.name {name:?} would collide with the night's own {name} file; rename the scenario");
    }
    if let Some((_, other)) = seen.iter().find(|(n, _)| *n == name) {
        bail!("scenario.name {name:?} is already used by {other} tonight (each scenario writes to a folder of its name); rename one");
    }
    seen.push((name.clone(), r.file.clone()));
    if s.sweep.is_some() {
        r.notes.push(
            "its [sweep] table is not expanded by nightly yet: the base scenario was run"
                .to_string(),
        );
    }
    apply_overrides(&mut s, &args.sim)?;
    let done = simulate_and_write(&s, args.sim.backend, night_dir, !args.quiet)?;
    let headline = Headline::from_summary(&done.summary);
    r.checks = nightly::evaluate(s.alerts.as_ref(), &headline);
    r.headline = Some(headline);
    if let Some(page) = write_scenario_report(&done.written.dir)
        .with_context(|| format!("writing the report page of {name}"))?
    {
        let rel = page
            .strip_prefix(night_dir)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_else(|_| format!("{name}/report.html"));
        r.report = Some(rel);
    }
    Ok(())
}

fn print_line(r: &ScenarioResult) {
    let title = r.name.clone().unwrap_or_else(|| r.file.clone());
    match (&r.headline, &r.error) {
        (_, Some(e)) => {
            println!("  FAILED {title} ({})", r.file);
            eprintln!("error: {}: {e}", r.file);
        }
        (Some(h), None) => {
            let tag = if r.alerted() { "ALERT " } else { "ok    " };
            println!(
                "  {tag} {title}: P(spiral) {:.2}% [{:.2}%, {:.2}%], VaR95 {:.3}, median E/R {:.3}, median final price {:.4}",
                100.0 * h.p_spiral,
                100.0 * h.p_spiral_lo,
                100.0 * h.p_spiral_hi,
                h.var95_return,
                h.er_ratio_p50,
                h.final_price_p50
            );
            for c in r.checks.iter().filter(|c: &&AlertCheck| c.breached) {
                println!("         ALERT {}", c.describe());
            }
            for n in &r.notes {
                println!("         note: {n}");
            }
        }
        (None, None) => {}
    }
}

pub fn cmd_nightly(args: NightlyArgs) -> Result<i32> {
    let date = match &args.date {
        Some(d) => nightly::parse_date(d)?,
        None => nightly::today_utc(),
    };
    let files = scenario_files(&args.scenario_dir)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the reports folder {}", args.out.display()))?;
    nightly::remove_stale(&args.out, &date);
    let previous =
        nightly::previous_night(&args.out, &date).map(|(d, dir)| (d, nightly::read_night(&dir)));
    let tmp = nightly::temp_dir(&args.out, &date);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)
            .with_context(|| format!("cannot remove {}", tmp.display()))?;
    }
    std::fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;

    let built = (|| -> Result<(Night, i32)> {
        println!(
            "nightly {date}: {} scenario files from {}",
            files.len(),
            args.scenario_dir.display()
        );
        let mut results = Vec::with_capacity(files.len());
        let mut seen = Vec::new();
        for path in &files {
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
            };
            if let Err(e) = run_one(path, &args, &tmp, &mut seen, &mut r) {
                r.error = Some(format!("{e:#}"));
                r.headline = None;
                r.checks.clear();
            }
            print_line(&r);
            results.push(r);
        }
        let night = Night {
            date: date.clone(),
            previous: previous.clone(),
            results,
            settings: settings_line(&args),
            generated_at: rfc3339_utc(SystemTime::now()),
        };
        let code = nightly::exit_code(&night.results);
        write_atomic_bytes(
            &tmp.join(nightly::INDEX_FILE),
            nightly::render_index(&night).as_bytes(),
        )?;
        let mut json = serde_json::to_string_pretty(&nightly::alerts_json(&night))?;
        json.push('\n');
        write_atomic_bytes(&tmp.join(nightly::ALERTS_FILE), json.as_bytes())?;
        Ok((night, code))
    })();
    let (night, code) = match built {
        Ok(x) => x,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e.context(format!("nightly {date}")));
        }
    };
    let dest = match nightly::swap_in(&tmp, &args.out, &date) {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let n_alert = night.results.iter().filter(|r| r.alerted()).count();
    let n_fail = night.results.iter().filter(|r| r.failed()).count();
    println!(
        "nightly {date}: {} scenarios, {n_alert} with alerts breached, {n_fail} failed{}; wrote {} (exit {code})",
        night.results.len(),
        night
            .previous
            .as_ref()
            .map(|p| format!(", compared with {}", p.0))
            .unwrap_or_default(),
        dest.join(nightly::INDEX_FILE).display()
    );
    Ok(code)
}

//! The nightly run's library half: alert evaluation, headline figures (from a run or read
//! back from a `summary.parquet`), the previous night, the night's `index.html` and
//! `alerts.json`, exit codes, and the atomic replacement of a night's folder. The command
//! itself (running the scenarios) is `cli::nightly`.
//!
//! Alerts (SCENARIO.md `[alerts]`), compared with the point estimates of the night's run:
//! - `max_spiral_probability` against P(spiral by the horizon);
//! - `max_emissions_to_revenue` against the **median** over paths of the final cumulative
//!   emissions-to-revenue ratio (`er_ratio_p50`, the per-path ratio of cumulative emission
//!   USD to cumulative revenue at the horizon). The median, not the mean: the ratio has a
//!   heavy right tail (paths whose revenue collapses), so the mean would be driven by a few
//!   paths and by their Monte Carlo noise, while the question the threshold asks is whether the
//!   typical future closes the gap.
//!
//! A threshold is breached when the figure is strictly above it, or when the figure is not
//! finite (it cannot be shown to be within the limit). Point estimates carry Monte Carlo
//! error; for P(spiral) the page and `alerts.json` also say whether the 95% interval lies
//! wholly above the threshold (a clear breach) or straddles it (within Monte Carlo error).
//!
//! Exit codes ([`exit_code`]): 0 all clear, [`EXIT_ALERTS`] (3) one or more alerts breached,
//! [`EXIT_FAILED`] (4) one or more scenarios failed; failures win over alerts.
//!
//! Folder replacement ([`swap_in`]): a night is built in a temp sibling `.DATE.tmp-PID` and
//! renamed into place (an existing folder of that date is renamed aside to `.DATE.old-PID`
//! first, then deleted), so the final name only ever holds a complete night.

use crate::measure::summary::Summary;
use crate::scenario::Alerts;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Exit code when one or more alerts were breached (and nothing failed).
pub const EXIT_ALERTS: i32 = 3;
/// Exit code when one or more scenarios failed (wins over alerts).
pub const EXIT_FAILED: i32 = 4;

pub const INDEX_FILE: &str = "index.html";
pub const ALERTS_FILE: &str = "alerts.json";

/// Checks `YYYY-MM-DD` (a real calendar date) and returns it.
pub fn parse_date(s: &str) -> Result<String> {
    let bad =
        || anyhow::anyhow!("--date {s:?} is not a date; expected YYYY-MM-DD, e.g. 2026-07-01");
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<u32> {
        let part = &s[r];
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if d == 0 || d > days {
        return Err(bad());
    }
    Ok(s.to_string())
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today_utc() -> String {
    crate::output::manifest::rfc3339_utc(std::time::SystemTime::now())[..10].to_string()
}

fn is_date_name(name: &str) -> bool {
    parse_date(name).is_ok()
}

/// The headline risks of one scenario on one night.
#[derive(Debug, Clone, PartialEq)]
pub struct Headline {
    pub paths: u64,
    pub p_spiral: f64,
    pub p_spiral_se: f64,
    pub p_spiral_lo: f64,
    pub p_spiral_hi: f64,
    /// 95% VaR and CVaR of the horizon log-return, as positive losses.
    pub var95_return: f64,
    pub cvar95_return: f64,
    /// Median final emissions-to-revenue ratio.
    pub er_ratio_p50: f64,
    pub final_price_p50: f64,
}

impl Headline {
    pub fn from_summary(s: &Summary) -> Headline {
        let t = s.tail_at(0.95);
        Headline {
            paths: s.paths,
            p_spiral: s.p_spiral,
            p_spiral_se: s.p_spiral_se,
            p_spiral_lo: s.p_spiral_lo,
            p_spiral_hi: s.p_spiral_hi,
            var95_return: t.map(|t| t.var_return).unwrap_or(f64::NAN),
            cvar95_return: t.map(|t| t.cvar_return).unwrap_or(f64::NAN),
            er_ratio_p50: s.er_ratio.q(0.5),
            final_price_p50: s.final_price.q(0.5),
        }
    }

    /// Reads the first row of a `summary.parquet` (nulls and missing columns become NaN).
    pub fn read(path: &Path) -> Result<Headline> {
        use arrow::array::{Array, Float64Array, UInt64Array};
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let read = || -> Result<Headline> {
            let file = std::fs::File::open(path)?;
            let mut reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
            let Some(batch) = reader.next().transpose()? else {
                bail!("no rows");
            };
            if batch.num_rows() == 0 {
                bail!("no rows");
            }
            let f = |name: &str| -> f64 {
                batch
                    .column_by_name(name)
                    .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
                    .filter(|a| !a.is_null(0))
                    .map(|a| a.value(0))
                    .unwrap_or(f64::NAN)
            };
            let paths = batch
                .column_by_name("paths")
                .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
                .map(|a| a.value(0))
                .unwrap_or(0);
            Ok(Headline {
                paths,
                p_spiral: f("p_spiral"),
                p_spiral_se: f("p_spiral_se"),
                p_spiral_lo: f("p_spiral_lo"),
                p_spiral_hi: f("p_spiral_hi"),
                var95_return: f("var95_return"),
                cvar95_return: f("cvar95_return"),
                er_ratio_p50: f("er_ratio_p50"),
                final_price_p50: f("final_price_p50"),
            })
        };
        read().with_context(|| format!("cannot read {}", path.display()))
    }
}

/// One `[alerts]` threshold checked against a night's figure.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertCheck {
    /// The `[alerts]` key, e.g. `max_spiral_probability`.
    pub alert: &'static str,
    /// The summary column compared, e.g. `p_spiral`.
    pub metric: &'static str,
    pub value: f64,
    pub threshold: f64,
    pub breached: bool,
    /// 95% interval of the figure, where there is one (P(spiral): Wilson).
    pub ci: Option<(f64, f64)>,
}

impl AlertCheck {
    /// A breach whose whole 95% interval lies above the threshold.
    pub fn clear_breach(&self) -> bool {
        self.breached && self.ci.is_some_and(|(lo, _)| lo > self.threshold)
    }

    /// Human text, e.g. `P(spiral) 23.40% > limit 10.00%`.
    pub fn describe(&self) -> String {
        let cmp = if self.breached { ">" } else { "<=" };
        match self.metric {
            "p_spiral" => {
                let ci = self
                    .ci
                    .map(|(lo, hi)| {
                        let how = if !self.breached {
                            ""
                        } else if lo > self.threshold {
                            "; the whole interval is above the limit"
                        } else {
                            "; within Monte Carlo error of the limit"
                        };
                        format!(" (95% CI {} to {}{how})", pct(lo), pct(hi))
                    })
                    .unwrap_or_default();
                format!(
                    "P(spiral) {} {cmp} limit {}{ci}",
                    pct(self.value),
                    pct(self.threshold)
                )
            }
            _ => format!(
                "median emissions-to-revenue {} {cmp} limit {}",
                num(self.value),
                num(self.threshold)
            ),
        }
    }
}

fn breached(value: f64, threshold: f64) -> bool {
    !value.is_finite() || value > threshold
}

/// Checks every threshold of `[alerts]` (none: no checks).
pub fn evaluate(alerts: Option<&Alerts>, h: &Headline) -> Vec<AlertCheck> {
    let mut out = Vec::new();
    let Some(a) = alerts else {
        return out;
    };
    if let Some(t) = a.max_spiral_probability {
        out.push(AlertCheck {
            alert: "max_spiral_probability",
            metric: "p_spiral",
            value: h.p_spiral,
            threshold: t,
            breached: breached(h.p_spiral, t),
            ci: Some((h.p_spiral_lo, h.p_spiral_hi)),
        });
    }
    if let Some(t) = a.max_emissions_to_revenue {
        out.push(AlertCheck {
            alert: "max_emissions_to_revenue",
            metric: "er_ratio_p50",
            value: h.er_ratio_p50,
            threshold: t,
            breached: breached(h.er_ratio_p50, t),
            ci: None,
        });
    }
    out
}

/// The newest dated folder of `reports` strictly before `date` (temp and hidden folders are
/// ignored): (its date, its path).
pub fn previous_night(reports: &Path, date: &str) -> Option<(String, PathBuf)> {
    let entries = std::fs::read_dir(reports).ok()?;
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (is_date_name(&name) && name.as_str() < date).then(|| (name, e.path()))
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
            if let Ok(h) = Headline::read(&summary) {
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
    /// The previous night: its date and headlines by scenario name.
    pub previous: Option<(String, BTreeMap<String, Headline>)>,
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

fn status_word(code: i32) -> &'static str {
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
    json!({
        "date": night.date,
        "previous_night": night.previous.as_ref().map(|p| p.0.clone()),
        "status": status_word(code),
        "exit_code": code,
        "scenarios": night.results.len(),
        "scenarios_with_alerts": night.results.iter().filter(|r| r.alerted()).count(),
        "scenarios_failed": night.results.iter().filter(|r| r.failed()).count(),
        "alerts": alerts,
        "failures": failures,
        "checks": checks,
        "generated_at": night.generated_at,
        "settings": night.settings,
    })
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.2}%", 100.0 * x)
    } else {
        "n/a".into()
    }
}

/// A figure with 4 significant digits, plain for ordinary magnitudes.
fn num(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e6).contains(&a) {
        format!("{x:.3e}")
    } else {
        let digits = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{x:.digits$}")
    }
}

/// A change with 3 significant digits (0.0289, -0.191, 1.09, 123).
fn sig3(x: f64) -> String {
    let a = x.abs();
    if !(1e-4..1e6).contains(&a) {
        return format!("{x:.2e}");
    }
    let digits = (2 - a.log10().floor() as i32).max(0) as usize;
    format!("{x:.digits$}")
}

/// Whether a rise of the figure is bad (risks) or good (price).
#[derive(Clone, Copy, PartialEq)]
enum Sense {
    RiseIsWorse,
    RiseIsBetter,
}

/// A delta cell: arrow, signed change and a class saying whether it is worse or better.
fn delta_html(now: f64, before: Option<f64>, sense: Sense, kind: DeltaKind, sig: bool) -> String {
    let Some(before) = before else {
        return r#"<span class="delta new">new</span>"#.into();
    };
    if !now.is_finite() || !before.is_finite() {
        return r#"<span class="delta na">n/a</span>"#.into();
    }
    let d = now - before;
    let scale = now.abs().max(before.abs()).max(1e-300);
    if d.abs() <= 1e-12 * scale {
        return r#"<span class="delta same" title="no change">= 0</span>"#.into();
    }
    let (arrow, dir) = if d > 0.0 {
        ("&#9650;", "up")
    } else {
        ("&#9660;", "down")
    };
    let worse = (d > 0.0) == (sense == Sense::RiseIsWorse);
    let class = if worse { "worse" } else { "better" };
    let text = match kind {
        DeltaKind::Points => format!("{:+.2} pp", 100.0 * d),
        DeltaKind::Absolute => {
            let s = sig3(d);
            if d > 0.0 {
                format!("+{s}")
            } else {
                s
            }
        }
        DeltaKind::Relative => {
            if before != 0.0 {
                format!("{:+.1}%", 100.0 * d / before.abs())
            } else {
                format!("{d:+}")
            }
        }
    };
    let sig = if sig {
        r#" <span class="sig" title="more than 2 combined standard errors">*</span>"#
    } else {
        ""
    };
    format!(r#"<span class="delta {dir} {class}">{arrow} {text}{sig}</span>"#)
}

#[derive(Clone, Copy)]
enum DeltaKind {
    /// Probabilities: percentage points.
    Points,
    Absolute,
    /// Relative change in percent.
    Relative,
}

const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em; color: #1b1f24; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
p.sub { color: #57606a; margin-top: 0; }
table { border-collapse: collapse; margin-top: 1em; }
th, td { border-bottom: 1px solid #d0d7de; padding: 0.45em 0.8em; text-align: right; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.name, th.name { text-align: left; }
td.name small { color: #57606a; display: block; max-width: 28em; white-space: normal; }
td.status { text-align: left; max-width: 30em; }
tr.alert td { background: #fff1e5; }
tr.alert td.status { color: #9a3412; font-weight: 600; }
tr.failed td { background: #ffebe9; }
tr.failed td.status { color: #a40e26; font-weight: 600; white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: 0.85em; }
.ci { color: #57606a; font-size: 0.85em; display: block; white-space: nowrap; }
td.status .ci { white-space: normal; }
.delta { display: block; font-size: 0.85em; }
.delta.worse { color: #cf222e; }
.delta.better { color: #1a7f37; }
.delta.same, .delta.new, .delta.na { color: #57606a; }
.sig { font-weight: 700; }
.badge { display: inline-block; padding: 0.1em 0.6em; border-radius: 1em; font-weight: 600; }
.badge.clear { background: #dafbe1; color: #1a7f37; }
.badge.alerts { background: #fff1e5; color: #9a3412; }
.badge.failures { background: #ffebe9; color: #a40e26; }
footer { margin-top: 2em; color: #57606a; font-size: 0.85em; }
"#;

/// The night's self-contained `index.html`.
pub fn render_index(night: &Night) -> String {
    let code = exit_code(&night.results);
    let n_alert = night.results.iter().filter(|r| r.alerted()).count();
    let n_fail = night.results.iter().filter(|r| r.failed()).count();
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>tokenrisk nightly {date}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>tokenrisk nightly {date} <span class=\"badge {status}\">{status_text}</span></h1>\n",
        date = esc(&night.date),
        status = status_word(code),
        status_text = match code {
            0 => "all clear",
            EXIT_ALERTS => "alerts breached",
            _ => "scenarios failed",
        }
    );
    let compared = match &night.previous {
        Some((d, _)) => format!("changes since the previous night, {}", esc(d)),
        None => "no previous night to compare with".into(),
    };
    let _ = writeln!(
        h,
        "<p class=\"sub\">{} scenarios: {} with alerts breached, {} failed; {compared}. \
         Arrows: <span class=\"delta worse\" style=\"display:inline\">red</span> = riskier, \
         <span class=\"delta better\" style=\"display:inline\">green</span> = safer; * = change of P(spiral) beyond 2 combined standard errors.</p>",
        night.results.len(),
        n_alert,
        n_fail
    );
    h.push_str(
        "<table>\n<thead><tr><th class=\"name\">scenario</th><th>paths</th>\
         <th>P(spiral)<br><small>95% CI</small></th>\
         <th>VaR 95%<br><small>log-return loss</small></th>\
         <th>CVaR 95%<br><small>log-return loss</small></th>\
         <th>median emissions-<br>to-revenue</th><th>median final price<br><small>USD</small></th>\
         <th class=\"name\">alerts</th></tr></thead>\n<tbody>\n",
    );
    let prev = night.previous.as_ref().map(|p| &p.1);
    for r in &night.results {
        let row_class = if r.failed() {
            "failed"
        } else if r.alerted() {
            "alert"
        } else {
            "ok"
        };
        let title = r.name.clone().unwrap_or_else(|| r.file.clone());
        let link = match &r.report {
            Some(href) => format!("<a href=\"{}\">{}</a>", esc(href), esc(&title)),
            None if r.headline.is_some() => {
                format!("<a href=\"{}/\">{}</a>", esc(&title), esc(&title))
            }
            None => esc(&title),
        };
        let mut sub = esc(&r.file);
        if !r.description.is_empty() {
            let _ = write!(sub, " &middot; {}", esc(&r.description));
        }
        for n in &r.notes {
            let _ = write!(sub, "<br>{}", esc(n));
        }
        let _ = write!(
            h,
            "<tr class=\"{row_class}\"><td class=\"name\">{link}<small>{sub}</small></td>"
        );
        match (&r.headline, &r.error) {
            (Some(hl), None) => {
                let before = r.name.as_ref().and_then(|n| prev.and_then(|p| p.get(n)));
                let b = |f: fn(&Headline) -> f64| before.map(f);
                let sig = before.is_some_and(|p| {
                    let se = (hl.p_spiral_se.powi(2) + p.p_spiral_se.powi(2)).sqrt();
                    se > 0.0 && (hl.p_spiral - p.p_spiral).abs() > 2.0 * se
                });
                let _ = write!(
                    h,
                    "<td>{}</td><td>{}<span class=\"ci\">{} to {}</span>{}</td>",
                    hl.paths,
                    pct(hl.p_spiral),
                    pct(hl.p_spiral_lo),
                    pct(hl.p_spiral_hi),
                    delta_html(
                        hl.p_spiral,
                        b(|x| x.p_spiral),
                        Sense::RiseIsWorse,
                        DeltaKind::Points,
                        sig
                    )
                );
                for (v, get) in [
                    (
                        hl.var95_return,
                        (|x: &Headline| x.var95_return) as fn(&Headline) -> f64,
                    ),
                    (hl.cvar95_return, |x: &Headline| x.cvar95_return),
                ] {
                    let _ = write!(
                        h,
                        "<td>{}<span class=\"ci\">price down {}</span>{}</td>",
                        num(v),
                        crate::report::svg::fmt_pct_fine(1.0 - (-v).exp()),
                        delta_html(v, b(get), Sense::RiseIsWorse, DeltaKind::Absolute, false)
                    );
                }
                let _ = write!(
                    h,
                    "<td>{}{}</td><td>{}{}</td>",
                    num(hl.er_ratio_p50),
                    delta_html(
                        hl.er_ratio_p50,
                        b(|x| x.er_ratio_p50),
                        Sense::RiseIsWorse,
                        DeltaKind::Absolute,
                        false
                    ),
                    num(hl.final_price_p50),
                    delta_html(
                        hl.final_price_p50,
                        b(|x| x.final_price_p50),
                        Sense::RiseIsBetter,
                        DeltaKind::Relative,
                        false
                    )
                );
                let status = if r.checks.is_empty() {
                    "no [alerts]".to_string()
                } else if r.alerted() {
                    let items: Vec<String> = r
                        .checks
                        .iter()
                        .filter(|c| c.breached)
                        .map(|c| format!("ALERT: {}", esc(&c.describe())))
                        .collect();
                    items.join("<br>")
                } else {
                    let items: Vec<String> = r.checks.iter().map(|c| esc(&c.describe())).collect();
                    format!("ok<small class=\"ci\">{}</small>", items.join("<br>"))
                };
                let _ = writeln!(h, "<td class=\"status\">{status}</td></tr>");
            }
            _ => {
                let _ = writeln!(
                    h,
                    "<td colspan=\"6\"></td><td class=\"status\">FAILED: {}</td></tr>",
                    esc(r.error.as_deref().unwrap_or("unknown error"))
                );
            }
        }
    }
    h.push_str("</tbody>\n</table>\n");
    if let Some((d, p)) = &night.previous {
        let tonight: Vec<&str> = night
            .results
            .iter()
            .filter_map(|r| r.name.as_deref())
            .collect();
        let gone: Vec<&str> = p
            .keys()
            .map(|k| k.as_str())
            .filter(|k| !tonight.contains(k))
            .collect();
        if !gone.is_empty() {
            let _ = writeln!(
                h,
                "<p class=\"sub\">In the night of {} but not run tonight: {}.</p>",
                esc(d),
                esc(&gone.join(", "))
            );
        }
    }
    let _ = writeln!(
        h,
        "<footer>P(spiral): share of paths that spiral by the horizon, 95% Wilson interval. \
         VaR/CVaR 95%: loss -ln(P<sub>H</sub>/P<sub>0</sub>) at the 95% level (positive = loss), with the \
         corresponding price fall. Emissions-to-revenue: per-path cumulative emission USD over cumulative \
         revenue at the horizon, median over paths (the figure <code>max_emissions_to_revenue</code> is \
         checked against). Each scenario's folder holds its Parquet tables and manifest.<br>\
         {}<br>Generated {} by tokenrisk {}.</footer>\n</body>\n</html>",
        esc(&night.settings),
        esc(&night.generated_at),
        env!("CARGO_PKG_VERSION")
    );
    h
}

/// The temp sibling a night is built in: `REPORTS/.DATE.tmp-PID`.
pub fn temp_dir(reports: &Path, date: &str) -> PathBuf {
    reports.join(format!(".{date}.tmp-{}", std::process::id()))
}

fn aside_dir(reports: &Path, date: &str) -> PathBuf {
    reports.join(format!(".{date}.old-{}", std::process::id()))
}

/// Removes leftovers of crashed runs for `date` (`.DATE.tmp-PID`, `.DATE.old-PID` whose
/// process is gone; Linux only, elsewhere they are left alone).
pub fn remove_stale(reports: &Path, date: &str) {
    let Ok(entries) = std::fs::read_dir(reports) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = [".tmp-", ".old-"].iter().find_map(|tag| {
            name.strip_prefix(&format!(".{date}{tag}"))
                .and_then(|p| p.parse::<u32>().ok())
        });
        let Some(pid) = pid else { continue };
        let alive = if pid == std::process::id() {
            false
        } else if cfg!(target_os = "linux") {
            Path::new(&format!("/proc/{pid}")).exists()
        } else {
            true
        };
        if !alive {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Moves the finished night `tmp` to `reports/date`: an existing folder of that date is
/// renamed aside, the new one renamed in, the old one deleted. The final name never holds a
/// partial night; if the second rename fails, the old night is put back.
pub fn swap_in(tmp: &Path, reports: &Path, date: &str) -> Result<PathBuf> {
    let dest = reports.join(date);
    sync_dir(tmp);
    if dest.exists() {
        let aside = aside_dir(reports, date);
        if aside.exists() {
            std::fs::remove_dir_all(&aside)
                .with_context(|| format!("cannot remove {}", aside.display()))?;
        }
        std::fs::rename(&dest, &aside).with_context(|| {
            format!(
                "cannot move the previous {} aside to {}",
                dest.display(),
                aside.display()
            )
        })?;
        if let Err(e) = std::fs::rename(tmp, &dest) {
            let _ = std::fs::rename(&aside, &dest);
            return Err(e)
                .with_context(|| format!("cannot rename {} to {}", tmp.display(), dest.display()));
        }
        sync_dir(reports);
        std::fs::remove_dir_all(&aside)
            .with_context(|| format!("cannot remove the replaced night {}", aside.display()))?;
    } else {
        std::fs::rename(tmp, &dest)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), dest.display()))?;
        sync_dir(reports);
    }
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(parse_date("2024-02-29").is_ok());
        assert!(parse_date("2023-02-29").is_err());
        assert!(parse_date("2023-13-01").is_err());
        assert!(parse_date("2023-1-01").is_err());
        assert!(parse_date("20230101xx").is_err());
        assert_eq!(today_utc().len(), 10);
        assert!(parse_date(&today_utc()).is_ok());
    }

    fn headline(p: f64, er: f64) -> Headline {
        Headline {
            paths: 1000,
            p_spiral: p,
            p_spiral_se: 0.01,
            p_spiral_lo: p - 0.02,
            p_spiral_hi: p + 0.02,
            var95_return: 1.0,
            cvar95_return: 1.5,
            er_ratio_p50: er,
            final_price_p50: 10.0,
        }
    }

    #[test]
    fn alerts_compare_strictly_and_flag_nan() {
        let a = Alerts {
            max_spiral_probability: Some(0.1),
            max_emissions_to_revenue: Some(5.0),
        };
        let c = evaluate(Some(&a), &headline(0.1, 5.0));
        assert!(c.iter().all(|c| !c.breached));
        let c = evaluate(Some(&a), &headline(0.15, f64::NAN));
        assert!(c.iter().all(|c| c.breached));
        assert!(c[0].clear_breach());
        assert!(evaluate(None, &headline(0.9, 100.0)).is_empty());
    }

    #[test]
    fn deltas() {
        let up = delta_html(0.2, Some(0.1), Sense::RiseIsWorse, DeltaKind::Points, true);
        assert!(up.contains("worse") && up.contains("+10.00 pp") && up.contains("&#9650;"));
        let down = delta_html(
            5.0,
            Some(10.0),
            Sense::RiseIsBetter,
            DeltaKind::Relative,
            false,
        );
        assert!(down.contains("worse") && down.contains("-50.0%") && down.contains("&#9660;"));
        assert!(
            delta_html(1.0, None, Sense::RiseIsWorse, DeltaKind::Absolute, false).contains("new")
        );
        assert!(delta_html(
            1.0,
            Some(1.0),
            Sense::RiseIsWorse,
            DeltaKind::Absolute,
            false
        )
        .contains("= 0"));
    }
}

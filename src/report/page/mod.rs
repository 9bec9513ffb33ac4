//! HTML assembly: the report page of one run (header, key figures, summary table with
//! intervals and standard errors, charts over time and at the horizon, optional sweep /
//! comparison / tornado sections, any other table, the scenario as run) and the index
//! page of a folder of runs.
//!
//! Parts: `summary` (cards and the summary table), `charts` (over time and at the
//! horizon), `extras` (other tables); the style sheet is `report.css`.
//!
//! Invariants:
//! - The page is self-contained: inline CSS and SVG, no script, no external resource.
//! - Every text that comes from the data (names, descriptions, table cells, the TOML) is
//!   escaped; numbers go through the formatters of [`super::format`], so no "NaN" appears.
//! - A table or column the page does not know is shown as a plain table, never an error.

pub mod backtest;
pub mod calibration;
mod charts;
pub mod compare;
mod extras;
mod governance;
mod review;
mod summary;

pub use extras::table_html;

use super::data::{Extra, RunData, Table};
use super::format::{esc, fmt_int, fmt_pct, fmt_pp, fmt_si, fmt_sig, fmt_value, DASH};
use super::sweep_pairs::SweepPair;
use crate::measure::warnings::{RangeCounts, SeriesCounts};
use crate::measure::PathSummaries;
use crate::stats::Z95;
use charts::{at_horizon, over_time};
use extras::{extras, swept_columns};
use std::collections::BTreeMap;
use std::fmt::Write;
use summary::{cards, price_fall_pct, summary_table, Sum};

/// Rows of a table shown in full before it is cut (with a note).
pub const MAX_TABLE_ROWS: usize = 500;

/// The page's style sheet.
const CSS: &str = include_str!("../report.css");

fn section(out: &mut String, id: &str, title: &str) {
    let _ = write!(out, r#"<section id="{}"><h2>{}</h2>"#, esc(id), esc(title));
}

fn figure(out: &mut String, svg: &str, caption: &str) {
    let _ = write!(out, "<figure>{svg}");
    if !caption.is_empty() {
        let _ = write!(out, "<figcaption>{}</figcaption>", esc(caption));
    }
    out.push_str("</figure>");
}

/// A document around `body`.
fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"tokenrisk {}\">\n<title>{}</title>\n<style>{CSS}</style>\n\
         </head>\n<body>\n{body}\n<footer>Written by tokenrisk {} (<code>tokenrisk report</code>) \
         from the run's Parquet files. Quantiles are lower sample quantiles: exact in the \
         summary figures (from every path's value, with 95% order-statistic intervals), read \
         from log-bucketed histograms (within 0.5% relative) in the charts over time; \
         standard errors are Monte Carlo standard errors; VaR and CVaR are positive losses. Number suffixes: k = 10^3, \
         M = 10^6, B = 10^9, T = 10^12; 5e-3 = 0.005.</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        esc(title),
        env!("CARGO_PKG_VERSION"),
    )
}

fn header(out: &mut String, run: &RunData, name: &str) {
    let meta = &run.summary.metadata;
    let s = Sum { t: &run.summary };
    let _ = write!(
        out,
        r#"<header><div class="kicker">tokenrisk risk report</div><h1>{}</h1>"#,
        esc(name)
    );
    let toml = meta.get("tokenrisk.scenario_toml");
    let scenario = toml.map(|t| crate::scenario::parse(t, "tokenrisk.scenario_toml"));
    match &scenario {
        Some(Ok(sc)) if !sc.scenario.description.is_empty() => {
            let _ = write!(
                out,
                r#"<p class="desc">{}</p>"#,
                esc(&sc.scenario.description)
            );
        }
        Some(Ok(_)) => {}
        Some(Err(e)) => {
            let _ = write!(
                out,
                r#"<p class="warn">The scenario stored with the run does not parse with this version: {}</p>"#,
                esc(&e.to_string())
            );
        }
        None => out.push_str(
            r#"<p class="warn">No scenario TOML in the metadata of summary.parquet.</p>"#,
        ),
    }
    let m = run.manifest.as_ref();
    let mut items: Vec<(&str, String)> = Vec::new();
    let paths = s
        .get("paths")
        .or_else(|| meta.get("tokenrisk.paths").and_then(|p| p.parse().ok()))
        .or(m.map(|m| m.provenance.paths as f64));
    items.push(("Paths", paths.map_or(DASH.into(), fmt_int)));
    let steps = match &scenario {
        Some(Ok(sc)) => format!(
            " (steps of {} day{}, reported every {} days)",
            sc.scenario.step_days,
            if sc.scenario.step_days == 1 { "" } else { "s" },
            sc.scenario.report_every
        ),
        _ => String::new(),
    };
    items.push((
        "Horizon",
        s.get("horizon_days")
            .map_or(DASH.into(), |h| format!("{} days{steps}", fmt_int(h))),
    ));
    // The seed is an identifier: printed exactly, without separators.
    let seed = meta
        .get("tokenrisk.seed")
        .cloned()
        .or_else(|| s.get("seed").map(|v| format!("{v:.0}")))
        .or(m.map(|m| m.provenance.seed.to_string()))
        .unwrap_or_else(|| DASH.into());
    items.push(("Seed", seed));
    let engine = meta
        .get("tokenrisk.engine")
        .cloned()
        .or_else(|| run.summary.text_at("backend", 0).map(str::to_string))
        .or(m.map(|m| m.backend.clone()))
        .unwrap_or_else(|| DASH.into());
    // The manifest's; folders of older versions also have it in the tables.
    let device = m
        .map(|m| m.device.clone())
        .or_else(|| meta.get("tokenrisk.device").cloned())
        .or_else(|| run.summary.text_at("device", 0).map(str::to_string))
        .unwrap_or_default();
    items.push((
        "Engine",
        if device.is_empty() {
            engine
        } else {
            format!("{engine} ({device})")
        },
    ));
    items.push((
        "Run started",
        m.map_or("unknown (no manifest.json)".into(), |m| {
            m.started_at.replacen('T', " ", 1).replace('Z', " UTC")
        }),
    ));
    // Timings are the manifest's (summary.parquet held them before, and old folders may
    // have them only there).
    let secs = m
        .map(|m| m.timings.simulate_s)
        .or_else(|| s.get("simulate_seconds"));
    if let Some(secs) = secs {
        let rate = m
            .and_then(|m| m.timings.path_steps_per_s)
            .or_else(|| s.get("path_steps_per_s"))
            .map_or(String::new(), |r| format!(", {} path-steps/s", fmt_si(r)));
        items.push(("Simulated in", format!("{} s{rate}", fmt_sig(secs, 3))));
    }
    let version = meta
        .get("tokenrisk.version")
        .or(m.map(|m| &m.provenance.tokenrisk_version))
        .cloned()
        .unwrap_or_else(|| DASH.into());
    let model = meta
        .get("tokenrisk.model_version")
        .or(m.map(|m| &m.provenance.model_version))
        .cloned()
        .unwrap_or_else(|| DASH.into());
    items.push(("Versions", format!("tokenrisk {version}, model {model}")));
    if let Some(m) = m {
        items.push((
            "Scenario SHA-256",
            m.provenance.scenario_sha256.chars().take(16).collect(),
        ));
    }
    items.push(("Run folder", run.dir.display().to_string()));
    out.push_str(r#"<dl class="meta">"#);
    for (k, v) in items {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    }
    out.push_str("</dl></header>");
}

fn scenario_source(out: &mut String, run: &RunData) {
    if let Some(toml) = run.summary.metadata.get("tokenrisk.scenario_toml") {
        section(out, "scenario", "Scenario as run");
        let _ = write!(
            out,
            "<details><summary>Show the scenario TOML ({} lines)</summary><pre>{}</pre></details></section>",
            toml.lines().count(),
            esc(toml)
        );
    }
}

/// The report page of one run.
pub fn run_page(run: &RunData) -> String {
    let name = run
        .summary
        .text_at("scenario", 0)
        .map(str::to_string)
        .or_else(|| run.summary.metadata.get("tokenrisk.scenario").cloned())
        .unwrap_or_else(|| {
            run.dir
                .file_name()
                .map_or("run".into(), |n| n.to_string_lossy().into_owned())
        });
    let mut body = String::new();
    header(&mut body, run, &name);
    for w in range_counts(run).warnings() {
        let _ = write!(body, r#"<p class="warn">WARNING: {}</p>"#, esc(&w));
    }
    section(&mut body, "key-figures", "Key figures");
    body.push_str(&cards(run));
    body.push_str("</section>");
    section(&mut body, "summary", "Summary");
    if run.summary.rows == 0 {
        body.push_str(r#"<p class="warn">summary.parquet has no rows.</p>"#);
    } else {
        body.push_str(&summary_table(run));
    }
    body.push_str("</section>");
    review::design_review(&mut body, run, Some(&name));
    governance::governance(&mut body, run, charts::scenario_as_run(run).as_ref());
    over_time(&mut body, run, Some(&name));
    at_horizon(&mut body, run);
    if run.summary.rows > 1 {
        section(&mut body, "summary-rows", "All summary rows");
        let _ = write!(
            body,
            r#"<p class="note">summary.parquet holds {} rows; the figures above are those of the first.</p>"#,
            fmt_int(run.summary.rows as f64)
        );
        body.push_str(&table_html(&run.summary));
        body.push_str("</section>");
    }
    // review.parquet and governance.parquet are shown as their sections, not again as raw
    // tables.
    let others: Vec<Extra> = run
        .extras
        .iter()
        .filter(|e| {
            e.name != crate::output::review::REVIEW_FILE && e.name != crate::output::GOVERNANCE_FILE
        })
        .cloned()
        .collect();
    extras(&mut body, &others);
    scenario_source(&mut body, run);
    document(&format!("{name}: tokenrisk report"), &body)
}

/// The counts behind the range warnings, from the tables: the timeseries' `clamped` column
/// and its standard errors, by metric (files from before these columns have none to warn
/// of), and the summary's standard errors. (The summary's figures are exact, so values
/// outside the histograms' range do not touch them.)
fn range_counts(run: &RunData) -> RangeCounts {
    let s = &run.summary;
    let t = &run.timeseries;
    let several = s.f64_at("paths", 0).is_some_and(|n| n >= 2.0);
    // The per-path quantities' standard errors (the summary has no count of values per
    // quantity; non-finite values are left out of the moments, so an infinite se is an
    // overflow of the squares).
    let per_path_se_nonfinite = PathSummaries::QUANTITIES
        .iter()
        .filter(|q| {
            let se = s.num(&format!("{q}_se")).and_then(|v| v.first().copied());
            several && se.is_some_and(|se| !se.is_some_and(f64::is_finite))
        })
        .map(|q| q.to_string())
        .collect();
    let mut series: Vec<SeriesCounts> = Vec::new();
    let metrics = t.text("metric").unwrap_or_default();
    for (row, metric) in metrics.iter().enumerate() {
        let Some(metric) = metric else { continue };
        let i = match series.iter().position(|c| &c.metric == metric) {
            Some(i) => i,
            None => {
                series.push(SeriesCounts {
                    metric: metric.clone(),
                    ..SeriesCounts::default()
                });
                series.len() - 1
            }
        };
        let c = &mut series[i];
        let clamped = t.f64_at("clamped", row).unwrap_or(0.0) as u64;
        c.clamped_rows += (clamped > 0) as u64;
        c.clamped_values += clamped;
        let se_bad = t.num("se").is_some() && !t.f64_at("se", row).is_some_and(f64::is_finite);
        c.se_nonfinite_rows += (several && se_bad) as u64;
    }
    RangeCounts {
        per_path_se_nonfinite,
        series,
    }
}

/// A figure and the line under it: its 95% interval where the table has `<col>_lo` /
/// `<col>_hi`, else its standard error (`<col>_se`), else what the table does have
/// (`fallback`), else a note that it is histogram-read without an SE in this file.
fn with_interval(
    s: &Sum,
    col: &str,
    f: &dyn Fn(f64) -> String,
    fallback: Option<String>,
) -> (String, String) {
    let Some(v) = s.get(col) else {
        return (DASH.into(), String::new());
    };
    let sub = match (
        s.get(&format!("{col}_lo")),
        s.get(&format!("{col}_hi")),
        s.get(&format!("{col}_se")),
    ) {
        (Some(lo), Some(hi), _) => format!("95% CI {} to {}", f(lo), f(hi)),
        (_, _, Some(se)) => format!("SE {}", fmt_sig(se, 2)),
        _ => fallback.unwrap_or_else(|| "no SE in this file".into()),
    };
    (f(v), sub)
}

/// `mean ± 1.96 SE` of a mean column and its `_se`, as the line under a median.
fn mean_line(s: &Sum, stem: &str, f: &dyn Fn(f64) -> String) -> Option<String> {
    let m = s.get(&format!("{stem}_mean"))?;
    let se = s.get(&format!("{stem}_se"))?;
    Some(format!("mean {} ± {}", f(m), f(Z95 * se)))
}

/// The headline cells of one run in the index: P(spiral), VaR and CVaR (price fall),
/// median emissions-to-revenue ratio and final price, each with its interval line.
fn headline_cells(t: &Table) -> Vec<(String, String)> {
    let s = Sum { t };
    // Five significant digits: the runs of a sweep share their random numbers, so their
    // medians differ in digits that a single run's interval does not resolve (the paired
    // difference does); rounded to three, 2.7360 and 2.7356 would read the same.
    let usd = |v: f64| format!("{} USD", fmt_sig(v, 5));
    let usd_bare = |v: f64| fmt_sig(v, 4);
    let ratio = |v: f64| fmt_sig(v, 5);
    let loss = |v: f64| price_fall_pct(v);
    let paths = s.get("paths").map_or(DASH.into(), fmt_int);
    vec![
        (paths, String::new()),
        with_interval(&s, "p_spiral", &|v| fmt_pct(v), None),
        with_interval(&s, "var95_return", &loss, None),
        with_interval(&s, "cvar95_return", &loss, None),
        with_interval(
            &s,
            "er_ratio_p50",
            &ratio,
            mean_line(&s, "er_ratio", &ratio),
        ),
        with_interval(
            &s,
            "final_price_p50",
            &usd,
            mean_line(&s, "final_price", &usd_bare),
        ),
    ]
}

/// The swept keys, and each point folder's values of them.
type SweptValues = (Vec<String>, BTreeMap<String, Vec<String>>);

/// The swept keys and, per run folder name (`point-NNNN`), their values, from a
/// `sweep.parquet` among the folder's own tables.
fn swept_values(own: &[Extra]) -> Option<SweptValues> {
    let t = own
        .iter()
        .find(|e| e.name == "sweep.parquet")?
        .table
        .as_ref()
        .ok()?;
    let keys = swept_columns(t);
    if keys.is_empty() {
        return None;
    }
    let mut by = BTreeMap::new();
    for r in 0..t.rows {
        let Some(point) = t.f64_at("point", r) else {
            continue;
        };
        let values = keys
            .iter()
            .map(|k| {
                t.f64_at(k, r)
                    .map(fmt_value)
                    .or_else(|| t.text_at(k, r).map(str::to_string))
                    .unwrap_or_else(|| DASH.into())
            })
            .collect();
        by.insert(format!("point-{:04}", point as u64), values);
    }
    Some((keys, by))
}

/// The index page of a folder of runs: their headline figures side by side, each with its
/// interval or standard error (and, in a sweep's folder, the swept values of each point),
/// linking their reports; then the folder's own tables (comparison, sweep, tornado, others).
pub fn index_page(
    dir_name: &str,
    runs: &[(String, String, Option<Table>)],
    own: &[Extra],
    pairs: &[SweepPair],
) -> String {
    let mut body = String::new();
    let lead = match runs.len() {
        0 => "Tables in this folder.".to_string(),
        1 => "1 run in this folder.".to_string(),
        n => format!("{n} runs in this folder."),
    };
    let _ = write!(
        body,
        r#"<header><div class="kicker">tokenrisk risk report</div><h1>{}</h1><p class="desc">{}</p></header>"#,
        esc(dir_name),
        esc(&lead)
    );
    let swept = swept_values(own);
    if !runs.is_empty() {
        section(&mut body, "runs", "Runs");
        body.push_str(
            r#"<p class="note">Headline figures of each run, from its summary.parquet; follow a name for its full report. P(spiral) is exact (a count of paths) with its Wilson 95% interval; VaR and CVaR (95%, of the horizon log-return, shown as the price fall they mean, a positive loss) and the medians are exact (from every path's value), with the 95% interval the file holds (files from before those columns: the mean ± 1.96 SE).</p>"#,
        );
        body.push_str(r#"<div class="scroll"><table class="data index"><thead><tr><th>run</th>"#);
        if let Some((keys, _)) = &swept {
            for k in keys {
                let _ = write!(body, r#"<th class="key">{}</th>"#, esc(k));
            }
        }
        body.push_str(
            r#"<th>paths</th><th>P(spiral)</th><th>95% VaR, price fall</th><th>95% CVaR, price fall</th><th>emissions-to-revenue, median</th><th>final price, median</th></tr></thead><tbody>"#,
        );
    }
    for (name, link, summary) in runs {
        let _ = write!(
            body,
            r#"<tr><td><a href="{}">{}</a></td>"#,
            esc(link),
            esc(name)
        );
        if let Some((keys, by)) = &swept {
            let values = by.get(name);
            for i in 0..keys.len() {
                let v = values.and_then(|v| v.get(i)).map_or(DASH, String::as_str);
                let _ = write!(body, r#"<td class="n key">{}</td>"#, esc(v));
            }
        }
        let cells = match summary {
            Some(t) if t.rows > 0 => headline_cells(t),
            _ => vec![(DASH.to_string(), "no summary.parquet".to_string()); 6],
        };
        for (v, sub) in cells {
            if sub.is_empty() {
                let _ = write!(body, r#"<td class="n">{}</td>"#, esc(&v));
            } else {
                let _ = write!(
                    body,
                    r#"<td class="n">{}<div class="sub">{}</div></td>"#,
                    esc(&v),
                    esc(&sub)
                );
            }
        }
        body.push_str("</tr>");
    }
    if !runs.is_empty() {
        body.push_str("</tbody></table></div></section>");
    }
    if let (Some(first), false) = (runs.first(), pairs.is_empty()) {
        sweep_pairs(&mut body, &first.0, pairs, swept.as_ref());
    }
    extras(&mut body, own);
    document(&format!("{dir_name}: tokenrisk report"), &body)
}

/// The sweep's points against its first, paired path by path (`report::sweep_pairs`).
fn sweep_pairs(out: &mut String, first: &str, pairs: &[SweepPair], swept: Option<&SweptValues>) {
    section(
        out,
        "paired",
        &format!("Each point against {first}, path by path"),
    );
    let _ = write!(
        out,
        r#"<p class="note">Every point ran on the same paths as {} (common random numbers), so its difference from it is measured path by path: far tighter than the two points' own intervals above. Differences are this point minus {}; intervals are 95% (paired SE × 1.96 for P(spiral) and the mean; order statistics for the median of the per-path ratio). A difference whose interval holds zero (or a ratio whose interval holds 1) is marked "within noise".</p>"#,
        esc(first),
        esc(first)
    );
    out.push_str(r#"<div class="scroll"><table class="data index"><thead><tr><th>point</th>"#);
    if let Some((keys, _)) = swept {
        for k in keys {
            let _ = write!(out, r#"<th class="key">{}</th>"#, esc(k));
        }
    }
    out.push_str(r#"<th>P(spiral), difference</th><th>final price, mean difference</th><th>final price ratio, median</th></tr></thead><tbody>"#);
    for p in pairs {
        let _ = write!(out, r#"<tr><td>{}</td>"#, esc(&p.point));
        if let Some((keys, by)) = swept {
            let values = by.get(&p.point);
            for i in 0..keys.len() {
                let v = values.and_then(|v| v.get(i)).map_or(DASH, String::as_str);
                let _ = write!(out, r#"<td class="n key">{}</td>"#, esc(v));
            }
        }
        let s = &p.spiral;
        let m = &p.final_price;
        let r = &p.price_ratio_median;
        let noise = |holds: bool| {
            if holds {
                r#" <span class="nz">within noise</span>"#
            } else {
                ""
            }
        };
        let _ = write!(
            out,
            r#"<td class="n">{}{}<div class="sub">95% CI {} to {}</div></td>"#,
            esc(&fmt_pp(s.diff)),
            if s.discordant_ab + s.discordant_ba == 0 {
                r#" <span class="nz">the same on every path</span>"#
            } else {
                noise(s.lo <= 0.0 && 0.0 <= s.hi)
            },
            esc(&fmt_pp(s.lo)),
            esc(&fmt_pp(s.hi))
        );
        let (lo, hi) = (m.diff_mean - Z95 * m.diff_se, m.diff_mean + Z95 * m.diff_se);
        let _ = write!(
            out,
            r#"<td class="n">{} USD{}<div class="sub">95% CI {} to {}</div></td>"#,
            esc(&fmt_sig(m.diff_mean, 4)),
            noise(lo <= 0.0 && 0.0 <= hi),
            esc(&fmt_sig(lo, 4)),
            esc(&fmt_sig(hi, 4))
        );
        let _ = write!(
            out,
            r#"<td class="n">{}×{}<div class="sub">95% CI {}× to {}×</div></td></tr>"#,
            esc(&fmt_sig(r.value, 5)),
            noise(r.lo <= 1.0 && 1.0 <= r.hi),
            esc(&fmt_sig(r.lo, 5)),
            esc(&fmt_sig(r.hi, 5))
        );
    }
    out.push_str("</tbody></table></div></section>");
}

//! The run page's "Governance changes": for each `[[governance]]` change its rule, what it
//! sets, P(enacted) and the median enactment day (from `summary.parquet`, exact counts), and
//! the share of paths with it in force over time (`governance.parquet`, exact); and the marks
//! the over-time charts draw at each change's day. Everything is rebuilt from the folder (the
//! scenario text in the metadata and the two tables), like the other sections.

use super::super::charts::{line_chart_marked, LineSpec, Mark, MarkKind, Series};
use super::super::data::{RunData, Table};
use super::super::format::{esc, fmt_int, fmt_pct, fmt_value};
use super::super::svg::TickFormat;
use super::{figure, section};
use crate::output::GOVERNANCE_FILE;
use crate::scenario::governance::leaves;
use crate::scenario::{Governance, Scenario};
use std::fmt::Write;

/// A fraction the user wrote, as a percentage without invented digits (0.6 is "60%").
fn input_pct(v: f64) -> String {
    format!("{}%", fmt_value((100.0 * v * 1e9).round() / 1e9))
}

/// A change's rule in words.
fn rule(g: &Governance) -> String {
    if let Some(d) = g.day {
        return format!("scheduled on day {}", fmt_int(d as f64));
    }
    if let (Some(p), Some(w)) = (g.probability, g.window_days.as_deref()) {
        let (a, b) = (
            w.first().copied().unwrap_or(0),
            w.last().copied().unwrap_or(0),
        );
        return format!(
            "uncertain: passes with probability {}, on a day drawn uniformly in days {}–{}",
            input_pct(p),
            fmt_int(a as f64),
            fmt_int(b as f64)
        );
    }
    let Some(w) = &g.when else {
        return "no rule".into();
    };
    let mut conditions = Vec::new();
    let pct = input_pct;
    if let Some(v) = w.price_below {
        conditions.push(format!("price below {} of day 0", pct(v)));
    }
    if let Some(v) = w.drawdown_above {
        conditions.push(format!("drawdown above {}", pct(v)));
    }
    if let Some(v) = w.staked_fraction_below {
        conditions.push(format!("staked share below {}", pct(v)));
    }
    if let Some(v) = w.er_ratio_above {
        conditions.push(format!("trailing emissions-to-revenue above {v}"));
    }
    if let Some(v) = w.capacity_below {
        conditions.push(format!("capacity below {} of day 0", pct(v)));
    }
    format!(
        "triggered when {} for {} days; enacted {} days after",
        conditions.join(" and "),
        g.for_days.unwrap_or(0),
        g.delay_days.unwrap_or(0)
    )
}

/// What a change sets, `key = value` each.
fn set_list(g: &Governance) -> Vec<String> {
    leaves(&g.set)
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect()
}

/// [`set_list`] on one line.
fn sets(g: &Governance) -> String {
    set_list(g).join(", ")
}

/// P(enacted) and the median day of change `name` from the summary.
fn figures(summary: &Table, name: &str) -> (Option<[f64; 4]>, Option<[f64; 3]>) {
    let at = |what: &str| summary.f64_at(&format!("governance.{name}.{what}"), 0);
    let p = (|| {
        Some([
            at("p_enacted")?,
            at("p_enacted_se")?,
            at("p_enacted_lo")?,
            at("p_enacted_hi")?,
        ])
    })();
    let d = (|| {
        Some([
            at("median_day")?,
            at("median_day_lo")?,
            at("median_day_hi")?,
        ])
    })()
    .filter(|d| d[0].is_finite());
    (p, d)
}

/// One mark per change that some path enacts: a scheduled change at its day, the others at
/// their median enactment day.
pub(super) fn marks(run: &RunData, s: &Scenario) -> Vec<Mark> {
    s.governance
        .iter()
        .filter_map(|g| {
            let (p, d) = figures(&run.summary, &g.name);
            let p_text = p.map_or(String::new(), |p| format!("P(enacted) {}", fmt_pct(p[0])));
            if let Some(day) = g.day {
                return Some(Mark {
                    x: day as f64,
                    label: format!("{} d{}", g.name, fmt_int(day as f64)),
                    detail: format!("{} (scheduled); {p_text}", sets(g)),
                    kind: MarkKind::Governance,
                });
            }
            let d = d?;
            Some(Mark {
                x: d[0],
                label: format!("{} ~d{}", g.name, fmt_int(d[0])),
                detail: format!(
                    "{}; {p_text}; median enactment day {} (95% CI {} to {}) among the paths that enact it",
                    sets(g),
                    fmt_int(d[0]),
                    fmt_int(d[1]),
                    fmt_int(d[2])
                ),
                kind: MarkKind::Governance,
            })
        })
        .collect()
}

/// The in-force share of change `name` over the report days, with its interval as a band.
fn in_force_series(t: &Table, name: &str, color: usize) -> Option<Series> {
    let change = t.text("change")?;
    let rows: Vec<usize> = (0..t.rows)
        .filter(|&r| change[r].as_deref() == Some(name))
        .collect();
    let point = |r: usize, c: &str| t.f64_at(c, r).filter(|v| v.is_finite());
    let points: Vec<(f64, Option<f64>)> = rows
        .iter()
        .filter_map(|&r| Some((point(r, "day")?, point(r, "share"))))
        .collect();
    let band = rows
        .iter()
        .filter_map(|&r| Some((point(r, "day")?, point(r, "share_hi"), point(r, "share_lo"))))
        .collect();
    (!points.is_empty()).then(|| Series {
        label: name.to_string(),
        color,
        points,
        band: Some(band),
        dashed: false,
        markers: false,
    })
}

/// The section, or nothing when the scenario as run has no governance changes.
pub(super) fn governance(out: &mut String, run: &RunData, s: Option<&Scenario>) {
    let Some(s) = s.filter(|s| !s.governance.is_empty()) else {
        return;
    };
    section(out, "governance", "Governance changes");
    out.push_str(r#"<p class="note">Changes of the design during the run (<code>[[governance]]</code>, docs/SCENARIO.md): each path enacts a change at most once and keeps it to the horizon. P(enacted) counts the paths that enact it within the horizon (exact, with its Wilson 95% interval and binomial SE); the median day is that of the enacting paths (exact order statistic, with its 95% interval). Blue dashed lines on the charts below mark each change: a scheduled one at its day, the others at their median day.</p>"#);
    out.push_str(r#"<div class="scroll"><table class="data cmp gov"><thead><tr><th>change</th><th>rule</th><th>sets</th><th>P(enacted)</th><th>median enactment day</th></tr></thead><tbody>"#);
    for g in &s.governance {
        let (p, d) = figures(&run.summary, &g.name);
        let p = p.map_or("–".into(), |p| {
            format!(
                r#"{}<div class="nz">95% CI {} to {}</div><div class="nz">SE {}, exact</div>"#,
                fmt_pct(p[0]),
                fmt_pct(p[2]),
                fmt_pct(p[3]),
                fmt_pct(p[1])
            )
        });
        let d = d.map_or("no path enacts it".into(), |d| {
            format!(
                r#"day {}<div class="nz">95% CI {} to {}</div><div class="nz">exact</div>"#,
                fmt_int(d[0]),
                fmt_int(d[1]),
                fmt_int(d[2])
            )
        });
        let description = if g.description.is_empty() {
            String::new()
        } else {
            format!(r#"<div class="sub desc">{}</div>"#, esc(&g.description))
        };
        let keys: Vec<String> = set_list(g)
            .iter()
            .map(|k| format!("<code>{}</code>", esc(k)))
            .collect();
        let _ = write!(
            out,
            r#"<tr><td><code>{}</code>{description}</td><td class="prose">{}</td><td>{}</td><td>{p}</td><td>{d}</td></tr>"#,
            esc(&g.name),
            esc(&rule(g)),
            keys.join("<br>"),
        );
    }
    out.push_str("</tbody></table></div>");
    let table = run
        .extras
        .iter()
        .find(|e| e.name == GOVERNANCE_FILE)
        .and_then(|e| e.table.as_ref().ok());
    if let Some(t) = table {
        let series: Vec<Series> = s
            .governance
            .iter()
            .enumerate()
            .filter_map(|(i, g)| in_force_series(t, &g.name, i))
            .collect();
        let svg = line_chart_marked(
            &LineSpec {
                title: "Share of paths with each change in force",
                x_label: "day",
                y_label: "share of paths",
                x_format: TickFormat::Plain,
                y_format: TickFormat::Percent,
                y_zero: true,
                allow_log_x: false,
                x_exact: true,
                note: Some("exact counts; bands: Wilson 95% intervals"),
            },
            &series,
            &marks(run, s),
        );
        figure(out, &svg, "");
    }
    out.push_str("</section>");
}

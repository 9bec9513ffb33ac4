//! The charts of a run's page: fan charts of every metric over time, the spiral shares, and
//! the distributions at the horizon.
//!
//! The scenario as run (the TOML in the tables' metadata, `--shock` / `--stress` overlays
//! included as `[[shock]]` tables) gives the shock days, drawn as marks on every chart over
//! time, so a fall is seen next to its cause. Where the share in a spiral falls while the
//! median price stays low, a sentence says why: the spiral is an onset measure
//! (docs/MODEL.md section 12), not "the price is low".

use super::summary::Sum;
use super::{figure, section};
use crate::report::charts::{
    self, fan_chart_marked, histogram, line_chart_marked, FanData, FanSpec, HistSpec, LineSpec,
    Mark, MarkKind, Series,
};
use crate::report::data::{RunData, Table};
use crate::report::format::{fmt_int, fmt_pct, fmt_sig};
use crate::report::svg::TickFormat;
use crate::scenario::Scenario;
use crate::stats::Z95;
use std::collections::BTreeMap;
use std::fmt::Write;

/// A metric of `timeseries.parquet` drawn as a fan chart.
pub(super) struct Fan {
    metric: &'static str,
    title: &'static str,
    unit: &'static str,
    format: TickFormat,
    /// A labelled horizontal reference line.
    reference: Option<(f64, &'static str)>,
}

pub(super) const fn fan(metric: &'static str, title: &'static str, unit: &'static str) -> Fan {
    Fan {
        metric,
        title,
        unit,
        format: TickFormat::Number,
        reference: None,
    }
}

/// The fan charts, in page order.
pub(super) const FANS: [Fan; 10] = [
    fan("price", "Token price", "USD"),
    fan("market_cap", "Market capitalisation", "USD"),
    fan("circulating", "Circulating supply", "tokens"),
    Fan {
        format: TickFormat::Percent,
        ..fan(
            "staked_fraction",
            "Staked share of supply",
            "share of circulating",
        )
    },
    fan("demand", "Demand", "USD/day"),
    fan("revenue", "Served revenue", "USD/day"),
    fan("emission_usd", "Emissions (USD value)", "USD/day"),
    Fan {
        reference: Some((1.0, "1 = revenue covers emissions")),
        ..fan(
            "er_ratio",
            "Emissions-to-revenue ratio (trailing 30-day)",
            "ratio",
        )
    },
    fan("capacity", "Provider capacity", "compute units"),
    fan("gpu_cost", "GPU cost", "USD per unit-day"),
];

/// Metrics drawn in the spiral chart rather than as fans.
pub(super) const SPIRAL_METRICS: [&str; 2] = ["in_spiral", "ever_spiraled"];

/// The rows of `timeseries.parquet` per metric, ordered by day (only the rows of
/// `scenario` when the table holds several scenarios).
pub(super) fn metric_rows(ts: &Table, scenario: Option<&str>) -> BTreeMap<String, Vec<usize>> {
    let mut by: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let Some(metric) = ts.text("metric") else {
        return by;
    };
    let scen = ts.text("scenario");
    let several = scen.is_some_and(|v| v.iter().any(|s| s.as_deref() != v[0].as_deref()));
    for (i, m) in metric.iter().enumerate() {
        let Some(m) = m else { continue };
        if several {
            if let (Some(want), Some(col)) = (scenario, scen) {
                if col[i].as_deref() != Some(want) {
                    continue;
                }
            }
        }
        by.entry(m.clone()).or_default().push(i);
    }
    for rows in by.values_mut() {
        rows.sort_by(|&a, &b| {
            let da = ts.f64_at("day", a).unwrap_or(f64::NAN);
            let db = ts.f64_at("day", b).unwrap_or(f64::NAN);
            da.total_cmp(&db)
        });
    }
    by
}

pub(super) fn fan_data(ts: &Table, rows: &[usize]) -> FanData {
    let col =
        |name: &str| -> Vec<Option<f64>> { rows.iter().map(|&r| ts.f64_at(name, r)).collect() };
    FanData {
        x: rows
            .iter()
            .map(|&r| ts.f64_at("day", r).unwrap_or(f64::NAN))
            .collect(),
        p05: col("p05"),
        p25: col("p25"),
        p50: col("p50"),
        p75: col("p75"),
        p95: col("p95"),
        mean: col("mean"),
    }
}

/// The chart of the share of paths in a spiral and ever spiraled, with 95% bands.
pub(super) fn spiral_chart(
    ts: &Table,
    by: &BTreeMap<String, Vec<usize>>,
    p_spiral: Option<f64>,
    marks: &[Mark],
) -> String {
    let mut series = Vec::new();
    for (i, (metric, label)) in SPIRAL_METRICS
        .iter()
        .zip(["in a spiral now", "ever spiraled"])
        .enumerate()
    {
        let Some(rows) = by.get(*metric) else {
            continue;
        };
        let pts: Vec<(f64, Option<f64>)> = rows
            .iter()
            .map(|&r| {
                (
                    ts.f64_at("day", r).unwrap_or(f64::NAN),
                    ts.f64_at("mean", r),
                )
            })
            .collect();
        let band = rows
            .iter()
            .map(|&r| {
                let m = ts.f64_at("mean", r);
                let se = ts.f64_at("se", r);
                let (u, l) = match (m, se) {
                    (Some(m), Some(se)) => {
                        (Some((m + Z95 * se).min(1.0)), Some((m - Z95 * se).max(0.0)))
                    }
                    _ => (None, None),
                };
                (ts.f64_at("day", r).unwrap_or(f64::NAN), u, l)
            })
            .collect();
        series.push(Series {
            label: label.to_string(),
            color: 2 + i,
            points: pts,
            band: Some(band),
            dashed: false,
            markers: false,
        });
    }
    let note = p_spiral.map(|p| {
        if p > 0.0 {
            format!("P(spiral by the horizon) {}", fmt_pct(p))
        } else {
            "no path spiraled".to_string()
        }
    });
    line_chart_marked(
        &LineSpec {
            title: "Share of paths in a demand spiral",
            x_label: "day",
            y_label: "share of paths",
            x_format: TickFormat::Plain,
            y_format: TickFormat::Percent,
            y_zero: true,
            allow_log_x: false,
            x_exact: true,
            note: note.as_deref(),
        },
        &series,
        marks,
    )
}

/// The scenario as run, from the metadata of summary.parquet (None when absent or when it
/// does not parse with this version; the header says so).
pub(super) fn scenario_as_run(run: &RunData) -> Option<Scenario> {
    let toml = run.summary.metadata.get("tokenrisk.scenario_toml")?;
    crate::scenario::parse(toml, "tokenrisk.scenario_toml").ok()
}

/// One mark per day with shocks (the scenario's `[[shock]]`s and the command-line overlays,
/// which the scenario as run holds as `[[shock]]` tables), in day order.
pub(super) fn shock_marks(s: &Scenario) -> Vec<Mark> {
    let mut by_day: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for sh in &s.shock {
        let changes: Vec<String> = sh
            .changes()
            .iter()
            .filter(|(_, c)| *c != 0.0)
            .map(|(k, c)| format!("{k} {}", fmt_change(*c)))
            .collect();
        by_day.entry(sh.day).or_default().extend(changes);
    }
    by_day
        .into_iter()
        .map(|(day, changes)| Mark {
            x: day as f64,
            label: format!("shock d{}", fmt_int(day as f64)),
            detail: if changes.is_empty() {
                "no change".to_string()
            } else {
                changes.join(", ")
            },
            kind: MarkKind::Shock,
        })
        .collect()
}

/// A relative change with the digits it deserves (`-50%`, `+12.5%`).
fn fmt_change(c: f64) -> String {
    let pct = crate::report::format::fmt_value(nice_pct(100.0 * c));
    if c > 0.0 {
        format!("+{pct}%")
    } else {
        format!("{pct}%")
    }
}

/// A percentage rounded to 10 significant digits (a shock of -0.07 is -7%, not
/// -7.000000000000001%).
fn nice_pct(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    format!("{x:.9e}").parse().unwrap_or(x)
}

/// The sentence under the spiral chart when the share in a spiral now falls (to at most
/// half its peak) while the median price at the horizon stays at most half its start:
/// why a reader sees 0% "in a spiral" next to a collapsed price.
pub(super) fn spiral_onset_note(
    ts: &Table,
    by: &BTreeMap<String, Vec<usize>>,
    s: Option<&Scenario>,
) -> Option<String> {
    let now = by.get("in_spiral")?;
    let price = by.get("price")?;
    let at = |r: usize, c: &str| ts.f64_at(c, r).filter(|v| v.is_finite());
    let (peak_row, peak) = now
        .iter()
        .filter_map(|&r| Some((r, at(r, "mean")?)))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let last = at(*now.last()?, "mean")?;
    let p0 = at(*price.first()?, "p50")?;
    let p1 = at(*price.last()?, "p50")?;
    if !(peak >= 0.005 && last <= 0.5 * peak && p0 > 0.0 && p1 <= 0.5 * p0) {
        return None;
    }
    let peak_day = at(peak_row, "day").unwrap_or(f64::NAN);
    let (window, persist) = s.map_or((None, None), |s| {
        (Some(s.spiral.window_days), Some(s.spiral.persist_days))
    });
    Some(format!(
        "The share in a spiral now falls from {} (day {}) to {} at the horizon while the median price stays {} below its start: the spiral is an onset measure (docs/MODEL.md section 12). A path is in a spiral while its price, capacity and demand all stay below their own moving averages{} by the spiral thresholds{}; once those averages have come down to the low levels, the path leaves the spiral although its price stays low. \"Ever spiraled\" keeps every path that entered one.",
        fmt_pct(peak),
        fmt_int(peak_day),
        fmt_pct(last),
        fmt_pct(1.0 - p1 / p0),
        window.map_or(String::new(), |w| format!(
            " (half-life {} days)",
            crate::report::format::fmt_value(w)
        )),
        persist.map_or(String::new(), |p| format!(" for at least {p} days")),
    ))
}

pub(super) fn over_time(out: &mut String, run: &RunData, scenario: Option<&str>) {
    let ts = &run.timeseries;
    let by = metric_rows(ts, scenario);
    section(out, "over-time", "Over time");
    out.push_str(
        r#"<p class="note">Across all paths at each report day: the darker band holds the middle half of the paths (p25–p75), the lighter one 90% of them (p05–p95); the solid line is the median, the dashed line the mean. A log scale is used where values span more than two decades; shares are drawn from 0.</p>"#,
    );
    let scenario = scenario_as_run(run);
    let mut marks = scenario.as_ref().map(shock_marks).unwrap_or_default();
    if !marks.is_empty() {
        let list: Vec<String> = marks
            .iter()
            .map(|m| format!("day {}: {}", fmt_int(m.x), m.detail))
            .collect();
        // The list sits above the charts, so the marks are explained once.
        let _ = write!(
            out,
            r#"<p class="note shocks">Red dotted lines: the shocks of the scenario as run (its <code>[[shock]]</code> tables and any <code>--shock</code> / <code>--stress</code> overlays), each striking during its day: {}.</p>"#,
            crate::report::format::esc(&list.join("; "))
        );
    }
    if let Some(s) = scenario.as_ref() {
        let gov = super::governance::marks(run, s);
        if !gov.is_empty() {
            let _ = write!(
                out,
                r#"<p class="note shocks">Blue dashed lines: governance changes (see "Governance changes"): {}.</p>"#,
                crate::report::format::esc(
                    &gov.iter()
                        .map(|m| format!("{} ({})", m.label, m.detail))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            );
        }
        marks.extend(gov);
        marks.sort_by(|a, b| a.x.total_cmp(&b.x));
    }
    out.push_str(r#"<div class="grid">"#);
    let p_spiral = run.summary.f64_at("p_spiral", 0);
    figure(
        out,
        &spiral_chart(ts, &by, p_spiral, &marks),
        &spiral_onset_note(ts, &by, scenario.as_ref()).unwrap_or_default(),
    );
    for f in &FANS {
        let svg = match by.get(f.metric) {
            Some(rows) => fan_chart_marked(
                &FanSpec {
                    title: f.title,
                    unit: f.unit,
                    format: f.format,
                    reference: f.reference,
                },
                &fan_data(ts, rows),
                &marks,
            ),
            None => charts::no_data(f.title, "not in timeseries.parquet"),
        };
        figure(out, &svg, "");
    }
    // Metrics this page does not know yet: drawn with their own name.
    for (metric, rows) in &by {
        if FANS.iter().any(|f| f.metric == metric) || SPIRAL_METRICS.contains(&metric.as_str()) {
            continue;
        }
        let svg = fan_chart_marked(
            &FanSpec {
                title: metric,
                unit: "value",
                format: TickFormat::Number,
                reference: None,
            },
            &fan_data(ts, rows),
            &marks,
        );
        figure(out, &svg, "");
    }
    out.push_str("</div></section>");
}

pub(super) fn at_horizon(out: &mut String, run: &RunData) {
    let p = &run.paths;
    let s = Sum { t: &run.summary };
    section(out, "horizon", "At the horizon");
    out.push_str(r#"<div class="grid">"#);
    let mut markers = Vec::new();
    if let Some(m) = s.get("final_price_p50") {
        markers.push((m, format!("median {} USD", fmt_sig(m, 3))));
    }
    let excluded = if p.final_price_excluded > 0 {
        format!(
            "{} paths, {} with price ≤ 0 or non-finite not shown",
            fmt_int(p.paths as f64),
            fmt_int(p.final_price_excluded as f64)
        )
    } else {
        format!("{} paths", fmt_int(p.paths as f64))
    };
    figure(
        out,
        &histogram(
            &HistSpec {
                title: "Final price",
                x_label: "price at the horizon, USD",
                x_format: TickFormat::Number,
                note: Some(excluded),
                markers,
                empty: "no finite positive final price",
            },
            &p.final_price,
        ),
        "Number of paths per bin of the final token price (log-spaced bins when prices span more than a decade).",
    );
    let mut markers = Vec::new();
    if p.spiraled > 0 {
        if let Some(m) = s.get("spiral_day_p50") {
            markers.push((m, format!("median day {}", fmt_int(m))));
        }
    }
    figure(
        out,
        &histogram(
            &HistSpec {
                title: "Time to spiral",
                x_label: "day of spiral onset",
                x_format: TickFormat::Plain,
                note: Some(format!(
                    "{} of {} paths spiraled",
                    fmt_int(p.spiraled as f64),
                    fmt_int(p.paths as f64)
                )),
                markers,
                empty: "no path spiraled",
            },
            &p.spiral_days,
        ),
        "Onset day of the spiral, for the paths that spiraled.",
    );
    out.push_str("</div></section>");
}

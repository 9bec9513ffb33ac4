//! The tables a folder may hold beyond a run's own (sweep, tornado, comparison, others):
//! each as an HTML table, with the sweep chart and tornado charts where the columns allow.
//!
//! A `tornado.parquet` of `tokenrisk sensitivity` (it has `effect_p_spiral_se`) gets the
//! effect on P(spiral) drawn with paired error bars (+-1.96 SE) and effects within 1.96 SE of
//! zero greyed and labelled "within noise", and a compact table of what an analyst reads
//! (the full table folded below it), so the page does not scroll sideways.

use super::{figure, section, MAX_TABLE_ROWS};
use crate::report::charts::{self, bar_chart, line_chart, Bar, BarSpec, LineSpec, Series};
use crate::report::data::{ColumnData, Extra, Table};
use crate::report::format::{
    esc, fmt_int, fmt_pct, fmt_pp, fmt_si, fmt_sig, fmt_value_compact, noise_note, DASH,
};
use crate::report::svg::TickFormat;
use crate::stats::Z95;
use std::fmt::Write;

pub(super) fn cell(data: &ColumnData, i: usize) -> (String, &'static str) {
    match data {
        ColumnData::Num { values, integer } => match values.get(i).copied().flatten() {
            Some(v) if *integer => (fmt_int(v), "n"),
            Some(v) => (fmt_sig(v, 4), "n"),
            None => (DASH.into(), "null"),
        },
        ColumnData::Bool(values) => match values.get(i).copied().flatten() {
            Some(b) => (b.to_string(), ""),
            None => (DASH.into(), "null"),
        },
        ColumnData::Text(values) => match values.get(i).cloned().flatten() {
            Some(s) => (s, ""),
            None => (DASH.into(), "null"),
        },
    }
}

/// Any table as HTML: row-wise, or column-wise (name, value per row) when it has few rows
/// and many columns (a summary row).
pub fn table_html(t: &Table) -> String {
    let mut s = String::from(r#"<div class="scroll"><table class="data">"#);
    if t.rows <= 3 && t.columns.len() > 12 {
        s.push_str("<thead><tr><th>column</th>");
        for r in 0..t.rows {
            let _ = write!(s, "<th>row {}</th>", r + 1);
        }
        s.push_str("</tr></thead><tbody>");
        for c in &t.columns {
            let _ = write!(s, "<tr><td>{}</td>", esc(&c.name));
            for r in 0..t.rows {
                let (v, class) = cell(&c.data, r);
                let _ = write!(s, r#"<td class="{class}">{}</td>"#, esc(&v));
            }
            s.push_str("</tr>");
        }
    } else {
        s.push_str("<thead><tr>");
        for c in &t.columns {
            let _ = write!(s, "<th>{}</th>", esc(&c.name));
        }
        s.push_str("</tr></thead><tbody>");
        for r in 0..t.rows.min(MAX_TABLE_ROWS) {
            s.push_str("<tr>");
            for c in &t.columns {
                let (v, class) = cell(&c.data, r);
                let _ = write!(s, r#"<td class="{class}">{}</td>"#, esc(&v));
            }
            s.push_str("</tr>");
        }
    }
    s.push_str("</tbody></table></div>");
    if t.total_rows > t.rows.min(MAX_TABLE_ROWS) {
        let _ = write!(
            s,
            r#"<p class="note">Showing the first {} of {} rows of {}.</p>"#,
            fmt_int(t.rows.min(MAX_TABLE_ROWS) as f64),
            fmt_int(t.total_rows as f64),
            esc(&t.name)
        );
    }
    if t.total_rows == 0 {
        s.push_str(r#"<p class="note">The table has no rows.</p>"#);
    }
    s
}

/// Summary columns with a known meaning: everything else in a sweep table is a swept key.
pub(super) fn is_result_column(name: &str) -> bool {
    const KNOWN: [&str; 35] = [
        "scenario",
        "paths",
        "horizon_days",
        "seed",
        "backend",
        "device",
        "p_spiral",
        "p_spiral_se",
        "p_spiral_lo",
        "p_spiral_hi",
        "spiral_day_mean",
        "er_ratio_mean",
        "er_ratio_se",
        "p_er_above_1",
        "p_er_above_1_se",
        "final_price_mean",
        "final_price_se",
        "log_return_mean",
        "log_return_se",
        "max_drawdown_mean",
        "max_drawdown_se",
        "final_circulating_mean",
        "final_circulating_p50",
        "minted_mean",
        "burned_mean",
        "p_breakeven",
        "breakeven_day_p50",
        "nonfinite_paths",
        "path_steps_per_s",
        "simulate_seconds",
        "point",
        "sweep_point",
        "index",
        "run",
        "name",
    ];
    KNOWN.contains(&name)
        || name.ends_with("_clamped")
        || ["spiral_day_p", "er_ratio_p", "final_price_p", "var", "cvar"]
            .iter()
            .any(|p| name.starts_with(p))
}

/// The swept columns of a sweep table: named by `tokenrisk.sweep_keys` metadata when
/// present, else the numeric columns that are not known result columns (dotted keys
/// first).
pub(super) fn swept_columns(t: &Table) -> Vec<String> {
    if let Some(keys) = t.metadata.get("tokenrisk.sweep_keys") {
        let v: Vec<String> = keys
            .split(',')
            .map(|k| k.trim().to_string())
            .filter(|k| t.num(k).is_some())
            .collect();
        // The keys are known: do not guess (a non-numeric key gives no chart).
        return v;
    }
    let mut v: Vec<&str> = t
        .columns
        .iter()
        .filter(|c| matches!(c.data, ColumnData::Num { .. }) && !is_result_column(&c.name))
        .map(|c| c.name.as_str())
        .collect();
    v.sort_by_key(|n| !n.contains('.'));
    v.into_iter().map(str::to_string).collect()
}

/// P(spiral) with its CI against the first swept column, one line per combination of
/// the other swept columns; None when the table lacks what the chart needs.
pub(super) fn sweep_chart(t: &Table) -> Option<String> {
    let p = t.num("p_spiral")?;
    let keys = swept_columns(t);
    let x_key = keys.first()?;
    let x = t.num(x_key)?;
    let others: Vec<&String> = keys[1..]
        .iter()
        .filter(|k| {
            let v = t.num(k).unwrap_or(&[]);
            v.iter()
                .any(|a| a.map(f64::to_bits) != v[0].map(f64::to_bits))
        })
        .collect();
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for r in 0..t.rows {
        let label = others
            .iter()
            .map(|k| format!("{}={}", k, t.f64_at(k, r).map_or(DASH.into(), fmt_si)))
            .collect::<Vec<_>>()
            .join(", ");
        match groups.iter_mut().find(|g| g.0 == label) {
            Some(g) => g.1.push(r),
            None => groups.push((label, vec![r])),
        }
    }
    let shown = groups.len().min(charts::PALETTE);
    let lo = t.num("p_spiral_lo");
    let hi = t.num("p_spiral_hi");
    let series: Vec<Series> = groups
        .iter()
        .take(shown)
        .enumerate()
        .map(|(i, (label, rows))| {
            let mut rows = rows.clone();
            rows.sort_by(|&a, &b| {
                x[a].unwrap_or(f64::NAN)
                    .total_cmp(&x[b].unwrap_or(f64::NAN))
            });
            Series {
                label: if label.is_empty() {
                    "P(spiral)".to_string()
                } else {
                    label.clone()
                },
                color: i,
                points: rows
                    .iter()
                    .map(|&r| (x[r].unwrap_or(f64::NAN), p[r]))
                    .collect(),
                band: match (lo, hi) {
                    (Some(lo), Some(hi)) => Some(
                        rows.iter()
                            .map(|&r| (x[r].unwrap_or(f64::NAN), hi[r], lo[r]))
                            .collect(),
                    ),
                    _ => None,
                },
                dashed: false,
                markers: true,
            }
        })
        .collect();
    let note = (groups.len() > shown)
        .then(|| format!("first {shown} of {} combinations shown", groups.len()));
    let title = format!("P(spiral) against {x_key}");
    Some(line_chart(
        &LineSpec {
            title: &title,
            x_label: x_key,
            y_label: "P(spiral)",
            x_format: TickFormat::Number,
            y_format: TickFormat::Percent,
            y_zero: false,
            allow_log_x: true,
            x_exact: false,
            note: note.as_deref(),
        },
        &series,
    ))
}

/// The label column of a tornado table: a text column with a parameter-like name, else
/// the first text column other than `scenario`.
pub(super) fn label_column(t: &Table) -> Option<&str> {
    let text: Vec<&str> = t
        .columns
        .iter()
        .filter(|c| matches!(c.data, ColumnData::Text(_)) && c.name != "scenario")
        .map(|c| c.name.as_str())
        .collect();
    [
        "parameter",
        "param",
        "key",
        "factor",
        "variable",
        "name",
        "input",
    ]
    .iter()
    .find_map(|want| text.iter().copied().find(|n| n.contains(want)))
    .or_else(|| text.first().copied())
}

/// Rows shown in a tornado chart (the widest swings).
pub(super) const TORNADO_ROWS: usize = 20;

/// Tornado charts of a sensitivity table: for every output `X` with columns `X_low`,
/// `X_high` (the output at the low and high parameter value) and optionally `X_base`,
/// bars from the base to both, sorted by swing; else bars of an `effect*` / `delta*` /
/// `swing*` / `impact*` column from 0. Empty when no such columns exist.
pub(super) fn tornado_charts(t: &Table) -> Vec<String> {
    let Some(label_col) = label_column(t) else {
        return Vec::new();
    };
    let num: Vec<&str> = t
        .columns
        .iter()
        .filter(|c| matches!(c.data, ColumnData::Num { .. }))
        .map(|c| c.name.as_str())
        .collect();
    let label_at = |r: usize| t.text_at(label_col, r).unwrap_or(DASH).to_string();
    // (output stem, low column, high column, base column)
    let triples: Vec<(String, &str, String, Option<String>)> = num
        .iter()
        .filter(|n| n.contains("low") && !n.contains("value"))
        .filter_map(|&l| {
            let h = l.replacen("low", "high", 1);
            let b = l.replacen("low", "base", 1);
            let stem = l
                .replacen("low", "", 1)
                .trim_matches('_')
                .replace("__", "_");
            num.contains(&h.as_str())
                .then(|| (stem, l, h, num.contains(&b.as_str()).then_some(b)))
        })
        .collect();
    let mut charts = Vec::new();
    let effect_se = t.num("effect_p_spiral_se").is_some() && t.num("effect_p_spiral").is_some();
    if effect_se {
        charts.push(effect_chart(t, &label_at));
    }
    for (stem, l, h, b) in &triples {
        if effect_se && stem == "p_spiral" {
            // Drawn as the effect with its error bar above.
            continue;
        }
        let mut bars: Vec<Bar> = (0..t.rows)
            .map(|r| {
                let low = t.f64_at(l, r).unwrap_or(f64::NAN);
                let high = t.f64_at(h, r).unwrap_or(f64::NAN);
                let base = b
                    .as_ref()
                    .and_then(|b| t.f64_at(b, r))
                    .unwrap_or((low + high) / 2.0);
                Bar {
                    label: label_at(r),
                    base,
                    low,
                    high,
                    ..Default::default()
                }
            })
            .collect();
        bars.sort_by(|a, b| (b.high - b.low).abs().total_cmp(&(a.high - a.low).abs()));
        charts.push(tornado(
            stem,
            bars,
            "high parameter value",
            Some("low parameter value"),
        ));
    }
    if charts.is_empty() {
        let effect = ["effect", "delta", "swing", "impact", "diff"]
            .iter()
            .find_map(|w| num.iter().copied().find(|n| n.contains(w)));
        if let Some(e) = effect {
            let mut bars: Vec<Bar> = (0..t.rows)
                .map(|r| Bar {
                    label: label_at(r),
                    high: t.f64_at(e, r).unwrap_or(f64::NAN),
                    ..Default::default()
                })
                .collect();
            bars.sort_by(|a, b| b.high.abs().total_cmp(&a.high.abs()));
            charts.push(tornado(e, bars, e, None));
        }
    }
    charts
}

/// The effect on P(spiral) of raising each parameter (`effect_p_spiral`, high minus low),
/// with its paired 95% interval (+-1.96 `effect_p_spiral_se`) as an error bar; effects
/// within 1.96 SE of zero greyed ([`noise_note`]).
fn effect_chart(t: &Table, label_at: &dyn Fn(usize) -> String) -> String {
    let mut bars: Vec<Bar> = (0..t.rows)
        .map(|r| {
            let e = t.f64_at("effect_p_spiral", r).unwrap_or(f64::NAN);
            let se = t.f64_at("effect_p_spiral_se", r).unwrap_or(f64::NAN);
            Bar {
                label: label_at(r),
                high: e,
                err: se.is_finite().then_some((e - Z95 * se, e + Z95 * se)),
                muted: noise_note(e, se).map(str::to_string),
                ..Default::default()
            }
        })
        .collect();
    bars.sort_by(|a, b| b.high.abs().total_cmp(&a.high.abs()));
    let n = bars.len();
    let noisy = bars.iter().filter(|b| b.muted.is_some()).count();
    bars.truncate(TORNADO_ROWS);
    let mut note = format!("{noisy} of {n} within 1.96 SE of zero (grey)");
    if n > TORNADO_ROWS {
        note = format!("widest {TORNADO_ROWS} of {n}; {note}");
    }
    bar_chart(
        &BarSpec {
            title: "Effect on P(spiral) of raising each parameter",
            x_label: "P(spiral) at the high value minus at the low value, percentage points; error bars: paired 95% CI",
            x_format: TickFormat::Percent,
            high_label: Some("effect"),
            low_label: None,
            note: Some(note),
        },
        &bars,
    )
}

/// The tornado table an analyst reads: rank, parameter, its values, P(spiral) at both
/// sides, the effect with its 95% interval and noise note, the CVaR effect and its rank.
/// None when the table is not one `tokenrisk sensitivity` wrote.
fn tornado_table(t: &Table) -> Option<String> {
    for c in [
        "parameter",
        "low_value",
        "high_value",
        "effect_p_spiral",
        "effect_p_spiral_se",
    ] {
        t.columns.iter().find(|x| x.name == c)?;
    }
    let mut s = String::from(
        r#"<div class="scroll"><table class="data tornado"><thead><tr><th>rank</th><th>parameter<div class="sub">rule</div></th><th>low → high<div class="sub">base</div></th><th>P(spiral) low → high</th><th>effect on P(spiral)<div class="sub">95% CI</div></th><th>effect on CVaR95<div class="sub">its rank</div></th></tr></thead><tbody>"#,
    );
    let num = |c: &str, r: usize| t.f64_at(c, r);
    for r in 0..t.rows.min(MAX_TABLE_ROWS) {
        let e = num("effect_p_spiral", r).unwrap_or(f64::NAN);
        let se = num("effect_p_spiral_se", r).unwrap_or(f64::NAN);
        let noise = noise_note(e, se);
        let _ = write!(
            s,
            r#"<tr{}><td class="n">{}</td><td>{}<div class="sub">{}</div></td>"#,
            if noise.is_some() {
                r#" class="noise""#
            } else {
                ""
            },
            num("rank", r).map_or(DASH.into(), fmt_int),
            esc(t.text_at("parameter", r).unwrap_or(DASH)),
            esc(t.text_at("rule", r).unwrap_or(DASH)),
        );
        let value = |c: &str| num(c, r).map_or(DASH.into(), fmt_value_compact);
        let _ = write!(
            s,
            r#"<td class="n">{} → {}<div class="sub">base {}</div></td>"#,
            esc(&value("low_value")),
            esc(&value("high_value")),
            esc(&value("base_value")),
        );
        let sides = match (num("p_spiral_low", r), num("p_spiral_high", r)) {
            (Some(a), Some(b)) => format!("{} → {}", fmt_pct(a), fmt_pct(b)),
            _ => DASH.into(),
        };
        let _ = write!(
            s,
            r#"<td class="n">{}</td><td class="n">{}{}<div class="sub">{} to {}</div></td><td class="n">{}<div class="sub">{}rank {}</div></td></tr>"#,
            esc(&sides),
            esc(&fmt_pp(e)),
            noise.map_or(String::new(), |n| format!(
                r#" <span class="nz">{}</span>"#,
                esc(n)
            )),
            esc(&fmt_pp(e - Z95 * se)),
            esc(&fmt_pp(e + Z95 * se)),
            esc(&num("effect_cvar95", r).map_or(DASH.into(), |v| format!("{v:+.4}"))),
            // The paired interval where the table has its SE (tables before it: none).
            match (num("effect_cvar95", r), num("effect_cvar95_se", r)) {
                (Some(v), Some(se)) if se.is_finite() =>
                    esc(&format!("{:+.4} to {:+.4}; ", v - Z95 * se, v + Z95 * se)),
                _ => String::new(),
            },
            num("rank_cvar95", r).map_or(DASH.into(), fmt_int),
        );
    }
    s.push_str("</tbody></table></div>");
    let _ = write!(
        s,
        r#"<p class="note">Effects are of raising the parameter from its low to its high value, with common random numbers; the 95% interval is the effect ± 1.96 paired standard errors. "within noise": the interval holds zero (the effect is within 1.96 SE of it), so this run cannot tell it from no effect (run more paths to resolve it). CVaR95 is the 95% CVaR of the horizon log-return as a loss, exact from each variant's paths; its effect's 95% interval is ± 1.96 paired asymptotic SEs (the paths' influence on the CVaR, paired across variants).</p>"#
    );
    Some(s)
}

pub(super) fn tornado(what: &str, mut bars: Vec<Bar>, high: &str, low: Option<&str>) -> String {
    let n = bars.len();
    bars.truncate(TORNADO_ROWS);
    let note = (n > TORNADO_ROWS).then(|| format!("widest {TORNADO_ROWS} of {n}"));
    let probability = what.starts_with("p_");
    let title = format!("Sensitivity of {what} (tornado)");
    bar_chart(
        &BarSpec {
            title: &title,
            x_label: what,
            x_format: if probability {
                TickFormat::Percent
            } else {
                TickFormat::Number
            },
            high_label: Some(high),
            low_label: low,
            note,
        },
        &bars,
    )
}

pub(super) fn extras(out: &mut String, extras: &[Extra]) {
    for e in extras {
        let (id, title, lead) = match e.name.as_str() {
            "comparison.parquet" => (
                "comparison",
                "Design comparison".to_string(),
                "Designs run with common random numbers (comparison.parquet).",
            ),
            "sweep.parquet" => (
                "sweep",
                "Parameter sweep".to_string(),
                "One row per sweep point (sweep.parquet).",
            ),
            "tornado.parquet" => (
                "tornado",
                "Sensitivity".to_string(),
                "Effect of each parameter (tornado.parquet).",
            ),
            other => ("extra", format!("Table {other}"), ""),
        };
        section(out, id, &title);
        if !lead.is_empty() {
            let _ = write!(out, r#"<p class="note">{}</p>"#, esc(lead));
        }
        match &e.table {
            Err(msg) => {
                let _ = write!(out, r#"<p class="warn">{}</p>"#, esc(msg));
            }
            Ok(t) => {
                let charts = match e.name.as_str() {
                    "sweep.parquet" => sweep_chart(t).into_iter().collect(),
                    "tornado.parquet" => tornado_charts(t),
                    _ => Vec::new(),
                };
                if !charts.is_empty() {
                    out.push_str(r#"<div class="grid">"#);
                    for svg in charts {
                        figure(out, &svg, "");
                    }
                    out.push_str("</div>");
                }
                match (e.name.as_str(), tornado_table(t)) {
                    ("tornado.parquet", Some(compact)) => {
                        out.push_str(&compact);
                        let _ = write!(
                            out,
                            "<details><summary>All columns of tornado.parquet</summary>{}</details>",
                            table_html(t)
                        );
                    }
                    _ => out.push_str(&table_html(t)),
                }
            }
        }
        out.push_str("</section>");
    }
}

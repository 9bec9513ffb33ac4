//! HTML assembly: the report page of one run (header, key figures, summary table with
//! intervals and standard errors, charts over time and at the horizon, optional sweep /
//! comparison / tornado sections, any other table, the scenario as run) and the index
//! page of a folder of runs.
//!
//! Invariants:
//! - The page is self-contained: inline CSS and SVG, no script, no external resource.
//! - Every text that comes from the data (names, descriptions, table cells, the TOML) is
//!   escaped; numbers go through the formatters of [`super::format`], so no "NaN" appears.
//! - A table or column the page does not know is shown as a plain table, never an error.

use super::charts::{
    self, bar_chart, fan_chart, histogram, line_chart, Bar, BarSpec, FanData, FanSpec, HistSpec,
    LineSpec, Series,
};
use super::data::{ColumnData, Extra, RunData, Table};
use super::format::{esc, fmt_fraction_fine, fmt_int, fmt_pct, fmt_pct_fine, fmt_si, fmt_sig};
use super::svg::TickFormat;
use crate::stats::{wilson_interval, Z95};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Rows of a table shown in full before it is cut (with a note).
pub const MAX_TABLE_ROWS: usize = 500;

const CSS: &str = r#"
:root{--ink:#1d2433;--muted:#5b6472;--line:#d9dee7;--head:#f3f5f8}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Liberation Sans","DejaVu Sans",sans-serif;color:var(--ink);margin:0 auto;padding:22px 28px 40px;max-width:1560px;line-height:1.45;background:#fff}
h1{font-size:27px;margin:0 0 2px}
h2{font-size:19px;margin:30px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:18px 0 6px}
p{margin:6px 0}
.kicker{color:var(--muted);font-size:13px;text-transform:uppercase;letter-spacing:.06em}
.desc{font-size:16px;margin:4px 0 14px;max-width:75em}
.muted,.note{color:var(--muted);font-size:13px}
.warn{background:#fff4e5;border:1px solid #f0c27b;border-radius:6px;padding:8px 12px;font-size:14px}
dl.meta{display:grid;grid-template-columns:max-content minmax(0,1fr) max-content minmax(0,1fr);gap:3px 16px;font-size:14px;margin:0;max-width:1100px}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0;overflow-wrap:anywhere}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:6px 0 4px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:230px;flex:1 1 230px;max-width:360px}
.card .k{font-size:13px;color:var(--muted)}.card .v{font-size:26px;font-weight:650;font-variant-numeric:tabular-nums}.card .s{font-size:13px;color:var(--muted)}
table{border-collapse:collapse;font-size:13.5px}
th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:var(--head);font-weight:600;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.data td{white-space:nowrap}
td.null{color:#a0a7b3;text-align:center}
tr.group td{background:#fafbfc;font-weight:600;color:var(--muted);font-size:12.5px;text-transform:uppercase;letter-spacing:.04em}
.scroll{overflow-x:auto;max-width:100%}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px 22px;align-items:start}
figure{margin:0}
figcaption{font-size:12.5px;color:var(--muted);margin:2px 6px 0}
svg.chart{width:100%;max-width:720px;height:auto;display:block;font-family:inherit;overflow:visible}
svg .title{font-size:15px;font-weight:650;fill:var(--ink)}
svg .tick{font-size:12px;fill:#4a5260}
svg .label{font-size:12.5px;fill:#30363f}
svg .legend{font-size:12px;fill:#30363f}
svg .note{font-size:12px;fill:var(--muted)}
svg .nodata{font-size:15px;fill:var(--muted)}
svg line{stroke-width:2}
svg path{fill:none;stroke-width:2;stroke-linejoin:round}
svg .grid{stroke:#e7eaf0;stroke-width:1}
svg .axis{stroke:#8a93a3;stroke-width:1}
svg .ref{stroke:#6b7280;stroke-width:1.2;stroke-dasharray:4 3}
svg .marker{stroke:#c23b3b;stroke-width:1.6;stroke-dasharray:5 3}
svg .empty{fill:#fafbfc;stroke:#d0d5dd;stroke-dasharray:4 4}
svg .outer{fill-opacity:.17}svg .inner{fill-opacity:.34}
svg .median{stroke-width:2.2}svg .mean{stroke-width:1.7;stroke-dasharray:6 4}
svg .dash{stroke-dasharray:6 4}svg .ci{fill-opacity:.16}svg .bar{fill-opacity:.85}svg .dot{stroke:#fff;stroke-width:1}
svg .c0{stroke:#2f6db5}svg .f0{fill:#2f6db5}
svg .c1{stroke:#e07b1a}svg .f1{fill:#e07b1a}
svg .c2{stroke:#c23b3b}svg .f2{fill:#c23b3b}
svg .c3{stroke:#7b4fa6}svg .f3{fill:#7b4fa6}
svg .c4{stroke:#2e9a5b}svg .f4{fill:#2e9a5b}
svg .c5{stroke:#8c6d31}svg .f5{fill:#8c6d31}
svg .c6{stroke:#d15fa8}svg .f6{fill:#d15fa8}
svg .c7{stroke:#5f6b7a}svg .f7{fill:#5f6b7a}
details summary{cursor:pointer;color:var(--muted)}
pre{background:#f6f8fa;border:1px solid var(--line);border-radius:6px;padding:10px 12px;font-size:12.5px;overflow-x:auto;max-height:560px}
footer{margin-top:34px;color:var(--muted);font-size:12.5px;border-top:1px solid var(--line);padding-top:8px}
a{color:#2f6db5}
"#;

/// A metric of `timeseries.parquet` drawn as a fan chart.
struct Fan {
    metric: &'static str,
    title: &'static str,
    unit: &'static str,
    format: TickFormat,
    /// A labelled horizontal reference line.
    reference: Option<(f64, &'static str)>,
}

const fn fan(metric: &'static str, title: &'static str, unit: &'static str) -> Fan {
    Fan {
        metric,
        title,
        unit,
        format: TickFormat::Number,
        reference: None,
    }
}

/// The fan charts, in page order.
const FANS: [Fan; 10] = [
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
const SPIRAL_METRICS: [&str; 2] = ["in_spiral", "ever_spiraled"];

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
         from the run's Parquet files. Quantiles are lower sample quantiles read from \
         log-bucketed histograms (within 0.5% relative); standard errors are Monte Carlo \
         standard errors; VaR and CVaR are positive losses. Number suffixes: k = 10^3, \
         M = 10^6, B = 10^9, T = 10^12; 5e-3 = 0.005.</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        esc(title),
        env!("CARGO_PKG_VERSION"),
    )
}

/// One row of the summary table.
struct Row {
    figure: String,
    estimate: String,
    interval: String,
    se: String,
    meaning: String,
}

fn row(
    figure: impl Into<String>,
    estimate: String,
    interval: String,
    se: String,
    meaning: impl Into<String>,
) -> Row {
    Row {
        figure: figure.into(),
        estimate,
        interval,
        se,
        meaning: meaning.into(),
    }
}

const DASH: &str = "–";

/// Reads figures of the first summary row.
struct Sum<'a> {
    t: &'a Table,
}

impl Sum<'_> {
    fn get(&self, name: &str) -> Option<f64> {
        self.t.f64_at(name, 0).filter(|v| !v.is_nan())
    }
    /// A number with `sig` significant digits, "–" when absent.
    fn sig(&self, name: &str, sig: usize) -> String {
        self.get(name).map_or(DASH.into(), |v| fmt_sig(v, sig))
    }
    fn pct(&self, name: &str) -> String {
        self.get(name).map_or(DASH.into(), fmt_pct)
    }
    /// "p05 – p95" of a quantile family, formatted by `f`.
    fn range(&self, stem: &str, f: impl Fn(f64) -> String) -> String {
        match (
            self.get(&format!("{stem}_p05")),
            self.get(&format!("{stem}_p95")),
        ) {
            (Some(a), Some(b)) => format!("p05–p95: {} to {}", f(a), f(b)),
            _ => DASH.into(),
        }
    }
}

/// VaR levels present in the summary, as their column labels ("95", "99", "97_5").
fn var_labels(t: &Table) -> Vec<String> {
    let mut v: Vec<(f64, String)> = t
        .columns
        .iter()
        .filter_map(|c| {
            let l = c.name.strip_prefix("var")?.strip_suffix("_return")?;
            let level: f64 = l.replace('_', ".").parse().ok()?;
            Some((level, l.to_string()))
        })
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v.into_iter().map(|(_, l)| l).collect()
}

fn level_text(label: &str) -> String {
    format!("{}%", label.replace('_', "."))
}

/// The price move a log-return loss stands for: "price down 99.99%" (or "price up 2.78%"
/// for a negative loss).
fn price_fall(loss: Option<f64>) -> String {
    loss.map_or(String::new(), |l| {
        let fall = 1.0 - (-l).exp();
        if fall >= 0.0 {
            format!("price down {}", fmt_pct_fine(fall))
        } else {
            format!("price up {}", fmt_pct_fine(-fall))
        }
    })
}

/// The price change a log-return loss stands for, signed: "−99.99%", "+2.78%".
fn price_change(loss: f64) -> String {
    let change = (-loss).exp() - 1.0;
    if change < 0.0 {
        format!("−{}", fmt_pct_fine(-change))
    } else {
        format!("+{}", fmt_pct_fine(change))
    }
}

/// The rows of the summary table, in groups (group title, rows).
fn summary_rows(run: &RunData) -> Vec<(String, Vec<Row>)> {
    let s = Sum { t: &run.summary };
    let horizon = s
        .get("horizon_days")
        .map_or("the horizon".to_string(), |h| format!("day {}", fmt_int(h)));
    let mut groups = Vec::new();

    let mut spiral = vec![row(
        format!("P(spiral by {horizon})"),
        s.pct("p_spiral"),
        match (s.get("p_spiral_lo"), s.get("p_spiral_hi")) {
            (Some(a), Some(b)) => format!("95% CI {} to {} (Wilson)", fmt_pct(a), fmt_pct(b)),
            _ => DASH.into(),
        },
        s.pct("p_spiral_se"),
        "share of paths that entered a demand spiral",
    )];
    let spiraled = s.get("p_spiral").is_some_and(|p| p > 0.0);
    spiral.push(row(
        "Time to spiral (day of onset)",
        if spiraled {
            s.get("spiral_day_p50").map_or(DASH.into(), fmt_int)
        } else {
            DASH.into()
        },
        if spiraled {
            s.range("spiral_day", fmt_int)
        } else {
            DASH.into()
        },
        DASH.into(),
        if spiraled {
            format!(
                "median day; mean {} (spiraled paths only)",
                s.sig("spiral_day_mean", 4)
            )
        } else {
            "no path spiraled".into()
        },
    ));
    groups.push(("Demand spiral".to_string(), spiral));

    let mut tail = Vec::new();
    for l in var_labels(&run.summary) {
        let lv = level_text(&l);
        for (kind, what) in [("var", "VaR"), ("cvar", "CVaR")] {
            let name = format!("{kind}{l}_return");
            tail.push(row(
                format!("{lv} {what} of the log-return"),
                s.sig(&name, 4),
                price_fall(s.get(&name)),
                DASH.into(),
                if kind == "var" {
                    format!(
                        "loss −ln(P_H/P_0) exceeded on {} of paths",
                        level_text_rest(&l)
                    )
                } else {
                    format!("mean loss over the worst {} of paths", level_text_rest(&l))
                },
            ));
        }
        for (kind, what) in [("var", "VaR"), ("cvar", "CVaR")] {
            let name = format!("{kind}{l}_drawdown");
            tail.push(row(
                format!("{lv} {what} of the maximum drawdown"),
                s.get(&name).map_or(DASH.into(), fmt_fraction_fine),
                s.get(&name).map_or(String::new(), |d| {
                    format!("price {} below its peak", fmt_pct_fine(d))
                }),
                DASH.into(),
                if kind == "var" {
                    format!("{lv} quantile of the largest fall from a running peak")
                } else {
                    format!("mean of the worst {} of drawdowns", level_text_rest(&l))
                },
            ));
        }
    }
    tail.push(row(
        "Log-return ln(P_H/P_0), mean",
        s.sig("log_return_mean", 4),
        mean_ci(s.get("log_return_mean"), s.get("log_return_se"), |v| {
            fmt_sig(v, 4)
        }),
        s.sig("log_return_se", 3),
        "",
    ));
    tail.push(row(
        "Maximum drawdown, mean",
        s.sig("max_drawdown_mean", 4),
        mean_ci(s.get("max_drawdown_mean"), s.get("max_drawdown_se"), |v| {
            fmt_sig(v, 4)
        }),
        s.sig("max_drawdown_se", 3),
        "",
    ));
    groups.push((
        "Price tail risk (VaR and CVaR are positive losses)".to_string(),
        tail,
    ));

    let er = vec![
        row(
            "Emissions-to-revenue ratio, median",
            s.sig("er_ratio_p50", 4),
            s.range("er_ratio", |v| fmt_sig(v, 4)),
            DASH.into(),
            "per path: cumulative emission USD / cumulative revenue",
        ),
        row(
            "Emissions-to-revenue ratio, mean",
            s.sig("er_ratio_mean", 4),
            mean_ci(s.get("er_ratio_mean"), s.get("er_ratio_se"), |v| {
                fmt_sig(v, 4)
            }),
            s.sig("er_ratio_se", 3),
            "",
        ),
        row(
            "P(emissions-to-revenue > 1)",
            s.pct("p_er_above_1"),
            mean_ci(s.get("p_er_above_1"), s.get("p_er_above_1_se"), fmt_pct),
            s.pct("p_er_above_1_se"),
            "share of paths whose emissions outran revenue",
        ),
        breakeven_row(run, &s),
    ];
    groups.push(("Sustainability".to_string(), er));

    let usd = |v: f64| format!("{} USD", fmt_sig(v, 4));
    let mut price = vec![
        row(
            "Final price, median",
            s.get("final_price_p50").map_or(DASH.into(), usd),
            s.range("final_price", usd),
            DASH.into(),
            "",
        ),
        row(
            "Final price, mean",
            s.get("final_price_mean").map_or(DASH.into(), usd),
            mean_ci(s.get("final_price_mean"), s.get("final_price_se"), usd),
            s.get("final_price_se").map_or(DASH.into(), usd),
            "",
        ),
        row(
            "Final circulating supply, mean",
            s.get("final_circulating_mean")
                .map_or(DASH.into(), |v| format!("{} tokens", fmt_si(v))),
            s.get("final_circulating_p50")
                .map_or(DASH.into(), |v| format!("median {} tokens", fmt_si(v))),
            DASH.into(),
            "",
        ),
        row(
            "Tokens minted / burned, mean",
            format!(
                "{} / {}",
                s.get("minted_mean").map_or(DASH.into(), fmt_si),
                s.get("burned_mean").map_or(DASH.into(), fmt_si)
            ),
            String::new(),
            DASH.into(),
            "over the horizon, per path",
        ),
    ];
    if let Some(n) = s.get("nonfinite_paths").filter(|&n| n > 0.0) {
        price.push(row(
            "Paths with non-finite values",
            fmt_int(n),
            String::new(),
            DASH.into(),
            "excluded from histograms and means",
        ));
    }
    groups.push(("Price and supply at the horizon".to_string(), price));
    groups
}

/// "5%" for level label "95" (the tail beyond the level).
fn level_text_rest(label: &str) -> String {
    let level: f64 = label.replace('_', ".").parse().unwrap_or(95.0);
    format!("{}%", fmt_si(100.0 - level))
}

/// "95% CI a to b" for a mean and its standard error.
fn mean_ci(mean: Option<f64>, se: Option<f64>, f: impl Fn(f64) -> String) -> String {
    match (mean, se) {
        (Some(m), Some(se)) if m.is_finite() && se.is_finite() => {
            format!("95% CI {} to {}", f(m - Z95 * se), f(m + Z95 * se))
        }
        _ => DASH.into(),
    }
}

fn breakeven_row(run: &RunData, s: &Sum) -> Row {
    let p = s.get("p_breakeven");
    let n = run.paths.paths;
    let (interval, se) = match (run.paths.breakeven, p) {
        (Some(k), _) if n > 0 => {
            let (lo, hi) = wilson_interval(k.min(n), n, Z95);
            let q = k as f64 / n as f64;
            (
                format!("95% CI {} to {} (Wilson)", fmt_pct(lo), fmt_pct(hi)),
                fmt_pct((q * (1.0 - q) / n as f64).sqrt()),
            )
        }
        _ => (DASH.into(), DASH.into()),
    };
    let day = s.get("breakeven_day_p50").map_or(String::new(), |d| {
        format!("; median breakeven day {}", fmt_int(d))
    });
    row(
        "Breakeven share",
        p.map_or(DASH.into(), fmt_pct),
        interval,
        se,
        format!("paths whose trailing revenue covered trailing emissions at some day{day}"),
    )
}

fn summary_table(run: &RunData) -> String {
    let mut s = String::from(
        r#"<div class="scroll"><table class="summary"><thead><tr><th>Figure</th><th>Estimate</th><th>Interval or range</th><th>Std. error</th><th>Meaning</th></tr></thead><tbody>"#,
    );
    for (group, rows) in summary_rows(run) {
        let _ = write!(
            s,
            r#"<tr class="group"><td colspan="5">{}</td></tr>"#,
            esc(&group)
        );
        for r in rows {
            let _ = write!(
                s,
                r#"<tr><td>{}</td><td class="n">{}</td><td>{}</td><td class="n">{}</td><td class="muted">{}</td></tr>"#,
                esc(&r.figure),
                esc(&r.estimate),
                esc(&r.interval),
                esc(&r.se),
                esc(&r.meaning)
            );
        }
    }
    s.push_str("</tbody></table></div>");
    s
}

fn cards(run: &RunData) -> String {
    let s = Sum { t: &run.summary };
    let horizon = s
        .get("horizon_days")
        .map_or(String::new(), |h| format!(" by day {}", fmt_int(h)));
    let mut cards: Vec<(String, String, String)> = vec![(
        format!("P(spiral{horizon})"),
        s.pct("p_spiral"),
        match (s.get("p_spiral_lo"), s.get("p_spiral_hi")) {
            (Some(a), Some(b)) => format!("95% CI {} to {}", fmt_pct(a), fmt_pct(b)),
            _ => String::new(),
        },
    )];
    if let Some(l) = var_labels(&run.summary).first() {
        let v = s.get(&format!("var{l}_return"));
        cards.push((
            format!("{} VaR of the price", level_text(l)),
            v.map_or(DASH.into(), price_change),
            v.map_or(String::new(), |v| {
                format!("log-return loss {}", fmt_sig(v, 4))
            }),
        ));
    }
    cards.push((
        "Emissions-to-revenue, median".into(),
        s.sig("er_ratio_p50", 3),
        format!("P(ratio > 1) {}", s.pct("p_er_above_1")),
    ));
    cards.push((
        "Final price, median".into(),
        s.get("final_price_p50")
            .map_or(DASH.into(), |v| format!("{} USD", fmt_sig(v, 3))),
        match (s.get("final_price_mean"), s.get("final_price_se")) {
            (Some(m), Some(se)) => format!("mean {} ± {} USD", fmt_sig(m, 4), fmt_sig(se, 2)),
            _ => String::new(),
        },
    ));
    let mut out = String::from(r#"<div class="cards">"#);
    for (k, v, sub) in cards {
        let _ = write!(
            out,
            r#"<div class="card"><div class="k">{}</div><div class="v">{}</div><div class="s">{}</div></div>"#,
            esc(&k),
            esc(&v),
            esc(&sub)
        );
    }
    out.push_str("</div>");
    out
}

/// The rows of `timeseries.parquet` per metric, ordered by day (only the rows of
/// `scenario` when the table holds several scenarios).
fn metric_rows(ts: &Table, scenario: Option<&str>) -> BTreeMap<String, Vec<usize>> {
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

fn fan_data(ts: &Table, rows: &[usize]) -> FanData {
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
fn spiral_chart(ts: &Table, by: &BTreeMap<String, Vec<usize>>, p_spiral: Option<f64>) -> String {
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
    line_chart(
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
    )
}

fn over_time(out: &mut String, run: &RunData, scenario: Option<&str>) {
    let ts = &run.timeseries;
    let by = metric_rows(ts, scenario);
    section(out, "over-time", "Over time");
    out.push_str(
        r#"<p class="note">Across all paths at each report day: the darker band holds the middle half of the paths (p25–p75), the lighter one 90% of them (p05–p95); the solid line is the median, the dashed line the mean. A log scale is used where values span more than two decades.</p><div class="grid">"#,
    );
    let p_spiral = run.summary.f64_at("p_spiral", 0);
    figure(out, &spiral_chart(ts, &by, p_spiral), "");
    for f in &FANS {
        let svg = match by.get(f.metric) {
            Some(rows) => fan_chart(
                &FanSpec {
                    title: f.title,
                    unit: f.unit,
                    format: f.format,
                    reference: f.reference,
                },
                &fan_data(ts, rows),
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
        let svg = fan_chart(
            &FanSpec {
                title: metric,
                unit: "value",
                format: TickFormat::Number,
                reference: None,
            },
            &fan_data(ts, rows),
        );
        figure(out, &svg, "");
    }
    out.push_str("</div></section>");
}

fn at_horizon(out: &mut String, run: &RunData) {
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

fn cell(data: &ColumnData, i: usize) -> (String, &'static str) {
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
fn is_result_column(name: &str) -> bool {
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
        || ["spiral_day_p", "er_ratio_p", "final_price_p", "var", "cvar"]
            .iter()
            .any(|p| name.starts_with(p))
}

/// The swept columns of a sweep table: named by `tokenrisk.sweep_keys` metadata when
/// present, else the numeric columns that are not known result columns (dotted keys
/// first).
fn swept_columns(t: &Table) -> Vec<String> {
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
fn sweep_chart(t: &Table) -> Option<String> {
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
fn label_column(t: &Table) -> Option<&str> {
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
const TORNADO_ROWS: usize = 20;

/// Tornado charts of a sensitivity table: for every output `X` with columns `X_low`,
/// `X_high` (the output at the low and high parameter value) and optionally `X_base`,
/// bars from the base to both, sorted by swing; else bars of an `effect*` / `delta*` /
/// `swing*` / `impact*` column from 0. Empty when no such columns exist.
fn tornado_charts(t: &Table) -> Vec<String> {
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
    for (stem, l, h, b) in &triples {
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
                    base: 0.0,
                    low: 0.0,
                    high: t.f64_at(e, r).unwrap_or(f64::NAN),
                })
                .collect();
            bars.sort_by(|a, b| b.high.abs().total_cmp(&a.high.abs()));
            charts.push(tornado(e, bars, e, None));
        }
    }
    charts
}

fn tornado(what: &str, mut bars: Vec<Bar>, high: &str, low: Option<&str>) -> String {
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

fn extras(out: &mut String, extras: &[Extra]) {
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
                out.push_str(&table_html(t));
            }
        }
        out.push_str("</section>");
    }
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
    let device = meta
        .get("tokenrisk.device")
        .cloned()
        .or_else(|| run.summary.text_at("device", 0).map(str::to_string))
        .or(m.map(|m| m.device.clone()))
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
    if let Some(secs) = s.get("simulate_seconds") {
        let rate = s
            .get("path_steps_per_s")
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
    extras(&mut body, &run.extras);
    scenario_source(&mut body, run);
    document(&format!("{name}: tokenrisk report"), &body)
}

/// The index page of a folder of runs: a table of their key figures with links to their
/// reports, and the folder's own tables (comparison, sweep, tornado, others).
pub fn index_page(
    dir_name: &str,
    runs: &[(String, String, Option<Table>)],
    own: &[Extra],
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
    if !runs.is_empty() {
        section(&mut body, "runs", "Runs");
        body.push_str(
            r#"<div class="scroll"><table class="data"><thead><tr><th>run</th><th>P(spiral)</th><th>95% CI</th><th>95% VaR, price change</th><th>emissions-to-revenue, median</th><th>final price, median</th></tr></thead><tbody>"#,
        );
    }
    for (name, link, summary) in runs {
        let cells: [String; 5] = match summary {
            Some(t) => {
                let s = Sum { t };
                [
                    s.pct("p_spiral"),
                    match (s.get("p_spiral_lo"), s.get("p_spiral_hi")) {
                        (Some(a), Some(b)) => format!("{} to {}", fmt_pct(a), fmt_pct(b)),
                        _ => DASH.into(),
                    },
                    s.get("var95_return").map_or(DASH.into(), price_change),
                    s.sig("er_ratio_p50", 4),
                    s.get("final_price_p50")
                        .map_or(DASH.into(), |v| format!("{} USD", fmt_sig(v, 4))),
                ]
            }
            None => Default::default(),
        };
        let _ = write!(
            body,
            r#"<tr><td><a href="{}">{}</a></td>"#,
            esc(link),
            esc(name)
        );
        for c in cells {
            let _ = write!(body, r#"<td class="n">{}</td>"#, esc(&c));
        }
        body.push_str("</tr>");
    }
    if !runs.is_empty() {
        body.push_str("</tbody></table></div></section>");
    }
    extras(&mut body, own);
    document(&format!("{dir_name}: tokenrisk report"), &body)
}

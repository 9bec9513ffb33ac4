//! The backtest page (`backtest.html`, written by `tokenrisk backtest` and rebuilt by
//! `tokenrisk report DIR` on its folder): the verdict on coverage first, then the forecast
//! fans at each origin against the realised path, the PIT histogram with its uniform band,
//! the coverage table, the scores, and every origin's row.
//!
//! Built from the folder's files alone (`backtest.parquet`, `observed.parquet`), so it can be
//! rebuilt anywhere. The summary figures come from `stats::score::BacktestSummary::of` on the
//! table's columns: the same function the command prints from, so page and terminal agree.
//! The charts are drawn here with `report::svg`'s primitives (dates on the x axis, which the
//! shared chart kinds do not have).

use super::{document, figure, section, table_html};
use crate::output::backtest::{BACKTEST_FILE, BACKTEST_PAGE, OBSERVED_FILE};
use crate::report::charts::{self, WIDTH};
use crate::report::data::{read_table, ColumnData, Table};
use crate::report::format::{esc, fmt_int, fmt_pct, fmt_sig, DASH};
use crate::report::svg::{line, polyline, px, rect, text, Axis, TickFormat};
use crate::stats::score::{BacktestSummary, Coverage};
use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Whether `dir` holds a backtest (its `backtest.parquet`).
pub fn is_backtest_dir(dir: &Path) -> bool {
    dir.join(BACKTEST_FILE).is_file()
}

/// Rebuilds `dir/backtest.html` from the folder's tables; returns its path.
pub fn write_backtest_page(dir: &Path) -> Result<PathBuf> {
    let _lock = crate::output::folder::Lock::acquire(dir)?;
    let html = render(dir).with_context(|| format!("cannot report on {}", dir.display()))?;
    let out = dir.join(BACKTEST_PAGE);
    crate::output::write_atomic_bytes(&out, html.as_bytes())?;
    Ok(out)
}

/// One origin as the page reads it.
struct Origin {
    origin: NaiveDate,
    target: NaiveDate,
    origin_price: f64,
    realized: f64,
    q: [f64; 5],
    pit: f64,
    in50: bool,
    in90: bool,
    crps: f64,
    log_score: f64,
}

fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn bool_at(t: &Table, name: &str, row: usize) -> Option<bool> {
    match &t.column(name)?.data {
        ColumnData::Bool(v) => v.get(row).copied().flatten(),
        _ => None,
    }
}

fn origins(t: &Table) -> Result<Vec<Origin>> {
    let mut out = Vec::with_capacity(t.rows);
    for r in 0..t.rows {
        let num = |c: &str| {
            t.f64_at(c, r)
                .with_context(|| format!("{}: row {}: no number in column {c}", t.name, r + 1))
        };
        let day = |c: &str| {
            t.text_at(c, r)
                .and_then(date)
                .with_context(|| format!("{}: row {}: no date in column {c}", t.name, r + 1))
        };
        let flag = |c: &str| {
            bool_at(t, c, r)
                .with_context(|| format!("{}: row {}: no boolean in column {c}", t.name, r + 1))
        };
        out.push(Origin {
            origin: day("origin")?,
            target: day("target")?,
            origin_price: num("origin_price")?,
            realized: num("realized_price")?,
            q: [
                num("forecast_p05")?,
                num("forecast_p25")?,
                num("forecast_median")?,
                num("forecast_p75")?,
                num("forecast_p95")?,
            ],
            pit: num("pit")?,
            in50: flag("in50")?,
            in90: flag("in90")?,
            crps: num("crps_log")?,
            log_score: num("log_score")?,
        });
    }
    Ok(out)
}

/// The page of the backtest in `dir`, as HTML.
pub fn render(dir: &Path) -> Result<String> {
    let t = read_table(&dir.join(BACKTEST_FILE), None)?;
    let observed = read_table(&dir.join(OBSERVED_FILE), None)?;
    let rows = origins(&t)?;
    if rows.is_empty() {
        bail!("{}: no origins", t.name);
    }
    let meta = |k: &str| t.metadata.get(k).cloned().unwrap_or_else(|| DASH.into());
    let num_meta = |k: &str| t.metadata.get(k).and_then(|v| v.parse::<u32>().ok());
    let (Some(every), Some(horizon)) = (
        num_meta("tokenrisk.backtest.every_days"),
        num_meta("tokenrisk.backtest.horizon_days"),
    ) else {
        bail!(
            "{}: no tokenrisk.backtest.every_days / horizon_days metadata (not written by \
             `tokenrisk backtest`)",
            t.name
        );
    };
    let summary = BacktestSummary::of(
        &rows.iter().map(|o| o.pit).collect::<Vec<_>>(),
        &rows.iter().map(|o| o.in50).collect::<Vec<_>>(),
        &rows.iter().map(|o| o.in90).collect::<Vec<_>>(),
        &rows.iter().map(|o| o.crps).collect::<Vec<_>>(),
        &rows.iter().map(|o| o.log_score).collect::<Vec<_>>(),
        every,
        horizon,
    );
    let path: Vec<(NaiveDate, f64)> = (0..observed.rows)
        .filter_map(|r| {
            Some((
                observed.text_at("date", r).and_then(date)?,
                observed.f64_at("price", r)?,
            ))
        })
        .collect();
    let name = meta("tokenrisk.scenario");
    let mut body = String::new();
    let recal = meta("tokenrisk.backtest.recalibrate");
    let _ = write!(
        body,
        r#"<header><div class="kicker">tokenrisk backtest</div><h1>{}</h1><p class="desc">{}</p><dl class="meta">"#,
        esc(&name),
        esc(&format!(
            "The scenario's forecast of the price {horizon} days ahead, made at {} origins \
             from {} to {} and scored against the price that was then observed.",
            rows.len(),
            rows[0].origin,
            rows[rows.len() - 1].origin
        ))
    );
    let sha = meta("tokenrisk.backtest.prices_sha256");
    let items = [
        (
            "Prices",
            format!(
                "{} (SHA-256 {})",
                meta("tokenrisk.backtest.prices_file"),
                sha.chars().take(16).collect::<String>()
            ),
        ),
        (
            "Origins",
            format!(
                "{} origins, every {every} days; horizon {horizon} days ({})",
                rows.len(),
                if summary.overlapping() {
                    "windows overlap"
                } else {
                    "windows do not overlap"
                }
            ),
        ),
        (
            "Paths",
            format!(
                "{} per origin, seed {} at every origin (common random numbers)",
                t.metadata
                    .get("tokenrisk.paths")
                    .and_then(|p| p.parse::<f64>().ok())
                    .map_or(DASH.into(), fmt_int),
                meta("tokenrisk.seed")
            ),
        ),
        (
            "Market",
            if recal == "no" {
                "the scenario's own [market] at every origin (no --recalibrate)".to_string()
            } else {
                format!(
                    "refitted at each origin on the prices up to it only (--recalibrate, model {recal})"
                )
            },
        ),
        ("Engine", meta("tokenrisk.engine")),
    ];
    for (k, v) in items {
        let _ = write!(body, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    }
    body.push_str("</dl></header>");

    section(&mut body, "verdict", "Do the intervals hold?");
    let _ = write!(
        body,
        r#"<p class="conclusion">{}</p><p class="conclusion">{}</p>"#,
        esc(&coverage_sentence(&summary.coverage90, "90%")),
        esc(&coverage_sentence(&summary.coverage50, "50%"))
    );
    let _ = write!(
        body,
        r#"<p class="note">{}</p></section>"#,
        esc(&ks_sentence(&summary))
    );

    section(&mut body, "fans", "Forecasts against what happened");
    figure(
        &mut body,
        &fan_chart(&rows, &path),
        "Each origin's forecast of the price at its target date: the 5-95% range (light), \
         25-75% (dark) and median (line), drawn as straight lines in log price from the \
         observed price at the origin to the forecast quantiles at the target (the quantiles \
         between are not computed). The black line is the observed price; a dot marks the \
         realised price at each target, red where it fell outside the 90% interval. Log price \
         axis.",
    );
    body.push_str("</section>");

    section(&mut body, "pit", "PIT histogram");
    figure(
        &mut body,
        &pit_chart(&summary),
        &format!(
            "The realised price's rank among the simulated ones (PIT, mid-rank for ties) at each \
             origin, in ten bins. A calibrated forecast gives a flat histogram: the grey band is \
             the 95% range of a bin's count under uniform PIT values (binomial, n = {}, p = 0.1, \
             normal approximation{}). A U shape means the intervals are too narrow, a hump too \
             wide, a slope a biased drift.",
            summary.n,
            if summary.overlapping() {
                "; overlapping windows make the counts vary more than this"
            } else {
                ""
            }
        ),
    );
    body.push_str("</section>");

    section(&mut body, "coverage", "Coverage");
    body.push_str(&coverage_table(&summary));
    body.push_str("</section>");

    section(&mut body, "scores", "Scores");
    body.push_str(&scores_table(&summary));
    body.push_str("</section>");

    section(&mut body, "origins", "Every origin");
    let _ = write!(
        body,
        r#"<p class="note">{}: one row per origin. Forecast quantiles are lower sample quantiles of the simulated price at the target (exact, from every path). crps_log and log_score score the log price; fitted_* are the market refitted at the origin (with --recalibrate).</p>"#,
        esc(BACKTEST_FILE)
    );
    body.push_str(&table_html(&t));
    body.push_str("</section>");
    Ok(document(&format!("{name}: tokenrisk backtest"), &body))
}

fn coverage_sentence(c: &Coverage, level: &str) -> String {
    let verdict = if c.consistent() {
        "consistent with the nominal level"
    } else if c.rate < c.nominal {
        "fewer than nominal: the forecast is too narrow (or biased)"
    } else {
        "more than nominal: the forecast is too wide"
    };
    format!(
        "The central {level} interval held the realised price at {} of {} origins ({}; 95% CI \
         {} to {} on {} effective windows): {verdict}.",
        c.hits,
        c.n,
        fmt_pct(c.rate),
        fmt_pct(c.lo),
        fmt_pct(c.hi),
        fmt_sig(c.n_eff, 3)
    )
}

fn ks_sentence(s: &BacktestSummary) -> String {
    let mut t = format!(
        "PIT uniformity: Kolmogorov-Smirnov D = {} on {} origins, p = {} (asymptotic, \
         Stephens' correction)",
        fmt_sig(s.ks.d, 3),
        s.ks.n,
        fmt_sig(s.ks.p_value, 2)
    );
    if s.ks_stride > 1 {
        let _ = write!(
            t,
            "; only one origin in {} is tested (origins {} days apart), so that the tested \
             windows do not overlap",
            s.ks_stride,
            s.ks_stride as u32 * s.every
        );
    }
    t.push('.');
    if s.overlapping() {
        t.push_str(
            " Intervals of coverage count the overlapping origins as n × every / horizon \
             independent windows, an approximation.",
        );
    }
    if s.ks.n < 10 {
        t.push_str(" With fewer than 10 origins tested the test has little power.");
    }
    t
}

fn coverage_table(s: &BacktestSummary) -> String {
    let mut out = String::from(
        r#"<div class="scroll"><table class="data"><thead><tr><th>central interval</th><th>hits</th><th>observed coverage</th><th>95% interval</th><th>effective windows</th><th>against nominal</th></tr></thead><tbody>"#,
    );
    for c in [&s.coverage50, &s.coverage90] {
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td class="n">{} of {}</td><td class="n">{}</td><td class="n">{} to {}</td><td class="n">{}</td><td>{}</td></tr>"#,
            esc(&fmt_pct(c.nominal)),
            c.hits,
            c.n,
            esc(&fmt_pct(c.rate)),
            esc(&fmt_pct(c.lo)),
            esc(&fmt_pct(c.hi)),
            esc(&fmt_sig(c.n_eff, 3)),
            if c.consistent() {
                "consistent"
            } else if c.rate < c.nominal {
                "below nominal"
            } else {
                "above nominal"
            }
        );
    }
    out.push_str("</tbody></table></div>");
    let _ = write!(
        out,
        r#"<p class="note">A hit: the realised price lies between the forecast's lower sample quantiles at (1 − level)/2 and (1 + level)/2. Wilson score 95% interval of the hit rate, on {} effective windows ({}).</p>"#,
        esc(&fmt_sig(s.n_eff, 3)),
        if s.overlapping() {
            format!(
                "the {} origins are {} days apart with {}-day horizons, so they are counted as n × {} / {} independent windows",
                s.n, s.every, s.horizon, s.every, s.horizon
            )
        } else {
            "the windows do not overlap".to_string()
        }
    );
    out
}

fn scores_table(s: &BacktestSummary) -> String {
    let mut out = String::from(
        r#"<div class="scroll"><table class="data"><thead><tr><th>score</th><th>mean over origins</th><th>95% CI</th></tr></thead><tbody>"#,
    );
    for (label, (m, se)) in [
        ("CRPS of the log price (lower is better)", s.crps),
        ("log score, −ln density (lower is better)", s.log_score),
    ] {
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{} to {}</td></tr>"#,
            esc(label),
            esc(&fmt_sig(m, 3)),
            esc(&fmt_sig(m - crate::stats::Z95 * se, 3)),
            esc(&fmt_sig(m + crate::stats::Z95 * se, 3)),
        );
    }
    let _ = write!(
        out,
        r#"<tr><td>PIT uniformity, KS statistic D ({} origins{})</td><td class="n">{}</td><td class="n">p = {}</td></tr>"#,
        s.ks.n,
        if s.ks_stride > 1 {
            format!(", one in {}", s.ks_stride)
        } else {
            String::new()
        },
        esc(&fmt_sig(s.ks.d, 3)),
        esc(&fmt_sig(s.ks.p_value, 2)),
    );
    out.push_str("</tbody></table></div>");
    out.push_str(r#"<p class="note">The CRPS is the distance between the forecast distribution and the outcome, in log units (0.1 is about 10% of the price), computed exactly from the simulated sample. The log score is minus the log density of the outcome's log price under a Gaussian kernel estimate of the simulated log prices (Silverman's bandwidth). Means ± 1.96 SE, the SE from the spread across origins on the effective number of windows. Scores compare models or scenarios backtested on the same prices and origins; they are not comparable across tokens in absolute terms.</p>"#);
    out
}

/// Chart geometry.
const H: f64 = 380.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 44.0;

fn fan_chart(rows: &[Origin], path: &[(NaiveDate, f64)]) -> String {
    let title = "Forecast fans at each origin and the observed price";
    let d0 = path
        .first()
        .map_or(rows[0].origin, |p| p.0)
        .min(rows[0].origin);
    let d1 = path
        .last()
        .map_or(rows[rows.len() - 1].target, |p| p.0)
        .max(rows[rows.len() - 1].target);
    let span = ((d1 - d0).num_days() as f64).max(1.0);
    let mut values: Vec<f64> = path.iter().map(|p| p.1).collect();
    for o in rows {
        values.extend(o.q);
        values.push(o.realized);
        values.push(o.origin_price);
    }
    let pos: Vec<f64> = values
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    if pos.is_empty() {
        return charts::open(title, H) + "</svg>";
    }
    let lo = pos.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = pos.iter().copied().fold(0.0, f64::max);
    let y = Axis::log(lo, hi * 1.0001, TickFormat::Number);
    let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, TOP, H - BOTTOM);
    let sx = |d: NaiveDate| x0 + (x1 - x0) * ((d - d0).num_days() as f64 / span);
    let sy = |v: f64| y.frac(v).map(|f| y1 - (y1 - y0) * f);
    let mut s = charts::open(title, H);
    // Legend.
    let lx = WIDTH - RIGHT - 330.0;
    s += &rect(lx, 30.0, 14.0, 9.0, "f0 outer");
    s += &text(lx + 18.0, 38.0, "start", "legend", "5-95%");
    s += &rect(lx + 66.0, 30.0, 14.0, 9.0, "f0 inner");
    s += &text(lx + 84.0, 38.0, "start", "legend", "25-75%");
    s += &line(lx + 140.0, 34.5, lx + 154.0, 34.5, "c0 median");
    s += &text(lx + 158.0, 38.0, "start", "legend", "median");
    s += &line(lx + 212.0, 34.5, lx + 226.0, 34.5, "c7");
    s += &text(lx + 230.0, 38.0, "start", "legend", "observed");
    // Y grid and labels.
    for (t, l) in y.ticks.iter().zip(&y.labels) {
        if let Some(yy) = sy(*t) {
            s += &line(x0, yy, x1, yy, "grid");
            s += &text(x0 - 6.0, yy + 4.0, "end", "tick", l);
        }
    }
    s += &line(x0, y1, x1, y1, "axis");
    s += &line(x0, y0, x0, y1, "axis");
    // X ticks: the first day of months (or of years on long spans), at most ~8.
    let months = ((span / 30.4) as u32).max(1);
    let step = [1u32, 2, 3, 6, 12, 24, 36, 60]
        .into_iter()
        .find(|m| months / m <= 8)
        .unwrap_or(120);
    let mut d =
        NaiveDate::from_ymd_opt(chrono::Datelike::year(&d0), chrono::Datelike::month(&d0), 1)
            .unwrap_or(d0);
    while d <= d1 {
        let m0 = chrono::Datelike::month0(&d);
        if d >= d0 && m0.is_multiple_of(step.min(12)) {
            let xx = sx(d);
            s += &line(xx, y1, xx, y1 + 5.0, "axis");
            let label = if step >= 12 {
                d.format("%Y").to_string()
            } else {
                d.format("%b %Y").to_string()
            };
            s += &text(xx, y1 + 18.0, "middle", "tick", &label);
        }
        d = d
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(NaiveDate::MAX);
        if d == NaiveDate::MAX {
            break;
        }
    }
    s += &text(
        (x0 + x1) / 2.0,
        H - 8.0,
        "middle",
        "label",
        "date (forecasts run from each origin to its target)",
    );
    s += &format!(
        r#"<text transform="translate(14 {}) rotate(-90)" text-anchor="middle" class="label">price (log scale)</text>"#,
        px((y0 + y1) / 2.0)
    );
    // Fans.
    for o in rows {
        let (xa, xb) = (sx(o.origin), sx(o.target));
        let Some(ya) = sy(o.origin_price) else {
            continue;
        };
        let q: Vec<Option<f64>> = o.q.iter().map(|&v| sy(v)).collect();
        if let (Some(a), Some(b)) = (q[0], q[4]) {
            s += &format!(
                r#"<path d="M{},{}L{},{}L{},{}Z" class="f0 outer" style="stroke:none"/>"#,
                px(xa),
                px(ya),
                px(xb),
                px(a),
                px(xb),
                px(b)
            );
        }
        if let (Some(a), Some(b)) = (q[1], q[3]) {
            s += &format!(
                r#"<path d="M{},{}L{},{}L{},{}Z" class="f0 inner" style="stroke:none"/>"#,
                px(xa),
                px(ya),
                px(xb),
                px(a),
                px(xb),
                px(b)
            );
        }
        if let Some(m) = q[2] {
            s += &line(xa, ya, xb, m, "c0 median");
        }
    }
    // Observed path.
    let pts: Vec<(f64, f64)> = path
        .iter()
        .filter_map(|&(d, v)| Some((sx(d), sy(v)?)))
        .collect();
    s += &polyline(&[pts], "c7").replace("/>", r#" style="stroke:#1d2433;stroke-width:1.3"/>"#);
    // Realised prices at the targets.
    for o in rows {
        if let Some(yy) = sy(o.realized) {
            let fill = if o.in90 { "#1d2433" } else { "#c23b3b" };
            let _ = write!(
                s,
                r##"<circle cx="{}" cy="{}" r="3.6" fill="{fill}" stroke="#fff" stroke-width="1"/>"##,
                px(sx(o.target)),
                px(yy)
            );
        }
    }
    s + "</svg>"
}

fn pit_chart(s: &BacktestSummary) -> String {
    let h = 300.0;
    let title = "PIT values of the realised prices";
    let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, TOP, h - BOTTOM);
    let n = s.n as f64;
    let expected = n / 10.0;
    let band = crate::stats::Z95 * (n * 0.1 * 0.9).sqrt();
    let max = s
        .pit_bins
        .iter()
        .map(|&c| c as f64)
        .fold(expected + band, f64::max)
        .max(1.0);
    let y = Axis::linear(0.0, max, 5, TickFormat::Plain);
    let sy = |v: f64| y1 - (y1 - y0) * y.frac(v).unwrap_or(0.0);
    let mut out = charts::open(title, h);
    for (t, l) in y.ticks.iter().zip(&y.labels) {
        out += &line(x0, sy(*t), x1, sy(*t), "grid");
        out += &text(x0 - 6.0, sy(*t) + 4.0, "end", "tick", l);
    }
    out += &rect(
        x0,
        sy(expected + band),
        x1 - x0,
        sy((expected - band).max(0.0)) - sy(expected + band),
        "noise",
    )
    .replace("/>", r#" style="opacity:.45"/>"#);
    let bw = (x1 - x0) / 10.0;
    for (i, &c) in s.pit_bins.iter().enumerate() {
        let top = sy(c as f64);
        out += &rect(x0 + bw * i as f64 + 3.0, top, bw - 6.0, y1 - top, "f0 bar");
    }
    out += &line(x0, sy(expected), x1, sy(expected), "ref");
    out += &line(x0, y1, x1, y1, "axis");
    out += &line(x0, y0, x0, y1, "axis");
    for i in 0..=10 {
        let xx = x0 + bw * i as f64;
        out += &text(
            xx,
            y1 + 18.0,
            "middle",
            "tick",
            &format!("{:.1}", i as f64 / 10.0),
        );
    }
    out += &text(
        (x0 + x1) / 2.0,
        h - 8.0,
        "middle",
        "label",
        "PIT (the realised price's quantile among the simulated ones)",
    );
    out += &format!(
        r#"<text transform="translate(14 {}) rotate(-90)" text-anchor="middle" class="label">origins</text>"#,
        px((y0 + y1) / 2.0)
    );
    out += &text(
        x1,
        30.0,
        "end",
        "legend",
        &format!(
            "dashed: {} per bin if uniform; grey: its 95% range",
            fmt_sig(expected, 3)
        ),
    );
    out + "</svg>"
}

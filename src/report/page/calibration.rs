//! The diagnostics page of a calibration (`calibration.html`, written by `tokenrisk
//! calibrate` and rebuilt by `tokenrisk report DIR` from the folder's tables): the file,
//! window and model chosen and why; the estimates with SEs and intervals and the model
//! comparison; then what the fit does not explain: a QQ plot of standardized residuals,
//! returns against the fitted density on a log density axis, rolling 90-day volatility
//! against the fitted regime volatilities, the smoothed stress probability, the
//! autocorrelation of squared returns and of squared residuals; and every row dropped and
//! every suspicious print.
//!
//! Built only from `calibration.parquet`, `series.parquet` and `decisions.parquet` (the
//! fitted density of one step comes in the metadata), so the page needs no model code and
//! shows what the tables hold. The charts draw on their own small frame (`Frame`) with
//! `report::svg`'s primitives and axes, because two of them need a log y axis or a date x
//! axis that the run report's line charts do not have.

use super::{esc, figure, section, CSS};
use crate::calibrate::fit::{normal_quantile, INTERVAL_RULE, Z95};
use crate::output::atomic::write_atomic_bytes;
use crate::output::calibration::{self as names, key};
use crate::report::charts::{self, no_data, Legend, Plot, HEIGHT};
use crate::report::data::{read_table, ColumnData, Table};
use crate::report::format::{fmt_count, fmt_sig, DASH};
use crate::report::svg::{line, polyline, rect, segments, Axis, ScaleKind, TickFormat};
use anyhow::{Context, Result};
use chrono::{Datelike, NaiveDate};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Whether `dir` holds a calibration (its `calibration.parquet`).
pub fn is_calibration_dir(dir: &Path) -> bool {
    dir.join(names::CALIBRATION_FILE).is_file()
}

/// Rebuilds `dir/calibration.html` from the folder's tables; returns its path.
pub fn write_page(dir: &Path) -> Result<PathBuf> {
    let html = render(dir).with_context(|| format!("cannot report on {}", dir.display()))?;
    let out = dir.join(names::PAGE_FILE);
    write_atomic_bytes(&out, html.as_bytes())?;
    Ok(out)
}

fn bools(t: &Table, name: &str) -> Vec<bool> {
    match t.column(name).map(|c| &c.data) {
        Some(ColumnData::Bool(v)) => v.iter().map(|b| b.unwrap_or(false)).collect(),
        _ => vec![false; t.rows],
    }
}

fn nums(t: &Table, name: &str) -> Vec<Option<f64>> {
    t.num(name).map_or(vec![None; t.rows], <[_]>::to_vec)
}

fn texts(t: &Table, name: &str) -> Vec<String> {
    t.text(name).map_or(vec![String::new(); t.rows], |v| {
        v.iter().map(|s| s.clone().unwrap_or_default()).collect()
    })
}

fn day_num(d: NaiveDate) -> f64 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as f64
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// A plot frame: `report::charts`' plot area and axes, with the drawing helpers this
/// page's charts need.
struct Frame(Plot);

impl std::ops::Deref for Frame {
    type Target = Plot;
    fn deref(&self) -> &Plot {
        &self.0
    }
}

impl Frame {
    fn new(x: Axis, y: Axis) -> Frame {
        Frame(Plot::new(x, y, HEIGHT))
    }
    fn pt(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        Some((self.sx(x)?, self.sy(y)?))
    }
    /// `<svg>`, title, legend (stroke or fill class, label: a class starting with `f` is a
    /// swatch), note, grid, axes and titles, as every chart of the reports opens.
    fn open(&self, title: &str, xl: &str, yl: &str, legend: &[(&str, &str)], note: &str) -> String {
        let items: Vec<Legend> = legend
            .iter()
            .map(|&(class, label)| {
                if class.starts_with('f') {
                    Legend::Swatch(class, label.to_string())
                } else {
                    Legend::Line(class, label.to_string())
                }
            })
            .collect();
        let mut s = charts::open(title, HEIGHT) + &charts::legend(&items);
        if !note.is_empty() {
            s += &charts::note(note);
        }
        s + &self.axes(xl, yl, HEIGHT)
    }
    fn path(&self, pts: &[(f64, Option<f64>)], class: &str) -> String {
        let p: Vec<Option<(f64, f64)>> = pts.iter().map(|&(x, y)| self.pt(x, y?)).collect();
        polyline(&segments(p), class)
    }
    fn hline(&self, y: f64, class: &str) -> String {
        match self.sy(y) {
            Some(y) => line(self.left, y, self.right, y, class),
            None => String::new(),
        }
    }
}

/// A date axis over `[lo, hi]` (days since 1970): ticks on years, or quarters for short
/// spans.
fn date_axis(lo: f64, hi: f64) -> Axis {
    let d = |x: f64| {
        NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Days::new(x.max(0.0) as u64)
    };
    let (a, b) = (d(lo), d(hi));
    let span_years = (hi - lo) / 365.25;
    let months: &[u32] = if span_years > 3.0 {
        &[1]
    } else if span_years > 1.2 {
        &[1, 7]
    } else {
        &[1, 4, 7, 10]
    };
    let mut ticks = Vec::new();
    let mut labels = Vec::new();
    for y in a.year()..=b.year() {
        for &m in months {
            let t = NaiveDate::from_ymd_opt(y, m, 1).expect("valid");
            if t >= a && t <= b {
                ticks.push(day_num(t));
                labels.push(if months.len() == 1 {
                    format!("{y}")
                } else {
                    format!("{y}-{m:02}")
                });
            }
        }
    }
    Axis {
        kind: ScaleKind::Linear,
        lo,
        hi,
        ticks,
        labels,
    }
}

struct Data {
    cal: Table,
    series: Table,
    decisions: Option<Table>,
}

impl Data {
    fn meta(&self, k: &str) -> String {
        self.cal.metadata.get(k).cloned().unwrap_or_default()
    }
    /// (parameter, estimate, se) of the chosen price model.
    fn chosen_params(&self) -> Vec<(String, f64, f64)> {
        let chosen = bools(&self.cal, "chosen");
        let series = texts(&self.cal, "series");
        let p = texts(&self.cal, "parameter");
        let e = nums(&self.cal, "estimate");
        let se = nums(&self.cal, "se");
        (0..self.cal.rows)
            .filter(|&i| chosen[i] && series[i] == "price")
            .map(|i| {
                (
                    p[i].clone(),
                    e[i].unwrap_or(f64::NAN),
                    se[i].unwrap_or(f64::NAN),
                )
            })
            .collect()
    }
    fn param(&self, k: &str) -> Option<(f64, f64)> {
        self.chosen_params()
            .into_iter()
            .find(|(p, _, _)| p == k)
            .map(|(_, v, s)| (v, s))
    }
}

/// One fitted increment as `series.parquet` holds it.
struct Inc {
    /// The date it ends on, in days since 1970.
    day: f64,
    ret: f64,
    days: f64,
    resid: Option<f64>,
    stress: Option<f64>,
}

/// Every fitted increment (excluded outliers and the first observation have none).
fn increments(t: &Table) -> Vec<Inc> {
    let dates = texts(t, "date");
    let ret = nums(t, "log_return");
    let days = nums(t, "days");
    let res = nums(t, "std_residual");
    let sp = nums(t, "stress_prob");
    let excl = bools(t, "excluded");
    (0..t.rows)
        .filter(|&i| !excl[i])
        .filter_map(|i| {
            Some(Inc {
                day: day_num(parse_date(&dates[i])?),
                ret: ret[i]?,
                days: days[i]?,
                resid: res[i],
                stress: sp[i],
            })
        })
        .collect()
}

/// A count from the metadata, grouped (as written when it is not a number).
fn count(s: &str) -> String {
    s.parse::<u64>().map_or(s.to_string(), fmt_count)
}

fn header(out: &mut String, d: &Data) {
    let _ = write!(
        out,
        r#"<header><div class="kicker">tokenrisk calibration</div><h1>{}</h1>"#,
        esc(&d.meta(key::SOURCE))
    );
    let model = d.meta(key::MODEL);
    let _ = write!(
        out,
        r#"<p class="desc">Model chosen: <b>{}</b>: it {}.</p>"#,
        esc(&model),
        // The reason's first clause; the whole reason is under the model comparison.
        esc(d
            .meta(key::REASON)
            .split(':')
            .next()
            .unwrap_or_default()
            .trim_start_matches(model.as_str())
            .trim_start()
            .trim_end_matches('.'))
    );
    let na: Vec<String> = serde_json::from_str(&d.meta(key::NOT_AVAILABLE)).unwrap_or_default();
    if !na.is_empty() {
        let _ = write!(
            out,
            r#"<p class="warn">Not compared (not available): {}</p>"#,
            esc(&na.join("; "))
        );
    }
    let n = increments(&d.series).len();
    let items = [
        (
            "Window",
            format!("{} to {}", d.meta(key::WINDOW_FROM), d.meta(key::WINDOW_TO)),
        ),
        ("Increments fitted", fmt_count(n as u64)),
        ("Layout", d.meta(key::LAYOUT)),
        ("Rows kept (whole file)", count(&d.meta(key::ROWS_KEPT))),
        ("Rows dropped", count(&d.meta(key::DROPPED))),
        (
            "Suspicious prints",
            format!(
                "{} ({} excluded)",
                count(&d.meta(key::OUTLIERS)),
                count(&d.meta(key::OUTLIERS_EXCLUDED))
            ),
        ),
        (
            "Switch probabilities per step of",
            format!("{} day(s)", d.meta(key::STEP_DAYS)),
        ),
        ("File SHA-256", {
            let h = d.meta(key::SHA256);
            format!("{}…", h.get(..16).unwrap_or(&h))
        }),
    ];
    out.push_str(r#"<dl class="meta">"#);
    for (k, v) in items {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    }
    out.push_str("</dl></header>");
}

fn estimates(out: &mut String, d: &Data) {
    section(out, "estimates", "Estimates");
    let t = &d.cal;
    let (series, param, model) = (texts(t, "series"), texts(t, "parameter"), texts(t, "model"));
    let (e, se, lo, hi) = (
        nums(t, "estimate"),
        nums(t, "se"),
        nums(t, "lo"),
        nums(t, "hi"),
    );
    let chosen = bools(t, "chosen");
    let f = |v: Option<f64>| v.map_or(DASH.to_string(), |v| fmt_sig(v, 4));
    out.push_str(
        r#"<div class="scroll"><table class="data"><thead><tr><th>series</th><th>model</th><th>parameter</th><th>estimate</th><th>SE</th><th>95% CI</th></tr></thead><tbody>"#,
    );
    for i in 0..t.rows {
        let mark = if chosen[i] { " (chosen)" } else { "" };
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td>{}{}</td><td><code>{}</code></td><td class="n">{}</td><td class="n">{}</td><td class="n">{} to {}</td></tr>"#,
            esc(&series[i]),
            esc(&model[i]),
            mark,
            esc(&param[i]),
            f(e[i]),
            f(se[i]),
            f(lo[i]),
            f(hi[i])
        );
    }
    out.push_str("</tbody></table></div>");
    // One sentence per model on how its standard errors were obtained.
    let method = texts(t, "se_method");
    let mut methods: Vec<String> = Vec::new();
    for (m, how) in model.iter().zip(&method) {
        let m = m.trim_end_matches(" (chosen)");
        let line = format!("{}: {}", esc(m), esc(how));
        if !methods.contains(&line) {
            methods.push(line);
        }
    }
    let _ = write!(
        out,
        r#"<p class="note">Intervals: {}. Standard errors, {}.</p>"#,
        esc(&INTERVAL_RULE.replace("+-", "±")),
        methods.join("; ")
    );
    // One row per price model: likelihood and criteria.
    let (ll, aic, bic, n) = (
        nums(t, "loglik"),
        nums(t, "aic"),
        nums(t, "bic"),
        nums(t, "n"),
    );
    let mut seen: Vec<usize> = Vec::new();
    for i in 0..t.rows {
        if series[i] == "price" && !seen.iter().any(|&j| model[j] == model[i]) {
            seen.push(i);
        }
    }
    let best = seen
        .iter()
        .filter_map(|&i| bic[i])
        .fold(f64::INFINITY, f64::min);
    out.push_str(
        r#"<h3>Model comparison</h3><div class="scroll"><table class="data"><thead><tr><th>model</th><th>parameters</th><th>n</th><th>log-likelihood</th><th>AIC</th><th>BIC</th><th>BIC − lowest</th></tr></thead><tbody>"#,
    );
    for &i in &seen {
        let k = (0..t.rows)
            .filter(|&j| series[j] == "price" && model[j] == model[i])
            .count();
        let _ = write!(
            out,
            r#"<tr><td>{}{}</td><td class="n">{k}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            esc(&model[i]),
            if chosen[i] { " (chosen)" } else { "" },
            n[i].map_or(DASH.into(), |v| fmt_count(v as u64)),
            ll[i].map_or(DASH.into(), |v| format!("{v:.1}")),
            aic[i].map_or(DASH.into(), |v| format!("{v:.1}")),
            bic[i].map_or(DASH.into(), |v| format!("{v:.1}")),
            bic[i].map_or(DASH.into(), |v| format!("{:.1}", v - best)),
        );
    }
    out.push_str("</tbody></table></div>");
    let lr: Vec<serde_json::Value> =
        serde_json::from_str(&d.meta(key::LR_TESTS)).unwrap_or_default();
    if lr.is_empty() {
        out.push_str(r#"<p class="note">No likelihood-ratio test: fewer than two nested models were fitted.</p>"#);
    } else {
        out.push_str("<ul>");
        for t in lr {
            let _ = write!(
                out,
                "<li>Likelihood ratio, {} against {}: statistic {}, df {}, p ≈ {}</li>",
                esc(t["null"].as_str().unwrap_or("")),
                esc(t["alternative"].as_str().unwrap_or("")),
                t["statistic"]
                    .as_f64()
                    .map_or(DASH.into(), |v| format!("{v:.2}")),
                t["df"],
                t["p_value"].as_f64().map_or(DASH.into(), |v| fmt_sig(v, 2)),
            );
        }
        out.push_str("</ul>");
    }
    let _ = write!(
        out,
        r#"<p class="note">Why: {}</p>"#,
        esc(&d.meta(key::REASON))
    );
    out.push_str("</section>");
}

fn qq_chart(inc: &[Inc], model: &str) -> String {
    let mut z: Vec<f64> = inc
        .iter()
        .filter_map(|r| r.resid)
        .filter(|v| v.is_finite())
        .collect();
    let title = "QQ plot of standardized residuals";
    if z.len() < 3 {
        return no_data(title, "too few residuals");
    }
    z.sort_by(f64::total_cmp);
    let n = z.len() as f64;
    let pts: Vec<(f64, Option<f64>)> = z
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            (
                normal_quantile((i as f64 + 0.5) / n),
                Some(v.clamp(-10.0, 10.0)),
            )
        })
        .collect();
    let m = pts
        .iter()
        .map(|p| p.0.abs().max(p.1.unwrap_or(0.0).abs()))
        .fold(0.0, f64::max)
        .ceil();
    let x = Axis::linear(-m, m, 8, TickFormat::Plain);
    let y = Axis::linear(-m, m, 6, TickFormat::Plain);
    let fr = Frame::new(x, y);
    let mut s = fr.open(
        title,
        "standard normal quantile",
        "residual quantile",
        &[
            ("c0", &format!("{model} residuals")),
            ("ref", "y = x (model right)"),
        ],
        &format!("{} residuals", fmt_count(z.len() as u64)),
    );
    let (a, b) = (fr.x.lo.max(fr.y.lo), fr.x.hi.min(fr.y.hi));
    s += &fr.path(&[(a, Some(a)), (b, Some(b))], "ref");
    s += &fr.path(&pts, "c0");
    s + "</svg>"
}

fn density_chart(inc: &[Inc], d: &Data) -> String {
    let title = "Log-returns against the fitted density (log density axis)";
    let dens: serde_json::Value = serde_json::from_str(&d.meta(key::DENSITY)).unwrap_or_default();
    let step = dens["days"].as_f64().unwrap_or(1.0);
    let gx: Vec<f64> = dens["x"]
        .as_array()
        .map_or(vec![], |a| a.iter().filter_map(|v| v.as_f64()).collect());
    let gp: Vec<f64> = dens["pdf"]
        .as_array()
        .map_or(vec![], |a| a.iter().filter_map(|v| v.as_f64()).collect());
    let xs: Vec<f64> = inc
        .iter()
        .filter(|r| r.days == step)
        .map(|r| r.ret)
        .collect();
    if xs.len() < 10 || gx.len() < 2 || gx.len() != gp.len() {
        return no_data(title, "too few returns of one step length");
    }
    let (lo, hi) = (gx[0], gx[gx.len() - 1]);
    let bins = 40usize;
    let w = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    for &x in &xs {
        let b = (((x - lo) / w).floor() as isize).clamp(0, bins as isize - 1) as usize;
        counts[b] += 1;
    }
    let emp: Vec<f64> = counts
        .iter()
        .map(|&c| c as f64 / (xs.len() as f64 * w))
        .collect();
    let min_pos = emp
        .iter()
        .copied()
        .filter(|&v| v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let max = emp.iter().chain(&gp).copied().fold(0.0, f64::max);
    let ylo = (min_pos * 0.5).min(max * 1e-3).max(max * 1e-7);
    let y = Axis::log(ylo, max * 1.5, TickFormat::Number);
    let x = Axis::linear(lo, hi, 8, TickFormat::Percent);
    let fr = Frame::new(x, y);
    let mut s = fr.open(
        title,
        &format!("log-return over {} day(s)", step),
        "density (log scale)",
        &[
            ("f0", "observed"),
            ("c2", &format!("fitted {}", d.meta(key::MODEL))),
        ],
        &format!("{} returns of {} day(s)", fmt_count(xs.len() as u64), step),
    );
    for (i, &v) in emp.iter().enumerate() {
        if v <= 0.0 {
            continue;
        }
        let (x0, x1) = (lo + i as f64 * w, lo + (i + 1) as f64 * w);
        if let (Some(a), Some(b), Some(top)) = (fr.sx(x0), fr.sx(x1), fr.sy(v)) {
            s += &rect(a + 0.5, top, b - a - 1.0, fr.bottom - top, "f0 bar");
        }
    }
    let line: Vec<(f64, Option<f64>)> = gx
        .iter()
        .zip(&gp)
        .map(|(&x, &p)| (x, (p >= ylo).then_some(p)))
        .collect();
    s += &fr.path(&line, "c2");
    s + "</svg>"
}

/// Rolling volatility over 90 calendar days, annualized, from at least 30 increments.
fn rolling_vol(inc: &[Inc]) -> Vec<(f64, Option<f64>)> {
    let mut out = Vec::with_capacity(inc.len());
    let mut start = 0;
    for i in 0..inc.len() {
        while inc[i].day - inc[start].day >= 90.0 {
            start += 1;
        }
        let w = &inc[start..=i];
        if w.len() < 30 {
            out.push((inc[i].day, None));
            continue;
        }
        let years: f64 = w.iter().map(|r| r.days / 365.0).sum();
        let a = w.iter().map(|r| r.ret).sum::<f64>() / years;
        let v = w
            .iter()
            .map(|r| {
                let dt = r.days / 365.0;
                (r.ret - a * dt).powi(2) / dt
            })
            .sum::<f64>()
            / w.len() as f64;
        out.push((inc[i].day, Some(v.sqrt())));
    }
    out
}

fn vol_chart(inc: &[Inc], d: &Data) -> String {
    let title = "Rolling 90-day volatility against the fitted volatilities";
    let roll = rolling_vol(inc);
    let mut lines: Vec<(f64, &str, String)> = Vec::new();
    let stress = d.param("market.regimes.stress.volatility");
    if let Some((v, _)) = d.param("market.volatility") {
        let label = if stress.is_some() {
            "fitted calm"
        } else {
            "fitted (diffusion)"
        };
        lines.push((v, "c1 dash", label.into()));
        if let (Some((rate, _)), Some((m, _)), Some((sd, _))) = (
            d.param("market.jumps.rate"),
            d.param("market.jumps.mean"),
            d.param("market.jumps.stdev"),
        ) {
            let total = (v * v + rate * (m * m + sd * sd)).sqrt();
            lines.push((total, "c3 dash", "fitted incl. jumps".into()));
        }
    }
    if let Some((v, _)) = stress {
        lines.push((v, "c2 dash", "fitted stress".into()));
    }
    let ys: Vec<f64> = roll
        .iter()
        .filter_map(|p| p.1)
        .chain(lines.iter().map(|l| l.0))
        .collect();
    if ys.is_empty() || inc.len() < 2 {
        return no_data(title, "fewer than 30 increments in any 90 days");
    }
    let ymax = ys.iter().copied().fold(0.0, f64::max);
    let x = date_axis(inc[0].day, inc[inc.len() - 1].day);
    let y = Axis::linear(0.0, ymax * 1.05, 6, TickFormat::Percent);
    let fr = Frame::new(x, y);
    let mut legend: Vec<(&str, &str)> = vec![("c0", "rolling 90 days")];
    for l in &lines {
        legend.push((l.1, l.2.as_str()));
    }
    let mut s = fr.open(title, "date", "annualized volatility", &legend, "");
    for l in &lines {
        s += &fr.hline(l.0, l.1);
    }
    s += &fr.path(&roll, "c0");
    s + "</svg>"
}

fn stress_chart(inc: &[Inc], model: &str) -> String {
    let title = "Smoothed probability of the stress regime";
    let pts: Vec<(f64, Option<f64>)> = inc.iter().map(|r| (r.day, r.stress)).collect();
    if pts.iter().all(|p| p.1.is_none()) || inc.len() < 2 {
        return no_data(
            title,
            &format!("the {model} model has no regimes: no stress probability to show"),
        );
    }
    let x = date_axis(inc[0].day, inc[inc.len() - 1].day);
    let y = Axis::linear(0.0, 1.0, 5, TickFormat::Percent);
    let fr = Frame::new(x, y);
    let mut s = fr.open(title, "date", "P(stress | all data)", &[], "");
    s += &fr.path(&pts, "c2");
    s + "</svg>"
}

/// Autocorrelation at lags 1..=max of `v`.
fn acf(v: &[f64], max: usize) -> Vec<f64> {
    let n = v.len();
    let m = v.iter().sum::<f64>() / n as f64;
    let c0: f64 = v.iter().map(|x| (x - m).powi(2)).sum();
    (1..=max)
        .map(|k| {
            if k >= n || c0 == 0.0 {
                return f64::NAN;
            }
            (0..n - k).map(|i| (v[i] - m) * (v[i + k] - m)).sum::<f64>() / c0
        })
        .collect()
}

const LAGS: usize = 30;

/// (ACF of squared returns, ACF of squared residuals, band, lags outside the band each).
fn acfs(inc: &[Inc]) -> (Vec<f64>, Vec<f64>, f64, usize, usize) {
    let years: f64 = inc.iter().map(|r| r.days / 365.0).sum();
    let a = inc.iter().map(|r| r.ret).sum::<f64>() / years;
    let sq: Vec<f64> = inc
        .iter()
        .map(|r| {
            let dt = r.days / 365.0;
            (r.ret - a * dt).powi(2) / dt
        })
        .collect();
    let rs: Vec<f64> = inc.iter().filter_map(|r| r.resid).map(|z| z * z).collect();
    let band = Z95 / (inc.len() as f64).sqrt();
    let (a1, a2) = (acf(&sq, LAGS), acf(&rs, LAGS));
    let out = |v: &[f64]| v.iter().filter(|x| x.abs() > band).count();
    let (o1, o2) = (out(&a1), out(&a2));
    (a1, a2, band, o1, o2)
}

fn acf_chart(inc: &[Inc], model: &str) -> String {
    let title = "Autocorrelation of squared returns and squared residuals";
    if inc.len() <= LAGS + 2 {
        return no_data(title, "too few increments");
    }
    let (a1, a2, band, _, _) = acfs(inc);
    let ys: Vec<f64> = a1
        .iter()
        .chain(&a2)
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let hi = ys.iter().copied().fold(band, f64::max) * 1.1;
    let lo = ys.iter().copied().fold(-band, f64::min) * 1.1;
    let x = Axis::linear(0.0, LAGS as f64, 6, TickFormat::Plain);
    let y = Axis::linear(lo, hi, 6, TickFormat::Plain);
    let fr = Frame::new(x, y);
    let mut s = fr.open(
        title,
        "lag (increments)",
        "autocorrelation",
        &[
            ("c0", "squared returns"),
            ("c1", &format!("squared {model} residuals")),
            ("ref", "±1.96/√n"),
        ],
        "",
    );
    s += &fr.hline(0.0, "axis");
    s += &fr.hline(band, "ref");
    s += &fr.hline(-band, "ref");
    for (v, class, dx) in [(&a1, "c0", -1.5), (&a2, "c1", 1.5)] {
        for (k, &r) in v.iter().enumerate() {
            if let (Some(x), Some(y0), Some(y1)) = (fr.sx((k + 1) as f64), fr.sy(0.0), fr.sy(r)) {
                s += &line(x + dx, y0, x + dx, y1, class);
            }
        }
    }
    s + "</svg>"
}

fn acf_sentence(inc: &[Inc], model: &str, regimes: bool) -> String {
    if inc.len() <= LAGS + 2 {
        return String::new();
    }
    let (_, _, band, o1, o2) = acfs(inc);
    let what = if regimes {
        "The two-regime model explains clustering only as switches between two volatility levels"
    } else {
        "This model has one volatility level, so it captures no clustering at all"
    };
    format!(
        "{o1} of {LAGS} lags of the squared returns lie outside the ±{} band (95% under no autocorrelation); {o2} of {LAGS} lags of the squared {model} residuals do. {what}: volatility that clusters beyond two regimes (slowly decaying, GARCH-like persistence) is not captured, and where the residuals' bars stay outside the band, quiet and turbulent spells in the simulation will be shorter and less persistent than in this history.",
        fmt_sig(band, 2)
    )
}

fn decisions(out: &mut String, d: &Data) {
    section(out, "decisions", "Rows dropped and suspicious prints");
    let Some(t) = &d.decisions else {
        out.push_str(r#"<p class="warn">decisions.parquet is missing.</p></section>"#);
        return;
    };
    if t.rows == 0 {
        out.push_str("<p>Every row of the file was read; no suspicious print.</p></section>");
        return;
    }
    let (line_, date, kind, reason) = (
        nums(t, "line"),
        texts(t, "date"),
        texts(t, "kind"),
        texts(t, "reason"),
    );
    let value = nums(t, "value");
    let excl = bools(t, "excluded");
    out.push_str(r#"<div class="scroll"><table class="data"><thead><tr><th>line</th><th>date</th><th>what</th><th>value</th><th>reason</th></tr></thead><tbody>"#);
    for i in 0..t.rows.min(super::MAX_TABLE_ROWS) {
        let what = match (kind[i].as_str(), excl[i]) {
            ("outlier", true) => "outlier, excluded",
            ("outlier", false) => "outlier, kept (--keep-outliers)",
            _ => "dropped",
        };
        let _ = write!(
            out,
            r#"<tr><td class="n">{}</td><td>{}</td><td>{}</td><td class="n">{}</td><td class="prose">{}</td></tr>"#,
            line_[i].map_or(DASH.into(), |v| fmt_count(v as u64)),
            esc(if date[i].is_empty() { DASH } else { &date[i] }),
            what,
            value[i].map_or(DASH.into(), |v| fmt_sig(v, 6)),
            esc(&reason[i])
        );
    }
    out.push_str("</tbody></table></div>");
    if t.rows > super::MAX_TABLE_ROWS {
        let _ = write!(
            out,
            r#"<p class="note">First {} of {} rows; decisions.parquet has all.</p>"#,
            super::MAX_TABLE_ROWS,
            t.rows
        );
    }
    out.push_str("</section>");
}

/// The page, from the folder's tables.
pub fn render(dir: &Path) -> Result<String> {
    let d = Data {
        cal: read_table(&dir.join(names::CALIBRATION_FILE), None)?,
        series: read_table(&dir.join(names::SERIES_FILE), None)?,
        decisions: read_table(&dir.join(names::DECISIONS_FILE), None).ok(),
    };
    let model = d.meta(key::MODEL);
    let inc = increments(&d.series);
    let regimes = d.param("market.regimes.stress.volatility").is_some();
    let mut body = String::new();
    header(&mut body, &d);
    estimates(&mut body, &d);
    section(
        &mut body,
        "diagnostics",
        "What the fit explains, and what it does not",
    );
    body.push_str(r#"<div class="grid">"#);
    figure(
        &mut body,
        &qq_chart(&inc, &model),
        "Standardized residuals (the fitted distribution function at each return, mapped to a normal quantile) against normal quantiles: on the line when the model is right; tails above the line on the right and below it on the left are fatter than the model allows.",
    );
    figure(
        &mut body,
        &density_chart(&inc, &d),
        "Histogram of the returns of the most common step length as a density, against the chosen model's density of one such step; the log axis shows the tails, where a normal model's parabola falls far below the data.",
    );
    figure(
        &mut body,
        &vol_chart(&inc, &d),
        "Annualized volatility of the last 90 days (from at least 30 returns), against the fitted volatilities.",
    );
    figure(
        &mut body,
        &stress_chart(&inc, &model),
        "The probability that each day was in the stress regime, given the whole history (smoothed).",
    );
    let sentence = acf_sentence(&inc, &model, regimes);
    figure(&mut body, &acf_chart(&inc, &model), &sentence);
    body.push_str("</div></section>");
    decisions(&mut body, &d);
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"tokenrisk {v}\">\n<title>calibration of {t}</title>\n<style>{CSS}</style>\n\
         </head>\n<body>\n{body}\n<footer>Written by tokenrisk {v} (<code>tokenrisk calibrate</code>, rebuilt by <code>tokenrisk report</code>) from calibration.parquet, series.parquet and decisions.parquet. Estimates are maximum-likelihood, with standard errors from the observed information and Wald 95% intervals. Number suffixes: k = 10^3, M = 10^6; 5e-3 = 0.005.</footer>\n</body>\n</html>\n",
        v = env!("CARGO_PKG_VERSION"),
        t = esc(&d.meta(key::SOURCE)),
    ))
}

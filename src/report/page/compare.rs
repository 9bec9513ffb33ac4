//! The design-comparison page (`tokenrisk report DIR` on a folder written by
//! `tokenrisk compare`): the conclusion first, in words and numbers, then the paired
//! differences, the designs over time, the ever-spiraled difference by day, the per-path
//! final price ratio and the runs, in the order the designs were given.
//!
//! Shaped so: every figure of the conclusion sentence and of the P(spiral) table row comes
//! from one function ([`spiral_figures`]), so the two cannot disagree; the page shows
//! differences as B minus A (the change from design A to design B), while
//! `comparison.parquet` stores A minus B: the sign is flipped here, in one place per kind
//! of figure ([`b_minus_a`]). Differences of quantiles and quantiles of differences are
//! kept apart and labelled.

use super::charts::{fan_data, metric_rows};
use super::summary::Sum;
use super::{document, figure, section, table_html, with_interval};
use crate::output::comparison::METRICS;
use crate::report::charts::{
    fan_overlay, histogram, line_chart, FanData, FanLayer, FanSpec, HistSpec, LineSpec, Series,
};
use crate::report::compare_data::{CompareData, PairPaths, Quantiles};
use crate::report::data::Table;
use crate::report::format::{esc, fmt_int, fmt_pct, fmt_pp, fmt_si, fmt_sig, DASH};
use crate::report::svg::TickFormat;
use crate::stats::Z95;
use std::fmt::Write;

/// Letters naming the designs in the order given (A, B, C, ...).
fn letter(i: usize) -> String {
    char::from(b'A' + (i % 26) as u8).to_string()
}

/// What the P(spiral) change from A to B is called in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Raises,
    Lowers,
    /// The 95% interval contains 0.
    NoSignificantDifference,
}

/// The P(spiral) figures of one pair as the page prints them (B minus A), built once for
/// both the conclusion sentence and the table row.
#[derive(Debug, Clone, PartialEq)]
pub struct SpiralFigures {
    pub p_a: String,
    pub p_b: String,
    /// `p_B - p_A` in percentage points.
    pub diff: String,
    pub lo: String,
    pub hi: String,
    pub se_paired: String,
    pub se_independent: String,
    pub verdict: Verdict,
}

/// A difference stored A minus B, with its interval, as B minus A: (diff, lo, hi).
pub fn b_minus_a(diff_ab: f64, lo_ab: f64, hi_ab: f64) -> (f64, f64, f64) {
    (-diff_ab, -hi_ab, -lo_ab)
}

/// The P(spiral) figures of row `row` of `comparison.parquet`.
pub fn spiral_figures(t: &Table, row: usize) -> Option<SpiralFigures> {
    let g = |c: &str| t.f64_at(c, row);
    let (diff, lo, hi) = b_minus_a(g("diff_p_spiral")?, g("diff_lo")?, g("diff_hi")?);
    let verdict = if lo > 0.0 {
        Verdict::Raises
    } else if hi < 0.0 {
        Verdict::Lowers
    } else {
        Verdict::NoSignificantDifference
    };
    let pp_se = |v: Option<f64>| v.map_or(DASH.into(), |v| format!("{:.2} pp", 100.0 * v));
    Some(SpiralFigures {
        p_a: fmt_pct(g("p_spiral_a")?),
        p_b: fmt_pct(g("p_spiral_b")?),
        diff: fmt_pp(diff),
        lo: fmt_pp(lo),
        hi: fmt_pp(hi),
        se_paired: pp_se(g("diff_se_paired")),
        se_independent: pp_se(g("diff_se_independent")),
        verdict,
    })
}

fn fig(name: &str, v: &str) -> String {
    format!(
        r#"<span class="fig" data-fig="{}">{}</span>"#,
        esc(name),
        esc(v)
    )
}

/// A value of `unit`: tokens with SI suffixes, others with 4 significant digits.
fn val(v: f64, unit: &str) -> String {
    if unit == "tokens" {
        fmt_si(v)
    } else {
        fmt_sig(v, 4)
    }
}

/// A signed value of `unit` (`+1.234`, `-5.6M`).
fn signed(v: f64, unit: &str) -> String {
    let s = val(v, unit);
    if v > 0.0 && v.is_finite() {
        format!("+{s}")
    } else {
        s
    }
}

/// The unit of a compared metric.
fn unit_of(metric: &str) -> &'static str {
    match metric {
        "final_price" => "USD",
        "final_circulating" => "tokens",
        _ => "ratio",
    }
}

fn design_label(d: &CompareData, i: usize) -> String {
    format!("{} ({})", letter(i), d.designs[i].name)
}

fn horizon_text(d: &CompareData) -> String {
    if d.horizon_days.is_finite() {
        fmt_int(d.horizon_days)
    } else {
        DASH.into()
    }
}

/// The conclusion sentence of one pair, in words and the figures of [`spiral_figures`].
fn conclusion(d: &CompareData, p: &PairPaths) -> String {
    let Some(f) = spiral_figures(&d.table, p.row) else {
        return r#"<p class="warn">comparison.parquet lacks the P(spiral) columns of this pair.</p>"#.into();
    };
    let (a, b) = (design_label(d, p.a), design_label(d, p.b));
    let what = format!("P(spiral by day {})", horizon_text(d));
    let n = fmt_int(d.paths as f64);
    let ci = format!("95% CI {} to {}", fig("lo", &f.lo), fig("hi", &f.hi));
    let mut s = format!(r#"<p class="conclusion" id="conclusion-{}">"#, p.row);
    match f.verdict {
        Verdict::Raises | Verdict::Lowers => {
            let verb = if f.verdict == Verdict::Raises {
                "raises"
            } else {
                "lowers"
            };
            let _ = write!(
                s,
                "Compared with design <b>{}</b>, design <b>{}</b> {verb} {} from {} to {}: {}, {ci}, paired over the same {n} market paths.",
                esc(&a),
                esc(&b),
                esc(&what),
                fig("p_a", &f.p_a),
                fig("p_b", &f.p_b),
                fig("diff", &f.diff),
            );
        }
        Verdict::NoSignificantDifference => {
            let _ = write!(
                s,
                "No significant difference in {} between design <b>{}</b> ({}) and design <b>{}</b> ({}): {}, {ci}, paired over the same {n} market paths.",
                esc(&what),
                esc(&a),
                fig("p_a", &f.p_a),
                esc(&b),
                fig("p_b", &f.p_b),
                fig("diff", &f.diff),
            );
        }
    }
    let (r, used) = &p.ratio_quantiles;
    if *used > 0 && r[1].value.is_finite() {
        let _ = write!(
            s,
            " On the same path, the final price under {} is a median {}× that under {} (95% CI {}× to {}×; 90% of paths between {}× and {}×).",
            esc(&letter(p.b)),
            esc(&fmt_sig(r[1].value, 3)),
            esc(&letter(p.a)),
            esc(&fmt_sig(r[1].lo, 3)),
            esc(&fmt_sig(r[1].hi, 3)),
            esc(&fmt_sig(r[0].value, 3)),
            esc(&fmt_sig(r[2].value, 3)),
        );
    }
    s.push_str("</p>");
    s
}

fn td(class: &str, v: &str) -> String {
    format!(r#"<td class="{class}">{}</td>"#, esc(v))
}

fn td_fig(name: &str, v: &str) -> String {
    format!(r#"<td class="n" data-fig="{}">{}</td>"#, esc(name), esc(v))
}

/// The table of paired differences of one pair: P(spiral) in percentage points, each
/// metric's mean in its unit, with paired SE, 95% CI and the SE independent runs would have.
fn differences_table(d: &CompareData, p: &PairPaths) -> String {
    let t = &d.table;
    let row = p.row;
    let (la, lb) = (letter(p.a), letter(p.b));
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<div class="scroll"><table class="data cmp"><thead><tr><th>figure</th><th>{la}</th><th>{lb}</th><th>{lb} − {la}</th><th>paired SE</th><th>95% CI of {lb} − {la}</th><th>SE of independent runs</th></tr></thead><tbody>"#
    );
    if let Some(f) = spiral_figures(t, row) {
        let _ = write!(
            s,
            r#"<tr id="pair-{row}-p_spiral"><td>P(spiral by day {}), percentage points</td>{}{}{}{}<td class="n" data-fig="ci"><span data-fig="lo">{}</span> to <span data-fig="hi">{}</span></td>{}</tr>"#,
            esc(&horizon_text(d)),
            td_fig("p_a", &f.p_a),
            td_fig("p_b", &f.p_b),
            td_fig("diff", &f.diff),
            td_fig("se", &f.se_paired),
            esc(&f.lo),
            esc(&f.hi),
            td("n", &f.se_independent),
        );
    }
    for (m, label) in METRICS {
        let unit = unit_of(m);
        let g = |suffix: &str| t.f64_at(&format!("{m}_{suffix}"), row);
        let (Some(mean_a), Some(mean_b), Some(diff_ab), Some(se)) =
            (g("mean_a"), g("mean_b"), g("diff_mean"), g("diff_se"))
        else {
            continue;
        };
        let (diff, lo, hi) = b_minus_a(diff_ab, diff_ab - Z95 * se, diff_ab + Z95 * se);
        let _ = write!(
            s,
            r#"<tr id="pair-{row}-{m}"><td>{}, mean ({unit})</td>{}{}{}{}{}{}</tr>"#,
            esc(&capitalise(label)),
            td("n", &val(mean_a, unit)),
            td("n", &val(mean_b, unit)),
            td_fig("diff", &signed(diff, unit)),
            td("n", &val(se, unit)),
            td(
                "n",
                &format!("{} to {}", signed(lo, unit), signed(hi, unit))
            ),
            td(
                "n",
                &g("diff_se_independent").map_or(DASH.into(), |v| val(v, unit))
            ),
        );
    }
    s.push_str("</tbody></table></div>");
    let _ = write!(
        s,
        r#"<p class="note">P(spiral): exact shares of the paths that spiraled; each mean difference is the mean of the per-path differences d<sub>i</sub> = x<sub>{lb},i</sub> − x<sub>{la},i</sub>. Paired SE = sd(d)/√n, 95% CI = difference ± 1.96 SE (normal approximation); the last column is the SE two runs with independent random numbers would have.</p>"#
    );
    s
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or(String::new(), |f| {
        f.to_uppercase().collect::<String>() + c.as_str()
    })
}

fn q_cell(q: &crate::stats::paired::QuantileCi, unit: &str, sign: bool) -> String {
    let f = |v: f64| if sign { signed(v, unit) } else { val(v, unit) };
    format!("{} ({} to {})", f(q.value), f(q.lo), f(q.hi))
}

/// Differences of quantiles (from the table) beside quantiles of the per-path difference
/// (from the paths), and for the final price the per-path ratio B/A.
fn quantiles_table(d: &CompareData, p: &PairPaths) -> String {
    let t = &d.table;
    let row = p.row;
    let (la, lb) = (letter(p.a), letter(p.b));
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<div class="scroll"><table class="data cmp"><thead><tr><th>figure</th><th>quantile</th><th>difference of quantiles: {lb}'s quantile − {la}'s (conservative 95% CI)</th><th>quantile of the per-path difference {lb} − {la} (95% CI)</th></tr></thead><tbody>"#
    );
    for (k, (m, label)) in METRICS.iter().enumerate() {
        let unit = unit_of(m);
        let Some((qs, _)) = p.diff_quantiles.get(k) else {
            continue;
        };
        for (j, (suffix, name)) in [("p05", "5%"), ("p50", "median"), ("p95", "95%")]
            .iter()
            .enumerate()
        {
            let ci = p.quantile_diff_ci.get(k).map(|c| c[j]);
            let dq = match (t.f64_at(&format!("{m}_diff_{suffix}"), row), ci) {
                (Some(v), Some((lo, hi))) => format!(
                    "{} ({} to {})",
                    signed(-v, unit),
                    signed(lo, unit),
                    signed(hi, unit)
                ),
                (Some(v), None) => signed(-v, unit),
                _ => DASH.into(),
            };
            let _ = write!(
                s,
                r#"<tr id="pair-{row}-{m}-{suffix}"><td>{} ({unit})</td><td>{name}</td>{}{}</tr>"#,
                esc(&capitalise(label)),
                td_fig("diff_of_quantiles", &dq),
                td_fig("quantile_of_diff", &q_cell(&qs[j], unit, true)),
            );
        }
    }
    let (r, used): &(Quantiles, u64) = &p.ratio_quantiles;
    if *used > 0 {
        for (j, name) in ["5%", "median", "95%"].iter().enumerate() {
            let _ = write!(
                s,
                r#"<tr id="pair-{row}-ratio-{j}"><td>Final price ratio {lb}/{la} on the same path</td><td>{name}</td>{}{}</tr>"#,
                td("n", DASH),
                td_fig(
                    "ratio_quantile",
                    &format!(
                        "{}× ({}× to {}×)",
                        fmt_sig(r[j].value, 4),
                        fmt_sig(r[j].lo, 4),
                        fmt_sig(r[j].hi, 4)
                    )
                ),
            );
        }
    }
    s.push_str("</tbody></table></div>");
    let _ = write!(
        s,
        r#"<p class="note">A <b>difference of quantiles</b> ("median of {lb} minus median of {la}", from comparison.parquet) compares the two designs' distributions (exact lower sample quantiles of all paths; the interval combines each design's 97.5% order-statistic interval, so it covers at least 95% of the time). A <b>quantile of the per-path difference</b> is read from the {n} paired differences x<sub>{lb},i</sub> − x<sub>{la},i</sub> on the same market path i (exact lower sample quantile, 95% interval from order statistics): it says how much path by path the design changes the outcome, which only common random numbers make possible. The two are different numbers and need not agree.</p>"#,
        n = fmt_int(d.paths as f64)
    );
    s
}

/// The four quantities drawn over time for every design: (metric, title, unit).
const OVER_TIME: [(&str, &str, &str); 4] = [
    ("price", "Token price", "USD"),
    ("circulating", "Circulating supply", "tokens"),
    (
        "er_ratio",
        "Emissions-to-revenue ratio (trailing 30-day)",
        "ratio",
    ),
    ("capacity", "Provider capacity", "compute units"),
];

fn over_time(out: &mut String, d: &CompareData) {
    section(out, "over-time", "The designs over time");
    out.push_str(r#"<div class="grid">"#);
    let fans: Vec<std::collections::BTreeMap<String, Vec<usize>>> = d
        .designs
        .iter()
        .map(|x| {
            x.timeseries
                .as_ref()
                .map(|t| metric_rows(t, Some(&x.name)))
                .unwrap_or_default()
        })
        .collect();
    for (metric, title, unit) in OVER_TIME {
        let data: Vec<(String, FanData)> = d
            .designs
            .iter()
            .enumerate()
            .filter_map(|(i, x)| {
                let rows = fans[i].get(metric)?;
                Some((design_label(d, i), fan_data(x.timeseries.as_ref()?, rows)))
            })
            .collect();
        let layers: Vec<FanLayer> = data
            .iter()
            .enumerate()
            .map(|(i, (label, fd))| FanLayer {
                label,
                color: i,
                data: fd,
            })
            .collect();
        let spec = FanSpec {
            title,
            unit,
            format: TickFormat::Number,
            reference: (metric == "er_ratio").then_some((1.0, "1 = revenue covers emissions")),
        };
        figure(out, &fan_overlay(&spec, &layers), "");
    }
    out.push_str("</div>");
    out.push_str(r#"<p class="note">Median line and 5–95% band of each design on every report day, from each design's timeseries.parquet (quantiles over time are read from log-bucketed histograms, within 0.5%). Path i of every design saw the same market, demand and cost draws.</p>"#);
    out.push_str("</section>");
}

fn ever_spiraled(out: &mut String, d: &CompareData, p: &PairPaths) {
    let (la, lb) = (letter(p.a), letter(p.b));
    let mut pts = Vec::new();
    let mut band = Vec::new();
    for (day, pd) in &p.ever_spiraled {
        let (diff, lo, hi) = b_minus_a(pd.diff, pd.lo, pd.hi);
        pts.push((*day, Some(100.0 * diff)));
        band.push((*day, Some(100.0 * hi), Some(100.0 * lo)));
    }
    let title = format!("Share of paths spiraled by day d: {lb} − {la}");
    let y_label = format!("{lb} − {la}, percentage points");
    let spec = LineSpec {
        title: &title,
        x_label: "day",
        y_label: &y_label,
        x_format: TickFormat::Plain,
        y_format: TickFormat::Number,
        y_zero: true,
        allow_log_x: false,
        x_exact: true,
        note: None,
    };
    let series = [Series {
        label: format!("{lb} − {la}"),
        color: 2,
        points: pts,
        band: Some(band),
        ..Default::default()
    }];
    let last = p.ever_spiraled.last().map(|(day, pd)| {
        let (diff, _, _) = b_minus_a(pd.diff, pd.lo, pd.hi);
        format!(
            " At day {} it is {}, the table's P(spiral) difference.",
            fmt_int(*day),
            fmt_pp(diff)
        )
    });
    figure(
        out,
        &line_chart(&spec, &series),
        &format!(
            "Exact at each report day from the per-path spiral day of both designs: d_i(t) = 1{{s_{lb},i ≤ t}} − 1{{s_{la},i ≤ t}}, mean over the {} paths, band ±1.96 paired SE sd(d)/√n.{}",
            fmt_int(d.paths as f64),
            last.unwrap_or_default()
        ),
    );
}

fn ratio_histogram(out: &mut String, d: &CompareData, p: &PairPaths) {
    let (la, lb) = (letter(p.a), letter(p.b));
    let (r, used) = &p.ratio_quantiles;
    let title = format!("Final price ratio {lb}/{la} on the same path");
    let x_label = format!("final price of {lb} ÷ final price of {la}");
    let mut markers = Vec::new();
    if r[1].value.is_finite() {
        markers.push((r[1].value, format!("median {}×", fmt_sig(r[1].value, 3))));
    }
    let spec = HistSpec {
        title: &title,
        x_label: &x_label,
        x_format: TickFormat::Number,
        note: Some(format!("{} paths", fmt_int(*used as f64))),
        markers,
        empty: "no path with a positive final price in both designs",
    };
    let left_out = d.paths.saturating_sub(*used);
    figure(
        out,
        &histogram(&spec, &p.ratio_bins),
        &format!(
            "The distribution of the per-path effect: on each market path i, the final price under {lb} divided by the one under {la}. Only common random numbers make this possible (both designs saw the same draws on path i); two independent runs have no per-path pairing.{}",
            if left_out > 0 {
                format!(
                    " {} paths with a non-positive or non-finite price in either design are left out.",
                    fmt_int(left_out as f64)
                )
            } else {
                String::new()
            }
        ),
    );
}

fn runs_table(out: &mut String, d: &CompareData) {
    section(out, "runs", "The designs' runs");
    out.push_str(r#"<div class="scroll"><table class="data"><thead><tr><th>design</th><th>run</th><th>P(spiral)</th><th>final price, median</th><th>emissions-to-revenue, median</th></tr></thead><tbody>"#);
    let usd = |v: f64| format!("{} USD", fmt_sig(v, 4));
    let ratio = |v: f64| fmt_sig(v, 4);
    for (i, x) in d.designs.iter().enumerate() {
        // Each figure with its interval line, as on the index of a folder of runs.
        let cells: Vec<(String, String)> = match &x.summary {
            Some(t) => {
                let s = Sum { t };
                vec![
                    with_interval(&s, "p_spiral", &|v| fmt_pct(v), None),
                    with_interval(&s, "final_price_p50", &usd, None),
                    with_interval(&s, "er_ratio_p50", &ratio, None),
                ]
            }
            None => vec![(DASH.to_string(), String::new()); 3],
        };
        let _ = write!(
            out,
            r#"<tr id="run-{i}"><td>{}</td><td><a href="{}/{}">{}</a></td>"#,
            esc(&letter(i)),
            esc(&x.name),
            crate::output::REPORT_FILE,
            esc(&x.name)
        );
        for (v, sub) in cells {
            let _ = write!(
                out,
                r#"<td class="n">{}<div class="sub">{}</div></td>"#,
                esc(&v),
                esc(&sub)
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out.push_str(r#"<p class="note">In the order given to <code>tokenrisk compare</code>. Medians are exact (from every path's value) with their 95% order-statistic intervals; the P(spiral) interval is Wilson's.</p></section>"#);
}

/// Writes `dir/report.html`, the comparison page of the folder `dir` written by
/// `tokenrisk compare`; returns its path.
pub fn write_comparison_page(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context;
    let data = crate::report::compare_data::load(dir)
        .with_context(|| format!("cannot report on {}", dir.display()))?;
    let out = dir.join(crate::output::REPORT_FILE);
    crate::output::atomic::write_atomic_bytes(&out, compare_page(&data).as_bytes())?;
    Ok(out)
}

/// The comparison page of a folder written by `tokenrisk compare`.
pub fn compare_page(d: &CompareData) -> String {
    let mut body = String::new();
    let names: Vec<String> = d.designs.iter().map(|x| x.name.clone()).collect();
    let title = names.join(" vs ");
    let _ = write!(
        body,
        r#"<header><div class="kicker">tokenrisk design comparison</div><h1>{}</h1><ul class="designs">"#,
        esc(&title)
    );
    for (i, x) in d.designs.iter().enumerate() {
        let _ = write!(
            body,
            r#"<li><b>{}</b> <code>{}</code>{}</li>"#,
            esc(&letter(i)),
            esc(&x.name),
            if x.description.is_empty() {
                String::new()
            } else {
                format!(": {}", esc(&x.description))
            }
        );
    }
    let steps = if d.step_days.is_finite() {
        format!(
            " (steps of {} day{})",
            d.step_days,
            if d.step_days == 1.0 { "" } else { "s" }
        )
    } else {
        String::new()
    };
    let _ = write!(
        body,
        r#"</ul><p class="meta">Horizon <b>{} days</b>{steps} · <b>{}</b> paths · seed <b>{}</b> · common random numbers: every design ran on the same market paths (path i sees the same draws in each)</p></header>"#,
        esc(&horizon_text(d)),
        esc(&fmt_int(d.paths as f64)),
        esc(if d.seed.is_empty() { DASH } else { &d.seed }),
    );
    section(&mut body, "conclusion", "Conclusion");
    for p in &d.pairs {
        body.push_str(&conclusion(d, p));
    }
    body.push_str("</section>");
    for p in &d.pairs {
        let (la, lb) = (letter(p.a), letter(p.b));
        let id = format!("pair-{}", p.row);
        let several = d.pairs.len() > 1;
        section(
            &mut body,
            &id,
            &if several {
                format!("Paired differences, {lb} − {la}")
            } else {
                "Paired differences".to_string()
            },
        );
        let _ = write!(
            body,
            r#"<p class="note">Every difference is {lb} minus {la} (the change from design {la} to design {lb}), measured path by path on the same {} paths (comparison.parquet stores {la} minus {lb}). Probabilities are in percentage points; prices in USD, supply in tokens.</p>"#,
            fmt_int(d.paths as f64)
        );
        body.push_str(&differences_table(d, p));
        body.push_str("<h3>Quantiles: of each design, or of the per-path difference</h3>");
        body.push_str(&quantiles_table(d, p));
        body.push_str(r#"<div class="grid">"#);
        ever_spiraled(&mut body, d, p);
        ratio_histogram(&mut body, d, p);
        body.push_str("</div></section>");
    }
    over_time(&mut body, d);
    runs_table(&mut body, d);
    section(&mut body, "table", "comparison.parquet");
    body.push_str("<details><summary>Every column of comparison.parquet (differences A minus B, as fractions)</summary>");
    body.push_str(&table_html(&d.table));
    body.push_str("</details></section>");
    document(&format!("{title}: tokenrisk design comparison"), &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::data::{Column, ColumnData};

    fn table(cols: &[(&str, f64)]) -> Table {
        Table {
            name: "comparison.parquet".into(),
            path: "comparison.parquet".into(),
            columns: cols
                .iter()
                .map(|(n, v)| Column {
                    name: n.to_string(),
                    data: ColumnData::Num {
                        values: vec![Some(*v)],
                        integer: false,
                    },
                })
                .collect(),
            rows: 1,
            total_rows: 1,
            metadata: Default::default(),
        }
    }

    #[test]
    fn spiral_figures_are_b_minus_a_with_the_verdict() {
        // Stored A minus B: p_A 13.5%, p_B 36.2%, diff -22.7 pp, CI -24.0 to -21.3 pp.
        let t = table(&[
            ("p_spiral_a", 0.135),
            ("p_spiral_b", 0.362),
            ("diff_p_spiral", -0.227),
            ("diff_lo", -0.240),
            ("diff_hi", -0.213),
            ("diff_se_paired", 0.007),
            ("diff_se_independent", 0.01),
        ]);
        let f = spiral_figures(&t, 0).unwrap();
        assert_eq!((f.p_a.as_str(), f.p_b.as_str()), ("13.50%", "36.20%"));
        assert_eq!(f.diff, "+22.70 pp");
        assert_eq!((f.lo.as_str(), f.hi.as_str()), ("+21.30 pp", "+24.00 pp"));
        assert_eq!(f.verdict, Verdict::Raises);
        let t = table(&[
            ("p_spiral_a", 0.2),
            ("p_spiral_b", 0.1),
            ("diff_p_spiral", 0.1),
            ("diff_lo", 0.05),
            ("diff_hi", 0.15),
        ]);
        assert_eq!(spiral_figures(&t, 0).unwrap().verdict, Verdict::Lowers);
        let t = table(&[
            ("p_spiral_a", 0.2),
            ("p_spiral_b", 0.19),
            ("diff_p_spiral", 0.01),
            ("diff_lo", -0.01),
            ("diff_hi", 0.03),
        ]);
        let f = spiral_figures(&t, 0).unwrap();
        assert_eq!(f.verdict, Verdict::NoSignificantDifference);
        assert_eq!((f.lo.as_str(), f.hi.as_str()), ("-3.00 pp", "+1.00 pp"));
    }
}

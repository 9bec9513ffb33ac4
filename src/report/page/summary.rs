//! The key-figure cards and the summary table: every figure with its interval or standard
//! error, and whether it is exact or read from a histogram. The summary's quantiles, VaR and
//! CVaR are exact (from every path's value) with `<figure>_se`, `_lo` and `_hi` columns;
//! tables written before those columns existed show a dash where they are missing.

use crate::report::data::{RunData, Table};
use crate::report::format::{
    esc, fmt_fraction_fine, fmt_int, fmt_pct, fmt_pct_fine, fmt_si, fmt_sig, DASH,
};
use crate::stats::{wilson_interval, Z95};
use std::fmt::Write;

/// The interval of a figure with no spread: every path has the same value.
const SAME: &str = "the same on every path";

/// One row of the summary table.
pub(super) struct Row {
    figure: String,
    estimate: String,
    interval: String,
    se: String,
    meaning: String,
}

pub(super) fn row(
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

/// Reads figures of the first summary row.
pub(super) struct Sum<'a> {
    pub(super) t: &'a Table,
}

impl Sum<'_> {
    pub(super) fn get(&self, name: &str) -> Option<f64> {
        self.t.f64_at(name, 0).filter(|v| !v.is_nan())
    }
    /// A number with `sig` significant digits, "–" when absent.
    pub(super) fn sig(&self, name: &str, sig: usize) -> String {
        self.get(name).map_or(DASH.into(), |v| fmt_sig(v, sig))
    }
    pub(super) fn pct(&self, name: &str) -> String {
        self.get(name).map_or(DASH.into(), fmt_pct)
    }
    /// "p05 – p95" of a quantile family, formatted by `f`.
    pub(super) fn range(&self, stem: &str, f: impl Fn(f64) -> String) -> String {
        match (
            self.get(&format!("{stem}_p05")),
            self.get(&format!("{stem}_p95")),
        ) {
            (Some(a), Some(b)) => format!("p05–p95: {} to {}", f(a), f(b)),
            _ => DASH.into(),
        }
    }
    /// "95% CI a to b" from a figure's `{name}_lo` and `{name}_hi` columns, and its SE
    /// `{name}_se`, each formatted by `f`; dashes where absent.
    pub(super) fn interval(&self, name: &str, f: impl Fn(f64) -> String) -> (String, String) {
        let ci = match (
            self.get(&format!("{name}_lo")),
            self.get(&format!("{name}_hi")),
        ) {
            (Some(a), Some(b)) if a == b => format!("95% CI exactly {} (tied values)", f(a)),
            (Some(a), Some(b)) => format!("95% CI {} to {}", f(a), f(b)),
            _ => DASH.into(),
        };
        (ci, self.get(&format!("{name}_se")).map_or(DASH.into(), f))
    }

    /// The row of an exact quantile (or VaR, CVaR) `name` with its interval and SE.
    pub(super) fn quantile_row(
        &self,
        figure: impl Into<String>,
        name: &str,
        f: impl Fn(f64) -> String,
        meaning: impl Into<String>,
    ) -> Row {
        let (ci, se) = self.interval(name, &f);
        row(
            figure,
            self.get(name).map_or(DASH.into(), &f),
            ci,
            se,
            meaning,
        )
    }

    /// The row of a sample mean `{stem}_mean` with its 95% interval and standard error
    /// `{stem}_se` (4 and 3 significant digits).
    pub(super) fn mean_row(&self, figure: &str, stem: &str, meaning: &str) -> Row {
        let (mean, se) = (format!("{stem}_mean"), format!("{stem}_se"));
        row(
            figure,
            self.sig(&mean, 4),
            mean_ci(self.get(&mean), self.get(&se), |v| fmt_sig(v, 4)),
            self.sig(&se, 3),
            meaning,
        )
    }
}

/// VaR levels present in the summary, as their column labels ("95", "99", "97_5").
pub(super) fn var_labels(t: &Table) -> Vec<String> {
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

pub(super) fn level_text(label: &str) -> String {
    format!("{}%", label.replace('_', "."))
}

/// The price move a log-return loss stands for: "price down 99.99%" (or "price up 2.78%"
/// for a negative loss).
pub(super) fn price_fall(loss: Option<f64>) -> String {
    loss.map_or(String::new(), |l| {
        let fall = 1.0 - (-l).exp();
        if fall >= 0.0 {
            format!("price down {}", fmt_pct_fine(fall))
        } else {
            format!("price up {}", fmt_pct_fine(-fall))
        }
    })
}

/// The price fall a log-return loss stands for, as a positive loss: "99.99%" (a negative
/// loss, a price rise, reads "rise 2.78%").
pub(super) fn price_fall_pct(loss: f64) -> String {
    let fall = 1.0 - (-loss).exp();
    if fall >= 0.0 {
        fmt_pct_fine(fall)
    } else {
        format!("rise {}", fmt_pct_fine(-fall))
    }
}

/// The rows of the summary table, in groups (group title, rows).
pub(super) fn summary_rows(run: &RunData) -> Vec<(String, Vec<Row>)> {
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
    if spiraled {
        spiral.push(s.quantile_row(
            "Time to spiral, median day of onset",
            "spiral_day_p50",
            fmt_int,
            format!(
                "spiraled paths only; {}; mean {}",
                s.range("spiral_day", fmt_int),
                s.sig("spiral_day_mean", 4)
            ),
        ));
    } else {
        spiral.push(row(
            "Time to spiral (day of onset)",
            DASH.into(),
            DASH.into(),
            DASH.into(),
            "no path spiraled",
        ));
    }
    groups.push(("Demand spiral".to_string(), spiral));

    let mut tail = Vec::new();
    for l in var_labels(&run.summary) {
        let lv = level_text(&l);
        for (kind, what) in [("var", "VaR"), ("cvar", "CVaR")] {
            let name = format!("{kind}{l}_return");
            let fall = price_fall(s.get(&name));
            tail.push(s.quantile_row(
                format!("{lv} {what} of the log-return"),
                &name,
                |v| fmt_sig(v, 4),
                if kind == "var" {
                    format!(
                        "loss −ln(P_H/P_0) exceeded on {} of paths ({fall})",
                        level_text_rest(&l)
                    )
                } else {
                    format!(
                        "mean loss over the worst {} of paths ({fall})",
                        level_text_rest(&l)
                    )
                },
            ));
        }
        for (kind, what) in [("var", "VaR"), ("cvar", "CVaR")] {
            let name = format!("{kind}{l}_drawdown");
            let below = s.get(&name).map_or(String::new(), |d| {
                format!(": price {} below its peak", fmt_pct_fine(d))
            });
            tail.push(s.quantile_row(
                format!("{lv} {what} of the maximum drawdown"),
                &name,
                fmt_fraction_fine,
                if kind == "var" {
                    format!("{lv} quantile of the largest fall from a running peak{below}")
                } else {
                    format!(
                        "mean of the worst {} of drawdowns{below}",
                        level_text_rest(&l)
                    )
                },
            ));
        }
    }
    tail.push(s.mean_row("Log-return ln(P_H/P_0), mean", "log_return", ""));
    tail.push(s.mean_row("Maximum drawdown, mean", "max_drawdown", ""));
    groups.push((
        "Price tail risk (VaR and CVaR are positive losses)".to_string(),
        tail,
    ));

    let er = vec![
        s.quantile_row(
            "Emissions-to-revenue ratio, median",
            "er_ratio_p50",
            |v| fmt_sig(v, 4),
            format!(
                "per path: cumulative emission USD / cumulative revenue; {}; day 0 (trailing) {}",
                s.range("er_ratio", |v| fmt_sig(v, 4)),
                s.sig("initial_er_ratio", 4)
            ),
        ),
        s.mean_row("Emissions-to-revenue ratio, mean", "er_ratio", ""),
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
        s.quantile_row(
            "Final price, median",
            "final_price_p50",
            usd,
            format!(
                "{}; day 0 {}",
                s.range("final_price", usd),
                s.get("initial_price").map_or(DASH.into(), usd)
            ),
        ),
        row(
            "Final price, mean",
            s.get("final_price_mean").map_or(DASH.into(), usd),
            mean_ci(s.get("final_price_mean"), s.get("final_price_se"), usd),
            s.get("final_price_se").map_or(DASH.into(), usd),
            "",
        ),
        s.mean_row(
            "Final circulating supply, mean",
            "final_circulating",
            "tokens",
        ),
        s.quantile_row(
            "Final circulating supply, median",
            "final_circulating_p50",
            |v| format!("{} tokens", fmt_si(v)),
            "",
        ),
    ];
    for (stem, what) in [
        ("minted", "Tokens minted, mean"),
        ("emitted", "of which emitted, mean"),
        ("vested", "of which vested, mean"),
        ("burned", "Tokens burned, mean"),
    ] {
        // The split of `minted` only where vesting unlocked tokens (otherwise all emitted).
        let split = s.get("vested_mean").is_some_and(|v| v > 0.0);
        if s.get(&format!("{stem}_mean")).is_some()
            && (split || matches!(stem, "minted" | "burned"))
        {
            price.push(s.mean_row(
                what,
                stem,
                match stem {
                    "minted" => "tokens issued over the horizon, per path: emitted + vested",
                    "emitted" => "by the emission rule",
                    "vested" => "by vesting unlocks (the same on every path)",
                    _ => "tokens burned over the horizon, per path",
                },
            ));
        }
    }
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
pub(super) fn level_text_rest(label: &str) -> String {
    let level: f64 = label.replace('_', ".").parse().unwrap_or(95.0);
    format!("{}%", fmt_si(100.0 - level))
}

/// "95% CI a to b" for a mean and its standard error.
pub(super) fn mean_ci(mean: Option<f64>, se: Option<f64>, f: impl Fn(f64) -> String) -> String {
    match (mean, se) {
        (Some(_), Some(0.0)) => SAME.into(),
        (Some(m), Some(se)) if m.is_finite() && se.is_finite() => {
            format!("95% CI {} to {}", f(m - Z95 * se), f(m + Z95 * se))
        }
        _ => DASH.into(),
    }
}

pub(super) fn breakeven_row(run: &RunData, s: &Sum) -> Row {
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

pub(super) fn summary_table(run: &RunData) -> String {
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
    s.push_str(
        r#"<p class="note">Every figure in this table is exact: computed from all paths' values (paths.parquet), not read from a histogram. Intervals are 95%: Wilson for probabilities, mean ± 1.96 SE for means, the order-statistic interval for medians, quantiles and VaR (its SE is the interval's half width over 1.96), and the asymptotic standard error for CVaR.</p>"#,
    );
    s
}

pub(super) fn cards(run: &RunData) -> String {
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
        // A positive loss, as everywhere else: the price fall the VaR stands for.
        let name = format!("var{l}_return");
        let v = s.get(&name);
        let (ci, _) = s.interval(&name, |v| fmt_sig(v, 3));
        cards.push((
            format!("{} VaR: price fall", level_text(l)),
            v.map_or(DASH.into(), price_fall_pct),
            v.map_or(String::new(), |v| {
                format!("log-return loss {} ({ci})", fmt_sig(v, 4))
            }),
        ));
    }
    let (er_ci, _) = s.interval("er_ratio_p50", |v| fmt_sig(v, 3));
    cards.push((
        "Emissions-to-revenue, median".into(),
        s.sig("er_ratio_p50", 3),
        format!("{er_ci}; P(ratio > 1) {}", s.pct("p_er_above_1")),
    ));
    let (fp_ci, _) = s.interval("final_price_p50", |v| fmt_sig(v, 3));
    cards.push((
        "Final price, median".into(),
        s.get("final_price_p50")
            .map_or(DASH.into(), |v| format!("{} USD", fmt_sig(v, 3))),
        match s.get("initial_price") {
            Some(p0) => format!("{fp_ci}; day 0 {} USD", fmt_sig(p0, 4)),
            None => fp_ci,
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

//! The night's `index.html`: headline risks of every scenario with their intervals, the
//! change since the previous night, alerts and failures. Here, with the nightly run, rather
//! than in `report`: the page shows a night's results, which this workflow makes; numbers
//! and text go through `report::format` like every other page.
//!
//! Colour says riskier (red) or safer (green) only where that is what a change means:
//! - only on rows run with the previous night's settings ([`RowComparison::comparable`]);
//!   a row whose seed, paths, horizon, engine, overlays or model version changed, or whose
//!   previous settings are unknown, carries a badge naming what changed and neutral deltas;
//! - never on the median emissions-to-revenue ratio: its numerator is emission USD, which
//!   moves with the price, so it falls in a crash; a lower ratio is not a safer economy;
//! - P(spiral), VaR and CVaR rising is riskier, the median final price falling is.
//!
//! A scenario whose file was edited is marked "scenario text changed" with a link to the
//! diff; its deltas stay coloured (same seed and settings: the change is the edit's effect).

use super::{exit_code, status_word, Headline, Night, RowComparison, EXIT_ALERTS};
use crate::report::format::{esc, fmt_count, fmt_pct, fmt_pct_fine, fmt_pp, fmt_sig};
use std::fmt::Write as _;

/// Whether a rise of the figure is bad (risks) or good (price).
#[derive(Clone, Copy, PartialEq)]
enum Sense {
    RiseIsWorse,
    RiseIsBetter,
}

/// A delta cell: arrow, signed change and a class saying whether it is worse or better, or
/// `neutral` when `coloured` is false (the change is not a change in risk).
fn delta_html(
    now: f64,
    before: Option<f64>,
    sense: Sense,
    kind: DeltaKind,
    sig: bool,
    coloured: bool,
) -> String {
    let Some(before) = before else {
        return r#"<span class="delta new">new</span>"#.into();
    };
    if !now.is_finite() || !before.is_finite() {
        return r#"<span class="delta na">–</span>"#.into();
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
    let class = match (coloured, worse) {
        (false, _) => "neutral",
        (true, true) => "worse",
        (true, false) => "better",
    };
    let text = match kind {
        DeltaKind::Points => fmt_pp(d),
        DeltaKind::Absolute => {
            let s = fmt_sig(d, 3);
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
    let sig = if sig && coloured {
        r#" <span class="sig" title="more than 2 combined standard errors">*</span>"#
    } else {
        ""
    };
    let title = if coloured {
        ""
    } else {
        r#" title="not comparable: not a change in risk""#
    };
    format!(r#"<span class="delta {dir} {class}"{title}>{arrow} {text}{sig}</span>"#)
}

/// The badges under a row's name: settings changed / previous settings unknown (with the
/// note that its changes are not comparable) and scenario text changed (with its diff).
fn comparison_html(c: &RowComparison) -> String {
    let mut h = String::new();
    if let Some(why) = &c.unknown {
        let _ = write!(
            h,
            "<span class=\"cmp unknown\" title=\"{}\">previous settings unknown\
             <span class=\"why\">not comparable: the previous night's settings cannot be read ({})</span></span>",
            esc(why),
            esc(why)
        );
    } else if !c.changes.is_empty() {
        let _ = write!(
            h,
            "<span class=\"cmp changed\">settings changed: {}\
             <span class=\"why\">not comparable: settings changed</span></span>",
            c.changes
                .iter()
                .map(|x| format!("<span class=\"item\">{}</span>", esc(x)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if c.text_changed {
        let link = match &c.diff {
            Some(href) => format!(" (<a href=\"{}\">diff</a>)", esc(href)),
            None => String::new(),
        };
        let _ = write!(
            h,
            "<span class=\"cmp text\">scenario text changed{link}</span>"
        );
    }
    h
}

#[derive(Clone, Copy)]
enum DeltaKind {
    /// Probabilities: percentage points.
    Points,
    Absolute,
    /// Relative change in percent.
    Relative,
}

/// The page's style sheet.
const STYLE: &str = include_str!("nightly.css");

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
        Some(p) => format!("changes since the previous night, {}", esc(&p.date)),
        None => "no previous night to compare with".into(),
    };
    let _ = writeln!(
        h,
        "<p class=\"sub\">{} scenarios: {} with alerts breached, {} failed; {compared}.</p>",
        night.results.len(),
        n_alert,
        n_fail
    );
    let not_comparable: Vec<&super::ScenarioResult> = night
        .results
        .iter()
        .filter(|r| r.comparison.as_ref().is_some_and(|c| !c.comparable()))
        .collect();
    if let Some(p) = &night.previous {
        if let Err(why) = &p.settings {
            let _ = writeln!(
                h,
                "<p class=\"notice\">Previous settings unknown: the night of {} cannot say how it was run ({}). \
                 Its figures are shown for reference, uncoloured: a difference may be a change of seed, \
                 paths, horizon or stress rather than of risk.</p>",
                esc(&p.date),
                esc(why)
            );
        } else if !not_comparable.is_empty() {
            let _ = writeln!(
                h,
                "<p class=\"notice\">Settings changed since {}: {} of {} scenarios were run with other settings \
                 than the previous night (each row names what changed). Their changes are not comparable and \
                 are shown uncoloured: they measure the settings, not a change in risk.</p>",
                esc(&p.date),
                not_comparable.len(),
                night.results.len()
            );
        }
    }
    let _ = writeln!(
        h,
        "<p class=\"legend\">Changes since the previous night: \
         <span class=\"key worse\">red</span> = riskier, \
         <span class=\"key better\">green</span> = safer (arrows give the direction), only on rows run with the previous \
         night's settings; <span class=\"key neutral\">grey</span> = not comparable (settings changed or \
         unknown), or the median emissions-to-revenue ratio, which is never coloured: emission USD falls \
         with the price, so the ratio falls in a crash and a lower ratio does not mean a safer economy \
         (its [alerts] limit is still checked). * = change of P(spiral) beyond 2 combined standard errors.</p>"
    );
    h.push_str(
        "<div class=\"table-wrap\"><table>\n<thead><tr><th class=\"name\">scenario</th><th>paths</th>\
         <th>P(spiral)<br><small>95% CI</small></th>\
         <th>VaR 95%<br><small>log-return loss</small></th>\
         <th>CVaR 95%<br><small>log-return loss</small></th>\
         <th>median emissions-<br>to-revenue</th><th>median final price<br><small>USD</small></th>\
         <th class=\"name\">alerts</th></tr></thead>\n<tbody>\n",
    );
    let prev = night.previous.as_ref().map(|p| &p.headlines);
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
        let badges = r
            .comparison
            .as_ref()
            .map(comparison_html)
            .unwrap_or_default();
        let _ = write!(
            h,
            "<tr class=\"{row_class}\"><td class=\"name\">{link}<small>{sub}</small>{badges}</td>"
        );
        let coloured = r.comparison.as_ref().is_none_or(|c| c.comparable());
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
                    fmt_count(hl.paths),
                    fmt_pct(hl.p_spiral),
                    fmt_pct(hl.p_spiral_lo),
                    fmt_pct(hl.p_spiral_hi),
                    delta_html(
                        hl.p_spiral,
                        b(|x| x.p_spiral),
                        Sense::RiseIsWorse,
                        DeltaKind::Points,
                        sig,
                        coloured
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
                        fmt_sig(v, 4),
                        fmt_pct_fine(1.0 - (-v).exp()),
                        delta_html(
                            v,
                            b(get),
                            Sense::RiseIsWorse,
                            DeltaKind::Absolute,
                            false,
                            coloured
                        )
                    );
                }
                let _ = write!(
                    h,
                    "<td>{}{}</td><td>{}{}</td>",
                    fmt_sig(hl.er_ratio_p50, 4),
                    // Never coloured: see the module notes.
                    delta_html(
                        hl.er_ratio_p50,
                        b(|x| x.er_ratio_p50),
                        Sense::RiseIsWorse,
                        DeltaKind::Absolute,
                        false,
                        false
                    ),
                    fmt_sig(hl.final_price_p50, 4),
                    delta_html(
                        hl.final_price_p50,
                        b(|x| x.final_price_p50),
                        Sense::RiseIsBetter,
                        DeltaKind::Relative,
                        false,
                        coloured
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
    h.push_str("</tbody>\n</table></div>\n");
    if let Some(super::Previous {
        date: d,
        headlines: p,
        ..
    }) = &night.previous
    {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas() {
        let up = delta_html(
            0.2,
            Some(0.1),
            Sense::RiseIsWorse,
            DeltaKind::Points,
            true,
            true,
        );
        assert!(up.contains("worse") && up.contains("+10.00 pp") && up.contains("&#9650;"));
        let down = delta_html(
            5.0,
            Some(10.0),
            Sense::RiseIsBetter,
            DeltaKind::Relative,
            false,
            true,
        );
        assert!(down.contains("worse") && down.contains("-50.0%") && down.contains("&#9660;"));
        assert!(delta_html(
            1.0,
            None,
            Sense::RiseIsWorse,
            DeltaKind::Absolute,
            false,
            true
        )
        .contains("new"));
        assert!(delta_html(
            1.0,
            Some(1.0),
            Sense::RiseIsWorse,
            DeltaKind::Absolute,
            false,
            true
        )
        .contains("= 0"));
    }

    #[test]
    fn not_comparable_deltas_are_neutral_and_unstarred() {
        let d = delta_html(
            0.2,
            Some(0.1),
            Sense::RiseIsWorse,
            DeltaKind::Points,
            true,
            false,
        );
        assert!(d.contains("class=\"delta up neutral\""), "{d}");
        assert!(!d.contains("worse") && !d.contains("better") && !d.contains("sig"));
        let c = RowComparison {
            changes: vec!["seed 42 -> 7".into()],
            text_changed: true,
            diff: Some("a/scenario.diff".into()),
            ..RowComparison::default()
        };
        let h = comparison_html(&c);
        assert!(
            h.contains("settings changed: <span class=\"item\">seed 42 -&gt; 7</span>"),
            "{h}"
        );
        assert!(h.contains("not comparable: settings changed"), "{h}");
        assert!(h.contains("href=\"a/scenario.diff\""), "{h}");
    }
}

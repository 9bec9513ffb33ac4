//! The run page's "Design review": the checks of `measure::review` rebuilt from what the run
//! folder holds (the scenario text in the tables' metadata, `summary.parquet`,
//! `paths.parquet`, `timeseries.parquet`), so every run's report has it without `tokenrisk
//! run` writing anything new. The one figure a plain run folder lacks, the first year's share
//! of minting (it needs a 365-day prefix run), comes from `review.parquet` when `tokenrisk
//! review` wrote one, else the check reads "not computed in this run".

use super::super::data::{count_above, RunData, PATHS};
use super::super::format::{esc, fmt_int, fmt_pct};
use super::charts::metric_rows;
use super::section;
use crate::measure::review::{review, Check, SimFigures, Status};
use crate::output::review::REVIEW_FILE;
use std::fmt::Write;

/// Human names of the checks.
fn title(id: &str) -> &'static str {
    match id {
        "insider_allocation" => "Team + investor allocation",
        "insider_cliff" => "Team / investor cliffs",
        "demand_linked_to_usage" => "Token demand linked to usage",
        "er_gap_widening" => "Emissions-to-revenue gap widening",
        "breakeven_within_horizon" => "Breakeven within the horizon",
        "front_loading" => "Front-loaded release",
        _ => "check",
    }
}

/// The simulated figures the folder gives.
fn sim_figures(run: &RunData, scenario: Option<&str>) -> SimFigures {
    let s = &run.summary;
    let paths = run.paths.paths;
    let widened = s
        .f64_at("initial_er_ratio", 0)
        .and_then(|er0| {
            count_above(&run.dir.join(PATHS), "er_ratio", er0)
                .ok()
                .flatten()
        })
        .map(|(_, k)| k);
    let rows = metric_rows(&run.timeseries, scenario);
    let median_trend = rows.get("er_ratio").and_then(|r| {
        let (a, b) = (r.first()?, r.last()?);
        run.timeseries
            .f64_at("p50", *a)
            .zip(run.timeseries.f64_at("p50", *b))
    });
    let first_year_share = run
        .extras
        .iter()
        .find(|e| e.name == REVIEW_FILE)
        .and_then(|e| {
            let t = e.table.as_ref().ok()?;
            let i = t
                .text("check")?
                .iter()
                .position(|c| c.as_deref() == Some("front_loading"))?;
            Some((t.f64_at("figure", i)?, t.f64_at("se", i).unwrap_or(0.0)))
        });
    SimFigures {
        paths,
        widened,
        median_trend,
        broke_even: run.paths.breakeven,
        first_year_share,
    }
}

/// A check's figure as the page shows it, with its interval where it is an estimate.
fn figure(c: &Check) -> String {
    if c.figure.is_nan() {
        return "–".into();
    }
    if c.check == "insider_cliff" {
        return format!("{} days", fmt_int(c.figure));
    }
    let mut s = fmt_pct(c.figure);
    if c.se == 0.0 && c.lo == c.hi {
        s.push_str(r#"<div class="nz">the same on every path</div>"#);
    } else if !c.lo.is_nan() {
        let _ = write!(
            s,
            r#"<div class="nz">95% CI {} to {}, SE {}</div>"#,
            fmt_pct(c.lo),
            fmt_pct(c.hi),
            fmt_pct(c.se)
        );
    }
    s
}

fn threshold(c: &Check) -> String {
    if c.threshold.is_nan() {
        return "a burn or buyback".into();
    }
    match c.check {
        "insider_allocation" => format!("above {}", fmt_pct(c.threshold)),
        "insider_cliff" => format!("under {} days", fmt_int(c.threshold)),
        "breakeven_within_horizon" => format!("P below {}", fmt_pct(c.threshold)),
        _ => format!("above {}", fmt_pct(c.threshold)),
    }
}

/// The section, or nothing when the run carries no scenario text that parses.
pub(super) fn design_review(out: &mut String, run: &RunData, name: Option<&str>) {
    let Some(Ok(sc)) = run
        .summary
        .metadata
        .get("tokenrisk.scenario_toml")
        .map(|t| crate::scenario::parse(t, "tokenrisk.scenario_toml"))
    else {
        return;
    };
    let checks = review(&sc, &sim_figures(run, name));
    let flags = checks
        .iter()
        .filter(|c| c.status == Status::RedFlag)
        .count();
    section(out, "design-review", "Design review");
    let _ = write!(
        out,
        r#"<p>{flags} red flag{} of {} checks: the seed article's red flags ("How to Evaluate AI Project Tokenomics Before Investing") applied to this scenario and its paths. Thresholds come from the scenario's <code>[review]</code> table, defaulting to the article's figures (docs/SCENARIO.md).</p>"#,
        if flags == 1 { "" } else { "s" },
        checks.len()
    );
    out.push_str(r#"<div class="scroll"><table class="data cmp review"><thead><tr><th>check</th><th>status</th><th>figure</th><th>red flag when</th><th>why</th></tr></thead><tbody>"#);
    for c in &checks {
        let status = match c.status {
            Status::NotComputed => {
                "not computed in this run (<code>tokenrisk review</code>)".into()
            }
            s => esc(s.label()),
        };
        let class = match c.status {
            Status::RedFlag => "flag",
            Status::Ok => "okay",
            _ => "na",
        };
        let _ = write!(
            out,
            r#"<tr class="{class}"><td>{}</td><td class="st">{status}</td><td>{}</td><td>{}</td><td class="how">{}</td></tr>"#,
            esc(title(c.check)),
            figure(c),
            esc(&threshold(c)),
            esc(&c.explanation)
        );
    }
    out.push_str("</tbody></table></div></section>");
}

//! The price fan chart of `Run._repr_html_`: the report's own chart code
//! (`report::charts::fan_chart_marked`, the chart `tokenrisk report` draws as "Token price")
//! fed from the run's in-memory timeseries batch, so the notebook shows the report's chart,
//! not a redrawing of it. The page's colours live in its style sheet (`report/report.css`,
//! the chart's SVG holds geometry and classes only): [`chart_css`] is that sheet's `svg`
//! rules, scoped under `.tokenrisk-chart` so they style nothing else in the notebook.

use crate::errors::{engine_error, guard};
use crate::run::PyRun;
use arrow::array::{Array, Float64Array, StringArray, UInt32Array};
use pyo3::prelude::*;
use std::collections::BTreeMap;
use tokenrisk::report::charts::{fan_chart_marked, FanData, FanSpec, Mark, MarkKind};
use tokenrisk::report::format::fmt_change_pct;
use tokenrisk::report::svg::TickFormat;

/// The report's style sheet (the same file the page embeds).
const REPORT_CSS: &str = include_str!("../../src/report/report.css");

/// The sheet's `svg ...` rules under `.tokenrisk-chart`, with the colour variables they use.
pub fn chart_css() -> String {
    let mut out = String::from(".tokenrisk-chart{--ink:#1d2433;--muted:#5b6472}");
    for rule in REPORT_CSS.split_inclusive('}') {
        let rule = rule.trim_start();
        if rule.starts_with("svg") {
            out.push_str(".tokenrisk-chart ");
            out.push_str(rule);
        }
    }
    out
}

/// Shock days of the scenario as run, as the report marks them (one line per day).
fn marks(s: &tokenrisk::scenario::Scenario) -> Vec<Mark> {
    let mut by_day: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for sh in &s.shock {
        let e = by_day.entry(sh.day).or_default();
        for (k, c) in sh.changes().iter().filter(|(_, c)| *c != 0.0) {
            e.push(format!("{k} {}", fmt_change_pct(*c)));
        }
    }
    by_day
        .into_iter()
        .map(|(day, ch)| Mark {
            x: day as f64,
            label: format!("shock d{day}"),
            detail: if ch.is_empty() {
                "no change".into()
            } else {
                ch.join(", ")
            },
            kind: MarkKind::Shock,
        })
        .collect()
}

/// The "Token price" fan chart of `run` as an SVG element.
#[pyfunction]
pub fn price_fan_svg(run: &PyRun) -> PyResult<String> {
    guard("drawing the price fan chart", || {
        let r = run.result();
        let b = r.timeseries_batch().map_err(engine_error)?;
        let col = |name: &str| b.column_by_name(name);
        let metric = col("metric").and_then(|c| c.as_any().downcast_ref::<StringArray>());
        let day = col("day").and_then(|c| c.as_any().downcast_ref::<UInt32Array>());
        let (Some(metric), Some(day)) = (metric, day) else {
            return Ok(tokenrisk::report::charts::no_data(
                "Token price",
                "not in the timeseries",
            ));
        };
        let mut rows: Vec<usize> = (0..b.num_rows())
            .filter(|&i| metric.value(i) == "price")
            .collect();
        rows.sort_by_key(|&i| day.value(i));
        let values = |name: &str| -> Vec<Option<f64>> {
            match col(name).and_then(|c| c.as_any().downcast_ref::<Float64Array>()) {
                Some(a) => rows
                    .iter()
                    .map(|&i| (!a.is_null(i)).then(|| a.value(i)))
                    .collect(),
                None => vec![None; rows.len()],
            }
        };
        let data = FanData {
            x: rows.iter().map(|&i| day.value(i) as f64).collect(),
            p05: values("p05"),
            p25: values("p25"),
            p50: values("p50"),
            p75: values("p75"),
            p95: values("p95"),
            mean: values("mean"),
        };
        let spec = FanSpec {
            title: "Token price",
            unit: "USD",
            format: TickFormat::Number,
            reference: None,
        };
        Ok(fan_chart_marked(&spec, &data, &marks(&r.scenario)))
    })
}

//! The columns of `comparison.parquet` (`tokenrisk compare`): the compared per-path
//! metrics and the per-metric statistics, in column order. Here, below both the workflow
//! that writes the table and the report that reads it, so the two share one list.

use crate::stats::paired::MetricDiff;

/// The compared metrics, in column order: (column prefix, human label).
pub const METRICS: [(&str, &str); 3] = [
    ("final_price", "final price"),
    ("final_circulating", "final circulating"),
    ("er_ratio", "emissions-to-revenue"),
];

/// A per-metric column: name suffix and the field it holds.
pub type MetricColumn = (&'static str, fn(&MetricDiff) -> f64);

/// The columns of each compared metric, `<metric>_<suffix>`, in order.
pub const METRIC_COLUMNS: [MetricColumn; 8] = [
    ("mean_a", |m| m.mean_a),
    ("mean_b", |m| m.mean_b),
    ("diff_mean", |m| m.diff_mean),
    ("diff_se", |m| m.diff_se),
    ("diff_se_independent", |m| m.diff_se_independent),
    ("diff_p05", |m| m.diff_p05),
    ("diff_p50", |m| m.diff_p50),
    ("diff_p95", |m| m.diff_p95),
];

/// Column names of `comparison.parquet`, in order.
pub fn comparison_columns() -> Vec<String> {
    let mut cols: Vec<String> = [
        "design_a",
        "design_b",
        "paths",
        "p_spiral_a",
        "p_spiral_b",
        "diff_p_spiral",
        "diff_se_paired",
        "diff_lo",
        "diff_hi",
        "diff_se_independent",
        "variance_reduction",
        "discordant_ab",
        "discordant_ba",
        "mcnemar_p_value",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (m, _) in METRICS {
        for (suffix, _) in METRIC_COLUMNS {
            cols.push(format!("{m}_{suffix}"));
        }
    }
    cols.push("nonfinite_pairs".into());
    cols
}

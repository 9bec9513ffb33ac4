//! The warnings a run's figures carry when timeseries values left the histogram's range (or a
//! standard error is not finite; the summary's quantiles are exact and need no such warning): one text for the CLI, which has the accumulator, and the report
//! page, which has only the tables, so both say the same thing. Each names the quantity or
//! metric, how many values, and what is not shown because of them.

use crate::measure::Accumulator;
use crate::model::{METRICS, N_METRICS};
use crate::stats::{MAX_TRACKED, MIN_TRACKED};

/// One per-report-day metric's counts over the report rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesCounts {
    pub metric: String,
    /// Report rows with values outside the histogram's range, and those values.
    pub clamped_rows: u64,
    pub clamped_values: u64,
    /// Report rows whose standard error is not finite.
    pub se_nonfinite_rows: u64,
}

/// What the warnings are made of: per-path quantities whose standard error is not finite,
/// and the per-report-day metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RangeCounts {
    /// Per-path quantities whose standard error is not finite (summary `<quantity>_se`).
    pub per_path_se_nonfinite: Vec<String>,
    pub series: Vec<SeriesCounts>,
}

impl RangeCounts {
    /// The counts of a run's accumulator. Standard errors are only counted as not finite
    /// where at least two values make one.
    pub fn from_acc(acc: &Accumulator) -> RangeCounts {
        let per_path_se_nonfinite = acc
            .per_path
            .quantities()
            .iter()
            .filter(|(_, m)| m.moments.n >= 2 && !m.moments.std_error().is_finite())
            .map(|(name, _)| name.to_string())
            .collect();
        let series = (0..N_METRICS)
            .map(|m| {
                let mut c = SeriesCounts {
                    metric: METRICS[m].to_string(),
                    ..SeriesCounts::default()
                };
                for row in 0..acc.report_days.len() {
                    let a = acc.metric(row, m);
                    let out = a.hist.out_of_range();
                    c.clamped_rows += (out > 0) as u64;
                    c.clamped_values += out;
                    let se = a.moments.std_error();
                    c.se_nonfinite_rows += (a.moments.n >= 2 && !se.is_finite()) as u64;
                }
                c
            })
            .collect();
        RangeCounts {
            per_path_se_nonfinite,
            series,
        }
    }

    /// The warnings, one line each (empty when every value was in range).
    pub fn warnings(&self) -> Vec<String> {
        let range = format!("magnitudes {MIN_TRACKED:e} to {MAX_TRACKED:e}, zeros aside");
        let mut out = Vec::new();
        if !self.per_path_se_nonfinite.is_empty() {
            out.push(format!(
                "the standard error of {} is not finite (summary.parquet <quantity>_se): the \
                 values are too large for their squares to sum in f64; the mean has no \
                 standard error there",
                self.per_path_se_nonfinite.join(", ")
            ));
        }
        for s in self.series.iter().filter(|s| s.clamped_rows > 0) {
            out.push(format!(
                "timeseries {}: {} values outside the histogram's range ({range}) on {} report \
                 rows (column clamped); quantiles that would be read among them are null",
                s.metric, s.clamped_values, s.clamped_rows
            ));
        }
        for s in self.series.iter().filter(|s| s.se_nonfinite_rows > 0) {
            out.push(format!(
                "timeseries {}: the standard error is not finite on {} report rows: the values \
                 are non-finite (column nonfinite) or too large for their squares to sum in f64 \
                 (column clamped); its se there is no figure",
                s.metric, s.se_nonfinite_rows
            ));
        }
        out
    }
}

//! `review.parquet` (`tokenrisk review`): one row per design-review check (`check, status,
//! figure, se, lo, hi, threshold, explanation`), written with the same explicit properties and
//! run metadata as the run's other tables, and read back by the report. The columns are listed
//! here, below both the workflow that writes the table and the report that reads it.

use super::parquet::{run_metadata, write_table};
use super::RunInfo;
use crate::measure::review::Check;
use anyhow::Result;
use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use std::path::Path;
use std::sync::Arc;

pub const REVIEW_FILE: &str = "review.parquet";

/// Column names of `review.parquet`, in order.
pub const REVIEW_COLUMNS: [&str; 8] = [
    "check",
    "status",
    "figure",
    "se",
    "lo",
    "hi",
    "threshold",
    "explanation",
];

fn opt(x: f64) -> Option<f64> {
    (!x.is_nan()).then_some(x)
}

/// The checks as a batch (NaN figures as nulls).
pub fn review_batch(checks: &[Check]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&Check) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(checks.iter().map(f)))
    };
    let num = |f: &dyn Fn(&Check) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter(checks.iter().map(|c| opt(f(c)))))
    };
    let cols: Vec<ArrayRef> = vec![
        text(&|c| c.check.to_string()),
        text(&|c| c.status.label().to_string()),
        num(&|c| c.figure),
        num(&|c| c.se),
        num(&|c| c.lo),
        num(&|c| c.hi),
        num(&|c| c.threshold),
        text(&|c| c.explanation.clone()),
    ];
    Ok(RecordBatch::try_from_iter(
        REVIEW_COLUMNS.iter().zip(cols).map(|(n, c)| (*n, c)),
    )?)
}

/// Writes `dir/review.parquet` atomically with the run's metadata.
pub fn write_review(dir: &Path, info: &RunInfo, paths: u64, checks: &[Check]) -> Result<()> {
    write_table(
        &dir.join(REVIEW_FILE),
        &review_batch(checks)?,
        run_metadata(info, paths),
    )
}

//! The tables of `tokenrisk calibrate`: `calibration.parquet` (one row per fitted model
//! and parameter: estimate, SE, 95% interval, the model's likelihood and criteria, whether
//! it was chosen), `series.parquet` (the price history as fitted: each observation's
//! log-return, standardized residual and stress probability, and every suspicious print
//! with whether it was excluded) and `decisions.parquet` (every row dropped and every
//! outlier, with line and reason). Here, below the workflow that writes them and the page
//! that reads them, so both share one list of names.
//!
//! Like every table in `output`: explicit writer properties (`parquet::writer_properties`)
//! and key-value metadata: the source file and its SHA-256, the counts of dropped rows and
//! outliers, the window, the model chosen and why, and the chosen model's fitted density of
//! one step on a grid (for the page's histogram, so the page needs no model code).

use crate::calibrate::fit::{Fit, LrTest};
use crate::calibrate::series::{DropReason, Increments, Series};
use anyhow::Result;
use arrow::array::{ArrayRef, BooleanArray, Date32Array, Float64Array, RecordBatch, StringArray};
use arrow::array::{Int64Array, UInt64Array};
use arrow::datatypes::{Field, Schema};
use chrono::NaiveDate;
use parquet::file::metadata::KeyValue;
use std::sync::Arc;

pub const CALIBRATION_FILE: &str = "calibration.parquet";
pub const SERIES_FILE: &str = "series.parquet";
pub const DECISIONS_FILE: &str = "decisions.parquet";
pub const FITTED_FILE: &str = "fitted.toml";
pub const PAGE_FILE: &str = "calibration.html";

/// Columns of `calibration.parquet`, in order.
pub const CALIBRATION_COLUMNS: [&str; 16] = [
    "series",
    "parameter",
    "estimate",
    "se",
    "lo",
    "hi",
    "model",
    "chosen",
    "window_from",
    "window_to",
    "n",
    "loglik",
    "aic",
    "bic",
    "step_days",
    "se_method",
];

/// Columns of `series.parquet`, in order.
pub const SERIES_COLUMNS: [&str; 9] = [
    "date",
    "price",
    "log_return",
    "days",
    "std_residual",
    "stress_prob",
    "outlier",
    "excluded",
    "reason",
];

/// Columns of `decisions.parquet`, in order.
pub const DECISIONS_COLUMNS: [&str; 6] = ["line", "date", "kind", "reason", "value", "excluded"];

/// Metadata keys (all prefixed `tokenrisk.calibration.`).
pub mod key {
    pub const SOURCE: &str = "tokenrisk.calibration.source";
    pub const SHA256: &str = "tokenrisk.calibration.source_sha256";
    pub const LAYOUT: &str = "tokenrisk.calibration.layout";
    pub const ROWS_KEPT: &str = "tokenrisk.calibration.rows_kept";
    pub const DROPPED: &str = "tokenrisk.calibration.dropped";
    pub const OUTLIERS: &str = "tokenrisk.calibration.outliers";
    pub const OUTLIERS_EXCLUDED: &str = "tokenrisk.calibration.outliers_excluded";
    pub const WINDOW_FROM: &str = "tokenrisk.calibration.window_from";
    pub const WINDOW_TO: &str = "tokenrisk.calibration.window_to";
    pub const MODEL: &str = "tokenrisk.calibration.model";
    pub const REASON: &str = "tokenrisk.calibration.reason";
    pub const STEP_DAYS: &str = "tokenrisk.calibration.step_days";
    pub const NOT_AVAILABLE: &str = "tokenrisk.calibration.not_available";
    pub const LR_TESTS: &str = "tokenrisk.calibration.lr_tests";
    /// JSON `{"days": d, "x": [...], "pdf": [...]}`: the chosen model's density of one
    /// increment of `d` days.
    pub const DENSITY: &str = "tokenrisk.calibration.density";
}

/// One fit as a block of rows.
pub struct FitRows<'a> {
    /// Which series: `price`, `revenue`, `gpu_cost`.
    pub series: &'a str,
    pub fit: &'a Fit,
    pub chosen: bool,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

fn days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

fn batch(cols: Vec<(&str, ArrayRef)>) -> Result<RecordBatch> {
    let schema = Schema::new(
        cols.iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        cols.into_iter().map(|(_, a)| a).collect(),
    )?)
}

/// `calibration.parquet`'s rows: each fit's parameters in order.
pub fn calibration_batch(fits: &[FitRows]) -> Result<RecordBatch> {
    let rows: Vec<(&FitRows, &crate::calibrate::fit::Param)> = fits
        .iter()
        .flat_map(|f| f.fit.params.iter().map(move |p| (f, p)))
        .collect();
    let f64s = |g: &dyn Fn(&FitRows, &crate::calibrate::fit::Param) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|(f, p)| g(f, p)),
        ))
    };
    let strs = |g: &dyn Fn(&FitRows, &crate::calibrate::fit::Param) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|(f, p)| g(f, p)),
        ))
    };
    let dates = |g: &dyn Fn(&FitRows) -> NaiveDate| -> ArrayRef {
        Arc::new(Date32Array::from_iter_values(
            rows.iter().map(|(f, _)| days(g(f))),
        ))
    };
    let u64s = |g: &dyn Fn(&FitRows) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|(f, _)| g(f)),
        ))
    };
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("series", strs(&|f, _| f.series.to_string())),
        ("parameter", strs(&|_, p| p.key.to_string())),
        ("estimate", f64s(&|_, p| p.value)),
        ("se", f64s(&|_, p| p.se)),
        ("lo", f64s(&|_, p| p.interval().0)),
        ("hi", f64s(&|_, p| p.interval().1)),
        ("model", strs(&|f, _| f.fit.model.kind().name().to_string())),
        (
            "chosen",
            Arc::new(BooleanArray::from(
                rows.iter().map(|(f, _)| f.chosen).collect::<Vec<_>>(),
            )),
        ),
        ("window_from", dates(&|f| f.from)),
        ("window_to", dates(&|f| f.to)),
        ("n", u64s(&|f| f.fit.n as u64)),
        ("loglik", f64s(&|f, _| f.fit.loglik)),
        ("aic", f64s(&|f, _| f.fit.aic())),
        ("bic", f64s(&|f, _| f.fit.bic())),
        ("step_days", u64s(&|f| f.fit.step_days as u64)),
        ("se_method", strs(&|f, _| f.fit.se_method.to_string())),
    ];
    batch(cols)
}

/// `series.parquet`: every kept observation (the first has no return), with the chosen
/// fit's residual and stress probability per increment, and every outlier the reader
/// excluded (no return; flagged), in date order.
pub fn series_batch(series: &Series, inc: &Increments, fit: &Fit) -> Result<RecordBatch> {
    let resid = fit.std_residuals();
    struct Row {
        date: NaiveDate,
        price: f64,
        ret: Option<f64>,
        days: Option<i64>,
        resid: Option<f64>,
        stress: Option<f64>,
        outlier: bool,
        excluded: bool,
        reason: Option<String>,
    }
    let outlier_on = |d: NaiveDate| series.outliers.iter().find(|o| o.date == d);
    let mut rows: Vec<Row> = series
        .obs
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let j = i.checked_sub(1);
            let out = outlier_on(o.date);
            Row {
                date: o.date,
                price: o.value,
                ret: j.and_then(|j| inc.x.get(j).copied()),
                days: j.and_then(|j| inc.days.get(j).map(|&d| d as i64)),
                resid: j.and_then(|j| resid.get(j).copied()),
                stress: j.and_then(|j| fit.stress_prob.as_ref()?.get(j).copied()),
                outlier: out.is_some(),
                excluded: false,
                reason: out.map(|o| o.reason.clone()),
            }
        })
        .collect();
    let (from, to) = (series.first_date(), series.last_date());
    for o in series.outliers.iter().filter(|o| o.excluded) {
        if from.is_some_and(|f| o.date < f) || to.is_some_and(|t| o.date > t) {
            continue;
        }
        rows.push(Row {
            date: o.date,
            price: o.value,
            ret: None,
            days: None,
            resid: None,
            stress: None,
            outlier: true,
            excluded: true,
            reason: Some(o.reason.clone()),
        });
    }
    rows.sort_by_key(|r| (r.date, r.excluded));
    let cols: Vec<(&str, ArrayRef)> = vec![
        (
            "date",
            Arc::new(Date32Array::from_iter_values(
                rows.iter().map(|r| days(r.date)),
            )),
        ),
        (
            "price",
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.price))),
        ),
        (
            "log_return",
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.ret).collect::<Vec<_>>(),
            )),
        ),
        (
            "days",
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.days).collect::<Vec<_>>(),
            )),
        ),
        (
            "std_residual",
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.resid).collect::<Vec<_>>(),
            )),
        ),
        (
            "stress_prob",
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.stress).collect::<Vec<_>>(),
            )),
        ),
        (
            "outlier",
            Arc::new(BooleanArray::from(
                rows.iter().map(|r| r.outlier).collect::<Vec<_>>(),
            )),
        ),
        (
            "excluded",
            Arc::new(BooleanArray::from(
                rows.iter().map(|r| r.excluded).collect::<Vec<_>>(),
            )),
        ),
        (
            "reason",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.reason.clone()).collect::<Vec<_>>(),
            )),
        ),
    ];
    batch(cols)
}

/// A dropped row's reason in words.
pub fn drop_reason(r: &DropReason) -> String {
    match r {
        DropReason::Blank => "blank value".into(),
        DropReason::NonPositive(v) => format!("value `{v}` is not a positive number"),
        DropReason::Duplicate => "second row for a date already read (the first is kept)".into(),
    }
}

/// `decisions.parquet`: every dropped row, then every outlier, by line.
pub fn decisions_batch(series: &Series) -> Result<RecordBatch> {
    struct Row {
        line: u64,
        date: Option<NaiveDate>,
        kind: &'static str,
        reason: String,
        value: Option<f64>,
        excluded: bool,
    }
    let mut rows: Vec<Row> = series
        .dropped
        .iter()
        .map(|d| Row {
            line: d.line as u64,
            date: d.date,
            kind: "dropped",
            reason: drop_reason(&d.reason),
            value: None,
            excluded: true,
        })
        .chain(series.outliers.iter().map(|o| Row {
            line: o.line as u64,
            date: Some(o.date),
            kind: "outlier",
            reason: o.reason.clone(),
            value: Some(o.value),
            excluded: o.excluded,
        }))
        .collect();
    rows.sort_by_key(|r| r.line);
    let cols: Vec<(&str, ArrayRef)> = vec![
        (
            "line",
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.line))),
        ),
        (
            "date",
            Arc::new(Date32Array::from(
                rows.iter().map(|r| r.date.map(days)).collect::<Vec<_>>(),
            )),
        ),
        (
            "kind",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.kind))),
        ),
        (
            "reason",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.reason.as_str()),
            )),
        ),
        (
            "value",
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.value).collect::<Vec<_>>(),
            )),
        ),
        (
            "excluded",
            Arc::new(BooleanArray::from(
                rows.iter().map(|r| r.excluded).collect::<Vec<_>>(),
            )),
        ),
    ];
    batch(cols)
}

/// What the metadata of every calibration table says.
pub struct CalibrationMeta<'a> {
    /// The price series read (whole file, before the window).
    pub series: &'a Series,
    pub sha256: &'a str,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub chosen: &'a Fit,
    pub reason: &'a str,
    pub step_days: u32,
    /// `model: why` for each model that could not be fitted.
    pub not_available: &'a [String],
    pub lr_tests: &'a [LrTest],
    /// The step (days) the density is drawn for: the most common gap.
    pub density_days: u32,
    /// Range of the density grid (log-return).
    pub density_range: (f64, f64),
}

/// Points of the density grid.
const GRID: usize = 241;

/// The key-value metadata of the calibration tables.
pub fn metadata(m: &CalibrationMeta) -> Vec<KeyValue> {
    let kv = |k: &str, v: String| KeyValue::new(k.to_string(), v);
    let s = m.series;
    let excluded = s.outliers.iter().filter(|o| o.excluded).count();
    let dt = m.density_days as f64 / crate::calibrate::series::DAYS_PER_YEAR;
    let (lo, hi) = m.density_range;
    let xs: Vec<f64> = (0..GRID)
        .map(|i| lo + (hi - lo) * i as f64 / (GRID - 1) as f64)
        .collect();
    let pdf: Vec<f64> = xs.iter().map(|&x| m.chosen.model.density(x, dt)).collect();
    let density = serde_json::json!({"days": m.density_days, "x": xs, "pdf": pdf});
    let lr: Vec<serde_json::Value> = m
        .lr_tests
        .iter()
        .map(|t| {
            serde_json::json!({
                "null": t.null.name(), "alternative": t.alternative.name(),
                "statistic": t.statistic, "df": t.df, "p_value": t.p_value
            })
        })
        .collect();
    vec![
        kv("tokenrisk.version", env!("CARGO_PKG_VERSION").to_string()),
        kv(key::SOURCE, s.source.clone()),
        kv(key::SHA256, m.sha256.to_string()),
        kv(key::LAYOUT, s.layout.name().to_string()),
        kv(key::ROWS_KEPT, s.obs.len().to_string()),
        kv(key::DROPPED, s.dropped.len().to_string()),
        kv(key::OUTLIERS, s.outliers.len().to_string()),
        kv(key::OUTLIERS_EXCLUDED, excluded.to_string()),
        kv(key::WINDOW_FROM, m.from.to_string()),
        kv(key::WINDOW_TO, m.to.to_string()),
        kv(key::MODEL, m.chosen.model.kind().name().to_string()),
        kv(key::REASON, m.reason.to_string()),
        kv(key::STEP_DAYS, m.step_days.to_string()),
        kv(
            key::NOT_AVAILABLE,
            serde_json::to_string(m.not_available).unwrap_or_default(),
        ),
        kv(key::LR_TESTS, serde_json::Value::Array(lr).to_string()),
        kv(key::DENSITY, density.to_string()),
    ]
}

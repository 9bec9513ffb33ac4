//! The tables of `tokenrisk backtest`: `backtest.parquet` (one row per forecast origin: the
//! forecast's quantiles of the price at the target date, what happened, and its scores) and
//! `observed.parquet` (the price history the forecasts are scored against, over the window
//! the origins and targets span, so the page can draw the realised path without the CSV).
//!
//! Here, below both the workflow that writes the tables and the page that reads them, so
//! the two share one list of names. Dates are Arrow `Date32`; booleans are `Boolean`; a
//! fitted parameter that was not fitted (no `--recalibrate`, or a model without it) is null.

use super::MODEL_VERSION;
use anyhow::Result;
use arrow::array::{ArrayRef, BooleanArray, Date32Array, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::NaiveDate;
use parquet::file::metadata::KeyValue;
use std::sync::Arc;

/// The table of per-origin scores.
pub const BACKTEST_FILE: &str = "backtest.parquet";
/// The observed prices over the backtest's window.
pub const OBSERVED_FILE: &str = "observed.parquet";
/// The page `tokenrisk backtest` (and `tokenrisk report` on its folder) writes.
pub const BACKTEST_PAGE: &str = "backtest.html";

/// Columns of `backtest.parquet`, in order (analysts' notebooks read these; they only grow).
pub const BACKTEST_COLUMNS: [&str; 22] = [
    "origin",
    "target",
    "origin_price",
    "realized_price",
    "forecast_p05",
    "forecast_p25",
    "forecast_median",
    "forecast_p75",
    "forecast_p95",
    "pit",
    "in50",
    "in90",
    "crps_log",
    "log_score",
    "model",
    "fitted_drift",
    "fitted_drift_se",
    "fitted_volatility",
    "fitted_volatility_se",
    "fitted_params",
    "fit_n",
    "fit_loglik",
];

/// One forecast origin, scored.
#[derive(Clone, Debug, PartialEq)]
pub struct BacktestRow {
    pub origin: NaiveDate,
    pub target: NaiveDate,
    /// The observed price the forecast starts from (on the origin or the last day before).
    pub origin_price: f64,
    /// The observed price on the target date (or the last day before it).
    pub realized_price: f64,
    /// Lower sample quantiles of the simulated price at the target: 5, 25, 50, 75, 95%.
    pub quantiles: [f64; 5],
    pub pit: f64,
    pub in50: bool,
    pub in90: bool,
    /// CRPS of the forecast of the log price (in log units).
    pub crps_log: f64,
    /// `-ln f(log price)` under a Gaussian KDE of the simulated log prices.
    pub log_score: f64,
    /// The fitted model's name with `--recalibrate`; the scenario's own market otherwise.
    pub model: String,
    /// `(estimate, se)` of `market.drift` and `market.volatility` where fitted.
    pub drift: Option<(f64, f64)>,
    pub volatility: Option<(f64, f64)>,
    /// Every fitted parameter, `key=value (se)` joined by "; " (empty without a fit).
    pub fitted_params: String,
    /// Increments fitted, and the log-likelihood (None without a fit).
    pub fit_n: Option<f64>,
    pub fit_loglik: Option<f64>,
}

impl BacktestRow {
    /// An origin not yet scored: every figure NaN, no fit, the scenario's own market.
    pub fn new(origin: NaiveDate, target: NaiveDate) -> BacktestRow {
        BacktestRow {
            origin,
            target,
            origin_price: f64::NAN,
            realized_price: f64::NAN,
            quantiles: [f64::NAN; 5],
            pit: f64::NAN,
            in50: false,
            in90: false,
            crps_log: f64::NAN,
            log_score: f64::NAN,
            model: "scenario".into(),
            drift: None,
            volatility: None,
            fitted_params: String::new(),
            fit_n: None,
            fit_loglik: None,
        }
    }
}

fn days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// `backtest.parquet`'s rows.
pub fn backtest_batch(rows: &[BacktestRow]) -> Result<RecordBatch> {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    let mut date = |name: &str, get: &dyn Fn(&BacktestRow) -> NaiveDate| {
        fields.push(Field::new(name, DataType::Date32, false));
        arrays.push(Arc::new(Date32Array::from(
            rows.iter().map(|r| days(get(r))).collect::<Vec<_>>(),
        )));
    };
    date("origin", &|r| r.origin);
    date("target", &|r| r.target);
    let f = |get: &dyn Fn(&BacktestRow) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from(rows.iter().map(get).collect::<Vec<_>>()))
    };
    let opt = |get: &dyn Fn(&BacktestRow) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from(rows.iter().map(get).collect::<Vec<_>>()))
    };
    let b = |get: &dyn Fn(&BacktestRow) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from(rows.iter().map(get).collect::<Vec<_>>()))
    };
    let s = |get: &dyn Fn(&BacktestRow) -> String| -> ArrayRef {
        Arc::new(StringArray::from(rows.iter().map(get).collect::<Vec<_>>()))
    };
    let rest: Vec<(&str, DataType, bool, ArrayRef)> = vec![
        (
            "origin_price",
            DataType::Float64,
            false,
            f(&|r| r.origin_price),
        ),
        (
            "realized_price",
            DataType::Float64,
            false,
            f(&|r| r.realized_price),
        ),
        (
            "forecast_p05",
            DataType::Float64,
            false,
            f(&|r| r.quantiles[0]),
        ),
        (
            "forecast_p25",
            DataType::Float64,
            false,
            f(&|r| r.quantiles[1]),
        ),
        (
            "forecast_median",
            DataType::Float64,
            false,
            f(&|r| r.quantiles[2]),
        ),
        (
            "forecast_p75",
            DataType::Float64,
            false,
            f(&|r| r.quantiles[3]),
        ),
        (
            "forecast_p95",
            DataType::Float64,
            false,
            f(&|r| r.quantiles[4]),
        ),
        ("pit", DataType::Float64, false, f(&|r| r.pit)),
        ("in50", DataType::Boolean, false, b(&|r| r.in50)),
        ("in90", DataType::Boolean, false, b(&|r| r.in90)),
        ("crps_log", DataType::Float64, false, f(&|r| r.crps_log)),
        ("log_score", DataType::Float64, false, f(&|r| r.log_score)),
        ("model", DataType::Utf8, false, s(&|r| r.model.clone())),
        (
            "fitted_drift",
            DataType::Float64,
            true,
            opt(&|r| r.drift.map(|d| d.0)),
        ),
        (
            "fitted_drift_se",
            DataType::Float64,
            true,
            opt(&|r| r.drift.map(|d| d.1)),
        ),
        (
            "fitted_volatility",
            DataType::Float64,
            true,
            opt(&|r| r.volatility.map(|d| d.0)),
        ),
        (
            "fitted_volatility_se",
            DataType::Float64,
            true,
            opt(&|r| r.volatility.map(|d| d.1)),
        ),
        (
            "fitted_params",
            DataType::Utf8,
            false,
            s(&|r| r.fitted_params.clone()),
        ),
        ("fit_n", DataType::Float64, true, opt(&|r| r.fit_n)),
        (
            "fit_loglik",
            DataType::Float64,
            true,
            opt(&|r| r.fit_loglik),
        ),
    ];
    for (name, dt, nullable, array) in rest {
        fields.push(Field::new(name, dt, nullable));
        arrays.push(array);
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// `observed.parquet`'s rows: `date`, `price`.
pub fn observed_batch(obs: &[(NaiveDate, f64)]) -> Result<RecordBatch> {
    let schema = Schema::new(vec![
        Field::new("date", DataType::Date32, false),
        Field::new("price", DataType::Float64, false),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Date32Array::from(
                obs.iter().map(|o| days(o.0)).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                obs.iter().map(|o| o.1).collect::<Vec<_>>(),
            )),
        ],
    )?)
}

/// What a backtest was, for the tables' key-value metadata (`tokenrisk.backtest.*` besides
/// the usual `tokenrisk.*` keys).
pub struct BacktestInfo<'a> {
    pub scenario: &'a str,
    pub scenario_toml: &'a str,
    pub prices_file: &'a str,
    pub prices_sha256: &'a str,
    pub horizon_days: u32,
    pub every_days: u32,
    pub paths: u64,
    pub seed: u64,
    pub engine: &'a str,
    /// The model refitted at each origin (`auto`, `gbm`, ...), None without `--recalibrate`.
    pub recalibrate: Option<&'a str>,
}

/// The key-value metadata of both tables.
pub fn backtest_metadata(info: &BacktestInfo) -> Vec<KeyValue> {
    let kv = |k: &str, v: String| KeyValue::new(k.to_string(), v);
    vec![
        kv("tokenrisk.version", env!("CARGO_PKG_VERSION").to_string()),
        kv("tokenrisk.model_version", MODEL_VERSION.to_string()),
        kv("tokenrisk.scenario", info.scenario.to_string()),
        kv("tokenrisk.scenario_toml", info.scenario_toml.to_string()),
        kv("tokenrisk.seed", info.seed.to_string()),
        kv("tokenrisk.engine", info.engine.to_string()),
        kv("tokenrisk.paths", info.paths.to_string()),
        kv(
            "tokenrisk.backtest.prices_file",
            info.prices_file.to_string(),
        ),
        kv(
            "tokenrisk.backtest.prices_sha256",
            info.prices_sha256.to_string(),
        ),
        kv(
            "tokenrisk.backtest.horizon_days",
            info.horizon_days.to_string(),
        ),
        kv("tokenrisk.backtest.every_days", info.every_days.to_string()),
        kv(
            "tokenrisk.backtest.recalibrate",
            info.recalibrate.unwrap_or("no").to_string(),
        ),
    ]
}

//! Arrow schemas, record batches and Parquet writing for the three tables of a run:
//! `summary.parquet`, `timeseries.parquet` and `paths.parquet` (ARCHITECTURE.md "Output
//! contract"; the column names are a public contract that analysts' notebooks depend on).
//!
//! Invariants:
//! - Column names only ever grow: the `*_CONTRACT_COLUMNS` lists are the documented minimum
//!   and are checked by tests; quantile columns follow `report_quantiles(risk)` and VaR
//!   columns `var_levels(risk)`, labelled with `pct_label`.
//! - Every float is f64. Columns that hold quantiles (`*_pXX`, VaR/CVaR) are nullable and
//!   hold null where the distribution was empty (e.g. `spiral_day_p50` with no spirals) or,
//!   in the timeseries, where the figure would be read among values outside the histogram's
//!   range, which its `clamped` column counts (the summary's figures are exact, from the
//!   per-path values; its `<quantity>_clamped` counts remain so columns only grow); every
//!   other float column is non-nullable and keeps NaN as NaN. A summary figure that is an
//!   estimate carries `_se` (means, probabilities) or `_se`, `_lo`, `_hi` (quantiles, VaR,
//!   CVaR).
//! - Every file is written with the same explicit [`WriterProperties`]: ZSTD (default
//!   level) and the run's key-value metadata (`tokenrisk.*`, see [`run_metadata`]).
//! - No file holds a timing or a timestamp (they are in `manifest.json`), so the same
//!   command writes the same bytes at any thread count and speed.
//! - `paths.parquet` has one nullable UInt32 column `enacted_<name>` per `[[governance]]`
//!   entry (file order), after the contract's columns: none without governance, so those
//!   files are unchanged. Reading them back ([`read_paths`]) treats them as untrusted: each
//!   must be UInt32, name an entry of the file's own scenario (its `tokenrisk.scenario_toml`)
//!   and hold days before the horizon's end.
//! - `governance.parquet` ([`governance_batch`]), in run folders with governance entries only:
//!   per (change, report day) the exact share of paths with the change in force.
//! - `paths.parquet` is written in batches of at most [`ROWS_PER_BATCH`] rows, so memory
//!   does not grow with the number of paths beyond the records themselves.

use super::{Provenance, RunInfo};
use crate::measure::summary::{
    pct_label, report_quantiles, var_levels, Distribution, GovernanceFigures, Summary, TailRisk,
};
use crate::measure::Accumulator;
use crate::model::{PathRecord, METRICS, N_METRICS};
use crate::scenario::limits::MAX_GOVERNANCE;
use crate::scenario::Scenario;
use crate::stats::Estimate;
use crate::stats::{wilson_interval, Z95};
use anyhow::{anyhow, bail, Context, Result};
use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// Rows per record batch of `paths.parquet`.
pub const ROWS_PER_BATCH: usize = 65_536;
/// Rows per Parquet row group (the parquet crate's default, made explicit).
pub const ROW_GROUP_ROWS: usize = 1 << 20;

/// The contract's minimum column set of `summary.parquet` (ARCHITECTURE.md).
pub const SUMMARY_CONTRACT_COLUMNS: [&str; 19] = [
    "scenario",
    "paths",
    "horizon_days",
    "seed",
    "backend",
    "p_spiral",
    "p_spiral_lo",
    "p_spiral_hi",
    "spiral_day_p50",
    "var95_return",
    "cvar95_return",
    "var99_return",
    "cvar99_return",
    "var95_drawdown",
    "cvar95_drawdown",
    "er_ratio_p50",
    "er_ratio_p95",
    "p_er_above_1",
    "final_price_p50",
];

/// The contract's minimum column set of `timeseries.parquet` (ARCHITECTURE.md).
pub const TIMESERIES_CONTRACT_COLUMNS: [&str; 12] = [
    "scenario", "day", "metric", "mean", "se", "p01", "p05", "p25", "p50", "p75", "p95", "p99",
];

/// The contract's minimum column set of `paths.parquet` (ARCHITECTURE.md).
pub const PATHS_CONTRACT_COLUMNS: [&str; 19] = [
    "scenario",
    "path",
    "spiral",
    "spiral_day",
    "final_price",
    "min_price",
    "max_drawdown",
    "final_circulating",
    "minted",
    "emitted",
    "vested",
    "burned",
    "emission_usd",
    "revenue_usd",
    "er_ratio",
    "final_capacity",
    "min_capacity",
    "final_demand",
    "breakeven_day",
];

/// Key-value metadata carried by every Parquet file of a run: its [`Provenance`] (less the
/// scenario's hash: the text itself is carried) and the engine (the device is the
/// manifest's alone, so the bytes do not depend on the machine).
pub fn run_metadata(info: &RunInfo, paths: u64) -> Vec<KeyValue> {
    let p = Provenance::new(info.scenario, info.seed, paths);
    let kv = |k: &str, v: String| KeyValue::new(k.to_string(), v);
    vec![
        kv("tokenrisk.version", p.tokenrisk_version),
        kv("tokenrisk.model_version", p.model_version),
        kv("tokenrisk.scenario", p.scenario),
        kv("tokenrisk.scenario_toml", info.scenario.source_toml.clone()),
        kv("tokenrisk.seed", p.seed.to_string()),
        kv("tokenrisk.engine", info.engine.to_string()),
        kv("tokenrisk.paths", p.paths.to_string()),
    ]
}

/// The writer properties of every file: ZSTD at its default level, explicit row-group
/// size, and `metadata` as the file's key-value metadata.
pub fn writer_properties(metadata: Vec<KeyValue>) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_size(ROW_GROUP_ROWS)
        .set_key_value_metadata(Some(metadata))
        .build()
}

/// Writes `batches` (all of `schema`) as one Parquet file into `w`; returns the row count.
pub fn write_parquet<W: Write + Send>(
    w: W,
    schema: SchemaRef,
    props: WriterProperties,
    batches: impl IntoIterator<Item = Result<RecordBatch>>,
) -> Result<u64> {
    let mut writer = ArrowWriter::try_new(w, schema, Some(props))?;
    for batch in batches {
        writer.write(&batch?)?;
    }
    let meta = writer.close()?;
    Ok(meta.num_rows as u64)
}

/// Writes `batch` as the Parquet file `path`, atomically, with the usual properties and
/// `metadata` (a workflow's table: comparison, sweep, tornado).
pub fn write_table(path: &Path, batch: &RecordBatch, metadata: Vec<KeyValue>) -> Result<()> {
    super::write_atomic(path, |f| {
        write_parquet(
            f,
            batch.schema(),
            writer_properties(metadata),
            [Ok(batch.clone())],
        )?;
        Ok(())
    })
}

/// The column names of a batch, in order.
pub fn column_names(batch: &RecordBatch) -> Vec<String> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// NaN (an empty distribution's quantile) becomes null.
fn non_nan(x: f64) -> Option<f64> {
    (!x.is_nan()).then_some(x)
}

/// One-row table under construction: fields and their single-element arrays.
#[derive(Default)]
struct Row {
    fields: Vec<Field>,
    arrays: Vec<ArrayRef>,
}

impl Row {
    fn push(&mut self, name: String, data_type: DataType, nullable: bool, array: ArrayRef) {
        self.fields.push(Field::new(name, data_type, nullable));
        self.arrays.push(array);
    }
    fn utf8(&mut self, name: &str, v: &str) {
        let a = Arc::new(StringArray::from(vec![v]));
        self.push(name.into(), DataType::Utf8, false, a);
    }
    fn u64(&mut self, name: &str, v: u64) {
        let a = Arc::new(UInt64Array::from(vec![v]));
        self.push(name.into(), DataType::UInt64, false, a);
    }
    fn u32(&mut self, name: &str, v: u32) {
        let a = Arc::new(UInt32Array::from(vec![v]));
        self.push(name.into(), DataType::UInt32, false, a);
    }
    /// Non-nullable f64; NaN is kept.
    fn f64(&mut self, name: impl Into<String>, v: f64) {
        let a = Arc::new(Float64Array::from(vec![v]));
        self.push(name.into(), DataType::Float64, false, a);
    }
    /// Nullable f64 (a quantile); NaN is written as null.
    fn quantile(&mut self, name: impl Into<String>, v: f64) {
        let a = Arc::new(Float64Array::from(vec![non_nan(v)]));
        self.push(name.into(), DataType::Float64, true, a);
    }
    /// An estimate `name` (nullable) with its `name_se`, `name_lo` and `name_hi`.
    fn estimate(&mut self, name: impl Into<String>, e: Estimate) {
        let name = name.into();
        self.quantile(name.clone(), e.value);
        self.quantile(format!("{name}_se"), e.se);
        self.quantile(format!("{name}_lo"), e.lo);
        self.quantile(format!("{name}_hi"), e.hi);
    }
    fn quantiles(&mut self, prefix: &str, d: &Distribution) {
        for &(q, e) in &d.quantiles {
            self.estimate(format!("{prefix}_p{}", pct_label(q)), e);
        }
    }
    fn finish(self) -> Result<RecordBatch> {
        check_unique(&self.fields)?;
        let schema = Arc::new(Schema::new(self.fields));
        Ok(RecordBatch::try_new(schema, self.arrays)?)
    }
}

fn check_unique(fields: &[Field]) -> Result<()> {
    let mut seen = HashSet::new();
    for f in fields {
        if !seen.insert(f.name().as_str()) {
            bail!("duplicate output column {:?}", f.name());
        }
    }
    Ok(())
}

/// The one-row `summary.parquet` batch. `summary` must have been computed with
/// `info.scenario.risk` (its quantile lists define the columns).
pub fn summary_batch(info: &RunInfo, summary: &Summary) -> Result<RecordBatch> {
    let sc = info.scenario;
    let risk = &sc.risk;
    let mut r = Row::default();
    r.utf8("scenario", &sc.scenario.name);
    r.u64("paths", summary.paths);
    r.u32("horizon_days", sc.scenario.horizon_days);
    r.u64("seed", info.seed);
    r.utf8("backend", info.engine);
    // Day-0 inputs, the same on every path (no uncertainty).
    r.f64("initial_price", summary.initial.price);
    r.f64("initial_market_cap", summary.initial.market_cap);
    r.f64("initial_er_ratio", summary.initial.er_ratio);
    r.f64("p_spiral", summary.p_spiral);
    r.f64("p_spiral_se", summary.p_spiral_se);
    r.f64("p_spiral_lo", summary.p_spiral_lo);
    r.f64("p_spiral_hi", summary.p_spiral_hi);
    r.quantiles("spiral_day", &summary.spiral_day);
    r.f64("spiral_day_mean", summary.spiral_day.mean);
    r.f64("spiral_day_se", summary.spiral_day.se);
    for level in var_levels(risk) {
        let l = pct_label(level);
        let t = summary.tail_at(level);
        let get = |f: fn(&TailRisk) -> Estimate| t.map(f).unwrap_or(Estimate::NAN);
        r.estimate(format!("var{l}_return"), get(|t| t.var_return));
        r.estimate(format!("cvar{l}_return"), get(|t| t.cvar_return));
        r.estimate(format!("var{l}_drawdown"), get(|t| t.var_drawdown));
        r.estimate(format!("cvar{l}_drawdown"), get(|t| t.cvar_drawdown));
    }
    r.f64("er_ratio_mean", summary.er_ratio.mean);
    r.f64("er_ratio_se", summary.er_ratio.se);
    r.quantiles("er_ratio", &summary.er_ratio);
    r.f64("p_er_above_1", summary.p_er_above_1);
    r.f64("p_er_above_1_se", summary.p_er_above_1_se);
    r.f64("final_price_mean", summary.final_price.mean);
    r.f64("final_price_se", summary.final_price.se);
    r.quantiles("final_price", &summary.final_price);
    r.f64("log_return_mean", summary.log_return.mean);
    r.f64("log_return_se", summary.log_return.se);
    r.f64("max_drawdown_mean", summary.max_drawdown.mean);
    r.f64("max_drawdown_se", summary.max_drawdown.se);
    r.f64("final_circulating_mean", summary.final_circulating.mean);
    r.f64("final_circulating_se", summary.final_circulating.se);
    r.estimate("final_circulating_p50", summary.final_circulating.at(0.5));
    for (name, d) in [
        ("minted", &summary.minted),
        ("emitted", &summary.emitted),
        ("vested", &summary.vested),
        ("burned", &summary.burned),
    ] {
        r.f64(format!("{name}_mean"), d.mean);
        r.f64(format!("{name}_se"), d.se);
        r.estimate(format!("{name}_p50"), d.at(0.5));
    }
    r.f64("p_breakeven", summary.p_breakeven);
    r.f64("p_breakeven_se", summary.p_breakeven_se);
    r.estimate("breakeven_day_p50", summary.breakeven_day.at(0.5));
    r.u64("nonfinite_paths", summary.nonfinite_paths);
    for (quantity, n) in summary.out_of_range {
        r.u64(&format!("{quantity}_clamped"), n);
    }
    for g in &summary.governance {
        governance_columns(&mut r, g);
    }
    // The quantile lists of `summary` must match the scenario's, or columns would be missing.
    let qs = report_quantiles(risk);
    if summary.er_ratio.quantiles.len() != qs.len() {
        bail!(
            "summary was computed with a different [risk] than scenario {:?}",
            sc.scenario.name
        );
    }
    r.finish()
}

/// The summary columns of one governance change, `governance.<name>.*`: `enacted` (the
/// count), `p_enacted` with `_se`, `_lo`, `_hi` (Wilson), and `median_day` with its
/// order-statistic `_se`, `_lo`, `_hi` (null where no path enacted it). All exact. The dots
/// keep the name apart from the figure (names hold letters, digits, `_` and `-` only).
fn governance_columns(r: &mut Row, g: &GovernanceFigures) {
    let col = |what: &str| format!("governance.{}.{what}", g.name);
    r.u64(&col("enacted"), g.enacted);
    r.f64(col("p_enacted"), g.p_enacted);
    r.f64(col("p_enacted_se"), g.p_enacted_se);
    r.f64(col("p_enacted_lo"), g.p_enacted_lo);
    r.f64(col("p_enacted_hi"), g.p_enacted_hi);
    r.estimate(col("median_day"), g.median_day);
}

/// The contract's column set of `governance.parquet`.
pub const GOVERNANCE_COLUMNS: [&str; 9] = [
    "scenario", "change", "day", "paths", "in_force", "share", "share_se", "share_lo", "share_hi",
];

/// The `governance.parquet` batch: per change (file order) and report day (in order), the
/// paths with the change in force (enacted on or before that day: in force from its
/// enactment day on; the timeseries row of that day is the state at its start, so the
/// change's effects show from the next row), their share with its binomial SE and Wilson
/// 95% interval. Exact (counts of the accumulator's enactment days). None without governance.
pub fn governance_batch(sc: &Scenario, acc: &Accumulator) -> Result<Option<RecordBatch>> {
    if sc.governance.is_empty() {
        return Ok(None);
    }
    let n = acc.paths;
    let rows = sc.governance.len() * acc.report_days.len();
    let (mut change, mut day, mut in_force) = (
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
    );
    let (mut share, mut se, mut lo, mut hi) = (
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
    );
    for (c, g) in sc.governance.iter().enumerate() {
        for &d in &acc.report_days {
            let k = acc.enacted_by(c, d);
            let p = k as f64 / n.max(1) as f64;
            let (l, h) = wilson_interval(k, n, Z95);
            change.push(g.name.as_str());
            day.push(d);
            in_force.push(k);
            share.push(p);
            se.push(if n == 0 {
                f64::NAN
            } else {
                (p * (1.0 - p) / n as f64).sqrt()
            });
            lo.push(l);
            hi.push(h);
        }
    }
    let f = |name: &str, t: DataType| Field::new(name, t, false);
    let schema = Arc::new(Schema::new(vec![
        f("scenario", DataType::Utf8),
        f("change", DataType::Utf8),
        f("day", DataType::UInt32),
        f("paths", DataType::UInt64),
        f("in_force", DataType::UInt64),
        f("share", DataType::Float64),
        f("share_se", DataType::Float64),
        f("share_lo", DataType::Float64),
        f("share_hi", DataType::Float64),
    ]));
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![sc.scenario.name.as_str(); rows])),
        Arc::new(StringArray::from(change)),
        Arc::new(UInt32Array::from(day)),
        Arc::new(UInt64Array::from(vec![n; rows])),
        Arc::new(UInt64Array::from(in_force)),
        Arc::new(Float64Array::from(share)),
        Arc::new(Float64Array::from(se)),
        Arc::new(Float64Array::from(lo)),
        Arc::new(Float64Array::from(hi)),
    ];
    Ok(Some(RecordBatch::try_new(schema, arrays)?))
}

/// Schema of `timeseries.parquet` for the report quantiles `qs`.
pub fn timeseries_schema(qs: &[f64]) -> Result<SchemaRef> {
    let mut fields = vec![
        Field::new("scenario", DataType::Utf8, false),
        Field::new("day", DataType::UInt32, false),
        Field::new("metric", DataType::Utf8, false),
        Field::new("mean", DataType::Float64, false),
        Field::new("se", DataType::Float64, false),
    ];
    for &q in qs {
        fields.push(Field::new(
            format!("p{}", pct_label(q)),
            DataType::Float64,
            true,
        ));
    }
    fields.push(Field::new("nonfinite", DataType::UInt64, false));
    fields.push(Field::new("clamped", DataType::UInt64, false));
    check_unique(&fields)?;
    Ok(Arc::new(Schema::new(fields)))
}

/// The `timeseries.parquet` batch: one row per (report row, metric), report rows in order
/// and metrics in [`METRICS`] order within each.
pub fn timeseries_batch(scenario: &str, acc: &Accumulator, qs: &[f64]) -> Result<RecordBatch> {
    let schema = timeseries_schema(qs)?;
    let n = acc.report_days.len() * N_METRICS;
    let mut days = Vec::with_capacity(n);
    let mut metrics = Vec::with_capacity(n);
    let mut means = Vec::with_capacity(n);
    let mut ses = Vec::with_capacity(n);
    let mut nonfinite = Vec::with_capacity(n);
    let mut clamped = Vec::with_capacity(n);
    let mut quant: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(n); qs.len()];
    for (row, &day) in acc.report_days.iter().enumerate() {
        for (m, &name) in METRICS.iter().enumerate() {
            let a = acc.metric(row, m);
            days.push(day);
            metrics.push(name);
            means.push(a.moments.mean());
            ses.push(a.moments.std_error());
            nonfinite.push(a.hist.nonfinite());
            clamped.push(a.hist.out_of_range());
            for (col, &q) in quant.iter_mut().zip(qs) {
                col.push(a.quantile(q).and_then(non_nan));
            }
        }
    }
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![scenario; n])),
        Arc::new(UInt32Array::from(days)),
        Arc::new(StringArray::from(metrics)),
        Arc::new(Float64Array::from(means)),
        Arc::new(Float64Array::from(ses)),
    ];
    for col in quant {
        arrays.push(Arc::new(Float64Array::from(col)));
    }
    arrays.push(Arc::new(UInt64Array::from(nonfinite)));
    arrays.push(Arc::new(UInt64Array::from(clamped)));
    Ok(RecordBatch::try_new(schema, arrays)?)
}

/// A float column of `paths.parquet`: its name, and the [`PathRecord`] field it holds.
type PathColumn = (
    &'static str,
    fn(&PathRecord) -> f64,
    fn(&mut PathRecord) -> &mut f64,
);

/// The float columns of `paths.parquet`, in order (between `spiral_day` and
/// `breakeven_day`): the one list the writer, the schema and the reader share.
const PATH_FLOATS: [PathColumn; 16] = [
    ("final_price", |r| r.final_price, |r| &mut r.final_price),
    ("min_price", |r| r.min_price, |r| &mut r.min_price),
    ("max_drawdown", |r| r.max_drawdown, |r| &mut r.max_drawdown),
    ("log_return", |r| r.log_return, |r| &mut r.log_return),
    (
        "final_circulating",
        |r| r.final_circulating,
        |r| &mut r.final_circulating,
    ),
    ("final_staked", |r| r.final_staked, |r| &mut r.final_staked),
    ("minted", |r| r.minted, |r| &mut r.minted),
    ("emitted", |r| r.emitted, |r| &mut r.emitted),
    ("vested", |r| r.vested, |r| &mut r.vested),
    ("burned", |r| r.burned, |r| &mut r.burned),
    ("emission_usd", |r| r.emission_usd, |r| &mut r.emission_usd),
    ("revenue_usd", |r| r.revenue_usd, |r| &mut r.revenue_usd),
    ("er_ratio", |r| r.er_ratio, |r| &mut r.er_ratio),
    (
        "final_capacity",
        |r| r.final_capacity,
        |r| &mut r.final_capacity,
    ),
    ("min_capacity", |r| r.min_capacity, |r| &mut r.min_capacity),
    ("final_demand", |r| r.final_demand, |r| &mut r.final_demand),
];

/// The column of `paths.parquet` holding the enactment day of the change `name`.
pub fn enacted_column(name: &str) -> String {
    format!("enacted_{name}")
}

/// Schema of `paths.parquet` for a scenario: [`paths_schema`] then one `enacted_<name>`
/// column per `[[governance]]` entry, in file order.
pub fn paths_schema_for(sc: &Scenario) -> SchemaRef {
    let names: Vec<&str> = sc.governance.iter().map(|g| g.name.as_str()).collect();
    paths_schema_with(&names)
}

fn paths_schema_with(governance: &[&str]) -> SchemaRef {
    let base = paths_schema();
    let mut fields: Vec<Field> = base.fields().iter().map(|f| f.as_ref().clone()).collect();
    for name in governance {
        fields.push(Field::new(enacted_column(name), DataType::UInt32, true));
    }
    Arc::new(Schema::new(fields))
}

/// Schema of `paths.parquet` without governance (the fields of [`PathRecord`], in order,
/// after `scenario`); [`paths_schema_for`] adds a scenario's `enacted_<name>` columns.
pub fn paths_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("scenario", DataType::Utf8, false),
        Field::new("path", DataType::UInt64, false),
        Field::new("spiral", DataType::Boolean, false),
        Field::new("spiral_day", DataType::UInt32, true),
    ];
    for (name, _, _) in PATH_FLOATS {
        fields.push(Field::new(name, DataType::Float64, false));
    }
    fields.push(Field::new("breakeven_day", DataType::UInt32, true));
    Arc::new(Schema::new(fields))
}

/// One `paths.parquet` batch of `records` (callers chunk by [`ROWS_PER_BATCH`]). The
/// columns past [`paths_schema`]'s are the `enacted_<name>` ones of `schema` (from
/// [`paths_schema_for`]): the i-th holds `enacted[i]`.
pub fn paths_batch(
    schema: &SchemaRef,
    scenario: &str,
    records: &[PathRecord],
) -> Result<RecordBatch> {
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![scenario; records.len()])),
        Arc::new(UInt64Array::from_iter_values(
            records.iter().map(|r| r.path),
        )),
        Arc::new(BooleanArray::from_iter(
            records.iter().map(|r| Some(r.spiral)),
        )),
        Arc::new(UInt32Array::from_iter(records.iter().map(|r| r.spiral_day))),
    ];
    for (_, get, _) in PATH_FLOATS {
        arrays.push(Arc::new(Float64Array::from_iter_values(
            records.iter().map(get),
        )));
    }
    arrays.push(Arc::new(UInt32Array::from_iter(
        records.iter().map(|r| r.breakeven_day),
    )));
    let governance = schema.fields().len().saturating_sub(arrays.len());
    if governance > MAX_GOVERNANCE {
        bail!("paths.parquet schema has {governance} enacted columns; at most {MAX_GOVERNANCE}");
    }
    for c in 0..governance {
        arrays.push(Arc::new(UInt32Array::from_iter(
            records.iter().map(|r| r.enacted.get(c)),
        )));
    }
    RecordBatch::try_new(schema.clone(), arrays).context("building a paths.parquet batch")
}

/// Writes `paths.parquet` into `w` in batches of [`ROWS_PER_BATCH`]; returns the row count.
pub fn write_paths<W: Write + Send>(
    w: W,
    props: WriterProperties,
    sc: &Scenario,
    records: &[PathRecord],
) -> Result<u64> {
    let schema = paths_schema_for(sc);
    let name = sc.scenario.name.as_str();
    let batches = records
        .chunks(ROWS_PER_BATCH)
        .map(|chunk| paths_batch(&schema, name, chunk));
    write_parquet(w, schema.clone(), props, batches)
}

/// What the `enacted_<name>` columns of a `paths.parquet` file must be: the governance entry
/// names of its scenario, in file order, and the horizon's end day (steps x step days), which
/// every enactment day lies before.
#[derive(Debug, Clone, PartialEq)]
pub struct GovernanceLayout {
    pub names: Vec<String>,
    pub end_day: u64,
}

impl GovernanceLayout {
    pub fn of(sc: &Scenario) -> GovernanceLayout {
        GovernanceLayout {
            names: sc.governance.iter().map(|g| g.name.clone()).collect(),
            end_day: u64::from(sc.steps()) * u64::from(sc.scenario.step_days),
        }
    }
}

/// The layout of a file from its own `tokenrisk.scenario_toml` metadata (None where it has
/// none: a table rewritten by another tool); an error where that text is not a scenario.
fn layout_from_metadata(
    builder: &::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder<std::fs::File>,
) -> Result<Option<GovernanceLayout>> {
    let kv = builder.metadata().file_metadata().key_value_metadata();
    let toml = kv
        .into_iter()
        .flatten()
        .find(|kv| kv.key == "tokenrisk.scenario_toml")
        .and_then(|kv| kv.value.as_deref());
    let Some(toml) = toml else {
        return Ok(None);
    };
    let sc = crate::scenario::parse(toml, "tokenrisk.scenario_toml")
        .context("the file's tokenrisk.scenario_toml metadata is not a valid scenario")?;
    Ok(Some(GovernanceLayout::of(&sc)))
}

/// The `enacted_<name>` columns of a file as (entry index, column name), checked against
/// `layout`: each UInt32, naming an entry, every entry present. Without a layout (no
/// scenario in the metadata) the columns are taken in file order, at most [`MAX_GOVERNANCE`].
fn enacted_columns(have: &Schema, layout: Option<&GovernanceLayout>) -> Result<Vec<String>> {
    let found: Vec<&Field> = have
        .fields()
        .iter()
        .map(|f| f.as_ref())
        .filter(|f| f.name().starts_with("enacted_"))
        .collect();
    for f in &found {
        if f.data_type() != &DataType::UInt32 {
            bail!(
                "column {} is {} (expected UInt32: an enactment day or null)",
                f.name(),
                f.data_type()
            );
        }
    }
    let Some(layout) = layout else {
        if found.len() > MAX_GOVERNANCE {
            bail!(
                "{} enacted_* columns; allowed: at most {MAX_GOVERNANCE}",
                found.len()
            );
        }
        return Ok(found.iter().map(|f| f.name().clone()).collect());
    };
    let want: Vec<String> = layout.names.iter().map(|n| enacted_column(n)).collect();
    for f in &found {
        if !want.contains(f.name()) {
            bail!(
                "column {} names no [[governance]] entry of the file's scenario (its enacted \
                 columns: {})",
                f.name(),
                if want.is_empty() {
                    "none".to_string()
                } else {
                    want.join(", ")
                }
            );
        }
    }
    for w in &want {
        if !found.iter().any(|f| f.name() == w) {
            bail!("column {w} is missing (the scenario has a [[governance]] entry for it)");
        }
    }
    Ok(want)
}

/// Decodes a `paths.parquet`-contract file into records (the inverse of [`write_paths`]),
/// its `enacted_<name>` columns checked against the file's own scenario (its
/// `tokenrisk.scenario_toml` metadata; see [`read_paths_with`]).
pub fn read_paths(file: std::fs::File) -> Result<Vec<PathRecord>> {
    read_paths_with(file, None)
}

/// [`read_paths`] with the governance layout given (`None`: from the file's metadata).
/// Untrusted input: a column of the wrong type, an `enacted_*` column naming no entry, an
/// entry's column missing, an enactment day at or past the horizon's end: each an error
/// naming the column (and row).
pub fn read_paths_with(
    file: std::fs::File,
    layout: Option<&GovernanceLayout>,
) -> Result<Vec<PathRecord>> {
    use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use arrow::array::{Array, BooleanArray, Float64Array, UInt32Array, UInt64Array};
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let from_meta;
    let layout = match layout {
        Some(l) => Some(l),
        None => {
            from_meta = layout_from_metadata(&builder)?;
            from_meta.as_ref()
        }
    };
    let want = paths_schema();
    let have = builder.schema().clone();
    for f in want.fields() {
        match have.field_with_name(f.name()) {
            Ok(h) if h.data_type() == f.data_type() => {}
            Ok(h) => bail!(
                "column {} is {} (expected {})",
                f.name(),
                h.data_type(),
                f.data_type()
            ),
            Err(_) => bail!("column {} is missing", f.name()),
        }
    }
    let enacted = enacted_columns(&have, layout)?;
    let end_day = layout.map(|l| l.end_day);
    let reader = builder.with_batch_size(ROWS_PER_BATCH).build()?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch?;
        fn col<'a, T: 'static>(b: &'a arrow::array::RecordBatch, name: &str) -> Result<&'a T> {
            b.column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<T>())
                .ok_or_else(|| anyhow!("column {name} cannot be read"))
        }
        let path = col::<UInt64Array>(&batch, "path")?;
        let spiral = col::<BooleanArray>(&batch, "spiral")?;
        let spiral_day = col::<UInt32Array>(&batch, "spiral_day")?;
        let breakeven_day = col::<UInt32Array>(&batch, "breakeven_day")?;
        let mut floats = Vec::with_capacity(PATH_FLOATS.len());
        for (name, _, field) in PATH_FLOATS {
            let c = col::<Float64Array>(&batch, name)?;
            if c.null_count() > 0 {
                bail!("column {name} has nulls");
            }
            floats.push((c, field));
        }
        let enacted_cols = enacted
            .iter()
            .map(|name| col::<UInt32Array>(&batch, name))
            .collect::<Result<Vec<_>>>()?;
        if path.null_count() > 0 || spiral.null_count() > 0 {
            bail!("column path or spiral has nulls");
        }
        let opt = |a: &UInt32Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
        for i in 0..batch.num_rows() {
            let mut r = PathRecord {
                path: path.value(i),
                spiral: spiral.value(i),
                spiral_day: opt(spiral_day, i),
                breakeven_day: opt(breakeven_day, i),
                ..PathRecord::default()
            };
            for (c, field) in &floats {
                *field(&mut r) = c.value(i);
            }
            for (c, a) in enacted_cols.iter().enumerate() {
                let day = opt(a, i);
                if let (Some(d), Some(end)) = (day, end_day) {
                    if u64::from(d) >= end {
                        bail!(
                            "column {} of path {} is day {d}, not before the horizon's end \
                             (day {end}): an enactment day must lie within the run",
                            enacted[c],
                            r.path
                        );
                    }
                }
                if !r.enacted.set(c, day) {
                    bail!(
                        "column {} of path {} is day {}, beyond any horizon (at most {} days)",
                        enacted[c],
                        r.path,
                        day.unwrap_or(0),
                        crate::scenario::limits::MAX_HORIZON_DAYS
                    );
                }
            }
            out.push(r);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_hold_the_contract() {
        let qs = crate::measure::summary::CONTRACT_QUANTILES;
        let ts = timeseries_schema(&qs).unwrap();
        for c in TIMESERIES_CONTRACT_COLUMNS {
            assert!(ts.field_with_name(c).is_ok(), "timeseries lacks {c}");
        }
        let ps = paths_schema();
        for c in PATHS_CONTRACT_COLUMNS {
            assert!(ps.field_with_name(c).is_ok(), "paths lacks {c}");
        }
        let p = crate::scenario::preset("render_bme").unwrap();
        let sc = crate::scenario::parse(p.toml, p.file).unwrap();
        let acc = Accumulator::new(vec![0]);
        let info = RunInfo {
            scenario: &sc,
            seed: 1,
            engine: "cpu",
            device: "test",
            simulate_seconds: 1.0,
            started_at: std::time::SystemTime::now(),
        };
        let summary = summary_batch(&info, &Summary::of(&acc, &[], &sc)).unwrap();
        for c in SUMMARY_CONTRACT_COLUMNS {
            assert!(
                summary.schema().field_with_name(c).is_ok(),
                "summary lacks {c}"
            );
        }
    }
}

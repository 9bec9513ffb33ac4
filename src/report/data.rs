//! Reading a finished run folder back for the report: the Parquet tables (with arrow's
//! Parquet reader, never in-memory state), their key-value metadata and `manifest.json`.
//!
//! Invariants:
//! - Every error names the file it concerns (missing, unreadable, not Parquet, a required
//!   column absent).
//! - Tables are held column-wise in three plain forms (numbers as `f64`, booleans, text),
//!   so the report renders any table, including ones whose columns it does not know.
//! - `paths.parquet` is streamed (only the columns used, batch by batch, two passes), so
//!   memory does not grow with the number of paths.

use super::charts::Bins;
use super::svg::nice_number;
use crate::output::manifest::Manifest;
use anyhow::{bail, Context, Result};
use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// The values of one column.
#[derive(Debug, Clone)]
pub enum ColumnData {
    /// Any numeric column, as f64; `integer` when the Parquet type is an integer.
    Num {
        values: Vec<Option<f64>>,
        integer: bool,
    },
    Bool(Vec<Option<bool>>),
    /// Anything else, as arrow displays it.
    Text(Vec<Option<String>>),
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub data: ColumnData,
}

/// A Parquet file read into memory (possibly only its first rows).
#[derive(Debug, Clone)]
pub struct Table {
    /// The file name (`summary.parquet`).
    pub name: String,
    pub path: PathBuf,
    pub columns: Vec<Column>,
    /// Rows held.
    pub rows: usize,
    /// Rows in the file.
    pub total_rows: usize,
    pub metadata: HashMap<String, String>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// A numeric column's values.
    pub fn num(&self, name: &str) -> Option<&[Option<f64>]> {
        match &self.column(name)?.data {
            ColumnData::Num { values, .. } => Some(values),
            _ => None,
        }
    }

    /// A text column's values.
    pub fn text(&self, name: &str) -> Option<&[Option<String>]> {
        match &self.column(name)?.data {
            ColumnData::Text(values) => Some(values),
            _ => None,
        }
    }

    /// A number at `row` (None when absent, null or not numeric).
    pub fn f64_at(&self, name: &str, row: usize) -> Option<f64> {
        self.num(name)?.get(row).copied().flatten()
    }

    /// A text at `row`.
    pub fn text_at(&self, name: &str, row: usize) -> Option<&str> {
        self.text(name)?.get(row)?.as_deref()
    }
}

fn open(path: &Path) -> Result<File> {
    if !path.exists() {
        bail!(
            "{}: missing (a run folder written by `tokenrisk run` holds summary.parquet, \
             timeseries.parquet, paths.parquet and manifest.json)",
            path.display()
        );
    }
    File::open(path).with_context(|| format!("cannot open {}", path.display()))
}

fn builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    ParquetRecordBatchReaderBuilder::try_new(open(path)?)
        .with_context(|| format!("{}: not a readable Parquet file", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Converts one arrow array into plain column values.
fn column_data(array: &ArrayRef) -> Result<ColumnData> {
    let dt = array.data_type();
    if dt.is_numeric() {
        let f = cast(array, &DataType::Float64)?;
        let f = f
            .as_any()
            .downcast_ref::<Float64Array>()
            .context("cast to Float64 gave another type")?;
        return Ok(ColumnData::Num {
            values: f.iter().collect(),
            integer: dt.is_integer(),
        });
    }
    if let Some(b) = array.as_any().downcast_ref::<BooleanArray>() {
        return Ok(ColumnData::Bool(b.iter().collect()));
    }
    let fmt = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::new())?;
    Ok(ColumnData::Text(
        (0..array.len())
            .map(|i| (!array.is_null(i)).then(|| fmt.value(i).to_string()))
            .collect(),
    ))
}

fn append(into: &mut ColumnData, more: ColumnData) {
    match (into, more) {
        (ColumnData::Num { values, .. }, ColumnData::Num { values: v, .. }) => values.extend(v),
        (ColumnData::Bool(a), ColumnData::Bool(b)) => a.extend(b),
        (ColumnData::Text(a), ColumnData::Text(b)) => a.extend(b),
        // A schema is fixed within a file, so kinds never change between batches.
        _ => {}
    }
}

/// Reads a Parquet file (its first `max_rows` rows when given) and its key-value metadata.
pub fn read_table(path: &Path, max_rows: Option<usize>) -> Result<Table> {
    let read = || -> Result<Table> {
        let b = builder(path)?;
        let meta = b.metadata().file_metadata();
        let total_rows = usize::try_from(meta.num_rows()).unwrap_or(0);
        let metadata: HashMap<String, String> = meta
            .key_value_metadata()
            .into_iter()
            .flatten()
            .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
            .collect();
        let schema = b.schema().clone();
        let reader = b.build()?;
        let mut columns: Vec<Column> = Vec::new();
        let mut rows = 0usize;
        for batch in reader {
            let batch: RecordBatch = batch?;
            let take = match max_rows {
                Some(m) => batch.num_rows().min(m - rows),
                None => batch.num_rows(),
            };
            let batch = batch.slice(0, take);
            for (i, array) in batch.columns().iter().enumerate() {
                let data = column_data(array)
                    .with_context(|| format!("column {}", schema.field(i).name()))?;
                match columns.get_mut(i) {
                    Some(c) => append(&mut c.data, data),
                    None => columns.push(Column {
                        name: schema.field(i).name().clone(),
                        data,
                    }),
                }
            }
            rows += take;
            if max_rows.is_some_and(|m| rows >= m) {
                break;
            }
        }
        if columns.is_empty() {
            // No batch at all: keep the column names with no values.
            for f in schema.fields() {
                columns.push(Column {
                    name: f.name().clone(),
                    data: ColumnData::Text(Vec::new()),
                });
            }
        }
        Ok(Table {
            name: file_name(path),
            path: path.to_path_buf(),
            columns,
            rows,
            total_rows,
            metadata,
        })
    };
    read().with_context(|| format!("cannot read {}", path.display()))
}

/// Reads and parses `manifest.json`; None when the file is absent.
pub fn read_manifest(path: &Path) -> Result<Option<Manifest>> {
    if !path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let m = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a valid tokenrisk manifest", path.display()))?;
    Ok(Some(m))
}

/// What the report shows from `paths.parquet`.
#[derive(Debug, Clone)]
pub struct PathsData {
    pub paths: u64,
    pub spiraled: u64,
    /// Spiral days of the spiraled paths, binned over [0, horizon].
    pub spiral_days: Bins,
    /// Final prices > 0, binned on log-spaced edges when they span more than a decade.
    pub final_price: Bins,
    /// Paths whose final price is <= 0 or not finite (not in `final_price`).
    pub final_price_excluded: u64,
    /// Paths that reached breakeven (a non-null `breakeven_day`), when that column exists.
    pub breakeven: Option<u64>,
}

/// Streams `columns` of a Parquet file batch by batch into `f`.
fn scan(path: &Path, columns: &[&str], mut f: impl FnMut(&[ArrayRef]) -> Result<()>) -> Result<()> {
    let b = builder(path)?;
    let schema = b.schema().clone();
    let mut indices = Vec::with_capacity(columns.len());
    for c in columns {
        match schema.index_of(c) {
            Ok(i) => indices.push(i),
            Err(_) => bail!("{}: no column {c:?}", path.display()),
        }
    }
    let mask = ProjectionMask::roots(b.parquet_schema(), indices.iter().copied());
    let reader = b.with_projection(mask).with_batch_size(65_536).build()?;
    for batch in reader {
        let batch = batch?;
        let arrays: Vec<ArrayRef> = columns
            .iter()
            .map(|c| {
                batch
                    .column_by_name(c)
                    .cloned()
                    .with_context(|| format!("column {c:?} missing from a batch"))
            })
            .collect::<Result<_>>()?;
        f(&arrays)?;
    }
    Ok(())
}

fn as_f64(a: &ArrayRef) -> Result<Float64Array> {
    let f = cast(a, &DataType::Float64)?;
    Ok(f.as_any()
        .downcast_ref::<Float64Array>()
        .context("cast to Float64 gave another type")?
        .clone())
}

/// Linear bins over `[0, hi]` of width `nice_number(hi / 80)` days (the last one cut at
/// `hi`).
fn day_bins(hi: f64) -> Bins {
    let hi = if hi.is_finite() && hi > 0.0 { hi } else { 1.0 };
    let width = nice_number(hi / 80.0, true).max(1.0);
    let mut edges: Vec<f64> = (0..)
        .map(|i| i as f64 * width)
        .take_while(|&e| e < hi)
        .collect();
    edges.push(hi);
    Bins::new(edges, false)
}

/// Bin edges for positive values in `[lo, hi]`: log-spaced (aligned to decades, 1 to 20
/// bins per decade, about 40 in all) when they span more than a decade, else linear
/// with a nice width.
pub fn value_bins(lo: f64, hi: f64) -> Bins {
    if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi >= lo) {
        return Bins::new(vec![0.0, 1.0], false);
    }
    if hi / lo > 10.0 {
        let decades = (hi / lo).log10();
        let per = (40.0 / decades).round().clamp(1.0, 20.0);
        let k0 = (lo.log10() * per).floor() as i64;
        let k1 = ((hi.log10() * per).ceil() as i64).max(k0 + 1);
        let edges = (k0..=k1).map(|k| 10f64.powf(k as f64 / per)).collect();
        return Bins::new(edges, true);
    }
    if hi - lo <= 1e-9 * hi {
        // One value (up to rounding): a narrow bin around it, in a wider frame.
        let d = 0.01 * hi;
        return Bins::new(vec![lo - 5.0 * d, lo - d, hi + d, hi + 5.0 * d], false);
    }
    let width = nice_number((hi - lo) / 30.0, true);
    let start = (lo / width).floor() * width;
    let n = (((hi - start) / width).floor() as usize + 1).max(1);
    Bins::new((0..=n).map(|i| start + i as f64 * width).collect(), false)
}

/// Reads `paths.parquet`: spiral days and final prices binned, counts of spirals and of
/// paths reaching breakeven. `horizon` is the run's horizon in days.
pub fn read_paths(path: &Path, horizon: f64) -> Result<PathsData> {
    let read = || -> Result<PathsData> {
        // Pass 1: counts, spiral days, the range of final prices.
        let mut spiral_days = day_bins(horizon);
        let (mut paths, mut spiraled) = (0u64, 0u64);
        let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
        scan(path, &["final_price", "spiral_day"], |a| {
            let price = as_f64(&a[0])?;
            let day = as_f64(&a[1])?;
            paths += price.len() as u64;
            for d in day.iter().flatten() {
                spiraled += 1;
                spiral_days.add(d);
            }
            for p in price.iter().flatten() {
                if p.is_finite() && p > 0.0 {
                    lo = lo.min(p);
                    hi = hi.max(p);
                }
            }
            Ok(())
        })?;
        // Pass 2: final prices into bins fitted to their range; breakeven counts (the
        // column is optional: older or foreign files may lack it).
        let mut final_price = if hi > 0.0 {
            value_bins(lo, hi)
        } else {
            Bins::new(Vec::new(), false)
        };
        let has_breakeven = builder(path)?.schema().index_of("breakeven_day").is_ok();
        let cols: &[&str] = if has_breakeven {
            &["final_price", "breakeven_day"]
        } else {
            &["final_price"]
        };
        let (mut excluded, mut reached) = (0u64, 0u64);
        scan(path, cols, |a| {
            let price = as_f64(&a[0])?;
            for p in price.iter() {
                match p {
                    Some(p) if p.is_finite() && p > 0.0 => final_price.add(p),
                    _ => excluded += 1,
                }
            }
            if let Some(b) = a.get(1) {
                reached += (b.len() - b.null_count()) as u64;
            }
            Ok(())
        })?;
        let breakeven = has_breakeven.then_some(reached);
        Ok(PathsData {
            paths,
            spiraled,
            spiral_days,
            final_price,
            final_price_excluded: excluded,
            breakeven,
        })
    };
    read().with_context(|| format!("cannot read {}", path.display()))
}

/// (paths, paths whose `column` is above `threshold`) of `paths.parquet`, streamed; None when
/// the file lacks the column.
pub fn count_above(path: &Path, column: &str, threshold: f64) -> Result<Option<(u64, u64)>> {
    if builder(path)?.schema().index_of(column).is_err() {
        return Ok(None);
    }
    let (mut n, mut k) = (0u64, 0u64);
    scan(path, &[column], |a| {
        let x = as_f64(&a[0])?;
        n += x.len() as u64;
        k += x.iter().flatten().filter(|v| *v > threshold).count() as u64;
        Ok(())
    })
    .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some((n, k)))
}

/// A Parquet file of a run folder beyond the three of every run (a comparison, sweep or
/// tornado table, or anything else), or why it could not be read.
#[derive(Debug, Clone)]
pub struct Extra {
    pub name: String,
    pub table: std::result::Result<Table, String>,
}

/// Everything the report of one run shows.
#[derive(Debug, Clone)]
pub struct RunData {
    pub dir: PathBuf,
    pub summary: Table,
    pub timeseries: Table,
    pub paths: PathsData,
    pub manifest: Option<Manifest>,
    pub extras: Vec<Extra>,
}

pub const SUMMARY: &str = "summary.parquet";
pub const TIMESERIES: &str = "timeseries.parquet";
pub const PATHS: &str = "paths.parquet";
pub const MANIFEST: &str = "manifest.json";

/// The `*.parquet` files of `dir` other than `skip`, sorted by name, each read up to
/// `max_rows` rows; a file that cannot be read is kept with its error (an optional table
/// never stops the report).
pub fn read_extras(dir: &Path, skip: &[&str], max_rows: usize) -> Result<Vec<Extra>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".parquet") && !n.starts_with('.') && !skip.contains(&n.as_str()))
        .collect();
    names.sort();
    Ok(names
        .into_iter()
        .map(|name| {
            let table = read_table(&dir.join(&name), Some(max_rows)).map_err(|e| format!("{e:#}"));
            Extra { name, table }
        })
        .collect())
}

/// Text columns of the summary contract; every other contract column is a number.
const SUMMARY_TEXT_COLUMNS: [&str; 2] = ["scenario", "backend"];
/// Summary columns that are probabilities: finite, in [0, 1].
const SUMMARY_PROBABILITIES: [&str; 4] = ["p_spiral", "p_spiral_lo", "p_spiral_hi", "p_er_above_1"];

/// Refuses a `summary.parquet` a run could not have written, with every problem at once:
/// not exactly one row, a contract column missing or of the wrong kind (text for a number),
/// a probability that is not a finite number in [0, 1], a path count below 1. (A page built
/// from such a table would print "–" everywhere, or "no path spiraled" from a NaN.)
pub fn check_summary(t: &Table) -> Result<()> {
    let mut problems = Vec::new();
    if t.total_rows != 1 {
        problems.push(format!(
            "{} rows, a run's summary has exactly 1",
            t.total_rows
        ));
    }
    for c in crate::output::parquet::SUMMARY_CONTRACT_COLUMNS {
        let text = SUMMARY_TEXT_COLUMNS.contains(&c);
        match t.column(c).map(|col| &col.data) {
            None => problems.push(format!("column {c} is missing")),
            Some(ColumnData::Num { .. }) if !text => {}
            Some(ColumnData::Text(_)) if text => {}
            Some(_) => problems.push(format!(
                "column {c} is not {}",
                if text { "text" } else { "a number" }
            )),
        }
    }
    if t.total_rows >= 1 {
        for c in SUMMARY_PROBABILITIES {
            if let Some(ColumnData::Num { values, .. }) = t.column(c).map(|col| &col.data) {
                match values.first().copied().flatten() {
                    Some(v) if v.is_finite() && (0.0..=1.0).contains(&v) => {}
                    v => problems.push(format!(
                        "{c} = {} (a probability: a number in [0, 1])",
                        v.map_or("null".to_string(), |v| v.to_string())
                    )),
                }
            }
        }
        match t.f64_at("paths", 0) {
            Some(n) if n >= 1.0 => {}
            Some(n) => problems.push(format!("paths = {n} (at least 1)")),
            None if t.num("paths").is_some() => problems.push("paths is null".to_string()),
            None => {}
        }
    }
    if !problems.is_empty() {
        bail!(
            "{}: not a run's summary ({})",
            t.path.display(),
            problems.join("; ")
        );
    }
    Ok(())
}

/// Reads a run folder: the three tables (required), `manifest.json` (optional) and any
/// other Parquet file.
pub fn load_run(dir: &Path, max_extra_rows: usize) -> Result<RunData> {
    let summary = read_table(&dir.join(SUMMARY), None)?;
    check_summary(&summary)?;
    let timeseries = read_table(&dir.join(TIMESERIES), None)?;
    let horizon = summary.f64_at("horizon_days", 0).unwrap_or_else(|| {
        timeseries
            .num("day")
            .map(|d| d.iter().flatten().copied().fold(0.0, f64::max))
            .unwrap_or(1.0)
    });
    let paths = read_paths(&dir.join(PATHS), horizon)?;
    let manifest = read_manifest(&dir.join(MANIFEST))?;
    let extras = read_extras(dir, &[SUMMARY, TIMESERIES, PATHS], max_extra_rows)?;
    Ok(RunData {
        dir: dir.to_path_buf(),
        summary,
        timeseries,
        paths,
        manifest,
        extras,
    })
}

//! Parameter sweeps: a scenario's `[sweep]` table (dotted keys -> lists of values, SCENARIO.md
//! "Sweeps") expanded into the Cartesian grid of scenarios, each point validated, run with
//! the same seed and path ids (common random numbers, so curves across the grid are smooth)
//! and summarised in `DIR/<name>/sweep.parquet`, with per-point outputs in
//! `DIR/<name>/point-0000/`.
//!
//! Expansion is pure ([`axes`], [`grid_size`], [`expand`]) and works on `toml::Table`s: the
//! base scenario (after CLI overrides, with every default filled in) is turned back into a
//! table, the swept keys are set on it, and [`scenario::from_table`] deserializes and
//! validates each point. Invariants:
//! - Keys are dotted paths as validation messages spell them: `burn.fraction`,
//!   `market.jumps.rate`, `vesting[0].amount`, `emission.yearly[1]`. Missing tables on the
//!   way are created (a file may omit `[staking]` and still sweep `staking.speed`).
//! - Axes are ordered as their keys appear in the file's `[sweep]` table; the grid is
//!   row-major: the first key varies slowest, the last fastest (nested loops in file order).
//! - Every point is validated before anything runs: an unknown key, a value of the wrong
//!   type or out of range is an error naming the key, the point and the problem.
//! - A point keeps the base scenario's name; it is written with its exact TOML as run
//!   (`tokenrisk.scenario_toml`), which re-runs it on its own.
//! - The grid holds at most [`MAX_POINTS`] points.

use super::single::{self, RunPlan, RunResult};
use crate::engine::{Backend, Control};
use crate::output::folder::Staged;
use crate::output::{parquet as pq, RunInfo};
use crate::scenario::keys::{format_value, parse_key, scenario_table, set_key, to_toml};
use crate::scenario::{self, Problem, Scenario, ScenarioError};
use anyhow::{Context, Result};
use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array,
};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::file::metadata::KeyValue;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// Most points a sweep may have.
pub const MAX_POINTS: usize = 1000;
/// Name of the sweep table in `DIR/<name>/`.
pub const SWEEP_FILE: &str = "sweep.parquet";

/// A problem with a sweep, already phrased for the user.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SweepError(pub String);

/// One swept key and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub key: String,
    pub values: Vec<toml::Value>,
}

/// One grid point: its index, the swept (key, value) pairs in axis order, and the validated
/// scenario (its `source_toml` is the point's complete TOML).
#[derive(Debug, Clone)]
pub struct Point {
    pub index: usize,
    pub values: Vec<(String, toml::Value)>,
    pub scenario: Scenario,
}

impl Point {
    /// `burn.fraction = 0.1, market.volatility = 0.6`.
    pub fn describe(&self) -> String {
        describe(&self.values)
    }
}

fn describe(values: &[(String, toml::Value)]) -> String {
    values
        .iter()
        .map(|(k, v)| format!("{k} = {}", format_value(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Folder of point `index` under `DIR/<name>/`.
pub fn point_dir_name(index: usize) -> String {
    format!("point-{index:04}")
}

/// A problem of one `[sweep]` key, at its line of `text` (the file).
fn key_problem(text: &str, key: &str, message: String) -> Problem {
    Problem {
        field: format!("sweep.\"{key}\""),
        message,
        line: scenario::key_line(text, "sweep", key),
    }
}

/// The axes of a `[sweep]` table, in the order the keys appear in `text` (the file); keys
/// not found there (an inline `sweep = { .. }`) follow in alphabetical order. Every key that
/// is not a dotted key, cannot be swept or holds no list of values is a problem (returned
/// with the axes of the other keys).
pub fn axes(sweep: &toml::Table, text: &str) -> (Vec<Axis>, Vec<Problem>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (key, values) in sweep {
        if let Err(e) = parse_key(key) {
            problems.push(key_problem(text, key, format!("is not a dotted key: {e}")));
            continue;
        }
        if key == "scenario.name" || key.starts_with("sweep") {
            problems.push(key_problem(
                text,
                key,
                "cannot be swept (every point keeps the scenario's name and has no [sweep] of its own)".into(),
            ));
            continue;
        }
        match values {
            toml::Value::Array(a) if !a.is_empty() => out.push(Axis {
                key: key.clone(),
                values: a.clone(),
            }),
            other => problems.push(key_problem(
                text,
                key,
                format!(
                    "{} is not a non-empty list of values",
                    short(&format_value(other))
                ),
            )),
        }
    }
    out.sort_by_key(|a| scenario::key_line(text, "sweep", &a.key).unwrap_or(usize::MAX));
    (out, problems)
}

/// A value's text, cut for a message.
fn short(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_string(),
    }
}

/// Number of grid points; an error above [`MAX_POINTS`].
pub fn grid_size(axes: &[Axis]) -> Result<usize, SweepError> {
    let sizes: Vec<usize> = axes.iter().map(|a| a.values.len()).collect();
    let total = sizes
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n))
        .filter(|&n| n <= MAX_POINTS);
    total.ok_or_else(|| {
        let shape = sizes
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" x ");
        let exact = sizes
            .iter()
            .try_fold(1u128, |acc, &n| acc.checked_mul(n as u128))
            .map(|n| n.to_string())
            .unwrap_or_else(|| "too many".into());
        SweepError(format!(
            "has {shape} = {exact} points; at most {MAX_POINTS} are allowed (split it into several files)"
        ))
    })
}

/// Value indices of every grid point, row-major (last axis fastest).
pub fn grid(axes: &[Axis]) -> Vec<Vec<usize>> {
    let mut points = vec![vec![]];
    for axis in axes {
        points = points
            .into_iter()
            .flat_map(|p| {
                (0..axis.values.len()).map(move |i| {
                    let mut q = p.clone();
                    q.push(i);
                    q
                })
            })
            .collect();
    }
    points
}

/// Most distinct problems of a sweep's points listed; the rest are counted.
pub const MAX_LISTED_PROBLEMS: usize = 20;

/// Expands the sweep of `base` (a validated scenario, CLI overrides applied) into validated
/// points. `file` names the scenario in messages. Nothing is simulated. Every problem is
/// reported, as problems of the file: each bad key (with its line in the `[sweep]` table), a
/// grid above [`MAX_POINTS`], and each distinct problem of the points (up to
/// [`MAX_LISTED_PROBLEMS`]), with the first point that has it, its values and how many more
/// have it, then how many points are invalid.
pub fn expand(base: &Scenario, file: &str) -> Result<(Vec<Axis>, Vec<Point>), ScenarioError> {
    let fail = |problems: Vec<Problem>| ScenarioError {
        file: file.to_string(),
        problems,
    };
    let text = &base.source_toml;
    let sweep_line = scenario::locate_line(text, "sweep");
    let sweep_problem = |message: String| Problem {
        field: "sweep".into(),
        message,
        line: sweep_line,
    };
    let Some(sweep) = base.sweep.as_ref() else {
        return Err(fail(vec![sweep_problem("has no [sweep] table".into())]));
    };
    let (axes, mut problems) = axes(sweep, text);
    let table = scenario_table(base).map_err(|e| fail(vec![sweep_problem(e)]))?;

    // Each key alone: one the format does not know, or a path that cannot be set, is a
    // problem of that key whatever the other keys hold.
    for axis in &axes {
        let mut t = table.clone();
        if let Err(e) = set_key(&mut t, &axis.key, axis.values[0].clone()) {
            problems.push(key_problem(text, &axis.key, e));
            continue;
        }
        let (issues, _) = scenario::schema::check(&t);
        for i in issues.iter().filter(|i| i.unknown) {
            problems.push(key_problem(
                text,
                &axis.key,
                format!("is not a scenario field: {}: {}", i.field, i.message),
            ));
        }
    }
    let n = match grid_size(&axes) {
        Ok(n) => n,
        Err(e) => {
            problems.push(sweep_problem(e.0));
            0
        }
    };
    if !problems.is_empty() {
        return Err(fail(problems));
    }

    let mut points = Vec::with_capacity(n);
    let mut failed = 0usize;
    // Each distinct problem once: (problem, the swept key it is about, the first point
    // that has it, how many points have it).
    let mut seen: Vec<(String, Option<String>, String, usize)> = Vec::new();
    for (index, idx) in grid(&axes).into_iter().enumerate() {
        let values: Vec<(String, toml::Value)> = axes
            .iter()
            .zip(&idx)
            .map(|(a, &i)| (a.key.clone(), a.values[i].clone()))
            .collect();
        let mut t = table.clone();
        let result = values
            .iter()
            .try_for_each(|(k, v)| set_key(&mut t, k, v.clone()))
            .and_then(|()| to_toml(&t))
            .map_err(|e| vec![("sweep".to_string(), e)])
            .and_then(|body| {
                let text = format!(
                    "# Sweep point {index} of {n} of {file}: {}\n# (the base scenario with every default written out and the swept keys set)\n{body}",
                    describe(&values),
                );
                scenario::from_table(t, &text, file).map_err(|e| {
                    e.problems
                        .into_iter()
                        .map(|p| (p.field, p.message))
                        .collect()
                })
            });
        match result {
            Ok(mut s) => {
                if !values.iter().any(|(k, _)| k == "scenario.paths") {
                    s.scenario.paths = base.scenario.paths;
                }
                if !values.iter().any(|(k, _)| k == "scenario.seed") {
                    s.scenario.seed = base.scenario.seed;
                }
                s.scenario.name = base.scenario.name.clone();
                points.push(Point {
                    index,
                    values,
                    scenario: s,
                });
            }
            Err(point_problems) => {
                failed += 1;
                for (field, message) in point_problems {
                    let problem = if field == "(syntax)" {
                        message
                    } else {
                        format!("{field}: {message}")
                    };
                    if let Some(s) = seen.iter_mut().find(|s| s.0 == problem) {
                        s.3 += 1;
                        continue;
                    }
                    // The swept key the problem is about, for its line.
                    let key = axes
                        .iter()
                        .find(|a| field == a.key || field.starts_with(&format!("{}.", a.key)))
                        .map(|a| a.key.clone());
                    let at = format!("point {index} of {n} ({})", short(&describe(&values)));
                    seen.push((problem, key, at, 1));
                }
            }
        }
    }
    for (problem, key, at, count) in seen.iter().take(MAX_LISTED_PROBLEMS) {
        let more = match count - 1 {
            0 => String::new(),
            1 => " (and 1 more point)".to_string(),
            k => format!(" (and {k} more points)"),
        };
        let message = format!("{at}: {problem}{more}");
        problems.push(match key {
            Some(k) => key_problem(text, k, message),
            None => sweep_problem(message),
        });
    }
    if failed > 0 {
        let shown = if seen.len() > MAX_LISTED_PROBLEMS {
            format!(
                "{} distinct problems, the first {MAX_LISTED_PROBLEMS} shown",
                seen.len()
            )
        } else {
            "every distinct problem shown with the first point that has it".to_string()
        };
        problems.push(sweep_problem(format!(
            "{failed} of {n} points are invalid ({shown}); nothing runs until every point is valid"
        )));
    }
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    Ok((axes, points))
}

/// Arrow column of one axis: Int64 when every value is an integer, Float64 when every value
/// is a number, Boolean or Utf8 when all are booleans or strings, else Utf8 of the inline
/// TOML (lists, tables, mixed types).
fn axis_column(key: &str, values: Vec<&toml::Value>) -> (Field, ArrayRef) {
    use toml::Value as V;
    let all = |f: fn(&V) -> bool| values.iter().all(|v| f(v));
    let (dt, array): (DataType, ArrayRef) = if all(|v| v.is_integer()) {
        let a: Int64Array = values.iter().map(|v| v.as_integer()).collect();
        (DataType::Int64, Arc::new(a))
    } else if all(|v| v.is_integer() || v.is_float()) {
        let a: Float64Array = values
            .iter()
            .map(|v| v.as_float().or(v.as_integer().map(|i| i as f64)))
            .collect();
        (DataType::Float64, Arc::new(a))
    } else if all(|v| v.is_bool()) {
        let a: BooleanArray = values.iter().map(|v| v.as_bool()).collect();
        (DataType::Boolean, Arc::new(a))
    } else if all(|v| v.is_str()) {
        let a: StringArray = values.iter().map(|v| v.as_str()).collect();
        (DataType::Utf8, Arc::new(a))
    } else {
        let a = StringArray::from_iter_values(values.iter().map(|v| format_value(v)));
        (DataType::Utf8, Arc::new(a))
    };
    (Field::new(key, dt, false), array)
}

/// `sweep.parquet`: `point` (UInt32), one column per swept key (named by the key, in axis
/// order), then the columns of `summary.parquet`, one row per point. `summaries` are the
/// points' one-row summary batches, in point order; they must share one schema.
pub fn sweep_batch(
    axes: &[Axis],
    points: &[Point],
    summaries: &[RecordBatch],
) -> Result<RecordBatch> {
    anyhow::ensure!(
        points.len() == summaries.len() && !points.is_empty(),
        "sweep_batch: {} points but {} summaries",
        points.len(),
        summaries.len()
    );
    let schema = summaries[0].schema();
    if let Some(i) = summaries.iter().position(|b| b.schema() != schema) {
        anyhow::bail!(
            "sweep point {} has other summary columns than point 0 (sweeping risk.* changes the table's columns; sweep them in separate files)",
            points[i].index
        );
    }
    let body = arrow::compute::concat_batches(&schema, summaries)?;
    let mut fields = vec![Field::new("point", DataType::UInt32, false)];
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(UInt32Array::from_iter_values(
        points.iter().map(|p| p.index as u32),
    ))];
    for (k, axis) in axes.iter().enumerate() {
        let (f, a) = axis_column(&axis.key, points.iter().map(|p| &p.values[k].1).collect());
        fields.push(f);
        arrays.push(a);
    }
    for (f, a) in schema.fields().iter().zip(body.columns()) {
        if fields.iter().any(|x| x.name() == f.name()) {
            anyhow::bail!("swept key {:?} collides with a summary column", f.name());
        }
        fields.push(f.as_ref().clone());
        arrays.push(a.clone());
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// A finished sweep: `sweep.parquet`'s table and metadata, in memory.
pub struct SweepResult {
    /// One row per point: `point`, the swept keys, the summary columns.
    pub table: RecordBatch,
    /// The base scenario's run metadata plus `tokenrisk.sweep_keys` and
    /// `tokenrisk.sweep_points`.
    pub metadata: Vec<KeyValue>,
}

impl SweepResult {
    /// Writes `dir/sweep.parquet` atomically; returns its path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create output directory {}", dir.display()))?;
        let file = dir.join(SWEEP_FILE);
        pq::write_table(&file, &self.table, self.metadata.clone())?;
        Ok(file)
    }
}

/// Runs every point of the grid on `backend` (the same seed and path ids for all: common
/// random numbers) and hands each finished run to `on_point` (to write it, print it, or keep
/// it), then builds the sweep table. `base` is the scenario the grid was expanded from.
pub fn run(
    base: &Scenario,
    axes: &[Axis],
    points: &[Point],
    backend: Backend,
    ctl: &Control,
    on_point: &mut dyn FnMut(&Point, RunResult) -> Result<()>,
) -> Result<SweepResult> {
    let mut summaries = Vec::with_capacity(points.len());
    let mut engine: (&'static str, String, u64) = ("", String::new(), 0);
    let mut simulate_seconds = 0.0;
    let started_at = SystemTime::now();
    for p in points {
        let plan = RunPlan {
            scenario: p.scenario.clone(),
            backend,
        };
        let result = single::run(&plan, ctl).with_context(|| format!("sweep point {}", p.index))?;
        summaries.push(result.summary_batch()?);
        simulate_seconds += result.output.simulate_time.as_secs_f64();
        engine = (
            result.output.engine,
            result.output.device.clone(),
            result.output.acc.paths,
        );
        on_point(p, result)?;
    }
    let table = sweep_batch(axes, points, &summaries)?;
    let info = RunInfo {
        scenario: base,
        seed: base.scenario.seed,
        engine: engine.0,
        device: &engine.1,
        simulate_seconds,
        started_at,
    };
    let mut metadata = pq::run_metadata(&info, engine.2);
    let keys: Vec<&str> = axes.iter().map(|a| a.key.as_str()).collect();
    metadata.push(KeyValue::new(
        "tokenrisk.sweep_keys".to_string(),
        keys.join(", "),
    ));
    metadata.push(KeyValue::new(
        "tokenrisk.sweep_points".to_string(),
        points.len().to_string(),
    ));
    Ok(SweepResult { table, metadata })
}

/// What [`run_to`] wrote.
#[derive(Debug, Clone)]
pub struct SweepWritten {
    /// `DIR/<name>/`.
    pub dir: PathBuf,
    /// `DIR/<name>/sweep.parquet`.
    pub table: PathBuf,
    /// `DIR/<name>/point-NNNN/`, in point order.
    pub points: Vec<PathBuf>,
}

/// [`run`] written as the folder `out_root/<name>/` (built aside, moved into place whole once
/// every point is done): each point to `point-NNNN/` as it finishes, then `sweep.parquet`. `on_point` sees each point's run after it is written.
pub fn run_to(
    base: &Scenario,
    axes: &[Axis],
    points: &[Point],
    backend: Backend,
    out_root: &Path,
    ctl: &Control,
    on_point: &mut dyn FnMut(&Point, &RunResult),
) -> Result<SweepWritten> {
    let staged = Staged::begin(&out_root.join(&base.scenario.name))?;
    let mut points_written = Vec::with_capacity(points.len());
    let result = run(base, axes, points, backend, ctl, &mut |p, r| {
        let name = point_dir_name(p.index);
        r.write_in(&staged.dir().join(&name))
            .with_context(|| format!("writing sweep point {}", p.index))?;
        points_written.push(name);
        on_point(p, &r);
        Ok(())
    })?;
    result.write(staged.dir())?;
    let dir = staged.commit()?;
    Ok(SweepWritten {
        table: dir.join(SWEEP_FILE),
        points: points_written.iter().map(|n| dir.join(n)).collect(),
        dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SWEEP: &str =
        "[sweep]\n\"market.volatility\" = [0.6, 0.9, 1.2]\n\"burn.fraction\" = [0.0, 0.1]\n";

    /// The tests' base scenario as a small revenue-burn design with a vesting tranche, and
    /// `sweep` as its `[sweep]` table.
    fn text_with(sweep: &str) -> String {
        let sets = [
            ("scenario.name", "\"sw\""),
            ("scenario.horizon_days", "28"),
            ("scenario.paths", "10"),
            ("token.price", "1.0"),
            ("token.issued", "1000.0"),
            ("burn.kind", "\"revenue_burn\""),
            ("burn.fraction", "0.2"),
            ("demand.usd_per_day", "10.0"),
            ("market.drift", "0.0"),
            ("market.volatility", "0.5"),
            ("compute.capacity", "100.0"),
        ];
        crate::scenario::test_text(&sets, &format!("[[vesting]]\namount = 10.0\n\n{sweep}"))
    }

    fn base() -> Scenario {
        scenario::parse(&text_with(SWEEP), "base.toml").unwrap()
    }

    fn with_sweep(sweep: &str) -> Scenario {
        scenario::parse(&text_with(&format!("[sweep]\n{sweep}")), "base.toml").unwrap()
    }

    fn err(s: &Scenario) -> String {
        expand(s, "base.toml").unwrap_err().to_string()
    }

    #[test]
    fn grid_is_row_major_in_file_order() {
        let s = base();
        let (axes, points) = expand(&s, "base.toml").unwrap();
        // File order, not alphabetical: market.volatility first.
        let keys: Vec<&str> = axes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["market.volatility", "burn.fraction"]);
        assert_eq!(points.len(), 6);
        let got: Vec<(f64, f64)> = points
            .iter()
            .map(|p| {
                (
                    p.scenario.market.volatility,
                    p.scenario.burn.fraction.unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (0.6, 0.0),
                (0.6, 0.1),
                (0.9, 0.0),
                (0.9, 0.1),
                (1.2, 0.0),
                (1.2, 0.1)
            ]
        );
        for (i, p) in points.iter().enumerate() {
            assert_eq!(p.index, i);
            assert_eq!(p.scenario.scenario.name, "sw");
            assert_eq!(p.scenario.scenario.seed, s.scenario.seed);
            assert!(p.scenario.sweep.is_none());
            // The point's TOML stands on its own and reproduces the point.
            let again = scenario::parse(&p.scenario.source_toml, "point.toml").unwrap();
            assert_eq!(again.market.volatility, p.scenario.market.volatility);
            assert_eq!(again.burn.fraction, p.scenario.burn.fraction);
            assert_eq!(again.vesting.len(), 1);
        }
        assert_eq!(
            points[3].describe(),
            "market.volatility = 0.9, burn.fraction = 0.1"
        );
        assert_eq!(grid(&axes).len(), 6);
    }

    #[test]
    fn overrides_of_the_base_carry_to_every_point() {
        let mut s = base();
        s.scenario.paths = 7;
        s.scenario.seed = u64::MAX;
        let (_, points) = expand(&s, "base.toml").unwrap();
        assert!(points
            .iter()
            .all(|p| p.scenario.scenario.paths == 7 && p.scenario.scenario.seed == u64::MAX));
    }

    #[test]
    fn sweep_batch_columns() {
        let s = base();
        let (axes, points) = expand(&s, "base.toml").unwrap();
        let summaries: Vec<RecordBatch> = points
            .iter()
            .map(|p| {
                let acc = crate::measure::Accumulator::new(vec![0]);
                let summary = crate::measure::Summary::of(&acc, &[], &p.scenario);
                let info = RunInfo {
                    scenario: &p.scenario,
                    seed: 1,
                    engine: "cpu",
                    device: "test",
                    simulate_seconds: 1.0,
                    started_at: SystemTime::now(),
                };
                pq::summary_batch(&info, &summary).unwrap()
            })
            .collect();
        let b = sweep_batch(&axes, &points, &summaries).unwrap();
        assert_eq!(b.num_rows(), 6);
        let names = crate::output::parquet::column_names(&b);
        assert_eq!(
            &names[..4],
            ["point", "market.volatility", "burn.fraction", "scenario"]
        );
        assert_eq!(names.len(), 3 + summaries[0].num_columns());
        let vol = b.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(vol.values(), &[0.6, 0.6, 0.9, 0.9, 1.2, 1.2]);
    }

    #[test]
    fn integer_and_string_axes_keep_their_types() {
        let s = with_sweep(
            "\"spiral.persist_days\" = [7, 14]\n\"compute.sell_fraction\" = [\"cost\", 0.5]\n",
        );
        let (axes, points) = expand(&s, "base.toml").unwrap();
        assert_eq!(points.len(), 4);
        let (f, _) = axis_column(
            &axes[0].key,
            points.iter().map(|p| &p.values[0].1).collect(),
        );
        assert_eq!(f.data_type(), &DataType::Int64);
        let (f, a) = axis_column(
            &axes[1].key,
            points.iter().map(|p| &p.values[1].1).collect(),
        );
        assert_eq!(f.data_type(), &DataType::Utf8);
        let a = a.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(a.value(0), "\"cost\"");
        assert_eq!(a.value(1), "0.5");
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = err(&with_sweep("\"burn.fractoin\" = [0.1]\n"));
        assert!(
            e.contains("\"burn.fractoin\"") && e.contains("not a scenario field"),
            "{e}"
        );
        assert!(
            e.contains("unknown key `fractoin` in [burn]; did you mean `fraction`?"),
            "{e}"
        );
        // Named with the line of the key in the file's [sweep] table.
        let text = text_with("[sweep]\n\"burn.fractoin\" = [0.1]\n");
        let line = text.lines().position(|l| l.contains("fractoin")).unwrap() + 1;
        assert!(
            e.contains(&format!("base.toml:{line}: sweep.\"burn.fractoin\"")),
            "{e}"
        );
        let e = err(&with_sweep("\"nosuch.table\" = [1]\n"));
        assert!(
            e.contains("\"nosuch.table\"") && e.contains("unknown key `nosuch` at the top level"),
            "{e}"
        );
        let e = err(&with_sweep("\"vesting[3].amount\" = [1.0]\n"));
        assert!(
            e.contains("vesting[3]") && e.contains("index out of range"),
            "{e}"
        );
        let e = err(&with_sweep("\"market.volatility.x\" = [1.0]\n"));
        assert!(e.contains("not a table or a list"), "{e}");
        let e = err(&with_sweep("\"scenario.name\" = [\"a\", \"b\"]\n"));
        assert!(e.contains("cannot be swept"), "{e}");
        let e = err(&with_sweep("\"a b\" = [1]\n"));
        assert!(e.contains("not a dotted key"), "{e}");
        // Every bad key at once.
        let e = err(&with_sweep(
            "\"a b\" = [1]\n\"burn.fractoin\" = [0.1]\n\"scenario.name\" = [\"x\"]\n\"market.drift\" = 1\n",
        ));
        assert!(e.contains("4 problems"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key_the_point_and_the_problem() {
        let e = err(&with_sweep(
            "\"market.volatility\" = [0.5, 0.7]\n\"burn.fraction\" = [0.1, 1.5]\n",
        ));
        assert!(e.contains("point 1 of 4"), "{e}");
        assert!(
            e.contains("market.volatility = 0.5, burn.fraction = 1.5"),
            "{e}"
        );
        assert!(
            e.contains("burn.fraction: value 1.5 is out of range; allowed: 0 to 1"),
            "{e}"
        );
        assert!(e.contains("2 of 4 points are invalid"), "{e}");
        let e = err(&with_sweep("\"market.volatility\" = [\"high\"]\n"));
        assert!(
            e.contains("point 0 of 1 (market.volatility = \"high\")"),
            "{e}"
        );
        assert!(
            e.contains("market.volatility: value \"high\" is a string; allowed: a number"),
            "{e}"
        );
        // A key that cannot be used with the file's kinds.
        let e = err(&with_sweep("\"burn.fee\" = [0.1]\n"));
        assert!(e.contains("burn.fee: is not used"), "{e}");
    }

    #[test]
    fn grids_are_capped() {
        let vals = (0..40)
            .map(|i| format!("{}", 0.5 + i as f64 * 0.01))
            .collect::<Vec<_>>()
            .join(", ");
        let s = with_sweep(&format!(
            "\"market.volatility\" = [{vals}]\n\"demand.volatility\" = [{vals}]\n"
        ));
        let e = err(&s);
        assert!(e.contains("40 x 40 = 1600 points; at most 1000"), "{e}");
    }
}

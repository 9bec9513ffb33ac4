//! Design comparison with common random numbers (CRN): paired statistics over the per-path
//! records of two designs simulated with the same seed and path ids, and the
//! `comparison.parquet` table (`tokenrisk compare`).
//!
//! Random numbers are addressed by (seed, path id, step, stream), so path i of design A and
//! path i of design B see the same market, demand and cost draws. The difference of two
//! designs is therefore estimated from per-path differences `d_i = x_Ai - x_Bi`, whose
//! variance is `var(A) + var(B) - 2 cov(A, B)`: with a positive correlation between the
//! designs (the same shocks hurt both) it is smaller than the `var(A) + var(B)` that two
//! independent runs would have. Everything here is a pure function of the records.
//!
//! The paired formulas live in `stats::paired` and the table's column names in
//! `output::comparison` (the report reads both; it is below this layer). Formulas (n paired
//! paths; sample variances use `n - 1`):
//! - P(spiral) difference `diff = p_A - p_B = (b - c) / n`, with `b` = paths that spiraled
//!   in A only and `c` in B only (the discordant pairs).
//! - Paired SE: `sd(d) / sqrt(n)` with `d_i = s_Ai - s_Bi` in {-1, 0, 1}, i.e.
//!   `sqrt(((b + c) - n diff^2) / ((n - 1) n))`, the McNemar-style formula.
//! - 95% interval: `diff +- 1.96 SE_paired`, clamped to [-1, 1].
//! - Independent SE: `sqrt((var(s_A) + var(s_B)) / n)`, what two runs with different seeds
//!   would have; `variance_reduction = (var(s_A) + var(s_B)) / var(d)`, measured from the
//!   data (infinite when the paired variance is zero, NaN when both are).
//! - McNemar: exact two-sided binomial test of `b` against `Bin(b + c, 1/2)`,
//!   `p = min(1, 2 P(X <= min(b, c)))`; 1 when there are no discordant pairs.
//! - Continuous metrics: mean difference and paired SE from `d_i`; differences of the
//!   lower sample quantiles (`sorted[floor(q (n - 1))]`, the README's definition) of the two
//!   designs' distributions, computed exactly from the records. Pairs with a non-finite
//!   value in either design are left out of that metric and counted.

use super::preflight;
use super::single::{self, RunPlan, RunResult};
use crate::engine::Control;
use crate::model::PathRecord;
pub use crate::output::comparison::{comparison_columns, METRICS, METRIC_COLUMNS};
use crate::output::folder::{Lock, Staged};
use crate::output::{parquet as pq, Written, MODEL_VERSION};
use crate::scenario::Scenario;
pub use crate::stats::paired::{
    mcnemar_exact, paired_metric, paired_proportion, MetricDiff, ProportionDiff,
};
use anyhow::{bail, Context, Result};
use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::file::metadata::KeyValue;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The per-path columns of one design that a comparison needs (a compact copy of its
/// records, so a run's full records need not be kept).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesignPaths {
    pub name: String,
    pub path_ids: Vec<u64>,
    pub spiral: Vec<bool>,
    pub final_price: Vec<f64>,
    pub final_circulating: Vec<f64>,
    pub er_ratio: Vec<f64>,
}

impl DesignPaths {
    pub fn from_records(name: &str, records: &[PathRecord]) -> DesignPaths {
        DesignPaths {
            name: name.to_string(),
            path_ids: records.iter().map(|r| r.path).collect(),
            spiral: records.iter().map(|r| r.spiral).collect(),
            final_price: records.iter().map(|r| r.final_price).collect(),
            final_circulating: records.iter().map(|r| r.final_circulating).collect(),
            er_ratio: records.iter().map(|r| r.er_ratio).collect(),
        }
    }
}

/// One row of `comparison.parquet`: design A against design B.
#[derive(Debug, Clone, PartialEq)]
pub struct PairComparison {
    pub design_a: String,
    pub design_b: String,
    pub paths: u64,
    pub spiral: ProportionDiff,
    /// In [`METRICS`] order.
    pub metrics: [MetricDiff; 3],
    /// Path ids with a non-finite compared value in either design.
    pub nonfinite_pairs: u64,
}

/// Compares two designs path by path. Fails unless both hold the same path ids in the same
/// order (the precondition of common random numbers).
pub fn compare(a: &DesignPaths, b: &DesignPaths) -> Result<PairComparison> {
    if a.path_ids != b.path_ids {
        bail!(
            "designs {} and {} were not simulated on the same path ids ({} and {} paths); a paired comparison needs common random numbers",
            a.name,
            b.name,
            a.path_ids.len(),
            b.path_ids.len()
        );
    }
    let nonfinite_pairs = (0..a.path_ids.len())
        .filter(|&i| {
            [&a.final_price, &a.final_circulating, &a.er_ratio]
                .iter()
                .chain([&b.final_price, &b.final_circulating, &b.er_ratio].iter())
                .any(|col| !col[i].is_finite())
        })
        .count() as u64;
    Ok(PairComparison {
        design_a: a.name.clone(),
        design_b: b.name.clone(),
        paths: a.path_ids.len() as u64,
        spiral: paired_proportion(&a.spiral, &b.spiral),
        metrics: [
            paired_metric(&a.final_price, &b.final_price),
            paired_metric(&a.final_circulating, &b.final_circulating),
            paired_metric(&a.er_ratio, &b.er_ratio),
        ],
        nonfinite_pairs,
    })
}

/// Every pair `i < j` of `designs`, in the order given (A vs B, A vs C, B vs C, ...);
/// `design_a` is the earlier one and differences are A minus B (B vs A is the negation).
pub fn compare_all(designs: &[DesignPaths]) -> Result<Vec<PairComparison>> {
    let mut rows = Vec::new();
    for i in 0..designs.len() {
        for j in i + 1..designs.len() {
            rows.push(compare(&designs[i], &designs[j])?);
        }
    }
    Ok(rows)
}

/// Checks that designs can be compared path for path: the same horizon, step and number of
/// paths (so path i is the same future in each), distinct names (each writes
/// `OUT/<scenario.name>/`) and no `[sweep]`. `designs` are (argument as given, scenario).
pub fn check_comparable(designs: &[(&str, &Scenario)]) -> Result<()> {
    if designs.len() < 2 {
        bail!("compare needs at least two designs");
    }
    for (arg, s) in designs {
        if s.sweep.is_some() {
            bail!("{arg}: has a [sweep] table; compare runs single designs (run sweeps with `tokenrisk run`)");
        }
    }
    let (arg0, s0) = designs[0];
    for (arg, s) in &designs[1..] {
        let fields: [(&str, u64, u64); 3] = [
            (
                "scenario.horizon_days",
                s0.scenario.horizon_days as u64,
                s.scenario.horizon_days as u64,
            ),
            (
                "scenario.step_days",
                s0.scenario.step_days as u64,
                s.scenario.step_days as u64,
            ),
            ("scenario.paths", s0.scenario.paths, s.scenario.paths),
        ];
        for (field, a, b) in fields {
            if a != b {
                bail!(
                    "designs differ in {field}: {arg0} has {a}, {arg} has {b}; compare needs the same horizon_days, step_days and paths, so that path i is the same future in every design (use --paths to set the paths of all)"
                );
            }
        }
    }
    for (i, (a, sa)) in designs.iter().enumerate() {
        for (b, sb) in &designs[i + 1..] {
            if sa.scenario.name == sb.scenario.name {
                bail!(
                    "{a} and {b} share scenario.name {:?}; each design writes OUT/<scenario.name>/, so give them distinct names",
                    sa.scenario.name
                );
            }
        }
    }
    Ok(())
}

/// Name of the comparison table in the output root.
pub use crate::output::COMPARISON_FILE;

/// Designs ready to be compared: each design's plan, all with one seed.
pub struct ComparePlan {
    /// (argument as given, plan), in the order given.
    pub designs: Vec<(String, RunPlan)>,
    /// The seed every design runs with: the first design's (after overrides).
    pub seed: u64,
    /// What was changed to make the designs comparable (a design's own seed replaced).
    pub notes: Vec<String>,
}

impl ComparePlan {
    /// Plans the comparison of `designs` (argument, plan): one seed for all (common random
    /// numbers: `--seed`, else the first design's), with a note for each design whose own
    /// seed is replaced. [`run`] checks that they can be compared ([`ComparePlan::check`]).
    pub fn new(mut designs: Vec<(String, RunPlan)>) -> Result<ComparePlan> {
        let Some(seed) = designs.first().map(|(_, p)| p.seed()) else {
            bail!("compare needs at least two designs");
        };
        let mut notes = Vec::new();
        for (arg, plan) in &mut designs {
            if plan.seed() != seed {
                notes.push(format!(
                    "{arg} sets seed {}; every design runs with seed {seed} (common random numbers)",
                    plan.seed()
                ));
                plan.scenario.scenario.seed = seed;
            }
        }
        Ok(ComparePlan {
            designs,
            seed,
            notes,
        })
    }

    /// [`check_comparable`] on the planned designs.
    pub fn check(&self) -> Result<()> {
        let refs: Vec<(&str, &Scenario)> = self
            .designs
            .iter()
            .map(|(a, p)| (a.as_str(), &p.scenario))
            .collect();
        check_comparable(&refs)
    }
}

/// A finished comparison: every pair's paired statistics, in memory.
pub struct Comparison {
    pub rows: Vec<PairComparison>,
    pub seed: u64,
    pub paths: u64,
    /// `comparison.parquet`'s key-value metadata.
    pub metadata: Vec<KeyValue>,
}

impl Comparison {
    /// `comparison.parquet`'s rows.
    pub fn batch(&self) -> Result<RecordBatch> {
        comparison_batch(&self.rows)
    }

    /// Writes `out_root/comparison.parquet` atomically; returns its path.
    pub fn write(&self, out_root: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(out_root)
            .with_context(|| format!("cannot create output directory {}", out_root.display()))?;
        let file = out_root.join(COMPARISON_FILE);
        pq::write_table(&file, &self.batch()?, self.metadata.clone())?;
        Ok(file)
    }
}

/// Runs every design of the plan in turn, handing each finished run to `on_design` (to
/// write, print or keep it; only the columns the comparison needs are kept here), then
/// compares every pair.
pub fn run(
    plan: &ComparePlan,
    ctl: &Control,
    on_design: &mut dyn FnMut(RunResult) -> Result<()>,
) -> Result<Comparison> {
    plan.check()?;
    let mut paths = Vec::with_capacity(plan.designs.len());
    let mut engines = Vec::with_capacity(plan.designs.len());
    for (_, design) in &plan.designs {
        let result = single::run(design, ctl)?;
        paths.push(DesignPaths::from_records(
            design.name(),
            &result.output.records,
        ));
        engines.push(result.output.engine);
        on_design(result)?;
    }
    let rows = compare_all(&paths)?;
    let runs: Vec<_> = plan
        .designs
        .iter()
        .zip(&engines)
        .map(|((_, p), e)| (&p.scenario, *e))
        .collect();
    let paths = plan.designs[0].1.paths();
    let metadata = comparison_metadata(&runs, plan.seed, paths);
    Ok(Comparison {
        rows,
        seed: plan.seed,
        paths,
        metadata,
    })
}

/// [`run`] with every design written to `out_root/<scenario.name>/`, then
/// `out_root/comparison.parquet`. Every design's folder is locked and started before
/// anything runs (in name order, so two comparisons sharing designs cannot deadlock under
/// `--wait`), each is built aside as it finishes, and all are moved into place together
/// once the comparison is done: a failure or cancellation leaves every earlier folder as it
/// was. `on_design` sees each design's run after it is written (the written folder names
/// its final place). Returns the comparison and the path of its table.
pub fn run_to(
    plan: &ComparePlan,
    out_root: &Path,
    ctl: &Control,
    on_design: &mut dyn FnMut(&RunResult, &Written),
) -> Result<(Comparison, PathBuf)> {
    plan.check()?;
    for (_, design) in &plan.designs {
        preflight::check_memory(&design.scenario, design.paths(), "the run")?;
    }
    let mut order: Vec<usize> = (0..plan.designs.len()).collect();
    order.sort_by(|&a, &b| plan.designs[a].1.name().cmp(plan.designs[b].1.name()));
    let mut staged: Vec<Option<Staged>> = (0..plan.designs.len()).map(|_| None).collect();
    for i in order {
        let dest = out_root.join(plan.designs[i].1.name());
        staged[i] = Some(Staged::begin(&dest)?);
    }
    let table_lock = Lock::acquire(&out_root.join(COMPARISON_FILE))?;
    let mut next = 0;
    let comparison = run(plan, ctl, &mut |result| {
        let s = staged[next].as_ref().expect("one staged folder per design");
        next += 1;
        let mut written = result.write_in(s.dir())?;
        written.dir = s.dest().to_path_buf();
        on_design(&result, &written);
        Ok(())
    })?;
    for s in staged.into_iter().flatten() {
        s.commit()?;
    }
    let file = comparison.write(out_root)?;
    drop(table_lock);
    Ok((comparison, file))
}

/// Key-value metadata of `comparison.parquet`: the usual `tokenrisk.*` keys (`scenario` and
/// `engine` list the designs', comma-separated; device names are the designs' manifests')
/// and each design's TOML as run under `tokenrisk.scenario_toml.<scenario name>`. `runs`
/// are (scenario, engine).
pub fn comparison_metadata(runs: &[(&Scenario, &str)], seed: u64, paths: u64) -> Vec<KeyValue> {
    let kv = |k: &str, v: String| KeyValue::new(k.to_string(), v);
    let distinct = |get: &dyn Fn(&(&Scenario, &str)) -> String| {
        let mut v: Vec<String> = Vec::new();
        for r in runs {
            let x = get(r);
            if !v.contains(&x) {
                v.push(x);
            }
        }
        v.join(", ")
    };
    let mut meta = vec![
        kv("tokenrisk.version", env!("CARGO_PKG_VERSION").to_string()),
        kv("tokenrisk.model_version", MODEL_VERSION.to_string()),
        kv(
            "tokenrisk.scenario",
            distinct(&|r| r.0.scenario.name.clone()),
        ),
        kv("tokenrisk.seed", seed.to_string()),
        kv("tokenrisk.engine", distinct(&|r| r.1.to_string())),
        kv("tokenrisk.paths", paths.to_string()),
    ];
    for (s, _) in runs {
        meta.push(kv(
            &format!("tokenrisk.scenario_toml.{}", s.scenario.name),
            s.source_toml.clone(),
        ));
    }
    meta
}

/// Columns under construction.
#[derive(Default)]
struct Columns {
    fields: Vec<Field>,
    arrays: Vec<ArrayRef>,
}

impl Columns {
    fn utf8(&mut self, name: &str, v: Vec<String>) {
        self.fields.push(Field::new(name, DataType::Utf8, false));
        self.arrays.push(Arc::new(StringArray::from(v)));
    }
    fn u64(&mut self, name: &str, v: Vec<u64>) {
        self.fields.push(Field::new(name, DataType::UInt64, false));
        self.arrays.push(Arc::new(UInt64Array::from(v)));
    }
    fn f64(&mut self, name: &str, v: Vec<f64>) {
        self.fields.push(Field::new(name, DataType::Float64, false));
        self.arrays.push(Arc::new(Float64Array::from(v)));
    }
}

/// The `comparison.parquet` batch: one row per compared pair (see [`comparison_columns`]).
/// Float columns are non-nullable and keep NaN (a metric with no finite pair) and infinity
/// (`variance_reduction` of identical designs).
pub fn comparison_batch(rows: &[PairComparison]) -> Result<RecordBatch> {
    let mut c = Columns::default();
    let f = |get: &dyn Fn(&PairComparison) -> f64| rows.iter().map(get).collect::<Vec<_>>();
    let u = |get: &dyn Fn(&PairComparison) -> u64| rows.iter().map(get).collect::<Vec<_>>();
    c.utf8(
        "design_a",
        rows.iter().map(|r| r.design_a.clone()).collect(),
    );
    c.utf8(
        "design_b",
        rows.iter().map(|r| r.design_b.clone()).collect(),
    );
    c.u64("paths", u(&|r| r.paths));
    c.f64("p_spiral_a", f(&|r| r.spiral.p_a));
    c.f64("p_spiral_b", f(&|r| r.spiral.p_b));
    c.f64("diff_p_spiral", f(&|r| r.spiral.diff));
    c.f64("diff_se_paired", f(&|r| r.spiral.se_paired));
    c.f64("diff_lo", f(&|r| r.spiral.lo));
    c.f64("diff_hi", f(&|r| r.spiral.hi));
    c.f64("diff_se_independent", f(&|r| r.spiral.se_independent));
    c.f64("variance_reduction", f(&|r| r.spiral.variance_reduction));
    c.u64("discordant_ab", u(&|r| r.spiral.discordant_ab));
    c.u64("discordant_ba", u(&|r| r.spiral.discordant_ba));
    c.f64("mcnemar_p_value", f(&|r| r.spiral.mcnemar_p_value));
    for (k, (m, _)) in METRICS.iter().enumerate() {
        for (suffix, get) in METRIC_COLUMNS {
            c.f64(&format!("{m}_{suffix}"), f(&|r| get(&r.metrics[k])));
        }
    }
    c.u64("nonfinite_pairs", u(&|r| r.nonfinite_pairs));
    debug_assert_eq!(
        c.fields
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>(),
        comparison_columns()
    );
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(c.fields)),
        c.arrays,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_design_against_itself_differs_by_nothing() {
        let recs: Vec<PathRecord> = (0..50)
            .map(|i| PathRecord {
                path: i,
                spiral: i % 3 == 0,
                final_price: 1.0 + i as f64,
                final_circulating: 100.0 * i as f64,
                er_ratio: 2.0,
                ..Default::default()
            })
            .collect();
        let a = DesignPaths::from_records("x", &recs);
        let r = compare(&a, &a).unwrap();
        assert_eq!(r.spiral.diff, 0.0);
        assert_eq!(r.spiral.se_paired, 0.0);
        assert_eq!((r.spiral.discordant_ab, r.spiral.discordant_ba), (0, 0));
        assert_eq!(r.spiral.mcnemar_p_value, 1.0);
        assert_eq!(r.spiral.variance_reduction, f64::INFINITY);
        for m in &r.metrics {
            assert_eq!((m.diff_mean, m.diff_se), (0.0, 0.0));
            assert_eq!((m.diff_p05, m.diff_p50, m.diff_p95), (0.0, 0.0, 0.0));
        }
        let batch = comparison_batch(&[r]).unwrap();
        assert_eq!(batch.num_rows(), 1);
        let names = crate::output::parquet::column_names(&batch);
        assert_eq!(names, comparison_columns());
    }

    #[test]
    fn different_path_ids_are_refused() {
        let r1 = [PathRecord {
            path: 0,
            ..Default::default()
        }];
        let r2 = [PathRecord {
            path: 1,
            ..Default::default()
        }];
        let e = compare(
            &DesignPaths::from_records("a", &r1),
            &DesignPaths::from_records("b", &r2),
        )
        .unwrap_err();
        assert!(e.to_string().contains("same path ids"), "{e}");
    }

    #[test]
    fn designs_must_share_horizon_step_and_paths() {
        let text = |name: &str, horizon: u32| {
            let (name, horizon) = (format!("{name:?}"), horizon.to_string());
            let sets = [
                ("scenario.name", name.as_str()),
                ("scenario.horizon_days", horizon.as_str()),
                ("scenario.paths", "10"),
            ];
            crate::scenario::test_text(&sets, "")
        };
        let parse = |t: String| crate::scenario::parse(&t, "t.toml").unwrap();
        let a = parse(text("a", 28));
        let b = parse(text("b", 28));
        let c = parse(text("c", 14));
        check_comparable(&[("a.toml", &a), ("b.toml", &b)]).unwrap();
        let e = check_comparable(&[("a.toml", &a), ("b.toml", &b), ("c.toml", &c)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("differ in scenario.horizon_days: a.toml has 28, c.toml has 14"),
            "{e}"
        );
        let mut b2 = b.clone();
        b2.scenario.paths = 11;
        let e = check_comparable(&[("a.toml", &a), ("b.toml", &b2)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("scenario.paths"), "{e}");
        let e = check_comparable(&[("a.toml", &a), ("a2.toml", &a)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("share scenario.name"), "{e}");
        let meta = comparison_metadata(&[(&a, "cpu"), (&b, "cpu")], 42, 10);
        let get = |k: &str| {
            meta.iter()
                .find(|m| m.key == k)
                .and_then(|m| m.value.clone())
        };
        assert_eq!(get("tokenrisk.scenario").as_deref(), Some("a, b"));
        assert_eq!(get("tokenrisk.engine").as_deref(), Some("cpu"));
        assert_eq!(
            get("tokenrisk.scenario_toml.b"),
            Some(b.source_toml.clone())
        );
    }

    #[test]
    fn pairs_in_the_order_given() {
        let recs = [PathRecord::default()];
        let d = |n: &str| DesignPaths::from_records(n, &recs);
        let rows = compare_all(&[d("a"), d("b"), d("c")]).unwrap();
        let pairs: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.design_a.as_str(), r.design_b.as_str()))
            .collect();
        assert_eq!(pairs, [("a", "b"), ("a", "c"), ("b", "c")]);
    }
}

//! Reading a comparison folder (written by `tokenrisk compare`) back for its page:
//! `comparison.parquet`, and each design's `summary.parquet`, `timeseries.parquet` and
//! `paths.parquet`, with the paired figures the table does not hold computed path by path
//! from the two designs' records (same path ids, checked).
//!
//! Shaped so: the table's figures are read, never recomputed (the page shows what the table
//! says); what needs the per-path records (quantiles of the per-path difference, the ratio
//! B/A, the ever-spiraled difference by day) is computed here with the formulas of
//! `stats::paired`, the ones `workflows::compare` uses, so a figure has one definition.

use super::charts::Bins;
use super::data::{read_table, value_bins, Table, SUMMARY, TIMESERIES};
use crate::model::PathRecord;
use crate::output::comparison::METRICS;
use crate::output::{COMPARISON_FILE, PATHS_FILE};
use crate::stats::paired::{
    paired_proportion, quantile_difference_ci, quantile_with_ci, ProportionDiff, QuantileCi,
};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// One design of the comparison, in the order given to `compare`.
pub struct Design {
    /// `scenario.name`, also its folder's name.
    pub name: String,
    /// `scenario.description` (may be empty).
    pub description: String,
    pub summary: Option<Table>,
    pub timeseries: Option<Table>,
    pub records: Vec<PathRecord>,
}

/// Quantiles (p05, p50, p95) of a per-path quantity with their 95% intervals.
pub type Quantiles = [QuantileCi; 3];

/// What the page shows of one pair that needs the per-path records. Differences are
/// B minus A (the change from design A to design B).
pub struct PairPaths {
    /// Index of the row in `comparison.parquet`.
    pub row: usize,
    pub a: usize,
    pub b: usize,
    /// Quantiles of the per-path difference `x_Bi - x_Ai`, per metric of [`METRICS`]
    /// (finite pairs only), and how many pairs were used.
    pub diff_quantiles: Vec<(Quantiles, u64)>,
    /// Conservative 95% intervals (lo, hi) of the differences of quantiles `q_B - q_A` at
    /// p05, p50, p95, per metric of [`METRICS`] (`stats::paired::quantile_difference_ci`,
    /// over the pairs with both values finite, as the table's differences).
    pub quantile_diff_ci: Vec<[(f64, f64); 3]>,
    /// Quantiles of the per-path final price ratio `price_Bi / price_Ai` (pairs with both
    /// prices finite and > 0) and how many pairs were used.
    pub ratio_quantiles: (Quantiles, u64),
    /// The ratios binned for the histogram.
    pub ratio_bins: Bins,
    /// Share of paths spiraled by day d, paired (A minus B, as `comparison.parquet`), at
    /// each report day and at the horizon.
    pub ever_spiraled: Vec<(f64, ProportionDiff)>,
}

/// Everything the comparison page shows.
pub struct CompareData {
    pub dir: PathBuf,
    pub table: Table,
    pub designs: Vec<Design>,
    pub pairs: Vec<PairPaths>,
    pub seed: String,
    pub paths: u64,
    pub horizon_days: f64,
    pub step_days: f64,
}

/// Whether `dir` holds a comparison table (and so gets the comparison page).
pub fn is_comparison_dir(dir: &Path) -> bool {
    dir.join(COMPARISON_FILE).is_file()
}

const QS: [f64; 3] = [0.05, 0.5, 0.95];

fn quantiles(mut v: Vec<f64>) -> (Quantiles, u64) {
    v.sort_by(f64::total_cmp);
    (QS.map(|q| quantile_with_ci(&v, q)), v.len() as u64)
}

/// Per-path values of a compared metric (a [`METRICS`] name).
fn metric_of(r: &PathRecord, metric: &str) -> f64 {
    match metric {
        "final_price" => r.final_price,
        "final_circulating" => r.final_circulating,
        "er_ratio" => r.er_ratio,
        _ => f64::NAN,
    }
}

/// The report days (ascending, distinct) of a timeseries table, plus `horizon`.
fn report_days(ts: Option<&Table>, horizon: f64) -> Vec<f64> {
    let mut days: Vec<f64> = ts
        .and_then(|t| t.num("day"))
        .map(|d| d.iter().flatten().copied().collect())
        .unwrap_or_default();
    days.push(horizon);
    days.retain(|d| d.is_finite() && *d <= horizon);
    days.sort_by(f64::total_cmp);
    days.dedup();
    days
}

/// The paired figures of designs `a` and `b` from their records (same path ids, checked).
pub fn pair_paths(
    row: usize,
    (a, da): (usize, &Design),
    (b, db): (usize, &Design),
    horizon: f64,
) -> Result<PairPaths> {
    let (ra, rb) = (&da.records, &db.records);
    if ra.len() != rb.len() || ra.iter().zip(rb).any(|(x, y)| x.path != y.path) {
        bail!(
            "{} and {}: their paths.parquet do not hold the same path ids in the same order \
             ({} and {} paths); a paired comparison needs both designs run by one \
             `tokenrisk compare`",
            da.name,
            db.name,
            ra.len(),
            rb.len()
        );
    }
    let diff_quantiles = METRICS
        .iter()
        .map(|(m, _)| {
            let d: Vec<f64> = ra
                .iter()
                .zip(rb)
                .map(|(x, y)| metric_of(y, m) - metric_of(x, m))
                .filter(|d| d.is_finite())
                .collect();
            quantiles(d)
        })
        .collect();
    let quantile_diff_ci = METRICS
        .iter()
        .map(|(m, _)| {
            let (mut xa, mut xb): (Vec<f64>, Vec<f64>) = ra
                .iter()
                .zip(rb)
                .map(|(x, y)| (metric_of(x, m), metric_of(y, m)))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .unzip();
            xa.sort_by(f64::total_cmp);
            xb.sort_by(f64::total_cmp);
            QS.map(|q| quantile_difference_ci(&xa, &xb, q))
        })
        .collect();
    let ratios: Vec<f64> = ra
        .iter()
        .zip(rb)
        .filter(|(x, y)| {
            let ok = |p: f64| p.is_finite() && p > 0.0;
            ok(x.final_price) && ok(y.final_price)
        })
        .map(|(x, y)| y.final_price / x.final_price)
        .filter(|r| r.is_finite() && *r > 0.0)
        .collect();
    let (lo, hi) = ratios
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(l, h), &r| (l.min(r), h.max(r)));
    let mut ratio_bins = if ratios.is_empty() {
        Bins::new(Vec::new(), false)
    } else {
        value_bins(lo, hi)
    };
    for &r in &ratios {
        ratio_bins.add(r);
    }
    let by = |recs: &[PathRecord], t: f64| -> Vec<bool> {
        recs.iter()
            .map(|r| r.spiral_day.is_some_and(|d| d as f64 <= t))
            .collect()
    };
    let ever_spiraled = report_days(da.timeseries.as_ref(), horizon)
        .into_iter()
        .map(|t| (t, paired_proportion(&by(ra, t), &by(rb, t))))
        .collect();
    Ok(PairPaths {
        row,
        a,
        b,
        diff_quantiles,
        quantile_diff_ci,
        ratio_quantiles: quantiles(ratios),
        ratio_bins,
        ever_spiraled,
    })
}

/// Reads the comparison folder `dir`: the table, every design it names (in the order
/// given to `compare`, from the rows' `design_a`, `design_b`) and their per-path figures.
pub fn load(dir: &Path) -> Result<CompareData> {
    let table = read_table(&dir.join(COMPARISON_FILE), None)?;
    let names_a = table.text("design_a");
    let names_b = table.text("design_b");
    let (Some(names_a), Some(names_b)) = (names_a, names_b) else {
        bail!(
            "{}: no text columns design_a and design_b (not a table of `tokenrisk compare`)",
            table.path.display()
        );
    };
    let mut order: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for (a, b) in names_a.iter().zip(names_b) {
        let (Some(a), Some(b)) = (a, b) else {
            bail!("{}: a row with no design name", table.path.display());
        };
        for n in [a, b] {
            if !order.contains(n) {
                order.push(n.clone());
            }
        }
        let pos = |n: &String| order.iter().position(|o| o == n).unwrap_or(0);
        rows.push((pos(a), pos(b)));
    }
    let meta = &table.metadata;
    let mut horizon_days = f64::NAN;
    let mut step_days = f64::NAN;
    let mut designs = Vec::new();
    for name in &order {
        let key = format!("tokenrisk.scenario_toml.{name}");
        let toml = meta
            .get(&key)
            .with_context(|| format!("{}: no metadata {key}", table.path.display()))?;
        let sc = crate::scenario::parse(toml, &key)
            .with_context(|| format!("{}: the scenario of design {name}", table.path.display()))?;
        horizon_days = sc.scenario.horizon_days as f64;
        step_days = sc.scenario.step_days as f64;
        let run = dir.join(name);
        let file = run.join(PATHS_FILE);
        let records = std::fs::File::open(&file)
            .map_err(anyhow::Error::from)
            .and_then(crate::output::parquet::read_paths)
            .with_context(|| format!("cannot read {}", file.display()))?;
        designs.push(Design {
            name: name.clone(),
            description: sc.scenario.description.clone(),
            summary: read_table(&run.join(SUMMARY), Some(1)).ok(),
            timeseries: read_table(&run.join(TIMESERIES), None).ok(),
            records,
        });
    }
    let pairs = rows
        .iter()
        .enumerate()
        .map(|(row, &(a, b))| pair_paths(row, (a, &designs[a]), (b, &designs[b]), horizon_days))
        .collect::<Result<Vec<_>>>()?;
    Ok(CompareData {
        dir: dir.to_path_buf(),
        seed: meta.get("tokenrisk.seed").cloned().unwrap_or_default(),
        paths: table.f64_at("paths", 0).unwrap_or(0.0) as u64,
        table,
        designs,
        pairs,
        horizon_days,
        step_days,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn design(name: &str, ids: &[u64], spiral_days: &[Option<u32>]) -> Design {
        Design {
            name: name.into(),
            description: String::new(),
            summary: None,
            timeseries: None,
            records: ids
                .iter()
                .zip(spiral_days)
                .map(|(&path, &spiral_day)| PathRecord {
                    path,
                    spiral: spiral_day.is_some(),
                    spiral_day,
                    final_price: 1.0 + path as f64,
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn paths_must_pair_and_ever_spiraled_is_exact_by_day() {
        let a = design("a", &[0, 1, 2, 3], &[Some(5), None, None, Some(20)]);
        let b = design("b", &[0, 1, 2, 3], &[Some(10), Some(3), None, None]);
        let p = pair_paths(0, (0, &a), (1, &b), 28.0).unwrap();
        // Only the horizon (no timeseries): A spiraled on 2 paths, B on 2: A - B = 0.
        assert_eq!(p.ever_spiraled.len(), 1);
        assert_eq!(p.ever_spiraled[0].0, 28.0);
        assert_eq!(p.ever_spiraled[0].1.diff, 0.0);
        assert_eq!(p.ever_spiraled[0].1.discordant_ab, 1);
        // Same prices: every ratio is 1, every difference 0.
        assert_eq!(p.ratio_quantiles.0[1].value, 1.0);
        assert_eq!(p.diff_quantiles[0].0[1].value, 0.0);
        let c = design("c", &[0, 1, 2, 4], &[None; 4]);
        let e = pair_paths(0, (0, &a), (1, &c), 28.0).err().unwrap();
        assert!(e.to_string().contains("same path ids"), "{e}");
    }
}

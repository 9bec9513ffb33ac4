//! Paired differences between the points of a sweep, for its index page: every point against
//! the first (`point-0000`), path by path. A sweep runs every point with one seed and the same
//! path ids (common random numbers), so a point's difference from the first is estimated from
//! per-path differences, far more precisely than the two points' own intervals suggest: two
//! medians whose intervals overlap almost entirely can still differ beyond doubt.
//!
//! Shaped so: the figures are those of the comparison page (`stats::paired`: the paired
//! proportion for P(spiral), the paired mean difference, the order-statistic interval of a
//! quantile of the per-path ratio), read from each point's `paths.parquet`, two at a time.

use crate::model::PathRecord;
use crate::output::PATHS_FILE;
use crate::stats::paired::{
    paired_metric, paired_proportion, quantile_with_ci, MetricDiff, ProportionDiff, QuantileCi,
};
use anyhow::{bail, Context, Result};
use std::path::Path;

/// One point against the first. Differences are this point minus the first.
pub struct SweepPair {
    /// The point's folder name (`point-0003`).
    pub point: String,
    pub spiral: ProportionDiff,
    pub final_price: MetricDiff,
    /// Median of the per-path final price ratio (this point / the first), over the paths
    /// with both prices finite and positive.
    pub price_ratio_median: QuantileCi,
}

fn records(run: &Path) -> Result<Vec<PathRecord>> {
    let file = run.join(PATHS_FILE);
    std::fs::File::open(&file)
        .map_err(anyhow::Error::from)
        .and_then(crate::output::parquet::read_paths)
        .with_context(|| format!("cannot read {}", file.display()))
}

/// Each of `runs[1..]` against `runs[0]`; an error where two points do not hold the same
/// path ids in the same order (then they were not run by one sweep).
pub fn against_first(runs: &[impl AsRef<Path>]) -> Result<Vec<SweepPair>> {
    let Some((first, rest)) = runs.split_first() else {
        return Ok(Vec::new());
    };
    let base = records(first.as_ref())?;
    let mut out = Vec::with_capacity(rest.len());
    for run in rest {
        let run = run.as_ref();
        let r = records(run)?;
        if r.len() != base.len() || r.iter().zip(&base).any(|(x, y)| x.path != y.path) {
            bail!(
                "{} and {}: not the same path ids ({} and {} paths); the points of one sweep share them",
                run.display(),
                first.as_ref().display(),
                r.len(),
                base.len()
            );
        }
        let flags = |v: &[PathRecord]| v.iter().map(|x| x.spiral).collect::<Vec<_>>();
        let prices = |v: &[PathRecord]| v.iter().map(|x| x.final_price).collect::<Vec<_>>();
        let mut ratios: Vec<f64> = r
            .iter()
            .zip(&base)
            .map(|(x, y)| x.final_price / y.final_price)
            .filter(|q| q.is_finite() && *q > 0.0)
            .collect();
        ratios.sort_by(f64::total_cmp);
        out.push(SweepPair {
            point: run
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
            spiral: paired_proportion(&flags(&r), &flags(&base)),
            final_price: paired_metric(&prices(&r), &prices(&base)),
            price_ratio_median: quantile_with_ci(&ratios, 0.5),
        });
    }
    Ok(out)
}

//! The one result type both engines fill: per-report-day moments and histograms of every
//! metric, and per-path summaries as mergeable histograms and counts.
//!
//! Invariant: merging is exact for every count and histogram (integer additions, so any
//! grouping of paths into chunks, shards or GPU dispatches gives identical histograms) and
//! deterministic for the means given a fixed merge order. Engines merge chunk results in
//! path order, so results do not depend on thread count.
//!
//! Governance changes (`[[governance]]`) are counted per change as the exact distribution of
//! enactment days (day -> paths): a map of integer counts, so merging is exact in any order
//! and the summary's median day and `governance.parquet`'s in-force shares are exact figures.

use crate::model::{PathRecord, N_METRICS};
use crate::stats::interval::lower_rank;
use crate::stats::{tail_count, LogHistogram, Moments};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Moments and histogram of one metric on one report day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricAcc {
    pub moments: Moments,
    pub hist: LogHistogram,
}

impl MetricAcc {
    #[inline]
    pub fn add(&mut self, x: f64) {
        self.moments.add(x);
        self.hist.add(x);
    }
    pub fn merge(&mut self, o: &MetricAcc) {
        self.moments.merge(&o.moments);
        self.hist.merge(&o.hist);
    }

    /// The histogram quantile clamped to the exact observed range, so the extremes and a
    /// degenerate distribution (every path at the same value) are reported exactly. None
    /// where no value was recorded, and where the quantile lies among values outside the
    /// histogram's range (`hist.out_of_range()`), which no bucket holds to its accuracy: a
    /// figure that would be wrong is left out rather than shown as if it were right.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.hist.count();
        if n == 0 || q.is_nan() {
            return None;
        }
        let rank = lower_rank(q, n);
        if !self.hist.ranks_in_range(rank, rank) {
            return None;
        }
        self.value_at_rank(rank)
    }

    /// The order statistic of 0-based `rank`, clamped likewise.
    pub fn value_at_rank(&self, rank: u64) -> Option<f64> {
        self.clamp(self.hist.value_at_rank(rank)?)
    }

    /// (VaR, CVaR) of the lower tail at `level`, as values of the quantity: the k-th
    /// smallest value and the mean of the k smallest, `k = stats::tail_count(level, n)`;
    /// NaN when empty. The mean is clamped like the quantiles and never above the VaR (the
    /// mean of values at or below a bucket is at most its representative, up to the
    /// rounding of the sum), so a CVaR can never fall short of its VaR. A figure read from
    /// buckets holding out-of-range values is NaN (see [`quantile`](Self::quantile)).
    pub fn lower_tail(&self, level: f64) -> (f64, f64) {
        let k = tail_count(level, self.hist.count());
        if k == 0 {
            return (f64::NAN, f64::NAN);
        }
        self.tail_figures(k - 1, 0, k - 1, self.hist.mean_of_lowest(k), f64::min)
    }

    /// (VaR, CVaR) of the upper tail at `level`: the k-th largest value and the mean of the
    /// k largest (never below the VaR), like [`lower_tail`](Self::lower_tail).
    pub fn upper_tail(&self, level: f64) -> (f64, f64) {
        let n = self.hist.count();
        let k = tail_count(level, n);
        if k == 0 {
            return (f64::NAN, f64::NAN);
        }
        self.tail_figures(n - k, n - k, n - 1, self.hist.mean_of_highest(k), f64::max)
    }

    /// (VaR at rank `var_rank`, CVaR from the tail mean of ranks `lo..=hi`), the mean bounded
    /// by the VaR with `bound`; each NaN where its ranks hold out-of-range values.
    fn tail_figures(
        &self,
        var_rank: u64,
        lo: u64,
        hi: u64,
        mean: Option<f64>,
        bound: fn(f64, f64) -> f64,
    ) -> (f64, f64) {
        let (Some(var), Some(mean)) = (self.value_at_rank(var_rank), mean) else {
            return (f64::NAN, f64::NAN);
        };
        if !self.hist.ranks_in_range(var_rank, var_rank) {
            return (f64::NAN, f64::NAN);
        }
        if !self.hist.ranks_in_range(lo, hi) {
            return (var, f64::NAN);
        }
        (var, self.clamp(mean).map_or(var, |m| bound(m, var)))
    }

    fn clamp(&self, v: f64) -> Option<f64> {
        Some(if self.moments.n > 0 {
            v.max(self.moments.min).min(self.moments.max)
        } else {
            v
        })
    }
}

/// Per-path quantities summarised across paths (MODEL.md "What is measured").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PathSummaries {
    pub log_return: MetricAcc,
    pub max_drawdown: MetricAcc,
    /// 1 - max drawdown: the share of the peak price left at the trough. Drawdowns of
    /// crypto assets crowd near 1, where a relative-accuracy histogram of the drawdown
    /// itself cannot tell 0.99 from 0.999; this one can (summary::drawdown_quantile).
    pub price_retained: MetricAcc,
    pub final_price: MetricAcc,
    pub final_circulating: MetricAcc,
    pub er_ratio: MetricAcc,
    pub minted: MetricAcc,
    pub burned: MetricAcc,
    /// Onset day, spiraled paths only.
    pub spiral_day: MetricAcc,
    /// Breakeven day, paths that broke even only.
    pub breakeven_day: MetricAcc,
}

impl PathSummaries {
    /// The per-path quantities the summary reports with their counts of non-finite and
    /// out-of-range values, in the order of [`quantities`](Self::quantities).
    pub const QUANTITIES: [&'static str; 7] = [
        "log_return",
        "max_drawdown",
        "final_price",
        "final_circulating",
        "er_ratio",
        "minted",
        "burned",
    ];

    /// Each of [`QUANTITIES`](Self::QUANTITIES) with its accumulator.
    pub fn quantities(&self) -> [(&'static str, &MetricAcc); 7] {
        let accs = [
            &self.log_return,
            &self.max_drawdown,
            &self.final_price,
            &self.final_circulating,
            &self.er_ratio,
            &self.minted,
            &self.burned,
        ];
        std::array::from_fn(|i| (Self::QUANTITIES[i], accs[i]))
    }

    /// (quantity, paths with a non-finite value of it) for each per-path quantity that had
    /// any, in a fixed order (the one the CLI warning lists them in).
    pub fn nonfinite_counts(&self) -> Vec<(&'static str, u64)> {
        self.quantities()
            .into_iter()
            .filter(|(_, m)| m.moments.nonfinite > 0)
            .map(|(name, m)| (name, m.moments.nonfinite))
            .collect()
    }

    /// (quantity, its values outside the histogram's range) for each per-path quantity,
    /// zeros included (the summary has a column for each).
    pub fn out_of_range_counts(&self) -> [(&'static str, u64); 7] {
        self.quantities()
            .map(|(name, m)| (name, m.hist.out_of_range()))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accumulator {
    /// Day of each report row.
    pub report_days: Vec<u32>,
    /// `series[row * N_METRICS + metric]`.
    pub series: Vec<MetricAcc>,
    pub paths: u64,
    pub spiraled: u64,
    pub er_above_1: u64,
    pub broke_even: u64,
    /// Paths with any non-finite value in their record (counted; the non-finite values are
    /// left out of every histogram and mean, the path's finite values are not).
    pub nonfinite_paths: u64,
    pub per_path: PathSummaries,
    /// Per `[[governance]]` change, in file order: enactment day -> paths enacted that day
    /// (exact). Holds entries up to the last change any path enacted (a change no path
    /// enacted past it is absent, read as empty: [`enacted_days`](Self::enacted_days)), so a
    /// run without governance serializes as before; files without it load as empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enacted: Vec<BTreeMap<u32, u64>>,
}

impl Accumulator {
    pub fn new(report_days: Vec<u32>) -> Accumulator {
        let series = vec![MetricAcc::default(); report_days.len() * N_METRICS];
        Accumulator {
            report_days,
            series,
            paths: 0,
            spiraled: 0,
            er_above_1: 0,
            broke_even: 0,
            nonfinite_paths: 0,
            per_path: PathSummaries::default(),
            enacted: Vec::new(),
        }
    }

    /// The enactment-day counts of change `c` (empty where no path enacted it).
    pub fn enacted_days(&self, c: usize) -> &BTreeMap<u32, u64> {
        static EMPTY: BTreeMap<u32, u64> = BTreeMap::new();
        self.enacted.get(c).unwrap_or(&EMPTY)
    }

    /// Paths on which change `c` was enacted within the horizon.
    pub fn enacted_count(&self, c: usize) -> u64 {
        self.enacted_days(c).values().sum()
    }

    /// Paths on which change `c` was enacted on or before `day`.
    pub fn enacted_by(&self, c: usize, day: u32) -> u64 {
        self.enacted_days(c).range(..=day).map(|(_, n)| n).sum()
    }

    fn enacted_mut(&mut self, c: usize) -> &mut BTreeMap<u32, u64> {
        if self.enacted.len() <= c {
            self.enacted.resize_with(c + 1, BTreeMap::new);
        }
        &mut self.enacted[c]
    }

    #[inline]
    pub fn add_report(&mut self, row: usize, metrics: &[f64; N_METRICS]) {
        let base = row * N_METRICS;
        for (acc, &x) in self.series[base..base + N_METRICS].iter_mut().zip(metrics) {
            acc.add(x);
        }
    }

    pub fn add_path(&mut self, r: &PathRecord) {
        self.paths += 1;
        let values = [
            r.log_return,
            r.max_drawdown,
            r.final_price,
            r.final_circulating,
            r.er_ratio,
            r.minted,
            r.burned,
        ];
        if values.iter().any(|v| !v.is_finite()) {
            self.nonfinite_paths += 1;
        }
        let pp = &mut self.per_path;
        pp.log_return.add(r.log_return);
        pp.max_drawdown.add(r.max_drawdown);
        pp.price_retained.add(1.0 - r.max_drawdown);
        pp.final_price.add(r.final_price);
        pp.final_circulating.add(r.final_circulating);
        pp.er_ratio.add(r.er_ratio);
        pp.minted.add(r.minted);
        pp.burned.add(r.burned);
        if r.er_ratio > 1.0 {
            self.er_above_1 += 1;
        }
        if let Some(d) = r.spiral_day {
            self.spiraled += 1;
            pp.spiral_day.add(d as f64);
        }
        if let Some(d) = r.breakeven_day {
            self.broke_even += 1;
            pp.breakeven_day.add(d as f64);
        }
        for (c, day) in r.enacted.iter().enumerate() {
            if let Some(d) = day {
                *self.enacted_mut(c).entry(d).or_insert(0) += 1;
            }
        }
    }

    /// Adds another accumulator's paths. Call in path order for deterministic means.
    pub fn merge(&mut self, o: &Accumulator) {
        assert_eq!(
            self.report_days, o.report_days,
            "merging runs with different report days"
        );
        for (a, b) in self.series.iter_mut().zip(&o.series) {
            a.merge(b);
        }
        self.paths += o.paths;
        self.spiraled += o.spiraled;
        self.er_above_1 += o.er_above_1;
        self.broke_even += o.broke_even;
        self.nonfinite_paths += o.nonfinite_paths;
        let (a, b) = (&mut self.per_path, &o.per_path);
        a.log_return.merge(&b.log_return);
        a.max_drawdown.merge(&b.max_drawdown);
        a.price_retained.merge(&b.price_retained);
        a.final_price.merge(&b.final_price);
        a.final_circulating.merge(&b.final_circulating);
        a.er_ratio.merge(&b.er_ratio);
        a.minted.merge(&b.minted);
        a.burned.merge(&b.burned);
        a.spiral_day.merge(&b.spiral_day);
        a.breakeven_day.merge(&b.breakeven_day);
        for (c, days) in o.enacted.iter().enumerate() {
            if days.is_empty() {
                continue;
            }
            let mine = self.enacted_mut(c);
            for (&d, &n) in days {
                *mine.entry(d).or_insert(0) += n;
            }
        }
    }

    pub fn metric(&self, row: usize, metric: usize) -> &MetricAcc {
        &self.series[row * N_METRICS + metric]
    }

    pub fn metric_mut(&mut self, row: usize, metric: usize) -> &mut MetricAcc {
        &mut self.series[row * N_METRICS + metric]
    }
}

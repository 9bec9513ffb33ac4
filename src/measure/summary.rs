//! Scenario-level figures of a run (MODEL.md "What is measured"): P(spiral) with a Wilson
//! interval, time-to-spiral quantiles, VaR/CVaR of the horizon log-return and of the maximum
//! drawdown, emissions-to-revenue quantiles and P(ratio > 1), with Monte Carlo standard
//! errors of every mean and standard errors and 95% intervals of every quantile, VaR and CVaR.
//!
//! Exact, not read from histograms: every quantile, VaR and CVaR here is the sample figure of
//! the per-path values themselves (`stats::exact`), which every run holds in its records (the
//! rows of `paths.parquet`; shards and checkpoints merge their rows). A histogram's 0.5%
//! buckets would give the same median to three designs whose exact medians differ in the
//! third digit; the histograms remain for the timeseries, where per-path values per report day
//! are not kept. Counts and means come from the accumulator (exact counts, f64 moments).
//!
//! Sign conventions (README "Outputs"): VaR and CVaR are reported as positive losses. For
//! the return, the loss is -ln(P_H / P_0), so `var95_return = -q_0.05(log return)` and
//! `cvar95_return` is minus the mean of the worst 5% of log-returns. For the drawdown (a
//! loss already, in [0, 1]), `var95_drawdown` is the upper 95% quantile (the mirror of the
//! lower quantile: the k-th largest drawdown) and the CVaR is the mean of the worst 5%. "The
//! worst 5%" is the k worst paths of `stats::tail_count`, and the VaR is the k-th worst, so
//! CVaR >= VaR always.
//!
//! Governance changes (`[[governance]]`, [`GovernanceFigures`]): per change P(enacted) from
//! the exact count (binomial SE, Wilson interval: the same code as P(spiral)) and the median
//! enactment day among enacting paths with its order-statistic interval, both exact, from
//! the accumulator's day counts.

use crate::measure::{Accumulator, MetricAcc};
use crate::model::{Params, PathRecord, PathState};
use crate::scenario::{Risk, Scenario};
use crate::stats::{exact, wilson_interval, Estimate, Moments, Z95};

/// Quantiles always reported (the output contract's column set), plus any in `[risk]`.
pub const CONTRACT_QUANTILES: [f64; 7] = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];
/// VaR levels always reported (the contract's var95/var99 columns), plus any in `[risk]`.
pub const CONTRACT_VAR_LEVELS: [f64; 2] = [0.95, 0.99];

fn union_sorted(base: &[f64], extra: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = base.iter().chain(extra).copied().collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    v
}

/// A level as its exact percentage, in decimal: 0.05 -> "5", 0.975 -> "97.5", 1e-3 ->
/// "0.1". The shortest decimal that reads back as `q` (Rust's `Display` of an f64, which never
/// uses an exponent) with its point moved two places, on the digits, not by multiplying (0.07
/// times 100 is 7.000000000000001): distinct levels always give distinct texts, and no level
/// is rounded into another (0.9999999999999999 is not 100, 1e-300 is not 0).
pub fn pct_text(q: f64) -> String {
    let s = format!("{q}");
    let (sign, s) = s.strip_prefix('-').map_or(("", s.as_str()), |r| ("-", r));
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let frac = format!("{frac:0<2}");
    let (moved, rest) = frac.split_at(2);
    let int = format!("{int}{moved}");
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let rest = rest.trim_end_matches('0');
    if rest.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{rest}")
    }
}

/// Column suffix of a quantile or level: its [`pct_text`] with at least two integer digits
/// and `_` for the point: 0.05 -> "05", 0.5 -> "50", 0.975 -> "97_5", 0.999 -> "99_9".
pub fn pct_label(q: f64) -> String {
    let t = pct_text(q);
    let int_digits = t.find('.').unwrap_or(t.len());
    let pad = "0".repeat(2usize.saturating_sub(int_digits));
    format!("{pad}{t}").replace('.', "_")
}

/// The quantiles of the timeseries and summary tables for a scenario's `[risk]`.
pub fn report_quantiles(risk: &Risk) -> Vec<f64> {
    union_sorted(&CONTRACT_QUANTILES, &risk.quantiles)
}

pub fn var_levels(risk: &Risk) -> Vec<f64> {
    union_sorted(&CONTRACT_VAR_LEVELS, &risk.var_levels)
}

#[derive(Debug, Clone, PartialEq)]
pub struct TailRisk {
    pub level: f64,
    pub var_return: Estimate,
    pub cvar_return: Estimate,
    pub var_drawdown: Estimate,
    pub cvar_drawdown: Estimate,
}

/// Mean, its standard error and quantiles (with theirs) of one per-path quantity.
#[derive(Debug, Clone, PartialEq)]
pub struct Distribution {
    pub mean: f64,
    pub se: f64,
    /// (q, exact sample quantile with its order-statistic interval); NaN where no path
    /// contributed a finite value.
    pub quantiles: Vec<(f64, Estimate)>,
}

impl Distribution {
    /// `sorted` holds the finite values, ascending; the mean and SE come from `moments`.
    fn new(moments: &Moments, sorted: &[f64], qs: &[f64]) -> Distribution {
        Distribution {
            mean: moments.mean(),
            se: moments.std_error(),
            quantiles: qs
                .iter()
                .map(|&q| (q, exact::quantile(sorted, q, Z95)))
                .collect(),
        }
    }

    /// The estimate at `q` (NaN when `q` is not one of the distribution's levels).
    pub fn at(&self, q: f64) -> Estimate {
        self.quantiles
            .iter()
            .find(|(x, _)| (x - q).abs() < 1e-12)
            .map(|(_, e)| *e)
            .unwrap_or(Estimate::NAN)
    }

    /// The quantile's value at `q`.
    pub fn q(&self, q: f64) -> f64 {
        self.at(q).value
    }
}

/// Day-0 figures, the same on every path: inputs, not estimates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Initial {
    pub price: f64,
    pub market_cap: f64,
    /// The trailing emissions-to-revenue ratio at day 0 (first step's emission rate valued
    /// at the day-0 price over day-0 served revenue), the `er_ratio` of timeseries row 0.
    pub er_ratio: f64,
}

impl Initial {
    pub fn of(p: &Params) -> Initial {
        let s = PathState::initial(p);
        Initial {
            price: p.price0,
            market_cap: p.price0 * s.circulating(),
            er_ratio: s.trailing_emission_usd / s.trailing_revenue,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub paths: u64,
    pub initial: Initial,
    pub p_spiral: f64,
    /// Binomial standard error sqrt(p (1 - p) / n).
    pub p_spiral_se: f64,
    pub p_spiral_lo: f64,
    pub p_spiral_hi: f64,
    pub spiral_day: Distribution,
    pub tail: Vec<TailRisk>,
    pub log_return: Distribution,
    pub max_drawdown: Distribution,
    pub final_price: Distribution,
    pub final_circulating: Distribution,
    pub er_ratio: Distribution,
    pub p_er_above_1: f64,
    pub p_er_above_1_se: f64,
    pub minted: Distribution,
    /// Of `minted`: tokens from the emission rule, and from vesting unlocks.
    pub emitted: Distribution,
    pub vested: Distribution,
    pub burned: Distribution,
    pub p_breakeven: f64,
    pub p_breakeven_se: f64,
    pub breakeven_day: Distribution,
    pub nonfinite_paths: u64,
    /// Per-path values outside the per-path histograms' range, by quantity
    /// (`PathSummaries::out_of_range_counts`): the `<quantity>_clamped` columns, kept so the
    /// columns only grow; the figures above are exact and do not depend on them.
    pub out_of_range: [(&'static str, u64); 7],
    /// Per `[[governance]]` change, in file order (empty without governance, and from
    /// [`Summary::new`], which has no scenario: [`Summary::of`] fills it).
    pub governance: Vec<GovernanceFigures>,
}

/// The figures of one governance change over a run's paths (all exact: counts, and order
/// statistics of the exact day counts).
#[derive(Debug, Clone, PartialEq)]
pub struct GovernanceFigures {
    /// `governance[i].name`.
    pub name: String,
    pub paths: u64,
    /// Paths on which the change was enacted within the horizon.
    pub enacted: u64,
    pub p_enacted: f64,
    /// Binomial standard error, and the Wilson 95% interval.
    pub p_enacted_se: f64,
    pub p_enacted_lo: f64,
    pub p_enacted_hi: f64,
    /// Median enactment day among the enacting paths (lower sample median) with its
    /// order-statistic 95% interval; NaN where no path enacted it.
    pub median_day: Estimate,
}

impl GovernanceFigures {
    /// The figures of change `c` named `name` from the accumulator's exact day counts.
    pub fn of(acc: &Accumulator, c: usize, name: &str) -> GovernanceFigures {
        let n = acc.paths;
        let k = acc.enacted_count(c);
        let (lo, hi) = wilson_interval(k, n, Z95);
        let mut days = Vec::with_capacity(k as usize);
        for (&d, &m) in acc.enacted_days(c) {
            days.extend(std::iter::repeat_n(f64::from(d), m as usize));
        }
        GovernanceFigures {
            name: name.to_string(),
            paths: n,
            enacted: k,
            p_enacted: k as f64 / n.max(1) as f64,
            p_enacted_se: proportion_se(k, n),
            p_enacted_lo: lo,
            p_enacted_hi: hi,
            median_day: exact::quantile(&days, 0.5, Z95),
        }
    }

    /// The figures of every change of `scenario`, in file order.
    pub fn all(acc: &Accumulator, scenario: &Scenario) -> Vec<GovernanceFigures> {
        scenario
            .governance
            .iter()
            .enumerate()
            .map(|(c, g)| GovernanceFigures::of(acc, c, &g.name))
            .collect()
    }
}

fn proportion_se(k: u64, n: u64) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    let p = k as f64 / n as f64;
    (p * (1.0 - p) / n as f64).sqrt()
}

/// The finite values of one per-path column, ascending.
fn sorted(records: &[PathRecord], get: impl Fn(&PathRecord) -> Option<f64>) -> Vec<f64> {
    let mut v: Vec<f64> = records
        .iter()
        .filter_map(get)
        .filter(|x| x.is_finite())
        .collect();
    v.sort_unstable_by(f64::total_cmp);
    v
}

/// Moments of the finite values of a column, in path order (deterministic).
fn moments(records: &[PathRecord], get: impl Fn(&PathRecord) -> f64) -> Moments {
    let mut m = Moments::default();
    for x in records.iter().map(get).filter(|x| x.is_finite()) {
        m.add(x);
    }
    m
}

impl Summary {
    /// [`Summary::new`] with the day-0 figures of `scenario` (the scenario as run).
    pub fn of(acc: &Accumulator, records: &[PathRecord], scenario: &Scenario) -> Summary {
        let initial = Initial::of(&Params::compile(scenario));
        let mut s = Summary::new(acc, records, &scenario.risk, initial);
        s.governance = GovernanceFigures::all(acc, scenario);
        s
    }

    /// The figures of a run: counts and means from `acc`, quantiles and tails exactly from
    /// `records` (all of the run's paths, the records `acc` was filled from).
    pub fn new(
        acc: &Accumulator,
        records: &[PathRecord],
        risk: &Risk,
        initial: Initial,
    ) -> Summary {
        debug_assert_eq!(records.len() as u64, acc.paths);
        let qs = report_quantiles(risk);
        let n = acc.paths;
        let (lo, hi) = wilson_interval(acc.spiraled, n, Z95);
        let pp = &acc.per_path;
        let dist = |m: &MetricAcc, get: fn(&PathRecord) -> Option<f64>| {
            Distribution::new(&m.moments, &sorted(records, get), &qs)
        };
        let log_returns = sorted(records, |r| Some(r.log_return));
        let drawdowns = sorted(records, |r| Some(r.max_drawdown));
        let tail = var_levels(risk)
            .into_iter()
            .map(|level| {
                let (var_r, cvar_r) = exact::lower_tail(&log_returns, level, Z95);
                let (var_d, cvar_d) = exact::upper_tail(&drawdowns, level, Z95);
                TailRisk {
                    level,
                    var_return: var_r.negated(),
                    cvar_return: cvar_r.negated(),
                    var_drawdown: var_d,
                    cvar_drawdown: cvar_d,
                }
            })
            .collect();
        let emitted = |r: &PathRecord| r.emitted;
        let vested = |r: &PathRecord| r.vested;
        Summary {
            paths: n,
            initial,
            p_spiral: acc.spiraled as f64 / n.max(1) as f64,
            p_spiral_se: proportion_se(acc.spiraled, n),
            p_spiral_lo: lo,
            p_spiral_hi: hi,
            spiral_day: dist(&pp.spiral_day, |r| r.spiral_day.map(f64::from)),
            tail,
            log_return: Distribution::new(&pp.log_return.moments, &log_returns, &qs),
            max_drawdown: Distribution::new(&pp.max_drawdown.moments, &drawdowns, &qs),
            final_price: dist(&pp.final_price, |r| Some(r.final_price)),
            final_circulating: dist(&pp.final_circulating, |r| Some(r.final_circulating)),
            er_ratio: dist(&pp.er_ratio, |r| Some(r.er_ratio)),
            p_er_above_1: acc.er_above_1 as f64 / n.max(1) as f64,
            p_er_above_1_se: proportion_se(acc.er_above_1, n),
            minted: dist(&pp.minted, |r| Some(r.minted)),
            emitted: Distribution::new(
                &moments(records, emitted),
                &sorted(records, |r| Some(r.emitted)),
                &qs,
            ),
            vested: Distribution::new(
                &moments(records, vested),
                &sorted(records, |r| Some(r.vested)),
                &qs,
            ),
            burned: dist(&pp.burned, |r| Some(r.burned)),
            p_breakeven: acc.broke_even as f64 / n.max(1) as f64,
            p_breakeven_se: proportion_se(acc.broke_even, n),
            breakeven_day: dist(&pp.breakeven_day, |r| r.breakeven_day.map(f64::from)),
            nonfinite_paths: acc.nonfinite_paths,
            out_of_range: pp.out_of_range_counts(),
            governance: Vec::new(),
        }
    }

    pub fn tail_at(&self, level: f64) -> Option<&TailRisk> {
        self.tail.iter().find(|t| (t.level - level).abs() < 1e-12)
    }
}

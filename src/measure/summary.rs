//! Scenario-level figures computed from an [`Accumulator`] (MODEL.md "What is measured"):
//! P(spiral) with a Wilson interval, time-to-spiral quantiles, VaR/CVaR of the horizon
//! log-return and of the maximum drawdown, emissions-to-revenue quantiles and P(ratio > 1),
//! with Monte Carlo standard errors of every mean.
//!
//! Sign conventions (README "Outputs"): VaR and CVaR are reported as positive losses. For
//! the return, the loss is -ln(P_H / P_0), so `var95_return = -q_0.05(log return)` and
//! `cvar95_return` is minus the mean of the worst 5% of log-returns. For the drawdown (a
//! loss already, in [0, 1]), `var95_drawdown` is the upper 95% quantile (the mirror of the
//! lower quantile: the k-th largest drawdown) and the CVaR is the mean of the worst 5%. "The
//! worst 5%" is the k worst paths of `stats::tail_count`, and the VaR is the k-th worst, so
//! CVaR >= VaR always.

use crate::measure::{Accumulator, MetricAcc, PathSummaries};
use crate::scenario::Risk;
use crate::stats::{wilson_interval, Z95};

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
    pub var_return: f64,
    pub cvar_return: f64,
    pub var_drawdown: f64,
    pub cvar_drawdown: f64,
}

/// Mean, its standard error and quantiles of one per-path quantity.
#[derive(Debug, Clone, PartialEq)]
pub struct Distribution {
    pub mean: f64,
    pub se: f64,
    /// (q, value); NaN where no path contributed, or where the quantile lies among values
    /// outside the histogram's range (`MetricAcc::quantile`).
    pub quantiles: Vec<(f64, f64)>,
}

impl Distribution {
    pub fn of(acc: &MetricAcc, qs: &[f64]) -> Distribution {
        Distribution {
            mean: acc.moments.mean(),
            se: acc.moments.std_error(),
            quantiles: qs
                .iter()
                .map(|&q| (q, acc.quantile(q).unwrap_or(f64::NAN)))
                .collect(),
        }
    }
    pub fn q(&self, q: f64) -> f64 {
        self.quantiles
            .iter()
            .find(|(x, _)| (x - q).abs() < 1e-12)
            .map(|(_, v)| *v)
            .unwrap_or(f64::NAN)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub paths: u64,
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
    pub burned: Distribution,
    pub p_breakeven: f64,
    pub breakeven_day: Distribution,
    pub nonfinite_paths: u64,
    /// Per-path values outside the histogram's range, by quantity
    /// (`PathSummaries::out_of_range_counts`); their quantiles and tail figures are NaN.
    pub out_of_range: [(&'static str, u64); 7],
}

/// VaR and CVaR of the maximum drawdown at `level` (its upper tail). Below a drawdown of
/// 0.5 the drawdown's own histogram is the more precise; above it, the lower tail of the
/// histogram of 1 - drawdown (relative accuracy on what is left of the price), the same k
/// paths mirrored. Either way the result is within 0.5% relative of the exact sample figure,
/// and the CVaR is at least the VaR.
fn drawdown_tail(pp: &PathSummaries, level: f64) -> (f64, f64) {
    let direct = pp.max_drawdown.upper_tail(level);
    if direct.0.is_nan() || direct.0 < 0.5 {
        return direct;
    }
    // What is left of the price can fall below the histogram's range (a collapse to 1e-13
    // of the peak); the drawdown itself, in [0, 1], is then still read to 0.5%.
    match pp.price_retained.lower_tail(level) {
        (var, cvar) if !var.is_nan() && !cvar.is_nan() => (1.0 - var, 1.0 - cvar),
        _ => direct,
    }
}

fn proportion_se(k: u64, n: u64) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    let p = k as f64 / n as f64;
    (p * (1.0 - p) / n as f64).sqrt()
}

impl Summary {
    pub fn from_acc(acc: &Accumulator, risk: &Risk) -> Summary {
        let qs = report_quantiles(risk);
        let n = acc.paths;
        let (lo, hi) = wilson_interval(acc.spiraled, n, Z95);
        let pp = &acc.per_path;
        let tail = var_levels(risk)
            .into_iter()
            .map(|level| {
                let (var_drawdown, cvar_drawdown) = drawdown_tail(pp, level);
                let (var, cvar) = pp.log_return.lower_tail(level);
                TailRisk {
                    level,
                    var_return: -var,
                    cvar_return: -cvar,
                    var_drawdown,
                    cvar_drawdown,
                }
            })
            .collect();
        Summary {
            paths: n,
            p_spiral: acc.spiraled as f64 / n.max(1) as f64,
            p_spiral_se: proportion_se(acc.spiraled, n),
            p_spiral_lo: lo,
            p_spiral_hi: hi,
            spiral_day: Distribution::of(&pp.spiral_day, &qs),
            tail,
            log_return: Distribution::of(&pp.log_return, &qs),
            max_drawdown: Distribution::of(&pp.max_drawdown, &qs),
            final_price: Distribution::of(&pp.final_price, &qs),
            final_circulating: Distribution::of(&pp.final_circulating, &qs),
            er_ratio: Distribution::of(&pp.er_ratio, &qs),
            p_er_above_1: acc.er_above_1 as f64 / n.max(1) as f64,
            p_er_above_1_se: proportion_se(acc.er_above_1, n),
            minted: Distribution::of(&pp.minted, &qs),
            burned: Distribution::of(&pp.burned, &qs),
            p_breakeven: acc.broke_even as f64 / n.max(1) as f64,
            breakeven_day: Distribution::of(&pp.breakeven_day, &qs),
            nonfinite_paths: acc.nonfinite_paths,
            out_of_range: pp.out_of_range_counts(),
        }
    }

    pub fn tail_at(&self, level: f64) -> Option<&TailRisk> {
        self.tail.iter().find(|t| (t.level - level).abs() < 1e-12)
    }
}

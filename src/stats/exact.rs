//! Exact sample figures of a sorted sample with their Monte Carlo uncertainty: a quantile with
//! its distribution-free order-statistic interval, and the tail figures (VaR as a quantile,
//! CVaR with its asymptotic standard error). What `measure::summary` reports for every
//! per-path quantity, computed from the per-path values themselves rather than read from a
//! histogram (the values exist: `paths.parquet` holds them, and shards merge their rows).
//!
//! Why these intervals:
//! - A quantile's interval is the pair of order statistics `X_(l)`, `X_(u)` (1-based ranks
//!   `l = floor(n q - z s)`, `u = ceil(n q + z s) + 1`, `s = sqrt(n q (1 - q))`), which covers
//!   the true quantile with probability `P(l <= B < u)`, `B ~ Bin(n, q)` the count of values
//!   below it: at least 95% under the normal approximation to `B`, so rounding the ranks
//!   outwards keeps it conservative. It needs no density estimate and holds
//!   for any continuous distribution; where a bound's rank falls outside the sample it is
//!   clamped to the sample's extreme, and the interval then covers less than 95% (only with
//!   a handful of values beyond the quantile). Its standard error is the interval's half
//!   width over `z` (the normal approximation the rank interval rests on).
//! - The CVaR (the mean of the k worst values) is a smooth functional with influence function
//!   `(x - v) 1{x <= v} / a + v - CVaR` for the lower tail, `a = k / n`, `v` the VaR, so its
//!   asymptotic variance is `Var(Y) / (n a^2)` with `Y = (x - v) 1{x in the tail}`: the
//!   sample variance of those `n` values gives the standard error, and `CVaR -+ z SE` the
//!   interval. For the upper tail the same with the signs mirrored.

use super::interval::lower_rank;
use super::tail::{exact_lower_tail, exact_upper_tail, tail_count};

/// One figure with its standard error and 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub se: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Estimate {
    pub const NAN: Estimate = Estimate {
        value: f64::NAN,
        se: f64::NAN,
        lo: f64::NAN,
        hi: f64::NAN,
    };

    /// The same figure seen as its negation (a log-return turned into a loss): the value and
    /// the bounds negated, the bounds swapped.
    pub fn negated(self) -> Estimate {
        Estimate {
            value: -self.value,
            se: self.se,
            lo: -self.hi,
            hi: -self.lo,
        }
    }

    /// The figure seen as `1 - x` (what is left of the price as a drawdown).
    pub fn one_minus(self) -> Estimate {
        Estimate {
            value: 1.0 - self.value,
            se: self.se,
            lo: 1.0 - self.hi,
            hi: 1.0 - self.lo,
        }
    }
}

/// 0-based ranks `(lo, hi)` of the 95%-or-more order-statistic interval of the quantile at
/// `q` of `n` values: `floor(n q - z s) - 1` and `ceil(n q + z s)` (the 1-based `l` and `u`
/// of the module header), `s = sqrt(n q (1 - q))`, clamped to `0..n`. `n` must be positive.
pub fn quantile_interval_ranks(q: f64, n: u64, z: f64) -> (u64, u64) {
    debug_assert!(n > 0);
    let q = q.clamp(0.0, 1.0);
    let nf = n as f64;
    let s = (nf * q * (1.0 - q)).sqrt();
    let lo = (nf * q - z * s).floor() - 1.0;
    let hi = (nf * q + z * s).ceil();
    let clamp = |r: f64| r.clamp(0.0, (n - 1) as f64) as u64;
    (clamp(lo), clamp(hi))
}

/// The order statistic of rank `rank` with the interval of ranks of [`quantile_interval_ranks`]
/// at `q`, the SE from its width.
fn order_statistic(sorted: &[f64], rank: u64, q: f64, z: f64) -> Estimate {
    let (l, u) = quantile_interval_ranks(q, sorted.len() as u64, z);
    let value = sorted[rank as usize];
    // A rank interval always brackets the estimate's own rank; guard the ends all the same.
    let lo = sorted[l as usize].min(value);
    let hi = sorted[u as usize].max(value);
    Estimate {
        value,
        se: (hi - lo) / (2.0 * z),
        lo,
        hi,
    }
}

/// The lower sample quantile `sorted[floor(q (n - 1))]` (`exact_quantile_lower`) with its
/// order-statistic interval; NaN for an empty sample. `sorted` is ascending, all finite.
pub fn quantile(sorted: &[f64], q: f64, z: f64) -> Estimate {
    if sorted.is_empty() || q.is_nan() {
        return Estimate::NAN;
    }
    order_statistic(sorted, lower_rank(q, sorted.len() as u64), q, z)
}

/// (VaR, CVaR) of the lower tail at `level` as values of the sample (the k-th smallest and
/// the mean of the k smallest, `exact_lower_tail`), each with its SE and 95% interval.
pub fn lower_tail(sorted: &[f64], level: f64, z: f64) -> (Estimate, Estimate) {
    let n = sorted.len() as u64;
    let k = tail_count(level, n);
    if k == 0 {
        return (Estimate::NAN, Estimate::NAN);
    }
    let var = order_statistic(sorted, k - 1, k as f64 / n as f64, z);
    let (v, cvar) = exact_lower_tail(sorted, level);
    let tail = sorted[..k as usize].iter().map(|x| x - v);
    (var, cvar_estimate(cvar, tail, n, k, z))
}

/// (VaR, CVaR) of the upper tail at `level`: the k-th largest and the mean of the k largest
/// (`exact_upper_tail`), each with its SE and 95% interval.
pub fn upper_tail(sorted: &[f64], level: f64, z: f64) -> (Estimate, Estimate) {
    let n = sorted.len() as u64;
    let k = tail_count(level, n);
    if k == 0 {
        return (Estimate::NAN, Estimate::NAN);
    }
    let var = order_statistic(sorted, n - k, 1.0 - k as f64 / n as f64, z);
    let (v, cvar) = exact_upper_tail(sorted, level);
    let tail = sorted[(n - k) as usize..].iter().map(|x| x - v);
    (var, cvar_estimate(cvar, tail, n, k, z))
}

/// The CVaR `cvar` with the SE `sqrt(Var(Y) / n) / a` of the module header, from the tail's
/// deviations from the VaR (`Y` is 0 off the tail).
fn cvar_estimate(cvar: f64, tail: impl Iterator<Item = f64>, n: u64, k: u64, z: f64) -> Estimate {
    let (mut s1, mut s2) = (0.0, 0.0);
    for y in tail {
        s1 += y;
        s2 += y * y;
    }
    let nf = n as f64;
    let se = if n > 1 {
        let mean = s1 / nf;
        let var_y = ((s2 - nf * mean * mean) / (nf - 1.0)).max(0.0);
        (var_y / nf).sqrt() / (k as f64 / nf)
    } else {
        f64::NAN
    };
    Estimate {
        value: cvar,
        se,
        lo: cvar - z * se,
        hi: cvar + z * se,
    }
}

/// Per value (in the order given), the influence of that value on the lower-tail CVaR at
/// `level`: `min(x - v, 0) / a + v - CVaR` (`v` the VaR, `a = k / n`), whose sample variance
/// over `n` is the CVaR's asymptotic variance times `n` (the module header). Two samples
/// observed on the same units (common random numbers) give the paired SE of a difference of
/// CVaRs as `sd(influence_B - influence_A) / sqrt(n)`. Non-finite values get 0 (they are
/// outside every figure); empty when no value is finite.
pub fn lower_tail_influence(values: &[f64], level: f64) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    sorted.sort_unstable_by(f64::total_cmp);
    let n = sorted.len() as u64;
    let k = tail_count(level, n);
    if k == 0 {
        return Vec::new();
    }
    let (v, cvar) = exact_lower_tail(&sorted, level);
    let a = k as f64 / n as f64;
    values
        .iter()
        .map(|&x| {
            if x.is_finite() {
                (x - v).min(0.0) / a + v - cvar
            } else {
                0.0
            }
        })
        .collect()
}

/// The paired standard error of `mean(b) - mean(a)` from per-unit values: `sd(b_i - a_i) /
/// sqrt(n)`; NaN with fewer than two units or unequal lengths.
pub fn paired_se(a: &[f64], b: &[f64]) -> f64 {
    if a.len() != b.len() || a.len() < 2 {
        return f64::NAN;
    }
    let mut m = super::Moments::default();
    for (x, y) in a.iter().zip(b) {
        m.add(y - x);
    }
    m.std_error()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{exact_quantile_lower, Z95};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn sorted_normals(rng: &mut StdRng, n: usize) -> Vec<f64> {
        // Box-Muller: enough for a coverage check, and free of any dependency on the engine.
        let mut v: Vec<f64> = (0..n)
            .map(|_| {
                let u1: f64 = 1.0 - rng.random::<f64>();
                let u2: f64 = rng.random();
                (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
            })
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    #[test]
    fn point_values_are_the_exact_sample_figures() {
        let mut rng = StdRng::seed_from_u64(3);
        let xs = sorted_normals(&mut rng, 1001);
        for q in [0.01, 0.05, 0.5, 0.95] {
            assert_eq!(quantile(&xs, q, Z95).value, exact_quantile_lower(&xs, q));
        }
        let (var, cvar) = lower_tail(&xs, 0.95, Z95);
        assert_eq!(
            (var.value, cvar.value),
            crate::stats::exact_lower_tail(&xs, 0.95)
        );
        let (var, cvar) = upper_tail(&xs, 0.99, Z95);
        assert_eq!(
            (var.value, cvar.value),
            crate::stats::exact_upper_tail(&xs, 0.99)
        );
        assert!(var.lo <= var.value && var.value <= var.hi);
        assert!(cvar.lo < cvar.value && cvar.value < cvar.hi);
    }

    #[test]
    fn interval_ranks_bracket_the_estimate_and_stay_in_the_sample() {
        for n in [1u64, 2, 5, 20, 1000, 1_000_000] {
            for q in [0.0, 0.01, 0.05, 0.5, 0.95, 0.99, 1.0] {
                let (l, u) = quantile_interval_ranks(q, n, Z95);
                let r = lower_rank(q, n);
                assert!(l <= r && r <= u && u < n, "n {n} q {q}: {l} {r} {u}");
            }
        }
    }

    /// Coverage of the quantile, VaR and CVaR intervals over 2,000 samples of 2,000 standard
    /// normals (fixed seed): each within 4 standard errors of the estimated coverage
    /// (sqrt(0.95 * 0.05 / 2000) = 0.0049) of 95%, the rank intervals allowed to be
    /// conservative up to 98.5%. True values: the median 0, the 5% quantile -1.6449, the
    /// lower 5% CVaR -phi(1.6449) / 0.05 = -2.0627.
    #[test]
    fn intervals_cover_the_true_figures_95_percent_of_the_time() {
        let reps = 2000;
        let se = (0.95f64 * 0.05 / reps as f64).sqrt();
        let mut rng = StdRng::seed_from_u64(20261201);
        let (mut med, mut var, mut cvar) = (0, 0, 0);
        for _ in 0..reps {
            let xs = sorted_normals(&mut rng, 2000);
            let m = quantile(&xs, 0.5, Z95);
            med += (m.lo <= 0.0 && 0.0 <= m.hi) as u32;
            let (v, c) = lower_tail(&xs, 0.95, Z95);
            var += (v.lo <= -1.644_853_6 && -1.644_853_6 <= v.hi) as u32;
            cvar += (c.lo <= -2.062_712_9 && -2.062_712_9 <= c.hi) as u32;
        }
        for (name, hits, max) in [
            ("median", med, 0.985),
            ("VaR", var, 0.985),
            ("CVaR", cvar, 0.95 + 4.0 * se),
        ] {
            let cov = hits as f64 / reps as f64;
            assert!(
                cov >= 0.95 - 4.0 * se && cov <= max,
                "{name} interval covered {cov} of {reps} samples"
            );
        }
    }

    /// The influence values reproduce the CVaR's SE (their SE equals `lower_tail`'s), and
    /// the paired SE of two CVaRs on the same normals, one shifted, is (near) zero while two
    /// independent samples give about sqrt(2) times one SE.
    #[test]
    fn influence_gives_the_cvar_se_and_pairs() {
        let mut rng = StdRng::seed_from_u64(9);
        let xs = sorted_normals(&mut rng, 4000);
        let inf = lower_tail_influence(&xs, 0.95);
        let (_, c) = lower_tail(&xs, 0.95, Z95);
        let mean: f64 = inf.iter().sum::<f64>() / inf.len() as f64;
        assert!(mean.abs() < 1e-9, "influence mean {mean}");
        let zero = vec![0.0; xs.len()];
        assert!((paired_se(&zero, &inf) - c.se).abs() <= 1e-12 * c.se.max(1.0));
        let shifted: Vec<f64> = xs.iter().map(|x| x + 0.5).collect();
        let inf2 = lower_tail_influence(&shifted, 0.95);
        assert!(paired_se(&inf, &inf2) < 1e-9);
        let mut other = sorted_normals(&mut rng, 4000);
        other.reverse();
        let ind = paired_se(&inf, &lower_tail_influence(&other, 0.95));
        assert!(
            ind > 1.2 * c.se && ind < 1.6 * c.se,
            "independent {ind} vs {}",
            c.se
        );
    }

    #[test]
    fn empty_and_single_samples() {
        assert!(quantile(&[], 0.5, Z95).value.is_nan());
        assert!(lower_tail(&[], 0.95, Z95).0.value.is_nan());
        let one = quantile(&[2.0], 0.5, Z95);
        assert_eq!((one.value, one.lo, one.hi, one.se), (2.0, 2.0, 2.0, 0.0));
        let (v, c) = lower_tail(&[2.0], 0.95, Z95);
        assert_eq!((v.value, c.value), (2.0, 2.0));
        assert!(c.se.is_nan());
    }
}

//! Scores of a forecast given as a Monte Carlo sample against the value that happened, and
//! the summaries of a sequence of them: what `tokenrisk backtest` reports.
//!
//! Pure functions of a *sorted* sample (the caller sorts once and every score reads it):
//! - [`pit`]: the realised value's mid-rank among the simulated ones, `(#{x < y} + #{x = y}/2)
//!   / n` (mid-rank for ties, deterministic, rather than a randomised rank).
//! - [`crps`]: the continuous ranked probability score of the sample's empirical
//!   distribution, `E|X - y| - E|X - X'|/2`, exact in O(n) from the sorted sample (the pair
//!   term is `sum (2i - n - 1) x_(i) / n^2`, i from 1), so O(n log n) with the sort.
//! - [`log_score`]: `-ln f(y)` (lower is better, like the CRPS) for `f` a Gaussian kernel
//!   density estimate with Silverman's bandwidth `0.9 min(sd, IQR/1.34) n^(-1/5)`, computed
//!   with log-sum-exp so a value far in the tail gets a large finite score, not infinity.
//! - [`coverage`]: hit rate of a nominal interval with a Wilson 95% interval on an
//!   *effective* count: overlapping windows (origins `every` days apart, forecasts
//!   `horizon` days long, `every < horizon`) are not independent, so the count is taken as
//!   `n * every / horizon` (at least 1), the number of non-overlapping windows the origins
//!   span. `stats::wilson_interval` takes integer counts; this one takes the fractional one.
//! - [`ks_uniform`]: the one-sample Kolmogorov-Smirnov test of PIT values against the
//!   uniform, with the asymptotic p-value (Stephens' small-sample correction).
//! - [`mean_se`]: a mean with its standard error on the same effective count.
//!
//! Which scale to score on (price or log price) is the caller's choice; the backtest scores
//! log prices, so CRPS and log scores are comparable across tokens of any price level.

/// The realised value's mid-rank among the sorted sample, in `[0, 1]`.
pub fn pit(sorted: &[f64], y: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let below = sorted.partition_point(|&x| x < y);
    let at_or_below = sorted.partition_point(|&x| x <= y);
    (below as f64 + 0.5 * (at_or_below - below) as f64) / sorted.len() as f64
}

/// Whether `y` lies in the sample's central interval of probability `level` (between the
/// lower sample quantiles at `(1 - level)/2` and `(1 + level)/2`, ends included).
pub fn in_central(sorted: &[f64], y: f64, level: f64) -> bool {
    let lo = super::exact_quantile_lower(sorted, 0.5 * (1.0 - level));
    let hi = super::exact_quantile_lower(sorted, 0.5 * (1.0 + level));
    lo <= y && y <= hi
}

/// The CRPS of the sample's empirical distribution at `y`, exact.
pub fn crps(sorted: &[f64], y: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let nf = n as f64;
    let mut abs_dev = 0.0;
    let mut pairs = 0.0;
    for (i, &x) in sorted.iter().enumerate() {
        abs_dev += (x - y).abs();
        pairs += (2.0 * (i + 1) as f64 - nf - 1.0) * x;
    }
    // E|X - X'| = 2 sum (2i - n - 1) x_(i) / n^2; half of it is subtracted.
    abs_dev / nf - pairs / (nf * nf)
}

/// Silverman's rule-of-thumb bandwidth of a sorted sample (0 when the sample has no spread).
pub fn silverman_bandwidth(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n < 2 {
        return 0.0;
    }
    let nf = n as f64;
    let mean = sorted.iter().sum::<f64>() / nf;
    let var = sorted.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (nf - 1.0);
    let iqr = super::exact_quantile_lower(sorted, 0.75) - super::exact_quantile_lower(sorted, 0.25);
    let spread = match (var.sqrt(), iqr / 1.34) {
        (sd, r) if r > 0.0 => sd.min(r),
        (sd, _) => sd,
    };
    0.9 * spread * nf.powf(-0.2)
}

/// `-ln f(y)` for `f` the Gaussian kernel density estimate of the sample with Silverman's
/// bandwidth (infinite when the sample has no spread and `y` is not its value).
pub fn log_score(sorted: &[f64], y: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = silverman_bandwidth(sorted);
    if h <= 0.0 || !h.is_finite() {
        return if sorted.iter().all(|&x| x == y) {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    // ln sum exp(-z^2/2), from the largest term.
    let max = sorted
        .iter()
        .map(|&x| -0.5 * ((y - x) / h).powi(2))
        .fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = sorted
        .iter()
        .map(|&x| (-0.5 * ((y - x) / h).powi(2) - max).exp())
        .sum();
    let ln_f = max + sum.ln() - (n as f64 * h * (2.0 * std::f64::consts::PI).sqrt()).ln();
    -ln_f
}

/// The effective number of independent windows among `n` origins `every` days apart with
/// forecasts `horizon` days long: `n` when they do not overlap, else `n * every / horizon`
/// (at least 1).
pub fn effective_windows(n: usize, every: u32, horizon: u32) -> f64 {
    if n == 0 {
        return 0.0;
    }
    if every >= horizon || horizon == 0 {
        n as f64
    } else {
        (n as f64 * every as f64 / horizon as f64).max(1.0)
    }
}

/// The Wilson score interval of a proportion `p` observed on an effective count `n` (not
/// necessarily whole), at normal quantile `z`.
pub fn wilson(p: f64, n: f64, z: f64) -> (f64, f64) {
    if n <= 0.0 || !p.is_finite() {
        return (0.0, 1.0);
    }
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Observed coverage of a nominal central interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coverage {
    pub nominal: f64,
    pub hits: usize,
    pub n: usize,
    /// The count the interval is computed on ([`effective_windows`]).
    pub n_eff: f64,
    pub rate: f64,
    /// Wilson 95% interval of the rate on `n_eff`.
    pub lo: f64,
    pub hi: f64,
}

impl Coverage {
    /// Whether the nominal level lies within the interval.
    pub fn consistent(&self) -> bool {
        self.lo <= self.nominal && self.nominal <= self.hi
    }
}

/// The hit rate of `hits` against `nominal`, with the Wilson 95% interval on the effective
/// count of windows.
pub fn coverage(hits: &[bool], nominal: f64, every: u32, horizon: u32) -> Coverage {
    let n = hits.len();
    let k = hits.iter().filter(|&&h| h).count();
    let rate = if n == 0 {
        f64::NAN
    } else {
        k as f64 / n as f64
    };
    let n_eff = effective_windows(n, every, horizon);
    let (lo, hi) = wilson(rate, n_eff, super::Z95);
    Coverage {
        nominal,
        hits: k,
        n,
        n_eff,
        rate,
        lo,
        hi,
    }
}

/// A mean and its standard error on an effective count (`sd / sqrt(n_eff)`).
pub fn mean_se(xs: &[f64], n_eff: f64) -> (f64, f64) {
    let n = xs.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let nf = n as f64;
    let mean = xs.iter().sum::<f64>() / nf;
    if n < 2 {
        return (mean, f64::NAN);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (nf - 1.0);
    (mean, (var / n_eff.max(1.0)).sqrt())
}

/// The Kolmogorov-Smirnov statistic of `u` against the uniform on [0, 1], and its p-value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KsTest {
    pub n: usize,
    pub d: f64,
    pub p_value: f64,
}

/// One-sample KS test against the uniform: `D = max_i max(i/n - u_(i), u_(i) - (i-1)/n)`,
/// p-value `Q((sqrt(n) + 0.12 + 0.11/sqrt(n)) D)` with `Q(l) = 2 sum (-1)^(k-1) exp(-2 k^2 l^2)`
/// (Stephens 1970; close to exact from n = 5 on).
pub fn ks_uniform(u: &[f64]) -> KsTest {
    let n = u.len();
    if n == 0 {
        return KsTest {
            n,
            d: f64::NAN,
            p_value: f64::NAN,
        };
    }
    let mut s: Vec<f64> = u.iter().map(|x| x.clamp(0.0, 1.0)).collect();
    s.sort_by(f64::total_cmp);
    let nf = n as f64;
    let d = s
        .iter()
        .enumerate()
        .map(|(i, &x)| ((i + 1) as f64 / nf - x).max(x - i as f64 / nf))
        .fold(0.0, f64::max);
    let rn = nf.sqrt();
    KsTest {
        n,
        d,
        p_value: kolmogorov_q((rn + 0.12 + 0.11 / rn) * d),
    }
}

/// The Kolmogorov distribution's upper tail `P(K > l)`.
pub fn kolmogorov_q(l: f64) -> f64 {
    if l < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=100 {
        let kf = k as f64;
        let term = (-2.0 * kf * kf * l * l).exp();
        sum += if k % 2 == 1 { term } else { -term };
        if term < 1e-16 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// The summary of a backtest's scored origins.
#[derive(Clone, Debug, PartialEq)]
pub struct BacktestSummary {
    pub n: usize,
    pub every: u32,
    pub horizon: u32,
    /// [`effective_windows`] of the origins.
    pub n_eff: f64,
    pub coverage50: Coverage,
    pub coverage90: Coverage,
    /// KS test of the PIT values of non-overlapping origins only (every `ks_stride`-th).
    pub ks: KsTest,
    pub ks_stride: usize,
    /// Mean CRPS and log score with their standard errors on `n_eff`.
    pub crps: (f64, f64),
    pub log_score: (f64, f64),
    /// PIT counts in ten equal bins of [0, 1] (a PIT of exactly 1 counts in the last).
    pub pit_bins: [usize; 10],
}

impl BacktestSummary {
    /// Summarises per-origin scores (all slices of one length, in origin order).
    pub fn of(
        pit: &[f64],
        in50: &[bool],
        in90: &[bool],
        crps: &[f64],
        log_score: &[f64],
        every: u32,
        horizon: u32,
    ) -> BacktestSummary {
        let n = pit.len();
        let n_eff = effective_windows(n, every, horizon);
        // Origins `stride` apart have windows that do not overlap.
        let stride = if every == 0 {
            1
        } else {
            horizon.div_ceil(every).max(1) as usize
        };
        let apart: Vec<f64> = pit.iter().copied().step_by(stride).collect();
        let mut pit_bins = [0usize; 10];
        for &u in pit {
            if u.is_finite() {
                pit_bins[((u * 10.0).floor() as usize).min(9)] += 1;
            }
        }
        BacktestSummary {
            n,
            every,
            horizon,
            n_eff,
            coverage50: coverage(in50, 0.5, every, horizon),
            coverage90: coverage(in90, 0.9, every, horizon),
            ks: ks_uniform(&apart),
            ks_stride: stride,
            crps: mean_se(crps, n_eff),
            log_score: mean_se(log_score, n_eff),
            pit_bins,
        }
    }

    /// Whether the origins' windows overlap (`every < horizon`).
    pub fn overlapping(&self) -> bool {
        self.every < self.horizon
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn normal_cdf(z: f64) -> f64 {
        0.5 * statrs::function::erf::erfc(-z / std::f64::consts::SQRT_2)
    }

    fn normal_quantile(p: f64) -> f64 {
        -std::f64::consts::SQRT_2 * statrs::function::erf::erfc_inv(2.0 * p)
    }

    /// A deterministic "sample" of N(mu, s^2): its quantiles at (i - 1/2)/n.
    fn normal_sample(mu: f64, s: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| mu + s * normal_quantile((i as f64 + 0.5) / n as f64))
            .collect()
    }

    fn crps_brute(xs: &[f64], y: f64) -> f64 {
        let n = xs.len() as f64;
        let a: f64 = xs.iter().map(|x| (x - y).abs()).sum::<f64>() / n;
        let b: f64 = xs
            .iter()
            .flat_map(|x| xs.iter().map(move |z| (x - z).abs()))
            .sum::<f64>()
            / (n * n);
        a - 0.5 * b
    }

    #[test]
    fn pit_is_the_mid_rank() {
        let s = [1.0, 2.0, 2.0, 3.0];
        assert_eq!(pit(&s, 0.5), 0.0);
        assert_eq!(pit(&s, 1.5), 0.25);
        assert_eq!(pit(&s, 2.0), 0.5); // 1 below, 2 tied: (1 + 1) / 4
        assert_eq!(pit(&s, 3.5), 1.0);
    }

    #[test]
    fn central_intervals_use_the_lower_sample_quantiles() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        // 50%: lower quantiles at 0.25 and 0.75 are 25 and 75.
        assert!(in_central(&s, 25.0, 0.5) && in_central(&s, 75.0, 0.5));
        assert!(!in_central(&s, 24.9, 0.5) && !in_central(&s, 75.1, 0.5));
        assert!(in_central(&s, 5.0, 0.9) && !in_central(&s, 4.9, 0.9));
    }

    #[test]
    fn crps_of_the_sample_equals_the_pairwise_definition() {
        let xs = [3.0, -1.0, 0.5, 2.0, 2.0, 7.5, -4.0];
        let mut s = xs.to_vec();
        s.sort_by(f64::total_cmp);
        for y in [-10.0, -1.0, 0.0, 1.7, 2.0, 9.0] {
            assert!((crps(&s, y) - crps_brute(&xs, y)).abs() < 1e-12, "y {y}");
        }
        // A point forecast: the CRPS is the absolute error.
        assert!((crps(&[2.0], 5.0) - 3.0).abs() < 1e-15);
    }

    #[test]
    fn crps_of_a_normal_sample_matches_the_closed_form() {
        let (mu, s) = (1.0, 0.5);
        let xs = normal_sample(mu, s, 20_000);
        for y in [-0.5, 0.3, 1.0, 2.2] {
            let z = (y - mu) / s;
            let phi = (-0.5 * z * z).exp() / (2.0 * PI).sqrt();
            let exact = s * (z * (2.0 * normal_cdf(z) - 1.0) + 2.0 * phi - 1.0 / PI.sqrt());
            // The quantile sample's error is O(1/n) times the scale (the tails' last
            // quantiles): 1e-3 s is far above it and far below any formula error.
            assert!(
                (crps(&xs, y) - exact).abs() < 1e-3 * s,
                "y {y}: {} vs {exact}",
                crps(&xs, y)
            );
        }
    }

    #[test]
    fn log_score_of_a_normal_sample_matches_the_smoothed_normal() {
        // A KDE of N(0, 1) with bandwidth h is, in the limit, N(0, 1 + h^2).
        let xs = normal_sample(0.0, 1.0, 20_000);
        let h = silverman_bandwidth(&xs);
        // sd 1, IQR/1.34 = 1.0066 > 1: h = 0.9 n^-0.2 (sd within 1e-3 of 1).
        assert!((h / (0.9 * 20_000f64.powf(-0.2)) - 1.0).abs() < 2e-3, "{h}");
        let v = 1.0 + h * h;
        for y in [0.0, 1.0, -2.5] {
            let exact = 0.5 * (2.0 * PI * v).ln() + y * y / (2.0 * v);
            assert!((log_score(&xs, y) - exact).abs() < 5e-3, "y {y}");
        }
        // Far in the tail: large but finite.
        let far = log_score(&xs, 60.0);
        assert!(far.is_finite() && far > 1000.0, "{far}");
    }

    #[test]
    fn wilson_matches_the_integer_version_and_widens_with_overlap() {
        let (lo, hi) = wilson(0.45, 40.0, crate::stats::Z95);
        let (lo2, hi2) = crate::stats::wilson_interval(18, 40, crate::stats::Z95);
        assert!((lo - lo2).abs() < 1e-12 && (hi - hi2).abs() < 1e-12);
        // Closed form at p = 1/2, n = 100: centre 1/2, half-width z sqrt(1/400 + z^2/40000)
        // / (1 + z^2/100).
        let z = crate::stats::Z95;
        let (lo, hi) = wilson(0.5, 100.0, z);
        let half = z * (0.0025 + z * z / 40_000.0).sqrt() / (1.0 + z * z / 100.0);
        assert!((hi - lo - 2.0 * half).abs() < 1e-12 && ((lo + hi) / 2.0 - 0.5).abs() < 1e-12);
        let hits: Vec<bool> = (0..40).map(|i| i % 2 == 0).collect();
        let apart = coverage(&hits, 0.5, 90, 90);
        let overlapping = coverage(&hits, 0.5, 30, 90);
        assert_eq!((apart.n_eff, overlapping.n_eff), (40.0, 40.0 / 3.0));
        assert!(overlapping.hi - overlapping.lo > apart.hi - apart.lo);
        assert!(apart.consistent() && apart.rate == 0.5);
    }

    #[test]
    fn ks_statistic_and_p_value_match_closed_forms() {
        // Evenly spaced points (i - 1/2)/n: D = 1/(2n).
        let u: Vec<f64> = (0..10).map(|i| (i as f64 + 0.5) / 10.0).collect();
        let t = ks_uniform(&u);
        assert!((t.d - 0.05).abs() < 1e-12 && t.p_value > 0.999);
        // All mass at 0.9: D = 0.9.
        assert!((ks_uniform(&[0.9; 20]).d - 0.9).abs() < 1e-12);
        // The Kolmogorov tail at its familiar 5% and 1% points.
        assert!((kolmogorov_q(1.3581) - 0.05).abs() < 2e-4);
        assert!((kolmogorov_q(1.6276) - 0.01).abs() < 1e-4);
        assert!(ks_uniform(&[0.9; 20]).p_value < 1e-6);
    }

    #[test]
    fn mean_se_uses_the_effective_count() {
        let (m, se) = mean_se(&[1.0, 2.0, 3.0, 4.0], 4.0);
        assert_eq!(m, 2.5);
        assert!((se - (5.0f64 / 12.0).sqrt()).abs() < 1e-12);
        let (_, se1) = mean_se(&[1.0, 2.0, 3.0, 4.0], 1.0);
        assert!((se1 - 2.0 * se).abs() < 1e-12);
    }

    #[test]
    fn the_summary_tests_uniformity_on_non_overlapping_origins_only() {
        let pit: Vec<f64> = (0..30).map(|i| (i as f64 + 0.5) / 30.0).collect();
        let hits = vec![true; 30];
        let xs = vec![1.0; 30];
        let s = BacktestSummary::of(&pit, &hits, &hits, &xs, &xs, 30, 90);
        assert_eq!((s.ks_stride, s.ks.n, s.n_eff), (3, 10, 10.0));
        assert!(s.overlapping());
        assert_eq!(s.pit_bins, [3; 10]);
        let s = BacktestSummary::of(&pit, &hits, &hits, &xs, &xs, 90, 90);
        assert_eq!((s.ks_stride, s.ks.n, s.n_eff), (1, 30, 30.0));
        assert_eq!(s.coverage90.rate, 1.0);
    }
}

//! Paired statistics of two samples observed on the same units (design comparison with
//! common random numbers: path i of design A and path i of design B saw the same market).
//! Pure functions of the two samples, used by `workflows::compare` to write
//! `comparison.parquet` and by the comparison report to draw paired differences over time
//! and distributions of per-path differences; one implementation of each formula.
//!
//! Formulas (n pairs; sample variances use `n - 1`; `docs/MODEL.md`, "Comparing designs"):
//! - proportions: `diff = p_A - p_B = (b - c) / n` (b, c the discordant pairs), paired SE
//!   `sd(d) / sqrt(n)` with `d_i = s_Ai - s_Bi`, 95% interval `diff +- 1.96 SE` clamped to
//!   [-1, 1], exact McNemar p-value;
//! - continuous values: mean difference and paired SE, differences of the lower sample
//!   quantiles (`sorted[floor(q (n - 1))]`) of the two samples;
//! - [`quantile_with_ci`]: a lower sample quantile of one sample (e.g. of the per-path
//!   differences) with its distribution-free 95% interval from order statistics, and
//!   [`quantile_difference_ci`], a conservative interval for a difference of quantiles.

use super::{exact_quantile_lower, Z95};

/// Paired comparison of two spiral probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct ProportionDiff {
    pub n: u64,
    pub p_a: f64,
    pub p_b: f64,
    /// `p_a - p_b`.
    pub diff: f64,
    pub se_paired: f64,
    pub lo: f64,
    pub hi: f64,
    pub se_independent: f64,
    /// Independent variance over paired variance.
    pub variance_reduction: f64,
    /// Paths that spiraled in A only.
    pub discordant_ab: u64,
    /// Paths that spiraled in B only.
    pub discordant_ba: u64,
    pub mcnemar_p_value: f64,
}

/// Paired comparison of one per-path quantity.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDiff {
    /// Pairs used (both values finite).
    pub pairs: u64,
    pub mean_a: f64,
    pub mean_b: f64,
    /// Mean of `a_i - b_i` (= `mean_a - mean_b`).
    pub diff_mean: f64,
    /// `sd(a_i - b_i) / sqrt(pairs)`.
    pub diff_se: f64,
    /// `sqrt((var(a) + var(b)) / pairs)`: the SE without common random numbers.
    pub diff_se_independent: f64,
    /// Differences of the lower sample quantiles, A minus B.
    pub diff_p05: f64,
    pub diff_p50: f64,
    pub diff_p95: f64,
}

/// Exact two-sided McNemar p-value for `b` and `c` discordant pairs.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let m = b + c;
    if m == 0 || b == c {
        return 1.0;
    }
    let k = b.min(c);
    // P(X <= k) for X ~ Bin(m, 1/2) is the regularized incomplete beta I_{1/2}(m - k, k + 1).
    let tail = statrs::function::beta::beta_reg((m - k) as f64, (k + 1) as f64, 0.5);
    (2.0 * tail).clamp(0.0, 1.0)
}

/// Sample variance (n - 1) of a 0/1 variable with `k` ones among `n`.
fn bernoulli_sample_variance(k: u64, n: u64) -> f64 {
    if n < 2 {
        return f64::NAN;
    }
    let p = k as f64 / n as f64;
    n as f64 * p * (1.0 - p) / (n - 1) as f64
}

fn ratio_of_variances(independent: f64, paired: f64) -> f64 {
    if paired > 0.0 {
        independent / paired
    } else if independent > 0.0 {
        f64::INFINITY
    } else {
        f64::NAN
    }
}

/// Paired statistics of two spiral flags per path (same length, same path order).
pub fn paired_proportion(a: &[bool], b: &[bool]) -> ProportionDiff {
    assert_eq!(a.len(), b.len(), "paired samples must have equal length");
    let n = a.len() as u64;
    let (mut ka, mut kb, mut ab, mut ba) = (0u64, 0u64, 0u64, 0u64);
    for (&x, &y) in a.iter().zip(b) {
        ka += x as u64;
        kb += y as u64;
        ab += (x && !y) as u64;
        ba += (!x && y) as u64;
    }
    let nf = n as f64;
    let p_a = ka as f64 / nf;
    let p_b = kb as f64 / nf;
    let diff = (ab as f64 - ba as f64) / nf;
    let (var_d, var_ind) = if n >= 2 {
        let var_d = (((ab + ba) as f64 - nf * diff * diff) / (nf - 1.0)).max(0.0);
        let var_ind = bernoulli_sample_variance(ka, n) + bernoulli_sample_variance(kb, n);
        (var_d, var_ind)
    } else {
        (f64::NAN, f64::NAN)
    };
    let se_paired = (var_d / nf).sqrt();
    ProportionDiff {
        n,
        p_a,
        p_b,
        diff,
        se_paired,
        lo: (diff - Z95 * se_paired).max(-1.0),
        hi: (diff + Z95 * se_paired).min(1.0),
        se_independent: (var_ind / nf).sqrt(),
        variance_reduction: ratio_of_variances(var_ind, var_d),
        discordant_ab: ab,
        discordant_ba: ba,
        mcnemar_p_value: mcnemar_exact(ab, ba),
    }
}

/// Mean and sample variance (n - 1) by two passes.
fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = if x.len() < 2 {
        f64::NAN
    } else {
        x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0)
    };
    (mean, var)
}

/// Paired statistics of one quantity per path (same length, same path order); pairs with a
/// non-finite value on either side are left out.
pub fn paired_metric(a: &[f64], b: &[f64]) -> MetricDiff {
    assert_eq!(a.len(), b.len(), "paired samples must have equal length");
    let (xa, xb): (Vec<f64>, Vec<f64>) = a
        .iter()
        .zip(b)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| (*x, *y))
        .unzip();
    let n = xa.len();
    let d: Vec<f64> = xa.iter().zip(&xb).map(|(x, y)| x - y).collect();
    let (mean_a, var_a) = mean_var(&xa);
    let (mean_b, var_b) = mean_var(&xb);
    let (diff_mean, var_d) = mean_var(&d);
    let mut sa = xa;
    let mut sb = xb;
    sa.sort_by(f64::total_cmp);
    sb.sort_by(f64::total_cmp);
    let qdiff = |q: f64| exact_quantile_lower(&sa, q) - exact_quantile_lower(&sb, q);
    MetricDiff {
        pairs: n as u64,
        mean_a,
        mean_b,
        diff_mean,
        diff_se: (var_d / n as f64).sqrt(),
        diff_se_independent: ((var_a + var_b) / n as f64).sqrt(),
        diff_p05: qdiff(0.05),
        diff_p50: qdiff(0.5),
        diff_p95: qdiff(0.95),
    }
}

/// A lower sample quantile with a distribution-free 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantileCi {
    pub q: f64,
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

/// The lower sample quantile `sorted[floor(q (n - 1))]` of `sorted` (ascending, finite) and
/// its distribution-free 95% interval from order statistics (`stats::exact::quantile`, the
/// one implementation the summary uses too). NaN for an empty sample.
pub fn quantile_with_ci(sorted: &[f64], q: f64) -> QuantileCi {
    quantile_with_ci_z(sorted, q, Z95)
}

/// The normal quantile of 1 - 0.025 / 2: two intervals at this level hold together with
/// probability at least 95% (Bonferroni).
pub const Z_BONFERRONI_2: f64 = 2.241_402_727_604_947;

/// [`quantile_with_ci`] at the coverage of the normal quantile `z`.
pub fn quantile_with_ci_z(sorted: &[f64], q: f64, z: f64) -> QuantileCi {
    let e = super::exact::quantile(sorted, q, z);
    QuantileCi {
        q,
        value: e.value,
        lo: e.lo,
        hi: e.hi,
    }
}

/// A conservative 95% interval for the difference of quantiles `q_B - q_A` of two samples
/// (each ascending, finite): each quantile's order-statistic interval at 97.5%
/// ([`Z_BONFERRONI_2`]), combined as `[lo_B - hi_A, hi_B - lo_A]`; both cover with
/// probability at least 95%, so the difference is covered at least as often, pairing or not.
pub fn quantile_difference_ci(sorted_a: &[f64], sorted_b: &[f64], q: f64) -> (f64, f64) {
    let a = quantile_with_ci_z(sorted_a, q, Z_BONFERRONI_2);
    let b = quantile_with_ci_z(sorted_b, q, Z_BONFERRONI_2);
    (b.lo - a.hi, b.hi - a.lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// A hand-computed example: 10 paths,
    ///   A: 1 1 1 1 0 0 0 0 0 0   (p_A = 0.4)
    ///   B: 1 1 0 0 1 0 0 0 0 0   (p_B = 0.3)
    /// concordant 1-1: 2, A only: 2 (paths 2, 3), B only: 1 (path 4), diff = 0.1.
    /// d = 0 0 1 1 -1 0 0 0 0 0: mean 0.1, sum d^2 = 3,
    ///   var(d) = (3 - 10 * 0.01) / 9 = 2.9 / 9 = 0.322222...,
    ///   SE_paired = sqrt(0.322222 / 10) = 0.17950549...
    /// var(A) = 10 * 0.4 * 0.6 / 9 = 0.266667, var(B) = 10 * 0.3 * 0.7 / 9 = 0.233333,
    ///   SE_independent = sqrt(0.5 / 10) = 0.223607, variance reduction = 0.5 / 0.322222
    ///   = 1.551724.
    /// McNemar exact: b = 2, c = 1, m = 3, P(X <= 1) = (1 + 3) / 8 = 0.5, p = 1.
    #[test]
    fn paired_proportion_hand_example() {
        let a = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0].map(|x| x == 1);
        let b = [1, 1, 0, 0, 1, 0, 0, 0, 0, 0].map(|x| x == 1);
        let r = paired_proportion(&a, &b);
        assert_eq!(r.n, 10);
        assert!(close(r.p_a, 0.4, 1e-15) && close(r.p_b, 0.3, 1e-15));
        assert!(close(r.diff, 0.1, 1e-15));
        assert_eq!((r.discordant_ab, r.discordant_ba), (2, 1));
        assert!(close(r.se_paired, (2.9f64 / 90.0).sqrt(), 1e-15));
        assert!(close(r.se_paired, 0.179_505_494, 1e-9));
        assert!(close(r.se_independent, 0.05f64.sqrt(), 1e-15));
        assert!(close(r.variance_reduction, 0.5 / (2.9 / 9.0), 1e-12));
        assert!(close(r.lo, 0.1 - Z95 * r.se_paired, 1e-15));
        assert!(close(r.hi, 0.1 + Z95 * r.se_paired, 1e-15));
        assert_eq!(r.mcnemar_p_value, 1.0);
        // The sd(d)/sqrt(n) SE equals the McNemar-style closed form.
        let (b_, c_, n) = (2.0f64, 1.0f64, 10.0f64);
        let closed = (((b_ + c_) - (b_ - c_) * (b_ - c_) / n) / ((n - 1.0) * n)).sqrt();
        assert!(close(r.se_paired, closed, 1e-15));
    }

    #[test]
    fn mcnemar_exact_values() {
        // b = 0, c = 5: P(X <= 0) = 1/32, two-sided 1/16.
        assert!(close(mcnemar_exact(0, 5), 0.0625, 1e-12));
        assert!(close(mcnemar_exact(5, 0), 0.0625, 1e-12));
        // b = 1, c = 9, m = 10: P(X <= 1) = 11/1024, p = 22/1024.
        assert!(close(mcnemar_exact(1, 9), 22.0 / 1024.0, 1e-12));
        // b = 3, c = 4: symmetric-ish, p = 1 (2 * P(X <= 3) = 2 * 64/128 = 1).
        assert_eq!(mcnemar_exact(3, 4), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // Large counts stay finite and tiny.
        let p = mcnemar_exact(1000, 2000);
        assert!(p > 0.0 && p < 1e-60, "{p}");
    }

    #[test]
    fn paired_metric_hand_example() {
        // a = 1..5, b = a - [0, 1, 0, 1, 0]: d = 0 1 0 1 0, mean 0.4, var(d) = 0.3.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [1.0, 1.0, 3.0, 3.0, 5.0];
        let m = paired_metric(&a, &b);
        assert_eq!(m.pairs, 5);
        assert!(close(m.mean_a, 3.0, 1e-15) && close(m.mean_b, 2.6, 1e-15));
        assert!(close(m.diff_mean, 0.4, 1e-15));
        assert!(close(m.diff_se, (0.3f64 / 5.0).sqrt(), 1e-15));
        // var(a) = 2.5, var(b) = (1.6^2 * 2 + 0.4^2 * 2 + 2.4^2) / 4 = 2.8.
        assert!(close(m.diff_se_independent, (5.3f64 / 5.0).sqrt(), 1e-12));
        // Lower quantiles: rank floor(q * 4): p05 -> 0, p50 -> 2, p95 -> 3.
        assert!(close(m.diff_p05, 1.0 - 1.0, 1e-15));
        assert!(close(m.diff_p50, 3.0 - 3.0, 1e-15));
        assert!(close(m.diff_p95, 4.0 - 3.0, 1e-15));
        // Non-finite pairs are left out.
        let m = paired_metric(&[1.0, f64::NAN, 3.0], &[0.0, 1.0, f64::INFINITY]);
        assert_eq!(m.pairs, 1);
        assert_eq!(m.diff_mean, 1.0);
    }

    #[test]
    fn quantile_interval_brackets_the_quantile() {
        let x: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        let m = quantile_with_ci(&x, 0.5);
        // rank floor(0.5 * 999) = 499; half width 1.96 * sqrt(250) = 30.99: 1-based ranks
        // floor(469.01) = 469 and ceil(530.99) + 1 = 532, i.e. values 468 and 531.
        assert_eq!(m.value, 499.0);
        assert_eq!((m.lo, m.hi), (468.0, 531.0));
        let t = quantile_with_ci(&x, 0.999);
        assert!(t.hi == 999.0 && t.lo < t.value);
        assert!(quantile_with_ci(&[], 0.5).value.is_nan());
        assert_eq!(quantile_with_ci(&[3.0], 0.05).lo, 3.0);
        // Difference of medians of x and x + 10: 10, inside a wider interval than either's.
        let y: Vec<f64> = x.iter().map(|v| v + 10.0).collect();
        let (lo, hi) = quantile_difference_ci(&x, &y, 0.5);
        // Ranks at z = 2.2414: 500 -+ 35.44 -> 1-based ranks floor 464 and ceil 536 + 1, i.e.
        // values 463 and 536 of x, 473 and 546 of y.
        assert_eq!((lo, hi), (473.0 - 536.0, 546.0 - 463.0));
        assert!(lo < 10.0 && 10.0 < hi && hi - lo > m.hi - m.lo);
    }
}

//! The tail beyond a value-at-risk: how many of `n` values it holds, and the exact VaR and
//! CVaR of a sorted sample. One definition, shared by the histogram-read figures
//! (`measure::summary`) and every exact reference, so that the tail mean can never fall short
//! of the VaR: the VaR is the k-th worst value and the CVaR the mean of the k worst, k from
//! [`tail_count`] alone.
//!
//! k is the rank of the lower sample quantile at `1 - level` plus one (the quantile and its
//! tail share one rank computation, so a level whose `1 - level` is not exact in binary, such
//! as 0.99, cannot make the tail one value longer than the quantile says). For the upper tail
//! (a loss such as the drawdown) the VaR is the k-th largest value, the mirror image.

use super::interval::lower_rank;

/// Number of values in the tail beyond the VaR at `level` of `n` values: at least 1 and at
/// most `n` (0 when `n == 0`). `level` is clamped into `[0, 1]`; NaN counts as 1 (one value).
pub fn tail_count(level: f64, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let q = if level.is_nan() { 0.0 } else { 1.0 - level };
    lower_rank(q, n) + 1
}

/// Exact (VaR, CVaR) of the lower tail of an ascending-sorted sample at `level`, as values
/// of the sample (not yet turned into losses): the k-th smallest value and the mean of the k
/// smallest, `k = tail_count(level, n)`. The mean is capped at the k-th smallest, which it
/// can exceed only by the rounding of the sum. NaN for an empty sample.
pub fn exact_lower_tail(sorted: &[f64], level: f64) -> (f64, f64) {
    let k = tail_count(level, sorted.len() as u64) as usize;
    if k == 0 {
        return (f64::NAN, f64::NAN);
    }
    let var = sorted[k - 1];
    let mean = sorted[..k].iter().sum::<f64>() / k as f64;
    (var, mean.min(var))
}

/// Exact (VaR, CVaR) of the upper tail of an ascending-sorted sample at `level`: the k-th
/// largest value and the mean of the k largest (at least the k-th largest).
pub fn exact_upper_tail(sorted: &[f64], level: f64) -> (f64, f64) {
    let n = sorted.len();
    let k = tail_count(level, n as u64) as usize;
    if k == 0 {
        return (f64::NAN, f64::NAN);
    }
    let var = sorted[n - k];
    let mean = sorted[n - k..].iter().sum::<f64>() / k as f64;
    (var, mean.max(var))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_count_is_the_quantile_rank_plus_one() {
        // (1 - 0.99) * 100 is 1.0000000000000009 in f64: the tail is still one path.
        assert_eq!(tail_count(0.99, 100), 1);
        assert_eq!(tail_count(0.95, 20), 1);
        assert_eq!(tail_count(0.99, 200), 2);
        assert_eq!(tail_count(0.95, 1000), 50);
        assert_eq!(tail_count(0.999, 1), 1);
        assert_eq!(tail_count(0.5, 0), 0);
        for n in [1u64, 2, 7, 100, 12_345] {
            assert!((1..=n).contains(&tail_count(0.0, n)));
            assert_eq!(tail_count(1.0, n), 1);
        }
    }

    #[test]
    fn exact_tails_bound_their_var() {
        let xs: Vec<f64> = (0..37).map(|i| (i as f64 * 0.37).sin()).collect();
        let mut s = xs.clone();
        s.sort_by(f64::total_cmp);
        for level in [0.5, 0.9, 0.95, 0.99] {
            let (v, c) = exact_lower_tail(&s, level);
            assert!(c <= v, "{level}: {c} > {v}");
            let (v, c) = exact_upper_tail(&s, level);
            assert!(c >= v, "{level}: {c} < {v}");
        }
        assert!(exact_lower_tail(&[], 0.9).0.is_nan());
    }
}

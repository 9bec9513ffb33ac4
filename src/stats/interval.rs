//! Confidence intervals and the reference (exact) sample quantile.

/// Two-sided 95% standard-normal quantile, `Phi^{-1}(0.975)`.
pub const Z95: f64 = 1.959963984540054;

/// Wilson score interval for a binomial proportion.
///
/// With `p = successes / n`:
///
/// ```text
/// centre = (p + z^2/(2n)) / (1 + z^2/n)
/// half   = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/(4n^2))
/// ```
///
/// and the interval is `(centre - half, centre + half)`, clamped into `[0, 1]`.
/// The lower bound is exactly `0.0` when `successes == 0` and the upper bound is
/// exactly `1.0` when `successes == n`. Returns `(0.0, 1.0)` when `n == 0`.
/// `z` is used by magnitude (a negative `z` behaves like `|z|`).
///
/// `successes > n` is a caller bug: it panics in debug builds and is treated as
/// `successes == n` in release builds.
pub fn wilson_interval(successes: u64, n: u64, z: f64) -> (f64, f64) {
    debug_assert!(
        successes <= n,
        "wilson_interval: successes {successes} > n {n}"
    );
    if n == 0 {
        return (0.0, 1.0);
    }
    let s = successes.min(n);
    let nf = n as f64;
    let p = s as f64 / nf;
    let z = z.abs();
    let z2 = z * z;
    let denom = 1.0 + z2 / nf;
    let centre = (p + z2 / (2.0 * nf)) / denom;
    let half = z / denom * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
    let lo = if s == 0 {
        0.0
    } else {
        (centre - half).clamp(0.0, 1.0)
    };
    let hi = if s == n {
        1.0
    } else {
        (centre + half).clamp(0.0, 1.0)
    };
    (lo, hi)
}

/// 0-based rank of the "lower" sample quantile: `floor(q * (n - 1))`, with `q`
/// clamped into `[0, 1]`. `n` must be positive and `q` must not be NaN.
///
/// Shared by [`exact_quantile_lower`] and the histogram so both use the very same
/// rank for the same `(q, n)`.
#[inline]
pub(crate) fn lower_rank(q: f64, n: u64) -> u64 {
    debug_assert!(n > 0 && !q.is_nan());
    let q = q.clamp(0.0, 1.0);
    let r = (q * (n - 1) as f64).floor() as u64;
    r.min(n - 1)
}

/// The "lower" sample quantile of an ascending-sorted slice:
/// `sorted[floor(q * (n - 1))]`, with `q` clamped into `[0, 1]`.
///
/// This is the reference definition that [`crate::stats::LogHistogram::quantile`]
/// approximates. Returns NaN for an empty slice or a NaN `q`. The slice is not
/// checked for being sorted.
pub fn exact_quantile_lower(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    sorted[lower_rank(q, sorted.len() as u64) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn wilson_textbook_values() {
        // Expected values computed independently (50-digit arithmetic) from
        //   centre = (p + z^2/(2n)) / (1 + z^2/n),
        //   half   = z/(1 + z^2/n) * sqrt(p(1-p)/n + z^2/(4n^2)),  z = 1.96.
        // 0 of 10: p = 0, z^2 = 3.8416, denom = 1.38416, centre = 0.19208/1.38416
        //          = 0.138770..., half = 1.416021*sqrt(0.009604) = 0.138770...
        //          -> (0, 0.38416/1.38416) = (0, 0.277540168766616...)
        let (lo, hi) = wilson_interval(0, 10, 1.96);
        assert_eq!(lo, 0.0);
        assert!(close(hi, 0.277_540_168_766_616_6, 1e-12), "hi = {hi}");
        // 5 of 10: centre = 0.5, half = 1.416021*sqrt(0.025 + 0.009604)
        //          = 0.263410406384512...  -> (0.236589593615487, 0.763410406384513)
        let (lo, hi) = wilson_interval(5, 10, 1.96);
        assert!(close(lo, 0.236_589_593_615_487_3, 1e-12), "lo = {lo}");
        assert!(close(hi, 0.763_410_406_384_512_7, 1e-12), "hi = {hi}");
        // 1 of 10: (0.0178757495157211, 0.404156385497572)
        let (lo, hi) = wilson_interval(1, 10, 1.96);
        assert!(close(lo, 0.017_875_749_515_721_15, 1e-12), "lo = {lo}");
        assert!(close(hi, 0.404_156_385_497_572_1, 1e-12), "hi = {hi}");
        // 10 of 10 mirrors 0 of 10.
        let (lo, hi) = wilson_interval(10, 10, 1.96);
        assert!(close(lo, 0.722_459_831_233_383_4, 1e-12), "lo = {lo}");
        assert_eq!(hi, 1.0);
    }

    #[test]
    fn wilson_contains_p_hat_and_is_ordered() {
        assert_eq!(wilson_interval(0, 0, Z95), (0.0, 1.0));
        for &n in &[1u64, 2, 3, 10, 97, 1000, 123_457] {
            for s in [0, 1, n / 3, n / 2, n - 1, n] {
                let (lo, hi) = wilson_interval(s, n, Z95);
                let p = s as f64 / n as f64;
                assert!(
                    (0.0..=1.0).contains(&lo) && (0.0..=1.0).contains(&hi),
                    "{s}/{n}"
                );
                assert!(lo <= p && p <= hi, "{s}/{n}: ({lo}, {hi}) misses {p}");
                assert!(lo < hi, "{s}/{n}");
            }
        }
        // Symmetry: s of n mirrors n-s of n.
        let (a, b) = wilson_interval(3, 17, Z95);
        let (c, d) = wilson_interval(14, 17, Z95);
        assert!(close(a, 1.0 - d, 1e-14) && close(b, 1.0 - c, 1e-14));
        // Wider z gives a wider interval; more data a narrower one.
        let w = |s, n, z| {
            let (l, h) = wilson_interval(s, n, z);
            h - l
        };
        assert!(w(5, 10, 2.576) > w(5, 10, Z95));
        assert!(w(500, 1000, Z95) < w(50, 100, Z95));
    }

    #[test]
    fn z95_is_the_normal_quantile() {
        use statrs::distribution::{ContinuousCDF, Normal};
        let n = Normal::new(0.0, 1.0).unwrap();
        assert!(close(n.inverse_cdf(0.975), Z95, 1e-9));
    }

    #[test]
    fn exact_quantile_lower_definition() {
        let v: Vec<f64> = (0..11).map(|i| i as f64 * 10.0).collect(); // 0,10,...,100
        assert_eq!(exact_quantile_lower(&v, 0.0), 0.0);
        assert_eq!(exact_quantile_lower(&v, 1.0), 100.0);
        assert_eq!(exact_quantile_lower(&v, 0.5), 50.0);
        // floor(0.55 * 10) = 5, floor(0.59 * 10) = 5, floor(0.6 * 10) = 6.
        assert_eq!(exact_quantile_lower(&v, 0.55), 50.0);
        assert_eq!(exact_quantile_lower(&v, 0.59), 50.0);
        assert_eq!(exact_quantile_lower(&v, 0.6), 60.0);
        // Clamping.
        assert_eq!(exact_quantile_lower(&v, -3.0), 0.0);
        assert_eq!(exact_quantile_lower(&v, 7.0), 100.0);
        // Degenerate inputs.
        assert!(exact_quantile_lower(&[], 0.5).is_nan());
        assert!(exact_quantile_lower(&v, f64::NAN).is_nan());
        assert_eq!(exact_quantile_lower(&[4.0], 0.99), 4.0);
        // Four values: floor(0.99 * 3) = 2.
        assert_eq!(exact_quantile_lower(&[1.0, 2.0, 3.0, 4.0], 0.99), 3.0);
    }
}

//! Running count / mean / second central moment.
//!
//! Serialized with every float as its IEEE-754 bit pattern (a `u64`): JSON has no
//! infinities or NaN (an empty distribution's `min` is +inf) and a decimal round trip is not
//! guaranteed to be exact, so partial files (`output::partial`) bring moments back bit for
//! bit.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Serde of an `f64` as its bit pattern.
mod f64_bits {
    use super::*;

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(x.to_bits())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        u64::deserialize(d).map(f64::from_bits)
    }
}

/// Count, mean and `M2` (sum of squared deviations from the mean) of a stream of
/// finite values, plus a count of rejected non-finite values.
///
/// `add` uses Welford's update and `merge` the pairwise combination of Chan,
/// Golub and LeVeque, both numerically stable. Results are deterministic for a
/// fixed sequence of adds and merges; merging the same parts in a different
/// order agrees to rounding error (not bit for bit).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// Number of finite values recorded.
    pub n: u64,
    /// Number of NaN / infinite values passed to [`Moments::add`] (excluded).
    pub nonfinite: u64,
    /// Running mean of the finite values (0.0 while `n == 0`).
    #[serde(with = "f64_bits")]
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    #[serde(with = "f64_bits")]
    pub m2: f64,
    /// Smallest and largest finite value (+inf / -inf while `n == 0`). Exact under any
    /// merge order; used to clamp histogram quantiles to the observed range, so a
    /// degenerate distribution reports its exact value rather than a bucket midpoint.
    #[serde(with = "f64_bits")]
    pub min: f64,
    #[serde(with = "f64_bits")]
    pub max: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Moments {
            n: 0,
            mean: 0.0,
            m2: 0.0,
            nonfinite: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Moments {
    /// Empty accumulator (same as `Default`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `x`. A non-finite `x` only increments `nonfinite`.
    #[inline]
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            self.nonfinite += 1;
            return;
        }
        self.n += 1;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// Records every value of `xs`: the statistics of `add` on each in turn, up to rounding.
    /// Two passes over the block (its mean, then its M2 about that mean) in eight
    /// independent partial sums so they vectorize, then one Chan merge. Sums are taken
    /// relative to the block's first finite value, so a constant block has exactly that
    /// mean and exactly zero M2 (as Welford gives), and near-constant ones lose no digits: the engines' report
    /// days add a whole chunk of paths per metric at once, where Welford's per-value
    /// division chain was a large share of the run. `inline(always)` so the CPU engine's
    /// per-instruction-set kernels vectorize it.
    #[inline(always)]
    #[allow(clippy::eq_op)] // `x - x == 0.0` is the vectorizable finiteness test
    pub fn add_slice(&mut self, xs: &[f64]) {
        const W: usize = 8;
        let mut count = [0.0f64; W];
        let mut sum = [0.0f64; W];
        let mut lo = [f64::INFINITY; W];
        let mut hi = [f64::NEG_INFINITY; W];
        let Some(&shift) = xs.iter().find(|x| x.is_finite()) else {
            self.nonfinite += xs.len() as u64;
            return;
        };
        // Fixed-width blocks so both passes vectorize; the tail is padded with NaN, which
        // counts as neither a finite value nor (below) a rejected one.
        let mut tail = [f64::NAN; W];
        let remainder = xs.chunks_exact(W).remainder();
        tail[..remainder.len()].copy_from_slice(remainder);
        let blocks = || {
            xs.chunks_exact(W)
                .map(|c| <&[f64; W]>::try_from(c).expect("chunks_exact"))
                .chain(std::iter::once(&tail))
        };
        for c in blocks() {
            for i in 0..W {
                let x = c[i];
                // x - x is 0 for finite x and NaN otherwise: a compare that vectorizes.
                let finite = x - x == 0.0;
                // A non-finite value stands in as `shift`, itself a value of the block, so
                // it adds nothing to the shifted sum and cannot move the min or max.
                let v = if finite { x } else { shift };
                count[i] += if finite { 1.0 } else { 0.0 };
                sum[i] += v - shift;
                lo[i] = if v < lo[i] { v } else { lo[i] };
                hi[i] = if v > hi[i] { v } else { hi[i] };
            }
        }
        // Exact: counts are small integers in f64.
        let n = count.iter().sum::<f64>() as u64;
        let mean_shifted = sum.iter().sum::<f64>() / n as f64;
        let mut m2 = [0.0f64; W];
        for c in blocks() {
            for i in 0..W {
                let d = (c[i] - shift) - mean_shifted;
                m2[i] += if c[i] - c[i] == 0.0 { d * d } else { 0.0 };
            }
        }
        let block = Moments {
            n,
            mean: shift + mean_shifted,
            m2: m2.iter().sum(),
            nonfinite: xs.len() as u64 - n,
            min: lo.iter().copied().fold(f64::INFINITY, f64::min),
            max: hi.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        };
        self.merge(&block);
    }

    /// Merges `o` into `self` (Chan et al.). Equivalent, up to rounding, to
    /// having added all of `o`'s values to `self`.
    pub fn merge(&mut self, o: &Moments) {
        let nonfinite = self.nonfinite + o.nonfinite;
        if o.n == 0 {
            self.nonfinite = nonfinite;
            return;
        }
        if self.n == 0 {
            *self = *o;
            self.nonfinite = nonfinite;
            return;
        }
        let na = self.n as f64;
        let nb = o.n as f64;
        let n = self.n + o.n;
        let nf = n as f64;
        let delta = o.mean - self.mean;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.mean += delta * (nb / nf);
        self.m2 += o.m2 + delta * delta * (na * nb / nf);
        self.n = n;
        self.nonfinite = nonfinite;
    }

    /// Mean of the finite values; NaN if `n == 0`.
    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            f64::NAN
        } else {
            self.mean
        }
    }

    /// Sample variance `M2 / (n - 1)`; 0.0 if `n < 2`.
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            (self.m2 / (self.n - 1) as f64).max(0.0)
        }
    }

    /// Standard error of the mean, `sqrt(variance / n)`: NaN if `n == 0`,
    /// 0.0 if `n == 1` (no spread information yet).
    pub fn std_error(&self) -> f64 {
        (self.variance() / self.n as f64).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};

    fn rel(a: f64, b: f64) -> f64 {
        if a == b {
            0.0
        } else {
            (a - b).abs() / a.abs().max(b.abs())
        }
    }

    /// Two-pass reference: mean, then sum of squared deviations (with the usual
    /// compensation term, which is ~0 for an accurate mean).
    fn two_pass(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let ss: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
        let c: f64 = xs.iter().map(|x| x - mean).sum();
        (mean, (ss - c * c / n) / (n - 1.0))
    }

    fn sample(seed: u64, n: usize, offset: f64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                // Skewed: exp of a uniform, plus a uniform.
                offset + (3.0 * rng.random::<f64>()).exp() + rng.random::<f64>()
            })
            .collect()
    }

    fn one_pass(xs: &[f64]) -> Moments {
        let mut m = Moments::new();
        for &x in xs {
            m.add(x);
        }
        m
    }

    #[test]
    fn moments_match_two_pass() {
        for (seed, offset) in [(1u64, 0.0), (2, -50.0), (3, 1e3)] {
            let xs = sample(seed, 20_000, offset);
            let m = one_pass(&xs);
            let (mean, var) = two_pass(&xs);
            assert_eq!(m.n, 20_000);
            assert!(rel(m.mean(), mean) < 1e-12, "mean {} vs {mean}", m.mean());
            assert!(
                rel(m.variance(), var) < 1e-12,
                "var {} vs {var}",
                m.variance()
            );
            let se = (var / 20_000.0).sqrt();
            assert!(rel(m.std_error(), se) < 1e-12);
        }
    }

    #[test]
    fn moments_stable_with_large_offset() {
        // Naive sum-of-squares would lose every digit here (1e9^2 = 1e18 vs
        // variance ~ 1); Welford keeps most of them.
        let xs = sample(4, 20_000, 1e9);
        let m = one_pass(&xs);
        let (mean, var) = two_pass(&xs);
        assert!(rel(m.mean(), mean) < 1e-12);
        assert!(
            rel(m.variance(), var) < 1e-6,
            "var {} vs {var}",
            m.variance()
        );
    }

    #[test]
    fn moments_merge_equals_one_pass() {
        let mut rng = StdRng::seed_from_u64(5);
        let xs = sample(6, 20_000, 10.0);
        let whole = one_pass(&xs);
        for parts in [1usize, 2, 3, 7] {
            let mut pieces: Vec<Moments> = crate::stats::random_pieces(&xs, parts, &mut rng)
                .iter()
                .map(|p| one_pass(p))
                .collect();
            pieces.shuffle(&mut rng);
            let mut merged = Moments::default();
            for p in &pieces {
                merged.merge(p);
            }
            assert_eq!(merged.n, whole.n);
            assert!(rel(merged.mean(), whole.mean()) < 1e-12, "{parts} parts");
            assert!(
                rel(merged.variance(), whole.variance()) < 1e-12,
                "{parts} parts"
            );
        }
    }

    #[test]
    fn moments_edge_cases() {
        let mut m = Moments::new();
        assert!(m.mean().is_nan());
        assert_eq!(m.variance(), 0.0);
        assert!(m.std_error().is_nan());
        m.add(f64::NAN);
        m.add(f64::INFINITY);
        m.add(f64::NEG_INFINITY);
        assert_eq!((m.n, m.nonfinite), (0, 3));
        m.add(2.5);
        assert_eq!(m.mean(), 2.5);
        assert_eq!(m.variance(), 0.0);
        assert_eq!(m.std_error(), 0.0);
        m.add(4.5);
        assert_eq!(m.mean(), 3.5);
        assert_eq!(m.variance(), 2.0);
        assert_eq!(m.std_error(), 1.0);
        // Merging empties keeps values and sums nonfinite counts.
        let mut e = Moments::new();
        e.add(f64::NAN);
        let mut a = m;
        a.merge(&e);
        assert_eq!((a.n, a.mean, a.m2, a.nonfinite), (m.n, m.mean, m.m2, 4));
        e.merge(&m);
        assert_eq!((e.n, e.mean, e.m2, e.nonfinite), (m.n, m.mean, m.m2, 4));
    }

    /// A block add equals value-by-value adds: counts, min and max exactly, mean and M2 to
    /// rounding; non-finite values counted and excluded; merging into a non-empty state.
    #[test]
    fn add_slice_matches_adds() {
        let mut xs: Vec<f64> = (0..1003)
            .map(|i| ((i * 7919) % 1000) as f64 * 0.37 - 50.0)
            .collect();
        xs[5] = f64::NAN;
        xs[600] = f64::INFINITY;
        xs[1002] = f64::NEG_INFINITY;
        let (mut one, mut block) = (Moments::new(), Moments::new());
        for m in [&mut one, &mut block] {
            m.add(3.0);
            m.add(-1.0);
        }
        for &x in &xs {
            one.add(x);
        }
        block.add_slice(&xs);
        assert_eq!((block.n, block.nonfinite), (one.n, one.nonfinite));
        assert_eq!((block.min, block.max), (one.min, one.max));
        assert!((block.mean - one.mean).abs() <= 1e-12 * one.mean.abs().max(1.0));
        assert!((block.m2 - one.m2).abs() <= 1e-12 * one.m2);
        let mut constant = Moments::new();
        constant.add_slice(&[0.1; 1001]);
        assert_eq!((constant.mean, constant.m2), (0.1, 0.0));
        let mut only_nan = Moments::new();
        only_nan.add_slice(&[f64::NAN, f64::INFINITY]);
        assert_eq!((only_nan.n, only_nan.nonfinite), (0, 2));
    }
}

//! DDSketch-style log-bucketed histogram with absolute bucket indices.
//!
//! # Bucketing
//!
//! With `alpha = RELATIVE_ACCURACY` and `gamma = (1 + alpha) / (1 - alpha)`, a
//! magnitude `m` in `[MIN_TRACKED, MAX_TRACKED]` falls into bucket
//! `i = ceil(ln(m) / ln(gamma))`, i.e. `gamma^(i-1) < m <= gamma^i` (up to
//! rounding of `ln`). The bucket is represented by `2 gamma^i / (gamma + 1)`,
//! which lies within relative `alpha` of every value in the bucket. Indices are
//! absolute (they do not depend on the data), so histograms filled anywhere —
//! CPU chunks, the GPU engine, other shards — merge by adding counts at equal
//! indices. The index range is `MIN_INDEX..=MAX_INDEX` (= `-2763..=4145`).
//!
//! The exact index formula, which any other producer of indices (e.g. a GPU
//! kernel) must replicate to get bit-identical histograms, is
//! `(ln(m.clamp(MIN_TRACKED, MAX_TRACKED)) * INV_LN_GAMMA).ceil() as i32` in
//! `f64`, with `ln` = [`crate::lanes::ln`] (within 1 ulp of libm, and the same on every
//! machine and vector width). A producer computing in lower precision only moves values lying
//! extremely close to a bucket boundary into the neighbouring bucket, which
//! costs at most `alpha` plus that rounding in accuracy.
//!
//! # Values
//!
//! * NaN and ±infinity are counted in [`LogHistogram::nonfinite`] and are not
//!   part of [`LogHistogram::count`].
//! * `|x| < MIN_TRACKED` (including ±0.0) goes to the zero bucket, represented
//!   by exactly `0.0`; the non-zero ones are also counted in
//!   [`LogHistogram::underflow`] (read as 0.0 they lose all relative accuracy).
//! * `|x| > MAX_TRACKED` (finite) is clamped into the top bucket of its sign and
//!   counted in [`LogHistogram::clamped`] (it still counts in `count`).
//! * [`LogHistogram::out_of_range`] is the sum of the two, and
//!   [`LogHistogram::ranks_in_range`] says whether a quantile or tail mean was read from
//!   buckets that hold such values (then it is not within `alpha` of the exact figure).
//! * Otherwise `x` goes to the positive or negative store at
//!   `bucket_index(|x|)`.
//!
//! # Accuracy
//!
//! [`LogHistogram::quantile`] returns the representative of the bucket that
//! holds the exact "lower" order statistic (see
//! [`crate::stats::exact_quantile_lower`]), hence is within relative `alpha` of
//! it (plus `f64` rounding), and exactly `0.0` when that order statistic is in
//! the zero bucket. Tail means are means of bucket representatives, so they are
//! within relative `alpha` of the exact tail mean whenever the tail does not mix
//! signs (with mixed signs the error bound is `alpha` times the mean of `|x|`).

use crate::lanes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::interval::lower_rank;

/// Relative accuracy `alpha` of every bucket representative.
pub const RELATIVE_ACCURACY: f64 = 0.005;
/// Magnitudes below this are counted in the zero bucket (value `0.0`).
pub const MIN_TRACKED: f64 = 1e-12;
/// Finite magnitudes above this are clamped into the top bucket and counted in
/// [`LogHistogram::clamped`].
pub const MAX_TRACKED: f64 = 1e18;

/// Bucket growth factor `gamma = (1 + alpha) / (1 - alpha)`.
pub const GAMMA: f64 = (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY);
/// `ln(GAMMA)` (of the `f64` value of `GAMMA`, correctly rounded).
pub const LN_GAMMA: f64 = 0.010_000_083_334_583_179;
/// `1 / ln(GAMMA)` (correctly rounded); [`bucket_index`] multiplies by it.
pub const INV_LN_GAMMA: f64 = 99.999_166_661_112_81;
/// `bucket_index(MIN_TRACKED)`: the lowest index any value is stored at.
pub const MIN_INDEX: i32 = -2763;
/// `bucket_index(MAX_TRACKED)`: the highest index any value is stored at.
pub const MAX_INDEX: i32 = 4145;

/// `2 / (gamma + 1)` (= `1 - alpha`), the representative of bucket 0.
const REP_FACTOR: f64 = 2.0 / (GAMMA + 1.0);

/// Absolute bucket index of magnitude `m`: `ceil(ln(m) / ln(gamma))` after
/// clamping `m` into `[MIN_TRACKED, MAX_TRACKED]`. Always in
/// `MIN_INDEX..=MAX_INDEX`. Zero, negative and NaN arguments map to `MIN_INDEX`
/// (callers pass magnitudes; the histogram routes tiny values to its zero
/// bucket before indexing).
#[inline(always)]
#[allow(clippy::manual_clamp)] // `clamp` would propagate NaN; `max` maps it to MIN_TRACKED
pub fn bucket_index(magnitude: f64) -> i32 {
    // `max` ignores NaN, so NaN -> MIN_TRACKED.
    let m = magnitude.max(MIN_TRACKED).min(MAX_TRACKED);
    ceil_to_i32(lanes::ln(m) * INV_LN_GAMMA)
}

/// `y.ceil() as i32` for finite |y| < 2^31, without a libm call (f64::ceil is one on
/// baseline x86-64) and without the saturating `as i32` (which does not vectorize): the
/// nearest integer, plus one when it lies below `y`.
#[inline(always)]
fn ceil_to_i32(y: f64) -> i32 {
    let (nearest, n) = lanes::nearest_integer(y);
    n as i32 + (nearest < y) as i32
}

/// Representative value of bucket `index`: `2 gamma^index / (gamma + 1)`,
/// within relative `alpha` of every magnitude in the bucket. Positive; negate it
/// for the negative store.
#[inline]
pub fn bucket_value(index: i32) -> f64 {
    (index as f64 * LN_GAMMA).exp() * REP_FACTOR
}

/// Extra buckets allocated beyond a new index when a store first grows or
/// grows by a small amount, so nearby indices do not reallocate again.
const MIN_SLACK: i32 = 16;

/// Dense counts for one sign: `counts[k]` is the count at index `offset + k`.
///
/// Invariant: `offset >= MIN_INDEX` and `offset + counts.len() - 1 <= MAX_INDEX`.
/// The vector may contain zero counts anywhere (including at either end,
/// because growth allocates slack), so equality and serialisation work on the
/// trimmed logical contents.
#[derive(Clone, Debug, Default)]
struct Store {
    offset: i32,
    counts: Vec<u64>,
}

impl Store {
    /// Adds `n` at `index` (which must lie in `MIN_INDEX..=MAX_INDEX`).
    #[inline]
    fn add(&mut self, index: i32, n: u64) {
        // Negative differences wrap to huge values and miss `get_mut`.
        let k = (index as i64 - self.offset as i64) as usize;
        match self.counts.get_mut(k) {
            Some(c) => *c += n,
            None => self.add_slow(index, n),
        }
    }

    #[cold]
    #[inline(never)]
    fn add_slow(&mut self, index: i32, n: u64) {
        self.grow(index, index, true);
        let k = (index - self.offset) as usize;
        self.counts[k] += n;
    }

    /// Index range currently allocated (inclusive), if any.
    fn allocated(&self) -> Option<(i32, i32)> {
        if self.counts.is_empty() {
            None
        } else {
            Some((self.offset, self.offset + self.counts.len() as i32 - 1))
        }
    }

    /// Makes `lo..=hi` addressable. With `slack`, grows geometrically (by at
    /// least half the current length, at least `MIN_SLACK`) in the direction of
    /// growth so repeated growth is amortised; the range is clamped into
    /// `MIN_INDEX..=MAX_INDEX`.
    fn grow(&mut self, lo: i32, hi: i32, slack: bool) {
        debug_assert!(MIN_INDEX <= lo && lo <= hi && hi <= MAX_INDEX);
        let extra = if slack {
            ((self.counts.len() / 2) as i32).max(MIN_SLACK)
        } else {
            0
        };
        let (new_lo, new_hi) = match self.allocated() {
            None => (lo - extra, hi + extra),
            Some((cur_lo, cur_hi)) => (
                if lo < cur_lo { lo - extra } else { cur_lo },
                if hi > cur_hi { hi + extra } else { cur_hi },
            ),
        };
        let (new_lo, new_hi) = (new_lo.max(MIN_INDEX), new_hi.min(MAX_INDEX));
        if let Some((cur_lo, cur_hi)) = self.allocated() {
            if new_lo == cur_lo && new_hi == cur_hi {
                return;
            }
        }
        let mut counts = vec![0u64; (new_hi - new_lo + 1) as usize];
        if !self.counts.is_empty() {
            let at = (self.offset - new_lo) as usize;
            counts[at..at + self.counts.len()].copy_from_slice(&self.counts);
        }
        self.offset = new_lo;
        self.counts = counts;
    }

    /// Logical contents: index of the first non-zero count and the slice from
    /// it to the last non-zero count (empty slice if the store is empty).
    fn trimmed(&self) -> (i32, &[u64]) {
        match self.counts.iter().position(|&c| c != 0) {
            None => (0, &[]),
            Some(first) => {
                let last = self.counts.iter().rposition(|&c| c != 0).unwrap_or(first);
                (self.offset + first as i32, &self.counts[first..=last])
            }
        }
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn merge(&mut self, other: &Store) {
        let (lo, slice) = other.trimmed();
        if slice.is_empty() {
            return;
        }
        let hi = lo + slice.len() as i32 - 1;
        self.grow(lo, hi, false);
        let at = (lo - self.offset) as usize;
        for (c, &o) in self.counts[at..at + slice.len()].iter_mut().zip(slice) {
            *c += o;
        }
    }

    /// Non-zero buckets as `(index, count)`, ascending by index.
    fn nonzero(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        let offset = self.offset;
        self.counts
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c != 0)
            .map(move |(k, &c)| (offset + k as i32, c))
    }
}

impl PartialEq for Store {
    fn eq(&self, other: &Self) -> bool {
        self.trimmed() == other.trimmed()
    }
}

impl Eq for Store {}

/// Serialised form of a store: its trimmed logical contents, so equal
/// histograms serialise identically whatever their allocation history.
#[derive(Serialize)]
struct StoreRef<'a> {
    offset: i32,
    counts: &'a [u64],
}

#[derive(Deserialize)]
struct StoreOwned {
    offset: i32,
    counts: Vec<u64>,
}

impl Serialize for Store {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (offset, counts) = self.trimmed();
        StoreRef { offset, counts }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Store {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = StoreOwned::deserialize(deserializer)?;
        if s.counts.is_empty() {
            return Ok(Store::default());
        }
        let hi = s.offset as i64 + s.counts.len() as i64 - 1;
        if s.offset < MIN_INDEX || hi > MAX_INDEX as i64 {
            return Err(serde::de::Error::custom(format!(
                "histogram store covers indices {}..={hi}, outside {MIN_INDEX}..={MAX_INDEX}",
                s.offset
            )));
        }
        Ok(Store {
            offset: s.offset,
            counts: s.counts,
        })
    }
}

/// Log-bucketed histogram of `f64` values with relative accuracy
/// [`RELATIVE_ACCURACY`]; see the [module documentation](self).
///
/// Merging is exact (integer counts add at absolute indices), so the result of
/// any set of merges depends only on the multiset of recorded bucket indices,
/// and `==` compares exactly that (plus the zero / non-finite / clamped
/// counters), independent of insertion order, merge order and allocation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LogHistogram {
    /// Counts of positive values by `bucket_index(x)`.
    positive: Store,
    /// Counts of negative values by `bucket_index(|x|)`.
    negative: Store,
    /// Finite values with `|x| < MIN_TRACKED`.
    zero: u64,
    /// NaN / infinite values (excluded from `count`).
    nonfinite: u64,
    /// Finite values with `|x| > MAX_TRACKED` (included in `count`, stored in
    /// the top bucket of their sign).
    clamped: u64,
    /// Finite non-zero values with `|x| < MIN_TRACKED` (included in `zero`). Absent from
    /// histograms serialised before it was counted: 0.
    #[serde(default)]
    underflow: u64,
}

impl LogHistogram {
    /// Empty histogram (no allocation until the first value arrives).
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one value; see the [module documentation](self) for the routing
    /// of zero, non-finite and out-of-range values. One `ln` per call.
    #[inline]
    pub fn add(&mut self, x: f64) {
        self.add_at(x, bucket_index(x.abs()));
    }

    /// Records `x`, whose `bucket_index(|x|)` is `index`: the routing of the module
    /// documentation, shared by `add` and the mixed path of `add_slice`.
    #[inline(always)]
    fn add_at(&mut self, x: f64, index: i32) {
        let m = x.abs();
        if (MIN_TRACKED..=MAX_TRACKED).contains(&m) {
            if x > 0.0 {
                self.positive.add(index, 1);
            } else {
                self.negative.add(index, 1);
            }
        } else if m < MIN_TRACKED {
            // Zeros are common (spiral flags); keep them off the cold path.
            self.zero += 1;
            self.underflow += (m > 0.0) as u64;
        } else {
            self.add_untracked(x);
        }
    }

    /// Records every value of `xs`, exactly as `add` on each in turn. The engines' report
    /// days add a whole chunk of paths per metric at once, and this is their hot path, so:
    /// a first pass computes every bucket index branch-free (it vectorizes) and finds
    /// whether the block is the common case (all positive and tracked); then one growth
    /// of the store and a tight increment loop. Other blocks go value by value.
    /// `inline(always)` so the CPU engine's per-instruction-set kernels vectorize it.
    #[inline(always)]
    pub fn add_slice(&mut self, xs: &[f64]) {
        const BLOCK: usize = 256;
        let mut index = [0i32; BLOCK];
        for block in xs.chunks(BLOCK) {
            let (mut positive, mut zero, mut tiny) = (0usize, 0usize, 0usize);
            let (mut lo, mut hi) = (MAX_INDEX, MIN_INDEX);
            for (slot, &x) in index.iter_mut().zip(block) {
                let m = x.abs();
                let i = bucket_index(m);
                *slot = i;
                positive += (MIN_TRACKED..=MAX_TRACKED).contains(&x) as usize;
                zero += (m < MIN_TRACKED) as usize;
                tiny += (m < MIN_TRACKED && m > 0.0) as usize;
                lo = lo.min(i);
                hi = hi.max(i);
            }
            let index = &index[..block.len()];
            if positive == block.len() {
                self.positive.grow(lo, hi, true);
                let offset = self.positive.offset;
                let counts = self.positive.counts.as_mut_slice();
                if lo == hi {
                    // One bucket (a path-independent metric): one add, not a chain of
                    // increments of the same counter.
                    counts[(lo - offset) as usize] += block.len() as u64;
                } else {
                    for &i in index {
                        counts[(i - offset) as usize] += 1;
                    }
                }
                continue;
            }
            if zero == block.len() {
                self.zero += zero as u64;
                self.underflow += tiny as u64;
                continue;
            }
            for (&x, &i) in block.iter().zip(index) {
                self.add_at(x, i);
            }
        }
    }

    /// Slow path of `add`: NaN, infinities, tiny and huge magnitudes.
    #[cold]
    fn add_untracked(&mut self, x: f64) {
        if !x.is_finite() {
            self.nonfinite += 1;
        } else {
            self.clamped += 1;
            if x > 0.0 {
                self.positive.add(MAX_INDEX, 1);
            } else {
                self.negative.add(MAX_INDEX, 1);
            }
        }
    }

    /// Adds `count` values at bucket `index` of the store for `sign` (`1`:
    /// positive, `-1`: negative, `0`: zero bucket, `index` ignored).
    ///
    /// This is how dense arrays filled elsewhere (GPU engine) are handed over;
    /// adding `c` at `(sign, bucket_index(|x|))` is identical to calling
    /// [`add`](Self::add) `c` times with such values. Indices outside
    /// `MIN_INDEX..=MAX_INDEX` are treated the way `add` treats the magnitudes
    /// they stand for: an index below `MIN_INDEX` only holds non-zero magnitudes below
    /// `MIN_TRACKED` and goes to the zero bucket, counted in `underflow`; an index above `MAX_INDEX`
    /// only holds magnitudes above `MAX_TRACKED` and is clamped into
    /// `MAX_INDEX` and counted in `clamped`. (Values that were clamped before
    /// being indexed, i.e. given `MAX_INDEX`, cannot be recognised as such.)
    /// Any `sign` other than `1`, `-1`, `0` is treated by its sign
    /// (`signum`). A zero `count` is a no-op.
    pub fn add_count_at_index(&mut self, sign: i8, index: i32, count: u64) {
        if count == 0 {
            return;
        }
        let store = match sign.signum() {
            0 => {
                self.zero += count;
                return;
            }
            1 => &mut self.positive,
            _ => &mut self.negative,
        };
        if index < MIN_INDEX {
            self.add_underflow(count);
        } else if index > MAX_INDEX {
            self.clamped += count;
            store.add(MAX_INDEX, count);
        } else {
            store.add(index, count);
        }
    }

    /// Adds `count` finite non-zero values of magnitude below [`MIN_TRACKED`] (to the
    /// zero bucket and [`underflow`](Self::underflow)): how dense arrays filled elsewhere
    /// (GPU engine), which route them to a slot of their own, hand them over.
    pub fn add_underflow(&mut self, count: u64) {
        self.zero += count;
        self.underflow += count;
    }

    /// Number of finite values recorded (zero bucket and clamped values
    /// included, non-finite values excluded).
    pub fn count(&self) -> u64 {
        self.zero + self.positive.total() + self.negative.total()
    }

    /// Number of NaN / infinite values seen (not part of [`count`](Self::count)).
    pub fn nonfinite(&self) -> u64 {
        self.nonfinite
    }

    /// Number of finite values with magnitude above [`MAX_TRACKED`] (counted in
    /// the top bucket of their sign).
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// Number of finite values with magnitude below [`MIN_TRACKED`].
    pub fn zero_count(&self) -> u64 {
        self.zero
    }

    /// Number of finite non-zero values with magnitude below [`MIN_TRACKED`] (part of
    /// [`zero_count`](Self::zero_count), read as exactly 0.0).
    pub fn underflow(&self) -> u64 {
        self.underflow
    }

    /// Finite values outside `[MIN_TRACKED, MAX_TRACKED]` in magnitude, zeros aside: the
    /// values no bucket holds within relative `alpha` ([`clamped`](Self::clamped) plus
    /// [`underflow`](Self::underflow)).
    pub fn out_of_range(&self) -> u64 {
        self.clamped + self.underflow
    }

    /// Whether the order statistics of 0-based ranks `lo..=hi` all lie in buckets that
    /// hold no out-of-range value: then a quantile or tail mean read from them is within
    /// relative `alpha` of the exact figure. False where one of them lies in the zero bucket
    /// while it holds non-zero values, or in a top bucket while values are clamped into it.
    /// Ranks beyond `count()` are ignored.
    pub fn ranks_in_range(&self, lo: u64, hi: u64) -> bool {
        if self.out_of_range() == 0 {
            return true;
        }
        let mut start = 0u64;
        for (sign, index, c) in self.raw_buckets() {
            let end = start + c; // ranks start..end
            let flagged = match sign {
                0 => self.underflow > 0,
                _ => index == MAX_INDEX && self.clamped > 0,
            };
            if flagged && start <= hi && lo < end {
                return false;
            }
            start = end;
        }
        true
    }

    /// `true` if no finite value has been recorded.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Adds all of `other`'s counts to `self`. Exact (integer counts), hence
    /// associative and commutative: any merge tree over the same parts gives an
    /// equal (`==`) histogram.
    pub fn merge(&mut self, other: &LogHistogram) {
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
        self.zero += other.zero;
        self.nonfinite += other.nonfinite;
        self.clamped += other.clamped;
        self.underflow += other.underflow;
    }

    /// Non-empty buckets as `(sign, index, count)`, ascending by value:
    /// negatives from the largest magnitude down, then zero, then positives.
    fn raw_buckets(&self) -> impl DoubleEndedIterator<Item = (i8, i32, u64)> + '_ {
        let neg = self.negative.nonzero().rev().map(|(i, c)| (-1i8, i, c));
        let zero = std::iter::once((0i8, 0i32, self.zero)).filter(|&(_, _, c)| c != 0);
        let pos = self.positive.nonzero().map(|(i, c)| (1i8, i, c));
        neg.chain(zero).chain(pos)
    }

    /// Value represented by a `(sign, index)` bucket.
    #[inline]
    fn value_of(sign: i8, index: i32) -> f64 {
        match sign {
            0 => 0.0,
            1 => bucket_value(index),
            _ => -bucket_value(index),
        }
    }

    /// The "lower" sample quantile: the order statistic of 0-based rank
    /// `floor(q * (n - 1))` (`n = count()`, `q` clamped into `[0, 1]`),
    /// returned as the representative value of its bucket (`0.0` for the zero
    /// bucket, negative for negative values). `None` if the histogram is empty
    /// or `q` is NaN.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 || q.is_nan() {
            return None;
        }
        self.value_at_rank(lower_rank(q, n))
    }

    /// The representative value of the order statistic of 0-based `rank` (ascending);
    /// None if `rank >= count()`.
    pub fn value_at_rank(&self, rank: u64) -> Option<f64> {
        let mut seen = 0u64;
        for (sign, index, c) in self.raw_buckets() {
            seen += c;
            if seen > rank {
                return Some(Self::value_of(sign, index));
            }
        }
        None // unreachable: rank < n
    }

    /// Mean of the `min(k, count())` values taken from an iterator of buckets.
    fn mean_of_first(buckets: impl Iterator<Item = (i8, i32, u64)>, k: u64, n: u64) -> Option<f64> {
        if k == 0 || n == 0 {
            return None;
        }
        let k = k.min(n);
        let mut left = k;
        let mut sum = 0.0f64;
        for (sign, index, c) in buckets {
            let take = c.min(left);
            sum += take as f64 * Self::value_of(sign, index);
            left -= take;
            if left == 0 {
                break;
            }
        }
        Some(sum / k as f64)
    }

    /// Mean of the `k` smallest values (bucket representatives; the last
    /// bucket touched contributes only the part taken). `k > count()` means
    /// all values. `None` if `k == 0` or the histogram is empty.
    pub fn mean_of_lowest(&self, k: u64) -> Option<f64> {
        Self::mean_of_first(self.raw_buckets(), k, self.count())
    }

    /// Mean of the `k` largest values, like [`mean_of_lowest`](Self::mean_of_lowest).
    pub fn mean_of_highest(&self, k: u64) -> Option<f64> {
        Self::mean_of_first(self.raw_buckets().rev(), k, self.count())
    }

    /// Approximate number of values `> threshold`: the number of recorded
    /// values whose bucket representative is `> threshold`.
    ///
    /// This is exact for the multiset of representatives (so it is consistent
    /// with [`quantile`](Self::quantile), which returns representatives). It
    /// differs from the exact count only by values `x` lying between
    /// `threshold` and their representative, i.e. with
    /// `|x - threshold| <= RELATIVE_ACCURACY * |x|` (and values in the zero
    /// bucket, which count as exactly `0.0`). A NaN threshold gives 0.
    pub fn count_above(&self, threshold: f64) -> u64 {
        if threshold.is_nan() {
            return 0;
        }
        // Ascending by value: count from the top until a representative is
        // <= threshold.
        let mut total = 0u64;
        for (sign, index, c) in self.raw_buckets().rev() {
            if Self::value_of(sign, index) > threshold {
                total += c;
            } else {
                break;
            }
        }
        total
    }

    /// Non-empty buckets as `(representative value, count)`, ascending by
    /// value; the zero bucket (value `0.0`) is included when non-empty.
    pub fn iter_buckets(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        self.raw_buckets()
            .map(|(sign, index, c)| (Self::value_of(sign, index), c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::interval::exact_quantile_lower;
    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};

    const N: usize = 20_000;
    const Q_GRID: [f64; 7] = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];

    fn std_normal(rng: &mut StdRng) -> f64 {
        // Box-Muller; 1 - u is in (0, 1].
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random::<f64>();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn lognormal(seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..N)
            .map(|_| (1.0 + 2.0 * std_normal(&mut rng)).exp())
            .collect()
    }

    fn normal_mixed(seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..N).map(|_| 0.5 + 3.0 * std_normal(&mut rng)).collect()
    }

    fn uniform(seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..N).map(|_| rng.random_range(0.0..1000.0)).collect()
    }

    fn pareto(seed: u64) -> Vec<f64> {
        // x_m = 1, tail index 1.2 (infinite variance).
        let mut rng = StdRng::seed_from_u64(seed);
        (0..N)
            .map(|_| (1.0 - rng.random::<f64>()).powf(-1.0 / 1.2))
            .collect()
    }

    /// Normal sample with a quarter of the values replaced by exact zeros
    /// (half of them -0.0).
    fn with_zeros(seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..N)
            .map(|i| match i % 8 {
                0 => 0.0,
                1 => -0.0,
                _ => 2.0 * std_normal(&mut rng),
            })
            .collect()
    }

    fn samples() -> Vec<(&'static str, Vec<f64>)> {
        vec![
            ("lognormal", lognormal(11)),
            ("normal", normal_mixed(12)),
            ("uniform", uniform(13)),
            ("pareto", pareto(14)),
            ("zeros", with_zeros(15)),
        ]
    }

    fn hist_of(xs: &[f64]) -> LogHistogram {
        let mut h = LogHistogram::new();
        for &x in xs {
            h.add(x);
        }
        h
    }

    fn sorted(xs: &[f64]) -> Vec<f64> {
        let mut s = xs.to_vec();
        s.sort_by(f64::total_cmp);
        s
    }

    /// Bound on |representative - x| for a value x, with slack for f64 rounding.
    fn tol(x: f64) -> f64 {
        RELATIVE_ACCURACY * (1.0 + 1e-9) * x.abs()
    }

    #[test]
    fn out_of_range_values_are_counted_and_their_ranks_flagged() {
        let xs = [1e-300, 0.0, -0.0, -1e-20, 5.0, 7.0, 1e300, -1e30];
        let mut one = LogHistogram::new();
        for &x in &xs {
            one.add(x);
        }
        let mut sliced = LogHistogram::new();
        sliced.add_slice(&xs);
        assert_eq!(one, sliced);
        assert_eq!(
            (one.underflow(), one.clamped(), one.out_of_range()),
            (2, 2, 4)
        );
        assert_eq!(one.zero_count(), 4);
        // Ascending: -1e30 (clamped), four in the zero bucket, 5, 7, 1e300 (clamped).
        assert!(!one.ranks_in_range(0, 0));
        assert!(!one.ranks_in_range(1, 4) && !one.ranks_in_range(3, 3));
        assert!(one.ranks_in_range(5, 6));
        assert!(!one.ranks_in_range(6, 7));
        // Exact zeros alone are in range; so is a merge of in-range parts.
        let mut zeros = LogHistogram::new();
        zeros.add_slice(&[0.0; 300]);
        assert_eq!(zeros.out_of_range(), 0);
        assert!(zeros.ranks_in_range(0, 299));
        let mut tiny = LogHistogram::new();
        tiny.add_slice(&[1e-13; 300]);
        assert_eq!(tiny.underflow(), 300);
        let mut gpu = LogHistogram::new();
        gpu.add_underflow(300);
        assert_eq!(gpu, tiny);
        zeros.merge(&tiny);
        assert_eq!(zeros.underflow(), 300);
        // Histograms serialised before the count existed read as none.
        let mut old = serde_json::to_value(&one).unwrap();
        old.as_object_mut().unwrap().remove("underflow");
        let back: LogHistogram = serde_json::from_value(old).unwrap();
        assert_eq!((back.underflow(), back.clamped()), (0, 2));
    }

    #[test]
    fn constants_are_consistent() {
        assert!((GAMMA.ln() - LN_GAMMA).abs() <= 2.0 * f64::EPSILON * LN_GAMMA);
        assert!((1.0 / LN_GAMMA - INV_LN_GAMMA).abs() <= 2.0 * f64::EPSILON * INV_LN_GAMMA);
        assert!((REP_FACTOR - (1.0 - RELATIVE_ACCURACY)).abs() < 1e-15);
        assert_eq!(bucket_index(MIN_TRACKED), MIN_INDEX);
        assert_eq!(bucket_index(MAX_TRACKED), MAX_INDEX);
        // Clamping of the argument.
        assert_eq!(bucket_index(0.0), MIN_INDEX);
        assert_eq!(bucket_index(1e-300), MIN_INDEX);
        assert_eq!(bucket_index(f64::NAN), MIN_INDEX);
        assert_eq!(bucket_index(1e300), MAX_INDEX);
        assert_eq!(bucket_index(f64::INFINITY), MAX_INDEX);
        // Bucket 0 is (1/gamma, 1].
        assert_eq!(bucket_index(1.0), 0);
        assert_eq!(bucket_index(1.0 / GAMMA * (1.0 + 1e-9)), 0);
        assert_eq!(bucket_index(1.0 + 1e-9), 1);
    }

    #[test]
    fn bucket_value_within_alpha_of_its_bucket() {
        let mut rng = StdRng::seed_from_u64(1);
        let (lo, hi) = (MIN_TRACKED.ln(), MAX_TRACKED.ln());
        let mut prev = (f64::NEG_INFINITY, i32::MIN);
        let mut ms: Vec<f64> = (0..200_000)
            .map(|_| rng.random_range(lo..hi).exp())
            .collect();
        ms.sort_by(f64::total_cmp);
        for m in ms {
            let i = bucket_index(m);
            assert!((MIN_INDEX..=MAX_INDEX).contains(&i));
            let v = bucket_value(i);
            assert!((v - m).abs() <= tol(m), "m {m} i {i} v {v}");
            // Bucket bounds gamma^(i-1) < m <= gamma^i (up to rounding).
            let upper = (i as f64 * LN_GAMMA).exp();
            assert!(m <= upper * (1.0 + 1e-12) && m > upper / GAMMA * (1.0 - 1e-12));
            // Monotone.
            assert!(m >= prev.0 && i >= prev.1);
            prev = (m, i);
        }
        // Representatives are strictly increasing over the whole range.
        for i in MIN_INDEX..MAX_INDEX {
            assert!(bucket_value(i) < bucket_value(i + 1));
        }
    }

    #[test]
    fn quantiles_match_exact_lower_quantile() {
        for (name, xs) in samples() {
            let h = hist_of(&xs);
            let s = sorted(&xs);
            assert_eq!(h.count(), N as u64, "{name}");
            for q in Q_GRID {
                let exact = exact_quantile_lower(&s, q);
                let got = h.quantile(q).unwrap();
                if exact == 0.0 {
                    assert_eq!(got, 0.0, "{name} q={q}: zero must stay exactly zero");
                    assert!(got.is_sign_positive(), "{name} q={q}");
                } else {
                    let r = (got - exact).abs() / exact.abs();
                    assert!(r <= 0.01, "{name} q={q}: {got} vs {exact} (rel {r})");
                    assert!((got - exact).abs() <= tol(exact), "{name} q={q}");
                }
            }
            // A fine grid, including the extremes, against the alpha bound.
            for j in 0..=1000 {
                let q = j as f64 / 1000.0;
                let exact = exact_quantile_lower(&s, q);
                let got = h.quantile(q).unwrap();
                assert!(
                    (got - exact).abs() <= tol(exact),
                    "{name} q={q}: {got} vs {exact}"
                );
                assert_eq!(got == 0.0, exact == 0.0, "{name} q={q}");
            }
        }
    }

    #[test]
    fn zero_quantiles_are_exactly_zero() {
        let xs = with_zeros(21);
        let s = sorted(&xs);
        let h = hist_of(&xs);
        assert_eq!(h.zero_count(), (N / 4) as u64);
        // The median of a symmetric sample with 25% zeros is in the zero block.
        assert_eq!(exact_quantile_lower(&s, 0.5), 0.0);
        assert_eq!(h.quantile(0.5), Some(0.0));
        // Only zeros.
        let mut z = LogHistogram::new();
        for x in [0.0, -0.0, 1e-13, -5e-300, f64::MIN_POSITIVE] {
            z.add(x);
        }
        assert_eq!(z.count(), 5);
        assert_eq!(z.zero_count(), 5);
        for q in [0.0, 0.3, 1.0] {
            assert_eq!(z.quantile(q), Some(0.0));
        }
        assert_eq!(z.iter_buckets().collect::<Vec<_>>(), vec![(0.0, 5)]);
        assert_eq!(z.mean_of_highest(2), Some(0.0));
    }

    #[test]
    fn quantile_edge_cases() {
        let mut h = LogHistogram::new();
        assert_eq!(h.quantile(0.5), None);
        assert_eq!(h.mean_of_lowest(3), None);
        assert_eq!(h.mean_of_highest(3), None);
        assert_eq!(h.count_above(-1.0), 0);
        assert_eq!(h.iter_buckets().count(), 0);
        assert!(h.is_empty());
        for x in [-7.0, 1.0, 2.0, 3.0, 1000.0] {
            h.add(x);
        }
        let v = |x: f64| x.signum() * bucket_value(bucket_index(x.abs()));
        // n = 5: rank floor(q * 4).
        assert_eq!(h.quantile(0.0), Some(v(-7.0)));
        assert_eq!(h.quantile(-2.0), Some(v(-7.0)));
        assert_eq!(h.quantile(0.49), Some(v(1.0)));
        assert_eq!(h.quantile(0.5), Some(v(2.0)));
        assert_eq!(h.quantile(0.99), Some(v(3.0)));
        assert_eq!(h.quantile(1.0), Some(v(1000.0)));
        assert_eq!(h.quantile(5.0), Some(v(1000.0)));
        assert_eq!(h.quantile(f64::NAN), None);
        assert!(h.quantile(0.0).unwrap() < 0.0);
    }

    #[test]
    fn merge_of_parts_equals_one_pass() {
        let mut rng = StdRng::seed_from_u64(31);
        // All kinds of values: both signs, zeros, non-finite and clamped.
        let mut xs = normal_mixed(32);
        xs.extend(lognormal(33).into_iter().take(5_000));
        xs.extend(pareto(34).into_iter().take(5_000).map(|x| -x));
        xs.extend([0.0, -0.0, 1e-14, f64::NAN, f64::INFINITY, -f64::INFINITY]);
        xs.extend([3e18, -2e20, 1e17, -1e-11, 1e-12, MAX_TRACKED]);
        let whole = hist_of(&xs);
        assert_eq!(whole.nonfinite(), 3);
        assert_eq!(whole.clamped(), 2);

        for parts in [1usize, 2, 3, 7] {
            for round in 0..3 {
                let pieces = crate::stats::random_pieces(&xs, parts, &mut rng);
                let mut hs: Vec<LogHistogram> = pieces.iter().map(|p| hist_of(p)).collect();
                hs.shuffle(&mut rng);
                let merged = if round == 2 {
                    // A tree: merge pairwise until one is left.
                    while hs.len() > 1 {
                        let b = hs.pop().unwrap();
                        let k = rng.random_range(0..hs.len());
                        hs[k].merge(&b);
                    }
                    hs.pop().unwrap()
                } else {
                    // Left fold into a fresh histogram.
                    let mut m = LogHistogram::new();
                    for h in &hs {
                        m.merge(h);
                    }
                    m
                };
                assert_eq!(merged, whole, "{parts} parts, round {round}");
                assert_eq!(merged.count(), whole.count());
                assert_eq!(
                    serde_json::to_string(&merged).unwrap(),
                    serde_json::to_string(&whole).unwrap()
                );
            }
        }

        // Equality is sensitive: one more value, or a value moved by a bucket,
        // makes histograms differ.
        let mut more = whole.clone();
        more.add(1.0);
        assert_ne!(more, whole);
        let mut a = LogHistogram::new();
        let mut b = LogHistogram::new();
        a.add(1.0);
        b.add(1.0 + 1e-9);
        assert_ne!(a, b);
        let mut c = LogHistogram::new();
        c.add(-1.0);
        assert_ne!(a, c);
        let mut d = LogHistogram::new();
        d.add(f64::NAN);
        assert_ne!(d, LogHistogram::new());
    }

    #[test]
    fn equality_ignores_allocation_history() {
        let xs = sorted(&lognormal(41));
        let mut up = LogHistogram::new();
        let mut down = LogHistogram::new();
        for &x in &xs {
            up.add(x);
        }
        for &x in xs.iter().rev() {
            down.add(x);
        }
        assert_eq!(up, down);
        // A merge with an empty histogram, and of an empty one, changes nothing.
        let mut e = LogHistogram::new();
        e.merge(&up);
        assert_eq!(e, up);
        e.merge(&LogHistogram::new());
        assert_eq!(e, up);
        // Zero-count additions leave no trace.
        let mut z = LogHistogram::new();
        z.add_count_at_index(1, 100, 0);
        z.add_count_at_index(-1, -100, 0);
        z.add_count_at_index(0, 0, 0);
        assert_eq!(z, LogHistogram::new());
        // Storage stays dense and bounded by the span (plus growth slack).
        let span = (bucket_index(xs[xs.len() - 1]) - bucket_index(xs[0]) + 1) as usize;
        assert!(up.positive.counts.len() <= 2 * span + 2 * MIN_SLACK as usize);
        assert!(down.positive.counts.len() <= 2 * span + 2 * MIN_SLACK as usize);
    }

    #[test]
    fn serde_round_trip() {
        let mut h = hist_of(&normal_mixed(51));
        h.add(f64::NAN);
        h.add(0.0);
        h.add(1e30);
        let json = serde_json::to_string(&h).unwrap();
        let back: LogHistogram = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.quantile(0.3), h.quantile(0.3));
        assert_eq!(
            (back.nonfinite(), back.clamped(), back.zero_count()),
            (1, 1, 1)
        );
        // Out-of-range stores are rejected.
        let bad = r#"{"positive":{"offset":4145,"counts":[1,2]},"negative":{"offset":0,"counts":[]},"zero":0,"nonfinite":0,"clamped":0}"#;
        assert!(serde_json::from_str::<LogHistogram>(bad).is_err());
    }

    #[test]
    fn tail_means_match_exact() {
        for (name, xs) in samples() {
            let h = hist_of(&xs);
            let s = sorted(&xs);
            let n = s.len();
            for k in [1usize, 7, n / 100, n / 20, n / 4, n, n + 5] {
                let kk = k.min(n);
                let lows = &s[..kk];
                let highs = &s[n - kk..];
                for (which, got, tail) in [
                    ("lowest", h.mean_of_lowest(k as u64).unwrap(), lows),
                    ("highest", h.mean_of_highest(k as u64).unwrap(), highs),
                ] {
                    let exact = tail.iter().sum::<f64>() / kk as f64;
                    let mean_abs = tail.iter().map(|x| x.abs()).sum::<f64>() / kk as f64;
                    // General bound: alpha times the mean magnitude.
                    assert!(
                        (got - exact).abs() <= RELATIVE_ACCURACY * 1.000001 * mean_abs,
                        "{name} {which} k={k}: {got} vs {exact}"
                    );
                    // One-signed tails: within 1% relative of the exact mean.
                    let one_signed =
                        tail.iter().all(|&x| x >= 0.0) || tail.iter().all(|&x| x <= 0.0);
                    if one_signed && exact != 0.0 {
                        let r = (got - exact).abs() / exact.abs();
                        assert!(
                            r <= 0.01,
                            "{name} {which} k={k}: {got} vs {exact} (rel {r})"
                        );
                    }
                }
            }
            assert_eq!(h.mean_of_lowest(0), None);
            assert_eq!(h.mean_of_highest(0), None);
        }
        // Partial bucket weighting: 3 values in one bucket and 1 in another.
        let mut h = LogHistogram::new();
        for x in [10.0, 10.0, 10.0, 20.0] {
            h.add(x);
        }
        let (a, b) = (
            bucket_value(bucket_index(10.0)),
            bucket_value(bucket_index(20.0)),
        );
        assert_eq!(h.mean_of_highest(2), Some((b + a) / 2.0));
        assert_eq!(h.mean_of_highest(3), Some((b + 2.0 * a) / 3.0));
        assert_eq!(h.mean_of_lowest(2), Some(a));
        assert_eq!(h.mean_of_lowest(100), h.mean_of_highest(4));
    }

    #[test]
    fn count_above_is_exact_up_to_threshold_bucket() {
        let mut rng = StdRng::seed_from_u64(61);
        for (name, xs) in samples() {
            let h = hist_of(&xs);
            let s = sorted(&xs);
            let mut thresholds: Vec<f64> = Q_GRID
                .iter()
                .map(|&q| exact_quantile_lower(&s, q))
                .collect();
            thresholds.extend((0..20).map(|_| s[rng.random_range(0..s.len())] * 1.001));
            thresholds.extend([f64::NEG_INFINITY, -1e30, 0.0, 1e30, f64::INFINITY]);
            for t in thresholds {
                let exact = s.iter().filter(|&&x| x > t).count() as i64;
                // Values that may fall on the wrong side of t.
                let near = s
                    .iter()
                    .filter(|&&x| {
                        (x - t).abs() <= tol(x) || (x.abs() < MIN_TRACKED && t.abs() < MIN_TRACKED)
                    })
                    .count() as i64;
                let got = h.count_above(t) as i64;
                assert!(
                    (got - exact).abs() <= near,
                    "{name} t={t}: {got} vs {exact} (near {near})"
                );
                // Consistent with the representatives handed out.
                let by_rep: u64 = h
                    .iter_buckets()
                    .filter(|&(v, _)| v > t)
                    .map(|(_, c)| c)
                    .sum();
                assert_eq!(got as u64, by_rep, "{name} t={t}");
            }
            assert_eq!(h.count_above(f64::NEG_INFINITY), h.count());
            assert_eq!(h.count_above(f64::INFINITY), 0);
            assert_eq!(h.count_above(f64::NAN), 0);
        }
        // The approximation is exact for thresholds away from the data.
        let h = hist_of(&[1.0, 2.0, 5.0, -3.0, 0.0]);
        assert_eq!(h.count_above(1.5), 2);
        assert_eq!(h.count_above(-0.5), 4);
        assert_eq!(h.count_above(-4.0), 5);
    }

    #[test]
    fn nonfinite_excluded_and_huge_clamped() {
        let mut h = LogHistogram::new();
        for x in [1.0, 2.0, 3.0] {
            h.add(x);
        }
        let before = h.clone();
        h.add(f64::NAN);
        h.add(f64::INFINITY);
        h.add(f64::NEG_INFINITY);
        h.add(-f64::NAN);
        assert_eq!(h.nonfinite(), 4);
        assert_eq!(h.count(), 3);
        assert_eq!(h.clamped(), 0);
        for q in Q_GRID {
            assert_eq!(h.quantile(q), before.quantile(q));
        }
        assert_eq!(h.mean_of_highest(10), before.mean_of_highest(10));
        assert_eq!(
            h.iter_buckets().collect::<Vec<_>>(),
            before.iter_buckets().collect::<Vec<_>>()
        );

        // Beyond MAX_TRACKED: clamped into the top bucket, counted, kept in count.
        h.add(5e18);
        h.add(-1e300);
        h.add(f64::MAX);
        h.add(MAX_TRACKED); // exactly at the limit: tracked, not clamped
        assert_eq!(h.clamped(), 3);
        assert_eq!(h.count(), 7);
        assert_eq!(h.nonfinite(), 4);
        let top = bucket_value(MAX_INDEX);
        assert!((top - MAX_TRACKED).abs() <= tol(MAX_TRACKED));
        assert_eq!(h.quantile(1.0), Some(top));
        assert_eq!(h.quantile(0.0), Some(-top));
        let m3 = h.mean_of_highest(3).unwrap();
        assert!((m3 - top).abs() <= 1e-15 * top, "{m3} vs {top}");
        assert_eq!(h.count_above(1e17), 3);

        // Merge carries the counters.
        let mut m = LogHistogram::new();
        m.merge(&h);
        m.merge(&h);
        assert_eq!((m.count(), m.nonfinite(), m.clamped()), (14, 8, 6));
    }

    #[test]
    fn add_count_at_index_matches_add() {
        let xs = normal_mixed(71);
        let direct = hist_of(&xs);
        // Build a dense array per sign, as the GPU engine would.
        let width = (MAX_INDEX - MIN_INDEX + 1) as usize;
        let mut pos = vec![0u64; width];
        let mut neg = vec![0u64; width];
        let mut zero = 0u64;
        for &x in &xs {
            if x.abs() < MIN_TRACKED {
                zero += 1;
            } else {
                let i = (bucket_index(x.abs()) - MIN_INDEX) as usize;
                if x > 0.0 {
                    pos[i] += 1;
                } else {
                    neg[i] += 1;
                }
            }
        }
        let mut via = LogHistogram::new();
        for (k, (&p, &n)) in pos.iter().zip(&neg).enumerate() {
            via.add_count_at_index(1, MIN_INDEX + k as i32, p);
            via.add_count_at_index(-1, MIN_INDEX + k as i32, n);
        }
        via.add_count_at_index(0, 12345, zero);
        assert_eq!(via, direct);

        // Out-of-range indices behave like the magnitudes they stand for.
        let mut a = LogHistogram::new();
        a.add_count_at_index(1, MAX_INDEX + 3, 2);
        a.add_count_at_index(-1, MIN_INDEX - 1, 4);
        a.add_count_at_index(0, 7, 1);
        let mut b = LogHistogram::new();
        b.add(2e18);
        b.add(3e18);
        for _ in 0..4 {
            b.add(-1e-13);
        }
        b.add(0.0);
        assert_eq!(a, b);
        assert_eq!((a.count(), a.clamped(), a.zero_count()), (7, 2, 5));
    }

    #[test]
    fn iter_buckets_ascending_and_complete() {
        let xs = with_zeros(81);
        let h = hist_of(&xs);
        let b: Vec<(f64, u64)> = h.iter_buckets().collect();
        assert!(b.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(b.iter().all(|&(_, c)| c > 0));
        assert_eq!(b.iter().map(|&(_, c)| c).sum::<u64>(), h.count());
        assert!(b.iter().any(|&(v, c)| v == 0.0 && c == (N / 4) as u64));
        assert!(b[0].0 < 0.0 && b[b.len() - 1].0 > 0.0);
        // Every bucket's value is within alpha of some sample value.
        let s = sorted(&xs);
        for &(v, _) in &b {
            let j = s.partition_point(|&x| x < v);
            let nearest = [j.saturating_sub(1), j.min(s.len() - 1)]
                .iter()
                .map(|&j| (s[j] - v).abs() / s[j].abs().max(1e-300))
                .fold(f64::INFINITY, f64::min);
            assert!(
                v == 0.0 || nearest <= RELATIVE_ACCURACY * 1.000001,
                "bucket {v}"
            );
        }
    }

    /// The bit-trick ceiling equals `ceil` on integers, halves, near-integers and across
    /// the whole index range, both signs.
    #[test]
    fn ceil_to_i32_is_ceil() {
        let mut ys = vec![0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 1e-300, -1e-300];
        for k in -5000..5000 {
            let k = k as f64;
            for y in [k, k + 0.25, k + 0.5, k + 0.75, k + 1e-9, k - 1e-9] {
                ys.push(y);
                ys.push(f64::from_bits(y.to_bits() + 1));
                ys.push(f64::from_bits(y.to_bits().saturating_sub(1)));
            }
        }
        for y in ys.into_iter().filter(|y| y.is_finite()) {
            assert_eq!(ceil_to_i32(y), y.ceil() as i32, "y = {y:e}");
        }
    }

    /// `add_slice` equals `add` value by value, on the fast paths (all positive, one bucket,
    /// all zero) and the mixed path (zeros, negatives, non-finite and huge values).
    #[test]
    fn add_slice_matches_add() {
        let positive: Vec<f64> = (1..3000)
            .map(|i| (i as f64 * 0.37).sin().abs() * 1e3 + 1e-6)
            .collect();
        let mut mixed = positive.clone();
        for (i, x) in mixed.iter_mut().enumerate() {
            *x = match i % 7 {
                0 => 0.0,
                1 => -*x,
                2 => f64::NAN,
                3 => 1e30,
                4 => -1e-15,
                _ => *x,
            };
        }
        let constant = vec![3.25; 700];
        let zeros = vec![0.0; 300];
        for xs in [positive, mixed, constant, zeros] {
            let (mut one, mut block) = (LogHistogram::new(), LogHistogram::new());
            for &x in &xs {
                one.add(x);
            }
            block.add_slice(&xs);
            assert_eq!(one, block);
            assert_eq!(
                (one.count(), one.nonfinite(), one.clamped()),
                (block.count(), block.nonfinite(), block.clamped())
            );
        }
    }
}

//! Mergeable statistical accumulators, and the statistics built on them. Pure mathematics
//! with no knowledge of scenarios or the model: the lowest layer with `rng` and `lanes`.
//!
//! Every simulation result in this crate is reduced through the types in this
//! module, whichever way it was produced: CPU worker chunks, the GPU engine and
//! independent shards (other processes or machines) each fill their own
//! accumulators, and the final report is obtained by merging them. The types are
//! therefore designed around one property: **merging is cheap and well defined**.
//!
//! * [`LogHistogram`] is a DDSketch-style log-bucketed histogram with *absolute*
//!   bucket indices ([`bucket_index`]). Two histograms merge by adding integer
//!   counts at equal indices, so the merge is exact and independent of order and
//!   grouping. Quantiles and tail means are accurate to within
//!   [`RELATIVE_ACCURACY`] (relative) of the exact sample statistic. The GPU
//!   engine fills a dense array with the very same indices and hands it over via
//!   [`LogHistogram::add_count_at_index`].
//! * [`Moments`] keeps count, mean and the sum of squared deviations (Welford's
//!   update, Chan et al.'s pairwise merge). Floating-point merges are
//!   deterministic for a fixed merge order, but not bit-identical across orders.
//! * [`interval`] holds the Wilson score interval for probabilities estimated by
//!   counting, and [`exact_quantile_lower`], the reference quantile definition
//!   that [`LogHistogram::quantile`] approximates.
//! * [`exact`] gives the exact sample quantiles, VaR and CVaR of a sorted sample with
//!   their standard errors and 95% intervals (order-statistic and asymptotic).
//! * [`tail`] defines the tail beyond a VaR (its count, exact VaR and CVaR), shared by
//!   the histogram-read figures and the exact references.
//! * [`paired`] holds the paired statistics of two samples on the same units (design
//!   comparisons with common random numbers).
//! * [`score`] scores a forecast sample against what happened (PIT, interval hits, CRPS,
//!   log score) and summarises a sequence of them (coverage, KS test of uniformity).
//! * [`linalg`] is the 3 x 3 Cholesky factor of the shock correlations.

pub mod exact;
pub mod histogram;
pub mod interval;
pub mod linalg;
pub mod moments;
pub mod paired;
pub mod score;
pub mod tail;

pub use exact::Estimate;
pub use histogram::{
    bucket_index, bucket_value, LogHistogram, MAX_TRACKED, MIN_TRACKED, RELATIVE_ACCURACY,
};
pub use interval::{exact_quantile_lower, wilson_interval, Z95};
pub use linalg::cholesky3;
pub use moments::Moments;
pub use tail::{exact_lower_tail, exact_upper_tail, tail_count};

/// Test helper shared by the merge tests of the accumulators: `xs` shuffled and cut into
/// `parts` pieces of random sizes (some may be empty).
#[cfg(test)]
pub(crate) fn random_pieces(
    xs: &[f64],
    parts: usize,
    rng: &mut rand::rngs::StdRng,
) -> Vec<Vec<f64>> {
    use rand::seq::SliceRandom;
    use rand::Rng;
    let mut shuffled = xs.to_vec();
    shuffled.shuffle(rng);
    let mut cuts: Vec<usize> = (0..parts - 1)
        .map(|_| rng.random_range(0..=xs.len()))
        .collect();
    cuts.push(0);
    cuts.push(xs.len());
    cuts.sort_unstable();
    cuts.windows(2)
        .map(|w| shuffled[w[0]..w[1]].to_vec())
        .collect()
}

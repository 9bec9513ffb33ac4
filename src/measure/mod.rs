//! What is measured (`docs/MODEL.md`, "What is measured"): the [`Accumulator`] both engines
//! fill (per-report-day moments and histograms of every metric, per-path summaries, counts),
//! the scenario-level figures computed from it ([`summary`]), and the warnings they carry
//! when values left the histogram's range ([`warnings`]).
//!
//! Below the engines, not above them: the engines fill these accumulators directly, chunk by
//! chunk, which is what lets shards, checkpoints and GPU dispatches merge exactly.

pub mod accumulator;
pub mod review;
pub mod summary;
pub mod warnings;

pub use accumulator::{Accumulator, MetricAcc, PathSummaries};
pub use summary::Summary;

//! tokenrisk: Monte Carlo risk engine for the token economies of decentralized AI networks.
//!
//! Data flow (ARCHITECTURE.md): scenario TOML -> [`scenario::Scenario`] (validated) ->
//! [`model::Params`] -> an engine ([`engine`]) -> [`accumulate::Accumulator`] (mergeable) ->
//! [`summary`] and [`output`] (Parquet, manifest).

pub mod accumulate;
pub mod cli;
pub mod compare;
pub mod convergence;
pub mod engine;
pub mod lanes;
pub mod merge;
pub mod model;
pub mod nightly;
pub mod output;
pub mod presets;
pub mod report;
pub mod resume;
pub mod rng;
pub mod scenario;
pub mod sensitivity;
pub mod shard;
pub mod stats;
pub mod stress;
pub mod summary;
pub mod sweep;

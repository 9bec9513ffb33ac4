//! tokenrisk: Monte Carlo risk engine for the token economies of decentralized AI networks.
//!
//! Data flow (ARCHITECTURE.md): scenario TOML -> [`scenario::Scenario`] (validated) ->
//! [`model::Params`] -> an engine ([`engine`]) -> [`accumulate::Accumulator`] (mergeable) ->
//! [`summary`] and [`output`] (Parquet, manifest).

pub mod accumulate;
pub mod cli;
pub mod engine;
pub mod model;
pub mod output;
pub mod presets;
pub mod rng;
pub mod scenario;
pub mod stats;
pub mod summary;

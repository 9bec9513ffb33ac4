//! tokenrisk: Monte Carlo risk engine for the token economies of decentralized AI networks.
//!
//! Layers, lowest first; a module depends only on layers below it (`docs/ARCHITECTURE.md`):
//!
//! 1. [`lanes`], then [`rng`] and [`stats`]: primitives with no domain knowledge;
//! 2. [`scenario`]: the scenario format, validation, presets and stress shapes;
//! 3. [`model`]: parameters, the step function, the per-path record; [`calibrate`]: market
//!    processes fitted to price histories (reading, increments, maximum likelihood);
//! 4. [`measure`]: the accumulators both engines fill, and the summary figures;
//! 5. [`engine`]: the CPU reference engine and the GPU engine;
//! 6. [`output`]: Parquet tables, manifest, partial files, atomic writes;
//! 7. [`report`]: HTML reports of what `output` wrote;
//! 8. [`workflows`]: single runs, sweeps, comparisons, sensitivity, convergence, nightly;
//! 9. [`scale`]: shards, merges, resumable runs;
//! 10. [`cli`]: the command line, a thin layer over the rest.

pub mod calibrate;
pub mod cli;
pub mod engine;
pub mod lanes;
pub mod measure;
pub mod model;
pub mod output;
pub mod report;
pub mod rng;
pub mod scale;
pub mod scenario;
pub mod stats;
pub mod workflows;

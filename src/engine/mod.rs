//! Engines run paths of the model and fill an [`Accumulator`]. The CPU engine is the
//! reference; a GPU engine (wgpu) produces the same accumulator type, so everything
//! downstream has one implementation. `Backend` selection lives here.

pub mod cpu;

use crate::accumulate::Accumulator;
use crate::model::{Params, PathRecord};
use std::time::Duration;

/// Which engine to use, as the CLI's `--backend` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// A real GPU when one is present, else the CPU engine.
    Auto,
    Cpu,
    Gpu,
}

/// A contiguous range of path ids to simulate (a whole run, or one shard of it).
#[derive(Debug, Clone, Copy)]
pub struct PathRange {
    pub start: u64,
    pub count: u64,
}

/// What a run produced.
pub struct EngineOutput {
    pub acc: Accumulator,
    /// Per-path records in path order.
    pub records: Vec<PathRecord>,
    /// "cpu" or "gpu".
    pub engine: &'static str,
    /// Adapter description: CPU model and thread count, or the GPU adapter's name.
    pub device: String,
    /// Wall time of the simulation and aggregation alone.
    pub simulate_time: Duration,
}

/// Progress callback: (paths done, paths total).
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// Runs the chosen backend. `auto` is the CPU engine until a GPU engine is built in.
pub fn run(
    backend: Backend,
    params: &Params,
    seed: u64,
    range: PathRange,
    progress: Progress,
) -> anyhow::Result<EngineOutput> {
    match backend {
        Backend::Cpu | Backend::Auto => Ok(cpu::run(params, seed, range, progress)),
        Backend::Gpu => anyhow::bail!(
            "--backend gpu: the GPU engine is not built into this version yet; use --backend cpu or auto"
        ),
    }
}

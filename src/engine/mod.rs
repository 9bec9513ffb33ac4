//! Engines run paths of the model and fill an [`Accumulator`]. The CPU engine is the
//! reference; a GPU engine (wgpu) produces the same accumulator type, so everything
//! downstream has one implementation. `Backend` selection lives here.

pub mod cpu;
pub mod gpu;

use crate::measure::Accumulator;
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

/// Runs the chosen backend. `auto` runs the GPU engine on a hardware GPU when one is present
/// (never on a software adapter such as llvmpipe) and the CPU engine otherwise; `gpu` runs the
/// GPU engine on any adapter, software included, and fails when there is none.
pub fn run(
    backend: Backend,
    params: &Params,
    seed: u64,
    range: PathRange,
    progress: Progress,
) -> anyhow::Result<EngineOutput> {
    match backend {
        Backend::Cpu => Ok(cpu::run(params, seed, range, progress)),
        Backend::Auto => match gpu::run(gpu::Selection::Auto, params, seed, range, progress)? {
            Some(out) => Ok(out),
            None => Ok(cpu::run(params, seed, range, progress)),
        },
        Backend::Gpu => Ok(
            gpu::run(gpu::Selection::Any, params, seed, range, progress)?
                .expect("Selection::Any returns an engine output or an error"),
        ),
    }
}

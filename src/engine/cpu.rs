//! The CPU reference engine: rayon over fixed chunks of paths, each path's state in locals.
//!
//! Determinism: paths are cut into fixed chunks of `CHUNK_PATHS` ids (independent of the
//! thread count), each chunk fills its own accumulator, and chunk accumulators are merged in
//! chunk order. Histograms and counts are exact under any grouping; means are identical for
//! any thread count because the merge order is fixed. Memory is bounded by simulating
//! `BATCH_CHUNKS` chunks at a time.

use super::{EngineOutput, PathRange, Progress};
use crate::accumulate::Accumulator;
use crate::model::{simulate_path, Params, PathRecord};
use crate::rng::seed_key;
use rayon::prelude::*;
use std::time::Instant;

/// Paths per chunk: large enough to amortise a chunk accumulator, small enough to balance.
pub const CHUNK_PATHS: u64 = 1024;
/// Chunks simulated between in-order merges.
const BATCH_CHUNKS: u64 = 64;

fn simulate_chunk(
    params: &Params,
    key: [u32; 2],
    report_days: &[u32],
    start: u64,
    end: u64,
) -> (Accumulator, Vec<PathRecord>) {
    let mut acc = Accumulator::new(report_days.to_vec());
    let mut records = Vec::with_capacity((end - start) as usize);
    for path in start..end {
        let record = simulate_path(params, key, path, |row, metrics| {
            acc.add_report(row, metrics)
        });
        acc.add_path(&record);
        records.push(record);
    }
    (acc, records)
}

pub fn run(params: &Params, seed: u64, range: PathRange, progress: Progress) -> EngineOutput {
    let t0 = Instant::now();
    let key = seed_key(seed);
    let report_days = params.report_days();
    let mut acc = Accumulator::new(report_days.clone());
    let mut records = Vec::with_capacity(range.count as usize);
    let n_chunks = range.count.div_ceil(CHUNK_PATHS);
    let end = range.start + range.count;
    let mut chunk = 0;
    while chunk < n_chunks {
        let batch_end = (chunk + BATCH_CHUNKS).min(n_chunks);
        let parts: Vec<_> = (chunk..batch_end)
            .into_par_iter()
            .map(|c| {
                let s = range.start + c * CHUNK_PATHS;
                simulate_chunk(params, key, &report_days, s, (s + CHUNK_PATHS).min(end))
            })
            .collect();
        for (part, recs) in parts {
            acc.merge(&part);
            records.extend(recs);
        }
        chunk = batch_end;
        progress(records.len() as u64, range.count);
    }
    EngineOutput {
        acc,
        records,
        engine: "cpu",
        // The processor, not the thread count: outputs must not depend on threads.
        device: cpu_model(),
        simulate_time: t0.elapsed(),
    }
}

/// The processor's model name (Linux `/proc/cpuinfo`), or the architecture elsewhere.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

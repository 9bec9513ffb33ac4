//! The CPU reference engine: rayon over fixed chunks of paths, each chunk stepped in lane
//! groups of `LANES` paths (structure of arrays, `model::LaneState`).
//!
//! Determinism: paths are cut into fixed chunks of `CHUNK_PATHS` ids (independent of the
//! thread count), each chunk fills its own accumulator, and chunk accumulators are merged in
//! chunk order. Histograms and counts are exact under any grouping (report-day histograms
//! therefore live in per-worker sets); means are identical for any thread count because the
//! merge order is fixed. Memory is bounded by simulating `BATCH_CHUNKS_PER_THREAD` chunks
//! per thread at a time. All of a chunk's lane groups move in lockstep, and the kernel is
//! compiled for the best instruction set the processor has ([`Isa`]), with the same
//! per-path bits as the one-lane reference `model::simulate_path` on every set.

use super::{Cancelled, Control, EngineOutput, PathRange};
use crate::measure::Accumulator;
use crate::model::{step, LaneState, Params, PathRecord, PathState, N_METRICS};
use crate::rng::seed_key;
use crate::stats::LogHistogram;
use rayon::prelude::*;
use std::sync::Mutex;
use std::time::Instant;

/// Paths per chunk: large enough to amortise a chunk accumulator, small enough to balance.
pub const CHUNK_PATHS: u64 = 1024;
/// Chunks simulated between in-order merges, per worker thread. Each chunk holds its own
/// accumulator (report moments and per-path summaries, ~0.4 MB for a 4-year weekly
/// scenario) and records until merged, and each running chunk a worker scratch with a full
/// set of report histograms (~14 MB), so this bounds memory (`workflows::preflight::estimate` counts a
/// full accumulator per chunk in flight, an upper bound); it does not affect results.
const BATCH_CHUNKS_PER_THREAD: u64 = 2;

/// Paths per lane group: the model is stepped on `LANES` paths at once in structure-of-arrays
/// form (`model::LaneState`), one AVX-512 register of f64 (two AVX2 registers).
pub const LANES: usize = 16;

/// Chunks (each with its own accumulator) the engine holds at once between in-order merges.
pub fn chunks_in_flight() -> u64 {
    BATCH_CHUNKS_PER_THREAD * rayon::current_num_threads().max(2) as u64
}

/// Instruction sets the lane kernel is compiled for. Results are bit-identical on all of them
/// (element-wise IEEE operations in the same order, no FMA contraction, no libm), so the
/// choice is only about speed; the `engine::cpu` tests check that on every set this processor has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    Avx512,
    Avx2,
    Baseline,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Baseline => "baseline",
        }
    }

    /// Whether this processor can run the kernel compiled for `self`.
    pub fn is_supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Isa::Avx512 => {
                    is_x86_feature_detected!("avx512f")
                        && is_x86_feature_detected!("avx512dq")
                        && is_x86_feature_detected!("avx512vl")
                        && is_x86_feature_detected!("avx512bw")
                        && is_x86_feature_detected!("avx2")
                        && is_x86_feature_detected!("fma")
                }
                Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
                Isa::Baseline => true,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Isa::Baseline
        }
    }

    /// Every instruction set this processor supports, best first.
    pub fn supported() -> Vec<Isa> {
        [Isa::Avx512, Isa::Avx2, Isa::Baseline]
            .into_iter()
            .filter(|i| i.is_supported())
            .collect()
    }

    /// The set the engine uses: `TOKENRISK_CPU_ISA` (avx512, avx2 or baseline) when given
    /// and supported, else the best this processor has. Decided once per process.
    pub fn selected() -> Isa {
        Isa::selection().0
    }

    /// Why `TOKENRISK_CPU_ISA` was not followed, when it was set to a set this processor
    /// lacks (for the caller to show once).
    pub fn selection_warning() -> Option<&'static str> {
        Isa::selection().1.as_deref()
    }

    fn selection() -> &'static (Isa, Option<String>) {
        static SELECTED: std::sync::OnceLock<(Isa, Option<String>)> = std::sync::OnceLock::new();
        SELECTED.get_or_init(|| {
            let supported = Isa::supported();
            let best = supported[0];
            let Ok(want) = std::env::var("TOKENRISK_CPU_ISA") else {
                return (best, None);
            };
            match supported.iter().find(|i| i.name() == want) {
                Some(&isa) => (isa, None),
                None => {
                    let names: Vec<&str> = supported.iter().map(|i| i.name()).collect();
                    let why = format!(
                        "TOKENRISK_CPU_ISA={want} is not available on this processor \
                         (supported: {}); using {}",
                        names.join(", "),
                        best.name()
                    );
                    (best, Some(why))
                }
            }
        })
    }
}

/// One worker's reusable memory: allocating it per chunk cost page faults and zeroing.
struct Scratch {
    /// Report-day histograms (`Accumulator::series` layout), filled across chunks.
    hists: Vec<LogHistogram>,
    /// The chunk's lane groups.
    groups: Vec<LaneState<LANES>>,
    /// Each metric's values across the chunk at a report day.
    by_metric: Vec<Vec<f64>>,
}

impl Scratch {
    fn new(n_series: usize) -> Scratch {
        Scratch {
            hists: vec![LogHistogram::default(); n_series],
            groups: Vec::new(),
            by_metric: vec![Vec::new(); N_METRICS],
        }
    }
}

/// One chunk of paths to simulate: ids `start..end` of the run keyed by `key`.
struct Chunk<'a> {
    params: &'a Params,
    key: [u32; 2],
    report_days: &'a [u32],
    start: u64,
    end: u64,
}

/// The CPU engine's kernel: one chunk of paths [start, end) stepped in lockstep as lane
/// groups. `inline(always)` so each `#[target_feature]` wrapper below compiles its own copy
/// with its instruction set.
///
/// The whole chunk moves together (1,024 states, ~290 KB, stay in L2) so that at a report
/// day each metric's 1,024 values go into its histogram and moments at once: each of the
/// (report day, metric) histograms is then touched once per chunk, not once per path, which
/// matters because they do not fit in cache. Histograms go into `hists` (one set per worker,
/// shared across its chunks: integer counts merge exactly in any grouping), moments into
/// the chunk's own accumulator (merged in chunk order, for deterministic means).
#[inline(always)]
fn simulate_chunk_lanes(job: &Chunk, scratch: &mut Scratch) -> (Accumulator, Vec<PathRecord>) {
    let &Chunk {
        params,
        key,
        report_days,
        start,
        end,
    } = job;
    let mut acc = Accumulator::new(report_days.to_vec());
    let live = (end - start) as usize;
    let n_groups = live.div_ceil(LANES);
    let initial = LaneState::<LANES>::splat(&PathState::initial(params));
    let Scratch {
        hists,
        groups,
        by_metric,
    } = scratch;
    groups.clear();
    groups.resize(n_groups, initial);
    // Lanes past `live` in the last group simulate the next ids and are dropped (no side
    // effects: every draw is addressed by path id).
    let ids: Vec<[u64; LANES]> = (0..n_groups)
        .map(|g| std::array::from_fn(|i| start + (g * LANES + i) as u64))
        .collect();
    for column in by_metric.iter_mut() {
        column.resize(n_groups * LANES, 0.0);
    }
    // Not a closure: closures are separate functions that need not inherit the kernel's
    // target features, and the report adds must vectorize too.
    report_row(groups, live, 0, by_metric, &mut acc, hists);
    let mut row = 1;
    for t in 0..params.steps {
        for (s, ids) in groups.iter_mut().zip(&ids) {
            step(params, s, key, ids, t);
        }
        if params.is_report_step(t + 1) {
            report_row(groups, live, row, by_metric, &mut acc, hists);
            row += 1;
        }
    }
    let mut records = Vec::with_capacity(live);
    for k in 0..live {
        let record =
            PathRecord::from_state(params, start + k as u64, &groups[k / LANES].lane(k % LANES));
        acc.add_path(&record);
        records.push(record);
    }
    (acc, records)
}

/// Report row `row`: each metric's values of the chunk's `live` paths go into the chunk's
/// moments and the worker's histograms, a whole column at a time.
#[inline(always)]
fn report_row(
    groups: &[LaneState<LANES>],
    live: usize,
    row: usize,
    by_metric: &mut [Vec<f64>],
    acc: &mut Accumulator,
    hists: &mut [LogHistogram],
) {
    for (g, s) in groups.iter().enumerate() {
        for (m, lanes) in s.observe().iter().enumerate() {
            by_metric[m][g * LANES..(g + 1) * LANES].copy_from_slice(&lanes.0);
        }
    }
    for (m, column) in by_metric.iter().enumerate() {
        let column = &column[..live];
        acc.metric_mut(row, m).moments.add_slice(column);
        hists[row * N_METRICS + m].add_slice(column);
    }
}

/// A copy of the kernel compiled with `features` (the caller checks the processor has them).
macro_rules! isa_kernel {
    ($name:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        unsafe fn $name(job: &Chunk, scratch: &mut Scratch) -> (Accumulator, Vec<PathRecord>) {
            simulate_chunk_lanes(job, scratch)
        }
    };
}
isa_kernel!(
    simulate_chunk_avx512,
    "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma"
);
isa_kernel!(simulate_chunk_avx2, "avx2,fma");

fn simulate_chunk(isa: Isa, job: &Chunk, scratch: &mut Scratch) -> (Accumulator, Vec<PathRecord>) {
    assert!(
        isa.is_supported(),
        "{} kernel on a processor without it",
        isa.name()
    );
    match isa {
        // SAFETY: the processor supports the features these kernels are compiled for
        // (checked just above).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { simulate_chunk_avx512(job, scratch) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { simulate_chunk_avx2(job, scratch) },
        _ => simulate_chunk_lanes(job, scratch),
    }
}

/// Runs `range` on the CPU engine into a fresh accumulator.
pub fn run(
    params: &Params,
    seed: u64,
    range: PathRange,
    ctl: &Control,
) -> Result<EngineOutput, Cancelled> {
    run_with_isa(params, seed, range, ctl, Isa::selected())
}

/// [`run`] on a given instruction set (tests and benchmarks compare them).
pub fn run_with_isa(
    params: &Params,
    seed: u64,
    range: PathRange,
    ctl: &Control,
    isa: Isa,
) -> Result<EngineOutput, Cancelled> {
    let t0 = Instant::now();
    let mut acc = Accumulator::new(params.report_days());
    let mut records = Vec::with_capacity(range.count as usize);
    run_into(params, seed, range, &mut acc, &mut records, ctl, isa)?;
    Ok(EngineOutput {
        acc,
        records,
        engine: "cpu",
        // The processor, not the thread count: outputs must not depend on threads.
        device: cpu_model(),
        simulate_time: t0.elapsed(),
        phases: Vec::new(),
    })
}

/// Simulates `range` on instruction set `isa` (normally [`Isa::selected`]) and folds it into
/// `acc` and `records`, chunk by chunk in path order: the one fold of the CPU engine, used
/// for a whole run and to grow one ([`super::extend`]). `acc` must hold the paths before
/// `range.start` (or none).
pub fn run_into(
    params: &Params,
    seed: u64,
    range: PathRange,
    acc: &mut Accumulator,
    records: &mut Vec<PathRecord>,
    ctl: &Control,
    isa: Isa,
) -> Result<(), Cancelled> {
    let key = seed_key(seed);
    let report_days = params.report_days();
    records.reserve(range.count as usize);
    let n_chunks = range.count.div_ceil(CHUNK_PATHS);
    let end = range.start + range.count;
    // Worker scratch (report-day histograms, lane states, report columns), one per
    // concurrently running chunk and reused across chunks; the histograms are merged into
    // `acc` at the end (exact: integer counts).
    let n_series = acc.series.len();
    let pool: Mutex<Vec<Scratch>> = Mutex::new(Vec::new());
    let mut chunk = 0;
    let mut done = 0;
    while chunk < n_chunks {
        // A cancelled fold leaves `acc` partial; callers drop it.
        ctl.check()?;
        let batch = chunks_in_flight();
        let batch_end = (chunk + batch).min(n_chunks);
        let parts: Vec<_> = (chunk..batch_end)
            .into_par_iter()
            .map(|c| {
                let s = range.start + c * CHUNK_PATHS;
                let taken = pool.lock().expect("scratch pool").pop();
                let mut scratch = taken.unwrap_or_else(|| Scratch::new(n_series));
                let job = Chunk {
                    params,
                    key,
                    report_days: &report_days,
                    start: s,
                    end: (s + CHUNK_PATHS).min(end),
                };
                let part = simulate_chunk(isa, &job, &mut scratch);
                pool.lock().expect("scratch pool").push(scratch);
                part
            })
            .collect();
        for (part, recs) in parts {
            acc.merge(&part);
            done += recs.len() as u64;
            records.extend(recs);
        }
        chunk = batch_end;
        ctl.report(done, range.count);
    }
    for scratch in pool.into_inner().expect("scratch pool") {
        for (series, hist) in acc.series.iter_mut().zip(&scratch.hists) {
            series.hist.merge(hist);
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::simulate_path;

    /// On every instruction set this processor has, the lane kernel gives every path
    /// exactly the record the one-lane reference gives and the same report values
    /// (histograms identical), including a partial last lane group; three scenarios cover
    /// every emission, burn and payment kind and shocks, vesting and cost jumps.
    #[test]
    fn lane_kernels_match_the_one_path_reference() {
        for name in [
            "death_spiral_stress",
            "render_bme",
            "fetch_inflation",
            "bittensor_halving",
        ] {
            let preset = crate::scenario::preset(name).unwrap();
            let mut s = crate::scenario::parse(preset.toml, preset.file).unwrap();
            s.scenario.horizon_days = 200;
            s.scenario.report_every = 7;
            let params = Params::compile(&s);
            let key = seed_key(5);
            let (start, n) = (1000u64, 1030u64);
            let mut reference = Accumulator::new(params.report_days());
            let mut reference_records = Vec::new();
            for path in start..start + n {
                let r = simulate_path(&params, key, path, |row, m| reference.add_report(row, m));
                reference.add_path(&r);
                reference_records.push(r);
            }
            for isa in Isa::supported() {
                let out = run_with_isa(
                    &params,
                    5,
                    PathRange { start, count: n },
                    &Control::none(),
                    isa,
                )
                .unwrap();
                for (a, b) in out.records.iter().zip(&reference_records) {
                    assert_eq!(a, b, "{name} {} path {}", isa.name(), b.path);
                }
                for (a, b) in out.acc.series.iter().zip(&reference.series) {
                    assert_eq!(a.hist, b.hist, "{name} {}", isa.name());
                    assert_eq!(a.moments.n, b.moments.n);
                    assert_eq!(
                        (a.moments.min, a.moments.max),
                        (b.moments.min, b.moments.max)
                    );
                    let tol = 1e-12 * b.moments.mean.abs().max(1e-300);
                    assert!((a.moments.mean - b.moments.mean).abs() <= tol, "{name}");
                }
            }
        }
    }
}

//! Engines run paths of the model and fill an [`Accumulator`]. The CPU engine is the
//! reference; the GPU engine (wgpu) produces the same accumulator type, so everything
//! downstream has one implementation. Backend selection, the caller's [`Control`] (progress
//! and cancellation) and [`extend`], the one fold that grows a run by more path ids (rounds
//! of `--target-se`, checkpoint blocks), live here.

pub mod cpu;
pub mod gpu;

use crate::measure::Accumulator;
use crate::model::{Params, PathRecord};
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Where that time went, where the engine measures it (the GPU engine: GPU work,
    /// read-back, host reduction, per-path records; summed over devices); empty otherwise.
    pub phases: Vec<(&'static str, Duration)>,
}

impl EngineOutput {
    /// No paths yet, on `engine` (see [`extend`]).
    pub fn empty(params: &Params, engine: &'static str, device: String) -> EngineOutput {
        EngineOutput {
            acc: Accumulator::new(params.report_days()),
            records: Vec::new(),
            engine,
            device,
            simulate_time: Duration::ZERO,
            phases: Vec::new(),
        }
    }
}

/// A run stopped by its caller ([`Control::cancel`]) between two chunks of paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the run was cancelled")]
pub struct Cancelled;

/// How a caller follows and stops a run: `progress` gets (paths done, paths total) after
/// every batch of chunks (CPU) or submission (GPU), `cancel`, when set, stops the run
/// before the next one with [`Cancelled`], and `warn` gets what the user must be told
/// (`--backend auto` running the CPU engine after a GPU failed). None changes any result.
#[derive(Clone, Copy, Default)]
pub struct Control<'a> {
    pub progress: Option<&'a (dyn Fn(u64, u64) + Sync)>,
    pub cancel: Option<&'a AtomicBool>,
    pub warn: Option<&'a (dyn Fn(&str) + Sync)>,
}

impl<'a> Control<'a> {
    /// No progress reports and no cancellation.
    pub fn none() -> Control<'static> {
        Control::default()
    }

    /// Reports progress, if anyone listens.
    pub fn report(&self, done: u64, total: u64) {
        if let Some(p) = self.progress {
            p(done, total);
        }
    }

    /// Passes a warning on, if anyone listens.
    pub fn warn(&self, message: &str) {
        if let Some(w) = self.warn {
            w(message);
        }
    }

    /// `Err(Cancelled)` once the caller has asked the run to stop.
    pub fn check(&self) -> Result<(), Cancelled> {
        match self.cancel {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(Cancelled),
            _ => Ok(()),
        }
    }

    /// The same cancellation with another progress callback (a caller that reports a part
    /// of a larger run in its own terms).
    pub fn with_progress<'b>(&self, progress: &'b (dyn Fn(u64, u64) + Sync)) -> Control<'b>
    where
        'a: 'b,
    {
        Control {
            progress: Some(progress),
            cancel: self.cancel,
            warn: self.warn,
        }
    }
}

/// Runs the chosen backend. `auto` runs the GPU engine on a hardware GPU when one is present
/// (never on a software adapter such as llvmpipe) and the CPU engine otherwise, or when the
/// GPU fails ([`auto`]); `gpu` runs the GPU engine on any adapter, software included, and
/// fails when there is none or when it fails.
pub fn run(
    backend: Backend,
    params: &Params,
    seed: u64,
    range: PathRange,
    ctl: &Control,
) -> anyhow::Result<EngineOutput> {
    // The engines allocate their own records; the same reservation, released, tells first
    // whether they can.
    reserve_records(&mut Vec::new(), range.count)?;
    Ok(match backend {
        Backend::Cpu => cpu::run(params, seed, range, ctl)?,
        Backend::Auto => auto(gpu::Selection::Auto, params, seed, range, ctl)?,
        Backend::Gpu => gpu::run(gpu::Selection::Any, params, seed, range, ctl)
            .map_err(gpu::GpuError::into_anyhow)?
            .expect("Selection::Any returns an engine output or an error"),
    })
}

/// `--backend auto` over the adapters `sel` accepts (tests pass [`gpu::Selection::Any`] to
/// run it on lavapipe): the GPU engine when there is a GPU; the CPU engine when there is none,
/// or when the GPU fails, with a warning through [`Control::warn`] that says so and why. A
/// GPU run returns nothing until it is whole, so the fallback reruns every path of `range` on
/// the CPU and never mixes engines. Bad settings and cancellation are not GPU failures: they
/// are returned as they are.
pub fn auto(
    sel: gpu::Selection,
    params: &Params,
    seed: u64,
    range: PathRange,
    ctl: &Control,
) -> anyhow::Result<EngineOutput> {
    match gpu::run(sel, params, seed, range, ctl) {
        Ok(Some(out)) => Ok(out),
        Ok(None) => Ok(cpu::run(params, seed, range, ctl)?),
        Err(e) if e.is_device_failure() => {
            ctl.warn(&format!(
                "the GPU engine failed before producing results, so all {} paths run on the \
                 CPU engine instead (same random numbers; results within the GPU engine's \
                 stated tolerances, and the outputs say engine = cpu): {e}",
                range.count
            ));
            Ok(cpu::run(params, seed, range, ctl)?)
        }
        Err(e) => Err(e.into_anyhow()),
    }
}

/// Reserves room for `more` per-path records in `records` with `try_reserve_exact`, so that
/// a run the memory preflight let through (or that skipped it) but that the process cannot
/// hold (an address-space limit, a cgroup) fails here with an error saying so, not with an
/// abort later. Reserving touches no page, so it costs nothing where it fits.
pub fn reserve_records(records: &mut Vec<PathRecord>, more: u64) -> anyhow::Result<()> {
    let paths = records.len() as u64 + more;
    let bytes = paths.saturating_mul(std::mem::size_of::<PathRecord>() as u64);
    usize::try_from(more)
        .map_err(|_| anyhow::anyhow!("{paths} paths do not fit in this machine's address space"))
        .and_then(|n| records.try_reserve_exact(n).map_err(anyhow::Error::from))
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot allocate {:.1} GiB for the per-path records of {paths} paths ({e}): \
                 run fewer paths (--paths), or split the run (--shard I/N) and merge on a \
                 machine with more memory",
                bytes as f64 / (1u64 << 30) as f64
            )
        })
}

/// Adds the paths of `range` (which must follow the paths of `out`) to `out`, in path order,
/// on `out`'s engine. On the CPU engine this is exactly the fold the engine does inside one
/// run (each 1,024-path chunk merged in order), so a run grown this way equals, bit for bit,
/// one run of all its paths; on the GPU engine the added paths' accumulator is merged in
/// path order (counts and histograms exact, means to rounding).
pub fn extend(
    out: &mut EngineOutput,
    backend: Backend,
    params: &Params,
    seed: u64,
    range: PathRange,
    ctl: &Control,
) -> anyhow::Result<()> {
    reserve_records(&mut out.records, range.count)?;
    if out.engine == "cpu" {
        cpu::run_into(
            params,
            seed,
            range,
            &mut out.acc,
            &mut out.records,
            ctl,
            cpu::Isa::selected(),
        )?;
    } else {
        // The run began on the GPU: it goes on there or fails, never on another engine.
        let sel = match backend {
            Backend::Auto => gpu::Selection::Auto,
            _ => gpu::Selection::Any,
        };
        let more = gpu::run(sel, params, seed, range, ctl)
            .map_err(gpu::GpuError::into_anyhow)?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the run began on the GPU engine but no GPU is available now; its paths \
                     are not mixed with the CPU engine's: rerun it whole with --backend cpu"
                )
            })?;
        out.acc.merge(&more.acc);
        out.records.extend(more.records);
        out.device = more.device;
    }
    Ok(())
}

/// The engine `backend` would run on ("cpu" or "gpu"), deciding `auto` as [`run`] does,
/// and its device description.
pub fn resolve(backend: Backend) -> anyhow::Result<(&'static str, String)> {
    let gpu_of = |sel| -> anyhow::Result<Option<String>> {
        let ctx = gpu::context(sel).map_err(gpu::GpuError::into_anyhow)?;
        Ok(ctx.map(|c| c.description()))
    };
    Ok(match backend {
        Backend::Cpu => ("cpu", cpu::cpu_model()),
        Backend::Auto => match gpu_of(gpu::Selection::Auto)? {
            Some(d) => ("gpu", d),
            None => ("cpu", cpu::cpu_model()),
        },
        Backend::Gpu => (
            "gpu",
            gpu_of(gpu::Selection::Any)?.expect("Selection::Any returns a context or an error"),
        ),
    })
}

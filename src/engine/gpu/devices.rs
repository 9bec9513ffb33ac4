//! Several GPUs in one run (`--devices all|0,2`): the path ids are cut into one contiguous
//! part per device, each part runs on its device's own queue in its own thread, and the parts
//! are merged in path order, as shards are (`Accumulator::merge`): counts and histograms equal
//! one device's, means and variances to rounding. A device that fails fails the run, naming
//! it; no part is ever replaced by another engine's.
//!
//! Parts are whole workgroups (multiples of 64 paths) as equal as that allows, because the
//! devices of one run are alike (`all` takes only adapters of the best one's type and
//! backend); a run with fewer workgroups than devices leaves the last devices idle.

use super::run::WG_SIZE;
use super::{run, Budgets, GpuContext, GpuError, Settings};
use crate::engine::{Control, EngineOutput, PathRange};
use crate::model::Params;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Which adapters a run uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Devices {
    /// The best adapter (the default).
    #[default]
    Best,
    /// Every adapter of the best one's device type and backend.
    All,
    /// These adapters, by their number in `tokenrisk devices` (one may repeat: two devices
    /// on one adapter, which is how tests run two devices on lavapipe).
    List(Vec<usize>),
}

/// An adapter as [`Devices::resolve`] sees it: its description, device type and backend.
pub type Listed = (String, wgpu::DeviceType, wgpu::Backend);

/// Most devices in one run.
pub const MAX_DEVICES: usize = 64;

impl Devices {
    /// Parses `best`, `all` or a comma-separated list of adapter numbers (`0,2`).
    pub fn parse(text: &str) -> Result<Devices, String> {
        let t = text.trim();
        let allowed = "allowed: best, all, or adapter numbers separated by commas (0,2; \
                       `tokenrisk devices` lists them)";
        match t {
            "best" => return Ok(Devices::Best),
            "all" => return Ok(Devices::All),
            _ => {}
        }
        let mut list = Vec::new();
        for part in t.split(',') {
            match part.trim().parse::<usize>() {
                Ok(i) => list.push(i),
                Err(_) => {
                    return Err(format!(
                        "--devices {text:?}: {part:?} is not a number; {allowed}"
                    ))
                }
            }
        }
        if list.len() > MAX_DEVICES {
            return Err(format!(
                "--devices {text:?}: {} devices; allowed: at most {MAX_DEVICES}",
                list.len()
            ));
        }
        Ok(Devices::List(list))
    }

    /// The adapter numbers to open, given the eligible adapters best first.
    pub fn resolve(&self, adapters: &[Listed]) -> Result<Vec<usize>, String> {
        if adapters.is_empty() {
            return Err("no GPU adapter".into());
        }
        match self {
            Devices::Best => Ok(vec![0]),
            Devices::All => {
                let best = &adapters[0];
                Ok((0..adapters.len())
                    .filter(|&i| adapters[i].1 == best.1 && adapters[i].2 == best.2)
                    .take(MAX_DEVICES)
                    .collect())
            }
            Devices::List(list) => {
                let bad: Vec<String> = list
                    .iter()
                    .filter(|&&i| i >= adapters.len())
                    .map(|i| i.to_string())
                    .collect();
                if bad.is_empty() {
                    Ok(list.clone())
                } else {
                    let seen: Vec<String> = adapters
                        .iter()
                        .enumerate()
                        .map(|(i, a)| format!("{i}: {}", a.0))
                        .collect();
                    Err(format!(
                        "--devices: no adapter {}; allowed: 0 to {} ({})",
                        bad.join(", "),
                        adapters.len() - 1,
                        seen.join(", ")
                    ))
                }
            }
        }
    }
}

/// The parts of `range`, one per device: whole workgroups, as equal as possible, in order.
pub fn split(range: PathRange, devices: usize) -> Vec<PathRange> {
    let devices = devices.max(1) as u64;
    let groups = range.count.div_ceil(WG_SIZE);
    let mut out = Vec::new();
    let mut start = 0u64;
    for d in 0..devices {
        let groups_here = groups / devices + u64::from(d < groups % devices);
        let count = (groups_here * WG_SIZE).min(range.count - start);
        if count > 0 {
            out.push(PathRange {
                start: range.start + start,
                count,
            });
        }
        start += count;
    }
    out
}

/// "NAME (BACKEND, TYPE)", or "N x NAME ..." / "A + B" for several devices.
fn describe_all(ctxs: &[&GpuContext]) -> String {
    let names: Vec<String> = ctxs.iter().map(|c| c.description()).collect();
    if names.len() > 1 && names.iter().all(|n| *n == names[0]) {
        format!("{} x {}", names.len(), names[0])
    } else {
        names.join(" + ")
    }
}

/// Runs `range` on `ctxs` (one part each, see the module docs) with `budgets` (default:
/// [`Budgets::for_adapter`] of each device) and `settings`, and merges the parts in path order.
pub fn run_on(
    ctxs: &[Arc<GpuContext>],
    params: &Params,
    seed: u64,
    range: PathRange,
    ctl: &Control,
    budgets: Option<Budgets>,
    settings: &Settings,
) -> Result<EngineOutput, GpuError> {
    assert!(!ctxs.is_empty(), "run_on needs a device");
    let t0 = Instant::now();
    let budgets_of =
        |c: &GpuContext| budgets.unwrap_or_else(|| Budgets::for_adapter(c.is_software(), settings));
    let parts = split(range, ctxs.len());
    if parts.len() <= 1 {
        let mut out = run::run(
            &ctxs[0],
            params,
            seed,
            range,
            ctl,
            &budgets_of(&ctxs[0]),
            settings,
        )?;
        out.device = describe_all(&[&ctxs[0]]);
        return Ok(out);
    }
    let used: Vec<&GpuContext> = ctxs.iter().take(parts.len()).map(|c| &**c).collect();
    let done: Vec<AtomicU64> = parts.iter().map(|_| AtomicU64::new(0)).collect();
    let report = |part: usize, d: u64| {
        done[part].store(d, Ordering::Relaxed);
        let sum: u64 = done.iter().map(|x| x.load(Ordering::Relaxed)).sum();
        ctl.report(sum.min(range.count), range.count);
    };
    let outcomes: Vec<Result<EngineOutput, GpuError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .iter()
            .zip(&used)
            .enumerate()
            .map(|(i, (&part, &ctx))| {
                let report = &report;
                let budgets = budgets_of(ctx);
                scope.spawn(move || {
                    let progress = move |d: u64, _t: u64| report(i, d);
                    let part_ctl = ctl.with_progress(&progress);
                    run::run(ctx, params, seed, part, &part_ctl, &budgets, settings)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    // The first failure in path order (a cancellation only when nothing failed).
    let mut outs = Vec::with_capacity(outcomes.len());
    let mut cancelled = false;
    for o in outcomes {
        match o {
            Ok(out) => outs.push(out),
            Err(GpuError::Cancelled) => cancelled = true,
            Err(e) => return Err(e),
        }
    }
    if cancelled {
        return Err(GpuError::Cancelled);
    }
    let mut it = outs.into_iter();
    let mut out = it.next().expect("at least two parts");
    for more in it {
        out.acc.merge(&more.acc);
        out.records.extend(more.records);
        for (p, q) in out.phases.iter_mut().zip(&more.phases) {
            p.1 += q.1;
        }
    }
    out.device = describe_all(&used);
    out.simulate_time = t0.elapsed();
    ctl.report(range.count, range.count);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_whole_workgroups_in_order() {
        for (count, n) in [
            (1000u64, 2usize),
            (64, 3),
            (65, 2),
            (1, 4),
            (10_000, 8),
            (640, 10),
        ] {
            let r = PathRange { start: 77, count };
            let parts = split(r, n);
            assert!(parts.len() <= n && !parts.is_empty());
            let mut next = r.start;
            for (i, p) in parts.iter().enumerate() {
                assert_eq!(p.start, next, "{count} {n}");
                assert!(p.count > 0);
                if i + 1 < parts.len() {
                    assert_eq!(p.count % WG_SIZE, 0, "{count} {n}: {parts:?}");
                }
                next += p.count;
            }
            assert_eq!(next, r.start + count);
            let max = parts.iter().map(|p| p.count).max().unwrap();
            let min = parts.iter().map(|p| p.count).min().unwrap();
            // Workgroup counts differ by at most one; the last part may end mid-workgroup.
            if parts.len() == n {
                assert!(max - min < 2 * WG_SIZE, "{parts:?}");
            }
        }
    }

    #[test]
    fn devices_parse_and_resolve() {
        assert_eq!(Devices::parse("best").unwrap(), Devices::Best);
        assert_eq!(Devices::parse(" all ").unwrap(), Devices::All);
        assert_eq!(Devices::parse("0,2").unwrap(), Devices::List(vec![0, 2]));
        assert_eq!(Devices::parse("0, 0").unwrap(), Devices::List(vec![0, 0]));
        for bad in ["", "x", "0,,1", "-1", "1.5"] {
            let e = Devices::parse(bad).unwrap_err();
            assert!(e.contains("allowed: best, all"), "{bad}: {e}");
        }
        let info = |name: &str, t| (name.to_string(), t, wgpu::Backend::Vulkan);
        let adapters = [
            info("H100 a", wgpu::DeviceType::DiscreteGpu),
            info("H100 b", wgpu::DeviceType::DiscreteGpu),
            info("llvmpipe", wgpu::DeviceType::Cpu),
        ];
        assert_eq!(Devices::Best.resolve(&adapters).unwrap(), vec![0]);
        assert_eq!(Devices::All.resolve(&adapters).unwrap(), vec![0, 1]);
        assert_eq!(
            Devices::List(vec![2, 0]).resolve(&adapters).unwrap(),
            vec![2, 0]
        );
        let e = Devices::List(vec![0, 3, 5]).resolve(&adapters).unwrap_err();
        assert!(e.contains("no adapter 3, 5") && e.contains("0 to 2"), "{e}");
        assert!(e.contains("2: llvmpipe"), "{e}");
    }
}

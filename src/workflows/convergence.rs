//! Convergence control (`tokenrisk run --target-se X [--max-paths N]`): keep adding paths
//! until the Monte Carlo standard error of P(spiral) is below a target, or a budget of paths
//! is spent.
//!
//! Invariants:
//! - Path ids continue from round to round (same seed, ids `0..n`), and every round boundary
//!   is a multiple of the CPU engine's chunk ([`CHUNK_PATHS`], 1,024 paths) except possibly
//!   the budget itself. Later rounds are added with [`engine::extend`], the engine's own
//!   fold, so on the CPU engine the result (accumulator and records) is identical, bit for
//!   bit, to a single run of the final path count; on a GPU engine counts and histograms are
//!   still exact and the means agree to rounding.
//! - The stopping figure is the binomial standard error sqrt(p (1 - p) / n) of P(spiral),
//!   with p taken as at least 1/n and at most 1 - 1/n ([`stopping_se`]): with no spiral seen
//!   yet the plain figure is 0, which would stop after the first round whatever n; the floor
//!   asks for n > 1/X paths first (with none in n paths, P(spiral) < 3/n at 95%, the "rule of
//!   three"). Where 0 < spirals < n it is exactly the summary's `p_spiral_se`.
//! - Round sizes come from the estimate: the next total is the path count at which the current
//!   estimate of p would reach the target (plus 10%), at least one chunk more than now and at
//!   most four times the current count, rounded up to whole chunks and capped by the budget.

use super::preflight;
use super::single::{RunPlan, RunResult};
use crate::engine::cpu::CHUNK_PATHS;
use crate::engine::{self, Control, PathRange};
use crate::model::Params;
use crate::report::format::{fmt_count, fmt_plain_sig};
use crate::scenario::limits::MAX_PATHS;
use anyhow::{bail, Context, Result};
use std::time::{Instant, SystemTime};

/// What `--target-se` asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// Stop once the standard error of P(spiral) is below this.
    pub se: f64,
    /// Budget: never simulate more paths than this.
    pub max_paths: u64,
}

impl Target {
    /// Checks the ranges, with messages naming the flags.
    pub fn check(&self) -> Result<()> {
        if !(self.se > 0.0 && self.se < 0.5) {
            bail!(
                "--target-se {} is out of range; allowed: greater than 0, below 0.5",
                self.se
            );
        }
        if self.max_paths == 0 || self.max_paths > MAX_PATHS {
            bail!(
                "--max-paths {} is out of range; allowed: 1 to {MAX_PATHS}",
                self.max_paths
            );
        }
        Ok(())
    }
}

/// The result of a convergence run.
pub struct Converged {
    /// All paths of all rounds, as one run (`simulate_time` is the whole loop).
    pub result: RunResult,
    /// Whether the target was reached (else the budget was spent).
    pub reached: bool,
    /// The stopping standard error at the end ([`stopping_se`]).
    pub se: f64,
    /// Total paths after each round.
    pub rounds: Vec<u64>,
    pub target: Target,
}

/// The binomial standard error of P(spiral) used to stop: sqrt(p (1 - p) / n) with p clamped
/// into [1/n, 1 - 1/n] (see the module notes). NaN for n = 0.
pub fn stopping_se(spiraled: u64, n: u64) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    let nf = n as f64;
    let p = (spiraled as f64 / nf).clamp(1.0 / nf, 1.0 - 1.0 / nf);
    let p = if n == 1 { 0.5 } else { p };
    (p * (1.0 - p) / nf).sqrt()
}

fn round_up_to_chunk(n: u64) -> u64 {
    n.div_ceil(CHUNK_PATHS).saturating_mul(CHUNK_PATHS)
}

/// The total path count after the next round, given `n` paths so far with `spiraled` spirals.
pub fn next_total(spiraled: u64, n: u64, target: &Target) -> u64 {
    let nf = n as f64;
    let p = (spiraled as f64 / nf).clamp(1.0 / nf, 1.0 - 1.0 / nf);
    let needed = (1.1 * p * (1.0 - p) / (target.se * target.se)).ceil();
    let needed = if needed.is_finite() && needed < 4e9 {
        needed as u64
    } else {
        u64::MAX
    };
    let lo = n.saturating_add(CHUNK_PATHS);
    let hi = n.saturating_mul(4).max(lo);
    round_up_to_chunk(needed.clamp(lo, hi)).min(target.max_paths)
}

/// Runs the plan from path id 0 in rounds until [`stopping_se`] < `target.se` or
/// `target.max_paths` paths are done. The first round is the scenario's path count, rounded
/// up to whole chunks; the plan's memory check covers the whole budget. `ctl` gets progress
/// as (paths done, budget).
pub fn run(plan: &RunPlan, target: Target, ctl: &Control) -> Result<Converged> {
    target.check()?;
    let s = &plan.scenario;
    preflight::check_memory(s, target.max_paths, "--max-paths")?;
    let started_at = SystemTime::now();
    let run = || -> Result<Converged> {
        let t0 = Instant::now();
        let params = Params::compile(s);
        let seed = s.scenario.seed;
        let budget = target.max_paths;
        let first = round_up_to_chunk(s.scenario.paths.max(1)).min(budget);
        let report = |done: u64, _total: u64| ctl.report(done, budget);
        let mut out = engine::run(
            plan.backend,
            &params,
            seed,
            PathRange {
                start: 0,
                count: first,
            },
            &ctl.with_progress(&report),
        )?;
        let mut rounds = vec![first];
        let mut n = first;
        loop {
            let se = stopping_se(out.acc.spiraled, n);
            if se < target.se || n >= budget {
                out.simulate_time = t0.elapsed();
                return Ok(Converged {
                    reached: se < target.se,
                    se,
                    result: RunResult::new(s.clone(), out, started_at),
                    rounds,
                    target,
                });
            }
            let next = next_total(out.acc.spiraled, n, &target);
            let report = |done: u64, _total: u64| ctl.report(n + done, budget);
            let range = PathRange {
                start: n,
                count: next - n,
            };
            engine::extend(
                &mut out,
                plan.backend,
                &params,
                seed,
                range,
                &ctl.with_progress(&report),
            )?;
            n = next;
            rounds.push(n);
        }
    };
    run().with_context(|| format!("simulating {}", s.scenario.name))
}

impl Converged {
    /// The one-line outcome: `reached SE 0.00093 < 0.001 after 240,000 paths` or
    /// `budget of 1,000,000 paths reached with SE 0.0012 > 0.001`.
    pub fn describe(&self) -> String {
        let acc = &self.result.output.acc;
        let n = acc.paths;
        let floor_note = if acc.spiraled == 0 || acc.spiraled == n {
            " (no spiral seen / every path spiraled: SE at p = 1/n)"
        } else {
            ""
        };
        if self.reached {
            format!(
                "reached SE {} < {} after {} paths ({} round{}){floor_note}",
                fmt_plain_sig(self.se, 2),
                self.target.se,
                fmt_count(n),
                self.rounds.len(),
                if self.rounds.len() == 1 { "" } else { "s" }
            )
        } else {
            format!(
                "budget of {} paths reached with SE {} > {}{floor_note}",
                fmt_count(self.target.max_paths),
                fmt_plain_sig(self.se, 2),
                self.target.se
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopping_se_floors_degenerate_counts() {
        // 0 < k < n: the plain binomial figure.
        assert!((stopping_se(100, 10_000) - (0.01f64 * 0.99 / 10_000.0).sqrt()).abs() < 1e-15);
        // No spiral: p taken as 1/n.
        let n = 2048;
        let p = 1.0 / n as f64;
        assert!((stopping_se(0, n) - (p * (1.0 - p) / n as f64).sqrt()).abs() < 1e-15);
        assert_eq!(stopping_se(0, n), stopping_se(n, n));
        assert!(stopping_se(0, 0).is_nan());
    }

    #[test]
    fn rounds_grow_in_whole_chunks_within_bounds() {
        let t = Target {
            se: 0.001,
            max_paths: 1_000_000,
        };
        let next = next_total(50, 1024, &t);
        assert_eq!(next % CHUNK_PATHS, 0);
        assert!(next > 1024 && next <= 4 * 1024);
        // Never beyond the budget, which need not be a whole number of chunks.
        let t = Target {
            se: 1e-6,
            max_paths: 5000,
        };
        assert_eq!(next_total(10, 4096, &t), 5000);
    }
}

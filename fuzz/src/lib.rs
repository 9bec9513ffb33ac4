//! The fuzz target shared by the cargo-fuzz target (`fuzz_targets/scenario.rs`) and the
//! stable driver (`src/bin/stable_fuzz.rs`): arbitrary bytes as a scenario file.
//!
//! The property: no input makes tokenrisk panic. Bytes that are not UTF-8 are skipped (the
//! CLI reads files as UTF-8 and reports that itself). Text goes through
//! `tokenrisk::scenario::parse` (TOML + validation); every rejection must render its message.
//! A valid scenario is compiled (`Params::compile`), its `[sweep]` (if any) expanded, and 2
//! paths simulated on the CPU engine over a short horizon (at most 16 steps, where the
//! shortened scenario is still valid; else the whole horizon), then summarised and turned
//! into the three output tables in memory.
//!
//! The targets for `partial.json`, `state.json` and price CSVs are in [`inputs`].

pub mod inputs;
pub use inputs::{partial, prices, state, InputOutcome};

use tokenrisk::engine::Control;
use tokenrisk::engine::{cpu, PathRange};
use tokenrisk::model::Params;
use tokenrisk::output::{parquet as pq, RunInfo};
use tokenrisk::scenario::{self, Scenario};
use tokenrisk::measure::summary::{report_quantiles, Summary};

/// What an input did, coarsely (the stable driver keeps inputs with new outcomes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    NotUtf8,
    /// Rejected; the first problem's field.
    Rejected(String),
    /// Simulated: sweep points, whether a path spiraled, whether any value was non-finite,
    /// whether the horizon was shortened.
    Simulated {
        points: usize,
        spiraled: bool,
        nonfinite: bool,
        short: bool,
    },
    /// A `partial.json`, `state.json` or price CSV input ([`inputs`]).
    Input(InputOutcome),
}

impl Outcome {
    /// Inputs that got through every check (the driver mutates mostly these).
    pub fn is_valid(&self) -> bool {
        matches!(
            self,
            Outcome::Simulated { .. } | Outcome::Input(InputOutcome::Accepted(_))
        )
    }
}

/// Runs one input. Panics only on a bug in tokenrisk.
pub fn scenario(data: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(data) else {
        return Outcome::NotUtf8;
    };
    let s = match scenario::parse(text, "fuzz.toml") {
        Ok(s) => s,
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("fuzz.toml"),
                "message does not name the file: {msg}"
            );
            let field = e
                .problems
                .first()
                .map(|p| coarse_field(&p.field, &p.message))
                .unwrap_or_default();
            return Outcome::Rejected(field);
        }
    };
    let mut points = 1;
    let mut last = None;
    if s.sweep.is_some() {
        match tokenrisk::workflows::sweep::expand(&s, "fuzz.toml") {
            Ok((_, pts)) => {
                points = pts.len();
                // Simulate the first and the last point.
                for p in [pts.first(), pts.last()].into_iter().flatten() {
                    last = Some(simulate(&p.scenario));
                }
            }
            Err(e) => {
                let _ = e.to_string();
                return Outcome::Rejected("[sweep]".into());
            }
        }
    }
    let (spiraled, nonfinite, short) = match last {
        Some(r) => r,
        None => simulate(&s),
    };
    Outcome::Simulated {
        points,
        spiraled,
        nonfinite,
        short,
    }
}

/// A rejection's field, coarsened so that novelty means a new check was reached: array
/// indices dropped, unknown keys and unparsable text lumped together.
fn coarse_field(field: &str, message: &str) -> String {
    const TABLES: &[&str] = &[
        "scenario",
        "token",
        "emission",
        "payment",
        "burn",
        "demand",
        "market",
        "compute",
        "staking",
        "vesting",
        "correlation",
        "spiral",
        "shock",
        "risk",
        "alerts",
        "sweep",
    ];
    if message.starts_with("unknown field") {
        return "(unknown field)".into();
    }
    let f: String = field
        .split('[')
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part.to_string()
            } else {
                part.split_once(']')
                    .map_or(String::new(), |(_, rest)| format!("[]{rest}"))
            }
        })
        .collect();
    let top = f.split(['.', '[']).next().unwrap_or("");
    if TABLES.contains(&top) && f.len() < 48 {
        f
    } else {
        "(syntax)".into()
    }
}

/// Two paths of `s` over a short horizon where possible; returns (spiraled, non-finite,
/// shortened).
fn simulate(s: &Scenario) -> (bool, bool, bool) {
    let mut run = s.clone();
    run.scenario.paths = 2;
    let short_h = run.scenario.step_days.saturating_mul(16);
    let mut short = false;
    if run.scenario.horizon_days > short_h {
        let mut t = run.clone();
        t.scenario.horizon_days = short_h;
        if scenario::validate(&t).is_empty() {
            run = t;
            short = true;
        }
    }
    let params = Params::compile(&run);
    let out = cpu::run(
        &params,
        run.scenario.seed,
        PathRange { start: 0, count: 2 },
        &Control::none(),
    ).unwrap();
    assert_eq!(out.records.len(), 2);
    let summary = Summary::of(&out.acc, &out.records, &run);
    let qs = report_quantiles(&run.risk);
    pq::timeseries_batch(&run.scenario.name, &out.acc, &qs).expect("timeseries table");
    pq::paths_batch(&pq::paths_schema(), &run.scenario.name, &out.records).expect("paths table");
    let info = RunInfo {
        scenario: &run,
        seed: run.scenario.seed,
        engine: out.engine,
        device: &out.device,
        simulate_seconds: 1.0,
        started_at: std::time::SystemTime::now(),
    };
    pq::summary_batch(&info, &summary).expect("summary table");
    (out.acc.spiraled > 0, out.acc.nonfinite_paths > 0, short)
}

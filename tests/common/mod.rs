//! Helpers shared by the integration tests: a minimal scenario builder and a quiet run.
#![allow(dead_code)]

use std::process::{Command, Output};
use tokenrisk::engine::{cpu, EngineOutput, PathRange};
use tokenrisk::model::Params;
use tokenrisk::scenario::{self, Scenario};

/// A scenario with every feedback mechanism off: GBM price, constant demand and cost.
/// `extra` is appended TOML (tables) or `key = value` replacements applied textually.
pub const GBM_BASE: &str = r#"
[scenario]
name = "gbm"
horizon_days = 365
step_days = 1
report_every = 7
paths = 1000
seed = 7

[token]
price = 10.0
issued = 1000000.0

[emission]
kind = "none"

[demand]
usd_per_day = 1000.0

[market]
drift = 0.10
volatility = 0.80
impact = 0.0
revenue_beta = 0.0

[compute]
capacity = 10000.0
cost_per_unit_day = 1.0
"#;

pub fn parse(text: &str) -> Scenario {
    match scenario::parse(text, "test.toml") {
        Ok(s) => s,
        Err(e) => panic!("test scenario invalid: {e}"),
    }
}

/// Replaces `key = ...` (first occurrence at the start of a line) in a TOML text.
pub fn set(text: &str, key: &str, value: &str) -> String {
    let mut done = false;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if !done && l.trim_start().starts_with(&format!("{key} =")) {
                done = true;
                format!("{key} = {value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(done, "key {key} not found in test scenario");
    out.join("\n")
}

pub fn run_cpu(s: &Scenario, paths: u64) -> EngineOutput {
    let params = Params::compile(s);
    cpu::run(
        &params,
        s.scenario.seed,
        PathRange {
            start: 0,
            count: paths,
        },
        &|_, _| {},
    )
}

/// Runs the `tokenrisk` binary built for this test run.
pub fn tokenrisk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokenrisk"))
        .args(args)
        .output()
        .expect("run tokenrisk")
}

/// stdout and stderr of a finished command, for assertions and failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A whole Parquet file as one record batch.
pub fn read_parquet(path: &std::path::Path) -> arrow::array::RecordBatch {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

//! Round trip of the output module through its public API: a hand-built accumulator is
//! written with `output::write_run` and read back with the parquet crate; checks the
//! contract's column names (ARCHITECTURE.md "Output contract"), row counts, values, the
//! key-value metadata, manifest.json, atomicity (no temp files, old file kept on failure)
//! and error messages that name the path.

mod common;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokenrisk::measure::summary::Summary;
use tokenrisk::measure::Accumulator;
use tokenrisk::model::{PathRecord, METRICS, N_METRICS};
use tokenrisk::output::{self, write_atomic, write_atomic_bytes, RunInfo};

use arrow::array::{
    Array, BooleanArray, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array,
};

fn toml_text() -> String {
    common::scenario_text(&[
        ("scenario.name", "\"rt\""),
        ("scenario.horizon_days", "14"),
        ("token.price", "2.0"),
        ("token.issued", "1000.0"),
        ("demand.usd_per_day", "100.0"),
        ("market.drift", "0.0"),
        ("market.volatility", "0.5"),
        ("compute.capacity", "100.0"),
    ])
}

// The contract, copied from docs/ARCHITECTURE.md on purpose (not from the crate's constants).
const SUMMARY_COLS: &[&str] = &[
    "scenario",
    "paths",
    "horizon_days",
    "seed",
    "backend",
    "p_spiral",
    "p_spiral_lo",
    "p_spiral_hi",
    "spiral_day_p50",
    "var95_return",
    "cvar95_return",
    "var99_return",
    "cvar99_return",
    "var95_drawdown",
    "cvar95_drawdown",
    "er_ratio_p50",
    "er_ratio_p95",
    "p_er_above_1",
    "final_price_p50",
];
const TIMESERIES_COLS: &[&str] = &[
    "scenario", "day", "metric", "mean", "se", "p01", "p05", "p25", "p50", "p75", "p95", "p99",
];
const TIMESERIES_METRICS: &[&str] = &[
    "price",
    "market_cap",
    "circulating",
    "demand",
    "revenue",
    "capacity",
    "gpu_cost",
    "emission_usd",
    "er_ratio",
    "staked_fraction",
    "in_spiral",
    "ever_spiraled",
];
const PATHS_COLS: &[&str] = &[
    "scenario",
    "path",
    "spiral",
    "spiral_day",
    "final_price",
    "min_price",
    "max_drawdown",
    "final_circulating",
    "minted",
    "emitted",
    "vested",
    "burned",
    "emission_usd",
    "revenue_usd",
    "er_ratio",
    "final_capacity",
    "min_capacity",
    "final_demand",
    "breakeven_day",
];

fn record(i: u64) -> PathRecord {
    let x = i as f64;
    PathRecord {
        path: i,
        spiral: i.is_multiple_of(3),
        spiral_day: i.is_multiple_of(3).then_some(5 + i as u32),
        final_price: 2.0 + 0.1 * x,
        min_price: 1.0 + 0.05 * x,
        max_drawdown: 0.1 + 0.01 * x,
        log_return: -0.2 + 0.05 * x,
        final_circulating: 1000.0 + x,
        final_staked: 10.0 * x,
        minted: 5.0 + x,
        emitted: 3.0 + x,
        vested: 2.0,
        burned: 1.0 + 0.5 * x,
        emission_usd: 50.0 + x,
        revenue_usd: 100.0 + 2.0 * x,
        er_ratio: (50.0 + x) / (100.0 + 2.0 * x),
        final_capacity: 100.0 - x,
        min_capacity: 90.0 - x,
        final_demand: 100.0 + 3.0 * x,
        breakeven_day: (i % 2 == 1).then_some(i as u32),
        enacted: Default::default(),
    }
}

struct Fixture {
    scenario: tokenrisk::scenario::Scenario,
    acc: Accumulator,
    records: Vec<PathRecord>,
}

fn fixture() -> Fixture {
    let scenario = tokenrisk::scenario::parse(&toml_text(), "test.toml").expect("valid scenario");
    let mut acc = Accumulator::new(vec![0, 7, 14]);
    let records: Vec<PathRecord> = (0..10).map(record).collect();
    for r in &records {
        for row in 0..3 {
            let mut m = [0.0; N_METRICS];
            for (k, v) in m.iter_mut().enumerate() {
                *v = 1.0 + r.path as f64 + 10.0 * row as f64 + 100.0 * k as f64;
            }
            acc.add_report(row, &m);
        }
        acc.add_path(r);
    }
    Fixture {
        scenario,
        acc,
        records,
    }
}

fn read_all(path: &Path) -> RecordBatch {
    let file = fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> &'a T {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("missing column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| {
            panic!(
                "column {name} has type {:?}",
                b.column_by_name(name).unwrap().data_type()
            )
        })
}

fn f64_at(b: &RecordBatch, name: &str, i: usize) -> f64 {
    col::<Float64Array>(b, name).value(i)
}

fn tmp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") || n.starts_with('.'))
        .collect()
}

#[test]
fn write_run_round_trip() {
    let fx = fixture();
    let summary = Summary::of(&fx.acc, &fx.records, &fx.scenario);
    let out = tempfile::tempdir().unwrap();
    let info = RunInfo {
        scenario: &fx.scenario,
        seed: 1234,
        engine: "cpu",
        device: "test-cpu",
        simulate_seconds: 0.5,
        started_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    };
    let written = output::write_run(out.path(), &info, &fx.acc, &summary, &fx.records).unwrap();
    let dir = out.path().join("rt");
    assert_eq!(written.dir, dir);
    let names: Vec<&str> = written.files.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        names,
        ["summary.parquet", "timeseries.parquet", "paths.parquet"]
    );
    for (name, _, bytes) in &written.files {
        assert_eq!(fs::metadata(dir.join(name)).unwrap().len(), *bytes);
    }
    assert!(dir.join("manifest.json").is_file());
    assert!(
        tmp_files(&dir).is_empty(),
        "left over: {:?}",
        tmp_files(&dir)
    );

    // summary.parquet
    let s = read_all(&dir.join("summary.parquet"));
    assert_eq!(s.num_rows(), 1);
    for c in SUMMARY_COLS {
        assert!(s.column_by_name(c).is_some(), "summary.parquet lacks {c}");
    }
    assert_eq!(col::<StringArray>(&s, "scenario").value(0), "rt");
    assert_eq!(col::<UInt64Array>(&s, "paths").value(0), 10);
    assert_eq!(col::<UInt32Array>(&s, "horizon_days").value(0), 14);
    assert_eq!(col::<UInt64Array>(&s, "seed").value(0), 1234);
    assert_eq!(col::<StringArray>(&s, "backend").value(0), "cpu");
    // The device is the manifest's alone: the tables do not depend on the machine.
    assert!(s.column_by_name("device").is_none());
    assert_eq!(f64_at(&s, "p_spiral", 0), summary.p_spiral);
    assert_eq!(f64_at(&s, "p_spiral", 0), 0.4); // paths 0, 3, 6, 9
    assert_eq!(f64_at(&s, "spiral_day_p50", 0), summary.spiral_day.q(0.5));
    assert_eq!(
        f64_at(&s, "var95_return", 0),
        summary.tail_at(0.95).unwrap().var_return.value
    );
    assert_eq!(
        f64_at(&s, "cvar99_drawdown", 0),
        summary.tail_at(0.99).unwrap().cvar_drawdown.value
    );
    assert_eq!(f64_at(&s, "er_ratio_p95", 0), summary.er_ratio.q(0.95));
    assert_eq!(f64_at(&s, "final_price_mean", 0), summary.final_price.mean);
    assert_eq!(
        f64_at(&s, "breakeven_day_p50", 0),
        summary.breakeven_day.q(0.5)
    );
    assert_eq!(col::<UInt64Array>(&s, "nonfinite_paths").value(0), 0);
    // No timing in the table (they are the manifest's).
    for c in ["path_steps_per_s", "simulate_seconds"] {
        assert!(s.schema().field_with_name(c).is_err(), "summary holds {c}");
    }

    // timeseries.parquet
    let t = read_all(&dir.join("timeseries.parquet"));
    assert_eq!(t.num_rows(), 3 * 12);
    for c in TIMESERIES_COLS {
        assert!(
            t.column_by_name(c).is_some(),
            "timeseries.parquet lacks {c}"
        );
    }
    assert_eq!(METRICS.len(), 12);
    let metric = col::<StringArray>(&t, "metric");
    for m in TIMESERIES_METRICS {
        assert_eq!(
            (0..t.num_rows()).filter(|&i| metric.value(i) == *m).count(),
            3,
            "{m}"
        );
    }
    let day = col::<UInt32Array>(&t, "day");
    // Row 1 (day 7), metric 2 (circulating): values 1 + path + 10 + 200.
    let i = 12 + 2;
    assert_eq!(day.value(i), 7);
    assert_eq!(metric.value(i), "circulating");
    let mean = (0..10).map(|p| 211.0 + p as f64).sum::<f64>() / 10.0;
    assert!((f64_at(&t, "mean", i) - mean).abs() < 1e-9);
    assert_eq!(f64_at(&t, "mean", i), fx.acc.metric(1, 2).moments.mean());
    assert_eq!(f64_at(&t, "se", i), fx.acc.metric(1, 2).moments.std_error());
    assert_eq!(
        f64_at(&t, "p50", i),
        fx.acc.metric(1, 2).hist.quantile(0.5).unwrap()
    );
    assert_eq!(col::<UInt64Array>(&t, "nonfinite").value(i), 0);

    // paths.parquet
    let p = read_all(&dir.join("paths.parquet"));
    assert_eq!(p.num_rows(), fx.records.len());
    for c in PATHS_COLS {
        assert!(p.column_by_name(c).is_some(), "paths.parquet lacks {c}");
    }
    let spiral_day = col::<UInt32Array>(&p, "spiral_day");
    assert!(
        spiral_day.is_null(1),
        "path 1 never spiraled: null spiral_day"
    );
    assert_eq!(spiral_day.value(3), 8);
    assert!(col::<BooleanArray>(&p, "spiral").value(3));
    assert!(!col::<BooleanArray>(&p, "spiral").value(4));
    let breakeven = col::<UInt32Array>(&p, "breakeven_day");
    assert!(breakeven.is_null(2));
    assert_eq!(breakeven.value(7), 7);
    for (i, r) in fx.records.iter().enumerate() {
        assert_eq!(col::<UInt64Array>(&p, "path").value(i), r.path);
        assert_eq!(f64_at(&p, "final_price", i), r.final_price);
        assert_eq!(f64_at(&p, "er_ratio", i), r.er_ratio);
        assert_eq!(f64_at(&p, "final_demand", i), r.final_demand);
    }

    // Key-value metadata on every file.
    for name in ["summary.parquet", "timeseries.parquet", "paths.parquet"] {
        let kv = output::read_parquet_metadata(&dir.join(name)).unwrap();
        assert_eq!(kv["tokenrisk.scenario_toml"], toml_text(), "{name}");
        assert_eq!(kv["tokenrisk.seed"], "1234");
        assert_eq!(kv["tokenrisk.scenario"], "rt");
        assert_eq!(kv["tokenrisk.engine"], "cpu");
        assert!(!kv.contains_key("tokenrisk.device"), "{name}");
        assert_eq!(kv["tokenrisk.paths"], "10");
        assert_eq!(kv["tokenrisk.model_version"], "1");
        assert_eq!(kv["tokenrisk.version"], env!("CARGO_PKG_VERSION"));
    }

    // manifest.json
    let m: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["scenario"], "rt");
    assert_eq!(m["seed"], 1234);
    assert_eq!(m["paths"], 10);
    assert_eq!(m["backend"], "cpu");
    assert_eq!(m["device"], "test-cpu");
    assert_eq!(m["started_at"], "2023-11-14T22:13:20Z");
    assert_eq!(m["model_version"], "1");
    assert_eq!(m["tokenrisk_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m["scenario_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(m["timings"]["simulate_s"], 0.5);
    // 10 paths * 14 steps / 0.5 s
    assert_eq!(m["timings"]["path_steps_per_s"], 280.0);
    assert!(m["timings"]["total_s"].as_f64().unwrap() >= 0.5);
    let files = m["files"].as_array().unwrap();
    let rows: Vec<(String, u64)> = files
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("summary.parquet".to_string(), 1),
            ("timeseries.parquet".to_string(), 36),
            ("paths.parquet".to_string(), 10)
        ]
    );

    // Rewriting over an existing run works and leaves no temp files.
    output::write_run(out.path(), &info, &fx.acc, &summary, &fx.records).unwrap();
    assert!(tmp_files(&dir).is_empty());
}

#[test]
fn empty_distributions_write_nulls() {
    // No spirals and no breakeven: their quantile columns are null, not NaN.
    let scenario = tokenrisk::scenario::parse(&toml_text(), "test.toml").unwrap();
    let mut acc = Accumulator::new(vec![0, 7, 14]);
    let records: Vec<PathRecord> = (0..4)
        .map(|i| PathRecord {
            spiral: false,
            spiral_day: None,
            breakeven_day: None,
            ..record(i)
        })
        .collect();
    for r in &records {
        acc.add_path(r);
    }
    let summary = Summary::of(&acc, &records, &scenario);
    let info = RunInfo {
        scenario: &scenario,
        seed: 1,
        engine: "gpu",
        device: "fake",
        simulate_seconds: 1.0,
        started_at: SystemTime::now(),
    };
    let out = tempfile::tempdir().unwrap();
    let w = output::write_run(out.path(), &info, &acc, &summary, &records).unwrap();
    let s = read_all(&w.dir.join("summary.parquet"));
    assert!(col::<Float64Array>(&s, "spiral_day_p50").is_null(0));
    assert!(col::<Float64Array>(&s, "breakeven_day_p50").is_null(0));
    assert!(!col::<Float64Array>(&s, "final_price_p50").is_null(0));
    assert_eq!(f64_at(&s, "p_spiral", 0), 0.0);
    // Report rows with no data at all: null quantiles, NaN means.
    let t = read_all(&w.dir.join("timeseries.parquet"));
    assert!(col::<Float64Array>(&t, "p50").is_null(0));
    assert!(f64_at(&t, "mean", 0).is_nan());
}

#[test]
fn write_atomic_failure_keeps_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("summary.parquet");
    write_atomic_bytes(&path, b"old content").unwrap();
    let err = write_atomic(&path, |f| {
        use std::io::Write;
        f.write_all(b"half of the new")?;
        anyhow::bail!("simulated failure")
    })
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("simulated failure"), "{msg}");
    assert_eq!(fs::read(&path).unwrap(), b"old content");
    assert!(
        tmp_files(dir.path()).is_empty(),
        "left over: {:?}",
        tmp_files(dir.path())
    );
}

#[test]
fn unwritable_output_dir_names_the_path() {
    let fx = fixture();
    let summary = Summary::of(&fx.acc, &fx.records, &fx.scenario);
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not_a_dir");
    fs::write(&blocker, b"x").unwrap();
    let info = RunInfo {
        scenario: &fx.scenario,
        seed: 1,
        engine: "cpu",
        device: "cpu",
        simulate_seconds: 1.0,
        started_at: SystemTime::now(),
    };
    let err = output::write_run(&blocker, &info, &fx.acc, &summary, &fx.records).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&blocker.join("rt").display().to_string()),
        "{msg}"
    );

    // And write_atomic into a missing directory names the final path.
    let target = blocker.join("x.json");
    let err = write_atomic_bytes(&target, b"{}").unwrap_err();
    assert!(
        err.to_string().contains(&target.display().to_string()),
        "{err:#}"
    );
}

//! Hostile input: random TOML built from the format's keys and wild values never panics the
//! parser, the validator, the model or the output tables (proptest); non-finite path values
//! are counted and reported, never averaged in; runs too large for memory are refused before
//! simulating; an unwritable output folder, a full disk and damaged inputs give a clear error
//! and leave no half-written file under a final name.

mod common;
use common::{path_arg as s, run_args, text as text_of, tokenrisk};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tokenrisk::engine::Control;
use tokenrisk::engine::{cpu, EngineOutput, PathRange};
use tokenrisk::measure::summary::{report_quantiles, Summary};
use tokenrisk::model::{Params, PathRecord};
use tokenrisk::scale::shard::{self, ShardSpec};
use tokenrisk::scenario::{self, Scenario};

// ---------------------------------------------------------------------------------------
// (b) random TOML from the format's keys
// ---------------------------------------------------------------------------------------

/// A base scenario as (table header, key lines), from which random edits are made.
fn base_tables(text: &str) -> Vec<(String, Vec<String>)> {
    let mut tables: Vec<(String, Vec<String>)> = vec![(String::new(), vec![])];
    for line in text.lines() {
        let t = line.split(" #").next().unwrap_or("").trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t.starts_with('[') {
            tables.push((t.to_string(), vec![]));
        } else if t.contains('=') {
            tables.last_mut().unwrap().1.push(t.to_string());
        }
    }
    tables
}

/// Every (table header, key) the presets use, plus the optional tables' keys.
fn known_keys() -> Vec<(String, String)> {
    let mut keys = Vec::new();
    for p in tokenrisk::scenario::PRESETS {
        for (h, lines) in base_tables(p.toml) {
            for l in lines {
                let k = l.split('=').next().unwrap().trim().to_string();
                if !keys.contains(&(h.clone(), k.clone())) {
                    keys.push((h.clone(), k));
                }
            }
        }
    }
    for (h, k) in [
        ("[market]", "impact_cap"),
        ("[market]", "impact_half_life_days"),
        ("[compute]", "capacity_floor"),
        ("[compute]", "capacity_cap"),
        ("[risk]", "quantiles"),
        ("[risk]", "var_levels"),
        ("[spiral]", "persist_days"),
        ("[[shock]]", "day"),
        ("[[shock]]", "price"),
        ("[[vesting]]", "amount"),
        ("[[vesting]]", "cliff_days"),
        ("[[vesting]]", "linear_days"),
        ("[sweep]", "\"market.volatility\""),
    ] {
        keys.push((h.to_string(), k.to_string()));
    }
    keys
}

fn float_text(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{x:e}")
    }
}

fn value_strategy() -> impl Strategy<Value = String> {
    let float = prop_oneof![
        4 => (-2.0f64..2.0).prop_map(float_text),
        2 => (0.0f64..1e7).prop_map(float_text),
        2 => any::<f64>().prop_map(float_text),
        1 => prop::sample::select(vec![
            0.0, -0.0, 1e308, -1e308, 5e-324, 1e-300, f64::NAN, f64::INFINITY,
            f64::NEG_INFINITY, 36500.0, 0.9999999, 1.0000001
        ])
        .prop_map(float_text),
    ];
    let int = prop_oneof![
        (-10i64..40_000).prop_map(|i| i.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
    ];
    let words = prop::sample::select(vec![
        "\"\"",
        "\"token\"",
        "\"stable\"",
        "\"usd\"",
        "\"none\"",
        "\"bme\"",
        "\"revenue_burn\"",
        "\"schedule\"",
        "\"halving_by_supply\"",
        "\"halving_by_time\"",
        "\"cost\"",
        "true",
        "false",
        "{}",
        "{ providers = 0.5, stakers = 0.5 }",
        "{ rate = 1e9, mean = -50.0, sd = 1e300 }",
    ])
    .prop_map(str::to_string);
    prop_oneof![
        5 => float,
        2 => int,
        2 => words,
        1 => prop::collection::vec((-1e6f64..1e6).prop_map(float_text), 0..40)
            .prop_map(|v| format!("[{}]", v.join(", "))),
        1 => (0usize..3000).prop_map(|n| format!("[{}]", vec!["0.5"; n].join(", "))),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    /// Replace the value of the i-th key line (modulo the count).
    Set(usize, String),
    Delete(usize),
    /// Insert a known key (index modulo the list) with a value.
    Insert(usize, String),
    /// An unknown key in a random table.
    Unknown(usize),
    /// Repeat a table k times.
    Repeat(usize, usize),
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (any::<usize>(), value_strategy()).prop_map(|(i, v)| Edit::Set(i, v)),
        2 => any::<usize>().prop_map(Edit::Delete),
        3 => (any::<usize>(), value_strategy()).prop_map(|(i, v)| Edit::Insert(i, v)),
        1 => any::<usize>().prop_map(Edit::Unknown),
        1 => (any::<usize>(), 1usize..20).prop_map(|(i, k)| Edit::Repeat(i, k)),
    ]
}

fn build(base: &str, edits: &[Edit], keys: &[(String, String)]) -> String {
    let mut tables = base_tables(base);
    for e in edits {
        let n_lines: usize = tables.iter().map(|t| t.1.len()).sum();
        let locate = |tables: &Vec<(String, Vec<String>)>, i: usize| {
            let mut i = i % n_lines.max(1);
            for (ti, t) in tables.iter().enumerate() {
                if i < t.1.len() {
                    return Some((ti, i));
                }
                i -= t.1.len();
            }
            None
        };
        match e {
            Edit::Set(i, v) => {
                if let Some((ti, li)) = locate(&tables, *i) {
                    let k = tables[ti].1[li]
                        .split('=')
                        .next()
                        .unwrap()
                        .trim()
                        .to_string();
                    tables[ti].1[li] = format!("{k} = {v}");
                }
            }
            Edit::Delete(i) => {
                if let Some((ti, li)) = locate(&tables, *i) {
                    tables[ti].1.remove(li);
                }
            }
            Edit::Insert(i, v) => {
                let (h, k) = &keys[i % keys.len()];
                match tables.iter_mut().find(|t| &t.0 == h) {
                    Some(t) => t.1.push(format!("{k} = {v}")),
                    None => tables.push((h.clone(), vec![format!("{k} = {v}")])),
                }
            }
            Edit::Unknown(i) => {
                let ti = i % tables.len();
                tables[ti].1.push("not_a_key = 1".into());
            }
            Edit::Repeat(i, k) => {
                let ti = i % tables.len();
                let t = tables[ti].clone();
                for _ in 0..*k {
                    tables.push(t.clone());
                }
            }
        }
    }
    let mut out = String::new();
    for (h, lines) in tables {
        if !h.is_empty() {
            out.push_str(&h);
            out.push('\n');
        }
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

/// Two paths over at most 16 steps (where the shortened scenario is still valid), the
/// summary and the three tables in memory: what `run` does, minus the files.
fn simulate_briefly(s: &Scenario) -> EngineOutput {
    let mut run = s.clone();
    let short = run.scenario.step_days.saturating_mul(16);
    if run.scenario.horizon_days > short {
        let mut t = run.clone();
        t.scenario.horizon_days = short;
        if scenario::validate(&t).is_empty() {
            run = t;
        }
    }
    let params = Params::compile(&run);
    let out = cpu::run(
        &params,
        run.scenario.seed,
        PathRange { start: 0, count: 2 },
        &Control::none(),
    )
    .unwrap();
    let summary = Summary::of(&out.acc, &out.records, &run);
    let qs = report_quantiles(&run.risk);
    use tokenrisk::output::parquet as pq;
    pq::timeseries_batch(&run.scenario.name, &out.acc, &qs).unwrap();
    pq::paths_batch(&pq::paths_schema(), &run.scenario.name, &out.records).unwrap();
    let info = tokenrisk::output::RunInfo {
        scenario: &run,
        seed: run.scenario.seed,
        engine: out.engine,
        device: &out.device,
        simulate_seconds: 1.0,
        started_at: std::time::SystemTime::now(),
    };
    pq::summary_batch(&info, &summary).unwrap();
    assert_eq!(summary.nonfinite_paths, out.acc.nonfinite_paths);
    out
}

fn bases() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = tokenrisk::scenario::PRESETS
        .iter()
        .map(|p| p.toml)
        .collect();
    v.push(common::GBM_BASE);
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    /// Random edits of real scenarios: parse either rejects with a message naming the file
    /// and every problem, or the scenario compiles, simulates and tabulates without a panic.
    #[test]
    fn random_scenario_text_never_panics(
        base in 0usize..6,
        edits in prop::collection::vec(edit_strategy(), 0..6),
    ) {
        let bases = bases();
        let text = build(bases[base % bases.len()], &edits, &known_keys());
        match scenario::parse(&text, "random.toml") {
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.starts_with("random.toml: "), "{}", msg);
                prop_assert!(!e.problems.is_empty());
                for p in &e.problems {
                    prop_assert!(!p.message.is_empty() && !p.field.is_empty(), "{:?}", p);
                }
            }
            Ok(s) => {
                let out = simulate_briefly(&s);
                prop_assert_eq!(out.records.len(), 2);
                let counted = out.records.iter().filter(|r| nonfinite(r)).count() as u64;
                prop_assert_eq!(out.acc.nonfinite_paths, counted);
            }
        }
    }
}

fn nonfinite(r: &PathRecord) -> bool {
    [
        r.log_return,
        r.max_drawdown,
        r.final_price,
        r.final_circulating,
        r.er_ratio,
        r.minted,
        r.burned,
    ]
    .iter()
    .any(|v| !v.is_finite())
}

// ---------------------------------------------------------------------------------------
// (c) non-finite values are counted and reported
// ---------------------------------------------------------------------------------------

fn gbm() -> Scenario {
    scenario::parse(bases().last().unwrap(), "gbm.toml").unwrap()
}

fn column_f64(path: &Path, name: &str) -> Vec<f64> {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let c = b.column_by_name(name).unwrap();
        let c = arrow::compute::cast(c, &arrow::datatypes::DataType::Float64).unwrap();
        let c = c
            .as_any()
            .downcast_ref::<arrow::array::Float64Array>()
            .unwrap();
        out.extend(c.iter().map(|v| v.unwrap_or(f64::NAN)));
    }
    out
}

/// A path whose record holds NaN and infinity (as a diverging path would) is counted in
/// `nonfinite_paths`, kept out of every mean and histogram, written to summary.parquet and
/// printed as a warning; the finite paths' figures are unaffected.
#[test]
fn nonfinite_paths_are_counted_and_reported() {
    let mut sc = gbm();
    sc.scenario.paths = 20;
    let params = Params::compile(&sc);
    let run = |start, count| {
        cpu::run(
            &params,
            sc.scenario.seed,
            PathRange { start, count },
            &Control::none(),
        )
        .unwrap()
    };
    // Shard 0: paths 0..9 simulated, path 9 a poisoned record.
    let mut first = run(0, 9);
    let poisoned = PathRecord {
        path: 9,
        final_price: f64::NAN,
        log_return: f64::NAN,
        er_ratio: f64::INFINITY,
        ..first.records[0]
    };
    first.acc.add_path(&poisoned);
    first.records.push(poisoned);
    assert_eq!(first.acc.nonfinite_paths, 1);
    let second = run(10, 10);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("parts");
    for (i, out) in [(0, &first), (1, &second)] {
        let spec = ShardSpec { index: i, count: 2 };
        shard::write_shard(&root.join(spec.dir_name()), &sc, spec, spec.range(20), out).unwrap();
    }
    let merged = tmp.path().join("merged");
    let o = tokenrisk(&["merge", s(&root), "--out", s(&merged)]);
    assert!(o.status.success(), "{}", text_of(&o));
    let t = text_of(&o);
    assert!(
        t.contains("WARNING: 1 paths produced non-finite values"),
        "{t}"
    );
    let summary = merged.join("gbm/summary.parquet");
    assert_eq!(column_f64(&summary, "nonfinite_paths"), vec![1.0]);
    assert_eq!(column_f64(&summary, "paths"), vec![20.0]);
    let mean = column_f64(&summary, "final_price_mean")[0];
    assert!(mean.is_finite(), "the NaN leaked into the mean: {mean}");
    // The mean is exactly that of the 19 finite paths.
    let finite: Vec<f64> = first.records[..9]
        .iter()
        .chain(&second.records)
        .map(|r| r.final_price)
        .collect();
    let want = finite.iter().sum::<f64>() / finite.len() as f64;
    assert!(
        (mean - want).abs() <= 1e-12 * want.abs(),
        "{mean} vs {want}"
    );
    let q50 = column_f64(&summary, "final_price_p50")[0];
    assert!(q50.is_finite());
    // The per-path rows keep the NaN as NaN (nothing is hidden).
    let prices = column_f64(&merged.join("gbm/paths.parquet"), "final_price");
    assert!(prices[9].is_nan() && prices.iter().filter(|p| p.is_nan()).count() == 1);
}

/// A scenario found by the fuzzer whose paths had non-finite values: a throughput of 5e-324
/// USD per unit-day (a subnormal number) served no revenue, so emissions-to-revenue was
/// infinite on every path. Such a magnitude is now refused before anything runs, naming the
/// field and the allowed range (the reporting of non-finite values is covered by the merge of
/// a poisoned shard above).
#[test]
fn a_scenario_with_a_subnormal_throughput_is_refused() {
    let preset = tokenrisk::scenario::preset("bittensor_halving").unwrap();
    let text: String = preset
        .toml
        .lines()
        .map(|l| {
            if l.starts_with("throughput_usd_per_unit_day") {
                "throughput_usd_per_unit_day = 5e-324".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("= 5e-324"));
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("no-revenue.toml");
    std::fs::write(&file, text).unwrap();
    let out = tmp.path().join("out");
    let o = tokenrisk(&run_args(s(&file), "200", s(&out)));
    assert_eq!(o.status.code(), Some(1), "{}", text_of(&o));
    let t = text_of(&o);
    assert!(
        t.contains(
            "compute.throughput_usd_per_unit_day: value 5e-324 is out of range; allowed: 1e-12 to"
        ),
        "{t}"
    );
    assert!(!out.exists());
}

// ---------------------------------------------------------------------------------------
// (d) sizes that cannot fit in memory are refused up front
// ---------------------------------------------------------------------------------------

#[test]
fn runs_too_large_for_memory_are_refused_before_simulating() {
    let tmp = tempfile::tempdir().unwrap();
    // Refused before any simulation, and nothing is written. 4e9 paths would take hours: a
    // process still running after five minutes was not refused up front (killed, failed).
    let child =
        common::spawn_tokenrisk(&run_args("bittensor_halving", "4000000000", s(tmp.path())));
    let o = common::wait_at_most(
        child,
        std::time::Duration::from_secs(300),
        "the 4e9-path run was not refused up front",
    );
    assert_eq!(o.status.code(), Some(1), "{}", text_of(&o));
    let e = text_of(&o);
    assert!(
        e.contains("would need about") && e.contains("at most about"),
        "{e}"
    );
    assert!(e.contains("--shard I/N"), "{e}");
    assert!(!tmp.path().join("bittensor-halving").exists());
    // A shard of the same run that fits is accepted by the check (not simulated here).
    let sc = tokenrisk::scenario::resolve("bittensor_halving").unwrap();
    assert!(tokenrisk::workflows::preflight::check_memory_with(
        &sc,
        100_000,
        "a shard",
        8 << 30,
        "test"
    )
    .is_ok());
}

// ---------------------------------------------------------------------------------------
// (e) unwritable folders, full disks, damaged inputs
// ---------------------------------------------------------------------------------------

/// Files under final names in `dir`, and whether any temp file is left.
fn listing(dir: &Path) -> (Vec<String>, Vec<String>) {
    let mut finals = Vec::new();
    let mut temps = Vec::new();
    let walk = walkdir(dir);
    for p in walk {
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        if n.ends_with(".tmp") {
            temps.push(p.display().to_string());
        } else {
            finals.push(p.display().to_string());
        }
    }
    (finals, temps)
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walkdir(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Every Parquet file under a final name reads completely.
/// After a failed run into `dir`: no temporary file left, no `completion_marker` (the file
/// written last, which claims a complete run), and every Parquet file there complete.
fn assert_nothing_half_written(dir: &Path, completion_marker: &str) {
    let (finals, temps) = listing(dir);
    assert!(temps.is_empty(), "temp files left: {temps:?}");
    assert!(
        !finals.iter().any(|f| f.ends_with(completion_marker)),
        "a {completion_marker} claims a complete run: {finals:?}"
    );
    assert_complete(dir);
}

fn assert_complete(dir: &Path) {
    for p in walkdir(dir) {
        if p.extension().is_some_and(|e| e == "parquet") {
            let f = std::fs::File::open(&p).unwrap();
            let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
                .unwrap_or_else(|e| panic!("{} is not a complete Parquet file: {e}", p.display()));
            for b in r.build().unwrap() {
                b.unwrap();
            }
        }
    }
}

#[test]
fn unwritable_output_folder_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("a-file");
    std::fs::write(&blocker, "not a folder").unwrap();
    let out = blocker.join("out");
    for extra in [&[][..], &["--shard", "0/2"][..], &["--resume"][..]] {
        let mut args = vec![
            "run",
            "bittensor_halving",
            "--paths",
            "500",
            "--backend",
            "cpu",
            "-q",
        ];
        args.extend_from_slice(&["--out", s(&out)]);
        args.extend_from_slice(extra);
        let o = tokenrisk(&args);
        assert_eq!(o.status.code(), Some(1), "{}", text_of(&o));
        let e = text_of(&o);
        assert!(
            e.contains("cannot create") && e.contains("a-file/out"),
            "{extra:?}: {e}"
        );
        assert!(e.contains("Not a directory"), "{e}");
    }
}

/// Runs `tokenrisk ARGS` with the file-size limit at `kib` KiB and SIGXFSZ ignored, so a write
/// beyond it fails with EFBIG as a full disk fails with ENOSPC.
fn with_file_limit(kib: u64, args: &[&str]) -> Output {
    let mut script = format!(
        "trap '' XFSZ; ulimit -f {}; exec \"$0\"",
        kib * 1024 / 512 // dash counts 512-byte blocks
    );
    for i in 0..args.len() {
        script.push_str(&format!(" \"${}\"", i + 1));
    }
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_tokenrisk"))
        .args(args);
    for v in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "JOB_COMPLETION_INDEX",
    ] {
        cmd.env_remove(v);
    }
    cmd.output().unwrap()
}

#[test]
fn a_full_disk_leaves_no_half_written_file() {
    if !Path::new("/bin/sh").exists() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // A run: summary.parquet (about 70 KiB) fits under 192 KiB, paths.parquet of 4,000 paths
    // (about 430 KiB) does not.
    let out = tmp.path().join("run");
    let o = with_file_limit(192, &run_args("bittensor_halving", "4000", s(&out)));
    assert_eq!(o.status.code(), Some(1), "{}", text_of(&o));
    let e = text_of(&o);
    assert!(e.contains("cannot write") && e.contains(".parquet"), "{e}");
    assert!(
        e.contains("File too large") || e.contains("No space"),
        "{e}"
    );
    assert_nothing_half_written(&out, "manifest.json");

    // A shard and a merge.
    let parts = tmp.path().join("parts");
    for i in ["0/2", "1/2"] {
        let o = tokenrisk(&[
            "run",
            "bittensor_halving",
            "--paths",
            "4000",
            "--backend",
            "cpu",
            "-q",
            "--out",
            s(&parts),
            "--shard",
            i,
        ]);
        assert!(o.status.success(), "{}", text_of(&o));
    }
    let merged = tmp.path().join("merged");
    let o = with_file_limit(
        64,
        &[
            "merge",
            s(&parts.join("bittensor-halving")),
            "--out",
            s(&merged),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text_of(&o));
    assert_nothing_half_written(&merged, "manifest.json");

    // A shard whose rows cannot be written leaves no partial.json.
    let small = tmp.path().join("small");
    let o = with_file_limit(
        64,
        &[
            "run",
            "bittensor_halving",
            "--paths",
            "4000",
            "--backend",
            "cpu",
            "-q",
            "--out",
            s(&small),
            "--shard",
            "0/2",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text_of(&o));
    assert_nothing_half_written(&small, "partial.json");
}

/// A real full file system (a 256 KiB tmpfs), where mounting one is allowed (root in a
/// container with CAP_SYS_ADMIN); skipped elsewhere.
#[test]
fn a_real_full_tmpfs_leaves_no_half_written_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("tiny");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs", s(&mnt)])
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let o = tokenrisk(&run_args("bittensor_halving", "6000", s(&mnt)));
    assert_eq!(o.status.code(), Some(1), "{}", text_of(&o));
    let e = text_of(&o);
    assert!(e.contains("No space left on device"), "{e}");
    assert_nothing_half_written(&mnt, "manifest.json");
}

#[test]
fn damaged_checkpoints_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let sc = gbm();
    // A checkpoint made by the library: two blocks of a 4,096-path run, then damaged.
    let ck = out.join("gbm/.checkpoint");
    let mut s4096 = sc.clone();
    s4096.scenario.paths = 4096;
    let plan4096 = tokenrisk::workflows::single::RunPlan {
        scenario: s4096,
        backend: tokenrisk::engine::Backend::Cpu,
    };
    // Checkpoints paths 0..count of the 4,096-path run in blocks of `every`.
    let checkpoint = |count: u64, every: u64| {
        tokenrisk::scale::resume::run(
            &plan4096,
            ShardSpec { index: 0, count: 1 },
            PathRange { start: 0, count },
            &ck,
            every,
            &Control::none(),
        )
    };
    let r = checkpoint(2048, 1024);
    assert!(r.is_ok());
    // That state is for a 2,048-path range of a 4,096-path run: a plain 4,096-path run with
    // the same seed refuses it (different range), naming the folder.
    let args = [run_args("gbm.toml", "4096", s(&out)), vec!["--resume"]].concat();
    std::fs::write(tmp.path().join("gbm.toml"), bases().last().unwrap()).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tokenrisk"));
    cmd.current_dir(tmp.path()).args(args);
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text_of(&o));
    let e = text_of(&o);
    assert!(e.contains("path range 0+2048 there, 0+4096 now"), "{e}");
    // A truncated block is named.
    std::fs::remove_dir_all(&ck).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tokenrisk"));
    let o = cmd
        .current_dir(tmp.path())
        .args(run_args("gbm.toml", "4096", s(&out)))
        .args(["--checkpoint-every", "1024"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text_of(&o));
    assert!(!ck.exists());
    let r = checkpoint(4096, 2048);
    // (The whole range is checkpointed and not finished: damage its first block.)
    assert!(r.is_ok());
    let block = ck.join("block-000000000000.parquet");
    let len = std::fs::metadata(&block).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&block)
        .unwrap()
        .set_len(len - 100)
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tokenrisk"));
    let o = cmd
        .current_dir(tmp.path())
        .args(run_args("gbm.toml", "4096", s(&out)))
        .args(["--resume"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text_of(&o));
    let e = text_of(&o);
    assert!(
        e.contains("block-000000000000.parquet") && e.contains("truncated"),
        "{e}"
    );
    assert!(e.contains("delete that folder"), "{e}");
}

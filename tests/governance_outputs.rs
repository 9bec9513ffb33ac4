//! Governance changes in the outputs (issue 15): the `enacted_<name>` columns of
//! `paths.parquet` and their untrusted reading, the accumulator's exact enactment-day counts
//! (merged exactly across shards, restored by resume, checked against the rows), the summary's
//! P(enacted) and median day, `governance.parquet`'s in-force shares, the CLI line, and
//! `compare` of a design with governance against one without.

mod common;
use arrow::array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use common::{path_arg as s, read_parquet, run_args, text, tokenrisk};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokenrisk::engine::{cpu, Control, PathRange};
use tokenrisk::measure::summary::GovernanceFigures;
use tokenrisk::measure::{Accumulator, Summary};
use tokenrisk::model::{Params, PathRecord};
use tokenrisk::output::parquet as pq;
use tokenrisk::scale::shard::{self, ShardSpec};
use tokenrisk::stats::{exact, Z95};

const NAME: &str = "gov";
const PATHS: u64 = 4000;

/// The tests' base scenario named `gov` with the brief's uncertain change (probability 0.6,
/// days 30..=200) and a scheduled one past the horizon (never enacted).
fn scenario_text() -> String {
    let mut t = common::scenario_text(&[("scenario.name", "\"gov\"")]);
    t.push_str(
        r#"
[[governance]]
name = "burn_on"
probability = 0.6
window_days = [30, 200]
set = { "burn.kind" = "revenue_burn", "burn.fraction" = 0.2 }

[[governance]]
name = "late-cut"
day = 400
set = { "burn.kind" = "revenue_burn", "burn.fraction" = 0.5 }
"#,
    );
    t
}

fn scenario_file(dir: &Path) -> PathBuf {
    let p = dir.join("gov.toml");
    std::fs::write(&p, scenario_text()).unwrap();
    p
}

fn ok(args: &[&str]) -> String {
    let o = tokenrisk(args);
    assert!(o.status.success(), "{}", text(&o));
    text(&o)
}

fn lib_run(
    paths: u64,
) -> (
    tokenrisk::scenario::Scenario,
    tokenrisk::engine::EngineOutput,
) {
    let mut sc = common::parse(&scenario_text());
    sc.scenario.paths = paths;
    let out = common::run_cpu(&sc, paths);
    (sc, out)
}

fn enacted_days(records: &[PathRecord], c: usize) -> Vec<u32> {
    let mut d: Vec<u32> = records.iter().filter_map(|r| r.enacted.get(c)).collect();
    d.sort_unstable();
    d
}

#[test]
fn summary_figures_are_exact_and_in_the_cli_line() {
    let (sc, out) = lib_run(PATHS);
    let sum = Summary::of(&out.acc, &out.records, &sc);
    assert_eq!(sum.governance.len(), 2);
    let g = &sum.governance[0];
    let days = enacted_days(&out.records, 0);
    assert_eq!(g.name, "burn_on");
    assert_eq!(g.enacted, days.len() as u64);
    assert_eq!(g.p_enacted, days.len() as f64 / PATHS as f64);
    // The rule enacts on 60% of paths: within 4 binomial SEs (SE = sqrt(.6 .4 / 4000) = 0.0077).
    let se = (0.6f64 * 0.4 / PATHS as f64).sqrt();
    assert!((g.p_enacted - 0.6).abs() < 4.0 * se, "{}", g.p_enacted);
    assert!((g.p_enacted_se - se).abs() < 0.1 * se);
    assert!(g.p_enacted_lo < g.p_enacted && g.p_enacted < g.p_enacted_hi);
    // Every day in the window, the median the lower sample median of the days themselves,
    // its interval the order-statistic one of the per-path values.
    assert!(days.iter().all(|&d| (30..=200).contains(&d)));
    let as_f64: Vec<f64> = days.iter().map(|&d| d as f64).collect();
    assert_eq!(g.median_day, exact::quantile(&as_f64, 0.5, Z95));
    assert_eq!(g.median_day.value, days[(days.len() - 1) / 2] as f64);
    // Uniform on 30..=200: median 115, SE of the median about 171 / (2 sqrt(n)) / ... well
    // within 10 days at this n.
    assert!((g.median_day.value - 115.0).abs() < 10.0);
    // The change past the horizon: never enacted, no median.
    let late = &sum.governance[1];
    assert_eq!((late.enacted, late.p_enacted), (0, 0.0));
    assert!(late.median_day.value.is_nan());
}

#[test]
fn run_folder_holds_the_columns_rows_and_governance_table() {
    let tmp = tempfile::tempdir().unwrap();
    let scn = scenario_file(tmp.path());
    let out = tmp.path().join("out");
    let printed = ok(&[
        "run",
        s(&scn),
        "--paths",
        "4000",
        "--backend",
        "cpu",
        "--out",
        s(&out),
    ]);
    let dir = out.join(NAME);
    let (sc, lib) = lib_run(PATHS);
    // The run's printout: one line per change, P(enacted) with its interval and SE, the
    // median day with its interval, saying exact.
    let figs = Summary::of(&lib.acc, &lib.records, &sc).governance;
    let line = printed
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with("governance burn_on: P(enacted) ")
        })
        .unwrap_or_else(|| panic!("no governance line: {printed}"));
    let g = &figs[0];
    let pct = |x: f64| format!("{:.2}%", 100.0 * x);
    for want in [
        format!("P(enacted) {}", pct(g.p_enacted)),
        format!(
            "(95% CI {} to {}, SE {})",
            pct(g.p_enacted_lo),
            pct(g.p_enacted_hi),
            pct(g.p_enacted_se)
        ),
        format!(
            "median day {:.0} (95% CI {:.0} to {:.0})",
            g.median_day.value, g.median_day.lo, g.median_day.hi
        ),
        "(exact)".to_string(),
    ] {
        assert!(line.contains(&want), "{line} lacks {want}");
    }
    let late = printed
        .lines()
        .find(|l| l.trim_start().starts_with("governance late-cut: "))
        .unwrap_or_else(|| panic!("no late-cut line: {printed}"));
    assert!(
        late.contains("P(enacted) 0.00%") && late.contains("never enacted"),
        "{late}"
    );

    // paths.parquet: the contract's columns, then one nullable UInt32 per change, in order;
    // read back to the very records the engine made.
    let paths = read_parquet(&dir.join("paths.parquet"));
    let schema = paths.schema();
    let n = schema.fields().len();
    assert_eq!(schema.field(n - 2).name(), "enacted_burn_on");
    assert_eq!(schema.field(n - 1).name(), "enacted_late-cut");
    for f in [schema.field(n - 2), schema.field(n - 1)] {
        assert_eq!(f.data_type(), &DataType::UInt32);
        assert!(f.is_nullable());
    }
    assert_eq!(schema.field(n - 3).name(), "breakeven_day");
    let back = pq::read_paths(std::fs::File::open(dir.join("paths.parquet")).unwrap()).unwrap();
    assert_eq!(back, lib.records);
    assert!(back.iter().any(|r| r.enacted.get(0).is_some()));
    assert!(back.iter().any(|r| r.enacted.get(0).is_none()));

    // summary.parquet: governance.<name>.* columns equal to the library's figures.
    let sum = read_parquet(&dir.join("summary.parquet"));
    let f = |c: &str| {
        let col = sum.column_by_name(c).unwrap_or_else(|| panic!("no {c}"));
        col.as_any().downcast_ref::<Float64Array>().unwrap().clone()
    };
    let figs = GovernanceFigures::of(&lib.acc, 0, "burn_on");
    assert_eq!(f("governance.burn_on.p_enacted").value(0), figs.p_enacted);
    assert_eq!(
        f("governance.burn_on.p_enacted_se").value(0),
        figs.p_enacted_se
    );
    assert_eq!(
        f("governance.burn_on.p_enacted_lo").value(0),
        figs.p_enacted_lo
    );
    assert_eq!(
        f("governance.burn_on.median_day").value(0),
        figs.median_day.value
    );
    assert_eq!(
        f("governance.burn_on.median_day_lo").value(0),
        figs.median_day.lo
    );
    assert_eq!(
        f("governance.burn_on.median_day_hi").value(0),
        figs.median_day.hi
    );
    assert!(f("governance.late-cut.median_day").is_null(0));
    assert_eq!(f("governance.late-cut.p_enacted").value(0), 0.0);

    // governance.parquet: per (change, report day) the exact share in force.
    let g = read_parquet(&dir.join("governance.parquet"));
    let gs = g.schema();
    let names: Vec<&str> = gs.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, pq::GOVERNANCE_COLUMNS);
    assert_eq!(g.num_rows(), 2 * lib.acc.report_days.len());
    let change = g.column(1).as_any().downcast_ref::<StringArray>().unwrap();
    let day = g.column(2).as_any().downcast_ref::<UInt32Array>().unwrap();
    let in_force = g
        .column(4)
        .as_any()
        .downcast_ref::<arrow::array::UInt64Array>()
        .unwrap();
    let share = g.column(5).as_any().downcast_ref::<Float64Array>().unwrap();
    let days = enacted_days(&lib.records, 0);
    for i in 0..g.num_rows() {
        let c = if change.value(i) == "burn_on" { 0 } else { 1 };
        let want = if c == 0 {
            days.iter().filter(|&&d| d <= day.value(i)).count() as u64
        } else {
            0
        };
        assert_eq!(in_force.value(i), want, "row {i}");
        assert_eq!(share.value(i), want as f64 / PATHS as f64);
    }
    let last = lib.acc.report_days.len() - 1;
    assert_eq!(in_force.value(last), days.len() as u64);
    assert_eq!(in_force.value(0), 0, "day 0 precedes the window");

    // Metadata like the other files; listed in the manifest; the folder check covers it.
    let run_meta = |f: &str| {
        let mut kv = tokenrisk::output::read_parquet_metadata(&dir.join(f)).unwrap();
        kv.retain(|k, _| k.starts_with("tokenrisk."));
        kv
    };
    let meta = run_meta("governance.parquet");
    assert_eq!(meta, run_meta("paths.parquet"));
    assert_eq!(meta.len(), 7, "{meta:?}");
    assert_eq!(meta["tokenrisk.scenario"], NAME);
    let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"governance.parquet\""), "{manifest}");
    tokenrisk::output::folder::check_run_folder(&dir).unwrap();
    // A governance table of another run (another seed) is refused by name.
    let other = tmp.path().join("other");
    ok(&[
        "run",
        s(&scn),
        "--paths",
        "4000",
        "--seed",
        "99",
        "--backend",
        "cpu",
        "-q",
        "--out",
        s(&other),
    ]);
    std::fs::copy(
        other.join(NAME).join("governance.parquet"),
        dir.join("governance.parquet"),
    )
    .unwrap();
    let e = tokenrisk::output::folder::check_run_folder(&dir).unwrap_err();
    assert!(
        format!("{e:#}").contains("governance.parquet says seed 99"),
        "{e:#}"
    );
}

#[test]
fn without_governance_the_files_are_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let scn = tmp.path().join("base.toml");
    std::fs::write(&scn, common::GBM_BASE).unwrap();
    let out = tmp.path().join("out");
    let printed = ok(&run_args(s(&scn), "2000", s(&out)));
    assert!(!printed.contains("governance"), "{printed}");
    let dir = out.join("gbm");
    assert!(!dir.join("governance.parquet").exists());
    let paths = read_parquet(&dir.join("paths.parquet"));
    assert_eq!(paths.schema(), pq::paths_schema());
    let sum = read_parquet(&dir.join("summary.parquet"));
    assert!(sum
        .schema()
        .fields()
        .iter()
        .all(|f| !f.name().starts_with("governance")));
    // The accumulator serializes as before (no `enacted` key), and an old file without it
    // loads as having no enactments.
    let sc = common::parse(common::GBM_BASE);
    let acc = common::run_cpu(&sc, 500).acc;
    let json = serde_json::to_string(&acc).unwrap();
    assert!(!json.contains("\"enacted\""));
    let back: Accumulator = serde_json::from_str(&json).unwrap();
    assert_eq!(back, acc);
}

#[test]
fn accumulator_counts_merge_exactly_and_round_trip() {
    let (sc, full) = lib_run(PATHS);
    let days = enacted_days(&full.records, 0);
    assert_eq!(full.acc.enacted_count(0), days.len() as u64);
    assert_eq!(full.acc.enacted_count(1), 0);
    // Any grouping of the paths gives the same counts (integer additions).
    let params = Params::compile(&sc);
    let mut merged = Accumulator::new(full.acc.report_days.clone());
    for (start, count) in [(0, 1), (1, 1500), (1501, 999), (2500, 1500)] {
        let part = cpu::run(
            &params,
            sc.scenario.seed,
            PathRange { start, count },
            &Control::none(),
        )
        .unwrap();
        merged.merge(&part.acc);
    }
    assert_eq!(merged.enacted, full.acc.enacted);
    // The JSON of a partial file carries them and reads back exactly.
    let json = serde_json::to_string(&full.acc).unwrap();
    assert!(json.contains("\"enacted\""));
    let back: Accumulator = serde_json::from_str(&json).unwrap();
    assert_eq!(back, full.acc);

    // The rows determine the counts: an edited count is named.
    assert!(tokenrisk::output::partial::rows_problems(&full.acc, &full.records).is_empty());
    let mut edited = full.acc.clone();
    let (&d, _) = edited.enacted[0].iter().next().unwrap();
    *edited.enacted[0].get_mut(&d).unwrap() += 1;
    let p = tokenrisk::output::partial::rows_problems(&edited, &full.records);
    assert!(
        p.iter().any(|m| m.starts_with("accumulator.enacted[0]")),
        "{p:?}"
    );
    let mut moved = full.acc.clone();
    let n = moved.enacted[0].remove(&d).unwrap();
    *moved.enacted[0].entry(d + 1).or_insert(0) += n;
    let p = tokenrisk::output::partial::rows_problems(&moved, &full.records);
    assert!(
        p.iter().any(|m| m.starts_with("accumulator.enacted[0]")),
        "{p:?}"
    );
}

#[test]
fn merged_shards_equal_the_single_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (sc, full) = lib_run(PATHS);
    let params = Params::compile(&sc);
    let root = tmp.path().join("lib");
    let n = 3;
    for i in 0..n {
        let spec = ShardSpec { index: i, count: n };
        let range = spec.range(PATHS);
        let out = cpu::run(&params, sc.scenario.seed, range, &Control::none()).unwrap();
        shard::write_shard(&root.join(spec.dir_name()), &sc, spec, range, &out).unwrap();
    }
    let (_, merged, parts, _, _) =
        tokenrisk::scale::merge::merge_parts(&[root], false, None).unwrap();
    assert_eq!(parts as u64, n);
    assert_eq!(merged.records, full.records);
    assert_eq!(merged.acc.enacted, full.acc.enacted);

    // Through the CLI: the merged folder's governance table and summary columns are the
    // single run's.
    let scn = scenario_file(tmp.path());
    let single = tmp.path().join("single");
    ok(&run_args(s(&scn), "4000", s(&single)));
    let parts = tmp.path().join("parts");
    for i in 0..n {
        let spec = format!("{i}/{n}");
        ok(&[
            &run_args(s(&scn), "4000", s(&parts))[..],
            &["--shard", &spec],
        ]
        .concat());
    }
    let out = tmp.path().join("merged");
    ok(&["merge", s(&parts.join(NAME)), "--out", s(&out)]);
    let (a, b) = (single.join(NAME), out.join(NAME));
    assert_eq!(
        read_parquet(&a.join("governance.parquet")),
        read_parquet(&b.join("governance.parquet"))
    );
    assert_eq!(
        read_parquet(&a.join("paths.parquet")),
        read_parquet(&b.join("paths.parquet"))
    );
    let (sa, sb) = (
        read_parquet(&a.join("summary.parquet")),
        read_parquet(&b.join("summary.parquet")),
    );
    for f in sa.schema().fields() {
        if f.name().starts_with("governance.") {
            let (ca, cb) = (
                sa.column_by_name(f.name()).unwrap(),
                sb.column_by_name(f.name()).unwrap(),
            );
            assert_eq!(ca.to_data(), cb.to_data(), "{}", f.name());
        }
    }
}

#[test]
fn a_killed_run_resumes_with_its_enactments() {
    let tmp = tempfile::tempdir().unwrap();
    let scn = scenario_file(tmp.path());
    let full = tmp.path().join("full");
    ok(&run_args(s(&scn), "4096", s(&full)));
    let out = tmp.path().join("killed");
    let args = [
        run_args(s(&scn), "4096", s(&out)),
        vec!["--checkpoint-every", "512"],
    ]
    .concat();
    let ck = out.join(NAME).join(".checkpoint");
    let listed = || {
        std::fs::read(ck.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["header"]["paths_files"].as_array().map(Vec::len))
            .unwrap_or(0)
    };
    let mut child = common::tokenrisk_command(&args)
        .env("TOKENRISK_TEST_STOP_AFTER_BLOCKS", "3")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while listed() < 3 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before its kill"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint progress"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let last = ok(&args);
    assert!(last.contains("resumed from checkpoint"), "{last}");
    for f in ["paths.parquet", "governance.parquet"] {
        assert_eq!(
            read_parquet(&full.join(NAME).join(f)),
            read_parquet(&out.join(NAME).join(f)),
            "{f}"
        );
    }
}

/// `paths.parquet` rewritten with `edit` applied to its columns (the file's own metadata
/// kept), then read back: the error text.
fn read_edited(
    file: &Path,
    edit: impl Fn(Vec<(Field, ArrayRef)>) -> Vec<(Field, ArrayRef)>,
) -> String {
    let b = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap()).unwrap();
    let kv = b.metadata().file_metadata().key_value_metadata().cloned();
    let batch = b.build().unwrap().next().unwrap().unwrap();
    let cols: Vec<(Field, ArrayRef)> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .zip(batch.columns().iter().cloned())
        .collect();
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = edit(cols).into_iter().unzip();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
    let edited = file.with_extension("edited.parquet");
    let props = pq::writer_properties(kv.unwrap_or_default());
    pq::write_parquet(
        std::fs::File::create(&edited).unwrap(),
        batch.schema(),
        props,
        [Ok(batch)],
    )
    .unwrap();
    match pq::read_paths(std::fs::File::open(&edited).unwrap()) {
        Ok(_) => "read without error".to_string(),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn enacted_columns_are_untrusted_input() {
    let tmp = tempfile::tempdir().unwrap();
    let scn = scenario_file(tmp.path());
    let out = tmp.path().join("out");
    ok(&run_args(s(&scn), "300", s(&out)));
    let file = out.join(NAME).join("paths.parquet");
    assert_eq!(read_edited(&file, |c| c), "read without error");
    let rename = |from: &'static str, to: &'static str| {
        move |c: Vec<(Field, ArrayRef)>| {
            c.into_iter()
                .map(|(f, a)| {
                    if f.name() == from {
                        (f.with_name(to), a)
                    } else {
                        (f, a)
                    }
                })
                .collect()
        }
    };
    // A name the scenario has no entry for.
    let e = read_edited(&file, rename("enacted_burn_on", "enacted_burn_off"));
    assert!(
        e.contains("column enacted_burn_off names no [[governance]] entry"),
        "{e}"
    );
    assert!(e.contains("enacted_burn_on, enacted_late-cut"), "{e}");
    // An entry's column missing.
    let e = read_edited(&file, |c| {
        c.into_iter()
            .filter(|(f, _)| f.name() != "enacted_late-cut")
            .collect()
    });
    assert!(e.contains("column enacted_late-cut is missing"), "{e}");
    // The wrong type.
    let e = read_edited(&file, |c| {
        c.into_iter()
            .map(|(f, a)| {
                if f.name() == "enacted_burn_on" {
                    let v: Float64Array = a
                        .as_any()
                        .downcast_ref::<UInt32Array>()
                        .unwrap()
                        .iter()
                        .map(|x| x.map(f64::from))
                        .collect();
                    (f.with_data_type(DataType::Float64), Arc::new(v) as ArrayRef)
                } else {
                    (f, a)
                }
            })
            .collect()
    });
    assert!(
        e.contains("column enacted_burn_on is Float64 (expected UInt32"),
        "{e}"
    );
    // A day at the horizon's end (365: steps x step days) or beyond.
    let e = read_edited(&file, |c| {
        c.into_iter()
            .map(|(f, a)| {
                if f.name() == "enacted_late-cut" {
                    let mut v: Vec<Option<u32>> = vec![None; a.len()];
                    v[7] = Some(365);
                    (f, Arc::new(UInt32Array::from(v)) as ArrayRef)
                } else {
                    (f, a)
                }
            })
            .collect()
    });
    assert!(
        e.contains(
            "column enacted_late-cut of path 7 is day 365, not before the horizon's end (day 365)"
        ),
        "{e}"
    );
}

#[test]
fn compare_and_sweep_work_with_governance_on_one_side() {
    let tmp = tempfile::tempdir().unwrap();
    let a = scenario_file(tmp.path());
    let b = tmp.path().join("base.toml");
    std::fs::write(&b, common::GBM_BASE).unwrap();
    let out = tmp.path().join("cmp");
    let printed = ok(&[
        "compare",
        s(&a),
        s(&b),
        "--paths",
        "2000",
        "--backend",
        "cpu",
        "--out",
        s(&out),
    ]);
    assert!(printed.contains("gov vs gbm"), "{printed}");
    assert!(printed.contains("P(spiral)"), "{printed}");
    assert!(out.join("comparison.parquet").exists());
    assert!(out.join(NAME).join("governance.parquet").exists());
    assert!(!out.join("gbm").join("governance.parquet").exists());
    ok(&["report", s(&out)]);
    assert!(out.join("report.html").exists());

    // A sweep of a design with governance: every point has its governance table.
    let sw = tmp.path().join("sw.toml");
    let mut t = scenario_text().replace("name = \"gov\"", "name = \"gov_sweep\"");
    t.push_str("\n[sweep]\n\"market.volatility\" = [0.6, 1.0]\n");
    std::fs::write(&sw, t).unwrap();
    let so = tmp.path().join("sweep");
    ok(&run_args(s(&sw), "1000", s(&so)));
    for p in ["point-0000", "point-0001"] {
        let g = read_parquet(&so.join("gov_sweep").join(p).join("governance.parquet"));
        assert!(g.num_rows() > 0, "{p}");
    }
}

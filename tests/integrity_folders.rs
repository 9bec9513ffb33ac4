//! Issue 11, findings 1, 8 and 12: a run folder is one atomic unit. Kills at random
//! moments, two writers of one folder, Ctrl-C and a memory limit never leave a mixed,
//! half-written or empty folder or temp files behind; `report` refuses a folder whose files
//! belong to different runs.
//!
//! Whether a folder is mixed is judged here from the files themselves (each Parquet file's
//! seed and the manifest's seed and sizes), not by the library's own check, so these tests
//! say what a user would find.

mod common;

use common::{path_arg, run_args, spawn_tokenrisk, text, tokenrisk, wait_at_most};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

const PRESET: &str = "bittensor_halving";
/// The preset's `scenario.name`: the folder its runs write.
const NAME: &str = "bittensor-halving";
const RUN_FILES: [&str; 3] = ["summary.parquet", "timeseries.parquet", "paths.parquet"];

fn seed_of(file: &Path) -> Result<String, String> {
    let kv = tokenrisk::output::read_parquet_metadata(file).map_err(|e| format!("{e:#}"))?;
    kv.get("tokenrisk.seed")
        .cloned()
        .ok_or_else(|| format!("{}: no seed", file.display()))
}

/// What is wrong with run folder `dir`, if anything: run files without a manifest, files of
/// another seed than the manifest's, or of another size than it lists. `None` for a folder
/// that is absent or holds one complete run.
fn mixed(dir: &Path) -> Option<String> {
    if !dir.exists() {
        return None;
    }
    let present: Vec<&str> = RUN_FILES
        .iter()
        .copied()
        .filter(|f| dir.join(f).exists())
        .collect();
    let Ok(text) = fs::read_to_string(dir.join("manifest.json")) else {
        return (!present.is_empty()).then(|| format!("{present:?} without manifest.json"));
    };
    let m: serde_json::Value = match serde_json::from_str(&text) {
        Ok(m) => m,
        Err(e) => return Some(format!("manifest.json: {e}")),
    };
    let seed = m["seed"].to_string();
    let mut problems = Vec::new();
    for f in RUN_FILES {
        let path = dir.join(f);
        if !path.exists() {
            problems.push(format!("{f} missing"));
            continue;
        }
        match seed_of(&path) {
            Ok(s) if s != seed => problems.push(format!("{f} seed {s}, manifest {seed}")),
            Ok(_) => {}
            Err(e) => problems.push(e),
        }
        let listed = m["files"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["name"] == f))
            .and_then(|e| e["bytes"].as_u64());
        let bytes = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if listed != Some(bytes) {
            problems.push(format!("{f} {bytes} bytes, manifest lists {listed:?}"));
        }
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Entries of `dir` whose names start with a dot (temp files and folders, lock files).
fn hidden(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

fn run_seed(out: &Path, seed: &str, paths: &str) -> Vec<String> {
    let mut a: Vec<String> = run_args(PRESET, paths, path_arg(out))
        .into_iter()
        .map(String::from)
        .collect();
    a.extend(["--seed".to_string(), seed.to_string()]);
    a
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Polls until `cond` holds (at most 60 s).
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "{what} never happened"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn finding_01_kill_loop_never_leaves_a_mixed_folder() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let dir = out.join(NAME);
    // One complete run to start from, timed so the kills spread over a whole run.
    let t0 = Instant::now();
    let o = tokenrisk(&refs(&run_seed(&out, "1", "4000")));
    assert!(o.status.success(), "{}", text(&o));
    let whole = t0.elapsed();
    // A fixed-seed xorshift: the same kill moments on every run of the test.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut unfinished = 0;
    let kills = 30;
    for i in 0..kills {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = whole.mul_f64(1.1 * (x % 1000) as f64 / 1000.0);
        let seed = (2 + i % 2).to_string();
        let mut child = spawn_tokenrisk(&refs(&run_seed(&out, &seed, "4000")));
        std::thread::sleep(at);
        if child.try_wait().unwrap().is_none() {
            unfinished += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        if let Some(why) = mixed(&dir) {
            panic!(
                "after kill {i} at {at:?}: {} is mixed: {why}",
                dir.display()
            );
        }
    }
    eprintln!("{kills} SIGKILLs, {unfinished} of them before the run finished");
    assert!(unfinished >= kills / 2, "too few kills hit a running run");
    // The next run cleans up whatever the kills left.
    let o = tokenrisk(&refs(&run_seed(&out, "9", "1000")));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(mixed(&dir), None);
    assert_eq!(seed_of(&dir.join("paths.parquet")).unwrap(), "9");
    assert_eq!(
        hidden(&out),
        Vec::<String>::new(),
        "leftovers in {}",
        out.display()
    );
    assert_eq!(
        hidden(&dir),
        Vec::<String>::new(),
        "leftovers in {}",
        dir.display()
    );
}

#[test]
fn finding_01_concurrent_writers_never_mix_and_the_second_is_told_who_holds_it() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let dir = out.join(NAME);
    let mut refused = 0;
    for round in 0..6 {
        let a = spawn_tokenrisk(&refs(&run_seed(&out, "1", "3000")));
        let b = spawn_tokenrisk(&refs(&run_seed(&out, "2", "3000")));
        let (oa, ob) = (
            wait_at_most(a, Duration::from_secs(120), "tokenrisk"),
            wait_at_most(b, Duration::from_secs(120), "tokenrisk"),
        );
        assert!(
            oa.status.success() || ob.status.success(),
            "round {round}: both failed: {} / {}",
            text(&oa),
            text(&ob)
        );
        for o in [&oa, &ob] {
            if !o.status.success() {
                refused += 1;
                let t = text(o);
                assert!(
                    t.contains("is being written by another tokenrisk process (PID ")
                        && t.contains("--wait"),
                    "round {round}: {t}"
                );
            }
        }
        if let Some(why) = mixed(&dir) {
            panic!("round {round}: {} is mixed: {why}", dir.display());
        }
    }
    assert!(refused > 0, "two simultaneous writers were never refused");
    // With --wait the second waits for the first: both succeed, the folder is whole.
    let mut wa = run_seed(&out, "3", "3000");
    wa.push("--wait".into());
    let mut wb = run_seed(&out, "4", "3000");
    wb.push("--wait".into());
    let (a, b) = (spawn_tokenrisk(&refs(&wa)), spawn_tokenrisk(&refs(&wb)));
    let (oa, ob) = (
        wait_at_most(a, Duration::from_secs(120), "tokenrisk"),
        wait_at_most(b, Duration::from_secs(120), "tokenrisk"),
    );
    assert!(
        oa.status.success() && ob.status.success(),
        "{} / {}",
        text(&oa),
        text(&ob)
    );
    assert_eq!(mixed(&dir), None);
    assert_eq!(hidden(&out), Vec::<String>::new());
}

#[test]
fn finding_01_report_refuses_a_folder_of_two_runs() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    for (out, seed) in [(&a, "1"), (&b, "2")] {
        let o = tokenrisk(&refs(&run_seed(out, seed, "300")));
        assert!(o.status.success(), "{}", text(&o));
    }
    let dir = a.join(NAME);
    fs::copy(
        b.join(NAME).join("paths.parquet"),
        dir.join("paths.parquet"),
    )
    .unwrap();
    let o = tokenrisk(&["report", path_arg(&dir)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("paths.parquet says seed 2 but manifest.json says seed 1"),
        "{t}"
    );
    assert!(!dir.join("report.html").exists());
    // A folder whose manifest never came (a write interrupted before its end).
    fs::remove_file(dir.join("manifest.json")).unwrap();
    let o = tokenrisk(&["report", path_arg(&dir)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("incomplete run folder"), "{}", text(&o));
}

#[test]
fn finding_01_leftovers_of_dead_writers_are_removed() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let dir = out.join(NAME);
    let o = tokenrisk(&refs(&run_seed(&out, "1", "300")));
    assert!(o.status.success(), "{}", text(&o));
    // PID 999999999 is above Linux's pid_max: no process has it.
    let dead_build = out.join(format!(".{NAME}.tmp-999999999"));
    fs::create_dir(&dead_build).unwrap();
    fs::write(dead_build.join("summary.parquet"), "partial").unwrap();
    let dead_file = dir.join(".summary.parquet.999999999.0.tmp");
    fs::write(&dead_file, "partial").unwrap();
    let o = tokenrisk(&refs(&run_seed(&out, "2", "300")));
    assert!(o.status.success(), "{}", text(&o));
    assert!(!dead_build.exists() && !dead_file.exists());
    assert_eq!(hidden(&out), Vec::<String>::new());
    assert_eq!(hidden(&dir), Vec::<String>::new());
}

#[test]
fn finding_12_ctrl_c_stops_cleanly_with_exit_130() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    // A plain run: interrupted while simulating, it leaves no folder and no temp file.
    let child = spawn_tokenrisk(&refs(&run_seed(&out, "1", "60000")));
    let build = out.join(format!(".{NAME}.tmp-{}", child.id()));
    wait_for("the run's build folder", || build.exists());
    signal(&child, "-INT");
    let o = wait_at_most(child, Duration::from_secs(60), "tokenrisk");
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert!(text(&o).contains("interrupted"), "{}", text(&o));
    assert!(!out.join(NAME).exists());
    assert_eq!(hidden(&out), Vec::<String>::new());

    // A checkpointed run: SIGTERM keeps the checkpoint whole and says how to go on.
    let mut args = run_seed(&out, "1", "30000");
    args.extend(["--checkpoint-every".into(), "1024".into()]);
    let child = spawn_tokenrisk(&refs(&args));
    let ck = out.join(NAME).join(".checkpoint");
    wait_for("the first checkpoint", || ck.join("state.json").exists());
    signal(&child, "-TERM");
    let o = wait_at_most(child, Duration::from_secs(60), "tokenrisk");
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("checkpoint at ") && t.contains("of 30000 paths kept"),
        "{t}"
    );
    assert!(t.contains("--resume"), "{t}");
    let temps: Vec<String> = fs::read_dir(&ck)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert_eq!(temps, Vec::<String>::new());

    // Resumed, its times say which attempts they cover.
    args.push("--resume".into());
    let o = tokenrisk(&refs(&args));
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains(" s this attempt (") && t.contains(" s over all attempts)"),
        "{t}"
    );
    assert!(t.contains("s with outputs this attempt"), "{t}");
    assert_eq!(mixed(&out.join(NAME)), None);
}

#[test]
fn finding_08_an_address_space_limit_is_refused_up_front_with_no_folder() {
    let root = tempfile::tempdir().unwrap();
    let preset = tokenrisk::scenario::PRESETS
        .iter()
        .find(|p| p.file.contains(PRESET))
        .expect("preset");
    let text_100y = common::set(
        &common::set(preset.toml, "scenario.horizon_days", "36500"),
        "scenario.report_every",
        "1",
    );
    let file: PathBuf = root.path().join("century.toml");
    fs::write(&file, text_100y).unwrap();
    let out = root.path().join("out");
    let cmd = format!(
        "ulimit -v 2000000 && exec '{}' run '{}' --paths 2000 --backend cpu -q --out '{}'",
        env!("CARGO_BIN_EXE_tokenrisk"),
        file.display(),
        out.display()
    );
    let o = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("RLIMIT_AS"), "{t}");
    assert!(t.contains("scenario.report_every"), "{t}");
    assert!(!out.join(NAME).exists(), "an empty run folder was left");

    // With the preflight switched off, the per-path records that cannot be had are an
    // error too (20 million paths need 3.3 GiB), not an abort.
    let cmd = format!(
        "ulimit -v 2000000 && exec '{}' run {PRESET} --paths 20000000 --backend cpu -q --out '{}'",
        env!("CARGO_BIN_EXE_tokenrisk"),
        out.display()
    );
    let o = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .env("TOKENRISK_MEMORY_CHECK", "off")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("cannot allocate 3.3 GiB for the per-path records of 20000000 paths"),
        "{}",
        text(&o)
    );
    assert!(!out.join(NAME).exists(), "an empty run folder was left");
}

/// Rewrites `dir/summary.parquet` as `batch` (the file's own key-value metadata kept) and
/// updates the size `manifest.json` lists, so only the table itself is wrong.
fn replace_summary(dir: &Path, batch: &arrow::array::RecordBatch) {
    use parquet::file::metadata::KeyValue;
    let path = dir.join("summary.parquet");
    let kv: Vec<KeyValue> = tokenrisk::output::read_parquet_metadata(&path)
        .unwrap()
        .into_iter()
        .map(|(k, v)| KeyValue::new(k, v))
        .collect();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_key_value_metadata(Some(kv))
        .build();
    let file = fs::File::create(&path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
    let bytes = fs::metadata(&path).unwrap().len();
    let mpath = dir.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&mpath).unwrap()).unwrap();
    for f in m["files"].as_array_mut().unwrap() {
        if f["name"] == "summary.parquet" {
            f["bytes"] = bytes.into();
        }
    }
    fs::write(&mpath, serde_json::to_string_pretty(&m).unwrap()).unwrap();
}

#[test]
fn finding_10_report_refuses_a_summary_no_run_writes() {
    use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let o = tokenrisk(&refs(&run_seed(&out, "1", "300")));
    assert!(o.status.success(), "{}", text(&o));
    let dir = out.join(NAME);
    let good = common::read_parquet(&dir.join("summary.parquet"));
    let with_column = |name: &str, col: ArrayRef| {
        let schema = good.schema();
        let i = schema.index_of(name).unwrap();
        let mut fields: Vec<_> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields[i] = arrow::datatypes::Field::new(name, col.data_type().clone(), true);
        let mut cols = good.columns().to_vec();
        cols[i] = col;
        RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), cols).unwrap()
    };
    let cases: Vec<(RecordBatch, &str)> = vec![
        (
            with_column("p_spiral", Arc::new(StringArray::from(vec!["0.5"]))),
            "column p_spiral is not a number",
        ),
        (
            with_column("p_spiral", Arc::new(Float64Array::from(vec![f64::NAN]))),
            "p_spiral = NaN (a probability",
        ),
        (
            arrow::compute::concat_batches(&good.schema(), [&good, &good]).unwrap(),
            "2 rows, a run's summary has exactly 1",
        ),
    ];
    for (batch, want) in &cases {
        replace_summary(&dir, batch);
        let o = tokenrisk(&["report", path_arg(&dir)]);
        assert_eq!(o.status.code(), Some(1), "{want}: {}", text(&o));
        assert!(text(&o).contains(want), "{want}: {}", text(&o));
    }
    // A run folder without its summary is refused, not shown as a page of other tables.
    fs::remove_file(dir.join("summary.parquet")).unwrap();
    let o = tokenrisk(&["report", path_arg(&dir)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("summary.parquet is missing"),
        "{}",
        text(&o)
    );
}

#[test]
fn finding_01_report_refuses_a_comparison_beside_other_runs() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let designs = [
        "data/scenarios/compare/halving.toml",
        "data/scenarios/compare/bme.toml",
    ];
    let dir = |d: &str| format!("{}/{d}", env!("CARGO_MANIFEST_DIR"));
    let (a, b) = (dir(designs[0]), dir(designs[1]));
    let o = tokenrisk(&[
        "compare",
        &a,
        &b,
        "--paths",
        "300",
        "--backend",
        "cpu",
        "-q",
        "--out",
        path_arg(&out),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = tokenrisk(&["report", path_arg(&out)]);
    assert!(o.status.success(), "{}", text(&o));
    // One design run again alone, with another seed: its folder no longer is the run the
    // comparison was made from.
    let mut args = run_args(&a, "300", path_arg(&out));
    args.extend(["--seed", "7"]);
    let o = tokenrisk(&args);
    assert!(o.status.success(), "{}", text(&o));
    let o = tokenrisk(&["report", path_arg(&out)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("comparison.parquet was not made from the design folders beside it")
            && t.contains("its folder says seed 7, the comparison 42"),
        "{t}"
    );
}

//! The `tokenrisk` binary end to end: every preset runs and writes the contract's tables,
//! `validate` and error exit codes, and byte-identical outputs for the same seed whatever
//! the thread count.

mod common;
use common::text;
use std::path::Path;
use std::process::{Command, Output};
use tokenrisk::output::read_parquet_metadata;

fn tokenrisk(args: &[&str], threads: Option<usize>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tokenrisk"));
    cmd.args(args);
    if let Some(t) = threads {
        cmd.env("RAYON_NUM_THREADS", t.to_string());
    }
    cmd.output().expect("run tokenrisk")
}

fn parquet_rows(path: &Path) -> usize {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    reader.metadata().file_metadata().num_rows() as usize
}

#[test]
fn every_preset_runs_end_to_end() {
    let out = tempfile::tempdir().unwrap();
    for preset in tokenrisk::scenario::PRESETS {
        let o = tokenrisk(
            &[
                "run",
                preset.stem(),
                "--paths",
                "300",
                "--out",
                out.path().to_str().unwrap(),
                "--backend",
                "cpu",
            ],
            None,
        );
        assert!(o.status.success(), "{}: {}", preset.file, text(&o));
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains("P(spiral by day"), "{stdout}");
        assert!(
            stdout.contains("95% VaR ") && stdout.contains("95% CVaR "),
            "{stdout}"
        );
        let s = tokenrisk::scenario::parse(preset.toml, preset.file).unwrap();
        let dir = out.path().join(&s.scenario.name);
        assert_eq!(parquet_rows(&dir.join("summary.parquet")), 1);
        assert_eq!(parquet_rows(&dir.join("paths.parquet")), 300);
        let report_rows = tokenrisk::model::Params::compile(&s).report_days().len();
        assert_eq!(
            parquet_rows(&dir.join("timeseries.parquet")),
            report_rows * 12
        );
        let meta = read_parquet_metadata(&dir.join("summary.parquet")).unwrap();
        assert_eq!(meta["tokenrisk.scenario_toml"], preset.toml);
        assert_eq!(meta["tokenrisk.engine"], "cpu");
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["paths"], 300);
        // Nothing half-written is left behind.
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().to_string();
            assert!(!name.ends_with(".tmp"), "leftover temp file {name}");
        }
    }
}

#[test]
fn same_seed_gives_identical_files_for_any_thread_count() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for (dir, threads) in [(&a, 1), (&b, 2)] {
        let o = tokenrisk(
            &[
                "run",
                "death_spiral_stress",
                "--paths",
                "2500",
                "--seed",
                "1234",
                "--backend",
                "cpu",
                "--out",
                dir.path().to_str().unwrap(),
            ],
            Some(threads),
        );
        assert!(o.status.success(), "{}", text(&o));
    }
    let name = "death-spiral-stress";
    for file in ["paths.parquet", "timeseries.parquet", "summary.parquet"] {
        let x = std::fs::read(a.path().join(name).join(file)).unwrap();
        let y = std::fs::read(b.path().join(name).join(file)).unwrap();
        assert!(x == y, "{file} differs between 1 and 2 threads");
    }
}

#[test]
fn validate_reports_ok_and_problems_with_exit_codes() {
    let o = tokenrisk(&["validate", "data/scenarios/render_bme.toml"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("ok"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let good = tokenrisk::scenario::preset("render_bme").unwrap().toml;
    std::fs::write(&bad, good.replace("[demand]", "[demand]\nmystery = 1")).unwrap();
    let o = tokenrisk(&["validate", bad.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("mystery"), "{}", text(&o));
}

#[test]
fn user_errors_exit_non_zero_with_one_clear_message() {
    let o = tokenrisk(&["run", "/no/such/scenario.toml"], None);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(
        t.contains("/no/such/scenario.toml") && t.contains("no such file"),
        "{t}"
    );
    assert!(!t.contains("panicked"), "{t}");

    let o = tokenrisk(&["run", "render_bme", "--paths", "0"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("--paths 0"), "{}", text(&o));

    let o = tokenrisk(&["run", "--bogus-flag"], None);
    assert_eq!(o.status.code(), Some(2), "usage errors exit 2");

    // An output root that is a regular file cannot hold output folders.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let o = tokenrisk(
        &[
            "run",
            "render_bme",
            "--paths",
            "10",
            "--backend",
            "cpu",
            "--out",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not-a-dir"), "{}", text(&o));
}

#[test]
fn presets_lists_every_bundled_scenario() {
    let o = tokenrisk(&["presets"], None);
    assert!(o.status.success());
    let t = text(&o);
    for p in tokenrisk::scenario::PRESETS {
        assert!(t.contains(p.stem()), "{t}");
    }
}

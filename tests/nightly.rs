//! `tokenrisk nightly` end to end with small path counts: exit codes (0 all clear, 3 alerts,
//! 4 failures), the alert on the page and in alerts.json, a broken file among good ones, the
//! previous night's deltas, and re-running a date replacing its folder without leftovers.

mod common;
use common::text;
use std::path::Path;
use std::process::{Command, Output};

/// A cheap scenario that never spirals (no feedback, constant capacity) and clears its alerts.
fn calm() -> String {
    common::scenario_text(&[
        ("scenario.name", "\"calm\""),
        ("scenario.description", "\"GBM price, no feedback\""),
        ("scenario.report_every", "28"),
        ("scenario.paths", "100"),
        ("alerts.max_spiral_probability", "0.5"),
        ("alerts.max_emissions_to_revenue", "100.0"),
    ])
}

/// The Render preset (about one path in ten spirals) with a spiral threshold of 0.
fn fragile() -> String {
    let text = tokenrisk::scenario::preset("render_bme").unwrap().toml;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("max_spiral_probability") {
                "max_spiral_probability = 0.0".to_string()
            } else if l.starts_with("name = ") {
                "name = \"fragile\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    lines.join("\n")
}

/// A file that parses but fails validation.
fn broken() -> String {
    calm()
        .replace("horizon_days = 365", "horizon_days = 0")
        .replace("name = \"calm\"", "name = \"broken\"")
}

fn nightly(scenarios: &Path, reports: &Path, date: &str, paths: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokenrisk"))
        .arg("nightly")
        .arg(scenarios)
        .arg("--out")
        .arg(reports)
        .args(["--date", date, "--paths", paths, "--backend", "cpu", "-q"])
        .output()
        .expect("run tokenrisk")
}

fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (name, body) in files {
        std::fs::write(d.path().join(name), body).unwrap();
    }
    d
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn all_clear_exits_0_and_writes_the_night() {
    let sc = folder(&[("calm.toml", &calm()), ("notes.txt", "not a scenario")]);
    let rep = tempfile::tempdir().unwrap();
    let o = nightly(sc.path(), rep.path(), "2026-03-01", "100");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let night = rep.path().join("2026-03-01");
    assert_eq!(names_in(&night), ["alerts.json", "calm", "index.html"]);
    for f in [
        "summary.parquet",
        "timeseries.parquet",
        "paths.parquet",
        "manifest.json",
        "report.html",
    ] {
        assert!(night.join("calm").join(f).is_file(), "{f}");
    }
    let a = json(&night.join("alerts.json"));
    assert_eq!(a["status"], "clear");
    assert_eq!(a["exit_code"], 0);
    assert_eq!(a["alerts"].as_array().unwrap().len(), 0);
    assert_eq!(a["checks"].as_array().unwrap().len(), 2);
    let html = std::fs::read_to_string(night.join("index.html")).unwrap();
    assert!(html.contains("all clear"));
    assert!(html.contains("href=\"calm/report.html\""));
    assert!(html.contains("no previous night"));
    assert_eq!(names_in(rep.path()), ["2026-03-01"]);
}

#[test]
fn breached_alert_exits_3_and_shows_on_page_and_in_json() {
    let sc = folder(&[("a_calm.toml", &calm()), ("b_fragile.toml", &fragile())]);
    let rep = tempfile::tempdir().unwrap();
    let o = nightly(sc.path(), rep.path(), "2026-03-01", "300");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("ALERT"), "{}", text(&o));
    let night = rep.path().join("2026-03-01");
    let a = json(&night.join("alerts.json"));
    assert_eq!(a["status"], "alerts");
    assert_eq!(a["exit_code"], 3);
    let alerts = a["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{a}");
    assert_eq!(alerts[0]["scenario"], "fragile");
    assert_eq!(alerts[0]["file"], "b_fragile.toml");
    assert_eq!(alerts[0]["alert"], "max_spiral_probability");
    assert_eq!(alerts[0]["threshold"], 0.0);
    let p = alerts[0]["value"].as_f64().unwrap();
    let h = tokenrisk::workflows::nightly::read_headline(
        &night.join("fragile").join("summary.parquet"),
    )
    .unwrap();
    assert_eq!(p, h.p_spiral);
    assert!(p > 0.0);
    let html = std::fs::read_to_string(night.join("index.html")).unwrap();
    assert!(html.contains("<tr class=\"alert\">"), "{html}");
    assert!(html.contains("ALERT: P(spiral)"), "{html}");
    assert!(html.contains("<tr class=\"ok\">"), "{html}");
}

#[test]
fn broken_scenario_exits_4_and_the_others_still_run() {
    let sc = folder(&[
        ("a_calm.toml", &calm()),
        ("b_broken.toml", &broken()),
        ("c_fragile.toml", &fragile()),
    ]);
    let rep = tempfile::tempdir().unwrap();
    let o = nightly(sc.path(), rep.path(), "2026-03-01", "200");
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("b_broken.toml"));
    let night = rep.path().join("2026-03-01");
    for name in ["calm", "fragile"] {
        assert!(night.join(name).join("summary.parquet").is_file(), "{name}");
    }
    let a = json(&night.join("alerts.json"));
    assert_eq!(a["status"], "failures");
    assert_eq!(a["exit_code"], 4);
    assert_eq!(a["scenarios_failed"], 1);
    let failures = a["failures"].as_array().unwrap();
    assert_eq!(failures[0]["file"], "b_broken.toml");
    assert!(failures[0]["error"]
        .as_str()
        .unwrap()
        .contains("scenario.horizon_days"));
    // The alert of the good scenario is still reported.
    assert_eq!(a["alerts"].as_array().unwrap().len(), 1);
    let html = std::fs::read_to_string(night.join("index.html")).unwrap();
    assert!(html.contains("<tr class=\"failed\">") && html.contains("b_broken.toml"));
}

#[test]
fn previous_night_deltas_and_rerun_replaces_the_folder() {
    let sc = folder(&[("a_calm.toml", &calm()), ("b_fragile.toml", &fragile())]);
    let rep = tempfile::tempdir().unwrap();
    // An older night, the previous night, and a later one that must not be compared with.
    assert_eq!(
        nightly(sc.path(), rep.path(), "2026-02-27", "150")
            .status
            .code(),
        Some(3)
    );
    assert_eq!(
        nightly(sc.path(), rep.path(), "2026-02-28", "200")
            .status
            .code(),
        Some(3)
    );
    std::fs::create_dir(rep.path().join("2026-03-09")).unwrap();

    let o = nightly(sc.path(), rep.path(), "2026-03-01", "300");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let night = rep.path().join("2026-03-01");
    let html = std::fs::read_to_string(night.join("index.html")).unwrap();
    assert!(
        html.contains("since the previous night, 2026-02-28"),
        "{html}"
    );
    assert_eq!(
        json(&night.join("alerts.json"))["previous_night"],
        "2026-02-28"
    );
    // 200 and 300 paths of the same seed give different estimates: arrows appear.
    assert!(
        html.contains("class=\"delta up") || html.contains("class=\"delta down"),
        "{html}"
    );
    assert!(html.contains("&#9650;") || html.contains("&#9660;"));

    // Re-running the date replaces the folder: a file planted in it disappears, the new
    // path count is in the outputs, and no temp or aside folder is left.
    std::fs::write(night.join("planted.txt"), "old").unwrap();
    let o = nightly(sc.path(), rep.path(), "2026-03-01", "120");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(!night.join("planted.txt").exists());
    let h =
        tokenrisk::workflows::nightly::read_headline(&night.join("calm").join("summary.parquet"))
            .unwrap();
    assert_eq!(h.paths, 120);
    assert_eq!(
        names_in(rep.path()),
        ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-09"]
    );
}

#[test]
fn help_documents_exit_codes_and_bad_dates_are_rejected() {
    let o = Command::new(env!("CARGO_BIN_EXE_tokenrisk"))
        .args(["nightly", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("Exit codes:"), "{help}");
    assert!(help.contains("3  one or more alerts breached"), "{help}");
    assert!(help.contains("4  one or more scenarios failed"), "{help}");
    assert!(
        help.contains("--shock") && help.contains("--stress"),
        "{help}"
    );

    let sc = folder(&[("calm.toml", &calm())]);
    let rep = tempfile::tempdir().unwrap();
    let o = nightly(sc.path(), rep.path(), "2026-02-30", "10");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("--date \"2026-02-30\" is not a date"),
        "{}",
        text(&o)
    );
    let empty = tempfile::tempdir().unwrap();
    let o = nightly(empty.path(), rep.path(), "2026-03-01", "10");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("no *.toml scenario files"),
        "{}",
        text(&o)
    );
}

//! `tokenrisk nightly` end to end with small path counts: exit codes (0 all clear, 3 alerts,
//! 4 failures), the alert on the page and in alerts.json, a broken file among good ones, the
//! previous night's deltas, and re-running a date replacing its folder without leftovers;
//! a night run with other settings than the previous one (seed, stress, paths) marked and left
//! uncoloured, an edited scenario file marked with its diff, and an unreadable previous
//! settings record read as "previous settings unknown".

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

/// `nightly` with extra arguments (e.g. `--seed 7 --stress crash@100`) at 2,000 paths.
fn nightly_with(scenarios: &Path, reports: &Path, date: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokenrisk"))
        .arg("nightly")
        .arg(scenarios)
        .arg("--out")
        .arg(reports)
        .args(["--date", date, "--paths", "2000", "--backend", "cpu", "-q"])
        .args(extra)
        .output()
        .expect("run tokenrisk")
}

/// The `<tr>` of scenario `name` in a night's index.html.
fn row<'h>(html: &'h str, name: &str) -> &'h str {
    let link = format!("href=\"{name}/report.html\">{name}</a>");
    html.split("<tr class=")
        .find(|r| r.contains(&link))
        .unwrap_or_else(|| panic!("no row of {name} in {html}"))
        .split("</tr>")
        .next()
        .unwrap()
}

/// The classes of a row's delta cells, in column order: P(spiral), VaR, CVaR, median
/// emissions-to-revenue, median final price.
fn delta_classes(row: &str) -> Vec<String> {
    row.split("class=\"delta ")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect()
}

fn coloured(class: &str) -> bool {
    class.split(' ').any(|c| c == "worse" || c == "better")
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
    assert_eq!(
        names_in(&night),
        ["alerts.json", "calm", "index.html", "night.json"]
    );
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
    // 200 and 300 paths of the same seed give different estimates: arrows appear, on rows
    // marked as run with another path count.
    assert!(html.contains("paths 200 -&gt; 300"), "{html}");
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

/// calm with its own seed 42, so that `--seed 7` changes it.
fn calm42() -> String {
    common::set(&calm(), "scenario.seed", "42")
}

#[test]
fn settings_changed_rows_are_marked_and_uncoloured_and_edits_link_a_diff() {
    let sc = folder(&[("a_calm.toml", &calm42()), ("b_fragile.toml", &fragile())]);
    let rep = tempfile::tempdir().unwrap();
    let o = nightly_with(sc.path(), rep.path(), "2026-03-01", &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));

    // Night 2: another seed and a crash stress. Every row names both, and no delta of it is
    // coloured riskier or safer (the crash lowers the emissions-to-revenue ratio).
    let stressed = ["--seed", "7", "--stress", "crash@100"];
    let o = nightly_with(sc.path(), rep.path(), "2026-03-02", &stressed);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("settings changed"), "{}", text(&o));
    let night2 = rep.path().join("2026-03-02");
    let html = std::fs::read_to_string(night2.join("index.html")).unwrap();
    for name in ["calm", "fragile"] {
        let r = row(&html, name);
        assert!(r.contains("settings changed: "), "{r}");
        assert!(r.contains(">seed 42 -&gt; 7<"), "{r}");
        assert!(r.contains(">stress none -&gt; crash@100<"), "{r}");
        assert!(!r.contains(">paths "), "{r}");
        assert!(r.contains("not comparable: settings changed"), "{r}");
        let classes = delta_classes(r);
        assert_eq!(classes.len(), 5, "{r}");
        assert!(!classes.iter().any(|c| coloured(c)), "{name}: {classes:?}");
        assert!(classes.iter().any(|c| c.contains("neutral")), "{classes:?}");
    }
    assert!(!html.contains("scenario text changed"), "{html}");
    let a = json(&night2.join("alerts.json"));
    let cmp = a["comparisons"].as_array().unwrap();
    assert_eq!(cmp.len(), 2, "{a}");
    assert!(cmp.iter().all(|c| c["comparable"] == false), "{a}");
    let rec = json(&night2.join("night.json"));
    assert_eq!(rec["scenarios"]["calm"]["seed"], 7);
    assert_eq!(rec["scenarios"]["calm"]["stresses"][0], "crash@100");
    assert_eq!(rec["scenarios"]["fragile"]["paths"], 2000);

    // Night 3: night 2's settings again, calm's file edited. fragile is not marked and its
    // deltas are comparable (the same run again: no change); calm says its text changed,
    // links the diff, and its deltas are coloured (same settings: the edit's effect), except
    // the emissions-to-revenue ratio, which is never coloured.
    std::fs::write(
        sc.path().join("a_calm.toml"),
        common::set(&calm42(), "market.volatility", "0.6"),
    )
    .unwrap();
    let o = nightly_with(sc.path(), rep.path(), "2026-03-03", &stressed);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let night3 = rep.path().join("2026-03-03");
    let html = std::fs::read_to_string(night3.join("index.html")).unwrap();
    assert!(!html.contains("settings changed:"), "{html}");
    assert!(!html.contains("class=\"cmp changed"), "{html}");
    assert!(!html.contains("class=\"cmp unknown"), "{html}");
    assert!(!html.contains("class=\"notice"), "{html}");
    let f = row(&html, "fragile");
    assert!(!f.contains("scenario text changed"), "{f}");
    let classes = delta_classes(f);
    assert!(classes.iter().all(|c| c == "same"), "{classes:?}");
    let c = row(&html, "calm");
    assert!(c.contains("scenario text changed"), "{c}");
    assert!(c.contains("href=\"calm/scenario.diff\""), "{c}");
    let classes = delta_classes(c);
    assert_eq!(classes.len(), 5, "{c}");
    // VaR, CVaR and the final price move with the volatility, and are coloured.
    for k in [1, 2, 4] {
        assert!(coloured(&classes[k]), "{k}: {classes:?}");
    }
    assert!(!coloured(&classes[3]), "{classes:?}");
    let diff = std::fs::read_to_string(night3.join("calm").join("scenario.diff")).unwrap();
    assert!(diff.contains("\n-volatility = 0.80"), "{diff}");
    assert!(diff.contains("\n+volatility = 0.6"), "{diff}");
    assert!(!night3.join("fragile").join("scenario.diff").exists());
}

#[test]
fn unreadable_previous_settings_are_unknown_not_an_error() {
    let sc = folder(&[("calm.toml", &calm42())]);
    let rep = tempfile::tempdir().unwrap();
    let o = nightly_with(sc.path(), rep.path(), "2026-03-01", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut prev = rep.path().join("2026-03-01");
    let good = std::fs::read_to_string(prev.join("night.json")).unwrap();
    let wrong_type = good.replace("\"seed\": 42", "\"seed\": \"forty-two\"");
    assert_ne!(wrong_type, good);
    // Truncated JSON, a field of the wrong type, no record at all (a night of an older
    // tokenrisk): each written over the previous night's record, then a night of the same
    // settings, which must still run and say it cannot compare.
    let cases = [
        Some("{ \"format\": \"tokenrisk-nightly-set".to_string()),
        Some(wrong_type),
        None,
    ];
    for (i, bad) in cases.iter().enumerate() {
        match bad {
            Some(t) => std::fs::write(prev.join("night.json"), t).unwrap(),
            None => std::fs::remove_file(prev.join("night.json")).unwrap(),
        }
        let date = format!("2026-03-0{}", i + 2);
        let o = nightly_with(sc.path(), rep.path(), &date, &[]);
        assert_eq!(o.status.code(), Some(0), "{bad:?}: {}", text(&o));
        let night = rep.path().join(&date);
        let html = std::fs::read_to_string(night.join("index.html")).unwrap();
        let r = row(&html, "calm");
        assert!(r.contains("previous settings unknown"), "{bad:?}: {r}");
        assert!(r.contains("not comparable"), "{r}");
        assert!(!delta_classes(r).iter().any(|c| coloured(c)), "{r}");
        let a = json(&night.join("alerts.json"));
        assert!(a["previous_settings_unknown"].is_string(), "{a}");
        assert!(night.join("night.json").is_file());
        prev = night;
    }
}

//! `validate` finds everything `run` would refuse, all at once, and the simulating commands
//! refuse it before they simulate or write anything: unknown keys, missing tables, wrong
//! types, bad sweeps, over-long names, files that are not small regular text files, tiny
//! magnitudes, two files with one name, a name the command writes itself, an output folder
//! that holds an input. Everything runs the binary, as a user would.

mod common;
use common::{path_arg as s, run_args, set, text, tokenrisk, tokenrisk_command, GBM_BASE};
use std::path::{Path, PathBuf};
use std::process::Output;

/// `text` written to `dir/name`.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `validate ARGS...` that must fail (exit 1); its output.
fn refused(args: &[&str]) -> String {
    let mut all = vec!["validate"];
    all.extend_from_slice(args);
    let o = guarded(&all);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    text(&o)
}

/// Runs the binary with a guard against a hang or a runaway read (a child still running
/// after five minutes, or over 4 GiB of address space, fails the test instead of the
/// machine): the inputs here are the ones that used to hang or exhaust memory.
fn guarded(args: &[&str]) -> Output {
    let mut cmd = tokenrisk_command(&[]);
    let program = cmd.get_program().to_owned();
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c")
        .arg("ulimit -v 4194304; exec \"$0\" \"$@\"")
        .arg(program)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let _ = &mut cmd;
    common::wait_at_most(
        sh.spawn().unwrap(),
        std::time::Duration::from_secs(300),
        &format!("tokenrisk {args:?} did not finish: the input was read instead of refused"),
    )
}

/// `nightly SCENARIOS --out REPORTS` for the night of 2026-01-02 on the CPU.
fn nightly(scenarios: &std::path::Path, reports: &std::path::Path) -> Output {
    tokenrisk(&[
        "nightly",
        s(scenarios),
        "--out",
        s(reports),
        "--date",
        "2026-01-02",
        "--backend",
        "cpu",
        "-q",
    ])
}

/// The base scenario with `name`, 20 paths and 28 days (fast to run).
fn small(name: &str) -> String {
    let t = set(GBM_BASE, "scenario.name", &format!("{name:?}"));
    let t = set(&t, "scenario.horizon_days", "28");
    set(&t, "scenario.paths", "20")
}

#[test]
fn finding_06_validate_lists_every_unknown_key_missing_table_and_type_error() {
    let dir = tempfile::tempdir().unwrap();
    // Three typos, a string for an integer, a type error inside an array of tables, and two
    // required tables left out: every one of them in one pass.
    let text = GBM_BASE
        .replace("volatility = 0.80", "volatilty = 0.80\nvolatility = 0.8")
        .replace("seed = 7", "sed = 7")
        .replace("impact = 0.0", "impakt = 0.0")
        .replace("step_days = 1", "step_days = \"one\"")
        .replace("[demand]\nusd_per_day = 1000.0\n", "")
        .replace("[token]\nprice = 10.0\nissued = 1000000.0\n", "");
    let text = format!("{text}\n[[vesting]]\namount = 1.0\ncliff_days = \"soon\"\n");
    let f = write(dir.path(), "typos.toml", &text);
    let msg = refused(&[s(&f)]);
    for want in [
        "market.volatilty: unknown key `volatilty` in [market]; did you mean `volatility`?",
        "scenario.sed: unknown key `sed` in [scenario]; did you mean `seed`?",
        "market.impakt: unknown key `impakt` in [market]; did you mean `impact`?",
        "scenario.step_days: value \"one\" is a string; allowed: a whole number",
        "vesting[0].cliff_days: value \"soon\" is a string; allowed: a number",
        "token: missing; the table [token] is required",
        "demand: missing; the table [demand] is required",
        "7 problems",
    ] {
        assert!(msg.contains(want), "wanted {want:?} in:\n{msg}");
    }
    // Lines are named: the typo of `sed` is on the line where the file writes it.
    let line = text.lines().position(|l| l.starts_with("sed")).unwrap() + 1;
    assert!(
        msg.contains(&format!("typos.toml:{line}: scenario.sed")),
        "{msg}"
    );
}

#[test]
fn finding_06_validate_checks_every_sweep_key_point_and_the_grid_size() {
    let dir = tempfile::tempdir().unwrap();
    let ten = ["0.1"; 10].join(", ");
    // 10^20 points: twenty keys (the entries of a twenty-year schedule) of ten values each.
    let grid: String = (0..20)
        .map(|i| format!("\"emission.yearly[{i}]\" = [{ten}]\n"))
        .collect();
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "typo",
            "\"market.volatilty\" = [0.5, 0.6]\n",
            &["sweep.\"market.volatilty\"", "not a scenario field", "did you mean `volatility`?"],
        ),
        (
            "point",
            "\"market.volatility\" = [0.5, 0.7]\n\"staking.target\" = [0.1, 1.5]\n",
            &[
                "sweep.\"staking.target\": point 1 of 4 (market.volatility = 0.5, staking.target = 1.5): staking.target: value 1.5 is out of range; allowed: 0 to 1 (and 1 more point)",
                "2 of 4 points are invalid",
            ],
        ),
        (
            "grid",
            &grid,
            &["points; at most 1000 are allowed"],
        ),
        (
            "name",
            "\"scenario.name\" = [\"a\", \"b\"]\n",
            &["sweep.\"scenario.name\": cannot be swept"],
        ),
        (
            "list",
            "\"market.volatility\" = 0.5\n",
            &["sweep.\"market.volatility\": 0.5 is not a non-empty list of values"],
        ),
    ];
    for (label, sweep, wants) in cases {
        let base = if label == "grid" {
            set(
                &set(GBM_BASE, "emission.kind", "\"schedule\""),
                "emission.yearly",
                &format!("[{}]", ["1.0"; 20].join(", ")),
            )
        } else {
            GBM_BASE.to_string()
        };
        let f = write(
            dir.path(),
            &format!("{label}.toml"),
            &format!("{base}\n[sweep]\n{sweep}"),
        );
        let msg = refused(&[s(&f)]);
        for w in wants {
            assert!(msg.contains(w), "{label}: wanted {w:?} in:\n{msg}");
        }
    }
}

#[test]
fn finding_06_validate_refuses_a_name_too_long_for_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "long.toml", &small(&"a".repeat(256)));
    let msg = refused(&[s(&f)]);
    assert!(
        msg.contains("scenario.name: has 256 characters; allowed: at most 100"),
        "{msg}"
    );
    // The run refuses it before creating anything.
    let out = dir.path().join("out");
    let o = tokenrisk(&run_args(s(&f), "20", s(&out)));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!out.exists());
}

#[test]
fn finding_06_validate_reports_two_files_with_one_name() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.toml", &small("same"));
    let b = write(dir.path(), "b.toml", &small("same"));
    let c = write(dir.path(), "c.toml", &small("other"));
    let msg = refused(&[s(&a), s(&b), s(&c)]);
    assert!(msg.contains("share scenario.name \"same\""), "{msg}");
    assert!(msg.contains(&format!("{}: ok", s(&c))), "{msg}");
}

#[test]
fn finding_09_run_refuses_two_files_with_one_name_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.toml", &small("same"));
    let b = write(dir.path(), "b.toml", &small("same"));
    let out = dir.path().join("out");
    let mut args = run_args(s(&a), "20", s(&out));
    args.insert(2, s(&b));
    let o = tokenrisk(&args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let msg = text(&o);
    assert!(
        msg.contains(s(&a)) && msg.contains(s(&b)) && msg.contains("share scenario.name \"same\""),
        "{msg}"
    );
    assert!(!msg.contains("wrote"), "{msg}");
    assert!(!out.exists(), "something was written");
}

#[test]
fn finding_09_compare_refuses_a_design_named_like_its_table_before_simulating() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.toml", &small("comparison.parquet"));
    let b = write(dir.path(), "b.toml", &small("b"));
    let out = dir.path().join("out");
    let o = tokenrisk(&[
        "compare",
        s(&a),
        s(&b),
        "--backend",
        "cpu",
        "-q",
        "--out",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let msg = text(&o);
    assert!(
        msg.contains(
            "scenario.name: value \"comparison.parquet\" is the name of a file this command writes"
        ),
        "{msg}"
    );
    assert!(!out.exists(), "something was written");
}

#[test]
fn finding_09_run_refuses_an_output_folder_that_holds_its_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("inside")).unwrap();
    let text_in = small("inside");
    let f = write(&out.join("inside"), "s.toml", &text_in);
    let o = tokenrisk(&run_args(s(&f), "20", s(&out)));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let msg = text(&o);
    assert!(msg.contains("would be replaced by the outputs"), "{msg}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), text_in);
    assert_eq!(std::fs::read_dir(out.join("inside")).unwrap().count(), 1);
}

#[test]
fn finding_09_nightly_fails_both_files_of_one_name_before_running_either() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    write(&scenarios, "a.toml", &small("same"));
    write(&scenarios, "b.toml", &small("same"));
    write(&scenarios, "c.toml", &small("other"));
    let reports = dir.path().join("reports");
    let o = nightly(&scenarios, &reports);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let night = reports.join("2026-01-02");
    let alerts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(night.join("alerts.json")).unwrap()).unwrap();
    let failed: Vec<&str> = alerts["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["a.toml", "b.toml"], "{alerts}");
    assert!(!night.join("same").exists(), "one of the two ran");
    assert!(night.join("other").join("summary.parquet").is_file());
}

#[test]
fn finding_07_files_that_are_not_small_regular_files_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let msg = refused(&["/dev/zero", s(dir.path()), s(&fifo)]);
    assert!(
        msg.contains("/dev/zero: (file): is not a regular file"),
        "{msg}"
    );
    assert!(msg.contains("is a directory"), "{msg}");
    assert!(
        msg.contains(&format!("{}: (file): is not a regular file", s(&fifo))),
        "{msg}"
    );
    // Over 1 MiB: refused by its size, whatever it holds.
    let big = GBM_BASE.replace(
        "name = \"gbm\"",
        &format!("name = \"gbm\"\ndescription = \"{}\"", "x".repeat(2 << 20)),
    );
    let f = write(dir.path(), "big.toml", &big);
    let msg = refused(&[s(&f)]);
    assert!(
        msg.contains("allowed: at most 1048576 bytes (1 MiB)"),
        "{msg}"
    );
    // A description is copied into every output file: at most 1000 characters.
    let long = GBM_BASE.replace(
        "name = \"gbm\"",
        &format!("name = \"gbm\"\ndescription = \"{}\"", "x".repeat(5000)),
    );
    let f = write(dir.path(), "long.toml", &long);
    let msg = refused(&[s(&f)]);
    assert!(
        msg.contains("scenario.description: has 5000 characters; allowed: at most 1000"),
        "{msg}"
    );
}

#[test]
fn finding_03_magnitudes_no_computation_can_carry_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "token.price",
            "1e-300",
            "value 1e-300 is out of range; allowed: 1e-12 to 1000000000000",
        ),
        (
            "token.price",
            "5e-324",
            "value 5e-324 is out of range; allowed: 1e-12 to",
        ),
        ("demand.usd_per_day", "1e-310", "allowed: 1e-12 to"),
        ("token.issued", "1e-320", "allowed: 0, or 1e-12 to 1e18"),
        ("compute.cost_per_unit_day", "1e-200", "allowed: 1e-12 to"),
        ("compute.capacity_floor", "1e-300", "allowed: 1e-12 to"),
        (
            "token.burned",
            "0.9999999999999999",
            "the circulating supply must stay at least 1e-12",
        ),
    ];
    for (i, (key, value, want)) in cases.iter().enumerate() {
        // One token issued, so that burning nearly all of it leaves a tiny supply.
        let base = set(GBM_BASE, "token.issued", "1.0");
        let f = write(dir.path(), &format!("m{i}.toml"), &set(&base, key, value));
        let msg = refused(&[s(&f)]);
        assert!(
            msg.contains(&format!("{key}: ")) && msg.contains(want),
            "{key} = {value}: wanted {want:?} in:\n{msg}"
        );
    }
    // The smallest allowed price still validates.
    let f = write(
        dir.path(),
        "ok.toml",
        &set(GBM_BASE, "token.price", "1e-12"),
    );
    let o = tokenrisk(&["validate", s(&f)]);
    assert!(o.status.success(), "{}", text(&o));
}

/// SCENARIO.md's key tables (section 2) and the format as the program reads it
/// (`scenario::schema`, traced from the serde types) list the same keys: every documented key
/// exists, and every key is documented by a row of its own or by its table's row.
#[test]
fn scenario_md_documents_every_key_of_the_format() {
    let doc = include_str!("../docs/SCENARIO.md");
    let start = doc.find("## 2. Tables and keys").unwrap();
    let end = doc.find("## 3. Cross-field rules").unwrap();
    let mut table = String::new();
    let mut documented = std::collections::BTreeSet::new();
    let mut in_kind_table = false;
    for line in doc[start..end].lines() {
        let quoted = |l: &str| l.split('`').nth(1).map(str::to_string);
        if line.starts_with("###") {
            // `governance[].when` is the sub-table of an array's entries, as `all_keys`
            // spells it without the `[]`.
            table = quoted(line)
                .unwrap()
                .trim_matches(['[', ']'])
                .replace("[]", "");
            documented.insert(table.clone());
        } else if line.trim().is_empty() {
            in_kind_table = false;
        } else if line.starts_with("| `kind` | requires") {
            // The tables of which keys each kind takes: their rows are kinds, not keys.
            in_kind_table = true;
        } else if line.starts_with("| `") && !in_kind_table {
            documented.insert(format!("{table}.{}", quoted(line).unwrap()));
        }
    }
    let keys: Vec<String> = tokenrisk::scenario::schema::all_keys()
        .iter()
        .map(|k| k.replace("[]", ""))
        .collect();
    for d in &documented {
        assert!(
            keys.contains(d),
            "SCENARIO.md documents {d}, which the format does not have"
        );
    }
    for k in &keys {
        let parent = k.rsplit_once('.').map(|(p, _)| p.to_string());
        assert!(
            documented.contains(k) || parent.is_some_and(|p| documented.contains(&p)),
            "{k} is not documented in SCENARIO.md section 2"
        );
    }
}

#[test]
fn finding_09_nightly_refuses_a_scenario_folder_inside_the_night_it_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let scenarios = reports.join("2026-01-02").join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    let f = write(&scenarios, "a.toml", &small("a"));
    let o = nightly(&scenarios, &reports);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("which the night replaces"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), small("a"));
}

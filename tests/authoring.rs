//! Writing a scenario without guessing (issue 12, "What to build" 4 and 8), through the
//! binary as a user runs it, from a temporary folder (so nothing depends on the repository
//! being the current directory): `tokenrisk init` writes a file that validates, runs, holds
//! every key of the format and, with `--like`, is the bundled scenario under a new name;
//! `keys` and `explain` print the reference; every bundled scenario, the compare pair
//! included, is addressable by name.

mod common;
use common::{path_arg, text, tokenrisk_command};
use std::path::Path;
use std::process::Output;
use tokenrisk::scenario::{self, keys, schema, PRESETS};

/// `tokenrisk ARGS` run in `dir`.
fn in_dir(dir: &Path, args: &[&str]) -> Output {
    tokenrisk_command(args)
        .current_dir(dir)
        .output()
        .expect("run tokenrisk")
}

/// The scenario as a table with every default written out, without its name: what must
/// match between a preset and the file `init --like` makes of it.
fn without_name(s: &scenario::Scenario) -> toml::Table {
    let mut t = keys::scenario_table(s).unwrap();
    t["scenario"].as_table_mut().unwrap().remove("name");
    t
}

/// The file with its commented-out keys and headers uncommented (`# key = value`,
/// `# [table]`, `# "dotted.key" = value`); prose comments are `# name: text` and stay.
fn uncommented(text: &str) -> toml::Table {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest)
                if rest.starts_with('[')
                    || rest.starts_with('"')
                    || rest.split_once(" = ").is_some_and(|(k, _)| {
                        k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    }) =>
            {
                rest
            }
            _ => l,
        })
        .collect();
    toml::from_str(&lines.join("\n")).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn init(dir: &Path, name: &str, like: Option<&str>) -> String {
    let mut args = vec!["init", name];
    if let Some(p) = like {
        args.extend(["--like", p]);
    }
    let o = in_dir(dir, &args);
    assert!(o.status.success(), "init {name} {like:?}: {}", text(&o));
    std::fs::read_to_string(dir.join(format!("{name}.toml"))).unwrap()
}

/// Every key of the format is in the file, set or commented out.
fn assert_every_key(text: &str, what: &str) {
    let t = uncommented(text);
    for k in schema::all_keys() {
        let k = k.replace("[]", "[0]");
        assert!(
            keys::get_key(&t, &k).is_some(),
            "{what}: key {k} is not in the file:\n{text}"
        );
    }
}

#[test]
fn issue12_init_writes_every_key_and_the_file_validates_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut cases: Vec<(String, Option<&str>)> = vec![("fresh".into(), None)];
    for p in PRESETS {
        cases.push((
            format!("like-{}", p.stem().replace('/', "-")),
            Some(p.stem()),
        ));
    }
    for (name, like) in &cases {
        let body = init(d, name, *like);
        let file = format!("{name}.toml");
        assert!(body.contains(&format!("name = \"{name}\"")), "{body}");
        assert_every_key(&body, &file);
        // Each value has its reference comment: unit and allowed values.
        assert!(
            body.contains("# price: Token price at day 0.\n#   unit: USD per token; default: required; allowed: [1e-12, 1e12]\n"),
            "{body}"
        );
        let o = in_dir(d, &["validate", &file]);
        assert!(o.status.success(), "{file}: {}", text(&o));
        assert!(text(&o).contains(&format!("{file}: ok")));
        let out = d.join("out");
        let o = in_dir(
            d,
            &[
                "run",
                &file,
                "--paths",
                "500",
                "--backend",
                "cpu",
                "-q",
                "--out",
                path_arg(&out),
            ],
        );
        assert!(o.status.success(), "run {file}: {}", text(&o));
        assert!(out.join(name).join("summary.parquet").is_file(), "{name}");
        // With --like, the same scenario under the new name.
        if let Some(p) = like {
            let preset = scenario::preset(p).unwrap();
            let want = scenario::parse(preset.toml, preset.file).unwrap();
            let got = scenario::parse(&body, &file).unwrap();
            assert_eq!(got.scenario.name, *name);
            assert_eq!(without_name(&got), without_name(&want), "{p}");
        }
    }
}

#[test]
fn issue12_init_refuses_to_overwrite_and_bad_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d, "mine", None);
    std::fs::write(d.join("mine.toml"), "# my edits\n").unwrap();
    let o = in_dir(d, &["init", "mine"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("mine.toml exists; pass --force"),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_to_string(d.join("mine.toml")).unwrap(),
        "# my edits\n"
    );
    let o = in_dir(d, &["init", "mine", "--force", "--like", "render_bme"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read_to_string(d.join("mine.toml"))
        .unwrap()
        .contains("kind = \"bme\""));
    // --out FILE; no temp file left beside it.
    let o = in_dir(d, &["init", "other", "--out", "sub.toml"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read_to_string(d.join("sub.toml"))
        .unwrap()
        .contains("name = \"other\""));
    let mut names: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["mine.toml", "sub.toml"]);
    // A name that cannot be a scenario name: the field, the value, what is allowed.
    let o = in_dir(d, &["init", "bad name", "--out", "bad.toml"]);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(
        t.contains("scenario.name") && t.contains("\"bad name\"") && t.contains("letters, digits"),
        "{t}"
    );
    assert!(!d.join("bad.toml").exists());
    // An unknown --like names the presets.
    let o = in_dir(d, &["init", "x", "--like", "no_such"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("compare/halving"), "{}", text(&o));
}

#[test]
fn issue12_keys_and_explain_print_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = in_dir(d, &["keys"]);
    assert!(o.status.success(), "{}", text(&o));
    let all = String::from_utf8_lossy(&o.stdout).into_owned();
    for k in schema::all_keys() {
        assert!(
            all.lines()
                .any(|l| l.split_whitespace().next() == Some(k.as_str())),
            "keys does not list {k}"
        );
    }
    let o = in_dir(d, &["keys", "burn"]);
    let t = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        t.lines().any(|l| l.starts_with("burn.fraction")
            && l.contains("fraction | none | [0, 1]; required with revenue_burn")),
        "{t}"
    );
    assert!(!t.contains("market."), "{t}");
    let o = in_dir(d, &["keys", "zzz"]);
    assert_eq!(o.status.code(), Some(1));

    let o = in_dir(d, &["explain", "burn.fraction"]);
    assert!(o.status.success(), "{}", text(&o));
    let t = String::from_utf8_lossy(&o.stdout).into_owned();
    for want in [
        "the share of served revenue used to buy tokens",
        "unit:     fraction",
        "default:  none",
        "allowed:  [0, 1]",
        "burn.kind: required with \"revenue_burn\", \"buyback\"; refused with \"none\", \"bme\"",
        "example:  [burn]",
        "kind = \"revenue_burn\"",
        "fraction = 0.2",
    ] {
        assert!(t.contains(want), "explain lacks {want:?}:\n{t}");
    }
    // A key of the sub-table of an array's entry: the entry's header, then the sub-table's.
    let o = in_dir(d, &["explain", "governance[0].when.drawdown_above"]);
    assert!(o.status.success(), "{}", text(&o));
    let t = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        t.contains("example:  [[governance]]\n            [governance.when]\n            drawdown_above = 0.5"),
        "{t}"
    );
    // Indices as validation messages write them.
    let o = in_dir(d, &["explain", "vesting[1].cliff_days"]);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("vesting[].cliff_days\n"));
    // Every key can be explained.
    for k in schema::all_keys() {
        let o = in_dir(d, &["explain", &k]);
        assert!(o.status.success(), "explain {k}: {}", text(&o));
    }
    // An unknown key: its name and the closest known keys.
    let o = in_dir(d, &["explain", "market.volatilty"]);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(
        t.contains("`market.volatilty` is not a scenario key")
            && t.contains("closest known keys: `market.volatility`"),
        "{t}"
    );
}

#[test]
fn issue12_the_compare_pair_is_addressable_by_name_from_any_folder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = in_dir(d, &["presets"]);
    assert!(o.status.success(), "{}", text(&o));
    let t = String::from_utf8_lossy(&o.stdout).into_owned();
    let compare_at = t.find("compare/:").expect("a compare group");
    assert!(t[compare_at..].contains("compare/halving") && t[compare_at..].contains("compare/bme"));
    assert!(t[..compare_at].contains("render_bme"));
    let o = in_dir(d, &["validate", "compare/halving", "compare/bme"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = in_dir(
        d,
        &[
            "compare",
            "compare/halving",
            "compare/bme",
            "--paths",
            "500",
            "--backend",
            "cpu",
            "-q",
            "--out",
            "cmp",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = d.join("cmp");
    assert!(out.join("comparison.parquet").is_file());
    assert!(out
        .join("compare-halving")
        .join("summary.parquet")
        .is_file());
    assert!(out.join("compare-bme").join("summary.parquet").is_file());
}

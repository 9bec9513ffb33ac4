//! Stress overlays: `--shock` parsing (good and bad values, with their messages), an overlay
//! being exactly the same as the `[[shock]]` table written into the file, the bundled stress
//! library (a shape lowers the median final price on the same seed), and the overlays
//! recorded in the output metadata.

mod common;

use std::process::Command;
use tokenrisk::measure::summary::Summary;
use tokenrisk::scenario::overlay::{apply_overlays, parse_shock, parse_stress};
use tokenrisk::scenario::{self, Scenario};

const PATHS: u64 = 300;

fn preset(name: &str) -> Scenario {
    let p = tokenrisk::scenario::preset(name).unwrap();
    scenario::parse(p.toml, p.file).unwrap()
}

fn run(s: &Scenario, paths: u64) -> tokenrisk::engine::EngineOutput {
    common::run_cpu(s, paths)
}

#[test]
fn shock_flags_parse() {
    let o = parse_shock("price=-0.8@180").unwrap();
    assert_eq!(o.shock.day, 180);
    assert_eq!(o.shock.price, -0.8);
    assert_eq!(
        (o.shock.demand, o.shock.gpu_cost, o.shock.capacity),
        (0.0, 0.0, 0.0)
    );
    let o = parse_shock(" price=-0.5, demand=-0.3 @ 120").unwrap();
    assert_eq!(
        (o.shock.day, o.shock.price, o.shock.demand),
        (120, -0.5, -0.3)
    );
    let o = parse_shock("gpu_cost=0.5,capacity=-0.25@0").unwrap();
    assert_eq!(
        (o.shock.day, o.shock.gpu_cost, o.shock.capacity),
        (0, 0.5, -0.25)
    );
    assert_eq!(parse_shock("demand=100@3").unwrap().shock.demand, 100.0);
}

#[test]
fn bad_shock_flags_say_what_is_allowed() {
    let cases: [(&str, &[&str]); 9] = [
        (
            "price=-0.5",
            &["missing `@DAY`", "KEY=FRACTION[,KEY=FRACTION...]@DAY"],
        ),
        (
            "price=-1@10",
            &["price = -1 is out of range", "greater than -1"],
        ),
        (
            "gpu_cost=101@10",
            &["gpu_cost = 101 is out of range", "at most 100"],
        ),
        (
            "volume=0.1@3",
            &["unknown key `volume`", "price, demand, gpu_cost, capacity"],
        ),
        ("price=abc@3", &["`abc` is not a number"]),
        ("price=0.1,price=0.2@3", &["key `price` is given twice"]),
        ("@4", &["no KEY=FRACTION before `@`"]),
        ("price=0.1@-3", &["day `-3` is not a whole number"]),
        ("price:0.1@3", &["`price:0.1` is not KEY=FRACTION"]),
    ];
    for (value, wanted) in cases {
        let err = parse_shock(value).unwrap_err();
        for w in wanted {
            assert!(err.contains(w), "{value}: {err:?} lacks {w:?}");
        }
    }
    let err = parse_stress("crash").unwrap_err();
    assert!(
        err.contains("missing `@DAY`") && err.contains("crash@180"),
        "{err}"
    );
    let err = parse_stress("meltdown@10").unwrap_err();
    assert!(err.contains("no stress shape `meltdown`"), "{err}");
    for p in tokenrisk::scenario::STRESS_SHAPES {
        assert!(err.contains(p.stem()), "{err} lacks {}", p.stem());
    }
}

#[test]
fn cli_rejects_bad_flags_naming_the_value() {
    let o = Command::new(env!("CARGO_BIN_EXE_tokenrisk"))
        .args([
            "run",
            "bittensor_halving",
            "--paths",
            "10",
            "--shock",
            "price=-2@5",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("price=-2@5") && err.contains("--shock"),
        "{err}"
    );
    assert!(err.contains("allowed: greater than -1"), "{err}");

    // A day beyond the horizon is found once the scenario is known.
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tokenrisk"))
        .args([
            "run",
            "bittensor_halving",
            "--paths",
            "10",
            "--backend",
            "cpu",
        ])
        .args(["--shock", "price=-0.5@1460", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--shock price=-0.5@1460") && err.contains("allowed: 0 to 1459"),
        "{err}"
    );
}

#[test]
fn overlays_past_the_horizon_or_too_many_are_errors() {
    let mut s = preset("bittensor_halving");
    let st = parse_stress("perfect_storm@1450").unwrap();
    let err = apply_overlays(&mut s, &[], &[st]).unwrap_err().to_string();
    assert!(err.contains("--stress perfect_storm@1450"), "{err}");
    assert!(err.contains("allowed start days: 0 to 1399"), "{err}");

    let mut s = preset("death_spiral_stress");
    assert_eq!(s.shock.len(), 1);
    let mut many: Vec<_> = (0..15)
        .map(|d| parse_shock(&format!("price=-0.01@{d}")).unwrap())
        .collect();
    apply_overlays(&mut s.clone(), &many, &[]).unwrap();
    many.push(parse_shock("demand=-0.1@20").unwrap());
    let err = apply_overlays(&mut s, &many, &[]).unwrap_err().to_string();
    assert!(
        err.contains("1 shock(s) in the scenario plus 16 from the overlays = 17")
            && err.contains("at most 16 in all"),
        "{err}"
    );
    assert_eq!(
        s.shock.len(),
        1,
        "a rejected overlay leaves the scenario alone"
    );
}

#[test]
fn overlay_equals_the_same_shock_in_the_file() {
    let base = tokenrisk::scenario::preset("bittensor_halving")
        .unwrap()
        .toml;
    let in_file = format!(
        "{base}\n[[shock]]\nday = 120\nprice = -0.5\ndemand = -0.3\n\n[[shock]]\nday = 200\ngpu_cost = 0.5\n"
    );
    let a = scenario::parse(&in_file, "in_file.toml").unwrap();
    let mut b = preset("bittensor_halving");
    let flags = [
        parse_shock("price=-0.5,demand=-0.3@120").unwrap(),
        parse_shock("gpu_cost=0.5@200").unwrap(),
    ];
    assert!(b.shock.is_empty());
    apply_overlays(&mut b, &flags, &[]).unwrap();
    assert_eq!(b.shock.len(), 2);

    let (ra, rb) = (run(&a, PATHS), run(&b, PATHS));
    assert!(ra.records == rb.records, "records differ");
    assert!(ra.acc == rb.acc, "accumulators differ");

    // The recorded text is the scenario that ran: it parses back to the same shocks and runs
    // to the same records.
    assert!(b.source_toml.starts_with(base));
    assert!(b
        .source_toml
        .contains("# --shock price=-0.5,demand=-0.3@120"));
    let c = scenario::parse(&b.source_toml, "recorded").unwrap();
    assert_eq!(c.shock.len(), 2);
    assert!(run(&c, PATHS).records == ra.records);

    // No overlays: the text is left exactly as read.
    let mut d = preset("bittensor_halving");
    apply_overlays(&mut d, &[], &[]).unwrap();
    assert_eq!(d.source_toml, base);
}

#[test]
fn stress_shape_lowers_the_median_final_price() {
    let plain = preset("bittensor_halving");
    let mut stressed = preset("bittensor_halving");
    apply_overlays(&mut stressed, &[], &[parse_stress("crash@100").unwrap()]).unwrap();
    assert_eq!(stressed.shock.len(), plain.shock.len() + 2);
    assert!(stressed
        .shock
        .iter()
        .any(|s| s.day == 100 && s.price == -0.5));
    assert!(stressed
        .shock
        .iter()
        .any(|s| s.day == 107 && s.price == -0.2));
    let med = |s: &Scenario| {
        let out = run(s, 500);
        Summary::of(&out.acc, &out.records, s).final_price.q(0.5)
    };
    let (p, q) = (med(&plain), med(&stressed));
    assert!(q < p, "stressed median {q} not below plain {p}");
}

#[test]
fn every_library_shape_applies_to_every_preset() {
    for shape in tokenrisk::scenario::STRESS_SHAPES {
        for p in tokenrisk::scenario::PRESETS {
            let mut s = scenario::parse(p.toml, p.file).unwrap();
            let o = parse_stress(&format!("{}@30", shape.stem())).unwrap();
            apply_overlays(&mut s, &[], &[o])
                .unwrap_or_else(|e| panic!("{} on {}: {e:#}", shape.file, p.file));
        }
    }
}

#[test]
fn shocked_run_records_overlays_in_metadata_and_stress_list_prints_library() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tokenrisk"))
        .args([
            "run",
            "bittensor_halving",
            "--paths",
            "50",
            "--backend",
            "cpu",
            "-q",
        ])
        .args([
            "--shock",
            "price=-0.8@180",
            "--stress",
            "cost_spike@200",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for file in ["summary.parquet", "paths.parquet", "timeseries.parquet"] {
        let meta = tokenrisk::output::read_parquet_metadata(
            &dir.path().join("bittensor-halving").join(file),
        )
        .unwrap();
        let toml = &meta["tokenrisk.scenario_toml"];
        assert!(toml.contains("# --shock price=-0.8@180\n[[shock]]\nday = 180\nprice = -0.8\n"));
        assert!(toml.contains(
            "# --stress cost_spike@200 (offset 30 days)\n[[shock]]\nday = 230\ngpu_cost = 0.2\n"
        ));
        assert_eq!(scenario::parse(toml, "meta").unwrap().shock.len(), 3);
    }

    let o = Command::new(env!("CARGO_BIN_EXE_tokenrisk"))
        .args(["stress", "list"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    for p in tokenrisk::scenario::STRESS_SHAPES {
        assert!(out.contains(p.stem()), "{out}");
    }
    assert!(out.contains("imitates:"), "{out}");
}

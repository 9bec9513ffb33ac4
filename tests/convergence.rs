//! `--target-se`: stops when the standard error of P(spiral) is reached, reports the budget
//! when it is not, and the chunked result is identical to a single run of the final path
//! count (accumulator and records, and the Parquet tables written by the binary).

use std::process::Command;
use tokenrisk::engine::Control;
use tokenrisk::engine::{cpu, Backend, EngineOutput, PathRange};
use tokenrisk::model::Params;
use tokenrisk::scenario::{self, Scenario};
use tokenrisk::workflows::convergence::{self, stopping_se, Converged, Target};
use tokenrisk::workflows::single::RunPlan;

fn render() -> Scenario {
    let p = tokenrisk::scenario::preset("render_bme").unwrap();
    scenario::parse(p.toml, p.file).unwrap()
}

fn single(params: &Params, seed: u64, paths: u64) -> EngineOutput {
    cpu::run(
        params,
        seed,
        PathRange {
            start: 0,
            count: paths,
        },
        &Control::none(),
    )
    .unwrap()
}

/// `--target-se` on the CPU engine, starting from `first` paths.
fn converge(s: &Scenario, seed: u64, first: u64, target: Target) -> anyhow::Result<Converged> {
    let mut scenario = s.clone();
    scenario.scenario.seed = seed;
    scenario.scenario.paths = first;
    let plan = RunPlan {
        scenario,
        backend: Backend::Cpu,
    };
    convergence::run(&plan, target, &Control::none())
}

fn assert_identical(a: &EngineOutput, b: &EngineOutput) {
    assert_eq!(a.acc.paths, b.acc.paths);
    assert!(a.records == b.records, "records differ");
    assert!(a.acc == b.acc, "accumulators differ");
}

#[test]
fn reaches_a_loose_target_over_several_rounds_and_equals_one_run() {
    let s = render();
    let params = Params::compile(&s);
    let seed = s.scenario.seed;
    // A target a little below the first round's SE, so more rounds are needed.
    let first = single(&params, seed, 1024);
    let se1 = stopping_se(first.acc.spiraled, 1024);
    let target = Target {
        se: 0.8 * se1,
        max_paths: 50_000,
    };
    let conv = converge(&s, seed, 1000, target).unwrap();
    assert!(conv.reached, "{}", conv.describe());
    assert!(conv.se < target.se);
    assert!(conv.rounds.len() >= 2, "rounds {:?}", conv.rounds);
    assert_eq!(
        conv.rounds[0], 1024,
        "the first round is rounded up to whole chunks"
    );
    let n = conv.result.output.acc.paths;
    assert_eq!(Some(&n), conv.rounds.last());
    assert!(
        conv.describe().starts_with("reached SE "),
        "{}",
        conv.describe()
    );
    assert!(conv.describe().contains(&format!("< {}", target.se)));
    assert_identical(&conv.result.output, &single(&params, seed, n));
    // The record ids continue 0..n.
    assert!(conv
        .result
        .output
        .records
        .iter()
        .enumerate()
        .all(|(i, r)| r.path == i as u64));
}

#[test]
fn reports_the_budget_when_the_target_is_too_tight() {
    let s = render();
    let params = Params::compile(&s);
    let seed = s.scenario.seed;
    let target = Target {
        se: 1e-4,
        max_paths: 2500,
    };
    let conv = converge(&s, seed, 1000, target).unwrap();
    assert!(!conv.reached);
    assert_eq!(conv.rounds, vec![1024, 2500]);
    assert!(conv.se > 1e-4);
    let line = conv.describe();
    assert!(
        line.starts_with("budget of 2,500 paths reached with SE ") && line.ends_with("> 0.0001"),
        "{line}"
    );
    // The budget need not be a whole number of chunks: still identical to one run.
    assert_identical(&conv.result.output, &single(&params, seed, 2500));
}

#[test]
fn target_and_budget_ranges_are_checked() {
    let s = render();
    for (se, max) in [(0.0, 100), (0.5, 100), (f64::NAN, 100), (0.01, 0)] {
        let t = Target { se, max_paths: max };
        let err = converge(&s, 1, 100, t)
            .err()
            .unwrap_or_else(|| panic!("{se} {max} accepted"))
            .to_string();
        assert!(err.contains("out of range; allowed"), "{err}");
    }
}

fn tokenrisk(args: &[&str], out: &std::path::Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_tokenrisk"))
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn cli_budget_run_writes_the_same_tables_as_one_run() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let common = ["run", "render_bme", "--backend", "cpu", "-q"];
    let out = tokenrisk(
        &[
            &common[..],
            &[
                "--paths",
                "1000",
                "--target-se",
                "0.0001",
                "--max-paths",
                "2000",
            ],
        ]
        .concat(),
        a.path(),
    );
    assert!(
        out.contains("convergence: budget of 2,000 paths reached with SE"),
        "{out}"
    );
    tokenrisk(&[&common[..], &["--paths", "2000"]].concat(), b.path());
    // No timings in these two tables: byte-identical files.
    for f in ["paths.parquet", "timeseries.parquet"] {
        let x = std::fs::read(a.path().join("render-bme").join(f)).unwrap();
        let y = std::fs::read(b.path().join("render-bme").join(f)).unwrap();
        assert!(x == y, "{f} differs");
    }

    let out = tokenrisk(
        &[&common[..], &["--paths", "1000", "--target-se", "0.05"]].concat(),
        a.path(),
    );
    assert!(
        out.contains("convergence: reached SE") && out.contains("< 0.05 after 1,024 paths"),
        "{out}"
    );
}

//! Honest figures at the edges (issue 11): tail figures consistent at every path count,
//! values outside the histogram's range counted and flagged, files that are byte-identical
//! run to run, Parquet files of any compression read, quantile labels that say what they
//! are. Each test is named after the finding it covers.

mod common;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokenrisk::measure::summary::Summary;
use tokenrisk::measure::Accumulator;
use tokenrisk::model::PathRecord;
use tokenrisk::stats::{exact_lower_tail, exact_upper_tail};

const TAIL_NS: [u64; 4] = [1, 20, 100, 200];
const TAIL_LEVELS: [f64; 3] = [0.95, 0.99, 0.999];

/// A summary of `n` synthetic paths whose log-returns and drawdowns are drawn from `rng`
/// (heavy-tailed returns, drawdowns crowding near 1 as crypto drawdowns do).
fn synthetic_summary(n: u64, levels: &[f64], rng: &mut StdRng) -> (Summary, Vec<f64>, Vec<f64>) {
    let mut acc = Accumulator::new(vec![]);
    let (mut returns, mut drawdowns) = (Vec::new(), Vec::new());
    for path in 0..n {
        let log_return = rng.random_range(-3.0..1.0) * rng.random::<f64>().powi(3);
        let max_drawdown = 1.0 - rng.random::<f64>().powi(4);
        acc.add_path(&PathRecord {
            path,
            log_return,
            max_drawdown,
            final_price: log_return.exp(),
            ..PathRecord::default()
        });
        returns.push(log_return);
        drawdowns.push(max_drawdown);
    }
    let mut risk = common::parse(common::GBM_BASE).risk;
    risk.var_levels = levels.to_vec();
    (Summary::from_acc(&acc, &risk), returns, drawdowns)
}

#[test]
fn finding_04_cvar_is_never_below_var() {
    let mut rng = StdRng::seed_from_u64(4);
    for n in TAIL_NS {
        for trial in 0..50 {
            let (sum, mut returns, mut drawdowns) = synthetic_summary(n, &TAIL_LEVELS, &mut rng);
            returns.sort_by(f64::total_cmp);
            drawdowns.sort_by(f64::total_cmp);
            for t in &sum.tail {
                // The exact per-path figures, and the histogram-read ones within the
                // histogram's 0.5% of them (1% allowed, as in tests/summary_accuracy.rs).
                let (var_r, cvar_r) = exact_lower_tail(&returns, t.level);
                let (var_d, cvar_d) = exact_upper_tail(&drawdowns, t.level);
                assert!(cvar_r <= var_r && cvar_d >= var_d, "n {n}: exact tails");
                for (got, exact, what) in [
                    (t.var_return, -var_r, "VaR return"),
                    (t.cvar_return, -cvar_r, "CVaR return"),
                    (t.var_drawdown, var_d, "VaR drawdown"),
                    (t.cvar_drawdown, cvar_d, "CVaR drawdown"),
                ] {
                    assert!(
                        (got - exact).abs() <= 0.01 * exact.abs() + 1e-12,
                        "n {n} level {}: {what} {got}, exact {exact}",
                        t.level
                    );
                }
                assert!(
                    t.cvar_return >= t.var_return,
                    "n {n} trial {trial} level {}: return CVaR {} < VaR {}",
                    t.level,
                    t.cvar_return,
                    t.var_return
                );
                assert!(
                    t.cvar_drawdown >= t.var_drawdown,
                    "n {n} trial {trial} level {}: drawdown CVaR {} < VaR {}",
                    t.level,
                    t.cvar_drawdown,
                    t.var_drawdown
                );
            }
        }
    }
    // The reported case: fetch_inflation, 100 paths, seed 2.
    let mut s = tokenrisk::scenario::resolve("fetch_inflation").unwrap();
    s.scenario.seed = 2;
    for n in TAIL_NS {
        let out = common::run_cpu(&s, n);
        let sum = Summary::from_acc(&out.acc, &s.risk);
        for t in &sum.tail {
            assert!(
                t.cvar_return >= t.var_return && t.cvar_drawdown >= t.var_drawdown,
                "fetch_inflation seed 2, {n} paths, level {}: {t:?}",
                t.level
            );
        }
    }
}

/// Every file under `dir` whose name ends in `.parquet`, by its path relative to `dir`.
fn parquet_files(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// A run, a sweep and a comparison, each twice with different thread counts: every Parquet
/// file they write is byte-identical (the timings live in `manifest.json`, which says how
/// fast each run went).
#[test]
fn finding_11_same_command_writes_byte_identical_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = dir.path().join("sweep.toml");
    std::fs::write(
        &sweep,
        format!(
            "{}\n[sweep]\n\"market.volatility\" = [0.4, 0.8]\n",
            common::GBM_BASE
        ),
    )
    .unwrap();
    let halving = "data/scenarios/compare/halving.toml";
    let bme = "data/scenarios/compare/bme.toml";
    let mut outputs = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.path().join(format!("out-{threads}"));
        let o = common::path_arg(&out);
        let jobs: [Vec<&str>; 3] = [
            common::run_args("fetch_inflation", "700", o),
            common::run_args(common::path_arg(&sweep), "300", o),
            vec![
                "compare",
                halving,
                bme,
                "--paths",
                "300",
                "--backend",
                "cpu",
                "-q",
                "--out",
                o,
            ],
        ];
        for args in jobs {
            let r = common::tokenrisk_command(&args)
                .env("RAYON_NUM_THREADS", threads)
                .output()
                .unwrap();
            assert!(r.status.success(), "{args:?}: {}", common::text(&r));
        }
        outputs.push(parquet_files(&out));
    }
    let names: Vec<&String> = outputs[0].keys().collect();
    assert!(
        names.iter().any(|n| n.ends_with("sweep.parquet"))
            && names.iter().any(|n| n.ends_with("comparison.parquet"))
            && names
                .iter()
                .filter(|n| n.ends_with("summary.parquet"))
                .count()
                >= 5,
        "expected a run, a sweep and a comparison: {names:?}"
    );
    assert_eq!(names, outputs[1].keys().collect::<Vec<_>>());
    for (name, bytes) in &outputs[0] {
        assert!(
            bytes == &outputs[1][name],
            "{name} differs between 1 and 2 threads"
        );
    }
    // The timings are in the manifest: simulate_s and the throughput.
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out-1/fetch-inflation/manifest.json")).unwrap(),
    )
    .unwrap();
    let t = &manifest["timings"];
    assert!(
        t["simulate_s"].as_f64().is_some_and(|s| s > 0.0)
            && t["path_steps_per_s"].as_f64().is_some_and(|r| r > 0.0),
        "manifest timings: {t}"
    );
    // The report page reads the throughput from there.
    let run = dir.path().join("out-1/fetch-inflation");
    let r = common::tokenrisk(&["report", common::path_arg(&run)]);
    assert!(r.status.success(), "{}", common::text(&r));
    let page = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        page.contains("<dt>Simulated in</dt>") && page.contains(" path-steps/s</dd>"),
        "the report shows no throughput"
    );
}

/// The Python the peer tests use (`PYTHON`, else `python3`).
fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// A run folder whose three tables pyarrow has rewritten with each compression codec it
/// offers (its default, snappy, among them) reads back to the same values, and `report`
/// makes its page from it.
#[test]
fn finding_10_reads_parquet_of_every_codec() {
    let has_pyarrow = std::process::Command::new(python())
        .args(["-c", "import pyarrow"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_pyarrow {
        common::skip(
            "finding_10_reads_parquet_of_every_codec",
            "no pyarrow for python3",
            "TOKENRISK_REQUIRE_PEERS",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = common::tokenrisk(&common::run_args(
        "fetch_inflation",
        "200",
        common::path_arg(&out),
    ));
    assert!(o.status.success(), "{}", common::text(&o));
    let run = out.join("fetch-inflation");
    let tables = ["summary.parquet", "timeseries.parquet", "paths.parquet"];
    let codecs = ["snappy", "gzip", "lz4", "zstd", "brotli"];
    // One Python process rewrites every table with every codec (and checks it used it).
    let script = "import pyarrow.parquet as pq, os, sys\n\
        run, root = sys.argv[1], sys.argv[2]\n\
        for codec in sys.argv[3].split(','):\n\
        \x20   os.makedirs(os.path.join(root, codec))\n\
        \x20   for t in sys.argv[4].split(','):\n\
        \x20       dst = os.path.join(root, codec, t)\n\
        \x20       pq.write_table(pq.read_table(os.path.join(run, t)), dst, compression=codec)\n\
        \x20       used = pq.ParquetFile(dst).metadata.row_group(0).column(0).compression\n\
        \x20       assert used.startswith(codec.upper()[:3]), (codec, used)\n";
    let py = std::process::Command::new(python())
        .args(["-c", script])
        .arg(&run)
        .arg(dir.path())
        .arg(codecs.join(","))
        .arg(tables.join(","))
        .output()
        .unwrap();
    assert!(py.status.success(), "pyarrow: {}", common::text(&py));
    for codec in codecs {
        let copy = dir.path().join(codec);
        std::fs::copy(run.join("manifest.json"), copy.join("manifest.json")).unwrap();
        for t in tables {
            let (a, b) = (
                common::read_parquet(&run.join(t)),
                common::read_parquet(&copy.join(t)),
            );
            assert_eq!(a.num_columns(), b.num_columns(), "{codec} {t}");
            for (i, (ca, cb)) in a.columns().iter().zip(b.columns()).enumerate() {
                assert!(
                    ca.to_data() == cb.to_data(),
                    "{codec} {t}: column {} differs",
                    a.schema().field(i).name()
                );
            }
        }
        let r = common::tokenrisk(&["report", common::path_arg(&copy)]);
        assert!(
            r.status.success(),
            "report of {codec} files: {}",
            common::text(&r)
        );
        assert!(copy.join("report.html").exists());
    }
}

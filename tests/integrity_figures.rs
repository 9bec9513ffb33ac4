//! Honest figures at the edges (issue 11): tail figures consistent at every path count,
//! timeseries values outside the histogram's range counted and flagged (the summary's figures
//! are exact since issue 12), files that are byte-identical
//! run to run, Parquet files of any compression read, quantile labels that say what they
//! are. Each test is named after the finding it covers.

mod common;
use arrow::array::Array;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokenrisk::measure::summary::{Initial, Summary};
use tokenrisk::measure::Accumulator;
use tokenrisk::model::PathRecord;
use tokenrisk::stats::{exact_lower_tail, exact_upper_tail};

const TAIL_NS: [u64; 4] = [1, 20, 100, 200];
const TAIL_LEVELS: [f64; 3] = [0.95, 0.99, 0.999];

/// A summary of `n` synthetic paths whose log-returns and drawdowns are drawn from `rng`
/// (heavy-tailed returns, drawdowns crowding near 1 as crypto drawdowns do).
fn synthetic_summary(n: u64, levels: &[f64], rng: &mut StdRng) -> (Summary, Vec<f64>, Vec<f64>) {
    let mut acc = Accumulator::new(vec![]);
    let mut records = Vec::new();
    let (mut returns, mut drawdowns) = (Vec::new(), Vec::new());
    for path in 0..n {
        let log_return = rng.random_range(-3.0..1.0) * rng.random::<f64>().powi(3);
        let max_drawdown = 1.0 - rng.random::<f64>().powi(4);
        let r = PathRecord {
            path,
            log_return,
            max_drawdown,
            final_price: log_return.exp(),
            ..PathRecord::default()
        };
        acc.add_path(&r);
        records.push(r);
        returns.push(log_return);
        drawdowns.push(max_drawdown);
    }
    let mut risk = common::parse(common::GBM_BASE).risk;
    risk.var_levels = levels.to_vec();
    let initial = Initial {
        price: 1.0,
        market_cap: 1.0,
        er_ratio: 1.0,
    };
    (
        Summary::new(&acc, &records, &risk, initial),
        returns,
        drawdowns,
    )
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
                // The summary's figures are the exact per-path figures themselves (issue 12;
                // before, they were read from histograms within 0.5% of them).
                let (var_r, cvar_r) = exact_lower_tail(&returns, t.level);
                let (var_d, cvar_d) = exact_upper_tail(&drawdowns, t.level);
                assert!(cvar_r <= var_r && cvar_d >= var_d, "n {n}: exact tails");
                for (got, exact, what) in [
                    (t.var_return, -var_r, "VaR return"),
                    (t.cvar_return, -cvar_r, "CVaR return"),
                    (t.var_drawdown, var_d, "VaR drawdown"),
                    (t.cvar_drawdown, cvar_d, "CVaR drawdown"),
                ] {
                    assert_eq!(got.value, exact, "n {n} level {}: {what}", t.level);
                    assert!(
                        (got.lo <= got.value && got.value <= got.hi) || n == 1,
                        "n {n} level {}: {what} {got:?} outside its interval",
                        t.level
                    );
                }
                assert!(
                    t.cvar_return.value >= t.var_return.value,
                    "n {n} trial {trial} level {}: return CVaR {} < VaR {}",
                    t.level,
                    t.cvar_return.value,
                    t.var_return.value
                );
                assert!(
                    t.cvar_drawdown.value >= t.var_drawdown.value,
                    "n {n} trial {trial} level {}: drawdown CVaR {} < VaR {}",
                    t.level,
                    t.cvar_drawdown.value,
                    t.var_drawdown.value
                );
            }
        }
    }
    // The reported case: fetch_inflation, 100 paths, seed 2.
    let mut s = tokenrisk::scenario::resolve("fetch_inflation").unwrap();
    s.scenario.seed = 2;
    for n in TAIL_NS {
        let out = common::run_cpu(&s, n);
        let sum = Summary::of(&out.acc, &out.records, &s);
        for t in &sum.tail {
            assert!(
                t.cvar_return.value >= t.var_return.value
                    && t.cvar_drawdown.value >= t.var_drawdown.value,
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

/// `fetch_inflation` with its cost jumps made huge: the GPU cost leaves the histogram's range
/// (above 1e18) on some paths and not on others.
fn huge_cost_jumps() -> tokenrisk::scenario::Scenario {
    let p = tokenrisk::scenario::preset("fetch_inflation").unwrap();
    let text = common::set(
        p.toml,
        "compute.cost_jumps",
        "{ rate = 20.0, mean = 3.0, stdev = 1.0 }",
    );
    common::parse(&text)
}

/// Every figure that is shown is within the histogram's accuracy (1% allowed) of the exact
/// one; the others are NaN (null in the files).
fn shown_or_flagged(got: Option<f64>, exact: f64, what: &str) {
    if let Some(got) = got.filter(|g| !g.is_nan()) {
        assert!(
            (got - exact).abs() <= 0.01 * exact.abs(),
            "{what}: shows {got:e}, exact {exact:e}"
        );
    }
}

#[test]
fn finding_05_values_outside_the_histogram_are_counted_and_flagged() {
    use tokenrisk::measure::summary::report_quantiles;
    use tokenrisk::model::{simulate_path, Params, METRICS};
    use tokenrisk::stats::exact_quantile_lower;

    // A price that falls out of the histogram's range: 1e-11 with a drift of -10 a year
    // ends below 1e-12 on every path (validation refuses a starting price below 1e-12).
    let s = common::parse(&common::scenario_text(&[
        ("token.price", "1e-11"),
        ("market.drift", "-10.0"),
    ]));
    let out = common::run_cpu(&s, 400);
    let sum = Summary::of(&out.acc, &out.records, &s);
    let mut finals: Vec<f64> = out.records.iter().map(|r| r.final_price).collect();
    finals.sort_by(f64::total_cmp);
    assert!(
        finals[399] < 1e-12,
        "the test needs every final price below 1e-12"
    );
    // The summary's quantiles are exact even there (issue 12), not flagged.
    for &(q, e) in &sum.final_price.quantiles {
        assert_eq!(
            e.value,
            exact_quantile_lower(&finals, q),
            "final price q{q}"
        );
    }
    let counts = tokenrisk::measure::warnings::RangeCounts::from_acc(&out.acc);
    let price = counts.series.iter().find(|c| c.metric == "price").unwrap();
    let params = Params::compile(&s);
    let price_m = METRICS.iter().position(|&m| m == "price").unwrap();
    let mut below = 0u64;
    for path in 0..400 {
        simulate_path(
            &params,
            tokenrisk::rng::seed_key(s.scenario.seed),
            path,
            |_, m| {
                below += (m[price_m] != 0.0 && m[price_m].abs() < 1e-12) as u64;
            },
        );
    }
    assert!(below > 0, "the test needs prices below 1e-12");
    assert_eq!(price.clamped_values, below, "report-day prices below 1e-12");

    // Huge cost jumps: the GPU cost's last-day quantiles against the exact values.
    let s = huge_cost_jumps();
    let params = Params::compile(&s);
    let out = common::run_cpu(&s, 400);
    let last = params.report_days().len() - 1;
    let cost = METRICS.iter().position(|&m| m == "gpu_cost").unwrap();
    let mut exact = Vec::new();
    for path in 0..400 {
        simulate_path(
            &params,
            tokenrisk::rng::seed_key(s.scenario.seed),
            path,
            |row, m| {
                if row == last {
                    exact.push(m[cost]);
                }
            },
        );
    }
    exact.sort_by(f64::total_cmp);
    let acc = out.acc.metric(last, cost);
    assert!(
        acc.hist.out_of_range() > 0 && exact[exact.len() - 1] > 1e18 && exact[0] < 1e18,
        "the test needs costs on both sides of 1e18"
    );
    for q in report_quantiles(&s.risk) {
        shown_or_flagged(
            acc.quantile(q),
            exact_quantile_lower(&exact, q),
            &format!("gpu_cost q{q}"),
        );
    }

    // The files and what the user sees: a run whose demand is the smallest validation
    // allows and whose price is high, so every emissions-to-revenue ratio exceeds 1e18.
    // (An infinite standard error from finite values too large to square needs ratios
    // near 1e154, which validation no longer lets a scenario reach; the check below still
    // holds any such row to say why.)
    let dir = tempfile::tempdir().unwrap();
    let p = tokenrisk::scenario::preset("fetch_inflation").unwrap();
    let file = dir.path().join("tiny_demand.toml");
    let text = common::set(p.toml, "demand.usd_per_day", "1e-12");
    std::fs::write(&file, common::set(&text, "token.price", "1000.0")).unwrap();
    let out = dir.path().join("out");
    let mut args = common::run_args(common::path_arg(&file), "200", common::path_arg(&out));
    args.retain(|a| *a != "-q");
    let o = common::tokenrisk(&args);
    assert!(o.status.success(), "{}", common::text(&o));
    let printed = common::text(&o);
    // The timeseries is read from histograms and warns; the summary is exact (issue 12)
    // and needs no warning.
    assert!(
        printed.contains("WARNING: timeseries er_ratio: ")
            && !printed.contains("WARNING: per-path values outside the histogram's range"),
        "{printed}"
    );
    let run = out.join("fetch-inflation");
    let ts = common::read_parquet(&run.join("timeseries.parquet"));
    let col = |name: &str| {
        ts.column_by_name(name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let metric = col("metric")
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap();
    let se = col("se")
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .unwrap();
    let clamped = col("clamped")
        .as_any()
        .downcast_ref::<arrow::array::UInt64Array>()
        .unwrap();
    let nonfinite = col("nonfinite")
        .as_any()
        .downcast_ref::<arrow::array::UInt64Array>()
        .unwrap();
    let p50 = col("p50")
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .unwrap();
    let mut all_clamped = 0;
    for row in 0..ts.num_rows() {
        if !se.value(row).is_finite() {
            assert!(
                clamped.value(row) + nonfinite.value(row) > 0,
                "row {row} ({}): se {} with nothing counted to say why",
                metric.value(row),
                se.value(row)
            );
        }
        if metric.value(row) == "er_ratio" && clamped.value(row) == 200 {
            all_clamped += 1;
            assert!(
                p50.is_null(row),
                "row {row}: er_ratio p50 shown among clamped values"
            );
        }
    }
    assert!(
        all_clamped > 0,
        "no report row has every er_ratio out of range: the test tests nothing"
    );
    // Every per-path ratio exceeds the histogram's range, and the summary's quantiles are
    // still the exact ones of paths.parquet.
    let summary = common::read_parquet(&run.join("summary.parquet"));
    let paths = common::read_parquet(&run.join("paths.parquet"));
    let mut ratios: Vec<f64> = paths
        .column_by_name("er_ratio")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .unwrap()
        .values()
        .to_vec();
    ratios.sort_by(f64::total_cmp);
    assert!(ratios[0] > 1e18, "the test needs every ratio above 1e18");
    for (col, q) in [
        ("er_ratio_p05", 0.05),
        ("er_ratio_p50", 0.5),
        ("er_ratio_p95", 0.95),
    ] {
        let got = summary
            .column_by_name(col)
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::Float64Array>()
            .unwrap()
            .value(0);
        assert_eq!(
            got,
            tokenrisk::stats::exact_quantile_lower(&ratios, q),
            "{col}"
        );
    }
    let r = common::tokenrisk(&["report", common::path_arg(&run)]);
    assert!(r.status.success(), "{}", common::text(&r));
    let page = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        page.contains("WARNING: timeseries er_ratio"),
        "the report page shows no range warning for the timeseries"
    );
}

/// Quantile and level labels are the level's exact percentage: 1e-300 is not `p00`,
/// 0.9999999999999999 is not `p100`, and distinct levels never share a column.
#[test]
fn finding_12_quantile_labels_are_exact() {
    use tokenrisk::measure::summary::pct_label;
    for (q, label) in [
        (0.01, "01"),
        (0.05, "05"),
        (0.07, "07"),
        (0.5, "50"),
        (0.975, "97_5"),
        (0.999, "99_9"),
        (1.0, "100"),
        (0.0, "00"),
        (0.9999999999999999, "99_99999999999999"),
    ] {
        assert_eq!(pct_label(q), label, "level {q}");
    }
    let tiny = pct_label(1e-300);
    assert!(
        tiny.starts_with("00_") && tiny.ends_with('1') && tiny.len() == 2 + 1 + 298,
        "1e-300 labelled {tiny}"
    );
    // A run with such levels writes one column each, named so.
    let text = common::scenario_text(&[
        ("risk.quantiles", "[1e-300, 0.9999999999999999]"),
        ("risk.var_levels", "[0.999]"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("labels.toml");
    std::fs::write(&file, text).unwrap();
    let out = dir.path().join("out");
    let mut args = common::run_args(common::path_arg(&file), "300", common::path_arg(&out));
    args.retain(|a| *a != "-q");
    let o = common::tokenrisk(&args);
    assert!(o.status.success(), "{}", common::text(&o));
    assert!(
        common::text(&o).contains("99.9% VaR   log-return")
            && common::text(&o).contains("99.9% CVaR  log-return"),
        "the 99.9% level printed as another: {}",
        common::text(&o)
    );
    let ts = common::read_parquet(&out.join("gbm/timeseries.parquet"));
    let names: Vec<String> = ts
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert!(
        names.contains(&"p99_99999999999999".to_string())
            && names.contains(&format!("p{tiny}"))
            && !names.contains(&"p100".to_string()),
        "{names:?}"
    );
    let summary = common::read_parquet(&out.join("gbm/summary.parquet"));
    assert!(summary.schema().field_with_name("var99_9_return").is_ok());
    let r = common::tokenrisk(&["report", common::path_arg(&out.join("gbm"))]);
    assert!(r.status.success(), "{}", common::text(&r));
}

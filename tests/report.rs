//! `tokenrisk report`: HTML reports of finished runs, end to end through the binary and the
//! library (`tokenrisk::report::write_report`), on small runs with fixed seeds.

mod common;
use arrow::array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{Field, Schema};
use common::{text, tokenrisk};
use parquet::arrow::ArrowWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokenrisk::report::svg::{log_ticks, nice_ticks, use_log_scale};

/// Every feedback off and no randomness anywhere: no path can spiral.
fn calm() -> String {
    common::scenario_text(&[
        ("scenario.name", "\"calm\""),
        (
            "scenario.description",
            "\"No volatility at all: <every> path is the same & none spirals\"",
        ),
        ("scenario.horizon_days", "200"),
        ("scenario.report_every", "10"),
        ("scenario.paths", "300"),
        ("scenario.seed", "11"),
        ("token.price", "2.0"),
        ("market.drift", "0.05"),
        ("market.volatility", "0.0"),
    ])
}

/// Chart titles every run report holds.
const TITLES: [&str; 13] = [
    "Share of paths in a demand spiral",
    "Token price",
    "Market capitalisation",
    "Circulating supply",
    "Staked share of supply",
    "Demand",
    "Served revenue",
    "Emissions (USD value)",
    "Emissions-to-revenue ratio (trailing 30-day)",
    "Provider capacity",
    "GPU cost",
    "Final price",
    "Time to spiral",
];

/// Runs `scenario` (a preset name or a file) into `out` and returns its stdout.
fn run(scenario: &str, out: &Path, paths: u32, seed: u32) -> String {
    let o = tokenrisk(&[
        "run",
        scenario,
        "--out",
        out.to_str().unwrap(),
        "--paths",
        &paths.to_string(),
        "--seed",
        &seed.to_string(),
        "--backend",
        "cpu",
        "-q",
    ]);
    assert!(o.status.success(), "run failed: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// P(spiral) as the run's printed summary formats it (`98.36%`).
fn printed_p_spiral(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.contains("P(spiral by day"))
        .expect("summary line");
    line.split_whitespace()
        .find(|w| w.ends_with('%'))
        .expect("a percentage")
        .to_string()
}

fn calm_run(root: &Path) -> (PathBuf, String) {
    let file = root.join("calm.toml");
    std::fs::write(&file, calm()).unwrap();
    let stdout = run(file.to_str().unwrap(), &root.join("out"), 300, 11);
    (root.join("out").join("calm"), stdout)
}

/// Structural checks every report must pass.
fn assert_well_formed(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    let open = html.matches("<svg").count();
    assert!(open > 0, "no chart");
    assert_eq!(open, html.matches("</svg>").count(), "unclosed <svg>");
    assert_eq!(
        html.matches("<table").count(),
        html.matches("</table>").count()
    );
    assert!(!html.contains("NaN"), "NaN in the report");
    assert!(
        !html.contains("<script"),
        "the report must not need JavaScript"
    );
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
}

#[test]
fn report_of_a_real_run() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = run("death_spiral_stress", dir.path(), 1500, 7);
    let run_dir = dir.path().join("death-spiral-stress");
    let o = tokenrisk(&["report", run_dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let page = run_dir.join("report.html");
    assert!(text(&o).contains(page.to_str().unwrap()), "{}", text(&o));
    let html = std::fs::read_to_string(&page).unwrap();
    assert_well_formed(&html);
    for t in TITLES {
        assert!(html.contains(t), "no chart titled {t:?}");
    }
    let p = printed_p_spiral(&stdout);
    assert!(
        html.contains(&format!(">{p}<")),
        "P(spiral) {p} not in the report"
    );
    // Header: scenario name, description from the TOML in the metadata, seed, engine, date.
    assert!(html.contains("<h1>death-spiral-stress</h1>"));
    assert!(html.contains("Hypothetical fragile AI network"));
    assert!(html.contains("<dt>Seed</dt><dd>7</dd>"));
    assert!(html.contains("<dt>Paths</dt><dd>1,500</dd>"));
    assert!(html.contains("cpu ("));
    assert!(html.contains(" UTC</dd>"));
    // Summary table: intervals, standard errors and the price-fall translation of VaR.
    for s in [
        "(Wilson)",
        "95% VaR of the log-return",
        "99% CVaR of the maximum drawdown",
        "price down",
        "P(emissions-to-revenue &gt; 1)",
        "Breakeven share",
        "Final price, mean",
        "95% CI",
    ] {
        assert!(html.contains(s), "summary lacks {s:?}");
    }
    // Price spans many decades in this scenario: its chart is on a log scale.
    assert!(html.contains("USD (log scale)"));
    // The same files give the same page, byte for byte.
    let again = tokenrisk::report::render_report(&run_dir).unwrap();
    assert_eq!(again, html);
}

#[test]
fn report_of_a_run_without_spirals() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, stdout) = calm_run(dir.path());
    assert_eq!(printed_p_spiral(&stdout), "0.00%");
    let page = tokenrisk::report::write_report(&run_dir).unwrap();
    assert_eq!(page, run_dir.join("report.html"));
    let html = std::fs::read_to_string(&page).unwrap();
    assert_well_formed(&html);
    for t in TITLES {
        assert!(html.contains(t), "no chart titled {t:?}");
    }
    assert!(html.contains(">0.00%<"));
    assert!(html.contains("no path spiraled"));
    // The description is escaped.
    assert!(html.contains("No volatility at all: &lt;every&gt; path is the same &amp; none"));
    // A deterministic price never spans two decades: linear axes.
    assert!(!html.contains("USD (log scale)"));
}

#[test]
fn report_of_a_parent_folder_of_two_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _) = calm_run(dir.path());
    run("render_bme", &dir.path().join("out"), 400, 3);
    let out = dir.path().join("out");
    let o = tokenrisk(&["report", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let said = text(&o);
    for name in ["calm", "render-bme"] {
        let page = out.join(name).join("report.html");
        assert!(page.is_file(), "no report for {name}");
        assert!(said.contains(page.to_str().unwrap()), "{said}");
        assert_well_formed(&std::fs::read_to_string(page).unwrap());
    }
    // Two runs: an index comparing them in the parent (issue 12; tests/report_polish.rs
    // checks its figures).
    let index = std::fs::read_to_string(out.join("report.html")).expect("an index page");
    assert!(index.contains(r#"href="calm/report.html""#), "{index}");
    assert!(
        said.contains(out.join("report.html").to_str().unwrap()),
        "{said}"
    );
    // --out is for a single run folder.
    let o = tokenrisk(&["report", out.to_str().unwrap(), "--out", "/tmp/x.html"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("--out needs a single run folder"),
        "{}",
        text(&o)
    );
}

/// Writes a Parquet file of `columns`.
fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch =
        RecordBatch::try_new(schema.clone(), columns.into_iter().map(|c| c.1).collect()).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn extra_tables_render_as_tables_and_known_ones_as_charts() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, _) = calm_run(dir.path());
    // An unknown table, with awkward values.
    write_parquet(
        &run_dir.join("zeta_extra.parquet"),
        vec![
            (
                "label",
                Arc::new(StringArray::from(vec![
                    Some("<b>one</b>"),
                    None,
                    Some("three"),
                ])),
            ),
            (
                "value_x",
                Arc::new(Float64Array::from(vec![
                    Some(1.5),
                    Some(f64::NAN),
                    Some(f64::INFINITY),
                ])),
            ),
            (
                "count_y",
                Arc::new(UInt32Array::from(vec![Some(7), None, Some(123456)])),
            ),
            (
                "flag",
                Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
            ),
        ],
    );
    // A sweep with a dotted swept key and the P(spiral) interval.
    write_parquet(
        &run_dir.join("sweep.parquet"),
        vec![
            (
                "burn.fraction",
                Arc::new(Float64Array::from(vec![0.0, 0.1, 0.2, 0.4])),
            ),
            (
                "p_spiral",
                Arc::new(Float64Array::from(vec![0.30, 0.22, 0.15, 0.05])),
            ),
            (
                "p_spiral_lo",
                Arc::new(Float64Array::from(vec![0.27, 0.19, 0.13, 0.04])),
            ),
            (
                "p_spiral_hi",
                Arc::new(Float64Array::from(vec![0.33, 0.25, 0.17, 0.06])),
            ),
        ],
    );
    // A tornado table with low / high outputs per parameter.
    write_parquet(
        &run_dir.join("tornado.parquet"),
        vec![
            (
                "parameter",
                Arc::new(StringArray::from(vec![
                    "market.volatility",
                    "demand.growth",
                ])),
            ),
            (
                "p_spiral_low",
                Arc::new(Float64Array::from(vec![0.1, 0.18])),
            ),
            (
                "p_spiral_high",
                Arc::new(Float64Array::from(vec![0.4, 0.22])),
            ),
            (
                "p_spiral_base",
                Arc::new(Float64Array::from(vec![0.2, 0.2])),
            ),
        ],
    );
    // A comparison table whose columns the page does not know.
    write_parquet(
        &run_dir.join("comparison.parquet"),
        vec![
            ("design_a", Arc::new(StringArray::from(vec!["a"]))),
            ("design_b", Arc::new(StringArray::from(vec!["b"]))),
            ("diff_p_spiral", Arc::new(Float64Array::from(vec![-0.0125]))),
        ],
    );
    let page = tokenrisk::report::write_report(&run_dir).unwrap();
    // TOKENRISK_REPORT_KEEP=FILE keeps a copy of this page to look at.
    if let Ok(keep) = std::env::var("TOKENRISK_REPORT_KEEP") {
        std::fs::copy(&page, keep).unwrap();
    }
    let html = std::fs::read_to_string(page).unwrap();
    assert_well_formed(&html);
    assert!(html.contains("Table zeta_extra.parquet"));
    for s in [
        "<th>label</th>",
        "<th>value_x</th>",
        "<th>count_y</th>",
        "<th>flag</th>",
        "&lt;b&gt;one&lt;/b&gt;",
        "123,456",
        "∞",
        "true",
    ] {
        assert!(html.contains(s), "extra table lacks {s:?}");
    }
    assert!(html.contains("P(spiral) against burn.fraction"));
    assert!(html.contains("Sensitivity of p_spiral (tornado)"));
    assert!(html.contains("Design comparison"));
    assert!(html.contains("<th>diff_p_spiral</th>"));
    // Tornado bars are sorted: the wider range (market.volatility) comes first.
    let tornado = &html[html.find("Sensitivity of p_spiral").unwrap()..];
    assert!(tornado.find("market.volatility").unwrap() < tornado.find("demand.growth").unwrap());
}

#[test]
fn an_unreadable_optional_table_is_a_warning_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, _) = calm_run(dir.path());
    std::fs::write(run_dir.join("sweep.parquet"), b"not parquet").unwrap();
    let html = std::fs::read_to_string(tokenrisk::report::write_report(&run_dir).unwrap()).unwrap();
    assert_well_formed(&html);
    assert!(html.contains("class=\"warn\"") && html.contains("sweep.parquet"));
}

#[test]
fn missing_or_corrupt_inputs_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, _) = calm_run(dir.path());
    let arg = run_dir.to_str().unwrap();

    // A corrupt required table.
    let ts = run_dir.join("timeseries.parquet");
    let good = std::fs::read(&ts).unwrap();
    std::fs::write(&ts, b"PAR1 this is not a parquet file").unwrap();
    let o = tokenrisk(&["report", arg]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains(ts.to_str().unwrap()), "{}", text(&o));
    assert!(!run_dir.join("report.html").exists());
    std::fs::write(&ts, good).unwrap();

    // A missing required table.
    let paths = run_dir.join("paths.parquet");
    std::fs::remove_file(&paths).unwrap();
    let err = tokenrisk::report::write_report(&run_dir).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains(paths.to_str().unwrap()) && msg.contains("missing"),
        "{msg}"
    );

    // A corrupt manifest.
    run("render_bme", &dir.path().join("out"), 200, 1);
    let manifest = dir.path().join("out/render-bme/manifest.json");
    std::fs::write(&manifest, "{ not json").unwrap();
    let msg = format!(
        "{:#}",
        tokenrisk::report::write_report(manifest.parent().unwrap()).unwrap_err()
    );
    assert!(msg.contains("manifest.json"), "{msg}");

    // Not a run folder at all.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = tokenrisk(&["report", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("no summary.parquet"), "{}", text(&o));
    let o = tokenrisk(&["report", "/no/such/run"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("/no/such/run"), "{}", text(&o));
}

#[test]
fn out_writes_the_report_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, _) = calm_run(dir.path());
    let out = dir.path().join("elsewhere.html");
    let o = tokenrisk(&[
        "report",
        run_dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.is_file());
    assert!(!run_dir.join("report.html").exists());
    // Atomic write: no temp file left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn nice_ticks_and_log_decision() {
    let (lo, hi, step, ticks) = nice_ticks(3.0, 1460.0, 8);
    assert_eq!((lo, hi, step), (0.0, 1600.0, 200.0));
    assert_eq!(ticks.len(), 9);
    let (lo, hi, step, _) = nice_ticks(0.012, 0.087, 6);
    assert!(lo <= 0.012 && hi >= 0.087 && (step - 0.02).abs() < 1e-12);
    let (lo, hi, ticks) = log_ticks(2e-5, 0.6);
    assert!(lo <= 2e-5 && hi >= 0.6);
    assert!(ticks.iter().all(|t| {
        let m = t / 10f64.powf(t.log10().floor());
        [1.0, 2.0, 3.0, 5.0].iter().any(|n| (m - n).abs() < 1e-9)
    }));
    assert!(use_log_scale([0.5, 2e-5, 0.01]));
    assert!(!use_log_scale([0.5, 0.9, 1.4]));
    assert!(!use_log_scale([f64::NAN; 3]));
}

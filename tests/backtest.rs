//! `tokenrisk backtest`: calibration of the scores on prices simulated from the scenario's own
//! model, the no-look-ahead rule of `--recalibrate`, the scores of a known sample, and the
//! command line (folder contents, bad flags, `tokenrisk report` rebuilding the page).

mod common;

use chrono::NaiveDate;
use common::{path_arg, scenario_text, text, tokenrisk};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokenrisk::calibrate::read::{self, ReadOptions};
use tokenrisk::calibrate::series::Series;
use tokenrisk::engine::{Backend, Control};
use tokenrisk::output::backtest::{BacktestRow, BACKTEST_COLUMNS};
use tokenrisk::workflows::backtest::{self, BacktestOptions, BacktestPlan};

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A daily GBM price path as `date,value` CSV text: `days + 1` prices from `first`.
fn gbm_csv(first: &str, days: usize, price: f64, drift: f64, vol: f64, seed: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let dt = 1.0 / 365.0;
    let mut p = price;
    let mut d = day(first);
    let mut out = String::from("date,value\n");
    for i in 0..=days {
        if i > 0 {
            // Box-Muller.
            let (u1, u2): (f64, f64) = (rng.random(), rng.random());
            let z = (-2.0 * (1.0 - u1).ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            p *= ((drift - 0.5 * vol * vol) * dt + vol * dt.sqrt() * z).exp();
            d = d.succ_opt().unwrap();
        }
        out.push_str(&format!("{d},{p}\n"));
    }
    out
}

fn series(csv: &str) -> Series {
    read::parse(csv, "synthetic.csv", &ReadOptions::default()).unwrap()
}

/// The tests' GBM scenario: the price purely exogenous (no impact, no revenue beta, no
/// emission: tests/data/base_scenario.toml), with this drift and volatility.
fn gbm_scenario(drift: f64, vol: f64) -> tokenrisk::scenario::Scenario {
    common::parse(&scenario_text(&[
        ("market.drift", &drift.to_string()),
        ("market.volatility", &vol.to_string()),
    ]))
}

fn plan(
    s: tokenrisk::scenario::Scenario,
    csv: &str,
    edit: impl FnOnce(&mut BacktestOptions),
) -> BacktestPlan {
    let mut o = BacktestOptions::new(day("2020-01-01"));
    o.backend = Backend::Cpu;
    o.seed = Some(11);
    edit(&mut o);
    BacktestPlan::new(s, series(csv), "sha", &o).unwrap()
}

fn run(p: &BacktestPlan) -> backtest::Backtest {
    backtest::run(p, &Control::none(), &mut |_, _| {}).unwrap()
}

#[test]
fn on_prices_from_the_model_itself_pit_is_uniform_and_coverage_nominal() {
    // 80 non-overlapping 30-day windows of a GBM with drift 0.1 and volatility 0.8; the
    // scenario has the same market. With 2,000 paths per origin the forecast quantiles are
    // within about 0.01 in probability of the true ones, far below the binomial noise of
    // 80 origins.
    let csv = gbm_csv("2020-01-01", 2_420, 10.0, 0.1, 0.8, 2024);
    let p = plan(gbm_scenario(0.1, 0.8), &csv, |o| {
        o.horizon = 30;
        o.paths = Some(2_000);
    });
    assert_eq!(p.origins.len(), 80);
    let bt = run(&p);
    let s = &bt.summary;
    assert_eq!((s.n, s.ks.n, s.ks_stride, s.n_eff), (80, 80, 1, 80.0));
    // Fixed seeds: KS p above 1%, and each nominal level inside its Wilson 95% interval
    // (80 windows: for 90% the interval is about +-7 points, for 50% +-11).
    assert!(s.ks.p_value > 0.01, "KS {:?}", s.ks);
    assert!(s.coverage50.consistent(), "{:?}", s.coverage50);
    assert!(s.coverage90.consistent(), "{:?}", s.coverage90);
    // Every origin starts from the observed price and is scored on the observed target.
    let ser = series(&csv);
    for r in &bt.rows {
        assert_eq!(
            r.origin_price,
            ser.value_on_or_before(r.origin).unwrap().value
        );
        assert_eq!(
            r.realized_price,
            ser.value_on_or_before(r.target).unwrap().value
        );
        assert_eq!((r.target - r.origin).num_days(), 30);
    }

    // The same check has power: a scenario with a third of the true volatility is refused.
    let wrong = plan(gbm_scenario(0.1, 0.25), &csv, |o| {
        o.horizon = 30;
        o.paths = Some(2_000);
    });
    let s = run(&wrong).summary;
    assert!(
        s.ks.p_value < 0.01 && !s.coverage90.consistent(),
        "{:?} {:?}",
        s.ks,
        s.coverage90
    );
    assert!(s.coverage90.rate < 0.9);
}

#[test]
fn recalibration_reads_nothing_after_the_origin() {
    let csv = gbm_csv("2020-01-01", 400, 5.0, 0.2, 0.6, 7);
    let opts = |o: &mut BacktestOptions| {
        o.start = day("2020-03-01");
        o.horizon = 20;
        o.every = Some(40);
        o.recalibrate = true;
        o.model = Some("gbm".into());
        o.paths = Some(500);
    };
    let base = run(&plan(gbm_scenario(0.1, 0.8), &csv, opts));
    assert!(base.rows.len() >= 8);
    let k = 3;
    let cut = base.rows[k].origin;
    // Every price after origin k doubled from the day after it on.
    let later: String = csv
        .lines()
        .map(|l| match l.split_once(',') {
            Some((d, v)) if d != "date" && day(d) > cut => {
                format!("{d},{}\n", v.parse::<f64>().unwrap() * 2.0)
            }
            _ => format!("{l}\n"),
        })
        .collect();
    let changed = run(&plan(gbm_scenario(0.1, 0.8), &later, opts));
    let forecast = |r: &BacktestRow| (r.origin_price, r.quantiles, r.drift, r.volatility);
    for i in 0..=k {
        assert_eq!(
            forecast(&base.rows[i]),
            forecast(&changed.rows[i]),
            "origin {}",
            base.rows[i].origin
        );
    }
    for i in k + 1..base.rows.len() {
        assert_ne!(forecast(&base.rows[i]), forecast(&changed.rows[i]));
    }
    // Origin k's target is after the change: its realised price (not its forecast) moved.
    assert_ne!(base.rows[k].realized_price, changed.rows[k].realized_price);

    // A change before origin k (one price on the day before it) changes its forecast: the
    // refit sees it (origin price unchanged).
    let prev = cut.pred_opt().unwrap().to_string();
    let earlier: String = csv
        .lines()
        .map(|l| match l.split_once(',') {
            Some((d, v)) if d == prev => format!("{d},{}\n", v.parse::<f64>().unwrap() * 1.3),
            _ => format!("{l}\n"),
        })
        .collect();
    let changed = run(&plan(gbm_scenario(0.1, 0.8), &earlier, opts));
    assert_eq!(base.rows[k].origin_price, changed.rows[k].origin_price);
    assert_ne!(base.rows[k].volatility, changed.rows[k].volatility);
    assert_ne!(base.rows[k].quantiles, changed.rows[k].quantiles);
    for i in 0..k {
        assert_eq!(forecast(&base.rows[i]), forecast(&changed.rows[i]));
    }
}

#[test]
fn a_known_sample_gets_its_closed_form_scores() {
    let mut row = BacktestRow::new(day("2024-01-01"), day("2024-02-01"));
    row.origin_price = 1.0;
    // Prices 1..=100, shuffled: lower sample quantiles 5, 25, 50, 75, 95.
    let mut finals: Vec<f64> = (1..=100).map(f64::from).collect();
    finals.reverse();
    backtest::score_forecast(&finals, 30.5, &mut row);
    assert_eq!(row.quantiles, [5.0, 25.0, 50.0, 75.0, 95.0]);
    assert_eq!(row.pit, 0.30);
    assert!(row.in50 && row.in90);
    backtest::score_forecast(&finals, 96.0, &mut row);
    assert_eq!(row.pit, 0.955); // 95 below, one tie
    assert!(!row.in50 && !row.in90);
    // A point forecast: the CRPS of the log price is the absolute log error.
    backtest::score_forecast(&[2.0; 10], 8.0, &mut row);
    assert!((row.crps_log - 4f64.ln()).abs() < 1e-12);
}

fn write_csv(dir: &std::path::Path, csv: &str) -> std::path::PathBuf {
    let p = dir.join("prices.csv");
    std::fs::write(&p, csv).unwrap();
    p
}

#[test]
fn the_command_writes_the_folder_and_report_rebuilds_its_page() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = write_csv(tmp.path(), &gbm_csv("2020-01-01", 300, 10.0, 0.1, 0.8, 3));
    let scen = tmp.path().join("gbm.toml");
    std::fs::write(&scen, common::GBM_BASE).unwrap();
    let out = tmp.path().join("bt");
    let o = tokenrisk(&[
        "backtest",
        path_arg(&scen),
        path_arg(&csv),
        "--start",
        "2020-03-01",
        "--horizon",
        "30",
        "--every",
        "15",
        "--paths",
        "500",
        "--backend",
        "cpu",
        "-q",
        "--out",
        path_arg(&out),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("coverage 90%") && t.contains("effective windows"),
        "{t}"
    );
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["backtest.html", "backtest.parquet", "observed.parquet"]
    );
    let b = common::read_parquet(&out.join("backtest.parquet"));
    let cols: Vec<String> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(cols, BACKTEST_COLUMNS);
    // Origins 2020-03-01 (day 60) + 15 k while the 30-day target is on or before
    // 2020-10-27 (day 300): k = 0..=14.
    assert_eq!(b.num_rows(), 15);
    let kv = tokenrisk::output::read_parquet_metadata(&out.join("backtest.parquet")).unwrap();
    assert_eq!(kv["tokenrisk.backtest.horizon_days"], "30");
    assert_eq!(kv["tokenrisk.backtest.every_days"], "15");
    assert_eq!(kv["tokenrisk.backtest.recalibrate"], "no");
    assert_eq!(kv["tokenrisk.paths"], "500");
    assert_eq!(
        kv["tokenrisk.backtest.prices_sha256"],
        tokenrisk::output::manifest::sha256_hex(std::fs::read(&csv).unwrap())
    );
    let page = std::fs::read_to_string(out.join("backtest.html")).unwrap();
    assert!(page.contains("effective windows") && page.contains("PIT histogram"));
    assert!(page.contains("windows overlap"));
    assert!(!page.contains("NaN"));
    // `tokenrisk report DIR` rebuilds the same page from the tables.
    std::fs::remove_file(out.join("backtest.html")).unwrap();
    let r = tokenrisk(&["report", path_arg(&out)]);
    assert!(r.status.success(), "{}", text(&r));
    let rebuilt = std::fs::read_to_string(out.join("backtest.html")).unwrap();
    assert!(
        rebuilt == page,
        "the rebuilt page differs from the one the command wrote"
    );
}

#[test]
fn bad_flags_are_reported_together_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = write_csv(tmp.path(), &gbm_csv("2020-01-01", 100, 10.0, 0.1, 0.8, 3));
    let out = tmp.path().join("bt");
    let args = |extra: &[&str]| {
        let mut a = vec!["backtest", "bittensor_halving", path_arg(&csv)];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["--backend", "cpu", "-q", "--out", path_arg(&out)]);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let go = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        tokenrisk(&refs)
    };
    // Three problems at once.
    let o = go(args(&[
        "--start",
        "2019-06-01",
        "--every",
        "0",
        "--model",
        "gbm",
    ]));
    let t = text(&o);
    assert!(!o.status.success());
    assert!(
        t.contains("--every 0") && t.contains("needs --recalibrate"),
        "{t}"
    );
    assert!(
        t.contains("--start 2019-06-01: before the first price") && t.contains("2020-01-01"),
        "{t}"
    );
    // A start whose first target is after the last date names the last allowed start.
    let o = go(args(&["--start", "2020-03-01", "--horizon", "90"]));
    let t = text(&o);
    assert!(!o.status.success());
    assert!(
        t.contains("after the last price") && t.contains("2020-04-10") && t.contains("2020-01-11"),
        "{t}"
    );
    // Too little history before the first origin to refit on.
    let o = go(args(&[
        "--start",
        "2020-01-10",
        "--horizon",
        "30",
        "--recalibrate",
        "--model",
        "gbm",
    ]));
    let t = text(&o);
    assert!(!o.status.success());
    assert!(
        t.contains("9 price increments") && t.contains("at least 30"),
        "{t}"
    );
    // An unknown model, a bad date.
    let o = go(args(&[
        "--start",
        "2020-01-05",
        "--recalibrate",
        "--model",
        "arima",
    ]));
    assert!(
        text(&o).contains("allowed: auto, gbm, jump, regime"),
        "{}",
        text(&o)
    );
    let o = go(args(&["--start", "1 May 2020"]));
    assert!(text(&o).contains("expected YYYY-MM-DD"), "{}", text(&o));
    // A missing file names it.
    let o = tokenrisk(&[
        "backtest",
        "bittensor_halving",
        "/nonexistent/prices.csv",
        "--start",
        "2020-01-01",
    ]);
    assert!(text(&o).contains("/nonexistent/prices.csv"), "{}", text(&o));
    assert!(!out.exists());
}

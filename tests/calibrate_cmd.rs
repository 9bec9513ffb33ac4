//! `tokenrisk calibrate` end to end (issue 14, item 1 "Outputs" and the command): the
//! folder it writes, `fitted.toml` read back and laid over a scenario, `--into` equal to
//! `Model::apply` on the original with every other line kept, the tables' metadata, the
//! window flags, every bad flag reported at once, an unreadable file naming its line, and
//! no partial folder when the fit fails. Whichever price models the library fits, the
//! assertions hold (they read the chosen model from the results, never assume GBM).

mod common;

use common::{path_arg, text, tokenrisk};
use std::path::{Path, PathBuf};
use tokenrisk::calibrate::fragment::overlay;
use tokenrisk::output::calibration::{self as names, key, CALIBRATION_COLUMNS, SERIES_COLUMNS};
use tokenrisk::output::read_parquet_metadata;
use tokenrisk::report::data::read_table;
use tokenrisk::scenario::keys::scenario_table;
use tokenrisk::workflows::calibrate::{self, CalibratePlan, RawFlags};

fn tao() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/market/tao-usd-daily.csv")
}

/// TAO from the day after its listing-day print (the first row, 0.126 USD, then 93 USD).
const TAO_FROM: &str = "2023-03-07";

/// A synthetic GBM history of `n` days (drift 0.2, volatility 0.8), with a gap of three
/// days every 50th row, as `date,value`.
fn synthetic(n: usize) -> String {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261201);
    let mut s = String::from("date,value\n");
    let mut d = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    let mut p = 10.0f64;
    for i in 0..n {
        let _ = std::fmt::Write::write_fmt(&mut s, format_args!("{d},{p}\n"));
        let days: u64 = if i % 50 == 49 { 3 } else { 1 };
        d = d.checked_add_days(chrono::Days::new(days)).unwrap();
        let dt = days as f64 / 365.0;
        let u1: f64 = 1.0 - rng.random::<f64>();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * rng.random::<f64>()).cos();
        p *= ((0.2 - 0.32) * dt + 0.8 * dt.sqrt() * z).exp();
    }
    s
}

fn calibrate_ok(args: &[&str]) -> String {
    let o = tokenrisk(args);
    assert!(o.status.success(), "calibrate failed: {}", text(&o));
    text(&o)
}

#[test]
fn tao_writes_the_whole_folder_and_into_equals_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cal");
    let printed = calibrate_ok(&[
        "calibrate",
        path_arg(&tao()),
        "--from",
        TAO_FROM,
        "--into",
        "bittensor_halving",
        "--out",
        path_arg(&out),
    ]);
    assert!(
        printed.contains("chosen: ") && printed.contains("95% CI"),
        "{printed}"
    );
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "bittensor_halving.calibrated.toml",
            "calibration.html",
            "calibration.parquet",
            "decisions.parquet",
            "fitted.toml",
            "series.parquet"
        ]
    );

    // The same fit through the library, for the expected values.
    let plan = CalibratePlan::from_flags(RawFlags {
        prices: tao(),
        from: Some(TAO_FROM.into()),
        into: Some("bittensor_halving".into()),
        out: Some(tmp.path().join("unused")),
        ..Default::default()
    })
    .unwrap();
    let c = calibrate::run(&plan).unwrap();
    let chosen = c.selection.chosen();

    // fitted.toml reads back with the exact estimates and overlays a scenario that
    // validates with them.
    let frag_text = std::fs::read_to_string(out.join("fitted.toml")).unwrap();
    assert!(
        frag_text.contains("SE ") && frag_text.contains("n = "),
        "{frag_text}"
    );
    assert!(frag_text.contains("tao-usd-daily.csv") && frag_text.contains(TAO_FROM));
    let frag: toml::Table = toml::from_str(&frag_text).unwrap();
    let base = tokenrisk::scenario::preset("bittensor_halving").unwrap();
    let mut t: toml::Table = toml::from_str(base.toml).unwrap();
    overlay(&mut t, &frag);
    let merged = tokenrisk::scenario::parse(&toml::to_string(&t).unwrap(), "merged").unwrap();
    for p in &chosen.params {
        let got = tokenrisk::scenario::keys::scenario_table(&merged).unwrap();
        let mut v = &toml::Value::Table(got);
        for s in p.key.split('.') {
            v = &v[s];
        }
        assert_eq!(
            v.as_float().unwrap().to_bits(),
            p.value.to_bits(),
            "{}",
            p.key
        );
    }

    // --into: the calibrated scenario equals Model::apply on the parsed original ...
    let calibrated =
        std::fs::read_to_string(out.join("bittensor_halving.calibrated.toml")).unwrap();
    let got = tokenrisk::scenario::parse(&calibrated, "calibrated").unwrap();
    let mut want = tokenrisk::scenario::parse(base.toml, base.file).unwrap();
    chosen.model.apply(&mut want);
    assert_eq!(
        scenario_table(&got).unwrap(),
        scenario_table(&want).unwrap()
    );
    // ... and keeps every line outside [market] (comments included) as it was.
    let mut in_market = false;
    for line in base.toml.lines() {
        if line.starts_with('[') {
            in_market = line.starts_with("[market");
        }
        if !in_market {
            assert!(calibrated.lines().any(|l| l == line), "line lost: {line}");
        }
    }
    // The fitted lines carry the fit's comment, not the assumption's.
    let drift = calibrated
        .lines()
        .find(|l| l.starts_with("drift = "))
        .unwrap();
    assert!(
        drift.contains("# fitted") && !drift.contains("assumption"),
        "{drift}"
    );

    // calibration.parquet: its columns, one row per (model, parameter), one chosen model,
    // and the metadata round trip.
    let cal = read_table(&out.join(names::CALIBRATION_FILE), None).unwrap();
    let cols: Vec<&str> = cal.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(cols, CALIBRATION_COLUMNS);
    let params: usize = c.selection.fits.iter().map(|f| f.params.len()).sum();
    assert_eq!(cal.rows, params);
    let kv = read_parquet_metadata(&out.join(names::CALIBRATION_FILE)).unwrap();
    let bytes = std::fs::read(tao()).unwrap();
    assert_eq!(kv[key::SOURCE], "tao-usd-daily.csv");
    assert_eq!(
        kv[key::SHA256],
        tokenrisk::output::manifest::sha256_hex(&bytes)
    );
    assert_eq!(kv[key::DROPPED], c.prices.series.dropped.len().to_string());
    assert_eq!(
        kv[key::OUTLIERS],
        c.prices.series.outliers.len().to_string()
    );
    assert_eq!(kv[key::WINDOW_FROM], TAO_FROM);
    assert_eq!(kv[key::MODEL], chosen.model.kind().name());
    assert!(kv.contains_key("tokenrisk.version") && kv.contains_key(key::DENSITY));
    let series = read_table(&out.join(names::SERIES_FILE), None).unwrap();
    let cols: Vec<&str> = series.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(cols, SERIES_COLUMNS);
    let returns = series.num("log_return").unwrap().iter().flatten().count();
    assert_eq!(returns, chosen.n);

    // `tokenrisk report DIR` rebuilds the page from the tables, byte for byte.
    let page = std::fs::read(out.join(names::PAGE_FILE)).unwrap();
    std::fs::remove_file(out.join(names::PAGE_FILE)).unwrap();
    let o = tokenrisk(&["report", path_arg(&out)]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(out.join(names::PAGE_FILE)).unwrap(), page);
    let html = String::from_utf8(page).unwrap();
    for s in [
        "QQ plot",
        "log density axis",
        "Rolling 90-day",
        "stress regime",
        "squared returns",
    ] {
        assert!(html.contains(s), "page lacks {s}");
    }
}

#[test]
fn a_synthetic_history_is_recovered_and_the_window_flags_cut_it() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("synthetic.csv");
    std::fs::write(&csv, synthetic(1500)).unwrap();
    let out = tmp.path().join("cal");
    let sc = tmp.path().join("base.toml");
    std::fs::write(&sc, common::GBM_BASE).unwrap();
    calibrate_ok(&[
        "calibrate",
        path_arg(&csv),
        "--revenue",
        path_arg(&csv),
        "--into",
        path_arg(&sc),
        "--model",
        "gbm",
        "--from",
        "2020-03-01",
        "--to",
        "2023-12-31",
        "--out",
        path_arg(&out),
    ]);
    let kv = read_parquet_metadata(&out.join(names::CALIBRATION_FILE)).unwrap();
    assert_eq!(kv[key::WINDOW_FROM], "2020-03-01");
    assert!(
        kv[key::WINDOW_TO].as_str() <= "2023-12-31",
        "{}",
        kv[key::WINDOW_TO]
    );
    let cal = read_table(&out.join(names::CALIBRATION_FILE), None).unwrap();
    let n = cal.f64_at("n", 0).unwrap() as usize;
    let series = read_table(&out.join(names::SERIES_FILE), None).unwrap();
    assert_eq!(
        series.rows,
        n + 1,
        "observations in the window = increments + 1"
    );
    let dates = series.text("date").unwrap();
    assert!(dates
        .iter()
        .flatten()
        .all(|d| d.as_str() >= "2020-03-01" && d.as_str() <= "2023-12-31"));
    // Volatility 0.8 recovered within 3 SE (gaps of three days counted as three days).
    let params = cal.text("parameter").unwrap();
    let i = params
        .iter()
        .position(|p| p.as_deref() == Some("market.volatility"))
        .unwrap();
    let (v, se) = (
        cal.f64_at("estimate", i).unwrap(),
        cal.f64_at("se", i).unwrap(),
    );
    assert!((v - 0.8).abs() < 3.0 * se, "volatility {v} SE {se}");
    // --revenue: demand's keys, in the tables, the fragment and the calibrated file (the
    // original untouched).
    let series_col = cal.text("series").unwrap();
    let demand: Vec<_> = (0..cal.rows)
        .filter(|&i| series_col[i].as_deref() == Some("revenue"))
        .map(|i| params[i].clone().unwrap())
        .collect();
    assert_eq!(demand, ["demand.growth", "demand.volatility"]);
    let frag: toml::Table =
        toml::from_str(&std::fs::read_to_string(out.join("fitted.toml")).unwrap()).unwrap();
    let dv = frag["demand"]["volatility"].as_float().unwrap();
    assert_eq!(dv, frag["market"]["volatility"].as_float().unwrap());
    let calibrated = std::fs::read_to_string(out.join("base.calibrated.toml")).unwrap();
    let s = tokenrisk::scenario::parse(&calibrated, "calibrated").unwrap();
    assert_eq!((s.demand.volatility, s.market.volatility), (dv, dv));
    assert_eq!(std::fs::read_to_string(&sc).unwrap(), common::GBM_BASE);
}

#[test]
fn bad_flags_are_reported_all_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cal");
    let o = tokenrisk(&[
        "calibrate",
        path_arg(&tmp.path().join("missing.csv")),
        "--from",
        "2024-13-01",
        "--to",
        "soon",
        "--model",
        "garch",
        "--step-days",
        "0",
        "--into",
        "no_such_preset",
        "--out",
        path_arg(&out),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o);
    for want in [
        "6 problems",
        "PRICES",
        "missing.csv",
        "--from \"2024-13-01\" is not a date; allowed: YYYY-MM-DD",
        "--to \"soon\"",
        "--model \"garch\" is not a price model; allowed: auto, gbm, jump, regime",
        "--step-days \"0\"",
        "allowed: 1 to 365",
        "--into \"no_such_preset\"",
    ] {
        assert!(e.contains(want), "missing {want:?} in: {e}");
    }
    assert!(!out.exists());
}

#[test]
fn an_unreadable_file_names_its_line_and_a_failed_fit_leaves_no_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cal");
    // An earlier calibration there stays as it was.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("fitted.toml"), "# earlier\n").unwrap();
    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, "date,value\n2024-01-01,1\n2024-01-02,x\n").unwrap();
    let o = tokenrisk(&["calibrate", path_arg(&bad), "--out", path_arg(&out)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("line 3"), "{}", text(&o));
    // Too short to fit: the fit fails after reading, before anything is written.
    let short = tmp.path().join("short.csv");
    let rows: String = (1..=10)
        .map(|d| format!("2024-01-{d:02},{}\n", 1.0 + d as f64))
        .collect();
    std::fs::write(&short, format!("date,value\n{rows}")).unwrap();
    let o = tokenrisk(&[
        "calibrate",
        path_arg(&short),
        "--model",
        "gbm",
        "--out",
        path_arg(&out),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("too few"), "{}", text(&o));
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["fitted.toml"]);
    assert_eq!(
        std::fs::read_to_string(out.join("fitted.toml")).unwrap(),
        "# earlier\n"
    );
    let siblings: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".cal."))
        .collect();
    assert!(siblings.is_empty(), "temp folders left: {siblings:?}");
}

#[test]
fn step_days_defaults_to_the_into_scenarios() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = common::set(common::GBM_BASE, "scenario.step_days", "7");
    s = common::set(&s, "scenario.horizon_days", "364");
    let sc = tmp.path().join("weekly.toml");
    std::fs::write(&sc, s).unwrap();
    let flags = |step: Option<&str>| RawFlags {
        prices: tao(),
        into: Some(path_arg(&sc).to_string()),
        step_days: step.map(String::from),
        ..Default::default()
    };
    assert_eq!(CalibratePlan::from_flags(flags(None)).unwrap().step_days, 7);
    assert_eq!(
        CalibratePlan::from_flags(flags(Some("2")))
            .unwrap()
            .step_days,
        2
    );
    let plain = RawFlags {
        prices: tao(),
        ..Default::default()
    };
    let p = CalibratePlan::from_flags(plain).unwrap();
    assert_eq!(p.step_days, 1);
    assert_eq!(p.out, Path::new("calibration").join("tao-usd-daily"));
}

/// A synthetic GPU cost history: the log cost an Ornstein-Uhlenbeck process around a level
/// deflating 15% a year (`docs/MODEL.md` section 11: reversion 6, volatility 0.3), 1,500
/// days from 2 USD, simulated by Euler with 20 sub-steps a day (its bias is far below the SEs).
fn synthetic_cost(n: usize) -> String {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (kappa, s, delta, ln_c0) = (6.0, 0.3, 0.15, 2f64.ln());
    let mut out = String::from("date,value\n");
    let mut d = chrono::NaiveDate::from_ymd_opt(2021, 1, 1).unwrap();
    let mut y = ln_c0;
    let h = 1.0 / 365.0 / 20.0;
    for i in 0..n {
        let _ = std::fmt::Write::write_fmt(&mut out, format_args!("{d},{}\n", y.exp()));
        d = d.checked_add_days(chrono::Days::new(1)).unwrap();
        for k in 0..20 {
            let t = (i as f64 + k as f64 / 20.0) / 365.0;
            let u1: f64 = 1.0 - rng.random::<f64>();
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * rng.random::<f64>()).cos();
            y += kappa * (ln_c0 - delta * t - y) * h + s * h.sqrt() * z;
        }
    }
    out
}

#[test]
fn a_gpu_cost_history_gives_the_compute_keys_within_three_standard_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (prices, cost) = (tmp.path().join("p.csv"), tmp.path().join("cost.csv"));
    std::fs::write(&prices, synthetic(400)).unwrap();
    std::fs::write(&cost, synthetic_cost(1500)).unwrap();
    let sc = tmp.path().join("base.toml");
    std::fs::write(&sc, common::GBM_BASE).unwrap();
    let out = tmp.path().join("cal");
    let printed = calibrate_ok(&[
        "calibrate",
        path_arg(&prices),
        "--model",
        "gbm",
        "--gpu-cost",
        path_arg(&cost),
        "--into",
        path_arg(&sc),
        "--out",
        path_arg(&out),
    ]);
    assert!(printed.contains("compute.cost_reversion"), "{printed}");
    let cal = read_table(&out.join(names::CALIBRATION_FILE), None).unwrap();
    let params = cal.text("parameter").unwrap();
    let get = |key: &str| {
        let i = params
            .iter()
            .position(|p| p.as_deref() == Some(key))
            .unwrap();
        (
            cal.f64_at("estimate", i).unwrap(),
            cal.f64_at("se", i).unwrap(),
        )
    };
    for (key, truth) in [
        ("compute.cost_reversion", 6.0),
        ("compute.cost_volatility", 0.3),
        ("compute.cost_deflation", 0.15),
    ] {
        let (v, se) = get(key);
        assert!(
            se > 0.0 && (v - truth).abs() < 3.0 * se,
            "{key}: {v} SE {se}"
        );
    }
    // The scenario's C0 is the last observed cost: data, not an estimate.
    let last: f64 = std::fs::read_to_string(&cost)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .split(',')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(get("compute.cost_per_unit_day"), (last, 0.0));
    let frag: toml::Table =
        toml::from_str(&std::fs::read_to_string(out.join("fitted.toml")).unwrap()).unwrap();
    let calibrated = std::fs::read_to_string(out.join("base.calibrated.toml")).unwrap();
    let s = tokenrisk::scenario::parse(&calibrated, "calibrated").unwrap();
    assert_eq!(
        s.compute.cost_reversion,
        frag["compute"]["cost_reversion"].as_float().unwrap()
    );
    assert_eq!(s.compute.cost_per_unit_day, last);
    assert_eq!(s.compute.cost_deflation, get("compute.cost_deflation").0);
}

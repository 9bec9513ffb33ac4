//! Exact figures with their uncertainty (issue 12, findings 2, 3 and 6): the summary's
//! quantiles, VaR and CVaR are the sample figures of the per-path values in `paths.parquet`
//! (a direct sort), each with an SE or an interval; the burn sweep that 0.5% histogram buckets
//! flattened shows the medians the paths have; `minted` splits into `emitted` and `vested`.

mod common;
use arrow::array::{Array, Float64Array, RecordBatch, StringArray};
use tokenrisk::stats::{exact_lower_tail, exact_quantile_lower, exact_upper_tail};

fn col(b: &RecordBatch, name: &str) -> Vec<f64> {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap_or_else(|| panic!("{name} is not f64"))
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect()
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.retain(|x| x.is_finite());
    v.sort_by(f64::total_cmp);
    v
}

fn run(args: &[&str]) {
    let o = common::tokenrisk(args);
    assert!(o.status.success(), "{}", common::text(&o));
}

/// The ICP preset with the sweep its file suggests (burn.fraction 0, 0.2, 0.4), 5,000
/// paths: the three exact medians of the final price differ, as the path values do, and each
/// point's summary equals the direct sort of its paths.parquet. With the 0.5% histogram the
/// three medians were all 2.7319.
#[test]
fn issue12_finding_02_burn_sweep_medians_differ_as_the_paths_do() {
    let dir = tempfile::tempdir().unwrap();
    let preset = tokenrisk::scenario::preset("icp_revenue_burn").unwrap();
    // The base has no burn (Mission 70 is a governance entry), so the sweep also sets the kind.
    let text = preset
        .toml
        .replace(
            "# [sweep]\n# \"burn.fraction\"",
            "[sweep]\n\"burn.fraction\"",
        )
        .replace("# \"burn.kind\" = [", "\"burn.kind\" = [");
    assert_ne!(text, preset.toml, "the preset's sweep comment moved");
    let file = dir.path().join("icp_sweep.toml");
    std::fs::write(&file, text).unwrap();
    let out = dir.path().join("out");
    run(&[
        "run",
        common::path_arg(&file),
        "--paths",
        "5000",
        "--out",
        common::path_arg(&out),
        "-q",
    ]);
    let base = out.join("icp-revenue-burn");
    let sweep = common::read_parquet(&base.join("sweep.parquet"));
    assert_eq!(col(&sweep, "burn.fraction"), [0.0, 0.2, 0.4]);
    let medians = col(&sweep, "final_price_p50");
    for (i, &median) in medians.iter().enumerate() {
        let paths = common::read_parquet(&base.join(format!("point-{i:04}/paths.parquet")));
        let finals = sorted(col(&paths, "final_price"));
        assert_eq!(median, exact_quantile_lower(&finals, 0.5), "point {i}");
        let er = sorted(col(&paths, "er_ratio"));
        for q in ["p50", "p75", "p95"] {
            let level: f64 = q[1..].parse::<f64>().unwrap() / 100.0;
            assert_eq!(
                col(&sweep, &format!("er_ratio_{q}"))[i],
                exact_quantile_lower(&er, level),
                "point {i} er_ratio {q}"
            );
        }
    }
    assert!(
        medians[0] != medians[1] && medians[1] != medians[2] && medians[0] != medians[2],
        "medians {medians:?}"
    );
    // The sweep's page pairs each point with the first, path by path: the median per-path
    // price ratio of point 2 over point 0 is the direct one, with its interval.
    run(&["report", common::path_arg(&base)]);
    let html = std::fs::read_to_string(base.join("report.html")).unwrap();
    let section = &html[html.find(r#"id="paired""#).expect("no paired section")..];
    let p0 = col(
        &common::read_parquet(&base.join("point-0000/paths.parquet")),
        "final_price",
    );
    let p2 = col(
        &common::read_parquet(&base.join("point-0002/paths.parquet")),
        "final_price",
    );
    let ratios = sorted(p2.iter().zip(&p0).map(|(b, a)| b / a).collect());
    let median = tokenrisk::report::format::fmt_sig(exact_quantile_lower(&ratios, 0.5), 5);
    let row = &section[section.find("point-0002").expect("no point-0002 row")..];
    assert!(
        row.contains(&format!(">{median}×")),
        "median ratio {median}: {row:.600}"
    );
}

/// Every quantile, VaR and CVaR of a run's summary.parquet against a direct sort of its
/// paths.parquet (equal, not close), with the interval around it.
#[test]
fn issue12_finding_02_summary_equals_a_direct_sort_of_the_paths() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run(&[
        "run",
        "death_spiral_stress",
        "--paths",
        "3000",
        "--out",
        common::path_arg(&out),
        "-q",
    ]);
    let run_dir = out.join("death-spiral-stress");
    let s = common::read_parquet(&run_dir.join("summary.parquet"));
    let p = common::read_parquet(&run_dir.join("paths.parquet"));
    let one = |name: &str| col(&s, name)[0];
    let check = |name: &str, exact: f64| {
        assert_eq!(one(name), exact, "{name}");
        let (lo, hi) = (one(&format!("{name}_lo")), one(&format!("{name}_hi")));
        assert!(
            lo <= exact && exact <= hi,
            "{name}: {exact} outside [{lo}, {hi}]"
        );
        assert!(one(&format!("{name}_se")) >= 0.0, "{name}_se");
    };
    let final_price = sorted(col(&p, "final_price"));
    let er = sorted(col(&p, "er_ratio"));
    let returns = sorted(col(&p, "log_return"));
    let drawdowns = sorted(col(&p, "max_drawdown"));
    let spiral_days = {
        let a = p
            .column_by_name("spiral_day")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::UInt32Array>()
            .unwrap()
            .clone();
        sorted(a.iter().flatten().map(f64::from).collect())
    };
    assert!(spiral_days.len() > 100, "the test needs spiraled paths");
    for (label, q) in [
        ("01", 0.01),
        ("05", 0.05),
        ("50", 0.5),
        ("95", 0.95),
        ("99", 0.99),
    ] {
        check(
            &format!("final_price_p{label}"),
            exact_quantile_lower(&final_price, q),
        );
        check(&format!("er_ratio_p{label}"), exact_quantile_lower(&er, q));
        check(
            &format!("spiral_day_p{label}"),
            exact_quantile_lower(&spiral_days, q),
        );
    }
    for (label, level) in [("95", 0.95), ("99", 0.99)] {
        let (var_r, cvar_r) = exact_lower_tail(&returns, level);
        let (var_d, cvar_d) = exact_upper_tail(&drawdowns, level);
        check(&format!("var{label}_return"), -var_r);
        check(&format!("cvar{label}_return"), -cvar_r);
        check(&format!("var{label}_drawdown"), var_d);
        check(&format!("cvar{label}_drawdown"), cvar_d);
    }
}

/// Every figure of summary.parquet carries its uncertainty: a mean its `<stem>_se`, a
/// probability its `_se`, a quantile, VaR or CVaR its `_se`, `_lo` and `_hi`. The columns
/// without one are named here, with why: the run's settings and exact counts, and the day-0
/// inputs.
#[test]
fn issue12_finding_03_every_summary_figure_has_an_se_or_interval() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run(&[
        "run",
        "render_bme",
        "--paths",
        "500",
        "--out",
        common::path_arg(&out),
        "-q",
    ]);
    let s = common::read_parquet(&out.join("render-bme/summary.parquet"));
    let names: Vec<String> = s
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let has = |n: &str| names.iter().any(|x| x == n);
    // Settings, exact counts and inputs: not estimates.
    let exempt = [
        "scenario",
        "paths",
        "horizon_days",
        "seed",
        "backend",
        "nonfinite_paths",
        "initial_price",
        "initial_market_cap",
        "initial_er_ratio",
    ];
    let mut missing = Vec::new();
    for n in &names {
        let is_uncertainty = ["_se", "_lo", "_hi"].iter().any(|s| n.ends_with(s));
        // `<quantity>_clamped`: exact counts of values outside the histograms' range.
        if exempt.contains(&n.as_str()) || is_uncertainty || n.ends_with("_clamped") {
            continue;
        }
        let ok = if let Some(stem) = n.strip_suffix("_mean") {
            has(&format!("{stem}_se"))
        } else if n.starts_with("p_") {
            has(&format!("{n}_se"))
        } else {
            ["_se", "_lo", "_hi"]
                .iter()
                .all(|s| has(&format!("{n}{s}")))
        };
        if !ok {
            missing.push(n.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "figures without an SE or interval: {missing:?}"
    );
    // And the interval columns are filled, not null, for this run.
    for n in [
        "final_price_p50_lo",
        "var95_return_hi",
        "cvar99_drawdown_se",
    ] {
        let c = s.column_by_name(n).unwrap();
        assert_eq!(c.null_count(), 0, "{n} is null");
    }
}

/// `minted` = `emitted` + `vested` on every path, per column; with a 2,000,000-token
/// tranche fully unlocked within the horizon, `vested` is 2,000,000 on every path; without
/// it nothing vests and `emitted` is all of `minted`.
#[test]
fn issue12_finding_06_minted_splits_into_emitted_and_vested() {
    let dir = tempfile::tempdir().unwrap();
    let base = common::scenario_text(&[
        ("scenario.name", "\"no-tranche\""),
        ("scenario.horizon_days", "730"),
        ("scenario.paths", "300"),
        ("emission.kind", "\"inflation\""),
        ("emission.annual_rate", "0.05"),
    ]);
    let tranche = format!(
        "{}\n[[vesting]]\nname = \"team\"\namount = 2000000.0\ncliff_days = 100\nlinear_days = 365\nsell_fraction = 0.0\n",
        base.replace("name = \"no-tranche\"", "name = \"tranche\"")
    );
    let out = dir.path().join("out");
    for (name, text) in [("no-tranche", &base), ("tranche", &tranche)] {
        let f = dir.path().join(format!("{name}.toml"));
        std::fs::write(&f, text).unwrap();
        run(&[
            "run",
            common::path_arg(&f),
            "--out",
            common::path_arg(&out),
            "-q",
        ]);
    }
    let read = |name: &str| common::read_parquet(&out.join(name).join("paths.parquet"));
    let (plain, with) = (read("no-tranche"), read("tranche"));
    let (minted, emitted, vested) = (
        col(&with, "minted"),
        col(&with, "emitted"),
        col(&with, "vested"),
    );
    for i in 0..minted.len() {
        assert!(
            (minted[i] - emitted[i] - vested[i]).abs() <= 1e-9 * minted[i],
            "path {i}"
        );
        assert!(
            (vested[i] - 2_000_000.0).abs() < 1e-6,
            "path {i}: vested {}",
            vested[i]
        );
    }
    // Without the tranche, nothing vests and minted is all emission.
    assert!(col(&plain, "vested").iter().all(|&v| v == 0.0));
    assert_eq!(col(&plain, "emitted"), col(&plain, "minted"));
    assert!(
        col(&plain, "emitted").iter().all(|&v| v > 0.0),
        "the test needs emission"
    );
    let s = common::read_parquet(&out.join("tranche/summary.parquet"));
    assert!((col(&s, "vested_mean")[0] - 2_000_000.0).abs() < 1e-6);
    let names = s
        .column_by_name("scenario")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .value(0)
        .to_string();
    assert_eq!(names, "tranche");
}

/// The tornado's CVaR effects carry a paired SE (issue 12, finding 3): finite on every row,
/// and, for the largest CVaR effect, well below the sqrt(2) x one run's CVaR SE that two
/// independent runs would have (the variants share their random numbers).
#[test]
fn issue12_finding_03_tornado_cvar_effects_have_paired_ses() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for cmd in ["run", "sensitivity"] {
        run(&[
            cmd,
            "fetch_inflation",
            "--paths",
            "1000",
            "--horizon",
            "365",
            "--out",
            common::path_arg(&out),
            "-q",
        ]);
    }
    let t = common::read_parquet(&out.join("fetch-inflation/tornado.parquet"));
    let se = col(&t, "effect_cvar95_se");
    let effect = col(&t, "effect_cvar95");
    assert!(se.iter().all(|s| s.is_finite() && *s >= 0.0), "{se:?}");
    let ranks = t
        .column_by_name("rank_cvar95")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::UInt32Array>()
        .unwrap()
        .clone();
    let top = (0..t.num_rows()).find(|&i| ranks.value(i) == 1).unwrap();
    let s = common::read_parquet(&out.join("fetch-inflation/summary.parquet"));
    let one_run = col(&s, "cvar95_return_se")[0];
    assert!(
        se[top] > 0.0 && se[top] < 0.5 * std::f64::consts::SQRT_2 * one_run,
        "paired SE {} vs one run's {one_run}",
        se[top]
    );
    assert!(
        effect[top].abs() > 1.96 * se[top],
        "the top effect is resolved"
    );
}

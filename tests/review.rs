//! The design review (issue 15, item 4): the article's red flags on the death-spiral preset and
//! on a deliberately sound design, thresholds from `[review]`, bad `holder` and `[review]`
//! values, `review.parquet` and its metadata, the report's "Design review" section, and the
//! common-random-numbers claim behind the first-year figure. Small path counts, fixed seeds.

mod common;

use arrow::array::Array;
use common::{parse, read_parquet, scenario_text, tokenrisk};
use tokenrisk::engine::{Backend, Control};
use tokenrisk::measure::review::{Check, Status, CHECKS};
use tokenrisk::model::METRICS;
use tokenrisk::output::review::REVIEW_COLUMNS;
use tokenrisk::scenario::{self, Scenario};
use tokenrisk::workflows::review;
use tokenrisk::workflows::single::{self, Overrides, RunPlan};

fn plan(s: Scenario, paths: u64) -> RunPlan {
    let o = Overrides {
        paths: Some(paths),
        ..Overrides::default()
    };
    RunPlan::new(s, &o, Backend::Cpu).unwrap()
}

fn checks(s: Scenario, paths: u64) -> Vec<Check> {
    let r = review::run(&plan(s, paths), &Control::none()).unwrap();
    assert_eq!(
        r.checks.iter().map(|c| c.check).collect::<Vec<_>>(),
        CHECKS.to_vec()
    );
    r.checks
}

fn status(c: &[Check], id: &str) -> Status {
    c.iter().find(|c| c.check == id).unwrap().status
}

fn death_spiral_text() -> String {
    scenario::library::preset("death_spiral_stress")
        .unwrap()
        .toml
        .to_string()
}

/// The base scenario made sound: insiders at 13% of supply with cliffs of one and two years, a
/// revenue burn, a schedule shrinking 20% a year, revenue growing 20% a year, and day-0
/// emissions worth half the day-0 revenue.
fn sound_text() -> String {
    let mut t = scenario_text(&[
        ("scenario.name", "\"sound\""),
        ("scenario.horizon_days", "1460"),
        ("emission.kind", "\"schedule\""),
        ("emission.yearly", "[18250.0]"),
        ("emission.decay", "0.8"),
        ("payment.currency", "\"stable\""),
        ("burn.kind", "\"revenue_burn\""),
        ("burn.fraction", "0.2"),
        ("demand.growth", "0.2"),
    ]);
    t.push_str(
        "\n[[vesting]]\nname = \"team\"\nholder = \"team\"\namount = 100000.0\ncliff_days = 730\nlinear_days = 730\n\
         \n[[vesting]]\nname = \"investors\"\nholder = \"investors\"\namount = 50000.0\ncliff_days = 365\nlinear_days = 365\n\
         \n[[vesting]]\nname = \"grants\"\nholder = \"community\"\namount = 200000.0\ncliff_days = 0\nlinear_days = 1460\n",
    );
    t
}

#[test]
fn death_spiral_stress_lights_every_flag_its_design_has() {
    let s = scenario::resolve("death_spiral_stress").unwrap();
    let c = checks(s, 2000);
    for id in [
        "insider_allocation",
        "insider_cliff",
        "demand_linked_to_usage",
        "breakeven_within_horizon",
        "front_loading",
    ] {
        assert_eq!(status(&c, id), Status::RedFlag, "{id}: {c:?}");
    }
    let get = |id: &str| c.iter().find(|x| x.check == id).unwrap();
    // 220 M + 150 M of a 1 B cap; the investors' 120-day cliff is the shortest.
    assert!((get("insider_allocation").figure - 0.37).abs() < 1e-12);
    assert_eq!(get("insider_cliff").figure, 120.0);
    // The first year releases 30 M of emission and 111.5 M + 102.1 M of vesting, of
    // 30 + 20 + 14 + 9.8 M of emission and 370 M of vesting over four years: deterministic,
    // so the same on every path.
    let front = get("front_loading");
    let first = 30e6 + 220e6 * 185.0 / 365.0 + 150e6 * 245.0 / 360.0;
    let total = 30e6 + 20e6 + 14e6 + 9.8e6 + 370e6;
    assert!(
        (front.figure - first / total).abs() < 1e-9,
        "{} vs {}",
        front.figure,
        first / total
    );
    assert_eq!(front.se, 0.0);
    // The one flag the preset does not light: its schedule shrinks 30% a year while
    // token-quoted demand grows 20% a year, so its emissions-to-revenue gap narrows (the
    // ratio is emission tokens over demand tokens, whatever the price does). The share of
    // paths widening is well under one half: 13.6% (Wilson 95% CI 12.2% to 15.2%) here.
    let w = get("er_gap_widening");
    assert_eq!(w.status, Status::Ok, "{w:?}");
    assert!(w.hi < 0.5 && w.lo <= w.figure && w.figure <= w.hi);
}

#[test]
fn a_sound_design_lights_no_flag() {
    let c = checks(parse(&sound_text()), 2000);
    for x in &c {
        assert_eq!(x.status, Status::Ok, "{}: {}", x.check, x.explanation);
    }
    let get = |id: &str| c.iter().find(|x| x.check == id).unwrap();
    assert!((get("insider_allocation").figure - 150e3 / 1.35e6).abs() < 1e-12);
    assert_eq!(get("insider_cliff").figure, 365.0);
}

#[test]
fn thresholds_from_review_change_the_verdicts() {
    let mut t = death_spiral_text();
    t.push_str(
        "\n[review]\nmax_insider_share = 0.4\nmin_cliff_days = 90\nmin_p_breakeven = 0.1\nmax_first_year_factor = 3\nmax_widening_share = 0.05\n",
    );
    let c = checks(parse(&t), 2000);
    assert_eq!(status(&c, "insider_allocation"), Status::Ok);
    assert_eq!(status(&c, "insider_cliff"), Status::Ok);
    assert_eq!(status(&c, "breakeven_within_horizon"), Status::Ok);
    assert_eq!(status(&c, "front_loading"), Status::Ok);
    // 13.6% of paths widen, above a 5% threshold.
    assert_eq!(status(&c, "er_gap_widening"), Status::RedFlag);
    // The design fact does not depend on a threshold.
    assert_eq!(status(&c, "demand_linked_to_usage"), Status::RedFlag);
    let a = c.iter().find(|x| x.check == "insider_allocation").unwrap();
    assert_eq!(a.threshold, 0.4);
    // Holders left out: the allocation and cliff checks have nothing to read.
    let bare = death_spiral_text()
        .lines()
        .filter(|l| !l.starts_with("holder"))
        .collect::<Vec<_>>()
        .join("\n");
    let c = checks(parse(&bare), 500);
    assert_eq!(status(&c, "insider_allocation"), Status::NotApplicable);
    assert_eq!(status(&c, "insider_cliff"), Status::NotApplicable);
    let a = c.iter().find(|x| x.check == "insider_allocation").unwrap();
    assert!(a.explanation.contains("2 tranche(s) without a holder"));
    // A horizon of a year: front-loading does not apply.
    let year = scenario::resolve("death_spiral_stress").unwrap();
    let o = Overrides {
        paths: Some(500),
        horizon_days: Some(365),
        ..Overrides::default()
    };
    let p = RunPlan::new(year, &o, Backend::Cpu).unwrap();
    let c = review::run(&p, &Control::none()).unwrap().checks;
    assert_eq!(status(&c, "front_loading"), Status::NotApplicable);
}

#[test]
fn bad_holder_and_review_values_are_named_all_at_once() {
    // Shape problems (a choice, an unknown key) together ...
    let mut t = death_spiral_text().replacen("holder = \"team\"", "holder = \"founders\"", 1);
    t.push_str("\n[review]\nbogus = 1\n");
    let e = scenario::parse(&t, "bad.toml").unwrap_err().to_string();
    assert!(e.contains("vesting[0].holder"), "{e}");
    assert!(e.contains("\"founders\""), "{e}");
    assert!(
        e.contains("\"team\", \"investors\", \"ecosystem\", \"community\""),
        "{e}"
    );
    assert!(e.contains("review.bogus"), "{e}");
    // ... and every range problem together.
    let mut t = death_spiral_text();
    t.push_str(
        "\n[review]\nmax_insider_share = 1.5\nmin_cliff_days = -1\nmax_widening_share = 2\nmin_p_breakeven = -0.1\nmax_first_year_factor = 0.5\n",
    );
    let e = scenario::parse(&t, "bad.toml").unwrap_err().to_string();
    for (k, v) in [
        ("review.max_insider_share", "1.5"),
        ("review.min_cliff_days", "-1"),
        ("review.max_widening_share", "2"),
        ("review.min_p_breakeven", "-0.1"),
        ("review.max_first_year_factor", "0.5"),
    ] {
        assert!(
            e.contains(k) && e.contains(&format!("value {v} ")),
            "{k}: {e}"
        );
    }
    assert!(
        e.contains("allowed: 0 to 1") && e.contains("allowed: 1 to 1000"),
        "{e}"
    );
}

#[test]
fn review_parquet_round_trips_and_the_report_shows_the_review() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let o = tokenrisk(&[
        "review",
        "death_spiral_stress",
        "--paths",
        "1000",
        "--backend",
        "cpu",
        "--out",
        out,
        "-q",
    ]);
    let text = common::text(&o);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("RED FLAG  insider_allocation"), "{text}");
    assert!(text.contains("5 red flag(s) of 6 checks"), "{text}");
    let run = dir.path().join("death-spiral-stress");
    let b = read_parquet(&run.join("review.parquet"));
    let names: Vec<String> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, REVIEW_COLUMNS.to_vec());
    assert_eq!(b.num_rows(), CHECKS.len());
    let md = tokenrisk::output::read_parquet_metadata(&run.join("review.parquet")).unwrap();
    let want = scenario::resolve("death_spiral_stress").unwrap();
    assert_eq!(md["tokenrisk.scenario"], "death-spiral-stress");
    assert_eq!(md["tokenrisk.paths"], "1000");
    assert_eq!(md["tokenrisk.seed"], want.scenario.seed.to_string());
    assert_eq!(md["tokenrisk.engine"], "cpu");
    assert!(md["tokenrisk.scenario_toml"].contains("holder = \"team\""));
    // The table holds what the library computes for the same run.
    let lib = checks(want, 1000);
    let col = |n: &str| {
        b.column_by_name(n)
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap()
            .clone()
    };
    let fig = b
        .column_by_name("figure")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .unwrap()
        .clone();
    for (i, c) in lib.iter().enumerate() {
        assert_eq!(col("check").value(i), c.check);
        assert_eq!(Status::parse(col("status").value(i)), Some(c.status));
        assert_eq!(fig.is_null(i), c.figure.is_nan());
        if !c.figure.is_nan() {
            assert_eq!(fig.value(i), c.figure);
        }
    }
    // The folder still checks as a run folder, and its report shows the review, the
    // first-year figure read from review.parquet.
    tokenrisk::output::folder::check_run_folder(&run).unwrap();
    assert!(tokenrisk(&["report", run.to_str().unwrap()])
        .status
        .success());
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains(r#"id="design-review""#));
    assert!(html.contains("5 red flags of 6 checks"), "review section");
    assert!(!html.contains("not computed in this run"));
    // A plain run's report computes the rest from its tables.
    let plain = tempfile::tempdir().unwrap();
    let o = tokenrisk(&[
        "run",
        "death_spiral_stress",
        "--paths",
        "1000",
        "--backend",
        "cpu",
        "--out",
        plain.path().to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", common::text(&o));
    let prun = plain.path().join("death-spiral-stress");
    assert!(!prun.join("review.parquet").exists());
    assert!(tokenrisk(&["report", prun.to_str().unwrap()])
        .status
        .success());
    let html = std::fs::read_to_string(prun.join("report.html")).unwrap();
    assert!(html.contains("4 red flags of 6 checks"));
    assert!(html.contains("not computed in this run"));
    // The same run's tables: review's run outputs equal a plain run's byte for byte.
    for f in ["summary.parquet", "paths.parquet", "timeseries.parquet"] {
        assert_eq!(
            std::fs::read(run.join(f)).unwrap(),
            std::fs::read(prun.join(f)).unwrap(),
            "{f}"
        );
    }
}

/// The prefix run behind the first-year figure: a path's first year is the same in a
/// 365-day run as in a longer one (common random numbers), here on a path-dependent design
/// (inflation on a supply that burns with revenue).
#[test]
fn the_prefix_run_reproduces_each_paths_first_year() {
    let t = scenario_text(&[
        ("scenario.horizon_days", "730"),
        ("scenario.report_every", "5"),
        ("emission.kind", "\"inflation\""),
        ("emission.annual_rate", "0.05"),
        ("payment.currency", "\"stable\""),
        ("burn.kind", "\"revenue_burn\""),
        ("burn.fraction", "0.5"),
    ]);
    let long = single::run(&plan(parse(&t), 1000), &Control::none()).unwrap();
    let short_text = common::set(&t, "scenario.horizon_days", "365");
    let short = single::run(&plan(parse(&short_text), 1000), &Control::none()).unwrap();
    let row = long
        .output
        .acc
        .report_days
        .iter()
        .position(|d| *d == 365)
        .unwrap();
    let circ = METRICS.iter().position(|m| *m == "circulating").unwrap();
    let mean_long = long.output.acc.metric(row, circ).moments.mean();
    let recs = &short.output.records;
    let mean_short = recs.iter().map(|r| r.final_circulating).sum::<f64>() / recs.len() as f64;
    assert!(
        (mean_long / mean_short - 1.0).abs() < 1e-12,
        "{mean_long} vs {mean_short}"
    );
    // and the paths differ among themselves (the design is path-dependent).
    let spread = recs
        .iter()
        .map(|r| r.final_circulating)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        });
    assert!(spread.1 > spread.0);
}

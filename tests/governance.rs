//! Governance changes, bonded inflation and buybacks on the CPU reference (issue 15's checks):
//! a change after the horizon or to the values already in force changes nothing; the
//! uncertain rule with probability 1 and a one-day window is the scheduled rule; governance
//! draws leave every other draw alone; triggers fire when their condition has held; bonded
//! inflation with a fixed staked fraction mints its closed-form total; buybacks conserve
//! supply. Statistical checks state their tolerance in standard errors.

mod common;
use common::*;
use tokenrisk::engine::EngineOutput;
use tokenrisk::model::{step, LaneState, Params, PathRecord, PathState};
use tokenrisk::scenario::governance::GOVERNABLE;

const PATHS: u64 = 400;

/// The full model of the GPU and invariant tests (bme, halving by supply, every feedback).
fn base() -> String {
    full_model_reference()
}

fn with(text: &str, governance: &str) -> String {
    format!("{text}\n{governance}\n")
}

fn run(text: &str) -> EngineOutput {
    run_cpu(&parse(text), PATHS)
}

/// Records without their enactment days.
fn model_part(records: &[PathRecord]) -> Vec<PathRecord> {
    records
        .iter()
        .map(|r| PathRecord {
            enacted: Default::default(),
            ..*r
        })
        .collect()
}

fn assert_same_model(a: &EngineOutput, b: &EngineOutput) {
    assert_eq!(model_part(&a.records), model_part(&b.records));
    assert_eq!(a.acc.series, b.acc.series, "timeseries accumulators differ");
    assert_eq!(a.acc.per_path, b.acc.per_path, "per-path summaries differ");
    assert_eq!(
        (a.acc.spiraled, a.acc.broke_even, a.acc.er_above_1),
        (b.acc.spiraled, b.acc.broke_even, b.acc.er_above_1)
    );
}

const BURN_HALF: &str = r#"set = { "burn.kind" = "revenue_burn", "burn.fraction" = 0.5 }"#;

#[test]
fn a_change_scheduled_at_or_after_the_horizon_changes_nothing() {
    let plain = run(&base());
    for day in [210, 5000] {
        let g = format!("[[governance]]\nname = \"late\"\nday = {day}\n{BURN_HALF}");
        let late = run(&with(&base(), &g));
        assert_same_model(&plain, &late);
        assert!(late.records.iter().all(|r| r.enacted.get(0).is_none()));
    }
}

#[test]
fn a_change_to_the_values_already_in_force_changes_nothing() {
    // The reference has bme with fee 0.1, this split and this staking.
    let g = r#"[[governance]]
name = "same"
day = 50
set = { "burn.kind" = "bme", "burn.fee" = 0.1, "emission.split" = { providers = 0.5, stakers = 0.3, treasury = 0.2 }, "staking.target" = 0.6, "staking.speed" = 4.0, "emission.treasury_sell" = 0.5 }
"#;
    let plain = run(&base());
    let same = run(&with(&base(), g));
    assert_same_model(&plain, &same);
    assert!(same.records.iter().all(|r| r.enacted.get(0) == Some(50)));
}

#[test]
fn a_real_change_changes_the_paths_from_its_day_on() {
    let g = format!("[[governance]]\nname = \"burn\"\nday = 100\n{BURN_HALF}");
    let plain = run(&base());
    let changed = run(&with(&base(), &g));
    assert_ne!(model_part(&plain.records), model_part(&changed.records));
    // Report rows up to the change's day are untouched (rows every 30 days: 0, 30, 60, 90).
    let n = tokenrisk::model::N_METRICS;
    assert_eq!(plain.acc.series[..4 * n], changed.acc.series[..4 * n]);
    assert_ne!(plain.acc.series[4 * n..], changed.acc.series[4 * n..]);
}

#[test]
fn certain_proposal_with_a_one_day_window_is_the_scheduled_change() {
    let scheduled = run(&with(
        &base(),
        &format!("[[governance]]\nname = \"burn\"\nday = 70\n{BURN_HALF}"),
    ));
    let uncertain = run(&with(
        &base(),
        &format!(
            "[[governance]]\nname = \"burn\"\nprobability = 1.0\nwindow_days = [70, 70]\n{BURN_HALF}"
        ),
    ));
    assert_eq!(scheduled.records, uncertain.records);
    assert_eq!(scheduled.acc.series, uncertain.acc.series);
}

const UNCERTAIN: &str = r#"[[governance]]
name = "buyback"
probability = 0.5
window_days = [20, 150]
set = { "burn.kind" = "buyback", "burn.fraction" = 0.3, "burn.destination" = "stakers" }
"#;

#[test]
fn an_uncertain_change_enacts_on_its_share_of_paths_uniformly_in_its_window() {
    let out = run_cpu(&parse(&with(&base(), UNCERTAIN)), 4000);
    let days: Vec<u32> = out
        .records
        .iter()
        .filter_map(|r| r.enacted.get(0))
        .collect();
    let n = out.records.len() as f64;
    let p = days.len() as f64 / n;
    let se = (0.25 / n).sqrt();
    assert!(
        (p - 0.5).abs() < 4.0 * se,
        "P(enacted) {p} vs 0.5 (4 SE = {})",
        4.0 * se
    );
    assert!(days.iter().all(|d| (20..=150).contains(d)));
    // Uniform over 131 integer days: mean 85, sd sqrt((131^2 - 1) / 12).
    let mean = days.iter().map(|&d| d as f64).sum::<f64>() / days.len() as f64;
    let se_mean = ((131.0f64.powi(2) - 1.0) / 12.0).sqrt() / (days.len() as f64).sqrt();
    assert!(
        (mean - 85.0).abs() < 4.0 * se_mean,
        "mean day {mean} vs 85 (4 SE)"
    );
    assert!(
        days.contains(&20) && days.contains(&150),
        "window ends reached"
    );
}

#[test]
fn governance_draws_leave_every_other_draw_alone() {
    let plain = run(&base());
    let governed = run(&with(&base(), UNCERTAIN));
    // The GPU cost path depends only on its own draws (section 11): its distribution on every
    // report row is the same, bit for bit, although the change moves prices.
    let n = tokenrisk::model::N_METRICS;
    let cost = tokenrisk::model::METRICS
        .iter()
        .position(|m| *m == "gpu_cost")
        .unwrap();
    for row in 0..plain.acc.report_days.len() {
        assert_eq!(
            plain.acc.series[row * n + cost],
            governed.acc.series[row * n + cost]
        );
    }
    assert_ne!(model_part(&plain.records), model_part(&governed.records));
    // Paths where the change is never enacted are the plain paths exactly.
    let mut never = 0;
    for (a, b) in plain.records.iter().zip(&governed.records) {
        if b.enacted.get(0).is_none() {
            never += 1;
            assert_eq!(
                *a,
                PathRecord {
                    enacted: a.enacted,
                    ..*b
                }
            );
        }
    }
    assert!(never > PATHS / 4);
    // Another change listed before it leaves its days alone (its stream is keyed by name).
    let other = "[[governance]]\nname = \"other\"\nprobability = 0.3\nwindow_days = [0, 100]\nset = { \"staking.panic\" = 0.5 }\n";
    let both = run(&with(&with(&base(), other), UNCERTAIN));
    let days = |o: &EngineOutput, c: usize| {
        o.records
            .iter()
            .map(|r| r.enacted.get(c))
            .collect::<Vec<_>>()
    };
    assert_eq!(days(&governed, 0), days(&both, 1));
    assert_ne!(days(&both, 0), days(&both, 1));
}

/// Steps one path by hand and returns its end-of-step prices (day 1, 2, ...).
fn prices(p: &Params, seed: u64, path: u64, steps: u32) -> Vec<f64> {
    let key = tokenrisk::rng::seed_key(seed);
    let mut s = LaneState::<1>::splat(&PathState::initial(p));
    (0..steps)
        .map(|t| {
            step(p, &mut s, key, &[path], t);
            s.price.0[0]
        })
        .collect()
}

#[test]
fn a_triggered_change_enacts_delay_days_after_its_condition_has_held_for_days() {
    let g = r#"[[governance]]
name = "emergency"
when = { price_below = 0.6 }
for_days = 5
delay_days = 10
set = { "burn.kind" = "revenue_burn", "burn.fraction" = 0.5 }
"#;
    // The plain GBM base: prices fall below 60% of the start on part of the paths only.
    let s = parse(&with(&scenario_text(&[]), g));
    let p = Params::compile(&s);
    let out = run_cpu(&s, 200);
    let price0 = s.token.price;
    let mut enacted = 0;
    for r in &out.records {
        // The change acts only after its proposal, so the prices up to it are the path's own.
        let ps = prices(&p, s.scenario.seed, r.path, p.steps);
        let mut run = 0;
        let mut expected = None;
        for (t, &price) in ps.iter().enumerate() {
            run = if price < 0.6 * price0 { run + 1 } else { 0 };
            if run >= 5 {
                expected = Some(t as u32 + 1 + 10).filter(|d| *d < 365);
                break;
            }
        }
        assert_eq!(r.enacted.get(0), expected, "path {}", r.path);
        enacted += expected.is_some() as u32;
    }
    assert!(enacted > 10 && enacted < 190, "{enacted} of 200 enacted");
}

/// Bonded inflation with the staked fraction held at `f` (for 0 and 1 exactly; for 0.5 up to
/// rounding): the inflation path is deterministic, and so is the total minted.
#[test]
fn bonded_inflation_with_a_fixed_staked_fraction_mints_the_closed_form_total() {
    for (f, split) in [
        (0.0, "{ providers = 1.0 }"),
        (1.0, "{ stakers = 1.0 }"),
        (0.5, "{ providers = 0.5, stakers = 0.5 }"),
    ] {
        let text = scenario_text(&[
            ("scenario.horizon_days", "730"),
            ("token.staked_fraction", &f.to_string()),
        ])
        .replace(
            "[emission]\nkind = \"none\"",
            &format!(
                "[emission]\nkind = \"bonded_inflation\"\nannual_rate = 0.10\ninflation_min = 0.07\ninflation_max = 0.20\ninflation_rate_change = 0.13\ngoal_bonded = 0.67\nsplit = {split}"
            ),
        );
        let text = format!("{text}\n[staking]\ntarget = {f}\nspeed = 5.0\n");
        let s = parse(&text);
        let out = run_cpu(&s, 20);
        let dt = 1.0 / 365.0;
        let (mut inflation, mut circ) = (0.10f64, 1_000_000.0f64);
        for _ in 0..730 {
            inflation = (inflation + (1.0 - f / 0.67) * 0.13 * dt).clamp(0.07, 0.20);
            circ += inflation * circ / 365.0;
        }
        let minted = circ - 1_000_000.0;
        for r in &out.records {
            assert!(
                (r.minted - minted).abs() <= 1e-10 * minted,
                "f = {f}: minted {} vs closed form {minted}",
                r.minted
            );
        }
        // The same rule switched on by a change on day 0 (from kind none, whose rate is 0):
        // it starts at the change's annual_rate, so it mints the same closed form.
        let switched = scenario_text(&[
            ("scenario.horizon_days", "730"),
            ("token.staked_fraction", &f.to_string()),
        ]);
        let switched = format!(
            "{switched}\n[staking]\ntarget = {f}\nspeed = 5.0\n\n[[governance]]\nname = \"bonded\"\nday = 0\nset = {{ \"emission.kind\" = \"bonded_inflation\", \"emission.annual_rate\" = 0.10, \"emission.inflation_min\" = 0.07, \"emission.inflation_max\" = 0.20, \"emission.inflation_rate_change\" = 0.13, \"emission.goal_bonded\" = 0.67, \"emission.split\" = {split} }}\n"
        );
        for r in &run_cpu(&parse(&switched), 20).records {
            assert!(
                (r.minted - minted).abs() <= 1e-10 * minted,
                "f = {f}, switched on day 0: minted {} vs closed form {minted}",
                r.minted
            );
        }
        // Sanity of the closed form itself: at 0 and 1 the rate ends at a bound.
        if f == 0.0 {
            assert_eq!(inflation, 0.20);
        }
        if f == 1.0 {
            assert_eq!(inflation, 0.07);
        }
    }
}

#[test]
fn buybacks_move_tokens_without_burning_them() {
    let buyback = |dest: &str| {
        base().replace(
            "kind = \"bme\"\nfee = 0.1",
            &format!("kind = \"buyback\"\nfraction = 0.3\ndestination = \"{dest}\""),
        )
    };
    let none = run(&base().replace("kind = \"bme\"\nfee = 0.1", "kind = \"none\""));
    for dest in ["stakers", "treasury"] {
        let out = run(&buyback(dest));
        for (r, n) in out.records.iter().zip(&none.records) {
            assert_eq!(r.burned, 0.0, "{dest}: a buyback burns nothing");
            assert!(r.final_staked <= r.final_circulating * (1.0 + 1e-12));
            // Supply is emission-driven only: the same minting as without a burn where the
            // emission does not depend on the price (halving by supply mints the same).
            assert_eq!(r.minted, n.minted);
        }
    }
    // To stakers, the bought tokens are staked: more stake at the end on average (paired, in
    // standard errors of the paired difference).
    let st = run(&buyback("stakers"));
    let d: Vec<f64> = st
        .records
        .iter()
        .zip(&none.records)
        .map(|(a, b)| a.final_staked / a.final_circulating - b.final_staked / b.final_circulating)
        .collect();
    let mean = d.iter().sum::<f64>() / d.len() as f64;
    let sd = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (d.len() as f64 - 1.0)).sqrt();
    assert!(
        mean > 4.0 * sd / (d.len() as f64).sqrt(),
        "staked share +{mean} (sd {sd})"
    );
}

fn problems(text: &str) -> String {
    match tokenrisk::scenario::parse(text, "g.toml") {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_governance_entries_get_every_problem_at_once() {
    let text = with(
        &base(),
        r#"[[governance]]
name = "a b"
day = 10
probability = 0.5
window_days = [30, 20]
set = { "market.drift" = 0.5 }

[[governance]]
name = "fraction"
day = 10
set = { "burn.kind" = "revenue_burn" }

[[governance]]
name = "sched"
when = { drawdown_above = 1.5 }
set = { "emission.kind" = "schedule", "emission.yearly" = [1.0] }

[[governance]]
name = "empty"
for_days = 3
day = 5
set = {}
"#,
    );
    let e = problems(&text);
    for needle in [
        "governance[0].name",
        "governance[0]: needs exactly one rule",
        "governance[0].window_days",
        "governance[2].when.drawdown_above",
        "governance[3].for_days",
    ] {
        assert!(e.contains(needle), "missing {needle:?} in:\n{e}");
    }
    // What a change sets is checked once the entries themselves are sound.
    let text = with(
        &base(),
        r#"[[governance]]
name = "drift"
day = 10
set = { "market.drift" = 0.5 }

[[governance]]
name = "fraction"
day = 10
set = { "burn.kind" = "revenue_burn" }

[[governance]]
name = "sched"
day = 10
set = { "emission.kind" = "schedule", "emission.yearly" = [1.0] }

[[governance]]
name = "range"
day = 10
set = { staking = { target = 1.5 } }
"#,
    );
    let e = problems(&text);
    for needle in [
        "governance[0].set.market.drift: cannot change during a run; allowed: emission.kind",
        "governance[1].set.burn.fraction: missing; required with burn.kind = \"revenue_burn\"",
        "governance[2].set.emission.kind: value \"schedule\" cannot be enacted during a run",
        "governance[3].set.staking.target: value 1.5 is out of range",
    ] {
        assert!(e.contains(needle), "missing {needle:?} in:\n{e}");
    }
    assert!(
        GOVERNABLE.iter().all(|k| e.contains(k)),
        "the allowed keys are listed"
    );
}

#[test]
fn at_most_eight_changes_and_unique_names() {
    let entry = |name: &str| {
        format!(
            "[[governance]]\nname = \"{name}\"\nday = 10\nset = {{ \"staking.panic\" = 0.5 }}\n"
        )
    };
    let nine: String = (0..9).map(|i| entry(&format!("c{i}"))).collect();
    assert!(
        problems(&with(&base(), &nine)).contains("governance: has 9 entries; allowed: at most 8")
    );
    let dup = format!("{}{}", entry("x"), entry("x"));
    assert!(problems(&with(&base(), &dup)).contains("governance[1].name"));
}

#[test]
fn compare_with_governance_runs_the_counterfactual_designs_paired() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("g.toml");
    std::fs::write(
        &file,
        with(
            &scenario_text(&[]),
            &UNCERTAIN.replace("0.3, \"burn.destination\" = \"stakers\"", "0.3"),
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = tokenrisk(&[
        "compare",
        path_arg(&file),
        "--governance",
        "buyback",
        "--paths",
        "500",
        "--out",
        path_arg(&out),
        "-q",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("gbm-buyback-as-written vs gbm-buyback-never"),
        "{t}"
    );
    assert!(t.contains("gbm-buyback-never vs gbm-buyback-always"), "{t}");
    for d in [
        "gbm-buyback-as-written",
        "gbm-buyback-never",
        "gbm-buyback-always",
    ] {
        assert!(out.join(d).join("paths.parquet").exists(), "{d}");
    }
    assert_eq!(read_parquet(&out.join("comparison.parquet")).num_rows(), 3);
    // One design with --governance, and an unknown change, are refused with the reason.
    let o = tokenrisk(&[
        "compare",
        path_arg(&file),
        path_arg(&file),
        "--governance",
        "buyback",
    ]);
    assert!(
        !o.status.success() && text(&o).contains("give one scenario"),
        "{}",
        text(&o)
    );
    let o = tokenrisk(&[
        "compare",
        path_arg(&file),
        "--governance",
        "nope",
        "--out",
        path_arg(&out),
    ]);
    assert!(
        !o.status.success() && text(&o).contains("its changes: buyback"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_run_report_shows_each_change_and_marks_its_day() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("g.toml");
    let scheduled =
        "[[governance]]\nname = \"panic_cut\"\nday = 120\nset = { \"staking.panic\" = 0.0 }\n";
    std::fs::write(
        &file,
        with(&with(&scenario_text(&[]), UNCERTAIN), scheduled),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = tokenrisk(&[
        "run",
        path_arg(&file),
        "--paths",
        "2000",
        "--out",
        path_arg(&out),
        "-q",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = tokenrisk(&["report", path_arg(&out.join("gbm"))]);
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(out.join("gbm").join("report.html")).unwrap();
    assert!(html.contains(r#"id="governance""#));
    // The summary's P(enacted) of the uncertain change is the one on the page.
    let summary = read_parquet(&out.join("gbm").join("summary.parquet"));
    let p = summary
        .column_by_name("governance.buyback.p_enacted")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .unwrap()
        .value(0);
    assert!(
        html.contains(&format!("{:.2}%", 100.0 * p)),
        "P(enacted) {p} not on the page"
    );
    // Blue marks: the scheduled change at its day, the uncertain one at its median day.
    assert!(
        html.contains(r#"class="gov" data-day="120""#),
        "scheduled mark"
    );
    assert!(html.contains("buyback ~d"), "median-day mark");
    // governance.parquet is shown as the section, not again as a raw table.
    assert!(!html.contains("Table governance.parquet"));
}

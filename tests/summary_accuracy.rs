//! Reported figures against exact sample statistics of the same paths: every summary
//! quantile, VaR and CVaR equal to the exact figure of a direct sort of the path values
//! (issue 12: the summary is computed from the per-path values), counts exact; every
//! timeseries quantile within 1% relative of the exact lower sample quantile (the histogram
//! promises 0.5%).

mod common;
use tokenrisk::measure::summary::{report_quantiles, Summary};
use tokenrisk::model::{simulate_path, Params, METRICS};
use tokenrisk::rng::seed_key;
use tokenrisk::stats::{exact_lower_tail, exact_quantile_lower, exact_upper_tail};

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

fn exact(got: f64, exact: f64, what: &str) {
    assert_eq!(got, exact, "{what}: reported {got}, exact {exact}");
}

fn close(got: f64, exact: f64, what: &str) {
    let tol = 0.01 * exact.abs() + 1e-12;
    assert!(
        (got - exact).abs() <= tol,
        "{what}: reported {got}, exact {exact}"
    );
}

#[test]
fn summary_figures_match_exact_sample_statistics() {
    for name in ["bittensor_halving", "death_spiral_stress", "render_bme"] {
        let preset = tokenrisk::scenario::preset(name).unwrap();
        let s = tokenrisk::scenario::parse(preset.toml, preset.file).unwrap();
        let out = common::run_cpu(&s, 6000);
        let sum = Summary::of(&out.acc, &out.records, &s);
        let recs = &out.records;
        let n = recs.len();

        let spiraled = recs.iter().filter(|r| r.spiral).count();
        assert_eq!(sum.p_spiral, spiraled as f64 / n as f64, "{name}");
        assert!(sum.p_spiral_lo <= sum.p_spiral && sum.p_spiral <= sum.p_spiral_hi);

        let final_price = sorted(recs.iter().map(|r| r.final_price).collect());
        let er = sorted(recs.iter().map(|r| r.er_ratio).collect());
        let returns = sorted(recs.iter().map(|r| r.log_return).collect());
        let drawdowns = sorted(recs.iter().map(|r| r.max_drawdown).collect());
        let days = sorted(
            recs.iter()
                .filter_map(|r| r.spiral_day.map(|d| d as f64))
                .collect(),
        );
        for q in report_quantiles(&s.risk) {
            exact(
                sum.final_price.q(q),
                exact_quantile_lower(&final_price, q),
                &format!("{name} final_price q{q}"),
            );
            exact(
                sum.er_ratio.q(q),
                exact_quantile_lower(&er, q),
                &format!("{name} er_ratio q{q}"),
            );
            if !days.is_empty() {
                exact(
                    sum.spiral_day.q(q),
                    exact_quantile_lower(&days, q),
                    &format!("{name} spiral_day q{q}"),
                );
            }
        }
        let above_1 = recs.iter().filter(|r| r.er_ratio > 1.0).count();
        assert_eq!(sum.p_er_above_1, above_1 as f64 / n as f64);

        for t in &sum.tail {
            let (var_r, cvar_r) = exact_lower_tail(&returns, t.level);
            let (var_r, cvar_r) = (-var_r, -cvar_r);
            let (var_d, cvar_d) = exact_upper_tail(&drawdowns, t.level);
            exact(
                t.var_return.value,
                var_r,
                &format!("{name} VaR{} return", t.level),
            );
            exact(
                t.cvar_return.value,
                cvar_r,
                &format!("{name} CVaR{} return", t.level),
            );
            exact(
                t.var_drawdown.value,
                var_d,
                &format!("{name} VaR{} drawdown", t.level),
            );
            exact(
                t.cvar_drawdown.value,
                cvar_d,
                &format!("{name} CVaR{} drawdown", t.level),
            );
        }
    }
}

#[test]
fn timeseries_quantiles_match_exact_per_day_values() {
    let preset = tokenrisk::scenario::preset("fetch_inflation").unwrap();
    let s = tokenrisk::scenario::parse(preset.toml, preset.file).unwrap();
    let params = Params::compile(&s);
    let out = common::run_cpu(&s, 3000);
    // Re-simulate the same paths, keeping every report value of a few rows.
    let rows = [1usize, 52, params.report_days().len() - 1];
    let mut values = vec![vec![Vec::new(); METRICS.len()]; rows.len()];
    for path in 0..3000 {
        simulate_path(&params, seed_key(s.scenario.seed), path, |row, m| {
            if let Some(i) = rows.iter().position(|&r| r == row) {
                for (k, v) in m.iter().enumerate() {
                    values[i][k].push(*v);
                }
            }
        });
    }
    for (i, &row) in rows.iter().enumerate() {
        for (k, metric) in METRICS.iter().enumerate() {
            let exact = sorted(values[i][k].clone());
            let acc = out.acc.metric(row, k);
            let mean = exact.iter().sum::<f64>() / exact.len() as f64;
            assert!(
                (acc.moments.mean() - mean).abs() <= 1e-9 * mean.abs().max(1e-300),
                "{metric} mean"
            );
            for q in report_quantiles(&s.risk) {
                close(
                    acc.quantile(q).unwrap(),
                    exact_quantile_lower(&exact, q),
                    &format!("row {row} {metric} q{q}"),
                );
            }
        }
    }
}

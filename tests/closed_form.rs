//! The closed-form checks of MODEL.md. Statistical checks use fixed seeds and state their
//! tolerance in standard errors (SE); deterministic checks are exact to rounding.

mod common;
use common::*;
use statrs::distribution::{ContinuousCDF, Normal};

fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, v)
}

/// All feedback off: ln P_H ~ N(ln P0 + (mu - sigma^2/2) T, sigma^2 T) and E[P_H] = P0 e^{mu T}.
#[test]
fn gbm_log_price_mean_variance_and_expectation() {
    let s = parse(GBM_BASE);
    let n = 40_000;
    let out = run_cpu(&s, n);
    let (mu, sigma, t) = (0.10, 0.80, 1.0);
    let log_returns: Vec<f64> = out.records.iter().map(|r| r.log_return).collect();
    let (m, v) = mean_var(&log_returns);
    let expected_m = (mu - 0.5 * sigma * sigma) * t;
    let expected_v = sigma * sigma * t;
    let se_m = (expected_v / n as f64).sqrt();
    // SE of a normal sample variance: sigma^2 sqrt(2 / (n - 1)).
    let se_v = expected_v * (2.0 / (n as f64 - 1.0)).sqrt();
    assert!(
        (m - expected_m).abs() < 4.0 * se_m,
        "mean ln P: {m} vs {expected_m} (4 SE = {})",
        4.0 * se_m
    );
    assert!(
        (v - expected_v).abs() < 4.0 * se_v,
        "var ln P: {v} vs {expected_v} (4 SE = {})",
        4.0 * se_v
    );

    let prices: Vec<f64> = out.records.iter().map(|r| r.final_price).collect();
    let (pm, pv) = mean_var(&prices);
    let expected_p = 10.0 * (mu * t).exp();
    let se_p = (pv / n as f64).sqrt();
    assert!(
        (pm - expected_p).abs() < 4.0 * se_p,
        "E[P_H]: {pm} vs {expected_p} (4 SE = {})",
        4.0 * se_p
    );
}

/// Barrier: P(min P <= b) by the reflection principle, with the Broadie-Glasserman shift
/// b -> b exp(-0.5826 sigma sqrt(dt)) for daily monitoring. Tolerance 4 binomial SE.
#[test]
fn gbm_barrier_probability_with_discrete_monitoring_correction() {
    let s = parse(GBM_BASE);
    let n = 40_000;
    let out = run_cpu(&s, n);
    let (mu, sigma, t, dt) = (0.10f64, 0.80f64, 1.0f64, 1.0f64 / 365.0);
    let barrier = 10.0 * 0.6;
    let hits = out
        .records
        .iter()
        .filter(|r| r.min_price <= barrier)
        .count();
    let p_hat = hits as f64 / n as f64;

    let nu = mu - 0.5 * sigma * sigma;
    let shifted = barrier * (-0.5826 * sigma * dt.sqrt()).exp();
    let a = (shifted / 10.0).ln(); // < 0
    let z = Normal::new(0.0, 1.0).unwrap();
    let sd = sigma * t.sqrt();
    let p_exact = z.cdf((a - nu * t) / sd)
        + (2.0 * nu * a / (sigma * sigma)).exp() * z.cdf((a + nu * t) / sd);
    let se = (p_exact * (1.0 - p_exact) / n as f64).sqrt();
    assert!(
        (p_hat - p_exact).abs() < 4.0 * se,
        "P(hit): simulated {p_hat}, closed form {p_exact}, 4 SE = {}",
        4.0 * se
    );
    // Without the correction the continuous formula is measurably off: the check has teeth.
    let a0 = (barrier / 10.0f64).ln();
    let p_cont = z.cdf((a0 - nu * t) / sd)
        + (2.0 * nu * a0 / (sigma * sigma)).exp() * z.cdf((a0 + nu * t) / sd);
    assert!(
        p_cont > p_exact,
        "continuous monitoring must hit more often"
    );
}

/// Deterministic schedule of halving_by_supply, computed independently: TAO-like
/// (21M cap, 10.83M issued, so already past the first halving at 10.5M: 3,600/day until
/// 15.75M, then 1,800/day). Daily and weekly steps both mint it to the token.
#[test]
fn halving_by_supply_mints_the_deterministic_schedule() {
    for (step, horizon) in [(1u32, 1460u32), (7, 1456)] {
        let text = GBM_BASE
            .replace(
                "kind = \"none\"",
                "kind = \"halving_by_supply\"\nper_day = 7200.0",
            )
            .replace(
                "issued = 1000000.0",
                "issued = 10830000.0\nmax_supply = 21000000.0",
            );
        let text = set(&text, "scenario.horizon_days", &horizon.to_string());
        let text = set(&text, "scenario.step_days", &step.to_string());
        let text = set(&text, "scenario.report_every", &(7 * step).to_string());
        let s = parse(&text);
        let out = run_cpu(&s, 4);
        let days_at_3600 = (15_750_000.0 - 10_830_000.0) / 3600.0;
        let expected = (15_750_000.0 - 10_830_000.0) + 1800.0 * (horizon as f64 - days_at_3600);
        for r in &out.records {
            assert!(
                (r.minted - expected).abs() < 1.0,
                "step {step}: minted {} vs schedule {expected}",
                r.minted
            );
        }
    }
}

/// halving_by_time: per_day / 2^floor(day / period), cut exactly at period boundaries.
#[test]
fn halving_by_time_mints_the_deterministic_schedule() {
    for (step, horizon) in [(1u32, 1001u32), (7, 1001)] {
        let text = GBM_BASE.replace(
            "kind = \"none\"",
            "kind = \"halving_by_time\"\nper_day = 100.0\nperiod_days = 300.0",
        );
        let text = set(&text, "scenario.horizon_days", &horizon.to_string());
        let text = set(&text, "scenario.step_days", &step.to_string());
        let text = set(&text, "scenario.report_every", &(7 * step).to_string());
        let s = parse(&text);
        let out = run_cpu(&s, 2);
        let mut expected = 0.0;
        for day in 0..horizon {
            expected += 100.0 / 2f64.powi((day / 300) as i32);
        }
        for r in &out.records {
            assert!(
                (r.minted - expected).abs() < 1e-6,
                "step {step}: {} vs {expected}",
                r.minted
            );
        }
    }
}

/// BME with zero volatilities, no impact, constant price and ample capacity: burned tokens
/// equal the sum over days of Served (1 - fee) / P, with Served = D0 e^{g t dt}.
#[test]
fn bme_burn_accounting_with_zero_volatility() {
    let text = GBM_BASE
        .replace(
            "[emission]\nkind = \"none\"",
            "[emission]\nkind = \"none\"\n\n[burn]\nkind = \"bme\"\nfee = 0.05",
        )
        .replace("usd_per_day = 1000.0", "usd_per_day = 1000.0\ngrowth = 0.4")
        .replace("drift = 0.10", "drift = 0.0")
        .replace("volatility = 0.80", "volatility = 0.0")
        .replace("capacity = 10000.0", "capacity = 100000.0");
    let s = parse(&text);
    let out = run_cpu(&s, 3);
    let dt = 1.0 / 365.0;
    let mut expected = 0.0;
    for t in 0..365 {
        let served = 1000.0 * (0.4 * t as f64 * dt).exp();
        expected += served * (1.0 - 0.05) / 10.0;
    }
    for r in &out.records {
        assert!(
            (r.burned - expected).abs() < 1e-9 * expected,
            "burned {} vs {expected}",
            r.burned
        );
        assert!(
            (r.final_price - 10.0).abs() < 1e-9,
            "price moved: {}",
            r.final_price
        );
    }
}

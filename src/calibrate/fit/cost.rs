//! The log GPU cost as an Ornstein-Uhlenbeck process around a deflating level
//! (`docs/MODEL.md` section 11): `dy = kappa (ybar(t) - y) dt + s dW`,
//! `ybar(t) = ln c0 - delta t`, fitted to the LEVELS of a cost series by exact
//! discretisation over the true (unequal) gaps. With `c = delta / kappa` the deviation
//! `z = y - ybar(t) + c` is a plain OU, so over a gap of `h` years
//! `z' = e^(-kappa h) z + e`, `var e = s^2 (1 - e^(-2 kappa h)) / (2 kappa)`: an AR(1) with
//! a time-varying mean, conditioned on the first observation. (The engine steps the same SDE
//! by Euler, `1 - kappa dt` for `e^(-kappa dt)`, which differs by `O((kappa dt)^2)`: 1e-4 for
//! daily steps and `kappa` = 4 a year.)
//!
//! Free parameters `(ln c0 at the first date, delta, ln kappa, ln s)`: Nelder-Mead from a
//! regression start, Newton steps, observed information. `compute.cost_per_unit_day` is the
//! scenario's C0, the cost on the simulation's first day (`PathState::initial` sets
//! `ln C = ln C0` and section 11 anchors `ybar` there), so a scenario starting after the
//! data is given the LAST observed cost, which is data, not an estimate (SE 0); the fitted
//! level at the first date only serves the fit.

use super::hessian::{delta_method, finish};
use super::optim::nelder_mead;
use super::{params_of, Fit, FitOptions, Model};
use crate::calibrate::series::{Series, DAYS_PER_YEAR};
use anyhow::{bail, Result};

pub const KEYS: [&str; 4] = [
    "compute.cost_reversion",
    "compute.cost_volatility",
    "compute.cost_deflation",
    "compute.cost_per_unit_day",
];

/// Times (years from the first date) and log levels.
fn levels(series: &Series) -> (Vec<f64>, Vec<f64>) {
    let d0 = series.obs[0].date;
    series
        .obs
        .iter()
        .map(|o| {
            (
                (o.date - d0).num_days() as f64 / DAYS_PER_YEAR,
                o.value.ln(),
            )
        })
        .unzip()
}

/// The conditional log-likelihood and, when `pit` is given, the one-step predictive CDF
/// of each observation after the first.
fn loglik(theta: &[f64], t: &[f64], y: &[f64], mut pit: Option<&mut Vec<f64>>) -> f64 {
    let (a, delta, kappa, s) = (theta[0], theta[1], theta[2].exp(), theta[3].exp());
    let c = delta / kappa;
    let z = |i: usize| y[i] - (a - delta * t[i]) + c;
    let mut ll = 0.0;
    for i in 1..y.len() {
        let h = t[i] - t[i - 1];
        let phi = (-kappa * h).exp();
        let var = s * s * -(-2.0 * kappa * h).exp_m1() / (2.0 * kappa);
        let e = z(i) - phi * z(i - 1);
        ll += -0.5 * (e * e / var + var.ln() + (2.0 * std::f64::consts::PI).ln());
        if let Some(p) = pit.as_deref_mut() {
            p.push(super::normal_cdf(e / var.sqrt()));
        }
    }
    ll
}

pub const SE_METHOD: &str =
    "inverse observed information: central-difference Hessian of the exact \
     AR(1) log-likelihood on the log scale of kappa and s, delta method; the cost per unit-day \
     is the last observed cost (data, SE 0)";

pub fn fit_cost(series: &Series, opts: &FitOptions) -> Result<Fit> {
    let n = series.obs.len();
    if n < super::MIN_INCREMENTS + 1 {
        bail!(
            "{}: {} cost observations are too few to fit the cost-ou model; at least {} are needed",
            series.source,
            n,
            super::MIN_INCREMENTS + 1
        );
    }
    let (t, y) = levels(series);
    if t[n - 1] <= 0.0 {
        bail!("{}: the cost observations span no time", series.source);
    }
    // Start: least squares line for (a, -delta), AR(1) of its residuals for kappa, s.
    let (tm, ym) = (
        t.iter().sum::<f64>() / n as f64,
        y.iter().sum::<f64>() / n as f64,
    );
    let stt: f64 = t.iter().map(|v| (v - tm).powi(2)).sum();
    let sty: f64 = t.iter().zip(&y).map(|(a, b)| (a - tm) * (b - ym)).sum();
    let slope = sty / stt;
    let a0 = ym - slope * tm;
    let res: Vec<f64> = t.iter().zip(&y).map(|(a, b)| b - a0 - slope * a).collect();
    let (mut num, mut den, mut years) = (0.0, 0.0, 0.0);
    for i in 1..n {
        num += res[i] * res[i - 1];
        den += res[i - 1] * res[i - 1];
        years += t[i] - t[i - 1];
    }
    let phi = (num / den).clamp(0.01, 0.999);
    let h = years / (n - 1) as f64;
    let kappa0 = -phi.ln() / h;
    let innov: f64 = (1..n)
        .map(|i| (res[i] - phi * res[i - 1]).powi(2))
        .sum::<f64>()
        / (n - 1) as f64;
    let s0 = (innov / h).sqrt().max(1e-4);
    let x0 = [a0, -slope, kappa0.ln(), s0.ln()];
    let f = |th: &[f64]| loglik(th, &t, &y, None);
    let x = nelder_mead(&f, &x0, &[0.05, 0.05, 0.5, 0.2], 4000);
    let done = finish(&f, x, 8);
    let last = series.obs[n - 1].value;
    let report = |th: &[f64]| vec![th[2].exp(), th[3].exp(), th[1], last];
    let values = report(&done.theta);
    let (cov, warning) = match &done.cov {
        Some(c) => (delta_method(&report, &done.theta, c), None),
        None => (
            vec![f64::NAN; 16],
            Some(
                "the log-likelihood's Hessian is not negative definite at the optimum found \
                 (mean reversion and deflation not separable on this series); the standard \
                 errors are not reported"
                    .to_string(),
            ),
        ),
    };
    let mut pit = Vec::with_capacity(n - 1);
    loglik(&done.theta, &t, &y, Some(&mut pit));
    let params = params_of(&KEYS, &values, &cov);
    Ok(Fit {
        model: Model::CostOu {
            reversion: values[0],
            volatility: values[1],
            deflation: values[2],
            cost_per_unit_day: last,
        },
        params,
        cov,
        se_method: SE_METHOD,
        loglik: done.loglik,
        n: n - 1,
        step_days: opts.step_days,
        converged: done.converged,
        pit,
        stress_prob: None,
        warning: warning.or_else(|| {
            (!done.converged).then(|| {
                "the optimiser stopped before its convergence criterion was met".to_string()
            })
        }),
    })
}

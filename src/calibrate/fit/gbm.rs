//! Geometric Brownian motion by maximum likelihood, in closed form. With unequal gaps the
//! increments are `x_i ~ N(a dt_i, sigma^2 dt_i)`, `a = mu - sigma^2 / 2`, so
//! `a = sum x / sum dt` and `sigma^2 = mean((x_i - a dt_i)^2 / dt_i)`. The standard errors
//! are the inverse observed information, which is diagonal in `(a, sigma^2)`:
//! `var a = sigma^2 / sum dt`, `var sigma^2 = 2 sigma^4 / n`; `mu` and `sigma` follow by the
//! delta method.

use super::{normal_cdf, Fit, Model, Param};
use crate::calibrate::series::Increments;

/// Mean and standard deviation of one log-increment over `dt` years.
pub fn moments(drift: f64, volatility: f64, dt: f64) -> (f64, f64) {
    (
        (drift - 0.5 * volatility * volatility) * dt,
        volatility * dt.sqrt(),
    )
}

pub fn fit(inc: &Increments, step_days: u32) -> Fit {
    let n = inc.len() as f64;
    let total: f64 = inc.years();
    let a = inc.x.iter().sum::<f64>() / total;
    let s2 = inc
        .x
        .iter()
        .zip(&inc.dt)
        .map(|(x, dt)| (x - a * dt).powi(2) / dt)
        .sum::<f64>()
        / n;
    let sigma = s2.sqrt();
    let drift = a + 0.5 * s2;
    let var_a = s2 / total;
    let var_s2 = 2.0 * s2 * s2 / n;
    // mu = a + s2 / 2; sigma = sqrt(s2): d sigma / d s2 = 1 / (2 sigma).
    let var_mu = var_a + 0.25 * var_s2;
    let var_sigma = var_s2 / (4.0 * s2);
    let cov_mu_sigma = 0.5 * var_s2 / (2.0 * sigma);
    let loglik = inc
        .x
        .iter()
        .zip(&inc.dt)
        .map(|(x, dt)| {
            let (m, s) = moments(drift, sigma, *dt);
            -0.5 * ((x - m) / s).powi(2) - s.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
        })
        .sum();
    let pit = inc
        .x
        .iter()
        .zip(&inc.dt)
        .map(|(x, dt)| {
            let (m, s) = moments(drift, sigma, *dt);
            normal_cdf((x - m) / s)
        })
        .collect();
    Fit {
        model: Model::Gbm {
            drift,
            volatility: sigma,
        },
        params: vec![
            Param {
                key: "market.drift",
                value: drift,
                se: var_mu.sqrt(),
            },
            Param {
                key: "market.volatility",
                value: sigma,
                se: var_sigma.sqrt(),
            },
        ],
        cov: vec![var_mu, cov_mu_sigma, cov_mu_sigma, var_sigma],
        se_method:
            "inverse observed information (closed form), delta method for drift and volatility",
        loglik,
        n: inc.len(),
        step_days,
        converged: true,
        pit,
        stress_prob: None,
        warning: None,
    }
}

/// Demand (revenue) is GBM too (`docs/MODEL.md` section 10 without churn and price terms):
/// the same fit, reported under `demand.growth` and `demand.volatility`.
pub fn fit_demand(inc: &Increments, step_days: u32) -> Fit {
    let mut f = fit(inc, step_days);
    let Model::Gbm { drift, volatility } = f.model else {
        unreachable!("gbm::fit returns Gbm")
    };
    f.model = Model::Demand {
        growth: drift,
        volatility,
    };
    f.params[0].key = "demand.growth";
    f.params[1].key = "demand.volatility";
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Box-Muller from `rand`'s uniforms (the crate has no `rand_distr`).
    fn normal(rng: &mut impl Rng) -> f64 {
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random::<f64>();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    #[test]
    fn recovers_known_parameters_within_three_standard_errors() {
        let (mu, sigma) = (0.3, 0.9);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut inc = Increments::default();
        for _ in 0..3000 {
            let days = if rng.random::<f64>() < 0.1 { 3 } else { 1 };
            let dt = days as f64 / 365.0;
            let (m, s) = moments(mu, sigma, dt);
            inc.days.push(days);
            inc.dt.push(dt);
            inc.x.push(m + s * normal(&mut rng));
        }
        let f = fit(&inc, 1);
        let d = f.get("market.drift").unwrap();
        let v = f.get("market.volatility").unwrap();
        assert!((d.value - mu).abs() < 3.0 * d.se, "{d:?}");
        assert!((v.value - sigma).abs() < 3.0 * v.se, "{v:?}");
        // sigma's SE is sigma / sqrt(2n) to first order.
        assert!((v.se - sigma / (2.0 * 3000f64).sqrt()).abs() < 0.05 * v.se);
    }
}

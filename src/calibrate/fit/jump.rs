//! Merton jump-diffusion by maximum likelihood: EM on the one-regime case of `switching`
//! (closed-form M-steps), from a few starting points, finished by guarded Newton steps on
//! the exact mixture likelihood, whose observed information gives the standard errors.
//! Keys: `market.drift`, `market.volatility`, `market.jumps.{rate, mean, stdev}`; the drift
//! is not jump-compensated, as in the model (`docs/MODEL.md` section 9).

use super::hessian::{delta_method, finish};
use super::switching::{diagnostics, em, loglik, Msm, Spec};
use super::{params_of, Fit, FitOptions, Model};
use crate::calibrate::series::Increments;
use rand::{Rng, SeedableRng};

pub const SPEC: Spec = Spec {
    regimes: 1,
    jumps: true,
};

pub const KEYS: [&str; 5] = [
    "market.drift",
    "market.volatility",
    "market.jumps.rate",
    "market.jumps.mean",
    "market.jumps.stdev",
];

/// EM iterations per starting point, and for the best one.
pub const START_ITER: usize = 30;
pub const FINAL_ITER: usize = 500;
/// EM stops when an iteration gains less log-likelihood than this (Newton steps finish).
pub const EM_TOL: f64 = 1e-4;
/// Guarded Newton steps after EM.
pub const NEWTON_STEPS: usize = 8;

/// Robust starting values: the diffusion from the median absolute deviation of the
/// per-root-year increments, the jumps from those beyond four of them.
fn base_start(inc: &Increments) -> Msm {
    let mu = inc.x.iter().sum::<f64>() / inc.years();
    let mut abs: Vec<f64> = inc
        .x
        .iter()
        .zip(&inc.dt)
        .map(|(x, dt)| ((x - mu * dt) / dt.sqrt()).abs())
        .collect();
    abs.sort_by(f64::total_cmp);
    let sigma = (1.4826 * abs[abs.len() / 2]).max(1e-3);
    let big: Vec<f64> = inc
        .x
        .iter()
        .zip(&inc.dt)
        .filter(|(x, dt)| ((*x - mu * *dt) / dt.sqrt()).abs() > 4.0 * sigma)
        .map(|(x, _)| *x)
        .collect();
    let rate = (big.len() as f64 + 1.0) / inc.years();
    let daily = sigma / 365f64.sqrt();
    let (m, v) = if big.len() >= 2 {
        let m = big.iter().sum::<f64>() / big.len() as f64;
        let v = (big.iter().map(|b| (b - m).powi(2)).sum::<f64>() / big.len() as f64).sqrt();
        (m, v.max(2.0 * daily))
    } else {
        (0.0, 5.0 * daily)
    };
    Msm {
        drift: [mu + 0.5 * sigma * sigma; 2],
        vol: [sigma; 2],
        rate: [rate; 2],
        jump_mean: m,
        jump_stdev: v,
        p: 0.0,
        q: 1.0,
    }
}

/// A start perturbed by a seeded multiplicative noise (same seed, same starts).
pub(crate) fn perturb(m: &Msm, rng: &mut impl Rng, scale: f64) -> Msm {
    let mut e = || (rng.random::<f64>() - 0.5) * 2.0 * scale;
    let mut o = *m;
    for r in 0..2 {
        o.vol[r] *= e().exp();
        o.rate[r] *= (2.0 * e()).exp();
    }
    o.jump_stdev *= e().exp();
    o.jump_mean += 0.5 * e() * o.jump_stdev;
    o.p = (o.p * e().exp()).min(0.5);
    o.q = (o.q * e().exp()).min(0.9);
    o
}

/// Runs EM from each start (a short run), continues the best to convergence, and finishes
/// with Newton steps; returns the point on `spec`'s unconstrained scale.
pub(crate) fn best_of(
    starts: &[Msm],
    spec: Spec,
    inc: &Increments,
) -> (Msm, super::hessian::Finished) {
    use rayon::prelude::*;
    let runs: Vec<(Msm, f64)> = starts
        .par_iter()
        .map(|s| em(*s, spec, inc, START_ITER, EM_TOL))
        .collect();
    let best = runs
        .iter()
        .filter(|r| r.1.is_finite())
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|r| r.0)
        .unwrap_or(starts[0]);
    let (mut m, _) = em(best, spec, inc, FINAL_ITER, EM_TOL);
    if spec.regimes == 2 && m.vol[1] < m.vol[0] {
        // Identifiability: stress is the regime with the higher diffusion volatility.
        m = m.swapped();
    }
    let f = |t: &[f64]| loglik(&Msm::from_theta(spec, t), spec, inc);
    let done = finish(&f, m.theta(spec), NEWTON_STEPS);
    (Msm::from_theta(spec, &done.theta), done)
}

/// Assembles a `Fit` from a finished optimum: covariance of the reported values by the
/// delta method, or NaN standard errors and a warning when `-H` is not positive definite.
#[allow(clippy::too_many_arguments)]
pub(crate) fn assemble(
    model: Model,
    keys: &[&'static str],
    report: &dyn Fn(&[f64]) -> Vec<f64>,
    done: &super::hessian::Finished,
    n: usize,
    step_days: u32,
    pit: Vec<f64>,
    stress_prob: Option<Vec<f64>>,
    se_method: &'static str,
) -> Fit {
    let values = report(&done.theta);
    let k = values.len();
    let (cov, warning) = match &done.cov {
        Some(c) => (delta_method(report, &done.theta, c), None),
        None => (
            vec![f64::NAN; k * k],
            Some(
                "the log-likelihood's Hessian is not negative definite at the optimum found \
                 (a parameter is not identified by these data, e.g. jumps or a second regime \
                 that the data do not show); the standard errors are not reported"
                    .to_string(),
            ),
        ),
    };
    let warning = warning.or_else(|| {
        (!done.converged).then(|| {
            "the optimiser stopped before its convergence criterion (Newton decrement below \
             1e-5) was met; the estimates may not be the maximum"
                .to_string()
        })
    });
    let params = params_of(keys, &values, &cov);
    Fit {
        model,
        params,
        cov,
        se_method,
        loglik: done.loglik,
        n,
        step_days,
        converged: done.converged,
        pit,
        stress_prob,
        warning,
    }
}

pub const SE_METHOD: &str =
    "inverse observed information: central-difference Hessian of the exact \
     mixture log-likelihood on the log scale of positive parameters, delta method to the \
     reported ones";

pub fn fit(inc: &Increments, opts: &FitOptions) -> Fit {
    let base = base_start(inc);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6a75_6d70);
    let mut starts = vec![base];
    let extra = opts.starts.clamp(1, 8).div_ceil(2);
    for _ in 1..extra {
        starts.push(perturb(&base, &mut rng, 0.5));
    }
    let (m, done) = best_of(&starts, SPEC, inc);
    let (_, pit) = diagnostics(&m, SPEC, inc);
    let report = |t: &[f64]| {
        let m = Msm::from_theta(SPEC, t);
        vec![m.drift[0], m.vol[0], m.rate[0], m.jump_mean, m.jump_stdev]
    };
    let model = Model::Jump {
        drift: m.drift[0],
        volatility: m.vol[0],
        jump_rate: m.rate[0],
        jump_mean: m.jump_mean,
        jump_stdev: m.jump_stdev,
    };
    assemble(
        model,
        &KEYS,
        &report,
        &done,
        inc.len(),
        opts.step_days,
        pit,
        None,
        SE_METHOD,
    )
}

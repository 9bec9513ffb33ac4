//! Two-regime Markov-switching jump-diffusion (`docs/MODEL.md` section 1): calm
//! (`market.drift`, `market.volatility`, `market.jumps.rate`) and stress
//! (`market.regimes.stress.{drift, volatility, jump_rate}`), one jump size law
//! (`market.jumps.{mean, stdev}`) for both, daily switching. Fitted by EM (Hamilton filter,
//! Kim smoother, closed-form M-steps: `switching`) from several starting points, the best
//! finished by Newton steps on the full filter likelihood, whose observed information gives
//! the standard errors. The regime with the higher diffusion volatility is labelled stress.
//!
//! The switch probabilities are reported per step of `FitOptions::step_days` days: the
//! off-diagonals of the daily matrix to that power, with their SEs by the delta method.
//!
//! `Variant::NoJumps` is the special case without jumps (6 parameters). It is the one
//! `fit(ModelKind::Regime, ..)` uses (`CHOSEN`): on TAO, RNDR and HNT the jumps inside both
//! regimes are not identified (docs/CALIBRATION.md has the numbers); applied, it sets both
//! regimes' jump rates to 0.

use super::jump::{assemble, best_of, perturb};
use super::switching::{diagnostics, Msm, Spec};
use super::{Fit, FitOptions, Model};
use crate::calibrate::series::Increments;
use rand::SeedableRng;

/// With or without jumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Jumps,
    NoJumps,
}

impl Variant {
    pub fn spec(self) -> Spec {
        Spec {
            regimes: 2,
            jumps: self == Variant::Jumps,
        }
    }

    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Variant::Jumps => &[
                "market.drift",
                "market.volatility",
                "market.jumps.rate",
                "market.regimes.stress.drift",
                "market.regimes.stress.volatility",
                "market.regimes.stress.jump_rate",
                "market.jumps.mean",
                "market.jumps.stdev",
                "market.regimes.calm_to_stress",
                "market.regimes.stress_to_calm",
            ],
            Variant::NoJumps => &[
                "market.drift",
                "market.volatility",
                "market.regimes.stress.drift",
                "market.regimes.stress.volatility",
                "market.regimes.calm_to_stress",
                "market.regimes.stress_to_calm",
            ],
        }
    }
}

/// The reported values (per-step switch probabilities) of a daily-parameter point.
pub fn report(m: &Msm, variant: Variant, step_days: u32) -> Vec<f64> {
    let (cs, sc) = m.switch(step_days);
    match variant {
        Variant::Jumps => vec![
            m.drift[0],
            m.vol[0],
            m.rate[0],
            m.drift[1],
            m.vol[1],
            m.rate[1],
            m.jump_mean,
            m.jump_stdev,
            cs,
            sc,
        ],
        Variant::NoJumps => vec![m.drift[0], m.vol[0], m.drift[1], m.vol[1], cs, sc],
    }
}

fn quantile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Starting points: calm and stress volatilities from quantiles of a 30-increment rolling
/// volatility (25%/85%, then 10%/70% and 40%/95%), then seeded perturbations of the first.
pub fn starts(inc: &Increments, variant: Variant, count: usize) -> Vec<Msm> {
    let w = 30.min(inc.len());
    let mut roll: Vec<f64> = (0..=inc.len() - w)
        .map(|i| {
            let s2: f64 = inc.x[i..i + w].iter().map(|x| x * x).sum();
            let y: f64 = inc.dt[i..i + w].iter().sum();
            (s2 / y).sqrt()
        })
        .collect();
    let mu = inc.x.iter().sum::<f64>() / inc.years();
    let jumps = variant == Variant::Jumps;
    let make = |lo: f64, hi: f64, roll: &mut Vec<f64>| {
        let c = quantile(roll, lo).max(1e-3);
        let s = quantile(roll, hi).max(1.5 * c);
        Msm {
            drift: [mu + 0.5 * c * c, mu + 0.5 * s * s],
            vol: [c, s],
            rate: if jumps { [2.0, 10.0] } else { [0.0; 2] },
            jump_mean: 0.0,
            jump_stdev: 4.0 * s / 365f64.sqrt(),
            p: 1.0 / 60.0,
            q: 1.0 / 20.0,
        }
    };
    let mut out = vec![make(0.25, 0.85, &mut roll)];
    for (lo, hi) in [(0.1, 0.7), (0.4, 0.95)] {
        if out.len() < count {
            out.push(make(lo, hi, &mut roll));
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x7265_6769);
    while out.len() < count {
        let p = perturb(&out[0], &mut rng, 0.4);
        out.push(p);
    }
    out
}

pub const SE_METHOD: &str = "inverse observed information: central-difference Hessian of the full \
     Hamilton-filter log-likelihood on the log/logit scale, delta method to the reported \
     (per-step) parameters";

pub fn fit(inc: &Increments, opts: &FitOptions, variant: Variant) -> Fit {
    let spec = variant.spec();
    let starts = starts(inc, variant, opts.starts.max(1));
    let (m, done) = best_of(&starts, spec, inc);
    let (stress, pit) = diagnostics(&m, spec, inc);
    let step = opts.step_days;
    let rep = |t: &[f64]| report(&Msm::from_theta(spec, t), variant, step);
    let (cs, sc) = m.switch(step);
    // Without jumps the jump size is meaningless: report it as none rather than EM's filler.
    let (jump_mean, jump_stdev) = match variant {
        Variant::Jumps => (m.jump_mean, m.jump_stdev),
        Variant::NoJumps => (0.0, 0.0),
    };
    let model = Model::Regime {
        drift: m.drift[0],
        volatility: m.vol[0],
        jump_rate: m.rate[0],
        stress_drift: m.drift[1],
        stress_volatility: m.vol[1],
        stress_jump_rate: m.rate[1],
        jump_mean,
        jump_stdev,
        calm_to_stress: cs,
        stress_to_calm: sc,
        step_days: step,
        jumps: variant == Variant::Jumps,
    };
    assemble(
        model,
        variant.keys(),
        &rep,
        &done,
        inc.len(),
        step,
        pit,
        Some(stress),
        SE_METHOD,
    )
}

/// The variant `fit(ModelKind::Regime, ..)` uses (docs/CALIBRATION.md says why).
pub const CHOSEN: Variant = Variant::NoJumps;

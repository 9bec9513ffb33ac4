//! Maximum-likelihood fits of the market's processes to log-increments, with standard
//! errors, in the units and meaning of `docs/MODEL.md`'s scenario keys (annual rates,
//! `market.drift` the arithmetic drift `mu` of `(mu - sigma^2 / 2) dt`, per-step switch
//! probabilities for the scenario's `step_days`).
//!
//! A `Fit` is the common result every model returns, so selection, the fragment writer,
//! the tables and the diagnostics page handle all models alike: the fitted `Model` (enough
//! to evaluate its density and distribution function), the estimates with their standard
//! errors and covariance, the log-likelihood, and per increment the probability integral
//! transform (for residuals) and, for regime models, the smoothed stress probability.

pub mod cost;
pub mod gbm;
pub mod hessian;
pub mod jump;
pub mod merton;
pub mod optim;
pub mod regime;
pub mod select;
pub mod switching;

pub use cost::fit_cost;
pub use select::{choose, select};

use super::series::Increments;
use crate::scenario::Scenario;
use crate::scenario::{Regimes, StressRegime};
use anyhow::{bail, Result};

/// The models `calibrate --model` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// Geometric Brownian motion: `market.drift`, `market.volatility`.
    Gbm,
    /// Merton jump-diffusion: GBM plus compound-Poisson normal log jumps.
    Jump,
    /// Two-regime Markov switching of drift and volatility, without jumps (`regime::CHOSEN`;
    /// `docs/CALIBRATION.md` says why this is the default).
    Regime,
    /// The same with a jump rate in each regime and shared jump sizes (10 parameters,
    /// `regime::Variant::Jumps`); by name only, since on the real histories the jumps inside
    /// the regimes were not identified.
    RegimeJumps,
    /// Demand (revenue) as GBM: `demand.growth`, `demand.volatility`.
    Demand,
    /// The log GPU cost as an Ornstein-Uhlenbeck process around a deflating level:
    /// `compute.cost_reversion`, `compute.cost_volatility`, `compute.cost_deflation`.
    CostOu,
}

impl ModelKind {
    /// The price models `--model` chooses among (`auto` compares all three).
    pub const MARKET: [ModelKind; 3] = [ModelKind::Gbm, ModelKind::Jump, ModelKind::Regime];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Gbm => "gbm",
            ModelKind::Jump => "jump",
            ModelKind::Regime => "regime",
            ModelKind::RegimeJumps => "regime-jumps",
            ModelKind::Demand => "demand-gbm",
            ModelKind::CostOu => "cost-ou",
        }
    }

    /// Every price model `--model` can name: `MARKET` and `regime-jumps`.
    pub const NAMED: [ModelKind; 4] = [
        ModelKind::Gbm,
        ModelKind::Jump,
        ModelKind::Regime,
        ModelKind::RegimeJumps,
    ];

    /// A price model by its `--model` name.
    pub fn from_name(s: &str) -> Option<ModelKind> {
        ModelKind::NAMED.into_iter().find(|k| k.name() == s)
    }
}

/// A fitted model's parameters in scenario units (annual rates; log-jump sizes).
#[derive(Clone, Debug, PartialEq)]
pub enum Model {
    Gbm {
        drift: f64,
        volatility: f64,
    },
    Demand {
        growth: f64,
        volatility: f64,
    },
    /// Merton jump-diffusion (`market.drift`, `market.volatility`, `market.jumps.*`).
    Jump {
        drift: f64,
        volatility: f64,
        jump_rate: f64,
        jump_mean: f64,
        jump_stdev: f64,
    },
    /// Two regimes: calm (`market.drift`, `.volatility`, `.jumps.rate`), stress
    /// (`market.regimes.stress.*`), shared jump sizes, switch probabilities per step of
    /// `step_days` days.
    Regime {
        drift: f64,
        volatility: f64,
        jump_rate: f64,
        stress_drift: f64,
        stress_volatility: f64,
        stress_jump_rate: f64,
        jump_mean: f64,
        jump_stdev: f64,
        calm_to_stress: f64,
        stress_to_calm: f64,
        step_days: u32,
        /// Whether the jump rates and sizes were estimated (`regime-jumps`) or fixed at 0.
        jumps: bool,
    },
    /// The log GPU cost's OU (`compute.cost_*`, `compute.cost_per_unit_day`).
    CostOu {
        reversion: f64,
        volatility: f64,
        deflation: f64,
        cost_per_unit_day: f64,
    },
}

impl Model {
    pub fn kind(&self) -> ModelKind {
        match self {
            Model::Gbm { .. } => ModelKind::Gbm,
            Model::Demand { .. } => ModelKind::Demand,
            Model::Jump { .. } => ModelKind::Jump,
            Model::Regime { jumps: false, .. } => ModelKind::Regime,
            Model::Regime { jumps: true, .. } => ModelKind::RegimeJumps,
            Model::CostOu { .. } => ModelKind::CostOu,
        }
    }

    /// Sets the scenario's fields this model estimates, and the ones it implies: a GBM fit
    /// has no jumps and no regimes, so `market.jumps.rate` becomes 0 and `[market.regimes]`
    /// is removed; a jump fit removes the regimes; a regime fit sets every `[market]` field
    /// above and `[market.regimes]`; a cost fit sets the four `compute.cost_*` fields it
    /// estimates. Fields the model does not describe are left as they are.
    pub fn apply(&self, s: &mut Scenario) {
        match *self {
            Model::Gbm { drift, volatility } => {
                s.market.drift = drift;
                s.market.volatility = volatility;
                s.market.jumps.rate = 0.0;
                s.market.regimes = None;
            }
            Model::Demand { growth, volatility } => {
                s.demand.growth = growth;
                s.demand.volatility = volatility;
            }
            Model::Jump {
                drift,
                volatility,
                jump_rate,
                jump_mean,
                jump_stdev,
            } => {
                s.market.drift = drift;
                s.market.volatility = volatility;
                s.market.jumps.rate = jump_rate;
                s.market.jumps.mean = jump_mean;
                s.market.jumps.stdev = jump_stdev;
                s.market.regimes = None;
            }
            Model::Regime {
                drift,
                volatility,
                jump_rate,
                stress_drift,
                stress_volatility,
                stress_jump_rate,
                jump_mean,
                jump_stdev,
                calm_to_stress,
                stress_to_calm,
                step_days: _,
                jumps: _,
            } => {
                s.market.drift = drift;
                s.market.volatility = volatility;
                s.market.jumps.rate = jump_rate;
                s.market.jumps.mean = jump_mean;
                s.market.jumps.stdev = jump_stdev;
                s.market.regimes = Some(Regimes {
                    calm_to_stress,
                    stress_to_calm,
                    stress: StressRegime {
                        drift: stress_drift,
                        volatility: stress_volatility,
                        jump_rate: stress_jump_rate,
                    },
                });
            }
            Model::CostOu {
                reversion,
                volatility,
                deflation,
                cost_per_unit_day,
            } => {
                s.compute.cost_reversion = reversion;
                s.compute.cost_volatility = volatility;
                s.compute.cost_deflation = deflation;
                s.compute.cost_per_unit_day = cost_per_unit_day;
            }
        }
    }

    /// Density of one log-increment over `dt` years, from the stationary regime mix for
    /// regime models (the regime persistence does not enter one increment's marginal law).
    /// NaN for the cost model, whose increments' law depends on the level (its `Fit::pit`
    /// is the one-step predictive CDF).
    pub fn density(&self, x: f64, dt: f64) -> f64 {
        match *self {
            Model::Gbm { drift, volatility }
            | Model::Demand {
                growth: drift,
                volatility,
            } => {
                let (m, s) = gbm::moments(drift, volatility, dt);
                normal_pdf((x - m) / s) / s
            }
            Model::Jump {
                drift,
                volatility,
                jump_rate,
                jump_mean,
                jump_stdev,
            } => merton::Merton {
                drift,
                volatility,
                rate: jump_rate,
                jump_mean,
                jump_stdev,
            }
            .density(x, dt),
            Model::Regime {
                drift,
                volatility,
                jump_rate,
                stress_drift,
                stress_volatility,
                stress_jump_rate,
                jump_mean,
                jump_stdev,
                calm_to_stress,
                stress_to_calm,
                ..
            } => {
                let calm = merton::Merton {
                    drift,
                    volatility,
                    rate: jump_rate,
                    jump_mean,
                    jump_stdev,
                };
                let stress = merton::Merton {
                    drift: stress_drift,
                    volatility: stress_volatility,
                    rate: stress_jump_rate,
                    ..calm
                };
                let tot = calm_to_stress + stress_to_calm;
                let ps = if tot > 0.0 { calm_to_stress / tot } else { 0.0 };
                (1.0 - ps) * calm.density(x, dt) + ps * stress.density(x, dt)
            }
            Model::CostOu { .. } => f64::NAN,
        }
    }
}

/// One estimated parameter: the scenario key it sets, its estimate and standard error.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The dotted scenario key, as validation messages spell it (`market.volatility`).
    pub key: &'static str,
    pub value: f64,
    pub se: f64,
}

/// The scale a parameter's Wald interval is built on, so the interval stays inside the
/// parameter's range: a volatility or a rate is positive, a switch probability lies in (0, 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log,
    Logit,
}

impl Scale {
    /// The scale of a scenario key's parameter, from what the key means (`docs/MODEL.md`).
    pub fn of(key: &str) -> Scale {
        let leaf = key.rsplit('.').next().unwrap_or(key);
        match leaf {
            "calm_to_stress" | "stress_to_calm" => Scale::Logit,
            "volatility" | "rate" | "jump_rate" | "stdev" | "cost_volatility"
            | "cost_reversion" | "cost_per_unit_day" => Scale::Log,
            _ => Scale::Linear,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Scale::Linear => "estimate +- 1.96 SE",
            Scale::Log => "on the log scale: estimate * exp(+-1.96 SE / estimate)",
            Scale::Logit => "on the logit scale: logit(p) +- 1.96 SE / (p (1 - p))",
        }
    }
}

/// How the intervals are built, in one sentence for comments and pages.
pub const INTERVAL_RULE: &str =
    "Wald 95% intervals from the SE (delta method): estimate +- 1.96 SE \
    for drifts and jump means; on the log scale for volatilities, rates and jump sizes, and on the \
    logit scale for switch probabilities, so each interval stays inside its parameter's range";

impl Param {
    /// The Wald 95% interval on the parameter's `Scale` (the delta method maps the SE
    /// there and the interval back), so a positive parameter never gets a negative bound.
    pub fn interval(&self) -> (f64, f64) {
        let (v, se) = (self.value, self.se);
        match Scale::of(self.key) {
            Scale::Log if v > 0.0 => {
                let s = se / v;
                (v * (-Z95 * s).exp(), v * (Z95 * s).exp())
            }
            Scale::Logit if v > 0.0 && v < 1.0 => {
                let l = (v / (1.0 - v)).ln();
                let s = se / (v * (1.0 - v));
                let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
                (sig(l - Z95 * s), sig(l + Z95 * s))
            }
            _ => (v - Z95 * se, v + Z95 * se),
        }
    }
}

/// The 97.5% standard normal quantile.
pub const Z95: f64 = 1.959_963_984_540_054;

/// What every model's fit returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    pub model: Model,
    /// The estimates, in the order the fragment writes them.
    pub params: Vec<Param>,
    /// Covariance of the estimates, `params.len()` squared, row-major.
    pub cov: Vec<f64>,
    /// How the standard errors were obtained, for the fragment's comments and the page.
    pub se_method: &'static str,
    pub loglik: f64,
    /// Number of increments fitted.
    pub n: usize,
    /// The step length the per-step switch probabilities are for.
    pub step_days: u32,
    /// Whether the optimiser met its convergence criterion.
    pub converged: bool,
    /// Per increment, the fitted distribution function at the observed value (given the
    /// past for regime models): uniform when the model is right.
    pub pit: Vec<f64>,
    /// Per increment, the smoothed probability of the stress regime (regime models only).
    pub stress_prob: Option<Vec<f64>>,
    /// Why the fit is not to be trusted as it stands, when it is not: the Hessian was not
    /// negative definite (the standard errors are then NaN, never a wrong number) or the
    /// optimiser stopped short. `None` for a clean fit.
    pub warning: Option<String>,
}

impl Fit {
    /// Number of free parameters.
    pub fn k(&self) -> usize {
        self.params.len()
    }

    pub fn aic(&self) -> f64 {
        2.0 * self.k() as f64 - 2.0 * self.loglik
    }

    pub fn bic(&self) -> f64 {
        (self.n as f64).ln() * self.k() as f64 - 2.0 * self.loglik
    }

    pub fn get(&self, key: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.key == key)
    }

    /// Standardized residuals `Phi^-1(pit)`: standard normal when the model is right.
    pub fn std_residuals(&self) -> Vec<f64> {
        self.pit
            .iter()
            .map(|&u| normal_quantile(u.clamp(1e-15, 1.0 - 1e-15)))
            .collect()
    }
}

/// Choices for the fits.
#[derive(Clone, Copy, Debug)]
pub struct FitOptions {
    /// The scenario's step length: switch probabilities are per step of this many days.
    pub step_days: u32,
    /// Starting points for fits that can stop at a local optimum (the regime model).
    pub starts: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            step_days: 1,
            starts: 8,
        }
    }
}

/// Fewest increments any fit accepts.
pub const MIN_INCREMENTS: usize = 30;

/// Fits one model.
pub fn fit(kind: ModelKind, inc: &Increments, opts: &FitOptions) -> Result<Fit> {
    if inc.len() < MIN_INCREMENTS {
        bail!(
            "{} increments are too few to fit the {} model; at least {MIN_INCREMENTS} are needed",
            inc.len(),
            kind.name()
        );
    }
    match kind {
        ModelKind::Gbm => Ok(gbm::fit(inc, opts.step_days)),
        ModelKind::Demand => Ok(gbm::fit_demand(inc, opts.step_days)),
        ModelKind::Jump => Ok(jump::fit(inc, opts)),
        ModelKind::Regime => Ok(regime::fit(inc, opts, regime::CHOSEN)),
        ModelKind::RegimeJumps => Ok(regime::fit(inc, opts, regime::Variant::Jumps)),
        ModelKind::CostOu => bail!(
            "the cost-ou model is fitted to the levels of a cost series, not to increments: \
             use calibrate::fit::fit_cost(&series, &opts)"
        ),
    }
}

/// A likelihood-ratio test of a nested model against a larger one.
#[derive(Clone, Debug, PartialEq)]
pub struct LrTest {
    pub null: ModelKind,
    pub alternative: ModelKind,
    /// `2 (loglik_alt - loglik_null)`.
    pub statistic: f64,
    pub df: usize,
    /// Approximate p-value (chi-squared with `df`; see `reason` for where that is loose).
    pub p_value: f64,
}

/// The fits `--model auto` compared, the one chosen, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    pub fits: Vec<Fit>,
    pub chosen: usize,
    pub lr_tests: Vec<LrTest>,
    /// One or two sentences a user reads: which model, by what criterion, against what.
    pub reason: String,
}

impl Selection {
    pub fn chosen(&self) -> &Fit {
        &self.fits[self.chosen]
    }
}

/// The standard error from a variance: NaN when the variance is NaN (no information) and
/// 0 for a rounding-level negative one.
pub(crate) fn se_of(var: f64) -> f64 {
    if var.is_nan() {
        f64::NAN
    } else {
        var.max(0.0).sqrt()
    }
}

/// The estimates as `Param`s: `keys[i]` with `values[i]` and the SE from the diagonal of
/// `cov` (`keys.len()` squared, row-major). A NaN variance stays a NaN SE.
pub(crate) fn params_of(keys: &[&'static str], values: &[f64], cov: &[f64]) -> Vec<Param> {
    let k = keys.len();
    keys.iter()
        .zip(values)
        .enumerate()
        .map(|(i, (key, v))| Param {
            key,
            value: *v,
            se: se_of(cov[i * k + i]),
        })
        .collect()
}

pub(crate) fn normal_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

pub(crate) fn normal_cdf(z: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(-z / std::f64::consts::SQRT_2)
}

pub(crate) fn normal_quantile(p: f64) -> f64 {
    -std::f64::consts::SQRT_2 * statrs::function::erf::erfc_inv(2.0 * p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gbm_fit_applied_to_a_preset_removes_jumps_and_regimes() {
        let mut s = crate::scenario::resolve("bittensor_halving").unwrap();
        assert!(s.market.regimes.is_some() && s.market.jumps.rate > 0.0);
        Model::Gbm {
            drift: 0.2,
            volatility: 0.7,
        }
        .apply(&mut s);
        assert_eq!((s.market.drift, s.market.volatility), (0.2, 0.7));
        assert!(s.market.regimes.is_none() && s.market.jumps.rate == 0.0);
        assert!(crate::scenario::validate(&s).is_empty());
    }

    #[test]
    fn intervals_stay_inside_each_parameters_range() {
        let p = |key, value, se| Param { key, value, se };
        let (lo, hi) = p("market.jumps.rate", 339.3, 297.6).interval();
        assert!(
            lo > 0.0 && hi > 339.3 && (lo * hi).sqrt() - 339.3 < 1e-9,
            "{lo} {hi}"
        );
        let (lo, hi) = p("market.regimes.calm_to_stress", 0.02, 0.015).interval();
        assert!(lo > 0.0 && hi < 1.0 && lo < 0.02 && hi > 0.02, "{lo} {hi}");
        assert_eq!(
            p("market.drift", 0.5, 1.0).interval(),
            (0.5 - Z95, 0.5 + Z95)
        );
        // A small SE gives the linear interval to first order on every scale.
        let (lo, hi) = p("market.volatility", 0.8, 0.001).interval();
        assert!((lo - (0.8 - Z95 * 0.001)).abs() < 1e-5 && (hi - (0.8 + Z95 * 0.001)).abs() < 1e-5);
    }
}

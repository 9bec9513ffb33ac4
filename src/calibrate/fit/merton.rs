//! The Merton jump-diffusion law of one log-increment, as `docs/MODEL.md` section 9 draws
//! it: `N ~ Poisson(rate dt)`, `x | N ~ N((mu - sigma^2 / 2) dt + N m, sigma^2 dt + N v^2)`,
//! the drift NOT jump-compensated (the model adds jumps on top of the diffusion's drift).
//!
//! The density is the Poisson mixture summed over `N = 0..=K`, where `K` is the first count
//! at or above the mean `rate dt` whose upper tail `P(N > K)` is below `TAIL` (1e-12), and at
//! most `MAX_COUNT`; the dropped mass is therefore below 1e-12 of the density's total. The
//! components are exposed because the EM of `switching` weighs each one.

use super::{normal_cdf, normal_pdf};

/// Upper Poisson tail left out of the mixture.
pub const TAIL: f64 = 1e-12;
/// Most jump counts summed for one increment (reached only for `rate dt` above ~150).
pub const MAX_COUNT: usize = 200;

/// Diffusion and jump parameters of one regime, in scenario units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Merton {
    pub drift: f64,
    pub volatility: f64,
    pub rate: f64,
    pub jump_mean: f64,
    pub jump_stdev: f64,
}

/// One mixture component: `count` jumps, its log weight `ln P(N = count)`, mean, variance.
#[derive(Clone, Copy, Debug)]
pub struct Component {
    pub count: u32,
    pub ln_weight: f64,
    pub mean: f64,
    pub var: f64,
}

impl Merton {
    /// The mixture's components for an increment of `dt` years (appended to `out`).
    pub fn components(&self, dt: f64, out: &mut Vec<Component>) {
        let lam = self.rate * dt;
        let base = (self.drift - 0.5 * self.volatility * self.volatility) * dt;
        let var0 = self.volatility * self.volatility * dt;
        let v2 = self.jump_stdev * self.jump_stdev;
        let ln_lam = lam.ln();
        let mut ln_p = -lam;
        let mut cum = 0.0;
        for k in 0..=MAX_COUNT {
            if k > 0 {
                ln_p += ln_lam - (k as f64).ln();
            }
            let kf = k as f64;
            out.push(Component {
                count: k as u32,
                ln_weight: ln_p,
                mean: base + kf * self.jump_mean,
                var: var0 + kf * v2,
            });
            cum += ln_p.exp();
            if kf >= lam && 1.0 - cum < TAIL || lam <= 0.0 {
                break;
            }
        }
    }

    /// Density of one increment `x` over `dt` years.
    pub fn density(&self, x: f64, dt: f64) -> f64 {
        let mut c = Vec::new();
        self.components(dt, &mut c);
        c.iter()
            .map(|c| {
                let s = c.var.sqrt();
                c.ln_weight.exp() * normal_pdf((x - c.mean) / s) / s
            })
            .sum()
    }

    /// Distribution function of one increment.
    pub fn cdf(&self, x: f64, dt: f64) -> f64 {
        let mut c = Vec::new();
        self.components(dt, &mut c);
        c.iter()
            .map(|c| c.ln_weight.exp() * normal_cdf((x - c.mean) / c.var.sqrt()))
            .sum::<f64>()
            .clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mixture_integrates_to_one_and_matches_its_moments() {
        let m = Merton {
            drift: 0.1,
            volatility: 0.6,
            rate: 40.0,
            jump_mean: -0.05,
            jump_stdev: 0.1,
        };
        let dt = 3.0 / 365.0;
        let (lo, hi, n) = (-2.0, 2.0, 40_000);
        let h = (hi - lo) / n as f64;
        let (mut mass, mut mean) = (0.0, 0.0);
        for i in 0..n {
            let x = lo + (i as f64 + 0.5) * h;
            let f = m.density(x, dt) * h;
            mass += f;
            mean += x * f;
        }
        assert!((mass - 1.0).abs() < 1e-9, "{mass}");
        let want = (0.1 - 0.18) * dt + 40.0 * dt * -0.05;
        assert!((mean - want).abs() < 1e-9, "{mean} {want}");
        assert!((m.cdf(0.0, dt) - m.cdf(-0.0, dt)).abs() < 1e-15);
    }
}

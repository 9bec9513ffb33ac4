//! The likelihood engine shared by the jump-diffusion (one regime) and the regime-switching
//! model (two): the Hamilton filter, the Kim smoother and EM.
//!
//! Regimes switch once per observation day with the daily matrix `[[1-p, p], [q, 1-q]]`
//! (calm = 0, stress = 1); an increment over a gap of `g` days uses `P^g`, and its whole
//! increment is drawn in the regime it ends in (the model's step also draws its regime
//! first and keeps it for the step). For two states `P^g` is closed form: with
//! `e = (1-p-q)^g`, `P^g(calm->stress) = pi_s (1-e)` and `P^g(stress->calm) = pi_c (1-e)`.
//!
//! EM augments the data with the regime, the jump count and the split of the increment into
//! its diffusion and jump parts; given those every M-step is closed form (weighted means and
//! variances, Poisson rate over exposure, transition counts), so one iteration costs one
//! pass of the filter and smoother. Transitions are re-estimated from the one-day pairs only
//! (a gap's `g`-step pair has no closed form); the guarded Newton steps on the full filter
//! likelihood that follow EM (`hessian::finish`) remove what that approximation leaves.

use super::hessian::{logistic, logit};
use super::merton::{Component, Merton};
use crate::calibrate::series::Increments;

/// Which parameters are free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// 1 (jump-diffusion) or 2 (calm and stress).
    pub regimes: usize,
    pub jumps: bool,
}

/// Parameters of the switching Merton model, scenario units; `p`, `q` daily.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Msm {
    pub drift: [f64; 2],
    pub vol: [f64; 2],
    pub rate: [f64; 2],
    pub jump_mean: f64,
    pub jump_stdev: f64,
    pub p: f64,
    pub q: f64,
}

/// Floors that keep EM away from the degenerate edges of the space (a regime collapsing on
/// one point, rates and probabilities at exactly 0, where the log scale is undefined).
const MIN_VOL: f64 = 1e-4;
const MIN_RATE: f64 = 1e-6;
const MIN_STDEV: f64 = 1e-5;
const MIN_PROB: f64 = 1e-7;

impl Msm {
    pub fn regime(&self, r: usize) -> Merton {
        Merton {
            drift: self.drift[r],
            volatility: self.vol[r],
            rate: self.rate[r],
            jump_mean: self.jump_mean,
            jump_stdev: self.jump_stdev,
        }
    }

    /// Stationary probability of stress.
    pub fn pi_stress(&self) -> f64 {
        self.p / (self.p + self.q)
    }

    /// `P^g(calm->stress)`, `P^g(stress->calm)`.
    pub fn switch(&self, g: u32) -> (f64, f64) {
        let e = (1.0 - self.p - self.q).powi(g as i32);
        let ps = self.pi_stress();
        (ps * (1.0 - e), (1.0 - ps) * (1.0 - e))
    }

    /// The unconstrained parameters (`hessian`'s scale).
    pub fn theta(&self, spec: Spec) -> Vec<f64> {
        let mut t = Vec::new();
        for r in 0..spec.regimes {
            t.push(self.drift[r]);
            t.push(self.vol[r].ln());
            if spec.jumps {
                t.push(self.rate[r].ln());
            }
        }
        if spec.jumps {
            t.push(self.jump_mean);
            t.push(self.jump_stdev.ln());
        }
        if spec.regimes == 2 {
            t.push(logit(self.p));
            t.push(logit(self.q));
        }
        t
    }

    pub fn from_theta(spec: Spec, t: &[f64]) -> Msm {
        let mut m = Msm {
            drift: [0.0; 2],
            vol: [1.0; 2],
            rate: [0.0; 2],
            jump_mean: 0.0,
            jump_stdev: 1.0,
            p: 0.0,
            q: 1.0,
        };
        let mut i = 0;
        let mut next = || {
            i += 1;
            t[i - 1]
        };
        for r in 0..spec.regimes {
            m.drift[r] = next();
            m.vol[r] = next().exp();
            if spec.jumps {
                m.rate[r] = next().exp();
            }
        }
        if spec.jumps {
            m.jump_mean = next();
            m.jump_stdev = next().exp();
        }
        if spec.regimes == 2 {
            m.p = logistic(next());
            m.q = logistic(next());
        } else {
            m.drift[1] = m.drift[0];
            m.vol[1] = m.vol[0];
            m.rate[1] = m.rate[0];
        }
        m
    }

    fn clamp(&mut self, spec: Spec) {
        for r in 0..2 {
            self.vol[r] = self.vol[r].max(MIN_VOL);
            self.rate[r] = if spec.jumps {
                self.rate[r].max(MIN_RATE)
            } else {
                0.0
            };
        }
        self.jump_stdev = self.jump_stdev.max(MIN_STDEV);
        if spec.regimes == 2 {
            self.p = self.p.clamp(MIN_PROB, 1.0 - MIN_PROB);
            self.q = self.q.clamp(MIN_PROB, 1.0 - MIN_PROB);
        }
    }

    /// Swaps calm and stress (so that stress is the higher-volatility regime).
    pub fn swapped(&self) -> Msm {
        Msm {
            drift: [self.drift[1], self.drift[0]],
            vol: [self.vol[1], self.vol[0]],
            rate: [self.rate[1], self.rate[0]],
            p: self.q,
            q: self.p,
            ..*self
        }
    }
}

/// One mixture component of a regime for one gap length, with what its log density needs
/// precomputed (daily data have one gap length, so the logs are taken once per iteration).
struct Tpl {
    count: u32,
    mean: f64,
    var: f64,
    half_inv_var: f64,
    /// `ln P(N = count) - ln(2 pi var) / 2`.
    ln_c: f64,
}

/// Per increment and regime, the log density and (for EM) each component's posterior
/// weight given the regime.
struct Densities {
    /// Components per (gap slot, regime): `tpls[slot * 2 + r]`.
    tpls: Vec<Vec<Tpl>>,
    /// Gap slot of each increment.
    slot: Vec<usize>,
    /// `w[start[t * 2 + r]..]`: weights of `tpls[slot[t] * 2 + r]`, when stored.
    start: Vec<usize>,
    w: Vec<f64>,
    lnf: Vec<f64>,
}

fn densities(m: &Msm, spec: Spec, inc: &Increments, store: bool) -> Densities {
    let regimes = spec.regimes;
    let n = inc.len();
    let mut d = Densities {
        tpls: Vec::new(),
        slot: Vec::with_capacity(n),
        start: Vec::with_capacity(if store { n * 2 + 1 } else { 0 }),
        w: Vec::with_capacity(if store { n * regimes * 3 } else { 0 }),
        lnf: vec![f64::NEG_INFINITY; n * 2],
    };
    let ms = [m.regime(0), m.regime(1)];
    let mut slots: Vec<(u32, usize)> = Vec::new();
    let mut buf = Vec::new();
    let mut e = Vec::new();
    for t in 0..n {
        let days = inc.days[t];
        let slot = match slots.iter().find(|s| s.0 == days) {
            Some(s) => s.1,
            None => {
                let k = slots.len();
                slots.push((days, k));
                for mr in &ms {
                    buf.clear();
                    mr.components(inc.dt[t], &mut buf);
                    d.tpls.push(
                        buf.iter()
                            .map(|c: &Component| Tpl {
                                count: c.count,
                                mean: c.mean,
                                var: c.var,
                                half_inv_var: 0.5 / c.var,
                                ln_c: c.ln_weight
                                    - 0.5 * (c.var.ln() + (2.0 * std::f64::consts::PI).ln()),
                            })
                            .collect(),
                    );
                }
                k
            }
        };
        d.slot.push(slot);
        let x = inc.x[t];
        for r in 0..2 {
            if store {
                d.start.push(d.w.len());
            }
            if r >= regimes {
                continue;
            }
            let tp = &d.tpls[slot * 2 + r];
            e.clear();
            let mut mx = f64::NEG_INFINITY;
            for c in tp {
                let dx = x - c.mean;
                let l = c.ln_c - dx * dx * c.half_inv_var;
                mx = mx.max(l);
                e.push(l);
            }
            let mut sum = 0.0;
            for v in e.iter_mut() {
                *v = (*v - mx).exp();
                sum += *v;
            }
            d.lnf[t * 2 + r] = mx + sum.ln();
            if store {
                d.w.extend(e.iter().map(|v| v / sum));
            }
        }
    }
    if store {
        d.start.push(d.w.len());
    }
    d
}

/// The filter's output: log-likelihood, and per increment the predicted and filtered
/// regime probabilities (`[calm, stress]`).
pub struct Filtered {
    pub loglik: f64,
    pub pred: Vec<[f64; 2]>,
    pub filt: Vec<[f64; 2]>,
}

fn filter_with(m: &Msm, spec: Spec, inc: &Increments, d: &Densities) -> Filtered {
    let n = inc.len();
    let mut out = Filtered {
        loglik: 0.0,
        pred: Vec::with_capacity(n),
        filt: Vec::with_capacity(n),
    };
    let mut prev = [1.0 - m.pi_stress(), m.pi_stress()];
    for t in 0..n {
        let pred = if spec.regimes == 1 {
            [1.0, 0.0]
        } else if t == 0 {
            prev
        } else {
            let (cs, sc) = m.switch(inc.days[t]);
            [
                prev[0] * (1.0 - cs) + prev[1] * sc,
                prev[0] * cs + prev[1] * (1.0 - sc),
            ]
        };
        let l0 = d.lnf[t * 2];
        let l1 = d.lnf[t * 2 + 1];
        let mx = l0.max(l1);
        let j = [pred[0] * (l0 - mx).exp(), pred[1] * (l1 - mx).exp()];
        let s = j[0] + j[1];
        out.loglik += mx + s.ln();
        let f = if s > 0.0 { [j[0] / s, j[1] / s] } else { pred };
        out.pred.push(pred);
        out.filt.push(f);
        prev = f;
    }
    out
}

/// The full (filter) log-likelihood.
pub fn loglik(m: &Msm, spec: Spec, inc: &Increments) -> f64 {
    let d = densities(m, spec, inc, false);
    let l = filter_with(m, spec, inc, &d).loglik;
    if l.is_finite() {
        l
    } else {
        f64::NEG_INFINITY
    }
}

/// Kim smoother: smoothed probabilities, and the expected one-day transition counts
/// `[calm->calm, calm->stress, stress->calm, stress->stress]` over the one-day pairs.
fn smooth(m: &Msm, inc: &Increments, f: &Filtered) -> (Vec<[f64; 2]>, [f64; 4]) {
    let n = inc.len();
    let mut sm = f.filt.clone();
    let mut counts = [0.0; 4];
    for t in (0..n.saturating_sub(1)).rev() {
        let (cs, sc) = m.switch(inc.days[t + 1]);
        let a = [[1.0 - cs, cs], [sc, 1.0 - sc]];
        let pr = f.pred[t + 1];
        let ratio = [
            if pr[0] > 0.0 {
                sm[t + 1][0] / pr[0]
            } else {
                0.0
            },
            if pr[1] > 0.0 {
                sm[t + 1][1] / pr[1]
            } else {
                0.0
            },
        ];
        let mut s = [0.0; 2];
        for (j, sj) in s.iter_mut().enumerate() {
            for r in 0..2 {
                let xi = f.filt[t][j] * a[j][r] * ratio[r];
                *sj += xi;
                if inc.days[t + 1] == 1 {
                    counts[j * 2 + r] += xi;
                }
            }
        }
        sm[t] = s;
    }
    (sm, counts)
}

/// Smoothed P(stress) per increment and the one-step-ahead predictive CDF (the PIT).
pub fn diagnostics(m: &Msm, spec: Spec, inc: &Increments) -> (Vec<f64>, Vec<f64>) {
    let d = densities(m, spec, inc, false);
    let f = filter_with(m, spec, inc, &d);
    let (sm, _) = smooth(m, inc, &f);
    let pit = (0..inc.len())
        .map(|t| {
            (0..spec.regimes)
                .map(|r| f.pred[t][r] * m.regime(r).cdf(inc.x[t], inc.dt[t]))
                .sum::<f64>()
                .clamp(0.0, 1.0)
        })
        .collect();
    (sm.iter().map(|s| s[1]).collect(), pit)
}

/// One EM iteration from `m`; returns the new parameters and the log-likelihood at `m`.
pub fn em_step(m: &Msm, spec: Spec, inc: &Increments) -> (Msm, f64) {
    let d = densities(m, spec, inc, true);
    let f = filter_with(m, spec, inc, &d);
    let (sm, counts) = if spec.regimes == 2 {
        smooth(m, inc, &f)
    } else {
        (vec![[1.0, 0.0]; inc.len()], [0.0; 4])
    };
    let mut next = *m;
    // Per regime: sum w, sum w dt, sum w E[D], sum w N; for the jumps sum w (N >= 1),
    // sum w E[J], sum w N (all counts).
    let mut sw = [0.0; 2];
    let mut swdt = [0.0; 2];
    let mut swd = [0.0; 2];
    let mut swn = [0.0; 2];
    let (mut jw, mut jj, mut jn) = (0.0, 0.0, 0.0);
    let alpha: [f64; 2] = [0, 1].map(|r| m.drift[r] - 0.5 * m.vol[r] * m.vol[r]);
    // Posterior mean and variance of the diffusion part D of x given regime r and count k:
    // D ~ N(alpha dt, s^2 dt), J ~ N(k m, k v^2), x = D + J.
    let post = |r: usize, t: usize, c: &Tpl| -> (f64, f64) {
        let dt = inc.dt[t];
        if c.count == 0 {
            return (inc.x[t], 0.0);
        }
        let s2dt = m.vol[r] * m.vol[r] * dt;
        let g = s2dt / c.var;
        (alpha[r] * dt + g * (inc.x[t] - c.mean), s2dt * (1.0 - g))
    };
    let comps = |t: usize, r: usize| {
        let tp = &d.tpls[d.slot[t] * 2 + r];
        let w = &d.w[d.start[t * 2 + r]..d.start[t * 2 + r + 1]];
        let wr = sm[t][r];
        tp.iter().zip(w).map(move |(c, w)| (c, wr * w))
    };
    for (t, smt) in sm.iter().enumerate() {
        for r in 0..spec.regimes {
            sw[r] += smt[r];
            swdt[r] += smt[r] * inc.dt[t];
            for (c, w) in comps(t, r) {
                let (ed, _) = post(r, t, c);
                swd[r] += w * ed;
                if c.count > 0 {
                    let k = c.count as f64;
                    swn[r] += w * k;
                    jw += w;
                    jj += w * (inc.x[t] - ed);
                    jn += w * k;
                }
            }
        }
    }
    let new_alpha: [f64; 2] = [0, 1].map(|r| {
        if swdt[r] > 0.0 {
            swd[r] / swdt[r]
        } else {
            alpha[r]
        }
    });
    let new_m = if jn > 0.0 { jj / jn } else { m.jump_mean };
    let mut sdd = [0.0; 2];
    let mut sjj = 0.0;
    for t in 0..inc.len() {
        let dt = inc.dt[t];
        for r in 0..spec.regimes {
            for (c, w) in comps(t, r) {
                let (ed, vd) = post(r, t, c);
                sdd[r] += w * ((ed - new_alpha[r] * dt).powi(2) + vd) / dt;
                if c.count > 0 {
                    let k = c.count as f64;
                    let ej = inc.x[t] - ed;
                    sjj += w * ((ej - k * new_m).powi(2) + vd) / k;
                }
            }
        }
    }
    for r in 0..spec.regimes {
        if sw[r] > 0.0 {
            let s2 = sdd[r] / sw[r];
            next.vol[r] = s2.sqrt();
            next.drift[r] = new_alpha[r] + 0.5 * s2;
            if spec.jumps {
                next.rate[r] = swn[r] / swdt[r];
            }
        }
    }
    if spec.jumps && jw > 0.0 {
        next.jump_mean = new_m;
        next.jump_stdev = (sjj / jw).sqrt();
    }
    if spec.regimes == 2 {
        let from_calm = counts[0] + counts[1];
        let from_stress = counts[2] + counts[3];
        if from_calm > 0.0 {
            next.p = counts[1] / from_calm;
        }
        if from_stress > 0.0 {
            next.q = counts[2] / from_stress;
        }
    } else {
        next.drift[1] = next.drift[0];
        next.vol[1] = next.vol[0];
        next.rate[1] = next.rate[0];
    }
    next.clamp(spec);
    (next, f.loglik)
}

/// EM from `m` until the log-likelihood gains less than `tol` in an iteration or after
/// `max_iter` iterations; returns the parameters and their log-likelihood.
pub fn em(m: Msm, spec: Spec, inc: &Increments, max_iter: usize, tol: f64) -> (Msm, f64) {
    let mut cur = m;
    cur.clamp(spec);
    let mut last = f64::NEG_INFINITY;
    for _ in 0..max_iter {
        let (next, ll) = em_step(&cur, spec, inc);
        if !ll.is_finite() {
            return (cur, ll);
        }
        if ll - last < tol && ll >= last {
            return (cur, ll);
        }
        last = ll;
        cur = next;
    }
    (cur, loglik(&cur, spec, inc))
}

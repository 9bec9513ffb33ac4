//! The step function of MODEL.md, written once. `shaders/simulate.wgsl` mirrors it line by
//! line with the same names and the same numbered sections, so read them side by side.
//!
//! State lives in a plain `Copy` struct the caller keeps in locals: no allocation per step.
//! Log-space state (ln F, ln D, ln C, ln K) is primary because every stochastic update is
//! additive in logs; levels are exponentiated once per step where flows need them.

use super::params::{burn_kind, emission_kind, Params, MAX_HALVINGS};
use crate::rng::{box_muller, draw_words, poisson_inversion, stream, uniform_open};

/// Metrics recorded at each report day, in the order of the timeseries `metric` column.
pub const METRICS: [&str; 12] = [
    "price",
    "market_cap",
    "circulating",
    "demand",
    "revenue",
    "capacity",
    "gpu_cost",
    "emission_usd",
    "er_ratio",
    "staked_fraction",
    "in_spiral",
    "ever_spiraled",
];
pub const N_METRICS: usize = METRICS.len();

/// Everything one path carries from step to step.
#[derive(Debug, Clone, Copy)]
pub struct PathState {
    /// Market regime: 0 calm, 1 stress.
    pub regime: u32,
    /// ln of the fundamental price level F.
    pub ln_fundamental: f64,
    /// Flow pressure X (transient log-price impact).
    pub flow_pressure: f64,
    /// ln P = ln F + X at the end of the last step.
    pub ln_price: f64,
    /// exp(ln_price), kept so the next step need not recompute it.
    pub price: f64,
    pub ln_demand: f64,
    pub ln_cost: f64,
    pub ln_capacity: f64,
    pub issued: f64,
    pub burned: f64,
    pub staked: f64,
    /// ln of served USD/day in the previous step (for revenue_beta).
    pub ln_served_prev: f64,

    pub running_max_price: f64,
    pub ema_ln_price: f64,
    pub ema_ln_capacity: f64,
    pub ema_ln_demand: f64,
    /// Consecutive days the joint spiral condition has held.
    pub spiral_run_days: f64,
    pub in_spiral: bool,
    pub ever_spiraled: bool,
    /// Day the path entered its first spiral; -1 if never.
    pub spiral_day: i32,

    // Observables of the last step.
    pub served_per_day: f64,
    pub emission_usd_per_day: f64,
    pub trailing_emission_usd: f64,
    pub trailing_revenue: f64,

    // Per-path summary trackers.
    pub min_price: f64,
    pub max_drawdown: f64,
    pub min_ln_capacity: f64,
    pub minted: f64,
    pub cum_emission_usd: f64,
    pub cum_revenue: f64,
    /// First day trailing revenue covered trailing emission USD; -1 if never.
    pub breakeven_day: i32,
}

impl PathState {
    pub fn initial(p: &Params) -> PathState {
        let circ = p.issued0 - p.burned0;
        let ln_demand = p.demand0.ln();
        let served = p.demand0.min(p.capacity0 * p.throughput);
        // Day-0 emission rate, so the trailing ratio and report row 0 are meaningful.
        let e0 = emission_tokens(p, p.issued0, circ, 0.0, locked_vesting(p, 0.0)) / p.step_days;
        let trailing_emission_usd = e0 * p.price0;
        let ln_price = p.price0.ln();
        PathState {
            regime: 0,
            ln_fundamental: ln_price,
            flow_pressure: 0.0,
            ln_price,
            price: p.price0,
            ln_demand,
            ln_cost: p.ln_cost0,
            ln_capacity: p.capacity0.ln(),
            issued: p.issued0,
            burned: p.burned0,
            staked: p.staked_fraction0 * circ,
            ln_served_prev: served.ln(),
            running_max_price: p.price0,
            ema_ln_price: ln_price,
            ema_ln_capacity: p.capacity0.ln(),
            ema_ln_demand: ln_demand,
            spiral_run_days: 0.0,
            in_spiral: false,
            ever_spiraled: false,
            spiral_day: -1,
            served_per_day: served,
            emission_usd_per_day: trailing_emission_usd,
            trailing_emission_usd,
            trailing_revenue: served,
            min_price: p.price0,
            max_drawdown: 0.0,
            min_ln_capacity: p.capacity0.ln(),
            minted: 0.0,
            cum_emission_usd: 0.0,
            cum_revenue: 0.0,
            breakeven_day: if served >= trailing_emission_usd {
                0
            } else {
                -1
            },
        }
    }

    pub fn price(&self) -> f64 {
        self.price
    }

    pub fn circulating(&self) -> f64 {
        self.issued - self.burned
    }

    /// Values of [`METRICS`] now.
    #[inline]
    pub fn observe(&self) -> [f64; N_METRICS] {
        let price = self.price();
        let circ = self.circulating();
        [
            price,
            price * circ,
            circ,
            self.ln_demand.exp(),
            self.served_per_day,
            self.ln_capacity.exp(),
            self.ln_cost.exp(),
            self.emission_usd_per_day,
            self.trailing_emission_usd / self.trailing_revenue,
            self.staked / circ,
            self.in_spiral as u32 as f64,
            self.ever_spiraled as u32 as f64,
        ]
    }
}

/// Era of `halving_by_supply`: the number of halvings that have happened once `issued`
/// tokens exist. Halving n happens when issued reaches max * (1 - 2^-n). Computed by
/// comparison rather than log2 so a step that lands exactly on a threshold is unambiguous.
#[inline]
fn supply_era(p: &Params, issued: f64) -> usize {
    let mut era = 0;
    while era < MAX_HALVINGS && issued >= p.supply_thresholds[era] {
        era += 1;
    }
    era
}

/// Tokens emitted in the step starting at `day0` (MODEL.md step 4), before the split.
/// Halvings inside a step are honoured exactly: the step is cut at the threshold (supply or
/// day) and each piece minted at its own rate, so weekly steps mint what daily ones do.
/// `reserved` is supply set aside under the cap for vesting not yet unlocked, so emission
/// plus later unlocks never push `issued` past `max_supply`.
#[inline]
pub fn emission_tokens(p: &Params, issued: f64, circulating: f64, day0: f64, reserved: f64) -> f64 {
    let e = match p.emission_kind {
        emission_kind::HALVING_BY_SUPPLY => {
            let first_era = supply_era(p, issued);
            let mut remaining_days = p.step_days;
            let mut at = issued;
            let mut minted = 0.0;
            // Bounded: a step crosses at most a few halvings.
            for era in first_era..(first_era + 8).min(MAX_HALVINGS) {
                if remaining_days <= 0.0 {
                    break;
                }
                let rate = p.per_day * (-(era as f64)).exp2();
                let next_threshold = p.supply_thresholds[era];
                let room = next_threshold - at;
                if rate * remaining_days <= room {
                    minted += rate * remaining_days;
                    break;
                }
                minted += room;
                remaining_days -= room / rate;
                at = next_threshold;
            }
            minted
        }
        emission_kind::HALVING_BY_TIME => {
            let mut day = day0;
            let end = day0 + p.step_days;
            let mut minted = 0.0;
            for _ in 0..8 {
                if day >= end {
                    break;
                }
                let era = (day / p.period_days).floor();
                let boundary = ((era + 1.0) * p.period_days).min(end);
                minted += p.per_day * (-era).exp2() * (boundary - day);
                day = boundary;
            }
            minted
        }
        emission_kind::SCHEDULE => {
            let year = (day0 / 365.0).floor() as u32;
            let amount = if year < p.n_years {
                p.yearly[year as usize]
            } else {
                p.yearly[p.n_years as usize - 1] * p.decay.powi((year - p.n_years + 1) as i32)
            };
            amount / 365.0 * p.step_days
        }
        emission_kind::INFLATION => p.annual_rate * circulating / 365.0 * p.step_days,
        _ => 0.0,
    };
    e.min(p.max_supply - issued - reserved).max(0.0)
}

/// Tokens of all vesting tranches still locked on `day`.
#[inline]
pub fn locked_vesting(p: &Params, day: f64) -> f64 {
    let mut locked = 0.0;
    for tr in &p.vesting[..p.n_vesting as usize] {
        locked += tr.amount - vested_by(tr.amount, tr.cliff_days, tr.linear_days, day);
    }
    locked
}

/// Tokens a vesting tranche has unlocked by `day`: linear over `linear_days` after the cliff.
#[inline]
pub fn vested_by(amount: f64, cliff_days: f64, linear_days: f64, day: f64) -> f64 {
    if day <= cliff_days {
        0.0
    } else if linear_days <= 0.0 {
        amount
    } else {
        amount * ((day - cliff_days) / linear_days).min(1.0)
    }
}

/// Advances one path by one step (MODEL.md "One step, in this order").
/// `step` is the 0-based step index; the step covers days [step * step_days, (step+1) * step_days).
#[inline]
pub fn step(p: &Params, s: &mut PathState, key: [u32; 2], path: u64, step: u32) {
    let day0 = step as f64 * p.step_days;
    let day1 = day0 + p.step_days;

    // Draws: one Philox call for the four normals, one for the four event uniforms.
    let market_words = draw_words(key, path, step, stream::MARKET_NORMALS);
    let (e1, e2) = box_muller(market_words[0], market_words[1]);
    let (e3, z_price_jump) = box_muller(market_words[2], market_words[3]);
    let event_words = draw_words(key, path, step, stream::EVENT_UNIFORMS);

    // 1. Regime.
    let u_regime = uniform_open(event_words[0]);
    if s.regime == 0 {
        if u_regime < p.p_calm_to_stress {
            s.regime = 1;
        }
    } else if u_regime < p.p_stress_to_calm {
        s.regime = 0;
    }
    let rg = &p.regime[s.regime as usize];

    // 2. Shocks whose day falls in this step. A price shock moves the fundamental level.
    let mut price = s.price;
    for sh in &p.shocks[..p.n_shocks as usize] {
        if sh.day >= day0 && sh.day < day1 {
            s.ln_fundamental += sh.ln_price;
            price = (s.ln_fundamental + s.flow_pressure).exp();
            s.ln_demand += sh.ln_demand;
            s.ln_cost += sh.ln_cost;
            s.ln_capacity =
                (s.ln_capacity + sh.ln_capacity).clamp(p.ln_capacity_floor, p.ln_capacity_cap);
        }
    }
    let demand = s.ln_demand.exp();
    let capacity = s.ln_capacity.exp();
    let cost = s.ln_cost.exp();

    // 3. Served demand. (ln served = min(ln D, ln K + ln throughput): no logarithm call.)
    let ln_served = s.ln_demand.min(s.ln_capacity + p.ln_throughput);
    let served_per_day = demand.min(capacity * p.throughput);
    let served_frac = served_per_day / demand;
    let served = served_per_day * p.step_days;

    // 4. Emission, split.
    let circulating0 = s.issued - s.burned;
    let emitted = emission_tokens(p, s.issued, circulating0, day0, locked_vesting(p, day0));
    let e_providers = emitted * p.split_providers;
    let e_stakers = emitted * p.split_stakers;
    let e_treasury = emitted * p.split_treasury;
    s.issued += emitted;
    s.minted += emitted;

    // 5. Vesting unlocks (issued when unlocked); a share of each tranche is sold.
    let mut vesting_sold = 0.0;
    for tr in &p.vesting[..p.n_vesting as usize] {
        let unlocked = vested_by(tr.amount, tr.cliff_days, tr.linear_days, day1)
            - vested_by(tr.amount, tr.cliff_days, tr.linear_days, day0);
        s.issued += unlocked;
        s.minted += unlocked;
        vesting_sold += unlocked * tr.sell_fraction;
    }

    // 6. Payments and burns (all in USD this step).
    let (burn_usd, provider_fee_usd) = match p.burn_kind {
        burn_kind::BME => (served * (1.0 - p.burn_fee), 0.0),
        burn_kind::REVENUE_BURN => (served * p.burn_fraction, served * (1.0 - p.burn_fraction)),
        _ => (0.0, served),
    };
    // Paying in the token means users buy it; paying in stablecoins, only burns buy it.
    let user_buy_usd = if p.pay_in_token { served } else { burn_usd };
    // Providers paid in tokens sell `fee_sell` of them; paid in stablecoins they sell none.
    let provider_fee_sell_usd = if p.pay_in_token {
        provider_fee_usd * p.fee_sell
    } else {
        0.0
    };
    // Burns cannot take more than the liquid float, so staked <= circulating always holds.
    let liquid = (s.issued - s.burned - s.staked).max(0.0);
    s.burned += (burn_usd / price).min(liquid);

    // 7. Providers: profitability moves capacity; they sell emission to cover costs.
    let emission_value = e_providers * price;
    let revenue = emission_value + provider_fee_usd;
    let provider_cost = capacity * cost * p.step_days;
    let ln_profitability = (revenue.max(1e-300) / provider_cost).ln();
    s.ln_capacity = (s.ln_capacity
        + (p.entry_speed * ln_profitability.max(0.0)
            - p.exit_speed * (-ln_profitability).max(0.0))
            * p.dt)
        .clamp(p.ln_capacity_floor, p.ln_capacity_cap);
    let sell_fraction = if !p.sell_to_cover_cost {
        p.sell_fixed
    } else if emission_value > 0.0 {
        (provider_cost / emission_value).clamp(p.sell_min, 1.0)
    } else {
        0.0
    };
    let provider_sell_usd = sell_fraction * emission_value + provider_fee_sell_usd;

    // 8. Staking: the target falls with the drawdown (panic); stakers' emission is staked.
    s.running_max_price = s.running_max_price.max(price);
    let drawdown = 1.0 - price / s.running_max_price;
    let target_fraction = p.stake_target * (1.0 - p.stake_panic * drawdown).clamp(0.0, 1.0);
    let circulating = s.issued - s.burned;
    s.staked += e_stakers;
    let stake_change = (target_fraction * circulating - s.staked) * p.stake_relax;
    s.staked += stake_change;
    let unstake_sell_usd = (-stake_change).max(0.0) * p.unstake_sell * price;
    s.staked = s.staked.clamp(0.0, circulating);

    // 9. Market: net flow moves the transient pressure X; F follows the market and usage.
    let treasury_sell_usd = e_treasury * p.treasury_sell * price;
    let sell_usd = provider_sell_usd + vesting_sold * price + unstake_sell_usd + treasury_sell_usd;
    let buy_usd = user_buy_usd;
    let depth_usd = p.depth * price * (circulating - s.staked);
    let net_flow = buy_usd - sell_usd;
    let impact = if depth_usd > 0.0 {
        (p.impact * net_flow / depth_usd).clamp(-p.impact_cap, p.impact_cap)
    } else if net_flow != 0.0 && p.impact > 0.0 {
        p.impact_cap.copysign(net_flow)
    } else {
        0.0
    };
    s.flow_pressure = s.flow_pressure * p.impact_decay + impact;
    let price_jumps = poisson_inversion(
        uniform_open(event_words[1]),
        rg.jump_lambda,
        rg.exp_neg_jump_lambda,
    );
    let price_jump = if price_jumps > 0 {
        let n = price_jumps as f64;
        n * p.jump_mean + p.jump_stdev * n.sqrt() * z_price_jump
    } else {
        0.0
    };
    let z_price = p.chol[0] * e1;
    s.ln_fundamental += rg.drift_dt
        + rg.vol_sqrt_dt * z_price
        + price_jump
        + p.revenue_beta * (ln_served - s.ln_served_prev);
    s.ln_served_prev = ln_served;
    let ln_price_prev = s.ln_price;
    s.ln_price = s.ln_fundamental + s.flow_pressure;

    // 10. Demand: drift, noise, churn of unserved demand, elasticity to the USD job price.
    let z_demand = p.chol[1] * e1 + p.chol[2] * e2;
    let job_price_change = if p.quoted_in_token {
        s.ln_price - ln_price_prev
    } else {
        0.0
    };
    s.ln_demand += p.demand_drift_dt + p.demand_vol_sqrt_dt * z_demand
        - p.churn * (1.0 - served_frac) * p.dt
        + (1.0 - p.price_elasticity) * job_price_change;

    // 11. GPU cost: mean reversion to a deflating long-run level, noise and jumps.
    let z_cost = p.chol[3] * e1 + p.chol[4] * e2 + p.chol[5] * e3;
    let cost_jumps = poisson_inversion(
        uniform_open(event_words[2]),
        p.cost_jump_lambda,
        p.exp_neg_cost_jump_lambda,
    );
    let cost_jump = if cost_jumps > 0 {
        let w = draw_words(key, path, step, stream::COST_JUMP_NORMALS);
        let n = cost_jumps as f64;
        n * p.cost_jump_mean + p.cost_jump_stdev * n.sqrt() * box_muller(w[0], w[1]).0
    } else {
        0.0
    };
    let ln_cost_bar = p.ln_cost0 - p.cost_deflation * (day1 / 365.0);
    s.ln_cost += p.cost_reversion * (ln_cost_bar - s.ln_cost) * p.dt
        + p.cost_vol_sqrt_dt * z_cost
        + cost_jump;

    // 12. Spiral: price, capacity and demand all well below their own moving averages,
    // for persist_days in a row. Compare with the averages of the past, then update them.
    let condition = s.ln_price < s.ema_ln_price + p.spiral_ln_price
        && s.ln_capacity < s.ema_ln_capacity + p.spiral_ln_capacity
        && s.ln_demand < s.ema_ln_demand + p.spiral_ln_demand;
    s.spiral_run_days = if condition {
        s.spiral_run_days + p.step_days
    } else {
        0.0
    };
    s.in_spiral = s.spiral_run_days >= p.spiral_persist_days;
    if s.in_spiral && !s.ever_spiraled {
        s.ever_spiraled = true;
        s.spiral_day = day1 as i32;
    }
    s.ema_ln_price += p.spiral_alpha * (s.ln_price - s.ema_ln_price);
    s.ema_ln_capacity += p.spiral_alpha * (s.ln_capacity - s.ema_ln_capacity);
    s.ema_ln_demand += p.spiral_alpha * (s.ln_demand - s.ema_ln_demand);

    // Measurements: emissions valued at the price they were minted at.
    let end_price = s.ln_price.exp();
    s.price = end_price;
    s.served_per_day = served_per_day;
    s.emission_usd_per_day = emitted * price / p.step_days;
    s.cum_emission_usd += emitted * price;
    s.cum_revenue += served;
    s.trailing_emission_usd +=
        p.trailing_alpha * (s.emission_usd_per_day - s.trailing_emission_usd);
    s.trailing_revenue += p.trailing_alpha * (served_per_day - s.trailing_revenue);
    if s.breakeven_day < 0 && s.trailing_revenue >= s.trailing_emission_usd {
        s.breakeven_day = day1 as i32;
    }
    s.running_max_price = s.running_max_price.max(end_price);
    s.max_drawdown = s.max_drawdown.max(1.0 - end_price / s.running_max_price);
    s.min_price = s.min_price.min(end_price);
    s.min_ln_capacity = s.min_ln_capacity.min(s.ln_capacity);
}

//! Flat, precomputed model parameters compiled from a validated [`Scenario`].
//!
//! Everything the step function needs per step is precomputed here once (drift terms times
//! dt, volatilities times sqrt(dt), exp(-lambda) for Poisson inversion, logs of shock sizes),
//! so the hot loop does only the work that depends on the path. The GPU engine packs the
//! same numbers into its `repr(C)` f32 twin (`engine::gpu`), so this struct is the single
//! place where scenario semantics become numbers.

use crate::lanes::{F64s, LaneValue};
use crate::scenario::governance::{apply, keys_set, no_check, GOVERNABLE};
use crate::scenario::limits::{MAX_GOVERNANCE, MAX_SCHEDULE_YEARS, MAX_SHOCKS, MAX_VESTING};
use crate::scenario::{
    BurnKind, Currency, Destination, EmissionKind, QuotedIn, Scenario, SellFraction, Trigger,
};
use crate::stats::cholesky3;

/// Emission kinds as the numeric codes shared with WGSL (`EMISSION_*` in `shaders/common/params.wgsl`).
pub mod emission_kind {
    pub const NONE: u32 = 0;
    pub const HALVING_BY_SUPPLY: u32 = 1;
    pub const HALVING_BY_TIME: u32 = 2;
    pub const SCHEDULE: u32 = 3;
    pub const INFLATION: u32 = 4;
    pub const BONDED_INFLATION: u32 = 5;
}

/// Burn kinds as numeric codes shared with WGSL (`BURN_*`).
pub mod burn_kind {
    pub const NONE: u32 = 0;
    pub const BME: u32 = 1;
    pub const REVENUE_BURN: u32 = 2;
    pub const BUYBACK: u32 = 3;
}

/// Rules of a governance change, as numeric codes shared with WGSL (`RULE_*`).
pub mod rule {
    pub const SCHEDULED: u32 = 0;
    pub const UNCERTAIN: u32 = 1;
    pub const TRIGGERED: u32 = 2;
}

/// The enactment day of a change not (yet) enacted on a path: later than any horizon, and
/// exact in f32.
pub const NEVER: f64 = 1e30;

/// Defines [`Policy`] (one path's values, natural types) and [`LanePolicy`] (the same fields
/// for `N` paths, as lanes) from one field list, with the conversions: the path state of the
/// CPU engine holds a `LanePolicy` (`step::LaneState::policy`).
macro_rules! policy {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty, )*) => {
        /// The values a governance change may set (`scenario::governance::GOVERNABLE`), as
        /// the step uses them. The path state carries its own copy, which starts as the base
        /// scenario's and is overwritten, key by key, by each change the path enacts
        /// (MODEL.md section 0).
        #[derive(Debug, Clone, Copy, Default, PartialEq)]
        pub struct Policy {
            $( $(#[$doc])* pub $name: $ty, )*
        }

        /// [`Policy`] of `N` paths: field `x` of path `i` is `x.0[i]`.
        #[derive(Debug, Clone, Copy)]
        pub struct LanePolicy<const N: usize> {
            $( pub $name: F64s<N>, )*
        }

        impl<const N: usize> LanePolicy<N> {
            /// Every lane has policy `q`.
            pub fn splat(q: &Policy) -> Self {
                LanePolicy { $( $name: F64s::splat(q.$name.to_lane()), )* }
            }
            /// The policy of lane `i`.
            pub fn lane(&self, i: usize) -> Policy {
                Policy { $( $name: <$ty as LaneValue>::from_lane(self.$name.0[i]), )* }
            }
        }
    };
}

policy! {
    emission_kind: u32,
    per_day: f64,
    period_days: f64,
    annual_rate: f64,
    inflation_min: f64,
    inflation_max: f64,
    inflation_rate_change: f64,
    goal_bonded: f64,
    split_providers: f64,
    split_stakers: f64,
    split_treasury: f64,
    treasury_sell: f64,
    burn_kind: u32,
    burn_fee: f64,
    burn_fraction: f64,
    /// `buyback` only: the bought tokens go to the stakers (else to the treasury).
    buyback_to_stakers: bool,
    stake_target: f64,
    stake_panic: f64,
    /// 1 - exp(-speed * dt): share of the gap to the target closed per step.
    stake_relax: f64,
    unstake_sell: f64,
}

/// The bit of each key of `GOVERNABLE` in [`GovParams::sets`] is its index there.
pub fn key_bit(key: &str) -> u32 {
    let i = GOVERNABLE
        .iter()
        .position(|k| *k == key)
        .unwrap_or_else(|| panic!("{key} is not governable"));
    1 << i
}

/// One `[[governance]]` change, compiled.
#[derive(Debug, Clone, Copy, Default)]
pub struct GovParams {
    pub rule: u32,
    /// `rule::SCHEDULED`: the enactment day.
    pub day: f64,
    /// `rule::UNCERTAIN`: enacted where word 0 < `probability_words` (probability * 2^32),
    /// on day `window_first + (word 1 * window_span) >> 32`.
    pub probability_words: f64,
    pub window_first: u32,
    pub window_span: u32,
    /// The counter word of its draws (`scenario::governance::draw_id` of its name).
    pub draw_id: u32,
    /// `rule::TRIGGERED`: which conditions apply (bits `TRIGGER_*`) and their thresholds.
    pub conditions: u32,
    pub ln_price_below: f64,
    pub drawdown_above: f64,
    pub staked_fraction_below: f64,
    pub er_ratio_above: f64,
    pub ln_capacity_below: f64,
    pub for_days: f64,
    pub delay_days: f64,
    /// The keys it sets (bits by `GOVERNABLE` index) and the values (the changed scenario's).
    pub sets: u32,
    pub policy: Policy,
}

/// Bits of [`GovParams::conditions`].
pub mod trigger {
    pub const PRICE_BELOW: u32 = 1;
    pub const DRAWDOWN_ABOVE: u32 = 2;
    pub const STAKED_FRACTION_BELOW: u32 = 4;
    pub const ER_RATIO_ABOVE: u32 = 8;
    pub const CAPACITY_BELOW: u32 = 16;
}

/// Per-regime market parameters (index 0 calm, 1 stress).
#[derive(Debug, Clone, Copy, Default)]
pub struct RegimeParams {
    /// (mu - sigma^2 / 2) * dt
    pub drift_dt: f64,
    /// sigma * sqrt(dt)
    pub vol_sqrt_dt: f64,
    /// Poisson mean of price jumps per step.
    pub jump_lambda: f64,
    pub exp_neg_jump_lambda: f64,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ShockParams {
    pub day: f64,
    pub ln_price: f64,
    pub ln_demand: f64,
    pub ln_cost: f64,
    pub ln_capacity: f64,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct TrancheParams {
    pub amount: f64,
    pub cliff_days: f64,
    pub linear_days: f64,
    pub sell_fraction: f64,
}

#[derive(Debug, Clone)]
pub struct Params {
    pub steps: u32,
    pub step_days: f64,
    pub dt: f64,
    /// Steps between report rows; a row is also written at day 0 and at the horizon.
    pub report_every_steps: u32,

    pub price0: f64,
    pub issued0: f64,
    pub burned0: f64,
    /// f64::INFINITY when uncapped.
    pub max_supply: f64,
    pub staked_fraction0: f64,

    /// The governable values at day 0 (each path's state starts with a copy).
    pub policy: Policy,
    /// `halving_by_supply`: issued amount at which halving n+1 happens, max * (1 - 2^-(n+1)).
    pub supply_thresholds: [f64; MAX_HALVINGS],
    pub yearly: [f64; MAX_SCHEDULE_YEARS],
    pub n_years: u32,
    pub decay: f64,

    pub pay_in_token: bool,
    pub quoted_in_token: bool,

    pub demand0: f64,
    pub demand_drift_dt: f64,
    pub demand_vol_sqrt_dt: f64,
    pub price_elasticity: f64,
    pub churn: f64,

    pub regime: [RegimeParams; 2],
    pub p_calm_to_stress: f64,
    pub p_stress_to_calm: f64,
    pub jump_mean: f64,
    pub jump_stdev: f64,
    pub depth: f64,
    pub impact: f64,
    pub impact_cap: f64,
    /// 2^(-step_days / half_life): how much flow pressure survives one step.
    pub impact_decay: f64,
    pub revenue_beta: f64,

    pub capacity0: f64,
    pub ln_capacity_floor: f64,
    pub ln_capacity_cap: f64,
    pub cost0: f64,
    pub ln_cost0: f64,
    pub cost_reversion: f64,
    pub cost_vol_sqrt_dt: f64,
    pub cost_deflation: f64,
    pub cost_jump_lambda: f64,
    pub exp_neg_cost_jump_lambda: f64,
    pub cost_jump_mean: f64,
    pub cost_jump_stdev: f64,
    pub throughput: f64,
    pub ln_throughput: f64,
    pub entry_speed: f64,
    pub exit_speed: f64,
    /// true: providers sell enough to cover costs; false: the fixed `sell_fixed` fraction.
    pub sell_to_cover_cost: bool,
    pub sell_fixed: f64,
    pub sell_min: f64,
    pub fee_sell: f64,

    pub vesting: [TrancheParams; MAX_VESTING],
    pub n_vesting: u32,

    /// Lower Cholesky factor of the (price, demand, cost) correlation matrix:
    /// [l11, l21, l22, l31, l32, l33].
    pub chol: [f64; 6],

    pub spiral_ln_price: f64,
    pub spiral_ln_capacity: f64,
    pub spiral_ln_demand: f64,
    /// Weight of a new value in the spiral EMAs: 1 - 2^(-step_days / window_days).
    pub spiral_alpha: f64,
    pub spiral_persist_days: f64,

    pub shocks: [ShockParams; MAX_SHOCKS],
    pub n_shocks: u32,

    /// Weight of a new value in the 30-day-half-life trailing emission/revenue averages.
    pub trailing_alpha: f64,

    pub governance: [GovParams; MAX_GOVERNANCE],
    pub n_governance: u32,
}

/// Halvings tracked by `halving_by_supply`; after 64 the rate is below 1e-19 of the base.
pub const MAX_HALVINGS: usize = 64;

/// Half-life of the trailing emissions-to-revenue averages (MODEL.md "What is measured").
pub const TRAILING_HALF_LIFE_DAYS: f64 = 30.0;

fn half_life_weight(step_days: f64, half_life_days: f64) -> f64 {
    1.0 - (-step_days / half_life_days).exp2()
}

impl Policy {
    /// The governable values of a validated scenario.
    pub fn of(s: &Scenario) -> Policy {
        let e = &s.emission;
        let dt = s.scenario.step_days as f64 / 365.0;
        Policy {
            emission_kind: match e.kind {
                EmissionKind::None => emission_kind::NONE,
                EmissionKind::HalvingBySupply => emission_kind::HALVING_BY_SUPPLY,
                EmissionKind::HalvingByTime => emission_kind::HALVING_BY_TIME,
                EmissionKind::Schedule => emission_kind::SCHEDULE,
                EmissionKind::Inflation => emission_kind::INFLATION,
                EmissionKind::BondedInflation => emission_kind::BONDED_INFLATION,
            },
            per_day: e.per_day.unwrap_or(0.0),
            period_days: e.period_days.unwrap_or(f64::INFINITY),
            annual_rate: e.annual_rate.unwrap_or(0.0),
            inflation_min: e.inflation_min.unwrap_or(0.0),
            inflation_max: e.inflation_max.unwrap_or(0.0),
            inflation_rate_change: e.inflation_rate_change.unwrap_or(0.0),
            goal_bonded: e.goal_bonded.unwrap_or(1.0),
            split_providers: e.split.providers,
            split_stakers: e.split.stakers,
            split_treasury: e.split.treasury,
            treasury_sell: e.treasury_sell,
            burn_kind: match s.burn.kind {
                BurnKind::None => burn_kind::NONE,
                BurnKind::Bme => burn_kind::BME,
                BurnKind::RevenueBurn => burn_kind::REVENUE_BURN,
                BurnKind::Buyback => burn_kind::BUYBACK,
            },
            burn_fee: s.burn.fee.unwrap_or(0.0),
            burn_fraction: s.burn.fraction.unwrap_or(0.0),
            buyback_to_stakers: s.burn.destination == Some(Destination::Stakers),
            stake_target: s.staking.target,
            stake_panic: s.staking.panic,
            stake_relax: 1.0 - (-s.staking.speed * dt).exp(),
            unstake_sell: s.staking.unstake_sell,
        }
    }
}

impl GovParams {
    /// Change `index` of a validated scenario. Panics only on changes `validate` rejects.
    pub fn compile(s: &Scenario, index: usize, g: &crate::scenario::Governance) -> GovParams {
        let changed = apply(s, index, g, no_check).expect("validated governance change");
        let sets = keys_set(g).iter().fold(0, |bits, k| bits | key_bit(k));
        let w = g.when.clone().unwrap_or_default();
        let Trigger {
            price_below,
            drawdown_above,
            staked_fraction_below,
            er_ratio_above,
            capacity_below,
        } = w;
        let mut conditions = 0;
        for (bit, v) in [
            (trigger::PRICE_BELOW, price_below),
            (trigger::DRAWDOWN_ABOVE, drawdown_above),
            (trigger::STAKED_FRACTION_BELOW, staked_fraction_below),
            (trigger::ER_RATIO_ABOVE, er_ratio_above),
            (trigger::CAPACITY_BELOW, capacity_below),
        ] {
            if v.is_some() {
                conditions |= bit;
            }
        }
        let window = g.window_days.clone().unwrap_or_else(|| vec![0, 0]);
        GovParams {
            rule: if g.when.is_some() {
                rule::TRIGGERED
            } else if g.probability.is_some() {
                rule::UNCERTAIN
            } else {
                rule::SCHEDULED
            },
            day: g.day.map_or(NEVER, f64::from),
            probability_words: g.probability.unwrap_or(0.0) * 4_294_967_296.0,
            window_first: window[0],
            window_span: window[1] - window[0] + 1,
            draw_id: crate::scenario::governance::draw_id(&g.name),
            conditions,
            ln_price_below: (price_below.unwrap_or(1.0) * s.token.price).ln(),
            drawdown_above: drawdown_above.unwrap_or(0.0),
            staked_fraction_below: staked_fraction_below.unwrap_or(1.0),
            er_ratio_above: er_ratio_above.unwrap_or(0.0),
            ln_capacity_below: (capacity_below.unwrap_or(1.0) * s.compute.capacity).ln(),
            for_days: g.for_days.unwrap_or(0) as f64,
            delay_days: g.delay_days.unwrap_or(0) as f64,
            sets,
            policy: Policy::of(&changed),
        }
    }
}

impl Params {
    /// Compiles a validated scenario. Panics only on scenarios that `validate` rejects.
    pub fn compile(s: &Scenario) -> Params {
        let step_days = s.scenario.step_days as f64;
        let dt = step_days / 365.0;
        let sqrt_dt = dt.sqrt();
        let mk = &s.market;
        let regime_of = |drift: f64, vol: f64, rate: f64| {
            let lambda = rate * dt;
            RegimeParams {
                drift_dt: (drift - 0.5 * vol * vol) * dt,
                vol_sqrt_dt: vol * sqrt_dt,
                jump_lambda: lambda,
                exp_neg_jump_lambda: (-lambda).exp(),
            }
        };
        let calm = regime_of(mk.drift, mk.volatility, mk.jumps.rate);
        let (stress, p_cs, p_sc) = match &mk.regimes {
            Some(r) => (
                regime_of(r.stress.drift, r.stress.volatility, r.stress.jump_rate),
                r.calm_to_stress,
                r.stress_to_calm,
            ),
            None => (calm, 0.0, 1.0),
        };
        let e = &s.emission;
        let mut yearly = [0.0; MAX_SCHEDULE_YEARS];
        let mut n_years = 0;
        if let Some(y) = &e.yearly {
            for (slot, v) in yearly.iter_mut().zip(y) {
                *slot = *v;
            }
            n_years = y.len() as u32;
        }
        let k = &s.compute;
        let co = &s.correlation;
        let chol = cholesky3(co.price_demand, co.price_cost, co.demand_cost)
            .expect("validated correlation matrix");
        let mut shocks = [ShockParams::default(); MAX_SHOCKS];
        for (slot, sh) in shocks.iter_mut().zip(&s.shock) {
            *slot = ShockParams {
                day: sh.day as f64,
                ln_price: sh.price.ln_1p(),
                ln_demand: sh.demand.ln_1p(),
                ln_cost: sh.gpu_cost.ln_1p(),
                ln_capacity: sh.capacity.ln_1p(),
            };
        }
        let mut vesting = [TrancheParams::default(); MAX_VESTING];
        for (slot, v) in vesting.iter_mut().zip(&s.vesting) {
            *slot = TrancheParams {
                amount: v.amount,
                cliff_days: v.cliff_days,
                linear_days: v.linear_days,
                sell_fraction: v.sell_fraction,
            };
        }
        let mut governance = [GovParams::default(); MAX_GOVERNANCE];
        for (i, (slot, g)) in governance.iter_mut().zip(&s.governance).enumerate() {
            *slot = GovParams::compile(s, i, g);
        }
        let cost_lambda = k.cost_jumps.rate * dt;
        let (sell_to_cover_cost, sell_fixed) = match k.sell_fraction {
            SellFraction::Fixed(v) => (false, v),
            SellFraction::Rule(_) => (true, 0.0),
        };
        Params {
            steps: s.steps(),
            step_days,
            dt,
            report_every_steps: s.scenario.report_every / s.scenario.step_days,
            price0: s.token.price,
            issued0: s.token.issued,
            burned0: s.token.burned,
            max_supply: s.token.max_supply.unwrap_or(f64::INFINITY),
            staked_fraction0: s.token.staked_fraction,
            policy: Policy::of(s),
            supply_thresholds: std::array::from_fn(|n| {
                s.token.max_supply.unwrap_or(f64::INFINITY) * (1.0 - (-(n as f64 + 1.0)).exp2())
            }),
            yearly,
            n_years,
            decay: e.decay.unwrap_or(1.0),
            pay_in_token: s.payment.currency == Currency::Token,
            quoted_in_token: s.payment.quoted_in == QuotedIn::Token,
            demand0: s.demand.usd_per_day,
            demand_drift_dt: (s.demand.growth - 0.5 * s.demand.volatility.powi(2)) * dt,
            demand_vol_sqrt_dt: s.demand.volatility * sqrt_dt,
            price_elasticity: s.demand.price_elasticity,
            churn: s.demand.churn,
            regime: [calm, stress],
            p_calm_to_stress: p_cs,
            p_stress_to_calm: p_sc,
            jump_mean: mk.jumps.mean,
            jump_stdev: mk.jumps.stdev,
            depth: mk.depth,
            impact: mk.impact,
            impact_cap: mk.impact_cap,
            impact_decay: (-step_days / mk.impact_half_life_days).exp2(),
            revenue_beta: mk.revenue_beta,
            capacity0: k.capacity,
            ln_capacity_floor: k.capacity_floor.ln(),
            ln_capacity_cap: k.capacity_cap.ln(),
            cost0: k.cost_per_unit_day,
            ln_cost0: k.cost_per_unit_day.ln(),
            cost_reversion: k.cost_reversion,
            cost_vol_sqrt_dt: k.cost_volatility * sqrt_dt,
            cost_deflation: k.cost_deflation,
            cost_jump_lambda: cost_lambda,
            exp_neg_cost_jump_lambda: (-cost_lambda).exp(),
            cost_jump_mean: k.cost_jumps.mean,
            cost_jump_stdev: k.cost_jumps.stdev,
            throughput: k.throughput_usd_per_unit_day,
            ln_throughput: k.throughput_usd_per_unit_day.ln(),
            entry_speed: k.entry_speed,
            exit_speed: k.exit_speed,
            sell_to_cover_cost,
            sell_fixed,
            sell_min: k.sell_min,
            fee_sell: k.fee_sell,
            vesting,
            n_vesting: s.vesting.len() as u32,
            chol,
            spiral_ln_price: (1.0 - s.spiral.price_drawdown).ln(),
            spiral_ln_capacity: (1.0 - s.spiral.capacity_drawdown).ln(),
            spiral_ln_demand: (1.0 - s.spiral.demand_drawdown).ln(),
            spiral_alpha: half_life_weight(step_days, s.spiral.window_days),
            spiral_persist_days: s.spiral.persist_days as f64,
            shocks,
            n_shocks: s.shock.len() as u32,
            trailing_alpha: half_life_weight(step_days, TRAILING_HALF_LIFE_DAYS),
            governance,
            n_governance: s.governance.len() as u32,
        }
    }

    /// Report steps: after which step (1-based count of steps done) a row is written.
    /// Row 0 is the initial state (day 0).
    pub fn report_days(&self) -> Vec<u32> {
        let mut days = vec![0u32];
        let mut done = self.report_every_steps;
        while done < self.steps {
            days.push((done as f64 * self.step_days) as u32);
            done += self.report_every_steps;
        }
        days.push((self.steps as f64 * self.step_days) as u32);
        days
    }

    /// Whether a report row is due after `steps_done` steps.
    #[inline(always)]
    pub fn is_report_step(&self, steps_done: u32) -> bool {
        steps_done.is_multiple_of(self.report_every_steps) || steps_done == self.steps
    }
}

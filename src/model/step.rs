//! The step function of MODEL.md, written once. `shaders/simulate.wgsl` mirrors it line by
//! line with the same names and the same numbered sections, so read them side by side.
//!
//! The step advances `N` paths at once: [`LaneState`] holds each state variable for `N`
//! paths (structure of arrays, see `crate::lanes`), data-dependent branches are selects, and
//! `N = 1` is the scalar reference. [`PathState`] is one path's state in natural types (the
//! GPU engine and the per-path records use it). No allocation per step.
//! Log-space state (ln F, ln D, ln C, ln K) is primary because every stochastic update is
//! additive in logs; levels are exponentiated once per step where flows need them.

use super::params::{
    burn_kind, emission_kind, rule, trigger, GovParams, LanePolicy, Params, Policy, MAX_HALVINGS,
    NEVER,
};
use crate::lanes::{F64s, LaneValue, Mask};
use crate::rng::{
    box_muller_lanes, draw_two_streams_lanes, draw_words_lanes, poisson_inversion_lanes, stream,
    uniform_open_lanes,
};
use crate::scenario::limits::MAX_GOVERNANCE;

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

/// Providers' revenue is floored here before its log is taken (no revenue: the largest exit
/// speed, not an error).
pub const REVENUE_FLOOR: f64 = 1e-300;

/// Defines [`PathState`] (one path, natural types) and [`LaneState`] (the same fields for
/// `N` paths, structure of arrays, all f64) from one field list, with the conversions.
macro_rules! path_state {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty, )*) => {
        /// Everything one path carries from step to step.
        #[derive(Debug, Clone, Copy)]
        pub struct PathState {
            $( $(#[$doc])* pub $name: $ty, )*
            /// The governable values: the base scenario's, overwritten by each change the
            /// path enacts (section 0).
            pub policy: Policy,
            /// Per governance change: its enactment day ([`NEVER`] until it is known).
            pub gov_due: [f64; MAX_GOVERNANCE],
            /// Per triggered change: days its condition has held in a row.
            pub gov_held: [f64; MAX_GOVERNANCE],
        }

        /// [`PathState`] of `N` paths stepped together: field `x` of path `i` is `x.0[i]`.
        #[derive(Debug, Clone, Copy)]
        pub struct LaneState<const N: usize> {
            $( pub $name: F64s<N>, )*
            pub policy: LanePolicy<N>,
            pub gov_due: [F64s<N>; MAX_GOVERNANCE],
            pub gov_held: [F64s<N>; MAX_GOVERNANCE],
        }

        impl<const N: usize> LaneState<N> {
            /// Every lane starts in state `s`.
            pub fn splat(s: &PathState) -> Self {
                LaneState {
                    $( $name: F64s::splat(s.$name.to_lane()), )*
                    policy: LanePolicy::splat(&s.policy),
                    gov_due: s.gov_due.map(F64s::splat),
                    gov_held: s.gov_held.map(F64s::splat),
                }
            }
            /// The state of lane `i`.
            pub fn lane(&self, i: usize) -> PathState {
                PathState {
                    $( $name: <$ty as LaneValue>::from_lane(self.$name.0[i]), )*
                    policy: self.policy.lane(i),
                    gov_due: self.gov_due.map(|d| d.0[i]),
                    gov_held: self.gov_held.map(|d| d.0[i]),
                }
            }
        }
    };
}

path_state! {
    /// Market regime: 0 calm, 1 stress.
    regime: u32,
    /// ln of the fundamental price level F.
    ln_fundamental: f64,
    /// Flow pressure X (transient log-price impact).
    flow_pressure: f64,
    /// ln P = ln F + X at the end of the last step.
    ln_price: f64,
    /// exp(ln_price), kept so the next step need not recompute it.
    price: f64,
    ln_demand: f64,
    ln_cost: f64,
    ln_capacity: f64,
    issued: f64,
    burned: f64,
    staked: f64,
    /// ln of served USD/day in the previous step (for revenue_beta).
    ln_served_prev: f64,
    running_max_price: f64,
    ema_ln_price: f64,
    ema_ln_capacity: f64,
    ema_ln_demand: f64,
    /// Consecutive days the joint spiral condition has held.
    spiral_run_days: f64,
    in_spiral: bool,
    ever_spiraled: bool,
    /// Day the path entered its first spiral; -1 if never.
    spiral_day: i32,
    // Observables of the last step.
    served_per_day: f64,
    emission_usd_per_day: f64,
    trailing_emission_usd: f64,
    trailing_revenue: f64,
    // Per-path summary trackers.
    min_price: f64,
    max_drawdown: f64,
    min_ln_capacity: f64,
    minted: f64,
    /// Of `minted`, the tokens issued by vesting unlocks (the rest is the emission rule's).
    vested: f64,
    cum_emission_usd: f64,
    cum_revenue: f64,
    /// First day trailing revenue covered trailing emission USD; -1 if never.
    breakeven_day: i32,
    /// The annual inflation minted on circulating supply: moved by the bonded-ratio rule under
    /// `bonded_inflation`, equal to `annual_rate` under every other kind.
    inflation: f64,
    /// Tokens the treasury bought back in the last step, of which it resells `treasury_sell`
    /// in this one.
    treasury_resell: f64,
}

impl PathState {
    pub fn initial(p: &Params) -> PathState {
        let circ = p.issued0 - p.burned0;
        let ln_demand = p.demand0.ln();
        let served = p.demand0.min(p.capacity0 * p.throughput);
        // Day-0 emission rate, so the trailing ratio and report row 0 are meaningful.
        let q = &p.policy;
        let e0 = emission_tokens(
            p,
            EmissionRule::of(q, q.annual_rate),
            p.issued0,
            circ,
            0.0,
            locked_vesting(p, 0.0),
        ) / p.step_days;
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
            vested: 0.0,
            cum_emission_usd: 0.0,
            cum_revenue: 0.0,
            breakeven_day: if served >= trailing_emission_usd {
                0
            } else {
                -1
            },
            policy: *q,
            inflation: q.annual_rate,
            treasury_resell: 0.0,
            // Scheduled changes know their day; uncertain ones draw it in step 0, triggered
            // ones when their condition has held.
            gov_due: std::array::from_fn(|c| {
                let g = &p.governance[c];
                if c < p.n_governance as usize && g.rule == rule::SCHEDULED {
                    g.day
                } else {
                    NEVER
                }
            }),
            gov_held: [0.0; MAX_GOVERNANCE],
        }
    }

    /// The enactment day of change `c` if it was enacted within the horizon.
    pub fn enacted_day(&self, p: &Params, c: usize) -> Option<u32> {
        let due = self.gov_due[c];
        (c < p.n_governance as usize && due < p.steps as f64 * p.step_days).then_some(due as u32)
    }

    pub fn price(&self) -> f64 {
        self.price
    }

    pub fn circulating(&self) -> f64 {
        self.issued - self.burned
    }

    /// Values of [`METRICS`] now (the one-lane [`LaneState::observe`]).
    pub fn observe(&self) -> [f64; N_METRICS] {
        LaneState::<1>::splat(self).observe().map(|m| m.0[0])
    }
}

impl<const N: usize> LaneState<N> {
    /// Values of [`METRICS`] now, per lane.
    #[inline(always)]
    pub fn observe(&self) -> [F64s<N>; N_METRICS] {
        let price = self.price;
        let circ = self.issued - self.burned;
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
            self.in_spiral,
            self.ever_spiraled,
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
pub fn emission_tokens(
    p: &Params,
    r: EmissionRule,
    issued: f64,
    circulating: f64,
    day0: f64,
    reserved: f64,
) -> f64 {
    let e = match r.kind {
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
                let rate = r.per_day * (-(era as f64)).exp2();
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
                let era = (day / r.period_days).floor();
                let boundary = ((era + 1.0) * r.period_days).min(end);
                minted += r.per_day * (-era).exp2() * (boundary - day);
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
        emission_kind::INFLATION | emission_kind::BONDED_INFLATION => {
            r.inflation * circulating / 365.0 * p.step_days
        }
        _ => 0.0,
    };
    e.min(p.max_supply - issued - reserved).max(0.0)
}

/// What [`emission_tokens`] needs of a path's governable values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmissionRule {
    pub kind: u32,
    pub per_day: f64,
    pub period_days: f64,
    /// The annual inflation of `inflation` and `bonded_inflation`.
    pub inflation: f64,
}

impl EmissionRule {
    pub fn of(q: &Policy, inflation: f64) -> EmissionRule {
        EmissionRule {
            kind: q.emission_kind,
            per_day: q.per_day,
            period_days: q.period_days,
            inflation,
        }
    }
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

/// Tokens emitted per lane in the step starting at `day0`: [`emission_tokens`] of each lane.
/// When every lane has the same rule and issued supply (always, without governance changes,
/// except for the inflation kinds, whose emission follows the path's circulating supply), it
/// is computed once for the group.
#[inline(always)]
fn emission_lanes<const N: usize>(
    p: &Params,
    s: &LaneState<N>,
    circulating: F64s<N>,
    day0: f64,
    reserved: f64,
) -> F64s<N> {
    // Without governance changes every lane has the base rule (and `inflation` differs
    // between lanes only under bonded_inflation, through the staked fraction).
    let same_rule = (p.n_governance == 0
        && p.policy.emission_kind != emission_kind::BONDED_INFLATION)
        || (s.policy.emission_kind.is_uniform()
            && s.policy.per_day.is_uniform()
            && s.policy.period_days.is_uniform()
            && s.inflation.is_uniform());
    let rule_of = |i: usize| EmissionRule {
        kind: s.policy.emission_kind.0[i] as u32,
        per_day: s.policy.per_day.0[i],
        period_days: s.policy.period_days.0[i],
        inflation: s.inflation.0[i],
    };
    let inflationary = matches!(
        s.policy.emission_kind.0[0] as u32,
        emission_kind::INFLATION | emission_kind::BONDED_INFLATION
    );
    if same_rule && s.issued.is_uniform() && (!inflationary || circulating.is_uniform()) {
        return F64s::splat(emission_tokens(
            p,
            rule_of(0),
            s.issued.0[0],
            circulating.0[0],
            day0,
            reserved,
        ));
    }
    F64s(std::array::from_fn(|i| {
        emission_tokens(
            p,
            rule_of(i),
            s.issued.0[i],
            circulating.0[i],
            day0,
            reserved,
        )
    }))
}

/// Section 0 at step 0: the day each uncertain change is enacted on, or [`NEVER`], from its
/// own Philox stream (its `draw_id`, a hash of its name, as the counter's step), so no other
/// draw moves, and it keeps its days when other changes are added or reordered.
/// Word 0 enacts it where `word < probability * 2^32`; word 1 picks the day,
/// `first + (word * span) >> 32`, uniform over the window's `span` days in integers.
#[inline(never)]
fn draw_uncertain<const N: usize>(
    p: &Params,
    s: &mut LaneState<N>,
    key: [u32; 2],
    paths: &[u64; N],
) {
    for (c, g) in p.governance[..p.n_governance as usize].iter().enumerate() {
        if g.rule != rule::UNCERTAIN {
            continue;
        }
        let w = draw_words_lanes(key, paths, g.draw_id, stream::GOVERNANCE);
        s.gov_due[c] = F64s(std::array::from_fn(|i| {
            let offset = (w[1][i] as u64 * g.window_span as u64) >> 32;
            if (w[0][i] as f64) < g.probability_words {
                (g.window_first as u64 + offset) as f64
            } else {
                NEVER
            }
        }));
    }
}

/// Section 0: change `g` takes effect on the lanes of `now`, key by key. (Rare: kept out of
/// line so the step's hot loop stays small.)
#[inline(never)]
fn enact<const N: usize>(s: &mut LaneState<N>, g: &GovParams, now: Mask<N>) {
    let v = &g.policy;
    // A switch to bonded_inflation starts its inflation at the change's annual_rate (a path
    // already under it keeps its current inflation: governance sets the mint parameters).
    let bonded = emission_kind::BONDED_INFLATION as f64;
    if g.sets & super::params::key_bit("emission.kind") != 0 && v.emission_kind as f64 == bonded {
        let switched = now.and(s.policy.emission_kind.ne(bonded));
        s.inflation = switched.select(v.annual_rate, s.inflation);
    }
    macro_rules! set {
        ($key:literal => $($field:ident),+) => {
            if g.sets & super::params::key_bit($key) != 0 {
                $( s.policy.$field = now.select(v.$field.to_lane(), s.policy.$field); )+
            }
        };
    }
    set!("emission.kind" => emission_kind);
    set!("emission.per_day" => per_day);
    set!("emission.period_days" => period_days);
    set!("emission.annual_rate" => annual_rate);
    set!("emission.inflation_min" => inflation_min);
    set!("emission.inflation_max" => inflation_max);
    set!("emission.inflation_rate_change" => inflation_rate_change);
    set!("emission.goal_bonded" => goal_bonded);
    set!("emission.split" => split_providers, split_stakers, split_treasury);
    set!("emission.treasury_sell" => treasury_sell);
    set!("burn.kind" => burn_kind);
    set!("burn.fee" => burn_fee);
    set!("burn.fraction" => burn_fraction);
    set!("burn.destination" => buyback_to_stakers);
    set!("staking.target" => stake_target);
    set!("staking.panic" => stake_panic);
    set!("staking.speed" => stake_relax);
    set!("staking.unstake_sell" => unstake_sell);
}

/// Section 13: where change `g` (index `c`) is not yet proposed, its condition on the
/// end-of-step state extends or resets the run of days it has held; once the run reaches
/// `for_days`, the change is proposed and enacted `delay_days` after `day1`.
#[inline(always)]
fn check_trigger<const N: usize>(
    p: &Params,
    s: &mut LaneState<N>,
    c: usize,
    g: &GovParams,
    day1: f64,
) {
    let pending = s.gov_due[c].ge(NEVER);
    if !pending.any() {
        return;
    }
    let mut holds = Mask([true; N]);
    if g.conditions & trigger::PRICE_BELOW != 0 {
        holds = holds.and(s.ln_price.lt(g.ln_price_below));
    }
    if g.conditions & trigger::DRAWDOWN_ABOVE != 0 {
        let drawdown = 1.0 - s.price / s.running_max_price;
        holds = holds.and(drawdown.gt(g.drawdown_above));
    }
    if g.conditions & trigger::STAKED_FRACTION_BELOW != 0 {
        holds = holds.and((s.staked / (s.issued - s.burned)).lt(g.staked_fraction_below));
    }
    if g.conditions & trigger::ER_RATIO_ABOVE != 0 {
        holds = holds.and((s.trailing_emission_usd / s.trailing_revenue).gt(g.er_ratio_above));
    }
    if g.conditions & trigger::CAPACITY_BELOW != 0 {
        holds = holds.and(s.ln_capacity.lt(g.ln_capacity_below));
    }
    let held = holds.select(s.gov_held[c] + p.step_days, 0.0);
    s.gov_held[c] = pending.select(held, s.gov_held[c]);
    let propose = pending.and(holds).and(held.ge(g.for_days));
    s.gov_due[c] = propose.select(day1 + g.delay_days, s.gov_due[c]);
}

/// Total log-size of `n` normal jumps of mean `mean` and sd `stdev` (0 where `n` is 0),
/// drawn from one standard normal `z`: `n mean + stdev sqrt(n) z`.
#[inline(always)]
fn compound_jump<const N: usize>(n: F64s<N>, mean: f64, stdev: f64, z: F64s<N>) -> F64s<N> {
    n.gt(0.0).select(n * mean + stdev * n.sqrt() * z, 0.0)
}

/// Advances `N` paths (ids `paths`) by one step (MODEL.md "One step, in this order").
/// `step` is the 0-based step index; the step covers days [step * step_days, (step+1) * step_days).
///
/// Every lane does exactly what the one-path model does: data-dependent branches are
/// computed both ways and selected, branches on parameters are ordinary `if`s. `N = 1` is
/// the scalar reference; lane `i` of any `N` gives the same bits (`engine::cpu` tests).
#[inline(always)]
pub fn step<const N: usize>(
    p: &Params,
    s: &mut LaneState<N>,
    key: [u32; 2],
    paths: &[u64; N],
    step: u32,
) {
    let day0 = step as f64 * p.step_days;
    let day1 = day0 + p.step_days;
    let zero = F64s::<N>::splat(0.0);

    // Draws: one Philox call for the four normals, one for the four event uniforms.
    let (market_words, event_words) = draw_two_streams_lanes(
        key,
        paths,
        step,
        [stream::MARKET_NORMALS, stream::EVENT_UNIFORMS],
    );
    let (e1, e2) = box_muller_lanes(&market_words[0], &market_words[1]);
    let (e3, z_price_jump) = box_muller_lanes(&market_words[2], &market_words[3]);

    // 0. Governance: changes whose enactment day falls in this step take effect, in list
    // order (so, of changes enacted together, the later listed wins a key both set; of
    // changes enacted apart, the later enacted). Uncertain changes draw their day at step 0.
    let governance = &p.governance[..p.n_governance as usize];
    if step == 0 && !governance.is_empty() {
        draw_uncertain(p, s, key, paths);
    }
    for (c, g) in governance.iter().enumerate() {
        let due = s.gov_due[c];
        let now = due.ge(day0).and(due.lt(day1));
        if now.any() {
            enact(s, g, now);
        }
    }

    // 1. Regime: calm switches to stress with p_calm_to_stress, stress to calm with
    // p_stress_to_calm.
    let u_regime = uniform_open_lanes(&event_words[0]);
    let was_stressed = s.regime.gt(0.5);
    let switch_threshold = was_stressed.select(p.p_stress_to_calm, p.p_calm_to_stress);
    s.regime = u_regime
        .lt(switch_threshold)
        .select(1.0 - s.regime, s.regime);
    let stressed = s.regime.gt(0.5);
    let (calm, stress) = (&p.regime[0], &p.regime[1]);
    let drift_dt = stressed.select(stress.drift_dt, calm.drift_dt);
    let vol_sqrt_dt = stressed.select(stress.vol_sqrt_dt, calm.vol_sqrt_dt);
    let jump_lambda = stressed.select(stress.jump_lambda, calm.jump_lambda);
    let exp_neg_jump_lambda = stressed.select(stress.exp_neg_jump_lambda, calm.exp_neg_jump_lambda);

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

    // 4. Emission, split. Under bonded_inflation the inflation first moves toward the
    // bonded-ratio goal (the Cosmos SDK mint rule); under the other kinds it is annual_rate.
    let circulating0 = s.issued - s.burned;
    let bonded_kind = s
        .policy
        .emission_kind
        .eq(emission_kind::BONDED_INFLATION as f64);
    s.inflation = if bonded_kind.any() {
        let bonded = s.staked / circulating0;
        let moved = (s.inflation
            + (1.0 - bonded / s.policy.goal_bonded) * s.policy.inflation_rate_change * p.dt)
            .clamp(s.policy.inflation_min, s.policy.inflation_max);
        bonded_kind.select(moved, s.policy.annual_rate)
    } else {
        s.policy.annual_rate
    };
    let emitted = emission_lanes(p, s, circulating0, day0, locked_vesting(p, day0));
    let e_providers = emitted * s.policy.split_providers;
    let e_stakers = emitted * s.policy.split_stakers;
    let e_treasury = emitted * s.policy.split_treasury;
    s.issued += emitted;
    s.minted += emitted;

    // 5. Vesting unlocks (issued when unlocked); a share of each tranche is sold.
    let mut vesting_sold = 0.0;
    for tr in &p.vesting[..p.n_vesting as usize] {
        let unlocked = vested_by(tr.amount, tr.cliff_days, tr.linear_days, day1)
            - vested_by(tr.amount, tr.cliff_days, tr.linear_days, day0);
        s.issued += unlocked;
        s.minted += unlocked;
        s.vested += unlocked;
        vesting_sold += unlocked * tr.sell_fraction;
    }

    // 6. Payments and burns (all in USD this step). A buyback buys like revenue_burn but
    // does not burn: the tokens go to the treasury or the stakers.
    let is_bme = s.policy.burn_kind.eq(burn_kind::BME as f64);
    let is_buyback = s.policy.burn_kind.eq(burn_kind::BUYBACK as f64);
    let is_share = s
        .policy
        .burn_kind
        .eq(burn_kind::REVENUE_BURN as f64)
        .or(is_buyback);
    let burn_usd = is_bme.select(
        served * (1.0 - s.policy.burn_fee),
        is_share.select(served * s.policy.burn_fraction, zero),
    );
    let provider_fee_usd = is_bme.select(
        zero,
        is_share.select(served * (1.0 - s.policy.burn_fraction), served),
    );
    // Paying in the token means users buy it; paying in stablecoins, only burns buy it.
    let user_buy_usd = if p.pay_in_token { served } else { burn_usd };
    // Providers paid in tokens sell `fee_sell` of them; paid in stablecoins they sell none.
    let provider_fee_sell_usd = if p.pay_in_token {
        provider_fee_usd * p.fee_sell
    } else {
        zero
    };
    // Burns cannot take more than the liquid float, so staked <= circulating always holds.
    let liquid = (s.issued - s.burned - s.staked).max(0.0);
    let bought = (burn_usd / price).min(liquid);
    s.burned += is_buyback.select(zero, bought);
    // The treasury resells `treasury_sell` of its buyback one step later (section 9).
    let treasury_resell_now = s.treasury_resell;
    if is_buyback.any() {
        let to_stakers = s.policy.buyback_to_stakers.gt(0.5);
        let kept = is_buyback.select(bought, zero);
        s.staked += to_stakers.select(kept, zero);
        s.treasury_resell = to_stakers.select(zero, kept * s.policy.treasury_sell);
    } else {
        s.treasury_resell = zero;
    }

    // 7. Providers: profitability moves capacity; they sell emission to cover costs.
    let emission_value = e_providers * price;
    let revenue = emission_value + provider_fee_usd;
    let provider_cost = capacity * cost * p.step_days;
    let ln_profitability = (revenue.max(REVENUE_FLOOR) / provider_cost).ln();
    s.ln_capacity = (s.ln_capacity
        + (p.entry_speed * ln_profitability.max(0.0)
            - p.exit_speed * (-ln_profitability).max(0.0))
            * p.dt)
        .clamp(p.ln_capacity_floor, p.ln_capacity_cap);
    let sell_fraction = if !p.sell_to_cover_cost {
        F64s::splat(p.sell_fixed)
    } else {
        let covering = (provider_cost / emission_value).clamp(p.sell_min, 1.0);
        emission_value.gt(0.0).select(covering, 0.0)
    };
    let provider_sell_usd = sell_fraction * emission_value + provider_fee_sell_usd;

    // 8. Staking: the target falls with the drawdown (panic); stakers' emission is staked.
    s.running_max_price = s.running_max_price.max(price);
    let drawdown = 1.0 - price / s.running_max_price;
    let target_fraction =
        s.policy.stake_target * (1.0 - s.policy.stake_panic * drawdown).clamp(0.0, 1.0);
    let circulating = s.issued - s.burned;
    s.staked += e_stakers;
    let stake_change = (target_fraction * circulating - s.staked) * s.policy.stake_relax;
    s.staked += stake_change;
    let unstake_sell_usd = (-stake_change).max(0.0) * s.policy.unstake_sell * price;
    s.staked = s.staked.clamp(0.0, circulating);

    // 9. Market: net flow moves the transient pressure X; F follows the market and usage.
    let treasury_sell_usd = e_treasury * s.policy.treasury_sell * price;
    let sell_usd = provider_sell_usd
        + vesting_sold * price
        + unstake_sell_usd
        + treasury_sell_usd
        + treasury_resell_now * price;
    let buy_usd = user_buy_usd;
    let depth_usd = p.depth * price * (circulating - s.staked);
    let net_flow = buy_usd - sell_usd;
    // With depth, impact is proportional and capped; a book with no depth left moves the
    // price by the cap in the direction of any nonzero flow.
    let impact_with_depth = (p.impact * net_flow / depth_usd).clamp(-p.impact_cap, p.impact_cap);
    let impact_without_depth = if p.impact > 0.0 {
        net_flow
            .ne(0.0)
            .select(net_flow.map(|f| p.impact_cap.copysign(f)), 0.0)
    } else {
        zero
    };
    let impact = depth_usd
        .gt(0.0)
        .select(impact_with_depth, impact_without_depth);
    s.flow_pressure = s.flow_pressure * p.impact_decay + impact;
    let price_jumps = poisson_inversion_lanes(
        uniform_open_lanes(&event_words[1]),
        jump_lambda,
        exp_neg_jump_lambda,
    );
    let price_jump = compound_jump(price_jumps, p.jump_mean, p.jump_stdev, z_price_jump);
    let z_price = p.chol[0] * e1;
    s.ln_fundamental += drift_dt
        + vol_sqrt_dt * z_price
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
        zero
    };
    s.ln_demand += p.demand_drift_dt + p.demand_vol_sqrt_dt * z_demand
        - p.churn * (1.0 - served_frac) * p.dt
        + (1.0 - p.price_elasticity) * job_price_change;

    // 11. GPU cost: mean reversion to a deflating long-run level, noise and jumps.
    let z_cost = p.chol[3] * e1 + p.chol[4] * e2 + p.chol[5] * e3;
    let cost_jumps = poisson_inversion_lanes(
        uniform_open_lanes(&event_words[2]),
        F64s::splat(p.cost_jump_lambda),
        F64s::splat(p.exp_neg_cost_jump_lambda),
    );
    let jumped = cost_jumps.gt(0.0);
    // The cost-jump normals are drawn only when some lane jumps (their own Philox stream,
    // so skipping them never shifts another draw).
    let cost_jump = if jumped.any() {
        let w = draw_words_lanes(key, paths, step, stream::COST_JUMP_NORMALS);
        let z = box_muller_lanes(&w[0], &w[1]).0;
        compound_jump(cost_jumps, p.cost_jump_mean, p.cost_jump_stdev, z)
    } else {
        zero
    };
    let ln_cost_bar = p.ln_cost0 - p.cost_deflation * (day1 / 365.0);
    s.ln_cost += p.cost_reversion * (ln_cost_bar - s.ln_cost) * p.dt
        + p.cost_vol_sqrt_dt * z_cost
        + cost_jump;

    // 12. Spiral: price, capacity and demand all well below their own moving averages,
    // for persist_days in a row. Compare with the averages of the past, then update them.
    let condition = s
        .ln_price
        .lt(s.ema_ln_price + p.spiral_ln_price)
        .and(s.ln_capacity.lt(s.ema_ln_capacity + p.spiral_ln_capacity))
        .and(s.ln_demand.lt(s.ema_ln_demand + p.spiral_ln_demand));
    s.spiral_run_days = condition.select(s.spiral_run_days + p.step_days, 0.0);
    let in_spiral = s.spiral_run_days.ge(p.spiral_persist_days);
    s.in_spiral = in_spiral.to_f64s();
    let onset = in_spiral.and(s.ever_spiraled.lt(0.5));
    s.ever_spiraled = onset.select(1.0, s.ever_spiraled);
    s.spiral_day = onset.select(day1 as i32 as f64, s.spiral_day);
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
    let breakeven = s
        .breakeven_day
        .lt(0.0)
        .and(s.trailing_revenue.ge(s.trailing_emission_usd));
    s.breakeven_day = breakeven.select(day1 as i32 as f64, s.breakeven_day);
    s.running_max_price = s.running_max_price.max(end_price);
    s.max_drawdown = s.max_drawdown.max(1.0 - end_price / s.running_max_price);
    s.min_price = s.min_price.min(end_price);
    s.min_ln_capacity = s.min_ln_capacity.min(s.ln_capacity);

    // 13. Governance triggers: conditions on the end-of-step state propose a change, which
    // section 0 enacts `delay_days` later.
    for (c, g) in governance.iter().enumerate() {
        if g.rule == rule::TRIGGERED {
            check_trigger(p, s, c, g, day1);
        }
    }
}

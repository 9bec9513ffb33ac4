//! The `#[repr(C)]` twins of the WGSL structs in `shaders/common/params.wgsl`, and their
//! construction from [`model::Params`](crate::model::Params) (f64 to f32, in one function).
//!
//! Rules (docs/ARCHITECTURE.md, "The GPU engine"): 4-byte scalar fields only (u32/f32/i32),
//! fixed arrays of `[_; 4]` (vec4) or of structs whose size is a multiple of 16 bytes, explicit
//! padding, a compile-time size assertion, and a comment naming the WGSL twin. Field names are
//! the WGSL member names; `tests/shaders_validate.rs` compares every offset from
//! [`GpuParams::layout`] (and friends) with naga's layout of the WGSL struct.

use crate::model::params::{
    burn_kind, emission_kind, GovParams, Params, Policy, MAX_HALVINGS, NEVER,
};
use crate::model::PathState;
use crate::rng::{seed_key, POISSON_MAX};
use crate::scenario::limits::{MAX_GOVERNANCE, MAX_HORIZON_DAYS, MAX_SHOCKS, MAX_VESTING};

/// Defines a `#[repr(C)]` Pod struct and a `layout()` listing (field name, byte offset).
macro_rules! gpu_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty,)* }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name { $($(#[$fm])* pub $f: $t,)* }

        impl $name {
            /// (field name, byte offset) of every field, in declaration order: compared with
            /// the WGSL twin's member offsets by tests/shaders_validate.rs.
            pub fn layout() -> Vec<(&'static str, usize)> {
                vec![$((stringify!($f), std::mem::offset_of!($name, $f)),)*]
            }
        }
    };
}

gpu_struct! {
    /// WGSL twin: `PathState` in shaders/common/params.wgsl. [`PathState`] in f32, bools as
    /// u32, padded to 288 bytes (one per path in the `states` buffer), with the path's
    /// `user_net_buy` coefficient (see [`user_net_buy`]).
    pub struct GpuPathState {
        pub regime: u32,
        pub ln_fundamental: f32,
        pub flow_pressure: f32,
        pub ln_price: f32,
        pub price: f32,
        pub ln_demand: f32,
        pub ln_cost: f32,
        pub ln_capacity: f32,
        pub issued: f32,
        pub burned: f32,
        pub staked: f32,
        pub ln_served_prev: f32,
        pub running_max_price: f32,
        pub ema_ln_price: f32,
        pub ema_ln_capacity: f32,
        pub ema_ln_demand: f32,
        pub spiral_run_days: f32,
        pub in_spiral: u32,
        pub ever_spiraled: u32,
        pub spiral_day: i32,
        pub served_per_day: f32,
        pub emission_usd_per_day: f32,
        pub trailing_emission_usd: f32,
        pub trailing_revenue: f32,
        pub min_price: f32,
        /// 1 - `PathState::max_drawdown`: f32 resolves the ratio, not a drawdown near 1.
        pub min_price_retained: f32,
        pub min_ln_capacity: f32,
        pub minted: f32,
        pub cum_emission_usd: f32,
        pub cum_revenue: f32,
        pub breakeven_day: i32,
        pub vested: f32,
        /// The path's governable values ([`GpuPolicy`]).
        pub policy: GpuPolicy,
        pub inflation: f32,
        pub treasury_resell: f32,
        /// [`user_net_buy`] of the path's policy: the host's f64 value for the base policy,
        /// the kernel's f32 one after a change.
        pub user_net_buy: f32,
        pub _pad0: f32,
        /// `PathState::gov_due` (NEVER as f32), `[c / 4][c % 4]`.
        pub gov_due: [[f32; 4]; MAX_GOVERNANCE / 4],
        pub gov_held: [[f32; 4]; MAX_GOVERNANCE / 4],
    }
}
const _: () = assert!(std::mem::size_of::<GpuPathState>() == 288);

gpu_struct! {
    /// WGSL twin: `Policy` ([`Policy`]).
    pub struct GpuPolicy {
        pub emission_kind: u32,
        pub per_day: f32,
        pub period_days: f32,
        pub annual_rate: f32,
        pub inflation_min: f32,
        pub inflation_max: f32,
        pub inflation_rate_change: f32,
        pub goal_bonded: f32,
        pub split_providers: f32,
        pub split_stakers: f32,
        pub split_treasury: f32,
        pub treasury_sell: f32,
        pub burn_kind: u32,
        pub burn_fee: f32,
        pub burn_fraction: f32,
        pub buyback_to_stakers: u32,
        pub stake_target: f32,
        pub stake_panic: f32,
        pub stake_relax: f32,
        pub unstake_sell: f32,
    }
}
const _: () = assert!(std::mem::size_of::<GpuPolicy>() == 80);

gpu_struct! {
    /// WGSL twin: `Gov` ([`GovParams`]).
    pub struct GpuGov {
        pub rule: u32,
        pub sets: u32,
        /// `probability_words` as an integer: word 0 <= this exactly when the CPU's
        /// `word < probability * 2^32` ([`enact_at_most`]).
        pub enact_at_most: u32,
        pub window_first: u32,
        pub window_span: u32,
        pub conditions: u32,
        /// The counter word of its governance draws (`GovParams::draw_id`).
        pub draw_id: u32,
        pub _pad1: u32,
        pub day: f32,
        pub ln_price_below: f32,
        pub drawdown_above: f32,
        pub staked_fraction_below: f32,
        pub er_ratio_above: f32,
        pub ln_capacity_below: f32,
        pub for_days: f32,
        pub delay_days: f32,
        pub policy: GpuPolicy,
    }
}
const _: () = assert!(std::mem::size_of::<GpuGov>() == 144);

gpu_struct! {
    /// WGSL twin: `Shock` ([`ShockParams`](crate::model::params::ShockParams)).
    pub struct GpuShock {
        pub day: f32,
        pub ln_price: f32,
        pub ln_demand: f32,
        pub ln_cost: f32,
        pub ln_capacity: f32,
        pub _pad0: f32,
        pub _pad1: f32,
        pub _pad2: f32,
    }
}
const _: () = assert!(std::mem::size_of::<GpuShock>() == 32);

gpu_struct! {
    /// WGSL twin: `Tranche` ([`TrancheParams`](crate::model::params::TrancheParams)).
    pub struct GpuTranche {
        pub amount: f32,
        pub cliff_days: f32,
        pub linear_days: f32,
        pub sell_fraction: f32,
    }
}
const _: () = assert!(std::mem::size_of::<GpuTranche>() == 16);

/// Years tabulated for the `schedule` emission: every year a step of the longest horizon can
/// start in (the step's first day is below `MAX_HORIZON_DAYS`), rounded up to whole vec4s.
pub const SCHEDULE_YEARS: usize = (MAX_HORIZON_DAYS as usize).div_ceil(365).div_ceil(4) * 4;

gpu_struct! {
    /// WGSL twin: `Params` in shaders/common/params.wgsl (a uniform buffer). Built by
    /// [`GpuParams::from_params`].
    pub struct GpuParams {
        pub step_days_int: u32,
        pub seed_lo: u32,
        pub seed_hi: u32,
        pub pay_in_token: u32,
        pub n_governance: u32,
        pub quoted_in_token: u32,
        pub sell_to_cover_cost: u32,
        pub n_shocks: u32,
        pub n_vesting: u32,
        pub calm_to_stress_below: u32,
        pub stress_to_calm_below: u32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub _pad2: u32,

        pub step_days: f32,
        pub dt: f32,
        pub max_supply: f32,
        pub fee_sell: f32,
        pub demand_drift_dt: f32,
        pub demand_vol_sqrt_dt: f32,
        pub price_elasticity: f32,
        pub churn: f32,
        pub drift_dt_calm: f32,
        pub drift_dt_stress: f32,
        pub vol_sqrt_dt_calm: f32,
        pub vol_sqrt_dt_stress: f32,
        pub jump_mean: f32,
        pub jump_stdev: f32,
        pub depth: f32,
        pub impact: f32,
        pub impact_cap: f32,
        pub impact_decay: f32,
        pub revenue_beta: f32,
        pub ln_capacity_floor: f32,
        pub ln_capacity_cap: f32,
        pub ln_cost0: f32,
        pub cost_reversion: f32,
        pub cost_vol_sqrt_dt: f32,
        pub cost_deflation: f32,
        pub cost_jump_mean: f32,
        pub cost_jump_stdev: f32,
        pub throughput: f32,
        pub ln_throughput: f32,
        pub entry_speed: f32,
        pub exit_speed: f32,
        pub sell_fixed: f32,
        pub sell_min: f32,
        pub chol_l11: f32,
        pub chol_l21: f32,
        pub chol_l22: f32,
        pub chol_l31: f32,
        pub chol_l32: f32,
        pub chol_l33: f32,
        pub spiral_ln_price: f32,
        pub spiral_ln_capacity: f32,
        pub spiral_ln_demand: f32,
        pub spiral_alpha: f32,
        pub spiral_persist_days: f32,
        pub trailing_alpha: f32,
        pub _pad3: f32,

        pub state0: GpuPathState,
        pub supply_thresholds: [[f32; 4]; MAX_HALVINGS / 4],
        pub schedule_amount: [[f32; 4]; SCHEDULE_YEARS / 4],
        pub price_jump_above: [[u32; 4]; 8],
        pub cost_jump_above: [[u32; 4]; 4],
        pub shocks: [GpuShock; MAX_SHOCKS],
        pub vesting: [GpuTranche; MAX_VESTING],
        pub governance: [GpuGov; MAX_GOVERNANCE],
    }
}
const _: () = assert!(std::mem::size_of::<GpuParams>() == 3168);
const _: () = assert!(std::mem::offset_of!(GpuParams, state0) % 16 == 0);

gpu_struct! {
    /// WGSL twin: `Dispatch` (what one dispatch of `simulate` covers; a uniform buffer).
    pub struct GpuDispatch {
        pub path_lo: u32,
        pub path_hi: u32,
        pub n_paths: u32,
        pub state_offset: u32,
        pub step_begin: u32,
        pub step_end: u32,
        pub rows_in_block: u32,
        pub report_row: u32,
        pub init: u32,
        pub n_reports: u32,
        pub report_every: u32,
        pub steps_total: u32,
    }
}
const _: () = assert!(std::mem::size_of::<GpuDispatch>() == 48);

gpu_struct! {
    /// WGSL twin: `Partial`: count, mean, M2, minimum and maximum of the finite values of one
    /// metric on one report row over the paths of one workgroup slot.
    pub struct GpuPartial {
        pub n: u32,
        pub mean: f32,
        pub m2: f32,
        pub min: f32,
        pub max: f32,
    }
}
const _: () = assert!(std::mem::size_of::<GpuPartial>() == 20);

/// Number of words `w` with `(w + 0.5) / 2^32 < p` (the CPU's `uniform_open(w) < p`), so
/// that `w < words_below(p)` takes exactly the CPU's branch. Saturates at `u32::MAX`: for
/// `p > 1 - 2^-33` the single word `u32::MAX` then differs (probability 2^-32 per draw;
/// p = 1, as `stress_to_calm = 1` or without regimes, gives `u32::MAX`: the GPU then stays
/// in stress on that one word where the CPU leaves it).
pub fn words_below(p: f64) -> u32 {
    // (w + 0.5) * 2^-32 and p * 2^32 are exact in f64, and so is y - 0.5 for y < 2^52.
    saturating_word((p * 4_294_967_296.0 - 0.5).ceil())
}

/// Largest word `w` with `(w + 0.5) / 2^32 <= c`, so that `u > c <=> w > words_at_most(c)`.
/// Saturates at 0: exact unless `c < 2^-33` (a Poisson mean above ~22 per step).
pub fn words_at_most(c: f64) -> u32 {
    saturating_word((c * 4_294_967_296.0 - 0.5).floor())
}

/// A whole number of words as a `u32`: 0 below (or NaN), `u32::MAX` above.
fn saturating_word(w: f64) -> u32 {
    if w.is_nan() || w <= 0.0 {
        0
    } else {
        w.min(u32::MAX as f64) as u32
    }
}

/// Word thresholds of `rng::poisson_inversion` for mean `lambda`: the CDF values the CPU's
/// loop compares with, computed with the same f64 operations in the same order.
pub fn poisson_thresholds(lambda: f64, exp_neg_lambda: f64) -> [u32; POISSON_MAX as usize] {
    let mut out = [0u32; POISSON_MAX as usize];
    let mut p = exp_neg_lambda;
    let mut cdf = p;
    for (k, slot) in out.iter_mut().enumerate() {
        if k > 0 {
            p *= lambda / k as f64;
            cdf += p;
        }
        *slot = words_at_most(cdf);
    }
    out
}

/// `user_buy_usd - provider_fee_sell_usd` of step.rs section 6 per USD served under policy
/// `q`, in f64: the kernel multiplies it by `served` instead of subtracting two nearly equal
/// f32 amounts. (simulate.wgsl `user_net_buy_of_policy` is the same formula in f32, for the
/// policies a path reaches through governance changes.)
pub fn user_net_buy(p: &Params, q: &Policy) -> f64 {
    let (burn_share, fee_share) = match q.burn_kind {
        burn_kind::BME => (1.0 - q.burn_fee, 0.0),
        burn_kind::REVENUE_BURN | burn_kind::BUYBACK => (q.burn_fraction, 1.0 - q.burn_fraction),
        _ => (0.0, 1.0),
    };
    if p.pay_in_token {
        1.0 - fee_share * p.fee_sell
    } else {
        burn_share
    }
}

/// The largest word `w` with `(w as f64) < probability_words` (the CPU's uncertain draw),
/// so that `w <= enact_at_most(..)` takes exactly its branch for every word. Validation keeps
/// probability in (0, 1], so `probability_words` is in (0, 2^32] and the result in range
/// (p = 1 gives `u32::MAX`: every word enacts, as on the CPU).
pub fn enact_at_most(probability_words: f64) -> u32 {
    // probability * 2^32 is exact in f64; w < x for an integer w <=> w <= ceil(x) - 1.
    saturating_word(probability_words.ceil() - 1.0)
}

impl GpuPolicy {
    pub fn from_policy(q: &Policy) -> GpuPolicy {
        let &Policy {
            emission_kind,
            per_day,
            period_days,
            annual_rate,
            inflation_min,
            inflation_max,
            inflation_rate_change,
            goal_bonded,
            split_providers,
            split_stakers,
            split_treasury,
            treasury_sell,
            burn_kind,
            burn_fee,
            burn_fraction,
            buyback_to_stakers,
            stake_target,
            stake_panic,
            stake_relax,
            unstake_sell,
        } = q;
        GpuPolicy {
            emission_kind,
            per_day: per_day as f32,
            period_days: period_days as f32,
            annual_rate: annual_rate as f32,
            inflation_min: inflation_min as f32,
            inflation_max: inflation_max as f32,
            inflation_rate_change: inflation_rate_change as f32,
            goal_bonded: goal_bonded as f32,
            split_providers: split_providers as f32,
            split_stakers: split_stakers as f32,
            split_treasury: split_treasury as f32,
            treasury_sell: treasury_sell as f32,
            burn_kind,
            burn_fee: burn_fee as f32,
            burn_fraction: burn_fraction as f32,
            buyback_to_stakers: buyback_to_stakers as u32,
            stake_target: stake_target as f32,
            stake_panic: stake_panic as f32,
            stake_relax: stake_relax as f32,
            unstake_sell: unstake_sell as f32,
        }
    }

    /// f32 to f64: the inverse of [`GpuPolicy::from_policy`] (to f32 precision).
    pub fn to_policy(&self) -> Policy {
        Policy {
            emission_kind: self.emission_kind,
            per_day: self.per_day as f64,
            period_days: self.period_days as f64,
            annual_rate: self.annual_rate as f64,
            inflation_min: self.inflation_min as f64,
            inflation_max: self.inflation_max as f64,
            inflation_rate_change: self.inflation_rate_change as f64,
            goal_bonded: self.goal_bonded as f64,
            split_providers: self.split_providers as f64,
            split_stakers: self.split_stakers as f64,
            split_treasury: self.split_treasury as f64,
            treasury_sell: self.treasury_sell as f64,
            burn_kind: self.burn_kind,
            burn_fee: self.burn_fee as f64,
            burn_fraction: self.burn_fraction as f64,
            buyback_to_stakers: self.buyback_to_stakers != 0,
            stake_target: self.stake_target as f64,
            stake_panic: self.stake_panic as f64,
            stake_relax: self.stake_relax as f64,
            unstake_sell: self.unstake_sell as f64,
        }
    }
}

impl GpuGov {
    pub fn from_gov(g: &GovParams) -> GpuGov {
        let &GovParams {
            rule,
            day,
            probability_words,
            window_first,
            window_span,
            draw_id,
            conditions,
            ln_price_below,
            drawdown_above,
            staked_fraction_below,
            er_ratio_above,
            ln_capacity_below,
            for_days,
            delay_days,
            sets,
            ref policy,
        } = g;
        GpuGov {
            rule,
            sets,
            enact_at_most: if rule == crate::model::params::rule::UNCERTAIN {
                enact_at_most(probability_words)
            } else {
                0
            },
            window_first,
            window_span,
            conditions,
            draw_id,
            _pad1: 0,
            // NEVER (no day) becomes f32's 1e30, which the kernel's NEVER equals.
            day: day as f32,
            ln_price_below: ln_price_below as f32,
            drawdown_above: drawdown_above as f32,
            staked_fraction_below: staked_fraction_below as f32,
            er_ratio_above: er_ratio_above as f32,
            ln_capacity_below: ln_capacity_below as f32,
            for_days: for_days as f32,
            delay_days: delay_days as f32,
            policy: GpuPolicy::from_policy(policy),
        }
    }
}

/// A per-change f64 array as vec4s of f32, `[c / 4][c % 4]`.
fn gov_vec4s(x: &[f64; MAX_GOVERNANCE]) -> [[f32; 4]; MAX_GOVERNANCE / 4] {
    let mut out = [[0f32; 4]; MAX_GOVERNANCE / 4];
    for (c, &v) in x.iter().enumerate() {
        out[c / 4][c % 4] = v as f32;
    }
    out
}

/// Back to f64; the enactment days are integers (exact) or NEVER, which f32 holds only
/// approximately and which comes back as NEVER itself.
fn gov_f64s(x: &[[f32; 4]; MAX_GOVERNANCE / 4]) -> [f64; MAX_GOVERNANCE] {
    std::array::from_fn(|c| {
        let v = x[c / 4][c % 4];
        if v >= NEVER as f32 {
            NEVER
        } else {
            v as f64
        }
    })
}

fn vec4s<const N: usize>(flat: &[u32; 16]) -> [[u32; 4]; N] {
    let mut out = [[0u32; 4]; N];
    for (k, &w) in flat.iter().enumerate().take(4 * N) {
        out[k / 4][k % 4] = w;
    }
    out
}

impl GpuPathState {
    /// f64 to f32. `PathState` is destructured with no `..`: a field added to the model fails
    /// to compile here until the GPU state carries it. `p` gives the payment terms of the
    /// path's `user_net_buy`.
    pub fn from_state(s: &PathState, p: &Params) -> GpuPathState {
        let &PathState {
            regime,
            ln_fundamental,
            flow_pressure,
            ln_price,
            price,
            ln_demand,
            ln_cost,
            ln_capacity,
            issued,
            burned,
            staked,
            ln_served_prev,
            running_max_price,
            ema_ln_price,
            ema_ln_capacity,
            ema_ln_demand,
            spiral_run_days,
            in_spiral,
            ever_spiraled,
            spiral_day,
            served_per_day,
            emission_usd_per_day,
            trailing_emission_usd,
            trailing_revenue,
            min_price,
            max_drawdown,
            min_ln_capacity,
            minted,
            vested,
            cum_emission_usd,
            cum_revenue,
            breakeven_day,
            ref policy,
            inflation,
            treasury_resell,
            ref gov_due,
            ref gov_held,
        } = s;
        GpuPathState {
            regime,
            ln_fundamental: ln_fundamental as f32,
            flow_pressure: flow_pressure as f32,
            ln_price: ln_price as f32,
            price: price as f32,
            ln_demand: ln_demand as f32,
            ln_cost: ln_cost as f32,
            ln_capacity: ln_capacity as f32,
            issued: issued as f32,
            burned: burned as f32,
            staked: staked as f32,
            ln_served_prev: ln_served_prev as f32,
            running_max_price: running_max_price as f32,
            ema_ln_price: ema_ln_price as f32,
            ema_ln_capacity: ema_ln_capacity as f32,
            ema_ln_demand: ema_ln_demand as f32,
            spiral_run_days: spiral_run_days as f32,
            in_spiral: in_spiral as u32,
            ever_spiraled: ever_spiraled as u32,
            spiral_day,
            served_per_day: served_per_day as f32,
            emission_usd_per_day: emission_usd_per_day as f32,
            trailing_emission_usd: trailing_emission_usd as f32,
            trailing_revenue: trailing_revenue as f32,
            min_price: min_price as f32,
            min_price_retained: (1.0 - max_drawdown) as f32,
            min_ln_capacity: min_ln_capacity as f32,
            minted: minted as f32,
            vested: vested as f32,
            cum_emission_usd: cum_emission_usd as f32,
            cum_revenue: cum_revenue as f32,
            breakeven_day,
            policy: GpuPolicy::from_policy(policy),
            inflation: inflation as f32,
            treasury_resell: treasury_resell as f32,
            user_net_buy: user_net_buy(p, policy) as f32,
            _pad0: 0.0,
            gov_due: gov_vec4s(gov_due),
            gov_held: gov_vec4s(gov_held),
        }
    }

    /// f32 to f64, so [`PathRecord::from_state`](crate::model::PathRecord::from_state) builds
    /// the GPU's records with the CPU's own code (the enactment days included). Every field
    /// comes from the GPU (`user_net_buy` is the kernel's own and has no CPU twin).
    pub fn to_state(&self) -> PathState {
        PathState {
            regime: self.regime,
            ln_fundamental: self.ln_fundamental as f64,
            flow_pressure: self.flow_pressure as f64,
            ln_price: self.ln_price as f64,
            price: self.price as f64,
            ln_demand: self.ln_demand as f64,
            ln_cost: self.ln_cost as f64,
            ln_capacity: self.ln_capacity as f64,
            issued: self.issued as f64,
            burned: self.burned as f64,
            staked: self.staked as f64,
            ln_served_prev: self.ln_served_prev as f64,
            running_max_price: self.running_max_price as f64,
            ema_ln_price: self.ema_ln_price as f64,
            ema_ln_capacity: self.ema_ln_capacity as f64,
            ema_ln_demand: self.ema_ln_demand as f64,
            spiral_run_days: self.spiral_run_days as f64,
            in_spiral: self.in_spiral != 0,
            ever_spiraled: self.ever_spiraled != 0,
            spiral_day: self.spiral_day,
            served_per_day: self.served_per_day as f64,
            emission_usd_per_day: self.emission_usd_per_day as f64,
            trailing_emission_usd: self.trailing_emission_usd as f64,
            trailing_revenue: self.trailing_revenue as f64,
            min_price: self.min_price as f64,
            max_drawdown: 1.0 - self.min_price_retained as f64,
            min_ln_capacity: self.min_ln_capacity as f64,
            minted: self.minted as f64,
            vested: self.vested as f64,
            cum_emission_usd: self.cum_emission_usd as f64,
            cum_revenue: self.cum_revenue as f64,
            breakeven_day: self.breakeven_day,
            policy: self.policy.to_policy(),
            inflation: self.inflation as f64,
            treasury_resell: self.treasury_resell as f64,
            gov_due: gov_f64s(&self.gov_due),
            gov_held: gov_f64s(&self.gov_held),
        }
    }
}

impl GpuParams {
    /// The one place where `model::Params` becomes the kernel's f32 uniform block. `Params`
    /// is destructured field by field, with no `..`: a field added to the model fails to
    /// compile here until it is put into the block or named as reaching the GPU another way
    /// (a host-side table, the initial state, the dispatch plan).
    pub fn from_params(p: &Params, seed: u64) -> GpuParams {
        let &Params {
            // The host cuts the dispatches by step and report row (run.rs).
            steps: _,
            report_every_steps: _,
            step_days,
            dt,
            // Through the initial state (`state0`, PathState::initial in f64).
            price0: _,
            issued0: _,
            burned0: _,
            staked_fraction0: _,
            demand0: _,
            capacity0: _,
            cost0: _,
            max_supply,
            supply_thresholds: ref thresholds,
            // Through the `schedule_amount` table.
            ref yearly,
            n_years,
            decay,
            // `user_net_buy` of the initial state is netted on the host in f64; the kernel
            // nets it in f32 for the policies governance changes give.
            pay_in_token,
            fee_sell,
            quoted_in_token,
            demand_drift_dt,
            demand_vol_sqrt_dt,
            price_elasticity,
            churn,
            ref regime,
            // Through the word thresholds of the regime switch and the jump counts.
            p_calm_to_stress,
            p_stress_to_calm,
            jump_mean,
            jump_stdev,
            depth,
            impact,
            impact_cap,
            impact_decay,
            revenue_beta,
            ln_capacity_floor,
            ln_capacity_cap,
            ln_cost0,
            cost_reversion,
            cost_vol_sqrt_dt,
            cost_deflation,
            cost_jump_lambda,
            exp_neg_cost_jump_lambda,
            cost_jump_mean,
            cost_jump_stdev,
            throughput,
            ln_throughput,
            entry_speed,
            exit_speed,
            sell_to_cover_cost,
            sell_fixed,
            sell_min,
            vesting: ref tranches,
            n_vesting,
            chol,
            spiral_ln_price,
            spiral_ln_capacity,
            spiral_ln_demand,
            spiral_alpha,
            spiral_persist_days,
            shocks: ref shock_params,
            n_shocks,
            trailing_alpha,
            // Through the initial state (each path's policy fields), except the emission
            // kind's `schedule` table (a kind no change can enact mid-run).
            ref policy,
            governance: ref changes,
            n_governance,
        } = p;
        let emission_kind = policy.emission_kind;
        let key = seed_key(seed);
        let mut schedule_amount = [[0f32; 4]; SCHEDULE_YEARS / 4];
        if emission_kind == emission_kind::SCHEDULE && n_years > 0 {
            // emission_tokens' `amount` for each year, with the same f64 operations.
            for year in 0..SCHEDULE_YEARS as u32 {
                let amount = if year < n_years {
                    yearly[year as usize]
                } else {
                    yearly[n_years as usize - 1] * decay.powi((year - n_years + 1) as i32)
                };
                schedule_amount[year as usize / 4][year as usize % 4] = amount as f32;
            }
        }
        let mut supply_thresholds = [[0f32; 4]; MAX_HALVINGS / 4];
        for (n, &x) in thresholds.iter().enumerate() {
            supply_thresholds[n / 4][n % 4] = x as f32;
        }
        let mut price_jump_flat = [[0u32; 16]; 2];
        for (r, flat) in price_jump_flat.iter_mut().enumerate() {
            *flat = poisson_thresholds(regime[r].jump_lambda, regime[r].exp_neg_jump_lambda);
        }
        let calm: [[u32; 4]; 4] = vec4s(&price_jump_flat[0]);
        let stress: [[u32; 4]; 4] = vec4s(&price_jump_flat[1]);
        let mut price_jump_above = [[0u32; 4]; 8];
        price_jump_above[..4].copy_from_slice(&calm);
        price_jump_above[4..].copy_from_slice(&stress);
        let cost_jump_above = vec4s(&poisson_thresholds(
            cost_jump_lambda,
            exp_neg_cost_jump_lambda,
        ));
        let mut shocks = [GpuShock::zeroed(); MAX_SHOCKS];
        for (g, sh) in shocks.iter_mut().zip(&shock_params[..n_shocks as usize]) {
            *g = GpuShock {
                day: sh.day as f32,
                ln_price: sh.ln_price as f32,
                ln_demand: sh.ln_demand as f32,
                ln_cost: sh.ln_cost as f32,
                ln_capacity: sh.ln_capacity as f32,
                _pad0: 0.0,
                _pad1: 0.0,
                _pad2: 0.0,
            };
        }
        let mut vesting = [GpuTranche::zeroed(); MAX_VESTING];
        for (g, tr) in vesting.iter_mut().zip(&tranches[..n_vesting as usize]) {
            *g = GpuTranche {
                amount: tr.amount as f32,
                cliff_days: tr.cliff_days as f32,
                linear_days: tr.linear_days as f32,
                sell_fraction: tr.sell_fraction as f32,
            };
        }
        let mut governance = [GpuGov::zeroed(); MAX_GOVERNANCE];
        for (g, c) in governance.iter_mut().zip(&changes[..n_governance as usize]) {
            *g = GpuGov::from_gov(c);
        }
        let [l11, l21, l22, l31, l32, l33] = chol.map(|x| x as f32);
        GpuParams {
            step_days_int: step_days as u32,
            seed_lo: key[0],
            seed_hi: key[1],
            pay_in_token: pay_in_token as u32,
            n_governance,
            quoted_in_token: quoted_in_token as u32,
            sell_to_cover_cost: sell_to_cover_cost as u32,
            n_shocks,
            n_vesting,
            calm_to_stress_below: words_below(p_calm_to_stress),
            stress_to_calm_below: words_below(p_stress_to_calm),
            _pad0: 0,
            _pad1: 0,
            _pad2: 0,
            step_days: step_days as f32,
            dt: dt as f32,
            max_supply: max_supply as f32,
            fee_sell: fee_sell as f32,
            demand_drift_dt: demand_drift_dt as f32,
            demand_vol_sqrt_dt: demand_vol_sqrt_dt as f32,
            price_elasticity: price_elasticity as f32,
            churn: churn as f32,
            drift_dt_calm: regime[0].drift_dt as f32,
            drift_dt_stress: regime[1].drift_dt as f32,
            vol_sqrt_dt_calm: regime[0].vol_sqrt_dt as f32,
            vol_sqrt_dt_stress: regime[1].vol_sqrt_dt as f32,
            jump_mean: jump_mean as f32,
            jump_stdev: jump_stdev as f32,
            depth: depth as f32,
            impact: impact as f32,
            impact_cap: impact_cap as f32,
            impact_decay: impact_decay as f32,
            revenue_beta: revenue_beta as f32,
            ln_capacity_floor: ln_capacity_floor as f32,
            ln_capacity_cap: ln_capacity_cap as f32,
            ln_cost0: ln_cost0 as f32,
            cost_reversion: cost_reversion as f32,
            cost_vol_sqrt_dt: cost_vol_sqrt_dt as f32,
            cost_deflation: cost_deflation as f32,
            cost_jump_mean: cost_jump_mean as f32,
            cost_jump_stdev: cost_jump_stdev as f32,
            throughput: throughput as f32,
            ln_throughput: ln_throughput as f32,
            entry_speed: entry_speed as f32,
            exit_speed: exit_speed as f32,
            sell_fixed: sell_fixed as f32,
            sell_min: sell_min as f32,
            chol_l11: l11,
            chol_l21: l21,
            chol_l22: l22,
            chol_l31: l31,
            chol_l32: l32,
            chol_l33: l33,
            spiral_ln_price: spiral_ln_price as f32,
            spiral_ln_capacity: spiral_ln_capacity as f32,
            spiral_ln_demand: spiral_ln_demand as f32,
            spiral_alpha: spiral_alpha as f32,
            spiral_persist_days: spiral_persist_days as f32,
            trailing_alpha: trailing_alpha as f32,
            _pad3: 0.0,
            state0: GpuPathState::from_state(&PathState::initial(p), p),
            supply_thresholds,
            schedule_amount,
            price_jump_above,
            cost_jump_above,
            shocks,
            vesting,
            governance,
        }
    }
}

use bytemuck::Zeroable;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{poisson_inversion, uniform_open};

    /// `w <= enact_at_most` is the CPU's uncertain-change decision `(w as f64) <
    /// probability * 2^32` for words on and around the threshold, p = 1 included.
    #[test]
    fn enact_threshold_matches_cpu_decision() {
        for p in [1e-12, 2.3283064365386963e-10, 0.25, 0.6, 0.999_999_999, 1.0] {
            let words = p * 4_294_967_296.0;
            let t = enact_at_most(words);
            for w in [0, 1, t.saturating_sub(1), t, t.saturating_add(1), u32::MAX] {
                assert_eq!(w <= t, (w as f64) < words, "p {p} w {w} t {t}");
            }
        }
    }

    /// A state survives f64 -> f32 -> f64 (to f32 precision), NEVER and the policy included.
    #[test]
    fn state_round_trip_keeps_every_field() {
        let preset = crate::scenario::preset("bittensor_halving").unwrap();
        let s = crate::scenario::parse(preset.toml, preset.file).unwrap();
        let p = Params::compile(&s);
        let mut st = PathState::initial(&p);
        st.gov_due[1] = 180.0;
        st.gov_held[2] = 14.0;
        st.policy.buyback_to_stakers = true;
        st.treasury_resell = 12.5;
        let back = GpuPathState::from_state(&st, &p).to_state();
        assert_eq!(back.gov_due[0], NEVER);
        assert_eq!(back.gov_due[1], 180.0);
        assert_eq!(back.gov_held[2], 14.0);
        assert_eq!(back.policy.emission_kind, st.policy.emission_kind);
        assert!(back.policy.buyback_to_stakers);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(b.abs());
        assert!(close(back.treasury_resell, 12.5));
        assert!(close(back.price, st.price) && close(back.staked, st.staked));
        assert!(
            close(back.policy.stake_relax, st.policy.stake_relax)
                && close(back.inflation, st.inflation)
        );
    }

    /// The word thresholds take the CPU's branch for words on and around every threshold.
    #[test]
    fn thresholds_match_cpu_decisions() {
        for p in [0.0, 1e-12, 0.004, 0.03, 0.5, 0.999_999] {
            let t = words_below(p);
            for w in [
                t.saturating_sub(2),
                t.saturating_sub(1),
                t,
                t.saturating_add(1),
                0,
                u32::MAX - 1,
            ] {
                assert_eq!(w < t, uniform_open(w) < p, "p {p} w {w} t {t}");
            }
        }
        for lambda in [0.0f64, 1e-4, 0.0329, 0.5, 3.0, 12.0] {
            let e = (-lambda).exp();
            let th = poisson_thresholds(lambda, e);
            for &t in &th {
                for w in [
                    t.saturating_sub(1),
                    t,
                    t.saturating_add(1),
                    0,
                    12345,
                    u32::MAX - 1,
                ] {
                    let cpu = poisson_inversion(uniform_open(w), lambda, e);
                    let mut k = 0;
                    while k < POISSON_MAX && w > th[k as usize] {
                        k += 1;
                    }
                    assert_eq!(k, cpu, "lambda {lambda} w {w}");
                }
            }
        }
    }
}

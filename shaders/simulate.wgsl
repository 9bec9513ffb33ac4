// The simulation kernel: one path per invocation, its state in registers (f32), looping over
// the steps of one dispatch. `step` mirrors `src/model/step.rs` line by line, with the same
// names and the same numbered sections (MODEL.md "One step, in this order"): read them side
// by side. Where the two differ on purpose, the comment says why.
//
// WGSL has no #include: `src/engine/gpu/shaders.rs` prepends common/params.wgsl and
// common/philox.wgsl to this file (`concat!(include_str!(..), ..)`).
//
// A dispatch runs the steps up to the next report row at most (the host batches the
// dispatches of many rows into one submission). Why: the row's workgroup reduction needs
// barriers, and a barrier inside the step loop cost 4x on lavapipe (llvmpipe runs shaders with
// barriers as coroutines and spills whatever lives across one); after the loop only the 12
// observed values cross it.
//
// Behind TOKENRISK_GPU_KERNEL (off by default; docs/ARCHITECTURE.md, "The GPU engine"), other
// entry points of this module: `simulate_preagg` (the split kernel with one histogram atomic
// per distinct bucket of a workgroup instead of one per path), `simulate_fused` and
// `simulate_fused_preagg` (a dispatch holds several report rows, reported inside the step
// loop, so the path state is loaded and stored once per dispatch rather than once per row;
// `fold_rows` in fold.wgsl folds their partials). The default `simulate` is unchanged by them.
//
// Outputs, for the report row at the end of the dispatch (row 0, the initial state, is added
// by the host: it is the same for every path):
// - `partials`: per (workgroup, metric) count / mean / M2 / min / max of the finite values,
//   reduced over the workgroup's WG_SIZE paths in workgroup memory; the `fold` stage
//   (fold.wgsl), run after each reporting dispatch, merges them (Chan et al.) into
//   `block_moments`, WG_SIZE lanes per (row, metric), which the host clears per row block,
//   reads back and merges in f64;
// - `hist`: per (row, metric) dense histogram with the absolute bucket indices of
//   `stats::bucket_index`, filled with atomicAdd (one atomic per workgroup when all of its
//   paths fall in the same bucket, as deterministic and 0/1 metrics usually do);
// - `states`: the path state, stored at the end of the dispatch (the next dispatch of these
//   paths continues from it; after the last step it is the per-path record).

const WG_SIZE: u32 = 64u;
const N_METRICS: u32 = 12u;

// Histogram layout of one (row, metric): [positive: HIST_SIGN_SLOTS][negative:
// HIST_SIGN_SLOTS][zero][non-finite][underflow: non-zero magnitudes below MIN_TRACKED, read as
// zero and counted as out of range, `LogHistogram::underflow`]. Slot j of a sign holds bucket index HIST_MIN_INDEX + j;
// the last slot (j = HIST_SIGN_SLOTS - 1, index MAX_INDEX + 1) holds magnitudes above
// MAX_TRACKED, which `LogHistogram::add_count_at_index` clamps and counts as clamped.
const HIST_MIN_INDEX: i32 = -2763;
const HIST_MAX_INDEX: i32 = 4145;
const HIST_SIGN_SLOTS: u32 = u32(HIST_MAX_INDEX - HIST_MIN_INDEX + 2);
const HIST_ZERO: u32 = 2u * HIST_SIGN_SLOTS;
const HIST_NONFINITE: u32 = HIST_ZERO + 1u;
const HIST_UNDERFLOW: u32 = HIST_ZERO + 2u;
const HIST_STRIDE: u32 = HIST_ZERO + 3u;
const MIN_TRACKED: f32 = 1e-12;
const MAX_TRACKED: f32 = 1e18;
// stats::histogram::INV_LN_GAMMA. The index is computed in f32: a magnitude within ~1e-6
// (relative) of a bucket boundary can land in the neighbouring bucket, which moves a quantile
// by one bucket (0.5% relative accuracy becomes at most ~1%) and never changes a count.
const INV_LN_GAMMA: f32 = 99.99916666111281;

// ln(1e-300): the CPU floors provider revenue at 1e-300 before taking the log; f32 cannot
// hold 1e-300 but can hold its log.
const LN_REVENUE_FLOOR: f32 = -690.7755278982137;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> dp: Dispatch;
@group(0) @binding(2) var<storage, read_write> states: array<PathState>;
@group(0) @binding(3) var<storage, read_write> partials: array<Partial>;
@group(0) @binding(4) var<storage, read_write> hist: array<atomic<u32>>;
// Per (row of the block, metric, lane): the workgroup partials folded over the block's
// dispatches, WG_SIZE lanes per (row, metric) so `fold` needs no barrier or atomic.
@group(0) @binding(5) var<storage, read_write> block_moments: array<Partial>;

// The state of this invocation's path (`s` in step.rs).
var<private> s: PathState;

// Workgroup reduction scratch: 4 * N_METRICS columns of WG_SIZE values (sum, count, min slot,
// max slot); the second phase reuses the first 3 * N_METRICS columns for the squared
// deviations, minima and maxima.
const F32_BIG: f32 = 3.0e38;
var<workgroup> red_in: array<f32, 4u * N_METRICS * WG_SIZE>;
var<workgroup> red_out: array<f32, 4u * N_METRICS>;

// 2^-n exactly (ldexp is exact; exp2 need not be on every GPU).
fn pow2_neg(n: u32) -> f32 {
    return ldexp(1.0, -i32(n));
}

// Params::supply_thresholds[n].
fn supply_threshold(n: u32) -> f32 {
    return params.supply_thresholds[n / 4u][n % 4u];
}

// step.rs `supply_era`.
fn supply_era(issued: f32) -> u32 {
    var era = 0u;
    while (era < MAX_HALVINGS && issued >= supply_threshold(era)) {
        era += 1u;
    }
    return era;
}

// floor(day / period_days) of step.rs `halving_by_time`. GPU division is not correctly
// rounded (2.5 ulp), so a day exactly on a period boundary is corrected with exact products.
fn time_era(day: f32, period_days: f32) -> f32 {
    var era = floor(day / period_days);
    if ((era + 1.0) * period_days <= day) {
        era += 1.0;
    }
    if (era > 0.0 && era * period_days > day) {
        era -= 1.0;
    }
    return era;
}

// step.rs `emission_tokens`: tokens emitted in the step starting at `day0`, before the split,
// under the path's rule (`EmissionRule`: s.policy.emission_kind, s.policy.per_day, s.policy.period_days, s.inflation).
// `day0_int` is the same day as an integer (schedule years are counted without f32 division).
// `reserved` is supply kept under the cap for vesting still locked (step.rs `locked_vesting`).
fn emission_tokens(issued: f32, circulating: f32, day0: f32, day0_int: u32, reserved: f32) -> f32 {
    var e = 0.0;
    switch (s.policy.emission_kind) {
        case EMISSION_HALVING_BY_SUPPLY: {
            let first_era = supply_era(issued);
            var remaining_days = params.step_days;
            var at = issued;
            var minted = 0.0;
            // Bounded: a step crosses at most a few halvings.
            for (var era = first_era; era < min(first_era + 8u, MAX_HALVINGS); era++) {
                if (remaining_days <= 0.0) {
                    break;
                }
                let rate = s.policy.per_day * pow2_neg(era);
                let next_threshold = supply_threshold(era);
                let room = next_threshold - at;
                if (rate * remaining_days <= room) {
                    minted += rate * remaining_days;
                    break;
                }
                minted += room;
                remaining_days -= room / rate;
                at = next_threshold;
            }
            e = minted;
        }
        case EMISSION_HALVING_BY_TIME: {
            var day = day0;
            let end = day0 + params.step_days;
            var minted = 0.0;
            for (var i = 0u; i < 8u; i++) {
                if (day >= end) {
                    break;
                }
                let era = time_era(day, s.policy.period_days);
                let boundary = min((era + 1.0) * s.policy.period_days, end);
                minted += ldexp(s.policy.per_day, -i32(min(era, 1000.0))) * (boundary - day);
                day = boundary;
            }
            e = minted;
        }
        case EMISSION_SCHEDULE: {
            // The host tabulates each year's amount (yearly[], then decay) in f64.
            let year = min(day0_int / 365u, 99u);
            let amount = params.schedule_amount[year / 4u][year % 4u];
            e = amount / 365.0 * params.step_days;
        }
        case EMISSION_INFLATION, EMISSION_BONDED_INFLATION: {
            e = s.inflation * circulating / 365.0 * params.step_days;
        }
        default: {
            e = 0.0;
        }
    }
    return max(min(e, params.max_supply - issued - reserved), 0.0);
}

// PathState::gov_due[c] / gov_held[c]. The state's arrays are indexed with constants only and
// the lane picked by a select: a dynamic index into `s` made llvmpipe keep the whole state in
// memory instead of registers (every step ~40% slower, governance or not).
fn gov_lane(v: array<vec4<f32>, MAX_GOVERNANCE / 4u>, c: u32) -> f32 {
    return select(v[0], v[1], c >= 4u)[c % 4u];
}
fn gov_set_lane(v: array<vec4<f32>, MAX_GOVERNANCE / 4u>, c: u32, x: f32) -> array<vec4<f32>, MAX_GOVERNANCE / 4u> {
    let lane = vec4<u32>(0u, 1u, 2u, 3u) == vec4<u32>(c % 4u);
    let lo = lane & vec4<bool>(c < 4u);
    let hi = lane & vec4<bool>(c >= 4u);
    return array<vec4<f32>, MAX_GOVERNANCE / 4u>(select(v[0], vec4<f32>(x), lo), select(v[1], vec4<f32>(x), hi));
}
fn gov_due(c: u32) -> f32 {
    return gov_lane(s.gov_due, c);
}
fn gov_held(c: u32) -> f32 {
    return gov_lane(s.gov_held, c);
}

// step.rs `draw_uncertain` (section 0 at step 0): the day each uncertain change is enacted
// on, or NEVER, from its own Philox stream (its draw_id, a hash of its name, as the
// counter's step).
// Word 0 enacts it where word <= enact_at_most (the CPU's word < probability * 2^32, exact);
// word 1 picks the day, first + (word * span) >> 32: the high word of the 64-bit product.
fn draw_uncertain(key: vec2<u32>, path_lo: u32, path_hi: u32) {
    for (var c = 0u; c < params.n_governance; c++) {
        if (params.governance[c].rule != RULE_UNCERTAIN) {
            continue;
        }
        let w = draw_words(key, path_lo, path_hi, params.governance[c].draw_id, STREAM_GOVERNANCE);
        var due = NEVER;
        if (w.x <= params.governance[c].enact_at_most) {
            let offset = mulhilo(w.y, params.governance[c].window_span).x;
            due = f32(params.governance[c].window_first + offset);
        }
        s.gov_due = gov_set_lane(s.gov_due, c, due);
    }
}

// step.rs `enact` (section 0): change c takes effect on this path, key by key.
fn enact(c: u32) {
    let sets = params.governance[c].sets;
    let v = params.governance[c].policy;
    // A switch to bonded_inflation starts its inflation at the change's annual_rate.
    if ((sets & KEY_EMISSION_KIND) != 0u) {
        if (v.emission_kind == EMISSION_BONDED_INFLATION && s.policy.emission_kind != EMISSION_BONDED_INFLATION) {
            s.inflation = v.annual_rate;
        }
        s.policy.emission_kind = v.emission_kind;
    }
    if ((sets & KEY_EMISSION_PER_DAY) != 0u) { s.policy.per_day = v.per_day; }
    if ((sets & KEY_EMISSION_PERIOD_DAYS) != 0u) { s.policy.period_days = v.period_days; }
    if ((sets & KEY_EMISSION_ANNUAL_RATE) != 0u) { s.policy.annual_rate = v.annual_rate; }
    if ((sets & KEY_EMISSION_INFLATION_MIN) != 0u) { s.policy.inflation_min = v.inflation_min; }
    if ((sets & KEY_EMISSION_INFLATION_MAX) != 0u) { s.policy.inflation_max = v.inflation_max; }
    if ((sets & KEY_EMISSION_INFLATION_RATE_CHANGE) != 0u) { s.policy.inflation_rate_change = v.inflation_rate_change; }
    if ((sets & KEY_EMISSION_GOAL_BONDED) != 0u) { s.policy.goal_bonded = v.goal_bonded; }
    if ((sets & KEY_EMISSION_SPLIT) != 0u) {
        s.policy.split_providers = v.split_providers;
        s.policy.split_stakers = v.split_stakers;
        s.policy.split_treasury = v.split_treasury;
    }
    if ((sets & KEY_EMISSION_TREASURY_SELL) != 0u) { s.policy.treasury_sell = v.treasury_sell; }
    if ((sets & KEY_BURN_KIND) != 0u) { s.policy.burn_kind = v.burn_kind; }
    if ((sets & KEY_BURN_FEE) != 0u) { s.policy.burn_fee = v.burn_fee; }
    if ((sets & KEY_BURN_FRACTION) != 0u) { s.policy.burn_fraction = v.burn_fraction; }
    if ((sets & KEY_BURN_DESTINATION) != 0u) { s.policy.buyback_to_stakers = v.buyback_to_stakers; }
    if ((sets & KEY_STAKING_TARGET) != 0u) { s.policy.stake_target = v.stake_target; }
    if ((sets & KEY_STAKING_PANIC) != 0u) { s.policy.stake_panic = v.stake_panic; }
    if ((sets & KEY_STAKING_SPEED) != 0u) { s.policy.stake_relax = v.stake_relax; }
    if ((sets & KEY_STAKING_UNSTAKE_SELL) != 0u) { s.policy.unstake_sell = v.unstake_sell; }
}

// layout.rs `user_net_buy` of the path's policy in f32 (after a change is enacted; the
// initial state carries the host's f64 value). A coefficient of `served`, not a difference of
// two ~served amounts.
fn user_net_buy_of_policy() -> f32 {
    var burn_share = 0.0;
    var fee_share = 1.0;
    if (s.policy.burn_kind == BURN_BME) {
        burn_share = 1.0 - s.policy.burn_fee;
        fee_share = 0.0;
    } else if (s.policy.burn_kind == BURN_REVENUE_BURN || s.policy.burn_kind == BURN_BUYBACK) {
        burn_share = s.policy.burn_fraction;
        fee_share = 1.0 - s.policy.burn_fraction;
    }
    if (params.pay_in_token == 1u) {
        return 1.0 - fee_share * params.fee_sell;
    }
    return burn_share;
}

// step.rs `check_trigger` (section 13): where change c is not yet proposed, its condition on
// the end-of-step state extends or resets the run of days it has held; once the run reaches
// for_days, the change is proposed and enacted delay_days after day1. The thresholds are the
// CPU's (ln of price and capacity levels), compared in f32: a path whose value lies within
// f32 rounding of a threshold can be proposed a step apart on the two engines.
fn check_trigger(c: u32, day1: f32) {
    if (gov_due(c) < NEVER) {
        return;
    }
    let conditions = params.governance[c].conditions;
    var holds = true;
    if ((conditions & TRIGGER_PRICE_BELOW) != 0u) {
        holds = holds && s.ln_price < params.governance[c].ln_price_below;
    }
    if ((conditions & TRIGGER_DRAWDOWN_ABOVE) != 0u) {
        let drawdown = 1.0 - s.price / s.running_max_price;
        holds = holds && drawdown > params.governance[c].drawdown_above;
    }
    if ((conditions & TRIGGER_STAKED_FRACTION_BELOW) != 0u) {
        holds = holds && s.staked / (s.issued - s.burned) < params.governance[c].staked_fraction_below;
    }
    if ((conditions & TRIGGER_ER_RATIO_ABOVE) != 0u) {
        holds = holds && s.trailing_emission_usd / s.trailing_revenue > params.governance[c].er_ratio_above;
    }
    if ((conditions & TRIGGER_CAPACITY_BELOW) != 0u) {
        holds = holds && s.ln_capacity < params.governance[c].ln_capacity_below;
    }
    var held = 0.0;
    if (holds) {
        held = gov_held(c) + params.step_days;
    }
    s.gov_held = gov_set_lane(s.gov_held, c, held);
    if (holds && held >= params.governance[c].for_days) {
        s.gov_due = gov_set_lane(s.gov_due, c, day1 + params.governance[c].delay_days);
    }
}

// step.rs `vested_by`: tokens a tranche has unlocked by `day`.
fn vested_by(tr: Tranche, day: f32) -> f32 {
    if (day <= tr.cliff_days) {
        return 0.0;
    }
    if (tr.linear_days <= 0.0) {
        return tr.amount;
    }
    return tr.amount * min((day - tr.cliff_days) / tr.linear_days, 1.0);
}

// step.rs `locked_vesting`: tokens of all tranches still locked on `day`.
fn locked_vesting(day: f32) -> f32 {
    var locked = 0.0;
    for (var i = 0u; i < params.n_vesting; i++) {
        let tr = params.vesting[i];
        locked += tr.amount - vested_by(tr, day);
    }
    return locked;
}

// vested_by(day1) - vested_by(day0) of step.rs for one tranche: the same quantity, computed as
// the overlap of the step with the unlock window, so that f32 never subtracts two large,
// nearly equal unlocked totals.
fn vested_in_step(tr: Tranche, day0: f32, day1: f32) -> f32 {
    if (tr.linear_days <= 0.0) {
        return select(0.0, tr.amount, day0 <= tr.cliff_days && day1 > tr.cliff_days);
    }
    let start = max(day0, tr.cliff_days);
    let end = min(day1, tr.cliff_days + tr.linear_days);
    return tr.amount * (max(end - start, 0.0) / tr.linear_days);
}

// rng::poisson_inversion on a raw word: the CPU's loop continues while u > cdf_k; the host
// turned each cdf_k (f64) into the word threshold with u(word) > cdf_k <=> word > threshold.
fn price_jump_count(word: u32, regime: u32) -> u32 {
    var k = 0u;
    loop {
        if (k >= POISSON_MAX) {
            break;
        }
        let row = regime * 4u + k / 4u;
        if (word <= params.price_jump_above[row][k % 4u]) {
            break;
        }
        k += 1u;
    }
    return k;
}

fn cost_jump_count(word: u32) -> u32 {
    var k = 0u;
    loop {
        if (k >= POISSON_MAX) {
            break;
        }
        if (word <= params.cost_jump_above[k / 4u][k % 4u]) {
            break;
        }
        k += 1u;
    }
    return k;
}

// step.rs `step`: advances this invocation's path by one step. `step` is the 0-based step
// index; the step covers days [step * step_days, (step + 1) * step_days).
fn step(key: vec2<u32>, path_lo: u32, path_hi: u32, step: u32) {
    let day0_int = step * params.step_days_int;
    let day0 = f32(day0_int);
    let day1 = day0 + params.step_days;

    // Draws: one Philox call for the four normals, one for the four event uniforms.
    let market_words = draw_words(key, path_lo, path_hi, step, STREAM_MARKET_NORMALS);
    let e12 = box_muller(market_words.x, market_words.y);
    let e3j = box_muller(market_words.z, market_words.w);
    let e1 = e12.x;
    let e2 = e12.y;
    let e3 = e3j.x;
    let z_price_jump = e3j.y;
    let event_words = draw_words(key, path_lo, path_hi, step, STREAM_EVENT_UNIFORMS);

    // 0. Governance: changes whose enactment day falls in this step take effect, in list
    // order (so, of changes enacted together, the later listed wins a key both set; of
    // changes enacted apart, the later enacted). Uncertain changes draw their day at step 0.
    if (params.n_governance > 0u) {
        if (step == 0u) {
            draw_uncertain(key, path_lo, path_hi);
        }
        var enacted = false;
        for (var c = 0u; c < params.n_governance; c++) {
            let due = gov_due(c);
            if (due >= day0 && due < day1) {
                enact(c);
                enacted = true;
            }
        }
        if (enacted) {
            s.user_net_buy = user_net_buy_of_policy();
        }
    }

    // 1. Regime. `u_regime < p` of the CPU is `word < threshold` here (exact, see Params).
    let u_regime_word = event_words.x;
    if (s.regime == 0u) {
        if (u_regime_word < params.calm_to_stress_below) {
            s.regime = 1u;
        }
    } else if (u_regime_word < params.stress_to_calm_below) {
        s.regime = 0u;
    }
    var rg_drift_dt = params.drift_dt_calm;
    var rg_vol_sqrt_dt = params.vol_sqrt_dt_calm;
    if (s.regime == 1u) {
        rg_drift_dt = params.drift_dt_stress;
        rg_vol_sqrt_dt = params.vol_sqrt_dt_stress;
    }

    // 2. Shocks whose day falls in this step. A price shock moves the fundamental level.
    var price = s.price;
    for (var i = 0u; i < params.n_shocks; i++) {
        let sh = params.shocks[i];
        if (sh.day >= day0 && sh.day < day1) {
            s.ln_fundamental += sh.ln_price;
            price = exp(s.ln_fundamental + s.flow_pressure);
            s.ln_demand += sh.ln_demand;
            s.ln_cost += sh.ln_cost;
            s.ln_capacity = clamp(s.ln_capacity + sh.ln_capacity,
                params.ln_capacity_floor, params.ln_capacity_cap);
        }
    }
    let demand = exp(s.ln_demand);
    let capacity = exp(s.ln_capacity);
    let cost = exp(s.ln_cost);

    // 3. Served demand. (ln served = min(ln D, ln K + ln throughput): no logarithm call.)
    let ln_served = min(s.ln_demand, s.ln_capacity + params.ln_throughput);
    let served_per_day = min(demand, capacity * params.throughput);
    let served_frac = served_per_day / demand;
    let served = served_per_day * params.step_days;

    // 4. Emission, split. Under bonded_inflation the inflation first moves toward the
    // bonded-ratio goal (the Cosmos SDK mint rule); under the other kinds it is annual_rate.
    let circulating0 = s.issued - s.burned;
    if (s.policy.emission_kind == EMISSION_BONDED_INFLATION) {
        let bonded = s.staked / circulating0;
        s.inflation = clamp(s.inflation + (1.0 - bonded / s.policy.goal_bonded) * s.policy.inflation_rate_change * params.dt,
            s.policy.inflation_min, s.policy.inflation_max);
    } else {
        s.inflation = s.policy.annual_rate;
    }
    let emitted = emission_tokens(s.issued, circulating0, day0, day0_int, locked_vesting(day0));
    let e_providers = emitted * s.policy.split_providers;
    let e_stakers = emitted * s.policy.split_stakers;
    let e_treasury = emitted * s.policy.split_treasury;
    s.issued += emitted;
    s.minted += emitted;

    // 5. Vesting unlocks (issued when unlocked); a share of each tranche is sold.
    var vesting_sold = 0.0;
    for (var i = 0u; i < params.n_vesting; i++) {
        let tr = params.vesting[i];
        let unlocked = vested_in_step(tr, day0, day1);
        s.issued += unlocked;
        s.minted += unlocked;
        s.vested += unlocked;
        vesting_sold += unlocked * tr.sell_fraction;
    }

    // 6. Payments and burns (all in USD this step). A buyback buys like revenue_burn but
    // does not burn: the tokens go to the treasury or the stakers.
    let is_buyback = s.policy.burn_kind == BURN_BUYBACK;
    var burn_usd = 0.0;
    var provider_fee_usd = served;
    if (s.policy.burn_kind == BURN_BME) {
        burn_usd = served * (1.0 - s.policy.burn_fee);
        provider_fee_usd = 0.0;
    } else if (s.policy.burn_kind == BURN_REVENUE_BURN || is_buyback) {
        burn_usd = served * s.policy.burn_fraction;
        provider_fee_usd = served * (1.0 - s.policy.burn_fraction);
    }
    // Paying in the token means users buy it; paying in stablecoins, only burns buy it.
    // Providers paid in tokens sell `fee_sell` of them; paid in stablecoins they sell none.
    // The GPU nets the two on the host: user_buy_usd - provider_fee_sell_usd =
    // served * user_net_buy. They are equal when providers sell all their fees, and in f32 two
    // ~served terms cancel only to ~1e-7 of served, which against a thin order book (depth
    // far below served, after a crash) moved the price by up to 1%. The coefficient is the
    // path's (its policy's burn kind, fee and fraction), kept in the state (section 0).
    let user_net_buy_usd = served * s.user_net_buy;
    // Burns cannot take more than the liquid float, so staked <= circulating always holds.
    let liquid = max(s.issued - s.burned - s.staked, 0.0);
    let bought = min(burn_usd / price, liquid);
    // The treasury resells `treasury_sell` of its buyback one step later (section 9).
    let treasury_resell_now = s.treasury_resell;
    s.treasury_resell = 0.0;
    if (is_buyback) {
        if (s.policy.buyback_to_stakers == 1u) {
            s.staked += bought;
        } else {
            s.treasury_resell = bought * s.policy.treasury_sell;
        }
    } else {
        s.burned += bought;
    }

    // 7. Providers: profitability moves capacity; they sell emission to cover costs.
    let emission_value = e_providers * price;
    let revenue = emission_value + provider_fee_usd;
    let provider_cost = capacity * cost * params.step_days;
    // ln(max(revenue, 1e-300) / provider_cost) as a difference of logs: the floor and the
    // ratio itself can leave f32's range.
    var ln_revenue = LN_REVENUE_FLOOR;
    if (revenue > 0.0) {
        ln_revenue = log(revenue);
    }
    let ln_profitability = ln_revenue - log(provider_cost);
    s.ln_capacity = clamp(s.ln_capacity
        + (params.entry_speed * max(ln_profitability, 0.0)
            - params.exit_speed * max(-ln_profitability, 0.0))
            * params.dt,
        params.ln_capacity_floor, params.ln_capacity_cap);
    var sell_fraction = params.sell_fixed;
    if (params.sell_to_cover_cost == 1u) {
        if (emission_value > 0.0) {
            sell_fraction = clamp(provider_cost / emission_value, params.sell_min, 1.0);
        } else {
            sell_fraction = 0.0;
        }
    }
    // (+ provider_fee_sell_usd, netted into user_net_buy_usd above)
    let provider_sell_usd = sell_fraction * emission_value;

    // 8. Staking: the target falls with the drawdown (panic); stakers' emission is staked.
    s.running_max_price = max(s.running_max_price, price);
    let drawdown = 1.0 - price / s.running_max_price;
    let target_fraction = s.policy.stake_target * clamp(1.0 - s.policy.stake_panic * drawdown, 0.0, 1.0);
    let circulating = s.issued - s.burned;
    s.staked += e_stakers;
    let stake_change = (target_fraction * circulating - s.staked) * s.policy.stake_relax;
    s.staked += stake_change;
    let unstake_sell_usd = max(-stake_change, 0.0) * s.policy.unstake_sell * price;
    s.staked = clamp(s.staked, 0.0, circulating);

    // 9. Market: net flow moves the transient pressure X; F follows the market and usage.
    let treasury_sell_usd = e_treasury * s.policy.treasury_sell * price;
    let sell_usd = provider_sell_usd + vesting_sold * price + unstake_sell_usd + treasury_sell_usd
        + treasury_resell_now * price;
    let buy_usd = user_net_buy_usd;
    let depth_usd = params.depth * price * (circulating - s.staked);
    let net_flow = buy_usd - sell_usd;
    var impact = 0.0;
    if (depth_usd > 0.0) {
        impact = clamp(params.impact * net_flow / depth_usd, -params.impact_cap, params.impact_cap);
    } else if (net_flow != 0.0 && params.impact > 0.0) {
        impact = select(-params.impact_cap, params.impact_cap, net_flow > 0.0);
    }
    s.flow_pressure = s.flow_pressure * params.impact_decay + impact;
    let price_jumps = price_jump_count(event_words.y, s.regime);
    var price_jump = 0.0;
    if (price_jumps > 0u) {
        let n = f32(price_jumps);
        price_jump = n * params.jump_mean + params.jump_stdev * sqrt(n) * z_price_jump;
    }
    let z_price = params.chol_l11 * e1;
    s.ln_fundamental += rg_drift_dt
        + rg_vol_sqrt_dt * z_price
        + price_jump
        + params.revenue_beta * (ln_served - s.ln_served_prev);
    s.ln_served_prev = ln_served;
    let ln_price_prev = s.ln_price;
    s.ln_price = s.ln_fundamental + s.flow_pressure;

    // 10. Demand: drift, noise, churn of unserved demand, elasticity to the USD job price.
    let z_demand = params.chol_l21 * e1 + params.chol_l22 * e2;
    var job_price_change = 0.0;
    if (params.quoted_in_token == 1u) {
        job_price_change = s.ln_price - ln_price_prev;
    }
    s.ln_demand += params.demand_drift_dt + params.demand_vol_sqrt_dt * z_demand
        - params.churn * (1.0 - served_frac) * params.dt
        + (1.0 - params.price_elasticity) * job_price_change;

    // 11. GPU cost: mean reversion to a deflating long-run level, noise and jumps.
    let z_cost = params.chol_l31 * e1 + params.chol_l32 * e2 + params.chol_l33 * e3;
    let cost_jumps = cost_jump_count(event_words.z);
    var cost_jump = 0.0;
    if (cost_jumps > 0u) {
        let w = draw_words(key, path_lo, path_hi, step, STREAM_COST_JUMP_NORMALS);
        let n = f32(cost_jumps);
        cost_jump = n * params.cost_jump_mean + params.cost_jump_stdev * sqrt(n) * box_muller(w.x, w.y).x;
    }
    let ln_cost_bar = params.ln_cost0 - params.cost_deflation * (day1 / 365.0);
    s.ln_cost += params.cost_reversion * (ln_cost_bar - s.ln_cost) * params.dt
        + params.cost_vol_sqrt_dt * z_cost
        + cost_jump;

    // 12. Spiral: price, capacity and demand all well below their own moving averages,
    // for persist_days in a row. Compare with the averages of the past, then update them.
    let condition = s.ln_price < s.ema_ln_price + params.spiral_ln_price
        && s.ln_capacity < s.ema_ln_capacity + params.spiral_ln_capacity
        && s.ln_demand < s.ema_ln_demand + params.spiral_ln_demand;
    if (condition) {
        s.spiral_run_days = s.spiral_run_days + params.step_days;
    } else {
        s.spiral_run_days = 0.0;
    }
    s.in_spiral = select(0u, 1u, s.spiral_run_days >= params.spiral_persist_days);
    if (s.in_spiral == 1u && s.ever_spiraled == 0u) {
        s.ever_spiraled = 1u;
        s.spiral_day = i32(day1);
    }
    s.ema_ln_price += params.spiral_alpha * (s.ln_price - s.ema_ln_price);
    s.ema_ln_capacity += params.spiral_alpha * (s.ln_capacity - s.ema_ln_capacity);
    s.ema_ln_demand += params.spiral_alpha * (s.ln_demand - s.ema_ln_demand);

    // Measurements: emissions valued at the price they were minted at.
    let end_price = exp(s.ln_price);
    s.price = end_price;
    s.served_per_day = served_per_day;
    s.emission_usd_per_day = emitted * price / params.step_days;
    s.cum_emission_usd += emitted * price;
    s.cum_revenue += served;
    s.trailing_emission_usd += params.trailing_alpha * (s.emission_usd_per_day - s.trailing_emission_usd);
    s.trailing_revenue += params.trailing_alpha * (served_per_day - s.trailing_revenue);
    if (s.breakeven_day < 0 && s.trailing_revenue >= s.trailing_emission_usd) {
        s.breakeven_day = i32(day1);
    }
    s.running_max_price = max(s.running_max_price, end_price);
    // max_drawdown = max(max_drawdown, 1 - end_price / running_max), kept as its complement:
    // f32 cannot resolve drawdowns near 1 (0.999999 vs 0.9999999), the ratio it can.
    s.min_price_retained = min(s.min_price_retained, end_price / s.running_max_price);
    s.min_price = min(s.min_price, end_price);
    s.min_ln_capacity = min(s.min_ln_capacity, s.ln_capacity);

    // 13. Governance triggers: conditions on the end-of-step state propose a change, which
    // section 0 enacts `delay_days` later.
    for (var c = 0u; c < params.n_governance; c++) {
        if (params.governance[c].rule == RULE_TRIGGERED) {
            check_trigger(c, day1);
        }
    }
}

// PathState::observe: the values of step.rs METRICS now.
fn observe() -> array<f32, N_METRICS> {
    let price = s.price;
    let circ = s.issued - s.burned;
    return array<f32, N_METRICS>(
        price,
        price * circ,
        circ,
        exp(s.ln_demand),
        s.served_per_day,
        exp(s.ln_capacity),
        exp(s.ln_cost),
        s.emission_usd_per_day,
        s.trailing_emission_usd / s.trailing_revenue,
        s.staked / circ,
        f32(s.in_spiral),
        f32(s.ever_spiraled),
    );
}

fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// Slot of `x` inside one (row, metric) histogram: the routing of `LogHistogram::add`.
fn hist_slot(x: f32) -> u32 {
    if (!is_finite(x)) {
        return HIST_NONFINITE;
    }
    let m = abs(x);
    if (m < MIN_TRACKED) {
        return select(HIST_ZERO, HIST_UNDERFLOW, m > 0.0);
    }
    var j = HIST_SIGN_SLOTS - 1u;
    if (m <= MAX_TRACKED) {
        let index = clamp(i32(ceil(log(m) * INV_LN_GAMMA)), HIST_MIN_INDEX, HIST_MAX_INDEX);
        j = u32(index - HIST_MIN_INDEX);
    }
    if (x < 0.0) {
        j += HIST_SIGN_SLOTS;
    }
    return j;
}

// Adds this workgroup's values of every metric on report row `row_local` (of the block) to
// `partials` (the N_METRICS entries from `partial_base`) and `hist`. Called by every
// invocation of the workgroup (it has barriers): once per dispatch, after the step loop, by
// the split kernel; at each report step inside the loop by the fused one (which then needs a
// barrier before the next call). Inactive invocations contribute nothing. `preagg`: one
// histogram atomic per distinct slot of the workgroup (the lowest lane holding the slot adds
// their count) instead of one per active path; the counts are the same.
fn report(lid: u32, is_active: bool, n_active: u32, partial_base: u32, row_local: u32, preagg: bool) {
    var v = array<f32, N_METRICS>();
    if (is_active) {
        v = observe();
    }
    var slots = array<u32, N_METRICS>();
    for (var m = 0u; m < N_METRICS; m++) {
        let x = v[m];
        let finite = is_active && is_finite(x);
        slots[m] = hist_slot(x);
        red_in[m * WG_SIZE + lid] = select(0.0, x, finite);
        red_in[(N_METRICS + m) * WG_SIZE + lid] = select(0.0, 1.0, finite);
        red_in[(2u * N_METRICS + m) * WG_SIZE + lid] = select(1.0e9, f32(slots[m]), is_active);
        red_in[(3u * N_METRICS + m) * WG_SIZE + lid] = select(-1.0, f32(slots[m]), is_active);
    }
    workgroupBarrier();
    if (lid < 4u * N_METRICS) {
        let base = lid * WG_SIZE;
        var acc = red_in[base];
        for (var j = 1u; j < WG_SIZE; j++) {
            let y = red_in[base + j];
            if (lid < 2u * N_METRICS) {
                acc += y;
            } else if (lid < 3u * N_METRICS) {
                acc = min(acc, y);
            } else {
                acc = max(acc, y);
            }
        }
        red_out[lid] = acc;
    }
    workgroupBarrier();
    for (var m = 0u; m < N_METRICS; m++) {
        let mean = red_out[m] / max(red_out[N_METRICS + m], 1.0);
        let d = v[m] - mean;
        let finite = is_active && is_finite(v[m]);
        red_in[m * WG_SIZE + lid] = select(0.0, d * d, finite);
        red_in[(N_METRICS + m) * WG_SIZE + lid] = select(F32_BIG, v[m], finite);
        red_in[(2u * N_METRICS + m) * WG_SIZE + lid] = select(-F32_BIG, v[m], finite);
    }
    workgroupBarrier();
    let hist_base = row_local * N_METRICS * HIST_STRIDE;
    if (lid < N_METRICS) {
        let m = lid;
        var m2 = 0.0;
        var lo = F32_BIG;
        var hi = -F32_BIG;
        for (var j = 0u; j < WG_SIZE; j++) {
            m2 += red_in[m * WG_SIZE + j];
            lo = min(lo, red_in[(N_METRICS + m) * WG_SIZE + j]);
            hi = max(hi, red_in[(2u * N_METRICS + m) * WG_SIZE + j]);
        }
        let n = u32(red_out[N_METRICS + m]);
        let mean = red_out[m] / max(red_out[N_METRICS + m], 1.0);
        // Always written (n may be 0): `fold` reads this dispatch's partials only.
        partials[partial_base + m] = Partial(n, mean, m2, lo, hi);
        // Every path of the workgroup in one bucket: one atomic for all of them.
        if (red_out[2u * N_METRICS + m] == red_out[3u * N_METRICS + m]) {
            atomicAdd(&hist[hist_base + m * HIST_STRIDE + u32(red_out[2u * N_METRICS + m])], n_active);
        }
    }
    if (is_active) {
        for (var m = 0u; m < N_METRICS; m++) {
            if (red_out[2u * N_METRICS + m] != red_out[3u * N_METRICS + m]) {
                if (preagg) {
                    // Column 3 * N_METRICS + m still holds every lane's slot (-1 for inactive
                    // lanes): the second phase above reused only the first 3 * N_METRICS.
                    let column = (3u * N_METRICS + m) * WG_SIZE;
                    let mine = red_in[column + lid];
                    var count = 0u;
                    var lowest = true;
                    for (var j = 0u; j < WG_SIZE; j++) {
                        let same = red_in[column + j] == mine;
                        count += select(0u, 1u, same);
                        lowest = lowest && !(same && j < lid);
                    }
                    if (lowest) {
                        atomicAdd(&hist[hist_base + m * HIST_STRIDE + slots[m]], count);
                    }
                } else {
                    atomicAdd(&hist[hist_base + m * HIST_STRIDE + slots[m]], 1u);
                }
            }
        }
    }
    // No trailing barrier: the split kernel reports once, at the end of the dispatch.
}

// The split kernel (default): the steps of one dispatch, then at most one report.
fn split(lid: u32, wid: vec3<u32>, nwg: vec3<u32>, preagg: bool) {
    // 2-D grids linearise to a workgroup index; whole workgroups past the end leave together.
    let wg = wid.x + wid.y * nwg.x;
    let first = wg * WG_SIZE;
    if (first >= dp.n_paths) {
        return;
    }
    let n_active = min(WG_SIZE, dp.n_paths - first);
    let i = first + lid;
    let is_active = lid < n_active;
    if (is_active) {
        // 64-bit path id = (path_hi, path_lo) + i.
        let path_lo = dp.path_lo + i;
        let path_hi = dp.path_hi + select(0u, 1u, path_lo < dp.path_lo);
        let key = vec2<u32>(params.seed_lo, params.seed_hi);
        if (dp.init == 1u) {
            s = params.state0;
        } else {
            s = states[dp.state_offset + i];
        }
        // No barrier inside this loop: the host ends a dispatch at every report row.
        for (var t = dp.step_begin; t < dp.step_end; t++) {
            step(key, path_lo, path_hi, t);
        }
        states[dp.state_offset + i] = s;
    }
    if (dp.report_row != NO_REPORT) {
        report(lid, is_active, n_active, wg * N_METRICS, dp.report_row, preagg);
    }
}

// The fused kernel (TOKENRISK_GPU_KERNEL=fused): the state is loaded and stored once per
// dispatch, and every report step inside the dispatch (up to dp.n_reports of them) reports
// from inside the step loop. The loop and the report condition depend on `dp` only, so the
// barriers stay in uniform control flow; inactive invocations skip the steps but join every
// report. The k-th report of the dispatch writes row dp.report_row + k of the block and the
// partials from (k * workgroups of the dispatch + wg) * N_METRICS (`fold_rows` folds them).
fn fused(lid: u32, wid: vec3<u32>, nwg: vec3<u32>, preagg: bool) {
    let wg = wid.x + wid.y * nwg.x;
    let first = wg * WG_SIZE;
    if (first >= dp.n_paths) {
        return;
    }
    let n_wgs = (dp.n_paths + WG_SIZE - 1u) / WG_SIZE;
    let n_active = min(WG_SIZE, dp.n_paths - first);
    let i = first + lid;
    let is_active = lid < n_active;
    let path_lo = dp.path_lo + i;
    let path_hi = dp.path_hi + select(0u, 1u, path_lo < dp.path_lo);
    let key = vec2<u32>(params.seed_lo, params.seed_hi);
    if (is_active) {
        if (dp.init == 1u) {
            s = params.state0;
        } else {
            s = states[dp.state_offset + i];
        }
    }
    var k = 0u;
    for (var t = dp.step_begin; t < dp.step_end; t++) {
        if (is_active) {
            step(key, path_lo, path_hi, t);
        }
        // Params::is_report_step(t + 1).
        let done = t + 1u;
        if (k < dp.n_reports && (done % dp.report_every == 0u || done == dp.steps_total)) {
            report(lid, is_active, n_active, (k * n_wgs + wg) * N_METRICS, dp.report_row + k, preagg);
            // The next report reuses red_in / red_out.
            workgroupBarrier();
            k += 1u;
        }
    }
    if (is_active) {
        states[dp.state_offset + i] = s;
    }
}

@compute @workgroup_size(WG_SIZE)
fn simulate(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    split(lid, wid, nwg, false);
}

@compute @workgroup_size(WG_SIZE)
fn simulate_preagg(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    split(lid, wid, nwg, true);
}

@compute @workgroup_size(WG_SIZE)
fn simulate_fused(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    fused(lid, wid, nwg, false);
}

@compute @workgroup_size(WG_SIZE)
fn simulate_fused_preagg(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    fused(lid, wid, nwg, true);
}

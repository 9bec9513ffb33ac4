// Shared structs of the GPU engine. Each struct here has a `#[repr(C)]` Rust twin in
// `src/engine/gpu/layout.rs` (named in the comment above it) with the same fields in the same
// order; `tests/shaders_validate.rs` checks every member offset and the sizes with naga's
// layouter, so a field added on one side only fails the tests.
//
// WGSL has no #include: `src/engine/gpu/shaders.rs` concatenates `common/*.wgsl` in front of
// each kernel (`concat!(include_str!(..), ..)`).
//
// Everything is 4-byte scalars, arrays of vec4 or structs whose size is a multiple of 16
// bytes, so the uniform-buffer layout rules (16-byte array strides and struct alignment)
// give exactly the C layout, with explicit padding where needed.

// Numeric codes shared with `model::params::emission_kind` / `burn_kind`.
const EMISSION_NONE: u32 = 0u;
const EMISSION_HALVING_BY_SUPPLY: u32 = 1u;
const EMISSION_HALVING_BY_TIME: u32 = 2u;
const EMISSION_SCHEDULE: u32 = 3u;
const EMISSION_INFLATION: u32 = 4u;
const EMISSION_BONDED_INFLATION: u32 = 5u;

const BURN_NONE: u32 = 0u;
const BURN_BME: u32 = 1u;
const BURN_REVENUE_BURN: u32 = 2u;
const BURN_BUYBACK: u32 = 3u;

// Rules of a governance change (`model::params::rule`) and the bits of `Gov::conditions`
// (`model::params::trigger`).
const RULE_SCHEDULED: u32 = 0u;
const RULE_UNCERTAIN: u32 = 1u;
const RULE_TRIGGERED: u32 = 2u;
const TRIGGER_PRICE_BELOW: u32 = 1u;
const TRIGGER_DRAWDOWN_ABOVE: u32 = 2u;
const TRIGGER_STAKED_FRACTION_BELOW: u32 = 4u;
const TRIGGER_ER_RATIO_ABOVE: u32 = 8u;
const TRIGGER_CAPACITY_BELOW: u32 = 16u;

// Bits of `Gov::sets`: `model::params::key_bit` of each key of `scenario::governance::GOVERNABLE`.
const KEY_EMISSION_KIND: u32 = 1u;
const KEY_EMISSION_PER_DAY: u32 = 2u;
const KEY_EMISSION_PERIOD_DAYS: u32 = 4u;
const KEY_EMISSION_ANNUAL_RATE: u32 = 8u;
const KEY_EMISSION_INFLATION_MIN: u32 = 16u;
const KEY_EMISSION_INFLATION_MAX: u32 = 32u;
const KEY_EMISSION_INFLATION_RATE_CHANGE: u32 = 64u;
const KEY_EMISSION_GOAL_BONDED: u32 = 128u;
const KEY_EMISSION_SPLIT: u32 = 256u;
const KEY_EMISSION_TREASURY_SELL: u32 = 512u;
const KEY_BURN_KIND: u32 = 1024u;
const KEY_BURN_FEE: u32 = 2048u;
const KEY_BURN_FRACTION: u32 = 4096u;
const KEY_BURN_DESTINATION: u32 = 8192u;
const KEY_STAKING_TARGET: u32 = 16384u;
const KEY_STAKING_PANIC: u32 = 32768u;
const KEY_STAKING_SPEED: u32 = 65536u;
const KEY_STAKING_UNSTAKE_SELL: u32 = 131072u;

// The enactment day of a change not (yet) enacted on a path (model::params::NEVER in f32).
const NEVER: f32 = 1e30;

// Halvings tracked by `halving_by_supply` (model::params::MAX_HALVINGS).
const MAX_HALVINGS: u32 = 64u;

// Largest Poisson count (rng::POISSON_MAX).
const POISSON_MAX: u32 = 16u;

// Capacities of the fixed arrays of `Params` (scenario::limits, and the years of the longest
// horizon: engine::gpu::layout::SCHEDULE_YEARS).
const MAX_SHOCKS: u32 = 16u;
const MAX_VESTING: u32 = 8u;
const MAX_GOVERNANCE: u32 = 8u;
const SCHEDULE_YEARS: u32 = 100u;

// Rust twin: `GpuPathState`. `model::PathState` in f32 (bools as u32), padded to 288 bytes;
// max_drawdown is kept as its complement min_price_retained. The governable values (from
// emission_kind to unstake_sell, `model::Policy`) are the path's own, overwritten by each
// change it enacts (simulate.wgsl section 0).
struct PathState {
    regime: u32,
    ln_fundamental: f32,
    flow_pressure: f32,
    ln_price: f32,
    price: f32,
    ln_demand: f32,
    ln_cost: f32,
    ln_capacity: f32,
    issued: f32,
    burned: f32,
    staked: f32,
    ln_served_prev: f32,
    running_max_price: f32,
    ema_ln_price: f32,
    ema_ln_capacity: f32,
    ema_ln_demand: f32,
    spiral_run_days: f32,
    in_spiral: u32,
    ever_spiraled: u32,
    spiral_day: i32,
    served_per_day: f32,
    emission_usd_per_day: f32,
    trailing_emission_usd: f32,
    trailing_revenue: f32,
    min_price: f32,
    // 1 - max_drawdown (PathState::max_drawdown), see step().
    min_price_retained: f32,
    min_ln_capacity: f32,
    minted: f32,
    cum_emission_usd: f32,
    cum_revenue: f32,
    breakeven_day: i32,
    vested: f32,
    // The path's governable values (`Policy`, below).
    policy: Policy,
    inflation: f32,
    treasury_resell: f32,
    // user_buy_usd - provider_fee_sell_usd per USD served (step 6) under this path's policy:
    // netted on the host in f64 for the base policy, recomputed in f32 when a change is
    // enacted (section 0), so the kernel never subtracts two ~served amounts.
    user_net_buy: f32,
    _pad0: f32,
    // Per governance change c: its enactment day (NEVER until known) and the days its trigger
    // has held in a row, [c / 4][c % 4].
    gov_due: array<vec4<f32>, MAX_GOVERNANCE / 4u>,
    gov_held: array<vec4<f32>, MAX_GOVERNANCE / 4u>,
}

// Rust twin: `GpuPolicy` (`model::Policy`): the values a governance change sets.
struct Policy {
    emission_kind: u32,
    per_day: f32,
    period_days: f32,
    annual_rate: f32,
    inflation_min: f32,
    inflation_max: f32,
    inflation_rate_change: f32,
    goal_bonded: f32,
    split_providers: f32,
    split_stakers: f32,
    split_treasury: f32,
    treasury_sell: f32,
    burn_kind: u32,
    burn_fee: f32,
    burn_fraction: f32,
    buyback_to_stakers: u32,
    stake_target: f32,
    stake_panic: f32,
    stake_relax: f32,
    unstake_sell: f32,
}

// Rust twin: `GpuGov` (`model::params::GovParams`): one `[[governance]]` change.
struct Gov {
    rule: u32,
    // Bits KEY_*: the keys it sets.
    sets: u32,
    // RULE_UNCERTAIN: enacted where governance word 0 <= this (the CPU's word <
    // probability * 2^32, as an integer on the host: exact), on day window_first +
    // mulhi(word 1, window_span).
    enact_at_most: u32,
    window_first: u32,
    window_span: u32,
    // RULE_TRIGGERED: bits TRIGGER_* and their thresholds.
    conditions: u32,
    // The counter word of its governance draws (a hash of its name, `GovParams::draw_id`).
    draw_id: u32,
    _pad1: u32,
    // RULE_SCHEDULED: the enactment day.
    day: f32,
    ln_price_below: f32,
    drawdown_above: f32,
    staked_fraction_below: f32,
    er_ratio_above: f32,
    ln_capacity_below: f32,
    for_days: f32,
    delay_days: f32,
    // The changed scenario's values of the keys it sets.
    policy: Policy,
}

// Rust twin: `GpuShock` (`model::params::ShockParams`).
struct Shock {
    day: f32,
    ln_price: f32,
    ln_demand: f32,
    ln_cost: f32,
    ln_capacity: f32,
    _pad0: f32,
    _pad1: f32,
    _pad2: f32,
}

// Rust twin: `GpuTranche` (`model::params::TrancheParams`).
struct Tranche {
    amount: f32,
    cliff_days: f32,
    linear_days: f32,
    sell_fraction: f32,
}

// Rust twin: `GpuParams`, built from `model::Params` by `GpuParams::from_params`.
//
// Discrete decisions compare raw Philox words with integer thresholds computed on the host in
// f64 (`*_below`, `*_above`), so the GPU takes exactly the CPU's branch for the same word.
struct Params {
    step_days_int: u32,
    seed_lo: u32,
    seed_hi: u32,
    pay_in_token: u32,
    n_governance: u32,
    quoted_in_token: u32,
    sell_to_cover_cost: u32,
    n_shocks: u32,
    n_vesting: u32,
    // Regime switch taken when the event word is below this (u < p_calm_to_stress on the CPU).
    calm_to_stress_below: u32,
    stress_to_calm_below: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,

    step_days: f32,
    dt: f32,
    max_supply: f32,
    // Providers paid in tokens sell this share of their fees (with pay_in_token; the
    // kernel uses it only to net user_net_buy when a change is enacted).
    fee_sell: f32,
    demand_drift_dt: f32,
    demand_vol_sqrt_dt: f32,
    price_elasticity: f32,
    churn: f32,
    drift_dt_calm: f32,
    drift_dt_stress: f32,
    vol_sqrt_dt_calm: f32,
    vol_sqrt_dt_stress: f32,
    jump_mean: f32,
    jump_stdev: f32,
    depth: f32,
    impact: f32,
    impact_cap: f32,
    impact_decay: f32,
    revenue_beta: f32,
    ln_capacity_floor: f32,
    ln_capacity_cap: f32,
    ln_cost0: f32,
    cost_reversion: f32,
    cost_vol_sqrt_dt: f32,
    cost_deflation: f32,
    cost_jump_mean: f32,
    cost_jump_stdev: f32,
    throughput: f32,
    ln_throughput: f32,
    entry_speed: f32,
    exit_speed: f32,
    sell_fixed: f32,
    sell_min: f32,
    chol_l11: f32,
    chol_l21: f32,
    chol_l22: f32,
    chol_l31: f32,
    chol_l32: f32,
    chol_l33: f32,
    spiral_ln_price: f32,
    spiral_ln_capacity: f32,
    spiral_ln_demand: f32,
    spiral_alpha: f32,
    spiral_persist_days: f32,
    trailing_alpha: f32,
    _pad3: f32,

    // PathState::initial, computed on the host in f64.
    state0: PathState,
    // `halving_by_supply`: issued amount of halving n + 1 (Params::supply_thresholds), [n / 4][n % 4].
    supply_thresholds: array<vec4<f32>, MAX_HALVINGS / 4u>,
    // `schedule` emission: the amount of year y (yearly[y], then decay per later year),
    // tabulated on the host in f64 for every year a horizon can span: [y / 4][y % 4].
    schedule_amount: array<vec4<f32>, SCHEDULE_YEARS / 4u>,
    // Price-jump count thresholds, regime r, k = 0..POISSON_MAX - 1: [r * 4 + k / 4][k % 4]. The count is
    // the number of k (in order, stopping at the first miss) with word > threshold k.
    price_jump_above: array<vec4<u32>, 2u * POISSON_MAX / 4u>,
    // Same for GPU-cost jumps.
    cost_jump_above: array<vec4<u32>, POISSON_MAX / 4u>,
    shocks: array<Shock, MAX_SHOCKS>,
    vesting: array<Tranche, MAX_VESTING>,
    // Changes 0..n_governance in list order.
    governance: array<Gov, MAX_GOVERNANCE>,
}

// `Dispatch::report_row` of a dispatch that ends between report rows.
const NO_REPORT: u32 = 0xffffffffu;

// Rust twin: `GpuDispatch`. What one dispatch of `simulate` covers: a range of steps that ends
// at most at the next report row, so the row's workgroup reduction (which needs barriers)
// runs once after the step loop rather than inside it; for the fused kernel
// (`simulate_fused*`), a range of steps holding up to n_reports report rows, reported inside
// the loop.
struct Dispatch {
    // Path id of invocation 0 (64-bit, split).
    path_lo: u32,
    path_hi: u32,
    // Paths in this dispatch; invocations past it only join the workgroup reductions.
    n_paths: u32,
    // Index in `states` of invocation 0's path.
    state_offset: u32,
    // Steps t in [step_begin, step_end) are simulated.
    step_begin: u32,
    step_end: u32,
    // Report rows held in `partials` / `hist` (the row block).
    rows_in_block: u32,
    // The report row due after step_end - 1, as an index in the block; NO_REPORT if none.
    report_row: u32,
    // 1: start from params.state0 instead of loading `states`.
    init: u32,
    // Report rows in this dispatch (the fused kernel reports rows report_row ..
    // report_row + n_reports - 1; the split kernel at most one, at its end).
    n_reports: u32,
    // Params::report_every_steps and Params::steps (the fused kernel's report condition).
    report_every: u32,
    steps_total: u32,
}

// Rust twin: `GpuPartial`. Count, mean, M2 (sum of squared deviations), minimum and maximum of
// the finite values of one metric on one report row, for the paths of one workgroup slot
// (the fields of `stats::Moments`).
struct Partial {
    n: u32,
    mean: f32,
    m2: f32,
    min: f32,
    max: f32,
}

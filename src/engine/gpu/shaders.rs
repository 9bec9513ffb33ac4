//! The WGSL sources, as the GPU compiles them.
//!
//! WGSL has no `#include`, so each kernel is the concatenation of the files it needs from
//! `shaders/common/` followed by its own file (`concat!(include_str!(..))`); the shared
//! structs and the Philox generator are therefore written once. tests/shaders_validate.rs
//! parses and validates every entry of [`ALL`] with naga, without a GPU, and compares every
//! WGSL constant with its Rust value ([`shared_constants`]).

/// shaders/common/params.wgsl: the structs shared with `layout.rs`.
pub const COMMON_PARAMS: &str = include_str!("../../../shaders/common/params.wgsl");
/// shaders/common/philox.wgsl: Philox4x32-10, uniforms, Box-Muller.
pub const COMMON_PHILOX: &str = include_str!("../../../shaders/common/philox.wgsl");

/// The simulation kernel (entry points [`SIMULATE_ENTRY`] and [`FOLD_ENTRY`], and the
/// variants below): params + philox + simulate.wgsl + fold.wgsl.
pub const SIMULATE: &str = concat!(
    include_str!("../../../shaders/common/params.wgsl"),
    "\n",
    include_str!("../../../shaders/common/philox.wgsl"),
    "\n",
    include_str!("../../../shaders/simulate.wgsl"),
    "\n",
    include_str!("../../../shaders/fold.wgsl"),
);
pub const SIMULATE_ENTRY: &str = "simulate";
/// Folds one reporting dispatch's workgroup partials into the row block's moments.
pub const FOLD_ENTRY: &str = "fold";
/// The kernels of `TOKENRISK_GPU_KERNEL` (`Settings::kernel_from`, `Budgets::for_adapter`): the split kernel with
/// pre-aggregated histogram atomics; the fused kernel (several report rows per dispatch)
/// without and with them; the fold of a fused dispatch's rows.
pub const SIMULATE_PREAGG_ENTRY: &str = "simulate_preagg";
pub const SIMULATE_FUSED_ENTRY: &str = "simulate_fused";
pub const SIMULATE_FUSED_PREAGG_ENTRY: &str = "simulate_fused_preagg";
pub const FOLD_ROWS_ENTRY: &str = "fold_rows";

/// The random-number check kernel (entry point [`RNG_CHECK_ENTRY`]): philox + rng_check.wgsl.
pub const RNG_CHECK: &str = concat!(
    include_str!("../../../shaders/common/philox.wgsl"),
    "\n",
    include_str!("../../../shaders/rng_check.wgsl"),
);
pub const RNG_CHECK_ENTRY: &str = "rng_check";

/// Every WGSL module as compiled: (name, source, compute entry points, files it is made of).
pub type Module = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);
pub const ALL: &[Module] = &[
    (
        "simulate",
        SIMULATE,
        &[
            SIMULATE_ENTRY,
            FOLD_ENTRY,
            SIMULATE_PREAGG_ENTRY,
            SIMULATE_FUSED_ENTRY,
            SIMULATE_FUSED_PREAGG_ENTRY,
            FOLD_ROWS_ENTRY,
        ],
        &[
            "common/params.wgsl",
            "common/philox.wgsl",
            "simulate.wgsl",
            "fold.wgsl",
        ],
    ),
    (
        "rng_check",
        RNG_CHECK,
        &[RNG_CHECK_ENTRY],
        &["common/philox.wgsl", "rng_check.wgsl"],
    ),
];

/// A constant's value as WGSL types it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    U32(u32),
    I32(i32),
    F32(f32),
}

/// Every WGSL `const` that mirrors a Rust value: (WGSL name, the Rust value, as the shader
/// must hold it). `tests/shaders_validate.rs` evaluates each WGSL constant with naga and
/// compares, and refuses a WGSL constant that is in neither this list nor [`SHADER_ONLY`].
pub fn shared_constants() -> Vec<(&'static str, Value)> {
    use crate::model::params::{
        burn_kind, emission_kind, key_bit, rule, trigger, MAX_HALVINGS, NEVER,
    };
    use crate::model::step::{N_METRICS, REVENUE_FLOOR};
    use crate::rng::{self, stream, POISSON_MAX};
    use crate::scenario::governance::GOVERNABLE;
    use crate::scenario::limits::{MAX_GOVERNANCE, MAX_SHOCKS, MAX_VESTING};
    use crate::stats::histogram::{INV_LN_GAMMA, MAX_INDEX, MAX_TRACKED, MIN_INDEX, MIN_TRACKED};
    use Value::{F32, I32, U32};
    let u = |x: usize| U32(u32::try_from(x).expect("fits a u32"));
    // KEY_EMISSION_KIND for "emission.kind", ...: the bit of each governable key.
    let key_names: &'static [&'static str] = &[
        "KEY_EMISSION_KIND",
        "KEY_EMISSION_PER_DAY",
        "KEY_EMISSION_PERIOD_DAYS",
        "KEY_EMISSION_ANNUAL_RATE",
        "KEY_EMISSION_INFLATION_MIN",
        "KEY_EMISSION_INFLATION_MAX",
        "KEY_EMISSION_INFLATION_RATE_CHANGE",
        "KEY_EMISSION_GOAL_BONDED",
        "KEY_EMISSION_SPLIT",
        "KEY_EMISSION_TREASURY_SELL",
        "KEY_BURN_KIND",
        "KEY_BURN_FEE",
        "KEY_BURN_FRACTION",
        "KEY_BURN_DESTINATION",
        "KEY_STAKING_TARGET",
        "KEY_STAKING_PANIC",
        "KEY_STAKING_SPEED",
        "KEY_STAKING_UNSTAKE_SELL",
    ];
    assert_eq!(
        key_names.len(),
        GOVERNABLE.len(),
        "a KEY_ constant per governable key"
    );
    let keys = key_names.iter().zip(GOVERNABLE).map(|(name, key)| {
        assert_eq!(
            name.strip_prefix("KEY_").unwrap(),
            key.replace('.', "_").to_uppercase(),
            "KEY_ constants in GOVERNABLE order"
        );
        (*name, U32(key_bit(key)))
    });
    let mut out = vec![
        ("EMISSION_NONE", U32(emission_kind::NONE)),
        (
            "EMISSION_HALVING_BY_SUPPLY",
            U32(emission_kind::HALVING_BY_SUPPLY),
        ),
        (
            "EMISSION_HALVING_BY_TIME",
            U32(emission_kind::HALVING_BY_TIME),
        ),
        ("EMISSION_SCHEDULE", U32(emission_kind::SCHEDULE)),
        ("EMISSION_INFLATION", U32(emission_kind::INFLATION)),
        (
            "EMISSION_BONDED_INFLATION",
            U32(emission_kind::BONDED_INFLATION),
        ),
        ("BURN_NONE", U32(burn_kind::NONE)),
        ("BURN_BME", U32(burn_kind::BME)),
        ("BURN_REVENUE_BURN", U32(burn_kind::REVENUE_BURN)),
        ("BURN_BUYBACK", U32(burn_kind::BUYBACK)),
        ("RULE_SCHEDULED", U32(rule::SCHEDULED)),
        ("RULE_UNCERTAIN", U32(rule::UNCERTAIN)),
        ("RULE_TRIGGERED", U32(rule::TRIGGERED)),
        ("TRIGGER_PRICE_BELOW", U32(trigger::PRICE_BELOW)),
        ("TRIGGER_DRAWDOWN_ABOVE", U32(trigger::DRAWDOWN_ABOVE)),
        (
            "TRIGGER_STAKED_FRACTION_BELOW",
            U32(trigger::STAKED_FRACTION_BELOW),
        ),
        ("TRIGGER_ER_RATIO_ABOVE", U32(trigger::ER_RATIO_ABOVE)),
        ("TRIGGER_CAPACITY_BELOW", U32(trigger::CAPACITY_BELOW)),
        ("NEVER", F32(NEVER as f32)),
        ("MAX_GOVERNANCE", u(MAX_GOVERNANCE)),
        ("STREAM_GOVERNANCE", U32(stream::GOVERNANCE)),
        ("MAX_HALVINGS", u(MAX_HALVINGS)),
        ("POISSON_MAX", U32(POISSON_MAX)),
        ("MAX_SHOCKS", u(MAX_SHOCKS)),
        ("MAX_VESTING", u(MAX_VESTING)),
        ("SCHEDULE_YEARS", u(super::layout::SCHEDULE_YEARS)),
        ("NO_REPORT", U32(super::run::NO_REPORT)),
        ("STREAM_MARKET_NORMALS", U32(stream::MARKET_NORMALS)),
        ("STREAM_EVENT_UNIFORMS", U32(stream::EVENT_UNIFORMS)),
        ("STREAM_COST_JUMP_NORMALS", U32(stream::COST_JUMP_NORMALS)),
        ("PHILOX_M0", U32(rng::PHILOX_M0)),
        ("PHILOX_M1", U32(rng::PHILOX_M1)),
        ("PHILOX_W0", U32(rng::PHILOX_W0)),
        ("PHILOX_W1", U32(rng::PHILOX_W1)),
        ("WG_SIZE", u(super::run::WG_SIZE as usize)),
        ("N_METRICS", u(N_METRICS)),
        ("HIST_MIN_INDEX", I32(MIN_INDEX)),
        ("HIST_MAX_INDEX", I32(MAX_INDEX)),
        ("HIST_SIGN_SLOTS", u(super::run::HIST_SIGN_SLOTS)),
        ("HIST_ZERO", u(super::run::HIST_ZERO)),
        ("HIST_NONFINITE", u(super::run::HIST_NONFINITE)),
        ("HIST_UNDERFLOW", u(super::run::HIST_UNDERFLOW)),
        ("HIST_STRIDE", u(super::run::HIST_STRIDE)),
        ("MIN_TRACKED", F32(MIN_TRACKED as f32)),
        ("MAX_TRACKED", F32(MAX_TRACKED as f32)),
        ("INV_LN_GAMMA", F32(INV_LN_GAMMA as f32)),
        ("LN_REVENUE_FLOOR", F32(REVENUE_FLOOR.ln() as f32)),
    ];
    out.extend(keys);
    out
}

/// WGSL constants with no Rust twin, and why.
pub const SHADER_ONLY: &[(&str, &str)] = &[(
    "F32_BIG",
    "a finite stand-in for +-infinity in the f32 min/max reductions",
)];

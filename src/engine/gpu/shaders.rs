//! The WGSL sources, as the GPU compiles them.
//!
//! WGSL has no `#include`, so each kernel is the concatenation of the files it needs from
//! `shaders/common/` followed by its own file (`concat!(include_str!(..))`); the shared
//! structs and the Philox generator are therefore written once. tests/shaders_validate.rs
//! parses and validates every entry of [`ALL`] with naga, without a GPU.

/// shaders/common/params.wgsl: the structs shared with `layout.rs`.
pub const COMMON_PARAMS: &str = include_str!("../../../shaders/common/params.wgsl");
/// shaders/common/philox.wgsl: Philox4x32-10, uniforms, Box-Muller.
pub const COMMON_PHILOX: &str = include_str!("../../../shaders/common/philox.wgsl");

/// The simulation kernel (entry points [`SIMULATE_ENTRY`] and [`FOLD_ENTRY`]): params +
/// philox + simulate.wgsl.
pub const SIMULATE: &str = concat!(
    include_str!("../../../shaders/common/params.wgsl"),
    "\n",
    include_str!("../../../shaders/common/philox.wgsl"),
    "\n",
    include_str!("../../../shaders/simulate.wgsl"),
);
pub const SIMULATE_ENTRY: &str = "simulate";
/// Folds one reporting dispatch's workgroup partials into the row block's moments.
pub const FOLD_ENTRY: &str = "fold";

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
        &[SIMULATE_ENTRY, FOLD_ENTRY],
        &["common/params.wgsl", "common/philox.wgsl", "simulate.wgsl"],
    ),
    (
        "rng_check",
        RNG_CHECK,
        &[RNG_CHECK_ENTRY],
        &["common/philox.wgsl", "rng_check.wgsl"],
    ),
];

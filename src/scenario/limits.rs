//! The limits of the scenario format: how many shocks, tranches and schedule years a
//! scenario may hold (the GPU parameter block has fixed arrays of them) and the longest
//! horizon. Validation enforces them; the model and the GPU layout size their arrays by them.

/// Most deterministic shocks, vesting tranches and schedule years a scenario may hold: the GPU
/// parameter block has fixed-size arrays of these.
pub const MAX_SHOCKS: usize = 16;
pub const MAX_VESTING: usize = 8;
pub const MAX_SCHEDULE_YEARS: usize = 32;
/// Most paths a run may have.
pub const MAX_PATHS: u64 = 4_000_000_000;
/// Largest horizon accepted (100 years of days).
pub const MAX_HORIZON_DAYS: u32 = 36_500;

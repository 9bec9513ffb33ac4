//! The limits of the scenario format: how many shocks, tranches and schedule years a
//! scenario may hold (the GPU parameter block has fixed arrays of them) and the longest
//! horizon. Validation enforces them; the model and the GPU layout size their arrays by them.

/// Most deterministic shocks, vesting tranches and schedule years a scenario may hold: the GPU
/// parameter block has fixed-size arrays of these.
pub const MAX_SHOCKS: usize = 16;
pub const MAX_VESTING: usize = 8;
pub const MAX_SCHEDULE_YEARS: usize = 32;
/// Most `[[governance]]` changes a scenario may hold (the GPU path state has fixed arrays of
/// their enactment days).
pub const MAX_GOVERNANCE: usize = 8;
/// Longest `governance[].name`, in characters: it names a column of `paths.parquet`.
pub const MAX_GOVERNANCE_NAME_CHARS: usize = 40;
/// Most paths a run may have.
pub const MAX_PATHS: u64 = 4_000_000_000;
/// Largest horizon accepted (100 years of days).
pub const MAX_HORIZON_DAYS: u32 = 36_500;

/// Largest scenario (or stress shape) file read: a scenario is a few kilobytes of keys, and
/// its text is copied into every output file, so a larger file is refused before and while
/// reading it.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Longest `scenario.name`, in characters: it names the output folder, and the temp names
/// built from it (`.NAME.PID.N.tmp`) must stay within a file name's 255 bytes.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest `scenario.description`, in characters: it is shown on report pages and in lists.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// Longest other text value (`vesting[i].name`), in characters.
pub const MAX_LABEL_CHARS: usize = 100;
/// Smallest non-zero magnitude (prices, supplies, amounts, demand, capacities, costs,
/// durations): every such input is 0 (where 0 is allowed) or at least this. With the largest
/// magnitudes allowed, the model's products (price x supply, demand / price) and its running
/// sums stay finite and normal in f64 and in the GPU engine's f32.
pub const MIN_MAGNITUDE: f64 = 1e-12;

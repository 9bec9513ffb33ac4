//! What one path leaves behind: its [`PathRecord`] (the columns of `paths.parquet`), built
//! from the final state by both engines with the same function, and [`simulate_path`], the
//! one-lane reference the CPU engine's lane groups must reproduce bit for bit.

use super::{step, LaneState, Params, PathState, N_METRICS};
use crate::scenario::limits::{MAX_GOVERNANCE, MAX_HORIZON_DAYS};

/// One path's results: the columns of `paths.parquet` (ARCHITECTURE.md output contract).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PathRecord {
    pub path: u64,
    pub spiral: bool,
    /// Day the path entered its first spiral, if any.
    pub spiral_day: Option<u32>,
    pub final_price: f64,
    pub min_price: f64,
    pub max_drawdown: f64,
    /// ln(final price / initial price).
    pub log_return: f64,
    pub final_circulating: f64,
    pub final_staked: f64,
    /// Tokens issued over the horizon: `emitted + vested`.
    pub minted: f64,
    /// Of `minted`, the tokens of the emission rule (section 4).
    pub emitted: f64,
    /// Of `minted`, the tokens of vesting unlocks (section 5), the same on every path.
    pub vested: f64,
    /// Tokens burned over the horizon.
    pub burned: f64,
    pub emission_usd: f64,
    pub revenue_usd: f64,
    /// Cumulative emissions USD over cumulative revenue.
    pub er_ratio: f64,
    pub final_capacity: f64,
    pub min_capacity: f64,
    pub final_demand: f64,
    /// First day trailing revenue covered trailing emission USD, if ever.
    pub breakeven_day: Option<u32>,
    /// Per `[[governance]]` change (in file order): the day it was enacted, if it was
    /// within the horizon. Entries past the scenario's count are `None`.
    pub enacted: EnactedDays,
}

/// The enactment day of each governance change, or none: days as u16 (every horizon is at
/// most `MAX_HORIZON_DAYS` = 36,500 days), so the eight of them add 16 bytes to a record
/// (records of every path are held in memory until `paths.parquet` is written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnactedDays([u16; MAX_GOVERNANCE]);

impl EnactedDays {
    const NONE: u16 = u16::MAX;

    /// The enactment day of change `c`, if any.
    pub fn get(&self, c: usize) -> Option<u32> {
        self.0
            .get(c)
            .copied()
            .filter(|&d| d != Self::NONE)
            .map(u32::from)
    }

    /// Sets change `c`'s day; false (and nothing set) for a day or index it cannot hold.
    pub fn set(&mut self, c: usize, day: Option<u32>) -> bool {
        let v = match day {
            None => Self::NONE,
            Some(d) if d <= MAX_HORIZON_DAYS => d as u16,
            Some(_) => return false,
        };
        match self.0.get_mut(c) {
            Some(slot) => {
                *slot = v;
                true
            }
            None => false,
        }
    }

    /// The day of every change slot, in order.
    pub fn iter(&self) -> impl Iterator<Item = Option<u32>> + '_ {
        (0..MAX_GOVERNANCE).map(|c| self.get(c))
    }

    /// Days from `f(c)` (each within the horizon limit).
    pub fn from_fn(f: impl Fn(usize) -> Option<u32>) -> EnactedDays {
        let mut out = EnactedDays::default();
        for c in 0..MAX_GOVERNANCE {
            out.set(c, f(c));
        }
        out
    }
}

impl Default for EnactedDays {
    fn default() -> Self {
        EnactedDays([Self::NONE; MAX_GOVERNANCE])
    }
}

impl PathRecord {
    pub fn from_state(p: &Params, path: u64, s: &PathState) -> PathRecord {
        let final_price = s.price();
        PathRecord {
            path,
            spiral: s.ever_spiraled,
            spiral_day: (s.spiral_day >= 0).then_some(s.spiral_day as u32),
            final_price,
            min_price: s.min_price,
            max_drawdown: s.max_drawdown,
            log_return: s.ln_price - p.price0.ln(),
            final_circulating: s.circulating(),
            final_staked: s.staked,
            minted: s.minted,
            // `minted - vested` is exactly 0 with no emission (the same additions in the same
            // order) and exactly `minted` with no vesting.
            emitted: s.minted - s.vested,
            vested: s.vested,
            burned: s.burned - p.burned0,
            emission_usd: s.cum_emission_usd,
            revenue_usd: s.cum_revenue,
            er_ratio: s.cum_emission_usd / s.cum_revenue,
            final_capacity: s.ln_capacity.exp(),
            min_capacity: s.min_ln_capacity.exp(),
            final_demand: s.ln_demand.exp(),
            breakeven_day: (s.breakeven_day >= 0).then_some(s.breakeven_day as u32),
            enacted: EnactedDays::from_fn(|c| s.enacted_day(p, c)),
        }
    }
}

/// Simulates one whole path, calling `report(row, metrics)` at every report day
/// (row 0 is day 0), and returns its record: the one-lane (scalar) reference that the
/// CPU engine's lane groups must reproduce bit for bit.
pub fn simulate_path(
    p: &Params,
    key: [u32; 2],
    path: u64,
    mut report: impl FnMut(usize, &[f64; N_METRICS]),
) -> PathRecord {
    let mut s = LaneState::<1>::splat(&PathState::initial(p));
    let observe = |s: &LaneState<1>| s.observe().map(|m| m.0[0]);
    report(0, &observe(&s));
    let mut row = 1;
    for t in 0..p.steps {
        step(p, &mut s, key, &[path], t);
        if p.is_report_step(t + 1) {
            report(row, &observe(&s));
            row += 1;
        }
    }
    PathRecord::from_state(p, path, &s.lane(0))
}

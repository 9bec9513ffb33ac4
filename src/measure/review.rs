//! The design review: the seed article's red flags ("How to Evaluate AI Project Tokenomics
//! Before Investing", docs/SOURCES.md) applied to a scenario and its simulated figures, each
//! check `ok`, `red flag` or `not applicable` with its figure and threshold (`[review]`).
//!
//! Pure code over plain inputs ([`SimFigures`]), so `tokenrisk review` (from the records in
//! memory) and the report (from a run folder's tables) apply the very same rules. A figure the
//! caller could not compute is `None` and the check reads "not computed".

use crate::scenario::{BurnKind, Currency, Scenario};
use crate::stats::interval::wilson_interval;
use crate::stats::Z95;

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    RedFlag,
    NotApplicable,
    /// The figure needs data this caller lacks (the report without `review.parquet`).
    NotComputed,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::RedFlag => "red flag",
            Status::NotApplicable => "not applicable",
            Status::NotComputed => "not computed",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::Ok,
            Status::RedFlag,
            Status::NotApplicable,
            Status::NotComputed,
        ]
        .into_iter()
        .find(|x| x.label() == s)
    }
}

/// One check's result: a row of `review.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Stable id (`insider_allocation`, ...).
    pub check: &'static str,
    pub status: Status,
    /// The figure (a share, days, a probability); NaN when there is none.
    pub figure: f64,
    /// Its standard error, when it is an estimate (NaN otherwise).
    pub se: f64,
    /// Its 95% interval, when it is an estimate (NaN otherwise).
    pub lo: f64,
    pub hi: f64,
    pub threshold: f64,
    pub explanation: String,
}

/// The ids of the checks, in order.
pub const CHECKS: [&str; 6] = [
    "insider_allocation",
    "insider_cliff",
    "demand_linked_to_usage",
    "er_gap_widening",
    "breakeven_within_horizon",
    "front_loading",
];

/// What the simulation contributes.
#[derive(Debug, Clone, Default)]
pub struct SimFigures {
    pub paths: u64,
    /// Paths whose cumulative emissions-to-revenue ratio ends above the day-0 ratio.
    pub widened: Option<u64>,
    /// The trailing ratio's median at day 0 and at the last report day (histogram-read).
    pub median_trend: Option<(f64, f64)>,
    /// Paths that broke even within the horizon.
    pub broke_even: Option<u64>,
    /// Mean over paths of the first year's share of the horizon's minted tokens, and its SE.
    pub first_year_share: Option<(f64, f64)>,
}

fn check(id: &'static str, status: Status, figure: f64, threshold: f64, why: String) -> Check {
    Check {
        check: id,
        status,
        figure,
        se: f64::NAN,
        lo: f64::NAN,
        hi: f64::NAN,
        threshold,
        explanation: why,
    }
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", 100.0 * x)
    } else {
        "undefined".into()
    }
}

fn flag(red: bool) -> Status {
    if red {
        Status::RedFlag
    } else {
        Status::Ok
    }
}

/// A proportion check with its Wilson interval and binomial SE.
fn proportion(id: &'static str, k: u64, n: u64, threshold: f64, red: bool, why: String) -> Check {
    let p = k as f64 / n.max(1) as f64;
    let (lo, hi) = wilson_interval(k, n, Z95);
    Check {
        se: (p * (1.0 - p) / n.max(1) as f64).sqrt(),
        lo,
        hi,
        ..check(id, flag(red), p, threshold, why)
    }
}

/// Total supply for the allocation check: the cap when there is one, else issued plus every
/// tranche.
pub fn total_supply(s: &Scenario) -> f64 {
    s.token
        .max_supply
        .unwrap_or_else(|| s.token.issued + s.vesting.iter().map(|v| v.amount).sum::<f64>())
}

/// Every check, in [`CHECKS`] order.
pub fn review(s: &Scenario, sim: &SimFigures) -> Vec<Check> {
    let r = &s.review;
    let unspecified = s.vesting.iter().filter(|v| v.holder.is_none()).count();
    let note = if unspecified > 0 {
        format!(" {unspecified} tranche(s) without a holder are left out.")
    } else {
        String::new()
    };
    let insiders: Vec<_> = s
        .vesting
        .iter()
        .filter(|v| v.holder.is_some_and(|h| h.is_insider()))
        .collect();
    let mut out = Vec::new();

    let supply = total_supply(s);
    out.push(if insiders.is_empty() {
        check(
            CHECKS[0],
            Status::NotApplicable,
            f64::NAN,
            r.max_insider_share,
            format!("No team or investor vesting tranche.{note}"),
        )
    } else {
        let share = insiders.iter().map(|v| v.amount).sum::<f64>() / supply;
        check(
            CHECKS[0],
            flag(share > r.max_insider_share),
            share,
            r.max_insider_share,
            format!(
                "Team and investor tranches hold {} of total supply (red flag above {}).{note}",
                pct(share),
                pct(r.max_insider_share)
            ),
        )
    });

    out.push(
        match insiders.iter().map(|v| v.cliff_days).min_by(f64::total_cmp) {
            None => check(
                CHECKS[1],
                Status::NotApplicable,
                f64::NAN,
                r.min_cliff_days,
                format!("No team or investor vesting tranche.{note}"),
            ),
            Some(c) => check(
                CHECKS[1],
                flag(c < r.min_cliff_days),
                c,
                r.min_cliff_days,
                format!(
                "The shortest team or investor cliff is {c} days (red flag under {} days).{note}",
                r.min_cliff_days
            ),
            ),
        },
    );

    let none = s.burn.kind == BurnKind::None;
    let how = match s.payment.currency {
        Currency::Stable => "payments in stablecoins never touch the token",
        Currency::Token => {
            "payments in the token go to providers, who sell them back: a pass-through, not a sink"
        }
    };
    out.push(check(
        CHECKS[2],
        flag(none),
        f64::NAN,
        f64::NAN,
        if none {
            // A proposal that would add one is not a mechanism until it passes.
            let proposed: Vec<String> = s
                .governance
                .iter()
                .filter_map(|g| {
                    let leaves = crate::scenario::governance::leaves(&g.set);
                    let kind = leaves.iter().find(|(k, _)| k == "burn.kind")?;
                    let kind = kind.1.as_str().filter(|k| *k != "none")?;
                    Some(format!("\"{}\" would set burn.kind = \"{kind}\"", g.name))
                })
                .collect();
            let later = if proposed.is_empty() {
                String::new()
            } else {
                format!(
                    " Governance change {} if enacted; see the governance section for how likely and when.",
                    proposed.join(", ")
                )
            };
            format!("No burn or buyback: {how}.{later}")
        } else {
            let what = match s.burn.kind {
                BurnKind::Buyback => "bought back",
                _ => "bought and burned",
            };
            format!(
                "burn.kind = \"{}\": tokens are {what} as the network is used.",
                s.burn.kind.name()
            )
        },
    ));

    let no_emission = s.emission.kind == crate::scenario::EmissionKind::None;
    out.push(match (sim.widened, sim.median_trend) {
        _ if no_emission => check(
            CHECKS[3],
            Status::NotApplicable,
            f64::NAN,
            r.max_widening_share,
            "No emission rule (emission.kind = \"none\"): no emissions-to-revenue gap.".into(),
        ),
        (Some(k), trend) => {
            let trend = trend.filter(|(a, b)| *a > 0.0 && a.is_finite() && b.is_finite());
            let p = k as f64 / sim.paths.max(1) as f64;
            let t = trend.map_or(String::new(), |(a, b)| {
                format!(
                    " The median path's trailing ratio goes from {a:.4} to {b:.4} ({}{:.1}%, histogram-read within 0.5%).",
                    if b >= a { "+" } else { "" },
                    100.0 * (b / a - 1.0)
                )
            });
            proportion(
                CHECKS[3],
                k,
                sim.paths,
                r.max_widening_share,
                p > r.max_widening_share,
                format!(
                    "On {} of paths the cumulative emissions-to-revenue ratio ends above the day-0 ratio (red flag above {}).{t}",
                    pct(p),
                    pct(r.max_widening_share)
                ),
            )
        }
        (None, _) => check(
            CHECKS[3],
            Status::NotComputed,
            f64::NAN,
            r.max_widening_share,
            "paths.parquet is missing or has no er_ratio column.".into(),
        ),
    });

    out.push(match sim.broke_even {
        Some(k) => {
            let p = k as f64 / sim.paths.max(1) as f64;
            proportion(
                CHECKS[4],
                k,
                sim.paths,
                r.min_p_breakeven,
                p < r.min_p_breakeven,
                format!(
                    "P(breakeven within {} days) = {} (red flag below {}).",
                    s.scenario.horizon_days,
                    pct(p),
                    pct(r.min_p_breakeven)
                ),
            )
        }
        None => check(
            CHECKS[4],
            Status::NotComputed,
            f64::NAN,
            r.min_p_breakeven,
            "The run's summary has no p_breakeven.".into(),
        ),
    });

    let even = 365.0 / f64::from(s.scenario.horizon_days);
    let limit = (r.max_first_year_factor * even).min(1.0);
    out.push(if s.scenario.horizon_days <= 365 {
        check(
            CHECKS[5],
            Status::NotApplicable,
            f64::NAN,
            limit,
            "The horizon is a year or less.".into(),
        )
    } else {
        match sim.first_year_share {
            Some((m, _)) if m.is_nan() => check(
                CHECKS[5],
                Status::NotApplicable,
                f64::NAN,
                limit,
                "Nothing is minted over the horizon.".into(),
            ),
            Some((m, se)) => Check {
                se,
                lo: m - Z95 * se,
                hi: m + Z95 * se,
                ..check(
                    CHECKS[5],
                    flag(m > limit),
                    m,
                    limit,
                    format!(
                        "The first year releases {} of the horizon's new tokens (emission and vesting; even pace {}, red flag above {}).",
                        pct(m),
                        pct(even),
                        pct(limit)
                    ),
                )
            },
            None => check(
                CHECKS[5],
                Status::NotComputed,
                f64::NAN,
                limit,
                "Not computed in this run (`tokenrisk review` computes it with a 365-day prefix run).".into(),
            ),
        }
    });
    out
}

/// Mean and SE of the per-path share `first / total` over paths that minted anything; NaN
/// when none did.
pub fn first_year_share(first: &[f64], total: &[f64]) -> (f64, f64) {
    let shares: Vec<f64> = first
        .iter()
        .zip(total)
        .filter(|(_, t)| **t > 0.0)
        .map(|(f, t)| f / t)
        .collect();
    let n = shares.len() as f64;
    if shares.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = shares.iter().sum::<f64>() / n;
    // The same share on every path (deterministic minting) has no spread at all, not a
    // rounding-sized one.
    let var = if n > 1.0 && shares.iter().any(|x| *x != shares[0]) {
        shares.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, (var / n).sqrt())
}

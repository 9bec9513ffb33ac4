//! One-at-a-time sensitivity analysis (tornado data) for `tokenrisk sensitivity`: every
//! numeric parameter of a scenario is moved down and up by a documented amount, each variant
//! is run with the base seed and path ids (common random numbers, so the effect of a small
//! change is not buried in Monte Carlo noise), and parameters are ranked by their effect on
//! P(spiral) and on the 95% CVaR of the horizon log-return.
//!
//! Perturbations ([`plan`], pure), on the scenario with every default written out (so
//! omitted keys such as `market.depth` count too), keyed by the same dotted paths a `[sweep]`
//! takes (`market.jumps.rate`, `vesting[0].amount`, `emission.yearly[0]`):
//! - fractions in [0, 1] (`token.staked_fraction`, `emission.treasury_sell`, `burn.fee`,
//!   `burn.fraction`, `compute.sell_fraction`, `compute.sell_min`, `compute.fee_sell`,
//!   `staking.target`, `staking.unstake_sell`, `vesting[i].sell_fraction`): +-`absolute`
//!   (default 0.05), clamped to [0, 1];
//! - spiral thresholds (`spiral.*_drawdown`): +-`absolute`, clamped to [0.01, 0.99];
//! - correlations: +-`absolute`, clamped to [-0.99, 0.99] (a variant that is not positive
//!   definite fails validation and is skipped);
//! - emission split shares: the share moves by +-`absolute` (clamped to [0, 1]) and the other
//!   two are rescaled in proportion so the split still sums to 1 (equally when they are 0);
//! - integers (`spiral.persist_days`, `shock[i].day`): +-`relative`, rounded, at least 1;
//! - everything else (positive magnitudes, rates, per-step probabilities, signed drifts and
//!   shock sizes): multiplied by `1 -+ relative` (default 0.1); a value of 0 is skipped.
//!
//! Not perturbed: `[scenario]` (run settings), `[risk]`, `[alerts]` and `[review]` (reporting). Skipped
//! and listed: parameters the scenario's kinds and switches make inert (e.g. the stress
//! regime when `calm_to_stress = 0`, `staking.*` when `staking.speed = 0`, `market.depth`
//! when `market.impact = 0`), zero values under the relative rule, and any variant that
//! fails validation (that side then reads as the base, and the skip is listed). `low_value`
//! is always the smaller value, so `effect = f(high) - f(low)` is the effect of raising the
//! parameter.

use crate::scenario::keys::{get_key, scenario_table, set_key};
use crate::scenario::{self, EmissionKind, QuotedIn, Scenario, SellFraction};
use crate::workflows::sweep::SweepError;

/// How a parameter is perturbed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    Relative,
    Absolute { lo: f64, hi: f64 },
    Share,
    Integer,
}

impl Rule {
    pub fn name(&self) -> &'static str {
        match self {
            Rule::Relative => "relative",
            Rule::Absolute { .. } => "absolute",
            Rule::Share => "share",
            Rule::Integer => "integer",
        }
    }
}

/// Strips `[i]` indices: `vesting[1].sell_fraction` -> `vesting.sell_fraction`.
fn generic(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The rule of a parameter path (see the module docs).
pub fn rule_of(path: &str, value: &toml::Value) -> Rule {
    let g = generic(path);
    const FRACTIONS: [&str; 10] = [
        "token.staked_fraction",
        "emission.treasury_sell",
        "burn.fee",
        "burn.fraction",
        "compute.sell_fraction",
        "compute.sell_min",
        "compute.fee_sell",
        "staking.target",
        "staking.unstake_sell",
        "vesting.sell_fraction",
    ];
    if value.is_integer() {
        Rule::Integer
    } else if FRACTIONS.contains(&g.as_str()) {
        Rule::Absolute { lo: 0.0, hi: 1.0 }
    } else if g.starts_with("spiral.") && g.ends_with("_drawdown") {
        Rule::Absolute { lo: 0.01, hi: 0.99 }
    } else if g.starts_with("correlation.") {
        Rule::Absolute {
            lo: -0.99,
            hi: 0.99,
        }
    } else if g.starts_with("emission.split.") {
        Rule::Share
    } else {
        Rule::Relative
    }
}

/// Why a parameter is inert in this scenario, if it is.
pub fn unused_reason(s: &Scenario, path: &str) -> Option<String> {
    let g = generic(path);
    let stress_on = s
        .market
        .regimes
        .as_ref()
        .is_some_and(|r| r.calm_to_stress > 0.0);
    let stress_jumps = s
        .market
        .regimes
        .as_ref()
        .is_some_and(|r| r.calm_to_stress > 0.0 && r.stress.jump_rate > 0.0);
    let token_fees =
        s.payment.currency == scenario::Currency::Token && s.burn.kind != scenario::BurnKind::Bme;
    let why = match g.as_str() {
        "market.regimes.stress_to_calm"
        | "market.regimes.stress.drift"
        | "market.regimes.stress.volatility"
        | "market.regimes.stress.jump_rate"
            if !stress_on =>
        {
            "the stress regime is never entered (market.regimes.calm_to_stress = 0)"
        }
        "market.jumps.mean" | "market.jumps.stdev"
            if s.market.jumps.rate == 0.0 && !stress_jumps =>
        {
            "no price jumps (jump rates are 0)"
        }
        "compute.cost_jumps.mean" | "compute.cost_jumps.stdev"
            if s.compute.cost_jumps.rate == 0.0 =>
        {
            "no GPU-cost jumps (compute.cost_jumps.rate = 0)"
        }
        "market.depth" | "market.impact_cap" | "market.impact_half_life_days"
            if s.market.impact == 0.0 =>
        {
            "flows do not move the price (market.impact = 0)"
        }
        "demand.price_elasticity" if s.payment.quoted_in == QuotedIn::Usd => {
            "the USD job price is fixed (payment.quoted_in = \"usd\")"
        }
        "compute.fee_sell" if !token_fees => {
            "providers receive no job fees in tokens (stablecoin payments or bme)"
        }
        "compute.sell_min" if matches!(s.compute.sell_fraction, SellFraction::Fixed(_)) => {
            "compute.sell_fraction is a fixed number"
        }
        "staking.target" | "staking.panic" | "staking.unstake_sell" if s.staking.speed == 0.0 => {
            "the stake never moves (staking.speed = 0)"
        }
        "staking.panic" if s.staking.target == 0.0 => "staking.target = 0",
        "emission.split.providers"
        | "emission.split.stakers"
        | "emission.split.treasury"
        | "emission.treasury_sell"
            if s.emission.kind == EmissionKind::None =>
        {
            "nothing is emitted (emission.kind = \"none\")"
        }
        "emission.treasury_sell" if s.emission.split.treasury == 0.0 => {
            "the treasury receives nothing (emission.split.treasury = 0)"
        }
        _ => return None,
    };
    Some(why.to_string())
}

/// A parameter left out, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skip {
    pub parameter: String,
    pub reason: String,
}

/// One parameter's down and up variants. A side is `None` where it equals the base (a
/// clamped fraction at its bound) or failed validation (listed as a skip).
#[derive(Debug, Clone)]
pub struct Perturbation {
    pub parameter: String,
    pub rule: Rule,
    pub base_value: f64,
    pub low_value: f64,
    pub high_value: f64,
    pub low: Option<Scenario>,
    pub high: Option<Scenario>,
}

/// Numeric leaves of a table as (dotted path, value), in table order.
pub fn numeric_leaves(table: &toml::Table) -> Vec<(String, toml::Value)> {
    fn walk(prefix: &str, v: &toml::Value, out: &mut Vec<(String, toml::Value)>) {
        match v {
            toml::Value::Integer(_) | toml::Value::Float(_) => {
                out.push((prefix.to_string(), v.clone()))
            }
            toml::Value::Table(t) => {
                for (k, x) in t {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&p, x, out);
                }
            }
            toml::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(&format!("{prefix}[{i}]"), x, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", &toml::Value::Table(table.clone()), &mut out);
    out
}

fn as_f64(v: &toml::Value) -> f64 {
    v.as_float()
        .or(v.as_integer().map(|i| i as f64))
        .unwrap_or(f64::NAN)
}

/// Significant digits a perturbed value keeps (see [`nice`]).
const PERTURBED_DIGITS: usize = 12;

/// `x` rounded to [`PERTURBED_DIGITS`] significant digits: a perturbed value IS the number
/// the arithmetic meant (`0.9 - 0.05` is 0.85, `30e6 * 1.1` is 33,000,000), not its binary
/// rounding noise (`0.8500000000000001`, `33000000.000000004`), so the variant runs with it
/// and every table and line prints it with the digits it deserves (shortest round-trip).
/// Twelve digits are far below any effect a Monte Carlo run resolves and far above f64's
/// noise (about 16 digits).
pub fn nice(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    format!("{x:.prec$e}", prec = PERTURBED_DIGITS - 1)
        .parse()
        .unwrap_or(x)
}

/// Smaller and larger value of a parameter under `rule`, each [`nice`].
fn bounds(rule: Rule, v: f64, relative: f64, absolute: f64) -> (f64, f64) {
    match rule {
        Rule::Relative => {
            let (a, b) = (nice(v * (1.0 - relative)), nice(v * (1.0 + relative)));
            (a.min(b), a.max(b))
        }
        Rule::Absolute { lo, hi } => (nice((v - absolute).max(lo)), nice((v + absolute).min(hi))),
        Rule::Share => (nice((v - absolute).max(0.0)), nice((v + absolute).min(1.0))),
        Rule::Integer => {
            let lo = (v * (1.0 - relative)).round().min(v - 1.0).max(0.0);
            let hi = (v * (1.0 + relative)).round().max(v + 1.0);
            (lo, hi)
        }
    }
}

/// Builds the scenario with `path` set to `x` (and, for a split share, the other shares
/// rescaled); `Err` holds the validation problem.
fn variant(
    base: &Scenario,
    table: &toml::Table,
    path: &str,
    rule: Rule,
    x: f64,
) -> Result<Scenario, String> {
    let mut t = table.clone();
    let value = match rule {
        Rule::Integer => toml::Value::Integer(x as i64),
        _ => toml::Value::Float(x),
    };
    set_key(&mut t, path, value)?;
    if rule == Rule::Share {
        let old = get_key(table, path).map(as_f64).unwrap_or(f64::NAN);
        let others: Vec<String> = ["providers", "stakers", "treasury"]
            .iter()
            .map(|k| format!("emission.split.{k}"))
            .filter(|k| k != path)
            .collect();
        for k in &others {
            let o = get_key(table, k).map(as_f64).unwrap_or(0.0);
            // Not rounded: the shares must keep summing to 1 as validation checks it.
            let new = if old < 1.0 {
                o * (1.0 - x) / (1.0 - old)
            } else {
                (1.0 - x) / others.len() as f64
            };
            set_key(&mut t, k, toml::Value::Float(new))?;
        }
    }
    let mut s = scenario::from_table(t, "", "sensitivity").map_err(|e| {
        e.problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    s.scenario.paths = base.scenario.paths;
    s.scenario.seed = base.scenario.seed;
    s.source_toml = String::new();
    Ok(s)
}

/// Every parameter's variants and every skip. Nothing is simulated.
pub fn plan(
    base: &Scenario,
    relative: f64,
    absolute: f64,
) -> Result<(Vec<Perturbation>, Vec<Skip>), SweepError> {
    let table = scenario_table(base).map_err(SweepError)?;
    let mut plans = Vec::new();
    let mut skips = Vec::new();
    for (path, value) in numeric_leaves(&table) {
        let g = generic(&path);
        if g.starts_with("scenario.")
            || g.starts_with("risk.")
            || g.starts_with("alerts.")
            || g.starts_with("review.")
        {
            continue;
        }
        let skip = |reason: String| Skip {
            parameter: path.clone(),
            reason,
        };
        if let Some(why) = unused_reason(base, &path) {
            skips.push(skip(why));
            continue;
        }
        let rule = rule_of(&path, &value);
        let v = as_f64(&value);
        if v == 0.0 && matches!(rule, Rule::Relative | Rule::Integer) {
            skips.push(skip(
                "value is 0: a relative change does not move it".into(),
            ));
            continue;
        }
        let (lo, hi) = bounds(rule, v, relative, absolute);
        let mut side = |x: f64, label: &str| -> Option<Scenario> {
            if x == v {
                return None;
            }
            match variant(base, &table, &path, rule, x) {
                Ok(s) => Some(s),
                Err(e) => {
                    skips.push(skip(format!("{label} value {x} is invalid: {e}")));
                    None
                }
            }
        };
        let low = side(lo, "low");
        let high = side(hi, "high");
        if low.is_none() && high.is_none() {
            if lo == v && hi == v {
                skips.push(skip("no valid perturbation".into()));
            }
            continue;
        }
        plans.push(Perturbation {
            parameter: path.clone(),
            rule,
            base_value: v,
            low_value: if low.is_some() { lo } else { v },
            high_value: if high.is_some() { hi } else { v },
            low,
            high,
        });
    }
    Ok((plans, skips))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests' base scenario as a capped halving design with every split share, a
    /// correlation and a vesting tranche; `max_supply` as given.
    fn text(max_supply: &str) -> String {
        let sets = [
            ("scenario.name", "\"sens\""),
            ("scenario.horizon_days", "28"),
            ("scenario.paths", "50000"),
            ("scenario.seed", "42"),
            ("token.price", "2.0"),
            ("token.issued", "1000.0"),
            ("token.max_supply", max_supply),
            ("emission.kind", "\"halving_by_supply\""),
            ("emission.per_day", "1.0"),
            (
                "emission.split",
                "{ providers = 0.5, stakers = 0.3, treasury = 0.2 }",
            ),
            ("demand.usd_per_day", "10.0"),
            ("demand.growth", "0.0"),
            ("market.drift", "-0.1"),
            ("market.volatility", "0.5"),
            ("compute.capacity", "100.0"),
            ("correlation.price_demand", "0.97"),
            ("spiral.persist_days", "14"),
        ];
        crate::scenario::test_text(&sets, "[[vesting]]\namount = 10.0\nsell_fraction = 0.0\n")
    }

    fn plan_base() -> (Vec<Perturbation>, Vec<Skip>) {
        let s = scenario::parse(&text("2000.0"), "sens.toml").unwrap();
        plan(&s, 0.1, 0.05).unwrap()
    }

    fn find<'a>(ps: &'a [Perturbation], name: &str) -> &'a Perturbation {
        ps.iter()
            .find(|p| p.parameter == name)
            .unwrap_or_else(|| panic!("{name} not perturbed"))
    }

    fn skipped(skips: &[Skip], name: &str) -> String {
        skips
            .iter()
            .filter(|s| s.parameter == name)
            .map(|s| s.reason.clone())
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[test]
    fn perturbed_values_carry_no_float_noise() {
        // The arithmetic alone leaves noise (this is what the CLI used to print) ...
        assert_eq!(format!("{}", 0.8 + 0.05), "0.8500000000000001");
        assert_eq!(format!("{}", 30e6 * 1.1), "33000000.000000004");
        // ... which the rounding to 12 significant digits removes.
        assert_eq!(format!("{}", nice(0.8 + 0.05)), "0.85");
        assert_eq!(format!("{}", nice(30e6 * 1.1)), "33000000");
        assert_eq!(nice(-0.1 * 1.1), -0.11);
        assert_eq!(nice(0.0), 0.0);
        let (ps, _) = plan_base();
        let cap = find(&ps, "compute.capacity");
        assert_eq!(
            (format!("{}", cap.low_value), format!("{}", cap.high_value)),
            ("90".to_string(), "110".to_string())
        );
        // The variant runs with the printed value, not its noisy neighbour.
        assert_eq!(cap.high.as_ref().unwrap().compute.capacity, 110.0);
        let c = find(&ps, "correlation.price_demand");
        assert_eq!(format!("{}", c.low_value), "0.92");
    }

    #[test]
    fn rules_and_amounts() {
        let (ps, skips) = plan_base();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        // Relative, signed: low is the smaller value.
        let d = find(&ps, "market.drift");
        assert!(close(d.low_value, -0.11) && close(d.high_value, -0.09));
        assert_eq!(d.low.as_ref().unwrap().market.drift, d.low_value);
        let v = find(&ps, "market.volatility");
        assert!(close(v.low_value, 0.45) && close(v.high_value, 0.55));
        // Absolute fraction clamped at 0: the low side is the base.
        let f = find(&ps, "vesting[0].sell_fraction");
        assert_eq!((f.low_value, f.high_value), (0.0, 0.05));
        assert!(f.low.is_none() && f.high.is_some());
        // Correlation clamped to 0.99.
        let c = find(&ps, "correlation.price_demand");
        assert!(close(c.low_value, 0.92) && close(c.high_value, 0.99));
        // Split: the other shares rescale so the sum stays 1.
        let sp = find(&ps, "emission.split.providers");
        let hi = &sp.high.as_ref().unwrap().emission.split;
        assert!(close(hi.providers, 0.55));
        assert!(close(hi.stakers, 0.3 * 0.45 / 0.5) && close(hi.treasury, 0.2 * 0.45 / 0.5));
        // Integers: rounded, at least one apart.
        let pd = find(&ps, "spiral.persist_days");
        assert_eq!((pd.low_value, pd.high_value), (13.0, 15.0));
        assert_eq!(pd.high.as_ref().unwrap().spiral.persist_days, 15);
        // Omitted keys are parameters too (market.depth defaults to 0.02) unless inert.
        assert!(skipped(&skips, "market.depth").contains("market.impact = 0"));
        assert!(skipped(&skips, "demand.growth").contains("value is 0"));
        assert!(skipped(&skips, "demand.price_elasticity").contains("quoted_in"));
        assert!(skipped(&skips, "staking.unstake_sell").contains("staking.speed = 0"));
        // Run settings are not parameters.
        assert!(ps.iter().all(|p| !p.parameter.starts_with("scenario.")));
        assert!(skips.iter().all(|p| !p.parameter.starts_with("risk.")));
        // Variants keep the base's paths and seed.
        assert!(ps
            .iter()
            .flat_map(|p| [&p.low, &p.high])
            .flatten()
            .all(|s| s.scenario.paths == 50000 && s.scenario.seed == 42));
    }

    #[test]
    fn invalid_sides_are_listed_and_read_as_base() {
        // issued 1000 + vesting 10 <= max_supply 2000; issued * 1.1 is fine, but
        // max_supply * 0.9 = 1800 is fine too; token.price * 0.9 fine. Make one fail:
        let s = scenario::parse(&text("1010.0"), "sens.toml").unwrap();
        let (ps, skips) = plan(&s, 0.1, 0.05).unwrap();
        let m = find(&ps, "token.max_supply");
        assert!(m.low.is_none() && m.low_value == m.base_value);
        assert!(m.high.is_some());
        assert!(skipped(&skips, "token.max_supply").contains("low value 909"));
    }
}

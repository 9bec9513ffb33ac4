//! Range and consistency checks for a parsed scenario. Each problem names the dotted field
//! path, the offending value and the allowed range; all problems are collected, not just the
//! first, so a user fixes a file in one pass.

use super::types::*;

use super::limits::*;

/// A number as a message shows it: plainly in the everyday range, with an exponent when it is
/// tiny or huge (`1e-300`, not three hundred zeros).
fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() || (1e-4..1e16).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

struct Checker {
    problems: Vec<(String, String)>,
}

impl Checker {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push((field.into(), message.into()));
    }

    /// `lo <= v <= hi`, finite. NaN fails every comparison, so it is always reported.
    fn range(&mut self, field: &str, v: f64, lo: f64, hi: f64) {
        if !(v >= lo && v <= hi) {
            self.push(
                field,
                format!(
                    "value {} is out of range; allowed: {} to {}",
                    number(v),
                    number(lo),
                    number(hi)
                ),
            );
        }
    }

    /// `lo < v < hi`.
    fn range_open(&mut self, field: &str, v: f64, lo: f64, hi: f64) {
        if !(v > lo && v < hi) {
            self.push(
                field,
                format!("value {v} is out of range; allowed: strictly between {lo} and {hi}"),
            );
        }
    }

    /// A positive magnitude (a price, supply, amount, demand, capacity, cost or duration):
    /// `MIN_MAGNITUDE <= v <= hi`, or exactly 0 when `zero` allows it. Smaller non-zero
    /// values (subnormal ones included) are refused: the model divides by some of these and
    /// multiplies others together, and the GPU engine carries them in f32.
    fn magnitude(&mut self, field: &str, v: f64, hi: f64, zero: bool) {
        if (zero && v == 0.0) || (v >= MIN_MAGNITUDE && v <= hi) {
            return;
        }
        let (lo, hi) = (number(MIN_MAGNITUDE), number(hi));
        let allowed = if zero {
            format!("0, or {lo} to {hi}")
        } else {
            format!("{lo} to {hi}")
        };
        self.push(
            field,
            format!("value {} is out of range; allowed: {allowed}", number(v)),
        );
    }

    /// A text of at most `max` characters.
    fn text(&mut self, field: &str, v: &str, max: usize, why: &str) {
        let n = v.chars().count();
        if n > max {
            self.push(
                field,
                format!("has {n} characters; allowed: at most {max} ({why})"),
            );
        }
    }

    fn required<T: Copy>(&mut self, field: &str, v: Option<T>, why: &str) -> Option<T> {
        if v.is_none() {
            self.push(field, format!("missing; required {why}"));
        }
        v
    }

    fn unused<T>(&mut self, field: &str, v: &Option<T>, why: &str) {
        if v.is_some() {
            self.push(field, format!("is not used {why}; remove it"));
        }
    }

    fn jumps(&mut self, prefix: &str, j: &Jumps) {
        self.range(&format!("{prefix}.rate"), j.rate, 0.0, 365.0);
        self.range(&format!("{prefix}.mean"), j.mean, -5.0, 5.0);
        self.range(&format!("{prefix}.stdev"), j.stdev, 0.0, 5.0);
    }
}

/// Returns every problem as (field path, message); empty means valid.
pub fn validate(s: &Scenario) -> Vec<(String, String)> {
    let mut c = Checker {
        problems: Vec::new(),
    };
    let m = &s.scenario;
    if m.name.is_empty()
        || !m
            .name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == '.')
        || m.name.starts_with('.')
    {
        c.push(
            "scenario.name",
            format!(
                "value {:?} is not allowed; use letters, digits, '-', '_' and '.' (it names the output folder)",
                m.name
            ),
        );
    }
    c.text(
        "scenario.name",
        &m.name,
        MAX_NAME_CHARS,
        "it names the output folder",
    );
    c.text(
        "scenario.description",
        &m.description,
        MAX_DESCRIPTION_CHARS,
        "it is copied into every output file and shown on report pages",
    );
    if m.step_days == 0 || m.step_days > 365 {
        c.push(
            "scenario.step_days",
            format!("value {} is out of range; allowed: 1 to 365", m.step_days),
        );
    }
    if m.horizon_days == 0 || m.horizon_days > MAX_HORIZON_DAYS {
        c.push(
            "scenario.horizon_days",
            format!(
                "value {} is out of range; allowed: 1 to {MAX_HORIZON_DAYS}",
                m.horizon_days
            ),
        );
    } else if m.step_days > 0 && !m.horizon_days.is_multiple_of(m.step_days) {
        c.push(
            "scenario.horizon_days",
            format!(
                "value {} is not a whole number of steps of step_days = {}",
                m.horizon_days, m.step_days
            ),
        );
    }
    if m.step_days > 0
        && (m.report_every < m.step_days
            || !m.report_every.is_multiple_of(m.step_days)
            || m.report_every > m.horizon_days.max(1))
    {
        c.push(
            "scenario.report_every",
            format!(
                "value {} is not allowed; it must be a multiple of step_days = {} and at most horizon_days = {}",
                m.report_every, m.step_days, m.horizon_days
            ),
        );
    }
    if m.paths == 0 || m.paths > MAX_PATHS {
        c.push(
            "scenario.paths",
            format!(
                "value {} is out of range; allowed: 1 to {MAX_PATHS}",
                m.paths
            ),
        );
    }

    let t = &s.token;
    c.magnitude("token.price", t.price, 1e12, false);
    c.magnitude("token.issued", t.issued, 1e18, true);
    // The circulating supply, issued - burned, is a magnitude too.
    if !(t.burned == 0.0 || (t.burned >= MIN_MAGNITUDE && t.issued - t.burned >= MIN_MAGNITUDE)) {
        c.push(
            "token.burned",
            format!(
                "value {} is out of range; allowed: 0, or {} up to token.issued - {} = {} (the circulating supply must stay at least {})",
                number(t.burned),
                number(MIN_MAGNITUDE),
                number(MIN_MAGNITUDE),
                number(t.issued - MIN_MAGNITUDE),
                number(MIN_MAGNITUDE)
            ),
        );
    }
    if let Some(max) = t.max_supply {
        if !(max >= t.issued && max <= 1e18) {
            c.push(
                "token.max_supply",
                format!(
                    "value {max} is out of range; allowed: token.issued = {} to 1e18",
                    t.issued
                ),
            );
        }
    }
    c.range("token.staked_fraction", t.staked_fraction, 0.0, 1.0);

    let e = &s.emission;
    use EmissionKind as K;
    let kind_name = e.kind.name();
    let why = format!("with emission.kind = \"{kind_name}\"");
    match e.kind {
        K::HalvingBySupply | K::HalvingByTime => {
            if let Some(v) = c.required("emission.per_day", e.per_day, &why) {
                c.magnitude("emission.per_day", v, 1e15, true);
            }
        }
        _ => c.unused("emission.per_day", &e.per_day, &why),
    }
    if e.kind == K::HalvingBySupply && t.max_supply.is_none() {
        c.push(
            "token.max_supply",
            "missing; required with emission.kind = \"halving_by_supply\" (halvings happen at fractions of it)",
        );
    }
    if e.kind == K::HalvingByTime {
        if let Some(v) = c.required("emission.period_days", e.period_days, &why) {
            c.magnitude("emission.period_days", v, 1e6, false);
        }
    } else {
        c.unused("emission.period_days", &e.period_days, &why);
    }
    if e.kind == K::Schedule {
        match &e.yearly {
            None => c.push("emission.yearly", format!("missing; required {why}")),
            Some(y) if y.is_empty() || y.len() > MAX_SCHEDULE_YEARS => c.push(
                "emission.yearly",
                format!(
                    "has {} entries; allowed: 1 to {MAX_SCHEDULE_YEARS} yearly amounts",
                    y.len()
                ),
            ),
            Some(y) => {
                for (i, v) in y.iter().enumerate() {
                    c.magnitude(&format!("emission.yearly[{i}]"), *v, 1e15, true);
                }
            }
        }
        if let Some(d) = e.decay {
            c.range("emission.decay", d, 0.0, 2.0);
        }
    } else {
        if e.yearly.is_some() {
            c.push("emission.yearly", format!("is not used {why}; remove it"));
        }
        c.unused("emission.decay", &e.decay, &why);
    }
    if matches!(e.kind, K::Inflation | K::BondedInflation) {
        if let Some(v) = c.required("emission.annual_rate", e.annual_rate, &why) {
            c.range("emission.annual_rate", v, 0.0, 1.0);
        }
    } else {
        c.unused("emission.annual_rate", &e.annual_rate, &why);
    }
    let bonded = [
        ("emission.inflation_min", e.inflation_min),
        ("emission.inflation_max", e.inflation_max),
        ("emission.inflation_rate_change", e.inflation_rate_change),
        ("emission.goal_bonded", e.goal_bonded),
    ];
    if e.kind == K::BondedInflation {
        for (field, v) in bonded {
            if let Some(v) = c.required(field, v, &why) {
                if field == "emission.goal_bonded" {
                    c.magnitude(field, v, 1.0, false);
                } else {
                    c.range(field, v, 0.0, 1.0);
                }
            }
        }
        if let (Some(lo), Some(hi)) = (e.inflation_min, e.inflation_max) {
            if lo > hi {
                c.push(
                    "emission.inflation_min",
                    format!(
                        "value {} is above emission.inflation_max = {}; allowed: inflation_min <= inflation_max",
                        number(lo),
                        number(hi)
                    ),
                );
            }
        }
    } else {
        for (field, v) in bonded {
            c.unused(field, &v, &why);
        }
    }
    c.range("emission.split.providers", e.split.providers, 0.0, 1.0);
    c.range("emission.split.stakers", e.split.stakers, 0.0, 1.0);
    c.range("emission.split.treasury", e.split.treasury, 0.0, 1.0);
    let split_sum = e.split.providers + e.split.stakers + e.split.treasury;
    if (split_sum - 1.0).abs() > 1e-9 {
        c.push(
            "emission.split",
            format!("shares sum to {split_sum}; allowed: providers + stakers + treasury = 1"),
        );
    }
    c.range("emission.treasury_sell", e.treasury_sell, 0.0, 1.0);

    let b = &s.burn;
    match b.kind {
        BurnKind::Bme => {
            if let Some(f) = b.fee {
                c.range("burn.fee", f, 0.0, 1.0);
            }
            c.unused(
                "burn.fraction",
                &b.fraction,
                "with burn.kind = \"bme\" (use burn.fee)",
            );
        }
        BurnKind::RevenueBurn | BurnKind::Buyback => {
            let why = format!("with burn.kind = \"{}\"", b.kind.name());
            if let Some(f) = c.required("burn.fraction", b.fraction, &why) {
                c.range("burn.fraction", f, 0.0, 1.0);
            }
            c.unused("burn.fee", &b.fee, &why);
        }
        BurnKind::None => {
            c.unused("burn.fee", &b.fee, "with burn.kind = \"none\"");
            c.unused("burn.fraction", &b.fraction, "with burn.kind = \"none\"");
        }
    }
    if b.kind != BurnKind::Buyback {
        let why = format!(
            "with burn.kind = \"{}\" (only buyback has one)",
            b.kind.name()
        );
        c.unused("burn.destination", &b.destination, &why);
    }

    let d = &s.demand;
    c.magnitude("demand.usd_per_day", d.usd_per_day, 1e15, false);
    c.range("demand.growth", d.growth, -5.0, 5.0);
    c.range("demand.volatility", d.volatility, 0.0, 5.0);
    c.range("demand.price_elasticity", d.price_elasticity, 0.0, 10.0);
    c.range("demand.churn", d.churn, 0.0, 100.0);

    let mk = &s.market;
    c.range("market.drift", mk.drift, -50.0, 50.0);
    c.range("market.volatility", mk.volatility, 0.0, 10.0);
    c.magnitude("market.depth", mk.depth, 1000.0, false);
    c.range("market.impact", mk.impact, 0.0, 100.0);
    c.range("market.impact_cap", mk.impact_cap, 0.0, 5.0);
    c.magnitude(
        "market.impact_half_life_days",
        mk.impact_half_life_days,
        1e5,
        false,
    );
    c.range("market.revenue_beta", mk.revenue_beta, -5.0, 5.0);
    c.jumps("market.jumps", &mk.jumps);
    // With token-quoted jobs, a price move changes demand by (1 - elasticity) and served
    // demand feeds back into the price with revenue_beta: a loop gain of magnitude >= 1
    // makes every path explode (found by the conservation property test).
    let loop_gain = mk.revenue_beta * (1.0 - s.demand.price_elasticity);
    if s.payment.quoted_in == QuotedIn::Token && loop_gain.abs() >= 1.0 {
        c.push(
            "market.revenue_beta",
            format!(
                "value {} with demand.price_elasticity = {} and payment.quoted_in = \"token\" gives a price-usage feedback gain revenue_beta * (1 - price_elasticity) = {loop_gain:.3}; allowed: magnitude below 1 (larger gains diverge)",
                mk.revenue_beta, s.demand.price_elasticity
            ),
        );
    }
    if let Some(r) = &mk.regimes {
        c.range("market.regimes.calm_to_stress", r.calm_to_stress, 0.0, 1.0);
        c.range("market.regimes.stress_to_calm", r.stress_to_calm, 0.0, 1.0);
        c.range("market.regimes.stress.drift", r.stress.drift, -50.0, 50.0);
        c.range(
            "market.regimes.stress.volatility",
            r.stress.volatility,
            0.0,
            10.0,
        );
        c.range(
            "market.regimes.stress.jump_rate",
            r.stress.jump_rate,
            0.0,
            365.0,
        );
    }

    let k = &s.compute;
    c.magnitude("compute.capacity_floor", k.capacity_floor, 1e15, false);
    c.magnitude("compute.capacity_cap", k.capacity_cap, 1e15, false);
    if !(k.capacity >= k.capacity_floor && k.capacity <= k.capacity_cap) {
        c.push(
            "compute.capacity",
            format!(
                "value {} is out of range; allowed: compute.capacity_floor = {} to compute.capacity_cap = {}",
                k.capacity, k.capacity_floor, k.capacity_cap
            ),
        );
    }
    c.magnitude("compute.cost_per_unit_day", k.cost_per_unit_day, 1e9, false);
    c.range("compute.cost_volatility", k.cost_volatility, 0.0, 5.0);
    c.range("compute.cost_reversion", k.cost_reversion, 0.0, 365.0);
    c.range("compute.cost_deflation", k.cost_deflation, -1.0, 1.0);
    c.jumps("compute.cost_jumps", &k.cost_jumps);
    c.magnitude(
        "compute.throughput_usd_per_unit_day",
        k.throughput_usd_per_unit_day,
        1e12,
        false,
    );
    c.range("compute.entry_speed", k.entry_speed, 0.0, 1000.0);
    c.range("compute.exit_speed", k.exit_speed, 0.0, 1000.0);
    if let SellFraction::Fixed(v) = k.sell_fraction {
        c.range("compute.sell_fraction", v, 0.0, 1.0);
    }
    c.range("compute.sell_min", k.sell_min, 0.0, 1.0);
    c.range("compute.fee_sell", k.fee_sell, 0.0, 1.0);

    let st = &s.staking;
    c.range("staking.target", st.target, 0.0, 1.0);
    c.range("staking.panic", st.panic, 0.0, 100.0);
    c.range("staking.speed", st.speed, 0.0, 365.0);
    c.range("staking.unstake_sell", st.unstake_sell, 0.0, 1.0);

    if s.vesting.len() > MAX_VESTING {
        c.push(
            "vesting",
            format!(
                "has {} tranches; allowed: at most {MAX_VESTING}",
                s.vesting.len()
            ),
        );
    }
    let mut vesting_total = 0.0;
    for (i, v) in s.vesting.iter().enumerate() {
        c.text(
            &format!("vesting[{i}].name"),
            &v.name,
            MAX_LABEL_CHARS,
            "a label",
        );
        c.magnitude(&format!("vesting[{i}].amount"), v.amount, 1e18, true);
        c.magnitude(&format!("vesting[{i}].cliff_days"), v.cliff_days, 1e6, true);
        c.magnitude(
            &format!("vesting[{i}].linear_days"),
            v.linear_days,
            1e6,
            true,
        );
        c.range(
            &format!("vesting[{i}].sell_fraction"),
            v.sell_fraction,
            0.0,
            1.0,
        );
        vesting_total += v.amount;
    }
    if let Some(max) = t.max_supply {
        if t.issued + vesting_total > max * (1.0 + 1e-12) {
            c.push(
                "vesting",
                format!(
                    "token.issued {} plus vesting amounts {vesting_total} exceed token.max_supply {max}",
                    t.issued
                ),
            );
        }
    }

    let rv = &s.review;
    c.range("review.max_insider_share", rv.max_insider_share, 0.0, 1.0);
    c.range("review.min_cliff_days", rv.min_cliff_days, 0.0, 1e6);
    c.range("review.max_widening_share", rv.max_widening_share, 0.0, 1.0);
    c.range("review.min_p_breakeven", rv.min_p_breakeven, 0.0, 1.0);
    c.range(
        "review.max_first_year_factor",
        rv.max_first_year_factor,
        1.0,
        1e3,
    );

    let co = &s.correlation;
    c.range_open("correlation.price_demand", co.price_demand, -1.0, 1.0);
    c.range_open("correlation.price_cost", co.price_cost, -1.0, 1.0);
    c.range_open("correlation.demand_cost", co.demand_cost, -1.0, 1.0);
    if crate::stats::cholesky3(co.price_demand, co.price_cost, co.demand_cost).is_none() {
        c.push(
            "correlation",
            format!(
                "price_demand = {}, price_cost = {}, demand_cost = {} do not form a positive definite correlation matrix",
                co.price_demand, co.price_cost, co.demand_cost
            ),
        );
    }

    let sp = &s.spiral;
    c.range_open("spiral.price_drawdown", sp.price_drawdown, 0.0, 1.0);
    c.range_open("spiral.capacity_drawdown", sp.capacity_drawdown, 0.0, 1.0);
    c.range_open("spiral.demand_drawdown", sp.demand_drawdown, 0.0, 1.0);
    c.magnitude("spiral.window_days", sp.window_days, 1e5, false);
    if sp.persist_days == 0 || sp.persist_days > m.horizon_days.max(1) {
        c.push(
            "spiral.persist_days",
            format!(
                "value {} is out of range; allowed: 1 to horizon_days = {}",
                sp.persist_days, m.horizon_days
            ),
        );
    }

    if s.shock.len() > MAX_SHOCKS {
        c.push(
            "shock",
            format!(
                "has {} entries; allowed: at most {MAX_SHOCKS}",
                s.shock.len()
            ),
        );
    }
    for (i, sh) in s.shock.iter().enumerate() {
        if sh.day >= m.horizon_days {
            c.push(
                format!("shock[{i}].day"),
                format!(
                    "value {} is out of range; allowed: 0 to horizon_days - 1 = {}",
                    sh.day,
                    m.horizon_days.saturating_sub(1)
                ),
            );
        }
        for (name, v) in [
            ("price", sh.price),
            ("demand", sh.demand),
            ("gpu_cost", sh.gpu_cost),
            ("capacity", sh.capacity),
        ] {
            if !(v > -1.0 && v <= 100.0) {
                c.push(
                    format!("shock[{i}].{name}"),
                    format!("value {v} is out of range; allowed: greater than -1 (a total loss), at most 100"),
                );
            }
        }
    }

    let r = &s.risk;
    if r.quantiles.is_empty() || r.quantiles.len() > 16 {
        c.push(
            "risk.quantiles",
            format!("has {} entries; allowed: 1 to 16", r.quantiles.len()),
        );
    }
    for (i, q) in r.quantiles.iter().enumerate() {
        c.range_open(&format!("risk.quantiles[{i}]"), *q, 0.0, 1.0);
    }
    if r.var_levels.len() > 8 {
        c.push(
            "risk.var_levels",
            format!("has {} entries; allowed: at most 8", r.var_levels.len()),
        );
    }
    for (i, q) in r.var_levels.iter().enumerate() {
        c.range_open(&format!("risk.var_levels[{i}]"), *q, 0.5, 1.0);
    }
    if let Some(a) = &s.alerts {
        if let Some(v) = a.max_spiral_probability {
            c.range("alerts.max_spiral_probability", v, 0.0, 1.0);
        }
        if let Some(v) = a.max_emissions_to_revenue {
            c.magnitude("alerts.max_emissions_to_revenue", v, 1e12, false);
        }
    }
    // `[sweep]` is checked where it is expanded (`workflows::sweep::expand`).
    c.problems.extend(super::governance::rule_problems(s));
    // What each change sets is checked on the scenario it produces, once the base is valid
    // (otherwise every base problem would come back once per change).
    if c.problems.is_empty() && !s.governance.is_empty() {
        let all: Vec<(usize, &Governance)> = s.governance.iter().enumerate().collect();
        for &(i, g) in &all {
            if let Err(p) = super::governance::apply(s, i, g, validate) {
                c.problems.extend(p);
            }
        }
        if c.problems.is_empty() && all.len() > 1 {
            if let Err(p) = super::governance::apply_all(s, &all, validate) {
                c.problems.extend(p);
            }
        }
    }
    c.problems
}

//! `[[governance]]`: changes of the design during a run. This module turns an entry's `set`
//! table into the scenario the change produces ([`apply`]), which is how a change is both
//! validated (the changed scenario must itself be valid) and compiled (the model reads the
//! new values from the changed scenario's parameters). Which keys may change mid-run is
//! [`GOVERNABLE`]: the values the model keeps per path (docs/MODEL.md section 0).
//!
//! Why the change goes through the scenario's own table: the keys, defaults and range checks
//! of `set` are then exactly those of the file format, with nothing written twice.

use super::keys::{scenario_table, set_key};
use super::types::{Governance, Scenario, Trigger};

/// The keys a governance change may set (`emission.split` stands for its three shares).
pub const GOVERNABLE: [&str; 18] = [
    "emission.kind",
    "emission.per_day",
    "emission.period_days",
    "emission.annual_rate",
    "emission.inflation_min",
    "emission.inflation_max",
    "emission.inflation_rate_change",
    "emission.goal_bonded",
    "emission.split",
    "emission.treasury_sell",
    "burn.kind",
    "burn.fee",
    "burn.fraction",
    "burn.destination",
    "staking.target",
    "staking.panic",
    "staking.speed",
    "staking.unstake_sell",
];

/// The `[emission]` keys that belong to a kind: a change of `emission.kind` drops the base's.
const EMISSION_KIND_KEYS: [&str; 9] = [
    "per_day",
    "period_days",
    "yearly",
    "decay",
    "annual_rate",
    "inflation_min",
    "inflation_max",
    "inflation_rate_change",
    "goal_bonded",
];

/// The counter word of an uncertain change's draws (`rng::stream::GOVERNANCE`): FNV-1a of its
/// name, so a change keeps its draws, and its days, when other changes are added, removed or
/// reordered.
pub fn draw_id(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

/// The governable key a leaf key of `set` belongs to (`emission.split.providers` ->
/// `emission.split`), if any.
pub fn governable(key: &str) -> Option<&'static str> {
    let group = if key.starts_with("emission.split.") {
        "emission.split"
    } else {
        key
    };
    GOVERNABLE.iter().copied().find(|k| *k == group)
}

/// The leaf keys of a `set` table with their values, dotted (`set = { burn = { kind = .. } }`
/// and `set = { "burn.kind" = .. }` are the same key), in the table's order.
pub fn leaves(set: &toml::Table) -> Vec<(String, toml::Value)> {
    fn walk(prefix: &str, t: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(sub) => walk(&key, sub, out),
                _ => out.push((key, v.clone())),
            }
        }
    }
    let mut out = Vec::new();
    walk("", set, &mut out);
    out
}

/// The governable keys an entry sets (each once, in [`GOVERNABLE`] order), with a kind change
/// standing for every key of its kind: setting `burn.kind` replaces the whole `[burn]` table,
/// setting `emission.kind` every kind-specific `[emission]` key.
pub fn keys_set(g: &Governance) -> Vec<&'static str> {
    let set: Vec<&'static str> = leaves(&g.set)
        .iter()
        .filter_map(|(k, _)| governable(k))
        .collect();
    let kind_emission = set.contains(&"emission.kind");
    let kind_burn = set.contains(&"burn.kind");
    GOVERNABLE
        .iter()
        .copied()
        .filter(|k| {
            set.contains(k)
                || (kind_burn && k.starts_with("burn."))
                || (kind_emission
                    && k.strip_prefix("emission.")
                        .is_some_and(|rest| EMISSION_KIND_KEYS.contains(&rest)))
        })
        .collect()
}

/// How [`apply`] checks the changed scenario: validation passes its range checks
/// (`scenario::validate`, which in turn calls [`apply`]: a function argument rather than an
/// import, so the two modules do not depend on each other); compilation, of a scenario
/// already validated, passes [`no_check`].
pub type Check = fn(&Scenario) -> Vec<(String, String)>;

/// A [`Check`] that finds nothing.
pub fn no_check(_: &Scenario) -> Vec<(String, String)> {
    Vec::new()
}

/// The scenario `base` becomes once change `g` is enacted (without any `[[governance]]` of its
/// own), or every problem with the change as (field, message), fields spelt relative to the
/// file (`governance[1].set.burn.fraction`). `index` is the entry's position in the file;
/// `check` validates the changed scenario.
pub fn apply(
    base: &Scenario,
    index: usize,
    g: &Governance,
    check: Check,
) -> Result<Scenario, Vec<(String, String)>> {
    apply_all(base, &[(index, g)], check)
}

/// [`apply`] for several changes in turn (the cumulative check of validation).
pub fn apply_all(
    base: &Scenario,
    changes: &[(usize, &Governance)],
    check: Check,
) -> Result<Scenario, Vec<(String, String)>> {
    let mut s = base.clone();
    s.governance.clear();
    let mut table = scenario_table(&s).map_err(|e| vec![("governance".to_string(), e)])?;
    let mut problems = Vec::new();
    for (index, g) in changes {
        let at = format!("governance[{index}].set");
        let leaves = leaves(&g.set);
        if leaves.is_empty() {
            problems.push((
                at.clone(),
                "is empty; allowed: one or more of the governable keys".into(),
            ));
        }
        if leaves.iter().any(|(k, _)| k == "burn.kind") {
            table.insert("burn".into(), toml::Value::Table(toml::Table::new()));
        }
        if let Some(toml::Value::Table(e)) = table.get_mut("emission") {
            if let Some((_, kind)) = leaves.iter().find(|(k, _)| k == "emission.kind") {
                if kind.as_str() == Some("schedule") {
                    problems.push((
                        format!("{at}.emission.kind"),
                        "value \"schedule\" cannot be enacted during a run (its yearly table starts on day 0); allowed: \"halving_by_supply\", \"halving_by_time\", \"inflation\", \"bonded_inflation\", \"none\"".into(),
                    ));
                }
                for k in EMISSION_KIND_KEYS {
                    e.remove(k);
                }
            }
            // A written split replaces the base's whole split: a share left out is 0.
            if leaves.iter().any(|(k, _)| k.starts_with("emission.split")) {
                e.insert("split".into(), toml::Value::Table(toml::Table::new()));
            }
        }
        for (key, value) in leaves {
            if governable(&key).is_none() {
                problems.push((
                    format!("{at}.{key}"),
                    format!(
                        "cannot change during a run; allowed: {} (and emission.split.providers, .stakers, .treasury)",
                        GOVERNABLE.join(", ")
                    ),
                ));
            } else if let Err(e) = set_key(&mut table, &key, value) {
                problems.push((format!("{at}.{key}"), e));
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let prefix = match changes {
        [(i, _)] => format!("governance[{i}].set"),
        _ => "governance (all changes in list order)".to_string(),
    };
    let rename = |field: String| -> String {
        if field.starts_with("governance") {
            field
        } else {
            format!("{prefix}.{field}")
        }
    };
    let (issues, readable) = super::schema::check(&table);
    let mut problems: Vec<(String, String)> = issues
        .into_iter()
        .map(|i| (rename(i.field), i.message))
        .collect();
    if let Some(t) = readable {
        match toml::Value::Table(t).try_into::<Scenario>() {
            Ok(mut changed) => {
                changed.source_toml = base.source_toml.clone();
                problems.extend(check(&changed).into_iter().map(|(f, m)| (rename(f), m)));
                if problems.is_empty() {
                    return Ok(changed);
                }
            }
            Err(e) => problems.push((prefix.clone(), e.message().trim().to_string())),
        }
    }
    Err(problems)
}

/// Checks of the entries themselves (name, one rule, its ranges), as (field, message);
/// [`apply`] checks what they set.
pub fn rule_problems(s: &Scenario) -> Vec<(String, String)> {
    use super::limits::{MAX_GOVERNANCE, MAX_GOVERNANCE_NAME_CHARS, MAX_HORIZON_DAYS};
    let mut out = Vec::new();
    let mut push = |f: String, m: String| out.push((f, m));
    if s.governance.len() > MAX_GOVERNANCE {
        push(
            "governance".into(),
            format!(
                "has {} entries; allowed: at most {MAX_GOVERNANCE}",
                s.governance.len()
            ),
        );
    }
    for (i, g) in s.governance.iter().enumerate() {
        let at = format!("governance[{i}]");
        let ok_name = !g.name.is_empty()
            && g.name.chars().count() <= MAX_GOVERNANCE_NAME_CHARS
            && g.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok_name {
            push(
                format!("{at}.name"),
                format!(
                    "value {:?} is not allowed; use 1 to {MAX_GOVERNANCE_NAME_CHARS} letters, digits, '_' and '-' (it names a column of paths.parquet)",
                    g.name
                ),
            );
        }
        if s.governance[..i].iter().any(|h| h.name == g.name) {
            push(
                format!("{at}.name"),
                format!(
                    "value {:?} is used by an earlier entry; names must be unique",
                    g.name
                ),
            );
        }
        if g.description.chars().count() > super::limits::MAX_DESCRIPTION_CHARS {
            push(
                format!("{at}.description"),
                format!(
                    "is too long; allowed: at most {} characters",
                    super::limits::MAX_DESCRIPTION_CHARS
                ),
            );
        }
        let rules = [
            g.day.is_some(),
            g.probability.is_some() || g.window_days.is_some(),
            g.when.is_some(),
        ];
        if rules.iter().filter(|r| **r).count() != 1 {
            push(
                at.clone(),
                "needs exactly one rule: `day` (scheduled), `probability` with `window_days` (uncertain) or `when` (triggered)".into(),
            );
        }
        if let Some(d) = g.day {
            if d > MAX_HORIZON_DAYS {
                push(
                    format!("{at}.day"),
                    format!("value {d} is out of range; allowed: 0 to {MAX_HORIZON_DAYS}"),
                );
            }
        }
        if g.probability.is_some() || g.window_days.is_some() {
            match g.probability {
                Some(p) if p > 0.0 && p <= 1.0 => {}
                Some(p) => push(
                    format!("{at}.probability"),
                    format!("value {p} is out of range; allowed: above 0, at most 1"),
                ),
                None => push(
                    format!("{at}.probability"),
                    "missing; required with window_days".into(),
                ),
            }
            match g.window_days.as_deref() {
                Some([a, b]) if a <= b && *b <= MAX_HORIZON_DAYS => {}
                Some(w) => push(
                    format!("{at}.window_days"),
                    format!(
                        "value {w:?} is not allowed; allowed: [first, last] with 0 <= first <= last <= {MAX_HORIZON_DAYS}"
                    ),
                ),
                None => push(
                    format!("{at}.window_days"),
                    "missing; required with probability".into(),
                ),
            }
        }
        match &g.when {
            Some(w) => {
                for (f, m) in trigger_problems(w) {
                    push(format!("{at}.when{f}"), m);
                }
            }
            None => {
                for (key, v) in [("for_days", g.for_days), ("delay_days", g.delay_days)] {
                    if v.is_some() {
                        push(
                            format!("{at}.{key}"),
                            "is used only with `when` (a triggered change); remove it".into(),
                        );
                    }
                }
            }
        }
        for (key, v) in [("for_days", g.for_days), ("delay_days", g.delay_days)] {
            if let Some(d) = v.filter(|d| *d > MAX_HORIZON_DAYS) {
                push(
                    format!("{at}.{key}"),
                    format!("value {d} is out of range; allowed: 0 to {MAX_HORIZON_DAYS}"),
                );
            }
        }
    }
    out
}

/// Problems of a `when` table, fields relative to it (`.price_below`).
fn trigger_problems(w: &Trigger) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut check = |key: &str, v: Option<f64>, ok: fn(f64) -> bool, allowed: &str| {
        if let Some(v) = v {
            if !ok(v) {
                out.push((
                    format!(".{key}"),
                    format!("value {v} is out of range; allowed: {allowed}"),
                ));
            }
        }
    };
    let positive = |v: f64| (1e-12..=1e6).contains(&v);
    check(
        "price_below",
        w.price_below,
        positive,
        "1e-12 to 1e6 (a fraction of the day-0 price)",
    );
    check(
        "drawdown_above",
        w.drawdown_above,
        |v| (0.0..1.0).contains(&v),
        "0 to below 1",
    );
    check(
        "staked_fraction_below",
        w.staked_fraction_below,
        |v| v > 0.0 && v <= 1.0,
        "above 0, at most 1",
    );
    check(
        "er_ratio_above",
        w.er_ratio_above,
        |v| v > 0.0 && v <= 1e12,
        "above 0, at most 1e12",
    );
    check(
        "capacity_below",
        w.capacity_below,
        positive,
        "1e-12 to 1e6 (a fraction of the day-0 capacity)",
    );
    if *w == Trigger::default() {
        out.push((
            String::new(),
            "is empty; allowed: one or more of price_below, drawdown_above, staked_fraction_below, er_ratio_above, capacity_below".into(),
        ));
    }
    out
}

//! The key reference of the scenario format, read from `docs/SCENARIO.md` itself: for every
//! key (dotted, as validation messages spell them: `burn.fraction`, `market.jumps.rate`,
//! `vesting[].amount`) its meaning, unit, default and allowed values, which `kind` requires,
//! allows or refuses it, and an example value. `tokenrisk keys`, `tokenrisk explain` and the
//! comments of `tokenrisk init` all come from here.
//!
//! Why parsed from the document rather than written out a second time: the page a user reads
//! and the text the CLI prints then cannot drift. SCENARIO.md section 2 already has, per
//! table, rows `| key | meaning | unit | default | allowed values |` and, for `emission` and
//! `burn`, a table of which keys each `kind` requires and refuses; it is embedded with
//! `include_str!` and parsed once. The tests check it against the keys deserialization
//! accepts ([`super::schema::all_keys`]): every key has a row (or, for a table, a heading)
//! and every row is a real key, so a new key without documentation fails the build's tests.

use std::sync::OnceLock;

/// The scenario reference as shipped: `docs/SCENARIO.md`.
pub const SCENARIO_MD: &str = include_str!("../../docs/SCENARIO.md");

/// What one `kind` choice does with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Requires,
    Allows,
    Refuses,
}

/// One `kind` choice's use of a key: `emission.kind = "schedule"` requires `emission.yearly`.
#[derive(Debug, Clone, PartialEq)]
pub struct KindUse {
    /// The choosing key, e.g. `emission.kind`.
    pub choice: String,
    /// The choice, e.g. `schedule`.
    pub kind: String,
    pub role: Role,
}

/// One key (or table) of the format as SCENARIO.md documents it. Text cells keep the
/// document's markdown (backticks); [`plain`] strips it for a terminal.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Dotted key with `[]` for an array of tables: `vesting[].amount`.
    pub key: String,
    pub meaning: String,
    pub unit: String,
    pub default: String,
    pub allowed: String,
    /// The heading of the document section it is in: `[burn] (optional)`.
    pub section: String,
    /// For a key that is also a sub-table with its own section: that section's paragraph.
    pub notes: String,
    pub kinds: Vec<KindUse>,
}

impl Entry {
    /// The first sentence of the meaning, for a one-line comment: up to the first ". " that
    /// is not part of an ellipsis or `p..` (the next sentence starts with a capital).
    pub fn short_meaning(&self) -> String {
        let m = plain(&self.meaning);
        let end = m.match_indices(". ").map(|(i, _)| i).find(|&i| {
            !m[..i].ends_with('.') && m[i + 2..].starts_with(|c: char| c.is_uppercase())
        });
        match end {
            Some(i) => m[..=i].to_string(),
            None => m,
        }
    }

    /// Whether the key is a table (or array of tables) rather than a value.
    pub fn is_table(&self) -> bool {
        self.unit == "table" || self.unit == "array of tables"
    }
}

/// Every entry of SCENARIO.md section 2, in document order.
pub fn entries() -> &'static [Entry] {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| parse(SCENARIO_MD))
}

/// The entry of `key`, spelt as in validation messages (`vesting[1].amount` and
/// `vesting[].amount` are the same key; `[burn]` and `burn` the same table).
pub fn entry(key: &str) -> Option<&'static Entry> {
    let k = normalize(key);
    entries().iter().find(|e| e.key == k)
}

/// `vesting[1].amount` -> `vesting[].amount`, `[burn]` / `[[vesting]]` -> `burn` / `vesting`,
/// `"market.volatility"` (as a `[sweep]` key) -> `market.volatility`.
pub fn normalize(key: &str) -> String {
    let k = key.trim().trim_matches('"');
    let k = if k.starts_with('[') && k.ends_with(']') {
        k.trim_matches(['[', ']'])
    } else {
        k
    };
    let mut out = String::new();
    let mut chars = k.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '[' {
            while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                chars.next();
            }
        }
    }
    out
}

/// Up to `n` known keys closest to `key`, for "unknown key" messages: likely typos of the
/// whole key (edit distance), keys whose last segment is a likely typo of its last segment
/// (`fractoin` -> `burn.fraction`), and keys that contain it (`volatility`), closest first.
pub fn closest(key: &str, n: usize) -> Vec<&'static str> {
    let k = normalize(key);
    let tail_of = |s: &str| s.rsplit(['.', ']']).next().unwrap_or(s).to_string();
    let tail = tail_of(&k);
    let near = |len: usize| (len / 4).max(2);
    let mut scored: Vec<(usize, &'static str)> = entries()
        .iter()
        .filter_map(|e| {
            let full = strsim::damerau_levenshtein(&k, &e.key);
            let by_tail = strsim::damerau_levenshtein(&tail, &tail_of(&e.key));
            let score = if full <= near(k.chars().count()) {
                full
            } else if by_tail <= near(tail.chars().count()) {
                by_tail + 1
            } else if tail.len() >= 3 && e.key.contains(tail.as_str()) {
                2
            } else {
                return None;
            };
            Some((score, e.key.as_str()))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(n).map(|(_, k)| k).collect()
}

/// Markdown cell text for a terminal or a TOML comment: without backticks or bold marks.
pub fn plain(s: &str) -> String {
    s.replace('`', "").replace("**", "")
}

/// The text of the first backticked span of `line`.
fn first_quoted(line: &str) -> Option<&str> {
    line.split('`').nth(1)
}

/// The cells of a markdown table row, trimmed.
fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_start_matches('|')
        .trim_end_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect()
}

/// A heading's table spec as a key: `[market.regimes]` -> `market.regimes`, `[[vesting]]`
/// -> `vesting` (an array of tables; its rows are `vesting[].KEY`), `market.jumps` as is.
fn heading_key(spec: &str) -> (String, bool) {
    let array = spec.starts_with("[[");
    (spec.trim_matches(['[', ']']).to_string(), array)
}

fn join(table: &str, key: &str) -> String {
    if table.is_empty() {
        key.to_string()
    } else {
        format!("{table}.{key}")
    }
}

/// Parses section 2 of SCENARIO.md (see the module header).
fn parse(doc: &str) -> Vec<Entry> {
    let start = doc.find("## 2. Tables and keys").unwrap_or(0);
    let end = doc[start..]
        .find("\n## 3.")
        .map_or(doc.len(), |i| start + i);
    let mut out: Vec<Entry> = Vec::new();
    // The current heading: its key, the prefix of its rows, its text.
    let mut prefix = String::new();
    let mut section = String::new();
    // Where a heading's first paragraph is being collected: the entry, and whether into its
    // notes (a sub-table that has a row of its own) rather than its meaning.
    let mut paragraph: Option<(usize, bool)> = None;
    let mut in_kind_table = false;
    let mut in_key_table = false;
    for line in doc[start..end].lines() {
        if let Some(h) = line
            .strip_prefix("#### ")
            .or_else(|| line.strip_prefix("### "))
        {
            let Some(spec) = first_quoted(h) else {
                continue;
            };
            let (key, array) = heading_key(spec);
            prefix = if array {
                format!("{key}[]")
            } else {
                key.clone()
            };
            section = plain(h);
            in_kind_table = false;
            in_key_table = false;
            let required = h.contains("(required)");
            let tail = h.split_once('(').map(|(_, t)| t.trim_end_matches(')'));
            let default = if required {
                "required".to_string()
            } else {
                tail.unwrap_or("optional").to_string()
            };
            match out.iter().position(|e| e.key == key) {
                // A sub-table that also has a row in its parent's table: the row stays,
                // the section's paragraph becomes its notes, and its section is its own.
                Some(i) => {
                    out[i].section = section.clone();
                    paragraph = Some((i, true));
                }
                None => {
                    out.push(Entry {
                        key,
                        meaning: String::new(),
                        unit: if array { "array of tables" } else { "table" }.into(),
                        default,
                        allowed: "—".into(),
                        section: section.clone(),
                        notes: String::new(),
                        kinds: Vec::new(),
                    });
                    paragraph = Some((out.len() - 1, false));
                }
            }
            continue;
        }
        if line.trim().is_empty() {
            in_kind_table = false;
            in_key_table = false;
            // The paragraph ends at its first blank line.
            if let Some((i, notes)) = paragraph {
                let e = &out[i];
                if !(if notes { &e.notes } else { &e.meaning }).is_empty() {
                    paragraph = None;
                }
            }
            continue;
        }
        if line.starts_with("| `kind` | requires") {
            in_kind_table = true;
            paragraph = None;
            continue;
        }
        if line.starts_with("| key | meaning") {
            in_key_table = true;
            paragraph = None;
            continue;
        }
        if line.starts_with("| ---") {
            continue;
        }
        if in_kind_table {
            let c = cells(line);
            let Some(kind) = first_quoted(&c[0]) else {
                continue;
            };
            for (cell, role) in c
                .iter()
                .skip(1)
                .zip([Role::Requires, Role::Allows, Role::Refuses])
            {
                for (i, name) in cell.split('`').enumerate() {
                    if i % 2 == 0 || name.is_empty() {
                        continue;
                    }
                    let key = if name.contains('.') {
                        name.to_string()
                    } else {
                        join(&prefix, name)
                    };
                    let use_ = KindUse {
                        choice: join(&prefix, "kind"),
                        kind: kind.to_string(),
                        role,
                    };
                    if let Some(e) = out.iter_mut().find(|e| e.key == key) {
                        e.kinds.push(use_);
                    }
                }
            }
            continue;
        }
        if in_key_table && line.starts_with("| `") {
            let c = cells(line);
            if c.len() < 5 {
                continue;
            }
            let Some(name) = first_quoted(&c[0]) else {
                continue;
            };
            let key = join(&prefix, name);
            let entry = Entry {
                key: key.clone(),
                meaning: c[1].clone(),
                unit: c[2].clone(),
                default: c[3].clone(),
                allowed: c[4].clone(),
                section: section.clone(),
                notes: String::new(),
                kinds: Vec::new(),
            };
            match out.iter_mut().find(|e| e.key == key) {
                // A row for a sub-table whose heading came first keeps the heading's text.
                Some(e) => {
                    let notes = std::mem::take(&mut e.meaning);
                    *e = Entry { notes, ..entry };
                }
                None => out.push(entry),
            }
            continue;
        }
        // Prose: the first paragraph after a heading describes its table.
        if let Some((i, notes)) = paragraph {
            if !line.starts_with('|') && !line.starts_with("```") {
                let e = &mut out[i];
                let target = if notes { &mut e.notes } else { &mut e.meaning };
                if !target.is_empty() {
                    target.push(' ');
                }
                target.push_str(line.trim());
            }
        }
    }
    out
}

/// An example value for `key` (a leaf key, `[]` for any index): the value a bundled
/// scenario gives it (every default written out), else one from a short list for the keys
/// no bundled scenario sets. Every leaf key of the format has one (tested).
pub fn example(key: &str) -> Option<toml::Value> {
    let k = normalize(key);
    for p in super::PRESETS {
        let Ok(s) = super::parse(p.toml, p.file) else {
            continue;
        };
        let Ok(t) = super::keys::scenario_table(&s) else {
            continue;
        };
        if let Some(v) = super::keys::get_key(&t, &k.replace("[]", "[0]")) {
            return Some(v.clone());
        }
    }
    let text = FALLBACK_EXAMPLES.iter().find(|(f, _)| *f == k)?.1;
    text.parse::<toml_edit::Value>()
        .ok()
        .and_then(|v| toml::from_str::<toml::Table>(&format!("v = {v}")).ok())
        .and_then(|mut t| t.remove("v"))
}

/// Examples of the keys that no bundled scenario sets.
const FALLBACK_EXAMPLES: &[(&str, &str)] = &[
    ("emission.period_days", "1460"),
    ("sweep", r#"{ "market.volatility" = [0.6, 0.9, 1.2] }"#),
    ("vesting[].name", r#""team""#),
    ("shock[].day", "180"),
    ("shock[].price", "-0.5"),
    ("shock[].demand", "-0.3"),
    ("shock[].gpu_cost", "0.5"),
    ("shock[].capacity", "-0.1"),
    ("burn.fraction", "0.2"),
    ("burn.destination", r#""stakers""#),
    ("emission.inflation_min", "0.07"),
    ("emission.inflation_max", "0.20"),
    ("emission.inflation_rate_change", "0.13"),
    ("emission.goal_bonded", "0.67"),
    ("governance[].name", r#""mission_70""#),
    (
        "governance[].description",
        r#""burn 20% of revenue if the proposal passes""#,
    ),
    ("governance[].day", "180"),
    ("governance[].probability", "0.6"),
    ("governance[].window_days", "[60, 240]"),
    ("governance[].for_days", "14"),
    ("governance[].delay_days", "30"),
    (
        "governance[].set",
        r#"{ "burn.kind" = "revenue_burn", "burn.fraction" = 0.2 }"#,
    ),
    ("governance[].when.price_below", "0.5"),
    ("governance[].when.drawdown_above", "0.5"),
    ("governance[].when.staked_fraction_below", "0.2"),
    ("governance[].when.er_ratio_above", "30"),
    ("governance[].when.capacity_below", "0.5"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::schema::{all_keys, shape, Field, Shape};

    fn leaf_keys() -> Vec<String> {
        fn walk(fields: &[Field], path: &str, out: &mut Vec<String>) {
            for f in fields {
                let p = join(path, f.name);
                match &f.shape {
                    Shape::Table(sub) => walk(sub, &p, out),
                    Shape::List(elem) => match &**elem {
                        Shape::Table(sub) => walk(sub, &format!("{p}[]"), out),
                        _ => out.push(p),
                    },
                    _ => out.push(p),
                }
            }
        }
        let Shape::Table(fields) = shape() else {
            unreachable!()
        };
        let mut out = Vec::new();
        walk(fields, "", &mut out);
        out
    }

    /// Issue 12, "What to build" 4: the reference and the keys deserialization accepts are
    /// the same set: every key of the schema has a row (or heading), every row is a key.
    #[test]
    fn issue12_every_key_has_a_row_and_every_row_is_a_key() {
        let keys = all_keys();
        let documented: Vec<&str> = entries().iter().map(|e| e.key.as_str()).collect();
        let missing: Vec<&String> = keys
            .iter()
            .filter(|k| !documented.contains(&k.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "keys without a row in SCENARIO.md: {missing:?}"
        );
        let unknown: Vec<&&str> = documented
            .iter()
            .filter(|d| !keys.iter().any(|k| k == *d))
            .collect();
        assert!(
            unknown.is_empty(),
            "SCENARIO.md rows that are not keys: {unknown:?}"
        );
        // Each key once.
        let mut sorted = documented.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), documented.len());
        // Every value row has its four cells filled in.
        for e in entries() {
            assert!(
                !e.meaning.is_empty() || e.is_table(),
                "{}: no meaning",
                e.key
            );
            assert!(!e.unit.is_empty() && !e.default.is_empty(), "{}", e.key);
        }
    }

    #[test]
    fn rows_keep_their_cells_and_kinds() {
        let e = entry("burn.fraction").unwrap();
        assert_eq!(e.unit, "fraction");
        assert_eq!(e.default, "none");
        assert!(e.allowed.starts_with("[0, 1]"), "{}", e.allowed);
        assert!(e.kinds.contains(&KindUse {
            choice: "burn.kind".into(),
            kind: "revenue_burn".into(),
            role: Role::Requires
        }));
        assert!(e
            .kinds
            .iter()
            .any(|u| u.kind == "bme" && u.role == Role::Refuses));
        let y = entry("emission.yearly").unwrap();
        assert!(y
            .kinds
            .iter()
            .any(|u| u.kind == "schedule" && u.role == Role::Requires));
        // `token.max_supply` is named absolutely in the emission kind table.
        assert!(entry("token.max_supply")
            .unwrap()
            .kinds
            .iter()
            .any(|u| u.choice == "emission.kind" && u.kind == "halving_by_supply"));
        let v = entry("vesting[2].amount").unwrap();
        assert_eq!(v.key, "vesting[].amount");
        assert_eq!(v.unit, "tokens");
        assert_eq!(entry("[[vesting]]").unwrap().unit, "array of tables");
        assert!(entry("market.regimes.stress.drift").is_some());
        assert!(entry("market").unwrap().meaning.contains("P = F * exp(X)"));
        assert_eq!(
            entry("market.jumps.rate").unwrap().short_meaning(),
            "Expected number of jumps per year in the calm regime."
        );
        assert_eq!(
            entry("risk.quantiles").unwrap().short_meaning(),
            "Extra quantiles for the p.. columns of timeseries.parquet and the spiral_day_p.., \
             er_ratio_p.. and final_price_p.. columns of summary.parquet."
        );
        assert!(entry("burn.fractoin").is_none());
    }

    #[test]
    fn unknown_keys_get_the_closest_known_ones() {
        assert_eq!(closest("burn.fractoin", 3), ["burn.fraction"]);
        assert_eq!(closest("market.volatilty", 3)[0], "market.volatility");
        assert!(closest("volatility", 5).contains(&"market.volatility"));
        assert!(closest("zzzzzzzzzzzzzzzzzzzzzz", 3).is_empty());
    }

    #[test]
    fn every_leaf_key_has_an_example() {
        for k in leaf_keys() {
            assert!(example(&k).is_some(), "{k}: no example");
        }
        assert_eq!(example("burn.fraction").unwrap().as_float(), Some(0.2));
    }
}

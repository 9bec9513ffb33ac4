//! Dotted keys into a scenario, as validation messages spell them (`burn.fraction`,
//! `market.jumps.rate`, `vesting[0].amount`, `emission.yearly[1]`): parsing, reading and
//! setting them on a scenario's TOML table, and the scenario as a table with every default
//! written out. Sweeps set swept keys this way and sensitivity perturbs every numeric leaf.

use super::Scenario;

/// One segment of a dotted key: a table key, or an index into an array.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Parses `a.b[1].c` into segments.
pub fn parse_key(key: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    if key.trim().is_empty() {
        return Err("empty key".into());
    }
    for part in key.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "segment {part:?} is not a key name (letters, digits, '_', '-', optionally [index])"
            ));
        }
        out.push(Segment::Key(name.to_string()));
        while !rest.is_empty() {
            let close = rest
                .find(']')
                .filter(|_| rest.starts_with('['))
                .ok_or_else(|| format!("segment {part:?} has an unclosed or stray bracket"))?;
            let idx: usize = rest[1..close]
                .parse()
                .map_err(|_| format!("segment {part:?}: {:?} is not an index", &rest[1..close]))?;
            out.push(Segment::Index(idx));
            rest = &rest[close + 1..];
        }
    }
    Ok(out)
}

/// The value at a dotted key, if present.
pub fn get_key<'a>(table: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let segs = parse_key(key).ok()?;
    let mut cur: Option<&toml::Value> = None;
    for (i, seg) in segs.iter().enumerate() {
        cur = match (i, seg, cur) {
            (0, Segment::Key(k), _) => table.get(k),
            (_, Segment::Key(k), Some(toml::Value::Table(t))) => t.get(k),
            (_, Segment::Index(n), Some(toml::Value::Array(a))) => a.get(*n),
            _ => None,
        };
        cur?;
    }
    cur
}

/// Sets the value at a dotted key, creating missing tables on the way. Fails on a path
/// through a non-table value or an array index out of range.
pub fn set_key(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let segs = parse_key(key)?;
    let mut walked = String::new();
    let mut cur = Cursor::Table(table);
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match seg {
            Segment::Key(k) => {
                if !walked.is_empty() {
                    walked.push('.');
                }
                walked.push_str(k);
            }
            Segment::Index(n) => walked.push_str(&format!("[{n}]")),
        }
        let slot: &mut toml::Value = match (cur, seg) {
            (Cursor::Table(t), Segment::Key(k)) => {
                if last {
                    t.insert(k.clone(), value);
                    return Ok(());
                }
                t.entry(k.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            }
            (Cursor::Array(a), Segment::Index(n)) => {
                let len = a.len();
                let v = a.get_mut(*n).ok_or_else(|| {
                    format!("{walked}: index out of range (the list has {len} entries)")
                })?;
                if last {
                    *v = value;
                    return Ok(());
                }
                v
            }
            (Cursor::Table(_), Segment::Index(_)) => {
                return Err(format!("{walked}: not a list, cannot be indexed"))
            }
            (Cursor::Array(_), Segment::Key(_)) => {
                return Err(format!("{walked}: a list needs an index, e.g. [0]"))
            }
        };
        cur = match slot {
            toml::Value::Table(t) => Cursor::Table(t),
            toml::Value::Array(a) => Cursor::Array(a),
            other => {
                return Err(format!(
                    "{walked} holds the value {}, not a table or a list",
                    format_value(other)
                ))
            }
        };
    }
    unreachable!("parse_key returns at least one segment")
}

enum Cursor<'a> {
    Table(&'a mut toml::Table),
    Array(&'a mut Vec<toml::Value>),
}

/// A TOML value written inline, as TOML writes it: `0.1`, `"cost"`, `[1, 2]`, `{ rate = 4.0 }`.
pub fn format_value(v: &toml::Value) -> String {
    v.to_string()
}

/// A table written as a TOML document (the `toml` crate's serializer): plain keys first, then
/// sub-tables as `[a.b]` and arrays of tables as `[[a]]`, each header after a blank line.
/// Floats are spelled as Rust's shortest round trip (`2e-5`, `1e20`, `0.1`) rather than
/// `toml`'s positional form (`0.00002`, `100000000000000000000.0`), and strings always
/// double-quoted (`toml` single-quotes one that holds a `"`), as the hand-written writer this
/// replaced spelled them, so a sweep point's recorded text (and its hash) is unchanged.
pub fn to_toml(table: &toml::Table) -> Result<String, String> {
    use toml_edit::visit_mut::{visit_value_mut, VisitMut};
    struct ShortestFloats;
    impl VisitMut for ShortestFloats {
        fn visit_value_mut(&mut self, node: &mut toml_edit::Value) {
            let spelled = match node {
                toml_edit::Value::Float(f) => {
                    let x = *f.value();
                    Some(if x.is_nan() {
                        "nan".to_string()
                    } else if x.is_infinite() {
                        if x > 0.0 { "inf" } else { "-inf" }.to_string()
                    } else {
                        format!("{x:?}")
                    })
                }
                // A basic (double-quoted) string, as JSON escapes it, where toml would
                // choose a literal one; kept only where TOML reads back the same string.
                toml_edit::Value::String(t) => serde_json::to_string(t.value()).ok(),
                _ => None,
            };
            let Some(spelled) = spelled else {
                visit_value_mut(self, node);
                return;
            };
            // Parsing keeps the spelling.
            if let Ok(mut v) = spelled.parse::<toml_edit::Value>() {
                let same = match (&v, &*node) {
                    (toml_edit::Value::Float(a), toml_edit::Value::Float(b)) => {
                        a.value().to_bits() == b.value().to_bits()
                            || (a.value().is_nan() && b.value().is_nan())
                    }
                    (toml_edit::Value::String(a), toml_edit::Value::String(b)) => {
                        a.value() == b.value()
                    }
                    _ => false,
                };
                if same {
                    *v.decor_mut() = node.decor().clone();
                    *node = v;
                }
            }
        }
    }
    let text = toml::to_string(table).map_err(|e| format!("cannot write the scenario: {e}"))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| format!("cannot write the scenario: {e}"))?;
    ShortestFloats.visit_document_mut(&mut doc);
    let text = doc.to_string();
    // A blank line before the first header too, as before every other.
    Ok(if text.starts_with('[') {
        format!("\n{text}")
    } else {
        text
    })
}

/// Sets dotted `key` of a TOML text to `value` (a TOML value as written: `0.8`, `"cost"`,
/// `{ rate = 4.0 }`), keeping the rest of the text, comments and layout included, as it is:
/// the edit a person would make. Missing tables on the way are created; an index must name an
/// existing element of an array or array of tables.
pub fn set_in_toml(text: &str, key: &str, value: &str) -> Result<String, String> {
    use toml_edit::{Item, TableLike, Value};
    /// The new value with the old one's surrounding spaces and comment.
    fn replace_keeping_decor(old: &mut Value, value: Value) {
        let decor = old.decor().clone();
        *old = value;
        *old.decor_mut() = decor;
    }
    fn set(t: &mut dyn TableLike, segs: &[Segment], value: Value) -> Result<(), String> {
        let [Segment::Key(k), rest @ ..] = segs else {
            return Err("a list needs a key before its index".into());
        };
        match rest {
            [] => {
                match t.get_mut(k) {
                    Some(Item::Value(old)) => replace_keeping_decor(old, value),
                    _ => {
                        t.insert(k, Item::Value(value));
                    }
                }
                Ok(())
            }
            [Segment::Index(n), rest @ ..] => {
                let item = t.get_mut(k).ok_or_else(|| format!("{k}: no such list"))?;
                let len =
                    |l: usize| format!("{k}[{n}]: index out of range (the list has {l} entries)");
                match item {
                    Item::ArrayOfTables(a) => {
                        let l = a.len();
                        set(a.get_mut(*n).ok_or_else(|| len(l))?, rest, value)
                    }
                    Item::Value(Value::Array(a)) => {
                        let l = a.len();
                        let v = a.get_mut(*n).ok_or_else(|| len(l))?;
                        match (rest, v) {
                            ([], v) => {
                                replace_keeping_decor(v, value);
                                Ok(())
                            }
                            (rest, Value::InlineTable(t)) => set(t, rest, value),
                            _ => Err(format!("{k}[{n}] is not a table")),
                        }
                    }
                    _ => Err(format!("{k}: not a list, cannot be indexed")),
                }
            }
            rest => {
                let item = t.entry(k).or_insert(Item::Table(toml_edit::Table::new()));
                let sub = item
                    .as_table_like_mut()
                    .ok_or_else(|| format!("{k} holds a value, not a table"))?;
                set(sub, rest, value)
            }
        }
    }
    let mut doc: toml_edit::DocumentMut =
        text.parse().map_err(|e| format!("not valid TOML: {e}"))?;
    let value: Value = value
        .parse()
        .map_err(|e| format!("{value:?} is not a TOML value: {e}"))?;
    set(doc.as_table_mut(), &parse_key(key)?, value)?;
    Ok(doc.to_string())
}

/// The scenario as a table with every default filled in (the form sweeps and sensitivity
/// perturb), without its `[sweep]`. The seed is left out when it does not fit a TOML integer;
/// callers copy seed and paths from the base scenario after parsing.
pub fn scenario_table(s: &Scenario) -> Result<toml::Table, String> {
    let mut c = s.clone();
    c.sweep = None;
    let big_seed = i64::try_from(c.scenario.seed).is_err();
    if big_seed {
        c.scenario.seed = 0;
    }
    let mut t = match toml::Value::try_from(&c) {
        Ok(toml::Value::Table(t)) => t,
        Ok(_) => return Err("scenario did not serialize to a table".into()),
        Err(e) => return Err(format!("cannot serialize the scenario: {e}")),
    };
    if big_seed {
        if let Some(toml::Value::Table(m)) = t.get_mut("scenario") {
            m.remove("seed");
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A preset with a vesting tranche and no staking table.
    fn base() -> Scenario {
        let p = crate::scenario::preset("death_spiral_stress").unwrap();
        crate::scenario::parse(p.toml, p.file).unwrap()
    }

    #[test]
    fn keys_parse() {
        use Segment::*;
        assert_eq!(
            parse_key("vesting[0].amount").unwrap(),
            vec![Key("vesting".into()), Index(0), Key("amount".into())]
        );
        assert_eq!(
            parse_key("emission.yearly[2]").unwrap(),
            vec![Key("emission".into()), Key("yearly".into()), Index(2)]
        );
        for bad in ["", "a..b", "a[", "a[x]", "a]b", ".a", "a b"] {
            assert!(parse_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn toml_writer_round_trips() {
        let s = base();
        let t = scenario_table(&s).unwrap();
        let text = to_toml(&t).unwrap();
        let back: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(back, t);
        // Every table header, the first included, follows a blank line.
        let mut only_tables = toml::Table::new();
        only_tables.insert("a".into(), toml::Value::Table(toml::Table::new()));
        assert!(to_toml(&only_tables).unwrap().starts_with("\n[a]"));
        // Floats in their shortest round-trip spelling, with the same value.
        let mut floats = toml::Table::new();
        for (k, x) in [
            ("tiny", 2e-5),
            ("huge", 1e20),
            ("plain", 0.1),
            ("neg", -0.0),
        ] {
            floats.insert(k.into(), toml::Value::Float(x));
        }
        let text = to_toml(&floats).unwrap();
        for line in ["tiny = 2e-5", "huge = 1e20", "plain = 0.1", "neg = -0.0"] {
            assert!(text.contains(line), "{text}");
        }
        assert_eq!(toml::from_str::<toml::Table>(&text).unwrap(), floats);
        // Strings double-quoted, even with a quote inside.
        let mut strings = toml::Table::new();
        strings.insert(
            "d".into(),
            toml::Value::String("a \"quoted\" \\ name".into()),
        );
        let text = to_toml(&strings).unwrap();
        assert_eq!(text, "d = \"a \\\"quoted\\\" \\\\ name\"\n");
        assert_eq!(toml::from_str::<toml::Table>(&text).unwrap(), strings);
        let mut odd = toml::Table::new();
        odd.insert("a b".into(), toml::Value::String("q\"\\\n\u{1}".into()));
        odd.insert("x".into(), toml::Value::Float(1e-7));
        odd.insert("y".into(), toml::Value::Float(-0.0));
        odd.insert("z".into(), toml::Value::Array(vec![]));
        let back: toml::Table = toml::from_str(&to_toml(&odd).unwrap()).unwrap();
        assert_eq!(back, odd);
    }

    #[test]
    fn text_edits_keep_the_rest_of_the_file() {
        let text = "# a comment\n[market]\nvolatility = 0.8 # why\n\n[[vesting]]\namount = 1.0\n";
        let t = set_in_toml(text, "market.volatility", "1.1").unwrap();
        assert_eq!(
            t,
            "# a comment\n[market]\nvolatility = 1.1 # why\n\n[[vesting]]\namount = 1.0\n"
        );
        let t = set_in_toml(&t, "vesting[0].amount", "2.0").unwrap();
        assert!(t.contains("amount = 2.0"), "{t}");
        let t = set_in_toml(&t, "staking.speed", "4.0").unwrap();
        let back: toml::Table = toml::from_str(&t).unwrap();
        assert_eq!(
            get_key(&back, "staking.speed").and_then(|v| v.as_float()),
            Some(4.0)
        );
        assert!(set_in_toml(text, "vesting[3].amount", "1.0")
            .unwrap_err()
            .contains("out of range"));
        assert!(set_in_toml(text, "market.volatility.x", "1.0").is_err());
    }

    #[test]
    fn get_and_set_keys() {
        let mut t = scenario_table(&base()).unwrap();
        set_key(&mut t, "vesting[0].amount", toml::Value::Float(5.0)).unwrap();
        assert_eq!(
            get_key(&t, "vesting[0].amount"),
            Some(&toml::Value::Float(5.0))
        );
        set_key(&mut t, "staking.speed", toml::Value::Float(2.0)).unwrap();
        assert_eq!(
            get_key(&t, "staking.speed").and_then(|v| v.as_float()),
            Some(2.0)
        );
        set_key(&mut t, "new.table.key", toml::Value::Integer(1)).unwrap();
        assert_eq!(get_key(&t, "new.table.key"), Some(&toml::Value::Integer(1)));
        assert!(get_key(&t, "vesting[9].amount").is_none());
    }
}

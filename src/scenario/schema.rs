//! The shape of the scenario format (which tables and keys exist, which are required, what
//! type each value has), read from the serde types themselves, and the check of a parsed TOML
//! table against it that reports every unknown key, missing key and wrong type at once.
//!
//! Why traced rather than written out: serde's derive already knows every field name (it
//! hands them to `deserialize_struct`), every `kind` choice (`deserialize_enum`) and every
//! leaf type (`deserialize_f64`, `deserialize_u32`, ...). [`shape`] drives `Scenario`'s
//! `Deserialize` with a recording deserializer, so the list of keys has one source, the
//! types in `types.rs`, and cannot drift from what deserialization accepts. A key is required
//! when leaving it out makes that same derive fail with "missing field". serde itself stops at
//! the first error, which is why the walk over the table ([`check`]) is ours.

use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use std::sync::OnceLock;

use super::Scenario;

/// The type of a value at one place of the format.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A number: a TOML float or integer.
    Number,
    /// A TOML integer in `min..=max`.
    Integer {
        min: i64,
        max: i64,
    },
    Text,
    Bool,
    /// One of these strings (a `kind`-like choice).
    Choice(&'static [&'static str]),
    /// A list of values of one shape (an array, or an array of tables).
    List(Box<Shape>),
    /// A table with these keys.
    Table(Vec<Field>),
    /// A table with any keys (`[sweep]`).
    AnyTable,
    /// Anything; serde decides (an untagged choice such as `sell_fraction`).
    Any,
}

/// One key of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: &'static str,
    pub shape: Shape,
    pub required: bool,
}

/// The shape of a whole scenario file, traced once.
pub fn shape() -> &'static Shape {
    static SHAPE: OnceLock<Shape> = OnceLock::new();
    SHAPE.get_or_init(|| {
        let mut root = trace(None).expect("tracing the scenario types cannot fail");
        mark_required(&mut root, "");
        root
    })
}

/// Every key of the format as a dotted path (`market.jumps.rate`, `vesting[].amount`), in
/// the order of the types; for checking documentation against the format.
pub fn all_keys() -> Vec<String> {
    fn walk(shape: &Shape, path: &str, out: &mut Vec<String>) {
        match shape {
            Shape::Table(fields) => {
                for f in fields {
                    let p = join(path, f.name);
                    out.push(p.clone());
                    walk(&f.shape, &p, out);
                }
            }
            Shape::List(elem) => walk(elem, &format!("{path}[]"), out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(shape(), "", &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Traces `Scenario`'s deserialization; with `omit`, the key at that traced path (`a.b`,
/// `vesting[].amount`) is left out, and the result says whether it may be.
fn trace(omit: Option<&str>) -> Result<Shape, de::value::Error> {
    let mut out = Shape::Any;
    <Scenario as serde::Deserialize>::deserialize(Tracer {
        out: &mut out,
        path: String::new(),
        omit,
    })?;
    Ok(out)
}

fn mark_required(shape: &mut Shape, path: &str) {
    match shape {
        Shape::Table(fields) => {
            for f in fields {
                let p = join(path, f.name);
                f.required =
                    matches!(trace(Some(&p)), Err(e) if e.to_string().starts_with("missing field"));
                mark_required(&mut f.shape, &p);
            }
        }
        Shape::List(elem) => mark_required(elem, &format!("{path}[]")),
        _ => {}
    }
}

/// A deserializer that hands every visitor a placeholder value and records what was asked.
struct Tracer<'a> {
    out: &'a mut Shape,
    path: String,
    omit: Option<&'a str>,
}

macro_rules! integer {
    ($($method:ident $visit:ident $t:ty),*) => {$(
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
            // TOML integers are i64: the range a file can write.
            let min = (<$t>::MIN as i128).max(i64::MIN as i128) as i64;
            let max = (<$t>::MAX as i128).min(i64::MAX as i128) as i64;
            *self.out = Shape::Integer { min, max };
            v.$visit(0)
        }
    )*};
}

impl<'de> Deserializer<'de> for Tracer<'_> {
    type Error = de::value::Error;

    integer!(deserialize_u8 visit_u8 u8, deserialize_u16 visit_u16 u16,
        deserialize_u32 visit_u32 u32, deserialize_u64 visit_u64 u64,
        deserialize_i8 visit_i8 i8, deserialize_i16 visit_i16 i16,
        deserialize_i32 visit_i32 i32, deserialize_i64 visit_i64 i64);

    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        *self.out = Shape::Number;
        v.visit_f64(0.0)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        *self.out = Shape::Number;
        v.visit_f32(0.0)
    }
    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        *self.out = Shape::Bool;
        v.visit_bool(false)
    }
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        *self.out = Shape::Text;
        v.visit_str("")
    }
    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.deserialize_str(v)
    }
    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.deserialize_str(v)
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_some(self)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, Self::Error> {
        v.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        let mut elem = Shape::Any;
        let r = v.visit_seq(OneElement {
            out: Some(&mut elem),
            path: format!("{}[]", self.path),
            omit: self.omit,
        });
        *self.out = Shape::List(Box::new(elem));
        r
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        *self.out = Shape::AnyTable;
        v.visit_map(de::value::MapDeserializer::new(std::iter::empty::<(
            &str,
            &str,
        )>()))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Self::Error> {
        let mut shapes = vec![Shape::Any; fields.len()];
        let r = v.visit_map(Fields {
            fields,
            shapes: &mut shapes,
            next: 0,
            path: self.path,
            omit: self.omit,
        });
        *self.out = Shape::Table(
            fields
                .iter()
                .zip(shapes)
                .map(|(name, shape)| Field {
                    name,
                    shape,
                    required: false,
                })
                .collect(),
        );
        r
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Self::Error> {
        *self.out = Shape::Choice(variants);
        v.visit_enum(variants[0].into_deserializer())
    }
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        // Only an untagged choice asks for "anything" (`sell_fraction`); a number is one
        // of its forms.
        *self.out = Shape::Any;
        v.visit_f64(0.0)
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i128 u128 bytes byte_buf unit unit_struct tuple tuple_struct identifier
    }
}

/// The one element a traced list holds.
struct OneElement<'a> {
    out: Option<&'a mut Shape>,
    path: String,
    omit: Option<&'a str>,
}

impl<'de> SeqAccess<'de> for OneElement<'_> {
    type Error = de::value::Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        match self.out.take() {
            None => Ok(None),
            Some(out) => seed
                .deserialize(Tracer {
                    out,
                    path: self.path.clone(),
                    omit: self.omit,
                })
                .map(Some),
        }
    }
}

/// Every field of a traced struct, each with a placeholder value (but the omitted one).
struct Fields<'a> {
    fields: &'static [&'static str],
    shapes: &'a mut [Shape],
    next: usize,
    path: String,
    omit: Option<&'a str>,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = de::value::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        while self.next < self.fields.len() {
            let name = self.fields[self.next];
            if self.omit == Some(join(&self.path, name).as_str()) {
                self.next += 1;
                continue;
            }
            return seed.deserialize(name.into_deserializer()).map(Some);
        }
        Ok(None)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let i = self.next;
        self.next += 1;
        seed.deserialize(Tracer {
            out: &mut self.shapes[i],
            path: join(&self.path, self.fields[i]),
            omit: self.omit,
        })
    }
}

/// One problem the walk found: the dotted field path (with array indices) and the message.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub field: String,
    pub message: String,
    /// An unknown key (the rest of the file can still be read without it).
    pub unknown: bool,
}

/// Checks `table` against the format: every unknown key (with a "did you mean"), every
/// missing required key or table and every value of the wrong type. Returns the problems and,
/// when the only problems are unknown keys, the table without them (which serde can read).
pub fn check(table: &toml::Table) -> (Vec<Issue>, Option<toml::Table>) {
    let mut issues = Vec::new();
    let Shape::Table(fields) = shape() else {
        unreachable!("a scenario is a table")
    };
    let mut pruned = table.clone();
    check_table(&mut pruned, fields, "", &mut issues);
    let readable = issues.iter().all(|i| i.unknown);
    (issues, readable.then_some(pruned))
}

fn check_table(t: &mut toml::Table, fields: &[Field], path: &str, out: &mut Vec<Issue>) {
    let here = if path.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in [{path}]")
    };
    let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
    let unknown: Vec<String> = t
        .keys()
        .filter(|k| !names.contains(&k.as_str()))
        .cloned()
        .collect();
    for k in &unknown {
        let hint = match did_you_mean(k, &names) {
            Some(s) => format!("did you mean `{s}`? "),
            None => String::new(),
        };
        out.push(Issue {
            field: join(path, k),
            message: format!(
                "unknown key `{k}` {here}; {hint}allowed: {}",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            unknown: true,
        });
        t.remove(k);
    }
    for f in fields {
        let p = join(path, f.name);
        match t.get_mut(f.name) {
            None if f.required => out.push(Issue {
                message: match f.shape {
                    Shape::Table(_) => format!("missing; the table [{p}] is required"),
                    _ => format!("missing; required {here}"),
                },
                field: p,
                unknown: false,
            }),
            None => {}
            Some(v) => check_value(v, &f.shape, &p, out),
        }
    }
}

fn check_value(v: &mut toml::Value, shape: &Shape, path: &str, out: &mut Vec<Issue>) {
    use toml::Value as V;
    match (shape, &mut *v) {
        (Shape::List(elem), V::Array(a)) => {
            for (i, x) in a.iter_mut().enumerate() {
                check_value(x, elem, &format!("{path}[{i}]"), out);
            }
            return;
        }
        (Shape::Table(fields), V::Table(t)) => return check_table(t, fields, path, out),
        _ => {}
    }
    let allowed: Option<String> = match (shape, &*v) {
        // An untagged choice: serde knows its forms, the trace does not.
        (Shape::Any, value) => UNTAGGED
            .iter()
            .find(|(at, reads, _)| *at == path && !reads(value))
            .map(|(_, _, allowed)| allowed.to_string()),
        (Shape::Number, V::Integer(_) | V::Float(_)) => None,
        (Shape::Number, _) => Some("a number".into()),
        (Shape::Integer { min, max }, V::Integer(i)) if *i >= *min && *i <= *max => None,
        (Shape::Integer { min, max }, V::Float(f)) if f.fract() == 0.0 && f.is_finite() => {
            Some(format!(
                "a whole number from {min} to {max}, written without a decimal point ({})",
                *f as i64
            ))
        }
        (Shape::Integer { min, max }, _) => Some(format!("a whole number from {min} to {max}")),
        (Shape::Text, V::String(_)) => None,
        (Shape::Text, _) => Some("a string in double quotes".into()),
        (Shape::Bool, V::Boolean(_)) => None,
        (Shape::Bool, _) => Some("true or false".into()),
        (Shape::Choice(choices), V::String(s)) if choices.contains(&s.as_str()) => None,
        (Shape::Choice(choices), value) => {
            let hint = value
                .as_str()
                .and_then(|s| did_you_mean(s, choices))
                .map(|s| format!(" (did you mean \"{s}\"?)"))
                .unwrap_or_default();
            let list = choices
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ");
            Some(format!("one of {list}{hint}"))
        }
        (Shape::List(_), _) => Some("a list".into()),
        (Shape::AnyTable, V::Table(_)) => None,
        (Shape::Table(_) | Shape::AnyTable, _) => Some("a table".into()),
    };
    if let Some(allowed) = allowed {
        out.push(Issue {
            field: path.to_string(),
            message: format!("{}; allowed: {allowed}", describe(v)),
            unknown: false,
        });
    }
}

/// The keys whose type is an untagged choice (traced as [`Shape::Any`]): where, whether a
/// value reads as that type, and the forms allowed.
type Untagged = (&'static str, fn(&toml::Value) -> bool, &'static str);
const UNTAGGED: [Untagged; 1] = [(
    "compute.sell_fraction",
    |v| v.clone().try_into::<super::SellFraction>().is_ok(),
    "a number from 0 to 1, or \"cost\"",
)];

/// A value in plain words: `value "a year" is a string`.
fn describe(v: &toml::Value) -> String {
    use toml::Value as V;
    let what = match v {
        V::String(_) => "a string",
        V::Integer(i) if *i < 0 => "a negative whole number",
        V::Integer(_) => "a whole number",
        V::Float(_) => "a decimal number",
        V::Boolean(_) => "a boolean",
        V::Datetime(_) => "a date",
        V::Array(_) => "a list",
        V::Table(_) => "a table",
    };
    let shown = super::keys::format_value(v);
    if shown.len() > 60 {
        format!("value is {what}")
    } else {
        format!("value {shown} is {what}")
    }
}

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(shape: &'a Shape, path: &str) -> &'a Field {
        let mut cur = shape;
        let mut found = None;
        for seg in path.split('.') {
            let (name, list) = match seg.strip_suffix("[]") {
                Some(n) => (n, true),
                None => (seg, false),
            };
            let Shape::Table(fields) = cur else {
                panic!("{path}: not a table")
            };
            let f = fields.iter().find(|f| f.name == name).unwrap();
            found = Some(f);
            cur = &f.shape;
            if list {
                let Shape::List(elem) = cur else { panic!() };
                cur = elem;
            }
        }
        found.unwrap()
    }

    #[test]
    fn the_traced_shape_matches_the_types() {
        let s = shape();
        assert!(field(s, "scenario").required && field(s, "scenario.name").required);
        assert!(!field(s, "payment").required && !field(s, "scenario.seed").required);
        assert!(!field(s, "token.max_supply").required);
        assert!(field(s, "vesting[].amount").required);
        assert!(!field(s, "vesting[].name").required);
        assert!(field(s, "market.regimes.stress.drift").required);
        assert_eq!(field(s, "token.price").shape, Shape::Number);
        assert_eq!(
            field(s, "scenario.horizon_days").shape,
            Shape::Integer {
                min: 0,
                max: u32::MAX as i64
            }
        );
        assert!(
            matches!(field(s, "emission.kind").shape, Shape::Choice(c) if c.contains(&"schedule"))
        );
        assert_eq!(field(s, "compute.sell_fraction").shape, Shape::Any);
        assert_eq!(field(s, "sweep").shape, Shape::AnyTable);
        assert!(!all_keys().iter().any(|k| k.contains("source_toml")));
        let required: Vec<String> = all_keys()
            .into_iter()
            .filter(|k| !k.contains('.') && field(s, k).required)
            .collect();
        assert_eq!(
            required,
            ["scenario", "token", "emission", "demand", "market", "compute"]
        );
    }

    #[test]
    fn typos_get_a_suggestion() {
        assert_eq!(
            did_you_mean("volatilty", &["drift", "volatility"]),
            Some("volatility")
        );
        assert_eq!(did_you_mean("zzzzzz", &["drift", "volatility"]), None);
    }
}

//! Where in a scenario file a field is written, for error messages: the 1-based line of a
//! dotted field path ([`locate_line`]), and the field whose value an error points into
//! ([`field_at`]). Both read the spans `toml_edit`'s parser keeps, so tables, arrays of
//! tables, inline tables and dotted keys are found exactly as TOML defines them.

use super::keys::{parse_key, Segment};
use toml_edit::{ImDocument, Item, Table, Value};

/// 1-based line of byte `offset` of `text`.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A place in the document that a path can go on from.
#[derive(Clone, Copy)]
enum Node<'a> {
    Table(&'a Table),
    Item(&'a Item),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    /// The value of `key` in this table (and the span of the key).
    fn key(self, key: &str) -> Option<(Node<'a>, Option<std::ops::Range<usize>>)> {
        let (k, item) = match self {
            Node::Table(t) | Node::Item(Item::Table(t)) => t.get_key_value(key)?,
            Node::Item(Item::Value(Value::InlineTable(t))) | Node::Value(Value::InlineTable(t)) => {
                t.get_key_value(key)?
            }
            _ => return None,
        };
        Some((Node::Item(item), k.span()))
    }

    /// Element `i` of this array or array of tables (and its span).
    fn index(self, i: usize) -> Option<(Node<'a>, Option<std::ops::Range<usize>>)> {
        match self {
            Node::Item(Item::ArrayOfTables(a)) => {
                let t = a.get(i)?;
                Some((Node::Table(t), t.span()))
            }
            Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => {
                let v = a.get(i)?;
                Some((Node::Value(v), v.span()))
            }
            _ => None,
        }
    }
}

/// A scenario text parsed once for many lookups of [`locate_line`]: a file with thousands of
/// problems (a 20,000-element array of bad values) is then located in one parse and a binary
/// search per problem, not one parse and one scan of the text each.
pub struct Located<'a> {
    text: &'a str,
    doc: Option<ImDocument<&'a str>>,
    /// Byte offsets of the text's newlines, ascending.
    newlines: Vec<usize>,
}

impl<'a> Located<'a> {
    pub fn new(text: &'a str) -> Located<'a> {
        Located {
            text,
            doc: ImDocument::parse(text).ok(),
            newlines: text.match_indices('\n').map(|(i, _)| i).collect(),
        }
    }

    /// [`line_of`], by binary search over the newlines.
    fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.newlines.partition_point(|&n| n < offset) + 1
    }

    /// [`locate_line`] in this text.
    pub fn line(&self, field: &str) -> Option<usize> {
        let mut node = Node::Table(self.doc.as_ref()?.as_table());
        let mut span = None;
        for seg in parse_key(field).ok()? {
            let (next, s) = match seg {
                Segment::Key(k) => node.key(&k)?,
                Segment::Index(i) => node.index(i)?,
            };
            node = next;
            span = s;
        }
        span.map(|s| self.line_of(s.start))
    }
}

/// 1-based line of a dotted field path (`market.jumps.rate`, `vesting[1].amount`,
/// `emission.yearly[3]`) in `text`: the line of its key, or of the array element. `None` when
/// the file does not write that field (a default) or is not valid TOML. For many fields of one
/// text, parse it once with [`Located`].
pub fn locate_line(text: &str, field: &str) -> Option<usize> {
    Located::new(text).line(field)
}

/// 1-based line of `key` (taken whole: `"market.volatility"` in a `[sweep]`) in the table
/// `table` of `text`.
pub fn key_line(text: &str, table: &str, key: &str) -> Option<usize> {
    let doc = ImDocument::parse(text).ok()?;
    let (k, _) = doc
        .as_table()
        .get(table)?
        .as_table_like()?
        .get_key_value(key)?;
    k.span().map(|s| line_of(text, s.start))
}

/// The dotted path of the `key = ...` on the line of byte `offset`, for a text that does not
/// parse (a syntax error there): the key, under the last table header of the text before
/// that line (which parses, as the error is on the line).
pub(super) fn field_on_line(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    let key = line
        .split_once('=')?
        .0
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    if key.is_empty() || key.starts_with('[') || key.starts_with('#') {
        return None;
    }
    fn offer(best: &mut Option<(usize, String)>, span: Option<std::ops::Range<usize>>, path: &str) {
        if let Some(s) = span {
            if best.as_ref().is_none_or(|(b, _)| s.start > *b) {
                *best = Some((s.start, path.to_string()));
            }
        }
    }
    fn last_header(t: &Table, prefix: &str, best: &mut Option<(usize, String)>) {
        for (k, item) in t.iter() {
            let path = if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            };
            match item {
                Item::Table(sub) => {
                    offer(best, sub.span(), &path);
                    last_header(sub, &path, best);
                }
                Item::ArrayOfTables(a) => {
                    for (i, sub) in a.iter().enumerate() {
                        let p = format!("{path}[{i}]");
                        offer(best, sub.span(), &p);
                        last_header(sub, &p, best);
                    }
                }
                _ => {}
            }
        }
    }
    let before = ImDocument::parse(&text[..start]).ok()?;
    let mut best = None;
    last_header(before.as_table(), "", &mut best);
    Some(match best {
        Some((_, header)) => format!("{header}.{key}"),
        None => key.to_string(),
    })
}

/// 1-based line of the first key named `name`, in document order.
pub fn line_of_key(text: &str, name: &str) -> Option<usize> {
    fn find(t: &Table, name: &str) -> Option<usize> {
        for (k, item) in t.iter() {
            if k == name {
                return t.key(k)?.span().map(|s| s.start);
            }
            let found = match item {
                Item::Table(t) => find(t, name),
                Item::ArrayOfTables(a) => a.iter().find_map(|t| find(t, name)),
                _ => None,
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }
    let doc = ImDocument::parse(text).ok()?;
    find(doc.as_table(), name).map(|at| line_of(text, at))
}

/// The dotted path (`scenario.horizon_days`, `vesting[1].amount`, `market.jumps.rate`) of the
/// field whose value spans byte `offset` of `text` (the innermost, for inline tables and
/// arrays); `None` when the offset is not inside a value (a table header, a comment) or the
/// text is not valid TOML.
pub fn field_at(text: &str, offset: usize) -> Option<String> {
    fn in_value(v: &Value, path: String, at: usize) -> Option<String> {
        let inner = match v {
            Value::InlineTable(t) => t
                .iter()
                .find_map(|(k, v)| in_value(v, format!("{path}.{k}"), at)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .find_map(|(i, v)| in_value(v, format!("{path}[{i}]"), at)),
            _ => None,
        };
        inner.or_else(|| v.span().filter(|s| s.contains(&at)).map(|_| path))
    }
    fn in_item(item: &Item, path: String, at: usize) -> Option<String> {
        match item {
            Item::Value(v) => in_value(v, path, at),
            Item::Table(t) => in_table(t, &path, at),
            Item::ArrayOfTables(a) => a
                .iter()
                .enumerate()
                .find_map(|(i, t)| in_table(t, &format!("{path}[{i}]"), at)),
            Item::None => None,
        }
    }
    fn in_table(t: &Table, prefix: &str, at: usize) -> Option<String> {
        t.iter().find_map(|(k, item)| {
            let path = if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            };
            in_item(item, path, at)
        })
    }
    let doc = ImDocument::parse(text).ok()?;
    in_table(doc.as_table(), "", offset)
}

/// The field an "unknown field `x`" message of serde names.
pub(super) fn unknown_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
[scenario]
name = \"x\"   # a comment
horizon_days = 30

[market]
jumps = { rate = 4.0, mean = -0.1 }
volatility = 0.8

[emission]
yearly = [
  1.0,
  2.0,
]

[[vesting]]
amount = 1.0

[[vesting]]
amount = 2.0
cliff_days = 10
";

    #[test]
    fn fields_are_found_on_their_lines() {
        assert_eq!(locate_line(TEXT, "scenario.horizon_days"), Some(3));
        assert_eq!(locate_line(TEXT, "market.volatility"), Some(7));
        assert_eq!(locate_line(TEXT, "market.jumps.mean"), Some(6));
        assert_eq!(locate_line(TEXT, "emission.yearly"), Some(10));
        assert_eq!(locate_line(TEXT, "emission.yearly[1]"), Some(12));
        assert_eq!(locate_line(TEXT, "vesting[1].cliff_days"), Some(20));
        assert_eq!(locate_line(TEXT, "vesting[0].cliff_days"), None);
        assert_eq!(locate_line(TEXT, "market.depth"), None);
        assert_eq!(locate_line("not = [toml", "not"), None);
        assert_eq!(line_of_key(TEXT, "cliff_days"), Some(20));
    }

    #[test]
    fn errors_are_traced_to_their_field() {
        let at = |needle: &str| TEXT.find(needle).unwrap();
        assert_eq!(
            field_at(TEXT, at("30")).as_deref(),
            Some("scenario.horizon_days")
        );
        assert_eq!(
            field_at(TEXT, at("-0.1")).as_deref(),
            Some("market.jumps.mean")
        );
        assert_eq!(
            field_at(TEXT, at("2.0,")).as_deref(),
            Some("emission.yearly[1]")
        );
        assert_eq!(
            field_at(TEXT, at("10\n")).as_deref(),
            Some("vesting[1].cliff_days")
        );
        assert_eq!(field_at(TEXT, at("[market]")), None);
        assert_eq!(field_at(TEXT, at("# a comment")), None);
        // A syntax error: the key on the error's line, under the header above it.
        let broken = TEXT.replace("horizon_days = 30", "horizon_days = 30 30");
        let at = broken.find("30 30").unwrap() + 3;
        assert_eq!(field_at(&broken, at), None);
        assert_eq!(
            field_on_line(&broken, at).as_deref(),
            Some("scenario.horizon_days")
        );
        let broken = TEXT.replace("cliff_days = 10", "cliff_days = 1 0");
        let at = broken.find("1 0").unwrap() + 2;
        assert_eq!(
            field_on_line(&broken, at).as_deref(),
            Some("vesting[1].cliff_days")
        );
        assert_eq!(key_line(TEXT, "market", "volatility"), Some(7));
    }
}

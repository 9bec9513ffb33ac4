//! `tokenrisk keys [PREFIX]` and `tokenrisk explain KEY`: the scenario key reference on the
//! terminal. Both print `scenario::reference`, which is parsed from docs/SCENARIO.md, so
//! what they say is what the reference page says; the keys are listed in the order of the
//! format's types (`scenario::schema::all_keys`), the order `tokenrisk init` writes them.

use crate::scenario::reference::{self, plain, Entry, Role};
use crate::scenario::schema;
use anyhow::{bail, Result};

/// The entries of every key of the format, in the format's order.
fn all_entries() -> Vec<&'static Entry> {
    schema::all_keys()
        .iter()
        .filter_map(|k| reference::entry(k))
        .collect()
}

/// `lead` (which names the key), then the closest known keys.
fn unknown(key: &str, lead: String) -> anyhow::Error {
    let near = reference::closest(key, 5);
    let hint = if near.is_empty() {
        "see `tokenrisk keys` for every key".to_string()
    } else {
        format!(
            "closest known keys: {}",
            near.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    anyhow::anyhow!("{lead}; {hint}")
}

/// `tokenrisk keys [PREFIX]`: one line per key: key, unit, default, allowed values.
pub fn cmd_keys(prefix: Option<&str>) -> Result<i32> {
    let wanted = prefix.map(reference::normalize);
    let rows: Vec<&Entry> = all_entries()
        .into_iter()
        .filter(|e| wanted.as_deref().is_none_or(|p| e.key.starts_with(p)))
        .collect();
    if rows.is_empty() {
        let p = prefix.unwrap_or("");
        return Err(unknown(p, format!("no scenario key starts with `{p}`")));
    }
    let width = rows.iter().map(|e| e.key.len()).max().unwrap_or(0);
    println!(
        "{:<width$}  unit | default | allowed values   (tokenrisk explain KEY for more)",
        "key"
    );
    for e in rows {
        println!(
            "{:<width$}  {} | {} | {}",
            e.key,
            plain(&e.unit),
            plain(&e.default),
            plain(&e.allowed)
        );
    }
    Ok(0)
}

/// What `kind` choices do with a key, one line per choosing key.
fn kind_lines(e: &Entry) -> Vec<String> {
    let mut choices: Vec<&str> = Vec::new();
    for u in &e.kinds {
        if !choices.contains(&u.choice.as_str()) {
            choices.push(&u.choice);
        }
    }
    choices
        .into_iter()
        .map(|c| {
            let of = |role: Role| {
                let kinds: Vec<String> = e
                    .kinds
                    .iter()
                    .filter(|u| u.choice == c && u.role == role)
                    .map(|u| format!("\"{}\"", u.kind))
                    .collect();
                kinds.join(", ")
            };
            let mut parts = Vec::new();
            for (role, word) in [
                (Role::Requires, "required with"),
                (Role::Allows, "optional with"),
                (Role::Refuses, "refused with"),
            ] {
                let kinds = of(role);
                if !kinds.is_empty() {
                    parts.push(format!("{word} {kinds}"));
                }
            }
            format!("{c}: {}", parts.join("; "))
        })
        .collect()
}

/// The TOML headers that open table `t`: `[burn]`; for the sub-table of an array's entry
/// (`governance[].when`), the entry's `[[governance]]` and then `[governance.when]`.
fn table_headers(t: &str) -> Vec<String> {
    match t.split_once("[].") {
        Some((array, _)) => vec![format!("[[{array}]]"), format!("[{}]", t.replace("[]", ""))],
        None => vec![format!("[{t}]")],
    }
}

/// The example lines of a key: its table header, the kind it needs, `key = value`.
pub fn example_lines(e: &Entry) -> Vec<String> {
    let key = &e.key;
    let (table, leaf) = match key.rsplit_once('.') {
        Some((t, l)) => (Some(t), l),
        None => (None, key.as_str()),
    };
    let mut out = Vec::new();
    let needs_kind = e
        .kinds
        .iter()
        .find(|u| u.role == Role::Requires || u.role == Role::Allows);
    if e.is_table() {
        if e.unit == "array of tables" {
            out.push(format!("[[{key}]]"));
        } else {
            out.extend(table_headers(key));
        }
        let example = match reference::example(key) {
            Some(toml::Value::Array(a)) => a.into_iter().next(),
            v => v,
        };
        match example {
            Some(toml::Value::Table(t)) if !t.is_empty() => {
                for (k, v) in t {
                    let k = if k.contains('.') {
                        format!("\"{k}\"")
                    } else {
                        k
                    };
                    out.push(format!("{k} = {v}"));
                }
            }
            _ => out.push(format!("# ... its keys: tokenrisk keys {key}")),
        }
        return out;
    }
    match table {
        Some(t) if t.ends_with("[]") => out.push(format!("[[{}]]", t.trim_end_matches("[]"))),
        Some(t) => out.extend(table_headers(t)),
        None => {}
    }
    if let Some(u) = needs_kind {
        if u.choice.rsplit_once('.').map(|(t, _)| t) == table {
            out.push(format!("kind = \"{}\"", u.kind));
        } else {
            out.insert(0, format!("# with {} = \"{}\"", u.choice, u.kind));
        }
    }
    if let Some(v) = reference::example(key) {
        out.push(format!("{leaf} = {v}"));
    }
    out
}

/// `tokenrisk explain KEY`: everything the reference says about one key.
pub fn cmd_explain(key: &str) -> Result<i32> {
    let Some(e) = reference::entry(key) else {
        return Err(unknown(key, format!("`{key}` is not a scenario key")));
    };
    if !schema::all_keys().contains(&e.key) {
        bail!("`{key}` is documented but not a key of the format (a bug: please report it)");
    }
    println!("{}", e.key);
    if !e.meaning.is_empty() {
        println!("  {}", plain(&e.meaning));
    }
    if !e.notes.is_empty() {
        println!("  {}", plain(&e.notes));
    }
    println!("  unit:     {}", plain(&e.unit));
    println!("  default:  {}", plain(&e.default));
    println!("  allowed:  {}", plain(&e.allowed));
    for line in kind_lines(e) {
        println!("  kind:     {line}");
    }
    if e.is_table() {
        let keys: Vec<String> = schema::all_keys()
            .into_iter()
            .filter(|k| {
                k.strip_prefix(e.key.as_str())
                    .is_some_and(|r| r.starts_with('.') || r.starts_with("[]."))
            })
            .collect();
        if !keys.is_empty() {
            println!("  keys:     {}", keys.join(", "));
        }
    }
    let example = example_lines(e);
    for (i, line) in example.iter().enumerate() {
        println!(
            "  {}{line}",
            if i == 0 { "example:  " } else { "          " }
        );
    }
    println!("  see:      docs/SCENARIO.md, section 2, \"{}\"", e.section);
    Ok(0)
}

//! Where in a scenario file a field is written: the 1-based line of a dotted field path,
//! for error messages.

/// Dotted path of the `key = value` on 1-based line `n`: the key, under the table header
/// above it (e.g. `scenario.horizon_days`).
pub(super) fn field_at_line(text: &str, n: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let (key, _) = lines.get(n.checked_sub(1)?)?.split_once('=')?;
    let key = key.trim();
    let header = lines[..n - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(|c| c == '[' || c == ']')
                .to_string()
        });
    Some(match header {
        Some(h) if !h.is_empty() => format!("{h}.{key}"),
        _ => key.to_string(),
    })
}

pub(super) fn unknown_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// Best-effort line of a dotted field path (`market.jumps.rate`, `vesting[1].amount`):
/// finds the table header, then the key inside it. Only used to help the reader.
pub fn locate_line(text: &str, field: &str) -> Option<usize> {
    let parts: Vec<&str> = field.split('.').collect();
    let (table_parts, key) = parts.split_at(parts.len().saturating_sub(1));
    let key = key.first()?;
    let key = key.split('[').next()?;
    // Table name and array index, e.g. "vesting[1]" -> ("vesting", Some(1)).
    let mut header = String::new();
    let mut index: Option<usize> = None;
    for p in table_parts {
        let (name, idx) = match p.split_once('[') {
            Some((n, i)) => (n, i.trim_end_matches(']').parse().ok()),
            None => (*p, None),
        };
        if !header.is_empty() {
            header.push('.');
        }
        header.push_str(name);
        index = idx.or(index);
    }
    let mut in_table = header.is_empty();
    let mut seen = 0usize;
    let mut inline_parent: Option<usize> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            let name = line.trim_matches(|c| c == '[' || c == ']').trim();
            let name = name
                .split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_end_matches(']');
            in_table = if name == header {
                let hit = index.is_none_or(|i| i == seen);
                if line.starts_with("[[") {
                    seen += 1;
                }
                hit
            } else {
                false
            };
            // An inline table `jumps = { ... }` lives under its parent table.
            if !in_table && !header.is_empty() {
                if let Some((parent, child)) = header.rsplit_once('.') {
                    if name == parent {
                        inline_parent = Some(n);
                        let _ = child;
                    } else {
                        inline_parent = None;
                    }
                }
            }
            continue;
        }
        let lhs = line.split('=').next().unwrap_or("").trim();
        if in_table && lhs == key {
            return Some(n + 1);
        }
        if inline_parent.is_some() {
            if let Some((_, child)) = header.rsplit_once('.') {
                if lhs == child && line.contains(key) {
                    return Some(n + 1);
                }
            }
        }
    }
    None
}

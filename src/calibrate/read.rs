//! Reading a price history from the text of a CSV in one of the layouts users download
//! (`series::Layout`: CoinGecko's export, Yahoo-style OHLCV, plain `date,value`), with a
//! comma or semicolon separator (a decimal comma with `;`), a BOM, CRLF and quoted fields.
//!
//! The text is untrusted. Every row that cannot be used is either dropped and listed (blank,
//! non-positive or non-finite, duplicate date) or, when it cannot be read at all, reported:
//! all such lines at once (up to [`MAX_PROBLEMS_SHOWN`]), each with its line, its text and
//! the form expected, so one edit fixes the file. Suspicious prints are flagged by
//! `outliers`. Reading the file itself (size cap, no symlinks) is the caller's, through
//! `output::untrusted`; here a row cap ([`MAX_ROWS`]) bounds the work.
//!
//! Hand-written rather than through the `csv` crate: the files are small and flat (no
//! multi-line fields), and the layout detection, the date forms and the per-line messages are
//! most of the work.

use super::outliers;
use super::series::{DropReason, Dropped, Layout, Observation, Series};
use anyhow::{bail, Result};
use chrono::{DateTime, NaiveDate, NaiveTime};

/// Choices the user makes when reading.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    /// Keep suspicious prints in the series (they are still listed, `excluded: false`).
    pub keep_outliers: bool,
}

/// Data rows (non-empty lines after the header) a file may have: about 2,700 years of daily
/// prices, or 1.9 years of minute bars. More is refused rather than read slowly.
pub const MAX_ROWS: usize = 1_000_000;

/// Unreadable lines listed in one error; the rest are counted.
pub const MAX_PROBLEMS_SHOWN: usize = 20;

/// A field's text as quoted in a message: at most this many characters.
const MAX_QUOTED: usize = 60;

const DATE_NAMES: &[&str] = &["date", "time", "timestamp", "day"];
const VALUE_NAMES: &[&str] = &["value", "price", "close", "adjclose"];
const YAHOO_NAMES: &[&str] = &["open", "high", "low", "close", "adjclose", "volume"];

const DATE_FORMS: &str = "YYYY-MM-DD, YYYY/MM/DD, YYYY-MM-DD HH:MM:SS UTC, RFC 3339 \
    (2024-01-31T12:00:00Z) or a Unix timestamp in seconds or milliseconds";

/// `n thing` or `n things`.
fn count(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

fn layouts_known() -> String {
    "CoinGecko export `snapped_at,price,market_cap,total_volume`; Yahoo-style \
     `Date,Open,High,Low,Close,Adj Close,Volume` (any order, Adj Close used when present); \
     two columns `date,value` (the date named date, time, timestamp or day; the value named \
     value, price or close); separated by `,` or `;`"
        .to_string()
}

/// `s` cut to [`MAX_QUOTED`] characters for a message, control characters escaped.
fn quote(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_QUOTED)
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    if s.chars().count() > MAX_QUOTED {
        out.push_str("...");
    }
    format!("`{out}`")
}

/// A header name as matched: lower case, without spaces, underscores, quotes or the `*`
/// marks of a copied Yahoo table (`Adj Close**`).
fn norm(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, ' ' | '_' | '*' | '"' | '\t'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Splits one line into fields on `sep`; a field may be quoted (`"..."`, `""` for a quote).
/// Unquoted fields are trimmed.
fn split_fields(line: &str, sep: char) -> std::result::Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut was_quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == sep {
            out.push(if was_quoted {
                std::mem::take(&mut cur)
            } else {
                std::mem::take(&mut cur).trim().to_string()
            });
            was_quoted = false;
        } else if was_quoted {
            if !c.is_whitespace() {
                return Err("text after a closing quote");
            }
        } else if c == '"' && cur.trim().is_empty() {
            in_quotes = true;
            was_quoted = true;
            cur.clear();
        } else {
            cur.push(c);
        }
    }
    if in_quotes {
        return Err("a quote that is never closed (fields cannot span lines)");
    }
    out.push(if was_quoted {
        cur
    } else {
        cur.trim().to_string()
    });
    Ok(out)
}

/// What the header says: the layout, the column of the date, of the value, and the columns
/// whose emptiness makes a row blank.
struct Columns {
    layout: Layout,
    date: usize,
    value: usize,
    value_name: String,
    count: usize,
}

fn columns(names: &[String], raw: &[String]) -> Option<Columns> {
    let find = |n: &str| names.iter().position(|c| c == n);
    let count = names.len();
    if let (Some(date), Some(value)) = (find("snappedat"), find("price")) {
        return Some(Columns {
            layout: Layout::CoinGecko,
            date,
            value,
            value_name: raw[value].clone(),
            count,
        });
    }
    if count > 2 {
        let date = find("date")?;
        let value = find("adjclose").or_else(|| find("close"))?;
        let others_known = names
            .iter()
            .enumerate()
            .all(|(i, n)| i == date || YAHOO_NAMES.contains(&n.as_str()));
        return others_known.then(|| Columns {
            layout: Layout::Yahoo,
            date,
            value,
            value_name: raw[value].clone(),
            count,
        });
    }
    if count == 2 {
        let is_date = |i: usize| DATE_NAMES.contains(&names[i].as_str());
        let is_value = |i: usize| VALUE_NAMES.contains(&names[i].as_str());
        let (date, value) = if is_date(0) && is_value(1) {
            (0, 1)
        } else if is_date(1) && is_value(0) {
            (1, 0)
        } else {
            return None;
        };
        return Some(Columns {
            layout: Layout::DateValue,
            date,
            value,
            value_name: raw[value].clone(),
            count,
        });
    }
    None
}

/// A date from one of [`DATE_FORMS`]; intraday times are mapped to their UTC date.
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return timestamp(s);
    }
    let b = s.as_bytes();
    if b.len() < 10 || !s.is_char_boundary(10) {
        return None;
    }
    let (d, rest) = s.split_at(10);
    let sep = b[4];
    if !(sep == b'-' || sep == b'/') || b[7] != sep {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = &d[r];
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())
            .flatten()
    };
    let date = NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?)?;
    if rest.is_empty() {
        return Some(date);
    }
    // A time: `T` or a space, HH:MM[:SS[.fff]], then a zone: Z, UTC, ±HH:MM, ±HHMM or none
    // (taken as UTC).
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (time, offset_s) = split_zone(rest.trim_end())?;
    let time = NaiveTime::parse_from_str(time, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(time, "%H:%M"))
        .ok()?;
    let utc = date.and_time(time) - chrono::TimeDelta::seconds(offset_s);
    Some(utc.date())
}

/// Splits `HH:MM:SS<zone>` into the time and the zone's offset east of UTC, in seconds.
fn split_zone(t: &str) -> Option<(&str, i64)> {
    for z in [" UTC", "UTC", "Z", "z", " GMT", "GMT"] {
        if let Some(time) = t.strip_suffix(z) {
            return Some((time.trim_end(), 0));
        }
    }
    let signed = t.rfind(['+', '-']);
    let Some(at) = signed else {
        return Some((t, 0));
    };
    let (time, zone) = t.split_at(at);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let hm: String = zone[1..].chars().filter(|c| *c != ':').collect();
    if hm.len() != 4 || !hm.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i64, i64) = (hm[..2].parse().ok()?, hm[2..].parse().ok()?);
    if h > 23 || m > 59 {
        return None;
    }
    Some((time.trim_end(), sign * (h * 3600 + m * 60)))
}

/// Timestamps below this many seconds are not read as dates (1973-03-03; an 8-digit number
/// is more likely a compact date or a typo than a 1970s price).
const MIN_SECONDS: f64 = 1e8;
/// A whole number from this magnitude on is milliseconds (1e11 s would be the year 5138;
/// 1e11 ms is 1973-03-03).
const MS_FROM: f64 = 1e11;

fn timestamp(s: &str) -> Option<NaiveDate> {
    let x: f64 = s.parse().ok()?;
    let secs = if x >= MS_FROM { x / 1000.0 } else { x };
    if !(MIN_SECONDS..MS_FROM).contains(&secs) {
        return None;
    }
    DateTime::from_timestamp(secs.floor() as i64, 0).map(|t| t.date_naive())
}

/// A number; with the `;` separator a decimal comma (`1,5`) is read too.
fn parse_number(s: &str, sep: char) -> Option<f64> {
    if sep == ';' && s.contains(',') {
        if s.contains('.') || s.matches(',').count() > 1 {
            return None;
        }
        return s.replacen(',', ".", 1).parse().ok();
    }
    s.parse().ok()
}

/// Empty, or a placeholder for one (`null`, as Yahoo writes it).
fn is_empty(s: &str) -> bool {
    s.is_empty() || s.eq_ignore_ascii_case("null")
}

/// Parses `text` (the whole file) into a series; `source` names the file in messages.
pub fn parse(text: &str, source: &str, opts: &ReadOptions) -> Result<Series> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Lines: `\n` or `\r\n`, or a lone `\r` in a file that has no `\n` at all.
    let eol = if !text.contains('\n') && text.contains('\r') {
        '\r'
    } else {
        '\n'
    };
    let mut lines = text
        .split(eol)
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((hline, header)) = lines.next() else {
        bail!(
            "{source}: the file is empty; expected a header line, one of: {}",
            layouts_known()
        );
    };
    let sep = if header.contains(';') && !header.contains(',') {
        ';'
    } else {
        ','
    };
    let raw = split_fields(header, sep).unwrap_or_else(|_| vec![header.to_string()]);
    let names: Vec<String> = raw.iter().map(|n| norm(n)).collect();
    if let Some((i, n)) = names
        .iter()
        .enumerate()
        .find(|(i, n)| !n.is_empty() && names[..*i].contains(n))
    {
        bail!(
            "{source}, line {hline}: header column {} names {} again; expected each column once",
            i + 1,
            quote(n)
        );
    }
    let Some(cols) = columns(&names, &raw) else {
        let hint = match raw.first().map(|f| parse_date(f)) {
            Some(Some(_)) => " (it looks like a data row: the file needs a header line)",
            _ => "",
        };
        bail!(
            "{source}, line {hline}: header {} is not a layout tokenrisk reads{hint}; expected \
             one of: {}",
            quote(header),
            layouts_known()
        );
    };

    let mut obs: Vec<Observation> = Vec::new();
    let mut dropped = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut n_problems = 0usize;
    let mut date_problem = false;
    let mut rows = 0usize;
    let mut problem = |n: usize, what: String| {
        n_problems += 1;
        if problems.len() < MAX_PROBLEMS_SHOWN {
            problems.push(format!("line {n}: {what}"));
        }
    };
    let number_form = if sep == ';' {
        "a decimal number such as 1234.5 or 1234,5"
    } else {
        "a decimal number such as 1234.5"
    };
    for (n, line) in lines {
        rows += 1;
        if rows > MAX_ROWS {
            bail!(
                "{source}: more than {MAX_ROWS} rows after the header; tokenrisk reads at \
                 most {MAX_ROWS} (about 2,700 years of daily prices): cut the file to the \
                 window you need"
            );
        }
        let f = match split_fields(line, sep) {
            Ok(f) => f,
            Err(why) => {
                problem(
                    n,
                    format!("{} has {why}; expected `\"...\"` fields", quote(line)),
                );
                continue;
            }
        };
        if f.len() != cols.count {
            problem(
                n,
                format!(
                    "{} has {}; expected {} separated by `{sep}`, as in the header",
                    quote(line),
                    count(f.len(), "field"),
                    cols.count
                ),
            );
            continue;
        }
        let Some(date) = parse_date(&f[cols.date]) else {
            date_problem = true;
            problem(
                n,
                format!(
                    "date {} is not a date; expected a date such as 2024-01-31",
                    quote(&f[cols.date])
                ),
            );
            continue;
        };
        let v = &f[cols.value];
        if is_empty(v) {
            if f.iter()
                .enumerate()
                .all(|(i, x)| i == cols.date || is_empty(x))
            {
                dropped.push(Dropped {
                    line: n,
                    date: Some(date),
                    reason: DropReason::Blank,
                });
            } else {
                problem(
                    n,
                    format!(
                        "{} is empty while other fields are not; expected {number_form} in \
                         column {}",
                        quote(line),
                        quote(&cols.value_name)
                    ),
                );
            }
            continue;
        }
        let Some(value) = parse_number(v, sep) else {
            problem(
                n,
                format!(
                    "value {} in column {} is not a number; expected {number_form}",
                    quote(v),
                    quote(&cols.value_name)
                ),
            );
            continue;
        };
        if !(value.is_finite() && value > 0.0) {
            dropped.push(Dropped {
                line: n,
                date: Some(date),
                reason: DropReason::NonPositive(v.chars().take(MAX_QUOTED).collect()),
            });
            continue;
        }
        obs.push(Observation {
            date,
            value,
            line: n,
        });
    }
    let forms = if date_problem {
        format!(" (dates may be written {DATE_FORMS})")
    } else {
        String::new()
    };
    if n_problems == 1 {
        bail!("{source}, {}{forms}", problems[0]);
    }
    if n_problems > 1 {
        let more = n_problems - problems.len();
        let tail = if more > 0 {
            format!("\n  and {more} more")
        } else {
            String::new()
        };
        bail!(
            "{source}: {n_problems} lines cannot be read ({} layout, separator `{sep}`):\n  \
             {}{tail}{}",
            cols.layout.name(),
            problems.join("\n  "),
            if date_problem {
                format!("\n  dates may be written {DATE_FORMS}")
            } else {
                String::new()
            }
        );
    }

    let was_unsorted = obs.windows(2).any(|w| w[1].date < w[0].date);
    obs.sort_by_key(|o| (o.date, o.line));
    let mut kept: Vec<Observation> = Vec::with_capacity(obs.len());
    for o in obs {
        if kept.last().is_some_and(|k| k.date == o.date) {
            dropped.push(Dropped {
                line: o.line,
                date: Some(o.date),
                reason: DropReason::Duplicate,
            });
        } else {
            kept.push(o);
        }
    }
    dropped.sort_by_key(|d| d.line);
    if kept.is_empty() {
        bail!(
            "{source}: no usable prices ({} after the header, {} dropped as blank, \
             non-positive or duplicate); expected at least one row with a positive {}",
            count(rows, "row"),
            dropped.len(),
            quote(&cols.value_name)
        );
    }
    let outliers = outliers::apply(&mut kept, opts.keep_outliers);
    Ok(Series {
        source: source.to_string(),
        layout: cols.layout,
        obs: kept,
        dropped,
        outliers,
        was_unsorted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn date_value_rows_are_read_sorted_and_cleaned() {
        let text = "date,value\n2024-01-03,3\n2024-01-01,1\n\n2024-01-02,0\n2024-01-01,9\n";
        let s = parse(text, "t.csv", &ReadOptions::default()).unwrap();
        assert_eq!(
            s.obs.iter().map(|o| o.value).collect::<Vec<_>>(),
            vec![1.0, 3.0]
        );
        assert!(s.was_unsorted);
        assert_eq!(s.dropped.len(), 2);
        assert_eq!(s.dropped[1].reason, DropReason::Duplicate);
        assert_eq!(s.dropped[1].line, 6);
    }

    #[test]
    fn an_unreadable_row_names_its_line() {
        let err = parse(
            "date,value\n2024-01-01,1\n2024-13-01,2\n",
            "t.csv",
            &ReadOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("line 3") && err.contains("2024-13-01"),
            "{err}"
        );
    }

    #[test]
    fn date_forms() {
        let day = Some(d("2024-01-31"));
        for s in [
            "2024-01-31",
            "2024/01/31",
            "2024-01-31 00:00:00 UTC",
            "2024-01-31T12:00:00Z",
            "2024-01-31T12:00:00.250+00:00",
            "2024-01-31 23:59",
            "2024-02-01T03:00:00+05:00",
            "2024-01-31T20:00:00-0300",
            "1706702400",
            "1706702400000",
            "1706702400.5",
        ] {
            assert_eq!(parse_date(s), day, "{s}");
        }
        assert_eq!(
            parse_date("2024-01-31T22:00:00-05:00"),
            Some(d("2024-02-01"))
        );
        for s in [
            "",
            "2024-02-30",
            "2024-1-31",
            "2024-01/31",
            "31.01.2024",
            "20240131",
            "2024-01-31T25:00:00Z",
            "2024-01-31T12:00:00+99:00",
            "2024-01-31x",
            "99999999999999999999",
            "1e10",
            "２０２４-01-31",
        ] {
            assert_eq!(parse_date(s), None, "{s}");
        }
    }

    #[test]
    fn fields_split_with_quotes() {
        assert_eq!(
            split_fields(r#" a ,"b,c", "d""e" ,"#, ',').unwrap(),
            vec!["a", "b,c", "d\"e", ""]
        );
        assert!(split_fields(r#""abc"#, ',').is_err());
        assert!(split_fields(r#""a"b,c"#, ',').is_err());
    }

    #[test]
    fn numbers_with_a_decimal_comma_only_after_semicolons() {
        assert_eq!(parse_number("1,5", ';'), Some(1.5));
        assert_eq!(parse_number("1,5", ','), None);
        assert_eq!(parse_number("1.234,5", ';'), None);
        assert_eq!(parse_number("1e3", ','), Some(1000.0));
    }
}

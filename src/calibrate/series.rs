//! A price (or revenue, or cost) history as the fits see it: dated positive observations in
//! date order, what was dropped on the way and why, and the log-increments between kept
//! observations with the true time between them (a gap of three days is one increment of
//! three days, never three of one).

use chrono::NaiveDate;

/// Days in the model's year: `dt = days / 365` (docs/MODEL.md, "Conventions").
pub const DAYS_PER_YEAR: f64 = 365.0;

/// The file layouts `read` recognises from the header line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// CoinGecko's export: `snapped_at,price,market_cap,total_volume`.
    CoinGecko,
    /// Yahoo-style OHLCV: `Date,Open,High,Low,Close,Adj Close,Volume` in any column order;
    /// the close is `Adj Close` when present, else `Close`.
    Yahoo,
    /// Two columns: a date and a value.
    DateValue,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::CoinGecko => "CoinGecko export",
            Layout::Yahoo => "Yahoo-style OHLCV",
            Layout::DateValue => "date,value",
        }
    }
}

/// One kept observation. `line` is the 1-based line of the file it came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation {
    pub date: NaiveDate,
    pub value: f64,
    pub line: usize,
}

/// Why a row of the file was not used.
#[derive(Clone, Debug, PartialEq)]
pub enum DropReason {
    /// Every value field empty (Yahoo files have runs of these before listing).
    Blank,
    /// A price of zero or below, or not a finite number.
    NonPositive(String),
    /// A second row for a date already seen; the first is kept.
    Duplicate,
}

/// A dropped row, with its line and (when it could be read) its date.
#[derive(Clone, Debug, PartialEq)]
pub struct Dropped {
    pub line: usize,
    pub date: Option<NaiveDate>,
    pub reason: DropReason,
}

/// A suspicious print: a listing-day artifact or a data error that moves the price by more
/// than the rule allows and reverses (see `read`'s rule). `excluded` is false only when the
/// user asked to keep outliers.
#[derive(Clone, Debug, PartialEq)]
pub struct Outlier {
    pub date: NaiveDate,
    pub value: f64,
    pub line: usize,
    pub reason: String,
    pub excluded: bool,
}

/// A history read from a file: the kept observations sorted by date (excluded outliers
/// removed), and every decision made on the way.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The file's name as given by the user, for messages and provenance.
    pub source: String,
    pub layout: Layout,
    pub obs: Vec<Observation>,
    pub dropped: Vec<Dropped>,
    pub outliers: Vec<Outlier>,
    /// True when the file's rows were not in date order (they are sorted here).
    pub was_unsorted: bool,
}

/// Log-increments between consecutive kept observations: `x[i] = ln(v[i+1] / v[i])` over
/// `dt[i]` years (`days / 365`), ending on `dates[i]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Increments {
    pub dates: Vec<NaiveDate>,
    pub days: Vec<u32>,
    pub dt: Vec<f64>,
    pub x: Vec<f64>,
}

impl Increments {
    pub fn len(&self) -> usize {
        self.x.len()
    }

    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// Total time covered, in years.
    pub fn years(&self) -> f64 {
        self.dt.iter().sum()
    }

    /// The increments ending on or before `last` (for fits that must not look ahead).
    pub fn until(&self, last: NaiveDate) -> Increments {
        let n = self.dates.partition_point(|d| *d <= last);
        Increments {
            dates: self.dates[..n].to_vec(),
            days: self.days[..n].to_vec(),
            dt: self.dt[..n].to_vec(),
            x: self.x[..n].to_vec(),
        }
    }
}

impl Series {
    /// The observations dated within `[from, to]` (either end open when `None`).
    pub fn window(&self, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Series {
        let keep = |d: NaiveDate| from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t);
        Series {
            obs: self.obs.iter().copied().filter(|o| keep(o.date)).collect(),
            ..self.clone()
        }
    }

    pub fn first_date(&self) -> Option<NaiveDate> {
        self.obs.first().map(|o| o.date)
    }

    pub fn last_date(&self) -> Option<NaiveDate> {
        self.obs.last().map(|o| o.date)
    }

    /// The observed value on `date`, or on the last day before it that has one.
    pub fn value_on_or_before(&self, date: NaiveDate) -> Option<Observation> {
        let n = self.obs.partition_point(|o| o.date <= date);
        n.checked_sub(1).map(|i| self.obs[i])
    }

    /// Log-increments between consecutive kept observations, over the true time between them.
    pub fn increments(&self) -> Increments {
        let mut inc = Increments::default();
        for w in self.obs.windows(2) {
            let days = (w[1].date - w[0].date).num_days();
            debug_assert!(days > 0, "observations are sorted and unique by date");
            inc.dates.push(w[1].date);
            inc.days.push(days as u32);
            inc.dt.push(days as f64 / DAYS_PER_YEAR);
            inc.x.push((w[1].value / w[0].value).ln());
        }
        inc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn series(points: &[(&str, f64)]) -> Series {
        Series {
            source: "t.csv".into(),
            layout: Layout::DateValue,
            obs: points
                .iter()
                .enumerate()
                .map(|(i, (s, v))| Observation {
                    date: d(s),
                    value: *v,
                    line: i + 2,
                })
                .collect(),
            dropped: vec![],
            outliers: vec![],
            was_unsorted: false,
        }
    }

    #[test]
    fn a_gap_is_one_increment_over_its_true_length() {
        let s = series(&[
            ("2024-01-01", 1.0),
            ("2024-01-02", 2.0),
            ("2024-01-05", 1.0),
        ]);
        let inc = s.increments();
        assert_eq!(inc.days, vec![1, 3]);
        assert!((inc.dt[1] - 3.0 / 365.0).abs() < 1e-15);
        assert!((inc.x[0] - 2f64.ln()).abs() < 1e-15);
        assert!((inc.x[1] + 2f64.ln()).abs() < 1e-15);
        assert_eq!(inc.until(d("2024-01-04")).len(), 1);
    }

    #[test]
    fn windows_and_lookups_use_dates() {
        let s = series(&[
            ("2024-01-01", 1.0),
            ("2024-01-02", 2.0),
            ("2024-01-05", 1.5),
        ]);
        assert_eq!(s.window(Some(d("2024-01-02")), None).obs.len(), 2);
        assert_eq!(s.window(None, Some(d("2024-01-04"))).obs.len(), 2);
        assert_eq!(s.value_on_or_before(d("2024-01-04")).unwrap().value, 2.0);
        assert!(s.value_on_or_before(d("2023-12-31")).is_none());
    }
}

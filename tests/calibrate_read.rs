//! Reading price files (`calibrate::read::parse`): the five real histories in `data/market/`
//! with what each gives (layout, dates, kept rows, dropped rows by reason, flagged prints), the
//! outlier rule on synthetic crashes and spikes, every layout variant, the error messages, and
//! hostile input (no panic on any string).

use chrono::NaiveDate;
use proptest::prelude::*;
use tokenrisk::calibrate::read::{parse, ReadOptions, MAX_ROWS};
use tokenrisk::calibrate::series::{DropReason, Layout, Series};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn read(text: &str) -> anyhow::Result<Series> {
    parse(text, "t.csv", &ReadOptions::default())
}

fn err(text: &str) -> String {
    format!("{:#}", read(text).unwrap_err())
}

fn values(s: &Series) -> Vec<f64> {
    s.obs.iter().map(|o| o.value).collect()
}

fn dates(s: &Series) -> Vec<String> {
    s.obs.iter().map(|o| o.date.to_string()).collect()
}

/// Counts of dropped rows: (blank, non-positive or non-finite, duplicate).
fn drops(s: &Series) -> (usize, usize, usize) {
    let c = |f: fn(&DropReason) -> bool| s.dropped.iter().filter(|x| f(&x.reason)).count();
    (
        c(|r| *r == DropReason::Blank),
        c(|r| matches!(r, DropReason::NonPositive(_))),
        c(|r| *r == DropReason::Duplicate),
    )
}

struct Expect {
    file: &'static str,
    layout: Layout,
    first: &'static str,
    last: &'static str,
    kept: usize,
    drops: (usize, usize, usize),
    outliers: &'static [&'static str],
}

const REAL: &[Expect] = &[
    Expect {
        file: "tao-usd-daily.csv",
        layout: Layout::DateValue,
        first: "2023-03-06",
        last: "2025-01-16",
        kept: 682,
        drops: (0, 0, 0),
        outliers: &["2023-03-05"],
    },
    Expect {
        file: "rndr-usd-daily.csv",
        layout: Layout::DateValue,
        first: "2020-07-01",
        last: "2024-07-21",
        kept: 1482,
        drops: (0, 0, 0),
        outliers: &[],
    },
    Expect {
        file: "hnt-usd-daily.csv",
        layout: Layout::DateValue,
        first: "2020-07-01",
        last: "2025-01-16",
        kept: 1660,
        drops: (0, 0, 0),
        outliers: &[],
    },
    Expect {
        file: "fet-usd-yahoo.csv",
        layout: Layout::Yahoo,
        first: "2019-03-02",
        last: "2022-02-14",
        kept: 1081,
        drops: (1627, 0, 0),
        outliers: &[],
    },
    Expect {
        file: "eth-usd-coingecko.csv",
        layout: Layout::CoinGecko,
        first: "2015-08-07",
        last: "2024-12-20",
        kept: 3423,
        drops: (0, 0, 0),
        outliers: &[],
    },
];

fn real(file: &str, opts: &ReadOptions) -> Series {
    let path = format!("{}/data/market/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    parse(&text, file, opts).unwrap_or_else(|e| panic!("{file}: {e:#}"))
}

#[test]
fn the_five_real_files_parse_with_their_drops_and_outliers() {
    for e in REAL {
        let s = real(e.file, &ReadOptions::default());
        assert_eq!(s.layout, e.layout, "{}", e.file);
        assert_eq!(s.first_date(), Some(d(e.first)), "{}", e.file);
        assert_eq!(s.last_date(), Some(d(e.last)), "{}", e.file);
        assert_eq!(s.obs.len(), e.kept, "{}", e.file);
        assert_eq!(drops(&s), e.drops, "{}", e.file);
        assert!(!s.was_unsorted, "{}", e.file);
        let flagged: Vec<String> = s.outliers.iter().map(|o| o.date.to_string()).collect();
        assert_eq!(flagged, e.outliers, "{}", e.file);
        assert!(s.outliers.iter().all(|o| o.excluded), "{}", e.file);
        // the series is strictly increasing in date and all positive
        assert!(s.obs.windows(2).all(|w| w[0].date < w[1].date));
        assert!(s.obs.iter().all(|o| o.value > 0.0 && o.value.is_finite()));
    }
}

#[test]
fn taos_listing_print_is_flagged_with_a_reason_and_kept_on_request() {
    let s = real("tao-usd-daily.csv", &ReadOptions::default());
    let o = &s.outliers[0];
    assert_eq!((o.line, o.value), (2, 0.1263040006160736));
    for part in [
        "2023-03-05",
        "0.12630",
        "93.397",
        "2023-03-06",
        "listing-day",
    ] {
        assert!(o.reason.contains(part), "{part} not in: {}", o.reason);
    }
    let k = real(
        "tao-usd-daily.csv",
        &ReadOptions {
            keep_outliers: true,
        },
    );
    assert_eq!(k.obs.len(), 683);
    assert_eq!(k.first_date(), Some(d("2023-03-05")));
    assert_eq!(k.outliers.len(), 1);
    assert!(!k.outliers[0].excluded);
}

#[test]
fn real_crashes_stay_in() {
    // March 2020: ETH's -43% (CoinGecko's 2020-03-13 snapshot, 194.2 to 110.6) and FET's
    // -61% close on 2020-03-12 are kept, as is ETH's thin first week of August 2015.
    let eth = real("eth-usd-coingecko.csv", &ReadOptions::default());
    let crash = eth.value_on_or_before(d("2020-03-13")).unwrap();
    assert_eq!(crash.date, d("2020-03-13"));
    assert!((crash.value - 110.5978978308351).abs() < 1e-9);
    let fet = real("fet-usd-yahoo.csv", &ReadOptions::default());
    assert_eq!(
        fet.value_on_or_before(d("2020-03-12")).unwrap().date,
        d("2020-03-12")
    );
    assert_eq!(eth.obs[0].value, 2.83162);
}

/// `n` daily rows from 2024-01-01 with `f(i)` as the value.
fn daily<T: std::fmt::Display>(n: usize, f: impl Fn(usize) -> T) -> String {
    let mut t = String::from("date,value\n");
    let d0 = d("2024-01-01");
    for i in 0..n {
        t += &format!("{},{}\n", d0 + chrono::Days::new(i as u64), f(i));
    }
    t
}

#[test]
fn a_crash_without_reversal_is_kept_a_reversing_spike_is_flagged() {
    // -43% in one day, no reversal; then a x5 one-day spike that reverses
    let crash = read(&daily(20, |i| if i < 10 { 100.0 } else { 57.0 })).unwrap();
    assert!(crash.outliers.is_empty());
    assert_eq!(crash.obs.len(), 20);
    // a fall by a factor 4 that stays down is also kept: not a plain size cut
    let deep = read(&daily(20, |i| if i < 10 { 100.0 } else { 25.0 })).unwrap();
    assert!(deep.outliers.is_empty());

    let text = daily(20, |i| if i == 10 { 500.0 } else { 100.0 + i as f64 });
    let s = read(&text).unwrap();
    assert_eq!(s.obs.len(), 19);
    assert_eq!(s.outliers.len(), 1);
    let o = &s.outliers[0];
    assert_eq!(
        (o.date, o.value, o.line, o.excluded),
        (d("2024-01-11"), 500.0, 12, true)
    );
    for part in [
        "2024-01-11",
        "500.00",
        "109.00",
        "2024-01-10",
        "111.00",
        "2024-01-12",
    ] {
        assert!(o.reason.contains(part), "{part} not in: {}", o.reason);
    }
    let kept = parse(
        &text,
        "t.csv",
        &ReadOptions {
            keep_outliers: true,
        },
    )
    .unwrap();
    assert_eq!(kept.obs.len(), 20);
    assert_eq!(kept.outliers.len(), 1);
    assert!(!kept.outliers[0].excluded);
}

#[test]
fn coingecko_and_yahoo_layouts() {
    let cg = "snapped_at,price,market_cap,total_volume\n\
              2024-01-02 00:00:00 UTC,2.5,100.0,\n\
              2024-01-01 00:00:00 UTC,2,0.0,5\n";
    let s = read(cg).unwrap();
    assert_eq!(s.layout, Layout::CoinGecko);
    assert_eq!(values(&s), vec![2.0, 2.5]);
    assert!(s.was_unsorted);

    // any column order; Adj Close preferred; blank rows dropped; Yahoo's `null`
    let y = "Volume,Close,Date,Adj Close,Open,High,Low\n\
             ,,2024-01-01,,,,\n\
             null,null,2024-01-02,null,null,null,null\n\
             10,2.0,2024-01-03,1.5,1,1,1\n\
             10,3.0,2024-01-04,2.5,1,1,1\n";
    let s = read(y).unwrap();
    assert_eq!(s.layout, Layout::Yahoo);
    assert_eq!(values(&s), vec![1.5, 2.5]);
    assert_eq!(drops(&s), (2, 0, 0));
    assert_eq!(s.dropped[0].line, 2);
    // without Adj Close, Close
    let s = read("Date,Open,High,Low,Close,Volume\n2024-01-01,1,1,1,4,9\n").unwrap();
    assert_eq!((s.layout, values(&s)), (Layout::Yahoo, vec![4.0]));
    // Close present but Adj Close empty is not silently blank
    let e = err("Date,Adj Close,Close\n2024-01-01,,4\n");
    assert!(e.contains("line 2") && e.contains("Adj Close"), "{e}");
}

#[test]
fn two_column_headers_by_name_case_insensitive() {
    for h in [
        "date,value",
        "Date,Price",
        "TIMESTAMP,close",
        "time,value",
        "Day,Value",
        "value,date",
    ] {
        let row = if h.starts_with("value") {
            "5,2024-01-01"
        } else {
            "2024-01-01,5"
        };
        let s = read(&format!("{h}\n{row}\n")).unwrap_or_else(|e| panic!("{h}: {e:#}"));
        assert_eq!(
            (s.layout, values(&s)),
            (Layout::DateValue, vec![5.0]),
            "{h}"
        );
    }
}

#[test]
fn separators_bom_crlf_and_quotes() {
    let s = read("date;value\r\n2024-01-01;1,5\r\n2024-01-02;2.25\r\n").unwrap();
    assert_eq!(values(&s), vec![1.5, 2.25]);
    let s =
        read("\u{feff}Date;Open;High;Low;Close;Adj Close;Volume\n2024-01-01;1;1;1;3,5;3,25;7\n")
            .unwrap();
    assert_eq!((s.layout, values(&s)), (Layout::Yahoo, vec![3.25]));
    let s = read("\u{feff}\"date\",\"value\"\r\n\"2024-01-01\",\"1.5\"\r\n").unwrap();
    assert_eq!(values(&s), vec![1.5]);
    let s = read("date;value\n\"2024-01-01\";\"1,5\"\n").unwrap();
    assert_eq!(values(&s), vec![1.5]);
    // a lone-CR file
    let s = read("date,value\r2024-01-01,1\r2024-01-02,2\r").unwrap();
    assert_eq!(values(&s), vec![1.0, 2.0]);
    // a decimal comma in a comma-separated file is a field count error, not 1.5
    let e = err("date,value\n2024-01-01,1,5\n");
    assert!(e.contains("line 2") && e.contains("3 fields"), "{e}");
    let e = err("date;value\n2024-01-01;1.234,5\n");
    assert!(e.contains("1234,5"), "{e}");
}

#[test]
fn timestamps_in_seconds_and_milliseconds() {
    // 2024-01-01T00:00:00Z = 1704067200; intraday times map to their UTC date
    let t = "timestamp,price\n1704067200,1\n1704153600000,2\n1704250800,3\n";
    let s = read(t).unwrap();
    assert_eq!(dates(&s), ["2024-01-01", "2024-01-02", "2024-01-03"]);
    let t = "time,price\n2024-01-01T23:30:00-05:00,1\n2024/01/03,2\n2024-01-04T00:00:00Z,3\n";
    assert_eq!(
        dates(&read(t).unwrap()),
        ["2024-01-02", "2024-01-03", "2024-01-04"]
    );
}

#[test]
fn unsorted_and_duplicate_rows() {
    let t = "date,value\n2024-01-03,3\n2024-01-01,1\n2024-01-02,2\n2024-01-01,9\n\
             2024-01-02T10:00:00Z,8\n";
    let s = read(t).unwrap();
    assert!(s.was_unsorted);
    assert_eq!(values(&s), vec![1.0, 2.0, 3.0]);
    let dup: Vec<(usize, Option<NaiveDate>)> = s
        .dropped
        .iter()
        .filter(|x| x.reason == DropReason::Duplicate)
        .map(|x| (x.line, x.date))
        .collect();
    assert_eq!(
        dup,
        vec![(5, Some(d("2024-01-01"))), (6, Some(d("2024-01-02")))]
    );
    assert!(!read(&daily(3, |i| 1.0 + i as f64)).unwrap().was_unsorted);
}

#[test]
fn non_positive_and_non_finite_values_are_dropped_and_listed() {
    let t = "date,value\n2024-01-01,1\n2024-01-02,0\n2024-01-03,-2\n2024-01-04,NaN\n\
             2024-01-05,inf\n2024-01-06,1e999\n2024-01-07,\n2024-01-08,2\n";
    let s = read(t).unwrap();
    assert_eq!(values(&s), vec![1.0, 2.0]);
    assert_eq!(drops(&s), (1, 5, 0));
    assert_eq!(s.dropped[2].reason, DropReason::NonPositive("NaN".into()));
    assert_eq!(s.dropped[2].line, 5);
}

#[test]
fn errors_name_the_line_the_text_and_the_expected_form() {
    let e = err("date,value\n2024-01-01,1\n01/02/2024,2\n");
    for part in [
        "t.csv",
        "line 3",
        "`01/02/2024`",
        "YYYY-MM-DD",
        "Unix timestamp",
    ] {
        assert!(e.contains(part), "{part} not in: {e}");
    }
    let e = err("date,value\n2024-01-01,abc\n");
    for part in ["line 2", "`abc`", "`value`", "decimal number"] {
        assert!(e.contains(part), "{part} not in: {e}");
    }
    let e = err("date,value\n2024-01-01,\"1\n");
    assert!(e.contains("line 2") && e.contains("quote"), "{e}");
}

#[test]
fn several_bad_lines_are_reported_together() {
    let mut t = String::from("date,value\n2024-01-01,1\n2024-01-02,x\n2024-01-03\n");
    t += "2024-02-30,1\n";
    let e = err(&t);
    for part in [
        "3 lines cannot be read",
        "line 3",
        "line 4",
        "line 5",
        "`x`",
        "1 field;",
        "dates may be written",
    ] {
        assert!(e.contains(part), "{part} not in: {e}");
    }
    // many: the first 20 listed, the rest counted
    let t = daily(50, |i| {
        if i % 2 == 0 {
            "bad".to_string()
        } else {
            "1".into()
        }
    });
    let e = err(&t);
    assert!(e.contains("25 lines cannot be read"), "{e}");
    assert!(e.contains("line 2:") && e.contains("line 40:"), "{e}");
    assert!(!e.contains("line 42:"), "{e}");
    assert!(e.contains("and 5 more"), "{e}");
}

#[test]
fn unknown_headers_list_the_layouts() {
    for h in ["foo,bar", "date,value,extra", "Date,Open,Foo,Close", "date"] {
        let e = err(&format!("{h}\n2024-01-01,1\n"));
        for part in ["line 1", "snapped_at", "Adj Close", "date,value"] {
            assert!(e.contains(part), "{h}: {part} not in: {e}");
        }
    }
    let e = err("2024-01-01,1\n2024-01-02,2\n");
    assert!(e.contains("needs a header"), "{e}");
    let e = err("date,Date\n2024-01-01,1\n");
    assert!(e.contains("again"), "{e}");
}

#[test]
fn empty_header_only_and_junk_are_errors() {
    assert!(err("").contains("empty"));
    assert!(err("\n\r\n  \n").contains("empty"));
    let e = err("date,value\n");
    assert!(e.contains("no usable prices"), "{e}");
    let e = err("date,value\n2024-01-01,0\n2024-01-02,\n");
    assert!(
        e.contains("no usable prices") && e.contains("2 dropped"),
        "{e}"
    );
    let junk: String = (0..2000u32)
        .map(|i| char::from_u32((i * 7919) % 0x2FF + 1).unwrap_or('?'))
        .collect();
    assert!(read(&junk).is_err());
    assert!(read(&format!("date,value\n{junk}\n")).is_err());
}

#[test]
fn huge_fields_are_quoted_short() {
    let big = "9".repeat(200_000);
    let e = err(&format!("date,value\n2024-01-01,{big}x\n"));
    assert!(e.contains("line 2") && e.len() < 1000, "{} chars", e.len());
    // a huge number parses to infinity: dropped as non-finite, not kept
    let s = read(&format!("date,value\n2024-01-01,{big}\n2024-01-02,1\n")).unwrap();
    assert_eq!(drops(&s), (0, 1, 0));
    assert!(s.dropped.iter().all(|x| match &x.reason {
        DropReason::NonPositive(t) => t.len() <= 60,
        _ => true,
    }));
}

#[test]
fn more_rows_than_the_cap_are_refused() {
    let mut t = String::with_capacity(12 * (MAX_ROWS + 2));
    t.push_str("date,value\n");
    for _ in 0..=MAX_ROWS {
        t.push_str("2024-01-01\n");
    }
    let e = err(&t);
    assert!(e.contains("more than 1000000 rows"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_any_string(s in ".{0,400}") {
        let _ = read(&s);
    }

    #[test]
    fn parse_never_panics_on_csv_like_text(
        header in prop::sample::select(vec![
            "date,value", "date;value", "snapped_at,price,market_cap,total_volume",
            "Date,Adj Close,Close,High,Low,Open,Volume", "timestamp,price",
        ]),
        body in "[0-9\\-/:;,. TZUCnulaif\"\r\n+e]{0,300}",
    ) {
        let text = format!("{header}\n{body}");
        if let Ok(s) = read(&text) {
            prop_assert!(!s.obs.is_empty());
            prop_assert!(s.obs.windows(2).all(|w| w[0].date < w[1].date));
            prop_assert!(s.obs.iter().all(|o| o.value > 0.0 && o.value.is_finite()));
        }
    }
}

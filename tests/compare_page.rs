//! The design-comparison page end to end: `tokenrisk compare` on the bundled pair
//! (`data/scenarios/compare/halving.toml`, `bme.toml`, 4,000 paths, seed 42), then
//! `tokenrisk report` on the folder. Checks that the conclusion sentence's numbers are the
//! comparison table's (in the HTML and against comparison.parquet), that the quantiles of
//! the per-path difference equal a direct computation from the two paths.parquet, that the
//! ever-spiraled difference at the horizon is the table's P(spiral) difference, and that the
//! designs keep the order given to `compare` (both orders).

mod common;
use arrow::array::{Array, Float64Array, RecordBatch, UInt32Array};
use common::{read_parquet as read, text, tokenrisk};
use std::path::Path;

const HALVING: &str = "data/scenarios/compare/halving.toml";
const BME: &str = "data/scenarios/compare/bme.toml";

fn f64s(b: &RecordBatch, name: &str) -> Vec<f64> {
    let c = b.column_by_name(name).unwrap();
    c.as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .values()
        .to_vec()
}

/// `compare` A then B into a new folder, then `report` it; returns the folder and the page.
fn compare_and_report(a: &str, b: &str) -> (tempfile::TempDir, String) {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let o = tokenrisk(&[
        "compare",
        a,
        b,
        "--paths",
        "4000",
        "--backend",
        "cpu",
        "-q",
        "--out",
        dir,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = tokenrisk(&["report", dir]);
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    (out, html)
}

/// The HTML from `start` (an attribute such as `id="conclusion-0"`) to the next `end`.
fn segment<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let i = html
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in the page"));
    let rest = &html[i..];
    &rest[..rest.find(end).unwrap()]
}

/// The text of the element marked `data-fig="name"` inside `html`.
fn fig<'a>(html: &'a str, name: &str) -> &'a str {
    let key = format!("data-fig=\"{name}\">");
    let i = html
        .find(&key)
        .unwrap_or_else(|| panic!("no {key} in {html}"));
    let rest = &html[i + key.len()..];
    &rest[..rest.find('<').unwrap()]
}

/// A figure as printed (`13.50%`, `+22.70 pp`, `-5.776`) as a number.
fn num(s: &str) -> f64 {
    let t = s
        .trim_end_matches(" pp")
        .trim_end_matches('%')
        .replace('−', "-")
        .replace('+', "");
    t.parse()
        .unwrap_or_else(|e| panic!("{s:?} is not a number: {e}"))
}

#[test]
fn conclusion_table_and_paths_agree_in_the_order_given() {
    let (out, html) = compare_and_report(HALVING, BME);
    let dir = out.path();
    let t = read(&dir.join("comparison.parquet"));
    let g = |c: &str| f64s(&t, c)[0];

    // The header and the runs table keep the order given (A = halving, B = bme), not the
    // alphabetical one.
    assert!(
        html.contains("<h1>compare-halving vs compare-bme</h1>"),
        "title"
    );
    let run0 = segment(&html, "id=\"run-0\"", "</tr>");
    let run1 = segment(&html, "id=\"run-1\"", "</tr>");
    assert!(run0.contains("compare-halving/report.html"), "{run0}");
    assert!(run1.contains("compare-bme/report.html"), "{run1}");

    // The conclusion's figures are the table row's, string for string, and the
    // comparison.parquet values (B minus A, 2 decimals in percent / pp).
    let sentence = segment(&html, "id=\"conclusion-0\"", "</p>");
    let row = segment(&html, "id=\"pair-0-p_spiral\"", "</tr>");
    for k in ["p_a", "p_b", "diff", "lo", "hi"] {
        assert_eq!(fig(sentence, k), fig(row, k), "{k}: sentence vs table");
    }
    let want = [
        ("p_a", 100.0 * g("p_spiral_a")),
        ("p_b", 100.0 * g("p_spiral_b")),
        ("diff", -100.0 * g("diff_p_spiral")),
        ("lo", -100.0 * g("diff_hi")),
        ("hi", -100.0 * g("diff_lo")),
    ];
    for (k, v) in want {
        let got = num(fig(sentence, k));
        assert!(
            (got - v).abs() <= 0.005 + 1e-9,
            "{k}: page {got}, table {v}"
        );
    }
    // BME spirals more on these paths (measured: +22 pp, SE 0.8 pp): the verb follows.
    assert!(g("diff_lo") < 0.0 && g("diff_hi") < 0.0);
    assert!(
        sentence.contains(" raises P(spiral by day 1,460)"),
        "{sentence}"
    );
    assert!(sentence.contains("same 4,000 market paths"), "{sentence}");

    // Quantiles of the per-path difference (B - A) from the two paths.parquet, directly.
    let pa = read(&dir.join("compare-halving/paths.parquet"));
    let pb = read(&dir.join("compare-bme/paths.parquet"));
    let data = tokenrisk::report::compare_data::load(dir).unwrap();
    assert_eq!(
        data.designs
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>(),
        ["compare-halving", "compare-bme"]
    );
    let pair = &data.pairs[0];
    for (k, m) in ["final_price", "final_circulating", "er_ratio"]
        .iter()
        .enumerate()
    {
        let (xa, xb) = (f64s(&pa, m), f64s(&pb, m));
        let mut d: Vec<f64> = xa.iter().zip(&xb).map(|(a, b)| b - a).collect();
        d.sort_by(f64::total_cmp);
        let n = d.len() as f64;
        let (qs, used) = &pair.diff_quantiles[k];
        assert_eq!(*used, 4000);
        for (j, q) in [0.05, 0.5, 0.95].iter().enumerate() {
            let direct = d[(q * (n - 1.0)).floor() as usize];
            assert_eq!(qs[j].value, direct, "{m} q{q}");
            assert!(qs[j].lo <= direct && direct <= qs[j].hi);
        }
        // The difference of quantiles (the table's, A - B) is B's quantile minus A's with
        // the sign flipped, inside its conservative interval.
        let (mut sa, mut sb) = (xa.clone(), xb.clone());
        sa.sort_by(f64::total_cmp);
        sb.sort_by(f64::total_cmp);
        for (j, (q, suffix)) in [(0.05, "p05"), (0.5, "p50"), (0.95, "p95")]
            .iter()
            .enumerate()
        {
            let i = (q * (n - 1.0)).floor() as usize;
            let table = g(&format!("{m}_diff_{suffix}"));
            assert_eq!(-table, sb[i] - sa[i], "{m} {suffix}");
            let (lo, hi) = pair.quantile_diff_ci[k][j];
            assert!(lo <= -table && -table <= hi, "{m} {suffix}: {lo} {hi}");
        }
        // The page prints it (4 significant digits) in the quantile-of-difference column.
        let cell = fig(
            segment(&html, &format!("id=\"pair-0-{m}-p50\""), "</tr>"),
            "quantile_of_diff",
        );
        let direct = d[(0.5 * (n - 1.0)).floor() as usize];
        // (Token amounts are printed with SI suffixes, `-42M`: 2-3 digits only.)
        if *m != "final_circulating" {
            let printed = num(cell.split(" (").next().unwrap());
            assert!(
                (printed - direct).abs() <= 5e-4 * direct.abs(),
                "{m}: page {printed}, direct {direct}"
            );
        }
    }
    // The ratio B/A of the final price, path by path.
    let (fa, fb) = (f64s(&pa, "final_price"), f64s(&pb, "final_price"));
    let mut r: Vec<f64> = fa.iter().zip(&fb).map(|(a, b)| b / a).collect();
    r.sort_by(f64::total_cmp);
    assert_eq!(
        pair.ratio_quantiles.0[1].value,
        r[(0.5 * 3999.0f64).floor() as usize]
    );

    // The ever-spiraled difference at the horizon is the table's P(spiral) difference; and
    // at every day it is the share of paths spiraled by then, recomputed here.
    let (day, last) = pair.ever_spiraled.last().unwrap();
    assert_eq!(*day, 1460.0);
    assert!((last.diff - g("diff_p_spiral")).abs() < 1e-15);
    assert!((last.se_paired - g("diff_se_paired")).abs() < 1e-15);
    let sd = |b: &RecordBatch| -> Vec<Option<u32>> {
        let c = b.column_by_name("spiral_day").unwrap();
        let a = c.as_any().downcast_ref::<UInt32Array>().unwrap();
        (0..a.len())
            .map(|i| (!a.is_null(i)).then(|| a.value(i)))
            .collect()
    };
    let (sa, sb) = (sd(&pa), sd(&pb));
    for (day, p) in pair.ever_spiraled.iter().step_by(37) {
        let by = |s: &[Option<u32>]| {
            s.iter()
                .filter(|x| x.is_some_and(|d| d as f64 <= *day))
                .count()
        };
        let want = (by(&sa) as f64 - by(&sb) as f64) / 4000.0;
        assert!((p.diff - want).abs() < 1e-12, "day {day}");
    }
    let caption_pp = format!("At day 1,460 it is {}", fig(row, "diff"));
    assert!(html.contains(&caption_pp), "{caption_pp}");

    // Reversed order: B first is design A of the page.
    let (_out2, html2) = compare_and_report(BME, HALVING);
    assert!(html2.contains("<h1>compare-bme vs compare-halving</h1>"));
    let run0 = segment(&html2, "id=\"run-0\"", "</tr>");
    assert!(run0.contains("compare-bme/report.html"), "{run0}");
    let sentence = segment(&html2, "id=\"conclusion-0\"", "</p>");
    assert!(
        sentence.contains(" lowers P(spiral by day 1,460)"),
        "{sentence}"
    );
    assert!(Path::new(&_out2.path().join("report.html")).is_file());
}

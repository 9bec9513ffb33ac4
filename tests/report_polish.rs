//! Report and CLI polish (issue 12): the index of an `--out` root of several runs, the swept
//! values in a sweep's run table, the tornado's error bars and "within noise" marks, shock
//! days marked on the charts, the spiral's onset sentence, and the sensitivity table printed
//! without float noise. Small runs through the binary with fixed seeds (the presets' own).

mod common;
use arrow::array::{Array, Float64Array, StringArray};
use common::{path_arg, read_parquet, text, tokenrisk};
use std::path::Path;
use tokenrisk::report::format::{fmt_pct, noise_note};
use tokenrisk::stats::Z95;

fn ok(args: &[&str]) -> String {
    let o = tokenrisk(args);
    assert!(o.status.success(), "tokenrisk {args:?}: {}", text(&o));
    text(&o)
}

fn f64_col(b: &arrow::array::RecordBatch, name: &str) -> Vec<f64> {
    let c = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no {name}"));
    let a = c.as_any().downcast_ref::<Float64Array>().unwrap();
    (0..a.len()).map(|i| a.value(i)).collect()
}

fn str_col(b: &arrow::array::RecordBatch, name: &str) -> Vec<String> {
    let c = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no {name}"));
    let a = c.as_any().downcast_ref::<StringArray>().unwrap();
    (0..a.len()).map(|i| a.value(i).to_string()).collect()
}

/// The `<tr>` of the page's table row whose link or first cell names `name`.
fn row_of<'a>(html: &'a str, needle: &str) -> &'a str {
    let at = html
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in the page"));
    let start = html[..at].rfind("<tr").unwrap();
    let end = at + html[at..].find("</tr>").unwrap();
    &html[start..end]
}

#[test]
fn an_out_root_of_five_runs_gets_an_index_of_their_headline_figures() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("R");
    let presets = [
        "bittensor_halving",
        "render_bme",
        "fetch_inflation",
        "icp_revenue_burn",
        "death_spiral_stress",
    ];
    let mut args = vec!["run"];
    args.extend(presets);
    args.extend([
        "--out",
        path_arg(&root),
        "--paths",
        "2000",
        "--backend",
        "cpu",
        "-q",
    ]);
    ok(&args);
    let out = ok(&["report", path_arg(&root)]);
    assert!(out.contains("report.html"), "{out}");
    let html = std::fs::read_to_string(root.join("report.html")).expect("an index at the root");
    assert!(html.contains("5 runs in this folder."), "{html}");
    let mut runs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    runs.sort();
    assert_eq!(runs.len(), 5);
    for run in &runs {
        let name = run.file_name().unwrap().to_str().unwrap();
        let row = row_of(&html, &format!(r#"href="{name}/report.html""#));
        let s = read_parquet(&run.join("summary.parquet"));
        let p = f64_col(&s, "p_spiral")[0];
        let (lo, hi) = (f64_col(&s, "p_spiral_lo")[0], f64_col(&s, "p_spiral_hi")[0]);
        assert!(row.contains(&format!(">{}<", fmt_pct(p))), "{name}: {row}");
        assert!(
            row.contains(&format!("95% CI {} to {}", fmt_pct(lo), fmt_pct(hi))),
            "{name}: {row}"
        );
        // VaR and CVaR as the price fall they mean, a positive loss (no minus sign), with
        // the exact figure's interval; the medians with an interval line.
        let var = f64_col(&s, "var95_return")[0];
        let fall = 1.0 - (-var).exp();
        assert!(fall > 0.0);
        let shown = tokenrisk::report::format::fmt_pct_fine(fall);
        assert!(
            row.contains(&format!(">{shown}<")),
            "{name}: VaR {shown}: {row}"
        );
        assert!(
            !row.contains('−'),
            "{name}: a loss is shown positive: {row}"
        );
        let (vlo, vhi) = (
            f64_col(&s, "var95_return_lo")[0],
            f64_col(&s, "var95_return_hi")[0],
        );
        let ci = |l: f64| tokenrisk::report::format::fmt_pct_fine(1.0 - (-l).exp());
        assert!(
            row.contains(&format!("95% CI {} to {}", ci(vlo), ci(vhi))),
            "{name}: VaR interval: {row}"
        );
        let er = f64_col(&s, "er_ratio_p50")[0];
        assert!(
            row.contains(&format!(">{}<", tokenrisk::report::format::fmt_sig(er, 5))),
            "{name}: {row}"
        );
        // Every headline figure has its line of interval or SE (6 cells).
        assert!(row.matches(r#"class="sub""#).count() >= 5, "{name}: {row}");
    }
}

#[test]
fn a_sweep_page_lists_each_points_swept_values() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sweep.toml");
    let mut text = common::scenario_text(&[("scenario.horizon_days", "98")]);
    text.push_str("\n[sweep]\n\"market.volatility\" = [0.45, 0.85]\n\"demand.usd_per_day\" = [1000.0, 33000000.0]\n");
    std::fs::write(&file, text).unwrap();
    let out = dir.path().join("out");
    ok(&[
        "run",
        path_arg(&file),
        "--paths",
        "300",
        "--backend",
        "cpu",
        "-q",
        "--out",
        path_arg(&out),
    ]);
    let sweep = out.join("gbm");
    ok(&["report", path_arg(&sweep)]);
    let html = std::fs::read_to_string(sweep.join("report.html")).unwrap();
    assert!(
        html.contains(r#"<th class="key">market.volatility</th>"#),
        "{html}"
    );
    let table = read_parquet(&sweep.join("sweep.parquet"));
    let vol = f64_col(&table, "market.volatility");
    let demand = f64_col(&table, "demand.usd_per_day");
    assert_eq!(vol.len(), 4);
    for (i, (v, d)) in vol.iter().zip(&demand).enumerate() {
        let row = row_of(&html, &format!(r#"href="point-{i:04}/report.html""#));
        let v = if *v == 0.45 { "0.45" } else { "0.85" };
        let d = if *d == 1000.0 { "1,000" } else { "33,000,000" };
        assert!(row.contains(&format!(r#"class="n key">{v}<"#)), "{row}");
        assert!(row.contains(&format!(r#"class="n key">{d}<"#)), "{row}");
    }
}

#[test]
fn the_tornado_page_draws_error_bars_and_marks_noise() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let printed = ok(&[
        "sensitivity",
        "fetch_inflation",
        "--paths",
        "1000",
        "--horizon",
        "200",
        "--backend",
        "cpu",
        "-q",
        "--top",
        "100",
        "--out",
        path_arg(&out),
    ]);
    // Perturbed values print with the digits they deserve.
    assert!(!printed.contains("0000000"), "{printed}");
    assert!(!printed.contains("9999999"), "{printed}");
    let folder = out.join("fetch-inflation");
    ok(&["report", path_arg(&folder)]);
    let html = std::fs::read_to_string(folder.join("report.html")).unwrap();
    let t = read_parquet(&folder.join("tornado.parquet"));
    let (names, e, se) = (
        str_col(&t, "parameter"),
        f64_col(&t, "effect_p_spiral"),
        f64_col(&t, "effect_p_spiral_se"),
    );
    // The widest effect's error bar spans its effect +-1.96 SE.
    let top = (0..e.len())
        .max_by(|&a, &b| e[a].abs().total_cmp(&e[b].abs()))
        .unwrap();
    assert!(se[top] > 0.0);
    assert!(
        html.contains(&format!(
            r#"data-lo="{}" data-hi="{}""#,
            e[top] - Z95 * se[top],
            e[top] + Z95 * se[top]
        )),
        "no error bar for {}",
        names[top]
    );
    // A within-noise effect (|effect| < 1.96 SE, SE > 0) is greyed in the table and printed so.
    let noisy = (0..e.len())
        .find(|&i| se[i] > 0.0 && e[i].abs() < Z95 * se[i])
        .expect("some effect within noise at 1,000 paths");
    assert_eq!(noise_note(e[noisy], se[noisy]), Some("within noise"));
    let row = row_of(&html, &format!(">{}<div", names[noisy]));
    assert!(row.starts_with(r#"<tr class="noise">"#), "{row}");
    assert!(row.contains("within noise"), "{row}");
    let line = printed
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(&names[noisy]))
        .unwrap_or_else(|| panic!("{} not printed: {printed}", names[noisy]));
    assert!(line.contains("within noise"), "{line}");
    // And a clear effect is not.
    let row = row_of(&html, &format!(">{}<div", names[top]));
    assert!(!row.contains("within noise"), "{row}");
}

fn shock_count(html: &str, day: u32) -> usize {
    html.matches(&format!(r#"class="shock" data-day="{day}""#))
        .count()
}

#[test]
fn shock_days_are_marked_on_every_chart_over_time() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(
        &file,
        common::scenario_text(&[("scenario.horizon_days", "210")]),
    )
    .unwrap();
    let out = dir.path().join("out");
    ok(&[
        "run",
        path_arg(&file),
        "--paths",
        "300",
        "--backend",
        "cpu",
        "-q",
        "--shock",
        "price=-0.5@100",
        "--out",
        path_arg(&out),
    ]);
    let run = out.join("gbm");
    ok(&["report", path_arg(&run)]);
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    // The spiral chart and the ten fan charts.
    assert_eq!(shock_count(&html, 100), 11, "{html}");
    assert!(html.contains("day 100: price -50%"), "{html}");
    // Without a shock: no mark, no list.
    let plain = dir.path().join("plain");
    ok(&[
        "run",
        path_arg(&file),
        "--paths",
        "300",
        "--backend",
        "cpu",
        "-q",
        "--out",
        path_arg(&plain),
    ]);
    ok(&["report", path_arg(&plain.join("gbm"))]);
    let html = std::fs::read_to_string(plain.join("gbm/report.html")).unwrap();
    assert!(!html.contains(r#"class="shock""#));
    assert!(
        !html.contains("onset measure"),
        "a calm run has no spiral note"
    );
}

#[test]
fn a_spiral_that_ends_while_prices_stay_low_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    ok(&[
        "run",
        "death_spiral_stress",
        "--paths",
        "2000",
        "--backend",
        "cpu",
        "-q",
        "--out",
        path_arg(&out),
    ]);
    let run = out.join("death-spiral-stress");
    ok(&["report", path_arg(&run)]);
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("the spiral is an onset measure"), "{html}");
    assert!(html.contains("docs/MODEL.md section 12"), "{html}");
    // The preset's own shock (day 60) is marked.
    assert_eq!(shock_count(&html, 60), 11);
    assert!(Path::new(&run.join("report.html")).is_file());
}

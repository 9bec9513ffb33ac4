//! `tokenrisk compare` end to end on the bundled design pair
//! (`data/scenarios/compare/halving.toml` and `bme.toml`): common random numbers make the
//! paired standard error of the difference smaller than the independent one; the table's
//! counts agree with the designs' own `paths.parquet`; a design compared with itself differs
//! by exactly nothing; incomparable designs are refused with a message naming the field.
//! The formulas themselves are unit-tested against a hand-computed example in
//! `src/workflows/compare.rs`.

mod common;
use arrow::array::{Array, BooleanArray, Float64Array, RecordBatch, StringArray, UInt64Array};
use common::{read_parquet as read, text, tokenrisk};
use std::path::Path;
use tokenrisk::output::read_parquet_metadata;

const HALVING: &str = "data/scenarios/compare/halving.toml";
const BME: &str = "data/scenarios/compare/bme.toml";

fn f64s(b: &RecordBatch, name: &str) -> Vec<f64> {
    let c = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    c.as_any()
        .downcast_ref::<Float64Array>()
        .unwrap_or_else(|| panic!("{name} is not f64"))
        .values()
        .to_vec()
}

fn u64s(b: &RecordBatch, name: &str) -> Vec<u64> {
    let c = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    c.as_any()
        .downcast_ref::<UInt64Array>()
        .unwrap()
        .values()
        .to_vec()
}

fn strs(b: &RecordBatch, name: &str) -> Vec<String> {
    let c = b.column_by_name(name).unwrap();
    let a = c.as_any().downcast_ref::<StringArray>().unwrap();
    (0..a.len()).map(|i| a.value(i).to_string()).collect()
}

fn bools(b: &RecordBatch, name: &str) -> Vec<bool> {
    let c = b.column_by_name(name).unwrap();
    let a = c.as_any().downcast_ref::<BooleanArray>().unwrap();
    (0..a.len()).map(|i| a.value(i)).collect()
}

/// The two bundled files describe the same network: every table but [emission],
/// [payment] and [burn] (and the scenario's name and description) is identical.
#[test]
fn bundled_pair_differs_only_in_the_design() {
    let a = tokenrisk::scenario::load(Path::new(HALVING)).unwrap();
    let b = tokenrisk::scenario::load(Path::new(BME)).unwrap();
    let mut ta = tokenrisk::scenario::keys::scenario_table(&a).unwrap();
    let mut tb = tokenrisk::scenario::keys::scenario_table(&b).unwrap();
    for t in [&mut ta, &mut tb] {
        for k in ["emission", "payment", "burn"] {
            t.remove(k);
        }
        let meta = t.get_mut("scenario").unwrap().as_table_mut().unwrap();
        meta.remove("name");
        meta.remove("description");
    }
    assert_eq!(ta, tb);
    assert_eq!(a.emission.split.providers, b.emission.split.providers);
    assert_eq!(a.emission.treasury_sell, b.emission.treasury_sell);
    // Day-0 emission is the same: halving era 0 (40% issued) at per_day, the schedule's
    // first year / 365.
    assert_eq!(
        a.emission.per_day.unwrap(),
        b.emission.yearly.as_ref().unwrap()[0] / 365.0
    );
}

/// The bundled pair at 2,000 paths: the paired SE is below the independent one (variance
/// reduction measured at 1.44 here), and every figure of the row agrees with the designs'
/// own tables: p_spiral with summary.parquet, the discordant counts and the mean
/// differences with the two paths.parquet files, path for path.
#[test]
fn common_random_numbers_shrink_the_standard_error() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path();
    let o = tokenrisk(&[
        "compare",
        HALVING,
        BME,
        "--paths",
        "2000",
        "--backend",
        "cpu",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("compare-halving vs compare-bme"),
        "{stdout}"
    );
    assert!(stdout.contains("variance reduction"), "{stdout}");

    let t = read(&dir.join("comparison.parquet"));
    assert_eq!(t.num_rows(), 1);
    let names: Vec<String> = t
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, tokenrisk::workflows::compare::comparison_columns());
    assert_eq!(strs(&t, "design_a"), ["compare-halving"]);
    assert_eq!(strs(&t, "design_b"), ["compare-bme"]);
    assert_eq!(u64s(&t, "paths"), [2000]);
    let se_paired = f64s(&t, "diff_se_paired")[0];
    let se_ind = f64s(&t, "diff_se_independent")[0];
    let vr = f64s(&t, "variance_reduction")[0];
    assert!(
        se_paired < se_ind,
        "paired {se_paired} vs independent {se_ind}"
    );
    assert!(vr > 1.0, "variance reduction {vr}");
    assert!((vr - (se_ind / se_paired).powi(2)).abs() < 1e-9 * vr);
    // The same holds, more strongly, for the final price's mean difference.
    assert!(f64s(&t, "final_price_diff_se")[0] < f64s(&t, "final_price_diff_se_independent")[0]);

    // Per-design tables.
    let sa = read(&dir.join("compare-halving/summary.parquet"));
    let sb = read(&dir.join("compare-bme/summary.parquet"));
    let (pa, pb) = (f64s(&sa, "p_spiral")[0], f64s(&sb, "p_spiral")[0]);
    assert_eq!(f64s(&t, "p_spiral_a")[0], pa);
    assert_eq!(f64s(&t, "p_spiral_b")[0], pb);
    let diff = f64s(&t, "diff_p_spiral")[0];
    assert!((diff - (pa - pb)).abs() < 1e-12);
    let (lo, hi) = (f64s(&t, "diff_lo")[0], f64s(&t, "diff_hi")[0]);
    assert!(lo < diff && diff < hi);
    assert!((hi - lo - 2.0 * 1.959963984540054 * se_paired).abs() < 1e-12);

    let a = read(&dir.join("compare-halving/paths.parquet"));
    let b = read(&dir.join("compare-bme/paths.parquet"));
    assert_eq!(u64s(&a, "path"), u64s(&b, "path"));
    let (fa, fb) = (bools(&a, "spiral"), bools(&b, "spiral"));
    let ab = fa.iter().zip(&fb).filter(|(x, y)| **x && !**y).count() as u64;
    let ba = fa.iter().zip(&fb).filter(|(x, y)| !**x && **y).count() as u64;
    assert_eq!(u64s(&t, "discordant_ab"), [ab]);
    assert_eq!(u64s(&t, "discordant_ba"), [ba]);
    // Paired SE from the per-path differences, recomputed here: sd(d) / sqrt(n).
    let d: Vec<f64> = fa
        .iter()
        .zip(&fb)
        .map(|(x, y)| *x as u8 as f64 - *y as u8 as f64)
        .collect();
    let n = d.len() as f64;
    let mean = d.iter().sum::<f64>() / n;
    let sd = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    assert!((se_paired - sd / n.sqrt()).abs() < 1e-12);
    let p = f64s(&t, "mcnemar_p_value")[0];
    assert!((0.0..=1.0).contains(&p));
    for (m, col) in [
        ("final_price", "final_price"),
        ("final_circulating", "final_circulating"),
        ("er_ratio", "er_ratio"),
    ] {
        let (xa, xb) = (f64s(&a, col), f64s(&b, col));
        let want = xa.iter().zip(&xb).map(|(x, y)| x - y).sum::<f64>() / n;
        let got = f64s(&t, &format!("{m}_diff_mean"))[0];
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{m}: {got} vs {want}"
        );
        let mut sa = xa.clone();
        sa.sort_by(f64::total_cmp);
        let mut sb = xb.clone();
        sb.sort_by(f64::total_cmp);
        let median =
            sa[((n - 1.0) * 0.5).floor() as usize] - sb[((n - 1.0) * 0.5).floor() as usize];
        assert_eq!(f64s(&t, &format!("{m}_diff_p50"))[0], median);
    }
    assert_eq!(u64s(&t, "nonfinite_pairs"), [0]);

    let meta = read_parquet_metadata(&dir.join("comparison.parquet")).unwrap();
    assert_eq!(
        meta["tokenrisk.scenario_toml.compare-halving"],
        std::fs::read_to_string(HALVING).unwrap()
    );
    assert_eq!(
        meta["tokenrisk.scenario_toml.compare-bme"],
        std::fs::read_to_string(BME).unwrap()
    );
    assert_eq!(meta["tokenrisk.seed"], "42");
    assert_eq!(meta["tokenrisk.paths"], "2000");
    assert_eq!(meta["tokenrisk.engine"], "cpu");
    assert_eq!(meta["tokenrisk.scenario"], "compare-halving, compare-bme");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        assert!(!name.ends_with(".tmp"), "leftover temp file {name}");
    }
}

/// A design compared with a renamed copy of itself: zero difference, zero discordant pairs,
/// zero paired SE, every metric difference exactly zero (the same random numbers give the
/// same paths, bit for bit).
#[test]
fn a_design_against_itself_differs_by_nothing() {
    let out = tempfile::tempdir().unwrap();
    let copy = out.path().join("copy.toml");
    let renamed = std::fs::read_to_string(HALVING).unwrap().replace(
        "name = \"compare-halving\"",
        "name = \"compare-halving-copy\"",
    );
    std::fs::write(&copy, renamed).unwrap();
    let o = tokenrisk(&[
        "compare",
        HALVING,
        copy.to_str().unwrap(),
        "--paths",
        "500",
        "--seed",
        "7",
        "--backend",
        "cpu",
        "--out",
        out.path().to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let t = read(&out.path().join("comparison.parquet"));
    assert_eq!(f64s(&t, "diff_p_spiral"), [0.0]);
    assert_eq!(f64s(&t, "diff_se_paired"), [0.0]);
    assert_eq!(u64s(&t, "discordant_ab"), [0]);
    assert_eq!(u64s(&t, "discordant_ba"), [0]);
    assert_eq!(f64s(&t, "mcnemar_p_value"), [1.0]);
    let p = f64s(&t, "p_spiral_a")[0];
    assert!(p > 0.0, "the design should spiral on some paths: {p}");
    assert_eq!(f64s(&t, "variance_reduction"), [f64::INFINITY]);
    for m in ["final_price", "final_circulating", "er_ratio"] {
        for s in ["diff_mean", "diff_se", "diff_p05", "diff_p50", "diff_p95"] {
            assert_eq!(f64s(&t, &format!("{m}_{s}")), [0.0], "{m}_{s}");
        }
    }
    let meta = read_parquet_metadata(&out.path().join("comparison.parquet")).unwrap();
    assert_eq!(meta["tokenrisk.seed"], "7");
}

#[test]
fn incomparable_designs_are_refused() {
    let out = tempfile::tempdir().unwrap();
    let other = out.path().join("short.toml");
    let short = std::fs::read_to_string(BME)
        .unwrap()
        .replace("horizon_days = 1460", "horizon_days = 730");
    std::fs::write(&other, short).unwrap();
    let args = |b: &str| {
        tokenrisk(&[
            "compare",
            HALVING,
            b,
            "--paths",
            "10",
            "--out",
            out.path().to_str().unwrap(),
        ])
    };
    let o = args(other.to_str().unwrap());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let msg = text(&o);
    assert!(
        msg.contains("designs differ in scenario.horizon_days")
            && msg.contains("has 1460")
            && msg.contains("has 730"),
        "{msg}"
    );
    // Nothing was simulated or written.
    assert!(!out.path().join("comparison.parquet").exists());

    let o = args(HALVING);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("share scenario.name"), "{}", text(&o));

    // One design only is a usage error.
    let o = tokenrisk(&["compare", HALVING]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

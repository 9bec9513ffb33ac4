//! tokenrisk against its peers (`scripts/peers/`): the NumPy and JAX implementations of the
//! same model that an analyst would otherwise write, and that tokenrisk is benchmarked
//! against (`scripts/bench-peers.sh`). The peers draw their own random numbers (PCG64,
//! threefry), so agreement is statistical: on two presets that exercise different
//! mechanisms (`death_spiral_stress`: token-quoted jobs, vesting, shocks, schedule emission,
//! a spiral on almost every path; `render_bme`: burn-mint equilibrium, fiat-quoted jobs,
//! spirals on a minority of paths), with the same scenario file and path count for both:
//!
//! - P(spiral) agrees within 4 standard errors of the difference of two binomial
//!   proportions, pooled under the hypothesis that they are equal:
//!   sqrt(p (1 - p) (1/n1 + 1/n2)), p = (x1 + x2 + 1) / (n1 + n2 + 2) (the +1 keeps the
//!   bound positive when neither side sees a spiral).
//! - The medians of the final price and of the per-path emissions-to-revenue ratio agree
//!   within 4 standard errors of their difference, sqrt(se1^2 + se2^2), plus 0.5% of
//!   tokenrisk's median (its summary quantiles come from log-bucketed histograms within 0.5%
//!   of the exact order statistic). The SE of a sample median comes from order statistics:
//!   the count of draws below the true median is Binomial(n, 1/2) with standard deviation
//!   sqrt(n)/2, so SE ~ (x[m + k] - x[m - k]) / 2 with k = ceil(sqrt(n)/2) ranks around the
//!   median m (no density estimate, valid for the skewed price distributions here). The
//!   peers report theirs; tokenrisk's is computed here from `paths.parquet`.
//!
//! Without python3 + numpy (or jax) the corresponding test prints a loud SKIPPED line on
//! stderr and passes, unless `TOKENRISK_REQUIRE_PEERS=1` (CI installs them and sets it).

mod common;

use arrow::array::{Array, Float64Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const PRESETS: [&str; 2] = ["death_spiral_stress", "render_bme"];
const PATHS: u64 = 6000;
const SEED: u64 = 42;
/// Full four-year horizon of the presets: render_bme's spirals come late (median day ~1000).
const DAYS: u32 = 1460;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Whether `python3 -c "import MODULE"` works.
fn python_has(module: &str) -> bool {
    Command::new(python())
        .args(["-c", &format!("import {module}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// One side's figures.
#[derive(Debug, Clone)]
struct Figures {
    n: f64,
    p_spiral: f64,
    median_price: f64,
    median_price_se: f64,
    median_er: f64,
    median_er_se: f64,
    /// Relative resolution of the reported medians (tokenrisk's histograms: 0.5%).
    resolution: f64,
}

/// Median (order statistic floor((n-1)/2), as tokenrisk) and its order-statistic SE.
fn median_and_se(mut v: Vec<f64>) -> (f64, f64) {
    v.retain(|x| x.is_finite());
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let m = (n - 1) / 2;
    let k = ((n as f64).sqrt() / 2.0).ceil().max(1.0) as usize;
    let (lo, hi) = (m.saturating_sub(k), (m + k).min(n - 1));
    (v[m], (v[hi] - v[lo]) / 2.0)
}

fn f64_column(file: &Path, name: &str) -> Vec<f64> {
    let f = std::fs::File::open(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let col = batch
            .column_by_name(name)
            .unwrap_or_else(|| panic!("{}: no column {name}", file.display()));
        let col = col
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap_or_else(|| panic!("{}: column {name} is not Float64", file.display()));
        out.extend((0..col.len()).map(|i| col.value(i)));
    }
    out
}

/// The preset with its horizon set to DAYS, written where both sides read it.
fn scenario_file(dir: &Path, preset: &str) -> PathBuf {
    let toml = tokenrisk::scenario::preset(preset).unwrap().toml;
    let needle = "horizon_days = 1460";
    assert!(toml.contains(needle), "{preset}: expected `{needle}`");
    let path = dir.join(format!("{preset}.toml"));
    std::fs::write(
        &path,
        toml.replacen(needle, &format!("horizon_days = {DAYS}"), 1),
    )
    .unwrap();
    path
}

/// tokenrisk's figures for each preset, simulated once for both tests.
fn tokenrisk_figures() -> &'static Vec<(String, PathBuf, Figures)> {
    static CELL: OnceLock<Vec<(String, PathBuf, Figures)>> = OnceLock::new();
    CELL.get_or_init(|| {
        // Cargo's scratch folder for integration tests: overwritten by every run.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("peers");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        PRESETS
            .iter()
            .map(|preset| {
                let file = scenario_file(&dir, preset);
                let out = dir.join("out");
                let o = Command::new(env!("CARGO_BIN_EXE_tokenrisk"))
                    .args(["run", file.to_str().unwrap(), "--backend", "cpu", "-q"])
                    .args(["--paths", &PATHS.to_string(), "--seed", &SEED.to_string()])
                    .args(["--out", out.to_str().unwrap()])
                    .output()
                    .expect("run tokenrisk");
                assert!(
                    o.status.success(),
                    "tokenrisk run {preset}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                let name = tokenrisk::scenario::parse(
                    &std::fs::read_to_string(&file).unwrap(),
                    file.to_str().unwrap(),
                )
                .unwrap()
                .scenario
                .name;
                let run = out.join(name);
                let summary = run.join("summary.parquet");
                let paths = run.join("paths.parquet");
                let (_, price_se) = median_and_se(f64_column(&paths, "final_price"));
                let (_, er_se) = median_and_se(f64_column(&paths, "er_ratio"));
                let fig = Figures {
                    n: PATHS as f64,
                    p_spiral: f64_column(&summary, "p_spiral")[0],
                    median_price: f64_column(&summary, "final_price_p50")[0],
                    median_price_se: price_se,
                    median_er: f64_column(&summary, "er_ratio_p50")[0],
                    median_er_se: er_se,
                    resolution: 0.005,
                };
                (preset.to_string(), file, fig)
            })
            .collect()
    })
}

/// A peer's figures from its JSON output.
fn peer_figures(script: &str, file: &Path, extra: &[&str]) -> (Figures, serde_json::Value) {
    let o = Command::new(python())
        .arg(repo().join("scripts/peers").join(script))
        .arg(file)
        .args(["--paths", &PATHS.to_string(), "--seed", &SEED.to_string()])
        .args(extra)
        .output()
        .expect("run python3");
    assert!(
        o.status.success(),
        "{script} {}: {}",
        file.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{script}: bad JSON ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    });
    let g = |k: &str| {
        j[k].as_f64()
            .unwrap_or_else(|| panic!("{script}: no number {k} in {j}"))
    };
    assert_eq!(g("paths"), PATHS as f64);
    assert_eq!(g("horizon_days"), DAYS as f64);
    let fig = Figures {
        n: g("paths"),
        p_spiral: g("p_spiral"),
        median_price: g("median_final_price"),
        median_price_se: g("median_final_price_se"),
        median_er: g("median_er_ratio"),
        median_er_se: g("median_er_ratio_se"),
        resolution: 0.0,
    };
    (fig, j)
}

/// Checks one peer against tokenrisk on every preset; panics listing every disagreement.
fn compare(peer: &str, script: &str, extra: &[&str]) {
    let mut failures = Vec::new();
    for (preset, file, tr) in tokenrisk_figures() {
        let (pe, json) = peer_figures(script, file, extra);
        // P(spiral): pooled two-proportion standard error.
        let x = tr.p_spiral * tr.n + pe.p_spiral * pe.n;
        let pooled = (x + 1.0) / (tr.n + pe.n + 2.0);
        let se = (pooled * (1.0 - pooled) * (1.0 / tr.n + 1.0 / pe.n)).sqrt();
        let diff = (tr.p_spiral - pe.p_spiral).abs();
        let line = format!(
            "{preset}: P(spiral) tokenrisk {:.4} vs {peer} {:.4}: |diff| {:.4} = {:.2} SE (SE {:.4})",
            tr.p_spiral,
            pe.p_spiral,
            diff,
            diff / se,
            se
        );
        eprintln!("{line}");
        if diff > 4.0 * se {
            failures.push(line);
        }
        for (what, a, a_se, b, b_se) in [
            (
                "median final price",
                tr.median_price,
                tr.median_price_se,
                pe.median_price,
                pe.median_price_se,
            ),
            (
                "median er_ratio",
                tr.median_er,
                tr.median_er_se,
                pe.median_er,
                pe.median_er_se,
            ),
        ] {
            let se = (a_se * a_se + b_se * b_se).sqrt();
            let tol = 4.0 * se + tr.resolution * a.abs();
            let diff = (a - b).abs();
            let line = format!(
                "{preset}: {what} tokenrisk {a:.6} (SE {a_se:.3e}) vs {peer} {b:.6} (SE {b_se:.3e}): |diff| {diff:.3e} = {:.2} SE, tolerance {tol:.3e}",
                diff / se
            );
            eprintln!("{line}");
            if diff > tol {
                failures.push(line);
            }
        }
        eprintln!(
            "{preset}: {peer} {} path-steps/s ({} s)",
            json["path_steps_per_s"], json["seconds"]
        );
    }
    assert!(
        failures.is_empty(),
        "{peer} disagrees with tokenrisk:\n{}",
        failures.join("\n")
    );
}

#[test]
fn numpy_peer_agrees_with_tokenrisk() {
    if !python_has("numpy") {
        let why = "numpy not available (pip install numpy)";
        common::skip(
            "numpy_peer_agrees_with_tokenrisk",
            why,
            "TOKENRISK_REQUIRE_PEERS",
        );
        return;
    }
    compare("numpy", "numpy_peer.py", &[]);
}

#[test]
fn jax_peer_agrees_with_tokenrisk() {
    if !python_has("numpy") || !python_has("jax") {
        let why = "jax not available (pip install numpy jax)";
        common::skip(
            "jax_peer_agrees_with_tokenrisk",
            why,
            "TOKENRISK_REQUIRE_PEERS",
        );
        return;
    }
    // float32, as the peer runs by default (and as a GPU user runs it).
    compare("jax", "jax_peer.py", &[]);
}

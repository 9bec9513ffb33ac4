//! Sharded runs (`run --shard I/N`, scheduler environments) and `tokenrisk merge`: merged
//! shards give the unsharded run's tables (counts, histograms, quantiles, spiral flags and
//! per-path rows identical; means and standard errors within 1e-12 relative), whatever the
//! order the parts are given in; missing, duplicated, mismatched and damaged parts are
//! refused with a message naming them.

mod common;
use arrow::array::{Array, Float64Array};
use common::{path_arg as s, read_parquet as read_table, run_args, text};
use std::path::{Path, PathBuf};
use std::process::Output;
use tokenrisk::engine::Control;
use tokenrisk::engine::{cpu, PathRange};
use tokenrisk::measure::{Accumulator, MetricAcc};
use tokenrisk::model::Params;
use tokenrisk::scale::shard::{self, ShardSpec};

const PATHS: u64 = 3000;

/// The death-spiral preset over one year: both spiral outcomes occur, and 3,000 paths take
/// a fraction of a second.
fn scenario_file(dir: &Path) -> PathBuf {
    let preset = tokenrisk::scenario::preset("death_spiral_stress").unwrap();
    let text = preset
        .toml
        .replace("horizon_days = 1460", "horizon_days = 365");
    assert_ne!(text, preset.toml);
    let path = dir.join("ds365.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn tokenrisk(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = common::tokenrisk_command(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run tokenrisk")
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", text(&o));
    o
}

fn fails(o: Output) -> String {
    assert_eq!(o.status.code(), Some(1), "expected an error: {}", text(&o));
    text(&o)
}

fn run_full(scn: &Path, out: &Path) {
    ok(tokenrisk(&run_args(s(scn), "3000", s(out)), &[]));
}

fn run_shard(scn: &Path, out: &Path, spec: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        s(scn),
        "--paths",
        "3000",
        "--backend",
        "cpu",
        "-q",
        "--out",
        s(out),
        "--shard",
        spec,
    ];
    args.extend_from_slice(extra);
    tokenrisk(&args, &[])
}

/// Columns that are means or their standard errors (agree to summation order only).
fn is_mean_column(name: &str) -> bool {
    name == "mean"
        || name == "se"
        || (!name.starts_with("p_") && (name.ends_with("_mean") || name.ends_with("_se")))
}

fn rel_close(a: f64, b: f64, tol: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= tol * a.abs().max(b.abs())
}

/// Every column equal, except timings (skipped) and means (within `tol` relative).
fn assert_tables_match(a: &Path, b: &Path, tol: f64) {
    let (ta, tb) = (read_table(a), read_table(b));
    assert_eq!(ta.schema(), tb.schema(), "{}", a.display());
    assert_eq!(ta.num_rows(), tb.num_rows(), "{}", a.display());
    for (i, field) in ta.schema().fields().iter().enumerate() {
        let name = field.name();
        if name == "simulate_seconds" || name == "path_steps_per_s" {
            continue;
        }
        let (ca, cb) = (ta.column(i), tb.column(i));
        if is_mean_column(name) {
            let fa = ca.as_any().downcast_ref::<Float64Array>().unwrap();
            let fb = cb.as_any().downcast_ref::<Float64Array>().unwrap();
            for r in 0..fa.len() {
                assert!(
                    rel_close(fa.value(r), fb.value(r), tol),
                    "{} column {name} row {r}: {} vs {}",
                    a.display(),
                    fa.value(r),
                    fb.value(r)
                );
            }
        } else {
            assert!(
                ca.to_data() == cb.to_data(),
                "{} column {name} differs",
                a.display()
            );
        }
    }
}

fn assert_runs_match(a: &Path, b: &Path, tol: f64) {
    for f in ["summary.parquet", "timeseries.parquet", "paths.parquet"] {
        assert_tables_match(&a.join(f), &b.join(f), tol);
    }
    assert!(b.join("manifest.json").exists());
}

#[test]
fn merged_shards_equal_the_unsharded_run() {
    let tmp = tempfile::tempdir().unwrap();
    let scn = scenario_file(tmp.path());
    let full = tmp.path().join("full");
    run_full(&scn, &full);
    let full_run = full.join("death-spiral-stress");
    for n in [1u64, 2, 3, 7] {
        let parts = tmp.path().join(format!("parts{n}"));
        for i in 0..n {
            let o = ok(run_shard(&scn, &parts, &format!("{i}/{n}"), &[]));
            assert!(
                text(&o).contains(&format!("shard-{i}-of-{n}")),
                "{}",
                text(&o)
            );
        }
        let merged = tmp.path().join(format!("merged{n}"));
        let o = ok(tokenrisk(
            &[
                "merge",
                s(&parts.join("death-spiral-stress")),
                "--out",
                s(&merged),
            ],
            &[],
        ));
        assert!(
            text(&o).contains(&format!("merged {n} shard")),
            "{}",
            text(&o)
        );
        // One shard: the same fold as the unsharded run, bit for bit.
        let tol = if n == 1 { 0.0 } else { 1e-12 };
        assert_runs_match(&full_run, &merged.join("death-spiral-stress"), tol);
    }
}

/// The accumulators themselves: histograms, counts, min/max identical, means and M2 within
/// 1e-12 relative; per-path records identical (library level, through the files).
#[test]
fn merged_accumulators_match_exactly_where_they_must() {
    let tmp = tempfile::tempdir().unwrap();
    let scn = tokenrisk::scenario::load(&scenario_file(tmp.path())).unwrap();
    let mut scn = scn;
    scn.scenario.paths = PATHS;
    let params = Params::compile(&scn);
    let run =
        |range: PathRange| cpu::run(&params, scn.scenario.seed, range, &Control::none()).unwrap();
    let full = run(PathRange {
        start: 0,
        count: PATHS,
    });
    assert!(full.acc.spiraled > 0 && full.acc.spiraled < PATHS);
    for n in [1u64, 2, 3, 7] {
        let root = tmp.path().join(format!("lib{n}"));
        for i in 0..n {
            let spec = ShardSpec { index: i, count: n };
            let range = spec.range(PATHS);
            let out = run(range);
            shard::write_shard(&root.join(spec.dir_name()), &scn, spec, range, &out).unwrap();
        }
        let (_, merged, parts, _, _) =
            tokenrisk::scale::merge::merge_parts(&[root], false, None).unwrap();
        assert_eq!(parts as u64, n);
        assert_eq!(merged.records, full.records, "per-path rows, {n} shards");
        compare_acc(&merged.acc, &full.acc, if n == 1 { 0.0 } else { 1e-12 });
    }
}

fn compare_metric(a: &MetricAcc, b: &MetricAcc, tol: f64, what: &str) {
    assert_eq!(a.hist, b.hist, "{what}: histogram");
    let (ma, mb) = (&a.moments, &b.moments);
    assert_eq!(
        (ma.n, ma.nonfinite, ma.min.to_bits(), ma.max.to_bits()),
        (mb.n, mb.nonfinite, mb.min.to_bits(), mb.max.to_bits()),
        "{what}: counts and extremes"
    );
    assert!(
        rel_close(ma.mean, mb.mean, tol),
        "{what}: mean {} vs {}",
        ma.mean,
        mb.mean
    );
    // M2 of a near-constant metric is a difference of near-equal sums: allow its scale.
    let scale = mb.mean * mb.mean * mb.n as f64;
    assert!(
        (ma.m2 - mb.m2).abs() <= tol * ma.m2.abs().max(mb.m2.abs()).max(scale * 1e-3),
        "{what}: m2 {} vs {}",
        ma.m2,
        mb.m2
    );
}

fn compare_acc(a: &Accumulator, b: &Accumulator, tol: f64) {
    if tol == 0.0 {
        assert_eq!(a, b);
        return;
    }
    assert_eq!(a.report_days, b.report_days);
    assert_eq!(
        (
            a.paths,
            a.spiraled,
            a.er_above_1,
            a.broke_even,
            a.nonfinite_paths
        ),
        (
            b.paths,
            b.spiraled,
            b.er_above_1,
            b.broke_even,
            b.nonfinite_paths
        )
    );
    for (k, (x, y)) in a.series.iter().zip(&b.series).enumerate() {
        compare_metric(x, y, tol, &format!("series {k}"));
    }
    let (p, q) = (&a.per_path, &b.per_path);
    for (name, x, y) in [
        ("log_return", &p.log_return, &q.log_return),
        ("max_drawdown", &p.max_drawdown, &q.max_drawdown),
        ("price_retained", &p.price_retained, &q.price_retained),
        ("final_price", &p.final_price, &q.final_price),
        (
            "final_circulating",
            &p.final_circulating,
            &q.final_circulating,
        ),
        ("er_ratio", &p.er_ratio, &q.er_ratio),
        ("minted", &p.minted, &q.minted),
        ("burned", &p.burned, &q.burned),
        ("spiral_day", &p.spiral_day, &q.spiral_day),
        ("breakeven_day", &p.breakeven_day, &q.breakeven_day),
    ] {
        compare_metric(x, y, tol, name);
    }
}

#[test]
fn merge_order_does_not_matter_and_problems_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let scn = scenario_file(tmp.path());
    let parts = tmp.path().join("parts");
    for i in 0..3 {
        ok(run_shard(&scn, &parts, &format!("{i}/3"), &[]));
    }
    let root = parts.join("death-spiral-stress");
    let shard_dir = |i: u64| root.join(format!("shard-{i}-of-3"));

    // Order independence: folders given one by one, in two orders.
    let (m1, m2) = (tmp.path().join("m1"), tmp.path().join("m2"));
    ok(tokenrisk(
        &[
            "merge",
            s(&shard_dir(0)),
            s(&shard_dir(1)),
            s(&shard_dir(2)),
            "--out",
            s(&m1),
        ],
        &[],
    ));
    ok(tokenrisk(
        &[
            "merge",
            s(&shard_dir(2)),
            s(&shard_dir(0)),
            s(&shard_dir(1)),
            "--out",
            s(&m2),
        ],
        &[],
    ));
    assert_runs_match(
        &m1.join("death-spiral-stress"),
        &m2.join("death-spiral-stress"),
        0.0,
    );

    // A missing shard is named, with the folder it should be in.
    let e = fails(tokenrisk(
        &["merge", s(&shard_dir(0)), s(&shard_dir(2)), "--out", s(&m1)],
        &[],
    ));
    assert!(e.contains("missing shard 1 of 3"), "{e}");
    assert!(e.contains("shard-1-of-3"), "{e}");

    // An unfinished shard (no partial.json) is named as such.
    let unfinished = tmp.path().join("unfinished");
    copy_dir(&root, &unfinished);
    std::fs::remove_file(unfinished.join("shard-1-of-3/partial.json")).unwrap();
    let e = fails(tokenrisk(&["merge", s(&unfinished), "--out", s(&m1)], &[]));
    assert!(e.contains("missing shard 1 of 3"), "{e}");
    assert!(
        e.contains("incomplete") && e.contains("shard-1-of-3"),
        "{e}"
    );

    // The same shard from two folders is a duplicate, named with both folders.
    let copy = tmp.path().join("copy-of-1");
    copy_dir(&shard_dir(1), &copy);
    let e = fails(tokenrisk(
        &["merge", s(&root), s(&copy), "--out", s(&m1)],
        &[],
    ));
    assert!(e.contains("shard 1 of 3 appears twice"), "{e}");
    assert!(e.contains("copy-of-1"), "{e}");

    // A shard of another run (other seed) is refused, naming the field.
    let other = tmp.path().join("other");
    ok(run_shard(&scn, &other, "1/3", &["--seed", "43"]));
    let e = fails(tokenrisk(
        &[
            "merge",
            s(&shard_dir(0)),
            s(&other.join("death-spiral-stress/shard-1-of-3")),
            s(&shard_dir(2)),
            "--out",
            s(&m1),
        ],
        &[],
    ));
    assert!(e.contains("do not belong to the same run"), "{e}");
    assert!(e.contains("seed 42 vs 43"), "{e}");

    // Another shard count is refused too.
    let four = tmp.path().join("four");
    ok(run_shard(&scn, &four, "3/4", &[]));
    let e = fails(tokenrisk(
        &[
            "merge",
            s(&root),
            s(&four.join("death-spiral-stress/shard-3-of-4")),
            "--out",
            s(&m1),
        ],
        &[],
    ));
    assert!(e.contains("shards 3 vs 4"), "{e}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn damaged_parts_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let scn = scenario_file(tmp.path());
    let parts = tmp.path().join("parts");
    for i in 0..2 {
        ok(run_shard(&scn, &parts, &format!("{i}/2"), &[]));
    }
    let root = parts.join("death-spiral-stress");
    let out = tmp.path().join("merged");

    // A truncated paths.parquet.
    let bad = tmp.path().join("bad1");
    copy_dir(&root, &bad);
    let pq = bad.join("shard-1-of-2/paths.parquet");
    let len = std::fs::metadata(&pq).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&pq).unwrap();
    f.set_len(len / 2).unwrap();
    let e = fails(tokenrisk(&["merge", s(&bad), "--out", s(&out)], &[]));
    assert!(e.contains(s(&pq)), "{e}");
    assert!(e.contains("truncated"), "{e}");

    // A flipped byte in paths.parquet (same size).
    let bad = tmp.path().join("bad2");
    copy_dir(&root, &bad);
    let pq = bad.join("shard-0-of-2/paths.parquet");
    let mut bytes = std::fs::read(&pq).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&pq, bytes).unwrap();
    let e = fails(tokenrisk(&["merge", s(&bad), "--out", s(&out)], &[]));
    assert!(e.contains(s(&pq)) && e.contains("SHA-256"), "{e}");

    // A truncated partial.json.
    let bad = tmp.path().join("bad3");
    copy_dir(&root, &bad);
    let pj = bad.join("shard-0-of-2/partial.json");
    let bytes = std::fs::read(&pj).unwrap();
    std::fs::write(&pj, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let e = fails(tokenrisk(&["merge", s(&bad), "--out", s(&out)], &[]));
    assert!(e.contains(s(&pj)) && e.contains("truncated"), "{e}");

    // A changed number inside the accumulator.
    let bad = tmp.path().join("bad4");
    copy_dir(&root, &bad);
    let pj = bad.join("shard-1-of-2/partial.json");
    let t = std::fs::read_to_string(&pj).unwrap();
    let at = t.find("\"counts\":[").unwrap() + "\"counts\":[".len();
    let mut t = t.into_bytes();
    t[at] = if t[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(&pj, t).unwrap();
    let e = fails(tokenrisk(&["merge", s(&bad), "--out", s(&out)], &[]));
    assert!(e.contains(s(&pj)) && e.contains("SHA-256"), "{e}");

    // Nothing was written by the failed merges (the output folder may have been created by
    // the up-front writability check, but holds no file).
    let written: Vec<_> = std::fs::read_dir(out.join("death-spiral-stress"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "a failed merge wrote {written:?}");
}

#[test]
fn scheduler_environments_pick_the_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let scn = scenario_file(tmp.path());
    let out = tmp.path().join("env");
    let base = run_args(s(&scn), "3000", s(&out));
    let with = |extra: &[&'static str]| {
        let mut v: Vec<&str> = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    // Slurm: index and count from the array.
    let o = ok(tokenrisk(
        &with(&["--shard", "auto"]),
        &[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
    ));
    assert!(
        text(&o).contains("SLURM_ARRAY_TASK_ID=1 of 3"),
        "{}",
        text(&o)
    );
    // Kubernetes: index from the Indexed Job, count from --shards.
    let o = ok(tokenrisk(
        &with(&["--shards", "3"]),
        &[("JOB_COMPLETION_INDEX", "2")],
    ));
    assert!(
        text(&o).contains("JOB_COMPLETION_INDEX=2 of 3"),
        "{}",
        text(&o)
    );
    // The explicit flag wins over the environment.
    ok(tokenrisk(
        &with(&["--shard", "0/3"]),
        &[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
    ));
    let root = out.join("death-spiral-stress");
    for i in 0..3 {
        assert!(root.join(format!("shard-{i}-of-3/partial.json")).exists());
    }
    let merged = tmp.path().join("merged");
    ok(tokenrisk(&["merge", s(&root), "--out", s(&merged)], &[]));
    let full = tmp.path().join("full");
    run_full(&scn, &full);
    assert_runs_match(
        &full.join("death-spiral-stress"),
        &merged.join("death-spiral-stress"),
        1e-12,
    );

    // Errors: Kubernetes without a count, an index out of range, junk, nothing set.
    let e = fails(tokenrisk(
        &with(&["--shard", "auto"]),
        &[("JOB_COMPLETION_INDEX", "0")],
    ));
    assert!(e.contains("--shards N"), "{e}");
    let e = fails(tokenrisk(
        &with(&["--shards", "2"]),
        &[("JOB_COMPLETION_INDEX", "2")],
    ));
    assert!(e.contains("JOB_COMPLETION_INDEX=2 is out of range"), "{e}");
    let e = fails(tokenrisk(
        &with(&["--shards", "2"]),
        &[("SLURM_ARRAY_TASK_ID", "x")],
    ));
    assert!(e.contains("SLURM_ARRAY_TASK_ID=\"x\""), "{e}");
    let e = fails(tokenrisk(&with(&["--shards", "2"]), &[]));
    assert!(
        e.contains("SLURM_ARRAY_TASK_ID") && e.contains("JOB_COMPLETION_INDEX"),
        "{e}"
    );
    let e = fails(tokenrisk(
        &with(&["--shard", "auto"]),
        &[
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
    ));
    assert!(e.contains("out of range"), "{e}");
    // Without a shard flag the environment is ignored: a whole run.
    let plain = tmp.path().join("plain");
    let o = ok(tokenrisk(
        &run_args(s(&scn), "300", s(&plain)),
        &[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
    ));
    assert!(text(&o).contains("300 paths"), "{}", text(&o));
    assert!(plain.join("death-spiral-stress/summary.parquet").exists());
}

#[test]
fn shard_flags_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let scn = scenario_file(tmp.path());
    let out = tmp.path().join("o");
    for (spec, want) in [
        ("3/3", "expected I/N"),
        ("1/0", "expected I/N"),
        ("x", "expected I/N"),
        ("0/5000", "at most 3000 shards"),
    ] {
        let e = fails(run_shard(&scn, &out, spec, &[]));
        assert!(e.contains(want), "{spec}: {e}");
    }
    let e = fails(run_shard(&scn, &out, "0/2", &["--shards", "3"]));
    assert!(e.contains("disagree"), "{e}");
    let e = fails(run_shard(&scn, &out, "0/2", &["--target-se", "0.01"]));
    assert!(e.contains("--target-se"), "{e}");
}

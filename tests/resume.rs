//! Resumable runs: a real `tokenrisk run --checkpoint-every K` process is killed with SIGKILL
//! several times mid-run and rerun with the same arguments; the final outputs equal those of
//! an uninterrupted run (every table column but the timings, bit for bit). A checkpoint of
//! other arguments is refused and kept.

mod common;
use common::{
    path_arg as s, read_parquet as read_table, run_args, text, tokenrisk_command as command,
};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const NAME: &str = "death-spiral-stress";

/// The death-spiral preset over two years: 1,024-path blocks take tens of milliseconds.
fn scenario_file(dir: &Path) -> PathBuf {
    let preset = tokenrisk::scenario::preset("death_spiral_stress").unwrap();
    let text = preset
        .toml
        .replace("horizon_days = 1460", "horizon_days = 730");
    let path = dir.join("ds730.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn ok(args: &[&str]) -> String {
    let o = command(args).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    text(&o)
}

fn blocks(ck: &Path) -> usize {
    std::fs::read_dir(ck).map_or(0, |rd| {
        rd.filter_map(|e| e.ok())
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with("block-") && n.ends_with(".parquet")
            })
            .count()
    })
}

/// Every column of the three tables identical, timings aside.
fn assert_same_run(a: &Path, b: &Path) {
    for f in ["summary.parquet", "timeseries.parquet", "paths.parquet"] {
        let (ta, tb) = (read_table(&a.join(f)), read_table(&b.join(f)));
        assert_eq!(ta.schema(), tb.schema(), "{f}");
        for (i, field) in ta.schema().fields().iter().enumerate() {
            if field.name() == "simulate_seconds" || field.name() == "path_steps_per_s" {
                continue;
            }
            assert!(
                ta.column(i).to_data() == tb.column(i).to_data(),
                "{f}: column {} differs",
                field.name()
            );
        }
    }
    assert!(b.join("manifest.json").exists());
}

/// Spawns `args`, has it stop once it has checkpointed `more` new blocks (the test hook
/// `TOKENRISK_TEST_STOP_AFTER_BLOCKS`), waits until its state lists them, and kills it with
/// SIGKILL. Returns whether it was killed mid-run with those blocks checkpointed (false: it
/// finished first, having fewer blocks left than `more`).
fn kill_after_blocks(args: &[&str], ck: &Path, more: usize) -> bool {
    let before = listed_blocks(ck);
    let mut child: Child = command(args)
        .env("TOKENRISK_TEST_STOP_AFTER_BLOCKS", more.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while listed_blocks(ck) < before + more {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(Instant::now() < deadline, "no checkpoint progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    !status.success()
}

/// [`kill_after_blocks`] after one new block.
fn kill_after_progress(args: &[&str], ck: &Path) -> bool {
    kill_after_blocks(args, ck, 1)
}

/// Blocks the checkpoint's state lists (0 without a state, or while it is being replaced).
fn listed_blocks(ck: &Path) -> usize {
    std::fs::read(ck.join("state.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["header"]["paths_files"].as_array().map(Vec::len))
        .unwrap_or(0)
}

#[test]
fn killed_runs_resume_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let scn = scenario_file(tmp.path());
    let paths = "40960";
    let full = tmp.path().join("full");
    ok(&run_args(s(&scn), paths, s(&full)));

    let out = tmp.path().join("killed");
    let args = [
        run_args(s(&scn), paths, s(&out)),
        vec!["--checkpoint-every", "1024"],
    ]
    .concat();
    let ck = out.join(NAME).join(".checkpoint");
    for k in 0..5 {
        assert!(
            kill_after_blocks(&args, &ck, 1 + k % 3),
            "attempt {k} finished before its kill"
        );
    }
    // 1 + 2 + 3 + 1 + 2 blocks of 40 are checkpointed when the last attempt starts.
    assert_eq!(listed_blocks(&ck), 9);
    let last = ok(&args);
    assert!(last.contains("resumed from checkpoint"), "{last}");
    assert!(!ck.exists(), "checkpoint not removed");
    assert_same_run(&full.join(NAME), &out.join(NAME));

    // Checkpointing without any kill gives the same result too.
    let clean = tmp.path().join("clean");
    let mut a = args.clone();
    a[8] = s(&clean);
    let o = ok(&a);
    assert!(
        o.contains("checkpointed every 1024 paths (40 blocks)"),
        "{o}"
    );
    assert_same_run(&full.join(NAME), &clean.join(NAME));
}

#[test]
fn stale_checkpoints_are_refused_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let scn = scenario_file(tmp.path());
    let out = tmp.path().join("o");
    let args = [run_args(s(&scn), "20480", s(&out)), vec!["--resume"]].concat();
    let ck = out.join(NAME).join(".checkpoint");
    assert!(
        kill_after_progress(&args, &ck),
        "the run finished before the kill"
    );
    let n = blocks(&ck);
    for (extra, want) in [
        (&["--seed", "43"][..], "seed 42 there, 43 now"),
        (&["--paths", "30720"][..], "paths 20480 there, 30720 now"),
        (&["--shock", "price=-0.5@100"][..], "scenario_sha256"),
    ] {
        let mut a: Vec<&str> = args.to_vec();
        if extra[0] == "--paths" {
            a[3] = extra[1];
        } else {
            a.extend_from_slice(extra);
        }
        let o = command(&a).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let e = text(&o);
        assert!(e.contains(want), "{e}");
        assert!(e.contains("rm -r") && e.contains(".checkpoint"), "{e}");
        assert_eq!(blocks(&ck), n, "the stale checkpoint was touched");
    }
    // With the original arguments it resumes and matches an uninterrupted run.
    let o = ok(&args);
    assert!(o.contains("resumed from checkpoint"), "{o}");
    let full = tmp.path().join("full");
    ok(&run_args(s(&scn), "20480", s(&full)));
    assert_same_run(&full.join(NAME), &out.join(NAME));
}

#[test]
fn a_killed_shard_resumes_and_merges() {
    let tmp = tempfile::tempdir().unwrap();
    let scn = scenario_file(tmp.path());
    let out = tmp.path().join("o");
    let shard = |i: &'static str| {
        [
            run_args(s(&scn), "12000", s(&out)),
            vec!["--shard", i, "--checkpoint-every", "1024"],
        ]
        .concat()
    };
    let a1 = shard("1/2");
    let ck = out.join(NAME).join("shard-1-of-2/.checkpoint");
    assert!(
        kill_after_progress(&a1, &ck),
        "the shard finished before the kill"
    );
    let o = ok(&a1);
    assert!(o.contains("resumed from checkpoint"), "{o}");
    let a0 = shard("0/2");
    ok(&a0);
    let merged = tmp.path().join("merged");
    ok(&["merge", s(&out.join(NAME)), "--out", s(&merged)]);
    let full = tmp.path().join("full");
    ok(&run_args(s(&scn), "12000", s(&full)));
    // Paths and every count/histogram column are exact; compare the path rows here (the
    // means are covered within 1e-12 by tests/shards.rs).
    let (a, b) = (
        read_table(&full.join(NAME).join("paths.parquet")),
        read_table(&merged.join(NAME).join("paths.parquet")),
    );
    assert!(a == b, "per-path rows differ");
}

//! What `merge` and `--resume` read is verified, not trusted (issue 11, findings 2 and 3):
//! every tampered `partial.json` / `state.json` (a file name that leaves its folder, an
//! absolute name, a device file, a FIFO, a symlink, a seed or scenario edited consistently
//! in both shards, an accumulator edited with its SHA-256 recomputed, a shard given twice)
//! is refused with a message naming the file and the field; a `.checkpoint` that is a
//! symlink is refused and nothing outside the run is touched. Every command runs under a
//! hang guard (a FIFO or a device file made the old code block forever).

mod common;
use common::{path_arg as s, run_args, text};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;
use tokenrisk::engine::{Backend, Control, PathRange};
use tokenrisk::output::partial::{read_partial, write_partial, Partial};
use tokenrisk::scale::shard::ShardSpec;

const NAME: &str = "death-spiral-stress";
const PATHS: &str = "2048";

/// The death-spiral preset over one year: both spiral outcomes occur, 2,048 paths take a
/// fraction of a second.
fn scenario_text() -> String {
    let preset = tokenrisk::scenario::preset("death_spiral_stress").unwrap();
    let text = preset
        .toml
        .replace("horizon_days = 1460", "horizon_days = 365");
    assert_ne!(text, preset.toml);
    text
}

fn scenario_file(dir: &Path) -> PathBuf {
    let path = dir.join("ds365.toml");
    std::fs::write(&path, scenario_text()).unwrap();
    path
}

/// Runs tokenrisk, killing it (and failing the test) if it is still running after two
/// minutes: the commands here take about a second, and one that blocks on a FIFO or reads
/// /dev/zero never ends.
fn guarded(args: &[&str]) -> Output {
    common::wait_at_most(
        common::spawn_tokenrisk(args),
        Duration::from_secs(120),
        &format!("tokenrisk {args:?} hung"),
    )
}

fn ok(args: &[&str]) -> String {
    let o = guarded(args);
    assert!(o.status.success(), "{}", text(&o));
    text(&o)
}

/// The command failed with exit code 1; its output.
fn refused(args: &[&str]) -> String {
    let o = guarded(args);
    assert_eq!(o.status.code(), Some(1), "expected a refusal: {}", text(&o));
    text(&o)
}

/// Two finished shards of a 2,048-path run under `tmp/parts/<name>/`; returns that folder.
fn two_shards(tmp: &Path) -> PathBuf {
    let scn = scenario_file(tmp);
    let parts = tmp.join("parts");
    for i in 0..2 {
        let spec = format!("{i}/2");
        ok(&[run_args(s(&scn), PATHS, s(&parts)), vec!["--shard", &spec]].concat());
    }
    parts.join(NAME)
}

fn shard(root: &Path, i: u64) -> PathBuf {
    root.join(format!("shard-{i}-of-2"))
}

/// Rewrites a partial file with `edit` applied, its accumulator SHA-256 recomputed (what a
/// careful forger, or a buggy tool, would do).
fn edit(file: &Path, edit: impl FnOnce(&mut Partial)) {
    let mut p = read_partial(file).unwrap();
    edit(&mut p);
    write_partial(file, &p.header, &p.scenario_toml, &p.acc).unwrap();
}

fn merge(tmp: &Path, parts: &[&Path]) -> Vec<String> {
    let out = tmp.join("merged");
    let mut args = vec!["merge".to_string()];
    args.extend(parts.iter().map(|p| s(p).to_string()));
    args.extend(["--out".to_string(), s(&out).to_string()]);
    args
}

fn merge_refused(tmp: &Path, parts: &[&Path]) -> String {
    let args = merge(tmp, parts);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refused(&args)
}

fn assert_names(e: &str, file: &Path, field: &str) {
    assert!(e.contains(s(file)), "does not name {}: {e}", file.display());
    assert!(e.contains(field), "does not name {field}: {e}");
}

// ---------------------------------------------------------------------------------------
// merge
// ---------------------------------------------------------------------------------------

#[test]
fn finding_02_traversal_name_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = two_shards(tmp.path());
    // The rows moved two folders up, and the name pointing there.
    let other = tmp.path().join("parts/other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::rename(
        shard(&root, 0).join("paths.parquet"),
        other.join("paths.parquet"),
    )
    .unwrap();
    let pj = shard(&root, 0).join("partial.json");
    edit(&pj, |p| {
        p.header.paths_files[0].name = "../../other/paths.parquet".into();
    });
    let e = merge_refused(tmp.path(), &[&root]);
    assert_names(&e, &pj, "paths_files[0].name");
    assert!(e.contains("../../other/paths.parquet"), "{e}");
}

#[test]
fn finding_02_absolute_name_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = two_shards(tmp.path());
    let elsewhere = tmp.path().join("elsewhere.parquet");
    std::fs::rename(shard(&root, 1).join("paths.parquet"), &elsewhere).unwrap();
    let pj = shard(&root, 1).join("partial.json");
    edit(&pj, |p| {
        p.header.paths_files[0].name = s(&elsewhere).to_string();
    });
    let e = merge_refused(tmp.path(), &[&root]);
    assert_names(&e, &pj, "paths_files[0].name");
}

#[test]
fn finding_02_device_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = two_shards(tmp.path());
    let pj = shard(&root, 0).join("partial.json");
    // With 0 bytes recorded, the old size check passed and hashing /dev/zero never ended.
    edit(&pj, |p| {
        p.header.paths_files[0].name = "/dev/zero".into();
        p.header.paths_files[0].bytes = 0;
    });
    let e = merge_refused(tmp.path(), &[&root]);
    assert_names(&e, &pj, "paths_files[0].name");
}

#[test]
fn finding_02_fifo_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = two_shards(tmp.path());
    let fifo = shard(&root, 0).join("paths.fifo");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    let pj = shard(&root, 0).join("partial.json");
    // A plain name in the shard folder, but a FIFO: opening it for reading blocked forever.
    edit(&pj, |p| {
        p.header.paths_files[0].name = "paths.fifo".into();
        p.header.paths_files[0].bytes = 0;
    });
    let e = merge_refused(tmp.path(), &[&root]);
    assert_names(&e, &fifo, "not a regular file");
    assert!(e.contains("paths_files[0]"), "{e}");
}

#[test]
fn finding_02_symlinked_rows_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = two_shards(tmp.path());
    let rows = shard(&root, 1).join("paths.parquet");
    let elsewhere = tmp.path().join("elsewhere.parquet");
    std::fs::rename(&rows, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &rows).unwrap();
    let e = merge_refused(tmp.path(), &[&root]);
    assert_names(&e, &rows, "symbolic link");
}

#[test]
fn finding_02_edited_seed_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = two_shards(tmp.path());
    // Both shards claim seed 7: they agree with each other, not with their rows.
    for i in 0..2 {
        edit(&shard(&root, i).join("partial.json"), |p| {
            p.header.provenance.seed = 7;
        });
    }
    let e = merge_refused(tmp.path(), &[&root]);
    let pj = shard(&root, 0).join("partial.json");
    assert_names(&e, &pj, "seed");
    assert!(e.contains("paths.parquet"), "{e}");
    assert!(e.contains('7') && e.contains("42"), "{e}");
}

#[test]
fn finding_02_edited_scenario_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = two_shards(tmp.path());
    // Both shards claim another scenario text (its hash recomputed to match).
    for i in 0..2 {
        edit(&shard(&root, i).join("partial.json"), |p| {
            p.scenario_toml = p
                .scenario_toml
                .replace("horizon_days = 365", "horizon_days = 366");
            p.header.provenance.scenario_sha256 =
                tokenrisk::output::manifest::sha256_hex(&p.scenario_toml);
        });
    }
    let e = merge_refused(tmp.path(), &[&root]);
    assert_names(&e, &shard(&root, 0).join("partial.json"), "scenario_sha256");
}

#[test]
fn finding_02_rehashed_accumulator_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = two_shards(tmp.path());
    let pj = shard(&root, 1).join("partial.json");
    edit(&pj, |p| {
        let acc = &mut p.acc;
        acc.spiraled = if acc.spiraled < acc.paths {
            acc.spiraled + 1
        } else {
            acc.spiraled - 1
        };
    });
    let e = merge_refused(tmp.path(), &[&root]);
    assert_names(&e, &pj, "accumulator.spiraled");
}

#[test]
fn finding_02_rehashed_accumulator_figure_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = two_shards(tmp.path());
    let pj = shard(&root, 0).join("partial.json");
    // A mean moved by 1% (histogram and counts left alone).
    edit(&pj, |p| {
        let m = &mut p.acc.per_path.final_price.moments;
        m.mean *= 1.01;
    });
    let e = merge_refused(tmp.path(), &[&root]);
    assert_names(&e, &pj, "accumulator.per_path.final_price");
}

#[test]
fn finding_02_same_shard_twice_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = two_shards(tmp.path());
    let (a, b) = (shard(&root, 0), shard(&root, 1));
    let e = merge_refused(tmp.path(), &[&a, &b, &a]);
    assert!(e.contains("given twice"), "{e}");
    assert!(e.contains(s(&a)), "{e}");
    // A folder and a shard folder inside it: shard 0 twice as well.
    let e = merge_refused(tmp.path(), &[&root, &a]);
    assert!(e.contains("given twice"), "{e}");
}

#[test]
fn finding_02_shards_are_found_below_given_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let root = two_shards(tmp.path());
    // Each machine's output root holds <name>/shard-I-of-N/.
    let (s0, s1) = (tmp.path().join("s0"), tmp.path().join("s1"));
    for (i, d) in [(0, &s0), (1, &s1)] {
        std::fs::create_dir_all(d.join(NAME)).unwrap();
        std::fs::rename(
            shard(&root, i),
            d.join(NAME).join(format!("shard-{i}-of-2")),
        )
        .unwrap();
    }
    let args = merge(tmp.path(), &[&s0, &s1]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = ok(&args);
    assert!(o.contains("merged 2 shards"), "{o}");
    assert!(tmp
        .path()
        .join("merged")
        .join(NAME)
        .join("paths.parquet")
        .exists());
}

// ---------------------------------------------------------------------------------------
// --resume
// ---------------------------------------------------------------------------------------

/// `tmp/o/<name>/.checkpoint/` holding a finished-but-not-written checkpoint of the whole
/// 2,048-path run in two blocks (made by the library, as a killed run leaves it), and the
/// command that resumes it.
fn checkpointed(tmp: &Path) -> (PathBuf, Vec<String>) {
    let scn = scenario_file(tmp);
    let mut sc = tokenrisk::scenario::parse(&scenario_text(), s(&scn)).unwrap();
    sc.scenario.paths = 2048;
    let plan = tokenrisk::workflows::single::RunPlan {
        scenario: sc,
        backend: Backend::Cpu,
    };
    let out = tmp.join("o");
    let ck = out.join(NAME).join(".checkpoint");
    tokenrisk::scale::resume::run(
        &plan,
        ShardSpec { index: 0, count: 1 },
        PathRange {
            start: 0,
            count: 2048,
        },
        &ck,
        1024,
        &Control::none(),
    )
    .unwrap();
    let args = [run_args(s(&scn), PATHS, s(&out)), vec!["--resume"]]
        .concat()
        .into_iter()
        .map(String::from)
        .collect();
    (ck, args)
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn finding_03_symlinked_checkpoint_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let scn = scenario_file(tmp.path());
    // Someone else's folder, with files the old code deleted (a stray-looking block and
    // temp file) and the .checkpoint of the run pointing at it.
    let victim = tmp.path().join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    for f in ["keep.txt", ".notes.tmp", "block-000000009999.parquet"] {
        std::fs::write(victim.join(f), "precious").unwrap();
    }
    let before = listing(&victim);
    let out = tmp.path().join("o");
    std::fs::create_dir_all(out.join(NAME)).unwrap();
    let ck = out.join(NAME).join(".checkpoint");
    std::os::unix::fs::symlink(&victim, &ck).unwrap();
    let args = [
        run_args(s(&scn), PATHS, s(&out)),
        vec!["--checkpoint-every", "1024"],
    ]
    .concat();
    let e = refused(&args);
    assert_names(&e, &ck, "symbolic link");
    assert_eq!(
        listing(&victim),
        before,
        "the folder the link points to was touched"
    );
}

#[test]
fn finding_03_symlinked_block_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (ck, args) = checkpointed(tmp.path());
    let block = ck.join("block-000000000000.parquet");
    let elsewhere = tmp.path().join("elsewhere.parquet");
    std::fs::rename(&block, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &block).unwrap();
    let e = refused(&strs(&args));
    assert_names(&e, &block, "symbolic link");
    assert!(ck.join("state.json").exists(), "the checkpoint was removed");
}

#[test]
fn finding_02_checkpoint_traversal_name_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (ck, args) = checkpointed(tmp.path());
    let outside = tmp.path().join("o/outside.parquet");
    std::fs::rename(ck.join("block-000000000000.parquet"), &outside).unwrap();
    let state = ck.join("state.json");
    edit(&state, |p| {
        p.header.paths_files[0].name = "../../outside.parquet".into();
    });
    let e = refused(&strs(&args));
    assert_names(&e, &state, "paths_files[0].name");
}

#[test]
fn finding_02_checkpoint_state_fifo_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (ck, args) = checkpointed(tmp.path());
    let state = ck.join("state.json");
    std::fs::remove_file(&state).unwrap();
    let st = std::process::Command::new("mkfifo")
        .arg(&state)
        .status()
        .unwrap();
    assert!(st.success());
    let e = refused(&strs(&args));
    assert_names(&e, &state, "not a regular file");
}

#[test]
fn finding_02_checkpoint_rehashed_accumulator_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (ck, args) = checkpointed(tmp.path());
    let state = ck.join("state.json");
    edit(&state, |p| {
        let acc = &mut p.acc;
        acc.spiraled = if acc.spiraled < acc.paths {
            acc.spiraled + 1
        } else {
            acc.spiraled - 1
        };
    });
    let e = refused(&strs(&args));
    assert_names(&e, &state, "accumulator.spiraled");
}

#[test]
fn finding_02_checkpoint_edited_seed_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (ck, mut args) = checkpointed(tmp.path());
    let state = ck.join("state.json");
    // The state claims seed 43 and the run asks for 43: the blocks were simulated with 42.
    edit(&state, |p| {
        p.header.provenance.seed = 43;
    });
    args.extend(["--seed".to_string(), "43".to_string()]);
    let e = refused(&strs(&args));
    assert_names(&e, &state, "seed");
    assert!(e.contains("block-000000000000.parquet"), "{e}");
}

//! The GPU engine never hangs and always answers: every fault injected on a real adapter
//! (lavapipe in CI; `TOKENRISK_GPU_FAULT`, `engine::gpu::settings`) becomes an error that
//! names the adapter, where in the run it happened and what to try; `--backend auto` then
//! runs the CPU engine with a warning that says so, a run begun on the GPU is never finished
//! on the CPU, and the CLI writes no outputs for a failed run. Without an adapter every test
//! prints SKIPPED (fails under `TOKENRISK_REQUIRE_GPU=1`, as in CI).

mod common;
use common::{have_gpu, parse, path_arg, text, tokenrisk_command};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokenrisk::engine::gpu::{self, Budgets, Fault, FaultKind, GpuError, Selection, Settings};
use tokenrisk::engine::{self, cpu, Backend, Control, PathRange};
use tokenrisk::model::Params;

/// One test at a time: lavapipe uses every core, and two tests set `TOKENRISK_GPU_FAULT`.
static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A short run of the tests' scenario with every mechanism on.
fn scenario() -> tokenrisk::scenario::Scenario {
    let t = common::full_model_reference();
    let t = common::set(&t, "scenario.horizon_days", "56");
    parse(&common::set(&t, "scenario.report_every", "7"))
}

fn range(count: u64) -> PathRange {
    PathRange { start: 0, count }
}

/// Budgets that cut 256 paths x 56 days into many submissions (two passes of 128 paths,
/// dispatches of 64 paths x at most 7 steps, row blocks of 2 rows): 16 submissions and 10
/// read-backs per pass.
fn small_budgets() -> Budgets {
    Budgets {
        state_bytes: 128 * std::mem::size_of::<gpu::layout::GpuPathState>() as u64,
        hist_bytes: 2 * 663_504,
        dispatch_path_steps: 64 * 7,
        ..Budgets::for_adapter(true, &Settings::default())
    }
}

fn settings(kind: FaultKind, at: u64) -> Settings {
    Settings {
        timeout: Duration::from_secs(2),
        fault: Some(Fault { kind, at }),
        ..Settings::default()
    }
}

/// Each fault, at a submission (or read-back) after others succeeded: the run returns (no
/// hang: the stall's wait runs out after the 2 s limit, the others at once) with the error of its kind, naming the adapter,
/// the submission or read-back, the pass and paths, and `--backend cpu`. A new device on
/// the same adapter then runs the same paths and gets the CPU's spiral flags.
#[test]
fn every_fault_is_an_error_with_where_and_what_to_try() {
    let _g = lock();
    if !have_gpu("every_fault_is_an_error_with_where_and_what_to_try") {
        return;
    }
    let s = scenario();
    let params = Params::compile(&s);
    let reference = cpu::run(&params, s.scenario.seed, range(256), &Control::none()).unwrap();
    for (kind, at, place) in [
        (
            FaultKind::Lose,
            3,
            "submission 3 (pass 1 of 2: paths 0..128,",
        ),
        (
            FaultKind::Validation,
            17,
            "submission 17 (pass 2 of 2: paths 128..256,",
        ),
        (FaultKind::Stall, 2, "submission 2 (pass 1 of 2"),
        (
            FaultKind::Map,
            1,
            "read-back 1 (pass 1 of 2, report rows 1..3)",
        ),
    ] {
        let ctx = gpu::open_device(Selection::Any, 0, None).unwrap();
        let t = Instant::now();
        let out = gpu::run_on(
            std::slice::from_ref(&ctx),
            &params,
            s.scenario.seed,
            range(256),
            &Control::none(),
            Some(small_budgets()),
            &settings(kind, at),
        );
        let took = t.elapsed();
        let e = match out {
            Ok(_) => panic!("{kind:?}@{at}: the run succeeded despite the fault"),
            Err(e) => e,
        };
        let message = e.to_string();
        eprintln!("{kind:?}@{at} ({took:?}): {message}");
        let right_kind = match kind {
            FaultKind::Lose => matches!(e, GpuError::DeviceLost { .. }),
            FaultKind::Validation => matches!(e, GpuError::Validation { .. }),
            FaultKind::Stall => matches!(e, GpuError::Timeout { .. }),
            FaultKind::Map => matches!(e, GpuError::Map { .. } | GpuError::Validation { .. }),
        };
        assert!(right_kind, "{kind:?}: wrong error kind: {e:?}");
        assert!(e.is_device_failure());
        for want in [
            ctx.description().as_str(),
            place,
            "--backend cpu",
            "TOKENRISK_GPU_BATCH_PATHS",
        ] {
            assert!(
                message.contains(want),
                "{kind:?}: {want:?} missing from: {message}"
            );
        }
        assert!(took < Duration::from_secs(30), "{kind:?} took {took:?}");
        drop(ctx);
        let fresh = gpu::open_device(Selection::Any, 0, None).unwrap();
        let again = gpu::run_on(
            &[fresh],
            &params,
            s.scenario.seed,
            range(256),
            &Control::none(),
            Some(small_budgets()),
            &Settings::default(),
        )
        .unwrap_or_else(|e| panic!("after {kind:?}: a fresh device failed: {e}"));
        assert_eq!(again.records.len(), 256);
        for (c, g) in reference.records.iter().zip(&again.records) {
            assert_eq!(c.spiral, g.spiral, "path {}", c.path);
        }
    }
}

/// Runs `f` with `TOKENRISK_GPU_FAULT` set to `value` and waits limited to 1 s, restoring
/// both after.
fn with_fault_env<T>(value: &str, f: impl FnOnce() -> T) -> T {
    let vars = [
        (gpu::settings::FAULT_VAR, value),
        (gpu::settings::TIMEOUT_VAR, "1"),
    ];
    let old: Vec<_> = vars.iter().map(|(k, _)| std::env::var_os(k)).collect();
    for (k, v) in vars {
        std::env::set_var(k, v);
    }
    let out = f();
    for ((k, _), o) in vars.iter().zip(old) {
        match o {
            Some(v) => std::env::set_var(k, v),
            None => std::env::remove_var(k),
        }
    }
    out
}

/// `--backend auto` whose GPU fails (here lavapipe, which auto itself never picks, through
/// `engine::auto(Selection::Any, ..)`) runs every path on the CPU engine, warns once saying
/// so and why, and returns exactly the CPU engine's output. Bad settings are not a GPU
/// failure: they are an error, not a fallback.
#[test]
fn auto_falls_back_to_the_cpu_engine_with_a_warning() {
    let _g = lock();
    if !have_gpu("auto_falls_back_to_the_cpu_engine_with_a_warning") {
        return;
    }
    let s = scenario();
    let params = Params::compile(&s);
    let reference = cpu::run(&params, s.scenario.seed, range(500), &Control::none()).unwrap();
    let warnings = Mutex::new(Vec::<String>::new());
    let warn = |m: &str| warnings.lock().unwrap().push(m.to_string());
    let ctl = Control {
        warn: Some(&warn),
        ..Control::none()
    };
    let out = with_fault_env("lose@0", || {
        engine::auto(Selection::Any, &params, s.scenario.seed, range(500), &ctl)
    })
    .unwrap();
    assert_eq!(out.engine, "cpu");
    assert_eq!(
        out.records, reference.records,
        "the fallback is the CPU engine's run"
    );
    assert_eq!(out.acc.series.len(), reference.acc.series.len());
    for (a, b) in out.acc.series.iter().zip(&reference.acc.series) {
        assert_eq!(a.hist, b.hist);
    }
    let warnings = warnings.lock().unwrap().clone();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    for want in ["CPU engine", "all 500 paths", "device lost", "submission 0"] {
        assert!(
            warnings[0].contains(want),
            "{want:?} missing from {}",
            warnings[0]
        );
    }
    // Without the fault the same call runs on the GPU again (the lost device was dropped).
    let back = engine::auto(Selection::Any, &params, s.scenario.seed, range(64), &ctl).unwrap();
    assert_eq!(back.engine, "gpu");

    let e = with_fault_env("melt@1", || {
        engine::auto(Selection::Any, &params, s.scenario.seed, range(64), &ctl)
    })
    .err()
    .expect("bad settings must be an error");
    let e = format!("{e:#}");
    assert!(
        e.contains("TOKENRISK_GPU_FAULT=\"melt@1\"") && e.contains("allowed"),
        "{e}"
    );
}

/// A run begun on the GPU (`--target-se` rounds, checkpoint blocks: `engine::extend`) whose
/// GPU then fails is an error that leaves the run as it was: its paths are never finished
/// on the CPU engine.
#[test]
fn a_gpu_run_is_never_finished_on_the_cpu() {
    let _g = lock();
    if !have_gpu("a_gpu_run_is_never_finished_on_the_cpu") {
        return;
    }
    let s = scenario();
    let params = Params::compile(&s);
    let mut out = engine::run(
        Backend::Gpu,
        &params,
        s.scenario.seed,
        range(128),
        &Control::none(),
    )
    .unwrap();
    assert_eq!(out.engine, "gpu");
    let before = out.records.clone();
    let more = PathRange {
        start: 128,
        count: 128,
    };
    let r = with_fault_env("stall@0", || {
        engine::extend(
            &mut out,
            Backend::Auto,
            &params,
            s.scenario.seed,
            more,
            &Control::none(),
        )
    });
    // Backend::Auto never picks lavapipe: extending a lavapipe run under auto finds no GPU;
    // under gpu the stall is the error. Either way nothing is added.
    let e = format!("{:#}", r.expect_err("extend must fail"));
    assert!(e.contains("--backend cpu"), "{e}");
    assert_eq!(out.records, before);
    let r = with_fault_env("stall@0", || {
        engine::extend(
            &mut out,
            Backend::Gpu,
            &params,
            s.scenario.seed,
            more,
            &Control::none(),
        )
    });
    let e = format!("{:#}", r.expect_err("extend must fail"));
    assert!(
        e.contains("timed out") && e.contains("paths 128..256"),
        "{e}"
    );
    assert_eq!(out.records, before);
    assert_eq!(out.engine, "gpu");
}

/// `tokenrisk run --backend gpu` on a device that is lost mid-run exits non-zero with the
/// error on stderr and writes no run folder (outputs appear whole or not at all).
#[test]
fn the_cli_reports_a_lost_device_and_writes_nothing() {
    let _g = lock();
    if !have_gpu("the_cli_reports_a_lost_device_and_writes_nothing") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("faulty.toml");
    let t = common::set(
        &common::full_model_reference(),
        "scenario.name",
        "\"faulty\"",
    );
    let t = common::set(&t, "scenario.horizon_days", "56");
    std::fs::write(&file, common::set(&t, "scenario.report_every", "7")).unwrap();
    let out_dir = dir.path().join("out");
    let o = tokenrisk_command(&[
        "run",
        path_arg(&file),
        "--backend",
        "gpu",
        "--paths",
        "300",
        "--out",
        path_arg(&out_dir),
        "-q",
    ])
    .env(gpu::settings::FAULT_VAR, "lose@0")
    .output()
    .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    for want in ["device lost", "submission 0", "--backend cpu"] {
        assert!(t.contains(want), "{want:?} missing from {t}");
    }
    assert!(
        !out_dir.join("faulty").exists(),
        "a failed run left a folder"
    );
    let left: Vec<_> = std::fs::read_dir(&out_dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "a failed run left {left:?}");
}

//! The GPU engine fits any card and uses every card: on a device opened with artificially
//! low limits (small storage buffers, a small dispatch grid) it cuts the run to fit and gives
//! exactly the outputs of the default sizing; split across two devices opened on one adapter
//! (`--devices 0,0`) it gives the one-device counts and histograms exactly. Runs on lavapipe
//! in CI; without an adapter every test prints SKIPPED (fails under TOKENRISK_REQUIRE_GPU=1).

mod common;
use common::{have_gpu, parse};
use std::sync::{Arc, Mutex};
use tokenrisk::engine::gpu::{self, Budgets, GpuContext, GpuError, Plan, Selection, Settings};
use tokenrisk::engine::{cpu, Control, EngineOutput, PathRange};
use tokenrisk::model::Params;

static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn scenario(days: u32) -> tokenrisk::scenario::Scenario {
    let t = common::full_model_reference();
    let t = common::set(&t, "scenario.horizon_days", &days.to_string());
    parse(&common::set(&t, "scenario.report_every", "7"))
}

fn run(ctxs: &[Arc<GpuContext>], params: &Params, seed: u64, r: PathRange) -> EngineOutput {
    gpu::run_on(
        ctxs,
        params,
        seed,
        r,
        &Control::none(),
        None,
        &Settings::default(),
    )
    .unwrap_or_else(|e| panic!("GPU run failed: {e}"))
}

/// Counts, histograms, extremes and per-path records equal; means and variances (merged in
/// another order) within 1e-5 relative.
fn assert_same(what: &str, a: &EngineOutput, b: &EngineOutput) {
    assert_eq!(a.records, b.records, "{what}: records differ");
    // The per-path summaries are built from the records (equal above) in path order; their
    // histograms and counts are equal, their means merged in another order.
    let (p, q) = (&a.acc.per_path, &b.acc.per_path);
    for (name, x, y) in [
        ("log_return", &p.log_return, &q.log_return),
        ("max_drawdown", &p.max_drawdown, &q.max_drawdown),
        ("final_price", &p.final_price, &q.final_price),
        ("er_ratio", &p.er_ratio, &q.er_ratio),
        ("spiral_day", &p.spiral_day, &q.spiral_day),
        ("breakeven_day", &p.breakeven_day, &q.breakeven_day),
    ] {
        assert_eq!(x.hist, y.hist, "{what}: per-path {name}");
        assert_eq!(x.moments.n, y.moments.n, "{what}: per-path {name}");
    }
    assert_eq!(a.acc.series.len(), b.acc.series.len());
    for (i, (x, y)) in a.acc.series.iter().zip(&b.acc.series).enumerate() {
        assert_eq!(x.hist, y.hist, "{what}: histogram {i}");
        assert_eq!(x.moments.n, y.moments.n, "{what}: count {i}");
        assert_eq!(x.moments.nonfinite, y.moments.nonfinite);
        assert_eq!(
            (x.moments.min, x.moments.max),
            (y.moments.min, y.moments.max)
        );
        let close = |p: f64, q: f64| (p - q).abs() <= 1e-5 * p.abs().max(q.abs()) + 1e-12;
        assert!(close(x.moments.mean, y.moments.mean), "{what}: mean {i}");
        assert!(close(x.moments.m2, y.moments.m2), "{what}: M2 {i}");
    }
}

/// Limits far below any real card's: 2 MiB storage bindings (3 report rows of histograms,
/// 7,281 resident paths), 4 MiB buffers, a dispatch grid of at most 16 x 16 workgroups.
fn low_limits(adapter: &wgpu::Limits) -> wgpu::Limits {
    wgpu::Limits {
        max_storage_buffer_binding_size: 2 << 20,
        max_buffer_size: 4 << 20,
        max_compute_workgroups_per_dimension: 16,
        ..adapter.clone()
    }
}

/// 10,000 paths x 120 days on the low-limit device: the plan it makes fits those limits (two
/// passes, row blocks of 3 rows, a 2-D grid) and the outputs equal the default device's.
#[test]
fn low_limits_give_the_outputs_of_the_default_sizing() {
    let _g = lock();
    if !have_gpu("low_limits_give_the_outputs_of_the_default_sizing") {
        return;
    }
    let s = scenario(120);
    let params = Params::compile(&s);
    let r = PathRange {
        start: 5,
        count: 10_000,
    };
    let default = gpu::open_device(Selection::Any, 0, None).unwrap();
    let limits = low_limits(&default.limits);
    let small = gpu::open_device(Selection::Any, 0, Some(limits.clone())).unwrap();
    assert_eq!(small.limits.max_storage_buffer_binding_size, 2 << 20);
    let rows = params.report_days().len() as u32 - 1;
    let budgets = Budgets::for_adapter(true, &Settings::default());
    let plan = Plan::new(
        &small.limits,
        &budgets,
        r.count,
        params.steps,
        rows,
        params.report_every_steps,
    )
    .unwrap();
    eprintln!("low-limit plan: {plan:?}");
    assert!(
        plan.pass_paths < r.count,
        "{plan:?}: one pass; the limits did not bite"
    );
    assert!(plan.rows_per_block < rows, "{plan:?}: one row block");
    assert!(plan.dispatch_paths / 64 > 16, "{plan:?}: no 2-D grid");
    for bytes in [
        plan.state_bytes,
        plan.hist_bytes,
        plan.moments_bytes,
        plan.partial_bytes,
    ] {
        assert!(bytes <= 2 << 20, "{plan:?}");
    }
    let big = run(&[default], &params, s.scenario.seed, r);
    let cut = run(&[small], &params, s.scenario.seed, r);
    assert_same("low limits", &big, &cut);
}

/// A card too small for one report row of histograms is refused with an error naming the
/// limit, before anything runs.
#[test]
fn a_card_too_small_is_refused_with_the_limit_named() {
    let _g = lock();
    if !have_gpu("a_card_too_small_is_refused_with_the_limit_named") {
        return;
    }
    let s = scenario(56);
    let params = Params::compile(&s);
    let adapter = gpu::open_device(Selection::Any, 0, None)
        .unwrap()
        .limits
        .clone();
    let tiny = gpu::open_device(
        Selection::Any,
        0,
        Some(wgpu::Limits {
            max_storage_buffer_binding_size: 256 << 10,
            ..adapter
        }),
    )
    .unwrap();
    let e = gpu::run_on(
        &[tiny],
        &params,
        1,
        PathRange {
            start: 0,
            count: 64,
        },
        &Control::none(),
        None,
        &Settings::default(),
    )
    .err()
    .expect("a run that cannot fit must fail");
    assert!(matches!(e, GpuError::Limits { .. }), "{e:?}");
    let m = e.to_string();
    assert!(m.contains("663504") && m.contains("--backend cpu"), "{m}");
}

/// Two devices on one adapter (`--devices 0,0`), an odd path count and a range that does not
/// start at 0: the same outputs as one device, and the same records as the CPU engine's
/// within the GPU tolerances (spiral flags equal); progress reaches the total.
#[test]
fn two_devices_give_the_one_device_outputs() {
    let _g = lock();
    if !have_gpu("two_devices_give_the_one_device_outputs") {
        return;
    }
    let s = scenario(91);
    let params = Params::compile(&s);
    let r = PathRange {
        start: 1_000,
        count: 3_001,
    };
    let a = gpu::open_device(Selection::Any, 0, None).unwrap();
    let b = gpu::open_device(Selection::Any, 0, None).unwrap();
    let one = run(std::slice::from_ref(&a), &params, s.scenario.seed, r);
    let seen = Mutex::new(Vec::new());
    let progress = |d: u64, t: u64| seen.lock().unwrap().push((d, t));
    let two = gpu::run_on(
        &[a.clone(), b],
        &params,
        s.scenario.seed,
        r,
        &Control {
            progress: Some(&progress),
            ..Control::none()
        },
        None,
        &Settings::default(),
    )
    .unwrap();
    assert_same("two devices", &one, &two);
    assert!(two.device.starts_with("2 x "), "{}", two.device);
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.last(), Some(&(r.count, r.count)));
    assert!(seen.iter().all(|&(d, t)| d <= t && t == r.count));
    let c = cpu::run(&params, s.scenario.seed, r, &Control::none()).unwrap();
    for (x, y) in c.records.iter().zip(&two.records) {
        assert_eq!((x.path, x.spiral), (y.path, y.spiral));
    }
}

/// `--devices` through the CLI: `0,0` runs (two devices on lavapipe) and its P(spiral)
/// count equals the default's; a number past the adapters is an error naming them.
#[test]
fn the_devices_flag() {
    let _g = lock();
    if !have_gpu("the_devices_flag") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let summary = |devices: Option<&str>, name: &str| {
        let out = dir.path().join(name);
        let mut args = vec![
            "run",
            "bittensor_halving",
            "--backend",
            "gpu",
            "--paths",
            "2000",
            "--horizon",
            "182",
            "-q",
            "--out",
            common::path_arg(&out),
        ];
        if let Some(d) = devices {
            args.extend(["--devices", d]);
        }
        let o = common::tokenrisk(&args);
        assert!(o.status.success(), "{}", common::text(&o));
        common::read_parquet(&out.join("bittensor-halving/summary.parquet"))
    };
    let one = summary(None, "one");
    let two = summary(Some("0,0"), "two");
    for col in ["p_spiral", "p_spiral_lo", "p_spiral_hi"] {
        let (i, j) = (
            one.schema().index_of(col).unwrap(),
            two.schema().index_of(col).unwrap(),
        );
        assert_eq!(
            format!("{:?}", one.column(i)),
            format!("{:?}", two.column(j)),
            "{col}"
        );
    }
    let bad = dir.path().join("bad");
    let o = common::tokenrisk(&[
        "run",
        "bittensor_halving",
        "--backend",
        "gpu",
        "--devices",
        "7",
        "-q",
        "--out",
        common::path_arg(&bad),
    ]);
    let t = common::text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("no adapter 7") && t.contains("0:"), "{t}");
    assert!(!bad.join("bittensor-halving").exists());
    let o = common::tokenrisk(&["devices"]);
    assert!(o.status.success());
    assert!(common::text(&o).contains("0: "), "{}", common::text(&o));
}

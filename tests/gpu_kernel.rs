//! The kernels of `TOKENRISK_GPU_KERNEL` (pre-aggregated histogram atomics, fused multi-row
//! dispatches, both) give the default kernel's results exactly: the same per-path records
//! (bit for bit), the same histogram counts, the same moment counts, minima and maxima, and
//! means within 1e-5 relative (the fused kernel folds the workgroup partials in the same order,
//! so the only freedom is the GPU's f32 arithmetic). Checked on the full-model scenario of
//! tests/gpu.rs and on a short `bittensor_halving`, with the default budgets and with tiny ones
//! (many passes, row blocks and dispatches; dispatches that end between report rows, hold
//! several rows, or end on a partial workgroup).
//!
//! Needs a wgpu adapter of any kind, as tests/gpu.rs: without one every GPU test prints a
//! loud `SKIPPED` line and returns, or fails when `TOKENRISK_REQUIRE_GPU=1`.

mod common;
use common::parse;
use std::sync::Mutex;
use std::time::Instant;
use tokenrisk::engine::gpu::{self, Budgets, GpuError, Plan, Selection};
use tokenrisk::engine::{Control, EngineOutput, PathRange};
use tokenrisk::model::Params;

const MEAN_REL_TOL: f64 = 1e-5;

/// GPU tests run one at a time; one test changes the environment.
static GPU_LOCK: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    GPU_LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// True when a GPU adapter is usable; otherwise prints the SKIPPED line (tests/gpu.rs).
fn have_gpu(test: &str) -> bool {
    match gpu::context(Selection::Any) {
        Ok(Some(ctx)) => {
            eprintln!("{test}: GPU adapter {}", ctx.description());
            true
        }
        Ok(None) => unreachable!("Selection::Any"),
        Err(GpuError::NoAdapter(why)) => {
            common::skip(
                test,
                &format!("no GPU adapter, install mesa-vulkan-drivers: {why}"),
                "TOKENRISK_REQUIRE_GPU",
            );
            false
        }
        Err(e) => panic!("{test}: GPU adapter present but unusable: {e}"),
    }
}

/// The full-model scenario of tests/gpu.rs (`full_model()` there).
fn full_model() -> String {
    let text = common::full_model_reference();
    let text = common::set(&text, "scenario.horizon_days", "365");
    common::set(&text, "scenario.report_every", "7")
}

/// `bittensor_halving` over 120 days: weekly rows and a last row two days after the 17th.
fn bittensor_short() -> String {
    let p = tokenrisk::scenario::preset("bittensor_halving").unwrap();
    common::set(p.toml, "scenario.horizon_days", "120")
}

fn close(x: f64, y: f64, rel_tol: f64) -> bool {
    if x.is_nan() || y.is_nan() {
        return x.is_nan() && y.is_nan();
    }
    x == y || (x - y).abs() <= rel_tol * x.abs().max(y.abs())
}

/// A kernel's budgets: `base` with the kernel fields set.
fn with_kernel(base: Budgets, fused: bool, preagg: bool) -> Budgets {
    Budgets {
        rows_per_dispatch: if fused {
            gpu::FUSED_ROWS_PER_DISPATCH
        } else {
            1
        },
        hist_preaggregate: preagg,
        ..base
    }
}

/// The default budgets of a software adapter, whatever `TOKENRISK_GPU_KERNEL` says.
fn default_budgets() -> Budgets {
    Budgets {
        state_bytes: gpu::STATE_BUDGET,
        hist_bytes: gpu::HIST_BUDGET,
        partial_bytes: gpu::PARTIAL_BUDGET,
        dispatch_path_steps: gpu::DISPATCH_PATH_STEPS_SOFTWARE,
        rows_per_dispatch: 1,
        hist_preaggregate: false,
    }
}

const STATE: u64 = std::mem::size_of::<gpu::layout::GpuPathState>() as u64;

/// The cut of tests/gpu.rs `cut_does_not_change_results`: passes of 200 paths, row blocks of
/// 3 rows, dispatches of 128 paths and 5 steps (one row per fused dispatch, often none).
fn tiny_split() -> Budgets {
    Budgets {
        state_bytes: 200 * STATE,
        hist_bytes: 3 * 663_504,
        partial_bytes: 2 * 12 * 20,
        dispatch_path_steps: 128 * 5,
        ..default_budgets()
    }
}

/// Passes of 130 paths (dispatches of 3 workgroups, the last with 2 paths), row blocks of 4
/// rows, partials for 2 rows of 3 workgroups, 11 steps a dispatch: fused dispatches of 1 or 2
/// rows that mostly end between rows.
fn tiny_fused() -> Budgets {
    Budgets {
        state_bytes: 130 * STATE,
        hist_bytes: 4 * 663_504,
        partial_bytes: 2 * 3 * 12 * 20,
        dispatch_path_steps: 192 * 11,
        ..default_budgets()
    }
}

fn run(params: &Params, seed: u64, r: PathRange, budgets: Budgets) -> EngineOutput {
    gpu::run_with(
        Selection::Any,
        params,
        seed,
        r,
        &Control::none(),
        Some(budgets),
    )
    .unwrap_or_else(|e| panic!("GPU run failed: {e}"))
    .expect("Selection::Any")
}

/// `got` equals `want` as the module docs say.
fn check_same(name: &str, want: &EngineOutput, got: &EngineOutput) {
    assert_eq!(
        want.records.len(),
        got.records.len(),
        "{name}: record counts"
    );
    for (a, b) in want.records.iter().zip(&got.records) {
        // Debug prints every f64 in its shortest round-trip form: equal text, equal bits
        // (NaN included).
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{name}: record differs");
    }
    assert_eq!(want.acc.per_path, got.acc.per_path, "{name}: per-path");
    assert_eq!(want.acc.series.len(), got.acc.series.len());
    for (i, (a, b)) in want.acc.series.iter().zip(&got.acc.series).enumerate() {
        assert_eq!(a.hist, b.hist, "{name}: histogram {i}");
        assert_eq!(a.moments.n, b.moments.n, "{name}: n {i}");
        assert_eq!(
            a.moments.nonfinite, b.moments.nonfinite,
            "{name}: nonfinite {i}"
        );
        assert_eq!(
            (a.moments.min.to_bits(), a.moments.max.to_bits()),
            (b.moments.min.to_bits(), b.moments.max.to_bits()),
            "{name}: min/max {i}"
        );
        assert!(
            close(a.moments.mean, b.moments.mean, MEAN_REL_TOL),
            "{name}: mean {i}: {} vs {}",
            a.moments.mean,
            b.moments.mean
        );
    }
}

/// Every kernel, with the default budgets and two tiny cuts, against the default kernel with
/// the default budgets.
#[test]
fn kernels_match_the_default_kernel() {
    let _g = lock();
    if !have_gpu("kernels_match_the_default_kernel") {
        return;
    }
    let limits = gpu::context(Selection::Any)
        .unwrap()
        .unwrap()
        .limits
        .clone();
    for (scenario, text, paths) in [
        ("full model", full_model(), 300u64),
        ("bittensor_halving 120 days", bittensor_short(), 300),
    ] {
        let s = parse(&text);
        let params = Params::compile(&s);
        let r = PathRange {
            start: 1000,
            count: paths,
        };
        let rows = params.report_days().len() as u32 - 1;
        let base = run(&params, s.scenario.seed, r, default_budgets());
        for (cut, budgets) in [
            ("default budgets", default_budgets()),
            ("tiny split cut", tiny_split()),
            ("tiny fused cut", tiny_fused()),
        ] {
            for fused in [false, true] {
                for preagg in [false, true] {
                    let b = with_kernel(budgets, fused, preagg);
                    let plan = Plan::new(
                        &limits,
                        &b,
                        paths,
                        params.steps,
                        rows,
                        params.report_every_steps,
                    )
                    .unwrap();
                    // The cuts do what their names say.
                    if fused && cut == "tiny fused cut" {
                        assert_eq!(plan.rows_per_dispatch, 2, "{plan:?}");
                        assert_eq!(plan.dispatch_paths, 192, "{plan:?}");
                    }
                    if fused && cut == "default budgets" {
                        assert!(plan.rows_per_dispatch > 8, "{plan:?}");
                    }
                    if !fused {
                        assert_eq!(plan.rows_per_dispatch, 1);
                    }
                    let t = Instant::now();
                    let out = run(&params, s.scenario.seed, r, b);
                    let name = format!("{scenario}, {cut}, fused {fused}, preagg {preagg}");
                    eprintln!(
                        "{name}: {:.2} s (the first run of a kernel compiles it)",
                        t.elapsed().as_secs_f64()
                    );
                    check_same(&name, &base, &out);
                }
            }
        }
    }
}

/// `TOKENRISK_GPU_KERNEL`: the documented values, and an error that names the variable, the
/// value and what is allowed for anything else.
#[test]
fn kernel_switch() {
    let fused = gpu::FUSED_ROWS_PER_DISPATCH;
    for (value, want) in [
        (None, (1, false)),
        (Some(""), (1, false)),
        (Some("split"), (1, false)),
        (Some("preagg"), (1, true)),
        (Some("split,preagg"), (1, true)),
        (Some("fused"), (fused, false)),
        (Some("fused,preagg"), (fused, true)),
        (Some(" preagg , fused "), (fused, true)),
    ] {
        assert_eq!(Budgets::kernel_from(value).unwrap(), want, "{value:?}");
    }
    assert!(fused > 1);
    for bad in ["fast", "fused,presgg", "split,fused", "FUSED"] {
        match Budgets::kernel_from(Some(bad)) {
            Err(e @ GpuError::Config(_)) => {
                let text = e.to_string();
                assert!(text.starts_with("GPU settings: "), "{text}");
                assert!(text.contains("TOKENRISK_GPU_KERNEL"), "{text}");
                assert!(text.contains(bad), "{text}");
                if bad != "split,fused" {
                    assert!(text.contains("preagg") && text.contains("fused"), "{text}");
                }
            }
            other => panic!("{bad}: expected a Config error, got {other:?}"),
        }
    }
    // Budgets::for_adapter reads the variable.
    let _g = lock();
    let old = std::env::var_os(gpu::KERNEL_VAR);
    std::env::set_var(gpu::KERNEL_VAR, "fused,preagg");
    let on = Budgets::for_adapter(true);
    std::env::set_var(gpu::KERNEL_VAR, "nope");
    let bad = Budgets::for_adapter(false);
    std::env::remove_var(gpu::KERNEL_VAR);
    let off = Budgets::for_adapter(true);
    if let Some(v) = old {
        std::env::set_var(gpu::KERNEL_VAR, v);
    }
    let on = on.unwrap();
    assert_eq!((on.rows_per_dispatch, on.hist_preaggregate), (fused, true));
    assert!(matches!(bad, Err(GpuError::Config(_))));
    assert_eq!(off.unwrap(), default_budgets());
}

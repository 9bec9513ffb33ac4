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
use tokenrisk::engine::gpu::{self, Budgets, GpuError, Plan, Selection, Settings};
use tokenrisk::engine::{Control, EngineOutput, PathRange};
use tokenrisk::model::Params;

const MEAN_REL_TOL: f64 = 1e-5;

/// GPU tests run one at a time; one test changes the environment.
static GPU_LOCK: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    GPU_LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// True when a GPU adapter is usable; otherwise prints the SKIPPED line.
fn have_gpu(test: &str) -> bool {
    common::have_gpu(test)
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
        assert_eq!(Settings::kernel_from(value).unwrap(), want, "{value:?}");
    }
    assert!(fused > 1);
    for bad in ["fast", "fused,presgg", "split,fused", "FUSED"] {
        match Settings::kernel_from(Some(bad)) {
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
    // Settings::from_env reads the variable; Budgets::for_adapter takes its kernel.
    let _g = lock();
    let old = std::env::var_os(gpu::KERNEL_VAR);
    std::env::set_var(gpu::KERNEL_VAR, "fused,preagg");
    let on = Settings::from_env().map(|s| Budgets::for_adapter(true, &s));
    std::env::set_var(gpu::KERNEL_VAR, "nope");
    let bad = Settings::from_env().map(|s| Budgets::for_adapter(false, &s));
    std::env::remove_var(gpu::KERNEL_VAR);
    let off = Settings::from_env().map(|s| Budgets::for_adapter(true, &s));
    if let Some(v) = old {
        std::env::set_var(gpu::KERNEL_VAR, v);
    }
    let on = on.unwrap();
    assert_eq!((on.rows_per_dispatch, on.hist_preaggregate), (fused, true));
    assert!(matches!(bad, Err(GpuError::Config(_))));
    assert_eq!(off.unwrap(), default_budgets());
}

/// The histogram slot of `x` as `hist_slot` of simulate.wgsl routes it (in f64 here: a value
/// within f32 rounding of a bucket boundary may sit one slot apart on the GPU).
fn host_slot(x: f64) -> i64 {
    use tokenrisk::stats::histogram::{MAX_INDEX, MAX_TRACKED, MIN_TRACKED};
    if !x.is_finite() {
        return i64::MAX;
    }
    let m = x.abs();
    if m < MIN_TRACKED {
        return if m > 0.0 { i64::MAX - 1 } else { 0 };
    }
    let index = if m > MAX_TRACKED {
        MAX_INDEX as i64 + 1
    } else {
        tokenrisk::stats::bucket_index(m) as i64
    };
    // Disjoint from the zero slot (0) for either sign.
    if x < 0.0 {
        -(index + 10_000)
    } else {
        index + 10_000
    }
}

/// The figure of benches/RESULTS.md (2026-12-02): global histogram atomics per path and report
/// row (all 12 metrics) that each kernel issues on `bittensor_halving` (1,460 days, weekly
/// rows), computed on the host from the CPU engine's observed values in workgroups of 64
/// consecutive paths: the default kernel issues one atomic per workgroup and metric when all
/// 64 paths share a slot, else 64; preagg one per distinct slot. (The fused kernel issues
/// the same atomics as the split one.) Run with
/// `TOKENRISK_ATOMICS_PATHS=1048576 cargo test --release --test gpu_kernel -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement (about a minute per million paths on 2 cores), not a check"]
fn histogram_atomics_per_path_row() {
    use rayon::prelude::*;
    use tokenrisk::model::{step, LaneState, PathState, N_METRICS};
    let paths: u64 = std::env::var("TOKENRISK_ATOMICS_PATHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(65_536);
    let groups = paths.div_ceil(64);
    let p = tokenrisk::scenario::preset("bittensor_halving").unwrap();
    let s = parse(p.toml);
    let params = Params::compile(&s);
    let key = tokenrisk::rng::seed_key(s.scenario.seed);
    let initial = PathState::initial(&params);
    // Per group: (default atomics, preagg atomics, report rows) per metric.
    let per_group: Vec<([u64; N_METRICS], [u64; N_METRICS], u64)> = (0..groups)
        .into_par_iter()
        .map(|g| {
            let mut lanes: Vec<LaneState<8>> = (0..8).map(|_| LaneState::splat(&initial)).collect();
            let (mut plain, mut pre, mut rows) = ([0u64; N_METRICS], [0u64; N_METRICS], 0u64);
            for t in 0..params.steps {
                for (j, st) in lanes.iter_mut().enumerate() {
                    let ids: [u64; 8] = std::array::from_fn(|i| g * 64 + (j * 8 + i) as u64);
                    step(&params, st, key, &ids, t);
                }
                if !params.is_report_step(t + 1) {
                    continue;
                }
                rows += 1;
                let obs: Vec<[tokenrisk::lanes::F64s<8>; N_METRICS]> =
                    lanes.iter().map(|st| st.observe()).collect();
                for m in 0..N_METRICS {
                    let mut slots: Vec<i64> = obs
                        .iter()
                        .flat_map(|o| o[m].0.map(host_slot))
                        .take((paths - g * 64).min(64) as usize)
                        .collect();
                    slots.sort_unstable();
                    slots.dedup();
                    let n = (paths - g * 64).min(64);
                    plain[m] += if slots.len() == 1 { 1 } else { n };
                    pre[m] += slots.len() as u64;
                }
            }
            (plain, pre, rows)
        })
        .collect();
    let rows = per_group[0].2;
    let mut plain = [0u64; N_METRICS];
    let mut pre = [0u64; N_METRICS];
    for (a, b, r) in &per_group {
        assert_eq!(*r, rows);
        for m in 0..N_METRICS {
            plain[m] += a[m];
            pre[m] += b[m];
        }
    }
    let per = |x: u64| x as f64 / (paths * rows) as f64;
    for m in 0..N_METRICS {
        // A distinct slot costs one atomic in both kernels, so preagg never issues more.
        assert!(pre[m] <= plain[m], "metric {m}");
        assert!(pre[m] >= groups * rows, "metric {m}");
        eprintln!(
            "{:>22}: default {:.4}, preagg {:.4} atomics per path and row",
            tokenrisk::model::METRICS[m],
            per(plain[m]),
            per(pre[m])
        );
    }
    let (tp, tq): (u64, u64) = (plain.iter().sum(), pre.iter().sum());
    eprintln!(
        "bittensor_halving, {paths} paths x {rows} report rows, all {N_METRICS} metrics: default {:.3}, preagg {:.3} global atomics per path and row ({:.1}x fewer)",
        per(tp),
        per(tq),
        tp as f64 / tq as f64
    );
}

//! Criterion benchmarks of the engines, in path-steps per second
//! (`Throughput::Elements(paths * steps)`). `cargo bench` runs them; `cargo test
//! --all-targets` runs each once as a smoke test. The GPU group runs on whatever adapter
//! `--backend gpu` would use (lavapipe in CI) and is skipped, with a note, when there is none.
//! For the CLI equivalent see `tokenrisk bench`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;
use tokenrisk::engine::Control;
use tokenrisk::engine::{cpu, gpu, PathRange};
use tokenrisk::model::Params;
use tokenrisk::rng::{draw_words, seed_key};
use tokenrisk::stats::{LogHistogram, Moments};

fn preset_params(name: &str, horizon_days: u32) -> Params {
    let preset = tokenrisk::scenario::preset(name).expect("bundled preset");
    let mut s = tokenrisk::scenario::parse(preset.toml, preset.file).expect("valid preset");
    s.scenario.horizon_days = horizon_days;
    s.scenario.report_every = s.scenario.report_every.min(horizon_days);
    Params::compile(&s)
}

fn cpu_engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("cpu_engine");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for name in ["bittensor_halving", "death_spiral_stress"] {
        let params = preset_params(name, 365);
        let paths = 4096u64;
        group.throughput(Throughput::Elements(paths * params.steps as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &params, |b, p| {
            b.iter(|| {
                cpu::run(
                    p,
                    42,
                    PathRange {
                        start: 0,
                        count: paths,
                    },
                    &Control::none(),
                )
                .unwrap()
                .acc
                .paths
            })
        });
    }
    group.finish();
}

fn gpu_engine(c: &mut Criterion) {
    let params = preset_params("bittensor_halving", 365);
    let paths = 16_384u64;
    let range = PathRange {
        start: 0,
        count: paths,
    };
    // Probe once: no adapter means no group, said loudly.
    match gpu::run(
        gpu::Selection::Any,
        &params,
        42,
        PathRange {
            start: 0,
            count: 64,
        },
        &Control::none(),
    ) {
        Ok(Some(_)) => {}
        Ok(None) | Err(_) => {
            eprintln!("SKIPPED gpu_engine bench: no GPU adapter");
            return;
        }
    }
    let mut group = c.benchmark_group("gpu_engine");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(paths * params.steps as u64));
    group.bench_function("bittensor_halving", |b| {
        b.iter(|| {
            gpu::run(gpu::Selection::Any, &params, 42, range, &Control::none())
                .expect("gpu run")
                .expect("adapter")
                .acc
                .paths
        })
    });
    group.finish();
}

fn philox(c: &mut Criterion) {
    let mut group = c.benchmark_group("philox4x32_10");
    let n = 1u64 << 16;
    group.throughput(Throughput::Elements(n));
    group.bench_function("calls", |b| {
        let key = seed_key(42);
        b.iter(|| {
            let mut acc = 0u32;
            for path in 0..n {
                acc ^= draw_words(key, path, 7, 0)[0];
            }
            acc
        })
    });
    group.finish();
}

/// One report-day column (1,024 values of one metric) into a histogram and moments, as the
/// CPU engine adds it. Elements are values.
fn report_columns(c: &mut Criterion) {
    let values: Vec<f64> = (0..1024u64)
        .map(|i| {
            let u = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64;
            (8.0 * (u - 0.5)).exp() * 100.0
        })
        .collect();
    // The engine inlines both into its AVX-512/AVX2 kernels; measure them compiled the same
    // way when the processor has AVX-512 (a baseline build calls glibc's fma per mul_add).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
    unsafe fn histogram_avx512(h: &mut LogHistogram, v: &[f64]) {
        h.add_slice(v)
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
    unsafe fn moments_avx512(m: &mut Moments, v: &[f64]) {
        m.add_slice(v)
    }
    let avx512 = tokenrisk::engine::cpu::Isa::Avx512.is_supported();
    let mut group = c.benchmark_group("report_column");
    group.throughput(Throughput::Elements(values.len() as u64));
    group.bench_function("histogram_add_slice", |b| {
        let mut h = LogHistogram::new();
        b.iter(|| {
            #[cfg(target_arch = "x86_64")]
            if avx512 {
                // SAFETY: AVX-512 support checked above.
                return unsafe { histogram_avx512(&mut h, &values) };
            }
            h.add_slice(&values)
        })
    });
    group.bench_function("moments_add_slice", |b| {
        let mut m = Moments::new();
        b.iter(|| {
            #[cfg(target_arch = "x86_64")]
            if avx512 {
                // SAFETY: AVX-512 support checked above.
                return unsafe { moments_avx512(&mut m, &values) };
            }
            m.add_slice(&values)
        })
    });
    group.finish();
}

/// The machine's divider and square-root throughput for 8-lane f64 vectors (AVX-512), the
/// unit costs behind the divider floor in benches/RESULTS.md. Elements are 8-lane
/// instructions: 8 independent vectors per iteration, so throughput, not latency, binds.
fn divider(c: &mut Criterion) {
    #[cfg(target_arch = "x86_64")]
    {
        // Passes over the 8 vectors per call, so the per-call overhead does not count.
        const REPS: usize = 256;
        #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
        unsafe fn divisions(a: &mut [f64; 64]) {
            for _ in 0..REPS {
                for x in a.iter_mut() {
                    *x = 2.0 / *x;
                }
            }
        }
        #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
        unsafe fn square_roots(a: &mut [f64; 64]) {
            for _ in 0..REPS {
                for x in a.iter_mut() {
                    *x = x.sqrt() + 1.0;
                }
            }
        }
        #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
        unsafe fn fmas(a: &mut [f64; 64]) {
            for _ in 0..REPS {
                for x in a.iter_mut() {
                    *x = x.mul_add(0.999, 0.001);
                }
            }
        }
        if !tokenrisk::engine::cpu::Isa::Avx512.is_supported() {
            eprintln!("SKIPPED divider bench: no AVX-512");
            return;
        }
        let mut group = c.benchmark_group("avx512_unit");
        group.throughput(Throughput::Elements(8 * REPS as u64));
        type UnitKernel = unsafe fn(&mut [f64; 64]);
        let kernels: [(&str, UnitKernel); 3] = [
            ("vdivpd", divisions),
            ("vsqrtpd_plus_add", square_roots),
            ("vfmadd", fmas),
        ];
        for (name, kernel) in kernels {
            group.bench_function(name, |b| {
                let mut a = [1.5f64; 64];
                // SAFETY: AVX-512 support checked above.
                b.iter(|| unsafe { kernel(&mut a) })
            });
        }
        group.finish();
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = c;
}

criterion_group!(
    benches,
    cpu_engine,
    gpu_engine,
    philox,
    report_columns,
    divider
);
criterion_main!(benches);

//! Criterion benchmarks of the engines, in path-steps per second
//! (`Throughput::Elements(paths * steps)`). `cargo bench` runs them; `cargo test
//! --all-targets` runs each once as a smoke test. The GPU group runs on whatever adapter
//! `--backend gpu` would use (lavapipe in CI) and is skipped, with a note, when there is none.
//! For the CLI equivalent see `tokenrisk bench`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;
use tokenrisk::engine::{cpu, gpu, PathRange};
use tokenrisk::model::Params;
use tokenrisk::rng::{draw_words, seed_key};

fn preset_params(name: &str, horizon_days: u32) -> Params {
    let preset = tokenrisk::presets::find(name).expect("bundled preset");
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
                    &|_, _| {},
                )
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
        &|_, _| {},
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
            gpu::run(gpu::Selection::Any, &params, 42, range, &|_, _| {})
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

criterion_group!(benches, cpu_engine, gpu_engine, philox);
criterion_main!(benches);

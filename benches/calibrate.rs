//! Criterion benchmark of the regime-switching fit (issue 14's speed check: 5,000 daily
//! points in under a second). The series is simulated from two regimes with fixed seeds so
//! every run fits the same data; `cargo bench --bench calibrate` runs it, `cargo test
//! --all-targets` runs it once as a smoke test.

use criterion::{criterion_group, criterion_main, Criterion};
use rand::{Rng, SeedableRng};
use std::time::Duration;
use tokenrisk::calibrate::fit::{fit, FitOptions, ModelKind};
use tokenrisk::calibrate::series::Increments;

fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Daily increments from calm (0.5, 0.5) and stress (-1.0, 1.6), switching 1% / 4% a day.
fn regime_series(n: usize) -> Increments {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    let dt = 1.0 / 365.0;
    let mut stress = false;
    let mut inc = Increments::default();
    let d0 = chrono::NaiveDate::from_ymd_opt(2010, 1, 1).unwrap();
    for i in 0..n {
        let u: f64 = rng.random();
        if u < if stress { 0.04 } else { 0.01 } {
            stress = !stress;
        }
        let (mu, s) = if stress { (-1.0, 1.6) } else { (0.5, 0.5) };
        inc.dates.push(d0 + chrono::Days::new(i as u64 + 1));
        inc.days.push(1);
        inc.dt.push(dt);
        inc.x
            .push((mu - 0.5 * s * s) * dt + s * dt.sqrt() * normal(&mut rng));
    }
    inc
}

fn regime_fit(c: &mut Criterion) {
    let inc = regime_series(5000);
    let opts = FitOptions::default();
    let mut group = c.benchmark_group("calibrate");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("regime_fit_5000_days", |b| {
        b.iter(|| fit(ModelKind::Regime, &inc, &opts).unwrap())
    });
    group.finish();
}

criterion_group!(benches, regime_fit);
criterion_main!(benches);

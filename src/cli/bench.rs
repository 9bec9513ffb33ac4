//! `tokenrisk bench`: path-steps per second, simulation alone and with outputs.

use super::BenchArgs;
use crate::engine::Control;
use crate::scenario;
use crate::workflows::single::{self, RunPlan};
use anyhow::Result;
use std::time::Instant;

pub fn cmd_bench(args: BenchArgs) -> Result<i32> {
    let mut s = scenario::resolve(&args.scenario)?;
    if let Some(days) = args.days {
        let step = s.scenario.step_days;
        if days == 0 || days % step != 0 {
            anyhow::bail!("--days {days} must be a positive multiple of step_days = {step}");
        }
        s.scenario.horizon_days = days;
        s.scenario.report_every = s.scenario.report_every.min(days);
        if let Some((field, message)) = scenario::validate(&s).first() {
            anyhow::bail!("--days {days}: {field}: {message}");
        }
    }
    s.scenario.paths = args.paths;
    let steps = s.steps() as f64;
    let tmp = std::env::temp_dir().join(format!("tokenrisk-bench-{}", std::process::id()));
    let mut sim_rates = Vec::new();
    let mut full_rates = Vec::new();
    let mut device = String::new();
    let mut phases: Vec<(&'static str, f64)> = Vec::new();
    for _ in 0..args.reps.max(1) {
        let t0 = Instant::now();
        let plan = RunPlan {
            scenario: s.clone(),
            backend: args.backend,
        };
        let out = single::run_to(&plan, &tmp, &Control::none())?.0.output;
        let total = t0.elapsed().as_secs_f64();
        sim_rates.push(args.paths as f64 * steps / out.simulate_time.as_secs_f64());
        full_rates.push(args.paths as f64 * steps / total);
        device = format!("{} [{}]", out.engine, out.device);
        phases = out
            .phases
            .iter()
            .map(|(name, d)| (*name, d.as_secs_f64()))
            .collect();
        if out.engine == "cpu" {
            // Which compiled kernel ran (results are identical on all of them).
            let isa = crate::engine::cpu::Isa::selected().name();
            let threads = rayon::current_num_threads();
            device = format!("cpu [{}, {isa} kernel, {threads} threads]", out.device);
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    println!(
        "bench {}: {} paths x {} steps on {}, median of {}",
        s.scenario.name,
        args.paths,
        s.steps(),
        device,
        sim_rates.len()
    );
    println!(
        "  simulation alone:  {:.3e} path-steps/s",
        median(&mut sim_rates)
    );
    println!(
        "  with outputs:      {:.3e} path-steps/s",
        median(&mut full_rates)
    );
    if !phases.is_empty() {
        // Of the last repetition; host time spent waiting for each kind of work.
        let total: f64 = phases.iter().map(|(_, s)| s).sum();
        let parts: Vec<String> = phases
            .iter()
            .map(|(name, s)| format!("{name} {s:.3} s ({:.0}%)", 100.0 * s / total.max(1e-12)))
            .collect();
        println!("  gpu phases:        {}", parts.join(", "));
    }
    Ok(0)
}

/// `tokenrisk devices`: the adapters, numbered as `--devices` takes them.
pub fn cmd_devices() -> Result<i32> {
    use crate::engine::gpu::{self, Selection};
    let show = |backend: &str, adapters: Vec<String>, none: &str| {
        if adapters.is_empty() {
            println!("--backend {backend}: {none}");
        } else {
            println!("--backend {backend}, --devices numbers:");
            for a in &adapters {
                println!("  {a}");
            }
        }
    };
    show(
        "gpu",
        gpu::list_adapters(Selection::Any),
        "no GPU adapter (install a Vulkan driver; software: mesa-vulkan-drivers)",
    );
    show(
        "auto",
        gpu::list_adapters(Selection::Auto),
        "the CPU engine (no hardware GPU)",
    );
    Ok(0)
}

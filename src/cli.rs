//! Command-line interface: clap definitions and the commands (`run`, `validate`, `presets`,
//! `bench`). Library errors get their context here (`anyhow::Context`); nothing here panics
//! on user input.

use crate::engine::{self, Backend, EngineOutput, PathRange};
use crate::model::Params;
use crate::output::{self, RunInfo};
use crate::presets;
use crate::scenario::{self, Scenario};
use crate::summary::Summary;
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

#[derive(Parser, Debug)]
#[command(
    name = "tokenrisk",
    version,
    about = "Monte Carlo risk engine for the token economies of decentralized AI networks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate scenarios and write summary, timeseries and paths tables (Parquet) per scenario.
    Run(RunArgs),
    /// Check scenario files; prints `ok` or every problem, exits 1 on any problem.
    Validate {
        /// Scenario files (or bundled preset names).
        #[arg(required = true)]
        scenarios: Vec<String>,
    },
    /// List the bundled scenarios.
    Presets,
    /// Measure throughput in path-steps per second (simulation alone, and with outputs).
    Bench(BenchArgs),
}

/// Overrides every simulating command accepts.
#[derive(Args, Debug, Clone)]
struct SimArgs {
    /// Number of paths (overrides scenario.paths).
    #[arg(long)]
    paths: Option<u64>,
    /// Random seed (overrides scenario.seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Engine: auto picks a real GPU when present, else the CPU engine.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    backend: Backend,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Scenario files, or names of bundled presets (see `tokenrisk presets`).
    #[arg(required = true)]
    scenarios: Vec<String>,
    /// Output root; each scenario writes to OUT/<scenario.name>/.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    #[command(flatten)]
    sim: SimArgs,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Scenario file or preset name.
    #[arg(default_value = "bittensor_halving")]
    scenario: String,
    /// Paths per repetition.
    #[arg(long, default_value_t = 20_000)]
    paths: u64,
    /// Override the horizon in days.
    #[arg(long)]
    days: Option<u32>,
    /// Repetitions; the median is reported.
    #[arg(long, default_value_t = 3)]
    reps: u32,
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    backend: Backend,
}

/// Entry point used by `main.rs`; returns the process exit code.
pub fn main() -> Result<i32> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return Ok(code);
        }
    };
    match cli.command {
        Command::Run(args) => cmd_run(args),
        Command::Validate { scenarios } => cmd_validate(&scenarios),
        Command::Presets => cmd_presets(),
        Command::Bench(args) => cmd_bench(args),
    }
}

/// Loads a scenario from a file path, or from the bundled presets by name.
pub fn load_scenario(arg: &str) -> Result<Scenario> {
    let path = Path::new(arg);
    if path.exists() {
        return Ok(scenario::load(path)?);
    }
    if let Some(preset) = presets::find(arg) {
        return Ok(scenario::parse(
            preset.toml,
            &format!("preset {}", preset.file),
        )?);
    }
    anyhow::bail!(
        "{arg}: no such file, and no bundled preset of that name (presets: {})",
        presets::ALL
            .iter()
            .map(|p| p.stem())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn apply_overrides(s: &mut Scenario, sim: &SimArgs) -> Result<()> {
    if let Some(p) = sim.paths {
        if p == 0 || p > 4_000_000_000 {
            anyhow::bail!("--paths {p} is out of range; allowed: 1 to 4000000000");
        }
        s.scenario.paths = p;
    }
    if let Some(seed) = sim.seed {
        s.scenario.seed = seed;
    }
    Ok(())
}

fn progress_bar(enabled: bool, label: &str) -> Option<indicatif::ProgressBar> {
    if !enabled || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} paths ({per_sec}, eta {eta})",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    Some(bar)
}

/// Simulates one scenario with the chosen backend, with a progress bar when interactive.
pub fn simulate(s: &Scenario, backend: Backend, show_progress: bool) -> Result<EngineOutput> {
    let params = Params::compile(s);
    let bar = progress_bar(show_progress, &s.scenario.name);
    let progress = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let range = PathRange {
        start: 0,
        count: s.scenario.paths,
    };
    let out = engine::run(backend, &params, s.scenario.seed, range, &progress)
        .with_context(|| format!("simulating {}", s.scenario.name))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(out)
}

fn cmd_run(args: RunArgs) -> Result<i32> {
    for arg in &args.scenarios {
        let mut s = load_scenario(arg)?;
        apply_overrides(&mut s, &args.sim)?;
        let started_at = SystemTime::now();
        let t0 = Instant::now();
        let out = simulate(&s, args.sim.backend, !args.quiet)?;
        let summary = Summary::from_acc(&out.acc, &s.risk);
        let info = RunInfo {
            scenario: &s,
            seed: s.scenario.seed,
            engine: out.engine,
            device: &out.device,
            simulate_seconds: out.simulate_time.as_secs_f64(),
            started_at,
        };
        let written = output::write_run(&args.out, &info, &out.acc, &summary, &out.records)
            .with_context(|| format!("writing outputs of {}", s.scenario.name))?;
        print_summary(&s, &out, &summary, t0.elapsed().as_secs_f64());
        println!("  wrote {}", written.dir.display());
    }
    Ok(0)
}

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

fn print_summary(s: &Scenario, out: &EngineOutput, sum: &Summary, total_s: f64) {
    let steps = s.steps() as f64;
    let sim_s = out.simulate_time.as_secs_f64();
    let threads = if out.engine == "cpu" {
        format!(", {} threads", rayon::current_num_threads())
    } else {
        String::new()
    };
    println!(
        "{}: {} paths x {} days on {} [{}{threads}]: simulated in {:.2} s ({:.3e} path-steps/s), {:.2} s with outputs",
        s.scenario.name,
        sum.paths,
        s.scenario.horizon_days,
        out.engine,
        out.device,
        sim_s,
        sum.paths as f64 * steps / sim_s,
        total_s
    );
    println!(
        "  P(spiral by day {})       {}  (95% CI {} to {}, SE {})",
        s.scenario.horizon_days,
        pct(sum.p_spiral),
        pct(sum.p_spiral_lo),
        pct(sum.p_spiral_hi),
        pct(sum.p_spiral_se)
    );
    if sum.p_spiral > 0.0 {
        println!(
            "  time to spiral             median day {:.0} (p05 {:.0}, p95 {:.0})",
            sum.spiral_day.q(0.5),
            sum.spiral_day.q(0.05),
            sum.spiral_day.q(0.95)
        );
    }
    for t in &sum.tail {
        println!(
            "  VaR/CVaR {:>4} log-return  {:.3} / {:.3}  (price down {} / {});  max drawdown {:.3} / {:.3}",
            format!("{:.0}%", t.level * 100.0),
            t.var_return,
            t.cvar_return,
            pct(1.0 - (-t.var_return).exp()),
            pct(1.0 - (-t.cvar_return).exp()),
            t.var_drawdown,
            t.cvar_drawdown
        );
    }
    println!(
        "  emissions-to-revenue       median {:.3} (p95 {:.3}), P(ratio > 1) {}",
        sum.er_ratio.q(0.5),
        sum.er_ratio.q(0.95),
        pct(sum.p_er_above_1)
    );
    println!(
        "  final price                median {:.4} USD (mean {:.4} +- {:.4})",
        sum.final_price.q(0.5),
        sum.final_price.mean,
        sum.final_price.se
    );
    if sum.nonfinite_paths > 0 {
        println!(
            "  WARNING: {} paths produced non-finite values and were excluded from histograms",
            sum.nonfinite_paths
        );
    }
}

fn cmd_validate(files: &[String]) -> Result<i32> {
    let mut bad = 0;
    for f in files {
        match load_scenario(f) {
            Ok(_) => println!("{f}: ok"),
            Err(e) => {
                bad += 1;
                println!("{e:#}");
            }
        }
    }
    Ok(if bad == 0 { 0 } else { 1 })
}

fn cmd_presets() -> Result<i32> {
    for p in presets::ALL {
        let s = scenario::parse(p.toml, p.file)
            .with_context(|| format!("bundled preset {} is invalid", p.file))?;
        println!(
            "{:<24} {:<22} {}",
            p.stem(),
            s.scenario.name,
            s.scenario.description
        );
    }
    Ok(0)
}

fn cmd_bench(args: BenchArgs) -> Result<i32> {
    let mut s = load_scenario(&args.scenario)?;
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
    for _ in 0..args.reps.max(1) {
        let t0 = Instant::now();
        let out = simulate(&s, args.backend, false)?;
        let summary = Summary::from_acc(&out.acc, &s.risk);
        let info = RunInfo {
            scenario: &s,
            seed: s.scenario.seed,
            engine: out.engine,
            device: &out.device,
            simulate_seconds: out.simulate_time.as_secs_f64(),
            started_at: SystemTime::now(),
        };
        output::write_run(&tmp, &info, &out.acc, &summary, &out.records)?;
        let total = t0.elapsed().as_secs_f64();
        sim_rates.push(args.paths as f64 * steps / out.simulate_time.as_secs_f64());
        full_rates.push(args.paths as f64 * steps / total);
        device = format!("{} [{}]", out.engine, out.device);
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
    Ok(0)
}

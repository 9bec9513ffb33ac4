//! The command line: clap definitions (here), raw flags turned into the library's plans
//! (`SimArgs::overrides`, each command's module), a progress bar (`progress`), printing
//! (`print`) and one module per command. A thin layer: every simulation, aggregation and
//! file the commands produce comes from the library (`workflows`, `scale`, `report`); this
//! is the only layer that prints. Library errors get their context here; nothing here
//! panics on user input.

mod backtest;
mod bench;
mod calibrate;
mod compare;
mod init;
pub mod interrupt;
mod keys;
mod merge;
mod nightly;
mod presets;
mod print;
mod progress;
mod report;
mod review;
mod run;
mod sensitivity;
mod stress;
mod validate;

use crate::engine::Backend;
use crate::scenario::overlay::{ShockOverlay, StressOverlay};
use crate::workflows::single::Overrides;
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "tokenrisk",
    version,
    about = "Monte Carlo risk engine for the token economies of decentralized AI networks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// When an output folder is being written by another tokenrisk process, wait for it to
    /// finish instead of failing at once.
    #[arg(long, global = true)]
    wait: bool,
    /// GPUs a simulating command uses: best (default), all (every GPU of the best one's
    /// kind), or adapter numbers such as 0,2 (`tokenrisk devices` lists them). Path ids are
    /// split across them and merged in order, as shards are.
    #[arg(long, global = true, value_name = "best|all|0,2", value_parser = crate::engine::gpu::Devices::parse)]
    devices: Option<crate::engine::gpu::Devices>,
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
    /// List the bundled scenarios, grouped (compare/halving, compare/bme: the compare pair).
    Presets,
    /// Write a new scenario file NAME.toml with every key, each commented with its meaning,
    /// unit and allowed values; from a bundled scenario with --like.
    Init(init::InitArgs),
    /// List every scenario key (or those starting with PREFIX): unit, default, allowed values.
    Keys {
        /// Only keys starting with this, e.g. `market` or `burn.`.
        prefix: Option<String>,
    },
    /// Explain one scenario key: meaning, unit, default, allowed values, kinds, an example.
    Explain {
        /// A dotted key as validation messages spell it, e.g. burn.fraction,
        /// market.jumps.rate, vesting[].amount; or a table, e.g. market.regimes.
        key: String,
    },
    /// Design review: the article's red flags applied to a scenario, each ok / red flag /
    /// not applicable with its figure and threshold; writes the run and OUT/<name>/review.parquet.
    Review(review::ReviewArgs),
    /// Measure throughput in path-steps per second (simulation alone, and with outputs).
    Bench(BenchArgs),
    /// List the GPU adapters, numbered as --devices takes them, and which --backend auto
    /// and --backend gpu would use.
    Devices,
    /// Compare designs with common random numbers: each design's tables, plus
    /// OUT/comparison.parquet with paired differences of every pair.
    Compare(compare::CompareArgs),
    /// One-at-a-time sensitivity (tornado) of P(spiral) and 95% CVaR to every numeric
    /// parameter; writes OUT/<name>/tornado.parquet. Default paths: min(scenario.paths, 20000).
    #[command(after_help = sensitivity::AFTER_HELP)]
    Sensitivity(sensitivity::SensitivityArgs),
    /// Write a self-contained HTML report (DIR/report.html) of a run folder, or of each run
    /// folder inside DIR.
    Report {
        /// A run folder written by `tokenrisk run`, or a folder of them.
        dir: PathBuf,
        /// Write the report here instead of DIR/report.html (a single run folder only).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// The stress library: `tokenrisk stress list` prints the bundled stress shapes.
    Stress {
        #[command(subcommand)]
        action: StressAction,
    },
    /// Run every scenario of a folder into a dated report folder and check its [alerts].
    #[command(after_help = nightly::EXIT_CODES_HELP)]
    Nightly(nightly::NightlyArgs),
    /// Fit the market's price model (GBM, jump-diffusion, two regimes) to a price history
    /// by maximum likelihood: writes OUT/fitted.toml (a scenario fragment with SEs),
    /// calibration.parquet, series.parquet, decisions.parquet and calibration.html, and with
    /// --into a complete calibrated scenario.
    Calibrate(calibrate::CalibrateArgs),
    /// Merge the shards of a run (`run --shard I/N`) into the outputs a single run writes:
    /// OUT/<name>/ with summary, timeseries, paths and manifest.
    Merge(merge::MergeArgs),
    /// Score the scenario's price forecasts, made again at past origins, against a real
    /// price history: backtest.parquet (one row per origin) and backtest.html.
    Backtest(backtest::BacktestArgs),
}

#[derive(Subcommand, Debug)]
enum StressAction {
    /// List the bundled stress shapes (use them with `--stress NAME@DAY`).
    List,
}

/// Overrides every simulating command accepts.
#[derive(Args, Debug, Clone)]
pub struct SimArgs {
    /// Number of paths (overrides scenario.paths).
    #[arg(long)]
    pub paths: Option<u64>,
    /// Random seed (overrides scenario.seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override scenario.horizon_days (recorded in the scenario text as run; report_every
    /// is lowered to it where longer), e.g. to compare a 1,095-day design with a 1,460-day one.
    #[arg(long, value_name = "DAYS")]
    pub horizon: Option<u32>,
    /// Engine: auto picks a real GPU when present, else the CPU engine.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Add a shock: KEY=FRACTION[,KEY=FRACTION...]@DAY, KEY one of price, demand, gpu_cost,
    /// capacity (e.g. price=-0.8@180); repeatable, appended to the scenario's [[shock]]s.
    #[arg(long = "shock", value_name = "KEY=FRACTION@DAY", value_parser = crate::scenario::overlay::parse_shock)]
    pub shock: Vec<ShockOverlay>,
    /// Add a stress shape from the library (`tokenrisk stress list`) or a shape file, starting
    /// on DAY (e.g. crash@180); repeatable.
    #[arg(long = "stress", value_name = "NAME@DAY", value_parser = crate::scenario::overlay::parse_stress)]
    pub stress: Vec<StressOverlay>,
}

impl SimArgs {
    /// What the flags change about a scenario.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            paths: self.paths,
            seed: self.seed,
            horizon_days: self.horizon,
            shocks: self.shock.clone(),
            stresses: self.stress.clone(),
        }
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Scenario files, or names of bundled presets (see `tokenrisk presets`).
    #[arg(required = true)]
    pub scenarios: Vec<String>,
    /// Output root; each scenario writes to OUT/<scenario.name>/.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    #[command(flatten)]
    sim: SimArgs,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Keep adding paths (same seed, path ids continuing) until the standard error of
    /// P(spiral) is below X, or --max-paths is reached.
    #[arg(long, value_name = "X")]
    target_se: Option<f64>,
    /// Budget of paths for --target-se (default: 10 times the scenario's paths).
    #[arg(long, value_name = "N", requires = "target_se")]
    max_paths: Option<u64>,
    /// Simulate only shard I of N (0-based; the first paths % N shards get one extra path)
    /// into OUT/<name>/shard-I-of-N/, for `tokenrisk merge`. `auto`: the index from
    /// SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX (see scripts/SCALE_OUT.md).
    #[arg(long, value_name = "I/N|auto")]
    shard: Option<String>,
    /// Shard count N with the index from the scheduler (SLURM_ARRAY_TASK_ID, else
    /// JOB_COMPLETION_INDEX); with --shard I/N it must equal N.
    #[arg(long, value_name = "N")]
    shards: Option<u64>,
    /// Checkpoint every K paths (rounded up to whole 1,024-path chunks) under
    /// OUT/<name>/.checkpoint/; a rerun with the same arguments resumes from it.
    #[arg(long, value_name = "K")]
    checkpoint_every: Option<u64>,
    /// Resumable run: checkpoint (every paths/20 unless --checkpoint-every) and continue
    /// from an earlier attempt's checkpoint of the same run, if any.
    #[arg(long)]
    resume: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
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
    let simulates = matches!(
        cli.command,
        Command::Run(_)
            | Command::Review(_)
            | Command::Bench(_)
            | Command::Compare(_)
            | Command::Sensitivity(_)
            | Command::Nightly(_)
            | Command::Backtest(_)
    );
    if let Some(why) = simulates
        .then(crate::engine::cpu::Isa::selection_warning)
        .flatten()
    {
        eprintln!("warning: {why}");
    }
    crate::output::folder::set_wait(cli.wait);
    if let Some(d) = cli.devices.clone() {
        crate::engine::gpu::set_devices(d);
    }
    if simulates && !matches!(cli.command, Command::Bench(_)) {
        interrupt::install().context("cannot install the Ctrl-C handler")?;
    }
    match cli.command {
        Command::Run(args) => run::cmd_run(args),
        Command::Validate { scenarios } => validate::cmd_validate(&scenarios),
        Command::Presets => presets::cmd_presets(),
        Command::Init(args) => init::cmd_init(args),
        Command::Keys { prefix } => keys::cmd_keys(prefix.as_deref()),
        Command::Explain { key } => keys::cmd_explain(&key),
        Command::Review(args) => review::cmd_review(args),
        Command::Bench(args) => bench::cmd_bench(args),
        Command::Devices => bench::cmd_devices(),
        Command::Compare(args) => compare::cmd_compare(args),
        Command::Sensitivity(args) => sensitivity::cmd_sensitivity(args),
        Command::Report { dir, out } => report::cmd_report(&dir, out.as_deref()),
        Command::Stress {
            action: StressAction::List,
        } => stress::cmd_list(),
        Command::Nightly(args) => nightly::cmd_nightly(args),
        Command::Merge(args) => merge::cmd_merge(args),
        Command::Backtest(args) => backtest::cmd_backtest(args),
        Command::Calibrate(args) => calibrate::cmd_calibrate(args),
    }
}

/// An error as one line: its context chain joined by ": ", without a cause whose text the
/// line already holds (a Parquet error repeats the I/O error it wraps, so "(os error 28)"
/// would be printed twice).
pub fn error_text(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Whether `err` is a run stopped by Ctrl-C / SIGTERM (`engine::Cancelled` in its chain).
pub fn is_interrupted(err: &anyhow::Error) -> bool {
    err.chain().any(|c| c.is::<crate::engine::Cancelled>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_12_error_text_says_a_repeated_cause_once() {
        let io = std::io::Error::from_raw_os_error(28);
        let wrapped = parquet::errors::ParquetError::External(Box::new(io));
        let err = anyhow::Error::new(wrapped).context("cannot write out/x/paths.parquet");
        let text = error_text(&err);
        assert_eq!(text.matches("os error 28").count(), 1, "{text}");
        assert!(
            text.starts_with("cannot write out/x/paths.parquet: "),
            "{text}"
        );
        // Unrelated causes are all kept.
        let err = anyhow::anyhow!("disk full")
            .context("writing x")
            .context("run y");
        assert_eq!(error_text(&err), "run y: writing x: disk full");
    }
}

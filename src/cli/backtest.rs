//! `tokenrisk backtest SCENARIO PRICES.csv --start DATE ...`: the scenario's price forecast
//! made again at past origins and scored against what happened (`workflows::backtest`),
//! written as the folder `--out` (`backtest.parquet`, `observed.parquet`, `backtest.html`),
//! with the coverage summary printed.

use super::progress::with_bar;
use crate::calibrate::read::{self, ReadOptions};
use crate::engine::Backend;
use crate::output::manifest::sha256_hex;
use crate::output::untrusted::read_capped;
use crate::report::format::fmt_sig;
use crate::workflows::backtest::{self, BacktestOptions, BacktestPlan, DEFAULT_HORIZON_DAYS};
use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// Largest price file read (a daily history of a century is under 4 MB).
const MAX_PRICE_FILE_BYTES: u64 = 64 << 20;

#[derive(Args, Debug)]
pub struct BacktestArgs {
    /// Scenario file or bundled preset name.
    scenario: String,
    /// Price history (CSV) the forecasts are scored against.
    prices: PathBuf,
    /// First origin (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    start: NaiveDate,
    /// Days between origins (default: the horizon, so forecast windows do not overlap).
    #[arg(long, value_name = "DAYS")]
    every: Option<u32>,
    /// Forecast horizon in days (the scenario's horizon_days is set to it).
    #[arg(long, value_name = "DAYS", default_value_t = DEFAULT_HORIZON_DAYS)]
    horizon: u32,
    /// Refit the market at each origin on the prices up to it only (no look-ahead).
    #[arg(long)]
    recalibrate: bool,
    /// Model refitted with --recalibrate: auto (lowest BIC), gbm, jump or regime.
    #[arg(long, value_name = "MODEL")]
    model: Option<String>,
    /// Paths per origin (default: the smaller of scenario.paths and 20,000).
    #[arg(long)]
    paths: Option<u64>,
    /// Random seed, the same at every origin (default: scenario.seed).
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    backend: Backend,
    /// Output folder (default: backtest/<scenario name>).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a date; expected YYYY-MM-DD, e.g. 2024-01-31"))
}

pub fn cmd_backtest(args: BacktestArgs) -> Result<i32> {
    let scenario = crate::scenario::resolve(&args.scenario)
        .with_context(|| format!("cannot load scenario {}", args.scenario))?;
    let shown = args.prices.display().to_string();
    let bytes = read_capped(&args.prices, MAX_PRICE_FILE_BYTES)
        .with_context(|| format!("cannot read {shown}"))?;
    let text = std::str::from_utf8(&bytes)
        .with_context(|| format!("{shown}: not UTF-8 text; expected a CSV file"))?;
    let series = read::parse(
        text,
        &shown,
        &ReadOptions {
            ..Default::default()
        },
    )?;
    let opts = BacktestOptions {
        every: args.every,
        horizon: args.horizon,
        recalibrate: args.recalibrate,
        model: args.model.clone(),
        paths: args.paths,
        seed: args.seed,
        backend: args.backend,
        ..BacktestOptions::new(args.start)
    };
    let plan = BacktestPlan::new(scenario, series, &sha256_hex(&bytes), &opts)?;
    let dest = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("backtest").join(&plan.scenario.scenario.name));
    println!(
        "backtest {}: {} origins from {} every {} days, horizon {} days, {} paths, seed {} \
         (the same at every origin: common random numbers){}",
        plan.scenario.scenario.name,
        plan.origins.len(),
        plan.origins[0],
        plan.every,
        plan.horizon,
        plan.paths(),
        plan.seed(),
        match plan.refit {
            Some(r) => format!(", market refitted at each origin ({})", r.name()),
            None => String::new(),
        }
    );
    let t0 = Instant::now();
    let total = plan.origins.len();
    let (bt, dir) = with_bar(!args.quiet, "backtest", |ctl, bar| {
        backtest::run_to(&plan, &dest, ctl, &mut |i, row| {
            if args.quiet {
                return;
            }
            bar.print(|| {
                println!(
                    "  {}/{total} {} -> {}: realised {} vs median {} (90%: {} to {}), PIT {:.3}",
                    i + 1,
                    row.origin,
                    row.target,
                    sig(row.realized_price),
                    sig(row.quantiles[2]),
                    sig(row.quantiles[0]),
                    sig(row.quantiles[4]),
                    row.pit
                )
            });
        })
    })?;
    let s = &bt.summary;
    for c in [&s.coverage50, &s.coverage90] {
        println!(
            "coverage {:.0}%: {} of {} ({:.1}%), 95% CI {:.1}% to {:.1}% on {} effective \
             windows: {}",
            100.0 * c.nominal,
            c.hits,
            c.n,
            100.0 * c.rate,
            100.0 * c.lo,
            100.0 * c.hi,
            fmt_sig(c.n_eff, 3),
            if c.consistent() {
                "consistent with nominal"
            } else if c.rate < c.nominal {
                "BELOW nominal"
            } else {
                "ABOVE nominal"
            }
        );
    }
    println!(
        "PIT uniformity: KS D {:.3} on {} origins{}, p {:.3}",
        s.ks.d,
        s.ks.n,
        if s.ks_stride > 1 {
            format!(
                " (one in {}, {} days apart: non-overlapping windows)",
                s.ks_stride,
                s.ks_stride as u32 * s.every
            )
        } else {
            String::new()
        },
        s.ks.p_value
    );
    println!(
        "CRPS (log price) {:.4} ± {:.4}, log score {:.3} ± {:.3} (mean ± 1.96 SE)",
        s.crps.0,
        crate::stats::Z95 * s.crps.1,
        s.log_score.0,
        crate::stats::Z95 * s.log_score.1
    );
    println!(
        "simulated in {:.1} s ({:.1} s in all)",
        bt.simulate_seconds,
        t0.elapsed().as_secs_f64()
    );
    println!("  wrote {}", dir.display());
    Ok(0)
}

fn sig(v: f64) -> String {
    crate::report::format::fmt_sig(v, 4)
}

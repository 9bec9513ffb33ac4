//! `tokenrisk backtest`: the scenario's forecast of the price, made again at a series of past
//! dates (origins) from what was known then, and scored against what happened.
//!
//! At each origin (`start`, `start + every`, ... while `origin + horizon` is on or before the
//! file's last date) the scenario starts from the observed price on the origin
//! (`Series::value_on_or_before`), runs `horizon` days, and its simulated final prices are
//! scored against the observed price on the target date (`stats::score`: PIT, central 50%
//! and 90% interval hits, CRPS and log score of the log price). With `recalibrate`, the
//! market is first refitted on the increments ending on or before the origin only
//! (`Increments::until`: nothing after the origin is read), by `calibrate::fit::select`
//! (auto) or `fit` (a named model), and `Model::apply`-ed to the scenario.
//!
//! Every origin runs with the same seed and path ids: common random numbers across origins.
//! That does not bias any origin's scores (each is a valid sample of its forecast), but the
//! Monte Carlo noise of neighbouring origins is correlated; at the default 20,000 paths it
//! is far below the spread between origins.
//!
//! Shaped as the other workflows: a plan checked whole before anything runs
//! ([`BacktestPlan::new`], every bad flag reported at once), a run in memory ([`run`]), and
//! a separate write of the folder (`backtest.parquet`, `observed.parquet`, `backtest.html`)
//! built aside and moved into place whole ([`Backtest::write`]).

use super::single::{self, Overrides, RunPlan};
use crate::calibrate::fit::{self, FitOptions, ModelKind, MIN_INCREMENTS};
use crate::calibrate::series::{Increments, Series};
use crate::engine::{Backend, Control};
use crate::output::backtest::{
    backtest_batch, backtest_metadata, observed_batch, BacktestInfo, BacktestRow, BACKTEST_FILE,
    BACKTEST_PAGE, OBSERVED_FILE,
};
use crate::output::folder::Staged;
use crate::output::parquet as pq;
use crate::scenario::Scenario;
use crate::stats::{exact_quantile_lower, score};
use anyhow::{bail, Context, Result};
use chrono::{Days, NaiveDate};
use std::path::{Path, PathBuf};

/// Default forecast horizon, days.
pub const DEFAULT_HORIZON_DAYS: u32 = 90;
/// Default paths per origin.
pub const DEFAULT_PATHS: u64 = 20_000;
/// Most origins one backtest runs.
pub const MAX_ORIGINS: usize = 2_000;

/// Which model `--recalibrate` refits at each origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refit {
    /// `calibrate::fit::select` over the market models (lowest BIC).
    Auto,
    Model(ModelKind),
}

impl Refit {
    pub fn name(self) -> &'static str {
        match self {
            Refit::Auto => "auto",
            Refit::Model(k) => k.name(),
        }
    }
}

/// The flags of a backtest, as given (checked by [`BacktestPlan::new`]).
#[derive(Clone, Debug)]
pub struct BacktestOptions {
    pub start: NaiveDate,
    /// Days between origins (default: the horizon, so windows do not overlap).
    pub every: Option<u32>,
    pub horizon: u32,
    pub recalibrate: bool,
    /// `--model`: auto, gbm, jump or regime (only with `recalibrate`).
    pub model: Option<String>,
    pub paths: Option<u64>,
    pub seed: Option<u64>,
    pub backend: Backend,
}

impl BacktestOptions {
    pub fn new(start: NaiveDate) -> BacktestOptions {
        BacktestOptions {
            start,
            every: None,
            horizon: DEFAULT_HORIZON_DAYS,
            recalibrate: false,
            model: None,
            paths: None,
            seed: None,
            backend: Backend::Auto,
        }
    }
}

/// A checked backtest: the scenario (horizon, paths and seed set), the price history, the
/// origins, and how each is run.
#[derive(Clone, Debug)]
pub struct BacktestPlan {
    pub scenario: Scenario,
    pub series: Series,
    /// SHA-256 of the price file's bytes, for provenance.
    pub prices_sha256: String,
    pub horizon: u32,
    pub every: u32,
    pub refit: Option<Refit>,
    pub backend: Backend,
    pub origins: Vec<NaiveDate>,
}

fn add_days(d: NaiveDate, n: u32) -> NaiveDate {
    d.checked_add_days(Days::new(n as u64))
        .unwrap_or(NaiveDate::MAX)
}

impl BacktestPlan {
    /// Checks every flag against the scenario and the history, and reports every problem at
    /// once. `scenario.paths` becomes `opts.paths`, else the smaller of its own and
    /// [`DEFAULT_PATHS`].
    pub fn new(
        scenario: Scenario,
        series: Series,
        prices_sha256: &str,
        opts: &BacktestOptions,
    ) -> Result<BacktestPlan> {
        let mut problems: Vec<String> = Vec::new();
        let every = opts.every.unwrap_or(opts.horizon);
        if opts.horizon == 0 {
            problems.push("--horizon 0: allowed is at least 1 day".into());
        }
        if every == 0 {
            problems.push("--every 0: allowed is at least 1 day".into());
        }
        let refit = match (opts.recalibrate, opts.model.as_deref()) {
            (false, Some(m)) => {
                problems.push(format!(
                    "--model {m} is given without --recalibrate; it names the model refitted \
                     at each origin, so it needs --recalibrate"
                ));
                None
            }
            (false, None) => None,
            (true, None | Some("auto")) => Some(Refit::Auto),
            (true, Some(m)) => match ModelKind::from_name(m) {
                Some(k) => Some(Refit::Model(k)),
                None => {
                    problems.push(format!(
                        "--model {m} is not a market model; allowed: auto, {}",
                        ModelKind::NAMED.map(|k| k.name()).join(", ")
                    ));
                    None
                }
            },
        };
        let paths = opts
            .paths
            .unwrap_or_else(|| scenario.scenario.paths.min(DEFAULT_PATHS));
        let overrides = Overrides {
            paths: Some(paths),
            seed: opts.seed,
            horizon_days: (opts.horizon > 0).then_some(opts.horizon),
            ..Overrides::default()
        };
        let planned = match RunPlan::new(scenario.clone(), &overrides, opts.backend) {
            Ok(p) => Some(p.scenario),
            Err(e) => {
                problems.push(format!("{e:#}"));
                None
            }
        };
        let (first, last) = match (series.first_date(), series.last_date()) {
            (Some(f), Some(l)) => (f, l),
            _ => {
                problems.push(format!(
                    "{}: no price rows to backtest against",
                    series.source
                ));
                bail!("{}", problems.join("\n"));
            }
        };
        let mut origins = Vec::new();
        if opts.start < first {
            problems.push(format!(
                "--start {}: before the first price in {} ({first}); allowed: {first} to {}",
                opts.start,
                series.source,
                last - chrono::Duration::days(opts.horizon as i64)
            ));
        } else if add_days(opts.start, opts.horizon) > last {
            problems.push(format!(
                "--start {}: with --horizon {} the first target ({}) is after the last price \
                 in {} ({last}); allowed: a start on or before {}",
                opts.start,
                opts.horizon,
                add_days(opts.start, opts.horizon),
                series.source,
                last - chrono::Duration::days(opts.horizon as i64)
            ));
        } else if every > 0 {
            let mut o = opts.start;
            while add_days(o, opts.horizon) <= last && origins.len() <= MAX_ORIGINS {
                origins.push(o);
                o = add_days(o, every);
            }
            if origins.len() > MAX_ORIGINS {
                problems.push(format!(
                    "--every {every}: more than {MAX_ORIGINS} origins from {} to {last}; \
                     allowed: at most {MAX_ORIGINS} (raise --every or move --start)",
                    opts.start
                ));
            }
        }
        if let (Some(_), Some(&o)) = (refit, origins.first()) {
            let n = series.increments().until(o).len();
            if n < MIN_INCREMENTS {
                problems.push(format!(
                    "--recalibrate: the first origin {o} has {n} price increments on or before \
                     it; a fit needs at least {MIN_INCREMENTS}: move --start later"
                ));
            }
        }
        if !problems.is_empty() {
            bail!("{}", problems.join("\n"));
        }
        Ok(BacktestPlan {
            scenario: planned.expect("no problems"),
            series,
            prices_sha256: prices_sha256.to_string(),
            horizon: opts.horizon,
            every,
            refit,
            backend: opts.backend,
            origins,
        })
    }

    pub fn paths(&self) -> u64 {
        self.scenario.scenario.paths
    }

    pub fn seed(&self) -> u64 {
        self.scenario.scenario.seed
    }

    /// The scenario of one origin: its observed price and, with a refit, the market fitted
    /// on `inc` up to the origin; with the fitted row fields filled in.
    pub fn origin_scenario(
        &self,
        origin: NaiveDate,
        inc: &Increments,
        row: &mut BacktestRow,
    ) -> Result<Scenario> {
        let mut s = self.scenario.clone();
        let obs = self
            .series
            .value_on_or_before(origin)
            .with_context(|| format!("no price on or before origin {origin}"))?;
        s.token.price = obs.value;
        row.origin_price = obs.value;
        if let Some(refit) = self.refit {
            let seen = inc.until(origin);
            let opts = FitOptions {
                step_days: s.scenario.step_days,
                ..FitOptions::default()
            };
            let fitted = match refit {
                Refit::Auto => {
                    fit::select(&ModelKind::MARKET, &seen, &opts).map(|sel| sel.chosen().clone())
                }
                Refit::Model(k) => fit::fit(k, &seen, &opts),
            }
            .with_context(|| format!("refitting the market on the data up to {origin}"))?;
            fitted.model.apply(&mut s);
            row.model = fitted.model.kind().name().to_string();
            let pair = |k: &str| fitted.get(k).map(|p| (p.value, p.se));
            row.drift = pair("market.drift");
            row.volatility = pair("market.volatility");
            row.fitted_params = fitted
                .params
                .iter()
                .map(|p| format!("{}={} (se {})", p.key, p.value, p.se))
                .collect::<Vec<_>>()
                .join("; ");
            row.fit_n = Some(fitted.n as f64);
            row.fit_loglik = Some(fitted.loglik);
        }
        let problems = crate::scenario::validate(&s);
        if !problems.is_empty() {
            bail!(
                "the scenario at origin {origin} is invalid: {}",
                problems
                    .iter()
                    .map(|(field, why)| format!("{field}: {why}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        Ok(s)
    }
}

/// The scores of one forecast sample of final prices against the realised price.
pub fn score_forecast(finals: &[f64], realized: f64, row: &mut BacktestRow) {
    let mut prices: Vec<f64> = finals.to_vec();
    prices.sort_by(f64::total_cmp);
    for (q, slot) in [0.05, 0.25, 0.5, 0.75, 0.95]
        .into_iter()
        .zip(row.quantiles.iter_mut())
    {
        *slot = exact_quantile_lower(&prices, q);
    }
    row.realized_price = realized;
    row.pit = score::pit(&prices, realized);
    row.in50 = score::in_central(&prices, realized, 0.5);
    row.in90 = score::in_central(&prices, realized, 0.9);
    // Scored on the log price: scale-free, so comparable across tokens and price levels.
    // ln is monotone, so sorted prices give sorted logs.
    let logs: Vec<f64> = prices
        .iter()
        .map(|p| p.max(f64::MIN_POSITIVE).ln())
        .collect();
    let y = realized.ln();
    row.crps_log = score::crps(&logs, y);
    row.log_score = score::log_score(&logs, y);
}

/// A finished backtest, in memory.
pub struct Backtest {
    pub plan: BacktestPlan,
    pub rows: Vec<BacktestRow>,
    pub summary: score::BacktestSummary,
    /// "cpu" or "gpu".
    pub engine: &'static str,
    pub simulate_seconds: f64,
}

/// Runs every origin of the plan; `on_origin(i, row)` sees each scored origin (progress).
pub fn run(
    plan: &BacktestPlan,
    ctl: &Control,
    on_origin: &mut dyn FnMut(usize, &BacktestRow),
) -> Result<Backtest> {
    let inc = plan.series.increments();
    let mut rows = Vec::with_capacity(plan.origins.len());
    let mut engine = "cpu";
    let mut secs = 0.0;
    for (i, &origin) in plan.origins.iter().enumerate() {
        let target = add_days(origin, plan.horizon);
        let mut row = BacktestRow::new(origin, target);
        let s = plan.origin_scenario(origin, &inc, &mut row)?;
        let realized = plan
            .series
            .value_on_or_before(target)
            .expect("targets are after the first date")
            .value;
        let result = single::run(
            &RunPlan {
                scenario: s,
                backend: plan.backend,
            },
            ctl,
        )
        .with_context(|| format!("forecast from origin {origin}"))?;
        engine = result.output.engine;
        secs += result.output.simulate_time.as_secs_f64();
        let finals: Vec<f64> = result
            .output
            .records
            .iter()
            .map(|r| r.final_price)
            .collect();
        score_forecast(&finals, realized, &mut row);
        on_origin(i, &row);
        rows.push(row);
    }
    let summary = summarize(&rows, plan.every, plan.horizon);
    Ok(Backtest {
        plan: plan.clone(),
        rows,
        summary,
        engine,
        simulate_seconds: secs,
    })
}

/// The summary of scored rows (also what the page computes from `backtest.parquet`).
pub fn summarize(rows: &[BacktestRow], every: u32, horizon: u32) -> score::BacktestSummary {
    score::BacktestSummary::of(
        &rows.iter().map(|r| r.pit).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.in50).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.in90).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.crps_log).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.log_score).collect::<Vec<_>>(),
        every,
        horizon,
    )
}

impl Backtest {
    /// The tables' metadata.
    pub fn info(&self) -> BacktestInfo<'_> {
        let s = &self.plan.scenario;
        BacktestInfo {
            scenario: &s.scenario.name,
            scenario_toml: &s.source_toml,
            prices_file: &self.plan.series.source,
            prices_sha256: &self.plan.prices_sha256,
            horizon_days: self.plan.horizon,
            every_days: self.plan.every,
            paths: self.plan.paths(),
            seed: self.plan.seed(),
            engine: self.engine,
            recalibrate: self.plan.refit.map(Refit::name),
        }
    }

    /// The observed prices from the first origin to the last target.
    pub fn observed(&self) -> Vec<(NaiveDate, f64)> {
        let (Some(first), Some(last)) = (self.rows.first(), self.rows.last()) else {
            return Vec::new();
        };
        // From the observation the first origin starts from.
        let from = self
            .plan
            .series
            .value_on_or_before(first.origin)
            .map_or(first.origin, |o| o.date);
        self.plan
            .series
            .window(Some(from), Some(last.target))
            .obs
            .iter()
            .map(|o| (o.date, o.value))
            .collect()
    }

    /// Writes the folder `dest` (built aside, moved into place whole): `backtest.parquet`,
    /// `observed.parquet` and `backtest.html`. Returns the folder.
    pub fn write(&self, dest: &Path) -> Result<PathBuf> {
        let staged = Staged::begin(dest)?;
        self.write_staged(staged)
    }

    /// Writes into a folder already started (so a bad or busy folder fails before the run).
    pub fn write_staged(&self, staged: Staged) -> Result<PathBuf> {
        let meta = backtest_metadata(&self.info());
        pq::write_table(
            &staged.dir().join(BACKTEST_FILE),
            &backtest_batch(&self.rows)?,
            meta.clone(),
        )?;
        pq::write_table(
            &staged.dir().join(OBSERVED_FILE),
            &observed_batch(&self.observed())?,
            meta,
        )?;
        let html = crate::report::page::backtest::render(staged.dir())?;
        crate::output::write_atomic_bytes(&staged.dir().join(BACKTEST_PAGE), html.as_bytes())?;
        staged.commit()
    }
}

/// [`run`] and [`Backtest::write`], with `dest` locked and started before anything runs.
pub fn run_to(
    plan: &BacktestPlan,
    dest: &Path,
    ctl: &Control,
    on_origin: &mut dyn FnMut(usize, &BacktestRow),
) -> Result<(Backtest, PathBuf)> {
    let staged = Staged::begin(dest)?;
    let bt = run(plan, ctl, on_origin)?;
    let dir = bt.write_staged(staged)?;
    Ok((bt, dir))
}

//! `tokenrisk calibrate`, in memory: raw flags turned once into a checked
//! [`CalibratePlan`] (every problem reported at once, each naming flag, value and what is
//! allowed), the price file read as untrusted input and fitted ([`run`]), and the result
//! ([`Calibration`]) written as one folder, whole or not at all ([`Calibration::write`]):
//! `fitted.toml`, the calibrated scenario with `--into`, the three tables and the page.
//!
//! `--model auto` asks `fit::select` for every price model of `ModelKind::MARKET`; a model
//! the library cannot fit yet (or that fails on these data) is listed as "not available"
//! with its reason and the others are compared, so when every model fits, auto compares
//! them all with no change here.

use crate::calibrate::fit::{self, Fit, FitOptions, ModelKind, Selection};
use crate::calibrate::fragment::{self, Fitted, Provenance};
use crate::calibrate::read::{self, ReadOptions};
use crate::calibrate::series::{Increments, Series};
use crate::output::atomic::write_atomic_bytes;
use crate::output::calibration::{self as table, CalibrationMeta, FitRows};
use crate::output::folder::Staged;
use crate::output::manifest::sha256_hex;
use crate::output::untrusted::read_capped;
use crate::scenario;
use anyhow::{anyhow, bail, Context, Result};
use arrow::array::RecordBatch;
use chrono::NaiveDate;
use parquet::file::metadata::KeyValue;
use std::path::{Path, PathBuf};

/// Largest price file read (a daily history of a century is under 4 MB).
pub const MAX_PRICE_FILE_BYTES: u64 = 64 << 20;

/// The price models `--model` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelChoice {
    /// Every model of `ModelKind::MARKET` that can be fitted, chosen by BIC.
    Auto,
    One(ModelKind),
}

/// The flags as given (text), before any check.
#[derive(Clone, Debug, Default)]
pub struct RawFlags {
    pub prices: PathBuf,
    pub from: Option<String>,
    pub to: Option<String>,
    pub model: Option<String>,
    pub step_days: Option<String>,
    pub out: Option<PathBuf>,
    pub into: Option<String>,
    pub keep_outliers: bool,
    pub revenue: Option<PathBuf>,
    pub gpu_cost: Option<PathBuf>,
}

/// The scenario `--into` names: its text, how messages name it, and the stem of the file
/// written (`<stem>.calibrated.toml`).
#[derive(Clone, Debug)]
pub struct IntoTarget {
    pub label: String,
    pub stem: String,
    pub text: String,
    pub step_days: u32,
}

/// A checked plan.
#[derive(Clone, Debug)]
pub struct CalibratePlan {
    pub prices: PathBuf,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub model: ModelChoice,
    pub step_days: u32,
    pub out: PathBuf,
    pub into: Option<IntoTarget>,
    pub keep_outliers: bool,
    pub revenue: Option<PathBuf>,
    pub gpu_cost: Option<PathBuf>,
}

fn stem_of(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "prices".into())
}

fn date(flag: &str, v: &str, problems: &mut Vec<String>) -> Option<NaiveDate> {
    match NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            problems.push(format!(
                "{flag} {v:?} is not a date; allowed: YYYY-MM-DD, e.g. 2024-01-31"
            ));
            None
        }
    }
}

fn resolve_into(arg: &str, problems: &mut Vec<String>) -> Option<IntoTarget> {
    let path = Path::new(arg);
    let (label, stem, text) = if path.exists() {
        match scenario::read_text(path) {
            Ok(t) => (path.display().to_string(), stem_of(path), t),
            Err(e) => {
                problems.push(format!("--into {arg:?}: the file {e}"));
                return None;
            }
        }
    } else if let Some(p) = scenario::preset(arg) {
        (
            format!("preset {}", p.file),
            p.stem().replace('/', "_"),
            p.toml.to_string(),
        )
    } else {
        problems.push(format!(
            "--into {arg:?}: no such file, and no bundled preset of that name; allowed: a scenario file or one of {}",
            scenario::library::names(scenario::PRESETS)
        ));
        return None;
    };
    match scenario::parse(&text, &label) {
        Ok(s) => Some(IntoTarget {
            label,
            stem,
            text,
            step_days: s.scenario.step_days,
        }),
        Err(e) => {
            problems.push(format!(
                "--into {arg:?}: the scenario does not validate: {e}"
            ));
            None
        }
    }
}

fn file_flag(flag: &str, p: &Path, problems: &mut Vec<String>) {
    if !p.is_file() {
        problems.push(format!(
            "{flag} {:?}: no such file; allowed: a CSV price history (date,value, CoinGecko or Yahoo layout)",
            p.display().to_string()
        ));
    }
}

impl CalibratePlan {
    /// Checks every flag and reports every problem at once.
    pub fn from_flags(f: RawFlags) -> Result<CalibratePlan> {
        let mut problems = Vec::new();
        file_flag("PRICES", &f.prices, &mut problems);
        if let Some(r) = &f.revenue {
            file_flag("--revenue", r, &mut problems);
        }
        if let Some(c) = &f.gpu_cost {
            file_flag("--gpu-cost", c, &mut problems);
        }
        let from = f
            .from
            .as_deref()
            .and_then(|v| date("--from", v, &mut problems));
        let to = f.to.as_deref().and_then(|v| date("--to", v, &mut problems));
        if let (Some(a), Some(b)) = (from, to) {
            if a >= b {
                problems.push(format!(
                    "--from {a} is not before --to {b}; allowed: a window with --from earlier than --to"
                ));
            }
        }
        let model = match f.model.as_deref() {
            None | Some("auto") => Some(ModelChoice::Auto),
            Some(m) => match ModelKind::from_name(m) {
                Some(k) => Some(ModelChoice::One(k)),
                None => {
                    problems.push(format!(
                        "--model {m:?} is not a price model; allowed: auto, {}",
                        ModelKind::NAMED.map(|k| k.name()).join(", ")
                    ));
                    None
                }
            },
        };
        let step_days = match f.step_days.as_deref().map(|s| (s, s.trim().parse::<u32>())) {
            None => None,
            Some((_, Ok(n))) if (1..=365).contains(&n) => Some(n),
            Some((s, _)) => {
                problems.push(format!(
                    "--step-days {s:?} is not a whole number of days from 1 to 365; allowed: 1 to 365 (a scenario's step_days)"
                ));
                None
            }
        };
        let into = f
            .into
            .as_deref()
            .and_then(|a| resolve_into(a, &mut problems));
        if f.into.is_some() && into.is_none() && !problems.iter().any(|p| p.starts_with("--into")) {
            problems.push("--into: cannot be read".into());
        }
        if !problems.is_empty() {
            bail!(
                "calibrate: {} problem{} with the arguments:\n  {}",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                problems.join("\n  ")
            );
        }
        let step_days = step_days
            .or(into.as_ref().map(|i| i.step_days))
            .unwrap_or(1);
        let out = f
            .out
            .unwrap_or_else(|| Path::new("calibration").join(stem_of(&f.prices)));
        Ok(CalibratePlan {
            prices: f.prices,
            from,
            to,
            model: model.expect("checked above"),
            step_days,
            out,
            into,
            keep_outliers: f.keep_outliers,
            revenue: f.revenue,
            gpu_cost: f.gpu_cost,
        })
    }
}

/// A file read: the whole series, the window fitted, its increments, and the file's hash.
#[derive(Clone, Debug)]
pub struct ReadSeries {
    pub series: Series,
    pub window: Series,
    pub inc: Increments,
    pub sha256: String,
}

impl ReadSeries {
    pub fn from_date(&self) -> NaiveDate {
        self.window.first_date().expect("checked non-empty")
    }
    pub fn to_date(&self) -> NaiveDate {
        self.window.last_date().expect("checked non-empty")
    }
}

/// Reads `path` as untrusted input and cuts it to the window.
pub fn read_series(
    flag: &str,
    path: &Path,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    keep_outliers: bool,
) -> Result<ReadSeries> {
    let shown = path.display().to_string();
    let bytes = read_capped(path, MAX_PRICE_FILE_BYTES)
        .with_context(|| format!("{flag} {shown}: cannot read the file"))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        anyhow!(
            "{flag} {shown}: not UTF-8 text (invalid byte at offset {}); allowed: a CSV text file",
            e.valid_up_to()
        )
    })?;
    let source = path
        .file_name()
        .map_or(shown.clone(), |n| n.to_string_lossy().into_owned());
    // `..Default::default()`: the reader's options may grow (READ adds fields).
    #[allow(clippy::needless_update)]
    let opts = ReadOptions {
        keep_outliers,
        ..Default::default()
    };
    let series = read::parse(text, &source, &opts)?;
    let window = series.window(from, to);
    if window.obs.len() < 2 {
        bail!(
            "{flag} {shown}: {} observation{} in the window {} to {} (the file has {} from {} to {}); at least {} are needed",
            window.obs.len(),
            if window.obs.len() == 1 { "" } else { "s" },
            from.map_or("(start)".into(), |d| d.to_string()),
            to.map_or("(end)".into(), |d| d.to_string()),
            series.obs.len(),
            series.first_date().map_or("-".into(), |d| d.to_string()),
            series.last_date().map_or("-".into(), |d| d.to_string()),
            fit::MIN_INCREMENTS + 1
        );
    }
    let inc = window.increments();
    Ok(ReadSeries {
        series,
        window,
        inc,
        sha256: sha256_hex(&bytes),
    })
}

/// Everything `calibrate` found, in memory.
#[derive(Clone, Debug)]
pub struct Calibration {
    pub plan: CalibratePlan,
    pub prices: ReadSeries,
    pub selection: Selection,
    /// `model: why` for each price model auto could not fit.
    pub not_available: Vec<String>,
    /// Why the chosen model, briefly (for the values' comments).
    pub why: String,
    pub revenue: Option<(ReadSeries, Fit)>,
    pub gpu_cost: Option<(ReadSeries, Fit)>,
    pub fragment: String,
    /// `<stem>.calibrated.toml` and its text, with `--into`.
    pub calibrated: Option<(String, String)>,
    pub tables: Vec<(&'static str, RecordBatch)>,
    pub metadata: Vec<KeyValue>,
}

fn select_market(
    choice: ModelChoice,
    inc: &Increments,
    opts: &FitOptions,
    source: &str,
) -> Result<(Selection, Vec<String>, String)> {
    match choice {
        ModelChoice::One(k) => {
            let s = fit::select(&[k], inc, opts)
                .with_context(|| format!("cannot fit the {} model to {source}", k.name()))?;
            Ok((s, Vec::new(), "asked for with --model".into()))
        }
        ModelChoice::Auto => {
            // Each model fitted once; one that cannot be fitted to this history is listed
            // as not available and the others are still compared.
            let mut ok = Vec::new();
            let mut missing = Vec::new();
            for k in ModelKind::MARKET {
                match fit::fit(k, inc, opts) {
                    Ok(f) => ok.push(f),
                    Err(e) => missing.push(format!("{}: {e:#}", k.name())),
                }
            }
            if ok.is_empty() {
                bail!(
                    "no price model could be fitted to {source}: {}",
                    missing.join("; ")
                );
            }
            let sel = fit::choose(ok, inc);
            let why = if sel.fits.len() == 1 {
                "the only model available to --model auto".to_string()
            } else {
                format!("lowest BIC of {} models", sel.fits.len())
            };
            Ok((sel, missing, why))
        }
    }
}

/// The most common gap, in days.
fn modal_days(inc: &Increments) -> u32 {
    let mut counts = std::collections::BTreeMap::new();
    for &d in &inc.days {
        *counts.entry(d).or_insert(0usize) += 1;
    }
    counts
        .into_iter()
        .max_by_key(|&(d, c)| (c, std::cmp::Reverse(d)))
        .map_or(1, |(d, _)| d)
}

fn provenance(r: &ReadSeries, f: &Fit, why: &str) -> Provenance {
    Provenance {
        source: r.series.source.clone(),
        from: r.from_date(),
        to: r.to_date(),
        n: f.n,
        model: f.model.kind().name().to_string(),
        why: why.to_string(),
    }
}

/// Reads, fits and builds every output in memory; nothing is written.
pub fn run(plan: &CalibratePlan) -> Result<Calibration> {
    let opts = FitOptions {
        step_days: plan.step_days,
        ..Default::default()
    };
    let prices = read_series(
        "PRICES",
        &plan.prices,
        plan.from,
        plan.to,
        plan.keep_outliers,
    )?;
    let (selection, not_available, why) =
        select_market(plan.model, &prices.inc, &opts, &prices.series.source)?;
    let revenue = match &plan.revenue {
        Some(p) => {
            let r = read_series("--revenue", p, plan.from, plan.to, plan.keep_outliers)?;
            let f = fit::fit(ModelKind::Demand, &r.inc, &opts)
                .with_context(|| format!("--revenue {}: cannot fit demand", p.display()))?;
            Some((r, f))
        }
        None => None,
    };
    let gpu_cost = match &plan.gpu_cost {
        Some(p) => {
            let r = read_series("--gpu-cost", p, plan.from, plan.to, plan.keep_outliers)?;
            // The cost model is fitted on the log levels, not on the increments.
            let f = fit::fit_cost(&r.series, &opts)
                .with_context(|| format!("--gpu-cost {}: cannot fit the GPU cost", p.display()))?;
            Some((r, f))
        }
        None => None,
    };
    let chosen = selection.chosen();
    let mut fitted = vec![Fitted {
        fit: chosen,
        prov: provenance(&prices, chosen, &why),
    }];
    for (r, f, why) in revenue
        .iter()
        .map(|(r, f)| (r, f, "--revenue"))
        .chain(gpu_cost.iter().map(|(r, f)| (r, f, "--gpu-cost")))
    {
        fitted.push(Fitted {
            fit: f,
            prov: provenance(r, f, why),
        });
    }
    let mut header = vec![
        format!(
            "Fitted by tokenrisk {} calibrate from {} (sha256 {}),",
            env!("CARGO_PKG_VERSION"),
            prices.series.source,
            prices.sha256
        ),
        format!(
            "{} to {}, {} increments ({} layout; {} rows dropped, {} outliers, {} excluded).",
            prices.from_date(),
            prices.to_date(),
            prices.inc.len(),
            prices.series.layout.name(),
            prices.series.dropped.len(),
            prices.series.outliers.len(),
            prices.series.outliers.iter().filter(|o| o.excluded).count()
        ),
        format!(
            "Model: {}. {}",
            chosen.model.kind().name(),
            selection.reason
        ),
        format!(
            "Switch probabilities are per step of {} day(s). Standard errors: {}.",
            plan.step_days, chosen.se_method
        ),
    ];
    if !not_available.is_empty() {
        header.push(format!("Not available: {}.", not_available.join("; ")));
    }
    let fragment = fragment::fragment(&fitted, &header)?;
    let calibrated = match &plan.into {
        Some(t) => {
            let mut h = header.clone();
            h.insert(
                0,
                format!("{} with its fitted keys replaced by calibrate:", t.label),
            );
            let (text, _) = fragment::into_scenario(&t.text, &t.label, &fitted, &h)?;
            Some((format!("{}.calibrated.toml", t.stem), text))
        }
        None => None,
    };
    let mut rows: Vec<FitRows> = selection
        .fits
        .iter()
        .enumerate()
        .map(|(i, f)| FitRows {
            series: "price",
            fit: f,
            chosen: i == selection.chosen,
            from: prices.from_date(),
            to: prices.to_date(),
        })
        .collect();
    for (name, (r, f)) in revenue
        .iter()
        .map(|x| ("revenue", x))
        .chain(gpu_cost.iter().map(|x| ("gpu_cost", x)))
    {
        rows.push(FitRows {
            series: name,
            fit: f,
            chosen: true,
            from: r.from_date(),
            to: r.to_date(),
        });
    }
    let density_days = modal_days(&prices.inc);
    let xs: Vec<f64> = prices
        .inc
        .x
        .iter()
        .zip(&prices.inc.days)
        .filter(|(_, d)| **d == density_days)
        .map(|(x, _)| *x)
        .collect();
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = 0.05 * (hi - lo).max(1e-6);
    let metadata = table::metadata(&CalibrationMeta {
        series: &prices.series,
        sha256: &prices.sha256,
        from: prices.from_date(),
        to: prices.to_date(),
        chosen,
        reason: &selection.reason,
        step_days: plan.step_days,
        not_available: &not_available,
        lr_tests: &selection.lr_tests,
        density_days,
        density_range: (lo - pad, hi + pad),
    });
    let tables = vec![
        (table::CALIBRATION_FILE, table::calibration_batch(&rows)?),
        (
            table::SERIES_FILE,
            table::series_batch(&prices.window, &prices.inc, chosen)?,
        ),
        (
            table::DECISIONS_FILE,
            table::decisions_batch(&prices.series)?,
        ),
    ];
    Ok(Calibration {
        plan: plan.clone(),
        prices,
        selection,
        not_available,
        why,
        revenue,
        gpu_cost,
        fragment,
        calibrated,
        tables,
        metadata,
    })
}

impl Calibration {
    /// Writes the folder `plan.out` whole (built aside, moved into place; an error leaves
    /// what was there): `fitted.toml`, the calibrated scenario, the tables, then the page
    /// built from the tables as written. Returns the folder and the file names.
    pub fn write(&self) -> Result<(PathBuf, Vec<String>)> {
        let staged = Staged::begin(&self.plan.out)?;
        let dir = staged.dir().to_path_buf();
        let mut names = Vec::new();
        write_atomic_bytes(&dir.join(table::FITTED_FILE), self.fragment.as_bytes())?;
        names.push(table::FITTED_FILE.to_string());
        if let Some((name, text)) = &self.calibrated {
            write_atomic_bytes(&dir.join(name), text.as_bytes())?;
            names.push(name.clone());
        }
        for (name, batch) in &self.tables {
            crate::output::parquet::write_table(&dir.join(name), batch, self.metadata.clone())?;
            names.push(name.to_string());
        }
        let html = crate::report::page::calibration::render(&dir)?;
        write_atomic_bytes(&dir.join(table::PAGE_FILE), html.as_bytes())?;
        names.push(table::PAGE_FILE.to_string());
        Ok((staged.commit()?, names))
    }
}

//! `tokenrisk calibrate PRICES.csv`: the flags handed to `workflows::calibrate` as text
//! (checked there, all at once), the fit run and written, and what was read, compared and
//! chosen printed: every dropped row and suspicious print, the likelihoods and criteria,
//! the chosen model and why, and each estimate with its SE and 95% interval.

use crate::calibrate::fit::Fit;
use crate::output::calibration::drop_reason;
use crate::report::format::fmt_sig;
use crate::workflows::calibrate::{self, CalibratePlan, RawFlags, ReadSeries};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// The price history: a CSV as `date,value`, a CoinGecko export or Yahoo-style OHLCV.
    prices: PathBuf,
    /// First date fitted (YYYY-MM-DD; default: the file's first).
    #[arg(long, value_name = "DATE")]
    from: Option<String>,
    /// Last date fitted (YYYY-MM-DD; default: the file's last).
    #[arg(long, value_name = "DATE")]
    to: Option<String>,
    /// The price model: auto (every model, chosen by BIC), gbm, jump or regime.
    #[arg(long, value_name = "auto|gbm|jump|regime|regime-jumps")]
    model: Option<String>,
    /// The scenario step the regime switch probabilities are per (default 1, or the
    /// step_days of the --into scenario).
    #[arg(long, value_name = "N")]
    step_days: Option<String>,
    /// Output folder (default calibration/<file stem>), replaced whole.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Also write a complete scenario: this file or preset with the fitted keys replaced
    /// (OUT/<stem>.calibrated.toml; the original is untouched).
    #[arg(long, value_name = "SCENARIO")]
    into: Option<String>,
    /// Keep the suspicious prints in the fit (they are still listed).
    #[arg(long)]
    keep_outliers: bool,
    /// A revenue history (USD per day) for demand growth and volatility.
    #[arg(long, value_name = "R.csv")]
    revenue: Option<PathBuf>,
    /// A GPU cost history for the cost's Ornstein-Uhlenbeck fit.
    #[arg(long, value_name = "C.csv")]
    gpu_cost: Option<PathBuf>,
}

fn print_read(flag: &str, r: &ReadSeries) {
    let s = &r.series;
    println!(
        "{flag} {}: {} layout, {} rows kept of the file ({} to {}), {} dropped, {} suspicious print(s){}",
        s.source,
        s.layout.name(),
        s.obs.len(),
        s.first_date().map_or("-".into(), |d| d.to_string()),
        s.last_date().map_or("-".into(), |d| d.to_string()),
        s.dropped.len(),
        s.outliers.len(),
        if s.was_unsorted { "; rows were not in date order and were sorted" } else { "" }
    );
    let mut by_reason: Vec<(String, usize)> = Vec::new();
    for d in &s.dropped {
        let r = drop_reason(&d.reason);
        match by_reason.iter_mut().find(|(k, _)| *k == r) {
            Some((_, n)) => *n += 1,
            None => by_reason.push((r, 1)),
        }
    }
    for (r, n) in by_reason {
        println!("  dropped {n}: {r}");
    }
    for o in &s.outliers {
        println!(
            "  outlier {} (line {}, value {}): {}; {}",
            o.date,
            o.line,
            o.value,
            o.reason,
            if o.excluded {
                "excluded"
            } else {
                "kept (--keep-outliers)"
            }
        );
    }
    println!(
        "  fitted window {} to {}: {} increments over {:.2} years",
        r.from_date(),
        r.to_date(),
        r.inc.len(),
        r.inc.years()
    );
}

fn print_estimates(f: &Fit) {
    for p in &f.params {
        let (lo, hi) = p.interval();
        println!(
            "    {:<36} {:>10}  SE {:<9} 95% CI {} to {}",
            p.key,
            fmt_sig(p.value, 4),
            fmt_sig(p.se, 3),
            fmt_sig(lo, 4),
            fmt_sig(hi, 4)
        );
    }
}

pub fn cmd_calibrate(a: CalibrateArgs) -> Result<i32> {
    let plan = CalibratePlan::from_flags(RawFlags {
        prices: a.prices,
        from: a.from,
        to: a.to,
        model: a.model,
        step_days: a.step_days,
        out: a.out,
        into: a.into,
        keep_outliers: a.keep_outliers,
        revenue: a.revenue,
        gpu_cost: a.gpu_cost,
    })?;
    let c = calibrate::run(&plan)?;
    print_read("PRICES", &c.prices);
    for n in &c.not_available {
        println!("  not available: {n}");
    }
    println!(
        "models compared (step of {} day(s) for switch probabilities):",
        plan.step_days
    );
    println!(
        "    {:<8} {:>4} {:>14} {:>12} {:>12}",
        "model", "k", "loglik", "AIC", "BIC"
    );
    for f in &c.selection.fits {
        println!(
            "    {:<8} {:>4} {:>14.2} {:>12.2} {:>12.2}",
            f.model.kind().name(),
            f.k(),
            f.loglik,
            f.aic(),
            f.bic()
        );
    }
    for t in &c.selection.lr_tests {
        println!(
            "    LR {} vs {}: statistic {:.2}, df {}, p {:.3e}",
            t.null.name(),
            t.alternative.name(),
            t.statistic,
            t.df,
            t.p_value
        );
    }
    let chosen = c.selection.chosen();
    println!(
        "chosen: {} ({}). {}",
        chosen.model.kind().name(),
        c.why,
        c.selection.reason
    );
    println!("  estimates (standard errors: {}):", chosen.se_method);
    print_estimates(chosen);
    for (flag, x) in [("--revenue", &c.revenue), ("--gpu-cost", &c.gpu_cost)] {
        if let Some((r, f)) = x {
            print_read(flag, r);
            println!("  {} estimates:", f.model.kind().name());
            print_estimates(f);
        }
    }
    let (dir, files) = c.write()?;
    println!("wrote {} ({})", dir.display(), files.join(", "));
    Ok(0)
}

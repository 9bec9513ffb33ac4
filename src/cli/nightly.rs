//! `tokenrisk nightly SCENARIO_DIR --out REPORTS_DIR [--date YYYY-MM-DD]`: every `*.toml` of
//! a folder run into `REPORTS_DIR/DATE/`, alerts checked, the night's page written (see
//! `workflows::nightly`); prints a line per scenario and exits with the night's code.

use super::{progress::with_bar, SimArgs};
use crate::workflows::nightly::{self, AlertCheck, NightPlan, ScenarioResult};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  all clear: every scenario ran and no [alerts] threshold was breached
  3  one or more alerts breached (P(spiral) above max_spiral_probability, or the median final
     emissions-to-revenue ratio above max_emissions_to_revenue)
  4  one or more scenarios failed (they are reported; the other scenarios still run);
     failures win over alerts
  1  the night could not be run at all (e.g. SCENARIO_DIR unreadable); 2 usage error

Writes REPORTS_DIR/DATE/<scenario.name>/ (the run's tables, manifest and report.html),
DATE/index.html (headline risks, changes since the previous night, alerts), DATE/alerts.json
and DATE/night.json (how each scenario ran: a row whose seed, paths, horizon, engine or
overlays differ from the previous night's is marked and its changes are not coloured).
Re-running a date replaces that night's folder atomically.";

#[derive(Args, Debug)]
pub struct NightlyArgs {
    /// Folder of scenario files; every `*.toml` in it is run, in file-name order.
    scenario_dir: PathBuf,
    /// Reports root; the night is written to REPORTS_DIR/DATE/.
    #[arg(long, value_name = "REPORTS_DIR")]
    out: PathBuf,
    /// The night's date, YYYY-MM-DD (default: today's UTC date).
    #[arg(long)]
    date: Option<String>,
    #[command(flatten)]
    sim: SimArgs,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

fn print_line(r: &ScenarioResult) {
    let title = r.name.clone().unwrap_or_else(|| r.file.clone());
    match (&r.headline, &r.error) {
        (_, Some(e)) => {
            println!("  FAILED {title} ({})", r.file);
            eprintln!("error: {}: {e}", r.file);
        }
        (Some(h), None) => {
            let tag = if r.alerted() { "ALERT " } else { "ok    " };
            println!(
                "  {tag} {title}: P(spiral) {:.2}% [{:.2}%, {:.2}%], VaR95 {:.3}, median E/R {:.3}, median final price {:.4}",
                100.0 * h.p_spiral,
                100.0 * h.p_spiral_lo,
                100.0 * h.p_spiral_hi,
                h.var95_return,
                h.er_ratio_p50,
                h.final_price_p50
            );
            for c in r.checks.iter().filter(|c: &&AlertCheck| c.breached) {
                println!("         ALERT {}", c.describe());
            }
            for n in &r.notes {
                println!("         note: {n}");
            }
            if let Some(c) = &r.comparison {
                if let Some(why) = &c.unknown {
                    println!(
                        "         note: previous settings unknown ({why}): changes not comparable"
                    );
                } else if !c.changes.is_empty() {
                    println!(
                        "         note: settings changed since the previous night ({}): changes not comparable",
                        c.changes.join(", ")
                    );
                }
                if c.text_changed {
                    println!(
                        "         note: scenario text changed since the previous night{}",
                        c.diff
                            .as_ref()
                            .map(|d| format!(" (diff: {d})"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        (None, None) => {}
    }
}

pub fn cmd_nightly(args: NightlyArgs) -> Result<i32> {
    let plan = NightPlan::new(
        &args.scenario_dir,
        args.date.as_deref(),
        args.sim.overrides(),
        args.sim.backend,
    )?;
    let date = plan.date.clone();
    println!(
        "nightly {date}: {} scenario files from {}",
        plan.files.len(),
        args.scenario_dir.display()
    );
    let done = with_bar(!args.quiet, "nightly", |ctl, bar| {
        nightly::run(&plan, &args.out, ctl, &mut |r| bar.print(|| print_line(r)))
    })?;
    let night = &done.night;
    let n_alert = night.results.iter().filter(|r| r.alerted()).count();
    let n_fail = night.results.iter().filter(|r| r.failed()).count();
    println!(
        "nightly {date}: {} scenarios, {n_alert} with alerts breached, {n_fail} failed{}; wrote {} (exit {})",
        night.results.len(),
        night
            .previous
            .as_ref()
            .map(|p| format!(", compared with {}", p.date))
            .unwrap_or_default(),
        done.dir.join(nightly::INDEX_FILE).display(),
        done.code
    );
    Ok(done.code)
}

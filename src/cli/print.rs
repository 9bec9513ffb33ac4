//! What the commands print on stdout: the human summaries of runs, comparisons, sweeps,
//! sensitivity analyses and nights. Numbers go through `report::format`.

use crate::measure::summary::{pct_text, GovernanceFigures};
use crate::measure::warnings::RangeCounts;
use crate::report::format::{
    fmt_dec4, fmt_fixed, fmt_fraction_fine, fmt_pct, fmt_pct_fine, fmt_pp, fmt_sig,
};
use crate::scale::resume::CheckpointReport;
use crate::workflows::compare::{PairComparison, METRICS};
use crate::workflows::single::RunResult;

/// The summary a run prints: throughput, P(spiral), time to spiral, tail risks, the
/// emissions-to-revenue ratio, the final price, and a warning naming any non-finite values.
pub fn summary(r: &RunResult, total_s: f64) {
    let sim_s = r.output.simulate_time.as_secs_f64();
    summary_timed(
        r,
        &format!("simulated in {sim_s:.2} s"),
        &format!("{total_s:.2} s with outputs"),
    )
}

/// [`summary`] of a checkpointed run: when it resumed an earlier attempt, each time is
/// labelled with the attempts it covers (the rate is over all paths and all attempts).
pub fn summary_resumed(r: &RunResult, ck: &CheckpointReport, total_s: f64) {
    summary_timed(
        r,
        &ck.simulated(r.output.simulate_time.as_secs_f64()),
        &format!("{total_s:.2} s with outputs{}", ck.attempt()),
    )
}

fn summary_timed(r: &RunResult, simulated: &str, with_outputs: &str) {
    let (s, out, sum) = (&r.scenario, &r.output, &r.summary);
    let steps = s.steps() as f64;
    let sim_s = out.simulate_time.as_secs_f64();
    let threads = if out.engine == "cpu" {
        format!(", {} threads", rayon::current_num_threads())
    } else {
        String::new()
    };
    println!(
        "{}: {} paths x {} days on {} [{}{threads}]: {simulated} ({:.3e} path-steps/s), {with_outputs}",
        s.scenario.name,
        sum.paths,
        s.scenario.horizon_days,
        out.engine,
        out.device,
        sum.paths as f64 * steps / sim_s,
    );
    println!(
        "  P(spiral by day {})       {}  (95% CI {} to {}, SE {})",
        s.scenario.horizon_days,
        fmt_pct(sum.p_spiral),
        fmt_pct(sum.p_spiral_lo),
        fmt_pct(sum.p_spiral_hi),
        fmt_pct(sum.p_spiral_se)
    );
    if sum.p_spiral > 0.0 {
        let d = sum.spiral_day.at(0.5);
        println!(
            "  time to spiral             median day {:.0} (95% CI {:.0} to {:.0}; p05 {:.0}, p95 {:.0})",
            d.value,
            d.lo,
            d.hi,
            sum.spiral_day.q(0.05),
            sum.spiral_day.q(0.95)
        );
    }
    // VaR and CVaR as positive losses, each with its 95% interval (order statistics for the
    // VaR, the asymptotic SE for the CVaR); the price fall is the loss seen as a price.
    for t in &sum.tail {
        let level = format!("{}%", pct_text(t.level));
        let fall = |x: f64| fmt_pct_fine(1.0 - (-x).exp());
        for (what, r, d) in [
            ("VaR ", &t.var_return, &t.var_drawdown),
            ("CVaR", &t.cvar_return, &t.cvar_drawdown),
        ] {
            println!(
                "  {level} {what}  log-return loss {} (95% CI {} to {}, price down {});  max drawdown {} (95% CI {} to {})",
                fig(r.value, 3),
                fig(r.lo, 3),
                fig(r.hi, 3),
                fall(r.value),
                fmt_fraction_fine(d.value),
                fmt_fraction_fine(d.lo),
                fmt_fraction_fine(d.hi)
            );
        }
    }
    let er = sum.er_ratio.at(0.5);
    println!(
        "  emissions-to-revenue       median {} (95% CI {} to {}; p95 {}), P(ratio > 1) {}",
        sig(er.value),
        sig(er.lo),
        sig(er.hi),
        sig(sum.er_ratio.q(0.95)),
        fmt_pct(sum.p_er_above_1)
    );
    let fp = sum.final_price.at(0.5);
    println!(
        "  final price                median {} USD (95% CI {} to {}; mean {} +- {}), day 0 {} USD",
        sig(fp.value),
        sig(fp.lo),
        sig(fp.hi),
        sig(sum.final_price.mean),
        sig(sum.final_price.se),
        sig(sum.initial.price)
    );
    for g in &sum.governance {
        println!("  {}", governance_line(g));
    }
    if sum.vested.mean > 0.0 {
        println!(
            "  tokens minted              mean {} = emitted {} + vested {} (vesting unlocks, the same on every path)",
            sig(sum.minted.mean),
            sig(sum.emitted.mean),
            sig(sum.vested.mean)
        );
    }
    if sum.nonfinite_paths > 0 {
        let which: Vec<String> = out
            .acc
            .per_path
            .nonfinite_counts()
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        println!(
            "  WARNING: {} paths produced non-finite values ({}); those values are counted \
             (nonfinite_paths, the timeseries' nonfinite column) and left out of every mean, \
             quantile and histogram",
            sum.nonfinite_paths,
            which.join(", ")
        );
    }
    for w in RangeCounts::from_acc(&out.acc).warnings() {
        println!("  WARNING: {w}");
    }
}

/// One governance change's line: P(enacted) with its Wilson 95% interval and SE, and the
/// median enactment day among enacting paths with its order-statistic interval; both exact
/// (counts and day counts of every path, not a histogram).
pub fn governance_line(g: &GovernanceFigures) -> String {
    let head = format!(
        "governance {}: P(enacted) {} (95% CI {} to {}, SE {})",
        g.name,
        fmt_pct(g.p_enacted),
        fmt_pct(g.p_enacted_lo),
        fmt_pct(g.p_enacted_hi),
        fmt_pct(g.p_enacted_se)
    );
    let d = &g.median_day;
    if g.enacted == 0 {
        format!("{head}, never enacted within the horizon (exact)")
    } else {
        format!(
            "{head}, median day {:.0} (95% CI {:.0} to {:.0}) among the {} enacting paths (exact)",
            d.value, d.lo, d.hi, g.enacted
        )
    }
}

/// A figure with `decimals` decimals, or "n/a" where it is not a finite number (a quantile
/// left out because it would be read among out-of-range values, a standard error that
/// overflowed: the warnings below the summary say which and why).
/// Five significant digits, or "n/a".
fn sig(x: f64) -> String {
    if x.is_finite() {
        fmt_sig(x, 5)
    } else {
        "n/a".to_string()
    }
}

fn fig(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "n/a".to_string()
    }
}

/// One compared pair: P(spiral) difference with its paired and independent SEs, McNemar,
/// and the metric differences.
pub fn comparison(r: &PairComparison, seed: u64) {
    let s = &r.spiral;
    println!(
        "{} vs {} (A vs B: {} paths, seed {seed}, common random numbers; differences are A minus B):",
        r.design_a, r.design_b, r.paths
    );
    println!(
        "  P(spiral)              {} vs {}: difference A - B {} (95% CI {} to {})",
        fmt_pct(s.p_a),
        fmt_pct(s.p_b),
        fmt_pp(s.diff),
        fmt_pp(s.lo),
        fmt_pp(s.hi)
    );
    println!(
        "  its standard error     paired {} pp, independent runs {} pp: variance reduction {}x",
        fmt_fixed(100.0 * s.se_paired, 3),
        fmt_fixed(100.0 * s.se_independent, 3),
        fmt_fixed(s.variance_reduction, 2)
    );
    let p = if s.mcnemar_p_value > 0.0 {
        format!("{:.3e}", s.mcnemar_p_value)
    } else {
        "< 1e-300".to_string()
    };
    println!(
        "  discordant paths       spiraled in {} only: {}, in {} only: {} (McNemar exact p {})",
        r.design_a,
        s.discordant_ab,
        r.design_b,
        s.discordant_ba,
        if p.starts_with('<') {
            p
        } else {
            format!("= {p}")
        }
    );
    // The quantile columns are differences of quantiles (median of A minus median of B),
    // not quantiles of the per-path difference: the header says so (the report shows both).
    println!(
        "  {:<22} {:>26} {:>16} {:>16} {:>16}",
        "A minus B",
        "mean of diff (paired SE)",
        "median A - med B",
        "p05 A - p05 B",
        "p95 A - p95 B"
    );
    for ((_, label), m) in METRICS.iter().zip(&r.metrics) {
        println!(
            "  {:<22} {:>26} {:>16} {:>16} {:>16}",
            label,
            format!("{} ({})", fmt_dec4(m.diff_mean), fmt_dec4(m.diff_se)),
            fmt_dec4(m.diff_p50),
            fmt_dec4(m.diff_p05),
            fmt_dec4(m.diff_p95)
        );
    }
    println!(
        "  (the last three columns are differences of quantiles of the two designs, not \
         quantiles of the per-path difference; `tokenrisk report` shows both)"
    );
    if r.nonfinite_pairs > 0 {
        println!(
            "  WARNING: {} path pairs had non-finite values and were left out of the metrics",
            r.nonfinite_pairs
        );
    }
}

/// One finished sweep point.
pub fn sweep_point(dir_name: &str, values: &str, r: &RunResult) {
    let sum = &r.summary;
    let cvar = sum.tail_at(0.95).map_or(f64::NAN, |t| t.cvar_return.value);
    println!(
        "  {dir_name} [{values}]: P(spiral) {:.2}% (SE {:.2}%), CVaR95 log-return {:.3}, median final price {:.4} ({:.2} s)",
        100.0 * sum.p_spiral,
        100.0 * sum.p_spiral_se,
        cvar,
        sum.final_price.q(0.5),
        r.output.simulate_time.as_secs_f64()
    );
}

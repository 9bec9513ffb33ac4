//! Alerts (`[alerts]` in a scenario), compared with the point estimates of a night's run:
//! - `max_spiral_probability` against P(spiral by the horizon);
//! - `max_emissions_to_revenue` against the **median** over paths of the final cumulative
//!   emissions-to-revenue ratio (`er_ratio_p50`). The median, not the mean: the ratio has a
//!   heavy right tail (paths whose revenue collapses), so the mean would be driven by a few
//!   paths and by their Monte Carlo noise, while the question the threshold asks is whether
//!   the typical future closes the gap.
//!
//! A threshold is breached when the figure is strictly above it, or when the figure is not
//! finite (it cannot be shown to be within the limit). For P(spiral) a breach also says
//! whether the 95% interval lies wholly above the threshold (a clear breach) or straddles it
//! (within Monte Carlo error).

use crate::measure::Summary;
use crate::report::format::{fmt_pct, fmt_sig};
use crate::scenario::Alerts;

/// The headline risks of one scenario on one night.
#[derive(Debug, Clone, PartialEq)]
pub struct Headline {
    pub paths: u64,
    pub p_spiral: f64,
    pub p_spiral_se: f64,
    pub p_spiral_lo: f64,
    pub p_spiral_hi: f64,
    /// 95% VaR and CVaR of the horizon log-return, as positive losses.
    pub var95_return: f64,
    pub cvar95_return: f64,
    /// Median final emissions-to-revenue ratio.
    pub er_ratio_p50: f64,
    pub final_price_p50: f64,
}

impl Headline {
    pub fn from_summary(s: &Summary) -> Headline {
        let t = s.tail_at(0.95);
        Headline {
            paths: s.paths,
            p_spiral: s.p_spiral,
            p_spiral_se: s.p_spiral_se,
            p_spiral_lo: s.p_spiral_lo,
            p_spiral_hi: s.p_spiral_hi,
            var95_return: t.map_or(f64::NAN, |t| t.var_return.value),
            cvar95_return: t.map_or(f64::NAN, |t| t.cvar_return.value),
            er_ratio_p50: s.er_ratio.q(0.5),
            final_price_p50: s.final_price.q(0.5),
        }
    }
}

/// One `[alerts]` threshold checked against a night's figure.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertCheck {
    /// The `[alerts]` key, e.g. `max_spiral_probability`.
    pub alert: &'static str,
    /// The summary column compared, e.g. `p_spiral`.
    pub metric: &'static str,
    pub value: f64,
    pub threshold: f64,
    pub breached: bool,
    /// 95% interval of the figure, where there is one (P(spiral): Wilson).
    pub ci: Option<(f64, f64)>,
}

impl AlertCheck {
    /// A breach whose whole 95% interval lies above the threshold.
    pub fn clear_breach(&self) -> bool {
        self.breached && self.ci.is_some_and(|(lo, _)| lo > self.threshold)
    }

    /// Human text, e.g. `P(spiral) 23.40% > limit 10.00%`.
    pub fn describe(&self) -> String {
        let cmp = if self.breached { ">" } else { "<=" };
        match self.metric {
            "p_spiral" => {
                let ci = self
                    .ci
                    .map(|(lo, hi)| {
                        let how = if !self.breached {
                            ""
                        } else if lo > self.threshold {
                            "; the whole interval is above the limit"
                        } else {
                            "; within Monte Carlo error of the limit"
                        };
                        format!(" (95% CI {} to {}{how})", fmt_pct(lo), fmt_pct(hi))
                    })
                    .unwrap_or_default();
                format!(
                    "P(spiral) {} {cmp} limit {}{ci}",
                    fmt_pct(self.value),
                    fmt_pct(self.threshold)
                )
            }
            _ => format!(
                "median emissions-to-revenue {} {cmp} limit {}",
                fmt_sig(self.value, 4),
                fmt_sig(self.threshold, 4)
            ),
        }
    }
}

fn breached(value: f64, threshold: f64) -> bool {
    !value.is_finite() || value > threshold
}

/// Checks every threshold of `[alerts]` (none: no checks).
pub fn evaluate(alerts: Option<&Alerts>, h: &Headline) -> Vec<AlertCheck> {
    let mut out = Vec::new();
    let Some(a) = alerts else {
        return out;
    };
    if let Some(t) = a.max_spiral_probability {
        out.push(AlertCheck {
            alert: "max_spiral_probability",
            metric: "p_spiral",
            value: h.p_spiral,
            threshold: t,
            breached: breached(h.p_spiral, t),
            ci: Some((h.p_spiral_lo, h.p_spiral_hi)),
        });
    }
    if let Some(t) = a.max_emissions_to_revenue {
        out.push(AlertCheck {
            alert: "max_emissions_to_revenue",
            metric: "er_ratio_p50",
            value: h.er_ratio_p50,
            threshold: t,
            breached: breached(h.er_ratio_p50, t),
            ci: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headline(p: f64, er: f64) -> Headline {
        Headline {
            paths: 1000,
            p_spiral: p,
            p_spiral_se: 0.01,
            p_spiral_lo: p - 0.02,
            p_spiral_hi: p + 0.02,
            var95_return: 1.0,
            cvar95_return: 1.5,
            er_ratio_p50: er,
            final_price_p50: 10.0,
        }
    }

    #[test]
    fn alerts_compare_strictly_and_flag_nan() {
        let a = Alerts {
            max_spiral_probability: Some(0.1),
            max_emissions_to_revenue: Some(5.0),
        };
        let c = evaluate(Some(&a), &headline(0.1, 5.0));
        assert!(c.iter().all(|c| !c.breached));
        let c = evaluate(Some(&a), &headline(0.15, f64::NAN));
        assert!(c.iter().all(|c| c.breached));
        assert!(c[0].clear_breach());
        assert!(evaluate(None, &headline(0.9, 100.0)).is_empty());
    }
}

//! What a governance change is worth: a scenario turned into the designs that answer "what
//! if it never passes?" and, for an uncertain proposal, "what if it surely passes?", for
//! `tokenrisk compare SCENARIO --governance NAME`. The designs run with common random
//! numbers like any comparison, so the paired difference in P(spiral) is the change's effect.
//!
//! Why a scenario edit rather than an engine switch: each design is then an ordinary,
//! validated scenario whose text (written out in full) is carried into its outputs, so its
//! folder and report say exactly what ran.

use crate::scenario::keys::{scenario_table, to_toml};
use crate::scenario::{self, Scenario};
use anyhow::{bail, Context, Result};

/// The designs of a change's counterfactual, as (label, scenario), in this order: the
/// scenario as written; without the change ("never"); for an uncertain change, with
/// probability 1 ("always": every path enacts it, on the day it draws as written, since the
/// day comes from its own word). Each design's `scenario.name` gets the label as a suffix.
pub fn designs(s: &Scenario, change: &str) -> Result<Vec<(String, Scenario)>> {
    let Some(index) = s.governance.iter().position(|g| g.name == change) else {
        let names: Vec<&str> = s.governance.iter().map(|g| g.name.as_str()).collect();
        if names.is_empty() {
            bail!(
                "--governance {change}: {} has no [[governance]] changes",
                s.scenario.name
            );
        }
        bail!(
            "--governance {change}: no such change in {}; its changes: {}",
            s.scenario.name,
            names.join(", ")
        );
    };
    let mut out = vec![("as-written".to_string(), s.clone())];
    let mut never = s.clone();
    never.governance.remove(index);
    out.push(("never".to_string(), never));
    if s.governance[index].probability.is_some() {
        let mut always = s.clone();
        always.governance[index].probability = Some(1.0);
        out.push(("always".to_string(), always));
    }
    out.into_iter()
        .map(|(label, mut d)| {
            d.scenario.name = format!("{}-{change}-{label}", s.scenario.name);
            let note = match label.as_str() {
                "as-written" => "the scenario as written".to_string(),
                "never" => format!("without governance change {change:?}"),
                _ => format!("governance change {change:?} with probability 1"),
            };
            let d = rebuild(&d, &note).with_context(|| format!("the {label} design"))?;
            Ok((label, d))
        })
        .collect()
}

/// `d` as a scenario parsed from its own text (every default written out), so the text the
/// outputs carry is the design that ran.
fn rebuild(d: &Scenario, note: &str) -> Result<Scenario> {
    let table = scenario_table(d).map_err(anyhow::Error::msg)?;
    let body = to_toml(&table).map_err(anyhow::Error::msg)?;
    let text =
        format!("# {note} (a counterfactual design of `tokenrisk compare --governance`)\n{body}");
    let mut out = scenario::from_table(table, &text, &d.scenario.name)?;
    out.scenario.seed = d.scenario.seed;
    out.scenario.paths = d.scenario.paths;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn governed() -> Scenario {
        let text = crate::scenario::test_text(
            &[],
            r#"
[[governance]]
name = "burn"
probability = 0.6
window_days = [30, 200]
set = { "burn.kind" = "revenue_burn", "burn.fraction" = 0.2 }

[[governance]]
name = "stake"
day = 100
set = { "staking.panic" = 0.5 }
"#,
        );
        crate::scenario::parse(&text, "g.toml").unwrap()
    }

    #[test]
    fn an_uncertain_change_gets_never_and_always_designs() {
        let d = designs(&governed(), "burn").unwrap();
        let labels: Vec<&str> = d.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["as-written", "never", "always"]);
        assert_eq!(d[0].1.governance.len(), 2);
        assert_eq!(d[1].1.governance.len(), 1);
        assert_eq!(d[1].1.governance[0].name, "stake");
        assert_eq!(d[2].1.governance[0].probability, Some(1.0));
        assert!(d[1].1.scenario.name.ends_with("-burn-never"));
        // The text carried into the outputs is the design itself.
        let again = crate::scenario::parse(&d[1].1.source_toml, "x").unwrap();
        assert_eq!(again.governance.len(), 1);
    }

    #[test]
    fn a_scheduled_change_gets_only_never_and_unknown_names_are_refused() {
        let d = designs(&governed(), "stake").unwrap();
        assert_eq!(d.len(), 2);
        let e = designs(&governed(), "nope").unwrap_err().to_string();
        assert!(
            e.contains("no such change") && e.contains("burn, stake"),
            "{e}"
        );
    }
}

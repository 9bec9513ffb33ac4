//! Model choice for `--model auto`: every candidate fitted, the lowest BIC chosen, and
//! likelihood-ratio tests of each nested pair (gbm in jump: the jump rate at its boundary 0;
//! gbm in regime and, when the regime model has jumps, jump in regime: the second regime's
//! parameters unidentified under the null), with the chi-squared p-value flagged as
//! approximate because those are exactly the boundary and nuisance-parameter cases where
//! Wilks' theorem does not hold. A pair is nested when the smaller model's keys are all
//! among the larger one's: the jump model is NOT nested in the regime model without jumps
//! (`regime::CHOSEN`), so those two are compared by BIC only, and the reason says so.

use super::{fit, Fit, FitOptions, LrTest, ModelKind, Selection};
use crate::calibrate::series::Increments;
use anyhow::Result;
use statrs::distribution::{ChiSquared, ContinuousCDF};

/// Candidate pairs, null first; tested when nested (see the module header).
const PAIRS: [(ModelKind, ModelKind); 6] = [
    (ModelKind::Gbm, ModelKind::Jump),
    (ModelKind::Jump, ModelKind::Regime),
    (ModelKind::Gbm, ModelKind::Regime),
    (ModelKind::Gbm, ModelKind::RegimeJumps),
    (ModelKind::Jump, ModelKind::RegimeJumps),
    (ModelKind::Regime, ModelKind::RegimeJumps),
];

/// A p-value as a user reads it: three decimals, or a power of ten when tiny.
fn p_text(p: f64) -> String {
    if p >= 0.001 {
        format!("{p:.3}")
    } else if p < 1e-300 {
        "< 1e-300".to_string()
    } else {
        format!("{p:.1e}")
    }
}

/// Fits `kinds` and chooses by BIC (the only model when one is given).
pub fn select(kinds: &[ModelKind], inc: &Increments, opts: &FitOptions) -> Result<Selection> {
    let fits = kinds
        .iter()
        .map(|&k| fit(k, inc, opts))
        .collect::<Result<Vec<_>>>()?;
    Ok(choose(fits, inc))
}

/// Chooses among fits already made (to the same increments `inc`) by BIC, with the
/// likelihood-ratio tests of their nested pairs. `fits` must not be empty.
pub fn choose(fits: Vec<Fit>, inc: &Increments) -> Selection {
    let chosen = (0..fits.len())
        .min_by(|&a, &b| fits[a].bic().total_cmp(&fits[b].bic()))
        .expect("at least one model");
    let find = |k: ModelKind| fits.iter().find(|f| f.model.kind() == k);
    let mut lr_tests = Vec::new();
    let mut not_nested = Vec::new();
    for (null, alt) in PAIRS {
        if let (Some(f0), Some(f1)) = (find(null), find(alt)) {
            if !f0.params.iter().all(|p| f1.get(p.key).is_some()) {
                not_nested.push((null, alt));
                continue;
            }
            let statistic = (2.0 * (f1.loglik - f0.loglik)).max(0.0);
            let df = f1.k().saturating_sub(f0.k()).max(1);
            let p_value = ChiSquared::new(df as f64).expect("df >= 1").sf(statistic);
            lr_tests.push(LrTest {
                null,
                alternative: alt,
                statistic,
                df,
                p_value,
            });
        }
    }
    let mut reason = format!(
        "{} has the lowest BIC of the {} model(s) fitted to {} increments:",
        fits[chosen].model.kind().name(),
        fits.len(),
        inc.len()
    );
    for f in &fits {
        reason.push_str(&format!(
            " {} log-likelihood {:.1}, k {}, AIC {:.1}, BIC {:.1};",
            f.model.kind().name(),
            f.loglik,
            f.k(),
            f.aic(),
            f.bic()
        ));
    }
    for t in &lr_tests {
        reason.push_str(&format!(
            " LR {} vs {}: statistic {:.2} on {} df, p {};",
            t.null.name(),
            t.alternative.name(),
            t.statistic,
            t.df,
            p_text(t.p_value)
        ));
    }
    for (a, b) in &not_nested {
        reason.push_str(&format!(
            " {} and {} are not nested (no LR test), so they are compared by BIC only;",
            a.name(),
            b.name()
        ));
    }
    if !lr_tests.is_empty() {
        reason.push_str(
            " the chi-squared p-values are only approximate (under the null the jump rate or \
             the switch probabilities sit on their boundary 0 and the other model's parameters \
             are unidentified).",
        );
    } else {
        reason.pop();
        reason.push('.');
    }
    for f in &fits {
        if let Some(w) = &f.warning {
            reason.push_str(&format!(" Note ({}): {w}.", f.model.kind().name()));
        }
    }
    Selection {
        fits,
        chosen,
        lr_tests,
        reason,
    }
}

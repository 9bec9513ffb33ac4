//! Model choice for `--model auto`: every candidate fitted, the lowest BIC chosen, and
//! likelihood-ratio tests of each nested pair (gbm in jump: the jump rate at its boundary 0;
//! jump in regime: the second regime's parameters unidentified under the null), with the
//! chi-squared p-value flagged as approximate because those are exactly the boundary and
//! nuisance-parameter cases where Wilks' theorem does not hold.

use super::{fit, FitOptions, LrTest, ModelKind, Selection};
use crate::calibrate::series::Increments;
use anyhow::Result;
use statrs::distribution::{ChiSquared, ContinuousCDF};

/// Pairs tested, null first.
const NESTED: [(ModelKind, ModelKind); 2] = [
    (ModelKind::Gbm, ModelKind::Jump),
    (ModelKind::Jump, ModelKind::Regime),
];

/// Fits `kinds` and chooses by BIC (the only model when one is given).
pub fn select(kinds: &[ModelKind], inc: &Increments, opts: &FitOptions) -> Result<Selection> {
    let fits = kinds
        .iter()
        .map(|&k| fit(k, inc, opts))
        .collect::<Result<Vec<_>>>()?;
    let chosen = (0..fits.len())
        .min_by(|&a, &b| fits[a].bic().total_cmp(&fits[b].bic()))
        .expect("at least one model");
    let find = |k: ModelKind| fits.iter().find(|f| f.model.kind() == k);
    let mut lr_tests = Vec::new();
    for (null, alt) in NESTED {
        if let (Some(f0), Some(f1)) = (find(null), find(alt)) {
            let statistic = (2.0 * (f1.loglik - f0.loglik)).max(0.0);
            let df = f1.k().saturating_sub(f0.k()).max(1);
            let p_value = 1.0 - ChiSquared::new(df as f64).expect("df >= 1").cdf(statistic);
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
            " LR {} vs {}: statistic {:.2} on {} df, p {:.3};",
            t.null.name(),
            t.alternative.name(),
            t.statistic,
            t.df,
            t.p_value
        ));
    }
    if !lr_tests.is_empty() {
        reason.push_str(
            " the chi-squared p-values are only approximate (the jump rate sits on its boundary \
             0 under gbm, and the stress parameters are unidentified under jump).",
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
    Ok(Selection {
        fits,
        chosen,
        lr_tests,
        reason,
    })
}

//! The tornado: each perturbation's effect on P(spiral) (with its paired standard error)
//! and on the 95% CVaR of the horizon log-return, the two rankings, and the
//! `tornado.parquet` table.

use super::perturb::Perturbation;
use crate::stats::exact::paired_se;
use crate::workflows::compare::paired_proportion;
use anyhow::Result;
use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{Field, Schema};
use std::sync::Arc;

/// What one run contributes: P(spiral), the 95% CVaR of the log-return (a loss), spiral
/// flags, and each path's influence on that CVaR (`stats::exact::lower_tail_influence`,
/// negated for the loss), so an effect's CVaR difference gets a paired SE as P(spiral)'s does.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub p_spiral: f64,
    pub cvar95: f64,
    pub spiral: Vec<bool>,
    pub cvar95_influence: Vec<f64>,
}

/// One row of `tornado.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    pub parameter: String,
    pub rule: &'static str,
    pub base_value: f64,
    pub low_value: f64,
    pub high_value: f64,
    pub p_spiral_low: f64,
    pub p_spiral_high: f64,
    pub p_spiral_base: f64,
    /// `p_spiral_high - p_spiral_low`.
    pub effect_p_spiral: f64,
    /// Paired (common random numbers) SE of `effect_p_spiral`.
    pub effect_p_spiral_se: f64,
    pub cvar95_low: f64,
    pub cvar95_high: f64,
    pub cvar95_base: f64,
    /// `cvar95_high - cvar95_low`.
    pub effect_cvar95: f64,
    /// Paired (common random numbers) asymptotic SE of `effect_cvar95`, from the paths'
    /// influence values.
    pub effect_cvar95_se: f64,
    /// 1 = largest |effect_p_spiral| (ties: larger |effect_cvar95|, then name).
    pub rank: u32,
    /// 1 = largest |effect_cvar95| (ties: larger |effect_p_spiral|, then name).
    pub rank_cvar95: u32,
}

/// The effect of one perturbation; a missing side reads as the base.
pub fn effect(
    p: &Perturbation,
    base: &Outcome,
    low: Option<&Outcome>,
    high: Option<&Outcome>,
) -> Effect {
    let lo = low.unwrap_or(base);
    let hi = high.unwrap_or(base);
    Effect {
        parameter: p.parameter.clone(),
        rule: p.rule.name(),
        base_value: p.base_value,
        low_value: p.low_value,
        high_value: p.high_value,
        p_spiral_low: lo.p_spiral,
        p_spiral_high: hi.p_spiral,
        p_spiral_base: base.p_spiral,
        effect_p_spiral: hi.p_spiral - lo.p_spiral,
        effect_p_spiral_se: paired_proportion(&hi.spiral, &lo.spiral).se_paired,
        cvar95_low: lo.cvar95,
        cvar95_high: hi.cvar95,
        cvar95_base: base.cvar95,
        effect_cvar95: hi.cvar95 - lo.cvar95,
        effect_cvar95_se: paired_se(&lo.cvar95_influence, &hi.cvar95_influence),
        rank: 0,
        rank_cvar95: 0,
    }
}

fn magnitude(x: f64) -> f64 {
    if x.is_nan() {
        -1.0
    } else {
        x.abs()
    }
}

/// Assigns `rank` and `rank_cvar95` and sorts by `rank`.
pub fn rank(effects: &mut [Effect]) {
    // Sorts by |first| (ties: |second|, then name), largest first, and numbers the order.
    fn order(
        effects: &mut [Effect],
        first: fn(&Effect) -> f64,
        second: fn(&Effect) -> f64,
        set: fn(&mut Effect, u32),
    ) {
        effects.sort_by(|a, b| {
            magnitude(first(b))
                .total_cmp(&magnitude(first(a)))
                .then(magnitude(second(b)).total_cmp(&magnitude(second(a))))
                .then(a.parameter.cmp(&b.parameter))
        });
        for (i, e) in effects.iter_mut().enumerate() {
            set(e, i as u32 + 1);
        }
    }
    let p_spiral = |e: &Effect| e.effect_p_spiral;
    let cvar = |e: &Effect| e.effect_cvar95;
    order(effects, cvar, p_spiral, |e, r| e.rank_cvar95 = r);
    order(effects, p_spiral, cvar, |e, r| e.rank = r);
}

/// Column names of `tornado.parquet`, in order.
pub const TORNADO_COLUMNS: [&str; 17] = [
    "parameter",
    "base_value",
    "low_value",
    "high_value",
    "p_spiral_low",
    "p_spiral_high",
    "p_spiral_base",
    "effect_p_spiral",
    "cvar95_low",
    "cvar95_high",
    "cvar95_base",
    "effect_cvar95",
    "rank",
    "rank_cvar95",
    "effect_p_spiral_se",
    "rule",
    "effect_cvar95_se",
];

/// The `tornado.parquet` batch, rows in the order given (call [`rank`] first).
pub fn tornado_batch(effects: &[Effect]) -> Result<RecordBatch> {
    let f = |get: fn(&Effect) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(effects.iter().map(get)))
    };
    let u = |get: fn(&Effect) -> u32| -> ArrayRef {
        Arc::new(UInt32Array::from_iter_values(effects.iter().map(get)))
    };
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            effects.iter().map(|e| e.parameter.as_str()),
        )),
        f(|e| e.base_value),
        f(|e| e.low_value),
        f(|e| e.high_value),
        f(|e| e.p_spiral_low),
        f(|e| e.p_spiral_high),
        f(|e| e.p_spiral_base),
        f(|e| e.effect_p_spiral),
        f(|e| e.cvar95_low),
        f(|e| e.cvar95_high),
        f(|e| e.cvar95_base),
        f(|e| e.effect_cvar95),
        u(|e| e.rank),
        u(|e| e.rank_cvar95),
        f(|e| e.effect_p_spiral_se),
        Arc::new(StringArray::from_iter_values(
            effects.iter().map(|e| e.rule),
        )),
        f(|e| e.effect_cvar95_se),
    ];
    let fields: Vec<Field> = TORNADO_COLUMNS
        .iter()
        .zip(&arrays)
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), false))
        .collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflows::sensitivity::perturb::{Perturbation, Rule};

    #[test]
    fn ranks_follow_absolute_effects() {
        let o = |p: f64, c: f64| Outcome {
            p_spiral: p,
            cvar95: c,
            spiral: vec![false; 4],
            cvar95_influence: vec![0.0; 4],
        };
        let base = o(0.2, 1.0);
        let pert = |name: &str| Perturbation {
            parameter: name.into(),
            rule: Rule::Relative,
            base_value: 1.0,
            low_value: 0.9,
            high_value: 1.1,
            low: None,
            high: None,
        };
        let mut effects = vec![
            effect(&pert("a"), &base, Some(&o(0.19, 1.0)), Some(&o(0.21, 1.5))),
            effect(&pert("b"), &base, Some(&o(0.30, 1.0)), Some(&o(0.10, 1.1))),
            effect(&pert("c"), &base, Some(&o(0.20, 0.0)), None),
        ];
        rank(&mut effects);
        let order: Vec<(&str, u32, u32)> = effects
            .iter()
            .map(|e| (e.parameter.as_str(), e.rank, e.rank_cvar95))
            .collect();
        // |dp|: b 0.2, a 0.02, c 0; |dcvar|: c 1.0, a 0.5, b 0.1.
        assert_eq!(order, [("b", 1, 3), ("a", 2, 2), ("c", 3, 1)]);
        assert!((effects[0].effect_p_spiral + 0.2).abs() < 1e-12);
        assert_eq!(effects[2].effect_cvar95, 1.0 - 0.0);
        let batch = tornado_batch(&effects).unwrap();
        assert_eq!(batch.num_rows(), 3);
        let names = crate::output::parquet::column_names(&batch);
        assert_eq!(names, TORNADO_COLUMNS);
    }
}

//! Nelder-Mead maximisation on an unconstrained scale, for the small smooth likelihoods
//! that have no EM (the cost OU's four parameters). Derivative-free so a poor start far from
//! the optimum cannot send it off; `hessian::finish` polishes the result with Newton steps.

/// Maximises `f` from `x0` with initial simplex steps `step`; returns the best point.
pub fn nelder_mead(f: &dyn Fn(&[f64]) -> f64, x0: &[f64], step: &[f64], iters: usize) -> Vec<f64> {
    let k = x0.len();
    let neg = |x: &[f64]| {
        let v = -f(x);
        if v.is_nan() {
            f64::INFINITY
        } else {
            v
        }
    };
    let mut pts: Vec<(Vec<f64>, f64)> = (0..=k)
        .map(|i| {
            let mut x = x0.to_vec();
            if i > 0 {
                x[i - 1] += step[i - 1];
            }
            let v = neg(&x);
            (x, v)
        })
        .collect();
    for _ in 0..iters {
        pts.sort_by(|a, b| a.1.total_cmp(&b.1));
        if (pts[k].1 - pts[0].1).abs() < 1e-10 * (1.0 + pts[0].1.abs()) {
            break;
        }
        let c: Vec<f64> = (0..k)
            .map(|j| pts[..k].iter().map(|p| p.0[j]).sum::<f64>() / k as f64)
            .collect();
        let at = |t: f64| -> Vec<f64> { (0..k).map(|j| c[j] + t * (pts[k].0[j] - c[j])).collect() };
        let r = at(-1.0);
        let fr = neg(&r);
        if fr < pts[0].1 {
            let e = at(-2.0);
            let fe = neg(&e);
            pts[k] = if fe < fr { (e, fe) } else { (r, fr) };
        } else if fr < pts[k - 1].1 {
            pts[k] = (r, fr);
        } else {
            let ct = at(if fr < pts[k].1 { -0.5 } else { 0.5 });
            let fc = neg(&ct);
            if fc < pts[k].1.min(fr) {
                pts[k] = (ct, fc);
            } else {
                let best = pts[0].0.clone();
                for p in pts.iter_mut().skip(1) {
                    let x: Vec<f64> = (0..k).map(|j| best[j] + 0.5 * (p.0[j] - best[j])).collect();
                    let v = neg(&x);
                    *p = (x, v);
                }
            }
        }
    }
    pts.sort_by(|a, b| a.1.total_cmp(&b.1));
    pts.swap_remove(0).0
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_top_of_a_curved_ridge() {
        let f = |x: &[f64]| -(1.0 - x[0]).powi(2) - 10.0 * (x[1] - x[0] * x[0]).powi(2);
        let x = super::nelder_mead(&f, &[-1.0, 2.0], &[0.5, 0.5], 5000);
        assert!(
            (x[0] - 1.0).abs() < 1e-4 && (x[1] - 1.0).abs() < 1e-4,
            "{x:?}"
        );
    }
}

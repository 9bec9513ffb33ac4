//! Standard errors from the observed information: the Hessian of the log-likelihood at the
//! optimum by central differences on an unconstrained scale (logs of positive parameters,
//! logits of probabilities, the rest as they are), inverted, and mapped to the reported
//! parameters by the delta method with a numerical Jacobian. Also a few guarded Newton
//! steps on that scale to finish an optimum found by EM or Nelder-Mead.
//!
//! The inverse is a hand-written Cholesky (`stats::linalg` has only the 3x3 correlation
//! factor): the matrices are at most 10x10, and a Cholesky both inverts `-H` and is the
//! test that it is positive definite, which is when the standard errors mean anything.

/// Step of the central differences on the unconstrained scale.
const H: f64 = 2e-4;

/// A log-likelihood on the unconstrained scale (shared across threads: the Hessian's
/// evaluations run in parallel).
pub type LogLik<'a> = &'a (dyn Fn(&[f64]) -> f64 + Sync);

/// Central-difference Hessian of `f` at `x` (row-major, symmetric), the gradient from the
/// same evaluations, and `f(x)`. The `1 + 2k + 2k(k-1)` evaluations run in parallel.
pub fn hessian(f: LogLik, x: &[f64]) -> (Vec<f64>, Vec<f64>, f64) {
    use rayon::prelude::*;
    let k = x.len();
    let hs: Vec<f64> = x.iter().map(|v| H * (1.0 + v.abs())).collect();
    // Offsets: (i, si, j, sj) with j = usize::MAX for the axis points.
    let mut pts: Vec<(usize, f64, usize, f64)> = vec![(0, 0.0, usize::MAX, 0.0)];
    for i in 0..k {
        pts.push((i, 1.0, usize::MAX, 0.0));
        pts.push((i, -1.0, usize::MAX, 0.0));
        for j in 0..i {
            for (si, sj) in [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
                pts.push((i, si, j, sj));
            }
        }
    }
    let vals: Vec<f64> = pts
        .par_iter()
        .map(|&(i, si, j, sj)| {
            let mut y = x.to_vec();
            if si != 0.0 {
                y[i] += si * hs[i];
            }
            if j != usize::MAX {
                y[j] += sj * hs[j];
            }
            f(&y)
        })
        .collect();
    let f0 = vals[0];
    let mut out = vec![0.0; k * k];
    let mut grad = vec![0.0; k];
    let mut at = 1;
    for i in 0..k {
        let (a, b) = (vals[at], vals[at + 1]);
        at += 2;
        out[i * k + i] = (a - 2.0 * f0 + b) / (hs[i] * hs[i]);
        grad[i] = (a - b) / (2.0 * hs[i]);
        for j in 0..i {
            let v = (vals[at] - vals[at + 1] - vals[at + 2] + vals[at + 3]) / (4.0 * hs[i] * hs[j]);
            at += 4;
            out[i * k + j] = v;
            out[j * k + i] = v;
        }
    }
    (out, grad, f0)
}

/// Lower Cholesky factor of the symmetric `a` (k x k), or `None` when it is not positive
/// definite.
pub fn cholesky(a: &[f64], k: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..=i {
            let mut s = a[i * k + j];
            for p in 0..j {
                s -= l[i * k + p] * l[j * k + p];
            }
            if i == j {
                if !(s > 0.0 && s.is_finite()) {
                    return None;
                }
                l[i * k + i] = s.sqrt();
            } else {
                l[i * k + j] = s / l[j * k + j];
            }
        }
    }
    Some(l)
}

/// Inverse of a symmetric positive definite matrix, `None` when it is not one.
pub fn spd_inverse(a: &[f64], k: usize) -> Option<Vec<f64>> {
    let l = cholesky(a, k)?;
    // Solve L L^T X = I column by column.
    let mut inv = vec![0.0; k * k];
    for c in 0..k {
        let mut z = vec![0.0; k];
        for i in 0..k {
            let mut s = if i == c { 1.0 } else { 0.0 };
            for p in 0..i {
                s -= l[i * k + p] * z[p];
            }
            z[i] = s / l[i * k + i];
        }
        for i in (0..k).rev() {
            let mut s = z[i];
            for p in i + 1..k {
                s -= l[p * k + i] * inv[p * k + c];
            }
            inv[i * k + c] = s / l[i * k + i];
        }
    }
    Some(inv)
}

/// Solves `a x = b` for symmetric positive definite `a`.
fn spd_solve(a: &[f64], b: &[f64]) -> Option<Vec<f64>> {
    let k = b.len();
    let inv = spd_inverse(a, k)?;
    Some(
        (0..k)
            .map(|i| (0..k).map(|j| inv[i * k + j] * b[j]).sum())
            .collect(),
    )
}

/// What `finish` found: the point, its log-likelihood, the covariance of the unconstrained
/// parameters (`None` when `-H` is not positive definite), and whether the Newton
/// decrement fell below tolerance.
pub struct Finished {
    pub theta: Vec<f64>,
    pub loglik: f64,
    pub cov: Option<Vec<f64>>,
    pub converged: bool,
}

/// Newton decrement `g' (-H)^-1 g / 2` (the expected log-likelihood gain of a full step)
/// below which the optimum counts as found: the estimates are then within about
/// `sqrt(2e-5)` = 0.005 standard errors of the maximum.
pub const DECREMENT_TOL: f64 = 1e-5;

/// Up to `steps` guarded Newton steps from `theta` on the log-likelihood `f` (each one
/// halved until it increases `f`), then the observed information at the final point.
pub fn finish(f: LogLik, theta: Vec<f64>, steps: usize) -> Finished {
    let k = theta.len();
    let mut x = theta;
    let mut converged = false;
    let mut last = None;
    for _ in 0..=steps {
        let (h, g, f0) = hessian(f, &x);
        let neg: Vec<f64> = h.iter().map(|v| -v).collect();
        let Some(step) = spd_solve(&neg, &g) else {
            last = Some((neg, f0));
            break;
        };
        let dec: f64 = 0.5 * g.iter().zip(&step).map(|(a, b)| a * b).sum::<f64>();
        if dec.abs() < DECREMENT_TOL {
            converged = true;
            last = Some((neg, f0));
            break;
        }
        let mut t = 1.0;
        let mut moved = false;
        for _ in 0..20 {
            let y: Vec<f64> = x.iter().zip(&step).map(|(a, s)| a + t * s).collect();
            if f(&y) > f0 {
                x = y;
                moved = true;
                break;
            }
            t *= 0.5;
        }
        last = Some((neg, f0));
        if !moved {
            // No ascent along the Newton direction: at the optimum to within rounding.
            converged = dec.abs() < 1e-3;
            break;
        }
        last = None;
    }
    let (neg, loglik) = match last {
        Some(v) => v,
        None => {
            let (h, _, f0) = hessian(f, &x);
            (h.iter().map(|v| -v).collect(), f0)
        }
    };
    let cov = spd_inverse(&neg, k);
    Finished {
        theta: x,
        loglik,
        converged: converged && cov.is_some(),
        cov,
    }
}

/// The delta method: the covariance of `report(theta)` given that of `theta`, with the
/// Jacobian by central differences.
pub fn delta_method(report: &dyn Fn(&[f64]) -> Vec<f64>, theta: &[f64], cov: &[f64]) -> Vec<f64> {
    let k = theta.len();
    let m = report(theta).len();
    let mut jac = vec![0.0; m * k];
    let mut y = theta.to_vec();
    for j in 0..k {
        let h = 1e-6 * (1.0 + theta[j].abs());
        y[j] = theta[j] + h;
        let a = report(&y);
        y[j] = theta[j] - h;
        let b = report(&y);
        y[j] = theta[j];
        for i in 0..m {
            jac[i * k + j] = (a[i] - b[i]) / (2.0 * h);
        }
    }
    let mut out = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..m {
            let mut s = 0.0;
            for p in 0..k {
                for q in 0..k {
                    s += jac[i * k + p] * cov[p * k + q] * jac[j * k + q];
                }
            }
            out[i * m + j] = s;
        }
    }
    out
}

pub fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

pub fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_and_hessian_of_a_quadratic() {
        // f = -(x^T A x) / 2 has Hessian -A; its inverse is A^-1.
        let a = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
        let f = |x: &[f64]| {
            -0.5 * (0..3)
                .flat_map(|i| (0..3).map(move |j| (i, j)))
                .map(|(i, j)| x[i] * a[i * 3 + j] * x[j])
                .sum::<f64>()
        };
        let (h, _, _) = hessian(&f, &[0.3, -0.2, 0.1]);
        for i in 0..9 {
            assert!((h[i] + a[i]).abs() < 1e-6, "{h:?}");
        }
        let inv = spd_inverse(&a, 3).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|p| a[i * 3 + p] * inv[p * 3 + j]).sum();
                assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        assert!(spd_inverse(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
        let done = finish(&f, vec![0.3, -0.2, 0.1], 5);
        assert!(done.converged && done.theta.iter().all(|v| v.abs() < 1e-6));
    }
}

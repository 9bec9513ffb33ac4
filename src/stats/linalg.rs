//! The one piece of linear algebra the model needs: the Cholesky factor of a 3 x 3
//! correlation matrix, used by validation (is the matrix positive definite?) and by the
//! model (correlated shocks). Hand-written: three rows do not justify a dependency.

/// Lower Cholesky factor of [[1, a, b], [a, 1, c], [b, c, 1]] (a = price_demand,
/// b = price_cost, c = demand_cost); None unless positive definite.
pub fn cholesky3(a: f64, b: f64, c: f64) -> Option<[f64; 6]> {
    let l11 = 1.0;
    let l21 = a;
    let d2 = 1.0 - l21 * l21;
    if d2.is_nan() || d2 <= 1e-12 {
        return None;
    }
    let l22 = d2.sqrt();
    let l31 = b;
    let l32 = (c - l31 * l21) / l22;
    let d3 = 1.0 - l31 * l31 - l32 * l32;
    if d3.is_nan() || d3 <= 1e-12 {
        return None;
    }
    Some([l11, l21, l22, l31, l32, d3.sqrt()])
}

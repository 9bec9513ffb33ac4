//! Fixed-width lanes of f64 for the CPU engine's structure-of-arrays step.
//!
//! `F64s<N>` is `N` paths' values of one state variable; every operation is element-wise and
//! written as a plain loop over `[f64; N]`, which LLVM turns into vector instructions of
//! whatever width the calling function is compiled for (the engine compiles its kernel for
//! AVX-512, AVX2 and baseline x86-64 and picks one at run time; see `engine::cpu`). `N = 1`
//! is the scalar reference (`model::simulate_path`); because each lane runs the same IEEE
//! operations in the same order, lane `i` of an `N = 8` run is bit-identical to the `N = 1`
//! run of the same path, on every instruction set. That is why this module never calls libm
//! (results differ between libm versions, and a call per lane does not vectorize): `exp` and
//! `ln` below are our own. Their polynomials use `mul_add`, which is correctly rounded
//! everywhere (one `vfmadd` in the AVX2/AVX-512 kernels, glibc's `fma` elsewhere), so fusing
//! changes no bits between instruction sets while halving the latency of each Horner step;
//! the model's own arithmetic is never fused.
//!
//! Data-dependent branches become [`Mask`] selects; branches on scenario parameters stay
//! ordinary `if`s around lane code, since they go the same way for every path.

// Indexed loops over `0..N` are the point here (the shape LLVM vectorizes), the operator
// macro spells `a = a op b` for every op, and fdlibm's constants are kept as published.
#![allow(
    clippy::needless_range_loop,
    clippy::assign_op_pattern,
    clippy::excessive_precision
)]

use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// How a `u32`, `bool` or `i32` field of a per-path state is held as f64 in a lane
/// (exactly: all are small integers).
pub trait LaneValue: Copy {
    fn to_lane(self) -> f64;
    fn from_lane(x: f64) -> Self;
}
impl LaneValue for f64 {
    fn to_lane(self) -> f64 {
        self
    }
    fn from_lane(x: f64) -> f64 {
        x
    }
}
impl LaneValue for u32 {
    fn to_lane(self) -> f64 {
        self as f64
    }
    fn from_lane(x: f64) -> u32 {
        x as u32
    }
}
impl LaneValue for i32 {
    fn to_lane(self) -> f64 {
        self as f64
    }
    fn from_lane(x: f64) -> i32 {
        x as i32
    }
}
impl LaneValue for bool {
    fn to_lane(self) -> f64 {
        self as u32 as f64
    }
    fn from_lane(x: f64) -> bool {
        x != 0.0
    }
}

/// One value per path of a lane group.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(transparent)]
pub struct F64s<const N: usize>(pub [f64; N]);

/// One boolean per path of a lane group.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(transparent)]
pub struct Mask<const N: usize>(pub [bool; N]);

impl<const N: usize> F64s<N> {
    #[inline(always)]
    pub fn splat(x: f64) -> Self {
        F64s([x; N])
    }

    /// `f` applied to every lane. `f` must be branch-free (or simple enough for selects) for
    /// the loop to vectorize; every caller here is.
    #[inline(always)]
    pub fn map(self, f: impl Fn(f64) -> f64) -> Self {
        let mut out = [0.0; N];
        for i in 0..N {
            out[i] = f(self.0[i]);
        }
        F64s(out)
    }

    #[inline(always)]
    pub fn zip(self, o: Self, f: impl Fn(f64, f64) -> f64) -> Self {
        let mut out = [0.0; N];
        for i in 0..N {
            out[i] = f(self.0[i], o.0[i]);
        }
        F64s(out)
    }

    #[inline(always)]
    fn compare(self, o: Self, f: impl Fn(f64, f64) -> bool) -> Mask<N> {
        let mut out = [false; N];
        for i in 0..N {
            out[i] = f(self.0[i], o.0[i]);
        }
        Mask(out)
    }

    /// `f64::min` per lane (a NaN operand yields the other one, as in scalar Rust).
    #[inline(always)]
    pub fn min(self, o: impl Into<Self>) -> Self {
        self.zip(o.into(), f64::min)
    }
    #[inline(always)]
    pub fn max(self, o: impl Into<Self>) -> Self {
        self.zip(o.into(), f64::max)
    }
    /// `f64::clamp` per lane without its panic: NaN stays NaN.
    #[inline(always)]
    pub fn clamp(self, lo: impl Into<Self>, hi: impl Into<Self>) -> Self {
        let (lo, hi) = (lo.into(), hi.into());
        let mut out = self.0;
        for i in 0..N {
            if out[i] < lo.0[i] {
                out[i] = lo.0[i];
            }
            if out[i] > hi.0[i] {
                out[i] = hi.0[i];
            }
        }
        F64s(out)
    }
    #[inline(always)]
    pub fn sqrt(self) -> Self {
        self.map(f64::sqrt)
    }
    #[inline(always)]
    pub fn exp(self) -> Self {
        self.map(exp)
    }
    #[inline(always)]
    pub fn ln(self) -> Self {
        self.map(ln)
    }
    #[inline(always)]
    pub fn lt(self, o: impl Into<Self>) -> Mask<N> {
        self.compare(o.into(), |a, b| a < b)
    }
    #[inline(always)]
    pub fn gt(self, o: impl Into<Self>) -> Mask<N> {
        self.compare(o.into(), |a, b| a > b)
    }
    #[inline(always)]
    pub fn ge(self, o: impl Into<Self>) -> Mask<N> {
        self.compare(o.into(), |a, b| a >= b)
    }
    #[inline(always)]
    pub fn ne(self, o: impl Into<Self>) -> Mask<N> {
        self.compare(o.into(), |a, b| a != b)
    }
    #[inline(always)]
    pub fn eq(self, o: impl Into<Self>) -> Mask<N> {
        self.compare(o.into(), |a, b| a == b)
    }
    /// True when every lane holds the same bits as lane 0 (used to compute path-independent
    /// quantities once).
    #[inline(always)]
    pub fn is_uniform(self) -> bool {
        // No early exit: a fold over all lanes vectorizes, a short-circuit does not.
        let first = self.0[0].to_bits();
        self.0
            .iter()
            .fold(true, |same, x| same & (x.to_bits() == first))
    }
}

impl<const N: usize> From<f64> for F64s<N> {
    #[inline(always)]
    fn from(x: f64) -> Self {
        F64s::splat(x)
    }
}

impl<const N: usize> Mask<N> {
    /// `if mask { a } else { b }` per lane.
    #[inline(always)]
    pub fn select(self, a: impl Into<F64s<N>>, b: impl Into<F64s<N>>) -> F64s<N> {
        let (a, b) = (a.into(), b.into());
        let mut out = [0.0; N];
        for i in 0..N {
            out[i] = if self.0[i] { a.0[i] } else { b.0[i] };
        }
        F64s(out)
    }
    #[inline(always)]
    pub fn and(self, o: Self) -> Self {
        let mut out = self.0;
        for i in 0..N {
            out[i] &= o.0[i];
        }
        Mask(out)
    }
    #[inline(always)]
    pub fn or(self, o: Self) -> Self {
        let mut out = self.0;
        for i in 0..N {
            out[i] |= o.0[i];
        }
        Mask(out)
    }
    #[inline(always)]
    pub fn any(self) -> bool {
        self.0.iter().any(|&b| b)
    }
    /// 1.0 where set, 0.0 elsewhere.
    #[inline(always)]
    pub fn to_f64s(self) -> F64s<N> {
        self.select(1.0, 0.0)
    }
}

macro_rules! lanewise_op {
    ($trait:ident, $method:ident, $assign_trait:ident, $assign_method:ident, $op:tt) => {
        impl<const N: usize> $trait for F64s<N> {
            type Output = F64s<N>;
            #[inline(always)]
            fn $method(self, o: F64s<N>) -> F64s<N> {
                let mut out = self.0;
                for i in 0..N {
                    out[i] = out[i] $op o.0[i];
                }
                F64s(out)
            }
        }
        impl<const N: usize> $trait<f64> for F64s<N> {
            type Output = F64s<N>;
            #[inline(always)]
            fn $method(self, o: f64) -> F64s<N> {
                self $op F64s::splat(o)
            }
        }
        impl<const N: usize> $trait<F64s<N>> for f64 {
            type Output = F64s<N>;
            #[inline(always)]
            fn $method(self, o: F64s<N>) -> F64s<N> {
                F64s::splat(self) $op o
            }
        }
        impl<const N: usize, T: Into<F64s<N>>> $assign_trait<T> for F64s<N> {
            #[inline(always)]
            fn $assign_method(&mut self, o: T) {
                *self = *self $op o.into();
            }
        }
    };
}
lanewise_op!(Add, add, AddAssign, add_assign, +);
lanewise_op!(Sub, sub, SubAssign, sub_assign, -);
lanewise_op!(Mul, mul, MulAssign, mul_assign, *);
lanewise_op!(Div, div, DivAssign, div_assign, /);

impl<const N: usize> Neg for F64s<N> {
    type Output = F64s<N>;
    #[inline(always)]
    fn neg(self) -> F64s<N> {
        self.map(|x| -x)
    }
}

/// The integer nearest to `x` (ties to even), as f64 and as i64, for |x| < 2^51: adding
/// 1.5 * 2^52 leaves exactly that integer in the low bits of the sum. Exact, branch-free and
/// without a saturating float-to-int conversion, so it vectorizes; f64::round is a libm call
/// on baseline x86-64.
#[inline(always)]
pub fn nearest_integer(x: f64) -> (f64, i64) {
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    let shifted = x + SHIFT;
    (
        shifted - SHIFT,
        shifted.to_bits() as i64 - SHIFT.to_bits() as i64,
    )
}

/// e^x to within about 1 ulp, branch-free so that it vectorizes; same special values as
/// `f64::exp` (NaN, +inf for x > 709.78, 0 below -745.1, subnormal results in between).
///
/// x = n ln2 + r with |r| <= ln2/2 (Cody-Waite, ln2 split so n ln2_hi is exact), e^r by its
/// Taylor series to r^13 (truncation below 5e-18 relative), then scaled by 2^n built from
/// bits in two halves so that n = 1024 overflows and n < -1022 goes subnormal correctly.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1; // 0x3FE62E42FEE00000
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    // Outside [-746, 710] the result is 0 or inf anyway; clamping keeps n in range.
    let xc = x.clamp(-746.0, 710.0);
    let (n_f, n) = nearest_integer(xc * LOG2E);
    let r = (xc - n_f * LN2_HI) - n_f * LN2_LO;
    let mut q = 1.0 / 6_227_020_800.0;
    q = r.mul_add(q, 1.0 / 479_001_600.0);
    q = r.mul_add(q, 1.0 / 39_916_800.0);
    q = r.mul_add(q, 1.0 / 3_628_800.0);
    q = r.mul_add(q, 1.0 / 362_880.0);
    q = r.mul_add(q, 1.0 / 40_320.0);
    q = r.mul_add(q, 1.0 / 5_040.0);
    q = r.mul_add(q, 1.0 / 720.0);
    q = r.mul_add(q, 1.0 / 120.0);
    q = r.mul_add(q, 1.0 / 24.0);
    q = r.mul_add(q, 1.0 / 6.0);
    q = r.mul_add(q, 0.5);
    q = r.mul_add(q, 1.0);
    let er = r.mul_add(q, 1.0);
    let n1 = n >> 1;
    let n2 = n - n1;
    let s1 = f64::from_bits(((n1 + 1023) as u64) << 52);
    let s2 = f64::from_bits(((n2 + 1023) as u64) << 52);
    let y = er * s1 * s2;
    // clamp() turned NaN into NaN already (comparisons with NaN are false), but be explicit.
    if x.is_nan() {
        x
    } else {
        y
    }
}

/// Natural logarithm to within about 1 ulp, branch-free (fdlibm's `__ieee754_log` reduction
/// and minimax polynomial); same special values as `f64::ln`: ln 0 = -inf, ln of a negative
/// number or NaN = NaN, ln inf = inf, subnormals handled.
#[inline(always)]
pub fn ln(x: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    const LG1: f64 = 6.666_666_666_666_735_130e-1;
    const LG2: f64 = 3.999_999_999_940_941_908e-1;
    const LG3: f64 = 2.857_142_874_366_239_149e-1;
    const LG4: f64 = 2.222_219_843_214_978_396e-1;
    const LG5: f64 = 1.818_357_216_161_805_012e-1;
    const LG6: f64 = 1.531_383_769_920_937_332e-1;
    const LG7: f64 = 1.479_819_860_511_658_591e-1;
    const TWO54: f64 = 18_014_398_509_481_984.0;
    let subnormal = x < f64::MIN_POSITIVE;
    let xs = if subnormal { x * TWO54 } else { x };
    let bits = xs.to_bits();
    let mut k = ((bits >> 52) & 0x7ff) as i64 - 1023 - if subnormal { 54 } else { 0 };
    // Mantissa in [1, 2), then moved to [sqrt(2)/2, sqrt(2)).
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let high = m > std::f64::consts::SQRT_2;
    if high {
        m *= 0.5;
        k += 1;
    }
    let f = m - 1.0;
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * w.mul_add(w.mul_add(LG6, LG4), LG2);
    let t2 = z * w.mul_add(w.mul_add(w.mul_add(LG7, LG5), LG3), LG1);
    let r = t2 + t1;
    let dk = k as f64;
    let y = dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f);
    if x > 0.0 && x < f64::INFINITY {
        y
    } else if x == 0.0 {
        f64::NEG_INFINITY
    } else if x == f64::INFINITY {
        x
    } else {
        f64::NAN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative error in units of the last place of the libm result.
    fn ulps(ours: f64, libm: f64) -> f64 {
        if ours == libm {
            return 0.0;
        }
        let ulp = (libm.abs() * f64::EPSILON).max(f64::from_bits(1));
        (ours - libm).abs() / ulp
    }

    #[test]
    fn exp_within_two_ulps_of_libm() {
        let mut worst: f64 = 0.0;
        let mut x = -745.0;
        while x < 709.7 {
            worst = worst.max(ulps(exp(x), x.exp()));
            x += 0.000_731;
        }
        for x in [
            -1e-300, 0.0, 1e-300, 1e-12, -1e-12, 0.5, -0.5, 1.0, 709.78, -708.0,
        ] {
            worst = worst.max(ulps(exp(x), x.exp()));
        }
        assert!(worst <= 2.0, "max error {worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(710.0), f64::INFINITY);
        assert_eq!(exp(1e300), f64::INFINITY);
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(-1e300), 0.0);
        assert!(exp(f64::NAN).is_nan());
        // Subnormal results: within one subnormal step.
        assert!((exp(-740.0) - (-740.0f64).exp()).abs() <= f64::from_bits(1));
    }

    #[test]
    fn ln_within_one_ulp_of_libm() {
        let mut worst: f64 = 0.0;
        let mut x = 1e-300;
        while x < 1e300 {
            worst = worst.max(ulps(ln(x), x.ln()));
            x *= 1.000_913;
        }
        let mut x = 0.5;
        while x < 2.0 {
            worst = worst.max(ulps(ln(x), x.ln()));
            x += 1.37e-5;
        }
        for x in [
            f64::MIN_POSITIVE,
            5e-324,
            1e-310,
            f64::MAX,
            1.0 + f64::EPSILON,
        ] {
            worst = worst.max(ulps(ln(x), x.ln()));
        }
        assert!(worst <= 1.0, "max error {worst} ulp");
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(ln(0.0), f64::NEG_INFINITY);
        assert_eq!(ln(-0.0), f64::NEG_INFINITY);
        assert_eq!(ln(f64::INFINITY), f64::INFINITY);
        assert!(ln(-1.0).is_nan());
        assert!(ln(f64::NAN).is_nan());
    }

    #[test]
    fn lanes_match_scalar_lane_by_lane() {
        let xs = F64s([-3.0, 0.25, 1.0, 7.5, f64::NAN, 0.0, -0.0, 1e300]);
        let ys = F64s::<8>::splat(0.5);
        let clamped = xs.clamp(-1.0, 2.0);
        for i in 0..8 {
            let x = xs.0[i];
            assert_eq!(
                clamped.0[i].to_bits(),
                x.clamp(-1.0, 2.0).to_bits(),
                "lane {i}"
            );
            assert_eq!((xs.min(ys)).0[i].to_bits(), x.min(0.5).to_bits());
            assert_eq!((xs.max(ys)).0[i].to_bits(), x.max(0.5).to_bits());
            assert_eq!(xs.exp().0[i].to_bits(), exp(x).to_bits());
            assert_eq!(xs.gt(0.0).0[i], x > 0.0);
        }
        assert!(xs.gt(5.0).any());
        assert!(!xs.gt(1e301).any());
        assert!(F64s::<4>::splat(2.0).is_uniform());
        assert!(!xs.is_uniform());
    }
}

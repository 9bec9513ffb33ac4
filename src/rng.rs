//! Philox4x32-10 counter-based random numbers, shared word for word with the GPU engine
//! (`shaders/common/philox.wgsl` is the WGSL twin).
//!
//! Every draw is addressed, not sequential: key = the run seed, counter = (path id, step,
//! stream id, path id high word). A path therefore sees the same numbers whatever the
//! thread count, chunking, sharding or design being simulated (common random numbers).
//!
//! One Philox call yields four 32-bit words (`docs/MODEL.md`, "Random numbers", says which
//! word each draw uses: stream 0's four feed two Box-Muller pairs, stream 1 has one word
//! reserved, stream 2 is drawn only on steps with a cost jump). A uniform uses one word,
//! `u = (w + 0.5) / 2^32` in f64 here; the GPU takes its discrete decisions by comparing the
//! same raw word with integer thresholds, so both engines turn the *same word* into the same
//! decision. (53-bit uniforms would need two words each and break that correspondence.)

use crate::lanes::{self, F64s};

/// Stream ids: one per purpose, fixed forever. A new mechanism takes a new id so it never
/// shifts the draws of an existing one.
pub mod stream {
    /// Four normals: the three independent normals behind (Zp, Zd, Zc) and the price-jump size.
    pub const MARKET_NORMALS: u32 = 0;
    /// Four uniforms: regime switch, price-jump count, cost-jump count, reserved.
    pub const EVENT_UNIFORMS: u32 = 1;
    /// Normals for the GPU-cost jump size (drawn only on steps with a cost jump).
    pub const COST_JUMP_NORMALS: u32 = 2;
    /// Two words per uncertain governance change, drawn once per path with a hash of the
    /// change's name as the counter's step: word 0 decides whether it is enacted, word 1 its day.
    pub const GOVERNANCE: u32 = 3;
}

pub const PHILOX_M0: u32 = 0xD251_1F53;
pub const PHILOX_M1: u32 = 0xCD9E_8D57;
pub const PHILOX_W0: u32 = 0x9E37_79B9;
pub const PHILOX_W1: u32 = 0xBB67_AE85;

/// Philox4x32 with 10 rounds: four counter words and two key words to four output words.
///
/// The 32-bit words are held in u64 (always below 2^32), so each 32x32->64 multiply is one
/// `pmuludq` per vector of lanes and no round narrows or widens words: the lane loop in
/// [`draw_words_lanes`] vectorizes to about 8 instructions per round. Same words as the
/// textbook u32 form (known-answer tests below).
#[inline(always)]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter.map(|w| w as u64);
    for round_key in philox_round_keys(key) {
        c = philox_round(c, round_key);
    }
    c.map(|w| w as u32)
}

/// Two Philox4x32-10 calls under one key, round by round together: the same words as two
/// [`philox4x32_10`] calls (tested), but the two multiply chains are interleaved in the
/// instruction stream, so a lane group overlaps their latency instead of waiting on one
/// chain at a time (the step draws two word blocks per step).
#[inline(always)]
pub fn philox4x32_10_pair(a: [u32; 4], b: [u32; 4], key: [u32; 2]) -> ([u32; 4], [u32; 4]) {
    let mut c = a.map(|w| w as u64);
    let mut d = b.map(|w| w as u64);
    for round_key in philox_round_keys(key) {
        c = philox_round(c, round_key);
        d = philox_round(d, round_key);
    }
    (c.map(|w| w as u32), d.map(|w| w as u32))
}

const LOW32: u64 = 0xFFFF_FFFF;

/// The key of each of the 10 rounds (the Weyl sequence of the key), as u64 below 2^32.
#[inline(always)]
fn philox_round_keys(key: [u32; 2]) -> [[u64; 2]; 10] {
    let mut k = [key[0] as u64, key[1] as u64];
    let mut keys = [[0u64; 2]; 10];
    for round_key in &mut keys {
        *round_key = k;
        k = [
            (k[0] + PHILOX_W0 as u64) & LOW32,
            (k[1] + PHILOX_W1 as u64) & LOW32,
        ];
    }
    keys
}

/// One Philox4x32 round on words held in u64.
#[inline(always)]
fn philox_round(c: [u64; 4], k: [u64; 2]) -> [u64; 4] {
    let p0 = PHILOX_M0 as u64 * c[0];
    let p1 = PHILOX_M1 as u64 * c[2];
    [
        (p1 >> 32) ^ c[1] ^ k[0],
        p1 & LOW32,
        (p0 >> 32) ^ c[3] ^ k[1],
        p0 & LOW32,
    ]
}

/// The key for a run seed.
#[inline]
pub fn seed_key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The four words drawn for (path, step, stream).
#[inline(always)]
pub fn draw_words(key: [u32; 2], path: u64, step: u32, stream_id: u32) -> [u32; 4] {
    philox4x32_10(counter(path, step, stream_id), key)
}

/// The Philox counter of (path, step, stream): the layout every engine uses.
#[inline(always)]
fn counter(path: u64, step: u32, stream_id: u32) -> [u32; 4] {
    [path as u32, step, stream_id, (path >> 32) as u32]
}

/// Uniform in the open interval (0, 1) from one 32-bit word.
#[inline(always)]
pub fn uniform_open(word: u32) -> f64 {
    (word as f64 + 0.5) * (1.0 / 4_294_967_296.0)
}

/// Two independent standard normals from two words (Box-Muller). Branch-free and libm-free
/// (`lanes::ln`, [`sin_cos_tau`]) so the lane version below vectorizes and gives the same bits.
#[inline(always)]
pub fn box_muller(w0: u32, w1: u32) -> (f64, f64) {
    let u0 = uniform_open(w0);
    let u1 = uniform_open(w1);
    let r = (-2.0 * lanes::ln(u0)).sqrt();
    let (s, c) = sin_cos_tau(u1);
    (r * c, r * s)
}

/// (sin 2*pi*u, cos 2*pi*u) for u in [0, 1]: exact quadrant reduction (4u minus the nearest
/// integer is exact in binary), then Taylor polynomials on [-pi/4, pi/4] (truncation below
/// 5e-17). About four times faster than libm's general `sin_cos`, which was 14% of a
/// simulation profile, and within 2e-16 of it. The quadrant is applied with selects, not a
/// jump table, so lanes of paths vectorize.
#[inline(always)]
pub fn sin_cos_tau(u: f64) -> (f64, f64) {
    let v = 4.0 * u;
    // Ties cannot occur for v = 4 (w + 0.5) / 2^32.
    let (nearest, quadrant) = lanes::nearest_integer(v);
    let x = (v - nearest) * std::f64::consts::FRAC_PI_2;
    let x2 = x * x;
    // sin x = x (1 - x^2/3! + x^4/5! - ... + x^14/15!)
    let sp = -1.0 / 1_307_674_368_000.0;
    let sp = x2.mul_add(sp, 1.0 / 6_227_020_800.0);
    let sp = x2.mul_add(sp, -1.0 / 39_916_800.0);
    let sp = x2.mul_add(sp, 1.0 / 362_880.0);
    let sp = x2.mul_add(sp, -1.0 / 5040.0);
    let sp = x2.mul_add(sp, 1.0 / 120.0);
    let sp = x2.mul_add(sp, -1.0 / 6.0);
    let sin_x = (x * x2).mul_add(sp, x);
    // cos x = 1 - x^2/2! + x^4/4! - ... + x^16/16!
    let cp = 1.0 / 20_922_789_888_000.0;
    let cp = x2.mul_add(cp, -1.0 / 87_178_291_200.0);
    let cp = x2.mul_add(cp, 1.0 / 479_001_600.0);
    let cp = x2.mul_add(cp, -1.0 / 3_628_800.0);
    let cp = x2.mul_add(cp, 1.0 / 40_320.0);
    let cp = x2.mul_add(cp, -1.0 / 720.0);
    let cp = x2.mul_add(cp, 1.0 / 24.0);
    let cp = x2.mul_add(cp, -0.5);
    let cos_x = x2.mul_add(cp, 1.0);
    // Quadrant q: sin = (sin_x, cos_x, -sin_x, -cos_x)[q], cos = (cos_x, -sin_x, -cos_x, sin_x)[q].
    let odd = quadrant & 1 != 0;
    let (a, b) = if odd { (cos_x, sin_x) } else { (sin_x, cos_x) };
    let sin = if quadrant & 2 != 0 { -a } else { a };
    let cos = if (quadrant ^ (quadrant >> 1)) & 1 != 0 {
        -b
    } else {
        b
    };
    (sin, cos)
}

/// Largest Poisson count returned per step. Typical per-step intensities are small (a rate
/// of 12 per year is 0.033 per daily step: P(N > 16) below 1e-40), but validation allows
/// rates up to 365 per year with steps up to 365 days, where the cap binds; `docs/MODEL.md`
/// lists this among the model's choices.
pub const POISSON_MAX: u32 = 16;

/// Poisson count by inversion of the CDF, given `exp(-lambda)` precomputed by the caller.
#[inline(always)]
pub fn poisson_inversion(u: f64, lambda: f64, exp_neg_lambda: f64) -> u32 {
    let mut k = 0u32;
    let mut p = exp_neg_lambda;
    let mut cdf = p;
    while u > cdf && k < POISSON_MAX {
        k += 1;
        p *= lambda / k as f64;
        cdf += p;
    }
    k
}

/// [`draw_words`] for `N` paths at once: `words[j][lane]` is word `j` of path `paths[lane]`.
#[inline(always)]
pub fn draw_words_lanes<const N: usize>(
    key: [u32; 2],
    paths: &[u64; N],
    step: u32,
    stream_id: u32,
) -> [[u32; N]; 4] {
    let mut words = [[0u32; N]; 4];
    for lane in 0..N {
        let w = draw_words(key, paths[lane], step, stream_id);
        for j in 0..4 {
            words[j][lane] = w[j];
        }
    }
    words
}

/// [`draw_words_lanes`] of two streams at once (the same words; see [`philox4x32_10_pair`]).
#[inline(always)]
pub fn draw_two_streams_lanes<const N: usize>(
    key: [u32; 2],
    paths: &[u64; N],
    step: u32,
    streams: [u32; 2],
) -> ([[u32; N]; 4], [[u32; N]; 4]) {
    let mut a = [[0u32; N]; 4];
    let mut b = [[0u32; N]; 4];
    for lane in 0..N {
        let (wa, wb) = philox4x32_10_pair(
            counter(paths[lane], step, streams[0]),
            counter(paths[lane], step, streams[1]),
            key,
        );
        for j in 0..4 {
            a[j][lane] = wa[j];
            b[j][lane] = wb[j];
        }
    }
    (a, b)
}

/// [`uniform_open`] per lane.
#[inline(always)]
pub fn uniform_open_lanes<const N: usize>(words: &[u32; N]) -> F64s<N> {
    let mut out = [0.0; N];
    for i in 0..N {
        out[i] = uniform_open(words[i]);
    }
    F64s(out)
}

/// [`box_muller`] per lane.
#[inline(always)]
pub fn box_muller_lanes<const N: usize>(w0: &[u32; N], w1: &[u32; N]) -> (F64s<N>, F64s<N>) {
    let (mut a, mut b) = ([0.0; N], [0.0; N]);
    for i in 0..N {
        (a[i], b[i]) = box_muller(w0[i], w1[i]);
    }
    (F64s(a), F64s(b))
}

/// [`poisson_inversion`] per lane, the count as f64. Identical counts: lanes still searching
/// at iteration k hold exactly the scalar loop's `p` and `cdf`; finished lanes stop counting
/// (their `cdf` only grows, so they stay finished). Stops when no lane is searching, which
/// for the small per-step intensities of the model is almost always after one comparison.
#[inline(always)]
pub fn poisson_inversion_lanes<const N: usize>(
    u: F64s<N>,
    lambda: F64s<N>,
    exp_neg_lambda: F64s<N>,
) -> F64s<N> {
    let mut k = F64s::splat(0.0);
    let mut p = exp_neg_lambda;
    let mut cdf = p;
    for i in 1..=POISSON_MAX {
        let searching = u.gt(cdf);
        if !searching.any() {
            break;
        }
        k += searching.to_f64s();
        p *= lambda / i as f64;
        cdf += p;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Random123 known-answer vectors of Philox4x32-10 (tests/data/philox4x32_10_kat.txt).
    #[test]
    fn philox_known_answers() {
        let kat = include_str!("../tests/data/philox4x32_10_kat.txt");
        let mut checked = 0;
        for line in kat
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let words: Vec<u32> = line
                .split_whitespace()
                .filter(|w| *w != "->")
                .map(|w| u32::from_str_radix(w, 16).unwrap())
                .collect();
            assert_eq!(words.len(), 10, "malformed KAT line {line}");
            let out = philox4x32_10(
                [words[0], words[1], words[2], words[3]],
                [words[4], words[5]],
            );
            assert_eq!(out, [words[6], words[7], words[8], words[9]], "KAT {line}");
            checked += 1;
        }
        assert_eq!(checked, 3);
    }

    #[test]
    fn fast_sin_cos_matches_libm() {
        let mut worst: f64 = 0.0;
        for i in 0..=200_000u32 {
            let u = i as f64 / 200_000.0;
            let (s, c) = sin_cos_tau(u);
            let (s0, c0) = (std::f64::consts::TAU * u).sin_cos();
            worst = worst.max((s - s0).abs()).max((c - c0).abs());
        }
        assert!(worst < 1e-15, "max abs error {worst}");
    }

    #[test]
    fn uniforms_stay_open() {
        assert!(uniform_open(0) > 0.0);
        assert!(uniform_open(u32::MAX) < 1.0);
    }

    #[test]
    fn box_muller_moments() {
        // 200k normals: mean within 4 SE (SE = 1/sqrt(n)), variance within 4 SE (SE ~ sqrt(2/n)).
        let key = seed_key(7);
        let n = 100_000u64;
        let (mut s, mut s2) = (0.0, 0.0);
        for p in 0..n {
            let w = draw_words(key, p, 0, 0);
            let (a, b) = box_muller(w[0], w[1]);
            s += a + b;
            s2 += a * a + b * b;
        }
        let m = s / (2 * n) as f64;
        let v = s2 / (2 * n) as f64 - m * m;
        let se = 1.0 / ((2 * n) as f64).sqrt();
        assert!(m.abs() < 4.0 * se, "mean {m}");
        assert!((v - 1.0).abs() < 4.0 * (2.0f64).sqrt() * se, "var {v}");
    }

    #[test]
    fn poisson_mean_matches_rate() {
        // lambda = 0.5, n = 200k: mean within 4 SE, SE = sqrt(lambda / n).
        let lambda = 0.5f64;
        let e = (-lambda).exp();
        let n = 200_000u64;
        let key = seed_key(11);
        let mut total = 0u64;
        for p in 0..n {
            total += poisson_inversion(uniform_open(draw_words(key, p, 3, 1)[0]), lambda, e) as u64;
        }
        let m = total as f64 / n as f64;
        assert!(
            (m - lambda).abs() < 4.0 * (lambda / n as f64).sqrt(),
            "mean {m}"
        );
    }

    /// Lane helpers give exactly the scalar functions' bits, lane by lane.
    #[test]
    fn lane_draws_match_scalar() {
        let key = seed_key(99);
        for base in [0u64, 7, (1u64 << 32) - 3] {
            let paths: [u64; 8] = std::array::from_fn(|i| base + i as u64 * 977);
            for step in [0u32, 1, 1459] {
                let w = draw_words_lanes(key, &paths, step, stream::MARKET_NORMALS);
                let (pa, pb) = draw_two_streams_lanes(key, &paths, step, [0, 1]);
                assert_eq!(pa, w);
                assert_eq!(
                    pb,
                    draw_words_lanes(key, &paths, step, stream::EVENT_UNIFORMS)
                );
                let (a, b) = box_muller_lanes(&w[0], &w[1]);
                let u = uniform_open_lanes(&w[2]);
                let lambda = F64s::splat(0.7);
                let k = poisson_inversion_lanes(u, lambda, lambda.map(|l| (-l).exp()));
                for lane in 0..8 {
                    let s = draw_words(key, paths[lane], step, stream::MARKET_NORMALS);
                    assert_eq!([w[0][lane], w[1][lane], w[2][lane], w[3][lane]], s);
                    let (sa, sb) = box_muller(s[0], s[1]);
                    assert_eq!(a.0[lane].to_bits(), sa.to_bits());
                    assert_eq!(b.0[lane].to_bits(), sb.to_bits());
                    let sk = poisson_inversion(uniform_open(s[2]), 0.7, (-0.7f64).exp());
                    assert_eq!(k.0[lane], sk as f64);
                }
            }
        }
    }
}

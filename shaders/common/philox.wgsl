// Philox4x32-10 counter-based random numbers: the WGSL twin of `src/rng.rs`, word for word.
//
// WGSL has no #include: `src/engine/gpu/shaders.rs` concatenates `common/*.wgsl` in front of
// each kernel (`concat!(include_str!(..), ..)`), so this file is plain declarations only.
//
// Key = (seed low word, seed high word); counter = (path low word, step, stream id, path high
// word). Stream ids are the constants of `rng::stream`. One call yields four words
// (src/model/step.rs "Draws" says which draw uses which).

const STREAM_MARKET_NORMALS: u32 = 0u;
const STREAM_EVENT_UNIFORMS: u32 = 1u;
const STREAM_COST_JUMP_NORMALS: u32 = 2u;
const STREAM_GOVERNANCE: u32 = 3u;

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// High and low words of the 64-bit product a * b. WGSL has no 32x32->64 multiply, so the high
// word is assembled from 16-bit pieces (no partial sum overflows 32 bits); the low word is the
// wrapping 32-bit product.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let hi_hi = a_hi * b_hi;
    let cross = (lo_lo >> 16u) + (hi_lo & 0xffffu) + lo_hi;
    let hi = hi_hi + (hi_lo >> 16u) + (cross >> 16u);
    return vec2<u32>(hi, a * b);
}

// rng::philox4x32_10: four counter words and two key words to four output words.
fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        if (round > 0u) {
            k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
        }
        let m0 = mulhilo(PHILOX_M0, c.x);
        let m1 = mulhilo(PHILOX_M1, c.z);
        c = vec4<u32>(m1.x ^ c.y ^ k.x, m1.y, m0.x ^ c.w ^ k.y, m0.y);
    }
    return c;
}

// rng::draw_words: the four words drawn for (path, step, stream).
fn draw_words(key: vec2<u32>, path_lo: u32, path_hi: u32, step: u32, stream_id: u32) -> vec4<u32> {
    return philox4x32_10(vec4<u32>(path_lo, step, stream_id, path_hi), key);
}

// rng::uniform_open in f32: the top 24 bits of the word, in the open interval (0, 1). The CPU
// uses all 32 bits in f64; both turn the same word into the same number up to 2^-24.
fn uniform_open(word: u32) -> f32 {
    return (f32(word >> 8u) + 0.5) / 16777216.0;
}

// ln(u) of the CPU's 32-bit uniform u = (word + 0.5) / 2^32, to f32 accuracy. Box-Muller's
// radius sqrt(-2 ln u) is steep as u -> 0, where the 24-bit uniform would be off by up to
// 2^-25 absolute: for the one word in ~10^5 with u < 1e-5 that moved a normal by ~1e-2 and
// showed as the odd GPU path a few 1e-3 away from the CPU. Below u = 1/2 the word is used
// whole (ln(w + 0.5) - 32 ln 2, w exact below 2^24); above, the 24-bit uniform is within
// 2^-24 relative of u, so ln u is within 6e-8 absolute.
fn ln_uniform_open(word: u32) -> f32 {
    if (word < 0x80000000u) {
        return log(f32(word) + 0.5) - 22.18070977791825;
    }
    return log(uniform_open(word));
}

// rng::sin_cos_tau on the CPU's 32-bit uniform u = (word + 0.5) / 2^32: (sin 2 pi u, cos 2 pi u).
// The same exact quadrant reduction, done on the integer word (4u rounded to the nearest
// integer is the top two bits plus the next bit), then f32 Taylor polynomials on
// [-pi/4, pi/4] (truncation below 3e-8). Polynomials rather than the built-in sin/cos, whose
// accuracy Vulkan leaves to the driver (the spec allows 2^-11 absolute).
fn sin_cos_tau(word: u32) -> vec2<f32> {
    let quadrant = (word >> 30u) + ((word >> 29u) & 1u);
    // (word + 0.5) / 2^30 - quadrant, as a signed 2^30-scaled integer (wrapping is exact).
    let d = bitcast<i32>(word - (quadrant << 30u));
    let x = (f32(d) + 0.5) * (1.5707963267948966 / 1073741824.0);
    let x2 = x * x;
    // sin x = x (1 - x^2/3! + x^4/5! - x^6/7! + x^8/9!)
    var sp = 1.0 / 362880.0;
    sp = -1.0 / 5040.0 + x2 * sp;
    sp = 1.0 / 120.0 + x2 * sp;
    sp = -1.0 / 6.0 + x2 * sp;
    let sin_x = x + x * x2 * sp;
    // cos x = 1 - x^2/2! + x^4/4! - x^6/6! + x^8/8!
    var cp = 1.0 / 40320.0;
    cp = -1.0 / 720.0 + x2 * cp;
    cp = 1.0 / 24.0 + x2 * cp;
    cp = -0.5 + x2 * cp;
    let cos_x = 1.0 + x2 * cp;
    switch (quadrant & 3u) {
        case 0u: {
            return vec2<f32>(sin_x, cos_x);
        }
        case 1u: {
            return vec2<f32>(cos_x, -sin_x);
        }
        case 2u: {
            return vec2<f32>(-sin_x, -cos_x);
        }
        default: {
            return vec2<f32>(-cos_x, sin_x);
        }
    }
}

// rng::box_muller: two independent standard normals from two words, (r cos, r sin).
fn box_muller(w0: u32, w1: u32) -> vec2<f32> {
    let r = sqrt(-2.0 * ln_uniform_open(w0));
    let sc = sin_cos_tau(w1);
    return vec2<f32>(r * sc.y, r * sc.x);
}

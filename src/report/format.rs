//! Every number and text a person reads, formatted in one place: HTML escaping, and the
//! number styles of the reports, the nightly page and the command line. One rule for values
//! that are not finite, in every style: "–" for NaN, "∞" / "−∞" for infinities (never
//! "NaN" or "inf").

/// Escapes text for HTML and SVG (element content and quoted attribute values).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// What a table shows where a figure is absent or not a number.
pub const DASH: &str = "–";

/// Non-finite values as text: "–" for NaN, "∞" / "−∞" for infinities; None when finite.
pub fn non_finite_text(v: f64) -> Option<String> {
    if v.is_nan() {
        Some(DASH.to_string())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "∞" } else { "−∞" }.to_string())
    } else {
        None
    }
}

/// Scientific notation with `decimals` in the mantissa, in the compact form `5e-3`,
/// `1.2e6`.
pub fn fmt_sci(v: f64, decimals: usize) -> String {
    if let Some(s) = non_finite_text(v) {
        return s;
    }
    if v == 0.0 {
        return "0".to_string();
    }
    // Rust writes `1.2e-3` / `5e3`: already compact.
    format!("{v:.decimals$e}")
}

/// SI-ish compact number with about three significant digits: `0`, `0.0123`, `4.56`,
/// `789`, `1.2k`, `3.4M`, `5.6B`, `7.8T`, `5e-3`, `1.2e15`.
pub fn fmt_si(v: f64) -> String {
    if let Some(s) = non_finite_text(v) {
        return s;
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let a = v.abs();
    if !(1e-2..1e15).contains(&a) {
        let s = format!("{v:.1e}");
        // Drop a trailing ".0" from the mantissa: 5.0e-3 -> 5e-3.
        return s.replace(".0e", "e");
    }
    const UNITS: [(f64, &str); 5] = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"), (1.0, "")];
    for (i, &(unit, suffix)) in UNITS.iter().enumerate() {
        if a >= unit || unit == 1.0 {
            let x = v / unit;
            let ax = x.abs();
            let decimals = if ax >= 99.95 {
                0
            } else if ax >= 9.995 {
                1
            } else if ax >= 0.9995 {
                2
            } else if ax >= 0.09995 {
                3
            } else {
                4
            };
            let s = trim_zeros(format!("{x:.decimals$}"));
            // 999.9k rounds to "1000k": use the next unit up.
            if s.trim_start_matches('-').len() >= 4 && !s.contains('.') && i > 0 {
                let (u2, s2) = UNITS[i - 1];
                return format!("{}{s2}", trim_zeros(format!("{:.2}", v / u2)));
            }
            return format!("{s}{suffix}");
        }
    }
    unreachable!("the last unit matches every value")
}

/// Removes trailing zeros after a decimal point (and the point itself).
fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A number with `sig` significant digits for tables: fixed notation between 1e-3 and
/// 1e9, scientific outside; integers up to 1e15 with thousands separators.
pub fn fmt_sig(v: f64, sig: usize) -> String {
    if let Some(s) = non_finite_text(v) {
        return s;
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let a = v.abs();
    if !(1e-3..1e9).contains(&a) {
        return fmt_sci(v, sig.saturating_sub(1));
    }
    let mag = a.log10().floor() as i32;
    let decimals = (sig as i32 - 1 - mag).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if decimals == 0 {
        group_thousands(&s)
    } else {
        s
    }
}

/// An integer-valued number with thousands separators (`100,000`).
pub fn fmt_int(v: f64) -> String {
    if let Some(s) = non_finite_text(v) {
        return s;
    }
    if v.abs() >= 1e15 {
        return fmt_sci(v, 3);
    }
    group_thousands(&format!("{:.0}", v))
}

pub fn group_thousands(s: &str) -> String {
    let (sign, digits) = match s.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", s),
    };
    if digits.len() <= 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return s.to_string();
    }
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// A share as a percentage with two decimals, as the CLI summary prints it (`1.40%`).
pub fn fmt_pct(x: f64) -> String {
    match non_finite_text(x) {
        Some(s) => s,
        None => format!("{:.2}%", 100.0 * x),
    }
}

/// A share close to 1 as a percentage with enough decimals not to read as 100% when it is
/// not (`99.9960%`); otherwise as [`fmt_pct`].
pub fn fmt_pct_fine(x: f64) -> String {
    if (0.9999..1.0).contains(&x) {
        let d = ((-(1.0 - x).log10()).floor() as usize).clamp(2, 10);
        return format!("{:.d$}%", 100.0 * x);
    }
    fmt_pct(x)
}

/// A number in [0, 1] close to 1 (a drawdown) with two significant digits of its
/// distance to 1 (`0.999960`); otherwise four significant digits.
pub fn fmt_fraction_fine(x: f64) -> String {
    if x.is_finite() && x < 1.0 && x > 0.99 {
        let d = ((-(1.0 - x).log10()).floor() as usize + 2).clamp(4, 12);
        return format!("{x:.d$}");
    }
    fmt_sig(x, 4)
}

/// A number with 4 decimals between 1e-3 and 1e5, scientific with 3 outside (tables of
/// differences on the command line: `0.1234`, `1.234e6`).
pub fn fmt_dec4(x: f64) -> String {
    if let Some(s) = non_finite_text(x) {
        return s;
    }
    if x == 0.0 {
        "0".to_string()
    } else if x.abs() >= 1e5 || x.abs() < 1e-3 {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

/// `x` with `sig` significant digits in plain decimal notation, however small (`0.00093`).
pub fn fmt_plain_sig(x: f64, sig: usize) -> String {
    if let Some(s) = non_finite_text(x) {
        return s;
    }
    if x == 0.0 {
        return "0".to_string();
    }
    let digits = (sig as i32 - 1 - x.abs().log10().floor() as i32).max(0) as usize;
    format!("{x:.digits$}")
}

/// A number with `decimals` decimals (`0.155`), for figures of one known scale.
pub fn fmt_fixed(x: f64, decimals: usize) -> String {
    match non_finite_text(x) {
        Some(s) => s,
        None => format!("{x:.decimals$}"),
    }
}

/// A difference of two probabilities in percentage points, signed (`+1.25 pp`).
pub fn fmt_pp(x: f64) -> String {
    match non_finite_text(x) {
        Some(s) => s,
        None => format!("{:+.2} pp", 100.0 * x),
    }
}

/// A relative change as a signed whole percentage (`-50%`, `+20%`).
pub fn fmt_change_pct(x: f64) -> String {
    match non_finite_text(x) {
        Some(s) => s,
        None => format!("{:+.0}%", 100.0 * x),
    }
}

/// A parameter value with up to `decimals` decimals, trailing zeros dropped (`0.45`, `12`).
pub fn fmt_trimmed(x: f64, decimals: usize) -> String {
    match non_finite_text(x) {
        Some(s) => s,
        None => trim_zeros(format!("{x:.decimals$}")),
    }
}

/// A count with thousands separators (`240,000`).
pub fn fmt_count(n: u64) -> String {
    group_thousands(&n.to_string())
}

/// A parameter value as written in a scenario file: the shortest decimal that reads back
/// as the same `f64` (Rust's `Display`, a shortest-round-trip rule), thousands grouped for
/// whole numbers (`33,000,000`), scientific below 1e-4 and from 1e15 (`1e-7`). The values
/// themselves are rounded where they are made (`workflows::sensitivity::perturb`), so a
/// perturbed 0.9 - 0.05 prints `0.85`, not `0.8500000000000001`.
pub fn fmt_value(x: f64) -> String {
    if let Some(s) = non_finite_text(x) {
        return s;
    }
    if x == 0.0 {
        return "0".to_string();
    }
    let a = x.abs();
    if !(1e-4..1e15).contains(&a) {
        return format!("{x:e}");
    }
    let s = format!("{x}");
    if s.contains('.') {
        s
    } else {
        group_thousands(&s)
    }
}

/// [`fmt_value`] with a unit suffix from a million up, for narrow table cells: every
/// digit kept (`2.133B`, `33M`, `1.5T`), below a million as [`fmt_value`].
pub fn fmt_value_compact(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() || !(1e6..1e15).contains(&a) {
        return fmt_value(x);
    }
    let (unit, suffix) = if a >= 1e12 {
        (1e12, "T")
    } else if a >= 1e9 {
        (1e9, "B")
    } else {
        (1e6, "M")
    };
    let v: f64 = format!("{:.11e}", x / unit).parse().unwrap_or(x / unit);
    format!("{v}{suffix}")
}

/// Whether an estimated effect cannot be told from zero: its 95% interval (the error bar,
/// `effect -+ 1.96 SE`) holds zero, i.e. `|effect| < 1.96 SE` (an exactly zero effect with a
/// zero SE is "no effect"), so the mark and the error bar always agree. The text to
/// print beside it, or None when the effect stands out of the noise.
pub fn noise_note(effect: f64, se: f64) -> Option<&'static str> {
    if !(effect.is_finite() && se.is_finite()) {
        return None;
    }
    if effect == 0.0 && se == 0.0 {
        Some("no effect")
    } else if effect.abs() < crate::stats::Z95 * se {
        Some("within noise")
    } else {
        None
    }
}

/// A per-second rate with 3 significant digits and its unit (`2.82k paths/s`), or `–`
/// where there is no rate yet.
pub fn fmt_rate(per_s: f64, unit: &str) -> String {
    if !(per_s.is_finite() && per_s > 0.0) {
        return format!("{DASH} {unit}/s");
    }
    format!("{} {unit}/s", fmt_si(per_s))
}

/// A duration in whole seconds as `45s`, `12m 05s`, `3h 20m`; `–` when unknown.
pub fn fmt_duration(secs: f64) -> String {
    if !(secs.is_finite() && secs >= 0.0) {
        return DASH.to_string();
    }
    let s = secs.round() as u64;
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles() {
        assert_eq!(fmt_si(1234.0), "1.23k");
        assert_eq!(fmt_si(3.4e6), "3.4M");
        assert_eq!(fmt_si(0.005), "5e-3");
        assert_eq!(fmt_si(999_999.0), "1M");
        assert_eq!(fmt_si(0.05), "0.05");
        assert_eq!(fmt_si(f64::NAN), "–");
        assert_eq!(fmt_int(100_000.0), "100,000");
        assert_eq!(fmt_sig(0.004987, 3), "0.00499");
        assert_eq!(fmt_sig(4.2e-5, 3), "4.20e-5");
        assert_eq!(fmt_sig(147.6772, 4), "147.7");
        assert_eq!(fmt_pct(0.0140), "1.40%");
        assert_eq!(fmt_pct_fine(0.99996), "99.9960%");
        assert_eq!(fmt_pct_fine(0.5), "50.00%");
        assert_eq!(fmt_fraction_fine(0.99996), "0.999960");
        assert_eq!(fmt_fraction_fine(0.5), "0.5000");
        assert_eq!(fmt_dec4(0.12345), "0.1235");
        assert_eq!(fmt_dec4(1.06e8), "1.060e8");
        assert_eq!(fmt_dec4(0.0), "0");
        assert_eq!(fmt_plain_sig(0.00093, 2), "0.00093");
        assert_eq!(fmt_plain_sig(0.012345, 2), "0.012");
        assert_eq!(fmt_count(240_000), "240,000");
        assert_eq!(fmt_count(999), "999");
        assert_eq!(fmt_pp(0.0125), "+1.25 pp");
        assert_eq!(fmt_pp(-0.2271), "-22.71 pp");
        assert_eq!(fmt_change_pct(-0.5), "-50%");
        assert_eq!(fmt_trimmed(0.45, 6), "0.45");
        assert_eq!(fmt_trimmed(12.0, 6), "12");
    }

    #[test]
    fn values_rates_and_noise() {
        assert_eq!(fmt_value(0.85), "0.85");
        assert_eq!(fmt_value(33_000_000.0), "33,000,000");
        assert_eq!(fmt_value(1e-7), "1e-7");
        assert_eq!(fmt_value(-0.125), "-0.125");
        assert_eq!(fmt_value(f64::NAN), "–");
        assert_eq!(fmt_value_compact(2_133_000_000.0), "2.133B");
        assert_eq!(fmt_value_compact(33e6), "33M");
        assert_eq!(fmt_value_compact(4_400.0), "4,400");
        assert_eq!(fmt_rate(2821.6693, "paths"), "2.82k paths/s");
        assert_eq!(fmt_rate(31.26, "paths"), "31.3 paths/s");
        assert_eq!(fmt_rate(0.0, "paths"), "– paths/s");
        assert_eq!(fmt_duration(7.4), "7s");
        assert_eq!(fmt_duration(725.0), "12m 05s");
        assert_eq!(fmt_duration(f64::INFINITY), "–");
        assert_eq!(noise_note(0.01, 0.006), Some("within noise"));
        assert_eq!(noise_note(0.02, 0.006), None);
        assert_eq!(noise_note(0.0, 0.0), Some("no effect"));
        assert_eq!(noise_note(-0.02, 0.011), Some("within noise"));
    }

    #[test]
    fn non_finite_values_read_the_same_in_every_style() {
        for f in [
            fmt_si as fn(f64) -> String,
            |x| fmt_sig(x, 4),
            fmt_int,
            fmt_pct,
            fmt_pct_fine,
            fmt_fraction_fine,
            fmt_dec4,
            fmt_pp,
            |x| fmt_fixed(x, 3),
            fmt_change_pct,
            |x| fmt_trimmed(x, 6),
            |x| fmt_plain_sig(x, 2),
            |x| fmt_sci(x, 2),
        ] {
            assert_eq!(f(f64::NAN), "–");
            assert_eq!(f(f64::INFINITY), "∞");
            assert_eq!(f(f64::NEG_INFINITY), "−∞");
        }
    }

    #[test]
    fn escaping() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}

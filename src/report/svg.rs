//! SVG building blocks for the report's charts: tick labels, "nice" axis ticks (linear and
//! log), the log-scale decision, and path / band primitives. Hand-written: a few hundred
//! lines of SVG text give self-contained pages with no script and no dependency.
//!
//! Invariants:
//! - Nothing here emits the text "NaN" or "inf": non-finite numbers are formatted as
//!   "–" / "∞" and non-finite coordinates are dropped before they reach a path.
//! - Linear ticks are multiples of 1, 2 or 5 times a power of ten and the axis domain is
//!   widened to whole ticks; log axes run between 1-2-5 grid points and tick at powers of
//!   ten (plus 2 and 5, or 3, on short ranges).
//! - Every string put into the document goes through [`esc`].

pub use super::format::esc;
use super::format::{fmt_int, fmt_sci, fmt_si};
use std::fmt::Write;

/// A pixel coordinate with one decimal (coordinates are finite by construction).
pub fn px(v: f64) -> String {
    if v.is_finite() {
        let s = format!("{v:.1}");
        s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
    } else {
        "0".to_string()
    }
}

/// The nice number (1, 2, 5 or 10 times a power of ten) near `x` (Heckbert, "Nice numbers
/// for graph labels"): rounded to the nearest when `round`, else the next one up.
pub fn nice_number(x: f64, round: bool) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return 1.0;
    }
    let e = x.log10().floor();
    let base = 10f64.powf(e);
    let f = x / base;
    let nf = if round {
        if f < 1.5 {
            1.0
        } else if f < 3.0 {
            2.0
        } else if f < 7.0 {
            5.0
        } else {
            10.0
        }
    } else if f <= 1.0 + 1e-9 {
        1.0
    } else if f <= 2.0 + 1e-9 {
        2.0
    } else if f <= 5.0 + 1e-9 {
        5.0
    } else {
        10.0
    };
    nf * base
}

/// Linear ticks covering `[lo, hi]` with about `target` ticks: returns the widened domain,
/// the step and the tick values (multiples of the step, exact zero included when crossed).
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> (f64, f64, f64, Vec<f64>) {
    let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() {
        (lo.min(hi), lo.max(hi))
    } else {
        (0.0, 1.0)
    };
    // Spans below 1e-9 relative are rounding noise of a constant series: one value.
    if hi - lo <= 1e-9 * hi.abs().max(lo.abs()).max(1e-300) {
        // A single value: widen around it (from zero when it is positive).
        if lo == 0.0 {
            hi = 1.0;
        } else if lo > 0.0 {
            lo = 0.0;
            hi *= 1.1;
        } else {
            hi = 0.0;
            lo *= 1.1;
        }
    }
    let target = target.max(2);
    let range = nice_number(hi - lo, false);
    let step = nice_number(range / (target - 1) as f64, true);
    let lo_n = (lo / step + 1e-9).floor() * step;
    let hi_n = (hi / step - 1e-9).ceil() * step;
    let n = ((hi_n - lo_n) / step).round() as i64;
    let ticks = (0..=n)
        .map(|i| {
            let t = ((lo_n / step).round() + i as f64) * step;
            if t.abs() < step * 1e-9 {
                0.0
            } else {
                t
            }
        })
        .collect();
    (lo_n, hi_n, step, ticks)
}

/// Log ticks for `[lo, hi]` (`lo > 0`): the domain widened to 1-2-5 grid points, and the
/// ticks: powers of ten (every k-th decade when there are more than 8), with 2 and 5 added
/// within one decade and 3 within three.
pub fn log_ticks(lo: f64, hi: f64) -> (f64, f64, Vec<f64>) {
    let (lo, hi) = if lo > 0.0 && hi.is_finite() && hi >= lo {
        (lo, hi)
    } else {
        (1.0, 10.0)
    };
    let e0 = lo.log10().floor() as i32;
    let mut e1 = hi.log10().ceil() as i32;
    if e1 <= e0 {
        e1 = e0 + 1;
    }
    let grid = |e: i32, m: f64| m * 10f64.powi(e);
    let mut dlo = grid(e0, 1.0);
    for m in [2.0, 5.0] {
        if grid(e0, m) <= lo * (1.0 + 1e-9) {
            dlo = grid(e0, m);
        }
    }
    let mut dhi = grid(e1, 1.0);
    for m in [5.0, 2.0] {
        if grid(e1 - 1, m) >= hi * (1.0 - 1e-9) {
            dhi = grid(e1 - 1, m);
        }
    }
    let decades = (dhi / dlo).log10();
    let mults: &[f64] = if decades <= 1.0 + 1e-9 {
        &[1.0, 2.0, 5.0]
    } else if decades <= 3.0 + 1e-9 {
        &[1.0, 3.0]
    } else {
        &[1.0]
    };
    let stride = ((decades / 8.0).ceil() as i32).max(1);
    let mut ticks = Vec::new();
    for e in e0..=e1 {
        if stride > 1 && e.rem_euclid(stride) != 0 {
            continue;
        }
        for &m in mults {
            let t = grid(e, m);
            if t >= dlo * (1.0 - 1e-9) && t <= dhi * (1.0 + 1e-9) {
                ticks.push(t);
            }
        }
    }
    if ticks.len() < 2 {
        ticks = vec![dlo, dhi];
    }
    (dlo, dhi, ticks)
}

/// Whether values should be drawn on a log scale: at least 90% of the finite values are
/// positive and the positive ones span more than two decades.
pub fn use_log_scale(values: impl IntoIterator<Item = f64>) -> bool {
    let (mut finite, mut positive) = (0usize, 0usize);
    let (mut min, mut max) = (f64::INFINITY, 0.0f64);
    for v in values {
        if !v.is_finite() {
            continue;
        }
        finite += 1;
        if v > 0.0 {
            positive += 1;
            min = min.min(v);
            max = max.max(v);
        }
    }
    positive >= 2 && positive * 10 >= finite * 9 && max / min > 100.0
}

/// How tick values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickFormat {
    /// SI-ish numbers (`1.2k`, `3.4M`, `5e-3`).
    Number,
    /// Shares in [0, 1] written as percentages (`25%`).
    Percent,
    /// Plain numbers without unit suffixes (days: `1,400`).
    Plain,
}

/// Labels for linear ticks spaced `step` apart: every label with the same unit and just
/// enough decimals to tell neighbours apart.
pub fn linear_labels(ticks: &[f64], step: f64, format: TickFormat) -> Vec<String> {
    let decimals_for = |step: f64| -> usize {
        if step > 0.0 && step.is_finite() {
            (-(step.log10() + 1e-9).floor()).clamp(0.0, 8.0) as usize
        } else {
            0
        }
    };
    if format == TickFormat::Percent {
        let d = decimals_for(step * 100.0);
        return ticks
            .iter()
            .map(|&t| {
                if t == 0.0 {
                    "0%".to_string()
                } else {
                    format!("{:.d$}%", t * 100.0)
                }
            })
            .collect();
    }
    if format == TickFormat::Plain {
        let d = decimals_for(step);
        return ticks
            .iter()
            .map(|&t| {
                if d == 0 {
                    fmt_int(t)
                } else {
                    format!("{t:.d$}")
                }
            })
            .collect();
    }
    let m = ticks.iter().fold(0.0f64, |m, t| m.max(t.abs()));
    if m >= 1e15 || (m > 0.0 && m < 1e-2) {
        let e_step = if step > 0.0 {
            (step.log10() + 1e-9).floor() as i32
        } else {
            0
        };
        return ticks
            .iter()
            .map(|&t| {
                if t == 0.0 {
                    "0".to_string()
                } else {
                    let e = (t.abs().log10() + 1e-9).floor() as i32;
                    fmt_sci(t, (e - e_step).max(0) as usize)
                }
            })
            .collect();
    }
    let (unit, suffix) = if m >= 1e12 {
        (1e12, "T")
    } else if m >= 1e9 {
        (1e9, "B")
    } else if m >= 1e6 {
        (1e6, "M")
    } else if m >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let d = decimals_for(step / unit);
    ticks
        .iter()
        .map(|&t| {
            if t == 0.0 {
                "0".to_string()
            } else {
                format!("{:.d$}{suffix}", t / unit)
            }
        })
        .collect()
}

/// Labels for log ticks (each a 1-2-3-5 multiple of a power of ten).
pub fn log_labels(ticks: &[f64], format: TickFormat) -> Vec<String> {
    ticks
        .iter()
        .map(|&t| match format {
            TickFormat::Number | TickFormat::Plain => fmt_si(t),
            TickFormat::Percent => format!("{}%", fmt_si(t * 100.0)),
        })
        .collect()
}

/// Linear or logarithmic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleKind {
    Linear,
    Log,
}

/// One axis: its domain, ticks and their labels.
#[derive(Debug, Clone)]
pub struct Axis {
    pub kind: ScaleKind,
    pub lo: f64,
    pub hi: f64,
    pub ticks: Vec<f64>,
    pub labels: Vec<String>,
}

impl Axis {
    /// A linear axis covering `[lo, hi]`.
    pub fn linear(lo: f64, hi: f64, target: usize, format: TickFormat) -> Axis {
        let (lo, hi, step, ticks) = nice_ticks(lo, hi, target);
        Axis::linear_with(lo, hi, ticks, step, format)
    }

    /// A linear axis over `[lo, hi]` with these ticks, `step` apart.
    fn linear_with(lo: f64, hi: f64, ticks: Vec<f64>, step: f64, format: TickFormat) -> Axis {
        let labels = linear_labels(&ticks, step, format);
        Axis {
            kind: ScaleKind::Linear,
            lo,
            hi,
            ticks,
            labels,
        }
    }

    /// A linear axis over exactly `[lo, hi]` (not widened), with the nice ticks that fall
    /// inside it; used for days, which start at 0 and end at the horizon.
    pub fn linear_exact(lo: f64, hi: f64, target: usize, format: TickFormat) -> Axis {
        if !(lo.is_finite() && hi.is_finite() && hi > lo) {
            return Axis::linear(lo, hi, target, format);
        }
        let (_, _, step, ticks) = nice_ticks(lo, hi, target);
        let eps = step * 1e-9;
        let ticks: Vec<f64> = ticks
            .into_iter()
            .filter(|&t| t >= lo - eps && t <= hi + eps)
            .collect();
        if ticks.len() < 2 {
            return Axis::linear(lo, hi, target, format);
        }
        Axis::linear_with(lo, hi, ticks, step, format)
    }

    /// A log axis covering `[lo, hi]`, `lo > 0`.
    pub fn log(lo: f64, hi: f64, format: TickFormat) -> Axis {
        let (lo, hi, ticks) = log_ticks(lo, hi);
        let labels = log_labels(&ticks, format);
        Axis {
            kind: ScaleKind::Log,
            lo,
            hi,
            ticks,
            labels,
        }
    }

    /// An axis fitted to `values` (non-finite ones ignored): log when [`use_log_scale`]
    /// says so and `allow_log`, else linear, from zero when `zero` and the values do not
    /// cross it. None when there is no finite value.
    pub fn fit(values: &[f64], format: TickFormat, zero: bool, allow_log: bool) -> Option<Axis> {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.is_empty() {
            return None;
        }
        if allow_log && use_log_scale(finite.iter().copied()) {
            let pos = finite.iter().copied().filter(|&v| v > 0.0);
            let lo = pos.clone().fold(f64::INFINITY, f64::min);
            let hi = pos.fold(0.0, f64::max);
            return Some(Axis::log(lo, hi, format));
        }
        let mut lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let mut hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if zero {
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        Some(Axis::linear(lo, hi, 6, format))
    }

    /// Position of `v` along the axis in [0, 1] (clamped); None for non-finite values and
    /// non-positive values on a log axis.
    pub fn frac(&self, v: f64) -> Option<f64> {
        if !v.is_finite() {
            return None;
        }
        let f = match self.kind {
            ScaleKind::Linear => (v - self.lo) / (self.hi - self.lo),
            ScaleKind::Log => {
                if v <= 0.0 {
                    return None;
                }
                (v / self.lo).log10() / (self.hi / self.lo).log10()
            }
        };
        f.is_finite().then_some(f.clamp(0.0, 1.0))
    }
}

/// `<text>` with an anchor (`start`, `middle`, `end`) and a CSS class.
pub fn text(x: f64, y: f64, anchor: &str, class: &str, s: &str) -> String {
    format!(
        r#"<text x="{}" y="{}" text-anchor="{anchor}" class="{class}">{}</text>"#,
        px(x),
        px(y),
        esc(s)
    )
}

/// `<line>` between two points.
pub fn line(x1: f64, y1: f64, x2: f64, y2: f64, class: &str) -> String {
    format!(
        r#"<line x1="{}" y1="{}" x2="{}" y2="{}" class="{class}"/>"#,
        px(x1),
        px(y1),
        px(x2),
        px(y2)
    )
}

/// `<rect>`.
pub fn rect(x: f64, y: f64, w: f64, h: f64, class: &str) -> String {
    format!(
        r#"<rect x="{}" y="{}" width="{}" height="{}" class="{class}"/>"#,
        px(x),
        px(y),
        px(w.max(0.0)),
        px(h.max(0.0))
    )
}

/// Splits a sequence into runs of consecutive items that `keep` turns into values (the
/// others are gaps).
fn runs<T, U>(items: impl IntoIterator<Item = T>, keep: impl Fn(T) -> Option<U>) -> Vec<Vec<U>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for item in items {
        match keep(item) {
            Some(v) => cur.push(v),
            None if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            None => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Splits a sequence of optional points into runs of consecutive defined points.
pub fn segments(points: impl IntoIterator<Item = Option<(f64, f64)>>) -> Vec<Vec<(f64, f64)>> {
    runs(points, |p| p.filter(|p| p.0.is_finite() && p.1.is_finite()))
}

/// A `<path>` through the points of each segment (one subpath per segment; a segment of
/// one point becomes a short tick so it stays visible).
pub fn polyline(segs: &[Vec<(f64, f64)>], class: &str) -> String {
    let mut d = String::new();
    for seg in segs {
        for (i, &(x, y)) in seg.iter().enumerate() {
            let _ = write!(d, "{}{},{}", if i == 0 { "M" } else { "L" }, px(x), px(y));
        }
        if seg.len() == 1 {
            let (x, y) = seg[0];
            let _ = write!(d, "M{},{}L{},{}", px(x - 2.0), px(y), px(x + 2.0), px(y));
        }
    }
    if d.is_empty() {
        return String::new();
    }
    format!(r#"<path d="{d}" class="{class}"/>"#)
}

/// A filled band between an upper and a lower boundary; `points` are (x, upper, lower) in
/// pixels, with gaps where either bound is undefined.
pub fn band(points: &[(f64, Option<f64>, Option<f64>)], class: &str) -> String {
    let segs = runs(points.iter().copied(), |(x, u, l)| match (u, l) {
        (Some(u), Some(l)) if x.is_finite() && u.is_finite() && l.is_finite() => Some((x, u, l)),
        _ => None,
    });
    let mut d = String::new();
    for seg in segs {
        if seg.len() < 2 {
            continue;
        }
        for (i, &(x, u, _)) in seg.iter().enumerate() {
            let _ = write!(d, "{}{},{}", if i == 0 { "M" } else { "L" }, px(x), px(u));
        }
        for &(x, _, l) in seg.iter().rev() {
            let _ = write!(d, "L{},{}", px(x), px(l));
        }
        d.push('Z');
    }
    if d.is_empty() {
        return String::new();
    }
    format!(r#"<path d="{d}" class="{class}"/>"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks_are_round_and_cover_the_range() {
        let (lo, hi, step, ticks) = nice_ticks(0.0, 97.0, 6);
        assert_eq!((lo, hi, step), (0.0, 100.0, 20.0));
        assert_eq!(ticks, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);

        let (lo, hi, step, ticks) = nice_ticks(0.0013, 0.0087, 6);
        assert!((step - 0.002).abs() < 1e-15, "{step}");
        assert!(lo <= 0.0013 && hi >= 0.0087);
        assert_eq!(ticks.len(), 6);

        let (lo, hi, _, ticks) = nice_ticks(-3.2, 7.9, 6);
        assert!(lo <= -3.2 && hi >= 7.9);
        assert!(ticks.contains(&0.0));

        // Big values: steps stay 1-2-5 multiples.
        let (_, _, step, _) = nice_ticks(1.5e8, 6.2e8, 6);
        assert_eq!(step, 1e8);
    }

    #[test]
    fn nice_ticks_survive_degenerate_input() {
        let (lo, hi, _, ticks) = nice_ticks(5.0, 5.0, 6);
        assert!(lo <= 5.0 && hi > 5.0 && ticks.len() >= 2);
        let (lo, hi, _, _) = nice_ticks(0.0, 0.0, 6);
        assert_eq!((lo, hi), (0.0, 1.0));
        let (lo, hi, _, _) = nice_ticks(f64::NAN, 3.0, 6);
        assert_eq!((lo, hi), (0.0, 1.0));
        // Rounding noise on a constant series is one value, not a range of 1e-10.
        let (lo, hi, step, ticks) = nice_ticks(1000.0, 1000.0 + 1e-10, 6);
        assert_eq!((lo, hi, step), (0.0, 1500.0, 500.0));
        assert_eq!(
            linear_labels(&ticks, step, TickFormat::Number),
            ["0", "0.5k", "1.0k", "1.5k"]
        );
        let (lo, hi, _, _) = nice_ticks(-2.0, -2.0, 6);
        assert!(lo <= -2.2 && hi >= 0.0);
    }

    #[test]
    fn log_ticks_use_decades() {
        let (lo, hi, ticks) = log_ticks(0.0031, 870.0);
        assert_eq!((lo, hi), (0.002, 1000.0));
        assert_eq!(ticks.len(), 6, "{ticks:?}");
        assert!((ticks[0] - 0.01).abs() < 1e-15);
        // Thirty decades: every 4th decade, at most 9 ticks.
        let (_, _, ticks) = log_ticks(1e-25, 1e5);
        assert!(ticks.len() <= 9 && ticks.len() >= 2, "{ticks:?}");
        // Within one decade: 1-2-5.
        let (_, _, ticks) = log_ticks(1.5, 9.0);
        assert_eq!(ticks, vec![1.0, 2.0, 5.0, 10.0]);
    }

    #[test]
    fn log_scale_only_for_wide_positive_ranges() {
        assert!(use_log_scale([0.5, 0.01, 1e-4, 2.0]));
        assert!(!use_log_scale([1.0, 2.0, 50.0]));
        assert!(!use_log_scale([-1.0, 1.0, 1000.0]));
        assert!(!use_log_scale([0.0, 0.0, 1.0, 1000.0]));
        assert!(!use_log_scale([f64::NAN, 3.0]));
        assert!(!use_log_scale(std::iter::empty()));
        assert!(use_log_scale([1.0, 1e3, f64::NAN, f64::INFINITY]));
    }

    #[test]
    fn tick_labels_are_compact() {
        assert_eq!(
            linear_labels(&[0.0, 500.0, 1000.0, 1500.0], 500.0, TickFormat::Number),
            ["0", "0.5k", "1.0k", "1.5k"]
        );
        assert_eq!(
            linear_labels(&[0.0, 2e6, 4e6], 2e6, TickFormat::Number),
            ["0", "2M", "4M"]
        );
        assert_eq!(
            linear_labels(&[0.0, 0.002, 0.004], 0.002, TickFormat::Number),
            ["0", "2e-3", "4e-3"]
        );
        assert_eq!(
            linear_labels(&[0.1, 0.2, 0.3], 0.1, TickFormat::Number),
            ["0.1", "0.2", "0.3"]
        );
        assert_eq!(
            linear_labels(&[0.0, 0.25, 0.5], 0.25, TickFormat::Percent),
            ["0%", "25%", "50%"]
        );
        let a = Axis::linear_exact(0.0, 1460.0, 8, TickFormat::Plain);
        assert_eq!((a.lo, a.hi), (0.0, 1460.0));
        assert_eq!(a.ticks.last(), Some(&1400.0));
    }

    #[test]
    fn escaping_and_paths() {
        let segs = segments([
            Some((0.0, 1.0)),
            None,
            Some((2.0, f64::NAN)),
            Some((3.0, 4.0)),
        ]);
        assert_eq!(segs.len(), 2);
        assert!(!polyline(&segs, "l").contains("NaN"));
        assert!(band(&[(0.0, None, Some(1.0))], "b").is_empty());
    }
}

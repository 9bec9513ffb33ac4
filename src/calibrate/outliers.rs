//! Suspicious prints in a sorted, cleaned price history: listing-day artifacts and data
//! errors, found by a rule that looks at each point against its neighbours, so that a real
//! crash (a large move that stays) is kept while a print that jumps and comes straight back,
//! or a first print nowhere near the prices that follow, is flagged.
//!
//! Deliberately not a standard-deviation cut: a crypto history's largest real moves are many
//! standard deviations, and they are exactly what a risk model must see. The rule asks for a
//! move by more than a factor [`FACTOR`] that *reverses*, which a real crash does not do.
//! The constants and the rule are written out in docs/CALIBRATION.md ("Reading price files").

use super::series::{Observation, Outlier};

/// A move by more than this factor (up or down, `|ln(v1/v0)| > ln 3`) is large enough to be
/// suspicious; on its own it is not enough, it must also reverse.
pub const FACTOR: f64 = 3.0;

/// A leading print is compared with the median of this many following observations.
pub const LEAD_WINDOW: usize = 5;

/// Prices with a sensible number of significant digits for a message.
pub(crate) fn price(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return format!("{v}");
    }
    let digits = (4 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    format!("{v:.digits$}")
}

fn ratio(a: f64, b: f64) -> String {
    let r = if a >= b { a / b } else { b / a };
    if r >= 100.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The indices of `obs` (sorted by date, positive values) the rule flags, in date order, each
/// with its reason sentence.
pub fn flag(obs: &[Observation]) -> Vec<(usize, String)> {
    let lf = FACTOR.ln();
    let mut out = Vec::new();
    // A leading print: the first observation, when it differs by more than FACTOR both from
    // the observation after it and from the median of the LEAD_WINDOW observations after it
    // (the series jumps away from it at once and stays away).
    let mut start = 0;
    if obs.len() > LEAD_WINDOW {
        let o = obs[0];
        let next = &obs[1..=LEAD_WINDOW];
        let m = median(&mut next.iter().map(|n| n.value).collect::<Vec<_>>());
        if (next[0].value / o.value).ln().abs() > lf && (m / o.value).ln().abs() > lf {
            let dir = if o.value < m { "below" } else { "above" };
            out.push((
                0,
                format!(
                    "{}: the first print {} is {}x {dir} the next one ({} on {}) and {}x {dir} \
                     the median {} of the next {} observations ({} to {}), more than the factor \
                     {FACTOR} allowed; a listing-day artifact",
                    o.date,
                    price(o.value),
                    ratio(o.value, next[0].value),
                    price(next[0].value),
                    next[0].date,
                    ratio(o.value, m),
                    price(m),
                    LEAD_WINDOW,
                    next[0].date,
                    next[LEAD_WINDOW - 1].date,
                ),
            ));
            start = 1;
        }
    }
    // Spikes: a point that moves by more than FACTOR from the observation before it and by
    // more than FACTOR back, in the opposite direction, to the observation after it.
    for i in start + 1..obs.len().saturating_sub(1) {
        let (p, o, n) = (obs[i - 1], obs[i], obs[i + 1]);
        let up = (o.value / p.value).ln();
        let down = (n.value / o.value).ln();
        if up.abs() > lf && down.abs() > lf && up.signum() != down.signum() {
            let (went, back) = if up > 0.0 {
                ("jumps", "falls")
            } else {
                ("drops", "rises")
            };
            out.push((
                i,
                format!(
                    "{}: {} {went} {}x from {} on {} and {back} {}x to {} on {}, more than the \
                     factor {FACTOR} both ways; a one-observation spike that reverses",
                    o.date,
                    price(o.value),
                    ratio(o.value, p.value),
                    price(p.value),
                    p.date,
                    ratio(n.value, o.value),
                    price(n.value),
                    n.date,
                ),
            ));
        }
    }
    out
}

/// Applies the rule to `obs`: returns the outliers (all listed) and removes them from `obs`
/// unless `keep` (then each is listed with `excluded: false`).
pub fn apply(obs: &mut Vec<Observation>, keep: bool) -> Vec<Outlier> {
    let flagged = flag(obs);
    let outliers: Vec<Outlier> = flagged
        .iter()
        .map(|(i, reason)| Outlier {
            date: obs[*i].date,
            value: obs[*i].value,
            line: obs[*i].line,
            reason: reason.clone(),
            excluded: !keep,
        })
        .collect();
    if !keep {
        let mut drop = flagged.iter().map(|(i, _)| *i).peekable();
        let mut i = 0;
        obs.retain(|_| {
            let gone = drop.peek() == Some(&i);
            if gone {
                drop.next();
            }
            i += 1;
            !gone
        });
    }
    outliers
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn obs(values: &[f64]) -> Vec<Observation> {
        let d0 = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        values
            .iter()
            .enumerate()
            .map(|(i, &value)| Observation {
                date: d0 + chrono::Days::new(i as u64),
                value,
                line: i + 2,
            })
            .collect()
    }

    #[test]
    fn a_spike_that_reverses_is_flagged_a_crash_that_stays_is_not() {
        let f = flag(&obs(&[1.0, 1.1, 5.5, 1.05, 1.0, 0.5, 0.45, 0.5]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, 2);
        assert!(
            f[0].1.contains("2024-01-03") && f[0].1.contains("5.500"),
            "{}",
            f[0].1
        );
        // a fall by a factor 3.5 that stays down: kept
        assert!(flag(&obs(&[1.0, 1.0, 1.0, 1.0, 0.29, 0.3, 0.31, 0.3])).is_empty());
        // a down-spike that comes back is flagged too
        let f = flag(&obs(&[1.0, 1.0, 0.2, 1.0, 1.0, 1.0, 1.0]));
        assert_eq!(f.iter().map(|x| x.0).collect::<Vec<_>>(), vec![2]);
        // exactly the factor is not more than the factor
        assert!(flag(&obs(&[1.0, 1.0, 3.0, 1.0, 1.0, 1.0, 1.0])).is_empty());
    }

    #[test]
    fn a_leading_print_far_from_what_follows_is_flagged() {
        let f = flag(&obs(&[0.12, 90.0, 88.0, 85.0, 80.0, 81.0, 79.0]));
        assert_eq!(f.iter().map(|x| x.0).collect::<Vec<_>>(), vec![0]);
        assert!(
            f[0].1.contains("listing-day") && f[0].1.contains("750x"),
            "{}",
            f[0].1
        );
        // a crash a few days after listing that stays: the first print is not flagged
        assert!(flag(&obs(&[1.0, 1.0, 1.0, 0.29, 0.3, 0.31, 0.3])).is_empty());
        // a first move beyond the factor that reverses: the second point is the spike
        let f = flag(&obs(&[1.0, 5.0, 1.0, 1.1, 1.0, 1.0, 1.0]));
        assert_eq!(f.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1]);
        // a first print within the factor of what follows is kept (ETH's August 2015)
        assert!(flag(&obs(&[2.83, 1.33, 0.69, 1.07, 1.26, 1.83, 1.83])).is_empty());
        // too short to judge a leading print: not flagged
        assert!(flag(&obs(&[0.1, 90.0, 88.0, 85.0, 80.0])).is_empty());
    }

    #[test]
    fn apply_removes_or_keeps_and_lists() {
        let mut o = obs(&[1.0, 1.1, 5.5, 1.05, 1.0, 1.0]);
        let out = apply(&mut o, false);
        assert_eq!(out.len(), 1);
        assert!(out[0].excluded);
        assert_eq!(o.len(), 5);
        let mut o = obs(&[1.0, 1.1, 5.5, 1.05, 1.0, 1.0]);
        let out = apply(&mut o, true);
        assert!(!out[0].excluded);
        assert_eq!(o.len(), 6);
    }

    #[test]
    fn prices_print_with_about_five_significant_digits() {
        assert_eq!(price(0.1263040006160736), "0.12630");
        assert_eq!(price(93.39739227294922), "93.397");
        assert_eq!(price(3434.6754695380805), "3434.7");
        assert_eq!(price(123456.7), "123457");
    }
}

//! The progress bar on stderr, shown when stderr is a terminal and not `--quiet`: the one
//! way every simulating command reports progress.
//!
//! The line is composed here ([`line`], a pure function, unit-tested) rather than by
//! indicatif's template keys: before the first report it says "starting" with an empty bar
//! (indicatif draws a bar of length 0 as full, `[======] 0/0`), the rate has 3 significant
//! digits and its unit (`2.82k paths/s`, not `2,821.6693/s`), and the ETA is derived from
//! the same rate. indicatif still owns the terminal (redraw limits, suspending for lines
//! printed during a run, clearing at the end).

use crate::engine::Control;
use crate::report::format::{fmt_count, fmt_duration, fmt_rate};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

/// Characters of the bar between its brackets.
const BAR_WIDTH: usize = 30;

/// Prints around the bar: the bar is hidden while `print` runs and drawn again after, so
/// lines printed during a run (a sweep's points, a comparison's designs) do not garble it.
pub struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    pub fn print(&self, print: impl FnOnce()) {
        match &self.0 {
            Some(b) => b.suspend(print),
            None => print(),
        }
    }
}

/// The progress line of `label`: `done` of `total` paths (`None`: no report yet) after
/// `elapsed_s` seconds of the current run.
pub fn line(label: &str, progress: Option<(u64, u64)>, elapsed_s: f64) -> String {
    let Some((done, total)) = progress.filter(|&(_, t)| t > 0) else {
        return format!("{label} [{}] starting…", " ".repeat(BAR_WIDTH));
    };
    let done = done.min(total);
    let filled = ((done as f64 / total as f64) * BAR_WIDTH as f64).floor() as usize;
    let bar = if filled >= BAR_WIDTH {
        "=".repeat(BAR_WIDTH)
    } else if filled == 0 {
        " ".repeat(BAR_WIDTH)
    } else {
        format!(
            "{}>{}",
            "=".repeat(filled - 1),
            " ".repeat(BAR_WIDTH - filled)
        )
    };
    let rate = if elapsed_s > 0.0 && done > 0 {
        done as f64 / elapsed_s
    } else {
        f64::NAN
    };
    let eta = if rate.is_finite() {
        fmt_duration((total - done) as f64 / rate)
    } else {
        fmt_duration(f64::NAN)
    };
    format!(
        "{label} [{bar}] {}/{} paths ({}, eta {eta})",
        fmt_count(done),
        fmt_count(total),
        fmt_rate(rate, "paths"),
    )
}

/// Where the current run started: each run reports its own (done, total), so a new total or
/// a count going back means a new run, which began when the previous one last reported
/// (the first run began when the bar was made).
struct Clock {
    started: Instant,
    last: Option<(u64, u64)>,
    last_at: Instant,
}

/// Runs `f` with a [`Control`] that moves a bar labelled `label` (no bar when `!enabled` or
/// stderr is not a terminal) and stops at Ctrl-C ([`super::interrupt`]), and the [`Bar`] to
/// print through, and clears the bar when `f`
/// returns. Each run reports its own (paths done, total), so the bar starts over per run.
pub fn with_bar<T>(enabled: bool, label: &str, f: impl FnOnce(&Control, &Bar) -> T) -> T {
    let bar = Bar((enabled && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(indicatif::ProgressStyle::with_template("{msg}").expect("static template"));
        bar.set_message(line(label, None, 0.0));
        bar
    }));
    let made = Instant::now();
    let clock = Mutex::new(Clock {
        started: made,
        last: None,
        last_at: made,
    });
    let report = |done: u64, total: u64| {
        if let Some(b) = &bar.0 {
            let mut c = clock.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if c.last.is_some_and(|(d, t)| t != total || done < d) {
                c.started = c.last_at;
            }
            c.last = Some((done, total));
            c.last_at = now;
            b.set_message(line(
                label,
                Some((done, total)),
                now.duration_since(c.started).as_secs_f64(),
            ));
        }
    };
    // Warnings are printed even with --quiet: they say something about the results.
    let warn = |message: &str| bar.print(|| eprintln!("warning: {message}"));
    let ctl = Control {
        progress: Some(&report),
        cancel: Some(super::interrupt::flag()),
        warn: Some(&warn),
    };
    let out = f(&ctl, &bar);
    if let Some(b) = &bar.0 {
        b.finish_and_clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_starts_empty_and_says_so() {
        let s = line("bittensor", None, 0.0);
        assert_eq!(s, format!("bittensor [{}] starting…", " ".repeat(30)));
        assert!(!s.contains('='), "{s}");
        // A total of 0 is no total yet, never a full bar.
        assert_eq!(line("x", Some((0, 0)), 1.0), line("x", None, 0.0));
        let s = line("x", Some((0, 2000)), 0.0);
        assert!(
            s.contains(&format!("[{}] 0/2,000 paths", " ".repeat(30))),
            "{s}"
        );
        assert!(s.contains("(– paths/s, eta –)"), "{s}");
    }

    #[test]
    fn rate_has_three_digits_and_a_unit_and_an_eta() {
        // 28,216.693 paths in 10 s: 2,821.6693 paths/s.
        let s = line("x", Some((28_216, 100_000)), 10.0);
        assert!(
            s.contains("28,216/100,000 paths (2.82k paths/s, eta 25s)"),
            "{s}"
        );
        assert!(s.contains("[=======> "), "{s}");
        let s = line("x", Some((100_000, 100_000)), 40.0);
        assert!(s.contains(&format!("[{}]", "=".repeat(30))), "{s}");
        assert!(s.contains("(2.5k paths/s, eta 0s)"), "{s}");
    }
}

//! The progress bar on stderr, shown when stderr is a terminal and not `--quiet`: the one
//! way every simulating command reports progress.

use crate::engine::Control;
use std::io::IsTerminal;

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

/// Runs `f` with a [`Control`] that moves a bar labelled `label` (no bar when `!enabled` or
/// stderr is not a terminal) and stops at Ctrl-C ([`super::interrupt`]), and the [`Bar`] to
/// print through, and clears the bar when `f`
/// returns. Each run reports its own (paths done, total), so the bar starts over per run.
pub fn with_bar<T>(enabled: bool, label: &str, f: impl FnOnce(&Control, &Bar) -> T) -> T {
    let bar = Bar((enabled && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} paths ({per_sec}, eta {eta})",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        bar
    }));
    let report = |done: u64, total: u64| {
        if let Some(b) = &bar.0 {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let ctl = Control {
        progress: Some(&report),
        cancel: Some(super::interrupt::flag()),
    };
    let out = f(&ctl, &bar);
    if let Some(b) = &bar.0 {
        b.finish_and_clear();
    }
    out
}

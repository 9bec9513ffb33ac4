//! The progress bar on stderr, shown when stderr is a terminal and not `--quiet`: the one
//! way every simulating command reports progress.

use crate::engine::Control;
use std::io::IsTerminal;

/// Runs `f` with a [`Control`] that moves a bar labelled `label` (no bar when `!enabled` or
/// stderr is not a terminal), and clears the bar when `f` returns.
pub fn with_bar<T>(enabled: bool, label: &str, f: impl FnOnce(&Control) -> T) -> T {
    let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
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
    });
    let report = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let ctl = Control {
        progress: Some(&report),
        cancel: None,
    };
    let out = f(&ctl);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    out
}

//! Ctrl-C and SIGTERM: the first one sets a flag that every run checks between chunks of
//! paths (`engine::Control::cancel`), so the run stops cleanly: its folder being built is
//! removed, a checkpoint already written is kept, and the command says so and exits 130. A
//! second signal exits at once (leftovers of an abrupt exit are removed by the next run of
//! the same target). signal-hook does the async-signal-safe part.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

/// The exit code of an interrupted command (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

fn shared() -> &'static Arc<AtomicBool> {
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// The flag the signals set.
pub fn flag() -> &'static AtomicBool {
    shared()
}

/// Routes SIGINT and SIGTERM to [`flag`] (a second one exits with [`EXIT_INTERRUPTED`]).
pub fn install() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::flag;
    for sig in [SIGINT, SIGTERM] {
        // Registered first, so it sees the flag as the previous signal left it.
        flag::register_conditional_shutdown(sig, EXIT_INTERRUPTED, Arc::clone(shared()))?;
        flag::register(sig, Arc::clone(shared()))?;
    }
    Ok(())
}

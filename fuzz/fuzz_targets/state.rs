//! cargo-fuzz target: arbitrary bytes as a checkpoint's state.json (see `tokenrisk_fuzz::inputs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tokenrisk_fuzz::state(data);
});

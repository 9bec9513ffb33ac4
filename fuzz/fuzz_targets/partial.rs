//! cargo-fuzz target: arbitrary bytes as a shard's partial.json (see `tokenrisk_fuzz::inputs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tokenrisk_fuzz::partial(data);
});

//! cargo-fuzz target: arbitrary bytes as a price history CSV (see `tokenrisk_fuzz::inputs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tokenrisk_fuzz::prices(data);
});

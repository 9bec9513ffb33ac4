//! cargo-fuzz target: arbitrary bytes as a scenario file (see `tokenrisk_fuzz::scenario`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tokenrisk_fuzz::scenario(data);
});

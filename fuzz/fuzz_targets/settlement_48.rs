//! Field 48 of a settlement answer: the host's totals and the two status digits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use possdk_core::fuzzing::parse_field48;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((_totals, domestic, foreign)) = parse_field48(text) {
        assert!(domestic <= 9 && foreign <= 9);
    }
});

//! Field 54 of a balance answer: 20-byte entries, the available amount preferred. Any text is read
//! or refused (host text is not trusted to split at character boundaries).
#![no_main]

use libfuzzer_sys::fuzz_target;
use possdk_core::fuzzing::parse_balance;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(balance) = parse_balance(text) {
        assert!(
            balance.unsigned_abs() < 1_000_000_000_000,
            "12 digits at most"
        );
    }
});

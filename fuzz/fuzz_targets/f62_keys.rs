//! Field 62 key answers, the same bytes read as each of them: the sign-in working keys (three
//! blocks unwrapped under a TMK and checked), the TMK download answer (DF21 / DF22, unwrapped the
//! same way) and the host RSA key answer (9F06 9F22 DF02 DF04, validated as an RSA public key).
#![no_main]

use libfuzzer_sys::fuzz_target;
use possdk_core::fuzzing::{
    f62_items, host_key_from_tlvs, tmk_from_tlvs, unwrap_key, working_keys, KeySlot,
};

/// The TMK of tests/vectors (the sign-in seed's keys are under it, so they unwrap and check).
const TMK: [u8; 16] = [
    0xB6, 0x73, 0xE9, 0x92, 0x26, 0xD9, 0xEA, 0xD6, 0x37, 0x8A, 0x29, 0xAD, 0x43, 0x3E, 0xE6, 0xFB,
];

fuzz_target!(|data: &[u8]| {
    if let Ok(keys) = working_keys(data) {
        for (key, slot) in keys.iter().zip([KeySlot::Pik, KeySlot::Mak, KeySlot::Tdk]) {
            let _ = unwrap_key(&TMK, &key.encrypted, &key.check_value, slot);
        }
    }
    let Ok(items) = f62_items(data, false) else {
        return;
    };
    if let Ok((encrypted, check_value)) = tmk_from_tlvs(&items) {
        let _ = unwrap_key(&TMK, encrypted, check_value, KeySlot::Tmk);
    }
    if let Ok((_rid, _index, key)) = host_key_from_tlvs(&items) {
        assert!((1024..=8192).contains(&key.bits()), "{key:?}");
        let _ = key.fingerprint();
    }
});

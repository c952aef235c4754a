//! Field 62 key answers, the same bytes read as each of them: the sign-in working keys (three
//! blocks unwrapped under a TMK and checked, as TDES and as SM4 keys), the TMK download answer
//! (DF21 / DF22, unwrapped the same ways) and the host key answer (9F06 9F22 DF02 DF04, validated
//! as an RSA public key; or with DF25 `SM2`, DF02 as a 65-byte SM2 point, docs/PROTOCOL.md §11).
#![no_main]

use libfuzzer_sys::fuzz_target;
use possdk_core::fuzzing::{
    f62_items, host_key_from_tlvs, tmk_from_tlvs, unwrap_key, unwrap_sm4_key, working_keys,
    HostKey, KeySlot,
};

/// The TMK of tests/vectors (the sign-in seed's keys are under it, so they unwrap and check).
const TMK: [u8; 16] = [
    0xB6, 0x73, 0xE9, 0x92, 0x26, 0xD9, 0xEA, 0xD6, 0x37, 0x8A, 0x29, 0xAD, 0x43, 0x3E, 0xE6, 0xFB,
];
/// The SM4 TMK of tests/vectors/sm.json (`sign_in_f62.tmk`: its field 62 seed unwraps and checks).
const SM_TMK: [u8; 16] = [
    0x3C, 0x5A, 0x1E, 0x9F, 0x0B, 0x7D, 0x24, 0xE8, 0xC6, 0x41, 0x9A, 0x2F, 0x5D, 0x83, 0xB0, 0x7E,
];

fuzz_target!(|data: &[u8]| {
    if let Ok(keys) = working_keys(data) {
        for (key, slot) in keys.iter().zip([KeySlot::Pik, KeySlot::Mak, KeySlot::Tdk]) {
            let _ = unwrap_key(&TMK, &key.encrypted, &key.check_value, slot);
            let _ = unwrap_sm4_key(&SM_TMK, &key.encrypted, &key.check_value);
        }
    }
    let Ok(items) = f62_items(data, false) else {
        return;
    };
    if let Ok((encrypted, check_value)) = tmk_from_tlvs(&items) {
        let _ = unwrap_key(&TMK, encrypted, check_value, KeySlot::Tmk);
        let _ = unwrap_sm4_key(&SM_TMK, encrypted, check_value);
    }
    if let Ok((_rid, _index, key)) = host_key_from_tlvs(&items) {
        match &key {
            HostKey::Rsa(k) => assert!((1024..=8192).contains(&k.bits()), "{key:?}"),
            // An accepted SM2 key is the 65-byte point the answer carried.
            HostKey::Sm2(k) => {
                let point = k.to_uncompressed();
                assert_eq!(point[0], 0x04);
                assert_eq!(possdk_core::tlv::get(&items, 0xDF02), Some(&point[..]));
            }
        }
        let _ = key.fingerprint();
    }
});

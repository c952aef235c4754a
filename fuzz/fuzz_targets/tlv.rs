//! BER-TLV (fields 55 and 62) and the field 59 ASCII TLV, on the same input. Decoding never panics;
//! what decodes re-encodes (minimal lengths, so never longer) to bytes that decode to the same items
//! and re-encode identically. For field 59 the re-encoding is the input itself, and the flows' lookup
//! (`qr_get`) agrees with the decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use possdk_core::fuzzing::{ascii59, qr_get, tlv_decode, tlv_encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(items) = tlv_decode(data) {
        let bytes = tlv_encode(&items);
        assert!(bytes.len() <= data.len(), "re-encoding grew");
        let again = tlv_decode(&bytes).expect("own encoding decodes");
        assert_eq!(again, items, "decode -> encode -> decode changed the items");
        assert_eq!(tlv_encode(&again), bytes, "re-encoding is not stable");
        let _ = format!("{items:?}");
    }

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lookup = [qr_get(text, "A3"), qr_get(text, "A4")];
    if let Ok(pairs) = ascii59::decode(text) {
        let borrowed: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(t, v)| (t.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            ascii59::encode(&borrowed).expect("decoded pairs encode"),
            text,
            "field 59 does not re-encode to itself"
        );
        for (tag, found) in ["A3", "A4"].iter().zip(lookup) {
            let first = pairs.iter().find(|(t, _)| t == tag).map(|(_, v)| v.clone());
            assert_eq!(found, first, "qr_get disagrees with the decoder on {tag}");
        }
    }
});

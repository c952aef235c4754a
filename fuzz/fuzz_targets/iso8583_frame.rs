//! ISO 8583 frames as a host sends them. Decoding never panics, and whatever decodes re-encodes
//! stably: decode -> encode -> decode gives the same frame, re-encoding that gives the same bytes,
//! and (the codec being canonical) those are the bytes received. Decoded text is ASCII except in
//! field 63; the text fields the flows read go through their readers, and the masked log line is
//! rendered. Every input is decoded as TDES (field 52 b64) and as a host serving both key families
//! decodes it (docs/PROTOCOL.md §11: field 52 b128 when field 41 names an SM-family terminal, here
//! any TID whose first byte is odd).
#![no_main]

use libfuzzer_sys::fuzz_target;
use possdk_core::fuzzing::{
    decode_frame_for, encode_frame, field, mac_span, masked, parse_balance, parse_field48, qr_get,
    Format, KeyFamily,
};

fn tdes(_: &[u8]) -> KeyFamily {
    KeyFamily::Tdes
}

/// Both families, by the TID: what a host that serves both does with field 41.
fn by_tid(tid: &[u8]) -> KeyFamily {
    match tid.first() {
        Some(b) if b % 2 == 1 => KeyFamily::Sm,
        _ => KeyFamily::Tdes,
    }
}

fuzz_target!(|data: &[u8]| {
    for family_of in [tdes as fn(&[u8]) -> KeyFamily, by_tid] {
        check(data, family_of);
        // Most mutations change the length, which the 2-byte prefix must announce exactly: a copy with
        // the prefix corrected reaches the body decoder too.
        if let Ok(len) = u16::try_from(data.len().wrapping_sub(2)) {
            let mut fixed = data.to_vec();
            fixed[..2].copy_from_slice(&len.to_be_bytes());
            check(&fixed, family_of);
        }
    }
});

fn check(data: &[u8], family_of: fn(&[u8]) -> KeyFamily) {
    let _ = mac_span(data);
    let Ok(frame) = decode_frame_for(data, &family_of) else {
        return;
    };
    if let Some(block) = frame.message.get(52) {
        let tid = frame.message.get(41).unwrap_or_default();
        assert_eq!(
            block.len(),
            family_of(tid).block_len(),
            "field 52 of the wrong family"
        );
    }
    let bytes = encode_frame(&frame).expect("a decoded frame re-encodes");
    let again = decode_frame_for(&bytes, &family_of).expect("a re-encoded frame decodes");
    assert_eq!(again, frame, "decode -> encode -> decode changed the frame");
    assert_eq!(
        encode_frame(&again).expect("the round-tripped frame re-encodes"),
        bytes,
        "re-encoding is not stable"
    );
    assert_eq!(
        bytes, data,
        "the encoding of a decoded frame differs from the bytes received"
    );

    let m = &frame.message;
    let _ = masked(m);
    for (n, value) in m.fields() {
        // The codec's text rule: every decoded text field is ASCII, but for field 63 (GBK).
        if let Some(def) = field(n) {
            assert!(
                def.format == Format::B || def.eight_bit || value.is_ascii(),
                "field {n} decoded to non-ASCII text"
            );
        }
        let _ = m.get_str(n);
    }
    if let Some(f54) = m.get_str(54) {
        let _ = parse_balance(f54);
    }
    if let Some(f48) = m.get_str(48) {
        let _ = parse_field48(f48);
    }
    if let Some(f59) = m.get_str(59) {
        let _ = qr_get(f59, "A4");
    }
}

//! Known-answer frames of tests/vectors/messages.json and the real CUP capture of tests/vectors/README.md.
use possdk_core::iso8583::profile::{self, Format};
use possdk_core::iso8583::{decode_frame, encode_frame, mac_span, Message};
use serde_json::Value;
use std::collections::BTreeMap;

const CUP_CAPTURE: &str = "007F600003000060321032007202003020048000C08015000000000000001234000002030099303030303030303139353237313831383232313738373531353600192600000100060000000000435F01123238343431323334353637383930313233345F03063136303033365F04063230303832365C0230314233413039324145";

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/vectors/messages.json"
    );
    let text = std::fs::read_to_string(path).expect("read messages.json");
    serde_json::from_str(&text).expect("parse messages.json")
}

/// Each vector: (name, frame bytes, expected fields as strings).
fn frames() -> Vec<(String, Vec<u8>, BTreeMap<String, String>)> {
    let v = vectors();
    let obj = v.as_object().expect("object");
    let mut out = Vec::new();
    for (name, entry) in obj {
        let (Some(frame), Some(fields)) = (entry.get("frame"), entry.get("fields")) else {
            continue;
        };
        let bytes = hex::decode(frame.as_str().expect("frame hex")).expect("frame hex");
        let fields = fields
            .as_object()
            .expect("fields")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("field string").to_string()))
            .collect();
        out.push((name.clone(), bytes, fields));
    }
    assert!(
        out.len() >= 7,
        "expected the seven frames of messages.json, got {}",
        out.len()
    );
    out
}

/// The decoded message in the vectors' notation: "t" = MTI, b fields as upper-case hex, text as is.
fn as_strings(msg: &Message) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("t".to_string(), msg.mti.to_string());
    for (n, v) in msg.fields() {
        let def = profile::field(n).expect("decoded fields are defined");
        let s = if def.format == Format::B {
            hex::encode_upper(v)
        } else {
            String::from_utf8(v.to_vec()).expect("text field is ASCII")
        };
        m.insert(n.to_string(), s);
    }
    m
}

#[test]
fn every_vector_decodes_to_its_fields_and_reencodes_identically() {
    for (name, bytes, fields) in frames() {
        let frame = decode_frame(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(as_strings(&frame.message), fields, "{name}");
        let again = encode_frame(&frame).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            hex::encode_upper(&again),
            hex::encode_upper(&bytes),
            "{name}"
        );
        if frame.message.has(64) {
            let span = mac_span(&bytes).expect("bit 64 set");
            assert_eq!(span, &bytes[13..bytes.len() - 8], "{name}");
        } else {
            assert!(mac_span(&bytes).is_none(), "{name}");
        }
    }
}

#[test]
fn sale_request_details() {
    let v = vectors();
    let hexframe = v["sale_swipe_pin_request"]["frame"]
        .as_str()
        .expect("frame");
    let frame = decode_frame(&hex::decode(hexframe).expect("hex")).expect("decode");
    assert_eq!(frame.tpdu.destination(), 0x0003);
    assert_eq!(frame.header.app_type, 0x60);
    assert_eq!(frame.header.version, 0x31);
    let shown = format!("{:?}", frame.message);
    assert!(shown.contains("2=622588******6789"), "{shown}");
    assert!(shown.contains("35=<hidden 33>"), "{shown}");
    assert!(shown.contains("52=<hidden>"), "{shown}");
    assert!(!shown.contains("6225880123456789"), "{shown}");
    assert!(
        !shown.to_uppercase().contains("7AF12C138B35EC3D"),
        "{shown}"
    );
}

#[test]
fn real_cup_capture_decodes() {
    let bytes = hex::decode(CUP_CAPTURE).expect("hex");
    let frame = decode_frame(&bytes).expect("decode capture");
    let m = &frame.message;
    assert_eq!(m.mti.to_string(), "0200");
    // Header kept as received: version 32, status/processing byte 10, reserved 32 00 72.
    assert_eq!(frame.header.version, 0x32);
    assert_eq!(frame.header.status, 1);
    assert_eq!(frame.header.reserved, [0x32, 0x00, 0x72]);
    assert_eq!(m.get_str(22), Some("030"));
    let f60 = m.get_str(60).expect("field 60");
    assert_eq!(f60.len(), 19, "{f60}");
    assert_eq!(m.get_str(4), Some("000000001234"));
    assert_eq!(m.get(64), Some(&b"B3A092AE"[..]));
    let span = mac_span(&bytes).expect("bit 64 set");
    assert_eq!(span, &bytes[13..bytes.len() - 8]);
    assert_eq!(encode_frame(&frame).expect("re-encode"), bytes);
}

/// CUP-ECB over each MAC'd frame's span equals its field 64 (vectors under `keys.mak`, capture under its MAK).
#[test]
fn field_64_is_cup_ecb_over_mac_span() {
    use possdk_core::crypto::{mac::cup_ecb, DesKey};
    let v = vectors();
    let mak = DesKey::from_hex(v["keys"]["mak"].as_str().expect("mak")).expect("MAK");
    let mut checked = 0;
    for (name, bytes, _) in frames() {
        let Some(span) = mac_span(&bytes) else {
            continue;
        };
        let frame = decode_frame(&bytes).expect("decode");
        assert_eq!(
            Some(&cup_ecb(&mak, span)[..]),
            frame.message.get(64),
            "{name}"
        );
        checked += 1;
    }
    assert!(checked >= 5, "MAC'd vectors checked: {checked}");
    let capture = hex::decode(CUP_CAPTURE).expect("hex");
    let cap_mak = DesKey::from_hex("0723C80DB5F4CD3D0723C80DB5F4CD3D").expect("capture MAK");
    let span = mac_span(&capture).expect("bit 64");
    assert_eq!(&cup_ecb(&cap_mak, span), b"B3A092AE");
}

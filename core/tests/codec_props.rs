//! Properties: valid messages generated from the field table round-trip; arbitrary bytes never panic.
use possdk_core::iso8583::profile::{FieldDef, Format, Length, FIELDS};
use possdk_core::iso8583::{
    decode_body, decode_frame, encode_body, encode_frame, CodecErrorKind, Frame, Header, Message,
    Mti, Tpdu,
};
use proptest::prelude::*;

/// A valid value for `def` (exact length for fixed fields, 0..=max for variable ones).
fn value(def: &'static FieldDef) -> BoxedStrategy<Vec<u8>> {
    let len = match def.length {
        Length::Fixed => def.max..=def.max,
        _ => 0..=def.max,
    };
    let byte: BoxedStrategy<u8> = match def.format {
        Format::N => (b'0'..=b'9').boxed(),
        Format::Z => prop_oneof![9 => b'0'..=b'9', 1 => Just(b'D')].boxed(),
        Format::An => (0x20u8..=0x7E).boxed(),
        Format::Ans if !def.eight_bit => (0u8..=0x7F).boxed(),
        Format::Ans | Format::B => any::<u8>().boxed(),
    };
    prop::collection::vec(byte, len).boxed()
}

/// One optional (field number, value) pair.
type FieldStrategy = BoxedStrategy<Option<(u8, Vec<u8>)>>;

fn message() -> impl Strategy<Value = Message> {
    let fields: Vec<FieldStrategy> = FIELDS
        .iter()
        .map(|d| prop::option::weighted(0.4, value(d).prop_map(move |v| (d.number, v))).boxed())
        .collect();
    (0u16..=9999, fields).prop_map(|(mti, fields)| {
        let mut m = Message::new(Mti(mti));
        for (n, v) in fields.into_iter().flatten() {
            m.set(n, v);
        }
        m
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn body_round_trip(m in message()) {
        let bytes = encode_body(&m).expect("valid message encodes");
        let back = decode_body(&bytes).expect("own encoding decodes");
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(encode_body(&back).expect("re-encode"), bytes);
    }

    #[test]
    fn frame_round_trip(m in message(), tpdu in any::<[u8; 5]>(), status in 0u8..16, processing in 0u8..16,
                        app in any::<u8>(), version in any::<u8>(), reserved in any::<[u8; 3]>()) {
        let frame = Frame { tpdu: Tpdu(tpdu), header: Header { app_type: app, version, status, processing, reserved }, message: m };
        match encode_frame(&frame) {
            Ok(bytes) => {
                prop_assert!(bytes.len() <= 2048);
                prop_assert_eq!(decode_frame(&bytes).expect("own frame decodes"), frame);
            }
            Err(e) => prop_assert!(matches!(e.kind, CodecErrorKind::FrameTooLarge(n) if n > 2048)),
        }
    }

    #[test]
    fn short_fixed_values_are_padded(n3 in "[0-9]{0,5}", tid in "[A-Z0-9]{0,7}") {
        let mut m = Message::new(Mti(200));
        m.set_str(3, &n3).set_str(41, &tid);
        let back = decode_body(&encode_body(&m).expect("encode")).expect("decode");
        prop_assert_eq!(back.get_str(3).expect("3"), format!("{n3:0>6}"));
        prop_assert_eq!(back.get_str(41).expect("41"), format!("{tid:<8}"));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode_body(&data);
        let _ = decode_frame(&data);
    }

    #[test]
    fn arbitrary_body_behind_valid_prefix_never_panics(body in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut data = Vec::with_capacity(body.len() + 13);
        data.extend_from_slice(&((body.len() + 11) as u16).to_be_bytes());
        data.extend_from_slice(&[0x60, 0, 3, 0, 0, 0x60, 0x31, 0, 0, 0, 0]);
        data.extend_from_slice(&body);
        let _ = decode_frame(&data);
    }

    #[test]
    fn mutated_valid_frames_never_panic(m in message(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        if let Ok(mut bytes) = encode_body(&m) {
            let i = pos.index(bytes.len());
            bytes[i] = byte;
            if let Ok(d) = decode_body(&bytes) {
                // Whatever decodes must encode back to the same bytes (strict, canonical decoding).
                prop_assert_eq!(encode_body(&d).expect("decoded message encodes"), bytes);
            }
        }
    }
}

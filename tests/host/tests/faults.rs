//! Fault injection over real TCP, malformed input, and random bytes (proptest).

mod common;
use common::*;
use possdk_core::iso8583::decode_frame;
use possdk_host::admin::AdminClient;
use proptest::prelude::*;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len)?;
    let mut raw = vec![0u8; u16::from_be_bytes(len) as usize + 2];
    raw[..2].copy_from_slice(&len);
    s.read_exact(&mut raw[2..])?;
    Ok(raw)
}

fn connect(s: &Sim) -> TcpStream {
    let c = TcpStream::connect(s.host().addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

fn sale_frame(s: &mut Sim, amount: u64) -> (u32, Vec<u8>) {
    let m = s.card_msg(200, "000000", "00", "22", PAN, Some(amount), Some("123456"));
    (s.stan, s.frame(m, 3, true))
}

#[test]
fn faults_over_tcp() {
    let mut s = Sim::start("faults");
    s.sign_in();
    let mut admin = AdminClient::connect(s.host().admin_addr()).unwrap();
    let mut call = |v: serde_json::Value| {
        let r = admin.call(v).unwrap();
        assert_eq!(r["ok"], json!(true), "{r}");
        r
    };
    let start = s.balance(PAN);
    let mut c = connect(&s);

    // Several requests on one connection, answered in order.
    for _ in 0..3 {
        let (_, f) = sale_frame(&mut s, 10);
        c.write_all(&f).unwrap();
    }
    for _ in 0..3 {
        let r = decode_frame(&read_frame(&mut c).unwrap()).unwrap();
        assert_eq!(r.message.get_str(39), Some("00"));
    }
    assert_eq!(s.balance(PAN), start - 30);

    // decline with a code, count 2.
    call(json!({"cmd": "fault", "tid": TID, "fault": "decline", "code": "05", "count": 2}));
    for _ in 0..2 {
        let (_, f) = sale_frame(&mut s, 10);
        c.write_all(&f).unwrap();
        let r = decode_frame(&read_frame(&mut c).unwrap()).unwrap();
        assert_eq!(r.message.get_str(39), Some("05"));
    }
    let (_, f) = sale_frame(&mut s, 10);
    c.write_all(&f).unwrap();
    assert_eq!(
        decode_frame(&read_frame(&mut c).unwrap())
            .unwrap()
            .message
            .get_str(39),
        Some("00")
    );
    assert_eq!(s.balance(PAN), start - 40);

    // no_answer: the money moves, nothing comes back.
    call(json!({"cmd": "fault", "tid": TID, "fault": "no_answer"}));
    let (st, f) = sale_frame(&mut s, 10);
    c.write_all(&f).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(read_frame(&mut c).is_err());
    assert_eq!(s.balance(PAN), start - 50);
    assert_eq!(
        call(json!({"cmd": "tx", "tid": TID, "stan": st}))["state"],
        "approved"
    );
    drop(c);

    // wrong_mac: field 64 does not verify.
    call(json!({"cmd": "fault", "tid": TID, "fault": "wrong_mac"}));
    let mut c = connect(&s);
    let (_, f) = sale_frame(&mut s, 10);
    c.write_all(&f).unwrap();
    let raw = read_frame(&mut c).unwrap();
    let r = decode_frame(&raw).unwrap();
    let good = possdk_core::crypto::mac::cup_ecb(
        s.mak.as_ref().unwrap(),
        possdk_core::iso8583::mac_span(&raw).unwrap(),
    );
    assert_ne!(r.message.get(64), Some(&good[..]));

    // garbage: a valid length prefix around bytes that do not decode.
    call(json!({"cmd": "fault", "tid": TID, "fault": "garbage"}));
    let (_, f) = sale_frame(&mut s, 10);
    c.write_all(&f).unwrap();
    let raw = read_frame(&mut c).unwrap();
    assert!(raw.len() >= 18);

    // sign_in_again: header nibble 3.
    call(json!({"cmd": "fault", "tid": TID, "fault": "sign_in_again"}));
    let (_, f) = sale_frame(&mut s, 10);
    c.write_all(&f).unwrap();
    assert_eq!(
        decode_frame(&read_frame(&mut c).unwrap())
            .unwrap()
            .header
            .processing,
        3
    );

    // delay.
    call(json!({"cmd": "fault", "tid": TID, "fault": "delay", "ms": 300}));
    let (_, f) = sale_frame(&mut s, 10);
    let t0 = Instant::now();
    c.write_all(&f).unwrap();
    read_frame(&mut c).unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(300));

    // close_mid_frame: half a frame, then EOF.
    call(json!({"cmd": "fault", "tid": TID, "fault": "close_mid_frame"}));
    let (_, f) = sale_frame(&mut s, 10);
    c.write_all(&f).unwrap();
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    assert!(!buf.is_empty());
    assert!(decode_frame(&buf).is_err());

    // clear_faults and the unknown-fault error.
    call(json!({"cmd": "fault", "tid": TID, "fault": "decline"}));
    call(json!({"cmd": "clear_faults", "tid": TID}));
    assert_eq!(
        call(json!({"cmd": "faults", "tid": TID}))["faults"],
        json!([])
    );
    let mut admin2 = AdminClient::connect(s.host().admin_addr()).unwrap();
    let r = admin2
        .call(json!({"cmd": "fault", "tid": TID, "fault": "nope"}))
        .unwrap();
    assert_eq!(r["ok"], json!(false));
    let r = admin2.call(json!({"cmd": "what"})).unwrap();
    assert_eq!(r["ok"], json!(false));
}

#[test]
fn malformed_frames_answered_30_or_closed() {
    let mut s = Sim::start("malformed");
    s.sign_in();
    let before = (s.ledger(), s.balance(PAN));
    // Readable MTI, broken body (field 3 with a non-digit): 30.
    let (_, mut f) = sale_frame(&mut s, 10);
    // Bitmap starts at 15; field 2's LL at 23; corrupt the first PAN byte into a non-BCD nibble.
    f[24] = 0xAB;
    let r = decode_frame(&s.host().process_frame(&f).unwrap()).unwrap();
    assert_eq!(r.message.get_str(39), Some("30"));
    assert_eq!(r.message.mti.0, 210);
    // Unreadable MTI: the connection is closed without an answer.
    let mut c = connect(&s);
    let junk = [
        0x00, 0x10, 0x60, 0, 3, 0, 0, 0x60, 0x31, 0, 0, 0, 0, 0xFF, 0xFF, 1, 2, 3,
    ];
    c.write_all(&junk).unwrap();
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    assert!(buf.is_empty());
    // An oversized length: closed.
    let mut c = connect(&s);
    c.write_all(&[0xFF, 0xFF, 1, 2, 3]).unwrap();
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    assert!(buf.is_empty());
    assert_eq!((s.ledger(), s.balance(PAN)), before);
    // Still serving.
    let (_, f) = sale_frame(&mut s, 10);
    assert_eq!(
        decode_frame(&s.host().process_frame(&f).unwrap())
            .unwrap()
            .message
            .get_str(39),
        Some("00")
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]
    #[test]
    fn random_bytes_never_crash_or_move_money(body in proptest::collection::vec(any::<u8>(), 0..300), mti in any::<bool>()) {
        thread_local! {
            static SIM: std::cell::RefCell<Option<Sim>> = const { std::cell::RefCell::new(None) };
        }
        SIM.with(|cell| {
            let mut slot = cell.borrow_mut();
            let s = slot.get_or_insert_with(|| {
                let mut s = Sim::start("prop");
                s.sign_in();
                s
            });
            let before = (s.ledger(), s.balance(PAN));
            // A plausible head (TPDU, header, 0200) half of the time, so the body parser is exercised.
            let mut frame = if mti { vec![0x60, 0, 3, 0, 0, 0x60, 0x31, 0, 0, 0, 0, 0x02, 0x00] } else { vec![] };
            frame.extend(&body);
            let mut raw = (frame.len() as u16).to_be_bytes().to_vec();
            raw.extend(&frame);
            if let Some(resp) = s.host().process_frame(&raw) {
                prop_assert!(decode_frame(&resp).is_ok());
            }
            prop_assert_eq!((s.ledger(), s.balance(PAN)), before);
            Ok(())
        })?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]
    /// Any change to a valid MAC'd sale after the header (body or MAC) is refused and moves nothing.
    #[test]
    fn mutated_sale_frames_are_refused(pos in 13usize..200, xor in 1u8..=255) {
        thread_local! {
            static SIM: std::cell::RefCell<Option<Sim>> = const { std::cell::RefCell::new(None) };
        }
        SIM.with(|cell| {
            let mut slot = cell.borrow_mut();
            let s = slot.get_or_insert_with(|| {
                let mut s = Sim::start("mutate");
                s.sign_in();
                s
            });
            let before = (s.ledger(), s.balance(PAN));
            let (_, mut f) = sale_frame(s, 10);
            let i = 13 + (pos - 13) % (f.len() - 13);
            f[i] ^= xor;
            if let Some(resp) = s.host().process_frame(&f) {
                let r = decode_frame(&resp).unwrap();
                prop_assert_ne!(r.message.get_str(39), Some("00"));
            }
            prop_assert_eq!((s.ledger(), s.balance(PAN)), before);
            Ok(())
        })?;
    }
}

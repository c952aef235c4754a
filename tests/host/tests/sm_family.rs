//! The host's side of the SM key family (docs/PROTOCOL.md §11), frame by frame with `--fixed-keys`: DF57 and the
//! SM2 key's pin at activation, the `352` answer with DF25, an SM2 TMK download, SM4 sign-in keys, field 52 of 16
//! bytes parsed by the family of field 41, the CUP-SM4 MAC both ways, and the refusals (53 naming TDES, a TDES
//! MAC, a wrong PIN).

mod common;

use common::*;
use possdk_core::crypto::sm::{self, cup_sm4_mac};
use possdk_core::crypto::sm2::Sm2PublicKey;
use possdk_core::crypto::sm4::Sm4Key;
use possdk_core::crypto::{mac, KeyFamily};
use possdk_core::iso8583::{
    decode_frame_for, encode_frame, mac_span, Frame, Header, Message, Mti, Tpdu,
};
use possdk_core::tlv::{self, Tlv};
use possdk_sim::fixture::{FIXED_SM_MAK, FIXED_SM_PIK, FIXED_SM_TMK};

fn sm_vectors() -> serde_json::Value {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../vectors/sm.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Send `msg` to `dest`; field 64 (when `mak`) is CUP-SM4, or CUP-ECB with `tdes_mac`. The answer is decoded as
/// an SM terminal's.
fn send(
    s: &Sim,
    mut msg: Message,
    dest: u16,
    mak: Option<&Sm4Key>,
    tdes_mac: bool,
) -> (Vec<u8>, Message) {
    if mak.is_some() {
        msg.set(64, vec![0u8; 8]);
    }
    let d = dest.to_be_bytes();
    let f = Frame {
        tpdu: Tpdu([0x60, d[0], d[1], 0, 0]),
        header: Header::default(),
        message: msg,
    };
    let mut bytes = encode_frame(&f).unwrap();
    if let Some(k) = mak {
        let span = mac_span(&bytes).unwrap().to_vec();
        let m = if tdes_mac {
            mac::cup_ecb(
                &possdk_core::crypto::DesKey::from_bytes(k.as_bytes()).unwrap(),
                &span,
            )
        } else {
            cup_sm4_mac(k, &span)
        };
        let n = bytes.len();
        bytes[n - 8..].copy_from_slice(&m);
    }
    let resp = s.host().process_frame(&bytes).expect("an answer");
    let m = decode_frame_for(&resp, &|_| KeyFamily::Sm).unwrap().message;
    (resp, m)
}

fn mgmt(s: &Sim, nmc: &str, f62: Option<Vec<u8>>) -> Message {
    let mut m = Message::new(Mti(800));
    m.set_str(11, "000001")
        .set_str(41, TID)
        .set_str(42, MID)
        .set_str(60, &format!("00000001{nmc}"));
    if let Some(v) = f62 {
        m.set(62, v);
    }
    send(s, m, 5, None, false).1
}

fn sale(pik: &Sm4Key, stan: u32, pin: &str, f53: &str) -> Message {
    let mut m = Message::new(Mti(200));
    m.set_str(2, PAN)
        .set_str(3, "000000")
        .set_str(4, "000000000100");
    m.set_str(11, &format!("{stan:06}")).set_str(14, "3012");
    m.set_str(22, "021").set_str(25, "00").set_str(26, "12");
    m.set_str(35, &format!("{PAN}D3012101123456789"));
    m.set_str(41, TID).set_str(42, MID).set_str(49, "156");
    m.set(52, sm::pin_block_encrypt(pik, pin, PAN).unwrap().to_vec());
    m.set_str(53, f53);
    m.set_str(60, "22000001000500000");
    m
}

#[test]
fn an_sm_terminal_end_to_end_on_the_host() {
    let s = Sim::start("sm");
    s.admin(serde_json::json!({"cmd": "key_family", "tid": TID, "family": "sm"}));
    let v = sm_vectors();
    let dl = &v["sm2_tmk_download"];
    let act = tlv::encode(&[
        Tlv::primitive(0xDF41, b"SN0001".to_vec()),
        Tlv::primitive(0xDF42, b"TOKEN0001".to_vec()),
        Tlv::primitive(0xDF43, b"0.1.0".to_vec()),
    ]);
    let r = mgmt(&s, "399", Some(act));
    assert_eq!(r.get_str(39), Some("00"));
    let items = tlv::decode(r.get(62).unwrap()).unwrap();
    assert_eq!(tlv::get(&items, 0xDF57), Some(&b"SM"[..]));
    let pin = unhex(dl["host_public_key_sha256"].as_str().unwrap());
    assert_eq!(tlv::get(&items, 0xDF56), Some(&pin[..]));

    let r = mgmt(&s, "352", None);
    let items = tlv::decode(r.get(62).unwrap()).unwrap();
    assert_eq!(tlv::get(&items, 0xDF25), Some(&b"SM2"[..]));
    assert_eq!(tlv::get(&items, 0xDF04), None);
    let key = Sm2PublicKey::from_uncompressed(tlv::get(&items, 0xDF02).unwrap()).unwrap();
    assert_eq!(key.fingerprint().to_vec(), pin);

    // 350: R under the SM2 key; a DF24 that does not match R is A7.
    let r_key = Sm4Key::from_hex("00112233445566778899AABBCCDDEEFF").unwrap();
    let req = sm::tmk_request_with(&key, Sm4Key::from_bytes(r_key.as_bytes()).unwrap()).unwrap();
    let dl62 = |cv: &[u8]| {
        tlv::encode(&[
            Tlv::primitive(0x9F06, tlv::get(&items, 0x9F06).unwrap().to_vec()),
            Tlv::primitive(0x9F22, tlv::get(&items, 0x9F22).unwrap().to_vec()),
            Tlv::primitive(0xDF23, req.encrypted_transport_key.clone()),
            Tlv::primitive(0xDF24, cv.to_vec()),
        ])
    };
    assert_eq!(
        mgmt(&s, "350", Some(dl62(&[0, 0, 0, 0]))).get_str(39),
        Some("A7")
    );
    let r = mgmt(&s, "350", Some(dl62(&req.transport_key_cv)));
    assert_eq!(r.get_str(39), Some("00"));
    let ans = tlv::decode(r.get(62).unwrap()).unwrap();
    let tmk = sm::tmk_unwrap(
        &r_key,
        tlv::get(&ans, 0xDF21).unwrap(),
        tlv::get(&ans, 0xDF22).unwrap(),
    )
    .unwrap();
    assert_eq!(hex::encode_upper(tmk.as_bytes()), FIXED_SM_TMK);
    let cv = tlv::get(&ans, 0xDF22).unwrap().to_vec();
    assert_eq!(
        mgmt(&s, "351", Some(tlv::encode(&[Tlv::primitive(0xDF22, cv)]))).get_str(39),
        Some("00")
    );

    // Sign-in: three SM4 keys under the TMK with their check values.
    let mut m = Message::new(Mti(800));
    m.set_str(11, "000002").set_str(41, TID).set_str(42, MID);
    m.set_str(60, "00000001004").set_str(63, "01 ");
    let (_, r) = send(&s, m, 3, None, false);
    assert_eq!(r.get_str(39), Some("00"));
    let keys = sm::unwrap_sign_in(&tmk, r.get(62).unwrap()).unwrap();
    assert_eq!(hex::encode_upper(keys.pik.as_bytes()), FIXED_SM_PIK);
    assert_eq!(hex::encode_upper(keys.mak.as_bytes()), FIXED_SM_MAK);

    // A sale: 16-byte PIN block, 53 `24…`, CUP-SM4; the answer is MAC'd with CUP-SM4.
    let (raw, r) = send(
        &s,
        sale(&keys.pik, 10, "123456", "2400000000000000"),
        3,
        Some(&keys.mak),
        false,
    );
    assert_eq!(r.get_str(39), Some("00"), "{r:?}");
    assert_eq!(
        r.get(64).unwrap(),
        cup_sm4_mac(&keys.mak, mac_span(&raw).unwrap())
    );
    // The wrong PIN is 55; 53 naming TDES with a 16-byte block is 99; a CUP-ECB MAC is A0.
    let (_, r) = send(
        &s,
        sale(&keys.pik, 11, "654321", "2400000000000000"),
        3,
        Some(&keys.mak),
        false,
    );
    assert_eq!(r.get_str(39), Some("55"));
    let (_, r) = send(
        &s,
        sale(&keys.pik, 12, "123456", "2600000000000000"),
        3,
        Some(&keys.mak),
        false,
    );
    assert_eq!(r.get_str(39), Some("99"));
    let (_, r) = send(
        &s,
        sale(&keys.pik, 13, "123456", "2400000000000000"),
        3,
        Some(&keys.mak),
        true,
    );
    assert_eq!(r.get_str(39), Some("A0"));
}

/// Provisioning names the family per terminal; moving a terminal to the other family drops its keys.
#[test]
fn the_family_comes_from_provisioning_and_a_change_drops_the_keys() {
    let s = Sim::start_with("sm-prov", |cfg| {
        let dir = tempdir("sm-prov-file");
        let path = dir.join("provision.json");
        std::fs::write(
            &path,
            serde_json::json!({
                "terminals": [{"tid": TID, "mid": MID, "key_family": "sm"}],
                "devices": [{"sn": "SN0001", "token": "TOKEN0001", "tid": TID}]
            })
            .to_string(),
        )
        .unwrap();
        cfg.provision = Some(path);
    });
    let act = tlv::encode(&[
        Tlv::primitive(0xDF41, b"SN0001".to_vec()),
        Tlv::primitive(0xDF42, b"TOKEN0001".to_vec()),
    ]);
    let r = mgmt(&s, "399", Some(act.clone()));
    let items = tlv::decode(r.get(62).unwrap()).unwrap();
    assert_eq!(tlv::get(&items, 0xDF57), Some(&b"SM"[..]));
    // With --fixed-keys the SM terminal has the SM4 TMK at start: sign-in works at once.
    let mut m = Message::new(Mti(800));
    m.set_str(11, "000002").set_str(41, TID).set_str(42, MID);
    m.set_str(60, "00000001004").set_str(63, "01 ");
    assert_eq!(
        send(&s, m.clone(), 3, None, false).1.get_str(39),
        Some("00")
    );

    let changed = s.admin(serde_json::json!({"cmd": "key_family", "tid": TID, "family": "tdes"}));
    assert_eq!(changed["changed"], 1);
    let r = mgmt(&s, "399", Some(act));
    let items = tlv::decode(r.get(62).unwrap()).unwrap();
    assert_eq!(tlv::get(&items, 0xDF57), Some(&b"TDES"[..]));
    let r = mgmt(&s, "352", None);
    let items = tlv::decode(r.get(62).unwrap()).unwrap();
    assert!(tlv::get(&items, 0xDF04).is_some() && tlv::get(&items, 0xDF25).is_none());
    let bad = s
        .host()
        .admin(serde_json::json!({"cmd": "key_family", "tid": TID, "family": "sm4"}));
    assert_eq!(bad["ok"], false, "{bad}");
}

//! The host driven with the golden frames of tests/vectors/messages.json (`--fixed-keys`) and with
//! frames built here for every rule of docs/PROTOCOL.md §4.

mod common;
use common::*;
use possdk_core::crypto::{emv, mac, rsa::HostPublicKey, tdes, DesKey};
use possdk_core::iso8583::{decode_frame, mac_span, Message, Mti};
use possdk_core::tlv::{self, Tlv};
use serde_json::json;

fn frame_of(v: &serde_json::Value, name: &str) -> Vec<u8> {
    unhex(v[name]["frame"].as_str().unwrap())
}

#[test]
fn golden_frames_sign_in_sale_qr_void_settlement() {
    let v = vectors();
    let mut s = Sim::start("golden");
    // Sign-in: field 62 is exactly the vector's keys under the TMK.
    let r = s.raw(&frame_of(&v, "signin_request")).message;
    assert_eq!(rc(&r), "00");
    assert_eq!(
        hex::encode_upper(r.get(62).unwrap()),
        v["signin_response"]["fields"]["62"].as_str().unwrap()
    );
    assert_eq!(r.get_str(60), Some("00000001004"));
    assert_eq!(r.get_str(11), Some("000001"));
    s.mak = Some(DesKey::from_hex(MAK).unwrap());

    // Sale: approved, response MAC valid (checked by Sim::raw), echo fields.
    let before = s.balance(PAN);
    let raw = s
        .host()
        .process_frame(&frame_of(&v, "sale_swipe_pin_request"))
        .unwrap();
    let f = decode_frame(&raw).unwrap();
    let m = &f.message;
    assert_eq!(rc(m), "00");
    let c = mac::cup_ecb(s.mak.as_ref().unwrap(), mac_span(&raw).unwrap());
    assert_eq!(m.get(64), Some(&c[..]));
    let want = &v["sale_swipe_pin_response"]["fields"];
    for fld in [2u8, 3, 4, 11, 14, 25, 41, 42, 49, 60] {
        assert_eq!(
            m.get_str(fld),
            want[fld.to_string()].as_str(),
            "field {fld}"
        );
    }
    for fld in [12u8, 13, 15, 37, 38] {
        assert!(m.has(fld), "field {fld}");
    }
    assert_eq!(m.get_str(63), Some("CUP"));
    assert_eq!(f.tpdu.0, [0x60, 0x00, 0x00, 0x00, 0x03]);
    assert_eq!(s.balance(PAN), before - 1234);
    let sale_rrn = m.get_str(37).unwrap().to_string();
    let sale_auth = m.get_str(38).unwrap().to_string();

    // QR sale: 59 carries an A4 voucher.
    let q = s.raw(&frame_of(&v, "qr_sale_request")).message;
    assert_eq!(rc(&q), "00");
    let f59 = q.get_str(59).unwrap();
    assert!(f59.starts_with("A4020") && f59.len() == 25, "{f59}");

    // Void: the golden frame carries the vector's 37/38, which our host did not issue -> 25.
    let vd = s.raw(&frame_of(&v, "void_swipe_request")).message;
    assert_eq!(rc(&vd), "25");
    assert_eq!(s.balance(PAN), before - 1234);
    // The same void with our 37/38 is approved and restores the balance.
    let mut vm = decode_frame(&frame_of(&v, "void_swipe_request"))
        .unwrap()
        .message;
    vm.set_str(11, "000006")
        .set_str(37, &sale_rrn)
        .set_str(38, &sale_auth);
    let vr = s.send(vm, 3, true);
    assert_eq!(rc(&vr), "00");
    assert_eq!(s.balance(PAN), before);
    assert_eq!(s.tx(2)["state"], "voided");

    // Settlement: domestic debit 88.00 x 1 (the QR sale) matches the vector's 48 -> balanced, batch closed.
    let st = s.raw(&frame_of(&v, "settlement_request")).message;
    assert_eq!(rc(&st), "00");
    let f48 = st.get_str(48).unwrap();
    assert_eq!(&f48[30..31], "1");
    assert_eq!(&f48[61..62], "1");
    let t = s.admin(json!({"cmd": "totals", "tid": TID}));
    assert_eq!(t["batch"], 2);
}

#[test]
fn wrong_request_mac_is_a0_and_changes_nothing() {
    // A request MAC under the wrong key: A0, header nibble 3, nothing moves.
    let v = vectors();
    let mut s = Sim::start("badmac");
    s.sign_in();
    let before = (s.ledger(), s.balance(PAN));
    let mut raw = frame_of(&v, "sale_swipe_pin_request");
    let n = raw.len();
    raw[n - 1] ^= 1;
    let f = s.raw(&raw);
    assert_eq!(rc(&f.message), "A0");
    assert_eq!(f.header.processing, 3);
    assert_eq!((s.ledger(), s.balance(PAN)), before);
}

#[test]
fn card_rules() {
    let mut s = Sim::start("rules");
    s.sign_in();
    let (_, r) = s.sale(PAN, "000000", 100);
    assert_eq!(rc(&r), "55", "wrong PIN");
    assert!(!r.has(64), "declines carry no MAC");
    let (_, r) = s.sale("6225881111111111", "111111", 101);
    assert_eq!(rc(&r), "51", "insufficient funds");
    let (_, r) = s.sale("6225881111111111", "111111", 100);
    assert_eq!(rc(&r), "00", "exactly the balance");
    assert_eq!(s.balance("6225881111111111"), 0);
    let (_, r) = s.sale("6225882222222222", "222222", 100);
    assert_eq!(rc(&r), "54", "expired");
    let (_, r) = s.sale("6225883333333333", "333333", 100);
    assert_eq!(rc(&r), "41", "lost");
    let (_, r) = s.sale("6225880000000000", "123456", 100);
    assert_eq!(rc(&r), "14", "unknown card");
    assert_eq!(s.ledger(), 1);

    // Balance inquiry: PIN required, 54 carries the balance.
    let m = s.card_msg(200, "310000", "00", "01", PAN, None, Some("123456"));
    let r = s.send(m, 3, true);
    assert_eq!(rc(&r), "00");
    assert_eq!(r.get_str(54), Some("1002156C000001000000"));
    let m = s.card_msg(200, "310000", "00", "01", PAN, None, None);
    assert_eq!(rc(&s.send(m, 3, true)), "55");
}

fn void_msg(s: &mut Sim, orig_stan: u32, sale: &Message, amount: u64) -> Message {
    let mut m = s.card_msg(200, "200000", "00", "23", PAN, Some(amount), None);
    m.set_str(37, sale.get_str(37).unwrap())
        .set_str(38, sale.get_str(38).unwrap());
    m.set_str(61, &format!("{:06}{:06}", s.batch, orig_stan));
    m
}

#[test]
fn void_rules() {
    let mut s = Sim::start("void");
    s.sign_in();
    let start = s.balance(PAN);
    let (st, sale) = s.sale(PAN, "123456", 500);
    assert_eq!(rc(&sale), "00");
    let m = void_msg(&mut s, st, &sale, 400);
    assert_eq!(
        rc(&s.send(m, 3, true)),
        "64",
        "amount must be the original's"
    );
    let m = void_msg(&mut s, st, &sale, 500);
    assert_eq!(rc(&s.send(m, 3, true)), "00");
    assert_eq!(s.balance(PAN), start);
    let m = void_msg(&mut s, st, &sale, 500);
    assert_eq!(rc(&s.send(m, 3, true)), "12", "void of a voided sale");
    let m = void_msg(&mut s, 999_000, &sale, 500);
    assert_eq!(rc(&s.send(m, 3, true)), "25", "unknown original");
    assert_eq!(s.tx(st)["state"], "voided");
}

fn tip_msg(s: &mut Sim, sale_stan: u32, sale: &Message, sale_amount: u64, tip: u64) -> Message {
    let mut m = Message::new(Mti(220));
    let stan = s.next_stan();
    m.set_str(2, PAN)
        .set_str(3, "000000")
        .set_str(4, &format!("{:012}", sale_amount + tip));
    m.set_str(11, &format!("{stan:06}"))
        .set_str(22, "021")
        .set_str(25, "00");
    m.set_str(37, sale.get_str(37).unwrap())
        .set_str(38, sale.get_str(38).unwrap());
    m.set_str(41, TID)
        .set_str(42, MID)
        .set_str(48, &format!("{tip:012}"))
        .set_str(49, "156");
    m.set_str(60, &s.f60("34"));
    m.set_str(
        61,
        &format!(
            "{:06}{:06}{}",
            s.batch,
            sale_stan,
            sale.get_str(13).unwrap()
        ),
    );
    m
}

#[test]
fn tips_replays_and_refunds() {
    let mut s = Sim::start("tip");
    s.sign_in();
    let start = s.balance(PAN);
    let (st, sale) = s.sale(PAN, "123456", 1000);
    let m = tip_msg(&mut s, st, &sale, 1000, 201);
    assert_eq!(rc(&s.send(m, 3, true)), "13", "tip above 20%");
    let m = tip_msg(&mut s, st, &sale, 1000, 200);
    let frame = s.frame(m.clone(), 3, true);
    let r1 = s.raw(&frame).message;
    assert_eq!(rc(&r1), "00");
    assert_eq!(s.balance(PAN), start - 1200);
    assert_eq!(s.tx(st)["state"], "tipped");
    // Identical resend: the original response, no second tip.
    let r2 = s.raw(&frame).message;
    assert_eq!(r2.get_str(37), r1.get_str(37));
    assert_eq!(rc(&r2), "00");
    assert_eq!(s.balance(PAN), start - 1200);
    // Same key, different content: 94.
    let mut changed = m.clone();
    changed
        .set_str(48, "000000000100")
        .set_str(4, "000000001100");
    assert_eq!(rc(&s.send(changed, 3, true)), "94");
    // A second tip on the same sale: 12.
    let m2 = tip_msg(&mut s, st, &sale, 1000, 100);
    assert_eq!(rc(&s.send(m2, 3, true)), "12");
    // Void must carry sale + tip.
    let m = void_msg(&mut s, st, &sale, 1000);
    assert_eq!(rc(&s.send(m, 3, true)), "64");

    // Refunds add up to at most the total (1200).
    let refund = |s: &mut Sim, amount: u64| {
        let mut m = s.card_msg(220, "200000", "00", "25", PAN, Some(amount), None);
        m.set_str(37, sale.get_str(37).unwrap()).set_str(63, "CUP");
        m.set_str(
            61,
            &format!("{:06}{:06}{}", s.batch, st, sale.get_str(13).unwrap()),
        );
        s.send(m, 3, true)
    };
    assert_eq!(rc(&refund(&mut s, 700)), "00");
    assert_eq!(rc(&refund(&mut s, 501)), "61");
    assert_eq!(rc(&refund(&mut s, 500)), "00");
    assert_eq!(s.balance(PAN), start);
    assert_eq!(s.tx(st)["refunded"], 1200);
}

#[test]
fn preauth_completion_rules() {
    let mut s = Sim::start("preauth");
    s.sign_in();
    let start = s.balance(PAN);
    let m = s.card_msg(100, "030000", "06", "10", PAN, Some(10_000), Some("123456"));
    let pa_stan = s.stan;
    let pa = s.send(m, 3, true);
    assert_eq!(rc(&pa), "00");
    assert_eq!(s.balance(PAN), start - 10_000, "funds held");
    let completion = |s: &mut Sim, amount: u64| {
        let mut m = s.card_msg(200, "000000", "06", "20", PAN, Some(amount), None);
        m.set_str(38, pa.get_str(38).unwrap());
        m.set_str(
            61,
            &format!("{:06}{:06}{}", s.batch, pa_stan, pa.get_str(13).unwrap()),
        );
        (s.stan, s.send(m, 3, true))
    };
    assert_eq!(rc(&completion(&mut s, 11_501).1), "13", "over 115%");
    let (c_stan, c) = completion(&mut s, 11_500);
    assert_eq!(rc(&c), "00");
    assert_eq!(s.balance(PAN), start - 11_500);
    assert_eq!(s.tx(pa_stan)["state"], "completed");
    assert_eq!(rc(&completion(&mut s, 100).1), "12", "completed once");
    // Pre-auth void of a completed pre-auth: 12.
    let mut m = s.card_msg(100, "200000", "06", "11", PAN, Some(10_000), None);
    m.set_str(38, pa.get_str(38).unwrap());
    m.set_str(
        61,
        &format!("{:06}{:06}{}", s.batch, pa_stan, pa.get_str(13).unwrap()),
    );
    assert_eq!(rc(&s.send(m.clone(), 3, true)), "12");
    // Completion void reopens it.
    let mut cv = s.card_msg(200, "200000", "06", "21", PAN, Some(11_500), None);
    cv.set_str(37, c.get_str(37).unwrap())
        .set_str(38, c.get_str(38).unwrap());
    cv.set_str(61, &format!("{:06}{:06}", s.batch, c_stan));
    assert_eq!(rc(&s.send(cv, 3, true)), "00");
    assert_eq!(s.tx(pa_stan)["state"], "approved");
    assert_eq!(s.balance(PAN), start - 10_000);
    let stan = s.next_stan();
    m.set_str(11, &format!("{stan:06}"));
    assert_eq!(
        rc(&s.send(m, 3, true)),
        "00",
        "pre-auth void after the completion void"
    );
    assert_eq!(s.balance(PAN), start);
}

#[test]
fn reversals_undo_and_unknown_is_25() {
    let mut s = Sim::start("rev");
    s.sign_in();
    let start = s.balance(PAN);
    let (st, sale) = s.sale(PAN, "123456", 700);
    assert_eq!(rc(&sale), "00");
    let mut rv = s.card_msg(400, "000000", "00", "22", PAN, Some(700), None);
    rv.set_str(11, &format!("{st:06}"))
        .set_str(39, "98")
        .remove(35);
    let r = s.send(rv.clone(), 3, true);
    assert_eq!(rc(&r), "00");
    assert!(r.has(64), "0410 always MAC'd");
    assert_eq!(s.balance(PAN), start);
    assert_eq!(s.tx(st)["state"], "reversed");
    // Resent reversal: still 00, nothing moves.
    assert_eq!(rc(&s.send(rv, 3, true)), "00");
    assert_eq!(s.balance(PAN), start);
    // Reversal of something never seen: 25, MAC'd.
    let mut rv = s.card_msg(400, "000000", "00", "22", PAN, Some(700), None);
    rv.set_str(39, "98");
    let r = s.send(rv, 3, true);
    assert_eq!(rc(&r), "25");
    assert!(r.has(64));
    // Its original arriving late (the reversal overtook it): refused, nothing moves (docs/PROTOCOL.md §6.5).
    let lost = r.get_str(11).expect("0410 echoes 11").to_string();
    let mut late = s.card_msg(200, "000000", "00", "22", PAN, Some(700), None);
    late.set_str(11, &lost);
    assert_eq!(rc(&s.send(late, 3, true)), "94");
    assert_eq!(s.balance(PAN), start);
    // Reversing a void restores the sale.
    let (st2, sale2) = s.sale(PAN, "123456", 300);
    let v = void_msg(&mut s, st2, &sale2, 300);
    let vstan = s.stan;
    assert_eq!(rc(&s.send(v, 3, true)), "00");
    assert_eq!(s.balance(PAN), start - 300 + 300);
    let mut rv = s.card_msg(400, "200000", "00", "23", PAN, Some(300), None);
    rv.set_str(11, &format!("{vstan:06}")).set_str(39, "06");
    assert_eq!(rc(&s.send(rv, 3, true)), "00");
    assert_eq!(s.tx(st2)["state"], "approved");
    assert_eq!(s.balance(PAN), start - 300);
}

#[test]
fn unknown_terminal_and_not_signed_in() {
    let s = Sim::start("unknown");
    let mut m = Message::new(Mti(800));
    m.set_str(11, "000001")
        .set_str(41, "87654321")
        .set_str(42, MID)
        .set_str(60, "00000001004");
    assert_eq!(rc(&s.send(m, 3, false)), "97");
    // A financial request before sign-in: A0.
    let mut m = Message::new(Mti(200));
    m.set_str(3, "000000")
        .set_str(4, "000000000100")
        .set_str(11, "000002")
        .set_str(22, "021");
    m.set_str(25, "00")
        .set_str(41, TID)
        .set_str(42, MID)
        .set_str(49, "156")
        .set_str(60, "22000001000500000");
    m.set(64, b"00000000".to_vec());
    let r = s.send(m, 3, false);
    assert_eq!(rc(&r), "A0");
}

#[test]
fn chip_arqc_and_arpc() {
    use possdk_host::issuer;
    let mut s = Sim::start("chip");
    s.sign_in();
    let pan = "6225884444444444";
    let build55 = |good: bool| {
        let mut items = vec![
            Tlv::primitive(0x9F02, unhex("000000000500")),
            Tlv::primitive(0x9F03, unhex("000000000000")),
            Tlv::primitive(0x9F1A, unhex("0156")),
            Tlv::primitive(0x95, unhex("0000000000")),
            Tlv::primitive(0x5F2A, unhex("0156")),
            Tlv::primitive(0x9A, unhex("261125")),
            Tlv::primitive(0x9C, unhex("00")),
            Tlv::primitive(0x9F37, unhex("12345678")),
            Tlv::primitive(0x82, unhex("7C00")),
            Tlv::primitive(0x9F36, unhex("0007")),
            Tlv::primitive(0x9F10, unhex("07010103A000010A010000000000ABCDEF12")),
            Tlv::primitive(0x9F27, unhex("80")),
            Tlv::primitive(0x9F33, unhex("E0E1C8")),
        ];
        let input = emv::arqc_input(&items).unwrap();
        let mk = emv::derive_icc_mk_option_a(&issuer::imk_ac(), pan, "01").unwrap();
        let sk = emv::common_session_key(&mk, [0, 7]).unwrap();
        let mut arqc = emv::arqc(&sk, &input).unwrap();
        if !good {
            arqc[0] ^= 1;
        }
        items.push(Tlv::primitive(0x9F26, arqc.to_vec()));
        (tlv::encode(&items), sk, arqc)
    };
    let (f55, sk, arqc) = build55(true);
    let mut m = s.card_msg(200, "000000", "00", "22", pan, Some(500), Some("444444"));
    m.set_str(22, "051").set_str(23, "001").set(55, f55);
    let r = s.send(m, 3, true);
    assert_eq!(rc(&r), "00");
    let items = tlv::decode(r.get(55).unwrap()).unwrap();
    let f91 = tlv::get(&items, 0x91).unwrap();
    assert_eq!(&f91[8..], b"00");
    assert_eq!(f91[..8], emv::arpc_method1(&sk, &arqc, *b"00"));

    let (bad, _, _) = build55(false);
    let mut m = s.card_msg(200, "000000", "00", "22", pan, Some(500), Some("444444"));
    m.set_str(22, "051").set_str(23, "001").set(55, bad);
    assert_eq!(rc(&s.send(m, 3, true)), "A7");
}

#[test]
fn qr_void_and_refund_by_voucher() {
    let mut s = Sim::start("qr");
    s.sign_in();
    let qr = |s: &mut Sim, t: &str, pcode: &str, mti: u16, amount: u64, f59: &str| {
        let mut m = Message::new(Mti(mti));
        let stan = s.next_stan();
        m.set_str(3, pcode)
            .set_str(4, &format!("{amount:012}"))
            .set_str(11, &format!("{stan:06}"));
        m.set_str(22, "032")
            .set_str(25, "00")
            .set_str(41, TID)
            .set_str(42, MID)
            .set_str(49, "156");
        m.set_str(59, f59).set_str(60, &s.f60(t));
        (stan, m)
    };
    let (_, m) = qr(&mut s, "22", "000000", 200, 800, "A3018280000000000000051");
    assert_eq!(rc(&s.send(m, 3, true)), "51");
    let (_, m) = qr(&mut s, "22", "000000", 200, 800, "A3018990000000000000001");
    assert_eq!(rc(&s.send(m, 3, true)), "14");
    let (st, m) = qr(&mut s, "22", "000000", 200, 800, "A3018134567890123456789");
    let r = s.send(m, 3, true);
    assert_eq!(rc(&r), "00");
    let voucher = r.get_str(59).unwrap()[5..].to_string();
    let (_, mut m) = qr(&mut s, "25", "200000", 220, 300, &format!("A4020{voucher}"));
    m.set_str(37, r.get_str(37).unwrap())
        .set_str(61, &format!("{:06}{:06}0000", s.batch, st));
    assert_eq!(rc(&s.send(m, 3, true)), "00");
    let (_, mut m) = qr(&mut s, "23", "200000", 200, 800, &format!("A4020{voucher}"));
    m.set_str(37, r.get_str(37).unwrap())
        .set_str(61, &format!("{:06}{:06}", s.batch, st));
    assert_eq!(
        rc(&s.send(m, 3, true)),
        "12",
        "a refunded sale cannot be voided"
    );
    let t = s.admin(json!({"cmd": "totals", "tid": TID}));
    assert_eq!(t["domestic"]["debit"], json!({"count": 1, "amount": 800}));
    assert_eq!(t["domestic"]["credit"], json!({"count": 1, "amount": 300}));
}

#[test]
fn activation_rsa_tmk_download_and_sign_in() {
    let mut s = Sim::start("init");
    let mgmt = |s: &Sim, nmc: &str, f62: Option<Vec<u8>>| {
        let mut m = Message::new(Mti(800));
        m.set_str(11, "000001")
            .set_str(41, TID)
            .set_str(42, MID)
            .set_str(60, &format!("00000001{nmc}"));
        if let Some(v) = f62 {
            m.set(62, v);
        }
        s.send(m, 5, false)
    };
    let act = |sn: &str, token: &str| {
        tlv::encode(&[
            Tlv::primitive(0xDF41, sn.as_bytes().to_vec()),
            Tlv::primitive(0xDF42, token.as_bytes().to_vec()),
            Tlv::primitive(0xDF43, b"0.1.0".to_vec()),
        ])
    };
    assert_eq!(rc(&mgmt(&s, "399", Some(act("SN0001", "WRONG")))), "A8");
    let r = mgmt(&s, "399", Some(act("SN0001", "TOKEN0001")));
    assert_eq!(rc(&r), "00");
    let items = tlv::decode(r.get(62).unwrap()).unwrap();
    assert_eq!(tlv::get(&items, 0xDF55), Some(&b"000001"[..]));
    assert_eq!(tlv::get(&items, 0xDF54), Some(&b"20"[..]));
    let fp = tlv::get(&items, 0xDF56).unwrap().to_vec();

    let r = mgmt(&s, "352", None);
    let items = tlv::decode(r.get(62).unwrap()).unwrap();
    let key = HostPublicKey::new(
        tlv::get(&items, 0xDF02).unwrap(),
        tlv::get(&items, 0xDF04).unwrap(),
    )
    .unwrap();
    assert_eq!(key.fingerprint().to_vec(), fp);
    let rid = tlv::get(&items, 0x9F06).unwrap().to_vec();
    let idx = tlv::get(&items, 0x9F22).unwrap().to_vec();

    let r_bytes = unhex("00112233445566778899AABBCCDDEEFF");
    let r_key = DesKey::from_bytes(&r_bytes).unwrap();
    let dl = tlv::encode(&[
        Tlv::primitive(0x9F06, rid),
        Tlv::primitive(0x9F22, idx),
        Tlv::primitive(0xDF23, key.encrypt_pkcs1v15(&r_bytes).unwrap()),
        Tlv::primitive(0xDF24, r_key.kcv().to_vec()),
    ]);
    let r = mgmt(&s, "350", Some(dl));
    assert_eq!(rc(&r), "00");
    let items = tlv::decode(r.get(62).unwrap()).unwrap();
    let tmk = tdes::decrypt_ecb(&r_key, tlv::get(&items, 0xDF21).unwrap()).unwrap();
    assert_eq!(
        hex::encode_upper(&tmk),
        TMK,
        "--fixed-keys: the vectors' TMK"
    );
    let cv = tlv::get(&items, 0xDF22).unwrap().to_vec();
    assert_eq!(cv, DesKey::from_bytes(&tmk).unwrap().kcv().to_vec());
    assert_eq!(
        rc(&mgmt(
            &s,
            "351",
            Some(tlv::encode(&[Tlv::primitive(0xDF22, vec![0, 0, 0, 0])]))
        )),
        "A7"
    );
    assert_eq!(
        rc(&mgmt(
            &s,
            "351",
            Some(tlv::encode(&[Tlv::primitive(0xDF22, cv)]))
        )),
        "00"
    );
    s.sign_in();
    let (_, r) = s.sale(PAN, "123456", 100);
    assert_eq!(rc(&r), "00");
}

#[test]
fn capk_and_aid_paging() {
    let s = Sim::start("emv");
    let query = |mti: u16, nmc: &str, start: usize| {
        let mut m = Message::new(Mti(mti));
        m.set_str(11, "000001")
            .set_str(41, TID)
            .set_str(42, MID)
            .set_str(60, &format!("00000001{nmc}"));
        m.set(62, format!("1{start:02}").into_bytes());
        s.send(m, 5, false)
    };
    let mut all = Vec::new();
    let mut start = 0;
    let mut pages = 0;
    loop {
        let r = query(820, "372", start);
        assert_eq!(r.mti, Mti(830));
        let f62 = r.get(62).unwrap();
        assert!(f62.len() <= 512);
        let items = tlv::decode(&f62[1..]).unwrap();
        let n = items.iter().filter(|t| t.tag == 0x9F06).count();
        start += n;
        pages += 1;
        for c in items.chunks(3) {
            all.push((c[0].bytes().unwrap().to_vec(), c[1].bytes().unwrap()[0]));
        }
        match f62[0] {
            b'2' => continue,
            b'1' => break,
            other => panic!("status {other}"),
        }
    }
    assert!(pages >= 2, "more CAPKs than fit in one page");
    assert_eq!(all.len(), 30);
    // Download one and check its checksum.
    let (rid, idx) = &all[17];
    let mut m = Message::new(Mti(800));
    m.set_str(11, "000002")
        .set_str(41, TID)
        .set_str(42, MID)
        .set_str(60, "00000001370");
    m.set(
        62,
        tlv::encode(&[
            Tlv::primitive(0x9F06, rid.clone()),
            Tlv::primitive(0x9F22, vec![*idx]),
        ]),
    );
    let r = s.send(m, 5, false);
    let f62 = r.get(62).unwrap();
    assert_eq!(f62[0], b'1');
    let items = tlv::decode(&f62[1..]).unwrap();
    let g = |t| tlv::get(&items, t).unwrap().to_vec();
    let sum = possdk_core::crypto::sha1(&[g(0x9F06), g(0x9F22), g(0xDF02), g(0xDF04)].concat());
    assert_eq!(g(0xDF03), sum.to_vec());
    // AIDs fit one page.
    let r = query(820, "382", 0);
    assert_eq!(r.get(62).unwrap()[0], b'1');
    // `require` sets the header nibble until the download ends.
    s.admin(json!({"cmd": "require", "tid": TID, "what": "capk"}));
    let mut m = Message::new(Mti(800));
    m.set_str(11, "000003")
        .set_str(41, TID)
        .set_str(42, MID)
        .set_str(60, "00000001004")
        .set_str(63, "01 ");
    let f = s.raw(&s.frame(m.clone(), 3, false));
    assert_eq!(f.header.processing, 4);
    let mut end = Message::new(Mti(800));
    end.set_str(11, "000004")
        .set_str(41, TID)
        .set_str(42, MID)
        .set_str(60, "00000001371");
    assert_eq!(rc(&s.send(end, 5, false)), "00");
    m.set_str(11, "000005");
    assert_eq!(s.raw(&s.frame(m, 3, false)).header.processing, 0);
}

#[test]
fn detail_query_pages() {
    let mut s = Sim::start("detail");
    s.sign_in();
    for _ in 0..12 {
        let (_, r) = s.sale(PAN, "123456", 100);
        assert_eq!(rc(&r), "00");
    }
    let mut got = 0;
    let mut pages = 0;
    loop {
        let mut m = Message::new(Mti(800));
        let stan = s.next_stan();
        m.set_str(11, &format!("{stan:06}"))
            .set_str(41, TID)
            .set_str(42, MID)
            .set_str(60, "00000001397");
        m.set(
            62,
            tlv::encode(&[Tlv::primitive(0xDF62, got.to_string().into_bytes())]),
        );
        let r = s.send(m, 5, true);
        assert_eq!(rc(&r), "00");
        assert!(r.has(64));
        let f62 = r.get(62).unwrap();
        let recs = tlv::decode(&f62[1..]).unwrap();
        assert!(recs.iter().all(|t| t.tag == 0xFF01));
        assert_eq!(tlv::get(recs[0].children(), 0xDF77), Some(&b"A"[..]));
        assert_eq!(
            tlv::get(recs[0].children(), 0xDF73),
            Some(&b"622588******6789"[..])
        );
        got += recs.len();
        pages += 1;
        if f62[0] == b'1' {
            break;
        }
        assert_eq!(f62[0], b'2');
    }
    assert_eq!(got, 12);
    assert!(pages >= 2);
}

#[test]
fn unbalanced_settlement_and_batch_upload() {
    let mut s = Sim::start("settle");
    s.sign_in();
    let (st, sale) = s.sale(PAN, "123456", 1234);
    assert_eq!(rc(&sale), "00");
    s.admin(json!({"cmd": "fault", "tid": TID, "fault": "unbalanced_settlement"}));
    let f48 = format!("{:012}{:03}{:012}{:03}0{}", 1234, 1, 0, 0, "0".repeat(31));
    let mut m = Message::new(Mti(500));
    let stan = s.next_stan();
    m.set_str(11, &format!("{stan:06}"))
        .set_str(41, TID)
        .set_str(42, MID)
        .set_str(48, &f48);
    m.set_str(49, "156")
        .set_str(60, "00000001201")
        .set_str(63, "01 ");
    let r = s.send(m, 5, true);
    assert_eq!(&r.get_str(48).unwrap()[30..31], "2");
    // Upload the one sale, then the end.
    let mut u = Message::new(Mti(320));
    let stan = s.next_stan();
    u.set_str(2, PAN)
        .set_str(3, "000000")
        .set_str(4, "000000001234")
        .set_str(11, &format!("{stan:06}"));
    u.set_str(22, "021")
        .set_str(37, sale.get_str(37).unwrap())
        .set_str(38, sale.get_str(38).unwrap());
    u.set_str(41, TID)
        .set_str(42, MID)
        .set_str(49, "156")
        .set_str(60, "22000001201");
    u.set_str(61, &format!("000001{st:06}0000"));
    assert_eq!(rc(&s.send(u, 5, true)), "00");
    let mut e = Message::new(Mti(320));
    let stan = s.next_stan();
    e.set_str(11, &format!("{stan:06}"))
        .set_str(41, TID)
        .set_str(42, MID)
        .set_str(48, "0001");
    e.set_str(60, "00000001202");
    let r = s.send(e, 5, true);
    assert_eq!(r.get_str(48), Some("1"));
    assert_eq!(s.admin(json!({"cmd": "totals", "tid": TID}))["batch"], 2);
}

#[test]
fn qr_preauth_completion_and_completion_void() {
    let mut s = Sim::start("qrpa");
    s.sign_in();
    let qr = |s: &mut Sim, t: &str, pcode: &str, mti: u16, amount: u64, f59: &str| {
        let mut m = Message::new(Mti(mti));
        let stan = s.next_stan();
        m.set_str(3, pcode)
            .set_str(4, &format!("{amount:012}"))
            .set_str(11, &format!("{stan:06}"));
        m.set_str(22, "032")
            .set_str(25, "06")
            .set_str(41, TID)
            .set_str(42, MID)
            .set_str(49, "156");
        m.set_str(59, f59).set_str(60, &s.f60(t));
        (stan, m)
    };
    let (pa_stan, m) = qr(&mut s, "10", "030000", 100, 1000, "A3018284567890123456789");
    let pa = s.send(m, 3, true);
    assert_eq!(rc(&pa), "00");
    let voucher = pa.get_str(59).unwrap()[5..].to_string();
    // Completion without 61's STAN: found by the voucher (and 38), date 0000.
    let (c_stan, mut m) = qr(
        &mut s,
        "20",
        "000000",
        200,
        1100,
        &format!("A4020{voucher}"),
    );
    m.set_str(38, pa.get_str(38).unwrap())
        .set_str(61, "0000000000000000");
    let c = s.send(m, 3, true);
    assert_eq!(rc(&c), "00");
    assert_eq!(
        c.get_str(59).unwrap()[5..],
        voucher,
        "a completion keeps the pre-auth's voucher"
    );
    assert_eq!(s.tx(pa_stan)["state"], "completed");
    let (_, mut m) = qr(
        &mut s,
        "21",
        "200000",
        200,
        1100,
        &format!("A4020{voucher}"),
    );
    m.set_str(37, c.get_str(37).unwrap())
        .set_str(38, c.get_str(38).unwrap());
    m.set_str(61, &format!("{:06}{c_stan:06}", s.batch));
    assert_eq!(rc(&s.send(m, 3, true)), "00");
    assert_eq!(s.tx(pa_stan)["state"], "approved");
    assert_eq!(s.tx(c_stan)["state"], "voided");
    let t = s.admin(json!({"cmd": "totals", "tid": TID}));
    assert_eq!(t["domestic"]["debit"]["count"], 0);
}

#[test]
fn chip_interop_with_the_simulated_card_reader() {
    use possdk_core::hal::{CancelToken, CardModes, CardReader, CardRequest, ChipCompletion};
    use possdk_sim::{fixture, SimCard, SimCardReader};
    let mut s = Sim::start("simchip");
    s.sign_in();
    // The first approval carries an issuer script (72), which the card reports in DF31 -> 0620.
    s.admin(json!({"cmd": "fault", "tid": TID, "fault": "issuer_script"}));
    for pan in ["6225884444444444", "4761340000000019"] {
        let card = fixture::by_pan(pan).unwrap();
        let mut reader = SimCardReader::with_default(SimCard::chip(card));
        let data = reader
            .read_card(&CardRequest {
                transaction: "sale",
                amount: Some(500),
                modes: CardModes::ALL,
                timeout: std::time::Duration::from_secs(5),
                cancel: CancelToken::new(),
            })
            .unwrap();
        let mut m = s.card_msg(200, "000000", "00", "22", pan, Some(500), Some(card.pin));
        m.set_str(22, "051").set(55, data.icc.clone().unwrap());
        m.set_str(23, data.sequence.as_deref().unwrap_or("001"));
        m.set_str(35, data.track2.as_deref().unwrap().as_str());
        let r = s.send(m, 3, true);
        assert_eq!(rc(&r), "00", "{pan}");
        assert_eq!(
            r.get_str(63),
            Some(if pan.starts_with('4') { "VIS" } else { "CUP" })
        );
        let outcome = reader
            .complete_chip(&ChipCompletion {
                response_code: "00".into(),
                icc_response: r.get(55).unwrap().to_vec(),
                host_answered: true,
            })
            .unwrap();
        assert!(outcome.approved, "the card accepts the host's ARPC ({pan})");
        if pan.starts_with('6') {
            let results = outcome.script_results.expect("script results");
            let mut a = Message::new(Mti(620));
            let stan = s.next_stan();
            a.set_str(2, pan)
                .set_str(3, "000000")
                .set_str(4, "000000000500");
            a.set_str(11, &format!("{stan:06}"))
                .set_str(22, "051")
                .set_str(23, "001");
            a.set_str(32, "00010000")
                .set_str(37, r.get_str(37).unwrap())
                .set_str(38, r.get_str(38).unwrap());
            a.set_str(41, TID)
                .set_str(42, MID)
                .set_str(49, "156")
                .set(55, results);
            a.set_str(60, &format!("22{:06}951", s.batch));
            a.set_str(
                61,
                &format!("{:06}{:06}{}", s.batch, s.stan - 1, r.get_str(13).unwrap()),
            );
            let ar = s.send(a, 3, true);
            assert_eq!(rc(&ar), "00");
            assert!(ar.has(64));
        } else {
            // One script only: the completion carries the TC, no script results.
            let data = tlv::decode(outcome.script_results.as_deref().expect("TC")).unwrap();
            assert!(tlv::get(&data, 0xDF31).is_none(), "one script only");
            assert_eq!(tlv::get(&data, 0x9F27), Some(&[0x40u8][..]));
        }
    }
    // Foreign card counted on the foreign side.
    let t = s.admin(json!({"cmd": "totals", "tid": TID}));
    assert_eq!(t["foreign"]["debit"], json!({"count": 1, "amount": 500}));
    assert_eq!(t["domestic"]["debit"], json!({"count": 1, "amount": 500}));
}

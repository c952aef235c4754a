//! A terminal day under each acquirer profile (docs/PROFILES.md) against possdk-host speaking the same
//! profile: the two built-ins, and `tests/e2e/profiles/bank.json`, a dialect that is not built in,
//! written from docs/PROFILES.md alone and given to both sides as a file path.

use possdk_core::api::{call_json, OriginalRef, Payment};
use possdk_core::hal::Hal;
use possdk_e2e::*;
use serde_json::{json, Value};

fn card() -> Option<possdk_core::api::CardInput> {
    Some(swipe(&CUP_SWIPE))
}

/// A refund's original named by the sale's reference number and date.
fn by_reference(sale: &possdk_core::api::TransactionResult) -> OriginalRef {
    OriginalRef {
        reference: sale.reference.clone(),
        date: Some(sale.datetime[5..10].replace('-', "")),
        ..Default::default()
    }
}

fn fixture_profile() -> String {
    format!("{}/profiles/bank.json", env!("CARGO_MANIFEST_DIR"))
}

/// Initialisation, every card kind, a QR sale and void, a reversal after a lost answer, settlement.
fn day(name: &str, profile: Value, expect_name: &str) {
    let host = TestHost::start_profile(name, profile);
    let dir = temp_dir(&format!("{name}-term"));
    let t = host.ready(&dir, Hal::default());
    let status = t.status().expect("status");
    assert_eq!(status.profile.name, expect_name);
    assert_eq!(status.profile.sha256.len(), 64);

    let sale = t.sale(12_345, Payment::Card(card())).expect("sale");
    assert!(sale.approved, "{sale:?}");
    let tx = host.tx(sale.stan);
    assert_eq!(
        (tx["found"].clone(), tx["amount"].clone()),
        (json!(true), json!(12_345)),
        "{tx}"
    );
    let void = t.void(sale.stan, card()).expect("void");
    assert!(void.approved, "{void:?}");

    let sale2 = t.sale(10_000, Payment::Card(card())).expect("sale 2");
    assert!(sale2.approved, "{sale2:?}");
    let tip = t.tip(sale2.stan, 1_000).expect("tip");
    assert!(tip.approved, "{tip:?}");
    let tip_void = t.tip_void(tip.stan).expect("tip void");
    assert!(tip_void.approved, "{tip_void:?}");
    let refund = t
        .refund(3_000, by_reference(&sale2), card())
        .expect("refund");
    assert!(refund.approved, "{refund:?}");
    let bal = t.balance(card()).expect("balance");
    assert!(bal.approved && bal.balance.is_some(), "{bal:?}");

    let pref = |p: &possdk_core::api::TransactionResult| OriginalRef {
        auth_code: p.auth_code.clone(),
        date: Some(p.datetime[5..10].replace('-', "")),
        batch: Some(p.batch),
        stan: Some(p.stan),
        ..Default::default()
    };
    let pa = t.preauth(20_000, Payment::Card(card())).expect("preauth");
    assert!(pa.approved, "{pa:?}");
    let pv = t
        .preauth_void(20_000, pref(&pa), card())
        .expect("preauth void");
    assert!(pv.approved, "{pv:?}");
    let pa2 = t.preauth(20_000, Payment::Card(card())).expect("preauth 2");
    let comp = t
        .preauth_complete(23_000, pref(&pa2), card())
        .expect("completion");
    assert!(comp.approved, "{comp:?}");
    let cv = t
        .preauth_complete_void(comp.stan, card())
        .expect("completion void");
    assert!(cv.approved, "{cv:?}");

    let qr = t
        .sale(8_800, Payment::Qr(Some(QR_CODE.into())))
        .expect("qr sale");
    assert!(qr.approved, "{qr:?}");
    let qv = t.void(qr.stan, None).expect("qr void");
    assert!(qv.approved && qv.kind == "qr_void", "{qv:?}");

    // A lost answer: the sale is reversed under the profile's codes, and the host's ledger agrees.
    host.fault("no_answer", 1);
    let lost = t.sale(4_000, Payment::Card(card()));
    assert!(lost.is_err(), "{lost:?}");
    host.clear_faults();
    let after = t
        .sale(500, Payment::Card(card()))
        .expect("sale after the reversal");
    assert!(after.approved, "{after:?}");
    assert!(t.status().expect("status").pending_reversal.is_none());

    let s = t.settle().expect("settle");
    assert!(s.balanced, "{s:?}");
    assert_eq!(s.terminal, s.host);
    drop(t);
    host.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_day_under_the_cup_profile() {
    day("prof-cup", json!("cup"), "cup");
}

#[test]
fn a_day_under_the_ascii_profile() {
    day("prof-ascii", json!("ascii"), "ascii");
}

#[test]
fn a_day_under_a_profile_file_that_is_not_built_in() {
    day("prof-bank", json!(fixture_profile()), "bank");
}

/// `response_codes.reverse`: the test dialect reverses a sale answered `96`; under `cup` a `96` is a decline.
#[test]
fn an_answer_the_profile_reverses_is_reversed() {
    for (profile, reversed) in [(json!(fixture_profile()), true), (json!("cup"), false)] {
        let host = TestHost::start_profile("prof-reverse", profile.clone());
        let dir = temp_dir("prof-reverse-term");
        let t = host.ready(&dir, Hal::default());
        host.admin(json!({"cmd": "fault", "kind": "decline", "code": "96", "count": 1}));
        let r = t.sale(2_500, Payment::Card(card()));
        if reversed {
            let e = r.expect_err("reversed, not a result");
            assert_eq!(e.kind, possdk_core::ErrorKind::HostRejected, "{e}");
            assert_eq!(e.outcome, Some(possdk_core::Outcome::Reversed), "{e}");
            assert!(e.to_string().contains("answered 96"), "{e}");
            let row = t.journal(None).expect("journal").records;
            assert_eq!(
                row.last().map(|r| r.state),
                Some(possdk_core::TxState::Reversed)
            );
        } else {
            let d = r.expect("a decline is a result");
            assert!(!d.approved && d.response_code == "96", "{d:?}");
        }
        assert!(
            t.status().expect("status").pending_reversal.is_none(),
            "{profile}"
        );
        drop(t);
        host.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn the_profile_given_inline_and_its_status_through_json() {
    let text = std::fs::read_to_string(fixture_profile()).expect("fixture");
    let inline: Value = serde_json::from_str(&text).expect("fixture json");
    let host = TestHost::start_profile("prof-inline", inline.clone());
    let dir = temp_dir("prof-inline-term");
    let t = host.ready(&dir, Hal::default());
    let v: Value = serde_json::from_str(&call_json(&t, r#"{"op":"status"}"#)).expect("json");
    assert_eq!(v["result"]["profile"]["name"], "bank", "{v}");
    // The SHA-256 is over the compact, key-sorted JSON: the same for the file and the inline object.
    let canonical = serde_json::to_vec(&inline).expect("canonical");
    assert_eq!(
        v["result"]["profile"]["sha256"],
        hex::encode(possdk_core::crypto::sha256(&canonical)),
        "{v}"
    );
    let sale: Value = serde_json::from_str(&call_json(
        &t,
        &json!({"op": "sale", "amount": 100, "qr_code": QR_CODE}).to_string(),
    ))
    .expect("json");
    assert_eq!(sale["result"]["approved"], true, "{sale}");
    drop(t);
    host.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_profile_is_refused_when_the_terminal_opens() {
    let host = TestHost::start("prof-bad");
    let dir = temp_dir("prof-bad-term");
    let mut cfg = host.config_json(&dir, 1500);
    let mut p: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_profile()).expect("fixture"))
            .expect("json");
    p["kinds"]["refund"]["delivery"] = json!("reversible");
    cfg["profile"] = p;
    let config = possdk_core::Config::from_json(&cfg.to_string()).expect("config parses");
    let e = possdk_core::Terminal::new(config, Hal::default())
        .err()
        .expect("refused");
    assert_eq!(e.kind, possdk_core::ErrorKind::InvalidRequest);
    assert!(
        e.to_string()
            .contains("kinds.refund: mti 0220 is an advice but delivery = reversible"),
        "{e}"
    );
    cfg["profile"] = json!("no-such-profile");
    let config = possdk_core::Config::from_json(&cfg.to_string()).expect("config parses");
    let e = possdk_core::Terminal::new(config, Hal::default())
        .err()
        .expect("refused");
    assert!(e.to_string().contains("no-such-profile"), "{e}");
    host.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A merchant-presented QR order (delivery `order`, status query and close under the profile's
/// `management.qr_query` / `qr_close`) paid under a dialect that is not CUP, then settled.
fn qr_order_day(name: &str, profile: Value) {
    let host = TestHost::start_profile(name, profile);
    let dir = temp_dir(&format!("{name}-term"));
    let mut cfg = host.config_json(&dir, 1500);
    cfg["qr"] = json!({"poll_interval_ms": 20, "order_timeout_ms": 3000});
    let t = possdk_core::Terminal::new(
        possdk_core::Config::from_json(&cfg.to_string()).expect("config"),
        Hal::default(),
    )
    .expect("terminal opens");
    initialise(&t).expect("initialisation");
    let r = host.admin(json!({"cmd": "qr_payer", "tid": TID, "mode": "pay", "after": 2}));
    assert_eq!(r["ok"], true, "{r}");
    let paid = t.qr_order(6_600).expect("qr order");
    assert!(paid.approved, "{paid:?}");
    assert_eq!(
        (paid.kind.as_str(), paid.qr_state.as_deref()),
        ("qr_order", Some("paid"))
    );
    let tx = host.tx(paid.stan);
    assert_eq!(tx["amount"], json!(6_600), "{tx}");
    let s = t.settle().expect("settle");
    assert!(s.balanced, "{s:?}");
    drop(t);
    host.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_qr_order_under_the_ascii_profile_and_a_profile_file() {
    qr_order_day("prof-qr-ascii", json!("ascii"));
    qr_order_day("prof-qr-bank", json!(fixture_profile()));
}

#[test]
fn a_profile_whose_mac_cannot_work_in_the_key_family_is_refused() {
    let host = TestHost::start("prof-family");
    let dir = temp_dir("prof-family-term");
    let mut cfg = host.config_json(&dir, 1500);
    cfg["key_family"] = json!("sm");
    cfg["profile"] = json!("ascii");
    let config = possdk_core::Config::from_json(&cfg.to_string()).expect("config parses");
    let e = possdk_core::Terminal::new(config, Hal::default())
        .err()
        .expect("refused");
    assert_eq!(e.kind, possdk_core::ErrorKind::InvalidRequest);
    assert_eq!(e.field.as_deref(), Some("key_family"), "{e}");
    assert!(
        e.to_string()
            .contains("security.mac: x919 needs key_family tdes"),
        "{e}"
    );
    // The test dialect serves tdes only: its PIN blocks are format 3 (and its security.key_family says so).
    cfg["profile"] = json!(fixture_profile());
    let config = possdk_core::Config::from_json(&cfg.to_string()).expect("config parses");
    let e = possdk_core::Terminal::new(config, Hal::default())
        .err()
        .expect("refused");
    assert!(
        e.to_string()
            .contains("security.pin_block: iso3 needs key_family tdes"),
        "{e}"
    );
    host.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Request and answer frames, in order.
type Exchanges = std::sync::Arc<std::sync::Mutex<Vec<(Vec<u8>, Vec<u8>)>>>;

/// Records every frame the terminal exchanges.
struct Tap {
    inner: possdk_core::transport::TcpTransport,
    frames: Exchanges,
}

impl possdk_core::hal::Transport for Tap {
    fn exchange(
        &mut self,
        endpoint: &possdk_core::hal::Endpoint,
        frame: &[u8],
        cancel: &possdk_core::hal::CancelToken,
    ) -> Result<Vec<u8>, possdk_core::hal::TransportError> {
        let answer = self.inner.exchange(endpoint, frame, cancel)?;
        let mut f = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        f.push((frame.to_vec(), answer.clone()));
        Ok(answer)
    }
}

/// The test dialect's `subfields` on the wire, both ways: 60 without 60.6/60.7, counts of n4 in
/// settlement's 48, the TDK first in the sign-in's 62, 63 with a filler, its own operator id. The host
/// reads and writes them through the same profile, so a day that settles balanced proves both sides
/// agree; this test pins what is actually sent.
#[test]
fn the_test_dialects_sub_field_layouts_are_on_the_wire() {
    use possdk_core::iso8583::Message;
    let profile = possdk_core::acquirer::Profile::from_config(Some(&json!(fixture_profile())))
        .expect("bank profile");
    let host = TestHost::start_profile("prof-layouts", json!(fixture_profile()));
    let dir = temp_dir("prof-layouts-term");
    let frames = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let hal = Hal {
        transport: Some(Box::new(Tap {
            inner: possdk_core::transport::TcpTransport::with_length_prefix(profile.wire.prefix),
            frames: frames.clone(),
        })),
        ..Hal::default()
    };
    let t = host.ready(&dir, hal);
    let sale = t.sale(10_000, Payment::Card(card())).expect("sale");
    assert!(sale.approved, "{sale:?}");
    let void = t.void(sale.stan, card()).expect("void");
    assert!(void.approved, "{void:?}");
    let sale2 = t.sale(7_000, Payment::Card(card())).expect("sale 2");
    let refund = t
        .refund(2_000, by_reference(&sale2), card())
        .expect("refund");
    assert!(refund.approved, "{refund:?}");
    let s = t.settle().expect("settle");
    assert!(s.balanced, "{s:?}");
    drop(t);

    let family = |_: &[u8]| possdk_core::crypto::KeyFamily::Tdes;
    let read = |raw: &[u8]| -> Message {
        profile
            .wire
            .decode_frame_for(raw, &family)
            .expect("a bank frame")
            .message
    };
    let exchanged: Vec<(Message, Message)> = frames
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(q, a)| (read(q), read(a)))
        .collect();
    let find = |mti: u16, nmc: &str| {
        exchanged
            .iter()
            .find(|(q, _)| {
                q.mti.0 == mti && q.get_str(60).is_some_and(|s| s.get(8..11) == Some(nmc))
            })
            .unwrap_or_else(|| panic!("no {mti:04} {nmc}"))
    };
    // Sign-in (the dialect's 003): 60 is 11 digits, 63 the operator "02 ", 62 = TDK, PIK, MAK.
    let (q, a) = find(800, "003");
    assert_eq!(q.get_str(60).map(str::len), Some(11));
    assert_eq!(q.get_str(63), Some("02 "));
    assert_eq!(a.get(62).map(<[u8]>::len), Some(60));
    // The sale: 60 is 60.1-60.5, 13 digits; its answer's 63 is the organisation then the filler.
    let (q, a) = exchanged
        .iter()
        .find(|(q, _)| q.mti.0 == 200 && q.get_str(3) == Some("000000"))
        .expect("sale");
    assert_eq!(q.get_str(60).map(str::len), Some(13), "{:?}", q.get_str(60));
    assert_eq!(a.get_str(63), Some("CUP "));
    // The void names its original by batch and STAN (12 digits); the refund adds the date.
    let (q, _) = exchanged
        .iter()
        .find(|(q, _)| q.mti.0 == 200 && q.get_str(3) == Some("200000"))
        .expect("void");
    assert_eq!(
        q.get_str(61),
        Some(format!("{:06}{:06}", sale.batch, sale.stan).as_str())
    );
    // The dialect's voids name the original by 37 and 61, not 38 (`kinds.void.original`).
    assert_eq!(q.get_str(37), sale.reference.as_deref());
    assert!(!q.has(38), "{q:?}");
    let (q, _) = exchanged
        .iter()
        .find(|(q, _)| q.mti.0 == 220)
        .expect("refund");
    assert_eq!(q.get_str(61).map(str::len), Some(16), "{:?}", q.get_str(61));
    // The dialect's refunds carry no 63 (its `kinds.refund.fields`).
    assert_eq!(q.get_str(63), None);
    // Settlement (the dialect's 301): 48 is 33 digits per side, counts n4; the answer balances both.
    let (q, a) = find(500, "301");
    let f48 = q.get_str(48).expect("48");
    assert_eq!(f48.len(), 66, "{f48}");
    // Domestic: one sale of 70.00 (the voided one no longer counts), one refund of 20.00.
    assert_eq!(&f48[..33], "000000007000000100000000200000010");
    assert_eq!(q.get_str(63), Some("02 "));
    let answer = a.get_str(48).expect("answer 48");
    assert_eq!((&answer[32..33], &answer[65..66]), ("1", "1"), "{answer}");
    host.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A secure PIN pad that builds its own (format 0) block.
struct BlockPad;

impl possdk_core::hal::PinPad for BlockPad {
    fn get_pin(
        &mut self,
        _request: &possdk_core::hal::PinRequest,
        _pan: &str,
    ) -> Result<possdk_core::hal::PinEntry, possdk_core::hal::HalError> {
        Ok(possdk_core::hal::PinEntry::Block([0x5A; 8]))
    }
}

/// The test dialect's PIN blocks are ISO 9564 format 3 (`security.pin_block: "iso3"`): the day above
/// runs with them (possdk-host decrypts each in format 3 and checks the PIN). A pad's own format-0
/// block cannot be sent under it: refused before anything leaves, nothing journalled.
#[test]
fn a_pads_format_0_block_is_refused_under_a_format_3_profile() {
    let host = TestHost::start_profile("prof-iso3", json!(fixture_profile()));
    let dir = temp_dir("prof-iso3-term");
    let hal = Hal {
        pin_pad: Some(Box::new(BlockPad)),
        ..Hal::default()
    };
    let t = host.ready(&dir, hal);
    let e = t
        .sale(1_000, Payment::Card(Some(swipe_with_pin(&CUP_SWIPE, None))))
        .expect_err("refused");
    assert_eq!(e.kind, possdk_core::ErrorKind::Security, "{e}");
    assert!(e.to_string().contains("needs iso3"), "{e}");
    assert!(t.journal(None).expect("journal").records.is_empty());
    // The PIN given to possdk goes in format 3 and the host accepts it.
    let ok = t.sale(1_000, Payment::Card(card())).expect("sale");
    assert!(ok.approved, "{ok:?}");
    drop(t);
    host.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

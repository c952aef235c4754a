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
        .refund(
            3_000,
            OriginalRef {
                reference: sale2.reference.clone(),
                date: Some(sale2.datetime[5..10].replace('-', "")),
                ..Default::default()
            },
            card(),
        )
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
    // The test dialect serves tdes only (its security.key_family).
    cfg["profile"] = json!(fixture_profile());
    let config = possdk_core::Config::from_json(&cfg.to_string()).expect("config parses");
    let e = possdk_core::Terminal::new(config, Hal::default())
        .err()
        .expect("refused");
    assert!(
        e.to_string()
            .contains("security.key_family: the profile serves tdes only"),
        "{e}"
    );
    host.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

//! Engine tests against a scripted in-process acquirer (engine_support): every message the executor
//! builds is decoded by the project's codec and answered per PROTOCOL.md, MACs under real keys.

mod engine_support;

use engine_support::*;
use possdk_core::api::{call_json, OriginalRef, Payment};
use possdk_core::ErrorKind;
use possdk_core::TxState;

fn f(m: &possdk_core::iso8583::Message, n: u8) -> Option<String> {
    m.get_str(n).map(str::to_string)
}

#[test]
fn card_sale_void_tip_refund_and_settlement() {
    let dir = tempdir("day");
    let (t, host) = ready(&dir);

    // Sale with PIN: the request carries what PROTOCOL.md §4 says.
    let sale = t
        .sale(
            1234,
            Payment::Card(Some(swipe("6225880123456789", Some("123456")))),
        )
        .unwrap();
    assert!(sale.approved, "{sale:?}");
    assert_eq!(sale.response_code, "00");
    assert_eq!(sale.masked_pan.as_deref(), Some("622588******6789"));
    assert_eq!(sale.card_org.as_deref(), Some("CUP"));
    assert!(sale.reference.is_some() && sale.auth_code.is_some());
    assert!(sale.receipt.iter().any(|l| l.contains("622588******6789")));
    assert!(!sale.receipt.join("\n").contains("6225880123456789"));
    {
        let st = host.lock().unwrap();
        let req = st.last(200).unwrap();
        assert_eq!(f(req, 3).as_deref(), Some("000000"));
        assert_eq!(f(req, 4).as_deref(), Some("000000001234"));
        assert_eq!(f(req, 22).as_deref(), Some("021"));
        assert_eq!(f(req, 25).as_deref(), Some("00"));
        assert_eq!(f(req, 26).as_deref(), Some("12"));
        assert_eq!(f(req, 53).as_deref(), Some("2600000000000000"));
        assert_eq!(f(req, 14).as_deref(), Some("3012"));
        assert_eq!(f(req, 60).as_deref(), Some("22000001000500000"));
        assert_eq!(req.get(52).map(|v| v.len()), Some(8));
        assert!(req.has(35) && req.has(64));
    }

    // Void: amount and references of the original; original becomes voided.
    let void = t
        .void(sale.stan, Some(swipe("6225880123456789", Some("123456"))))
        .unwrap();
    assert!(void.approved);
    {
        let st = host.lock().unwrap();
        let req = st.last(200).unwrap();
        assert_eq!(f(req, 3).as_deref(), Some("200000"));
        assert_eq!(f(req, 4).as_deref(), Some("000000001234"));
        assert_eq!(f(req, 37), sale.reference);
        assert_eq!(f(req, 38), sale.auth_code);
        assert_eq!(
            f(req, 61),
            Some(format!("{:06}{:06}", sale.batch, sale.stan))
        );
        assert_eq!(f(req, 60).as_deref().map(|s| &s[..2]), Some("23"));
    }
    let j = t.journal(None).unwrap();
    assert_eq!(
        j.records
            .iter()
            .find(|r| r.stan == sale.stan)
            .unwrap()
            .state,
        TxState::Voided
    );

    // Void twice, tip on a voided sale: typed errors naming the STAN.
    let e = t
        .void(sale.stan, Some(swipe("6225880123456789", Some("123456"))))
        .unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_deref()),
        (ErrorKind::InvalidState, Some("stan"))
    );
    let e = t.tip(sale.stan, 100).unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_deref()),
        (ErrorKind::InvalidState, Some("stan"))
    );

    // A second sale, tipped, tip voided.
    let sale2 = t
        .sale(
            10_000,
            Payment::Card(Some(swipe("6225880123456789", Some("123456")))),
        )
        .unwrap();
    let e = t.tip(sale2.stan, 2_001).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("tip"));
    let tip = t.tip(sale2.stan, 1_500).unwrap();
    assert!(tip.approved);
    assert_eq!((tip.amount, tip.tip), (11_500, 1_500));
    {
        let st = host.lock().unwrap();
        let req = st.last(220).unwrap();
        assert_eq!(f(req, 48).as_deref(), Some("000000001500"));
        assert_eq!(f(req, 4).as_deref(), Some("000000011500"));
        assert_eq!(f(req, 22).as_deref(), Some("021"));
        assert!(!req.has(35) && !req.has(52));
        assert_eq!(f(req, 61).map(|s| s.len()), Some(16));
    }
    let rows = t.journal(None).unwrap().records;
    assert_eq!(
        rows.iter().find(|r| r.stan == sale2.stan).unwrap().tip,
        1_500
    );
    let e = t.tip(sale2.stan, 100).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidState);
    let tv = t.tip_void(tip.stan).unwrap();
    assert!(tv.approved);
    assert_eq!(
        host.lock().unwrap().last(220).unwrap().get_str(4),
        Some("000000010000")
    );
    let rows = t.journal(None).unwrap().records;
    assert_eq!(rows.iter().find(|r| r.stan == sale2.stan).unwrap().tip, 0);

    // Refund by reference; over the original is refused locally.
    let orig = OriginalRef {
        reference: sale2.reference.clone(),
        date: Some("1125".into()),
        ..Default::default()
    };
    let e = t
        .refund(
            10_001,
            orig.clone(),
            Some(swipe("6225880123456789", Some("123456"))),
        )
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("amount"));
    let refund = t
        .refund(4_000, orig, Some(swipe("6225880123456789", Some("123456"))))
        .unwrap();
    assert!(refund.approved);
    {
        let st = host.lock().unwrap();
        let req = st.last(220).unwrap();
        assert_eq!(f(req, 63).as_deref(), Some("CUP"));
        assert_eq!(f(req, 37), sale2.reference);
    }

    // Pre-auth, completion (<= 115%), completion void.
    let pa = t
        .preauth(
            10_000,
            Payment::Card(Some(swipe("6225880123456789", Some("123456")))),
        )
        .unwrap();
    assert!(pa.approved);
    assert_eq!(
        host.lock().unwrap().last(100).unwrap().get_str(25),
        Some("06")
    );
    let pref = OriginalRef {
        auth_code: pa.auth_code.clone(),
        date: Some("1125".into()),
        batch: Some(pa.batch),
        stan: Some(pa.stan),
        ..Default::default()
    };
    let e = t
        .preauth_complete(
            11_501,
            pref.clone(),
            Some(swipe("6225880123456789", Some("123456"))),
        )
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("amount"));
    let comp = t
        .preauth_complete(
            11_500,
            pref.clone(),
            Some(swipe("6225880123456789", Some("123456"))),
        )
        .unwrap();
    assert!(comp.approved);
    let rows = t.journal(None).unwrap().records;
    assert!(rows.iter().find(|r| r.stan == pa.stan).unwrap().completed);
    let e = t
        .preauth_complete(100, pref, Some(swipe("6225880123456789", Some("123456"))))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidState);
    let cv = t
        .preauth_complete_void(comp.stan, Some(swipe("6225880123456789", Some("123456"))))
        .unwrap();
    assert!(cv.approved);
    let rows = t.journal(None).unwrap().records;
    assert!(!rows.iter().find(|r| r.stan == pa.stan).unwrap().completed);

    // Balance.
    let bal = t
        .balance(Some(swipe("6225880123456789", Some("123456"))))
        .unwrap();
    assert_eq!(bal.balance, Some(1_000_000));
    assert!(!host.lock().unwrap().last(200).unwrap().has(4));

    // QR sale and void.
    let qr = t
        .sale(8_800, Payment::Qr(Some("134567890123456789".into())))
        .unwrap();
    assert!(qr.approved);
    assert!(qr.voucher.as_deref().is_some_and(|v| v.len() == 20));
    {
        let st = host.lock().unwrap();
        let req = st.last(200).unwrap();
        assert_eq!(f(req, 59).as_deref(), Some("A3018134567890123456789"));
        assert_eq!(f(req, 22).as_deref(), Some("032"));
        assert!(!req.has(53) && !req.has(2));
    }
    let qv = t.void(qr.stan, None).unwrap();
    assert!(qv.approved);
    assert_eq!(qv.kind, "qr_void");
    assert_eq!(
        host.lock()
            .unwrap()
            .last(200)
            .unwrap()
            .get_str(59)
            .map(str::to_string),
        Some(format!("A4020{}", qr.voucher.clone().unwrap()))
    );

    // Detail query and settlement (balanced).
    let details = t.query_details(None).unwrap();
    assert!(!details.records.is_empty());
    assert!(details
        .records
        .iter()
        .all(|r| r.masked_pan.as_deref() == Some("622588******6789")));
    let s = t.settle().unwrap();
    assert!(s.balanced);
    assert_eq!(s.uploaded, 0);
    assert_eq!(s.batch, 1);
    assert_eq!(s.next_batch, 2);
    // Debit: sale2 (10000, tip voided) ; completion voided, sale voided, QR voided. Credit: refund 4000.
    assert_eq!(s.terminal.domestic.debit.count, 1);
    assert_eq!(s.terminal.domestic.debit.amount, 10_000);
    assert_eq!(s.terminal.domestic.credit.amount, 4_000);
    assert_eq!(s.host, s.terminal);
    assert_eq!(t.status().unwrap().batch, 2);
}

#[test]
fn declines_are_results_not_errors() {
    let dir = tempdir("decline");
    let (t, host) = ready(&dir);
    let r = t
        .sale(
            50_000,
            Payment::Card(Some(swipe("6225881111111111", Some("111111")))),
        )
        .unwrap();
    assert!(!r.approved);
    assert_eq!(r.response_code, "51");
    assert_eq!(r.message, "Insufficient funds");
    host.lock().unwrap().faults.push_back(Fault::Decline("55"));
    let r = t
        .sale(
            100,
            Payment::Card(Some(swipe("6225880123456789", Some("000000")))),
        )
        .unwrap();
    assert_eq!(r.response_code, "55");
    let rows = t.journal(None).unwrap().records;
    assert!(rows.iter().all(|r| r.state == TxState::Declined));
    assert!(t.status().unwrap().pending_reversal.is_none());
}

#[test]
fn no_answer_is_reversed_with_98() {
    let dir = tempdir("timeout");
    let (t, host) = ready(&dir);
    host.lock().unwrap().faults.push_back(Fault::NoAnswer);
    let e = t
        .sale(
            1_000,
            Payment::Card(Some(swipe("6225880123456789", Some("123456")))),
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::HostTimeout);
    let st = host.lock().unwrap();
    let mtis = st.mtis();
    assert_eq!(&mtis[mtis.len() - 2..], &[200, 400]);
    let rev = st.last(400).unwrap();
    assert_eq!(rev.get_str(39), Some("98"));
    assert_eq!(rev.get_str(11), st.last(200).unwrap().get_str(11));
    for dropped in [26u8, 35, 36, 37, 52, 53] {
        assert!(!rev.has(dropped), "0400 carries {dropped}");
    }
    drop(st);
    let rows = t.journal(None).unwrap().records;
    assert_eq!(rows.last().unwrap().state, TxState::Reversed);
    assert!(t.status().unwrap().pending_reversal.is_none());
}

#[test]
fn reversal_survives_a_restart_and_goes_first() {
    let dir = tempdir("restart");
    let (t, host) = ready(&dir);
    host.lock()
        .unwrap()
        .faults
        .extend([Fault::NoAnswer, Fault::NoAnswer]);
    let e = t
        .sale(
            1_000,
            Payment::Card(Some(swipe("6225880123456789", Some("123456")))),
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::HostTimeout);
    let pending = t
        .status()
        .unwrap()
        .pending_reversal
        .expect("pending reversal");
    assert_eq!(pending.reason.as_deref(), Some("98"));
    assert_eq!(pending.attempts, 1);
    drop(t);

    // Reopen on the same journal (the in-memory test security module needs its keys again).
    let t = terminal(&dir, &host);
    assert_eq!(
        t.status().unwrap().pending_reversal.map(|p| p.stan),
        Some(pending.stan)
    );
    t.download_master_key().unwrap();
    t.sign_in().unwrap();
    let before = host.lock().unwrap().requests.len();
    let sale = t
        .sale(
            2_000,
            Payment::Card(Some(swipe("6225880123456789", Some("123456")))),
        )
        .unwrap();
    assert!(sale.approved);
    let st = host.lock().unwrap();
    let after: Vec<u16> = st.requests[before..].iter().map(|m| m.mti.0).collect();
    assert_eq!(after, vec![400, 200]);
    assert_eq!(
        st.requests[before]
            .get_str(11)
            .map(|s| s.parse::<u32>().unwrap()),
        Some(pending.stan)
    );
}

#[test]
fn wrong_response_mac_reverses_with_a0_and_signs_out() {
    let dir = tempdir("mac");
    let (t, host) = ready(&dir);
    host.lock().unwrap().faults.push_back(Fault::WrongMac);
    let e = t
        .sale(
            1_000,
            Payment::Card(Some(swipe("6225880123456789", Some("123456")))),
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidResponse);
    {
        let st = host.lock().unwrap();
        let rev = st.last(400).expect("reversal sent");
        assert_eq!(rev.get_str(39), Some("A0"));
        assert!(rev.has(38), "the auth id received goes into the 0400");
    }
    let status = t.status().unwrap();
    assert!(!status.signed_in);
    assert!(status.pending_reversal.is_none());
    let e = t
        .sale(
            1_000,
            Payment::Card(Some(swipe("6225880123456789", Some("123456")))),
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotSignedIn);
    t.sign_in().unwrap();
    assert!(
        t.sale(
            1_000,
            Payment::Card(Some(swipe("6225880123456789", Some("123456"))))
        )
        .unwrap()
        .approved
    );
}

#[test]
fn bad_input_is_a_typed_error_and_leaves_the_journal_alone() {
    let dir = tempdir("badinput");
    let state = std::sync::Arc::new(std::sync::Mutex::new(HostState::default()));
    let t = terminal(&dir, &state);
    let e = t
        .sale(
            100,
            Payment::Card(Some(swipe("6225880123456789", Some("123456")))),
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotActivated);
    t.activate("TOKEN0001").unwrap();
    t.download_master_key().unwrap();
    let e = t
        .sale(
            100,
            Payment::Card(Some(swipe("6225880123456789", Some("123456")))),
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotSignedIn);
    t.sign_in().unwrap();
    let sale = t
        .sale(
            500,
            Payment::Card(Some(swipe("6225880123456789", Some("123456")))),
        )
        .unwrap();
    t.void(sale.stan, Some(swipe("6225880123456789", Some("123456"))))
        .unwrap();

    let before = (t.journal(None).unwrap().records, t.status().unwrap());
    let sent_before = state.lock().unwrap().requests.len();
    let card = || Some(swipe("6225880123456789", Some("123456")));
    let cases: Vec<(possdk_core::Error, ErrorKind, &str)> = vec![
        (
            t.sale(0, Payment::Card(card())).unwrap_err(),
            ErrorKind::InvalidRequest,
            "amount",
        ),
        (
            t.sale(1_000_000_000_000, Payment::Card(card()))
                .unwrap_err(),
            ErrorKind::InvalidRequest,
            "amount",
        ),
        (
            t.sale(100, Payment::Card(Some(swipe("62258801234X6789", None))))
                .unwrap_err(),
            ErrorKind::InvalidRequest,
            "card.track2",
        ),
        (
            t.sale(
                100,
                Payment::Card(Some(possdk_core::api::CardInput {
                    entry: Some(possdk_core::hal::EntryMode::Chip),
                    pan: Some(zeroize::Zeroizing::new("6225ABCD".into())),
                    icc: Some(vec![0x9F, 0x26, 0x01, 0x00]),
                    ..Default::default()
                })),
            )
            .unwrap_err(),
            ErrorKind::InvalidRequest,
            "card.pan",
        ),
        (
            t.sale(
                100,
                Payment::Card(Some(swipe("6225880123456789", Some("12")))),
            )
            .unwrap_err(),
            ErrorKind::InvalidRequest,
            "card.pin",
        ),
        (
            t.void(999, card()).unwrap_err(),
            ErrorKind::OriginalNotFound,
            "stan",
        ),
        (
            t.tip(sale.stan, 10).unwrap_err(),
            ErrorKind::InvalidState,
            "stan",
        ),
        (
            t.sale(100, Payment::Qr(Some("13 bad".into()))).unwrap_err(),
            ErrorKind::InvalidRequest,
            "qr_code",
        ),
        (
            t.sale(100, Payment::Card(None)).unwrap_err(),
            ErrorKind::InvalidRequest,
            "card",
        ),
    ];
    for (e, kind, field) in cases {
        assert_eq!((e.kind, e.field.as_deref()), (kind, Some(field)), "{e}");
    }
    let after = (t.journal(None).unwrap().records, t.status().unwrap());
    assert_eq!(before, after, "the journal changed");
    assert_eq!(
        state.lock().unwrap().requests.len(),
        sent_before,
        "something was sent"
    );
}

#[test]
fn unbalanced_settlement_uploads_the_batch() {
    let dir = tempdir("upload");
    let (t, host) = ready(&dir);
    t.sale(
        1_000,
        Payment::Card(Some(swipe("6225880123456789", Some("123456")))),
    )
    .unwrap();
    t.sale(2_000, Payment::Qr(Some("284567890123456789".into())))
        .unwrap();
    host.lock().unwrap().faults.push_back(Fault::Unbalanced);
    let s = t.settle().unwrap();
    assert_eq!(s.uploaded, 2);
    assert!(s.balanced);
    let st = host.lock().unwrap();
    let uploads: Vec<_> = st.requests.iter().filter(|m| m.mti.0 == 320).collect();
    assert_eq!(uploads.len(), 3);
    assert_eq!(uploads[0].get_str(2), Some("6225880123456789"));
    assert!(uploads[1]
        .get_str(59)
        .is_some_and(|v| v.starts_with("A4020")));
    assert_eq!(uploads[2].get_str(48), Some("0002"));
    assert_eq!(uploads[2].get_str(60).map(|s| &s[8..]), Some("202"));
}

#[test]
fn sign_in_with_bad_check_values_stays_signed_out() {
    let dir = tempdir("kcv");
    let (t, host) = ready(&dir);
    host.lock().unwrap().faults.push_back(Fault::BadKeyCheck);
    let e = t.sign_in().unwrap_err();
    assert_eq!(e.kind, ErrorKind::KeyCheckFailed);
    assert!(!t.status().unwrap().signed_in);
}

#[test]
fn emv_parameters_are_paged_and_checked() {
    let dir = tempdir("emv");
    let (t, _host) = ready(&dir);
    let c = t.download_capks().unwrap();
    assert_eq!((c.count, c.rejected), (1, 1));
    let a = t.download_aids().unwrap();
    assert_eq!(a.count, 2);
}

#[test]
fn json_envelope() {
    let dir = tempdir("json");
    let (t, _host) = ready(&dir);
    let v: serde_json::Value = serde_json::from_str(&call_json(&t, "{nope")).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["code"], "invalid_json");
    let v: serde_json::Value = serde_json::from_str(&call_json(&t, r#"{"op":"sale"}"#)).unwrap();
    assert_eq!(v["error"]["code"], "invalid_request");
    assert_eq!(v["error"]["field"], "amount");
    let v: serde_json::Value = serde_json::from_str(&call_json(
        &t,
        r#"{"op":"sale","amount":0,"qr_code":"134567890123456789"}"#,
    ))
    .unwrap();
    assert_eq!(v["error"]["field"], "amount");
    let req = r#"{"op":"sale","amount":50000,"card":{"entry":"swipe","track2":"6225881111111111=3012101","pin":"111111"}}"#;
    let v: serde_json::Value = serde_json::from_str(&call_json(&t, req)).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["result"]["approved"], false);
    assert_eq!(v["result"]["response_code"], "51");
    let v: serde_json::Value = serde_json::from_str(&call_json(&t, r#"{"op":"status"}"#)).unwrap();
    assert_eq!(v["result"]["signed_in"], true);
    let v: serde_json::Value =
        serde_json::from_str(&call_json(&t, r#"{"op":"void","stan":424242}"#)).unwrap();
    assert_eq!(v["error"]["code"], "original_not_found");
    assert_eq!(v["error"]["field"], "stan");
}

#[test]
fn cancel_from_another_thread_after_sending_reverses_with_06() {
    let dir = tempdir("cancel");
    let (t, host) = ready(&dir);
    host.lock()
        .unwrap()
        .faults
        .push_back(Fault::HoldUntilCancelled);
    let t = std::sync::Arc::new(t);
    let t2 = t.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        t2.cancel();
    });
    let e = t
        .sale(
            1_000,
            Payment::Card(Some(swipe("6225880123456789", Some("123456")))),
        )
        .unwrap_err();
    canceller.join().unwrap();
    assert_eq!(e.kind, ErrorKind::Cancelled, "{e}");
    let st = host.lock().unwrap();
    assert_eq!(st.last(400).expect("reversal").get_str(39), Some("06"));
    drop(st);
    assert!(t.status().unwrap().pending_reversal.is_none());
    assert_eq!(
        t.journal(None).unwrap().records.last().unwrap().state,
        TxState::Reversed
    );
}

#[test]
fn terminal_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<possdk_core::Terminal>();
}

#[test]
fn unanswered_advice_is_resent_identically_with_the_same_stan() {
    let dir = tempdir("advice");
    let (t, host) = ready(&dir);
    let sale = t
        .sale(
            10_000,
            Payment::Card(Some(swipe("6225880123456789", Some("123456")))),
        )
        .unwrap();
    host.lock()
        .unwrap()
        .faults
        .extend([Fault::NoAnswer, Fault::NoAnswer, Fault::NoAnswer]);
    let e = t.tip(sale.stan, 500).unwrap_err();
    assert_eq!(e.kind, ErrorKind::HostTimeout);
    assert_eq!(t.status().unwrap().unsent_advices, 1);
    let sent: Vec<_> = host
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|m| m.mti.0 == 220)
        .cloned()
        .collect();
    assert_eq!(sent.len(), 3, "three attempts");
    assert!(
        sent.windows(2).all(|w| w[0] == w[1]),
        "resends are identical"
    );
    // Before the next transaction the advice goes again, same STAN, and is applied.
    let next = t
        .sale(
            100,
            Payment::Card(Some(swipe("6225880123456789", Some("123456")))),
        )
        .unwrap();
    assert!(next.approved);
    let st = host.lock().unwrap();
    let advices: Vec<_> = st.requests.iter().filter(|m| m.mti.0 == 220).collect();
    assert_eq!(advices.len(), 4);
    assert_eq!(advices[3], &sent[0]);
    drop(st);
    assert_eq!(t.status().unwrap().unsent_advices, 0);
    let rows = t.journal(None).unwrap().records;
    assert_eq!(rows.iter().find(|r| r.stan == sale.stan).unwrap().tip, 500);
}

#[test]
fn pin_policy_bypass_only_where_configured() {
    use possdk_core::sim::{cards, SimCard, SimCardReader, SimPin, SimPinPad};
    for (allowed, expect_ok) in [(false, false), (true, true)] {
        let dir = tempdir(if allowed {
            "bypass-ok"
        } else {
            "bypass-refused"
        });
        let state = std::sync::Arc::new(std::sync::Mutex::new(HostState::default()));
        let mut cfg = config(&dir);
        if allowed {
            cfg.pin_bypass_allowed = Some(vec!["sale".into()]);
        }
        let reader = SimCardReader::with_default(SimCard::swipe(&cards::CUP_SWIPE));
        let pad = SimPinPad::new(SimPin::Bypass);
        let hal = possdk_core::hal::Hal {
            card_reader: Some(Box::new(reader)),
            pin_pad: Some(Box::new(pad.clone())),
            ..Default::default()
        };
        let t = terminal_with(&state, cfg, hal);
        t.activate("TOKEN0001").unwrap();
        t.download_master_key().unwrap();
        t.sign_in().unwrap();
        let r = t.sale(1_000, Payment::Card(None));
        assert_eq!(pad.requests().len(), 1);
        assert_eq!(pad.requests()[0].allow_bypass, allowed);
        if expect_ok {
            assert!(r.unwrap().approved);
            let st = state.lock().unwrap();
            let req = st.last(200).unwrap();
            assert_eq!(req.get_str(22), Some("022"));
            assert_eq!(req.get_str(53), Some("0600000000000000"));
            assert!(!req.has(52) && !req.has(26));
        } else {
            let e = r.unwrap_err();
            assert_eq!(
                (e.kind, e.field.as_deref()),
                (ErrorKind::InvalidRequest, Some("card.pin"))
            );
            assert!(t.journal(None).unwrap().records.is_empty());
        }
    }
}

#[test]
fn reversal_is_flagged_after_the_attempts_and_retried_before_settlement() {
    let dir = tempdir("flagged");
    let (t, host) = ready(&dir);
    let card = || Some(swipe("6225880123456789", Some("123456")));
    // The sale and the immediate reversal attempt: no answer.
    host.lock()
        .unwrap()
        .faults
        .extend([Fault::NoAnswer, Fault::NoAnswer]);
    t.sale(1_000, Payment::Card(card())).unwrap_err();
    // Before the next sale: the two remaining attempts, unanswered too -> flagged, business goes on.
    host.lock()
        .unwrap()
        .faults
        .extend([Fault::NoAnswer, Fault::NoAnswer]);
    let next = t.sale(2_000, Payment::Card(card())).unwrap();
    assert!(next.approved);
    let p = t.status().unwrap().pending_reversal.expect("still owed");
    assert!(p.flagged);
    assert_eq!(p.attempts, 3);
    let reversals = host
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|m| m.mti.0 == 400)
        .count();
    assert_eq!(reversals, 3);
    // A flagged reversal does not hold up transactions ...
    assert!(t.sale(3_000, Payment::Card(card())).unwrap().approved);
    assert_eq!(
        host.lock()
            .unwrap()
            .requests
            .iter()
            .filter(|m| m.mti.0 == 400)
            .count(),
        3
    );
    // ... but goes before settlement.
    let s = t.settle().unwrap();
    assert!(s.balanced);
    assert!(t.status().unwrap().pending_reversal.is_none());
    let st = host.lock().unwrap();
    let i400 = st.requests.iter().rposition(|m| m.mti.0 == 400).unwrap();
    let i500 = st.requests.iter().rposition(|m| m.mti.0 == 500).unwrap();
    assert!(i400 < i500);
    assert_eq!(s.terminal.domestic.debit.amount, 5_000);
}

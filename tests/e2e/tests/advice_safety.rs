//! Advices (0220: refund, QR refund, tip, tip void) are never dropped (docs/PROTOCOL.md §6): every advice
//! kind, approved and declined by the host, under a bad response MAC, a cut frame, a dropped answer and an
//! answer delayed past the timeout. The app is told `advice_pending`, the advice stays queued, it is resent
//! after sign-in with the same STAN, the host's original answer is matched, and settlement agrees.

use possdk_core::api::{OriginalRef, Payment, TransactionResult};
use possdk_core::hal::Hal;
use possdk_core::TxState;
use possdk_core::{ErrorKind, Outcome, Terminal};
use possdk_e2e::*;
use serde_json::json;

/// Response timeout of the terminals here; the `delay` fault holds answers well past it.
const RESPONSE_MS: u64 = 400;

#[derive(Debug, Clone, Copy)]
enum AdviceKind {
    Refund,
    QrRefund,
    Tip,
    TipVoid,
}

const KINDS: [AdviceKind; 4] = [
    AdviceKind::Refund,
    AdviceKind::QrRefund,
    AdviceKind::Tip,
    AdviceKind::TipVoid,
];

/// The advice call, made once its original exists.
type AdviceCall = Box<dyn Fn(&Terminal) -> possdk_core::Result<TransactionResult>>;

/// Make what the advice needs (its original), then return the advice call.
fn prepare(t: &Terminal, kind: AdviceKind) -> AdviceCall {
    match kind {
        AdviceKind::Refund => {
            let sale = t
                .sale(2_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
                .expect("sale");
            assert!(sale.approved);
            let original = OriginalRef {
                reference: sale.reference.clone(),
                date: Some(sale.datetime[5..7].to_string() + &sale.datetime[8..10]),
                ..Default::default()
            };
            Box::new(move |t| t.refund(667, original.clone(), Some(swipe(&CUP_SWIPE))))
        }
        AdviceKind::QrRefund => {
            let sale = t
                .sale(2_000, Payment::Qr(Some(QR_CODE.to_string())))
                .expect("QR sale");
            assert!(sale.approved);
            let original = OriginalRef {
                reference: sale.reference.clone(),
                date: Some(sale.datetime[5..7].to_string() + &sale.datetime[8..10]),
                voucher: sale.voucher.clone(),
                ..Default::default()
            };
            Box::new(move |t| t.refund(667, original.clone(), None))
        }
        AdviceKind::Tip => {
            let sale = t
                .sale(2_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
                .expect("sale");
            assert!(sale.approved);
            let stan = sale.stan;
            Box::new(move |t| t.tip(stan, 150))
        }
        AdviceKind::TipVoid => {
            let sale = t
                .sale(2_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
                .expect("sale");
            let tip = t.tip(sale.stan, 150).expect("tip");
            assert!(tip.approved);
            let stan = tip.stan;
            Box::new(move |t| t.tip_void(stan))
        }
    }
}

/// One fault kind over every advice kind, approved and declined.
fn advice_matrix(fault: &str) {
    let host = TestHost::start(&format!("advice-{fault}"));
    let dir = temp_dir(&format!("advice-{fault}-term"));
    let t = Terminal::new(host.config(&dir, RESPONSE_MS), Hal::default()).expect("terminal");
    initialise(&t).expect("initialisation");
    for kind in KINDS {
        for declined in [false, true] {
            let case = format!("{kind:?} declined={declined} fault={fault}");
            let advice = prepare(&t, kind);
            let stan = t.status().unwrap().next_stan;
            if declined {
                host.admin(json!({"cmd": "fault", "tid": TID, "fault": "decline", "code": "05", "count": 1}));
            }
            // Enough faults to outlast every attempt the terminal makes within the call.
            match fault {
                "wrong_mac" => host.fault(fault, 1),
                "delay" => host.admin(
                    json!({"cmd": "fault", "tid": TID, "fault": "delay", "ms": RESPONSE_MS * 3, "count": 3}),
                ),
                _ => host.fault(fault, 3),
            };
            let told = advice(&t);
            if declined && fault == "wrong_mac" {
                // The host MACs no decline, so the corrupted-MAC fault finds nothing to corrupt: the decline
                // is a valid answer.
                let r = told.unwrap_or_else(|e| panic!("{case}: {e}"));
                assert!(!r.approved, "{case}");
                assert_eq!(r.outcome, Outcome::Declined, "{case}");
                host.clear_faults();
            } else {
                let e = told.expect_err(&case);
                assert_eq!(e.outcome, Some(Outcome::AdvicePending), "{case}: {e}");
                assert_eq!(e.stan, Some(stan), "{case}: {e}");
                assert!(e.message.contains("will be resent"), "{case}: {e}");
                let expected_kind = if fault == "wrong_mac" {
                    ErrorKind::InvalidResponse
                } else {
                    ErrorKind::HostTimeout
                };
                assert_eq!(e.kind, expected_kind, "{case}: {e}");
                let status = t.status().unwrap();
                assert_eq!(status.unsent_advices, 1, "{case}: advice kept");
                let row = t.journal(None).unwrap().records.pop().unwrap();
                assert_eq!((row.stan, row.state), (stan, TxState::Pending), "{case}");
                // The host did take it: resending must not take it twice.
                let at_host = host.tx(stan);
                assert_eq!(at_host["found"], true, "{case}: {at_host}");
                host.clear_faults();
                if !status.signed_in {
                    t.sign_in()
                        .unwrap_or_else(|e| panic!("{case}: sign in: {e}"));
                }
                // The next operation resends it first; the host answers with its original answer.
                let balance = t.balance(Some(swipe(&CUP_SWIPE))).expect("balance inquiry");
                assert_eq!(balance.outcome, Outcome::Approved, "{case}");
                assert_eq!(t.status().unwrap().unsent_advices, 0, "{case}: delivered");
            }
            let row = t
                .journal(None)
                .unwrap()
                .records
                .into_iter()
                .find(|r| r.stan == stan)
                .unwrap_or_else(|| panic!("{case}: row {stan} in the journal"));
            let at_host = host.tx(stan);
            let expected = if declined {
                TxState::Declined
            } else {
                TxState::Approved
            };
            assert_eq!(row.state, expected, "{case}: {at_host}");
            assert_eq!(
                row.response_code.as_deref(),
                at_host["response_code"].as_str(),
                "{case}: the original answer is matched"
            );
            // The host holds the advice once, and both sides' totals agree.
            let settled = t.settle().unwrap_or_else(|e| panic!("{case}: settle: {e}"));
            assert!(settled.balanced, "{case}: {settled:?}");
            assert_eq!(settled.uploaded, 0, "{case}: {settled:?}");
            assert_eq!(settled.terminal, settled.host, "{case}");
        }
    }
    host.shutdown();
}

#[test]
fn advice_kept_on_bad_response_mac() {
    advice_matrix("wrong_mac");
}

#[test]
fn advice_kept_when_the_answer_is_cut() {
    advice_matrix("close_mid_frame");
}

#[test]
fn advice_kept_when_the_answer_is_dropped() {
    advice_matrix("no_answer");
}

#[test]
fn advice_kept_when_the_answer_is_late() {
    advice_matrix("delay");
}

/// A refund answered `00` with a bad MAC: the reproduction. The refund is not paid twice: the app is
/// told `advice_pending`, and the refund reaches the host once.
#[test]
fn approved_refund_with_bad_mac_is_not_paid_twice() {
    let host = TestHost::start("refund-mac");
    let dir = temp_dir("refund-mac-term");
    let t = host.ready(&dir, Hal::default());
    let refund = prepare(&t, AdviceKind::Refund);
    let before = host.balance(CUP_SWIPE.pan);
    host.fault("wrong_mac", 1);
    let e = refund(&t).unwrap_err();
    assert_eq!(e.outcome, Some(Outcome::AdvicePending), "{e}");
    assert_eq!(
        host.balance(CUP_SWIPE.pan),
        before + 667,
        "the host paid the refund once"
    );
    t.sign_in().unwrap();
    let s = t.settle().unwrap();
    assert!(s.balanced && s.uploaded == 0, "{s:?}");
    assert_eq!(s.terminal.domestic.credit.count, 1, "{s:?}");
    assert_eq!(s.terminal.domestic.credit.amount, 667, "{s:?}");
    assert_eq!(host.balance(CUP_SWIPE.pan), before + 667, "not paid twice");
    host.shutdown();
}

/// The same refund with track encryption on: the resent advice carries its tracks encrypted under the TDK of
/// its first sending, and the sign-in after the bad MAC replaced the TDK. The host recognises the replay by its
/// body before decrypting anything (docs/PROTOCOL.md §6.7), so the refund ends approved on both sides instead of
/// a `30` at the terminal against a paid refund at the host.
#[test]
fn a_resent_advice_with_tracks_under_replaced_keys_is_matched() {
    let host = TestHost::start("refund-mac-tracks");
    let dir = temp_dir("refund-mac-tracks-term");
    let mut config = host.config_json(&dir, 1500);
    config["encrypt_tracks"] = true.into();
    let t = Terminal::new(
        possdk_core::Config::from_json(&config.to_string()).expect("config"),
        Hal::default(),
    )
    .expect("terminal opens");
    initialise(&t).expect("initialisation");
    let refund = prepare(&t, AdviceKind::Refund);
    let before = host.balance(CUP_SWIPE.pan);
    host.fault("wrong_mac", 1);
    let e = refund(&t).unwrap_err();
    assert_eq!(e.outcome, Some(Outcome::AdvicePending), "{e}");
    let stan = e.stan.expect("the advice's STAN");
    // New working keys (a new TDK), then the advice goes again before anything else.
    t.sign_in().unwrap();
    let s = t.settle().unwrap();
    assert!(s.balanced && s.uploaded == 0, "{s:?}");
    assert_eq!(s.terminal.domestic.credit.amount, 667, "{s:?}");
    let row = t
        .journal(Some(s.batch))
        .unwrap()
        .records
        .into_iter()
        .find(|r| r.stan == stan && r.kind == "refund")
        .expect("the refund's row");
    assert_eq!(row.state, TxState::Approved, "{row:?}");
    assert_eq!(host.balance(CUP_SWIPE.pan), before + 667, "paid once");
    host.shutdown();
}

//! docs/PROTOCOL.md §6 end to end: timeouts reversed, bad MACs reversed with A0, reversals survive a restart.

use possdk_core::api::Payment;
use possdk_core::hal::Hal;
use possdk_core::TxState;
use possdk_core::{ErrorKind, Outcome};
use possdk_e2e::*;

#[test]
fn timeout_is_reversed_and_the_ledger_is_unchanged() {
    let host = TestHost::start("timeout");
    let dir = temp_dir("timeout-term");
    let t = host.ready(&dir, Hal::default());
    let before = host.balance(CUP_SWIPE.pan);
    host.fault("no_answer", 1);
    let e = t
        .sale(7_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::HostTimeout, "{e}");
    assert_eq!(e.outcome, Some(Outcome::Reversed), "{e}");
    let status = t.status().unwrap();
    assert!(status.pending_reversal.is_none(), "{status:?}");
    let row = t.journal(None).unwrap().records.pop().unwrap();
    assert_eq!(row.state, TxState::Reversed);
    assert_eq!(e.stan, Some(row.stan), "{e}");
    assert_eq!(host.balance(CUP_SWIPE.pan), before, "the host ledger moved");
    let tx = host.tx(row.stan);
    assert_ne!(tx["state"], "approved", "{tx}");
    // The terminal goes on normally.
    assert!(
        t.sale(100, Payment::Card(Some(swipe(&CUP_SWIPE))))
            .unwrap()
            .approved
    );
    host.shutdown();
}

#[test]
fn wrong_response_mac_reverses_with_a0_and_signs_out() {
    let host = TestHost::start("mac");
    let dir = temp_dir("mac-term");
    let t = host.ready(&dir, Hal::default());
    let before = host.balance(CUP_SWIPE.pan);
    host.fault("wrong_mac", 1);
    let e = t
        .sale(7_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidResponse, "{e}");
    assert_eq!(e.outcome, Some(Outcome::Reversed), "{e}");
    let status = t.status().unwrap();
    assert!(!status.signed_in);
    assert!(status.pending_reversal.is_none(), "{status:?}");
    assert_eq!(host.balance(CUP_SWIPE.pan), before);
    let e = t
        .sale(100, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotSignedIn);
    assert_eq!(e.outcome, Some(Outcome::NotSent), "{e}");
    t.sign_in().unwrap();
    assert!(
        t.sale(100, Payment::Card(Some(swipe(&CUP_SWIPE))))
            .unwrap()
            .approved
    );
    host.shutdown();
}

#[test]
fn dropped_after_sending_then_reopened_sends_the_reversal_first() {
    let host = TestHost::start("restart");
    let dir = temp_dir("restart-term");
    let before = host.balance(CUP_SWIPE.pan);
    let stan = {
        let t = host.ready(&dir, Hal::default());
        // The sale and the immediate reversal attempt both go unanswered.
        host.fault("no_answer", 2);
        let e = t
            .sale(7_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::HostTimeout);
        assert_eq!(e.outcome, Some(Outcome::ReversalPending), "{e}");
        let pending = t
            .status()
            .unwrap()
            .pending_reversal
            .expect("a reversal is pending");
        pending.stan
        // the Terminal is dropped here
    };
    host.clear_faults();
    let t = host.terminal(&dir, Hal::default());
    let status = t.status().unwrap();
    assert_eq!(status.pending_reversal.as_ref().map(|p| p.stan), Some(stan));
    assert!(status.signed_in, "keys are sealed at rest: still signed in");
    let sale = t
        .sale(1_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    assert!(sale.approved);
    assert!(t.status().unwrap().pending_reversal.is_none());
    let rows = t.journal(None).unwrap().records;
    assert_eq!(
        rows.iter().find(|r| r.stan == stan).unwrap().state,
        TxState::Reversed
    );
    assert_eq!(host.balance(CUP_SWIPE.pan), before - 1_000);
    host.shutdown();
}

#[test]
fn header_requirements_are_acted_on_before_the_next_transaction() {
    use possdk_sim::{SimCard, SimDevices};
    let host = TestHost::start("header");
    let dir = temp_dir("header-term");
    let dev = SimDevices::new();
    let t = host.ready(&dir, dev.hal());
    let loads = dev.reader.loaded_parameters().loads;

    // 4: the host wants CAPKs downloaded; the terminal does it before its next financial message.
    host.admin(serde_json::json!({"cmd": "require", "tid": TID, "what": "capk"}));
    dev.reader.push(SimCard::swipe(&CUP_SWIPE));
    assert!(t.sale(100, Payment::Card(None)).unwrap().approved);
    dev.reader.push(SimCard::swipe(&CUP_SWIPE));
    assert!(t.sale(100, Payment::Card(None)).unwrap().approved);
    assert!(
        dev.reader.loaded_parameters().loads > loads,
        "CAPKs were not reloaded"
    );

    // 3: sign in again, done automatically before the next transaction.
    host.fault("sign_in_again", 1);
    dev.reader.push(SimCard::swipe(&CUP_SWIPE));
    assert!(t.sale(100, Payment::Card(None)).unwrap().approved);
    assert!(!t.status().unwrap().signed_in);
    dev.reader.push(SimCard::swipe(&CUP_SWIPE));
    assert!(t.sale(100, Payment::Card(None)).unwrap().approved);
    assert!(t.status().unwrap().signed_in);
    host.shutdown();
}

#[test]
fn crash_right_after_sending_then_reopened_reverses_with_98_first() {
    let host = TestHost::start("crash");
    let dir = temp_dir("crash-term");
    let before = host.balance(CUP_SWIPE.pan);
    let armed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let hal = Hal {
            transport: Some(Box::new(CrashAfter0200::new(&armed))),
            ..Default::default()
        };
        let t = host.ready(&dir, hal);
        armed.store(true, std::sync::atomic::Ordering::SeqCst);
        let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            t.sale(7_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        }));
        assert!(crashed.is_err());
        // The host approved and booked it; the terminal never knew.
        assert_eq!(host.balance(CUP_SWIPE.pan), before - 7_000);
    }
    let t = host.terminal(&dir, Hal::default());
    let pending = t
        .status()
        .unwrap()
        .pending_reversal
        .expect("pending reversal after the crash");
    assert_eq!(pending.reason, None, "in flight when it crashed");
    let sale = t
        .sale(1_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    assert!(sale.approved);
    assert!(t.status().unwrap().pending_reversal.is_none());
    let tx = host.tx(pending.stan);
    assert_eq!(tx["state"], "reversed", "{tx}");
    assert_eq!(host.balance(CUP_SWIPE.pan), before - 1_000);
    host.shutdown();
}

#[test]
fn an_unanswered_advice_is_replayed_by_the_host_even_after_a_new_sign_in() {
    let host = TestHost::start("advice");
    let dir = temp_dir("advice-term");
    let t = host.ready(&dir, Hal::default());
    let sale = t
        .sale(10_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    host.fault("no_answer", 3);
    let e = t.tip(sale.stan, 1_000).unwrap_err();
    assert_eq!(e.kind, ErrorKind::HostTimeout, "{e}");
    assert_eq!(e.outcome, Some(Outcome::AdvicePending), "{e}");
    assert_eq!(t.status().unwrap().unsent_advices, 1);
    // New working keys: the resend carries the same body, MAC'd under the new MAK.
    t.sign_in().unwrap();
    assert!(
        t.sale(100, Payment::Card(Some(swipe(&CUP_SWIPE))))
            .unwrap()
            .approved
    );
    assert_eq!(t.status().unwrap().unsent_advices, 0);
    let rows = t.journal(None).unwrap().records;
    assert_eq!(
        rows.iter().find(|r| r.stan == sale.stan).unwrap().tip,
        1_000
    );
    let tx = host.tx(sale.stan);
    assert_eq!(tx["tip"], 1_000, "{tx}");
    host.shutdown();
}

/// A balance inquiry interrupted by a crash after it was sent (its row journalled, no answer recorded) is
/// resolved when the journal is next opened: it moves no money, so it becomes `failed`, and nothing is owed.
#[test]
fn an_inquiry_interrupted_by_a_crash_is_resolved_on_the_next_start() {
    let host = TestHost::start("inquiry-crash");
    let dir = temp_dir("inquiry-crash-term");
    let armed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stan = {
        let hal = Hal {
            transport: Some(Box::new(CrashAfter0200::new(&armed))),
            ..Default::default()
        };
        let t = host.ready(&dir, hal);
        let stan = t.status().unwrap().next_stan;
        armed.store(true, std::sync::atomic::Ordering::SeqCst);
        let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            t.balance(Some(swipe(&CUP_SWIPE)))
        }));
        assert!(crashed.is_err());
        let row = t.journal(None).unwrap().records.pop().unwrap();
        assert_eq!((row.stan, row.state), (stan, TxState::Pending));
        stan
    };
    let t = host.terminal(&dir, Hal::default());
    let row = t.journal(None).unwrap().records.pop().unwrap();
    assert_eq!((row.stan, row.state), (stan, TxState::Failed));
    let status = t.status().unwrap();
    assert!(status.pending_reversal.is_none() && status.unsent_advices == 0);
    let b = t.balance(Some(swipe(&CUP_SWIPE))).unwrap();
    assert_eq!(b.outcome, Outcome::Approved);
    host.shutdown();
}

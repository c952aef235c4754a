//! Hostile conditions end to end: garbage and half frames, a slow host cancelled by the app, a card
//! never presented, a host key that does not match the pin, encrypted tracks, issuer scripts.

use possdk_core::api::Payment;
use possdk_core::hal::Hal;
use possdk_core::TxState;
use possdk_core::{ErrorKind, Terminal};
use possdk_e2e::*;
use possdk_sim::{SimCard, SimDevices};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn garbage_and_half_frames_are_reversed_with_06() {
    let host = TestHost::start("garbage");
    let dir = temp_dir("garbage-term");
    let t = host.ready(&dir, Hal::default());
    let before = host.balance(CUP_SWIPE.pan);
    for fault in ["garbage", "close_mid_frame"] {
        host.fault(fault, 1);
        let e = t
            .sale(3_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
            .unwrap_err();
        assert!(
            matches!(e.kind, ErrorKind::InvalidResponse | ErrorKind::HostTimeout),
            "{fault}: {e}"
        );
        assert_eq!(
            e.outcome,
            Some(possdk_core::Outcome::Reversed),
            "{fault}: {e}"
        );
        assert!(t.status().unwrap().pending_reversal.is_none(), "{fault}");
        let row = t.journal(None).unwrap().records.pop().unwrap();
        assert_eq!(row.state, TxState::Reversed, "{fault}");
    }
    assert_eq!(host.balance(CUP_SWIPE.pan), before);
    host.shutdown();
}

#[test]
fn cancel_while_the_host_is_slow_reverses_with_06() {
    let host = TestHost::start("cancel-host");
    let dir = temp_dir("cancel-host-term");
    let t = Arc::new(host.ready(&dir, Hal::default()));
    let before = host.balance(CUP_SWIPE.pan);
    host.admin(serde_json::json!({"cmd": "fault", "fault": "delay", "ms": 1200, "count": 1}));
    let t2 = t.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        t2.cancel();
    });
    let e = t
        .sale(3_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap_err();
    canceller.join().unwrap();
    assert_eq!(e.kind, ErrorKind::Cancelled, "{e}");
    std::thread::sleep(Duration::from_millis(1200)); // let the slow answer drain
    let status = t.status().unwrap();
    assert!(status.pending_reversal.is_none(), "{status:?}");
    assert_eq!(
        t.journal(None).unwrap().records.pop().unwrap().state,
        TxState::Reversed
    );
    assert_eq!(host.balance(CUP_SWIPE.pan), before);
    host.shutdown();
}

#[test]
fn cancel_while_waiting_for_a_card_touches_nothing() {
    let host = TestHost::start("cancel-card");
    let dir = temp_dir("cancel-card-term");
    let dev = SimDevices::new();
    let t = Arc::new(host.ready(&dir, dev.hal()));
    let status = t.status().unwrap();
    dev.reader.set_delay(Duration::from_secs(5));
    dev.reader.push(SimCard::swipe(&CUP_SWIPE));
    let t2 = t.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        t2.cancel();
    });
    let e = t.sale(3_000, Payment::Card(None)).unwrap_err();
    canceller.join().unwrap();
    assert_eq!(e.kind, ErrorKind::Cancelled, "{e}");
    assert_eq!(t.status().unwrap(), status);
    host.shutdown();
}

#[test]
fn a_host_key_that_does_not_match_the_pin_is_refused() {
    let host = TestHost::start("pin");
    let dir = temp_dir("pin-term");
    let mut config = host.config(&dir, 1500);
    config.host_key_sha256 = Some("00".repeat(32));
    let t = Terminal::new(config, Hal::default()).unwrap();
    t.activate(DEVICE_TOKEN).unwrap();
    let e = t.download_master_key().unwrap_err();
    assert_eq!(e.kind, ErrorKind::KeyCheckFailed, "{e}");
    assert!(!t.status().unwrap().master_key_loaded);
    host.shutdown();
}

#[test]
fn encrypted_tracks_are_accepted_by_the_host() {
    let host = TestHost::start("tracks");
    let dir = temp_dir("tracks-term");
    let mut config = host.config(&dir, 1500);
    config.encrypt_tracks = true;
    let t = Terminal::new(config, Hal::default()).unwrap();
    initialise(&t).unwrap();
    let r = t
        .sale(2_500, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    assert!(r.approved, "{r:?}");
    host.shutdown();
}

#[test]
fn issuer_scripts_are_run_and_reported() {
    let host = TestHost::start("scripts");
    let dir = temp_dir("scripts-term");
    let dev = SimDevices::new();
    let t = host.ready(&dir, dev.hal());
    host.fault("issuer_script", 1);
    dev.reader.push(SimCard::chip(&CUP_CHIP));
    let r = t.sale(1_800, Payment::Card(None)).unwrap();
    assert!(r.approved, "{r:?}");
    let outcome = dev.reader.last_outcome().expect("second GENERATE AC");
    assert!(outcome.script_results.is_some());
    host.shutdown();
}

#[test]
fn a_host_that_is_down_is_unreachable_and_owes_no_reversal() {
    let host = TestHost::start("down");
    let dir = temp_dir("down-term");
    let t = host.ready(&dir, Hal::default());
    host.shutdown();
    let e = t
        .sale(3_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::HostUnreachable, "{e}");
    assert_eq!(e.outcome, Some(possdk_core::Outcome::NotSent), "{e}");
    let status = t.status().unwrap();
    assert!(status.pending_reversal.is_none(), "{status:?}");
    assert_eq!(
        t.journal(None).unwrap().records.pop().unwrap().state,
        TxState::Failed
    );
}

#[test]
fn a_chip_card_is_completed_offline_when_the_host_does_not_answer() {
    let host = TestHost::start("chip-timeout");
    let dir = temp_dir("chip-timeout-term");
    let dev = SimDevices::new();
    let t = host.ready(&dir, dev.hal());
    let before = host.balance(CUP_CHIP.pan);
    host.fault("no_answer", 1);
    dev.reader.push(SimCard::chip(&CUP_CHIP));
    let e = t.sale(2_200, Payment::Card(None)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::HostTimeout, "{e}");
    assert_eq!(dev.reader.last_outcome().map(|o| o.approved), Some(false));
    assert!(t.status().unwrap().pending_reversal.is_none());
    assert_eq!(host.balance(CUP_CHIP.pan), before);
    host.shutdown();
}

#[test]
fn a_wrong_device_token_is_refused_and_the_terminal_stays_inactive() {
    let host = TestHost::start("token");
    let dir = temp_dir("token-term");
    let t = host.terminal(&dir, Hal::default());
    let e = t.activate("NOT-THE-DEVICE_TOKEN").unwrap_err();
    assert_eq!(e.kind, ErrorKind::HostRejected, "{e}");
    assert!(e.message.contains("A8"), "{e}");
    assert!(!t.status().unwrap().activated);
    assert_eq!(
        t.download_master_key().unwrap_err().kind,
        ErrorKind::NotActivated
    );
    host.shutdown();
}

#[test]
fn the_app_sees_progress_events_in_order() {
    use possdk_core::hal::Event;
    let host = TestHost::start("events");
    let dir = temp_dir("events-term");
    let dev = SimDevices::new();
    let t = host.ready(&dir, dev.hal());
    dev.events.clear();
    dev.reader.push(SimCard::swipe(&CUP_SWIPE));
    assert!(t.sale(1_000, Payment::Card(None)).unwrap().approved);
    let events = dev.events.snapshot();
    let pos = |want: fn(&Event) -> bool| {
        events
            .iter()
            .position(want)
            .unwrap_or_else(|| panic!("{events:?}"))
    };
    let card = pos(|e| matches!(e, Event::WaitingForCard));
    let read =
        pos(|e| matches!(e, Event::CardRead { masked_pan } if masked_pan == "622588******6789"));
    let pin = pos(|e| matches!(e, Event::WaitingForPin));
    let send = pos(|e| matches!(e, Event::Sending));
    let recv = pos(|e| matches!(e, Event::Receiving));
    let done = pos(|e| matches!(e, Event::Done { approved: true, .. }));
    assert!(
        card < read && read < pin && pin < send && send < recv && recv < done,
        "{events:?}"
    );
    host.shutdown();
}

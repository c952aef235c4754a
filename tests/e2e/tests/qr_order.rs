//! QR payments learnt by asking (docs/PROTOCOL.md §4.10, §4.11), end to end against possdk-host: the
//! merchant-presented order (paid after polls, expired, cancelled and closed, cancelled but already paid,
//! a crash mid-order), the QR status query, and a customer-presented QR sale whose outcome is unknown
//! (paid after all, not paid and reversed, the customer still entering the password). Settlement balances.

use possdk_core::api::Payment;
use possdk_core::hal::{Event, Hal};
use possdk_core::{Config, ErrorKind, Outcome, Terminal, TxState};
use possdk_e2e::*;
use possdk_sim::SimDevices;
use std::sync::Arc;
use std::time::Duration;

/// A code whose wallet asks the customer for the password: paid at the third status query (§12.2).
const PAYING_3: &str = "134567890123457703";
/// The customer gives up at the second status query.
const GIVES_UP_2: &str = "134567890123457802";

fn config(host: &TestHost, dir: &std::path::Path, poll_ms: u64) -> Config {
    let mut v = host.config_json(dir, 1500);
    v["qr"] = serde_json::json!({"poll_interval_ms": poll_ms, "order_timeout_ms": 3000});
    Config::from_json(&v.to_string()).expect("config")
}

fn ready(host: &TestHost, dir: &std::path::Path, hal: Hal, poll_ms: u64) -> Terminal {
    let t = Terminal::new(config(host, dir, poll_ms), hal).expect("terminal opens");
    initialise(&t).expect("initialisation");
    t
}

fn payer(host: &TestHost, mode: &str, after: u32) {
    let r = host
        .admin(serde_json::json!({"cmd": "qr_payer", "tid": TID, "mode": mode, "after": after}));
    assert_eq!(r["ok"], true, "{r}");
}

fn row_state(t: &Terminal, stan: u32) -> TxState {
    t.journal(None)
        .unwrap()
        .records
        .iter()
        .find(|r| r.stan == stan)
        .expect("journal row")
        .state
}

#[test]
fn an_order_is_shown_polled_paid_voided_and_settled() {
    let host = TestHost::start("qr-order-paid");
    let dir = temp_dir("qr-order-paid-term");
    let devices = SimDevices::new();
    let t = ready(&host, &dir, devices.hal(), 20);
    payer(&host, "pay", 3);

    let paid = t.qr_order(8_800).unwrap();
    assert!(paid.approved, "{paid:?}");
    assert_eq!(paid.outcome, Outcome::Approved);
    assert_eq!(paid.kind, "qr_order");
    assert_eq!(paid.qr_state.as_deref(), Some("paid"));
    let payload = paid.qr_payload.clone().expect("code payload in the result");
    let voucher = paid.voucher.clone().expect("voucher");
    assert!(payload.ends_with(&voucher), "{payload}");
    assert!(paid.reference.is_some() && paid.auth_code.is_some());
    // The display showed the code once and took it down.
    let shown = devices.qr_display.shown();
    assert_eq!(shown.len(), 1);
    assert_eq!(
        (shown[0].payload.as_str(), shown[0].amount),
        (payload.as_str(), 8_800)
    );
    assert_eq!(devices.qr_display.cleared(), 1);
    // Each poll was a progress event; the third said paid.
    let polls: Vec<(u32, String)> = devices
        .events
        .snapshot()
        .into_iter()
        .filter_map(|e| match e {
            Event::QrPolling { stan, poll, state } if stan == paid.stan => Some((poll, state)),
            _ => None,
        })
        .collect();
    assert_eq!(
        polls,
        vec![
            (1, "waiting".into()),
            (2, "waiting".into()),
            (3, "paid".into())
        ]
    );
    assert_eq!(host.tx(paid.stan)["state"], "approved");

    // A query by order and by voucher says paid and changes nothing.
    let q = t.qr_query(Some(paid.stan), None).unwrap();
    assert_eq!((q.qr_state.as_deref(), q.approved), (Some("paid"), true));
    let q = t.qr_query(None, Some(voucher.clone())).unwrap();
    assert_eq!((q.qr_state.as_deref(), q.stan), (Some("paid"), paid.stan));

    // A paid order is voided like a QR sale; another one is refunded by voucher.
    let void = t.void(paid.stan, None).unwrap();
    assert!(void.approved, "{void:?}");
    assert_eq!(void.kind, "qr_void");
    let second = t.qr_order(5_000).unwrap();
    assert!(second.approved);
    let refund = t
        .refund(
            2_000,
            possdk_core::api::OriginalRef {
                reference: second.reference.clone(),
                date: Some(second.datetime[5..7].to_string() + &second.datetime[8..10]),
                voucher: second.voucher.clone(),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    assert!(refund.approved, "{refund:?}");

    let s = t.settle().unwrap();
    assert!(s.balanced, "{s:?}");
    assert_eq!(s.terminal.domestic.debit.amount, 5_000);
    assert_eq!(s.terminal.domestic.credit.amount, 2_000);
    host.shutdown();
}

#[test]
fn an_expired_order_counts_nothing() {
    let host = TestHost::start("qr-order-expired");
    let dir = temp_dir("qr-order-expired-term");
    let t = ready(&host, &dir, Hal::default(), 20);
    payer(&host, "expire", 2);
    let r = t.qr_order(1_000).unwrap();
    assert!(!r.approved);
    assert_eq!(r.qr_state.as_deref(), Some("expired"));
    assert_eq!(r.outcome, Outcome::Declined);
    assert!(
        r.qr_payload.is_some(),
        "no display: the payload is in the result"
    );
    assert_eq!(row_state(&t, r.stan), TxState::Declined);
    assert_eq!(host.tx(r.stan)["state"], "expired");
    let s = t.settle().unwrap();
    assert!(s.balanced);
    assert_eq!(s.terminal.domestic.debit.count, 0);
    host.shutdown();
}

#[test]
fn cancel_closes_the_order_and_a_close_that_finds_it_paid_is_approved() {
    let host = Arc::new(TestHost::start("qr-order-cancel"));
    let dir = temp_dir("qr-order-cancel-term");
    let devices = SimDevices::new();
    let t = Arc::new(ready(&host, &dir, devices.hal(), 200));
    payer(&host, "never", 1);

    // Nobody pays: the app cancels, the order is closed at the host.
    let t2 = t.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(450));
        t2.cancel();
    });
    let e = t.qr_order(3_000).unwrap_err();
    canceller.join().unwrap();
    assert_eq!(e.kind, ErrorKind::Cancelled, "{e}");
    assert_eq!(e.outcome, Some(Outcome::Declined), "{e}");
    let stan = e.stan.expect("stan");
    assert_eq!(host.tx(stan)["state"], "closed");
    assert_eq!(row_state(&t, stan), TxState::Declined);

    // The customer pays the moment the code is shown; the app cancels before a poll sees it: the close
    // answers paid, so the order is approved (the money was taken).
    let h = host.clone();
    devices
        .qr_display
        .set_customer(Some(Arc::new(move |show: &possdk_core::hal::QrShow| {
            let voucher = show.payload.rsplit('/').next().unwrap_or("").to_string();
            let r =
                h.admin(serde_json::json!({"cmd": "pay_order", "tid": TID, "voucher": voucher}));
            assert_eq!(r["paid"], true, "{r}");
        })));
    let t2 = t.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        t2.cancel();
    });
    let r = t.qr_order(4_000).unwrap();
    canceller.join().unwrap();
    assert!(r.approved, "{r:?}");
    assert_eq!(r.qr_state.as_deref(), Some("paid"));
    assert_eq!(row_state(&t, r.stan), TxState::Approved);

    let s = t.settle().unwrap();
    assert!(s.balanced, "{s:?}");
    assert_eq!(s.terminal.domestic.debit.amount, 4_000);
    drop(t);
    if let Ok(h) = Arc::try_unwrap(host) {
        h.shutdown();
    }
}

#[test]
fn an_order_open_at_a_crash_is_queried_before_anything_else() {
    let host = TestHost::start("qr-order-crash");
    let dir = temp_dir("qr-order-crash-term");
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stan = {
        let hal = Hal {
            // Crashes right after the order request (a 0200) is written.
            transport: Some(Box::new(CrashAfter0200::new(&armed))),
            ..Default::default()
        };
        let t = ready(&host, &dir, hal, 20);
        let stan = t.status().unwrap().next_stan;
        armed.store(true, std::sync::atomic::Ordering::SeqCst);
        let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.qr_order(6_600)));
        assert!(crashed.is_err());
        assert_eq!(row_state(&t, stan), TxState::Pending);
        stan
    };
    // Meanwhile the customer paid the order the host created.
    let voucher = host.tx(stan)["voucher"].as_str().unwrap().to_string();
    let r = host.admin(serde_json::json!({"cmd": "pay_order", "tid": TID, "voucher": voucher}));
    assert_eq!(r["paid"], true, "{r}");
    let t = Terminal::new(config(&host, &dir, 20), Hal::default()).unwrap();
    // Still open after the restart (not failed as an orphan) ...
    assert_eq!(row_state(&t, stan), TxState::Pending);
    // ... and queried before the next transaction: paid, so it counts.
    let sale = t.sale(1_000, Payment::Qr(Some(QR_CODE.into()))).unwrap();
    assert!(sale.approved);
    assert_eq!(row_state(&t, stan), TxState::Approved);
    let s = t.settle().unwrap();
    assert!(s.balanced, "{s:?}");
    assert_eq!(s.terminal.domestic.debit.amount, 7_600);
    host.shutdown();
}

#[test]
fn a_customer_presented_qr_sale_without_answer_is_queried_before_it_is_reversed() {
    let host = TestHost::start("qr-unknown");
    let dir = temp_dir("qr-unknown-term");
    let devices = SimDevices::new();
    let t = ready(&host, &dir, devices.hal(), 20);

    // The host approved, the answer was lost: the query says paid, nothing is reversed.
    host.fault("no_answer", 1);
    let paid = t.sale(2_500, Payment::Qr(Some(QR_CODE.into()))).unwrap();
    assert!(paid.approved, "{paid:?}");
    assert_eq!(paid.outcome, Outcome::Approved);
    assert_eq!(paid.qr_state.as_deref(), Some("paid"));
    assert!(paid.voucher.is_some() && paid.reference.is_some());
    assert!(t.status().unwrap().pending_reversal.is_none());
    assert_eq!(host.tx(paid.stan)["state"], "approved");
    let reversals = devices
        .events
        .snapshot()
        .iter()
        .filter(|e| matches!(e, Event::Reversing { .. }))
        .count();
    assert_eq!(reversals, 0);

    // The host declined, the answer was lost: the query says not paid, the reversal goes.
    host.fault("no_answer", 1);
    let e = t
        .sale(2_500, Payment::Qr(Some(QR_CODE_DECLINED_51.into())))
        .unwrap_err();
    assert_eq!(e.outcome, Some(Outcome::Reversed), "{e}");
    assert_eq!(row_state(&t, e.stan.unwrap()), TxState::Reversed);

    // The customer enters the wallet password: polled until paid.
    let r = t.sale(1_200, Payment::Qr(Some(PAYING_3.into()))).unwrap();
    assert!(r.approved, "{r:?}");
    assert_eq!(host.tx(r.stan)["state"], "approved");

    // The customer gives up: not paid, reversed.
    let e = t
        .sale(1_300, Payment::Qr(Some(GIVES_UP_2.into())))
        .unwrap_err();
    assert_eq!(e.outcome, Some(Outcome::Reversed), "{e}");
    assert_eq!(host.tx(e.stan.unwrap())["state"], "declined");

    let s = t.settle().unwrap();
    assert!(s.balanced, "{s:?}");
    assert_eq!(s.terminal.domestic.debit.amount, 3_700);
    host.shutdown();
}

#[test]
fn the_json_ops_run_an_order_and_a_query() {
    let host = TestHost::start("qr-json");
    let dir = temp_dir("qr-json-term");
    let t = ready(&host, &dir, Hal::default(), 20);
    let out = possdk_core::api::call_json(&t, r#"{"op":"qr_order","amount":1234}"#);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["result"]["approved"], true, "{v}");
    assert_eq!(v["result"]["qr_state"], "paid");
    assert!(v["result"]["qr_payload"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    let stan = v["result"]["stan"].as_u64().unwrap();
    let out = possdk_core::api::call_json(&t, &format!(r#"{{"op":"qr_query","order":{stan}}}"#));
    let q: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(q["result"]["qr_state"], "paid", "{q}");
    let out = possdk_core::api::call_json(&t, r#"{"op":"qr_query"}"#);
    let e: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(e["error"]["code"], "invalid_request", "{e}");
    assert_eq!(e["error"]["field"], "order", "{e}");
    let out = possdk_core::api::call_json(&t, r#"{"op":"qr_order","amount":0}"#);
    let e: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(e["error"]["field"], "amount", "{e}");
    assert_eq!(e["error"]["outcome"], "not_sent", "{e}");
    host.shutdown();
}

fn mmdd(r: &possdk_core::api::TransactionResult) -> String {
    format!("{}{}", &r.datetime[5..7], &r.datetime[8..10])
}

#[test]
fn a_qr_payment_is_refunded_by_its_reference_alone() {
    let host = TestHost::start("qr-refund-ref");
    let dir = temp_dir("qr-refund-ref-term");
    // The journal knows the original: only the reference is given, the QR refund carries its voucher.
    let t = ready(&host, &dir, Hal::default(), 20);
    let sale = t.sale(9_000, Payment::Qr(Some(QR_CODE.into()))).unwrap();
    let by_ref = possdk_core::api::OriginalRef {
        reference: sale.reference.clone(),
        date: Some(mmdd(&sale)),
        ..Default::default()
    };
    let r = t.refund(1_000, by_ref.clone(), None).unwrap();
    assert!(r.approved, "{r:?}");
    assert_eq!(r.kind, "qr_refund");
    assert_eq!(host.tx(sale.stan)["refunded"], 1_000);

    // Settled: the sale is no longer in the open batch, so the journal does not name it. The app says it
    // is QR; without the host's leave (config `qr.refund_by_reference` off) the voucher is required and
    // nothing is sent.
    assert!(t.settle().unwrap().balanced);
    let before = host.message_count();
    let e = t.qr_refund(500, by_ref.clone()).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("original.voucher"), "{e}");
    assert_eq!(e.outcome, Some(Outcome::NotSent));
    assert_eq!(host.message_count(), before);
    drop(t);

    // Where the host allows it, the refund goes by reference alone (37, no 59).
    let mut v = host.config_json(&dir, 1500);
    v["qr"] = serde_json::json!({"refund_by_reference": true});
    let t = Terminal::new(Config::from_json(&v.to_string()).unwrap(), Hal::default()).unwrap();
    let out = possdk_core::api::call_json(
        &t,
        &format!(
            r#"{{"op":"refund","amount":500,"payment":"qr","original":{{"reference":"{}","date":"{}"}}}}"#,
            sale.reference.as_deref().unwrap(),
            mmdd(&sale)
        ),
    );
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["result"]["approved"], true, "{j}");
    assert_eq!(j["result"]["kind"], "qr_refund", "{j}");
    let tx = host.admin(
        serde_json::json!({"cmd": "tx", "tid": TID, "stan": sale.stan, "batch": sale.batch}),
    );
    assert_eq!(tx["refunded"], 1_500, "{tx}");
    // Over the original: refused by the host (61).
    let e = t.qr_refund(8_000, by_ref).unwrap();
    assert_eq!(e.response_code, "61", "{e:?}");
    let s = t.settle().unwrap();
    assert!(s.balanced, "{s:?}");
    assert_eq!(s.terminal.domestic.credit.amount, 500);
    host.shutdown();
}

#[test]
fn a_qr_sale_is_reversed_when_its_status_queries_keep_failing() {
    let host = TestHost::start("qr-query-fails");
    let dir = temp_dir("qr-query-fails-term");
    let mut v = host.config_json(&dir, 300);
    v["qr"] = serde_json::json!({"poll_interval_ms": 10, "query_attempts": 2});
    let devices = SimDevices::new();
    let t = Terminal::new(Config::from_json(&v.to_string()).unwrap(), devices.hal()).unwrap();
    initialise(&t).unwrap();
    // The sale's answer and both status queries are lost (§4.11, rule 5): the reversal goes.
    host.fault("no_answer", 3);
    let e = t
        .sale(4_400, Payment::Qr(Some(QR_CODE.into())))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::HostTimeout, "{e}");
    assert_eq!(e.outcome, Some(Outcome::Reversed), "{e}");
    let stan = e.stan.unwrap();
    assert_eq!(row_state(&t, stan), TxState::Reversed);
    assert_eq!(host.tx(stan)["state"], "reversed");
    let unknown = devices
        .events
        .snapshot()
        .iter()
        .filter(|e| matches!(e, Event::QrPolling { .. }))
        .count();
    assert_eq!(unknown, 0, "no status query got an answer");
    host.shutdown();
}

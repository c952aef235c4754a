//! A financial request costs exactly two durable journal commits: the request with its pending reversal
//! (or advice) before it is sent, then the outcome. Counted with an SQLite commit hook on the terminal's
//! journal connection (`Terminal::instrument_journal`, feature `instrument`, never in the shipped libraries).

use possdk_core::api::{OriginalRef, Payment};
use possdk_core::hal::Hal;
use possdk_e2e::*;
use std::sync::atomic::Ordering;

#[test]
fn every_financial_request_makes_exactly_two_commits() {
    let host = TestHost::start("commits");
    let dir = temp_dir("commits-term");
    let t = host.ready(&dir, Hal::default());
    let commits = t.instrument_journal(true).unwrap();
    let count = |what: &str, f: &dyn Fn() -> possdk_core::api::TransactionResult| {
        let before = commits.load(Ordering::SeqCst);
        let r = f();
        assert!(r.approved, "{what}: {r:?}");
        assert_eq!(
            commits.load(Ordering::SeqCst) - before,
            2,
            "journal commits for one {what}"
        );
        r
    };
    let card = || Some(swipe(&CUP_SWIPE));
    let sale = count("sale", &|| t.sale(10_000, Payment::Card(card())).unwrap());
    count("void", &|| t.void(sale.stan, card()).unwrap());
    let sale2 = count("sale", &|| t.sale(10_000, Payment::Card(card())).unwrap());
    // A refund is an advice: recorded with its frame, then answered.
    count("refund", &|| {
        t.refund(
            3_000,
            OriginalRef {
                reference: sale2.reference.clone(),
                date: Some(sale2.datetime[5..10].replace('-', "")),
                ..Default::default()
            },
            card(),
        )
        .unwrap()
    });
    count("balance inquiry", &|| t.balance(card()).unwrap());
    count("QR sale", &|| {
        t.sale(500, Payment::Qr(Some(QR_CODE.into()))).unwrap()
    });
    host.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

//! Settlement end to end: terminal totals equal the host's; unbalanced batches are uploaded.

use possdk_core::api::{OriginalRef, Payment};
use possdk_core::hal::Hal;
use possdk_e2e::*;

fn some_business(t: &possdk_core::Terminal) {
    let s1 = t
        .sale(10_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    assert!(s1.approved);
    assert!(t.tip(s1.stan, 500).unwrap().approved);
    let s2 = t
        .sale(20_000, Payment::Card(Some(swipe(&VISA_CHIP))))
        .unwrap();
    assert!(s2.approved, "{s2:?}");
    let s3 = t
        .sale(3_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    assert!(t.void(s3.stan, Some(swipe(&CUP_SWIPE))).unwrap().approved);
    let q = t.sale(8_800, Payment::Qr(Some(QR_CODE.into()))).unwrap();
    assert!(q.approved);
    let date = s1.datetime[5..10].replace('-', "");
    let r = t
        .refund(
            1_000,
            OriginalRef {
                reference: s1.reference.clone(),
                date: Some(date),
                ..Default::default()
            },
            Some(swipe(&CUP_SWIPE)),
        )
        .unwrap();
    assert!(r.approved);
}

#[test]
fn balanced_settlement_matches_the_host() {
    let host = TestHost::start("settle");
    let dir = temp_dir("settle-term");
    let t = host.ready(&dir, Hal::default());
    some_business(&t);
    let host_totals = host.totals();
    let s = t.settle().unwrap();
    assert_eq!(s.terminal, host_totals);
    assert!(s.balanced);
    assert_eq!(s.uploaded, 0);
    assert_eq!(s.terminal.domestic.debit.count, 2);
    assert_eq!(s.terminal.domestic.debit.amount, 10_500 + 8_800);
    assert_eq!(s.terminal.domestic.credit.amount, 1_000);
    assert_eq!(s.terminal.foreign.debit.amount, 20_000);
    assert_eq!(s.next_batch, s.batch + 1);
    assert_eq!(t.status().unwrap().batch, s.next_batch);

    // The closed batch stays queryable; business goes on in the new batch.
    let closed = t.query_details(Some(s.batch)).unwrap();
    assert!(closed.records.len() >= 6, "{closed:?}");
    assert_eq!(t.journal(Some(s.batch)).unwrap().records.len(), 7);
    let next = t
        .sale(1_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    assert!(next.approved, "{next:?}");
    assert_eq!(next.batch, s.next_batch);
    assert_eq!(host.totals().domestic.debit.amount, 1_000);
    host.shutdown();
}

#[test]
fn unbalanced_settlement_uploads_the_batch() {
    let host = TestHost::start("upload");
    let dir = temp_dir("upload-term");
    let t = host.ready(&dir, Hal::default());
    some_business(&t);
    host.fault("unbalanced_settlement", 1);
    let s = t.settle().unwrap();
    assert_eq!(s.uploaded, 4, "{s:?}");
    assert!(s.balanced);
    assert_eq!(t.status().unwrap().batch, s.next_batch);
    host.shutdown();
}

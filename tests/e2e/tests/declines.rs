//! Issuer declines and host rules, end to end.

use possdk_core::api::{OriginalRef, Payment};
use possdk_core::hal::Hal;
use possdk_core::ErrorKind;
use possdk_e2e::*;

#[test]
fn wrong_pin_no_funds_expired_lost() {
    let host = TestHost::start("declines");
    let dir = temp_dir("declines-term");
    let t = host.ready(&dir, Hal::default());
    let cases = [
        (swipe_with_pin(&CUP_SWIPE, Some("999999")), "55"),
        (swipe(&CUP_LOW_BALANCE), "51"),
        (swipe(&CUP_EXPIRED), "54"),
        (swipe(&CUP_LOST), "41"),
    ];
    for (card, code) in cases {
        let r = t.sale(5_000, Payment::Card(Some(card))).unwrap();
        assert!(!r.approved, "{r:?}");
        assert_eq!(r.response_code, code);
        assert!(!r.message.is_empty());
    }
    let qr = t
        .sale(5_000, Payment::Qr(Some(QR_CODE_DECLINED_51.into())))
        .unwrap();
    assert_eq!(qr.response_code, "51");
    assert!(t.status().unwrap().pending_reversal.is_none());
    host.shutdown();
}

#[test]
fn host_rules_void_twice_refund_over_completion_over_tip_over() {
    let host = TestHost::start("rules");
    let dir = temp_dir("rules-term");
    let t = host.ready(&dir, Hal::default());
    let sale = t
        .sale(10_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    assert!(t.void(sale.stan, Some(swipe(&CUP_SWIPE))).unwrap().approved);
    let e = t.void(sale.stan, Some(swipe(&CUP_SWIPE))).unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_deref()),
        (ErrorKind::InvalidState, Some("stan"))
    );

    // Refund over the original: refused locally (original in the journal) ...
    let sale2 = t
        .sale(10_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    let date = sale2.datetime[5..10].replace('-', "");
    let orig = OriginalRef {
        reference: sale2.reference.clone(),
        date: Some(date.clone()),
        ..Default::default()
    };
    let e = t
        .refund(10_001, orig.clone(), Some(swipe(&CUP_SWIPE)))
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("amount"));
    // ... and across refunds: the journal keeps the refunded total.
    assert!(
        t.refund(6_000, orig.clone(), Some(swipe(&CUP_SWIPE)))
            .unwrap()
            .approved
    );
    let e = t.refund(6_000, orig, Some(swipe(&CUP_SWIPE))).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("amount"));

    // Completion over 115 %.
    let pa = t
        .preauth(10_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    let pref = OriginalRef {
        auth_code: pa.auth_code.clone(),
        date: Some(date),
        batch: Some(pa.batch),
        stan: Some(pa.stan),
        ..Default::default()
    };
    let e = t
        .preauth_complete(11_501, pref.clone(), Some(swipe(&CUP_SWIPE)))
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("amount"));
    assert!(
        t.preauth_complete(11_500, pref, Some(swipe(&CUP_SWIPE)))
            .unwrap()
            .approved
    );

    // Tip over the limit (20 %).
    let e = t.tip(sale2.stan, 2_001).unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_deref()),
        (ErrorKind::InvalidRequest, Some("tip"))
    );
    assert!(t.tip(sale2.stan, 2_000).unwrap().approved);
    host.shutdown();
}

#[test]
fn the_host_refuses_refunds_over_an_original_the_terminal_no_longer_holds() {
    let host = TestHost::start("refund-host");
    let dir = temp_dir("refund-host-term");
    let t = host.ready(&dir, Hal::default());
    let sale = t
        .sale(10_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    assert!(t.settle().unwrap().balanced);
    // Named by reference only, from a closed batch: the terminal cannot check, the host does.
    let orig = OriginalRef {
        reference: sale.reference.clone(),
        date: Some(sale.datetime[5..10].replace('-', "")),
        ..Default::default()
    };
    assert!(
        t.refund(6_000, orig.clone(), Some(swipe(&CUP_SWIPE)))
            .unwrap()
            .approved
    );
    let over = t.refund(6_000, orig, Some(swipe(&CUP_SWIPE))).unwrap();
    assert!(!over.approved, "{over:?}");
    assert_eq!(over.response_code, "61");
    host.shutdown();
}

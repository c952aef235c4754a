//! Bad input: a typed error naming the field, and the journal unchanged.

use possdk_core::api::{call_json, Payment};
use possdk_core::hal::Hal;
use possdk_core::ErrorKind;
use possdk_e2e::*;

#[test]
fn typed_errors_and_an_untouched_journal() {
    let host = TestHost::start("bad-input");
    let dir = temp_dir("bad-input-term");
    let t = host.terminal(&dir, Hal::default());
    let e = t
        .sale(100, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotActivated);
    t.activate(DEVICE_TOKEN).unwrap();
    t.download_master_key().unwrap();
    let e = t
        .sale(100, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotSignedIn);
    t.sign_in().unwrap();
    let sale = t
        .sale(1_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    assert!(t.void(sale.stan, Some(swipe(&CUP_SWIPE))).unwrap().approved);

    let journal_before = t.journal(None).unwrap();
    let status_before = t.status().unwrap();
    let ledger_before = host.admin(serde_json::json!({"cmd": "ledger_count", "tid": TID}));

    let bad_pan = possdk_core::api::CardInput {
        entry: Some(possdk_core::hal::EntryMode::Swipe),
        pan: Some(zeroize::Zeroizing::new("62258801234567AB".into())),
        track2: Some(zeroize::Zeroizing::new("6225880123456789D3012101".into())),
        ..Default::default()
    };
    let checks: Vec<(possdk_core::Error, ErrorKind, &str)> = vec![
        (
            t.sale(0, Payment::Card(Some(swipe(&CUP_SWIPE))))
                .unwrap_err(),
            ErrorKind::InvalidRequest,
            "amount",
        ),
        (
            t.sale(1_000_000_000_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
                .unwrap_err(),
            ErrorKind::InvalidRequest,
            "amount",
        ),
        (
            t.sale(100, Payment::Card(Some(bad_pan))).unwrap_err(),
            ErrorKind::InvalidRequest,
            "card.pan",
        ),
        (
            t.void(777_777, Some(swipe(&CUP_SWIPE))).unwrap_err(),
            ErrorKind::OriginalNotFound,
            "stan",
        ),
        (
            t.tip(sale.stan, 100).unwrap_err(),
            ErrorKind::InvalidState,
            "stan",
        ),
        (
            t.tip_void(777_777).unwrap_err(),
            ErrorKind::OriginalNotFound,
            "stan",
        ),
    ];
    for (e, kind, field) in checks {
        assert_eq!((e.kind, e.field.as_deref()), (kind, Some(field)), "{e}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&call_json(&t, r#"{"op":"sale","amount":-5}"#)).unwrap();
    assert_eq!(v["error"]["field"], "amount");
    let v: serde_json::Value = serde_json::from_str(&call_json(&t, r#"{"op":"fly"}"#)).unwrap();
    assert_eq!(v["error"]["field"], "op");

    assert_eq!(t.journal(None).unwrap(), journal_before);
    assert_eq!(t.status().unwrap(), status_before);
    assert_eq!(
        host.admin(serde_json::json!({"cmd": "ledger_count", "tid": TID})),
        ledger_before
    );
    host.shutdown();
}

//! Every flow approved end to end against possdk-host, card and QR; the host's ledger agrees.

use possdk_core::api::{OriginalRef, Payment};
use possdk_core::hal::Hal;
use possdk_core::TxState;
use possdk_e2e::*;

fn card() -> Option<possdk_core::api::CardInput> {
    Some(swipe(&CUP_SWIPE))
}

#[test]
fn every_card_flow_is_approved() {
    let host = TestHost::start("card-flows");
    let dir = temp_dir("card-flows-term");
    let t = host.ready(&dir, Hal::default());

    let sale = t.sale(12_345, Payment::Card(card())).unwrap();
    assert!(sale.approved, "{sale:?}");
    assert_eq!(sale.card_org.as_deref(), Some("CUP"));
    assert_eq!(sale.masked_pan.as_deref(), Some("622588******6789"));
    assert!(sale.reference.is_some() && sale.auth_code.is_some());
    assert!(sale.receipt.iter().any(|l| l.contains("622588******6789")));
    let tx = host.admin(serde_json::json!({"cmd": "tx", "tid": TID, "stan": sale.stan}));
    assert_eq!(tx["found"], true, "{tx}");
    assert_eq!(tx["amount"], 12_345);

    let void = t.void(sale.stan, card()).unwrap();
    assert!(void.approved, "{void:?}");
    assert_eq!(void.amount, 12_345);

    let sale2 = t.sale(10_000, Payment::Card(card())).unwrap();
    assert!(sale2.approved);
    let tip = t.tip(sale2.stan, 1_000).unwrap();
    assert!(tip.approved, "{tip:?}");
    assert_eq!((tip.amount, tip.tip), (11_000, 1_000));
    let tip_void = t.tip_void(tip.stan).unwrap();
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
        .unwrap();
    assert!(refund.approved, "{refund:?}");

    let bal = t.balance(card()).unwrap();
    assert!(bal.approved, "{bal:?}");
    assert!(bal.balance.is_some());

    let pa = t.preauth(20_000, Payment::Card(card())).unwrap();
    assert!(pa.approved, "{pa:?}");
    let pref = |p: &possdk_core::api::TransactionResult| OriginalRef {
        auth_code: p.auth_code.clone(),
        date: Some(p.datetime[5..10].replace('-', "")),
        batch: Some(p.batch),
        stan: Some(p.stan),
        ..Default::default()
    };
    let pv = t.preauth_void(20_000, pref(&pa), card()).unwrap();
    assert!(pv.approved, "{pv:?}");

    let pa2 = t.preauth(20_000, Payment::Card(card())).unwrap();
    let comp = t.preauth_complete(23_000, pref(&pa2), card()).unwrap();
    assert!(comp.approved, "{comp:?}");
    let cv = t.preauth_complete_void(comp.stan, card()).unwrap();
    assert!(cv.approved, "{cv:?}");

    let rows = t.journal(None).unwrap().records;
    assert_eq!(
        rows.iter().find(|r| r.stan == sale.stan).unwrap().state,
        TxState::Voided
    );
    assert_eq!(rows.iter().find(|r| r.stan == sale2.stan).unwrap().tip, 0);
    assert!(!rows.iter().find(|r| r.stan == pa2.stan).unwrap().completed);
    assert!(t.status().unwrap().pending_reversal.is_none());
    host.shutdown();
}

#[test]
fn every_qr_flow_is_approved() {
    let host = TestHost::start("qr-flows");
    let dir = temp_dir("qr-flows-term");
    let t = host.ready(&dir, Hal::default());

    let sale = t.sale(8_800, Payment::Qr(Some(QR_CODE.into()))).unwrap();
    assert!(sale.approved, "{sale:?}");
    let voucher = sale.voucher.clone().expect("voucher");
    let void = t.void(sale.stan, None).unwrap();
    assert!(void.approved, "{void:?}");
    assert_eq!(void.kind, "qr_void");

    let sale2 = t.sale(5_000, Payment::Qr(Some(QR_CODE_2.into()))).unwrap();
    let v2 = sale2.voucher.clone().unwrap();
    let refund = t
        .refund(
            1_000,
            OriginalRef {
                reference: sale2.reference.clone(),
                date: Some(sale2.datetime[5..10].replace('-', "")),
                voucher: Some(v2),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    assert!(refund.approved, "{refund:?}");
    assert_eq!(refund.kind, "qr_refund");

    let pa = t.preauth(9_000, Payment::Qr(Some(QR_CODE.into()))).unwrap();
    assert!(pa.approved, "{pa:?}");
    let pref = |p: &possdk_core::api::TransactionResult| OriginalRef {
        auth_code: p.auth_code.clone(),
        date: Some(p.datetime[5..10].replace('-', "")),
        batch: Some(p.batch),
        stan: Some(p.stan),
        voucher: p.voucher.clone(),
        reference: p.reference.clone(),
    };
    let pv = t.preauth_void(9_000, pref(&pa), None).unwrap();
    assert!(pv.approved, "{pv:?}");
    let pa2 = t
        .preauth(9_000, Payment::Qr(Some(QR_CODE_2.into())))
        .unwrap();
    let comp = t.preauth_complete(9_500, pref(&pa2), None).unwrap();
    assert!(comp.approved, "{comp:?}");
    let cv = t.preauth_complete_void(comp.stan, None).unwrap();
    assert!(cv.approved, "{cv:?}");
    assert_eq!(cv.kind, "qr_complete_void");
    assert_ne!(voucher, "");
    host.shutdown();
}

#[test]
fn chip_sale_with_the_simulated_reader_and_a_card_that_declines_after_approval() {
    use possdk_sim::{SimCard, SimDevices};
    let host = TestHost::start("chip");
    let dir = temp_dir("chip-term");
    let dev = SimDevices::new();
    let t = host.ready(&dir, dev.hal());
    assert!(
        dev.reader.loaded_parameters().capks.len() + dev.reader.loaded_parameters().aids.len() > 0
    );

    dev.reader.push(SimCard::chip(&CUP_CHIP));
    let r = t.sale(4_200, Payment::Card(None)).unwrap();
    assert!(r.approved, "{r:?}");
    assert_eq!(dev.reader.last_outcome().map(|o| o.approved), Some(true));

    dev.reader.push(SimCard::contactless(&VISA_CHIP));
    let r = t.sale(4_200, Payment::Card(None)).unwrap();
    assert!(r.approved, "{r:?}");
    assert_eq!(r.card_org.as_deref(), Some("VIS"));

    let before = host.balance(CUP_CHIP.pan);
    dev.reader.set_decline_after_approval(true);
    dev.reader.push(SimCard::chip(&CUP_CHIP));
    let r = t.sale(4_200, Payment::Card(None)).unwrap();
    assert!(!r.approved, "{r:?}");
    dev.reader.set_decline_after_approval(false);
    let row = t
        .journal(None)
        .unwrap()
        .records
        .into_iter()
        .find(|x| x.stan == r.stan)
        .unwrap();
    assert_eq!(row.state, TxState::Reversed);
    assert_eq!(host.balance(CUP_CHIP.pan), before);
    host.shutdown();
}

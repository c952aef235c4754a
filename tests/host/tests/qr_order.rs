//! The host side of docs/PROTOCOL.md §4.10 and §4.11, driven with frames built here: a merchant-presented
//! order, its status queries under the scripted payer, replays, the close, and a customer who confirms
//! slowly (`Q0`).

mod common;
use common::*;
use possdk_core::iso8583::{Message, Mti};
use serde_json::json;

fn f59(m: &Message, tag: &str) -> Option<String> {
    possdk_core::tlv::ascii59::decode(m.get_str(59)?)
        .ok()?
        .into_iter()
        .find(|(t, _)| t == tag)
        .map(|(_, v)| v)
}

/// A QR 0200 sale-type request (`f59` as given).
fn qr_sale(s: &mut Sim, amount: u64, f59: &str) -> (u32, Message) {
    let mut m = Message::new(Mti(200));
    let stan = s.next_stan();
    m.set_str(3, "000000")
        .set_str(4, &format!("{amount:012}"))
        .set_str(11, &format!("{stan:06}"));
    m.set_str(22, "032")
        .set_str(25, "00")
        .set_str(41, TID)
        .set_str(42, MID)
        .set_str(49, "156");
    m.set_str(59, f59).set_str(60, &s.f60("22"));
    (stan, m)
}

/// A 0800 status query (`391`) or close (`392`) naming the original by batch + STAN.
fn status(s: &mut Sim, code: &str, orig: u32) -> (u32, Message) {
    let mut m = Message::new(Mti(800));
    let stan = s.next_stan();
    m.set_str(11, &format!("{stan:06}"))
        .set_str(41, TID)
        .set_str(42, MID);
    m.set_str(60, &format!("00{:06}{code}", s.batch))
        .set_str(61, &format!("{:06}{orig:06}", s.batch));
    (stan, m)
}

#[test]
fn an_order_is_created_polled_paid_and_queries_replay() {
    let mut s = Sim::start("qr-order");
    s.sign_in();
    s.admin(json!({"cmd": "qr_payer", "tid": TID, "mode": "pay", "after": 2}));
    let order_no = format!("{TID}{:06}{:06}", s.batch, 99);
    let (st, m) = qr_sale(&mut s, 1_500, &format!("A5020{order_no}"));
    let r = s.send(m, 3, true);
    assert_eq!(rc(&r), "00");
    assert!(r.has(64), "a created order is MAC'd");
    assert_eq!(f59(&r, "A6").as_deref(), Some("W"));
    let voucher = f59(&r, "A4").unwrap();
    assert!(f59(&r, "A7").unwrap().ends_with(&voucher));
    assert_eq!(f59(&r, "A8").as_deref(), Some("300"));
    assert_eq!(s.tx(st)["state"], "open");
    // Not paid: it counts nothing.
    let t = s.admin(json!({"cmd": "totals", "tid": TID}));
    assert_eq!(t["domestic"]["debit"]["count"], 0);

    let (_, q1) = status(&mut s, "391", st);
    let frame1 = s.frame(q1, 3, true);
    let a1 = s.raw(&frame1).message;
    assert_eq!((rc(&a1), f59(&a1, "A6").as_deref()), ("00", Some("W")));
    // The same query again (same STAN, same body): the first answer, and the script does not move.
    let again = s.raw(&frame1).message;
    assert_eq!(f59(&again, "A6").as_deref(), Some("W"));
    assert_eq!(s.tx(st)["state"], "open");
    // Same STAN, another body: 94.
    let (_, mut other) = status(&mut s, "391", st);
    other.set_str(11, a1.get_str(11).unwrap());
    other.set_str(61, &format!("{:06}{:06}", s.batch, st + 1));
    assert_eq!(rc(&s.send(other, 3, true)), "94");

    let (_, q2) = status(&mut s, "391", st);
    let a2 = s.send(q2, 3, true);
    assert_eq!(f59(&a2, "A6").as_deref(), Some("P"));
    assert_eq!(a2.get_str(4), Some("000000001500"));
    assert!(a2.has(37) && a2.has(38));
    assert_eq!(s.tx(st)["state"], "approved");
    // By voucher alone, and a close of a paid order answers paid.
    let (_, mut q3) = status(&mut s, "392", st);
    q3.remove(61);
    q3.set_str(59, &format!("A4020{voucher}"));
    let a3 = s.send(q3, 3, true);
    assert_eq!(f59(&a3, "A6").as_deref(), Some("P"));
    let t = s.admin(json!({"cmd": "totals", "tid": TID}));
    assert_eq!(t["domestic"]["debit"], json!({"count": 1, "amount": 1500}));
    // Nothing named: 30; an unknown STAN: 25; no MAC: A0.
    let (_, mut bad) = status(&mut s, "391", st);
    bad.remove(61);
    assert_eq!(rc(&s.send(bad, 3, true)), "30");
    let (_, none) = status(&mut s, "391", 9_999);
    assert_eq!(rc(&s.send(none, 3, true)), "25");
    let (_, unmaced) = status(&mut s, "391", st);
    assert_eq!(rc(&s.send(unmaced, 3, false)), "A0");
}

#[test]
fn a_closed_order_can_no_longer_be_paid_and_a_slow_customer_is_polled() {
    let mut s = Sim::start("qr-close");
    s.sign_in();
    s.admin(json!({"cmd": "qr_payer", "tid": TID, "mode": "never", "after": 1}));
    let order_no = format!("A5020{TID}{:06}{:06}", s.batch, 1);
    let (st, m) = qr_sale(&mut s, 700, &order_no);
    assert_eq!(rc(&s.send(m, 3, true)), "00");
    let (_, c) = status(&mut s, "392", st);
    let a = s.send(c, 3, true);
    assert_eq!(f59(&a, "A6").as_deref(), Some("C"));
    let voucher = f59(&a, "A4").unwrap();
    let paid = s.admin(json!({"cmd": "pay_order", "tid": TID, "voucher": voucher}));
    assert_eq!(paid["paid"], false, "a closed order cannot be paid");
    assert_eq!(s.tx(st)["state"], "closed");

    // The customer confirms in the wallet: `Q0`, no MAC, then paid at the second query.
    let (st, m) = qr_sale(&mut s, 900, "A3018134567890123457702");
    let r = s.send(m, 3, true);
    assert_eq!(rc(&r), "Q0");
    assert!(!r.has(64) && !r.has(37) && !r.has(38));
    let (_, q) = status(&mut s, "391", st);
    assert_eq!(f59(&s.send(q, 3, true), "A6").as_deref(), Some("U"));
    let (_, q) = status(&mut s, "391", st);
    assert_eq!(f59(&s.send(q, 3, true), "A6").as_deref(), Some("P"));
    // One that gives up: not paid, with its code.
    let (st, m) = qr_sale(&mut s, 900, "A3018134567890123457801");
    assert_eq!(rc(&s.send(m, 3, true)), "Q0");
    let (_, q) = status(&mut s, "391", st);
    let a = s.send(q, 3, true);
    assert_eq!(
        (f59(&a, "A6").as_deref(), f59(&a, "A9").as_deref()),
        (Some("N"), Some("05"))
    );
    let t = s.admin(json!({"cmd": "totals", "tid": TID}));
    assert_eq!(t["domestic"]["debit"], json!({"count": 1, "amount": 900}));
}

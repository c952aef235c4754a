//! QR payments the terminal asks about (docs/PROTOCOL.md §4.10, §4.11): merchant-presented orders, the
//! customer who is still confirming in the wallet, the status query (0800 `391`) and the order close
//! (0800 `392`), and the scripted payer that decides when each one is paid.

use super::financial::{build59, parse59};
use super::*;
use std::collections::HashMap;

/// How a scripted payment evolves, counted in status queries (docs/HOST.md, admin `qr_payer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayerMode {
    /// Waiting (`W`) until query `after`, then paid.
    Pay,
    /// The customer is confirming (`U`) until query `after`, then paid.
    Paying,
    /// The customer is confirming (`U`) until query `after`, then not paid (`N`).
    Fail,
    /// Waiting (`W`) until query `after`, then expired (`E`).
    Expire,
    /// Waiting (`W`) for ever (until closed).
    Never,
}

impl PayerMode {
    pub fn parse(s: &str) -> Option<PayerMode> {
        Some(match s {
            "pay" => PayerMode::Pay,
            "paying" => PayerMode::Paying,
            "fail" => PayerMode::Fail,
            "expire" => PayerMode::Expire,
            "never" => PayerMode::Never,
            _ => return None,
        })
    }
}

/// One scripted payment: its mode, the query it ends at, the queries seen.
#[derive(Debug, Clone, Copy)]
struct Script {
    mode: PayerMode,
    after: u32,
    polls: u32,
}

/// The scripted payer: per terminal, how the next orders behave; per open payment, its script.
#[derive(Default)]
pub struct QrBook {
    payer: HashMap<String, (PayerMode, u32)>,
    scripts: HashMap<i64, Script>,
}

/// The default for orders when no `qr_payer` was set: paid at the second status query.
const DEFAULT_PAYER: (PayerMode, u32) = (PayerMode::Pay, 2);
/// Field 39 of a customer-presented QR sale the customer is still confirming (**private**).
pub const PAYING_RC: &str = "Q0";
/// How long possdk-host keeps an order open, in seconds (59 `A8`).
pub const ORDER_VALIDITY_S: u32 = 300;

impl QrBook {
    /// How the next orders of `tid` behave (admin `qr_payer`).
    pub fn set_payer(&mut self, tid: &str, mode: PayerMode, after: u32) {
        self.payer.insert(tid.to_string(), (mode, after.max(1)));
    }

    fn payer(&self, tid: &str) -> (PayerMode, u32) {
        self.payer
            .get(tid)
            .or_else(|| self.payer.get(crate::faults::ANY_TID))
            .copied()
            .unwrap_or(DEFAULT_PAYER)
    }
}

/// A customer-presented payment code that makes the wallet ask for the password (docs/PROTOCOL.md §12.2):
/// ending `77NN`: paid at status query NN; ending `78NN`: not paid at query NN.
pub(super) fn paying_code(code: &str) -> Option<(PayerMode, u32)> {
    let n = code.len();
    if n < 4 {
        return None;
    }
    let after: u32 = code[n - 2..].parse().ok().filter(|a| *a > 0)?;
    match &code[n - 4..n - 2] {
        "77" => Some((PayerMode::Paying, after)),
        "78" => Some((PayerMode::Fail, after)),
        _ => None,
    }
}

/// 59 `A6` of a host state.
fn state_letter(state: &str) -> &'static str {
    match state {
        "open" => "W",
        "paying" => "U",
        "closed" => "C",
        "expired" => "E",
        "declined" | "reversed" => "N",
        _ => "P",
    }
}

impl Shared {
    /// Start the script of a payment just recorded: an order (`open`) takes the terminal's payer, a
    /// paying customer-presented sale its code's.
    pub(super) fn script_payment(&self, txn_id: i64, tid: &str, paying: Option<(PayerMode, u32)>) {
        let mut book = lock(&self.qr);
        let (mode, after) = paying.unwrap_or_else(|| book.payer(tid));
        book.scripts.insert(
            txn_id,
            Script {
                mode,
                after,
                polls: 0,
            },
        );
    }

    /// Admin `pay_order`: the customer pays the open order with this voucher now.
    pub fn pay_order(&self, tid: &str, voucher: &str) -> Result<bool, rusqlite::Error> {
        let mut db = lock(&self.db);
        let Some(mut t) = db.store.txn_by_voucher(tid, voucher, "22")? else {
            return Ok(false);
        };
        if !matches!(t.state.as_str(), "open" | "paying") {
            return Ok(false);
        }
        self.mark_paid(&mut db, &mut t, &Now::current())?;
        lock(&self.qr).scripts.remove(&t.id);
        Ok(true)
    }

    fn mark_paid(&self, db: &mut Db, t: &mut Txn, now: &Now) -> DbResult<()> {
        let seq = self.next_seq();
        t.state = "approved".into();
        t.rc = "00".into();
        t.rrn = self.rrn(now, seq);
        t.auth = format!("{:06}", seq % 1_000_000);
        t.moved = true;
        db.store.update_qr(t)?;
        info!(
            "{}: QR payment batch {:06} STAN {:06} paid ({})",
            t.tid, t.batch, t.stan, t.amount
        );
        Ok(())
    }

    /// One status query moves the payment's script on by one.
    fn advance(&self, db: &mut Db, t: &mut Txn, now: &Now) -> DbResult<()> {
        if !matches!(t.state.as_str(), "open" | "paying") {
            return Ok(());
        }
        let step = {
            let mut book = lock(&self.qr);
            let Some(s) = book.scripts.get_mut(&t.id) else {
                return Ok(());
            };
            s.polls += 1;
            *s
        };
        let done = step.polls >= step.after && step.mode != PayerMode::Never;
        match (step.mode, done) {
            (PayerMode::Pay | PayerMode::Paying, true) => self.mark_paid(db, t, now)?,
            (PayerMode::Fail, true) => {
                t.state = "declined".into();
                t.rc = "05".into();
                db.store.update_qr(t)?;
            }
            (PayerMode::Expire, true) => {
                t.state = "expired".into();
                db.store.update_qr(t)?;
            }
            (PayerMode::Paying | PayerMode::Fail, false) if t.state == "open" => {
                t.state = "paying".into();
                db.store.update_qr(t)?;
            }
            _ => {}
        }
        if done {
            lock(&self.qr).scripts.remove(&t.id);
        }
        Ok(())
    }

    /// 0800 `391` (status query) and `392` (close): find the payment by 61 or 59 `A4`, move it on (a query
    /// advances its script; a close ends an open or paying one), answer its state. A repeated request
    /// (same key, same body) gets its first answer; the same key with another body `94`.
    pub(super) fn qr_status(
        &self,
        db: &mut Db,
        req: &Message,
        raw: &[u8],
        term: &store::Terminal,
        now: &Now,
        close: bool,
    ) -> DbResult<Reply> {
        let tid = term.tid.as_str();
        let (Some((_, batch, _)), Some(stan)) = (self.f60(req), req.get_str(11).and_then(num))
        else {
            return Ok(mgmt_reply(req, "30"));
        };
        let stan = stan as u32;
        let from = self.profile.wire.body_offset();
        let hash =
            possdk_core::crypto::sha256(raw.get(from..raw.len().saturating_sub(8)).unwrap_or(&[]))
                .to_vec();
        if let Some((h, body)) = db.store.replay(tid, batch, stan, 800)? {
            if h == hash {
                if let Ok(m) = iso8583::decode_body_with(&self.profile.wire.codec, &body) {
                    info!("{tid}: QR status STAN {stan:06} replayed");
                    let mac = m.get_str(39) == Some("00");
                    return Ok(Reply {
                        msg: m,
                        mac,
                        processing: 0,
                        replay: None,
                    });
                }
            }
            return Ok(mgmt_reply(req, "94"));
        }
        let voucher = match req.get(59) {
            Some(f) => match parse59(f) {
                Some(items) => items.into_iter().find(|(t, _)| t == "A4").map(|(_, v)| v),
                None => return Ok(mgmt_reply(req, "30")),
            },
            None => None,
        };
        let by_stan = self.f61(req);
        if by_stan.is_none() && voucher.is_none() {
            return Ok(mgmt_reply(req, "30"));
        }
        let mut found = match by_stan {
            Some((b, s, _)) => db.store.txn_by_stan(tid, b, s)?.filter(|t| t.mti != 220),
            None => None,
        };
        if found.is_none() {
            if let Some(v) = &voucher {
                found = db.store.txn_by_voucher(tid, v, "22")?;
            }
        }
        // A voucher given with 61 must be the payment's.
        if let (Some(t), Some(v)) = (&found, &voucher) {
            if t.voucher.as_deref() != Some(v.as_str()) {
                found = None;
            }
        }
        let mut r = match found {
            Some(mut t) if t.entry.starts_with("03") && t.kind == "22" => {
                if close {
                    if matches!(t.state.as_str(), "open" | "paying") {
                        t.state = "closed".into();
                        db.store.update_qr(&t)?;
                        lock(&self.qr).scripts.remove(&t.id);
                        info!("{tid}: QR order STAN {:06} closed", t.stan);
                    }
                } else {
                    self.advance(db, &mut t, now)?;
                }
                let letter = state_letter(&t.state);
                let mut r = mgmt_reply(req, "00");
                let mut items: Vec<(&str, &str)> = Vec::new();
                if let Some(v) = &t.voucher {
                    items.push(("A4", v));
                }
                items.push(("A6", letter));
                if letter == "N" {
                    items.push(("A9", &t.rc));
                }
                r.msg.set_str(59, &build59(&items));
                r.msg.set_str(12, &now.hhmmss());
                r.msg.set_str(13, &now.mmdd());
                if letter == "P" {
                    r.msg.set_str(4, &format!("{:012}", t.amount));
                    r.msg.set_str(37, &t.rrn);
                    r.msg.set_str(38, &t.auth);
                }
                r.mac = true;
                r
            }
            _ => mgmt_reply(req, "25"),
        };
        r.replay = Some((batch, stan, hash));
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paying_codes_and_states() {
        assert_eq!(
            paying_code("134567890123457703"),
            Some((PayerMode::Paying, 3))
        );
        assert_eq!(
            paying_code("134567890123457812"),
            Some((PayerMode::Fail, 12))
        );
        assert_eq!(paying_code("134567890123457700"), None, "NN from 01");
        assert_eq!(paying_code("134567890123456789"), None);
        assert_eq!(paying_code("77"), None);
        assert_eq!(state_letter("open"), "W");
        assert_eq!(state_letter("paying"), "U");
        assert_eq!(state_letter("approved"), "P");
        assert_eq!(state_letter("voided"), "P", "a voided payment was paid");
        assert_eq!(state_letter("reversed"), "N");
        assert_eq!(state_letter("closed"), "C");
        assert_eq!(state_letter("expired"), "E");
        assert_eq!(PayerMode::parse("expire"), Some(PayerMode::Expire));
        assert_eq!(PayerMode::parse("sometimes"), None);
    }

    #[test]
    fn the_payer_falls_back_to_any_terminal_then_the_default() {
        let mut book = QrBook::default();
        assert_eq!(book.payer("12345678"), DEFAULT_PAYER);
        book.set_payer(crate::faults::ANY_TID, PayerMode::Never, 0);
        assert_eq!(book.payer("12345678"), (PayerMode::Never, 1));
        book.set_payer("12345678", PayerMode::Expire, 3);
        assert_eq!(book.payer("12345678"), (PayerMode::Expire, 3));
    }
}

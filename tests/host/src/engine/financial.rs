//! Financial requests (0100/0200/0220): parsing, duplicates and 0220 replays, the card or QR checks,
//! each transaction kind's rules against its original, and the approval or decline written to the ledger.

use super::*;
use crate::issuer;
use crate::provision::org_from_bin;
use crate::store::Card;

/// Issuer id (11) + acquirer id (11), field 44; acquiring institution, field 32.
const F44: &str = "0102000000 0103000000 ";
const F32: &str = "00010000";

fn body_hash(raw: &[u8], has_mac: bool, body_offset: usize) -> Vec<u8> {
    let end = if has_mac {
        raw.len().saturating_sub(8)
    } else {
        raw.len()
    };
    possdk_core::crypto::sha256(raw.get(body_offset..end).unwrap_or(&[])).to_vec()
}

/// Tracks with the third digit of 53 = `1`: the block of packed BCD before the last byte (8 bytes TDES-ECB,
/// 16 bytes SM4-ECB, by the TDK's family) is encrypted under the TDK. Returns the clear track digits.
fn decrypt_track(tdk: &FamilyKey, track: &str) -> Option<String> {
    let nib = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'A'..=b'F' => Some(c - b'A' + 10),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'=' => Some(13),
            _ => None,
        }
    };
    let n = track.len();
    if n < tdk.family().track_min_encrypted_digits() {
        return Some(track.to_string());
    }
    let mut packed: Vec<u8> = Vec::with_capacity(n.div_ceil(2));
    let b = track.as_bytes();
    for i in (0..n).step_by(2) {
        let hi = nib(b[i])?;
        let lo = if i + 1 < n { nib(b[i + 1])? } else { 0 };
        packed.push(hi << 4 | lo);
    }
    let len = packed.len();
    let bl = tdk.block_len();
    tdk.decrypt_block(&mut packed[len - 1 - bl..len - 1])?;
    let mut out = String::with_capacity(n);
    for (i, byte) in packed.iter().enumerate() {
        for (j, v) in [byte >> 4, byte & 0x0F].into_iter().enumerate() {
            if i * 2 + j >= n {
                break;
            }
            out.push(match v {
                0..=9 => (b'0' + v) as char,
                13 => 'D',
                _ => return None,
            });
        }
    }
    Some(out)
}
/// Transaction kinds by 60.1 (PROTOCOL.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sale,
    Void,
    Refund,
    Balance,
    PreAuth,
    PreAuthVoid,
    Completion,
    CompletionVoid,
    Tip,
    TipVoid,
    /// A chip sale the card approved offline (Y1), advised with 0220 60.1 `30` (§8.7).
    OfflineSale,
}

impl Kind {
    /// The kind of a request under the acquirer profile: the profile row whose MTI, 3, 25 and 60.1 match.
    fn classify_in(
        profile: &possdk_core::acquirer::Profile,
        mti: u16,
        pcode: &str,
        cond: &str,
        t: &str,
    ) -> Option<Kind> {
        let name = profile.kind_of_request(mti, pcode, cond, t)?;
        Some(match name.strip_prefix("qr_").unwrap_or(name) {
            "sale" => Kind::Sale,
            "void" => Kind::Void,
            "refund" => Kind::Refund,
            "balance" => Kind::Balance,
            "preauth" => Kind::PreAuth,
            "preauth_void" => Kind::PreAuthVoid,
            "preauth_complete" | "complete" => Kind::Completion,
            "preauth_complete_void" | "complete_void" => Kind::CompletionVoid,
            "tip" => Kind::Tip,
            "tip_void" => Kind::TipVoid,
            "offline_sale" => Kind::OfflineSale,
            _ => return None,
        })
    }

    #[cfg(test)]
    fn classify(mti: u16, pcode: &str, cond: &str, t: &str) -> Option<Kind> {
        Some(match (mti, pcode, cond, t) {
            (200, "000000", "00", "22") => Kind::Sale,
            (200, "200000", "00", "23") => Kind::Void,
            (220, "200000", "00", "25") => Kind::Refund,
            (200, "310000", "00", "01") => Kind::Balance,
            (100, "030000", "06", "10") => Kind::PreAuth,
            (100, "200000", "06", "11") => Kind::PreAuthVoid,
            (200, "000000", "06", "20") => Kind::Completion,
            (200, "200000", "06", "21") => Kind::CompletionVoid,
            (220, "000000", "00", "34") => Kind::Tip,
            (220, "200000", "00", "35") => Kind::TipVoid,
            (220, "000000", "00", "30") => Kind::OfflineSale,
            _ => return None,
        })
    }
}

/// A parsed financial request.
struct Fin<'a> {
    msg: &'a Message,
    tid: String,
    batch: u32,
    stan: u32,
    kind: Kind,
    t60: String,
    pcode: String,
    entry: String,
    amount: i64,
    qr: bool,
    pan: Option<String>,
    /// 59 A3 payment code or A4 voucher.
    qr_code: Option<String>,
    voucher_ref: Option<String>,
    /// 59 `A5`: the terminal's number of a merchant-presented order (docs/PROTOCOL.md §4.10).
    order_no: Option<String>,
}

/// ASCII TLVs of field 59: tag(2) + length(3 digits) + value.
pub fn parse59(data: &[u8]) -> Option<Vec<(String, String)>> {
    let s = std::str::from_utf8(data).ok()?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let tag = s.get(i..i + 2)?;
        let len = num(s.get(i + 2..i + 5)?)? as usize;
        let val = s.get(i + 5..i + 5 + len)?;
        out.push((tag.to_string(), val.to_string()));
        i += 5 + len;
    }
    Some(out)
}

pub fn build59(items: &[(&str, &str)]) -> String {
    items
        .iter()
        .map(|(t, v)| format!("{t}{:03}{v}", v.len()))
        .collect()
}

impl Shared {
    fn parse_fin<'a>(&self, req: &'a Message, tid: &str, keys: &WorkKeys) -> Flow<Fin<'a>> {
        let (t60, batch, _) = self.f60(req).ok_or("30")?;
        let stan = req
            .get_str(11)
            .and_then(num)
            .filter(|s| (1..=999_999).contains(s))
            .ok_or("30")? as u32;
        let pcode = req
            .get_str(3)
            .filter(|s| s.len() == 6 && digits(s))
            .ok_or("30")?
            .to_string();
        let cond = req.get_str(25).ok_or("30")?;
        let kind = Kind::classify_in(&self.profile, req.mti.0, &pcode, cond, &t60).ok_or("30")?;
        let entry = req
            .get_str(22)
            .filter(|s| s.len() == 3 && digits(s))
            .ok_or("30")?
            .to_string();
        if req.get_str(49) != Some("156") {
            return Err("30");
        }
        let amount = match req.get_str(4) {
            Some(a) => num(a).ok_or("30")? as i64,
            None if kind == Kind::Balance => 0,
            None => return Err("30"),
        };
        if kind != Kind::Balance && amount == 0 {
            return Err("13");
        }
        let qr = entry.starts_with("03");
        let (mut qr_code, mut voucher_ref, mut order_no) = (None, None, None);
        let mut pan = None;
        if qr {
            // A QR refund named by its reference number alone carries no 59 (docs/PROTOCOL.md §4.2).
            let items = match req.get(59) {
                Some(f) => parse59(f).ok_or("30")?,
                None if kind == Kind::Refund => Vec::new(),
                None => return Err("30"),
            };
            for (t, v) in items {
                match t.as_str() {
                    "A3" => qr_code = Some(v),
                    "A4" => voucher_ref = Some(v),
                    "A5" => order_no = Some(v),
                    _ => {}
                }
            }
            // An order (A5) is a sale without a payment code: the customer scans the host's code.
            let order = kind == Kind::Sale && order_no.is_some() && qr_code.is_none();
            let needs_code = matches!(kind, Kind::Sale | Kind::PreAuth) && !order;
            if order_no.is_some() && !order {
                return Err("30");
            }
            if needs_code && qr_code.is_none()
                || !needs_code && !order && voucher_ref.is_none() && kind != Kind::Refund
            {
                return Err("30");
            }
            // A QR refund names its original by voucher, or by reference number alone (37).
            if kind == Kind::Refund && voucher_ref.is_none() && req.get_str(37).is_none() {
                return Err("30");
            }
        } else {
            let encrypted = req
                .get_str(53)
                .is_some_and(|s| s.as_bytes().get(2) == Some(&b'1'));
            let track2 = match req.get_str(35) {
                Some(t) if encrypted => Some(decrypt_track(&keys.tdk, t).ok_or("30")?),
                Some(t) => Some(t.to_string()),
                None => None,
            };
            let from_track = track2
                .as_ref()
                .and_then(|t| t.split(['D', '=']).next().map(str::to_string));
            pan = match (req.get_str(2), from_track) {
                (Some(p), Some(t)) if p != t => return Err("30"),
                (Some(p), _) => Some(p.to_string()),
                (None, t) => t,
            };
            if pan.as_ref().is_none_or(|p| !digits(p) || p.len() < 13) {
                return Err("30");
            }
        }
        Ok(Fin {
            msg: req,
            tid: tid.to_string(),
            batch,
            stan,
            kind,
            t60,
            pcode,
            entry,
            amount,
            qr,
            pan,
            qr_code,
            voucher_ref,
            order_no,
        })
    }

    /// The first answer to this 0220 when the same terminal sent the same body under the same batch and
    /// STAN before (the MAC may differ: it is made with the current MAK); None otherwise.
    fn advice_replay(
        &self,
        db: &mut Db,
        req: &Message,
        raw: &[u8],
        tid: &str,
        batch: u32,
        stan: u32,
    ) -> DbResult<Option<Reply>> {
        let Some((h, body)) = db.store.replay(tid, batch, stan, 220)? else {
            return Ok(None);
        };
        if h != body_hash(raw, true, self.profile.wire.body_offset()) {
            return Ok(None);
        }
        let Ok(mut m) = iso8583::decode_body_with(&self.profile.wire.codec, &body) else {
            return Ok(None);
        };
        info!("{tid}: 0220 STAN {stan:06} replayed");
        if let Some(p) = req.get(2) {
            m.set(2, p.to_vec());
        }
        let mac = m.get_str(39) == Some("00");
        Ok(Some(Reply {
            msg: m,
            mac,
            processing: 0,
            replay: None,
        }))
    }

    pub(super) fn financial(
        &self,
        db: &mut Db,
        req: &Message,
        raw: &[u8],
        term: &store::Terminal,
        now: &Now,
        pre: &[FaultKind],
    ) -> DbResult<Reply> {
        let tid = term.tid.as_str();
        let Some(keys) = db.work_keys(tid)? else {
            return Ok(self.error_reply(req, "A0"));
        };
        // A resent 0220 is recognised by terminal, batch, STAN and body before its content is read
        // (docs/PROTOCOL.md §6.3): its PIN block and tracks are under the working keys of its first sending,
        // which a sign-in since may have replaced.
        if req.mti.0 == 220 {
            let key = self.f60(req).zip(req.get_str(11).and_then(num));
            if let Some(((_, batch, _), stan)) = key {
                if let Some(r) = self.advice_replay(db, req, raw, tid, batch, stan as u32)? {
                    return Ok(r);
                }
            }
        }
        let fin = match self.parse_fin(req, tid, &keys) {
            Ok(f) => f,
            Err(rc) => {
                info!("{tid}: financial request refused {rc} (format)");
                return Ok(self.error_reply(req, rc));
            }
        };
        let mti = req.mti.0;
        // A reversal that overtook its original (docs/PROTOCOL.md §6.5): the terminal already gave this
        // request up, so it must move nothing when it arrives late.
        if mti != 220
            && db
                .store
                .txn_by_key(tid, fin.batch, fin.stan, 400)?
                .is_some()
        {
            info!(
                "{tid}: {} batch {:06} STAN {:06} arrived after its reversal: refused",
                req.mti, fin.batch, fin.stan
            );
            return Ok(self.error_reply(req, "94"));
        }
        // Duplicates and 0220 replays.
        if db
            .store
            .txn_by_key(tid, fin.batch, fin.stan, mti)?
            .is_some()
        {
            info!(
                "{tid}: duplicate {} batch {:06} STAN {:06}",
                req.mti, fin.batch, fin.stan
            );
            return Ok(self.error_reply(req, "94"));
        }
        let decline = pre.iter().find_map(|f| match f {
            FaultKind::Decline(c) => Some(c.clone()),
            _ => None,
        });
        let mut t = Txn {
            tid: tid.to_string(),
            batch: fin.batch,
            stan: fin.stan,
            mti,
            pcode: fin.pcode.clone(),
            kind: fin.t60.clone(),
            entry: fin.entry.clone(),
            amount: fin.amount,
            state: "declined".into(),
            date: now.mmdd(),
            stamp: now.stamp(),
            org: "CUP".into(),
            pan_masked: fin
                .pan
                .as_deref()
                .map(possdk_core::mask_pan)
                .unwrap_or_default(),
            ..Txn::default()
        };
        let mut chip: Option<issuer::Verified> = None;
        let mut card: Option<Card> = None;
        let outcome: Flow<Effects> = match decline {
            Some(code) => {
                info!("{tid}: injected decline {code}");
                Err(static_code(&code))
            }
            None => self.check_and_apply(
                &db.store, &fin, &keys, term, now, &mut t, &mut card, &mut chip,
            ),
        };
        let seq = self.next_seq();
        let mut resp = Message::new(req.mti.response());
        echo(req, &mut resp, &[2, 3, 4, 11, 14, 22, 25, 41, 42, 49, 60]);
        resp.set_str(12, &now.hhmmss());
        resp.set_str(13, &now.mmdd());
        resp.set_str(15, &now.mmdd());
        resp.set_str(32, F32);
        resp.set_str(44, F44);
        let approved = outcome.is_ok();
        match outcome {
            Ok(effects) => {
                t.state = "approved".into();
                t.rc = "00".into();
                t.rrn = self.rrn(now, seq);
                t.auth = match fin.kind {
                    // A tip echoes the sale's authorisation id; voids keep the original's.
                    Kind::Tip | Kind::TipVoid => req.get_str(38).unwrap_or("").to_string(),
                    _ => format!("{:06}", seq % 1_000_000),
                };
                // A QR completion keeps its pre-authorisation's voucher; other QR kinds that
                // create value get a new one; voids carry the original's.
                if fin.qr && t.voucher.is_none() {
                    t.voucher = if matches!(fin.kind, Kind::Sale | Kind::PreAuth | Kind::Refund) {
                        Some(format!(
                            "{}{:012}",
                            &now.stamp()[2..10],
                            seq % 1_000_000_000_000
                        ))
                    } else {
                        fin.voucher_ref.clone()
                    };
                }
                t.moved = fin.kind != Kind::Balance;
                // A merchant-presented order is open until the customer pays it; a customer confirming
                // in the wallet is paying (`Q0`): both are learnt by status queries (docs/PROTOCOL.md
                // §4.10, §4.11).
                let paying = fin.qr_code.as_deref().and_then(super::qr::paying_code);
                if fin.order_no.is_some() || paying.is_some() {
                    t.state = if paying.is_some() { "paying" } else { "open" }.into();
                    t.moved = false;
                    t.auth = String::new();
                    if paying.is_some() {
                        t.rc = super::qr::PAYING_RC.into();
                    }
                }
                t.id = db.store.insert_txn(&t)?;
                if fin.order_no.is_some() || paying.is_some() {
                    self.script_payment(t.id, tid, paying);
                }
                if let (Some(c), true) = (&card, t.delta != 0) {
                    db.store.adjust_balance(c.id, t.delta)?;
                }
                for o in &effects.originals {
                    db.store.update_txn(o)?;
                }
                resp.set_str(37, &t.rrn);
                if !t.auth.is_empty() {
                    resp.set_str(38, &t.auth);
                }
                if fin.kind == Kind::Balance {
                    if let Some(c) = &card {
                        let sign = if c.balance >= 0 { 'C' } else { 'D' };
                        resp.set_str(54, &format!("1002156{sign}{:012}", c.balance.abs()));
                    }
                }
                if fin.order_no.is_some() {
                    let v = t.voucher.clone().unwrap_or_default();
                    let payload = format!("https://qr.possdk.test/o/{v}");
                    let validity = super::qr::ORDER_VALIDITY_S.to_string();
                    resp.set_str(
                        59,
                        &build59(&[("A4", &v), ("A6", "W"), ("A7", &payload), ("A8", &validity)]),
                    );
                } else if fin.qr {
                    let v = t.voucher.clone().unwrap_or_default();
                    resp.set_str(59, &build59(&[("A4", &v)]));
                }
                info!(
                    "{tid}: {:?} batch {:06} STAN {:06} approved amount {} ({})",
                    fin.kind, fin.batch, fin.stan, fin.amount, t.pan_masked
                );
            }
            Err(rc) => {
                t.rc = rc.to_string();
                t.delta = 0;
                t.orig_id = None;
                t.id = db.store.insert_txn(&t)?;
                info!(
                    "{tid}: {:?} batch {:06} STAN {:06} declined {rc} ({})",
                    fin.kind, fin.batch, fin.stan, t.pan_masked
                );
            }
        }
        resp.set_str(39, &t.rc);
        resp.set_str(63, &self.profile.subfields.field63(&t.org));
        if t.rc == super::qr::PAYING_RC {
            // Nothing is approved yet: no reference or authorisation id, no MAC (docs/PROTOCOL.md §4.11).
            resp.remove(37);
            resp.remove(38);
            let mut r = Reply::new(resp);
            r.mac = false;
            return Ok(r);
        }
        if let Some(v) = &chip {
            let mut f55 = v.response_55(approved);
            let script = approved
                && !lock(&self.faults)
                    .take(tid, |k| *k == FaultKind::IssuerScript)
                    .is_empty();
            if script {
                f55.extend(issuer::script_template(seq as u32));
            }
            resp.set(55, f55);
        }
        let mut r = Reply::new(resp);
        r.mac = approved;
        if t.rc == "99" {
            r.processing = 3;
        }
        if mti == 220 {
            r.replay = Some((
                fin.batch,
                fin.stan,
                body_hash(raw, true, self.profile.wire.body_offset()),
            ));
        }
        Ok(r)
    }

    /// Card / QR checks and the kind's rules; fills `t` (delta, orig, tip, ...) and returns the
    /// originals to write back. Errors are response codes.
    #[allow(clippy::too_many_arguments)]
    fn check_and_apply(
        &self,
        store: &Store,
        fin: &Fin<'_>,
        keys: &WorkKeys,
        term: &store::Terminal,
        now: &Now,
        t: &mut Txn,
        card_out: &mut Option<Card>,
        chip: &mut Option<issuer::Verified>,
    ) -> Flow<Effects> {
        let req = fin.msg;
        let db = |r: DbResult<Option<Txn>>| -> Flow<Option<Txn>> { r.map_err(|_| "96") };
        // ---- the card (or QR code)
        let mut card = None;
        if let Some(pan) = &fin.pan {
            let c = store.card_by_pan(pan).map_err(|_| "96")?.ok_or("14")?;
            t.org = if c.org.is_empty() {
                org_from_bin(pan).to_string()
            } else {
                c.org.clone()
            };
            match c.status.as_str() {
                "lost" => return Err("41"),
                "stolen" => return Err("43"),
                _ => {}
            }
            let exp_req = req.get_str(14).and_then(num).map(|v| v as u32);
            let exp_card = num(&c.expiry).map(|v| v as u32).unwrap_or(0);
            if exp_card < now.yymm() || exp_req.is_some_and(|e| e < now.yymm()) {
                return Err("54");
            }
            match req.get(52) {
                Some(block) => {
                    // 53's second digit names the PIN cipher: `6` TDES, `4` SM4 (docs/PROTOCOL.md §11).
                    let cipher = req.get_str(53).and_then(|s| s.chars().nth(1));
                    if block.len() != keys.pik.block_len()
                        || cipher != Some(keys.pik.family().f53_digit())
                    {
                        return Err("99");
                    }
                    match keys.pik.pin(self.profile.pin_block, block, pan) {
                        Some(pin) if pin.as_str() == c.pin => {}
                        Some(_) => return Err("55"),
                        None => return Err("99"),
                    }
                }
                None if fin.kind == Kind::Balance => return Err("55"),
                None => {}
            }
            if let Some(f55) = req.get(55) {
                let psn = req
                    .get_str(23)
                    .map(|s| s[s.len().saturating_sub(2)..].to_string())
                    .unwrap_or("00".into());
                if fin.kind == Kind::OfflineSale {
                    // The card's offline TC (Y1); there is no ARPC to answer.
                    if let Err(e) = issuer::verify_tc(f55, pan, &psn, b"Y1") {
                        info!("{}: offline TC refused: {e:?}", fin.tid);
                        return Err("A7");
                    }
                } else {
                    match issuer::verify_arqc(f55, pan, &psn) {
                        Ok(v) => *chip = Some(v),
                        Err(e) => {
                            info!("{}: chip cryptogram refused: {e:?}", fin.tid);
                            return Err("A7");
                        }
                    }
                }
            }
            card = Some(c);
        } else if let Some(code) = &fin.qr_code {
            if code.len() != 18
                || !digits(code)
                || !(code.starts_with("13") || code.starts_with("28"))
            {
                return Err("14");
            }
            if code.ends_with("0051") {
                return Err("51");
            }
        }
        *card_out = card.clone();
        let balance = card.as_ref().map(|c| c.balance).unwrap_or(i64::MAX);
        let same_holder = |o: &Txn| -> bool {
            match (&fin.pan, &fin.voucher_ref) {
                (Some(p), _) => {
                    o.card_id == card.as_ref().map(|c| c.id)
                        && o.pan_masked == possdk_core::mask_pan(p)
                }
                (None, Some(v)) => o.voucher.as_deref() == Some(v.as_str()),
                // A QR refund by reference alone: the original must be a QR payment.
                (None, None) => fin.qr && o.voucher.is_some(),
            }
        };
        t.card_id = card.as_ref().map(|c| c.id);
        let f61v = self.f61(req);
        let rrn_ok = |o: &Txn| req.get_str(37).is_none_or(|r| r == o.rrn);
        let auth_ok = |o: &Txn| req.get_str(38).is_none_or(|a| a == o.auth);
        // Find an original in this terminal by 61 (batch + STAN), else by 37 / 38 / the QR voucher.
        let find = |kinds: &[&str]| -> Flow<Txn> {
            let mut o = None;
            let mut by_stan = false;
            if let Some((b, s, _)) = f61v {
                if s != 0 {
                    // 61 names the original: no other way to find it.
                    o = Some(db(store.txn_by_stan(&fin.tid, b, s))?.ok_or("25")?);
                    by_stan = true;
                }
            }
            if o.is_none() {
                if let Some(v) = &fin.voucher_ref {
                    for k in kinds {
                        o = db(store.txn_by_voucher(&fin.tid, v, k))?;
                        if o.is_some() {
                            break;
                        }
                    }
                }
            }
            if o.is_none() {
                if let Some(r) = req.get_str(37) {
                    o = db(store.txn_by_rrn(&fin.tid, r))?;
                }
            }
            if o.is_none() {
                if let Some(a) = req.get_str(38) {
                    for k in kinds {
                        o = db(store.txn_by_auth(&fin.tid, a, k))?;
                        if o.is_some() {
                            break;
                        }
                    }
                }
            }
            let o = o.ok_or("25")?;
            if !kinds.contains(&o.kind.as_str()) || o.state == "declined" || !same_holder(&o) {
                return Err("25");
            }
            // Found without a STAN (by 37 / 38 / voucher): the date of 61 must match too.
            if let (false, Some((_, _, Some(d)))) = (by_stan, &f61v) {
                if d != "0000" && *d != o.date {
                    return Err("25");
                }
            }
            Ok(o)
        };
        let mut fx = Effects::default();
        match fin.kind {
            Kind::Sale | Kind::PreAuth | Kind::OfflineSale => {
                if fin.amount > balance {
                    return Err("51");
                }
                t.delta = -fin.amount;
                if fin.kind == Kind::PreAuth {
                    t.hold = fin.amount;
                }
            }
            Kind::Balance => {}
            Kind::Void | Kind::CompletionVoid => {
                let want = if fin.kind == Kind::Void { "22" } else { "20" };
                let mut o = find(&[want])?;
                if !rrn_ok(&o) || !auth_ok(&o) {
                    return Err("25");
                }
                if o.batch != fin.batch {
                    return Err("12");
                }
                if !matches!(o.state.as_str(), "approved" | "tipped") || o.refunded > 0 {
                    return Err("12");
                }
                if fin.amount != o.amount + o.tip {
                    return Err("64");
                }
                t.delta = if fin.kind == Kind::Void {
                    o.amount + o.tip
                } else {
                    -o.delta
                };
                t.orig_id = Some(o.id);
                t.orig_prev_state = Some(o.state.clone());
                o.state = "voided".into();
                if fin.kind == Kind::CompletionVoid {
                    // Reopen the pre-authorisation with its hold.
                    if let Some(mut p) = o.orig_id.and_then(|id| store.txn_by_id(id).ok().flatten())
                    {
                        p.state = "approved".into();
                        p.hold = o.orig_refund;
                        fx.originals.push(p);
                    }
                }
                fx.originals.push(o);
            }
            Kind::PreAuthVoid => {
                let mut o = find(&["10"])?;
                if !auth_ok(&o) {
                    return Err("25");
                }
                if o.state != "approved" {
                    return Err("12");
                }
                if fin.amount != o.amount {
                    return Err("64");
                }
                t.delta = o.hold;
                t.orig_refund = o.hold;
                t.orig_id = Some(o.id);
                t.orig_prev_state = Some(o.state.clone());
                o.state = "voided".into();
                o.hold = 0;
                fx.originals.push(o);
            }
            Kind::Completion => {
                let mut o = find(&["10"])?;
                if !auth_ok(&o) {
                    return Err("25");
                }
                if o.state != "approved" {
                    return Err("12");
                }
                if fin.amount * 100 > o.amount * 115 {
                    return Err("13");
                }
                if fin.amount > balance.saturating_add(o.hold) {
                    return Err("51");
                }
                t.delta = o.hold - fin.amount;
                t.orig_refund = o.hold;
                t.voucher = o.voucher.clone();
                t.orig_id = Some(o.id);
                t.orig_prev_state = Some(o.state.clone());
                o.state = "completed".into();
                o.hold = 0;
                fx.originals.push(o);
            }
            Kind::Refund => {
                let mut o = find(&["22", "20"])?;
                if !rrn_ok(&o) {
                    return Err("25");
                }
                if !matches!(o.state.as_str(), "approved" | "tipped") {
                    return Err("12");
                }
                if o.refunded + fin.amount > o.amount + o.tip {
                    return Err("61");
                }
                t.delta = fin.amount;
                t.orig_refund = fin.amount;
                t.orig_id = Some(o.id);
                o.refunded += fin.amount;
                fx.originals.push(o);
            }
            Kind::Tip => {
                if fin.qr {
                    return Err("30");
                }
                let tip = req.get_str(48).and_then(num).ok_or("30")? as i64;
                let mut o = find(&["22"])?;
                if !rrn_ok(&o) || !auth_ok(&o) {
                    return Err("25");
                }
                if o.batch != fin.batch || o.state != "approved" {
                    return Err("12");
                }
                if tip == 0 || fin.amount != o.amount + tip {
                    return Err("64");
                }
                if tip * 100 > o.amount * term.max_tip_percent as i64 {
                    return Err("13");
                }
                if tip > balance {
                    return Err("51");
                }
                t.delta = -tip;
                t.tip = tip;
                t.orig_id = Some(o.id);
                t.orig_prev_state = Some(o.state.clone());
                t.orig_prev_tip = Some(o.tip);
                o.state = "tipped".into();
                o.tip = tip;
                fx.originals.push(o);
            }
            Kind::TipVoid => {
                let tip = req.get_str(48).and_then(num).ok_or("30")? as i64;
                let mut tipt = find(&["34"])?;
                if !rrn_ok(&tipt) || !auth_ok(&tipt) {
                    return Err("25");
                }
                if tipt.batch != fin.batch || tipt.state != "approved" {
                    return Err("12");
                }
                let mut sale = tipt
                    .orig_id
                    .and_then(|id| store.txn_by_id(id).ok().flatten())
                    .ok_or("25")?;
                if tip != tipt.tip || fin.amount != sale.amount {
                    return Err("64");
                }
                if sale.state != "tipped" {
                    return Err("12");
                }
                t.delta = tip;
                t.tip = tip;
                t.orig_id = Some(tipt.id);
                t.orig_prev_state = Some(tipt.state.clone());
                tipt.state = "voided".into();
                sale.state = "approved".into();
                sale.tip = 0;
                fx.originals.push(tipt);
                fx.originals.push(sale);
            }
        }
        Ok(fx)
    }
}

/// Writes a financial request makes to its originals.
#[derive(Default)]
struct Effects {
    originals: Vec<Txn>,
}

/// Response codes as static strings (fault `decline` takes any 2-character code).
fn static_code(code: &str) -> &'static str {
    const CODES: [&str; 40] = [
        "01", "03", "04", "05", "12", "13", "14", "15", "21", "22", "25", "30", "34", "38", "40",
        "41", "43", "51", "54", "55", "57", "58", "59", "61", "62", "64", "65", "75", "90", "91",
        "92", "94", "96", "97", "98", "99", "A0", "A7", "10", "A2",
    ];
    CODES.iter().find(|c| **c == code).copied().unwrap_or("05")
}

#[cfg(test)]
mod tests {
    use super::*;
    use possdk_core::crypto::{tdes, DesKey, KeyFamily};
    use possdk_sim::fixture::{FIXED_SM_TDK, FIXED_TDK};
    #[test]
    fn field59() {
        let s = build59(&[("A4", "12345678901234567890")]);
        assert_eq!(s, "A402012345678901234567890");
        assert_eq!(
            parse59(b"A3018134567890123456789").unwrap(),
            vec![("A3".into(), "134567890123456789".into())]
        );
        assert!(parse59(b"A3099123").is_none());
        assert!(parse59(b"A").is_none());
    }
    #[test]
    fn encrypted_track_round_trip() {
        let des = DesKey::from_hex(FIXED_TDK).unwrap();
        let tdk = FamilyKey::Des(DesKey::from_hex(FIXED_TDK).unwrap());
        let clear = "6225880123456789D3012101123456789";
        // Terminal side (PROTOCOL.md §7): pack, encrypt the 8 bytes before the last byte, unpack as hex.
        let mut packed = hex::decode(format!("{clear}0")).unwrap();
        let n = packed.len();
        let mut block = [0u8; 8];
        block.copy_from_slice(&packed[n - 9..n - 1]);
        tdes::encrypt_block(&des, &mut block);
        packed[n - 9..n - 1].copy_from_slice(&block);
        let sent = &hex::encode_upper(&packed)[..clear.len()];
        assert_ne!(sent, clear);
        assert_eq!(decrypt_track(&tdk, sent).as_deref(), Some(clear));
        // Under 18 digits: sent clear.
        assert_eq!(
            decrypt_track(&tdk, "6225880123456789").as_deref(),
            Some("6225880123456789")
        );
        assert_eq!(decrypt_track(&tdk, "62258801234567890123X"), None);
    }

    /// SM family (docs/PROTOCOL.md §11): the 16 bytes before the last packed byte, from 33 digits on; the terminal
    /// side is possdk-core's `sm::encrypt_track`, checked against the vectors.
    #[test]
    fn sm4_encrypted_track_round_trip() {
        let key = possdk_core::crypto::sm4::Sm4Key::from_hex(FIXED_SM_TDK).unwrap();
        let tdk = FamilyKey::from_bytes(KeyFamily::Sm, key.as_bytes()).unwrap();
        for clear in [
            "6225880123456789D30121011234567890",
            "6225880123456789D301210112345678901",
            "6225880123456789D30121",
        ] {
            let packed = possdk_core::crypto::sm::encrypt_track(&key, clear).unwrap();
            let sent = &hex::encode_upper(&packed[..])[..clear.len()];
            assert_eq!(sent != clear, clear.len() >= 33, "{clear}");
            assert_eq!(decrypt_track(&tdk, sent).as_deref(), Some(clear));
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(Kind::classify(200, "000000", "00", "22"), Some(Kind::Sale));
        assert_eq!(Kind::classify(200, "000000", "06", "22"), None);
        assert_eq!(
            Kind::classify(220, "200000", "00", "35"),
            Some(Kind::TipVoid)
        );
    }
}

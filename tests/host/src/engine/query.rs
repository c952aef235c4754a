//! Queries and advices about past transactions: the paged detail query (0800/397) and the issuer script
//! result advice (0620/951).

use super::*;
use possdk_core::tlv::{self, Tlv};

fn amount_n12(v: i64) -> String {
    format!("{:012}", v.max(0))
}

impl Shared {
    pub(super) fn detail_query(
        &self,
        db: &mut Db,
        req: &Message,
        term: &store::Terminal,
    ) -> DbResult<Reply> {
        let items = match req.get(62) {
            Some(d) => match tlv::decode(d) {
                Ok(i) => i,
                Err(_) => return Ok(mgmt_reply(req, "30")),
            },
            None => vec![],
        };
        let batch = match tlv::get(&items, 0xDF61) {
            Some(b) => match std::str::from_utf8(b).ok().and_then(num) {
                Some(n) => n as u32,
                None => return Ok(mgmt_reply(req, "30")),
            },
            None => term.batch,
        };
        let start = match tlv::get(&items, 0xDF62) {
            Some(b) => match std::str::from_utf8(b).ok().and_then(num) {
                Some(n) => n as usize,
                None => return Ok(mgmt_reply(req, "30")),
            },
            None => 0,
        };
        let records: Vec<Vec<u8>> = db
            .store
            .batch_txns(&term.tid, batch)?
            .into_iter()
            .filter(|t| {
                matches!(t.mti, 100 | 200 | 220)
                    && t.kind != "01"
                    // Declines, and QR payments never paid (open, paying, closed, expired orders).
                    && !matches!(
                        t.state.as_str(),
                        "declined" | "open" | "paying" | "closed" | "expired"
                    )
            })
            .map(|t| {
                let state = match t.state.as_str() {
                    "voided" => "V",
                    "reversed" => "R",
                    "tipped" => "T",
                    _ => "A",
                };
                let who = t.voucher.clone().unwrap_or(t.pan_masked.clone());
                tlv::encode(&[Tlv::constructed(
                    0xFF01,
                    vec![
                        Tlv::primitive(0xDF70, format!("{:06}", t.stan).into_bytes()),
                        Tlv::primitive(0xDF71, t.kind.clone().into_bytes()),
                        Tlv::primitive(0xDF72, amount_n12(t.amount).into_bytes()),
                        Tlv::primitive(0xDF73, who.into_bytes()),
                        Tlv::primitive(0xDF74, t.rrn.clone().into_bytes()),
                        Tlv::primitive(0xDF75, t.auth.clone().into_bytes()),
                        Tlv::primitive(0xDF76, t.stamp.clone().into_bytes()),
                        Tlv::primitive(0xDF77, state.as_bytes().to_vec()),
                        Tlv::primitive(0xDF78, amount_n12(t.tip).into_bytes()),
                    ],
                )])
            })
            .collect();
        let mut r = mgmt_reply(req, "00");
        r.msg.set(62, page(&records, start));
        r.mac = true;
        Ok(r)
    }

    pub(super) fn script_advice(
        &self,
        db: &mut Db,
        req: &Message,
        term: &store::Terminal,
        now: &Now,
    ) -> DbResult<Reply> {
        let mut r = self.error_reply(req, "00");
        echo(req, &mut r.msg, &[23, 32, 37, 38]);
        r.msg.set_str(12, &now.hhmmss());
        r.msg.set_str(13, &now.mmdd());
        r.mac = true;
        // Recorded once per original (§8.4): a resent advice gets the same answer and changes nothing.
        let results = req
            .get(55)
            .and_then(|d| tlv::decode(d).ok())
            .and_then(|i| tlv::get(&i, 0xDF31).map(hex::encode_upper))
            .unwrap_or_default();
        if let Some((ob, os, _)) = self.f61(req) {
            let stan = req.get_str(11).and_then(num).unwrap_or(0) as u32;
            db.store.put_chip_upload(
                &term.tid,
                "script",
                ob,
                os,
                stan,
                &results,
                !results.is_empty(),
                &now.stamp(),
            )?;
        }
        info!(
            "{}: script result advice for STAN {:?}",
            term.tid,
            req.get_str(11)
        );
        Ok(r)
    }
}

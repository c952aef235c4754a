//! Settlement (0500) against the host's totals, and the batch upload (0320) that follows a settlement
//! that did not balance.

use super::*;

impl Shared {
    pub(super) fn settlement(
        &self,
        db: &mut Db,
        req: &Message,
        term: &store::Terminal,
        now: &Now,
        pre: &[FaultKind],
    ) -> DbResult<Reply> {
        let tid = term.tid.as_str();
        let Some((_, batch, _)) = self.f60(req) else {
            return Ok(mgmt_reply(req, "30"));
        };
        // 48 in the profile's layout, exactly as long as it (CUP: 62 digits).
        let sf = &self.profile.subfields;
        let Some((f48, [dom, foreign])) = req
            .get_str(48)
            .filter(|s| s.len() == sf.f48.width())
            .and_then(|s| Some((s, sf.read48(s)?)))
        else {
            return Ok(mgmt_reply(req, "30"));
        };
        let host = db.store.totals(tid, batch)?;
        let side = |s: &store::Side| SideTotals {
            debit_amount: s.debit_amount.max(0) as u64,
            debit_count: s.debit_count,
            credit_amount: s.credit_amount.max(0) as u64,
            credit_count: s.credit_count,
            result: 0,
        };
        // The host's totals as the layout carries them (counts modulo their width).
        let Some(ours) = sf
            .field48(&[side(&host.domestic), side(&host.foreign)])
            .ok()
            .and_then(|s| Some((sf.read48(&s)?, s)))
        else {
            return Ok(mgmt_reply(req, "96"));
        };
        let same = |a: &SideTotals, b: &SideTotals| SideTotals { result: 0, ..*a } == *b;
        let forced = pre.contains(&FaultKind::UnbalancedSettlement);
        let dom_ok = same(&dom, &ours.0[0]) && !forced;
        let for_ok = same(&foreign, &ours.0[1]) && !forced;
        let answer = |s: &SideTotals, ok: bool| SideTotals {
            result: if ok { 1 } else { 2 },
            ..*s
        };
        let Ok(out) = sf.field48(&[answer(&dom, dom_ok), answer(&foreign, for_ok)]) else {
            return Ok(mgmt_reply(req, "30"));
        };
        let result = if dom_ok && for_ok {
            "balanced"
        } else {
            "not balanced"
        };
        db.store
            .put_settlement(tid, batch, &now.stamp(), f48, &ours.1, result)?;
        if dom_ok && for_ok {
            self.close_batch(db, term, batch)?;
        }
        info!("{tid}: settlement of batch {batch:06}: {result}");
        let mut r = mgmt_reply(req, "00");
        r.msg.set_str(48, &out);
        r.msg.set_str(12, &now.hhmmss());
        r.msg.set_str(13, &now.mmdd());
        r.msg.set_str(15, &now.mmdd());
        r.mac = true;
        Ok(r)
    }

    fn close_batch(&self, db: &mut Db, term: &store::Terminal, batch: u32) -> DbResult<()> {
        let next = if batch >= 999_999 { 1 } else { batch + 1 };
        if term.batch <= batch || batch == 999_999 {
            db.store.set_batch(&term.tid, next)?;
        }
        Ok(())
    }

    pub(super) fn batch_upload(
        &self,
        db: &mut Db,
        req: &Message,
        term: &store::Terminal,
        now: &Now,
        // A record (the profile's `batch_upload` code) rather than the end.
        record: bool,
    ) -> DbResult<Reply> {
        let tid = term.tid.as_str();
        let Some((_, batch, _)) = self.f60(req) else {
            return Ok(mgmt_reply(req, "30"));
        };
        let mut r = mgmt_reply(req, "00");
        r.msg.set_str(12, &now.hhmmss());
        r.msg.set_str(13, &now.mmdd());
        r.mac = true;
        if record {
            let (Some((ob, os, _)), Some(amount)) = (self.f61(req), req.get_str(4).and_then(num))
            else {
                return Ok(mgmt_reply(req, "30"));
            };
            let kind = self.f60(req).map(|(t, _, _)| t).unwrap_or_default();
            db.store
                .put_upload(tid, batch, ob, os, amount as i64, &kind)?;
            echo(req, &mut r.msg, &[2, 3, 4, 37, 38, 59]);
            return Ok(r);
        }
        // 202: compare the uploaded set with the host's counted transactions.
        let Some(count) = req.get_str(48).and_then(num) else {
            return Ok(mgmt_reply(req, "30"));
        };
        let uploads = db.store.uploads(tid, batch)?;
        let mut host: Vec<(u32, u32, i64)> = db
            .store
            .batch_txns(tid, batch)?
            .into_iter()
            .filter(store::counted)
            .map(|t| {
                (
                    t.batch,
                    t.stan,
                    if store::is_debit(&t.kind) {
                        t.amount + t.tip
                    } else {
                        t.amount
                    },
                )
            })
            .collect();
        let mut up = uploads.clone();
        host.sort();
        up.sort();
        let balanced = host == up && count as usize == up.len();
        info!(
            "{tid}: batch upload of {:06} ended ({} records): {}",
            batch,
            up.len(),
            if balanced {
                "balanced"
            } else {
                "still not balanced"
            }
        );
        r.msg.set_str(48, if balanced { "1" } else { "2" });
        self.close_batch(db, term, batch)?;
        Ok(r)
    }
}

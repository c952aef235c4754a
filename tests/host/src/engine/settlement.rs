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
        let Some((_, batch, _)) = f60(req) else {
            return Ok(mgmt_reply(req, "30"));
        };
        let Some(f48) = req.get_str(48).filter(|s| s.len() == 62 && digits(s)) else {
            return Ok(mgmt_reply(req, "30"));
        };
        let host = db.store.totals(tid, batch)?;
        let side_str = |s: &store::Side| {
            format!(
                "{:012}{:03}{:012}{:03}",
                s.debit_amount,
                s.debit_count % 1000,
                s.credit_amount,
                s.credit_count % 1000
            )
        };
        let forced = pre.contains(&FaultKind::UnbalancedSettlement);
        let dom_ok = f48[0..30] == side_str(&host.domestic) && !forced;
        let for_ok = f48[31..61] == side_str(&host.foreign) && !forced;
        let mut out = f48.as_bytes().to_vec();
        out[30] = if dom_ok { b'1' } else { b'2' };
        out[61] = if for_ok { b'1' } else { b'2' };
        let out = String::from_utf8(out).unwrap_or_default();
        let result = if dom_ok && for_ok {
            "balanced"
        } else {
            "not balanced"
        };
        db.store.put_settlement(
            tid,
            batch,
            &now.stamp(),
            f48,
            &format!("{}0{}0", side_str(&host.domestic), side_str(&host.foreign)),
            result,
        )?;
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
        let Some((_, batch, _)) = f60(req) else {
            return Ok(mgmt_reply(req, "30"));
        };
        let mut r = mgmt_reply(req, "00");
        r.msg.set_str(12, &now.hhmmss());
        r.msg.set_str(13, &now.mmdd());
        r.mac = true;
        if record {
            let (Some((ob, os, _)), Some(amount)) = (f61(req), req.get_str(4).and_then(num)) else {
                return Ok(mgmt_reply(req, "30"));
            };
            let kind = req
                .get_str(60)
                .map(|s| s[0..2].to_string())
                .unwrap_or_default();
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

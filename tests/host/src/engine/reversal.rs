//! Reversals (0400): undo exactly what the original did, once; a repeated reversal gets the first answer.

use super::*;

impl Shared {
    pub(super) fn reversal(
        &self,
        db: &mut Db,
        req: &Message,
        term: &store::Terminal,
        now: &Now,
    ) -> DbResult<Reply> {
        let tid = term.tid.as_str();
        let reply = |rc: &str| {
            let mut r = self.error_reply(req, rc);
            r.msg.set_str(12, &now.hhmmss());
            r.msg.set_str(13, &now.mmdd());
            r.mac = true;
            r
        };
        let (Some((_, batch, _)), Some(stan)) = (self.f60(req), req.get_str(11).and_then(num))
        else {
            return Ok(reply("30"));
        };
        let stan = stan as u32;
        if let Some(prev) = db.store.txn_by_key(tid, batch, stan, 400)? {
            info!("{tid}: repeated reversal of STAN {stan:06}: {}", prev.rc);
            return Ok(reply(&prev.rc));
        }
        let orig = db
            .store
            .txn_by_stan(tid, batch, stan)?
            .filter(|o| o.mti != 220);
        let mut rv = Txn {
            tid: tid.to_string(),
            batch,
            stan,
            mti: 400,
            pcode: req.get_str(3).unwrap_or("").to_string(),
            kind: "RV".into(),
            entry: req.get_str(22).unwrap_or("").to_string(),
            amount: req.get_str(4).and_then(num).unwrap_or(0) as i64,
            state: "approved".into(),
            date: now.mmdd(),
            stamp: now.stamp(),
            org: "CUP".into(),
            pan_masked: req
                .get_str(2)
                .map(possdk_core::mask_pan)
                .unwrap_or_default(),
            ..Txn::default()
        };
        let rc = match orig {
            None => "25",
            Some(o) => {
                rv.orig_id = Some(o.id);
                rv.card_id = o.card_id;
                match self.undo(&db.store, &o) {
                    Ok(delta) => {
                        rv.delta = delta;
                        rv.moved = delta != 0 || o.moved;
                        if let (Some(c), true) = (o.card_id, delta != 0) {
                            db.store.adjust_balance(c, delta)?;
                        }
                        info!(
                            "{tid}: reversed {} STAN {stan:06} (balance {delta:+})",
                            o.kind
                        );
                        "00"
                    }
                    Err(rc) => rc,
                }
            }
        };
        rv.rc = rc.to_string();
        if rc != "00" {
            rv.state = "declined".into();
        }
        db.store.insert_txn(&rv)?;
        Ok(reply(rc))
    }

    /// Undo exactly what `o` did (state included). Returns the balance change to apply.
    fn undo(&self, store: &Store, o: &Txn) -> Flow<i64> {
        let get = |id: Option<i64>| id.and_then(|i| store.txn_by_id(i).ok().flatten());
        let put = |t: &Txn| store.update_txn(t).map_err(|_| "96");
        let mut me = o.clone();
        match o.state.as_str() {
            "declined" | "reversed" | "closed" | "expired" => return Ok(0),
            // A QR payment still waiting or being confirmed: cancelled, it can no longer be paid.
            "open" | "paying" => {
                me.state = "reversed".into();
                put(&me)?;
                return Ok(0);
            }
            _ => {}
        }
        match o.kind.as_str() {
            "01" => {}
            "22" | "10" => {
                if o.state != "approved" || o.refunded > 0 {
                    return Err("12");
                }
            }
            "20" => {
                if o.state != "approved" || o.refunded > 0 {
                    return Err("12");
                }
                if let Some(mut p) = get(o.orig_id) {
                    p.state = o.orig_prev_state.clone().unwrap_or("approved".into());
                    p.hold = o.orig_refund;
                    put(&p)?;
                }
            }
            "23" | "21" | "11" => {
                let Some(mut orig) = get(o.orig_id) else {
                    return Err("12");
                };
                if orig.state != "voided" {
                    return Err("12");
                }
                orig.state = o.orig_prev_state.clone().unwrap_or("approved".into());
                if o.kind == "11" {
                    orig.hold = o.orig_refund;
                }
                if o.kind == "21" {
                    if let Some(mut p) = get(orig.orig_id) {
                        p.state = "completed".into();
                        p.hold = 0;
                        put(&p)?;
                    }
                }
                put(&orig)?;
            }
            _ => return Err("12"),
        }
        me.state = "reversed".into();
        me.hold = 0;
        put(&me)?;
        Ok(-o.delta)
    }
}

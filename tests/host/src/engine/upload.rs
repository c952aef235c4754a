//! The IC card TC upload (0320 `203`, docs/PROTOCOL.md §8.6): the acquirer keeps the TC of an approved chip
//! transaction, verified against the test issuer's keys. Recorded once per original: a resent upload gets
//! the same answer and changes nothing.

use super::*;
use crate::issuer;
use possdk_core::tlv;

impl Shared {
    pub(super) fn tc_upload(
        &self,
        db: &mut Db,
        req: &Message,
        term: &store::Terminal,
        now: &Now,
    ) -> DbResult<Reply> {
        let tid = term.tid.as_str();
        let (Some((ob, os, _)), Some(f55), Some(pan)) =
            (self.f61(req), req.get(55), req.get_str(2))
        else {
            info!("{tid}: TC upload without 61, 55 or 2");
            return Ok(self.upload_reply(req, "30", now));
        };
        if tlv::decode(f55).is_err() {
            return Ok(self.upload_reply(req, "30", now));
        }
        let Some(orig) = db.store.txn_by_stan(tid, ob, os)? else {
            info!("{tid}: TC upload for an unknown original {ob:06}/{os:06}");
            return Ok(self.upload_reply(req, "25", now));
        };
        let psn = req
            .get_str(23)
            .map(|s| s[s.len().saturating_sub(2)..].to_string())
            .unwrap_or("00".into());
        let (data, verified) = match issuer::verify_tc(f55, pan, &psn, b"00") {
            Ok(tc) => (hex::encode_upper(tc), true),
            Err(e) => {
                info!("{tid}: TC of {ob:06}/{os:06} does not verify: {e:?}");
                let tc = tlv::decode(f55)
                    .ok()
                    .and_then(|i| tlv::get(&i, 0x9F26).map(hex::encode_upper))
                    .unwrap_or_default();
                (tc, false)
            }
        };
        let stan = req.get_str(11).and_then(num).unwrap_or(0) as u32;
        let new =
            db.store
                .put_chip_upload(tid, "tc", ob, os, stan, &data, verified, &now.stamp())?;
        info!(
            "{tid}: TC of {ob:06}/{os:06} ({}, {}){}",
            orig.kind,
            if verified { "verified" } else { "not verified" },
            if new { "" } else { ", again" }
        );
        Ok(self.upload_reply(req, "00", now))
    }

    /// 0820 `800`, one segment of an electronic signature (docs/PROTOCOL.md §8.8): 62 = DF71 (segment number
    /// from 1, segment count) and DF72 (the bytes). When every segment is in, the image is decompressed and
    /// checked, and recorded with the chip uploads (class `signature`). A resent segment changes nothing.
    pub(super) fn signature_upload(
        &self,
        db: &mut Db,
        req: &Message,
        term: &store::Terminal,
        now: &Now,
    ) -> DbResult<Reply> {
        let tid = term.tid.as_str();
        let reply = |rc: &str| {
            let mut r = mgmt_reply(req, rc);
            echo(req, &mut r.msg, &[4, 37, 61]);
            r.msg.set_str(12, &now.hhmmss());
            r.msg.set_str(13, &now.mmdd());
            r.mac = rc == "00";
            r
        };
        let items = req.get(62).and_then(|d| tlv::decode(d).ok());
        let seg = items.as_ref().and_then(|i| tlv::get(i, 0xDF71));
        let data = items.as_ref().and_then(|i| tlv::get(i, 0xDF72));
        let (Some((ob, os, _)), Some(&[part, total]), Some(data)) = (self.f61(req), seg, data)
        else {
            info!("{tid}: signature upload without 61 or a readable 62");
            return Ok(reply("30"));
        };
        if part == 0 || total == 0 || part > total || data.is_empty() {
            return Ok(reply("30"));
        }
        // Kept even before its original is known here (an offline sale whose advice has not arrived yet).
        if let Some(all) = db
            .store
            .put_signature_part(tid, ob, os, part, total, data)?
        {
            let (summary, ok) = match possdk_core::signature::decompress(&all) {
                Ok(img) => (format!("{}x{}", img.width, img.height), true),
                Err(e) => {
                    info!("{tid}: signature of {ob:06}/{os:06} does not decompress: {e}");
                    (String::new(), false)
                }
            };
            let stan = req.get_str(11).and_then(num).unwrap_or(0) as u32;
            db.store
                .put_chip_upload(tid, "signature", ob, os, stan, &summary, ok, &now.stamp())?;
            info!("{tid}: signature of {ob:06}/{os:06} complete ({summary})");
        }
        Ok(reply("00"))
    }

    /// 0330: the request's 2 3 4 11 41 42 60 37 38 echoed, 12 13 39; MAC'd when 39 is `00`.
    fn upload_reply(&self, req: &Message, rc: &str, now: &Now) -> Reply {
        let mut r = self.error_reply(req, rc);
        echo(req, &mut r.msg, &[37, 38]);
        r.msg.set_str(12, &now.hhmmss());
        r.msg.set_str(13, &now.mmdd());
        r.mac = rc == "00";
        r
    }
}

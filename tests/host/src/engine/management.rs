//! Management messages (0800/0820): activation, the host key (RSA or SM2, by the terminal's key family) and the
//! TMK download, sign-in with fresh working keys, and the paged EMV parameter queries and downloads (CAPKs, AIDs).

use super::*;
use possdk_core::crypto::KeyFamily;
use possdk_core::tlv::{self, Tlv};
use possdk_sim::fixture::{
    FIXED_MAK, FIXED_PIK, FIXED_SM_MAK, FIXED_SM_PIK, FIXED_SM_TDK, FIXED_SM_TMK, FIXED_TDK,
    FIXED_TMK, HOST_KEY_INDEX, HOST_KEY_RID,
};

/// The fixed TMK and working keys (PIK, MAK, TDK) of a family, for `fixed_keys`.
fn fixed(family: KeyFamily) -> (&'static str, [&'static str; 3]) {
    match family {
        KeyFamily::Tdes => (FIXED_TMK, [FIXED_PIK, FIXED_MAK, FIXED_TDK]),
        KeyFamily::Sm => (FIXED_SM_TMK, [FIXED_SM_PIK, FIXED_SM_MAK, FIXED_SM_TDK]),
    }
}

impl Shared {
    /// The pin of the host key a terminal of `family` downloads its TMK with (activation DF56).
    fn host_key_sha256(&self, family: KeyFamily) -> [u8; 32] {
        match family {
            KeyFamily::Tdes => possdk_core::crypto::sha256(
                &[self.rsa_modulus.as_slice(), self.rsa_exponent.as_slice()].concat(),
            ),
            KeyFamily::Sm => possdk_core::crypto::sha256(&self.sm2_public),
        }
    }

    pub(super) fn activation(
        &self,
        db: &mut Db,
        req: &Message,
        term: &store::Terminal,
    ) -> DbResult<Reply> {
        let Some(items) = req.get(62).and_then(|d| tlv::decode(d).ok()) else {
            return Ok(mgmt_reply(req, "30"));
        };
        let sn = tlv::get(&items, 0xDF41).and_then(|v| std::str::from_utf8(v).ok());
        let token = tlv::get(&items, 0xDF42).and_then(|v| std::str::from_utf8(v).ok());
        let (Some(sn), Some(token)) = (sn, token) else {
            return Ok(mgmt_reply(req, "30"));
        };
        match db.store.device(sn)? {
            Some((t, tid)) if t == token && tid == term.tid => {}
            _ => {
                info!("{}: activation refused for device SN {sn:?}", term.tid);
                return Ok(mgmt_reply(req, "A8"));
            }
        }
        db.store.mark_activated(&term.tid)?;
        let fp = self.host_key_sha256(term.key_family);
        let out = tlv::encode(&[
            Tlv::primitive(0xDF51, term.merchant_name.as_bytes().to_vec()),
            Tlv::primitive(0xDF52, term.timeout_s.to_string().into_bytes()),
            Tlv::primitive(0xDF53, term.reversal_attempts.to_string().into_bytes()),
            Tlv::primitive(0xDF54, term.max_tip_percent.to_string().into_bytes()),
            Tlv::primitive(0xDF55, format!("{:06}", term.batch).into_bytes()),
            Tlv::primitive(0xDF56, fp.to_vec()),
            Tlv::primitive(0xDF57, term.key_family.wire_name().as_bytes().to_vec()),
        ]);
        let mut r = mgmt_reply(req, "00");
        r.msg.set(62, out);
        Ok(r)
    }

    /// `352`: the RSA key (DF02 modulus, DF04 exponent) for a TDES terminal, the SM2 key (DF02 the 65-byte
    /// point, DF25 `SM2`, no DF04) for an SM one.
    pub(super) fn host_key_query(&self, req: &Message, term: &store::Terminal) -> Reply {
        let mut items = vec![
            Tlv::primitive(0x9F06, HOST_KEY_RID.to_vec()),
            Tlv::primitive(0x9F22, vec![HOST_KEY_INDEX]),
        ];
        match term.key_family {
            KeyFamily::Tdes => {
                items.push(Tlv::primitive(0xDF02, self.rsa_modulus.clone()));
                items.push(Tlv::primitive(0xDF04, self.rsa_exponent.clone()));
            }
            KeyFamily::Sm => {
                items.push(Tlv::primitive(0xDF02, self.sm2_public.clone()));
                items.push(Tlv::primitive(0xDF25, b"SM2".to_vec()));
            }
        }
        let mut r = mgmt_reply(req, "00");
        r.msg.set(62, tlv::encode(&items));
        r
    }

    /// `350`: R from DF23 (RSA PKCS#1 v1.5 or SM2 C1‖C3‖C2, by the terminal's family), checked against DF24;
    /// a fresh TMK under R (DF21) with its check value (DF22), pending until `351`.
    pub(super) fn tmk_download(
        &self,
        db: &mut Db,
        req: &Message,
        term: &store::Terminal,
    ) -> DbResult<Reply> {
        let tid = term.tid.as_str();
        let family = term.key_family;
        let Some(items) = req.get(62).and_then(|d| tlv::decode(d).ok()) else {
            return Ok(mgmt_reply(req, "30"));
        };
        if tlv::get(&items, 0x9F06) != Some(&HOST_KEY_RID[..])
            || tlv::get(&items, 0x9F22) != Some(&[HOST_KEY_INDEX][..])
        {
            info!("{tid}: TMK download names an unknown host key");
            return Ok(mgmt_reply(req, "A7"));
        }
        let (Some(ct), Some(cv)) = (tlv::get(&items, 0xDF23), tlv::get(&items, 0xDF24)) else {
            return Ok(mgmt_reply(req, "30"));
        };
        let r_key = match family {
            KeyFamily::Tdes => self
                .rsa
                .decrypt(rsa::Pkcs1v15Encrypt, ct)
                .ok()
                .map(zeroize::Zeroizing::new),
            KeyFamily::Sm => self.sm2.decrypt(ct).ok(),
        };
        let Some(r) = r_key
            .filter(|k| k.len() == 16)
            .and_then(|k| FamilyKey::from_bytes(family, &k))
        else {
            info!("{tid}: TMK download: DF23 does not decrypt to 16 bytes under the {family} host key");
            return Ok(mgmt_reply(req, "A7"));
        };
        if !r.check_matches(cv) {
            info!("{tid}: TMK download: DF24 does not match R");
            return Ok(mgmt_reply(req, "A7"));
        }
        let mut tmk = zeroize::Zeroizing::new([0u8; 16]);
        if self.fixed_keys {
            tmk.copy_from_slice(&hex::decode(fixed(family).0).unwrap_or_default());
        } else if possdk_core::crypto::random_bytes(&mut tmk[..]).is_err() {
            return Ok(mgmt_reply(req, "96"));
        }
        let (Some(tmk_key), Some(wrapped)) =
            (FamilyKey::from_bytes(family, &tmk[..]), r.wrap(&tmk[..]))
        else {
            return Ok(mgmt_reply(req, "96"));
        };
        db.store.set_pending_tmk(tid, &tmk[..])?;
        let mut r = mgmt_reply(req, "00");
        r.msg.set(
            62,
            tlv::encode(&[
                Tlv::primitive(0xDF21, wrapped),
                Tlv::primitive(0xDF22, tmk_key.kcv().to_vec()),
            ]),
        );
        Ok(r)
    }

    pub(super) fn tmk_activate(&self, db: &mut Db, req: &Message, tid: &str) -> DbResult<Reply> {
        let cv = req
            .get(62)
            .and_then(|d| tlv::decode(d).ok())
            .and_then(|i| tlv::get(&i, 0xDF22).map(|v| v.to_vec()));
        let Some(cv) = cv else {
            return Ok(mgmt_reply(req, "30"));
        };
        let row = db.store.keys(tid)?;
        let Some(pending) = row
            .pending_tmk
            .as_ref()
            .and_then(|k| FamilyKey::from_bytes(row.family, k))
        else {
            info!("{tid}: TMK activation without a downloaded TMK");
            return Ok(mgmt_reply(req, "A7"));
        };
        if !pending.check_matches(&cv) {
            return Ok(mgmt_reply(req, "A7"));
        }
        db.store.activate_tmk(tid)?;
        db.keys.remove(tid);
        db.store.set_flag(tid, "need_signin", true)?;
        Ok(mgmt_reply(req, "00"))
    }

    pub(super) fn sign_in(
        &self,
        db: &mut Db,
        req: &Message,
        term: &store::Terminal,
        now: &Now,
    ) -> DbResult<Reply> {
        let tid = term.tid.as_str();
        let row = db.store.keys(tid)?;
        let Some(tmk) = row
            .tmk
            .as_ref()
            .and_then(|k| FamilyKey::from_bytes(row.family, k))
        else {
            info!("{tid}: sign-in without an active TMK");
            return Ok(mgmt_reply(req, "A7"));
        };
        let mut fresh = zeroize::Zeroizing::new([0u8; 48]);
        if self.fixed_keys {
            for (i, k) in fixed(row.family).1.iter().enumerate() {
                fresh[i * 16..i * 16 + 16].copy_from_slice(&hex::decode(k).unwrap_or_default());
            }
        } else if possdk_core::crypto::random_bytes(&mut fresh[..]).is_err() {
            return Ok(mgmt_reply(req, "96"));
        }
        // PIK, MAK, TDK, each under the TMK with its check value, in the profile's 62 layout.
        let mut wrapped: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(3);
        for i in 0..3 {
            let k = &fresh[i * 16..i * 16 + 16];
            let (Some(kd), Some(enc)) = (FamilyKey::from_bytes(row.family, k), tmk.wrap(k)) else {
                return Ok(mgmt_reply(req, "96"));
            };
            wrapped.push((enc.to_vec(), kd.kcv().to_vec()));
        }
        let part = |i: usize| (wrapped[i].0.as_slice(), wrapped[i].1.as_slice());
        let f62 = self.profile.subfields.field62([part(0), part(1), part(2)]);
        db.store.set_working_keys(
            tid,
            &fresh[0..16],
            &fresh[16..32],
            &fresh[32..48],
            &now.stamp(),
        )?;
        db.keys.remove(tid);
        db.store.set_flag(tid, "need_signin", false)?;
        let seq = self.next_seq();
        let mut r = mgmt_reply(req, "00");
        if let Some(s) = req.get_str(60) {
            // 60.2 = the batch the terminal adopts.
            r.msg
                .set_str(60, &self.profile.subfields.with_batch60(s, term.batch));
        }
        r.msg.set_str(12, &now.hhmmss());
        r.msg.set_str(13, &now.mmdd());
        r.msg.set_str(37, &self.rrn(now, seq));
        r.msg.set(62, f62);
        info!("{tid}: signed in (batch {:06})", term.batch);
        Ok(r)
    }

    /// Query paging shared by CAPK and AID lists: `"1" + nn` start index in, status + entries out.
    fn page(req: &Message, entries: Vec<Vec<u8>>) -> Reply {
        let start = req
            .get(62)
            .and_then(|d| std::str::from_utf8(d).ok())
            .filter(|s| s.len() == 3 && s.starts_with('1'))
            .and_then(|s| num(&s[1..]));
        let Some(start) = start else {
            return mgmt_reply(req, "30");
        };
        let start = start as usize;
        let mut r = mgmt_reply(req, "00");
        r.msg.set(62, page(&entries, start));
        r
    }

    pub(super) fn capk_query(&self, db: &mut Db, req: &Message) -> DbResult<Reply> {
        let entries = db
            .store
            .capk_list()?
            .into_iter()
            .map(|(rid, idx, exp)| {
                tlv::encode(&[
                    Tlv::primitive(0x9F06, rid),
                    Tlv::primitive(0x9F22, vec![idx]),
                    Tlv::primitive(0xDF05, exp.into_bytes()),
                ])
            })
            .collect();
        Ok(Self::page(req, entries))
    }

    pub(super) fn capk_download(&self, db: &mut Db, req: &Message) -> DbResult<Reply> {
        let Some(items) = req.get(62).and_then(|d| tlv::decode(d).ok()) else {
            return Ok(mgmt_reply(req, "30"));
        };
        let (Some(rid), Some(idx)) = (tlv::get(&items, 0x9F06), tlv::get(&items, 0x9F22)) else {
            return Ok(mgmt_reply(req, "30"));
        };
        if idx.len() != 1 {
            return Ok(mgmt_reply(req, "30"));
        }
        let Some((exp, modulus, exponent)) = db.store.capk(rid, idx[0])? else {
            return Ok(mgmt_reply(req, "25"));
        };
        let sum = possdk_core::crypto::sha1(
            &[rid, idx, modulus.as_slice(), exponent.as_slice()].concat(),
        );
        let mut out = b"1".to_vec();
        out.extend(tlv::encode(&[
            Tlv::primitive(0x9F06, rid.to_vec()),
            Tlv::primitive(0x9F22, idx.to_vec()),
            Tlv::primitive(0xDF05, exp.into_bytes()),
            Tlv::primitive(0xDF06, vec![0x01]),
            Tlv::primitive(0xDF07, vec![0x01]),
            Tlv::primitive(0xDF02, modulus),
            Tlv::primitive(0xDF04, exponent),
            Tlv::primitive(0xDF03, sum.to_vec()),
        ]));
        let mut r = mgmt_reply(req, "00");
        r.msg.set(62, out);
        Ok(r)
    }

    pub(super) fn aid_query(&self, db: &mut Db, req: &Message) -> DbResult<Reply> {
        let entries = db
            .store
            .aid_list()?
            .into_iter()
            .map(|aid| tlv::encode(&[Tlv::primitive(0x9F06, aid)]))
            .collect();
        Ok(Self::page(req, entries))
    }

    pub(super) fn aid_download(&self, db: &mut Db, req: &Message) -> DbResult<Reply> {
        let aid = req
            .get(62)
            .and_then(|d| tlv::decode(d).ok())
            .and_then(|i| tlv::get(&i, 0x9F06).map(|v| v.to_vec()));
        let Some(aid) = aid else {
            return Ok(mgmt_reply(req, "30"));
        };
        let Some(params) = db.store.aid_params(&aid)? else {
            return Ok(mgmt_reply(req, "25"));
        };
        let mut out = b"1".to_vec();
        out.extend(tlv::encode(&[Tlv::primitive(0x9F06, aid)]));
        out.extend(params);
        let mut r = mgmt_reply(req, "00");
        r.msg.set(62, out);
        Ok(r)
    }
}

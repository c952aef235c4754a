//! Message processing: everything PROTOCOL.md and docs/PROTOCOL.md ask of the acquirer side.
//! `Shared::handle` takes one raw frame (with its length prefix) and returns what to send back.
//!
//! This module holds the server side common to every message: decoding, the order of the checks
//! (destination, terminal, merchant, MAC), dispatch by MTI and network management code, the reply and
//! the faults applied to it. Each message family answers in its own module.

mod financial;
pub mod keys;
mod management;
mod qr;
mod query;
mod reversal;
mod session;
mod settlement;
mod upload;

pub use financial::{build59, parse59};
pub use qr::{PayerMode, QrBook};

use crate::faults::{FaultKind, Faults};
use crate::store::{self, DbResult, Store, Txn};
use crate::util::{digits, frame_head, num, Now};
use keys::FamilyKey;
use log::{debug, info, warn};
use possdk_core::acquirer::{MacAlgorithm, Profile, SideTotals};
use possdk_core::crypto::mac;
use possdk_core::crypto::sm2::Sm2PrivateKey;
use possdk_core::iso8583::{self, Frame, Header, Message, Mti, Tpdu};
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Field 62 page size.
const PAGE: usize = 512;

/// One field-62 page of a paged query (EMV parameters, detail query): the status byte (`0` nothing
/// from `start`, `1` complete, `2` more: ask again from the next index) and as many whole entries from
/// `start` as fit in PAGE bytes.
fn page(entries: &[Vec<u8>], start: usize) -> Vec<u8> {
    let mut out = vec![b'0'];
    let mut i = start;
    while i < entries.len() && out.len() + entries[i].len() <= PAGE {
        out.extend_from_slice(&entries[i]);
        i += 1;
    }
    out[0] = if start >= entries.len() {
        b'0'
    } else if i < entries.len() {
        b'2'
    } else {
        b'1'
    };
    out
}

/// What the connection does with a processed request.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Encoded response frame (with length prefix); None = close the connection without answering.
    pub response: Option<Vec<u8>>,
    pub delay_ms: u64,
    pub no_answer: bool,
    pub garbage: bool,
    pub close_mid_frame: bool,
}

/// Working keys of a signed-in terminal, in its key family.
pub struct WorkKeys {
    pub pik: FamilyKey,
    pub mak: FamilyKey,
    pub tdk: FamilyKey,
}

pub struct Db {
    pub store: Store,
    keys: HashMap<String, Arc<WorkKeys>>,
}

impl Db {
    pub fn new(store: Store) -> Db {
        Db {
            store,
            keys: HashMap::new(),
        }
    }

    fn work_keys(&mut self, tid: &str) -> DbResult<Option<Arc<WorkKeys>>> {
        if let Some(k) = self.keys.get(tid) {
            return Ok(Some(k.clone()));
        }
        let row = self.store.keys(tid)?;
        let (Some(pik), Some(mak), Some(tdk)) = (&row.pik, &row.mak, &row.tdk) else {
            return Ok(None);
        };
        let (Some(pik), Some(mak), Some(tdk)) = (
            FamilyKey::from_bytes(row.family, pik),
            FamilyKey::from_bytes(row.family, mak),
            FamilyKey::from_bytes(row.family, tdk),
        ) else {
            return Ok(None);
        };
        let k = Arc::new(WorkKeys { pik, mak, tdk });
        self.keys.insert(tid.to_string(), k.clone());
        Ok(Some(k))
    }
}

pub struct Shared {
    pub db: Mutex<Db>,
    pub faults: Mutex<Faults>,
    /// The scripted QR payer (docs/HOST.md, admin `qr_payer` / `pay_order`).
    pub qr: Mutex<QrBook>,
    pub rsa: rsa::PrivateKey,
    pub rsa_modulus: Vec<u8>,
    pub rsa_exponent: Vec<u8>,
    /// The host SM2 key of the SM family's TMK transport (docs/PROTOCOL.md §11).
    pub sm2: Sm2PrivateKey,
    /// Its public key, the 65-byte point of the `352` answer.
    pub sm2_public: Vec<u8>,
    pub fixed_keys: bool,
    pub wire_log: Option<Mutex<std::fs::File>>,
    pub seq: AtomicU64,
    /// The acquirer profile spoken (docs/PROFILES.md; `cup` unless `--profile`).
    pub profile: Arc<Profile>,
}

/// A response under construction.
struct Reply {
    msg: Message,
    /// MAC the response (with the terminal's MAK).
    mac: bool,
    /// Processing requirement nibble forced by the handler (3 after A0 / 99).
    processing: u8,
    /// 0220 replay cache entry to write: (batch, stan, body hash).
    replay: Option<(u32, u32, Vec<u8>)>,
}

impl Reply {
    fn new(msg: Message) -> Reply {
        Reply {
            msg,
            mac: false,
            processing: 0,
            replay: None,
        }
    }
}

/// A protocol answer short of success: the response code (and whether the request was readable).
type Flow<T> = Result<T, &'static str>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The MAC of a frame with the profile's algorithm under a terminal's MAK: `cup_ecb` is the CUP MAC
/// of the MAK's family (CUP-ECB or CUP-SM4); X9.19 exists only for a TDES MAK.
fn mac_of(profile: &Profile, mak: &FamilyKey, raw: &[u8]) -> Option<[u8; 8]> {
    let span = profile.wire.mac_span(raw)?;
    match (profile.mac, mak) {
        (MacAlgorithm::CupEcb, _) => Some(mak.mac(span)),
        (MacAlgorithm::X919, FamilyKey::Des(k)) => mac::x9_19(k, span).ok(),
        (MacAlgorithm::X919, _) => None,
    }
}

impl Shared {
    /// The header processing-requirement code of the profile for CUP's 3 (sign in), 4 (CAPKs), 5 (AIDs).
    fn header_code(&self, cup: u8) -> u8 {
        let h = &self.profile.header;
        match cup {
            3 => h.sign_in,
            4 => h.download_capks,
            5 => h.download_aids,
            _ => None,
        }
        .unwrap_or(0)
    }

    /// The response header: the profile's application type and version.
    fn header(&self, cup_processing: u8) -> Header {
        Header {
            app_type: self.profile.header.app_type,
            version: self.profile.header.version,
            processing: self.header_code(cup_processing),
            ..Header::default()
        }
    }
}

/// Copy the listed fields from `req` into `resp` when present.
fn echo(req: &Message, resp: &mut Message, fields: &[u8]) {
    for &f in fields {
        if let Some(v) = req.get(f) {
            resp.set(f, v.to_vec());
        }
    }
}

fn mgmt_reply(req: &Message, rc: &str) -> Reply {
    let mut r = Message::new(req.mti.response());
    echo(req, &mut r, &[11, 41, 42, 60]);
    r.set_str(39, rc);
    Reply::new(r)
}

impl Shared {
    /// Type (60.1), batch (60.2) and network code (60.3) of a request's 60, in the profile's layout.
    fn f60(&self, msg: &Message) -> Option<(String, u32, String)> {
        self.profile.subfields.read60(msg.get_str(60)?)
    }

    /// Original reference from field 61 in the profile's layout: (batch, STAN, MMDD when sent).
    fn f61(&self, msg: &Message) -> Option<(u32, u32, Option<String>)> {
        self.profile.subfields.read61(msg.get_str(61)?)
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    fn rrn(&self, now: &Now, seq: u64) -> String {
        format!("{}{:08}", now.mmdd(), seq % 100_000_000)
    }

    /// See `Host::set_key_family`.
    pub fn set_key_family(
        &self,
        tid: Option<&str>,
        family: possdk_core::crypto::KeyFamily,
    ) -> Result<usize, crate::HostError> {
        let mut db = lock(&self.db);
        let changed = db.store.set_key_family(tid, family)?;
        db.keys.clear();
        if self.fixed_keys && changed > 0 {
            let tmk = match family {
                possdk_core::crypto::KeyFamily::Tdes => possdk_sim::fixture::FIXED_TMK,
                possdk_core::crypto::KeyFamily::Sm => possdk_sim::fixture::FIXED_SM_TMK,
            };
            let tmk = zeroize::Zeroizing::new(hex::decode(tmk).unwrap_or_default());
            let tids: Vec<String> = {
                let mut st = db.store.conn.prepare(
                    "SELECT tid FROM terminals WHERE key_family = ?1 AND (?2 IS NULL OR tid = ?2)",
                )?;
                let rows = st.query_map(rusqlite::params![family.name(), tid], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            for t in tids {
                if db.store.keys(&t)?.tmk.is_none() {
                    db.store.set_tmk(&t, &tmk)?;
                }
            }
        }
        info!("{changed} terminal(s) now in the {family} key family");
        Ok(changed)
    }

    fn wire(&self, dir: &str, text: &str) {
        if let Some(f) = &self.wire_log {
            let line = format!("{} {dir} {text}\n", Now::current().stamp());
            let _ = lock(f).write_all(line.as_bytes());
        }
    }

    /// Process one frame (2-byte length prefix included).
    pub fn handle(&self, raw: &[u8]) -> Outcome {
        let now = Now::current();
        // Field 52 is the table's length or twice it as the terminal's family says; its field 41
        // comes first.
        let family_of = |tid: &[u8]| {
            let tid = std::str::from_utf8(tid).unwrap_or_default();
            lock(&self.db).store.key_family(tid).unwrap_or_default()
        };
        let frame = match self.profile.wire.decode_frame_for(raw, &family_of) {
            Ok(f) => f,
            Err(e) => return self.malformed(raw, &e, &now),
        };
        let req = &frame.message;
        let masked_req = iso8583::mask::masked(req);
        debug!("<- {masked_req}");
        self.wire("<-", &masked_req);
        let tid = req.get_str(41).map(|s| s.to_string());
        let mti = req.mti.0;
        let financial = matches!(mti, 100 | 200 | 220);
        let settlement = mti == 500;

        // Faults that change processing are taken before it.
        let pre: Vec<FaultKind> = match &tid {
            Some(t) => lock(&self.faults).take(t, |k| match k {
                FaultKind::Decline(_) => financial,
                FaultKind::UnbalancedSettlement => settlement,
                _ => false,
            }),
            None => vec![],
        };

        let mut db = lock(&self.db);
        // One SQLite transaction per request: the ledger change, the replay entry and the message log
        // commit together (or not at all).
        if let Err(e) = db.store.conn.execute_batch("BEGIN IMMEDIATE") {
            warn!("storage error: {e}");
        }
        let result = self.dispatch(&mut db, &frame, raw, &now, &pre);
        let mut reply = match result {
            Ok(r) => r,
            Err(e) => {
                warn!("storage error: {e}");
                if !db.store.conn.is_autocommit() {
                    let _ = db.store.conn.execute_batch("ROLLBACK");
                }
                db.keys.clear();
                mgmt_reply(req, "96")
            }
        };

        // Faults on the response.
        let has_mac = reply.mac;
        let post: Vec<FaultKind> = match &tid {
            Some(t) => lock(&self.faults).take(t, |k| match k {
                FaultKind::WrongMac => has_mac,
                FaultKind::Decline(_)
                | FaultKind::UnbalancedSettlement
                | FaultKind::IssuerScript => false,
                _ => true,
            }),
            None => vec![],
        };

        let mut processing = reply.processing;
        if let Some(t) = &tid {
            if processing == 0 {
                if post.contains(&FaultKind::SignInAgain) {
                    processing = 3;
                } else if !self.f60(req).is_some_and(|f| {
                    let m = &self.profile.management;
                    [
                        &m.capk_query,
                        &m.capk_download,
                        &m.capk_end,
                        &m.aid_query,
                        &m.aid_download,
                        &m.aid_end,
                    ]
                    .contains(&&f.2)
                }) {
                    if let Ok(Some(term)) = db.store.terminal(t) {
                        processing = if term.need_signin {
                            3
                        } else if term.need_capk {
                            4
                        } else if term.need_aid {
                            5
                        } else {
                            0
                        };
                    }
                }
            }
        }

        let mak = if reply.mac {
            match &tid {
                Some(t) => db.work_keys(t).ok().flatten(),
                None => None,
            }
        } else {
            None
        };
        if reply.mac && mak.is_some() {
            reply.msg.set(64, vec![0u8; 8]);
        } else {
            reply.msg.remove(64);
        }
        let resp = Frame {
            tpdu: frame.tpdu.swapped(),
            header: self.header(processing),
            message: reply.msg,
        };
        let mut bytes = match self.profile.wire.encode_frame(&resp) {
            Ok(b) => b,
            Err(e) => {
                warn!("cannot encode the response to {}: {e:?}", req.mti);
                return Outcome::default();
            }
        };
        if let Some(k) = &mak {
            if let Some(m) = mac_of(&self.profile, &k.mak, &bytes) {
                let n = bytes.len();
                bytes[n - 8..].copy_from_slice(&m);
            }
        }
        let masked_resp = iso8583::mask::masked(&resp.message);
        // Replay cache (0220): the response body without field 2, re-MAC'd on replay.
        if let (Some((batch, stan, hash)), Some(t)) = (&reply.replay, &tid) {
            let mut m = resp.message.clone();
            m.remove(2);
            m.remove(64);
            if let Ok(body) = iso8583::encode_body_with(&self.profile.wire.codec, &m) {
                if let Err(e) = db.store.put_replay(t, *batch, *stan, mti, hash, &body) {
                    warn!("replay cache: {e}");
                }
            }
        }
        if let Err(e) =
            db.store
                .log_message(&now.stamp(), tid.as_deref(), &masked_req, &masked_resp)
        {
            warn!("message log: {e}");
        }
        if !db.store.conn.is_autocommit() {
            if let Err(e) = db.store.conn.execute_batch("COMMIT") {
                // Nothing was answered yet: the terminal sees no response and reverses.
                warn!("storage error on commit: {e}");
                let _ = db.store.conn.execute_batch("ROLLBACK");
                db.keys.clear();
                return Outcome::default();
            }
        }
        drop(db);
        debug!("-> {masked_resp}");
        self.wire("->", &masked_resp);

        if post.contains(&FaultKind::WrongMac) {
            let n = bytes.len();
            bytes[n - 1] ^= 0x01;
            bytes[n - 2] = if bytes[n - 2] == b'0' { b'1' } else { b'0' };
        }
        let mut out = Outcome {
            response: Some(bytes),
            ..Outcome::default()
        };
        for f in post {
            match f {
                FaultKind::Delay(ms) => out.delay_ms = ms,
                FaultKind::NoAnswer => out.no_answer = true,
                FaultKind::Garbage => out.garbage = true,
                FaultKind::CloseMidFrame => out.close_mid_frame = true,
                _ => {}
            }
        }
        out
    }

    /// A frame that does not decode: answer `30` when the MTI is readable, else close.
    fn malformed(&self, raw: &[u8], e: &iso8583::CodecError, now: &Now) -> Outcome {
        let note = format!(
            "undecodable frame ({} bytes, head {}): {e:?}",
            raw.len(),
            frame_head(raw)
        );
        warn!("{note}");
        self.wire("<-", &note);
        let mti = match (raw.get(13), raw.get(14)) {
            (Some(&a), Some(&b)) => {
                let d = [a >> 4, a & 15, b >> 4, b & 15];
                if d.iter().all(|x| *x <= 9) {
                    Some(d[0] as u16 * 1000 + d[1] as u16 * 100 + d[2] as u16 * 10 + d[3] as u16)
                } else {
                    None
                }
            }
            _ => None,
        };
        // Only requests (third digit even) are answered.
        let Some(mti) = mti.filter(|m| (m / 10) % 2 == 0 && *m < 9990) else {
            if let Ok(db) = self.db.lock() {
                let _ = db
                    .store
                    .log_message(&now.stamp(), None, &note, "(connection closed)");
            }
            return Outcome::default();
        };
        let mut tp = [0u8; 5];
        let at = self.profile.wire.prefix.bytes();
        if self.profile.wire.tpdu {
            if let Some(t) = raw.get(at..at + 5) {
                tp.copy_from_slice(t);
            }
        }
        let mut m = Message::new(Mti(mti).response());
        m.set_str(39, "30");
        let resp = Frame {
            tpdu: Tpdu(tp).swapped(),
            header: self.header(0),
            message: m,
        };
        match self.profile.wire.encode_frame(&resp) {
            Ok(b) => {
                let masked = iso8583::mask::masked(&resp.message);
                self.wire("->", &masked);
                if let Ok(db) = self.db.lock() {
                    let _ = db.store.log_message(&now.stamp(), None, &note, &masked);
                }
                Outcome {
                    response: Some(b),
                    ..Outcome::default()
                }
            }
            Err(_) => Outcome::default(),
        }
    }

    fn dispatch(
        &self,
        db: &mut Db,
        frame: &Frame,
        raw: &[u8],
        now: &Now,
        pre: &[FaultKind],
    ) -> DbResult<Reply> {
        let req = &frame.message;
        let dest = frame.tpdu.destination();
        // A profile without a TPDU has one address for both roles.
        if self.profile.wire.tpdu && dest != 3 && dest != 5 {
            info!("request to unknown TPDU destination {dest:04X}");
            return Ok(mgmt_reply(req, "30"));
        }
        let Some(tid) = req.get_str(41).filter(|t| t.len() == 8).map(str::to_string) else {
            return Ok(mgmt_reply(req, "30"));
        };
        let Some((_, _, nmc)) = self.f60(req) else {
            return Ok(mgmt_reply(req, "30"));
        };
        let Some(term) = db.store.terminal(&tid)? else {
            info!("request from unknown terminal {tid}");
            return Ok(mgmt_reply(req, "97"));
        };
        if req.get_str(42) != Some(term.mid.as_str()) {
            return Ok(mgmt_reply(req, "03"));
        }
        let mti = req.mti.0;
        // Sign-off (§3.9): a terminal whose keys are already gone is signed off; a repeat is answered `00`
        // and changes nothing (it cannot be MAC-checked, and there is nothing left to drop).
        let sign_off = mti == 820 && nmc == self.profile.management.sign_off;
        if sign_off && db.work_keys(&tid)?.is_none() {
            info!("{tid}: sign-off while signed off: nothing to do");
            return Ok(mgmt_reply(req, "00"));
        }
        let maced = matches!(mti, 100 | 200 | 220 | 320 | 400 | 500 | 620)
            || (mti == 800 && {
                let m = &self.profile.management;
                [&m.detail_query, &m.qr_query, &m.qr_close].contains(&&nmc)
            })
            || sign_off
            || (mti == 820 && nmc == self.profile.management.signature_upload)
            || (mti == 820 && nmc == self.profile.management.echo && req.has(64));
        if maced {
            let keys = db.work_keys(&tid)?;
            let Some(keys) = keys else {
                info!("{tid}: MAC'd request {} before sign-in", req.mti);
                let mut r = self.error_reply(req, "A0");
                r.processing = 3;
                return Ok(r);
            };
            let ok = req.get(64).is_some_and(|m| {
                mac_of(&self.profile, &keys.mak, raw).is_some_and(|c| c[..] == m[..])
            });
            if !ok {
                info!(
                    "{tid}: request MAC invalid ({} STAN {:?})",
                    req.mti,
                    req.get_str(11)
                );
                let mut r = self.error_reply(req, "A0");
                r.processing = 3;
                r.mac = mti == 400;
                return Ok(r);
            }
        }
        // The profile's network management codes (CUP: docs/PROTOCOL.md §1.7).
        let m = self.profile.management.clone();
        let c = nmc.as_str();
        match (mti, c) {
            (800, _) if c == m.activate => self.activation(db, req, &term),
            (800, _) if c == m.key_query => Ok(self.host_key_query(req, &term)),
            (800, _) if c == m.tmk_download => self.tmk_download(db, req, &term),
            (800, _) if c == m.tmk_activate => self.tmk_activate(db, req, &tid),
            (800, _) if c == m.sign_in => self.sign_in(db, req, &term, now),
            (820, _) if c == m.capk_query => self.capk_query(db, req),
            (800, _) if c == m.capk_download => self.capk_download(db, req),
            (800, _) if c == m.capk_end => {
                db.store.set_flag(&tid, "need_capk", false)?;
                Ok(mgmt_reply(req, "00"))
            }
            (820, _) if c == m.aid_query => self.aid_query(db, req),
            (800, _) if c == m.aid_download => self.aid_download(db, req),
            (800, _) if c == m.aid_end => {
                db.store.set_flag(&tid, "need_aid", false)?;
                Ok(mgmt_reply(req, "00"))
            }
            (800, _) if c == m.detail_query => self.detail_query(db, req, &term),
            (820, _) if c == m.sign_off => self.sign_off(db, req, &tid),
            (820, _) if c == m.echo => Ok(self.echo_test(req, now)),
            (800, _) if c == m.qr_query => self.qr_status(db, req, raw, &term, now, false),
            (800, _) if c == m.qr_close => self.qr_status(db, req, raw, &term, now, true),
            (100 | 200 | 220, _) => self.financial(db, req, raw, &term, now, pre),
            (400, _) => self.reversal(db, req, &term, now),
            (500, _) if c == m.settle => self.settlement(db, req, &term, now, pre),
            (320, _) if c == m.batch_upload || c == m.batch_upload_end => {
                let upload = c == m.batch_upload;
                self.batch_upload(db, req, &term, now, upload)
            }
            (620, _) if c == m.script_advice => self.script_advice(db, req, &term, now),
            (320, _) if c == m.tc_upload => self.tc_upload(db, req, &term, now),
            (820, _) if c == m.signature_upload => self.signature_upload(db, req, &term, now),
            _ => {
                info!("{tid}: unsupported message {} / {nmc}", req.mti);
                Ok(self.error_reply(req, "30"))
            }
        }
    }

    /// Decline of any request: financial echo fields, no MAC (except what the caller sets).
    fn error_reply(&self, req: &Message, rc: &str) -> Reply {
        let mut r = Message::new(req.mti.response());
        echo(req, &mut r, &[2, 3, 4, 11, 14, 22, 25, 41, 42, 49, 60]);
        r.set_str(39, rc);
        Reply::new(r)
    }
}

//! SQLite state: terminals, devices, keys, cards, batches, the transaction ledger, the masked message
//! log, the replay cache, CAPK/AID sets, batch uploads and the host RSA key. One connection, used under
//! the host's mutex; WAL with synchronous NORMAL.

use crate::provision::{default_aid_params, org_from_bin, Provision};
use possdk_core::crypto::KeyFamily;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::Path;

pub type DbResult<T> = rusqlite::Result<T>;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS terminals (
    tid TEXT PRIMARY KEY, mid TEXT NOT NULL, merchant_name TEXT NOT NULL, batch INTEGER NOT NULL,
    timeout_s INTEGER NOT NULL, reversal_attempts INTEGER NOT NULL, max_tip_percent INTEGER NOT NULL,
    activated INTEGER NOT NULL DEFAULT 0, need_signin INTEGER NOT NULL DEFAULT 0,
    need_capk INTEGER NOT NULL DEFAULT 0, need_aid INTEGER NOT NULL DEFAULT 0,
    key_family TEXT NOT NULL DEFAULT 'tdes');
CREATE TABLE IF NOT EXISTS devices (sn TEXT PRIMARY KEY, token TEXT NOT NULL, tid TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
    tid TEXT PRIMARY KEY, tmk BLOB, pending_tmk BLOB, pik BLOB, mak BLOB, tdk BLOB, signed_in TEXT);
CREATE TABLE IF NOT EXISTS cards (
    id INTEGER PRIMARY KEY, pan TEXT NOT NULL UNIQUE, pin TEXT NOT NULL, expiry TEXT NOT NULL,
    service_code TEXT NOT NULL, org TEXT NOT NULL, balance INTEGER NOT NULL, status TEXT NOT NULL,
    psn TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS capks (
    rid BLOB NOT NULL, idx INTEGER NOT NULL, expiry TEXT NOT NULL, modulus BLOB NOT NULL,
    exponent BLOB NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (rid, idx));
CREATE TABLE IF NOT EXISTS aids (aid BLOB PRIMARY KEY, params BLOB NOT NULL, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS txns (
    id INTEGER PRIMARY KEY, tid TEXT NOT NULL, batch INTEGER NOT NULL, stan INTEGER NOT NULL,
    mti INTEGER NOT NULL, pcode TEXT NOT NULL, kind TEXT NOT NULL, entry TEXT NOT NULL,
    amount INTEGER NOT NULL, tip INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, rc TEXT NOT NULL,
    card_id INTEGER, pan_masked TEXT NOT NULL, voucher TEXT, org TEXT NOT NULL, rrn TEXT NOT NULL,
    auth TEXT NOT NULL, date TEXT NOT NULL, stamp TEXT NOT NULL, orig_id INTEGER,
    orig_prev_state TEXT, orig_prev_tip INTEGER, orig_refund INTEGER NOT NULL DEFAULT 0,
    delta INTEGER NOT NULL DEFAULT 0, moved INTEGER NOT NULL DEFAULT 0,
    refunded INTEGER NOT NULL DEFAULT 0, hold INTEGER NOT NULL DEFAULT 0,
    UNIQUE (tid, batch, stan, mti));
CREATE INDEX IF NOT EXISTS txns_rrn ON txns (rrn);
CREATE INDEX IF NOT EXISTS txns_auth ON txns (auth);
CREATE INDEX IF NOT EXISTS txns_voucher ON txns (voucher);
CREATE TABLE IF NOT EXISTS replay (
    tid TEXT NOT NULL, batch INTEGER NOT NULL, stan INTEGER NOT NULL, mti INTEGER NOT NULL,
    body_hash BLOB NOT NULL, response BLOB NOT NULL, PRIMARY KEY (tid, batch, stan, mti));
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, stamp TEXT NOT NULL, tid TEXT, request TEXT NOT NULL, response TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS uploads (
    tid TEXT NOT NULL, batch INTEGER NOT NULL, orig_batch INTEGER NOT NULL, orig_stan INTEGER NOT NULL,
    amount INTEGER NOT NULL, kind TEXT NOT NULL, PRIMARY KEY (tid, batch, orig_batch, orig_stan));
CREATE TABLE IF NOT EXISTS chip_uploads (
    tid TEXT NOT NULL, class TEXT NOT NULL, orig_batch INTEGER NOT NULL, orig_stan INTEGER NOT NULL,
    stan INTEGER NOT NULL, data TEXT NOT NULL, verified INTEGER NOT NULL, stamp TEXT NOT NULL,
    PRIMARY KEY (tid, class, orig_batch, orig_stan));
CREATE TABLE IF NOT EXISTS signature_parts (
    tid TEXT NOT NULL, orig_batch INTEGER NOT NULL, orig_stan INTEGER NOT NULL, part INTEGER NOT NULL,
    total INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (tid, orig_batch, orig_stan, part));
CREATE TABLE IF NOT EXISTS settlements (
    tid TEXT NOT NULL, batch INTEGER NOT NULL, stamp TEXT NOT NULL, terminal_totals TEXT NOT NULL,
    host_totals TEXT NOT NULL, result TEXT NOT NULL, PRIMARY KEY (tid, batch));
"#;

#[derive(Debug, Clone)]
pub struct Terminal {
    pub tid: String,
    pub mid: String,
    pub merchant_name: String,
    pub batch: u32,
    pub timeout_s: u32,
    pub reversal_attempts: u32,
    pub max_tip_percent: u32,
    pub need_signin: bool,
    pub need_capk: bool,
    pub need_aid: bool,
    /// `tdes` or `sm` (docs/PROTOCOL.md §11).
    pub key_family: KeyFamily,
}

#[derive(Clone)]
pub struct Card {
    pub id: i64,
    pub pan: String,
    pub pin: String,
    pub expiry: String,
    pub service_code: String,
    pub org: String,
    pub balance: i64,
    pub status: String,
    pub psn: String,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Card({})", possdk_core::mask_pan(&self.pan))
    }
}

/// Raw key bytes of a terminal (the simulator is its own HSM).
#[derive(Default)]
pub struct KeyRow {
    pub tmk: Option<Vec<u8>>,
    pub pending_tmk: Option<Vec<u8>>,
    pub pik: Option<Vec<u8>>,
    pub mak: Option<Vec<u8>>,
    pub tdk: Option<Vec<u8>>,
    /// The family of the keys: the terminal's.
    pub family: KeyFamily,
}

impl Drop for KeyRow {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for k in [
            &mut self.tmk,
            &mut self.pending_tmk,
            &mut self.pik,
            &mut self.mak,
            &mut self.tdk,
        ]
        .into_iter()
        .flatten()
        {
            k.zeroize();
        }
    }
}

/// One financial transaction as the host recorded it.
#[derive(Debug, Clone, Default)]
pub struct Txn {
    pub id: i64,
    pub tid: String,
    pub batch: u32,
    pub stan: u32,
    pub mti: u16,
    pub pcode: String,
    /// 60.1 type (`22` sale, `23` void, ...); `RV` for a reversal, `SA` for a script advice.
    pub kind: String,
    pub entry: String,
    pub amount: i64,
    pub tip: i64,
    /// approved | declined | voided | reversed | completed | tipped; QR payments not yet paid: open |
    /// paying | closed | expired
    pub state: String,
    pub rc: String,
    pub card_id: Option<i64>,
    pub pan_masked: String,
    pub voucher: Option<String>,
    pub org: String,
    pub rrn: String,
    pub auth: String,
    pub date: String,
    pub stamp: String,
    pub orig_id: Option<i64>,
    pub orig_prev_state: Option<String>,
    pub orig_prev_tip: Option<i64>,
    pub orig_refund: i64,
    /// Change applied to the card's balance (fen, signed).
    pub delta: i64,
    pub moved: bool,
    pub refunded: i64,
    /// Funds held by a pre-authorisation (released by its completion or void).
    pub hold: i64,
}

const TXN_COLS: &str = "id, tid, batch, stan, mti, pcode, kind, entry, amount, tip, state, rc, card_id, \
    pan_masked, voucher, org, rrn, auth, date, stamp, orig_id, orig_prev_state, orig_prev_tip, orig_refund, \
    delta, moved, refunded, hold";

fn txn_from_row(r: &Row<'_>) -> DbResult<Txn> {
    Ok(Txn {
        id: r.get(0)?,
        tid: r.get(1)?,
        batch: r.get(2)?,
        stan: r.get(3)?,
        mti: r.get(4)?,
        pcode: r.get(5)?,
        kind: r.get(6)?,
        entry: r.get(7)?,
        amount: r.get(8)?,
        tip: r.get(9)?,
        state: r.get(10)?,
        rc: r.get(11)?,
        card_id: r.get(12)?,
        pan_masked: r.get(13)?,
        voucher: r.get(14)?,
        org: r.get(15)?,
        rrn: r.get(16)?,
        auth: r.get(17)?,
        date: r.get(18)?,
        stamp: r.get(19)?,
        orig_id: r.get(20)?,
        orig_prev_state: r.get(21)?,
        orig_prev_tip: r.get(22)?,
        orig_refund: r.get(23)?,
        delta: r.get(24)?,
        moved: r.get::<_, i64>(25)? != 0,
        refunded: r.get(26)?,
        hold: r.get(27)?,
    })
}

fn card_from_row(r: &Row<'_>) -> DbResult<Card> {
    Ok(Card {
        id: r.get(0)?,
        pan: r.get(1)?,
        pin: r.get(2)?,
        expiry: r.get(3)?,
        service_code: r.get(4)?,
        org: r.get(5)?,
        balance: r.get(6)?,
        status: r.get(7)?,
        psn: r.get(8)?,
    })
}

const CARD_COLS: &str = "id, pan, pin, expiry, service_code, org, balance, status, psn";

/// Totals of one side (domestic or foreign) of a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Side {
    pub debit_count: u64,
    pub debit_amount: i64,
    pub credit_count: u64,
    pub credit_amount: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub domestic: Side,
    pub foreign: Side,
}

/// Debit kinds of docs/PROTOCOL.md §5 (sale, completion, offline sale; QR ones share the 60.1 codes) and
/// credit kinds.
pub fn is_debit(kind: &str) -> bool {
    kind == "22" || kind == "20" || kind == "30"
}
pub fn is_credit(kind: &str) -> bool {
    kind == "25"
}
/// Counted in settlement: an approved (or tipped / completed) debit or credit.
pub fn counted(t: &Txn) -> bool {
    (is_debit(&t.kind) || is_credit(&t.kind))
        && matches!(t.state.as_str(), "approved" | "tipped" | "completed")
}

/// A recorded chip upload: (class `tc`/`script`, original batch, original STAN, data hex, verified).
pub type ChipUpload = (String, u32, u32, String, bool);

/// (expiry YYYYMMDD, modulus, exponent) of a CAPK.
pub type CapkRow = (String, Vec<u8>, Vec<u8>);

pub struct Store {
    pub conn: Connection,
}

impl Store {
    pub fn open(path: &Path) -> DbResult<Store> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Plans that do not depend on bound values: otherwise SQLite re-parses a cached statement each
        // time a parameter its plan looked at is rebound (as the terminal's journal, core/src/journal).
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        conn.execute_batch(SCHEMA)?;
        // Databases made before the SM family have no key_family column: every terminal there is TDES.
        let has_family: bool = conn.query_row(
            "SELECT COUNT(*) FROM pragma_table_info('terminals') WHERE name = 'key_family'",
            [],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )?;
        if !has_family {
            conn.execute_batch(
                "ALTER TABLE terminals ADD COLUMN key_family TEXT NOT NULL DEFAULT 'tdes'",
            )?;
        }
        Ok(Store { conn })
    }

    pub fn meta(&self, key: &str) -> DbResult<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    }

    pub fn set_meta(&self, key: &str, value: &[u8]) -> DbResult<()> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Load a provisioning set. Terminals keep their batch and keys when they already exist; cards,
    /// devices, AIDs and CAPKs are replaced.
    pub fn provision(&self, p: &Provision) -> DbResult<()> {
        let tx = self.conn.unchecked_transaction()?;
        for t in &p.terminals {
            // Keys of another family mean nothing to the terminal any more.
            tx.execute(
                "DELETE FROM keys WHERE tid = ?1 AND EXISTS
                   (SELECT 1 FROM terminals WHERE tid = ?1 AND key_family != ?2)",
                params![t.tid, t.key_family.name()],
            )?;
            tx.execute(
                "INSERT INTO terminals (tid, mid, merchant_name, batch, timeout_s, reversal_attempts, max_tip_percent,
                                        key_family)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(tid) DO UPDATE SET mid = excluded.mid, merchant_name = excluded.merchant_name,
                   timeout_s = excluded.timeout_s, reversal_attempts = excluded.reversal_attempts,
                   max_tip_percent = excluded.max_tip_percent, key_family = excluded.key_family",
                params![
                    t.tid,
                    t.mid,
                    t.merchant_name,
                    t.batch,
                    t.timeout_s,
                    t.reversal_attempts,
                    t.max_tip_percent,
                    t.key_family.name()
                ],
            )?;
        }
        tx.execute("DELETE FROM devices", [])?;
        for d in &p.devices {
            tx.execute(
                "INSERT INTO devices (sn, token, tid) VALUES (?1, ?2, ?3)",
                params![d.sn, d.token, d.tid],
            )?;
        }
        tx.execute("DELETE FROM cards", [])?;
        for c in &p.cards {
            let org = c
                .org
                .clone()
                .unwrap_or_else(|| org_from_bin(&c.pan).to_string());
            tx.execute(
                "INSERT INTO cards (pan, pin, expiry, service_code, org, balance, status, psn)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    c.pan,
                    c.pin,
                    c.expiry,
                    c.service_code,
                    org,
                    c.balance,
                    c.status,
                    c.psn
                ],
            )?;
        }
        tx.execute("DELETE FROM aids", [])?;
        for (seq, a) in p.aids.iter().enumerate() {
            let aid = hex::decode(&a.aid).unwrap_or_default();
            let mut params_: Vec<(u32, Vec<u8>)> = default_aid_params();
            for (tag, val) in &a.params {
                let t = u32::from_str_radix(tag, 16).unwrap_or(0);
                let v = hex::decode(val).unwrap_or_default();
                match params_.iter_mut().find(|(pt, _)| *pt == t) {
                    Some(slot) => slot.1 = v,
                    None => params_.push((t, v)),
                }
            }
            let items: Vec<possdk_core::tlv::Tlv> = params_
                .into_iter()
                .map(|(t, v)| possdk_core::tlv::Tlv::primitive(t, v))
                .collect();
            tx.execute(
                "INSERT INTO aids (aid, params, seq) VALUES (?1, ?2, ?3)",
                params![aid, possdk_core::tlv::encode(&items), seq as i64],
            )?;
        }
        tx.execute("DELETE FROM capks", [])?;
        for (seq, k) in p.all_capks().iter().enumerate() {
            tx.execute(
                "INSERT OR REPLACE INTO capks (rid, idx, expiry, modulus, exponent, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    hex::decode(&k.rid).unwrap_or_default(),
                    k.index,
                    k.expiry,
                    hex::decode(&k.modulus).unwrap_or_default(),
                    hex::decode(&k.exponent).unwrap_or_default(),
                    seq as i64
                ],
            )?;
        }
        tx.commit()
    }

    pub fn terminal(&self, tid: &str) -> DbResult<Option<Terminal>> {
        self.conn
            .prepare_cached(
                "SELECT tid, mid, merchant_name, batch, timeout_s, reversal_attempts, max_tip_percent,
                        need_signin, need_capk, need_aid, key_family FROM terminals WHERE tid = ?1",
            )?
            .query_row([tid], |r| {
                Ok(Terminal {
                    tid: r.get(0)?,
                    mid: r.get(1)?,
                    merchant_name: r.get(2)?,
                    batch: r.get(3)?,
                    timeout_s: r.get(4)?,
                    reversal_attempts: r.get(5)?,
                    max_tip_percent: r.get(6)?,
                    need_signin: r.get::<_, i64>(7)? != 0,
                    need_capk: r.get::<_, i64>(8)? != 0,
                    need_aid: r.get::<_, i64>(9)? != 0,
                    key_family: family_of(&r.get::<_, String>(10)?),
                })
            })
            .optional()
    }

    pub fn set_batch(&self, tid: &str, batch: u32) -> DbResult<()> {
        self.conn.execute(
            "UPDATE terminals SET batch = ?2 WHERE tid = ?1",
            params![tid, batch],
        )?;
        Ok(())
    }

    /// Set one of the `need_signin` / `need_capk` / `need_aid` flags.
    pub fn set_flag(&self, tid: &str, flag: &str, on: bool) -> DbResult<()> {
        let col = match flag {
            "need_signin" => "need_signin",
            "need_capk" => "need_capk",
            _ => "need_aid",
        };
        self.conn.execute(
            &format!("UPDATE terminals SET {col} = ?2 WHERE tid = ?1"),
            params![tid, on as i64],
        )?;
        Ok(())
    }

    pub fn mark_activated(&self, tid: &str) -> DbResult<()> {
        self.conn
            .execute("UPDATE terminals SET activated = 1 WHERE tid = ?1", [tid])?;
        Ok(())
    }

    pub fn device(&self, sn: &str) -> DbResult<Option<(String, String)>> {
        self.conn
            .query_row("SELECT token, tid FROM devices WHERE sn = ?1", [sn], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
    }

    pub fn keys(&self, tid: &str) -> DbResult<KeyRow> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT k.tmk, k.pending_tmk, k.pik, k.mak, k.tdk, t.key_family
                 FROM keys k JOIN terminals t ON t.tid = k.tid WHERE k.tid = ?1",
            )?
            .query_row([tid], |r| {
                Ok(KeyRow {
                    tmk: r.get(0)?,
                    pending_tmk: r.get(1)?,
                    pik: r.get(2)?,
                    mak: r.get(3)?,
                    tdk: r.get(4)?,
                    family: family_of(&r.get::<_, String>(5)?),
                })
            })
            .optional()?
            .unwrap_or_default())
    }

    /// The key family of a terminal (TDES for an unknown one): how its field 52 is parsed.
    pub fn key_family(&self, tid: &str) -> DbResult<KeyFamily> {
        Ok(self
            .conn
            .prepare_cached("SELECT key_family FROM terminals WHERE tid = ?1")?
            .query_row([tid], |r| r.get::<_, String>(0))
            .optional()?
            .map(|f| family_of(&f))
            .unwrap_or_default())
    }

    /// Put a terminal (every terminal with `None`) in a key family. A terminal whose family changes loses its
    /// keys: it downloads a master key of the new family. Returns how many terminals changed.
    pub fn set_key_family(&self, tid: Option<&str>, family: KeyFamily) -> DbResult<usize> {
        let tx = self.conn.unchecked_transaction()?;
        let filter = "key_family != ?1 AND (?2 IS NULL OR tid = ?2)";
        tx.execute(
            &format!("DELETE FROM keys WHERE tid IN (SELECT tid FROM terminals WHERE {filter})"),
            params![family.name(), tid],
        )?;
        let n = tx.execute(
            &format!("UPDATE terminals SET key_family = ?1 WHERE {filter}"),
            params![family.name(), tid],
        )?;
        tx.commit()?;
        Ok(n)
    }

    pub fn set_pending_tmk(&self, tid: &str, tmk: &[u8]) -> DbResult<()> {
        self.conn.execute(
            "INSERT INTO keys (tid, pending_tmk) VALUES (?1, ?2)
             ON CONFLICT(tid) DO UPDATE SET pending_tmk = excluded.pending_tmk",
            params![tid, tmk],
        )?;
        Ok(())
    }

    /// Make the pending TMK active; working keys made under the old TMK are dropped.
    pub fn activate_tmk(&self, tid: &str) -> DbResult<()> {
        self.conn.execute(
            "UPDATE keys SET tmk = pending_tmk, pending_tmk = NULL, pik = NULL, mak = NULL, tdk = NULL WHERE tid = ?1",
            [tid],
        )?;
        Ok(())
    }

    /// Install an active TMK directly (`--fixed-keys`), keeping nothing else.
    pub fn set_tmk(&self, tid: &str, tmk: &[u8]) -> DbResult<()> {
        self.conn.execute(
            "INSERT INTO keys (tid, tmk) VALUES (?1, ?2) ON CONFLICT(tid) DO UPDATE SET tmk = excluded.tmk",
            params![tid, tmk],
        )?;
        Ok(())
    }

    pub fn set_working_keys(
        &self,
        tid: &str,
        pik: &[u8],
        mak: &[u8],
        tdk: &[u8],
        stamp: &str,
    ) -> DbResult<()> {
        self.conn.execute(
            "UPDATE keys SET pik = ?2, mak = ?3, tdk = ?4, signed_in = ?5 WHERE tid = ?1",
            params![tid, pik, mak, tdk, stamp],
        )?;
        Ok(())
    }

    /// Sign-off: the working keys are dropped (a new sign-in makes new ones).
    pub fn clear_working_keys(&self, tid: &str) -> DbResult<()> {
        self.conn.execute(
            "UPDATE keys SET pik = NULL, mak = NULL, tdk = NULL, signed_in = NULL WHERE tid = ?1",
            [tid],
        )?;
        Ok(())
    }

    pub fn card_by_pan(&self, pan: &str) -> DbResult<Option<Card>> {
        self.conn
            .prepare_cached(&format!("SELECT {CARD_COLS} FROM cards WHERE pan = ?1"))?
            .query_row([pan], card_from_row)
            .optional()
    }

    pub fn card_by_id(&self, id: i64) -> DbResult<Option<Card>> {
        self.conn
            .prepare_cached(&format!("SELECT {CARD_COLS} FROM cards WHERE id = ?1"))?
            .query_row([id], card_from_row)
            .optional()
    }

    pub fn adjust_balance(&self, card_id: i64, delta: i64) -> DbResult<()> {
        if delta != 0 {
            self.conn
                .prepare_cached("UPDATE cards SET balance = balance + ?2 WHERE id = ?1")?
                .execute(params![card_id, delta])?;
        }
        Ok(())
    }

    pub fn balance_of(&self, pan: &str) -> DbResult<Option<i64>> {
        self.conn
            .query_row("SELECT balance FROM cards WHERE pan = ?1", [pan], |r| {
                r.get(0)
            })
            .optional()
    }

    fn one_txn(&self, sql_where: &str, p: impl rusqlite::Params) -> DbResult<Option<Txn>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {TXN_COLS} FROM txns WHERE {sql_where} ORDER BY id DESC LIMIT 1"
            ))?
            .query_row(p, txn_from_row)
            .optional()
    }

    pub fn txn_by_id(&self, id: i64) -> DbResult<Option<Txn>> {
        self.one_txn("id = ?1", [id])
    }

    pub fn txn_by_key(&self, tid: &str, batch: u32, stan: u32, mti: u16) -> DbResult<Option<Txn>> {
        self.one_txn(
            "tid = ?1 AND batch = ?2 AND stan = ?3 AND mti = ?4",
            params![tid, batch, stan, mti],
        )
    }

    /// A 0100/0200 financial transaction by (TID, batch, STAN).
    pub fn txn_by_stan(&self, tid: &str, batch: u32, stan: u32) -> DbResult<Option<Txn>> {
        self.one_txn(
            "tid = ?1 AND batch = ?2 AND stan = ?3 AND mti IN (100, 200, 220)",
            params![tid, batch, stan],
        )
    }

    /// Latest transaction with a given STAN in any batch (admin `tx` without a batch).
    pub fn txn_by_stan_any(&self, tid: &str, stan: u32) -> DbResult<Option<Txn>> {
        self.one_txn(
            "tid = ?1 AND stan = ?2 AND mti IN (100, 200, 220)",
            params![tid, stan],
        )
    }

    pub fn txn_by_rrn(&self, tid: &str, rrn: &str) -> DbResult<Option<Txn>> {
        self.one_txn(
            "tid = ?1 AND rrn = ?2 AND state <> 'declined'",
            params![tid, rrn],
        )
    }

    pub fn txn_by_auth(&self, tid: &str, auth: &str, kind: &str) -> DbResult<Option<Txn>> {
        self.one_txn(
            "tid = ?1 AND auth = ?2 AND kind = ?3 AND state <> 'declined'",
            params![tid, auth, kind],
        )
    }

    pub fn txn_by_voucher(&self, tid: &str, voucher: &str, kind: &str) -> DbResult<Option<Txn>> {
        self.one_txn(
            "tid = ?1 AND voucher = ?2 AND kind = ?3 AND state <> 'declined'",
            params![tid, voucher, kind],
        )
    }

    pub fn insert_txn(&self, t: &Txn) -> DbResult<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO txns (tid, batch, stan, mti, pcode, kind, entry, amount, tip, state, rc, card_id,
                   pan_masked, voucher, org, rrn, auth, date, stamp, orig_id, orig_prev_state, orig_prev_tip,
                   orig_refund, delta, moved, refunded, hold)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
                   ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)",
            )?
            .execute(params![
                t.tid,
                t.batch,
                t.stan,
                t.mti,
                t.pcode,
                t.kind,
                t.entry,
                t.amount,
                t.tip,
                t.state,
                t.rc,
                t.card_id,
                t.pan_masked,
                t.voucher,
                t.org,
                t.rrn,
                t.auth,
                t.date,
                t.stamp,
                t.orig_id,
                t.orig_prev_state,
                t.orig_prev_tip,
                t.orig_refund,
                t.delta,
                t.moved as i64,
                t.refunded,
                t.hold
            ])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Write back the mutable part of a transaction (state, tip, refunded, hold).
    pub fn update_txn(&self, t: &Txn) -> DbResult<()> {
        self.conn
            .prepare_cached(
                "UPDATE txns SET state = ?2, tip = ?3, refunded = ?4, hold = ?5 WHERE id = ?1",
            )?
            .execute(params![t.id, t.state, t.tip, t.refunded, t.hold])?;
        Ok(())
    }

    /// Write back a QR payment's progress (state, code, reference, authorisation id, moved).
    pub fn update_qr(&self, t: &Txn) -> DbResult<()> {
        self.conn
            .prepare_cached(
                "UPDATE txns SET state = ?2, rc = ?3, rrn = ?4, auth = ?5, moved = ?6 WHERE id = ?1",
            )?
            .execute(params![t.id, t.state, t.rc, t.rrn, t.auth, t.moved])?;
        Ok(())
    }

    pub fn batch_txns(&self, tid: &str, batch: u32) -> DbResult<Vec<Txn>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {TXN_COLS} FROM txns WHERE tid = ?1 AND batch = ?2 ORDER BY id"
        ))?;
        let rows = st.query_map(params![tid, batch], txn_from_row)?;
        rows.collect()
    }

    /// docs/PROTOCOL.md §5 totals of a batch from the ledger.
    pub fn totals(&self, tid: &str, batch: u32) -> DbResult<Totals> {
        let mut t = Totals::default();
        for x in self.batch_txns(tid, batch)? {
            if !counted(&x) {
                continue;
            }
            let domestic = x.org == "CUP" || x.voucher.is_some();
            let side = if domestic {
                &mut t.domestic
            } else {
                &mut t.foreign
            };
            if is_debit(&x.kind) {
                side.debit_count += 1;
                side.debit_amount += x.amount + x.tip;
            } else {
                side.credit_count += 1;
                side.credit_amount += x.amount;
            }
        }
        Ok(t)
    }

    pub fn ledger_count(&self, tid: &str) -> DbResult<i64> {
        self.conn.query_row(
            "SELECT COUNT(*) FROM txns WHERE tid = ?1 AND moved = 1",
            [tid],
            |r| r.get(0),
        )
    }

    pub fn replay(
        &self,
        tid: &str,
        batch: u32,
        stan: u32,
        mti: u16,
    ) -> DbResult<Option<(Vec<u8>, Vec<u8>)>> {
        self.conn
            .prepare_cached("SELECT body_hash, response FROM replay WHERE tid = ?1 AND batch = ?2 AND stan = ?3 AND mti = ?4")?
            .query_row(params![tid, batch, stan, mti], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
    }

    pub fn put_replay(
        &self,
        tid: &str,
        batch: u32,
        stan: u32,
        mti: u16,
        hash: &[u8],
        response: &[u8],
    ) -> DbResult<()> {
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO replay (tid, batch, stan, mti, body_hash, response) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
            .execute(params![tid, batch, stan, mti, hash, response])?;
        Ok(())
    }

    pub fn log_message(
        &self,
        stamp: &str,
        tid: Option<&str>,
        request: &str,
        response: &str,
    ) -> DbResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO messages (stamp, tid, request, response) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![stamp, tid, request, response])?;
        Ok(())
    }

    pub fn message_count(&self) -> DbResult<i64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
    }

    /// CAPK list entries (RID, index, expiry) in provisioning order.
    pub fn capk_list(&self) -> DbResult<Vec<(Vec<u8>, u8, String)>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT rid, idx, expiry FROM capks ORDER BY seq")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect()
    }

    /// (expiry, modulus, exponent) of one CAPK.
    pub fn capk(&self, rid: &[u8], idx: u8) -> DbResult<Option<CapkRow>> {
        self.conn
            .query_row(
                "SELECT expiry, modulus, exponent FROM capks WHERE rid = ?1 AND idx = ?2",
                params![rid, idx],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
    }

    pub fn aid_list(&self) -> DbResult<Vec<Vec<u8>>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT aid FROM aids ORDER BY seq")?;
        let rows = st.query_map([], |r| r.get(0))?;
        rows.collect()
    }

    pub fn aid_params(&self, aid: &[u8]) -> DbResult<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT params FROM aids WHERE aid = ?1", [aid], |r| {
                r.get(0)
            })
            .optional()
    }

    pub fn put_upload(
        &self,
        tid: &str,
        batch: u32,
        ob: u32,
        os: u32,
        amount: i64,
        kind: &str,
    ) -> DbResult<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO uploads (tid, batch, orig_batch, orig_stan, amount, kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![tid, batch, ob, os, amount, kind],
        )?;
        Ok(())
    }

    /// A chip upload (`tc`, `script`) of a transaction. The first one is kept: a resent upload changes
    /// nothing. Returns whether it was new.
    #[allow(clippy::too_many_arguments)]
    pub fn put_chip_upload(
        &self,
        tid: &str,
        class: &str,
        ob: u32,
        os: u32,
        stan: u32,
        data: &str,
        verified: bool,
        stamp: &str,
    ) -> DbResult<bool> {
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO chip_uploads (tid, class, orig_batch, orig_stan, stan, data, verified, stamp) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![tid, class, ob, os, stan, data, verified, stamp],
        )?;
        Ok(n == 1)
    }

    /// One segment of a transaction's signature (kept once); returns all segments when `total` are in.
    pub fn put_signature_part(
        &self,
        tid: &str,
        ob: u32,
        os: u32,
        part: u8,
        total: u8,
        data: &[u8],
    ) -> DbResult<Option<Vec<u8>>> {
        self.conn.execute(
            "INSERT OR IGNORE INTO signature_parts (tid, orig_batch, orig_stan, part, total, data) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![tid, ob, os, part, total, data],
        )?;
        let mut st = self.conn.prepare(
            "SELECT data FROM signature_parts WHERE tid = ?1 AND orig_batch = ?2 AND orig_stan = ?3 \
             AND total = ?4 ORDER BY part",
        )?;
        let parts: Vec<Vec<u8>> = st
            .query_map(params![tid, ob, os, total], |r| r.get(0))?
            .collect::<DbResult<_>>()?;
        Ok((parts.len() == usize::from(total)).then(|| parts.concat()))
    }

    /// Chip uploads of a terminal, oldest first.
    pub fn chip_uploads(&self, tid: &str) -> DbResult<Vec<ChipUpload>> {
        let mut st = self.conn.prepare(
            "SELECT class, orig_batch, orig_stan, data, verified FROM chip_uploads WHERE tid = ?1 ORDER BY rowid",
        )?;
        let rows = st.query_map([tid], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        rows.collect()
    }

    /// Uploaded (orig batch, orig STAN, amount) of a batch.
    pub fn uploads(&self, tid: &str, batch: u32) -> DbResult<Vec<(u32, u32, i64)>> {
        let mut st = self.conn.prepare(
            "SELECT orig_batch, orig_stan, amount FROM uploads WHERE tid = ?1 AND batch = ?2",
        )?;
        let rows = st.query_map(params![tid, batch], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        rows.collect()
    }

    pub fn put_settlement(
        &self,
        tid: &str,
        batch: u32,
        stamp: &str,
        term: &str,
        host: &str,
        result: &str,
    ) -> DbResult<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO settlements (tid, batch, stamp, terminal_totals, host_totals, result) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![tid, batch, stamp, term, host, result],
        )?;
        Ok(())
    }
}

/// A stored family name; anything unknown reads as TDES (the column only ever holds `tdes` or `sm`).
fn family_of(name: &str) -> KeyFamily {
    KeyFamily::from_name(name).unwrap_or_default()
}

//! Local transaction journal: SQLite (rusqlite, bundled), WAL, synchronous FULL.
//!
//! Everything the terminal must not lose is written here *before* a request leaves: the STAN/batch
//! counters, the transaction row (state `pending`), the pending reversal or the advice to resend.
//! PANs are stored sealed (AES-256-GCM) plus masked; track data, PIN and CVV never.
//! Reversal bodies and advice frames (which hold a PAN, and an advice may hold card data) are sealed too
//! and deleted as soon as the host has answered them.

mod schema;

use crate::crypto::seal;
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use std::path::Path;
use zeroize::Zeroizing;

/// A journal failure: what failed, and the storage or sealing error underneath when there is one.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal: {0}")]
    Storage(#[from] rusqlite::Error),
    #[error("journal: sealed column: {0}")]
    Sealing(#[from] crate::crypto::CryptoError),
    /// The journal's own rules (a row that should exist, a counter out of range).
    #[error("journal: {0}")]
    Invalid(String),
}
pub type JResult<T> = Result<T, JournalError>;

/// Final (or current) state of a journal row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxState {
    /// Request recorded, no valid answer yet.
    Pending,
    Approved,
    Declined,
    /// Approved, later voided (or, for a pre-auth, completed: see `completed`).
    Voided,
    /// Undone by a 0400.
    Reversed,
    /// Never reached the host (connect failed) or failed before sending.
    Failed,
}

impl TxState {
    pub fn as_str(self) -> &'static str {
        match self {
            TxState::Pending => "pending",
            TxState::Approved => "approved",
            TxState::Declined => "declined",
            TxState::Voided => "voided",
            TxState::Reversed => "reversed",
            TxState::Failed => "failed",
        }
    }
}

/// What the flow knows when it records a request.
#[derive(Debug, Clone, Default)]
pub struct NewTx {
    /// Flow kind name (`sale`, `qr_sale`, `void`, ... see flows::kinds).
    pub kind: String,
    pub mti: u16,
    pub batch: u32,
    pub stan: u32,
    pub amount: u64,
    pub tip: u64,
    /// Full PAN: stored sealed; `masked_pan` is derived by the journal.
    pub pan: Option<String>,
    /// Field 22 as sent (`021`, `051`, `032` ...).
    pub entry_mode: Option<String>,
    /// QR voucher (59 A4) of the original, or the payment code's voucher once known.
    pub voucher: Option<String>,
    /// Journal id of the original (void, tip, tip void, completion void).
    pub original_id: Option<i64>,
    /// 61 values sent (original batch, STAN, date), for refunds/completions whose original is not local.
    pub original_batch: Option<u32>,
    pub original_stan: Option<u32>,
    pub original_date: Option<String>,
    pub reference: Option<String>,
    pub auth_code: Option<String>,
    /// ISO 8601 local time the request was made.
    pub created_at: String,
}

/// A stored transaction.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TxRecord {
    pub id: i64,
    pub kind: String,
    pub mti: u16,
    pub batch: u32,
    pub stan: u32,
    pub amount: u64,
    /// Current tip (sales), or the tip amount (tip / tip-void rows).
    pub tip: u64,
    pub masked_pan: Option<String>,
    pub entry_mode: Option<String>,
    pub voucher: Option<String>,
    pub card_org: Option<String>,
    pub reference: Option<String>,
    pub auth_code: Option<String>,
    pub response_code: Option<String>,
    /// Host date MMDD (13) and time hhmmss (12) of the answer.
    pub host_date: Option<String>,
    pub host_time: Option<String>,
    pub state: TxState,
    /// Pre-auth fully completed (no further completion / void) until a completion void reopens it.
    pub completed: bool,
    /// Amount already refunded against this row (when the refund's original is local).
    pub refunded: u64,
    pub original_id: Option<i64>,
    pub original_batch: Option<u32>,
    pub original_stan: Option<u32>,
    pub original_date: Option<String>,
    pub created_at: String,
}

/// The host's answer as recorded.
#[derive(Debug, Clone, Default)]
pub struct TxOutcome {
    pub state: Option<TxState>,
    pub response_code: Option<String>,
    pub reference: Option<String>,
    pub auth_code: Option<String>,
    pub card_org: Option<String>,
    pub voucher: Option<String>,
    pub host_date: Option<String>,
    pub host_time: Option<String>,
}

/// A change to another row applied in the same SQLite transaction as an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    SetState { id: i64, state: TxState },
    SetTip { id: i64, tip: u64 },
    SetCompleted { id: i64, completed: bool },
    AddRefunded { id: i64, amount: u64 },
}

/// A reversal owed to the host (docs/PROTOCOL.md §6).
#[derive(Clone, PartialEq, Eq)]
pub struct PendingReversal {
    pub tx_id: i64,
    pub stan: u32,
    /// Encoded 0400 body draft (fields per §6, without 39/38/64), kept sealed at rest.
    pub body: Vec<u8>,
    /// 39 reason once known (`98`, `A0`, `06`); None while the original is in flight.
    pub reason: Option<String>,
    /// 38 of the original's response, when one was received.
    pub auth_code: Option<String>,
    pub attempts: u32,
    /// Attempts exhausted: needs attention, retried before settlement.
    pub flagged: bool,
}

impl std::fmt::Debug for PendingReversal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingReversal")
            .field("tx_id", &self.tx_id)
            .field("stan", &self.stan)
            .field("reason", &self.reason)
            .field("attempts", &self.attempts)
            .field("flagged", &self.flagged)
            .finish_non_exhaustive()
    }
}

/// An 0220 advice waiting for an answer: the exact frame to resend.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingAdvice {
    pub tx_id: i64,
    pub stan: u32,
    pub frame: Vec<u8>,
    pub attempts: u32,
}

/// A store-and-forward upload of a transaction (docs/PROTOCOL.md §6.6) waiting for an answer: its class
/// (`tc`, `script`), its own STAN and the exact frame to resend.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingUpload {
    pub id: i64,
    pub tx_id: i64,
    pub class: String,
    pub stan: u32,
    pub frame: Vec<u8>,
    pub attempts: u32,
}

impl std::fmt::Debug for PendingUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PendingUpload({} of tx {}, stan {}, attempts {})",
            self.class, self.tx_id, self.stan, self.attempts
        )
    }
}

/// An upload to queue with a transaction's outcome (`Journal::record_outcome_with`).
pub struct NewUpload<'a> {
    pub class: &'a str,
    pub stan: u32,
    pub frame: &'a [u8],
}

impl std::fmt::Debug for PendingAdvice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PendingAdvice(tx {}, stan {}, attempts {})",
            self.tx_id, self.stan, self.attempts
        )
    }
}

/// The journal. One SQLite connection in WAL mode with `synchronous = FULL`: a committed write survives a
/// power cut.
pub struct Journal {
    conn: Connection,
    seal_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Journal({:?})", self.conn.path())
    }
}

fn db(e: rusqlite::Error) -> JournalError {
    JournalError::Storage(e)
}

fn sealing(e: crate::crypto::CryptoError) -> JournalError {
    JournalError::Sealing(e)
}

const TX_COLUMNS: &str = "id, kind, mti, batch, stan, amount, tip, masked_pan, entry_mode, voucher, card_org, \
     reference, auth_code, response_code, host_date, host_time, state, completed, refunded, original_id, \
     original_batch, original_stan, original_date, created_at";

fn state_from_str(s: &str) -> rusqlite::Result<TxState> {
    Ok(match s {
        "pending" => TxState::Pending,
        "approved" => TxState::Approved,
        "declined" => TxState::Declined,
        "voided" => TxState::Voided,
        "reversed" => TxState::Reversed,
        "failed" => TxState::Failed,
        other => {
            return Err(rusqlite::Error::FromSqlConversionFailure(
                16,
                rusqlite::types::Type::Text,
                format!("unknown state {other}").into(),
            ))
        }
    })
}

fn tx_from_row(r: &Row<'_>) -> rusqlite::Result<TxRecord> {
    let state: String = r.get(16)?;
    Ok(TxRecord {
        id: r.get(0)?,
        kind: r.get(1)?,
        mti: r.get(2)?,
        batch: r.get(3)?,
        stan: r.get(4)?,
        amount: r.get::<_, i64>(5)? as u64,
        tip: r.get::<_, i64>(6)? as u64,
        masked_pan: r.get(7)?,
        entry_mode: r.get(8)?,
        voucher: r.get(9)?,
        card_org: r.get(10)?,
        reference: r.get(11)?,
        auth_code: r.get(12)?,
        response_code: r.get(13)?,
        host_date: r.get(14)?,
        host_time: r.get(15)?,
        state: state_from_str(&state)?,
        completed: r.get(17)?,
        refunded: r.get::<_, i64>(18)? as u64,
        original_id: r.get(19)?,
        original_batch: r.get(20)?,
        original_stan: r.get(21)?,
        original_date: r.get(22)?,
        created_at: r.get(23)?,
    })
}

/// Amounts are n12 (< 10^12 fen), so they always fit an SQLite INTEGER.
fn amount_sql(v: u64) -> JResult<i64> {
    i64::try_from(v).map_err(|_| JournalError::Invalid(format!("amount {v} out of range")))
}

/// `execute` through the connection's statement cache: the journal runs the same few statements for every
/// transaction, and preparing one costs more than running it.
fn exec(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// `query_row` through the statement cache.
fn one<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(params, f)
}

fn meta_get(conn: &Connection, key: &str) -> JResult<Option<String>> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")
        .and_then(|mut stmt| stmt.query_row([key], |r| r.get(0)).optional())
        .map_err(db)
}

fn meta_set(conn: &Connection, key: &str, value: &str) -> JResult<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )
    .and_then(|mut stmt| stmt.execute(params![key, value]))
    .map_err(db)?;
    Ok(())
}

fn meta_u32(conn: &Connection, key: &str, default: u32) -> JResult<u32> {
    match meta_get(conn, key)? {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| JournalError::Invalid(format!("meta {key} is not a number"))),
    }
}

fn apply_effects(tx: &Transaction<'_>, effects: &[Effect]) -> JResult<()> {
    for e in effects {
        let n = match *e {
            Effect::SetState { id, state } => exec(
                tx,
                "UPDATE tx SET state = ?2 WHERE id = ?1",
                params![id, state.as_str()],
            ),
            Effect::SetTip { id, tip } => exec(
                tx,
                "UPDATE tx SET tip = ?2 WHERE id = ?1",
                params![id, amount_sql(tip)?],
            ),
            Effect::SetCompleted { id, completed } => exec(
                tx,
                "UPDATE tx SET completed = ?2 WHERE id = ?1",
                params![id, completed],
            ),
            Effect::AddRefunded { id, amount } => exec(
                tx,
                "UPDATE tx SET refunded = refunded + ?2 WHERE id = ?1",
                params![id, amount_sql(amount)?],
            ),
        }
        .map_err(db)?;
        if n != 1 {
            return Err(JournalError::Invalid(format!(
                "effect {e:?} matched {n} rows"
            )));
        }
    }
    Ok(())
}

fn pan_aad(batch: u32, stan: u32) -> Vec<u8> {
    format!("pan:{batch}:{stan}").into_bytes()
}

fn reversal_aad(tx_id: i64, stan: u32) -> Vec<u8> {
    format!("reversal:{tx_id}:{stan}").into_bytes()
}

fn advice_aad(tx_id: i64, stan: u32) -> Vec<u8> {
    format!("advice:{tx_id}:{stan}").into_bytes()
}

/// The rows `Journal::prune` keeps (?1 the open batch, ?2 how many settled batches to keep): the open batch, the
/// last `retain` settled ones, every row owing a reversal or an advice, and transitively the originals of each.
const PRUNE_KEEP: &str = "WITH RECURSIVE
    recent(batch) AS (
      SELECT batch FROM tx WHERE batch != ?1 GROUP BY batch ORDER BY MAX(id) DESC LIMIT ?2),
    keep(id) AS (
      SELECT id FROM tx WHERE batch = ?1 OR batch IN recent
        OR id IN (SELECT tx_id FROM reversal) OR id IN (SELECT tx_id FROM advice)
      UNION
      SELECT t.original_id FROM tx t JOIN keep k ON t.id = k.id
        WHERE t.original_id IS NOT NULL)";

impl Journal {
    /// Open (creating and migrating) the journal at `path`. `seal_key` seals PANs and pending messages.
    pub fn open(path: &Path, seal_key: &[u8; 32]) -> JResult<Journal> {
        let conn = Connection::open(path).map_err(db)?;
        Self::init(conn, seal_key)
    }

    #[cfg(test)]
    pub fn open_in_memory(seal_key: &[u8; 32]) -> JResult<Journal> {
        let conn = Connection::open_in_memory().map_err(db)?;
        Self::init(conn, seal_key)
    }

    fn init(conn: Connection, seal_key: &[u8; 32]) -> JResult<Journal> {
        // WAL: readers never block the writer; FULL: a commit is on disk before it returns.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        conn.pragma_update(None, "foreign_keys", true).map_err(db)?;
        // Room for every statement a transaction and its settlement use (rusqlite's default is 16).
        conn.set_prepared_statement_cache_capacity(64);
        // The query planner stability guarantee: plans do not depend on bound values. Without it SQLite
        // re-prepares (re-parses) a cached statement whose plan looked at a parameter each time that
        // parameter is rebound, which was the largest part of a sale's own work (docs/PERFORMANCE.md §2).
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db)?;
        let mut j = Journal {
            conn,
            seal_key: Zeroizing::new(*seal_key),
        };
        schema::migrate(&mut j.conn)?;
        Ok(j)
    }

    /// Benchmarks and tests only (feature `instrument`, never enabled by the shipped libraries): count the
    /// commits of this connection from now on, and choose whether a commit waits for the disk (`durable`:
    /// `synchronous = FULL`, the product's setting) or not (`synchronous = OFF`, so a benchmark can tell the
    /// terminal's own work from fsync). Returns the counter.
    #[cfg(feature = "instrument")]
    pub fn instrument(
        &mut self,
        durable: bool,
    ) -> JResult<std::sync::Arc<std::sync::atomic::AtomicU64>> {
        use std::sync::atomic::{AtomicU64, Ordering};
        let mode = if durable { "FULL" } else { "OFF" };
        self.conn
            .pragma_update(None, "synchronous", mode)
            .map_err(db)?;
        let commits = std::sync::Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        self.conn
            .commit_hook(Some(move || {
                counter.fetch_add(1, Ordering::Relaxed);
                // false: let the commit go ahead.
                false
            }))
            .map_err(db)?;
        Ok(commits)
    }

    #[cfg(test)]
    pub fn schema_version(&self) -> JResult<u32> {
        schema::version(&self.conn)
    }

    // ---- counters and settings ----
    pub fn batch(&self) -> JResult<u32> {
        meta_u32(&self.conn, "batch", 1)
    }

    pub fn set_batch(&mut self, batch: u32) -> JResult<()> {
        if !(1..=999_999).contains(&batch) {
            return Err(JournalError::Invalid(format!("batch {batch} out of range")));
        }
        meta_set(&self.conn, "batch", &batch.to_string())
    }

    /// The STAN the next request will use (000001..999999, wraps).
    pub fn peek_stan(&self) -> JResult<u32> {
        meta_u32(&self.conn, "stan", 1)
    }

    /// Allocate a STAN durably and return it.
    pub fn next_stan(&mut self) -> JResult<u32> {
        let tx = self.conn.transaction().map_err(db)?;
        let stan = meta_u32(&tx, "stan", 1)?;
        let next = if stan >= 999_999 { 1 } else { stan + 1 };
        meta_set(&tx, "stan", &next.to_string())?;
        tx.commit().map_err(db)?;
        Ok(stan)
    }

    /// Allocate `n` consecutive STANs (wrapping after 999999) in one durable commit: the batch upload's
    /// records. A crash before they are all used only skips numbers; none is ever handed out twice.
    pub fn take_stans(&mut self, n: u32) -> JResult<Vec<u32>> {
        let tx = self.conn.transaction().map_err(db)?;
        let mut stan = meta_u32(&tx, "stan", 1)?;
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            out.push(stan);
            stan = if stan >= 999_999 { 1 } else { stan + 1 };
        }
        meta_set(&tx, "stan", &stan.to_string())?;
        tx.commit().map_err(db)?;
        Ok(out)
    }

    pub fn setting(&self, key: &str) -> JResult<Option<String>> {
        meta_get(&self.conn, &format!("setting.{key}"))
    }

    pub fn set_setting(&mut self, key: &str, value: &str) -> JResult<()> {
        meta_set(&self.conn, &format!("setting.{key}"), value)
    }

    pub fn delete_setting(&mut self, key: &str) -> JResult<()> {
        exec(
            &self.conn,
            "DELETE FROM meta WHERE key = ?1",
            [format!("setting.{key}")],
        )
        .map_err(db)?;
        Ok(())
    }

    // ---- transaction lifecycle ----
    /// Record a request before it is sent, in one durable SQLite transaction together with its pending
    /// reversal (0100/0200) or its advice frame (0220). Returns the row id. The `tx_id` inside
    /// `reversal` / `advice` is ignored: they are bound to the new row.
    ///
    /// A request built on `peek_stan()` consumes that STAN here, in the same commit: the counter moves
    /// past `new.stan` when it still equals it (a STAN taken earlier with `next_stan` is left alone), so a
    /// request that never reached the journal leaves the counter where it was, at the cost of no extra
    /// fsync.
    pub fn record_request(
        &mut self,
        new: &NewTx,
        reversal: Option<&PendingReversal>,
        advice: Option<&PendingAdvice>,
    ) -> JResult<i64> {
        let key = *self.seal_key;
        let (pan_sealed, masked) = match new.pan.as_deref() {
            Some(pan) => (
                Some(
                    seal::seal(&key, pan.as_bytes(), &pan_aad(new.batch, new.stan))
                        .map_err(sealing)?,
                ),
                Some(crate::mask_pan(pan)),
            ),
            None => (None, None),
        };
        let tx = self.conn.transaction().map_err(db)?;
        if meta_u32(&tx, "stan", 1)? == new.stan {
            let next = if new.stan >= 999_999 { 1 } else { new.stan + 1 };
            meta_set(&tx, "stan", &next.to_string())?;
        }
        exec(&tx,
            "INSERT INTO tx (kind, mti, batch, stan, amount, tip, pan_sealed, masked_pan, entry_mode, voucher, \
             reference, auth_code, state, original_id, original_batch, original_stan, original_date, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'pending', ?13, ?14, ?15, ?16, ?17)",
            params![
                new.kind,
                new.mti,
                new.batch,
                new.stan,
                amount_sql(new.amount)?,
                amount_sql(new.tip)?,
                pan_sealed,
                masked,
                new.entry_mode,
                new.voucher,
                new.reference,
                new.auth_code,
                new.original_id,
                new.original_batch,
                new.original_stan,
                new.original_date,
                new.created_at,
            ],
        )
        .map_err(db)?;
        let id = tx.last_insert_rowid();
        if let Some(r) = reversal {
            let body = seal::seal(&key, &r.body, &reversal_aad(id, r.stan)).map_err(sealing)?;
            exec(&tx,
                "INSERT INTO reversal (tx_id, stan, body_sealed, reason, auth_code, attempts, flagged) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, r.stan, body, r.reason, r.auth_code, r.attempts, r.flagged],
            )
            .map_err(db)?;
        }
        if let Some(a) = advice {
            let frame = seal::seal(&key, &a.frame, &advice_aad(id, a.stan)).map_err(sealing)?;
            exec(
                &tx,
                "INSERT INTO advice (tx_id, stan, frame_sealed, attempts) VALUES (?1, ?2, ?3, ?4)",
                params![id, a.stan, frame, a.attempts],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(id)
    }

    /// Record the answer: update the row, apply `effects` to other rows, and clear the row's pending
    /// reversal / advice when `clear_pending` — all in one SQLite transaction.
    pub fn record_outcome(
        &mut self,
        id: i64,
        outcome: &TxOutcome,
        effects: &[Effect],
        clear_pending: bool,
    ) -> JResult<()> {
        self.record_outcome_with(id, outcome, effects, clear_pending, &[])
    }

    /// `record_outcome` that also queues the row's uploads (TC, script results) in the same SQLite
    /// transaction: an approved chip sale never exists without its TC upload owed.
    pub fn record_outcome_with(
        &mut self,
        id: i64,
        outcome: &TxOutcome,
        effects: &[Effect],
        clear_pending: bool,
        uploads: &[NewUpload<'_>],
    ) -> JResult<()> {
        let key = *self.seal_key;
        let tx = self.conn.transaction().map_err(db)?;
        let n = exec(&tx,
                "UPDATE tx SET state = COALESCE(?2, state), response_code = COALESCE(?3, response_code), \
                 reference = COALESCE(?4, reference), auth_code = COALESCE(?5, auth_code), \
                 card_org = COALESCE(?6, card_org), voucher = COALESCE(?7, voucher), \
                 host_date = COALESCE(?8, host_date), host_time = COALESCE(?9, host_time) WHERE id = ?1",
                params![
                    id,
                    outcome.state.map(TxState::as_str),
                    outcome.response_code,
                    outcome.reference,
                    outcome.auth_code,
                    outcome.card_org,
                    outcome.voucher,
                    outcome.host_date,
                    outcome.host_time,
                ],
            )
            .map_err(db)?;
        if n != 1 {
            return Err(JournalError::Invalid(format!("no transaction {id}")));
        }
        apply_effects(&tx, effects)?;
        if clear_pending {
            exec(&tx, "DELETE FROM reversal WHERE tx_id = ?1", [id]).map_err(db)?;
            exec(
                &tx,
                "DELETE FROM advice WHERE tx_id = ?1 AND class = 'advice'",
                [id],
            )
            .map_err(db)?;
        }
        for u in uploads {
            let frame = seal::seal(&key, u.frame, &advice_aad(id, u.stan)).map_err(sealing)?;
            exec(
                &tx,
                "INSERT INTO advice (tx_id, class, stan, frame_sealed) VALUES (?1, ?2, ?3, ?4)",
                params![id, u.class, u.stan, frame],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    /// Rows left `pending` with no reversal and no advice owed for them (an inquiry, which moves no money,
    /// interrupted by a crash) become `failed`: nothing can answer them any more. Rows of the `open_kinds`
    /// (merchant-presented orders, resolved by a status query) stay pending. Returns how many.
    pub fn fail_orphans(&mut self, open_kinds: &[&str]) -> JResult<usize> {
        exec(&self.conn,
                &format!(
                    "UPDATE tx SET state = 'failed' WHERE state = 'pending' \
                     AND id NOT IN (SELECT tx_id FROM reversal) AND id NOT IN (SELECT tx_id FROM advice) \
                     AND kind NOT IN ({})",
                    placeholders(open_kinds.len())
                ),
                rusqlite::params_from_iter(open_kinds),
            )
            .map_err(db)
    }

    /// Rows of a kind still `pending` (open merchant-presented orders), oldest first.
    pub fn pending_of_kind(&self, kind: &str) -> JResult<Vec<TxRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {TX_COLUMNS} FROM tx WHERE state = 'pending' AND kind = ?1 ORDER BY id"
            ))
            .map_err(db)?;
        let rows = stmt.query_map([kind], tx_from_row).map_err(db)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
    }

    pub fn get(&self, id: i64) -> JResult<Option<TxRecord>> {
        one(
            &self.conn,
            &format!("SELECT {TX_COLUMNS} FROM tx WHERE id = ?1"),
            [id],
            tx_from_row,
        )
        .optional()
        .map_err(db)
    }

    /// Latest row with this STAN in `batch`.
    pub fn find_by_stan(&self, batch: u32, stan: u32) -> JResult<Option<TxRecord>> {
        one(&self.conn,
                &format!("SELECT {TX_COLUMNS} FROM tx WHERE batch = ?1 AND stan = ?2 ORDER BY id DESC LIMIT 1"),
                params![batch, stan],
                tx_from_row,
            )
            .optional()
            .map_err(db)
    }

    /// The sealed PAN of a row, unsealed (for tips and batch upload). Never log it.
    pub fn pan(&self, id: i64) -> JResult<Option<Zeroizing<String>>> {
        let row: Option<(Option<Vec<u8>>, u32, u32)> = one(
            &self.conn,
            "SELECT pan_sealed, batch, stan FROM tx WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(db)?;
        let Some((Some(sealed), batch, stan)) = row else {
            return Ok(None);
        };
        let clear = seal::open(&self.seal_key, &sealed, &pan_aad(batch, stan)).map_err(sealing)?;
        let pan = std::str::from_utf8(&clear)
            .map_err(|_| JournalError::Invalid("sealed PAN is not text".into()))?
            .to_owned();
        Ok(Some(Zeroizing::new(pan)))
    }

    /// Rows of a batch, oldest first.
    pub fn list(&self, batch: u32) -> JResult<Vec<TxRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {TX_COLUMNS} FROM tx WHERE batch = ?1 ORDER BY id"
            ))
            .map_err(db)?;
        let rows = stmt.query_map([batch], tx_from_row).map_err(db)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
    }

    // ---- reversal ----
    fn reversals(&self, only_unflagged: bool) -> JResult<Vec<PendingReversal>> {
        let sql = if only_unflagged {
            "SELECT tx_id, stan, body_sealed, reason, auth_code, attempts, flagged FROM reversal \
             WHERE flagged = 0 ORDER BY tx_id"
        } else {
            "SELECT tx_id, stan, body_sealed, reason, auth_code, attempts, flagged FROM reversal ORDER BY tx_id"
        };
        let mut stmt = self.conn.prepare_cached(sql).map_err(db)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, u32>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, u32>(5)?,
                    r.get::<_, bool>(6)?,
                ))
            })
            .map_err(db)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db)?;
        rows.into_iter()
            .map(
                |(tx_id, stan, sealed, reason, auth_code, attempts, flagged)| {
                    let body = seal::open(&self.seal_key, &sealed, &reversal_aad(tx_id, stan))
                        .map_err(sealing)?;
                    Ok(PendingReversal {
                        tx_id,
                        stan,
                        body: body.to_vec(),
                        reason,
                        auth_code,
                        attempts,
                        flagged,
                    })
                },
            )
            .collect()
    }

    /// The oldest reversal still to be sent before the next financial message (not flagged).
    pub fn pending_reversal(&self) -> JResult<Option<PendingReversal>> {
        Ok(self.reversals(true)?.into_iter().next())
    }

    /// Every reversal owed, flagged ones included (retried before settlement), oldest first.
    pub fn pending_reversals(&self) -> JResult<Vec<PendingReversal>> {
        self.reversals(false)
    }

    /// Set the reason (and 38) once the outcome is known to be unknown/invalid.
    pub fn arm_reversal(
        &mut self,
        tx_id: i64,
        reason: &str,
        auth_code: Option<&str>,
    ) -> JResult<()> {
        let n = exec(
            &self.conn,
            "UPDATE reversal SET reason = ?2, auth_code = COALESCE(?3, auth_code) WHERE tx_id = ?1",
            params![tx_id, reason, auth_code],
        )
        .map_err(db)?;
        if n != 1 {
            return Err(JournalError::Invalid(format!(
                "no pending reversal for transaction {tx_id}"
            )));
        }
        Ok(())
    }

    /// One more attempt was made; `flagged` once the configured attempts are exhausted.
    pub fn reversal_attempted(&mut self, tx_id: i64, flagged: bool) -> JResult<()> {
        exec(&self.conn,
                "UPDATE reversal SET attempts = attempts + 1, flagged = (flagged OR ?2) WHERE tx_id = ?1",
                params![tx_id, flagged],
            )
            .map_err(db)?;
        Ok(())
    }

    /// The host answered the 0400 (`00` or `25`): delete it and mark the original `reversed`, applying
    /// `effects` (undo of what the original did) in the same SQLite transaction.
    pub fn reversal_done(&mut self, tx_id: i64, effects: &[Effect]) -> JResult<()> {
        let tx = self.conn.transaction().map_err(db)?;
        let n = exec(&tx, "DELETE FROM reversal WHERE tx_id = ?1", [tx_id]).map_err(db)?;
        if n != 1 {
            return Err(JournalError::Invalid(format!(
                "no pending reversal for transaction {tx_id}"
            )));
        }
        exec(
            &tx,
            "UPDATE tx SET state = 'reversed' WHERE id = ?1",
            [tx_id],
        )
        .map_err(db)?;
        apply_effects(&tx, effects)?;
        tx.commit().map_err(db)
    }

    // ---- advices ----
    pub fn pending_advices(&self) -> JResult<Vec<PendingAdvice>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT tx_id, stan, frame_sealed, attempts FROM advice WHERE class = 'advice' ORDER BY id",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, u32>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, u32>(3)?,
                ))
            })
            .map_err(db)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db)?;
        rows.into_iter()
            .map(|(tx_id, stan, sealed, attempts)| {
                let frame = seal::open(&self.seal_key, &sealed, &advice_aad(tx_id, stan))
                    .map_err(sealing)?;
                Ok(PendingAdvice {
                    tx_id,
                    stan,
                    frame: frame.to_vec(),
                    attempts,
                })
            })
            .collect()
    }

    pub fn advice_attempted(&mut self, tx_id: i64) -> JResult<()> {
        exec(
            &self.conn,
            "UPDATE advice SET attempts = attempts + 1 WHERE tx_id = ?1 AND class = 'advice'",
            [tx_id],
        )
        .map_err(db)?;
        Ok(())
    }

    /// The transaction's compressed signature and its upload segments, in one commit.
    pub fn record_signature(
        &mut self,
        tx_id: i64,
        image: &[u8],
        uploads: &[NewUpload<'_>],
    ) -> JResult<()> {
        let key = *self.seal_key;
        let tx = self.conn.transaction().map_err(db)?;
        exec(
            &tx,
            "INSERT OR REPLACE INTO signature (tx_id, image) VALUES (?1, ?2)",
            params![tx_id, image],
        )
        .map_err(db)?;
        for u in uploads {
            let frame = seal::seal(&key, u.frame, &advice_aad(tx_id, u.stan)).map_err(sealing)?;
            exec(
                &tx,
                "INSERT INTO advice (tx_id, class, stan, frame_sealed) VALUES (?1, ?2, ?3, ?4)",
                params![tx_id, u.class, u.stan, frame],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    /// The compressed signature of a transaction, when one was taken.
    #[cfg(test)]
    pub fn signature(&self, tx_id: i64) -> JResult<Option<Vec<u8>>> {
        self.conn
            .query_row(
                "SELECT image FROM signature WHERE tx_id = ?1",
                [tx_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)
    }

    /// The uploads owed (TC, script results, signature segments), oldest first.
    pub fn pending_uploads(&self) -> JResult<Vec<PendingUpload>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, tx_id, class, stan, frame_sealed, attempts FROM advice \
                 WHERE class != 'advice' ORDER BY id",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, u32>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, u32>(5)?,
                ))
            })
            .map_err(db)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db)?;
        rows.into_iter()
            .map(|(id, tx_id, class, stan, sealed, attempts)| {
                let frame = seal::open(&self.seal_key, &sealed, &advice_aad(tx_id, stan))
                    .map_err(sealing)?;
                Ok(PendingUpload {
                    id,
                    tx_id,
                    class,
                    stan,
                    frame: frame.to_vec(),
                    attempts,
                })
            })
            .collect()
    }

    pub fn upload_attempted(&mut self, id: i64) -> JResult<()> {
        exec(
            &self.conn,
            "UPDATE advice SET attempts = attempts + 1 WHERE id = ?1",
            [id],
        )
        .map_err(db)?;
        Ok(())
    }

    /// An answer that counts arrived: the upload is delivered.
    pub fn upload_done(&mut self, id: i64) -> JResult<()> {
        exec(&self.conn, "DELETE FROM advice WHERE id = ?1", [id]).map_err(db)?;
        Ok(())
    }

    // ---- batch ----
    /// Close the batch: set the new batch number (rows stay for reprint / query). Refused while a
    /// reversal or an advice is still owed for the closing batch's transactions.
    pub fn close_batch(&mut self, next_batch: u32) -> JResult<()> {
        let owed: i64 = one(
            &self.conn,
            "SELECT (SELECT COUNT(*) FROM reversal) + (SELECT COUNT(*) FROM advice)",
            [],
            |r| r.get(0),
        )
        .map_err(db)?;
        if owed > 0 {
            return Err(JournalError::Invalid(format!(
                "{owed} reversal(s)/advice(s) still owed"
            )));
        }
        self.set_batch(next_batch)
    }

    /// Retention (config `journal.retain_batches`): delete the rows of settled batches older than the last
    /// `retain` settled ones, then give the freed pages back to the file system (`incremental_vacuum`; the
    /// journal is `auto_vacuum = INCREMENTAL` from schema 2). Never deleted: the open batch, a row with a
    /// pending reversal or advice, and the originals (transitively) of every row that stays, so a kept
    /// void, tip or refund still finds its sale. "Last" is by the newest row of each batch, so a batch
    /// number that wrapped after 999999 still counts as recent. Returns how many rows were deleted.
    pub fn prune(&mut self, retain: u32) -> JResult<usize> {
        let open = self.batch()?;
        let tx = self.conn.transaction().map_err(db)?;
        // The signatures of the rows that go, first (they name their row).
        exec(
            &tx,
            &format!("{PRUNE_KEEP} DELETE FROM signature WHERE tx_id NOT IN keep"),
            params![open, retain],
        )
        .map_err(db)?;
        let deleted = exec(
            &tx,
            &format!("{PRUNE_KEEP} DELETE FROM tx WHERE id NOT IN keep"),
            params![open, retain],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        if deleted > 0 {
            self.conn
                .execute_batch("PRAGMA incremental_vacuum")
                .map_err(db)?;
        }
        Ok(deleted)
    }
}

/// `?1, ?2, ...` for an `IN` list of `n` values (for none, the empty kind name, which no row has).
fn placeholders(n: usize) -> String {
    if n == 0 {
        return "''".to_string();
    }
    (1..=n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;

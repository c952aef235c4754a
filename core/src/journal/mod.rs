//! Local transaction journal: SQLite (rusqlite, bundled), WAL, synchronous FULL. OWNER: lead.
//!
//! Everything the terminal must not lose is written here *before* a request leaves: the STAN/batch
//! counters, the transaction row (state `pending`), the pending reversal or the advice to resend.
//! PANs are stored sealed (AES-256-GCM) plus masked; track data, PIN and CVV never.
//! Reversal bodies and advice frames (which hold a PAN, and an advice may hold card data) are sealed too
//! and deleted as soon as the host has answered them.

use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalError(pub String);
impl std::fmt::Display for JournalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "journal: {}", self.0)
    }
}
impl std::error::Error for JournalError {}
impl From<JournalError> for crate::Error {
    fn from(e: JournalError) -> Self {
        crate::Error::new(crate::ErrorKind::Journal, e.to_string())
    }
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

/// A reversal owed to the host (PROTOCOL.md §6).
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

impl std::fmt::Debug for PendingAdvice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PendingAdvice(tx {}, stan {}, attempts {})",
            self.tx_id, self.stan, self.attempts
        )
    }
}

pub struct Journal {
    _conn: rusqlite::Connection,
}

impl Journal {
    /// Open (creating and migrating) the journal at `path`. `seal_key` seals PANs and pending messages.
    pub fn open(path: &Path, seal_key: &[u8; 32]) -> JResult<Journal> {
        todo!()
    }
    pub fn open_in_memory(seal_key: &[u8; 32]) -> JResult<Journal> {
        todo!()
    }
    pub fn schema_version(&self) -> JResult<u32> {
        todo!()
    }

    // ---- counters and settings ----
    pub fn batch(&self) -> JResult<u32> {
        todo!()
    }
    pub fn set_batch(&mut self, batch: u32) -> JResult<()> {
        todo!()
    }
    /// The STAN the next request will use (000001..999999, wraps).
    pub fn peek_stan(&self) -> JResult<u32> {
        todo!()
    }
    /// Allocate a STAN durably and return it.
    pub fn next_stan(&mut self) -> JResult<u32> {
        todo!()
    }
    pub fn setting(&self, key: &str) -> JResult<Option<String>> {
        todo!()
    }
    pub fn set_setting(&mut self, key: &str, value: &str) -> JResult<()> {
        todo!()
    }
    pub fn delete_setting(&mut self, key: &str) -> JResult<()> {
        todo!()
    }

    // ---- transaction lifecycle ----
    /// Record a request before it is sent, in one durable SQLite transaction together with its pending
    /// reversal (0100/0200) or its advice frame (0220). Returns the row id.
    pub fn record_request(
        &mut self,
        tx: &NewTx,
        reversal: Option<&PendingReversal>,
        advice: Option<&PendingAdvice>,
    ) -> JResult<i64> {
        todo!()
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
        todo!()
    }
    pub fn get(&self, id: i64) -> JResult<Option<TxRecord>> {
        todo!()
    }
    /// Latest row with this STAN in `batch`.
    pub fn find_by_stan(&self, batch: u32, stan: u32) -> JResult<Option<TxRecord>> {
        todo!()
    }
    /// The sealed PAN of a row, unsealed (for tips and batch upload). Never log it.
    pub fn pan(&self, id: i64) -> JResult<Option<zeroize::Zeroizing<String>>> {
        todo!()
    }
    /// Rows of a batch, oldest first.
    pub fn list(&self, batch: u32) -> JResult<Vec<TxRecord>> {
        todo!()
    }

    // ---- reversal ----
    pub fn pending_reversal(&self) -> JResult<Option<PendingReversal>> {
        todo!()
    }
    /// Set the reason (and 38) once the outcome is known to be unknown/invalid.
    pub fn arm_reversal(
        &mut self,
        tx_id: i64,
        reason: &str,
        auth_code: Option<&str>,
    ) -> JResult<()> {
        todo!()
    }
    pub fn reversal_attempted(&mut self, tx_id: i64, flagged: bool) -> JResult<()> {
        todo!()
    }
    /// The host answered the 0400 (`00` or `25`): delete it and mark the original `reversed`, applying
    /// `effects` (undo of what the original did) in the same SQLite transaction.
    pub fn reversal_done(&mut self, tx_id: i64, effects: &[Effect]) -> JResult<()> {
        todo!()
    }

    // ---- advices ----
    pub fn pending_advices(&self) -> JResult<Vec<PendingAdvice>> {
        todo!()
    }
    pub fn advice_attempted(&mut self, tx_id: i64) -> JResult<()> {
        todo!()
    }

    // ---- batch ----
    /// Close the batch: set the new batch number (rows stay for reprint / query).
    pub fn close_batch(&mut self, next_batch: u32) -> JResult<()> {
        todo!()
    }
}

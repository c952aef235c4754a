//! What operations take and give: the domain's inputs and results. The flows produce these; the facade
//! (`Terminal`, `api`) hands them out, and `api` is where they become JSON.

use crate::error::{Error, Result};
use crate::hal::EntryMode;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Card data given inline (no card-reader callback). `pin` is blocked at once and never stored.
#[derive(Clone, Default)]
pub struct CardInput {
    pub entry: Option<EntryMode>,
    pub pan: Option<Zeroizing<String>>,
    pub track2: Option<Zeroizing<String>>,
    pub track3: Option<Zeroizing<String>>,
    pub expiry: Option<String>,
    pub sequence: Option<String>,
    /// Field 55 TLVs from the chip.
    pub icc: Option<Vec<u8>>,
    pub pin: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for CardInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardInput")
            .field("entry", &self.entry)
            .field("pan", &self.pan.as_deref().map(|p| crate::mask_pan(p)))
            .finish_non_exhaustive()
    }
}

/// How a payment is made. `None` inside: ask the HAL (card reader / QR scanner).
#[derive(Debug, Clone)]
pub enum Payment {
    Card(Option<CardInput>),
    Qr(Option<String>),
}

/// Reference to an original that may not be in the journal (refund, pre-auth void / completion).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OriginalRef {
    /// 37 of the original
    pub reference: Option<String>,
    /// 38 of the original
    pub auth_code: Option<String>,
    /// MMDD of the original
    pub date: Option<String>,
    pub batch: Option<u32>,
    pub stan: Option<u32>,
    /// QR voucher (59 A4): makes the request a QR one
    pub voucher: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationResult {
    pub merchant_name: String,
    pub batch: u32,
    pub response_timeout_s: u32,
    pub reversal_attempts: u32,
    pub max_tip_percent: u32,
    /// Hex SHA-256 of the host key the terminal will accept, if the platform sent one.
    pub host_key_sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterKeyResult {
    /// Hex check value of the TMK now active.
    pub tmk_check_value: String,
    pub host_key_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInResult {
    pub batch: u32,
    pub datetime: String,
    /// Host asked for parameters next (processing requirement 4/5).
    pub capks_required: bool,
    pub aids_required: bool,
}

/// Sign-off (docs/PROTOCOL.md §3.9): the working keys are gone whatever the host said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignOffResult {
    /// The 0820 was sent (false when the terminal was not signed in: nothing to sign off at the host).
    pub sent: bool,
    /// Field 39 of the host's answer; None when nothing was sent or no answer came.
    pub response_code: Option<String>,
}

/// Echo test (docs/PROTOCOL.md §3.10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EchoResult {
    pub response_code: String,
    /// The host's date and time (fields 13 and 12).
    pub datetime: String,
    /// The request was MAC'd (the terminal was signed in).
    pub maced: bool,
    /// Round trip, milliseconds.
    pub round_trip_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadResult {
    /// Number of CAPKs / AIDs downloaded, verified and loaded.
    pub count: u32,
    /// CAPKs refused (bad checksum or expired).
    pub rejected: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionResult {
    /// Where the money stands (docs/JSON-API.md, "Outcome").
    pub outcome: crate::Outcome,
    pub approved: bool,
    pub response_code: String,
    pub message: String,
    pub kind: String,
    pub stan: u32,
    pub batch: u32,
    pub amount: u64,
    pub tip: u64,
    pub reference: Option<String>,
    pub auth_code: Option<String>,
    pub masked_pan: Option<String>,
    pub voucher: Option<String>,
    pub card_org: Option<String>,
    pub datetime: String,
    /// Balance in fen (balance inquiry), negative when the account is in debit.
    pub balance: Option<i64>,
    pub receipt: Vec<String>,
    /// QR payments: the state the host last gave (`paid`, `waiting`, `paying`, `not_paid`, `closed`,
    /// `expired`, `not_found`; docs/PROTOCOL.md §4.10), when a status query or an order told it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_state: Option<String>,
    /// `qr_order`: the code payload the customer scans (also given to the QR display).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_payload: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountAmount {
    pub count: u32,
    pub amount: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub debit: CountAmount,
    pub credit: CountAmount,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementTotals {
    pub domestic: Totals,
    pub foreign: Totals,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementResult {
    pub batch: u32,
    pub terminal: SettlementTotals,
    pub host: SettlementTotals,
    /// After any batch upload.
    pub balanced: bool,
    /// Number of 0320 records uploaded (0 when the first answer balanced).
    pub uploaded: u32,
    pub next_batch: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailRecord {
    pub stan: u32,
    pub kind: String,
    pub amount: u64,
    pub tip: u64,
    pub masked_pan: Option<String>,
    pub voucher: Option<String>,
    pub reference: Option<String>,
    pub auth_code: Option<String>,
    pub datetime: String,
    /// `approved`, `voided`, `reversed`, `tipped`
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailQueryResult {
    pub batch: Option<u32>,
    pub records: Vec<DetailRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReversalInfo {
    pub stan: u32,
    pub reason: Option<String>,
    pub attempts: u32,
    pub flagged: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusResult {
    pub activated: bool,
    pub master_key_loaded: bool,
    pub signed_in: bool,
    pub batch: u32,
    pub next_stan: u32,
    pub pending_reversal: Option<PendingReversalInfo>,
    /// Advices (0220, offline sales included) still owed (docs/PROTOCOL.md §6.6).
    pub unsent_advices: u32,
    /// Chip uploads (TC uploads, script results) still owed (docs/PROTOCOL.md §6.6).
    pub unsent_uploads: u32,
    /// The active acquirer profile (docs/PROFILES.md).
    pub profile: ProfileInfo,
    /// `tdes` or `sm` (docs/PROTOCOL.md §11).
    pub key_family: crate::crypto::KeyFamily,
}

/// The name and SHA-256 (lower-case hex, over the canonical bytes) of the active acquirer profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileInfo {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalResult {
    pub batch: u32,
    pub records: Vec<crate::journal::TxRecord>,
}

/// A system trace audit number: 1..=999999 (field 11, n6). Checked once, here, wherever a request names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stan(u32);

/// A batch number: 1..=999999 (60.2, n6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Batch(u32);

macro_rules! n6_number {
    ($t:ident, $what:literal) => {
        impl $t {
            /// `value` as named by the request field `field`; out of range is `invalid_request` naming it.
            pub fn new(field: &str, value: u32) -> Result<$t> {
                if (1..=999_999).contains(&value) {
                    Ok($t(value))
                } else {
                    Err(Error::invalid(
                        field,
                        concat!($what, " must be 1 to 999999"),
                    ))
                }
            }
            pub fn get(self) -> u32 {
                self.0
            }
            /// The one after this, wrapping from 999999 to 1.
            pub fn next(self) -> $t {
                $t(if self.0 >= 999_999 { 1 } else { self.0 + 1 })
            }
        }
    };
}
n6_number!(Stan, "STAN");
n6_number!(Batch, "batch");

//! One C function per terminal operation, with C request and result structs mirroring `core::api`.
//!
//! Conventions: inputs first, outputs last; an output is written only when the call returns `POS_OK`.
//! Strings in requests are borrowed NUL-terminated UTF-8 (NULL = not given). Strings in results are
//! fixed NUL-terminated arrays, except lists and receipts, which are owned strings freed with
//! `pos_string_free` (documented per field).

use crate::callbacks::{entry_from_c, pos_entry_mode};
use crate::handle::{pos_terminal, run};
use crate::result::{pos_outcome, pos_result, Failure};
use crate::strings::{self, put};
use possdk_core::api::{self, CardInput, OriginalRef, Payment};
use std::ffi::c_char;

// ---------------------------------------------------------------------------------------------------
// Requests

/// Card data given inline (no card-reader callback needed). All strings NULL = absent. `pin`, when
/// given, is blocked by the security module at once and never stored; possdk does not keep any of these
/// pointers after the call.
#[repr(C)]
pub struct pos_card_input {
    pub entry: pos_entry_mode,
    pub pan: *const c_char,
    pub track2: *const c_char,
    pub track3: *const c_char,
    /// YYMM
    pub expiry: *const c_char,
    /// 3 digits
    pub sequence: *const c_char,
    /// Field 55 BER-TLV (chip), `icc_len` bytes; NULL when `icc_len` is 0.
    pub icc: *const u8,
    pub icc_len: usize,
    pub pin: *const c_char,
}

/// Payment method of a sale / pre-auth (`pos_sale_request.method`).
pub type pos_payment_method = u32;
/// Card: `card` inline, or NULL to ask the card reader callback.
pub const POS_PAYMENT_CARD: pos_payment_method = 0;
/// QR: `qr_code` inline, or NULL to ask the QR scanner callback.
pub const POS_PAYMENT_QR: pos_payment_method = 1;

/// Sale or pre-auth.
#[repr(C)]
pub struct pos_sale_request {
    /// Amount in fen (> 0).
    pub amount: u64,
    pub method: pos_payment_method,
    pub card: *const pos_card_input,
    pub qr_code: *const c_char,
}

/// Pre-auth: same fields as a sale.
pub type pos_preauth_request = pos_sale_request;

/// Void (or completion void) of a journal transaction.
#[repr(C)]
pub struct pos_void_request {
    /// STAN of the original (sale) or of the completion.
    pub stan: u32,
    /// Inline card for a card original; NULL asks the card reader (QR originals need no card).
    pub card: *const pos_card_input,
}

/// Completion void: same fields as a void.
pub type pos_preauth_complete_void_request = pos_void_request;

/// The original of a refund / pre-auth void / completion, which may not be in the local journal.
/// Strings NULL = not given; numbers 0 = not given (STANs and batches start at 1).
#[repr(C)]
pub struct pos_original_ref {
    /// Field 37 of the original.
    pub reference: *const c_char,
    /// Field 38 of the original.
    pub auth_code: *const c_char,
    /// MMDD of the original.
    pub date: *const c_char,
    pub batch: u32,
    pub stan: u32,
    /// QR voucher of the original: makes the request a QR one (no card).
    pub voucher: *const c_char,
}

/// Refund, pre-auth void, pre-auth completion.
#[repr(C)]
pub struct pos_refund_request {
    pub amount: u64,
    pub original: pos_original_ref,
    /// Inline card; NULL asks the card reader unless `original.voucher` is given.
    pub card: *const pos_card_input,
}

pub type pos_preauth_void_request = pos_refund_request;
pub type pos_preauth_complete_request = pos_refund_request;

/// Tip on a sale of the open batch.
#[repr(C)]
pub struct pos_tip_request {
    /// STAN of the sale.
    pub stan: u32,
    /// Tip in fen.
    pub tip: u64,
}

/// # Safety
/// `c` NULL or valid with valid string pointers.
unsafe fn card_input(c: *const pos_card_input) -> Result<Option<CardInput>, Failure> {
    // SAFETY: caller contract.
    let Some(c) = (unsafe { c.as_ref() }) else {
        return Ok(None);
    };
    let icc = if c.icc_len == 0 {
        None
    } else if c.icc.is_null() {
        return Err(Failure::null("card.icc"));
    } else if c.icc_len > 255 {
        return Err(Failure::field(
            pos_result::POS_INVALID_REQUEST,
            "card.icc",
            "ICC data is over 255 bytes",
        ));
    } else {
        // SAFETY: non-NULL with `icc_len` readable bytes per the contract.
        Some(unsafe { std::slice::from_raw_parts(c.icc, c.icc_len) }.to_vec())
    };
    // SAFETY (each): string pointers NULL or NUL-terminated per the contract.
    Ok(Some(CardInput {
        entry: entry_from_c(c.entry, "card.entry")?,
        pan: unsafe { strings::secret(c.pan, "card.pan") }?,
        track2: unsafe { strings::secret(c.track2, "card.track2") }?,
        track3: unsafe { strings::secret(c.track3, "card.track3") }?,
        expiry: unsafe { strings::optional(c.expiry, "card.expiry") }?.map(str::to_string),
        sequence: unsafe { strings::optional(c.sequence, "card.sequence") }?.map(str::to_string),
        icc,
        pin: unsafe { strings::secret(c.pin, "card.pin") }?,
    }))
}

/// # Safety
/// `r` valid.
unsafe fn payment(r: &pos_sale_request) -> Result<Payment, Failure> {
    match r.method {
        // SAFETY: forwarded contract.
        POS_PAYMENT_CARD => Ok(Payment::Card(unsafe { card_input(r.card) }?)),
        POS_PAYMENT_QR => {
            // SAFETY: forwarded contract.
            let code = unsafe { strings::optional(r.qr_code, "qr_code") }?;
            Ok(Payment::Qr(code.map(str::to_string)))
        }
        other => Err(Failure::field(
            pos_result::POS_INVALID_ARGUMENT,
            "method",
            format!("unknown payment method {other}"),
        )),
    }
}

/// # Safety
/// String pointers NULL or valid.
unsafe fn original(o: &pos_original_ref) -> Result<OriginalRef, Failure> {
    let nz = |v: u32| (v != 0).then_some(v);
    // SAFETY (each): forwarded contract.
    Ok(OriginalRef {
        reference: unsafe { strings::optional(o.reference, "original.reference") }?
            .map(str::to_string),
        auth_code: unsafe { strings::optional(o.auth_code, "original.auth_code") }?
            .map(str::to_string),
        date: unsafe { strings::optional(o.date, "original.date") }?.map(str::to_string),
        batch: nz(o.batch),
        stan: nz(o.stan),
        voucher: unsafe { strings::optional(o.voucher, "original.voucher") }?.map(str::to_string),
    })
}

// ---------------------------------------------------------------------------------------------------
// Results

/// Result of every financial operation and of a balance inquiry. A decline is `POS_OK` with
/// `approved == false`: the call worked, the issuer said no.
#[repr(C)]
pub struct pos_transaction_result {
    /// Where the money stands (never `POS_OUTCOME_NONE` here).
    pub outcome: pos_outcome,
    pub approved: bool,
    /// Field 39.
    pub response_code: [c_char; 4],
    /// Readable text for the response code.
    pub message: [c_char; 128],
    /// Transaction kind (`sale`, `qr_sale`, `void`, ...).
    pub kind: [c_char; 32],
    pub stan: u32,
    pub batch: u32,
    /// Amount in fen.
    pub amount: u64,
    pub tip: u64,
    /// Field 37 or "".
    pub reference: [c_char; 16],
    /// Field 38 or "".
    pub auth_code: [c_char; 8],
    /// 6+4 masked PAN (card) or "".
    pub masked_pan: [c_char; 24],
    /// QR voucher or "".
    pub voucher: [c_char; 32],
    /// `CUP`, `VIS`, ... or "".
    pub card_org: [c_char; 8],
    /// ISO 8601 local date-time.
    pub datetime: [c_char; 24],
    pub has_balance: bool,
    /// Balance in fen (balance inquiry); negative when in debit.
    pub balance: i64,
    /// Receipt (merchant copy) as text, one line per `\n`. Owned: free with `pos_string_free`.
    pub receipt: *mut c_char,
}

fn transaction_result(r: api::TransactionResult) -> pos_transaction_result {
    let mut o = pos_transaction_result {
        outcome: pos_outcome::of(Some(r.outcome)),
        approved: r.approved,
        response_code: [0; 4],
        message: [0; 128],
        kind: [0; 32],
        stan: r.stan,
        batch: r.batch,
        amount: r.amount,
        tip: r.tip,
        reference: [0; 16],
        auth_code: [0; 8],
        masked_pan: [0; 24],
        voucher: [0; 32],
        card_org: [0; 8],
        datetime: [0; 24],
        has_balance: r.balance.is_some(),
        balance: r.balance.unwrap_or(0),
        receipt: std::ptr::null_mut(),
    };
    put(&mut o.response_code, &r.response_code);
    put(&mut o.message, &r.message);
    put(&mut o.kind, &r.kind);
    put(&mut o.reference, r.reference.as_deref().unwrap_or(""));
    put(&mut o.auth_code, r.auth_code.as_deref().unwrap_or(""));
    put(&mut o.masked_pan, r.masked_pan.as_deref().unwrap_or(""));
    put(&mut o.voucher, r.voucher.as_deref().unwrap_or(""));
    put(&mut o.card_org, r.card_org.as_deref().unwrap_or(""));
    put(&mut o.datetime, &r.datetime);
    // Allocated last: nothing after this can fail, so the string cannot leak.
    o.receipt = strings::owned(r.receipt.join("\n"));
    o
}

#[repr(C)]
pub struct pos_activation_result {
    pub merchant_name: [c_char; 128],
    pub batch: u32,
    pub response_timeout_s: u32,
    pub reversal_attempts: u32,
    pub max_tip_percent: u32,
    /// Hex SHA-256 of the host key the terminal will accept, or "".
    pub host_key_sha256: [c_char; 65],
}

#[repr(C)]
pub struct pos_master_key_result {
    /// Hex check value of the TMK now active.
    pub tmk_check_value: [c_char; 17],
    pub host_key_sha256: [c_char; 65],
}

#[repr(C)]
pub struct pos_sign_in_result {
    pub batch: u32,
    pub datetime: [c_char; 24],
    /// The host asked for a CAPK / AID download next.
    pub capks_required: bool,
    pub aids_required: bool,
}

#[repr(C)]
pub struct pos_download_result {
    /// CAPKs / AIDs downloaded, verified and loaded.
    pub count: u32,
    /// CAPKs refused (bad checksum or expired).
    pub rejected: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct pos_count_amount {
    pub count: u32,
    pub amount: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct pos_totals {
    pub debit: pos_count_amount,
    pub credit: pos_count_amount,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct pos_settlement_totals {
    pub domestic: pos_totals,
    pub foreign: pos_totals,
}

#[repr(C)]
pub struct pos_settlement_result {
    pub batch: u32,
    pub terminal: pos_settlement_totals,
    pub host: pos_settlement_totals,
    /// After any batch upload.
    pub balanced: bool,
    /// 0320 records uploaded (0 when the first answer balanced).
    pub uploaded: u32,
    pub next_batch: u32,
}

fn totals(t: &api::SettlementTotals) -> pos_settlement_totals {
    let ca = |c: &api::CountAmount| pos_count_amount {
        count: c.count,
        amount: c.amount,
    };
    let tt = |t: &api::Totals| pos_totals {
        debit: ca(&t.debit),
        credit: ca(&t.credit),
    };
    pos_settlement_totals {
        domestic: tt(&t.domestic),
        foreign: tt(&t.foreign),
    }
}

/// Detail query (from the host) or journal listing (local).
#[repr(C)]
pub struct pos_records_result {
    /// The batch listed (0 when the host did not say).
    pub batch: u32,
    /// Number of records.
    pub count: u32,
    /// The records as a JSON array (fields as in docs/JSON-API.md). Owned: free with `pos_string_free`.
    pub records_json: *mut c_char,
}

pub type pos_detail_query_result = pos_records_result;
pub type pos_journal_result = pos_records_result;

fn records_result<T: serde::Serialize>(
    batch: Option<u32>,
    records: &[T],
) -> Result<pos_records_result, Failure> {
    let json = serde_json::to_string(records)
        .map_err(|e| Failure::new(pos_result::POS_INTERNAL, e.to_string()))?;
    let count = u32::try_from(records.len()).unwrap_or(u32::MAX);
    Ok(pos_records_result {
        batch: batch.unwrap_or(0),
        count,
        records_json: strings::owned(json),
    })
}

#[repr(C)]
pub struct pos_status_result {
    pub activated: bool,
    pub master_key_loaded: bool,
    pub signed_in: bool,
    pub batch: u32,
    pub next_stan: u32,
    pub has_pending_reversal: bool,
    /// STAN of the transaction owed a reversal (when `has_pending_reversal`).
    pub pending_reversal_stan: u32,
    pub pending_reversal_attempts: u32,
    /// Attempts exhausted: needs attention; retried before settlement.
    pub pending_reversal_flagged: bool,
    /// Reversal reason (`98`, `A0`, `06`) or "".
    pub pending_reversal_reason: [c_char; 4],
    pub unsent_advices: u32,
}

// ---------------------------------------------------------------------------------------------------
// Helpers

/// Check a required pointer argument.
fn need<T>(p: *const T, field: &str) -> Result<(), Failure> {
    if p.is_null() {
        Err(Failure::null(field))
    } else {
        Ok(())
    }
}

/// Write an output after success.
///
/// # Safety
/// `out` checked non-NULL and writable.
unsafe fn write<T>(out: *mut T, v: T) {
    // SAFETY: caller contract. `write` does not drop the caller's (possibly uninitialised) old value.
    unsafe { out.write(v) }
}

/// Run a financial operation: check pointers, convert the request, call the core, write the result.
///
/// # Safety
/// `terminal` NULL or live; `request` NULL or valid; `out` NULL or writable.
unsafe fn tx<R>(
    terminal: *mut pos_terminal,
    request: *const R,
    out: *mut pos_transaction_result,
    op: impl FnOnce(&possdk_core::Terminal, &R) -> Result<api::TransactionResult, Failure>,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        run(terminal, |t| {
            need(request, "request")?;
            need(out, "out")?;
            let result = op(t, &*request)?;
            write(out, transaction_result(result));
            Ok(())
        })
    }
}

// ---------------------------------------------------------------------------------------------------
// Management

/// Activate the terminal on the management platform with its device token.
///
/// # Safety
/// `terminal` NULL or live; `device_token` NULL or NUL-terminated; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_activate(
    terminal: *mut pos_terminal,
    device_token: *const c_char,
    out: *mut pos_activation_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        run(terminal, |t| {
            let token = strings::required(device_token, "device_token")?;
            need(out, "out")?;
            let r = t.activate(token)?;
            let mut o = pos_activation_result {
                merchant_name: [0; 128],
                batch: r.batch,
                response_timeout_s: r.response_timeout_s,
                reversal_attempts: r.reversal_attempts,
                max_tip_percent: r.max_tip_percent,
                host_key_sha256: [0; 65],
            };
            put(&mut o.merchant_name, &r.merchant_name);
            put(
                &mut o.host_key_sha256,
                r.host_key_sha256.as_deref().unwrap_or(""),
            );
            write(out, o);
            Ok(())
        })
    }
}

/// Host key query, TMK download and TMK activation.
///
/// # Safety
/// `terminal` NULL or live; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_download_master_key(
    terminal: *mut pos_terminal,
    out: *mut pos_master_key_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        run(terminal, |t| {
            need(out, "out")?;
            let r = t.download_master_key()?;
            let mut o = pos_master_key_result {
                tmk_check_value: [0; 17],
                host_key_sha256: [0; 65],
            };
            put(&mut o.tmk_check_value, &r.tmk_check_value);
            put(&mut o.host_key_sha256, &r.host_key_sha256);
            write(out, o);
            Ok(())
        })
    }
}

/// Sign in: fresh working keys (PIK, MAK, TDK) and the batch number.
///
/// # Safety
/// `terminal` NULL or live; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_sign_in(
    terminal: *mut pos_terminal,
    out: *mut pos_sign_in_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        run(terminal, |t| {
            need(out, "out")?;
            let r = t.sign_in()?;
            let mut o = pos_sign_in_result {
                batch: r.batch,
                datetime: [0; 24],
                capks_required: r.capks_required,
                aids_required: r.aids_required,
            };
            put(&mut o.datetime, &r.datetime);
            write(out, o);
            Ok(())
        })
    }
}

/// Download, verify and load the CA public keys (the card reader's `load_emv_parameters` is called).
///
/// # Safety
/// `terminal` NULL or live; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_download_capks(
    terminal: *mut pos_terminal,
    out: *mut pos_download_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        run(terminal, |t| {
            need(out, "out")?;
            let r = t.download_capks()?;
            write(
                out,
                pos_download_result {
                    count: r.count,
                    rejected: r.rejected,
                },
            );
            Ok(())
        })
    }
}

/// Download and load the AID parameters.
///
/// # Safety
/// `terminal` NULL or live; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_download_aids(
    terminal: *mut pos_terminal,
    out: *mut pos_download_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        run(terminal, |t| {
            need(out, "out")?;
            let r = t.download_aids()?;
            write(
                out,
                pos_download_result {
                    count: r.count,
                    rejected: r.rejected,
                },
            );
            Ok(())
        })
    }
}

// ---------------------------------------------------------------------------------------------------
// Financial

/// Card or QR sale.
///
/// # Safety
/// `terminal` NULL or live; `request` NULL or valid (its strings NULL or NUL-terminated); `out` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_sale(
    terminal: *mut pos_terminal,
    request: *const pos_sale_request,
    out: *mut pos_transaction_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        tx(terminal, request, out, |t, r| {
            Ok(t.sale(r.amount, payment(r)?)?)
        })
    }
}

/// Card or QR pre-authorisation.
///
/// # Safety
/// `terminal` NULL or live; `request` NULL or valid (its strings NULL or NUL-terminated); `out` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_preauth(
    terminal: *mut pos_terminal,
    request: *const pos_preauth_request,
    out: *mut pos_transaction_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        tx(terminal, request, out, |t, r| {
            Ok(t.preauth(r.amount, payment(r)?)?)
        })
    }
}

/// Void a sale of the open batch (by its STAN in the journal).
///
/// # Safety
/// `terminal` NULL or live; `request` NULL or valid (its strings NULL or NUL-terminated); `out` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_void(
    terminal: *mut pos_terminal,
    request: *const pos_void_request,
    out: *mut pos_transaction_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        tx(terminal, request, out, |t, r| {
            Ok(t.void(r.stan, card_input(r.card)?)?)
        })
    }
}

/// Refund against an original that may be from an earlier batch.
///
/// # Safety
/// `terminal` NULL or live; `request` NULL or valid (its strings NULL or NUL-terminated); `out` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_refund(
    terminal: *mut pos_terminal,
    request: *const pos_refund_request,
    out: *mut pos_transaction_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        tx(terminal, request, out, |t, r| {
            Ok(t.refund(r.amount, original(&r.original)?, card_input(r.card)?)?)
        })
    }
}

/// Void a pre-authorisation.
///
/// # Safety
/// `terminal` NULL or live; `request` NULL or valid (its strings NULL or NUL-terminated); `out` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_preauth_void(
    terminal: *mut pos_terminal,
    request: *const pos_preauth_void_request,
    out: *mut pos_transaction_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        tx(terminal, request, out, |t, r| {
            Ok(t.preauth_void(r.amount, original(&r.original)?, card_input(r.card)?)?)
        })
    }
}

/// Complete a pre-authorisation (up to 115 % of it).
///
/// # Safety
/// `terminal` NULL or live; `request` NULL or valid (its strings NULL or NUL-terminated); `out` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_preauth_complete(
    terminal: *mut pos_terminal,
    request: *const pos_preauth_complete_request,
    out: *mut pos_transaction_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        tx(terminal, request, out, |t, r| {
            Ok(t.preauth_complete(r.amount, original(&r.original)?, card_input(r.card)?)?)
        })
    }
}

/// Void a pre-auth completion of the open batch (by its STAN).
///
/// # Safety
/// `terminal` NULL or live; `request` NULL or valid (its strings NULL or NUL-terminated); `out` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_preauth_complete_void(
    terminal: *mut pos_terminal,
    request: *const pos_preauth_complete_void_request,
    out: *mut pos_transaction_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        tx(terminal, request, out, |t, r| {
            Ok(t.preauth_complete_void(r.stan, card_input(r.card)?)?)
        })
    }
}

/// Add a tip to a sale of the open batch.
///
/// # Safety
/// `terminal` NULL or live; `request` NULL or valid (its strings NULL or NUL-terminated); `out` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_tip(
    terminal: *mut pos_terminal,
    request: *const pos_tip_request,
    out: *mut pos_transaction_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe { tx(terminal, request, out, |t, r| Ok(t.tip(r.stan, r.tip)?)) }
}

/// Void a tip (by the tip's STAN).
///
/// # Safety
/// `terminal` NULL or live; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_tip_void(
    terminal: *mut pos_terminal,
    stan: u32,
    out: *mut pos_transaction_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        run(terminal, |t| {
            need(out, "out")?;
            let r = t.tip_void(stan)?;
            write(out, transaction_result(r));
            Ok(())
        })
    }
}

/// Balance inquiry. `card` inline, or NULL to ask the card reader. The balance is in `out->balance`.
///
/// # Safety
/// `terminal` NULL or live; `card` NULL or valid; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_balance(
    terminal: *mut pos_terminal,
    card: *const pos_card_input,
    out: *mut pos_transaction_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        run(terminal, |t| {
            need(out, "out")?;
            let r = t.balance(card_input(card)?)?;
            write(out, transaction_result(r));
            Ok(())
        })
    }
}

// ---------------------------------------------------------------------------------------------------
// Batch

/// Detail query from the host. `batch` 0 = the open batch.
///
/// # Safety
/// `terminal` NULL or live; `out` NULL or writable. Free `out->records_json` with `pos_string_free`.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_query_details(
    terminal: *mut pos_terminal,
    batch: u32,
    out: *mut pos_detail_query_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        run(terminal, |t| {
            need(out, "out")?;
            let r = t.query_details((batch != 0).then_some(batch))?;
            write(out, records_result(r.batch, &r.records)?);
            Ok(())
        })
    }
}

/// Settle the open batch (with batch upload when the totals disagree).
///
/// # Safety
/// `terminal` NULL or live; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_settle(
    terminal: *mut pos_terminal,
    out: *mut pos_settlement_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        run(terminal, |t| {
            need(out, "out")?;
            let r = t.settle()?;
            write(
                out,
                pos_settlement_result {
                    batch: r.batch,
                    terminal: totals(&r.terminal),
                    host: totals(&r.host),
                    balanced: r.balanced,
                    uploaded: r.uploaded,
                    next_batch: r.next_batch,
                },
            );
            Ok(())
        })
    }
}

/// The local journal's records. `batch` 0 = the open batch.
///
/// # Safety
/// `terminal` NULL or live; `out` NULL or writable. Free `out->records_json` with `pos_string_free`.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_journal(
    terminal: *mut pos_terminal,
    batch: u32,
    out: *mut pos_journal_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        run(terminal, |t| {
            need(out, "out")?;
            let r = t.journal((batch != 0).then_some(batch))?;
            write(out, records_result(Some(r.batch), &r.records)?);
            Ok(())
        })
    }
}

/// A journal transaction's result and receipt again (marked as a reprint), by STAN; `batch` 0 = the open
/// batch. Nothing is sent to the host.
///
/// # Safety
/// `terminal` NULL or live; `out` NULL or writable. Free `out->receipt` with `pos_string_free`.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_reprint(
    terminal: *mut pos_terminal,
    stan: u32,
    batch: u32,
    out: *mut pos_transaction_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        run(terminal, |t| {
            need(out, "out")?;
            let r = t.reprint(stan, (batch != 0).then_some(batch))?;
            write(out, transaction_result(r));
            Ok(())
        })
    }
}

/// Terminal state: activated, signed in, batch, next STAN, pending reversal, unsent advices.
///
/// # Safety
/// `terminal` NULL or live; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_status(
    terminal: *mut pos_terminal,
    out: *mut pos_status_result,
) -> pos_result {
    // SAFETY: forwarded contract.
    unsafe {
        run(terminal, |t| {
            need(out, "out")?;
            let r = t.status()?;
            let rev = r.pending_reversal.as_ref();
            let mut o = pos_status_result {
                activated: r.activated,
                master_key_loaded: r.master_key_loaded,
                signed_in: r.signed_in,
                batch: r.batch,
                next_stan: r.next_stan,
                has_pending_reversal: rev.is_some(),
                pending_reversal_stan: rev.map(|p| p.stan).unwrap_or(0),
                pending_reversal_attempts: rev.map(|p| p.attempts).unwrap_or(0),
                pending_reversal_flagged: rev.map(|p| p.flagged).unwrap_or(false),
                pending_reversal_reason: [0; 4],
                unsent_advices: r.unsent_advices,
            };
            put(
                &mut o.pending_reversal_reason,
                rev.and_then(|p| p.reason.as_deref()).unwrap_or(""),
            );
            write(out, o);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn transaction_result_converts_every_field() {
        let r = api::TransactionResult {
            outcome: possdk_core::Outcome::Approved,
            approved: true,
            response_code: "00".into(),
            message: "approved".into(),
            kind: "sale".into(),
            stan: 12,
            batch: 1,
            amount: 10_000,
            tip: 0,
            reference: Some("123456789012".into()),
            auth_code: Some("654321".into()),
            masked_pan: Some("622588******6789".into()),
            voucher: None,
            card_org: Some("CUP".into()),
            datetime: "2026-11-25T18:00:00".into(),
            balance: Some(-5),
            receipt: vec!["MERCHANT COPY".into(), "SALE".into()],
        };
        let o = transaction_result(r);
        let s = |a: &[c_char]| crate::strings::get(a, "x").unwrap();
        assert!(
            o.approved && o.stan == 12 && o.amount == 10_000 && o.has_balance && o.balance == -5
        );
        assert_eq!(o.outcome, pos_outcome::POS_OUTCOME_APPROVED);
        assert_eq!(s(&o.response_code), "00");
        assert_eq!(s(&o.reference), "123456789012");
        assert_eq!(s(&o.auth_code), "654321");
        assert_eq!(s(&o.masked_pan), "622588******6789");
        assert_eq!(s(&o.voucher), "");
        assert_eq!(s(&o.datetime), "2026-11-25T18:00:00");
        let receipt = unsafe { CStr::from_ptr(o.receipt) }
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(receipt, "MERCHANT COPY\nSALE");
        unsafe { crate::pos_string_free(o.receipt) };
    }

    #[test]
    fn card_input_checks_pointers_and_values() {
        let pan = c"6225880123456789";
        let mut c = pos_card_input {
            entry: 2,
            pan: pan.as_ptr(),
            track2: std::ptr::null(),
            track3: std::ptr::null(),
            expiry: c"3012".as_ptr(),
            sequence: std::ptr::null(),
            icc: std::ptr::null(),
            icc_len: 3,
            pin: std::ptr::null(),
        };
        assert_eq!(
            unsafe { card_input(&c) }.unwrap_err().result,
            pos_result::POS_NULL_POINTER
        );
        c.icc_len = 0;
        let ci = unsafe { card_input(&c) }.unwrap().unwrap();
        assert_eq!(
            ci.pan.as_deref().map(|s| s.as_str()),
            Some("6225880123456789")
        );
        assert_eq!(ci.expiry.as_deref(), Some("3012"));
        c.entry = 42;
        let e = unsafe { card_input(&c) }.unwrap_err();
        assert_eq!(
            (e.result, e.field.as_deref()),
            (pos_result::POS_INVALID_ARGUMENT, Some("card.entry"))
        );
        assert!(unsafe { card_input(std::ptr::null()) }.unwrap().is_none());
    }

    #[test]
    fn payment_method_is_checked() {
        let r = pos_sale_request {
            amount: 1,
            method: 7,
            card: std::ptr::null(),
            qr_code: std::ptr::null(),
        };
        assert_eq!(
            unsafe { payment(&r) }.unwrap_err().result,
            pos_result::POS_INVALID_ARGUMENT
        );
        let r = pos_sale_request {
            amount: 1,
            method: POS_PAYMENT_QR,
            card: std::ptr::null(),
            qr_code: c"1300".as_ptr(),
        };
        assert!(matches!(unsafe { payment(&r) }.unwrap(), Payment::Qr(Some(ref c)) if c == "1300"));
        let r = pos_sale_request {
            amount: 1,
            method: POS_PAYMENT_CARD,
            card: std::ptr::null(),
            qr_code: std::ptr::null(),
        };
        assert!(matches!(
            unsafe { payment(&r) }.unwrap(),
            Payment::Card(None)
        ));
    }

    #[test]
    fn original_zero_means_absent() {
        let o = pos_original_ref {
            reference: c"123456789012".as_ptr(),
            auth_code: std::ptr::null(),
            date: c"1125".as_ptr(),
            batch: 0,
            stan: 7,
            voucher: std::ptr::null(),
        };
        let r = unsafe { original(&o) }.unwrap();
        assert_eq!(r.reference.as_deref(), Some("123456789012"));
        assert_eq!((r.batch, r.stan), (None, Some(7)));
    }
}

//! Reversals (0400, docs/PROTOCOL.md §6) and advice resends.
//!
//! The pending reversal is recorded with the request, before it leaves. It is sent before any other
//! financial message and before settlement — also by a new `Terminal` opened on the same journal after a
//! crash (its reason is then `98`). The host's `00` or `25` clears it; after the configured attempts it is
//! flagged and still retried before every transaction and before settlement.

use super::exchange::Reply;
use super::kinds;
use super::outcome::{effects_for, undo_effects};
use super::qr_order::BeforeReversal;
use super::{rc_of, transport_error, validate_echo, Dest, Engine};
use crate::error::{Error, ErrorKind, Result};
use crate::hal::{CancelToken, Event};
use crate::journal::{PendingReversal, TxOutcome};

/// Why a request is reversed: field 39 of the 0400 (docs/PROTOCOL.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReversalReason {
    /// `98`: no answer (also a reversal found pending after a crash, whose reason was never recorded).
    NoAnswer,
    /// `A0`: the answer's MAC did not verify.
    BadMac,
    /// `06`: anything else (an unreadable answer, cancelled after sending, a card decline after approval).
    Other,
}

impl ReversalReason {
    /// Its field 39 code in the profile (CUP: `98`, `A0`, `06`).
    pub(crate) fn code(self, profile: &crate::acquirer::Profile) -> &str {
        match self {
            ReversalReason::NoAnswer => &profile.reversal.no_answer,
            ReversalReason::BadMac => &profile.reversal.bad_mac,
            ReversalReason::Other => &profile.reversal.other,
        }
    }
}

impl Engine {
    /// Try the oldest unflagged pending reversal(s) up to `tries` exchanges now (right after the failure
    /// that armed one). `Ok(true)`: no unflagged reversal is pending any more.
    pub fn flush_reversal(&mut self, tries: u32) -> Result<bool> {
        for _ in 0..tries.max(1) {
            let Some(rev) = self.journal.pending_reversal()? else {
                return Ok(true);
            };
            self.attempt_reversal(&rev)?;
        }
        Ok(self.journal.pending_reversal()?.is_none())
    }

    /// Every reversal owed, flagged ones included (before every financial message and before settlement).
    /// `Ok(true)` when none is left.
    pub fn flush_all_reversals(&mut self) -> Result<bool> {
        let limit = self.cfg.reversal_attempts.max(1);
        for mut rev in self.journal.pending_reversals()? {
            let tries = if rev.flagged {
                1
            } else {
                limit.saturating_sub(rev.attempts).max(1)
            };
            for _ in 0..tries {
                if self.attempt_reversal(&rev)? {
                    break;
                }
                rev.attempts += 1;
            }
        }
        Ok(self.journal.pending_reversals()?.is_empty())
    }

    /// One attempt; the journal records the result. `Ok(true)` when the host cleared it.
    fn attempt_reversal(&mut self, rev: &PendingReversal) -> Result<bool> {
        let limit = self.cfg.reversal_attempts.max(1);
        // A kind queried first (kinds.rs `unknown`) is asked about before it is reversed: paid, there is
        // nothing to reverse (docs/PROTOCOL.md §4.11).
        if let BeforeReversal::Paid = self.query_before_reversal(rev)? {
            return Ok(true);
        }
        match self.send_reversal(rev) {
            Ok(rc) => {
                let undo = match self.journal.get(rev.tx_id)? {
                    Some(r) => match kinds::by_name(&r.kind) {
                        Some(def) => {
                            let orig = match r.original_id {
                                Some(o) => self.journal.get(o)?,
                                None => None,
                            };
                            undo_effects(def, orig.as_ref())
                        }
                        None => Vec::new(),
                    },
                    None => Vec::new(),
                };
                self.journal.reversal_done(rev.tx_id, &undo)?;
                log::info!("reversal of {:06} accepted ({rc})", rev.stan);
                Ok(true)
            }
            Err(e) => {
                let flagged = rev.flagged || rev.attempts + 1 >= limit;
                self.journal.reversal_attempted(rev.tx_id, flagged)?;
                if flagged {
                    log::error!(
                        "reversal of {:06} undelivered after {} attempts: flagged for attention ({})",
                        rev.stan,
                        rev.attempts + 1,
                        e.message
                    );
                } else {
                    log::warn!("reversal of {:06} not delivered: {}", rev.stan, e.message);
                }
                Ok(false)
            }
        }
    }

    /// One 0400 exchange. `Ok(rc)` when the host cleared it (`00` or `25`).
    fn send_reversal(&mut self, rev: &PendingReversal) -> Result<String> {
        let mut msg = crate::iso8583::decode_body_with(&self.profile.wire.codec, &rev.body)?;
        if let Some(a) = &rev.auth_code {
            msg.set_str(38, a);
        }
        let reason = rev
            .reason
            .clone()
            .unwrap_or_else(|| ReversalReason::NoAnswer.code(&self.profile).to_string());
        msg.set_str(39, &reason);
        let frame = self.encode(Dest::Gateway, &mut msg, true)?;
        self.emit(Event::Reversing { stan: rev.stan });
        log::info!(
            "sending reversal of {:06} (reason {reason}, attempt {})",
            rev.stan,
            rev.attempts + 1
        );
        // A reversal is never cancelled by the app: it protects the cardholder.
        let never = CancelToken::new();
        let raw = self
            .exchange_raw(Dest::Gateway, &frame, &never)
            .map_err(|e| transport_error(&e))?;
        let resp = self.decode(&raw)?;
        validate_echo(&msg, &resp.message, &[3, 4, 11, 41, 42], false)?;
        if !self.response_mac_ok(&raw, &resp.message) {
            return Err(Error::new(ErrorKind::InvalidResponse, "0410 MAC invalid"));
        }
        self.note_header(&resp.header)?;
        let rc = rc_of(&resp.message);
        match rc.as_str() {
            "00" | "25" => Ok(rc),
            other => Err(Error::new(
                ErrorKind::HostRejected,
                format!("reversal answered {other}"),
            )),
        }
    }

    /// Resend every unanswered advice once (identical frame, same STAN). An advice is never dropped: past
    /// the attempt limit it is still resent before each transaction and must be delivered before
    /// settlement. `Ok(true)` when none is left.
    pub fn flush_advices(&mut self) -> Result<bool> {
        for adv in self.journal.pending_advices()? {
            let req = match self.decode_stored(&adv.frame) {
                Ok(m) => m,
                Err(e) => {
                    log::error!("stored advice {:06} does not decode: {e}", adv.stan);
                    continue;
                }
            };
            self.emit(Event::ResendingAdvice { stan: adv.stan });
            log::info!(
                "resending advice {:06} (attempt {})",
                adv.stan,
                adv.attempts + 1
            );
            // The identical body; the MAC is recomputed under the current MAK (the same bytes unless
            // the terminal signed in again meanwhile, when the old MAC would no longer verify).
            let mut frame = adv.frame.clone();
            if let Err(e) = self.mac_frame(&mut frame) {
                log::warn!("advice {:06} cannot be MAC'd now: {e}", adv.stan);
                continue;
            }
            match self.send_checked(&req, &frame, Dest::Gateway, true) {
                Reply::Answer { resp, raw, header } => {
                    let rc = rc_of(&resp);
                    if !self.answer_mac_ok(&raw, &resp) {
                        self.journal.advice_attempted(adv.tx_id)?;
                        self.sign_out("advice response MAC invalid")?;
                        return Err(Error::new(
                            ErrorKind::InvalidResponse,
                            format!(
                                "response MAC invalid for the advice {:06}: it is kept and will be resent; sign in again",
                                adv.stan
                            ),
                        ));
                    }
                    self.note_header(&header)?;
                    let Some(row) = self.journal.get(adv.tx_id)? else {
                        continue;
                    };
                    let pan = self.journal.pan(row.id)?;
                    let outcome: TxOutcome = self.outcome_of(
                        &resp,
                        row.voucher.as_deref(),
                        pan.as_deref().map(|p| p.as_str()),
                    );
                    let effects = match (self.is_approval(&rc), kinds::by_name(&row.kind)) {
                        (true, Some(def)) => {
                            let orig = match row.original_id {
                                Some(o) => self.journal.get(o)?,
                                None => None,
                            };
                            effects_for(def, orig.as_ref(), row.amount, row.tip)
                        }
                        _ => Vec::new(),
                    };
                    self.journal
                        .record_outcome(row.id, &outcome, &effects, true)?;
                    log::info!("advice {:06} answered {rc}", adv.stan);
                }
                Reply::NoAnswer(e) => {
                    self.journal.advice_attempted(adv.tx_id)?;
                    log::warn!(
                        "advice {:06} not answered: {}",
                        adv.stan,
                        transport_error(&e).message
                    );
                }
                Reply::Invalid(e) => {
                    self.journal.advice_attempted(adv.tx_id)?;
                    log::warn!("advice {:06}: invalid answer: {}", adv.stan, e.message);
                }
            }
        }
        // The chip uploads (TC, script results) share the queue and its rules (§6.6).
        let uploads_done = self.flush_uploads()?;
        Ok(self.journal.pending_advices()?.is_empty() && uploads_done)
    }
}

//! Phases "preflight" and "exchange": what the host is owed goes first (parameters it asked for, the
//! pending reversal, unsent advices); then the request is sent and its answer checked against it. A
//! request without an answer that counts is settled here by its delivery class: reversed, kept as an
//! advice, or failed.

use super::kinds::{Delivery, KindDef};
use super::reversal::ReversalReason;
use super::{keys, validate_echo, Dest, Engine};
use crate::error::{Error, ErrorKind, Outcome, Result};
use crate::hal::{ChipCompletion, HalError, TransportError};
use crate::iso8583::{self, Header, Message};
use crate::journal::{TxOutcome, TxState};

/// A response as checked against its request.
pub(crate) enum Reply {
    Answer {
        resp: Box<Message>,
        raw: Vec<u8>,
        header: Header,
    },
    NoAnswer(TransportError),
    Invalid(Error),
}

pub(crate) fn hal_error(e: HalError, what: &str) -> Error {
    match e {
        HalError::Cancelled => Error::new(
            ErrorKind::Cancelled,
            format!("cancelled while waiting for the {what}"),
        ),
        HalError::Timeout => Error::new(
            ErrorKind::Cancelled,
            format!("no {what} before the timeout"),
        ),
        HalError::Device(m) => Error::new(ErrorKind::Device, format!("{what}: {m}")),
    }
}

impl Engine {
    /// Before a financial message: the host's parameter requests, the pending reversal, the advices.
    pub fn before_financial(&mut self) -> Result<()> {
        if self.flag(keys::CAPKS_REQUIRED)? {
            log::info!("host asked for CAPKs: downloading before the transaction");
            self.download_capks()?;
        }
        if self.flag(keys::AIDS_REQUIRED)? {
            log::info!("host asked for AIDs: downloading before the transaction");
            self.download_aids()?;
        }
        // An open merchant-presented order goes first of all: it may have been paid.
        self.resolve_open_orders()?;
        // Every reversal owed goes first, a flagged one too: a transaction sent ahead of an undelivered
        // reversal could touch the same original (a retried void approved while the first void's reversal
        // waits) and the late reversal would then undo the wrong thing.
        if !self.flush_all_reversals()? {
            let stans: Vec<String> = self
                .journal
                .pending_reversals()?
                .iter()
                .map(|r| format!("{:06}", r.stan))
                .collect();
            return Err(Error::new(
                ErrorKind::HostTimeout,
                format!(
                    "the pending reversal of {} could not be delivered; nothing else is sent until it is",
                    stans.join(", ")
                ),
            ));
        }
        self.flush_advices()?;
        Ok(())
    }

    /// Send a request frame and check the answer against the request (MTI + 10, 3 4 11 41 42, 39).
    pub(crate) fn send_checked(
        &mut self,
        req: &Message,
        frame: &[u8],
        dest: Dest,
        strict: bool,
    ) -> Reply {
        let cancel = self.cancel.clone();
        let raw = match self.exchange_raw(dest, frame, &cancel) {
            Ok(raw) => raw,
            Err(e) => return Reply::NoAnswer(e),
        };
        let resp = match self.profile.wire.decode_frame(&raw) {
            Ok(f) => f,
            Err(e) => return Reply::Invalid(e.into()),
        };
        if let Err(e) = validate_echo(req, &resp.message, &[3, 4, 11, 41, 42], strict) {
            return Reply::Invalid(e);
        }
        if resp.message.get_str(39).is_none_or(|rc| rc.len() != 2) {
            return Reply::Invalid(Error::new(
                ErrorKind::InvalidResponse,
                "response without a valid field 39",
            ));
        }
        log::debug!(
            "response {}",
            iso8583::mask::masked_with(&resp.message, &self.profile.secrecy)
        );
        Reply::Answer {
            resp: Box::new(resp.message),
            raw,
            header: resp.header,
        }
    }

    /// The outcome of a valid answer, recorded with its effects. Returns the outcome.
    /// Plain (an inquiry, which moves no money): failed. The error says which.
    pub(super) fn fail_after_send(
        &mut self,
        def: &KindDef,
        id: i64,
        stan: u32,
        reason: ReversalReason,
        auth: Option<&str>,
        err: Error,
    ) -> Error {
        let reason = reason.code(&self.profile).to_string();
        let reason = reason.as_str();
        let err = err.or_stan(stan);
        let delivery = match self.profile.kind(def.kind) {
            Ok(w) => w.delivery,
            Err(e) => return e,
        };
        match delivery {
            Delivery::Reversible => {
                if let Err(e) = self.journal.arm_reversal(id, reason, auth) {
                    // Not armed: the row is still pending with its reversal recorded before sending.
                    return Error::from(e)
                        .with_outcome(Outcome::ReversalPending)
                        .or_stan(stan);
                }
                let (outcome, what) = match self.flush_reversal(1) {
                    Ok(true) => (
                        Outcome::Reversed,
                        format!("transaction {stan:06} reversed ({reason})"),
                    ),
                    Ok(false) => (
                        Outcome::ReversalPending,
                        format!("reversal of {stan:06} pending ({reason})"),
                    ),
                    Err(e) => (
                        Outcome::ReversalPending,
                        format!("reversal of {stan:06} pending ({reason}): {}", e.message),
                    ),
                };
                Error {
                    message: format!("{}; {what}", err.message),
                    ..err
                }
                .with_outcome(outcome)
            }
            Delivery::Advice => {
                if let Err(e) = self.journal.advice_attempted(id) {
                    log::warn!("advice {stan:06}: attempt not recorded: {e}");
                }
                Error {
                    message: format!(
                        "{}; the advice {stan:06} is kept and will be resent",
                        err.message
                    ),
                    ..err
                }
                .with_outcome(Outcome::AdvicePending)
            }
            // An order is never reversed: it stays open, and is queried and closed (flows/qr_order.rs).
            Delivery::Order => err.with_outcome(Outcome::ReversalPending),
            Delivery::Plain => match self.record_failed(id) {
                Ok(()) => err.with_outcome(Outcome::NotSent),
                Err(e) => e.or_stan(stan),
            },
        }
    }

    /// The request never produced an answer that counts and nothing is owed for it: the row is failed and
    /// anything pending for it is cleared.
    pub(super) fn record_failed(&mut self, id: i64) -> Result<()> {
        self.journal.record_outcome(
            id,
            &TxOutcome {
                state: Some(TxState::Failed),
                ..Default::default()
            },
            &[],
            true,
        )?;
        Ok(())
    }

    /// Tell a live chip card the host gave no usable answer (it declines offline); best effort.
    pub(super) fn chip_offline(&mut self) {
        if let Some(reader) = self.card_reader.as_mut() {
            let completion = ChipCompletion {
                response_code: String::new(),
                icc_response: Vec::new(),
                host_answered: false,
            };
            if let Err(e) = reader.complete_chip(&completion) {
                log::warn!("second GENERATE AC without host answer failed: {e}");
            }
        }
    }
}

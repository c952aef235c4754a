//! The one executor every financial kind runs (docs/ARCHITECTURE.md, "How a sale travels"), as named
//! phases:
//!
//! 1. validate: the request, before anything is touched (here)
//! 2. resolve original: the original in the journal (original.rs)
//! 3. preflight: what the host is owed goes first, parameters, the pending reversal, advices (exchange.rs)
//! 4. capture: card and PIN, or the QR code (capture.rs)
//! 5. record: build, MAC, journal durably with its reversal or advice (here)
//! 6. exchange: send, check the answer; with none that counts, reverse, keep the advice or fail (here and
//!    exchange.rs)
//! 7. outcome: journal the answer and its effects on the original (outcome.rs)
//! 8. chip completion: the card's second GENERATE AC has the last word (outcome.rs)
//!
//! What differs between kinds is a column of their row in kinds.rs; nothing here names a kind.

use super::build::{self, card_data_of, card_read, CardRead, OriginalInfo, Prepared};
use super::kinds::{self, AmountRule, Delivery, Kind, KindDef, Means, OnOriginal, Unknown};
use super::outcome::unanswered_outcome;
use super::qr_order::PAYING_CODE;
use super::reversal::ReversalReason;
use super::{rc_of, transport_error, Dest, Engine};
use crate::error::{Error, ErrorKind, Outcome, Result};
use crate::hal::{Event, TransportError};
use crate::iso8583::Message;
use crate::journal::{NewTx, PendingAdvice, PendingReversal};
use crate::model::{CardInput, OriginalRef, TransactionResult};
use std::time::Duration;

pub(super) use super::exchange::Reply;

/// How long a card, PIN or QR code is waited for.
pub const DEVICE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the facade hands to the executor.
#[derive(Debug, Clone, Default)]
pub(crate) struct TxInput {
    pub amount: Option<u64>,
    pub tip: Option<u64>,
    pub card: Option<CardInput>,
    pub qr_code: Option<String>,
    pub original_stan: Option<u32>,
    pub original_ref: Option<OriginalRef>,
}

/// A request that is in the journal (its STAN consumed) and about to leave.
pub(super) struct Sent {
    pub id: i64,
    pub stan: u32,
    pub batch: u32,
    pub req: Message,
    pub frame: Vec<u8>,
}

impl Engine {
    /// Run one financial transaction. Every error says where the money stands (`Error::outcome`): an error
    /// before the request was journalled is `not_sent`; after, the delivery class decides.
    pub fn transact(&mut self, kind: Kind, input: TxInput) -> Result<TransactionResult> {
        self.run_phases(kinds::def(kind), input)
            .map_err(|e| e.or_outcome(Outcome::NotSent))
    }

    fn run_phases(&mut self, def: &'static KindDef, input: TxInput) -> Result<TransactionResult> {
        // A kind the acquirer profile does not carry is refused before anything happens.
        let delivery = self.profile.kind(def.kind)?.delivery;
        self.ensure_signed_in()?;
        // 1. validate
        let inline_card = validate(def, &input)?;
        // 2. resolve original: typed errors before anything is sent ...
        self.resolve_original(def, &input)?;
        // 3. preflight
        self.before_financial()?;
        // ... and again once pending reversals and advices have been applied to it.
        let original = self.resolve_original(def, &input)?;
        let (amount, tip) = amounts(def, &input, original.as_ref())?;
        // 4. capture
        let original_pan = original.as_ref().and_then(|o| o.pan.as_deref());
        let captured = self.capture(
            def,
            &input,
            inline_card,
            original_pan.map(|p| p.as_str()),
            amount,
        )?;
        // A chip card that approved offline within the floor limit turns the row into its offline twin:
        // recorded approved (Y1), delivered as an advice, no online PIN.
        let offline = self.offline_row(def, captured.card.as_ref(), amount)?;
        let (def, pin_block) = match offline {
            Some(twin) => (twin, None),
            None => (def, captured.pin_block),
        };
        let prepared = Prepared {
            def,
            amount,
            tip,
            card: captured.card,
            pin_block,
            qr_code: captured.qr_code,
            original,
        };
        // 5. record
        let sent = self.record(&prepared)?;
        let stan = sent.stan;
        if offline.is_some() {
            return self.approve_offline(&prepared, sent);
        }
        // From here on the request is in the journal: an error that does not say otherwise leaves the
        // money where the delivery class puts an unanswered request.
        self.deliver(&input, &prepared, sent)
            .map_err(|e| e.or_outcome(unanswered_outcome(delivery)).or_stan(stan))
    }

    /// Phase 5: the request built on the STAN it will get, MAC'd, and journalled in one durable commit
    /// with its pending reversal (reversible kinds) or advice (advices). A request that cannot be built
    /// leaves the journal as it was.
    pub(super) fn record(&mut self, prepared: &Prepared) -> Result<Sent> {
        let def = prepared.def;
        let batch = self.journal.batch()?;
        let stan = self.journal.peek_stan()?;
        let mut req = build::build_request(self, prepared, stan, batch)?;
        let frame = self.encode(Dest::Gateway, &mut req, true)?;
        let pan = match def.means {
            Means::Card => prepared.card.as_ref().map(|c| c.pan.to_string()),
            Means::OriginalCard => prepared
                .original
                .as_ref()
                .and_then(|o| o.pan.as_ref().map(|p| p.to_string())),
            Means::QrCode | Means::QrVoucher | Means::QrPresented => None,
        };
        let original = prepared.original.as_ref();
        let mut new_tx = NewTx {
            kind: def.name.to_string(),
            mti: req.mti.0,
            batch,
            stan,
            amount: prepared.amount.unwrap_or(0),
            tip: prepared.tip,
            pan,
            entry_mode: req.get_str(22).map(str::to_string),
            voucher: original.and_then(|o| o.voucher.clone()),
            original_id: original.and_then(|o| o.row.as_ref()).map(|r| r.id),
            original_batch: original.map(|o| o.batch),
            original_stan: original.map(|o| o.stan),
            original_date: original.map(|o| o.date.clone()),
            reference: None,
            auth_code: None,
            created_at: self.now().iso(),
        };
        let delivery = self.profile.kind(def.kind)?.delivery;
        let reversal = match delivery {
            Delivery::Reversible => Some(PendingReversal {
                tx_id: 0,
                stan,
                body: build::reversal_body(&self.profile.wire.codec, &req)?,
                reason: None,
                auth_code: None,
                attempts: 0,
                flagged: false,
            }),
            Delivery::Advice | Delivery::Plain | Delivery::Order => None,
        };
        let advice = match delivery {
            Delivery::Advice => Some(PendingAdvice {
                tx_id: 0,
                stan,
                frame: frame.clone(),
                attempts: 0,
            }),
            Delivery::Reversible | Delivery::Plain | Delivery::Order => None,
        };
        // `record_request` consumes the peeked STAN in the same durable commit as the row.
        let id = self
            .journal
            .record_request(&new_tx, reversal.as_ref(), advice.as_ref())?;
        if let Some(p) = new_tx.pan.as_mut() {
            // The journal keeps it sealed; this copy goes.
            zeroize::Zeroize::zeroize(p);
        }
        log::info!(
            "{} {:06} batch {:06} amount {:?}: sending",
            def.name,
            stan,
            batch,
            prepared.amount
        );
        Ok(Sent {
            id,
            stan,
            batch,
            req,
            frame,
        })
    }

    /// Phases 6 to 8 for a journalled request: exchange, outcome, chip completion.
    fn deliver(
        &mut self,
        input: &TxInput,
        prepared: &Prepared,
        sent: Sent,
    ) -> Result<TransactionResult> {
        let def = prepared.def;
        let (id, stan) = (sent.id, sent.stan);
        // A live chip card waits for the second GENERATE AC whatever happens.
        let live_chip =
            prepared.card.as_ref().is_some_and(CardRead::is_chip) && input.card.is_none();
        // 6. exchange
        let reply = self.exchange(def, &sent)?;
        if live_chip && !matches!(reply, Reply::Answer { .. }) {
            self.chip_offline();
        }
        let (resp, raw, header) = match reply {
            Reply::Answer { resp, raw, header } => (resp, raw, header),
            Reply::NoAnswer(e) if !e.maybe_sent() => {
                self.record_failed(id)?;
                return Err(transport_error(&e).with_outcome(Outcome::NotSent));
            }
            Reply::NoAnswer(e) => {
                let reason = match e {
                    TransportError::Cancelled { .. } => ReversalReason::Other,
                    _ => ReversalReason::NoAnswer,
                };
                let err = self.fail_after_send(def, id, stan, reason, None, transport_error(&e));
                return self.paid_after_all(def, id, err);
            }
            Reply::Invalid(e) => {
                log::warn!("{} {:06}: invalid response: {}", def.name, stan, e.message);
                let err = self.fail_after_send(def, id, stan, ReversalReason::Other, None, e);
                return self.paid_after_all(def, id, err);
            }
        };
        if !self.answer_mac_ok(&raw, &resp) {
            log::warn!("{} {:06}: response MAC invalid", def.name, stan);
            let auth = resp.get_str(38).map(str::to_string);
            let err = Error::new(ErrorKind::InvalidResponse, "response MAC invalid");
            if live_chip {
                self.chip_offline();
            }
            let err =
                self.fail_after_send(def, id, stan, ReversalReason::BadMac, auth.as_deref(), err);
            self.sign_out("response MAC invalid")?;
            let err = Error {
                message: format!("{}; sign in again", err.message),
                ..err
            };
            return self.paid_after_all(def, id, err);
        }
        self.note_header(&header)?;
        let rc = rc_of(&resp);
        // The customer is still confirming in the wallet: the outcome is learnt by querying, and the
        // reversal goes only if it was not paid (docs/PROTOCOL.md §4.11).
        if def.unknown == Unknown::QueryFirst && rc == PAYING_CODE {
            log::info!("{} {:06}: the customer is paying: querying", def.name, stan);
            let err = Error::new(ErrorKind::HostTimeout, "the customer did not finish paying");
            let err = self.fail_after_send(def, id, stan, ReversalReason::Other, None, err);
            return self.paid_after_all(def, id, err);
        }
        // An answer the acquirer profile reverses counts as none (docs/PROFILES.md §8).
        if self.profile.reverses(&rc) {
            log::warn!(
                "{} {:06}: answered {rc}, which the profile reverses",
                def.name,
                stan
            );
            if live_chip {
                self.chip_offline();
            }
            let text = self.profile.response_text(&rc);
            let err = Error::new(ErrorKind::HostRejected, format!("answered {rc} ({text})"));
            let err = self.fail_after_send(def, id, stan, ReversalReason::Other, None, err);
            return self.paid_after_all(def, id, err);
        }
        // 7. outcome, 8. chip completion
        self.conclude(prepared, live_chip, &sent, &resp)
    }

    /// Phase 6: send the journalled request and wait for an answer that counts. An advice is sent again
    /// (same STAN, same body) up to the configured attempts within the call; an advice that still has no
    /// answer stays queued and the error says so.
    fn exchange(&mut self, def: &KindDef, sent: &Sent) -> Result<Reply> {
        let (id, stan) = (sent.id, sent.stan);
        let mut reply = self.send_checked(&sent.req, &sent.frame, Dest::Gateway, true);
        if self.profile.kind(def.kind)?.delivery != Delivery::Advice {
            return Ok(reply);
        }
        let limit = self.cfg.reversal_attempts.max(1);
        let mut tries = 1;
        while !matches!(reply, Reply::Answer { .. }) {
            if let Reply::NoAnswer(e) = &reply {
                if !e.maybe_sent() && tries == 1 {
                    // The first attempt never left: nothing to resend, the advice is void. (A later
                    // attempt that cannot connect changes nothing: the first may have arrived.)
                    return Ok(reply);
                }
            }
            self.journal.advice_attempted(id)?;
            let cancelled = matches!(&reply, Reply::NoAnswer(TransportError::Cancelled { .. }));
            if tries >= limit || cancelled {
                let err = match &reply {
                    Reply::NoAnswer(e) => transport_error(e),
                    Reply::Invalid(e) => e.clone(),
                    Reply::Answer { .. } => Error::internal("an answer that counts ended the loop"),
                };
                return Err(Error {
                    message: format!(
                        "{}; the advice {stan:06} is kept and will be resent",
                        err.message
                    ),
                    ..err
                }
                .with_outcome(Outcome::AdvicePending));
            }
            tries += 1;
            self.emit(Event::ResendingAdvice { stan });
            reply = self.send_checked(&sent.req, &sent.frame, Dest::Gateway, true);
        }
        Ok(reply)
    }
}

/// Phase 1: everything the request says, checked before anything is touched. Returns the inline card,
/// read and checked, for card kinds.
fn validate(def: &KindDef, input: &TxInput) -> Result<Option<CardRead>> {
    if def.amount == AmountRule::Input {
        build::validate_amount("amount", input.amount.unwrap_or(0))?;
    }
    if def.on_original == OnOriginal::Tip {
        build::validate_amount("tip", input.tip.unwrap_or(0))?;
    }
    if let Some(code) = &input.qr_code {
        build::validate_qr_code("qr_code", code)?;
    }
    let inline_card = match (&input.card, def.means) {
        (Some(c), Means::Card) => {
            if let Some(pin) = &c.pin {
                build::validate_pin("card.pin", pin)?;
            }
            Some(card_read("card", &card_data_of(c))?)
        }
        _ => None,
    };
    if let Some(r) = &input.original_ref {
        super::original::validate_original_ref(def, r)?;
    }
    Ok(inline_card)
}

/// Field 4 and the tip, by the row's amount rule.
fn amounts(
    def: &KindDef,
    input: &TxInput,
    original: Option<&OriginalInfo>,
) -> Result<(Option<u64>, u64)> {
    let row = original.and_then(|o| o.row.as_ref());
    let tip = match def.on_original {
        OnOriginal::Tip => input.tip.unwrap_or(0),
        OnOriginal::TipVoid => row.map(|r| r.tip).unwrap_or(0),
        _ => 0,
    };
    let amount = match def.amount {
        AmountRule::Input => input.amount,
        AmountRule::Absent => None,
        AmountRule::OriginalTotal => row.map(|r| r.amount + r.tip),
        AmountRule::SalePlusTip => row.map(|r| r.amount + tip),
        // A tip row's amount is the sale amount plus its tip.
        AmountRule::SaleAmount => row.map(|r| r.amount.saturating_sub(r.tip)),
    };
    if def.amount != AmountRule::Absent {
        build::validate_amount("amount", amount.unwrap_or(0))?;
    }
    Ok((amount, tip))
}

/// An answer that counts: approved or not, and what 39 says.
pub(super) fn approval(engine: &Engine, resp: &Message) -> (String, bool) {
    let rc = rc_of(resp);
    let approved = engine.is_approval(&rc);
    (rc, approved)
}

//! THE pipeline every financial kind runs (ARCHITECTURE.md "The way a sale travels"):
//! pending reversal & advices first -> card / QR / PIN -> build -> MAC -> journal (durable) -> transport
//! -> decode -> validate (MTI + 10, echoes, MAC) -> journal -> chip second GENERATE AC -> result.

use super::build::{self, card_data_of, card_read, CardRead, OriginalInfo, Prepared};
use super::kinds::{self, AmountRule, Delivery, Kind, KindDef, Means, OnOriginal, OriginalRule};
use super::{
    host_datetime, is_approval, keys, rc_of, requires_sign_in, transport_error, validate_echo,
    Dest, Engine,
};
use crate::api::{CardInput, OriginalRef, TransactionResult};
use crate::error::{Error, ErrorKind, Result};
use crate::hal::{
    CardModes, CardRequest, ChipCompletion, Event, HalError, PinEntry, PinRequest, QrRequest,
    TransportError,
};
use crate::iso8583::{self, Header, Message};
use crate::journal::{Effect, NewTx, PendingAdvice, PendingReversal, TxOutcome, TxRecord, TxState};
use std::time::Duration;

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

/// Journal effects of an approved transaction on other rows.
pub(crate) fn effects_for(
    def: &KindDef,
    orig: Option<&TxRecord>,
    amount: u64,
    tip: u64,
) -> Vec<Effect> {
    let Some(o) = orig else { return Vec::new() };
    match def.on_original {
        OnOriginal::None => vec![],
        OnOriginal::Void => vec![Effect::SetState {
            id: o.id,
            state: TxState::Voided,
        }],
        OnOriginal::Refund => vec![Effect::AddRefunded { id: o.id, amount }],
        OnOriginal::Complete => vec![Effect::SetCompleted {
            id: o.id,
            completed: true,
        }],
        OnOriginal::CompleteVoid => {
            let mut v = vec![Effect::SetState {
                id: o.id,
                state: TxState::Voided,
            }];
            if let Some(p) = o.original_id {
                v.push(Effect::SetCompleted {
                    id: p,
                    completed: false,
                });
            }
            v
        }
        OnOriginal::Tip => vec![Effect::SetTip { id: o.id, tip }],
        OnOriginal::TipVoid => {
            let mut v = vec![Effect::SetState {
                id: o.id,
                state: TxState::Voided,
            }];
            if let Some(s) = o.original_id {
                v.push(Effect::SetTip { id: s, tip: 0 });
            }
            v
        }
    }
}

/// What a reversal of this kind undoes on other rows (idempotent if the effects were never applied).
pub(crate) fn undo_effects(def: &KindDef, orig: Option<&TxRecord>) -> Vec<Effect> {
    let Some(o) = orig else { return Vec::new() };
    match def.on_original {
        OnOriginal::Void => vec![Effect::SetState {
            id: o.id,
            state: TxState::Approved,
        }],
        OnOriginal::Complete => vec![Effect::SetCompleted {
            id: o.id,
            completed: false,
        }],
        OnOriginal::CompleteVoid => {
            let mut v = vec![Effect::SetState {
                id: o.id,
                state: TxState::Approved,
            }];
            if let Some(p) = o.original_id {
                v.push(Effect::SetCompleted {
                    id: p,
                    completed: true,
                });
            }
            v
        }
        // Advices (refund, tip, tip void) are never reversed; sales and pre-auths touch nothing else.
        _ => vec![],
    }
}

/// MMDD of a journal row: the host's date, else the local date it was made.
pub(crate) fn row_date(row: &TxRecord) -> String {
    if let Some(d) = row.host_date.as_deref().filter(|d| d.len() == 4) {
        return d.to_string();
    }
    match (row.created_at.get(5..7), row.created_at.get(8..10)) {
        (Some(m), Some(d)) => format!("{m}{d}"),
        _ => "0000".to_string(),
    }
}

/// Balance from field 54 (`10 02 156 C 000001000000`), the available amount preferred.
/// Entries are 20 ASCII bytes with 12 digits of amount; anything else makes the field unreadable
/// (work on bytes: host text is not trusted to split at character boundaries).
pub fn parse_balance(f54: &str) -> Option<i64> {
    let mut found = None;
    for entry in f54.as_bytes().chunks(20) {
        if entry.len() != 20 {
            break;
        }
        let amount = &entry[8..20];
        if !entry.is_ascii() || !amount.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let amount = amount
            .iter()
            .fold(0i64, |a, &d| a * 10 + i64::from(d - b'0'));
        let value = match entry[7] {
            b'D' => -amount,
            _ => amount,
        };
        if &entry[2..4] == b"02" || found.is_none() {
            found = Some(value);
        }
    }
    found
}

fn validate_original_ref(def: &KindDef, r: &OriginalRef) -> Result<()> {
    if let Some(x) = &r.reference {
        if x.is_empty() || x.len() > 12 || !x.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::invalid(
                "original.reference",
                "reference number must be 1 to 12 letters or digits",
            ));
        }
    }
    if let Some(x) = &r.auth_code {
        if x.is_empty() || x.len() > 6 || !x.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::invalid(
                "original.auth_code",
                "authorisation id must be 1 to 6 letters or digits",
            ));
        }
    }
    if let Some(d) = &r.date {
        let ok = d.len() == 4
            && d.bytes().all(|b| b.is_ascii_digit())
            && (1..=12).contains(&d[..2].parse::<u32>().unwrap_or(0))
            && (1..=31).contains(&d[2..].parse::<u32>().unwrap_or(0));
        if !ok {
            return Err(Error::invalid("original.date", "date must be MMDD"));
        }
    }
    if let Some(b) = r.batch {
        if b == 0 || b > 999_999 {
            return Err(Error::invalid(
                "original.batch",
                "batch must be 1 to 999999",
            ));
        }
    }
    if let Some(s) = r.stan {
        if s == 0 || s > 999_999 {
            return Err(Error::invalid("original.stan", "STAN must be 1 to 999999"));
        }
    }
    if let Some(v) = &r.voucher {
        if v.is_empty() || v.len() > 40 || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::invalid(
                "original.voucher",
                "voucher must be 1 to 40 letters or digits",
            ));
        }
    }
    match def.kind {
        Kind::Refund | Kind::QrRefund if r.reference.is_none() => {
            return Err(Error::invalid("original.reference", "required"));
        }
        Kind::PreauthVoid | Kind::PreauthComplete | Kind::QrPreauthVoid | Kind::QrComplete => {
            if r.batch.is_none() || r.stan.is_none() {
                let f = if r.batch.is_none() {
                    "original.batch"
                } else {
                    "original.stan"
                };
                return Err(Error::invalid(f, "required"));
            }
            if !def.is_qr() && r.auth_code.is_none() {
                return Err(Error::invalid("original.auth_code", "required"));
            }
        }
        _ => {}
    }
    if def.is_qr() && r.voucher.is_none() {
        return Err(Error::invalid(
            "original.voucher",
            "required for a QR original",
        ));
    }
    Ok(())
}

fn validate_stan(field: &str, stan: u32) -> Result<()> {
    if stan == 0 || stan > 999_999 {
        return Err(Error::invalid(field, "STAN must be 1 to 999999"));
    }
    Ok(())
}

fn kind_names(kinds: &[Kind]) -> String {
    kinds
        .iter()
        .map(|k| kinds::def(*k).name)
        .collect::<Vec<_>>()
        .join("/")
}

impl Engine {
    /// The kind a journal-referenced operation runs, from the original's kind (card or QR variant).
    pub fn kind_for_original(&self, stan: u32, card_kind: Kind, qr_kind: Kind) -> Result<Kind> {
        validate_stan("stan", stan)?;
        let batch = self.journal.batch()?;
        let row = self.journal.find_by_stan(batch, stan)?.ok_or_else(|| {
            Error::field(
                ErrorKind::OriginalNotFound,
                "stan",
                format!("no transaction {stan:06} in batch {batch:06}"),
            )
        })?;
        for k in [card_kind, qr_kind] {
            if let OriginalRule::ByStan(allowed) = kinds::def(k).original {
                if allowed.iter().any(|a| kinds::def(*a).name == row.kind) {
                    return Ok(k);
                }
            }
        }
        Err(Error::invalid(
            "stan",
            format!(
                "transaction {stan:06} is a {}, which this operation does not apply to",
                row.kind
            ),
        ))
    }

    fn resolve_original(
        &mut self,
        def: &'static KindDef,
        input: &TxInput,
        amount: Option<u64>,
    ) -> Result<Option<OriginalInfo>> {
        match def.original {
            OriginalRule::None => Ok(None),
            OriginalRule::ByStan(allowed) => {
                let stan = input
                    .original_stan
                    .ok_or_else(|| Error::invalid("stan", "required"))?;
                validate_stan("stan", stan)?;
                let batch = self.journal.batch()?;
                let row = self.journal.find_by_stan(batch, stan)?.ok_or_else(|| {
                    Error::field(
                        ErrorKind::OriginalNotFound,
                        "stan",
                        format!("no transaction {stan:06} in batch {batch:06}"),
                    )
                })?;
                if !allowed.iter().any(|k| kinds::def(*k).name == row.kind) {
                    return Err(Error::invalid(
                        "stan",
                        format!(
                            "transaction {stan:06} is a {}, not a {}",
                            row.kind,
                            kind_names(allowed)
                        ),
                    ));
                }
                match row.state {
                    TxState::Approved => {}
                    TxState::Voided => {
                        return Err(Error::field(
                            ErrorKind::InvalidState,
                            "stan",
                            format!("transaction {stan:06} is already voided"),
                        ))
                    }
                    other => {
                        return Err(Error::field(
                            ErrorKind::InvalidState,
                            "stan",
                            format!("transaction {stan:06} is {}, not approved", other.as_str()),
                        ))
                    }
                }
                if def.kind == Kind::Tip {
                    if row.tip > 0 {
                        return Err(Error::field(
                            ErrorKind::InvalidState,
                            "stan",
                            "the sale already has a tip",
                        ));
                    }
                    let tip = input.tip.unwrap_or(0) as u128;
                    let max = self.cfg.max_tip_percent as u128;
                    if tip * 100 > row.amount as u128 * max {
                        return Err(Error::invalid(
                            "tip",
                            format!("tip over {}% of the sale", self.cfg.max_tip_percent),
                        ));
                    }
                }
                if def.kind == Kind::TipVoid {
                    let sale = row
                        .original_id
                        .and_then(|id| self.journal.get(id).ok().flatten());
                    match sale {
                        Some(s) if s.state == TxState::Approved => {}
                        Some(_) => {
                            return Err(Error::field(
                                ErrorKind::InvalidState,
                                "stan",
                                "the tipped sale is no longer approved",
                            ))
                        }
                        None => {
                            return Err(Error::field(
                                ErrorKind::OriginalNotFound,
                                "stan",
                                "the tipped sale is not in the journal",
                            ))
                        }
                    }
                }
                let pan = self.journal.pan(row.id)?;
                Ok(Some(OriginalInfo {
                    batch: row.batch,
                    stan: row.stan,
                    date: row_date(&row),
                    reference: row.reference.clone(),
                    auth_code: row.auth_code.clone(),
                    voucher: row.voucher.clone(),
                    entry_mode: row.entry_mode.clone(),
                    pan,
                    row: Some(row),
                }))
            }
            OriginalRule::ByReference(allowed) => {
                let r = input
                    .original_ref
                    .clone()
                    .ok_or_else(|| Error::invalid("original", "required"))?;
                let is_allowed =
                    |row: &TxRecord| allowed.iter().any(|k| kinds::def(*k).name == row.kind);
                let mut local = None;
                if let (Some(b), Some(s)) = (r.batch, r.stan) {
                    local = self
                        .journal
                        .find_by_stan(b, s)?
                        .filter(|row| is_allowed(row));
                }
                if local.is_none() {
                    if let Some(reference) = &r.reference {
                        let batch = self.journal.batch()?;
                        local = self.journal.list(batch)?.into_iter().rev().find(|row| {
                            row.reference.as_deref() == Some(reference) && is_allowed(row)
                        });
                    }
                }
                if let Some(row) = &local {
                    let amount = amount.unwrap_or(0) as u128;
                    match def.on_original {
                        OnOriginal::Refund => {
                            if !matches!(row.state, TxState::Approved | TxState::Voided) {
                                return Err(Error::field(
                                    ErrorKind::InvalidState,
                                    "original",
                                    "the original is not approved",
                                ));
                            }
                            let total = (row.amount + row.tip) as u128;
                            if amount + row.refunded as u128 > total {
                                return Err(Error::invalid(
                                    "amount",
                                    "refunds would exceed the original amount",
                                ));
                            }
                        }
                        OnOriginal::Complete | OnOriginal::Void => {
                            if row.state != TxState::Approved {
                                return Err(Error::field(
                                    ErrorKind::InvalidState,
                                    "original",
                                    format!("the pre-authorisation is {}", row.state.as_str()),
                                ));
                            }
                            if row.completed {
                                return Err(Error::field(
                                    ErrorKind::InvalidState,
                                    "original",
                                    "the pre-authorisation is already completed",
                                ));
                            }
                            if def.on_original == OnOriginal::Complete
                                && amount * 100 > row.amount as u128 * 115
                            {
                                return Err(Error::invalid(
                                    "amount",
                                    "completion over 115% of the pre-authorised amount",
                                ));
                            }
                        }
                        _ => {}
                    }
                }
                let pan = match &local {
                    Some(row) => self.journal.pan(row.id)?,
                    None => None,
                };
                Ok(Some(OriginalInfo {
                    batch: r.batch.or(local.as_ref().map(|x| x.batch)).unwrap_or(0),
                    stan: r.stan.or(local.as_ref().map(|x| x.stan)).unwrap_or(0),
                    date: r
                        .date
                        .clone()
                        .or(local.as_ref().map(row_date))
                        .unwrap_or_else(|| "0000".into()),
                    reference: r
                        .reference
                        .clone()
                        .or(local.as_ref().and_then(|x| x.reference.clone())),
                    auth_code: r
                        .auth_code
                        .clone()
                        .or(local.as_ref().and_then(|x| x.auth_code.clone())),
                    voucher: r
                        .voucher
                        .clone()
                        .or(local.as_ref().and_then(|x| x.voucher.clone())),
                    entry_mode: local.as_ref().and_then(|x| x.entry_mode.clone()),
                    pan,
                    row: local,
                }))
            }
        }
    }

    fn pin_policy(&self, def: &KindDef) -> (bool, bool) {
        if def.means != Means::Card {
            return (false, false);
        }
        let need = match &self.cfg.pin_required {
            Some(list) => list.iter().any(|k| k == def.name),
            None => def.pin_default,
        };
        let bypass = self
            .cfg
            .pin_bypass_allowed
            .as_ref()
            .is_some_and(|l| l.iter().any(|k| k == def.name));
        (need, bypass)
    }

    fn read_card(&mut self, def: &KindDef, amount: Option<u64>) -> Result<CardRead> {
        let cancel = self.cancel.clone();
        self.emit(Event::WaitingForCard);
        let reader = self
            .card_reader
            .as_mut()
            .ok_or_else(|| Error::invalid("card", "card data required (no card reader)"))?;
        let request = CardRequest {
            transaction: def.name,
            amount,
            modes: CardModes::ALL,
            timeout: DEVICE_TIMEOUT,
            cancel,
        };
        let data = reader
            .read_card(&request)
            .map_err(|e| hal_error(e, "card"))?;
        card_read("card", &data)
    }

    fn pin_block_for(
        &mut self,
        def: &KindDef,
        card: &CardRead,
        inline_pin: Option<&str>,
        amount: Option<u64>,
    ) -> Result<Option<[u8; 8]>> {
        let (need, bypass) = self.pin_policy(def);
        if let Some(pin) = inline_pin {
            return Ok(Some(self.security.pin_block(pin, &card.pan)?));
        }
        if !need {
            return Ok(None);
        }
        let cancel = self.cancel.clone();
        self.emit(Event::WaitingForPin);
        let Some(pad) = self.pin_pad.as_mut() else {
            if bypass {
                return Ok(None);
            }
            return Err(Error::invalid("card.pin", "PIN required"));
        };
        let request = PinRequest {
            transaction: def.name,
            masked_pan: crate::mask_pan(&card.pan),
            amount,
            allow_bypass: bypass,
            timeout: DEVICE_TIMEOUT,
            cancel,
        };
        match pad
            .get_pin(&request, &card.pan)
            .map_err(|e| hal_error(e, "PIN"))?
        {
            PinEntry::Block(b) => Ok(Some(b)),
            PinEntry::Clear(pin) => {
                build::validate_pin("card.pin", &pin)?;
                Ok(Some(self.security.pin_block(&pin, &card.pan)?))
            }
            PinEntry::Bypass if bypass => Ok(None),
            PinEntry::Bypass => Err(Error::invalid(
                "card.pin",
                "PIN bypass is not allowed for this transaction",
            )),
        }
    }

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
        if let Some(rev) = self.journal.pending_reversal()? {
            let limit = self.cfg.reversal_attempts.max(1);
            let tries = if rev.flagged {
                1
            } else {
                limit.saturating_sub(rev.attempts).max(1)
            };
            if !self.flush_reversal(tries)? {
                return Err(Error::new(
                    ErrorKind::HostTimeout,
                    format!("the pending reversal of {:06} could not be delivered; nothing else is sent until it is", rev.stan),
                ));
            }
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
        let resp = match iso8583::decode_frame(&raw) {
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
        log::debug!("response {}", iso8583::mask::masked(&resp.message));
        Reply::Answer {
            resp: Box::new(resp.message),
            raw,
            header: resp.header,
        }
    }

    /// The outcome of a valid answer, recorded with its effects. Returns the outcome.
    pub(crate) fn outcome_of(
        &self,
        resp: &Message,
        fallback_voucher: Option<&str>,
        pan: Option<&str>,
    ) -> TxOutcome {
        let rc = rc_of(resp);
        let approved = is_approval(&rc);
        let voucher = resp
            .get_str(59)
            .and_then(|f| build::qr_get(f, "A4"))
            .or(fallback_voucher.map(str::to_string));
        let card_org = resp
            .get_str(63)
            .map(|s| s.chars().take(3).collect::<String>().trim().to_string())
            .filter(|s| !s.is_empty())
            .or_else(|| {
                if voucher.is_some() && pan.is_none() {
                    Some("CUP".to_string())
                } else {
                    None
                }
            })
            .or_else(|| pan.and_then(super::card_org_from_pan).map(str::to_string));
        TxOutcome {
            state: Some(if approved {
                TxState::Approved
            } else {
                TxState::Declined
            }),
            response_code: Some(rc),
            reference: resp
                .get_str(37)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            auth_code: resp
                .get_str(38)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            card_org,
            voucher,
            host_date: resp.get_str(13).map(str::to_string),
            host_time: resp.get_str(12).map(str::to_string),
        }
    }

    /// Run one financial transaction.
    pub fn transact(&mut self, kind: Kind, input: TxInput) -> Result<TransactionResult> {
        let def = kinds::def(kind);
        self.ensure_signed_in()?;

        // 1. Everything the request says, checked before anything is touched.
        if def.amount == AmountRule::Input {
            build::validate_amount("amount", input.amount.unwrap_or(0))?;
        }
        if def.f48_tip && def.kind == Kind::Tip {
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
            validate_original_ref(def, r)?;
        }
        // The original as the journal has it now (typed errors before anything is sent) ...
        self.resolve_original(def, &input, input.amount)?;

        // 2. The host first: parameters it asked for, the pending reversal, unsent advices.
        self.before_financial()?;

        // ... and again once pending reversals / advices have been applied to it.
        let original = self.resolve_original(def, &input, input.amount)?;
        let orig_row = original.as_ref().and_then(|o| o.row.clone());
        let tip = match def.kind {
            Kind::Tip => input.tip.unwrap_or(0),
            Kind::TipVoid => orig_row.as_ref().map(|r| r.tip).unwrap_or(0),
            _ => 0,
        };
        let amount = match def.amount {
            AmountRule::Input => input.amount,
            AmountRule::Absent => None,
            AmountRule::OriginalTotal => orig_row.as_ref().map(|r| r.amount + r.tip),
            AmountRule::SalePlusTip => orig_row.as_ref().map(|r| r.amount + tip),
            AmountRule::SaleAmount => {
                // Tip row amount = sale amount + tip.
                orig_row.as_ref().map(|r| r.amount.saturating_sub(r.tip))
            }
        };
        if def.amount != AmountRule::Absent {
            build::validate_amount("amount", amount.unwrap_or(0))?;
        }

        // 3. Card / PIN / QR.
        let mut card = None;
        let mut pin_block = None;
        let mut qr_code = None;
        match def.means {
            Means::Card => {
                let c = match inline_card {
                    Some(c) => c,
                    None => self.read_card(def, amount)?,
                };
                self.emit(Event::CardRead {
                    masked_pan: crate::mask_pan(&c.pan),
                });
                if let Some(orig_pan) = original.as_ref().and_then(|o| o.pan.as_ref()) {
                    if orig_pan.as_str() != c.pan.as_str() {
                        return Err(Error::invalid(
                            "card",
                            "not the card of the original transaction",
                        ));
                    }
                }
                let inline_pin = input.card.as_ref().and_then(|ci| ci.pin.clone());
                pin_block =
                    self.pin_block_for(def, &c, inline_pin.as_deref().map(|s| s.as_str()), amount)?;
                card = Some(c);
            }
            Means::QrCode => {
                let code = match &input.qr_code {
                    Some(c) => c.clone(),
                    None => {
                        let cancel = self.cancel.clone();
                        self.emit(Event::WaitingForQr);
                        let scanner = self.qr_scanner.as_mut().ok_or_else(|| {
                            Error::invalid("qr_code", "payment code required (no QR scanner)")
                        })?;
                        let code = scanner
                            .scan(&QrRequest {
                                transaction: def.name,
                                amount,
                                timeout: DEVICE_TIMEOUT,
                                cancel,
                            })
                            .map_err(|e| hal_error(e, "QR code"))?;
                        build::validate_qr_code("qr_code", &code)?;
                        code
                    }
                };
                qr_code = Some(code);
            }
            Means::QrVoucher | Means::OriginalCard => {}
        }

        // 4. Build, MAC, journal (durable) — then send.
        let prepared = Prepared {
            def,
            amount,
            tip,
            card,
            pin_block,
            qr_code,
            original,
        };
        // Built on the STAN it will get, which is only taken once the request is complete: a request
        // that cannot be built leaves the journal as it was.
        let batch = self.journal.batch()?;
        let stan = self.journal.peek_stan()?;
        let mut req = build::build_request(self, &prepared, stan, batch)?;
        let frame = self.encode(Dest::Gateway, &mut req, true)?;
        // `record_request` below consumes the peeked STAN in the same durable commit as the row.
        let pan_for_journal: Option<String> = match def.means {
            Means::Card => prepared.card.as_ref().map(|c| c.pan.to_string()),
            Means::OriginalCard => prepared
                .original
                .as_ref()
                .and_then(|o| o.pan.as_ref().map(|p| p.to_string())),
            _ => None,
        };
        let mut new_tx = NewTx {
            kind: def.name.to_string(),
            mti: def.mti,
            batch,
            stan,
            amount: amount.unwrap_or(0),
            tip,
            pan: pan_for_journal,
            entry_mode: req.get_str(22).map(str::to_string),
            voucher: prepared.original.as_ref().and_then(|o| o.voucher.clone()),
            original_id: orig_row.as_ref().map(|r| r.id),
            original_batch: prepared.original.as_ref().map(|o| o.batch),
            original_stan: prepared.original.as_ref().map(|o| o.stan),
            original_date: prepared.original.as_ref().map(|o| o.date.clone()),
            reference: None,
            auth_code: None,
            created_at: self.now().iso(),
        };
        let reversal = match def.delivery {
            Delivery::Reversible => Some(PendingReversal {
                tx_id: 0,
                stan,
                body: build::reversal_body(&req)?,
                reason: None,
                auth_code: None,
                attempts: 0,
                flagged: false,
            }),
            _ => None,
        };
        let advice = match def.delivery {
            Delivery::Advice => Some(PendingAdvice {
                tx_id: 0,
                stan,
                frame: frame.clone(),
                attempts: 0,
            }),
            _ => None,
        };
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
            amount
        );

        let mut reply = self.send_checked(&req, &frame, Dest::Gateway, true);

        // 5. No (valid) answer.
        if def.delivery == Delivery::Advice {
            let limit = self.cfg.reversal_attempts.max(1);
            let mut tries = 1;
            while !matches!(reply, Reply::Answer { .. }) {
                if let Reply::NoAnswer(e) = &reply {
                    if !e.maybe_sent() {
                        // Never left: nothing to resend, the advice is void.
                        self.journal.record_outcome(
                            id,
                            &TxOutcome {
                                state: Some(TxState::Failed),
                                ..Default::default()
                            },
                            &[],
                            true,
                        )?;
                        return Err(transport_error(e));
                    }
                }
                self.journal.advice_attempted(id)?;
                let cancelled = matches!(&reply, Reply::NoAnswer(TransportError::Cancelled { .. }));
                if tries >= limit || cancelled {
                    let err = match &reply {
                        Reply::NoAnswer(e) => transport_error(e),
                        Reply::Invalid(e) => e.clone(),
                        Reply::Answer { .. } => Error::internal("unreachable"),
                    };
                    return Err(Error::new(
                        err.kind,
                        format!(
                            "{}; the advice {stan:06} is kept and will be resent",
                            err.message
                        ),
                    ));
                }
                tries += 1;
                self.emit(Event::ResendingAdvice { stan });
                reply = self.send_checked(&req, &frame, Dest::Gateway, true);
            }
        }
        // A live chip card waits for the second GENERATE AC whatever happens.
        let live_chip = prepared.card.as_ref().is_some_and(|c| c.is_chip()) && input.card.is_none();
        if live_chip && !matches!(reply, Reply::Answer { .. }) {
            self.chip_offline();
        }
        let (resp, raw, header) = match reply {
            Reply::Answer { resp, raw, header } => (resp, raw, header),
            Reply::NoAnswer(e) if !e.maybe_sent() => {
                self.journal.record_outcome(
                    id,
                    &TxOutcome {
                        state: Some(TxState::Failed),
                        ..Default::default()
                    },
                    &[],
                    true,
                )?;
                return Err(transport_error(&e));
            }
            Reply::NoAnswer(e) => {
                let reason = if matches!(e, TransportError::Cancelled { .. }) {
                    "06"
                } else {
                    "98"
                };
                return Err(self.fail_after_send(def, id, stan, reason, None, transport_error(&e)));
            }
            Reply::Invalid(e) => {
                log::warn!("{} {:06}: invalid response: {}", def.name, stan, e.message);
                return Err(self.fail_after_send(def, id, stan, "06", None, e));
            }
        };

        // 6. A valid answer: MAC, header, journal.
        let rc = rc_of(&resp);
        let approved = is_approval(&rc);
        if (rc == "00" || (approved && resp.has(64))) && !self.response_mac_ok(&raw, &resp) {
            log::warn!("{} {:06}: response MAC invalid", def.name, stan);
            let auth = resp.get_str(38).map(str::to_string);
            let err = Error::new(ErrorKind::InvalidResponse, "response MAC invalid");
            if live_chip {
                self.chip_offline();
            }
            let err = self.fail_after_send(def, id, stan, "A0", auth.as_deref(), err);
            self.sign_out("response MAC invalid")?;
            return Err(Error::new(
                err.kind,
                format!("{}; sign in again", err.message),
            ));
        }
        self.note_header(&header)?;
        let outcome = self.outcome_of(
            &resp,
            prepared
                .original
                .as_ref()
                .and_then(|o| o.voucher.as_deref()),
            prepared.card.as_ref().map(|c| c.pan.as_str()).or(prepared
                .original
                .as_ref()
                .and_then(|o| o.pan.as_deref().map(|p| p.as_str()))),
        );
        let effects = if approved {
            effects_for(def, orig_row.as_ref(), amount.unwrap_or(0), tip)
        } else {
            Vec::new()
        };

        // 7. Chip: the card has the last word.
        let mut card_declined = false;
        let mut scripts = None;
        if let (Some(c), Some(reader)) = (prepared.card.as_ref(), self.card_reader.as_mut()) {
            if c.is_chip() && inline_card_absent(&input) {
                let completion = ChipCompletion {
                    response_code: rc.clone(),
                    icc_response: resp.get(55).map(|v| v.to_vec()).unwrap_or_default(),
                    host_answered: true,
                };
                match reader.complete_chip(&completion) {
                    Ok(o) => {
                        card_declined = approved && !o.approved;
                        scripts = o.script_results;
                    }
                    Err(e) => {
                        log::warn!("second GENERATE AC failed: {e}");
                        card_declined = approved;
                    }
                }
            }
        }
        if card_declined {
            self.journal.record_outcome(id, &outcome, &effects, false)?;
            log::warn!(
                "{} {:06}: card declined after host approval: reversing (06)",
                def.name,
                stan
            );
            self.journal
                .arm_reversal(id, "06", outcome.auth_code.as_deref())?;
            let reversed = self.flush_reversal(1)?;
            let mut result = self.tx_result(def, id, Some(&resp))?;
            result.approved = false;
            result.message = if reversed {
                "declined by the card after host approval; reversed".to_string()
            } else {
                "declined by the card after host approval; reversal pending".to_string()
            };
            self.emit(Event::Done {
                approved: false,
                response_code: rc,
            });
            return Ok(result);
        }
        self.journal.record_outcome(id, &outcome, &effects, true)?;
        if requires_sign_in(&rc) {
            self.sign_out(&format!("response code {rc}"))?;
        }
        if let (Some(s), true) = (scripts, approved) {
            if !s.is_empty() {
                self.send_script_advice(&req, &resp, &s, batch);
            }
        }
        let result = self.tx_result(def, id, Some(&resp))?;
        log::info!("{} {:06}: {} {}", def.name, stan, rc, result.message);
        self.emit(Event::Done {
            approved: result.approved,
            response_code: rc,
        });
        Ok(result)
    }

    /// Sent, but no valid answer: reversible -> arm + reverse now; plain -> failed.
    fn fail_after_send(
        &mut self,
        def: &KindDef,
        id: i64,
        stan: u32,
        reason: &str,
        auth: Option<&str>,
        err: Error,
    ) -> Error {
        match def.delivery {
            Delivery::Reversible => {
                let armed = self.journal.arm_reversal(id, reason, auth);
                if let Err(e) = armed {
                    return e.into();
                }
                match self.flush_reversal(1) {
                    Ok(true) => Error::new(
                        err.kind,
                        format!("{}; transaction {stan:06} reversed ({reason})", err.message),
                    ),
                    Ok(false) => Error::new(
                        err.kind,
                        format!("{}; reversal of {stan:06} pending ({reason})", err.message),
                    ),
                    Err(e) => Error::new(
                        err.kind,
                        format!(
                            "{}; reversal of {stan:06} pending ({reason}): {}",
                            err.message, e.message
                        ),
                    ),
                }
            }
            _ => {
                let r = self.journal.record_outcome(
                    id,
                    &TxOutcome {
                        state: Some(TxState::Failed),
                        ..Default::default()
                    },
                    &[],
                    true,
                );
                if let Err(e) = r {
                    return e.into();
                }
                err
            }
        }
    }

    /// Tell a live chip card the host gave no usable answer (it declines offline); best effort.
    fn chip_offline(&mut self) {
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

    fn send_script_advice(&mut self, req: &Message, resp: &Message, scripts: &[u8], batch: u32) {
        let date = self.now().mmdd();
        let r = (|| -> Result<()> {
            let stan = self.journal.next_stan()?;
            let mut m = build::script_advice(req, resp, scripts, stan, batch, &date);
            let frame = self.encode(Dest::Gateway, &mut m, true)?;
            match self.send_checked(&m, &frame, Dest::Gateway, false) {
                Reply::Answer { .. } => Ok(()),
                Reply::NoAnswer(e) => Err(transport_error(&e)),
                Reply::Invalid(e) => Err(e),
            }
        })();
        if let Err(e) = r {
            log::warn!("script result advice not delivered: {e}");
        }
    }

    /// The result of a recorded transaction.
    pub(crate) fn tx_result(
        &self,
        def: &KindDef,
        id: i64,
        resp: Option<&Message>,
    ) -> Result<TransactionResult> {
        let row = self
            .journal
            .get(id)?
            .ok_or_else(|| Error::internal("journal row vanished"))?;
        let rc = row.response_code.clone().unwrap_or_default();
        let balance = if def.kind == Kind::Balance {
            resp.and_then(|r| r.get_str(54)).and_then(parse_balance)
        } else {
            None
        };
        let mut result = TransactionResult {
            approved: is_approval(&rc),
            message: crate::receipt::response_text(&rc).to_string(),
            response_code: rc,
            kind: def.name.to_string(),
            stan: row.stan,
            batch: row.batch,
            amount: row.amount,
            tip: row.tip,
            reference: row.reference.clone(),
            auth_code: row.auth_code.clone(),
            masked_pan: row.masked_pan.clone(),
            voucher: row.voucher.clone(),
            card_org: row.card_org.clone(),
            datetime: host_datetime(
                &self.now(),
                row.host_date.as_deref(),
                row.host_time.as_deref(),
            ),
            balance,
            receipt: Vec::new(),
        };
        let merchant = self
            .journal
            .setting(keys::MERCHANT_NAME)?
            .unwrap_or_default();
        result.receipt = crate::receipt::merchant_copy(
            &result,
            def.label,
            &merchant,
            &self.cfg.tid,
            &self.cfg.mid,
        );
        Ok(result)
    }
}

impl Engine {
    /// A journal transaction again, with its receipt marked as a reprint (balances are not kept).
    pub fn reprint(&self, stan: u32, batch: Option<u32>) -> Result<TransactionResult> {
        validate_stan("stan", stan)?;
        let batch = match batch {
            Some(b) if b == 0 || b > 999_999 => {
                return Err(Error::invalid("batch", "batch must be 1 to 999999"))
            }
            Some(b) => b,
            None => self.journal.batch()?,
        };
        let row = self.journal.find_by_stan(batch, stan)?.ok_or_else(|| {
            Error::field(
                ErrorKind::OriginalNotFound,
                "stan",
                format!("no transaction {stan:06} in batch {batch:06}"),
            )
        })?;
        let def = kinds::by_name(&row.kind)
            .ok_or_else(|| Error::internal("unknown kind in the journal"))?;
        let mut result = self.tx_result(def, row.id, None)?;
        result.receipt.insert(0, "*** REPRINT ***".to_string());
        Ok(result)
    }
}

/// The second GENERATE AC runs only on a card the reader read (inline chip data has no live card).
fn inline_card_absent(input: &TxInput) -> bool {
    input.card.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balance_field() {
        assert_eq!(parse_balance("1002156C000001000000"), Some(1_000_000));
        assert_eq!(parse_balance("1002156D000000000123"), Some(-123));
        assert_eq!(
            parse_balance("1001156C0000000000051002156C000000000007"),
            Some(7)
        );
        assert_eq!(parse_balance("garbage"), None);
    }

    #[test]
    fn balance_field_with_non_ascii_is_refused_not_sliced() {
        // A multi-byte character across the sign / amount boundary used to be sliced inside (a panic).
        assert_eq!(parse_balance("1002156\u{e9}000000000000"), None);
        // What the balance_54 fuzz target found on the old code (the sign at bytes 6..8).
        assert_eq!(parse_balance("100115\u{2b2}000000000000"), None);
        assert_eq!(parse_balance("1002156C00000000\u{e9}12"), None);
        assert_eq!(parse_balance("10\u{4e2d}56C000000000001"), None);
        // A sign or a space in the amount is not a digit.
        assert_eq!(parse_balance("1002156C+00000000001"), None);
        assert_eq!(parse_balance("1002156C 00000000001"), None);
    }

    /// An approved sale row, stan 2, amount 100.
    fn approved_sale(id: i64) -> TxRecord {
        TxRecord {
            id,
            kind: "sale".into(),
            mti: 200,
            batch: 1,
            stan: 2,
            amount: 100,
            tip: 0,
            masked_pan: None,
            entry_mode: None,
            voucher: None,
            card_org: None,
            reference: None,
            auth_code: None,
            response_code: None,
            host_date: None,
            host_time: None,
            state: TxState::Approved,
            completed: false,
            refunded: 0,
            original_id: None,
            original_batch: None,
            original_stan: None,
            original_date: None,
            created_at: "2026-11-25T10:00:00".into(),
        }
    }

    #[test]
    fn row_dates() {
        let mut row = approved_sale(1);
        assert_eq!(row_date(&row), "1125");
        row.host_date = Some("1126".into());
        assert_eq!(row_date(&row), "1126");
    }

    #[test]
    fn effects_and_undo() {
        let void = kinds::def(Kind::Void);
        let orig = TxRecord {
            original_id: Some(3),
            ..approved_sale(7)
        };
        assert_eq!(
            effects_for(void, Some(&orig), 100, 0),
            vec![Effect::SetState {
                id: 7,
                state: TxState::Voided
            }]
        );
        assert_eq!(
            undo_effects(void, Some(&orig)),
            vec![Effect::SetState {
                id: 7,
                state: TxState::Approved
            }]
        );
        let cv = kinds::def(Kind::PreauthCompleteVoid);
        assert_eq!(
            effects_for(cv, Some(&orig), 100, 0),
            vec![
                Effect::SetState {
                    id: 7,
                    state: TxState::Voided
                },
                Effect::SetCompleted {
                    id: 3,
                    completed: false
                }
            ]
        );
        let tv = kinds::def(Kind::TipVoid);
        assert_eq!(
            effects_for(tv, Some(&orig), 100, 5),
            vec![
                Effect::SetState {
                    id: 7,
                    state: TxState::Voided
                },
                Effect::SetTip { id: 3, tip: 0 }
            ]
        );
        assert!(effects_for(kinds::def(Kind::Sale), None, 100, 0).is_empty());
    }
}

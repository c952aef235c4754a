//! Phase "resolve original": the original transaction a kind applies to, checked against the request
//! and the journal before anything is sent. What a kind needs of its original is its row's `original`,
//! `on_original` and `amount` columns (flows/kinds.rs).

use super::build::OriginalInfo;
use super::execute::TxInput;
use super::kinds::{self, Kind, KindDef, Means, OnOriginal, OriginalRule, RefPart};
use super::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::journal::{TxRecord, TxState};
use crate::model::{Batch, OriginalRef, Stan};

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

pub(super) fn validate_original_ref(def: &KindDef, r: &OriginalRef) -> Result<()> {
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
        Batch::new("original.batch", b)?;
    }
    if let Some(s) = r.stan {
        Stan::new("original.stan", s)?;
    }
    if let Some(v) = &r.voucher {
        if v.is_empty() || v.len() > 40 || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::invalid(
                "original.voucher",
                "voucher must be 1 to 40 letters or digits",
            ));
        }
    }
    if let OriginalRule::ByReference(_, required) = def.original {
        for part in required {
            let given = match part {
                RefPart::Reference => r.reference.is_some(),
                RefPart::Batch => r.batch.is_some(),
                RefPart::Stan => r.stan.is_some(),
                RefPart::AuthCode => r.auth_code.is_some(),
            };
            if !given {
                return Err(Error::invalid(part.field(), "required"));
            }
        }
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
    /// Whether the journal knows the original a request names by reference (batch + STAN, else reference
    /// number in the open batch) as a QR payment: then the QR kind runs, with the journal's voucher.
    pub(crate) fn original_is_qr(&self, r: &OriginalRef) -> Result<bool> {
        let is_qr = |row: &TxRecord| kinds::by_name(&row.kind).is_some_and(|d| d.is_qr());
        if let (Some(b), Some(s)) = (r.batch, r.stan) {
            if let Some(row) = self.journal.find_by_stan(b, s)? {
                return Ok(is_qr(&row));
            }
        }
        if let Some(reference) = &r.reference {
            let batch = self.journal.batch()?;
            if let Some(row) = self
                .journal
                .list(batch)?
                .into_iter()
                .rev()
                .find(|row| row.reference.as_deref() == Some(reference.as_str()))
            {
                return Ok(is_qr(&row));
            }
        }
        Ok(false)
    }

    /// The journal row a request names by `stan` (checked) in `batch` (checked; the open batch when
    /// absent); `original_not_found` naming `stan` when there is none.
    pub(super) fn row_by_stan(&self, stan: u32, batch: Option<u32>) -> Result<TxRecord> {
        Stan::new("stan", stan)?;
        let batch = match batch {
            Some(b) => Batch::new("batch", b)?.get(),
            None => self.journal.batch()?,
        };
        self.journal.find_by_stan(batch, stan)?.ok_or_else(|| {
            Error::field(
                ErrorKind::OriginalNotFound,
                "stan",
                format!("no transaction {stan:06} in batch {batch:06}"),
            )
        })
    }

    /// The kind a journal-referenced operation runs, from the original's kind (card or QR variant).
    pub fn kind_for_original(&self, stan: u32, card_kind: Kind, qr_kind: Kind) -> Result<Kind> {
        let row = self.row_by_stan(stan, None)?;
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

    pub(super) fn resolve_original(
        &mut self,
        def: &'static KindDef,
        input: &TxInput,
    ) -> Result<Option<OriginalInfo>> {
        let amount = input.amount;
        match def.original {
            OriginalRule::None => Ok(None),
            OriginalRule::ByStan(allowed) => {
                let stan = input
                    .original_stan
                    .ok_or_else(|| Error::invalid("stan", "required"))?;
                let row = self.row_by_stan(stan, None)?;
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
                if def.on_original == OnOriginal::Tip {
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
                if def.on_original == OnOriginal::TipVoid {
                    let sale = match row.original_id {
                        Some(id) => self.journal.get(id)?,
                        None => None,
                    };
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
            OriginalRule::ByReference(allowed, _) => {
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
                // A QR original is named by its voucher (the request's, or the journal's), except a refund
                // by reference alone where the host allows it (`qr.refund_by_reference`, docs/PROTOCOL.md
                // §4.2).
                let voucher_known =
                    r.voucher.is_some() || local.as_ref().is_some_and(|x| x.voucher.is_some());
                let by_reference_alone =
                    def.on_original == OnOriginal::Refund && self.cfg.qr.refund_by_reference;
                if def.means == Means::QrVoucher && !voucher_known && !by_reference_alone {
                    return Err(Error::invalid(
                        "original.voucher",
                        "required for a QR original (the host does not refund by reference alone)",
                    ));
                }
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
}

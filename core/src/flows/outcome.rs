//! Phases "outcome" and "chip completion", and results: where the money stands after an answer, the
//! effects an approval has on its original, the result (and receipt) the app is given.

use super::build;
use super::build::Prepared;
use super::execute::{approval, Sent};
use super::kinds::{self, Delivery, KindDef, OnOriginal};
use super::{host_datetime, keys, rc_of, Engine};
use crate::error::{Error, Outcome, Result};
use crate::hal::{ChipCompletion, Event};
use crate::iso8583::Message;
use crate::journal::{Effect, NewUpload, TxOutcome, TxRecord, TxState};
use crate::model::TransactionResult;

/// Where the money stands when a journalled request has no valid answer and nothing more is known.
pub(super) fn unanswered_outcome(delivery: Delivery) -> Outcome {
    match delivery {
        // An open order is still owed a resolution (queried, then closed) before anything else is sent.
        Delivery::Reversible | Delivery::Order => Outcome::ReversalPending,
        Delivery::Advice => Outcome::AdvicePending,
        // An inquiry moves no money and leaves nothing owed.
        Delivery::Plain => Outcome::NotSent,
    }
}

/// Where the money stands for a journal row (and its delivery class, for a row still pending).
pub(crate) fn row_outcome(state: TxState, delivery: Delivery) -> Outcome {
    match state {
        TxState::Approved | TxState::Voided => Outcome::Approved,
        TxState::Declined => Outcome::Declined,
        TxState::Reversed => Outcome::Reversed,
        TxState::Failed => Outcome::NotSent,
        TxState::Pending => unanswered_outcome(delivery),
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

/// Balance from field 54 (`10 02 156 C 000001000000`), the available amount preferred.
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

impl Engine {
    /// Phases 7 and 8 for an answer that counts: journal the outcome with its effects on the original, let
    /// a live chip card have the last word (a card decline after a host approval is reversed with `06`),
    /// then the result.
    pub(super) fn conclude(
        &mut self,
        prepared: &Prepared,
        live_chip: bool,
        sent: &Sent,
        resp: &Message,
    ) -> Result<TransactionResult> {
        let def = prepared.def;
        let (id, stan) = (sent.id, sent.stan);
        let (rc, approved) = approval(self, resp);
        let original = prepared.original.as_ref();
        let pan = prepared
            .card
            .as_ref()
            .map(|c| c.pan.as_str())
            .or(original.and_then(|o| o.pan.as_deref().map(|p| p.as_str())));
        let outcome = self.outcome_of(resp, original.and_then(|o| o.voucher.as_deref()), pan);
        let effects = if approved {
            effects_for(
                def,
                original.and_then(|o| o.row.as_ref()),
                prepared.amount.unwrap_or(0),
                prepared.tip,
            )
        } else {
            Vec::new()
        };

        // 8. Chip: the card has the last word.
        let mut card_declined = false;
        let mut scripts = None;
        if let (true, Some(reader)) = (live_chip, self.card_reader.as_mut()) {
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
        if card_declined {
            self.journal.record_outcome(id, &outcome, &effects, false)?;
            log::warn!(
                "{} {:06}: card declined after host approval: reversing (06)",
                def.name,
                stan
            );
            self.journal.arm_reversal(
                id,
                &self.profile.reversal.other.clone(),
                outcome.auth_code.as_deref(),
            )?;
            let reversed = self.flush_reversal(1)?;
            let mut result = self.tx_result(def, id, Some(resp))?;
            result.approved = false;
            (result.outcome, result.message) = if reversed {
                (
                    Outcome::Reversed,
                    "declined by the card after host approval; reversed".to_string(),
                )
            } else {
                (
                    Outcome::ReversalPending,
                    "declined by the card after host approval; reversal pending".to_string(),
                )
            };
            self.emit(Event::Done {
                approved: false,
                response_code: rc,
            });
            return Ok(result);
        }
        // An approved chip completion owes its TC upload and script results: queued with the outcome.
        let uploads = if approved {
            self.chip_uploads(&sent.req, resp, scripts.as_deref(), sent.batch)?
        } else {
            Vec::new()
        };
        let queued: Vec<NewUpload<'_>> = uploads
            .iter()
            .map(|(class, stan, frame)| NewUpload {
                class,
                stan: *stan,
                frame,
            })
            .collect();
        self.journal
            .record_outcome_with(id, &outcome, &effects, true, &queued)?;
        if self.requires_sign_in(&rc) {
            self.sign_out(&format!("response code {rc}"))?;
        }
        if !uploads.is_empty() {
            if let Err(e) = self.flush_uploads() {
                log::warn!("chip uploads kept for later: {e}");
            }
        }
        let result = self.tx_result(def, id, Some(resp))?;
        let signature = self.take_signature(def, id, &result);
        self.print_slips(def, &result, signature.as_ref());
        log::info!("{} {:06}: {} {}", def.name, stan, rc, result.message);
        self.emit(Event::Done {
            approved: result.approved,
            response_code: rc,
        });
        Ok(result)
    }

    pub(crate) fn outcome_of(
        &self,
        resp: &Message,
        fallback_voucher: Option<&str>,
        pan: Option<&str>,
    ) -> TxOutcome {
        let rc = rc_of(resp);
        let approved = self.is_approval(&rc);
        let voucher = resp
            .get_str(59)
            .and_then(|f| build::qr_get(f, "A4"))
            .or(fallback_voucher.map(str::to_string));
        let card_org = resp
            .get_str(63)
            .and_then(|s| self.profile.subfields.organisation63(s))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
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
        let balance = if def.f54_balance {
            resp.and_then(|r| r.get_str(54)).and_then(parse_balance)
        } else {
            None
        };
        let mut result = TransactionResult {
            outcome: row_outcome(row.state, self.profile.kind(def.kind)?.delivery),
            approved: self.is_approval(&rc),
            message: self.profile.response_text(&rc),
            qr_state: None,
            qr_payload: None,
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
        let locale = self.cfg.receipt.locale;
        result.receipt = crate::slip::build(
            &result,
            &self.slip_context(def, &merchant),
            crate::slip::Copy::Merchant,
        )
        .text_lines(locale);
        Ok(result)
    }
    /// A journal transaction again, with its receipt marked as a reprint (balances are not kept).
    pub fn reprint(&self, stan: u32, batch: Option<u32>) -> Result<TransactionResult> {
        let row = self.row_by_stan(stan, batch)?;
        let def = kinds::by_name(&row.kind)
            .ok_or_else(|| Error::internal("unknown kind in the journal"))?;
        let mut result = self.tx_result(def, row.id, None)?;
        let mark = match self.cfg.receipt.locale {
            crate::slip::Locale::ZhCn => "*** 重打印 REPRINT ***",
            crate::slip::Locale::En => "*** REPRINT ***",
        };
        result.receipt.insert(0, mark.to_string());
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::kinds::Kind;
    use crate::flows::original::row_date;

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

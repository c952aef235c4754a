//! Settlement (docs/PROTOCOL.md §5): totals from the journal, 0500, batch upload (0320 / `202`) when the host
//! does not balance, batch closed.

use super::kinds::{self, Settle};
use super::{digits, rc_of, Engine};
use crate::acquirer::{SideTotals, Subfields};
use crate::error::{Error, ErrorKind, Result};
use crate::iso8583::{Message, Mti};
use crate::journal::{TxRecord, TxState};
use crate::model::{CountAmount, SettlementResult, SettlementTotals, Totals};

/// Is a journal row domestic for settlement (`CUP` or QR)?
fn domestic(row: &TxRecord) -> bool {
    let qr = kinds::by_name(&row.kind).is_some_and(|d| d.is_qr());
    if qr {
        return true;
    }
    let org = row.card_org.clone().or_else(|| {
        row.masked_pan
            .as_deref()
            .and_then(super::card_org_from_pan)
            .map(str::to_string)
    });
    org.as_deref() == Some("CUP")
}

/// Amount a counted row contributes (sales carry their current tip).
fn counted_amount(row: &TxRecord) -> u64 {
    match row.kind.as_str() {
        "sale" => row.amount + row.tip,
        _ => row.amount,
    }
}

/// The rows a batch's totals are made of, with their class.
pub(crate) fn counted(rows: &[TxRecord]) -> Vec<(&TxRecord, Settle)> {
    rows.iter()
        .filter(|r| r.state == TxState::Approved)
        .filter_map(|r| {
            let def = kinds::by_name(&r.kind)?;
            match def.settle {
                Settle::None => None,
                s => Some((r, s)),
            }
        })
        .collect()
}

/// §5 totals of a batch.
pub fn totals(rows: &[TxRecord]) -> SettlementTotals {
    let mut t = SettlementTotals::default();
    for (row, class) in counted(rows) {
        let side: &mut Totals = if domestic(row) {
            &mut t.domestic
        } else {
            &mut t.foreign
        };
        let ca: &mut CountAmount = match class {
            Settle::Debit => &mut side.debit,
            Settle::Credit => &mut side.credit,
            Settle::None => continue,
        };
        ca.count += 1;
        ca.amount += counted_amount(row);
    }
    t
}

/// Field 48 of a 0500: both sides' totals in the profile's layout (CUP: per side debit n12 + n3,
/// credit n12 + n3, `0`; 62 digits).
pub fn field48(sf: &Subfields, t: &SettlementTotals) -> Result<String> {
    let side = |s: &Totals| SideTotals {
        debit_amount: s.debit.amount,
        debit_count: u64::from(s.debit.count),
        credit_amount: s.credit.amount,
        credit_count: u64::from(s.credit.count),
        result: 0,
    };
    sf.field48(&[side(&t.domestic), side(&t.foreign)])
}

/// Parse a 0510 field 48: totals and the two result digits (`1` balanced, `2` not, `3` error).
pub fn parse_field48(sf: &Subfields, f48: &str) -> Option<(SettlementTotals, u8, u8)> {
    let [d, f] = sf.read48(f48)?;
    let side = |s: &SideTotals| -> Option<Totals> {
        Some(Totals {
            debit: CountAmount {
                amount: s.debit_amount,
                count: u32::try_from(s.debit_count).ok()?,
            },
            credit: CountAmount {
                amount: s.credit_amount,
                count: u32::try_from(s.credit_count).ok()?,
            },
        })
    };
    let t = SettlementTotals {
        domestic: side(&d)?,
        foreign: side(&f)?,
    };
    Some((t, d.result, f.result))
}

impl Engine {
    /// Settle the current batch.
    pub fn settle(&mut self) -> Result<SettlementResult> {
        self.ensure_signed_in()?;
        // An open QR order is resolved first (it may have been paid), then a pending reversal (flagged
        // or not) and every advice must reach the host.
        self.resolve_open_orders()
            .map_err(|e| Error::new(e.kind, format!("{}: settlement postponed", e.message)))?;
        if !self.flush_all_reversals()? {
            return Err(Error::new(
                ErrorKind::HostTimeout,
                "a reversal is undelivered: settlement postponed",
            ));
        }
        if !self.flush_advices()? {
            return Err(Error::new(
                ErrorKind::HostTimeout,
                "advices undelivered: settlement postponed",
            ));
        }

        let batch = self.journal.batch()?;
        let rows = self.journal.list(batch)?;
        let terminal = totals(&rows);
        let f48 = field48(&self.profile.subfields, &terminal)?;
        let resp = self.management(
            self.profile.routes.settle,
            500,
            &self.profile.management.settle.clone(),
            None,
            &[
                (48, f48.into_bytes()),
                (49, self.profile.currency.clone().into_bytes()),
                (63, self.profile.subfields.operator.clone().into_bytes()),
            ],
            true,
        )?;
        let rc = rc_of(&resp);
        if rc != "00" {
            return Err(super::rejected("settlement", &rc));
        }
        let sf = &self.profile.subfields;
        let parsed = resp.get_str(48).and_then(|s| parse_field48(sf, s));
        let (host, dom, foreign) = parsed.ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidResponse,
                "settlement response field 48 invalid",
            )
        })?;
        let mut balanced = dom == 1 && foreign == 1;
        let mut uploaded = 0u32;
        if dom == 2 || foreign == 2 {
            log::info!("batch {batch:06} not balanced: uploading");
            let (n, ok) = self.batch_upload(batch, &rows)?;
            uploaded = n;
            balanced = ok;
        } else if dom == 3 || foreign == 3 {
            log::warn!("host reports a settlement error for batch {batch:06}");
        }
        let next_batch = if batch >= 999_999 { 1 } else { batch + 1 };
        self.journal.close_batch(next_batch)?;
        log::info!("batch {batch:06} closed (balanced: {balanced}), next {next_batch:06}");
        if let Some(retain) = self.cfg.journal.retain_batches {
            // The batch is closed whatever happens here: a failed clean-up is retried after the next one.
            match self.journal.prune(retain) {
                Ok(n) if n > 0 => {
                    log::info!("journal retention: {n} row(s) of old batches deleted")
                }
                Ok(_) => {}
                Err(e) => log::warn!("journal retention failed: {e}"),
            }
        }
        Ok(SettlementResult {
            batch,
            terminal,
            host,
            balanced,
            uploaded,
            next_batch,
        })
    }

    /// One 0320 per counted transaction, then the `202` end. Returns (count, balanced after upload).
    fn batch_upload(&mut self, batch: u32, rows: &[TxRecord]) -> Result<(u32, bool)> {
        let mut n = 0u32;
        let records = counted(rows);
        // Every record's STAN in one durable commit rather than one per record.
        let stans = self.journal.take_stans(records.len() as u32)?;
        for ((row, _), stan) in records.into_iter().zip(stans) {
            let def = kinds::by_name(&row.kind)
                .ok_or_else(|| Error::internal("unknown kind in journal"))?;
            let mut m = Message::new(Mti(320));
            if def.is_qr() {
                if let Some(v) = &row.voucher {
                    m.set_str(59, &super::build::qr_tlv("A4", v));
                }
            } else if let Some(pan) = self.journal.pan(row.id)? {
                m.set_str(2, &pan);
            }
            let wire = self.profile.kind(def.kind)?.clone();
            m.set_str(3, &wire.processing);
            m.set_str(4, &digits(counted_amount(row), 12));
            m.set_str(11, &digits(stan as u64, 6));
            m.set_str(
                22,
                row.entry_mode
                    .as_deref()
                    .unwrap_or(if def.is_qr() { "032" } else { "022" }),
            );
            if let Some(r) = &row.reference {
                m.set_str(37, r);
            }
            if let Some(a) = &row.auth_code {
                m.set_str(38, a);
            }
            m.set_str(41, &self.cfg.tid.clone());
            m.set_str(42, &self.cfg.mid.clone());
            m.set_str(49, &self.profile.currency.clone());
            let sf = &self.profile.subfields;
            m.set_str(
                60,
                &sf.field60(
                    &wire.type_code,
                    batch,
                    &self.profile.management.batch_upload,
                    None,
                ),
            );
            m.set_str(
                61,
                &sf.field61(row.batch, row.stan, Some(&super::original::row_date(row))),
            );
            let resp = self.send_management(self.profile.routes.batch_upload, m, true)?;
            let rc = rc_of(&resp);
            if rc != "00" {
                return Err(super::rejected(
                    &format!("batch upload of {:06}", row.stan),
                    &rc,
                ));
            }
            n += 1;
        }
        let resp = self.management(
            self.profile.routes.batch_upload,
            320,
            &self.profile.management.batch_upload_end.clone(),
            None,
            &[(48, digits(n as u64, 4).into_bytes())],
            true,
        )?;
        let rc = rc_of(&resp);
        if rc != "00" {
            return Err(super::rejected("batch upload end", &rc));
        }
        let balanced = resp
            .get_str(48)
            .map(|s| s.starts_with('1'))
            .unwrap_or(false);
        Ok((n, balanced))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str, state: TxState, amount: u64, tip: u64, org: &str) -> TxRecord {
        TxRecord {
            id: 1,
            kind: kind.into(),
            mti: 200,
            batch: 1,
            stan: 1,
            amount,
            tip,
            masked_pan: None,
            entry_mode: None,
            voucher: None,
            card_org: Some(org.into()),
            reference: None,
            auth_code: None,
            response_code: None,
            host_date: None,
            host_time: None,
            state,
            completed: false,
            refunded: 0,
            original_id: None,
            original_batch: None,
            original_stan: None,
            original_date: None,
            created_at: String::new(),
        }
    }

    #[test]
    fn totals_follow_section_5() {
        let rows = vec![
            row("sale", TxState::Approved, 1000, 100, "CUP"),
            row("sale", TxState::Voided, 500, 0, "CUP"),
            row("void", TxState::Approved, 500, 0, "CUP"),
            row("sale", TxState::Approved, 2000, 0, "VIS"),
            row("refund", TxState::Approved, 300, 0, "CUP"),
            row("preauth", TxState::Approved, 9000, 0, "CUP"),
            row("preauth_complete", TxState::Approved, 8000, 0, "CUP"),
            row("qr_sale", TxState::Approved, 880, 0, "XXX"),
            row("qr_refund", TxState::Approved, 80, 0, "XXX"),
            row("tip", TxState::Approved, 1100, 100, "CUP"),
            row("sale", TxState::Declined, 700, 0, "CUP"),
            row("sale", TxState::Reversed, 700, 0, "CUP"),
            row("balance", TxState::Approved, 0, 0, "CUP"),
        ];
        let t = totals(&rows);
        assert_eq!(
            t.domestic.debit,
            CountAmount {
                count: 3,
                amount: 1100 + 8000 + 880
            }
        );
        assert_eq!(
            t.domestic.credit,
            CountAmount {
                count: 2,
                amount: 380
            }
        );
        assert_eq!(
            t.foreign.debit,
            CountAmount {
                count: 1,
                amount: 2000
            }
        );
        assert_eq!(t.foreign.credit, CountAmount::default());
        let sf = &crate::acquirer::Profile::cup().subfields;
        let f = field48(sf, &t).expect("fits");
        assert_eq!(f.len(), 62);
        let (back, d, fo) = parse_field48(sf, &f).unwrap();
        assert_eq!(back, t);
        assert_eq!((d, fo), (0, 0));
    }

    #[test]
    fn field48_matches_the_golden_settlement() {
        let mut t = SettlementTotals::default();
        t.domestic.debit = CountAmount {
            count: 1,
            amount: 8800,
        };
        let sf = &crate::acquirer::Profile::cup().subfields;
        assert_eq!(
            field48(sf, &t).expect("fits"),
            "00000000880000100000000000000000000000000000000000000000000000"
        );
    }
}

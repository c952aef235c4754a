//! Detail query (docs/PROTOCOL.md §4, *private* `397`, management platform, MAC'd), paged.

use super::{digits, kinds, rc_of, Engine};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{DetailQueryResult, DetailRecord};
use crate::tlv::{self, Tlv};

const MAX_PAGES: usize = 1000;

fn text(items: &[Tlv], tag: u32) -> Option<String> {
    let v = tlv::get(items, tag)?;
    match std::str::from_utf8(v) {
        Ok(s) if s.bytes().all(|b| b.is_ascii_graphic() || b == b' ') => Some(s.trim().to_string()),
        // Numeric values sent packed: show the digits.
        _ => Some(hex::encode_upper(v)),
    }
}

fn number(items: &[Tlv], tag: u32) -> Option<u64> {
    text(items, tag)?.parse().ok()
}

/// One `FF01` record.
pub fn record_from_tlvs(items: &[Tlv]) -> Result<DetailRecord> {
    let bad = |what: &str| Error::new(ErrorKind::InvalidResponse, format!("detail record: {what}"));
    let stan = number(items, 0xDF70).ok_or_else(|| bad("DF70 STAN missing"))? as u32;
    let type_code = text(items, 0xDF71).unwrap_or_default();
    let pan_or_voucher = text(items, 0xDF73);
    let is_card = pan_or_voucher.as_deref().is_some_and(|s| s.contains('*'));
    let kind = kinds::name_for_type(&type_code, !is_card && pan_or_voucher.is_some())
        .map(str::to_string)
        .unwrap_or_else(|| format!("type_{type_code}"));
    let dt = text(items, 0xDF76).unwrap_or_default();
    let datetime = if dt.len() == 14 && dt.bytes().all(|b| b.is_ascii_digit()) {
        format!(
            "{}-{}-{}T{}:{}:{}",
            &dt[..4],
            &dt[4..6],
            &dt[6..8],
            &dt[8..10],
            &dt[10..12],
            &dt[12..14]
        )
    } else {
        dt
    };
    let state = match text(items, 0xDF77).as_deref() {
        Some("A") => "approved",
        Some("V") => "voided",
        Some("R") => "reversed",
        Some("T") => "tipped",
        Some(_) | None => "unknown",
    }
    .to_string();
    Ok(DetailRecord {
        stan,
        kind,
        amount: number(items, 0xDF72).unwrap_or(0),
        tip: number(items, 0xDF78).unwrap_or(0),
        masked_pan: if is_card {
            pan_or_voucher.clone()
        } else {
            None
        },
        voucher: if is_card { None } else { pan_or_voucher },
        reference: text(items, 0xDF74).filter(|s| !s.is_empty()),
        auth_code: text(items, 0xDF75).filter(|s| !s.is_empty()),
        datetime,
        state,
    })
}

/// The records of one answer page: every `FF01` at its top level.
pub(crate) fn page_records(page: &[Tlv]) -> Result<Vec<DetailRecord>> {
    page.iter()
        .filter(|t| t.tag == 0xFF01)
        .map(|t| record_from_tlvs(t.children()))
        .collect()
}

impl Engine {
    /// Every record of a batch (the current one when `batch` is None), following the pages.
    pub fn query_details(&mut self, batch: Option<u32>) -> Result<DetailQueryResult> {
        if let Some(b) = batch {
            if b == 0 || b > 999_999 {
                return Err(Error::invalid("batch", "batch must be 1 to 999999"));
            }
        }
        self.ensure_signed_in()?;
        let mut records = Vec::new();
        for _ in 0..MAX_PAGES {
            let mut items = Vec::new();
            if let Some(b) = batch {
                items.push(Tlv::primitive(0xDF61, digits(b as u64, 6).into_bytes()));
            }
            items.push(Tlv::primitive(
                0xDF62,
                records.len().to_string().into_bytes(),
            ));
            let resp = self.management(
                self.profile.routes.detail_query,
                800,
                &self.profile.management.detail_query.clone(),
                Some(tlv::encode(&items)),
                &[],
                true,
            )?;
            let rc = rc_of(&resp);
            if rc != "00" {
                return Err(super::rejected("detail query", &rc));
            }
            let (status, page) = super::query_page(resp.get(62).unwrap_or(&[]))?;
            let before = records.len();
            records.extend(page_records(&page)?);
            match status {
                b'2' if records.len() > before => continue,
                b'2' => {
                    return Err(Error::new(
                        ErrorKind::InvalidResponse,
                        "detail query says more but sent nothing",
                    ))
                }
                b'0' | b'1' => return Ok(DetailQueryResult { batch, records }),
                other => {
                    return Err(Error::new(
                        ErrorKind::InvalidResponse,
                        format!("detail query status {:?}", other as char),
                    ))
                }
            }
        }
        Err(Error::new(
            ErrorKind::InvalidResponse,
            "detail query did not end",
        ))
    }
}

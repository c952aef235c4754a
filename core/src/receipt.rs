//! Receipt lines (merchant copy) from a result, and a readable message for every response code (§9).
//!

use crate::model::TransactionResult;

/// Readable text of a response code (docs/PROTOCOL.md §9).
pub fn response_text(rc: &str) -> &'static str {
    match rc {
        "00" => "Approved",
        "A2" | "A4" | "A5" | "A6" => "Approved (confirm with the issuer)",
        "10" => "Partially approved",
        "01" => "Refer to the card issuer",
        "03" => "Invalid merchant",
        "04" => "Pick up the card",
        "05" => "Do not honour",
        "12" => "Invalid transaction",
        "13" => "Invalid amount",
        "14" => "Invalid card number",
        "15" => "No such issuer",
        "21" => "No action taken",
        "22" => "Suspected malfunction",
        "25" => "Original transaction not found",
        "30" => "Format error",
        "34" => "Suspected fraud",
        "38" => "PIN tries exceeded",
        "40" => "Function not supported",
        "41" => "Lost card",
        "43" => "Stolen card",
        "51" => "Insufficient funds",
        "54" => "Expired card",
        "55" => "Incorrect PIN",
        "57" => "Transaction not permitted to the cardholder",
        "58" => "Transaction not permitted to the terminal",
        "59" => "Suspected fraud",
        "61" => "Exceeds the amount limit",
        "62" => "Restricted card",
        "64" => "Amount does not match the original",
        "65" => "Exceeds the frequency limit",
        "75" => "PIN tries exceeded",
        "90" => "Cut-off in progress",
        "91" => "Issuer unavailable",
        "92" => "Routing error",
        "94" => "Duplicate transaction",
        "96" => "System malfunction",
        "97" => "Terminal not registered",
        "98" => "No response from the issuer",
        "99" => "PIN format error: sign in again",
        "A0" => "MAC error: sign in again",
        "A7" => "Security check failed (ARQC)",
        "A8" => "Device not recognised",
        _ => "Declined",
    }
}

/// Every response code §9 lists.
#[cfg(test)]
const RESPONSE_CODES: &[&str] = &[
    "00", "A2", "A4", "A5", "A6", "10", "01", "03", "04", "05", "12", "13", "14", "15", "21", "22",
    "25", "30", "34", "38", "40", "41", "43", "51", "54", "55", "57", "58", "59", "61", "62", "64",
    "65", "75", "90", "91", "92", "94", "96", "97", "98", "99", "A0", "A7",
];

fn money(fen: u64) -> String {
    format!("CNY {}.{:02}", fen / 100, fen % 100)
}

/// Merchant copy of a transaction receipt. Only the masked PAN appears.
pub fn merchant_copy(
    r: &TransactionResult,
    label: &str,
    merchant_name: &str,
    tid: &str,
    mid: &str,
) -> Vec<String> {
    let mut lines = Vec::new();
    lines.push("POS SALES SLIP - MERCHANT COPY".to_string());
    lines.push(format!("MERCHANT NAME: {merchant_name}"));
    lines.push(format!("MERCHANT NO: {mid}"));
    lines.push(format!("TERMINAL NO: {tid}"));
    if let Some(org) = &r.card_org {
        lines.push(format!("CARD ORG: {org}"));
    }
    if let Some(p) = &r.masked_pan {
        lines.push(format!("CARD NO: {p}"));
    }
    if let Some(v) = &r.voucher {
        lines.push(format!("QR VOUCHER: {v}"));
    }
    lines.push(format!("TRANS TYPE: {label}"));
    lines.push(format!(
        "BATCH NO: {:06}  VOUCHER NO: {:06}",
        r.batch, r.stan
    ));
    if let Some(x) = &r.reference {
        lines.push(format!("REF NO: {x}"));
    }
    if let Some(x) = &r.auth_code {
        lines.push(format!("AUTH NO: {x}"));
    }
    lines.push(format!("DATE/TIME: {}", r.datetime.replace('T', " ")));
    if r.kind == "tip" || r.kind == "tip_void" {
        lines.push(format!(
            "BASE: {}",
            money(
                r.amount
                    .saturating_sub(if r.kind == "tip" { r.tip } else { 0 })
            )
        ));
        lines.push(format!("TIP: {}", money(r.tip)));
        lines.push(format!("AMOUNT: {}", money(r.amount)));
    } else if r.kind != "balance" {
        lines.push(format!("AMOUNT: {}", money(r.amount + r.tip)));
        if r.tip > 0 {
            lines.push(format!("  (TIP INCLUDED: {})", money(r.tip)));
        }
    }
    if let Some(b) = r.balance {
        let sign = if b < 0 { "-" } else { "" };
        lines.push(format!("BALANCE: {sign}{}", money(b.unsigned_abs())));
    }
    lines.push(format!("RESULT: {} {}", r.response_code, r.message));
    if r.approved && r.kind != "balance" {
        lines.push(String::new());
        lines.push("CARDHOLDER SIGNATURE:".to_string());
        lines.push("______________________________".to_string());
        lines.push("I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES".to_string());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_text() {
        for rc in RESPONSE_CODES {
            assert_ne!(response_text(rc), "Declined", "{rc}");
        }
        assert_eq!(response_text("ZZ"), "Declined");
        assert_eq!(response_text("55"), "Incorrect PIN");
    }

    #[test]
    fn receipt_has_the_merchant_copy_lines() {
        let r = TransactionResult {
            outcome: crate::Outcome::Approved,
            approved: true,
            response_code: "00".into(),
            message: "Approved".into(),
            kind: "sale".into(),
            stan: 2,
            batch: 1,
            amount: 1234,
            tip: 0,
            reference: Some("112510154502".into()),
            auth_code: Some("A1B2C3".into()),
            masked_pan: Some("622588******6789".into()),
            voucher: None,
            card_org: Some("CUP".into()),
            datetime: "2026-11-25T10:15:45".into(),
            balance: None,
            receipt: vec![],
            qr_state: None,
            qr_payload: None,
        };
        let lines = merchant_copy(&r, "SALE", "Demo Shop", "12345678", "123456789012345");
        let all = lines.join("\n");
        for needle in [
            "Demo Shop",
            "12345678",
            "123456789012345",
            "622588******6789",
            "CUP",
            "SALE",
            "BATCH NO: 000001  VOUCHER NO: 000002",
            "REF NO: 112510154502",
            "AUTH NO: A1B2C3",
            "2026-11-25 10:15:45",
            "CNY 12.34",
            "SIGNATURE",
        ] {
            assert!(all.contains(needle), "missing {needle}");
        }
        assert!(!all.contains("6225880123456789"));
    }
}

//! A readable message for every response code (docs/PROTOCOL.md §9); the slips themselves are slip.rs.

/// Readable text of a response code (docs/PROTOCOL.md §9).
pub fn response_text(rc: &str) -> &'static str {
    match rc {
        "00" => "Approved",
        "A2" | "A4" | "A5" | "A6" => "Approved (confirm with the issuer)",
        "10" => "Partially approved",
        "Y1" | "Y3" => "Approved offline by the card",
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
}

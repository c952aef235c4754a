//! The facade's edge: the typed `Request` of every operation, its JSON form (docs/JSON-API.md), the op
//! table every binding is checked against, and `call_json`. The result types live in `model` and are
//! re-exported here, so bindings name them `api::TransactionResult` and so on.

use crate::hal::EntryMode;
pub use crate::model::*;
use serde::Serialize;
use zeroize::Zeroizing;

/// Every operation, typed. `Request::from_json` parses the JSON form with field-named errors.
#[derive(Debug, Clone)]
pub enum Request {
    Activate {
        device_token: String,
    },
    DownloadMasterKey,
    SignIn,
    /// Sign off: the working keys are erased (docs/PROTOCOL.md §3.9).
    SignOff,
    /// Echo test (docs/PROTOCOL.md §3.10).
    Echo,
    DownloadCapks,
    DownloadAids,
    Sale {
        amount: u64,
        payment: Payment,
    },
    Preauth {
        amount: u64,
        payment: Payment,
    },
    Void {
        stan: u32,
        card: Option<CardInput>,
    },
    Refund {
        amount: u64,
        original: OriginalRef,
        card: Option<CardInput>,
        /// `"payment": "qr"`: the original is a QR payment (named by voucher or, where the host allows it,
        /// by reference alone).
        qr: bool,
    },
    PreauthVoid {
        amount: u64,
        original: OriginalRef,
        card: Option<CardInput>,
    },
    PreauthComplete {
        amount: u64,
        original: OriginalRef,
        card: Option<CardInput>,
    },
    PreauthCompleteVoid {
        stan: u32,
        card: Option<CardInput>,
    },
    Tip {
        stan: u32,
        tip: u64,
    },
    TipVoid {
        stan: u32,
    },
    Balance {
        card: Option<CardInput>,
    },
    /// Merchant-presented QR order (`amount`).
    QrOrder {
        amount: u64,
    },
    /// One QR status query (`order`: the STAN of a journal QR payment, or `voucher`).
    QrQuery {
        order: Option<u32>,
        voucher: Option<String>,
    },
    QueryDetails {
        batch: Option<u32>,
    },
    Settle,
    Journal {
        batch: Option<u32>,
    },
    /// A journal transaction's result and receipt again (`stan`, `batch?`).
    Reprint {
        stan: u32,
        batch: Option<u32>,
    },
    Status,
}

type Obj = serde_json::Map<String, serde_json::Value>;

fn opt_str(obj: &Obj, key: &str, field: &str) -> crate::Result<Option<String>> {
    match obj.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(crate::Error::invalid(field, "must be a string")),
    }
}

fn req_str(obj: &Obj, key: &str, field: &str) -> crate::Result<String> {
    opt_str(obj, key, field)?.ok_or_else(|| crate::Error::invalid(field, "required"))
}

fn opt_u64(obj: &Obj, key: &str, field: &str) -> crate::Result<Option<u64>> {
    match obj.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| crate::Error::invalid(field, "must be a non-negative whole number")),
        Some(serde_json::Value::String(s))
            if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse()
                .map(Some)
                .map_err(|_| crate::Error::invalid(field, "number out of range"))
        }
        Some(_) => Err(crate::Error::invalid(
            field,
            "must be a non-negative whole number",
        )),
    }
}

fn req_u64(obj: &Obj, key: &str, field: &str) -> crate::Result<u64> {
    opt_u64(obj, key, field)?.ok_or_else(|| crate::Error::invalid(field, "required"))
}

fn opt_u32(obj: &Obj, key: &str, field: &str) -> crate::Result<Option<u32>> {
    match opt_u64(obj, key, field)? {
        None => Ok(None),
        Some(v) if v <= 999_999 => Ok(Some(v as u32)),
        Some(_) => Err(crate::Error::invalid(field, "must be at most 999999")),
    }
}

fn req_u32(obj: &Obj, key: &str, field: &str) -> crate::Result<u32> {
    opt_u32(obj, key, field)?.ok_or_else(|| crate::Error::invalid(field, "required"))
}

fn card_input(obj: &Obj) -> crate::Result<Option<CardInput>> {
    let c = match obj.get("card") {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Object(c)) => c,
        Some(_) => return Err(crate::Error::invalid("card", "must be an object")),
    };
    let entry = match opt_str(c, "entry", "card.entry")?.as_deref() {
        None => None,
        Some("swipe") => Some(EntryMode::Swipe),
        Some("chip") => Some(EntryMode::Chip),
        Some("contactless") => Some(EntryMode::Contactless),
        Some("manual") => Some(EntryMode::Manual),
        Some("fallback") => Some(EntryMode::Fallback),
        Some(_) => {
            return Err(crate::Error::invalid(
                "card.entry",
                "must be swipe, chip, contactless, manual or fallback",
            ))
        }
    };
    let icc = match opt_str(c, "icc", "card.icc")? {
        None => None,
        Some(h) => Some(
            hex::decode(h.trim()).map_err(|_| crate::Error::invalid("card.icc", "must be hex"))?,
        ),
    };
    let z = |key: &str| -> crate::Result<Option<Zeroizing<String>>> {
        Ok(opt_str(c, key, &format!("card.{key}"))?.map(Zeroizing::new))
    };
    Ok(Some(CardInput {
        entry,
        pan: z("pan")?,
        track2: z("track2")?,
        track3: z("track3")?,
        expiry: opt_str(c, "expiry", "card.expiry")?,
        sequence: opt_str(c, "sequence", "card.sequence")?,
        icc,
        pin: z("pin")?,
    }))
}

fn original_ref(obj: &Obj) -> crate::Result<OriginalRef> {
    let o = match obj.get("original") {
        Some(serde_json::Value::Object(o)) => o,
        None | Some(serde_json::Value::Null) => {
            return Err(crate::Error::invalid("original", "required"))
        }
        Some(_) => return Err(crate::Error::invalid("original", "must be an object")),
    };
    Ok(OriginalRef {
        reference: opt_str(o, "reference", "original.reference")?,
        auth_code: opt_str(o, "auth_code", "original.auth_code")?,
        date: opt_str(o, "date", "original.date")?,
        batch: opt_u32(o, "batch", "original.batch")?,
        stan: opt_u32(o, "stan", "original.stan")?,
        voucher: opt_str(o, "voucher", "original.voucher")?,
    })
}

fn payment(obj: &Obj) -> crate::Result<Payment> {
    let card = card_input(obj)?;
    let qr = opt_str(obj, "qr_code", "qr_code")?;
    match (card, qr) {
        (Some(_), Some(_)) => Err(crate::Error::invalid(
            "qr_code",
            "give either card or qr_code, not both",
        )),
        (Some(c), None) => Ok(Payment::Card(Some(c))),
        (None, Some(q)) => Ok(Payment::Qr(Some(q))),
        (None, None) => match obj.get("payment").and_then(|p| p.as_str()) {
            Some("qr") => Ok(Payment::Qr(None)),
            Some("card") | None => Ok(Payment::Card(None)),
            Some(_) => Err(crate::Error::invalid("payment", "must be card or qr")),
        },
    }
}

/// The longest request `Request::from_json` reads (the largest real one, a chip sale with its field 55, is
/// a few kilobytes).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Overwrite every string of a parsed JSON tree (values and keys stay allocated, their bytes zeroed), so
/// that freeing it leaves no card data behind.
fn wipe(v: &mut serde_json::Value) {
    use zeroize::Zeroize;
    match v {
        serde_json::Value::String(s) => s.zeroize(),
        serde_json::Value::Array(a) => a.iter_mut().for_each(wipe),
        serde_json::Value::Object(o) => o.values_mut().for_each(wipe),
        _ => {}
    }
}

/// The result of any operation, typed; `call_json` turns it into the JSON result object.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Response {
    Activation(ActivationResult),
    MasterKey(MasterKeyResult),
    SignIn(SignInResult),
    SignOff(SignOffResult),
    Echo(EchoResult),
    Download(DownloadResult),
    Transaction(TransactionResult),
    Details(DetailQueryResult),
    Settlement(SettlementResult),
    Journal(JournalResult),
    Status(StatusResult),
}

impl Response {
    /// The JSON result object (docs/JSON-API.md shapes).
    pub fn to_json(&self) -> String {
        // Plain data (strings, numbers, lists): serialising it cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| "null".to_string())
    }
}

/// One operation of the API, described once. The JSON dispatcher, the C exports (`pos_terminal_<name>`),
/// the Kotlin methods and the op table of docs/JSON-API.md are all checked against this table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpSpec {
    /// The JSON `op` (and the C function `pos_terminal_<name>`).
    pub name: &'static str,
    /// The parameters, as docs/JSON-API.md lists them.
    pub params: &'static str,
    /// The result object (`TransactionResult`, ...).
    pub result: &'static str,
    /// The Kotlin method of `PosTerminal`.
    pub kotlin: &'static str,
    /// Its results and errors say where the money stands (`outcome`).
    pub financial: bool,
}

const fn op(
    name: &'static str,
    params: &'static str,
    result: &'static str,
    kotlin: &'static str,
    financial: bool,
) -> OpSpec {
    OpSpec {
        name,
        params,
        result,
        kotlin,
        financial,
    }
}

/// Every operation, in the order of the docs.
pub const OPS: &[OpSpec] = &[
    op(
        "activate",
        "`device_token`",
        "ActivationResult",
        "activate",
        false,
    ),
    op(
        "download_master_key",
        "—",
        "MasterKeyResult",
        "downloadMasterKey",
        false,
    ),
    op("sign_in", "—", "SignInResult", "signIn", false),
    op(
        "sign_off",
        "— (the working keys are erased; the next MAC'd request needs `sign_in`)",
        "SignOffResult",
        "signOff",
        false,
    ),
    op(
        "echo",
        "— (a link test; nothing changes)",
        "EchoResult",
        "echo",
        false,
    ),
    op(
        "download_capks",
        "—",
        "DownloadResult",
        "downloadCapks",
        false,
    ),
    op(
        "download_aids",
        "—",
        "DownloadResult",
        "downloadAids",
        false,
    ),
    op(
        "sale",
        "`amount`, and `card` or `qr_code`; neither: the card reader, or the QR scanner with `\"payment\": \"qr\"`",
        "TransactionResult",
        "sale",
        true,
    ),
    op(
        "preauth",
        "`amount`, and `card` or `qr_code`; neither: the card reader, or the QR scanner with `\"payment\": \"qr\"`",
        "TransactionResult",
        "preauth",
        true,
    ),
    op(
        "void",
        "`stan` of the original, `card` for a card original",
        "TransactionResult",
        "void",
        true,
    ),
    op(
        "refund",
        "`amount`, `original: {reference, date, voucher?}`, `card` unless `voucher`; a QR original without `voucher`: `\"payment\": \"qr\"` (or found in the journal)",
        "TransactionResult",
        "refund",
        true,
    ),
    op(
        "preauth_void",
        "`amount`, `original: {auth_code, date, batch, stan, voucher?}`, `card` unless `voucher`",
        "TransactionResult",
        "preauthVoid",
        true,
    ),
    op(
        "preauth_complete",
        "`amount`, `original: {auth_code, date, batch, stan, voucher?}`, `card` unless `voucher`",
        "TransactionResult",
        "preauthComplete",
        true,
    ),
    op(
        "preauth_complete_void",
        "`stan` of the completion, `card` for a card original",
        "TransactionResult",
        "preauthCompleteVoid",
        true,
    ),
    op(
        "tip",
        "`stan` of the sale, `tip`",
        "TransactionResult",
        "tip",
        true,
    ),
    op(
        "tip_void",
        "`stan` of the tip",
        "TransactionResult",
        "tipVoid",
        true,
    ),
    op("balance", "`card`", "TransactionResult", "balance", true),
    op(
        "qr_order",
        "`amount` — merchant-presented QR: shows the host's code, polls to a final state; the result carries the code payload (`qr_payload`) and `qr_state`",
        "TransactionResult",
        "qrOrder",
        true,
    ),
    op(
        "qr_query",
        "`order` (STAN of a journal QR payment) or `voucher` — one QR status query; the result carries `qr_state`",
        "TransactionResult",
        "qrQuery",
        true,
    ),
    op(
        "query_details",
        "`batch?`",
        "DetailQueryResult",
        "queryDetails",
        false,
    ),
    op("settle", "—", "SettlementResult", "settle", false),
    op(
        "journal",
        "`batch?` (local records)",
        "JournalResult",
        "journal",
        false,
    ),
    op(
        "reprint",
        "`stan`, `batch?` — a journal transaction's result and receipt again (nothing sent)",
        "TransactionResult",
        "reprint",
        false,
    ),
    op("status", "—", "StatusResult", "status", false),
];

/// The row of an operation.
pub fn op_spec(name: &str) -> Option<&'static OpSpec> {
    OPS.iter().find(|o| o.name == name)
}

/// The op table of docs/JSON-API.md, generated from `OPS` (a test keeps the docs equal to it).
pub fn ops_markdown() -> String {
    let mut out = String::from("| op | parameters | result |\n|---|---|---|\n");
    for o in OPS {
        out.push_str(&format!(
            "| `{}` | {} | `{}` |\n",
            o.name, o.params, o.result
        ));
    }
    out
}

impl Request {
    /// Parse `{"op": ..., ...}` (JSON-API.md). Errors are `invalid_json`, or `invalid_request` naming the field.
    ///
    /// A request longer than `MAX_REQUEST_BYTES` is refused before it is parsed. Card data (PAN, tracks,
    /// PIN) is copied out into zeroizing strings, and every string of the parsed JSON tree is wiped
    /// before the tree is freed, so no copy of it is left behind in freed memory.
    pub fn from_json(json: &str) -> crate::Result<Request> {
        if json.len() > MAX_REQUEST_BYTES {
            return Err(crate::Error::invalid(
                "request",
                format!(
                    "request is {} bytes; at most {MAX_REQUEST_BYTES}",
                    json.len()
                ),
            ));
        }
        let mut v: serde_json::Value = serde_json::from_str(json).map_err(|e| {
            crate::Error::new(
                crate::ErrorKind::InvalidJson,
                format!("request is not valid JSON: {e}"),
            )
        })?;
        let parsed = Request::from_value(&v);
        wipe(&mut v);
        parsed
    }

    fn from_value(v: &serde_json::Value) -> crate::Result<Request> {
        let obj = v.as_object().ok_or_else(|| {
            crate::Error::new(
                crate::ErrorKind::InvalidJson,
                "request must be a JSON object",
            )
        })?;
        let op = req_str(obj, "op", "op")?;
        Request::parse_op(&op, obj).map_err(|e| {
            if op_spec(&op).is_some_and(|o| o.financial) {
                // A financial request that does not parse never reached the host.
                e.or_outcome(crate::Outcome::NotSent)
            } else {
                e
            }
        })
    }

    fn parse_op(op: &str, obj: &Obj) -> crate::Result<Request> {
        Ok(match op {
            "activate" => Request::Activate {
                device_token: req_str(obj, "device_token", "device_token")?,
            },
            "download_master_key" => Request::DownloadMasterKey,
            "sign_in" => Request::SignIn,
            "sign_off" => Request::SignOff,
            "echo" => Request::Echo,
            "download_capks" => Request::DownloadCapks,
            "download_aids" => Request::DownloadAids,
            "sale" => Request::Sale {
                amount: req_u64(obj, "amount", "amount")?,
                payment: payment(obj)?,
            },
            "preauth" => Request::Preauth {
                amount: req_u64(obj, "amount", "amount")?,
                payment: payment(obj)?,
            },
            "void" => Request::Void {
                stan: req_u32(obj, "stan", "stan")?,
                card: card_input(obj)?,
            },
            "refund" => {
                let card = card_input(obj)?;
                let qr = match obj.get("payment") {
                    None | Some(serde_json::Value::Null) => false,
                    Some(p) => match p.as_str() {
                        Some("qr") if card.is_none() => true,
                        Some("qr") => {
                            return Err(crate::Error::invalid(
                                "payment",
                                "a QR refund takes no card",
                            ))
                        }
                        Some("card") => false,
                        _ => return Err(crate::Error::invalid("payment", "must be card or qr")),
                    },
                };
                Request::Refund {
                    amount: req_u64(obj, "amount", "amount")?,
                    original: original_ref(obj)?,
                    card,
                    qr,
                }
            }
            "preauth_void" => Request::PreauthVoid {
                amount: req_u64(obj, "amount", "amount")?,
                original: original_ref(obj)?,
                card: card_input(obj)?,
            },
            "preauth_complete" => Request::PreauthComplete {
                amount: req_u64(obj, "amount", "amount")?,
                original: original_ref(obj)?,
                card: card_input(obj)?,
            },
            "preauth_complete_void" => Request::PreauthCompleteVoid {
                stan: req_u32(obj, "stan", "stan")?,
                card: card_input(obj)?,
            },
            "tip" => Request::Tip {
                stan: req_u32(obj, "stan", "stan")?,
                tip: req_u64(obj, "tip", "tip")?,
            },
            "tip_void" => Request::TipVoid {
                stan: req_u32(obj, "stan", "stan")?,
            },
            "balance" => Request::Balance {
                card: card_input(obj)?,
            },
            "qr_order" => Request::QrOrder {
                amount: req_u64(obj, "amount", "amount")?,
            },
            "qr_query" => Request::QrQuery {
                order: opt_u32(obj, "order", "order")?,
                voucher: opt_str(obj, "voucher", "voucher")?,
            },
            "query_details" => Request::QueryDetails {
                batch: opt_u32(obj, "batch", "batch")?,
            },
            "settle" => Request::Settle,
            "journal" => Request::Journal {
                batch: opt_u32(obj, "batch", "batch")?,
            },
            "reprint" => Request::Reprint {
                stan: req_u32(obj, "stan", "stan")?,
                batch: opt_u32(obj, "batch", "batch")?,
            },
            "status" => Request::Status,
            _ => {
                return Err(crate::Error::invalid(
                    "op",
                    format!(
                        "unknown operation '{}'",
                        op.chars().take(40).collect::<String>()
                    ),
                ))
            }
        })
    }
}

/// The JSON entry point: request JSON in, response envelope out (`{"ok":true,"result":...}` or
/// `{"ok":false,"error":{"code","message","field"?}}`). Never panics.
pub fn call_json(terminal: &crate::Terminal, request: &str) -> String {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Request::from_json(request).and_then(|r| terminal.execute(r))
    }));
    match outcome {
        Ok(Ok(result)) => serde_json::json!({"ok": true, "result": result}).to_string(),
        Ok(Err(e)) => error_json(&e),
        Err(_) => {
            log::error!("panic inside call_json");
            error_json(&crate::Error::internal("internal error"))
        }
    }
}

/// Error envelope for an error (used by the bridges for errors that happen before `call_json`).
pub fn error_json(error: &crate::Error) -> String {
    let mut e = serde_json::json!({"code": error.kind.code(), "message": error.message});
    if let Some(f) = &error.field {
        e["field"] = serde_json::Value::String(f.clone());
    }
    if let Some(o) = error.outcome {
        e["outcome"] = serde_json::Value::String(o.as_str().to_string());
    }
    if let Some(s) = error.stan {
        e["stan"] = serde_json::Value::from(s);
    }
    serde_json::json!({"ok": false, "error": e}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_requests_get_clear_errors() {
        // 10 MB: refused by size before parsing.
        let big = format!("{{\"op\":\"sale\",\"x\":\"{}\"}}", "9".repeat(10 << 20));
        let e = Request::from_json(&big).unwrap_err();
        assert_eq!(
            (e.kind, e.field.as_deref()),
            (crate::ErrorKind::InvalidRequest, Some("request"))
        );
        // 100,000 levels of nesting: over the size limit too.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            Request::from_json(&deep).unwrap_err().field.as_deref(),
            Some("request")
        );
        // Deep nesting within the size limit: the parser's depth limit, invalid JSON.
        let deep = format!(
            "{{\"op\":\"sale\",\"x\":{}{}}}",
            "[".repeat(20_000),
            "]".repeat(20_000)
        );
        assert!(deep.len() <= MAX_REQUEST_BYTES);
        let e = Request::from_json(&deep).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::InvalidJson, "{e}");
    }

    #[test]
    fn every_op_in_the_table_is_dispatched_and_documented() {
        for o in OPS {
            let e = Request::from_json(&format!("{{\"op\":\"{}\"}}", o.name)).err();
            let unknown = e.is_some_and(|e| e.field.as_deref() == Some("op"));
            assert!(!unknown, "{} is in OPS but not parsed", o.name);
        }
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/JSON-API.md"),
        )
        .expect("docs/JSON-API.md");
        assert!(
            doc.contains(&ops_markdown()),
            "docs/JSON-API.md's op table differs from api::OPS; paste this:\n{}",
            ops_markdown()
        );
    }

    fn err(json: &str) -> (crate::ErrorKind, Option<String>) {
        let e = Request::from_json(json).unwrap_err();
        (e.kind, e.field)
    }

    #[test]
    fn requests_parse() {
        match Request::from_json(r#"{"op":"sale","amount":1234,"card":{"entry":"swipe","track2":"6225880123456789=3012101","pin":"123456"}}"#).unwrap() {
            Request::Sale { amount: 1234, payment: Payment::Card(Some(c)) } => {
                assert_eq!(c.entry, Some(EntryMode::Swipe));
                assert_eq!(c.pin.as_deref().map(|p| p.as_str()), Some("123456"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Request::from_json(r#"{"op":"sale","amount":1,"qr_code":"134567890123456789"}"#)
                .unwrap(),
            Request::Sale {
                payment: Payment::Qr(Some(_)),
                ..
            }
        ));
        assert!(matches!(
            Request::from_json(r#"{"op":"preauth","amount":"100"}"#).unwrap(),
            Request::Preauth {
                amount: 100,
                payment: Payment::Card(None)
            }
        ));
        match Request::from_json(r#"{"op":"refund","amount":5,"original":{"reference":"112510154502","date":"1125","voucher":"1"}}"#).unwrap() {
            Request::Refund { original, card: None, .. } => {
                assert_eq!(original.reference.as_deref(), Some("112510154502"));
                assert_eq!(original.voucher.as_deref(), Some("1"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Request::from_json(r#"{"op":"tip","stan":12,"tip":100}"#).unwrap(),
            Request::Tip { stan: 12, tip: 100 }
        ));
        assert!(matches!(
            Request::from_json(r#"{"op":"query_details"}"#).unwrap(),
            Request::QueryDetails { batch: None }
        ));
        assert!(matches!(
            Request::from_json(r#"{"op":"status"}"#).unwrap(),
            Request::Status
        ));
        match Request::from_json(r#"{"op":"balance","card":{"entry":"chip","pan":"6225884444444444","icc":"9F2608AABBCCDDEEFF0011"}}"#).unwrap() {
            Request::Balance { card: Some(c) } => assert_eq!(c.icc.map(|v| v.len()), Some(11)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        use crate::ErrorKind::{InvalidJson, InvalidRequest};
        assert_eq!(err("[1]").0, InvalidJson);
        assert_eq!(err("nope").0, InvalidJson);
        assert_eq!(err(r#"{"amount":1}"#), (InvalidRequest, Some("op".into())));
        assert_eq!(
            err(r#"{"op":"dance"}"#),
            (InvalidRequest, Some("op".into()))
        );
        assert_eq!(
            err(r#"{"op":"sale"}"#),
            (InvalidRequest, Some("amount".into()))
        );
        assert_eq!(
            err(r#"{"op":"sale","amount":-1}"#),
            (InvalidRequest, Some("amount".into()))
        );
        assert_eq!(
            err(r#"{"op":"sale","amount":1.5}"#),
            (InvalidRequest, Some("amount".into()))
        );
        assert_eq!(
            err(r#"{"op":"sale","amount":1,"card":"x"}"#),
            (InvalidRequest, Some("card".into()))
        );
        assert_eq!(
            err(r#"{"op":"sale","amount":1,"card":{"entry":"telepathy"}}"#),
            (InvalidRequest, Some("card.entry".into()))
        );
        assert_eq!(
            err(r#"{"op":"sale","amount":1,"card":{"icc":"XYZ"}}"#),
            (InvalidRequest, Some("card.icc".into()))
        );
        assert_eq!(
            err(r#"{"op":"sale","amount":1,"card":{"pan":5}}"#),
            (InvalidRequest, Some("card.pan".into()))
        );
        assert_eq!(
            err(r#"{"op":"sale","amount":1,"card":{"entry":"swipe"},"qr_code":"1"}"#),
            (InvalidRequest, Some("qr_code".into()))
        );
        assert_eq!(
            err(r#"{"op":"void"}"#),
            (InvalidRequest, Some("stan".into()))
        );
        assert_eq!(
            err(r#"{"op":"void","stan":1000000}"#),
            (InvalidRequest, Some("stan".into()))
        );
        assert_eq!(
            err(r#"{"op":"refund","amount":1}"#),
            (InvalidRequest, Some("original".into()))
        );
        assert_eq!(
            err(r#"{"op":"refund","amount":1,"original":{"stan":"x"}}"#),
            (InvalidRequest, Some("original.stan".into()))
        );
        assert_eq!(
            err(r#"{"op":"activate"}"#),
            (InvalidRequest, Some("device_token".into()))
        );
    }

    #[test]
    fn error_envelope() {
        let v: serde_json::Value = serde_json::from_str(&error_json(&crate::Error::invalid(
            "amount",
            "must be greater than 0",
        )))
        .unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["error"]["code"], "invalid_request");
        assert_eq!(v["error"]["field"], "amount");
    }
}

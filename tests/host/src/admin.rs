//! The admin port: one JSON object per line in, one per line out (docs/HOST.md).

use crate::engine::Shared;
use crate::faults::{FaultKind, ANY_TID};
use crate::util::num;
use log::{info, warn};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

/// A client of the admin port.
pub struct AdminClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl AdminClient {
    pub fn connect(addr: SocketAddr) -> std::io::Result<AdminClient> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        Ok(AdminClient {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    /// Send one request, read its one-line answer.
    pub fn call(&mut self, request: Value) -> std::io::Result<Value> {
        let mut line = request.to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        let mut answer = String::new();
        if self.reader.read_line(&mut answer)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "admin connection closed",
            ));
        }
        serde_json::from_str(&answer)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

pub(crate) fn serve(shared: Arc<Shared>, stream: TcpStream) {
    let Ok(read) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read);
    let mut writer = stream;
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<Value>(&line) {
            Ok(req) => execute(&shared, &req),
            Err(e) => json!({"ok": false, "error": format!("invalid JSON: {e}")}),
        };
        let mut out = answer.to_string();
        out.push('\n');
        if writer.write_all(out.as_bytes()).is_err() {
            break;
        }
    }
}

fn err(msg: impl Into<String>) -> Value {
    json!({"ok": false, "error": msg.into()})
}

fn str_field<'a>(req: &'a Value, name: &str) -> Result<&'a str, Value> {
    req.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| err(format!("{name}: missing or not a string")))
}

/// `tid` when given, else [`ANY_TID`].
fn opt_tid(req: &Value) -> Result<&str, Value> {
    match req.get("tid") {
        None | Some(Value::Null) => Ok(ANY_TID),
        Some(_) => str_field(req, "tid"),
    }
}

fn u64_field(req: &Value, name: &str) -> Result<Option<u64>, Value> {
    match req.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| err(format!("{name}: not a whole number"))),
        Some(Value::String(s)) => num(s)
            .map(Some)
            .ok_or_else(|| err(format!("{name}: not digits"))),
        _ => Err(err(format!("{name}: not a number"))),
    }
}

/// Answer one admin request.
pub fn execute(shared: &Shared, req: &Value) -> Value {
    match run(shared, req) {
        Ok(v) => v,
        Err(e) => e,
    }
}

fn run(shared: &Shared, req: &Value) -> Result<Value, Value> {
    let cmd = str_field(req, "cmd")?;
    let lock_db = || shared.db.lock().unwrap_or_else(|p| p.into_inner());
    let dbe = |e: rusqlite::Error| err(format!("database: {e}"));
    match cmd {
        "fault" => {
            // Without a tid the fault applies to whichever terminal sends next.
            let tid = opt_tid(req)?;
            let count = u64_field(req, "count")?.unwrap_or(1).min(1_000_000) as u32;
            // The fault's name: `fault` (documented) or `kind` (accepted as an alias).
            let name = match req.get("fault") {
                Some(_) => str_field(req, "fault")?,
                None => {
                    str_field(req, "kind").map_err(|_| err("fault: missing or not a string"))?
                }
            };
            let kind = match name {
                "delay" => FaultKind::Delay(
                    u64_field(req, "ms")?.ok_or_else(|| err("ms: required for delay"))?,
                ),
                "no_answer" => FaultKind::NoAnswer,
                "garbage" => FaultKind::Garbage,
                "wrong_mac" => FaultKind::WrongMac,
                "close_mid_frame" => FaultKind::CloseMidFrame,
                "decline" => {
                    let code = req.get("code").and_then(Value::as_str).unwrap_or("05");
                    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
                        return Err(err("code: two characters"));
                    }
                    FaultKind::Decline(code.to_string())
                }
                "sign_in_again" => FaultKind::SignInAgain,
                "unbalanced_settlement" => FaultKind::UnbalancedSettlement,
                "issuer_script" => FaultKind::IssuerScript,
                other => return Err(err(format!("fault: unknown fault {other:?}"))),
            };
            info!("admin: fault {} x{count} for {tid}", kind.name());
            shared
                .faults
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .add(tid, kind, count);
            Ok(json!({"ok": true}))
        }
        "clear_faults" => {
            let mut faults = shared.faults.lock().unwrap_or_else(|p| p.into_inner());
            match req.get("tid") {
                None => faults.clear_all(),
                Some(_) => {
                    let tid = str_field(req, "tid")?;
                    faults.clear(tid);
                    faults.clear(ANY_TID);
                }
            }
            Ok(json!({"ok": true}))
        }
        "faults" => {
            let tid = opt_tid(req)?;
            let list: Vec<Value> = shared
                .faults
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .active(tid)
                .iter()
                .map(|f| json!({"fault": f.kind.name(), "remaining": f.remaining}))
                .collect();
            Ok(json!({"ok": true, "faults": list}))
        }
        "totals" => {
            let tid = str_field(req, "tid")?;
            let db = lock_db();
            let term = db
                .store
                .terminal(tid)
                .map_err(dbe)?
                .ok_or_else(|| err("tid: unknown terminal"))?;
            let batch = u64_field(req, "batch")?
                .map(|b| b as u32)
                .unwrap_or(term.batch);
            let t = db.store.totals(tid, batch).map_err(dbe)?;
            let side = |s: &crate::store::Side| {
                json!({"debit": {"count": s.debit_count, "amount": s.debit_amount},
                       "credit": {"count": s.credit_count, "amount": s.credit_amount}})
            };
            Ok(
                json!({"ok": true, "batch": batch, "domestic": side(&t.domestic), "foreign": side(&t.foreign)}),
            )
        }
        "tx" => {
            let tid = str_field(req, "tid")?;
            let stan = u64_field(req, "stan")?.ok_or_else(|| err("stan: required"))? as u32;
            let db = lock_db();
            let t = match u64_field(req, "batch")? {
                Some(b) => db.store.txn_by_stan(tid, b as u32, stan),
                None => db.store.txn_by_stan_any(tid, stan),
            }
            .map_err(dbe)?;
            Ok(match t {
                None => json!({"ok": true, "found": false}),
                Some(t) => json!({
                    "ok": true, "found": true, "mti": format!("{:04}", t.mti), "processing_code": t.pcode,
                    "type": t.kind, "batch": t.batch, "stan": t.stan, "state": t.state, "amount": t.amount,
                    "tip": t.tip, "response_code": t.rc, "rrn": t.rrn, "auth_id": t.auth,
                    "refunded": t.refunded, "voucher": t.voucher,
                }),
            })
        }
        "balance" => {
            let pan = str_field(req, "pan")?;
            let db = lock_db();
            match db.store.balance_of(pan).map_err(dbe)? {
                Some(b) => Ok(json!({"ok": true, "balance": b})),
                None => Err(err("pan: unknown card")),
            }
        }
        "ledger_count" => {
            let tid = str_field(req, "tid")?;
            let db = lock_db();
            Ok(json!({"ok": true, "count": db.store.ledger_count(tid).map_err(dbe)?}))
        }
        "chip_uploads" => {
            let tid = str_field(req, "tid")?;
            let db = lock_db();
            let list: Vec<serde_json::Value> = db
                .store
                .chip_uploads(tid)
                .map_err(dbe)?
                .into_iter()
                .map(|(class, b, s, data, verified)| {
                    json!({"class": class, "batch": b, "stan": s, "data": data, "verified": verified})
                })
                .collect();
            Ok(json!({"ok": true, "uploads": list}))
        }
        "message_count" => {
            let db = lock_db();
            Ok(json!({"ok": true, "count": db.store.message_count().map_err(dbe)?}))
        }
        "qr_payer" => {
            let tid = opt_tid(req)?;
            let mode = crate::engine::PayerMode::parse(str_field(req, "mode")?)
                .ok_or_else(|| err("mode: pay|paying|fail|expire|never"))?;
            let after = u64_field(req, "after")?.unwrap_or(1).min(10_000) as u32;
            shared
                .qr
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .set_payer(tid, mode, after);
            info!("admin: QR payer for {tid}: {mode:?} after {after}");
            Ok(json!({"ok": true}))
        }
        "pay_order" => {
            let tid = str_field(req, "tid")?;
            let voucher = str_field(req, "voucher")?;
            let paid = shared.pay_order(tid, voucher).map_err(dbe)?;
            Ok(json!({"ok": true, "paid": paid}))
        }
        "require" => {
            let tid = str_field(req, "tid")?;
            let flag = match str_field(req, "what")? {
                "capk" => "need_capk",
                "aid" => "need_aid",
                "sign_in" => "need_signin",
                other => return Err(err(format!("what: capk|aid|sign_in, not {other:?}"))),
            };
            let db = lock_db();
            db.store
                .terminal(tid)
                .map_err(dbe)?
                .ok_or_else(|| err("tid: unknown terminal"))?;
            db.store.set_flag(tid, flag, true).map_err(dbe)?;
            Ok(json!({"ok": true}))
        }
        "key_family" => {
            // {"cmd": "key_family", "family": "tdes"|"sm", "tid"?: "..."}: one terminal, or every one.
            let family = str_field(req, "family")?;
            let family = possdk_core::crypto::KeyFamily::from_name(family)
                .ok_or_else(|| err(format!("family: tdes|sm, not {family:?}")))?;
            let tid = req.get("tid").and_then(|v| v.as_str());
            if let Some(t) = tid {
                lock_db()
                    .store
                    .terminal(t)
                    .map_err(dbe)?
                    .ok_or_else(|| err("tid: unknown terminal"))?;
            }
            let changed = shared
                .set_key_family(tid, family)
                .map_err(|e| err(e.to_string()))?;
            Ok(json!({"ok": true, "changed": changed}))
        }
        other => {
            warn!("admin: unknown command {other:?}");
            Err(err(format!("cmd: unknown command {other:?}")))
        }
    }
}

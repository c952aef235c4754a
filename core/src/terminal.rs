//! The facade: config + HAL + security module + journal -> one method per operation.
//! OWNER: engine helper (Config is shared with the bridges: change with care).

use crate::api::*;
use crate::error::{Error, ErrorKind, Result};
use crate::flows::execute::TxInput;
use crate::flows::kinds::{self, Kind};
use crate::flows::{Engine, Route};
use crate::hal::{CancelToken, Endpoint, Hal, SystemClock};
use crate::iso8583::Tpdu;
use crate::journal::Journal;
use crate::security::software::SoftwareSecurityModule;
use crate::security::KeySlot;
use crate::transport::TcpTransport;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use zeroize::Zeroizing;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EndpointConfig {
    /// `host:port`
    pub address: String,
    /// 10 hex digits, e.g. `6000030000`.
    pub tpdu: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Timeouts {
    pub connect: u64,
    pub response: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: 10_000,
            response: 30_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct DeviceConfig {
    pub serial: String,
    #[serde(default)]
    pub model: String,
}

/// Terminal configuration (JSON-API.md "Config").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Config {
    pub tid: String,
    pub mid: String,
    pub gateway: EndpointConfig,
    pub platform: EndpointConfig,
    pub journal_path: String,
    #[serde(default)]
    pub timeouts_ms: Timeouts,
    #[serde(default = "default_reversal_attempts")]
    pub reversal_attempts: u32,
    #[serde(default = "default_max_tip")]
    pub max_tip_percent: u32,
    /// Hex SHA-256(modulus || exponent) of the host RSA key to accept.
    #[serde(default)]
    pub host_key_sha256: Option<String>,
    /// Device info used when no DeviceInfo callback is given.
    #[serde(default)]
    pub device: Option<DeviceConfig>,
    /// 64 hex digits: the platform key that seals keys and PANs at rest (Android Keystore, SE...).
    /// Absent: derived from TID + serial (obfuscation only; a warning is logged).
    #[serde(default)]
    pub seal_key: Option<String>,
    /// Encrypt tracks under the TDK (53 third digit 1).
    #[serde(default)]
    pub encrypt_tracks: bool,
    /// Transaction kinds (flow names) that ask for a PIN; None: the defaults.
    #[serde(default)]
    pub pin_required: Option<Vec<String>>,
    /// Transaction kinds whose PIN may be bypassed.
    #[serde(default)]
    pub pin_bypass_allowed: Option<Vec<String>>,
}

fn default_reversal_attempts() -> u32 {
    3
}
fn default_max_tip() -> u32 {
    20
}

/// A terminal. All operations take `&self` (an internal lock serialises them); `cancel` may be called
/// from any thread while an operation waits.
pub struct Terminal {
    inner: Mutex<Engine>,
    cancel: CancelToken,
}

fn parse_tpdu(field: &str, hex_text: &str) -> Result<Tpdu> {
    let bytes =
        hex::decode(hex_text).map_err(|_| Error::invalid(field, "TPDU must be 10 hex digits"))?;
    let arr: [u8; 5] = bytes
        .try_into()
        .map_err(|_| Error::invalid(field, "TPDU must be 10 hex digits"))?;
    Ok(Tpdu(arr))
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Config {
    /// Check every field (errors name the field).
    pub fn validate(&self) -> Result<()> {
        let printable = |s: &str| s.bytes().all(|b| (0x20..0x7F).contains(&b));
        if self.tid.len() != 8 || !printable(&self.tid) {
            return Err(Error::invalid("tid", "terminal id must be 8 characters"));
        }
        if self.mid.len() != 15 || !printable(&self.mid) {
            return Err(Error::invalid("mid", "merchant id must be 15 characters"));
        }
        for (name, ep) in [("gateway", &self.gateway), ("platform", &self.platform)] {
            if ep.address.is_empty() || !ep.address.contains(':') {
                return Err(Error::invalid(
                    format!("{name}.address"),
                    "address must be host:port",
                ));
            }
            parse_tpdu(&format!("{name}.tpdu"), &ep.tpdu)?;
        }
        if self.journal_path.is_empty() {
            return Err(Error::invalid("journal_path", "required"));
        }
        if self.timeouts_ms.connect == 0 {
            return Err(Error::invalid(
                "timeouts_ms.connect",
                "must be greater than 0",
            ));
        }
        if self.timeouts_ms.response == 0 {
            return Err(Error::invalid(
                "timeouts_ms.response",
                "must be greater than 0",
            ));
        }
        if !(1..=10).contains(&self.reversal_attempts) {
            return Err(Error::invalid("reversal_attempts", "must be 1 to 10"));
        }
        if self.max_tip_percent > 100 {
            return Err(Error::invalid("max_tip_percent", "must be 0 to 100"));
        }
        if let Some(h) = &self.host_key_sha256 {
            if !is_hex(h, 64) {
                return Err(Error::invalid("host_key_sha256", "must be 64 hex digits"));
            }
        }
        if let Some(k) = &self.seal_key {
            if !is_hex(k, 64) {
                return Err(Error::invalid("seal_key", "must be 64 hex digits"));
            }
        }
        for (name, list) in [
            ("pin_required", &self.pin_required),
            ("pin_bypass_allowed", &self.pin_bypass_allowed),
        ] {
            if let Some(list) = list {
                if let Some(bad) = list.iter().find(|k| kinds::by_name(k).is_none()) {
                    return Err(Error::invalid(
                        name,
                        format!("unknown transaction kind '{bad}'"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Parse and validate a JSON config (errors name the field: `tid`, `gateway.tpdu`, ...).
    pub fn from_json(json: &str) -> Result<Config> {
        let v: serde_json::Value = serde_json::from_str(json).map_err(|e| {
            Error::new(
                ErrorKind::InvalidJson,
                format!("config is not valid JSON: {e}"),
            )
        })?;
        let obj = v
            .as_object()
            .ok_or_else(|| Error::new(ErrorKind::InvalidJson, "config must be a JSON object"))?;
        for f in ["tid", "mid", "journal_path"] {
            match obj.get(f) {
                Some(serde_json::Value::String(_)) => {}
                Some(_) => return Err(Error::invalid(f, "must be a string")),
                None => return Err(Error::invalid(f, "required")),
            }
        }
        for ep in ["gateway", "platform"] {
            let o = obj
                .get(ep)
                .and_then(|x| x.as_object())
                .ok_or_else(|| Error::invalid(ep, "required object"))?;
            for f in ["address", "tpdu"] {
                if !o.get(f).is_some_and(|x| x.is_string()) {
                    return Err(Error::invalid(format!("{ep}.{f}"), "required string"));
                }
            }
        }
        // Types of the optional keys, checked here so the error names the key.
        use serde_json::Value as V;
        let check = |path: &str, value: Option<&V>, ok: fn(&V) -> bool, what: &str| -> Result<()> {
            match value {
                None | Some(V::Null) => Ok(()),
                Some(x) if ok(x) => Ok(()),
                Some(_) => Err(Error::invalid(path, format!("must be {what}"))),
            }
        };
        let uint = |x: &V| x.as_u64().is_some();
        let string = |x: &V| x.is_string();
        let strings = |x: &V| {
            x.as_array()
                .is_some_and(|a| a.iter().all(|i| i.is_string()))
        };
        check(
            "reversal_attempts",
            obj.get("reversal_attempts"),
            uint,
            "a whole number",
        )?;
        check(
            "max_tip_percent",
            obj.get("max_tip_percent"),
            uint,
            "a whole number",
        )?;
        check(
            "host_key_sha256",
            obj.get("host_key_sha256"),
            string,
            "a string",
        )?;
        check("seal_key", obj.get("seal_key"), string, "a string")?;
        check(
            "encrypt_tracks",
            obj.get("encrypt_tracks"),
            |x| x.is_boolean(),
            "true or false",
        )?;
        check(
            "pin_required",
            obj.get("pin_required"),
            strings,
            "a list of transaction kinds",
        )?;
        check(
            "pin_bypass_allowed",
            obj.get("pin_bypass_allowed"),
            strings,
            "a list of transaction kinds",
        )?;
        check(
            "timeouts_ms",
            obj.get("timeouts_ms"),
            |x| x.is_object(),
            "an object",
        )?;
        if let Some(t) = obj.get("timeouts_ms").and_then(V::as_object) {
            for k in ["connect", "response"] {
                match t.get(k) {
                    Some(x) if uint(x) => {}
                    _ => {
                        return Err(Error::invalid(
                            format!("timeouts_ms.{k}"),
                            "required whole number of ms",
                        ))
                    }
                }
            }
        }
        check("device", obj.get("device"), |x| x.is_object(), "an object")?;
        if let Some(d) = obj.get("device").and_then(V::as_object) {
            check(
                "device.serial",
                d.get("serial").or(Some(&V::Bool(false))),
                string,
                "a string",
            )?;
            check("device.model", d.get("model"), string, "a string")?;
        }
        let config: Config = serde_json::from_value(v.clone()).map_err(|e| {
            let msg = e.to_string();
            // serde names the offending key between backticks for unknown/missing fields.
            let field = obj
                .keys()
                .find(|k| msg.contains(&format!("`{k}`")))
                .cloned()
                .unwrap_or_else(|| "config".to_string());
            Error::invalid(field, msg)
        })?;
        config.validate()?;
        Ok(config)
    }
}

impl Terminal {
    pub fn new(config: Config, hal: Hal) -> Result<Terminal> {
        Self::open(config, hal, None)
    }

    pub fn with_security(
        config: Config,
        hal: Hal,
        security: Box<dyn crate::security::SecurityModule>,
    ) -> Result<Terminal> {
        Self::open(config, hal, Some(security))
    }

    fn open(
        config: Config,
        hal: Hal,
        security: Option<Box<dyn crate::security::SecurityModule>>,
    ) -> Result<Terminal> {
        config.validate()?;
        let serial = match &hal.device {
            Some(d) => d.serial_number(),
            None => config
                .device
                .as_ref()
                .map(|d| d.serial.clone())
                .unwrap_or_default(),
        };
        if serial.is_empty() {
            return Err(Error::invalid(
                "device.serial",
                "device serial number required (config or DeviceInfo)",
            ));
        }
        let seal: Zeroizing<[u8; 32]> = match &config.seal_key {
            Some(h) => {
                let bytes = Zeroizing::new(
                    hex::decode(h)
                        .map_err(|_| Error::invalid("seal_key", "must be 64 hex digits"))?,
                );
                let mut k = Zeroizing::new([0u8; 32]);
                k.copy_from_slice(&bytes);
                k
            }
            None => {
                log::warn!("no seal_key configured: deriving one from TID and serial number (obfuscation only)");
                let mut data = b"possdk-seal".to_vec();
                data.extend_from_slice(config.tid.as_bytes());
                data.extend_from_slice(serial.as_bytes());
                Zeroizing::new(crate::crypto::sha256(&data))
            }
        };
        let journal = Journal::open(Path::new(&config.journal_path), &seal)?;
        let security = match security {
            Some(s) => s,
            None => Box::new(SoftwareSecurityModule::open(
                Some(PathBuf::from(format!("{}.keys", config.journal_path))),
                &seal,
            )?),
        };
        let endpoint = |ep: &EndpointConfig| Endpoint {
            address: ep.address.clone(),
            connect_timeout: Duration::from_millis(config.timeouts_ms.connect),
            response_timeout: Duration::from_millis(config.timeouts_ms.response),
        };
        let gateway = Route {
            endpoint: endpoint(&config.gateway),
            tpdu: parse_tpdu("gateway.tpdu", &config.gateway.tpdu)?,
        };
        let platform = Route {
            endpoint: endpoint(&config.platform),
            tpdu: parse_tpdu("platform.tpdu", &config.platform.tpdu)?,
        };
        let cancel = CancelToken::new();
        let Hal {
            card_reader,
            pin_pad,
            qr_scanner,
            device: _,
            events,
            clock,
            transport,
        } = hal;
        let mut engine = Engine {
            cfg: config,
            card_reader,
            pin_pad,
            qr_scanner,
            events,
            clock: clock.unwrap_or_else(|| Box::new(SystemClock::default())),
            transport: transport.unwrap_or_else(|| Box::new(TcpTransport::default())),
            security,
            journal,
            cancel: cancel.clone(),
            gateway,
            platform,
            serial,
        };
        engine.restore_parameters();
        let orphans = engine.journal.fail_orphans()?;
        if orphans > 0 {
            log::warn!(
                "{orphans} interrupted inquiry row(s) left pending by a crash: marked failed"
            );
        }
        if let Some(rev) = engine
            .journal
            .pending_reversals()
            .ok()
            .and_then(|v| v.into_iter().next())
        {
            log::warn!(
                "journal holds a pending reversal of {:06}: it goes before the next transaction",
                rev.stan
            );
        }
        Ok(Terminal {
            inner: Mutex::new(engine),
            cancel,
        })
    }

    fn run<T>(&self, f: impl FnOnce(&mut Engine) -> Result<T>) -> Result<T> {
        let mut engine = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.cancel.reset();
        f(&mut engine)
    }

    /// `run` for a financial operation: an error from before the request was journalled (signed out, an
    /// original that does not apply, ...) says `not_sent`.
    fn run_tx(
        &self,
        f: impl FnOnce(&mut Engine) -> Result<TransactionResult>,
    ) -> Result<TransactionResult> {
        self.run(f)
            .map_err(|e| e.or_outcome(crate::Outcome::NotSent))
    }

    /// Stop a waiting operation (card, PIN, QR or host). If the request was already sent, it is reversed.
    pub fn cancel(&self) {
        self.cancel.cancel()
    }

    /// Run a typed request; the result as JSON (JSON-API.md shapes).
    pub fn execute(&self, request: Request) -> Result<serde_json::Value> {
        fn json<T: serde::Serialize>(v: T) -> Result<serde_json::Value> {
            serde_json::to_value(v).map_err(|e| Error::internal(e.to_string()))
        }
        match request {
            Request::Activate { device_token } => json(self.activate(&device_token)?),
            Request::DownloadMasterKey => json(self.download_master_key()?),
            Request::SignIn => json(self.sign_in()?),
            Request::DownloadCapks => json(self.download_capks()?),
            Request::DownloadAids => json(self.download_aids()?),
            Request::Sale { amount, payment } => json(self.sale(amount, payment)?),
            Request::Preauth { amount, payment } => json(self.preauth(amount, payment)?),
            Request::Void { stan, card } => json(self.void(stan, card)?),
            Request::Refund {
                amount,
                original,
                card,
            } => json(self.refund(amount, original, card)?),
            Request::PreauthVoid {
                amount,
                original,
                card,
            } => json(self.preauth_void(amount, original, card)?),
            Request::PreauthComplete {
                amount,
                original,
                card,
            } => json(self.preauth_complete(amount, original, card)?),
            Request::PreauthCompleteVoid { stan, card } => {
                json(self.preauth_complete_void(stan, card)?)
            }
            Request::Tip { stan, tip } => json(self.tip(stan, tip)?),
            Request::TipVoid { stan } => json(self.tip_void(stan)?),
            Request::Balance { card } => json(self.balance(card)?),
            Request::QueryDetails { batch } => json(self.query_details(batch)?),
            Request::Settle => json(self.settle()?),
            Request::Journal { batch } => json(self.journal(batch)?),
            Request::Reprint { stan, batch } => json(self.reprint(stan, batch)?),
            Request::Status => json(self.status()?),
        }
    }

    pub fn activate(&self, device_token: &str) -> Result<ActivationResult> {
        self.run(|e| e.activate(device_token))
    }
    pub fn download_master_key(&self) -> Result<MasterKeyResult> {
        self.run(|e| e.download_master_key())
    }
    pub fn sign_in(&self) -> Result<SignInResult> {
        self.run(|e| e.sign_in())
    }
    pub fn download_capks(&self) -> Result<DownloadResult> {
        self.run(|e| e.download_capks())
    }
    pub fn download_aids(&self) -> Result<DownloadResult> {
        self.run(|e| e.download_aids())
    }
    pub fn sale(&self, amount: u64, payment: Payment) -> Result<TransactionResult> {
        self.pay(Kind::Sale, Kind::QrSale, amount, payment)
    }
    pub fn preauth(&self, amount: u64, payment: Payment) -> Result<TransactionResult> {
        self.pay(Kind::Preauth, Kind::QrPreauth, amount, payment)
    }
    pub fn void(&self, stan: u32, card: Option<CardInput>) -> Result<TransactionResult> {
        self.run_tx(|e| {
            e.ensure_signed_in()?;
            let kind = e.kind_for_original(stan, Kind::Void, Kind::QrVoid)?;
            e.transact(
                kind,
                TxInput {
                    original_stan: Some(stan),
                    card,
                    ..Default::default()
                },
            )
        })
    }
    pub fn refund(
        &self,
        amount: u64,
        original: OriginalRef,
        card: Option<CardInput>,
    ) -> Result<TransactionResult> {
        self.by_reference(Kind::Refund, Kind::QrRefund, amount, original, card)
    }
    pub fn preauth_void(
        &self,
        amount: u64,
        original: OriginalRef,
        card: Option<CardInput>,
    ) -> Result<TransactionResult> {
        self.by_reference(
            Kind::PreauthVoid,
            Kind::QrPreauthVoid,
            amount,
            original,
            card,
        )
    }
    pub fn preauth_complete(
        &self,
        amount: u64,
        original: OriginalRef,
        card: Option<CardInput>,
    ) -> Result<TransactionResult> {
        self.by_reference(
            Kind::PreauthComplete,
            Kind::QrComplete,
            amount,
            original,
            card,
        )
    }

    /// A new payment (sale, pre-authorisation) by card or by QR payment code.
    fn pay(
        &self,
        card_kind: Kind,
        qr_kind: Kind,
        amount: u64,
        payment: Payment,
    ) -> Result<TransactionResult> {
        let (kind, input) = match payment {
            Payment::Card(card) => (
                card_kind,
                TxInput {
                    card,
                    ..Default::default()
                },
            ),
            Payment::Qr(qr_code) => (
                qr_kind,
                TxInput {
                    qr_code,
                    ..Default::default()
                },
            ),
        };
        let input = TxInput {
            amount: Some(amount),
            ..input
        };
        self.run_tx(|e| e.transact(kind, input))
    }

    /// A transaction on an original named by reference (refund, pre-auth void, completion): the QR
    /// kind when the original is a QR voucher, else the card kind.
    fn by_reference(
        &self,
        card_kind: Kind,
        qr_kind: Kind,
        amount: u64,
        original: OriginalRef,
        card: Option<CardInput>,
    ) -> Result<TransactionResult> {
        let kind = if original.voucher.is_some() {
            qr_kind
        } else {
            card_kind
        };
        self.run_tx(|e| {
            e.transact(
                kind,
                TxInput {
                    amount: Some(amount),
                    original_ref: Some(original),
                    card,
                    ..Default::default()
                },
            )
        })
    }
    pub fn preauth_complete_void(
        &self,
        stan: u32,
        card: Option<CardInput>,
    ) -> Result<TransactionResult> {
        self.run_tx(|e| {
            e.ensure_signed_in()?;
            let kind =
                e.kind_for_original(stan, Kind::PreauthCompleteVoid, Kind::QrCompleteVoid)?;
            e.transact(
                kind,
                TxInput {
                    original_stan: Some(stan),
                    card,
                    ..Default::default()
                },
            )
        })
    }
    pub fn tip(&self, stan: u32, tip: u64) -> Result<TransactionResult> {
        self.run_tx(|e| {
            e.transact(
                Kind::Tip,
                TxInput {
                    original_stan: Some(stan),
                    tip: Some(tip),
                    ..Default::default()
                },
            )
        })
    }
    pub fn tip_void(&self, stan: u32) -> Result<TransactionResult> {
        self.run_tx(|e| {
            e.transact(
                Kind::TipVoid,
                TxInput {
                    original_stan: Some(stan),
                    ..Default::default()
                },
            )
        })
    }
    pub fn balance(&self, card: Option<CardInput>) -> Result<TransactionResult> {
        self.run_tx(|e| {
            e.transact(
                Kind::Balance,
                TxInput {
                    card,
                    ..Default::default()
                },
            )
        })
    }
    pub fn query_details(&self, batch: Option<u32>) -> Result<DetailQueryResult> {
        self.run(|e| e.query_details(batch))
    }
    pub fn settle(&self) -> Result<SettlementResult> {
        self.run(|e| e.settle())
    }
    pub fn journal(&self, batch: Option<u32>) -> Result<JournalResult> {
        self.run(|e| {
            let batch = match batch {
                Some(b) if b == 0 || b > 999_999 => {
                    return Err(Error::invalid("batch", "batch must be 1 to 999999"))
                }
                Some(b) => b,
                None => e.journal.batch()?,
            };
            Ok(JournalResult {
                batch,
                records: e.journal.list(batch)?,
            })
        })
    }
    /// A journal transaction's result and receipt again, marked as a reprint.
    pub fn reprint(&self, stan: u32, batch: Option<u32>) -> Result<TransactionResult> {
        self.run(|e| e.reprint(stan, batch))
    }
    pub fn status(&self) -> Result<StatusResult> {
        self.run(|e| {
            let pending_reversal =
                e.journal
                    .pending_reversals()?
                    .into_iter()
                    .next()
                    .map(|r| PendingReversalInfo {
                        stan: r.stan,
                        reason: r.reason.clone(),
                        attempts: r.attempts,
                        flagged: r.flagged,
                    });
            Ok(StatusResult {
                activated: e.is_activated()?,
                master_key_loaded: e.security.has_key(KeySlot::Tmk),
                signed_in: e.is_signed_in()?,
                batch: e.journal.batch()?,
                next_stan: e.journal.peek_stan()?,
                pending_reversal,
                unsent_advices: e.journal.pending_advices()?.len() as u32,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::json!({
            "tid": "12345678", "mid": "123456789012345",
            "gateway": {"address": "127.0.0.1:7001", "tpdu": "6000030000"},
            "platform": {"address": "127.0.0.1:7001", "tpdu": "6000050000"},
            "journal_path": "/tmp/j.db"
        })
    }

    fn field_of(v: serde_json::Value) -> Option<String> {
        Config::from_json(&v.to_string()).unwrap_err().field
    }

    #[test]
    fn config_defaults_and_field_named_errors() {
        let c = Config::from_json(&base().to_string()).unwrap();
        assert_eq!(
            c.timeouts_ms,
            Timeouts {
                connect: 10_000,
                response: 30_000
            }
        );
        assert_eq!((c.reversal_attempts, c.max_tip_percent), (3, 20));
        assert_eq!(
            Config::from_json("{").unwrap_err().kind,
            ErrorKind::InvalidJson
        );
        let mut v = base();
        v.as_object_mut().unwrap().remove("tid");
        assert_eq!(field_of(v).as_deref(), Some("tid"));
        let mut v = base();
        v["tid"] = "123".into();
        assert_eq!(field_of(v).as_deref(), Some("tid"));
        let mut v = base();
        v["gateway"]["tpdu"] = "60000300".into();
        assert_eq!(field_of(v).as_deref(), Some("gateway.tpdu"));
        let mut v = base();
        v["platform"]["address"] = "nowhere".into();
        assert_eq!(field_of(v).as_deref(), Some("platform.address"));
        let mut v = base();
        v["seal_key"] = "abc".into();
        assert_eq!(field_of(v).as_deref(), Some("seal_key"));
        let mut v = base();
        v["host_key_sha256"] = "zz".into();
        assert_eq!(field_of(v).as_deref(), Some("host_key_sha256"));
        let mut v = base();
        v["pin_required"] = serde_json::json!(["sale", "teleport"]);
        assert_eq!(field_of(v).as_deref(), Some("pin_required"));
        let mut v = base();
        v["reversal_attempts"] = 0.into();
        assert_eq!(field_of(v).as_deref(), Some("reversal_attempts"));
        let mut v = base();
        v["max_tip_percent"] = "ten".into();
        assert_eq!(field_of(v).as_deref(), Some("max_tip_percent"));
    }
}

//! Terminal configuration (docs/JSON-API.md "Config"): parsed and checked once, every error naming the
//! field. The domain reads it; nothing here knows about flows or the facade.

use crate::error::{Error, ErrorKind, Result};
use crate::flows::kinds;
use crate::iso8583::Tpdu;
pub use crate::transport::tls::TlsConfig;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EndpointConfig {
    /// `host:port`
    pub address: String,
    /// 10 hex digits, e.g. `6000030000`.
    pub tpdu: String,
    /// TLS instead of plain TCP (docs/PROTOCOL.md §10).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
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

/// `"journal"`: how much history the local journal keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub struct JournalConfig {
    /// After a settlement closes a batch, keep the rows of the last N settled batches (plus the open one,
    /// and anything still owed to the host); older rows are deleted. None: keep everything.
    #[serde(default)]
    pub retain_batches: Option<u32>,
}

/// `"receipt"`: how sales slips are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub struct ReceiptConfig {
    /// `"zh-CN"` (bilingual Chinese, the default for the CUP profile) or `"en"`.
    #[serde(default)]
    pub locale: crate::slip::Locale,
}

/// `"signature"`: when the electronic signature is asked (docs/PROTOCOL.md §8.8).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct SignatureConfig {
    /// The transaction kinds (flow names) whose approval asks the signature pad; None: sales and offline
    /// sales.
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
}

impl SignatureConfig {
    pub fn asks(&self, kind: &str) -> bool {
        match &self.kinds {
            Some(list) => list.iter().any(|k| k == kind),
            None => matches!(kind, "sale" | "offline_sale"),
        }
    }
}

/// `"qr"`: QR status polling (docs/PROTOCOL.md §4.10, §4.11) and what the host allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct QrConfig {
    /// Pause between two status queries (default 2,000 ms).
    #[serde(default = "default_qr_poll_interval")]
    pub poll_interval_ms: u64,
    /// A merchant-presented order not final after this long is closed (default 120,000 ms).
    #[serde(default = "default_qr_order_timeout")]
    pub order_timeout_ms: u64,
    /// Status queries while the customer is still paying, before a customer-presented QR payment whose
    /// outcome is unknown is reversed (default 30).
    #[serde(default = "default_qr_paying_polls")]
    pub paying_polls: u32,
    /// Status queries in a row without an answer that counts before the reversal is sent (default 3).
    #[serde(default = "default_qr_query_attempts")]
    pub query_attempts: u32,
    /// The host refunds a QR payment named by its reference number alone, without its voucher.
    #[serde(default)]
    pub refund_by_reference: bool,
}

impl Default for QrConfig {
    fn default() -> QrConfig {
        QrConfig {
            poll_interval_ms: default_qr_poll_interval(),
            order_timeout_ms: default_qr_order_timeout(),
            paying_polls: default_qr_paying_polls(),
            query_attempts: default_qr_query_attempts(),
            refund_by_reference: false,
        }
    }
}

fn default_qr_poll_interval() -> u64 {
    2_000
}
fn default_qr_order_timeout() -> u64 {
    120_000
}
fn default_qr_paying_polls() -> u32 {
    30
}
fn default_qr_query_attempts() -> u32 {
    3
}

/// Terminal configuration (JSON-API.md "Config"). Its Debug form never shows the seal key.
#[derive(Clone, PartialEq, Eq, Deserialize)]
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
    /// Hex SHA-256 of the host key to accept: SHA-256(modulus || exponent) of an RSA key (TDES family), of the
    /// 65-byte point of an SM2 key (SM family).
    #[serde(default)]
    pub host_key_sha256: Option<String>,
    /// The key family the terminal is provisioned with: `tdes` (default) or `sm` (docs/PROTOCOL.md §11).
    #[serde(default)]
    pub key_family: crate::crypto::KeyFamily,
    /// Device info used when no DeviceInfo callback is given.
    #[serde(default)]
    pub device: Option<DeviceConfig>,
    /// 64 hex digits: the platform key that seals keys and PANs at rest (Android Keystore, SE...).
    /// Absent: derived from TID + serial (obfuscation only; a warning is logged).
    #[serde(default)]
    pub seal_key: Option<String>,
    /// A production terminal: `seal_key` is then required, since the derived fallback above is only obfuscation
    /// and stays for simulators and tests (default false).
    #[serde(default)]
    pub production: bool,
    /// Encrypt tracks under the TDK (53 third digit 1).
    #[serde(default)]
    pub encrypt_tracks: bool,
    /// Transaction kinds (flow names) that ask for a PIN; None: the defaults.
    #[serde(default)]
    pub pin_required: Option<Vec<String>>,
    /// Transaction kinds whose PIN may be bypassed.
    #[serde(default)]
    pub pin_bypass_allowed: Option<Vec<String>>,
    /// Journal retention.
    #[serde(default)]
    pub journal: JournalConfig,
    /// The acquirer profile (docs/PROFILES.md): a built-in name, a file path or an inline object;
    /// absent: `cup`. Loaded and validated by `validate` and when the terminal opens.
    #[serde(default)]
    pub profile: Option<serde_json::Value>,
    /// Highest amount (fen) a chip card may approve offline (Y1); 0, the default: never offline
    /// (docs/PROTOCOL.md §8.7).
    #[serde(default)]
    pub floor_limit: u64,
    /// Sales slips: language.
    #[serde(default)]
    pub receipt: ReceiptConfig,
    /// The electronic signature: which approvals ask for it.
    #[serde(default)]
    pub signature: SignatureConfig,
    /// QR status polling.
    #[serde(default)]
    pub qr: QrConfig,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("tid", &self.tid)
            .field("mid", &self.mid)
            .field("gateway", &self.gateway)
            .field("platform", &self.platform)
            .field("journal_path", &self.journal_path)
            .field("timeouts_ms", &self.timeouts_ms)
            .field("reversal_attempts", &self.reversal_attempts)
            .field("max_tip_percent", &self.max_tip_percent)
            .field("host_key_sha256", &self.host_key_sha256)
            .field("key_family", &self.key_family)
            .field("device", &self.device)
            .field("seal_key", &self.seal_key.as_ref().map(|_| "<hidden>"))
            .field("production", &self.production)
            .field("encrypt_tracks", &self.encrypt_tracks)
            .field("pin_required", &self.pin_required)
            .field("pin_bypass_allowed", &self.pin_bypass_allowed)
            .field("journal", &self.journal)
            .field("profile", &self.profile.as_ref().map(profile_label))
            .field("floor_limit", &self.floor_limit)
            .field("receipt", &self.receipt)
            .field("signature", &self.signature)
            .field("qr", &self.qr)
            .finish()
    }
}

/// How Debug names a profile value (an inline object only by its name).
fn profile_label(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => format!(
            "inline {}",
            other.get("name").and_then(|n| n.as_str()).unwrap_or("?")
        ),
    }
}

/// Batch numbers are six digits: more batches than that cannot be told apart.
const MAX_RETAIN_BATCHES: u64 = 999_999;

fn default_reversal_attempts() -> u32 {
    3
}
fn default_max_tip() -> u32 {
    20
}

pub(crate) fn parse_tpdu(field: &str, hex_text: &str) -> Result<Tpdu> {
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
            if let Some(tls) = &ep.tls {
                crate::transport::tls::settings(name, &ep.address, tls)?;
            }
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
        if self
            .journal
            .retain_batches
            .is_some_and(|n| u64::from(n) > MAX_RETAIN_BATCHES)
        {
            return Err(Error::invalid(
                "journal.retain_batches",
                "must be a whole number of batches from 0 to 999999",
            ));
        }
        if !(1..=600_000).contains(&self.qr.poll_interval_ms) {
            return Err(Error::invalid("qr.poll_interval_ms", "must be 1 to 600000"));
        }
        if !(1..=3_600_000).contains(&self.qr.order_timeout_ms) {
            return Err(Error::invalid(
                "qr.order_timeout_ms",
                "must be 1 to 3600000",
            ));
        }
        if !(1..=1_000).contains(&self.qr.paying_polls) {
            return Err(Error::invalid("qr.paying_polls", "must be 1 to 1000"));
        }
        if !(1..=10).contains(&self.qr.query_attempts) {
            return Err(Error::invalid("qr.query_attempts", "must be 1 to 10"));
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
        match &self.profile {
            None | Some(serde_json::Value::String(_)) | Some(serde_json::Value::Object(_)) => {}
            Some(_) => {
                return Err(Error::invalid(
                    "profile",
                    "must be a built-in name, a file path or an object",
                ))
            }
        }
        for (name, list) in [
            ("pin_required", &self.pin_required),
            ("pin_bypass_allowed", &self.pin_bypass_allowed),
            ("signature.kinds", &self.signature.kinds),
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
            "key_family",
            obj.get("key_family"),
            |x| {
                x.as_str()
                    .and_then(crate::crypto::KeyFamily::from_name)
                    .is_some()
            },
            "\"tdes\" or \"sm\"",
        )?;
        check(
            "production",
            obj.get("production"),
            |x| x.is_boolean(),
            "true or false",
        )?;
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
            "floor_limit",
            obj.get("floor_limit"),
            uint,
            "a whole number of fen",
        )?;
        check(
            "signature",
            obj.get("signature"),
            |x| x.is_object(),
            "an object",
        )?;
        if let Some(r) = obj.get("signature").and_then(V::as_object) {
            check(
                "signature.kinds",
                r.get("kinds"),
                strings,
                "a list of transaction kinds",
            )?;
            if let Some(k) = r.keys().find(|k| k.as_str() != "kinds") {
                return Err(Error::invalid(format!("signature.{k}"), "unknown key"));
            }
        }
        check(
            "receipt",
            obj.get("receipt"),
            |x| x.is_object(),
            "an object",
        )?;
        if let Some(r) = obj.get("receipt").and_then(V::as_object) {
            check(
                "receipt.locale",
                r.get("locale"),
                |x| matches!(x.as_str(), Some("zh-CN" | "en")),
                "\"zh-CN\" or \"en\"",
            )?;
            if let Some(k) = r.keys().find(|k| k.as_str() != "locale") {
                return Err(Error::invalid(format!("receipt.{k}"), "unknown key"));
            }
        }
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
        // The shape of each endpoint's `tls` object. A build without TLS refuses the object whole in `validate`
        // and leaves these checks out (they would only cost library size).
        #[cfg(feature = "tls")]
        for ep in ["gateway", "platform"] {
            let tls = obj[ep].get("tls");
            check(&format!("{ep}.tls"), tls, |x| x.is_object(), "an object")?;
            if let Some(t) = tls.and_then(V::as_object) {
                if let Some(unknown) = t
                    .keys()
                    .find(|k| !["server_name", "ca_pem", "pin_spki_sha256"].contains(&k.as_str()))
                {
                    return Err(Error::invalid(
                        format!("{ep}.tls.{unknown}"),
                        "unknown key (server_name, ca_pem, pin_spki_sha256)",
                    ));
                }
                for (k, ok, what) in [
                    ("server_name", string as fn(&V) -> bool, "a string"),
                    ("ca_pem", string, "a string of PEM certificates"),
                    ("pin_spki_sha256", strings, "a list of 64-hex-digit pins"),
                ] {
                    check(&format!("{ep}.tls.{k}"), t.get(k), ok, what)?;
                }
            }
        }
        check(
            "journal",
            obj.get("journal"),
            |x| x.is_object(),
            "an object",
        )?;
        if let Some(j) = obj.get("journal").and_then(V::as_object) {
            check(
                "journal.retain_batches",
                j.get("retain_batches"),
                |x| x.as_u64().is_some_and(|n| n <= MAX_RETAIN_BATCHES),
                "a whole number of batches from 0 to 999999",
            )?;
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
    fn journal_retention_is_optional_and_checked() {
        let c = Config::from_json(&base().to_string()).unwrap();
        assert_eq!(c.journal.retain_batches, None);
        let mut v = base();
        v["journal"] = serde_json::json!({"retain_batches": 3});
        let c = Config::from_json(&v.to_string()).unwrap();
        assert_eq!(c.journal.retain_batches, Some(3));
        for bad in [
            serde_json::json!({"retain_batches": -1}),
            serde_json::json!({"retain_batches": "3"}),
            serde_json::json!({"retain_batches": 1.5}),
            serde_json::json!({"retain_batches": 5_000_000_000u64}),
        ] {
            let mut v = base();
            v["journal"] = bad;
            assert_eq!(field_of(v).as_deref(), Some("journal.retain_batches"));
        }
        let mut v = base();
        v["journal"] = serde_json::json!(3);
        assert_eq!(field_of(v).as_deref(), Some("journal"));
        let mut c = Config::from_json(&base().to_string()).unwrap();
        c.journal.retain_batches = Some(1_000_000);
        assert_eq!(
            c.validate().unwrap_err().field.as_deref(),
            Some("journal.retain_batches")
        );
    }

    #[test]
    fn debug_hides_the_seal_key() {
        let mut v = base();
        v["seal_key"] = "8f3a51c2d4e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80".into();
        let shown = format!("{:?}", Config::from_json(&v.to_string()).unwrap());
        assert!(shown.contains("seal_key: Some(\"<hidden>\")"), "{shown}");
        assert!(!shown.contains("8f3a51c2"), "{shown}");
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
        v["key_family"] = "SM4".into();
        assert_eq!(field_of(v).as_deref(), Some("key_family"));
        let mut v = base();
        v["key_family"] = "sm".into();
        assert_eq!(
            Config::from_json(&v.to_string()).unwrap().key_family,
            crate::crypto::KeyFamily::Sm
        );
        assert_eq!(
            Config::from_json(&base().to_string()).unwrap().key_family,
            crate::crypto::KeyFamily::Tdes
        );
        let mut v = base();
        v["pin_required"] = serde_json::json!(["sale", "teleport"]);
        assert_eq!(field_of(v).as_deref(), Some("pin_required"));
        let mut v = base();
        v["reversal_attempts"] = 0.into();
        assert_eq!(field_of(v).as_deref(), Some("reversal_attempts"));
        let mut v = base();
        v["max_tip_percent"] = "ten".into();
        assert_eq!(field_of(v).as_deref(), Some("max_tip_percent"));
        let mut v = base();
        v["production"] = "yes".into();
        assert_eq!(field_of(v).as_deref(), Some("production"));
        assert!(!Config::from_json(&base().to_string()).unwrap().production);
    }
}

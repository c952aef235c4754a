//! The facade: config + HAL + security module + journal -> one method per operation.
//! OWNER: engine helper (Config is shared with the bridges: change with care).

use crate::api::*;
use crate::error::Result;
use crate::hal::Hal;
use serde::Deserialize;

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
    _private: (),
}

impl Terminal {
    pub fn new(config: Config, hal: Hal) -> Result<Terminal> {
        todo!()
    }
    pub fn with_security(
        config: Config,
        hal: Hal,
        security: Box<dyn crate::security::SecurityModule>,
    ) -> Result<Terminal> {
        todo!()
    }
    /// Stop a waiting operation (card, PIN, QR or host). If the request was already sent, it is reversed.
    pub fn cancel(&self) {
        todo!()
    }
    pub fn execute(&self, request: Request) -> Result<serde_json::Value> {
        todo!()
    }
    pub fn activate(&self, device_token: &str) -> Result<ActivationResult> {
        todo!()
    }
    pub fn download_master_key(&self) -> Result<MasterKeyResult> {
        todo!()
    }
    pub fn sign_in(&self) -> Result<SignInResult> {
        todo!()
    }
    pub fn download_capks(&self) -> Result<DownloadResult> {
        todo!()
    }
    pub fn download_aids(&self) -> Result<DownloadResult> {
        todo!()
    }
    pub fn sale(&self, amount: u64, payment: Payment) -> Result<TransactionResult> {
        todo!()
    }
    pub fn preauth(&self, amount: u64, payment: Payment) -> Result<TransactionResult> {
        todo!()
    }
    pub fn void(&self, stan: u32, card: Option<CardInput>) -> Result<TransactionResult> {
        todo!()
    }
    pub fn refund(
        &self,
        amount: u64,
        original: OriginalRef,
        card: Option<CardInput>,
    ) -> Result<TransactionResult> {
        todo!()
    }
    pub fn preauth_void(
        &self,
        amount: u64,
        original: OriginalRef,
        card: Option<CardInput>,
    ) -> Result<TransactionResult> {
        todo!()
    }
    pub fn preauth_complete(
        &self,
        amount: u64,
        original: OriginalRef,
        card: Option<CardInput>,
    ) -> Result<TransactionResult> {
        todo!()
    }
    pub fn preauth_complete_void(
        &self,
        stan: u32,
        card: Option<CardInput>,
    ) -> Result<TransactionResult> {
        todo!()
    }
    pub fn tip(&self, stan: u32, tip: u64) -> Result<TransactionResult> {
        todo!()
    }
    pub fn tip_void(&self, stan: u32) -> Result<TransactionResult> {
        todo!()
    }
    pub fn balance(&self, card: Option<CardInput>) -> Result<TransactionResult> {
        todo!()
    }
    pub fn query_details(&self, batch: Option<u32>) -> Result<DetailQueryResult> {
        todo!()
    }
    pub fn settle(&self) -> Result<SettlementResult> {
        todo!()
    }
    pub fn journal(&self, batch: Option<u32>) -> Result<JournalResult> {
        todo!()
    }
    pub fn status(&self) -> Result<StatusResult> {
        todo!()
    }
}

impl Config {
    /// Parse and validate a JSON config (errors name the field: `tid`, `gateway.tpdu`, ...).
    pub fn from_json(json: &str) -> Result<Config> {
        todo!()
    }
}

//! Shared helpers for the end-to-end tests, demo and benchmark: an in-process `possdk-host` on an
//! ephemeral port with its own temp directory, terminals configured against it, test cards
//! (docs/PROTOCOL.md §12).

use possdk_core::api::CardInput;
use possdk_core::hal::{EntryMode, Hal};
use possdk_core::{Config, Terminal};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use zeroize::Zeroizing;

pub const TID: &str = "12345678";
pub const MID: &str = "123456789012345";
pub const SERIAL: &str = "SN0001";
pub const TOKEN: &str = "TOKEN0001";

/// Test cards of docs/PROTOCOL.md §12: (PAN, PIN, expiry YYMM, service code).
pub const CARD_OK: (&str, &str, &str, &str) = ("6225880123456789", "123456", "3012", "101");
pub const CARD_LITTLE: (&str, &str, &str, &str) = ("6225881111111111", "111111", "3012", "101");
pub const CARD_EXPIRED: (&str, &str, &str, &str) = ("6225882222222222", "222222", "2001", "101");
pub const CARD_LOST: (&str, &str, &str, &str) = ("6225883333333333", "333333", "3012", "101");
pub const CARD_CHIP: (&str, &str, &str, &str) = ("6225884444444444", "444444", "3012", "201");
pub const CARD_VISA: (&str, &str, &str, &str) = ("4761340000000019", "1234", "3012", "201");
/// QR payment codes: 18 digits starting 13/28 approve; ending 0051 declines 51.
pub const QR_OK: &str = "134567890123456789";
pub const QR_OK2: &str = "284567890123456789";
pub const QR_NO_FUNDS: &str = "134567890123450051";

/// A fresh, empty temp directory.
pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let d = std::env::temp_dir().join(format!(
        "possdk-e2e-{name}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A swiped test card with its PIN (inline data: no card reader needed).
pub fn swipe(card: (&str, &str, &str, &str)) -> CardInput {
    swipe_with_pin(card, Some(card.1))
}

pub fn swipe_with_pin(card: (&str, &str, &str, &str), pin: Option<&str>) -> CardInput {
    let (pan, _, expiry, service) = card;
    CardInput {
        entry: Some(EntryMode::Swipe),
        track2: Some(Zeroizing::new(format!("{pan}D{expiry}{service}0000000000"))),
        pin: pin.map(|p| Zeroizing::new(p.to_string())),
        ..Default::default()
    }
}

/// The acquirer simulator, in process, on an ephemeral port.
pub struct TestHost {
    pub host: possdk_host::Host,
    pub dir: PathBuf,
}

impl TestHost {
    pub fn start(name: &str) -> TestHost {
        let dir = temp_dir(name);
        let host = possdk_host::Host::start(possdk_host::HostConfig {
            listen: "127.0.0.1:0".into(),
            db: dir.join("host.db"),
            provision: None,
            fixed_keys: false,
            wire_log: None,
        })
        .expect("host starts");
        TestHost { host, dir }
    }

    pub fn addr(&self) -> String {
        self.host.addr().to_string()
    }

    /// One admin command (`{"cmd": ...}`), its JSON answer.
    pub fn admin(&self, command: serde_json::Value) -> serde_json::Value {
        let mut client = possdk_host::admin::AdminClient::connect(self.host.admin_addr())
            .expect("admin connect");
        client.call(command).expect("admin call")
    }

    /// Queue a fault (`no_answer`, `wrong_mac`, `unbalanced_settlement`, ...) for the next `count` requests.
    pub fn fault(&self, kind: &str, count: u32) -> serde_json::Value {
        self.admin(serde_json::json!({"cmd": "fault", "kind": kind, "count": count}))
    }

    pub fn clear_faults(&self) {
        self.admin(serde_json::json!({"cmd": "clear_faults"}));
    }

    /// The host's ledger entry for a terminal transaction.
    pub fn tx(&self, stan: u32) -> serde_json::Value {
        self.admin(serde_json::json!({"cmd": "tx", "tid": TID, "stan": stan}))
    }

    /// Cardholder balance (fen) as the host's issuer holds it.
    pub fn balance(&self, pan: &str) -> i64 {
        let v = self.admin(serde_json::json!({"cmd": "balance", "pan": pan}));
        v["balance"]
            .as_i64()
            .unwrap_or_else(|| panic!("balance answer {v}"))
    }

    /// The host's totals for the terminal's open batch.
    pub fn totals(&self) -> possdk_core::api::SettlementTotals {
        let v = self.admin(serde_json::json!({"cmd": "totals", "tid": TID}));
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("totals answer {v}: {e}"))
    }

    /// A terminal config against this host; journal in `dir`. Short timeouts keep tests fast.
    pub fn config(&self, dir: &Path, response_ms: u64) -> Config {
        let json = serde_json::json!({
            "tid": TID, "mid": MID,
            "gateway": {"address": self.addr(), "tpdu": "6000030000"},
            "platform": {"address": self.addr(), "tpdu": "6000050000"},
            "journal_path": dir.join("journal.db").to_string_lossy(),
            "timeouts_ms": {"connect": 2000, "response": response_ms},
            "reversal_attempts": 3,
            "max_tip_percent": 20,
            "device": {"serial": SERIAL, "model": "e2e"},
            "seal_key": "8f3a51c2d4e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80"
        });
        Config::from_json(&json.to_string()).expect("config")
    }

    /// A terminal (journal in `dir`) with the given devices.
    pub fn terminal(&self, dir: &Path, hal: Hal) -> Terminal {
        Terminal::new(self.config(dir, 1500), hal).expect("terminal opens")
    }

    /// Activated, master key loaded, signed in, EMV parameters loaded.
    pub fn ready(&self, dir: &Path, hal: Hal) -> Terminal {
        let t = self.terminal(dir, hal);
        initialise(&t).expect("initialisation");
        t
    }

    /// Stop the host and remove its directory.
    pub fn shutdown(self) {
        self.host.shutdown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Activation -> master key -> sign-in -> AIDs -> CAPKs.
pub fn initialise(t: &Terminal) -> possdk_core::Result<()> {
    t.activate(TOKEN)?;
    t.download_master_key()?;
    t.sign_in()?;
    t.download_aids()?;
    t.download_capks()?;
    Ok(())
}

/// Median and 99th percentile of durations in microseconds.
pub fn percentiles(samples: &mut [u128]) -> (u128, u128) {
    if samples.is_empty() {
        return (0, 0);
    }
    samples.sort_unstable();
    let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (p(0.50), p(0.99))
}

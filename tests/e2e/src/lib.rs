//! Shared helpers for the end-to-end tests, demo and benchmark: an in-process `possdk-host` on an
//! ephemeral port with its own temp directory, terminals configured against it, swiped test cards. The
//! test constants (terminal, device, cards, QR codes; docs/PROTOCOL.md §12) are `possdk_sim::fixture`'s,
//! re-exported here.

use possdk_core::api::CardInput;
use possdk_core::hal::{EntryMode, Hal};
use possdk_core::{Config, Terminal};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use zeroize::Zeroizing;

pub use possdk_sim::fixture::*;

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
/// The default transport, but once `armed` the process "dies" (panics) right after a 0200 went out: its
/// answer is never read, as when a terminal crashes mid-request.
pub struct CrashAfter0200 {
    pub inner: possdk_core::transport::TcpTransport,
    pub armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl CrashAfter0200 {
    pub fn new(armed: &std::sync::Arc<std::sync::atomic::AtomicBool>) -> Self {
        CrashAfter0200 {
            inner: Default::default(),
            armed: armed.clone(),
        }
    }
}

impl possdk_core::hal::Transport for CrashAfter0200 {
    fn exchange(
        &mut self,
        endpoint: &possdk_core::hal::Endpoint,
        frame: &[u8],
        cancel: &possdk_core::hal::CancelToken,
    ) -> Result<Vec<u8>, possdk_core::hal::TransportError> {
        let result = self.inner.exchange(endpoint, frame, cancel);
        if self.armed.load(Ordering::SeqCst) && frame.get(13..15) == Some(&[0x02, 0x00]) {
            panic!("simulated crash right after sending a 0200");
        }
        result
    }
}

pub fn swipe(card: &TestCard) -> CardInput {
    swipe_with_pin(card, Some(card.pin))
}

pub fn swipe_with_pin(card: &TestCard, pin: Option<&str>) -> CardInput {
    CardInput {
        entry: Some(EntryMode::Swipe),
        track2: Some(Zeroizing::new(format!(
            "{}D{}{}0000000000",
            card.pan, card.expiry, card.service_code
        ))),
        pin: pin.map(|p| Zeroizing::new(p.to_string())),
        ..Default::default()
    }
}

/// The acquirer simulator, in process, on an ephemeral port.
pub struct TestHost {
    pub host: possdk_host::Host,
    pub dir: PathBuf,
    /// The config's `"profile"` value for terminals of this host (None: the default, `cup`).
    pub profile: Option<serde_json::Value>,
}

impl TestHost {
    pub fn start(name: &str) -> TestHost {
        TestHost::start_with(name, None, false)
    }

    /// A host provisioned from `provision` (docs/HOST.md, written to `provision.json` in its directory;
    /// `None`: the default set), optionally logging every frame to [`TestHost::wire_log_path`].
    pub fn start_with(
        name: &str,
        provision: Option<&serde_json::Value>,
        wire_log: bool,
    ) -> TestHost {
        TestHost::start_full(name, provision, wire_log, None)
    }

    /// A host speaking an acquirer profile (docs/PROFILES.md): `profile` is the config value (a
    /// built-in name, a file path or an inline object) the host loads and its terminals are given.
    pub fn start_profile(name: &str, profile: serde_json::Value) -> TestHost {
        let loaded = possdk_core::acquirer::Profile::from_config(Some(&profile))
            .unwrap_or_else(|e| panic!("profile {profile}: {e}"));
        let mut h = TestHost::start_inner(name, None, false, None, std::sync::Arc::new(loaded));
        h.profile = Some(profile);
        h
    }

    /// A host speaking an acquirer profile with the fixture's fixed keys (`fixed_keys`: the TMK it
    /// delivers is `FIXED_TMK`), so that another gateway knowing that TMK can serve the terminal after
    /// its master-key download here (tests/e2e/tests/independent_host.rs).
    pub fn start_profile_fixed_keys(name: &str, profile: serde_json::Value) -> TestHost {
        let loaded = possdk_core::acquirer::Profile::from_config(Some(&profile))
            .unwrap_or_else(|e| panic!("profile {profile}: {e}"));
        let dir = temp_dir(name);
        let config = possdk_host::HostConfig {
            fixed_keys: true,
            ..possdk_host::HostConfig::new("127.0.0.1:0", dir.join("host.db"))
        };
        let host = possdk_host::Host::start_with_profile(config, std::sync::Arc::new(loaded))
            .expect("host starts");
        TestHost {
            host,
            dir,
            profile: Some(profile),
        }
    }

    /// A host serving TLS (docs/HOST.md `--tls`); its pin is [`TestHost::tls_pin`].
    pub fn start_tls(name: &str, tls: possdk_host::tls::TlsSetup) -> TestHost {
        TestHost::start_full(name, None, false, Some(tls))
    }

    fn start_full(
        name: &str,
        provision: Option<&serde_json::Value>,
        wire_log: bool,
        tls: Option<possdk_host::tls::TlsSetup>,
    ) -> TestHost {
        let cup = possdk_core::acquirer::Profile::cup();
        TestHost::start_inner(name, provision, wire_log, tls, cup)
    }

    fn start_inner(
        name: &str,
        provision: Option<&serde_json::Value>,
        wire_log: bool,
        tls: Option<possdk_host::tls::TlsSetup>,
        profile: std::sync::Arc<possdk_core::acquirer::Profile>,
    ) -> TestHost {
        let dir = temp_dir(name);
        let provision = provision.map(|p| {
            let path = dir.join("provision.json");
            std::fs::write(&path, p.to_string()).expect("provisioning file written");
            path
        });
        let host = possdk_host::Host::start_with_profile(
            possdk_host::HostConfig {
                listen: "127.0.0.1:0".into(),
                db: dir.join("host.db"),
                provision,
                fixed_keys: false,
                wire_log: wire_log.then(|| dir.join("wire.log")),
                tls,
            },
            profile,
        )
        .expect("host starts");
        TestHost {
            host,
            dir,
            profile: None,
        }
    }

    /// Where a host started with a wire log writes it (masked: PANs 6+4, no PINs, keys or tracks).
    pub fn wire_log_path(&self) -> PathBuf {
        self.dir.join("wire.log")
    }

    pub fn addr(&self) -> String {
        self.host.addr().to_string()
    }

    /// The hex SPKI SHA-256 of a TLS host's certificate (panics for a plain host).
    pub fn tls_pin(&self) -> String {
        self.host.tls_spki_sha256().expect("a TLS host").to_string()
    }

    /// How many requests the host has logged (a refused TLS connection adds none).
    pub fn message_count(&self) -> u64 {
        let v = self.admin(serde_json::json!({"cmd": "message_count"}));
        v["count"]
            .as_u64()
            .unwrap_or_else(|| panic!("message_count answer {v}"))
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
        Config::from_json(&self.config_json(dir, response_ms).to_string()).expect("config")
    }

    /// The same config as JSON (JSON-API.md "Config"), e.g. for a terminal in another process.
    pub fn config_json(&self, dir: &Path, response_ms: u64) -> serde_json::Value {
        let mut v = serde_json::json!({
            "tid": TID, "mid": MID,
            "gateway": {"address": self.addr(), "tpdu": "6000030000"},
            "platform": {"address": self.addr(), "tpdu": "6000050000"},
            "journal_path": dir.join("journal.db").to_string_lossy(),
            "timeouts_ms": {"connect": 2000, "response": response_ms},
            "reversal_attempts": 3,
            "max_tip_percent": 20,
            "device": {"serial": DEVICE_SN, "model": "e2e"},
            "seal_key": SEAL_KEY_HEX
        });
        if let Some(p) = &self.profile {
            v["profile"] = p.clone();
        }
        v
    }

    /// Put the test terminal in a key family on this host (`tdes` or `sm`, docs/PROTOCOL.md §11): the host then
    /// answers its activation with that DF57 and serves it the family's keys.
    pub fn set_key_family(&self, family: &str) {
        let v = self.admin(serde_json::json!({"cmd": "key_family", "tid": TID, "family": family}));
        assert_eq!(v["ok"], true, "key_family answer {v}");
    }

    /// [`TestHost::config`] in a key family (`tdes` or `sm`), tracks encrypted or not.
    pub fn config_in(&self, dir: &Path, family: &str, encrypt_tracks: bool) -> Config {
        let mut v = self.config_json(dir, 1500);
        v["key_family"] = family.into();
        v["encrypt_tracks"] = encrypt_tracks.into();
        Config::from_json(&v.to_string()).expect("config")
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
    t.activate(DEVICE_TOKEN)?;
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

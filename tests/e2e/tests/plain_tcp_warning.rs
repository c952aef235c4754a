//! docs/PROTOCOL.md §10: a production configuration that reaches a non-loopback address over plain TCP logs one
//! warning each time a terminal starts, naming the endpoints; loopback, TLS and non-production configurations
//! (in this debug build) log none. Opening a terminal connects nowhere, so no host is needed.

use possdk_core::hal::Hal;
use possdk_core::{Config, Terminal};
use possdk_e2e::*;
use serde_json::{json, Value};
use std::sync::Mutex;

static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record) {
        if record.level() == log::Level::Warn && record.target().starts_with("possdk_core") {
            WARNINGS.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

fn config(dir: &std::path::Path, gateway: &str, platform: &str, production: bool) -> Value {
    json!({
        "tid": TID, "mid": MID,
        "gateway": {"address": gateway, "tpdu": "6000030000"},
        "platform": {"address": platform, "tpdu": "6000050000"},
        "journal_path": dir.join("journal.db").to_string_lossy(),
        "device": {"serial": DEVICE_SN, "model": "e2e"},
        "seal_key": SEAL_KEY_HEX,
        "production": production
    })
}

/// The plain-TCP warnings logged while a terminal opens and closes on `config`.
fn warnings_of_a_start(config: &Value) -> Vec<String> {
    WARNINGS.lock().unwrap().clear();
    let t = Terminal::new(
        Config::from_json(&config.to_string()).expect("config"),
        Hal::default(),
    )
    .expect("terminal opens");
    drop(t);
    let w = WARNINGS.lock().unwrap();
    w.iter()
        .filter(|l| l.contains("plain TCP"))
        .cloned()
        .collect()
}

#[test]
fn plain_tcp_off_loopback_warns_once_per_start_of_a_production_terminal() {
    log::set_logger(&CAPTURE).expect("the only logger of this test binary");
    log::set_max_level(log::LevelFilter::Warn);
    let dir = temp_dir("plain-tcp-warning");

    // Production, the gateway on a public address (TEST-NET-3), the platform on loopback: one warning per
    // start, naming the gateway only.
    let exposed = config(&dir, "203.0.113.7:5000", "127.0.0.1:5001", true);
    for start in 0..2 {
        let w = warnings_of_a_start(&exposed);
        assert_eq!(w.len(), 1, "start {start}: {w:?}");
        assert!(w[0].starts_with("gateway reached over plain TCP"), "{w:?}");
        assert!(!w[0].contains("platform"), "{w:?}");
    }

    // Both endpoints exposed: still one warning, naming both.
    let both = config(&dir, "203.0.113.7:5000", "pos.acquirer.example:5001", true);
    let w = warnings_of_a_start(&both);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].starts_with("gateway and platform"), "{w:?}");

    // TLS on the exposed endpoints: no warning.
    let mut tls = both.clone();
    let pin = json!({"pin_spki_sha256": ["00".repeat(32)]});
    tls["gateway"]["tls"] = pin.clone();
    tls["platform"]["tls"] = pin;
    assert!(warnings_of_a_start(&tls).is_empty());

    // Loopback by address or by name: no warning.
    let local = config(&dir, "127.0.0.1:5000", "localhost:5001", true);
    assert!(warnings_of_a_start(&local).is_empty());

    // A simulator configuration (not production) in a debug build: no warning.
    let simulator = config(&dir, "203.0.113.7:5000", "127.0.0.1:5001", false);
    assert!(warnings_of_a_start(&simulator).is_empty());

    let _ = std::fs::remove_dir_all(&dir);
}

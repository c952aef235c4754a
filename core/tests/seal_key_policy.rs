//! The seal key policy: a production terminal refuses to start without a platform-held `seal_key`; a simulator
//! (the default) may still run on the key derived from TID and serial number.
use possdk_core::hal::Hal;
use possdk_core::{Config, ErrorKind, Terminal};
use serde_json::json;
use std::path::PathBuf;

/// A fresh directory for one case's journal and key store, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("possdk-seal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(dir: &Dir, extra: serde_json::Value) -> Config {
    let mut v = json!({
        "tid": "12345678", "mid": "123456789012345",
        "gateway": {"address": "127.0.0.1:9", "tpdu": "6000030000"},
        "platform": {"address": "127.0.0.1:9", "tpdu": "6000050000"},
        "journal_path": dir.0.join("journal.db").to_string_lossy(),
        "device": {"serial": "SN0001", "model": "test"}
    });
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    Config::from_json(&v.to_string()).expect("config")
}

const SEAL_KEY: &str = "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF";

#[test]
fn production_without_seal_key_is_refused() {
    let dir = Dir::new("refused");
    let err = Terminal::new(config(&dir, json!({"production": true})), Hal::default())
        .err()
        .expect("a production terminal without seal_key must not start");
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    assert_eq!(err.field.as_deref(), Some("seal_key"));
    assert!(err.message.contains("platform-held"), "{}", err.message);
    // Nothing was created on the way out: no journal, no key store.
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
}

#[test]
fn production_with_seal_key_starts() {
    let dir = Dir::new("production");
    let cfg = config(&dir, json!({"production": true, "seal_key": SEAL_KEY}));
    assert!(cfg.production);
    Terminal::new(cfg, Hal::default()).expect("a production terminal with a seal key starts");
}

#[test]
fn simulator_may_use_the_derived_key() {
    let dir = Dir::new("simulator");
    let cfg = config(&dir, json!({}));
    assert!(!cfg.production);
    Terminal::new(cfg, Hal::default()).expect("the default (simulator) still derives a key");
}

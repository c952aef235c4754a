//! TLS with pinning (docs/PROTOCOL.md §10) against possdk-host serving TLS: a whole day over TLS, and the
//! refusals (wrong pin, no trust configured, unrelated CA, pinned CA without chain verification, wrong server
//! name, a handshake that never finishes), each a connect failure that sent nothing and owes no reversal.
use possdk_core::api::Payment;
use possdk_core::hal::Hal;
use possdk_core::{Config, ErrorKind, Outcome, Terminal};
use possdk_e2e::*;
use possdk_host::tls::TlsSetup;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

/// A CA and a leaf for `localhost`/`127.0.0.1` signed by it, PEM, with the SPKI pins of both.
struct Chain {
    ca_pem: String,
    /// Leaf then CA: what the host serves.
    served_chain: String,
    leaf_key: String,
    ca_pin: String,
    leaf_pin: String,
}

fn pin_of(key: &rcgen::KeyPair) -> String {
    hex::encode(Sha256::digest(
        rcgen::PublicKeyData::subject_public_key_info(key),
    ))
}

fn chain(ca_name: &str) -> Chain {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, ca_name);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &rcgen::Issuer::new(ca_params, &ca_key))
            .unwrap();
    Chain {
        ca_pem: ca.pem(),
        served_chain: format!("{}{}", leaf.pem(), ca.pem()),
        leaf_key: leaf_key.serialize_pem(),
        ca_pin: pin_of(&ca_key),
        leaf_pin: pin_of(&leaf_key),
    }
}

/// A self-signed certificate (PEM) and its key, and its pin.
fn self_signed() -> (TlsSetup, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let setup = TlsSetup::Pem {
        cert_chain: cert.pem(),
        key: key.serialize_pem(),
    };
    (setup, pin_of(&key))
}

/// The host's terminal config with `tls` on both endpoints, and `gateway` moved to another address if given.
fn config_json(host: &TestHost, dir: &Path, tls: &Value, gateway: Option<&str>) -> Value {
    let mut v = host.config_json(dir, 1500);
    v["gateway"]["tls"] = tls.clone();
    v["platform"]["tls"] = tls.clone();
    if let Some(address) = gateway {
        v["gateway"]["address"] = address.into();
    }
    v
}

fn terminal(host: &TestHost, dir: &Path, tls: &Value) -> Terminal {
    let config = Config::from_json(&config_json(host, dir, tls, None).to_string()).expect("config");
    Terminal::new(config, Hal::default()).expect("terminal opens")
}

/// A terminal initialised over TLS with `good`, then reopened on the same journal with `tls`.
fn initialised_then_reopened(host: &TestHost, dir: &Path, good: &Value, tls: &Value) -> Terminal {
    let t = terminal(host, dir, good);
    initialise(&t).expect("initialisation over TLS");
    drop(t);
    terminal(host, dir, tls)
}

/// The sale is refused before anything is sent: host unreachable, not sent, no reversal, nothing logged.
fn assert_sale_not_sent(host: &TestHost, t: &Terminal) {
    let before = host.message_count();
    let e = t
        .sale(2_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::HostUnreachable, "{e}");
    assert_eq!(e.outcome, Some(Outcome::NotSent), "{e}");
    assert!(t.status().unwrap().pending_reversal.is_none());
    assert_eq!(host.message_count(), before, "a frame reached the host");
}

#[test]
fn a_day_over_tls_with_a_pin() {
    let host = TestHost::start_tls("tls-day", TlsSetup::SelfSigned);
    let dir = temp_dir("tls-day-term");
    // Either case of hex is a pin.
    let t = terminal(
        &host,
        &dir,
        &json!({"pin_spki_sha256": [host.tls_pin().to_uppercase()]}),
    );
    initialise(&t).expect("activation, master key, sign-in, AIDs, CAPKs over TLS");
    let sale = t
        .sale(10_500, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    assert!(sale.approved, "{sale:?}");
    let void = t.void(sale.stan, Some(swipe(&CUP_SWIPE))).unwrap();
    assert!(void.approved, "{void:?}");
    let sale = t
        .sale(8_800, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    assert!(sale.approved, "{sale:?}");
    let host_totals = host.totals();
    let s = t.settle().unwrap();
    assert!(s.balanced, "{s:?}");
    assert_eq!(s.terminal, host_totals);
    assert_eq!(s.terminal.domestic.debit.amount, 8_800);
    host.shutdown();
}

#[test]
fn a_wrong_pin_refuses_the_connection_and_sends_nothing() {
    let host = TestHost::start_tls("tls-wrong-pin", TlsSetup::SelfSigned);
    let dir = temp_dir("tls-wrong-pin-term");
    let good = json!({"pin_spki_sha256": [host.tls_pin()]});
    let wrong = json!({"pin_spki_sha256": ["00".repeat(32)]});
    let t = initialised_then_reopened(&host, &dir, &good, &wrong);
    assert_sale_not_sent(&host, &t);
    host.shutdown();
}

#[test]
fn a_tls_endpoint_without_ca_or_pin_is_a_config_error() {
    let host = TestHost::start_tls("tls-no-trust", TlsSetup::SelfSigned);
    let dir = temp_dir("tls-no-trust-term");
    for (tls, field) in [
        (json!({}), "gateway.tls"),
        (json!({"server_name": "localhost"}), "gateway.tls"),
        (json!({"pin_spki_sha256": []}), "gateway.tls"),
        (
            json!({"pin_spki_sha256": ["abc"]}),
            "gateway.tls.pin_spki_sha256",
        ),
        (
            json!({"pin_spki_sha256": "ab"}),
            "gateway.tls.pin_spki_sha256",
        ),
        (json!({"ca_pem": "not a certificate"}), "gateway.tls.ca_pem"),
        (json!({"ca_pem": 7}), "gateway.tls.ca_pem"),
        (json!({"pins": []}), "gateway.tls.pins"),
        (json!(true), "gateway.tls"),
    ] {
        let e = Config::from_json(&config_json(&host, &dir, &tls, None).to_string()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest, "{tls}: {e}");
        assert_eq!(e.field.as_deref(), Some(field), "{tls}: {e}");
    }
    host.shutdown();
}

#[test]
fn a_self_signed_certificate_under_an_unrelated_ca_is_refused() {
    let host = TestHost::start_tls("tls-unrelated-ca", TlsSetup::SelfSigned);
    let dir = temp_dir("tls-unrelated-ca-term");
    let t = terminal(
        &host,
        &dir,
        &json!({"ca_pem": chain("Unrelated CA").ca_pem}),
    );
    let e = t.activate(DEVICE_TOKEN).unwrap_err();
    assert_eq!(e.kind, ErrorKind::HostUnreachable, "{e}");
    assert_eq!(host.message_count(), 0);
    host.shutdown();
}

#[test]
fn two_pins_carry_a_certificate_rotation() {
    let (old, old_pin) = self_signed();
    let (new, new_pin) = self_signed();
    let first = TestHost::start_tls("tls-rotation", old);
    let dir = temp_dir("tls-rotation-term");
    let both = json!({"pin_spki_sha256": [old_pin, new_pin]});
    let t = terminal(&first, &dir, &both);
    initialise(&t).unwrap();
    let sale = t
        .sale(1_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    assert!(sale.approved, "{sale:?}");
    // The host comes back on the same address and database with the new certificate.
    let old_only = config_json(&first, &dir, &json!({"pin_spki_sha256": [old_pin]}), None);
    let listen = first.addr();
    let host_dir = first.dir.clone();
    first.host.shutdown();
    let second = possdk_host::Host::start(possdk_host::HostConfig {
        tls: Some(new),
        ..possdk_host::HostConfig::new(&listen, host_dir.join("host.db"))
    })
    .expect("host restarts with the new certificate");
    assert_eq!(second.tls_spki_sha256(), Some(new_pin.as_str()));
    let sale = t
        .sale(1_100, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    assert!(sale.approved, "{sale:?}");
    // A terminal that still pins only the old key is refused by the new certificate.
    drop(t);
    let t = Terminal::new(
        Config::from_json(&old_only.to_string()).unwrap(),
        Hal::default(),
    )
    .unwrap();
    let e = t
        .sale(1_200, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::HostUnreachable, "{e}");
    assert_eq!(e.outcome, Some(Outcome::NotSent), "{e}");
    assert!(t.status().unwrap().pending_reversal.is_none());
    second.shutdown();
    let _ = std::fs::remove_dir_all(&host_dir);
}

#[test]
fn pins_only_count_the_leaf_not_a_ca_the_server_appends() {
    let c = chain("possdk test CA");
    let host = TestHost::start_tls(
        "tls-leaf-only",
        TlsSetup::Pem {
            cert_chain: c.served_chain.clone(),
            key: c.leaf_key.clone(),
        },
    );
    assert_eq!(host.tls_pin(), c.leaf_pin);
    // Pinning the leaf works.
    let t = terminal(
        &host,
        &temp_dir("tls-leaf-only-term"),
        &json!({"pin_spki_sha256": [c.leaf_pin]}),
    );
    t.activate(DEVICE_TOKEN).expect("leaf pin accepted");
    // Pinning the CA without configuring it: the chain is not verified, so the CA proves nothing.
    let t = terminal(
        &host,
        &temp_dir("tls-leaf-only-term"),
        &json!({"pin_spki_sha256": [c.ca_pin]}),
    );
    let before = host.message_count();
    let e = t.activate(DEVICE_TOKEN).unwrap_err();
    assert_eq!(e.kind, ErrorKind::HostUnreachable, "{e}");
    assert_eq!(host.message_count(), before);
    host.shutdown();
}

#[test]
fn with_a_ca_the_chain_the_name_and_a_pin_of_the_verified_chain_are_checked() {
    let c = chain("possdk test CA");
    let other = chain("Another CA");
    let host = TestHost::start_tls(
        "tls-ca",
        TlsSetup::Pem {
            cert_chain: c.served_chain.clone(),
            key: c.leaf_key.clone(),
        },
    );
    // The CA alone, the CA with its own pin (the anchor is part of the verified chain), the CA with the leaf's
    // pin, and the name from server_name: all accepted.
    for tls in [
        json!({"ca_pem": c.ca_pem}),
        json!({"ca_pem": c.ca_pem, "pin_spki_sha256": [c.ca_pin]}),
        json!({"ca_pem": c.ca_pem, "pin_spki_sha256": [c.leaf_pin]}),
        json!({"ca_pem": c.ca_pem, "server_name": "localhost"}),
    ] {
        let t = terminal(&host, &temp_dir("tls-ca-term"), &tls);
        t.activate(DEVICE_TOKEN)
            .unwrap_or_else(|e| panic!("{tls}: {e}"));
    }
    // A verified chain none of whose certificates is pinned, a name the certificate does not carry, and
    // another CA: refused before anything is sent.
    let before = host.message_count();
    for tls in [
        json!({"ca_pem": c.ca_pem, "pin_spki_sha256": [other.ca_pin]}),
        json!({"ca_pem": c.ca_pem, "server_name": "pos.example.cn"}),
        json!({"ca_pem": other.ca_pem, "pin_spki_sha256": [c.leaf_pin]}),
    ] {
        let t = terminal(&host, &temp_dir("tls-ca-term"), &tls);
        let e = t.activate(DEVICE_TOKEN).unwrap_err();
        assert_eq!(e.kind, ErrorKind::HostUnreachable, "{tls}: {e}");
    }
    assert_eq!(host.message_count(), before);
    host.shutdown();
}

#[test]
fn a_handshake_that_never_finishes_is_a_connect_failure() {
    let host = TestHost::start_tls("tls-silent", TlsSetup::SelfSigned);
    let dir = temp_dir("tls-silent-term");
    let tls = json!({"pin_spki_sha256": [host.tls_pin()]});
    let t = terminal(&host, &dir, &tls);
    initialise(&t).unwrap();
    drop(t);
    // A listener that accepts and never answers the ClientHello.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let held = std::thread::spawn(move || {
        let (mut s, _) = silent.accept().unwrap();
        let mut hello = [0u8; 5];
        std::io::Read::read_exact(&mut s, &mut hello).unwrap();
        std::thread::sleep(Duration::from_secs(4));
        hello
    });
    let mut v = config_json(&host, &dir, &tls, Some(&silent_addr));
    v["timeouts_ms"]["connect"] = 800.into();
    let t = Terminal::new(Config::from_json(&v.to_string()).unwrap(), Hal::default()).unwrap();
    let start = Instant::now();
    let e = t
        .sale(2_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap_err();
    let waited = start.elapsed();
    assert_eq!(e.kind, ErrorKind::HostUnreachable, "{e}");
    assert_eq!(e.outcome, Some(Outcome::NotSent), "{e}");
    assert!(t.status().unwrap().pending_reversal.is_none());
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_millis(2500),
        "{waited:?}"
    );
    // What the silent server got was a TLS handshake record (content type 22), not a frame.
    assert_eq!(held.join().unwrap()[0], 22);
    host.shutdown();
}

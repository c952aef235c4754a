//! The binary's contract (first stdout line, stdin close), the masked wire log, provisioning files and
//! state surviving a restart.

mod common;
use common::*;
use possdk_host::admin::AdminClient;
use possdk_host::{Host, HostConfig};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

#[test]
fn binary_prints_addresses_and_stops_when_stdin_closes() {
    let dir = tempdir("bin");
    let mut child = Command::new(env!("CARGO_BIN_EXE_possdk-host"))
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(dir.join("h.db"))
        .arg("--fixed-keys")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let admin: std::net::SocketAddr = v["admin"].as_str().unwrap().parse().unwrap();
    let listening: std::net::SocketAddr = v["listening"].as_str().unwrap().parse().unwrap();
    assert_ne!(listening.port(), 0);
    let mut a = AdminClient::connect(admin).unwrap();
    let r = a.call(json!({"cmd": "balance", "pan": PAN})).unwrap();
    assert_eq!(r, json!({"ok": true, "balance": 1_000_000}));
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--profile NAME|PATH`: a built-in name or a file; the host then reads frames in that dialect (an
/// ASCII length prefix for `ascii`); a profile that does not validate stops it with status 2, naming the key.
#[test]
fn profile_flag_takes_a_name_or_a_file_and_refuses_a_bad_one() {
    let dir = tempdir("bin-profile");
    let bad = dir.join("bad.json");
    let mut p: serde_json::Value =
        serde_json::from_str(include_str!("../../../core/profiles/cup.json")).unwrap();
    p["kinds"]["refund"]["delivery"] = json!("reversible");
    std::fs::write(&bad, p.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_possdk-host"))
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(dir.join("bad.db"))
        .arg("--profile")
        .arg(&bad)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("kinds.refund: mti 0220 is an advice but delivery = reversible"),
        "{err}"
    );

    for profile in [
        "ascii".to_string(),
        dir.join("good.json").display().to_string(),
    ] {
        if profile.ends_with("good.json") {
            p["kinds"]["refund"]["delivery"] = json!("advice");
            p["name"] = json!("good");
            std::fs::write(&profile, p.to_string()).unwrap();
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_possdk-host"))
            .args(["--listen", "127.0.0.1:0", "--db"])
            .arg(dir.join(format!("{}.db", profile.len())))
            .args(["--profile", &profile])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let addr: std::net::SocketAddr = v["listening"].as_str().unwrap().parse().unwrap();
        // An echo-less management request in the dialect gets a frame back in the same dialect.
        let loaded = possdk_core::acquirer::Profile::from_config(Some(&json!(profile))).unwrap();
        let mut m = possdk_core::iso8583::Message::new(possdk_core::iso8583::Mti(800));
        m.set_str(11, "000001")
            .set_str(41, "99999999")
            .set_str(42, "123456789012345")
            .set_str(60, "00000001004");
        let f = possdk_core::iso8583::Frame {
            tpdu: possdk_core::iso8583::Tpdu([0x60, 0, 3, 0, 0]),
            header: possdk_core::iso8583::Header::default(),
            message: m,
        };
        let bytes = loaded.wire.encode_frame(&f).unwrap();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(&bytes).unwrap();
        let nb = loaded.wire.prefix.bytes();
        let mut len = vec![0u8; nb];
        std::io::Read::read_exact(&mut s, &mut len).unwrap();
        let n = loaded
            .wire
            .prefix
            .read(&len)
            .expect("a prefix in the profile's encoding");
        let mut rest = vec![0u8; n];
        std::io::Read::read_exact(&mut s, &mut rest).unwrap();
        len.extend(rest);
        let r = loaded
            .wire
            .decode_frame(&len)
            .expect("an answer in the dialect");
        assert_eq!(r.message.mti.0, 810);
        assert_eq!(r.message.get_str(39), Some("97"), "unknown terminal");
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_and_bad_provisioning_fail_cleanly() {
    let st = Command::new(env!("CARGO_BIN_EXE_possdk-host"))
        .arg("--bogus")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(2));
    let dir = tempdir("badprov");
    let p = dir.join("p.json");
    std::fs::write(&p, r#"{"terminals":[{"tid":"1","mid":"123456789012345"}]}"#).unwrap();
    let mut cfg = HostConfig::new("127.0.0.1:0", dir.join("h.db"));
    cfg.provision = Some(p);
    let e = Host::start(cfg).err().expect("refused");
    assert!(e.to_string().contains("terminals.tid"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wire_log_is_masked() {
    let dir = tempdir("wire");
    let log = dir.join("wire.log");
    let mut s = Sim::start_with("wire", |c| c.wire_log = Some(log.clone()));
    s.sign_in();
    let (_, r) = s.sale(PAN, "123456", 100);
    assert_eq!(rc(&r), "00");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().count() >= 4, "{text}");
    assert!(text.contains("622588******6789"), "{text}");
    assert!(!text.contains(PAN), "full PAN in the wire log");
    assert!(
        !text.contains("D3012101123456789"),
        "track data in the wire log"
    );
    assert!(
        !text.contains("8AB37CAAF85310A8"),
        "working keys (field 62) in the wire log"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn provisioning_file_replaces_the_default_set() {
    let dir = tempdir("prov");
    let p = dir.join("p.json");
    std::fs::write(
        &p,
        r#"{"terminals":[{"tid":"87654321","mid":"999999999999999","max_tip_percent":10}],
            "devices":[{"sn":"X1","token":"T1","tid":"87654321"}],
            "cards":[{"pan":"6200000000000001","pin":"4321","expiry":"3012","balance":5000}],
            "aids":[{"aid":"A000000333010101","params":{"DF18":"00"}}],
            "generated_capks": 2}"#,
    )
    .unwrap();
    let mut cfg = HostConfig::new("127.0.0.1:0", dir.join("h.db"));
    cfg.provision = Some(p);
    cfg.fixed_keys = true;
    let h = Host::start(cfg).unwrap();
    assert_eq!(
        h.admin(json!({"cmd": "balance", "pan": "6200000000000001"}))["balance"],
        5000
    );
    assert_eq!(h.admin(json!({"cmd": "balance", "pan": PAN}))["ok"], false);
    assert_eq!(
        h.admin(json!({"cmd": "totals", "tid": "87654321"}))["batch"],
        1
    );
    assert_eq!(h.admin(json!({"cmd": "totals", "tid": TID}))["ok"], false);
    h.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn state_survives_a_restart() {
    let dir = tempdir("restart");
    let db = dir.join("h.db");
    let mut s = Sim::start_with("restart", |c| c.db = db.clone());
    s.sign_in();
    let (st, r) = s.sale(PAN, "123456", 250);
    assert_eq!(rc(&r), "00");
    s.host.take().unwrap().shutdown();
    let mut cfg = HostConfig::new("127.0.0.1:0", db.clone());
    cfg.fixed_keys = true;
    s.host = Some(Host::start(cfg).unwrap());
    assert_eq!(s.balance(PAN), 1_000_000 - 250);
    assert_eq!(s.tx(st)["state"], "approved");
    // Keys survived too: a MAC'd sale without a new sign-in.
    let (_, r) = s.sale(PAN, "123456", 50);
    assert_eq!(rc(&r), "00");
    // And over TCP the port answers.
    let mut c = std::net::TcpStream::connect(s.host().addr()).unwrap();
    let m = s.card_msg(200, "000000", "00", "22", PAN, Some(1), Some("123456"));
    c.write_all(&s.frame(m, 3, true)).unwrap();
    let mut len = [0u8; 2];
    std::io::Read::read_exact(&mut c, &mut len).unwrap();
    assert!(u16::from_be_bytes(len) > 20);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Start the binary with `args`, return its first stdout line (parsed) and the child.
fn start_binary(args: &[&str], db: &std::path::Path) -> (serde_json::Value, std::process::Child) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_possdk-host"))
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (serde_json::from_str(&line).unwrap(), child)
}

/// A terminal-side exchange over TLS pinned to `pin`: whether the handshake passed (any answer or a
/// post-handshake failure) or was refused (`Connect`).
fn handshake_passes(addr: &str, pin: &str) -> bool {
    use possdk_core::hal::{CancelToken, Endpoint, TlsSettings, Transport, TransportError};
    let endpoint = Endpoint {
        address: addr.into(),
        connect_timeout: std::time::Duration::from_secs(3),
        response_timeout: std::time::Duration::from_secs(3),
        tls: Some(TlsSettings {
            server_name: "localhost".into(),
            ca_der: Vec::new(),
            pins: vec![hex::decode(pin).unwrap().try_into().unwrap()],
        }),
    };
    // Not a valid message: the host answers or closes, either way after the handshake.
    let frame = [0u8, 3, 1, 2, 3];
    let r = possdk_core::transport::TcpTransport::new().exchange(
        &endpoint,
        &frame,
        &CancelToken::new(),
    );
    !matches!(r, Err(TransportError::Connect(_)))
}

#[test]
fn tls_prints_the_pin_and_serves_tls() {
    let dir = tempdir("bin-tls");
    let (v, mut child) = start_binary(&["--tls"], &dir.join("h.db"));
    let pin = v["tls_spki_sha256"]
        .as_str()
        .expect("pin on the first line")
        .to_string();
    assert_eq!(pin.len(), 64);
    let addr = v["listening"].as_str().unwrap().to_string();
    assert!(handshake_passes(&addr, &pin));
    assert!(!handshake_passes(&addr, &"00".repeat(32)));
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());

    // --tls-cert/--tls-key serve the given certificate: the pin is its key's.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    let (v, mut child) = start_binary(
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
        &dir.join("h.db"),
    );
    let want = hex::encode(possdk_core::transport::tls::spki_sha256(cert.der()).unwrap());
    assert_eq!(v["tls_spki_sha256"], want.as_str());
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    // Without TLS the first line has no pin.
    let (v, mut child) = start_binary(&[], &dir.join("h.db"));
    assert!(v.get("tls_spki_sha256").is_none(), "{v}");
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
}

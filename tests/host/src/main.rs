//! `possdk-host --listen 127.0.0.1:0 --db PATH [--provision FILE] [--fixed-keys] [--wire-log FILE]
//! [--tls [--tls-cert FILE --tls-key FILE]] [--profile NAME|PATH] [--key-family tdes|sm]`
//! `--key-family` puts every provisioned terminal in that key family (docs/PROTOCOL.md §11; per terminal: the
//! provisioning file's `key_family` or the admin command `key_family`).
//! Prints `{"listening":"ADDR","admin":"ADDR"}` (with TLS also `"tls_spki_sha256":"HEX"`) as its first stdout
//! line and serves until killed or until stdin closes.

use possdk_host::tls::TlsSetup;
use possdk_host::{Host, HostConfig};
use std::io::{Read, Write};
use std::path::PathBuf;

fn usage() -> ! {
    eprintln!("usage: possdk-host --listen ADDR --db PATH [--provision FILE] [--fixed-keys] [--wire-log FILE] [--tls [--tls-cert FILE --tls-key FILE]] [--profile NAME|PATH] [--key-family tdes|sm]");
    std::process::exit(2)
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut listen = None;
    let mut db = None;
    let mut provision = None;
    let mut fixed_keys = false;
    let mut wire_log = None;
    let mut tls = false;
    let mut tls_cert = None;
    let mut tls_key = None;
    let mut profile = None;
    let mut key_family = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = Some(args.next().unwrap_or_else(|| usage())),
            "--db" => db = Some(PathBuf::from(args.next().unwrap_or_else(|| usage()))),
            "--provision" => {
                provision = Some(PathBuf::from(args.next().unwrap_or_else(|| usage())))
            }
            "--wire-log" => wire_log = Some(PathBuf::from(args.next().unwrap_or_else(|| usage()))),
            "--fixed-keys" => fixed_keys = true,
            "--tls" => tls = true,
            "--tls-cert" => tls_cert = Some(PathBuf::from(args.next().unwrap_or_else(|| usage()))),
            "--tls-key" => tls_key = Some(PathBuf::from(args.next().unwrap_or_else(|| usage()))),
            "--profile" => profile = Some(args.next().unwrap_or_else(|| usage())),
            "--key-family" => {
                let name = args.next().unwrap_or_else(|| usage());
                key_family = Some(
                    possdk_core::crypto::KeyFamily::from_name(&name).unwrap_or_else(|| {
                        eprintln!("possdk-host: --key-family: tdes or sm, not {name:?}");
                        usage()
                    }),
                );
            }
            "-h" | "--help" => usage(),
            other => {
                eprintln!("unknown argument {other:?}");
                usage()
            }
        }
    }
    let (Some(listen), Some(db)) = (listen, db) else {
        usage()
    };
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).unwrap_or_else(|e| {
            eprintln!("possdk-host: {}: {e}", p.display());
            std::process::exit(1)
        })
    };
    // --tls-cert/--tls-key come together and imply --tls.
    let tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some(TlsSetup::Pem {
            cert_chain: read(&cert),
            key: read(&key),
        }),
        (None, None) => tls.then_some(TlsSetup::SelfSigned),
        _ => {
            eprintln!("possdk-host: --tls-cert and --tls-key go together");
            usage()
        }
    };
    // The same loader as the terminal's config: a built-in name or a file.
    let profile = match possdk_core::acquirer::Profile::from_config(
        profile.map(serde_json::Value::String).as_ref(),
    ) {
        Ok(p) => std::sync::Arc::new(p),
        Err(e) => {
            eprintln!("possdk-host: --profile: {e}");
            std::process::exit(2)
        }
    };
    let host = match Host::start_with_profile(
        HostConfig {
            listen,
            db,
            provision,
            fixed_keys,
            wire_log,
            tls,
        },
        profile,
    ) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("possdk-host: {e}");
            std::process::exit(1)
        }
    };
    if let Some(family) = key_family {
        if let Err(e) = host.set_key_family(None, family) {
            eprintln!("possdk-host: --key-family: {e}");
            std::process::exit(1)
        }
    }
    let mut line = serde_json::json!({"listening": host.addr().to_string(), "admin": host.admin_addr().to_string()});
    if let Some(pin) = host.tls_spki_sha256() {
        line["tls_spki_sha256"] = pin.into();
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    // Serve until stdin closes (or the process is killed).
    let mut sink = [0u8; 256];
    let mut stdin = std::io::stdin();
    while let Ok(n) = stdin.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
    host.shutdown();
}

//! `possdk-host --listen 127.0.0.1:0 --db PATH [--provision FILE] [--fixed-keys] [--wire-log FILE]`
//! Prints `{"listening":"ADDR","admin":"ADDR"}` as its first stdout line and serves until killed or
//! until stdin closes.

use possdk_host::{Host, HostConfig};
use std::io::{Read, Write};
use std::path::PathBuf;

fn usage() -> ! {
    eprintln!("usage: possdk-host --listen ADDR --db PATH [--provision FILE] [--fixed-keys] [--wire-log FILE]");
    std::process::exit(2)
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut listen = None;
    let mut db = None;
    let mut provision = None;
    let mut fixed_keys = false;
    let mut wire_log = None;
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
    let host = match Host::start(HostConfig {
        listen,
        db,
        provision,
        fixed_keys,
        wire_log,
    }) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("possdk-host: {e}");
            std::process::exit(1)
        }
    };
    let line = serde_json::json!({"listening": host.addr().to_string(), "admin": host.admin_addr().to_string()});
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

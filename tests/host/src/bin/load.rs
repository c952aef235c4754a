//! `possdk-host-load [--target ADDR] [--seconds N] [--connections N] [--stan-start N]`
//!
//! Throughput of approved, MAC'd, PIN-verified sales. Without `--target` it starts an in-process host
//! (`--fixed-keys`, fresh database in a temp directory); with `--target` the host must run with
//! `--fixed-keys` (the client unwraps the working keys with the test TMK). Signs in once, then each
//! connection sends sales of 0.01 CNY with the fixture's swipe card and its PIN back to back for the given
//! time (bounded to 1..=120 s) and prints one JSON line with the approved sales per second.

use possdk_core::crypto::{mac, pin_block, tdes, DesKey};
use possdk_core::iso8583::{
    decode_frame, encode_frame, mac_span, Frame, Header, Message, Mti, Tpdu,
};
use possdk_host::{Host, HostConfig};
use possdk_sim::fixture::{CUP_SWIPE, FIXED_TMK, MID, TID};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PAN: &str = CUP_SWIPE.pan;

fn fail(msg: &str) -> ! {
    eprintln!("possdk-host-load: {msg}");
    std::process::exit(1)
}

fn exchange(s: &mut TcpStream, frame: &[u8]) -> std::io::Result<(Vec<u8>, Frame)> {
    s.write_all(frame)?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len)?;
    let n = u16::from_be_bytes(len) as usize;
    let mut raw = vec![0u8; n + 2];
    raw[..2].copy_from_slice(&len);
    s.read_exact(&mut raw[2..])?;
    let f = decode_frame(&raw)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{e:?}")))?;
    Ok((raw, f))
}

fn frame(msg: Message, dest: u16, mak: Option<&DesKey>) -> Vec<u8> {
    let mut msg = msg;
    if mak.is_some() {
        msg.set(64, vec![0u8; 8]);
    }
    let d = dest.to_be_bytes();
    let f = Frame {
        tpdu: Tpdu([0x60, d[0], d[1], 0, 0]),
        header: Header::default(),
        message: msg,
    };
    let mut bytes = encode_frame(&f).unwrap_or_else(|e| fail(&format!("encode: {e:?}")));
    if let Some(k) = mak {
        let m = mac::cup_ecb(k, mac_span(&bytes).unwrap_or_else(|| fail("mac span")));
        let n = bytes.len();
        bytes[n - 8..].copy_from_slice(&m);
    }
    bytes
}

fn main() {
    let mut target: Option<SocketAddr> = None;
    let mut seconds = 10u64;
    let mut connections = 8usize;
    let mut stan_start = 1u32;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| fail(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--target" => target = Some(val().parse().unwrap_or_else(|_| fail("--target: ADDR:PORT"))),
            "--seconds" => seconds = val().parse().unwrap_or_else(|_| fail("--seconds: number")),
            "--connections" => connections = val().parse().unwrap_or_else(|_| fail("--connections: number")),
            "--stan-start" => stan_start = val().parse().unwrap_or_else(|_| fail("--stan-start: number")),
            _ => fail("usage: possdk-host-load [--target ADDR] [--seconds N] [--connections N] [--stan-start N]"),
        }
    }
    let seconds = seconds.clamp(1, 120);
    let connections = connections.clamp(1, 64);
    let tmp = std::env::temp_dir().join(format!("possdk-host-load-{}", std::process::id()));
    let host = match target {
        Some(_) => None,
        None => {
            let _ = std::fs::create_dir_all(&tmp);
            let mut cfg = HostConfig::new("127.0.0.1:0", tmp.join("host.db"));
            cfg.fixed_keys = true;
            Some(Host::start(cfg).unwrap_or_else(|e| fail(&format!("host: {e}"))))
        }
    };
    let addr = target.unwrap_or_else(|| {
        host.as_ref()
            .map(|h| h.addr())
            .unwrap_or_else(|| fail("no host"))
    });

    // Sign in and unwrap the working keys with the test TMK.
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| fail(&format!("connect: {e}")));
    let _ = s.set_nodelay(true);
    let mut m = Message::new(Mti(800));
    m.set_str(11, &format!("{:06}", stan_start));
    m.set_str(41, TID)
        .set_str(42, MID)
        .set_str(60, "00000001004")
        .set_str(63, "01 ");
    let (_, resp) =
        exchange(&mut s, &frame(m, 3, None)).unwrap_or_else(|e| fail(&format!("sign-in: {e}")));
    if resp.message.get_str(39) != Some("00") {
        fail(&format!("sign-in answered {:?}", resp.message.get_str(39)));
    }
    let batch = resp
        .message
        .get_str(60)
        .map(|v| v[2..8].to_string())
        .unwrap_or_else(|| "000001".into());
    let f62 = resp
        .message
        .get(62)
        .unwrap_or_else(|| fail("sign-in: no field 62"))
        .to_vec();
    if f62.len() != 60 {
        fail("sign-in: field 62 is not 60 bytes");
    }
    let tmk = DesKey::from_hex(FIXED_TMK).unwrap_or_else(|_| fail("TMK"));
    let unwrap = |i: usize| {
        let clear =
            tdes::decrypt_ecb(&tmk, &f62[i * 20..i * 20 + 16]).unwrap_or_else(|_| fail("unwrap"));
        DesKey::from_bytes(&clear).unwrap_or_else(|_| fail("key"))
    };
    let (pik, mak) = (Arc::new(unwrap(0)), Arc::new(unwrap(1)));
    let pin_block =
        pin_block::iso0_encrypt(&pik, CUP_SWIPE.pin, PAN).unwrap_or_else(|_| fail("PIN block"));

    let stan = Arc::new(AtomicU32::new(stan_start + 1));
    let approved = Arc::new(AtomicU64::new(0));
    let declined = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    let track2 = format!(
        "{PAN}D{}{}123456789",
        CUP_SWIPE.expiry, CUP_SWIPE.service_code
    );
    for _ in 0..connections {
        let (stan, approved, declined, mak, batch, track2) = (
            stan.clone(),
            approved.clone(),
            declined.clone(),
            mak.clone(),
            batch.clone(),
            track2.clone(),
        );
        workers.push(std::thread::spawn(move || {
            let mut s = match TcpStream::connect(addr) {
                Ok(s) => s,
                Err(e) => fail(&format!("connect: {e}")),
            };
            let _ = s.set_nodelay(true);
            let f60 = format!("22{batch}000500000");
            while Instant::now() < deadline {
                let n = stan.fetch_add(1, Ordering::Relaxed);
                if n > 999_999 {
                    break;
                }
                let mut m = Message::new(Mti(200));
                m.set_str(2, PAN)
                    .set_str(3, "000000")
                    .set_str(4, "000000000001");
                m.set_str(11, &format!("{n:06}"))
                    .set_str(14, CUP_SWIPE.expiry)
                    .set_str(22, "021")
                    .set_str(25, "00");
                m.set_str(26, "12").set_str(35, &track2);
                m.set_str(41, TID).set_str(42, MID).set_str(49, "156");
                m.set(52, pin_block.to_vec());
                m.set_str(53, "2600000000000000").set_str(60, &f60);
                match exchange(&mut s, &frame(m, 3, Some(&mak))) {
                    Ok((raw, r)) if r.message.get_str(39) == Some("00") => {
                        let ok = mac_span(&raw)
                            .map(|sp| mac::cup_ecb(&mak, sp))
                            .is_some_and(|c| Some(&c[..]) == r.message.get(64));
                        if ok {
                            approved.fetch_add(1, Ordering::Relaxed);
                        } else {
                            fail("approved response with a wrong MAC");
                        }
                    }
                    Ok(_) => {
                        declined.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => fail(&format!("sale: {e}")),
                }
            }
        }));
    }
    for w in workers {
        let _ = w.join();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let a = approved.load(Ordering::Relaxed);
    println!(
        "{}",
        serde_json::json!({
            "connections": connections, "seconds": (elapsed * 1000.0).round() / 1000.0,
            "approved": a, "declined": declined.load(Ordering::Relaxed),
            "approved_per_second": (a as f64 / elapsed).round(),
        })
    );
    if let Some(h) = host {
        h.shutdown();
        let _ = std::fs::remove_dir_all(&tmp);
    }
}

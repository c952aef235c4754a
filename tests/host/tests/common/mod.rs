//! Test helpers: a host in a temp directory and a tiny terminal that builds and MACs frames.
#![allow(dead_code)]

use possdk_core::crypto::{mac, pin_block, tdes, DesKey};
use possdk_core::iso8583::{
    decode_frame, encode_frame, mac_span, Frame, Header, Message, Mti, Tpdu,
};
use possdk_host::{Host, HostConfig};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

// Not every test binary uses every constant.
#[allow(unused_imports)]
pub use possdk_sim::fixture::{FIXED_MAK as MAK, FIXED_TMK as TMK, MID, TID};
/// The swipe card most tests pay with.
pub const PAN: &str = possdk_sim::fixture::CUP_SWIPE.pan;

static N: AtomicU32 = AtomicU32::new(0);

pub fn vectors() -> Value {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../vectors/messages.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

pub struct Sim {
    pub host: Option<Host>,
    pub dir: PathBuf,
    pub mak: Option<DesKey>,
    pub pik: Option<DesKey>,
    pub tdk: Option<DesKey>,
    pub stan: u32,
    pub batch: u32,
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(h) = self.host.take() {
            h.shutdown();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "possdk-host-test-{}-{}-{}",
        std::process::id(),
        tag,
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

impl Sim {
    pub fn start(tag: &str) -> Sim {
        Sim::start_with(tag, |_| {})
    }

    pub fn start_with(tag: &str, f: impl FnOnce(&mut HostConfig)) -> Sim {
        let dir = tempdir(tag);
        let mut cfg = HostConfig::new("127.0.0.1:0", dir.join("host.db"));
        cfg.fixed_keys = true;
        f(&mut cfg);
        let host = Host::start(cfg).unwrap();
        Sim {
            host: Some(host),
            dir,
            mak: None,
            pik: None,
            tdk: None,
            stan: 100,
            batch: 1,
        }
    }

    pub fn host(&self) -> &Host {
        self.host.as_ref().unwrap()
    }

    pub fn admin(&self, v: Value) -> Value {
        let r = self.host().admin(v);
        assert_eq!(r["ok"], json!(true), "{r}");
        r
    }

    pub fn next_stan(&mut self) -> u32 {
        self.stan += 1;
        self.stan
    }

    /// Encode `msg` to `dest` (3 gateway, 5 platform), MAC'd with the current MAK when `mac`.
    pub fn frame(&self, mut msg: Message, dest: u16, with_mac: bool) -> Vec<u8> {
        if with_mac {
            msg.set(64, vec![0u8; 8]);
        }
        let d = dest.to_be_bytes();
        let f = Frame {
            tpdu: Tpdu([0x60, d[0], d[1], 0, 0]),
            header: Header::default(),
            message: msg,
        };
        let mut bytes = encode_frame(&f).unwrap();
        if with_mac {
            let m = mac::cup_ecb(self.mak.as_ref().unwrap(), mac_span(&bytes).unwrap());
            let n = bytes.len();
            bytes[n - 8..].copy_from_slice(&m);
        }
        bytes
    }

    /// Send a raw frame; decode the answer and check its MAC when it carries one.
    pub fn raw(&self, bytes: &[u8]) -> Frame {
        let resp = self.host().process_frame(bytes).expect("an answer");
        let f = decode_frame(&resp).unwrap();
        if let (Some(m), Some(k)) = (f.message.get(64), &self.mak) {
            let c = mac::cup_ecb(k, mac_span(&resp).unwrap());
            assert_eq!(&c[..], m, "response MAC");
        }
        f
    }

    pub fn send(&self, msg: Message, dest: u16, with_mac: bool) -> Message {
        self.raw(&self.frame(msg, dest, with_mac)).message
    }

    pub fn sign_in(&mut self) -> Message {
        let mut m = Message::new(Mti(800));
        let stan = self.next_stan();
        m.set_str(11, &format!("{stan:06}"))
            .set_str(41, TID)
            .set_str(42, MID);
        m.set_str(60, &format!("00{:06}004", self.batch))
            .set_str(63, "01 ");
        let r = self.send(m, 3, false);
        assert_eq!(r.get_str(39), Some("00"));
        let f62 = r.get(62).unwrap().to_vec();
        let tmk = DesKey::from_hex(TMK).unwrap();
        let k = |i: usize| {
            DesKey::from_bytes(&tdes::decrypt_ecb(&tmk, &f62[i * 20..i * 20 + 16]).unwrap())
                .unwrap()
        };
        self.pik = Some(k(0));
        self.mak = Some(k(1));
        self.tdk = Some(k(2));
        self.batch = r.get_str(60).unwrap()[2..8].parse().unwrap();
        r
    }

    pub fn f60(&self, t: &str) -> String {
        format!("{t}{:06}000500000", self.batch)
    }

    /// A swipe card request skeleton (2 3 4 11 14 22 25 35 41 42 49 53 60) with an optional PIN.
    #[allow(clippy::too_many_arguments)]
    pub fn card_msg(
        &mut self,
        mti: u16,
        pcode: &str,
        cond: &str,
        t: &str,
        pan: &str,
        amount: Option<u64>,
        pin: Option<&str>,
    ) -> Message {
        let mut m = Message::new(Mti(mti));
        let stan = self.next_stan();
        m.set_str(2, pan).set_str(3, pcode);
        if let Some(a) = amount {
            m.set_str(4, &format!("{a:012}"));
        }
        m.set_str(11, &format!("{stan:06}")).set_str(14, "3012");
        m.set_str(22, if pin.is_some() { "021" } else { "022" })
            .set_str(25, cond);
        m.set_str(35, &format!("{pan}D3012101123456789"));
        m.set_str(41, TID).set_str(42, MID).set_str(49, "156");
        match pin {
            Some(p) => {
                let b = pin_block::iso0_encrypt(self.pik.as_ref().unwrap(), p, pan).unwrap();
                m.set_str(26, "12").set(52, b.to_vec());
                m.set_str(53, "2600000000000000");
            }
            None => {
                m.set_str(53, "0600000000000000");
            }
        }
        m.set_str(60, &self.f60(t));
        m
    }

    pub fn sale(&mut self, pan: &str, pin: &str, amount: u64) -> (u32, Message) {
        let m = self.card_msg(200, "000000", "00", "22", pan, Some(amount), Some(pin));
        let stan = self.stan;
        (stan, self.send(m, 3, true))
    }

    pub fn balance(&self, pan: &str) -> i64 {
        self.admin(json!({"cmd": "balance", "pan": pan}))["balance"]
            .as_i64()
            .unwrap()
    }

    pub fn ledger(&self) -> i64 {
        self.admin(json!({"cmd": "ledger_count", "tid": TID}))["count"]
            .as_i64()
            .unwrap()
    }

    pub fn tx(&self, stan: u32) -> Value {
        self.admin(json!({"cmd": "tx", "tid": TID, "stan": stan}))
    }
}

pub fn rc(m: &Message) -> &str {
    m.get_str(39).unwrap_or("")
}

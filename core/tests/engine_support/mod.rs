//! A scripted in-process acquirer for the engine tests: a `Transport` that decodes each request with the
//! project's codec, keeps a small ledger and answers per PROTOCOL.md (MAC'd with the test MAK), plus a
//! test security module with real TDES keys. Faults are queued per test.
#![allow(dead_code)]

use possdk_core::crypto::rsa::HostPublicKey;
use possdk_core::crypto::{mac, pin_block, tdes, DesKey};
use possdk_core::hal::{CancelToken, Clock, DateTime, Endpoint, Hal, Transport, TransportError};
use possdk_core::iso8583::{decode_frame, encode_frame, mac_span, Frame, Header, Message};
use possdk_core::security::{EncryptedKey, KeySlot, SecurityError, SecurityModule, TmkTransport};
use possdk_core::tlv::{self, Tlv};
use possdk_core::{Config, Terminal};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

pub const TMK: &str = "B673E99226D9EAD6378A29AD433EE6FB";
pub const PIK: &str = "7AC2B361CD68EA5D868CBC85F7AEC454";
pub const MAK: &str = "04F4108A1C9B3DB0CD62FD264CABDA10";
pub const TDK: &str = "0123456789ABCDEFFEDCBA9876543210";
const RSA_VECTORS: &str = include_str!("../../../tests/vectors/rsa/rsa_vectors.json");

fn host_modulus() -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_str(RSA_VECTORS).unwrap();
    hex::decode(v["n_hex"].as_str().unwrap()).unwrap()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Read the request (and book it) but never answer.
    NoAnswer,
    /// Answer with a wrong MAC.
    WrongMac,
    /// Decline with this code.
    Decline(&'static str),
    /// Settlement answers "not balanced".
    Unbalanced,
    /// Keys with a wrong check value at sign-in.
    BadKeyCheck,
    /// Take the request, then wait until the app cancels (as the TCP transport does).
    HoldUntilCancelled,
}

#[derive(Debug, Clone)]
pub struct Booked {
    pub mti: u16,
    pub kind: String,
    pub batch: u32,
    pub stan: u32,
    pub amount: u64,
    pub state: char,
    pub reference: String,
}

#[derive(Default)]
pub struct HostState {
    pub faults: VecDeque<Fault>,
    /// Every request received, decoded (MTI, 60.3 / 39 for quick checks).
    pub requests: Vec<Message>,
    pub booked: Vec<Booked>,
    /// R of the current TMK download, handed over by the test security module.
    pub transport_key: Option<Vec<u8>>,
    pub processing_next: Option<u8>,
    pub batch: u32,
    counter: u32,
}

impl HostState {
    pub fn mtis(&self) -> Vec<u16> {
        self.requests.iter().map(|m| m.mti.0).collect()
    }
    pub fn last(&self, mti: u16) -> Option<&Message> {
        self.requests.iter().rev().find(|m| m.mti.0 == mti)
    }
}

pub type Shared = Arc<Mutex<HostState>>;

pub struct FakeHost {
    pub state: Shared,
}

fn key(hex: &str) -> DesKey {
    DesKey::from_hex(hex).expect("test key")
}

fn mac_frame(bytes: &mut [u8]) {
    let span = mac_span(bytes).expect("span").to_vec();
    let m = mac::cup_ecb(&key(MAK), &span);
    let n = bytes.len();
    bytes[n - 8..].copy_from_slice(&m);
}

impl FakeHost {
    fn respond(&self, req: &Frame) -> Option<(Message, bool)> {
        let mut st = self.state.lock().unwrap();
        let fault = st.faults.pop_front();
        let m = &req.message;
        st.requests.push(m.clone());
        let mut r = Message::new(m.mti.response());
        for f in [2u8, 3, 4, 11, 14, 22, 25, 41, 42, 49, 60, 61] {
            if let Some(v) = m.get(f) {
                r.set(f, v.to_vec());
            }
        }
        st.counter += 1;
        let counter = st.counter;
        let code60 = m
            .get_str(60)
            .and_then(|s| s.get(8..11))
            .unwrap_or("")
            .to_string();
        let mut mac_it = false;
        let mut rc = "00".to_string();
        match (m.mti.0, code60.as_str()) {
            (800, "399") => {
                r.set(
                    62,
                    tlv::encode(&[
                        Tlv::primitive(0xDF51, b"Test Shop".to_vec()),
                        Tlv::primitive(0xDF52, b"30".to_vec()),
                        Tlv::primitive(0xDF53, b"3".to_vec()),
                        Tlv::primitive(0xDF54, b"20".to_vec()),
                        Tlv::primitive(0xDF55, b"000001".to_vec()),
                    ]),
                );
            }
            (800, "352") => {
                r.set(
                    62,
                    tlv::encode(&[
                        Tlv::primitive(0x9F06, vec![0xA0, 0, 0, 0, 0x03]),
                        Tlv::primitive(0x9F22, vec![0x01]),
                        Tlv::primitive(0xDF02, host_modulus()),
                        Tlv::primitive(0xDF04, vec![0x01, 0x00, 0x01]),
                    ]),
                );
            }
            (800, "350") => {
                let rk = DesKey::from_bytes(st.transport_key.as_ref().expect("R")).unwrap();
                let tmk = key(TMK);
                let enc = tdes::encrypt_ecb(&rk, tmk.as_bytes()).unwrap();
                r.set(
                    62,
                    tlv::encode(&[
                        Tlv::primitive(0xDF21, enc),
                        Tlv::primitive(0xDF22, tmk.kcv().to_vec()),
                    ]),
                );
            }
            (800, "351") => {}
            (800, "004") => {
                let tmk = key(TMK);
                let mut f62 = Vec::new();
                for k in [PIK, MAK, TDK] {
                    let k = key(k);
                    f62.extend(tdes::encrypt_ecb(&tmk, k.as_bytes()).unwrap());
                    let mut cv = k.kcv().to_vec();
                    if fault == Some(Fault::BadKeyCheck) {
                        cv[0] ^= 0xFF;
                    }
                    f62.extend(cv);
                }
                r.set(62, f62);
                r.set_str(12, "101530");
                r.set_str(13, "1125");
                r.set_str(37, "112510153001");
                if st.batch == 0 {
                    st.batch = 1;
                }
                r.set_str(60, &format!("00{:06}004", st.batch));
            }
            (820, "372") => {
                let mut v = b"1".to_vec();
                v.extend(tlv::encode(&[
                    Tlv::primitive(0x9F06, vec![0xA0, 0, 0, 0x03, 0x33]),
                    Tlv::primitive(0x9F22, vec![0x80]),
                    Tlv::primitive(0xDF05, b"20301231".to_vec()),
                    Tlv::primitive(0x9F06, vec![0xA0, 0, 0, 0x03, 0x33]),
                    Tlv::primitive(0x9F22, vec![0x81]),
                    Tlv::primitive(0xDF05, b"20301231".to_vec()),
                ]));
                r.set(62, v);
            }
            (800, "370") => {
                let items = tlv::decode(m.get(62).unwrap()).unwrap();
                let rid = tlv::get(&items, 0x9F06).unwrap().to_vec();
                let idx = tlv::get(&items, 0x9F22).unwrap()[0];
                let modulus = vec![0xB5; 128];
                let exp = vec![0x03];
                let mut data = rid.clone();
                data.push(idx);
                data.extend(&modulus);
                data.extend(&exp);
                let mut sum = possdk_core::crypto::sha1(&data).to_vec();
                if idx == 0x81 {
                    sum[0] ^= 1; // the second CAPK is corrupt: the terminal must refuse it
                }
                let mut v = b"1".to_vec();
                v.extend(tlv::encode(&[
                    Tlv::primitive(0x9F06, rid),
                    Tlv::primitive(0x9F22, vec![idx]),
                    Tlv::primitive(0xDF05, b"20301231".to_vec()),
                    Tlv::primitive(0xDF06, vec![1]),
                    Tlv::primitive(0xDF07, vec![1]),
                    Tlv::primitive(0xDF02, modulus),
                    Tlv::primitive(0xDF04, exp),
                    Tlv::primitive(0xDF03, sum),
                ]));
                r.set(62, v);
            }
            (820, "382") => {
                let start: usize = std::str::from_utf8(&m.get(62).unwrap()[1..3])
                    .unwrap()
                    .parse()
                    .unwrap();
                // Two pages of one AID each.
                let aids = [
                    vec![0xA0, 0, 0, 0x03, 0x33, 0x01, 0x01, 0x01],
                    vec![0xA0, 0, 0, 0x03, 0x33, 0x01, 0x01, 0x02],
                ];
                let mut v = if start == 0 {
                    b"2".to_vec()
                } else {
                    b"1".to_vec()
                };
                v.extend(tlv::encode(&[Tlv::primitive(
                    0x9F06,
                    aids[start.min(1)].clone(),
                )]));
                r.set(62, v);
            }
            (800, "380") => {
                let items = tlv::decode(m.get(62).unwrap()).unwrap();
                let aid = tlv::get(&items, 0x9F06).unwrap().to_vec();
                let mut v = b"1".to_vec();
                v.extend(tlv::encode(&[
                    Tlv::primitive(0x9F06, aid),
                    Tlv::primitive(0xDF01, vec![0]),
                ]));
                r.set(62, v);
            }
            (800, "371") | (800, "381") => {}
            (800, "397") => {
                mac_it = true;
                let items = tlv::decode(m.get(62).unwrap()).unwrap();
                let start: usize = std::str::from_utf8(tlv::get(&items, 0xDF62).unwrap())
                    .unwrap()
                    .parse()
                    .unwrap();
                let all: Vec<Booked> = st.booked.iter().filter(|b| b.mti != 400).cloned().collect();
                // Pages of four records (a page must fit 512 bytes).
                let end = (start + 4).min(all.len());
                let mut v = if end < all.len() {
                    b"2".to_vec()
                } else {
                    b"1".to_vec()
                };
                let recs: Vec<Tlv> = all[start.min(end)..end]
                    .iter()
                    .map(|b| {
                        Tlv::constructed(
                            0xFF01,
                            vec![
                                Tlv::primitive(0xDF70, format!("{:06}", b.stan).into_bytes()),
                                Tlv::primitive(0xDF71, b.kind.clone().into_bytes()),
                                Tlv::primitive(0xDF72, format!("{:012}", b.amount).into_bytes()),
                                Tlv::primitive(0xDF73, b"622588******6789".to_vec()),
                                Tlv::primitive(0xDF74, b.reference.clone().into_bytes()),
                                Tlv::primitive(0xDF76, b"20261125101530".to_vec()),
                                Tlv::primitive(0xDF77, vec![b.state as u8]),
                                Tlv::primitive(0xDF78, b"000000000000".to_vec()),
                            ],
                        )
                    })
                    .collect();
                v.extend(tlv::encode(&recs));
                r.set(62, v);
            }
            (500, _) => {
                mac_it = true;
                let mut f48 = m.get_str(48).unwrap().to_string().into_bytes();
                let status = if fault == Some(Fault::Unbalanced) {
                    b'2'
                } else {
                    b'1'
                };
                f48[30] = status;
                f48[61] = status;
                r.set(48, f48);
                r.set(49, b"156".to_vec());
            }
            (320, _) => {
                mac_it = true;
                if code60 == "202" {
                    r.set_str(48, "1");
                }
            }
            (400, _) => {
                mac_it = true;
                let stan: u32 = m.get_str(11).unwrap().parse().unwrap();
                let batch: u32 = m.get_str(60).unwrap()[2..8].parse().unwrap();
                match st
                    .booked
                    .iter_mut()
                    .find(|b| b.stan == stan && b.batch == batch && b.mti != 400)
                {
                    Some(b) => b.state = 'R',
                    None => rc = "25".into(),
                }
                st.booked.push(Booked {
                    mti: 400,
                    kind: "reversal".into(),
                    batch,
                    stan,
                    amount: 0,
                    state: 'A',
                    reference: String::new(),
                });
            }
            (100, _) | (200, _) | (220, _) => {
                mac_it = true;
                let pan = m.get_str(2).unwrap_or("");
                if let Some(Fault::Decline(code)) = &fault {
                    rc = code.to_string();
                } else if pan == "6225881111111111" {
                    rc = "51".into();
                }
                let reference = format!("1125{counter:08}");
                if rc == "00" {
                    r.set_str(37, &reference);
                    if m.get(59).is_none() {
                        r.set_str(38, &format!("A{counter:05}"));
                    }
                    let stan: u32 = m.get_str(11).unwrap().parse().unwrap();
                    let batch: u32 = m.get_str(60).unwrap()[2..8].parse().unwrap();
                    let kind = m.get_str(60).unwrap()[..2].to_string();
                    if kind == "23" {
                        if let Some(orig) = m
                            .get_str(61)
                            .and_then(|s| s.get(6..12))
                            .and_then(|s| s.parse::<u32>().ok())
                        {
                            if let Some(b) = st
                                .booked
                                .iter_mut()
                                .find(|b| b.stan == orig && b.mti != 400)
                            {
                                b.state = 'V';
                            }
                        }
                    }
                    st.booked.push(Booked {
                        mti: m.mti.0,
                        kind,
                        batch,
                        stan,
                        amount: m.get_str(4).and_then(|a| a.parse().ok()).unwrap_or(0),
                        state: 'A',
                        reference,
                    });
                }
                r.set_str(12, "101545");
                r.set_str(13, "1125");
                r.set_str(15, "1125");
                r.set_str(63, if pan.starts_with('4') { "VIS" } else { "CUP" });
                if m.get_str(3) == Some("310000") {
                    r.set_str(54, "1002156C000001000000");
                }
                if let Some(f59) = m.get_str(59) {
                    let voucher = format!("{:020}", 5_000_000 + counter);
                    r.set_str(59, &format!("{f59}A4020{voucher}"));
                }
                if rc != "00" {
                    mac_it = false;
                }
            }
            _ => rc = "12".into(),
        }
        r.set_str(39, &rc);
        if fault == Some(Fault::NoAnswer) {
            return None;
        }
        let wrong = fault == Some(Fault::WrongMac);
        Some((r, mac_it || wrong))
    }
}

impl Transport for FakeHost {
    fn exchange(
        &mut self,
        _ep: &Endpoint,
        frame: &[u8],
        _cancel: &CancelToken,
    ) -> Result<Vec<u8>, TransportError> {
        let req = decode_frame(frame).map_err(|e| TransportError::Framing(format!("{e:?}")))?;
        let hold = self.state.lock().unwrap().faults.front() == Some(&Fault::HoldUntilCancelled);
        if hold {
            let mut st = self.state.lock().unwrap();
            st.faults.pop_front();
            st.requests.push(req.message.clone());
            drop(st);
            let start = std::time::Instant::now();
            while !_cancel.is_cancelled() {
                if start.elapsed() > std::time::Duration::from_secs(5) {
                    return Err(TransportError::Timeout);
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            return Err(TransportError::Cancelled { sent: true });
        }
        let wrong_mac = self.state.lock().unwrap().faults.front() == Some(&Fault::WrongMac);
        let Some((mut msg, mac_it)) = self.respond(&req) else {
            return Err(TransportError::Timeout);
        };
        let processing = self
            .state
            .lock()
            .unwrap()
            .processing_next
            .take()
            .unwrap_or(0);
        if mac_it {
            msg.set(64, vec![b'0'; 8]);
        }
        let header = Header {
            processing,
            ..Header::default()
        };
        let mut bytes = encode_frame(&Frame {
            tpdu: req.tpdu.swapped(),
            header,
            message: msg,
        })
        .unwrap();
        if mac_it {
            mac_frame(&mut bytes);
            if wrong_mac {
                let n = bytes.len();
                bytes[n - 1] ^= 0x01;
            }
        }
        Ok(bytes)
    }
}

/// Security module over real TDES keys (the software module's behaviour, in memory).
pub struct TestSecurity {
    pub shared: Shared,
    r: Option<DesKey>,
    pending_tmk: Option<DesKey>,
    slots: HashMap<KeySlot, DesKey>,
}

impl TestSecurity {
    pub fn new(shared: Shared) -> Self {
        TestSecurity {
            shared,
            r: None,
            pending_tmk: None,
            slots: HashMap::new(),
        }
    }
    fn get(&self, slot: KeySlot) -> Result<&DesKey, SecurityError> {
        self.slots.get(&slot).ok_or(SecurityError::MissingKey(slot))
    }
}

impl SecurityModule for TestSecurity {
    fn begin_tmk_download(
        &mut self,
        host_key: &HostPublicKey,
    ) -> Result<TmkTransport, SecurityError> {
        let mut r = [0u8; 16];
        possdk_core::crypto::random_bytes(&mut r)?;
        let rk = DesKey::from_bytes(&r)?;
        let encrypted_key = host_key.encrypt_pkcs1v15(&r)?;
        let check_value = rk.kcv();
        self.shared.lock().unwrap().transport_key = Some(r.to_vec());
        self.r = Some(rk);
        Ok(TmkTransport {
            encrypted_key,
            check_value,
        })
    }
    fn receive_tmk(
        &mut self,
        encrypted_tmk: &[u8],
        check_value: &[u8],
    ) -> Result<[u8; 4], SecurityError> {
        let rk = self.r.take().ok_or(SecurityError::NoTransportKey)?;
        let clear = tdes::decrypt_ecb(&rk, encrypted_tmk)?;
        let tmk = DesKey::from_bytes(&clear)?;
        if tmk.kcv().as_slice() != check_value {
            return Err(SecurityError::KeyCheck(KeySlot::Tmk));
        }
        let cv = tmk.kcv();
        self.pending_tmk = Some(tmk);
        Ok(cv)
    }
    fn activate_tmk(&mut self) -> Result<(), SecurityError> {
        let tmk = self
            .pending_tmk
            .take()
            .ok_or(SecurityError::NoTransportKey)?;
        self.slots.clear();
        self.slots.insert(KeySlot::Tmk, tmk);
        Ok(())
    }
    fn install_working_keys(
        &mut self,
        pik: &EncryptedKey,
        mak: &EncryptedKey,
        tdk: &EncryptedKey,
    ) -> Result<(), SecurityError> {
        let tmk = self.get(KeySlot::Tmk)?;
        let mut keys = Vec::new();
        for (slot, k) in [
            (KeySlot::Pik, pik),
            (KeySlot::Mak, mak),
            (KeySlot::Tdk, tdk),
        ] {
            let clear = tdes::decrypt_ecb(tmk, &k.encrypted)?;
            let key = DesKey::from_bytes(&clear)?;
            if key.kcv() != k.check_value {
                return Err(SecurityError::KeyCheck(slot));
            }
            keys.push((slot, key));
        }
        for (slot, key) in keys {
            self.slots.insert(slot, key);
        }
        Ok(())
    }
    fn has_key(&self, slot: KeySlot) -> bool {
        self.slots.contains_key(&slot)
    }
    fn check_value(&self, slot: KeySlot) -> Option<[u8; 4]> {
        self.slots.get(&slot).map(|k| k.kcv())
    }
    fn pin_block(&mut self, pin: &str, pan: &str) -> Result<[u8; 8], SecurityError> {
        Ok(pin_block::iso0_encrypt(self.get(KeySlot::Pik)?, pin, pan)?)
    }
    fn mac(&mut self, data: &[u8]) -> Result<[u8; 8], SecurityError> {
        Ok(mac::cup_ecb(self.get(KeySlot::Mak)?, data))
    }
    fn encrypt_track_block(&mut self, block: &[u8; 8]) -> Result<[u8; 8], SecurityError> {
        let mut b = *block;
        tdes::encrypt_block(self.get(KeySlot::Tdk)?, &mut b);
        Ok(b)
    }
    fn clear_working_keys(&mut self) -> Result<(), SecurityError> {
        self.slots.retain(|s, _| *s == KeySlot::Tmk);
        Ok(())
    }
}

pub struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> DateTime {
        DateTime {
            year: 2026,
            month: 11,
            day: 25,
            hour: 10,
            minute: 15,
            second: 0,
        }
    }
}

pub fn config(dir: &std::path::Path) -> Config {
    Config::from_json(
        &serde_json::json!({
            "tid": "12345678", "mid": "123456789012345",
            "gateway": {"address": "127.0.0.1:1", "tpdu": "6000030000"},
            "platform": {"address": "127.0.0.1:1", "tpdu": "6000050000"},
            "journal_path": dir.join("journal.db").to_string_lossy(),
            "timeouts_ms": {"connect": 500, "response": 500},
            "device": {"serial": "SN0001", "model": "test"},
            "seal_key": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
        })
        .to_string(),
    )
    .expect("config")
}

/// A terminal on a fake host (journal in `dir`).
pub fn terminal(dir: &std::path::Path, state: &Shared) -> Terminal {
    terminal_with(state, config(dir), Hal::default())
}

/// A terminal on a fake host with this config and these devices (transport and clock are replaced).
pub fn terminal_with(state: &Shared, config: Config, mut hal: Hal) -> Terminal {
    hal.transport = Some(Box::new(FakeHost {
        state: state.clone(),
    }));
    hal.clock = Some(Box::new(FixedClock));
    Terminal::with_security(config, hal, Box::new(TestSecurity::new(state.clone())))
        .expect("terminal")
}

/// Activated, master key loaded, signed in. The security module is in memory: a reopened terminal
/// must sign in again (done by `reopen`).
pub fn ready(dir: &std::path::Path) -> (Terminal, Shared) {
    let state: Shared = Arc::new(Mutex::new(HostState::default()));
    let t = terminal(dir, &state);
    t.activate("TOKEN0001").expect("activate");
    t.download_master_key().expect("master key");
    t.sign_in().expect("sign in");
    (t, state)
}

pub fn swipe(pan: &str, pin: Option<&str>) -> possdk_core::api::CardInput {
    possdk_core::api::CardInput {
        entry: Some(possdk_core::hal::EntryMode::Swipe),
        track2: Some(zeroize::Zeroizing::new(format!("{pan}D3012101123456789"))),
        pin: pin.map(|p| zeroize::Zeroizing::new(p.to_string())),
        ..Default::default()
    }
}

pub fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("possdk-engine-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

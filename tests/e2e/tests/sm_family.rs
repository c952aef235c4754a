//! The SM (国密) key family end to end against possdk-host (docs/PROTOCOL.md §11): SM2 master-key download with
//! the host key pinned, SM4 working keys, the 16-byte PIN block, CUP-SM4 MACs both ways, SM4 track encryption,
//! a chip sale and settlement; and a terminal whose family differs from the host's refuses activation and stores
//! nothing.

use possdk_core::api::{OriginalRef, Payment};
use possdk_core::crypto::KeyFamily;
use possdk_core::hal::Hal;
use possdk_core::{ErrorKind, Terminal, TxState};
use possdk_e2e::*;

fn card() -> Option<possdk_core::api::CardInput> {
    Some(swipe(&CUP_SWIPE))
}

#[test]
fn an_sm_family_day_is_approved_end_to_end() {
    use possdk_sim::{SimCard, SimDevices};
    let host = TestHost::start("sm-day");
    host.set_key_family("sm");
    let dir = temp_dir("sm-day-term");
    let dev = SimDevices::new();
    let t = Terminal::new(host.config_in(&dir, "sm", true), dev.hal()).unwrap();
    assert_eq!(t.status().unwrap().key_family, KeyFamily::Sm);

    let act = t.activate(DEVICE_TOKEN).unwrap();
    let pin = act
        .host_key_sha256
        .clone()
        .expect("the host states its SM2 key's pin (DF56)");
    let mk = t.download_master_key().unwrap();
    assert_eq!(mk.host_key_sha256, pin, "the SM2 host key matches the pin");
    t.sign_in().unwrap();
    t.download_aids().unwrap();
    t.download_capks().unwrap();
    let st = t.status().unwrap();
    assert!(
        st.activated && st.master_key_loaded && st.signed_in,
        "{st:?}"
    );

    // Sale with a PIN: the host decrypts the SM4 PIN block, the 34-digit track 2 under SM4 and checks the
    // CUP-SM4 MAC; the terminal checks the answer's.
    let before = host.balance(CUP_SWIPE.pan);
    let sale = t.sale(12_345, Payment::Card(card())).unwrap();
    assert!(sale.approved, "{sale:?}");
    assert_eq!(host.balance(CUP_SWIPE.pan), before - 12_345);
    let tx = host.tx(sale.stan);
    assert_eq!(
        (tx["found"].clone(), tx["amount"].clone()),
        (true.into(), 12_345.into()),
        "{tx}"
    );

    // The wrong PIN is found wrong: the block is really decrypted and compared.
    let wrong = t
        .sale(
            100,
            Payment::Card(Some(swipe_with_pin(&CUP_SWIPE, Some("999999")))),
        )
        .unwrap();
    assert_eq!(wrong.response_code, "55", "{wrong:?}");

    let void = t.void(sale.stan, card()).unwrap();
    assert!(void.approved, "{void:?}");
    assert_eq!(host.balance(CUP_SWIPE.pan), before);

    let sale2 = t.sale(10_000, Payment::Card(card())).unwrap();
    assert!(sale2.approved, "{sale2:?}");
    let refund = t
        .refund(
            3_000,
            OriginalRef {
                reference: sale2.reference.clone(),
                date: Some(sale2.datetime[5..10].replace('-', "")),
                ..Default::default()
            },
            card(),
        )
        .unwrap();
    assert!(refund.approved, "{refund:?}");
    let bal = t.balance(card()).unwrap();
    assert!(bal.approved && bal.balance.is_some(), "{bal:?}");

    // A chip card through the simulated reader and PIN pad.
    dev.reader.push(SimCard::chip(&CUP_CHIP));
    let chip = t.sale(4_200, Payment::Card(None)).unwrap();
    assert!(chip.approved, "{chip:?}");

    let settled = t.settle().unwrap();
    assert!(settled.balanced, "{settled:?}");
    assert_eq!(settled.terminal, settled.host);
    let rows = t.journal(Some(settled.batch)).unwrap().records;
    assert_eq!(
        rows.iter().find(|r| r.stan == sale.stan).unwrap().state,
        TxState::Voided
    );
    assert!(t.status().unwrap().pending_reversal.is_none());
    host.shutdown();
}

/// A wrong response MAC in the SM family is caught like in TDES: the sale is reversed (`A0`).
#[test]
fn a_bad_cup_sm4_mac_on_an_answer_is_refused() {
    let host = TestHost::start("sm-mac");
    host.set_key_family("sm");
    let dir = temp_dir("sm-mac-term");
    let t = Terminal::new(host.config_in(&dir, "sm", false), Hal::default()).unwrap();
    initialise(&t).unwrap();
    let before = host.balance(CUP_SWIPE.pan);
    host.fault("wrong_mac", 1);
    let err = t.sale(500, Payment::Card(card())).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidResponse, "{err:?}");
    // The terminal signs in again (docs/PROTOCOL.md §7) and the reversal goes out with or before the next sale:
    // the first sale's money comes back.
    assert!(!t.status().unwrap().signed_in);
    t.sign_in().unwrap();
    let next = t.sale(600, Payment::Card(card())).unwrap();
    assert!(next.approved, "{next:?}");
    assert!(t.status().unwrap().pending_reversal.is_none());
    assert_eq!(host.balance(CUP_SWIPE.pan), before - 600);
    host.shutdown();
}

/// docs/PROTOCOL.md §11: a terminal whose configured family differs from DF57 refuses the activation, names the
/// family, and stores nothing; in both directions.
#[test]
fn a_family_mismatch_refuses_activation_and_stores_nothing() {
    for (host_family, terminal_family) in [("sm", "tdes"), ("tdes", "sm")] {
        let host = TestHost::start("sm-mismatch");
        host.set_key_family(host_family);
        let dir = temp_dir("sm-mismatch-term");
        let t =
            Terminal::new(host.config_in(&dir, terminal_family, false), Hal::default()).unwrap();
        let err = t.activate(DEVICE_TOKEN).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Security, "{err:?}");
        assert_eq!(err.field.as_deref(), Some("key_family"));
        assert!(
            err.message.contains(host_family) && err.message.contains(terminal_family),
            "the error names both families: {}",
            err.message
        );
        let st = t.status().unwrap();
        assert!(!st.activated && !st.master_key_loaded, "{st:?}");
        assert_eq!(
            t.download_master_key().unwrap_err().kind,
            ErrorKind::NotActivated
        );
        drop(t);
        // Nothing of the refused activation was kept: reopened, the terminal is still not activated.
        let t =
            Terminal::new(host.config_in(&dir, terminal_family, false), Hal::default()).unwrap();
        assert!(!t.status().unwrap().activated);
        host.shutdown();
    }
}

/// The SM2 host key is pinned like the RSA key: a pin that does not match stops the master-key download.
#[test]
fn a_pinned_sm2_host_key_that_does_not_match_is_refused() {
    let host = TestHost::start("sm-pin");
    host.set_key_family("sm");
    let dir = temp_dir("sm-pin-term");
    let mut config = host.config_in(&dir, "sm", false);
    config.host_key_sha256 = Some("00".repeat(32));
    let t = Terminal::new(config, Hal::default()).unwrap();
    t.activate(DEVICE_TOKEN).unwrap();
    let err = t.download_master_key().unwrap_err();
    assert_eq!(err.kind, ErrorKind::KeyCheckFailed, "{err:?}");
    assert!(!t.status().unwrap().master_key_loaded);
    host.shutdown();
}

/// Request and response frames, in order.
type Exchanges = std::sync::Arc<std::sync::Mutex<Vec<(Vec<u8>, Vec<u8>)>>>;

/// Hands every frame to an in-process host and keeps both directions, for checking the wire itself.
struct Recording {
    host: std::sync::Arc<possdk_host::Host>,
    frames: Exchanges,
}

impl possdk_core::hal::Transport for Recording {
    fn exchange(
        &mut self,
        _endpoint: &possdk_core::hal::Endpoint,
        frame: &[u8],
        _cancel: &possdk_core::hal::CancelToken,
    ) -> Result<Vec<u8>, possdk_core::hal::TransportError> {
        let resp = self
            .host
            .process_frame(frame)
            .ok_or(possdk_core::hal::TransportError::Timeout)?;
        self.frames
            .lock()
            .unwrap()
            .push((frame.to_vec(), resp.clone()));
        Ok(resp)
    }
}

/// The SM family on the wire, checked field by field with the keys of tests/vectors/sm.json (the host runs with
/// fixed keys): activation DF57 `SM`, the `352` answer (DF02 65-byte point, DF25 `SM2`, no DF04, pinned by
/// SHA-256), DF23 that the vectors' SM2 private key opens, field 52 of 16 bytes that decrypts to the PIN, 53
/// `2410…`, track 2 under SM4, and CUP-SM4 MACs (8 binary bytes) on the request and the answer.
#[test]
fn the_sm_family_on_the_wire() {
    use possdk_core::crypto::sm::{self, cup_sm4_mac};
    use possdk_core::crypto::sm2::Sm2PrivateKey;
    use possdk_core::crypto::sm4::Sm4Key;
    use possdk_core::iso8583::{decode_frame_for, mac_span};
    use possdk_core::tlv;

    let hdir = temp_dir("sm-wire-host");
    let host = std::sync::Arc::new(
        possdk_host::Host::start(possdk_host::HostConfig {
            listen: "127.0.0.1:0".into(),
            db: hdir.join("host.db"),
            provision: None,
            fixed_keys: true,
            wire_log: None,
            tls: None,
        })
        .unwrap(),
    );
    host.set_key_family(None, KeyFamily::Sm).unwrap();
    let frames: Exchanges = Default::default();
    let hal = Hal {
        transport: Some(Box::new(Recording {
            host: host.clone(),
            frames: frames.clone(),
        })),
        ..Hal::default()
    };
    let tdir = temp_dir("sm-wire-term");
    let mut v = serde_json::json!({
        "tid": TID, "mid": MID,
        "gateway": {"address": "127.0.0.1:1", "tpdu": "6000030000"},
        "platform": {"address": "127.0.0.1:1", "tpdu": "6000050000"},
        "journal_path": tdir.join("journal.db").to_string_lossy(),
        "device": {"serial": DEVICE_SN},
        "seal_key": SEAL_KEY_HEX,
        "key_family": "sm",
        "encrypt_tracks": true
    });
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../vectors/sm.json"))
            .unwrap(),
    )
    .unwrap();
    let dl = &vectors["sm2_tmk_download"];
    v["host_key_sha256"] = dl["host_public_key_sha256"].as_str().unwrap().into();
    let t = Terminal::new(possdk_core::Config::from_json(&v.to_string()).unwrap(), hal).unwrap();
    initialise(&t).unwrap();
    let sale = t.sale(2_500, Payment::Card(card())).unwrap();
    assert!(sale.approved, "{sale:?}");

    let sm_of = |_: &[u8]| KeyFamily::Sm;
    let frames = frames.lock().unwrap().clone();
    let find = |code: &str| {
        frames
            .iter()
            .find(|(req, _)| {
                let m = decode_frame_for(req, &sm_of).unwrap().message;
                m.get_str(60).is_some_and(|f| f.get(8..11) == Some(code))
            })
            .cloned()
            .unwrap_or_else(|| panic!("no {code} exchange"))
    };
    let items = |raw: &[u8]| {
        tlv::decode(
            decode_frame_for(raw, &sm_of)
                .unwrap()
                .message
                .get(62)
                .unwrap(),
        )
        .unwrap()
    };
    // Activation: DF57 = SM, DF56 = the SM2 key's pin.
    let (_, act) = find("399");
    let act = items(&act);
    assert_eq!(tlv::get(&act, 0xDF57), Some(&b"SM"[..]));
    let pin = hex::decode(dl["host_public_key_sha256"].as_str().unwrap()).unwrap();
    assert_eq!(tlv::get(&act, 0xDF56), Some(&pin[..]));
    // 352: the 65-byte point, DF25 SM2, no DF04.
    let (_, key) = find("352");
    let key = items(&key);
    let point = hex::decode(dl["host_public_key"].as_str().unwrap()).unwrap();
    assert_eq!(tlv::get(&key, 0xDF02), Some(&point[..]));
    assert_eq!(tlv::get(&key, 0xDF25), Some(&b"SM2"[..]));
    assert_eq!(tlv::get(&key, 0xDF04), None);
    // 350: DF23 = SM2(C1‖C3‖C2) of R that the vectors' private key opens; DF24 = CV(R); DF21/DF22 the TMK.
    let (req, resp) = find("350");
    let req = items(&req);
    let host_key =
        Sm2PrivateKey::from_bytes(&hex::decode(dl["host_private_key"].as_str().unwrap()).unwrap())
            .unwrap();
    let df23 = tlv::get(&req, 0xDF23).unwrap();
    assert_eq!(df23.len(), 16 + 97);
    let r = sm::tmk_transport_key(&host_key, df23, tlv::get(&req, 0xDF24).unwrap()).unwrap();
    let resp = items(&resp);
    let tmk = sm::tmk_unwrap(
        &r,
        tlv::get(&resp, 0xDF21).unwrap(),
        tlv::get(&resp, 0xDF22).unwrap(),
    )
    .unwrap();
    assert_eq!(hex::encode_upper(tmk.as_bytes()), FIXED_SM_TMK);

    // The sale.
    let (req, resp) = frames
        .iter()
        .find(|(req, _)| decode_frame_for(req, &sm_of).unwrap().message.mti.0 == 200)
        .cloned()
        .unwrap();
    let msg = decode_frame_for(&req, &sm_of).unwrap().message;
    assert_eq!(msg.get_str(53), Some("2410000000000000"));
    let pik = Sm4Key::from_hex(FIXED_SM_PIK).unwrap();
    let block: [u8; 16] = msg
        .get(52)
        .unwrap()
        .try_into()
        .expect("field 52 is 16 bytes");
    assert_eq!(
        &sm::pin_block_decrypt(&pik, &block, CUP_SWIPE.pan).unwrap()[..],
        CUP_SWIPE.pin
    );
    let tdk = Sm4Key::from_hex(FIXED_SM_TDK).unwrap();
    let clear = swipe(&CUP_SWIPE).track2.unwrap();
    let sent = msg.get_str(35).unwrap();
    assert_ne!(sent, clear.as_str());
    let enc = sm::encrypt_track(&tdk, &clear).unwrap();
    assert_eq!(sent, &hex::encode_upper(&enc[..])[..clear.len()]);
    let mak = Sm4Key::from_hex(FIXED_SM_MAK).unwrap();
    assert_eq!(
        msg.get(64).unwrap(),
        cup_sm4_mac(&mak, mac_span(&req).unwrap())
    );
    let answer = decode_frame_for(&resp, &sm_of).unwrap().message;
    assert_eq!(answer.get_str(39), Some("00"));
    assert_eq!(
        answer.get(64).unwrap(),
        cup_sm4_mac(&mak, mac_span(&resp).unwrap())
    );
    drop(t);
    let _ = std::fs::remove_dir_all(&tdir);
    let _ = std::fs::remove_dir_all(&hdir);
}
